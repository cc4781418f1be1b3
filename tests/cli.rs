//! The operator's command line for users, roles and accounts (`rollcall user|role|account`),
//! run by a running server through its control socket and on a stopped store, with the same
//! rules as every other front end: licenses, role types, the last administrator.

mod common;

use std::process::Output;

use common::*;
use serde_json::{Value, json};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[track_caller]
fn refused(out: Output, why: &str) {
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stderr(&out).contains(why), "{why:?} in {}", stderr(&out));
}

/// Accounts, a role and two inactive employees in the `export` format.
fn directory() -> String {
    let now = "2026-01-01T00:00:00Z";
    let acme = uuid::Uuid::now_v7();
    let record = |extra: Value| {
        let mut r =
            json!({"id": uuid::Uuid::now_v7(), "created": now, "modified": now, "version": 0});
        r.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        r
    };
    [
        json!({"account": record(json!({"id": acme, "name": "Acme"}))}),
        json!({"account": record(json!({"name": "Acme EU", "parent": acme, "licensed": true}))}),
        json!({"role": record(json!({"name": "Ops", "role_type": "employee"}))}),
        record(json!({"user_name": "alice", "active": false})),
        record(json!({"user_name": "bob", "active": false, "last_login": "2025-12-24T08:30:00Z"})),
    ]
    .iter()
    .map(|line| format!("{line}\n"))
    .collect()
}

#[test]
fn users_roles_and_accounts_are_managed_from_the_command_line_under_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("rollcall.toml");
    std::fs::write(&config, "[licenses]\nemployee = 2\n").unwrap();
    let out = output_with_stdin(&mut import_command(&data), directory().as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    let mut server = Server::spawn(&data, &["--config", config.to_str().unwrap()], &[]);

    let listed = ok(run(&data, &["user", "list"]));
    for line in [
        "admin\tperson\temployee\tactive",
        "provisioning\tapi\t-\tactive",
        "alice\tperson\temployee\tinactive",
        "bob\tperson\temployee\tinactive",
    ] {
        assert!(listed.lines().any(|l| l == line), "{line:?} in {listed}");
    }

    // Activation follows the license rules of the server's configuration.
    assert_eq!(
        ok(run(&data, &["user", "activate", "alice"])),
        "activated alice (employee)\n"
    );
    refused(run(&data, &["user", "activate", "bob"]), "employee");
    refused(run(&data, &["user", "activate", "bob"]), "2/2");
    refused(run(&data, &["user", "activate", "nobody"]), "not found");

    // Role membership: granting twice changes nothing; the type must match.
    assert_eq!(
        ok(run(&data, &["role", "add-member", "Ops", "alice"])),
        "alice holds Ops\n"
    );
    ok(run(&data, &["role", "add-member", "Ops", "alice"]));
    assert_eq!(ok(run(&data, &["role", "members", "Ops"])), "alice\n");
    ok(run(
        &data,
        &["role", "create", "Resellers", "--type", "partner"],
    ));
    refused(
        run(&data, &["role", "add-member", "Resellers", "alice"]),
        "role \"Resellers\" is a partner role; user \"alice\" holds an employee license",
    );
    let roles = ok(run(&data, &["role", "list"]));
    assert!(roles.lines().any(|l| l == "Ops\temployee\t-\t1"), "{roles}");
    assert!(
        roles.lines().any(|l| l.ends_with("\tadministrator\t1")),
        "{roles}"
    );
    refused(run(&data, &["role", "members", "Nope"]), "not found");

    let shown: Value = serde_json::from_str(&ok(run(&data, &["user", "show", "alice"]))).unwrap();
    assert_eq!(shown["user_name"], "alice");
    assert_eq!(shown["active"], true);
    assert_eq!(shown["role_names"], json!(["Ops"]));
    assert!(shown.get("password_hash").is_none(), "{shown}");
    assert_eq!(shown["password"], "none");

    let accounts = ok(run(&data, &["account", "list"]));
    assert_eq!(accounts, "Acme\t-\t-\nAcme EU\tAcme\tlicensed\n");

    // Deactivation frees the license for someone else.
    assert_eq!(
        ok(run(&data, &["user", "deactivate", "alice"])),
        "deactivated alice\n"
    );
    ok(run(&data, &["user", "activate", "bob"]));
    assert_eq!(
        ok(run(&data, &["role", "remove-member", "Ops", "alice"])),
        "alice no longer holds Ops\n"
    );
    assert_eq!(ok(run(&data, &["role", "members", "Ops"])), "");
    // Bulk assignment (seed 003 batch actions): several names, or a list on stdin, in one
    // change; one unknown name changes nothing.
    refused(
        run(
            &data,
            &["role", "add-member", "Ops", "alice", "nobody", "ghost"],
        ),
        "no such user: nobody, ghost (nothing was changed)",
    );
    assert_eq!(ok(run(&data, &["role", "members", "Ops"])), "");
    assert_eq!(
        ok(run(&data, &["role", "add-member", "Ops", "alice", "bob"])),
        "alice holds Ops\nbob holds Ops\n"
    );
    let mut remove = std::process::Command::new(BIN);
    remove
        .args(["role", "remove-member", "Ops", "-", "--data"])
        .arg(&data);
    let out = output_with_stdin(&mut remove, b"bob\n\nalice\n");
    assert_eq!(
        ok(out),
        "bob no longer holds Ops\nalice no longer holds Ops\n"
    );
    assert_eq!(ok(run(&data, &["role", "members", "Ops"])), "");
    // The directory keeps an administrator.
    refused(
        run(&data, &["user", "deactivate", "admin"]),
        "without an active administrator",
    );

    // The audit trail and the outbox, read from the command line as JSON lines.
    let lines = |out: Output| -> Vec<Value> {
        ok(out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let alice_id = shown["id"].as_str().unwrap().to_string();
    let activations = lines(run(
        &data,
        &["audit", "--kind", "user_activated", "--target", &alice_id],
    ));
    assert_eq!(activations.len(), 1, "{activations:?}");
    assert_eq!(activations[0]["source"], "cli");
    let since = lines(run(&data, &["audit", "--since", "2999-01-01T00:00:00Z"]));
    assert!(since.is_empty());
    refused(run(&data, &["audit", "--since", "yesterday"]), "RFC 3339");
    refused(
        run(&data, &["audit", "--kind", "nap"]),
        "unknown audit kind",
    );
    let alices = lines(run(&data, &["outbox", "--user", "alice"]));
    assert!(
        alices.iter().all(|m| m["user"] == alice_id.as_str()),
        "{alices:?}"
    );
    refused(
        run(&data, &["outbox", "--kind", "postcard"]),
        "announcement",
    );
    refused(run(&data, &["outbox", "--user", "nobody"]), "not found");

    // The same commands on the stopped store, as JSON lines without secrets.
    assert!(server.terminate().success());
    let users: Vec<Value> = ok(run(&data, &["user", "list", "--json"]))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(users.len(), 4);
    let bob = users.iter().find(|u| u["user_name"] == "bob").unwrap();
    assert_eq!(bob["active"], true);
    // As an export line: the last sign-in travels with the record (here, from the import).
    assert_eq!(bob["last_login"], "2025-12-24T08:30:00Z");
    let alice = users.iter().find(|u| u["user_name"] == "alice").unwrap();
    assert!(alice.get("last_login").is_none(), "{alice}");
    assert!(users.iter().all(|u| u["password_hash"].is_null()));
    assert!(
        users
            .iter()
            .any(|u| u["user_name"] == "admin" && !u["roles"].as_array().unwrap().is_empty())
    );
    let accounts = ok(run(&data, &["account", "list", "--json"]));
    assert_eq!(accounts.lines().count(), 2);

    // A directory with no store is not given an empty one.
    let empty = dir.path().join("empty");
    refused(run(&empty, &["user", "list"]), "no store in");
    assert!(!empty.exists());
}

/// The records an operator creates before any identity provider is connected, and the final
/// step of a user's life, through the running server's control socket and on the stopped
/// store; every rule is the core service's.
#[tokio::test(flavor = "multi_thread")]
async fn accounts_roles_and_users_are_created_and_users_anonymised_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("rollcall.toml");
    std::fs::write(
        &config,
        "[licenses]\nemployee = 3\npartner = 5\ncustomer = 5\n",
    )
    .unwrap();
    let mut server = Server::spawn(&data, &["--config", config.to_str().unwrap()], &[]);

    // Accounts, with a parent named rather than given as an id.
    assert_eq!(
        ok(run(&data, &["account", "create", "Acme", "--licensed"])),
        "created Acme\n"
    );
    ok(run(
        &data,
        &["account", "create", "Acme EU", "--parent", "Acme"],
    ));
    refused(
        run(&data, &["account", "create", "Orphan", "--parent", "Nope"]),
        "parent \"Nope\": ",
    );
    refused(run(&data, &["account", "create", "acme"]), "already exists");
    assert_eq!(
        ok(run(&data, &["account", "list"])),
        "Acme\t-\tlicensed\nAcme EU\tAcme\t-\n"
    );

    // Roles with permissions and settings; the levels a role type may use are checked.
    assert_eq!(
        ok(run(
            &data,
            &[
                "role",
                "create",
                "Ops",
                "--type",
                "employee",
                "--permission",
                "user.read=all",
                "--permission",
                "user.edit=team",
                "--permission",
                "account=all",
                "--mfa-required",
                "--session-timeout",
                "30",
                "--description",
                "Operations",
                "--allowed-network",
                "10.0.0.0/8",
                "--allowed-network",
                "2001:db8::/32",
            ]
        )),
        "created Ops (employee role)\n"
    );
    assert_eq!(
        ok(run(&data, &["role", "create", "Sales"])),
        "created Sales (plain group)\n"
    );
    refused(
        run(
            &data,
            &[
                "role",
                "create",
                "Partners",
                "--type",
                "partner",
                "--permission",
                "user.read=all",
            ],
        ),
        "partner roles cannot use the all level on User",
    );
    refused(
        run(
            &data,
            &["role", "create", "X", "--permission", "user.read=al"],
        ),
        "unknown permission level \"al\"",
    );
    refused(run(&data, &["role", "create", "OPS"]), "OPS");
    refused(
        run(
            &data,
            &["role", "create", "Y", "--allowed-network", "10.1.2.3/8"],
        ),
        "write 10.0.0.0/8",
    );
    let roles: Vec<Value> = ok(run(&data, &["role", "list", "--json"]))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ops = roles.iter().find(|r| r["name"] == "Ops").unwrap();
    assert_eq!(ops["role_type"], "employee");
    assert_eq!(ops["permissions"]["user"]["read"], "all");
    assert_eq!(ops["permissions"]["user"]["edit"], "team");
    assert_eq!(ops["permissions"]["user"]["delete"], "none");
    assert_eq!(ops["permissions"]["account"]["delete"], "all");
    assert_eq!(ops["settings"]["mfa_required"], true);
    assert_eq!(ops["settings"]["session_timeout_minutes"], 30);
    assert_eq!(ops["settings"]["description"], "Operations");
    assert_eq!(
        ops["settings"]["allowed_networks"],
        json!(["10.0.0.0/8", "2001:db8::/32"])
    );
    assert!(!roles.iter().any(|r| r["name"] == "Partners"));

    // Users, under the license rules: 3 employee seats, the admin holds one.
    assert_eq!(
        ok(run(
            &data,
            &[
                "user",
                "create",
                "carol",
                "--email",
                "carol@example.com",
                "--given-name",
                "Carol",
                "--role",
                "Ops",
                "--active",
            ]
        )),
        "created carol (employee, active)\n"
    );
    let password = ok(run(
        &data,
        &[
            "user",
            "create",
            "dave",
            "--manager",
            "carol",
            "--active",
            "--generate-password",
        ],
    ));
    let password = password.trim_end();
    assert!(
        password.len() >= 12 && !password.contains(' '),
        "{password}"
    );
    refused(run(&data, &["user", "create", "erin", "--active"]), "3/3");
    refused(run(&data, &["user", "show", "erin"]), "not found");
    refused(
        run(&data, &["user", "create", "erin", "--role", "Nope"]),
        "role \"Nope\": ",
    );
    refused(run(&data, &["user", "create", "CAROL"]), "CAROL");
    assert_eq!(
        ok(run(&data, &["user", "create", "erin"])),
        "created erin (employee, inactive)\n"
    );

    // The generated password signs dave in over LDAP; carol's role is visible as set.
    let (conn, mut ldap) = ldap3::LdapConnAsync::new(&format!("ldap://{}", server.ldap))
        .await
        .unwrap();
    ldap3::drive!(conn);
    let bound = ldap
        .simple_bind("uid=dave,ou=people,dc=example,dc=com", password)
        .await
        .unwrap();
    assert_eq!(bound.rc, 0, "{bound:?}");
    ldap.unbind().await.unwrap();
    let dave: Value = serde_json::from_str(&ok(run(&data, &["user", "show", "dave"]))).unwrap();
    assert_eq!(dave["manager_name"], "carol");
    let carol: Value = serde_json::from_str(&ok(run(&data, &["user", "show", "carol"]))).unwrap();
    assert_eq!(carol["role_names"], json!(["Ops"]));
    assert_eq!(carol["emails"][0]["value"], "carol@example.com");
    assert_eq!(carol["name"]["given_name"], "Carol");

    // A license moves with the type; partner and customer users need an account.
    refused(
        run(&data, &["user", "create", "pat", "--license", "partner"]),
        "must belong to an account",
    );
    ok(run(
        &data,
        &[
            "user",
            "create",
            "pat",
            "--license",
            "partner",
            "--account",
            "Acme EU",
            "--active",
        ],
    ));
    let licenses = ok(run(&data, &["licenses"]));
    assert!(licenses.contains("partner   1/5"), "{licenses}");
    assert_eq!(
        ok(run(&data, &["user", "set-license", "pat", "customer"])),
        "pat holds a customer license\n"
    );
    let licenses = ok(run(&data, &["licenses"]));
    assert!(licenses.contains("partner   0/5"), "{licenses}");
    assert!(licenses.contains("customer  1/5"), "{licenses}");
    refused(
        run(&data, &["user", "set-license", "carol", "partner"]),
        "must belong to an account",
    );
    assert!(
        ok(run(&data, &["user", "list"]))
            .lines()
            .any(|l| l == "carol\tperson\temployee\tactive")
    );

    // Anonymising is final, so it is asked for explicitly; it frees the license and the name.
    refused(run(&data, &["user", "anonymise", "dave"]), "add --yes");
    ok(run(&data, &["user", "show", "dave"]));
    let done = ok(run(&data, &["user", "anonymise", "dave", "--yes"]));
    assert!(done.starts_with("anonymised dave ("), "{done}");
    refused(run(&data, &["user", "show", "dave"]), "not found");
    assert!(ok(run(&data, &["licenses"])).contains("employee  2/3"));
    ok(run(&data, &["user", "create", "dave", "--active"]));

    assert_eq!(
        ok(run(&data, &["role", "delete", "Sales"])),
        "deleted Sales\n"
    );
    refused(run(&data, &["role", "members", "Sales"]), "not found");

    // The same on the stopped store.
    assert!(server.terminate().success());
    assert_eq!(
        ok(run(&data, &["account", "create", "Solo"])),
        "created Solo\n"
    );
    ok(run(&data, &["user", "anonymise", "erin", "--yes"]));
    refused(run(&data, &["user", "show", "erin"]), "not found");
    assert_eq!(ok(run(&data, &["check"])).lines().count(), 1);
}

/// A mistyped `--data` is an error for every command but `token create` (automation's first
/// step, which sets up a fresh directory): `token list` does not make a new directory with new
/// credentials. And `backup -` is refused with what to do instead, not written to a file `-`.
#[test]
fn commands_on_a_directory_that_is_not_there_do_not_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = dir.path().join("typo");
    refused(run(&nowhere, &["token", "list"]), "no store in");
    refused(run(&nowhere, &["token", "revoke", "okta"]), "no store in");
    assert!(!nowhere.join("store").join("db").exists());
    let data = dir.path().join("data");
    ok(run(&data, &["init"]));
    refused(run(&data, &["backup", "-"]), "GET /admin/backup");
    assert!(!std::path::Path::new("-").exists());
}

/// What the command line prints says what is so: whether a password or an authenticator is
/// set (never a secret's emptied field), which principals hold licenses, what was and was not
/// done, in words that agree with their numbers; and filters it cannot honour are refused
/// rather than answered with nothing.
#[test]
fn what_the_command_line_prints_says_what_is_so() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::spawn(&data, &[], &[]);
    ok(run(
        &data,
        &[
            "user",
            "create",
            "carol",
            "--email",
            "carol@example.com",
            "--active",
        ],
    ));

    let admin: Value = serde_json::from_str(&ok(run(&data, &["user", "show", "admin"]))).unwrap();
    assert_eq!(admin["password"], "set", "{admin}");
    assert_eq!(admin["authenticator"], "none", "{admin}");
    for secret in ["password_hash", "password_history", "totp"] {
        assert!(admin.get(secret).is_none(), "{secret} in {admin}");
    }
    let carol: Value = serde_json::from_str(&ok(run(&data, &["user", "show", "carol"]))).unwrap();
    assert_eq!(carol["password"], "none", "{carol}");

    // Service accounts hold no license.
    let listed = ok(run(&data, &["user", "list"]));
    for line in [
        "provisioning\tapi\t-\tactive",
        "carol\tperson\temployee\tactive",
    ] {
        assert!(listed.lines().any(|l| l == line), "{line:?} in {listed}");
    }

    assert_eq!(
        ok(run(&data, &["user", "set-license", "carol", "employee"])),
        "carol holds an employee license\n"
    );
    // No authenticator to remove: said, and nothing is audited.
    assert_eq!(
        ok(run(&data, &["user", "remove-mfa", "carol"])),
        "carol has no authenticator: nothing was removed\n"
    );
    assert_eq!(ok(run(&data, &["audit", "--kind", "mfa_removed"])), "");
    let mut announce = std::process::Command::new(BIN);
    announce
        .args(["announce", "--subject", "Hello", "--everyone", "--data"])
        .arg(&data)
        .env("ROLLCALL_LOG", "warn");
    let out = output_with_stdin(&mut announce, b"Welcome.\n");
    assert!(ok(out).starts_with("1 message queued\n"));

    assert!(server.terminate().success());
}

/// `audit` and `outbox` filters they cannot honour are refused rather than answered with
/// nothing: a count of none or past the most one query returns, an actor or target that
/// names no one.
#[test]
fn filters_that_cannot_match_are_refused_not_answered_with_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::spawn(&data, &[], &[]);
    ok(run(&data, &["user", "create", "carol"]));
    for count in ["0", "10001"] {
        let why = format!("{count} is out of range 1–10000");
        refused(run(&data, &["audit", "--count", count]), &why);
        refused(run(&data, &["outbox", "--count", count]), &why);
    }
    assert_eq!(
        ok(run(&data, &["audit", "--count", "1"])).lines().count(),
        1
    );
    refused(
        run(&data, &["audit", "--actor", "nosuch"]),
        "invalid actor: \"nosuch\": no user has that name",
    );
    refused(
        run(&data, &["audit", "--target", "nosuch"]),
        "target \"nosuch\": no user or role has that name",
    );
    ok(run(&data, &["audit", "--actor", "admin"]));
    for (filter, value) in [
        ("--actor", "system"),
        ("--target", "carol"),
        ("--target", "Administrators"),
    ] {
        assert!(
            !ok(run(&data, &["audit", filter, value])).is_empty(),
            "{filter} {value}"
        );
    }
    assert!(server.terminate().success());
}

/// The operator's everyday edits from the command line: a service account for an application
/// (and a token for the `api` one), and an address, names and title set or cleared, such as
/// the first administrator's address, where administrators' notices go.
#[test]
fn service_accounts_and_contact_details_are_managed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::spawn(&data, &[], &[]);
    assert_eq!(
        ok(run(
            &data,
            &["user", "create", "ci-bot", "--kind", "api", "--active"]
        )),
        "created ci-bot (api service account, active)\n"
    );
    assert_eq!(
        ok(run(&data, &["user", "create", "wiki", "--kind", "bind"])),
        "created wiki (bind service account, active)\n"
    );
    refused(
        run(&data, &["user", "create", "root", "--kind", "system"]),
        "the system principal is the server's own",
    );
    let token = ok(run(
        &data,
        &["token", "create", "--name", "ci", "--account", "ci-bot"],
    ));
    assert!(token.starts_with("rc_"), "{token}");
    let listed = ok(run(&data, &["user", "list"]));
    assert!(
        listed.lines().any(|l| l == "ci-bot\tapi\t-\tactive"),
        "{listed}"
    );

    assert_eq!(
        ok(run(
            &data,
            &[
                "user",
                "set",
                "admin",
                "--email",
                "it@example.com",
                "--given-name",
                "Ida",
                "--title",
                "Directory admin",
            ]
        )),
        "changed admin\n"
    );
    let admin: Value = serde_json::from_str(&ok(run(&data, &["user", "show", "admin"]))).unwrap();
    assert_eq!(admin["emails"][0]["value"], "it@example.com", "{admin}");
    assert_eq!(admin["emails"][0]["primary"], true, "{admin}");
    assert_eq!(admin["name"]["given_name"], "Ida", "{admin}");
    assert_eq!(admin["title"], "Directory admin", "{admin}");
    assert_eq!(
        ok(run(
            &data,
            &["user", "set", "admin", "--title", "Directory admin"]
        )),
        "admin already had that: nothing changed\n"
    );
    ok(run(&data, &["user", "set", "admin", "--title", ""]));
    let admin: Value = serde_json::from_str(&ok(run(&data, &["user", "show", "admin"]))).unwrap();
    assert!(admin["title"].is_null(), "{admin}");
    refused(run(&data, &["user", "set", "admin"]), "nothing to set");
    assert!(server.terminate().success());
}

/// `rollcall outbox cancel` stops messages still waiting, through a running server's control
/// socket and on a stopped store, and says how many; `rollcall outbox` with its options lists
/// as it always has. A selection that names nothing, a user or message that is not there, is
/// refused rather than cancelling nothing unnoticed.
#[test]
fn waiting_messages_are_cancelled_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::spawn(&data, &[], &[]);
    for name in ["ann", "bob"] {
        ok(run(
            &data,
            &[
                "user",
                "create",
                name,
                "--email",
                &format!("{name}@example.com"),
                "--active",
            ],
        ));
    }
    ok(run(&data, &["role", "create", "Support"]));
    ok(run(&data, &["role", "add-member", "Support", "ann", "bob"]));
    let mut announce = std::process::Command::new(BIN);
    announce
        .args(["announce", "--subject", "Wrong people", "--role", "Support"])
        .arg("--data")
        .arg(&data)
        .env("ROLLCALL_LOG", "warn");
    assert_eq!(
        ok(output_with_stdin(&mut announce, b"Not for you.\n")),
        "2 messages queued\n"
    );
    let lines = |out: Output| -> Vec<Value> {
        ok(out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let announcements = |messages: &[Value]| -> Vec<Value> {
        messages
            .iter()
            .filter(|m| m["kind"] == "announcement")
            .cloned()
            .collect()
    };
    // The listing's own flags, as before there was a subcommand.
    assert_eq!(
        announcements(&lines(run(&data, &["outbox", "--waiting"]))).len(),
        2
    );

    refused(
        run(&data, &["outbox", "cancel"]),
        "required arguments were not provided",
    );
    refused(
        run(&data, &["outbox", "cancel", "--kind", "postcard"]),
        "unknown message kind",
    );
    refused(
        run(&data, &["outbox", "cancel", "--user", "nobody"]),
        "not found",
    );
    let unknown = uuid::Uuid::now_v7().to_string();
    refused(
        run(&data, &["outbox", "cancel", "--id", &unknown]),
        &format!("no outbox message {unknown} (nothing was cancelled)"),
    );
    refused(
        run(
            &data,
            &["outbox", "--waiting", "cancel", "--kind", "announcement"],
        ),
        "cannot be used with",
    );

    // On the running server: ann's announcement.
    assert_eq!(
        ok(run(
            &data,
            &[
                "outbox",
                "cancel",
                "--kind",
                "announcement",
                "--user",
                "ann"
            ]
        )),
        "1 message cancelled\n"
    );
    let waiting = announcements(&lines(run(
        &data,
        &["outbox", "--waiting", "--kind", "announcement"],
    )));
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(waiting[0]["to"], "bob@example.com");
    let ann: Value = serde_json::from_str(&ok(run(&data, &["user", "show", "ann"]))).unwrap();
    let events = lines(run(&data, &["audit", "--kind", "outbox_cancelled"]));
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["actor"], "system");
    assert_eq!(events[0]["source"], "cli");
    assert_eq!(events[0]["target"], ann["id"]);
    assert_eq!(
        events[0]["detail"],
        format!(
            "kind announcement, user {}: 1 cancelled",
            ann["id"].as_str().unwrap()
        )
    );
    assert!(server.terminate().success());

    // On the stopped store: bob's, by id and a time; again, it is no longer waiting.
    let bobs = waiting[0]["id"].as_str().unwrap();
    let created = waiting[0]["created"].as_str().unwrap();
    assert_eq!(
        ok(run(
            &data,
            &["outbox", "cancel", "--id", bobs, "--since", created]
        )),
        "1 message cancelled\n"
    );
    assert_eq!(
        ok(run(&data, &["outbox", "cancel", "--id", bobs])),
        format!("0 messages cancelled\nnot waiting, left as it was: {bobs}\n")
    );
    let all = announcements(&lines(run(&data, &["outbox", "--kind", "announcement"])));
    assert_eq!(all.len(), 2, "kept for the record: {all:?}");
    assert!(
        all.iter()
            .all(|m| m["cancelled"] == true && m["cancelled_by"] == "system" && m["sent"] == false),
        "{all:?}"
    );
    assert!(announcements(&lines(run(&data, &["outbox", "--waiting"]))).is_empty());
    assert_eq!(
        lines(run(&data, &["audit", "--kind", "outbox_cancelled"])).len(),
        2,
        "one event per cancellation that cancelled something (of fewer than 64 messages)"
    );
}

/// A service account is made to be used: `user create --kind api|bind` makes it active, since
/// it takes no license, and `--inactive` (for one whose application is not ready) does not.
/// A token for an inactive api account is refused rather than printed to fail with a 401, and
/// what the command line and access reviews say of service accounts names no license. LDAP
/// adds under `ou=services` make them active as well, and SCIM creates users active anyway.
#[tokio::test(flavor = "multi_thread")]
async fn service_accounts_are_created_active_and_shown_without_a_license() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The administrator holds the only employee license: service accounts need none.
    let mut server = start_directory("[licenses]\nemployee = 1\n");
    let data = server.data.clone();
    let base = "dc=example,dc=com";
    let bind = |ldap: std::net::SocketAddr, dn: String, password: String| async move {
        let (conn, mut ldap) = ldap3::LdapConnAsync::new(&format!("ldap://{ldap}"))
            .await
            .unwrap();
        ldap3::drive!(conn);
        ldap.simple_bind(&dn, &password).await.unwrap().rc
    };

    let password = ok(run(
        &data,
        &[
            "user",
            "create",
            "binder",
            "--kind",
            "bind",
            "--generate-password",
        ],
    ));
    let password = password.trim().to_string();
    assert_eq!(
        bind(
            server.ldap,
            format!("cn=binder,ou=services,{base}"),
            password
        )
        .await,
        0,
        "the new bind account binds at once"
    );

    assert_eq!(
        ok(run(&data, &["user", "create", "svc1", "--kind", "api"])),
        "created svc1 (api service account, active)\n"
    );
    let token = ok(run(
        &data,
        &["token", "create", "--name", "t5", "--account", "svc1"],
    ));
    let http = reqwest::Client::new();
    let scim = |bearer: String| {
        let http = http.clone();
        let url = server.url("/scim/v2/Users?count=1");
        async move {
            http.get(url)
                .bearer_auth(bearer)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(scim(token.trim().to_string()).await, 200, "the token works");

    // Made inactive on purpose: said so, no token for it, and activation names no license.
    assert_eq!(
        ok(run(
            &data,
            &["user", "create", "svc2", "--kind", "api", "--inactive"]
        )),
        "created svc2 (api service account, inactive)\n"
    );
    refused(
        run(
            &data,
            &["token", "create", "--name", "t6", "--account", "svc2"],
        ),
        "svc2 is inactive, and an inactive account's tokens are refused: activate it first",
    );
    assert_eq!(
        ok(run(&data, &["token", "list"])).matches("\"t6\"").count(),
        0
    );
    assert_eq!(
        ok(run(&data, &["user", "activate", "svc2"])),
        "activated svc2 (api service account)\n"
    );
    let token = ok(run(
        &data,
        &["token", "create", "--name", "t6", "--account", "svc2"],
    ));
    assert_eq!(scim(token.trim().to_string()).await, 200);
    // A person is still created inactive, and takes its license only when activated.
    assert_eq!(
        ok(run(&data, &["user", "create", "pat"])),
        "created pat (employee, inactive)\n"
    );
    refused(
        run(&data, &["user", "create", "both", "--active", "--inactive"]),
        "cannot be used with",
    );
    assert_eq!(
        ok(run(&data, &["licenses"])).lines().next(),
        Some("employee  1/1")
    );

    // The access review shows a service account's license as `user list` does.
    let listed = ok(run(&data, &["user", "list"]));
    assert!(
        listed.lines().any(|l| l == "provisioning\tapi\t-\tactive"),
        "{listed}"
    );
    let review = ok(run(&data, &["report", "access"]));
    let row = |name: &str| -> Vec<String> {
        review
            .lines()
            .find(|l| l.starts_with(&format!("{name}\t")))
            .unwrap_or_else(|| panic!("{name} in {review}"))
            .split('\t')
            .map(String::from)
            .collect()
    };
    assert_eq!(row("provisioning")[2..4], ["api", "-"], "{review}");
    assert_eq!(row("binder")[2..4], ["bind", "-"], "{review}");
    assert_eq!(row("admin")[2..4], ["person", "employee"], "{review}");
    let csv = ok(run(&data, &["report", "access", "--format", "csv"]));
    assert!(
        csv.lines()
            .any(|l| l.starts_with("provisioning,") && l.contains(",api,-,")),
        "{csv}"
    );
    let json = ok(run(&data, &["report", "access", "--format", "json"]));
    let provisioning: Value = json
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["user_name"] == "provisioning")
        .unwrap();
    assert_eq!(provisioning["license"], Value::Null, "{provisioning}");

    // Over LDAP: an add under ou=services is active unless it says `active: FALSE`.
    let mut ldap = admin_connection(server.ldap).await;
    let add = |dn: String, attrs: Vec<(&'static str, Vec<&'static str>)>| {
        let attrs: Vec<(&str, std::collections::HashSet<&str>)> = attrs
            .into_iter()
            .map(|(a, v)| (a, v.into_iter().collect()))
            .collect();
        (dn, attrs)
    };
    let (dn, attrs) = add(
        format!("cn=wiki,ou=services,{base}"),
        vec![
            ("objectClass", vec!["applicationProcess"]),
            ("cn", vec!["wiki"]),
            ("userPassword", vec!["Wiki-Bind-Secret-42"]),
        ],
    );
    assert_eq!(ldap.add(&dn, attrs).await.unwrap().rc, 0);
    assert_eq!(
        bind(server.ldap, dn, "Wiki-Bind-Secret-42".into()).await,
        0,
        "an application's DN added over LDAP binds at once"
    );
    let (dn, attrs) = add(
        format!("cn=later,ou=services,{base}"),
        vec![
            ("objectClass", vec!["applicationProcess"]),
            ("cn", vec!["later"]),
            ("active", vec!["FALSE"]),
        ],
    );
    assert_eq!(ldap.add(&dn, attrs).await.unwrap().rc, 0);
    let listed = ok(run(&data, &["user", "list"]));
    for line in ["wiki\tbind\t-\tactive", "later\tbind\t-\tinactive"] {
        assert!(listed.lines().any(|l| l == line), "{line} in {listed}");
    }
    // SCIM: a service account created without `active` is active, as any user is there.
    let session = admin_session(&http, &format!("http://{}", server.http)).await;
    let created: Value = http
        .post(server.url("/scim/v2/Users"))
        .bearer_auth(session)
        .json(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "idp-sync",
            "urn:rollcall:scim:schemas:extension:2.0:User": {"kind": "api"}
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["active"], true, "{created}");
    assert_eq!(
        ok(run(&data, &["licenses"])).lines().next(),
        Some("employee  1/1"),
        "still only the administrator's"
    );
    assert!(server.terminate().success());
}
