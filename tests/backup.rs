//! `rollcall backup` and `rollcall restore` end to end: a store filled over SCIM is backed up
//! by the running server, restored into a new data directory, and served again with the same
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
    // The running server takes it, through its control socket. A relative FILE is the
    // operator's: it lands in the command's working directory, not the server's.
    let out = std::process::Command::new(common::BIN)
        .args(["backup", "rollcall.backup", "--data"])
        .arg(&original.data)
        .current_dir(dir.path())
        .env("ROLLCALL_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("entries written to"), "{}", text(&out));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only the owner reads a backup");
    }
    // A place the server cannot write: refused, and the operator hears why.
    let out = run(
        &original.data,
        &["backup", "/nonexistent-dir/rollcall.backup"],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("nonexistent-dir"), "{}", text(&out));
    let online = run(&original.data, &["export"]);
    assert!(online.status.success(), "{}", text(&online));

    assert!(original.terminate().success());
    let exported = run(&original.data, &["export"]);
    assert!(exported.status.success());
    assert_eq!(
        String::from_utf8_lossy(&online.stdout),
        String::from_utf8_lossy(&exported.stdout),
        "an export from the running server is the one from its store"
    );

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
        let target = dir.path().join(name).join("data");
        let out = run(&target, &["restore", copy.to_str().unwrap()]);
        assert!(!out.status.success(), "{name}: {}", text(&out));
        assert!(
            !dir.path().join(name).exists(),
            "{name}: a failed restore left the directories it made behind"
        );
        // Into a data directory that was there before: it stays, and stays empty.
        std::fs::create_dir_all(&target).unwrap();
        let out = run(&target, &["restore", copy.to_str().unwrap()]);
        assert!(!out.status.success(), "{name}: {}", text(&out));
        assert!(target.is_dir(), "{name}: a directory made before is kept");
        assert_eq!(
            std::fs::read_dir(&target).unwrap().count(),
            0,
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

/// `GET /admin/backup` while four clients keep creating users: the file is one moment (the
/// restore's cross-check of every index and counter passes), holds every user created before
/// it began, and holds them exactly as they are. Only administrators may take one.
#[tokio::test(flavor = "multi_thread")]
async fn an_online_backup_is_one_moment_even_under_writes() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let http = client();
    let mut server = start_directory_with_env("", &[("ROLLCALL_BOOTSTRAP_TOKEN", TOKEN)]);
    let base = format!("http://{}", server.http);
    let stop = Arc::new(AtomicBool::new(false));
    let created = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (http, url, stop, created) = (
                http.clone(),
                server.url("/scim/v2/Users"),
                Arc::clone(&stop),
                Arc::clone(&created),
            );
            tokio::spawn(async move {
                let mut k = 0;
                while !stop.load(Ordering::Relaxed) {
                    let res = http
                        .post(&url)
                        .bearer_auth(TOKEN)
                        .json(&json!({"userName": format!("w{w}-{k}"), "active": true}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), StatusCode::CREATED);
                    created.fetch_add(1, Ordering::Relaxed);
                    k += 1;
                }
            })
        })
        .collect();
    while created.load(Ordering::Relaxed) < 40 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    // The provisioning token manages users, but a backup holds every hash: administrators only.
    let refused = http
        .get(server.url("/admin/backup"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let admin = common::admin_session(&http, &base).await;
    let before = created.load(Ordering::Relaxed);
    let res = http
        .get(server.url("/admin/backup"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    let body = res.bytes().await.unwrap();
    // Sealed to an age public key on request; a bad key or parameter is refused up front.
    let dir = tempfile::tempdir().unwrap();
    let (key, recipient) = age_key(&dir.path().join("key.txt"));
    let res = http
        .get(server.url(&format!("/admin/backup?recipient={recipient}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/octet-stream");
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(disposition.ends_with(".backup.age\""), "{disposition}");
    let sealed = res.bytes().await.unwrap();
    assert!(sealed.starts_with(b"age-encryption.org/v1\n"));
    for (query, why) in [
        ("recipient=age1nope", "not an age recipient"),
        ("format=zip", "unknown parameter"),
    ] {
        let res = http
            .get(server.url(&format!("/admin/backup?{query}")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let error: Value = res.json().await.unwrap();
        assert!(error["detail"].as_str().unwrap().contains(why), "{error}");
    }
    // Writes go on after it.
    let after_backup = created.load(Ordering::Relaxed);
    while created.load(Ordering::Relaxed) < after_backup + 20 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    assert!(server.terminate().success());

    let file = dir.path().join("online.backup");
    std::fs::write(&file, &body).unwrap();
    let restored = dir.path().join("restored");
    let out = run(&restored, &["restore", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    {
        let file = dir.path().join("online.backup.age");
        std::fs::write(&file, &sealed).unwrap();
        let out = run(
            &dir.path().join("restored-sealed"),
            &[
                "restore",
                file.to_str().unwrap(),
                "--identity",
                key.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
    }

    let users = |data: &std::path::Path| -> Vec<String> {
        let out = run(data, &["export"]);
        assert!(out.status.success());
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter(|l| l.contains("\"user_name\":\"w"))
            .map(str::to_string)
            .collect()
    };
    let in_backup = users(&restored);
    let all = users(&server.data);
    assert!(
        in_backup.len() >= before && in_backup.len() < all.len(),
        "{before} created before the backup began, {} in it, {} in the end",
        in_backup.len(),
        all.len()
    );
    for user in &in_backup {
        assert!(all.contains(user), "a user in the backup differs: {user}");
    }
}

/// The backups of `[backup] dir`, by file name.
fn backup_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Creates `data` holding one inactive user, carol.
fn import_carol(data: &std::path::Path) {
    let user = json!({"id": uuid::Uuid::now_v7(), "user_name": "carol", "active": false,
        "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "version": 0});
    let out = common::output_with_stdin(
        &mut common::import_command(data),
        format!("{user}\n").as_bytes(),
    );
    assert!(out.status.success(), "{}", text(&out));
}

/// The restored directory `data` holds the user the backup tests import, carol.
#[track_caller]
fn assert_holds_carol(data: &std::path::Path) {
    let exported = run(data, &["export"]);
    assert!(
        String::from_utf8_lossy(&exported.stdout).contains("\"carol\""),
        "{}",
        text(&exported)
    );
}

/// A new age identity written to `path` (as `age-keygen` writes one), and its public key.
fn age_key(path: &std::path::Path) -> (std::path::PathBuf, String) {
    use age::secrecy::ExposeSecret;
    let identity = age::x25519::Identity::generate();
    std::fs::write(path, identity.to_string().expose_secret()).unwrap();
    (path.to_path_buf(), identity.to_public().to_string())
}

/// `rollcall backup FILE --recipient RECIPIENT` on `data`.
fn sealed_backup(
    data: &std::path::Path,
    file: &std::path::Path,
    recipient: &str,
) -> std::process::Output {
    run(
        data,
        &["backup", file.to_str().unwrap(), "--recipient", recipient],
    )
}

async fn metric(server: &Server, series: &str) -> f64 {
    common::sample(&common::scrape(server).await, series)
}

/// `[backup] dir`: a server whose newest backup is older than the interval writes one at once,
/// owner-only, keeps the newest `keep`, removes a partial file a crash left and nothing that is
/// not a backup; restarted, it does not back up again before the interval is out; the file
/// restores into a directory with the same users.
#[tokio::test(flavor = "multi_thread")]
async fn scheduled_backups_are_written_kept_and_restorable() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let backups = tmp.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    for name in [
        "rollcall-20200101T000000Z.backup",
        "rollcall-20200102T000000Z.backup",
        "rollcall-20200103T000000Z.backup.partial",
        "notes.txt",
    ] {
        std::fs::write(backups.join(name), "not ours to judge\n").unwrap();
    }
    import_carol(&data);
    let config = tmp.path().join("rollcall.toml");
    std::fs::write(
        &config,
        format!("[backup]\ndir = {backups:?}\ninterval_hours = 24\nkeep = 2\n"),
    )
    .unwrap();
    let args = ["--config", config.to_str().unwrap()];

    let started = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut server = Server::spawn(&data, &args, &[]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let written = loop {
        let names = backup_files(&backups);
        let new = names
            .iter()
            .find(|n| n.ends_with(".backup") && !n.starts_with("rollcall-2020"));
        let pruned = !names
            .iter()
            .any(|n| n == "rollcall-20200101T000000Z.backup");
        if let (Some(new), true) = (new, pruned) {
            break new.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no backup written: {names:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(
        backup_files(&backups),
        [
            "notes.txt",
            "rollcall-20200102T000000Z.backup",
            written.as_str()
        ],
        "the newest two backups are kept, the partial file is gone, the notes are left"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(backups.join(&written))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "only the owner reads a backup");
    }
    assert_eq!(
        metric(&server, "rollcall_backups_total{outcome=\"success\"}").await,
        1.0
    );
    assert_eq!(
        metric(&server, "rollcall_backups_total{outcome=\"failure\"}").await,
        0.0
    );
    let last = metric(&server, "rollcall_backup_last_success_timestamp_seconds").await as i64;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        (started - 1..=now).contains(&last),
        "{started} <= {last} <= {now}"
    );
    assert!(server.terminate().success());

    // Restarted within the interval: the newest backup is recent, so none is taken.
    let mut again = Server::spawn(&data, &args, &[]);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(
        metric(&again, "rollcall_backup_last_success_timestamp_seconds").await as i64,
        last,
        "the newest backup's time is read from the directory"
    );
    assert_eq!(
        metric(&again, "rollcall_backups_total{outcome=\"success\"}").await,
        0.0
    );
    assert_eq!(backup_files(&backups).len(), 3);
    assert!(again.terminate().success());

    let restored = tmp.path().join("restored");
    let file = backups.join(&written);
    let out = run(&restored, &["restore", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert_holds_carol(&restored);
}

/// A backup directory the server cannot write stops the start with a message that names it,
/// rather than the first backup failing a day later.
#[test]
fn an_unwritable_backup_directory_stops_the_start() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("rollcall.toml");
    std::fs::write(&config, "[backup]\ndir = \"/proc/rollcall-backups\"\n").unwrap();
    let (http, ldap, ldaps) = (
        common::free_addr(),
        common::free_addr(),
        common::free_addr(),
    );
    let out = std::process::Command::new(common::BIN)
        .args(["serve", "--config", config.to_str().unwrap(), "--data"])
        .arg(tmp.path().join("data"))
        .args(["--http", &http.to_string(), "--ldap", &ldap.to_string()])
        .args(["--ldaps", &ldaps.to_string()])
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains("[backup] dir /proc/rollcall-backups"),
        "{said}"
    );
    // The cause is said once, in the message that carries it, not again after it.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let error = &stderr[stderr.find("Error: ").unwrap_or_else(|| panic!("{stderr}"))..];
    assert!(!error.contains("Caused by"), "{error}");

    // Not a directory at all: the same.
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    std::fs::write(
        &config,
        format!("[backup]\ndir = {:?}\n", file.join("backups")),
    )
    .unwrap();
    let out = std::process::Command::new(common::BIN)
        .args(["serve", "--config", config.to_str().unwrap(), "--data"])
        .arg(tmp.path().join("data"))
        .args(["--http", &http.to_string(), "--ldap", &ldap.to_string()])
        .args(["--ldaps", &ldaps.to_string()])
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("Not a directory").count(),
        1,
        "said once: {stderr}"
    );
}

/// Output that stops after its first few KiB until told to go on: a backup caught half-way
/// through, however large or small the store.
struct Stalling {
    out: Vec<u8>,
    stall: Option<(std::sync::mpsc::Sender<()>, std::sync::mpsc::Receiver<()>)>,
}

impl std::io::Write for Stalling {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.out.extend_from_slice(data);
        if self.out.len() > 4096
            && let Some((stalled, resume)) = self.stall.take()
        {
            stalled.send(()).unwrap();
            resume.recv().unwrap();
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A backup is the store at the moment it starts, yet commits do not wait for it: with the
/// backup stopped half-way, users are created, activated, deactivated, renamed and
/// anonymised, and each change is acknowledged; the backup, let go on, restores to the store
/// as it was at its start, every index and counter agreeing.
#[test]
fn commits_go_on_while_a_backup_is_written_and_it_keeps_its_moment() {
    use rollcall::audit::Source;
    use rollcall::model::{LicenseLimits, User};
    use rollcall::service::{Actor, NewUser, Plan};
    use std::sync::mpsc::channel;
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let service = std::sync::Arc::new(common::open_service(
        &dir.path().join("live"),
        LicenseLimits::default(),
    ));
    let actor = Actor::system(Source::Cli);
    let ids: Vec<_> = (0..300)
        .map(|i| {
            let mut user = User::new(format!("user{i:03}"));
            user.active = i % 2 == 0;
            user.display_name = Some(format!("User {i}"));
            let new = NewUser {
                user,
                password: None,
            };
            service.create_user(&actor, new).unwrap().id
        })
        .collect();
    let everyone = |service: &rollcall::service::Service| {
        let mut users = Vec::new();
        service
            .list_users(&Actor::system(Source::Cli), &Plan::Scan, &mut |u| {
                users.push(u.clone());
                std::ops::ControlFlow::Continue(())
            })
            .unwrap();
        users
    };
    let at_start = everyone(&service);
    let seats_at_start = service.license_usage().unwrap();

    let (stalled_tx, stalled) = channel();
    let (resume, resume_rx) = channel();
    let backup = {
        let service = std::sync::Arc::clone(&service);
        std::thread::spawn(move || {
            let mut out = Stalling {
                out: Vec::new(),
                stall: Some((stalled_tx, resume_rx)),
            };
            service
                .backup(&Actor::system(Source::Cli), &mut out)
                .unwrap();
            out.out
        })
    };
    stalled
        .recv_timeout(Duration::from_secs(60))
        .expect("the backup starts writing");

    let (done_tx, done) = channel();
    {
        let service = std::sync::Arc::clone(&service);
        let ids = ids.clone();
        std::thread::spawn(move || {
            let actor = Actor::system(Source::Cli);
            let new = NewUser {
                user: User::new("created.during.backup".to_string()),
                password: None,
            };
            service.create_user(&actor, new).unwrap();
            service.set_active(&actor, ids[0], false, None).unwrap();
            service.set_active(&actor, ids[1], true, None).unwrap();
            service
                .update_user(&actor, ids[299], None, |u| {
                    u.user_name = "renamed.during.backup".into();
                    Ok(())
                })
                .unwrap();
            service.anonymise_user(&actor, ids[150], None).unwrap();
            done_tx.send(()).unwrap();
        });
    }
    done.recv_timeout(Duration::from_secs(60))
        .expect("commits are acknowledged while a backup is being written");
    resume.send(()).unwrap();
    let bytes = backup.join().unwrap();

    let target = dir.path().join("restored");
    rollcall::store::restore(
        &target,
        &mut bytes.as_slice(),
        &rollcall::store::StoreOptions::default(),
    )
    .unwrap();
    let store =
        common::when_released(|| rollcall::store::SledStore::open(&target, &Default::default()));
    let restored = rollcall::service::Service::new(
        std::sync::Arc::new(store),
        rollcall::service::Policy::default(),
    );
    assert_eq!(restored.verify().unwrap(), Vec::<String>::new());
    assert_eq!(everyone(&restored), at_start);
    assert_eq!(restored.license_usage().unwrap(), seats_at_start);
}

/// Backups encrypted to an age public key (`[backup] recipients`, `rollcall backup
/// --recipient`) hold nothing readable, and `rollcall restore` opens them only with the
/// matching identity (`--identity`); one it cannot open leaves no store behind. The files are
/// standard age files.
#[tokio::test(flavor = "multi_thread")]
async fn encrypted_backups_open_only_with_their_identity() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let backups = tmp.path().join("backups");
    let (key, recipient) = age_key(&tmp.path().join("key.txt"));
    let (stranger, _) = age_key(&tmp.path().join("stranger.txt"));

    import_carol(&data);

    // A recipient that is not one stops the configuration from loading.
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "[backup]\nrecipients = [\"age1nope\"]\n").unwrap();
    let out = std::process::Command::new(common::BIN)
        .args(["--config", bad.to_str().unwrap(), "--data"])
        .arg(&data)
        .arg("licenses")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("not an age recipient"),
        "{}",
        text(&out)
    );

    let config = tmp.path().join("rollcall.toml");
    std::fs::write(
        &config,
        format!("[backup]\ndir = {backups:?}\nrecipients = [{recipient:?}]\n"),
    )
    .unwrap();
    let mut server = Server::spawn(&data, &["--config", config.to_str().unwrap()], &[]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let scheduled = loop {
        if let Some(name) = std::fs::read_dir(&backups).ok().and_then(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .find(|n| n.ends_with(".backup.age"))
        }) {
            break backups.join(name);
        }
        assert!(std::time::Instant::now() < deadline, "no scheduled backup");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let by_hand = tmp.path().join("by-hand.backup.age");
    let out = sealed_backup(&data, &by_hand, &recipient);
    assert!(out.status.success(), "{}", text(&out));
    let out = run(
        &data,
        &["backup", "/tmp/never.backup", "--recipient", "age1nope"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("not an age recipient"),
        "{}",
        text(&out)
    );
    assert!(server.terminate().success());

    for file in [&scheduled, &by_hand] {
        let bytes = std::fs::read(file).unwrap();
        assert!(bytes.starts_with(b"age-encryption.org/v1\n"), "{file:?}");
        let readable = String::from_utf8_lossy(&bytes);
        assert!(
            !readable.contains("carol") && !readable.contains("rollcall_backup"),
            "{file:?} holds nothing readable"
        );

        let restored = tmp.path().join(format!(
            "restored-{}",
            file.file_name().unwrap().to_string_lossy()
        ));
        let out = run(&restored, &["restore", file.to_str().unwrap()]);
        assert!(!out.status.success());
        assert!(
            text(&out).contains("the backup is encrypted (age); give the identity"),
            "{}",
            text(&out)
        );
        let out = run(
            &restored,
            &[
                "restore",
                file.to_str().unwrap(),
                "--identity",
                stranger.to_str().unwrap(),
            ],
        );
        assert!(!out.status.success());
        assert!(
            text(&out).contains("opening the encrypted backup"),
            "{}",
            text(&out)
        );
        assert!(!restored.join("store").exists(), "nothing left behind");

        let out = run(
            &restored,
            &[
                "restore",
                file.to_str().unwrap(),
                "--identity",
                key.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
        assert_holds_carol(&restored);
    }
}

/// The encrypted files are standard age files, in both directions: the `age` tool opens what
/// Rollcall sealed, and Rollcall restores what `age` sealed. Runs when `age` is installed
/// (required in CI).
#[test]
fn encrypted_backups_are_age_files_the_age_tool_reads_and_writes() {
    if !common::tool_available("age", "age") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = run(&data, &["init"]);
    assert!(out.status.success(), "{}", text(&out));
    let (key, recipient) = age_key(&tmp.path().join("key.txt"));

    let sealed = tmp.path().join("sealed.backup.age");
    let out = sealed_backup(&data, &sealed, &recipient);
    assert!(out.status.success(), "{}", text(&out));
    let opened = std::process::Command::new("age")
        .args(["-d", "-i", key.to_str().unwrap(), sealed.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(opened.status.success(), "{}", text(&opened));
    let plain = String::from_utf8(opened.stdout).unwrap();
    assert!(plain.starts_with("{\"rollcall_backup\":1,"), "{plain:.80}");

    // Sealed by `age` from a plain backup: Rollcall opens it.
    let clear = tmp.path().join("clear.backup");
    std::fs::write(&clear, &plain).unwrap();
    let by_age = tmp.path().join("by-age.backup.age");
    let out = std::process::Command::new("age")
        .args(["-r", &recipient, "-o", by_age.to_str().unwrap()])
        .arg(&clear)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let restored = tmp.path().join("restored");
    let out = run(
        &restored,
        &[
            "restore",
            by_age.to_str().unwrap(),
            "--identity",
            key.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let listed = run(&restored, &["user", "list"]);
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("admin\tperson"),
        "{}",
        text(&listed)
    );
}

/// An import writes the index of employee numbers with the records; a backup carries it and a
/// restore brings it back as it was. A backup the release before wrote (store format 3, no such
/// index) restores too: the restore upgrades it, building the index from the records, and the
/// directory checks out.
#[test]
fn the_employee_number_index_is_restored_and_built_for_a_format_3_backup() {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let user = json!({"id": uuid::Uuid::now_v7(), "user_name": "dana", "active": false,
        "employee_number": "D 9", "created": "2026-01-01T00:00:00Z",
        "modified": "2026-01-01T00:00:00Z", "version": 0});
    let out = common::output_with_stdin(
        &mut common::import_command(&data),
        format!("{user}\n").as_bytes(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let current = dir.path().join("current.backup");
    let out = run(&data, &["backup", current.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));

    // What the format 3 release wrote of the same directory.
    let text_of = std::fs::read_to_string(&current).unwrap();
    let lines: Vec<&str> = text_of.lines().collect();
    let (last, entries) = lines.split_last().unwrap();
    let (header, entries) = entries.split_first().unwrap();
    let mut header: Value = serde_json::from_str(header).unwrap();
    assert_eq!(header["store_format"], 4);
    header["store_format"] = 3.into();
    let mut body = format!("{header}\n");
    let mut count = 0u64;
    let mut dropped = 0;
    for line in entries {
        let entry: Value = serde_json::from_str(line).unwrap();
        if entry["t"] == "idx_user_employee_number" {
            let key = B64.decode(entry["k"].as_str().unwrap()).unwrap();
            assert!(key.starts_with(b"d 9\0"), "{key:?}");
            dropped += 1;
            continue;
        }
        body.push_str(line);
        body.push('\n');
        count += 1;
    }
    assert_eq!(dropped, 1);
    let older = dir.path().join("format-3.backup");
    std::fs::write(&older, common::sealed_backup(body, last, Some(count))).unwrap();

    for (file, target) in [(&current, "restored"), (&older, "restored-3")] {
        let target = dir.path().join(target);
        let out = run(&target, &["restore", file.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
        let out = run(&target, &["check"]);
        assert!(out.status.success(), "{}", text(&out));
        let db = common::when_released(|| sled::open(target.join("store")));
        assert_eq!(
            db.get("store_format").unwrap().unwrap().as_ref(),
            &4u32.to_be_bytes()
        );
        let index = db.open_tree("idx_user_employee_number").unwrap();
        assert_eq!(index.len(), 1, "{}", target.display());
    }
}
