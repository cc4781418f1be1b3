//! The outbox as delivery sees it: what is due, and the outcome of each attempt. These are the
//! server's own bookkeeping (no [`super::Actor`]): no user can reach them through a front end.
//! Every update is a read-modify-write in one transaction, so a message is never half-marked.

use std::collections::BTreeSet;

use time::OffsetDateTime;
use uuid::Uuid;

use super::{Result, Service, ServiceError};
use crate::outbox::OutboxMessage;
use crate::store::UserKey;

impl Service {
    /// Messages waiting in (or sent from) the outbox, oldest first.
    pub fn outbox(&self) -> Result<Vec<OutboxMessage>> {
        Ok(self.store.outbox().collect::<Result<_, _>>()?)
    }

    /// Unsent, deliverable messages whose backoff has passed at `now`, oldest first.
    pub fn pending_messages(&self, now: OffsetDateTime) -> Result<Vec<OutboxMessage>> {
        let mut due = Vec::new();
        for message in self.store.outbox() {
            let message = message?;
            if message.is_due(now) {
                due.push(message);
            }
        }
        Ok(due)
    }

    pub fn mark_sent(&self, id: Uuid) -> Result<()> {
        self.update_message(id, |m| {
            m.sent = true;
            m.sent_at = Some(OffsetDateTime::now_utc());
            m.next_attempt = None;
        })
    }

    /// Records a failed attempt; the message is retried from `next_attempt` on.
    pub fn mark_failed(&self, id: Uuid, error: &str, next_attempt: OffsetDateTime) -> Result<()> {
        self.update_message(id, |m| {
            m.attempts = m.attempts.saturating_add(1);
            m.last_error = Some(error.to_string());
            m.next_attempt = Some(next_attempt);
        })
    }

    /// Gives up on a message that no retry can deliver; it stays for the admins to read.
    pub fn mark_undeliverable(&self, id: Uuid, reason: &str) -> Result<()> {
        self.update_message(id, |m| {
            m.undeliverable = true;
            m.last_error = Some(reason.to_string());
            m.next_attempt = None;
        })
    }

    fn update_message(&self, id: Uuid, change: impl Fn(&mut OutboxMessage)) -> Result<()> {
        self.transact(|tx| {
            let mut message = tx.outbox_message(id)?.ok_or_else(|| {
                ServiceError::invalid("message", format!("no outbox message {id}"))
            })?;
            change(&mut message);
            tx.push_outbox(&message)?;
            Ok(())
        })
    }

    /// Where admin notifications ([`crate::outbox::ADMINS`]) go: the contact addresses of the
    /// active users holding a role with the administrator flag, without duplicates.
    pub fn administrator_addresses(&self) -> Result<Vec<String>> {
        let mut seen = BTreeSet::new();
        let mut addresses = Vec::new();
        for role in self.store.roles() {
            let role = role?;
            if !role.administrator {
                continue;
            }
            for id in self.store.users_by(&UserKey::Role(role.id))? {
                let Some(user) = self.store.user(id)? else {
                    continue;
                };
                if !user.active || user.anonymised || !user.roles.contains(&role.id) {
                    continue;
                }
                if let Some(address) = user.contact_email()
                    && seen.insert(address.to_lowercase())
                {
                    addresses.push(address.to_string());
                }
            }
        }
        Ok(addresses)
    }
}
