//! Entries as the directory hands them over, and the attribute selection of a search request
//! (RFC 4511 §4.5.1.8, RFC 3673 `+`): which of an entry's attributes go on the wire.

use bytes::{Bytes, BytesMut};

use crate::ber;
use crate::dn::Dn;
use crate::schema::Schema;

/// `[APPLICATION 4]`, constructed: the protocolOp tag of a SearchResultEntry (RFC 4511 §4.5.2).
const SEARCH_RESULT_ENTRY: u8 = 0x64;

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

    /// The LDAPMessage carrying this entry as a SearchResultEntry with the selected attributes:
    /// the same octets `ldap3_proto` would produce, written straight from the entry into one
    /// buffer of the exact size, because building the message types first (a copy of every
    /// value, then a tree of BER tags) took about a sixth of the server's CPU time in equality
    /// searches.
    pub fn encode_result(&self, msgid: i32, selection: &Selection, schema: &Schema) -> Bytes {
        self.result_message(msgid, selection, schema).freeze()
    }

    fn result_message(&self, msgid: i32, selection: &Selection, schema: &Schema) -> BytesMut {
        let dn = self.dn.to_string();
        // Selected once, each with the content length of its SET of values: the check looks
        // names up in the schema, and both the sizing and the writing need its answer.
        let selected: Vec<(&Attribute, usize)> = self
            .attrs
            .iter()
            .filter(|a| selection.includes(a.base_name(), schema))
            .map(|a| {
                let vals = if selection.types_only {
                    0
                } else {
                    a.values.iter().map(|v| ber::element_len(v.len())).sum()
                };
                (a, vals)
            })
            .collect();
        let partial_len =
            |name: &str, vals: usize| ber::element_len(name.len()) + ber::element_len(vals);
        // None of these sums can overflow: they count octets held in memory plus headers of at
        // most 2 + size_of::<usize>() octets per String or Vec, each smaller than the String or
        // Vec itself.
        let attrs_len: usize = selected
            .iter()
            .map(|(a, vals)| ber::element_len(partial_len(&a.name, *vals)))
            .sum();
        let op_len = ber::element_len(dn.len()) + ber::element_len(attrs_len);
        let msg_len = ber::integer_len(msgid.into()) + ber::element_len(op_len);

        let mut buf = BytesMut::with_capacity(ber::element_len(msg_len));
        ber::write_header(&mut buf, ber::SEQUENCE, msg_len);
        ber::write_integer(&mut buf, msgid.into());
        ber::write_header(&mut buf, SEARCH_RESULT_ENTRY, op_len);
        ber::write_octets(&mut buf, ber::OCTET_STRING, dn.as_bytes());
        ber::write_header(&mut buf, ber::SEQUENCE, attrs_len);
        for (a, vals) in selected {
            ber::write_header(&mut buf, ber::SEQUENCE, partial_len(&a.name, vals));
            ber::write_octets(&mut buf, ber::OCTET_STRING, a.name.as_bytes());
            ber::write_header(&mut buf, ber::SET, vals);
            if !selection.types_only {
                for v in &a.values {
                    ber::write_octets(&mut buf, ber::OCTET_STRING, v);
                }
            }
        }
        buf
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
    use crate::dn::Rdn;
    use ldap3_proto::proto::{LdapMsg, LdapOp, LdapPartialAttribute, LdapSearchResultEntry};

    fn entry() -> Entry {
        Entry::new(Dn::parse("uid=alice,ou=people,dc=example,dc=com").expect("dn"))
            .with("objectClass", ["top", "inetOrgPerson"])
            .with("uid", ["alice"])
            .with("cn", ["Alice Smith"])
            .with("mail", ["alice@example.com"])
            .with("memberOf", ["cn=admins,ou=roles,dc=example,dc=com"])
            .with("entryUUID", ["0d9e6a3c-8b7e-4a53-9d4f-2f6c1c7e9a10"])
    }

    fn sel(attrs: &[&str]) -> Selection {
        let v: Vec<String> = attrs.iter().map(|s| s.to_string()).collect();
        Selection::parse(&v, false, &Schema::standard())
    }

    fn types_only(attrs: &[&str]) -> Selection {
        Selection {
            types_only: true,
            ..sel(attrs)
        }
    }

    /// What the server used to send, through `ldap3_proto`'s types and `ldap3_lber`'s writer.
    fn via_ldap3(msgid: i32, e: &Entry, selection: &Selection, schema: &Schema) -> Vec<u8> {
        let attributes = e
            .attributes()
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
        let op = LdapOp::SearchResultEntry(LdapSearchResultEntry {
            dn: e.dn().to_string(),
            attributes,
        });
        crate::codec::encode(LdapMsg::new(msgid, op)).to_vec()
    }

    /// Encodes `e`, checks the buffer was sized exactly and that the octets are those of the
    /// `ldap3_proto` path, and returns them.
    fn check(msgid: i32, e: &Entry, selection: &Selection, schema: &Schema) -> Vec<u8> {
        let buf = e.result_message(msgid, selection, schema);
        assert_eq!(buf.capacity(), buf.len(), "buffer size for {}", e.dn());
        let ours = e.encode_result(msgid, selection, schema).to_vec();
        assert_eq!(ours, buf.to_vec());
        let expected = via_ldap3(msgid, e, selection, schema);
        if ours != expected {
            let at = ours
                .iter()
                .zip(&expected)
                .take_while(|(a, b)| a == b)
                .count();
            panic!(
                "msgid {msgid}, dn {}: {} octets, expected {}, first difference at {at}: \
                 {:02x?} vs {:02x?}",
                e.dn(),
                ours.len(),
                expected.len(),
                &ours[at.saturating_sub(8)..(at + 8).min(ours.len())],
                &expected[at.saturating_sub(8)..(at + 8).min(expected.len())],
            );
        }
        ours
    }

    /// Reads the octets back with ldap3_lber's parser and ldap3_proto's message decoding.
    fn decode(bytes: &[u8]) -> (i32, LdapSearchResultEntry) {
        let mut parser = ldap3_lber::Parser::new(16);
        let tag = match parser.parse(bytes) {
            Ok((rest, tag)) => {
                assert!(rest.is_empty(), "{} trailing octets", rest.len());
                tag
            }
            Err(e) => panic!("not BER: {e:?}"),
        };
        match LdapMsg::try_from(tag) {
            Ok(LdapMsg {
                msgid,
                op: LdapOp::SearchResultEntry(r),
                ctrl,
            }) => {
                assert!(ctrl.is_empty());
                (msgid, r)
            }
            other => panic!("not a search result entry: {other:?}"),
        }
    }

    /// What a client receives for `e` under `selection`.
    fn received(e: &Entry, selection: &Selection) -> LdapSearchResultEntry {
        let s = Schema::standard();
        let (msgid, r) = decode(&check(7, e, selection, &s));
        assert_eq!(msgid, 7);
        r
    }

    fn names(r: &LdapSearchResultEntry) -> Vec<&str> {
        r.attributes.iter().map(|a| a.atype.as_str()).collect()
    }

    /// The length of the outermost element's content, from its header.
    fn content_len(bytes: &[u8]) -> usize {
        match bytes[1] {
            n if n < 0x80 => n as usize,
            n => bytes[2..2 + (n & 0x7f) as usize]
                .iter()
                .fold(0, |acc, b| (acc << 8) | *b as usize),
        }
    }

    #[test]
    fn empty_list_and_star_mean_user_attributes() {
        for a in [&[][..], &["*"][..]] {
            let r = received(&entry(), &sel(a));
            assert_eq!(names(&r), ["objectClass", "uid", "cn", "mail"]);
            assert_eq!(r.dn, "uid=alice,ou=people,dc=example,dc=com");
        }
    }

    #[test]
    fn plus_means_operational_attributes() {
        let r = received(&entry(), &sel(&["+"]));
        assert_eq!(names(&r), ["memberOf", "entryUUID"]);
        let r = received(&entry(), &sel(&["*", "+"]));
        assert_eq!(r.attributes.len(), 6);
    }

    #[test]
    fn named_attributes_any_case_or_alias() {
        let r = received(&entry(), &sel(&["CommonName", "MEMBEROF", "nosuch"]));
        assert_eq!(names(&r), ["cn", "memberOf"]);
        let r = received(&entry(), &sel(&["*", "entryuuid"]));
        assert_eq!(names(&r), ["objectClass", "uid", "cn", "mail", "entryUUID"]);
    }

    #[test]
    fn one_dot_one_returns_nothing_unless_combined() {
        let none = sel(&["1.1"]);
        assert!(none.is_none());
        assert!(received(&entry(), &none).attributes.is_empty());
        let r = received(&entry(), &sel(&["1.1", "uid"]));
        assert_eq!(names(&r), ["uid"]);
    }

    #[test]
    fn types_only_drops_values() {
        let r = received(&entry(), &types_only(&["uid", "mail"]));
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

    #[test]
    fn encodes_like_ldap3_under_every_selection() {
        let s = Schema::standard();
        let selections: Vec<Selection> = [
            &[][..],
            &["*"],
            &["+"],
            &["*", "+"],
            &["1.1"],
            &["1.1", "uid"],
            &["CommonName", "MEMBEROF", "nosuch"],
            &["*", "entryuuid"],
            &["nosuch"],
        ]
        .iter()
        .flat_map(|a| [sel(a), types_only(a)])
        .collect();
        let with_options = entry()
            .with("cn;lang-en", ["Alice"])
            .with("userCertificate;binary", [vec![0x30, 0x82, 0x00]]);
        for e in [entry(), with_options] {
            for selection in &selections {
                check(5, &e, selection, &s);
            }
        }
    }

    #[test]
    fn entry_without_attributes() {
        let s = Schema::standard();
        let e = Entry::new(Dn::parse("dc=example").expect("dn"));
        let bytes = check(1, &e, &sel(&[]), &s);
        assert_eq!(
            bytes,
            [
                0x30, 0x13, 0x02, 0x01, 0x01, 0x64, 0x0e, 0x04, 0x0a, b'd', b'c', b'=', b'e', b'x',
                b'a', b'm', b'p', b'l', b'e', 0x30, 0x00
            ]
        );
        // An entry whose attributes are all left out looks the same.
        let bytes_none = check(1, &entry(), &sel(&["1.1"]), &s);
        assert_eq!(
            content_len(&bytes_none[7..]),
            entry().dn().to_string().len()
        );
        assert_eq!(&bytes_none[bytes_none.len() - 2..], [0x30, 0x00]);
        // The root DSE has an empty DN.
        let bytes = check(0, &Entry::new(Dn::root()), &sel(&["*"]), &s);
        assert_eq!(
            bytes,
            [
                0x30, 0x09, 0x02, 0x01, 0x00, 0x64, 0x04, 0x04, 0x00, 0x30, 0x00
            ]
        );
    }

    #[test]
    fn types_only_sends_empty_value_sets() {
        let s = Schema::standard();
        let e = Entry::new(Dn::parse("cn=x").expect("dn")).with("cn", [vec![b'x'; 300]]);
        let bytes = check(2, &e, &types_only(&[]), &s);
        assert_eq!(
            bytes,
            [
                0x30, 0x15, 0x02, 0x01, 0x02, 0x64, 0x10, 0x04, 0x04, b'c', b'n', b'=', b'x', 0x30,
                0x08, 0x30, 0x06, 0x04, 0x02, b'c', b'n', 0x31, 0x00
            ]
        );
    }

    #[test]
    fn value_lengths_across_length_forms() {
        let s = Schema::standard();
        for len in [0, 1, 127, 128, 255, 256, 65_535, 65_536, 70_000, 16_777_216] {
            let value: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let e = Entry::new(Dn::parse("cn=big").expect("dn")).with("description", [value]);
            let bytes = check(3, &e, &sel(&[]), &s);
            let (_, r) = decode(&bytes);
            assert_eq!(r.attributes[0].vals[0].len(), len);
        }
    }

    #[test]
    fn every_nesting_level_crosses_length_forms() {
        // Growing a value or an attribute name one octet at a time moves the length of each
        // enclosing element (value, set, partial attribute, attribute list, operation, message)
        // through the short form and into one, two and three long-form octets.
        let s = Schema::standard();
        let mut seen = std::collections::BTreeSet::new();
        let lens = (0..=400).chain(65_300..=65_700).chain(69_990..=70_010);
        for len in lens {
            let e = Entry::new(Dn::parse("cn=sweep").expect("dn"))
                .with("description", [vec![b'v'; len]]);
            let bytes = check(len as i32, &e, &sel(&[]), &s);
            seen.insert(content_len(&bytes));
            let name = "a".repeat(len % 300 + 1);
            let e = Entry::new(Dn::parse("cn=sweep").expect("dn"))
                .with(&name, [vec![b'v'; len / 2]])
                .with("cn", ["x"]);
            let bytes = check(len as i32, &e, &sel(&[]), &s);
            seen.insert(content_len(&bytes));
        }
        for boundary in [127, 128, 255, 256, 65_535, 65_536] {
            assert!(seen.contains(&boundary), "no message of {boundary} octets");
        }
    }

    #[test]
    fn many_attributes() {
        let s = Schema::standard();
        let mut e = Entry::new(Dn::parse("cn=many,dc=example").expect("dn"));
        for i in 0..2_000 {
            let values: Vec<String> = (0..(i % 5)).map(|j| format!("value {i}.{j}")).collect();
            e.add(&format!("attr{i}"), values);
        }
        e.add("cn", ["many"]);
        e.add("entryUUID", ["0d9e6a3c-8b7e-4a53-9d4f-2f6c1c7e9a10"]);
        let bytes = check(9, &e, &sel(&["*", "+"]), &s);
        assert!(bytes.len() > 65_536);
        let (_, r) = decode(&bytes);
        assert_eq!(r.attributes.len(), e.attributes().len());
        check(9, &e, &sel(&[]), &s);
        check(9, &e, &sel(&["+"]), &s);
        check(9, &e, &types_only(&["*", "+"]), &s);
    }

    #[test]
    fn non_ascii_and_binary_values() {
        let s = Schema::standard();
        let all_octets: Vec<u8> = (0..=255).collect();
        let e = Entry::new(Dn::parse("cn=Zoë Ñúñez,ou=日本語,dc=example").expect("dn"))
            .with("cn", ["Zoë Ñúñez", "Ζωή", "🎉"])
            .with(
                "jpegPhoto",
                [all_octets.clone(), vec![0xff, 0xd8, 0xff, 0x00]],
            )
            .with(
                "description",
                [vec![0x80], vec![0xc3], vec![], vec![0x00; 3]],
            )
            .with("displayName;lang-ja", ["アリス"]);
        let bytes = check(11, &e, &sel(&[]), &s);
        let (_, r) = decode(&bytes);
        assert_eq!(r.dn, "cn=Zoë Ñúñez,ou=日本語,dc=example");
        assert_eq!(r.attributes[0].vals[2], "🎉".as_bytes());
        assert_eq!(r.attributes[1].vals[0], all_octets);
        assert_eq!(r.attributes[2].vals[2], b"");
        assert_eq!(names(&r)[3], "displayName;lang-ja");
    }

    #[test]
    fn dns_with_escaped_characters() {
        let s = Schema::standard();
        let mut dns = vec![
            Dn::parse(r"cn=Smith\, John,ou=a\+b,dc=example").expect("dn"),
            Dn::parse(r"cn=\#hash\;semi\<lt\>gt\22quote\\back,dc=example").expect("dn"),
            Dn::parse(r"cn=\ lead and trail\ ,dc=example").expect("dn"),
            Dn::parse("cn=multi+sn=valued,dc=example").expect("dn"),
            Dn::parse(r"cn=hex\c3\a9,dc=example").expect("dn"),
        ];
        dns.push(Dn::from_rdns(vec![
            Rdn::new("cn", " #a,b=c+d\"e\\f<g>h;i\0j "),
            Rdn::new("dc", "example"),
        ]));
        // A DN that alone needs a long-form length.
        dns.push(Dn::from_rdns(vec![Rdn::new("cn", ",".repeat(200))]));
        for dn in dns {
            let e = Entry::new(dn.clone()).with("cn", ["x"]);
            let (_, r) = decode(&check(12, &e, &sel(&[]), &s));
            assert_eq!(r.dn, dn.to_string());
            assert_eq!(Dn::parse(&r.dn).as_ref(), Ok(&dn));
        }
    }

    #[test]
    fn message_ids() {
        let s = Schema::standard();
        for msgid in [
            0,
            1,
            127,
            128,
            255,
            256,
            32_767,
            32_768,
            65_535,
            65_536,
            8_388_607,
            8_388_608,
            i32::MAX - 1,
            i32::MAX,
        ] {
            let bytes = check(msgid, &entry(), &sel(&[]), &s);
            assert_eq!(decode(&bytes).0, msgid);
        }
    }

    #[test]
    fn round_trip() {
        let s = Schema::standard();
        let e = entry()
            .with("description", [vec![0u8; 200], b"second".to_vec()])
            .with("jpegPhoto", [vec![0xff, 0x00, 0x80]]);
        for selection in [
            sel(&["*", "+"]),
            sel(&["uid", "jpegPhoto"]),
            types_only(&["*"]),
        ] {
            let (msgid, r) = decode(&check(42, &e, &selection, &s));
            assert_eq!(msgid, 42);
            assert_eq!(r.dn, e.dn().to_string());
            let expected: Vec<(&str, Vec<Vec<u8>>)> = e
                .attributes()
                .iter()
                .filter(|a| selection.includes(a.base_name(), &s))
                .map(|a| {
                    let vals = if selection.types_only {
                        Vec::new()
                    } else {
                        a.values.clone()
                    };
                    (a.name.as_str(), vals)
                })
                .collect();
            let got: Vec<(&str, Vec<Vec<u8>>)> = r
                .attributes
                .iter()
                .map(|a| (a.atype.as_str(), a.vals.clone()))
                .collect();
            assert_eq!(got, expected);
        }
        let (_, r) = decode(&check(42, &e, &sel(&["uid", "jpegPhoto"]), &s));
        assert_eq!(names(&r), ["uid", "jpegPhoto"]);
        assert_eq!(r.attributes[1].vals, [vec![0xff, 0x00, 0x80]]);
    }
}
