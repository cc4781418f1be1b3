//! Password authentication for LDAP binds and REST logins. Every refusal looks the same to the
//! client ("invalid credentials") and costs the same: an unknown name still pays for one argon2
//! verification against a decoy hash. The real reason goes to the audit trail, and failures of a
//! known user count towards the lockout.

use std::sync::OnceLock;

use time::OffsetDateTime;

use super::{Actor, Result, Service, ServiceError};
use crate::audit::{AuditKind, Source};
use crate::auth::email_code::{CodeCheck, CodeMailing, EmailCode};
use crate::auth::totp;
use crate::mail::Var;
use crate::model::{EffectiveSettings, PrincipalKind, User, UserId, fold};
use crate::outbox::MessageKind;
use crate::store::Txn;

/// Where a login attempt comes from, for the audit trail, and whom it may be for.
#[derive(Clone, Copy, Debug)]
pub struct LoginSource {
    pub source: Source,
    pub client: Option<std::net::IpAddr>,
    pub expects: Expected,
}

/// Which principals a login may be for. An LDAP bind DN names its branch, and a name that
/// belongs to a principal of the other branch is no entry at all: the login is refused as
/// for an unknown name (and audited so), not checked and then dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Expected {
    #[default]
    Anyone,
    People,
    ServiceAccounts,
    /// A bind DN that names no user (outside the people and services branches).
    Nobody,
}

impl Expected {
    fn admits(self, kind: PrincipalKind) -> bool {
        match self {
            Self::Anyone => true,
            Self::People => !kind.is_service_account(),
            Self::ServiceAccounts => kind.is_service_account(),
            Self::Nobody => false,
        }
    }
}

/// How the TOTP code travels with a login.
#[derive(Clone, Copy, Debug)]
pub enum SecondFactor<'a> {
    /// LDAP simple bind: the password is followed by the 6-digit code when MFA applies.
    Appended,
    /// REST: a separate field, absent when the user has none.
    Separate(Option<&'a str>),
}

/// What a login also commits in the transaction that records its success (see
/// [`Service::login_then`]).
pub(super) type OnSuccess<'a> = &'a mut dyn FnMut(&mut dyn Txn, &LoggedIn) -> Result<()>;

/// What a successful sign-in tells of its password, beyond that it was right.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PasswordStanding {
    /// When it expires, once its user is due a warning of it (`[password]
    /// expiry_warning_days`); `None` before that, and when it never expires.
    pub expires: Option<OffsetDateTime>,
    /// It has expired and this was a grace login (`[password] grace_logins`): how many are
    /// left.
    pub grace_remaining: Option<u32>,
    /// It is a temporary one an administrator set: the session may only replace it.
    pub must_change: bool,
}

/// Why a sign-in with a temporary password may do nothing but change it.
pub(super) const TEMPORARY_PASSWORD: &str = "your password was set by an administrator: choose \
     your own first (LDAP Password Modify, or POST /auth/password, with it as the old password)";

/// A successful login.
#[derive(Clone, Debug)]
pub struct LoggedIn {
    pub user: User,
    pub settings: EffectiveSettings,
    /// The roles require MFA and no authenticator is enrolled: the session may enrol one and
    /// do nothing else. Never the case for LDAP binds, which are refused instead.
    pub enrol_only: bool,
    /// A second factor was verified (an authenticator's code, or a mailed one).
    pub second_factor: bool,
    pub password: PasswordStanding,
}

impl LoggedIn {
    /// Who the signed-in user acts as from `source`: with a temporary password, an actor
    /// that may only change it.
    pub fn actor(&self, source: Source, client: Option<std::net::IpAddr>) -> Actor {
        Actor {
            password_change_only: self.password.must_change,
            signed_in: Some(OffsetDateTime::now_utc()),
            single_factor: !self.second_factor,
            ..Actor::user(self.user.id, source, client)
        }
    }
}

/// Why a login was refused; only ever written to the audit trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    UnknownUser,
    NoPassword,
    WrongPassword,
    Locked,
    Inactive,
    System,
    PasswordExpired,
    PasswordLoginDisabled,
    NetworkNotAllowed,
    CodeMissing,
    CodeWrong,
    CodeReplayed,
    MfaNotEnrolled,
    /// The client's address was flagged for failed sign-ins for many users.
    AddressFlagged,
    /// Everything but the second factor was right, and it comes by mail (`[mfa]
    /// email_codes`): a code is to be sent, not a failure to count.
    EmailCodeNeeded,
    EmailCodeWrong,
    /// Waited too long for its turn among the user's attempts (see `auth::attempts`).
    Busy,
    /// Locked, deactivated or given a new password while its password was being verified.
    ChangedMeanwhile,
}

/// How long a sign-in waits for its turn among its user's attempts before it is refused.
const ATTEMPT_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Self::UnknownUser => "unknown user",
            Self::NoPassword => "no password set",
            Self::WrongPassword => "wrong password",
            Self::Locked => "user is locked after failed logins",
            Self::Busy => "too many sign-ins of the user in progress at once",
            Self::ChangedMeanwhile => {
                "the user was locked, deactivated or given a new password during the sign-in"
            }
            Self::Inactive => "user is inactive",
            Self::System => "the system principal cannot log in",
            Self::PasswordExpired => "password has expired",
            Self::PasswordLoginDisabled => "password login is disabled by the user's roles",
            Self::NetworkNotAllowed => {
                "the client's address is outside the networks the user's roles allow"
            }
            Self::CodeMissing => "TOTP code missing",
            Self::CodeWrong => "wrong TOTP code",
            Self::CodeReplayed => "TOTP code already used",
            Self::MfaNotEnrolled => "the user's roles require MFA and no authenticator is enrolled",
            Self::AddressFlagged => {
                "the client's address is refused after failed sign-ins for many users"
            }
            Self::EmailCodeNeeded => "sign-in code needed",
            Self::EmailCodeWrong => "wrong sign-in code",
        }
    }

    /// Failures that guess at a secret count towards the lockout.
    fn counts(self) -> bool {
        matches!(
            self,
            Self::WrongPassword | Self::CodeWrong | Self::CodeReplayed | Self::EmailCodeWrong
        )
    }
}

/// What the attempt proved before the rules were applied.
struct Checked {
    refusal: Option<Refusal>,
    totp_step: Option<u64>,
    /// The password has expired; the sign-in takes one of its grace logins.
    grace: bool,
    /// A mailed sign-in code was the second factor; the sign-in spends it.
    email_code: bool,
}

/// Logins by front end and outcome, for monitoring (the audit trail has each one).
#[derive(Default)]
pub(super) struct LoginCounts {
    /// `[source][failed]`, sources in the order of [`LOGIN_SOURCES`].
    counts: [[std::sync::atomic::AtomicU64; 2]; 5],
}

const LOGIN_SOURCES: [Source; 5] = [
    Source::Ldap,
    Source::Scim,
    Source::Rest,
    Source::Cli,
    Source::System,
];

impl Service {
    /// `(front end, succeeded, count)` for every front end, since start.
    pub fn login_counts(&self) -> Vec<(Source, bool, u64)> {
        let mut out = Vec::new();
        for (source, counts) in LOGIN_SOURCES.iter().zip(&self.logins.counts) {
            for (failed, n) in counts.iter().enumerate() {
                let n = n.load(std::sync::atomic::Ordering::Relaxed);
                out.push((*source, failed == 0, n));
            }
        }
        out
    }

    /// Checks a userName, password and (when MFA applies) TOTP code. Succeeds only for an
    /// active, unlocked person or service account with a matching, unexpired password whose
    /// roles allow password login.
    pub fn login(
        &self,
        user_name: &str,
        password: &str,
        code: SecondFactor<'_>,
        from: LoginSource,
    ) -> Result<LoggedIn> {
        self.login_then(user_name, password, code, from, &mut |_, _| Ok(()))
    }

    /// A login that commits `on_success` in the transaction that records it, so that a
    /// sign-in and what it is for (a session) stand or fall together: when `on_success`
    /// refuses, the trail has one failed login with its reason, and no success, no sign-in
    /// time and no cleared failures are stored.
    pub(super) fn login_then(
        &self,
        user_name: &str,
        password: &str,
        code: SecondFactor<'_>,
        from: LoginSource,
        on_success: OnSuccess<'_>,
    ) -> Result<LoggedIn> {
        let source = from.source;
        let result = self.check_login(user_name, password, code, from, on_success);
        if let Some(i) = LOGIN_SOURCES.iter().position(|s| *s == source) {
            self.logins.counts[i][usize::from(result.is_err())]
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        result
    }

    fn check_login(
        &self,
        user_name: &str,
        password: &str,
        code: SecondFactor<'_>,
        from: LoginSource,
        on_success: OnSuccess<'_>,
    ) -> Result<LoggedIn> {
        let found = match self.records().user_by_name(&fold(user_name))? {
            Some(id) => self
                .records()
                .user(id)?
                .filter(|u| !u.anonymised && from.expects.admits(u.kind)),
            None => None,
        };
        let actor = match &found {
            Some(u) => Actor::user(u.id, from.source, from.client),
            None => Actor::anonymous(from.source, from.client),
        };
        // Refused before any password work: the address, not the user, is what is refused,
        // and an attack from it costs no argon2 time.
        if from
            .client
            .is_some_and(|ip| self.sprays.blocked(ip, std::time::Instant::now()))
        {
            let target = found.as_ref().map_or_else(
                || format!("userName:{}", fold(user_name)),
                |u| u.id.to_string(),
            );
            self.record_login(
                &actor,
                AuditKind::LoginFailed,
                target,
                Some(Refusal::AddressFlagged),
            )?;
            return Err(ServiceError::InvalidCredentials);
        }
        let Some(found) = found else {
            // Same cost as a real verification, so timing does not tell who exists.
            let _ = self.verify_at_equal_cost(password, None);
            let target = format!("userName:{}", fold(user_name));
            self.record_login(
                &actor,
                AuditKind::LoginFailed,
                target,
                Some(Refusal::UnknownUser),
            )?;
            self.count_spray(&actor, user_name)?;
            return Err(ServiceError::InvalidCredentials);
        };
        // No more of the user's attempts verified at once than it has failures left before
        // the lock (see `auth::attempts`); then the record is read again, as one that waited
        // may find it locked by the attempts before it.
        let Some(_turn) = self.attempts.begin(found.id, ATTEMPT_PATIENCE, || {
            self.failures_left(found.id, OffsetDateTime::now_utc())
        }) else {
            self.record_login(
                &actor,
                AuditKind::LoginFailed,
                found.id.to_string(),
                Some(Refusal::Busy),
            )?;
            return Err(ServiceError::InvalidCredentials);
        };
        let user = self.records().user(found.id)?.unwrap_or(found);
        let settings = self.settings_of(&user)?;
        let now = OffsetDateTime::now_utc();
        let checked = self.check(&user, &settings, password, code, from.client, now)?;
        let enrol_only = checked.refusal.is_none()
            && settings.mfa_required
            && !user.has_mfa()
            && !checked.email_code;
        match checked.refusal {
            // The password was right: saying why tells nothing to a guesser, and the user
            // learns what to do.
            Some(Refusal::PasswordExpired) => {
                self.refuse(&actor, &user, Refusal::PasswordExpired, now)?;
                Err(ServiceError::PasswordExpired(self.new_password_for(&user)?))
            }
            Some(Refusal::EmailCodeNeeded) => Err(ServiceError::SignInCode(
                self.send_email_code(&actor, &user, now)?,
            )),
            Some(refusal) => {
                self.refuse(&actor, &user, refusal, now)?;
                self.count_spray(&actor, user_name)?;
                Err(ServiceError::InvalidCredentials)
            }
            None => {
                let standing = PasswordStanding {
                    expires: (self.policy.password).expiry_to_warn_of(user.password_changed, now),
                    grace_remaining: None,
                    must_change: user.password_must_change,
                };
                let mut logged = LoggedIn {
                    user,
                    settings,
                    enrol_only,
                    second_factor: checked.totp_step.is_some() || checked.email_code,
                    password: standing,
                };
                let accepted = self.accept(&actor, &logged, password, code, &checked, on_success);
                match accepted {
                    Ok(grace_remaining) => {
                        logged.password.grace_remaining = grace_remaining;
                        Ok(logged)
                    }
                    Err(
                        refused @ (ServiceError::Forbidden(_) | ServiceError::PasswordExpired(_)),
                    ) => {
                        // The refused transaction wrote nothing; the trail still says why.
                        let detail = match refused {
                            ServiceError::PasswordExpired(_) => {
                                Refusal::PasswordExpired.as_str().to_string()
                            }
                            _ => refused.to_string(),
                        };
                        self.transact(|tx| {
                            self.audit(
                                tx,
                                &actor,
                                AuditKind::LoginFailed,
                                Some(logged.user.id.to_string()),
                                Some(detail.clone()),
                                None,
                            )
                        })?;
                        Err(refused)
                    }
                    Err(ServiceError::InvalidCredentials) => {
                        // Changed while this one was verified: the transaction found it so
                        // and wrote nothing.
                        self.refuse(&actor, &logged.user, Refusal::ChangedMeanwhile, now)?;
                        Err(ServiceError::InvalidCredentials)
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// How many more failures `id` may have before the lock; `usize::MAX` when nothing locks.
    fn failures_left(&self, id: UserId, now: OffsetDateTime) -> usize {
        let lockout = &self.policy.lockout;
        if lockout.threshold == 0 {
            return usize::MAX;
        }
        let recent = self
            .records()
            .login_state(id)
            .ok()
            .flatten()
            .map_or(0, |s| lockout.recent_failures(&s, now));
        (lockout.threshold as usize).saturating_sub(recent)
    }

    fn check(
        &self,
        user: &User,
        settings: &EffectiveSettings,
        password: &str,
        code: SecondFactor<'_>,
        client: Option<std::net::IpAddr>,
        now: OffsetDateTime,
    ) -> Result<Checked> {
        // The code is split off before the password is verified, so that the argon2 work is
        // the same whatever the outcome.
        let (password, presented) = match (code, user.has_mfa()) {
            (SecondFactor::Appended, true) => match totp::split_code(password) {
                Some((pw, code)) => (pw, Some(code)),
                None => (password, None),
            },
            (SecondFactor::Appended, false) => (password, None),
            (SecondFactor::Separate(code), _) => (password, code),
        };
        let verified = self.verify_at_equal_cost(password, user.password_hash.as_deref());
        let mut totp_step = None;
        let mut email_code = false;
        let expired = self.policy.password.expired(user.password_changed, now);
        let grace = expired && {
            let used = self
                .records()
                .login_state(user.id)?
                .map_or(0, |s| s.grace_used_by(user.password_changed));
            used < self.policy.password.grace_logins
        };
        let refusal = if user.password_hash.is_none() {
            Some(Refusal::NoPassword)
        } else if user.is_locked(now) {
            Some(Refusal::Locked)
        } else if !verified {
            Some(Refusal::WrongPassword)
        } else if user.kind == PrincipalKind::System {
            Some(Refusal::System)
        } else if !user.active {
            Some(Refusal::Inactive)
        } else if settings.password_login_disabled {
            Some(Refusal::PasswordLoginDisabled)
        } else if !settings.allows(client) {
            Some(Refusal::NetworkNotAllowed)
        } else if let Some(enrolment) = user.totp.as_ref().filter(|t| t.confirmed) {
            match presented {
                None => Some(Refusal::CodeMissing),
                Some(code) => match enrolment
                    .check(code, now.unix_timestamp().max(0).unsigned_abs())
                    .map_err(|e| ServiceError::invalid("totp", e.to_string()))?
                {
                    None => Some(Refusal::CodeWrong),
                    Some(step) => {
                        let last = self
                            .records()
                            .login_state(user.id)?
                            .and_then(|s| s.last_totp_step);
                        if last.is_some_and(|last| step <= last) {
                            Some(Refusal::CodeReplayed)
                        } else {
                            totp_step = Some(step);
                            None
                        }
                    }
                },
            }
        } else if settings.mfa_required && self.mails_codes_to(user, code) {
            let mailed = self
                .records()
                .login_state(user.id)?
                .and_then(|s| s.email_code);
            match (presented, mailed) {
                (Some(presented), Some(mailed)) => match mailed.check(user.id, presented, now) {
                    CodeCheck::Accepted => {
                        email_code = true;
                        None
                    }
                    CodeCheck::Wrong => Some(Refusal::EmailCodeWrong),
                    CodeCheck::NoLiveCode => Some(Refusal::EmailCodeNeeded),
                },
                _ => Some(Refusal::EmailCodeNeeded),
            }
        } else if settings.mfa_required && matches!(code, SecondFactor::Appended) {
            // A bind cannot enrol an authenticator; a REST login gets an enrol-only session.
            Some(Refusal::MfaNotEnrolled)
        } else {
            None
        };
        // Expiry last: whoever learns that the password has expired has given everything a
        // sign-in asks for, the code included.
        let refusal = refusal.or((expired && !grace).then_some(Refusal::PasswordExpired));
        Ok(Checked {
            refusal,
            totp_step,
            grace,
            email_code,
        })
    }

    /// Whether `user`'s second factor, when its roles require one and it has no
    /// authenticator, is a mailed code: `[mfa] email_codes` is on, the sign-in is a REST one
    /// (a bind has no second round to bring the code in) and there is an address to mail.
    fn mails_codes_to(&self, user: &User, code: SecondFactor<'_>) -> bool {
        self.policy.email_codes.is_some()
            && matches!(code, SecondFactor::Separate(_))
            && user.kind == PrincipalKind::Person
            && user.contact_email().is_some()
    }

    /// Mails `user` a new sign-in code, unless the last one was sent less than
    /// [`email_code::RESEND_AFTER`] ago, whether or not it has been used up since: then says
    /// what the caller is to do (see [`CodeMailing`]). The code, its message and the audit
    /// entry are one transaction.
    fn send_email_code(
        &self,
        actor: &Actor,
        user: &User,
        now: OffsetDateTime,
    ) -> Result<CodeMailing> {
        // Both are there: `mails_codes_to` asked for them.
        let (Some(ttl), Some(to)) = (self.policy.email_codes, user.contact_email()) else {
            return Ok(CodeMailing::Sent);
        };
        let mailing = self.transact(|tx| {
            let mut state = tx.login_state(user.id)?.unwrap_or_default();
            if let Some(held) = state.email_code.as_ref().and_then(|c| c.held_back(now)) {
                return Ok(held);
            }
            let (record, code) = EmailCode::issue(user.id, ttl, now);
            let vars = self.user_vars(user).with(Var::Code, code).with(
                Var::LinkExpires,
                super::notice::human_time(record.expires, user),
            );
            let mut message = self.message_to(MessageKind::SignInCode, user, Some(to), &vars);
            message.link_expires = Some(record.expires);
            tx.push_outbox(&message)?;
            state.email_code = Some(record);
            tx.put_login_state(user.id, &state)?;
            self.audit(
                tx,
                actor,
                AuditKind::SignInCodeSent,
                Some(user.id.to_string()),
                None,
                None,
            )?;
            Ok(CodeMailing::Sent)
        })?;
        if mailing == CodeMailing::Sent {
            self.urgent_mail.notify_one();
        }
        Ok(mailing)
    }

    /// The strictest settings of the user's roles.
    pub fn settings_of(&self, user: &User) -> Result<EffectiveSettings> {
        let mut roles = Vec::with_capacity(user.roles.len());
        for id in &user.roles {
            if let Some(role) = self.records().role(*id)? {
                roles.push(role);
            }
        }
        Ok(EffectiveSettings::of(&roles))
    }

    /// A successful login: audited and recorded as the last one, failures forgotten, the TOTP
    /// step used up, `on_success` committed with it, and an imported or outdated hash
    /// replaced by one at the configured cost.
    /// With `grace`, the sign-in takes one of the expired password's grace logins, counted
    /// in the same transaction so that concurrent binds never take more than there are;
    /// returns how many are left.
    fn accept(
        &self,
        actor: &Actor,
        logged: &LoggedIn,
        password: &str,
        code: SecondFactor<'_>,
        checked: &Checked,
        on_success: OnSuccess<'_>,
    ) -> Result<Option<u32>> {
        let totp_step = checked.totp_step;
        let user = &logged.user;
        // What the refusal tells, should the grace logins run out meanwhile: read before the
        // transaction, whose body reads only through it.
        let grace = checked
            .grace
            .then(|| self.new_password_for(user))
            .transpose()?;
        let target = user.id.to_string();
        let now = OffsetDateTime::now_utc();
        let limit = self.policy.password.grace_logins;
        let remaining = self.transact(|tx| {
            // The record as it is now, not as it was when the password was verified: locked
            // by a concurrent failure, or given another password, it is no sign-in.
            let current = tx.user(user.id)?;
            if current.as_ref().is_none_or(|u| {
                u.is_locked(now) || u.password_hash != user.password_hash || !u.active
            }) {
                return Err(ServiceError::InvalidCredentials);
            }
            let mut state = tx.login_state(user.id)?.unwrap_or_default();
            let mut changed = state.note_login(now);
            let mut remaining = None;
            if let Some(new_password) = grace {
                let used = state.grace_used_by(user.password_changed);
                if used >= limit {
                    return Err(ServiceError::PasswordExpired(new_password));
                }
                state.grace_for = user.password_changed;
                state.grace_used = used + 1;
                changed = true;
                remaining = Some(limit - used - 1);
            }
            if !state.failures.is_empty() {
                state.failures.clear();
                changed = true;
            }
            if totp_step.is_some() {
                state.last_totp_step = totp_step;
                changed = true;
            }
            if checked.email_code {
                // Spent in the sign-in's own transaction: two sign-ins racing with one code
                // conflict, and the later one finds it spent.
                match state.email_code.as_mut() {
                    Some(mailed) if mailed.is_live(now) => mailed.spend(),
                    _ => return Err(ServiceError::InvalidCredentials),
                }
                changed = true;
            }
            if changed {
                tx.put_login_state(user.id, &state)?;
            }
            let detail = remaining.map(|left| {
                format!("grace login with an expired password ({left} of {limit} left)")
            });
            self.audit(
                tx,
                actor,
                AuditKind::LoginSucceeded,
                Some(target.clone()),
                detail,
                None,
            )?;
            on_success(tx, logged)?;
            Ok(remaining)
        })?;
        let clear = match (code, user.has_mfa()) {
            (SecondFactor::Appended, true) => totp::split_code(password).map_or(password, |p| p.0),
            _ => password,
        };
        self.upgrade_hash(actor, user, clear);
        Ok(remaining)
    }

    /// Re-hashes at the configured argon2id cost after a login proved the password. Best
    /// effort: a failure here must not fail the login that already succeeded.
    fn upgrade_hash(&self, actor: &Actor, user: &User, password: &str) {
        let Some(old) = user.password_hash.as_deref() else {
            return;
        };
        if !crate::password::needs_upgrade(old, &self.policy.argon2) {
            return;
        }
        let Ok(hash) = self.policy.argon2.hash(password) else {
            return;
        };
        let result = self.transact(|tx| {
            let Some(mut current) = tx.user(user.id)? else {
                return Ok(());
            };
            // Only if nobody changed the password meanwhile.
            if current.password_hash.as_deref() != Some(old) {
                return Ok(());
            }
            current.password_hash = Some(hash.clone());
            tx.put_user(&current)?;
            self.audit(
                tx,
                actor,
                AuditKind::PasswordChanged,
                Some(user.id.to_string()),
                Some("stored hash upgraded to argon2id at the configured cost".into()),
                None,
            )
        });
        if let Err(e) = result {
            tracing::warn!(user = %user.id, error = %e, "could not upgrade a password hash");
        }
    }

    /// A refused login: audited with the real reason; guesses count towards the lockout.
    fn refuse(
        &self,
        actor: &Actor,
        user: &User,
        refusal: Refusal,
        now: OffsetDateTime,
    ) -> Result<()> {
        let target = user.id.to_string();
        self.transact(|tx| {
            self.audit(
                tx,
                actor,
                AuditKind::LoginFailed,
                Some(target.clone()),
                Some(refusal.as_str().to_string()),
                None,
            )?;
            if refusal.counts() {
                self.count_failure(tx, user.id, actor.client, now)?;
            }
            if refusal == Refusal::EmailCodeWrong
                && let Some(mut state) = tx.login_state(user.id)?
                && let Some(mailed) = state.email_code.as_mut()
            {
                mailed.note_wrong();
                tx.put_login_state(user.id, &state)?;
            }
            Ok(())
        })
    }

    /// The user behind a login, by id, for a session that already authenticated.
    pub fn login_user(&self, id: UserId) -> Result<Option<User>> {
        Ok(self
            .records()
            .user(id)?
            .filter(|u| !u.anonymised && u.active))
    }

    /// Checks a bound user's own password again (Password Modify, act-as re-entry). No code
    /// and no expiry check: the caller is already authenticated, and an expired password is
    /// exactly what a user changes. Wrong guesses count towards the lockout.
    pub(super) fn reauthenticate(&self, actor: &Actor, id: UserId, password: &str) -> Result<User> {
        let user = self
            .login_user(id)?
            .ok_or(ServiceError::InvalidCredentials)?;
        let now = OffsetDateTime::now_utc();
        let verified = self.verify_at_equal_cost(password, user.password_hash.as_deref());
        let refusal = if user.is_locked(now) {
            Some(Refusal::Locked)
        } else if !verified {
            Some(Refusal::WrongPassword)
        } else {
            None
        };
        match refusal {
            Some(r) => {
                self.refuse(actor, &user, r, now)?;
                Err(ServiceError::InvalidCredentials)
            }
            None => Ok(user),
        }
    }

    /// Verifies against the stored hash, paying at least one argon2 verification whatever is
    /// stored: no hash, or an imported salted SHA that checks in microseconds, would otherwise
    /// tell an observer who exists and whose hash is old.
    fn verify_at_equal_cost(&self, password: &str, stored: Option<&str>) -> bool {
        match stored {
            Some(hash) => {
                let ok = crate::password::verify(password, hash);
                if hash.starts_with('{') {
                    let _ = crate::password::verify(password, self.decoy_hash());
                }
                ok
            }
            None => {
                let _ = crate::password::verify(password, self.decoy_hash());
                false
            }
        }
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
        refusal: Option<Refusal>,
    ) -> Result<()> {
        self.transact(|tx| {
            self.audit(
                tx,
                actor,
                kind,
                Some(target.clone()),
                refusal.map(|r| r.as_str().to_string()),
                None,
            )
        })
    }
}
