//! Failed-login lockout and its undoing. The failure count and the lock are written in the
//! same transaction as the failed attempt's audit entry. Failures are also counted by client
//! address, for password spraying (see [`crate::auth::spray`]).

use time::OffsetDateTime;

use super::users::readable;
use super::{Actor, Result, Service};
use crate::audit::{AuditKind, Source};
use crate::mail::{Var, Vars};
use crate::model::{Action, UserId};
use crate::outbox::MessageKind;
use crate::store::Txn;

impl Service {
    /// Counts a failed sign-in of `user_name` by its client address; the one that flags the
    /// address is audited and tells the administrators.
    pub(super) fn count_spray(&self, actor: &Actor, user_name: &str) -> Result<()> {
        let Some(client) = actor.client else {
            return Ok(());
        };
        let folded = crate::model::fold(user_name);
        let Some(flagged) = self
            .sprays
            .failed(client, &folded, std::time::Instant::now())
        else {
            return Ok(());
        };
        let window = std::time::Duration::from_secs(self.policy.lockout.window_seconds);
        let outcome = match flagged.blocked_for {
            Some(d) => format!("its sign-ins are refused for {}", span(d)),
            None => "its sign-ins are not refused ([lockout] spray_block = false)".to_string(),
        };
        let detail = format!(
            "failed sign-ins for {} different users from {} within {} (the last over {}); {outcome}",
            flagged.users,
            flagged.address,
            span(window),
            actor.source
        );
        tracing::warn!(
            address = %flagged.address,
            users = flagged.users,
            blocked = flagged.blocked_for.is_some(),
            "failed sign-ins for many users from one address"
        );
        let anonymous = Actor::anonymous(actor.source, Some(client));
        self.transact(|tx| {
            self.audit(
                tx,
                &anonymous,
                AuditKind::SuspiciousSignIns,
                Some(flagged.address.clone()),
                Some(detail.clone()),
                None,
            )?;
            tx.push_outbox(&self.admin_notice(
                MessageKind::SuspiciousSignIns,
                Vars::new().with(Var::Detail, &detail),
                None,
            ))?;
            Ok(())
        })
    }

    /// Counts a failed guess; the one that reaches the threshold locks the user, voids its
    /// sessions and tells the admins.
    pub(super) fn count_failure(
        &self,
        tx: &mut dyn Txn,
        id: UserId,
        from: Option<std::net::IpAddr>,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut state = tx.login_state(id)?.unwrap_or_default();
        let reached = self.policy.lockout.fail(&mut state, now);
        let failures = state.failures.len();
        if reached {
            // A fresh count once the lock is over.
            state.failures.clear();
        }
        tx.put_login_state(id, &state)?;
        if !reached {
            return Ok(());
        }
        let Some(mut user) = tx.user(id)? else {
            return Ok(());
        };
        if user.is_locked(now) {
            return Ok(());
        }
        let until = now + self.policy.lockout.duration();
        user.locked_until = Some(until);
        user.sessions_revoked = Some(now);
        super::users::put_server_managed(tx, &mut user, now)?;
        // RFC 3339 to the second, as every other time the audit trail shows.
        let shown = until
            .replace_nanosecond(0)
            .unwrap_or(until)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| until.to_string());
        let detail = format!(
            "{} failed logins within {} s; locked until {shown}",
            failures, self.policy.lockout.window_seconds
        );
        self.audit(
            tx,
            &Actor::system(Source::System),
            AuditKind::UserLocked,
            Some(id.to_string()),
            Some(detail.clone()),
            None,
        )?;
        tx.push_outbox(
            &self.admin_notice(
                MessageKind::AccountLocked,
                Vars::new()
                    .with(Var::UserName, &user.user_name)
                    .with(
                        Var::DisplayName,
                        user.display_name.as_deref().unwrap_or(&user.user_name),
                    )
                    .with(Var::Detail, &detail),
                Some(user.id),
            ),
        )?;
        self.notify_locked(tx, &user, failures, from, until)
    }

    /// Lifts a lockout and forgets the failures. Needs Edit on the user.
    pub fn unlock_user(&self, actor: &Actor, id: UserId) -> Result<crate::model::User> {
        let subject = self.subject(actor)?;
        self.transact(|tx| {
            let mut user = readable(tx, id)?;
            self.authorize_user_change(&mut super::InTx(tx), &subject, Action::Edit, &user)?;
            let mut state = tx.login_state(id)?.unwrap_or_default();
            let failures = state.failures.len();
            if failures > 0 {
                state.failures.clear();
                tx.put_login_state(id, &state)?;
            }
            let locked = user.locked_until.is_some();
            if locked {
                user.locked_until = None;
                super::users::put_server_managed(tx, &mut user, OffsetDateTime::now_utc())?;
            }
            // Clearing the count of failures is recorded too: unaudited, it would let someone
            // with Edit on the user make guesses without the lock ever coming.
            if locked || failures > 0 {
                let detail = (!locked).then(|| format!("{failures} failed sign-ins forgotten"));
                self.audit(
                    tx,
                    actor,
                    AuditKind::UserUnlocked,
                    Some(id.to_string()),
                    detail,
                    None,
                )?;
            }
            Ok(user)
        })
    }
}

/// A duration as a message says it: `15 minutes`, `1 hour`, `90 seconds`.
fn span(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    let (n, unit) = if secs.is_multiple_of(3600) && secs > 0 {
        (secs / 3600, "hour")
    } else if secs.is_multiple_of(60) && secs > 0 {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}
