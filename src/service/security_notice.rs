//! Security notices to users (seed 003, user notifications: "account changes", "security
//! events"): a user is told by mail when its password is changed, its email address is changed
//! (at the old address: taking over an account starts by moving its mail elsewhere), its
//! authenticator is removed, failed sign-ins lock it (someone may be guessing its password), or
//! an administrator signs in as it (act-as).
//! Each is queued in the transaction of the change. Changes a provisioning client (an identity
//! provider) makes are left out: the identity provider owns them and tells its users itself.

use time::OffsetDateTime;

use super::{Actor, Principal, Result, Service};
use crate::audit::Source;
use crate::auth::device::{self, Sighting};
use crate::mail::Var;
use crate::model::{PrincipalKind, User};
use crate::outbox::MessageKind;
use crate::store::Txn;

impl Service {
    /// After `old` became `new` in this transaction: the notices the change calls for.
    pub(super) fn notify_security_changes(
        &self,
        tx: &mut dyn Txn,
        actor: &Actor,
        old: &User,
        new: &User,
    ) -> Result<()> {
        if !self.policy.security_notices
            || new.kind != PrincipalKind::Person
            || new.anonymised
            || self.subject(actor)?.is_provisioning()
        {
            return Ok(());
        }
        // A first password (set from an activation link, or by an administrator for a user
        // who had none) changes nothing the user had.
        if old.password_hash.is_some()
            && new.password_hash.is_some()
            && old.password_changed != new.password_changed
            && let Some(to) = new.contact_email()
        {
            self.security_notice(
                tx,
                actor,
                new,
                to,
                "The password of your account was changed",
            )?;
        }
        if let Some(was) = old.contact_email()
            && new.contact_email() != Some(was)
        {
            let now = new
                .contact_email()
                .map_or("removed".to_string(), |to| format!("changed to {to}"));
            self.security_notice(
                tx,
                actor,
                new,
                was,
                &format!("The email address of your account was {now}"),
            )?;
        }
        Ok(())
    }

    /// After `user`'s authenticator was removed.
    pub(super) fn notify_mfa_removed(
        &self,
        tx: &mut dyn Txn,
        actor: &Actor,
        user: &User,
    ) -> Result<()> {
        if !self.policy.security_notices || user.kind != PrincipalKind::Person {
            return Ok(());
        }
        let Some(to) = user.contact_email() else {
            return Ok(());
        };
        self.security_notice(
            tx,
            actor,
            user,
            to,
            "The authenticator (two-step sign-in) of your account was removed",
        )
    }

    /// After failed sign-ins locked `user` until `until`, the last of them from `from`.
    pub(super) fn notify_locked(
        &self,
        tx: &mut dyn Txn,
        user: &User,
        failures: usize,
        from: Option<std::net::IpAddr>,
        until: OffsetDateTime,
    ) -> Result<()> {
        if !self.policy.security_notices || user.kind != PrincipalKind::Person {
            return Ok(());
        }
        let Some(to) = user.contact_email() else {
            return Ok(());
        };
        let from = from.map_or(String::new(), |ip| format!(", the last from {ip}"));
        let detail = format!(
            "Your account was locked on {} after {failures} failed sign-ins{from}, as \
             happens when someone guesses at a password; it opens again at {}",
            super::notice::human_time(OffsetDateTime::now_utc(), user),
            super::notice::human_time(until, user),
        );
        self.queue_security_notice(tx, user, to, &detail)
    }

    /// After administrator `admin` opened a session as `user` (act-as): nobody else signs in
    /// as a user without the user hearing of it.
    pub(super) fn notify_acted_as(
        &self,
        tx: &mut dyn Txn,
        actor: &Actor,
        user: &User,
        admin: &str,
    ) -> Result<()> {
        if !self.policy.security_notices || user.kind != PrincipalKind::Person {
            return Ok(());
        }
        let Some(to) = user.contact_email() else {
            return Ok(());
        };
        let channel = channel(actor.source);
        let detail = format!(
            "The administrator {admin} signed in as you on {}, {channel}, to see or do what you \
             can (support, troubleshooting); what the session does is recorded as theirs",
            super::notice::human_time(OffsetDateTime::now_utc(), user),
        );
        self.queue_security_notice(tx, user, to, &detail)
    }

    /// After `user` signed in over REST from `client` with `user_agent`, in the sign-in's
    /// transaction: the device is remembered, and one the person has not signed in from
    /// before (but for the first of all) gets a notice.
    pub(super) fn note_sign_in_device(
        &self,
        tx: &mut dyn Txn,
        user: &User,
        client: Option<std::net::IpAddr>,
        user_agent: Option<&str>,
    ) -> Result<()> {
        if !self.policy.new_device_notices || user.kind != PrincipalKind::Person {
            return Ok(());
        }
        let Some(to) = user.contact_email() else {
            return Ok(());
        };
        let now = OffsetDateTime::now_utc();
        let mut state = tx.login_state(user.id)?.unwrap_or_default();
        let key = device::device_key(user_agent, client);
        let (sighting, changed) = device::remember(&mut state.devices, key, now);
        if changed {
            tx.put_login_state(user.id, &state)?;
        }
        if sighting != Sighting::New {
            return Ok(());
        }
        let from = client.map_or(String::new(), |ip| format!(" from {ip}"));
        let with = user_agent.map_or("a client that did not name itself".to_string(), |ua| {
            ua.chars().take(120).collect()
        });
        let detail = format!(
            "Someone signed in to your account on {}{from}, with {with}, a device you had not \
             signed in from before",
            super::notice::human_time(now, user),
        );
        self.queue_security_notice(tx, user, to, &detail)
    }

    fn security_notice(
        &self,
        tx: &mut dyn Txn,
        actor: &Actor,
        user: &User,
        to: &str,
        what: &str,
    ) -> Result<()> {
        let by = match actor.principal {
            Principal::User(id) if id == user.id && actor.acting_admin.is_some() => {
                "by an administrator acting as you"
            }
            Principal::User(id) if id == user.id => "by you",
            _ => "by an administrator",
        };
        let channel = channel(actor.source);
        let detail = format!(
            "{what} on {} {by}, {channel}",
            super::notice::human_time(OffsetDateTime::now_utc(), user)
        );
        self.queue_security_notice(tx, user, to, &detail)
    }

    fn queue_security_notice(
        &self,
        tx: &mut dyn Txn,
        user: &User,
        to: &str,
        detail: &str,
    ) -> Result<()> {
        let vars = self.user_vars(user).with(Var::Detail, detail);
        tx.push_outbox(&self.message_to(MessageKind::SecurityNotice, user, Some(to), &vars))?;
        Ok(())
    }
}

/// How a change reached the directory, as a sentence says it.
fn channel(source: Source) -> &'static str {
    match source {
        Source::Ldap => "over LDAP",
        Source::Scim => "over SCIM",
        Source::Rest => "on the web",
        Source::Cli => "from the command line",
        Source::System => "by the directory",
    }
}
