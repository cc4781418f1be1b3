use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::AccountId;

/// An external organisation partner and customer users belong to; accounts nest through `parent`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub parent: Option<AccountId>,
    /// Under per-account partner licensing, a licensed account admits unlimited active partners.
    #[serde(default)]
    pub licensed: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub modified: OffsetDateTime,
    pub version: u64,
}

impl Account {
    pub fn new(name: impl Into<String>) -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            id: AccountId::new(),
            name: name.into(),
            external_id: None,
            parent: None,
            licensed: false,
            created: now,
            modified: now,
            version: 0,
        }
    }
}
