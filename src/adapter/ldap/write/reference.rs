//! DN-valued attributes (`manager`, `member`, `account`, `parentAccount`): compared as records.

use rollcall_ldap::{Dn, LdapError, LdapResultCode as Code, ModifyOp};

use super::super::LdapDirectory;
use super::super::error::ldap_error;
use super::super::tree::{Branch, Target};
use super::values::{exists, no_increment, no_such_attribute, no_such_value, occupied, single};
use crate::model::{AccountId, UserId};
use crate::service::{Actor, ServiceError};

impl LdapDirectory {
    fn dn_reference(&self, actor: &Actor, value: &str, want: Branch) -> Result<DnRef, LdapError> {
        // A DN (RFC 4517's syntax) that names no record of the branch: a value the attribute
        // cannot take, as one naming nobody (a group for a group's member, Keycloak's
        // `cn=empty-membership-placeholder`).
        let bad = || {
            LdapError::new(
                Code::ConstraintViolation,
                format!("{value:?} is not an entry under ou={}", want.ou()),
            )
        };
        let dn = Dn::parse(value).map_err(|_| {
            LdapError::new(
                Code::InvalidAttributeSyntax,
                format!("{value:?} is not a DN"),
            )
        })?;
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
            // The user of the DN's own branch: `cn=ann,ou=services` names no person.
            Branch::People | Branch::Services => {
                DnRef::User(self.user_in(actor, b, &name).map_err(unknown)?.id)
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

    pub(super) fn user_ref(&self, actor: &Actor, value: &str) -> Result<UserId, LdapError> {
        match self.dn_reference(actor, value, Branch::People)? {
            DnRef::User(id) => Ok(id),
            _ => Err(LdapError::other("unexpected reference")),
        }
    }

    pub(super) fn account_ref(&self, actor: &Actor, value: &str) -> Result<AccountId, LdapError> {
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
pub(super) struct Reference<T> {
    dn: String,
    record: Option<T>,
}

/// A modification of a single-valued DN attribute (RFC 4511 §4.6): an add only while it is
/// empty, a delete only of the value it holds, or of all of it when no value is given.
pub(super) fn single_reference<T: Copy + PartialEq>(
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

/// A reference in a change: resolved for an add or replace (a DN that names nothing is refused
/// there), and for a delete only compared, so that a DN naming nothing is just not the value.
pub(super) fn reference<T>(
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
