//! Resolved subjects (a principal with its roles), kept while the records they were built from
//! stay the same. Every request resolves its subject, often more than once (an LDAP search
//! checks whether anything is readable, then lists); decoding the user and its roles each time
//! was a large share of a search.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{Principal, Subject, UserScope};
use crate::model::Action;

/// Principals remembered at most; the map is emptied when it grows past this.
const CAPACITY: usize = 4096;

#[derive(Default)]
pub(super) struct SubjectCache {
    entries: Mutex<HashMap<Principal, (u64, Arc<Subject>)>>,
    /// The users a principal reaches per action: a reporting tree or an account's users is
    /// worth keeping too, since every scoped request needs it.
    scopes: Mutex<HashMap<(Principal, Action), (u64, Arc<UserScope>)>>,
}

impl SubjectCache {
    /// The subject built at store generation `generation`, if there is one.
    pub fn get(&self, principal: Principal, generation: u64) -> Option<Arc<Subject>> {
        let entries = self.entries.lock().expect("subject cache lock");
        entries
            .get(&principal)
            .filter(|(g, _)| *g == generation)
            .map(|(_, s)| Arc::clone(s))
    }

    /// Remembers a subject built from records read after `generation` was taken.
    pub fn put(&self, principal: Principal, generation: u64, subject: Arc<Subject>) {
        let mut entries = self.entries.lock().expect("subject cache lock");
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(principal, (generation, subject));
    }

    pub fn scope(&self, key: (Principal, Action), generation: u64) -> Option<Arc<UserScope>> {
        let scopes = self.scopes.lock().expect("scope cache lock");
        scopes
            .get(&key)
            .filter(|(g, _)| *g == generation)
            .map(|(_, s)| Arc::clone(s))
    }

    pub fn put_scope(&self, key: (Principal, Action), generation: u64, scope: Arc<UserScope>) {
        let mut scopes = self.scopes.lock().expect("scope cache lock");
        if scopes.len() >= CAPACITY {
            scopes.clear();
        }
        scopes.insert(key, (generation, scope));
    }
}
