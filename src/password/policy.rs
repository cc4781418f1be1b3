//! The password policy (`[password]` in the config): what a new password must look like, how
//! many earlier ones it may not repeat, and how long one lasts. Checked by the core service for
//! every clear-text password, whoever sets it and through whichever front end.

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, within};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordPolicy {
    /// In characters (not bytes), so non-ASCII passwords are not favoured.
    pub min_length: usize,
    /// How many of the classes lower case, upper case, digit and symbol must appear (0–4).
    pub required_classes: u8,
    /// How many earlier passwords of a user a new one may not repeat (0: no history).
    pub history: usize,
    /// Days after which a password expires and binds/logins are refused until it is reset
    /// (0: never).
    pub max_age_days: u32,
    /// Days before its expiry that a user is mailed a reminder to change its password
    /// (0: none). Meaningful with `max_age_days` only.
    pub expiry_warning_days: u32,
    /// A password an administrator sets for someone (at creation or as a reset) is temporary:
    /// its user must choose another at the next sign-in (seed 003 "set temporary password").
    /// Passwords from provisioning clients (identity providers) are the users' own.
    pub reset_must_change: bool,
    /// Sign-ins an expired password still allows, so that its user can change it over LDAP
    /// (Password Modify needs a bound connection); 0: none, an expired password then takes
    /// a reset link or an administrator.
    pub grace_logins: u32,
    /// Whether users may change their own password (LDAP Password Modify with the old
    /// password, REST); admins can always reset.
    pub users_may_change: bool,
    /// What happens to a password a provisioning client (an `api` service account: Okta,
    /// Entra ID) sends that breaks the policy. IdPs generate passwords by their own rules, and
    /// failing the whole provisioning request over it would leave the user out of sync.
    pub provisioned: ProvisionedViolation,
}

/// See [`PasswordPolicy::provisioned`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProvisionedViolation {
    /// The request succeeds without that password (a new user sets one through the
    /// activation link; an existing user keeps the current one) and the audit says why.
    #[default]
    Drop,
    /// The request fails with the rule, as for admins and users.
    Refuse,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 12,
            required_classes: 3,
            history: 5,
            max_age_days: 0,
            expiry_warning_days: 14,
            grace_logins: 0,
            reset_must_change: false,
            users_may_change: true,
            provisioned: ProvisionedViolation::Drop,
        }
    }
}

/// Which rule a password broke; the text is shown to the person choosing it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("password must be at least {min} characters long")]
    TooShort { min: usize },
    #[error(
        "password must mix at least {required} of: lower case, upper case, digits, symbols \
         (it has {found})"
    )]
    TooFewClasses { required: u8, found: u8 },
    #[error("password must not repeat any of the last {history} passwords")]
    Reused { history: usize },
    #[error("users may not change their own password here; ask an administrator")]
    SelfServiceDisabled,
}

/// The longest `min_length` may ask for. NIST SP 800-63B has verifiers accept passwords of at
/// least 64 characters; a minimum past what people and password managers make would refuse
/// every new password, and the generated ones (first start, resets) must still meet it.
pub const MAX_MIN_LENGTH: usize = 128;

/// The most earlier passwords `history` may keep. Every one is verified against each new
/// password (an argon2 computation apiece), so a longer history only makes changes slow.
pub const MAX_HISTORY: usize = 100;

/// The most sign-ins an expired password may still make.
pub const MAX_GRACE_LOGINS: u32 = 100;

impl PasswordPolicy {
    /// The bounds of `[password]`, refused at start (see [`crate::config::OutOfRange`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        within(
            "[password] min_length",
            self.min_length as u64,
            0..=MAX_MIN_LENGTH as u64,
            Some("a longer minimum would refuse every password people and password managers make"),
        )?;
        within(
            "[password] history",
            self.history as u64,
            0..=MAX_HISTORY as u64,
            Some("each new password is verified against every earlier one kept"),
        )?;
        // A grace login is a sign-in on an expired password: past a few, expiry means nothing.
        within(
            "[password] grace_logins",
            u64::from(self.grace_logins),
            0..=u64::from(MAX_GRACE_LOGINS),
            Some("each is a sign-in on an expired password"),
        )?;
        within(
            "[password] required_classes",
            u64::from(self.required_classes),
            0..=4,
            Some("there are only 4 classes"),
        )?;
        if self.max_age_days > 0 && self.expiry_warning_days >= self.max_age_days {
            return Err(ConfigError::Invalid(format!(
                "[password] expiry_warning_days ({}) must be less than max_age_days ({}): a \
                 reminder would go out as soon as a password is set",
                self.expiry_warning_days, self.max_age_days
            )));
        }
        Ok(())
    }

    /// The checks that need only the password itself.
    /// The strength rules in a sentence, for a form that asks for a new password.
    pub fn describe(&self) -> String {
        let mut text = format!("At least {} characters", self.min_length.max(1));
        if self.required_classes > 0 {
            text.push_str(&format!(
                ", with at least {} of: lower case letters, upper case letters, digits, symbols",
                self.required_classes
            ));
        }
        text.push('.');
        text
    }

    pub fn check_strength(&self, password: &str) -> Result<(), Violation> {
        if password.chars().count() < self.min_length.max(1) {
            return Err(Violation::TooShort {
                min: self.min_length.max(1),
            });
        }
        let found = classes(password);
        if found < self.required_classes {
            return Err(Violation::TooFewClasses {
                required: self.required_classes,
                found,
            });
        }
        Ok(())
    }

    /// Whether a password set at `changed` has expired at `now`.
    pub fn expired(
        &self,
        changed: Option<time::OffsetDateTime>,
        now: time::OffsetDateTime,
    ) -> bool {
        self.expires(changed).is_some_and(|at| now > at)
    }

    /// When a password set at `changed` expires; `None`: never.
    pub fn expires(&self, changed: Option<time::OffsetDateTime>) -> Option<time::OffsetDateTime> {
        match (self.max_age_days, changed) {
            (0, _) | (_, None) => None,
            (days, Some(changed)) => Some(changed + time::Duration::days(days.into())),
        }
    }

    /// When a password set at `changed` expires, if at `now` its user is due a warning of it
    /// (within `expiry_warning_days` of the expiry, or past it).
    pub fn expiry_to_warn_of(
        &self,
        changed: Option<time::OffsetDateTime>,
        now: time::OffsetDateTime,
    ) -> Option<time::OffsetDateTime> {
        self.warn_from(changed)
            .filter(|from| now >= *from)
            .and(self.expires(changed))
    }

    /// From when a password set at `changed` is due a reminder; `None`: never.
    pub fn warn_from(&self, changed: Option<time::OffsetDateTime>) -> Option<time::OffsetDateTime> {
        match self.expiry_warning_days {
            0 => None,
            days => self
                .expires(changed)
                .map(|at| at - time::Duration::days(days.into())),
        }
    }
}

fn classes(password: &str) -> u8 {
    let mut lower = false;
    let mut upper = false;
    let mut digit = false;
    let mut symbol = false;
    for c in password.chars() {
        if c.is_lowercase() {
            lower = true;
        } else if c.is_uppercase() {
            upper = true;
        } else if c.is_numeric() {
            digit = true;
        } else {
            symbol = true;
        }
    }
    [lower, upper, digit, symbol]
        .into_iter()
        .map(u8::from)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_expires_after_its_age_and_is_reminded_of_before() {
        let at = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let policy = PasswordPolicy {
            max_age_days: 30,
            expiry_warning_days: 7,
            ..PasswordPolicy::default()
        };
        assert_eq!(
            policy.expires(Some(at)),
            Some(at + time::Duration::days(30))
        );
        assert_eq!(
            policy.warn_from(Some(at)),
            Some(at + time::Duration::days(23))
        );
        assert!(!policy.expired(Some(at), at + time::Duration::days(30)));
        assert!(policy.expired(Some(at), at + time::Duration::days(31)));
        assert_eq!(policy.expires(None), None, "no password, nothing expires");
        let expiry = Some(at + time::Duration::days(30));
        assert_eq!(
            policy.expiry_to_warn_of(Some(at), at + time::Duration::days(22)),
            None
        );
        assert_eq!(
            policy.expiry_to_warn_of(Some(at), at + time::Duration::days(23)),
            expiry
        );
        assert_eq!(
            policy.expiry_to_warn_of(Some(at), at + time::Duration::days(40)),
            expiry
        );
        let never = PasswordPolicy::default();
        assert_eq!(
            (never.expires(Some(at)), never.warn_from(Some(at))),
            (None, None)
        );
        let quiet = PasswordPolicy {
            expiry_warning_days: 0,
            ..policy
        };
        assert_eq!(quiet.warn_from(Some(at)), None);
        let late = PasswordPolicy {
            expiry_warning_days: 30,
            ..policy
        };
        assert!(
            late.validate()
                .unwrap_err()
                .to_string()
                .contains("must be less than max_age_days")
        );
        assert!(
            PasswordPolicy::default().validate().is_ok(),
            "14 days, but no expiry"
        );
    }

    #[test]
    fn strength_rules_name_the_rule_that_failed() {
        let policy = PasswordPolicy::default();
        assert_eq!(
            policy.check_strength("Short-1"),
            Err(Violation::TooShort { min: 12 })
        );
        assert_eq!(
            policy.check_strength("alllowercaseletters"),
            Err(Violation::TooFewClasses {
                required: 3,
                found: 1
            })
        );
        assert_eq!(policy.check_strength("Correct-Horse-9"), Ok(()));
        // Length counts characters: twelve non-ASCII letters are twelve, not 24.
        assert_eq!(
            policy.check_strength("ÄÖÜäöüßéèêëç").unwrap_err(),
            Violation::TooFewClasses {
                required: 3,
                found: 2
            }
        );
        assert!(
            policy
                .check_strength("Ab1")
                .unwrap_err()
                .to_string()
                .contains("at least 12 characters")
        );
    }

    #[test]
    fn lenient_policies_and_expiry() {
        let policy = PasswordPolicy {
            min_length: 0,
            required_classes: 0,
            ..PasswordPolicy::default()
        };
        assert_eq!(policy.check_strength("x"), Ok(()));
        assert!(policy.check_strength("").is_err(), "never empty");

        let now = time::OffsetDateTime::now_utc();
        let never = PasswordPolicy::default();
        assert!(!never.expired(Some(now - time::Duration::days(5000)), now));
        let monthly = PasswordPolicy {
            max_age_days: 30,
            ..PasswordPolicy::default()
        };
        assert!(monthly.expired(Some(now - time::Duration::days(31)), now));
        assert!(!monthly.expired(Some(now - time::Duration::days(29)), now));
        assert!(!monthly.expired(None, now));
        assert!(
            PasswordPolicy {
                required_classes: 5,
                ..PasswordPolicy::default()
            }
            .validate()
            .is_err()
        );
    }
}
