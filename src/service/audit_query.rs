//! Reading the audit trail back: by time, actor, target and kind, for administrators.

use time::OffsetDateTime;

use super::{Actor, Result, Service, ServiceError};
use crate::audit::{AuditEvent, AuditKind};
use crate::model::fold;

/// Most events one query returns.
pub const MAX_AUDIT_COUNT: usize = 10_000;

#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub since: Option<OffsetDateTime>,
    /// A user id or userName, or `system` / `anonymous`; matches the actor or the acting
    /// administrator.
    pub actor: Option<String>,
    /// What the events are about: an id, or a userName or role name (taken as its id too).
    pub target: Option<String>,
    pub kind: Option<AuditKind>,
    /// At most this many (1 to [`MAX_AUDIT_COUNT`], the default), oldest first from `since`.
    pub count: Option<usize>,
}

/// An [`AuditQuery`] with its names resolved: each of `actors` and `targets` holds what was
/// asked for and, when that was a name, the id it names (events record ids; a few, such as
/// refused activations, name the user).
struct Resolved<'q> {
    query: &'q AuditQuery,
    actors: Vec<String>,
    targets: Vec<String>,
}

impl Resolved<'_> {
    fn matches(&self, e: &AuditEvent) -> bool {
        let query = self.query;
        query.since.is_none_or(|t| e.at >= t)
            && query.kind.is_none_or(|k| e.kind == k)
            && (query.target.is_none()
                || e.target.as_ref().is_some_and(|t| self.targets.contains(t)))
            && (query.actor.is_none()
                || self
                    .actors
                    .iter()
                    .any(|a| e.actor == *a || e.acting_admin.as_deref() == Some(a.as_str())))
    }
}

impl Service {
    /// Events matching `query`, oldest first. Administrators only. A target is looked up in
    /// its index; otherwise event ids are time-ordered, so `since` starts the scan at the right
    /// place instead of reading the whole trail.
    pub fn audit_query(&self, actor: &Actor, query: &AuditQuery) -> Result<Vec<AuditEvent>> {
        self.require_administrator(actor, "read the audit trail")?;
        let limit = super::listing_count(query.count, MAX_AUDIT_COUNT)?;
        let resolved = Resolved {
            query,
            actors: self.with_named_ids(query.actor.as_deref(), false)?,
            targets: self.with_named_ids(query.target.as_deref(), true)?,
        };
        // Events record actors by id: an actor's name that names no one can match nothing,
        // and is said to, rather than answered with an empty trail.
        if let Some(name) = query.actor.as_deref()
            && resolved.actors.len() == 1
            && is_audit_name(name)
            && !matches!(name, "system" | "anonymous")
        {
            return Err(ServiceError::invalid(
                "actor",
                format!("{name:?}: no user has that name"),
            ));
        }
        let events: crate::store::Iter<'_, AuditEvent> = match (&query.target, query.since) {
            (Some(_), _) if resolved.targets.len() > 1 => {
                // Each target's events, merged back into time order (event ids sort by time).
                let mut found = Vec::new();
                for target in &resolved.targets {
                    for event in self.store.audit_about(target) {
                        found.push(event?);
                    }
                }
                found.sort_by_key(|e| e.id);
                found.dedup_by_key(|e| e.id);
                Box::new(found.into_iter().map(Ok))
            }
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
            if resolved.matches(&event) {
                out.push(event);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// `asked` and, when it is not an id, the id of the user (or, with `roles`, the role) it
    /// names.
    fn with_named_ids(&self, asked: Option<&str>, roles: bool) -> Result<Vec<String>> {
        let Some(asked) = asked else {
            return Ok(Vec::new());
        };
        let mut ids = vec![asked.to_string()];
        if asked.parse::<uuid::Uuid>().is_err() {
            let name = fold(asked);
            if let Some(user) = self.store.user_by_name(&name)? {
                ids.push(user.to_string());
            }
            if roles && let Some(role) = self.store.role_by_name(&name)? {
                ids.push(role.to_string());
            }
        }
        Ok(ids)
    }
}

/// Whether an actor or target asked of the audit trail is a name (to be found as a user or
/// role) rather than an id, an address or another kind of key.
pub fn is_audit_name(asked: &str) -> bool {
    asked.parse::<uuid::Uuid>().is_err()
        && asked.parse::<std::net::IpAddr>().is_err()
        && !asked.contains(':')
}
