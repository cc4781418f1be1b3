//! The permission engine (seed 001): what a principal may do to which records. Every service
//! method asks here; the front ends never decide.
//!
//! Levels on users, for a principal P and a record R (P always reaches itself, except with
//! `none`):
//! - `private`: R is P.
//! - `subordinates_direct` / `subordinates_all`: R reports to P directly / transitively.
//! - `team`: P's manager and P's peers (same manager).
//! - `team_subordinates_direct` / `team_subordinates_all`: team plus P's direct / all
//!   subordinates.
//! - `all_employees`: every employee-licensed user.
//! - `account` / `account_hierarchy`: users of P's account / of it and its descendant accounts.
//! - `all`: everyone.
//!
//! On roles, any level short of `all` reaches the roles P holds; on accounts, it reaches P's
//! account (and, for `account_hierarchy`, its descendants). With several roles, the scopes add up
//! (the widest wins); the Administrator System Role reaches everything.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{Actor, Plan, Principal, Result, Service, ServiceError, UserLookup};
use crate::model::{
    Account, AccountId, Action, Entity, LicenseType, PermissionLevel, PrincipalKind, Role, RoleId,
    RoleType, User, UserId,
};
use crate::store::UserKey;

/// Upper bound on a reporting tree walked for a scope; larger trees are cut off (and logged),
/// never looped over forever.
const MAX_SCOPE_USERS: usize = 1_000_000;

/// Longest manager or account chain followed for one decision.
const MAX_CHAIN: usize = 4096;

/// Point reads a decision needs. Decisions made inside a transaction must read through it:
/// sled holds a process-wide lock while a transaction body runs, and a plain read from the body
/// would wait for it forever.
pub trait Records {
    fn user(&mut self, id: UserId) -> Result<Option<User>>;
    fn role(&mut self, id: RoleId) -> Result<Option<Role>>;
    fn account(&mut self, id: AccountId) -> Result<Option<Account>>;
}

impl Records for &dyn crate::store::Store {
    fn user(&mut self, id: UserId) -> Result<Option<User>> {
        Ok(crate::store::Store::user(*self, id)?)
    }
    fn role(&mut self, id: RoleId) -> Result<Option<Role>> {
        Ok(crate::store::Store::role(*self, id)?)
    }
    fn account(&mut self, id: AccountId) -> Result<Option<Account>> {
        Ok(crate::store::Store::account(*self, id)?)
    }
}

/// A transaction seen as [`Records`].
pub struct InTx<'a>(pub &'a mut dyn crate::store::Txn);

impl Records for InTx<'_> {
    fn user(&mut self, id: UserId) -> Result<Option<User>> {
        Ok(self.0.user(id)?)
    }
    fn role(&mut self, id: RoleId) -> Result<Option<Role>> {
        Ok(self.0.role(id)?)
    }
    fn account(&mut self, id: AccountId) -> Result<Option<Account>> {
        Ok(self.0.account(id)?)
    }
}

/// The users a principal reaches for one action.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserScope {
    pub all: bool,
    pub all_employees: bool,
    pub ids: BTreeSet<UserId>,
    pub accounts: BTreeSet<AccountId>,
}

impl UserScope {
    fn everything() -> Self {
        Self {
            all: true,
            ..Self::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        !self.all && !self.all_employees && self.ids.is_empty() && self.accounts.is_empty()
    }

    pub fn contains(&self, user: &User) -> bool {
        self.all
            || (self.all_employees && user.license == LicenseType::Employee)
            || self.ids.contains(&user.id)
            || (user.license != LicenseType::Employee
                && user.account.is_some_and(|a| self.accounts.contains(&a)))
    }

    /// Candidates for a scoped list: point lookups unless the scope is broad.
    pub fn plan(&self) -> Plan {
        if self.all || self.all_employees {
            return Plan::Scan;
        }
        let mut parts: Vec<Plan> = self
            .ids
            .iter()
            .map(|id| Plan::Lookup(UserLookup::Id(*id)))
            .collect();
        parts.extend(
            self.accounts
                .iter()
                .map(|a| Plan::Lookup(UserLookup::Account(*a))),
        );
        Plan::Or(parts)
    }
}

/// Roles or accounts a principal reaches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdScope<I: Ord> {
    pub all: bool,
    pub ids: BTreeSet<I>,
}

impl<I: Ord + Copy> IdScope<I> {
    pub fn is_empty(&self) -> bool {
        !self.all && self.ids.is_empty()
    }

    pub fn contains(&self, id: I) -> bool {
        self.all || self.ids.contains(&id)
    }
}

/// A principal with its roles resolved; built once per request.
#[derive(Clone, Debug)]
pub struct Subject {
    pub principal: Principal,
    pub user: Option<User>,
    pub roles: Vec<Role>,
}

impl Subject {
    /// A provisioning client (an `api` service account: an identity provider), whose
    /// passwords are the users' own and whose changes the provider tells its users of.
    pub fn is_provisioning(&self) -> bool {
        self.user
            .as_ref()
            .is_some_and(|u| u.kind == crate::model::PrincipalKind::Api)
    }

    pub fn is_administrator(&self) -> bool {
        self.principal == Principal::System || self.roles.iter().any(|r| r.administrator)
    }

    /// Levels the principal's roles grant for an action, widest first not implied.
    fn levels(&self, entity: Entity, action: Action) -> BTreeSet<LevelKey> {
        self.roles
            .iter()
            .filter(|r| r.role_type.is_some())
            .map(|r| LevelKey(r.permissions.get(entity, action)))
            .filter(|l| l.0 != PermissionLevel::None)
            .collect()
    }
}

/// `PermissionLevel` ordered by its declaration, for sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LevelKey(PermissionLevel);

impl PartialOrd for LevelKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for LevelKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let index = |l: PermissionLevel| PermissionLevel::ALL.iter().position(|x| *x == l);
        index(self.0).cmp(&index(other.0))
    }
}

impl Service {
    /// Resolves who is acting: the system, a user (with their roles), or anonymous (guest
    /// roles).
    pub fn subject(&self, actor: &Actor) -> Result<Arc<Subject>> {
        if actor.password_change_only {
            return Err(ServiceError::Forbidden(
                super::login::TEMPORARY_PASSWORD.into(),
            ));
        }
        if actor.principal == Principal::System {
            return self.load_subject(actor).map(Arc::new);
        }
        let subject =
            self.derived
                .subjects
                .get_or_build(actor.principal, self.store.generation(), || {
                    self.load_subject(actor)
                })?;
        // The subject's user is as stored now (the cache is rebuilt on every write).
        if let (Some(since), Some(user)) = (actor.signed_in, &subject.user)
            && !super::sessions::sign_in_holds(user, since, time::OffsetDateTime::now_utc())
        {
            return Err(ServiceError::Forbidden(
                "this connection's sign-in no longer holds (the account was locked, signed out \
                 everywhere or given a new password since): bind again"
                    .into(),
            ));
        }
        if actor.single_factor && crate::model::EffectiveSettings::require_mfa(&subject.roles) {
            return Err(ServiceError::Forbidden(
                "your roles now require MFA and this connection signed in with a password \
                 alone: bind again with your code appended"
                    .into(),
            ));
        }
        Ok(subject)
    }

    fn load_subject(&self, actor: &Actor) -> Result<Subject> {
        match actor.principal {
            Principal::System => Ok(Subject {
                principal: Principal::System,
                user: None,
                roles: Vec::new(),
            }),
            Principal::Anonymous => {
                let roles = self
                    .store
                    .roles()
                    .filter(|r| {
                        r.as_ref()
                            .map_or(true, |r| r.role_type == Some(RoleType::Guest))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Subject {
                    principal: Principal::Anonymous,
                    user: None,
                    roles,
                })
            }
            Principal::User(id) => {
                let user = self
                    .store
                    .user(id)?
                    .filter(|u| u.active && !u.anonymised)
                    .ok_or_else(|| {
                        ServiceError::Forbidden("the acting user is not active".into())
                    })?;
                let mut roles = Vec::with_capacity(user.roles.len());
                for role_id in &user.roles {
                    if let Some(role) = self.store.role(*role_id)? {
                        roles.push(role);
                    }
                }
                Ok(Subject {
                    principal: actor.principal,
                    user: Some(user),
                    roles,
                })
            }
        }
    }

    /// The users `subject` may act on with `action`.
    pub fn user_scope(&self, subject: &Subject, action: Action) -> Result<Arc<UserScope>> {
        if subject.is_administrator() {
            return Ok(Arc::new(UserScope::everything()));
        }
        self.derived.scopes.get_or_build(
            (subject.principal, action),
            self.store.generation(),
            || self.compute_user_scope(subject, action),
        )
    }

    fn compute_user_scope(&self, subject: &Subject, action: Action) -> Result<UserScope> {
        let mut scope = UserScope::default();
        for LevelKey(level) in subject.levels(Entity::User, action) {
            self.widen(&mut scope, subject, level)?;
        }
        Ok(scope)
    }

    fn widen(
        &self,
        scope: &mut UserScope,
        subject: &Subject,
        level: PermissionLevel,
    ) -> Result<()> {
        use PermissionLevel as L;
        if level == L::All {
            scope.all = true;
            return Ok(());
        }
        let Some(me) = &subject.user else {
            return Ok(()); // anonymous has no self, team or account
        };
        scope.ids.insert(me.id);
        match level {
            L::None | L::Private | L::All => {}
            L::SubordinatesDirect => scope.ids.extend(self.reports(me.id, false)?),
            L::SubordinatesAll => scope.ids.extend(self.reports(me.id, true)?),
            L::Team => scope.ids.extend(self.team(me)?),
            L::TeamSubordinatesDirect => {
                scope.ids.extend(self.team(me)?);
                scope.ids.extend(self.reports(me.id, false)?);
            }
            L::TeamSubordinatesAll => {
                scope.ids.extend(self.team(me)?);
                scope.ids.extend(self.reports(me.id, true)?);
            }
            L::AllEmployees => scope.all_employees = true,
            L::Account => scope.accounts.extend(me.account),
            L::AccountHierarchy => {
                if let Some(account) = me.account {
                    scope.accounts.extend(self.descendant_accounts(account)?);
                }
            }
        }
        Ok(())
    }

    /// Direct reports, or the whole reporting tree; a visited set makes loops harmless.
    fn reports(&self, manager: UserId, transitive: bool) -> Result<BTreeSet<UserId>> {
        let mut seen = BTreeSet::new();
        let mut frontier = vec![manager];
        while let Some(next) = frontier.pop() {
            for report in self.store.users_by(&UserKey::Manager(next))? {
                if report != manager && seen.insert(report) && transitive {
                    frontier.push(report);
                }
            }
            if seen.len() >= MAX_SCOPE_USERS {
                tracing::warn!(%manager, "reporting tree cut off at {MAX_SCOPE_USERS} users");
                break;
            }
        }
        Ok(seen)
    }

    /// The manager and the peers who share them.
    fn team(&self, me: &User) -> Result<BTreeSet<UserId>> {
        let mut team = BTreeSet::new();
        if let Some(manager) = me.manager {
            team.insert(manager);
            team.extend(self.store.users_by(&UserKey::Manager(manager))?);
        }
        Ok(team)
    }

    fn descendant_accounts(&self, root: AccountId) -> Result<BTreeSet<AccountId>> {
        let mut seen = BTreeSet::from([root]);
        let mut frontier = vec![root];
        while let Some(next) = frontier.pop() {
            for child in self.store.child_accounts(next)? {
                if seen.insert(child) {
                    frontier.push(child);
                }
            }
        }
        Ok(seen)
    }

    /// True when `actor` may read no record at all (anonymous without a guest role, a user
    /// without roles): such a principal is not shown even the shape of the directory.
    pub fn reads_nothing(&self, actor: &Actor) -> Result<bool> {
        let subject = self.subject(actor)?;
        Ok(self.user_scope(&subject, Action::Read)?.is_empty()
            && self.role_scope(&subject, Action::Read).is_empty()
            && self.account_scope(&subject, Action::Read)?.is_empty())
    }

    /// The roles `subject` may act on with `action`.
    pub fn role_scope(&self, subject: &Subject, action: Action) -> IdScope<RoleId> {
        if subject.is_administrator() {
            return IdScope {
                all: true,
                ids: BTreeSet::new(),
            };
        }
        let levels = subject.levels(Entity::Role, action);
        IdScope {
            all: levels.contains(&LevelKey(PermissionLevel::All)),
            ids: if levels.is_empty() {
                BTreeSet::new()
            } else {
                subject
                    .user
                    .iter()
                    .flat_map(|u| u.roles.iter().copied())
                    .collect()
            },
        }
    }

    /// The accounts `subject` may act on with `action`.
    pub fn account_scope(&self, subject: &Subject, action: Action) -> Result<IdScope<AccountId>> {
        if subject.is_administrator() {
            return Ok(IdScope {
                all: true,
                ids: BTreeSet::new(),
            });
        }
        let mut scope = IdScope {
            all: false,
            ids: BTreeSet::new(),
        };
        let own = subject.user.as_ref().and_then(|u| u.account);
        for LevelKey(level) in subject.levels(Entity::Account, action) {
            match level {
                PermissionLevel::All => scope.all = true,
                PermissionLevel::AccountHierarchy => {
                    if let Some(a) = own {
                        scope.ids.extend(self.descendant_accounts(a)?);
                    }
                }
                _ => scope.ids.extend(own),
            }
        }
        Ok(scope)
    }

    /// Refuses unless `subject` may do `action` to `user`. A read refusal is reported as
    /// not-found, so that out-of-scope records are indistinguishable from missing ones. Decided
    /// from the record's own links (manager chain, account chain), so it also works for a record
    /// about to be created.
    pub fn authorize_user(
        &self,
        records: &mut dyn Records,
        subject: &Subject,
        action: Action,
        user: &User,
    ) -> Result<()> {
        if subject.is_administrator() {
            return Ok(());
        }
        let own = subject.user.as_ref().is_some_and(|me| me.id == user.id);
        if user.kind != PrincipalKind::Person && action != Action::Read && !own {
            // A service account signs in without a license seat (DESIGN §2), so a role that
            // may create or edit people in its scope must not make logins that escape the
            // license limits; the seeds keep API users to the administrators.
            if action != Action::Create && !reaches_for(records, subject, Action::Read, user)? {
                return Err(ServiceError::not_found(Entity::User, user.id));
            }
            return Err(ServiceError::Forbidden(format!(
                "only administrators {} service accounts ({:?} is {})",
                verb(action),
                user.user_name,
                user.kind
            )));
        }
        if reaches_for(records, subject, action, user)? {
            return Ok(());
        }
        // A user the subject cannot read is not there, to it: changing or removing one is
        // refused as for a missing id, so that an id tells nothing of whom it names.
        let hidden = matches!(action, Action::Edit | Action::Delete)
            && !reaches_for(records, subject, Action::Read, user)?;
        Err(match action {
            Action::Read => ServiceError::not_found(Entity::User, user.id),
            _ if hidden => ServiceError::not_found(Entity::User, user.id),
            _ => ServiceError::Forbidden(format!(
                "{} may not {} user {:?}",
                describe(subject),
                verb(action),
                user.user_name
            )),
        })
    }

    /// A manager the subject cannot read is, to it, no user at all: naming one would tell it
    /// that the id exists, and put the user in a reporting line the subject does not see.
    pub fn authorize_manager(
        &self,
        records: &mut dyn Records,
        subject: &Subject,
        old: Option<&User>,
        new: &User,
    ) -> Result<()> {
        let Some(manager) = new
            .manager
            .filter(|m| old.and_then(|o| o.manager) != Some(*m))
        else {
            return Ok(());
        };
        if subject.is_administrator() {
            return Ok(());
        }
        let seen = match records.user(manager)? {
            Some(found) if !found.anonymised => {
                reaches_for(records, subject, Action::Read, &found)?
            }
            _ => false,
        };
        if seen {
            Ok(())
        } else {
            Err(ServiceError::UnknownManager(manager.to_string()))
        }
    }

    /// Refuses unless the record `user` would be after a change is still within `subject`'s
    /// Edit reach: nobody moves a user out of its own reach (into another account, or into
    /// an employee seat through an account). The record as stored was authorised before.
    pub fn authorize_user_outcome(
        &self,
        records: &mut dyn Records,
        subject: &Subject,
        user: &User,
    ) -> Result<()> {
        if subject.is_administrator() || reaches_for(records, subject, Action::Edit, user)? {
            return Ok(());
        }
        Err(ServiceError::Forbidden(format!(
            "{} may not make user {:?} what this change would: it would be out of its reach",
            describe(subject),
            user.user_name
        )))
    }

    /// `action` (Edit or Delete) on `user`, as for any other user, and only by someone who
    /// holds at least what `user` holds: only administrators change administrators, and
    /// nobody changes (the record, or the sign-in: password, authenticator, lock, sessions,
    /// reset links) a user holding a role it could not grant. Whoever could set such a user's
    /// password could sign in with that role's rights (the provisioning service account's,
    /// say) and so gain what it was never given.
    pub fn authorize_user_change(
        &self,
        records: &mut dyn Records,
        subject: &Subject,
        action: Action,
        user: &User,
    ) -> Result<()> {
        self.authorize_user(records, subject, action, user)?;
        if subject.is_administrator() {
            return Ok(());
        }
        for role_id in &user.roles {
            let Some(role) = records.role(*role_id)? else {
                continue;
            };
            if role.administrator {
                return Err(ServiceError::Forbidden(format!(
                    "only administrators can change administrator {:?}",
                    user.user_name
                )));
            }
            if self.authorize_grant(subject, &role).is_err() {
                return Err(ServiceError::Forbidden(format!(
                    "{:?} holds role {:?}, which gives more than {} holds: only someone who \
                     could grant it changes {:?}",
                    user.user_name,
                    role.name,
                    describe(subject),
                    user.user_name
                )));
            }
        }
        Ok(())
    }

    pub fn authorize_role(&self, subject: &Subject, action: Action, role: &Role) -> Result<()> {
        if self.role_scope(subject, action).contains(role.id) {
            return Ok(());
        }
        let hidden = matches!(action, Action::Edit | Action::Delete)
            && !self.role_scope(subject, Action::Read).contains(role.id);
        Err(match action {
            Action::Read => ServiceError::not_found(Entity::Role, role.id),
            _ if hidden => ServiceError::not_found(Entity::Role, role.id),
            _ => ServiceError::Forbidden(format!(
                "{} may not {} role {:?}",
                describe(subject),
                verb(action),
                role.name
            )),
        })
    }

    /// Decided from the account's parent chain, so it works inside transactions.
    pub fn authorize_account(
        &self,
        records: &mut dyn Records,
        subject: &Subject,
        action: Action,
        account: &Account,
    ) -> Result<()> {
        if subject.is_administrator() || reaches_account(records, subject, action, account)? {
            return Ok(());
        }
        let hidden = matches!(action, Action::Edit | Action::Delete)
            && !reaches_account(records, subject, Action::Read, account)?;
        Err(match action {
            Action::Read => ServiceError::not_found(Entity::Account, account.id),
            _ if hidden => ServiceError::not_found(Entity::Account, account.id),
            _ => ServiceError::Forbidden(format!(
                "{} may not {} account {:?}",
                describe(subject),
                verb(action),
                account.name
            )),
        })
    }

    /// Seed 002: users edit their own record except their userName, emails, teams (the
    /// manager), roles and whether they are active; nor may they move themselves to another
    /// account or license type (a partner would then reach another company's users). An
    /// administrator may, for anyone.
    pub fn authorize_own_change(&self, subject: &Subject, old: &User, new: &User) -> Result<()> {
        let own = subject.user.as_ref().is_some_and(|me| me.id == old.id);
        if !own || subject.is_administrator() {
            return Ok(());
        }
        let changed: Vec<&str> = [
            ("userName", old.user_name != new.user_name),
            // The identity provider's key for the person: another user's value would make
            // the provider update the wrong one.
            ("externalId", old.external_id != new.external_id),
            ("emails", old.emails != new.emails),
            ("active", old.active != new.active),
            ("manager", old.manager != new.manager),
            ("account", old.account != new.account),
            ("licenseType", old.license != new.license),
            ("roles", old.roles != new.roles),
            // What the identity provider grants, and what applications may authenticate the
            // person by: the provider's to set, as the roles above are an administrator's.
            ("entitlements", old.entitlements != new.entitlements),
            ("SCIM roles", old.scim_roles != new.scim_roles),
            (
                "x509Certificates",
                old.x509_certificates != new.x509_certificates,
            ),
        ]
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect();
        if changed.is_empty() {
            return Ok(());
        }
        Err(ServiceError::Forbidden(format!(
            "users may not change their own {} (an administrator may)",
            changed.join(", ")
        )))
    }

    /// Deleting a role takes Delete on it; and a role that grants anything (permissions,
    /// settings, the administrator flag) is the administrators' to delete, as to define.
    pub fn authorize_role_deletion(&self, subject: &Subject, role: &Role) -> Result<()> {
        self.authorize_role(subject, Action::Delete, role)?;
        if !subject.is_administrator() && defines_rights(role) {
            return Err(ServiceError::Forbidden(format!(
                "only administrators can delete role {:?}: it grants permissions, settings or \
                 the administrator flag",
                role.name
            )));
        }
        Ok(())
    }

    /// Role permissions, settings, type and the administrator flag are the administrators' to
    /// change (limited administrators and provisioning tokens manage members only).
    pub fn authorize_role_definition(
        &self,
        subject: &Subject,
        old: Option<&Role>,
        new: &Role,
    ) -> Result<()> {
        if subject.is_administrator() {
            return Ok(());
        }
        let defines = |r: &Role| {
            (
                r.role_type,
                r.administrator,
                r.permissions,
                r.settings.clone(),
            )
        };
        let changed = match old {
            Some(old) => defines(old) != defines(new),
            None => defines_rights(new),
        };
        if changed {
            return Err(ServiceError::Forbidden(
                "only administrators can change a role's type, permissions or settings".into(),
            ));
        }
        // Applications grant by name (`memberOf=cn=Administrators,…`): a role that grants
        // something renamed, or a plain group named as it was, would pass for the other.
        if let Some(old) = old
            && old.name != new.name
            && defines_rights(old)
        {
            return Err(ServiceError::Forbidden(format!(
                "only administrators can rename role {:?}: it grants permissions, settings or \
                 the administrator flag",
                old.name
            )));
        }
        Ok(())
    }

    /// Giving someone a role that enables API access (SCIM and `/admin/` with their rights)
    /// is the administrators' alone, whatever else the giver may grant: a group an identity
    /// provider pushes under the name `Provisioning` would otherwise hand its members the
    /// provisioning account's rights. Taking the role away, or changing its holders, is not
    /// limited by this.
    pub fn authorize_api_grant(&self, subject: &Subject, role: &Role) -> Result<()> {
        if subject.is_administrator() || !role.settings.api_access {
            return Ok(());
        }
        Err(ServiceError::Forbidden(format!(
            "only administrators can grant {:?}: it enables API access",
            role.name
        )))
    }

    pub fn authorize_grant(&self, subject: &Subject, role: &Role) -> Result<()> {
        if subject.is_administrator() {
            return Ok(());
        }
        if role.administrator {
            return Err(ServiceError::Forbidden(format!(
                "only administrators can grant {:?}",
                role.name
            )));
        }
        for entity in [Entity::User, Entity::Role, Entity::Account] {
            for action in [Action::Read, Action::Create, Action::Edit, Action::Delete] {
                let level = role.permissions.get(entity, action);
                if level != PermissionLevel::None
                    && !subject.levels(entity, action).contains(&LevelKey(level))
                    && !subject
                        .levels(entity, action)
                        .contains(&LevelKey(PermissionLevel::All))
                {
                    return Err(ServiceError::Forbidden(format!(
                        "granting {:?} would give {level} {action:?} on {entity:?}, which {} does not hold",
                        role.name,
                        describe(subject)
                    )));
                }
            }
        }
        Ok(())
    }
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Read => "read",
        Action::Create => "create",
        Action::Edit => "edit",
        Action::Delete => "delete",
    }
}

/// Who a subject is, for a person to read in a message.
pub(super) fn describe(subject: &Subject) -> String {
    match (&subject.principal, &subject.user) {
        (Principal::System, _) => "the system".into(),
        (Principal::Anonymous, _) => "an anonymous client".into(),
        (_, Some(user)) => format!("{:?}", user.user_name),
        (Principal::User(id), None) => id.to_string(),
    }
}

/// Whether holding the role gives anything beyond membership.
fn defines_rights(role: &Role) -> bool {
    role.administrator || !role.permissions.is_empty() || role.settings != Default::default()
}

/// Whether any of `subject`'s levels for `action` on users reaches `user`.
fn reaches_for(
    records: &mut dyn Records,
    subject: &Subject,
    action: Action,
    user: &User,
) -> Result<bool> {
    for LevelKey(level) in subject.levels(Entity::User, action) {
        if reaches(records, subject, level, user)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether any of `subject`'s levels for `action` on accounts reaches `account`; decided from
/// the account's parent chain, so it works inside transactions.
fn reaches_account(
    records: &mut dyn Records,
    subject: &Subject,
    action: Action,
    account: &Account,
) -> Result<bool> {
    let own = subject.user.as_ref().and_then(|u| u.account);
    for LevelKey(level) in subject.levels(Entity::Account, action) {
        let reached = match (level, own) {
            (PermissionLevel::All, _) => true,
            (PermissionLevel::AccountHierarchy, Some(own)) => {
                account_within(records, account.id, own)?
            }
            (_, Some(own)) => own == account.id,
            (_, None) => false,
        };
        if reached {
            return Ok(true);
        }
    }
    Ok(false)
}

fn reaches(
    records: &mut dyn Records,
    subject: &Subject,
    level: PermissionLevel,
    user: &User,
) -> Result<bool> {
    use PermissionLevel as L;
    if level == L::All {
        return Ok(true);
    }
    let Some(me) = &subject.user else {
        return Ok(false);
    };
    if user.id == me.id {
        return Ok(level != L::None);
    }
    let in_team =
        || me.manager.is_some() && (Some(user.id) == me.manager || user.manager == me.manager);
    Ok(match level {
        L::None | L::Private | L::All => false,
        L::SubordinatesDirect => user.manager == Some(me.id),
        L::SubordinatesAll => reports_to(records, user, me.id)?,
        L::Team => in_team(),
        L::TeamSubordinatesDirect => in_team() || user.manager == Some(me.id),
        L::TeamSubordinatesAll => in_team() || reports_to(records, user, me.id)?,
        L::AllEmployees => user.license == LicenseType::Employee,
        // An account's people are its partners and customers: an employee who happens to
        // carry the account is the company's, and one cannot be made (or moved) into an
        // employee seat through the account.
        L::Account => {
            user.license != LicenseType::Employee
                && me.account.is_some()
                && user.account == me.account
        }
        L::AccountHierarchy => match (me.account, user.account) {
            (Some(mine), Some(theirs)) if user.license != LicenseType::Employee => {
                account_within(records, theirs, mine)?
            }
            _ => false,
        },
    })
}

/// Whether `manager` is on `user`'s management chain.
fn reports_to(records: &mut dyn Records, user: &User, manager: UserId) -> Result<bool> {
    let mut next = user.manager;
    let mut seen = BTreeSet::new();
    while let Some(current) = next {
        if current == manager {
            return Ok(true);
        }
        if !seen.insert(current) || seen.len() > MAX_CHAIN {
            return Ok(false);
        }
        next = records.user(current)?.and_then(|u| u.manager);
    }
    Ok(false)
}

/// Whether `account` is `root` or one of its descendants.
fn account_within(records: &mut dyn Records, account: AccountId, root: AccountId) -> Result<bool> {
    let mut next = Some(account);
    let mut seen = BTreeSet::new();
    while let Some(current) = next {
        if current == root {
            return Ok(true);
        }
        if !seen.insert(current) || seen.len() > MAX_CHAIN {
            return Ok(false);
        }
        next = records.account(current)?.and_then(|a| a.parent);
    }
    Ok(false)
}
