//! License rules (DESIGN §2, seed 000) against the real service over a real store.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use common::*;
use rollcall::model::{LicenseLimits, LicenseType, PartnerModel, Role, RoleType};
use rollcall::outbox::MessageKind;
use rollcall::service::{NewUser, Plan, ServiceError};

fn limits(employee: u64, partner: u64, customer: u64) -> LicenseLimits {
    LicenseLimits {
        employee: Some(employee),
        partner: Some(partner),
        customer: Some(customer),
        partner_model: PartnerModel::PerUser,
    }
}

fn active_count(service: &rollcall::service::Service) -> BTreeMap<LicenseType, u64> {
    let mut counts = BTreeMap::new();
    service
        .list_users(&admin(), &Plan::Scan, &mut |u| {
            if u.active {
                *counts.entry(u.license).or_default() += 1;
            }
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    counts
}

#[test]
fn sixty_four_concurrent_activations_against_a_limit_of_ten_activate_exactly_ten() {
    let (_dir, service) = service_with(limits(10, 0, 0));
    let users: Vec<_> = (0..64)
        .map(|i| {
            create(
                &service,
                person(&format!("u{i:02}"), LicenseType::Employee, false),
            )
        })
        .collect();
    let barrier = Arc::new(Barrier::new(users.len()));
    let handles: Vec<_> = users
        .iter()
        .map(|u| {
            let (service, barrier, id) = (service.clone(), Arc::clone(&barrier), u.id);
            thread::spawn(move || {
                barrier.wait();
                service.set_active(&admin(), id, true, None)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();

    let activated = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(activated, 10);
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        match refused {
            ServiceError::LicenseLimit {
                license,
                used,
                limit,
            } => {
                assert_eq!((*license, *used, *limit), (LicenseType::Employee, 10, 10));
                assert_eq!(
                    refused.to_string(),
                    "employee license limit reached: 10/10 in use"
                );
            }
            other => panic!("unexpected refusal: {other}"),
        }
    }
    assert_eq!(active_count(&service)[&LicenseType::Employee], 10);
    let usage = service.license_usage().unwrap();
    assert_eq!(
        usage[0].used, 10,
        "the counter equals the number of active users"
    );
    assert_eq!(service.verify().unwrap(), Vec::<String>::new());
}

/// Far below the 90% mark, concurrent activations only require the count to stay below it,
/// so they do not conflict over the counter; near it, the exact count decides. Under any
/// interleaving: never more active than the limit, and the 90% warning exactly once.
#[test]
fn concurrent_creations_across_the_warning_mark_warn_once_and_stop_at_the_limit() {
    let (_dir, service) = service_with(limits(100, 0, 0));
    let new_user = |name: String| NewUser {
        user: person(&name, LicenseType::Employee, true),
        password: None,
    };
    for i in 0..85 {
        service
            .create_user(&admin(), new_user(format!("early{i:02}")))
            .unwrap();
    }
    // 32 creations at once, each seeing 85 seats in use: below the mark, so each only requires
    // the count to stay there; most must find it no longer does and decide on the exact count.
    let barrier = Arc::new(Barrier::new(32));
    let handles: Vec<_> = (0..32)
        .map(|t| {
            let (service, barrier) = (service.clone(), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                service.create_user(&admin(), new_user(format!("late{t:02}")))
            })
        })
        .collect();
    let mut created = 85;
    for result in handles.into_iter().map(|h| h.join().unwrap()) {
        match result {
            Ok(_) => created += 1,
            Err(ServiceError::LicenseLimit { used, limit, .. }) => {
                assert_eq!((used, limit), (100, 100))
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(created, 100);
    assert_eq!(active_count(&service)[&LicenseType::Employee], 100);
    let usage = service.license_usage().unwrap();
    let employees = usage
        .iter()
        .find(|u| u.license == LicenseType::Employee)
        .unwrap();
    assert_eq!(employees.used, 100);
    let warnings: Vec<_> = service
        .outbox()
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == MessageKind::LicenseThreshold)
        .collect();
    assert_eq!(warnings.len(), 1, "one warning at 90%");
    assert!(
        warnings[0].body.contains("90 of 100"),
        "the warning names the count that crossed the mark: {}",
        warnings[0].body
    );
}

#[test]
fn mixed_concurrent_activations_deactivations_and_type_changes_never_exceed_limits() {
    let (_dir, service) = service_with(limits(6, 0, 4));
    let acme = account(&service, "Acme", false);
    let users: Vec<_> = (0..24)
        .map(|i| {
            let mut u = person(&format!("m{i:02}"), LicenseType::Employee, false);
            u.account = Some(acme.id);
            create(&service, u)
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (service, stop) = (service.clone(), Arc::clone(&stop));
        thread::spawn(move || {
            let mut samples = 0;
            while !stop.load(Ordering::Relaxed) {
                for usage in service.license_usage().unwrap() {
                    if let Some(limit) = usage.limit {
                        assert!(usage.used <= limit, "{usage:?} over the limit");
                    }
                }
                samples += 1;
            }
            samples
        })
    };
    let workers: Vec<_> = (0..64)
        .map(|w| {
            let service = service.clone();
            let ids: Vec<_> = users.iter().map(|u| u.id).collect();
            thread::spawn(move || {
                for step in 0..12 {
                    let id = ids[(w * 7 + step * 5) % ids.len()];
                    let outcome = match (w + step) % 3 {
                        0 => service.set_active(&admin(), id, true, None).map(drop),
                        1 => service.set_active(&admin(), id, false, None).map(drop),
                        _ => service
                            .update_user(&admin(), id, None, |u| {
                                u.license = match u.license {
                                    LicenseType::Employee => LicenseType::Customer,
                                    _ => LicenseType::Employee,
                                };
                                Ok(())
                            })
                            .map(drop),
                    };
                    match outcome {
                        Ok(()) | Err(ServiceError::LicenseLimit { .. }) => {}
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    assert!(watcher.join().unwrap() > 0);

    let counted = active_count(&service);
    for usage in service.license_usage().unwrap() {
        let active = counted.get(&usage.license).copied().unwrap_or(0);
        assert_eq!(
            usage.used, active,
            "{:?} counter vs active users",
            usage.license
        );
        assert!(active <= usage.limit.unwrap());
    }
    assert_eq!(service.verify().unwrap(), Vec::<String>::new());
}

#[test]
fn inactive_creation_past_the_limit_is_allowed_but_activation_is_refused_and_reported() {
    let (_dir, service) = service_with(limits(1, 0, 0));
    create(&service, person("first", LicenseType::Employee, true));
    let late = create(&service, person("late", LicenseType::Employee, false));
    assert!(!late.active);

    let err = service
        .set_active(&admin(), late.id, true, None)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ServiceError::LicenseLimit {
                used: 1,
                limit: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        !service.user(&admin(), late.id).unwrap().active,
        "nothing changed"
    );

    let err = service
        .create_user(
            &admin(),
            NewUser {
                user: person("eager", LicenseType::Employee, true),
                password: None,
            },
        )
        .unwrap_err();
    assert!(matches!(err, ServiceError::LicenseLimit { .. }));
    assert!(
        service.user_by_name(&admin(), "eager").is_err(),
        "a refused create writes nothing"
    );

    let outbox = service.outbox().unwrap();
    let refusals: Vec<_> = outbox
        .iter()
        .filter(|m| m.kind == MessageKind::LicenseRefused)
        .collect();
    assert_eq!(
        refusals.len(),
        2,
        "every refused activation notifies the admins"
    );
    assert!(refusals[0].body.contains("1/1"), "{}", refusals[0].body);
    assert_eq!(refusals[0].user, Some(late.id), "about the user refused");
    assert_eq!(
        refusals[1].user, None,
        "a refused create made no user to name"
    );
    assert!(refusals[1].body.contains("eager"), "{}", refusals[1].body);
    assert!(
        outbox
            .iter()
            .any(|m| m.kind == MessageKind::LicenseThreshold),
        "100% crosses 90%"
    );

    // Deactivating frees the seat.
    let first = service.user_by_name(&admin(), "first").unwrap();
    service.set_active(&admin(), first.id, false, None).unwrap();
    service.set_active(&admin(), late.id, true, None).unwrap();
}

#[test]
fn changing_the_license_type_moves_the_seat_and_needs_room_in_the_new_pool() {
    let (_dir, service) = service_with(limits(5, 1, 5));
    let acme = account(&service, "Acme", false);
    let mut p = person("partner1", LicenseType::Partner, true);
    p.account = Some(acme.id);
    create(&service, p);
    let emp = create(&service, person("emp", LicenseType::Employee, true));

    let err = service
        .update_user(&admin(), emp.id, None, |u| {
            u.license = LicenseType::Partner;
            u.account = Some(acme.id);
            Ok(())
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            ServiceError::LicenseLimit {
                license: LicenseType::Partner,
                ..
            }
        ),
        "{err}"
    );

    service
        .update_user(&admin(), emp.id, None, |u| {
            u.license = LicenseType::Customer;
            u.account = Some(acme.id);
            Ok(())
        })
        .unwrap();
    let usage: BTreeMap<_, _> = service
        .license_usage()
        .unwrap()
        .into_iter()
        .map(|u| (u.license, u.used))
        .collect();
    assert_eq!(usage[&LicenseType::Employee], 0);
    assert_eq!(usage[&LicenseType::Customer], 1);
    assert_eq!(usage[&LicenseType::Partner], 1);
}

#[test]
fn partners_and_customers_need_an_account_and_per_account_licensing_admits_licensed_accounts() {
    let (_dir, service) = service_with(LicenseLimits {
        partner: Some(0),
        partner_model: PartnerModel::PerAccount,
        ..LicenseLimits::default()
    });
    let err = service
        .create_user(
            &admin(),
            NewUser {
                user: person("nobody", LicenseType::Customer, false),
                password: None,
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, ServiceError::AccountRequired(LicenseType::Customer)),
        "{err}"
    );

    let licensed = account(&service, "Licensed Partner Co", true);
    let unlicensed = account(&service, "Unlicensed Partner Co", false);
    for i in 0..3 {
        let mut p = person(&format!("lp{i}"), LicenseType::Partner, true);
        p.account = Some(licensed.id);
        create(&service, p);
    }
    let mut p = person("up", LicenseType::Partner, true);
    p.account = Some(unlicensed.id);
    let err = service
        .create_user(
            &admin(),
            NewUser {
                user: p.clone(),
                password: None,
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, ServiceError::AccountNotLicensed(ref name) if name == "Unlicensed Partner Co"),
        "{err}"
    );
    p.active = false;
    create(&service, p);
    let usage = service.license_usage().unwrap();
    assert_eq!(usage[1].used, 3);
    assert_eq!(
        usage[1].limit, None,
        "per-account licensing has no global partner cap"
    );
}

#[test]
fn a_roles_type_must_match_its_members_license_type() {
    let (_dir, service) = service_with(LicenseLimits::default());
    let acme = account(&service, "Acme", false);
    let staff = service
        .create_role(&admin(), Role::new("Staff", Some(RoleType::Employee)))
        .unwrap();
    let sales = service
        .create_role(&admin(), Role::new("Sales", None))
        .unwrap();
    let emp = create(&service, person("emp", LicenseType::Employee, true));
    let mut c = person("cust", LicenseType::Customer, true);
    c.account = Some(acme.id);
    let cust = create(&service, c);

    service.add_member(&admin(), staff.id, emp.id).unwrap();
    let err = service.add_member(&admin(), staff.id, cust.id).unwrap_err();
    assert!(
        matches!(err, ServiceError::RoleTypeMismatch { .. }),
        "{err}"
    );
    service.add_member(&admin(), sales.id, cust.id).unwrap();
    service.add_member(&admin(), sales.id, emp.id).unwrap();

    // Typing a mixed plain group is refused; changing a member's license away from the role's too.
    let mut typed = sales.clone();
    typed.role_type = Some(RoleType::Customer);
    let err = service
        .replace_role(&admin(), sales.id, typed, None)
        .unwrap_err();
    assert!(
        matches!(err, ServiceError::RoleTypeMismatch { .. }),
        "{err}"
    );
    let err = service
        .update_user(&admin(), emp.id, None, |u| {
            u.license = LicenseType::Customer;
            u.account = Some(acme.id);
            Ok(())
        })
        .unwrap_err();
    assert!(
        matches!(err, ServiceError::RoleTypeMismatch { .. }),
        "{err}"
    );

    assert_eq!(service.role_members(&admin(), sales.id).unwrap().len(), 2);
    assert_eq!(service.user(&admin(), emp.id).unwrap().roles.len(), 2);
    assert_eq!(service.verify().unwrap(), Vec::<String>::new());
}

#[test]
fn activation_notices_follow_the_rules_of_seed_000() {
    let (_dir, service) = service_with(LicenseLimits::default());
    // Created active without a password: message with a set-password link.
    create(&service, person("nopass", LicenseType::Employee, true));
    // Created active with an admin-chosen password: message without link and without password.
    service
        .create_user(
            &admin(),
            NewUser {
                user: person("withpass", LicenseType::Employee, true),
                password: Some("Admin-Chosen-9".into()),
            },
        )
        .unwrap();
    // Created inactive: no message; activated later: message with a link even with a password.
    let later = service
        .create_user(
            &admin(),
            NewUser {
                user: person("later", LicenseType::Employee, false),
                password: Some("Admin-Chosen-9".into()),
            },
        )
        .unwrap();
    let before = service.outbox().unwrap().len();
    assert!(
        !service
            .outbox()
            .unwrap()
            .iter()
            .any(|m| m.user == Some(later.id))
    );
    service.set_active(&admin(), later.id, true, None).unwrap();

    let outbox = service.outbox().unwrap();
    assert_eq!(outbox.len(), before + 1);
    let by_user = |name: &str| {
        let id = service.user_by_name(&admin(), name).unwrap().id;
        outbox.iter().find(|m| m.user == Some(id)).cloned().unwrap()
    };
    let nopass = by_user("nopass");
    assert_eq!(nopass.to.as_deref(), Some("nopass@example.com"));
    assert!(nopass.body.contains("/auth/activate?token="));
    assert!(nopass.link_expires.is_some());
    let withpass = by_user("withpass");
    assert!(!withpass.body.contains("token="));
    assert!(
        !withpass.body.contains("Admin-Chosen-9"),
        "an admin's password is never mailed"
    );
    assert!(by_user("later").body.contains("/auth/activate?token="));
}

/// DESIGN §2: a partner in an unlicensed account cannot be active (partner_model =
/// per_account). That holds when an active partner moves to another account, and when its
/// account stops being licensed.
#[test]
fn per_account_licensing_holds_when_partners_move_and_accounts_lose_their_license() {
    let (_dir, service) = service_with(LicenseLimits {
        partner_model: PartnerModel::PerAccount,
        ..LicenseLimits::default()
    });
    let licensed = account(&service, "Licensed Co", true);
    let unlicensed = account(&service, "Unlicensed Co", false);
    let mut p = person("mover", LicenseType::Partner, true);
    p.account = Some(licensed.id);
    let mover = create(&service, p);

    let err = service
        .update_user(&admin(), mover.id, None, |u| {
            u.account = Some(unlicensed.id);
            Ok(())
        })
        .unwrap_err();
    assert!(
        matches!(err, ServiceError::AccountNotLicensed(ref name) if name == "Unlicensed Co"),
        "{err}"
    );
    assert_eq!(
        service.user(&admin(), mover.id).unwrap().account,
        Some(licensed.id),
        "nothing changed"
    );

    let mut unlicense = service.account(&admin(), licensed.id).unwrap();
    unlicense.licensed = false;
    let err = service
        .replace_account(&admin(), licensed.id, unlicense.clone(), None)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ServiceError::AccountHasActivePartners { ref account, active: 1 } if account == "Licensed Co"
        ),
        "{err}"
    );
    assert!(service.account(&admin(), licensed.id).unwrap().licensed);

    // Deactivated, the partner may move anywhere, and the account may lose its license.
    service.set_active(&admin(), mover.id, false, None).unwrap();
    service
        .replace_account(&admin(), licensed.id, unlicense, None)
        .unwrap();
    assert!(!service.account(&admin(), licensed.id).unwrap().licensed);
    service
        .update_user(&admin(), mover.id, None, |u| {
            u.account = Some(unlicensed.id);
            Ok(())
        })
        .unwrap();
}
