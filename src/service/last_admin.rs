//! The directory always keeps an active administrator. Without one nobody can grant the role
//! again over LDAP, SCIM or REST, and the only way back would be a restore: so deactivating or
//! anonymising the last one, removing the last member of the administrator roles, and taking
//! the flag off (or deleting) the last administrator role are refused.

use super::{Result, Service, ServiceError};
use crate::model::{RoleId, User, UserId};
use crate::store::{Txn, UserKey};

impl Service {
    /// Refuses `what` if after it no active, non-anonymised user would hold a role with the
    /// Administrator System Role flag. `lost(role, user)` says whether the change takes that
    /// holding away. The records the answer rests on (the roles and the remaining holders) are
    /// read in `tx`, so two concurrent changes that each leave the other's administrator cannot
    /// both commit.
    pub(super) fn keep_an_administrator(
        &self,
        tx: &mut dyn Txn,
        what: &str,
        lost: &dyn Fn(RoleId, UserId) -> bool,
    ) -> Result<()> {
        for role in self.all_roles()?.iter().filter(|r| r.administrator) {
            if !tx.role(role.id)?.is_some_and(|r| r.administrator) {
                continue;
            }
            for member in self.store.users_by(&UserKey::Role(role.id))? {
                if lost(role.id, member) {
                    continue;
                }
                let holds = tx
                    .user(member)?
                    .is_some_and(|u| u.active && !u.anonymised && u.roles.contains(&role.id));
                if holds {
                    return Ok(());
                }
            }
        }
        Err(ServiceError::LastAdministrator(what.to_string()))
    }

    /// Whether `user` is an active holder of an administrator role (only then can a change to
    /// it leave the directory without one). Asked on every user update: it reads the user's own
    /// few roles, not the list of all roles (rebuilt after every commit).
    pub(super) fn is_active_administrator(&self, user: &User) -> Result<bool> {
        if !user.active || user.anonymised {
            return Ok(false);
        }
        for id in &user.roles {
            if self.store.role(*id)?.is_some_and(|r| r.administrator) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
