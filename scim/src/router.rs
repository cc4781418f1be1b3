//! The HTTP face: an axum router to nest at `/scim/v2`.
//!
//! Cross-cutting rules live here: bearer authentication on every endpoint, SCIM media types in
//! and out, body limits answered as SCIM errors, ETag headers and conditional requests, and
//! every provider call on tokio's blocking pool.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

use crate::bulk::BulkRequest;
use crate::discovery::{self, Capabilities};
use crate::error::{SCIM_CONTENT_TYPE, ScimError};
use crate::list::{ListParams, Projection, list_response};
use crate::operations::{Ctx, ETagCondition, costly_unused, etag};
use crate::provider::{ClientInfo, Provider, Resource};
use crate::schema::{Schemas, USER_SCHEMA};

/// Router settings; the limits are also what discovery advertises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterConfig {
    /// Absolute URL of the SCIM root (`https://host/scim/v2`), for `meta.location` and `$ref`.
    pub base_url: String,
    pub max_body_bytes: usize,
    /// The page cap: `count` above it is lowered to it.
    pub max_results: usize,
    pub bulk_max_operations: usize,
    pub bulk_max_payload: usize,
}

impl RouterConfig {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            ..Self::default()
        }
    }
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            base_url: "http://localhost:8080/scim/v2".into(),
            max_body_bytes: 1024 * 1024,
            max_results: 1000,
            bulk_max_operations: 1000,
            bulk_max_payload: 1024 * 1024,
        }
    }
}

struct AppState<P: Provider> {
    provider: Arc<P>,
    config: RouterConfig,
    schemas: Schemas,
}

type St<P> = State<Arc<AppState<P>>>;

/// `Path` whose rejection is a SCIM error (axum's is plain text).
struct ScimPath<T>(T);

impl<S, T> axum::extract::FromRequestParts<S> for ScimPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ScimError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(t)| ScimPath(t))
            .map_err(|e| ScimError::invalid_path(format!("invalid URL path: {e}")))
    }
}

/// The authenticated principal, put in request extensions by the auth middleware.
#[derive(Clone)]
struct Who<T>(T);

/// Builds the SCIM router. Schemas and resource types are read from the provider once, here.
pub fn router<P: Provider>(provider: Arc<P>, config: RouterConfig) -> Router {
    let schemas = Schemas::new(provider.schemas(), provider.resource_types());
    let names = Arc::new(EndpointNames::of(&schemas));
    let state = Arc::new(AppState {
        provider,
        config,
        schemas,
    });
    let routes = Router::new()
        .route("/ServiceProviderConfig", get(service_provider_config::<P>))
        .route("/ResourceTypes", get(resource_types::<P>))
        .route("/ResourceTypes/{id}", get(resource_type::<P>))
        .route("/Schemas", get(schemas_list::<P>))
        .route("/Schemas/{id}", get(schema_one::<P>))
        .route("/.search", post(root_search::<P>))
        .route("/Bulk", post(bulk::<P>))
        .route(
            "/Me",
            get(me_get::<P>)
                .put(me_put::<P>)
                .patch(me_patch::<P>)
                .delete(me_delete::<P>),
        )
        .route("/{endpoint}", get(list::<P>).post(create::<P>))
        .route("/{endpoint}/.search", post(search::<P>))
        .route(
            "/{endpoint}/{id}",
            get(get_one::<P>)
                .put(put_one::<P>)
                .patch(patch_one::<P>)
                .delete(delete_one::<P>),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), auth::<P>))
        .with_state(state);
    // Before routing, which matches paths as written: endpoint names in any case.
    let canonical = tower::util::MapRequest::new(routes, move |req| names.canonical(req));
    Router::new().fallback_service(canonical)
}

/// The endpoint names, to match in any case: `/users`, `/schemas` and `/serviceproviderconfig`
/// are `/Users`, `/Schemas` and `/ServiceProviderConfig`. RFC 7644 does not say whether paths
/// are case-sensitive; it makes attribute names and schema URIs case-insensitive, resource
/// types have always been matched in any case here (`/users` worked), and an endpoint that
/// answers one spelling but 404 to another of the same family would be the odd one out. The
/// canonical spelling is what discovery advertises and what `meta.location` uses.
struct EndpointNames(Vec<String>);

impl EndpointNames {
    /// The fixed endpoints of RFC 7644 §3.2 and the provider's resource types.
    fn of(schemas: &Schemas) -> Self {
        let fixed = [
            "ServiceProviderConfig",
            "ResourceTypes",
            "Schemas",
            "Bulk",
            "Me",
        ];
        let types = schemas.resource_types().iter().map(|rt| rt.endpoint_name());
        Self(fixed.into_iter().chain(types).map(str::to_string).collect())
    }

    /// `req` with the endpoint segment of its path (and a `.search` right after it, or at the
    /// root) in canonical spelling.
    fn canonical(&self, mut req: Request) -> Request {
        let uri = req.uri();
        let Some(path) = self.canonical_path(uri.path()) else {
            return req;
        };
        let target = match uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        if let Ok(pq) = target.parse::<axum::http::uri::PathAndQuery>() {
            let mut parts = uri.clone().into_parts();
            parts.path_and_query = Some(pq);
            if let Ok(rewritten) = axum::http::Uri::from_parts(parts) {
                *req.uri_mut() = rewritten;
            }
        }
        req
    }

    /// The path in canonical spelling, or `None` when it already is (the common case, which
    /// allocates nothing).
    fn canonical_path(&self, path: &str) -> Option<String> {
        let rest = path.strip_prefix('/')?;
        let (first, tail) = match rest.split_once('/') {
            Some((first, tail)) => (first, Some(tail)),
            None => (rest, None),
        };
        let first_fixed = if first.eq_ignore_ascii_case(SEARCH) {
            SEARCH
        } else {
            self.0
                .iter()
                .find(|n| n.eq_ignore_ascii_case(first))
                .map_or(first, String::as_str)
        };
        let tail_fixed = tail.map(|t| {
            if t.eq_ignore_ascii_case(SEARCH) {
                SEARCH
            } else {
                t
            }
        });
        if first_fixed == first && tail_fixed == tail {
            return None;
        }
        Some(match tail_fixed {
            Some(tail) => format!("/{first_fixed}/{tail}"),
            None => format!("/{first_fixed}"),
        })
    }
}

const SEARCH: &str = ".search";

async fn not_found() -> Response {
    ScimError::not_found("no such SCIM endpoint").into_response()
}

async fn method_not_allowed() -> Response {
    ScimError::method_not_allowed("method not allowed on this SCIM endpoint").into_response()
}

async fn auth<P: Provider>(State(st): St<P>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| {
            let (scheme, rest) = h.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_string())
        })
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return ScimError::unauthorized("a bearer token is required").into_response();
    };
    let client = ClientInfo {
        peer: req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0),
    };
    // Point reads only (see `Provider::authenticate`): no hand-off to the blocking pool.
    match st.provider.authenticate(&token, &client) {
        Ok(p) => {
            req.extensions_mut().insert(Who(p));
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

async fn blocking<T, F>(f: F) -> Result<T, ScimError>
where
    F: FnOnce() -> Result<T, ScimError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ScimError::internal(format!("request handler failed: {e}")))?
}

/// Runs `f` with a [`Ctx`] on the blocking pool.
async fn with_ctx<P, T, F>(st: &Arc<AppState<P>>, who: P::Principal, f: F) -> Result<T, ScimError>
where
    P: Provider,
    T: Send + 'static,
    F: FnOnce(&mut Ctx<'_, P>) -> Result<T, ScimError> + Send + 'static,
{
    let st = st.clone();
    blocking(move || in_ctx(&st, &who, f)).await
}

/// Runs `f` with a [`Ctx`] right here: for point reads only (see
/// [`Provider::gets_are_point_reads`]), on the blocking pool otherwise.
async fn point_read_or_blocking<P, T, F>(
    st: &Arc<AppState<P>>,
    who: P::Principal,
    point_read: bool,
    f: F,
) -> Result<T, ScimError>
where
    P: Provider,
    T: Send + 'static,
    F: FnOnce(&mut Ctx<'_, P>) -> Result<T, ScimError> + Send + 'static,
{
    if point_read {
        in_ctx(st, &who, f)
    } else {
        with_ctx(st, who, f).await
    }
}

fn in_ctx<P, T, F>(st: &AppState<P>, who: &P::Principal, f: F) -> Result<T, ScimError>
where
    P: Provider,
    F: FnOnce(&mut Ctx<'_, P>) -> Result<T, ScimError>,
{
    let mut ctx = Ctx {
        provider: st.provider.as_ref(),
        who,
        schemas: &st.schemas,
        base_url: &st.config.base_url,
    };
    f(&mut ctx)
}

fn principal<P: Provider>(req_ext: &axum::http::Extensions) -> Result<P::Principal, ScimError> {
    req_ext
        .get::<Who<P::Principal>>()
        .map(|w| w.0.clone())
        .ok_or_else(|| ScimError::unauthorized("not authenticated"))
}

/// A JSON response with the SCIM media type.
fn scim_json(status: StatusCode, body: &Value) -> Response {
    // Straight into bytes: `Value`'s `Display` goes through the formatting machinery.
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut r = (status, bytes).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(SCIM_CONTENT_TYPE),
    );
    r
}

fn with_etag(mut r: Response, version: u64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&etag(version)) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

fn respond(result: Result<Response, ScimError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

/// How much of a refused body is read and thrown away, and for how long, so that the 413
/// reaches the client: a connection closed with unread data is reset by TCP, and a client still
/// sending its body (the identity providers' HTTP clients and curl send it whole before they
/// read) would see "connection reset" instead of the answer. nginx's lingering close does the
/// same.
const DRAIN_BYTES: usize = 32 * 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// Why a body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyRefused {
    #[error("the request body exceeds {0} bytes")]
    TooLarge(usize),
    #[error("could not read the request body: {0}")]
    Unreadable(String),
}

/// The body, at most `limit` bytes, whether its length is declared or not (chunked). A longer
/// one is refused after draining what the client sends, so that the client reads the refusal;
/// one announced with `Expect: 100-continue` is refused before the client sends it.
pub async fn read_limited(
    headers: &HeaderMap,
    mut body: Body,
    limit: usize,
) -> Result<axum::body::Bytes, BodyRefused> {
    use http_body_util::BodyExt;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        // A client that sent `Expect: 100-continue` has sent nothing yet and waits for this
        // answer; reading would ask it for the body.
        if !expects_continue(headers) {
            drain(body).await;
        }
        return Err(BodyRefused::TooLarge(limit));
    }
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyRefused::Unreadable(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if bytes.len() + data.len() > limit {
            drain(body).await;
            return Err(BodyRefused::TooLarge(limit));
        }
        bytes.extend_from_slice(&data);
    }
    Ok(bytes.into())
}

/// Whether the client sent `Expect: 100-continue` and waits for the answer before the body.
fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
}

/// Reads and discards the rest of a refused body, up to [`DRAIN_BYTES`] and [`DRAIN_TIME`], so
/// that the refusal reaches a client still sending instead of a reset connection.
async fn drain(mut body: Body) {
    use http_body_util::BodyExt;
    let discard = async {
        let mut read = 0;
        while let Some(Ok(frame)) = body.frame().await {
            read += frame.data_ref().map_or(0, |d| d.len());
            if read > DRAIN_BYTES {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, discard).await;
}

/// Reads a JSON body: SCIM or plain JSON media type (or none), within `limit`.
async fn read_json(headers: &HeaderMap, body: Body, limit: usize) -> Result<Value, ScimError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let essence = ct
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if essence != SCIM_CONTENT_TYPE && essence != "application/json" {
            return Err(ScimError::unsupported_media_type(format!(
                "content type '{essence}' is not supported; use {SCIM_CONTENT_TYPE} or application/json"
            )));
        }
    }
    let bytes = read_limited(headers, body, limit)
        .await
        .map_err(|e| match e {
            BodyRefused::TooLarge(_) => ScimError::too_large(e.to_string()),
            BodyRefused::Unreadable(_) => ScimError::invalid_syntax(e.to_string()),
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ScimError::invalid_syntax("the request body is empty"));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}")))
}

/// A condition header's value; one that is not visible ASCII holds no tag of ours, so it
/// matches nothing (a lost-update check must not vanish for a stray byte).
fn header_cond(headers: &HeaderMap, name: header::HeaderName) -> Option<ETagCondition> {
    headers.get(name).map(|v| {
        v.to_str()
            .map_or(ETagCondition::Unmatchable, ETagCondition::parse)
    })
}

// ---------------------------------------------------------------------------------------------
// Discovery

fn caps(c: &RouterConfig, schemas: &Schemas) -> Capabilities {
    Capabilities {
        max_results: c.max_results,
        bulk_max_operations: c.bulk_max_operations,
        bulk_max_payload: c.bulk_max_payload,
        change_password: schemas
            .schema(crate::schema::USER_SCHEMA)
            .and_then(|user| user.attribute("password"))
            .is_some_and(|password| password.mutability != crate::schema::Mutability::ReadOnly),
    }
}

async fn service_provider_config<P: Provider>(State(st): St<P>) -> Response {
    scim_json(
        StatusCode::OK,
        &discovery::service_provider_config(caps(&st.config, &st.schemas), &st.config.base_url),
    )
}

async fn resource_types<P: Provider>(State(st): St<P>) -> Response {
    scim_json(
        StatusCode::OK,
        &discovery::resource_types(&st.schemas, &st.config.base_url),
    )
}

async fn resource_type<P: Provider>(State(st): St<P>, ScimPath(id): ScimPath<String>) -> Response {
    respond(
        discovery::resource_type(&st.schemas, &st.config.base_url, &id)
            .map(|v| scim_json(StatusCode::OK, &v)),
    )
}

async fn schemas_list<P: Provider>(State(st): St<P>) -> Response {
    scim_json(
        StatusCode::OK,
        &discovery::schemas(&st.schemas, &st.config.base_url),
    )
}

async fn schema_one<P: Provider>(State(st): St<P>, ScimPath(id): ScimPath<String>) -> Response {
    respond(
        discovery::schema(&st.schemas, &st.config.base_url, &id)
            .map(|v| scim_json(StatusCode::OK, &v)),
    )
}

// ---------------------------------------------------------------------------------------------
// Lists and searches

async fn run_list<P: Provider>(
    st: &Arc<AppState<P>>,
    who: P::Principal,
    endpoints: Vec<String>,
    params: ListParams,
) -> Result<Response, ScimError> {
    let point_read = match (endpoints.as_slice(), &params.filter) {
        ([endpoint], Some(filter)) => st.provider.is_point_query(endpoint, filter),
        _ => false,
    };
    let value = point_read_or_blocking(st, who, point_read, move |ctx| {
        let (total, items) = ctx.list(&endpoints, &params)?;
        let rendered = items
            .iter()
            .map(|(ep, r)| ctx.render(ep, r, &params.projection))
            .collect();
        Ok(list_response(total, params.start_index, rendered))
    })
    .await?;
    Ok(scim_json(StatusCode::OK, &value))
}

async fn list<P: Provider>(
    State(st): St<P>,
    ScimPath(endpoint): ScimPath<String>,
    RawQuery(q): RawQuery,
    req: Request,
) -> Response {
    respond(
        async move {
            let who = principal::<P>(req.extensions())?;
            let params =
                ListParams::from_query(q.as_deref().unwrap_or_default(), st.config.max_results)?;
            run_list(&st, who, vec![endpoint], params).await
        }
        .await,
    )
}

async fn search<P: Provider>(
    State(st): St<P>,
    ScimPath(endpoint): ScimPath<String>,
    req: Request,
) -> Response {
    respond(
        async move {
            let who = principal::<P>(req.extensions())?;
            let (parts, body) = req.into_parts();
            let json = read_json(&parts.headers, body, st.config.max_body_bytes).await?;
            let params = ListParams::from_search(&json, st.config.max_results)?;
            run_list(&st, who, vec![endpoint], params).await
        }
        .await,
    )
}

async fn root_search<P: Provider>(State(st): St<P>, req: Request) -> Response {
    respond(
        async move {
            let who = principal::<P>(req.extensions())?;
            let (parts, body) = req.into_parts();
            let json = read_json(&parts.headers, body, st.config.max_body_bytes).await?;
            let params = ListParams::from_search(&json, st.config.max_results)?;
            let endpoints = st
                .schemas
                .resource_types()
                .iter()
                .map(|rt| rt.endpoint_name().to_string())
                .collect();
            run_list(&st, who, endpoints, params).await
        }
        .await,
    )
}

// ---------------------------------------------------------------------------------------------
// Single resources

fn single(
    ctx: &Ctx<'_, impl Provider>,
    endpoint: &str,
    r: &Resource,
    projection: &Projection,
) -> (Value, u64, String) {
    (
        ctx.render(endpoint, r, projection),
        r.version,
        ctx.location(endpoint, &r.id),
    )
}

fn resource_response(
    status: StatusCode,
    (body, version, location): (Value, u64, String),
) -> Response {
    let mut r = with_etag(scim_json(status, &body), version);
    if status == StatusCode::CREATED
        && let Ok(v) = HeaderValue::from_str(&location)
    {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

async fn create<P: Provider>(
    State(st): St<P>,
    ScimPath(endpoint): ScimPath<String>,
    RawQuery(q): RawQuery,
    req: Request,
) -> Response {
    respond(
        async move {
            let who = principal::<P>(req.extensions())?;
            let projection = Projection::from_query(q.as_deref().unwrap_or_default())?;
            let (parts, body) = req.into_parts();
            let json = read_json(&parts.headers, body, st.config.max_body_bytes).await?;
            let out = with_ctx(&st, who, move |ctx| {
                let ep = ctx.endpoint(&endpoint)?;
                let r = ctx.create(&ep, json)?;
                Ok(single(ctx, &ep, &r, &projection))
            })
            .await?;
            Ok(resource_response(StatusCode::CREATED, out))
        }
        .await,
    )
}

async fn do_get<P: Provider>(
    st: &Arc<AppState<P>>,
    who: P::Principal,
    endpoint: String,
    id: Option<String>,
    query: Option<String>,
    headers: &HeaderMap,
) -> Result<Response, ScimError> {
    let projection = Projection::from_query(query.as_deref().unwrap_or_default())?;
    let none_match = header_cond(headers, header::IF_NONE_MATCH);
    let if_match = header_cond(headers, header::IF_MATCH);
    let point_read = st.provider.gets_are_point_reads(&endpoint);
    let (out, unchanged) = point_read_or_blocking(st, who, point_read, move |ctx| {
        let id = resolve_me(ctx, id)?;
        let ep = ctx.endpoint(&endpoint)?;
        let r = ctx.get(&ep, &id)?;
        if if_match.as_ref().is_some_and(|c| !c.matches(r.version)) {
            return Err(changed());
        }
        let unchanged = none_match.is_some_and(|c| c.matches(r.version));
        Ok((single(ctx, &ep, &r, &projection), unchanged))
    })
    .await?;
    if unchanged {
        let r = StatusCode::NOT_MODIFIED.into_response();
        return Ok(with_etag(r, out.1));
    }
    Ok(resource_response(StatusCode::OK, out))
}

#[derive(Clone, Copy)]
enum Write {
    Put,
    Patch,
}

async fn do_write<P: Provider>(
    st: &Arc<AppState<P>>,
    who: P::Principal,
    endpoint: String,
    id: Option<String>,
    query: Option<String>,
    req: Request,
    kind: Write,
) -> Result<Response, ScimError> {
    let projection = Projection::from_query(query.as_deref().unwrap_or_default())?;
    let (parts, body) = req.into_parts();
    let cond = header_cond(&parts.headers, header::IF_MATCH);
    let none_match = header_cond(&parts.headers, header::IF_NONE_MATCH);
    let json = read_json(&parts.headers, body, st.config.max_body_bytes).await?;
    let out = with_ctx(st, who, move |ctx| {
        let id = resolve_me(ctx, id)?;
        let ep = ctx.endpoint(&endpoint)?;
        if let Some(c) = &none_match
            && c.matches(ctx.get(&ep, &id)?.version)
        {
            return Err(matched());
        }
        let r = match kind {
            Write::Put => ctx.replace(&ep, &id, json, cond.as_ref())?,
            Write::Patch => {
                let unused = costly_unused(Some(&projection), |_| false);
                ctx.patch(&ep, &id, &json, cond.as_ref(), &unused)?
            }
        };
        Ok(single(ctx, &ep, &r, &projection))
    })
    .await?;
    Ok(resource_response(StatusCode::OK, out))
}

async fn do_delete<P: Provider>(
    st: &Arc<AppState<P>>,
    who: P::Principal,
    endpoint: String,
    id: Option<String>,
    headers: &HeaderMap,
) -> Result<Response, ScimError> {
    let cond = header_cond(headers, header::IF_MATCH);
    let none_match = header_cond(headers, header::IF_NONE_MATCH);
    with_ctx(st, who, move |ctx| {
        let id = resolve_me(ctx, id)?;
        if let Some(c) = &none_match
            && c.matches(ctx.get(&ctx.endpoint(&endpoint)?, &id)?.version)
        {
            return Err(matched());
        }
        ctx.delete(&endpoint, &id, cond.as_ref())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `If-Match` that matches nothing current (RFC 7232 §3.1): the method is not performed.
fn changed() -> ScimError {
    ScimError::precondition_failed("the resource has changed (If-Match does not match)")
}

/// `If-None-Match` that matches on anything but a read (RFC 7232 §3.2: `*` matches any current
/// resource): the write is not performed.
fn matched() -> ScimError {
    ScimError::precondition_failed(
        "If-None-Match matches the current resource; the request is not performed",
    )
}

/// `None` stands for `/Me`: the principal's own User id.
fn resolve_me<P: Provider>(ctx: &Ctx<'_, P>, id: Option<String>) -> Result<String, ScimError> {
    match id {
        Some(id) => Ok(id),
        None => ctx.provider.me(ctx.who).ok_or_else(|| {
            ScimError::not_found("the authenticated principal has no User resource")
        }),
    }
}

fn user_endpoint<P: Provider>(st: &AppState<P>) -> String {
    st.schemas
        .resource_type_for_schema(USER_SCHEMA)
        .map(|rt| rt.endpoint_name().to_string())
        .unwrap_or_else(|| "Users".into())
}

async fn get_one<P: Provider>(
    State(st): St<P>,
    ScimPath((endpoint, id)): ScimPath<(String, String)>,
    RawQuery(q): RawQuery,
    req: Request,
) -> Response {
    respond(
        async move {
            let who = principal::<P>(req.extensions())?;
            do_get(&st, who, endpoint, Some(id), q, req.headers()).await
        }
        .await,
    )
}

async fn put_one<P: Provider>(
    State(st): St<P>,
    ScimPath((endpoint, id)): ScimPath<(String, String)>,
    RawQuery(q): RawQuery,
    req: Request,
) -> Response {
    respond(
        async move {
            let who = principal::<P>(req.extensions())?;
            do_write(&st, who, endpoint, Some(id), q, req, Write::Put).await
        }
        .await,
    )
}

async fn patch_one<P: Provider>(
    State(st): St<P>,
    ScimPath((endpoint, id)): ScimPath<(String, String)>,
    RawQuery(q): RawQuery,
    req: Request,
) -> Response {
    respond(
        async move {
            let who = principal::<P>(req.extensions())?;
            do_write(&st, who, endpoint, Some(id), q, req, Write::Patch).await
        }
        .await,
    )
}

async fn delete_one<P: Provider>(
    State(st): St<P>,
    ScimPath((endpoint, id)): ScimPath<(String, String)>,
    req: Request,
) -> Response {
    respond(
        async move {
            let who = principal::<P>(req.extensions())?;
            do_delete(&st, who, endpoint, Some(id), req.headers()).await
        }
        .await,
    )
}

async fn me_get<P: Provider>(State(st): St<P>, RawQuery(q): RawQuery, req: Request) -> Response {
    respond(
        async move {
            let who = principal::<P>(req.extensions())?;
            do_get(&st, who, user_endpoint(&st), None, q, req.headers()).await
        }
        .await,
    )
}

async fn me_put<P: Provider>(State(st): St<P>, RawQuery(q): RawQuery, req: Request) -> Response {
    respond(
        async move {
            let who = principal::<P>(req.extensions())?;
            do_write(&st, who, user_endpoint(&st), None, q, req, Write::Put).await
        }
        .await,
    )
}

async fn me_patch<P: Provider>(State(st): St<P>, RawQuery(q): RawQuery, req: Request) -> Response {
    respond(
        async move {
            let who = principal::<P>(req.extensions())?;
            do_write(&st, who, user_endpoint(&st), None, q, req, Write::Patch).await
        }
        .await,
    )
}

async fn me_delete<P: Provider>(State(st): St<P>, req: Request) -> Response {
    respond(
        async move {
            let who = principal::<P>(req.extensions())?;
            do_delete(&st, who, user_endpoint(&st), None, req.headers()).await
        }
        .await,
    )
}

// ---------------------------------------------------------------------------------------------
// Bulk

async fn bulk<P: Provider>(State(st): St<P>, req: Request) -> Response {
    respond(
        async move {
            let who = principal::<P>(req.extensions())?;
            let (parts, body) = req.into_parts();
            let json = read_json(&parts.headers, body, st.config.bulk_max_payload).await?;
            let request = BulkRequest::parse(&json, st.config.bulk_max_operations)?;
            let out = with_ctx(&st, who, move |ctx| Ok(request.process(ctx))).await?;
            Ok(scim_json(StatusCode::OK, &out))
        }
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_names_are_put_in_canonical_spelling() {
        let names = EndpointNames::of(&Schemas::builtin());
        for (path, canonical) in [
            ("/users", Some("/Users")),
            ("/USERS/abc", Some("/Users/abc")),
            ("/groups/.SEARCH", Some("/Groups/.search")),
            ("/.Search", Some("/.search")),
            ("/serviceproviderconfig", Some("/ServiceProviderConfig")),
            ("/schemas/urn:x:User", Some("/Schemas/urn:x:User")),
            ("/resourcetypes/user", Some("/ResourceTypes/user")),
            ("/me", Some("/Me")),
            ("/bulk", Some("/Bulk")),
            ("/Users", None),
            ("/Users/Abc/xyz", None),
            ("/nothing", None),
            ("/", None),
        ] {
            assert_eq!(names.canonical_path(path).as_deref(), canonical, "{path}");
        }
    }
}
