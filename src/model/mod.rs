//! The directory's domain: who is in it (users, service accounts), how they are grouped (roles,
//! accounts) and what they may consume (licenses). Plain data: the rules that keep it consistent
//! live in [`crate::service`].

mod account;
mod custom;
mod id;
mod license;
mod network;
mod permission;
mod role;
mod user;

pub use account::Account;
pub use custom::{CustomAttribute, CustomAttributes, CustomType};
pub use id::{AccountId, RoleId, UserId};
pub use license::{LicenseLimits, LicenseType, LicenseUsage, PartnerModel};
pub use network::Network;
pub use permission::{
    Action, Entity, EntityPermissions, PermissionGrant, PermissionLevel, Permissions,
};
pub use role::{EffectiveSettings, Role, RoleSettings, RoleType};
pub use user::{Address, MultiValue, Name, PrincipalKind, User};

/// Case-folds a name for uniqueness and lookups. userName, role and account names are unique
/// regardless of case (as in LDAP's caseIgnoreMatch and SCIM's `caseExact: false`), so every index
/// key goes through this one function.
pub fn fold(name: &str) -> String {
    name.trim().to_lowercase()
}
