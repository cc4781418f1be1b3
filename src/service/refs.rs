//! Names of the records a record points at (its manager, account and roles), so that a front end
//! can render references (`manager` as a DN, `memberOf`, SCIM `groups` and `manager.displayName`)
//! of a record the actor was already allowed to read. A referenced record the actor may not
//! read is shown as if it did not exist: a partner reading its own account's people does not
//! learn the names of their employee managers or of roles it cannot see. Memoised for the life
//! of one request, as a search renders the same few managers, roles and accounts many times.

use std::collections::HashMap;
use std::sync::Arc;

use super::authz::{IdScope, Subject};
use super::{Actor, Result, Service, ServiceError};
use crate::model::{AccountId, Action, PrincipalKind, RoleId, UserId};

/// How a referenced user is shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRef {
    pub kind: PrincipalKind,
    pub user_name: String,
    pub display_name: Option<String>,
}

pub struct References<'a> {
    service: &'a Service,
    subject: Arc<Subject>,
    role_scope: Option<IdScope<RoleId>>,
    account_scope: Option<IdScope<AccountId>>,
    users: HashMap<UserId, Option<UserRef>>,
    roles: HashMap<RoleId, Option<String>>,
    accounts: HashMap<AccountId, Option<String>>,
}

impl Service {
    /// References as `actor` sees them.
    pub fn references(&self, actor: &Actor) -> Result<References<'_>> {
        Ok(References {
            service: self,
            subject: self.subject(actor)?,
            role_scope: None,
            account_scope: None,
            users: HashMap::new(),
            roles: HashMap::new(),
            accounts: HashMap::new(),
        })
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

    /// `None` for a user that is gone, anonymised, or out of the actor's Read scope.
    pub fn user(&mut self, id: UserId) -> Result<Option<UserRef>> {
        if let Some(found) = self.users.get(&id) {
            return Ok(found.clone());
        }
        let service = self.service;
        let found = match service.records().user(id)?.filter(|u| !u.anonymised) {
            Some(u) => {
                match service.authorize_user(
                    &mut service.records(),
                    &self.subject,
                    Action::Read,
                    &u,
                ) {
                    Ok(()) => Some(UserRef {
                        kind: u.kind,
                        user_name: u.user_name,
                        display_name: u.display_name,
                    }),
                    Err(ServiceError::NotFound { .. }) => None,
                    Err(e) => return Err(e),
                }
            }
            None => None,
        };
        self.users.insert(id, found.clone());
        Ok(found)
    }

    /// `None` for a role that is gone or out of the actor's Read scope.
    pub fn role(&mut self, id: RoleId) -> Result<Option<String>> {
        if let Some(found) = self.roles.get(&id) {
            return Ok(found.clone());
        }
        let scope = self
            .role_scope
            .get_or_insert_with(|| self.service.role_scope(&self.subject, Action::Read));
        let found = match scope.contains(id) {
            true => self.service.records().role(id)?.map(|r| r.name),
            false => None,
        };
        self.roles.insert(id, found.clone());
        Ok(found)
    }

    /// `None` for an account that is gone or out of the actor's Read scope.
    pub fn account(&mut self, id: AccountId) -> Result<Option<String>> {
        if let Some(found) = self.accounts.get(&id) {
            return Ok(found.clone());
        }
        let scope = match &self.account_scope {
            Some(scope) => scope,
            None => self
                .account_scope
                .insert(self.service.account_scope(&self.subject, Action::Read)?),
        };
        let found = match scope.contains(id) {
            true => self.service.records().account(id)?.map(|a| a.name),
            false => None,
        };
        self.accounts.insert(id, found.clone());
        Ok(found)
    }
}
