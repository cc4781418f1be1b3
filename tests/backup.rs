//! `rollcall backup` and `rollcall restore` end to end: a store filled over SCIM is backed up
//! from a stopped server, restored into a new data directory, and served again with the same
//! users, passwords, groups, tokens and audit trail. Damaged, cut-short and misplaced restores
//! leave nothing behind.

mod common;

use common::{Server, run, start_directory_with_env};
use ldap3::LdapConnAsync;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "rc_backup-test-token-0123456789abcdef";
const ALICE_PASSWORD: &str = "Alice-Backup-Pass-1";

fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::new()
}

async fn scim(
    http: &Client,
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = http
        .request(method, server.url(&format!("/scim/v2{path}")))
        .bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_restores_into_a_directory_that_serves_the_same_data() {
    let http = client();
    let mut original = start_directory_with_env("", &[("ROLLCALL_BOOTSTRAP_TOKEN", TOKEN)]);
    let (status, alice) = scim(
        &http,
        &original,
        reqwest::Method::POST,
        "/Users",
        Some(
            json!({"userName": "alice", "active": true, "password": ALICE_PASSWORD,
                    "emails": [{"value": "alice@example.com", "primary": true}]}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{alice}");
    let alice_id = alice["id"].as_str().unwrap().to_string();
    let (status, _) = scim(
        &http,
        &original,
        reqwest::Method::POST,
        "/Users",
        Some(json!({"userName": "bob", "active": false})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, ops) = scim(
        &http,
        &original,
        reqwest::Method::POST,
        "/Groups",
        Some(json!({"displayName": "Ops", "members": [{"value": alice_id}]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ops}");
    let ops_id = ops["id"].as_str().unwrap().to_string();

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rollcall.backup");
    let file_arg = file.to_str().unwrap();
    // The running server holds the store: no backup, and no file.
    let out = run(&original.data, &["backup", file_arg]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("in use"), "{}", text(&out));
    assert!(!file.exists());

    assert!(original.terminate().success());
    let out = run(&original.data, &["backup", file_arg]);
    assert!(out.status.success(), "{}", text(&out));
    let exported = run(&original.data, &["export"]);
    assert!(exported.status.success());

    let restored = dir.path().join("restored");
    let out = run(&restored, &["restore", file_arg]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("agrees"), "{}", text(&out));
    let again = run(&restored, &["export"]);
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        String::from_utf8_lossy(&exported.stdout)
    );
    // Never over a store that exists.
    let out = run(&restored, &["restore", file_arg]);
    assert!(!out.status.success());
    assert!(text(&out).contains("already exists"), "{}", text(&out));

    // A damaged copy (one entry's value changed) and a cut-short copy create nothing.
    let backup = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = backup.lines().collect();
    assert!(lines.len() > 10);
    let middle = lines.len() / 2;
    let mut damaged = lines.clone();
    let changed = damaged[middle].replacen("\"v\":\"", "\"v\":\"AAAA", 1);
    damaged[middle] = &changed;
    let short = &lines[..lines.len() - 1];
    for (name, content) in [
        ("damaged", damaged.join("\n") + "\n"),
        ("short", short.join("\n") + "\n"),
        ("cut", backup[..backup.len() / 2].to_string()),
    ] {
        let copy = dir.path().join(format!("{name}.backup"));
        std::fs::write(&copy, content).unwrap();
        let target = dir.path().join(name);
        let out = run(&target, &["restore", copy.to_str().unwrap()]);
        assert!(!out.status.success(), "{name}: {}", text(&out));
        assert!(
            !target.join("store").exists() && !target.join("store.restoring").exists(),
            "{name}: a failed restore left a store behind"
        );
    }

    // The restored directory serves the same directory: token, password, group, audit.
    let served = Server::spawn(&restored, &[], &[]);
    let (status, found) = scim(
        &http,
        &served,
        reqwest::Method::GET,
        &format!("/Groups/{ops_id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the provisioning token still works");
    assert_eq!(found["members"][0]["value"], alice_id.as_str());
    let (conn, mut ldap) = LdapConnAsync::new(&format!("ldap://{}", served.ldap))
        .await
        .unwrap();
    ldap3::drive!(conn);
    let bound = ldap
        .simple_bind("uid=alice,ou=people,dc=example,dc=com", ALICE_PASSWORD)
        .await
        .unwrap();
    assert_eq!(bound.rc, 0, "alice's password hash was restored");
    let events = common::admin_audit(
        &http,
        &format!("http://{}", served.http),
        &format!("target={alice_id}"),
    )
    .await;
    assert!(
        events.iter().any(|e| e["kind"] == "user_created"),
        "{events:?}"
    );
}
