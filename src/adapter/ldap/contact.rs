//! Which LDAP attribute each SCIM phone number and email address is, by its `type`. A person's
//! entry has an attribute per kind of number (RFC 4519 `telephoneNumber` and
//! `facsimileTelephoneNumber`, RFC 4524 `mobile`, `pager` and `homePhone`), and an identity
//! provider sends each as its own type (Entra ID maps a fax to `phoneNumbers[type eq "fax"]`).
//! Folding them into `telephoneNumber` would show a fax where phone directories look for a
//! voice number, and an LDAP write of `telephoneNumber` would erase numbers it never showed.
//! `mail` is every address but a `home` one: a private address is not the directory's to
//! publish to every application that reads the entry.

use crate::model::MultiValue;

/// The LDAP attributes phone numbers are published as, with the SCIM `type` an LDAP write of
/// each gives a new number. `telephoneNumber` is last: it takes every other type.
pub const PHONES: [(&str, &str); 5] = [
    ("mobile", "mobile"),
    ("facsimileTelephoneNumber", "fax"),
    ("pager", "pager"),
    ("homePhone", "home"),
    ("telephoneNumber", "work"),
];

/// The LDAP attribute a phone number of SCIM type `kind` is.
pub fn phone_attribute(kind: Option<&str>) -> &'static str {
    PHONES
        .iter()
        .find(|(_, scim)| kind.is_some_and(|k| k.eq_ignore_ascii_case(scim)) && *scim != "work")
        .map_or("telephoneNumber", |(ldap, _)| ldap)
}

/// The SCIM type of a number written as LDAP attribute `attribute` (one of [`PHONES`]).
fn phone_type(attribute: &str) -> &'static str {
    PHONES
        .iter()
        .find(|(ldap, _)| ldap.eq_ignore_ascii_case(attribute))
        .map_or("work", |(_, scim)| scim)
}

/// Whether an email address is one of the entry's `mail` values.
fn is_mail(email: &MultiValue) -> bool {
    !email
        .kind
        .as_deref()
        .is_some_and(|k| k.eq_ignore_ascii_case("home"))
}

/// The user's phone numbers that LDAP attribute `attribute` shows, the primary one first.
pub fn phones<'a>(numbers: &'a [MultiValue], attribute: &'a str) -> impl Iterator<Item = &'a str> {
    primary_first(
        numbers
            .iter()
            .filter(move |p| phone_attribute(p.kind.as_deref()).eq_ignore_ascii_case(attribute)),
    )
}

/// The user's `mail` values, the primary address first.
pub fn mail(emails: &[MultiValue]) -> impl Iterator<Item = &str> {
    primary_first(emails.iter().filter(|m| is_mail(m)))
}

/// Values in their stored order, but the primary one first: LDAP gives values no order (RFC
/// 4511 §4.1.7), yet applications take the first `mail` as the address (Grafana, GitLab,
/// Keycloak's email mapper), and SCIM's primary is the one meant. Two passes over the
/// values rather than a sorted copy: every entry a search returns reads these.
fn primary_first<'a>(
    values: impl Iterator<Item = &'a MultiValue> + Clone,
) -> impl Iterator<Item = &'a str> {
    let first = values.clone().filter(|m| m.primary);
    first
        .chain(values.filter(|m| !m.primary))
        .map(|m| m.value.as_str())
}

/// `values` written as LDAP phone attribute `attribute`: the numbers it shows are replaced,
/// every other number is kept.
pub fn set_phones(numbers: &mut Vec<MultiValue>, attribute: &str, values: &[String]) {
    replace(
        numbers,
        |p| phone_attribute(p.kind.as_deref()).eq_ignore_ascii_case(attribute),
        values,
        phone_type(attribute),
    );
}

/// `values` written as `mail`: the addresses it shows are replaced, `home` ones are kept.
pub fn set_mail(emails: &mut Vec<MultiValue>, values: &[String]) {
    replace(emails, is_mail, values, "work");
}

/// Replaces the entries `shown` selects by `values`. A value that was there keeps its entry
/// (type, `primary`, display); a new one gets type `kind`. At most one entry is primary, as
/// SCIM requires: the first value written is, when no entry kept is.
fn replace(
    list: &mut Vec<MultiValue>,
    shown: impl Fn(&MultiValue) -> bool,
    values: &[String],
    kind: &str,
) {
    let (before, kept): (Vec<MultiValue>, Vec<MultiValue>) =
        std::mem::take(list).into_iter().partition(|m| shown(m));
    let written: Vec<MultiValue> = values
        .iter()
        .map(|v| {
            before
                .iter()
                .find(|m| m.value == *v)
                .cloned()
                .unwrap_or_else(|| MultiValue {
                    value: v.clone(),
                    kind: Some(kind.to_owned()),
                    ..MultiValue::default()
                })
        })
        .collect();
    *list = kept;
    let has_primary = list.iter().chain(&written).any(|m| m.primary);
    list.extend(written.into_iter().enumerate().map(|(i, mut m)| {
        if !has_primary && i == 0 {
            m.primary = true;
        }
        m
    }));
    // Two values kept as primary (one written back next to one kept) leave only the first.
    let mut seen = false;
    for m in list.iter_mut() {
        if m.primary {
            m.primary = !std::mem::replace(&mut seen, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(value: &str, kind: Option<&str>, primary: bool) -> MultiValue {
        MultiValue {
            value: value.into(),
            kind: kind.map(Into::into),
            primary,
            display: None,
        }
    }

    #[test]
    fn each_type_is_its_own_attribute() {
        for (kind, attribute) in [
            (Some("mobile"), "mobile"),
            (Some("Fax"), "facsimileTelephoneNumber"),
            (Some("pager"), "pager"),
            (Some("HOME"), "homePhone"),
            (Some("work"), "telephoneNumber"),
            (Some("other"), "telephoneNumber"),
            (None, "telephoneNumber"),
        ] {
            assert_eq!(phone_attribute(kind), attribute, "{kind:?}");
        }
    }

    #[test]
    fn the_primary_value_comes_first() {
        let emails = vec![
            number("z@other", Some("other"), false),
            number("a@work", Some("work"), true),
            number("me@home", Some("home"), false),
            number("y@work", Some("work"), false),
        ];
        assert_eq!(
            mail(&emails).collect::<Vec<_>>(),
            ["a@work", "z@other", "y@work"]
        );
        let phones_of = vec![number("1", None, false), number("2", Some("work"), true)];
        assert_eq!(
            phones(&phones_of, "telephoneNumber").collect::<Vec<_>>(),
            ["2", "1"]
        );
    }

    #[test]
    fn a_write_replaces_only_what_its_attribute_shows() {
        let mut numbers = vec![
            number("1", Some("work"), false),
            number("2", Some("fax"), false),
            number("3", Some("mobile"), true),
            number("4", Some("other"), false),
        ];
        set_phones(&mut numbers, "telephoneNumber", &["4".into(), "5".into()]);
        assert_eq!(
            numbers,
            vec![
                number("2", Some("fax"), false),
                number("3", Some("mobile"), true),
                number("4", Some("other"), false),
                number("5", Some("work"), false),
            ]
        );
        set_phones(&mut numbers, "mobile", &[]);
        set_phones(&mut numbers, "pager", &["6".into()]);
        assert_eq!(
            numbers,
            vec![
                number("2", Some("fax"), false),
                number("4", Some("other"), false),
                number("5", Some("work"), false),
                number("6", Some("pager"), true),
            ]
        );
        let mut emails = vec![
            number("a@work", Some("work"), true),
            number("me@home", Some("home"), false),
        ];
        set_mail(&mut emails, &["b@work".into()]);
        assert_eq!(
            emails,
            vec![
                number("me@home", Some("home"), false),
                number("b@work", Some("work"), true),
            ]
        );
    }
}
