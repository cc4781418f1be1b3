//! SCIM User ⇄ domain user.

use serde_json::{Value, json};

use super::json::{self, Object, put};
use super::{ENTERPRISE_USER, ROLLCALL_USER, USER_SCHEMA, etag};
use crate::model::{AccountId, Address, LicenseType, MultiValue, PrincipalKind, User, UserId};
use rollcall_scim::ScimError;

/// What a User resource shows besides the record: names of what it points at.
#[derive(Clone, Debug, Default)]
pub struct UserContext {
    /// Base URL of the SCIM endpoint, e.g. `https://dir.example.com/scim/v2`.
    pub base: String,
    pub manager_display: Option<String>,
    pub account_name: Option<String>,
    /// (role id, role name) of the roles and groups the user is in.
    pub groups: Vec<(String, String)>,
    /// The custom attributes declared in the config, shown under their extension schema.
    pub custom: std::sync::Arc<crate::model::CustomAttributes>,
    /// The user's last sign-in.
    pub last_login: Option<time::OffsetDateTime>,
}

pub fn user_to_scim(user: &User, ctx: &UserContext) -> Value {
    let mut out = Object::new();
    out.insert(
        "schemas".into(),
        json!([USER_SCHEMA, ENTERPRISE_USER, ROLLCALL_USER]),
    );
    out.insert("id".into(), json!(user.id.to_string()));
    put(&mut out, "externalId", user.external_id.clone());
    out.insert("userName".into(), json!(user.user_name));
    let name = &user.name;
    let mut n = Object::new();
    put(&mut n, "formatted", name.formatted.clone());
    put(&mut n, "familyName", name.family_name.clone());
    put(&mut n, "givenName", name.given_name.clone());
    put(&mut n, "middleName", name.middle_name.clone());
    put(&mut n, "honorificPrefix", name.honorific_prefix.clone());
    put(&mut n, "honorificSuffix", name.honorific_suffix.clone());
    if !n.is_empty() {
        out.insert("name".into(), Value::Object(n));
    }
    put(&mut out, "displayName", user.display_name.clone());
    put(&mut out, "nickName", user.nick_name.clone());
    put(&mut out, "profileUrl", user.profile_url.clone());
    put(&mut out, "title", user.title.clone());
    put(&mut out, "userType", user.user_type.clone());
    put(
        &mut out,
        "preferredLanguage",
        user.preferred_language.clone(),
    );
    put(&mut out, "locale", user.locale.clone());
    put(&mut out, "timezone", user.timezone.clone());
    out.insert("active".into(), json!(user.active));
    put_multi_values(
        &mut out,
        [
            ("emails", &user.emails),
            ("phoneNumbers", &user.phone_numbers),
            ("ims", &user.ims),
            ("photos", &user.photos),
        ],
    );
    if !user.addresses.is_empty() {
        out.insert(
            "addresses".into(),
            Value::Array(user.addresses.iter().map(address_to_scim).collect()),
        );
    }
    if !ctx.groups.is_empty() {
        let groups = ctx
            .groups
            .iter()
            .map(|(id, name)| {
                json!({"value": id, "$ref": format!("{}/Groups/{id}", ctx.base), "display": name, "type": "direct"})
            })
            .collect();
        out.insert("groups".into(), Value::Array(groups));
    }
    put_multi_values(
        &mut out,
        [
            ("entitlements", &user.entitlements),
            ("roles", &user.scim_roles),
            ("x509Certificates", &user.x509_certificates),
        ],
    );

    let mut enterprise = Object::new();
    put(
        &mut enterprise,
        "employeeNumber",
        user.employee_number.clone(),
    );
    put(&mut enterprise, "costCenter", user.cost_center.clone());
    put(&mut enterprise, "organization", user.organization.clone());
    put(&mut enterprise, "division", user.division.clone());
    put(&mut enterprise, "department", user.department.clone());
    if let Some(manager) = user.manager {
        let mut m = Object::new();
        m.insert("value".into(), json!(manager.to_string()));
        m.insert(
            "$ref".into(),
            json!(format!("{}/Users/{manager}", ctx.base)),
        );
        put(&mut m, "displayName", ctx.manager_display.clone());
        enterprise.insert("manager".into(), Value::Object(m));
    }
    // Unassigned attributes are left out (RFC 7643 §2.5); an empty extension too, so the
    // default projection can return the resource as it is.
    if !enterprise.is_empty() {
        out.insert(ENTERPRISE_USER.into(), Value::Object(enterprise));
    }

    let mut rollcall = Object::new();
    rollcall.insert("licenseType".into(), json!(user.license.as_str()));
    if let Some(account) = user.account {
        let mut a = Object::new();
        a.insert("value".into(), json!(account.to_string()));
        a.insert(
            "$ref".into(),
            json!(format!("{}/Accounts/{account}", ctx.base)),
        );
        put(&mut a, "display", ctx.account_name.clone());
        rollcall.insert("account".into(), Value::Object(a));
    }
    rollcall.insert(
        "locked".into(),
        json!(user.is_locked(time::OffsetDateTime::now_utc())),
    );
    rollcall.insert("kind".into(), json!(user.kind.as_str()));
    if let Some(at) = ctx.last_login {
        rollcall.insert("lastLogin".into(), json!(rfc3339(at)));
    }
    out.insert(ROLLCALL_USER.into(), Value::Object(rollcall));

    let custom = &ctx.custom;
    let values: Object = custom
        .values(&user.extensions)
        .map(|(a, v)| (a.name.clone(), v.clone()))
        .collect();
    if !values.is_empty() {
        if let Some(Value::Array(schemas)) = out.get_mut("schemas") {
            schemas.push(json!(custom.schema));
        }
        out.insert(custom.schema.clone(), Value::Object(values));
    }

    out.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": rfc3339(user.created),
            "lastModified": rfc3339(user.modified),
            "location": format!("{}/Users/{}", ctx.base, user.id),
            "version": etag(user.version),
        }),
    );
    Value::Object(out)
}

/// On PUT, the attributes whose default would change what a person is or may do keep their
/// current value when the body does not assert them (RFC 7644 §3.5.1 lets a provider take an
/// omitted attribute as not asserted): `active`, so that a deactivated person sent back without
/// it is not reactivated into a seat, and the Rollcall extension's `licenseType`, `account` and
/// `kind`, which identity providers never send (they send only what they map), so that a
/// partner is not turned into an employee by a profile update. An explicit `null` for
/// `account` still clears it.
pub fn keep_unasserted(resource: &Value, user: &mut User, current: &User) {
    let Some(obj) = resource.as_object() else {
        return;
    };
    if json::present(obj, "active").is_none() {
        user.active = current.active;
    }
    let ext = json::get(obj, ROLLCALL_USER).and_then(Value::as_object);
    let asserted = |name: &str| ext.is_some_and(|e| json::get(e, name).is_some());
    if !asserted("licenseType") {
        user.license = current.license;
    }
    if !asserted("account") {
        user.account = current.account;
    }
    if !asserted("kind") {
        user.kind = current.kind;
    }
}

/// The writable attributes of a SCIM User as a domain user (a new record's shape: the service
/// keeps server-managed fields on replace). `password`, if any, is returned separately.
pub fn user_from_scim(resource: &Value) -> Result<(User, Option<String>), ScimError> {
    let obj = resource
        .as_object()
        .ok_or_else(|| ScimError::invalid_value("a User must be a JSON object"))?;
    let user_name = json::string(obj, "userName")?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ScimError::invalid_value("userName is required"))?;
    let mut user = User::new(user_name);
    user.external_id = json::string(obj, "externalId")?;
    if let Some(name) = json::object(obj, "name")? {
        user.name.formatted = json::string(name, "formatted")?;
        user.name.family_name = json::string(name, "familyName")?;
        user.name.given_name = json::string(name, "givenName")?;
        user.name.middle_name = json::string(name, "middleName")?;
        user.name.honorific_prefix = json::string(name, "honorificPrefix")?;
        user.name.honorific_suffix = json::string(name, "honorificSuffix")?;
    }
    user.display_name = json::string(obj, "displayName")?;
    user.nick_name = json::string(obj, "nickName")?;
    user.profile_url = json::string(obj, "profileUrl")?;
    user.title = json::string(obj, "title")?;
    user.user_type = json::string(obj, "userType")?;
    user.preferred_language = json::string(obj, "preferredLanguage")?;
    user.locale = json::string(obj, "locale")?;
    user.timezone = json::string(obj, "timezone")?;
    // RFC 7643 leaves the default to the provider; an IdP that omits `active` from a new user
    // means a usable account, which is what Okta and Entra expect (on PUT, see
    // `keep_unasserted`).
    user.active = json::boolean(obj, "active")?.unwrap_or(true);
    user.emails = multi_values_from(obj, "emails")?;
    user.phone_numbers = multi_values_from(obj, "phoneNumbers")?;
    user.ims = multi_values_from(obj, "ims")?;
    user.photos = multi_values_from(obj, "photos")?;
    user.entitlements = multi_values_from(obj, "entitlements")?;
    // The identity provider's role values, not the directory's roles (those are Groups).
    user.scim_roles = multi_values_from(obj, "roles")?;
    user.x509_certificates = multi_values_from(obj, "x509Certificates")?;
    user.addresses = json::array(obj, "addresses")?
        .iter()
        .map(address_from_scim)
        .collect::<Result<_, _>>()?;

    if let Some(ent) = json::object(obj, ENTERPRISE_USER)? {
        user.employee_number = json::string(ent, "employeeNumber")?;
        user.cost_center = json::string(ent, "costCenter")?;
        user.organization = json::string(ent, "organization")?;
        user.division = json::string(ent, "division")?;
        user.department = json::string(ent, "department")?;
        user.manager = json::reference(ent, "manager")?
            .map(|id| parse_id::<UserId>(&id, "manager"))
            .transpose()?;
    }
    if let Some(ext) = json::object(obj, ROLLCALL_USER)? {
        if let Some(license) = json::string(ext, "licenseType")? {
            user.license = license
                .parse::<LicenseType>()
                .map_err(ScimError::invalid_value)?;
        }
        user.account = json::reference(ext, "account")?
            .map(|id| parse_id::<AccountId>(&id, "account"))
            .transpose()?;
        if let Some(kind) = json::string(ext, "kind")? {
            user.kind = kind
                .parse::<PrincipalKind>()
                .map_err(ScimError::invalid_value)?;
        }
    }
    let password = json::string(obj, "password")?;
    Ok((user, password))
}

/// The declared custom attributes of a (normalised) User body, keyed as the record keeps them.
/// Their types are the service's to check.
pub fn custom_from_scim(
    resource: &Value,
    custom: &crate::model::CustomAttributes,
) -> std::collections::BTreeMap<String, Value> {
    let mut out = std::collections::BTreeMap::new();
    let Some(obj) = resource.as_object() else {
        return out;
    };
    let Some(values) = obj
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(&custom.schema))
        .and_then(|(_, v)| v.as_object())
    else {
        return out;
    };
    for attribute in &custom.attributes {
        let found = values
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&attribute.name));
        if let Some((_, value)) = found.filter(|(_, v)| !v.is_null()) {
            out.insert(custom.key(attribute), value.clone());
        }
    }
    out
}

/// The `locked` flag of a User body: `false` asks to lift a lockout. Locks come only from
/// failed logins (an admin disables a user with `active`), so `true` changes nothing.
pub fn unlock_requested(resource: &Value) -> Result<bool, ScimError> {
    let Some(obj) = resource.as_object() else {
        return Ok(false);
    };
    match json::object(obj, ROLLCALL_USER)? {
        Some(ext) => Ok(json::boolean(ext, "locked")? == Some(false)),
        None => Ok(false),
    }
}

fn parse_id<I: std::str::FromStr>(id: &str, attribute: &str) -> Result<I, ScimError> {
    id.parse().map_err(|_| {
        ScimError::invalid_value(format!(
            "{attribute}: {id:?} is not an id of this directory"
        ))
    })
}

/// Each of `attributes` that has values, in the order given (RFC 7643 leaves an attribute
/// with none out rather than empty).
fn put_multi_values<const N: usize>(out: &mut Object, attributes: [(&str, &Vec<MultiValue>); N]) {
    for (name, values) in attributes {
        if !values.is_empty() {
            out.insert(name.into(), multi_values(values));
        }
    }
}

fn multi_values(values: &[MultiValue]) -> Value {
    Value::Array(
        values
            .iter()
            .map(|v| {
                let mut o = Object::new();
                o.insert("value".into(), json!(v.value));
                put(&mut o, "type", v.kind.clone());
                put(&mut o, "display", v.display.clone());
                if v.primary {
                    o.insert("primary".into(), json!(true));
                }
                Value::Object(o)
            })
            .collect(),
    )
}

fn multi_values_from(obj: &Object, name: &str) -> Result<Vec<MultiValue>, ScimError> {
    let mut out = Vec::new();
    for item in json::array(obj, name)? {
        let o = item
            .as_object()
            .ok_or_else(|| ScimError::invalid_value(format!("{name} entries must be objects")))?;
        let Some(value) = json::string(o, "value")? else {
            continue; // an entry without a value carries nothing
        };
        out.push(MultiValue {
            value,
            kind: json::string(o, "type")?,
            primary: json::boolean(o, "primary")?.unwrap_or(false),
            display: json::string(o, "display")?,
        });
    }
    if out.iter().filter(|v| v.primary).count() > 1 {
        return Err(ScimError::invalid_value(format!(
            "{name}: at most one value may be primary"
        )));
    }
    Ok(out)
}

fn address_to_scim(a: &Address) -> Value {
    let mut o = Object::new();
    put(&mut o, "type", a.kind.clone());
    put(&mut o, "formatted", a.formatted.clone());
    put(&mut o, "streetAddress", a.street_address.clone());
    put(&mut o, "locality", a.locality.clone());
    put(&mut o, "region", a.region.clone());
    put(&mut o, "postalCode", a.postal_code.clone());
    put(&mut o, "country", a.country.clone());
    if a.primary {
        o.insert("primary".into(), json!(true));
    }
    Value::Object(o)
}

fn address_from_scim(v: &Value) -> Result<Address, ScimError> {
    let o = v
        .as_object()
        .ok_or_else(|| ScimError::invalid_value("addresses entries must be objects"))?;
    Ok(Address {
        kind: json::string(o, "type")?,
        formatted: json::string(o, "formatted")?,
        street_address: json::string(o, "streetAddress")?,
        locality: json::string(o, "locality")?,
        region: json::string(o, "region")?,
        postal_code: json::string(o, "postalCode")?,
        country: json::string(o, "country")?,
        primary: json::boolean(o, "primary")?.unwrap_or(false),
    })
}

pub(super) fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_round_trips_and_never_shows_a_password_hash() {
        let body = json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_USER],
            "userName": "bjensen@example.com",
            "externalId": "00u1",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "active": "False",
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": "True"}],
            "password": "Secret-Pass-123",
            ENTERPRISE_USER: {"department": "Tour Operations", "manager": "0196a3b4-0000-7000-8000-000000000001"},
            ROLLCALL_USER: {"licenseType": "employee"}
        });
        let (mut user, password) = user_from_scim(&body).unwrap();
        assert_eq!(password.as_deref(), Some("Secret-Pass-123"));
        assert!(!user.active, "string booleans are booleans");
        assert!(user.emails[0].primary);
        assert_eq!(
            user.manager.unwrap().to_string(),
            "0196a3b4-0000-7000-8000-000000000001"
        );
        user.password_hash = Some("$argon2id$...".into());
        let out = user_to_scim(
            &user,
            &UserContext {
                base: "https://d/scim/v2".into(),
                ..Default::default()
            },
        );
        let text = out.to_string();
        assert!(!text.contains("argon2") && !text.contains("password"));
        assert_eq!(out["active"], json!(false));
        assert_eq!(out["name"]["familyName"], "Jensen");
        assert_eq!(
            out[ENTERPRISE_USER]["manager"]["value"],
            "0196a3b4-0000-7000-8000-000000000001"
        );
        assert_eq!(out[ENTERPRISE_USER]["department"], "Tour Operations");
        assert_eq!(out["meta"]["version"], "W/\"0\"");
        let (again, _) = user_from_scim(&out).unwrap();
        assert_eq!(again.emails, user.emails);
        assert_eq!(again.manager, user.manager);
    }

    #[test]
    fn wrong_types_are_invalid_values_that_name_the_attribute() {
        for (body, attribute) in [
            (json!({"userName": 42}), "userName"),
            (json!({"userName": "a", "active": "maybe"}), "active"),
            (json!({"userName": "a", "emails": "a@b"}), "emails"),
            (
                json!({"userName": "a", ROLLCALL_USER: {"licenseType": "contractor"}}),
                "contractor",
            ),
            (
                json!({"userName": "a", ENTERPRISE_USER: {"manager": {"value": "not-an-id"}}}),
                "manager",
            ),
        ] {
            let err = user_from_scim(&body).unwrap_err();
            assert_eq!(
                (err.status, err.scim_type),
                (400, Some(rollcall_scim::ScimType::InvalidValue))
            );
            assert!(
                err.detail.contains(attribute),
                "{attribute}: {}",
                err.detail
            );
        }
        assert!(
            user_from_scim(&json!({"displayName": "x"})).is_err(),
            "userName is required"
        );
    }

    #[test]
    fn idp_profile_attributes_round_trip_and_scim_roles_are_not_rollcall_roles() {
        let body = json!({
            "userName": "dana",
            "profileUrl": "https://p.example/dana",
            "ims": [{"value": "dana@xmpp", "type": "xmpp"}],
            "photos": [{"value": "https://p.example/d.jpg", "type": "photo"}],
            "entitlements": [{"value": "E5", "display": "Office"}],
            "roles": [{"primary": "True", "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}],
            "x509Certificates": [{"value": "TWFu"}]
        });
        let (user, _) = user_from_scim(&body).unwrap();
        assert!(user.roles.is_empty(), "no Rollcall role");
        assert_eq!(user.scim_roles[0].value, "Admin");
        assert!(user.scim_roles[0].primary);
        let out = user_to_scim(&user, &UserContext::default());
        for name in [
            "profileUrl",
            "ims",
            "photos",
            "entitlements",
            "x509Certificates",
        ] {
            assert_eq!(out[name], body[name], "{name}");
        }
        assert_eq!(
            out["roles"],
            json!([{"value": "Admin", "type": "WindowsAzureActiveDirectoryRole", "primary": true}])
        );
        let (again, _) = user_from_scim(&out).unwrap();
        assert_eq!(
            (again.profile_url, again.scim_roles, again.x509_certificates),
            (user.profile_url, user.scim_roles, user.x509_certificates)
        );
    }
}
