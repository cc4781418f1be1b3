//! `/metrics` end to end: the real binary, driven over LDAP, SCIM and REST, then scraped the way
//! Prometheus does, with every figure checked against what the test did.

mod common;

use std::collections::BTreeMap;

use common::{start_directory, start_directory_with_env};
use ldap3::{LdapConnAsync, Scope};
use reqwest::{Client, StatusCode};
use serde_json::json;

const TOKEN: &str = "rc_metrics-test-token-0123456789abcdef";

fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::new()
}

/// Every sample of an exposition, `name{labels}` → value; panics on a line that is not valid
/// text format, or a sample without its `# TYPE` line before it.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    let mut typed = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE line");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            typed.push(name.to_string());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let name = series.split('{').next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| typed.iter().any(|t| t == f))
            })
            .unwrap_or(name);
        assert!(typed.iter().any(|t| t == family), "{name} has no TYPE line");
        if let Some(labels) = series.strip_prefix(name) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "{line}"
            );
        }
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
        assert!(
            samples.insert(series.to_string(), value).is_none(),
            "duplicate series {series}"
        );
    }
    samples
}

async fn scrape(http: &Client, server: &common::Server) -> BTreeMap<String, f64> {
    let res = http.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    parse(&res.text().await.unwrap())
}

/// Each series has exactly its value.
fn expect(samples: &BTreeMap<String, f64>, wanted: &[(&str, f64)]) {
    for (series, value) in wanted {
        assert_eq!(get(samples, series), *value, "{series}");
    }
}

fn get(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no {series} in {samples:#?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_what_the_clients_did() {
    let server = start_directory_with_env(
        "[licenses]\nemployee = 50\n",
        &[("ROLLCALL_BOOTSTRAP_TOKEN", TOKEN)],
    );
    let http = client();
    let before = scrape(&http, &server).await;
    expect(
        &before,
        &[
            (
                r#"rollcall_ldap_connections_total{outcome="accepted"}"#,
                0.0,
            ),
            (r#"rollcall_license_seats_limit{license="employee"}"#, 50.0),
            (r#"rollcall_license_seats_used{license="employee"}"#, 1.0),
        ],
    );
    let commits_before = get(&before, "rollcall_store_commits_total");

    // SCIM: two users created, one lookup that finds nothing.
    for name in ["ada", "grace"] {
        let res = http
            .post(server.url("/scim/v2/Users"))
            .bearer_auth(TOKEN)
            .json(&json!({"userName": name, "active": true, "password": "Metrics-Pass-1234"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let res = http
        .get(server.url("/scim/v2/Users/00000000-0000-0000-0000-000000000000"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // REST: one login refused.
    let res = http
        .post(server.url("/auth/token"))
        .json(&json!({"username": "ada", "password": "wrong-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // LDAP: a refused bind, then the admin's bind and two searches on a second connection.
    let url = format!("ldap://{}", server.ldap);
    let (conn, mut ldap) = LdapConnAsync::new(&url).await.unwrap();
    ldap3::drive!(conn);
    let rc = ldap
        .simple_bind("uid=ada,ou=people,dc=example,dc=com", "not-it")
        .await
        .unwrap()
        .rc;
    assert_eq!(rc, 49);
    ldap.unbind().await.unwrap();
    let mut ldap = common::admin_connection(server.ldap).await;
    for uid in ["ada", "nobody"] {
        ldap.search(
            "ou=people,dc=example,dc=com",
            Scope::Subtree,
            &format!("(uid={uid})"),
            vec!["uid"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    }

    // The first connection's close is seen by the server on its own time.
    let mut after = scrape(&http, &server).await;
    for _ in 0..100 {
        if get(&after, "rollcall_ldap_connections_open") == 1.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        after = scrape(&http, &server).await;
    }
    expect(
        &after,
        &[
            (
                r#"rollcall_ldap_operations_total{operation="bind",code="49"}"#,
                1.0,
            ),
            (
                r#"rollcall_ldap_operations_total{operation="bind",code="0"}"#,
                1.0,
            ),
            (
                r#"rollcall_ldap_operations_total{operation="search",code="0"}"#,
                2.0,
            ),
            (
                r#"rollcall_ldap_connections_total{outcome="accepted"}"#,
                2.0,
            ),
            ("rollcall_ldap_connections_open", 1.0),
            (
                r#"rollcall_logins_total{source="ldap",outcome="failure"}"#,
                1.0,
            ),
            (
                r#"rollcall_logins_total{source="ldap",outcome="success"}"#,
                1.0,
            ),
            (
                r#"rollcall_logins_total{source="rest",outcome="failure"}"#,
                1.0,
            ),
            (
                r#"rollcall_http_requests_total{area="scim",status="2xx"}"#,
                2.0,
            ),
            (
                r#"rollcall_http_requests_total{area="scim",status="4xx"}"#,
                1.0,
            ),
            (
                r#"rollcall_http_requests_total{area="auth",status="4xx"}"#,
                1.0,
            ),
            (
                r#"rollcall_http_request_duration_seconds_count{area="scim"}"#,
                3.0,
            ),
            (
                r#"rollcall_http_request_duration_seconds_bucket{area="scim",le="+Inf"}"#,
                3.0,
            ),
            (r#"rollcall_license_seats_used{license="employee"}"#, 3.0),
        ],
    );
    // Two creates and the audited logins at least; every commit was flushed.
    let commits = get(&after, "rollcall_store_commits_total");
    assert!(
        commits >= commits_before + 4.0,
        "{commits_before} → {commits}"
    );
    let flushes = get(&after, "rollcall_store_flushes_total");
    assert!(
        flushes >= 1.0 && flushes <= commits,
        "{flushes} flushes, {commits} commits"
    );
    assert!(get(&after, "rollcall_store_flush_seconds_total") > 0.0);

    // The store's size is what its files take (sled keeps a log file and a blob directory).
    let on_disk = |dir: &std::path::Path| -> f64 {
        fn walk(p: &std::path::Path) -> u64 {
            match std::fs::read_dir(p) {
                Ok(entries) => entries.flatten().map(|e| walk(&e.path())).sum(),
                Err(_) => std::fs::metadata(p).map_or(0, |m| m.len()),
            }
        }
        walk(dir) as f64
    };
    let size = get(&after, "rollcall_store_size_bytes");
    let store_files = on_disk(&server.data.join("store"));
    assert!(size > 0.0 && size <= store_files, "{size} of {store_files}");
    assert!(
        size >= get(&before, "rollcall_store_size_bytes"),
        "the store only grew"
    );

    // The process, as the operating system sees it (Linux /proc), under the standard names.
    if cfg!(target_os = "linux") {
        let pid = server.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let threads: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count() as f64;
        let resident = get(&after, "process_resident_memory_bytes");
        assert!(resident > 4.0 * 1024.0 * 1024.0, "{resident}");
        assert!(get(&after, "process_virtual_memory_bytes") >= resident);
        // Argon2 hashed two passwords and checked two more: CPU time was spent.
        assert!(get(&after, "process_cpu_seconds_total") >= 0.01);
        // Threads and descriptors come and go (blocking pool, connections); the same order.
        let scraped_threads = get(&after, "process_threads");
        assert!(
            (scraped_threads - threads).abs() <= 8.0,
            "{scraped_threads} vs {threads}"
        );
        let scraped_fds = get(&after, "process_open_fds");
        assert!(
            scraped_fds >= 5.0 && (scraped_fds - fds).abs() <= 8.0,
            "{scraped_fds} vs {fds}"
        );
        assert!(get(&after, "process_max_fds") >= scraped_fds);
        let started = get(&after, "process_start_time_seconds");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            started <= now + 1.0 && started > now - 300.0,
            "{started} vs {now}"
        );
    }
    let _ = ldap.unbind().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_can_be_switched_off() {
    let server = start_directory("[http]\nmetrics = false\n");
    let res = client().get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

/// For an HTTP address other networks reach: `/metrics` with a bearer token, as Prometheus's
/// `authorization: {credentials: …}` sends it.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_can_require_a_bearer_token() {
    let server = start_directory("[http]\nmetrics_token = \"scrape-token-0123456789\"\n");
    let http = client();
    for presented in [
        None,
        Some("wrong-token-0123456789"),
        Some("scrape-token-012345678"),
    ] {
        let mut req = http.get(server.url("/metrics"));
        if let Some(t) = presented {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{presented:?}");
        assert!(res.text().await.unwrap().is_empty(), "nothing leaks");
    }
    let res = http
        .get(server.url("/metrics"))
        .bearer_auth("scrape-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("rollcall_build_info"));
}
