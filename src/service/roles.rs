//! Roles (SCIM Groups, LDAP groupOfNames) and their members.

use std::collections::BTreeSet;
use std::sync::Arc;

use time::OffsetDateTime;

use super::users::{check_version, readable};
use super::{Actor, InTx, Origin, Result, Service, ServiceError};
use crate::audit::AuditKind;
use crate::model::{Action, Entity, Role, RoleId, RoleSettings, RoleType, UserId, fold};
use crate::store::{Txn, UserKey};

/// How often a change that reads a role's member list outside its transaction starts over when
/// the role keeps changing underneath it.
const MEMBER_SNAPSHOT_TRIES: usize = 8;

/// Members detached per transaction when a role is deleted (see [`Service::delete_role`]).
const DETACH_BATCH: usize = 1024;

impl Service {
    pub fn create_role(&self, actor: &Actor, role: Role) -> Result<Role> {
        self.create_role_with_members(actor, role, &[])
    }

    /// Creates a role and its first members in one transaction: a refused member (wrong
    /// license type, out of scope) means no role either.
    pub fn create_role_with_members(
        &self,
        actor: &Actor,
        role: Role,
        members: &[UserId],
    ) -> Result<Role> {
        self.create_role_from(actor, role, members, Origin::New)
    }

    /// Creates a role of either origin: one [`Origin::Moved`] keeps when it was created.
    pub fn create_role_from(
        &self,
        actor: &Actor,
        mut role: Role,
        members: &[UserId],
        origin: Origin,
    ) -> Result<Role> {
        validate_role(&mut role)?;
        let subject = self.subject(actor)?;
        if !self.role_scope(&subject, Action::Create).all {
            return Err(ServiceError::Forbidden(
                "creating roles needs Create on Role at level all".into(),
            ));
        }
        self.authorize_role_definition(&subject, None, &role)?;
        let now = OffsetDateTime::now_utc();
        role.created = origin.since(role.created, now);
        role.modified = now;
        role.version = 1;
        self.transact(|tx| {
            self.put_new_role(tx, actor, &role)?;
            self.apply_membership(tx, actor, &subject, &role, members, &[])
        })
    }

    /// In a transaction: stores a new role (validated and authorised by the caller) under
    /// a name and id nobody has, and audits it.
    pub(super) fn put_new_role(&self, tx: &mut dyn Txn, actor: &Actor, role: &Role) -> Result<()> {
        if tx.role(role.id)?.is_some() {
            return Err(ServiceError::invalid(
                "id",
                format!("{} already exists", role.id),
            ));
        }
        if tx.role_by_name(&fold(&role.name))?.is_some() {
            return Err(ServiceError::RoleNameTaken(role.name.clone()));
        }
        tx.put_role(role)?;
        let after = serde_json::to_value(role).unwrap_or_default();
        self.audit(
            tx,
            actor,
            AuditKind::RoleCreated,
            Some(role.id.to_string()),
            None,
            Some((serde_json::Value::Null, after)),
        )
    }

    pub fn role(&self, actor: &Actor, id: RoleId) -> Result<Role> {
        let role = self
            .store
            .role(id)?
            .ok_or_else(|| ServiceError::not_found(Entity::Role, id))?;
        let subject = self.subject(actor)?;
        self.authorize_role(&subject, Action::Read, &role)?;
        Ok(role)
    }

    pub fn role_by_name(&self, actor: &Actor, name: &str) -> Result<Role> {
        let id = self
            .store
            .role_by_name(&fold(name))?
            .ok_or_else(|| ServiceError::not_found(Entity::Role, name))?;
        // Out of scope reads as missing, under the name asked for: never leak the id.
        self.role(actor, id).map_err(|e| match e {
            ServiceError::NotFound { .. } => ServiceError::not_found(Entity::Role, name),
            e => e,
        })
    }

    /// Every role and plain group, in creation order.
    pub fn roles(&self, actor: &Actor) -> Result<Vec<Role>> {
        let subject = self.subject(actor)?;
        let scope = self.role_scope(&subject, Action::Read);
        Ok(self
            .all_roles()?
            .iter()
            .filter(|role| scope.contains(role.id))
            .cloned()
            .collect())
    }

    /// Every role record in id order, decoded once per store generation.
    pub(super) fn all_roles(&self) -> Result<Arc<Vec<Role>>> {
        self.derived
            .roles
            .get_or_build((), self.store.generation(), || {
                Ok(self.store.roles().collect::<Result<Vec<_>, _>>()?)
            })
    }

    /// Member ids in creation order of the users, limited to the users the actor may read.
    pub fn role_members(&self, actor: &Actor, id: RoleId) -> Result<Vec<UserId>> {
        self.role(actor, id)?;
        let subject = self.subject(actor)?;
        let ids = self.store.users_by(&UserKey::Role(id))?;
        let scope = self.user_scope(&subject, Action::Read)?;
        if scope.all {
            return Ok(ids);
        }
        let mut visible = Vec::with_capacity(ids.len());
        for member in ids {
            if self.store.user(member)?.is_some_and(|u| scope.contains(&u)) {
                visible.push(member);
            }
        }
        Ok(visible)
    }

    /// Replaces name, type, flags, permissions and settings. A new role type must admit every
    /// current member.
    pub fn replace_role(
        &self,
        actor: &Actor,
        id: RoleId,
        replacement: Role,
        expected_version: Option<u64>,
    ) -> Result<Role> {
        self.replace_role_with_members(actor, id, replacement, None, expected_version)
    }

    /// A SCIM PUT of a Group: the definition (when it differs) and, with `members`, the member
    /// list as `actor` sees it (see [`Self::set_members`]), in one transaction: a member that
    /// is refused leaves the definition as it was too.
    pub fn replace_role_with_members(
        &self,
        actor: &Actor,
        id: RoleId,
        replacement: Role,
        members: Option<&[UserId]>,
        expected_version: Option<u64>,
    ) -> Result<Role> {
        let mut replacement = replacement;
        validate_role(&mut replacement)?;
        let subject = self.subject(actor)?;
        self.with_members(id, |tx, old, current| {
            check_version(expected_version, old.version)?;
            let role = if same_definition(old, &replacement) {
                self.authorize_role(&subject, Action::Read, old)?;
                old.clone()
            } else {
                self.redefine_role(tx, actor, &subject, old, current, &replacement)?
            };
            match members {
                Some(wanted) => self.set_members_in(tx, actor, &subject, &role, current, wanted),
                None => Ok(role),
            }
        })
    }

    /// The definition of role `old` replaced in `tx`: authorised, checked against its
    /// `members`, stored and audited.
    fn redefine_role(
        &self,
        tx: &mut dyn Txn,
        actor: &Actor,
        subject: &super::Subject,
        old: &Role,
        members: &[UserId],
        replacement: &Role,
    ) -> Result<Role> {
        let id = old.id;
        self.authorize_role(subject, Action::Edit, old)?;
        self.authorize_role_definition(subject, Some(old), replacement)?;
        let mut new = replacement.clone();
        new.id = old.id;
        new.created = old.created;
        new.version = old.version + 1;
        new.modified = OffsetDateTime::now_utc();
        if new.role_type != old.role_type {
            for member in members {
                let user = readable(tx, *member)?;
                if let Some(role_type) = new.role_type
                    && !new.admits(user.license)
                {
                    return Err(ServiceError::RoleTypeMismatch {
                        role: new.name.clone(),
                        role_type,
                        user: user.user_name,
                        license: user.license,
                    });
                }
            }
        }
        if fold(&new.name) != fold(&old.name) && tx.role_by_name(&fold(&new.name))?.is_some() {
            return Err(ServiceError::RoleNameTaken(new.name.clone()));
        }
        if old.administrator && !new.administrator {
            let what = format!("taking the administrator flag off role {:?}", old.name);
            self.keep_an_administrator(tx, &what, &|r, _| r == id)?;
            self.end_former_administrators(tx, members, id)?;
        }
        tx.put_role(&new)?;
        self.notify_role_raised(tx, actor, old, &new, members.len())?;
        if old.settings.password_login_disabled && !new.settings.password_login_disabled {
            self.reset_members_after_sso(tx, actor, &new, members)?;
        }
        let change = crate::audit::diff(
            serde_json::to_value(old).unwrap_or_default(),
            serde_json::to_value(&new).unwrap_or_default(),
        );
        self.audit(
            tx,
            actor,
            AuditKind::RoleChanged,
            Some(id.to_string()),
            None,
            Some(change),
        )?;
        Ok(new)
    }

    /// Deletes a role after detaching its members (roles, unlike users, may be deleted).
    ///
    /// Members are detached [`DETACH_BATCH`] at a time, each batch in its own transaction,
    /// and the last transaction deletes the role with the members left: a role of 100k
    /// members is not one commit holding 100k changed records in memory. Each batch moves the
    /// role's version (its members changed) and is audited; `expected_version` is checked by
    /// the first. A deletion cut short leaves the role with the members not yet detached, and
    /// deleting it again finishes the job.
    pub fn delete_role(
        &self,
        actor: &Actor,
        id: RoleId,
        expected_version: Option<u64>,
    ) -> Result<()> {
        let subject = self.subject(actor)?;
        let mut detached = 0usize;
        loop {
            let more = self.with_members(id, |tx, old, members| {
                self.authorize_role_deletion(&subject, old)?;
                if old.administrator {
                    let what = format!("deleting role {:?}", old.name);
                    self.keep_an_administrator(tx, &what, &|r, _| r == id)?;
                }
                if detached == 0 {
                    check_version(expected_version, old.version)?;
                }
                let last = members.len() <= DETACH_BATCH;
                let batch = &members[..members.len().min(DETACH_BATCH)];
                if old.administrator {
                    self.end_former_administrators(tx, batch, id)?;
                }
                let now = OffsetDateTime::now_utc();
                let mut found = 0usize;
                for member in batch {
                    if let Some(mut user) = tx.user(*member)? {
                        user.roles.retain(|r| *r != id);
                        user.version += 1;
                        user.modified = now;
                        tx.put_user(&user)?;
                        found += 1;
                    }
                }
                if !last && found == 0 {
                    // A batch of index entries naming no record would be read again and
                    // again: the deletion would never end.
                    return Err(crate::store::StoreError::Corrupt {
                        tree: "idx_role_members",
                        detail: format!(
                            "role {:?} lists {} members that do not exist: run rollcall check",
                            old.name,
                            batch.len()
                        ),
                    }
                    .into());
                }
                if last {
                    tx.delete_role(id)?;
                    let before = serde_json::to_value(old).unwrap_or_default();
                    self.audit(
                        tx,
                        actor,
                        AuditKind::RoleDeleted,
                        Some(id.to_string()),
                        Some(format!("{} members detached", detached + batch.len())),
                        Some((before, serde_json::Value::Null)),
                    )?;
                    return Ok(None);
                }
                let mut bumped = old.clone();
                bumped.version += 1;
                bumped.modified = now;
                tx.put_role(&bumped)?;
                self.audit(
                    tx,
                    actor,
                    AuditKind::MembershipChanged,
                    Some(id.to_string()),
                    Some(format!(
                        "{} members detached for the role's deletion",
                        batch.len()
                    )),
                    None,
                )?;
                Ok(Some(batch.len()))
            })?;
            match more {
                Some(n) => detached += n,
                None => return Ok(()),
            }
        }
    }

    /// Adds `user` to the role; adding a current member is a no-op.
    pub fn add_member(&self, actor: &Actor, role: RoleId, user: UserId) -> Result<()> {
        self.change_members(actor, role, None, &[user], &[])
    }

    pub fn remove_member(&self, actor: &Actor, role: RoleId, user: UserId) -> Result<()> {
        self.change_members(actor, role, None, &[], &[user])
    }

    /// Makes `members` the role's exact member list (SCIM PUT of a Group) as far as `actor`
    /// can see it: members it may not read were never in the list it was shown, so they are
    /// neither counted as removed nor touched.
    pub fn set_members(
        &self,
        actor: &Actor,
        role: RoleId,
        members: &[UserId],
        expected_version: Option<u64>,
    ) -> Result<()> {
        let subject = self.subject(actor)?;
        self.with_members(role, |tx, old, current| {
            check_version(expected_version, old.version)?;
            self.set_members_in(tx, actor, &subject, old, current, members)
                .map(drop)
        })
    }

    /// Makes `wanted` the members of `role` in `tx`, leaving those `subject` cannot read alone.
    fn set_members_in(
        &self,
        tx: &mut dyn Txn,
        actor: &Actor,
        subject: &super::Subject,
        role: &Role,
        current: &[UserId],
        wanted: &[UserId],
    ) -> Result<Role> {
        let visible = self.user_scope(subject, Action::Read)?;
        let wanted: BTreeSet<UserId> = wanted.iter().copied().collect();
        let mut seen = BTreeSet::new();
        for id in current {
            if visible.all || tx.user(*id)?.is_some_and(|u| visible.contains(&u)) {
                seen.insert(*id);
            }
        }
        let add: Vec<_> = wanted.difference(&seen).copied().collect();
        let remove: Vec<_> = seen.difference(&wanted).copied().collect();
        self.apply_membership(tx, actor, subject, role, &add, &remove)
    }

    /// Adds and removes members in one transaction; each user named must exist and be one
    /// `actor` may change.
    pub fn change_members(
        &self,
        actor: &Actor,
        role: RoleId,
        expected_version: Option<u64>,
        add: &[UserId],
        remove: &[UserId],
    ) -> Result<()> {
        let subject = self.subject(actor)?;
        self.transact(|tx| {
            let old = tx
                .role(role)?
                .ok_or_else(|| ServiceError::not_found(Entity::Role, role))?;
            check_version(expected_version, old.version)?;
            self.apply_membership(tx, actor, &subject, &old, add, remove)
                .map(drop)
        })
    }

    /// A SCIM PATCH that adds and removes members of a Group, without the rest of its member
    /// list (a group of 100k members costs what its changed members cost). It does what
    /// applying the PATCH to the member list `actor` is shown would do: adding a member on
    /// that list changes nothing (and asks for no right to change anything), and a removal
    /// names a value of that list, so one naming a user that does not exist, that `actor`
    /// cannot see or that does not hold the role removes nothing. Returns the role as stored
    /// after the change.
    pub fn patch_members(
        &self,
        actor: &Actor,
        role: RoleId,
        expected_version: Option<u64>,
        add: &[UserId],
        remove: &[UserId],
    ) -> Result<Role> {
        let subject = self.subject(actor)?;
        self.transact(|tx| {
            let old = tx
                .role(role)?
                .ok_or_else(|| ServiceError::not_found(Entity::Role, role))?;
            // The group was never shown to a caller who may not read it.
            self.authorize_role(&subject, Action::Read, &old)?;
            check_version(expected_version, old.version)?;
            let visible = self.user_scope(&subject, Action::Read)?;
            let mut listed = |id: UserId| -> Result<bool> {
                Ok(tx.user(id)?.is_some_and(|u| {
                    u.roles.contains(&role) && (visible.all || visible.contains(&u))
                }))
            };
            let (mut adding, mut removing) = (Vec::new(), Vec::new());
            for &id in add {
                if !listed(id)? {
                    adding.push(id);
                }
            }
            for &id in remove {
                if listed(id)? {
                    removing.push(id);
                }
            }
            self.apply_membership(tx, actor, &subject, &old, &adding, &removing)
        })
    }

    /// An LDAP modify of a role entry: the definition (when `replacement` differs from what is
    /// stored) and members added and removed, in one transaction, so a refused member leaves
    /// the description as it was too. `replacement.version` is the version `add` and `remove`
    /// were worked out from: a role changed since (its definition or members) is a
    /// `VersionConflict`, for the caller to work the change out again.
    pub fn change_role(
        &self,
        actor: &Actor,
        id: RoleId,
        replacement: Role,
        add: &[UserId],
        remove: &[UserId],
    ) -> Result<Role> {
        let mut replacement = replacement;
        validate_role(&mut replacement)?;
        let subject = self.subject(actor)?;
        self.with_members(id, |tx, old, current| {
            // `add` and `remove` were worked out from the role as the caller read it.
            check_version(Some(replacement.version), old.version)?;
            let role = if same_definition(old, &replacement) {
                old.clone()
            } else {
                self.redefine_role(tx, actor, &subject, old, current, &replacement)?
            };
            self.apply_membership(tx, actor, &subject, &role, add, remove)
        })
    }

    fn apply_membership(
        &self,
        tx: &mut dyn Txn,
        actor: &Actor,
        subject: &super::Subject,
        role: &Role,
        add: &[UserId],
        remove: &[UserId],
    ) -> Result<Role> {
        if add.is_empty() && remove.is_empty() {
            return Ok(role.clone());
        }
        self.authorize_role(subject, Action::Edit, role)?;
        self.authorize_grant(subject, role)?;
        let mut changed = Vec::new();
        for (user_id, adding) in add
            .iter()
            .map(|u| (u, true))
            .chain(remove.iter().map(|u| (u, false)))
        {
            // A member that does not exist (or is out of sight) is a bad value in the
            // request, not a missing resource: the role is there.
            let unknown = || ServiceError::invalid("members", format!("no user {user_id}"));
            let old = readable(tx, *user_id).map_err(|e| match e {
                ServiceError::NotFound { .. } => unknown(),
                e => e,
            })?;
            self.authorize_user_change(&mut InTx(tx), subject, Action::Edit, &old)
                .map_err(|e| match e {
                    ServiceError::NotFound { .. } => unknown(),
                    e => e,
                })?;
            let holds = old.roles.contains(&role.id);
            if holds == adding {
                continue;
            }
            let mut new = old.clone();
            if adding {
                self.authorize_api_grant(subject, role)?;
                if let Some(role_type) = role.role_type
                    && !role.admits(new.license)
                {
                    return Err(ServiceError::RoleTypeMismatch {
                        role: role.name.clone(),
                        role_type,
                        user: new.user_name,
                        license: new.license,
                    });
                }
                new.roles.push(role.id);
            } else {
                new.roles.retain(|r| *r != role.id);
                if super::users::lost_administrator(tx, &old, &new)? {
                    new.sessions_revoked = Some(OffsetDateTime::now_utc());
                }
            }
            // Through the role or through the user, one's own roles are not one's own to
            // change (an MFA role left is MFA dropped).
            self.authorize_own_change(subject, &old, &new)?;
            new.version = old.version + 1;
            new.modified = OffsetDateTime::now_utc();
            tx.put_user(&new)?;
            if adding {
                self.notify_role_granted(tx, actor, &new, &old.roles, role)?;
            }
            changed.push(format!("{}{}", if adding { "+" } else { "-" }, new.id));
        }
        if changed.is_empty() {
            return Ok(role.clone());
        }
        if role.administrator && !remove.is_empty() {
            let what = format!("removing members from role {:?}", role.name);
            self.keep_an_administrator(tx, &what, &|r, u| r == role.id && remove.contains(&u))?;
        }
        let mut bumped = role.clone();
        bumped.version += 1;
        bumped.modified = OffsetDateTime::now_utc();
        tx.put_role(&bumped)?;
        self.audit(
            tx,
            actor,
            AuditKind::MembershipChanged,
            Some(role.id.to_string()),
            Some(changed.join(" ")),
            None,
        )?;
        Ok(bumped)
    }

    /// Ends the sessions of the `members` of administrator role `role` that it is about to stop
    /// making administrators (its flag taken off, or the role deleted), as for one removed
    /// from it (see [`super::users::lost_administrator`]).
    fn end_former_administrators(
        &self,
        tx: &mut dyn Txn,
        members: &[UserId],
        role: RoleId,
    ) -> Result<()> {
        let now = OffsetDateTime::now_utc();
        for member in members {
            let Some(mut user) = tx.user(*member)? else {
                continue;
            };
            let mut without = user.clone();
            without.roles.retain(|r| *r != role);
            if super::users::lost_administrator(tx, &user, &without)? {
                user.sessions_revoked = Some(now);
                super::users::put_server_managed(tx, &mut user, now)?;
            }
        }
        Ok(())
    }

    /// Runs `body` with the role and a member list that is current inside the transaction: the
    /// list is read from the index first, and the body only commits if the role's version (which
    /// every change of who holds the role moves, see [`super::membership`]) has not moved since.
    fn with_members<T>(
        &self,
        id: RoleId,
        mut body: impl FnMut(&mut dyn Txn, &Role, &[UserId]) -> Result<T>,
    ) -> Result<T> {
        for _ in 0..MEMBER_SNAPSHOT_TRIES {
            let seen = self
                .store
                .role(id)?
                .ok_or_else(|| ServiceError::not_found(Entity::Role, id))?;
            let members = self.store.users_by(&UserKey::Role(id))?;
            let result = self.transact(|tx| {
                let role = tx
                    .role(id)?
                    .ok_or_else(|| ServiceError::not_found(Entity::Role, id))?;
                if role.version != seen.version {
                    return Err(ServiceError::Busy(format!("role {id}")));
                }
                body(tx, &role, &members)
            });
            match result {
                Err(ServiceError::Busy(_)) => continue,
                other => return other,
            }
        }
        Err(ServiceError::Busy(format!("role {id}")))
    }
}

pub(super) fn validate_role(role: &mut Role) -> Result<()> {
    role.name = role.name.trim().to_string();
    if !crate::model::is_visible_name(&role.name) {
        return Err(ServiceError::invalid(
            "name",
            "must be non-empty text without control or invisible characters",
        ));
    }
    if role.administrator && role.role_type != Some(RoleType::Employee) {
        return Err(ServiceError::invalid(
            "administrator",
            "only employee roles can be the Administrator System Role",
        ));
    }
    if let Some((entity, level)) = role.permissions.first_disallowed(role.role_type) {
        return Err(ServiceError::LevelNotAllowed {
            role_type: role
                .role_type
                .map_or_else(|| "plain group".to_string(), |t| t.to_string()),
            entity,
            level,
        });
    }
    if let Some(minutes) = role.settings.session_timeout_minutes
        && !(1..=crate::auth::session::MAX_TIMEOUT_MINUTES).contains(&minutes)
    {
        return Err(ServiceError::invalid(
            "sessionTimeoutMinutes",
            format!(
                "must be between 1 and {} (a year), is {minutes}",
                crate::auth::session::MAX_TIMEOUT_MINUTES
            ),
        ));
    }
    // A description is a label, not a setting: plain groups pushed by IdPs carry one.
    let rules = RoleSettings {
        description: None,
        ..role.settings.clone()
    };
    if role.role_type.is_none() && rules != RoleSettings::default() {
        return Err(ServiceError::invalid(
            "settings",
            "a plain group carries no settings (only a description)",
        ));
    }
    Ok(())
}

/// Whether `replacement` defines the same role as `old` (a Group PUT that only sends its
/// members back leaves the role's version alone).
fn same_definition(old: &Role, replacement: &Role) -> bool {
    replacement.name == old.name
        && replacement.external_id == old.external_id
        && replacement.role_type == old.role_type
        && replacement.administrator == old.administrator
        && replacement.permissions == old.permissions
        && replacement.settings == old.settings
}
