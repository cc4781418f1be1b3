//! `rollcall check` on a store that is being written: it cross-checks one moment, so commits
//! that land while it reads are never reported as disagreements, and they do not wait for it.
//! And on stores whose records disagree with each other (written past the service, as a bug or
//! a hand edit would): each finding is a line naming the records, and the check fails, as does
//! a restore of a backup of such a store.

mod common;

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rollcall::audit::Source;
use rollcall::model::{
    Account, AccountId, LicenseLimits, LicenseType, MultiValue, Role, RoleType, User, UserId,
};
use rollcall::service::{Actor, NewUser, Policy, Service};
use rollcall::store::{SledStore, Store, StoreOptions, TxError, Txn};

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

/// A data directory whose records `build` made through the service and then broke through the
/// store itself (as a bug or a hand edit would), closed again for `rollcall check`.
fn broken(
    build: impl FnOnce(&Service, &dyn Fn(&mut dyn FnMut(&mut dyn Txn))),
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    {
        let store =
            Arc::new(SledStore::open(&dir.path().join("store"), &StoreOptions::default()).unwrap());
        let service = Service::new(
            Arc::clone(&store) as Arc<dyn Store>,
            Policy {
                argon2: common::fast_argon2(),
                ..Policy::default()
            },
        );
        let past_the_service = |change: &mut dyn FnMut(&mut dyn Txn)| {
            store
                .write(&mut |tx| -> Result<(), TxError> {
                    change(tx);
                    Ok(())
                })
                .unwrap();
        };
        build(&service, &past_the_service);
    }
    dir
}

/// `rollcall` on `data`, once this process's store has let go of it.
fn rollcall(data: &Path, args: &[&str]) -> Output {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = common::run(data, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !stderr.contains("in use by another rollcall process") || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `rollcall check` on `data`: it must fail and report each of `findings` as a line.
#[track_caller]
fn check_reports(data: &Path, findings: &[String]) {
    let out = rollcall(data, &["check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "check passed: {stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    for finding in findings {
        assert!(
            lines.contains(&finding.as_str()),
            "{finding:?} not among {lines:#?}"
        );
    }
    assert_eq!(lines.len(), findings.len(), "nothing else: {lines:#?}");
    let said = match findings.len() {
        1 => "Error: 1 inconsistency\n".to_string(),
        n => format!("Error: {n} inconsistencies\n"),
    };
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&said),
        "{said:?} in {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn cli() -> Actor {
    Actor::system(Source::Cli)
}

fn employee(service: &Service, name: &str) -> User {
    common::create(service, common::person(name, LicenseType::Employee, false))
}

fn role(service: &Service, name: &str, role_type: Option<RoleType>) -> Role {
    service
        .create_role(&cli(), Role::new(name, role_type))
        .unwrap()
}

fn account(service: &Service, name: &str) -> Account {
    service.create_account(&cli(), Account::new(name)).unwrap()
}

#[test]
fn a_user_holding_a_role_that_does_not_exist_is_reported() {
    let mut gone = None;
    let dir = broken(|service, write| {
        let temp = role(service, "Temp", Some(RoleType::Employee));
        let mut own = Role::new("Own record", Some(RoleType::Employee));
        own.permissions.user.read = rollcall::model::PermissionLevel::Private;
        own.permissions.user.edit = rollcall::model::PermissionLevel::Private;
        let own = service.create_role(&cli(), own).unwrap();
        let ada = common::create(service, common::person("ada", LicenseType::Employee, true));
        service.add_member(&cli(), temp.id, ada.id).unwrap();
        service.add_member(&cli(), own.id, ada.id).unwrap();
        // Deleted without taking it from its member first.
        write(&mut |tx| tx.delete_role(temp.id).unwrap());
        gone = Some(temp.id);
    });
    let gone = gone.unwrap();
    check_reports(
        dir.path(),
        &[format!(
            "user \"ada\" holds role {gone}, which does not exist"
        )],
    );
    // The user's next change drops it, and is not refused over it: not even the user's own
    // change, though users do not change their own roles.
    let service = common::open_service(dir.path(), LicenseLimits::default());
    let ada = service.user_by_name(&cli(), "ada").unwrap();
    let own = service.role_by_name(&cli(), "Own record").unwrap();
    let changed = service
        .update_user(
            &Actor::user(ada.id, Source::Scim, None),
            ada.id,
            None,
            |u| {
                u.title = Some("Engineer".into());
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(changed.roles, vec![own.id]);
    assert_eq!(service.verify().unwrap(), Vec::<String>::new());
}

#[test]
fn a_member_without_the_license_its_role_type_admits_is_reported() {
    let dir = broken(|service, write| {
        let crew = role(service, "Crew", Some(RoleType::Employee));
        let eve = employee(service, "eve");
        service.add_member(&cli(), crew.id, eve.id).unwrap();
        let mut partner = crew.clone();
        partner.role_type = Some(RoleType::Partner);
        write(&mut |tx| tx.put_role(&partner).unwrap());
    });
    check_reports(
        dir.path(),
        &["user \"eve\" holds partner role \"Crew\" but has license employee".to_string()],
    );
}

#[test]
fn a_manager_that_does_not_exist_is_reported() {
    let missing = UserId(uuid::Uuid::now_v7());
    let dir = broken(|service, write| {
        let mut ada = employee(service, "ada");
        ada.manager = Some(missing);
        write(&mut |tx| tx.put_user(&ada).unwrap());
    });
    check_reports(
        dir.path(),
        &[format!(
            "user \"ada\" has manager {missing}, which does not exist"
        )],
    );
}

/// Anonymising a manager keeps its record and leaves its reports pointing at it (shown as
/// gone): a state the service makes, not a finding.
#[test]
fn an_anonymised_manager_is_no_finding() {
    let dir = broken(|service, _| {
        let boss = employee(service, "boss");
        let mut ada = common::person("ada", LicenseType::Employee, false);
        ada.manager = Some(boss.id);
        common::create(service, ada);
        service.anonymise_user(&cli(), boss.id, None).unwrap();
    });
    let out = rollcall(dir.path(), &["check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn managers_in_a_loop_are_reported() {
    let dir = broken(|service, write| {
        let mut ada = employee(service, "ada");
        let mut bob = employee(service, "bob");
        let cy = employee(service, "cy");
        ada.manager = Some(bob.id);
        bob.manager = Some(ada.id);
        let mut dee = employee(service, "dee");
        dee.manager = Some(cy.id);
        write(&mut |tx| {
            tx.put_user(&ada).unwrap();
            tx.put_user(&bob).unwrap();
            tx.put_user(&dee).unwrap();
        });
        // A user who is its own manager is a loop too.
        let mut eve = employee(service, "eve");
        eve.manager = Some(eve.id);
        write(&mut |tx| tx.put_user(&eve).unwrap());
    });
    check_reports(
        dir.path(),
        &[
            "managers go round in a loop: \"ada\" → \"bob\" → \"ada\"".to_string(),
            "managers go round in a loop: \"eve\" → \"eve\"".to_string(),
        ],
    );
}

#[test]
fn parent_accounts_in_a_loop_are_reported() {
    let dir = broken(|service, write| {
        let mut north = account(service, "North");
        let mut south = account(service, "South");
        north.parent = Some(south.id);
        south.parent = Some(north.id);
        write(&mut |tx| {
            tx.put_account(&north).unwrap();
            tx.put_account(&south).unwrap();
        });
    });
    check_reports(
        dir.path(),
        &["parent accounts go round in a loop: \"North\" → \"South\" → \"North\"".to_string()],
    );
}

#[test]
fn accounts_that_do_not_exist_are_reported() {
    let missing = AccountId(uuid::Uuid::now_v7());
    let dir = broken(|service, write| {
        let mut branch = account(service, "Branch");
        branch.parent = Some(missing);
        let mut ada = employee(service, "ada");
        ada.account = Some(missing);
        write(&mut |tx| {
            tx.put_account(&branch).unwrap();
            tx.put_user(&ada).unwrap();
        });
    });
    check_reports(
        dir.path(),
        &[
            format!("user \"ada\" belongs to account {missing}, which does not exist"),
            format!("account \"Branch\" has parent {missing}, which does not exist"),
        ],
    );
}

/// A restore runs the same check. Records whose references do not hold are kept, as the
/// directory had them (refusing would leave no directory at all), and said: on the restore's
/// stderr, then by `rollcall check` until they are mended.
#[test]
fn a_restore_keeps_records_whose_references_do_not_hold_and_says_so() {
    let dir = broken(|service, write| {
        let mut ada = employee(service, "ada");
        let bob = employee(service, "bob");
        ada.manager = Some(bob.id);
        let mut bob = bob;
        bob.manager = Some(ada.id);
        write(&mut |tx| {
            tx.put_user(&ada).unwrap();
            tx.put_user(&bob).unwrap();
        });
    });
    let file = dir.path().join("broken.backup");
    let out = rollcall(dir.path(), &["backup", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let target = dir.path().join("restored");
    let out = rollcall(&target, &["restore", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "not restored: {stderr}");
    let finding = "managers go round in a loop: \"ada\" → \"bob\" → \"ada\"";
    assert!(stderr.contains(&format!("warning: {finding}")), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 reference finding(s)"),
        "{out:?}"
    );
    check_reports(&target, &[finding.to_string()]);
}

/// `file`, a backup, with its entries changed by `edit` (tree, key, value; `None` drops the
/// entry) and `added` appended, its count and digest made again so that `restore` reads it.
fn edit_backup(file: &Path, edit: impl Fn(&str, &[u8]) -> bool, added: &[(&str, Vec<u8>)]) {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (last, entries) = lines.split_last().unwrap();
    let (header, entries) = entries.split_first().unwrap();
    let mut out = format!("{header}\n");
    let mut count = 0u64;
    for line in entries {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = B64.decode(entry["k"].as_str().unwrap()).unwrap();
        if edit(entry["t"].as_str().unwrap(), &key) {
            out.push_str(line);
            out.push('\n');
            count += 1;
        }
    }
    for (tree, key) in added {
        let entry = serde_json::json!({"t": tree, "k": B64.encode(key), "v": ""});
        out.push_str(&format!("{entry}\n"));
        count += 1;
    }
    std::fs::write(file, common::sealed_backup(out, last, Some(count))).unwrap();
}

/// A backup whose indexes disagree with its records is refused, each finding on a line of its
/// own naming the records as a reference finding does (userNames, role names) and the index
/// by its tree and what it is for, never the raw bytes of its key.
#[test]
fn a_restore_refused_over_an_index_names_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let (bob, ada, gone_role) = {
        let service = common::open_service(dir.path(), LicenseLimits::default());
        let bob = employee(&service, "bob");
        let mut ada = common::person("ada", LicenseType::Employee, false);
        ada.manager = Some(bob.id);
        let ada = common::create(&service, ada);
        (bob, ada, rollcall::model::RoleId::new())
    };
    let file = dir.path().join("good.backup");
    let out = rollcall(dir.path(), &["backup", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ada's entry under bob in the index of reports goes; one that makes ada a member of a
    // role that is not there comes.
    let manager_key = [bob.id.as_bytes().as_slice(), ada.id.as_bytes()].concat();
    let member_key = [gone_role.as_bytes().as_slice(), ada.id.as_bytes()].concat();
    edit_backup(
        &file,
        |tree, key| !(tree == "idx_user_manager" && key == manager_key),
        &[("idx_role_members", member_key)],
    );
    let target = dir.path().join("restored");
    let out = rollcall(&target, &["restore", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "restored: {stderr}");
    let lines: Vec<&str> = stderr.lines().map(str::trim).collect();
    for finding in [
        "idx_user_manager (users by manager): missing entry: user \"ada\" reports to \"bob\""
            .to_string(),
        format!(
            "idx_role_members (members by role): stale entry (no record says so): user \"ada\" \
             holds role {gone_role} (no such role)"
        ),
    ] {
        assert!(lines.contains(&finding.as_str()), "{finding:?} in {stderr}");
    }
    assert!(!stderr.contains("[1, "), "no raw key bytes: {stderr}");
    assert!(!target.join("store").exists(), "nothing restored");
}

/// The index of users by employee number is checked as the others are: an entry the record
/// makes that is not there, and one no record makes, are each a finding naming the user and
/// the number as the index keeps it (folded).
#[test]
fn a_missing_or_stale_employee_number_entry_is_reported() {
    let mut ada = None;
    let dir = broken(|service, _| {
        let mut user = common::person("ada", LicenseType::Employee, false);
        user.employee_number = Some("E  42".into());
        ada = Some(common::create(service, user));
    });
    let ada = ada.unwrap();
    {
        let db = common::when_released(|| sled::open(dir.path().join("store")));
        let index = db.open_tree("idx_user_employee_number").unwrap();
        let key = |number: &str| [number.as_bytes(), &[0], ada.id.as_bytes()].concat();
        index
            .remove(key("e 42"))
            .unwrap()
            .expect("indexed as folded");
        index.insert(key("e 7"), &[]).unwrap();
        db.flush().unwrap();
    }
    check_reports(
        dir.path(),
        &[
            "idx_user_employee_number (users by employee number): missing entry: user \"ada\" \
             has employee number \"e 42\""
                .to_string(),
            "idx_user_employee_number (users by employee number): stale entry (no record says \
             so): user \"ada\" has employee number \"e 7\""
                .to_string(),
        ],
    );
}

/// A role whose member index names more users that do not exist than one batch of its
/// deletion detaches is refused as corrupt, pointing at `rollcall check`, rather than read
/// again and again: the deletion ends.
#[test]
fn deleting_a_role_whose_member_index_names_nobody_ends_with_an_error() {
    let mut crowd = None;
    let dir = broken(|service, _| {
        crowd = Some(
            service
                .create_role(&Actor::system(Source::Cli), Role::new("Crowd", None))
                .unwrap(),
        );
    });
    let crowd = crowd.unwrap();
    {
        let db = common::when_released(|| sled::open(dir.path().join("store")));
        let index = db.open_tree("idx_role_members").unwrap();
        for _ in 0..1100 {
            let nobody = UserId::new();
            index
                .insert(
                    [&crowd.id.as_bytes()[..], &nobody.as_bytes()[..]].concat(),
                    &[],
                )
                .unwrap();
        }
        db.flush().unwrap();
    }
    let service = common::open_service(dir.path(), LicenseLimits::default());
    let err = service
        .delete_role(&Actor::system(Source::Cli), crowd.id, None)
        .unwrap_err();
    assert!(err.to_string().contains("rollcall check"), "{err}");
    assert!(service.role(&Actor::system(Source::Cli), crowd.id).is_ok());
}
