//! LDAP writes mapped onto the same service operations SCIM uses: add creates, modify changes
//! under the same rules (license checks on `active`), delete anonymises a user (there is no hard
//! delete), modifyDN renames. Attribute names are matched case-insensitively, values by their
//! attribute's equality rule.
//!
//! A write either changes what it asks for or is refused with the result code RFC 4511 gives
//! the reason: nothing a client sends is dropped in silence. What Rollcall derives rather than
//! stores (object classes, `principalKind`, a role's type) may be said again as it is, and is
//! refused when a write would change it.

mod account;
mod classes;
mod reference;
mod role;
mod user;
mod user_fields;
mod values;

use rollcall_ldap::{
    AddRequest, Dn, LdapError, LdapResultCode as Code, ModifyDnRequest, ModifyRequest,
    PasswordModified, PasswordModify,
};

use super::error::ldap_error;
use super::tree::{Branch, Target};
use super::{LdapDirectory, LdapSession};
use crate::model::{Account, Role, User};
use crate::service::{Actor, ServiceError};
use classes::{check_add_attributes, check_add_classes};
use values::check_modifications;

/// Target of a write: must name a record.
fn record(dir: &LdapDirectory, actor: &Actor, dn: &Dn) -> Result<(Branch, String), LdapError> {
    match dir.tree.resolve(dn) {
        Target::Record(b, name) => Ok((b, name)),
        Target::Missing { matched } => Err(LdapError::no_such_object().with_matched(matched)),
        Target::BelowRecord(b, name) => Err(dir.below_record(actor, b, &name)),
        Target::Base | Target::Branch(_) => Err(LdapError::unwilling(
            "the base and branch entries are fixed",
        )),
        Target::Outside => Err(LdapError::no_such_object()),
    }
}

impl LdapDirectory {
    /// The user a write names by its DN: `name` under `branch`, so that a write under the
    /// other branch changes no record (see [`LdapDirectory::user_in`]).
    ///
    /// One's own entry, when one's roles do not let one read it, is insufficientAccessRights,
    /// not noSuchObject: one signed in as it, so it is no secret that it exists.
    fn user_named(&self, actor: &Actor, branch: Branch, name: &str) -> Result<User, LdapError> {
        self.user_in(actor, branch, name).map_err(|e| match e {
            ServiceError::NotFound { .. }
                if self
                    .service
                    .names_self(actor, name)
                    .is_some_and(|kind| super::entry::kind_branch(kind) == branch) =>
            {
                LdapError::new(
                    Code::InsufficentAccessRights,
                    "your roles do not let you read or change your own entry",
                )
            }
            e => ldap_error(e),
        })
    }

    fn role_named(&self, actor: &Actor, name: &str) -> Result<Role, LdapError> {
        self.service.role_by_name(actor, name).map_err(ldap_error)
    }

    fn account_named(&self, actor: &Actor, name: &str) -> Result<Account, LdapError> {
        self.service
            .account_by_name(actor, name)
            .map_err(ldap_error)
    }
}

pub(super) fn add(
    dir: &LdapDirectory,
    actor: &Actor,
    request: AddRequest,
) -> Result<(), LdapError> {
    let (branch, name) = record(dir, actor, &request.dn)?;
    let attrs = &request.attributes;
    let schema = &*dir.schema;
    check_add_attributes(schema, attrs)?;
    check_add_classes(schema, branch, attrs)?;
    // Checked above: the entry gets the branch's classes.
    let attrs = attrs
        .iter()
        .filter(|a| !schema.same_attribute(&a.name, "objectClass"));
    match branch {
        Branch::People | Branch::Services => user::add(dir, actor, branch, name, attrs),
        Branch::Roles => role::add(dir, actor, name, attrs),
        Branch::Accounts => account::add(dir, actor, name, attrs),
    }
}

pub(super) fn modify(
    dir: &LdapDirectory,
    actor: &Actor,
    request: ModifyRequest,
) -> Result<(), LdapError> {
    let (branch, name) = record(dir, actor, &request.dn)?;
    check_modifications(&request.changes)?;
    match branch {
        Branch::People | Branch::Services => {
            user::modify(dir, actor, branch, &name, &request.changes)
        }
        Branch::Roles => role::modify(dir, actor, &name, &request.changes),
        Branch::Accounts => account::modify(dir, actor, &name, &request.changes),
    }
    .map_err(in_branch(dir, branch))
}

/// A record that is not there (or not the caller's to see) has its branch as matchedDN
/// (RFC 4511 §4.1.9), which exists whatever the caller may read.
fn in_branch(dir: &LdapDirectory, branch: Branch) -> impl FnOnce(LdapError) -> LdapError + '_ {
    move |e| match e.code {
        Code::NoSuchObject if e.matched_dn.is_none() => e.with_matched(dir.tree.branch_dn(branch)),
        _ => e,
    }
}

pub(super) fn delete(dir: &LdapDirectory, actor: &Actor, dn: &Dn) -> Result<(), LdapError> {
    let (branch, name) = record(dir, actor, dn)?;
    let deleted = match branch {
        Branch::People | Branch::Services => {
            dir.user_named(actor, branch, &name).and_then(|user| {
                dir.service
                    .anonymise_user(actor, user.id, None)
                    .map_err(ldap_error)
            })
        }
        Branch::Roles => dir.role_named(actor, &name).and_then(|role| {
            dir.service
                .delete_role(actor, role.id, None)
                .map_err(ldap_error)
        }),
        Branch::Accounts => dir.account_named(actor, &name).and_then(|account| {
            dir.service
                .delete_account(actor, account.id, None)
                .map_err(ldap_error)
        }),
    };
    deleted.map_err(in_branch(dir, branch))
}

pub(super) fn modify_dn(
    dir: &LdapDirectory,
    actor: &Actor,
    request: ModifyDnRequest,
) -> Result<(), LdapError> {
    let (branch, name) = record(dir, actor, &request.dn)?;
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
    rename(dir, actor, branch, &name, new_name).map_err(in_branch(dir, branch))
}

/// Record `name` of `branch` renamed `new_name` (its naming attribute: userName, role or
/// account name).
fn rename(
    dir: &LdapDirectory,
    actor: &Actor,
    branch: Branch,
    name: &str,
    new_name: String,
) -> Result<(), LdapError> {
    match branch {
        Branch::People | Branch::Services => {
            let user = dir.user_named(actor, branch, name)?;
            dir.service
                .update_user(actor, user.id, None, |u| {
                    u.user_name.clone_from(&new_name);
                    Ok(())
                })
                .map(drop)
                .map_err(ldap_error)
        }
        Branch::Roles => {
            let role = dir.role_named(actor, name)?;
            let mut replaced = role.clone();
            replaced.name = new_name;
            dir.service
                .replace_role(actor, role.id, replaced, Some(role.version))
                .map(drop)
                .map_err(ldap_error)
        }
        Branch::Accounts => {
            let account = dir.account_named(actor, name)?;
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
        // One's own entry is named by one's own DN (SSSD and nslcd always send it, as RFC
        // 3062's userIdentity), whatever one's roles let one read: as if it were left out.
        Some(_) if own => match actor.principal {
            crate::service::Principal::User(id) => id,
            _ => return Err(LdapError::insufficient_access()),
        },
        Some(dn) => match record(dir, actor, dn)? {
            (branch @ (Branch::People | Branch::Services), name) => {
                dir.user_named(actor, branch, &name)
                    .map_err(in_branch(dir, branch))?
                    .id
            }
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
        // Refused for one whose roles hide its own record: not "no such user" to itself.
        ServiceError::NotFound { .. } if own => LdapError::new(
            Code::InsufficentAccessRights,
            "your roles do not let you set your own password without the current one",
        ),
        e => ldap_error(e),
    })?;
    Ok(PasswordModified {
        generated: generated.then_some(new_password),
        session,
    })
}
