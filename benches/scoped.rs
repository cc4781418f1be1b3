//! Scoped search benchmark (issue #5): LDAP searches and SCIM lists at N users (default 100k) for
//! an employee whose role reads `subordinates_all`, a partner whose role reads `account`, and, in
//! the same run, the admin (Administrators, unscoped).
//!
//! It drives the real release binary (`ROLLCALL_BIN`, else the `rollcall` that `cargo bench`
//! builds next to this bench): `rollcall init` in a temp dir, `rollcall serve` to create 3 partner
//! accounts and the two roles over SCIM, `rollcall import` of N generated users (timed), then
//! `rollcall serve` again for the measurements. Per principal and mode: 2 s warm-up, then
//! `--seconds` of closed loop with 4 concurrent clients:
//!
//! - `ldap-eq`: one bind per connection, then `(uid=uRANDOM)` subtree searches of ou=people, the
//!   name drawn from the whole population (so most fall outside a scoped principal's reach);
//! - `ldap-list`: `(objectClass=inetOrgPerson)` subtree of ou=people, paged by 500 until done;
//!   the admin's listing covers everyone, so it runs once, with one client, no warm-up;
//! - `scim-eq`: `GET /scim/v2/Users?filter=userName eq "uRANDOM"` with the principal's session;
//! - `scim-list`: `GET /scim/v2/Users?count=100&startIndex=1`.
//!
//! Every answer is checked against the scopes computed from the generated data (each eq search
//! must find the user exactly when it is in scope; each listing must return exactly the scope);
//! a mismatch is reported and makes the run exit non-zero. Prints a Markdown table and appends the
//! figures as JSON lines to `benches/scoped/results/<date>-u<N>.jsonl`.
//!
//! `cargo bench --bench scoped -- [--users N] [--seconds S] [--quick]` (`--quick`: 5,000 users,
//! 2 s per cell). See `benches/scoped/README.md` for a recorded run.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ldap3::controls::{ControlType, PagedResults};
use ldap3::{Ldap, LdapConnAsync, Scope, SearchEntry};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

mod support;

use support::{
    ADMIN_PASSWORD, Instance, Rng, TOKEN, binary, built_at, loadavg, main_with, memory_mib,
    run_stamp, stop, write_results,
};

const MGR_PASSWORD: &str = "Mgr-Bench-Pass-1";
const PARTNER_PASSWORD: &str = "Partner-Bench-Pass-1";
const PEOPLE: &str = "ou=people,dc=example,dc=com";
const SCIM: &str = "application/scim+json";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ROLE: &str = "urn:rollcall:scim:schemas:extension:2.0:Role";
const ACCOUNT: &str = "urn:rollcall:scim:schemas:2.0:Account";
const ACCOUNTS: usize = 3;
const CLIENTS: usize = 4;
const WARM_UP: Duration = Duration::from_secs(2);
const LDAP_PAGE: i32 = 500;
const SCIM_PAGE: usize = 100;

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
    users: usize,
    seconds: f64,
}

/// `--users N`, `--seconds S`, `--quick`; anything else (cargo adds `--bench`) is ignored.
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
    Options {
        users: value("--users").map_or(users, |v| v as usize),
        seconds: value("--seconds").unwrap_or(seconds),
    }
}

// ---------------------------------------------------------------------------------------------
// The generated organisation

struct Person {
    id: Uuid,
    name: String,
    title: &'static str,
    manager: Option<usize>,
    /// Index into the partner accounts; partners only.
    account: Option<usize>,
}

struct Org {
    people: Vec<Person>,
    /// The director holding the Managers role (userName `mgr`).
    mgr: usize,
    /// The partner in account 0 holding Partner readers (userName `partner`).
    partner: usize,
    /// Headcount per level, for the report.
    shape: String,
}

fn push(people: &mut Vec<Person>, title: &'static str, manager: Option<usize>) -> usize {
    let i = people.len();
    people.push(Person {
        id: Uuid::now_v7(),
        name: format!("u{i}"),
        title,
        manager,
        account: None,
    });
    i
}

/// A CEO, VPs, directors, managers (~1 per 90 employees) and individual contributors under
/// random managers; 10% partners spread over the accounts, with no manager. Managers come
/// before their reports, as `import` needs.
fn generate(n: usize) -> Org {
    let partners = n / 10;
    let employees = n - partners;
    let managers = (employees / 90).max(1);
    let directors = (managers / 10).max(1);
    let vps = (directors / 10).max(1);
    assert!(
        employees > 1 + vps + directors + managers && partners > 0,
        "--users {n} is too small for the hierarchy"
    );
    let ics = employees - 1 - vps - directors - managers;
    let mut rng = Rng(0x5C0_9ED);
    let mut people = Vec::with_capacity(n);
    let ceo = push(&mut people, "Chief Executive", None);
    let vp0 = people.len();
    for _ in 0..vps {
        push(&mut people, "Vice President", Some(ceo));
    }
    let dir0 = people.len();
    for i in 0..directors {
        push(&mut people, "Director", Some(vp0 + i % vps));
    }
    let mgr0 = people.len();
    for _ in 0..managers {
        push(&mut people, "Manager", Some(dir0 + rng.below(directors)));
    }
    for _ in 0..ics {
        push(&mut people, "Engineer", Some(mgr0 + rng.below(managers)));
    }
    let partner0 = people.len();
    for i in 0..partners {
        let p = push(&mut people, "Partner Consultant", None);
        people[p].account = Some(i % ACCOUNTS);
    }
    people[dir0].name = "mgr".into();
    people[partner0].name = "partner".into();
    Org {
        people,
        mgr: dir0,
        partner: partner0,
        shape: format!(
            "1 CEO, {vps} VPs, {directors} directors, {managers} managers, {ics} engineers, \
             {partners} partners in {ACCOUNTS} accounts"
        ),
    }
}

impl Org {
    /// `root` and everyone reporting to it, directly or not (what `subordinates_all` reads).
    fn subtree(&self, root: usize) -> HashSet<String> {
        let mut reports = vec![Vec::new(); self.people.len()];
        for (i, p) in self.people.iter().enumerate() {
            if let Some(m) = p.manager {
                reports[m].push(i);
            }
        }
        let mut seen = HashSet::new();
        let mut frontier = vec![root];
        while let Some(next) = frontier.pop() {
            seen.insert(self.people[next].name.clone());
            frontier.extend(&reports[next]);
        }
        seen
    }

    /// Everyone in `account` (what `account` reads).
    fn account_members(&self, account: usize) -> HashSet<String> {
        self.people
            .iter()
            .filter(|p| p.account == Some(account))
            .map(|p| p.name.clone())
            .collect()
    }

    fn everyone(&self) -> HashSet<String> {
        self.people.iter().map(|p| p.name.clone()).collect()
    }

    /// JSON lines for `rollcall import`: the export format plus a password for the principals.
    fn import_lines(&self, setup: &Setup) -> String {
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .expect("a formattable time");
        let mut out = String::with_capacity(self.people.len() * 400);
        for (i, p) in self.people.iter().enumerate() {
            let mut line = json!({
                "id": p.id,
                "user_name": p.name,
                "display_name": format!("Bench User {i}"),
                "title": p.title,
                "emails": [{"value": format!("{}@example.com", p.name), "type": "work", "primary": true}],
                "license": if p.account.is_some() { "partner" } else { "employee" },
                "active": true,
                "created": now,
                "modified": now,
                "version": 0,
            });
            if let Some(m) = p.manager {
                line["manager"] = json!(self.people[m].id);
            }
            if let Some(a) = p.account {
                line["account"] = json!(setup.accounts[a]);
            }
            if i == self.mgr {
                line["roles"] = json!([setup.managers_role]);
                line["password"] = json!(MGR_PASSWORD);
            }
            if i == self.partner {
                line["roles"] = json!([setup.partner_role]);
                line["password"] = json!(PARTNER_PASSWORD);
            }
            out.push_str(&line.to_string());
            out.push('\n');
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// SCIM over HTTP

#[derive(Clone)]
struct Http {
    client: reqwest::Client,
    base: String,
}

impl Http {
    fn new(addr: SocketAddr) -> Http {
        Http {
            client: reqwest::Client::new(),
            base: format!("http://{addr}"),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value), String> {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        if let Some(b) = body {
            let kind = if path.starts_with("/scim") {
                SCIM
            } else {
                "application/json"
            };
            req = req.header("content-type", kind).body(b.to_string());
        }
        let res = req.send().await.map_err(|e| format!("{path}: {e}"))?;
        let status = res.status();
        let text = res.text().await.map_err(|e| format!("{path}: {e}"))?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    async fn create(&self, path: &str, bearer: &str, body: Value) -> String {
        let (status, body) = self
            .call(Method::POST, path, Some(bearer), Some(body))
            .await
            .expect("request");
        assert_eq!(status, StatusCode::CREATED, "POST {path}: {body}");
        body["id"].as_str().expect("an id").to_string()
    }

    /// A session token from `POST /auth/token`.
    async fn login(&self, user: &str, password: &str) -> String {
        let body = json!({"username": user, "password": password});
        let (status, body) = self
            .call(Method::POST, "/auth/token", None, Some(body))
            .await
            .expect("request");
        assert_eq!(status, StatusCode::OK, "login of {user}: {body}");
        body["access_token"].as_str().expect("a token").to_string()
    }
}

/// What the SCIM set-up made: partner accounts and the two roles.
struct Setup {
    accounts: Vec<String>,
    managers_role: String,
    partner_role: String,
}

/// Accounts with the provisioning token; roles with permissions with the admin's session
/// (only an administrator grants permissions).
async fn provision(http: &Http) -> Setup {
    let mut accounts = Vec::new();
    for i in 1..=ACCOUNTS {
        let body =
            json!({"schemas": [ACCOUNT], "name": format!("Partner Co {i}"), "licensed": true});
        accounts.push(http.create("/scim/v2/Accounts", TOKEN, body).await);
    }
    let admin = http.login("admin", ADMIN_PASSWORD).await;
    let role = |name: &str, role_type: &str, read: &str| {
        json!({
            "schemas": [GROUP, ROLE],
            "displayName": name,
            ROLE: {
                "roleType": role_type,
                "permissions": {"user": {"read": read}},
                "settings": {"apiAccess": true},
            },
        })
    };
    let managers_role = http
        .create(
            "/scim/v2/Groups",
            &admin,
            role("Managers", "employee", "subordinates_all"),
        )
        .await;
    let partner_role = http
        .create(
            "/scim/v2/Groups",
            &admin,
            role("Partner readers", "partner", "account"),
        )
        .await;
    Setup {
        accounts,
        managers_role,
        partner_role,
    }
}

// ---------------------------------------------------------------------------------------------
// Principals and what they must see

struct Principal {
    name: String,
    password: &'static str,
    /// The Read level on User, for the report.
    level: &'static str,
    token: String,
    /// The people an LDAP search of ou=people must return (uids).
    ldap_visible: HashSet<String>,
    /// The users a SCIM list must return (userNames): people, and service accounts in reach.
    scim_visible: HashSet<String>,
}

impl Principal {
    fn is_admin(&self) -> bool {
        self.name == "admin"
    }
}

async fn principals(http: &Http, org: &Org) -> Vec<Arc<Principal>> {
    let mut everyone = org.everyone();
    everyone.insert("admin".into());
    let mut admin_scim = everyone.clone();
    // The bootstrap `api` service account: a user for SCIM, under ou=services for LDAP.
    admin_scim.insert("provisioning".into());
    let subtree = org.subtree(org.mgr);
    let account = org.account_members(0);
    let mut list = Vec::new();
    for (name, password, level, ldap_visible, scim_visible) in [
        (
            "admin",
            ADMIN_PASSWORD,
            "unscoped (Administrators)",
            everyone,
            admin_scim,
        ),
        (
            "mgr",
            MGR_PASSWORD,
            "subordinates_all",
            subtree.clone(),
            subtree,
        ),
        (
            "partner",
            PARTNER_PASSWORD,
            "account",
            account.clone(),
            account,
        ),
    ] {
        list.push(Arc::new(Principal {
            name: name.into(),
            password,
            level,
            token: http.login(name, password).await,
            ldap_visible,
            scim_visible,
        }));
    }
    list
}

// ---------------------------------------------------------------------------------------------
// Operations: each checks its answer against the expected scope

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    LdapEq,
    LdapList,
    ScimEq,
    ScimList,
}

impl Mode {
    const ALL: [Mode; 4] = [Mode::LdapEq, Mode::LdapList, Mode::ScimEq, Mode::ScimList];

    fn label(self) -> &'static str {
        match self {
            Mode::LdapEq => "ldap-eq",
            Mode::LdapList => "ldap-list",
            Mode::ScimEq => "scim-eq",
            Mode::ScimList => "scim-list",
        }
    }

    fn is_ldap(self) -> bool {
        matches!(self, Mode::LdapEq | Mode::LdapList)
    }
}

/// One answer: entries returned (a listing's entries, a SCIM list's totalResults), and whether
/// an equality search found its user.
struct Outcome {
    entries: usize,
    hit: bool,
}

async fn ldap_connect(url: &str, who: &Principal) -> Result<Ldap, String> {
    let (conn, mut ldap) = LdapConnAsync::new(url).await.map_err(|e| e.to_string())?;
    ldap3::drive!(conn);
    ldap.simple_bind(&format!("uid={},{PEOPLE}", who.name), who.password)
        .await
        .and_then(|r| r.success())
        .map_err(|e| format!("bind as {}: {e}", who.name))?;
    Ok(ldap)
}

async fn ldap_eq(ldap: &mut Ldap, name: &str, in_scope: bool) -> Result<Outcome, String> {
    let filter = format!("(uid={name})");
    let (entries, _) = ldap
        .search(PEOPLE, Scope::Subtree, &filter, vec!["uid", "cn", "mail"])
        .await
        .and_then(|r| r.success())
        .map_err(|e| format!("{filter}: {e}"))?;
    if entries.len() != usize::from(in_scope) {
        return Err(format!(
            "{filter}: {} entries, expected {}",
            entries.len(),
            usize::from(in_scope)
        ));
    }
    Ok(Outcome {
        entries: entries.len(),
        hit: in_scope,
    })
}

/// Every person in scope, in pages of 500; every uid must be in scope, once, and none missing.
async fn ldap_list(ldap: &mut Ldap, visible: &HashSet<String>) -> Result<Outcome, String> {
    let mut seen = HashSet::with_capacity(visible.len());
    let mut cookie = Vec::new();
    loop {
        let paging = PagedResults {
            size: LDAP_PAGE,
            cookie,
        };
        let (entries, result) = ldap
            .with_controls(paging)
            .search(
                PEOPLE,
                Scope::Subtree,
                "(objectClass=inetOrgPerson)",
                vec!["uid"],
            )
            .await
            .and_then(|r| r.success())
            .map_err(|e| format!("paged listing: {e}"))?;
        for entry in entries {
            let entry = SearchEntry::construct(entry);
            let uid = entry
                .attrs
                .get("uid")
                .and_then(|v| v.first())
                .ok_or_else(|| format!("{} has no uid", entry.dn))?;
            if !visible.contains(uid) || !seen.insert(uid.clone()) {
                return Err(format!("listing returned {uid} (out of scope or twice)"));
            }
        }
        cookie = result
            .ctrls
            .iter()
            .find(|c| matches!(c.0, Some(ControlType::PagedResults)))
            .map(|c| c.1.parse::<PagedResults>().cookie)
            .unwrap_or_default();
        if cookie.is_empty() {
            break;
        }
    }
    if seen.len() != visible.len() {
        return Err(format!(
            "listing: {} entries, expected {}",
            seen.len(),
            visible.len()
        ));
    }
    Ok(Outcome {
        entries: seen.len(),
        hit: true,
    })
}

async fn scim_get(http: &Http, token: &str, path: &str) -> Result<Value, String> {
    let (status, body) = http.call(Method::GET, path, Some(token), None).await?;
    if status != StatusCode::OK {
        return Err(format!("GET {path}: {status} {body}"));
    }
    Ok(body)
}

async fn scim_eq(http: &Http, token: &str, name: &str, in_scope: bool) -> Result<Outcome, String> {
    let path = format!("/scim/v2/Users?filter=userName%20eq%20%22{name}%22");
    let body = scim_get(http, token, &path).await?;
    let total = body["totalResults"].as_u64().unwrap_or(u64::MAX);
    let found = body["Resources"]
        .as_array()
        .and_then(|r| r.first())
        .and_then(|r| r["userName"].as_str());
    let expected = (u64::from(in_scope), in_scope.then_some(name));
    if (total, found) != expected {
        return Err(format!(
            "userName eq {name}: totalResults {total}, first {found:?}; expected {expected:?}"
        ));
    }
    Ok(Outcome {
        entries: total as usize,
        hit: in_scope,
    })
}

/// The first page of 100: totalResults must be the scope, each resource in it.
async fn scim_list(http: &Http, token: &str, visible: &HashSet<String>) -> Result<Outcome, String> {
    let path = format!("/scim/v2/Users?count={SCIM_PAGE}&startIndex=1");
    let body = scim_get(http, token, &path).await?;
    let total = body["totalResults"].as_u64().unwrap_or(u64::MAX) as usize;
    let resources = body["Resources"].as_array().cloned().unwrap_or_default();
    if total != visible.len() || resources.len() != total.min(SCIM_PAGE) {
        return Err(format!(
            "list: totalResults {total} with {} resources; expected {} (page of {})",
            resources.len(),
            visible.len(),
            visible.len().min(SCIM_PAGE)
        ));
    }
    if let Some(stray) = resources
        .iter()
        .map(|r| r["userName"].as_str().unwrap_or("?"))
        .find(|n| !visible.contains(*n))
    {
        return Err(format!("list returned {stray}, out of scope"));
    }
    Ok(Outcome {
        entries: total,
        hit: true,
    })
}

// ---------------------------------------------------------------------------------------------
// Closed-loop cells

/// When a client starts another operation, and whether it counts.
struct Pace {
    warm_until: Instant,
    stop_at: Instant,
    /// At most this many operations in all (the admin's full listing).
    cap: Option<usize>,
    started: AtomicUsize,
}

impl Pace {
    /// `None`: stop; `Some(measured)`: go, counted once past the warm-up.
    fn next(&self) -> Option<bool> {
        let now = Instant::now();
        if now >= self.stop_at {
            return None;
        }
        if let Some(cap) = self.cap
            && self.started.fetch_add(1, Ordering::Relaxed) >= cap
        {
            return None;
        }
        Some(now >= self.warm_until)
    }
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    entries: usize,
    hits: usize,
    /// Entries of the last answer, for "expected vs got".
    last_entries: Option<usize>,
    errors: usize,
    first_error: Option<String>,
}

impl Tally {
    fn record(&mut self, measured: bool, took: Duration, outcome: Result<Outcome, String>) {
        match outcome {
            Ok(o) => {
                self.last_entries = Some(o.entries);
                if measured {
                    self.latencies.push(took);
                    self.entries += o.entries;
                    self.hits += usize::from(o.hit);
                }
            }
            Err(e) => self.fail(e),
        }
    }

    fn fail(&mut self, e: String) {
        self.errors += 1;
        self.first_error.get_or_insert(e);
    }

    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.entries += other.entries;
        self.hits += other.hits;
        self.last_entries = other.last_entries.or(self.last_entries);
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

struct Bench {
    ldap_url: String,
    http_addr: SocketAddr,
    names: Vec<String>,
}

async fn client(
    bench: Arc<Bench>,
    who: Arc<Principal>,
    mode: Mode,
    pace: Arc<Pace>,
    seed: u64,
) -> Tally {
    let mut tally = Tally::default();
    let mut rng = Rng(seed);
    let http = Http::new(bench.http_addr);
    let mut ldap = None;
    if mode.is_ldap() {
        match ldap_connect(&bench.ldap_url, &who).await {
            Ok(l) => ldap = Some(l),
            Err(e) => {
                tally.fail(e);
                return tally;
            }
        }
    }
    while let Some(measured) = pace.next() {
        let name = &bench.names[rng.below(bench.names.len())];
        let started = Instant::now();
        let outcome = match (mode, ldap.as_mut()) {
            (Mode::LdapEq, Some(l)) => ldap_eq(l, name, who.ldap_visible.contains(name)).await,
            (Mode::LdapList, Some(l)) => ldap_list(l, &who.ldap_visible).await,
            (Mode::ScimEq, _) => {
                scim_eq(&http, &who.token, name, who.scim_visible.contains(name)).await
            }
            (Mode::ScimList, _) => scim_list(&http, &who.token, &who.scim_visible).await,
            (_, None) => unreachable!("LDAP modes connect first"),
        };
        tally.record(measured, started.elapsed(), outcome);
    }
    if let Some(mut l) = ldap {
        let _ = l.unbind().await;
    }
    tally
}

struct Cell {
    principal: String,
    level: &'static str,
    scope: usize,
    mode: Mode,
    clients: usize,
    seconds: f64,
    ops_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Per operation: entries of a listing, totalResults of a SCIM list, hits of an eq search.
    entries: f64,
    expected: f64,
    got: Option<usize>,
    errors: usize,
    first_error: Option<String>,
}

/// The admin's full listing runs once with one client; every other cell 4 clients, warm-up,
/// then `seconds`.
async fn run_cell(bench: &Arc<Bench>, who: &Arc<Principal>, mode: Mode, seconds: f64) -> Cell {
    let once = mode == Mode::LdapList && who.is_admin();
    let (clients, warm_up) = if once {
        (1, Duration::ZERO)
    } else {
        (CLIENTS, WARM_UP)
    };
    let start = Instant::now();
    let pace = Arc::new(Pace {
        warm_until: start + warm_up,
        stop_at: start + warm_up + Duration::from_secs_f64(seconds),
        cap: once.then_some(1),
        started: AtomicUsize::new(0),
    });
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let seed = 1 + c as u64 + 100 * mode as u64;
            tokio::spawn(client(
                Arc::clone(bench),
                Arc::clone(who),
                mode,
                Arc::clone(&pace),
                seed,
            ))
        })
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        tally.merge(task.await.expect("client task"));
    }
    let elapsed = pace.warm_until.elapsed().as_secs_f64();
    let ops = tally.latencies.len();
    let scope = if mode.is_ldap() {
        who.ldap_visible.len()
    } else {
        who.scim_visible.len()
    };
    let population = bench.names.len() as f64;
    // Eq names are drawn from the generated people, which the bootstrap admin is not one of.
    let reachable = who.ldap_visible.iter().filter(|n| *n != "admin").count();
    let expected = match mode {
        Mode::LdapEq | Mode::ScimEq => reachable as f64 / population,
        Mode::LdapList | Mode::ScimList => scope as f64,
    };
    Cell {
        principal: who.name.clone(),
        level: who.level,
        scope,
        mode,
        clients,
        seconds: elapsed,
        ops_per_s: ops as f64 / elapsed,
        p50_ms: tally.percentile_ms(0.50),
        p99_ms: tally.percentile_ms(0.99),
        entries: if ops == 0 {
            0.0
        } else {
            tally.entries as f64 / ops as f64
        },
        expected,
        got: tally.last_entries,
        errors: tally.errors,
        first_error: tally.first_error,
    }
}

// ---------------------------------------------------------------------------------------------
// Report

fn describe_entries(cell: &Cell) -> String {
    match cell.mode {
        Mode::LdapEq | Mode::ScimEq => format!(
            "hit {:.2}% (expected {:.2}%)",
            cell.entries * 100.0,
            cell.expected * 100.0
        ),
        Mode::LdapList => format!("{:.0} per listing", cell.entries),
        Mode::ScimList => format!("totalResults {:.0}", cell.entries),
    }
}

fn table_row(cell: &Cell) -> String {
    let check = if cell.errors == 0 {
        "ok".to_string()
    } else {
        format!("**{} errors**", cell.errors)
    };
    format!(
        "| {} | {} | {} | {} | {:.1} | {} | {:.2} | {:.2} | {} | {} |",
        cell.principal,
        cell.level,
        cell.mode.label(),
        cell.clients,
        cell.seconds,
        rate(cell.ops_per_s),
        cell.p50_ms,
        cell.p99_ms,
        describe_entries(cell),
        check
    )
}

/// Three significant digits at least: the admin's full listing takes well over a second.
fn rate(ops_per_s: f64) -> String {
    if ops_per_s < 10.0 {
        format!("{ops_per_s:.3}")
    } else {
        format!("{ops_per_s:.1}")
    }
}

fn cell_json(cell: &Cell, date: &str, users: usize) -> Value {
    json!({
        "date": date,
        "users": users,
        "principal": cell.principal,
        "read_level": cell.level,
        "scope": cell.scope,
        "mode": cell.mode.label(),
        "clients": cell.clients,
        "seconds": (cell.seconds * 100.0).round() / 100.0,
        "ops_per_s": (cell.ops_per_s * 1000.0).round() / 1000.0,
        "p50_ms": (cell.p50_ms * 1000.0).round() / 1000.0,
        "p99_ms": (cell.p99_ms * 1000.0).round() / 1000.0,
        "entries_per_op": (cell.entries * 10_000.0).round() / 10_000.0,
        "expected_per_op": (cell.expected * 10_000.0).round() / 10_000.0,
        "errors": cell.errors,
        "first_error": cell.first_error,
    })
}

// ---------------------------------------------------------------------------------------------

fn main() {
    let opts = options();
    main_with(|| run(opts));
}

/// The whole run; true when any answer was wrong.
async fn run(opts: Options) -> bool {
    let (date, started) = run_stamp();
    let bin = binary();
    eprintln!("binary: {}", bin.display());
    let built = built_at(&bin);
    eprintln!("binary built {built}");
    let instance = Instance::new(&bin, "scoped");
    let http = Http::new(instance.http);
    instance.init();

    let server = instance.serve();
    let setup = provision(&http).await;
    stop(server);

    let org = generate(opts.users);
    eprintln!("organisation: {}", org.shape);
    let lines = org.import_lines(&setup);
    eprintln!("importing {} users…", org.people.len());
    let (printed, took) = instance.import(lines);
    let stored = printed.len();
    assert_eq!(stored, org.people.len(), "import stored every user");
    let import_rate = stored as f64 / took.as_secs_f64();
    let data_mib = instance.data_mib();
    eprintln!(
        "import: {stored} users in {:.1} s = {import_rate:.0} users/s; data {data_mib} MiB",
        took.as_secs_f64()
    );

    let server = instance.serve();
    let who = principals(&http, &org).await;
    for p in &who {
        eprintln!(
            "{}: read {}, expected scope {} over LDAP, {} over SCIM",
            p.name,
            p.level,
            p.ldap_visible.len(),
            p.scim_visible.len()
        );
    }
    let bench = Arc::new(Bench {
        ldap_url: format!("ldap://{}", instance.ldap),
        http_addr: instance.http,
        names: org.people.iter().map(|p| p.name.clone()).collect(),
    });
    let load_before = loadavg();
    let mut cells = Vec::new();
    for p in &who {
        for mode in Mode::ALL {
            let cell = run_cell(&bench, p, mode, opts.seconds).await;
            eprintln!(
                "{} {}: {} ops/s, expected {} got {:?}, {} errors{}",
                cell.principal,
                mode.label(),
                rate(cell.ops_per_s),
                cell.expected,
                cell.got,
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

    println!();
    println!(
        "{} users ({}), {CLIENTS} clients, {} s per cell after {} s warm-up; import {import_rate:.0} users/s",
        opts.users,
        org.shape,
        opts.seconds,
        WARM_UP.as_secs()
    );
    println!();
    println!(
        "| principal | read level | mode | clients | s | ops/s | p50 ms | p99 ms | entries | check |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for cell in &cells {
        println!("{}", table_row(cell));
    }
    println!();
    println!("server memory after the run: RSS {rss} MiB, peak {hwm} MiB");
    println!("load average (1, 5, 15 min) before the cells: {load_before}, after: {load_after}");

    let mut lines = vec![json!({
        "date": date,
        "users": opts.users,
        "kind": "import",
        "organisation": org.shape,
        "seconds": (took.as_secs_f64() * 100.0).round() / 100.0,
        "users_per_s": import_rate.round(),
        "data_mib": data_mib,
        "rss_mib_after": rss,
        "peak_rss_mib": hwm,
        "binary": support::binary_label(&bin),
        "binary_built": built,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
    })];
    lines.extend(cells.iter().map(|c| cell_json(c, &date, opts.users)));
    for line in &mut lines {
        line["run"] = json!(started);
    }
    let path = write_results("scoped", &date, opts.users, &lines);
    println!("raw figures: {}", path.display());
    let errors: usize = cells.iter().map(|c| c.errors).sum();
    if errors > 0 {
        eprintln!("{errors} wrong or failed answers: see the table");
    }
    errors > 0
}
