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
        record(json!({"user_name": "bob", "active": false})),
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
        "provisioning\tapi\temployee\tactive",
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
    assert_eq!(shown["password_hash"], Value::Null);

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
    // The directory keeps an administrator.
    refused(
        run(&data, &["user", "deactivate", "admin"]),
        "without an active administrator",
    );

    // The same commands on the stopped store, as JSON lines without secrets.
    assert!(server.terminate().success());
    let users: Vec<Value> = ok(run(&data, &["user", "list", "--json"]))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(users.len(), 4);
    let bob = users.iter().find(|u| u["user_name"] == "bob").unwrap();
    assert_eq!(bob["active"], true);
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
