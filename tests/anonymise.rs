//! Anonymisation (seed 000): final, erases personal data, frees the userName and the license.

mod common;

use common::*;
use rollcall::model::{LicenseLimits, LicenseType, Role, RoleType};
use rollcall::service::{NewUser, Plan, ServiceError, UserLookup};

#[test]
fn anonymise_erases_data_hides_the_user_frees_the_name_and_the_license() {
    let (_dir, service) = service_with(LicenseLimits {
        employee: Some(1),
        ..LicenseLimits::default()
    });
    let staff = service
        .create_role(&admin(), Role::new("Staff", Some(RoleType::Employee)))
        .unwrap();
    let mut u = person("Jane.Doe", LicenseType::Employee, true);
    u.external_id = Some("okta-123".into());
    u.name.given_name = Some("Jane".into());
    u.title = Some("Engineer".into());
    let jane = service
        .create_user(
            &admin(),
            NewUser {
                user: u,
                password: Some("Jane-Secret-123".into()),
            },
        )
        .unwrap();
    service.add_member(&admin(), staff.id, jane.id).unwrap();

    service.anonymise_user(&admin(), jane.id, None).unwrap();

    // Not readable by id, name, or any index.
    assert!(matches!(
        service.user(&admin(), jane.id),
        Err(ServiceError::NotFound { .. })
    ));
    assert!(service.user_by_name(&admin(), "jane.doe").is_err());
    for lookup in [
        UserLookup::ExternalId("okta-123".into()),
        UserLookup::Email("jane.doe@example.com".into()),
        UserLookup::Role(staff.id),
    ] {
        let mut found = 0;
        service
            .list_users(&admin(), &Plan::Lookup(lookup.clone()), &mut |_| {
                found += 1;
                std::ops::ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(found, 0, "{lookup:?}");
    }
    assert!(service.role_members(&admin(), staff.id).unwrap().is_empty());

    // License freed: the single employee seat is available again, and the name is reusable.
    assert_eq!(service.license_usage().unwrap()[0].used, 0);
    let again = create(&service, person("jane.doe", LicenseType::Employee, true));
    assert_ne!(again.id, jane.id);

    // Final: the record cannot be brought back through any write.
    assert!(service.set_active(&admin(), jane.id, true, None).is_err());
    assert!(service.anonymise_user(&admin(), jane.id, None).is_err());

    // The audit trail keeps the id but no personal data of the anonymisation itself.
    let events = service.audit_events().unwrap();
    let last = events
        .iter()
        .rev()
        .find(|e| e.target.as_deref() == Some(&jane.id.to_string()))
        .unwrap();
    assert_eq!(last.kind, rollcall::audit::AuditKind::UserAnonymised);
    assert!(last.before.is_none() && last.after.is_none());
    let audit_text = serde_json::to_string(&events).unwrap();
    assert!(
        !audit_text.contains("argon2"),
        "hashes never reach the audit trail"
    );
    assert_eq!(service.verify().unwrap(), Vec::<String>::new());
}
