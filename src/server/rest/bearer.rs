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

    /// The actor behind the credentials, for `usage`. API tokens act as their service
    /// account, which exists for the API.
    pub fn actor(&self, service: &Service, usage: SessionUse) -> RestResult<Actor> {
        let token = self.token.as_deref().ok_or_else(RestError::unauthorized)?;
        if token.starts_with(crate::token::API_TOKEN_PREFIX) {
            if usage != SessionUse::Api {
                return Err(RestError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "forbidden",
                    "API tokens act for service accounts; this endpoint is for signed-in users",
                ));
            }
            let found = service
                .authenticate_token(token)?
                .ok_or_else(RestError::unauthorized)?;
            return Ok(Actor::user(found.account.id, Source::Rest, self.client));
        }
        Ok(service.session_actor(token, usage, Source::Rest, self.client)?)
    }

    /// The session token itself (for ending the current session).
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }
}
