//! Sign-in codes sent by email (seed 003: "Multi-Factor Authentication: SMS, TOTP, or email
//! codes"), for people whose roles require MFA and who have no authenticator (`[mfa]
//! email_codes`). A code is six random digits, lives a few minutes, is stored only as a digest
//! bound to its user, works once, and a few wrong tries spend it; failed tries also count
//! towards the lockout, which bounds guessing across codes.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

use crate::model::UserId;

/// Digits in a code, as in an authenticator app's.
pub const DIGITS: u32 = 6;

/// Wrong tries that spend a code.
pub const MAX_TRIES: u8 = 3;

/// Least time between two codes mailed to one person: a sign-in in between is told that the
/// last code is on its way, so that whoever holds a password cannot flood the mailbox.
pub const RESEND_AFTER: Duration = Duration::seconds(60);

/// The code last mailed to a user, kept in its login state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmailCode {
    /// SHA-256 of the user's id and the code: a leaked store gives no code away, and one user's
    /// digest never matches another's code.
    digest: [u8; 32],
    #[serde(with = "time::serde::rfc3339")]
    sent: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    /// Wrong tries so far; [`MAX_TRIES`] once spent (used, or guessed at too often).
    tries: u8,
}

/// What a presented code came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeCheck {
    Accepted,
    Wrong,
    /// None was mailed, or the last one expired or was spent: a new one is due.
    NoLiveCode,
}

impl EmailCode {
    /// A new code for `user`, valid for `ttl`: the record to keep and the code to mail.
    pub fn issue(user: UserId, ttl: Duration, now: OffsetDateTime) -> (Self, String) {
        let code = random_code();
        let record = Self {
            digest: digest(user, &code),
            sent: now,
            expires: now + ttl,
            tries: 0,
        };
        (record, code)
    }

    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.tries < MAX_TRIES && now < self.expires
    }

    /// Whether another code may be mailed: this one is no longer live, or was sent long enough
    /// ago.
    pub fn may_resend(&self, now: OffsetDateTime) -> bool {
        !self.is_live(now) || now - self.sent >= RESEND_AFTER
    }

    /// Compares in constant time; spends nothing (see [`Self::note_wrong`], [`Self::spend`]).
    pub fn check(&self, user: UserId, presented: &str, now: OffsetDateTime) -> CodeCheck {
        if !self.is_live(now) {
            return CodeCheck::NoLiveCode;
        }
        let presented = presented.trim();
        if bool::from(digest(user, presented).ct_eq(&self.digest)) {
            CodeCheck::Accepted
        } else {
            CodeCheck::Wrong
        }
    }

    pub fn note_wrong(&mut self) {
        self.tries = self.tries.saturating_add(1).min(MAX_TRIES);
    }

    /// Used up by a sign-in: it never works again, and the resend pause still holds.
    pub fn spend(&mut self) {
        self.tries = MAX_TRIES;
    }
}

fn digest(user: UserId, code: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(user.to_string().as_bytes());
    h.update(b"\n");
    h.update(code.as_bytes());
    h.finalize().into()
}

/// Six uniformly random digits: a draw from the operating system's source, rejected and drawn
/// again above the largest multiple of 10⁶, so that no code is likelier than another.
fn random_code() -> String {
    const SPAN: u32 = 10u32.pow(DIGITS);
    let limit = u32::MAX - u32::MAX % SPAN;
    loop {
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
        let n = u32::from_le_bytes(bytes);
        if n < limit {
            return format!("{:0width$}", n % SPAN, width = DIGITS as usize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserId {
        UserId::new()
    }

    #[test]
    fn a_code_works_for_its_user_until_spent_or_expired() {
        let (ann, bob) = (user(), user());
        let now = OffsetDateTime::now_utc();
        let (mut record, code) = EmailCode::issue(ann, Duration::minutes(10), now);
        assert_eq!(code.len(), 6);
        assert!(code.chars().all(|c| c.is_ascii_digit()), "{code}");
        assert_eq!(record.check(ann, &code, now), CodeCheck::Accepted);
        assert_eq!(
            record.check(ann, &format!(" {code}\n"), now),
            CodeCheck::Accepted
        );
        assert_eq!(record.check(bob, &code, now), CodeCheck::Wrong);
        let later = now + Duration::minutes(10);
        assert_eq!(record.check(ann, &code, later), CodeCheck::NoLiveCode);
        record.spend();
        assert_eq!(record.check(ann, &code, now), CodeCheck::NoLiveCode);
    }

    #[test]
    fn wrong_tries_spend_a_code_and_resends_wait() {
        let ann = user();
        let now = OffsetDateTime::now_utc();
        let (mut record, code) = EmailCode::issue(ann, Duration::minutes(10), now);
        assert!(!record.may_resend(now + Duration::seconds(59)));
        assert!(record.may_resend(now + RESEND_AFTER));
        for _ in 1..MAX_TRIES {
            record.note_wrong();
            assert_eq!(record.check(ann, &code, now), CodeCheck::Accepted);
        }
        record.note_wrong();
        assert_eq!(record.check(ann, &code, now), CodeCheck::NoLiveCode);
        assert!(
            record.may_resend(now),
            "a spent code may be replaced at once"
        );
    }

    #[test]
    fn codes_spread_over_every_digit() {
        let codes: Vec<String> = (0..200).map(|_| random_code()).collect();
        assert!(codes.iter().all(|c| c.len() == 6));
        for digit in '0'..='9' {
            assert!(
                codes.iter().any(|c| c.starts_with(digit)),
                "no code starts with {digit}"
            );
        }
    }
}
