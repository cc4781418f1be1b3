//! Values derived from records, kept while the records they were built from stay the same (one
//! store generation). Every request resolves its subject (a principal with its roles), often more
//! than once, and a scoped request its scope (a reporting tree, an account's users); a group
//! search lists every role and a SCIM page needs every user's position. Rebuilding them each time
//! was a large share of those requests.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use super::{Principal, Subject, UserScope};
use crate::model::{Action, Role, UserId};

/// Entries remembered at most per map; a map is emptied when it grows past this.
const CAPACITY: usize = 4096;

/// Values built at a store generation (see [`crate::store::Store::generation`]), valid while
/// the generation stays the same.
pub(super) struct Generational<K, V> {
    entries: Mutex<HashMap<K, (u64, Arc<V>)>>,
}

impl<K, V> Default for Generational<K, V> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V> Generational<K, V> {
    /// The value built at `generation`, if there is one.
    pub fn get(&self, key: &K, generation: u64) -> Option<Arc<V>> {
        let entries = self.entries.lock().expect("cache lock");
        entries
            .get(key)
            .filter(|(g, _)| *g == generation)
            .map(|(_, v)| Arc::clone(v))
    }

    /// Remembers a value built from records read after `generation` was taken.
    pub fn put(&self, key: K, generation: u64, value: Arc<V>) {
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(key, (generation, value));
    }
}

#[derive(Default)]
pub(super) struct Derived {
    pub subjects: Generational<Principal, Subject>,
    pub scopes: Generational<(Principal, Action), UserScope>,
    /// Every role record: a group search by member lists them all, each time.
    pub roles: Generational<(), Vec<Role>>,
    /// Ids of the users that are not anonymised, in id order: the positions of list pages.
    pub user_ids: Generational<(), Vec<UserId>>,
}
