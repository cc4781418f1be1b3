//! The accounts branch: an account's parent and whether it is licensed.

use rollcall_ldap::{Attribute, LdapError, Modification, ModifyOp};

use super::super::LdapDirectory;
use super::super::error::ldap_error;
use super::super::tree::Branch;
use super::classes::{object_class_change, rdn_change};
use super::reference::{reference, single_reference};
use super::values::{boolean, boolean_value, equality, single, single_value, text, unwritable};
use crate::model::Account;
use crate::service::Actor;

/// Adds the account `name`.
pub(super) fn add<'a>(
    dir: &LdapDirectory,
    actor: &Actor,
    name: String,
    attrs: impl Iterator<Item = &'a Attribute>,
) -> Result<(), LdapError> {
    let schema = &*dir.schema;
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
                account.licensed = boolean(single(&values, &a.name)?, &a.name)?.unwrap_or(false)
            }
            // The name is the DN's: the add may say it again, not give the account another.
            "o" => rdn_change(schema, &a.name, &account.name, ModifyOp::Replace, &values)?,
            _ => return Err(unwritable(schema, Branch::Accounts, &a.name)),
        }
    }
    dir.service
        .create_account(actor, account)
        .map(drop)
        .map_err(ldap_error)
}

/// Modifies the account `name`.
pub(super) fn modify(
    dir: &LdapDirectory,
    actor: &Actor,
    name: &str,
    changes: &[Modification],
) -> Result<(), LdapError> {
    let schema = &*dir.schema;
    let account = dir.account_named(actor, name)?;
    let mut replaced = account.clone();
    for Modification { op, attribute } in changes {
        let attr = attribute.name.as_str();
        let values = text(&attribute.values, attr)?;
        match attr.to_ascii_lowercase().as_str() {
            "parentaccount" => {
                let parent = reference(*op, &values, attr, |v| dir.account_ref(actor, v))?;
                replaced.parent = single_reference(attr, replaced.parent, *op, parent.as_ref())?;
            }
            "licensed" => {
                let old = Some(boolean_value(replaced.licensed));
                let new = single_value(attr, old, *op, &values, &equality(schema, attr))?;
                replaced.licensed = boolean(new, attr)?.unwrap_or(false);
            }
            "objectclass" => object_class_change(schema, Branch::Accounts, *op, &values)?,
            "o" => rdn_change(schema, attr, &account.name, *op, &values)?,
            _ => return Err(unwritable(schema, Branch::Accounts, attr)),
        }
    }
    dir.service
        .replace_account(actor, account.id, replaced, Some(account.version))
        .map(drop)
        .map_err(ldap_error)
}
