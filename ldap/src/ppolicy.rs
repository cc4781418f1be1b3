//! The password policy response control (draft-behera-ldap-password-policy-11 §6.2), for
//! clients that send its request control with a bind or a Password Modify: SSSD, PAM and
//! OpenLDAP's own tools (`-e ppolicy`) tell their users that a password expires soon, has
//! expired, or was refused for a reason they can fix. Clients that do not ask get nothing new.

use ldap3_proto::control::LdapControl;

/// The OID of both the request and the response control.
pub const OID: &str = "1.3.6.1.4.1.42.2.27.8.5.1";

/// Why the policy refused an operation (the draft's `error` ENUMERATED).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyError {
    PasswordExpired,
    AccountLocked,
    ChangeAfterReset,
    PasswordModNotAllowed,
    MustSupplyOldPassword,
    InsufficientPasswordQuality,
    PasswordTooShort,
    PasswordTooYoung,
    PasswordInHistory,
}

impl PolicyError {
    fn code(self) -> u8 {
        match self {
            Self::PasswordExpired => 0,
            Self::AccountLocked => 1,
            Self::ChangeAfterReset => 2,
            Self::PasswordModNotAllowed => 3,
            Self::MustSupplyOldPassword => 4,
            Self::InsufficientPasswordQuality => 5,
            Self::PasswordTooShort => 6,
            Self::PasswordTooYoung => 7,
            Self::PasswordInHistory => 8,
        }
    }
}

/// What a response control says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyResponse {
    /// The bind succeeded; the password expires in this many seconds.
    ExpiresIn(u32),
    /// The bind succeeded on an expired password; this many more binds will.
    GraceRemaining(u32),
    Error(PolicyError),
}

impl PolicyResponse {
    /// The response control, its value BER-encoded:
    ///
    /// ```text
    /// PasswordPolicyResponseValue ::= SEQUENCE {
    ///    warning [0] CHOICE { timeBeforeExpiration [0] INTEGER, graceAuthNsRemaining [1] INTEGER } OPTIONAL,
    ///    error   [1] ENUMERATED { … } OPTIONAL }
    /// ```
    ///
    /// under implicit tags, except that the tagged CHOICE is explicit (X.680 §31.2.7).
    pub fn control(self) -> LdapControl {
        let warning = |alternative: u8, value: u32| {
            let int = integer(value);
            let mut choice = vec![0x80 | alternative, len(int.len())];
            choice.extend(int);
            let mut warning = vec![0xa0, len(choice.len())];
            warning.extend(choice);
            warning
        };
        let inner = match self {
            Self::ExpiresIn(seconds) => warning(0, seconds),
            Self::GraceRemaining(binds) => warning(1, binds),
            Self::Error(error) => vec![0x81, 0x01, error.code()],
        };
        let mut value = vec![0x30, len(inner.len())];
        value.extend(inner);
        LdapControl::Unknown {
            oid: OID.to_string(),
            criticality: false,
            value: Some(value),
        }
    }
}

/// A short definite length; every value here is a few bytes.
fn len(n: usize) -> u8 {
    u8::try_from(n).expect("password policy values are short")
}

/// The content octets of a non-negative INTEGER: big-endian, minimal, with a leading zero when
/// the top bit would otherwise read as a sign.
fn integer(value: u32) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(3);
    let mut out = bytes[first..].to_vec();
    if out[0] & 0x80 != 0 {
        out.insert(0, 0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(response: PolicyResponse) -> Vec<u8> {
        match response.control() {
            LdapControl::Unknown {
                oid,
                criticality,
                value,
            } => {
                assert_eq!(oid, OID);
                assert!(!criticality);
                value.unwrap()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn responses_encode_as_the_draft_and_openldap_read_them() {
        assert_eq!(
            value(PolicyResponse::Error(PolicyError::PasswordExpired)),
            [0x30, 0x03, 0x81, 0x01, 0x00]
        );
        assert_eq!(
            value(PolicyResponse::Error(PolicyError::PasswordInHistory)),
            [0x30, 0x03, 0x81, 0x01, 0x08]
        );
        assert_eq!(
            value(PolicyResponse::ExpiresIn(0)),
            [0x30, 0x05, 0xa0, 0x03, 0x80, 0x01, 0x00]
        );
        assert_eq!(
            value(PolicyResponse::ExpiresIn(86_400)),
            [0x30, 0x07, 0xa0, 0x05, 0x80, 0x03, 0x01, 0x51, 0x80]
        );
        assert_eq!(
            value(PolicyResponse::ExpiresIn(128)),
            [0x30, 0x06, 0xa0, 0x04, 0x80, 0x02, 0x00, 0x80],
            "a leading zero keeps it positive"
        );
        assert_eq!(
            value(PolicyResponse::GraceRemaining(2)),
            [0x30, 0x05, 0xa0, 0x03, 0x81, 0x01, 0x02]
        );
        assert_eq!(integer(u32::MAX), [0x00, 0xff, 0xff, 0xff, 0xff]);
    }
}
