//! Password hashing: argon2id PHC strings with configurable cost. Verification reads the cost
//! from the stored string, so raising the configured cost does not lock anyone out. Hashes
//! imported from other directories ({SSHA}, {SSHA512}, bcrypt, {ARGON2}) live in [`import()`]
//! and its module; [`verify`] checks every stored form, so login needs to know none of them.

mod gate;
mod import;
pub mod policy;

pub use import::{ImportError, StoredHash, import, looks_like_hash, needs_upgrade, verify};

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, Version};
use serde::{Deserialize, Serialize};

/// argon2id cost (`[argon2]` in the config); the defaults are the argon2 crate's (OWASP's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self {
            memory_kib: 19456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("invalid argon2 parameters: {0}")]
    Params(String),
    #[error("hashing failed: {0}")]
    Hash(String),
}

impl Argon2Params {
    fn hasher(&self) -> Result<Argon2<'static>, PasswordError> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| PasswordError::Params(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// Fails early (at start-up) on parameters argon2 rejects.
    pub fn validate(&self) -> Result<(), PasswordError> {
        self.hasher().map(drop)
    }

    /// Slow on purpose (tens of milliseconds): call it off async executors and outside store
    /// transactions.
    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let _pass = gate::Gate::global().enter();
        let hash: PasswordHash = self
            .hasher()?
            .hash_password(password.as_bytes())
            .map_err(|e| PasswordError::Hash(e.to_string()))?;
        Ok(hash.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_carry_their_parameters() {
        let params = Argon2Params {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        };
        let phc = params.hash("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{phc}");
        assert!(verify("correct horse", &phc));
        assert!(!verify("correct horsf", &phc));
        assert!(!verify("correct horse", "not a hash"));
        assert_ne!(phc, params.hash("correct horse").unwrap(), "salted");
    }

    #[test]
    fn rejects_impossible_parameters() {
        let params = Argon2Params {
            memory_kib: 1,
            iterations: 0,
            parallelism: 1,
        };
        assert!(params.validate().is_err());
    }
}
