//! Query parameters of list and search requests (RFC 7644 §3.4.2, §3.4.3), sorting, paging,
//! attribute projection (§3.4.2.5, §3.9) and the ListResponse document.

use std::cmp::Ordering;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::error::ScimError;
use crate::filter::{Filter, parse_datetime};
use crate::path::AttrPath;
use crate::schema::{AttrType, AttributeDef, Returned, Schemas, get_ci};

pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const SEARCH_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Ascending,
    Descending,
}

impl SortOrder {
    fn parse(s: &str) -> Result<Self, ScimError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ascending" => Ok(Self::Ascending),
            "descending" => Ok(Self::Descending),
            _ => Err(ScimError::invalid_value(format!(
                "sortOrder must be 'ascending' or 'descending', not '{s}'"
            ))),
        }
    }
}

/// `attributes` / `excludedAttributes`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Projection {
    pub attributes: Vec<AttrPath>,
    pub excluded: Vec<AttrPath>,
}

/// A list or search request's parameters, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ListParams {
    pub filter: Option<Filter>,
    pub sort_by: Option<AttrPath>,
    pub sort_order: SortOrder,
    /// 1-based.
    pub start_index: usize,
    pub count: usize,
    pub projection: Projection,
}

fn parse_paths(list: &str) -> Result<Vec<AttrPath>, ScimError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(AttrPath::parse)
        .collect()
}

fn parse_int(name: &str, s: &str) -> Result<i64, ScimError> {
    s.trim()
        .parse::<i64>()
        .map_err(|_| ScimError::invalid_value(format!("{name} must be an integer, not '{s}'")))
}

fn clamp_count(count: Option<i64>, max: usize) -> usize {
    match count {
        None => max,
        Some(c) if c < 0 => 0,
        Some(c) => usize::try_from(c).unwrap_or(usize::MAX).min(max),
    }
}

fn clamp_start(start: Option<i64>) -> usize {
    match start {
        Some(s) if s > 1 => usize::try_from(s).unwrap_or(usize::MAX),
        _ => 1,
    }
}

impl Projection {
    /// From a raw query string (`attributes`, `excludedAttributes`); `+` means space.
    pub fn from_query(query: &str) -> Result<Self, ScimError> {
        let mut p = Self::default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            if k.eq_ignore_ascii_case("attributes") {
                p.attributes.extend(parse_paths(&v)?);
            } else if k.eq_ignore_ascii_case("excludedAttributes") {
                p.excluded.extend(parse_paths(&v)?);
            }
        }
        Ok(p)
    }

    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty() && self.excluded.is_empty()
    }

    /// Projects a resource: `returned: never` attributes are always removed, `always` ones
    /// always kept, `request` ones only when asked for.
    pub fn apply(&self, resource: &Value, schemas: &Schemas, resource_type: &str) -> Value {
        if self.is_empty() && shown_whole(resource, schemas, resource_type) {
            return resource.clone();
        }
        self.walk(resource, schemas, resource_type)
    }

    /// The projection attribute by attribute.
    fn walk(&self, resource: &Value, schemas: &Schemas, resource_type: &str) -> Value {
        let Value::Object(obj) = resource else {
            return resource.clone();
        };
        let core = schemas
            .resource_type(resource_type)
            .map(|rt| rt.schema.clone());
        let want = self.resolve(&self.attributes, schemas, resource_type);
        let skip = self.resolve(&self.excluded, schemas, resource_type);
        let mut out = Map::new();
        for (k, v) in obj {
            if k.eq_ignore_ascii_case("schemas") {
                out.insert(k.clone(), v.clone());
                continue;
            }
            if let Some(ext) = schemas.extension_of(resource_type, k) {
                let Value::Object(inner) = v else { continue };
                let whole_wanted = want.iter().any(|r| r.whole_schema(&ext.id));
                let whole_skipped = skip.iter().any(|r| r.whole_schema(&ext.id));
                let mut sub_out = Map::new();
                for (k2, v2) in inner {
                    let def = ext.attribute(k2);
                    if let Some(v2) = self.decide(
                        &want,
                        &skip,
                        (whole_wanted, whole_skipped),
                        Some(&ext.id),
                        k2,
                        def,
                        v2,
                    ) {
                        sub_out.insert(k2.clone(), v2);
                    }
                }
                if !sub_out.is_empty() {
                    out.insert(k.clone(), Value::Object(sub_out));
                }
                continue;
            }
            let def = schemas
                .resolve(resource_type, None, k)
                .filter(|r| !r.extension)
                .map(|r| r.attr);
            let urn = def
                .and_then(|_| schemas.resolve(resource_type, None, k))
                .and_then(|r| r.schema)
                .or(core.as_deref());
            if let Some(v) = self.decide(&want, &skip, (false, false), urn, k, def, v) {
                out.insert(k.clone(), v);
            }
        }
        Value::Object(out)
    }

    fn resolve(&self, paths: &[AttrPath], schemas: &Schemas, rt: &str) -> Vec<Requested> {
        paths
            .iter()
            .map(|p| {
                if let Some(urn) = p.as_schema_urn()
                    && schemas.schema(&urn).is_some()
                {
                    return Requested {
                        whole: Some(urn),
                        schema: None,
                        name: String::new(),
                        sub: None,
                    };
                }
                let schema = match &p.urn {
                    Some(u) => Some(u.clone()),
                    None => schemas
                        .resolve(rt, None, &p.name)
                        .and_then(|r| r.schema.map(str::to_string)),
                };
                Requested {
                    whole: None,
                    schema,
                    name: p.name.clone(),
                    sub: p.sub.clone(),
                }
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn decide(
        &self,
        want: &[Requested],
        skip: &[Requested],
        (whole_wanted, whole_skipped): (bool, bool),
        urn: Option<&str>,
        name: &str,
        def: Option<&AttributeDef>,
        v: &Value,
    ) -> Option<Value> {
        let returned = def.map(|d| d.returned).unwrap_or(Returned::Default);
        match returned {
            Returned::Never => return None,
            Returned::Always => return Some(strip_subs(v, def, &[], None)),
            _ => {}
        }
        let matching = |list: &[Requested]| -> Vec<Requested> {
            list.iter()
                .filter(|r| r.matches(urn, name))
                .cloned()
                .collect()
        };
        if !want.is_empty() {
            let hits = matching(want);
            if hits.iter().any(|r| r.sub.is_none())
                || (whole_wanted && returned == Returned::Default)
            {
                return Some(strip_subs(v, def, &[], Some(&[])));
            }
            if hits.is_empty() {
                return None;
            }
            let subs: Vec<String> = hits.iter().filter_map(|r| r.sub.clone()).collect();
            let kept = strip_subs(v, def, &[], Some(&subs));
            return non_empty(kept);
        }
        if returned == Returned::Request || whole_skipped {
            return None;
        }
        let hits = matching(skip);
        if hits.iter().any(|r| r.sub.is_none()) {
            return None;
        }
        let subs: Vec<String> = hits.iter().filter_map(|r| r.sub.clone()).collect();
        non_empty(strip_subs(v, def, &subs, None))
    }
}

#[derive(Debug, Clone)]
struct Requested {
    whole: Option<String>,
    schema: Option<String>,
    name: String,
    sub: Option<String>,
}

impl Requested {
    fn whole_schema(&self, urn: &str) -> bool {
        self.whole
            .as_deref()
            .is_some_and(|w| w.eq_ignore_ascii_case(urn))
    }

    fn matches(&self, urn: Option<&str>, name: &str) -> bool {
        if self.whole.is_some() || !self.name.eq_ignore_ascii_case(name) {
            return false;
        }
        match (&self.schema, urn) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => true,
        }
    }
}

/// Whether the default projection (nothing asked for, nothing excluded) returns `resource` as
/// it is: none of its attributes is hidden by default (`returned: never` or `request`, or
/// complex with such sub-attributes) and none is empty. The common case then skips the
/// attribute-by-attribute walk; anything else takes it.
fn shown_whole(resource: &Value, schemas: &Schemas, resource_type: &str) -> bool {
    let Value::Object(obj) = resource else {
        return false;
    };
    let Some(rt) = schemas.resource_type(resource_type) else {
        return false;
    };
    let core = schemas
        .schema(&rt.schema)
        .map_or(&[][..], |s| &s.attributes);
    let hidden_in = |attrs: &[AttributeDef], name: &str| {
        attrs
            .iter()
            .any(|a| a.name.eq_ignore_ascii_case(name) && hides(a))
    };
    obj.iter().all(|(k, v)| {
        if k.eq_ignore_ascii_case("schemas") {
            return true;
        }
        if is_empty_value(v) {
            return false;
        }
        let urn = k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
        if let Some(ext) = urn
            .then(|| schemas.extension_of(resource_type, k))
            .flatten()
        {
            let Value::Object(inner) = v else {
                return false;
            };
            return inner
                .iter()
                .all(|(k2, v2)| !is_empty_value(v2) && !hidden_in(&ext.attributes, k2));
        }
        !hidden_in(core, k) && !schemas.common_attribute(k).is_some_and(hides)
    })
}

/// Whether the default projection leaves out the attribute or part of it.
fn hides(def: &AttributeDef) -> bool {
    let hidden = |r: Returned| matches!(r, Returned::Never | Returned::Request);
    hidden(def.returned) || def.sub_attributes.iter().any(|s| hidden(s.returned))
}

fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn non_empty(v: Value) -> Option<Value> {
    (!is_empty_value(&v)).then_some(v)
}

/// Removes sub-attributes: `never` ones always, `request` ones unless `only` names them,
/// those in `drop`, and when `only` is a non-empty list, all but those.
fn strip_subs(
    v: &Value,
    def: Option<&AttributeDef>,
    drop: &[String],
    only: Option<&[String]>,
) -> Value {
    let Some(def) = def.filter(|d| d.is_complex()) else {
        return v.clone();
    };
    let keep = |k: &str| -> bool {
        let sub = def.sub(k);
        let returned = sub.map(|s| s.returned).unwrap_or(Returned::Default);
        let named = |list: &[String]| list.iter().any(|s| s.eq_ignore_ascii_case(k));
        if returned == Returned::Never || named(drop) {
            return false;
        }
        match only {
            Some(list) if !list.is_empty() => named(list) || returned == Returned::Always,
            Some(_) => true,
            None => returned != Returned::Request,
        }
    };
    let one = |el: &Value| -> Value {
        match el {
            Value::Object(o) => Value::Object(
                o.iter()
                    .filter(|(k, _)| keep(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            other => other.clone(),
        }
    };
    match v {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(one)
                .filter(|el| !matches!(el, Value::Object(o) if o.is_empty()))
                .collect(),
        ),
        other => one(other),
    }
}

impl ListParams {
    /// From a raw (still percent-encoded) query string.
    pub fn from_query(query: &str, max_results: usize) -> Result<Self, ScimError> {
        let mut filter = None;
        let mut sort_by = None;
        let mut sort_order = SortOrder::default();
        let mut start = None;
        let mut count = None;
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match k.to_ascii_lowercase().as_str() {
                "filter" => filter = Some(Filter::parse(&v)?),
                "sortby" if !v.trim().is_empty() => sort_by = Some(AttrPath::parse(&v)?),
                "sortorder" => sort_order = SortOrder::parse(&v)?,
                "startindex" => start = Some(parse_int("startIndex", &v)?),
                "count" => count = Some(parse_int("count", &v)?),
                _ => {}
            }
        }
        Ok(Self {
            filter,
            sort_by,
            sort_order,
            start_index: clamp_start(start),
            count: clamp_count(count, max_results),
            projection: Projection::from_query(query)?,
        })
    }

    /// From a `POST .search` body (RFC 7644 §3.4.3).
    pub fn from_search(body: &Value, max_results: usize) -> Result<Self, ScimError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax("a SearchRequest must be a JSON object"))?;
        if let Some(s) = get_ci(obj, "schemas") {
            let ok = s.as_array().is_some_and(|a| {
                a.iter().any(|x| {
                    x.as_str()
                        .is_some_and(|x| x.eq_ignore_ascii_case(SEARCH_REQUEST_SCHEMA))
                })
            });
            if !ok {
                return Err(ScimError::invalid_syntax(format!(
                    "'schemas' must contain \"{SEARCH_REQUEST_SCHEMA}\""
                )));
            }
        }
        let text = |name: &str| -> Result<Option<String>, ScimError> {
            match get_ci(obj, name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ScimError::invalid_value(format!(
                    "'{name}' must be a string"
                ))),
            }
        };
        let int = |name: &str| -> Result<Option<i64>, ScimError> {
            match get_ci(obj, name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
                    ScimError::invalid_value(format!("'{name}' must be an integer"))
                }),
                Some(Value::String(s)) => parse_int(name, s).map(Some),
                Some(_) => Err(ScimError::invalid_value(format!(
                    "'{name}' must be an integer"
                ))),
            }
        };
        let paths = |name: &str| -> Result<Vec<AttrPath>, ScimError> {
            match get_ci(obj, name) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::String(s)) => parse_paths(s),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .ok_or_else(|| {
                                ScimError::invalid_value(format!("'{name}' must list strings"))
                            })
                            .and_then(AttrPath::parse)
                    })
                    .collect(),
                Some(_) => Err(ScimError::invalid_value(format!(
                    "'{name}' must be an array of strings"
                ))),
            }
        };
        Ok(Self {
            filter: text("filter")?.map(|f| Filter::parse(&f)).transpose()?,
            sort_by: text("sortBy")?
                .filter(|s| !s.trim().is_empty())
                .map(|s| AttrPath::parse(&s))
                .transpose()?,
            sort_order: text("sortOrder")?
                .map(|s| SortOrder::parse(&s))
                .transpose()?
                .unwrap_or_default(),
            start_index: clamp_start(int("startIndex")?),
            count: clamp_count(int("count")?, max_results),
            projection: Projection {
                attributes: paths("attributes")?,
                excluded: paths("excludedAttributes")?,
            },
        })
    }
}

/// A sort key; variants order mixed types deterministically, `Missing` last.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum SortKey {
    Bool(bool),
    Num(f64),
    Date(OffsetDateTime),
    Str(String),
    Missing,
}

fn sort_key(res: &Value, by: &AttrPath, schemas: &Schemas, rt: &str) -> SortKey {
    let Some(obj) = res.as_object() else {
        return SortKey::Missing;
    };
    let resolved = schemas.resolve(rt, by.urn.as_deref(), &by.name);
    let container = match resolved.and_then(|r| r.container()) {
        Some(c) => get_ci(obj, c).and_then(Value::as_object),
        None => Some(obj),
    };
    let top_name = resolved.map(|r| r.attr.name.as_str()).unwrap_or(&by.name);
    let Some(mut v) = container.and_then(|c| get_ci(c, top_name)) else {
        return SortKey::Missing;
    };
    // Multi-valued: the primary value, else the first (RFC 7644 §3.4.2.3).
    if let Value::Array(items) = v {
        let primary = items.iter().find(|el| {
            el.as_object()
                .and_then(|o| get_ci(o, "primary"))
                .is_some_and(|p| *p == Value::Bool(true))
        });
        match primary.or(items.first()) {
            Some(el) => v = el,
            None => return SortKey::Missing,
        }
    }
    let mut def = resolved.map(|r| r.attr);
    if let Value::Object(o) = v {
        let sub = by.sub.as_deref().unwrap_or("value");
        def = def.and_then(|d| d.sub(sub));
        match get_ci(o, sub) {
            Some(x) => v = x,
            None => return SortKey::Missing,
        }
    }
    key_of(v, def)
}

fn key_of(v: &Value, def: Option<&AttributeDef>) -> SortKey {
    match v {
        Value::Bool(b) => SortKey::Bool(*b),
        Value::Number(n) => n.as_f64().map(SortKey::Num).unwrap_or(SortKey::Missing),
        Value::String(s) => {
            if def.is_some_and(|d| d.kind == AttrType::DateTime)
                && let Some(d) = parse_datetime(s)
            {
                return SortKey::Date(d);
            }
            if def.is_some_and(|d| d.case_exact) {
                SortKey::Str(s.clone())
            } else {
                SortKey::Str(s.to_lowercase())
            }
        }
        _ => SortKey::Missing,
    }
}

/// Stable sort of resources by an attribute; values missing sort last ascending (first
/// descending). `json` and `resource_type` say how to see each item as a SCIM resource.
pub fn sort_resources<T>(
    items: Vec<T>,
    json: impl Fn(&T) -> &Value,
    by: &AttrPath,
    order: SortOrder,
    schemas: &Schemas,
    resource_type: impl Fn(&T) -> String,
) -> Vec<T> {
    let mut keyed: Vec<(SortKey, T)> = items
        .into_iter()
        .map(|it| (sort_key(json(&it), by, schemas, &resource_type(&it)), it))
        .collect();
    keyed.sort_by(|(a, _), (b, _)| {
        let o = a.partial_cmp(b).unwrap_or(Ordering::Equal);
        match order {
            SortOrder::Ascending => o,
            SortOrder::Descending => o.reverse(),
        }
    });
    keyed.into_iter().map(|(_, it)| it).collect()
}

/// The page `[start_index, start_index + count)` (1-based) of `items`.
pub fn page<T>(items: Vec<T>, start_index: usize, count: usize) -> Vec<T> {
    items
        .into_iter()
        .skip(start_index.saturating_sub(1))
        .take(count)
        .collect()
}

/// The ListResponse document; numbers are JSON numbers.
pub fn list_response(total: usize, start_index: usize, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};

    fn user(name: &str, title: Option<&str>) -> Value {
        let mut u = json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
            "id": format!("id-{name}"),
            "userName": name,
            "password": "secret",
            "name": {"givenName": "G", "familyName": "F"},
            "emails": [{"value": format!("{name}@x"), "type": "work"}],
            "meta": {"resourceType": "User"},
            ENTERPRISE_USER_SCHEMA: {"department": "D", "costCenter": "C"}
        });
        if let (Some(t), Some(o)) = (title, u.as_object_mut()) {
            o.insert("title".into(), json!(t));
        }
        u
    }

    #[test]
    fn query_params() {
        let p = ListParams::from_query(
            "filter=userName+eq+%22a+b%22&startIndex=0&count=-5&sortOrder=Descending&sortBy=name.familyName&attributes=userName,emails.value",
            100,
        )
        .expect("ok");
        assert_eq!(p.start_index, 1);
        assert_eq!(p.count, 0);
        assert_eq!(p.sort_order, SortOrder::Descending);
        assert!(
            matches!(p.filter, Some(Filter::Compare { ref value, .. }) if value.as_str() == Some("a b"))
        );
        assert_eq!(p.projection.attributes.len(), 2);
        let p = ListParams::from_query("count=5000", 100).expect("ok");
        assert_eq!(p.count, 100);
        assert!(ListParams::from_query("count=abc", 100).is_err());
        assert!(ListParams::from_query("filter=userName+eq", 100).is_err());
    }

    #[test]
    fn search_body() {
        let p = ListParams::from_search(
            &json!({"schemas": [SEARCH_REQUEST_SCHEMA], "filter": "title pr", "startIndex": 2, "count": 3, "attributes": ["userName"]}),
            10,
        )
        .expect("ok");
        assert_eq!((p.start_index, p.count), (2, 3));
        assert!(p.filter.is_some());
    }

    /// The default projection's shortcut gives exactly what the walk gives, and is taken for a
    /// resource as a provider builds it.
    #[test]
    fn the_default_projection_shortcut_matches_the_walk() {
        let s = Schemas::builtin();
        let p = Projection::default();
        let plain = {
            let mut u = user("a", Some("T"));
            u.as_object_mut().unwrap().remove("password");
            u
        };
        assert!(
            shown_whole(&plain, &s, "Users"),
            "a provider's resource takes the shortcut"
        );
        let mut cases = vec![plain.clone(), user("b", None), user("c", Some("T"))];
        let variants: Vec<(&str, Value)> = vec![
            ("groups", json!([])),
            ("phoneNumbers", json!([{"value": "1", "type": "work"}])),
            ("name", json!({})),
            ("unknownAttribute", json!("kept")),
            ("unknownEmpty", json!([])),
            ("PASSWORD", json!("secret")),
            (ENTERPRISE_USER_SCHEMA, json!({})),
            (
                ENTERPRISE_USER_SCHEMA,
                json!({"department": "", "manager": {"value": "m"}}),
            ),
            (ENTERPRISE_USER_SCHEMA, json!({"costCenter": []})),
            (ENTERPRISE_USER_SCHEMA, json!("not an object")),
            ("urn:example:unknown", json!({"x": 1})),
            (
                "meta",
                json!({"resourceType": "User", "version": "W/\"1\""}),
            ),
            ("active", json!(false)),
            ("displayName", Value::Null),
        ];
        for (key, value) in variants {
            let mut u = plain.clone();
            u.as_object_mut().unwrap().insert(key.to_string(), value);
            cases.push(u);
        }
        for resource in &cases {
            assert_eq!(
                p.apply(resource, &s, "Users"),
                p.walk(resource, &s, "Users"),
                "{resource}"
            );
        }
        // A Group with members is shown whole as well.
        let group = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": "g", "displayName": "G",
            "members": [{"value": "u", "display": "U"}],
        });
        assert_eq!(p.apply(&group, &s, "Groups"), p.walk(&group, &s, "Groups"));
    }

    #[test]
    fn projection_rules() {
        let s = Schemas::builtin();
        let u = user("a", Some("T"));
        let all = Projection::default().apply(&u, &s, "Users");
        assert!(all.get("password").is_none());
        assert_eq!(all["title"], "T");
        let p = Projection {
            attributes: vec![
                AttrPath::parse("emails.value").expect("p"),
                AttrPath::parse("password").expect("p"),
                AttrPath::parse(&format!("{ENTERPRISE_USER_SCHEMA}:department")).expect("p"),
            ],
            excluded: vec![],
        };
        let out = p.apply(&u, &s, "Users");
        assert!(out.get("password").is_none());
        assert!(out.get("userName").is_none());
        assert_eq!(out["id"], "id-a");
        assert!(out.get("meta").is_some());
        assert_eq!(out["emails"], json!([{"value": "a@x"}]));
        assert_eq!(out[ENTERPRISE_USER_SCHEMA], json!({"department": "D"}));
        let p = Projection {
            attributes: vec![],
            excluded: vec![
                AttrPath::parse("name.givenName").expect("p"),
                AttrPath::parse("costCenter").expect("p"),
                AttrPath::parse("id").expect("p"),
            ],
        };
        let out = p.apply(&u, &s, "Users");
        assert_eq!(out["name"], json!({"familyName": "F"}));
        assert_eq!(out[ENTERPRISE_USER_SCHEMA], json!({"department": "D"}));
        assert_eq!(out["id"], "id-a");
    }

    #[test]
    fn sorting_is_stable_and_missing_last() {
        let s = Schemas::builtin();
        let mut v = vec![
            user("c", Some("b")),
            user("a", None),
            user("B", Some("a")),
            user("d", Some("b")),
        ];
        v = sort_resources(
            v,
            |x| x,
            &AttrPath::new("title"),
            SortOrder::Ascending,
            &s,
            |_| "Users".into(),
        );
        let names: Vec<&str> = v.iter().filter_map(|u| u["userName"].as_str()).collect();
        assert_eq!(names, ["B", "c", "d", "a"]);
        v = sort_resources(
            v,
            |x| x,
            &AttrPath::new("userName"),
            SortOrder::Descending,
            &s,
            |_| "Users".into(),
        );
        let names: Vec<&str> = v.iter().filter_map(|u| u["userName"].as_str()).collect();
        assert_eq!(names, ["d", "c", "B", "a"]);
        v = sort_resources(
            v,
            |x| x,
            &AttrPath::new("emails"),
            SortOrder::Ascending,
            &s,
            |_| "Users".into(),
        );
        let names: Vec<&str> = v.iter().filter_map(|u| u["userName"].as_str()).collect();
        assert_eq!(names, ["a", "B", "c", "d"]);
    }

    #[test]
    fn paging() {
        assert_eq!(page(vec![1, 2, 3, 4, 5], 2, 2), vec![2, 3]);
        assert_eq!(page(vec![1, 2], 5, 2), Vec::<i32>::new());
        let r = list_response(5, 1, vec![json!({})]);
        assert_eq!(r["totalResults"], 5);
        assert_eq!(r["itemsPerPage"], 1);
    }
}
