//! Password authentication for LDAP binds (and later REST logins). Every refusal looks the same
//! to the client and takes the same time: an unknown name still costs one argon2 verification,
//! against a hash made once with the configured parameters. The real reason goes to the audit.

use std::sync::OnceLock;

use time::OffsetDateTime;

use super::{Actor, Result, Service, ServiceError};
use crate::audit::{AuditKind, Source};
use crate::model::{PrincipalKind, User, UserId, fold};

/// Where a login attempt comes from, for the audit trail.
#[derive(Clone, Copy, Debug)]
pub struct LoginSource {
    pub source: Source,
    pub client: Option<std::net::IpAddr>,
}

/// Why a login was refused; only ever written to the audit trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    UnknownUser,
    NoPassword,
    WrongPassword,
    Inactive,
    System,
    PasswordLoginDisabled,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Self::UnknownUser => "unknown user",
            Self::NoPassword => "no password set",
            Self::WrongPassword => "wrong password",
            Self::Inactive => "user is inactive",
            Self::System => "the system principal cannot log in",
            Self::PasswordLoginDisabled => "password login is disabled by the user's roles",
        }
    }
}

impl Service {
    /// Checks a userName and password. Succeeds only for an active person or service account
    /// with a matching password whose roles allow password login.
    pub fn login(&self, user_name: &str, password: &str, from: LoginSource) -> Result<User> {
        let found = match self.records().user_by_name(&fold(user_name))? {
            Some(id) => self.records().user(id)?.filter(|u| !u.anonymised),
            None => None,
        };
        let verified = match found.as_ref().and_then(|u| u.password_hash.as_deref()) {
            Some(hash) => crate::password::verify(password, hash),
            None => {
                // Same cost as a real verification, so timing does not tell who exists.
                let _ = crate::password::verify(password, self.decoy_hash());
                false
            }
        };
        let refusal = match &found {
            None => Some(Refusal::UnknownUser),
            Some(u) if u.password_hash.is_none() => Some(Refusal::NoPassword),
            Some(_) if !verified => Some(Refusal::WrongPassword),
            Some(u) if u.kind == PrincipalKind::System => Some(Refusal::System),
            Some(u) if !u.active => Some(Refusal::Inactive),
            Some(u) if self.password_login_disabled(u)? => Some(Refusal::PasswordLoginDisabled),
            Some(_) => None,
        };
        let actor = match &found {
            Some(u) => Actor::user(u.id, from.source, from.client),
            None => Actor {
                principal: super::Principal::Anonymous,
                source: from.source,
                client: from.client,
            },
        };
        let target = found.as_ref().map_or_else(
            || format!("userName:{}", fold(user_name)),
            |u| u.id.to_string(),
        );
        match refusal {
            Some(r) => {
                self.record_login(&actor, AuditKind::LoginFailed, target, Some(r.as_str()))?;
                Err(ServiceError::InvalidCredentials)
            }
            None => {
                self.record_login(&actor, AuditKind::LoginSucceeded, target, None)?;
                Ok(found.expect("a login without refusal has a user"))
            }
        }
    }

    /// The user behind a login, by id, for a session that already authenticated.
    pub fn login_user(&self, id: UserId) -> Result<Option<User>> {
        Ok(self
            .records()
            .user(id)?
            .filter(|u| !u.anonymised && u.active))
    }

    /// Changes the caller's own password after checking the current one. Needs no Edit
    /// permission: a user may always change their own password.
    pub fn change_own_password(
        &self,
        actor: &Actor,
        old_password: &str,
        new_password: &str,
    ) -> Result<User> {
        let super::Principal::User(id) = actor.principal else {
            return Err(ServiceError::Forbidden(
                "only a bound user can change its own password".into(),
            ));
        };
        let user = self
            .login_user(id)?
            .ok_or(ServiceError::InvalidCredentials)?;
        let from = LoginSource {
            source: actor.source,
            client: actor.client,
        };
        self.login(&user.user_name, old_password, from)?;
        let hash = self.hash_password(new_password)?;
        let now = OffsetDateTime::now_utc();
        self.update_own(actor, id, |u| {
            u.password_hash = Some(hash.clone());
            u.password_changed = Some(now);
        })
    }

    fn password_login_disabled(&self, user: &User) -> Result<bool> {
        for role in &user.roles {
            if let Some(role) = self.records().role(*role)?
                && role.settings.password_login_disabled
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn decoy_hash(&self) -> &str {
        static DECOY: OnceLock<String> = OnceLock::new();
        DECOY.get_or_init(|| {
            self.policy
                .argon2
                .hash("rollcall decoy password")
                .unwrap_or_default()
        })
    }

    fn record_login(
        &self,
        actor: &Actor,
        kind: AuditKind,
        target: String,
        detail: Option<&str>,
    ) -> Result<()> {
        self.transact(|tx| {
            self.audit(
                tx,
                actor,
                kind,
                Some(target.clone()),
                detail.map(str::to_owned),
                None,
            )
        })
    }
}
