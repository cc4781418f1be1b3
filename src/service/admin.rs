//! Reads reserved for administrators: license usage and the outbox.

use super::{Actor, Result, Service, ServiceError};
use crate::model::LicenseUsage;
use crate::outbox::OutboxMessage;

/// Most messages one outbox query returns.
pub const MAX_OUTBOX_COUNT: usize = 10_000;

/// A listing's `count` (audit trail, outbox) outside 1 to the most one query returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{count} is out of range 1–{max}")]
pub struct CountOutOfRange {
    pub count: usize,
    pub max: usize,
}

impl From<CountOutOfRange> for ServiceError {
    fn from(e: CountOutOfRange) -> Self {
        ServiceError::invalid("count", e.to_string())
    }
}

/// How many entries a listing returns: `count`, from 1 to `max`, or `max` when none is asked
/// for. The one check for `GET /admin/audit` and `/admin/outbox` and for `rollcall audit` and
/// `outbox --count`: a count of 0 would answer nothing and one past `max` would be cut to it,
/// both without a word.
pub fn listing_count(count: Option<usize>, max: usize) -> Result<usize, CountOutOfRange> {
    match count {
        None => Ok(max),
        Some(count) if (1..=max).contains(&count) => Ok(count),
        Some(count) => Err(CountOutOfRange { count, max }),
    }
}

/// Which outbox messages `GET /admin/outbox` returns.
#[derive(Clone, Debug, Default)]
pub struct OutboxQuery {
    /// Created at or after this.
    pub since: Option<time::OffsetDateTime>,
    /// For (or, for an admin notice, about) this user.
    pub user: Option<crate::model::UserId>,
    pub kind: Option<crate::outbox::MessageKind>,
    /// Only those not yet sent, given up on or cancelled.
    pub waiting: bool,
    /// At most this many (1 to [`MAX_OUTBOX_COUNT`], the default), oldest first.
    pub count: Option<usize>,
}

impl Service {
    /// License usage per type, for the admin REST API.
    pub fn license_report(&self, actor: &Actor) -> Result<Vec<LicenseUsage>> {
        self.require_administrator(actor, "read license usage")?;
        self.license_usage()
    }

    /// The outbox messages `query` asks for, oldest first. Messages may hold one-time links,
    /// hence administrators only.
    pub fn outbox_report(&self, actor: &Actor, query: &OutboxQuery) -> Result<Vec<OutboxMessage>> {
        self.require_administrator(actor, "read the outbox")?;
        let limit = listing_count(query.count, MAX_OUTBOX_COUNT)?;
        let from = query
            .since
            .map_or(uuid::Uuid::nil(), super::outbox::first_id_at);
        let mut found = Vec::new();
        for message in self.store.outbox_from(from) {
            if found.len() >= limit {
                break;
            }
            let message = message?;
            if query.since.is_some_and(|since| message.created < since)
                || query.user.is_some_and(|user| message.user != Some(user))
                || query.kind.is_some_and(|kind| message.kind != kind)
                || (query.waiting && !message.is_waiting())
            {
                continue;
            }
            found.push(message);
        }
        Ok(found)
    }
}
