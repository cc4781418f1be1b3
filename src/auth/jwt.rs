//! Session tokens: HS256 JWTs signed with a key generated at initialisation and kept in the
//! store. Validation pins the algorithm (so `alg: none` and algorithm confusion are refused),
//! checks `exp`, `nbf`, issuer and audience with a small leeway, and picks the key by `kid` so
//! that a rotated key keeps validating the tokens it signed until they expire.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The `aud` of every token Rollcall issues.
pub const AUDIENCE: &str = "rollcall";

/// Clock skew tolerated between servers, in seconds.
const LEEWAY_SECONDS: u64 = 5;

/// Keys that signed tokens still in circulation. New tokens use `current`.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeyRing {
    pub current: SigningKey,
    #[serde(default)]
    pub previous: Vec<SigningKey>,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct SigningKey {
    pub kid: String,
    /// 256 random bits, URL-safe base64.
    pub secret: String,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &self.current.kid)
            .field("previous", &self.previous.len())
            .finish()
    }
}

impl SigningKey {
    pub fn generate() -> Self {
        Self {
            kid: Uuid::now_v7().simple().to_string(),
            secret: crate::token::random_secret(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        URL_SAFE_NO_PAD
            .decode(&self.secret)
            .unwrap_or_else(|_| self.secret.as_bytes().to_vec())
    }
}

/// What a session token says. `act` (RFC 8693) names the administrator acting as `sub`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub jti: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<ActorClaim>,
    /// Set while the user's roles require MFA and no authenticator is enrolled yet: the token
    /// is good for enrolling one and nothing else.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enrol_only: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorClaim {
    pub sub: String,
}

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("invalid token: {0}")]
    Invalid(String),
}

impl KeyRing {
    pub fn generate() -> Self {
        Self {
            current: SigningKey::generate(),
            previous: Vec::new(),
        }
    }

    /// A new current key; the old one keeps validating until `keep` older keys push it out.
    pub fn rotate(&mut self, keep: usize) {
        let old = std::mem::replace(&mut self.current, SigningKey::generate());
        self.previous.insert(0, old);
        self.previous.truncate(keep);
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, JwtError> {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.current.kid.clone());
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_secret(&self.current.bytes()),
        )
        .map_err(|e| JwtError::Sign(e.to_string()))
    }

    /// The claims of a token this ring signed for `issuer`, if it is valid now.
    pub fn verify(&self, token: &str, issuer: &str) -> Result<Claims, JwtError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| JwtError::Invalid(e.to_string()))?;
        if header.alg != Algorithm::HS256 {
            return Err(JwtError::Invalid(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| JwtError::Invalid("no key id".into()))?;
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.kid == kid)
            .ok_or_else(|| JwtError::Invalid("unknown key id".into()))?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(&key.bytes()), &validation)
            .map(|data| data.claims)
            .map_err(|e| JwtError::Invalid(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(offset: i64) -> Claims {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        Claims {
            iss: "http://dir".into(),
            aud: AUDIENCE.into(),
            sub: "u1".into(),
            jti: "j1".into(),
            iat: now,
            nbf: now,
            exp: now + offset,
            act: None,
            enrol_only: false,
        }
    }

    #[test]
    fn signed_tokens_verify_and_tampering_does_not() {
        let ring = KeyRing::generate();
        let token = ring.sign(&claims(60)).unwrap();
        assert_eq!(ring.verify(&token, "http://dir").unwrap().sub, "u1");
        assert!(ring.verify(&token, "http://other").is_err(), "issuer");
        assert!(
            ring.sign(&claims(-60))
                .and_then(|t| ring.verify(&t, "http://dir"))
                .is_err(),
            "expired"
        );
        assert!(
            KeyRing::generate().verify(&token, "http://dir").is_err(),
            "other key"
        );

        // alg none: header {"alg":"none","kid":...}, same claims, empty signature.
        let parts: Vec<&str> = token.split('.').collect();
        let none_header = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"none","typ":"JWT","kid":"{}"}}"#,
            ring.current.kid
        ));
        let forged = format!("{none_header}.{}.", parts[1]);
        assert!(ring.verify(&forged, "http://dir").is_err());
    }

    #[test]
    fn rotated_keys_keep_validating_their_tokens() {
        let mut ring = KeyRing::generate();
        let old = ring.sign(&claims(60)).unwrap();
        ring.rotate(1);
        let new = ring.sign(&claims(60)).unwrap();
        assert!(ring.verify(&old, "http://dir").is_ok());
        assert!(ring.verify(&new, "http://dir").is_ok());
        ring.rotate(0);
        assert!(ring.verify(&old, "http://dir").is_err());
    }
}
