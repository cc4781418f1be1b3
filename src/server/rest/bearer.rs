//! `Authorization: Bearer …`: a provisioning API token (`rc_…`) or a session token (JWT).

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;

use super::{RestError, RestResult};
use crate::audit::Source;
use crate::service::{Actor, Service, SessionUse};

/// The request's credentials, not yet checked.
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
