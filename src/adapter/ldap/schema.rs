//! Rollcall's additions to the standard LDAP schema: the attributes the LDAP view returns beyond
//! inetOrgPerson and groupOfNames, so that the subschema entry describes exactly what entries
//! carry. OIDs live under a 2.25 UUID arc (ITU-T X.667), which needs no registration.

use rollcall_ldap::schema::{AttributeType, ClassKind, ObjectClass, Schema, syntax};

use super::tree::Branch;
use crate::model::{CustomAttributes, CustomType};

const ARC: &str = "2.25.104407426530722504815627489726072451425";

fn oid(suffix: &str) -> String {
    format!("{ARC}.{suffix}")
}

/// A custom attribute's OID, from its name (FNV-1a of the lower-case name): the same across
/// restarts and however the config orders the attributes.
fn custom_oid(name: &str) -> String {
    let hash = name
        .to_ascii_lowercase()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    oid(&format!("3.{hash}"))
}

pub const PERSON_CLASS: &str = "rollcallPerson";
pub const ROLE_CLASS: &str = "rollcallRole";
pub const ACCOUNT_CLASS: &str = "rollcallAccount";
pub const SERVICE_CLASS: &str = "applicationProcess";

/// The object classes of every entry in `branch`. They follow from the branch, not from what
/// a client wrote: an add names some of them (the rest are implied), a modify can only say
/// them again.
pub fn branch_classes(branch: Branch) -> &'static [&'static str] {
    match branch {
        Branch::People => &[
            "top",
            "person",
            "organizationalPerson",
            "inetOrgPerson",
            PERSON_CLASS,
        ],
        Branch::Services => &["top", SERVICE_CLASS, PERSON_CLASS],
        Branch::Roles => &["top", "groupOfNames", ROLE_CLASS],
        Branch::Accounts => &["top", "organization", ACCOUNT_CLASS],
    }
}

/// The standard schema, Rollcall's additions, and the custom attributes of the config (so the
/// subschema entry lists them and filters match them by their type).
pub fn schema(custom: &CustomAttributes) -> Schema {
    let mut s = Schema::standard();
    let attr =
        |n: &str, name: &str, syn: &str| AttributeType::new(&oid(&format!("1.{n}")), &[name], syn);
    s.add_attribute_type(
        attr("1", "licenseType", syntax::DIRECTORY_STRING)
            .single_value()
            .description("employee, partner or customer"),
    );
    s.add_attribute_type(
        attr("2", "account", syntax::DN)
            .single_value()
            .description("the account (organisation) a partner or customer belongs to"),
    );
    s.add_attribute_type(
        attr("3", "active", syntax::BOOLEAN)
            .single_value()
            .description("holds a license and may log in"),
    );
    s.add_attribute_type(
        attr("4", "principalKind", syntax::DIRECTORY_STRING)
            .single_value()
            .description("person, api or bind"),
    );
    s.add_attribute_type(
        attr("5", "roleType", syntax::DIRECTORY_STRING)
            .single_value()
            .description("employee, partner, customer or guest; absent for a plain group"),
    );
    s.add_attribute_type(
        attr("6", "administrator", syntax::BOOLEAN)
            .single_value()
            .description("the Administrator System Role flag"),
    );
    s.add_attribute_type(
        attr("7", "parentAccount", syntax::DN)
            .single_value()
            .description("the parent of an account in the account hierarchy"),
    );
    s.add_attribute_type(
        attr("8", "licensed", syntax::BOOLEAN)
            .single_value()
            .description("under per-account partner licensing, admits unlimited partners"),
    );
    // `userPassword`: a bind service account's entry has no class of its own that allows it
    // (`applicationProcess` does not), yet it signs in with one.
    let mut person = vec![
        "licenseType",
        "account",
        "active",
        "principalKind",
        "userPassword",
    ];
    for attribute in &custom.attributes {
        let syntax = match attribute.kind {
            CustomType::Boolean => syntax::BOOLEAN,
            CustomType::Integer => syntax::INTEGER,
            CustomType::String | CustomType::Decimal | CustomType::DateTime => {
                syntax::DIRECTORY_STRING
            }
        };
        let mut def = AttributeType::new(
            &custom_oid(attribute.ldap_name()),
            &[attribute.ldap_name()],
            syntax,
        );
        if !attribute.multi_valued {
            def = def.single_value();
        }
        if let Some(d) = &attribute.description {
            def = def.description(d);
        }
        s.add_attribute_type(def);
        person.push(attribute.ldap_name());
    }
    s.add_object_class(
        ObjectClass::new(&oid("2.1"), PERSON_CLASS, ClassKind::Auxiliary)
            .may(&person)
            .description("Rollcall user: license, account, state and custom attributes"),
    );
    s.add_object_class(
        ObjectClass::new(&oid("2.2"), ROLE_CLASS, ClassKind::Auxiliary)
            .may(&["roleType", "administrator", "description"])
            .description("Rollcall role or plain group"),
    );
    s.add_object_class(
        ObjectClass::new(&oid("2.3"), ACCOUNT_CLASS, ClassKind::Auxiliary)
            .may(&["parentAccount", "licensed"])
            .description("Rollcall account of partners or customers"),
    );
    s.add_object_class(
        ObjectClass::new("2.5.6.11", SERVICE_CLASS, ClassKind::Structural)
            .sup("top")
            .must(&["cn"])
            .may(&["description", "l", "ou", "seeAlso"]),
    );
    s
}
