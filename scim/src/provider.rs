//! The contract between the SCIM router and the directory behind it.
//!
//! The router handles HTTP, content types, ETags, filters, sorting, paging, attribute
//! projection, PATCH semantics, Bulk and discovery. The provider stores and authorises: every
//! call carries the principal it got from [`Provider::authenticate`], and the provider decides
//! what that principal may see or change. Calls are synchronous (the core is blocking); the
//! router runs them on tokio's blocking pool.

use serde_json::Value;

use crate::error::ScimError;
use crate::filter::Filter;
use crate::schema::{ResourceTypeDef, SchemaDef};

/// A resource type the provider serves: `Users`, `Groups` or a custom one (`Accounts`).
/// The string is the endpoint name without the leading slash.
pub type Endpoint = str;

/// A resource as the provider returns it: the full SCIM JSON (with `schemas`, `id`, `meta`
/// including `meta.version`), and its version for ETags.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub id: String,
    pub version: u64,
    pub json: Value,
}

/// Who is on the other end of the request, for audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    pub peer: Option<std::net::SocketAddr>,
}

/// A list request as the provider receives it. The provider returns candidates (it may use
/// `filter` to plan a lookup on its indexes, or ignore it and return everything the principal
/// may see); the router evaluates the filter exactly, sorts, pages and projects.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    /// Top-level attributes the response will not show and neither the filter nor the sort
    /// reads (`excludedAttributes=members`, or `attributes=` without them): a provider may
    /// leave out what is costly to build.
    pub unused: Vec<String>,
}

impl ListQuery {
    /// Whether the provider must fill in the top-level attribute `name`.
    pub fn needs(&self, name: &str) -> bool {
        !self.unused.iter().any(|u| u.eq_ignore_ascii_case(name))
    }
}

/// A PATCH of a Group that only adds and removes members (as Entra ID and Okta push
/// membership).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemberChanges {
    /// The members to add, checked against the schema, as `{"value", "type"}`.
    pub add: Vec<Value>,
    /// The values to remove, each as the SCIM comparison of `members.value` reads it (case
    /// folded unless the schema makes it case-exact). A member is removed when its value reads
    /// the same: for a provider whose values read as they are written (lower-case ids), when
    /// its value equals one of these.
    pub remove: Vec<String>,
}

pub trait Provider: Send + Sync + 'static {
    type Principal: Clone + Send + Sync + 'static;

    /// Checks a bearer token. Failure → 401 with a `WWW-Authenticate: Bearer` header.
    ///
    /// Runs on the async worker that serves the request, once per request: it must be point
    /// reads only (a digest and a lookup), never a password hash or a scan.
    fn authenticate(&self, bearer: &str, client: &ClientInfo)
    -> Result<Self::Principal, ScimError>;

    /// The schemas served beyond the built-in core User, Group and Enterprise User schemas
    /// (extensions and custom resource schemas), for discovery, validation and filtering.
    fn schemas(&self) -> Vec<SchemaDef>;

    /// The resource types served, in discovery order.
    fn resource_types(&self) -> Vec<ResourceTypeDef>;

    /// The id of the User resource of the principal, for `/Me`; `None` if it has none (404).
    fn me(&self, who: &Self::Principal) -> Option<String>;

    /// Whether a GET of one resource of `endpoint` is a point read (an index lookup and a
    /// record, in microseconds). The router then runs it on the async worker instead of the
    /// blocking pool, whose two thread hand-offs cost more than such a read. Anything that may
    /// scan (a group's member list) must answer false, the default.
    fn gets_are_point_reads(&self, endpoint: &str) -> bool {
        let _ = endpoint;
        false
    }

    /// Whether a list of `endpoint` under `filter` is a point read: the filter requires an
    /// equality on a unique or near-unique index (`userName eq`). See
    /// [`Provider::gets_are_point_reads`].
    fn is_point_query(&self, endpoint: &str, filter: &crate::filter::Filter) -> bool {
        let _ = (endpoint, filter);
        false
    }

    /// One resource. Not found and not visible both → 404 (`ScimError::not_found`).
    fn get(
        &self,
        who: &Self::Principal,
        endpoint: &Endpoint,
        id: &str,
    ) -> Result<Resource, ScimError>;

    /// Candidates for a list or search, in a stable order (the router keeps that order when
    /// no `sortBy` is given, so paging is stable).
    fn list(
        &self,
        who: &Self::Principal,
        endpoint: &Endpoint,
        query: &ListQuery,
    ) -> Result<Vec<Resource>, ScimError>;

    /// One page of an unfiltered, unsorted list (IdPs import a directory this way, 100 at a
    /// time): the total and the resources at 1-based `start_index`, at most `count`, in the
    /// order [`Provider::list`] would give. A provider that can count without building every
    /// resource answers `Some`; the default `None` makes the router use `list`.
    fn list_page(
        &self,
        _who: &Self::Principal,
        _endpoint: &Endpoint,
        _query: &ListQuery,
        _start_index: usize,
        _count: usize,
    ) -> Result<Option<(usize, Vec<Resource>)>, ScimError> {
        Ok(None)
    }

    /// Creates a resource from a request body already checked by the router against the
    /// schema (required attributes, types, readOnly attributes dropped, string booleans and
    /// case normalised).
    fn create(
        &self,
        who: &Self::Principal,
        endpoint: &Endpoint,
        body: Value,
    ) -> Result<Resource, ScimError>;

    /// Replaces a resource (PUT, and the result of a PATCH). `if_version`: fail with 412 when
    /// the stored version differs (compare-and-swap).
    fn replace(
        &self,
        who: &Self::Principal,
        endpoint: &Endpoint,
        id: &str,
        body: Value,
        if_version: Option<u64>,
    ) -> Result<Resource, ScimError>;

    /// Applies `changes` to the members of Group `id` without the rest of its member list, so
    /// that adding one member to a group of 100k costs one member's work, not a read and a
    /// rewrite of all of them. The outcome must be the one applying the PATCH to the whole
    /// resource would have: adding a member is a no-op, and removing a value that is not in the
    /// member list the principal is shown removes nothing. Answers the group as
    /// [`Provider::get`] would, less the top-level attributes in `unused` (the response will
    /// not show them). `if_version` as for [`Provider::replace`].
    ///
    /// `None` (the default): not supported, and the router applies the PATCH to the whole
    /// resource.
    fn change_members(
        &self,
        _who: &Self::Principal,
        _endpoint: &Endpoint,
        _id: &str,
        _changes: &MemberChanges,
        _if_version: Option<u64>,
        _unused: &[String],
    ) -> Option<Result<Resource, ScimError>> {
        None
    }

    /// DELETE.
    fn delete(
        &self,
        who: &Self::Principal,
        endpoint: &Endpoint,
        id: &str,
        if_version: Option<u64>,
    ) -> Result<(), ScimError>;
}
