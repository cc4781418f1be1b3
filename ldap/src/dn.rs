//! Distinguished names (RFC 4514).
//!
//! Clients write the same DN many ways (`UID=Alice, ou=People,dc=example,dc=com`, `uid=alice,...`,
//! hex escapes): every comparison in the server goes through the normalised form so that they all
//! name one entry. Values are normalised with caseIgnoreMatch rules (trimmed, inner spaces
//! collapsed, lower-cased), which is what the naming attributes of a directory (`uid`, `cn`, `ou`,
//! `o`, `dc`) use.

use std::fmt;
use std::hash::{Hash, Hasher};

/// Why a string is not a DN; answered to clients as invalidDNSyntax (34).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnError {
    #[error("empty attribute type at byte {0}")]
    EmptyType(usize),
    #[error("invalid attribute type {0:?}")]
    InvalidType(String),
    #[error("missing '=' after attribute type at byte {0}")]
    MissingEquals(usize),
    #[error("invalid escape sequence at byte {0}")]
    InvalidEscape(usize),
    #[error("unescaped special character {ch:?} at byte {at}")]
    UnescapedSpecial { ch: char, at: usize },
    #[error("unterminated quoted value")]
    UnterminatedQuote,
    #[error("invalid hex value at byte {0}")]
    InvalidHex(usize),
    #[error("value is not valid UTF-8")]
    InvalidUtf8,
    #[error("empty relative distinguished name at byte {0}")]
    EmptyRdn(usize),
}

/// One `type=value` pair of an RDN.
#[derive(Debug, Clone)]
pub struct Ava {
    attr: String,
    value: String,
}

impl Ava {
    pub fn attr(&self) -> &str {
        &self.attr
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    fn normalized(&self) -> String {
        let mut s = self.attr.to_ascii_lowercase();
        s.push('=');
        escape_into(&normalize_value(&self.value), &mut s);
        s
    }
}

/// A relative distinguished name: one or more AVAs joined by `+`.
#[derive(Debug, Clone)]
pub struct Rdn {
    avas: Vec<Ava>,
    norm: String,
}

impl Rdn {
    pub fn new(attr: impl Into<String>, value: impl Into<String>) -> Rdn {
        Rdn::from_avas(vec![Ava {
            attr: attr.into(),
            value: value.into(),
        }])
    }

    fn from_avas(avas: Vec<Ava>) -> Rdn {
        let mut parts: Vec<String> = avas.iter().map(Ava::normalized).collect();
        // Multi-valued RDNs are unordered sets: `cn=a+sn=b` and `sn=b+cn=a` are one name.
        parts.sort();
        Rdn {
            avas,
            norm: parts.join("+"),
        }
    }

    /// Parses a single RDN such as the `newrdn` of a ModifyDN request.
    pub fn parse(s: &str) -> Result<Rdn, DnError> {
        let dn = Dn::parse(s)?;
        match <[Rdn; 1]>::try_from(dn.rdns) {
            Ok([rdn]) => Ok(rdn),
            Err(_) => Err(DnError::EmptyRdn(0)),
        }
    }

    pub fn avas(&self) -> &[Ava] {
        &self.avas
    }

    /// The value of `attr` in this RDN, compared case-insensitively on the type.
    pub fn get(&self, attr: &str) -> Option<&str> {
        self.avas
            .iter()
            .find(|a| a.attr.eq_ignore_ascii_case(attr))
            .map(|a| a.value.as_str())
    }

    pub fn normalized(&self) -> &str {
        &self.norm
    }
}

impl PartialEq for Rdn {
    fn eq(&self, other: &Self) -> bool {
        self.norm == other.norm
    }
}
impl Eq for Rdn {}

impl fmt::Display for Rdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        for (i, ava) in self.avas.iter().enumerate() {
            if i > 0 {
                s.push('+');
            }
            s.push_str(&ava.attr);
            s.push('=');
            escape_into(&ava.value, &mut s);
        }
        f.write_str(&s)
    }
}

/// A distinguished name, leaf RDN first. Equality and hashing use the normalised form.
#[derive(Debug, Clone)]
pub struct Dn {
    rdns: Vec<Rdn>,
    norm: String,
}

impl Dn {
    /// The empty DN: the root DSE.
    pub fn root() -> Dn {
        Dn {
            rdns: Vec::new(),
            norm: String::new(),
        }
    }

    pub fn from_rdns(rdns: Vec<Rdn>) -> Dn {
        let norm = rdns
            .iter()
            .map(Rdn::normalized)
            .collect::<Vec<_>>()
            .join(",");
        Dn { rdns, norm }
    }

    pub fn parse(s: &str) -> Result<Dn, DnError> {
        Parser::new(s).dn()
    }

    pub fn is_root(&self) -> bool {
        self.rdns.is_empty()
    }

    pub fn rdns(&self) -> &[Rdn] {
        &self.rdns
    }

    /// The leftmost RDN, naming the entry within its parent.
    pub fn rdn(&self) -> Option<&Rdn> {
        self.rdns.first()
    }

    pub fn parent(&self) -> Option<Dn> {
        if self.rdns.is_empty() {
            None
        } else {
            Some(Dn::from_rdns(self.rdns[1..].to_vec()))
        }
    }

    /// This DN with `rdn` prepended.
    pub fn child(&self, rdn: Rdn) -> Dn {
        let mut rdns = Vec::with_capacity(self.rdns.len() + 1);
        rdns.push(rdn);
        rdns.extend(self.rdns.iter().cloned());
        Dn::from_rdns(rdns)
    }

    pub fn depth(&self) -> usize {
        self.rdns.len()
    }

    /// Canonical string: lower-case types, normalised and escaped values, no spaces.
    /// Suitable as a map key.
    pub fn normalized(&self) -> &str {
        &self.norm
    }

    /// True if this DN is `base` or below it.
    pub fn is_within(&self, base: &Dn) -> bool {
        let n = base.rdns.len();
        self.rdns.len() >= n && self.rdns[self.rdns.len() - n..] == base.rdns[..]
    }

    /// True if this DN is strictly below `base`.
    pub fn is_descendant_of(&self, base: &Dn) -> bool {
        self.rdns.len() > base.rdns.len() && self.is_within(base)
    }

    /// True if this DN is exactly one level below `parent`.
    pub fn is_child_of(&self, parent: &Dn) -> bool {
        self.rdns.len() == parent.rdns.len() + 1 && self.is_within(parent)
    }
}

impl PartialEq for Dn {
    fn eq(&self, other: &Self) -> bool {
        self.norm == other.norm
    }
}
impl Eq for Dn {}

impl Hash for Dn {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.norm.hash(state);
    }
}

impl fmt::Display for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rdn) in self.rdns.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{rdn}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Dn {
    type Err = DnError;
    fn from_str(s: &str) -> Result<Dn, DnError> {
        Dn::parse(s)
    }
}

/// caseIgnoreMatch preparation (RFC 4518, simplified): insignificant spaces removed, case folded.
pub fn normalize_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for word in v.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        for c in word.chars() {
            out.extend(c.to_lowercase());
        }
    }
    compatibility_folded(out)
}

/// RFC 4518 §2.3: after case folding, a string is put in NFKC, so a fullwidth `Ａ` or a
/// decomposed `e\u{301}` match `a` and `é` as they do in the directory's names. ASCII, the
/// common case, is already in that form.
pub fn compatibility_folded(s: String) -> String {
    use unicode_normalization::UnicodeNormalization;
    if s.is_ascii() { s } else { s.nfkc().collect() }
}

/// Escapes an attribute value for use in a DN string (RFC 4514 §2.4).
pub fn escape_value(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    escape_into(v, &mut s);
    s
}

fn escape_into(v: &str, out: &mut String) {
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            _ => out.push(c),
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(s: &'a str) -> Self {
        Parser {
            s: s.as_bytes(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    fn dn(mut self) -> Result<Dn, DnError> {
        self.skip_spaces();
        if self.peek().is_none() {
            return Ok(Dn::root());
        }
        let mut rdns = Vec::new();
        loop {
            rdns.push(self.rdn()?);
            match self.peek() {
                None => break,
                // `;` is the RFC 1779 separator some old clients still send.
                Some(b',' | b';') => {
                    self.pos += 1;
                    self.skip_spaces();
                    if self.peek().is_none() {
                        return Err(DnError::EmptyRdn(self.pos));
                    }
                }
                Some(c) => {
                    return Err(DnError::UnescapedSpecial {
                        ch: c as char,
                        at: self.pos,
                    });
                }
            }
        }
        Ok(Dn::from_rdns(rdns))
    }

    fn rdn(&mut self) -> Result<Rdn, DnError> {
        let mut avas = vec![self.ava()?];
        while self.peek() == Some(b'+') {
            self.pos += 1;
            avas.push(self.ava()?);
        }
        Ok(Rdn::from_avas(avas))
    }

    fn ava(&mut self) -> Result<Ava, DnError> {
        self.skip_spaces();
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'_' {
                self.pos += 1;
            } else {
                break;
            }
        }
        if self.pos == start {
            return Err(DnError::EmptyType(start));
        }
        let attr = std::str::from_utf8(&self.s[start..self.pos])
            .map_err(|_| DnError::InvalidUtf8)?
            .to_string();
        if !valid_type(&attr) {
            return Err(DnError::InvalidType(attr));
        }
        self.skip_spaces();
        if self.peek() != Some(b'=') {
            return Err(DnError::MissingEquals(self.pos));
        }
        self.pos += 1;
        self.skip_spaces();
        let value = self.value()?;
        Ok(Ava { attr, value })
    }

    fn value(&mut self) -> Result<String, DnError> {
        match self.peek() {
            Some(b'#') => self.hex_value(),
            Some(b'"') => self.quoted_value(),
            _ => self.string_value(),
        }
    }

    fn hex_value(&mut self) -> Result<String, DnError> {
        // A BER-encoded value: kept in its textual `#hex` form, which is stable and comparable.
        let start = self.pos;
        self.pos += 1;
        while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
            self.pos += 1;
        }
        let len = self.pos - start - 1;
        if len == 0 || !len.is_multiple_of(2) {
            return Err(DnError::InvalidHex(start));
        }
        let v = String::from_utf8_lossy(&self.s[start..self.pos]).to_ascii_lowercase();
        self.skip_spaces();
        Ok(v)
    }

    fn quoted_value(&mut self) -> Result<String, DnError> {
        self.pos += 1;
        let mut bytes = Vec::new();
        loop {
            match self.peek() {
                None => return Err(DnError::UnterminatedQuote),
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => bytes.push(self.escape()?),
                Some(c) => {
                    bytes.push(c);
                    self.pos += 1;
                }
            }
        }
        self.skip_spaces();
        String::from_utf8(bytes).map_err(|_| DnError::InvalidUtf8)
    }

    fn string_value(&mut self) -> Result<String, DnError> {
        let mut bytes = Vec::new();
        // Length of `bytes` up to the last character that was escaped or not a space: trailing
        // unescaped spaces are insignificant.
        let mut keep = 0;
        while let Some(c) = self.peek() {
            match c {
                b',' | b';' | b'+' => break,
                b'\\' => {
                    bytes.push(self.escape()?);
                    keep = bytes.len();
                }
                b'"' | b'<' | b'>' | 0 => {
                    return Err(DnError::UnescapedSpecial {
                        ch: c as char,
                        at: self.pos,
                    });
                }
                _ => {
                    bytes.push(c);
                    self.pos += 1;
                    if c != b' ' {
                        keep = bytes.len();
                    }
                }
            }
        }
        bytes.truncate(keep);
        String::from_utf8(bytes).map_err(|_| DnError::InvalidUtf8)
    }

    /// One escape: `\` followed by a special character or two hex digits (one byte of UTF-8).
    fn escape(&mut self) -> Result<u8, DnError> {
        let at = self.pos;
        self.pos += 1;
        let Some(c) = self.peek() else {
            return Err(DnError::InvalidEscape(at));
        };
        if c.is_ascii_hexdigit() {
            let hi = hex_digit(c);
            let lo = self
                .s
                .get(self.pos + 1)
                .copied()
                .filter(u8::is_ascii_hexdigit)
                .map(hex_digit)
                .ok_or(DnError::InvalidEscape(at))?;
            self.pos += 2;
            return Ok(hi << 4 | lo);
        }
        if matches!(
            c,
            b' ' | b'"' | b'#' | b'+' | b',' | b';' | b'<' | b'=' | b'>' | b'\\'
        ) {
            self.pos += 1;
            return Ok(c);
        }
        Err(DnError::InvalidEscape(at))
    }
}

fn hex_digit(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

/// A descriptor (`cn`, `x-foo`) or a numeric OID (`2.5.4.3`).
pub(crate) fn valid_type(t: &str) -> bool {
    let b = t.as_bytes();
    if b.is_empty() {
        return false;
    }
    if b[0].is_ascii_digit() {
        return t
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()));
    }
    b[0].is_ascii_alphabetic() && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dn(s: &str) -> Dn {
        Dn::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn values_fold_case_and_compatibility_forms() {
        assert_eq!(normalize_value("  John   SMITH "), "john smith");
        assert_eq!(normalize_value("\u{FF2A}ohn"), "john");
        assert_eq!(normalize_value("E\u{301}mile"), "\u{e9}mile");
        assert_eq!(
            dn("uid=\u{FF2A}o,ou=People,dc=example,dc=com").normalized(),
            dn("UID=jo,ou=people,dc=EXAMPLE,dc=com").normalized()
        );
    }

    #[test]
    fn case_and_spaces_do_not_change_identity() {
        let a = dn("UID=Alice Smith, OU=People,dc=Example,dc=COM");
        let b = dn("uid=alice   smith,ou=people,dc=example,dc=com");
        assert_eq!(a, b);
        assert_eq!(
            a.normalized(),
            "uid=alice smith,ou=people,dc=example,dc=com"
        );
        assert_eq!(a.depth(), 4);
        // Display keeps what the client wrote, minus insignificant spaces.
        assert_eq!(a.to_string(), "UID=Alice Smith,OU=People,dc=Example,dc=COM");
    }

    #[test]
    fn escaped_comma_stays_inside_the_value() {
        let d = dn(r"uid=a\,b,ou=people,dc=example,dc=com");
        assert_eq!(d.depth(), 4);
        assert_eq!(d.rdn().and_then(|r| r.get("UID")), Some("a,b"));
        assert_eq!(d, dn(r"uid=a\2Cb,ou=people,dc=example,dc=com"));
        assert_eq!(d.to_string(), r"uid=a\,b,ou=people,dc=example,dc=com");
        assert_eq!(d.parent(), Some(dn("ou=people,dc=example,dc=com")));
    }

    #[test]
    fn hex_escapes_decode_utf8() {
        let d = dn(r"cn=Ren\C3\A9,dc=example");
        assert_eq!(d.rdn().and_then(|r| r.get("cn")), Some("René"));
        assert_eq!(d, dn("cn=rené,dc=example"));
        assert_eq!(Dn::parse(r"cn=\C3,dc=x"), Err(DnError::InvalidUtf8));
    }

    #[test]
    fn escaped_spaces_and_specials_round_trip() {
        let d = dn(r"cn=\ lead\ \#x\+y\;z\<\>\=\\\\ ,dc=x");
        let v = d.rdn().and_then(|r| r.get("cn")).map(str::to_string);
        assert_eq!(v.as_deref(), Some(r" lead #x+y;z<>=\\"));
        assert_eq!(Dn::parse(&d.to_string()).ok(), Some(d.clone()));
        let t = dn(r"cn=x\ ,dc=x");
        assert_eq!(t.rdn().and_then(|r| r.get("cn")), Some("x "));
        let leading_hash = dn(r"cn=\#1,dc=x");
        assert_eq!(leading_hash.to_string(), r"cn=\#1,dc=x");
    }

    #[test]
    fn multi_valued_rdn_is_unordered() {
        assert_eq!(dn("cn=a+sn=b,dc=x"), dn("SN=B + cn=A,dc=x"));
        assert_ne!(dn("cn=a+sn=b,dc=x"), dn("cn=a,dc=x"));
        assert_eq!(dn("cn=a+sn=b,dc=x").rdn().map(|r| r.avas().len()), Some(2));
    }

    #[test]
    fn quoted_and_hex_values() {
        assert_eq!(
            dn(r#"cn="a,b",dc=x"#).rdn().and_then(|r| r.get("cn")),
            Some("a,b")
        );
        assert_eq!(dn("cn=#04024869,dc=x"), dn("CN=#04024869,DC=x"));
        assert!(matches!(
            Dn::parse("cn=#0,dc=x"),
            Err(DnError::InvalidHex(_))
        ));
    }

    #[test]
    fn root_and_hierarchy() {
        let root = dn("");
        assert!(root.is_root());
        assert_eq!(dn("  "), root);
        let base = dn("dc=example,dc=com");
        let child = dn("ou=people,dc=example,dc=com");
        let grandchild = dn("uid=a,ou=people,dc=example,dc=com");
        assert!(child.is_child_of(&base));
        assert!(!grandchild.is_child_of(&base));
        assert!(grandchild.is_descendant_of(&base));
        assert!(base.is_within(&base));
        assert!(!base.is_descendant_of(&base));
        assert!(grandchild.is_within(&root));
        assert!(!dn("dc=example,dc=org").is_within(&base));
        // A suffix of the string is not a suffix of the name.
        assert!(!dn("dc=xexample,dc=com").is_within(&base));
        assert_eq!(base.child(Rdn::new("ou", "people")), child);
        assert_eq!(root.parent(), None);
    }

    #[test]
    fn malformed_dns_are_rejected() {
        for bad in [
            "uid",
            "=x",
            "uid=a,",
            "uid=a,,dc=x",
            "uid=a\\",
            "uid=a\\zz",
            "uid=a<b",
            "1uid=x",
            "1..2=x",
            "cn=\"open",
            "u_d=x",
        ] {
            assert!(Dn::parse(bad).is_err(), "{bad:?} must not parse");
        }
        assert!(Dn::parse("2.5.4.3=x").is_ok());
    }

    #[test]
    fn equals_sign_is_allowed_in_values() {
        assert_eq!(
            dn("cn=a=b,dc=x").rdn().and_then(|r| r.get("cn")),
            Some("a=b")
        );
    }

    #[test]
    fn rdn_parse_accepts_exactly_one() {
        assert_eq!(
            Rdn::parse("uid=bob").ok().as_ref().map(Rdn::normalized),
            Some("uid=bob")
        );
        assert!(Rdn::parse("uid=bob,dc=x").is_err());
        assert!(Rdn::parse("").is_err());
    }

    #[test]
    fn escape_value_covers_specials() {
        assert_eq!(escape_value(" a,b+c "), r"\ a\,b\+c\ ");
        assert_eq!(escape_value("#x"), r"\#x");
        assert_eq!(escape_value("x#"), "x#");
    }
}
