//! Helpers shared by the end-to-end tests: a real service over a real store in a temp dir, and
//! the real `rollcall` binary on free loopback ports.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rollcall::audit::Source;
use rollcall::model::{Account, LicenseLimits, LicenseType, User};
use rollcall::password::Argon2Params;
use rollcall::service::{Actor, NewUser, Policy, Service};
use rollcall::store::{SledStore, StoreOptions};
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_rollcall");

/// Cheap hashing for tests that set passwords; production parameters are tested elsewhere.
pub fn fast_argon2() -> Argon2Params {
    Argon2Params {
        memory_kib: 256,
        iterations: 1,
        parallelism: 1,
    }
}

pub fn service_with(limits: LicenseLimits) -> (TempDir, Service) {
    let dir = tempfile::tempdir().unwrap();
    let service = open_service(dir.path(), limits);
    (dir, service)
}

/// A service on a new store with cheap hashing and the password policy `password` (passwords
/// that expire, grace logins, …), for rules that need time moved or many sign-ins at once.
pub fn service_with_password_policy(
    password: rollcall::password::policy::PasswordPolicy,
) -> (TempDir, Service) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&dir.path().join("store"), &StoreOptions::default()).unwrap();
    let service = Service::new(
        Arc::new(store),
        Policy {
            argon2: fast_argon2(),
            password,
            ..Policy::default()
        },
    );
    (dir, service)
}

pub fn open_service(dir: &Path, limits: LicenseLimits) -> Service {
    let path = dir.join("store");
    let store = when_released(|| SledStore::open(&path, &StoreOptions::default()));
    Service::new(
        Arc::new(store),
        Policy {
            licenses: limits,
            argon2: fast_argon2(),
            ..Policy::default()
        },
    )
}

/// `open` once the store's lock is free: a store this process just dropped lets go of its
/// lock when the engine's background threads have finished, a moment later.
pub fn when_released<T, E: std::fmt::Debug>(open: impl Fn() -> Result<T, E>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match open() {
            Ok(opened) => return opened,
            Err(e)
                if format!("{e:?}").contains("could not acquire lock")
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("opening the store: {e:?}"),
        }
    }
}

pub fn admin() -> Actor {
    Actor::system(Source::Cli)
}

pub fn person(name: &str, license: LicenseType, active: bool) -> User {
    let mut user = User::new(name);
    user.license = license;
    user.active = active;
    user.emails = vec![rollcall::model::MultiValue {
        value: format!("{name}@example.com"),
        kind: Some("work".into()),
        primary: true,
        display: None,
    }];
    user
}

pub fn create(service: &Service, user: User) -> User {
    create_with(service, user, None)
}

/// Creates `user` as the command line does, with `password` when one is given.
pub fn create_with(service: &Service, user: User, password: Option<&str>) -> User {
    service
        .create_user(
            &admin(),
            NewUser {
                user,
                password: password.map(String::from),
            },
        )
        .unwrap()
}

pub fn account(service: &Service, name: &str, licensed: bool) -> Account {
    let mut account = Account::new(name);
    account.licensed = licensed;
    service.create_account(&admin(), account).unwrap()
}

/// A loopback port nobody listens on, taken below the kernel's ephemeral range (32768 and up
/// on Linux): a port the kernel hands out for `:0` can be handed out again, to a client's
/// outgoing connection, before the server under test binds it.
pub fn free_addr() -> SocketAddr {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let _ = NEXT.compare_exchange(
        0,
        20_000 + (std::process::id() % 1_000) as u16 * 10,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    loop {
        let port = NEXT.fetch_add(1, Ordering::SeqCst);
        if port >= 32_000 {
            NEXT.store(20_000, Ordering::SeqCst);
            continue;
        }
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            return listener.local_addr().unwrap();
        }
    }
}

/// True when the run is CI's: a test whose external tool is missing must fail there.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A running `rollcall serve` child with its own data dir and ports.
pub struct Server {
    pub child: Child,
    pub data: PathBuf,
    pub http: SocketAddr,
    pub ldap: SocketAddr,
    pub ldaps: SocketAddr,
    pub stdout: Vec<String>,
    _dir: Option<TempDir>,
}

impl Server {
    pub fn start() -> Self {
        Self::start_with(&[], &[])
    }

    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut server = Self::spawn(&data, args, env);
        server._dir = Some(dir);
        server
    }

    pub fn spawn(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::spawn_until(data, args, env, healthy)
    }

    /// Like [`Server::spawn`], ready once `ready(http address)` says so.
    pub fn spawn_until(
        data: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        ready: fn(SocketAddr) -> bool,
    ) -> Self {
        let (http, ldap, ldaps) = (free_addr(), free_addr(), free_addr());
        let mut command = Command::new(BIN);
        command
            .arg("serve")
            .arg("--data")
            .arg(data)
            .args([
                "--http",
                &http.to_string(),
                "--ldap",
                &ldap.to_string(),
                "--ldaps",
                &ldaps.to_string(),
            ])
            .args(args)
            .env_remove("ROLLCALL_CONFIG")
            .env("ROLLCALL_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let stdout = read_until_ready(&mut child, http, ready);
        Self {
            child,
            data: data.to_path_buf(),
            http,
            ldap,
            ldaps,
            stdout,
            _dir: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// The value printed after `label:` on first start.
    pub fn printed(&self, label: &str) -> Option<String> {
        printed(&self.stdout, label)
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        signal(&self.child, "TERM");
        wait_timeout(&mut self.child, Duration::from_secs(30)).expect("server exits after SIGTERM")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn printed(lines: &[String], label: &str) -> Option<String> {
    lines.iter().find_map(|l| {
        l.trim()
            .strip_prefix(label)
            .and_then(|rest| rest.trim().strip_prefix(':'))
            .map(|v| v.trim().to_string())
    })
}

/// Collects the first-start banner (if any) and waits until /healthz answers.
fn read_until_ready(
    child: &mut Child,
    http: SocketAddr,
    ready: fn(SocketAddr) -> bool,
) -> Vec<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lines = Vec::new();
    loop {
        while let Ok(line) = rx.try_recv() {
            lines.push(line);
        }
        if ready(http) {
            // The banner is printed before the listeners open; take what is left of it.
            std::thread::sleep(Duration::from_millis(50));
            while let Ok(line) = rx.try_recv() {
                lines.push(line);
            }
            return lines;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("rollcall exited before serving: {status}; stdout: {lines:?}");
        }
        assert!(Instant::now() < deadline, "rollcall did not become healthy");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn healthy(http: SocketAddr) -> bool {
    let Ok(s) = std::net::TcpStream::connect_timeout(&http, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    healthz_over(s)
}

/// `/healthz` over HTTPS, trusting only the test CA.
pub fn healthy_tls(http: SocketAddr) -> bool {
    let Ok(tcp) = std::net::TcpStream::connect_timeout(&http, Duration::from_millis(200)) else {
        return false;
    };
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(2)));
    let conn =
        rustls::ClientConnection::new(test_ca_client_config(), "localhost".try_into().unwrap())
            .unwrap();
    healthz_over(rustls::StreamOwned::new(conn, tcp))
}

/// A rustls client configuration that trusts the test CA alone.
pub fn test_ca_client_config() -> std::sync::Arc<rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(cert_path("test-ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

fn healthz_over(mut s: impl std::io::Read + std::io::Write) -> bool {
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.starts_with("HTTP/1.1 200") && body.contains("\"ok\"")
}

pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Runs a one-shot `rollcall` subcommand on a data dir.
pub fn run(data: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(data)
        .env("ROLLCALL_LOG", "warn")
        .output()
        .unwrap()
}

/// The repository's test certificates (see certs/README.md).
pub fn cert_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("certs")
        .join(name)
}

pub const ADMIN_PASSWORD: &str = "Admin-Pass-123";
pub const ADMIN_DN: &str = "uid=admin,ou=people,dc=example,dc=com";

/// A server with the test certificate, a known admin password and `extra` config lines.
pub fn start_directory(extra: &str) -> Server {
    start_directory_with_env(extra, &[])
}

pub fn start_directory_with_env(extra: &str, env: &[(&str, &str)]) -> Server {
    start_directory_until(extra, env, healthy)
}

/// A directory serving HTTPS (`[http] tls = true`) with the test certificate.
pub fn start_https_directory(extra: &str, env: &[(&str, &str)]) -> Server {
    start_directory_until(&format!("[http]\ntls = true\n{extra}"), env, healthy_tls)
}

fn start_directory_until(
    extra: &str,
    env: &[(&str, &str)],
    ready: fn(SocketAddr) -> bool,
) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rollcall.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\ncert = {:?}\nkey = {:?}\n\n[argon2]\nmemory_kib = 1024\niterations = 1\nparallelism = 1\n\n{extra}\n",
            cert_path("server.pem"),
            cert_path("server.key"),
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut server = Server::spawn_until(
        &data,
        &["--config", config.to_str().unwrap()],
        &[
            &[("ROLLCALL_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)],
            env,
        ]
        .concat(),
        ready,
    );
    server._dir = Some(dir);
    server
}

/// An ldap3 connection to `ldap` bound as the admin, driven on the current runtime.
pub async fn admin_connection(ldap: SocketAddr) -> ldap3::Ldap {
    let (conn, mut ldap) = ldap3::LdapConnAsync::new(&format!("ldap://{ldap}"))
        .await
        .unwrap();
    ldap3::drive!(conn);
    ldap.simple_bind(ADMIN_DN, ADMIN_PASSWORD)
        .await
        .unwrap()
        .success()
        .unwrap();
    ldap
}

/// Audit events matching `query`, read over `base` (`http://…` or `https://…`) with a
/// session of the admin.
pub async fn admin_audit(
    http: &reqwest::Client,
    base: &str,
    query: &str,
) -> Vec<serde_json::Value> {
    let session = admin_session(http, base).await;
    let events: serde_json::Value = http
        .get(format!("{base}/admin/audit?{query}"))
        .bearer_auth(session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    events.as_array().expect("a list of events").clone()
}

/// The SCIM User named `name` (found by a `userName eq` filter over `base` with `bearer`), or
/// `null` when there is none.
pub async fn scim_user_named(
    http: &reqwest::Client,
    base: &str,
    bearer: &str,
    name: &str,
) -> serde_json::Value {
    let found: serde_json::Value = http
        .get(format!(
            "{base}/scim/v2/Users?filter=userName%20eq%20%22{name}%22"
        ))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    found["Resources"][0].clone()
}

/// A session token of the admin, signed in over `base`.
pub async fn admin_session(http: &reqwest::Client, base: &str) -> String {
    let login = http
        .post(format!("{base}/auth/token"))
        .json(&serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), reqwest::StatusCode::OK);
    let session: serde_json::Value = login.json().await.unwrap();
    session["access_token"].as_str().unwrap().to_string()
}

/// Whether the external tool `name` (from the Debian package `package`) is installed. Outside
/// CI a missing tool skips the test with a message; in CI it fails the test.
pub fn tool_available(name: &str, package: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            !in_ci(),
            "{name} is required in CI (apt-get install -y {package})"
        );
        eprintln!("skipping: {name} is not installed (apt-get install -y {package})");
    }
    found
}

/// Runs `command` with `input` on its stdin and stdout and stderr captured.
pub fn output_with_stdin(command: &mut Command, input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Written from a thread: a child that answers as it reads would otherwise fill its
    // stdout pipe while this side still writes to its stdin.
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    // A child that stops reading early is the test's to judge from the output.
    let _ = writer.join();
    output
}

/// `rollcall import` on `data`, quiet but for errors, without backtraces on failure.
pub fn import_command(data: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(["import", "--data"])
        .arg(data)
        .env("ROLLCALL_LOG", "error")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
    command
}

/// An OpenLDAP client tool, or `None` when it is not installed outside CI (the test then skips
/// with a message). In CI a missing tool fails the test.
pub fn openldap_tool(name: &str) -> Option<Command> {
    if !tool_available(name, "ldap-utils") {
        return None;
    }
    let mut command = Command::new(name);
    command
        .env("LDAPTLS_CACERT", cert_path("test-ca.pem"))
        .env("LDAPTLS_REQCERT", "demand")
        .env("LDAPCONF", "/dev/null")
        .env("LDAPRC", "/dev/null");
    Some(command)
}

/// The value of one series (name and labels exactly as exposed) in a Prometheus text scrape.
pub fn sample(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in {scrape}"))
        .parse()
        .unwrap()
}

/// The server's `/metrics`, as text.
pub async fn scrape(server: &Server) -> String {
    reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The status line of the answer to a POST of `body` to `path` with `headers` (CRLF-separated
/// lines, framing included), sent whole before anything is read, as a plain TCP client would:
/// a server that answers early and resets the connection fails this.
pub async fn raw_post_status(addr: SocketAddr, path: &str, headers: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("POST {path} HTTP/1.1\r\nhost: {addr}\r\n{headers}\r\n\r\n");
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(body)
        .await
        .expect("the server reads the whole body");
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        BufReader::new(conn).read_line(&mut line),
    )
    .await
    .expect("an answer in time")
    .expect("an answer, not a reset");
    line.trim_end().to_owned()
}

/// A backup's `body` (header and entries, one per line) with its end line `last` made right
/// again after a test edited the entries: the digest of the body and, when given, the count of
/// entries, so that `restore` reads the edited file as a whole one.
pub fn sealed_backup(mut body: String, last: &str, entries: Option<u64>) -> String {
    use sha2::Digest as _;
    let digest: String = sha2::Sha256::digest(body.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut end: serde_json::Value = serde_json::from_str(last).unwrap();
    end["end"]["sha256"] = digest.into();
    if let Some(count) = entries {
        end["end"]["entries"] = count.into();
    }
    body.push_str(&format!("{end}\n"));
    body
}

/// The `uid`s of LDAP search entries, sorted: who a search found, whatever order it answered in.
pub fn sorted_uids(entries: Vec<ldap3::ResultEntry>) -> Vec<String> {
    let mut uids: Vec<String> = entries
        .into_iter()
        .map(|e| ldap3::SearchEntry::construct(e).attrs["uid"][0].clone())
        .collect();
    uids.sort();
    uids
}

/// The member ids a SCIM Group lists (none when it lists no `members`).
pub fn group_member_ids(group: &serde_json::Value) -> std::collections::BTreeSet<String> {
    group["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| m["value"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}
