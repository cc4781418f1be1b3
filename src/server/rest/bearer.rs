//! `Authorization: Bearer …`: a provisioning API token (`rc_…`) or a session token (JWT), and
//! the one place where an endpoint's caller is authenticated.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::middleware::FromExtractorLayer;

use super::{RestError, RestResult, blocking};
use crate::audit::Source;
use crate::service::{Actor, Service, SessionUse};

/// The request's credentials, not yet checked.
#[derive(Clone)]
pub struct Bearer {
    token: Option<String>,
    client: Option<std::net::IpAddr>,
}

impl Bearer {
    pub fn from_request(headers: &HeaderMap, peer: Option<ConnectInfo<SocketAddr>>) -> Self {
        let token = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| rest.trim().to_string())
            })
            .filter(|t| !t.is_empty());
        Self {
            token,
            client: peer.map(|ConnectInfo(addr)| addr.ip()),
        }
    }

    /// The actor behind the credentials, for `usage`; the service decides.
    pub fn actor(&self, service: &Service, usage: SessionUse) -> RestResult<Actor> {
        let token = self.token.as_deref().ok_or_else(RestError::unauthorized)?;
        Ok(service.bearer_actor(token, usage, Source::Rest, self.client)?)
    }

    /// The session token itself (for ending the current session).
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }
}

/// Which session rules a guarded endpoint holds its caller to (see [`SessionUse`]). For most it
/// is always the same; for one, what the request asks for decides (an administrator's removal
/// of someone else's authenticator is API work), read from the request's shape, never from
/// parameters that must first be found valid.
pub type UsageOf = fn(&Parts) -> SessionUse;

/// The layer that authenticates, for `usage`, every request to the routes it wraps before their
/// handlers or extractors see it. A request without valid credentials is `401` (and one whose
/// credentials do not reach the endpoint, `403`) whatever its parameters and body.
pub fn signed_in(service: &Service, usage: UsageOf) -> FromExtractorLayer<Authenticated, Guard> {
    axum::middleware::from_extractor_with_state(Guard {
        service: service.clone(),
        usage,
    })
}

/// What [`signed_in`] checks a route's callers with.
#[derive(Clone)]
pub struct Guard {
    service: Service,
    usage: UsageOf,
}

/// A request whose caller [`signed_in`] authenticated, and put on it as a [`Caller`].
pub struct Authenticated;

impl FromRequestParts<Guard> for Authenticated {
    type Rejection = RestError;

    async fn from_request_parts(parts: &mut Parts, guard: &Guard) -> RestResult<Self> {
        let usage = (guard.usage)(parts);
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().copied();
        let bearer = Bearer::from_request(&parts.headers, peer);
        // Point reads only, as SCIM's bearer check: no hand-off to the blocking pool, which
        // the handler then takes once for its own work.
        let actor = bearer.actor(&guard.service, usage)?;
        parts.extensions.insert(Caller { actor, bearer });
        Ok(Self)
    }
}

/// The authenticated caller of a guarded endpoint (see [`signed_in`]).
#[derive(Clone)]
pub struct Caller {
    actor: Actor,
    bearer: Bearer,
}

impl Caller {
    /// Runs `f` off the async workers as this caller.
    pub async fn run<T: Send + 'static>(
        self,
        service: Service,
        f: impl FnOnce(&Service, &Actor) -> RestResult<T> + Send + 'static,
    ) -> RestResult<T> {
        blocking(move || f(&service, &self.actor)).await
    }

    /// The credentials the caller was authenticated with.
    pub fn bearer(&self) -> &Bearer {
        &self.bearer
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = RestError;

    /// Only [`signed_in`] puts a caller on a request: a handler that takes one on a route it
    /// does not guard is a mistake, refused rather than run unauthenticated.
    async fn from_request_parts(parts: &mut Parts, _: &S) -> RestResult<Self> {
        parts.extensions.remove::<Caller>().ok_or_else(|| {
            tracing::error!(
                path = %parts.uri.path(),
                "a REST endpoint takes a caller it was not given"
            );
            RestError::internal()
        })
    }
}
