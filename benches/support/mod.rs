//! What the benchmarks that drive the real binary share: a private instance (its own copy of the
//! binary, data directory, config and loopback ports), its start and stop, and the machine
//! figures recorded beside the results. Each bench includes it with `mod support;`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub const ADMIN_PASSWORD: &str = "Admin-Bench-Pass-1";
pub const TOKEN: &str = "rc_bench_provisioning_token_000000000";

/// SplitMix64: seeded, so every run asks for the same users in the same order.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A data directory, its config and its HTTP port; `serve` runs it.
pub struct Instance {
    bin: PathBuf,
    dir: TempDir,
    config: PathBuf,
    pub http: SocketAddr,
    pub ldap: SocketAddr,
}

/// A running `rollcall serve`, killed if the bench stops early.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The binary under test: `ROLLCALL_BIN`, else the one cargo built for this bench, built with
/// `cargo build --release --bin rollcall` if it is missing.
pub fn binary() -> PathBuf {
    if let Ok(bin) = std::env::var("ROLLCALL_BIN") {
        return PathBuf::from(bin);
    }
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_rollcall"));
    if !bin.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "--bin", "rollcall"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo build");
        assert!(
            status.success(),
            "cargo build --release --bin rollcall failed"
        );
    }
    bin
}

/// A loopback port nobody listens on, below the kernel's ephemeral range (as tests/common does).
pub fn free_addr() -> SocketAddr {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let _ = NEXT.compare_exchange(
        0,
        20_000 + (std::process::id() as usize % 1_000) * 10 + 5,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    loop {
        let port = NEXT.fetch_add(1, Ordering::SeqCst);
        if port >= 32_000 {
            NEXT.store(20_000, Ordering::SeqCst);
            continue;
        }
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port as u16)) {
            return listener.local_addr().expect("bound address");
        }
    }
}

impl Instance {
    /// Runs a private copy of `bin`, so that a rebuild during the run changes nothing.
    pub fn new(bin: &Path, name: &str) -> Instance {
        let dir = tempfile::Builder::new()
            .prefix(&format!("rollcall-{name}-"))
            .tempdir()
            .expect("temp dir");
        let copy = dir.path().join("rollcall");
        std::fs::copy(bin, &copy).expect("copy the binary");
        let (http, ldap, ldaps) = (free_addr(), free_addr(), free_addr());
        let config = dir.path().join("rollcall.toml");
        // No [licenses] limits: unlimited. Cheap argon2 so that logins cost little; no lockout.
        let text = format!(
            "data = {data:?}\n\n[http]\naddr = \"{http}\"\n\n[ldap]\naddr = \"{ldap}\"\n\
             ldaps_addr = \"{ldaps}\"\n\n[argon2]\nmemory_kib = 1024\niterations = 1\n\
             parallelism = 1\n\n[lockout]\nthreshold = 0\n",
            data = dir.path().join("data"),
        );
        std::fs::write(&config, text).expect("write the config");
        Instance {
            bin: copy,
            dir,
            config,
            http,
            ldap,
        }
    }

    pub fn command(&self, sub: &str) -> Command {
        let mut command = Command::new(&self.bin);
        command.arg(sub).arg("--config").arg(&self.config);
        for var in [
            "ROLLCALL_CONFIG",
            "ROLLCALL_DATA",
            "ROLLCALL_HTTP_ADDR",
            "ROLLCALL_LDAP_ADDR",
            "ROLLCALL_LDAPS_ADDR",
            "ROLLCALL_BASE_DN",
        ] {
            command.env_remove(var);
        }
        command.env("ROLLCALL_LOG", "warn");
        command
    }

    pub fn init(&self) {
        let out = self
            .command("init")
            .env("ROLLCALL_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("ROLLCALL_BOOTSTRAP_TOKEN", TOKEN)
            .output()
            .expect("run rollcall init");
        assert!(
            out.status.success(),
            "rollcall init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts `rollcall serve` and waits until /healthz answers.
    pub fn serve(&self) -> Running {
        let child = self
            .command("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn rollcall serve");
        let mut running = Running(child);
        let deadline = Instant::now() + Duration::from_secs(120);
        while !healthy(self.http) {
            if let Ok(Some(status)) = running.0.try_wait() {
                panic!("rollcall serve exited before serving: {status}");
            }
            assert!(Instant::now() < deadline, "rollcall did not become healthy");
            std::thread::sleep(Duration::from_millis(50));
        }
        running
    }

    /// Feeds `lines` to `rollcall import`; returns what it printed (one line per stored user)
    /// and the time it took.
    pub fn import(&self, lines: String) -> (Vec<String>, Duration) {
        let started = Instant::now();
        let mut child = self
            .command("import")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn rollcall import");
        let mut stdin = child.stdin.take().expect("stdin");
        let feeder = std::thread::spawn(move || stdin.write_all(lines.as_bytes()));
        let printed = BufReader::new(child.stdout.take().expect("stdout"))
            .lines()
            .map_while(Result::ok)
            .collect();
        feeder.join().expect("feeder").expect("write to import");
        let status = child.wait().expect("wait for import");
        assert!(status.success(), "rollcall import failed: {status}");
        (printed, started.elapsed())
    }

    /// The data directory (the store lives below it).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn data_mib(&self) -> u64 {
        fn size(path: &Path) -> u64 {
            std::fs::read_dir(path).map_or(0, |entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| match e.metadata() {
                        Ok(m) if m.is_dir() => size(&e.path()),
                        Ok(m) => m.len(),
                        Err(_) => 0,
                    })
                    .sum()
            })
        }
        size(&self.data_dir()) / (1024 * 1024)
    }
}

pub fn healthy(http: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&http, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.starts_with("HTTP/1.1 200")
}

/// SIGTERM, then wait: sled allows one process per data directory.
pub fn stop(mut running: Running) {
    let status = Command::new("kill")
        .args(["-TERM", &running.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -TERM failed");
    let deadline = Instant::now() + Duration::from_secs(60);
    while running.0.try_wait().expect("try_wait").is_none() {
        assert!(Instant::now() < deadline, "rollcall did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// (VmRSS, VmHWM) of a process in MiB.
pub fn memory_mib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kib| kib / 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The machine's load average: the 2 cores may be shared with other work.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The binary's path as recorded with results: relative to the repository when it is inside it,
/// so that result files name no machine's directories.
pub fn binary_label(bin: &Path) -> String {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    bin.strip_prefix(repo).unwrap_or(bin).display().to_string()
}

/// Installs the TLS provider and runs a bench's `run` on a 2-worker runtime; a run that found
/// wrong or failed answers makes the process exit non-zero.
pub fn main_with<F: std::future::Future<Output = bool>>(run: impl FnOnce() -> F) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    if runtime.block_on(run()) {
        std::process::exit(1);
    }
}

/// The day (for the results file) and the start of this run to the second (tells runs apart).
pub fn run_stamp() -> (String, String) {
    let now = time::OffsetDateTime::now_utc();
    let started = now
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    (now.date().to_string(), started)
}

/// When `bin` was built, as recorded beside the results.
pub fn built_at(bin: &Path) -> String {
    std::fs::metadata(bin)
        .and_then(|m| m.modified())
        .map(|t| time::OffsetDateTime::from(t).to_string())
        .unwrap_or_default()
}

/// Appends JSON lines to `benches/<bench>/results/<date>-u<users>.jsonl`: a second run of the
/// same day and size goes to the same file (told apart by `run`).
pub fn write_results(
    bench: &str,
    date: &str,
    users: usize,
    lines: &[serde_json::Value],
) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches")
        .join(bench)
        .join("results");
    std::fs::create_dir_all(&dir).expect("results dir");
    let path = dir.join(format!("{date}-u{users}.jsonl"));
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .expect("write results");
    path
}
