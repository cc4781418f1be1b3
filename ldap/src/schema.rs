//! Attribute types and object classes: what the filter evaluator needs to pick a matching rule,
//! what attribute selection needs to tell user from operational attributes, and the text of the
//! subschema entry (RFC 4512 §4.2) that clients read to discover both. Also the root DSE builder.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::dn::Dn;
use crate::entry::Entry;

/// Matching rules the evaluator implements. One value serves as equality, ordering or
/// substrings rule; [`AttributeType`] says which roles an attribute has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchingRule {
    CaseIgnore,
    CaseExact,
    /// Values are DNs compared in normalised form.
    DistinguishedName,
    Integer,
    GeneralizedTime,
    OctetString,
    Boolean,
    /// Case-insensitive, ignoring spaces and hyphens.
    TelephoneNumber,
    /// Object class or attribute names and OIDs, case-insensitive.
    ObjectIdentifier,
    /// Ignores spaces.
    NumericString,
    Uuid,
    /// RFC 4523 certificateExactMatch: a certificate is its issuer and serial number, so that
    /// a filter can name one in text (a CertificateExactAssertion) when its DER cannot travel.
    CertificateExact,
}

impl MatchingRule {
    /// Name of the rule in the given role, as RFC 4517 spells it.
    pub fn name(self, role: Role) -> Option<&'static str> {
        use MatchingRule::*;
        Some(match (self, role) {
            (CaseIgnore, Role::Equality) => "caseIgnoreMatch",
            (CaseIgnore, Role::Ordering) => "caseIgnoreOrderingMatch",
            (CaseIgnore, Role::Substrings) => "caseIgnoreSubstringsMatch",
            (CaseExact, Role::Equality) => "caseExactMatch",
            (CaseExact, Role::Ordering) => "caseExactOrderingMatch",
            (CaseExact, Role::Substrings) => "caseExactSubstringsMatch",
            (DistinguishedName, Role::Equality) => "distinguishedNameMatch",
            (Integer, Role::Equality) => "integerMatch",
            (Integer, Role::Ordering) => "integerOrderingMatch",
            (GeneralizedTime, Role::Equality) => "generalizedTimeMatch",
            (GeneralizedTime, Role::Ordering) => "generalizedTimeOrderingMatch",
            (OctetString, Role::Equality) => "octetStringMatch",
            (OctetString, Role::Ordering) => "octetStringOrderingMatch",
            (Boolean, Role::Equality) => "booleanMatch",
            (TelephoneNumber, Role::Equality) => "telephoneNumberMatch",
            (TelephoneNumber, Role::Substrings) => "telephoneNumberSubstringsMatch",
            (ObjectIdentifier, Role::Equality) => "objectIdentifierMatch",
            (NumericString, Role::Equality) => "numericStringMatch",
            (NumericString, Role::Ordering) => "numericStringOrderingMatch",
            (NumericString, Role::Substrings) => "numericStringSubstringsMatch",
            (Uuid, Role::Equality) => "UUIDMatch",
            (Uuid, Role::Ordering) => "UUIDOrderingMatch",
            (CertificateExact, Role::Equality) => "certificateExactMatch",
            _ => return None,
        })
    }

    /// The rule named by an extensible filter (`(cn:caseExactMatch:=Bob)`), by name or OID.
    pub fn lookup(name_or_oid: &str) -> Option<MatchingRule> {
        use MatchingRule::*;
        let n = name_or_oid.to_ascii_lowercase();
        Some(match n.as_str() {
            "caseignorematch"
            | "2.5.13.2"
            | "caseignoreia5match"
            | "1.3.6.1.4.1.1466.109.114.2" => CaseIgnore,
            "caseexactmatch" | "2.5.13.5" | "caseexactia5match" | "1.3.6.1.4.1.1466.109.114.1" => {
                CaseExact
            }
            "distinguishednamematch" | "2.5.13.1" => DistinguishedName,
            "integermatch" | "2.5.13.14" => Integer,
            "generalizedtimematch" | "2.5.13.27" => GeneralizedTime,
            "octetstringmatch" | "2.5.13.17" => OctetString,
            "booleanmatch" | "2.5.13.13" => Boolean,
            "telephonenumbermatch" | "2.5.13.20" => TelephoneNumber,
            "objectidentifiermatch" | "2.5.13.0" => ObjectIdentifier,
            "numericstringmatch" | "2.5.13.8" => NumericString,
            "uuidmatch" | "1.3.6.1.1.16.2" => Uuid,
            "certificateexactmatch" | "2.5.13.34" => CertificateExact,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Equality,
    Ordering,
    Substrings,
}

/// RFC 4512 attribute usage: anything but `UserApplications` is operational, returned only when
/// asked for by name or with `+`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    UserApplications,
    DirectoryOperation,
    DistributedOperation,
    DsaOperation,
}

impl Usage {
    fn keyword(self) -> &'static str {
        match self {
            Usage::UserApplications => "userApplications",
            Usage::DirectoryOperation => "directoryOperation",
            Usage::DistributedOperation => "distributedOperation",
            Usage::DsaOperation => "dSAOperation",
        }
    }
}

/// Well-known LDAP syntax OIDs (RFC 4517).
pub mod syntax {
    pub const DIRECTORY_STRING: &str = "1.3.6.1.4.1.1466.115.121.1.15";
    pub const IA5_STRING: &str = "1.3.6.1.4.1.1466.115.121.1.26";
    pub const DN: &str = "1.3.6.1.4.1.1466.115.121.1.12";
    pub const INTEGER: &str = "1.3.6.1.4.1.1466.115.121.1.27";
    pub const GENERALIZED_TIME: &str = "1.3.6.1.4.1.1466.115.121.1.24";
    pub const OCTET_STRING: &str = "1.3.6.1.4.1.1466.115.121.1.40";
    pub const BOOLEAN: &str = "1.3.6.1.4.1.1466.115.121.1.7";
    pub const OID: &str = "1.3.6.1.4.1.1466.115.121.1.38";
    pub const TELEPHONE_NUMBER: &str = "1.3.6.1.4.1.1466.115.121.1.50";
    pub const FACSIMILE_TELEPHONE_NUMBER: &str = "1.3.6.1.4.1.1466.115.121.1.22";
    pub const NUMERIC_STRING: &str = "1.3.6.1.4.1.1466.115.121.1.36";
    pub const UUID: &str = "1.3.6.1.1.16.1";
    /// RFC 4523 §2.1: an X.509 certificate, in DER.
    pub const CERTIFICATE: &str = "1.3.6.1.4.1.1466.115.121.1.8";
    pub const ATTRIBUTE_TYPE_DESCRIPTION: &str = "1.3.6.1.4.1.1466.115.121.1.3";
    pub const OBJECT_CLASS_DESCRIPTION: &str = "1.3.6.1.4.1.1466.115.121.1.37";

    /// A value of RFC 4517 §3.3.16's Integer syntax: digits with an optional leading `-`, no
    /// `+`, no leading zeros, no spaces (`0`, `-12`; not `007`, `+5`, `-0`). Written values are
    /// held to it, so that what is stored reads back as it was written; filter assertions are
    /// read leniently (`+12`, ` 12 `), which can only find what the client meant.
    pub fn integer<T: std::str::FromStr>(value: &str) -> Option<T> {
        if is_integer(value) {
            value.parse().ok()
        } else {
            None
        }
    }

    /// Whether `value` is written as [`integer`] reads it, whatever its size: the syntax has
    /// no bound, a server's storage does.
    pub fn is_integer(value: &str) -> bool {
        let digits = value.strip_prefix('-').unwrap_or(value);
        match digits.as_bytes() {
            [] => false,
            [b'0'] => digits.len() == value.len(),
            [first, rest @ ..] => {
                (b'1'..=b'9').contains(first) && rest.iter().all(u8::is_ascii_digit)
            }
        }
    }

    /// RFC 4523's Certificate, CertificateList and CertificatePair: values that have no
    /// LDAP-specific encoding and travel only with the `;binary` option (RFC 4522).
    pub fn requires_binary_transfer(syntax: &str) -> bool {
        matches!(
            syntax,
            CERTIFICATE | "1.3.6.1.4.1.1466.115.121.1.9" | "1.3.6.1.4.1.1466.115.121.1.10"
        )
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn integers_are_read_in_their_one_canonical_form() {
            for (text, read) in [
                ("0", Some(0)),
                ("-12", Some(-12)),
                ("9223372036854775807", Some(i64::MAX)),
            ] {
                assert_eq!(super::integer::<i64>(text), read, "{text}");
            }
            for text in [
                "",
                "-",
                "007",
                "+5",
                "-0",
                " 5",
                "5 ",
                "1e3",
                "9223372036854775808",
                "--1",
            ] {
                assert_eq!(super::integer::<i64>(text), None, "{text:?}");
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct AttributeType {
    pub oid: String,
    /// First name is the canonical one.
    pub names: Vec<String>,
    pub description: Option<String>,
    pub equality: Option<MatchingRule>,
    pub ordering: Option<MatchingRule>,
    pub substrings: Option<MatchingRule>,
    pub syntax: String,
    pub single_value: bool,
    pub no_user_modification: bool,
    pub usage: Usage,
}

impl AttributeType {
    /// A user attribute with the matching rules that usually go with `syntax`.
    pub fn new(oid: &str, names: &[&str], syntax: &str) -> AttributeType {
        use MatchingRule::*;
        let (equality, ordering, substrings) = match syntax {
            syntax::DIRECTORY_STRING => (Some(CaseIgnore), None, Some(CaseIgnore)),
            syntax::IA5_STRING => (Some(CaseIgnore), None, Some(CaseIgnore)),
            syntax::DN => (Some(DistinguishedName), None, None),
            syntax::INTEGER => (Some(Integer), Some(Integer), None),
            syntax::GENERALIZED_TIME => (Some(GeneralizedTime), Some(GeneralizedTime), None),
            syntax::BOOLEAN => (Some(Boolean), None, None),
            syntax::OID => (Some(ObjectIdentifier), None, None),
            syntax::TELEPHONE_NUMBER => (Some(TelephoneNumber), None, Some(TelephoneNumber)),
            syntax::NUMERIC_STRING => (
                Some(NumericString),
                Some(NumericString),
                Some(NumericString),
            ),
            syntax::UUID => (Some(Uuid), Some(Uuid), None),
            syntax::CERTIFICATE => (Some(CertificateExact), None, None),
            _ => (Some(OctetString), Some(OctetString), None),
        };
        AttributeType {
            oid: oid.to_string(),
            names: names.iter().map(|s| s.to_string()).collect(),
            description: None,
            equality,
            ordering,
            substrings,
            syntax: syntax.to_string(),
            single_value: false,
            no_user_modification: false,
            usage: Usage::UserApplications,
        }
    }

    pub fn single_value(mut self) -> Self {
        self.single_value = true;
        self
    }

    /// Maintained by the server: operational, not writable by clients.
    pub fn operational(mut self, usage: Usage) -> Self {
        self.usage = usage;
        self.no_user_modification = true;
        self
    }

    pub fn description(mut self, d: &str) -> Self {
        self.description = Some(d.to_string());
        self
    }

    pub fn equality(mut self, rule: Option<MatchingRule>) -> Self {
        self.equality = rule;
        self
    }

    pub fn ordering(mut self, rule: Option<MatchingRule>) -> Self {
        self.ordering = rule;
        self
    }

    pub fn substrings(mut self, rule: Option<MatchingRule>) -> Self {
        self.substrings = rule;
        self
    }

    pub fn name(&self) -> &str {
        self.names.first().map(String::as_str).unwrap_or(&self.oid)
    }

    pub fn is_operational(&self) -> bool {
        self.usage != Usage::UserApplications
    }

    pub fn requires_binary_transfer(&self) -> bool {
        syntax::requires_binary_transfer(&self.syntax)
    }

    /// The RFC 4512 AttributeTypeDescription published in the subschema entry.
    pub fn to_description(&self) -> String {
        let mut s = format!("( {}", self.oid);
        push_names(&mut s, &self.names);
        if let Some(d) = &self.description {
            let _ = write!(s, " DESC '{}'", quote_escape(d));
        }
        for (rule, role, kw) in [
            (self.equality, Role::Equality, "EQUALITY"),
            (self.ordering, Role::Ordering, "ORDERING"),
            (self.substrings, Role::Substrings, "SUBSTR"),
        ] {
            if let Some(name) = rule.and_then(|r| r.name(role)) {
                let _ = write!(s, " {kw} {name}");
            }
        }
        let _ = write!(s, " SYNTAX {}", self.syntax);
        if self.single_value {
            s.push_str(" SINGLE-VALUE");
        }
        if self.no_user_modification {
            s.push_str(" NO-USER-MODIFICATION");
        }
        if self.usage != Usage::UserApplications {
            let _ = write!(s, " USAGE {}", self.usage.keyword());
        }
        s.push_str(" )");
        s
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassKind {
    Abstract,
    Structural,
    Auxiliary,
}

#[derive(Debug, Clone)]
pub struct ObjectClass {
    pub oid: String,
    pub names: Vec<String>,
    pub description: Option<String>,
    pub superiors: Vec<String>,
    pub kind: ClassKind,
    pub must: Vec<String>,
    pub may: Vec<String>,
}

impl ObjectClass {
    pub fn new(oid: &str, name: &str, kind: ClassKind) -> ObjectClass {
        ObjectClass {
            oid: oid.to_string(),
            names: vec![name.to_string()],
            description: None,
            superiors: Vec::new(),
            kind,
            must: Vec::new(),
            may: Vec::new(),
        }
    }

    pub fn sup(mut self, sup: &str) -> Self {
        self.superiors.push(sup.to_string());
        self
    }

    pub fn must(mut self, attrs: &[&str]) -> Self {
        self.must.extend(attrs.iter().map(|s| s.to_string()));
        self
    }

    pub fn may(mut self, attrs: &[&str]) -> Self {
        self.may.extend(attrs.iter().map(|s| s.to_string()));
        self
    }

    pub fn description(mut self, d: &str) -> Self {
        self.description = Some(d.to_string());
        self
    }

    pub fn name(&self) -> &str {
        self.names.first().map(String::as_str).unwrap_or(&self.oid)
    }

    /// The RFC 4512 ObjectClassDescription published in the subschema entry.
    pub fn to_description(&self) -> String {
        let mut s = format!("( {}", self.oid);
        push_names(&mut s, &self.names);
        if let Some(d) = &self.description {
            let _ = write!(s, " DESC '{}'", quote_escape(d));
        }
        push_oids(&mut s, "SUP", &self.superiors);
        s.push_str(match self.kind {
            ClassKind::Abstract => " ABSTRACT",
            ClassKind::Structural => " STRUCTURAL",
            ClassKind::Auxiliary => " AUXILIARY",
        });
        push_oids(&mut s, "MUST", &self.must);
        push_oids(&mut s, "MAY", &self.may);
        s.push_str(" )");
        s
    }
}

fn push_names(s: &mut String, names: &[String]) {
    match names {
        [] => {}
        [one] => {
            let _ = write!(s, " NAME '{one}'");
        }
        many => {
            s.push_str(" NAME (");
            for n in many {
                let _ = write!(s, " '{n}'");
            }
            s.push_str(" )");
        }
    }
}

fn push_oids(s: &mut String, kw: &str, oids: &[String]) {
    match oids {
        [] => {}
        [one] => {
            let _ = write!(s, " {kw} {one}");
        }
        many => {
            let _ = write!(s, " {kw} ( {} )", many.join(" $ "));
        }
    }
}

/// RFC 4512 qdstring escaping: `'` and `\` as hex escapes.
fn quote_escape(d: &str) -> String {
    d.replace('\\', "\\5C").replace('\'', "\\27")
}

/// The attribute types and object classes a server knows. A filter's value assertion on a type
/// it does not know is Undefined (RFC 4511 §4.5.1.7), so a directory describes every attribute
/// its entries carry that clients may filter on.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    attributes: Vec<AttributeType>,
    classes: Vec<ObjectClass>,
    attr_index: HashMap<String, usize>,
    class_index: HashMap<String, usize>,
}

impl Schema {
    pub fn empty() -> Schema {
        Schema::default()
    }

    /// The core, cosine, inetOrgPerson, groupOfNames and operational definitions a user
    /// directory returns.
    pub fn standard() -> Schema {
        let mut s = Schema::empty();
        for at in standard_attribute_types() {
            s.add_attribute_type(at);
        }
        for oc in standard_object_classes() {
            s.add_object_class(oc);
        }
        s
    }

    /// Adds or replaces (by OID) an attribute type.
    pub fn add_attribute_type(&mut self, at: AttributeType) {
        let idx = match self.attributes.iter().position(|a| a.oid == at.oid) {
            Some(i) => {
                self.attributes[i] = at;
                i
            }
            None => {
                self.attributes.push(at);
                self.attributes.len() - 1
            }
        };
        let at = &self.attributes[idx];
        self.attr_index.insert(at.oid.to_ascii_lowercase(), idx);
        for n in &at.names {
            self.attr_index.insert(n.to_ascii_lowercase(), idx);
        }
    }

    /// Adds or replaces (by OID) an object class.
    pub fn add_object_class(&mut self, oc: ObjectClass) {
        let idx = match self.classes.iter().position(|c| c.oid == oc.oid) {
            Some(i) => {
                self.classes[i] = oc;
                i
            }
            None => {
                self.classes.push(oc);
                self.classes.len() - 1
            }
        };
        let oc = &self.classes[idx];
        self.class_index.insert(oc.oid.to_ascii_lowercase(), idx);
        for n in &oc.names {
            self.class_index.insert(n.to_ascii_lowercase(), idx);
        }
    }

    /// The attribute type named `name` (any of its names or its OID, any case, options such as
    /// `;lang-en` ignored).
    pub fn attribute(&self, name: &str) -> Option<&AttributeType> {
        let base = name.split(';').next().unwrap_or(name);
        self.attr_index
            .get(&base.to_ascii_lowercase())
            .map(|&i| &self.attributes[i])
    }

    pub fn object_class(&self, name: &str) -> Option<&ObjectClass> {
        self.class_index
            .get(&name.to_ascii_lowercase())
            .map(|&i| &self.classes[i])
    }

    pub fn attribute_types(&self) -> &[AttributeType] {
        &self.attributes
    }

    pub fn object_classes(&self) -> &[ObjectClass] {
        &self.classes
    }

    /// Lower-case canonical name of an attribute: aliases and OIDs of known types collapse to
    /// one spelling, unknown names are only lower-cased.
    pub fn canonical(&self, name: &str) -> String {
        let base = name.split(';').next().unwrap_or(name);
        match self.attribute(base) {
            Some(at) => at.name().to_ascii_lowercase(),
            None => base.to_ascii_lowercase(),
        }
    }

    /// True if two attribute names denote the same type.
    pub fn same_attribute(&self, a: &str, b: &str) -> bool {
        let (a, b) = (
            a.split(';').next().unwrap_or(a),
            b.split(';').next().unwrap_or(b),
        );
        a.eq_ignore_ascii_case(b) || self.canonical(a) == self.canonical(b)
    }

    pub fn is_operational(&self, name: &str) -> bool {
        self.attribute(name)
            .is_some_and(AttributeType::is_operational)
    }

    /// Normalised form of an object class value: its OID when known, so that `person` and
    /// `2.5.6.6` are equal.
    pub fn normalize_oid_value(&self, v: &str) -> String {
        let t = v.trim();
        if let Some(oc) = self.object_class(t) {
            return oc.oid.clone();
        }
        if let Some(at) = self.attribute(t) {
            return at.oid.clone();
        }
        t.to_ascii_lowercase()
    }

    /// The subschema subentry (RFC 4512 §4.2) at `dn`.
    pub fn subschema_entry(&self, dn: &Dn) -> Entry {
        let cn = dn
            .rdn()
            .and_then(|r| r.get("cn"))
            .unwrap_or("subschema")
            .to_string();
        Entry::new(dn.clone())
            .with(
                "objectClass",
                ["top", "subentry", "subschema", "extensibleObject"],
            )
            .with("cn", [cn])
            .with("structuralObjectClass", ["subentry"])
            .with(
                "attributeTypes",
                self.attributes.iter().map(AttributeType::to_description),
            )
            .with(
                "objectClasses",
                self.classes.iter().map(ObjectClass::to_description),
            )
    }
}

fn standard_attribute_types() -> Vec<AttributeType> {
    use MatchingRule::*;
    use syntax::*;
    let ds = DIRECTORY_STRING;
    let op = |oid: &str, name: &str, syn: &str, usage: Usage| {
        AttributeType::new(oid, &[name], syn).operational(usage)
    };
    vec![
        AttributeType::new("2.5.4.0", &["objectClass"], OID),
        AttributeType::new("2.5.4.3", &["cn", "commonName"], ds),
        AttributeType::new("2.5.4.4", &["sn", "surname"], ds),
        AttributeType::new("2.5.4.5", &["serialNumber"], ds),
        AttributeType::new("2.5.4.6", &["c", "countryName"], ds).single_value(),
        AttributeType::new("2.5.4.7", &["l", "localityName"], ds),
        AttributeType::new("2.5.4.8", &["st", "stateOrProvinceName"], ds),
        AttributeType::new("2.5.4.9", &["street", "streetAddress"], ds),
        AttributeType::new("2.5.4.10", &["o", "organizationName"], ds),
        AttributeType::new("2.5.4.11", &["ou", "organizationalUnitName"], ds),
        AttributeType::new("2.5.4.12", &["title"], ds),
        AttributeType::new("2.5.4.13", &["description"], ds),
        AttributeType::new("2.5.4.16", &["postalAddress"], ds),
        AttributeType::new("2.5.4.17", &["postalCode"], ds),
        AttributeType::new("2.5.4.20", &["telephoneNumber"], TELEPHONE_NUMBER),
        // As OpenLDAP's core schema: a fax number's syntax (RFC 4517 §3.3.11) has no
        // matching rule.
        AttributeType::new(
            "2.5.4.23",
            &["facsimileTelephoneNumber"],
            syntax::FACSIMILE_TELEPHONE_NUMBER,
        )
        .equality(None)
        .ordering(None),
        AttributeType::new("2.5.4.31", &["member"], DN),
        AttributeType::new("2.5.4.32", &["owner"], DN),
        AttributeType::new("2.5.4.34", &["seeAlso"], DN),
        AttributeType::new("2.5.4.35", &["userPassword"], OCTET_STRING).ordering(None),
        AttributeType::new("2.5.4.36", &["userCertificate"], CERTIFICATE)
            .description("X.509 user certificate"),
        AttributeType::new("2.5.4.41", &["name"], ds),
        AttributeType::new("2.5.4.42", &["givenName", "gn"], ds),
        AttributeType::new("2.5.4.43", &["initials"], ds),
        AttributeType::new("2.5.4.50", &["uniqueMember"], DN),
        AttributeType::new("0.9.2342.19200300.100.1.1", &["uid", "userid"], ds),
        AttributeType::new(
            "0.9.2342.19200300.100.1.3",
            &["mail", "rfc822Mailbox"],
            IA5_STRING,
        ),
        AttributeType::new("0.9.2342.19200300.100.1.10", &["manager"], DN),
        AttributeType::new(
            "0.9.2342.19200300.100.1.25",
            &["dc", "domainComponent"],
            IA5_STRING,
        )
        .single_value(),
        AttributeType::new(
            "0.9.2342.19200300.100.1.20",
            &["homePhone", "homeTelephoneNumber"],
            TELEPHONE_NUMBER,
        ),
        AttributeType::new("0.9.2342.19200300.100.1.41", &["mobile"], TELEPHONE_NUMBER),
        AttributeType::new(
            "0.9.2342.19200300.100.1.42",
            &["pager", "pagerTelephoneNumber"],
            TELEPHONE_NUMBER,
        ),
        // RFC 2079, as OpenLDAP's core schema defines it: the URI is case-sensitive.
        AttributeType::new("1.3.6.1.4.1.250.1.57", &["labeledURI"], ds)
            .description("RFC2079: Uniform Resource Identifier with optional label")
            .equality(Some(CaseExact))
            .substrings(Some(CaseExact)),
        AttributeType::new("2.16.840.1.113730.3.1.2", &["departmentNumber"], ds),
        AttributeType::new("2.16.840.1.113730.3.1.3", &["employeeNumber"], ds).single_value(),
        AttributeType::new("2.16.840.1.113730.3.1.4", &["employeeType"], ds),
        AttributeType::new("2.16.840.1.113730.3.1.39", &["preferredLanguage"], ds).single_value(),
        AttributeType::new("2.16.840.1.113730.3.1.241", &["displayName"], ds).single_value(),
        op(
            "2.5.18.1",
            "createTimestamp",
            GENERALIZED_TIME,
            Usage::DirectoryOperation,
        )
        .single_value(),
        op(
            "2.5.18.2",
            "modifyTimestamp",
            GENERALIZED_TIME,
            Usage::DirectoryOperation,
        )
        .single_value(),
        op("2.5.18.3", "creatorsName", DN, Usage::DirectoryOperation).single_value(),
        op("2.5.18.4", "modifiersName", DN, Usage::DirectoryOperation).single_value(),
        op(
            "2.5.18.9",
            "hasSubordinates",
            BOOLEAN,
            Usage::DirectoryOperation,
        )
        .single_value(),
        op(
            "2.5.18.10",
            "subschemaSubentry",
            DN,
            Usage::DirectoryOperation,
        )
        .single_value(),
        op(
            "2.5.21.9",
            "structuralObjectClass",
            OID,
            Usage::DirectoryOperation,
        )
        .single_value(),
        op(
            "1.3.6.1.1.16.4",
            "entryUUID",
            UUID,
            Usage::DirectoryOperation,
        )
        .single_value(),
        op("1.3.6.1.1.20", "entryDN", DN, Usage::DirectoryOperation).single_value(),
        // The last successful bind, as OpenLDAP's lastbind overlay names it.
        op(
            "1.3.6.1.4.1.453.16.2.188",
            "authTimestamp",
            GENERALIZED_TIME,
            Usage::DsaOperation,
        )
        .single_value(),
        // The password policy's (draft-behera-ldap-password-policy §5.3).
        op(
            "1.3.6.1.4.1.42.2.27.8.1.16",
            "pwdChangedTime",
            GENERALIZED_TIME,
            Usage::DirectoryOperation,
        )
        .single_value(),
        op(
            "1.3.6.1.4.1.42.2.27.8.1.17",
            "pwdAccountLockedTime",
            GENERALIZED_TIME,
            Usage::DirectoryOperation,
        )
        .single_value(),
        op(
            "1.2.840.113556.1.2.102",
            "memberOf",
            DN,
            Usage::DsaOperation,
        ),
        op(
            "2.5.21.5",
            "attributeTypes",
            ATTRIBUTE_TYPE_DESCRIPTION,
            Usage::DirectoryOperation,
        )
        .equality(Some(ObjectIdentifier)),
        op(
            "2.5.21.6",
            "objectClasses",
            OBJECT_CLASS_DESCRIPTION,
            Usage::DirectoryOperation,
        )
        .equality(Some(ObjectIdentifier)),
        op(
            "1.3.6.1.4.1.1466.101.120.5",
            "namingContexts",
            DN,
            Usage::DsaOperation,
        ),
        op(
            "1.3.6.1.4.1.1466.101.120.7",
            "supportedExtension",
            OID,
            Usage::DsaOperation,
        ),
        op(
            "1.3.6.1.4.1.1466.101.120.13",
            "supportedControl",
            OID,
            Usage::DsaOperation,
        ),
        op(
            "1.3.6.1.4.1.1466.101.120.14",
            "supportedSASLMechanisms",
            ds,
            Usage::DsaOperation,
        ),
        op(
            "1.3.6.1.4.1.1466.101.120.15",
            "supportedLDAPVersion",
            INTEGER,
            Usage::DsaOperation,
        ),
        op(
            "1.3.6.1.4.1.4203.1.3.5",
            "supportedFeatures",
            OID,
            Usage::DsaOperation,
        ),
        op("1.3.6.1.1.4", "vendorName", ds, Usage::DsaOperation).single_value(),
        op("1.3.6.1.1.5", "vendorVersion", ds, Usage::DsaOperation).single_value(),
    ]
}

fn standard_object_classes() -> Vec<ObjectClass> {
    use ClassKind::*;
    vec![
        ObjectClass::new("2.5.6.0", "top", Abstract).must(&["objectClass"]),
        ObjectClass::new("2.5.6.4", "organization", Structural)
            .sup("top")
            .must(&["o"])
            .may(&["description", "l", "postalAddress", "telephoneNumber"]),
        ObjectClass::new("2.5.6.5", "organizationalUnit", Structural)
            .sup("top")
            .must(&["ou"])
            .may(&["description", "l", "postalAddress", "telephoneNumber"]),
        ObjectClass::new("2.5.6.6", "person", Structural)
            .sup("top")
            .must(&["sn", "cn"])
            .may(&["userPassword", "telephoneNumber", "seeAlso", "description"]),
        ObjectClass::new("2.5.6.7", "organizationalPerson", Structural)
            .sup("person")
            .may(&[
                "title",
                "ou",
                "l",
                "st",
                "street",
                "postalAddress",
                "postalCode",
                "facsimileTelephoneNumber",
            ]),
        ObjectClass::new("2.16.840.1.113730.3.2.2", "inetOrgPerson", Structural)
            .sup("organizationalPerson")
            .may(&[
                "departmentNumber",
                "displayName",
                "employeeNumber",
                "employeeType",
                "givenName",
                "homePhone",
                "initials",
                "labeledURI",
                "mail",
                "manager",
                "mobile",
                "o",
                "pager",
                "preferredLanguage",
                "uid",
                "userCertificate",
            ]),
        ObjectClass::new("2.5.6.9", "groupOfNames", Structural)
            .sup("top")
            .must(&["cn"])
            .may(&[
                "member",
                "businessCategory",
                "seeAlso",
                "owner",
                "ou",
                "o",
                "description",
            ]),
        ObjectClass::new("1.3.6.1.4.1.1466.344", "dcObject", Auxiliary)
            .sup("top")
            .must(&["dc"]),
        ObjectClass::new("2.5.20.1", "subschema", Auxiliary)
            .may(&["attributeTypes", "objectClasses"]),
        ObjectClass::new(
            "1.3.6.1.4.1.1466.101.120.111",
            "extensibleObject",
            Auxiliary,
        )
        .sup("top"),
    ]
}

/// What the root DSE says about the server beyond what the crate itself implements.
#[derive(Debug, Clone)]
pub struct RootDse {
    pub naming_contexts: Vec<Dn>,
    pub vendor_name: String,
    pub vendor_version: String,
    pub subschema: Dn,
    /// Any further attributes, e.g. `altServer`.
    pub extra: Vec<(String, Vec<String>)>,
}

impl RootDse {
    pub fn new(naming_contexts: Vec<Dn>, vendor_name: &str, vendor_version: &str) -> RootDse {
        RootDse {
            naming_contexts,
            vendor_name: vendor_name.to_string(),
            vendor_version: vendor_version.to_string(),
            subschema: default_subschema_dn(),
            extra: Vec::new(),
        }
    }

    /// The root DSE entry, advertising exactly the controls, extensions and SASL mechanisms
    /// given (the server passes what it implements).
    pub fn entry(&self, controls: &[&str], extensions: &[&str], sasl: &[&str]) -> Entry {
        let mut e = Entry::new(Dn::root())
            .with("objectClass", ["top", "extensibleObject"])
            .with(
                "namingContexts",
                self.naming_contexts.iter().map(|d| d.to_string()),
            )
            .with("supportedLDAPVersion", ["3"])
            .with("supportedControl", controls.iter().copied())
            .with("supportedExtension", extensions.iter().copied())
            .with("supportedSASLMechanisms", sasl.iter().copied())
            .with(
                "supportedFeatures",
                [
                    // All operational attributes (`+`), RFC 3673.
                    "1.3.6.1.4.1.4203.1.5.1",
                    // absolute true and false filters, RFC 4526.
                    "1.3.6.1.4.1.4203.1.5.3",
                ],
            )
            .with("vendorName", [self.vendor_name.as_str()])
            .with("vendorVersion", [self.vendor_version.as_str()])
            .with("subschemaSubentry", [self.subschema.to_string()]);
        for (k, v) in &self.extra {
            e = e.with(k, v.iter().map(String::as_str));
        }
        e
    }
}

pub fn default_subschema_dn() -> Dn {
    Dn::from_rdns(vec![crate::dn::Rdn::new("cn", "Subschema")])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_are_case_insensitive_and_follow_aliases() {
        let s = Schema::standard();
        assert_eq!(
            s.attribute("COMMONNAME").map(|a| a.oid.as_str()),
            Some("2.5.4.3")
        );
        assert_eq!(s.attribute("2.5.4.3").map(|a| a.name()), Some("cn"));
        assert_eq!(s.attribute("cn;lang-en").map(|a| a.name()), Some("cn"));
        assert_eq!(s.canonical("Surname"), "sn");
        assert_eq!(s.canonical("X-Unknown"), "x-unknown");
        assert!(s.same_attribute("userid", "UID"));
        assert!(!s.same_attribute("uid", "cn"));
        assert!(s.is_operational("memberof"));
        assert!(s.is_operational("createTimestamp"));
        assert!(!s.is_operational("mail"));
        assert!(!s.is_operational("no-such-attr"));
        assert_eq!(s.normalize_oid_value("Person"), "2.5.6.6");
        assert_eq!(s.normalize_oid_value(" 2.5.6.6 "), "2.5.6.6");
    }

    #[test]
    fn descriptions_follow_rfc4512() {
        let s = Schema::standard();
        let cn = s.attribute("cn").map(AttributeType::to_description);
        assert_eq!(
            cn.as_deref(),
            Some(
                "( 2.5.4.3 NAME ( 'cn' 'commonName' ) EQUALITY caseIgnoreMatch \
                 SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )"
            )
        );
        let ct = s
            .attribute("createTimestamp")
            .map(AttributeType::to_description);
        assert_eq!(
            ct.as_deref(),
            Some(
                "( 2.5.18.1 NAME 'createTimestamp' EQUALITY generalizedTimeMatch \
                 ORDERING generalizedTimeOrderingMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.24 \
                 SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )"
            )
        );
        let gon = s
            .object_class("groupofnames")
            .map(ObjectClass::to_description);
        assert_eq!(
            gon.as_deref(),
            Some(
                "( 2.5.6.9 NAME 'groupOfNames' SUP top STRUCTURAL MUST cn \
                 MAY ( member $ businessCategory $ seeAlso $ owner $ ou $ o $ description ) )"
            )
        );
        let quoted = ObjectClass::new("1.2.3", "x", ClassKind::Auxiliary)
            .description("it's")
            .to_description();
        assert_eq!(quoted, "( 1.2.3 NAME 'x' DESC 'it\\27s' AUXILIARY )");
    }

    #[test]
    fn custom_definitions_replace_by_oid() {
        let mut s = Schema::standard();
        s.add_attribute_type(
            AttributeType::new(
                "1.3.6.1.4.1.99999.1",
                &["licenseType"],
                syntax::DIRECTORY_STRING,
            )
            .single_value(),
        );
        assert!(s.attribute("licensetype").is_some_and(|a| a.single_value));
        let n = s.attribute_types().len();
        s.add_attribute_type(AttributeType::new(
            "1.3.6.1.4.1.99999.1",
            &["licenseType"],
            syntax::DIRECTORY_STRING,
        ));
        assert_eq!(s.attribute_types().len(), n);
        assert!(s.attribute("licensetype").is_some_and(|a| !a.single_value));
    }

    #[test]
    fn matching_rules_by_name_and_oid() {
        assert_eq!(
            MatchingRule::lookup("caseExactMatch"),
            Some(MatchingRule::CaseExact)
        );
        assert_eq!(
            MatchingRule::lookup("2.5.13.1"),
            Some(MatchingRule::DistinguishedName)
        );
        assert_eq!(MatchingRule::lookup("nope"), None);
        assert_eq!(MatchingRule::DistinguishedName.name(Role::Substrings), None);
    }

    #[test]
    fn subschema_and_root_dse_entries() {
        let s = Schema::standard();
        let dn = default_subschema_dn();
        let e = s.subschema_entry(&dn);
        assert_eq!(e.values("attributeTypes").len(), s.attribute_types().len());
        assert_eq!(e.first_str("cn"), Some("Subschema"));
        let base = Dn::parse("dc=example,dc=com").expect("dn");
        let r = RootDse::new(vec![base], "Rollcall", "0.1.0").entry(
            &["1.2.840.113556.1.4.319"],
            &["1.3.6.1.4.1.4203.1.11.3"],
            &[],
        );
        assert!(r.dn().is_root());
        assert_eq!(r.first_str("namingContexts"), Some("dc=example,dc=com"));
        assert_eq!(r.first_str("supportedLDAPVersion"), Some("3"));
        assert_eq!(r.first_str("subschemaSubentry"), Some("cn=Subschema"));
        assert_eq!(
            r.first_str("supportedControl"),
            Some("1.2.840.113556.1.4.319")
        );
        assert!(r.get("supportedSASLMechanisms").is_none());
    }
}
