//! The people and services branches: an LDAP add or modify as one change to a user record.

use std::cell::RefCell;

use rollcall_ldap::{Attribute, LdapError, LdapResultCode as Code, Modification, ModifyOp, Schema};

use super::super::LdapDirectory;
use super::super::error::ldap_error;
use super::super::profile;
use super::super::tree::Branch;
use super::classes::{object_class_change, rdn_change};
use super::reference::{Reference, reference, single_reference};
use super::user_fields::{
    UserField, current_values, custom_value, field_attribute, multi_valued, set_field, user_field,
};
use super::values::{allowed, equality, modified_values, restated, single, text, unwritable};
use crate::model::{AccountId, CustomAttribute, CustomAttributes, PrincipalKind, User, UserId};
use crate::service::{Actor, NewUser, ServiceError};

/// Adds a person (or, under ou=services, a service account) named `name`: its attributes are
/// made replaces on a new record, `userPassword` its first password.
pub(super) fn add<'a>(
    dir: &LdapDirectory,
    actor: &Actor,
    branch: Branch,
    name: String,
    attrs: impl Iterator<Item = &'a Attribute>,
) -> Result<(), LdapError> {
    let schema = &*dir.schema;
    let mut user = User::new(name);
    if branch == Branch::Services {
        user.kind = PrincipalKind::Bind;
        // A service account takes no license, and the application given its DN expects to
        // bind with it: active unless the add says `active: FALSE` (a person is inactive
        // unless it says TRUE, since activation takes a license).
        user.active = true;
    }
    let mut password = None;
    let mut changes = Vec::new();
    for a in attrs {
        if a.name.eq_ignore_ascii_case("userPassword") {
            password = single(&text(&a.values, &a.name)?, &a.name)?;
        } else if a.name.eq_ignore_ascii_case("principalKind") && branch == Branch::Services {
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
        } else {
            // A service's `cn` too: it must say the name the DN gives (the record keeps no
            // other value), as a modify may.
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

/// Modifies the person or service account `name` of `branch`. A modify that only sets `userPassword` sets
/// the password, one that only deletes `pwdAccountLockedTime` unlocks the account.
pub(super) fn modify(
    dir: &LdapDirectory,
    actor: &Actor,
    branch: Branch,
    name: &str,
    changes: &[Modification],
) -> Result<(), LdapError> {
    let schema = &*dir.schema;
    let user = dir.user_named(actor, branch, name)?;
    if let [
        Modification {
            op: ModifyOp::Replace | ModifyOp::Add,
            attribute,
        },
    ] = changes
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
    ] = changes
        && attribute.name.eq_ignore_ascii_case("pwdAccountLockedTime")
    {
        return dir
            .service
            .unlock_user(actor, user.id)
            .map(drop)
            .map_err(ldap_error);
    }
    let changes = user_changes(dir, actor, &user, changes)?;
    let custom = std::sync::Arc::clone(&dir.service.policy().custom);
    update_user(dir, actor, user.id, |u| {
        apply_user_changes(u, &changes, &custom, schema)
    })
}

/// One attribute change to a user, with references already resolved.
enum UserChange {
    Set(UserField, Vec<String>),
    /// A custom attribute (`[custom_attributes]`), by its LDAP name.
    Custom(CustomAttribute, Vec<String>),
    Manager(Option<Reference<UserId>>),
    Account(Option<Reference<AccountId>>),
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
    let branch = super::super::entry::user_branch(user);
    let mut out = Vec::new();
    for Modification { op, attribute } in changes {
        let name = attribute.name.as_str();
        // The record has fields for a person's mail, title, phones, … that a service account
        // may hold too (SCIM writes them), but its entry's classes (applicationProcess,
        // rollcallPerson) allow none of them, so the entry would never show what was written.
        // What the classes allow is what the subschema publishes (`userPassword` among it,
        // written on its own: see `modify` and `add`).
        if !allowed(schema, branch, name) {
            return Err(unwritable(schema, branch, name));
        }
        if schema.same_attribute(name, profile::CERTIFICATE) {
            // DER, not text: checked as SCIM checks a certificate, then kept as SCIM keeps it.
            let values = attribute
                .values
                .iter()
                .enumerate()
                .map(|(i, der)| profile::scim_certificate(name, i, der))
                .collect::<Result<_, _>>()?;
            out.push((*op, UserChange::Set(UserField::Certificates, values)));
            continue;
        }
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
                    .map(super::super::entry::ldap_values)
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
                let new = match field {
                    UserField::Certificates => {
                        let same = profile::same_certificate(schema);
                        modified_values(name, current, *op, values, single, &same)?
                    }
                    _ => {
                        let same = equality(schema, name);
                        modified_values(name, current, *op, values, single, &same)?
                    }
                };
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
