//! The REST API beside SCIM: sign-in and the user's own account under `/auth/`, and admin work
//! under `/admin/`. Handlers only translate HTTP to service calls; every decision is the core
//! service's. Errors are JSON `{"error", "detail"}` with the status a client acts on.
//!
//! An endpoint that needs a caller is reached only through [`bearer::signed_in`], which
//! authenticates before the handler runs and so before any of its extractors: a request without
//! valid credentials learns nothing of how its parameters or body would have been read.
//! Extractors are wrapped in [`Checked`], so that what they refuse is a [`RestError`] like the
//! rest.

mod admin;
mod auth;
mod bearer;
mod link_page;

use axum::Json;
use axum::Router;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::service::{Service, ServiceError, SessionUse};

/// Largest request body the REST endpoints read; their bodies are a few fields.
const BODY_LIMIT: usize = 64 * 1024;

pub fn router(service: Service) -> Router {
    // Nothing under `/admin` is for anyone without credentials, not even the knowledge of
    // which paths and methods exist there; `/auth` has public endpoints, so only its
    // signed-in ones are guarded, each for its own use of the session.
    let admin = json_misses(admin::router())
        .layer(bearer::signed_in(&service, |_| SessionUse::Api))
        .with_state(service.clone());
    let auth = json_misses(auth::router(&service)).with_state(service);
    // Nested as services, so that `/admin/` and `/auth/` reach their own fallbacks too.
    Router::new()
        .nest_service("/auth", auth)
        .nest_service("/admin", admin)
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(refuse_oversized))
}

/// Paths and methods no endpoint answers get the REST errors' shape too, where axum's own
/// answers are empty. Added last, so that every route of `router` is covered.
fn json_misses(router: Router<Service>) -> Router<Service> {
    router
        .method_not_allowed_fallback(wrong_method)
        .fallback(no_endpoint)
}

async fn no_endpoint(OriginalUri(uri): OriginalUri) -> RestError {
    RestError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no endpoint at {}", uri.path()),
    )
}

/// axum still adds the `Allow` header to this answer.
async fn wrong_method(method: Method, OriginalUri(uri): OriginalUri) -> RestError {
    RestError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{method} is not allowed at {}; the Allow header lists what is",
            uri.path()
        ),
    )
}

/// Reads the body before any handler does, so that one over [`BODY_LIMIT`] (declared or
/// chunked) is a `413` the client reads: the rest of what it sends is taken in and discarded
/// first, where an unread body would reset the connection under the answer. This is before
/// credentials are checked, for the same reason, and says nothing about any one endpoint.
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
    /// Whole seconds before the same request can succeed, as the service counted them: sent
    /// as `Retry-After` for clients and proxies that wait on it, and in the body for those
    /// that read only the body.
    retry_after: Option<u64>,
}

impl RestError {
    fn new(status: StatusCode, error: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            error,
            detail: detail.into(),
            retry_after: None,
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

    /// The server's own fault: the client is told no more than that (the caller logs why).
    fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }

    /// What an axum extractor refused, by the status it gave. A body that parses but does not
    /// fit (axum's `422`) is as malformed to a client as one that does not parse: `400`.
    fn refused(status: StatusCode, detail: String) -> Self {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => too_large(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                Self::new(status, "unsupported_media_type", detail)
            }
            s if s.is_server_error() => {
                tracing::error!(%status, detail, "an extractor failed on the server's side");
                Self::internal()
            }
            _ => Self::bad_request(detail),
        }
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({"error": self.error, "detail": self.detail});
        if let Some(seconds) = self.retry_after {
            body["retry_after"] = seconds.into();
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
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
            E::PasswordExpired(_) => (StatusCode::UNAUTHORIZED, "password_expired"),
            // Inside the pause between mailed codes nothing was mailed: told apart from a code
            // sent, with how long is left. Still `401`, as the sign-in is still to be finished.
            E::SignInCode(mailing) => match mailing.held_back_for() {
                Some(seconds) => {
                    return Self {
                        retry_after: Some(seconds),
                        ..Self::new(
                            StatusCode::UNAUTHORIZED,
                            "mfa_code_held_back",
                            e.to_string(),
                        )
                    };
                }
                None => (StatusCode::UNAUTHORIZED, "mfa_code_sent"),
            },
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
                return Self::internal();
            }
            _ => (StatusCode::BAD_REQUEST, "invalid_request"),
        };
        Self::new(status, error, e.to_string())
    }
}

/// The rejections of the extractors the REST endpoints use, each by its own status.
macro_rules! refusals {
    ($($rejection:ty),*) => {$(
        impl From<$rejection> for RestError {
            fn from(e: $rejection) -> Self {
                Self::refused(e.status(), e.body_text())
            }
        }
    )*};
}

refusals!(JsonRejection, QueryRejection, PathRejection, BytesRejection);

pub type RestResult<T> = Result<T, RestError>;

/// An axum extractor (`Query`, `Path`, `Json`, …) whose refusal is a [`RestError`], where
/// axum's own is plain text: clients read one shape of error from every endpoint.
pub struct Checked<E>(pub E);

impl<S, E> FromRequestParts<S> for Checked<E>
where
    S: Send + Sync,
    E: FromRequestParts<S>,
    RestError: From<E::Rejection>,
{
    type Rejection = RestError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> RestResult<Self> {
        Ok(Self(E::from_request_parts(parts, state).await?))
    }
}

impl<S, E> FromRequest<S> for Checked<E>
where
    S: Send + Sync,
    E: FromRequest<S>,
    RestError: From<E::Rejection>,
{
    type Rejection = RestError;

    async fn from_request(request: Request, state: &S) -> RestResult<Self> {
        Ok(Self(E::from_request(request, state).await?))
    }
}

/// Runs a service call off the async workers: argon2 and durable writes block.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> RestResult<T> + Send + 'static,
) -> RestResult<T> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "a REST handler panicked");
        Err(RestError::internal())
    })
}
