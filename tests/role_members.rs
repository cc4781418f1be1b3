//! A role's member list as changes that act on every member see it. A role's new type and its
//! deletion work from the member list read before their transaction; a user given the role
//! meanwhile (created with it, as `user create --role` and imports do, or updated to hold it,
//! as `import --update` does) must send them round again, never be left out: an employee in a
//! partner role, or a user holding a role that no longer exists, is what that would leave.
//!
//! The interleavings are made deterministic with the real store behind a wrapper that runs
//! another change at the moment that matters: just after a change read a role's member list,
//! or inside a transaction, after its body ran and before it commits.

mod common;

use std::sync::{Arc, Mutex};

use rollcall::audit::{AuditEvent, Source};
use rollcall::auth::lockout::LoginState;
use rollcall::auth::session::Session;
use rollcall::model::{Account, AccountId, LicenseType, Role, RoleId, RoleType, User, UserId};
use rollcall::outbox::OutboxMessage;
use rollcall::service::{Actor, NewUser, Policy, Service, ServiceError};
use rollcall::store::{
    BackupError, CommitStats, Iter, SledStore, Store, StoreError, StoreOptions, TxError, Txn,
    UserKey,
};
use rollcall::token::{ApiToken, OneTimeLink, SecretDigest};

type Hook = Box<dyn FnOnce() + Send>;

/// The real store, with one other change run at a chosen moment.
struct Interleaved {
    inner: SledStore,
    /// Runs once, right after the member list of this role was read.
    after_members_read: Mutex<Option<(RoleId, Hook)>>,
    /// Runs once, inside the next transaction, after its body ran the first time.
    within_next_write: Mutex<Option<Hook>>,
}

impl Interleaved {
    fn after_members_read(&self, role: RoleId, hook: impl FnOnce() + Send + 'static) {
        *self.after_members_read.lock().unwrap() = Some((role, Box::new(hook)));
    }

    fn within_next_write(&self, hook: impl FnOnce() + Send + 'static) {
        *self.within_next_write.lock().unwrap() = Some(Box::new(hook));
    }

    fn fired(&self) -> bool {
        self.after_members_read.lock().unwrap().is_none()
            && self.within_next_write.lock().unwrap().is_none()
    }
}

impl Store for Interleaved {
    fn users_by(&self, key: &UserKey) -> Result<Vec<UserId>, StoreError> {
        let ids = self.inner.users_by(key)?;
        let hook = {
            let mut armed = self.after_members_read.lock().unwrap();
            match (key, armed.as_ref()) {
                (UserKey::Role(read), Some((role, _))) if read == role => armed.take(),
                _ => None,
            }
        };
        if let Some((_, hook)) = hook {
            hook();
        }
        Ok(ids)
    }

    fn write(
        &self,
        body: &mut dyn FnMut(&mut dyn Txn) -> Result<(), TxError>,
    ) -> Result<(), StoreError> {
        let mut hook = self.within_next_write.lock().unwrap().take();
        self.inner.write(&mut |tx| {
            let result = body(tx);
            if let Some(hook) = hook.take() {
                hook();
            }
            result
        })
    }

    fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.inner.user(id)
    }
    fn shared_user(&self, id: UserId) -> Result<Option<Arc<User>>, StoreError> {
        self.inner.shared_user(id)
    }
    fn user_by_name(&self, name: &str) -> Result<Option<UserId>, StoreError> {
        self.inner.user_by_name(name)
    }
    fn named_user_ids(&self) -> Result<Vec<UserId>, StoreError> {
        self.inner.named_user_ids()
    }
    fn users(&self) -> Iter<'_, User> {
        self.inner.users()
    }
    fn shared_users(&self, after: Option<UserId>) -> Iter<'_, Arc<User>> {
        self.inner.shared_users(after)
    }
    fn role(&self, id: RoleId) -> Result<Option<Role>, StoreError> {
        self.inner.role(id)
    }
    fn role_by_name(&self, name: &str) -> Result<Option<RoleId>, StoreError> {
        self.inner.role_by_name(name)
    }
    fn roles(&self) -> Iter<'_, Role> {
        self.inner.roles()
    }
    fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        self.inner.account(id)
    }
    fn account_by_name(&self, name: &str) -> Result<Option<AccountId>, StoreError> {
        self.inner.account_by_name(name)
    }
    fn accounts(&self) -> Iter<'_, Account> {
        self.inner.accounts()
    }
    fn child_accounts(&self, parent: AccountId) -> Result<Vec<AccountId>, StoreError> {
        self.inner.child_accounts(parent)
    }
    fn seats(&self, license: LicenseType) -> Result<u64, StoreError> {
        self.inner.seats(license)
    }
    fn outbox(&self) -> Iter<'_, OutboxMessage> {
        self.inner.outbox()
    }
    fn outbox_message(&self, id: uuid::Uuid) -> Result<Option<OutboxMessage>, StoreError> {
        self.inner.outbox_message(id)
    }
    fn outbox_from(&self, from: uuid::Uuid) -> Iter<'_, OutboxMessage> {
        self.inner.outbox_from(from)
    }
    fn audit(&self) -> Iter<'_, AuditEvent> {
        self.inner.audit()
    }
    fn audit_from(&self, from: uuid::Uuid) -> Iter<'_, AuditEvent> {
        self.inner.audit_from(from)
    }
    fn audit_about(&self, target: &str) -> Iter<'_, AuditEvent> {
        self.inner.audit_about(target)
    }
    fn api_token(&self, digest: &SecretDigest) -> Result<Option<ApiToken>, StoreError> {
        self.inner.api_token(digest)
    }
    fn api_tokens(&self) -> Iter<'_, (SecretDigest, ApiToken)> {
        self.inner.api_tokens()
    }
    fn link(&self, digest: &SecretDigest) -> Result<Option<OneTimeLink>, StoreError> {
        self.inner.link(digest)
    }
    fn links(&self) -> Iter<'_, (SecretDigest, OneTimeLink)> {
        self.inner.links()
    }
    fn login_state(&self, user: UserId) -> Result<Option<LoginState>, StoreError> {
        self.inner.login_state(user)
    }
    fn session(&self, user: UserId, jti: uuid::Uuid) -> Result<Option<Session>, StoreError> {
        self.inner.session(user, jti)
    }
    fn sessions_of(&self, user: UserId) -> Result<Vec<Session>, StoreError> {
        self.inner.sessions_of(user)
    }
    fn sessions(&self) -> Iter<'_, Session> {
        self.inner.sessions()
    }
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.meta(key)
    }
    fn generation(&self) -> u64 {
        self.inner.generation()
    }
    fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush()
    }
    fn probe(&self) -> Result<(), StoreError> {
        self.inner.probe()
    }
    fn commit_stats(&self) -> CommitStats {
        self.inner.commit_stats()
    }
    fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.inner.size_on_disk()
    }
    fn backup(&self, out: &mut dyn std::io::Write) -> Result<u64, BackupError> {
        self.inner.backup(out)
    }
    fn findings(&self) -> Result<rollcall::store::Findings, StoreError> {
        self.inner.findings()
    }
}

struct Directory {
    _dir: tempfile::TempDir,
    store: Arc<Interleaved>,
    service: Arc<Service>,
}

fn directory() -> Directory {
    let dir = tempfile::tempdir().unwrap();
    let inner = SledStore::open(&dir.path().join("store"), &StoreOptions::default()).unwrap();
    let store = Arc::new(Interleaved {
        inner,
        after_members_read: Mutex::default(),
        within_next_write: Mutex::default(),
    });
    let service = Service::new(
        Arc::clone(&store) as Arc<dyn Store>,
        Policy {
            argon2: common::fast_argon2(),
            ..Policy::default()
        },
    );
    Directory {
        _dir: dir,
        store,
        service: Arc::new(service),
    }
}

fn cli() -> Actor {
    Actor::system(Source::Cli)
}

fn role(service: &Service, name: &str, role_type: Option<RoleType>) -> Role {
    service
        .create_role(&cli(), Role::new(name, role_type))
        .unwrap()
}

/// A person with the role, as `user create --role` and an import line create one.
fn create_holding(service: &Service, name: &str, license: LicenseType, role: RoleId) -> User {
    let mut user = common::person(name, license, false);
    user.roles = vec![role];
    service
        .create_user(
            &cli(),
            NewUser {
                user,
                password: None,
            },
        )
        .unwrap()
}

/// The ways a user comes to hold a role through its own record rather than through the role.
#[derive(Clone, Copy, Debug)]
enum Grant {
    /// Created with it (`user create --role`, an import line).
    Create,
    /// Updated to hold it (`import --update` of a sheet row naming it).
    Update,
}

impl Grant {
    const ALL: [Grant; 2] = [Grant::Create, Grant::Update];

    /// Makes `name` (an employee) hold `role`.
    fn run(self, service: &Service, name: &str, role: RoleId) {
        match self {
            Grant::Create => {
                create_holding(service, name, LicenseType::Employee, role);
            }
            Grant::Update => {
                let user = service.user_by_name(&cli(), name).unwrap();
                service
                    .update_user(&cli(), user.id, None, |u| {
                        u.roles.push(role);
                        Ok(())
                    })
                    .unwrap();
            }
        }
    }

    /// What must exist before the grant runs.
    fn prepare(self, service: &Service, name: &str) {
        if let Grant::Update = self {
            common::create(service, common::person(name, LicenseType::Employee, false));
        }
    }
}

#[test]
fn holding_a_role_through_ones_own_record_moves_the_roles_version() {
    let d = directory();
    let crew = role(&d.service, "Crew", None);
    let held = create_holding(&d.service, "ada", LicenseType::Employee, crew.id);
    let after_create = d.service.role(&cli(), crew.id).unwrap().version;
    assert!(after_create > crew.version, "created holding it");
    d.service
        .update_user(&cli(), held.id, None, |u| {
            u.roles.clear();
            Ok(())
        })
        .unwrap();
    let after_removal = d.service.role(&cli(), crew.id).unwrap().version;
    assert!(after_removal > after_create, "updated to hold it no more");
    // A change that leaves the user's roles alone leaves the role alone.
    d.service
        .update_user(&cli(), held.id, None, |u| {
            u.title = Some("Pilot".into());
            Ok(())
        })
        .unwrap();
    assert_eq!(
        d.service.role(&cli(), crew.id).unwrap().version,
        after_removal
    );
    // One membership audit entry per change: the user's own, none added for the role.
    let about_role = d
        .service
        .audit_events()
        .unwrap()
        .into_iter()
        .filter(|e| e.target.as_deref() == Some(crew.id.to_string().as_str()))
        .count();
    assert_eq!(about_role, 1, "the role's creation only");
}

/// A plain group becomes a partner role while an employee is given it: the new type must be
/// checked against that employee too, and refused.
#[test]
fn a_role_typed_while_an_employee_is_given_it_is_refused() {
    for grant in Grant::ALL {
        let d = directory();
        let crew = role(&d.service, "Crew", None);
        grant.prepare(&d.service, "eve");
        let service = Arc::clone(&d.service);
        d.store
            .after_members_read(crew.id, move || grant.run(&service, "eve", crew.id));

        let mut partner = crew.clone();
        partner.role_type = Some(RoleType::Partner);
        let refused = d.service.replace_role(&cli(), crew.id, partner, None);
        assert!(d.store.fired(), "{grant:?}");
        match refused {
            Err(ServiceError::RoleTypeMismatch { user, license, .. }) => {
                assert_eq!(user, "eve", "{grant:?}");
                assert_eq!(license, LicenseType::Employee, "{grant:?}");
            }
            other => panic!("{grant:?}: the new member was not checked: {other:?}"),
        }
        assert_eq!(d.service.role(&cli(), crew.id).unwrap().role_type, None);
        let eve = d.service.user_by_name(&cli(), "eve").unwrap();
        assert_eq!(eve.roles, [crew.id], "{grant:?}");
        assert_eq!(d.service.verify().unwrap(), Vec::<String>::new());
    }
}

/// A role is deleted while a user is given it, the grant landing after the deletion read the
/// member list (before its transaction, or inside it): the deletion must take the role from
/// that user too, so that no user is left holding a role that does not exist.
#[test]
fn a_role_deleted_while_a_user_is_given_it_is_taken_from_that_user_too() {
    for grant in Grant::ALL {
        for inside in [false, true] {
            let case = format!("{grant:?}, inside the deletion's transaction: {inside}");
            let d = directory();
            let temp = role(&d.service, "Temp", Some(RoleType::Employee));
            create_holding(&d.service, "first", LicenseType::Employee, temp.id);
            grant.prepare(&d.service, "late");
            let service = Arc::clone(&d.service);
            let run = move || grant.run(&service, "late", temp.id);
            if inside {
                d.store.within_next_write(run);
            } else {
                d.store.after_members_read(temp.id, run);
            }

            d.service.delete_role(&cli(), temp.id, None).unwrap();
            assert!(d.store.fired(), "{case}");
            assert!(d.service.role(&cli(), temp.id).is_err(), "{case}");
            for name in ["first", "late"] {
                let user = d.service.user_by_name(&cli(), name).unwrap();
                assert_eq!(user.roles, Vec::<RoleId>::new(), "{name}, {case}");
            }
            let detached = d
                .service
                .audit_events()
                .unwrap()
                .into_iter()
                .filter_map(|e| e.detail.filter(|d| d.ends_with("members detached")))
                .collect::<Vec<_>>();
            assert_eq!(detached, ["2 members detached"], "{case}");
            assert_eq!(d.service.verify().unwrap(), Vec::<String>::new(), "{case}");
        }
    }
}

/// The other way round: the deletion commits while a user is being created with the role.
/// The creation is refused because the role does not exist, and nothing is written.
#[test]
fn a_user_created_with_a_role_deleted_meanwhile_is_refused() {
    let d = directory();
    let temp = role(&d.service, "Temp", Some(RoleType::Employee));
    let service = Arc::clone(&d.service);
    d.store.within_next_write(move || {
        service.delete_role(&cli(), temp.id, None).unwrap();
    });
    let mut user = common::person("late", LicenseType::Employee, false);
    user.roles = vec![temp.id];
    let refused = d.service.create_user(
        &cli(),
        NewUser {
            user,
            password: None,
        },
    );
    assert!(d.store.fired());
    assert!(
        matches!(refused, Err(ServiceError::UnknownRole(_))),
        "{refused:?}"
    );
    assert!(d.service.user_by_name(&cli(), "late").is_err());
    assert_eq!(d.service.verify().unwrap(), Vec::<String>::new());
}

/// A role of more members than one transaction detaches is deleted a batch at a time: every
/// member ends without it, each batch is audited and the last entry counts them all, and the
/// store agrees with itself. A member who comes to hold the role once the deletion has read
/// its member list is detached too.
#[test]
fn a_large_role_is_deleted_a_batch_at_a_time_and_nobody_keeps_it() {
    use rollcall::audit::AuditKind;
    use rollcall::service::AuditQuery;
    let d = directory();
    let crowd = role(&d.service, "Crowd", None);
    let mut ids: Vec<UserId> = (0..1100)
        .map(|i| {
            create_holding(
                &d.service,
                &format!("p{i:04}"),
                LicenseType::Employee,
                crowd.id,
            )
            .id
        })
        .collect();
    let service = Arc::clone(&d.service);
    let late = Arc::new(Mutex::new(None));
    let late_id = Arc::clone(&late);
    d.store.after_members_read(crowd.id, move || {
        let user = create_holding(&service, "late", LicenseType::Employee, crowd.id);
        *late_id.lock().unwrap() = Some(user.id);
    });
    d.service.delete_role(&cli(), crowd.id, None).unwrap();
    ids.push(late.lock().unwrap().expect("the late member was created"));

    assert!(matches!(
        d.service.role(&cli(), crowd.id),
        Err(ServiceError::NotFound { .. })
    ));
    assert!(
        d.store
            .users_by(&UserKey::Role(crowd.id))
            .unwrap()
            .is_empty()
    );
    for id in &ids {
        let user = d.service.user(&cli(), *id).unwrap();
        assert!(!user.roles.contains(&crowd.id), "{}", user.user_name);
    }
    let events = d
        .service
        .audit_query(
            &cli(),
            &AuditQuery {
                target: Some(crowd.id.to_string()),
                ..AuditQuery::default()
            },
        )
        .unwrap();
    let details: Vec<(AuditKind, String)> = events
        .into_iter()
        .filter(|e| {
            matches!(
                e.kind,
                AuditKind::MembershipChanged | AuditKind::RoleDeleted
            )
        })
        .map(|e| (e.kind, e.detail.unwrap_or_default()))
        .filter(|(kind, detail)| *kind == AuditKind::RoleDeleted || detail.contains("deletion"))
        .collect();
    assert_eq!(
        details,
        [
            (
                AuditKind::MembershipChanged,
                "1024 members detached for the role's deletion".to_string()
            ),
            (AuditKind::RoleDeleted, "1101 members detached".to_string()),
        ]
    );
    assert_eq!(d.service.verify().unwrap(), Vec::<String>::new());
}
