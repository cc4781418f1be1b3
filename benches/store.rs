//! Store benchmark: durable creates/s with 1 and 16 concurrent writers (group commit at work),
//! and point reads (get by id, userName lookup) at 10k and 100k users. With the create rates
//! it prints their CPU cost and the disk's sync latency, which bound how far concurrent writers
//! can outrun one.
//!
//! `cargo bench --bench store` (add `-- --quick` for 10k only). Figures, not assertions: the
//! README's "Benchmarks" section records a run.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use rollcall::audit::Source;
use rollcall::model::{LicenseType, MultiValue, User, UserId};
use rollcall::service::{Actor, NewUser, Policy, Service};
use rollcall::store::{SledStore, StoreOptions};

/// The server's allocator, so that the figures are the server's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn user(i: usize) -> User {
    let mut u = User::new(format!("bench.user{i:07}"));
    u.license = LicenseType::Employee;
    u.active = !i.is_multiple_of(4);
    u.external_id = Some(format!("ext-{i}"));
    u.display_name = Some(format!("Bench User {i}"));
    u.emails = vec![MultiValue {
        value: format!("bench.user{i:07}@example.com"),
        kind: Some("work".into()),
        primary: true,
        display: None,
    }];
    u
}

/// Creates users `range` with `writers` threads; returns (ids, creates per second).
fn create_users(
    service: &Service,
    range: std::ops::Range<usize>,
    writers: usize,
) -> (Vec<UserId>, f64) {
    let (ids, rate, _) = create_users_costed(service, range, writers);
    (ids, rate)
}

/// As [`create_users`], plus the CPU time (user and system, every thread of the process,
/// engine's I/O threads included) per create, in µs.
fn create_users_costed(
    service: &Service,
    range: std::ops::Range<usize>,
    writers: usize,
) -> (Vec<UserId>, f64, f64) {
    let cpu_before = cpu_seconds();
    let next = Arc::new(AtomicUsize::new(range.start));
    let end = range.end;
    let started = Instant::now();
    let handles: Vec<_> = (0..writers)
        .map(|_| {
            let (service, next) = (service.clone(), Arc::clone(&next));
            thread::spawn(move || {
                let actor = Actor::system(Source::Cli);
                let mut ids = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= end {
                        return ids;
                    }
                    let created = service
                        .create_user(
                            &actor,
                            NewUser {
                                user: user(i),
                                password: None,
                            },
                        )
                        .expect("create");
                    ids.push(created.id);
                }
            })
        })
        .collect();
    let ids: Vec<UserId> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let rate = ids.len() as f64 / started.elapsed().as_secs_f64();
    let cpu_micros = (cpu_seconds() - cpu_before) * 1e6 / ids.len().max(1) as f64;
    (ids, rate, cpu_micros)
}

fn cpu_seconds() -> f64 {
    rollcall::process::current().map_or(0.0, |p| p.cpu_seconds)
}

/// Median time of an 8 KiB write plus fdatasync in `dir`: what the disk charges for one
/// durable write, whatever the store.
fn sync_latency(dir: &std::path::Path) -> Duration {
    use std::io::Write;
    let path = dir.join("sync-probe");
    let mut file = std::fs::File::create(&path).expect("probe file");
    let page = [0u8; 8192];
    let mut samples: Vec<Duration> = (0..200)
        .map(|_| {
            let t = Instant::now();
            file.write_all(&page).expect("probe write");
            file.sync_data().expect("probe sync");
            t.elapsed()
        })
        .collect();
    let _ = std::fs::remove_file(&path);
    samples.sort();
    samples[samples.len() / 2]
}

/// Runs `op` over `n` keys and returns (ops/s, p99).
fn measure(n: usize, mut op: impl FnMut(usize)) -> (f64, Duration) {
    let mut samples = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        op(i);
        samples.push(t.elapsed());
    }
    let total = started.elapsed();
    samples.sort();
    (n as f64 / total.as_secs_f64(), samples[n * 99 / 100])
}

fn main() {
    // As the server does at start, so that the figures are the server's.
    rollcall::process::prefer_small_pages().expect("transparent huge pages off");
    let quick = std::env::args().any(|a| a == "--quick");
    // `--creates N [--writers W]`: only N creates by W writers (default 1), for profiling.
    let option = |name: &str| {
        std::env::args()
            .skip_while(|a| a != name)
            .nth(1)
            .and_then(|n| n.parse::<usize>().ok())
    };
    let only_creates = option("--creates");
    let writers = option("--writers").unwrap_or(1);
    let sizes: &[usize] = if quick { &[10_000] } else { &[10_000, 100_000] };
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledStore::open(&dir.path().join("store"), &StoreOptions::default()).expect("open");
    // Passwords expire (in ten years), so that the reminder run below reads every user.
    let policy = Policy {
        password: rollcall::password::policy::PasswordPolicy {
            max_age_days: 3650,
            ..Default::default()
        },
        ..Policy::default()
    };
    let service = Service::new(Arc::new(store), policy);
    let actor = Actor::system(Source::Cli);

    if let Some(n) = only_creates {
        let (_, rate) = create_users(&service, 0..n, writers);
        println!("{n} creates, {writers} writers: {rate:.0}/s");
        return;
    }
    println!("| measurement | users | result |");
    println!("|---|---|---|");
    let (mut ids, one, one_cpu) = create_users_costed(&service, 0..2_000, 1);
    println!("| durable creates/s, 1 writer | 0→2k | {one:.0} |");
    let (more, sixteen, sixteen_cpu) = create_users_costed(&service, 2_000..12_000, 16);
    ids.extend(more);
    println!(
        "| durable creates/s, 16 writers | 2k→12k | {sixteen:.0} ({:.1}× one writer) |",
        sixteen / one
    );
    // Why the speed-up is what it is: one writer spends part of each create waiting for the
    // disk, and concurrent writers can share that wait, but not the CPU. With every core busy
    // at the 16 writers' CPU cost per create, the speed-up cannot pass cores × (time per
    // create of one writer) / (CPU per create of sixteen).
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "| CPU per durable create, 1 writer / 16 writers | | {one_cpu:.0} µs / {sixteen_cpu:.0} µs |"
    );
    println!(
        "| 8 KiB write + fdatasync on this disk (median) | | {:?} |",
        sync_latency(dir.path())
    );
    if sixteen_cpu > 0.0 {
        let bound = cores as f64 * (1e6 / one) / sixteen_cpu;
        println!("| CPU-bound ceiling of the 16-writer speed-up ({cores} cores) | | {bound:.1}× |");
    }

    let mut loaded = 12_000;
    for &size in sizes {
        if size > loaded {
            let (more, rate) = create_users(&service, loaded..size, 16);
            ids.extend(more);
            println!(
                "| durable creates/s, 16 writers | {}k→{}k | {rate:.0} |",
                loaded / 1000,
                size / 1000
            );
            loaded = size;
        }
        // The ids as created, not from a listing, which would read (and cache) every record.
        ids.sort();
        // Each pass reads 5k distinct users, spread over the whole key space: the first time
        // from the engine (decoding each record), the second time from the record cache. The
        // userName passes read another 5k users than the id passes.
        let probes = 5_000;
        let stride = 7919; // prime, and coprime with both sizes: distinct users
        for pass in ["first read", "cached"] {
            let (rate, p99) = measure(probes, |i| {
                let id = ids[(i * stride) % ids.len()];
                std::hint::black_box(service.user(&actor, id).unwrap());
            });
            println!(
                "| get by id, {pass} | {}k | {rate:.0}/s, p99 {p99:?} |",
                size / 1000
            );
        }
        for pass in ["first read", "cached"] {
            let (rate, p99) = measure(probes, |i| {
                let n = ((i + probes) * stride) % size;
                let name = format!("BENCH.USER{n:07}");
                std::hint::black_box(service.user_by_name(&actor, &name).unwrap());
            });
            println!(
                "| userName lookup (any case), {pass} | {}k | {rate:.0}/s, p99 {p99:?} |",
                size / 1000
            );
        }
        // A search no index serves (an LDAP substring filter on cn, say) lists every user. The
        // first pass finds most records only in the engine; the second, in the record cache.
        for pass in ["first", "second"] {
            let started = Instant::now();
            let mut matched = 0usize;
            service
                .list_users(&actor, &rollcall::service::Plan::Scan, &mut |u| {
                    if u.display_name.as_deref().is_some_and(|d| d.ends_with('7')) {
                        matched += 1;
                    }
                    std::ops::ControlFlow::Continue(())
                })
                .unwrap();
            std::hint::black_box(matched);
            println!(
                "| every user listed (a scan), {pass} pass | {}k | {:?} |",
                size / 1000,
                started.elapsed()
            );
        }
        // The two jobs that read every user with its login state: an access review, and the
        // hourly run of the dormant-account rule (here finding nobody, as on most runs).
        let started = Instant::now();
        let mut rows = 0usize;
        service
            .access_review(
                &actor,
                rollcall::service::ReviewFilter::default(),
                &mut |row| {
                    std::hint::black_box(row);
                    rows += 1;
                    Ok::<(), rollcall::service::ServiceError>(())
                },
            )
            .unwrap();
        println!(
            "| access review, {rows} rows (not written out) | {}k | {:?} |",
            size / 1000,
            started.elapsed()
        );
        service
            .start_activity_tracking(time::OffsetDateTime::now_utc())
            .unwrap();
        let started = Instant::now();
        let dormant = service
            .deactivate_dormant(
                rollcall::service::DormancyPolicy {
                    after: time::Duration::days(90),
                    per_run: 50,
                    warn_before: Some(time::Duration::days(7)),
                },
                time::OffsetDateTime::now_utc(),
            )
            .unwrap();
        assert!(dormant.deactivated.is_empty() && dormant.warned.is_empty());
        println!(
            "| dormant-account run (nobody due) | {}k | {:?} |",
            size / 1000,
            started.elapsed()
        );
        let started = Instant::now();
        let reminded = service
            .remind_password_expiry(time::OffsetDateTime::now_utc())
            .unwrap();
        assert!(reminded.is_empty());
        println!(
            "| password expiry reminder run (nobody due) | {}k | {:?} |",
            size / 1000,
            started.elapsed()
        );
        // A backup while 16 writers create users: commits go on (each keeps what a backup
        // needs of the keys it changes), so the create rate is the one without a backup less
        // the CPU the backup takes. The users created here are not counted in later sizes.
        let started = Instant::now();
        let entries = service.backup(&actor, &mut std::io::sink()).unwrap();
        println!(
            "| backup alone ({entries} entries) | {}k | {:?} |",
            size / 1000,
            started.elapsed()
        );
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let backups = {
            let (service, stop) = (service.clone(), Arc::clone(&stop));
            thread::spawn(move || {
                let mut taken = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    service
                        .backup(&Actor::system(Source::Cli), &mut std::io::sink())
                        .unwrap();
                    taken += 1;
                }
                taken
            })
        };
        let during = 1_000_000_000 + size..1_000_000_000 + size + 4_000;
        let (_, rate) = create_users(&service, during, 16);
        stop.store(true, Ordering::Relaxed);
        let taken = backups.join().unwrap();
        println!(
            "| durable creates/s, 16 writers, backups running ({taken} taken meanwhile) | {}k | {rate:.0} |",
            size / 1000
        );
    }
}
