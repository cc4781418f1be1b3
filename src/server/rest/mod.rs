//! The REST API beside SCIM: sign-in and the user's own account under `/auth/`, and admin work
//! under `/admin/`. Handlers only translate HTTP to service calls; every decision is the core
//! service's. Errors are JSON `{"error", "detail"}` with the status a client acts on.

mod admin;
mod auth;
mod bearer;
mod link_page;

use axum::Json;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::service::{Service, ServiceError};

/// Largest request body the REST endpoints read; their bodies are a few fields.
const BODY_LIMIT: usize = 64 * 1024;

pub fn router(service: Service) -> Router {
    Router::new()
        .nest("/auth", auth::router())
        .nest(
            "/admin",
            admin::router().layer(axum::middleware::from_fn(credentials_first)),
        )
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(refuse_oversized))
        .layer(axum::middleware::from_fn(json_refusals))
        .with_state(service)
}

/// Every `/admin` endpoint needs credentials: a request without any is `401` before its query
/// string, path or body is looked at, so that nobody learns an endpoint's parameters without
/// credentials. (Credentials that fail are refused when the handler checks them.)
async fn credentials_first(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if bearer::Bearer::from_request(request.headers(), None)
        .token()
        .is_none()
    {
        return RestError::unauthorized().into_response();
    }
    next.run(request).await
}

/// Refusals axum's extractors write as plain text (a query string or path segment that does
/// not parse: `?count=x`, `%FF` in an id) answered as every other REST error, `{"error",
/// "detail"}`, so that clients read one shape.
async fn json_refusals(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let response = next.run(request).await;
    let plain = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/plain"));
    if !response.status().is_client_error() || !plain {
        return response;
    }
    let status = response.status();
    // The extractors' messages are one line; anything longer is cut, not read whole.
    let detail = match axum::body::to_bytes(response.into_body(), 4096).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    };
    RestError::new(status, "invalid_request", detail).into_response()
}

/// Reads the body before any handler does, so that one over [`BODY_LIMIT`] (declared or
/// chunked) is a `413` the client reads: the rest of what it sends is taken in and discarded
/// first, where an unread body would reset the connection under the answer.
async fn refuse_oversized(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use rollcall_scim::router::{BodyRefused, read_limited};
    let (parts, body) = request.into_parts();
    match read_limited(&parts.headers, body, BODY_LIMIT).await {
        Ok(bytes) => {
            let request = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
            next.run(request).await
        }
        Err(BodyRefused::TooLarge(_)) => too_large().into_response(),
        Err(e @ BodyRefused::Unreadable(_)) => {
            RestError::bad_request(e.to_string()).into_response()
        }
    }
}

fn too_large() -> RestError {
    RestError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the body exceeds {BODY_LIMIT} bytes"),
    )
}

/// A refused request, as the client sees it.
#[derive(Debug)]
pub struct RestError {
    status: StatusCode,
    error: &'static str,
    detail: String,
}

impl RestError {
    fn new(status: StatusCode, error: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            error,
            detail: detail.into(),
        }
    }

    fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", detail)
    }

    fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "invalid credentials",
        )
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({"error": self.error, "detail": self.detail})),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"rollcall\""),
            );
        }
        response
    }
}

impl From<ServiceError> for RestError {
    fn from(e: ServiceError) -> Self {
        use ServiceError as E;
        let (status, error) = match &e {
            E::InvalidCredentials => return Self::unauthorized(),
            E::PasswordExpired => (StatusCode::UNAUTHORIZED, "password_expired"),
            E::SignInCodeSent => (StatusCode::UNAUTHORIZED, "mfa_code_sent"),
            E::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            E::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            E::PasswordPolicy(crate::password::policy::Violation::SelfServiceDisabled) => {
                (StatusCode::FORBIDDEN, "forbidden")
            }
            E::PasswordPolicy(_) => (StatusCode::BAD_REQUEST, "password_policy"),
            E::VersionConflict { .. } | E::Busy(_) | E::LastAdministrator(_) => {
                (StatusCode::CONFLICT, "conflict")
            }
            E::Store(_) | E::Backup(_) => {
                tracing::error!(error = %e, "store failure during a REST request");
                return Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; see the server log",
                );
            }
            _ => (StatusCode::BAD_REQUEST, "invalid_request"),
        };
        Self::new(status, error, e.to_string())
    }
}

pub type RestResult<T> = Result<T, RestError>;

/// A JSON body, or a 400 that says what is wrong with it.
fn body<T: DeserializeOwned>(json: Result<Json<T>, JsonRejection>) -> RestResult<T> {
    match json {
        Ok(Json(v)) => Ok(v),
        Err(JsonRejection::BytesRejection(e)) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(too_large())
        }
        Err(e) => Err(RestError::bad_request(e.body_text())),
    }
}

/// Runs `f` off the async workers as the actor behind the request's credentials, for `usage`.
async fn as_caller<T: Send + 'static>(
    service: Service,
    headers: &axum::http::HeaderMap,
    peer: std::net::SocketAddr,
    usage: crate::service::SessionUse,
    f: impl FnOnce(&Service, &crate::service::Actor) -> RestResult<T> + Send + 'static,
) -> RestResult<T> {
    let bearer = bearer::Bearer::from_request(headers, Some(axum::extract::ConnectInfo(peer)));
    blocking(move || {
        let actor = bearer.actor(&service, usage)?;
        f(&service, &actor)
    })
    .await
}

/// Runs a service call off the async workers: argon2 and durable writes block.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> RestResult<T> + Send + 'static,
) -> RestResult<T> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "a REST handler panicked");
        Err(RestError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        ))
    })
}
