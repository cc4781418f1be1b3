//! Access reviews (seed 003: "perform quarterly user access reviews to ensure appropriate
//! permissions"): one row per user with what it may do and whether it still uses the
//! directory, for the reviewer to confirm or revoke.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use time::OffsetDateTime;

use super::{Actor, Plan, Service};
use crate::model::{
    AccountId, Action, Entity, LicenseType, PermissionLevel, PrincipalKind, Role, RoleId,
};

/// One user, as an access review shows it. Never a secret: whether MFA is on, not the secret;
/// when the password changed, not the hash.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AccessRow {
    pub user_name: String,
    pub display_name: Option<String>,
    pub kind: PrincipalKind,
    /// A person's license type; none for a service account, which takes no license.
    pub license: Option<LicenseType>,
    pub account: Option<String>,
    pub active: bool,
    pub locked: bool,
    /// Names of its roles and groups.
    pub roles: Vec<String>,
    /// Holds the Administrator System Role.
    pub administrator: bool,
    /// What its roles grant, `entity.action=level`, the widest levels only (`user.edit=team`;
    /// two levels neither of which covers the other are both listed).
    pub permissions: Vec<String>,
    /// An authenticator (TOTP) is enrolled.
    pub mfa: bool,
    /// One of its roles requires MFA.
    pub mfa_required: bool,
    /// It may sign in with a password (no role sets `passwordLoginDisabled`) and has one.
    pub password_login: bool,
    /// Its session tokens work at SCIM and `/admin/` (a role enables `apiAccess`).
    pub api_access: bool,
    /// The shortest session timeout of its roles; none: the configured default.
    pub session_timeout_minutes: Option<u32>,
    /// Where it may sign in from: one list per role that restricts it, and the client must
    /// be in a network of each; empty: anywhere.
    pub allowed_networks: Vec<Vec<String>>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub password_changed: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_login: Option<OffsetDateTime>,
    /// Whole days since its last activity (sign-in, activation, or the start of tracking).
    pub idle_days: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}

/// Which users a review lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReviewFilter {
    /// Only the users the dormant-account rule applies to (active people who sign in here)
    /// idle for at least this many days: those `[activity] deactivate_after_days` set to it
    /// would deactivate.
    pub idle_days: Option<u32>,
}

impl Service {
    /// Streams the review rows of every readable user, in creation order. Administrators
    /// only: it shows everyone's permissions and habits.
    pub fn access_review<E: From<super::ServiceError>>(
        &self,
        actor: &Actor,
        filter: ReviewFilter,
        visit: &mut dyn FnMut(AccessRow) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        self.require_administrator(actor, "review everyone's access")?;
        let now = OffsetDateTime::now_utc();
        let since = self.activity_tracked_since()?;
        let roles: HashMap<RoleId, Role> = self
            .all_roles()?
            .iter()
            .map(|r| (r.id, r.clone()))
            .collect();
        let mut accounts: HashMap<AccountId, Option<String>> = HashMap::new();
        self.try_list_users(actor, &Plan::Scan, &mut |user| {
            let held: Vec<&Role> = user.roles.iter().filter_map(|id| roles.get(id)).collect();
            let settings = crate::model::EffectiveSettings::of(held.iter().copied());
            let state = self
                .store
                .login_state(user.id)
                .map_err(super::ServiceError::from)?;
            let activity = self.activity_of(user, state.as_ref(), since);
            let idle_days = activity.idle_days(now);
            if let Some(days) = filter.idle_days {
                let applies = user.kind == PrincipalKind::Person
                    && user.active
                    && !settings.password_login_disabled;
                if !applies || idle_days < i64::from(days) {
                    return Ok(());
                }
            }
            let account = match user.account {
                Some(id) => match accounts.get(&id) {
                    Some(name) => name.clone(),
                    None => {
                        let name = self.store.account(id).map_err(super::ServiceError::from)?;
                        let name = name.map(|a| a.name);
                        accounts.insert(id, name.clone());
                        name
                    }
                },
                None => None,
            };
            visit(AccessRow {
                user_name: user.user_name.clone(),
                display_name: user.display_name.clone(),
                kind: user.kind,
                license: user.license_type(),
                account,
                active: user.active,
                locked: user.is_locked(now),
                roles: held.iter().map(|r| r.name.clone()).collect(),
                administrator: held.iter().any(|r| r.administrator),
                permissions: granted(&held),
                mfa: user.has_mfa(),
                mfa_required: settings.mfa_required,
                password_login: !settings.password_login_disabled && user.password_hash.is_some(),
                api_access: settings.api_access,
                session_timeout_minutes: settings.session_timeout_minutes,
                allowed_networks: settings
                    .network_rules
                    .iter()
                    .map(|rule| rule.iter().map(ToString::to_string).collect())
                    .collect(),
                password_changed: user.password_changed,
                last_login: activity.last_login,
                idle_days,
                created: user.created,
            })
        })
    }
}

/// `entity.action=level` for what `roles` grant: per action, the levels that no other level
/// granted covers. Plain groups grant nothing.
fn granted(roles: &[&Role]) -> Vec<String> {
    let mut out = Vec::new();
    for entity in Entity::ALL {
        for action in Action::ALL {
            let all: Vec<PermissionLevel> = roles
                .iter()
                .filter(|r| r.role_type.is_some())
                .map(|r| r.permissions.get(entity, action))
                .filter(|level| *level != PermissionLevel::None)
                .collect();
            let widest: BTreeSet<&'static str> = all
                .iter()
                .filter(|level| {
                    !all.iter()
                        .any(|other| other != *level && other.covers(**level))
                })
                .map(|level| level.as_str())
                .collect();
            for level in widest {
                out.push(format!("{}.{}={level}", entity.as_str(), action.as_str()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Permissions, RoleType};

    fn role(grants: &[(Entity, Action, PermissionLevel)]) -> Role {
        let mut role = Role::new("r", Some(RoleType::Employee));
        let mut permissions = Permissions::default();
        for (entity, action, level) in grants {
            permissions.entity_mut(*entity).set(*action, *level);
        }
        role.permissions = permissions;
        role
    }

    #[test]
    fn only_the_widest_levels_are_listed() {
        use PermissionLevel as L;
        let team = role(&[(Entity::User, Action::Read, L::Team)]);
        let all = role(&[(Entity::User, Action::Read, L::All)]);
        let own = role(&[
            (Entity::User, Action::Edit, L::Private),
            (Entity::Role, Action::Read, L::Team),
        ]);
        let subordinates = role(&[(Entity::Role, Action::Read, L::SubordinatesAll)]);
        assert_eq!(
            granted(&[&team, &all, &own, &subordinates]),
            [
                "user.read=all",
                "user.edit=private",
                "role.read=subordinates_all",
                "role.read=team",
            ]
        );
        let mut group = all.clone();
        group.role_type = None;
        assert!(granted(&[&group]).is_empty(), "plain groups grant nothing");
    }
}
