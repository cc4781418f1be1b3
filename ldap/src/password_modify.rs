//! The request value of RFC 3062 Password Modify, read here rather than by `ldap3_proto`:
//!
//! ```text
//! PasswdModifyRequestValue ::= SEQUENCE {
//!     userIdentity    [0]  OCTET STRING OPTIONAL
//!     oldPasswd       [1]  OCTET STRING OPTIONAL
//!     newPasswd       [2]  OCTET STRING OPTIONAL }
//! ```
//!
//! The library reads a SEQUENCE sent with the indefinite length as an empty one and ignores
//! whatever follows it, and an empty value means "generate a new password for the bound user":
//! a request to set another user's password reset the caller's own instead. Here the value is
//! read strictly, and anything other than exactly that SEQUENCE is a protocolError that changes
//! nothing: definite lengths only (RFC 4511 §5.1's rule, which LDAP's encoders keep inside
//! this value too), each field primitive, at most once and in the order above, no other field
//! and nothing after the SEQUENCE. The passwords are taken as UTF-8, as the directory's are.

use crate::ber::check::{self, Element};

/// A Password Modify request as sent; a field absent is `None`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PasswdModifyRequest {
    pub user_identity: Option<String>,
    pub old_password: Option<String>,
    pub new_password: Option<String>,
}

impl std::fmt::Debug for PasswdModifyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswdModifyRequest")
            .field("user_identity", &self.user_identity)
            .field("old_password", &self.old_password.as_ref().map(|_| "***"))
            .field("new_password", &self.new_password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Universal SEQUENCE, constructed.
const SEQUENCE: u8 = 0x30;
/// Context-specific, primitive: `[0]` is 0x80, `[1]` 0x81, `[2]` 0x82.
const CONTEXT_PRIMITIVE: u8 = 0x80;

/// How a PasswdModifyRequestValue (RFC 3062 §2) breaks its definition; shown as the
/// protocolError's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MalformedValue {
    #[error("the request value is not BER")]
    NotBer,
    #[error("the request value is not a PasswdModifyRequestValue SEQUENCE")]
    NotASequence,
    #[error("the request value has octets after its SEQUENCE")]
    Trailing,
    #[error("the request value's fields are not BER")]
    FieldsNotBer,
    #[error(
        "the request value holds a field other than userIdentity [0], oldPasswd [1] and \
         newPasswd [2], each primitive, once and in order"
    )]
    UnknownField,
    #[error("a field is not UTF-8")]
    NotUtf8,
}

/// Reads the request value; `None` (RFC 3062 lets it be absent) asks everything of the
/// defaults.
pub fn parse(value: Option<&[u8]>) -> Result<PasswdModifyRequest, MalformedValue> {
    let mut request = PasswdModifyRequest::default();
    let Some(value) = value else {
        return Ok(request);
    };
    let (sequence, rest) = check::read(value).map_err(|_| MalformedValue::NotBer)?;
    if sequence.identifier != SEQUENCE {
        return Err(MalformedValue::NotASequence);
    }
    if !rest.is_empty() {
        return Err(MalformedValue::Trailing);
    }
    let mut fields = sequence.content;
    // The tag number the next field must be above: each at most once, in order.
    let mut next = 0;
    while !fields.is_empty() {
        let (
            Element {
                identifier,
                content,
            },
            rest,
        ) = check::read(fields).map_err(|_| MalformedValue::FieldsNotBer)?;
        fields = rest;
        let slot = match identifier.checked_sub(CONTEXT_PRIMITIVE) {
            Some(n @ 0..=2) if n >= next => {
                next = n + 1;
                match n {
                    0 => &mut request.user_identity,
                    1 => &mut request.old_password,
                    _ => &mut request.new_password,
                }
            }
            _ => {
                return Err(MalformedValue::UnknownField);
            }
        };
        let text = std::str::from_utf8(content).map_err(|_| MalformedValue::NotUtf8)?;
        *slot = Some(text.to_owned());
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(tag: u8, text: &str) -> Vec<u8> {
        let mut v = vec![tag, text.len() as u8];
        v.extend_from_slice(text.as_bytes());
        v
    }

    fn value(fields: &[Vec<u8>]) -> Vec<u8> {
        let content = fields.concat();
        let mut v = vec![SEQUENCE, content.len() as u8];
        v.extend(content);
        v
    }

    fn all(user: &str, old: &str, new: &str) -> PasswdModifyRequest {
        PasswdModifyRequest {
            user_identity: Some(user.into()),
            old_password: Some(old.into()),
            new_password: Some(new.into()),
        }
    }

    #[test]
    fn absent_and_empty_requests_ask_for_the_defaults() {
        assert_eq!(parse(None), Ok(PasswdModifyRequest::default()));
        assert_eq!(
            parse(Some(&[0x30, 0x00])),
            Ok(PasswdModifyRequest::default())
        );
    }

    #[test]
    fn fields_are_read_in_order() {
        let v = value(&[field(0x80, "uid=a"), field(0x81, "old"), field(0x82, "new")]);
        assert_eq!(parse(Some(&v)), Ok(all("uid=a", "old", "new")));
        let v = value(&[field(0x82, "new")]);
        assert_eq!(
            parse(Some(&v)),
            Ok(PasswdModifyRequest {
                new_password: Some("new".into()),
                ..Default::default()
            })
        );
        // A long-form length.
        let long = "x".repeat(200);
        let mut v = vec![0x30, 0x81, 203, 0x82, 0x81, 200];
        v.extend_from_slice(long.as_bytes());
        assert_eq!(parse(Some(&v)).expect("long").new_password, Some(long));
    }

    #[test]
    fn an_indefinite_length_is_refused_not_read_as_empty() {
        // The fuzzer's: userIdentity and newPasswd inside an indefinite-length SEQUENCE.
        let mut v = vec![0x30, 0x80];
        v.extend(field(0x80, "uid=user086,ou=people,dc=example,dc=com"));
        v.extend(field(0x82, "Target-Passw0rd-86!"));
        v.extend([0x00, 0x00]);
        assert!(parse(Some(&v)).is_err());
        assert!(parse(Some(&[0x30, 0x80])).is_err());
        assert!(parse(Some(&[0x30, 0x80, 0x00])).is_err());
        assert!(parse(Some(&[0x30, 0x80, 0x00, 0x00])).is_err());
        // A field with the indefinite length.
        assert!(parse(Some(&[0x30, 0x04, 0x82, 0x80, 0x00, 0x00])).is_err());
    }

    #[test]
    fn anything_but_exactly_the_sequence_is_refused() {
        let ok = value(&[field(0x80, "uid=a"), field(0x82, "new")]);
        assert!(parse(Some(&ok)).is_ok());
        let mut trailing = ok.clone();
        trailing.push(0x00);
        for bad in [
            trailing,
            vec![],
            // A SET, an OCTET STRING.
            vec![0x31, 0x00],
            vec![0x04, 0x00],
            // A field running past the SEQUENCE.
            vec![0x30, 0x03, 0x80, 0x05, 0x61],
            // Out of order, repeated, unknown, constructed, universal.
            value(&[field(0x82, "new"), field(0x80, "uid=a")]),
            value(&[field(0x80, "uid=a"), field(0x80, "uid=b")]),
            value(&[field(0x83, "x")]),
            value(&[vec![0xa0, 0x02, 0x04, 0x00]]),
            value(&[field(0x04, "uid=a")]),
            // Not UTF-8.
            value(&[vec![0x82, 0x01, 0xff]]),
        ] {
            assert!(parse(Some(&bad)).is_err(), "{bad:02x?}");
        }
    }
}
