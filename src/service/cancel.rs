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
    /// before it hands it to the relay (see [`Service::still_due`]).
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
        let cancelled = self.in_batches(&candidates, |tx, id| {
            let Some(mut message) = tx.outbox_message(id)? else {
                // Removed by retention meanwhile.
                return Ok(None);
            };
            if !selection.takes(&message) {
                return Ok(None);
            }
            message.cancel(by.clone(), at);
            tx.push_outbox(&message)?;
            Ok(Some(id))
        })?;
        let done: BTreeSet<Uuid> = cancelled.iter().copied().collect();
        let given: BTreeSet<Uuid> = selection.ids.iter().copied().collect();
        let outcome = Cancelled {
            cancelled: done.len(),
            not_cancelled: given.difference(&done).copied().collect(),
        };
        // Nothing changed, nothing to audit (as a removal of an authenticator that is not there).
        if outcome.cancelled > 0 {
            let detail = format!("{selection}: {} cancelled", outcome.cancelled);
            let target = selection.user.map(|user| user.to_string());
            self.transact(|tx| {
                self.audit(
                    tx,
                    actor,
                    AuditKind::OutboxCancelled,
                    target.clone(),
                    Some(detail.clone()),
                    None,
                )
            })?;
        }
        Ok(outcome)
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
    use super::*;

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
