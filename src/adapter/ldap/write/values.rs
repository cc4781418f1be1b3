//! RFC 4511 value semantics every branch shares: how a modify changes values, and refusals' codes.

use rollcall_ldap::filter::values_equal;
use rollcall_ldap::{LdapError, LdapResultCode as Code, Modification, ModifyOp, Schema};

use super::super::schema::branch_classes;
use super::super::tree::Branch;

pub(super) fn text(values: &[Vec<u8>], attr: &str) -> Result<Vec<String>, LdapError> {
    values
        .iter()
        .map(|v| {
            String::from_utf8(v.clone()).map_err(|_| {
                LdapError::new(Code::InvalidAttributeSyntax, format!("{attr}: not UTF-8"))
            })
        })
        .collect()
}

pub(super) fn single(values: &[String], attr: &str) -> Result<Option<String>, LdapError> {
    match values {
        [] => Ok(None),
        [v] => Ok(Some(v.clone())),
        _ => Err(LdapError::new(
            Code::ConstraintViolation,
            format!("{attr} is single-valued"),
        )),
    }
}

pub(super) fn boolean(value: Option<String>, attr: &str) -> Result<Option<bool>, LdapError> {
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

pub(super) fn boolean_value(b: bool) -> String {
    if b { "TRUE" } else { "FALSE" }.to_owned()
}

fn undefined(attr: &str) -> LdapError {
    LdapError::new(
        Code::UndefinedAttributeType,
        format!("{attr} is not an attribute type of this directory (see cn=subschema)"),
    )
}

/// attributeOrValueExists: the value is there already (RFC 4511 §4.6 add).
pub(super) fn exists(attr: &str, value: &str) -> LdapError {
    LdapError::new(
        Code::AttributeOrValueExists,
        format!("{attr}: value {value:?} is already present"),
    )
}

/// noSuchAttribute: a delete names a value the entry does not hold.
pub(super) fn no_such_value(attr: &str, value: &str) -> LdapError {
    LdapError::new(
        Code::NoSuchAttribute,
        format!("{attr}: value {value:?} is not present"),
    )
}

/// noSuchAttribute: a delete of a whole attribute the entry does not have.
pub(super) fn no_such_attribute(attr: &str) -> LdapError {
    LdapError::new(
        Code::NoSuchAttribute,
        format!("{attr}: the entry has no value to delete"),
    )
}

/// constraintViolation, the code for too many values (RFC 4511 Appendix A; OpenLDAP's too): a
/// single-valued attribute takes an add only while it is empty (a replace changes its value).
pub(super) fn occupied(attr: &str) -> LdapError {
    LdapError::new(
        Code::ConstraintViolation,
        format!("{attr} is single-valued and already has a value: replace it, or delete it first"),
    )
}

pub(super) fn no_increment(attr: &str) -> LdapError {
    LdapError::new(
        Code::ConstraintViolation,
        format!("{attr}: increment is not supported (no Rollcall attribute is a counter)"),
    )
}

/// A value comparison by `attr`'s equality rule (case-insensitive for directory strings,
/// ignoring spaces and hyphens for telephone numbers, by OID for object classes).
pub(super) fn equality<'a>(schema: &'a Schema, attr: &'a str) -> impl Fn(&str, &str) -> bool + 'a {
    move |a, b| values_equal(schema, attr, a.as_bytes(), b.as_bytes())
}

/// Whether the object classes of `branch`'s entries allow `attr` (a MUST or MAY of one of
/// them), as the subschema entry publishes the classes: what a schema-aware client checks
/// before it writes, so the server answers by the same lists rather than a list of its own.
pub(super) fn allowed(schema: &Schema, branch: Branch, attr: &str) -> bool {
    branch_classes(branch)
        .iter()
        .filter_map(|c| schema.object_class(c))
        .flat_map(|c| c.must.iter().chain(&c.may))
        .any(|n| schema.same_attribute(n, attr))
}

/// Why an attribute an entry does not take from clients is refused, by what the subschema
/// says of it: one the server maintains is constraintViolation ("no user modification", as
/// OpenLDAP words it), one no class of the entry allows objectClassViolation, one that is
/// allowed but that Rollcall does not store unwillingToPerform, and only one the subschema
/// does not define undefinedAttributeType.
pub(super) fn unwritable(schema: &Schema, branch: Branch, attr: &str) -> LdapError {
    let Some(at) = schema.attribute(attr) else {
        return undefined(attr);
    };
    if at.no_user_modification {
        return LdapError::new(
            Code::ConstraintViolation,
            format!("{attr} is maintained by the server: no user modification allowed"),
        );
    }
    if allowed(schema, branch, attr) {
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

/// RFC 4511 §4.6: an add lists the values it adds (OpenLDAP answers protocolError to one that
/// does not); and no attribute of a Rollcall entry is a counter to increment (RFC 4525).
pub(super) fn check_modifications(changes: &[Modification]) -> Result<(), LdapError> {
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
/// its equality rule: adding a value that is there is attributeOrValueExists, adding another
/// to a `single`-valued attribute that has one constraintViolation; deleting a value that is not there, or a
/// whole attribute that has none, is noSuchAttribute.
pub(super) fn modified_values(
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
pub(super) fn single_value(
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
pub(super) fn restated(
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
