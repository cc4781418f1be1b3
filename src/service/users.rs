//! Users: creation, changes under compare-and-swap, activation under the license rules, and
//! anonymisation. There is no hard delete.

use std::ops::ControlFlow;
use std::sync::Arc;

use time::OffsetDateTime;

use super::{
    Actor, Candidates, InTx, Origin, Plan, Principal, Records, Result, Service, ServiceError,
};
use crate::audit::AuditKind;
use crate::model::{Action, Entity, PrincipalKind, RoleId, User, UserId, fold};
use crate::store::{Txn, UserKey};

/// Longest chain of managers followed when checking for cycles; deeper organisations than this
/// are refused rather than walked forever.
const MAX_MANAGER_DEPTH: usize = 1024;

/// Query candidates up to this many are checked against the caller's scope one by one rather
/// than intersected with the scope's own candidates.
const POINT_CHECKS: usize = 64;

/// A user to create, with an optional initial password (hashed before the transaction).
pub struct NewUser {
    pub user: User,
    pub password: Option<String>,
}

/// What a new user signs in with.
pub enum Credential {
    None,
    /// In clear text, hashed here under the password policy.
    Clear(String),
    /// A hash exported by another directory (see [`crate::password::import()`]).
    Exported(String),
}

/// Whether a change leaves the record as it was (all but its version and time). Such a write
/// is not stored: a PUT that says again what is there, or a PATCH that removes what is absent,
/// keeps the version, so another client's `If-Match` on it still holds.
fn same_record(old: &User, new: &User) -> bool {
    let mut new = new.clone();
    new.version = old.version;
    new.modified = old.modified;
    new == *old
}

impl Service {
    pub fn create_user(&self, actor: &Actor, new: NewUser) -> Result<User> {
        let NewUser { user, password } = new;
        self.create_user_from(
            actor,
            user,
            password.map_or(Credential::None, Credential::Clear),
            Origin::New,
            None,
        )
    }

    /// Creates a user whose password is a hash exported by another directory (`{SSHA}`,
    /// `{SSHA512}`, bcrypt, `{ARGON2}`), in one transaction: a migrated user never exists
    /// without its password, and is not sent a link to choose one. A weak or malformed hash
    /// refuses the whole creation, with the reason.
    pub fn create_user_with_hash(&self, actor: &Actor, user: User, exported: &str) -> Result<User> {
        self.create_user_from(
            actor,
            user,
            Credential::Exported(exported.to_string()),
            Origin::New,
            None,
        )
    }

    /// A role the user held that no longer exists (deleted while the user was being given it,
    /// by a release before role versions stood for their members; `rollcall check` names it)
    /// is dropped at the user's next change, so that one is not refused over it. The audit
    /// entry's diff shows it go. Read outside the transaction: reading every role of every
    /// user changed in it would make each conflict with any change of those roles' members.
    fn drop_deleted_roles(&self, old: &User, new: &mut User) -> Result<()> {
        let mut deleted = Vec::new();
        for id in old.roles.iter().filter(|r| new.roles.contains(r)) {
            if self.store.role(*id)?.is_none() {
                deleted.push(*id);
            }
        }
        new.roles.retain(|r| !deleted.contains(r));
        Ok(())
    }

    /// Creates a user of either origin: one [`Origin::Moved`] keeps when it was created and
    /// first activated in the directory it comes from, and `last_login`, when it last signed
    /// in there (shown as its last sign-in; its idle time still starts here, see
    /// [`Self::carry_last_login`]).
    pub fn create_user_from(
        &self,
        actor: &Actor,
        mut user: User,
        credential: Credential,
        origin: Origin,
        last_login: Option<OffsetDateTime>,
    ) -> Result<User> {
        normalise(&mut user)?;
        let subject = self.subject(actor)?;
        self.authorize_user(&mut self.records(), &subject, Action::Create, &user)?;
        self.authorize_manager(&mut self.records(), &subject, None, &user)?;
        self.authorize_roles_granted(&mut self.records(), &subject, &[], &user.roles)?;
        // Checked again in the transaction; here it spares the argon2 work, and a taken name
        // is the error that matters when the password is also unacceptable.
        if self
            .records()
            .user_by_name(&fold(&user.user_name))?
            .is_some()
        {
            return Err(ServiceError::UserNameTaken(user.user_name.clone()));
        }
        let mut dropped = None;
        let exported = matches!(credential, Credential::Exported(_));
        user.password_hash = match credential {
            Credential::Clear(pw) => match self.new_password_hash(None, &pw) {
                Ok(hash) => Some(hash),
                Err(ServiceError::PasswordPolicy(v)) if self.drops_provisioned(&subject) => {
                    dropped = Some(v);
                    None
                }
                Err(e) => return Err(e),
            },
            Credential::Exported(exported) => Some(
                crate::password::import(&exported)
                    .map_err(|e| ServiceError::invalid("password", e.to_string()))?,
            ),
            Credential::None => None,
        };
        user.password_history.clear();
        user.locked_until = None;
        user.totp = None;
        user.sessions_revoked = None;
        let now = OffsetDateTime::now_utc();
        user.created = origin.since(user.created, now);
        user.anonymised = false;
        user.first_activated = origin.kept(user.first_activated, now);
        let last_login = origin.kept(last_login, now);
        // A hash brought from another directory keeps the age it had there (an import line's
        // `password_changed`), so that `[password] max_age_days` does not start again at a
        // migration; a time in the future is not believed.
        let carried = user.password_changed.filter(|at| exported && *at <= now);
        user.password_changed = user.password_hash.as_ref().map(|_| carried.unwrap_or(now));
        // A password someone chose for a new user is temporary under the policy.
        user.password_must_change =
            user.password_hash.is_some() && !exported && self.sets_temporary(actor, user.id)?;
        let result = self.transact(|tx| {
            if tx.user(user.id)?.is_some() {
                return Err(ServiceError::invalid(
                    "id",
                    format!("{} already exists", user.id),
                ));
            }
            let created = self.commit_user(tx, actor, None, user.clone())?;
            if let Some(at) = last_login {
                self.carry_last_login(tx, created.id, at)?;
            }
            if let Some(v) = &dropped {
                self.audit_dropped_password(tx, actor, created.id, v)?;
            }
            Ok(created)
        });
        self.after_write(actor, user.id, &user.user_name, result)
    }

    /// A readable user: anonymised ones are gone as far as every front end is concerned.
    pub fn user(&self, actor: &Actor, id: UserId) -> Result<User> {
        let user = self
            .store
            .user(id)?
            .filter(|u| !u.anonymised)
            .ok_or_else(|| ServiceError::not_found(Entity::User, id))?;
        let subject = self.subject(actor)?;
        self.authorize_user(&mut self.records(), &subject, Action::Read, &user)?;
        Ok(user)
    }

    /// The kind of the acting user when `name` is its own userName, in any case: what a client
    /// signed in as that user knows already, so that a front end may answer "not allowed"
    /// where its roles hide the record, rather than "no such user".
    pub fn names_self(&self, actor: &Actor, name: &str) -> Option<PrincipalKind> {
        let Principal::User(id) = actor.principal else {
            return None;
        };
        self.store
            .user(id)
            .ok()
            .flatten()
            .filter(|u| !u.anonymised && fold(&u.user_name) == fold(name))
            .map(|u| u.kind)
    }

    /// By userName, in any case.
    pub fn user_by_name(&self, actor: &Actor, name: &str) -> Result<User> {
        let id = self
            .store
            .user_by_name(&fold(name))?
            .ok_or_else(|| ServiceError::not_found(Entity::User, name))?;
        // Out of scope reads as missing, under the name asked for: never leak the id.
        self.user(actor, id).map_err(|e| match e {
            ServiceError::NotFound { .. } => ServiceError::not_found(Entity::User, name),
            e => e,
        })
    }

    /// Replaces every writable attribute of a user (SCIM PUT). Server-managed fields (id,
    /// timestamps, password, roles, anonymisation) are kept. A `password` sent along is set
    /// in the same transaction, under the password policy (see [`Service::set_password`]).
    pub fn replace_user(
        &self,
        actor: &Actor,
        id: UserId,
        replacement: User,
        expected_version: Option<u64>,
        password: Option<&str>,
    ) -> Result<User> {
        let hash = match password {
            Some(password) => self.checked_password_for(actor, id, password)?,
            None => None,
        };
        let now = OffsetDateTime::now_utc();
        let temporary = self.sets_temporary(actor, id)?;
        self.update_user(actor, id, expected_version, |current| {
            let mut next = replacement.clone();
            next.id = current.id;
            next.roles = current.roles.clone();
            next.password_hash = current.password_hash.clone();
            next.password_changed = current.password_changed;
            next.password_must_change = current.password_must_change;
            next.password_history = current.password_history.clone();
            next.locked_until = current.locked_until;
            next.totp = current.totp.clone();
            next.sessions_revoked = current.sessions_revoked;
            next.first_activated = current.first_activated;
            next.created = current.created;
            next.kind = current.kind;
            // A replacement carries the declared custom attributes; the others stay.
            for (key, value) in &current.extensions {
                if self.policy.custom.declared(key).is_none() {
                    next.extensions
                        .entry(key.clone())
                        .or_insert_with(|| value.clone());
                }
            }
            if let Some(hash) = &hash {
                self.install_password(&mut next, hash.clone(), now, temporary);
            }
            *current = next;
            Ok(())
        })
    }

    /// Applies `change` to the current record and writes it if the version still matches
    /// `expected_version` (when given). `change` may run more than once and must be pure.
    pub fn update_user(
        &self,
        actor: &Actor,
        id: UserId,
        expected_version: Option<u64>,
        change: impl Fn(&mut User) -> Result<()>,
    ) -> Result<User> {
        let subject = self.subject(actor)?;
        let mut user_name = String::new();
        let result = self.transact(|tx| {
            let old = readable(tx, id)?;
            self.authorize_user_change(&mut InTx(tx), &subject, Action::Edit, &old)?;
            check_version(expected_version, old.version)?;
            user_name.clone_from(&old.user_name);
            let mut new = old.clone();
            change(&mut new)?;
            new.id = old.id;
            new.created = old.created;
            new.anonymised = false;
            normalise(&mut new)?;
            self.authorize_user_outcome(&mut InTx(tx), &subject, &new)?;
            self.authorize_manager(&mut InTx(tx), &subject, Some(&old), &new)?;
            self.authorize_own_change(&subject, &old, &new)?;
            if self.is_active_administrator(&old)? {
                let keeps = |role: RoleId| new.active && new.roles.contains(&role);
                self.keep_an_administrator(
                    tx,
                    &format!("changing {:?}", old.user_name),
                    &|r, u| u == id && !keeps(r),
                )?;
            }
            self.authorize_roles_granted(&mut InTx(tx), &subject, &old.roles, &new.roles)?;
            if same_record(&old, &new) {
                return Ok(old);
            }
            // After the checks: the repair is the server's, not a change the actor asks for.
            self.drop_deleted_roles(&old, &mut new)?;
            self.commit_user(tx, actor, Some(&old), new)
        });
        self.after_write(actor, id, &user_name, result)
    }

    pub fn set_active(
        &self,
        actor: &Actor,
        id: UserId,
        active: bool,
        expected_version: Option<u64>,
    ) -> Result<User> {
        self.update_user(actor, id, expected_version, |u| {
            u.active = active;
            Ok(())
        })
    }

    /// Stores a password hash exported by another directory (`{SSHA}`, `{SSHA512}`, bcrypt,
    /// `{ARGON2}`; see [`crate::password::import()`]), for migrations: the clear text is never
    /// known here. Needs Edit on the user, like a reset. A weak or malformed hash is refused
    /// with the reason, so the admin knows which users must reset instead.
    pub fn import_password_hash(&self, actor: &Actor, id: UserId, exported: &str) -> Result<User> {
        let hash = crate::password::import(exported)
            .map_err(|e| ServiceError::invalid("password", e.to_string()))?;
        self.refuse_own_reset(actor, &*self.subject(actor)?, id)?;
        // Whoever made the hash knows the password, as with one set in clear: temporary
        // under `reset_must_change`, like any administrator's reset.
        let temporary = self.sets_temporary(actor, id)?;
        let now = OffsetDateTime::now_utc();
        self.update_user(actor, id, None, |u| {
            self.install_password(u, hash.clone(), now, temporary);
            Ok(())
        })
    }

    /// Final: erases personal data, frees the license and the userName, drops role memberships.
    /// The record stays (unreadable) so the audit trail still resolves the id.
    pub fn anonymise_user(
        &self,
        actor: &Actor,
        id: UserId,
        expected_version: Option<u64>,
    ) -> Result<()> {
        let subject = self.subject(actor)?;
        let reports = self.store.users_by(&UserKey::Manager(id))?;
        self.transact(|tx| {
            let old = readable(tx, id)?;
            self.authorize_user_change(&mut InTx(tx), &subject, Action::Delete, &old)?;
            // Final, so never one's own doing: the provisioning account would take its token
            // with it (and `token create` its account), a person its only way back.
            if actor.principal == Principal::User(id) {
                return Err(ServiceError::Forbidden(
                    "an account cannot anonymise itself; someone else with Delete on it can".into(),
                ));
            }
            check_version(expected_version, old.version)?;
            if self.is_active_administrator(&old)? {
                let what = format!("anonymising {:?}", old.user_name);
                self.keep_an_administrator(tx, &what, &|_, u| u == id)?;
            }
            let mut new = old.clone();
            new.erase_personal_data();
            new.version = old.version + 1;
            new.modified = OffsetDateTime::now_utc();
            tx.put_user(&new)?;
            self.note_roles_changed(tx, &old.roles, &new.roles, new.modified)?;
            // Earlier events about the user lose their snapshots (refused activations name
            // the user by userName: they are renamed to the id), messages to the user lose
            // address and content, and this event has none: the point is that the personal
            // data is gone.
            let subject_id = id.to_string();
            tx.erase_audit_of(&subject_id, &subject_id)?;
            tx.erase_audit_of(&old.user_name, &subject_id)?;
            tx.erase_outbox_of(id)?;
            self.forget_activity(tx, id)?;
            self.detach_reports(tx, actor, id, &reports)?;
            self.audit(
                tx,
                actor,
                AuditKind::UserAnonymised,
                Some(id.to_string()),
                None,
                None,
            )
        })?;
        // A report given this manager after the list above was read, before the anonymised
        // record was stored, is detached now: no one can name the manager any more.
        // The anonymisation has committed: a failure here is logged, not answered, or the
        // client would retry a DELETE that already happened.
        let late = self
            .store
            .users_by(&UserKey::Manager(id))
            .map_err(ServiceError::from)
            .and_then(|late| match late.is_empty() {
                true => Ok(()),
                false => self.transact(|tx| self.detach_reports(tx, actor, id, &late)),
            });
        if let Err(e) = late {
            tracing::error!(user = %id, error = %e,
                "anonymised, but reports given it as manager meanwhile still name it");
        }
        Ok(())
    }

    /// The direct reports of `manager`, anonymised, left without a manager (audited as a
    /// change of each): a reference to someone who is gone would read as a `404` to every
    /// client, and keep them in a reporting line that no longer exists.
    fn detach_reports(
        &self,
        tx: &mut dyn Txn,
        actor: &Actor,
        manager: UserId,
        reports: &[UserId],
    ) -> Result<()> {
        let now = OffsetDateTime::now_utc();
        for report in reports {
            let Some(old) = tx.user(*report)?.filter(|u| u.manager == Some(manager)) else {
                continue;
            };
            let mut new = old.clone();
            new.manager = None;
            put_server_managed(tx, &mut new, now)?;
            self.audit(
                tx,
                actor,
                AuditKind::UserChanged,
                Some(report.to_string()),
                Some("its manager was anonymised".into()),
                Some(crate::audit::diff(redacted(&old), redacted(&new))),
            )?;
        }
        Ok(())
    }

    /// Streams the users among the plan's candidates that the actor may read, in creation
    /// order, until `visit` breaks. The caller applies its exact filter; the plan only narrows,
    /// and the actor's read scope narrows it further before anything is loaded.
    pub fn list_users(
        &self,
        actor: &Actor,
        plan: &Plan,
        visit: &mut dyn FnMut(&User) -> ControlFlow<()>,
    ) -> Result<()> {
        self.list_users_after(actor, plan, None, visit)
    }

    /// [`Service::list_users`] with a visitor that can fail (writing an export, say): the
    /// first error ends the listing and is returned.
    pub fn try_list_users<E: From<ServiceError>>(
        &self,
        actor: &Actor,
        plan: &Plan,
        visit: &mut dyn FnMut(&User) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let mut failed = None;
        self.list_users(actor, plan, &mut |user| match visit(user) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                failed = Some(e);
                ControlFlow::Break(())
            }
        })?;
        failed.map_or(Ok(()), Err)
    }

    /// One page of the users the actor may read, in id order (the order of
    /// [`Service::list_users`]): visits those at 0-based positions `first..first + count` and
    /// returns how many there are in all. For a principal that reads everyone the positions
    /// come from the name index, kept per store generation, so a page reads only its own
    /// records; a scoped principal's page is a scan.
    pub fn user_page(
        &self,
        actor: &Actor,
        first: usize,
        count: usize,
        visit: &mut dyn FnMut(&User) -> ControlFlow<()>,
    ) -> Result<usize> {
        let subject = self.subject(actor)?;
        let scope = self.user_scope(&subject, Action::Read)?;
        if !scope.all {
            let mut total = 0usize;
            let mut flow = ControlFlow::Continue(());
            self.list_users(actor, &Plan::Scan, &mut |user| {
                if total >= first && total - first < count && flow.is_continue() {
                    flow = visit(user);
                }
                total += 1;
                ControlFlow::Continue(())
            })?;
            return Ok(total);
        }
        let ids = self.named_user_ids()?;
        for id in ids.iter().skip(first).take(count) {
            // Anonymised since the positions were taken: a page one short, never a wrong user.
            if let Some(user) = self.store.shared_user(*id)?
                && !user.anonymised
                && visit(&user).is_break()
            {
                break;
            }
        }
        Ok(ids.len())
    }

    fn named_user_ids(&self) -> Result<Arc<Vec<UserId>>> {
        self.derived
            .user_ids
            .get_or_build((), self.store.generation(), || {
                Ok(self.store.named_user_ids()?)
            })
    }

    /// [`Service::list_users`] from the user after `after` on: a page that resumes where the
    /// last one ended reads nothing before it.
    pub fn list_users_after(
        &self,
        actor: &Actor,
        plan: &Plan,
        after: Option<UserId>,
        visit: &mut dyn FnMut(&User) -> ControlFlow<()>,
    ) -> Result<()> {
        let subject = self.subject(actor)?;
        let scope = self.user_scope(&subject, Action::Read)?;
        if scope.is_empty() {
            return Ok(());
        }
        // The query's own candidates first: a point lookup is checked against the scope user
        // by user, and only a broad query pays for the scope's candidates (an account's users,
        // a reporting tree) to narrow it.
        let mut candidates = plan.execute(self.store.as_ref())?;
        let narrow = match &candidates {
            Candidates::Ids(ids) => ids.len() > POINT_CHECKS,
            Candidates::All => true,
        };
        if !scope.all && narrow {
            candidates = match (candidates, scope.plan().execute(self.store.as_ref())?) {
                (Candidates::All, allowed) => allowed,
                (query, Candidates::All) => query,
                (Candidates::Ids(query), Candidates::Ids(allowed)) => {
                    Candidates::Ids(query.intersection(&allowed).copied().collect())
                }
            };
        }
        let mut emit = |user: &User| {
            if user.anonymised || !scope.contains(user) {
                ControlFlow::Continue(())
            } else {
                visit(user)
            }
        };
        match candidates {
            Candidates::All => {
                for user in self.store.shared_users(after) {
                    if emit(user?.as_ref()).is_break() {
                        break;
                    }
                }
            }
            Candidates::Ids(ids) => {
                for id in ids.into_iter().filter(|id| after.is_none_or(|a| *id > a)) {
                    if let Some(user) = self.store.shared_user(id)?
                        && emit(&user).is_break()
                    {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Every role newly in `new` must be grantable by the subject, and every role dropped
    /// from `old` too (taking away an administrator role is an administrator's act).
    fn authorize_roles_granted(
        &self,
        records: &mut dyn Records,
        subject: &super::Subject,
        old: &[crate::model::RoleId],
        new: &[crate::model::RoleId],
    ) -> Result<()> {
        let granted = new.iter().filter(|r| !old.contains(r)).map(|r| (r, true));
        let dropped = old.iter().filter(|r| !new.contains(r)).map(|r| (r, false));
        for (role_id, granting) in granted.chain(dropped) {
            let Some(role) = records.role(*role_id)? else {
                if granting {
                    return Err(ServiceError::UnknownRole(role_id.to_string()));
                }
                // Dropped because it no longer exists: nothing is taken from anyone.
                continue;
            };
            self.authorize_grant(subject, &role)?;
            if granting {
                self.authorize_api_grant(subject, &role)?;
            }
        }
        Ok(())
    }

    /// The one write path for users: every rule, then the record, its notice and its audit entry.
    pub(super) fn commit_user(
        &self,
        tx: &mut dyn Txn,
        actor: &Actor,
        old: Option<&User>,
        new: User,
    ) -> Result<User> {
        self.commit_user_because(tx, actor, old, new, None)
    }

    /// [`Self::commit_user`], with why the change was made in its audit entry.
    pub(super) fn commit_user_because(
        &self,
        tx: &mut dyn Txn,
        actor: &Actor,
        old: Option<&User>,
        mut new: User,
        reason: Option<String>,
    ) -> Result<User> {
        self.check_custom(old, &new)?;
        super::profile::check_profile(old, &new)?;
        self.check_references(tx, old, &new)?;
        self.take_seat(tx, old, &new)?;
        if let Some(old) = old
            && (old.active && !new.active || lost_administrator(tx, old, &new)?)
        {
            // Deactivation ends sign-ins for good: reactivated, the user signs in again
            // rather than finding old sessions and LDAP connections working once more.
            new.sessions_revoked = Some(OffsetDateTime::now_utc());
        }
        self.notify_activation(tx, old, &mut new)?;
        if let Some(old) = old {
            self.notify_security_changes(tx, actor, old, &new)?;
        }
        new.version = old.map_or(1, |o| o.version + 1);
        new.modified = OffsetDateTime::now_utc();
        tx.put_user(&new)?;
        let before: &[RoleId] = old.map_or(&[], |o| &o.roles);
        for role in self.note_roles_changed(tx, before, &new.roles, new.modified)? {
            self.notify_role_granted(tx, actor, &new, before, &role)?;
        }
        if new.active && !new.anonymised && !old.is_some_and(|o| o.active) {
            self.note_activated(tx, new.id)?;
        }
        let kind = match (old.map(|o| o.active), new.active) {
            (None, _) => AuditKind::UserCreated,
            (Some(false), true) => AuditKind::UserActivated,
            (Some(true), false) => AuditKind::UserDeactivated,
            _ => AuditKind::UserChanged,
        };
        let change = crate::audit::diff(
            old.map(redacted).unwrap_or(serde_json::Value::Null),
            redacted(&new),
        );
        // A new password is an event of its own, so `kind=password_changed` finds every one,
        // not only those made by a link.
        let password_event = old
            .filter(|o| new.password_hash.is_some() && o.password_hash != new.password_hash)
            .map(|_| match (&reason, actor.principal) {
                (Some(reason), _) => reason.clone(),
                (None, Principal::User(me)) if me == new.id && actor.acting_admin.is_none() => {
                    "changed by the user".to_string()
                }
                (None, _) if new.password_must_change => "set by another (temporary)".to_string(),
                (None, _) => "set by another".to_string(),
            });
        self.audit(
            tx,
            actor,
            kind,
            Some(new.id.to_string()),
            reason,
            Some(change),
        )?;
        if let Some(detail) = password_event {
            self.audit(
                tx,
                actor,
                AuditKind::PasswordChanged,
                Some(new.id.to_string()),
                Some(detail),
                None,
            )?;
        }
        Ok(new)
    }

    /// Declared custom attributes hold values of their declared type. Keys no longer declared
    /// (an attribute taken out of the config) are kept as they are: the data is not lost. Only
    /// values the change sets are checked: one stored before its attribute's type was changed
    /// in the config does not make every later update of the user fail (an identity
    /// provider's included, for a field it never sent).
    fn check_custom(&self, old: Option<&User>, user: &User) -> Result<()> {
        let custom = &self.policy.custom;
        for (key, value) in &user.extensions {
            if old.is_some_and(|o| o.extensions.get(key) == Some(value)) {
                continue;
            }
            if let Some(attribute) = custom.declared(key) {
                custom
                    .check(attribute, value)
                    .map_err(|reason| ServiceError::invalid("custom attribute", reason))?;
            }
        }
        Ok(())
    }

    /// userName uniqueness, account, manager and role constraints, read inside the transaction.
    fn check_references(&self, tx: &mut dyn Txn, old: Option<&User>, new: &User) -> Result<()> {
        // Zero-width and direction characters would make a name that looks like another's.
        // Checked when the name is given, so that a record stored before still takes changes.
        if old.is_none_or(|o| o.user_name != new.user_name)
            && new.user_name.chars().any(crate::model::is_invisible)
        {
            return Err(ServiceError::invalid(
                "userName",
                "contains invisible characters (zero-width spaces or joiners, direction marks)",
            ));
        }
        if let Some(holder) = tx.user_by_name(&fold(&new.user_name))?
            && holder != new.id
        {
            return Err(ServiceError::UserNameTaken(new.user_name.clone()));
        }
        if new.kind == PrincipalKind::Person
            && new.license.requires_account()
            && new.account.is_none()
        {
            return Err(ServiceError::AccountRequired(new.license));
        }
        if let Some(account) = new.account
            && old.and_then(|o| o.account) != Some(account)
            && tx.account(account)?.is_none()
        {
            return Err(ServiceError::UnknownAccount(account.to_string()));
        }
        if let Some(manager) = new.manager
            && old.and_then(|o| o.manager) != Some(manager)
        {
            check_manager_chain(tx, new.id, manager)?;
        }
        let roles_changed = old.is_none_or(|o| o.roles != new.roles || o.license != new.license);
        if roles_changed {
            for role_id in &new.roles {
                let role = tx
                    .role(*role_id)?
                    .ok_or_else(|| ServiceError::UnknownRole(role_id.to_string()))?;
                if let Some(role_type) = role.role_type
                    && !role.admits(new.license)
                {
                    return Err(ServiceError::RoleTypeMismatch {
                        role: role.name,
                        role_type,
                        user: new.user_name.clone(),
                        license: new.license,
                    });
                }
            }
        }
        Ok(())
    }

    /// A refused activation is worth an admin notification even though nothing was written.
    /// A change a user makes to its own record that needs no Edit permission (its password).
    pub(super) fn update_own(
        &self,
        actor: &Actor,
        id: UserId,
        change: impl Fn(&mut User),
    ) -> Result<User> {
        self.transact(|tx| {
            let old = readable(tx, id)?;
            let mut new = old.clone();
            change(&mut new);
            self.commit_user(tx, actor, Some(&old), new)
        })
    }

    fn after_write(
        &self,
        actor: &Actor,
        id: UserId,
        user_name: &str,
        result: Result<User>,
    ) -> Result<User> {
        if let Err(e @ (ServiceError::LicenseLimit { .. } | ServiceError::AccountNotLicensed(_))) =
            &result
        {
            self.record_refusal(actor, id, user_name, e);
        }
        result
    }
}

/// Writes a change to server-managed fields only (lock, authenticator, sessions), which needs
/// none of the rules of `commit_user`; the version (the ETag) still moves, so a client holding
/// the old representation learns that it changed.
pub(super) fn put_server_managed(
    tx: &mut dyn Txn,
    user: &mut User,
    now: OffsetDateTime,
) -> Result<()> {
    user.version += 1;
    user.modified = now;
    tx.put_user(user)?;
    Ok(())
}

pub(super) fn readable(tx: &mut dyn Txn, id: UserId) -> Result<User> {
    tx.user(id)?
        .filter(|u| !u.anonymised)
        .ok_or_else(|| ServiceError::not_found(Entity::User, id))
}

pub(super) fn check_version(expected: Option<u64>, current: u64) -> Result<()> {
    match expected {
        Some(expected) if expected != current => {
            Err(ServiceError::VersionConflict { expected, current })
        }
        _ => Ok(()),
    }
}

/// Whether the change takes `old`'s last administrator role away. Its sessions then end, the
/// act-as sessions it opened among them, which would otherwise work again the moment it were
/// made an administrator again.
pub(super) fn lost_administrator(tx: &mut dyn Txn, old: &User, new: &User) -> Result<bool> {
    // Roles are read only when some are taken away: a read in the transaction makes it
    // conflict with every change of that role's members.
    if old.roles.iter().all(|r| new.roles.contains(r)) {
        return Ok(false);
    }
    let mut held = false;
    for id in &old.roles {
        if tx.role(*id)?.is_some_and(|r| r.administrator) {
            if new.roles.contains(id) {
                return Ok(false);
            }
            held = true;
        }
    }
    Ok(held)
}

/// Refuses a manager that is missing, anonymised, or would close a loop in the hierarchy.
fn check_manager_chain(tx: &mut dyn Txn, user: UserId, manager: UserId) -> Result<()> {
    let mut next = Some(manager);
    for _ in 0..MAX_MANAGER_DEPTH {
        let Some(current) = next else {
            return Ok(());
        };
        if current == user {
            return Err(ServiceError::ManagerCycle(user.to_string()));
        }
        let record = tx.user(current)?.filter(|u| !u.anonymised);
        let Some(record) = record else {
            return if current == manager {
                Err(ServiceError::UnknownManager(manager.to_string()))
            } else {
                Ok(())
            };
        };
        next = record.manager;
    }
    Err(ServiceError::invalid(
        "manager",
        format!("the management chain is deeper than {MAX_MANAGER_DEPTH}"),
    ))
}

/// Trims and checks the attributes every front end must agree on.
pub(super) fn normalise(user: &mut User) -> Result<()> {
    let name = user.user_name.trim();
    if name.is_empty() {
        return Err(ServiceError::invalid("userName", "must not be empty"));
    }
    if name.chars().count() > 256 {
        return Err(ServiceError::invalid(
            "userName",
            "longer than 256 characters",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            "userName",
            "contains control characters",
        ));
    }

    user.user_name = name.to_string();
    if user.manager == Some(user.id) {
        return Err(ServiceError::ManagerCycle(user.id.to_string()));
    }
    if user.kind == PrincipalKind::System && user.active {
        // The system principal never logs in; an active flag would suggest otherwise.
        user.active = false;
    }
    for email in &mut user.emails {
        email.value = email.value.trim().to_string();
        if email.value.is_empty() || email.value.chars().any(char::is_control) {
            return Err(ServiceError::invalid(
                "emails",
                "an address is empty or has control characters",
            ));
        }
    }
    if let Some(ext) = &user.external_id
        && (ext.is_empty() || ext.contains('\0'))
    {
        return Err(ServiceError::invalid(
            "externalId",
            "must be non-empty text",
        ));
    }
    Ok(())
}

/// A user as the audit trail may keep it: never the password hash.
fn redacted(user: &User) -> serde_json::Value {
    let mut value = serde_json::to_value(user).unwrap_or_default();
    if let Some(obj) = value.as_object_mut() {
        obj.remove("password_hash");
        obj.remove("password_history");
        if let Some(totp) = obj.get_mut("totp").filter(|t| t.is_object()) {
            // Whether MFA is on is worth auditing; the shared secret never is.
            *totp = serde_json::json!({"enrolled": true, "confirmed": totp["confirmed"]});
        }
        obj.remove("version");
        obj.remove("modified");
    }
    value
}
