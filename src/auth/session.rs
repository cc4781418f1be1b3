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
}

impl Session {
    /// Not revoked and not expired at `now`. Whether the user may still hold sessions at all
    /// (active, unlocked, password unchanged since) is the service's call.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.revoked.is_none() && self.expires > now
    }
}
