//! Anonymisation (seed 000): final, erases personal data, frees the userName and the license.

mod common;

use common::*;
use rollcall::audit::AuditKind;
use rollcall::model::{LicenseLimits, LicenseType, Role, RoleType};
use rollcall::outbox::MessageKind;
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
    let mut report = person("rex", LicenseType::Employee, false);
    report.manager = Some(jane.id);
    let rex = create(&service, report);

    service.anonymise_user(&admin(), jane.id, None).unwrap();

    // Her reports are left without a manager, not pointing at someone who is gone.
    let rex = service.user(&admin(), rex.id).unwrap();
    assert_eq!(rex.manager, None);
    assert!(service.audit_events().unwrap().iter().any(|e| {
        e.target.as_deref() == Some(&rex.id.to_string())
            && e.detail.as_deref() == Some("its manager was anonymised")
    }));

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
        UserLookup::Manager(jane.id),
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

/// Anonymisation reaches back into the audit trail: the events about the user stay (what
/// happened, when, by whom) but lose the snapshots that held the personal data, and a refused
/// activation recorded under the userName is then recorded under the id.
#[test]
fn anonymise_erases_personal_data_from_earlier_audit_events() {
    let (_dir, service) = service_with(LicenseLimits {
        employee: Some(1),
        ..LicenseLimits::default()
    });
    let _seat_holder = create(&service, person("holder", LicenseType::Employee, true));
    let mut u = person("Ann.Ray", LicenseType::Employee, false);
    u.external_id = Some("okta-ann-77".into());
    u.title = Some("Cartographer".into());
    let ann = create(&service, u);
    let mut changed = service.user(&admin(), ann.id).unwrap();
    changed.title = Some("Chief Cartographer".into());
    service
        .replace_user(&admin(), ann.id, changed, None, None)
        .unwrap();
    // Past the limit: refused, and the refusal is audited under the name.
    assert!(matches!(
        service.set_active(&admin(), ann.id, true, None),
        Err(ServiceError::LicenseLimit { .. })
    ));
    let personal = [
        "Ann.Ray",
        "Ann.Ray@example.com",
        "okta-ann-77",
        "Cartographer",
    ];
    let before = serde_json::to_string(&service.audit_events().unwrap()).unwrap();
    for p in personal {
        assert!(
            before.contains(p),
            "{p} is in the trail before anonymisation"
        );
    }
    let ann_id = ann.id.to_string();
    let about_ann_before = service
        .audit_events()
        .unwrap()
        .iter()
        .filter(|e| e.target.as_deref() == Some(ann_id.as_str()))
        .count();

    service.anonymise_user(&admin(), ann.id, None).unwrap();

    let events = service.audit_events().unwrap();
    let after = serde_json::to_string(&events).unwrap();
    for p in personal {
        assert!(!after.contains(p), "{p} is still in the trail: {after}");
    }
    let about_ann: Vec<_> = events
        .iter()
        .filter(|e| e.target.as_deref() == Some(ann_id.as_str()))
        .collect();
    // Every earlier event is still there (plus the refusal, now under the id, and the
    // anonymisation itself), erased and without snapshots.
    assert_eq!(about_ann.len(), about_ann_before + 2);
    let kinds: Vec<_> = about_ann.iter().map(|e| e.kind).collect();
    for kind in [
        AuditKind::UserCreated,
        AuditKind::UserChanged,
        AuditKind::LicenseRefused,
        AuditKind::UserAnonymised,
    ] {
        assert!(kinds.contains(&kind), "{kind:?} in {kinds:?}");
    }
    for e in &about_ann {
        assert!(e.before.is_none() && e.after.is_none(), "{e:?}");
        assert_eq!(e.erased, e.kind != AuditKind::UserAnonymised, "{e:?}");
    }
    // Other users' events are untouched.
    assert!(after.contains("holder"));
    assert_eq!(service.verify().unwrap(), Vec::<String>::new());
}

/// A data directory from before the audit trail was indexed by target and the outbox by user
/// (format 1) is upgraded on open, through every later format: the indexes are built (that of
/// employee numbers, format 4, too), and anonymisation then finds the old events and messages.
#[test]
fn a_format_1_store_gets_its_new_indexes_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let ann_id = {
        let service = open_service(dir.path(), LicenseLimits::default());
        let mut u = person("Old.Timer", LicenseType::Employee, true);
        u.title = Some("Archivist".into());
        u.employee_number = Some("OT-1".into());
        create(&service, u).id
    };
    {
        // What a format 1 directory looks like: no index, format 1.
        let db = when_released(|| sled::open(dir.path().join("store")));
        db.drop_tree("idx_audit_target").unwrap();
        db.drop_tree("idx_outbox_user").unwrap();
        db.drop_tree("idx_user_employee_number").unwrap();
        db.insert("store_format", &1u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let service = open_service(dir.path(), LicenseLimits::default());
    assert_eq!(service.verify().unwrap(), Vec::<String>::new());
    service.anonymise_user(&admin(), ann_id, None).unwrap();
    let after = serde_json::to_string(&service.audit_events().unwrap()).unwrap();
    assert!(!after.contains("Archivist") && !after.contains("Old.Timer"));
    // The activation notice written under format 1 was found through the new index too.
    let notice = service
        .outbox()
        .unwrap()
        .into_iter()
        .find(|m| m.user == Some(ann_id))
        .expect("the activation notice");
    assert!(notice.erased && notice.to.is_none() && notice.body.is_empty());
    assert_eq!(service.verify().unwrap(), Vec::<String>::new());
    drop(service);
    // Upgraded once: the directory now says the current format and opens as it is.
    let db = when_released(|| sled::open(dir.path().join("store")));
    assert_eq!(
        db.get("store_format").unwrap().unwrap().as_ref(),
        &4u32.to_be_bytes()
    );
}

/// Two names a format 2 directory held apart that format 3 folds alike (`zoe` and a fullwidth
/// `ｚoe`) stop the upgrade before anything is written, naming both and what to do: one of
/// them would otherwise answer for the other.
#[test]
fn a_format_2_store_with_look_alike_names_is_not_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let twin = {
        let service = open_service(dir.path(), LicenseLimits::default());
        create(&service, person("zoe", LicenseType::Employee, false));
        create(&service, person("zoe2", LicenseType::Employee, false))
    };
    {
        // zoe2 renamed as format 2 allowed: its record and its (lower-cased) key.
        let db = when_released(|| sled::open(dir.path().join("store")));
        let users = db.open_tree("users").unwrap();
        let stored = users.get(twin.id.as_bytes()).unwrap().unwrap();
        let mut record: serde_json::Value = serde_json::from_slice(&stored[1..]).unwrap();
        record["user_name"] = serde_json::json!("\u{FF5A}oe");
        let mut bytes = vec![stored[0]];
        bytes.extend(serde_json::to_vec(&record).unwrap());
        users.insert(twin.id.as_bytes(), bytes).unwrap();
        let names = db.open_tree("idx_user_name").unwrap();
        names.remove("zoe2").unwrap();
        names
            .insert("\u{FF5A}oe", twin.id.as_bytes().as_slice())
            .unwrap();
        db.insert("store_format", &2u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let refused = rollcall::store::SledStore::open(
        &dir.path().join("store"),
        &rollcall::store::StoreOptions::default(),
    )
    .err()
    .expect("the upgrade is refused");
    let said = refused.to_string();
    assert!(
        said.contains("\"zoe\"") && said.contains("\"\u{FF5A}oe\"") && said.contains("rename"),
        "{said}"
    );
    let db = when_released(|| sled::open(dir.path().join("store")));
    assert_eq!(
        db.get("store_format").unwrap().unwrap().as_ref(),
        &2u32.to_be_bytes(),
        "nothing written"
    );
}

/// Names are folded with their compatibility forms since format 3 (a fullwidth `Ｊo` is `jo`).
/// A format 2 directory, whose index keys were only lower-cased, is re-keyed on open (and gets
/// the index of employee numbers of format 4): the user is found by any spelling, and a
/// look-alike can no longer be created.
#[test]
fn a_format_2_store_refolds_its_names_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let jo = {
        let service = open_service(dir.path(), LicenseLimits::default());
        let mut u = person("\u{FF2A}o.Wide", LicenseType::Employee, true);
        u.emails[0].value = "\u{FF2A}o@example.com".into();
        u.employee_number = Some("\u{FF2A}O 7".into());
        create(&service, u)
    };
    {
        // What format 2 wrote: keys lower-cased only.
        let db = when_released(|| sled::open(dir.path().join("store")));
        let names = db.open_tree("idx_user_name").unwrap();
        names
            .remove("jo.wide")
            .unwrap()
            .expect("indexed under the new fold");
        names
            .insert("\u{FF4A}o.wide", jo.id.as_bytes().as_slice())
            .unwrap();
        let emails = db.open_tree("idx_user_email").unwrap();
        let key = |text: &str| [text.as_bytes(), &[0], jo.id.as_bytes()].concat();
        emails
            .remove(key("jo@example.com"))
            .unwrap()
            .expect("indexed");
        emails.insert(key("\u{FF4A}o@example.com"), &[]).unwrap();
        db.drop_tree("idx_user_employee_number").unwrap();
        db.insert("store_format", &2u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let service = open_service(dir.path(), LicenseLimits::default());
    assert_eq!(service.verify().unwrap(), Vec::<String>::new());
    for spelling in ["jo.wide", "JO.WIDE", "\u{FF2A}o.Wide"] {
        let found = service.user_by_name(&admin(), spelling).expect(spelling);
        assert_eq!(found.id, jo.id, "{spelling}");
    }
    assert!(matches!(
        service.create_user(
            &admin(),
            NewUser {
                user: person("Jo.Wide", LicenseType::Employee, false),
                password: None
            }
        ),
        Err(ServiceError::UserNameTaken(_))
    ));
}

/// Messages to an anonymised user, and admin notifications that name it, lose address,
/// subject, body and link; one not yet sent is never sent. Messages to and about others stay
/// as they were.
#[test]
fn anonymise_erases_messages_to_and_about_the_user() {
    let (_dir, service) = service_with(LicenseLimits {
        employee: Some(2),
        ..LicenseLimits::default()
    });
    let other = create(
        &service,
        person("Other.Person", LicenseType::Employee, true),
    );
    let bo = create(&service, person("Bo.Lind", LicenseType::Employee, true));
    // Bo gives up the seat, someone takes it, and Bo's reactivation is refused: the admins get
    // a notice that names Bo.
    service.set_active(&admin(), bo.id, false, None).unwrap();
    create(&service, person("Filler", LicenseType::Employee, true));
    assert!(matches!(
        service.set_active(&admin(), bo.id, true, None),
        Err(ServiceError::LicenseLimit { .. })
    ));
    let now = time::OffsetDateTime::now_utc();
    let about =
        |service: &rollcall::service::Service, id| -> Vec<rollcall::outbox::OutboxMessage> {
            service
                .outbox()
                .unwrap()
                .into_iter()
                .filter(|m| m.user == Some(id))
                .collect()
        };
    let before = about(&service, bo.id);
    let kinds: Vec<_> = before.iter().map(|m| m.kind).collect();
    assert_eq!(
        kinds,
        [MessageKind::Activation, MessageKind::LicenseRefused],
        "an activation notice with a link, then the admins' notice"
    );
    assert!(before[0].to.as_deref() == Some("Bo.Lind@example.com"));
    assert!(before[0].link_expires.is_some());
    assert!(
        before
            .iter()
            .all(|m| m.body.contains("Bo.Lind") && m.is_due(now))
    );

    service.anonymise_user(&admin(), bo.id, None).unwrap();

    for m in about(&service, bo.id) {
        assert!(m.erased && m.undeliverable && !m.sent, "{m:?}");
        assert!(m.to.is_none() && m.subject.is_empty() && m.body.is_empty());
        assert!(m.link_expires.is_none());
    }
    let all = service.outbox().unwrap();
    assert!(
        all.iter()
            .all(|m| !m.body.contains("Bo.Lind") && !format!("{m:?}").contains("Bo.Lind"))
    );
    let (pending, _) = service
        .pending_messages_from(rollcall::service::OutboxMark::default(), now)
        .unwrap();
    assert!(pending.iter().all(|m| m.user != Some(bo.id)), "never sent");
    assert!(
        pending.iter().any(|m| m.user == Some(other.id)),
        "others' messages are untouched"
    );
    assert_eq!(service.verify().unwrap(), Vec::<String>::new());
}
