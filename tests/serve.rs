//! `rollcall serve` as an operator runs it: embedded defaults, configuration layering, first-start
//! credentials, token creation and orderly shutdown.

mod common;

use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use rollcall::model::LicenseLimits;

/// Completes a TLS handshake against `addr`, trusting only `cert_pem`, for `name`.
fn tls_handshake(addr: &str, cert_pem: &Path, name: &str) -> Result<(), String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(cert_pem).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut conn = rustls::ClientConnection::new(
        Arc::new(config),
        ServerName::try_from(name.to_string()).unwrap(),
    )
    .unwrap();
    let mut sock = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// One HTTP/1.1 exchange on a fresh connection; the whole answer as text.
fn http(addr: std::net::SocketAddr, request: &str) -> String {
    use std::io::{Read, Write};
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    sock.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    sock.read_to_string(&mut answer).unwrap();
    answer
}

fn get_with_bearer(addr: std::net::SocketAddr, path: &str, token: &str) -> String {
    http(
        addr,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        ),
    )
}

fn post_json(addr: std::net::SocketAddr, path: &str, body: &str) -> String {
    http(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn clean_env(command: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars() {
        if key.starts_with("ROLLCALL_") {
            command.env_remove(key);
        }
    }
    command.env("ROLLCALL_LOG", "warn")
}

#[test]
fn serve_with_no_arguments_runs_on_embedded_defaults_and_stops_cleanly_on_sigterm() {
    // The defaults are the point of this test, so it needs their ports. Taken ports fail it in
    // CI (a fresh machine) and skip it elsewhere, with the reason.
    let taken: Vec<u16> = [8080, 3890, 6360]
        .into_iter()
        .filter(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_err())
        .collect();
    if !taken.is_empty() {
        assert!(
            !common::in_ci(),
            "the default ports {taken:?} are in use on the CI machine"
        );
        eprintln!("skipping: the default ports {taken:?} are in use on this machine");
        return;
    }
    let cwd = tempfile::tempdir().unwrap();
    let start = || {
        let mut child = clean_env(Command::new(BIN).arg("serve").current_dir(cwd.path()))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = std::thread::spawn(move || {
            use std::io::BufRead;
            std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !healthy("127.0.0.1:8080".parse().unwrap()) {
            assert!(
                std::time::Instant::now() < deadline,
                "no /healthz on 127.0.0.1:8080"
            );
            assert!(child.try_wait().unwrap().is_none(), "rollcall serve exited");
            std::thread::sleep(Duration::from_millis(50));
        }
        (child, lines)
    };

    let (mut child, lines) = start();
    let data = cwd.path().join("rollcall-data");
    assert!(data.join("store").is_dir(), "data in ./rollcall-data");
    let cert = data.join("tls/cert.pem");
    assert!(
        cert.is_file() && data.join("tls/key.pem").is_file(),
        "self-signed certificate generated"
    );
    TcpStream::connect("127.0.0.1:3890").expect("LDAP listener on 127.0.0.1:3890");
    tls_handshake("127.0.0.1:6360", &cert, "127.0.0.1")
        .expect("LDAPS on 6360 with the generated certificate (IP SAN)");
    tls_handshake("127.0.0.1:6360", &cert, "localhost")
        .expect("the certificate names localhost too");

    signal(&child, "TERM");
    let status = wait_timeout(&mut child, Duration::from_secs(30)).expect("exits after SIGTERM");
    assert!(status.success(), "{status}");
    let first = lines.join().unwrap();
    let password =
        printed(&first, "admin password").expect("admin password printed on first start");
    let token = printed(&first, "provisioning token").expect("token printed on first start");
    assert!(password.len() >= 20, "{password}");
    assert!(token.starts_with("rc_"), "{token}");
    assert!(
        first
            .iter()
            .any(|l| l.contains("uid=admin,ou=people,dc=example,dc=com"))
    );

    // Second start: same data, nothing printed again, same certificate.
    let cert_before = std::fs::read(&cert).unwrap();
    let (mut child, lines) = start();
    signal(&child, "INT");
    assert!(
        wait_timeout(&mut child, Duration::from_secs(30))
            .unwrap()
            .success()
    );
    let second = lines.join().unwrap();
    assert!(
        printed(&second, "admin password").is_none(),
        "credentials are printed once: {second:?}"
    );
    assert_eq!(std::fs::read(&cert).unwrap(), cert_before);

    // The printed secrets are the ones stored.
    let service = open_service(&data, LicenseLimits::default());
    let principal = service
        .authenticate_token(&token)
        .unwrap()
        .expect("printed token works");
    assert_eq!(principal.account.user_name, "provisioning");
    let admin_user = service.user_by_name(&admin(), "admin").unwrap();
    assert!(rollcall::password::verify(
        &password,
        admin_user.password_hash.as_deref().unwrap()
    ));
    assert!(
        service
            .authenticate_token("rc_not-a-real-token-at-all-000")
            .unwrap()
            .is_none()
    );
}

#[test]
fn config_file_then_environment_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let (file_addr, env_addr, flag_addr) = (free_addr(), free_addr(), free_addr());
    let config = dir.path().join("rollcall.toml");
    std::fs::write(
        &config,
        format!(
            "base_dn = \"dc=corp,dc=test\"\n[http]\naddr = \"{file_addr}\"\n[ldap]\naddr = \"{}\"\nldaps_addr = \"{}\"\n[licenses]\nemployee = 3\n",
            free_addr(),
            free_addr()
        ),
    )
    .unwrap();
    let spawn = |extra: &[&str], env_http: Option<String>| {
        let mut command = Command::new(BIN);
        clean_env(&mut command)
            .args(["serve", "--config"])
            .arg(&config)
            .arg("--data")
            .arg(dir.path().join("data"))
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(addr) = env_http {
            command.env("ROLLCALL_HTTP_ADDR", addr);
        }
        command.spawn().unwrap()
    };
    let wait_healthy = |addr| {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !healthy(addr) {
            assert!(
                std::time::Instant::now() < deadline,
                "nothing serving on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };

    let mut child = spawn(&[], None);
    wait_healthy(file_addr);
    child.kill().unwrap();
    child.wait().unwrap();

    let mut child = spawn(&[], Some(env_addr.to_string()));
    wait_healthy(env_addr);
    assert!(!healthy(file_addr), "the environment overrides the file");
    child.kill().unwrap();
    child.wait().unwrap();

    let mut child = spawn(
        &["--http", &flag_addr.to_string()],
        Some(env_addr.to_string()),
    );
    wait_healthy(flag_addr);
    assert!(!healthy(env_addr), "a flag overrides the environment");
    child.kill().unwrap();
    child.wait().unwrap();

    // A typo in the file is a start-up error that names it.
    std::fs::write(&config, "[licences]\nemployee = 3\n").unwrap();
    let out = clean_env(&mut Command::new(BIN))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("licences"));
}

/// A value out of its range stops the start with one line that names the key, the value and
/// the range, whichever key it is, rather than a sentence about several keys or the hashing
/// library's own words; nothing is created in the data directory.
#[test]
fn a_value_out_of_range_stops_the_start_naming_the_key_the_value_and_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rollcall.toml");
    let data = dir.path().join("data");
    for (toml, says) in [
        (
            "[http]\nmax_connections = 1048577",
            "[http] max_connections = 1048577 is out of range 1–1048576",
        ),
        (
            "[http]\nmax_connections = 0",
            "[http] max_connections = 0 is out of range 1–1048576",
        ),
        (
            "[http]\nidle_timeout_seconds = 0",
            "[http] idle_timeout_seconds = 0 is out of range 1–86400",
        ),
        (
            "[http]\nheader_timeout_seconds = 0",
            "[http] header_timeout_seconds = 0 is out of range 1–3600",
        ),
        (
            "[argon2]\niterations = 0",
            "[argon2] iterations = 0 is out of range 1–64",
        ),
        (
            "[argon2]\niterations = 65",
            "[argon2] iterations = 65 is out of range 1–64",
        ),
    ] {
        std::fs::write(&config, toml).unwrap();
        let out = clean_env(&mut Command::new(BIN))
            .args(["serve", "--config"])
            .arg(&config)
            .arg("--data")
            .arg(&data)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{toml}: {stderr}");
        assert!(stderr.contains(says), "{toml}: {stderr}");
        assert!(
            !stderr.contains("argon2 parameters") && stderr.matches(" = ").count() == 1,
            "one key, said once: {stderr}"
        );
        assert!(!data.exists(), "{toml}: nothing made");
    }
}

#[test]
fn bootstrap_secrets_can_come_from_the_environment() {
    let token = "rc_automation-chosen-token-0123456789";
    let password = "Automation-Chosen-Pass-1";
    let mut server = Server::start_with(
        &[],
        &[
            ("ROLLCALL_BOOTSTRAP_ADMIN_PASSWORD", password),
            ("ROLLCALL_BOOTSTRAP_TOKEN", token),
        ],
    );
    let shown = server.stdout.join("\n");
    assert!(
        !shown.contains(token) && !shown.contains(password),
        "given secrets are not echoed: {shown}"
    );
    assert!(
        server
            .printed("provisioning token")
            .unwrap()
            .contains("environment")
    );
    assert!(server.terminate().success());

    let service = open_service(&server.data, LicenseLimits::default());
    assert!(service.authenticate_token(token).unwrap().is_some());
    let admin_user = service.user_by_name(&admin(), "admin").unwrap();
    assert!(rollcall::password::verify(
        password,
        admin_user.password_hash.as_deref().unwrap()
    ));
    assert!(admin_user.active);
    let roles = service.roles(&admin()).unwrap();
    let admin_role = roles.iter().find(|r| r.name == "Administrators").unwrap();
    assert!(admin_role.administrator);
    assert_eq!(admin_user.roles, vec![admin_role.id]);
}

#[test]
fn operator_commands_run_in_the_server_or_on_a_stopped_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = run(&data, &["token", "create", "--name", "okta"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<_> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "only the token: {stdout:?}");
    assert!(lines[0].starts_with("rc_"));
    {
        let service = open_service(&data, LicenseLimits::default());
        let principal = service.authenticate_token(lines[0]).unwrap().unwrap();
        assert_eq!(principal.token.name, "okta");
    }

    // A running server holds the store: the command goes through its control socket.
    let mut server = Server::spawn(&data, &[], &[]);
    let out = run(&data, &["token", "create", "--name", "entra"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    assert_eq!(token.lines().count(), 1, "only the token: {token:?}");
    let answer = get_with_bearer(server.http, "/scim/v2/Users?count=1", token.trim());
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let listed = run(&data, &["token", "list"]);
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(
        listed.contains("\"entra\"") && listed.contains("\"okta\""),
        "{listed}"
    );
    let out = run(&data, &["user", "reset-password", "admin"]);
    assert!(out.status.success());
    let password = String::from_utf8(out.stdout).unwrap();
    let login = post_json(
        server.http,
        "/auth/token",
        &format!(r#"{{"username":"admin","password":"{}"}}"#, password.trim()),
    );
    assert!(
        login.starts_with("HTTP/1.1 200"),
        "the new admin password works: {login}"
    );
    let out = run(&data, &["user", "unlock", "nobody"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not found"),
        "the server's refusal reaches the operator: {out:?}"
    );
    // Check and export run in the server too.
    let out = run(&data, &["check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: every index"));
    let out = run(&data, &["export"]);
    assert!(out.status.success());
    let exported = String::from_utf8(out.stdout).unwrap();
    assert!(
        exported
            .lines()
            .any(|l| l.contains(r#""user_name":"admin""#)),
        "{exported}"
    );
    // Init and restore still need the server stopped, and say that it runs: for a restore,
    // that there is a store already would send the operator looking for the wrong thing.
    let out = run(&data, &["init"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by another rollcall process"));
    let backup = dir.path().join("served.backup");
    let out = run(&data, &["backup", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let out = run(&data, &["restore", backup.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "the data directory {} is in use by another rollcall process",
            data.join("store").display()
        )) && !stderr.contains("already exists"),
        "{stderr}"
    );

    // Killed, the server leaves its socket behind; nobody listens, so the store is used.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert!(data.join("control.sock").exists());
    let out = run(&data, &["licenses"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("employee"));
}

/// The control socket runs commands for the user the server runs as (and root) only: with its
/// file modes loosened, as an operator might by mistake, another user's command is still
/// refused, by the peer's credentials. Needs root (to act as another user) and `setpriv`.
#[test]
fn the_control_socket_refuses_other_users_even_when_its_modes_are_loosened() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let probe = dir.path().join("probe");
    std::fs::write(&probe, b"").unwrap();
    if std::fs::metadata(&probe).unwrap().uid() != 0 {
        assert!(
            !in_ci(),
            "CI runs the tests as root, to act as another user here"
        );
        eprintln!("skipping: acting as another user needs root");
        return;
    }
    if !tool_available("setpriv", "util-linux") {
        return;
    }
    let data = dir.path().join("data");
    let mut server = Server::spawn(&data, &[], &[]);
    let socket = data.join("control.sock");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(std::time::Instant::now() < deadline, "no control socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Everything on the way open to everyone; the binary copied where `nobody` can run it.
    let binary = dir.path().join("rollcall");
    std::fs::copy(BIN, &binary).unwrap();
    for (path, mode) in [
        (dir.path(), 0o755),
        (data.as_path(), 0o755),
        (socket.as_path(), 0o666),
        (binary.as_path(), 0o755),
    ] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&binary)
        .args(["user", "list", "--data"])
        .arg(&data)
        .current_dir(dir.path())
        .env("ROLLCALL_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("serves only the user the server runs as"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing listed");
    // The server's own user is served as before.
    let out = run(&data, &["user", "list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("admin"));
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}

/// First-start secrets chosen by automation are checked before anything is written (a token
/// without the `rc_` prefix would be stored and never work), and `token create` on a fresh
/// directory sets it up, showing the first credentials on stderr and only the new token on
/// stdout.
#[test]
fn first_start_secrets_are_checked_and_never_lost() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let init = |token: &str| {
        clean_env(Command::new(BIN).args(["init", "--data"]).arg(&data))
            .env("ROLLCALL_BOOTSTRAP_TOKEN", token)
            .output()
            .unwrap()
    };
    let out = init("long-enough-but-without-the-prefix");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("must start with \"rc_\""), "{stderr}");
    let out = init("rc_chosen-by-the-automation-123");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("provisioning token:  (as given in the environment)"),
        "{stdout}"
    );

    let fresh = dir.path().join("fresh");
    let out = clean_env(
        Command::new(BIN)
            .args(["token", "create", "--name", "ci", "--data"])
            .arg(&fresh),
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.starts_with("rc_"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("admin password:"), "{stderr}");
    let bootstrap = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("provisioning token:"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(bootstrap.starts_with("rc_"), "{stderr}");
    assert_ne!(bootstrap, stdout.trim(), "two tokens");
}

#[test]
fn logs_can_be_json_lines_for_log_shippers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = clean_env(Command::new(BIN).args(["init", "--data"]).arg(&data))
        .env("ROLLCALL_LOG", "info")
        .env("ROLLCALL_LOG_FORMAT", "json")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    // First start generates the certificate; the event's fields sit next to the message.
    let generated = lines
        .iter()
        .find(|l| l["message"] == "generated a self-signed TLS certificate")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(generated["level"], "INFO");
    assert!(generated["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        generated["cert"].as_str().unwrap(),
        data.join("tls").join("cert.pem").to_str().unwrap()
    );

    // The same choice as a flag; an unknown format is refused before anything runs.
    let out = clean_env(
        Command::new(BIN)
            .args(["check", "--log-format", "xml", "--data"])
            .arg(&data),
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("possible values: text, json"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A client's undecodable LDAP request is answered and logged at debug by the LDAP layer; the
/// protocol library's own `ERROR` line for it stays out of the log unless the filter asks for
/// that library, so no client can fill an operator's log with errors. A filter that does not
/// parse is reported, not silently replaced.
#[test]
fn a_client_sending_malformed_requests_does_not_fill_the_log_with_errors() {
    use std::io::{Read, Write};
    // A search whose filter is tagged universal instead of context-specific: valid BER, not a
    // valid request.
    let mut search = vec![0x30, 0x25, 0x02, 0x01, 0x02, 0x63, 0x20];
    search.extend_from_slice(&[0x04, 0x00, 0x0a, 0x01, 0x00, 0x0a, 0x01, 0x00]);
    search.extend_from_slice(&[0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x01, 0x01, 0x00]);
    search.extend_from_slice(&[0x07, 0x0b]);
    search.extend_from_slice(b"objectClass");
    search.extend_from_slice(&[0x30, 0x00]);
    let serve_and_send = |filter: &str| -> String {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("stderr.log");
        let (http, ldap, ldaps) = (free_addr(), free_addr(), free_addr());
        let mut child = clean_env(Command::new(BIN).args(["serve", "--data"]))
            .arg(dir.path().join("data"))
            .args(["--http", &http.to_string(), "--ldap", &ldap.to_string()])
            .args(["--ldaps", &ldaps.to_string()])
            .env("ROLLCALL_LOG", filter)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !healthy(http) {
            assert!(std::time::Instant::now() < deadline, "server not up");
            std::thread::sleep(Duration::from_millis(50));
        }
        for _ in 0..3 {
            let mut conn = TcpStream::connect(ldap).unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            conn.write_all(&search).unwrap();
            let mut answer = [0u8; 64];
            let n = conn.read(&mut answer).unwrap();
            // The request is answered under its message id; the connection stays.
            assert!(
                n > 5 && answer[2..5] == [0x02, 0x01, 0x02],
                "{:02x?}",
                &answer[..n]
            );
        }
        signal(&child, "TERM");
        assert!(child.wait().unwrap().success());
        std::fs::read_to_string(&log).unwrap()
    };
    let log = serve_and_send("info");
    assert!(!log.contains("ERROR"), "{log}");
    assert!(!log.contains("Invalid tagclass"), "{log}");
    // Asked for at debug, the LDAP layer says what it refused and why, once per request: the
    // request is refused before the protocol library reads it.
    let log = serve_and_send("info,rollcall_ldap=debug");
    assert_eq!(log.matches("malformed LDAP request").count(), 3, "{log}");
    assert!(log.contains("filter is missing or out of place"), "{log}");

    let dir = tempfile::tempdir().unwrap();
    let out = clean_env(
        Command::new(BIN)
            .args(["init", "--data"])
            .arg(dir.path().join("d")),
    )
    .env("ROLLCALL_LOG", "rollcall=loudest")
    .output()
    .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ROLLCALL_LOG is not a log filter") && stderr.contains("logging at info"),
        "{stderr}"
    );
}

#[test]
fn the_data_directory_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested").join("data");
    let out = run(&data, &["init"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "it holds password hashes");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("open to other users"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // An administrator's wider mode stays, and every start says what it exposes.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run(&data, &["licenses"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&data), 0o755);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("open to other users") && stderr.contains("chmod 700"),
        "{stderr}"
    );

    // A data directory made beforehand with 0755 (`install -d`, systemd's StateDirectory=):
    // what Rollcall makes inside it is private all the same, and an open store is closed.
    // Directories Rollcall makes are private from the start: nothing to close, nothing said.
    let init_logged = |data: &Path| {
        let out = clean_env(Command::new(BIN).args(["init", "--data"]).arg(data))
            .env("ROLLCALL_LOG", "info")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let made = dir.path().join("made");
    std::fs::create_dir(&made).unwrap();
    std::fs::set_permissions(&made, std::fs::Permissions::from_mode(0o755)).unwrap();
    let said = init_logged(&made);
    assert!(!said.contains("closed to other users"), "{said}");
    assert_eq!(
        mode(&made.join("store")),
        0o700,
        "the store holds hashes and keys"
    );
    assert_eq!(mode(&made.join("tls")), 0o700, "the TLS key");
    std::fs::set_permissions(made.join("store"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = clean_env(Command::new(BIN).args(["licenses", "--data"]).arg(&made))
        .env("ROLLCALL_LOG", "info")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("closed to other users") && said.contains("was=\"755\""),
        "one found open is closed, and said: {said}"
    );
    assert_eq!(
        mode(&made.join("store")),
        0o700,
        "closed again at the next open"
    );
}

/// `[http] max_connections` and `idle_timeout_seconds`: connections that send nothing keep
/// their slot only until they have been idle that long, and no more than the limit are served
/// at once (the rest wait), so idle clients cannot take every file descriptor and the server
/// serves again once they are gone.
#[test]
fn idle_http_connections_are_closed_and_their_number_bounded() {
    use std::io::{Read, Write};
    let server = start_directory("[http]\nmax_connections = 2\nidle_timeout_seconds = 2\n");
    let idle: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(server.http).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut third = TcpStream::connect(server.http).unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: rollcall\r\nConnection: close\r\n\r\n")
        .unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(800)))
        .unwrap();
    let mut buf = [0u8; 64];
    let early = third.read(&mut buf);
    assert!(
        early.as_ref().is_err_and(|e| matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )),
        "answered while both slots were held: {early:?}"
    );
    for mut connection in idle {
        connection
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let closed = connection.read(&mut buf);
        assert!(
            matches!(closed, Ok(0))
                || closed
                    .as_ref()
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
            "an idle connection is closed: {closed:?}"
        );
    }
    third
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = String::new();
    third.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// A client that sends a request's headers a line at a time, each well within the idle time,
/// is cut off once the head has taken `header_timeout_seconds` (a slow-header attack would
/// otherwise hold a connection slot for ever).
#[test]
fn a_request_head_that_trickles_in_is_cut_off() {
    use std::io::{Read, Write};
    let server = start_directory("[http]\nidle_timeout_seconds = 60\nheader_timeout_seconds = 2\n");
    let mut slow = TcpStream::connect(server.http).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: rollcall\r\n")
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 256];
    let cut_off = loop {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "a trickled head was still being read after 15 s"
        );
        if slow.write_all(b"X-Trickle: 1\r\n").is_err() {
            break started.elapsed();
        }
        match slow.read(&mut buf) {
            Ok(0) => break started.elapsed(),
            Ok(n) => {
                let answer = String::from_utf8_lossy(&buf[..n]);
                assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break started.elapsed(),
        }
    };
    assert!(
        cut_off >= Duration::from_millis(1500),
        "cut off early: {cut_off:?}"
    );
    // A head that arrives in time is answered as always.
    let answer = healthz_on_a_new_connection(server.http).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// `GET /healthz` on a connection of its own, closed after the answer: the whole answer, or
/// the error of a connection the server closed.
fn healthz_on_a_new_connection(addr: std::net::SocketAddr) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut c = TcpStream::connect(addr)?;
    c.set_read_timeout(Some(Duration::from_secs(5)))?;
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: rollcall\r\nConnection: close\r\n\r\n")?;
    let mut answer = String::new();
    c.read_to_string(&mut answer)?;
    Ok(answer)
}

/// One address holds at most `max_connections_per_ip` HTTP connections; more from it are
/// closed as they come, and a slot given back serves again. A trusted proxy, which carries
/// everyone's connections, is held only to `max_connections`.
#[test]
fn one_address_holds_at_most_its_share_of_http_connections() {
    let get = healthz_on_a_new_connection;
    let server = start_directory("[http]\nmax_connections_per_ip = 2\n");
    let held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(server.http).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let third = get(server.http);
    assert!(
        third.as_ref().map_or(true, |a| a.is_empty()),
        "a third connection from the address is closed unanswered: {third:?}"
    );
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    let again = get(server.http).unwrap();
    assert!(again.starts_with("HTTP/1.1 200"), "{again}");

    let proxied = start_directory(
        "[http]\nmax_connections_per_ip = 2\ntrusted_proxies = [\"127.0.0.0/8\"]\n",
    );
    let held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(proxied.http).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let third = get(proxied.http).unwrap();
    assert!(third.starts_with("HTTP/1.1 200"), "{third}");
    drop(held);
}

/// Seats taken past a limit (commands run on the stopped store without the server's config)
/// are told at start: nothing is deactivated, but the admins learn of it.
#[test]
fn a_start_with_more_licenses_in_use_than_allowed_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for args in [
        vec!["init"],
        vec!["user", "create", "ann", "--active"],
        vec!["user", "create", "bob", "--active"],
    ] {
        let out = run(&data, &args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let config = dir.path().join("limits.toml");
    std::fs::write(&config, "[licenses]\nemployee = 2\n").unwrap();
    let http = free_addr();
    let server = clean_env(Command::new(BIN).arg("serve").arg("--data").arg(&data))
        .arg("--config")
        .arg(&config)
        .args(["--http", &http.to_string()])
        .args(["--ldap", &free_addr().to_string()])
        .args(["--ldaps", &free_addr().to_string()])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !healthy(http) {
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    signal(&server, "TERM");
    let out = server.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("more licenses are in use than [licenses] allows")
            && stderr.contains("used=3")
            && stderr.contains("limit=2"),
        "{stderr}"
    );
}

/// `rollcall serve` on the given addresses with the log at `filter` into a file; returns the
/// child and the log's path once `/healthz` answers at `probe`.
fn serve_logged(
    dir: &Path,
    listen: [String; 3],
    probe: std::net::SocketAddr,
    extra: &[&str],
    filter: &str,
) -> (std::process::Child, std::path::PathBuf) {
    let log = dir.join("stderr.log");
    let [http, ldap, ldaps] = listen;
    let child = clean_env(Command::new(BIN).args(["serve", "--data"]))
        .arg(dir.join("data"))
        .args(["--http", &http, "--ldap", &ldap, "--ldaps", &ldaps])
        .args(extra)
        .env("ROLLCALL_LOG", filter)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !healthy(probe) && !healthy_tls(probe) {
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, log)
}

/// Listening where other machines reach it, a server says at start what that exposes: plain
/// HTTP, plain LDAP binds (without `require_tls`), and links and a token issuer made up from
/// the address when `public_url` is not set. An unspecified address (0.0.0.0) is where it
/// listens, not where anyone reaches it, so links never name it.
#[test]
fn a_server_other_machines_reach_says_what_that_exposes() {
    let dir = tempfile::tempdir().unwrap();
    let (http, ldap) = (free_addr(), free_addr());
    let (mut child, log) = serve_logged(
        dir.path(),
        [
            format!("0.0.0.0:{}", http.port()),
            format!("0.0.0.0:{}", ldap.port()),
            free_addr().to_string(),
        ],
        http,
        &[],
        "warn",
    );
    let data = dir.path().join("data");
    let out = run(
        &data,
        &[
            "user",
            "create",
            "carol",
            "--email",
            "carol@example.com",
            "--active",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(
        &data,
        &["outbox", "--user", "carol", "--kind", "activation"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let message: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let body = message["body"].as_str().unwrap();
    assert!(body.contains("/auth/activate?token="), "{body}");
    assert!(!body.contains("0.0.0.0"), "a link nobody can open: {body}");
    assert!(
        body.contains(&format!(":{}/auth/activate", http.port())),
        "{body}"
    );
    signal(&child, "TERM");
    assert!(child.wait().unwrap().success());
    let said = std::fs::read_to_string(&log).unwrap();
    for warning in [
        "HTTP without TLS on a non-loopback address",
        "no public_url for a non-loopback [http] addr",
        "set public_url",
        "LDAP without require_tls on a non-loopback address",
        "[ldap] require_tls = true",
    ] {
        assert!(said.contains(warning), "{warning:?} in {said}");
    }

    // On loopback (the defaults), or with the settings made, none of it is said.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rollcall.toml");
    std::fs::write(
        &config,
        "public_url = \"https://directory.example.com\"\n[ldap]\nrequire_tls = true\n",
    )
    .unwrap();
    let http = free_addr();
    let (mut child, log) = serve_logged(
        dir.path(),
        [
            http.to_string(),
            format!("0.0.0.0:{}", free_addr().port()),
            free_addr().to_string(),
        ],
        http,
        &["--config", config.to_str().unwrap()],
        "warn",
    );
    signal(&child, "TERM");
    assert!(child.wait().unwrap().success());
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(!said.contains("public_url"), "{said}");
    assert!(!said.contains("require_tls"), "{said}");
    assert!(!said.contains("HTTP without TLS"), "{said}");
}

/// The start line names the HTTP address for what it serves.
#[test]
fn the_start_line_says_https_under_tls() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rollcall.toml");
    std::fs::write(
        &config,
        format!(
            "[http]\ntls = true\n[tls]\ncert = {:?}\nkey = {:?}\n",
            cert_path("server.pem"),
            cert_path("server.key")
        ),
    )
    .unwrap();
    let http = free_addr();
    let (mut child, log) = serve_logged(
        dir.path(),
        [
            http.to_string(),
            free_addr().to_string(),
            free_addr().to_string(),
        ],
        http,
        &["--config", config.to_str().unwrap()],
        "info",
    );
    signal(&child, "TERM");
    assert!(child.wait().unwrap().success());
    let said = std::fs::read_to_string(&log).unwrap();
    let serving = said
        .lines()
        .find(|l| l.contains("rollcall is serving"))
        .unwrap_or_else(|| panic!("{said}"));
    assert!(serving.contains(&format!("https={http}")), "{serving}");
    assert!(!serving.contains(" http="), "{serving}");
}

/// Operator commands are logged by what they are, never with their arguments: those name
/// people and carry their addresses.
#[test]
fn operator_commands_are_logged_without_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    let http = free_addr();
    let (mut child, log) = serve_logged(
        dir.path(),
        [
            http.to_string(),
            free_addr().to_string(),
            free_addr().to_string(),
        ],
        http,
        &[],
        "info",
    );
    let data = dir.path().join("data");
    let out = run(
        &data,
        &[
            "user",
            "create",
            "zed.private",
            "--email",
            "zed.private@example.com",
            "--given-name",
            "Zedediah",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    signal(&child, "TERM");
    assert!(child.wait().unwrap().success());
    let said = std::fs::read_to_string(&log).unwrap();
    let line = said
        .lines()
        .find(|l| l.contains("control socket command"))
        .unwrap_or_else(|| panic!("{said}"));
    assert!(line.contains("user create"), "{line}");
    for personal in ["zed.private", "Zedediah"] {
        assert!(!said.contains(personal), "{personal} in {said}");
    }
}

/// Automation's first credentials are checked before the store is made: a refused first start
/// leaves nothing that later commands would run on or a restore would refuse.
#[test]
fn a_refused_first_start_leaves_no_store_behind() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bt");
    for (variable, value, says) in [
        (
            "ROLLCALL_BOOTSTRAP_TOKEN",
            "short",
            "at least 20 characters",
        ),
        (
            "ROLLCALL_BOOTSTRAP_ADMIN_PASSWORD",
            "short",
            "at least 12 characters",
        ),
    ] {
        for command in [
            &["serve"][..],
            &["init"],
            &["token", "create", "--name", "ci"],
        ] {
            let out = clean_env(Command::new(BIN).args(command).arg("--data").arg(&data))
                .args(["--http", &free_addr().to_string()])
                .args(["--ldap", &free_addr().to_string()])
                .args(["--ldaps", &free_addr().to_string()])
                .env(variable, value)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{command:?}: {stderr}");
            assert!(
                stderr.contains(variable) && stderr.contains(says),
                "{command:?}: {stderr}"
            );
            assert!(!data.exists(), "{command:?} left a data directory");
        }
    }
    let out = run(&data, &["licenses"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no store in"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Once the directory is set up, the variables are not read again.
    let out = run(&data, &["init"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = clean_env(Command::new(BIN).args(["init", "--data"]).arg(&data))
        .env("ROLLCALL_BOOTSTRAP_TOKEN", "short")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is already initialised"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A minimum password length past what one generated password used to hold (25 characters)
/// is met by the passwords Rollcall generates: the first start ends, and its admin password is
/// as long as the policy asks.
#[test]
fn generated_passwords_meet_a_long_minimum_length() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rollcall.toml");
    std::fs::write(
        &config,
        "[password]\nmin_length = 128\nrequired_classes = 4\n",
    )
    .unwrap();
    let mut child = clean_env(Command::new(BIN).args(["init", "--data"]))
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let Some(status) = wait_timeout(&mut child, Duration::from_secs(60)) else {
        let _ = child.kill();
        panic!("the first start did not end");
    };
    let out = child.wait_with_output().unwrap();
    assert!(status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let password = printed(&lines, "admin password").unwrap();
    assert!(password.chars().count() >= 128, "{password}");
}

/// The store's engine allocates a fresh log buffer at every flush; backed by transparent huge
/// pages each one cost the zeroing of whole 2 MiB pages (see `process::prefer_small_pages`).
#[test]
#[cfg(target_os = "linux")]
fn the_server_runs_without_transparent_huge_pages() {
    let mut server = Server::start();
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let thp = status
        .lines()
        .find_map(|line| line.strip_prefix("THP_enabled:"))
        .map(str::trim);
    assert_eq!(thp, Some("0"), "{status}");
    assert!(server.terminate().success());
}
