//! One moment of the store for a reader that reads it while commits go on: a backup, or the
//! cross-check of `rollcall check`.
//!
//! sled 0.34 has no snapshots, and stopping every commit for as long as such a reader takes on
//! a large directory would stall provisioning (an identity provider's requests time out).
//! Instead, from the moment the reader starts, a commit first keeps the value each key it is
//! about to change held at that moment (its *pre-image*). The reader reads the live trees and,
//! for a key with a kept pre-image, takes that pre-image instead (or nothing, for a key created
//! since); a scan of a tree ends with the kept pre-images of keys it did not meet (removed
//! since). Every value read is thus as it was at the start, whatever commits did meanwhile.
//!
//! Commits are applied one batch at a time (see [`super::combine`]), and a key is kept before
//! the batch that changes it is applied, so a key not kept yet still holds its value from the
//! start. A reader reads the live value first and looks for a pre-image after: if none was
//! kept by then, the live value it read was still the one from the start.
//!
//! A backup scans each tree once, so a key its scan has passed need not be kept, and a
//! pre-image it has used can go: memory grows with the keys changed ahead of the scan. A check
//! also reads single keys and scans some trees twice, so its snapshot keeps every pre-image
//! until it ends: memory grows with the keys changed while it runs.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

/// How far the running scan of a tree has read.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Cursor {
    NotStarted,
    /// Every key up to and including this one has been read.
    At(Vec<u8>),
    Done,
}

impl Cursor {
    /// Whether the scan is yet to read `key`.
    fn ahead_of(&self, key: &[u8]) -> bool {
        match self {
            Cursor::NotStarted => true,
            Cursor::At(last) => key > last.as_slice(),
            Cursor::Done => false,
        }
    }
}

/// What a reader keeps of a key commits changed.
#[derive(Debug)]
struct Kept {
    /// The value at the start; `None` for a key that did not exist then.
    before: Option<Vec<u8>>,
    /// The running scan of its tree has read it (or passed it), so the end of the scan must
    /// not add it again.
    met: bool,
}

struct State {
    cursors: Vec<Cursor>,
    kept: BTreeMap<(usize, Vec<u8>), Kept>,
    /// Pre-images kept in all, for the log.
    total: u64,
}

/// Which reader a snapshot serves (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reader {
    /// Each tree scanned once, no single-key reads.
    Backup,
    /// Single-key reads and repeated scans.
    Check,
}

/// The pre-images a running reader needs.
pub struct Snapshot {
    reader: Reader,
    state: Mutex<State>,
}

/// What the reader takes for a key a scan met.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// The key is unchanged since the start: the value read.
    Live,
    /// The key changed since the start: this value instead.
    Before(Vec<u8>),
    /// The key was created since the start: nothing.
    Absent,
}

impl Snapshot {
    pub fn new(trees: usize, reader: Reader) -> Self {
        Self {
            reader,
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

    /// Called by a commit before it changes `keys`: keeps, for each key that has no pre-image
    /// yet (and, for a backup, that its scan is yet to read), what `current` says it holds now.
    pub fn keep<'k, E>(
        &self,
        keys: impl IntoIterator<Item = (usize, &'k [u8])>,
        current: impl Fn(usize, &[u8]) -> Result<Option<Vec<u8>>, E>,
    ) -> Result<(), E> {
        let mut state = self.lock();
        for (tree, key) in keys {
            let ahead = state.cursors[tree].ahead_of(key);
            if self.reader == Reader::Backup && !ahead {
                continue;
            }
            let slot = (tree, key.to_vec());
            if state.kept.contains_key(&slot) {
                continue;
            }
            let before = current(tree, key)?;
            state.kept.insert(
                slot,
                Kept {
                    before,
                    met: !ahead,
                },
            );
            state.total += 1;
        }
        Ok(())
    }

    /// Called before a scan of `tree` reads its first key.
    pub fn begin(&self, tree: usize) {
        let mut state = self.lock();
        state.cursors[tree] = Cursor::NotStarted;
        for (_, kept) in state
            .kept
            .range_mut((tree, Vec::new())..(tree + 1, Vec::new()))
        {
            kept.met = false;
        }
    }

    /// Called by a scan for each key it reads from `tree`, in key order, after reading it.
    pub fn read(&self, tree: usize, key: &[u8]) -> Seen {
        let mut state = self.lock();
        state.cursors[tree] = Cursor::At(key.to_vec());
        let slot = (tree, key.to_vec());
        let before = match self.reader {
            Reader::Backup => state.kept.remove(&slot).map(|k| k.before),
            Reader::Check => state.kept.get_mut(&slot).map(|k| {
                k.met = true;
                k.before.clone()
            }),
        };
        match before {
            None => Seen::Live,
            Some(Some(before)) => Seen::Before(before),
            Some(None) => Seen::Absent,
        }
    }

    /// Called by a scan once it has read all of `tree`: the keys it did not meet because they
    /// were removed since the start, with their values, in key order.
    pub fn finish(&self, tree: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut state = self.lock();
        state.cursors[tree] = Cursor::Done;
        let range = (tree, Vec::new())..(tree + 1, Vec::new());
        match self.reader {
            Reader::Backup => {
                let keys: Vec<_> = state.kept.range(range).map(|(k, _)| k.clone()).collect();
                keys.into_iter()
                    .filter_map(|slot| {
                        let kept = state.kept.remove(&slot)?;
                        Some((slot.1, kept.before?))
                    })
                    .collect()
            }
            Reader::Check => state
                .kept
                .range_mut(range)
                .filter(|(_, kept)| !kept.met)
                .filter_map(|((_, key), kept)| {
                    kept.met = true;
                    Some((key.clone(), kept.before.clone()?))
                })
                .collect(),
        }
    }

    /// A single key's value at the start, given `live`, what the tree held when read just
    /// before. For a check.
    pub fn get(&self, tree: usize, key: &[u8], live: Option<Vec<u8>>) -> Option<Vec<u8>> {
        match self.lock().kept.get(&(tree, key.to_vec())) {
            Some(kept) => kept.before.clone(),
            None => live,
        }
    }

    /// Pre-images held now.
    #[cfg(test)]
    fn kept(&self) -> usize {
        self.lock().kept.len()
    }

    /// Pre-images kept since the start: how many keys commits changed under the reader.
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
        let snap = Snapshot::new(2, Reader::Backup);
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
        let snap = Snapshot::new(3, Reader::Backup);
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
