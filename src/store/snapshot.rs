//! One moment of the store for a backup that reads it while commits go on.
//!
//! sled 0.34 has no snapshots, and stopping every commit for as long as a backup reads a large
//! directory would stall provisioning (an identity provider's requests time out). Instead, from
//! the moment the backup starts, a commit first keeps the value each key it is about to change
//! held at that moment (its *pre-image*), unless the backup has already read past the key. The
//! backup reads the live trees in key order and writes, for a key with a kept pre-image, that
//! pre-image (or nothing, for a key created since); after each tree, the kept pre-images of
//! keys it did not meet (removed since) are written too. Every entry is thus as it was at the
//! start, whatever commits did meanwhile.
//!
//! Commits are applied one batch at a time (see [`super::combine`]), and a key is kept before
//! the batch that changes it is applied, so a key not kept yet still holds its value from the
//! start. Memory grows with the keys changed during the backup, not with the store.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

/// How far the backup has read a tree.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Cursor {
    NotStarted,
    /// Every key up to and including this one has been written.
    At(Vec<u8>),
    Done,
}

impl Cursor {
    /// Whether the backup is yet to read `key`.
    fn ahead_of(&self, key: &[u8]) -> bool {
        match self {
            Cursor::NotStarted => true,
            Cursor::At(last) => key > last.as_slice(),
            Cursor::Done => false,
        }
    }
}

struct State {
    cursors: Vec<Cursor>,
    /// Pre-images by (tree, key), of keys the backup has yet to read: `None` for a key that
    /// did not exist at the start.
    kept: BTreeMap<(usize, Vec<u8>), Option<Vec<u8>>>,
    /// Pre-images kept in all, for the log.
    total: u64,
}

/// The pre-images a running backup needs.
pub struct Snapshot {
    state: Mutex<State>,
}

/// What the backup writes for a key it read.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// The key is unchanged since the start: write the value read.
    Live,
    /// The key changed since the start: write this value instead.
    Before(Vec<u8>),
    /// The key was created since the start: write nothing.
    Absent,
}

impl Snapshot {
    pub fn new(trees: usize) -> Self {
        Self {
            state: Mutex::new(State {
                cursors: vec![Cursor::NotStarted; trees],
                kept: BTreeMap::new(),
                total: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every statement leaves the state consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Called by a commit before it changes `keys`: keeps, for each key the backup is yet to
    /// read and has no pre-image of, what `current` says it holds now.
    pub fn keep<'k, E>(
        &self,
        keys: impl IntoIterator<Item = (usize, &'k [u8])>,
        current: impl Fn(usize, &[u8]) -> Result<Option<Vec<u8>>, E>,
    ) -> Result<(), E> {
        let mut state = self.lock();
        for (tree, key) in keys {
            if !state.cursors[tree].ahead_of(key) {
                continue;
            }
            let slot = (tree, key.to_vec());
            if state.kept.contains_key(&slot) {
                continue;
            }
            let value = current(tree, key)?;
            state.kept.insert(slot, value);
            state.total += 1;
        }
        Ok(())
    }

    /// Called by the backup for each key it reads from `tree`, in key order.
    pub fn read(&self, tree: usize, key: &[u8]) -> Seen {
        let mut state = self.lock();
        state.cursors[tree] = Cursor::At(key.to_vec());
        match state.kept.remove(&(tree, key.to_vec())) {
            None => Seen::Live,
            Some(Some(before)) => Seen::Before(before),
            Some(None) => Seen::Absent,
        }
    }

    /// Called by the backup once it has read all of `tree`: the keys it did not meet because
    /// they were removed since the start, with their values, in key order.
    pub fn finish(&self, tree: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut state = self.lock();
        state.cursors[tree] = Cursor::Done;
        let rest = state
            .kept
            .split_off(&(tree, Vec::new()))
            .into_iter()
            .partition::<BTreeMap<_, _>, _>(|((t, _), _)| *t == tree);
        let (mine, others) = rest;
        state.kept.extend(others);
        mine.into_iter()
            .filter_map(|((_, key), before)| before.map(|value| (key, value)))
            .collect()
    }

    /// Pre-images held now.
    #[cfg(test)]
    fn kept(&self) -> usize {
        self.lock().kept.len()
    }

    /// Pre-images kept since the start: how many keys commits changed under the backup.
    pub fn total(&self) -> u64 {
        self.lock().total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A tree as a map, changed by "commits" between the backup's reads: what the backup
    /// writes must be the map as it was at the start.
    #[test]
    fn the_backup_sees_the_start_whatever_commits_do_meanwhile() {
        let start: BTreeMap<Vec<u8>, Vec<u8>> = [(b"b", b"1"), (b"d", b"2"), (b"f", b"3")]
            .into_iter()
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect();
        let mut live = start.clone();
        let snap = Snapshot::new(2);
        let commit = |live: &mut BTreeMap<Vec<u8>, Vec<u8>>, key: &[u8], value: Option<&[u8]>| {
            snap.keep([(0, key)], |_, k| Ok::<_, ()>(live.get(k).cloned()))
                .unwrap();
            match value {
                Some(v) => live.insert(key.to_vec(), v.to_vec()),
                None => live.remove(key),
            };
        };
        let mut written = BTreeMap::new();
        let mut read = |live: &BTreeMap<Vec<u8>, Vec<u8>>, after: &[u8]| {
            // The next live key after `after`, as an iterator would find it.
            let (k, v) = live
                .range::<[u8], _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
                .next()
                .map(|(k, v)| (k.clone(), v.clone()))?;
            match snap.read(0, &k) {
                Seen::Live => written.insert(k.clone(), v),
                Seen::Before(before) => written.insert(k.clone(), before),
                Seen::Absent => None,
            };
            Some(k)
        };
        // Changed before the backup reaches them: a changed value, a created key, a removed key.
        commit(&mut live, b"d", Some(b"changed"));
        commit(&mut live, b"c", Some(b"new"));
        let at = read(&live, b"").unwrap(); // b
        assert_eq!(at, b"b");
        commit(&mut live, b"f", None);
        let at = read(&live, &at).unwrap(); // c: created since, not written
        // Changed after the backup passed it: what was written stands.
        commit(&mut live, b"b", Some(b"later"));
        let at = read(&live, &at).unwrap(); // d
        commit(&mut live, b"d", Some(b"again"));
        assert!(read(&live, &at).is_none());
        for (k, v) in snap.finish(0) {
            written.insert(k, v);
        }
        assert_eq!(written, start);
        assert_eq!(snap.kept(), 0, "nothing left behind");
        // A finished tree keeps nothing more.
        snap.keep([(0, &b"z"[..])], |_, _| Ok::<_, ()>(None))
            .unwrap();
        assert_eq!(snap.kept(), 0);
    }

    #[test]
    fn finishing_a_tree_leaves_the_others_pre_images() {
        let snap = Snapshot::new(3);
        snap.keep([(0, &b"a"[..]), (1, &b"a"[..]), (2, &b"a"[..])], |t, _| {
            Ok::<_, ()>(Some(vec![t as u8]))
        })
        .unwrap();
        assert_eq!(snap.finish(1), vec![(b"a".to_vec(), vec![1])]);
        assert_eq!(snap.kept(), 2);
        assert_eq!(snap.read(0, b"a"), Seen::Before(vec![0]));
        assert_eq!(snap.read(2, b"a"), Seen::Before(vec![2]));
    }
}
