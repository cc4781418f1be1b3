//! The outbox as delivery sees it: what is due, and the outcome of each attempt. These are the
//! server's own bookkeeping (no [`super::Actor`]): no user can reach them through a front end.
//! Every update is a read-modify-write in one transaction, so a message is never half-marked.

use std::collections::BTreeSet;

use time::OffsetDateTime;
use uuid::Uuid;

use super::{Result, Service, ServiceError};
use crate::outbox::OutboxMessage;
use crate::store::UserKey;

/// How long a message may take from its creation (its time-ordered id) to its commit: far
/// longer than any transaction runs.
const SETTLE: time::Duration = time::Duration::minutes(5);

/// Where a delivery pass starts reading the outbox: every message before it is sent,
/// undeliverable or cancelled, so a pass reads the messages still waiting and the last few
/// minutes', not every message ever sent. Held by the delivery loop; the default reads
/// everything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxMark(Uuid);

impl OutboxMark {
    /// The lowest time-ordered (v7) id of the millisecond `at`.
    fn at(at: OffsetDateTime) -> Self {
        let ms = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        let mut bytes = [0u8; 16];
        bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
        bytes[6] = 0x70;
        bytes[8] = 0x80;
        Self(Uuid::from_bytes(bytes))
    }
}

/// The lowest time-ordered id a message created at `at` can have.
pub(super) fn first_id_at(at: OffsetDateTime) -> Uuid {
    OutboxMark::at(at).0
}

impl Service {
    /// Messages waiting in (or sent from) the outbox, oldest first.
    pub fn outbox(&self) -> Result<Vec<OutboxMessage>> {
        Ok(self.store.outbox().collect::<Result<_, _>>()?)
    }

    /// Unsent, deliverable messages whose backoff has passed at `now`, oldest first, from
    /// `mark` on (the default: the whole outbox), and the mark the next pass may start from:
    /// the oldest message still waiting, or a few minutes before `now` when none is (a
    /// message committed later than that was created later, so its id is past the mark).
    pub fn pending_messages_from(
        &self,
        mark: OutboxMark,
        now: OffsetDateTime,
    ) -> Result<(Vec<OutboxMessage>, OutboxMark)> {
        let mut due = Vec::new();
        let mut next = OutboxMark::at(now - SETTLE);
        for message in self.store.outbox_from(mark.0) {
            let message = message?;
            if message.is_waiting() && message.id < next.0 {
                next = OutboxMark(message.id);
            }
            if message.is_due(now) {
                due.push(message);
            }
        }
        Ok((due, next))
    }

    /// The message as stored now, if it is still due at `now`. Delivery asks right before it
    /// hands a message to the relay, so that one cancelled (or erased by an anonymisation)
    /// since the pass read the outbox is not sent: only a message already being handed over
    /// when a cancellation commits can still go out.
    pub fn still_due(&self, id: Uuid, now: OffsetDateTime) -> Result<Option<OutboxMessage>> {
        Ok(self.store.outbox_message(id)?.filter(|m| m.is_due(now)))
    }

    /// Records that the relay has the message. Returns whether it had been cancelled while it
    /// was being handed over: it went out all the same, and says both.
    pub fn mark_sent(&self, id: Uuid) -> Result<bool> {
        let message = self.update_message(id, |m| {
            m.sent = true;
            m.sent_at = Some(OffsetDateTime::now_utc());
            m.next_attempt = None;
        })?;
        Ok(message.cancelled)
    }

    /// Records a failed attempt; the message is retried from `next_attempt` on. A message
    /// cancelled while the attempt ran keeps only its cancellation, which says why it never
    /// went out (as for [`Self::mark_undeliverable`]).
    pub fn mark_failed(&self, id: Uuid, error: &str, next_attempt: OffsetDateTime) -> Result<()> {
        self.update_message(id, |m| {
            if m.cancelled {
                return;
            }
            m.attempts = m.attempts.saturating_add(1);
            m.last_error = Some(error.to_string());
            m.next_attempt = Some(next_attempt);
        })
        .map(drop)
    }

    /// Gives up on a message that no retry can deliver; it stays for the admins to read.
    pub fn mark_undeliverable(&self, id: Uuid, reason: &str) -> Result<()> {
        self.update_message(id, |m| {
            if m.cancelled {
                return;
            }
            m.undeliverable = true;
            m.last_error = Some(reason.to_string());
            m.next_attempt = None;
        })
        .map(drop)
    }

    /// Applies `change` to the stored message; returns the message as stored.
    fn update_message(
        &self,
        id: Uuid,
        change: impl Fn(&mut OutboxMessage),
    ) -> Result<OutboxMessage> {
        self.transact(|tx| {
            let mut message = tx.outbox_message(id)?.ok_or_else(|| {
                ServiceError::invalid("message", format!("no outbox message {id}"))
            })?;
            change(&mut message);
            tx.push_outbox(&message)?;
            Ok(message)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_sorts_with_the_ids_of_its_millisecond() {
        let now = OffsetDateTime::now_utc();
        let id = Uuid::now_v7();
        assert!(OutboxMark::at(now - time::Duration::milliseconds(2)).0 < id);
        assert!(OutboxMark::at(now + time::Duration::seconds(1)).0 > id);
        assert!(OutboxMark::default().0 <= OutboxMark::at(OffsetDateTime::UNIX_EPOCH).0);
    }
}
