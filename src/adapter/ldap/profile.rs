//! The SCIM profile attributes (RFC 7643 §4.1) that have a standard LDAP type, as a person's
//! entry carries them: `profileUrl` is `labeledURI` (RFC 2079: a URI, here without a label)
//! and `x509Certificates` is `userCertificate` (RFC 4523), DER on the wire where SCIM keeps
//! base64. The others have no type that fits: `photos` are URLs where LDAP's `jpegPhoto` holds
//! the image itself, and nothing standard holds `ims`, `entitlements` or an identity
//! provider's `roles`; they stay SCIM's.

use base64::Engine;
use rollcall_ldap::filter::values_equal;
use rollcall_ldap::{LdapError, LdapResultCode as Code, Schema};

use crate::model::User;

pub const PROFILE_URL: &str = "labeledURI";

/// With `;binary`, which RFC 4523 requires of certificates and OpenLDAP returns whether or not
/// the client asked with it: clients that decode by the option (ldapsearch's base64) get DER.
pub const CERTIFICATE: &str = "userCertificate;binary";

const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The DER of each of the user's certificates. A value stored before SCIM checked them that
/// is not base64 is no certificate, and is left out rather than sent as something else.
pub fn certificates(user: &User) -> Vec<Vec<u8>> {
    user.x509_certificates
        .iter()
        .filter_map(|c| BASE64.decode(&c.value).ok())
        .collect()
}

/// Value `index` of `attr` as SCIM stores it, when it is what SCIM takes: one DER certificate.
/// Anything else is invalidAttributeSyntax, as OpenLDAP answers a value its syntax refuses,
/// before any change is tried.
pub fn scim_certificate(attr: &str, index: usize, der: &[u8]) -> Result<String, LdapError> {
    match crate::service::certificate_problem(der) {
        None => Ok(BASE64.encode(der)),
        Some(why) => Err(LdapError::new(
            Code::InvalidAttributeSyntax,
            format!("{attr}: value #{index} invalid per syntax: it {why}"),
        )),
    }
}

/// certificateExactMatch between two certificates as SCIM stores them (base64), so a write
/// finds a value that is there as a filter would.
pub fn same_certificate(schema: &Schema) -> impl Fn(&str, &str) -> bool + '_ {
    move |a, b| match (BASE64.decode(a), BASE64.decode(b)) {
        (Ok(a), Ok(b)) => values_equal(schema, CERTIFICATE, &a, &b),
        _ => a == b,
    }
}
