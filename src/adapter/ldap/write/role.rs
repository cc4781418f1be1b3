//! The roles branch: description and members are written, type and administrator only restated.

use std::collections::HashSet;

use rollcall_ldap::{Attribute, LdapError, LdapResultCode as Code, Modification, ModifyOp, Schema};

use super::super::LdapDirectory;
use super::super::error::ldap_error;
use super::super::tree::Branch;
use super::classes::{object_class_change, rdn_change};
use super::values::{
    boolean_value, equality, exists, no_increment, no_such_attribute, no_such_value, restated,
    single, single_value, text, unwritable,
};
use crate::model::{Role, RoleType, UserId};
use crate::service::{Actor, ServiceError};

/// Adds the role `name`, with its members.
pub(super) fn add<'a>(
    dir: &LdapDirectory,
    actor: &Actor,
    name: String,
    attrs: impl Iterator<Item = &'a Attribute>,
) -> Result<(), LdapError> {
    let schema = &*dir.schema;
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
            "administrator" => role_administrator(schema, false, ModifyOp::Replace, &values)?,
            // The name is the DN's: the add may say it again, not give the role another.
            "cn" => rdn_change(schema, &a.name, &role.name, ModifyOp::Replace, &values)?,
            _ => return Err(unwritable(schema, Branch::Roles, &a.name)),
        }
    }
    dir.service
        .create_role_with_members(actor, role, &members)
        .map(drop)
        .map_err(ldap_error)
}

/// How many times a modify is worked out again when the role changed while it was.
const MODIFY_TRIES: usize = 8;

/// Modifies the role `name`: its settings and its members in one change. The change is
/// worked out from the role and its members as read, and stored only if neither has changed
/// since (else worked out again): a concurrent change is neither undone nor misjudged.
pub(super) fn modify(
    dir: &LdapDirectory,
    actor: &Actor,
    name: &str,
    changes: &[Modification],
) -> Result<(), LdapError> {
    let mut tries = 1;
    loop {
        let (role, add, remove) = planned(dir, actor, name, changes)?;
        match dir.service.change_role(actor, role.id, role, &add, &remove) {
            Err(ServiceError::VersionConflict { .. }) if tries < MODIFY_TRIES => tries += 1,
            result => return result.map(drop).map_err(ldap_error),
        }
    }
}

/// The role as `changes` leave it, with the members they add and remove.
fn planned(
    dir: &LdapDirectory,
    actor: &Actor,
    name: &str,
    changes: &[Modification],
) -> Result<(Role, Vec<UserId>, Vec<UserId>), LdapError> {
    let schema = &*dir.schema;
    let role = dir.role_named(actor, name)?;
    // The members are read only for a modify of them (a large role is a long read).
    let of_members = |m: &Modification| m.attribute.name.eq_ignore_ascii_case("member");
    let current: HashSet<UserId> = if changes.iter().any(of_members) {
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
    for Modification { op, attribute } in changes {
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
            "administrator" => role_administrator(schema, role.administrator, *op, &values)?,
            "objectclass" => object_class_change(schema, Branch::Roles, *op, &values)?,
            "cn" => rdn_change(schema, attr, &role.name, *op, &values)?,
            _ => return Err(unwritable(schema, Branch::Roles, attr)),
        }
    }
    let add: Vec<UserId> = members.difference(&current).copied().collect();
    let remove: Vec<UserId> = current.difference(&members).copied().collect();
    Ok((replaced, add, remove))
}

/// The Administrator System Role flag is set where administrators are managed, never over
/// LDAP: with SCIM (`POST`, `PUT` or `PATCH` on `/Groups`) or when `rollcall role create
/// --administrator` makes the role (no command changes it later). A write may only say it
/// again.
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
             Role with SCIM (/Groups), or create it so with rollcall role create --administrator",
            )
        },
    )
}

/// A role's type decides who may hold it and what it may be granted, so it is set when the
/// role is created (an LDAP add, SCIM, `rollcall role create --type`) and changed only with
/// SCIM (`PUT` or `PATCH` on `/Groups/{id}`): an LDAP modify may only say it again.
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
            "roleType cannot be changed over LDAP: it is set when the role is created and \
             changed with SCIM (PUT or PATCH /Groups/{id})",
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
