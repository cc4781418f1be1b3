//! Activation notices (seed 000): activating a user tells them, and a user with no password of
//! their own gets a one-time link to set one. A password an admin chose is never put in a message.

use time::OffsetDateTime;

use super::{Result, Service};
use crate::mail::{Rendered, Var, Vars};
use crate::model::{PrincipalKind, User};
use crate::outbox::{MessageKind, OutboxMessage};
use crate::store::Txn;
use crate::token::{self, LinkPurpose, OneTimeLink};

impl Service {
    /// What every message to a user says of it: the name it goes by, its userName and where
    /// to sign in. Each kind of message adds what it is about.
    pub(super) fn user_vars(&self, user: &User) -> Vars {
        Vars::new()
            .with(
                Var::DisplayName,
                user.display_name.as_deref().unwrap_or(&user.user_name),
            )
            .with(Var::UserName, &user.user_name)
            .with(Var::LoginUrl, &self.policy.public_url)
    }

    /// A message of `kind` to `user` at `to`, rendered from `vars`, ready for the outbox.
    pub(super) fn message_to(
        &self,
        kind: MessageKind,
        user: &User,
        to: Option<&str>,
        vars: &Vars,
    ) -> OutboxMessage {
        // In the person's own language where the templates have it.
        let language = user
            .preferred_language
            .as_deref()
            .or(user.locale.as_deref());
        let Rendered { subject, body } = self.policy.templates.render_for(kind, vars, language);
        OutboxMessage::new(kind, to.map(str::to_string), Some(user.id), subject, body)
    }

    /// Queues the notice when `new` becomes active. Created inactive means no notice; a user
    /// created inactive and activated later must set a password through the link even if an
    /// admin set one, since they were never told it.
    pub(super) fn notify_activation(
        &self,
        tx: &mut dyn Txn,
        old: Option<&User>,
        new: &mut User,
    ) -> Result<()> {
        let becomes_active = new.active && !old.is_some_and(|o| o.active);
        if !becomes_active || new.kind != PrincipalKind::Person || new.anonymised {
            return Ok(());
        }
        let now = OffsetDateTime::now_utc();
        let first_time = new.first_activated.is_none();
        let created_inactive = old.is_some();
        if first_time {
            new.first_activated = Some(now);
        }
        let needs_link = new.password_hash.is_none() || (first_time && created_inactive);

        let login = &self.policy.public_url;
        let mut vars = self.user_vars(new);
        let mut link_expires = None;
        if needs_link {
            let secret = token::random_secret();
            let expires = now + self.policy.activation_link_ttl;
            tx.put_link(
                &token::digest(&secret),
                &OneTimeLink {
                    user: new.id,
                    purpose: LinkPurpose::SetPassword,
                    expires,
                    issued: Some(now),
                },
            )?;
            vars = vars
                .with(Var::Link, format!("{login}/auth/activate?token={secret}"))
                .with(Var::LinkExpires, human_time(expires, new));
            link_expires = Some(expires);
        }
        let mut message = self.message_to(MessageKind::Activation, new, new.contact_email(), &vars);
        message.created = now;
        message.link_expires = link_expires;
        tx.push_outbox(&message)?;
        Ok(())
    }
}

/// A time as `user` reads it in a mail: to the minute, in its time zone when it has one
/// (`2025-03-01 15:30 CET`), else in UTC.
pub(super) fn human_time(at: OffsetDateTime, user: &User) -> String {
    crate::mail::local_time::minute(at, user.timezone.as_deref())
}
