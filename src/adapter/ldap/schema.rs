//! Rollcall's additions to the standard LDAP schema: the attributes the LDAP view returns beyond
//! inetOrgPerson and groupOfNames, so that the subschema entry describes exactly what entries
//! carry. OIDs live under a 2.25 UUID arc (ITU-T X.667), which needs no registration.

use rollcall_ldap::schema::{AttributeType, ClassKind, ObjectClass, Schema, syntax};

const ARC: &str = "2.25.104407426530722504815627489726072451425";

fn oid(suffix: &str) -> String {
    format!("{ARC}.{suffix}")
}

pub const PERSON_CLASS: &str = "rollcallPerson";
pub const ROLE_CLASS: &str = "rollcallRole";
pub const ACCOUNT_CLASS: &str = "rollcallAccount";
pub const SERVICE_CLASS: &str = "applicationProcess";

pub fn schema() -> Schema {
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
    s.add_object_class(
        ObjectClass::new(&oid("2.1"), PERSON_CLASS, ClassKind::Auxiliary)
            .may(&["licenseType", "account", "active", "principalKind"])
            .description("Rollcall user: license, account and state"),
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
