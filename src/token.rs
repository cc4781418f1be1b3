//! Opaque secrets handed out once: API tokens for provisioning and set-password links. Only a
//! SHA-256 digest is stored; the secrets are 256-bit random, so a fast hash is enough and lookups
//! need no per-record salt.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::model::UserId;

/// Prefix of API tokens, so secret scanners and people can recognise a leaked one.
pub const API_TOKEN_PREFIX: &str = "rc_";

/// The stored digest of a secret.
pub type SecretDigest = [u8; 32];

pub fn digest(secret: &str) -> SecretDigest {
    Sha256::digest(secret.as_bytes()).into()
}

/// 32 random bytes, URL-safe base64.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn new_api_token() -> String {
    format!("{API_TOKEN_PREFIX}{}", random_secret())
}

/// A long-lived API token bound to a service account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    pub principal: UserId,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(default)]
    pub revoked: bool,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires: Option<OffsetDateTime>,
}

/// What a one-time link lets its holder do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkPurpose {
    /// The first password, from an activation notice.
    SetPassword,
    /// A forgotten password, from a recovery request.
    ResetPassword,
}

/// A one-time, expiring link (set password after activation, password reset).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OneTimeLink {
    pub user: UserId,
    pub purpose: LinkPurpose,
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    /// When it was issued: a password set (or cleared) after that voids it. `None` in links
    /// stored before this was kept.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub issued: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_prefixed_and_digest_stably() {
        let a = new_api_token();
        let b = new_api_token();
        assert_ne!(a, b);
        assert!(a.starts_with(API_TOKEN_PREFIX));
        assert_eq!(a.len(), API_TOKEN_PREFIX.len() + 43);
        assert_eq!(digest(&a), digest(&a.clone()));
        assert_ne!(digest(&a), digest(&b));
    }
}
