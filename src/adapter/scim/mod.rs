//! SCIM 2.0 resources as the directory shows them: Users, Groups (roles) and Accounts, with the
//! Enterprise User and Rollcall extensions (DESIGN §7).

mod account;
mod error;
mod group;
mod json;
mod provider;
mod user;

pub use account::{account_from_scim, account_to_scim};
pub use error::failure;
pub use group::{GroupMembers, member_ids, role_from_scim, role_to_scim};
pub use provider::ScimDirectory;
pub use user::{UserContext, keep_unasserted, unlock_requested, user_from_scim, user_to_scim};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const ROLLCALL_USER: &str = "urn:rollcall:scim:schemas:extension:2.0:User";
pub const ROLLCALL_ROLE: &str = "urn:rollcall:scim:schemas:extension:2.0:Role";
pub const ACCOUNT_SCHEMA: &str = "urn:rollcall:scim:schemas:2.0:Account";

/// The weak ETag of a record version, as in `meta.version` and the `ETag` header.
pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// The version in an `If-Match` value (weak or strong form); `*` matches any.
pub fn parse_etag(value: &str) -> Option<u64> {
    let v = value.trim();
    let v = v.strip_prefix("W/").unwrap_or(v);
    v.trim_matches('"').parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_round_trip_in_weak_and_strong_form() {
        assert_eq!(etag(7), "W/\"7\"");
        assert_eq!(parse_etag("W/\"7\""), Some(7));
        assert_eq!(parse_etag("\"7\""), Some(7));
        assert_eq!(parse_etag("W/\"x\""), None);
    }
}
