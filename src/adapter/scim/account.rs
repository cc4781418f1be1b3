//! The `Account` custom resource type.

use serde_json::{Value, json};

use super::json::{self, Object, put};
use super::user::rfc3339;
use super::{ACCOUNT_SCHEMA, etag};
use crate::model::{Account, AccountId};
use rollcall_scim::ScimError;

pub fn account_to_scim(account: &Account, base: &str) -> Value {
    let mut out = Object::new();
    out.insert("schemas".into(), json!([ACCOUNT_SCHEMA]));
    out.insert("id".into(), json!(account.id.to_string()));
    put(&mut out, "externalId", account.external_id.clone());
    out.insert("name".into(), json!(account.name));
    if let Some(parent) = account.parent {
        out.insert(
            "parent".into(),
            json!({"value": parent.to_string(), "$ref": format!("{base}/Accounts/{parent}")}),
        );
    }
    out.insert("licensed".into(), json!(account.licensed));
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "Account",
            "created": rfc3339(account.created),
            "lastModified": rfc3339(account.modified),
            "location": format!("{base}/Accounts/{}", account.id),
            "version": etag(account.version),
        }),
    );
    Value::Object(out)
}

pub fn account_from_scim(resource: &Value) -> Result<Account, ScimError> {
    let obj = resource
        .as_object()
        .ok_or_else(|| ScimError::invalid_value("an Account must be a JSON object"))?;
    let name = json::string(obj, "name")?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ScimError::invalid_value("name is required"))?;
    let mut account = Account::new(name);
    account.external_id = json::string(obj, "externalId")?;
    account.licensed = json::boolean(obj, "licensed")?.unwrap_or(false);
    account.parent = json::reference(obj, "parent")?
        .map(|id| {
            id.parse::<AccountId>().map_err(|_| {
                ScimError::invalid_value(format!("parent: {id:?} is not an account id"))
            })
        })
        .transpose()?;
    Ok(account)
}
