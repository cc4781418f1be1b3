//! The shapes of RFC 4511's requests (Appendix A's SEQUENCEs), held against what a client sent
//! before `ldap3_proto` reads it.
//!
//! `ldap3_proto` reads a SEQUENCE's components by position and ignores what it does not take,
//! so a request with a component too many means something other than what was sent: a compare
//! whose AttributeValueAssertion holds three elements compared the second and third, a modify
//! whose `changes` is followed by another SEQUENCE of changes applied none of them, a
//! modify DN whose `newSuperior` came in the constructed form moved nothing. RFC 4511 §4 says
//! which extra components are allowed: every SEQUENCE is implicitly extensible, and "clients
//! and servers MUST (unless otherwise specified) ignore trailing SEQUENCE components whose tags
//! they do not recognize". So, for each SEQUENCE of a request:
//!
//! - its components come in order, each with its tag and form, the optional ones possibly
//!   absent; a required one missing or out of place is a protocolError;
//! - what follows its last component is ignored, and removed here so that the library reads
//!   exactly the known components, when no element of it carries a tag of one of the
//!   SEQUENCE's components (a later version's extension);
//! - it is a protocolError when one does: a component given twice or out of order is not an
//!   extension but a request that does not say one thing.
//!
//! The content of primitive values (strings, numbers) and the constraints on them are left to
//! `ldap3_proto` and [`crate::constraints`].

use ldap3_lber::common::TagClass;
use ldap3_lber::structure::{PL, StructureTag};

/// Universal tag numbers (X.680 §8.6).
const BOOLEAN: u64 = 1;
const INTEGER: u64 = 2;
const OCTET_STRING: u64 = 4;
const ENUMERATED: u64 = 10;
const SEQUENCE: u64 = 16;
const SET: u64 = 17;

/// The tag a component is known by.
#[derive(Clone, Copy)]
enum Tag {
    Universal(u64),
    Context(u64),
    /// A CHOICE whose alternatives are all tags of one class: any tag of the class takes the
    /// component's place (CHOICEs are extensible too, and an unknown alternative is for the
    /// operation to refuse), and these are the ones known.
    Choice(TagClass, &'static [u64]),
}

impl Tag {
    /// Whether `element` may stand in this component's place.
    fn fits(self, element: &StructureTag) -> bool {
        match self {
            Tag::Universal(id) => element.class == TagClass::Universal && element.id == id,
            Tag::Context(id) => element.class == TagClass::Context && element.id == id,
            Tag::Choice(class, _) => element.class == class,
        }
    }

    /// Whether `element` carries a tag this component is known by: one that cannot be a
    /// later version's extension.
    fn knows(self, element: &StructureTag) -> bool {
        match self {
            Tag::Choice(class, ids) => element.class == class && ids.contains(&element.id),
            _ => self.fits(element),
        }
    }
}

/// What an element holds.
#[derive(Clone, Copy)]
enum Content {
    /// A primitive value.
    Primitive,
    /// A SEQUENCE (or an implicitly tagged one) of these components.
    Sequence(&'static Sequence),
    /// A SEQUENCE OF or SET OF elements of this tag and content.
    Of(&'static str, Tag, &'static Content),
    /// A protocolOp (RFC 4511 §4.2 to §4.12), by its tag.
    Operation,
    /// An AuthenticationChoice (RFC 4511 §4.2), by its tag.
    Authentication,
    /// A Filter (RFC 4511 §4.5.1.7), by its tag.
    Filter,
}

struct Sequence {
    /// What the SEQUENCE is, for the protocolError's text.
    name: &'static str,
    components: &'static [Component],
}

struct Component {
    name: &'static str,
    tag: Tag,
    optional: bool,
    content: Content,
}

const fn required(name: &'static str, tag: Tag, content: Content) -> Component {
    Component {
        name,
        tag,
        optional: false,
        content,
    }
}

const fn optional(name: &'static str, tag: Tag, content: Content) -> Component {
    Component {
        name,
        tag,
        optional: true,
        content,
    }
}

const fn string(name: &'static str) -> Component {
    required(name, Tag::Universal(OCTET_STRING), Content::Primitive)
}

/// Every operation's tag (RFC 4511 §4.2): a second protocolOp is never an extension.
const OPERATIONS: &[u64] = &[
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 19, 23, 24, 25,
];
/// `simple [0]`, `sasl [3]`, and 1 and 2, which RFC 4511 §4.2 keeps reserved.
const AUTHENTICATION: &[u64] = &[0, 1, 2, 3];
/// `and [0]` to `extensibleMatch [9]`.
const FILTERS: &[u64] = &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
/// `initial [0]`, `any [1]`, `final [2]`.
const SUBSTRINGS: &[u64] = &[0, 1, 2];

static MESSAGE: Sequence = Sequence {
    name: "an LDAPMessage",
    components: &[
        required("messageID", Tag::Universal(INTEGER), Content::Primitive),
        required(
            "protocolOp",
            Tag::Choice(TagClass::Application, OPERATIONS),
            Content::Operation,
        ),
        optional(
            "controls",
            Tag::Context(0),
            Content::Of(
                "a control",
                Tag::Universal(SEQUENCE),
                &Content::Sequence(&CONTROL),
            ),
        ),
    ],
};

static CONTROL: Sequence = Sequence {
    name: "a Control",
    components: &[
        string("controlType"),
        optional("criticality", Tag::Universal(BOOLEAN), Content::Primitive),
        optional(
            "controlValue",
            Tag::Universal(OCTET_STRING),
            Content::Primitive,
        ),
    ],
};

static BIND: Sequence = Sequence {
    name: "a BindRequest",
    components: &[
        required("version", Tag::Universal(INTEGER), Content::Primitive),
        string("name"),
        required(
            "authentication",
            Tag::Choice(TagClass::Context, AUTHENTICATION),
            Content::Authentication,
        ),
    ],
};

static SASL: Sequence = Sequence {
    name: "SaslCredentials",
    components: &[
        string("mechanism"),
        optional(
            "credentials",
            Tag::Universal(OCTET_STRING),
            Content::Primitive,
        ),
    ],
};

static SEARCH: Sequence = Sequence {
    name: "a SearchRequest",
    components: &[
        string("baseObject"),
        required("scope", Tag::Universal(ENUMERATED), Content::Primitive),
        required(
            "derefAliases",
            Tag::Universal(ENUMERATED),
            Content::Primitive,
        ),
        required("sizeLimit", Tag::Universal(INTEGER), Content::Primitive),
        required("timeLimit", Tag::Universal(INTEGER), Content::Primitive),
        required("typesOnly", Tag::Universal(BOOLEAN), Content::Primitive),
        required(
            "filter",
            Tag::Choice(TagClass::Context, FILTERS),
            Content::Filter,
        ),
        required(
            "attributes",
            Tag::Universal(SEQUENCE),
            Content::Of(
                "an attribute selector",
                Tag::Universal(OCTET_STRING),
                &Content::Primitive,
            ),
        ),
    ],
};

static ATTRIBUTE_VALUE_ASSERTION: Sequence = Sequence {
    name: "an AttributeValueAssertion",
    components: &[string("attributeDesc"), string("assertionValue")],
};

static SUBSTRING_FILTER: Sequence = Sequence {
    name: "a SubstringFilter",
    components: &[
        string("type"),
        required(
            "substrings",
            Tag::Universal(SEQUENCE),
            Content::Of(
                "a substring",
                Tag::Choice(TagClass::Context, SUBSTRINGS),
                &Content::Primitive,
            ),
        ),
    ],
};

static MATCHING_RULE_ASSERTION: Sequence = Sequence {
    name: "a MatchingRuleAssertion",
    components: &[
        optional("matchingRule", Tag::Context(1), Content::Primitive),
        optional("type", Tag::Context(2), Content::Primitive),
        required("matchValue", Tag::Context(3), Content::Primitive),
        optional("dnAttributes", Tag::Context(4), Content::Primitive),
    ],
};

static PARTIAL_ATTRIBUTE: Sequence = Sequence {
    name: "a PartialAttribute",
    components: &[
        string("type"),
        required(
            "vals",
            Tag::Universal(SET),
            Content::Of(
                "an attribute value",
                Tag::Universal(OCTET_STRING),
                &Content::Primitive,
            ),
        ),
    ],
};

static MODIFY: Sequence = Sequence {
    name: "a ModifyRequest",
    components: &[
        string("object"),
        required(
            "changes",
            Tag::Universal(SEQUENCE),
            Content::Of(
                "a change",
                Tag::Universal(SEQUENCE),
                &Content::Sequence(&CHANGE),
            ),
        ),
    ],
};

static CHANGE: Sequence = Sequence {
    name: "a ModifyRequest's change",
    components: &[
        required("operation", Tag::Universal(ENUMERATED), Content::Primitive),
        required(
            "modification",
            Tag::Universal(SEQUENCE),
            Content::Sequence(&PARTIAL_ATTRIBUTE),
        ),
    ],
};

static ADD: Sequence = Sequence {
    name: "an AddRequest",
    components: &[
        string("entry"),
        required(
            "attributes",
            Tag::Universal(SEQUENCE),
            Content::Of(
                "an attribute",
                Tag::Universal(SEQUENCE),
                &Content::Sequence(&PARTIAL_ATTRIBUTE),
            ),
        ),
    ],
};

static MODIFY_DN: Sequence = Sequence {
    name: "a ModifyDNRequest",
    components: &[
        string("entry"),
        string("newrdn"),
        required("deleteoldrdn", Tag::Universal(BOOLEAN), Content::Primitive),
        optional("newSuperior", Tag::Context(0), Content::Primitive),
    ],
};

static COMPARE: Sequence = Sequence {
    name: "a CompareRequest",
    components: &[
        string("entry"),
        required(
            "ava",
            Tag::Universal(SEQUENCE),
            Content::Sequence(&ATTRIBUTE_VALUE_ASSERTION),
        ),
    ],
};

static EXTENDED: Sequence = Sequence {
    name: "an ExtendedRequest",
    components: &[
        required("requestName", Tag::Context(0), Content::Primitive),
        optional("requestValue", Tag::Context(1), Content::Primitive),
    ],
};

/// How a request breaks the shape RFC 4511 gives it; shown as the protocolError's text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("{0} is encoded constructed, not primitive")]
    NotPrimitive(&'static str),
    #[error("{0} is encoded primitive, not constructed")]
    NotConstructed(&'static str),
    #[error("{element} holds something other than {what}")]
    Foreign {
        element: &'static str,
        what: &'static str,
    },
    #[error("{sequence}'s {component} is missing or out of place")]
    Missing {
        sequence: &'static str,
        component: &'static str,
    },
    #[error(
        "{sequence} repeats or misplaces its {component} (RFC 4511 §4 ignores only trailing \
         components whose tags are not known)"
    )]
    Repeated {
        sequence: &'static str,
        component: &'static str,
    },
    #[error("a filter holds something other than filters")]
    NotAFilter,
}

/// Holds `message`, a whole LDAPMessage as `ldap3_lber` read it, to its shape, removing the
/// unknown trailing components RFC 4511 §4 says to ignore.
pub fn check(message: &mut StructureTag) -> Result<(), ShapeError> {
    content(message, Content::Sequence(&MESSAGE), "an LDAPMessage")
}

fn content(
    element: &mut StructureTag,
    content: Content,
    name: &'static str,
) -> Result<(), ShapeError> {
    match content {
        Content::Primitive => match element.payload {
            PL::P(_) => Ok(()),
            PL::C(_) => Err(ShapeError::NotPrimitive(name)),
        },
        Content::Sequence(sequence) => self::sequence(constructed(element, name)?, sequence),
        Content::Of(what, tag, inner) => {
            for element in constructed(element, name)? {
                if !tag.fits(element) {
                    return Err(ShapeError::Foreign {
                        element: name,
                        what,
                    });
                }
                self::content(element, *inner, what)?;
            }
            Ok(())
        }
        Content::Operation => operation(element),
        Content::Authentication => authentication(element),
        Content::Filter => filter(element),
    }
}

fn constructed<'a>(
    element: &'a mut StructureTag,
    name: &'static str,
) -> Result<&'a mut Vec<StructureTag>, ShapeError> {
    match &mut element.payload {
        PL::C(inner) => Ok(inner),
        PL::P(_) => Err(ShapeError::NotConstructed(name)),
    }
}

fn sequence(parts: &mut Vec<StructureTag>, sequence: &Sequence) -> Result<(), ShapeError> {
    let mut taken = 0;
    for component in sequence.components {
        match parts.get_mut(taken) {
            Some(part) if component.tag.fits(part) => {
                content(part, component.content, component.name)?;
                taken += 1;
            }
            _ if component.optional => {}
            _ => {
                return Err(ShapeError::Missing {
                    sequence: sequence.name,
                    component: component.name,
                });
            }
        }
    }
    let trailing = &parts[taken..];
    if let Some(known) = sequence
        .components
        .iter()
        .find(|c| trailing.iter().any(|part| c.tag.knows(part)))
    {
        return Err(ShapeError::Repeated {
            sequence: sequence.name,
            component: known.name,
        });
    }
    // RFC 4511 §4: an extension this server does not know, ignored.
    parts.truncate(taken);
    Ok(())
}

fn operation(op: &mut StructureTag) -> Result<(), ShapeError> {
    let sequence = match op.id {
        0 => &BIND,
        3 => &SEARCH,
        6 => &MODIFY,
        8 => &ADD,
        12 => &MODIFY_DN,
        14 => &COMPARE,
        23 => &EXTENDED,
        // Unbind (NULL), delete (LDAPDN), abandon (MessageID): primitive, which the codec
        // checks; anything else is not a request, which it refuses.
        _ => return Ok(()),
    };
    content(op, Content::Sequence(sequence), sequence.name)
}

fn authentication(choice: &mut StructureTag) -> Result<(), ShapeError> {
    match choice.id {
        0 => content(choice, Content::Primitive, "a simple bind's password"),
        3 => content(choice, Content::Sequence(&SASL), SASL.name),
        // Another method: the bind answers authMethodNotSupported.
        _ => Ok(()),
    }
}

/// RFC 4511 §4.5.1.7. The filters' other constraints are [`crate::constraints`]'s.
fn filter(f: &mut StructureTag) -> Result<(), ShapeError> {
    let sequence = match f.id {
        0..=2 => {
            for inner in constructed(f, "an and, or or not filter")? {
                if inner.class != TagClass::Context {
                    return Err(ShapeError::NotAFilter);
                }
                filter(inner)?;
            }
            return Ok(());
        }
        3 | 5 | 6 | 8 => &ATTRIBUTE_VALUE_ASSERTION,
        4 => &SUBSTRING_FILTER,
        7 => return content(f, Content::Primitive, "a presence filter"),
        9 => &MATCHING_RULE_ASSERTION,
        // An unknown kind of filter: the library refuses it.
        _ => return Ok(()),
    };
    content(f, Content::Sequence(sequence), sequence.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::encode;
    use ldap3_proto::proto::*;

    fn tag_of(msg: LdapMsg) -> StructureTag {
        let (_, tag) = ldap3_lber::Parser::new(64)
            .parse(&encode(msg))
            .expect("parse");
        tag
    }

    fn primitive(class: TagClass, id: u64, bytes: &[u8]) -> StructureTag {
        StructureTag {
            class,
            id,
            payload: PL::P(bytes.to_vec()),
        }
    }

    fn octets(bytes: &[u8]) -> StructureTag {
        primitive(TagClass::Universal, OCTET_STRING, bytes)
    }

    fn children(tag: &mut StructureTag) -> &mut Vec<StructureTag> {
        match &mut tag.payload {
            PL::C(inner) => inner,
            PL::P(_) => panic!("not constructed"),
        }
    }

    fn modify() -> StructureTag {
        tag_of(LdapMsg::new(
            2,
            LdapOp::ModifyRequest(LdapModifyRequest {
                dn: "uid=a,dc=x".into(),
                changes: vec![LdapModify {
                    operation: LdapModifyType::Replace,
                    modification: LdapPartialAttribute {
                        atype: "title".into(),
                        vals: vec![b"t".to_vec()],
                    },
                }],
            }),
        ))
    }

    fn compare() -> StructureTag {
        tag_of(LdapMsg::new(
            3,
            LdapOp::CompareRequest(LdapCompareRequest {
                dn: "uid=a,dc=x".into(),
                atype: "cn".into(),
                val: b"v".to_vec(),
            }),
        ))
    }

    /// The message's operation's components.
    fn op(message: &mut StructureTag) -> &mut Vec<StructureTag> {
        children(&mut children(message)[1])
    }

    #[test]
    fn requests_as_encoders_write_them_pass_unchanged() {
        for msg in [modify(), compare()] {
            let mut checked = msg.clone();
            assert_eq!(check(&mut checked), Ok(()));
            assert_eq!(checked, msg);
        }
    }

    #[test]
    fn a_component_given_twice_is_refused() {
        // A compare's assertion with a third value.
        let mut m = compare();
        children(&mut op(&mut m)[1]).push(octets(b"w"));
        let e = check(&mut m).unwrap_err().to_string();
        assert!(e.contains("AttributeValueAssertion"), "{e}");
        // A modify with a second list of changes after the (emptied) first.
        let mut m = modify();
        let changes = op(&mut m)[1].clone();
        children(&mut op(&mut m)[1]).clear();
        op(&mut m).push(changes);
        let e = check(&mut m).unwrap_err().to_string();
        assert!(
            e.contains("ModifyRequest repeats or misplaces its changes"),
            "{e}"
        );
        // A change with its operation again at the end.
        let mut m = modify();
        let change = &mut children(&mut op(&mut m)[1])[0];
        let operation = children(change)[0].clone();
        children(change).push(operation);
        assert!(
            check(&mut m)
                .unwrap_err()
                .to_string()
                .contains("change repeats or misplaces its operation")
        );
    }

    #[test]
    fn unknown_trailing_components_are_ignored_and_removed() {
        let mut m = modify();
        let expected = m.clone();
        // RFC 4511 §4: a trailing component of a tag the change does not know.
        children(&mut children(&mut op(&mut m)[1])[0]).push(octets(b"junk"));
        // And one on the message, after its (absent) controls.
        children(&mut m).push(primitive(TagClass::Context, 7, b"x"));
        assert_eq!(check(&mut m), Ok(()));
        assert_eq!(m, expected);
    }

    #[test]
    fn components_keep_their_order_and_form() {
        // newSuperior in the constructed form.
        let mut m = tag_of(LdapMsg::new(
            4,
            LdapOp::ModifyDNRequest(LdapModifyDNRequest {
                dn: "uid=a,dc=x".into(),
                newrdn: "uid=b".into(),
                deleteoldrdn: true,
                new_superior: Some("dc=y".into()),
            }),
        ));
        op(&mut m)[3].payload = PL::C(vec![octets(b"dc=y")]);
        assert!(
            check(&mut m)
                .unwrap_err()
                .to_string()
                .contains("newSuperior")
        );
        // An extended request's value in the constructed form.
        let mut m = tag_of(LdapMsg::new(
            5,
            LdapOp::ExtendedRequest(LdapExtendedRequest {
                name: "1.3.6.1.4.1.4203.1.11.1".into(),
                value: Some(vec![0x30, 0x00]),
            }),
        ));
        op(&mut m)[1].payload = PL::C(vec![]);
        assert!(
            check(&mut m)
                .unwrap_err()
                .to_string()
                .contains("requestValue")
        );
        // An extensible match with matchValue before matchingRule.
        let mut m = tag_of(crate::codec::tests::search(
            6,
            LdapFilter::Extensible(LdapMatchingRuleAssertion {
                matching_rule: Some("2.5.13.2".into()),
                type_: Some("cn".into()),
                match_value: "v".into(),
                dn_attributes: false,
            }),
        ));
        children(&mut op(&mut m)[6]).reverse();
        assert!(
            check(&mut m)
                .unwrap_err()
                .to_string()
                .contains("MatchingRuleAssertion")
        );
    }

    #[test]
    fn filters_are_checked_at_every_depth() {
        let eq = |v: &str| LdapFilter::Equality("cn".into(), v.into());
        let filter = LdapFilter::And(vec![
            eq("a"),
            LdapFilter::Or(vec![LdapFilter::Not(Box::new(eq("b")))]),
        ]);
        let mut m = tag_of(crate::codec::tests::search(7, filter));
        assert_eq!(check(&mut m), Ok(()));
        // and → or → not → equality: a third element in the assertion.
        let and = &mut op(&mut m)[6];
        let or = &mut children(and)[1];
        let not = &mut children(or)[0];
        let equality = &mut children(not)[0];
        children(equality).push(octets(b"c"));
        assert!(
            check(&mut m)
                .unwrap_err()
                .to_string()
                .contains("AttributeValueAssertion")
        );
    }
}
