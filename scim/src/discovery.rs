//! Discovery documents (RFC 7644 §4): `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`.
//!
//! They are generated from the same registry and limits the router enforces, so what is
//! advertised is exactly what is implemented.

use serde_json::{Value, json};

use crate::error::ScimError;
use crate::list::list_response;
use crate::schema::{SERVICE_PROVIDER_CONFIG_SCHEMA, Schemas};

/// The limits advertised in `/ServiceProviderConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub max_results: usize,
    pub bulk_max_operations: usize,
    pub bulk_max_payload: usize,
    /// Whether a client may set a password (RFC 7643 §5 `changePassword`): the User schema
    /// has a writable `password`.
    pub change_password: bool,
}

pub fn service_provider_config(caps: Capabilities, base_url: &str) -> Value {
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
        "documentationUri": "https://www.rfc-editor.org/rfc/rfc7644",
        "patch": {"supported": true},
        "bulk": {
            "supported": true,
            "maxOperations": caps.bulk_max_operations,
            "maxPayloadSize": caps.bulk_max_payload,
        },
        "filter": {"supported": true, "maxResults": caps.max_results},
        "changePassword": {"supported": caps.change_password},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with a bearer token in the Authorization header",
            "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{}/ServiceProviderConfig", base_url.trim_end_matches('/')),
        }
    })
}

pub fn resource_types(schemas: &Schemas, base_url: &str) -> Value {
    let all: Vec<Value> = schemas
        .resource_types()
        .iter()
        .map(|rt| rt.to_json(base_url))
        .collect();
    list_response(all.len(), 1, all)
}

pub fn resource_type(schemas: &Schemas, base_url: &str, id: &str) -> Result<Value, ScimError> {
    schemas
        .resource_types()
        .iter()
        .find(|rt| rt.id.eq_ignore_ascii_case(id) || rt.name.eq_ignore_ascii_case(id))
        .map(|rt| rt.to_json(base_url))
        .ok_or_else(|| ScimError::not_found(format!("no resource type '{id}'")))
}

/// The schemas in use: those of the served resource types and their extensions.
pub fn schemas(schemas: &Schemas, base_url: &str) -> Value {
    let all: Vec<Value> = schemas
        .schemas()
        .iter()
        .filter(|s| in_use(schemas, &s.id))
        .map(|s| s.to_json(base_url))
        .collect();
    list_response(all.len(), 1, all)
}

pub fn schema(schemas: &Schemas, base_url: &str, id: &str) -> Result<Value, ScimError> {
    schemas
        .schema(id)
        .filter(|s| in_use(schemas, &s.id))
        .map(|s| s.to_json(base_url))
        .ok_or_else(|| ScimError::not_found(format!("no schema '{id}'")))
}

fn in_use(schemas: &Schemas, id: &str) -> bool {
    schemas
        .resource_types()
        .iter()
        .any(|rt| rt.schema.eq_ignore_ascii_case(id) || rt.has_extension(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};

    #[test]
    fn documents() {
        let s = Schemas::builtin();
        let caps = Capabilities {
            max_results: 10,
            bulk_max_operations: 5,
            bulk_max_payload: 100,
            change_password: true,
        };
        let spc = service_provider_config(caps, "https://h/scim/v2/");
        assert_eq!(spc["bulk"]["maxOperations"], 5);
        assert_eq!(spc["changePassword"]["supported"], true);
        assert_eq!(
            spc["meta"]["location"],
            "https://h/scim/v2/ServiceProviderConfig"
        );
        let rts = resource_types(&s, "https://h/scim/v2");
        assert_eq!(rts["totalResults"], 2);
        assert_eq!(
            rts["Resources"][0]["schemaExtensions"][0]["schema"],
            ENTERPRISE_USER_SCHEMA
        );
        let sc = schemas(&s, "https://h/scim/v2");
        assert_eq!(sc["totalResults"], 3);
        let u = schema(&s, "https://h/scim/v2", USER_SCHEMA).expect("user");
        assert_eq!(
            u["meta"]["location"],
            format!("https://h/scim/v2/Schemas/{USER_SCHEMA}")
        );
        assert!(schema(&s, "x", "nope").is_err());
        assert!(resource_type(&s, "x", "User").is_ok());
    }
}
