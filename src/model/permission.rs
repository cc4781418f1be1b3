use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::RoleType;

/// How far a permission reaches (seed 001). Ordered from narrowest to widest within each family;
/// comparing levels across families (hierarchy vs account) is the permission engine's job.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermissionLevel {
    #[default]
    None,
    Private,
    SubordinatesDirect,
    SubordinatesAll,
    Team,
    TeamSubordinatesDirect,
    TeamSubordinatesAll,
    AllEmployees,
    Account,
    AccountHierarchy,
    All,
}

impl PermissionLevel {
    pub const ALL: [PermissionLevel; 11] = [
        Self::None,
        Self::Private,
        Self::SubordinatesDirect,
        Self::SubordinatesAll,
        Self::Team,
        Self::TeamSubordinatesDirect,
        Self::TeamSubordinatesAll,
        Self::AllEmployees,
        Self::Account,
        Self::AccountHierarchy,
        Self::All,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Private => "private",
            Self::SubordinatesDirect => "subordinates_direct",
            Self::SubordinatesAll => "subordinates_all",
            Self::Team => "team",
            Self::TeamSubordinatesDirect => "team_subordinates_direct",
            Self::TeamSubordinatesAll => "team_subordinates_all",
            Self::AllEmployees => "all_employees",
            Self::Account => "account",
            Self::AccountHierarchy => "account_hierarchy",
            Self::All => "all",
        }
    }

    /// Which levels a role of `role_type` may use on `entity` (seed 001): hierarchy levels need a
    /// `manager` chain, which only employees have; account levels need an account, which only
    /// partners and customers have; `all` is withheld from external roles on the account-connected
    /// entities; the guest role is all-or-nothing.
    pub fn allowed_for(self, role_type: Option<RoleType>, entity: Entity) -> bool {
        use PermissionLevel as L;
        match role_type {
            // A plain group grants nothing.
            None => self == L::None,
            Some(RoleType::Guest) => matches!(self, L::None | L::All),
            Some(RoleType::Employee) => !matches!(self, L::Account | L::AccountHierarchy),
            Some(RoleType::Partner | RoleType::Customer) => match self {
                L::None | L::Private | L::Account | L::AccountHierarchy => true,
                L::All => entity == Entity::Role,
                _ => false,
            },
        }
    }
}

impl PermissionLevel {
    /// Whether every record `other` reaches, `self` reaches too. The hierarchy levels nest
    /// only partly (a team is not among one's subordinates), so this is a partial order: a
    /// change of level to one the old level does not cover widens a role.
    pub fn covers(self, other: PermissionLevel) -> bool {
        use PermissionLevel as L;
        if self == other || other == L::None || self == L::All {
            return true;
        }
        match (self, other) {
            (L::None, _) => false,
            // Every level reaches the principal's own record.
            (_, L::Private) => true,
            (L::SubordinatesAll, L::SubordinatesDirect) => true,
            (L::TeamSubordinatesDirect, L::Team | L::SubordinatesDirect) => true,
            (
                L::TeamSubordinatesAll,
                L::Team | L::SubordinatesDirect | L::SubordinatesAll | L::TeamSubordinatesDirect,
            ) => true,
            (
                L::AllEmployees,
                L::SubordinatesDirect
                | L::SubordinatesAll
                | L::Team
                | L::TeamSubordinatesDirect
                | L::TeamSubordinatesAll,
            ) => true,
            (L::AccountHierarchy, L::Account) => true,
            _ => false,
        }
    }
}

impl fmt::Display for PermissionLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for PermissionLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown permission level {s:?}"))
    }
}

/// The directory's entities a permission applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    User,
    Role,
    Account,
}

/// What a principal wants to do with an entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Read,
    Create,
    Edit,
    Delete,
}

/// Read/Create/Edit/Delete levels on one entity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EntityPermissions {
    pub read: PermissionLevel,
    pub create: PermissionLevel,
    pub edit: PermissionLevel,
    pub delete: PermissionLevel,
}

impl EntityPermissions {
    pub fn uniform(level: PermissionLevel) -> Self {
        Self {
            read: level,
            create: level,
            edit: level,
            delete: level,
        }
    }

    pub fn get(&self, action: Action) -> PermissionLevel {
        match action {
            Action::Read => self.read,
            Action::Create => self.create,
            Action::Edit => self.edit,
            Action::Delete => self.delete,
        }
    }

    fn levels(&self) -> [PermissionLevel; 4] {
        [self.read, self.create, self.edit, self.delete]
    }
}

/// A role's permissions. New roles have none (every level `none`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Permissions {
    pub user: EntityPermissions,
    pub role: EntityPermissions,
    pub account: EntityPermissions,
}

impl Permissions {
    pub fn get(&self, entity: Entity, action: Action) -> PermissionLevel {
        match entity {
            Entity::User => self.user.get(action),
            Entity::Role => self.role.get(action),
            Entity::Account => self.account.get(action),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The first level this role type may not use, for a precise error message.
    pub fn first_disallowed(
        &self,
        role_type: Option<RoleType>,
    ) -> Option<(Entity, PermissionLevel)> {
        [
            (Entity::User, &self.user),
            (Entity::Role, &self.role),
            (Entity::Account, &self.account),
        ]
        .into_iter()
        .flat_map(|(entity, p)| p.levels().into_iter().map(move |l| (entity, l)))
        .find(|(entity, level)| !level.allowed_for(role_type, *entity))
    }
}

impl Entity {
    pub const ALL: [Entity; 3] = [Self::User, Self::Role, Self::Account];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Role => "role",
            Self::Account => "account",
        }
    }
}

impl Action {
    pub const ALL: [Action; 4] = [Self::Read, Self::Create, Self::Edit, Self::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Create => "create",
            Self::Edit => "edit",
            Self::Delete => "delete",
        }
    }
}

impl EntityPermissions {
    pub fn set(&mut self, action: Action, level: PermissionLevel) {
        *match action {
            Action::Read => &mut self.read,
            Action::Create => &mut self.create,
            Action::Edit => &mut self.edit,
            Action::Delete => &mut self.delete,
        } = level;
    }
}

impl Permissions {
    pub fn entity_mut(&mut self, entity: Entity) -> &mut EntityPermissions {
        match entity {
            Entity::User => &mut self.user,
            Entity::Role => &mut self.role,
            Entity::Account => &mut self.account,
        }
    }

    pub fn grant(&mut self, grant: PermissionGrant) {
        let on = self.entity_mut(grant.entity);
        match grant.action {
            Some(action) => on.set(action, grant.level),
            None => *on = EntityPermissions::uniform(grant.level),
        }
    }
}

/// One permission as an operator writes it: `user.read=all`, or `user=team` for all four
/// actions on the entity. Whether the role's type may use the level is the service's check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionGrant {
    pub entity: Entity,
    /// `None`: every action.
    pub action: Option<Action>,
    pub level: PermissionLevel,
}

impl FromStr for PermissionGrant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let shape = || format!("{s:?} is not ENTITY[.ACTION]=LEVEL, e.g. user.read=all");
        let (target, level) = s.split_once('=').ok_or_else(shape)?;
        let (entity, action) = match target.split_once('.') {
            Some((entity, action)) => (entity, Some(action)),
            None => (target, None),
        };
        let entity = Entity::ALL
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(entity.trim()))
            .ok_or_else(|| format!("unknown entity {entity:?} (expected user, role or account)"))?;
        let action = action
            .map(|action| {
                Action::ALL
                    .into_iter()
                    .find(|a| a.as_str().eq_ignore_ascii_case(action.trim()))
                    .ok_or_else(|| {
                        format!("unknown action {action:?} (expected read, create, edit or delete)")
                    })
            })
            .transpose()?;
        Ok(Self {
            entity,
            action,
            level: level.trim().parse()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wider_levels_cover_narrower_ones_and_lateral_moves_widen() {
        use PermissionLevel as L;
        for level in L::ALL {
            assert!(L::All.covers(level) && level.covers(L::None) && level.covers(level));
        }
        assert!(L::TeamSubordinatesAll.covers(L::SubordinatesAll));
        assert!(L::AllEmployees.covers(L::TeamSubordinatesDirect));
        assert!(L::AccountHierarchy.covers(L::Account));
        assert!(L::Team.covers(L::Private));
        assert!(!L::None.covers(L::Private));
        assert!(
            !L::SubordinatesAll.covers(L::Team),
            "a team is not among subordinates"
        );
        assert!(!L::Team.covers(L::SubordinatesDirect));
        assert!(!L::AllEmployees.covers(L::Account));
        assert!(!L::Account.covers(L::AccountHierarchy));
        assert!(!L::AllEmployees.covers(L::All));
    }

    #[test]
    fn grants_parse_as_operators_write_them() {
        let g: PermissionGrant = "user.read=all".parse().unwrap();
        assert_eq!(
            (g.entity, g.action, g.level),
            (Entity::User, Some(Action::Read), PermissionLevel::All)
        );
        let g: PermissionGrant = "Account=Account_Hierarchy".parse().unwrap();
        assert_eq!(
            (g.entity, g.action, g.level),
            (Entity::Account, None, PermissionLevel::AccountHierarchy)
        );
        let mut p = Permissions::default();
        p.grant(g);
        p.grant("account.delete=none".parse().unwrap());
        assert_eq!(p.account.read, PermissionLevel::AccountHierarchy);
        assert_eq!(p.account.delete, PermissionLevel::None);
        assert!(p.user.read == PermissionLevel::None);
        for (bad, why) in [
            ("user.read", "ENTITY[.ACTION]=LEVEL"),
            ("group.read=all", "unknown entity"),
            ("user.write=all", "unknown action"),
            ("user.read=everyone", "unknown permission level"),
        ] {
            let e = bad.parse::<PermissionGrant>().unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn external_roles_never_get_hierarchy_levels_or_all_on_users() {
        for rt in [RoleType::Partner, RoleType::Customer] {
            assert!(!PermissionLevel::SubordinatesAll.allowed_for(Some(rt), Entity::User));
            assert!(!PermissionLevel::All.allowed_for(Some(rt), Entity::User));
            assert!(!PermissionLevel::All.allowed_for(Some(rt), Entity::Account));
            assert!(PermissionLevel::AccountHierarchy.allowed_for(Some(rt), Entity::User));
        }
        assert!(!PermissionLevel::Account.allowed_for(Some(RoleType::Employee), Entity::User));
        assert!(
            PermissionLevel::TeamSubordinatesAll
                .allowed_for(Some(RoleType::Employee), Entity::User)
        );
        assert!(!PermissionLevel::Private.allowed_for(Some(RoleType::Guest), Entity::User));
        assert!(!PermissionLevel::All.allowed_for(None, Entity::User));
    }

    #[test]
    fn levels_round_trip_through_their_names() {
        for level in PermissionLevel::ALL {
            assert_eq!(level.as_str().parse::<PermissionLevel>().unwrap(), level);
            let json = serde_json::to_string(&level).unwrap();
            assert_eq!(json, format!("\"{}\"", level.as_str()));
        }
        assert!("everything".parse::<PermissionLevel>().is_err());
    }
}
