//! Long-lived API tokens for provisioning (Okta, Entra ID, scripts), bound to `api` service
//! accounts and stored only as digests.

use time::OffsetDateTime;
use uuid::Uuid;

use super::users::readable;
use super::{Actor, Result, Service, ServiceError};
use crate::audit::AuditKind;
use crate::model::{PrincipalKind, User, UserId};
use crate::store::Txn;
use crate::token::{self, ApiToken, SecretDigest};

/// Who a presented token acts as.
#[derive(Clone, Debug)]
pub struct TokenPrincipal {
    pub token: ApiToken,
    pub account: User,
}

/// Longest name a token may have: it is a label for admins to tell tokens apart.
const MAX_TOKEN_NAME: usize = 128;

impl Service {
    /// Issues a token for an active `api` service account. Returns the secret, which is shown
    /// once: only its digest is kept. `secret` lets automation choose it. An inactive
    /// account's tokens are refused at every request, so a token for one is refused here
    /// rather than handed out to fail later with a bare 401.
    pub fn create_api_token(
        &self,
        actor: &Actor,
        name: &str,
        principal: UserId,
        secret: Option<String>,
        expires: Option<OffsetDateTime>,
    ) -> Result<String> {
        let name = name.trim();
        if !crate::model::is_visible_name(name) || name.chars().count() > MAX_TOKEN_NAME {
            return Err(ServiceError::invalid(
                "name",
                format!(
                    "a token needs a name of at most {MAX_TOKEN_NAME} characters, without \
                     control or invisible ones"
                ),
            ));
        }
        let secret = secret.unwrap_or_else(token::new_api_token);
        check_token_secret(&secret)?;
        let record = ApiToken {
            id: Uuid::now_v7(),
            name: name.to_string(),
            principal,
            created: OffsetDateTime::now_utc(),
            revoked: false,
            expires,
        };
        if expires.is_some_and(|e| e <= record.created) {
            return Err(ServiceError::invalid("expires", "must be in the future"));
        }
        let digest = token::digest(&secret);
        if !self.subject(actor)?.is_administrator() {
            return Err(ServiceError::Forbidden(
                "only administrators create API tokens".into(),
            ));
        }
        self.transact(|tx| {
            let account = readable(tx, principal)?;
            if account.kind == PrincipalKind::Api && !account.active {
                return Err(ServiceError::invalid(
                    "principal",
                    format!(
                        "{} is inactive, and an inactive account's tokens are refused: \
                         activate it first",
                        account.user_name
                    ),
                ));
            }
            self.put_new_token(tx, actor, &account, &digest, &record)
        })?;
        Ok(secret)
    }

    /// In a transaction: stores a token for `account`, which must be an `api` service
    /// account, and audits it.
    pub(super) fn put_new_token(
        &self,
        tx: &mut dyn Txn,
        actor: &Actor,
        account: &User,
        digest: &SecretDigest,
        record: &ApiToken,
    ) -> Result<()> {
        if account.kind != PrincipalKind::Api {
            return Err(ServiceError::invalid(
                "principal",
                format!("{} is not an api service account", account.user_name),
            ));
        }
        tx.put_api_token(digest, record)?;
        self.audit(
            tx,
            actor,
            AuditKind::TokenCreated,
            Some(account.id.to_string()),
            Some(format!("token {:?} ({})", record.name, record.id)),
            None,
        )
    }

    /// The service account a bearer token acts as, if the token is known, not revoked, and its
    /// account is active.
    pub fn authenticate_token(&self, secret: &str) -> Result<Option<TokenPrincipal>> {
        let Some(token) = self.store.api_token(&token::digest(secret))? else {
            return Ok(None);
        };
        if token.revoked
            || token
                .expires
                .is_some_and(|e| e <= OffsetDateTime::now_utc())
        {
            return Ok(None);
        }
        Ok(self
            .store
            .user(token.principal)?
            .filter(|u| u.active && !u.anonymised)
            .map(|account| TokenPrincipal { token, account }))
    }

    /// Every API token (revoked and expired ones included, for the record). Administrators
    /// only. Secrets are not kept, so none is shown.
    pub fn api_tokens(&self, actor: &Actor) -> Result<Vec<ApiToken>> {
        self.require_administrator(actor, "list API tokens")?;
        let mut out = self
            .store
            .api_tokens()
            .map(|t| t.map(|(_, token)| token))
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|t| t.created);
        Ok(out)
    }

    /// Revokes a token by id (or by name, when exactly one live token has it). Administrators
    /// only.
    pub fn revoke_api_token(&self, actor: &Actor, id_or_name: &str) -> Result<ApiToken> {
        self.require_administrator(actor, "revoke API tokens")?;
        let mut matches = Vec::new();
        for entry in self.store.api_tokens() {
            let (digest, token) = entry?;
            let by_id = token.id.to_string() == id_or_name;
            if by_id || (!token.revoked && token.name == id_or_name) {
                matches.push((digest, token));
            }
        }
        let (digest, _) = match matches.len() {
            1 => matches.remove(0),
            0 => {
                return Err(ServiceError::invalid(
                    "token",
                    format!("no token with id or name {id_or_name:?}"),
                ));
            }
            n => {
                return Err(ServiceError::invalid(
                    "token",
                    format!("{n} live tokens are named {id_or_name:?}; give the id"),
                ));
            }
        };
        self.transact(|tx| {
            let mut token = tx
                .api_token(&digest)?
                .ok_or_else(|| ServiceError::invalid("token", "the token disappeared meanwhile"))?;
            token.revoked = true;
            tx.put_api_token(&digest, &token)?;
            self.audit(
                tx,
                actor,
                AuditKind::TokenRevoked,
                Some(token.principal.to_string()),
                Some(format!("token {:?} ({})", token.name, token.id)),
                None,
            )?;
            Ok(token)
        })
    }
}

/// A token secret chosen by automation (`ROLLCALL_BOOTSTRAP_TOKEN`) must look like a generated
/// one: long enough, and with the prefix by which a bearer is told from a session token
/// (without it, the token would be stored and never work).
pub fn check_token_secret(secret: &str) -> Result<()> {
    if secret.len() < 20 {
        return Err(ServiceError::invalid(
            "token",
            "must be at least 20 characters",
        ));
    }
    if !secret.starts_with(token::API_TOKEN_PREFIX) {
        return Err(ServiceError::invalid(
            "token",
            format!(
                "must start with {:?}, as every API token does (so that it is told from a \
                 session token, and secret scanners recognise a leaked one)",
                token::API_TOKEN_PREFIX
            ),
        ));
    }
    Ok(())
}

/// Longest an API token may be made to last, in days; a token meant to outlive that is one
/// without an expiry.
pub const MAX_TOKEN_DAYS: u32 = 3650;

/// When a token that lasts `days` from now expires.
pub fn token_expiry(days: u32) -> Result<OffsetDateTime> {
    if !(1..=MAX_TOKEN_DAYS).contains(&days) {
        return Err(ServiceError::invalid(
            "expires_days",
            format!(
                "must be between 1 and {MAX_TOKEN_DAYS} (leave it out for a token that does not expire), is {days}"
            ),
        ));
    }
    Ok(OffsetDateTime::now_utc() + time::Duration::days(days.into()))
}
