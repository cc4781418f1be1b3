//! A session: one issued session token, recorded by its `jti` so that it can be listed and
//! revoked before it expires (remote termination).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::Source;
use crate::model::UserId;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub jti: Uuid,
    pub user: UserId,
    /// The administrator acting as `user`, for sessions made by act-as.
    #[serde(default)]
    pub acting_admin: Option<UserId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revoked: Option<OffsetDateTime>,
    pub source: Source,
    pub client: Option<IpAddr>,
    /// Good only for enrolling an authenticator (MFA required, none enrolled yet).
    #[serde(default)]
    pub enrol_only: bool,
    /// Good only for replacing a temporary password (`[password] reset_must_change`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub change_only: bool,
    /// Signed in with a password alone: should the user's roles come to require MFA, the
    /// session is good for enrolling only, as a new sign-in would be.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub single_factor: bool,
    /// The client's `User-Agent` at sign-in, so that a user or an administrator can tell the
    /// devices holding sessions apart before ending one (seed 003: "device tracking").
    #[serde(default)]
    pub user_agent: Option<String>,
}

/// Longest session a role may set (`sessionTimeoutMinutes`): a year.
pub const MAX_TIMEOUT_MINUTES: u32 = 366 * 24 * 60;

/// Longest `User-Agent` kept with a session; browsers send 100–300 characters.
const USER_AGENT_CHARS: usize = 256;

/// What is kept of a client's `User-Agent`: printable characters only, at most
/// [`USER_AGENT_CHARS`], nothing for an empty one.
pub fn user_agent(raw: &str) -> Option<String> {
    let kept: String = raw
        .chars()
        .filter(|c| !c.is_control())
        .take(USER_AGENT_CHARS)
        .collect();
    let kept = kept.trim();
    (!kept.is_empty()).then(|| kept.to_string())
}

/// How many sessions one user may hold at once (seed 003: "concurrent session limits").
/// Sessions an administrator opened by acting as the user neither count nor are ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLimit {
    /// At least 1.
    pub max: u32,
    pub at_limit: AtLimit,
}

/// What a sign-in does when the user already holds the most sessions allowed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AtLimit {
    /// The oldest sessions end, so that signing in on a new device always works.
    #[default]
    EndOldest,
    /// The sign-in is refused until a session ends.
    Refuse,
}

impl Session {
    /// Not revoked and not expired at `now`. Whether the user may still hold sessions at all
    /// (active, unlocked, password unchanged since) is the service's call.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.revoked.is_none() && self.expires > now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_agent_is_kept_printable_and_bounded() {
        assert_eq!(user_agent("curl/8.5.0").as_deref(), Some("curl/8.5.0"));
        assert_eq!(
            user_agent("evil\r\nX-Injected: 1").as_deref(),
            Some("evilX-Injected: 1")
        );
        assert_eq!(user_agent(" \t "), None);
        assert_eq!(user_agent(&"é".repeat(1000)).unwrap().chars().count(), 256);
    }
}
