//! certificateExactMatch (RFC 4523 §2.5): two certificates are the same value when the same
//! issuer gave them the same serial number, which is how a directory finds a person's
//! certificate without the client sending the whole DER. Certificates have no LDAP string
//! form and `ldap3_proto` decodes filter values as UTF-8 only, so a filter asserts one with the
//! textual CertificateExactAssertion of RFC 4523 §2.1 (its GSER form), as OpenLDAP takes it:
//!
//! ```text
//! (userCertificate={ serialNumber 4660, issuer rdnSequence:"cn=Example CA,o=Example" })
//! ```
//!
//! A compare, whose value is octets, may send the certificate itself.

use crate::dn::{Dn, escape_value, normalize_value};
use crate::schema::Schema;

/// The PKCS #9 email address in issuer names: OpenLDAP's `email`/`emailAddress`, which
/// Rollcall's schema does not define, so it is matched by OID.
const EMAIL_ADDRESS: &str = "1.2.840.113549.1.9.1";

/// Longest serial number an assertion may spell, in characters: RFC 5280 serials have at most
/// 20 octets (49 decimal digits), and the decimal conversion is quadratic in the length.
const MAX_SERIAL_CHARS: usize = 128;

/// The comparable form of a certificate (`v` holds its DER) or of a CertificateExactAssertion
/// (`v` holds its text): the serial number's octets and the issuer's normalised DN. `None`
/// when `v` is neither.
pub(crate) fn exact_key(v: &[u8], schema: &Schema) -> Option<String> {
    if let Some(key) = certificate_key(v, schema) {
        return Some(key);
    }
    assertion_key(std::str::from_utf8(v).ok()?, schema)
}

fn key(serial: &[u8], issuer: &str) -> String {
    let mut s: String = minimal(serial).iter().map(|b| format!("{b:02x}")).collect();
    s.push('$');
    s.push_str(issuer);
    s
}

fn certificate_key(der: &[u8], schema: &Schema) -> Option<String> {
    let ([], cert) = x509_parser::parse_x509_certificate(der).ok()? else {
        return None;
    };
    let mut rdns = Vec::new();
    // X.509 lists the most significant RDN first, an LDAP DN the least significant.
    for rdn in cert.issuer().iter().collect::<Vec<_>>().into_iter().rev() {
        let avas: Vec<String> = rdn
            .iter()
            .map(|ava| {
                let oid = ava.attr_type().to_id_string();
                normalized_ava(&oid, &ava_text(ava.attr_value()), schema)
            })
            .collect();
        rdns.push(joined_rdn(avas));
    }
    Some(key(cert.tbs_certificate.raw_serial(), &rdns.join(",")))
}

/// An attribute value of a name as a DN string holds it (RFC 4514 §2.4): the text of a string
/// type, else `#` and the hex of its BER encoding.
fn ava_text(value: &x509_parser::der_parser::asn1_rs::Any<'_>) -> String {
    use x509_parser::der_parser::asn1_rs::Tag;
    let data = value.data;
    let text = match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::NumericString => {
            std::str::from_utf8(data).ok().map(str::to_owned)
        }
        // T.61 in principle; in certificates, Latin-1 in practice.
        Tag::TeletexString => Some(data.iter().map(|&b| char::from(b)).collect()),
        Tag::BmpString => char::decode_utf16(
            data.chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])),
        )
        .collect::<Result<String, _>>()
        .ok(),
        Tag::UniversalString => data
            .chunks(4)
            .map(|c| {
                let mut b = [0; 4];
                b[..c.len()].copy_from_slice(c);
                char::from_u32(u32::from_be_bytes(b))
            })
            .collect(),
        _ => None,
    };
    text.unwrap_or_else(|| {
        let mut ber = value.header.raw_tag().unwrap_or(&[]).to_vec();
        let len = data.len();
        if len < 0x80 {
            ber.push(len as u8);
        } else {
            let octets: Vec<u8> = len
                .to_be_bytes()
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            ber.push(0x80 | octets.len() as u8);
            ber.extend(octets);
        }
        ber.extend_from_slice(data);
        let hex: String = ber.iter().map(|b| format!("{b:02x}")).collect();
        format!("#{hex}")
    })
}

/// `type=value` with the type as the schema names it (so `CN`, `commonName` and `2.5.4.3` are
/// one) and the value as caseIgnoreMatch compares it, as distinguishedNameMatch does.
fn normalized_ava(attr: &str, value: &str, schema: &Schema) -> String {
    let attr = match attr.to_ascii_lowercase().as_str() {
        "email" | "emailaddress" | "pkcs9email" => EMAIL_ADDRESS.to_owned(),
        _ => schema.canonical(attr),
    };
    format!("{attr}={}", escape_value(&normalize_value(value)))
}

/// A multi-valued RDN is a set: its AVAs in one order.
fn joined_rdn(mut avas: Vec<String>) -> String {
    avas.sort();
    avas.join("+")
}

/// A DER INTEGER's content octets without the redundant leading octets a non-minimal encoding
/// may carry, so that equal numbers compare equal.
fn minimal(mut octets: &[u8]) -> &[u8] {
    while let [first, second, ..] = octets
        && ((*first == 0 && second & 0x80 == 0) || (*first == 0xff && second & 0x80 != 0))
    {
        octets = &octets[1..];
    }
    octets
}

/// `{ serialNumber <INTEGER>, issuer rdnSequence:"<DN>" }`, spaces optional where RFC 4523's
/// ABNF has `sp` and required where it has `msp`. The serial is decimal or, as OpenLDAP also
/// takes it, `'…'H` hex.
fn assertion_key(s: &str, schema: &Schema) -> Option<String> {
    let mut p = Gser { s: s.trim() };
    p.literal("{")?;
    p.spaces();
    p.literal("serialNumber")?;
    p.required_spaces()?;
    let serial = p.serial()?;
    p.spaces();
    p.literal(",")?;
    p.spaces();
    p.literal("issuer")?;
    p.required_spaces()?;
    p.literal("rdnSequence:")?;
    let issuer = p.quoted()?;
    p.spaces();
    p.literal("}")?;
    if !p.s.is_empty() {
        return None;
    }
    let dn = Dn::parse(&issuer).ok()?;
    let rdns: Vec<String> = dn
        .rdns()
        .iter()
        .map(|rdn| {
            joined_rdn(
                rdn.avas()
                    .iter()
                    .map(|ava| normalized_ava(ava.attr(), ava.value(), schema))
                    .collect(),
            )
        })
        .collect();
    Some(key(&serial, &rdns.join(",")))
}

struct Gser<'a> {
    s: &'a str,
}

impl Gser<'_> {
    fn literal(&mut self, word: &str) -> Option<()> {
        self.s = self.s.strip_prefix(word)?;
        Some(())
    }

    fn spaces(&mut self) {
        self.s = self.s.trim_start_matches(' ');
    }

    fn required_spaces(&mut self) -> Option<()> {
        let before = self.s.len();
        self.spaces();
        (self.s.len() < before).then_some(())
    }

    /// The serial number as two's complement octets, as a certificate holds it.
    fn serial(&mut self) -> Option<Vec<u8>> {
        let end = self.s.find([' ', ',']).unwrap_or(self.s.len());
        // Measured before slicing: a client's text may put a multi-byte character anywhere.
        if end > MAX_SERIAL_CHARS {
            return None;
        }
        let (token, rest) = self.s.split_at(end);
        self.s = rest;
        if let Some(hex) = token.strip_prefix('\'').and_then(|t| t.strip_suffix("'H")) {
            if hex.is_empty() || hex.len() % 2 != 0 {
                return None;
            }
            return (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
                .collect();
        }
        let (negative, digits) = match token.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, token),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let magnitude = decimal_octets(digits);
        Some(if negative {
            negated(&magnitude)
        } else if magnitude[0] & 0x80 != 0 {
            [&[0][..], &magnitude].concat()
        } else {
            magnitude
        })
    }

    /// A GSER string: in double quotes, a quote inside doubled.
    fn quoted(&mut self) -> Option<String> {
        let mut rest = self.s.strip_prefix('"')?;
        let mut out = String::new();
        loop {
            let at = rest.find('"')?;
            out.push_str(&rest[..at]);
            rest = &rest[at + 1..];
            match rest.strip_prefix('"') {
                Some(after) => {
                    out.push('"');
                    rest = after;
                }
                None => break,
            }
        }
        self.s = rest;
        Some(out)
    }
}

/// Big-endian octets of a decimal number (digits only), at least one.
fn decimal_octets(digits: &str) -> Vec<u8> {
    let mut out = vec![0u8];
    for d in digits.bytes() {
        let mut carry = u32::from(d - b'0');
        for octet in out.iter_mut().rev() {
            let v = u32::from(*octet) * 10 + carry;
            *octet = (v & 0xff) as u8;
            carry = v >> 8;
        }
        while carry > 0 {
            out.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    minimal(&out).to_vec()
}

/// The two's complement of minus `magnitude`, with a sign octet when the top bit says otherwise.
fn negated(magnitude: &[u8]) -> Vec<u8> {
    if magnitude.iter().all(|b| *b == 0) {
        return vec![0];
    }
    let mut out: Vec<u8> = magnitude.iter().map(|b| !b).collect();
    for octet in out.iter_mut().rev() {
        let (v, overflow) = octet.overflowing_add(1);
        *octet = v;
        if !overflow {
            break;
        }
    }
    if out[0] & 0x80 == 0 {
        out.insert(0, 0xff);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued(serial: &[u8], issuer: &[(rcgen::DnType, &str)]) -> Vec<u8> {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name = rcgen::DistinguishedName::new();
        for (t, v) in issuer {
            ca.distinguished_name.push(t.clone(), *v);
        }
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let mut leaf = rcgen::CertificateParams::new(vec!["ann.example".into()]).unwrap();
        leaf.serial_number = Some(rcgen::SerialNumber::from_slice(serial));
        let key = rcgen::KeyPair::generate().unwrap();
        leaf.signed_by(&key, &issuer).unwrap().der().to_vec()
    }

    #[test]
    fn a_certificate_matches_the_assertion_of_its_serial_and_issuer() {
        let s = Schema::standard();
        let issuer = [
            (rcgen::DnType::CountryName, "DE"),
            (rcgen::DnType::OrganizationName, "Example, Inc."),
            (rcgen::DnType::CommonName, "Example CA"),
        ];
        let der = issued(&[0x12, 0x34], &issuer);
        let cert = exact_key(&der, &s).expect("a certificate");
        for assertion in [
            r#"{ serialNumber 4660, issuer rdnSequence:"cn=Example CA,o=Example\, Inc.,c=DE" }"#,
            r#"{serialNumber 4660,issuer rdnSequence:"CN=example ca, O=Example\2C Inc., C=de"}"#,
            r#"{ serialNumber '1234'H, issuer rdnSequence:"2.5.4.3=Example CA,o=Example\, Inc.,c=DE" }"#,
        ] {
            assert_eq!(
                exact_key(assertion.as_bytes(), &s).as_deref(),
                Some(cert.as_str()),
                "{assertion}"
            );
        }
        for other in [
            r#"{ serialNumber 4661, issuer rdnSequence:"cn=Example CA,o=Example\, Inc.,c=DE" }"#,
            r#"{ serialNumber 4660, issuer rdnSequence:"cn=Other CA,o=Example\, Inc.,c=DE" }"#,
        ] {
            assert_ne!(exact_key(other.as_bytes(), &s), Some(cert.clone()));
        }
        // Another certificate of the same issuer and serial is the same value.
        assert_eq!(exact_key(&issued(&[0x12, 0x34], &issuer), &s), Some(cert));
    }

    #[test]
    fn serial_numbers_compare_as_numbers() {
        let s = Schema::standard();
        let issuer = [(rcgen::DnType::CommonName, "CA")];
        let big = [0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let der = issued(&big, &issuer);
        // 2^151 + 1, which needs the sign octet a DER INTEGER adds.
        let decimal = "2854495385411919762116571938898990272765493249";
        let assertion = format!(r#"{{ serialNumber {decimal}, issuer rdnSequence:"cn=CA" }}"#);
        assert_eq!(
            exact_key(assertion.as_bytes(), &s),
            exact_key(&der, &s),
            "{assertion}"
        );
        assert_eq!(decimal_octets("0"), [0]);
        assert_eq!(decimal_octets("256"), [1, 0]);
        assert_eq!(negated(&[1]), [0xff]);
        assert_eq!(negated(&[0x80]), [0x80]);
        assert_eq!(negated(&[0x81]), [0xff, 0x7f]);
        assert_eq!(minimal(&[0, 0, 0x7f]), [0x7f]);
        assert_eq!(minimal(&[0, 0x80]), [0, 0x80]);
        assert_eq!(minimal(&[0xff, 0xff, 0x80]), [0x80]);
    }

    #[test]
    fn neither_a_certificate_nor_an_assertion_has_no_key() {
        let s = Schema::standard();
        for bad in [
            &b""[..],
            b"MIIB",
            b"{ serialNumber 1 }",
            b"{ serialNumber x, issuer rdnSequence:\"cn=CA\" }",
            b"{ serialNumber 1, issuer rdnSequence:\"cn=CA\" } trailing",
            b"{ serialNumber 1, issuer rdnSequence:\"not a dn\" }",
            b"{ serialNumber1, issuer rdnSequence:\"cn=CA\" }",
            b"{ serialNumber 'abc'H, issuer rdnSequence:\"cn=CA\" }",
            &[0x30, 0x82, 0x00],
        ] {
            assert_eq!(
                exact_key(bad, &s),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = format!(
            r#"{{ serialNumber {}, issuer rdnSequence:"cn=CA" }}"#,
            "9".repeat(MAX_SERIAL_CHARS + 1)
        );
        assert_eq!(exact_key(long.as_bytes(), &s), None);
        // Multi-byte characters across the length bound are refused, not sliced through.
        for filler in ["é", "€", "9é"] {
            let wide = format!(
                r#"{{ serialNumber {}, issuer rdnSequence:"cn=CA" }}"#,
                filler.repeat(MAX_SERIAL_CHARS)
            );
            assert_eq!(exact_key(wide.as_bytes(), &s), None, "{filler}");
        }
        // A quote in the issuer is doubled (and escaped, as RFC 4514 has it in a DN).
        let quoted = r#"{ serialNumber 1, issuer rdnSequence:"cn=\""Q\"" CA" }"#;
        assert_eq!(
            exact_key(quoted.as_bytes(), &s).as_deref(),
            Some(r#"01$cn=\"q\" ca"#)
        );
    }
}
