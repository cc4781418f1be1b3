//! Checking and normalising what clients write (POST/PUT bodies and PATCH values) against the
//! schema, so the provider only ever sees canonical, typed JSON.
//!
//! IdPs are loose: Entra sends `"False"` for booleans and unknown schema URIs, Okta and Entra
//! send back `id`, `meta` and `groups` on PUT. RFC 7643 §2.2 says readOnly values in requests
//! are ignored, so they are dropped here rather than rejected; so are unknown URIs in the
//! `schemas` list, which only name schemas. An attribute the schemas do not define, though, is
//! refused (400 `invalidValue`, "not compatible with the ... resource schema", RFC 7644 §3.12),
//! naming it: dropped, the client would take it for stored, and PATCH already refuses it.

use serde_json::{Map, Number, Value};

use crate::error::ScimError;
use crate::filter::parse_datetime;
use crate::path::AttrPath;
use crate::schema::{AttrType, AttributeDef, Mutability, Schemas, find_key};

/// Coerces a value written to attribute `def` (named `name` in errors). `None` means
/// "unassigned" (JSON null, or a multi-valued attribute given only nulls). For a multi-valued
/// attribute a single value is accepted and wrapped when `wrap_single` (PATCH `add` allows it).
pub(crate) fn coerce(
    def: &AttributeDef,
    value: Value,
    name: &str,
    wrap_single: bool,
) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if !def.multi_valued {
        return coerce_single(def, value, name);
    }
    let items = match value {
        Value::Array(items) => items,
        other if wrap_single => vec![other],
        _ => {
            return Err(ScimError::invalid_value(format!(
                "'{name}' is multi-valued and needs an array"
            )));
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if let Some(v) = coerce_single(def, item, name)? {
            out.push(v);
        }
    }
    Ok(Some(Value::Array(out)))
}

/// One value of `def` (an element, for multi-valued attributes).
pub(crate) fn coerce_single(
    def: &AttributeDef,
    value: Value,
    name: &str,
) -> Result<Option<Value>, ScimError> {
    let wrong = |what: &str| {
        ScimError::invalid_value(format!(
            "'{name}' must be {what} ({} attribute)",
            def.kind.as_str()
        ))
    };
    let v = match (def.kind, value) {
        (_, Value::Null) => return Ok(None),
        (AttrType::Boolean, Value::Bool(b)) => Value::Bool(b),
        (AttrType::Boolean, Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(wrong("a boolean")),
        },
        (AttrType::Boolean, _) => return Err(wrong("a boolean")),
        (AttrType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => Value::Number(n),
        (AttrType::Integer, Value::String(s)) => match s.trim().parse::<i64>() {
            Ok(i) => Value::Number(i.into()),
            Err(_) => return Err(wrong("an integer")),
        },
        (AttrType::Integer, _) => return Err(wrong("an integer")),
        (AttrType::Decimal, Value::Number(n)) => Value::Number(n),
        (AttrType::Decimal, Value::String(s)) => {
            match s.trim().parse::<f64>().ok().and_then(Number::from_f64) {
                Some(n) => Value::Number(n),
                None => return Err(wrong("a number")),
            }
        }
        (AttrType::Decimal, _) => return Err(wrong("a number")),
        (AttrType::DateTime, Value::String(s)) if parse_datetime(&s).is_some() => Value::String(s),
        (AttrType::DateTime, _) => return Err(wrong("an RFC 3339 date-time string")),
        (AttrType::Binary, Value::String(s)) if !is_base64(&s) => {
            return Err(wrong("base64 (RFC 4648 §4)"));
        }
        (AttrType::String | AttrType::Reference | AttrType::Binary, Value::String(s)) => {
            Value::String(s)
        }
        (AttrType::String | AttrType::Reference | AttrType::Binary, _) => {
            return Err(wrong("a string"));
        }
        (AttrType::Complex, Value::Object(obj)) => {
            let mut out = Map::new();
            for (k, v) in obj {
                let Some(sub) = def.sub(&k) else {
                    if holds_nothing(&v) {
                        continue;
                    }
                    return Err(ScimError::invalid_value(format!(
                        "'{name}.{k}' is not an attribute: '{name}' has no sub-attribute '{k}'"
                    )));
                };
                if sub.mutability == Mutability::ReadOnly {
                    continue;
                }
                let sub_name = format!("{name}.{}", sub.name);
                if let Some(v) = coerce(sub, v, &sub_name, false)? {
                    out.insert(sub.name.clone(), v);
                }
            }
            if out.is_empty() {
                return Ok(None);
            }
            Value::Object(out)
        }
        // A complex attribute with a `value` sub-attribute given as a bare string: Entra sends
        // the enterprise `manager` as the manager's id.
        (AttrType::Complex, Value::String(s))
            if !def.multi_valued && def.sub("value").is_some() =>
        {
            let mut out = Map::new();
            out.insert("value".into(), Value::String(s));
            Value::Object(out)
        }
        (AttrType::Complex, _) => return Err(wrong("an object")),
    };
    Ok(Some(v))
}

/// Normalises a POST/PUT body for `resource_type`: canonical attribute names, typed values
/// (string booleans coerced), readOnly attributes dropped, nulls dropped (they mean
/// "unassigned"), `schemas` rebuilt from what is present, required attributes checked.
/// An attribute the resource type's schemas do not define is refused, unless its value would
/// store nothing anyway (null, an empty array): `400 invalidValue` naming it.
/// A resource type the registry does not describe passes through unchanged.
pub fn normalize_input(
    value: Value,
    schemas: &Schemas,
    resource_type: &str,
) -> Result<Value, ScimError> {
    normalize(value, schemas, resource_type, None)
}

/// [`normalize_input`] for a resource a PATCH made of `current` (as the provider returned
/// it): an attribute the PATCH left as it was is taken as it is, not checked again. A value
/// stored before the schema changed (a custom attribute the configuration retyped) then does
/// not refuse every PATCH of the resource, only one that sets it.
pub fn normalize_patched(
    value: Value,
    current: &Value,
    schemas: &Schemas,
    resource_type: &str,
) -> Result<Value, ScimError> {
    normalize(value, schemas, resource_type, Some(current))
}

fn normalize(
    value: Value,
    schemas: &Schemas,
    resource_type: &str,
    kept: Option<&Value>,
) -> Result<Value, ScimError> {
    let Value::Object(obj) = value else {
        return Err(ScimError::invalid_syntax(
            "the request body must be a JSON object",
        ));
    };
    let Some(rt) = schemas.resource_type(resource_type) else {
        return Ok(Value::Object(obj));
    };
    if schemas.schema(&rt.schema).is_none() {
        return Ok(Value::Object(obj));
    }
    let mut out = Map::new();
    let mut extensions: Vec<(String, Map<String, Value>)> = Vec::new();
    let mut put =
        |container: Option<&str>, name: String, v: Value, out: &mut Map<String, Value>| {
            match container {
                None => {
                    out.insert(name, v);
                }
                Some(urn) => match extensions.iter_mut().find(|(u, _)| u == urn) {
                    Some((_, m)) => {
                        m.insert(name, v);
                    }
                    None => {
                        let mut m = Map::new();
                        m.insert(name, v);
                        extensions.push((urn.to_string(), m));
                    }
                },
            }
        };
    for (key, v) in obj {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(ext) = schemas.extension_of(resource_type, &key) {
            let inner = match v {
                Value::Object(inner) => inner,
                Value::Null => continue,
                _ => {
                    return Err(ScimError::invalid_value(format!(
                        "'{key}' must be an object of extension attributes"
                    )));
                }
            };
            for (k2, v2) in inner {
                let Some(def) = ext.attribute(&k2) else {
                    if holds_nothing(&v2) {
                        continue;
                    }
                    return Err(unknown_attribute(
                        schemas,
                        resource_type,
                        &format!("{}:{k2}", ext.id),
                    ));
                };
                if def.mutability == Mutability::ReadOnly {
                    continue;
                }
                let as_it_was = kept
                    .and_then(|c| c.get(&ext.id))
                    .and_then(|e| e.get(&def.name))
                    .is_some_and(|old| *old == v2);
                if as_it_was {
                    put(Some(ext.id.as_str()), def.name.clone(), v2, &mut out);
                    continue;
                }
                if let Some(v2) = coerce(def, v2, &format!("{}:{}", ext.id, def.name), false)? {
                    put(Some(ext.id.as_str()), def.name.clone(), v2, &mut out);
                }
            }
            continue;
        }
        let resolved = AttrPath::parse(&key)
            .ok()
            .filter(|path| path.sub.is_none())
            .and_then(|path| schemas.resolve(resource_type, path.urn.as_deref(), &path.name));
        let Some(r) = resolved else {
            if !holds_nothing(&v) {
                return Err(unknown_in_body(schemas, resource_type, &key, &v));
            }
            continue;
        };
        if r.attr.mutability == Mutability::ReadOnly {
            continue;
        }
        if let Some(v) = coerce(r.attr, v, &r.attr.name, false)? {
            put(r.container(), r.attr.name.clone(), v, &mut out);
        }
    }
    // Required attributes (RFC 7643 §2.2 "required").
    let core = schemas.schema(&rt.schema);
    for def in core.iter().flat_map(|s| s.attributes.iter()) {
        if def.required && !out.get(&def.name).is_some_and(present) {
            return Err(ScimError::invalid_value(format!(
                "attribute '{}' is required",
                def.name
            )));
        }
    }
    let mut schema_list = vec![Value::String(rt.schema.clone())];
    for (ext, required) in schemas.extensions(rt) {
        let data = extensions
            .iter()
            .find(|(u, _)| *u == ext.id)
            .map(|(_, m)| m);
        if required && data.is_none() {
            return Err(ScimError::invalid_value(format!(
                "extension '{}' is required",
                ext.id
            )));
        }
        if let Some(data) = data {
            for def in ext.attributes.iter().filter(|d| d.required) {
                if !data.get(&def.name).is_some_and(present) {
                    return Err(ScimError::invalid_value(format!(
                        "attribute '{}:{}' is required",
                        ext.id, def.name
                    )));
                }
            }
        }
    }
    for (urn, data) in extensions {
        schema_list.push(Value::String(urn.clone()));
        out.insert(urn, Value::Object(data));
    }
    out.insert("schemas".into(), Value::Array(schema_list));
    Ok(Value::Object(out))
}

/// RFC 7644 §3.5.1: a PUT may send an immutable attribute that is set only with the value it
/// has. `body` and `current` are normalised resources (canonical keys, extensions under their
/// URN); an attribute `body` leaves out is kept by the provider, not changed.
pub fn check_immutables(
    body: &Value,
    current: &Value,
    schemas: &Schemas,
    resource_type: &str,
) -> Result<(), ScimError> {
    let Some(rt) = schemas.resource_type(resource_type) else {
        return Ok(());
    };
    let core = schemas.schema(&rt.schema).map(|s| (None, s));
    let extensions = schemas
        .extensions(rt)
        .map(|(ext, _)| (Some(ext.id.as_str()), ext));
    for (container, schema) in core.into_iter().chain(extensions) {
        let level = |resource: &Value| match container {
            None => resource.as_object().cloned(),
            Some(urn) => resource.get(urn).and_then(Value::as_object).cloned(),
        };
        let (Some(sent), Some(stored)) = (level(body), level(current)) else {
            continue;
        };
        for def in schema
            .attributes
            .iter()
            .filter(|d| d.mutability == Mutability::Immutable)
        {
            let (Some(new), Some(old)) = (sent.get(&def.name), stored.get(&def.name)) else {
                continue;
            };
            let same = match (new, old) {
                (Value::String(a), Value::String(b)) if !def.case_exact => {
                    a.eq_ignore_ascii_case(b)
                }
                _ => new == old,
            };
            if present(new) && present(old) && !same {
                return Err(ScimError::mutability(format!(
                    "'{}' is immutable: it is {old} and cannot become {new}",
                    def.name
                )));
            }
        }
    }
    Ok(())
}

/// The error for an attribute `path` that `resource_type` does not have: `invalidValue`, the
/// body's value not being compatible with the resource schema (RFC 7644 §3.12). PATCH says
/// `invalidPath` instead when the name is its `path`.
pub(crate) fn unknown_attribute(schemas: &Schemas, resource_type: &str, path: &str) -> ScimError {
    ScimError::invalid_value(not_an_attribute(schemas, resource_type, path))
}

/// Why `path` names nothing: "'x' is not an attribute of User (see /Schemas)".
pub(crate) fn not_an_attribute(schemas: &Schemas, resource_type: &str, path: &str) -> String {
    let name = type_name(schemas, resource_type);
    format!("'{path}' is not an attribute of {name} (see /Schemas and /ResourceTypes)")
}

fn type_name<'a>(schemas: &'a Schemas, resource_type: &'a str) -> &'a str {
    schemas
        .resource_type(resource_type)
        .map_or(resource_type, |rt| rt.name.as_str())
}

/// A top-level key of a body that names no attribute. An object under a schema URN that is not
/// one of the resource type's (a client's own extension) is named by its first attribute, which
/// is what would be lost.
fn unknown_in_body(schemas: &Schemas, resource_type: &str, key: &str, v: &Value) -> ScimError {
    let urn = key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
    let first = v
        .as_object()
        .filter(|_| urn)
        .and_then(|o| o.iter().find(|(_, v)| !holds_nothing(v)).map(|(k, _)| k));
    match first {
        Some(attribute) => ScimError::invalid_value(format!(
            "'{key}:{attribute}' is not an attribute of {name}: '{key}' is not one of its \
             schemas (see /ResourceTypes)",
            name = type_name(schemas, resource_type)
        )),
        None => unknown_attribute(schemas, resource_type, key),
    }
}

/// A value that would leave the attribute unassigned: null or an empty array (RFC 7643 §2.5
/// holds them the same as unassigned), or an object of such (an extension sent empty).
/// Refusing it for an attribute that does not exist would guard nothing: nothing is lost.
fn holds_nothing(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(holds_nothing),
        _ => false,
    }
}

/// Whether `s` is base64 as RFC 4648 §4 has it (the `binary` type's encoding, RFC 7643
/// §2.3.6): the standard alphabet, padded to a multiple of four, no line breaks (§3.1 forbids
/// them unless the referring specification allows them, which SCIM does not).
fn is_base64(s: &str) -> bool {
    let data = s.trim_end_matches('=');
    s.len().is_multiple_of(4)
        && s.len() - data.len() <= 2
        && data
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

pub(crate) fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => true,
    }
}

/// Moves `name` to its canonical spelling if the object holds it under another case.
pub(crate) fn canonicalize_key(obj: &mut Map<String, Value>, canonical: &str) {
    if obj.contains_key(canonical) {
        return;
    }
    if let Some(k) = find_key(obj, canonical).map(str::to_string)
        && let Some(v) = obj.remove(&k)
    {
        obj.insert(canonical.to_string(), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;
    use crate::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
    use serde_json::json;

    #[test]
    fn coerces_and_drops() {
        let s = Schemas::builtin();
        let body = json!({
            "schemas": [USER_SCHEMA, "urn:ietf:params:scim:schemas:extension:unknown"],
            "id": "should-go",
            "meta": {"version": "W/\"1\""},
            "groups": [],
            "USERNAME": "bob",
            "active": "False",
            "nickName": null,
            "emails": [{"value": "b@x", "primary": "True", "type": "work"}],
            "unknownThing": null,
            "unknownList": [],
            "urn:ietf:params:scim:schemas:extension:unknown": {"x": null},
            ENTERPRISE_USER_SCHEMA: {"manager": "m1", "department": "R&D"}
        });
        let out = normalize_input(body, &s, "Users").expect("ok");
        assert_eq!(out["userName"], "bob");
        assert_eq!(out["active"], false);
        assert_eq!(out["emails"][0]["primary"], true);
        assert!(out.get("id").is_none());
        assert!(out.get("meta").is_none());
        assert!(out.get("groups").is_none());
        assert!(out.get("nickName").is_none());
        assert!(out.get("unknownThing").is_none());
        assert_eq!(
            out[ENTERPRISE_USER_SCHEMA]["manager"],
            json!({"value": "m1"})
        );
        assert_eq!(out["schemas"], json!([USER_SCHEMA, ENTERPRISE_USER_SCHEMA]));
    }

    #[test]
    fn attributes_the_schemas_do_not_define_are_refused_by_name() {
        let s = Schemas::builtin();
        let custom = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";
        for (body, named) in [
            (
                json!({"userName": "a", "someUnknownAttr": "x"}),
                "someUnknownAttr",
            ),
            (json!({"userName": "a", custom: {"tag": "701984"}}), "tag"),
            (
                json!({"userName": "a", ENTERPRISE_USER_SCHEMA: {"badge": 1}}),
                "badge",
            ),
            (
                json!({"userName": "a", "name": {"givenName": "A", "nick": "x"}}),
                "name.nick",
            ),
            (
                json!({"userName": "a", "emails": [{"value": "a@x", "label": "x"}]}),
                "emails.label",
            ),
            (
                json!({"userName": "a", "name.givenName": "A"}),
                "name.givenName",
            ),
        ] {
            let e = normalize_input(body.clone(), &s, "Users").expect_err(&body.to_string());
            assert_eq!(e.scim_type, Some(ScimType::InvalidValue), "{body}");
            assert!(e.detail.contains(named), "{named}: {}", e.detail);
        }
        let e = normalize_input(json!({"displayName": "G", "userName": "x"}), &s, "Groups")
            .expect_err("userName on a Group");
        assert!(e.detail.contains("Group"), "{}", e.detail);
    }

    #[test]
    fn binary_values_are_base64() {
        let s = Schemas::builtin();
        let with = |cert: &str| json!({"userName": "a", "x509Certificates": [{"value": cert}]});
        for good in ["MIIB", "MIIBAA==", "TWE=", ""] {
            normalize_input(with(good), &s, "Users").expect(good);
        }
        for bad in ["MIIB AA==", "MII", "MIIB\nAA==", "M-_B", "MI=B", "===="] {
            let e = normalize_input(with(bad), &s, "Users").expect_err(bad);
            assert_eq!(e.scim_type, Some(ScimType::InvalidValue), "{bad}");
        }
    }

    #[test]
    fn required_and_types() {
        let s = Schemas::builtin();
        let e = normalize_input(json!({"schemas": [USER_SCHEMA]}), &s, "Users").expect_err("req");
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        let e = normalize_input(json!({"userName": "a", "active": "maybe"}), &s, "Users")
            .expect_err("bool");
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        let e = normalize_input(json!({"userName": "a", "emails": "x@y"}), &s, "Users")
            .expect_err("multi");
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        let g = normalize_input(
            json!({"schemas": [GROUP_SCHEMA, "urn:ietf:params:scim:schemas:extension:Entra:Group"],
                   "displayName": "G", "members": [{"value": "u1", "$ref": null}]}),
            &s,
            "Groups",
        )
        .expect("group");
        assert_eq!(g["members"], json!([{"value": "u1"}]));
    }
}
