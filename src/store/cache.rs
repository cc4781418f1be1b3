//! Decoded records kept in memory for point reads. A search by `uid` or a SCIM GET spends most
//! of its store time decoding the same JSON again; the cache hands back the decoded record.
//!
//! Coherence without locking out writers: a reader notes its shard's epoch before it reads the
//! engine and inserts what it read only if the epoch is unchanged. A writer evicts the keys it
//! changed *after* its commit and bumps the epoch. So a value read before a commit is either
//! evicted by that commit's eviction or refused at insertion; it can never outlive it.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::Mutex;

const SHARDS: usize = 16;

struct Shard<K, V> {
    map: HashMap<K, V>,
    epoch: u64,
}

pub struct RecordCache<K, V> {
    shards: Vec<Mutex<Shard<K, V>>>,
    per_shard: usize,
    hasher: RandomState,
}

/// Where a reader stands before it reads the engine: see [`RecordCache::insert`].
#[derive(Clone, Copy, Debug)]
pub struct Ticket {
    shard: usize,
    epoch: u64,
}

/// Every shard's epoch at one moment: see [`RecordCache::snapshot`].
pub struct Snapshot {
    epochs: Vec<u64>,
}

/// `V` is cheap to clone: an id, or an `Arc` of a record.
impl<K: Hash + Eq + Clone, V: Clone> RecordCache<K, V> {
    /// Holds up to about `capacity` records; zero turns the cache off.
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        map: HashMap::new(),
                        epoch: 0,
                    })
                })
                .collect(),
            per_shard: capacity.div_ceil(SHARDS),
            hasher: RandomState::new(),
        }
    }

    /// Where every shard stands now, for a reader about to read many records (a scan): a
    /// ticket for each of them ([`Self::ticket_in`]) without a lock per record. Such a ticket
    /// is older than one taken per record, so it is as safe, and only refused more often.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            epochs: (0..SHARDS).map(|shard| self.lock(shard).epoch).collect(),
        }
    }

    /// The ticket for `key` as of `snapshot`.
    pub fn ticket_in<Q: Hash + ?Sized>(&self, snapshot: &Snapshot, key: &Q) -> Ticket {
        let shard = self.shard(key);
        Ticket {
            shard,
            epoch: snapshot.epochs[shard],
        }
    }

    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> usize {
        (self.hasher.hash_one(key) as usize) % SHARDS
    }

    fn lock(&self, shard: usize) -> std::sync::MutexGuard<'_, Shard<K, V>> {
        // A panic while holding a shard lock leaves a map that is still a valid cache.
        self.shards[shard]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached record, or a ticket to insert the one the caller is about to read.
    pub fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Result<V, Ticket>
    where
        K: Borrow<Q>,
    {
        let shard = self.shard(key);
        let guard = self.lock(shard);
        match guard.map.get(key) {
            Some(v) => Ok(v.clone()),
            None => Err(Ticket {
                shard,
                epoch: guard.epoch,
            }),
        }
    }

    /// Caches `value` read under `ticket`, unless a writer evicted anything from the shard
    /// since the ticket was taken (the value may predate that write).
    pub fn insert(&self, ticket: Ticket, key: K, value: V) {
        self.put(ticket, key, value, true);
    }

    /// As [`Self::insert`], but only into free room: a scan of a directory larger than the
    /// cache would otherwise replace the records point reads keep asking for with ones it
    /// reads once.
    pub fn insert_if_room(&self, ticket: Ticket, key: K, value: V) {
        self.put(ticket, key, value, false);
    }

    fn put(&self, ticket: Ticket, key: K, value: V, evict: bool) {
        if self.per_shard == 0 {
            return;
        }
        let mut guard = self.lock(ticket.shard);
        if guard.epoch != ticket.epoch {
            return;
        }
        let full = guard.map.len() >= self.per_shard && !guard.map.contains_key(&key);
        if full && !evict {
            return;
        }
        if guard.map.len() >= self.per_shard
            && !guard.map.contains_key(&key)
            && let Some(victim) = guard.map.keys().next().cloned()
        {
            // An arbitrary victim: the hasher's order is random, and a directory's reads are
            // spread too widely for recency to pay for its bookkeeping.
            guard.map.remove(&victim);
        }
        guard.map.insert(key, value);
    }

    /// The cached record, or the one `load` reads from the engine, cached on the way out. A
    /// missing record is not remembered.
    pub fn get_or_load<E>(
        &self,
        key: K,
        load: impl FnOnce() -> Result<Option<V>, E>,
    ) -> Result<Option<V>, E> {
        let ticket = match self.get(&key) {
            Ok(value) => return Ok(Some(value)),
            Err(ticket) => ticket,
        };
        let loaded = load()?;
        if let Some(value) = &loaded {
            self.insert(ticket, key, value.clone());
        }
        Ok(loaded)
    }

    /// Called after a commit that changed `key`.
    pub fn evict<Q: Hash + Eq + ?Sized>(&self, key: &Q)
    where
        K: Borrow<Q>,
    {
        let mut guard = self.lock(self.shard(key));
        guard.map.remove(key);
        guard.epoch += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn hits_after_an_insert_and_misses_after_an_eviction() {
        let cache: RecordCache<u32, Arc<String>> = RecordCache::new(100);
        let ticket = cache.get(&1).unwrap_err();
        cache.insert(ticket, 1, Arc::new("one".into()));
        assert_eq!(*cache.get(&1).unwrap(), "one");
        cache.evict(&1);
        assert!(cache.get(&1).is_err());
    }

    #[test]
    fn a_value_read_before_a_write_is_not_cached_after_it() {
        let cache: RecordCache<u32, Arc<String>> = RecordCache::new(100);
        // The reader takes its ticket and reads the old value; a writer commits and evicts.
        let ticket = cache.get(&7).unwrap_err();
        cache.evict(&7);
        cache.insert(ticket, 7, Arc::new("stale".into()));
        assert!(cache.get(&7).is_err(), "the stale value was refused");
        // A reader that starts after the write caches the new value.
        let ticket = cache.get(&7).unwrap_err();
        cache.insert(ticket, 7, Arc::new("fresh".into()));
        assert_eq!(*cache.get(&7).unwrap(), "fresh");
    }

    #[test]
    fn a_snapshot_taken_before_a_write_refuses_what_was_read_before_it() {
        let cache: RecordCache<u32, Arc<String>> = RecordCache::new(100);
        let snapshot = cache.snapshot();
        // A scan read key 3 (old value) and key 4; a writer then changed 3.
        cache.evict(&3);
        cache.insert(cache.ticket_in(&snapshot, &3), 3, Arc::new("stale".into()));
        assert!(cache.get(&3).is_err(), "the stale value was refused");
        // Keys of shards no writer touched are cached.
        let untouched = (0..1000u32)
            .find(|k| cache.shard(k) != cache.shard(&3))
            .unwrap();
        cache.insert(
            cache.ticket_in(&snapshot, &untouched),
            untouched,
            Arc::new("fresh".into()),
        );
        assert_eq!(*cache.get(&untouched).unwrap(), "fresh");
    }

    #[test]
    fn a_full_cache_keeps_what_it_holds_when_asked_only_for_room() {
        let cache: RecordCache<u32, u32> = RecordCache::new(16);
        for i in 0..1000 {
            if let Err(ticket) = cache.get(&i) {
                cache.insert(ticket, i, i);
            }
        }
        let held = |cache: &RecordCache<u32, u32>| -> Vec<u32> {
            let mut keys: Vec<u32> = cache
                .shards
                .iter()
                .flat_map(|s| s.lock().unwrap().map.keys().copied().collect::<Vec<_>>())
                .collect();
            keys.sort();
            keys
        };
        let before = held(&cache);
        for i in 1000..2000 {
            if let Err(ticket) = cache.get(&i) {
                cache.insert_if_room(ticket, i, i);
            }
        }
        assert_eq!(held(&cache), before, "nothing was evicted for a scan");
    }

    #[test]
    fn stays_within_its_capacity_and_zero_disables_it() {
        let cache: RecordCache<u32, u32> = RecordCache::new(64);
        for i in 0..10_000 {
            if let Err(ticket) = cache.get(&i) {
                cache.insert(ticket, i, i);
            }
        }
        let held: usize = cache
            .shards
            .iter()
            .map(|s| s.lock().unwrap().map.len())
            .sum();
        assert!(held <= 64, "{held} records held");
        assert!(held >= 16, "{held} records held");

        let off: RecordCache<u32, u32> = RecordCache::new(0);
        let ticket = off.get(&1).unwrap_err();
        off.insert(ticket, 1, 1);
        assert!(off.get(&1).is_err());
    }
}
