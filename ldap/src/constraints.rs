//! The ASN.1 constraints of RFC 4511 that `ldap3_proto` does not check when it decodes a
//! request, checked on the raw BER first. Left to the library, a negative size limit is read
//! as 255 (its integers are not sign-extended) and a huge one wraps to "unlimited" or 1, a NOT
//! holding two filters silently drops one, and an empty substring filter matches everything:
//! each a request that means something other than what the client sent. Refused instead as
//! protocolError, as RFC 4511 §4.1.1 asks of a request that is not well formed.

use ldap3_lber::common::TagClass;
use ldap3_lber::structure::{PL, StructureTag};
use ldap3_lber::universal::Types;

/// Application tag of a SearchRequest.
const SEARCH_REQUEST: u64 = 3;
/// RFC 2696 simple paged results.
const PAGED_RESULTS_OID: &str = "1.2.840.113556.1.4.319";

/// Why a request breaks RFC 4511's constraints, or `Ok` when it keeps them (as far as checked
/// here: what the library would misread).
pub fn check(op: &StructureTag, controls: Option<&StructureTag>) -> Result<(), &'static str> {
    if op.id == SEARCH_REQUEST {
        search_request(op)?;
    }
    if let Some(controls) = controls {
        paged_results(controls)?;
    }
    Ok(())
}

/// A signed INTEGER as it is on the wire (two's complement, at most eight octets).
pub fn integer(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > 8 {
        return None;
    }
    let mut v: i64 = if bytes[0] & 0x80 != 0 { -1 } else { 0 };
    for b in bytes {
        v = (v << 8) | i64::from(*b);
    }
    Some(v)
}

/// `INTEGER (0 .. maxInt)`, maxInt being 2³¹ − 1 (RFC 4511 §4.1.1).
fn bounded_integer(tag: Option<&StructureTag>, what: &'static str) -> Result<(), &'static str> {
    match tag {
        Some(StructureTag {
            class: TagClass::Universal,
            payload: PL::P(bytes),
            ..
        }) if integer(bytes).is_some_and(|v| (0..=i64::from(i32::MAX)).contains(&v)) => Ok(()),
        _ => Err(what),
    }
}

fn search_request(op: &StructureTag) -> Result<(), &'static str> {
    let PL::C(parts) = &op.payload else {
        return Ok(());
    };
    bounded_integer(
        parts.get(3),
        "sizeLimit must be an integer from 0 to 2147483647",
    )?;
    bounded_integer(
        parts.get(4),
        "timeLimit must be an integer from 0 to 2147483647",
    )?;
    match parts.get(6) {
        Some(filter) => self::filter(filter),
        None => Ok(()),
    }
}

/// RFC 4511 §4.5.1.7 Filter.
fn filter(f: &StructureTag) -> Result<(), &'static str> {
    if f.class != TagClass::Context {
        return Ok(());
    }
    match (f.id, &f.payload) {
        // and, or: any number of filters (RFC 4526 gives the empty ones a meaning).
        (0 | 1, PL::C(inner)) => inner.iter().try_for_each(filter),
        (2, PL::C(inner)) => match inner.as_slice() {
            [one] => filter(one),
            _ => Err("a NOT filter holds exactly one filter"),
        },
        (4, PL::C(parts)) => substrings(parts),
        (9, PL::C(parts)) => {
            let named = parts
                .iter()
                .any(|p| p.class == TagClass::Context && matches!(p.id, 1 | 2));
            if named {
                Ok(())
            } else {
                Err("an extensible match names a matching rule, an attribute type or both")
            }
        }
        _ => Ok(()),
    }
}

/// `SubstringFilter`: `substrings SEQUENCE SIZE (1..MAX)`, an `initial` only first and a
/// `final` only last, at most one of each.
fn substrings(parts: &[StructureTag]) -> Result<(), &'static str> {
    let Some(StructureTag {
        payload: PL::C(pieces),
        ..
    }) = parts.get(1)
    else {
        return Ok(());
    };
    if pieces.is_empty() {
        return Err("a substring filter holds at least one substring");
    }
    let last = pieces.len() - 1;
    for (i, piece) in pieces.iter().enumerate() {
        match piece.id {
            0 if i != 0 => return Err("a substring filter's initial part comes first"),
            2 if i != last => return Err("a substring filter's final part comes last"),
            _ => {}
        }
    }
    Ok(())
}

/// RFC 2696: `realSearchControlValue ::= SEQUENCE { size INTEGER (0..maxInt), cookie }`.
fn paged_results(controls: &StructureTag) -> Result<(), &'static str> {
    let PL::C(controls) = &controls.payload else {
        return Ok(());
    };
    for control in controls {
        let PL::C(parts) = &control.payload else {
            continue;
        };
        let is_paged = matches!(
            parts.first().map(|t| &t.payload),
            Some(PL::P(oid)) if oid.as_slice() == PAGED_RESULTS_OID.as_bytes()
        );
        if !is_paged {
            continue;
        }
        let value = parts.iter().skip(1).find_map(|t| match &t.payload {
            PL::P(bytes) if t.class == TagClass::Universal && t.id == Types::OctetString as u64 => {
                Some(bytes)
            }
            _ => None,
        });
        let Some(value) = value else { continue };
        let mut parser = ldap3_lber::Parser::new(4);
        let size = match parser.parse(value) {
            Ok((
                [],
                StructureTag {
                    payload: PL::C(inner),
                    ..
                },
            )) => inner.first().cloned(),
            _ => continue,
        };
        bounded_integer(
            size.as_ref(),
            "a paged search's page size must be an integer from 0 to 2147483647",
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::encode;
    use ldap3_proto::proto::*;

    fn search(filter: LdapFilter, size: i32) -> StructureTag {
        let mut msg = crate::codec::tests::search(1, filter);
        if let LdapOp::SearchRequest(request) = &mut msg.op {
            request.sizelimit = size;
        }
        let (_, tag) = ldap3_lber::Parser::new(64)
            .parse(&encode(msg))
            .expect("parse");
        tag
    }

    fn op_of(tag: &StructureTag) -> &StructureTag {
        match &tag.payload {
            PL::C(parts) => &parts[1],
            PL::P(_) => panic!("not constructed"),
        }
    }

    fn checked(filter: LdapFilter, size: i32) -> Result<(), &'static str> {
        check(op_of(&search(filter, size)), None)
    }

    #[test]
    fn integers_are_signed() {
        assert_eq!(integer(&[0x01]), Some(1));
        assert_eq!(integer(&[0x00, 0x80]), Some(128));
        assert_eq!(integer(&[0xff]), Some(-1));
        assert_eq!(integer(&[]), None);
    }

    #[test]
    fn limits_are_from_zero_to_max_int() {
        let present = || LdapFilter::Present("cn".into());
        assert!(checked(present(), 0).is_ok());
        assert!(checked(present(), i32::MAX).is_ok());
        assert!(checked(present(), -1).unwrap_err().contains("sizeLimit"));
    }

    #[test]
    fn filters_keep_their_shapes() {
        let eq = |v: &str| LdapFilter::Equality("uid".into(), v.into());
        assert!(checked(LdapFilter::Not(Box::new(eq("a"))), 0).is_ok());
        assert!(checked(LdapFilter::And(vec![]), 0).is_ok());
        assert!(
            checked(
                LdapFilter::Substring(
                    "cn".into(),
                    LdapSubstringFilter {
                        initial: Some("a".into()),
                        any: vec!["b".into()],
                        final_: Some("c".into()),
                    },
                ),
                0
            )
            .is_ok()
        );
        let empty = LdapFilter::Substring("cn".into(), LdapSubstringFilter::default());
        assert!(checked(empty, 0).unwrap_err().contains("at least one"));
        // NOT with two filters: built by hand, as no encoder writes it.
        let mut tag = search(LdapFilter::Not(Box::new(eq("a"))), 0);
        if let PL::C(parts) = &mut tag.payload
            && let PL::C(fields) = &mut parts[1].payload
            && let PL::C(inner) = &mut fields[6].payload
        {
            inner.push(inner[0].clone());
        }
        assert!(
            check(op_of(&tag), None)
                .unwrap_err()
                .contains("exactly one")
        );
        let unnamed = LdapFilter::Extensible(LdapMatchingRuleAssertion {
            matching_rule: None,
            type_: None,
            match_value: "x".into(),
            dn_attributes: false,
        });
        assert!(checked(unnamed, 0).unwrap_err().contains("extensible"));
    }
}
