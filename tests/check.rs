//! `rollcall check` on a store that is being written: it cross-checks one moment, so commits
//! that land while it reads are never reported as disagreements, and they do not wait for it.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rollcall::audit::Source;
use rollcall::model::{LicenseLimits, LicenseType, MultiValue, User};
use rollcall::service::{Actor, NewUser};

fn user(name: String, i: usize) -> User {
    let mut user = User::new(name.clone());
    user.active = !i.is_multiple_of(3);
    user.license = LicenseType::Employee;
    user.external_id = Some(format!("ext-{name}"));
    user.emails = vec![MultiValue {
        value: format!("{name}@example.com"),
        kind: Some("work".into()),
        primary: true,
        display: None,
    }];
    user
}

/// Writers create, activate, deactivate and rename users (touching the records, every index
/// and the seat counters) without pause while checks run one after another. Every check must
/// find nothing wrong, and writes must be acknowledged while a check is reading.
#[test]
fn a_check_sees_one_moment_while_commits_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let service = Arc::new(common::open_service(dir.path(), LicenseLimits::default()));
    let actor = Actor::system(Source::Cli);
    // A directory large enough that a check takes a while.
    let ids: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|w| {
                let service = &service;
                let actor = &actor;
                s.spawn(move || {
                    (0..300)
                        .map(|i| {
                            let n = w * 300 + i;
                            let new = NewUser {
                                user: user(format!("user{n:05}"), n),
                                password: None,
                            };
                            service.create_user(actor, new).unwrap().id
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(service.verify().unwrap(), Vec::<String>::new());

    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (service, stop, acknowledged) = (
                Arc::clone(&service),
                Arc::clone(&stop),
                Arc::clone(&acknowledged),
            );
            let ids = ids.clone();
            std::thread::spawn(move || {
                let actor = Actor::system(Source::Cli);
                let mut round = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let id = ids[(round * 4 + w) * 7 % ids.len()];
                    match round % 3 {
                        0 => {
                            let new = NewUser {
                                user: user(format!("new-{w}-{round}"), round),
                                password: None,
                            };
                            service.create_user(&actor, new).unwrap();
                        }
                        1 => {
                            let active = service.user(&actor, id).unwrap().active;
                            service.set_active(&actor, id, !active, None).unwrap();
                        }
                        _ => {
                            service
                                .update_user(&actor, id, None, |u| {
                                    u.user_name = format!("renamed-{w}-{round}");
                                    u.emails[0].value = format!("renamed-{w}-{round}@example.com");
                                    Ok(())
                                })
                                .unwrap();
                        }
                    }
                    acknowledged.fetch_add(1, Ordering::Relaxed);
                    round += 1;
                }
            })
        })
        .collect();

    let mut during = Vec::new();
    for _ in 0..5 {
        let before = acknowledged.load(Ordering::Relaxed);
        let problems = service.verify().unwrap();
        during.push(acknowledged.load(Ordering::Relaxed) - before);
        assert_eq!(problems, Vec::<String>::new(), "a check under writes");
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    eprintln!("writes acknowledged while each check ran: {during:?}");
    // Commits that waited for a check would leave only the few under way as it started.
    let most = *during.iter().max().unwrap();
    assert!(
        most >= 40,
        "writes acknowledged while a check ran: {during:?}"
    );
    assert_eq!(service.verify().unwrap(), Vec::<String>::new());
}
