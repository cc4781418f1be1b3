//! Attribute paths: `attr`, `attr.sub`, `urn:…:attr[.sub]` (RFC 7644 §3.10) and the PATCH
//! `path` grammar that adds value filters: `attr[filter]`, `attr[filter].sub` (§3.5.2).

use std::fmt;

use crate::error::ScimError;
use crate::filter::{Filter, Parser};
use crate::schema::{GROUP_SCHEMA, USER_SCHEMA};

/// An attribute reference: optional schema URN, attribute name, optional sub-attribute.
/// Names keep the client's spelling; comparisons are case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl AttrPath {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            urn: None,
            name: name.into(),
            sub: None,
        }
    }

    pub fn with_sub(mut self, sub: impl Into<String>) -> Self {
        self.sub = Some(sub.into());
        self
    }

    pub fn with_urn(mut self, urn: impl Into<String>) -> Self {
        self.urn = Some(urn.into());
        self
    }

    /// Parses `[urn:]name[.sub]` as used by `sortBy`, `attributes` and filters.
    pub fn parse(s: &str) -> Result<Self, ScimError> {
        parse_attr_word(s.trim())
            .map_err(|why| ScimError::invalid_path(format!("invalid attribute path '{s}': {why}")))
    }

    /// Whether this path names `dotted` (`"userName"`, `"emails.value"`, or a URN-qualified
    /// form), ignoring case and a core User/Group schema prefix. Lets a provider match the
    /// attributes it indexes without caring how the client spelled them.
    pub fn is(&self, dotted: &str) -> bool {
        let bare = self.bare();
        if bare.eq_ignore_ascii_case(dotted) && self.is_core_or_unqualified() {
            return true;
        }
        self.to_string().eq_ignore_ascii_case(dotted)
    }

    fn is_core_or_unqualified(&self) -> bool {
        match &self.urn {
            None => true,
            Some(u) => u.eq_ignore_ascii_case(USER_SCHEMA) || u.eq_ignore_ascii_case(GROUP_SCHEMA),
        }
    }

    /// `name.sub` without the URN.
    pub fn bare(&self) -> String {
        match &self.sub {
            Some(s) => format!("{}.{}", self.name, s),
            None => self.name.clone(),
        }
    }

    /// When the whole path is a schema URN (`urn:…:enterprise:2.0:User`), that URN.
    pub fn as_schema_urn(&self) -> Option<String> {
        match (&self.urn, &self.sub) {
            (Some(u), None) => Some(format!("{u}:{}", self.name)),
            _ => None,
        }
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(u) = &self.urn {
            write!(f, "{u}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(s) = &self.sub {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '$' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '$')
}

/// `[URI ":"] ATTRNAME *1subAttr`; the error says what is wrong, the caller says where.
pub(crate) fn parse_attr_word(word: &str) -> Result<AttrPath, String> {
    if word.is_empty() {
        return Err("empty attribute name".into());
    }
    let (urn, rest) = match word.rfind(':') {
        Some(i) => (Some(&word[..i]), &word[i + 1..]),
        None => (None, word),
    };
    if let Some(u) = urn
        && (u.is_empty() || u.chars().any(|c| c.is_whitespace()))
    {
        return Err("malformed schema URN".into());
    }
    let mut parts = rest.splitn(2, '.');
    let name = parts.next().unwrap_or_default();
    let sub = parts.next();
    if !valid_name(name) {
        return Err(format!("'{name}' is not a valid attribute name"));
    }
    if let Some(s) = sub
        && !valid_name(s)
    {
        return Err(format!("'{s}' is not a valid sub-attribute name"));
    }
    Ok(AttrPath {
        urn: urn.map(str::to_string),
        name: name.to_string(),
        sub: sub.map(str::to_string),
    })
}

/// A PATCH operation's `path`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute; `sub` is set for `attr.sub` (no filter).
    pub attr: AttrPath,
    /// The value selection filter of `attr[filter]`, evaluated against each value.
    pub filter: Option<Filter>,
    /// The sub-attribute after the filter: `attr[filter].sub`.
    pub filter_sub: Option<String>,
}

impl PatchPath {
    /// Parses a PATCH path; any error is 400 `invalidPath`.
    pub fn parse(s: &str) -> Result<Self, ScimError> {
        Parser::parse_patch_path(s)
    }

    /// The sub-attribute addressed, with or without a filter.
    pub fn sub(&self) -> Option<&str> {
        self.filter_sub.as_deref().or(self.attr.sub.as_deref())
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(flt) = &self.filter {
            write!(f, "[{flt}]")?;
        }
        if let Some(s) = &self.filter_sub {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;
    use crate::schema::ENTERPRISE_USER_SCHEMA;

    #[test]
    fn simple_and_sub() {
        let p = PatchPath::parse("name.givenName").expect("ok");
        assert_eq!(p.attr, AttrPath::new("name").with_sub("givenName"));
        assert!(p.filter.is_none());
        assert_eq!(p.sub(), Some("givenName"));
    }

    #[test]
    fn urn_qualified() {
        let p = PatchPath::parse(&format!("{ENTERPRISE_USER_SCHEMA}:manager")).expect("ok");
        assert_eq!(p.attr.urn.as_deref(), Some(ENTERPRISE_USER_SCHEMA));
        assert_eq!(p.attr.name, "manager");
        let p = PatchPath::parse(&format!("{ENTERPRISE_USER_SCHEMA}:manager.value")).expect("ok");
        assert_eq!(p.attr.sub.as_deref(), Some("value"));
        let p = PatchPath::parse(ENTERPRISE_USER_SCHEMA).expect("ok");
        assert_eq!(
            p.attr.as_schema_urn().as_deref(),
            Some(ENTERPRISE_USER_SCHEMA)
        );
    }

    #[test]
    fn value_filter_with_sub() {
        let p = PatchPath::parse("emails[type eq \"work\"].value").expect("ok");
        assert_eq!(p.attr, AttrPath::new("emails"));
        assert!(p.filter.is_some());
        assert_eq!(p.filter_sub.as_deref(), Some("value"));
        let p = PatchPath::parse("members[value eq \"2819c223\"]").expect("ok");
        assert!(p.filter_sub.is_none());
        assert_eq!(p.to_string(), "members[value eq \"2819c223\"]");
    }

    #[test]
    fn errors_are_invalid_path() {
        for bad in [
            "",
            "emails[type eq \"work\"",
            "emails[]",
            "emails[type eq \"work\"].",
            "1abc",
            "name.given.name",
            "emails[type eq \"work\"] x",
            "a b",
        ] {
            let e = PatchPath::parse(bad).expect_err(bad);
            assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{bad}: {e}");
        }
    }

    #[test]
    fn is_matches_names() {
        let p = AttrPath::parse("urn:ietf:params:scim:schemas:core:2.0:User:USERNAME").expect("ok");
        assert!(p.is("userName"));
        let p = AttrPath::new("emails").with_sub("Value");
        assert!(p.is("emails.value"));
        assert!(!p.is("emails"));
    }
}
