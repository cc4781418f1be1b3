//! Failed-attempt lockout (`[lockout]`): `threshold` failures within `window_seconds` lock the
//! account for `duration_seconds`. The failure times live in the store, so a restart neither
//! forgets them nor unlocks anyone.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LockoutPolicy {
    /// Failures that lock the account (0: never lock).
    pub threshold: u32,
    pub window_seconds: u64,
    pub duration_seconds: u64,
    /// Failed sign-ins for this many different userNames from one address within the window
    /// flag it (see [`crate::auth::spray`]); 0: never.
    pub spray_threshold: u32,
    /// Whether a flagged address's sign-ins are refused for `duration_seconds`.
    pub spray_block: bool,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            threshold: 5,
            window_seconds: 900,
            duration_seconds: 900,
            spray_threshold: 20,
            spray_block: false,
        }
    }
}

/// Per-user login bookkeeping that changes on every attempt. Kept apart from the user record
/// so that logins do not bump the record's version (a SCIM client's ETag).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoginState {
    /// Recent failures, oldest first; only those inside the window are kept.
    #[serde(with = "timestamps")]
    pub failures: Vec<OffsetDateTime>,
    /// The last TOTP time step accepted, so a code cannot be used twice (RFC 6238 §5.2).
    pub last_totp_step: Option<u64>,
    /// Sessions opened under a session limit. Each sign-in bumps it in the transaction that
    /// records its session, so two concurrent sign-ins of one user conflict and the later
    /// one counts the session of the other.
    pub sessions_opened: u64,
    /// The last successful sign-in (LDAP bind or `POST /auth/token`), to within
    /// [`LAST_LOGIN_RESOLUTION`]: access reviews and the dormant-account rule read it.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_login: Option<OffsetDateTime>,
    /// When the user last became active, so that a user reactivated after a long absence is
    /// not dormant the moment it is back.
    #[serde(with = "time::serde::rfc3339::option")]
    pub activated: Option<OffsetDateTime>,
    /// The last activity a dormancy warning was sent about: one warning per idle stretch.
    #[serde(with = "time::serde::rfc3339::option")]
    pub warned_for: Option<OffsetDateTime>,
    /// When the password that an expiry reminder was sent about was set: one reminder per
    /// password.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expiry_warned_for: Option<OffsetDateTime>,
    /// When the expired password that grace logins were counted for was set, and how many of
    /// them it has used (`[password] grace_logins`).
    #[serde(with = "time::serde::rfc3339::option")]
    pub grace_for: Option<OffsetDateTime>,
    pub grace_used: u32,
    /// The sign-in code last mailed (`[mfa] email_codes`), live or not: kept after use so that
    /// the pause between two codes holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_code: Option<super::email_code::EmailCode>,
    /// When a reset link was last sent at the person's own request (`POST
    /// /auth/password/forgot`): at most one a minute, so that anyone who knows a userName
    /// cannot fill its mailbox with live links.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub reset_requested: Option<OffsetDateTime>,
    /// The devices the person signed in from over REST (`[notifications] new_devices`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<super::device::KnownDevice>,
}

impl LoginState {
    /// Grace logins used by the password set at `changed`.
    pub fn grace_used_by(&self, changed: Option<OffsetDateTime>) -> u32 {
        if self.grace_for.is_some() && self.grace_for == changed {
            self.grace_used
        } else {
            0
        }
    }
}

/// How stale the recorded last sign-in may be. A sign-in within this time of the recorded one
/// writes nothing, so that an application binding as one service account many times a second
/// does not make every bind write the same key.
pub const LAST_LOGIN_RESOLUTION: Duration = Duration::minutes(1);

impl LoginState {
    /// Records a sign-in at `now`; false when the recorded one is recent enough to keep.
    pub fn note_login(&mut self, now: OffsetDateTime) -> bool {
        if self
            .last_login
            .is_some_and(|last| now - last < LAST_LOGIN_RESOLUTION)
        {
            return false;
        }
        self.last_login = Some(now);
        true
    }
}

impl LockoutPolicy {
    pub fn spray(&self) -> crate::auth::spray::SprayPolicy {
        crate::auth::spray::SprayPolicy {
            threshold: self.spray_threshold,
            window: std::time::Duration::from_secs(self.window_seconds),
            block_for: self
                .spray_block
                .then(|| std::time::Duration::from_secs(self.duration_seconds)),
        }
    }

    fn window(&self) -> Duration {
        Duration::seconds(i64::try_from(self.window_seconds).unwrap_or(i64::MAX))
    }

    pub fn duration(&self) -> Duration {
        Duration::seconds(i64::try_from(self.duration_seconds).unwrap_or(i64::MAX))
    }

    /// Failures of `state` inside the window at `now`.
    pub fn recent_failures(&self, state: &LoginState, now: OffsetDateTime) -> usize {
        let window = self.window();
        state.failures.iter().filter(|t| now - **t < window).count()
    }

    /// Records a failure at `now`; true when it reaches the threshold (the caller locks).
    pub fn fail(&self, state: &mut LoginState, now: OffsetDateTime) -> bool {
        if self.threshold == 0 {
            state.failures.clear();
            return false;
        }
        let window = self.window();
        state.failures.retain(|t| now - *t < window);
        state.failures.push(now);
        state.failures.len() >= self.threshold as usize
    }
}

mod timestamps {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(v: &[OffsetDateTime], s: S) -> Result<S::Ok, S::Error> {
        v.iter()
            .map(|t| t.unix_timestamp())
            .collect::<Vec<_>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<OffsetDateTime>, D::Error> {
        Vec::<i64>::deserialize(d)?
            .into_iter()
            .map(|t| OffsetDateTime::from_unix_timestamp(t).map_err(serde::de::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_outside_the_window_do_not_count() {
        let policy = LockoutPolicy {
            threshold: 3,
            window_seconds: 60,
            duration_seconds: 60,
            ..LockoutPolicy::default()
        };
        let t0 = OffsetDateTime::now_utc();
        let mut state = LoginState::default();
        assert!(!policy.fail(&mut state, t0));
        assert!(!policy.fail(&mut state, t0 + Duration::seconds(10)));
        // The first failure has left the window: still two.
        assert!(!policy.fail(&mut state, t0 + Duration::seconds(65)));
        assert!(policy.fail(&mut state, t0 + Duration::seconds(66)));
        assert_eq!(state.failures.len(), 3);

        let never = LockoutPolicy {
            threshold: 0,
            ..policy
        };
        let mut state = LoginState::default();
        assert!((0..100).all(|_| !never.fail(&mut state, t0)));
    }
}
