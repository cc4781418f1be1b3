//! The SCIM operations on a provider, synchronous, shared by the HTTP handlers (which run them
//! on the blocking pool) and by Bulk.
//!
//! Here the router's side of the contract is kept: inputs are normalised before the provider
//! sees them, PATCH is read-apply-replace with compare-and-swap, lists are filtered exactly,
//! sorted and paged, and outputs carry `meta.version`/`meta.location` and are projected.

use serde_json::{Map, Value};

use crate::bulk::{BulkExecutor, BulkMethod, BulkOutcome};
use crate::error::ScimError;
use crate::input::{normalize_input, normalize_patched};
use crate::list::{ListParams, Projection, page, sort_resources};
use crate::patch::PatchRequest;
use crate::provider::{ListQuery, Provider, Resource};
use crate::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, Schemas, USER_SCHEMA, get_ci};

/// How long a PATCH without `If-Match` goes on re-reading and re-applying after losing races
/// to other writers of the record (a group that many clients add members to at once, a user
/// whose groups change while it is patched). The client set no precondition, so a lost race is
/// the server's to resolve: answering it with 412 would fail a push no retry of the client's
/// expects to make.
const PATCH_RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// And at most this many times: each attempt reads the whole resource again (a group, all its
/// members), so a record that keeps changing costs a bounded amount of work per PATCH.
const PATCH_ATTEMPTS: u32 = 64;

/// The pause before the `attempt`th re-application: growing to about 16 ms, spread so that
/// the writers that lost one race do not all meet again in the next.
fn patch_backoff(attempt: u32) -> std::time::Duration {
    let ceiling_us = 250u64 << attempt.min(6);
    let spread = u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos(),
    ) % ceiling_us;
    std::time::Duration::from_micros(ceiling_us / 2 + spread / 2)
}

/// A parsed `If-Match` / `If-None-Match` header (or Bulk `version`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ETagCondition {
    /// `*`
    Any,
    /// The versions listed (weak or strong tags of ours).
    Versions(Vec<u64>),
    /// Tags that are not ours: nothing can match.
    Unmatchable,
}

impl ETagCondition {
    pub fn parse(header: &str) -> Self {
        let header = header.trim();
        if header == "*" {
            return Self::Any;
        }
        let mut versions = Vec::new();
        for tag in header.split(',') {
            let t = tag.trim();
            let t = t
                .strip_prefix("W/")
                .or_else(|| t.strip_prefix("w/"))
                .unwrap_or(t);
            let t = t.trim_matches('"');
            if let Ok(v) = t.parse::<u64>() {
                versions.push(v);
            }
        }
        if versions.is_empty() {
            Self::Unmatchable
        } else {
            Self::Versions(versions)
        }
    }

    pub fn matches(&self, version: u64) -> bool {
        match self {
            Self::Any => true,
            Self::Versions(v) => v.contains(&version),
            Self::Unmatchable => false,
        }
    }
}

/// The weak ETag of a version.
pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

pub(crate) struct Ctx<'a, P: Provider> {
    pub provider: &'a P,
    pub who: &'a P::Principal,
    pub schemas: &'a Schemas,
    pub base_url: &'a str,
}

fn precondition_failed() -> ScimError {
    ScimError::precondition_failed("the resource has changed (ETag does not match)")
}

impl<P: Provider> Ctx<'_, P> {
    /// The endpoint as the provider spells it (no slash), or 404.
    pub fn endpoint(&self, endpoint: &str) -> Result<String, ScimError> {
        self.schemas
            .resource_type(endpoint)
            .filter(|rt| {
                rt.endpoint_name()
                    .eq_ignore_ascii_case(endpoint.trim_start_matches('/'))
            })
            .map(|rt| rt.endpoint_name().to_string())
            .ok_or_else(|| ScimError::not_found(format!("no endpoint '/{endpoint}'")))
    }

    pub fn get(&self, endpoint: &str, id: &str) -> Result<Resource, ScimError> {
        let ep = self.endpoint(endpoint)?;
        self.provider.get(self.who, &ep, id)
    }

    pub fn create(&self, endpoint: &str, body: Value) -> Result<Resource, ScimError> {
        let ep = self.endpoint(endpoint)?;
        let body = normalize_input(body, self.schemas, &ep)?;
        self.provider.create(self.who, &ep, body)
    }

    /// The `if_version` to pass down for a condition: a single tag goes straight to the
    /// provider's compare-and-swap; several tags need the current version first.
    fn if_version(
        &self,
        ep: &str,
        id: &str,
        cond: Option<&ETagCondition>,
    ) -> Result<Option<u64>, ScimError> {
        match cond {
            None | Some(ETagCondition::Any) => Ok(None),
            Some(ETagCondition::Unmatchable) => Err(precondition_failed()),
            Some(ETagCondition::Versions(v)) if v.len() == 1 => Ok(v.first().copied()),
            Some(c) => {
                let cur = self.provider.get(self.who, ep, id)?;
                if c.matches(cur.version) {
                    Ok(Some(cur.version))
                } else {
                    Err(precondition_failed())
                }
            }
        }
    }

    pub fn replace(
        &self,
        endpoint: &str,
        id: &str,
        body: Value,
        cond: Option<&ETagCondition>,
    ) -> Result<Resource, ScimError> {
        let ep = self.endpoint(endpoint)?;
        let body = normalize_input(body, self.schemas, &ep)?;
        let if_version = self.if_version(&ep, id, cond)?;
        if self.schemas.has_immutables(&ep) {
            let current = self.provider.get(self.who, &ep, id)?;
            crate::input::check_immutables(&body, &current.json, self.schemas, &ep)?;
        }
        self.provider.replace(self.who, &ep, id, body, if_version)
    }

    /// `unused`: top-level attributes the answer will not show (see [`ListQuery::unused`]).
    pub fn patch(
        &self,
        endpoint: &str,
        id: &str,
        body: &Value,
        cond: Option<&ETagCondition>,
        unused: &[String],
    ) -> Result<Resource, ScimError> {
        let ep = self.endpoint(endpoint)?;
        let request = PatchRequest::parse(body)?;
        if let Some(done) = self.patch_members(&ep, id, &request, cond, unused) {
            return done;
        }
        let started = std::time::Instant::now();
        let mut attempt = 0u32;
        loop {
            let current = self.provider.get(self.who, &ep, id)?;
            if let Some(c) = cond
                && !c.matches(current.version)
            {
                return Err(precondition_failed());
            }
            let mut patched = request.apply(&current.json, self.schemas, &ep)?;
            if patched == current.json {
                return Ok(current);
            }
            explicit_removals(&current.json, &mut patched);
            let body = normalize_patched(patched, &current.json, self.schemas, &ep)?;
            match self
                .provider
                .replace(self.who, &ep, id, body, Some(current.version))
            {
                Err(e) if e.status == 412 && cond.is_none() => {
                    if started.elapsed() >= PATCH_RETRY_FOR || attempt >= PATCH_ATTEMPTS {
                        return Err(ScimError::new(
                            503,
                            None,
                            "the record is changed by other clients faster than this PATCH \
                             could be applied: try again",
                        ));
                    }
                    attempt += 1;
                    std::thread::sleep(patch_backoff(attempt));
                }
                other => return other,
            }
        }
    }

    /// A PATCH that only adds and removes a Group's members, given to the provider to apply
    /// to those members alone (see [`Provider::change_members`]); `None` when it is not such
    /// a PATCH or the provider does not take it. A condition that needs the group read first
    /// (several tags, or none of ours) leaves it to the whole-resource PATCH, which reads it.
    fn patch_members(
        &self,
        ep: &str,
        id: &str,
        request: &PatchRequest,
        cond: Option<&ETagCondition>,
        unused: &[String],
    ) -> Option<Result<Resource, ScimError>> {
        let if_version = match cond {
            None | Some(ETagCondition::Any) => None,
            Some(ETagCondition::Versions(v)) if v.len() == 1 => v.first().copied(),
            Some(_) => return None,
        };
        if self.schemas.resource_type(ep)?.schema != GROUP_SCHEMA {
            return None;
        }
        let members = self
            .schemas
            .schema(GROUP_SCHEMA)?
            .attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case("members"))?;
        let changes = request.member_changes(members)?;
        let done = self
            .provider
            .change_members(self.who, ep, id, &changes, if_version, unused)?;
        // Said as the whole-resource PATCH says it.
        Some(done.map_err(|e| {
            if e.status == 412 {
                precondition_failed()
            } else {
                e
            }
        }))
    }

    pub fn delete(
        &self,
        endpoint: &str,
        id: &str,
        cond: Option<&ETagCondition>,
    ) -> Result<(), ScimError> {
        let ep = self.endpoint(endpoint)?;
        let if_version = self.if_version(&ep, id, cond)?;
        self.provider.delete(self.who, &ep, id, if_version)
    }

    /// Lists over one or more endpoints: the provider's candidates, checked exactly against
    /// the filter, sorted, paged. Returns the total and the page as (endpoint, resource).
    pub fn list(
        &self,
        endpoints: &[String],
        params: &ListParams,
    ) -> Result<(usize, Vec<(String, Resource)>), ScimError> {
        if let ([endpoint], None, None) = (endpoints, &params.filter, &params.sort_by) {
            let ep = self.endpoint(endpoint)?;
            let query = ListQuery {
                filter: None,
                unused: unused_attributes(params),
            };
            if let Some((total, resources)) =
                self.provider
                    .list_page(self.who, &ep, &query, params.start_index, params.count)?
            {
                let page = resources.into_iter().map(|r| (ep.clone(), r)).collect();
                return Ok((total, page));
            }
        }
        let searched = endpoints
            .iter()
            .map(|e| self.endpoint(e))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(f) = &params.filter {
            let types: Vec<&str> = searched.iter().map(String::as_str).collect();
            f.check_across(self.schemas, &types)?;
        }
        let mut all: Vec<(String, Resource)> = Vec::new();
        for ep in searched {
            let query = ListQuery {
                filter: params.filter.clone(),
                unused: unused_attributes(params),
            };
            let candidates = self.provider.list(self.who, &ep, &query)?;
            all.extend(
                candidates
                    .into_iter()
                    .filter(|r| {
                        params
                            .filter
                            .as_ref()
                            .is_none_or(|f| f.matches(&r.json, self.schemas, &ep))
                    })
                    .map(|r| (ep.clone(), r)),
            );
        }
        if let Some(by) = &params.sort_by {
            all = sort_resources(
                all,
                |(_, r)| &r.json,
                by,
                params.sort_order,
                self.schemas,
                |(ep, _)| ep.clone(),
            );
        }
        let total = all.len();
        Ok((total, page(all, params.start_index, params.count)))
    }

    /// The resource as sent to the client: `id`, `meta.version` (= the ETag),
    /// `meta.location` and `meta.resourceType` filled in, then projected.
    pub fn render(&self, endpoint: &str, r: &Resource, projection: &Projection) -> Value {
        let mut json = r.json.clone();
        if let Value::Object(obj) = &mut json {
            if get_ci(obj, "id").is_none() {
                obj.insert("id".into(), Value::String(r.id.clone()));
            }
            let rt = self.schemas.resource_type(endpoint);
            let meta = obj
                .entry("meta")
                .or_insert_with(|| Value::Object(Map::new()));
            if !meta.is_object() {
                *meta = Value::Object(Map::new());
            }
            if let Value::Object(m) = meta {
                m.insert("version".into(), Value::String(etag(r.version)));
                if get_ci(m, "location").is_none() {
                    m.insert(
                        "location".into(),
                        Value::String(self.location(endpoint, &r.id)),
                    );
                }
                if get_ci(m, "resourceType").is_none()
                    && let Some(rt) = rt
                {
                    m.insert("resourceType".into(), Value::String(rt.name.clone()));
                }
            }
            self.fill_refs(obj);
        }
        projection.apply(&json, self.schemas, endpoint)
    }

    /// Fills in missing `$ref`s of the reference attributes the core schemas define
    /// (`members`, `groups`, enterprise `manager`), which clients follow as absolute URLs.
    fn fill_refs(&self, obj: &mut Map<String, Value>) {
        let endpoint_of = |schema: &str, fallback: &str| {
            self.schemas
                .resource_type_for_schema(schema)
                .map(|rt| rt.endpoint_name().to_string())
                .unwrap_or_else(|| fallback.to_string())
        };
        let users = endpoint_of(USER_SCHEMA, "Users");
        let groups = endpoint_of(GROUP_SCHEMA, "Groups");
        let fill = |el: &mut Value, endpoint: &str| {
            if let Value::Object(o) = el
                && o.get("$ref").is_none_or(Value::is_null)
                && let Some(id) = o.get("value").and_then(Value::as_str)
            {
                let r = self.location(endpoint, id);
                o.insert("$ref".into(), Value::String(r));
            }
        };
        if let Some(Value::Array(members)) = obj.get_mut("members") {
            for m in members {
                let is_group = m
                    .get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case("Group"));
                fill(m, if is_group { &groups } else { &users });
            }
        }
        if let Some(Value::Array(gs)) = obj.get_mut("groups") {
            for g in gs {
                fill(g, &groups);
            }
        }
        if let Some(Value::Object(ent)) = obj.get_mut(ENTERPRISE_USER_SCHEMA)
            && let Some(manager) = ent.get_mut("manager")
        {
            fill(manager, &users);
        }
    }

    pub fn location(&self, endpoint: &str, id: &str) -> String {
        format!(
            "{}/{}/{}",
            self.base_url.trim_end_matches('/'),
            endpoint.trim_start_matches('/'),
            id
        )
    }
}

impl<P: Provider> BulkExecutor for Ctx<'_, P> {
    fn execute(
        &mut self,
        method: BulkMethod,
        endpoint: &str,
        id: Option<&str>,
        version: Option<&str>,
        data: Option<Value>,
    ) -> Result<BulkOutcome, ScimError> {
        let cond = version.map(ETagCondition::parse);
        let ep = self.endpoint(endpoint)?;
        let id = id.unwrap_or_default();
        let done = |r: Resource, status: u16| BulkOutcome {
            status,
            location: Some(self.location(&ep, &r.id)),
            version: Some(etag(r.version)),
            id: Some(r.id),
        };
        match method {
            BulkMethod::Post => Ok(done(self.create(&ep, data.unwrap_or(Value::Null))?, 201)),
            BulkMethod::Put => Ok(done(
                self.replace(&ep, id, data.unwrap_or(Value::Null), cond.as_ref())?,
                200,
            )),
            // A Bulk answer carries no resource.
            BulkMethod::Patch => Ok(done(
                self.patch(
                    &ep,
                    id,
                    &data.unwrap_or(Value::Null),
                    cond.as_ref(),
                    &costly_unused(None, |_| false),
                )?,
                200,
            )),
            BulkMethod::Delete => {
                self.delete(&ep, id, cond.as_ref())?;
                Ok(BulkOutcome {
                    status: 204,
                    location: Some(self.location(&ep, id)),
                    version: None,
                    id: Some(id.to_string()),
                })
            }
        }
    }
}

/// Costly attributes a list request neither returns nor reads. Only `members` is worth it
/// today (a group's member list can be long); the rule is general.
fn unused_attributes(params: &ListParams) -> Vec<String> {
    let reads = |name: &str| {
        params.filter.as_ref().is_some_and(|f| f.mentions(name))
            || params
                .sort_by
                .as_ref()
                .is_some_and(|a| a.urn.is_none() && a.name.eq_ignore_ascii_case(name))
    };
    costly_unused(Some(&params.projection), reads)
}

/// The costly attributes that `projection` hides (all of them for an answer that shows no
/// resource, `None`) and that nothing else `reads`.
pub(crate) fn costly_unused(
    projection: Option<&Projection>,
    reads: impl Fn(&str) -> bool,
) -> Vec<String> {
    /// (schema, attribute)
    const COSTLY: [(&str, &str); 1] = [(GROUP_SCHEMA, "members")];
    COSTLY
        .iter()
        .filter(|(schema, name)| {
            let is = |a: &crate::path::AttrPath| {
                a.urn
                    .as_deref()
                    .is_none_or(|u| u.eq_ignore_ascii_case(schema))
                    && a.name.eq_ignore_ascii_case(name)
            };
            let hidden = projection.is_none_or(|p| {
                p.excluded.iter().any(is)
                    || (!p.attributes.is_empty() && !p.attributes.iter().any(is))
            });
            hidden && !reads(name)
        })
        .map(|(_, name)| name.to_string())
        .collect()
}

/// A PATCH that removes every value of a multi-valued attribute (the last member of a group)
/// leaves it unassigned, which a provider reading the result as a PUT body could take as "not
/// given, keep". The emptied attribute is handed over as `[]` so the removal is explicit.
fn explicit_removals(current: &Value, patched: &mut Value) {
    let (Some(before), Some(after)) = (current.as_object(), patched.as_object_mut()) else {
        return;
    };
    for (name, value) in before {
        if value.as_array().is_some_and(|a| !a.is_empty()) && !after.contains_key(name) {
            after.insert(name.clone(), Value::Array(Vec::new()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_conditions() {
        assert_eq!(ETagCondition::parse("*"), ETagCondition::Any);
        assert_eq!(
            ETagCondition::parse("W/\"3\""),
            ETagCondition::Versions(vec![3])
        );
        assert_eq!(
            ETagCondition::parse("\"3\", W/\"4\""),
            ETagCondition::Versions(vec![3, 4])
        );
        assert_eq!(ETagCondition::parse("\"abc\""), ETagCondition::Unmatchable);
        assert!(ETagCondition::parse("W/\"4\"").matches(4));
        assert_eq!(etag(7), "W/\"7\"");
    }
}
