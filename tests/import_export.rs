//! `rollcall import` and `export` as an operator sees them: piped, stderr carries only the
//! per-line errors and the summary; on a terminal, a progress line that is erased before
//! anything else is written, so the summary stands alone.

mod common;

use std::process::Command;

use common::*;

fn lines(n: usize) -> String {
    (0..n)
        .map(|i| {
            if i == 1 {
                "{not json\n".to_string()
            } else {
                // The `export` format, as another directory wrote it.
                let user = serde_json::json!({
                    "id": uuid::Uuid::now_v7(),
                    "user_name": format!("import.user{i}"),
                    "active": false,
                    "created": "2026-01-01T00:00:00Z",
                    "modified": "2026-01-01T00:00:00Z",
                    "version": 0
                });
                format!("{user}\n")
            }
        })
        .collect()
}

#[test]
fn piped_stderr_gets_no_progress() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = output_with_stdin(&mut import_command(&data), lines(3).as_bytes());
    assert!(
        !out.status.success(),
        "a failed line makes the exit non-zero"
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    let reported: Vec<&str> = stderr.lines().collect();
    assert!(reported[0].starts_with("line 2: "), "{stderr:?}");
    assert_eq!(reported[1], "imported 2 records, 1 failed");
    assert_eq!(reported[2], "Error: 1 record was not imported");
    assert_eq!(reported.len(), 3, "{stderr:?}");
    assert!(
        !stderr.contains('\r') && !stderr.contains('\x1b'),
        "{stderr:?}"
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 2);
}

/// Runs `shell` (a `sh -c` command line) with a terminal as stdin, stdout and stderr, and
/// returns what the terminal showed; `None` where `script` (util-linux) is missing.
fn on_a_terminal(shell: &str) -> Option<String> {
    let found = Command::new("sh")
        .args(["-c", "command -v script"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            !in_ci(),
            "script is required in CI (apt-get install -y bsdutils)"
        );
        eprintln!("skipping: script is not installed (apt-get install -y bsdutils)");
        return None;
    }
    let out = Command::new("script")
        .args(["-qec", shell, "/dev/null"])
        .env("ROLLCALL_LOG", "error")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .output()
        .unwrap();
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_terminal_sees_progress_that_is_erased_before_each_message() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let input = dir.path().join("users.jsonl");
    std::fs::write(&input, lines(3)).unwrap();
    // Only stderr reaches the terminal: the acknowledgements go to a file.
    let Some(shown) = on_a_terminal(&format!(
        "{BIN} import --data {} < {} > {}",
        data.display(),
        input.display(),
        dir.path().join("acks").display()
    )) else {
        return;
    };
    let erase = "\r\x1b[2K";
    assert!(
        shown.contains(&format!("{erase}imported 1 record (")),
        "{shown:?}"
    );
    // The line is erased before the error is written, and drawn again after it.
    let error_at = shown.find("line 2: ").expect("the bad line is reported");
    assert!(shown[..error_at].ends_with(erase), "{shown:?}");
    assert!(shown[error_at..].contains(", 1 failed"), "{shown:?}");
    // The summary stands alone on its line.
    assert!(
        shown.contains(&format!("{erase}imported 2 records, 1 failed\r\n")),
        "{shown:?}"
    );

    let Some(shown) = on_a_terminal(&format!(
        "{BIN} export --data {} > /dev/null",
        data.display()
    )) else {
        return;
    };
    assert!(
        shown.contains(&format!("{erase}exported 1 record (")),
        "{shown:?}"
    );
    assert!(shown.ends_with(erase), "erased at the end: {shown:?}");
}

/// DESIGN §5: export and import round-trip the directory. Accounts (a child created before its
/// parent), roles with their permissions, memberships, a manager created after the report, and
/// a password hash exported by another directory all arrive; a role the target already has by
/// name takes the members in place of a copy; secrets never leave.
#[test]
fn an_export_imports_into_another_directory_with_accounts_roles_members_and_managers() {
    use rollcall::model::{Account, LicenseLimits, LicenseType, PermissionLevel, Role, RoleType};
    use sha1::Digest;

    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let (eng_id, partner_id, history) = {
        let service = open_service(&source, LicenseLimits::default());
        let eu = service
            .create_account(&admin(), Account::new("Acme EU"))
            .unwrap();
        let mut holding = Account::new("Acme Holding");
        holding.licensed = true;
        let holding = service.create_account(&admin(), holding).unwrap();
        let mut moved = eu.clone();
        moved.parent = Some(holding.id);
        service
            .replace_account(&admin(), eu.id, moved, None)
            .unwrap();
        let mut engineers = Role::new("Engineers", Some(RoleType::Employee));
        engineers.permissions.user.read = PermissionLevel::All;
        let engineers = service.create_role(&admin(), engineers).unwrap();
        let lunch = service
            .create_role(&admin(), Role::new("Lunch", None))
            .unwrap();
        let mut eng = person("eng", LicenseType::Employee, true);
        eng.roles = vec![engineers.id, lunch.id];
        let eng = service
            .create_user(
                &admin(),
                rollcall::service::NewUser {
                    user: eng,
                    password: Some("Eng-Secret-Pass-1".into()),
                },
            )
            .unwrap();
        let boss = create(&service, person("boss", LicenseType::Employee, true));
        service
            .update_user(&admin(), eng.id, None, |u| {
                u.manager = Some(boss.id);
                Ok(())
            })
            .unwrap();
        let mut partner = person("pat", LicenseType::Partner, true);
        partner.account = Some(eu.id);
        partner.roles = vec![lunch.id];
        let partner = create(&service, partner);
        let eng = service.user(&admin(), eng.id).unwrap();
        // When each was created (and the user first activated), as the export says it.
        let history = (
            eng.created,
            eng.first_activated,
            lunch.created,
            service.account(&admin(), eu.id).unwrap().created,
        );
        (eng.id, partner.id, history)
    };
    // The target directory is made later than the source's records.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let exported = run(&source, &["export"]);
    assert!(exported.status.success(), "{exported:?}");
    let mut text = String::from_utf8(exported.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("{\"account\":") && lines[0].contains("Acme Holding"));
    assert!(lines[1].starts_with("{\"account\":") && lines[1].contains("Acme EU"));
    assert!(lines[2].starts_with("{\"role\":") && lines[3].starts_with("{\"role\":"));
    assert!(!text.contains("$argon2"), "no password hash leaves");
    // A user another directory exported, with its {SSHA} hash (OpenLDAP's form).
    let salt = b"s4lt";
    let mut digest = sha1::Sha1::digest([b"Migrated-Pass-1".as_slice(), salt].concat()).to_vec();
    digest.extend_from_slice(salt);
    use base64::Engine;
    let ssha = format!(
        "{{SSHA}}{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    );
    text.push_str(
        &serde_json::json!({"id": uuid::Uuid::now_v7(), "user_name": "migrated", "active": true,
            "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
            "version": 0, "password_hash": ssha, "password_changed": "2026-03-01T08:00:00Z"})
        .to_string(),
    );
    text.push('\n');

    // The target already has a role named Engineers.
    let target = dir.path().join("target");
    let existing = {
        let service = open_service(&target, LicenseLimits::default());
        service
            .create_role(&admin(), Role::new("Engineers", Some(RoleType::Employee)))
            .unwrap()
    };
    let out = output_with_stdin(&mut import_command(&target), text.as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(
        report.contains(&format!(
            "{{\"existing\":true,\"id\":\"{}\",\"role\":\"Engineers\"}}",
            existing.id
        )),
        "{report}"
    );

    let service = open_service(&target, LicenseLimits::default());
    let eng = service.user(&admin(), eng_id).unwrap();
    let boss = service.user_by_name(&admin(), "boss").unwrap();
    assert_eq!(eng.manager, Some(boss.id), "the manager set after the fact");
    let lunch = service.role_by_name(&admin(), "Lunch").unwrap();
    assert_eq!(eng.roles.len(), 2);
    assert!(eng.roles.contains(&existing.id) && eng.roles.contains(&lunch.id));
    assert_eq!(
        service.role_members(&admin(), existing.id).unwrap(),
        vec![eng_id]
    );
    let pat = service.user(&admin(), partner_id).unwrap();
    let eu = service.account_by_name(&admin(), "Acme EU").unwrap();
    let holding = service.account_by_name(&admin(), "Acme Holding").unwrap();
    assert_eq!((pat.account, eu.parent), (Some(eu.id), Some(holding.id)));
    assert!(holding.licensed);
    // Records keep their past: a migration does not restart dormancy or review clocks.
    assert!(history.1.is_some());
    assert_eq!(
        (eng.created, eng.first_activated, lunch.created, eu.created),
        history
    );
    assert!(eng.modified > history.0, "changed here, now");
    assert_eq!(service.verify().unwrap(), Vec::<String>::new());
    // Passwords: exported users have none (no secret left the source); the migrated user
    // signs in with the password its hash was made from, and got no set-password link.
    let from = rollcall::service::LoginSource {
        source: rollcall::audit::Source::Rest,
        client: None,
        expects: rollcall::service::Expected::Anyone,
    };
    let login = |name: &str, password: &str| {
        service
            .login(
                name,
                password,
                rollcall::service::SecondFactor::Separate(None),
                from,
            )
            .is_ok()
    };
    assert!(!login("eng", "Eng-Secret-Pass-1"));
    assert!(login("migrated", "Migrated-Pass-1"));
    let migrated = service.user_by_name(&admin(), "migrated").unwrap();
    assert!(
        !service
            .outbox()
            .unwrap()
            .iter()
            .any(|m| m.user == Some(migrated.id) && m.body.contains("/auth/activate")),
        "no set-password link for a user who has a password"
    );
    assert_eq!(
        migrated.password_changed,
        Some(time::macros::datetime!(2026-03-01 08:00 UTC)),
        "the password keeps the age it had in the other directory"
    );
    assert_eq!(
        migrated.created,
        time::macros::datetime!(2026-01-01 00:00 UTC)
    );
}

#[test]
fn a_running_server_streams_a_large_export_and_carries_on_when_the_reader_goes_away() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let input: String = lines(1200)
        .lines()
        .filter(|l| !l.starts_with("{not"))
        .map(|l| format!("{l}\n"))
        .collect();
    let out = output_with_stdin(&mut import_command(&data), input.as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut server = Server::spawn(&data, &[], &[]);
    let online = run(&data, &["export"]);
    assert!(
        online.status.success(),
        "{}",
        String::from_utf8_lossy(&online.stderr)
    );
    assert!(
        online.stdout.len() > 256 * 1024,
        "large enough to travel in several pieces: {} bytes",
        online.stdout.len()
    );

    // A reader that stops after one line: the export ends with an error, the server goes on.
    let mut export = Command::new(BIN)
        .args(["export", "--data"])
        .arg(&data)
        .env("ROLLCALL_LOG", "warn")
        .env_remove("RUST_BACKTRACE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(export.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with('{'), "{first}");
    let stopped = export.wait_with_output().unwrap();
    assert!(!stopped.status.success());
    let check = run(&data, &["check"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    assert!(server.terminate().success());
    let offline = run(&data, &["export"]);
    assert!(offline.status.success());
    assert_eq!(
        String::from_utf8_lossy(&online.stdout),
        String::from_utf8_lossy(&offline.stdout),
        "streamed in pieces, the export is the same as the stopped store's"
    );
    let imported = String::from_utf8_lossy(&online.stdout)
        .lines()
        .filter(|l| l.contains("import.user"))
        .count();
    assert_eq!(imported, 1199);
}

#[test]
fn an_import_into_a_running_server_reports_each_line_and_ends_when_the_server_stops() {
    use std::io::{BufRead, Write};
    let mut server = Server::start();
    let input = lines(5);
    let out = output_with_stdin(&mut import_command(&server.data), input.as_bytes());
    assert!(
        !out.status.success(),
        "a failed line makes the exit non-zero"
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    let reported: Vec<&str> = stderr.lines().collect();
    assert!(reported[0].starts_with("line 2: not a record"), "{stderr}");
    assert_eq!(reported[1], "imported 4 records, 1 failed", "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 4, "{stdout}");
    assert!(
        stdout
            .lines()
            .all(|l| l.contains("\"userName\":\"import.user")),
        "{stdout}"
    );
    assert!(
        stdout.lines().all(|l| l.contains("\"existing\":false")),
        "{stdout}"
    );
    // Run again (as after an import that stopped part way): what is there is passed over.
    let again = output_with_stdin(&mut import_command(&server.data), input.as_bytes());
    let again_out = String::from_utf8(again.stdout).unwrap();
    assert_eq!(again_out.lines().count(), 4, "{again_out}");
    assert!(
        again_out.lines().all(|l| l.contains("\"existing\":true")),
        "{again_out}"
    );
    let listed = run(&server.data, &["user", "list"]);
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert_eq!(
        listed
            .lines()
            .filter(|l| l.starts_with("import.user"))
            .count(),
        4,
        "{listed}"
    );

    // The server stops while an import waits for input: it stops at once, and the import
    // says why the next line was not imported.
    let mut import = import_command(&server.data)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = import.stdin.take().unwrap();
    let more = lines(8);
    let mut more = more.lines().skip(6);
    writeln!(stdin, "{}", more.next().unwrap()).unwrap();
    let mut report = String::new();
    std::io::BufReader::new(import.stdout.take().unwrap())
        .read_line(&mut report)
        .unwrap();
    assert!(report.contains("import.user6"), "{report}");
    assert!(server.terminate().success());
    writeln!(stdin, "{}", more.next().unwrap()).unwrap();
    drop(stdin);
    let ended = import.wait_with_output().unwrap();
    assert!(!ended.status.success());
    let stderr = String::from_utf8(ended.stderr).unwrap();
    assert!(stderr.contains("the server is stopping"), "{stderr}");
    assert!(stderr.contains("imported 1 record, 0 failed"), "{stderr}");
}

/// Seed 003's "CSV import for bulk user creation": a sheet as HR keeps it (loose header names,
/// a byte order mark, quoted commas, references by name), imported into a running server.
#[tokio::test(flavor = "multi_thread")]
async fn people_are_imported_from_a_csv_sheet_with_references_by_name() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = start_directory("");
    for args in [
        &["account", "create", "Acme"][..],
        &["role", "create", "Helpdesk", "--type", "employee"][..],
    ] {
        let out = run(&server.data, args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let sheet = "\u{feff}User Name,Email,Given Name,Family Name,Roles,Active,Manager,License,Account,Password,Phone,Mobile\r\n\
        eve,eve@example.com,Eve,\"Adams, PhD\",Helpdesk,yes,frank,,,,,\r\n\
        frank,frank@example.com,Frank,Ford,,true,,,,Frank-Pass-12345,+1 555 0100,+1 555 0199\r\n\
        pat,pat@acme.example,Pat,Lee,,no,,Partner,Acme,,,\r\n\
        bad1,,,,Nope,no,,,,,,\r\n\
        ,x@example.com,,,,,,,,,,\r\n\
        mallory,,,,,,ghost,,,,,\r\n\
        EVE,,,,,,,,,,,\r\n";
    let mut command = import_command(&server.data);
    command.args(["--format", "csv"]);
    let out = output_with_stdin(&mut command, sheet.as_bytes());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success(), "three rows failed: {stderr}");
    let reported: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<(&str, bool)> = reported
        .iter()
        .map(|r| {
            (
                r["userName"].as_str().unwrap(),
                r["existing"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("eve", false),
            ("frank", false),
            ("pat", false),
            ("mallory", false),
            ("eve", true)
        ],
        "a userName already there is left as it is"
    );
    let errors: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        errors[0], "row 5: role or group \"Nope\" does not exist",
        "{stderr}"
    );
    assert_eq!(errors[1], "row 6: userName is empty", "{stderr}");
    assert!(
        errors[2].ends_with("manager not set: manager \"ghost\" does not exist"),
        "{stderr}"
    );
    assert_eq!(errors[3], "imported 5 records, 3 failed");

    let http = reqwest::Client::new();
    let base = format!("http://{}", server.http);
    let admin = admin_session(&http, &base).await;
    let user = |name: &'static str| scim_user_named(&http, &base, &admin, name);
    let eve = user("eve").await;
    let frank = user("frank").await;
    assert_eq!(eve["name"]["familyName"], "Adams, PhD");
    assert_eq!(eve["emails"][0]["value"], "eve@example.com");
    assert_eq!(eve["active"], true);
    assert_eq!(eve["groups"][0]["display"], "Helpdesk");
    assert_eq!(
        eve["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"]["value"],
        frank["id"],
        "a manager later in the sheet is set once every row is in"
    );
    assert_eq!(frank["phoneNumbers"][0]["value"], "+1 555 0100");
    assert_eq!(frank["phoneNumbers"][0]["type"], "work");
    assert_eq!(frank["phoneNumbers"][1]["type"], "mobile");
    let pat = user("pat").await;
    assert_eq!(pat["active"], false);
    let rollcall = &pat["urn:rollcall:scim:schemas:extension:2.0:User"];
    assert_eq!(rollcall["licenseType"], "partner");
    assert_eq!(rollcall["account"]["display"], "Acme");
    assert!(user("bad1").await.is_null(), "a refused row stores nothing");
    assert!(user("mallory").await.is_object());

    // frank's password from the sheet works.
    let (conn, mut ldap) = ldap3::LdapConnAsync::new(&format!("ldap://{}", server.ldap))
        .await
        .unwrap();
    ldap3::drive!(conn);
    ldap.simple_bind("uid=frank,ou=people,dc=example,dc=com", "Frank-Pass-12345")
        .await
        .unwrap()
        .success()
        .unwrap();

    // A header that does not fit refuses the whole sheet, before anything is stored.
    let mut command = import_command(&server.data);
    command.args(["--format", "csv"]);
    let out = output_with_stdin(&mut command, b"userName,cost centre\nzed,42\n");
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("column \"cost centre\" is not one of: userName, externalId"),
        "{stderr}"
    );
    assert!(user("zed").await.is_null());
}

/// `import --format csv --update` (seed 003 "CSV import", kept in step with HR): a person the
/// directory has is given what the row's non-empty cells say (roles granted, never taken),
/// new people are created, a row that says nothing new stores nothing, and a sheet never
/// sets the password of someone already there.
#[tokio::test(flavor = "multi_thread")]
async fn a_csv_sheet_with_update_changes_people_already_there() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = start_directory("");
    for args in [
        &["role", "create", "Helpdesk", "--type", "employee"][..],
        &["role", "create", "VPN users"][..],
    ] {
        let out = run(&server.data, args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let import = |sheet: &'static str, update: bool| {
        let mut command = import_command(&server.data);
        command.args(["--format", "csv"]);
        if update {
            command.arg("--update");
        }
        let out = output_with_stdin(&mut command, sheet.as_bytes());
        let reported: Vec<serde_json::Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (
            out.status.success(),
            reported,
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (ok, _, stderr) = import(
        "userName,email,title,roles,active\n\
         ann,ann@example.com,Engineer,Helpdesk,yes\n\
         bob,bob@example.com,,,no\n\
         dan,dan@example.com,,,yes\n",
        false,
    );
    assert!(ok, "{stderr}");
    let http = reqwest::Client::new();
    let base = format!("http://{}", server.http);
    let admin = admin_session(&http, &base).await;
    let user = |name: &'static str| scim_user_named(&http, &base, &admin, name);
    let ann_version = user("ann").await["meta"]["version"].clone();

    let update = "User Name,Title,Department,Roles,Active,Email,Manager,Password\n\
         ann,Senior Engineer,IT,VPN users,,,,\n\
         bob,,,,yes,,ann,\n\
         cat,Analyst,,Helpdesk,yes,cat@example.com,ann,Cat-Pass-1234567\n\
         dan,,,,,,,Dan-Pass-1234567\n";
    let (ok, reported, stderr) = import(update, true);
    assert!(!ok, "dan's row failed: {stderr}");
    let summary: Vec<(String, bool, Option<bool>)> = reported
        .iter()
        .map(|r| {
            (
                r["userName"].as_str().unwrap().to_string(),
                r["existing"].as_bool().unwrap(),
                r["updated"].as_bool(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("ann".to_string(), true, Some(true)),
            ("bob".to_string(), true, Some(true)),
            ("cat".to_string(), false, None),
        ]
    );
    assert!(
        stderr.contains("row 5: dan exists: a sheet sets the passwords of new people only"),
        "{stderr}"
    );
    let ann = user("ann").await;
    assert_eq!(ann["title"], "Senior Engineer");
    assert_eq!(
        ann["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
        "IT"
    );
    assert_eq!(ann["active"], true, "an empty cell leaves it");
    assert_eq!(ann["emails"][0]["value"], "ann@example.com");
    let mut groups: Vec<&str> = ann["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["display"].as_str().unwrap())
        .collect();
    groups.sort_unstable();
    assert_eq!(groups, ["Helpdesk", "VPN users"], "granted, none taken");
    let bob = user("bob").await;
    assert_eq!(bob["active"], true);
    assert_eq!(
        bob["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"]["value"],
        ann["id"]
    );
    assert_eq!(user("cat").await["title"], "Analyst");

    // The same sheet again (without dan's row): nothing new, nothing stored.
    let version = user("ann").await["meta"]["version"].clone();
    assert_ne!(version, ann_version);
    let (ok, reported, stderr) = import(
        "User Name,Title,Department,Roles,Active,Email,Manager\n\
         ann,Senior Engineer,IT,VPN users,,,\n\
         bob,,,,yes,,ann\n\
         cat,Analyst,,Helpdesk,yes,cat@example.com,ann\n",
        true,
    );
    assert!(ok, "{stderr}");
    assert!(
        reported.iter().all(|r| r["updated"] == false),
        "{reported:?}"
    );
    assert_eq!(user("ann").await["meta"]["version"], version);

    // Without it, people already there are left as they are; it is for sheets only.
    let (ok, reported, _) = import("userName,title\nann,Intern\n", false);
    assert!(ok);
    assert_eq!(reported[0]["existing"], true);
    assert_eq!(user("ann").await["title"], "Senior Engineer");
    let mut command = import_command(&server.data);
    command.arg("--update");
    let out = output_with_stdin(&mut command, b"");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--update is for CSV sheets"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An import run again after it stopped part way goes on where it stopped: a user imported
/// the first time, whose manager came in a line the first run never reached, gets its manager
/// the second time.
#[test]
fn an_import_run_again_sets_the_managers_the_first_run_did_not_reach() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (report, manager) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let line = |id: uuid::Uuid, name: &str, manager: Option<uuid::Uuid>| {
        let mut user = serde_json::json!({
            "id": id,
            "user_name": name,
            "active": false,
            "created": "2026-01-01T00:00:00Z",
            "modified": "2026-01-01T00:00:00Z",
            "version": 0
        });
        if let Some(m) = manager {
            user["manager"] = serde_json::json!(m);
        }
        format!("{user}\n")
    };
    let all = [
        line(report, "report1", Some(manager)),
        line(uuid::Uuid::now_v7(), "filler", None),
        line(manager, "manager1", None),
    ];
    // The first run stops before the manager's line: the report is in, its manager not.
    let first = output_with_stdin(&mut import_command(&data), all[..2].concat().as_bytes());
    let said = String::from_utf8_lossy(&first.stderr);
    assert!(
        !first.status.success() && said.contains("manager not set"),
        "{said}"
    );
    let again = output_with_stdin(&mut import_command(&data), all.concat().as_bytes());
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let shown = run(&data, &["user", "show", "report1"]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains(&manager.to_string()), "{shown}");
}

/// A field the import would drop (a typo, another tool's name for one) fails its line, named,
/// rather than being lost in silence; the other lines go in.
#[test]
fn an_import_line_with_a_field_records_do_not_have_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let line = |extra: &str| {
        format!(
            "{{\"id\":\"{}\",\"user_name\":\"u{}\",\"active\":false,\"password_must_change\":false,\"created\":\"2026-01-01T00:00:00Z\",\"modified\":\"2026-01-01T00:00:00Z\",\"version\":0{extra}}}\n",
            uuid::Uuid::now_v7(),
            extra.len()
        )
    };
    let input = [
        line(""),
        line(",\"favourite_colour\":\"blue\""),
        line(",\"displayName\":\"Camel Case\""),
    ]
    .concat();
    let out = output_with_stdin(&mut import_command(&data), input.as_bytes());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("line 2: unknown field favourite_colour"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 3: unknown field displayName"),
        "{stderr}"
    );
    assert!(stderr.contains("imported 1 record, 2 failed"), "{stderr}");
}

/// The records of an export, one JSON value per line, without what an import makes its own
/// (`modified` is the import's time, `version` the target's count) and `password_changed`,
/// the age of a password that an export leaves behind: what a round trip keeps.
fn kept_by_a_round_trip(export: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(export)
        .lines()
        .map(|line| {
            let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
            let fields = record_of(&mut value).as_object_mut().unwrap();
            for made_here in ["modified", "version", "password_changed"] {
                fields.remove(made_here);
            }
            value
        })
        .collect()
}

/// The record of an export line: an account's or role's inside its wrapper, a user's the
/// line itself.
fn record_of(line: &mut serde_json::Value) -> &mut serde_json::Value {
    let wrapped = line
        .as_object()
        .is_some_and(|o| o.len() == 1 && (o.contains_key("account") || o.contains_key("role")));
    if wrapped {
        line.as_object_mut().unwrap().values_mut().next().unwrap()
    } else {
        line
    }
}

#[track_caller]
fn exported(data: &std::path::Path) -> Vec<u8> {
    let out = run(data, &["export"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[track_caller]
fn imported(data: &std::path::Path, input: &[u8]) -> String {
    let out = output_with_stdin(&mut import_command(data), input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A line written by hand needs only what names the record (`user_name`, an account's or
/// role's `name`) and what it wants to say: the directory gives it an id, its times and its
/// version, as README says. A field another tool names differently is said before what the
/// line lacks. An export of what came in goes through another import unchanged.
#[test]
fn hand_written_minimal_lines_import_and_an_export_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let before = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    let input = [
        r#"{"account":{"name":"Acme","licensed":true}}"#,
        r#"{"role":{"name":"Ops","role_type":"employee"}}"#,
        r#"{"user_name":"dana","display_name":"Dana D."}"#,
        r#"{"user_name":"erin","active":true,"password":"Erin-Chosen-Pass-1"}"#,
        r#"{"user_name":"robot","kind":"api"}"#,
        r#"{"userName":"frank","displayName":"Frank"}"#,
    ]
    .map(|l| format!("{l}\n"))
    .concat();
    let out = output_with_stdin(&mut import_command(&data), input.as_bytes());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 6: unknown fields displayName, userName"),
        "the other tool's names, not the missing user_name: {stderr}"
    );
    assert!(stderr.contains("imported 5 records, 1 failed"), "{stderr}");

    let first = exported(&data);
    let records: Vec<serde_json::Value> = String::from_utf8_lossy(&first)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let named = |name: &str| -> serde_json::Value {
        records
            .iter()
            .map(|r| record_of(&mut r.clone()).clone())
            .find(|r| r["name"] == name || r["user_name"] == name)
            .unwrap_or_else(|| panic!("{name} in {records:#?}"))
    };
    let time = |v: &serde_json::Value| {
        time::OffsetDateTime::parse(
            v.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let mut ids = std::collections::BTreeSet::new();
    for name in ["Acme", "Ops", "dana", "erin", "robot"] {
        let record = named(name);
        let (created, modified) = (time(&record["created"]), time(&record["modified"]));
        let now = time::OffsetDateTime::now_utc();
        assert!(before <= created && created <= now, "{record}");
        assert!(created <= modified && modified <= now, "{record}");
        assert_eq!(record["version"], 1, "{record}");
        assert!(
            ids.insert(record["id"].as_str().unwrap().to_string()),
            "{record}"
        );
    }
    assert_eq!(named("Acme")["licensed"], true);
    assert_eq!(named("Ops")["role_type"], "employee");
    let dana = named("dana");
    assert_eq!(dana["display_name"], "Dana D.");
    assert_eq!(
        dana["active"], false,
        "a person is inactive unless the line says so"
    );
    assert_eq!(
        (&dana["kind"], &dana["license"]),
        (&"person".into(), &"employee".into())
    );
    let erin = named("erin");
    assert_eq!(erin["active"], true);
    assert!(erin["first_activated"].is_string(), "{erin}");
    let robot = named("robot");
    assert_eq!(robot["kind"], "api");
    assert_eq!(
        robot["active"], true,
        "a service account is active unless the line says not"
    );
    let shown = run(&data, &["user", "show", "erin"]);
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("\"password\": \"set\""),
        "{shown:?}"
    );
    let check = run(&data, &["check"]);
    assert!(check.status.success(), "{check:?}");

    // Round trip: what the export says is what the next directory holds.
    assert_eq!(String::from_utf8_lossy(&first).lines().count(), 5);
    let copy = dir.path().join("copy");
    imported(&copy, &first);
    let second = exported(&copy);
    assert_eq!(kept_by_a_round_trip(&second), kept_by_a_round_trip(&first));
}

/// An import before the first start can take every employee license, and the first start
/// then has none for the administrator. It is refused as a whole, saying what to do, and
/// leaves no role or user of its own behind; with room made, the next start does it all.
#[test]
fn a_first_start_without_a_license_for_the_administrator_writes_nothing_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("rollcall.toml");
    let limit = |n: u32| {
        std::fs::write(
            &config,
            format!(
                "[licenses]\nemployee = {n}\n\n[argon2]\nmemory_kib = 1024\niterations = 1\nparallelism = 1\n"
            ),
        )
        .unwrap();
    };
    limit(4);
    let people: String = (1..=4)
        .map(|i| {
            let person = serde_json::json!({"id": uuid::Uuid::now_v7(), "user_name": format!("e{i}"),
                "active": true, "created": "2026-01-01T00:00:00Z",
                "modified": "2026-01-01T00:00:00Z", "version": 3});
            format!("{person}\n")
        })
        .collect();
    let mut import = import_command(&data);
    import.args(["--config", config.to_str().unwrap()]);
    let out = output_with_stdin(&mut import, people.as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = "the first administrator, \"admin\", needs an employee license, and all 4 are in \
                use (4/4): raise [licenses] employee to at least 5, or deactivate an employee";
    let first_start = |command: &str| {
        let (http, ldap, ldaps) = (free_addr(), free_addr(), free_addr());
        Command::new(BIN)
            .arg(command)
            .args(["--data", data.to_str().unwrap()])
            .args(["--config", config.to_str().unwrap()])
            .args(["--http", &http.to_string(), "--ldap", &ldap.to_string()])
            .args(["--ldaps", &ldaps.to_string()])
            .env("ROLLCALL_LOG", "warn")
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE")
            .output()
            .unwrap()
    };
    for command in ["serve", "init"] {
        let out = first_start(command);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{command}: {stderr}");
        assert!(stderr.contains(said), "{command}: {stderr}");
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("admin password"),
            "{command}: no credentials"
        );
        let roles = run(&data, &["role", "list"]);
        assert!(roles.status.success());
        assert_eq!(
            String::from_utf8_lossy(&roles.stdout),
            "",
            "{command}: no role of the first start"
        );
        let users = run(&data, &["user", "list"]);
        let users = String::from_utf8_lossy(&users.stdout);
        assert_eq!(
            users
                .lines()
                .map(|l| l.split('\t').next().unwrap())
                .collect::<Vec<_>>(),
            ["e1", "e2", "e3", "e4"],
            "{command}: no admin or provisioning account"
        );
    }
    limit(5);
    let out = first_start("init");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("admin password"));
    let roles = run(&data, &["role", "list"]);
    let roles = String::from_utf8_lossy(&roles.stdout);
    assert!(
        roles.starts_with(
            "Administrators\temployee\tadministrator\t1\nProvisioning\temployee\t-\t1\n"
        ),
        "{roles}"
    );
    let licenses = run(&data, &["licenses", "--config", config.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&licenses.stdout).starts_with("employee  5/5"),
        "{licenses:?}"
    );
}
