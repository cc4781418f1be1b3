//! A role's version stands for its member list too. Changes that must see every member of a
//! role (a new role type checked against each member's license, a deletion that takes the role
//! from each member, a Group PUT working out whom to add and remove) read the list from the
//! membership index outside their transaction, as the store's transactions validate point reads
//! only (see [`crate::store::Txn`]); they commit only if the role's version, read inside the
//! transaction, is the one they started from (`with_members`). That holds only because every
//! change of a user's role set, whatever the front end or path (a SCIM or LDAP membership
//! change, `user create --role`, an import, an anonymisation), moves the version of each role
//! the user gains or loses, in the same transaction. A membership change through the role
//! itself (`apply_membership`) moves it once for all the members it changes; a change through
//! the user's record moves it here.

use time::OffsetDateTime;

use super::{Result, Service, ServiceError};
use crate::model::{Role, RoleId};
use crate::store::Txn;

impl Service {
    /// Moves the version of every role in `before` or `after` but not in both, read and
    /// written in `tx`: a change that read one of their member lists before this commits runs
    /// again. Returns the roles gained, as stored. A role gained that does not exist (deleted
    /// meanwhile) refuses the change; one lost that no longer exists is passed over.
    pub(super) fn note_roles_changed(
        &self,
        tx: &mut dyn Txn,
        before: &[RoleId],
        after: &[RoleId],
        now: OffsetDateTime,
    ) -> Result<Vec<Role>> {
        let lost = before.iter().filter(|r| !after.contains(r));
        let gained = after.iter().filter(|r| !before.contains(r));
        let mut roles = Vec::new();
        for (id, gaining) in lost.map(|r| (r, false)).chain(gained.map(|r| (r, true))) {
            let Some(mut role) = tx.role(*id)? else {
                if gaining {
                    return Err(ServiceError::UnknownRole(id.to_string()));
                }
                continue;
            };
            role.version += 1;
            role.modified = now;
            tx.put_role(&role)?;
            if gaining {
                roles.push(role);
            }
        }
        Ok(roles)
    }
}
