use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use std::net::IpAddr;

use super::{LicenseType, Network, Permissions, RoleId};

/// Which license type a role's members must hold (`guest` is the role of anonymous access).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleType {
    Employee,
    Partner,
    Customer,
    Guest,
}

impl RoleType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Employee => "employee",
            Self::Partner => "partner",
            Self::Customer => "customer",
            Self::Guest => "guest",
        }
    }

    /// The indefinite article before its name in messages (`an employee role`, `a guest
    /// role`), chosen by the name, not guessed from its first letter.
    pub fn article(self) -> &'static str {
        match self {
            Self::Employee => "an",
            Self::Partner | Self::Customer | Self::Guest => "a",
        }
    }

    /// The license a member must hold; `None` for guest, which nobody can be a member of.
    pub fn license(self) -> Option<LicenseType> {
        match self {
            Self::Employee => Some(LicenseType::Employee),
            Self::Partner => Some(LicenseType::Partner),
            Self::Customer => Some(LicenseType::Customer),
            Self::Guest => None,
        }
    }
}

impl fmt::Display for RoleType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for RoleType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "employee" => Ok(Self::Employee),
            "partner" => Ok(Self::Partner),
            "customer" => Ok(Self::Customer),
            "guest" => Ok(Self::Guest),
            other => Err(format!(
                "unknown role type {other:?} (expected employee, partner, customer or guest)"
            )),
        }
    }
}

/// Session and login settings a role imposes; with several roles the strictest wins.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoleSettings {
    pub session_timeout_minutes: Option<u32>,
    pub mfa_required: bool,
    pub password_login_disabled: bool,
    pub api_access: bool,
    pub description: Option<String>,
    /// Where members may sign in from and use their sessions; empty: anywhere.
    pub allowed_networks: Vec<Network>,
}

/// What a user's roles impose together: per setting the strictest wins (DESIGN §2). Plain
/// groups carry no settings and are left out; the Administrator System Role implies API access.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EffectiveSettings {
    pub session_timeout_minutes: Option<u32>,
    pub mfa_required: bool,
    pub password_login_disabled: bool,
    pub api_access: bool,
    /// The `allowed_networks` of each role that restricts them: a client must be in one
    /// network of every list.
    pub network_rules: Vec<Vec<Network>>,
}

impl EffectiveSettings {
    pub fn of<'a>(roles: impl IntoIterator<Item = &'a Role>) -> Self {
        let mut out = Self::default();
        for role in roles.into_iter().filter(|r| sets_anything(r)) {
            let s = &role.settings;
            out.session_timeout_minutes =
                match (out.session_timeout_minutes, s.session_timeout_minutes) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            out.mfa_required |= s.mfa_required;
            out.password_login_disabled |= s.password_login_disabled;
            out.api_access |= s.api_access || role.administrator;
            if !s.allowed_networks.is_empty() {
                out.network_rules.push(s.allowed_networks.clone());
            }
        }
        out
    }

    /// Whether `roles` require MFA: [`Self::of`]'s `mfa_required`, without the rest (asked on
    /// every operation of an LDAP connection bound without a code).
    pub fn require_mfa<'a>(roles: impl IntoIterator<Item = &'a Role>) -> bool {
        roles
            .into_iter()
            .any(|r| sets_anything(r) && r.settings.mfa_required)
    }

    /// Whether a client at `client` may sign in or use a session. A client whose address is
    /// unknown is refused where any role restricts networks.
    pub fn allows(&self, client: Option<IpAddr>) -> bool {
        self.network_rules
            .iter()
            .all(|networks| client.is_some_and(|addr| networks.iter().any(|n| n.contains(addr))))
    }
}

/// A security role, or a plain group when `role_type` is `None` (IdPs push groups like "Sales"
/// with mixed members; such a group grants nothing).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Role {
    pub id: RoleId,
    pub name: String,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub role_type: Option<RoleType>,
    #[serde(default)]
    pub administrator: bool,
    #[serde(default)]
    pub permissions: Permissions,
    #[serde(default)]
    pub settings: RoleSettings,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub modified: OffsetDateTime,
    pub version: u64,
}

impl Role {
    pub fn new(name: impl Into<String>, role_type: Option<RoleType>) -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            id: RoleId::new(),
            name: name.into(),
            external_id: None,
            role_type,
            administrator: false,
            permissions: Permissions::default(),
            settings: RoleSettings::default(),
            created: now,
            modified: now,
            version: 0,
        }
    }

    /// Whether a user with `license` may be a member. Plain groups take anyone.
    pub fn admits(&self, license: LicenseType) -> bool {
        match self.role_type {
            None => true,
            Some(rt) => rt.license() == Some(license),
        }
    }
}

/// Plain groups (no role type) carry no settings, whatever their record says.
fn sets_anything(role: &Role) -> bool {
    role.role_type.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restricting(name: &str, networks: &[&str]) -> Role {
        let mut role = Role::new(name, Some(RoleType::Employee));
        role.settings.allowed_networks = networks.iter().map(|n| n.parse().unwrap()).collect();
        role
    }

    #[test]
    fn every_restricting_role_must_allow_the_client() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let open = restricting("open", &[]);
        assert!(EffectiveSettings::of([&open]).allows(None));
        let office = restricting("office", &["10.0.0.0/8", "192.0.2.0/24"]);
        let settings = EffectiveSettings::of([&open, &office]);
        assert!(settings.allows(ip("10.1.1.1")) && settings.allows(ip("192.0.2.9")));
        assert!(!settings.allows(ip("198.51.100.1")));
        assert!(
            !settings.allows(None),
            "an unknown address is outside every network"
        );
        let lab = restricting("lab", &["10.9.0.0/16"]);
        let both = EffectiveSettings::of([&office, &lab]);
        assert!(both.allows(ip("10.9.3.4")));
        assert!(
            !both.allows(ip("10.1.1.1")),
            "the strictest wins: inside both lists"
        );
        // A plain group grants nothing and restricts nothing.
        let mut group = restricting("group", &["203.0.113.0/24"]);
        group.role_type = None;
        assert!(EffectiveSettings::of([&group]).allows(ip("10.1.1.1")));
    }
}
