//! Long-lived API tokens for provisioning (Okta, Entra ID, scripts), bound to `api` service
//! accounts and stored only as digests.

use time::OffsetDateTime;
use uuid::Uuid;

use super::users::readable;
use super::{Actor, Result, Service, ServiceError};
use crate::audit::AuditKind;
use crate::model::{PrincipalKind, User, UserId};
use crate::token::{self, ApiToken};

/// Who a presented token acts as.
#[derive(Clone, Debug)]
pub struct TokenPrincipal {
    pub token: ApiToken,
    pub account: User,
}

impl Service {
    /// Issues a token for an `api` service account. Returns the secret, which is shown once:
    /// only its digest is kept. `secret` lets automation choose it (bootstrap).
    pub fn create_api_token(
        &self,
        actor: &Actor,
        name: &str,
        principal: UserId,
        secret: Option<String>,
    ) -> Result<String> {
        let name = name.trim();
        if name.is_empty() {
            return Err(ServiceError::invalid("name", "a token needs a name"));
        }
        let secret = secret.unwrap_or_else(token::new_api_token);
        if secret.len() < 20 {
            return Err(ServiceError::invalid(
                "token",
                "must be at least 20 characters",
            ));
        }
        let record = ApiToken {
            id: Uuid::now_v7(),
            name: name.to_string(),
            principal,
            created: OffsetDateTime::now_utc(),
            revoked: false,
        };
        let digest = token::digest(&secret);
        if !self.subject(actor)?.is_administrator() {
            return Err(ServiceError::Forbidden(
                "only administrators create API tokens".into(),
            ));
        }
        self.transact(|tx| {
            let account = readable(tx, principal)?;
            if account.kind != PrincipalKind::Api {
                return Err(ServiceError::invalid(
                    "principal",
                    format!("{} is not an api service account", account.user_name),
                ));
            }
            tx.put_api_token(&digest, &record)?;
            self.audit(
                tx,
                actor,
                AuditKind::TokenCreated,
                Some(principal.to_string()),
                Some(format!("token {:?} ({})", record.name, record.id)),
                None,
            )
        })?;
        Ok(secret)
    }

    /// The service account a bearer token acts as, if the token is known, not revoked, and its
    /// account is active.
    pub fn authenticate_token(&self, secret: &str) -> Result<Option<TokenPrincipal>> {
        let Some(token) = self.store.api_token(&token::digest(secret))? else {
            return Ok(None);
        };
        if token.revoked {
            return Ok(None);
        }
        Ok(self
            .store
            .user(token.principal)?
            .filter(|u| u.active && !u.anonymised)
            .map(|account| TokenPrincipal { token, account }))
    }
}
