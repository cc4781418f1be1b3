//! SCIM throughput benchmark (issue #3): requests/s and latency (p50, p99) of the SCIM User
//! endpoints at N users (default 100k), as an identity provider (Okta, Entra ID) would call them
//! with the provisioning API token, beside a ceiling measured in the same run.
//!
//! It drives the real release binary (`ROLLCALL_BIN`, else the `rollcall` that `cargo bench`
//! builds next to this bench): `rollcall init` in a temp dir, `rollcall import` of N generated
//! users, then `rollcall serve`. The **ceiling** is an axum server inside this process, on its own
//! 2-thread runtime, whose one route returns a fixed body: a real `GET /Users/{id}` answer
//! captured at start-up, as `application/scim+json`. Same HTTP client, same concurrency.
//!
//! For 1, 4 and 16 concurrent clients (tokio tasks sharing one reqwest client), each mode runs a
//! 2 s warm-up and then `--seconds` of closed loop:
//!
//! - `ceiling`: `GET /ceiling` on the axum server;
//! - `get-id`: `GET /scim/v2/Users/{random id}`;
//! - `filter-eq`: `GET /scim/v2/Users?filter=userName eq "u<random>"`;
//! - `list-100`: `GET /scim/v2/Users?count=100&startIndex=<random in 1..=N-100>`;
//! - `patch-active`: `PATCH /scim/v2/Users/{random id}` replacing `active` with its opposite
//!   (a durable write; each client toggles its own share of the users);
//! - `post-create`: `POST /scim/v2/Users` of a new user `new-c<clients>-<k>` (durable).
//!
//! Every answer is checked (status; GET by id and eq must return exactly the asked user; a page
//! must hold 100 users; PATCH must echo the new `active`; POST must echo the new userName).
//! Errors are counted and make the run exit non-zero. Each cell also counts the flush requests
//! the data directory's disk completed (`/proc/diskstats`, whole device), to show whether durable
//! writes share flushes. Prints a Markdown table and the target
//! verdicts (GET by id and `userName eq` ≥ 50% of the ceiling at the same concurrency; creates
//! with 16 clients ≥ 5× those with 1), and appends the figures as JSON lines to
//! `benches/scim/results/<date>-u<N>.jsonl`.
//!
//! `cargo bench --bench scim -- [--users N] [--seconds S] [--quick]` (`--quick`: 5,000 users,
//! 2 s per cell). See `benches/scim/README.md` for a recorded run.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

mod support;

use support::{
    Instance, Rng, TOKEN, binary, built_at, free_addr, loadavg, main_with, memory_mib, run_stamp,
    stop, write_results,
};

const SCIM: &str = "application/scim+json";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const CONCURRENCY: [usize; 3] = [1, 4, 16];
const WARM_UP: Duration = Duration::from_secs(2);
const PAGE: usize = 100;
/// The targets of issue #3.
const READ_TARGET: f64 = 0.5;
const CREATE_SCALE_TARGET: f64 = 5.0;

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
    users: usize,
    seconds: f64,
    modes: Vec<Mode>,
    /// Read every user once before the cells (see [`warm`]).
    warm: bool,
}

/// `--users N`, `--seconds S`, `--quick`, `--modes get-id,filter-eq` (the ceiling always
/// runs), `--cold` (no warm pass); anything else (cargo adds `--bench`) is ignored.
fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        let at = args.iter().position(|a| a == flag)?;
        let v = args
            .get(at + 1)
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        Some(
            v.parse::<f64>()
                .unwrap_or_else(|_| panic!("{flag} takes a number, not {v:?}")),
        )
    };
    let quick = args.iter().any(|a| a == "--quick");
    let (users, seconds) = if quick { (5_000, 2.0) } else { (100_000, 10.0) };
    let modes = match args.iter().position(|a| a == "--modes") {
        None => Mode::ALL.to_vec(),
        Some(at) => {
            let list = args.get(at + 1).expect("--modes needs a value");
            let mut modes = vec![Mode::Ceiling];
            for name in list.split(',') {
                let mode = Mode::ALL
                    .into_iter()
                    .find(|m| m.label() == name)
                    .unwrap_or_else(|| panic!("unknown mode {name:?}"));
                if !modes.contains(&mode) {
                    modes.push(mode);
                }
            }
            modes
        }
    };
    let opts = Options {
        users: value("--users").map_or(users, |v| v as usize),
        seconds: value("--seconds").unwrap_or(seconds),
        modes,
        warm: !args.iter().any(|a| a == "--cold"),
    };
    assert!(opts.users > PAGE, "--users must be more than {PAGE}");
    opts
}

// ---------------------------------------------------------------------------------------------
// The generated users

/// JSON lines for `rollcall import` (the export format): `u<i>`, active employees with a name
/// and a work email, no password.
fn import_lines(n: usize) -> String {
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a formattable time");
    let mut out = String::with_capacity(n * 400);
    for i in 0..n {
        let line = json!({
            "id": Uuid::now_v7(),
            "user_name": format!("u{i}"),
            "name": {"given_name": "Bench", "family_name": format!("User {i}")},
            "display_name": format!("Bench User {i}"),
            "emails": [{"value": format!("u{i}@example.com"), "type": "work", "primary": true}],
            "license": "employee",
            "active": true,
            "created": now,
            "modified": now,
            "version": 0,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// The ids `rollcall import` printed, indexed by i of `u<i>`.
fn ids_by_index(printed: &[String], n: usize) -> Vec<String> {
    let mut ids = vec![String::new(); n];
    for line in printed {
        let v: Value = serde_json::from_str(line).expect("import prints JSON lines");
        let name = v["userName"].as_str().expect("a userName");
        let i: usize = name[1..].parse().expect("u<i>");
        ids[i] = v["id"].as_str().expect("an id").to_string();
    }
    assert!(ids.iter().all(|id| !id.is_empty()), "an id for every user");
    ids
}

// ---------------------------------------------------------------------------------------------
// The server under test

/// The block device holding `path`, as (major, minor); Linux's encoding of `st_dev`.
fn device_of(path: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(path).map_or(0, |m| m.dev());
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major, minor)
}

/// Flush requests the device has completed (field 16 of `/proc/diskstats`, Linux 5.5+): one per
/// fsync that reached the disk. `None` when the data directory is not on a listed device.
fn disk_flushes(device: (u64, u64)) -> Option<u64> {
    let stats = std::fs::read_to_string("/proc/diskstats").ok()?;
    stats.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let id = (f.first()?.parse().ok()?, f.get(1)?.parse().ok()?);
        (id == device).then(|| f.get(18)?.parse().ok())?
    })
}

// ---------------------------------------------------------------------------------------------
// The ceiling: a fixed body from axum in this process

/// Serves `body` at `GET /ceiling` on its own 2-thread runtime (like the server, a separate
/// scheduler from the clients'). It runs until the process exits.
fn start_ceiling(body: Bytes) -> SocketAddr {
    let listener = TcpListener::bind(free_addr()).expect("bind the ceiling");
    listener.set_nonblocking(true).expect("non-blocking");
    let addr = listener.local_addr().expect("bound address");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ceiling")
            .enable_all()
            .build()
            .expect("ceiling runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            let app = axum::Router::new().route(
                "/ceiling",
                axum::routing::get(move || {
                    let body = body.clone();
                    async move { ([(CONTENT_TYPE, SCIM)], body) }
                }),
            );
            axum::serve(listener, app).await.expect("ceiling server");
        });
    });
    addr
}

// ---------------------------------------------------------------------------------------------
// Operations: each checks its answer

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Ceiling,
    GetId,
    FilterEq,
    List,
    Patch,
    Create,
}

impl Mode {
    const ALL: [Mode; 6] = [
        Mode::Ceiling,
        Mode::GetId,
        Mode::FilterEq,
        Mode::List,
        Mode::Patch,
        Mode::Create,
    ];

    fn label(self) -> &'static str {
        match self {
            Mode::Ceiling => "ceiling",
            Mode::GetId => "get-id",
            Mode::FilterEq => "filter-eq",
            Mode::List => "list-100",
            Mode::Patch => "patch-active",
            Mode::Create => "post-create",
        }
    }

    fn request(self) -> &'static str {
        match self {
            Mode::Ceiling => "GET /ceiling (axum, fixed body)",
            Mode::GetId => "GET /Users/{id}",
            Mode::FilterEq => "GET /Users?filter=userName eq",
            Mode::List => "GET /Users?count=100&startIndex=R",
            Mode::Patch => "PATCH /Users/{id} active",
            Mode::Create => "POST /Users",
        }
    }
}

/// What every client shares: the HTTP client, the addresses and the users.
struct Bench {
    client: reqwest::Client,
    scim: String,
    ceiling: String,
    /// The id of `u<i>` at index i.
    ids: Vec<String>,
    /// The `active` each user has now (PATCH toggles it).
    active: Vec<AtomicBool>,
    /// The id in the captured body the ceiling serves.
    ceiling_id: String,
    /// The block device of the data directory, for its flush count.
    device: (u64, u64),
}

/// One shared client: its pool keeps a connection per concurrent request to each server.
fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("HTTP client")
}

impl Bench {
    /// Sends one request with the provisioning token (none to the ceiling); returns the status
    /// and the parsed body (`Null` when it is not JSON).
    async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value), String> {
        let mut req = self.client.request(method, url).bearer_auth(TOKEN);
        if let Some(b) = body {
            req = req.header(CONTENT_TYPE, SCIM).body(b.to_string());
        }
        let res = req.send().await.map_err(|e| format!("{url}: {e}"))?;
        let status = res.status();
        let bytes = res.bytes().await.map_err(|e| format!("{url}: {e}"))?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    /// `call`, failing unless the status is `expected`.
    async fn expect(
        &self,
        method: Method,
        url: &str,
        body: Option<Value>,
        expected: StatusCode,
    ) -> Result<Value, String> {
        let (status, body) = self.call(method.clone(), url, body).await?;
        if status != expected {
            return Err(format!("{method} {url}: {status} {body}"));
        }
        Ok(body)
    }

    fn user_url(&self, i: usize) -> String {
        format!("{}/Users/{}", self.scim, self.ids[i])
    }

    async fn ceiling(&self) -> Result<(), String> {
        let body = self
            .expect(Method::GET, &self.ceiling, None, StatusCode::OK)
            .await?;
        same(&body["id"], &self.ceiling_id, "ceiling id")
    }

    async fn get_id(&self, i: usize) -> Result<(), String> {
        let body = self
            .expect(Method::GET, &self.user_url(i), None, StatusCode::OK)
            .await?;
        same(&body["id"], &self.ids[i], "id")?;
        same(&body["userName"], &format!("u{i}"), "userName")
    }

    async fn filter_eq(&self, i: usize) -> Result<(), String> {
        let url = format!("{}/Users?filter=userName%20eq%20%22u{i}%22", self.scim);
        let body = self.expect(Method::GET, &url, None, StatusCode::OK).await?;
        let resources = body["Resources"].as_array().map_or(0, Vec::len);
        if body["totalResults"] != json!(1) || resources != 1 {
            return Err(format!(
                "userName eq u{i}: totalResults {}, {resources} resources",
                body["totalResults"]
            ));
        }
        same(&body["Resources"][0]["id"], &self.ids[i], "id")?;
        same(
            &body["Resources"][0]["userName"],
            &format!("u{i}"),
            "userName",
        )
    }

    async fn list(&self, start: usize) -> Result<(), String> {
        let url = format!("{}/Users?count={PAGE}&startIndex={start}", self.scim);
        let body = self.expect(Method::GET, &url, None, StatusCode::OK).await?;
        let resources = body["Resources"].as_array().map_or(0, Vec::len);
        if resources != PAGE || body["startIndex"] != json!(start) {
            return Err(format!(
                "page at {start}: {resources} resources, startIndex {}",
                body["startIndex"]
            ));
        }
        Ok(())
    }

    /// Replaces `active` of `u<i>` with its opposite. The caller owns `u<i>` in this cell.
    async fn patch(&self, i: usize) -> Result<(), String> {
        let value = !self.active[i].load(Ordering::Relaxed);
        let body = json!({
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": "active", "value": value}],
        });
        let answer = self
            .expect(Method::PATCH, &self.user_url(i), Some(body), StatusCode::OK)
            .await?;
        if answer["active"] != json!(value) {
            return Err(format!("PATCH u{i} active {value}: {}", answer["active"]));
        }
        self.active[i].store(value, Ordering::Relaxed);
        Ok(())
    }

    async fn create(&self, name: &str) -> Result<(), String> {
        let body = json!({
            "schemas": [USER],
            "userName": name,
            "name": {"givenName": "New", "familyName": name},
            "emails": [{"value": format!("{name}@example.com"), "type": "work", "primary": true}],
            "active": true,
        });
        let url = format!("{}/Users", self.scim);
        let answer = self
            .expect(Method::POST, &url, Some(body), StatusCode::CREATED)
            .await?;
        same(&answer["userName"], name, "userName")
    }
}

fn same(got: &Value, expected: &str, what: &str) -> Result<(), String> {
    if got.as_str() == Some(expected) {
        Ok(())
    } else {
        Err(format!("{what}: got {got}, expected {expected:?}"))
    }
}

/// The body the ceiling serves: one real answer of `GET /Users/{id}`, and its id.
async fn capture(bench_client: &reqwest::Client, scim: &str, id: &str) -> Bytes {
    let res = bench_client
        .get(format!("{scim}/Users/{id}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("GET a user");
    assert_eq!(res.status(), StatusCode::OK, "GET /Users/{id}");
    res.bytes().await.expect("a body")
}

// ---------------------------------------------------------------------------------------------
// Closed-loop cells

/// When a client starts another request, and whether it counts.
struct Pace {
    warm_until: Instant,
    stop_at: Instant,
}

impl Pace {
    /// `None`: stop; `Some(measured)`: go, counted once past the warm-up.
    fn next(&self) -> Option<bool> {
        let now = Instant::now();
        (now < self.stop_at).then_some(now >= self.warm_until)
    }
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    /// Successful requests, warm-up included (what the disk flushes are shared by).
    done: usize,
    errors: usize,
    first_error: Option<String>,
}

impl Tally {
    fn record(&mut self, measured: bool, took: Duration, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => {
                self.done += 1;
                if measured {
                    self.latencies.push(took);
                }
            }
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }

    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.done += other.done;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn percentile_ms(&mut self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        self.latencies.sort_unstable();
        let at = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies[at].as_secs_f64() * 1000.0
    }
}

/// Clients of the warm pass.
const WARM_CLIENTS: usize = 8;

/// Reads every user once by id and once by userName, so that the cells measure a server that
/// has been up a while (its record cache holds every user, as `[store] user_cache` allows)
/// rather than its first minutes. Returns the time it took and the wrong answers.
async fn warm(bench: &Arc<Bench>, clients: usize) -> (Duration, usize) {
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (bench, next) = (Arc::clone(bench), Arc::clone(&next));
            tokio::spawn(async move {
                let mut errors = 0;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= bench.ids.len() {
                        return errors;
                    }
                    errors += usize::from(bench.get_id(i).await.is_err());
                    errors += usize::from(bench.filter_eq(i).await.is_err());
                }
            })
        })
        .collect();
    let mut errors = 0;
    for t in tasks {
        errors += t.await.expect("warm-pass task");
    }
    (started.elapsed(), errors)
}

/// Client `c` of `clients`: requests until the pace says stop. PATCH touches only users
/// `i ≡ c (mod clients)`, so no two clients toggle the same user at once.
async fn client(
    bench: Arc<Bench>,
    mode: Mode,
    c: usize,
    clients: usize,
    pace: Arc<Pace>,
    created: Arc<AtomicUsize>,
) -> Tally {
    let mut tally = Tally::default();
    let mut rng = Rng(1 + c as u64 + 100 * clients as u64 + 10_000 * mode as u64);
    let n = bench.ids.len();
    while let Some(measured) = pace.next() {
        let started = Instant::now();
        let outcome = match mode {
            Mode::Ceiling => bench.ceiling().await,
            Mode::GetId => bench.get_id(rng.below(n)).await,
            Mode::FilterEq => bench.filter_eq(rng.below(n)).await,
            Mode::List => bench.list(1 + rng.below(n - PAGE)).await,
            Mode::Patch => {
                let own = (n - c).div_ceil(clients);
                bench.patch(c + clients * rng.below(own)).await
            }
            Mode::Create => {
                let k = created.fetch_add(1, Ordering::Relaxed);
                bench.create(&format!("new-c{clients}-{k}")).await
            }
        };
        tally.record(measured, started.elapsed(), outcome);
    }
    tally
}

struct Cell {
    mode: Mode,
    clients: usize,
    seconds: f64,
    requests: usize,
    per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Disk flushes during the cell (warm-up included) per successful request.
    flushes_per_request: Option<f64>,
    errors: usize,
    first_error: Option<String>,
}

/// `clients` concurrent clients: warm-up, then `seconds`; requests in flight at the end finish
/// and count (the time counts too).
async fn run_cell(bench: &Arc<Bench>, mode: Mode, clients: usize, seconds: f64) -> Cell {
    let flushes_before = disk_flushes(bench.device);
    let start = Instant::now();
    let pace = Arc::new(Pace {
        warm_until: start + WARM_UP,
        stop_at: start + WARM_UP + Duration::from_secs_f64(seconds),
    });
    let created = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            tokio::spawn(client(
                Arc::clone(bench),
                mode,
                c,
                clients,
                Arc::clone(&pace),
                Arc::clone(&created),
            ))
        })
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        tally.merge(task.await.expect("client task"));
    }
    let elapsed = pace.warm_until.elapsed().as_secs_f64();
    let requests = tally.latencies.len();
    let flushes = disk_flushes(bench.device)
        .zip(flushes_before)
        .map(|(after, before)| after.saturating_sub(before));
    Cell {
        mode,
        clients,
        seconds: elapsed,
        requests,
        per_s: requests as f64 / elapsed,
        p50_ms: tally.percentile_ms(0.50),
        p99_ms: tally.percentile_ms(0.99),
        flushes_per_request: flushes.map(|f| f as f64 / tally.done.max(1) as f64),
        errors: tally.errors,
        first_error: tally.first_error,
    }
}

// ---------------------------------------------------------------------------------------------
// Report

fn find(cells: &[Cell], mode: Mode, clients: usize) -> Option<&Cell> {
    cells
        .iter()
        .find(|c| c.mode == mode && c.clients == clients)
}

/// A read's rate as a share of the ceiling's at the same concurrency.
fn of_ceiling(cells: &[Cell], cell: &Cell) -> Option<f64> {
    let ceiling = find(cells, Mode::Ceiling, cell.clients)?;
    (ceiling.per_s > 0.0).then(|| cell.per_s / ceiling.per_s)
}

fn table(cells: &[Cell]) -> String {
    let mut out = String::from(
        "| mode | request | clients | req/s | p50 ms | p99 ms | of ceiling | disk flushes / req | errors |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for cell in cells {
        let share = match cell.mode {
            Mode::Ceiling => "100%".to_string(),
            _ => of_ceiling(cells, cell).map_or("-".into(), |s| format!("{:.1}%", s * 100.0)),
        };
        let errors = if cell.errors == 0 {
            "0".to_string()
        } else {
            format!("**{}**", cell.errors)
        };
        out.push_str(&format!(
            "| {} | `{}` | {} | {} | {:.2} | {:.2} | {share} | {} | {errors} |\n",
            cell.mode.label(),
            cell.mode.request(),
            cell.clients,
            rate(cell.per_s),
            cell.p50_ms,
            cell.p99_ms,
            cell.flushes_per_request
                .map_or("-".into(), |f| format!("{f:.3}")),
        ));
    }
    out
}

/// Three significant digits at least: a page at 100k users takes over a second.
fn rate(per_s: f64) -> String {
    if per_s < 10.0 {
        format!("{per_s:.2}")
    } else {
        format!("{per_s:.0}")
    }
}

struct Verdict {
    target: String,
    clients: Option<usize>,
    value: f64,
    threshold: f64,
    line: String,
}

impl Verdict {
    fn met(&self) -> bool {
        self.value >= self.threshold
    }
}

fn word(met: bool) -> &'static str {
    if met { "MET" } else { "NOT MET" }
}

/// GET by id and userName eq ≥ 50% of the ceiling at each concurrency; creates with 16 clients
/// ≥ 5× creates with 1.
fn verdicts(cells: &[Cell]) -> Vec<Verdict> {
    let mut out = Vec::new();
    for mode in [Mode::GetId, Mode::FilterEq] {
        for clients in CONCURRENCY {
            let (Some(cell), Some(ceiling)) = (
                find(cells, mode, clients),
                find(cells, Mode::Ceiling, clients),
            ) else {
                continue;
            };
            let value = of_ceiling(cells, cell).unwrap_or(0.0);
            let line = format!(
                "{} at {clients} clients: {} of ceiling {} req/s = {:.1}% (target ≥ {:.0}%): {}",
                mode.label(),
                rate(cell.per_s),
                rate(ceiling.per_s),
                value * 100.0,
                READ_TARGET * 100.0,
                word(value >= READ_TARGET)
            );
            out.push(Verdict {
                target: format!("{}_of_ceiling", mode.label()),
                clients: Some(clients),
                value,
                threshold: READ_TARGET,
                line,
            });
        }
    }
    if let (Some(one), Some(many)) = (find(cells, Mode::Create, 1), find(cells, Mode::Create, 16)) {
        let value = if one.per_s > 0.0 {
            many.per_s / one.per_s
        } else {
            0.0
        };
        out.push(Verdict {
            target: "create_16_over_1".into(),
            clients: None,
            value,
            threshold: CREATE_SCALE_TARGET,
            line: format!(
                "post-create 16 clients ÷ 1 client: {} ÷ {} req/s = {value:.2}× (target ≥ {:.0}×): {}",
                rate(many.per_s),
                rate(one.per_s),
                CREATE_SCALE_TARGET,
                word(value >= CREATE_SCALE_TARGET)
            ),
        });
    }
    out
}

fn round(v: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (v * scale).round() / scale
}

fn cell_json(cell: &Cell) -> Value {
    json!({
        "kind": "cell",
        "mode": cell.mode.label(),
        "clients": cell.clients,
        "seconds": round(cell.seconds, 2),
        "requests": cell.requests,
        "req_per_s": round(cell.per_s, 2),
        "p50_ms": round(cell.p50_ms, 3),
        "p99_ms": round(cell.p99_ms, 3),
        "disk_flushes_per_request": cell.flushes_per_request.map(|f| round(f, 4)),
        "errors": cell.errors,
        "first_error": cell.first_error,
    })
}

fn verdict_json(v: &Verdict) -> Value {
    json!({
        "kind": "target",
        "target": v.target,
        "clients": v.clients,
        "value": round(v.value, 4),
        "threshold": v.threshold,
        "met": v.met(),
    })
}

// ---------------------------------------------------------------------------------------------

fn main() {
    let opts = options();
    main_with(|| run(opts));
}

/// The whole run; true when any request failed or answered wrongly.
async fn run(opts: Options) -> bool {
    let (date, started) = run_stamp();
    let bin = binary();
    let built = built_at(&bin);
    eprintln!("binary: {} built {built}", bin.display());
    let instance = Instance::new(&bin, "scim");
    instance.init();

    eprintln!("importing {} users…", opts.users);
    let (printed, took) = instance.import(import_lines(opts.users));
    assert_eq!(printed.len(), opts.users, "import stored every user");
    let ids = ids_by_index(&printed, opts.users);
    let import_rate = opts.users as f64 / took.as_secs_f64();
    let data_mib = instance.data_mib();
    eprintln!(
        "import: {} users in {:.1} s = {import_rate:.0} users/s; data {data_mib} MiB",
        opts.users,
        took.as_secs_f64()
    );

    let server = instance.serve();
    let client = http_client();
    let scim = format!("http://{}/scim/v2", instance.http);
    let captured = capture(&client, &scim, &ids[0]).await;
    let ceiling_bytes = captured.len();
    let ceiling_id = ids[0].clone();
    let ceiling = start_ceiling(captured);
    let bench = Arc::new(Bench {
        client,
        scim,
        ceiling: format!("http://{ceiling}/ceiling"),
        active: (0..ids.len()).map(|_| AtomicBool::new(true)).collect(),
        ids,
        ceiling_id,
        device: device_of(&instance.data_dir()),
    });

    let warm_pass = if opts.warm {
        let (took, errors) = warm(&bench, WARM_CLIENTS).await;
        let rate = 2.0 * bench.ids.len() as f64 / took.as_secs_f64();
        eprintln!(
            "warm pass: every user by id and by userName, {WARM_CLIENTS} clients, {:.1} s = {rate:.0} cold reads/s, {errors} errors",
            took.as_secs_f64()
        );
        assert_eq!(errors, 0, "the warm pass got wrong answers");
        Some((took, rate))
    } else {
        None
    };

    let load_before = loadavg();
    let mut cells = Vec::new();
    for clients in CONCURRENCY {
        for &mode in &opts.modes {
            let cell = run_cell(&bench, mode, clients, opts.seconds).await;
            eprintln!(
                "{} × {clients}: {} req/s, p99 {:.2} ms, {:?} flushes/req, {} errors{}",
                mode.label(),
                rate(cell.per_s),
                cell.p99_ms,
                cell.flushes_per_request,
                cell.errors,
                cell.first_error
                    .as_deref()
                    .map(|e| format!(" (first: {e})"))
                    .unwrap_or_default()
            );
            cells.push(cell);
        }
    }
    let load_after = loadavg();
    let (rss, hwm) = memory_mib(server.0.id());
    stop(server);

    let verdicts = verdicts(&cells);
    println!();
    println!(
        "{} users, provisioning token, {} s per cell after {} s warm-up; ceiling body {ceiling_bytes} bytes; import {import_rate:.0} users/s",
        opts.users,
        opts.seconds,
        WARM_UP.as_secs()
    );
    println!();
    print!("{}", table(&cells));
    println!();
    for v in &verdicts {
        println!("- {}", v.line);
    }
    println!();
    match warm_pass {
        Some((took, rate)) => println!(
            "warm pass before the cells: every user by id and by userName in {:.1} s ({rate:.0} cold reads/s, {WARM_CLIENTS} clients)",
            took.as_secs_f64()
        ),
        None => println!("no warm pass (--cold): reads in the cells start from a cold cache"),
    }
    println!("server memory after the run: RSS {rss} MiB, peak {hwm} MiB");
    println!("load average (1, 5, 15 min) before the cells: {load_before}, after: {load_after}");

    let mut lines = vec![json!({
        "kind": "run",
        "import_seconds": round(took.as_secs_f64(), 2),
        "import_users_per_s": import_rate.round(),
        "data_mib": data_mib,
        "ceiling_body_bytes": ceiling_bytes,
        "data_device": format!("{}:{}", bench.device.0, bench.device.1),
        "rss_mib_after": rss,
        "peak_rss_mib": hwm,
        "binary": support::binary_label(&bin),
        "binary_built": built,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "warm_pass_seconds": warm_pass.map(|(t, _)| round(t.as_secs_f64(), 2)),
        "warm_pass_reads_per_s": warm_pass.map(|(_, r)| r.round()),
    })];
    lines.extend(cells.iter().map(cell_json));
    lines.extend(verdicts.iter().map(verdict_json));
    for line in &mut lines {
        line["run"] = json!(started);
        line["date"] = json!(date);
        line["users"] = json!(opts.users);
        line["seconds_per_cell"] = json!(opts.seconds);
    }
    let path = write_results("scim", &date, opts.users, &lines);
    println!("raw figures: {}", path.display());
    let errors: usize = cells.iter().map(|c| c.errors).sum();
    if errors > 0 {
        eprintln!("{errors} failed or wrong answers: see the table");
    }
    errors > 0
}
