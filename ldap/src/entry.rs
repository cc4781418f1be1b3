//! Entries as the directory hands them over, and the attribute selection of a search request
//! (RFC 4511 §4.5.1.8, RFC 3673 `+`): which of an entry's attributes go on the wire.

use ldap3_proto::proto::{LdapPartialAttribute, LdapSearchResultEntry};

use crate::dn::Dn;
use crate::schema::Schema;

/// One attribute and its values. Values are octets because LDAP values are; text values are
/// UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub values: Vec<Vec<u8>>,
}

impl Attribute {
    /// The attribute's base name without options (`cn` of `cn;lang-en`).
    pub fn base_name(&self) -> &str {
        self.name.split(';').next().unwrap_or(&self.name)
    }
}

/// A directory entry: its DN and all the attributes the bound session may see, user and
/// operational alike. The server filters with all of them and then selects what was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    dn: Dn,
    attrs: Vec<Attribute>,
}

impl Entry {
    pub fn new(dn: Dn) -> Entry {
        Entry {
            dn,
            attrs: Vec::new(),
        }
    }

    /// Adds values to `name` (merging with an attribute of the same name); no values, no
    /// attribute, since LDAP has no empty attributes.
    pub fn with<V: Into<Vec<u8>>>(
        mut self,
        name: &str,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        self.add(name, values);
        self
    }

    pub fn add<V: Into<Vec<u8>>>(&mut self, name: &str, values: impl IntoIterator<Item = V>) {
        let values: Vec<Vec<u8>> = values.into_iter().map(Into::into).collect();
        if values.is_empty() {
            return;
        }
        match self
            .attrs
            .iter_mut()
            .find(|a| a.name.eq_ignore_ascii_case(name))
        {
            Some(a) => a.values.extend(values),
            None => self.attrs.push(Attribute {
                name: name.to_string(),
                values,
            }),
        }
    }

    /// Replaces the values of `name`; an empty list removes it.
    pub fn set<V: Into<Vec<u8>>>(&mut self, name: &str, values: impl IntoIterator<Item = V>) {
        self.remove(name);
        self.add(name, values);
    }

    pub fn remove(&mut self, name: &str) -> Option<Attribute> {
        let i = self
            .attrs
            .iter()
            .position(|a| a.name.eq_ignore_ascii_case(name))?;
        Some(self.attrs.remove(i))
    }

    pub fn dn(&self) -> &Dn {
        &self.dn
    }

    pub fn attributes(&self) -> &[Attribute] {
        &self.attrs
    }

    /// The attribute spelled `name`, any case.
    pub fn get(&self, name: &str) -> Option<&Attribute> {
        self.attrs
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    pub fn values(&self, name: &str) -> &[Vec<u8>] {
        self.get(name).map(|a| a.values.as_slice()).unwrap_or(&[])
    }

    pub fn first_str(&self, name: &str) -> Option<&str> {
        self.values(name)
            .first()
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Attributes of the type `name` under any of its schema names or OID (`cn` and
    /// `commonName`), with or without options.
    pub fn find<'a>(
        &'a self,
        schema: &'a Schema,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Attribute> + 'a {
        let canonical = schema.canonical(name);
        self.attrs
            .iter()
            .filter(move |a| schema.canonical(a.base_name()) == canonical)
    }

    /// The wire form of this entry with the selected attributes.
    pub fn to_result(&self, selection: &Selection, schema: &Schema) -> LdapSearchResultEntry {
        let attributes = self
            .attrs
            .iter()
            .filter(|a| selection.includes(a.base_name(), schema))
            .map(|a| LdapPartialAttribute {
                atype: a.name.clone(),
                vals: if selection.types_only {
                    Vec::new()
                } else {
                    a.values.clone()
                },
            })
            .collect();
        LdapSearchResultEntry {
            dn: self.dn.to_string(),
            attributes,
        }
    }
}

/// The attribute list of a search request, interpreted once per search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// `*`, or an empty list.
    pub all_user: bool,
    /// `+`.
    pub all_operational: bool,
    /// Canonical lower-case names asked for explicitly.
    pub names: Vec<String>,
    pub types_only: bool,
}

impl Selection {
    pub fn parse(attrs: &[String], types_only: bool, schema: &Schema) -> Selection {
        let mut sel = Selection {
            all_user: attrs.is_empty(),
            all_operational: false,
            names: Vec::new(),
            types_only,
        };
        for a in attrs {
            match a.trim() {
                "*" => sel.all_user = true,
                "+" => sel.all_operational = true,
                // `1.1` alone means no attributes; next to others it is ignored (RFC 4511).
                "1.1" | "" => {}
                name => {
                    let c = schema.canonical(name);
                    if !sel.names.contains(&c) {
                        sel.names.push(c);
                    }
                }
            }
        }
        sel
    }

    /// Every attribute, as for a compare or a filter that needs them all.
    pub fn everything() -> Selection {
        Selection {
            all_user: true,
            all_operational: true,
            names: Vec::new(),
            types_only: false,
        }
    }

    pub fn includes(&self, name: &str, schema: &Schema) -> bool {
        let operational = schema.is_operational(name);
        if (operational && self.all_operational) || (!operational && self.all_user) {
            return true;
        }
        !self.names.is_empty() && self.names.contains(&schema.canonical(name))
    }

    /// True if nothing at all is returned (`1.1`).
    pub fn is_none(&self) -> bool {
        !self.all_user && !self.all_operational && self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry::new(Dn::parse("uid=alice,ou=people,dc=example,dc=com").expect("dn"))
            .with("objectClass", ["top", "inetOrgPerson"])
            .with("uid", ["alice"])
            .with("cn", ["Alice Smith"])
            .with("mail", ["alice@example.com"])
            .with("memberOf", ["cn=admins,ou=roles,dc=example,dc=com"])
            .with("entryUUID", ["0d9e6a3c-8b7e-4a53-9d4f-2f6c1c7e9a10"])
    }

    fn names(r: &LdapSearchResultEntry) -> Vec<&str> {
        r.attributes.iter().map(|a| a.atype.as_str()).collect()
    }

    fn sel(attrs: &[&str]) -> Selection {
        let v: Vec<String> = attrs.iter().map(|s| s.to_string()).collect();
        Selection::parse(&v, false, &Schema::standard())
    }

    #[test]
    fn empty_list_and_star_mean_user_attributes() {
        let s = Schema::standard();
        for a in [&[][..], &["*"][..]] {
            let r = entry().to_result(&sel(a), &s);
            assert_eq!(names(&r), ["objectClass", "uid", "cn", "mail"]);
            assert_eq!(r.dn, "uid=alice,ou=people,dc=example,dc=com");
        }
    }

    #[test]
    fn plus_means_operational_attributes() {
        let s = Schema::standard();
        let r = entry().to_result(&sel(&["+"]), &s);
        assert_eq!(names(&r), ["memberOf", "entryUUID"]);
        let r = entry().to_result(&sel(&["*", "+"]), &s);
        assert_eq!(r.attributes.len(), 6);
    }

    #[test]
    fn named_attributes_any_case_or_alias() {
        let s = Schema::standard();
        let r = entry().to_result(&sel(&["CommonName", "MEMBEROF", "nosuch"]), &s);
        assert_eq!(names(&r), ["cn", "memberOf"]);
        let r = entry().to_result(&sel(&["*", "entryuuid"]), &s);
        assert_eq!(names(&r), ["objectClass", "uid", "cn", "mail", "entryUUID"]);
    }

    #[test]
    fn one_dot_one_returns_nothing_unless_combined() {
        let s = Schema::standard();
        let none = sel(&["1.1"]);
        assert!(none.is_none());
        assert!(entry().to_result(&none, &s).attributes.is_empty());
        let r = entry().to_result(&sel(&["1.1", "uid"]), &s);
        assert_eq!(names(&r), ["uid"]);
    }

    #[test]
    fn types_only_drops_values() {
        let s = Schema::standard();
        let v = vec!["uid".to_string(), "mail".to_string()];
        let r = entry().to_result(&Selection::parse(&v, true, &s), &s);
        assert_eq!(names(&r), ["uid", "mail"]);
        assert!(r.attributes.iter().all(|a| a.vals.is_empty()));
    }

    #[test]
    fn building_and_editing() {
        let s = Schema::standard();
        let mut e = entry()
            .with("CN", ["Al"])
            .with("description", Vec::<String>::new());
        assert_eq!(e.values("cn").len(), 2);
        assert!(e.get("description").is_none());
        assert_eq!(e.find(&s, "commonName").count(), 1);
        e.set("cn", ["Alice"]);
        assert_eq!(e.first_str("CN"), Some("Alice"));
        e.set("cn", Vec::<String>::new());
        assert!(e.get("cn").is_none());
        assert!(e.remove("mail").is_some());
        assert!(e.remove("mail").is_none());
    }
}
