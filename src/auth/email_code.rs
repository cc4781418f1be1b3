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

/// Least time between two codes mailed to one person, counted from the last one sent whatever
/// became of it: a sign-in in between is told that the last code is on its way (or, used up
/// already, when to ask again), so that whoever holds a password cannot flood the mailbox.
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

/// What a sign-in that needs a mailed code is told, having proved the password. While the
/// next code is held back, `seconds` is how long is left of the pause (whole seconds, rounded
/// up, at least 1): the caller is told when to ask again rather than left to guess, and to
/// hammer the sign-in meanwhile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeMailing {
    /// A new code was mailed just now.
    Sent,
    /// The last code, mailed less than [`RESEND_AFTER`] ago, still works: it is on its way.
    OnItsWay { seconds: u64 },
    /// The last code, mailed less than [`RESEND_AFTER`] ago, has been used up since (it signed
    /// someone in, or wrong tries spent it). Said apart from [`Self::OnItsWay`], as no code in
    /// the mailbox works now.
    UsedUp { seconds: u64 },
}

impl CodeMailing {
    /// Seconds until a new code may be mailed, when none was mailed now.
    pub fn held_back_for(self) -> Option<u64> {
        match self {
            Self::Sent => None,
            Self::OnItsWay { seconds } | Self::UsedUp { seconds } => Some(seconds),
        }
    }
}

impl std::fmt::Display for CodeMailing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = |seconds: &u64| if *seconds == 1 { "" } else { "s" };
        match self {
            Self::Sent => f.write_str(
                "a sign-in code was sent to your email address: sign in again with it as \"code\"",
            ),
            Self::OnItsWay { seconds } => write!(
                f,
                "a sign-in code was sent to your email address less than a minute ago and is on \
                 its way: sign in again with it as \"code\" (a new one can be sent in {seconds} \
                 second{})",
                plural(seconds)
            ),
            Self::UsedUp { seconds } => write!(
                f,
                "the last sign-in code sent to your email address has been used up, and a new \
                 one is sent at most once a minute: sign in again in {seconds} second{}",
                plural(seconds)
            ),
        }
    }
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

    /// Whether another code may be mailed: this one was sent at least [`RESEND_AFTER`] ago.
    /// Whether it still works does not matter: one used up by a sign-in or by wrong tries
    /// would otherwise let every request with the password mail another at once.
    pub fn may_resend(&self, now: OffsetDateTime) -> bool {
        now - self.sent >= RESEND_AFTER
    }

    /// What a sign-in asking for a code is told while this one holds the next back (`None`
    /// once [`Self::may_resend`]).
    pub fn held_back(&self, now: OffsetDateTime) -> Option<CodeMailing> {
        if self.may_resend(now) {
            return None;
        }
        // Whole seconds, rounded up: "0 seconds" would send the caller back too soon.
        let left = self.sent + RESEND_AFTER - now;
        let seconds = left.whole_seconds() + i64::from(left.subsec_nanoseconds() > 0);
        let seconds = seconds.max(1).unsigned_abs();
        Some(if self.is_live(now) {
            CodeMailing::OnItsWay { seconds }
        } else {
            CodeMailing::UsedUp { seconds }
        })
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
        assert_eq!(
            record.held_back(now + Duration::seconds(59)),
            Some(CodeMailing::OnItsWay { seconds: 1 })
        );
        assert_eq!(
            record.held_back(now + Duration::milliseconds(1)),
            Some(CodeMailing::OnItsWay { seconds: 60 })
        );
        assert_eq!(
            record.held_back(now + Duration::milliseconds(59_999)),
            Some(CodeMailing::OnItsWay { seconds: 1 }),
            "never 0: that would send the caller back too soon"
        );
        assert_eq!(
            record.held_back(now).and_then(CodeMailing::held_back_for),
            Some(60)
        );
        assert_eq!(CodeMailing::Sent.held_back_for(), None);
        assert!(record.may_resend(now + RESEND_AFTER));
        assert_eq!(record.held_back(now + RESEND_AFTER), None);
        for _ in 1..MAX_TRIES {
            record.note_wrong();
            assert_eq!(record.check(ann, &code, now), CodeCheck::Accepted);
        }
        record.note_wrong();
        assert_eq!(record.check(ann, &code, now), CodeCheck::NoLiveCode);
        assert!(
            !record.may_resend(now + Duration::seconds(59)),
            "guessed at until spent, it still holds the next one back for the minute"
        );
        assert_eq!(
            record.held_back(now + Duration::milliseconds(300)),
            Some(CodeMailing::UsedUp { seconds: 60 })
        );
        assert_eq!(
            record.held_back(now + Duration::milliseconds(59_500)),
            Some(CodeMailing::UsedUp { seconds: 1 })
        );
        assert!(record.may_resend(now + RESEND_AFTER));
    }

    #[test]
    fn a_code_used_to_sign_in_holds_the_next_one_back_for_the_minute() {
        let ann = user();
        let now = OffsetDateTime::now_utc();
        let (mut record, code) = EmailCode::issue(ann, Duration::minutes(10), now);
        assert_eq!(record.check(ann, &code, now), CodeCheck::Accepted);
        record.spend();
        let soon = now + Duration::milliseconds(300);
        assert_eq!(record.check(ann, &code, soon), CodeCheck::NoLiveCode);
        assert!(!record.may_resend(soon));
        assert_eq!(
            record.held_back(now + Duration::seconds(20)),
            Some(CodeMailing::UsedUp { seconds: 40 })
        );
        assert!(record.may_resend(now + RESEND_AFTER));
        assert_eq!(record.held_back(now + RESEND_AFTER), None);
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
