//! Index plans: how a list request finds its candidates. The adapters turn a protocol filter into
//! a [`Plan`]; every candidate is still checked with the protocol's exact evaluator, so a plan only
//! has to be a superset, never exact.

use std::collections::BTreeSet;

use crate::model::{AccountId, RoleId, UserId, fold, fold_words};
use crate::store::{Store, StoreError, UserKey};

/// An attribute value the store can look up directly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserLookup {
    Id(UserId),
    /// Any case.
    UserName(String),
    ExternalId(String),
    /// Any case, and any spacing LDAP's caseIgnoreMatch ignores.
    EmployeeNumber(String),
    /// Any case.
    Email(String),
    Manager(UserId),
    Account(AccountId),
    Role(RoleId),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    Lookup(UserLookup),
    /// Candidates in every branch; branches that are scans constrain nothing.
    And(Vec<Plan>),
    /// Candidates in any branch; one scanning branch makes the whole a scan.
    Or(Vec<Plan>),
    Scan,
}

/// What executing a plan yields.
#[derive(Debug, PartialEq, Eq)]
pub enum Candidates {
    /// Ids in creation order.
    Ids(BTreeSet<UserId>),
    All,
}

impl Plan {
    pub fn execute(&self, store: &dyn Store) -> Result<Candidates, StoreError> {
        Ok(match self {
            Plan::Scan => Candidates::All,
            Plan::Lookup(lookup) => Candidates::Ids(lookup_ids(store, lookup)?),
            Plan::And(parts) => {
                let mut acc: Option<BTreeSet<UserId>> = None;
                for part in parts {
                    if let Candidates::Ids(ids) = part.execute(store)? {
                        acc = Some(match acc {
                            None => ids,
                            Some(prev) => prev.intersection(&ids).copied().collect(),
                        });
                        if acc.as_ref().is_some_and(BTreeSet::is_empty) {
                            break;
                        }
                    }
                }
                acc.map_or(Candidates::All, Candidates::Ids)
            }
            Plan::Or(parts) => {
                let mut acc = BTreeSet::new();
                for part in parts {
                    match part.execute(store)? {
                        Candidates::All => return Ok(Candidates::All),
                        Candidates::Ids(ids) => acc.extend(ids),
                    }
                }
                Candidates::Ids(acc)
            }
        })
    }
}

fn lookup_ids(store: &dyn Store, lookup: &UserLookup) -> Result<BTreeSet<UserId>, StoreError> {
    let ids = match lookup {
        UserLookup::Id(id) => vec![*id],
        UserLookup::UserName(name) => store.user_by_name(&fold(name))?.into_iter().collect(),
        UserLookup::ExternalId(ext) => store.users_by(&UserKey::ExternalId(ext.clone()))?,
        UserLookup::EmployeeNumber(number) => {
            store.users_by(&UserKey::EmployeeNumber(fold_words(number)))?
        }
        UserLookup::Email(email) => store.users_by(&UserKey::Email(fold(email)))?,
        UserLookup::Manager(m) => store.users_by(&UserKey::Manager(*m))?,
        UserLookup::Account(a) => store.users_by(&UserKey::Account(*a))?,
        UserLookup::Role(r) => store.users_by(&UserKey::Role(*r))?,
    };
    Ok(ids.into_iter().collect())
}
