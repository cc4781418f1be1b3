//! Password expiry reminders (seed 003 password policies: "expiration periods"): with
//! `[password] max_age_days`, a person whose password expires within `expiry_warning_days` is
//! mailed once per password, so that it changes the password before its binds and sign-ins
//! start to be refused. People who sign in only through an identity provider (a role with
//! `passwordLoginDisabled`) are left alone: their password here is not what they use.

use time::OffsetDateTime;

use super::{Actor, Result, Service};
use crate::mail::Var;
use crate::model::{PrincipalKind, User, UserId};
use crate::outbox::MessageKind;

/// Where a user's password stands under `[password] max_age_days`, for a helpdesk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordAge {
    /// When it expires (or expired); `None`: it never does, or there is no password.
    pub expires: Option<OffsetDateTime>,
    pub expired: bool,
    /// Grace logins the expired password has left (`[password] grace_logins`).
    pub grace_left: u32,
}

impl Service {
    /// Where `id`'s password stands at `now`. Needs Read on the user.
    pub fn password_age(
        &self,
        actor: &Actor,
        id: UserId,
        now: OffsetDateTime,
    ) -> Result<PasswordAge> {
        let user = self.user(actor, id)?;
        let policy = &self.policy.password;
        let changed = user.password_hash.as_ref().and(user.password_changed);
        let expired = policy.expired(changed, now);
        let used = self
            .store
            .login_state(id)?
            .map_or(0, |s| s.grace_used_by(changed));
        Ok(PasswordAge {
            expires: policy.expires(changed),
            expired,
            grace_left: if expired {
                policy.grace_logins.saturating_sub(used)
            } else {
                0
            },
        })
    }

    /// Mails the reminders due at `now`; returns the userNames reminded. Each reminder is
    /// decided again and recorded in the transaction that queues it, so a run that overlaps
    /// another, or a password changed meanwhile, sends none twice and none stale.
    pub fn remind_password_expiry(&self, now: OffsetDateTime) -> Result<Vec<String>> {
        let policy = self.policy.password;
        if policy.max_age_days == 0 || policy.expiry_warning_days == 0 {
            return Ok(Vec::new());
        }
        let mut due: Vec<UserId> = Vec::new();
        for user in self.store.shared_users(None) {
            let user = user?;
            let warned = self
                .store
                .login_state(user.id)?
                .and_then(|s| s.expiry_warned_for);
            if self.reminder_due(&user, warned, now)? {
                due.push(user.id);
            }
        }
        self.in_batches(&due, |tx, id| {
            let Some(user) = tx.user(id)? else {
                return Ok(None);
            };
            let mut state = tx.login_state(id)?.unwrap_or_default();
            if !self.reminder_due(&user, state.expiry_warned_for, now)? {
                return Ok(None);
            }
            let (Some(to), Some(expires)) =
                (user.contact_email(), policy.expires(user.password_changed))
            else {
                return Ok(None);
            };
            let vars = self.user_vars(&user).with(
                Var::Detail,
                format!(
                    "The password of your account {} expires on {}",
                    user.user_name,
                    super::notice::human_time(expires, &user)
                ),
            );
            tx.push_outbox(&self.message_to(
                MessageKind::PasswordExpiring,
                &user,
                Some(to),
                &vars,
            ))?;
            state.expiry_warned_for = user.password_changed;
            tx.put_login_state(id, &state)?;
            Ok(Some(user.user_name))
        })
    }

    /// Whether `user`, last reminded about the password set at `warned`, is due a reminder.
    fn reminder_due(
        &self,
        user: &User,
        warned: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<bool> {
        // Due a warning, and not expired yet: an expired password is refused at sign-in.
        let warnable = self
            .policy
            .password
            .expiry_to_warn_of(user.password_changed, now)
            .is_some_and(|expires| now < expires);
        if !warnable
            || user.kind != PrincipalKind::Person
            || !user.active
            || user.anonymised
            || user.password_hash.is_none()
            || user.contact_email().is_none()
            || warned == user.password_changed
        {
            return Ok(false);
        }
        Ok(!self.settings_of(user)?.password_login_disabled)
    }
}
