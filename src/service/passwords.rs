//! Setting passwords under the policy (`[password]`): strength, history and self-service.
//! Every clear-text password passes here, whoever sets it and through whichever front end;
//! imported hashes cannot be checked and are taken as they are.

use time::OffsetDateTime;

use super::{Actor, Principal, Result, Service, ServiceError, Subject};
use crate::audit::AuditKind;
use crate::model::{Action, User, UserId};
use crate::password::policy::{ProvisionedViolation, Violation};
use crate::store::Txn;

impl Service {
    /// Checks `password` against the policy (and, for an existing user, its history) and
    /// hashes it. Slow (argon2, once per history entry): call outside transactions.
    pub(super) fn new_password_hash(&self, user: Option<&User>, password: &str) -> Result<String> {
        let policy = &self.policy.password;
        policy.check_strength(password)?;
        if let Some(user) = user
            && policy.history > 0
        {
            let earlier = user
                .password_hash
                .iter()
                .chain(user.password_history.iter().take(policy.history - 1));
            for hash in earlier {
                if crate::password::verify(password, hash) {
                    return Err(Violation::Reused {
                        history: policy.history,
                    }
                    .into());
                }
            }
        }
        self.policy
            .argon2
            .hash(password)
            .map_err(|e| ServiceError::invalid("password", e.to_string()))
    }

    /// Puts `hash` in place, keeping the one it replaces in the history. A new password voids
    /// every session made with the old one (they were issued before `password_changed`).
    /// `temporary`: the password was set by someone else, and `[password] reset_must_change`
    /// has its user replace it at the next sign-in (see [`Service::sets_temporary`]).
    pub(super) fn install_password(
        &self,
        user: &mut User,
        hash: String,
        now: OffsetDateTime,
        temporary: bool,
    ) {
        user.password_must_change = temporary;
        let keep = self.policy.password.history.saturating_sub(1);
        if let Some(old) = user.password_hash.take() {
            user.password_history.insert(0, old);
        }
        user.password_history.truncate(keep);
        user.password_hash = Some(hash);
        user.password_changed = Some(now);
    }

    /// A password that satisfies the policy, for Password Modify without a new password and
    /// for the first admin: groups of 12 random characters joined by `-`, at least two of
    /// them and as many as `[password] min_length` asks for (a minimum longer than two groups
    /// would otherwise never be met, and the first start would never end).
    pub fn generate_password(&self) -> String {
        const GROUP: usize = 12;
        let min_length = self.policy.password.min_length;
        let groups = (min_length + 1).div_ceil(GROUP + 1).max(2);
        loop {
            let candidate = (0..groups)
                .map(|_| crate::token::random_secret()[..GROUP].to_string())
                .collect::<Vec<_>>()
                .join("-");
            if self.policy.password.check_strength(&candidate).is_ok() {
                return candidate;
            }
        }
    }

    /// Sets a password an admin chose (or the user, through an admin-level front end). Needs
    /// Edit on the user.
    pub fn set_password(&self, actor: &Actor, id: UserId, password: &str) -> Result<User> {
        let Some(hash) = self.checked_password_for(actor, id, password)? else {
            return self.user(actor, id);
        };
        let now = OffsetDateTime::now_utc();
        let temporary = self.sets_temporary(actor, id)?;
        self.update_user(actor, id, None, |u| {
            self.install_password(u, hash.clone(), now, temporary);
            Ok(())
        })
    }

    /// Whether a password `actor` sets for user `id` is temporary: under `[password]
    /// reset_must_change`, one set by anyone but the user itself (an administrator acting as
    /// the user included) and but a provisioning client, whose passwords are the users' own.
    pub(super) fn sets_temporary(&self, actor: &Actor, id: UserId) -> Result<bool> {
        if !self.policy.password.reset_must_change || actor.is_own_setup() {
            return Ok(false);
        }
        Ok(match actor.principal {
            Principal::User(me) if me == id => actor.acting_admin.is_some(),
            _ => !self.subject(actor)?.is_provisioning(),
        })
    }

    /// The hash of a password `actor` sets for user `id`, checked against the policy and the
    /// user's history; `None` when a provisioning client's password broke the policy and is
    /// dropped (audited). Authorises Edit first: the history check must tell nothing to the
    /// unauthorised.
    pub(super) fn checked_password_for(
        &self,
        actor: &Actor,
        id: UserId,
        password: &str,
    ) -> Result<Option<String>> {
        let current = self.user(actor, id)?;
        let subject = self.subject(actor)?;
        self.authorize_user_change(&mut self.records(), &subject, Action::Edit, &current)?;
        self.refuse_own_reset(actor, &subject, id)?;
        match self.new_password_hash(Some(&current), password) {
            Ok(hash) => Ok(Some(hash)),
            Err(ServiceError::PasswordPolicy(v)) if self.drops_provisioned(&subject) => {
                self.transact(|tx| self.audit_dropped_password(tx, actor, id, &v))?;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// A password set for `id` without the current one is a reset, which a user does not do
    /// to itself: its own goes through [`Self::change_own_password`] (the current password,
    /// `[password] users_may_change`, never from an act-as session), or a session taken over
    /// would become the account for good. Administrators reset anyone's, their own included.
    pub(super) fn refuse_own_reset(
        &self,
        actor: &Actor,
        subject: &Subject,
        id: UserId,
    ) -> Result<()> {
        if actor.principal != Principal::User(id)
            || (subject.is_administrator() && actor.acting_admin.is_none())
        {
            return Ok(());
        }
        Err(ServiceError::Forbidden(
            "your own password is changed with the current one: LDAP Password Modify with the \
             old password, or POST /auth/password"
                .into(),
        ))
    }

    /// Changes the caller's own password after checking the current one. Needs no Edit
    /// permission, only `[password] users_may_change`.
    pub fn change_own_password(
        &self,
        actor: &Actor,
        old_password: &str,
        new_password: &str,
    ) -> Result<User> {
        let Principal::User(id) = actor.principal else {
            return Err(ServiceError::Forbidden(
                "only a signed-in user can change its own password".into(),
            ));
        };
        if actor.acting_admin.is_some() {
            return Err(ServiceError::Forbidden(
                "an administrator acting as a user cannot change the user's password".into(),
            ));
        }
        if !self.policy.password.users_may_change {
            return Err(Violation::SelfServiceDisabled.into());
        }
        // Changing it is the one thing a sign-in with a temporary password may do.
        let actor = &actor.with_own_password();
        let user = self.reauthenticate(actor, id, old_password)?;
        let hash = self.new_password_hash(Some(&user), new_password)?;
        let now = OffsetDateTime::now_utc();
        self.update_own(actor, id, |u| {
            self.install_password(u, hash.clone(), now, false)
        })
    }

    /// Whether a policy violation in a password `subject` sends is dropped rather than refused:
    /// only for provisioning clients, and only under `provisioned = "drop"`.
    pub(super) fn drops_provisioned(&self, subject: &Subject) -> bool {
        self.policy.password.provisioned == ProvisionedViolation::Drop && subject.is_provisioning()
    }

    pub(super) fn audit_dropped_password(
        &self,
        tx: &mut dyn Txn,
        actor: &Actor,
        id: UserId,
        violation: &Violation,
    ) -> Result<()> {
        self.audit(
            tx,
            actor,
            AuditKind::PasswordRejected,
            Some(id.to_string()),
            Some(format!(
                "the provisioned password was not stored: {violation}"
            )),
            None,
        )
    }
}
