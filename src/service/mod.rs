//! The core service: the one place where the directory's rules are decided. LDAP, SCIM, REST and
//! the CLI all call these methods; none of them writes to the store or decides a rule itself.

mod accounts;
mod activity;
mod admin;
mod announce;
mod audit_query;
mod authz;
mod batch;
mod cancel;
mod derived;
mod error;
mod escalation;
mod expiry;
mod first_start;
mod last_admin;
mod license;
mod lockout;
mod login;
mod membership;
mod mfa;
mod notice;
mod origin;
mod outbox;
mod password_expiry;
mod passwords;
mod profile;
mod query;
mod recovery;
mod refs;
mod retention;
mod review;
mod roles;
mod security_notice;
mod sessions;
mod tokens;
mod users;

use std::net::IpAddr;
use std::sync::Arc;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{AuditEvent, AuditKind, Source};
use crate::mail::Templates;
use crate::model::{LicenseLimits, UserId};
use crate::store::{Store, StoreError, TxError, Txn};

pub use activity::{Activity, DormancyPolicy, Dormant};
pub use admin::{CountOutOfRange, MAX_OUTBOX_COUNT, OutboxQuery, listing_count};
pub use announce::{Announced, Announcement, Audience};
pub use audit_query::{AuditQuery, MAX_AUDIT_COUNT, is_audit_name};
pub use authz::{IdScope, InTx, Records, Subject, UserScope};
pub use batch::RoleReset;
pub use cancel::{CancelSelection, Cancelled};
pub use error::{NewPassword, Result, ServiceError};
pub use expiry::Swept;
pub use first_start::{FirstStart, FirstStarted};
pub use login::{Expected, LoggedIn, LoginSource, PasswordStanding, SecondFactor};
pub use mfa::Enrolment;
pub use origin::Origin;
pub use outbox::OutboxMark;
pub use password_expiry::PasswordAge;
pub use profile::certificate_problem;
pub use query::{Candidates, Plan, UserLookup};
pub use refs::{References, UserRef};
pub use review::{AccessRow, ReviewFilter};
pub use sessions::{IssuedToken, SessionPrincipal, SessionUse};
pub use tokens::{TokenPrincipal, check_token_secret, token_expiry};
pub use users::{Credential, NewUser};

/// Who is asking, and from where; recorded with every change.
#[derive(Clone, Debug)]
pub struct Actor {
    pub principal: Principal,
    pub source: Source,
    pub client: Option<IpAddr>,
    /// The administrator behind an act-as session; audited next to the principal.
    pub acting_admin: Option<UserId>,
    /// Signed in with a temporary password (`[password] reset_must_change`): it may change that
    /// password and nothing else ([`Service::subject`] refuses everything else).
    pub password_change_only: bool,
    /// When the sign-in behind a long-lived connection (an LDAP bind) happened: a lock, a new
    /// password or a sign-out everywhere since then ends what the connection may do, as it
    /// ends sessions (see [`Service::subject`]).
    pub signed_in: Option<time::OffsetDateTime>,
    /// That sign-in gave a password alone: should the roles come to require MFA, the
    /// connection does nothing more until it binds again with a code.
    pub single_factor: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Principal {
    /// The server itself, or an operator at the CLI on the data directory.
    System,
    User(UserId),
    /// An unauthenticated client: it gets what the guest roles grant (nothing by default).
    Anonymous,
}

impl Actor {
    /// The directory setting itself up (the first start's administrator and roles): nobody
    /// to warn about, and no temporary password.
    pub(super) fn is_own_setup(&self) -> bool {
        self.principal == Principal::System && self.source == Source::System
    }

    pub fn system(source: Source) -> Self {
        Self {
            principal: Principal::System,
            source,
            client: None,
            acting_admin: None,
            password_change_only: false,
            signed_in: None,
            single_factor: false,
        }
    }

    pub fn user(id: UserId, source: Source, client: Option<IpAddr>) -> Self {
        Self {
            principal: Principal::User(id),
            source,
            client,
            acting_admin: None,
            password_change_only: false,
            signed_in: None,
            single_factor: false,
        }
    }

    /// An unauthenticated client: it gets what the guest roles grant.
    pub fn anonymous(source: Source, client: Option<IpAddr>) -> Self {
        Self {
            principal: Principal::Anonymous,
            source,
            client,
            acting_admin: None,
            password_change_only: false,
            signed_in: None,
            single_factor: false,
        }
    }

    /// The actor once its user has chosen its own password ([`Service::change_own_password`]):
    /// a temporary password no longer limits it, so a connection that changed it may go on
    /// without signing in again.
    pub fn with_own_password(&self) -> Self {
        Self {
            password_change_only: false,
            // The new password is this sign-in's own doing: it does not end the connection.
            signed_in: self.signed_in.map(|_| time::OffsetDateTime::now_utc()),
            ..self.clone()
        }
    }

    fn name(&self) -> String {
        match self.principal {
            Principal::System => "system".into(),
            Principal::User(id) => id.to_string(),
            Principal::Anonymous => "anonymous".into(),
        }
    }
}

/// Who may recover a password by email (`POST /auth/password/forgot`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecoveryFor {
    pub administrators: bool,
    pub regular_users: bool,
}

impl Default for RecoveryFor {
    fn default() -> Self {
        Self {
            administrators: true,
            regular_users: true,
        }
    }
}

/// Rules that come from configuration rather than from records.
#[derive(Clone, Debug)]
pub struct Policy {
    pub licenses: LicenseLimits,
    /// Base of links put in messages, e.g. `https://directory.example.com`.
    pub public_url: String,
    /// The `iss` of session tokens (see `Config::token_issuer`).
    pub token_issuer: String,
    /// How long a set-password link in an activation notice works.
    pub activation_link_ttl: time::Duration,
    pub argon2: crate::password::Argon2Params,
    pub password: crate::password::policy::PasswordPolicy,
    pub lockout: crate::auth::lockout::LockoutPolicy,
    /// Session lifetime when no role sets a timeout.
    pub session_timeout: time::Duration,
    pub session_limit: Option<crate::auth::session::SessionLimit>,
    pub act_as: bool,
    pub recovery: bool,
    /// Who may use it, when it is on.
    pub recovery_for: RecoveryFor,
    /// Users are mailed when their password, email address or authenticator changes.
    pub security_notices: bool,
    /// Users are mailed when they sign in from a device they have not used before.
    pub new_device_notices: bool,
    /// `[mfa] email_codes`: how long a mailed sign-in code works; `None` when codes are off.
    pub email_codes: Option<time::Duration>,
    pub recovery_link_ttl: time::Duration,
    /// Subjects and bodies of the messages put in the outbox.
    pub templates: Arc<Templates>,
    /// Custom user attributes: what `User::extensions` may hold, and of which type.
    pub custom: Arc<crate::model::CustomAttributes>,
    /// The dormant-account rule, when `[activity] deactivate_after_days` sets one.
    pub dormancy: Option<DormancyPolicy>,
    /// How long messages stay in the outbox; `None`: for ever.
    pub outbox_keep: Option<time::Duration>,
    /// How long audit events are kept; `None`: for ever.
    pub audit_keep: Option<time::Duration>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            licenses: LicenseLimits::default(),
            public_url: "http://127.0.0.1:8080".into(),
            token_issuer: "http://127.0.0.1:8080".into(),
            activation_link_ttl: time::Duration::hours(72),
            argon2: crate::password::Argon2Params::default(),
            password: crate::password::policy::PasswordPolicy::default(),
            lockout: crate::auth::lockout::LockoutPolicy::default(),
            session_timeout: time::Duration::hours(8),
            session_limit: None,
            act_as: true,
            recovery: true,
            recovery_for: RecoveryFor::default(),
            security_notices: true,
            new_device_notices: true,
            email_codes: None,
            recovery_link_ttl: time::Duration::hours(1),
            templates: Arc::new(Templates::default()),
            custom: Arc::default(),
            dormancy: None,
            outbox_keep: Some(time::Duration::days(90)),
            audit_keep: None,
        }
    }
}

/// Outcome of a transaction body: a rule's refusal is carried out of the store untouched.
enum Step<T> {
    Done(T),
    Refused(ServiceError),
}

#[derive(Clone)]
pub struct Service {
    store: Arc<dyn Store>,
    policy: Arc<Policy>,
    /// Session-token keys, loaded from the store on first use.
    keys: Arc<std::sync::RwLock<Option<Arc<crate::auth::jwt::KeyRing>>>>,
    derived: Arc<derived::Derived>,
    logins: Arc<login::LoginCounts>,
    /// Failed sign-ins by client address, for password spraying.
    sprays: Arc<crate::auth::spray::Sprays>,
    /// Sign-ins being verified, per user, bounded by the failures left before the lock.
    attempts: Arc<crate::auth::attempts::Attempts>,
    /// Woken when a message that someone is waiting for (a sign-in code) is queued, so that
    /// delivery does not wait for its next pass.
    urgent_mail: Arc<tokio::sync::Notify>,
}

impl Service {
    pub fn new(store: Arc<dyn Store>, policy: Policy) -> Self {
        Self {
            store,
            sprays: Arc::new(crate::auth::spray::Sprays::new(policy.lockout.spray())),
            attempts: Arc::default(),
            policy: Arc::new(policy),
            keys: Arc::default(),
            derived: Arc::default(),
            logins: Arc::default(),
            urgent_mail: Arc::default(),
        }
    }

    /// Resolves when a message someone is waiting for has been queued (see
    /// [`crate::mail::delivery`]).
    pub async fn urgent_mail_queued(&self) {
        self.urgent_mail.notified().await;
    }

    /// Reads for decisions made outside a transaction.
    fn records(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// A backup of the whole store, written to `out` (see [`crate::store::Store::backup`]).
    /// Administrators only: it holds every password hash and all personal data.
    pub fn backup(&self, actor: &Actor, out: &mut dyn std::io::Write) -> Result<u64> {
        self.authorize_backup(actor)?;
        Ok(self.store.backup(out)?)
    }

    /// Whether `actor` may take a backup, asked before a response starts streaming one.
    pub fn authorize_backup(&self, actor: &Actor) -> Result<()> {
        self.require_administrator(actor, "take a backup")
    }

    /// What the store's write path has done since start, for monitoring.
    pub fn commit_stats(&self) -> crate::store::CommitStats {
        self.store.commit_stats()
    }

    /// Bytes the store takes on disk, for monitoring.
    pub fn store_size(&self) -> Result<u64> {
        Ok(self.store.size_on_disk()?)
    }

    /// Forces everything to disk; used at shutdown.
    pub fn flush(&self) -> Result<()> {
        Ok(self.store.flush()?)
    }

    /// Whether the store takes a durable write now (`/healthz`).
    pub fn writable(&self) -> Result<()> {
        Ok(self.store.probe()?)
    }

    /// Cross-checks indexes and counters against records, and the references records make to
    /// each other (`rollcall check`; a restore runs the same check).
    pub fn verify(&self) -> Result<Vec<String>> {
        Ok(self.store.verify()?)
    }

    /// Runs `body` atomically and durably. A [`ServiceError`] from the body aborts the
    /// transaction (nothing is written) and is returned as is.
    fn transact<T>(&self, mut body: impl FnMut(&mut dyn Txn) -> Result<T>) -> Result<T> {
        let mut outcome: Option<Step<T>> = None;
        self.store.write(&mut |tx| match body(tx) {
            Ok(value) => {
                outcome = Some(Step::Done(value));
                Ok(())
            }
            Err(ServiceError::Store(StoreError::Conflict)) => Err(TxError::Conflict),
            Err(ServiceError::Store(e)) => Err(TxError::Store(e)),
            Err(e) => {
                outcome = Some(Step::Refused(e));
                Err(TxError::Abort)
            }
        })?;
        match outcome.expect("a committed or refused transaction records its outcome") {
            Step::Done(value) => Ok(value),
            Step::Refused(e) => Err(e),
        }
    }

    fn audit(
        &self,
        tx: &mut dyn Txn,
        actor: &Actor,
        kind: AuditKind,
        target: Option<String>,
        detail: Option<String>,
        change: Option<(serde_json::Value, serde_json::Value)>,
    ) -> Result<()> {
        let (before, after) = match change {
            Some((b, a)) => (Some(b), Some(a)),
            None => (None, None),
        };
        tx.append_audit(&AuditEvent {
            id: Uuid::now_v7(),
            at: OffsetDateTime::now_utc(),
            kind,
            actor: actor.name(),
            acting_admin: actor.acting_admin.map(|a| a.to_string()),
            source: actor.source,
            client: actor.client,
            target,
            detail,
            before,
            after,
            erased: false,
        })
        .map_err(Into::into)
    }

    /// The audit trail, oldest first.
    pub fn audit_events(&self) -> Result<Vec<AuditEvent>> {
        Ok(self.store.audit().collect::<Result<_, _>>()?)
    }

    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.store.meta(key)?)
    }

    pub fn set_meta(&self, key: &str, value: &[u8]) -> Result<()> {
        self.transact(|tx| Ok(tx.set_meta(key, value)?))
    }
}

impl From<TxError> for ServiceError {
    /// Inside a body, store errors travel as [`ServiceError::Store`] (a conflict included) so that
    /// `?` works; [`Service::transact`] hands them back to the engine.
    fn from(e: TxError) -> Self {
        match e {
            TxError::Store(e) => ServiceError::Store(e),
            TxError::Conflict => ServiceError::Store(StoreError::Conflict),
            TxError::Abort => ServiceError::Store(StoreError::Engine("transaction aborted".into())),
        }
    }
}
