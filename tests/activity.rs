//! Sign-in activity: the last sign-in of every user, access reviews (CLI, REST, LDAP's
//! `authTimestamp`) and the dormant-account rule (`[activity] deactivate_after_days`).

mod common;

use std::time::Duration as StdDuration;

use common::{admin, create, person, service_with};
use rollcall::audit::{AuditKind, Source};
use rollcall::model::{LicenseLimits, LicenseType, PrincipalKind, Role, RoleType, User};
use rollcall::outbox::MessageKind;
use rollcall::service::{DormancyPolicy, LoginSource, SecondFactor, Service};
use time::{Duration, OffsetDateTime};

const PASSWORD: &str = "Correct-Horse-42";

fn sign_in(service: &Service, name: &str) {
    service
        .login(
            name,
            PASSWORD,
            SecondFactor::Separate(None),
            LoginSource {
                source: Source::Rest,
                client: None,
            },
        )
        .unwrap_or_else(|e| panic!("{name} signs in: {e}"));
}

fn with_password(service: &Service, user: User) -> User {
    let user = create(service, user);
    service.set_password(&admin(), user.id, PASSWORD).unwrap();
    user
}

fn employee_seats(service: &Service) -> u64 {
    service
        .license_usage()
        .unwrap()
        .into_iter()
        .find(|u| u.license == LicenseType::Employee)
        .unwrap()
        .used
}

fn active(service: &Service, name: &str) -> bool {
    service.user_by_name(&admin(), name).unwrap().active
}

/// The rule is tried with a policy of seconds rather than days: what is under test is which
/// users it picks and what it does to them, and only real sign-ins and activations, at real
/// times, can tell a recent user from an idle one.
#[test]
fn the_dormant_rule_deactivates_only_people_idle_past_the_limit() {
    let (_dir, service) = service_with(LicenseLimits {
        employee: Some(20),
        ..LicenseLimits::default()
    });
    let policy = DormancyPolicy {
        after: Duration::seconds(2),
        per_run: 10,
    };
    let now = OffsetDateTime::now_utc;
    // Before tracking starts nobody is dormant, whatever the records say.
    with_password(&service, person("idle", LicenseType::Employee, true));
    let untracked = service
        .deactivate_dormant(policy, now() + Duration::days(365))
        .unwrap();
    assert!(untracked.deactivated.is_empty(), "{untracked:?}");
    assert!(active(&service, "idle"));
    service
        .start_activity_tracking(now() - Duration::days(90))
        .unwrap();

    with_password(&service, person("recent", LicenseType::Employee, true));
    create(&service, person("inactive", LicenseType::Employee, false));
    let later = create(&service, person("later", LicenseType::Employee, false));
    let mut api = User::new("robot");
    api.kind = PrincipalKind::Api;
    api.active = true;
    create(&service, api);
    let mut sso_role = Role::new("SSO only", Some(RoleType::Employee));
    sso_role.settings.password_login_disabled = true;
    let sso_role = service.create_role(&admin(), sso_role).unwrap();
    let sso = create(&service, person("sso", LicenseType::Employee, true));
    service.add_member(&admin(), sso_role.id, sso.id).unwrap();
    // The only administrator, idle like `idle`.
    let mut admins = Role::new("Admins", Some(RoleType::Employee));
    admins.administrator = true;
    let admins = service.create_role(&admin(), admins).unwrap();
    let boss = with_password(&service, person("boss", LicenseType::Employee, true));
    service.add_member(&admin(), admins.id, boss.id).unwrap();

    std::thread::sleep(StdDuration::from_millis(3000));
    sign_in(&service, "recent");
    service.set_active(&admin(), later.id, true, None).unwrap();
    let seats_before = employee_seats(&service);

    let run = service.deactivate_dormant(policy, now()).unwrap();
    assert_eq!(run.deactivated, ["idle"], "{run:?}");
    assert_eq!(run.kept.len(), 1, "the last administrator stays: {run:?}");
    assert!(run.kept[0].contains("boss"), "{run:?}");
    assert_eq!(run.deferred, 0);
    assert!(!active(&service, "idle"));
    for name in ["recent", "later", "robot", "sso", "boss"] {
        assert!(active(&service, name), "{name} was left active");
    }
    assert_eq!(
        employee_seats(&service),
        seats_before - 1,
        "the dormant user's license is free"
    );

    let idle = service.user_by_name(&admin(), "idle").unwrap();
    let events = service.audit_events().unwrap();
    let deactivated: Vec<_> = events
        .iter()
        .filter(|e| e.kind == AuditKind::UserDeactivated)
        .collect();
    assert_eq!(deactivated.len(), 1, "{deactivated:?}");
    assert_eq!(deactivated[0].target.as_deref(), Some(&*idle.id.to_string()));
    assert_eq!(deactivated[0].actor, "system");
    let detail = deactivated[0].detail.as_deref().unwrap();
    assert!(
        detail.starts_with("dormant: no activity for 0 days (no sign-in recorded)"),
        "{detail}"
    );
    let notices: Vec<_> = service
        .outbox()
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == MessageKind::DormantDeactivated)
        .collect();
    assert_eq!(notices.len(), 1, "one notice per deactivated user");
    assert_eq!(notices[0].user, Some(idle.id));
    assert_eq!(notices[0].subject, "Dormant account deactivated: idle");
    assert!(
        notices[0]
            .body
            .contains("idle was deactivated after 0 days without signing in (no sign-in recorded); its employee license is free again"),
        "{}",
        notices[0].body
    );

    // A second run finds nobody new; an administrator who brings the user back is not undone
    // by the next run, since the activation counts as activity.
    assert!(
        service
            .deactivate_dormant(policy, now())
            .unwrap()
            .deactivated
            .is_empty()
    );
    service.set_active(&admin(), idle.id, true, None).unwrap();
    assert!(
        service
            .deactivate_dormant(policy, now())
            .unwrap()
            .deactivated
            .is_empty()
    );
    assert!(active(&service, "idle"));
}

#[test]
fn a_run_deactivates_at_most_its_share_and_leaves_the_rest_for_the_next() {
    let (_dir, service) = service_with(LicenseLimits::default());
    service
        .start_activity_tracking(OffsetDateTime::now_utc() - Duration::days(1))
        .unwrap();
    for name in ["a", "b", "c"] {
        create(&service, person(name, LicenseType::Employee, true));
    }
    std::thread::sleep(StdDuration::from_millis(1500));
    let policy = DormancyPolicy {
        after: Duration::seconds(1),
        per_run: 2,
    };
    let first = service
        .deactivate_dormant(policy, OffsetDateTime::now_utc())
        .unwrap();
    assert_eq!(first.deactivated.len(), 2, "{first:?}");
    assert_eq!(first.deferred, 1);
    let second = service
        .deactivate_dormant(policy, OffsetDateTime::now_utc())
        .unwrap();
    assert_eq!(second.deactivated.len(), 1, "{second:?}");
    assert_eq!(second.deferred, 0);
    for name in ["a", "b", "c"] {
        assert!(!active(&service, name));
    }
}

#[test]
fn sign_ins_are_recorded_once_a_minute_and_forgotten_with_the_person() {
    let (_dir, service) = service_with(LicenseLimits::default());
    let since = service
        .start_activity_tracking(OffsetDateTime::now_utc())
        .unwrap();
    assert_eq!(
        service
            .start_activity_tracking(OffsetDateTime::now_utc() + Duration::days(3))
            .unwrap(),
        since,
        "tracking starts once"
    );
    let user = with_password(&service, person("carol", LicenseType::Employee, true));
    assert_eq!(service.activity(&admin(), user.id).unwrap().last_login, None);
    let before = OffsetDateTime::now_utc();
    sign_in(&service, "carol");
    let first = service
        .activity(&admin(), user.id)
        .unwrap()
        .last_login
        .expect("recorded");
    assert!(first >= before - Duration::seconds(1) && first <= OffsetDateTime::now_utc());
    let audited = service.audit_events().unwrap().len();
    sign_in(&service, "carol");
    assert_eq!(
        service.activity(&admin(), user.id).unwrap().last_login,
        Some(first),
        "a sign-in within the minute keeps the recorded one"
    );
    assert_eq!(
        service.audit_events().unwrap().len(),
        audited + 1,
        "every sign-in is still audited"
    );
    service.anonymise_user(&admin(), user.id, None).unwrap();
    assert_eq!(
        service.references().last_login(user.id).unwrap(),
        None,
        "when an anonymised person signed in is erased with the rest"
    );
}
