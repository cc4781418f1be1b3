//! SCIM Group ⇄ role (or plain group), with the Rollcall Role extension.

use serde_json::{Value, json};

use super::json::{self, Object, put};
use super::user::rfc3339;
use super::{GROUP_SCHEMA, ROLLCALL_ROLE, etag};
use crate::model::{
    EntityPermissions, Network, PermissionLevel, Permissions, Role, RoleSettings, RoleType, UserId,
};
use rollcall_scim::ScimError;

/// (user id, userName) of the members a Group resource lists.
pub type GroupMembers = Vec<(UserId, String)>;

pub fn role_to_scim(role: &Role, members: Option<&GroupMembers>, base: &str) -> Value {
    let mut out = Object::new();
    out.insert("schemas".into(), json!([GROUP_SCHEMA, ROLLCALL_ROLE]));
    out.insert("id".into(), json!(role.id.to_string()));
    put(&mut out, "externalId", role.external_id.clone());
    out.insert("displayName".into(), json!(role.name));
    if let Some(members) = members {
        let list = members
            .iter()
            .map(|(id, name)| {
                json!({"value": id.to_string(), "$ref": format!("{base}/Users/{id}"), "display": name, "type": "User"})
            })
            .collect();
        out.insert("members".into(), Value::Array(list));
    }
    let mut ext = Object::new();
    put(&mut ext, "roleType", role.role_type.map(|t| t.as_str()));
    ext.insert("administrator".into(), json!(role.administrator));
    ext.insert("permissions".into(), permissions_to_scim(&role.permissions));
    let s = &role.settings;
    let mut settings = Object::new();
    put(
        &mut settings,
        "sessionTimeoutMinutes",
        s.session_timeout_minutes,
    );
    settings.insert("mfaRequired".into(), json!(s.mfa_required));
    settings.insert(
        "passwordLoginDisabled".into(),
        json!(s.password_login_disabled),
    );
    settings.insert("apiAccess".into(), json!(s.api_access));
    put(&mut settings, "description", s.description.clone());
    if !s.allowed_networks.is_empty() {
        let networks: Vec<String> = s.allowed_networks.iter().map(|n| n.to_string()).collect();
        settings.insert("allowedNetworks".into(), json!(networks));
    }
    ext.insert("settings".into(), Value::Object(settings));
    out.insert(ROLLCALL_ROLE.into(), Value::Object(ext));
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "Group",
            "created": rfc3339(role.created),
            "lastModified": rfc3339(role.modified),
            "location": format!("{base}/Groups/{}", role.id),
            "version": etag(role.version),
        }),
    );
    Value::Object(out)
}

/// The role a Group resource describes and, if `members` was given, the member ids.
pub fn role_from_scim(resource: &Value) -> Result<(Role, Option<Vec<UserId>>), ScimError> {
    let obj = resource
        .as_object()
        .ok_or_else(|| ScimError::invalid_value("a Group must be a JSON object"))?;
    let name = json::string(obj, "displayName")?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ScimError::invalid_value("displayName is required"))?;
    let mut role = Role::new(name, None);
    role.external_id = json::string(obj, "externalId")?;
    if let Some(ext) = json::object(obj, ROLLCALL_ROLE)? {
        role.role_type = json::string(ext, "roleType")?
            .map(|t| t.parse::<RoleType>().map_err(ScimError::invalid_value))
            .transpose()?;
        role.administrator = json::boolean(ext, "administrator")?.unwrap_or(false);
        if let Some(p) = json::object(ext, "permissions")? {
            role.permissions = permissions_from_scim(p)?;
        }
        if let Some(s) = json::object(ext, "settings")? {
            role.settings = RoleSettings {
                session_timeout_minutes: match json::present(s, "sessionTimeoutMinutes") {
                    None => None,
                    Some(v) => Some(
                        v.as_u64()
                            .and_then(|n| u32::try_from(n).ok())
                            .filter(|n| *n > 0)
                            .ok_or_else(|| {
                                ScimError::invalid_value(
                                    "sessionTimeoutMinutes must be a positive integer",
                                )
                            })?,
                    ),
                },
                mfa_required: json::boolean(s, "mfaRequired")?.unwrap_or(false),
                password_login_disabled: json::boolean(s, "passwordLoginDisabled")?
                    .unwrap_or(false),
                api_access: json::boolean(s, "apiAccess")?.unwrap_or(false),
                description: json::string(s, "description")?,
                allowed_networks: json::array(s, "allowedNetworks")?
                    .iter()
                    .map(|n| {
                        n.as_str()
                            .ok_or_else(|| {
                                ScimError::invalid_value(format!(
                                    "allowedNetworks entries must be strings, got {n}"
                                ))
                            })?
                            .parse::<Network>()
                            .map_err(|e| ScimError::invalid_value(format!("allowedNetworks: {e}")))
                    })
                    .collect::<Result<_, _>>()?,
            };
        }
    }
    let members = match json::present(obj, "members") {
        None => None,
        Some(_) => Some(member_ids(json::array(obj, "members")?)?),
    };
    Ok((role, members))
}

/// Member ids from `[{"value": id, ...}]`; `$ref: null` and a `type` of `User` are fine.
pub fn member_ids(values: &[Value]) -> Result<Vec<UserId>, ScimError> {
    values
        .iter()
        .map(|m| {
            let o = m
                .as_object()
                .ok_or_else(|| ScimError::invalid_value("members entries must be objects"))?;
            if let Some(kind) = json::string(o, "type")?
                && !kind.eq_ignore_ascii_case("user")
            {
                return Err(ScimError::invalid_value(format!(
                    "members of type {kind:?} are not supported: only users can be members"
                )));
            }
            let id = json::string(o, "value")?
                .ok_or_else(|| ScimError::invalid_value("a member needs a value"))?;
            id.parse::<UserId>()
                .map_err(|_| ScimError::invalid_value(format!("member {id:?} is not a user id")))
        })
        .collect()
}

fn permissions_to_scim(p: &Permissions) -> Value {
    let entity = |e: &EntityPermissions| json!({"read": e.read.as_str(), "create": e.create.as_str(), "edit": e.edit.as_str(), "delete": e.delete.as_str()});
    json!({"user": entity(&p.user), "role": entity(&p.role), "account": entity(&p.account)})
}

fn permissions_from_scim(obj: &Object) -> Result<Permissions, ScimError> {
    let entity = |name: &str| -> Result<EntityPermissions, ScimError> {
        let Some(e) = json::object(obj, name)? else {
            return Ok(EntityPermissions::default());
        };
        let level = |action: &str| -> Result<PermissionLevel, ScimError> {
            json::string(e, action)?
                .map(|l| {
                    l.parse::<PermissionLevel>().map_err(|m| {
                        ScimError::invalid_value(format!("permissions.{name}.{action}: {m}"))
                    })
                })
                .transpose()
                .map(Option::unwrap_or_default)
        };
        Ok(EntityPermissions {
            read: level("read")?,
            create: level("create")?,
            edit: level("edit")?,
            delete: level("delete")?,
        })
    };
    for key in obj.keys() {
        if !["user", "role", "account"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(key))
        {
            return Err(ScimError::invalid_value(format!(
                "permissions: unknown entity {key:?} (expected user, role, account)"
            )));
        }
    }
    Ok(Permissions {
        user: entity("user")?,
        role: entity("role")?,
        account: entity("account")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_round_trip_with_permissions_and_tolerate_idp_extras() {
        let body = json!({
            "schemas": [GROUP_SCHEMA, "urn:ietf:params:scim:schemas:extension:entra:2.0:Group"],
            "id": "ignored-okta-id",
            "displayName": "Sales",
            "members": [{"value": "0196a3b4-0000-7000-8000-000000000001", "$ref": null, "display": "x"}],
            ROLLCALL_ROLE: {"roleType": "employee", "permissions": {"user": {"read": "team"}}, "settings": {"mfaRequired": "True"}}
        });
        let (role, members) = role_from_scim(&body).unwrap();
        assert_eq!(role.role_type, Some(RoleType::Employee));
        assert_eq!(role.permissions.user.read, PermissionLevel::Team);
        assert!(role.settings.mfa_required);
        assert_eq!(members.unwrap().len(), 1);
        let out = role_to_scim(&role, Some(&vec![]), "https://d/scim/v2");
        assert_eq!(out[ROLLCALL_ROLE]["permissions"]["user"]["read"], "team");
        assert_eq!(out["members"], json!([]));
        let (again, _) = role_from_scim(&out).unwrap();
        assert_eq!(again.permissions, role.permissions);
        assert_eq!(again.settings, role.settings);
    }

    #[test]
    fn bad_levels_and_member_types_are_invalid_values() {
        let body = json!({"displayName": "x", ROLLCALL_ROLE: {"permissions": {"user": {"read": "galaxy"}}}});
        assert!(
            role_from_scim(&body)
                .unwrap_err()
                .detail
                .contains("permissions.user.read")
        );
        let body = json!({"displayName": "x", "members": [{"value": "abc", "type": "Group"}]});
        assert!(role_from_scim(&body).unwrap_err().detail.contains("Group"));
    }
}
