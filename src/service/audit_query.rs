//! Reading the audit trail back: by time, actor, target and kind, for administrators.

use time::OffsetDateTime;

use super::{Actor, Result, Service};
use crate::audit::{AuditEvent, AuditKind};

/// Most events one query returns, whatever is asked.
pub const MAX_AUDIT_COUNT: usize = 10_000;

#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub since: Option<OffsetDateTime>,
    /// A user id, or `system` / `anonymous`; matches the actor or the acting administrator.
    pub actor: Option<String>,
    pub target: Option<String>,
    pub kind: Option<AuditKind>,
    /// At most this many (oldest first from `since`); default and ceiling [`MAX_AUDIT_COUNT`].
    pub count: Option<usize>,
}

impl AuditQuery {
    fn matches(&self, e: &AuditEvent) -> bool {
        self.since.is_none_or(|t| e.at >= t)
            && self.kind.is_none_or(|k| e.kind == k)
            && self
                .target
                .as_deref()
                .is_none_or(|t| e.target.as_deref() == Some(t))
            && self
                .actor
                .as_deref()
                .is_none_or(|a| e.actor == a || e.acting_admin.as_deref() == Some(a))
    }
}

impl Service {
    /// Events matching `query`, oldest first. Administrators only. A target is looked up in
    /// its index; otherwise event ids are time-ordered, so `since` starts the scan at the right
    /// place instead of reading the whole trail.
    pub fn audit_query(&self, actor: &Actor, query: &AuditQuery) -> Result<Vec<AuditEvent>> {
        self.require_administrator(actor, "read the audit trail")?;
        let limit = query.count.unwrap_or(MAX_AUDIT_COUNT).min(MAX_AUDIT_COUNT);
        let events = match (&query.target, query.since) {
            (Some(target), _) => self.store.audit_about(target),
            (None, Some(since)) => {
                let millis = (since.unix_timestamp_nanos() / 1_000_000).max(0);
                let from = uuid::Builder::from_unix_timestamp_millis(
                    u64::try_from(millis).unwrap_or(0),
                    &[0; 10],
                )
                .into_uuid();
                self.store.audit_from(from)
            }
            (None, None) => self.store.audit(),
        };
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        for event in events {
            let event = event?;
            if query.matches(&event) {
                out.push(event);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }
}
