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
    /// The value for `key` built at `generation`, built now by `build` if there is none.
    /// `generation` must be taken before `build` reads any record: a change committed
    /// meanwhile bumps it, so a value built from older records is never served as current.
    pub fn get_or_build<E>(
        &self,
        key: K,
        generation: u64,
        build: impl FnOnce() -> Result<V, E>,
    ) -> Result<Arc<V>, E> {
        if let Some(value) = self.get(&key, generation) {
            return Ok(value);
        }
        let value = Arc::new(build()?);
        self.put(key, generation, Arc::clone(&value));
        Ok(value)
    }

    /// The value built at `generation`, if there is one.
    fn get(&self, key: &K, generation: u64) -> Option<Arc<V>> {
        let entries = self.entries.lock().expect("cache lock");
        entries
            .get(key)
            .filter(|(g, _)| *g == generation)
            .map(|(_, v)| Arc::clone(v))
    }

    /// Remembers a value built from records read after `generation` was taken.
    fn put(&self, key: K, generation: u64, value: Arc<V>) {
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
