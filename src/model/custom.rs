//! Custom user attributes (DESIGN §2: "a typed extension map, not new columns"). The admin
//! declares them in `[custom_attributes]`; SCIM carries them in one extension schema, LDAP as
//! attributes of their own, and the record keeps them in [`super::User::extensions`] under
//! `<schema>:<name>`, so a new attribute needs no new field and no store change.

use serde::Deserialize;
use serde_json::Value;

/// The extension schema when the config names none.
pub const DEFAULT_SCHEMA: &str = "urn:rollcall:scim:schemas:extension:custom:2.0:User";

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum CustomType {
    #[default]
    String,
    Boolean,
    Integer,
    Decimal,
    /// RFC 3339, as SCIM's dateTime.
    DateTime,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CustomAttribute {
    /// The SCIM attribute name within the extension schema.
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: CustomType,
    #[serde(default)]
    pub multi_valued: bool,
    /// The LDAP attribute name (default: `name`).
    pub ldap: Option<String>,
    pub description: Option<String>,
}

impl CustomAttribute {
    pub fn ldap_name(&self) -> &str {
        self.ldap.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CustomAttributes {
    /// The SCIM extension schema URN that carries them.
    pub schema: String,
    pub attributes: Vec<CustomAttribute>,
}

impl Default for CustomAttributes {
    fn default() -> Self {
        Self {
            schema: DEFAULT_SCHEMA.into(),
            attributes: Vec::new(),
        }
    }
}

impl CustomAttributes {
    /// Where `attribute`'s value lives in [`super::User::extensions`].
    pub fn key(&self, attribute: &CustomAttribute) -> String {
        format!("{}:{}", self.schema, attribute.name)
    }

    /// The declared attribute stored under `key`.
    pub fn declared(&self, key: &str) -> Option<&CustomAttribute> {
        let name = key.strip_prefix(self.schema.as_str())?.strip_prefix(':')?;
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The declared attributes a record holds, with their values. Walks the record's map, which
    /// is empty for most users, so entries and resources built for them cost nothing extra.
    pub fn values<'a>(
        &'a self,
        extensions: &'a std::collections::BTreeMap<String, Value>,
    ) -> impl Iterator<Item = (&'a CustomAttribute, &'a Value)> + 'a {
        extensions
            .iter()
            .filter_map(|(key, value)| Some((self.declared(key)?, value)))
    }

    /// Refuses what cannot work: names that are not SCIM or LDAP attribute names, the same
    /// name twice, a schema that is not a URN or is one of the built-in ones.
    pub fn validate(&self, taken_ldap_names: &[&str]) -> Result<(), String> {
        if self.attributes.is_empty() {
            return Ok(());
        }
        if !self.schema.starts_with("urn:") {
            return Err(format!("schema {:?} is not a URN", self.schema));
        }
        let builtin = [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:rollcall:scim:schemas:extension:2.0:User",
        ];
        if builtin.iter().any(|b| b.eq_ignore_ascii_case(&self.schema)) {
            return Err(format!("schema {:?} is a built-in schema", self.schema));
        }
        let name_ok = |n: &str| {
            n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        let mut scim_names = std::collections::BTreeSet::new();
        let mut ldap_names = std::collections::BTreeSet::new();
        for a in &self.attributes {
            for name in [a.name.as_str(), a.ldap_name()] {
                if !name_ok(name) {
                    return Err(format!(
                        "attribute name {name:?}: letters, digits and '-', starting with a letter"
                    ));
                }
            }
            if taken_ldap_names
                .iter()
                .any(|t| t.eq_ignore_ascii_case(a.ldap_name()))
            {
                return Err(format!(
                    "LDAP attribute {:?} is already one of the directory's",
                    a.ldap_name()
                ));
            }
            if !scim_names.insert(a.name.to_ascii_lowercase())
                || !ldap_names.insert(a.ldap_name().to_ascii_lowercase())
            {
                return Err(format!("attribute {:?} is declared twice", a.name));
            }
        }
        Ok(())
    }

    /// Whether `value` fits `attribute`: the declared type, one value or an array of them.
    pub fn check(&self, attribute: &CustomAttribute, value: &Value) -> Result<(), String> {
        let one = |v: &Value| match attribute.kind {
            CustomType::String => v.is_string(),
            CustomType::Boolean => v.is_boolean(),
            CustomType::Integer => v.is_i64() || v.is_u64(),
            CustomType::Decimal => v.is_number(),
            CustomType::DateTime => v.as_str().is_some_and(|s| {
                time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                    .is_ok()
            }),
        };
        let fits = match (attribute.multi_valued, value) {
            (true, Value::Array(items)) => items.iter().all(one),
            (false, v) => one(v),
            (true, _) => false,
        };
        if fits {
            Ok(())
        } else {
            Err(format!(
                "{} must be {}{:?}",
                attribute.name,
                if attribute.multi_valued {
                    "a list of "
                } else {
                    ""
                },
                attribute.kind
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs() -> CustomAttributes {
        toml::from_str(
            r#"
            schema = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
            [[attributes]]
            name = "costCenterCode"
            [[attributes]]
            name = "badges"
            type = "integer"
            multi_valued = true
            ldap = "acmeBadge"
            "#,
        )
        .unwrap()
    }

    #[test]
    fn values_must_have_the_declared_type() {
        let c = attrs();
        let (code, badges) = (&c.attributes[0], &c.attributes[1]);
        assert!(c.check(code, &json!("CC-1")).is_ok());
        assert!(c.check(code, &json!(7)).is_err());
        assert!(c.check(badges, &json!([1, 2])).is_ok());
        assert!(c.check(badges, &json!([1, "2"])).is_err());
        assert!(c.check(badges, &json!(1)).is_err());
        assert_eq!(
            c.key(code),
            "urn:ietf:params:scim:schemas:extension:acme:2.0:User:costCenterCode"
        );
        assert_eq!(c.declared(&c.key(badges)), Some(badges));
        assert_eq!(c.declared("urn:other:badges"), None);
        let held = std::collections::BTreeMap::from([
            (c.key(code), json!("CC-1")),
            ("urn:other:x".to_string(), json!(1)),
        ]);
        let found: Vec<_> = c.values(&held).map(|(a, v)| (a.name.as_str(), v)).collect();
        assert_eq!(found, [("costCenterCode", &json!("CC-1"))]);
        assert_eq!(badges.ldap_name(), "acmeBadge");
    }

    #[test]
    fn declarations_that_cannot_work_are_refused() {
        assert!(attrs().validate(&["uid", "cn"]).is_ok());
        let mut c = attrs();
        c.attributes[0].name = "cost center".into();
        assert!(c.validate(&[]).is_err());
        let mut c = attrs();
        c.attributes[1].ldap = Some("CN".into());
        assert!(c.validate(&["uid", "cn"]).is_err());
        let mut c = attrs();
        c.attributes[1].name = "COSTCENTERCODE".into();
        assert!(c.validate(&[]).is_err());
        let mut c = attrs();
        c.schema = "urn:ietf:params:scim:schemas:core:2.0:User".into();
        assert!(c.validate(&[]).is_err());
        let mut c = attrs();
        c.schema = "acme".into();
        assert!(c.validate(&[]).is_err());
    }
}
