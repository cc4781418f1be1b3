use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{LicenseType, Permissions, RoleId};

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
}

/// What a user's roles impose together: per setting the strictest wins (DESIGN §2). Plain
/// groups carry no settings and are left out; the Administrator System Role implies API access.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EffectiveSettings {
    pub session_timeout_minutes: Option<u32>,
    pub mfa_required: bool,
    pub password_login_disabled: bool,
    pub api_access: bool,
}

impl EffectiveSettings {
    pub fn of<'a>(roles: impl IntoIterator<Item = &'a Role>) -> Self {
        let mut out = Self::default();
        for role in roles.into_iter().filter(|r| r.role_type.is_some()) {
            let s = &role.settings;
            out.session_timeout_minutes =
                match (out.session_timeout_minutes, s.session_timeout_minutes) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            out.mfa_required |= s.mfa_required;
            out.password_login_disabled |= s.password_login_disabled;
            out.api_access |= s.api_access || role.administrator;
        }
        out
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
