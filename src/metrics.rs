//! Prometheus metrics at `/metrics`: HTTP requests, LDAP connections and operations, logins,
//! license seats and the store's durable commits, in the text exposition format (0.0.4).
//!
//! Counters are plain atomics owned by whoever counts (the LDAP crate, the HTTP layer, the
//! service); this module only reads them and writes the text. Nothing in it names a user: the
//! labels are fixed sets (operation, result code, source, license type, status class).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::service::Service;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// A latency histogram: counts per bucket (not cumulative; summed when written) and the sum.
#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }
}

/// Where a request went, as far as an operator cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    Scim,
    Auth,
    Admin,
    Other,
}

impl Area {
    const ALL: [Area; 4] = [Area::Scim, Area::Auth, Area::Admin, Area::Other];

    pub fn of(path: &str) -> Area {
        let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
        match first {
            "scim" => Area::Scim,
            "auth" => Area::Auth,
            "admin" => Area::Admin,
            _ => Area::Other,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Area::Scim => "scim",
            Area::Auth => "auth",
            Area::Admin => "admin",
            Area::Other => "other",
        }
    }
}

/// Requests by area and status class (1xx … 5xx), and their latency by area.
#[derive(Default)]
pub struct HttpMetrics {
    requests: [[AtomicU64; 5]; 4],
    latency: [Histogram; 4],
}

impl HttpMetrics {
    pub fn record(&self, area: Area, status: u16, took: Duration) {
        let a = area as usize;
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.requests[a][class].fetch_add(1, Ordering::Relaxed);
        self.latency[a].observe(took);
    }
}

/// Writes one metric family at a time, each with its HELP and TYPE lines.
struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                // Label values here come from fixed sets; escaping keeps the format valid
                // whatever they become.
                let v = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.0, "{k}=\"{v}\"");
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &Histogram) {
        let mut cumulative = 0;
        for (i, count) in h.buckets.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            let le = BUCKETS.get(i).map_or("+Inf".to_string(), |b| b.to_string());
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&format!("{name}_bucket"), &with_le, cumulative);
        }
        let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        self.sample(&format!("{name}_sum"), labels, sum);
        self.sample(&format!("{name}_count"), labels, cumulative);
    }
}

/// The whole exposition. Reads counters only, plus the license seat counters from the store.
pub fn render(
    service: &Service,
    http: &HttpMetrics,
    ldap: &rollcall_ldap::stats::Snapshot,
    tls: &crate::tls::Certificates,
    mail: &crate::mail::DeliveryStats,
    backups: Option<&crate::backups::BackupStats>,
) -> String {
    let mut out = Exposition(String::with_capacity(8 * 1024));
    out.family(
        "rollcall_build_info",
        "gauge",
        "Version of the running server.",
    );
    out.sample(
        "rollcall_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1,
    );

    out.family(
        "rollcall_http_requests_total",
        "counter",
        "HTTP requests answered, by area and status class.",
    );
    for area in Area::ALL {
        for (i, class) in ["1xx", "2xx", "3xx", "4xx", "5xx"].iter().enumerate() {
            let n = http.requests[area as usize][i].load(Ordering::Relaxed);
            out.sample(
                "rollcall_http_requests_total",
                &[("area", area.label()), ("status", class)],
                n,
            );
        }
    }
    out.family(
        "rollcall_http_request_duration_seconds",
        "histogram",
        "Time from request to response headers, by area.",
    );
    for area in Area::ALL {
        out.histogram(
            "rollcall_http_request_duration_seconds",
            &[("area", area.label())],
            &http.latency[area as usize],
        );
    }

    out.family(
        "rollcall_ldap_connections_open",
        "gauge",
        "LDAP and LDAPS connections open now.",
    );
    out.sample("rollcall_ldap_connections_open", &[], ldap.open);
    out.family(
        "rollcall_ldap_connections_total",
        "counter",
        "LDAP and LDAPS connections accepted, or refused by a connection limit.",
    );
    out.sample(
        "rollcall_ldap_connections_total",
        &[("outcome", "accepted")],
        ldap.accepted,
    );
    out.sample(
        "rollcall_ldap_connections_total",
        &[("outcome", "refused")],
        ldap.refused,
    );
    out.family(
        "rollcall_ldap_operations_total",
        "counter",
        "LDAP operations answered, by operation and result code (RFC 4511 numbers).",
    );
    for (op, code, n) in &ldap.operations {
        let code = code.map_or("other".to_string(), |c| c.to_string());
        out.sample(
            "rollcall_ldap_operations_total",
            &[("operation", op), ("code", &code)],
            n,
        );
    }

    out.family(
        "rollcall_logins_total",
        "counter",
        "Password logins (LDAP binds, REST token requests), by front end and outcome.",
    );
    for (source, succeeded, n) in service.login_counts() {
        let outcome = if succeeded { "success" } else { "failure" };
        let source = source.to_string();
        out.sample(
            "rollcall_logins_total",
            &[("source", &source), ("outcome", outcome)],
            n,
        );
    }

    match service.license_usage() {
        Ok(usage) => {
            out.family(
                "rollcall_license_seats_used",
                "gauge",
                "Active users holding a seat of each license type.",
            );
            for u in &usage {
                let license = u.license.to_string();
                out.sample(
                    "rollcall_license_seats_used",
                    &[("license", &license)],
                    u.used,
                );
            }
            out.family(
                "rollcall_license_seats_limit",
                "gauge",
                "Configured seat limit per license type (absent: unlimited).",
            );
            for u in &usage {
                if let Some(limit) = u.limit {
                    let license = u.license.to_string();
                    out.sample(
                        "rollcall_license_seats_limit",
                        &[("license", &license)],
                        limit,
                    );
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "license usage left out of /metrics"),
    }

    let commits = service.commit_stats();
    out.family(
        "rollcall_store_commits_total",
        "counter",
        "Write transactions made durable.",
    );
    out.sample("rollcall_store_commits_total", &[], commits.commits);
    out.family(
        "rollcall_store_flushes_total",
        "counter",
        "Flushes to disk; concurrent commits share one (group commit).",
    );
    out.sample("rollcall_store_flushes_total", &[], commits.flushes);
    out.family(
        "rollcall_store_flush_seconds_total",
        "counter",
        "Time spent flushing to disk, fsync included.",
    );
    out.sample(
        "rollcall_store_flush_seconds_total",
        &[],
        commits.flush_seconds,
    );
    out.family(
        "rollcall_mail_deliveries_total",
        "counter",
        "Outbox messages sent over SMTP, attempts that failed (retried later) and messages \
         given up on, since start.",
    );
    for (outcome, counter) in [
        ("sent", &mail.sent),
        ("failed", &mail.failed),
        ("undeliverable", &mail.undeliverable),
    ] {
        out.sample(
            "rollcall_mail_deliveries_total",
            &[("outcome", outcome)],
            counter.load(Ordering::Relaxed),
        );
    }
    match service.store_size() {
        Ok(bytes) => {
            out.family(
                "rollcall_store_size_bytes",
                "gauge",
                "Bytes the store takes on disk (its log and blobs).",
            );
            out.sample("rollcall_store_size_bytes", &[], bytes);
        }
        Err(e) => tracing::warn!(error = %e, "store size left out of /metrics"),
    }
    out.family(
        "rollcall_tls_certificate_expiry_timestamp_seconds",
        "gauge",
        "When the TLS certificate in use expires, in seconds since the Unix epoch.",
    );
    out.sample(
        "rollcall_tls_certificate_expiry_timestamp_seconds",
        &[],
        tls.info().not_after.unix_timestamp(),
    );
    let (reloaded, refused) = tls.reloads();
    out.family(
        "rollcall_tls_certificate_reloads_total",
        "counter",
        "Certificate reloads on SIGHUP, by outcome (a refused one leaves the old pair in use).",
    );
    out.sample(
        "rollcall_tls_certificate_reloads_total",
        &[("outcome", "success")],
        reloaded,
    );
    out.sample(
        "rollcall_tls_certificate_reloads_total",
        &[("outcome", "refused")],
        refused,
    );
    if let Some(backups) = backups {
        out.family(
            "rollcall_backup_last_success_timestamp_seconds",
            "gauge",
            "When the newest scheduled backup in [backup] dir was taken, in seconds since the \
             Unix epoch (0: none yet).",
        );
        out.sample(
            "rollcall_backup_last_success_timestamp_seconds",
            &[],
            backups.last_success.load(Ordering::Relaxed),
        );
        out.family(
            "rollcall_backups_total",
            "counter",
            "Scheduled backups since start, by outcome.",
        );
        for (outcome, counter) in [
            ("success", &backups.succeeded),
            ("failure", &backups.failed),
        ] {
            out.sample(
                "rollcall_backups_total",
                &[("outcome", outcome)],
                counter.load(Ordering::Relaxed),
            );
        }
    }
    if let Some(process) = crate::process::current() {
        out.process(&process);
    }
    out.0
}

impl Exposition {
    /// The standard `process_*` families, as Prometheus client libraries name them.
    fn process(&mut self, p: &crate::process::ProcessStats) {
        let mut one = |name: &str, kind: &str, help: &str, value: f64| {
            self.family(name, kind, help);
            self.sample(name, &[], value);
        };
        one(
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent, in seconds.",
            p.cpu_seconds,
        );
        one(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            p.resident_bytes as f64,
        );
        one(
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            p.virtual_bytes as f64,
        );
        one(
            "process_threads",
            "gauge",
            "Operating system threads of the process.",
            p.threads as f64,
        );
        one(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch, in seconds.",
            p.start_time_seconds,
        );
        one(
            "process_open_fds",
            "gauge",
            "Open file descriptors.",
            p.open_fds as f64,
        );
        if let Some(max) = p.max_fds {
            one(
                "process_max_fds",
                "gauge",
                "Limit on open file descriptors.",
                max as f64,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_end_in_inf() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(300));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(10));
        let mut out = Exposition(String::new());
        out.histogram("t", &[("area", "scim")], &h);
        let text = out.0;
        assert!(
            text.contains("t_bucket{area=\"scim\",le=\"0.0005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("t_bucket{area=\"scim\",le=\"0.005\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("t_bucket{area=\"scim\",le=\"2.5\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("t_bucket{area=\"scim\",le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("t_count{area=\"scim\"} 3\n"), "{text}");
        assert!(text.contains("t_sum{area=\"scim\"} 10.0033\n"), "{text}");
    }

    #[test]
    fn areas_and_status_classes() {
        assert_eq!(Area::of("/scim/v2/Users"), Area::Scim);
        assert_eq!(Area::of("/auth/token"), Area::Auth);
        assert_eq!(Area::of("/admin/audit"), Area::Admin);
        assert_eq!(Area::of("/healthz"), Area::Other);
        assert_eq!(Area::of("/scimx"), Area::Other);
        let m = HttpMetrics::default();
        m.record(Area::Scim, 201, Duration::ZERO);
        m.record(Area::Scim, 404, Duration::ZERO);
        m.record(Area::Scim, 999, Duration::ZERO);
        let got: Vec<u64> = m.requests[0]
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        assert_eq!(got, [0, 1, 0, 1, 1]);
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = Exposition(String::new());
        out.sample("m", &[("l", "a\"b\\c\nd")], 1);
        assert_eq!(out.0, "m{l=\"a\\\"b\\\\c\\nd\"} 1\n");
    }
}
