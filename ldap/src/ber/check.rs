//! The BER rules a received message is held to, checked on its octets before `ldap3_lber`
//! reads them.
//!
//! `ldap3_lber` reads the indefinite form of length (`0x80`) as a length of zero, and keeps what
//! it read of a constructed element when one of its elements runs past the end: a SEQUENCE sent
//! with an indefinite length reads as an empty one and everything after it in the message is
//! ignored. The request then means something other than what was sent (a modify with changes
//! became a modify of nothing that answered success). RFC 4511 §5.1 allows LDAP only the
//! definite form, so such a message is refused whole instead of read.
//!
//! Checked: every length definite and within what holds the element; every constructed element
//! made of whole elements, with nothing left over; tags in the one-octet form (`ldap3_lber`
//! reads no other, and no LDAP element has a tag number above 30); and the universal types'
//! forms (X.690 §8: BOOLEAN, INTEGER, ENUMERATED and NULL primitive, SEQUENCE and SET
//! constructed; RFC 4511 §5.1: OCTET STRING primitive only). The content of a primitive element
//! is not looked into: what an OCTET STRING holds (an extended request's value, a control's) is
//! its own specification's business (RFC 4511 §5.1, last paragraph).

/// A BER element: its identifier octet and its content octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Element<'a> {
    pub identifier: u8,
    pub content: &'a [u8],
}

/// Bit 6 of the identifier octet (X.690 §8.1.2.5).
const CONSTRUCTED: u8 = 0x20;
/// Tag number bits of the identifier octet; all ones announce the high-tag-number form.
const TAG_NUMBER: u8 = 0x1f;

impl Element<'_> {
    pub fn is_constructed(&self) -> bool {
        self.identifier & CONSTRUCTED != 0
    }
}

/// How a message's BER breaks the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("a BER element ends inside its header")]
    TruncatedHeader,
    #[error("a BER tag is in the high-tag-number form, which LDAP does not use")]
    HighTagNumber,
    #[error("a BER element has an indefinite length (RFC 4511 §5.1: definite lengths only)")]
    IndefiniteLength,
    #[error("a BER length uses the reserved octet 0xFF (X.690 §8.1.3.5)")]
    ReservedLength,
    #[error("a BER element is longer than what holds it")]
    Overrun,
    #[error("a BER element is followed by octets that belong to no element")]
    TrailingOctets,
    #[error("a universal type is encoded in the wrong form (primitive or constructed)")]
    WrongForm,
    #[error("BER elements are nested too deeply")]
    TooDeep,
}

/// The header at the front of `buf`: its identifier octet, its own length and the length of
/// the content after it; `None` when `buf` ends inside the header, which a stream may yet
/// bring (the codec frames messages with this before it has them whole).
pub fn header(buf: &[u8]) -> Result<Option<(u8, usize, usize)>, Violation> {
    let Some(&identifier) = buf.first() else {
        return Ok(None);
    };
    if identifier & TAG_NUMBER == TAG_NUMBER {
        return Err(Violation::HighTagNumber);
    }
    let Some(&first) = buf.get(1) else {
        return Ok(None);
    };
    match first {
        0..0x80 => Ok(Some((identifier, 2, usize::from(first)))),
        0x80 => Err(Violation::IndefiniteLength),
        0xff => Err(Violation::ReservedLength),
        _ => {
            let n = usize::from(first & 0x7f);
            let Some(octets) = buf.get(2..2 + n) else {
                return Ok(None);
            };
            // Leading zero octets are allowed in BER; a length that needs more than a usize
            // cannot fit in the message anyway.
            let len = octets.iter().try_fold(0usize, |acc, b| {
                acc.checked_mul(256)
                    .map(|v| v | usize::from(*b))
                    .ok_or(Violation::Overrun)
            })?;
            Ok(Some((identifier, 2 + n, len)))
        }
    }
}

/// Reads the element at the front of `buf`: its identifier and content, and the octets after
/// it.
pub fn read(buf: &[u8]) -> Result<(Element<'_>, &[u8]), Violation> {
    let (identifier, header_len, len) = header(buf)?.ok_or(Violation::TruncatedHeader)?;
    let rest = &buf[header_len..];
    if rest.len() < len {
        return Err(Violation::Overrun);
    }
    let (content, rest) = rest.split_at(len);
    Ok((
        Element {
            identifier,
            content,
        },
        rest,
    ))
}

/// Checks that `buf` is exactly one element and that every element in it, at any depth,
/// keeps the rules above. `max_depth` counts as `ldap3_lber::Parser::new` counts it (elements
/// nest at most `max_depth - 1` deep), so that what passes here is never refused there for its
/// depth.
pub fn check(buf: &[u8], max_depth: usize) -> Result<(), Violation> {
    let (element, rest) = read(buf)?;
    if !rest.is_empty() {
        return Err(Violation::TrailingOctets);
    }
    walk(element, max_depth.saturating_sub(1))
}

fn walk(element: Element<'_>, depth_left: usize) -> Result<(), Violation> {
    if depth_left == 0 {
        return Err(Violation::TooDeep);
    }
    if universal_form_is_wrong(&element) {
        return Err(Violation::WrongForm);
    }
    if !element.is_constructed() {
        return Ok(());
    }
    let mut content = element.content;
    while !content.is_empty() {
        let (inner, rest) = read(content)?;
        walk(inner, depth_left - 1)?;
        content = rest;
    }
    Ok(())
}

/// X.690 §8.2.1, §8.3.1, §8.4, §8.8.1 (primitive) and §8.9.1, §8.11.1 (constructed); OCTET
/// STRING primitive per RFC 4511 §5.1.
fn universal_form_is_wrong(element: &Element<'_>) -> bool {
    // Class bits 00: universal.
    if element.identifier & 0xc0 != 0 {
        return false;
    }
    match element.identifier & TAG_NUMBER {
        // BOOLEAN, INTEGER, OCTET STRING, NULL, ENUMERATED
        1 | 2 | 4 | 5 | 10 => element.is_constructed(),
        // SEQUENCE, SET
        16 | 17 => !element.is_constructed(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(bytes: &[u8]) -> Result<(), Violation> {
        check(bytes, 64)
    }

    #[test]
    fn definite_lengths_short_and_long_pass() {
        assert_eq!(checked(&[0x30, 0x03, 0x02, 0x01, 0x01]), Ok(()));
        assert_eq!(checked(&[0x30, 0x81, 0x03, 0x02, 0x01, 0x01]), Ok(()));
        // Leading zero octets in a long length are BER.
        assert_eq!(checked(&[0x30, 0x82, 0x00, 0x03, 0x02, 0x01, 0x01]), Ok(()));
        assert_eq!(checked(&[0x04, 0x00]), Ok(()));
        let mut long = vec![0x04, 0x82, 0x01, 0x00];
        long.extend([b'x'; 256]);
        assert_eq!(checked(&long), Ok(()));
    }

    #[test]
    fn an_indefinite_length_anywhere_is_refused() {
        assert_eq!(
            checked(&[0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00]),
            Err(Violation::IndefiniteLength)
        );
        // Deep inside: a SEQUENCE in a SEQUENCE in a SEQUENCE.
        assert_eq!(
            checked(&[0x30, 0x08, 0x30, 0x06, 0x30, 0x80, 0x04, 0x00, 0x00, 0x00]),
            Err(Violation::IndefiniteLength)
        );
        // Primitive with the indefinite form: also refused (X.690 §8.1.3.2 never allows it).
        assert_eq!(
            checked(&[0x30, 0x04, 0x04, 0x80, 0x00, 0x00]),
            Err(Violation::IndefiniteLength)
        );
    }

    #[test]
    fn elements_fit_their_parent_exactly() {
        // The inner OCTET STRING claims five octets where two are left.
        assert_eq!(
            checked(&[0x30, 0x04, 0x04, 0x05, 0x61, 0x62]),
            Err(Violation::Overrun)
        );
        // One octet left over inside the SEQUENCE: not a whole element.
        assert_eq!(
            checked(&[0x30, 0x03, 0x04, 0x00, 0x04]),
            Err(Violation::TruncatedHeader)
        );
        // Octets after the outer element.
        assert_eq!(
            checked(&[0x30, 0x02, 0x04, 0x00, 0x00]),
            Err(Violation::TrailingOctets)
        );
        // A long length whose octets are missing.
        assert_eq!(
            checked(&[0x30, 0x84, 0x00]),
            Err(Violation::TruncatedHeader)
        );
        // A length beyond any usize.
        let mut huge = vec![0x04, 0x89];
        huge.extend([0xff; 9]);
        assert_eq!(checked(&huge), Err(Violation::Overrun));
    }

    #[test]
    fn tags_lengths_and_forms_ldap_does_not_use_are_refused() {
        assert_eq!(
            checked(&[0x30, 0x03, 0x1f, 0x01, 0x00]),
            Err(Violation::HighTagNumber)
        );
        assert_eq!(checked(&[0x04, 0xff]), Err(Violation::ReservedLength));
        // Constructed OCTET STRING (RFC 4511 §5.1) and INTEGER (X.690 §8.3.1).
        assert_eq!(
            checked(&[0x24, 0x03, 0x04, 0x01, 0x61]),
            Err(Violation::WrongForm)
        );
        assert_eq!(checked(&[0x22, 0x00]), Err(Violation::WrongForm));
        // Primitive SEQUENCE.
        assert_eq!(checked(&[0x10, 0x00]), Err(Violation::WrongForm));
        // Context and application tags may be either.
        assert_eq!(checked(&[0xa0, 0x02, 0x80, 0x00]), Ok(()));
        assert_eq!(checked(&[0x42, 0x00]), Ok(()));
    }

    #[test]
    fn depth_is_counted_as_ldap3_lber_counts_it() {
        let nested = |levels: usize| {
            let mut bytes = vec![0x05, 0x00];
            for _ in 1..levels {
                let mut outer = vec![0x30, bytes.len() as u8];
                outer.extend(bytes);
                bytes = outer;
            }
            bytes
        };
        let deepest = nested(9);
        assert_eq!(check(&deepest, 10), Ok(()));
        assert!(ldap3_lber::Parser::new(10).parse(&deepest).is_ok());
        let deeper = nested(10);
        assert_eq!(check(&deeper, 10), Err(Violation::TooDeep));
        assert!(ldap3_lber::Parser::new(10).parse(&deeper).is_err());
    }
}
