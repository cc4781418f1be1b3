//! TOTP second factor (RFC 6238): SHA-1, 6 digits, 30-second steps, one step of clock skew —
//! what every authenticator app speaks.

use serde::{Deserialize, Serialize};
use totp_rs::{Builder, Secret, Totp};

/// A user's enrolment. The secret is the shared key (base32); it never leaves the server after
/// the enrolment response.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpEnrolment {
    pub secret: String,
    /// Off until the user proves possession with one code; an unconfirmed enrolment is not
    /// asked for at login.
    pub confirmed: bool,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpEnrolment")
            .field("secret", &"<redacted>")
            .field("confirmed", &self.confirmed)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    #[error("stored TOTP secret is unusable: {0}")]
    Secret(String),
}

/// Digits a code has; an LDAP bind password ends with this many digits when MFA applies.
pub const CODE_DIGITS: usize = 6;

impl TotpEnrolment {
    pub fn generate() -> Self {
        Self {
            secret: Secret::generate().to_base32(),
            confirmed: false,
        }
    }

    fn totp(&self, issuer: &str, account: &str) -> Result<Totp, TotpError> {
        let secret =
            Secret::try_from_base32(&self.secret).map_err(|e| TotpError::Secret(e.to_string()))?;
        // The otpauth label cannot hold ':' (it separates issuer and account).
        let clean = |s: &str| s.replace(':', "_");
        Builder::new()
            .with_secret(secret)
            .with_digits(CODE_DIGITS as u8)
            .with_skew(1)
            .with_step_duration(30)
            .with_issuer(Some(clean(issuer)))
            .with_account_name(clean(account))
            .build()
            .map_err(|e| TotpError::Secret(e.to_string()))
    }

    /// The `otpauth://` URI authenticator apps import (usually as a QR code).
    pub fn uri(&self, issuer: &str, account: &str) -> Result<String, TotpError> {
        self.totp(issuer, account)?
            .to_url()
            .map_err(|e| TotpError::Secret(e.to_string()))
    }

    /// The time step `code` belongs to, if it is valid at `unix_time` (± one step).
    pub fn check(&self, code: &str, unix_time: u64) -> Result<Option<u64>, TotpError> {
        if code.len() != CODE_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        let totp = self.totp("rollcall", "user")?;
        // Checked step by step to learn which step matched: the caller refuses that step and
        // every earlier one from then on, so a code works once.
        let now_step = unix_time / 30;
        let mut matched = None;
        for step in [now_step.saturating_sub(1), now_step, now_step + 1] {
            let expected = totp.generate(step * 30).to_string();
            if constant_time_eq(expected.as_bytes(), code.as_bytes()) {
                matched = Some(step);
            }
        }
        Ok(matched)
    }

    /// The current code; for tools that act as the authenticator.
    pub fn current_code(&self, unix_time: u64) -> Result<String, TotpError> {
        Ok(self
            .totp("rollcall", "user")?
            .generate(unix_time)
            .to_string())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Splits an LDAP bind password into the password and a trailing code, when it is long enough
/// to carry one.
pub fn split_code(password: &str) -> Option<(&str, &str)> {
    let at = password.len().checked_sub(CODE_DIGITS)?;
    let (pw, code) = (password.get(..at)?, password.get(at..)?);
    code.bytes()
        .all(|b| b.is_ascii_digit())
        .then_some((pw, code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_their_step_and_nothing_else() {
        let e = TotpEnrolment::generate();
        let now = 1_800_000_000;
        let code = e.current_code(now).unwrap();
        assert_eq!(code.len(), 6);
        assert_eq!(e.check(&code, now).unwrap(), Some(now / 30));
        assert_eq!(
            e.check(&code, now + 30).unwrap(),
            Some(now / 30),
            "one step of skew"
        );
        assert_eq!(e.check(&code, now + 90).unwrap(), None);
        assert_eq!(e.check("12345", now).unwrap(), None);
        assert_eq!(e.check("abcdef", now).unwrap(), None);
        let uri = e.uri("Rollcall", "ann").unwrap();
        assert!(uri.starts_with("otpauth://totp/Rollcall:ann?"), "{uri}");
        assert!(uri.contains(&e.secret), "{uri}");
        assert!(!format!("{e:?}").contains(&e.secret));
    }

    #[test]
    fn bind_passwords_split_off_a_trailing_code() {
        assert_eq!(split_code("secret123456"), Some(("secret", "123456")));
        assert_eq!(split_code("123456"), Some(("", "123456")));
        assert_eq!(split_code("secret12345x"), None);
        assert_eq!(split_code("12345"), None);
        assert_eq!(split_code("pässwörd123456"), Some(("pässwörd", "123456")));
    }
}
