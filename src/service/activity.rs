//! Sign-in activity (seed 003: activity tracking, quarterly access reviews, "immediately
//! disable accounts when users leave"): when each user last signed in, and the dormant-account
//! rule that deactivates people who stopped signing in, freeing their licenses.
//!
//! A user's *last activity* is the latest of its last sign-in, its last activation and the
//! moment this server began tracking sign-ins. The last is there for stores that existed before:
//! nobody has a recorded sign-in then, and nobody must look dormant for that reason.

use time::{Duration, OffsetDateTime};

use super::{Actor, Result, Service, ServiceError};
use crate::audit::Source;
use crate::auth::lockout::LoginState;
use crate::mail::{Var, Vars};
use crate::model::{PrincipalKind, User, UserId};
use crate::outbox::MessageKind;
use crate::store::Txn;

/// Meta key: when sign-ins began to be recorded (RFC 3339).
const TRACKED_SINCE: &str = "activity_since";

/// The dormant-account rule (`[activity]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DormancyPolicy {
    /// Active people whose last activity is older than this are deactivated.
    pub after: Duration,
    /// Deactivations per run at most: a rule set too tight, or a clock gone wrong, empties the
    /// directory slowly enough for an administrator to notice and stop it.
    pub per_run: usize,
    /// How long before its deactivation a user is warned by mail; `None`: not warned.
    pub warn_before: Option<Duration>,
}

/// What the directory knows of a user's use of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Activity {
    pub last_login: Option<OffsetDateTime>,
    /// The latest of the last sign-in, the last activation and the start of tracking.
    pub last_active: OffsetDateTime,
}

impl Activity {
    /// Whole days between the last activity and `now`.
    pub fn idle_days(&self, now: OffsetDateTime) -> i64 {
        (now - self.last_active).whole_days().max(0)
    }
}

/// What one run of the dormant-account rule did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dormant {
    /// userNames of the users it deactivated.
    pub deactivated: Vec<String>,
    /// Dormant users it left active because each is the last active administrator.
    pub kept: Vec<String>,
    /// Dormant users left for the next run, past [`DormancyPolicy::per_run`].
    pub deferred: usize,
    /// userNames of the users warned that they will be deactivated.
    pub warned: Vec<String>,
}

impl Service {
    /// When sign-ins began to be recorded; the first call (the server's first start with
    /// tracking) records `now`.
    pub fn start_activity_tracking(&self, now: OffsetDateTime) -> Result<OffsetDateTime> {
        if let Some(since) = self.activity_tracked_since()? {
            return Ok(since);
        }
        // Only the running server calls this, once at start: nothing races it.
        self.set_meta(TRACKED_SINCE, rfc3339(now).as_bytes())?;
        Ok(now)
    }

    /// When sign-ins began to be recorded, if they are yet.
    pub fn activity_tracked_since(&self) -> Result<Option<OffsetDateTime>> {
        let Some(bytes) = self.store.meta(TRACKED_SINCE)? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&bytes);
        OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
            .map(Some)
            .map_err(|e| ServiceError::invalid(TRACKED_SINCE, e.to_string()))
    }

    /// `user`'s activity; `since` is [`Self::activity_tracked_since`] (read once by callers
    /// that go through many users).
    pub(super) fn activity_of(
        &self,
        user: &User,
        state: Option<&LoginState>,
        since: Option<OffsetDateTime>,
    ) -> Activity {
        let last_login = state.and_then(|s| s.last_login);
        let activated = state
            .and_then(|s| s.activated)
            .or(user.first_activated)
            .unwrap_or(user.created);
        let last_active = [last_login, Some(activated), since]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(user.created);
        Activity {
            last_login,
            last_active,
        }
    }

    /// A readable user's activity.
    pub fn activity(&self, actor: &Actor, id: UserId) -> Result<Activity> {
        let user = self.user(actor, id)?;
        let state = self.store.login_state(id)?;
        Ok(self.activity_of(&user, state.as_ref(), self.activity_tracked_since()?))
    }

    /// When a readable user last signed in, if it has: what an export carries to the
    /// directory it is imported into.
    pub fn last_login(&self, actor: &Actor, id: UserId) -> Result<Option<OffsetDateTime>> {
        self.user(actor, id)?;
        Ok(self.store.login_state(id)?.and_then(|s| s.last_login))
    }

    /// In the transaction that creates a user moved from another directory: its last
    /// sign-in there. It shows as the last sign-in (reviews, `authTimestamp`, `lastLogin`),
    /// but the creation made it active here (if it is), which counts as activity: idle time
    /// starts at the import, so that a migrated directory is not found dormant, and
    /// deactivated, at its first run of the rule.
    pub(super) fn carry_last_login(
        &self,
        tx: &mut dyn Txn,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<()> {
        let mut state = tx.login_state(user)?.unwrap_or_default();
        state.last_login = Some(at);
        tx.put_login_state(user, &state)?;
        Ok(())
    }

    /// In the transaction that makes `user` active: records when.
    pub(super) fn note_activated(&self, tx: &mut dyn Txn, user: UserId) -> Result<()> {
        let mut state = tx.login_state(user)?.unwrap_or_default();
        state.activated = Some(OffsetDateTime::now_utc());
        tx.put_login_state(user, &state)?;
        Ok(())
    }

    /// In an anonymisation's transaction: when the person signed in is theirs too.
    pub(super) fn forget_activity(&self, tx: &mut dyn Txn, user: UserId) -> Result<()> {
        if let Some(mut state) = tx.login_state(user)? {
            state.last_login = None;
            state.activated = None;
            tx.put_login_state(user, &state)?;
        }
        Ok(())
    }

    /// Whether the dormant-account rule applies to `user` at all: active people who sign in
    /// here. Service accounts authenticate with tokens and binds whose rhythm is the
    /// application's, and members of a role with `passwordLoginDisabled` sign in at the
    /// identity provider, which this directory never sees.
    fn may_go_dormant(&self, user: &User) -> Result<bool> {
        Ok(user.kind == PrincipalKind::Person
            && user.active
            && !user.anonymised
            && !self.settings_of(user)?.password_login_disabled)
    }

    /// Deactivates the active people whose last activity is older than the policy allows, each
    /// in a transaction of its own that re-reads the user (a sign-in meanwhile saves it), frees
    /// its license, audits why and tells the administrators. The last active administrator is
    /// never deactivated (the rule of [`Self::keep_an_administrator`]); it is reported instead.
    pub fn deactivate_dormant(
        &self,
        policy: DormancyPolicy,
        now: OffsetDateTime,
    ) -> Result<Dormant> {
        let mut outcome = Dormant::default();
        let Some(since) = self.activity_tracked_since()? else {
            return Ok(outcome);
        };
        let cutoff = now - policy.after;
        let warn_from = policy.warn_before.map(|w| cutoff + w);
        let mut candidates = Vec::new();
        let mut to_warn = Vec::new();
        for user in self.store.shared_users(None) {
            let user = user?;
            if !self.may_go_dormant(&user)? {
                continue;
            }
            let state = self.store.login_state(user.id)?;
            let last_active = self
                .activity_of(&user, state.as_ref(), Some(since))
                .last_active;
            if last_active < cutoff {
                candidates.push(user.id);
            } else if warn_from.is_some_and(|from| last_active < from)
                && state.as_ref().and_then(|s| s.warned_for) != Some(last_active)
            {
                to_warn.push(user.id);
            }
        }
        let actor = Actor::system(Source::System);
        for id in to_warn {
            if let Some(name) = self.warn_dormant(id, since, policy, now)? {
                outcome.warned.push(name);
            }
        }
        for id in candidates {
            if outcome.deactivated.len() >= policy.per_run {
                outcome.deferred += 1;
                continue;
            }
            match self.deactivate_if_dormant(&actor, id, since, cutoff, policy.after) {
                Ok(Some(name)) => outcome.deactivated.push(name),
                Ok(None) => {}
                Err(ServiceError::LastAdministrator(name)) => outcome.kept.push(name),
                Err(e) => return Err(e),
            }
        }
        Ok(outcome)
    }

    /// In a transaction: the user, its login state and its activity, if the rule applies to
    /// it, read again so that what a run decides holds at its commit.
    fn dormancy_view(
        &self,
        tx: &mut dyn Txn,
        id: UserId,
        since: OffsetDateTime,
    ) -> Result<Option<(User, LoginState, Activity)>> {
        let Some(user) = tx.user(id)? else {
            return Ok(None);
        };
        if !self.may_go_dormant(&user)? {
            return Ok(None);
        }
        let state = tx.login_state(id)?.unwrap_or_default();
        let activity = self.activity_of(&user, Some(&state), Some(since));
        Ok(Some((user, state, activity)))
    }

    /// Tells a user that it will be deactivated unless it signs in, once per idle stretch;
    /// decided again inside the transaction. The userName when a warning was queued.
    fn warn_dormant(
        &self,
        id: UserId,
        since: OffsetDateTime,
        policy: DormancyPolicy,
        now: OffsetDateTime,
    ) -> Result<Option<String>> {
        self.transact(|tx| {
            let Some((user, mut state, activity)) = self.dormancy_view(tx, id, since)? else {
                return Ok(None);
            };
            let last_active = activity.last_active;
            let due = last_active + policy.after;
            let warn_from = due - policy.warn_before.unwrap_or(Duration::ZERO);
            if now < warn_from || now >= due || state.warned_for == Some(last_active) {
                return Ok(None);
            }
            let Some(to) = user.contact_email().map(str::to_string) else {
                return Ok(None);
            };
            state.warned_for = Some(last_active);
            tx.put_login_state(id, &state)?;
            let vars = self.user_vars(&user).with(
                Var::Detail,
                format!(
                    "It will be deactivated on {} unless you sign in before then",
                    crate::mail::local_time::day(due, user.timezone.as_deref())
                ),
            );
            tx.push_outbox(&self.message_to(MessageKind::DormantWarning, &user, Some(&to), &vars))?;
            Ok(Some(user.user_name))
        })
    }

    /// One dormant user, decided again inside the transaction; the userName when deactivated.
    fn deactivate_if_dormant(
        &self,
        actor: &Actor,
        id: UserId,
        since: OffsetDateTime,
        cutoff: OffsetDateTime,
        after: Duration,
    ) -> Result<Option<String>> {
        self.transact(|tx| {
            let Some((old, _, activity)) = self.dormancy_view(tx, id, since)? else {
                return Ok(None);
            };
            if activity.last_active >= cutoff {
                return Ok(None);
            }
            if self.is_active_administrator(&old)? {
                self.keep_an_administrator(tx, &old.user_name, &|_, u| u == id)?;
            }
            let days = after.whole_days();
            let last = match activity.last_login {
                Some(t) => format!("last sign-in {}", crate::mail::local_time::day(t, None)),
                None => "no sign-in recorded".to_string(),
            };
            let reason = format!("dormant: no activity for {days} days ({last})");
            let mut new = old.clone();
            new.active = false;
            let new = self.commit_user_because(tx, actor, Some(&old), new, Some(reason))?;
            let detail = format!(
                "{} was deactivated after {days} days without signing in ({last}); its {} \
                 license is free again",
                new.user_name, new.license
            );
            tx.push_outbox(
                &self.admin_notice(
                    MessageKind::DormantDeactivated,
                    Vars::new()
                        .with(Var::UserName, &new.user_name)
                        .with(Var::Detail, &detail),
                    Some(id),
                ),
            )?;
            Ok(Some(new.user_name))
        })
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}
