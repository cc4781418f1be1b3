//! LDAP writes mapped onto the same service operations SCIM uses: add creates, modify changes
//! under the same rules (license checks on `active`), delete anonymises a user (there is no hard
//! delete), modifyDN renames. Attribute names are matched case-insensitively, values by their
//! attribute's equality rule.
//!
//! A write either changes what it asks for or is refused with the result code RFC 4511 gives
//! the reason: nothing a client sends is dropped in silence. What Rollcall derives rather than
//! stores (object classes, `principalKind`, a role's type) may be said again as it is, and is
//! refused when a write would change it.

use std::cell::RefCell;
use std::collections::HashSet;

use rollcall_ldap::filter::values_equal;
use rollcall_ldap::schema::ClassKind;
use rollcall_ldap::{
    AddRequest, Attribute, Dn, LdapError, LdapResultCode as Code, Modification, ModifyDnRequest,
    ModifyOp, ModifyRequest, PasswordModified, PasswordModify, Schema,
};

use super::error::ldap_error;
use super::schema::branch_classes;
use super::tree::{Branch, Target};
use super::{LdapDirectory, LdapSession};
use crate::model::{
    Account, AccountId, CustomAttribute, CustomAttributes, CustomType, LicenseType, MultiValue,
    PrincipalKind, Role, RoleType, User, UserId,
};
use crate::service::{Actor, NewUser, ServiceError};

fn text(values: &[Vec<u8>], attr: &str) -> Result<Vec<String>, LdapError> {
    values
        .iter()
        .map(|v| {
            String::from_utf8(v.clone()).map_err(|_| {
                LdapError::new(Code::InvalidAttributeSyntax, format!("{attr}: not UTF-8"))
            })
        })
        .collect()
}

fn single(values: &[String], attr: &str) -> Result<Option<String>, LdapError> {
    match values {
        [] => Ok(None),
        [v] => Ok(Some(v.clone())),
        _ => Err(LdapError::new(
            Code::ConstraintViolation,
            format!("{attr} is single-valued"),
        )),
    }
}

fn boolean(value: Option<String>, attr: &str) -> Result<Option<bool>, LdapError> {
    match value.as_deref() {
        None => Ok(None),
        Some("TRUE") => Ok(Some(true)),
        Some("FALSE") => Ok(Some(false)),
        Some(_) => Err(LdapError::new(
            Code::InvalidAttributeSyntax,
            format!("{attr} must be TRUE or FALSE"),
        )),
    }
}

fn boolean_value(b: bool) -> String {
    if b { "TRUE" } else { "FALSE" }.to_owned()
}

fn undefined(attr: &str) -> LdapError {
    LdapError::new(
        Code::UndefinedAttributeType,
        format!("{attr} is not an attribute type of this directory (see cn=subschema)"),
    )
}

/// attributeOrValueExists: the value is there already (RFC 4511 §4.6 add).
fn exists(attr: &str, value: &str) -> LdapError {
    LdapError::new(
        Code::AttributeOrValueExists,
        format!("{attr}: value {value:?} is already present"),
    )
}

/// noSuchAttribute: a delete names a value the entry does not hold.
fn no_such_value(attr: &str, value: &str) -> LdapError {
    LdapError::new(
        Code::NoSuchAttribute,
        format!("{attr}: value {value:?} is not present"),
    )
}

/// noSuchAttribute: a delete of a whole attribute the entry does not have.
fn no_such_attribute(attr: &str) -> LdapError {
    LdapError::new(
        Code::NoSuchAttribute,
        format!("{attr}: the entry has no value to delete"),
    )
}

/// attributeOrValueExists, as for a value that is there: a single-valued attribute takes an
/// add only while it is empty (a replace changes its value).
fn occupied(attr: &str) -> LdapError {
    LdapError::new(
        Code::AttributeOrValueExists,
        format!("{attr} is single-valued and already has a value: replace it, or delete it first"),
    )
}

fn no_increment(attr: &str) -> LdapError {
    LdapError::new(
        Code::ConstraintViolation,
        format!("{attr}: increment is not supported (no Rollcall attribute is a counter)"),
    )
}

/// A value comparison by `attr`'s equality rule (case-insensitive for directory strings,
/// ignoring spaces and hyphens for telephone numbers, by OID for object classes).
fn equality<'a>(schema: &'a Schema, attr: &'a str) -> impl Fn(&str, &str) -> bool + 'a {
    move |a, b| values_equal(schema, attr, a.as_bytes(), b.as_bytes())
}

/// Why an attribute an entry does not take from clients is refused, by what the subschema
/// says of it: one the server maintains is constraintViolation ("no user modification", as
/// OpenLDAP words it), one no class of the entry allows objectClassViolation, one that is
/// allowed but that Rollcall does not store unwillingToPerform, and only one the subschema
/// does not define undefinedAttributeType.
fn unwritable(schema: &Schema, branch: Branch, attr: &str) -> LdapError {
    let Some(at) = schema.attribute(attr) else {
        return undefined(attr);
    };
    if at.no_user_modification {
        return LdapError::new(
            Code::ConstraintViolation,
            format!("{attr} is maintained by the server: no user modification allowed"),
        );
    }
    let allowed = branch_classes(branch)
        .iter()
        .filter_map(|c| schema.object_class(c))
        .flat_map(|c| c.must.iter().chain(&c.may))
        .any(|n| schema.same_attribute(n, attr));
    if allowed {
        LdapError::unwilling(format!(
            "{attr} is not stored by Rollcall on entries under ou={}",
            branch.ou()
        ))
    } else {
        LdapError::new(
            Code::ObjectClassViolation,
            format!(
                "{attr} is not allowed on entries under ou={} ({})",
                branch.ou(),
                branch_classes(branch).join(", ")
            ),
        )
    }
}

/// Target of a write: must name a record.
fn record(dir: &LdapDirectory, dn: &Dn) -> Result<(Branch, String), LdapError> {
    match dir.tree.resolve(dn) {
        Target::Record(b, name) => Ok((b, name)),
        Target::Missing { matched } => Err(LdapError::no_such_object().with_matched(matched)),
        Target::Base | Target::Branch(_) => Err(LdapError::unwilling(
            "the base and branch entries are fixed",
        )),
        Target::Outside => Err(LdapError::no_such_object()),
    }
}

/// RFC 4511 §4.7: each attribute of an added entry is listed once (as OpenLDAP says it,
/// attributeOrValueExists for one "provided more than once"), each with at least one value
/// (`vals SET SIZE (1..MAX)`: a protocolError otherwise).
fn check_add_attributes(schema: &Schema, attrs: &[Attribute]) -> Result<(), LdapError> {
    for (i, a) in attrs.iter().enumerate() {
        if a.values.is_empty() {
            return Err(LdapError::new(
                Code::ProtocolError,
                format!("{}: an added attribute needs at least one value", a.name),
            ));
        }
        if attrs[..i]
            .iter()
            .any(|b| schema.same_attribute(&a.name, &b.name))
        {
            return Err(LdapError::new(
                Code::AttributeOrValueExists,
                format!(
                    "{} is listed more than once: list each attribute once, with all its values",
                    a.name
                ),
            ));
        }
    }
    Ok(())
}

/// The objectClass of an added entry: required, naming only classes that entries of the
/// branch have, a structural one among them (the entry gets the branch's classes, so
/// `inetOrgPerson` alone is enough for a person).
fn check_add_classes(
    schema: &Schema,
    branch: Branch,
    attrs: &[Attribute],
) -> Result<(), LdapError> {
    let classes = branch_classes(branch);
    let violation = |why: String| {
        LdapError::new(
            Code::ObjectClassViolation,
            format!(
                "{why}: entries under ou={} are {}",
                branch.ou(),
                classes.join(", ")
            ),
        )
    };
    let Some(attribute) = attrs
        .iter()
        .find(|a| schema.same_attribute(&a.name, "objectClass"))
    else {
        return Err(violation("the entry has no objectClass".into()));
    };
    let values = text(&attribute.values, &attribute.name)?;
    let same = equality(schema, "objectClass");
    if let Some(other) = values.iter().find(|v| !classes.iter().any(|c| same(c, v))) {
        return Err(violation(format!(
            "objectClass {other:?} is not allowed here"
        )));
    }
    let structural = values.iter().any(|v| {
        schema
            .object_class(v)
            .is_some_and(|c| c.kind == ClassKind::Structural)
    });
    if !structural {
        return Err(violation("no structural object class is named".into()));
    }
    Ok(())
}

/// RFC 4511 §4.6: an add lists the values it adds (OpenLDAP answers protocolError to one that
/// does not); and no attribute of a Rollcall entry is a counter to increment (RFC 4525).
fn check_modifications(changes: &[Modification]) -> Result<(), LdapError> {
    for Modification { op, attribute } in changes {
        match op {
            ModifyOp::Add if attribute.values.is_empty() => {
                return Err(LdapError::new(
                    Code::ProtocolError,
                    format!("add: {} lists no values", attribute.name),
                ));
            }
            ModifyOp::Increment => return Err(no_increment(&attribute.name)),
            _ => {}
        }
    }
    Ok(())
}

/// Applies one modification to the values an attribute has now (RFC 4511 §4.6), `same` being
/// its equality rule: adding a value that is there is attributeOrValueExists, as is adding to
/// a `single`-valued attribute that has a value; deleting a value that is not there, or a
/// whole attribute that has none, is noSuchAttribute.
fn modified_values(
    attr: &str,
    current: Vec<String>,
    op: ModifyOp,
    values: &[String],
    single: bool,
    same: &dyn Fn(&str, &str) -> bool,
) -> Result<Vec<String>, LdapError> {
    let out = match op {
        ModifyOp::Replace => {
            let mut out: Vec<String> = Vec::new();
            for v in values {
                if out.iter().any(|c| same(c, v)) {
                    return Err(exists(attr, v));
                }
                out.push(v.clone());
            }
            out
        }
        ModifyOp::Add if single && !current.is_empty() => {
            return Err(match values.iter().find(|v| same(&current[0], v)) {
                Some(v) => exists(attr, v),
                None => occupied(attr),
            });
        }
        ModifyOp::Add => {
            let mut out = current;
            for v in values {
                if out.iter().any(|c| same(c, v)) {
                    return Err(exists(attr, v));
                }
                out.push(v.clone());
            }
            out
        }
        ModifyOp::Delete if values.is_empty() => {
            if current.is_empty() {
                return Err(no_such_attribute(attr));
            }
            Vec::new()
        }
        ModifyOp::Delete => {
            let mut out = current;
            for v in values {
                let before = out.len();
                out.retain(|c| !same(c, v));
                if out.len() == before {
                    return Err(no_such_value(attr, v));
                }
            }
            out
        }
        ModifyOp::Increment => return Err(no_increment(attr)),
    };
    if single && out.len() > 1 {
        return Err(LdapError::new(
            Code::ConstraintViolation,
            format!("{attr} is single-valued"),
        ));
    }
    Ok(out)
}

/// A modification of a single-valued attribute the record keeps as one optional value.
fn single_value(
    attr: &str,
    current: Option<String>,
    op: ModifyOp,
    values: &[String],
    same: &dyn Fn(&str, &str) -> bool,
) -> Result<Option<String>, LdapError> {
    let new = modified_values(attr, current.into_iter().collect(), op, values, true, same)?;
    Ok(new.into_iter().next())
}

/// A modification of an attribute Rollcall derives rather than stores (objectClass,
/// `principalKind`, a role's `roleType`, a name that is the RDN): saying again what the entry
/// holds changes nothing and is accepted, a value that is there or missing gets RFC 4511's
/// code as anywhere else, and whatever would change it is `refused` rather than dropped.
fn restated(
    attr: &str,
    current: &[String],
    op: ModifyOp,
    values: &[String],
    same: &dyn Fn(&str, &str) -> bool,
    refused: impl FnOnce() -> LdapError,
) -> Result<(), LdapError> {
    let new = modified_values(attr, current.to_vec(), op, values, false, same)?;
    let unchanged =
        new.len() == current.len() && current.iter().all(|c| new.iter().any(|n| same(c, n)));
    if unchanged { Ok(()) } else { Err(refused()) }
}

/// `values` with the superclasses they imply (`inetOrgPerson` brings `person`), each once.
fn with_superclasses(schema: &Schema, values: &[String]) -> Vec<String> {
    let same = equality(schema, "objectClass");
    let mut out: Vec<String> = Vec::new();
    let mut todo: Vec<String> = values.to_vec();
    while let Some(v) = todo.pop() {
        if out.iter().any(|o| same(o, &v)) {
            continue;
        }
        if let Some(class) = schema.object_class(&v) {
            todo.extend(class.superiors.iter().cloned());
        }
        out.push(v);
    }
    out
}

/// A modification of objectClass, which the branch fixes: a replace may say the classes again
/// (superclasses implied), anything that would add or remove one is objectClassViolation.
fn object_class_change(
    schema: &Schema,
    branch: Branch,
    op: ModifyOp,
    values: &[String],
) -> Result<(), LdapError> {
    let classes = branch_classes(branch);
    let current: Vec<String> = classes.iter().map(|c| (*c).to_owned()).collect();
    let values = match op {
        ModifyOp::Replace => with_superclasses(schema, values),
        _ => values.to_vec(),
    };
    restated(
        "objectClass",
        &current,
        op,
        &values,
        &equality(schema, "objectClass"),
        || {
            LdapError::new(
                Code::ObjectClassViolation,
                format!(
                    "objectClass of entries under ou={} is fixed ({}): it cannot be changed",
                    branch.ou(),
                    classes.join(", ")
                ),
            )
        },
    )
}

/// A modification of the attribute that names the entry (its RDN): said again it is accepted,
/// a change is notAllowedOnRDN, since a rename is a Modify DN.
fn rdn_change(
    schema: &Schema,
    attr: &str,
    name: &str,
    op: ModifyOp,
    values: &[String],
) -> Result<(), LdapError> {
    restated(
        attr,
        &[name.to_owned()],
        op,
        values,
        &equality(schema, attr),
        || {
            LdapError::new(
                Code::NotALlowedOnRDN,
                format!("{attr} is the entry's name (its RDN): rename the entry with Modify DN"),
            )
        },
    )
}

impl LdapDirectory {
    fn user_named(&self, actor: &Actor, name: &str) -> Result<User, LdapError> {
        self.service.user_by_name(actor, name).map_err(ldap_error)
    }

    fn role_named(&self, actor: &Actor, name: &str) -> Result<Role, LdapError> {
        self.service.role_by_name(actor, name).map_err(ldap_error)
    }

    fn account_named(&self, actor: &Actor, name: &str) -> Result<Account, LdapError> {
        self.service
            .account_by_name(actor, name)
            .map_err(ldap_error)
    }
    fn dn_reference(&self, actor: &Actor, value: &str, want: Branch) -> Result<DnRef, LdapError> {
        let bad = || {
            LdapError::new(
                Code::InvalidAttributeSyntax,
                format!("{value:?} is not an entry under ou={}", want.ou()),
            )
        };
        let dn = Dn::parse(value).map_err(|_| bad())?;
        let Target::Record(b, name) = self.tree.resolve(&dn) else {
            return Err(bad());
        };
        let people =
            matches!(want, Branch::People) && matches!(b, Branch::People | Branch::Services);
        if b != want && !people {
            return Err(bad());
        }
        let unknown = |e: ServiceError| match e {
            ServiceError::NotFound { .. } => {
                LdapError::new(Code::ConstraintViolation, format!("{value} does not exist"))
            }
            e => ldap_error(e),
        };
        Ok(match want {
            Branch::People | Branch::Services => {
                DnRef::User(self.service.user_by_name(actor, &name).map_err(unknown)?.id)
            }
            Branch::Roles => return Err(bad()),
            Branch::Accounts => DnRef::Account(
                self.service
                    .account_by_name(actor, &name)
                    .map_err(unknown)?
                    .id,
            ),
        })
    }

    fn user_ref(&self, actor: &Actor, value: &str) -> Result<UserId, LdapError> {
        match self.dn_reference(actor, value, Branch::People)? {
            DnRef::User(id) => Ok(id),
            _ => Err(LdapError::other("unexpected reference")),
        }
    }

    fn account_ref(&self, actor: &Actor, value: &str) -> Result<AccountId, LdapError> {
        match self.dn_reference(actor, value, Branch::Accounts)? {
            DnRef::Account(id) => Ok(id),
            _ => Err(LdapError::other("unexpected reference")),
        }
    }
}

enum DnRef {
    User(UserId),
    Account(AccountId),
}

/// A value of `manager`, `account` or `parentAccount` as the client wrote it, with the record
/// it names: DN values are compared as records, so any spelling of a DN is the same value.
/// `record` is `None` only in a delete, for a DN that names no record: nobody's value.
struct Reference<T> {
    dn: String,
    record: Option<T>,
}

/// A modification of a single-valued DN attribute (RFC 4511 §4.6): an add only while it is
/// empty, a delete only of the value it holds, or of all of it when no value is given.
fn single_reference<T: Copy + PartialEq>(
    attr: &str,
    current: Option<T>,
    op: ModifyOp,
    value: Option<&Reference<T>>,
) -> Result<Option<T>, LdapError> {
    let Some(Reference { dn, record }) = value else {
        return match (op, current) {
            (ModifyOp::Delete, None) => Err(no_such_attribute(attr)),
            // An add lists values (`check_modifications`).
            (ModifyOp::Add, _) => Ok(current),
            _ => Ok(None),
        };
    };
    match op {
        ModifyOp::Replace => Ok(*record),
        ModifyOp::Add if current.is_some() && *record == current => Err(exists(attr, dn)),
        ModifyOp::Add if current.is_some() => Err(occupied(attr)),
        ModifyOp::Add => Ok(*record),
        ModifyOp::Delete if current.is_some() && *record == current => Ok(None),
        ModifyOp::Delete => Err(no_such_value(attr, dn)),
        ModifyOp::Increment => Err(no_increment(attr)),
    }
}

/// One attribute change to a user, with references already resolved.
enum UserChange {
    Set(UserField, Vec<String>),
    /// A custom attribute (`[custom_attributes]`), by its LDAP name.
    Custom(CustomAttribute, Vec<String>),
    Manager(Option<Reference<UserId>>),
    Account(Option<Reference<AccountId>>),
}

#[derive(Clone, Copy)]
enum UserField {
    GivenName,
    Sn,
    DisplayName,
    Mail,
    Telephone,
    Mobile,
    Title,
    EmployeeNumber,
    EmployeeType,
    Department,
    Organization,
    PreferredLanguage,
    LicenseType,
    Active,
}

fn user_field(attr: &str) -> Option<UserField> {
    use UserField as F;
    Some(match attr.to_ascii_lowercase().as_str() {
        "givenname" | "gn" => F::GivenName,
        "sn" | "surname" => F::Sn,
        "displayname" | "cn" | "commonname" => F::DisplayName,
        "mail" => F::Mail,
        "telephonenumber" => F::Telephone,
        "mobile" => F::Mobile,
        "title" => F::Title,
        "employeenumber" => F::EmployeeNumber,
        "employeetype" => F::EmployeeType,
        "departmentnumber" => F::Department,
        "o" => F::Organization,
        "preferredlanguage" => F::PreferredLanguage,
        "licensetype" => F::LicenseType,
        "active" => F::Active,
        _ => return None,
    })
}

/// The attribute a field is written as (for its equality rule and in messages).
fn field_attribute(field: UserField) -> &'static str {
    use UserField as F;
    match field {
        F::GivenName => "givenName",
        F::Sn => "sn",
        F::DisplayName => "displayName",
        F::Mail => "mail",
        F::Telephone => "telephoneNumber",
        F::Mobile => "mobile",
        F::Title => "title",
        F::EmployeeNumber => "employeeNumber",
        F::EmployeeType => "employeeType",
        F::Department => "departmentNumber",
        F::Organization => "o",
        F::PreferredLanguage => "preferredLanguage",
        F::LicenseType => "licenseType",
        F::Active => "active",
    }
}

/// The record keeps one value of every field but these.
fn multi_valued(field: UserField) -> bool {
    matches!(
        field,
        UserField::Mail | UserField::Telephone | UserField::Mobile
    )
}

fn set_field(user: &mut User, field: UserField, values: &[String]) -> crate::service::Result<()> {
    use UserField as F;
    let one = || values.first().cloned();
    let multi = |kind: Option<&str>| -> Vec<MultiValue> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| MultiValue {
                value: v.clone(),
                kind: kind.map(str::to_owned),
                primary: i == 0,
                display: None,
            })
            .collect()
    };
    let invalid = |field, reason: &str| ServiceError::Invalid {
        field,
        reason: reason.into(),
    };
    if values.len() > 1 && !matches!(field, F::Mail | F::Telephone | F::Mobile) {
        return Err(invalid("attribute", "is single-valued"));
    }
    match field {
        F::GivenName => user.name.given_name = one(),
        F::Sn => user.name.family_name = one(),
        F::DisplayName => user.display_name = one(),
        F::Mail => user.emails = multi(Some("work")),
        F::Telephone | F::Mobile => {
            let mobile = matches!(field, F::Mobile);
            user.phone_numbers.retain(|p| {
                p.kind
                    .as_deref()
                    .is_some_and(|k| k.eq_ignore_ascii_case("mobile"))
                    != mobile
            });
            user.phone_numbers
                .extend(multi(Some(if mobile { "mobile" } else { "work" })));
        }
        F::Title => user.title = one(),
        F::EmployeeNumber => user.employee_number = one(),
        F::EmployeeType => user.user_type = one(),
        F::Department => user.department = one(),
        F::Organization => user.organization = one(),
        F::PreferredLanguage => user.preferred_language = one(),
        F::LicenseType => {
            user.license = match one() {
                None => LicenseType::Employee,
                Some(v) => v
                    .parse()
                    .map_err(|_| invalid("licenseType", "must be employee, partner or customer"))?,
            }
        }
        F::Active => {
            user.active = match one().as_deref() {
                None | Some("FALSE") => false,
                Some("TRUE") => true,
                Some(_) => return Err(invalid("active", "must be TRUE or FALSE")),
            }
        }
    }
    Ok(())
}

fn current_values(user: &User, field: UserField) -> Vec<String> {
    use UserField as F;
    let opt = |o: &Option<String>| o.iter().cloned().collect::<Vec<_>>();
    let phones = |mobile: bool| {
        user.phone_numbers
            .iter()
            .filter(|p| {
                p.kind
                    .as_deref()
                    .is_some_and(|k| k.eq_ignore_ascii_case("mobile"))
                    == mobile
            })
            .map(|p| p.value.clone())
            .collect()
    };
    match field {
        F::GivenName => opt(&user.name.given_name),
        F::Sn => opt(&user.name.family_name),
        F::DisplayName => opt(&user.display_name),
        F::Mail => user.emails.iter().map(|m| m.value.clone()).collect(),
        F::Telephone => phones(false),
        F::Mobile => phones(true),
        F::Title => opt(&user.title),
        F::EmployeeNumber => opt(&user.employee_number),
        F::EmployeeType => opt(&user.user_type),
        F::Department => opt(&user.department),
        F::Organization => opt(&user.organization),
        F::PreferredLanguage => opt(&user.preferred_language),
        F::LicenseType => vec![user.license.as_str().to_owned()],
        F::Active => vec![if user.active { "TRUE" } else { "FALSE" }.to_owned()],
    }
}

/// A reference in a change: resolved for an add or replace (a DN that names nothing is refused
/// there), and for a delete only compared, so that a DN naming nothing is just not the value.
fn reference<T>(
    op: ModifyOp,
    values: &[String],
    attr: &str,
    resolve: impl Fn(&str) -> Result<T, LdapError>,
) -> Result<Option<Reference<T>>, LdapError> {
    let Some(dn) = single(values, attr)? else {
        return Ok(None);
    };
    let record = match op {
        ModifyOp::Delete => resolve(&dn).ok(),
        _ => Some(resolve(&dn)?),
    };
    Ok(Some(Reference { dn, record }))
}

/// A principal's kind decides its branch and how it signs in: set when it is created (a
/// service account under ou=services), never by a modify, which may only say it again.
fn principal_kind_change(
    schema: &Schema,
    kind: PrincipalKind,
    op: ModifyOp,
    values: &[String],
) -> Result<(), LdapError> {
    let attr = "principalKind";
    let kind = kind.as_str();
    let same = equality(schema, attr);
    restated(attr, &[kind.to_owned()], op, values, &same, || {
        LdapError::new(
            Code::ConstraintViolation,
            format!("principalKind is {kind} and cannot be changed: it is set when created"),
        )
    })
}

/// The changes a modify (or an add, as replaces on a new record) makes to `user`, resolved.
/// `uid` (a service's `cn`), which is the user's name, can only be said again, not changed
/// here (a rename is a Modify DN); objectClass and `principalKind` likewise.
fn user_changes(
    dir: &LdapDirectory,
    actor: &Actor,
    user: &User,
    changes: &[Modification],
) -> Result<Vec<(ModifyOp, UserChange)>, LdapError> {
    let schema = &*dir.schema;
    let branch = super::entry::user_branch(user);
    let mut out = Vec::new();
    for Modification { op, attribute } in changes {
        let name = attribute.name.as_str();
        let values = text(&attribute.values, name)?;
        let change = match name.to_ascii_lowercase().as_str() {
            "uid" => {
                let same = matches!(op, ModifyOp::Replace | ModifyOp::Add)
                    && values
                        .iter()
                        .all(|v| crate::model::fold(v) == crate::model::fold(&user.user_name));
                if !same {
                    return Err(LdapError::new(
                        Code::NotALlowedOnRDN,
                        "uid is the entry's name (its RDN): rename the entry with Modify DN",
                    ));
                }
                continue;
            }
            "manager" => {
                UserChange::Manager(reference(*op, &values, name, |v| dir.user_ref(actor, v))?)
            }
            "account" => UserChange::Account(reference(*op, &values, name, |v| {
                dir.account_ref(actor, v)
            })?),
            "objectclass" => {
                object_class_change(schema, branch, *op, &values)?;
                continue;
            }
            "principalkind" => {
                principal_kind_change(schema, user.kind, *op, &values)?;
                continue;
            }
            // A service account's cn is its name, as uid is a person's.
            "cn" | "commonname" if branch == Branch::Services => {
                rdn_change(schema, name, &user.user_name, *op, &values)?;
                continue;
            }
            "userpassword" => {
                return Err(LdapError::unwilling(
                    "change userPassword on its own, or with the Password Modify operation",
                ));
            }
            _ => match user_field(name) {
                Some(field) => UserChange::Set(field, values),
                None => {
                    let custom = &dir.service.policy().custom;
                    let declared = custom
                        .attributes
                        .iter()
                        .find(|a| a.ldap_name().eq_ignore_ascii_case(name));
                    match declared {
                        Some(declared) => UserChange::Custom(declared.clone(), values),
                        None => return Err(unwritable(schema, branch, name)),
                    }
                }
            },
        };
        out.push((*op, change));
    }
    Ok(out)
}

fn apply_user_changes(
    user: &mut User,
    changes: &[(ModifyOp, UserChange)],
    custom: &CustomAttributes,
    schema: &Schema,
) -> Result<(), LdapError> {
    for (op, change) in changes {
        match change {
            UserChange::Manager(m) => {
                user.manager = single_reference("manager", user.manager, *op, m.as_ref())?;
            }
            UserChange::Account(a) => {
                user.account = single_reference("account", user.account, *op, a.as_ref())?;
            }
            UserChange::Custom(attribute, values) => {
                let name = attribute.ldap_name();
                let key = custom.key(attribute);
                let current = user
                    .extensions
                    .get(&key)
                    .map(super::entry::ldap_values)
                    .unwrap_or_default();
                let same = equality(schema, name);
                let single = !attribute.multi_valued;
                let new = modified_values(name, current, *op, values, single, &same)?;
                match custom_value(attribute, &new).map_err(ldap_error)? {
                    Some(value) => user.extensions.insert(key, value),
                    None => user.extensions.remove(&key),
                };
            }
            UserChange::Set(field, values) => {
                let name = field_attribute(*field);
                let current = current_values(user, *field);
                let single = !multi_valued(*field);
                let new =
                    modified_values(name, current, *op, values, single, &equality(schema, name))?;
                set_field(user, *field, &new).map_err(ldap_error)?;
            }
        }
    }
    Ok(())
}

/// Changes `user` in one step. The service's change function can only fail with a
/// `ServiceError`, so an LDAP refusal inside it (a value that is there, or is not) is kept
/// aside and answered with its own result code rather than as constraintViolation.
fn update_user(
    dir: &LdapDirectory,
    actor: &Actor,
    id: UserId,
    change: impl Fn(&mut User) -> Result<(), LdapError>,
) -> Result<(), LdapError> {
    let refused = RefCell::new(None);
    dir.service
        .update_user(actor, id, None, |u| {
            refused.replace(None);
            change(u).map_err(|e| {
                let reason = e.message.clone();
                refused.replace(Some(e));
                ServiceError::invalid("LDAP modify", reason)
            })
        })
        .map(drop)
        .map_err(|e| refused.take().unwrap_or_else(|| ldap_error(e)))
}

/// LDAP values as the JSON value a custom attribute of this type holds (`None`: no value).
fn custom_value(
    attribute: &CustomAttribute,
    values: &[String],
) -> crate::service::Result<Option<serde_json::Value>> {
    use serde_json::Value;
    let invalid = |v: &str| {
        ServiceError::invalid(
            "custom attribute",
            format!(
                "{}: {v:?} is not a {:?}",
                attribute.ldap_name(),
                attribute.kind
            ),
        )
    };
    let one = |v: &String| -> crate::service::Result<Value> {
        Ok(match attribute.kind {
            CustomType::String | CustomType::DateTime => Value::String(v.clone()),
            CustomType::Boolean => match v.to_ascii_uppercase().as_str() {
                "TRUE" => Value::Bool(true),
                "FALSE" => Value::Bool(false),
                _ => return Err(invalid(v)),
            },
            CustomType::Integer => Value::from(v.trim().parse::<i64>().map_err(|_| invalid(v))?),
            CustomType::Decimal => {
                serde_json::Number::from_f64(v.trim().parse::<f64>().map_err(|_| invalid(v))?)
                    .map(Value::Number)
                    .ok_or_else(|| invalid(v))?
            }
        })
    };
    let converted: Vec<Value> = values.iter().map(one).collect::<Result<_, _>>()?;
    Ok(match (attribute.multi_valued, converted.len()) {
        (_, 0) => None,
        (true, _) => Some(Value::Array(converted)),
        (false, 1) => converted.into_iter().next(),
        (false, _) => {
            return Err(ServiceError::invalid(
                "custom attribute",
                format!("{} takes one value", attribute.ldap_name()),
            ));
        }
    })
}

pub(super) fn add(
    dir: &LdapDirectory,
    actor: &Actor,
    request: AddRequest,
) -> Result<(), LdapError> {
    let (branch, name) = record(dir, &request.dn)?;
    let attrs = &request.attributes;
    let schema = &*dir.schema;
    check_add_attributes(schema, attrs)?;
    check_add_classes(schema, branch, attrs)?;
    // Checked above: the entry gets the branch's classes.
    let attrs = attrs
        .iter()
        .filter(|a| !schema.same_attribute(&a.name, "objectClass"));
    match branch {
        Branch::People | Branch::Services => {
            let mut user = User::new(name);
            if branch == Branch::Services {
                user.kind = PrincipalKind::Bind;
            }
            let mut password = None;
            let mut changes = Vec::new();
            for a in attrs {
                if a.name.eq_ignore_ascii_case("userPassword") {
                    password = single(&text(&a.values, &a.name)?, &a.name)?;
                } else if a.name.eq_ignore_ascii_case("principalKind") && branch == Branch::Services
                {
                    let kind = single(&text(&a.values, &a.name)?, &a.name)?;
                    user.kind = match kind.as_deref() {
                        Some("api") => PrincipalKind::Api,
                        None | Some("bind") => PrincipalKind::Bind,
                        Some(_) => {
                            return Err(LdapError::new(
                                Code::ConstraintViolation,
                                "principalKind of a service is api or bind",
                            ));
                        }
                    };
                } else if !(branch == Branch::Services && a.name.eq_ignore_ascii_case("cn")) {
                    changes.push(Modification {
                        op: ModifyOp::Replace,
                        attribute: a.clone(),
                    });
                }
            }
            let changes = user_changes(dir, actor, &user, &changes)?;
            apply_user_changes(&mut user, &changes, &dir.service.policy().custom, schema)?;
            // A hash exported by another directory (a migration from OpenLDAP) is stored with
            // the user, in one step.
            match password.take_if(|p| crate::password::looks_like_hash(p)) {
                Some(hash) => dir.service.create_user_with_hash(actor, user, &hash),
                None => dir.service.create_user(actor, NewUser { user, password }),
            }
            .map(drop)
            .map_err(ldap_error)
        }
        Branch::Roles => {
            let mut role = Role::new(name, None);
            let mut members = Vec::new();
            for a in attrs {
                let values = text(&a.values, &a.name)?;
                match a.name.to_ascii_lowercase().as_str() {
                    "roletype" => {
                        role.role_type = match single(&values, &a.name)? {
                            None => None,
                            Some(v) => Some(v.parse::<RoleType>().map_err(|_| {
                                LdapError::new(
                                    Code::ConstraintViolation,
                                    "roleType is employee, partner, customer or guest",
                                )
                            })?),
                        }
                    }
                    "description" => role.settings.description = single(&values, &a.name)?,
                    "member" => {
                        for v in &values {
                            let id = dir.user_ref(actor, v)?;
                            if members.contains(&id) {
                                return Err(exists(&a.name, v));
                            }
                            members.push(id);
                        }
                    }
                    // A new role is not the Administrator System Role: saying so is harmless.
                    "administrator" => {
                        role_administrator(schema, false, ModifyOp::Replace, &values)?
                    }
                    "cn" => {}
                    _ => return Err(unwritable(schema, branch, &a.name)),
                }
            }
            dir.service
                .create_role_with_members(actor, role, &members)
                .map(drop)
                .map_err(ldap_error)
        }
        Branch::Accounts => {
            let mut account = Account::new(name);
            for a in attrs {
                let values = text(&a.values, &a.name)?;
                match a.name.to_ascii_lowercase().as_str() {
                    "parentaccount" => {
                        account.parent = match single(&values, &a.name)? {
                            Some(v) => Some(dir.account_ref(actor, &v)?),
                            None => None,
                        }
                    }
                    "licensed" => {
                        account.licensed =
                            boolean(single(&values, &a.name)?, &a.name)?.unwrap_or(false)
                    }
                    "o" => {}
                    _ => return Err(unwritable(schema, branch, &a.name)),
                }
            }
            dir.service
                .create_account(actor, account)
                .map(drop)
                .map_err(ldap_error)
        }
    }
}

/// The Administrator System Role flag is set where administrators are managed (SCIM, the
/// admin UI), never over LDAP: a write may only say it again.
fn role_administrator(
    schema: &Schema,
    current: bool,
    op: ModifyOp,
    values: &[String],
) -> Result<(), LdapError> {
    let attr = "administrator";
    restated(
        attr,
        &[boolean_value(current)],
        op,
        values,
        &equality(schema, attr),
        || {
            LdapError::new(
                Code::ConstraintViolation,
                "administrator cannot be changed over LDAP: make a role the Administrator System \
             Role with SCIM or the admin UI",
            )
        },
    )
}

/// A role's type decides who may hold it and what it may be granted, so it is set when the
/// role is created (or with SCIM), not by an LDAP modify: a modify may only say it again.
fn role_type(
    schema: &Schema,
    current: Option<RoleType>,
    op: ModifyOp,
    values: &[String],
) -> Result<(), LdapError> {
    let attr = "roleType";
    let current: Vec<String> = current.iter().map(|t| t.as_str().to_owned()).collect();
    restated(attr, &current, op, values, &equality(schema, attr), || {
        LdapError::new(
            Code::ConstraintViolation,
            "roleType cannot be changed over LDAP: it is set when the role is created (or \
             with SCIM)",
        )
    })
}

/// One modification of a role's `member` values, which are compared as the users they name:
/// adding a member is attributeOrValueExists, deleting a non-member noSuchAttribute.
fn member_change(
    dir: &LdapDirectory,
    actor: &Actor,
    members: &mut HashSet<UserId>,
    op: ModifyOp,
    values: &[String],
) -> Result<(), LdapError> {
    let attr = "member";
    match op {
        ModifyOp::Replace => {
            let mut new = HashSet::new();
            for v in values {
                if !new.insert(dir.user_ref(actor, v)?) {
                    return Err(exists(attr, v));
                }
            }
            *members = new;
        }
        ModifyOp::Add => {
            for v in values {
                if !members.insert(dir.user_ref(actor, v)?) {
                    return Err(exists(attr, v));
                }
            }
        }
        ModifyOp::Delete if values.is_empty() => {
            if members.is_empty() {
                return Err(no_such_attribute(attr));
            }
            members.clear();
        }
        ModifyOp::Delete => {
            for v in values {
                // A DN that names no user is no member either.
                let held = dir.user_ref(actor, v).is_ok_and(|id| members.remove(&id));
                if !held {
                    return Err(no_such_value(attr, v));
                }
            }
        }
        ModifyOp::Increment => return Err(no_increment(attr)),
    }
    Ok(())
}

pub(super) fn modify(
    dir: &LdapDirectory,
    actor: &Actor,
    request: ModifyRequest,
) -> Result<(), LdapError> {
    let (branch, name) = record(dir, &request.dn)?;
    check_modifications(&request.changes)?;
    let schema = &*dir.schema;
    match branch {
        Branch::People | Branch::Services => {
            let user = dir.user_named(actor, &name)?;
            if let [
                Modification {
                    op: ModifyOp::Replace | ModifyOp::Add,
                    attribute,
                },
            ] = request.changes.as_slice()
                && attribute.name.eq_ignore_ascii_case("userPassword")
            {
                let password = single(&text(&attribute.values, &attribute.name)?, &attribute.name)?
                    .ok_or_else(|| LdapError::new(Code::ConstraintViolation, "empty password"))?;
                let result = if crate::password::looks_like_hash(&password) {
                    dir.service.import_password_hash(actor, user.id, &password)
                } else {
                    dir.service.set_password(actor, user.id, &password)
                };
                return result.map(drop).map_err(ldap_error);
            }
            // Deleting `pwdAccountLockedTime` is how LDAP tools unlock an account (as under
            // OpenLDAP's ppolicy); a lock itself comes only from failed sign-ins.
            if let [
                Modification {
                    op: ModifyOp::Delete,
                    attribute,
                },
            ] = request.changes.as_slice()
                && attribute.name.eq_ignore_ascii_case("pwdAccountLockedTime")
            {
                return dir
                    .service
                    .unlock_user(actor, user.id)
                    .map(drop)
                    .map_err(ldap_error);
            }
            let changes = user_changes(dir, actor, &user, &request.changes)?;
            let custom = std::sync::Arc::clone(&dir.service.policy().custom);
            update_user(dir, actor, user.id, |u| {
                apply_user_changes(u, &changes, &custom, schema)
            })
        }
        Branch::Roles => {
            let role = dir.role_named(actor, &name)?;
            // The members are read only for a modify of them (a large role is a long read).
            let of_members = |m: &Modification| m.attribute.name.eq_ignore_ascii_case("member");
            let current: HashSet<UserId> = if request.changes.iter().any(of_members) {
                dir.service
                    .role_members(actor, role.id)
                    .map_err(ldap_error)?
                    .into_iter()
                    .collect()
            } else {
                HashSet::new()
            };
            let mut members = current.clone();
            let mut replaced = role.clone();
            for Modification { op, attribute } in &request.changes {
                let attr = attribute.name.as_str();
                let values = text(&attribute.values, attr)?;
                match attr.to_ascii_lowercase().as_str() {
                    "member" => member_change(dir, actor, &mut members, *op, &values)?,
                    "description" => {
                        let old = replaced.settings.description.take();
                        replaced.settings.description =
                            single_value(attr, old, *op, &values, &equality(schema, attr))?;
                    }
                    "roletype" => role_type(schema, role.role_type, *op, &values)?,
                    "administrator" => {
                        role_administrator(schema, role.administrator, *op, &values)?
                    }
                    "objectclass" => object_class_change(schema, branch, *op, &values)?,
                    "cn" => rdn_change(schema, attr, &role.name, *op, &values)?,
                    _ => return Err(unwritable(schema, branch, attr)),
                }
            }
            let add: Vec<UserId> = members.difference(&current).copied().collect();
            let remove: Vec<UserId> = current.difference(&members).copied().collect();
            dir.service
                .change_role(actor, role.id, replaced, &add, &remove)
                .map(drop)
                .map_err(ldap_error)
        }
        Branch::Accounts => {
            let account = dir.account_named(actor, &name)?;
            let mut replaced = account.clone();
            for Modification { op, attribute } in &request.changes {
                let attr = attribute.name.as_str();
                let values = text(&attribute.values, attr)?;
                match attr.to_ascii_lowercase().as_str() {
                    "parentaccount" => {
                        let parent = reference(*op, &values, attr, |v| dir.account_ref(actor, v))?;
                        replaced.parent =
                            single_reference(attr, replaced.parent, *op, parent.as_ref())?;
                    }
                    "licensed" => {
                        let old = Some(boolean_value(replaced.licensed));
                        let new = single_value(attr, old, *op, &values, &equality(schema, attr))?;
                        replaced.licensed = boolean(new, attr)?.unwrap_or(false);
                    }
                    "objectclass" => object_class_change(schema, branch, *op, &values)?,
                    "o" => rdn_change(schema, attr, &account.name, *op, &values)?,
                    _ => return Err(unwritable(schema, branch, attr)),
                }
            }
            dir.service
                .replace_account(actor, account.id, replaced, Some(account.version))
                .map(drop)
                .map_err(ldap_error)
        }
    }
}

pub(super) fn delete(dir: &LdapDirectory, actor: &Actor, dn: &Dn) -> Result<(), LdapError> {
    let (branch, name) = record(dir, dn)?;
    match branch {
        Branch::People | Branch::Services => {
            let user = dir.user_named(actor, &name)?;
            dir.service
                .anonymise_user(actor, user.id, None)
                .map_err(ldap_error)
        }
        Branch::Roles => {
            let role = dir.role_named(actor, &name)?;
            dir.service
                .delete_role(actor, role.id, None)
                .map_err(ldap_error)
        }
        Branch::Accounts => {
            let account = dir.account_named(actor, &name)?;
            dir.service
                .delete_account(actor, account.id, None)
                .map_err(ldap_error)
        }
    }
}

pub(super) fn modify_dn(
    dir: &LdapDirectory,
    actor: &Actor,
    request: ModifyDnRequest,
) -> Result<(), LdapError> {
    let (branch, name) = record(dir, &request.dn)?;
    if let Some(superior) = &request.new_superior
        && *superior != request.dn.parent().unwrap_or_else(Dn::root)
    {
        return Err(LdapError::unwilling("entries cannot move between branches"));
    }
    let new_name = request
        .new_rdn
        .get(branch.naming())
        .filter(|_| request.new_rdn.avas().len() == 1)
        .ok_or_else(|| {
            LdapError::new(
                Code::NamingViolation,
                format!(
                    "the RDN of an entry under ou={} is {}=…",
                    branch.ou(),
                    branch.naming()
                ),
            )
        })?
        .to_owned();
    match branch {
        Branch::People | Branch::Services => {
            let user = dir.user_named(actor, &name)?;
            dir.service
                .update_user(actor, user.id, None, |u| {
                    u.user_name.clone_from(&new_name);
                    Ok(())
                })
                .map(drop)
                .map_err(ldap_error)
        }
        Branch::Roles => {
            let role = dir.role_named(actor, &name)?;
            let mut replaced = role.clone();
            replaced.name = new_name;
            dir.service
                .replace_role(actor, role.id, replaced, Some(role.version))
                .map(drop)
                .map_err(ldap_error)
        }
        Branch::Accounts => {
            let account = dir.account_named(actor, &name)?;
            let mut replaced = account.clone();
            replaced.name = new_name;
            dir.service
                .replace_account(actor, account.id, replaced, Some(account.version))
                .map(drop)
                .map_err(ldap_error)
        }
    }
}

/// RFC 3062. A user changing its own password gives the old one; an administrator (anyone with
/// Edit on the target) resets without it. Without a new password, one is generated and returned.
pub(super) fn password_modify(
    dir: &LdapDirectory,
    session: &LdapSession,
    request: PasswordModify,
) -> Result<PasswordModified<LdapSession>, LdapError> {
    let actor = &session.actor;
    let own = match (&request.user, &session.dn) {
        (None, Some(_)) => true,
        (None, None) => return Err(LdapError::insufficient_access()),
        (Some(target), Some(me)) => target == me,
        (Some(_), None) => return Err(LdapError::insufficient_access()),
    };
    let generated = request.new_password.is_none();
    let new_password = request
        .new_password
        .clone()
        .unwrap_or_else(|| dir.service.generate_password());
    let target = match &request.user {
        Some(dn) => match record(dir, dn)? {
            (Branch::People | Branch::Services, name) => dir.user_named(actor, &name)?.id,
            _ => return Err(LdapError::unwilling("only users have passwords")),
        },
        None => match actor.principal {
            crate::service::Principal::User(id) => id,
            _ => return Err(LdapError::insufficient_access()),
        },
    };
    let lifted = match (&request.old_password, own) {
        (Some(old), true) => dir
            .service
            .change_own_password(actor, old, &new_password)
            .map(|_| Some(session.with_own_password())),
        _ => dir
            .service
            .set_password(actor, target, &new_password)
            .map(|_| None),
    };
    let session = lifted.map_err(|e| match e {
        ServiceError::InvalidCredentials => {
            LdapError::new(Code::InvalidCredentials, "the old password is not correct")
        }
        e => ldap_error(e),
    })?;
    Ok(PasswordModified {
        generated: generated.then_some(new_password),
        session,
    })
}
