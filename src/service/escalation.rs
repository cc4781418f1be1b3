//! Notices to the administrators when someone gains power (seed 003, admin notifications:
//! "permission escalations"): a user given the Administrator System Role, a user given a role
//! that lets it create, edit or delete records of others it could not before (a limited
//! administrator, say), a role made an administrator role, or a role given permissions that
//! reach records it did not. Each is queued in the transaction that makes the change: no
//! escalation commits without its notice. Roles that only let their members read, or change
//! their own record, are granted all the time by identity providers and raise nothing.

use super::{Actor, Result, Service};
use crate::mail::{Var, Vars};
use crate::model::{Action, Entity, PermissionLevel, Permissions, Role, RoleId, User};
use crate::outbox::MessageKind;
use crate::store::Txn;

impl Service {
    /// After `user`, who held the roles `before`, was given `role`.
    pub(super) fn notify_role_granted(
        &self,
        tx: &mut dyn Txn,
        actor: &Actor,
        user: &User,
        before: &[RoleId],
        role: &Role,
    ) -> Result<()> {
        if role.administrator {
            return self.notify_administrator_granted(tx, actor, user, role);
        }
        // Most grants (roles that read, groups an identity provider pushes) stop here,
        // before the user's other roles are read.
        if role.role_type.is_none()
            || actor.is_own_setup()
            || gained_writes(&[], &role.permissions).is_empty()
        {
            return Ok(());
        }
        let mut held = Vec::with_capacity(before.len());
        for id in before.iter().filter(|id| **id != role.id) {
            if let Some(other) = tx.role(*id)? {
                if other.administrator {
                    // Already allowed everything.
                    return Ok(());
                }
                held.push(other.permissions);
            }
        }
        let gained = gained_writes(&held, &role.permissions);
        if gained.is_empty() {
            return Ok(());
        }
        let detail = format!(
            "{} was given role {:?} by {}, and with it {}",
            user.user_name,
            role.name,
            self.acting(actor)?,
            gained.join(", ")
        );
        self.notify_user_raised(tx, user, &detail)
    }

    /// After `user` was given `role`, an administrator role.
    fn notify_administrator_granted(
        &self,
        tx: &mut dyn Txn,
        actor: &Actor,
        user: &User,
        role: &Role,
    ) -> Result<()> {
        if actor.is_own_setup() {
            return Ok(());
        }
        let detail = format!(
            "{} was given the Administrator System Role (role {:?}) by {}",
            user.user_name,
            role.name,
            self.acting(actor)?
        );
        self.notify_user_raised(tx, user, &detail)
    }

    /// The administrators' notice that `user` gained power, as `detail` says.
    fn notify_user_raised(&self, tx: &mut dyn Txn, user: &User, detail: &str) -> Result<()> {
        tx.push_outbox(
            &self.admin_notice(
                MessageKind::PermissionEscalation,
                Vars::new()
                    .with(Var::UserName, &user.user_name)
                    .with(Var::Detail, detail),
                Some(user.id),
            ),
        )?;
        Ok(())
    }

    /// After a role's definition changed from `old` to `new`; `members` hold it.
    pub(super) fn notify_role_raised(
        &self,
        tx: &mut dyn Txn,
        actor: &Actor,
        old: &Role,
        new: &Role,
        members: usize,
    ) -> Result<()> {
        // A plain group grants nothing, whatever it carries.
        if new.role_type.is_none() || actor.is_own_setup() {
            return Ok(());
        }
        let mut raised = Vec::new();
        if new.administrator && !old.administrator {
            raised.push("made an administrator role".to_string());
        }
        let widened = if old.role_type.is_none() {
            raised_permissions(&Permissions::default(), &new.permissions)
        } else {
            raised_permissions(&old.permissions, &new.permissions)
        };
        if !widened.is_empty() {
            raised.push(format!("given {}", widened.join(", ")));
        }
        if raised.is_empty() {
            return Ok(());
        }
        let holders = match members {
            1 => "1 member".to_string(),
            n => format!("{n} members"),
        };
        let detail = format!(
            "role {:?} ({holders}) was {} by {}",
            new.name,
            raised.join(" and "),
            self.acting(actor)?
        );
        tx.push_outbox(
            &self.admin_notice(
                MessageKind::PermissionEscalation,
                Vars::new()
                    .with(Var::UserName, format!("role {}", new.name))
                    .with(Var::Detail, &detail),
                None,
            ),
        )?;
        Ok(())
    }
}

impl Service {
    /// Who made a change and from where, for a person to read: `"admin" (scim)`.
    fn acting(&self, actor: &Actor) -> Result<String> {
        Ok(format!(
            "{} ({})",
            super::authz::describe(&*self.subject(actor)?),
            actor.source
        ))
    }
}

/// The create, edit and delete permissions on others' records that `granted` gives and none
/// of `held` did, as `user.edit: team`. A level the held ones reach only together (a team
/// and all subordinates, say) is still named: a notice too many, never one too few.
fn gained_writes(held: &[Permissions], granted: &Permissions) -> Vec<String> {
    let mut out = Vec::new();
    for entity in Entity::ALL {
        for action in Action::ALL.into_iter().filter(|a| *a != Action::Read) {
            let level = granted.get(entity, action);
            if matches!(level, PermissionLevel::None | PermissionLevel::Private)
                || held.iter().any(|p| p.get(entity, action).covers(level))
            {
                continue;
            }
            out.push(format!("{}.{}: {level}", entity.as_str(), action.as_str()));
        }
    }
    out
}

/// The permissions `new` grants that reach records `old` did not, as `user.edit: none → team`.
fn raised_permissions(old: &Permissions, new: &Permissions) -> Vec<String> {
    let mut out = Vec::new();
    for entity in Entity::ALL {
        for action in Action::ALL {
            let (was, is) = (old.get(entity, action), new.get(entity, action));
            if !was.covers(is) {
                out.push(format!(
                    "{}.{}: {was} → {is}",
                    entity.as_str(),
                    action.as_str()
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PermissionLevel as L;

    #[test]
    fn only_writes_on_others_records_that_no_held_role_gives_are_gained() {
        let mut granted = Permissions::default();
        granted.user.read = L::All;
        granted.user.edit = L::Team;
        granted.user.create = L::Private;
        granted.role.delete = L::All;
        assert_eq!(
            gained_writes(&[], &granted),
            vec![
                "user.edit: team".to_string(),
                "role.delete: all".to_string()
            ],
            "reading, and one's own record, gain nothing"
        );
        let mut held = Permissions::default();
        held.user.edit = L::AllEmployees;
        assert_eq!(
            gained_writes(&[Permissions::default(), held], &granted),
            vec!["role.delete: all".to_string()]
        );
    }

    #[test]
    fn only_permissions_that_reach_further_are_raised() {
        let mut old = Permissions::default();
        old.user.read = L::SubordinatesAll;
        old.user.edit = L::All;
        let mut new = old;
        assert!(raised_permissions(&old, &new).is_empty());
        new.user.edit = L::Private; // narrower
        new.user.read = L::Team; // sideways: peers are not subordinates
        new.account.read = L::All;
        assert_eq!(
            raised_permissions(&old, &new),
            vec![
                "user.read: subordinates_all → team".to_string(),
                "account.read: none → all".to_string()
            ]
        );
    }
}
