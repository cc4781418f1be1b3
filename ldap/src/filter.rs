//! Exact evaluation of search filters over an [`Entry`] (RFC 4511 §4.5.1.7), with the matching
//! rule of each attribute, and index planning for directories.
//!
//! Evaluation is three-valued: an item whose attribute has no rule for the operation, or whose
//! assertion value is not valid for the syntax, is Undefined, and `!(Undefined)` is still
//! Undefined, so `(!(createTimestamp>=garbage))` matches nothing rather than everything.
//!
//! A filter is compiled once per search (names resolved, assertion values normalised) and then
//! run against every candidate entry.

use std::cmp::Ordering;

use ldap3_proto::proto::{LdapFilter, LdapMatchingRuleAssertion, LdapSubstringFilter};

use crate::dn::{Dn, normalize_value};
use crate::entry::Entry;
use crate::schema::{MatchingRule, Schema};

/// Result of a filter item: RFC 4511's TRUE, FALSE and Undefined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    Undefined,
}

impl Truth {
    fn from_bool(b: bool) -> Truth {
        if b { Truth::True } else { Truth::False }
    }

    fn not(self) -> Truth {
        match self {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Undefined => Truth::Undefined,
        }
    }
}

/// A value in the comparable form of its matching rule.
#[derive(Debug, Clone, PartialEq)]
enum Norm {
    Str(String),
    Bytes(Vec<u8>),
    Int(i128),
    /// Seconds since the epoch and nanoseconds.
    Time(i64, u32),
    Bool(bool),
}

impl PartialOrd for Norm {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match (self, other) {
            (Norm::Str(a), Norm::Str(b)) => a.partial_cmp(b),
            (Norm::Bytes(a), Norm::Bytes(b)) => a.partial_cmp(b),
            (Norm::Int(a), Norm::Int(b)) => a.partial_cmp(b),
            (Norm::Time(a, an), Norm::Time(b, bn)) => (a, an).partial_cmp(&(b, bn)),
            (Norm::Bool(a), Norm::Bool(b)) => a.partial_cmp(b),
            _ => None,
        }
    }
}

fn normalize(rule: MatchingRule, v: &[u8], schema: &Schema) -> Option<Norm> {
    use MatchingRule::*;
    match rule {
        OctetString => return Some(Norm::Bytes(v.to_vec())),
        // A certificate is DER, not text: only its assertion is.
        CertificateExact => return crate::certificate::exact_key(v, schema).map(Norm::Str),
        _ => {}
    }
    let s = std::str::from_utf8(v).ok()?;
    Some(match rule {
        CaseIgnore => Norm::Str(normalize_value(s)),
        CaseExact => Norm::Str(s.split_whitespace().collect::<Vec<_>>().join(" ")),
        DistinguishedName => Norm::Str(Dn::parse(s).ok()?.normalized().to_string()),
        Integer => Norm::Int(s.trim().parse().ok()?),
        GeneralizedTime => {
            let (secs, nanos) = parse_generalized_time(s.trim())?;
            Norm::Time(secs, nanos)
        }
        Boolean => match s.trim() {
            t if t.eq_ignore_ascii_case("TRUE") => Norm::Bool(true),
            t if t.eq_ignore_ascii_case("FALSE") => Norm::Bool(false),
            _ => return None,
        },
        TelephoneNumber => Norm::Str(
            s.chars()
                .filter(|c| !c.is_whitespace() && *c != '-')
                .flat_map(char::to_lowercase)
                .collect(),
        ),
        ObjectIdentifier if is_oid(s.trim()) => Norm::Str(schema.normalize_oid_value(s)),
        NumericString if s.chars().all(|c| c.is_ascii_digit() || c == ' ') => {
            Norm::Str(s.chars().filter(|c| *c != ' ').collect())
        }
        Uuid if is_uuid(s.trim()) => Norm::Str(s.trim().to_ascii_lowercase()),
        // Not a value of the syntax: an assertion of it is Undefined, a stored one matches
        // nothing.
        ObjectIdentifier | NumericString | Uuid => return None,
        OctetString | CertificateExact => return None,
    })
}

/// RFC 4512 §1.4 `oid`: a descriptor (`inetOrgPerson`) or a numeric OID (`2.5.6.6`).
fn is_oid(s: &str) -> bool {
    let descr = |s: &str| {
        let mut chars = s.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let number = |n: &str| {
        !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && (n == "0" || !n.starts_with('0'))
    };
    descr(s) || (s.contains('.') && s.split('.').all(number))
}

/// RFC 4530 §2.1: the UUID's string form, `8-4-4-4-12` hexadecimal digits. Anything else is
/// no entry's `entryUUID`, and saying so (Undefined rather than FALSE) keeps
/// `(!(entryUUID=x))` from matching every entry.
fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Whether two values of `attribute` are the same value under its equality rule (RFC 4512
/// §4.1.2): what a write needs to tell a value that is already there (`cn: ann` and `cn: ANN`,
/// `+1 555-0100` and `+15550100`) from a new one. Unknown types compare as directory strings
/// (a write refuses them anyway); a type without an equality rule, or a value its rule cannot
/// read, compares byte for byte.
pub fn values_equal(schema: &Schema, attribute: &str, a: &[u8], b: &[u8]) -> bool {
    let base = attribute.split(';').next().unwrap_or(attribute);
    let rule = match schema.attribute(base) {
        Some(at) => at.equality,
        None => Some(MatchingRule::CaseIgnore),
    };
    match rule.map(|r| (normalize(r, a, schema), normalize(r, b, schema))) {
        Some((Some(x), Some(y))) => x == y,
        _ => a == b,
    }
}

/// Normalises a substring fragment: like the value rule, but keeping a space at either end
/// (`*john *` must not match `johnny`).
fn normalize_fragment(rule: MatchingRule, f: &str) -> Option<String> {
    use MatchingRule::*;
    let collapse = |s: &str| {
        let mut out = String::new();
        let mut space = false;
        for c in s.chars() {
            if c.is_whitespace() {
                space = true;
            } else {
                if space {
                    out.push(' ');
                }
                space = false;
                out.push(c);
            }
        }
        if space {
            out.push(' ');
        }
        out
    };
    Some(match rule {
        CaseIgnore => crate::dn::compatibility_folded(
            collapse(f).chars().flat_map(char::to_lowercase).collect(),
        ),
        CaseExact => collapse(f),
        TelephoneNumber => f
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .flat_map(char::to_lowercase)
            .collect(),
        NumericString => f.chars().filter(|c| !c.is_whitespace()).collect(),
        _ => return None,
    })
}

/// GeneralizedTime (RFC 4517 §3.3.13) to UTC seconds and nanoseconds.
pub(crate) fn parse_generalized_time(s: &str) -> Option<(i64, u32)> {
    let b = s.as_bytes();
    let digits = |from: usize, n: usize| -> Option<i64> {
        let part = b.get(from..from + n)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let year = digits(0, 4)?;
    let month = digits(4, 2)?;
    let day = digits(6, 2)?;
    let hour = digits(8, 2)?;
    let mut pos = 10;
    let mut minute = 0;
    let mut second = 0;
    // Length in seconds of the last unit given: a fraction is a fraction of it.
    let mut unit = 3600i64;
    if let Some(m) = digits(pos, 2) {
        minute = m;
        pos += 2;
        unit = 60;
        if let Some(sec) = digits(pos, 2) {
            second = sec;
            pos += 2;
            unit = 1;
        }
    }
    let mut frac_nanos: i128 = 0;
    if matches!(b.get(pos), Some(b'.' | b',')) {
        pos += 1;
        let start = pos;
        while b.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        if pos == start {
            return None;
        }
        let frac = &s[start..pos.min(start + 9)];
        let scale = 10i128.pow(9 - frac.len() as u32);
        frac_nanos = frac.parse::<i128>().ok()? * scale * unit as i128;
    }
    let offset = match b.get(pos) {
        Some(b'Z') if pos + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) => {
            let oh = digits(pos + 1, 2)?;
            let om = if b.len() == pos + 5 {
                digits(pos + 3, 2)?
            } else if b.len() == pos + 3 {
                0
            } else {
                return None;
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'+' { o } else { -o }
        }
        // Local time without a zone cannot be ordered against UTC values.
        _ => return None,
    };
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86400 + hour * 3600 + minute * 60 + second - offset;
    let total = secs as i128 * 1_000_000_000 + frac_nanos;
    Some((
        total.div_euclid(1_000_000_000) as i64,
        total.rem_euclid(1_000_000_000) as u32,
    ))
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A phonetic key per word (Soundex), so that `(cn~=Jon Smyth)` finds `John Smith`.
fn approx_key(s: &str) -> String {
    s.split_whitespace()
        .map(|w| {
            // Sound-alike only makes sense for words; numbers and codes must match exactly.
            if w.chars().all(char::is_alphabetic) {
                soundex(w)
            } else {
                w.to_lowercase()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn soundex(word: &str) -> String {
    let code = |c: char| match c {
        'b' | 'f' | 'p' | 'v' => Some('1'),
        'c' | 'g' | 'j' | 'k' | 'q' | 's' | 'x' | 'z' => Some('2'),
        'd' | 't' => Some('3'),
        'l' => Some('4'),
        'm' | 'n' => Some('5'),
        'r' => Some('6'),
        _ => None,
    };
    let letters: Vec<char> = word
        .chars()
        .flat_map(char::to_lowercase)
        .filter(|c| c.is_alphanumeric())
        .collect();
    let Some(&first) = letters.first() else {
        return String::new();
    };
    let mut out = String::new();
    out.push(first);
    let mut last = code(first);
    for &c in &letters[1..] {
        let k = code(c);
        if k.is_some() && k != last {
            out.extend(k);
        }
        // h and w do not separate equal codes; vowels do.
        if c != 'h' && c != 'w' {
            last = k;
        }
        if out.chars().count() == 4 {
            break;
        }
    }
    while out.chars().count() < 4 {
        out.push('0');
    }
    out
}

/// Attribute reference resolved against the schema: every spelling of the type.
#[derive(Debug, Clone)]
struct AttrRef {
    names: Vec<String>,
    equality: Option<MatchingRule>,
    ordering: Option<MatchingRule>,
    substrings: Option<MatchingRule>,
}

impl AttrRef {
    fn new(name: &str, schema: &Schema) -> AttrRef {
        let base = name.split(';').next().unwrap_or(name);
        match schema.attribute(base) {
            Some(at) => {
                let mut names: Vec<String> = at.names.clone();
                names.push(at.oid.clone());
                AttrRef {
                    names,
                    equality: at.equality,
                    ordering: at.ordering,
                    substrings: at.substrings,
                }
            }
            // A type the server does not know has no matching rules: a value assertion on it
            // is Undefined (RFC 4511 §4.5.1.7), so `(!(noSuchType=x))` matches nothing, as
            // on OpenLDAP; presence is still FALSE rather than Undefined.
            None => AttrRef {
                names: vec![base.to_string()],
                equality: None,
                ordering: None,
                substrings: None,
            },
        }
    }

    fn is(&self, attr_name: &str) -> bool {
        let base = attr_name.split(';').next().unwrap_or(attr_name);
        self.names.iter().any(|n| n.eq_ignore_ascii_case(base))
    }

    fn values<'a>(&'a self, entry: &'a Entry) -> impl Iterator<Item = &'a [u8]> + 'a {
        entry
            .attributes()
            .iter()
            .filter(|a| self.is(&a.name))
            .flat_map(|a| a.values.iter().map(Vec::as_slice))
    }
}

/// An extensible match's rule with its assertion value already in the rule's form, so that a
/// search normalises the value once rather than once for every value of every entry: a
/// 250 KB `(:caseIgnoreMatch:=…)` was case-folded tens of thousands of times.
#[derive(Debug, Clone)]
enum ExtMatcher {
    Rule(MatchingRule, Norm),
    /// Active Directory's LDAP_MATCHING_RULE_BIT_AND / _OR on integers.
    BitAnd(i64),
    BitOr(i64),
}

impl ExtMatcher {
    /// The rule named `rule` (else `attr`'s equality rule) with `assertion` in its form; `None`
    /// when there is no such rule or the value is not valid for it: the item is Undefined,
    /// whatever the entry (RFC 4511 §4.5.1.7).
    fn prepare(
        rule: Option<&str>,
        attr: Option<&AttrRef>,
        assertion: &str,
        schema: &Schema,
    ) -> Option<ExtMatcher> {
        let bits = || assertion.trim().parse::<i64>().ok();
        let rule = match rule {
            Some("1.2.840.113556.1.4.803") => return bits().map(ExtMatcher::BitAnd),
            Some("1.2.840.113556.1.4.804") => return bits().map(ExtMatcher::BitOr),
            Some(name) => MatchingRule::lookup(name)?,
            None => attr?.equality?,
        };
        let value = normalize(rule, assertion.as_bytes(), schema)?;
        Some(ExtMatcher::Rule(rule, value))
    }

    /// Whether a stored value matches; one the rule cannot read does not.
    fn matches(&self, value: &[u8], schema: &Schema) -> bool {
        let integer = || {
            std::str::from_utf8(value)
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
        };
        match self {
            ExtMatcher::Rule(rule, assertion) => {
                normalize(*rule, value, schema).as_ref() == Some(assertion)
            }
            ExtMatcher::BitAnd(a) => integer().is_some_and(|v| v & a == *a),
            ExtMatcher::BitOr(a) => integer().is_some_and(|v| v & a != 0),
        }
    }
}

#[derive(Debug, Clone)]
enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Constant(Truth),
    Present(AttrRef),
    Equal {
        attr: AttrRef,
        rule: MatchingRule,
        value: Norm,
    },
    Ordered {
        attr: AttrRef,
        rule: MatchingRule,
        value: Norm,
        greater: bool,
    },
    Substrings {
        attr: AttrRef,
        rule: MatchingRule,
        initial: Option<String>,
        any: Vec<String>,
        final_: Option<String>,
    },
    Approx {
        attr: AttrRef,
        rule: MatchingRule,
        value: Norm,
        key: String,
    },
    Extensible {
        /// Without a type, every attribute of the entry.
        attr: Option<AttrRef>,
        matcher: ExtMatcher,
        dn_attributes: bool,
    },
}

/// A compiled search filter.
#[derive(Debug, Clone)]
pub struct Filter {
    root: Node,
}

impl Filter {
    pub fn compile(filter: &LdapFilter, schema: &Schema) -> Filter {
        Filter {
            root: compile(filter, schema),
        }
    }

    /// The equality item `(attr=value)` for a value given as octets, which a filter's text
    /// cannot carry but a compare can (a certificate's DER).
    pub fn equality(attr: &str, value: &[u8], schema: &Schema) -> Filter {
        let attr = AttrRef::new(attr, schema);
        let root = match attr.equality {
            Some(rule) => match normalize(rule, value, schema) {
                Some(value) => Node::Equal { attr, rule, value },
                None => Node::Constant(Truth::Undefined),
            },
            None => Node::Constant(Truth::Undefined),
        };
        Filter { root }
    }

    /// True if the entry matches: the filter evaluates to TRUE.
    pub fn matches(&self, entry: &Entry, schema: &Schema) -> bool {
        self.evaluate(entry, schema) == Truth::True
    }

    pub fn evaluate(&self, entry: &Entry, schema: &Schema) -> Truth {
        eval(&self.root, entry, schema)
    }
}

fn compile(f: &LdapFilter, schema: &Schema) -> Node {
    use Truth::Undefined;
    let undefined = Node::Constant(Undefined);
    match f {
        LdapFilter::And(v) => Node::And(v.iter().map(|f| compile(f, schema)).collect()),
        LdapFilter::Or(v) => Node::Or(v.iter().map(|f| compile(f, schema)).collect()),
        LdapFilter::Not(f) => Node::Not(Box::new(compile(f, schema))),
        LdapFilter::Present(a) => {
            // Every entry has an object class, whatever the directory chose to return.
            if schema.canonical(a) == "objectclass" {
                Node::Constant(Truth::True)
            } else {
                Node::Present(AttrRef::new(a, schema))
            }
        }
        LdapFilter::Equality(a, v) => Filter::equality(a, v.as_bytes(), schema).root,
        LdapFilter::GreaterOrEqual(a, v) | LdapFilter::LessOrEqual(a, v) => {
            let attr = AttrRef::new(a, schema);
            let Some(rule) = attr.ordering else {
                return undefined;
            };
            match normalize(rule, v.as_bytes(), schema) {
                Some(value) => Node::Ordered {
                    attr,
                    rule,
                    value,
                    greater: matches!(f, LdapFilter::GreaterOrEqual(..)),
                },
                None => undefined,
            }
        }
        LdapFilter::Substring(
            a,
            LdapSubstringFilter {
                initial,
                any,
                final_,
            },
        ) => {
            let attr = AttrRef::new(a, schema);
            let Some(rule) = attr.substrings else {
                return undefined;
            };
            let norm = |s: &str| normalize_fragment(rule, s);
            let initial = match initial.as_deref().map(norm) {
                Some(None) => return undefined,
                other => other.flatten(),
            };
            let final_ = match final_.as_deref().map(norm) {
                Some(None) => return undefined,
                other => other.flatten(),
            };
            let Some(any) = any.iter().map(|s| norm(s)).collect::<Option<Vec<_>>>() else {
                return undefined;
            };
            Node::Substrings {
                attr,
                rule,
                initial,
                any,
                final_,
            }
        }
        LdapFilter::Approx(a, v) => {
            let attr = AttrRef::new(a, schema);
            let Some(rule) = attr.equality else {
                return undefined;
            };
            match normalize(rule, v.as_bytes(), schema) {
                Some(value) => Node::Approx {
                    attr,
                    rule,
                    key: approx_key(v),
                    value,
                },
                None => undefined,
            }
        }
        LdapFilter::Extensible(LdapMatchingRuleAssertion {
            matching_rule,
            type_,
            match_value,
            dn_attributes,
        }) => {
            let attr = type_.as_deref().map(|t| AttrRef::new(t, schema));
            match ExtMatcher::prepare(matching_rule.as_deref(), attr.as_ref(), match_value, schema)
            {
                Some(matcher) => Node::Extensible {
                    attr,
                    matcher,
                    dn_attributes: *dn_attributes,
                },
                None => undefined,
            }
        }
    }
}

fn any_value(attr: &AttrRef, entry: &Entry, mut pred: impl FnMut(&[u8]) -> Truth) -> Truth {
    let mut result = Truth::False;
    for v in attr.values(entry) {
        match pred(v) {
            Truth::True => return Truth::True,
            Truth::Undefined => result = Truth::Undefined,
            Truth::False => {}
        }
    }
    result
}

fn eval(node: &Node, entry: &Entry, schema: &Schema) -> Truth {
    match node {
        Node::Constant(t) => *t,
        Node::And(v) => {
            let mut result = Truth::True;
            for n in v {
                match eval(n, entry, schema) {
                    Truth::False => return Truth::False,
                    Truth::Undefined => result = Truth::Undefined,
                    Truth::True => {}
                }
            }
            result
        }
        Node::Or(v) => {
            let mut result = Truth::False;
            for n in v {
                match eval(n, entry, schema) {
                    Truth::True => return Truth::True,
                    Truth::Undefined => result = Truth::Undefined,
                    Truth::False => {}
                }
            }
            result
        }
        Node::Not(n) => eval(n, entry, schema).not(),
        Node::Present(attr) => Truth::from_bool(attr.values(entry).next().is_some()),
        Node::Equal { attr, rule, value } => any_value(attr, entry, |v| {
            // A stored value that is invalid for its syntax simply does not match.
            Truth::from_bool(normalize(*rule, v, schema).as_ref() == Some(value))
        }),
        Node::Ordered {
            attr,
            rule,
            value,
            greater,
        } => any_value(attr, entry, |v| {
            let Some(n) = normalize(*rule, v, schema) else {
                return Truth::False;
            };
            match n.partial_cmp(value) {
                Some(Ordering::Equal) => Truth::True,
                Some(Ordering::Greater) => Truth::from_bool(*greater),
                Some(Ordering::Less) => Truth::from_bool(!*greater),
                None => Truth::False,
            }
        }),
        Node::Substrings {
            attr,
            rule,
            initial,
            any,
            final_,
        } => any_value(attr, entry, |v| {
            let Some(s) = std::str::from_utf8(v)
                .ok()
                .and_then(|s| normalize_fragment(*rule, s.trim()))
            else {
                return Truth::False;
            };
            Truth::from_bool(substring_match(
                &s,
                initial.as_deref(),
                any,
                final_.as_deref(),
            ))
        }),
        Node::Approx {
            attr,
            rule,
            value,
            key,
        } => any_value(attr, entry, |v| {
            let n = normalize(*rule, v, schema);
            if n.as_ref() == Some(value) {
                return Truth::True;
            }
            let text = std::str::from_utf8(v).unwrap_or("");
            Truth::from_bool(!key.is_empty() && approx_key(text) == *key)
        }),
        Node::Extensible {
            attr,
            matcher,
            dn_attributes,
        } => Truth::from_bool(extensible_matches(
            attr.as_ref(),
            matcher,
            *dn_attributes,
            entry,
            schema,
        )),
    }
}

/// An extensible match whose assertion is valid for its rule is TRUE or FALSE, never
/// Undefined: a stored value the rule cannot read simply does not match.
fn extensible_matches(
    attr: Option<&AttrRef>,
    matcher: &ExtMatcher,
    dn_attributes: bool,
    entry: &Entry,
    schema: &Schema,
) -> bool {
    let found = match attr {
        Some(a) => a.values(entry).any(|v| matcher.matches(v, schema)),
        // No type: every attribute of the entry to which the rule applies.
        None => entry
            .attributes()
            .iter()
            .flat_map(|at| &at.values)
            .any(|v| matcher.matches(v, schema)),
    };
    found
        || (dn_attributes
            && entry.dn().rdns().iter().any(|rdn| {
                rdn.avas().iter().any(|ava| {
                    attr.is_none_or(|a| a.is(ava.attr()))
                        && matcher.matches(ava.value().as_bytes(), schema)
                })
            }))
}

fn substring_match(s: &str, initial: Option<&str>, any: &[String], final_: Option<&str>) -> bool {
    let mut rest = s;
    if let Some(i) = initial {
        match rest.strip_prefix(i) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    for a in any {
        // `find` first prepares a searcher over the whole fragment: for a fragment longer than
        // the value that would cost its full length for every value of every entry.
        if a.len() > rest.len() {
            return false;
        }
        match rest.find(a.as_str()) {
            Some(pos) => rest = &rest[pos + a.len()..],
            None => return false,
        }
    }
    match final_ {
        Some(f) => rest.ends_with(f),
        None => true,
    }
}

/// How a directory can find the candidates of a filter with its indexes. Every candidate is
/// still checked with [`Filter`], so a plan only has to be a superset of the matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Entries whose `attr` (canonical, lower-case) equals `value` (the raw assertion value; the
    /// directory applies its own index normalisation).
    Equal { attr: String, value: String },
    /// Intersection of the sub-plans.
    And(Vec<Plan>),
    /// Union of the sub-plans.
    Or(Vec<Plan>),
    /// No index helps: scan everything in scope.
    Scan,
}

impl Plan {
    /// Plans `filter` for a directory whose indexes cover the attributes for which `indexed`
    /// (given canonical lower-case names) returns true.
    pub fn new(filter: &LdapFilter, schema: &Schema, indexed: &dyn Fn(&str) -> bool) -> Plan {
        match filter {
            LdapFilter::Equality(a, v) => {
                let attr = schema.canonical(a);
                if indexed(&attr) {
                    Plan::Equal {
                        attr,
                        value: v.clone(),
                    }
                } else {
                    Plan::Scan
                }
            }
            LdapFilter::And(v) => {
                let mut parts: Vec<Plan> = v
                    .iter()
                    .map(|f| Plan::new(f, schema, indexed))
                    .filter(|p| *p != Plan::Scan)
                    .collect();
                match parts.len() {
                    0 => Plan::Scan,
                    1 => parts.remove(0),
                    _ => Plan::And(parts),
                }
            }
            LdapFilter::Or(v) => {
                let parts: Vec<Plan> = v.iter().map(|f| Plan::new(f, schema, indexed)).collect();
                if parts.is_empty() || parts.contains(&Plan::Scan) {
                    // `(|)` is absolute false, but a scan finding nothing is still correct.
                    Plan::Scan
                } else if parts.len() == 1 {
                    parts.into_iter().next().unwrap_or(Plan::Scan)
                } else {
                    Plan::Or(parts)
                }
            }
            _ => Plan::Scan,
        }
    }
}

/// Canonical lower-case names of the attributes a filter looks at, so that a directory can skip
/// computing attributes (such as `memberOf`) that neither the filter nor the selection needs.
pub fn referenced_attributes(filter: &LdapFilter, schema: &Schema) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    each_attribute(filter, &mut |a| {
        let c = a.map_or_else(|| "*".to_string(), |a| schema.canonical(a));
        if !out.contains(&c) {
            out.push(c);
        }
    });
    out
}

/// Calls `f` with every attribute description the filter names, once per use; `None` for an
/// extensible match without a type, which may match any attribute.
pub(crate) fn each_attribute(filter: &LdapFilter, f: &mut dyn FnMut(Option<&str>)) {
    match filter {
        LdapFilter::And(v) | LdapFilter::Or(v) => v.iter().for_each(|x| each_attribute(x, f)),
        LdapFilter::Not(x) => each_attribute(x, f),
        LdapFilter::Equality(a, _)
        | LdapFilter::Substring(a, _)
        | LdapFilter::GreaterOrEqual(a, _)
        | LdapFilter::LessOrEqual(a, _)
        | LdapFilter::Present(a)
        | LdapFilter::Approx(a, _) => f(Some(a)),
        LdapFilter::Extensible(m) => f(m.type_.as_deref()),
    }
}

/// Why a filter string (RFC 4515) does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterParseError {
    #[error("unexpected end of filter")]
    UnexpectedEnd,
    #[error("unexpected character {ch:?} at byte {at}")]
    Unexpected { ch: char, at: usize },
    #[error("invalid escape at byte {0}")]
    InvalidEscape(usize),
    #[error("invalid attribute description at byte {0}")]
    InvalidAttribute(usize),
    #[error("value is not valid UTF-8")]
    InvalidUtf8,
    #[error("trailing characters after the filter at byte {0}")]
    Trailing(usize),
    #[error("filter nested deeper than {MAX_NESTING} levels at byte {0}")]
    TooDeep(usize),
}

/// Deepest `&`, `|` and `!` nesting the string form may have: as deep as a filter that arrives
/// in BER can be (the decoder's limit), and shallow enough that parsing and compiling it never
/// threaten the stack.
pub const MAX_NESTING: usize = 64;

/// Parses the string form of a filter (RFC 4515), as `ldapsearch` takes it: values may hold
/// spaces, `=` and `\XX` escapes, which `ldap3_proto`'s own parser refuses.
pub fn parse_filter(s: &str) -> Result<LdapFilter, FilterParseError> {
    let mut p = FilterParser {
        s: s.trim().as_bytes(),
        pos: 0,
        depth: 0,
    };
    let f = if p.peek() == Some(b'(') {
        p.filter()?
    } else {
        // A bare item such as `uid=alice`, as many tools accept.
        p.item(None)?
    };
    if p.pos != p.s.len() {
        return Err(FilterParseError::Trailing(p.pos));
    }
    Ok(f)
}

struct FilterParser<'a> {
    s: &'a [u8],
    pos: usize,
    depth: usize,
}

impl FilterParser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), FilterParseError> {
        match self.peek() {
            Some(x) if x == c => {
                self.pos += 1;
                Ok(())
            }
            Some(x) => Err(FilterParseError::Unexpected {
                ch: x as char,
                at: self.pos,
            }),
            None => Err(FilterParseError::UnexpectedEnd),
        }
    }

    fn filter(&mut self) -> Result<LdapFilter, FilterParseError> {
        self.expect(b'(')?;
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(FilterParseError::TooDeep(self.pos));
        }
        let f = match self.peek() {
            Some(b'&') => {
                self.pos += 1;
                LdapFilter::And(self.list()?)
            }
            Some(b'|') => {
                self.pos += 1;
                LdapFilter::Or(self.list()?)
            }
            Some(b'!') => {
                self.pos += 1;
                LdapFilter::Not(Box::new(self.filter()?))
            }
            _ => self.item(Some(b')'))?,
        };
        self.expect(b')')?;
        self.depth -= 1;
        Ok(f)
    }

    fn list(&mut self) -> Result<Vec<LdapFilter>, FilterParseError> {
        let mut v = Vec::new();
        while self.peek() == Some(b'(') {
            v.push(self.filter()?);
        }
        Ok(v)
    }

    fn attr(&mut self) -> Result<String, FilterParseError> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b';'))
        {
            self.pos += 1;
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.pos]).into_owned())
    }

    fn item(&mut self, end: Option<u8>) -> Result<LdapFilter, FilterParseError> {
        let start = self.pos;
        let attr = self.attr()?;
        if self.peek() == Some(b':') {
            return self.extensible(attr, end);
        }
        if attr.is_empty() || !crate::dn::valid_type(attr.split(';').next().unwrap_or("")) {
            return Err(FilterParseError::InvalidAttribute(start));
        }
        let op = match (self.peek(), self.s.get(self.pos + 1).copied()) {
            (Some(b'~'), Some(b'=')) => b'~',
            (Some(b'>'), Some(b'=')) => b'>',
            (Some(b'<'), Some(b'=')) => b'<',
            (Some(b'='), _) => b'=',
            (Some(c), _) => {
                return Err(FilterParseError::Unexpected {
                    ch: c as char,
                    at: self.pos,
                });
            }
            (None, _) => return Err(FilterParseError::UnexpectedEnd),
        };
        self.pos += if op == b'=' { 1 } else { 2 };
        let parts = self.value(end, op == b'=')?;
        Ok(match op {
            b'~' => LdapFilter::Approx(attr, one(parts)),
            b'>' => LdapFilter::GreaterOrEqual(attr, one(parts)),
            b'<' => LdapFilter::LessOrEqual(attr, one(parts)),
            _ if parts.len() == 1 => LdapFilter::Equality(attr, one(parts)),
            _ if parts.len() == 2 && parts.iter().all(String::is_empty) => {
                LdapFilter::Present(attr)
            }
            _ => {
                let mut parts = parts;
                let final_ = parts.pop().filter(|s| !s.is_empty());
                let initial = Some(parts.remove(0)).filter(|s| !s.is_empty());
                let any = parts.into_iter().filter(|s| !s.is_empty()).collect();
                LdapFilter::Substring(
                    attr,
                    LdapSubstringFilter {
                        initial,
                        any,
                        final_,
                    },
                )
            }
        })
    }

    fn extensible(
        &mut self,
        attr: String,
        end: Option<u8>,
    ) -> Result<LdapFilter, FilterParseError> {
        let mut dn_attributes = false;
        let mut matching_rule = None;
        while self.peek() == Some(b':') {
            self.pos += 1;
            if self.peek() == Some(b'=') {
                self.pos += 1;
                let value = one(self.value(end, false)?);
                return Ok(LdapFilter::Extensible(LdapMatchingRuleAssertion {
                    matching_rule,
                    type_: Some(attr).filter(|a| !a.is_empty()),
                    match_value: value,
                    dn_attributes,
                }));
            }
            let at = self.pos;
            let word = self.attr()?;
            if word.eq_ignore_ascii_case("dn") && matching_rule.is_none() && !dn_attributes {
                dn_attributes = true;
            } else if !word.is_empty() && matching_rule.is_none() {
                matching_rule = Some(word);
            } else {
                return Err(FilterParseError::InvalidAttribute(at));
            }
        }
        match self.peek() {
            Some(c) => Err(FilterParseError::Unexpected {
                ch: c as char,
                at: self.pos,
            }),
            None => Err(FilterParseError::UnexpectedEnd),
        }
    }

    /// Reads an assertion value up to `end`, split at unescaped `*` when `stars` is set.
    fn value(&mut self, end: Option<u8>, stars: bool) -> Result<Vec<String>, FilterParseError> {
        let mut parts = Vec::new();
        let mut cur = Vec::new();
        loop {
            match self.peek() {
                None if end.is_none() => break,
                None => return Err(FilterParseError::UnexpectedEnd),
                Some(c) if Some(c) == end => break,
                Some(b'(') | Some(b')') => {
                    return Err(FilterParseError::Unexpected {
                        ch: self.s[self.pos] as char,
                        at: self.pos,
                    });
                }
                Some(b'*') if stars => {
                    parts.push(std::mem::take(&mut cur));
                    self.pos += 1;
                }
                Some(b'\\') => {
                    let at = self.pos;
                    let hex = self
                        .s
                        .get(self.pos + 1..self.pos + 3)
                        // Two hex digits exactly: `from_str_radix` alone would take `+1`.
                        .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                        .ok_or(FilterParseError::InvalidEscape(at))?;
                    cur.push(hex);
                    self.pos += 3;
                }
                Some(c) => {
                    cur.push(c);
                    self.pos += 1;
                }
            }
        }
        parts.push(cur);
        parts
            .into_iter()
            .map(|p| String::from_utf8(p).map_err(|_| FilterParseError::InvalidUtf8))
            .collect()
    }
}

fn one(mut parts: Vec<String>) -> String {
    parts.pop().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Entry {
        Entry::new(Dn::parse("uid=alice,ou=people,dc=example,dc=com").expect("dn"))
            .with("objectClass", ["top", "person", "inetOrgPerson"])
            .with("uid", ["alice"])
            .with("cn", ["Alice  Smith"])
            .with("sn", ["Smith"])
            .with("mail", ["Alice@Example.com"])
            .with("telephoneNumber", ["+1 555-0100"])
            .with("employeeNumber", ["42"])
            .with("x-level", ["7"])
            .with("manager", ["UID=Bob, OU=People,DC=example,DC=com"])
            .with("memberOf", ["cn=Admins,ou=roles,dc=example,dc=com"])
            .with("createTimestamp", ["20240102030405Z"])
            .with("entryUUID", ["0D9E6A3C-8B7E-4A53-9D4F-2F6C1C7E9A10"])
    }

    fn check(filter: &str) -> Truth {
        let s = schema();
        let f = parse_filter(filter).unwrap_or_else(|e| panic!("{filter}: {e:?}"));
        Filter::compile(&f, &s).evaluate(&alice(), &s)
    }

    fn schema() -> Schema {
        let mut s = Schema::standard();
        s.add_attribute_type(crate::schema::AttributeType::new(
            "1.3.6.1.4.1.99999.2",
            &["x-level"],
            crate::schema::syntax::INTEGER,
        ));
        s
    }

    fn yes(filter: &str) {
        assert_eq!(check(filter), Truth::True, "{filter} should match");
    }

    fn no(filter: &str) {
        assert_eq!(check(filter), Truth::False, "{filter} should not match");
    }

    fn undefined(filter: &str) {
        assert_eq!(
            check(filter),
            Truth::Undefined,
            "{filter} should be undefined"
        );
    }

    #[test]
    fn values_equal_follows_the_equality_rule() {
        let s = Schema::standard();
        assert!(values_equal(&s, "cn", b"Ann  Archer", b"ann archer"));
        assert!(values_equal(
            &s,
            "telephoneNumber",
            b"+1 555-0100",
            b"+15550100"
        ));
        assert!(values_equal(
            &s,
            "manager",
            b"UID=Ann,dc=x",
            b"uid=ann, dc=x"
        ));
        assert!(values_equal(&s, "objectClass", b"person", b"2.5.6.6"));
        assert!(values_equal(&s, "favouriteColour", b"Blue", b"blue"));
        assert!(!values_equal(&s, "userPassword", b"Secret", b"secret"));
        assert!(!values_equal(
            &s,
            "mail",
            b"a@example.com",
            b"b@example.com"
        ));
    }

    #[test]
    fn equality_uses_case_ignore_for_names() {
        yes("(uid=ALICE)");
        yes("(UID=alice)");
        yes("(userid=alice)");
        yes("(cn=alice smith)");
        yes("(commonName=ALICE SMITH)");
        yes("(mail=alice@example.COM)");
        no("(uid=bob)");
        // A type the schema does not know: Undefined, and so is its negation; presence FALSE.
        undefined("(nosuch=alice)");
        undefined("(!(nosuch=alice))");
        undefined("(nosuch=*ali*)");
        no("(nosuch=*)");
    }

    #[test]
    fn object_class_by_name_oid_and_presence() {
        yes("(objectClass=PERSON)");
        yes("(objectClass=2.5.6.6)");
        no("(objectClass=groupOfNames)");
        yes("(objectClass=*)");
        let s = schema();
        let bare = Entry::new(Dn::parse("cn=x").expect("dn"));
        let f = Filter::compile(&LdapFilter::Present("objectclass".into()), &s);
        assert!(f.matches(&bare, &s));
    }

    #[test]
    fn dn_attributes_compare_normalised_dns() {
        yes("(manager=uid=bob,ou=people,dc=example,dc=com)");
        yes("(memberOf=CN=admins, ou=Roles,dc=EXAMPLE,dc=com)");
        no("(memberOf=cn=users,ou=roles,dc=example,dc=com)");
        // Not a DN: undefined rather than false.
        undefined("(manager=not a dn)");
        // DN syntax has no substrings or ordering rule.
        undefined("(member=*bob*)");
        undefined("(manager>=a)");
    }

    #[test]
    fn substrings() {
        yes("(cn=Ali*)");
        yes("(cn=*smith)");
        yes("(cn=*ce s*)");
        yes("(cn=a*i*e*h)");
        yes("(cn=alice smith*)");
        no("(cn=*bob*)");
        no("(cn=a*smith*x)");
        // Fragments do not overlap.
        no("(sn=smi*ith)");
        yes("(telephoneNumber=*5550100)");
        yes("(mail=*@example.com)");
    }

    #[test]
    fn presence() {
        yes("(mail=*)");
        yes("(MAIL=*)");
        no("(description=*)");
        yes("(memberOf=*)");
    }

    #[test]
    fn integer_ordering() {
        yes("(employeeNumber=42)");
        yes("(x-level>=7)");
        yes("(x-level>=6)");
        no("(x-level>=10)");
        // Numeric, not lexicographic: "7" <= "10".
        yes("(x-level<=10)");
        undefined("(x-level>=ten)");
        // employeeNumber is a directory string: no ordering rule.
        undefined("(employeeNumber>=1)");
    }

    #[test]
    fn generalized_time_ordering() {
        yes("(createTimestamp>=20240101000000Z)");
        yes("(createTimestamp<=20240102030405Z)");
        yes("(createTimestamp=20240102040405+0100)");
        yes("(createTimestamp>=202401020304Z)");
        no("(createTimestamp>=20250101000000Z)");
        yes("(createTimestamp<=20240102030405.5Z)");
        no("(createTimestamp<=20240102030404.999Z)");
        undefined("(createTimestamp>=yesterday)");
        assert_eq!(parse_generalized_time("19700101000000Z"), Some((0, 0)));
        assert_eq!(
            parse_generalized_time("20000301000000Z"),
            Some((951868800, 0))
        );
        assert_eq!(parse_generalized_time("1970010100Z"), Some((0, 0)));
        assert_eq!(parse_generalized_time("1970010100.5Z"), Some((1800, 0)));
        assert_eq!(
            parse_generalized_time("19700101000000-0130"),
            Some((5400, 0))
        );
        assert_eq!(parse_generalized_time("19700101000000"), None);
        assert_eq!(parse_generalized_time("19701301000000Z"), None);
    }

    #[test]
    fn three_valued_logic() {
        // NOT of undefined stays undefined; AND with FALSE is FALSE; OR with TRUE is TRUE.
        undefined("(!(x-level>=ten))");
        no("(&(uid=bob)(x-level>=ten))");
        undefined("(&(uid=alice)(x-level>=ten))");
        yes("(|(uid=alice)(x-level>=ten))");
        undefined("(|(uid=bob)(x-level>=ten))");
        yes("(!(uid=bob))");
        no("(!(uid=alice))");
        yes("(&(objectClass=person)(|(uid=bob)(cn=alice*))(!(mail=bob*)))");
        // Absolute true and false (RFC 4526).
        assert_eq!(
            Filter::compile(&LdapFilter::And(vec![]), &schema()).evaluate(&alice(), &schema()),
            Truth::True
        );
        assert_eq!(
            Filter::compile(&LdapFilter::Or(vec![]), &schema()).evaluate(&alice(), &schema()),
            Truth::False
        );
    }

    #[test]
    fn approx() {
        yes("(cn~=alice smith)");
        yes("(sn~=Smyth)");
        yes("(cn~=Alise Smith)");
        no("(sn~=Jones)");
        // Numbers are not phonetic.
        no("(employeeNumber~=43)");
        yes("(employeeNumber~=42)");
    }

    #[test]
    fn telephone_and_uuid() {
        yes("(telephoneNumber=+15550100)");
        yes("(telephoneNumber=+1 555 0100)");
        yes("(entryUUID=0d9e6a3c-8b7e-4a53-9d4f-2f6c1c7e9a10)");
    }

    #[test]
    fn extensible_match() {
        yes("(cn:caseExactMatch:=Alice Smith)");
        no("(cn:caseExactMatch:=alice smith)");
        yes("(cn:2.5.13.2:=ALICE SMITH)");
        yes("(uid:=Alice)");
        // dnAttributes: the RDN values of the entry's DN take part.
        yes("(ou:dn:=people)");
        no("(ou=people)");
        yes("(:dn:caseIgnoreMatch:=Example)");
        yes("(:caseIgnoreMatch:=smith)");
        no("(:caseIgnoreMatch:=nobody)");
        undefined("(cn:1.2.3.4.5:=x)");
        yes("(x-level:1.2.840.113556.1.4.803:=3)");
        no("(x-level:1.2.840.113556.1.4.803:=8)");
        yes("(x-level:1.2.840.113556.1.4.804:=9)");
    }

    /// An entry whose values need RFC 4518's preparation: composed and decomposed accents,
    /// fullwidth letters, runs of spaces, a case-sensitive URI.
    fn rene() -> Entry {
        Entry::new(Dn::parse("uid=rene,ou=Staff,dc=example,dc=com").expect("dn"))
            .with("objectClass", ["inetOrgPerson"])
            .with("uid", ["rene"])
            .with("cn", ["René  Dupont"])
            .with("sn", ["Dupont"])
            .with("givenName", ["\u{ff32}\u{ff45}\u{ff4e}\u{ff45}"])
            .with("description", ["e\u{301}cole  Normale"])
            .with("labeledURI", ["http://Example.com/X"])
            .with("mobile", ["+33 6-12-34"])
            .with("x-level", ["12"])
            .with("modifyTimestamp", ["20240601120000Z"])
    }

    /// Every filter kind that prepares its assertion value once per search, with the answers
    /// the evaluator gave when it prepared it for every value instead.
    #[test]
    fn prepared_assertions_answer_as_per_value_preparation_did() {
        use Truth::{False as F, True as T, Undefined as U};
        let s = schema();
        let table: &[(&str, Truth)] = &[
            // Equality: case-folded, spaces collapsed, NFKC.
            ("(cn=rené dupont)", T),
            ("(cn=  RENÉ   DUPONT )", T),
            ("(cn=rene\\cc\\81 dupont)", T),
            ("(cn=rene dupont)", F),
            ("(givenName=rene)", T),
            ("(givenName=RENE)", T),
            ("(description=école normale)", T),
            ("(labeledURI=http://Example.com/X)", T),
            ("(labeledURI=http://example.com/x)", F),
            ("(mobile=+336 1234)", T),
            ("(x-level=12)", T),
            ("(x-level= 12 )", T),
            ("(modifyTimestamp=20240601140000+0200)", T),
            // Substrings: fragments prepared alike, end spaces kept.
            ("(cn=*É D*)", T),
            ("(cn=rené *)", T),
            ("(cn=*ené  dup*)", T),
            ("(cn=*ené  d)", F),
            ("(givenName=R*E)", T),
            ("(description=*COLE N*)", T),
            ("(labeledURI=*Example*)", T),
            ("(labeledURI=*example*)", F),
            ("(mobile=*6 12*)", T),
            ("(mobile=+3*4)", T),
            // Ordering.
            ("(x-level>=9)", T),
            ("(x-level<=9)", F),
            ("(x-level>=+12)", T),
            ("(modifyTimestamp>=20240601115959Z)", T),
            ("(modifyTimestamp<=2024060111Z)", F),
            // Approx: equality, else the sound of each word.
            ("(cn~=RENÉ DUPONT)", T),
            ("(cn~=rene dupond)", T),
            ("(sn~=Dupin)", F),
            ("(x-level~=12)", T),
            ("(x-level~=13)", F),
            // Extensible: by rule name or OID, with and without a type, on the DN's values.
            ("(cn:caseExactMatch:=René Dupont)", T),
            ("(cn:caseExactMatch:=rené dupont)", F),
            ("(cn:2.5.13.2:=RENÉ DUPONT)", T),
            ("(cn:=RENÉ DUPONT)", T),
            ("(givenName:caseIgnoreIA5Match:=rene)", T),
            ("(:caseIgnoreMatch:=RENE)", T),
            ("(:2.5.13.2:=école normale)", T),
            ("(:caseExactMatch:=rene)", T),
            ("(:caseExactMatch:=Rene)", F),
            ("(:caseIgnoreMatch:=nobody)", F),
            ("(labeledURI:caseIgnoreMatch:=HTTP://EXAMPLE.COM/X)", T),
            ("(labeledURI:=http://example.com/X)", F),
            ("(mobile:telephoneNumberMatch:=+33612 34)", T),
            ("(x-level:integerMatch:=12)", T),
            ("(x-level:1.2.840.113556.1.4.803:=4)", T),
            ("(x-level:1.2.840.113556.1.4.803:=5)", F),
            ("(x-level:1.2.840.113556.1.4.804:=5)", T),
            ("(:1.2.840.113556.1.4.804:=3)", F),
            ("(modifyTimestamp:generalizedTimeMatch:=202406011200Z)", T),
            ("(ou:dn:=STAFF)", T),
            ("(ou:=staff)", F),
            ("(:dn:caseIgnoreMatch:=staff)", T),
            ("(:dn:caseExactMatch:=staff)", F),
            ("(:dn:caseExactMatch:=Staff)", T),
            ("(uid:dn:caseExactMatch:=rene)", T),
            ("(sn:dn:=rene)", F),
            ("(cn:1.2.3.4:=x)", U),
            ("(nosuch:=x)", U),
        ];
        for (filter, expected) in table {
            let f = parse_filter(filter).unwrap_or_else(|e| panic!("{filter}: {e:?}"));
            let got = Filter::compile(&f, &s).evaluate(&rene(), &s);
            assert_eq!(got, *expected, "{filter}");
        }
    }

    /// RFC 4511 §4.5.1.7: an assertion value its attribute's syntax (or the named rule) cannot
    /// read is Undefined for every entry, those without the attribute too, so that NOT of it
    /// matches nothing.
    #[test]
    fn assertions_the_syntax_refuses_are_undefined_and_so_is_their_negation() {
        let s = schema();
        let bare = Entry::new(Dn::parse("cn=bare,dc=example,dc=com").expect("dn"))
            .with("objectClass", ["top"])
            .with("cn", ["bare"]);
        for filter in [
            "(entryUUID=notuuid)",
            "(entryUUID=0d9e6a3c8b7e4a539d4f2f6c1c7e9a10)",
            "(entryUUID={0d9e6a3c-8b7e-4a53-9d4f-2f6c1c7e9a10})",
            "(entryUUID=0d9e6a3c-8b7e-4a53-9d4f-2f6c1c7e9a1g)",
            "(entryUUID>=notuuid)",
            "(entryUUID~=notuuid)",
            "(entryUUID:=notuuid)",
            "(:uuidMatch:=notuuid)",
            "(createTimestamp=yesterday)",
            "(createTimestamp:=yesterday)",
            "(hasSubordinates=maybe)",
            "(hasSubordinates:booleanMatch:=maybe)",
            "(x-level=ten)",
            "(x-level:=ten)",
            "(:integerMatch:=ten)",
            "(x-level:1.2.840.113556.1.4.803:=ten)",
            "(:1.2.840.113556.1.4.804:=ten)",
            "(manager=junk)",
            "(manager:=junk)",
            "(:distinguishedNameMatch:=junk)",
            "(objectClass=not a class)",
            "(objectClass=1..2)",
            "(objectClass:=#person)",
        ] {
            let f = parse_filter(filter).unwrap_or_else(|e| panic!("{filter}: {e:?}"));
            let not = Filter::compile(&LdapFilter::Not(Box::new(f.clone())), &s);
            let f = Filter::compile(&f, &s);
            for entry in [alice(), bare.clone()] {
                assert_eq!(f.evaluate(&entry, &s), Truth::Undefined, "{filter}");
                assert_eq!(not.evaluate(&entry, &s), Truth::Undefined, "!{filter}");
            }
        }
        // Valid values that are not there: FALSE, so their negation matches.
        for filter in [
            "(entryUUID=00000000-0000-0000-0000-000000000000)",
            "(:integerMatch:=10)",
            "(objectClass=computer)",
            "(objectClass=1.2.3)",
            "(manager:=cn=nobody)",
        ] {
            let f = parse_filter(filter).unwrap_or_else(|e| panic!("{filter}: {e:?}"));
            let f = Filter::compile(&f, &s);
            assert_eq!(f.evaluate(&alice(), &s), Truth::False, "{filter}");
        }
        yes("(entryUUID=0D9E6A3C-8B7E-4A53-9D4F-2F6C1C7E9A10)");
        yes("(entryUUID>=0d9e6a3c-0000-0000-0000-000000000000)");
        yes("(objectClass=inetOrgPerson)");
    }

    #[test]
    fn invalid_stored_values_do_not_match() {
        let s = schema();
        let e = Entry::new(Dn::parse("cn=x").expect("dn")).with("createTimestamp", ["bad"]);
        let f = Filter::compile(
            &LdapFilter::GreaterOrEqual("createTimestamp".into(), "19700101000000Z".into()),
            &s,
        );
        assert_eq!(f.evaluate(&e, &s), Truth::False);
    }

    #[test]
    fn filter_strings_parse_per_rfc4515() {
        use LdapFilter::*;
        let p = |s: &str| parse_filter(s);
        assert_eq!(p("(cn=a b=c)"), Ok(Equality("cn".into(), "a b=c".into())));
        assert_eq!(p("uid=x"), Ok(Equality("uid".into(), "x".into())));
        assert_eq!(
            p(r"(cn=a\2a\29\5c)"),
            Ok(Equality("cn".into(), r"a*)\".into()))
        );
        assert_eq!(
            p(r"(cn=Ren\c3\a9)"),
            Ok(Equality("cn".into(), "René".into()))
        );
        assert_eq!(p("(mail=*)"), Ok(Present("mail".into())));
        // An escape is two hex digits, never a signed number.
        assert_eq!(p(r"(cn=\+1)"), Err(FilterParseError::InvalidEscape(4)));
        assert_eq!(p(r"(cn=\-1)"), Err(FilterParseError::InvalidEscape(4)));
        // Nesting is bounded, so a hostile string cannot exhaust the stack, closed or not.
        let nested = |n: usize| format!("{}(a=1){}", "(&".repeat(n), ")".repeat(n));
        assert!(p(&nested(MAX_NESTING - 1)).is_ok());
        assert!(matches!(
            p(&nested(MAX_NESTING)),
            Err(FilterParseError::TooDeep(_))
        ));
        assert!(matches!(
            p(&"(&".repeat(5000)),
            Err(FilterParseError::TooDeep(_))
        ));
        assert!(matches!(
            p(&"(!".repeat(5000)),
            Err(FilterParseError::TooDeep(_))
        ));
        assert_eq!(
            p("(cn=a*b**c*)"),
            Ok(Substring(
                "cn".into(),
                LdapSubstringFilter {
                    initial: Some("a".into()),
                    any: vec!["b".into(), "c".into()],
                    final_: None
                }
            ))
        );
        assert_eq!(p("(n>=5)"), Ok(GreaterOrEqual("n".into(), "5".into())));
        assert_eq!(p("(n<=5)"), Ok(LessOrEqual("n".into(), "5".into())));
        assert_eq!(p("(n~=5)"), Ok(Approx("n".into(), "5".into())));
        assert_eq!(p("(&)"), Ok(And(vec![])));
        assert_eq!(
            p("(|(a=1)(!(b=2)))"),
            Ok(Or(vec![
                Equality("a".into(), "1".into()),
                Not(Box::new(Equality("b".into(), "2".into())))
            ]))
        );
        assert_eq!(
            p("(cn:dn:2.5.13.5:=X)"),
            Ok(Extensible(LdapMatchingRuleAssertion {
                matching_rule: Some("2.5.13.5".into()),
                type_: Some("cn".into()),
                match_value: "X".into(),
                dn_attributes: true
            }))
        );
        assert_eq!(
            p("(:caseIgnoreMatch:=x)"),
            Ok(Extensible(LdapMatchingRuleAssertion {
                matching_rule: Some("caseIgnoreMatch".into()),
                type_: None,
                match_value: "x".into(),
                dn_attributes: false
            }))
        );
        for bad in [
            "(cn=a",
            "(cn=a)(x=1)",
            "(=a)",
            "(cn=a(b)",
            r"(cn=\zz)",
            "(cn:=a",
            r"(cn=\ff)",
            "(&(a=1)",
            "(cn!a)",
        ] {
            assert!(p(bad).is_err(), "{bad:?} must not parse");
        }
    }

    #[test]
    fn soundex_codes() {
        assert_eq!(soundex("Robert"), "r163");
        assert_eq!(soundex("Rupert"), "r163");
        assert_eq!(soundex("Ashcraft"), "a261");
        assert_eq!(soundex("Tymczak"), "t522");
        assert_eq!(soundex(""), "");
    }

    #[test]
    fn plans_use_indexes_under_and_or() {
        let s = schema();
        let idx = |a: &str| a == "uid" || a == "mail" || a == "member";
        let p = |f: &str| Plan::new(&parse_filter(f).expect("filter"), &s, &idx);
        assert_eq!(
            p("(UserID=Alice)"),
            Plan::Equal {
                attr: "uid".into(),
                value: "Alice".into()
            }
        );
        assert_eq!(p("(cn=alice)"), Plan::Scan);
        assert_eq!(
            p("(&(objectClass=person)(uid=a))"),
            Plan::Equal {
                attr: "uid".into(),
                value: "a".into()
            }
        );
        assert_eq!(
            p("(|(uid=a)(mail=b))"),
            Plan::Or(vec![
                Plan::Equal {
                    attr: "uid".into(),
                    value: "a".into()
                },
                Plan::Equal {
                    attr: "mail".into(),
                    value: "b".into()
                }
            ])
        );
        assert_eq!(p("(|(uid=a)(cn=b))"), Plan::Scan);
        assert_eq!(p("(!(uid=a))"), Plan::Scan);
        assert!(matches!(p("(&(uid=a)(mail=b))"), Plan::And(v) if v.len() == 2));
    }

    #[test]
    fn referenced_attributes_are_canonical() {
        let s = schema();
        let f = parse_filter("(&(commonName=a)(|(memberOf=x)(CN=b))(!(uid=*)))").expect("filter");
        assert_eq!(referenced_attributes(&f, &s), ["cn", "memberof", "uid"]);
    }
}
