//! Reading typed values out of SCIM JSON with errors that name the attribute. Identity providers
//! send booleans as strings ("True", "false"); they are accepted wherever a boolean is expected.

use serde_json::{Map, Value};

use rollcall_scim::ScimError;

pub type Object = Map<String, Value>;

/// Case-insensitive member lookup: SCIM attribute names are case-insensitive (RFC 7643 §2.1).
pub fn get<'a>(obj: &'a Object, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

pub fn present<'a>(obj: &'a Object, name: &str) -> Option<&'a Value> {
    get(obj, name).filter(|v| !v.is_null())
}

pub fn string(obj: &Object, name: &str) -> Result<Option<String>, ScimError> {
    match present(obj, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ScimError::invalid_value(format!(
            "{name} must be a string, got {other}"
        ))),
    }
}

pub fn boolean(obj: &Object, name: &str) -> Result<Option<bool>, ScimError> {
    match present(obj, name) {
        None => Ok(None),
        Some(v) => as_bool(v)
            .map(Some)
            .ok_or_else(|| ScimError::invalid_value(format!("{name} must be a boolean, got {v}"))),
    }
}

pub fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

pub fn object<'a>(obj: &'a Object, name: &str) -> Result<Option<&'a Object>, ScimError> {
    match present(obj, name) {
        None => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(other) => Err(ScimError::invalid_value(format!(
            "{name} must be an object, got {other}"
        ))),
    }
}

pub fn array<'a>(obj: &'a Object, name: &str) -> Result<&'a [Value], ScimError> {
    match present(obj, name) {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(other) => Err(ScimError::invalid_value(format!(
            "{name} must be an array, got {other}"
        ))),
    }
}

/// A reference given either as `{"value": id}` or as the bare id string (Entra sends the
/// Enterprise `manager` that way).
pub fn reference(obj: &Object, name: &str) -> Result<Option<String>, ScimError> {
    match present(obj, name) {
        None => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Object(o)) => string(o, "value").map(|v| v.filter(|s| !s.is_empty())),
        Some(other) => Err(ScimError::invalid_value(format!(
            "{name} must be a reference, got {other}"
        ))),
    }
}

/// Inserts only values that are set, so responses omit unassigned attributes (RFC 7643 §2.5).
pub fn put(obj: &mut Object, name: &str, value: Option<impl Into<Value>>) {
    if let Some(v) = value {
        obj.insert(name.to_string(), v.into());
    }
}
