//! Activation notices (seed 000): activating a user tells them, and a user with no password of
//! their own gets a one-time link to set one. A password an admin chose is never put in a message.

use time::OffsetDateTime;
use uuid::Uuid;

use super::{Result, Service};
use crate::model::{PrincipalKind, User};
use crate::outbox::{MessageKind, OutboxMessage};
use crate::store::Txn;
use crate::token::{self, LinkPurpose, OneTimeLink};

impl Service {
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
        let mut body = format!(
            "Hello {},\n\nyour account {:?} is now active. Sign in at {login}.\n",
            new.display_name.as_deref().unwrap_or(&new.user_name),
            new.user_name
        );
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
                },
            )?;
            body.push_str(&format!(
                "\nChoose your password here (the link works once, until {expires}):\n\
                 {login}/auth/activate?token={secret}\n"
            ));
            link_expires = Some(expires);
        }
        tx.push_outbox(&OutboxMessage {
            id: Uuid::now_v7(),
            created: now,
            kind: MessageKind::Activation,
            to: new.contact_email().map(str::to_string),
            user: Some(new.id),
            subject: "Your account is active".into(),
            body,
            link_expires,
            sent: false,
        })?;
        Ok(())
    }
}
