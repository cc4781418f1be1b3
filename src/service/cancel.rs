//! Cancelling messages still waiting in the outbox: an announcement queued to the wrong roles,
//! or thousands of messages queued while the relay was misconfigured, are stopped before they
//! go out. Administrators only, as for reading the outbox: one call can silence mail to
//! everyone. A cancelled message stays in the outbox, marked, for the record.

use std::collections::BTreeSet;
use std::fmt;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::{Actor, Result, Service, ServiceError};
use crate::audit::AuditKind;
use crate::model::UserId;
use crate::outbox::{MessageKind, OutboxMessage};
use crate::store::Txn;

/// Ids named in an audit event's detail; past this many, only their number.
const IDS_IN_DETAIL: usize = 10;

/// Which waiting messages to cancel. The selectors given narrow each other (a message must
/// match every one); at least one is required, so that no request cancels every waiting
/// message by accident.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CancelSelection {
    /// These messages. Each must exist: a mistyped id refuses the request rather than
    /// cancelling nothing without a word.
    pub ids: Vec<Uuid>,
    pub kind: Option<MessageKind>,
    /// For (or, for an admin notification, about) this user, as `GET /admin/outbox?user=`.
    pub user: Option<UserId>,
    /// Created at or after this.
    pub since: Option<OffsetDateTime>,
}

impl CancelSelection {
    fn is_empty(&self) -> bool {
        self.ids.is_empty() && self.kind.is_none() && self.user.is_none() && self.since.is_none()
    }

    /// Whether `message` is one to cancel, its id aside.
    fn takes(&self, message: &OutboxMessage) -> bool {
        message.is_waiting()
            && self.kind.is_none_or(|kind| message.kind == kind)
            && self.user.is_none_or(|user| message.user == Some(user))
            && self.since.is_none_or(|since| message.created >= since)
    }
}

/// As the audit trail records it: `kind announcement, since 2026-12-01T00:00:00Z`.
impl fmt::Display for CancelSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.ids.is_empty() {
            let shown: Vec<String> = self
                .ids
                .iter()
                .take(IDS_IN_DETAIL)
                .map(Uuid::to_string)
                .collect();
            let more = self.ids.len().saturating_sub(IDS_IN_DETAIL);
            parts.push(if more == 0 {
                format!("ids {}", shown.join(" "))
            } else {
                format!("ids {} and {more} more", shown.join(" "))
            });
        }
        if let Some(kind) = self.kind {
            parts.push(format!("kind {kind}"));
        }
        if let Some(user) = self.user {
            parts.push(format!("user {user}"));
        }
        if let Some(since) = self.since {
            parts.push(format!(
                "since {}",
                since.format(&Rfc3339).unwrap_or_else(|_| since.to_string())
            ));
        }
        f.write_str(&parts.join(", "))
    }
}

/// What a cancellation did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Cancelled {
    /// Messages cancelled now.
    pub cancelled: usize,
    /// Of the ids given, those left as they were: sent, given up on or cancelled already, or
    /// outside the other selectors.
    pub not_cancelled: Vec<Uuid>,
}

impl Service {
    /// Cancels the waiting messages `selection` names, a batch of messages to a transaction
    /// (as announcements are queued), so that cancelling a large backlog never becomes one
    /// huge commit. Each message is read again in its transaction: one that went out or was
    /// given up on meanwhile is left as it is. Delivery looks at each message again right
    /// before it hands it to the relay (see [`Service::still_due`]). Each batch that cancels
    /// something is audited in its own transaction, with its own count: the entries of one
    /// cancellation add up to the messages it cancelled, even if it stops part way.
    pub fn cancel_messages(&self, actor: &Actor, selection: &CancelSelection) -> Result<Cancelled> {
        self.require_administrator(actor, "cancel outbox messages")?;
        if selection.is_empty() {
            return Err(ServiceError::invalid(
                "selection",
                "name the messages to cancel: ids, a kind, a user or a time they were created \
                 since",
            ));
        }
        // Users are never deleted: an id that names none is a mistake, not an empty match.
        if let Some(user) = selection.user
            && self.store.user(user)?.is_none()
        {
            return Err(ServiceError::invalid(
                "user",
                format!("no user {user} (nothing was cancelled)"),
            ));
        }
        let candidates = self.messages_to_cancel(selection)?;
        let by = actor.name();
        let at = OffsetDateTime::now_utc();
        let target = selection.user.map(|user| user.to_string());
        let cancelled = self.in_recorded_batches(
            &candidates,
            |tx, id| self.cancel_one(tx, selection, id, &by, at),
            // A batch that cancelled nothing is not audited (as a removal of an authenticator
            // that is not there).
            |tx, done| self.record_cancelled(tx, actor, selection, target.clone(), done.len()),
        )?;
        let done: BTreeSet<Uuid> = cancelled.iter().copied().collect();
        let given: BTreeSet<Uuid> = selection.ids.iter().copied().collect();
        Ok(Cancelled {
            cancelled: done.len(),
            not_cancelled: given.difference(&done).copied().collect(),
        })
    }

    /// Cancels message `id` if `selection` still takes it; its id, if it was cancelled.
    fn cancel_one(
        &self,
        tx: &mut dyn Txn,
        selection: &CancelSelection,
        id: Uuid,
        by: &str,
        at: OffsetDateTime,
    ) -> Result<Option<Uuid>> {
        let Some(mut message) = tx.outbox_message(id)? else {
            // Removed by retention meanwhile.
            return Ok(None);
        };
        if !selection.takes(&message) {
            return Ok(None);
        }
        message.cancel(by.to_string(), at);
        tx.push_outbox(&message)?;
        Ok(Some(id))
    }

    /// The audit entry of `count` messages cancelled in the transaction `tx`.
    fn record_cancelled(
        &self,
        tx: &mut dyn Txn,
        actor: &Actor,
        selection: &CancelSelection,
        target: Option<String>,
        count: usize,
    ) -> Result<()> {
        self.audit(
            tx,
            actor,
            AuditKind::OutboxCancelled,
            target,
            Some(format!("{selection}: {count} cancelled")),
            None,
        )
    }

    /// The ids of the waiting messages `selection` takes, oldest first. Named ids are read
    /// one by one, and refused if any is not in the outbox; otherwise the outbox is read from
    /// `since` (ids are time-ordered), or whole.
    fn messages_to_cancel(&self, selection: &CancelSelection) -> Result<Vec<Uuid>> {
        if !selection.ids.is_empty() {
            let named: BTreeSet<Uuid> = selection.ids.iter().copied().collect();
            let mut found = Vec::with_capacity(named.len());
            let mut unknown = Vec::new();
            for id in named {
                match self.store.outbox_message(id)? {
                    Some(message) => found.push(message),
                    None => unknown.push(id.to_string()),
                }
            }
            if !unknown.is_empty() {
                return Err(ServiceError::invalid(
                    "ids",
                    format!(
                        "no outbox message {} (nothing was cancelled)",
                        unknown.join(", ")
                    ),
                ));
            }
            return Ok(found
                .into_iter()
                .filter(|m| selection.takes(m))
                .map(|m| m.id)
                .collect());
        }
        let from = selection
            .since
            .map_or(Uuid::nil(), super::outbox::first_id_at);
        let mut ids = Vec::new();
        for message in self.store.outbox_from(from) {
            let message = message?;
            if selection.takes(&message) {
                ids.push(message.id);
            }
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::sync::Arc;

    use super::*;
    use crate::store::{SledStore, StoreError, StoreOptions};

    /// A cancellation whose audit entry cannot be written for its second batch stops there:
    /// the first batch is cancelled and recorded, the second neither cancelled nor recorded,
    /// so the trail accounts for exactly the messages that were cancelled.
    #[test]
    fn a_batch_is_cancelled_only_with_its_audit_entry() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(&dir.path().join("store"), &StoreOptions::default()).unwrap();
        let service = Service::new(Arc::new(store), super::super::Policy::default());
        let messages: Vec<OutboxMessage> = (0..100)
            .map(|i| {
                let to = Some(format!("u{i}@example.com"));
                OutboxMessage::new(MessageKind::Announcement, to, None, "s".into(), "b".into())
            })
            .collect();
        service
            .transact(|tx| {
                for message in &messages {
                    tx.push_outbox(message)?;
                }
                Ok(())
            })
            .unwrap();
        let selection = CancelSelection {
            kind: Some(MessageKind::Announcement),
            ..Default::default()
        };
        let actor = Actor::system(crate::audit::Source::Cli);
        let ids = service.messages_to_cancel(&selection).unwrap();
        assert_eq!(ids.len(), 100);
        let recorded = Cell::new(0);
        let failed = service.in_recorded_batches(
            &ids,
            |tx, id| service.cancel_one(tx, &selection, id, "system", OffsetDateTime::now_utc()),
            |tx, done| {
                service.record_cancelled(tx, &actor, &selection, None, done.len())?;
                recorded.set(recorded.get() + 1);
                match recorded.get() {
                    1 => Ok(()),
                    _ => Err(ServiceError::Store(StoreError::Engine(
                        "no space left on device".into(),
                    ))),
                }
            },
        );
        assert!(matches!(failed, Err(ServiceError::Store(_))), "{failed:?}");

        let events: Vec<_> = service
            .audit_events()
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == AuditKind::OutboxCancelled)
            .collect();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(
            events[0].detail.as_deref(),
            Some("kind announcement: 64 cancelled")
        );
        for (i, id) in ids.iter().enumerate() {
            let message = service.store.outbox_message(*id).unwrap().unwrap();
            assert_eq!(message.cancelled, i < 64, "message {i}");
        }
        assert_eq!(service.verify().unwrap(), Vec::<String>::new());
    }

    #[test]
    fn the_audit_detail_names_the_selection_and_at_most_ten_ids() {
        let selection = CancelSelection {
            kind: Some(MessageKind::Announcement),
            since: Some(time::macros::datetime!(2026-12-01 00:00 UTC)),
            ..Default::default()
        };
        assert_eq!(
            selection.to_string(),
            "kind announcement, since 2026-12-01T00:00:00Z"
        );
        let ids: Vec<Uuid> = (0..12).map(|_| Uuid::now_v7()).collect();
        let many = CancelSelection {
            ids: ids.clone(),
            ..Default::default()
        };
        let shown = many.to_string();
        assert!(shown.ends_with(" and 2 more"), "{shown}");
        assert!(shown.contains(&ids[9].to_string()) && !shown.contains(&ids[10].to_string()));
        assert!(CancelSelection::default().is_empty() && !many.is_empty());
    }
}
