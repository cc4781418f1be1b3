//! The append-only audit trail. Events are written in the same transaction as the change they
//! describe, so the trail can never disagree with the data.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Which front end a request came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Ldap,
    Scim,
    Rest,
    Cli,
    /// The server itself (bootstrap, expiry sweeps).
    System,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ldap => "ldap",
            Self::Scim => "scim",
            Self::Rest => "rest",
            Self::Cli => "cli",
            Self::System => "system",
        })
    }
}

/// What happened. Kept coarse so that queries by kind stay meaningful.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    UserCreated,
    UserChanged,
    UserActivated,
    UserDeactivated,
    UserAnonymised,
    RoleCreated,
    RoleChanged,
    RoleDeleted,
    MembershipChanged,
    AccountCreated,
    AccountChanged,
    AccountDeleted,
    LicenseRefused,
    TokenCreated,
    Bootstrap,
    LoginSucceeded,
    LoginFailed,
    PasswordChanged,
    PasswordResetRequested,
    /// A provisioning client's password broke the policy and was not stored.
    PasswordRejected,
    UserLocked,
    UserUnlocked,
    MfaEnrolled,
    MfaRemoved,
    SessionCreated,
    SessionRevoked,
    ActAs,
    TokenRevoked,
    SigningKeyRotated,
    /// Failed sign-ins for many users came from one address (password spraying).
    SuspiciousSignIns,
    /// An administrator's announcement was queued for the people it is for.
    AnnouncementSent,
    /// A sign-in code was mailed to a user who gave the right password (`[mfa] email_codes`).
    SignInCodeSent,
    /// An administrator cancelled messages still waiting in the outbox.
    OutboxCancelled,
}

impl std::str::FromStr for AuditKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.to_string()))
            .map_err(|_| format!("unknown audit kind {s:?}"))
    }
}

/// One entry of the trail. `before`/`after` are redacted snapshots: never a hash, code or token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub kind: AuditKind,
    /// Who acted: a user id, or `system`.
    pub actor: String,
    /// The administrator who acted as `actor` (act-as sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acting_admin: Option<String>,
    pub source: Source,
    pub client: Option<IpAddr>,
    /// The record acted upon.
    pub target: Option<String>,
    pub detail: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    /// The personal data this event held was erased when its subject was anonymised.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub erased: bool,
}

impl AuditEvent {
    /// Drops the snapshots and names the subject by `id` alone; returns whether anything
    /// changed. What happened, when, by whom and why stays.
    pub fn erase_personal_data(&mut self, id: &str) -> bool {
        if self.erased && self.target.as_deref() == Some(id) {
            return false;
        }
        self.before = None;
        self.after = None;
        self.target = Some(id.to_string());
        self.erased = true;
        true
    }
}

/// Keeps only the top-level fields that differ, so an entry shows what changed and no more.
pub fn diff(
    before: serde_json::Value,
    after: serde_json::Value,
) -> (serde_json::Value, serde_json::Value) {
    match (before, after) {
        (serde_json::Value::Object(mut b), serde_json::Value::Object(mut a)) => {
            let same: Vec<String> = b
                .iter()
                .filter(|(k, v)| a.get(*k) == Some(*v))
                .map(|(k, _)| k.clone())
                .collect();
            for k in same {
                b.remove(&k);
                a.remove(&k);
            }
            (serde_json::Value::Object(b), serde_json::Value::Object(a))
        }
        (b, a) => (b, a),
    }
}
