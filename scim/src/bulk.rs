//! Bulk (RFC 7644 §3.7): parsing a BulkRequest, ordering operations so `bulkId` references
//! resolve, `failOnErrors`, and the BulkResponse.
//!
//! Execution is delegated to a [`BulkExecutor`] so Bulk runs exactly the same code as the
//! single-resource endpoints.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value, json};

use crate::error::ScimError;
use crate::schema::get_ci;

pub const BULK_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

const BULK_ID_PREFIX: &str = "bulkId:";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BulkMethod {
    Post,
    Put,
    Patch,
    Delete,
}

impl BulkMethod {
    fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "POST" => Some(Self::Post),
            "PUT" => Some(Self::Put),
            "PATCH" => Some(Self::Patch),
            "DELETE" => Some(Self::Delete),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BulkOperation {
    pub method: BulkMethod,
    pub bulk_id: Option<String>,
    /// An ETag the resource must match (like `If-Match`).
    pub version: Option<String>,
    pub path: String,
    pub data: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BulkRequest {
    pub fail_on_errors: Option<usize>,
    pub operations: Vec<BulkOperation>,
}

/// The result of one operation that succeeded.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkOutcome {
    pub status: u16,
    pub id: Option<String>,
    pub location: Option<String>,
    pub version: Option<String>,
}

/// Runs one operation; `endpoint` has no slash, `id` is resolved from any `bulkId:`.
pub trait BulkExecutor {
    fn execute(
        &mut self,
        method: BulkMethod,
        endpoint: &str,
        id: Option<&str>,
        version: Option<&str>,
        data: Option<Value>,
    ) -> Result<BulkOutcome, ScimError>;
}

impl BulkRequest {
    /// Parses a BulkRequest; more than `max_operations` operations is 413 `tooMany`
    /// (RFC 7644 §3.7.4 names 413 for an exceeded limit).
    pub fn parse(body: &Value, max_operations: usize) -> Result<Self, ScimError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax("a BulkRequest must be a JSON object"))?;
        let has_schema = get_ci(obj, "schemas")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter().any(|s| {
                    s.as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(BULK_REQUEST_SCHEMA))
                })
            });
        if !has_schema {
            return Err(ScimError::invalid_syntax(format!(
                "'schemas' must contain \"{BULK_REQUEST_SCHEMA}\""
            )));
        }
        let fail_on_errors = match get_ci(obj, "failOnErrors") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(n) if n >= 1 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                _ => {
                    return Err(ScimError::invalid_value(
                        "'failOnErrors' must be a positive integer",
                    ));
                }
            },
            Some(_) => {
                return Err(ScimError::invalid_value(
                    "'failOnErrors' must be a positive integer",
                ));
            }
        };
        let ops = get_ci(obj, "Operations")
            .and_then(Value::as_array)
            .ok_or_else(|| ScimError::invalid_syntax("'Operations' must be an array"))?;
        if ops.len() > max_operations {
            return Err(ScimError::new(
                413,
                Some(crate::error::ScimType::TooMany),
                format!(
                    "{} operations exceed the maximum of {max_operations} per Bulk request",
                    ops.len()
                ),
            ));
        }
        let mut operations = Vec::with_capacity(ops.len());
        let mut bulk_ids = std::collections::HashSet::new();
        for (i, op) in ops.iter().enumerate() {
            let o = op.as_object().ok_or_else(|| {
                ScimError::invalid_syntax(format!("operation {i} must be a JSON object"))
            })?;
            let text = |k: &str| get_ci(o, k).and_then(Value::as_str).map(str::to_string);
            let method = text("method")
                .as_deref()
                .and_then(BulkMethod::parse)
                .ok_or_else(|| {
                    ScimError::invalid_syntax(format!(
                        "operation {i}: 'method' must be POST, PUT, PATCH or DELETE"
                    ))
                })?;
            let path = text("path").ok_or_else(|| {
                ScimError::invalid_syntax(format!("operation {i}: 'path' is required"))
            })?;
            let bulk_id = text("bulkId");
            if method == BulkMethod::Post && bulk_id.is_none() {
                return Err(ScimError::invalid_syntax(format!(
                    "operation {i}: POST needs a 'bulkId'"
                )));
            }
            // A bulkId names one operation (RFC 7644 §3.7): with two, a reference would bind
            // to whichever ran last.
            if let Some(id) = &bulk_id
                && !bulk_ids.insert(id.clone())
            {
                return Err(ScimError::invalid_value(format!(
                    "operation {i}: bulkId {id:?} is already another operation's"
                )));
            }
            let data = get_ci(o, "data").cloned();
            if matches!(
                method,
                BulkMethod::Post | BulkMethod::Put | BulkMethod::Patch
            ) && data.is_none()
            {
                return Err(ScimError::invalid_syntax(format!(
                    "operation {i}: {} needs 'data'",
                    method.as_str()
                )));
            }
            // An ETag (RFC 7644 §3.7: `version`); a bare number is taken as that version, and
            // anything else is refused rather than dropped, so the check it asks for holds.
            let version = match get_ci(o, "version") {
                None | Some(Value::Null) => None,
                Some(Value::String(tag)) => Some(tag.clone()),
                Some(Value::Number(n)) if n.is_u64() => Some(format!("W/\"{n}\"")),
                Some(other) => {
                    return Err(ScimError::invalid_syntax(format!(
                        "operation {i}: 'version' must be an ETag such as W/\"3\", got {other}"
                    )));
                }
            };
            operations.push(BulkOperation {
                method,
                bulk_id,
                version,
                path,
                data,
            });
        }
        Ok(Self {
            fail_on_errors,
            operations,
        })
    }

    /// Runs the operations and builds the BulkResponse. An operation that references a
    /// `bulkId` waits until that operation has succeeded; if it never does (failed, missing,
    /// circular) the operation fails with 409 (RFC 7644 §3.7.3).
    ///
    /// Scheduling is a topological order, lowest index first among the operations that are
    /// ready: each reference is looked at once and each finished operation wakes only the
    /// operations waiting for it, so the work is linear in the request whatever its chains of
    /// references (rescanning every waiting operation per pass made a long chain quadratic).
    pub fn process(&self, exec: &mut impl BulkExecutor) -> Value {
        let n = self.operations.len();
        let mut results: Vec<Option<Value>> = vec![None; n];
        let mut ids: HashMap<String, String> = HashMap::new();
        let refs: Vec<BTreeSet<String>> = self
            .operations
            .iter()
            .map(|op| references(op).into_iter().collect())
            .collect();
        // Operations not yet finished that carry each bulkId.
        let mut producing: HashMap<&str, usize> = HashMap::new();
        for op in &self.operations {
            if let Some(b) = op.bulk_id.as_deref() {
                *producing.entry(b).or_default() += 1;
            }
        }
        // For each bulkId, the operations waiting for it; for each operation, how many of its
        // references still wait. A reference nothing produces never waits: it fails at once.
        let mut waiting: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut blockers = vec![0usize; n];
        let mut ready = BTreeSet::new();
        for (i, op) in self.operations.iter().enumerate() {
            for r in &refs[i] {
                let others = producing.get(r.as_str()).copied().unwrap_or(0)
                    - usize::from(op.bulk_id.as_deref() == Some(r.as_str()));
                if others > 0 {
                    waiting.entry(r.as_str()).or_default().push(i);
                    blockers[i] += 1;
                }
            }
            if blockers[i] == 0 {
                ready.insert(i);
            }
        }
        let mut errors = 0usize;
        let mut stop = false;
        while let Some(i) = ready.pop_first() {
            let op = &self.operations[i];
            let missing = refs[i].iter().find(|r| !ids.contains_key(*r));
            let outcome = match missing {
                None => self.run(op, &ids, exec),
                Some(r) => Err(ScimError::conflict(format!(
                    "bulkId '{r}' cannot be resolved"
                ))),
            };
            results[i] = Some(match outcome {
                Ok(out) => {
                    if let (Some(b), Some(id)) = (&op.bulk_id, &out.id) {
                        ids.insert(b.clone(), id.clone());
                    }
                    success_json(op, &out)
                }
                Err(e) => {
                    errors += 1;
                    stop = self.fail_on_errors.is_some_and(|max| errors >= max);
                    error_json(op, &e)
                }
            });
            if stop {
                break;
            }
            if let Some(b) = op.bulk_id.as_deref()
                && let Some(left) = producing.get_mut(b)
            {
                *left -= 1;
                if *left == 0 {
                    for w in waiting.remove(b).unwrap_or_default() {
                        blockers[w] -= 1;
                        if blockers[w] == 0 {
                            ready.insert(w);
                        }
                    }
                }
            }
        }
        if !stop {
            // Whatever is left waits on itself, around a circle of references.
            for (i, result) in results.iter_mut().enumerate() {
                if result.is_none() {
                    *result = Some(error_json(
                        &self.operations[i],
                        &ScimError::conflict("circular bulkId references cannot be resolved"),
                    ));
                    errors += 1;
                    if self.fail_on_errors.is_some_and(|max| errors >= max) {
                        break;
                    }
                }
            }
        }
        json!({
            "schemas": [BULK_RESPONSE_SCHEMA],
            "Operations": results.into_iter().flatten().collect::<Vec<_>>(),
        })
    }

    fn run(
        &self,
        op: &BulkOperation,
        ids: &HashMap<String, String>,
        exec: &mut impl BulkExecutor,
    ) -> Result<BulkOutcome, ScimError> {
        let path = op.path.trim().trim_start_matches('/');
        let mut parts = path.splitn(2, '/');
        let endpoint = parts.next().unwrap_or_default();
        let id = parts.next().map(|raw| substitute_str(raw, ids));
        if endpoint.is_empty()
            || id
                .as_deref()
                .is_some_and(|i| i.is_empty() || i.contains('/'))
        {
            return Err(ScimError::invalid_path(format!(
                "invalid Bulk path '{}'",
                op.path
            )));
        }
        match (op.method, &id) {
            (BulkMethod::Post, Some(_)) => {
                return Err(ScimError::invalid_path(format!(
                    "POST takes a collection path, not '{}'",
                    op.path
                )));
            }
            (BulkMethod::Put | BulkMethod::Patch | BulkMethod::Delete, None) => {
                return Err(ScimError::invalid_path(format!(
                    "{} needs a resource path like /Users/{{id}}, not '{}'",
                    op.method.as_str(),
                    op.path
                )));
            }
            _ => {}
        }
        let data = op.data.clone().map(|d| substitute(d, ids));
        exec.execute(
            op.method,
            endpoint,
            id.as_deref(),
            op.version.as_deref(),
            data,
        )
    }
}

/// `bulkId:xyz` strings in the path and anywhere in the data.
fn references(op: &BulkOperation) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => {
                if let Some(r) = s.strip_prefix(BULK_ID_PREFIX) {
                    out.push(r.to_string());
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for seg in op.path.split('/') {
        if let Some(r) = seg.strip_prefix(BULK_ID_PREFIX) {
            out.push(r.to_string());
        }
    }
    if let Some(d) = &op.data {
        walk(d, &mut out);
    }
    out
}

fn substitute_str(s: &str, ids: &HashMap<String, String>) -> String {
    s.strip_prefix(BULK_ID_PREFIX)
        .and_then(|r| ids.get(r))
        .cloned()
        .unwrap_or_else(|| s.to_string())
}

fn substitute(v: Value, ids: &HashMap<String, String>) -> Value {
    match v {
        Value::String(s) => Value::String(substitute_str(&s, ids)),
        Value::Array(a) => Value::Array(a.into_iter().map(|x| substitute(x, ids)).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, x)| (k, substitute(x, ids)))
                .collect::<Map<_, _>>(),
        ),
        other => other,
    }
}

fn base(op: &BulkOperation) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("method".into(), json!(op.method.as_str()));
    if let Some(b) = &op.bulk_id {
        m.insert("bulkId".into(), json!(b));
    }
    m
}

fn success_json(op: &BulkOperation, out: &BulkOutcome) -> Value {
    let mut m = base(op);
    if let Some(l) = &out.location {
        m.insert("location".into(), json!(l));
    }
    if let Some(v) = &out.version {
        m.insert("version".into(), json!(v));
    }
    m.insert("status".into(), json!(out.status.to_string()));
    Value::Object(m)
}

fn error_json(op: &BulkOperation, e: &ScimError) -> Value {
    let mut m = base(op);
    if op.method != BulkMethod::Post {
        m.insert("location".into(), json!(op.path));
    }
    m.insert("status".into(), json!(e.status.to_string()));
    m.insert("response".into(), e.to_json());
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Fake {
        next: u32,
        seen: Vec<(BulkMethod, String, Option<String>, Option<Value>)>,
    }

    impl BulkExecutor for Fake {
        fn execute(
            &mut self,
            method: BulkMethod,
            endpoint: &str,
            id: Option<&str>,
            _version: Option<&str>,
            data: Option<Value>,
        ) -> Result<BulkOutcome, ScimError> {
            self.seen.push((
                method,
                endpoint.into(),
                id.map(str::to_string),
                data.clone(),
            ));
            if data.as_ref().is_some_and(|d| d.get("fail").is_some()) {
                return Err(ScimError::invalid_value("asked to fail"));
            }
            self.next += 1;
            let id = id.map(str::to_string).unwrap_or(format!("id{}", self.next));
            Ok(BulkOutcome {
                status: if method == BulkMethod::Post { 201 } else { 200 },
                location: Some(format!("/{endpoint}/{id}")),
                id: Some(id),
                version: Some("W/\"1\"".into()),
            })
        }
    }

    fn req(ops: Value, fail: Option<u64>) -> BulkRequest {
        let mut body = json!({"schemas": [BULK_REQUEST_SCHEMA], "Operations": ops});
        if let (Some(f), Some(o)) = (fail, body.as_object_mut()) {
            o.insert("failOnErrors".into(), json!(f));
        }
        BulkRequest::parse(&body, 10).expect("parse")
    }

    #[test]
    fn a_bulk_id_names_one_operation() {
        let body = json!({"schemas": [BULK_REQUEST_SCHEMA], "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "x", "data": {"userName": "a"}},
            {"method": "POST", "path": "/Users", "bulkId": "x", "data": {"userName": "b"}},
        ]});
        let e = BulkRequest::parse(&body, 10).expect_err("duplicate bulkId");
        assert_eq!(e.status, 400);
        assert_eq!(e.scim_type, Some(crate::error::ScimType::InvalidValue));
        assert!(e.detail.contains("\"x\""), "{}", e.detail);
    }

    #[test]
    fn forward_references_resolve() {
        let r = req(
            json!([
                {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"members": [{"value": "bulkId:u"}]}},
                {"method": "POST", "path": "/Users", "bulkId": "u", "data": {"userName": "a"}}
            ]),
            None,
        );
        let mut f = Fake::default();
        let out = r.process(&mut f);
        assert_eq!(out["Operations"][0]["status"], "201");
        assert_eq!(out["Operations"][1]["status"], "201");
        assert_eq!(f.seen[0].1, "Users");
        assert_eq!(f.seen[1].3, Some(json!({"members": [{"value": "id1"}]})));
    }

    #[test]
    fn a_chain_of_references_runs_from_its_end_each_operation_once() {
        // Operation i needs operation i+1's id; a circle in the middle (x <-> y) and an
        // operation that waits on it fail, the rest succeed.
        let n = 500;
        let mut ops: Vec<Value> = (0..n)
            .map(|i| {
                json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"),
                       "data": {"manager": format!("bulkId:b{}", i + 1)}})
            })
            .collect();
        ops[n - 1] = json!({"method": "POST", "path": "/Users", "bulkId": format!("b{}", n - 1), "data": {}});
        ops.push(
            json!({"method": "POST", "path": "/Users", "bulkId": "x", "data": {"m": "bulkId:y"}}),
        );
        ops.push(
            json!({"method": "POST", "path": "/Users", "bulkId": "y", "data": {"m": "bulkId:x"}}),
        );
        ops.push(
            json!({"method": "POST", "path": "/Users", "bulkId": "z", "data": {"m": "bulkId:x"}}),
        );
        let body = json!({"schemas": [BULK_REQUEST_SCHEMA], "Operations": ops});
        let r = BulkRequest::parse(&body, 1000).unwrap();
        let mut f = Fake::default();
        let out = r.process(&mut f);
        let statuses: Vec<&str> = out["Operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses.len(), n + 3);
        assert!(statuses[..n].iter().all(|s| *s == "201"), "{statuses:?}");
        assert_eq!(statuses[n..], ["409", "409", "409"]);
        // Each ran once, the end of the chain first, each with the id made for the next.
        assert_eq!(f.seen.len(), n);
        assert_eq!(f.seen[0].3, Some(json!({})));
        for (k, seen) in f.seen.iter().enumerate().skip(1) {
            assert_eq!(seen.3, Some(json!({"manager": format!("id{k}")})));
        }
    }

    #[test]
    fn unresolvable_and_fail_on_errors() {
        let r = req(
            json!([
                {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"fail": 1}},
                {"method": "PATCH", "path": "/Users/bulkId:a", "data": {}},
                {"method": "POST", "path": "/Users", "bulkId": "c", "data": {}}
            ]),
            None,
        );
        let out = r.process(&mut Fake::default());
        assert_eq!(out["Operations"][0]["status"], "400");
        assert_eq!(out["Operations"][1]["status"], "409");
        assert_eq!(out["Operations"][2]["status"], "201");
        let r = req(
            json!([
                {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"fail": 1}},
                {"method": "POST", "path": "/Users", "bulkId": "c", "data": {}}
            ]),
            Some(1),
        );
        let out = r.process(&mut Fake::default());
        assert_eq!(out["Operations"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn circular_and_limits() {
        let r = req(
            json!([
                {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"x": "bulkId:b"}},
                {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"x": "bulkId:a"}}
            ]),
            None,
        );
        let out = r.process(&mut Fake::default());
        assert_eq!(out["Operations"][0]["status"], "409");
        assert_eq!(out["Operations"][1]["status"], "409");
        let many: Vec<Value> = (0..11)
            .map(|i| json!({"method": "DELETE", "path": format!("/Users/{i}")}))
            .collect();
        let e = BulkRequest::parse(
            &json!({"schemas": [BULK_REQUEST_SCHEMA], "Operations": many}),
            10,
        )
        .expect_err("too many");
        assert_eq!(e.status, 413);
    }

    #[test]
    fn a_version_is_an_etag_or_a_number_and_nothing_else() {
        let parsed = |version: Value| {
            BulkRequest::parse(
                &json!({"schemas": [BULK_REQUEST_SCHEMA], "Operations": [
                    {"method": "DELETE", "path": "/Users/1", "version": version}
                ]}),
                10,
            )
        };
        let version = |v: Value| parsed(v).expect("parse").operations[0].version.clone();
        assert_eq!(version(json!("W/\"3\"")), Some("W/\"3\"".into()));
        assert_eq!(version(json!(3)), Some("W/\"3\"".into()));
        assert_eq!(version(Value::Null), None);
        for junk in [json!(-1), json!(1.5), json!(["W/\"3\""]), json!({"v": 3})] {
            let e = parsed(junk.clone()).expect_err("refused");
            assert_eq!(e.status, 400, "{junk}");
        }
    }
}
