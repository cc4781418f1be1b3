//! What identity providers say of a person that no rule of the directory reads: `profileUrl`,
//! `ims`, `photos`, `entitlements`, (SCIM) `roles` and `x509Certificates` (RFC 7643 §4.1).
//! They are stored as sent, so the checks are only those every front end's text gets (a value,
//! no control characters, as for emails) and, for certificates, what RFC 7643 §4.1.2 says a
//! value is: exactly one DER-encoded X.509 certificate, in base64.
//!
//! Only what a change sets is checked, so that a record stored before a check existed still
//! takes other changes.

use base64::Engine;

use super::{Result, ServiceError};
use crate::model::{MultiValue, User};

pub(super) fn check_profile(old: Option<&User>, new: &User) -> Result<()> {
    let before = old.map(lists);
    for (i, (attribute, values)) in lists(new).into_iter().enumerate() {
        if before.as_ref().is_some_and(|b| b[i].1 == values) {
            continue;
        }
        for value in values {
            check_text(attribute, value)?;
        }
    }
    if old.is_none_or(|o| o.x509_certificates != new.x509_certificates) {
        for value in &new.x509_certificates {
            check_certificate(&value.value)?;
        }
    }
    if old.is_none_or(|o| o.profile_url != new.profile_url)
        && let Some(url) = &new.profile_url
        && url.chars().any(char::is_control)
    {
        return Err(ServiceError::invalid(
            "profileUrl",
            "contains control characters",
        ));
    }
    Ok(())
}

/// The multi-valued ones, under their SCIM names.
fn lists(user: &User) -> [(&'static str, &[MultiValue]); 5] {
    [
        ("ims", &user.ims),
        ("photos", &user.photos),
        ("entitlements", &user.entitlements),
        ("roles", &user.scim_roles),
        ("x509Certificates", &user.x509_certificates),
    ]
}

/// A value is some text, and none of its parts holds control characters.
fn check_text(attribute: &'static str, value: &MultiValue) -> Result<()> {
    let parts = [
        Some(&value.value),
        value.kind.as_ref(),
        value.display.as_ref(),
    ];
    if value.value.is_empty()
        || parts
            .into_iter()
            .flatten()
            .any(|text| text.chars().any(char::is_control))
    {
        return Err(ServiceError::invalid(
            attribute,
            "a value is empty or has control characters",
        ));
    }
    Ok(())
}

fn check_certificate(value: &str) -> Result<()> {
    let invalid = |reason: String| ServiceError::invalid("x509Certificates", reason);
    let der = base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|e| invalid(format!("a value is not base64: {e}")))?;
    certificate_problem(&der).map_or(Ok(()), |why| Err(invalid(format!("a value {why}"))))
}

/// Why `der` is not what an `x509Certificates` value holds once decoded, if it is not: one
/// certificate, whole (a chain or trailing bytes are refused, as RFC 7643 §4.1.2 says a value
/// "MUST NOT contain multiple certificates"). LDAP, which carries the DER itself, asks before
/// it writes, so that its clients get its own result code for a value of the wrong syntax.
pub fn certificate_problem(der: &[u8]) -> Option<String> {
    match x509_parser::parse_x509_certificate(der) {
        Ok(([], _)) => None,
        Ok(_) => Some("holds more than one certificate, or bytes after it".into()),
        Err(e) => Some(format!("is not a DER X.509 certificate: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_base64() -> String {
        let cert = rcgen::generate_simple_self_signed(vec!["user.example".into()]).unwrap();
        base64::engine::general_purpose::STANDARD.encode(cert.cert.der())
    }

    fn with(set: impl Fn(&mut User)) -> User {
        let mut u = User::new("u");
        set(&mut u);
        u
    }

    fn value(v: &str) -> MultiValue {
        MultiValue {
            value: v.into(),
            ..MultiValue::default()
        }
    }

    #[test]
    fn values_are_text_and_certificates_are_one_certificate() {
        let cert = cert_base64();
        let good = with(|u| {
            u.scim_roles = vec![value("Admin")];
            u.x509_certificates = vec![value(&cert)];
            u.profile_url = Some("https://p.example/u".into());
        });
        check_profile(None, &good).unwrap();

        let two = {
            let der = base64::engine::general_purpose::STANDARD
                .decode(&cert)
                .unwrap();
            base64::engine::general_purpose::STANDARD.encode([der.clone(), der].concat())
        };
        for (bad, field) in [
            (with(|u| u.scim_roles = vec![value("")]), "roles"),
            (with(|u| u.ims = vec![value("a\u{7}b")]), "ims"),
            (
                with(|u| u.x509_certificates = vec![value("TWFu")]),
                "x509Certificates",
            ),
            (
                with(|u| u.x509_certificates = vec![value(&two)]),
                "x509Certificates",
            ),
            (
                with(|u| u.profile_url = Some("https://p\n".into())),
                "profileUrl",
            ),
        ] {
            match check_profile(None, &bad) {
                Err(ServiceError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn only_what_a_change_sets_is_checked() {
        let stored = with(|u| u.photos = vec![value("")]);
        let mut changed = stored.clone();
        changed.title = Some("Engineer".into());
        check_profile(Some(&stored), &changed).unwrap();
        assert!(check_profile(None, &stored).is_err());
    }
}
