//! Bad input to the core gets a typed error and writes nothing.

mod common;

use common::*;
use rollcall::model::{
    AccountId, LicenseLimits, LicenseType, PermissionLevel, Role, RoleType, UserId,
};
use rollcall::service::{NewUser, ServiceError};

fn counts(service: &rollcall::service::Service) -> (usize, usize, usize) {
    (
        service.audit_events().unwrap().len(),
        service.outbox().unwrap().len(),
        service.roles(&admin()).unwrap().len(),
    )
}

#[test]
fn bad_input_gets_typed_errors_and_leaves_no_partial_write() {
    let (_dir, service) = service_with(LicenseLimits::default());
    let bob = create(&service, person("Bob", LicenseType::Employee, true));
    let before = counts(&service);

    // Duplicate userName in any case.
    for name in ["bob", "BOB", " Bob "] {
        let err = service
            .create_user(
                &admin(),
                NewUser {
                    user: person(name, LicenseType::Employee, true),
                    password: None,
                },
            )
            .unwrap_err();
        assert!(
            matches!(err, ServiceError::UserNameTaken(_)),
            "{name}: {err}"
        );
    }
    // Unknown account.
    let mut p = person("pat", LicenseType::Partner, false);
    p.account = Some(AccountId::new());
    let err = service
        .create_user(
            &admin(),
            NewUser {
                user: p,
                password: None,
            },
        )
        .unwrap_err();
    assert!(matches!(err, ServiceError::UnknownAccount(_)), "{err}");
    // Unknown manager and manager cycles.
    let mut m = person("mia", LicenseType::Employee, false);
    m.manager = Some(UserId::new());
    assert!(matches!(
        service
            .create_user(
                &admin(),
                NewUser {
                    user: m,
                    password: None
                }
            )
            .unwrap_err(),
        ServiceError::UnknownManager(_)
    ));
    let mut report = person("rita", LicenseType::Employee, false);
    report.manager = Some(bob.id);
    let rita = create(&service, report);
    let err = service
        .update_user(&admin(), bob.id, None, |u| {
            u.manager = Some(rita.id);
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(err, ServiceError::ManagerCycle(_)), "{err}");
    let before = (before.0 + 1, before.1, before.2); // rita's creation
    // Version conflict.
    let err = service
        .set_active(&admin(), bob.id, false, Some(bob.version + 7))
        .unwrap_err();
    assert!(matches!(err, ServiceError::VersionConflict { .. }), "{err}");
    // Role type mismatch and levels a role type may not use.
    let acme = account(&service, "Acme", false);
    let before = (before.0 + 1, before.1, before.2); // the account's creation
    let mut partner_role = Role::new("Partners", Some(RoleType::Partner));
    partner_role.permissions.user.read = PermissionLevel::SubordinatesAll;
    let err = service.create_role(&admin(), partner_role).unwrap_err();
    assert!(matches!(err, ServiceError::LevelNotAllowed { .. }), "{err}");
    let mut admin_partner = Role::new("Partner Admins", Some(RoleType::Partner));
    admin_partner.administrator = true;
    assert!(service.create_role(&admin(), admin_partner).is_err());
    let mut c = person("cleo", LicenseType::Customer, false);
    c.account = Some(acme.id);
    let mut with_role = c.clone();
    let staff = service
        .create_role(&admin(), Role::new("Staff", Some(RoleType::Employee)))
        .unwrap();
    let before = (before.0 + 1, before.1, before.2 + 1);
    with_role.roles = vec![staff.id];
    let err = service
        .create_user(
            &admin(),
            NewUser {
                user: with_role,
                password: None,
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, ServiceError::RoleTypeMismatch { .. }),
        "{err}"
    );
    // Empty and control-character names.
    for bad in ["", "   ", "tab\tname"] {
        let err = service
            .create_user(
                &admin(),
                NewUser {
                    user: person(bad, LicenseType::Employee, false),
                    password: None,
                },
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                ServiceError::Invalid {
                    field: "userName",
                    ..
                }
            ),
            "{bad:?}: {err}"
        );
    }
    // Deleting an account in use is refused.
    create(&service, c);
    let before = (before.0 + 1, before.1, before.2);
    assert!(matches!(
        service.delete_account(&admin(), acme.id, None).unwrap_err(),
        ServiceError::AccountInUse(_)
    ));

    assert_eq!(
        counts(&service),
        before,
        "refused writes left no audit entry, message or role"
    );
    let bob_now = service.user(&admin(), bob.id).unwrap();
    assert_eq!(bob_now.version, bob.version, "bob was never written");
    assert_eq!(bob_now.manager, None);
    assert_eq!(service.verify().unwrap(), Vec::<String>::new());
}

#[test]
fn compare_and_swap_lets_exactly_one_of_two_writers_win() {
    let (_dir, service) = service_with(LicenseLimits::default());
    let u = create(&service, person("casey", LicenseType::Employee, false));
    let first = service.update_user(&admin(), u.id, Some(u.version), |x| {
        x.title = Some("first".into());
        Ok(())
    });
    let second = service.update_user(&admin(), u.id, Some(u.version), |x| {
        x.title = Some("second".into());
        Ok(())
    });
    assert!(first.is_ok());
    assert!(
        matches!(second, Err(ServiceError::VersionConflict { expected, current }) if current == expected + 1)
    );
    assert_eq!(
        service.user(&admin(), u.id).unwrap().title.as_deref(),
        Some("first")
    );
}

/// An LDAP modify of a role is worked out from the role as read: stored over a change made
/// meanwhile (to its definition or its members) it would undo that change, so it is a
/// conflict, for the LDAP front end to work out again, and writes nothing.
#[test]
fn a_role_change_worked_out_from_an_older_version_is_a_conflict() {
    let (_dir, service) = service_with(LicenseLimits::default());
    let role = service
        .create_role(&admin(), Role::new("Team", Some(RoleType::Employee)))
        .unwrap();
    let ann = create(&service, person("ann", LicenseType::Employee, true));
    let ben = create(&service, person("ben", LicenseType::Employee, true));
    // Read by one client; meanwhile another adds ann.
    let read = service.role(&admin(), role.id).unwrap();
    service
        .change_role(&admin(), role.id, read.clone(), &[ann.id], &[])
        .unwrap();
    let mut described = read.clone();
    described.settings.description = Some("stale".into());
    let err = service
        .change_role(&admin(), role.id, described, &[ben.id], &[])
        .unwrap_err();
    assert!(matches!(err, ServiceError::VersionConflict { .. }), "{err}");
    let now = service.role(&admin(), role.id).unwrap();
    assert_eq!(now.settings.description, None);
    assert_eq!(
        service.role_members(&admin(), role.id).unwrap(),
        vec![ann.id]
    );
    // Worked out again from what is there, it goes through.
    let mut described = now.clone();
    described.settings.description = Some("fresh".into());
    service
        .change_role(&admin(), role.id, described, &[ben.id], &[])
        .unwrap();
    let mut members = service.role_members(&admin(), role.id).unwrap();
    members.sort();
    let mut expected = vec![ann.id, ben.id];
    expected.sort();
    assert_eq!(members, expected);
}
