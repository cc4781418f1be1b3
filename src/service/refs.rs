//! Names of the records a record points at (its manager, account and roles), so that a front end
//! can render references (`manager` as a DN, `memberOf`, SCIM `groups` and `manager.displayName`)
//! of a record the actor was already allowed to read. Memoised for the life of one request, as a
//! search renders the same few managers, roles and accounts many times.

use std::collections::HashMap;

use super::{Result, Service};
use crate::model::{AccountId, PrincipalKind, RoleId, UserId};

/// How a referenced user is shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRef {
    pub kind: PrincipalKind,
    pub user_name: String,
    pub display_name: Option<String>,
}

pub struct References<'a> {
    service: &'a Service,
    users: HashMap<UserId, Option<UserRef>>,
    roles: HashMap<RoleId, Option<String>>,
    accounts: HashMap<AccountId, Option<String>>,
}

impl Service {
    pub fn references(&self) -> References<'_> {
        References {
            service: self,
            users: HashMap::new(),
            roles: HashMap::new(),
            accounts: HashMap::new(),
        }
    }
}

impl References<'_> {
    /// When the user last signed in (to within a minute), if ever since tracking began.
    pub fn last_login(&mut self, id: UserId) -> Result<Option<time::OffsetDateTime>> {
        Ok(self
            .service
            .records()
            .login_state(id)?
            .and_then(|s| s.last_login))
    }

    /// `None` for a user that is gone or anonymised.
    pub fn user(&mut self, id: UserId) -> Result<Option<UserRef>> {
        if let Some(found) = self.users.get(&id) {
            return Ok(found.clone());
        }
        let found = self
            .service
            .records()
            .user(id)?
            .filter(|u| !u.anonymised)
            .map(|u| UserRef {
                kind: u.kind,
                user_name: u.user_name,
                display_name: u.display_name,
            });
        self.users.insert(id, found.clone());
        Ok(found)
    }

    pub fn role(&mut self, id: RoleId) -> Result<Option<String>> {
        if let Some(found) = self.roles.get(&id) {
            return Ok(found.clone());
        }
        let found = self.service.records().role(id)?.map(|r| r.name);
        self.roles.insert(id, found.clone());
        Ok(found)
    }

    pub fn account(&mut self, id: AccountId) -> Result<Option<String>> {
        if let Some(found) = self.accounts.get(&id) {
            return Ok(found.clone());
        }
        let found = self.service.records().account(id)?.map(|a| a.name);
        self.accounts.insert(id, found.clone());
        Ok(found)
    }
}
