//! What the branch fixes, not the client: an entry's object classes and its name (RDN).

use rollcall_ldap::schema::ClassKind;
use rollcall_ldap::{Attribute, LdapError, LdapResultCode as Code, ModifyOp, Schema};

use super::super::schema::branch_classes;
use super::super::tree::Branch;
use super::values::{equality, restated, text};

/// RFC 4511 §4.7: each attribute of an added entry is listed once (as OpenLDAP says it,
/// attributeOrValueExists for one "provided more than once"), each with at least one value
/// (`vals SET SIZE (1..MAX)`: a protocolError otherwise).
pub(super) fn check_add_attributes(schema: &Schema, attrs: &[Attribute]) -> Result<(), LdapError> {
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
pub(super) fn check_add_classes(
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
pub(super) fn object_class_change(
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
pub(super) fn rdn_change(
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
