//! The store as a [`Snapshot`] sees it: live reads of the trees, corrected by the pre-images
//! commits kept since the reader started. What backups and checks read through.

use sled::Tree;

use super::snapshot::{Seen, Snapshot};

/// Reads of one moment over `trees` (indexed as the snapshot knows them).
pub struct Frozen<'a> {
    trees: &'a [Tree],
    snapshot: &'a Snapshot,
}

impl<'a> Frozen<'a> {
    pub fn new(trees: &'a [Tree], snapshot: &'a Snapshot) -> Self {
        Self { trees, snapshot }
    }

    /// One key as it was at the start.
    pub fn get(&self, tree: usize, key: &[u8]) -> Result<Option<Vec<u8>>, sled::Error> {
        // Live first, then the pre-image (see `snapshot`).
        let live = self.trees[tree].get(key)?.map(|v| v.to_vec());
        Ok(self.snapshot.get(tree, key, live))
    }

    /// Every entry of a tree as it was at the start: in key order, then the entries removed
    /// since.
    pub fn scan(&self, tree: usize) -> Scan<'a> {
        self.snapshot.begin(tree);
        Scan {
            tree,
            live: self.trees[tree].iter(),
            snapshot: self.snapshot,
            removed: None,
        }
    }
}

pub struct Scan<'a> {
    tree: usize,
    live: sled::Iter,
    snapshot: &'a Snapshot,
    /// Once the live entries are read: those removed since the start.
    removed: Option<std::vec::IntoIter<(Vec<u8>, Vec<u8>)>>,
}

impl Iterator for Scan<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>), sled::Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.removed.is_none() {
            for entry in self.live.by_ref() {
                let (k, v) = match entry {
                    Ok(kv) => kv,
                    Err(e) => return Some(Err(e)),
                };
                match self.snapshot.read(self.tree, &k) {
                    Seen::Live => return Some(Ok((k.to_vec(), v.to_vec()))),
                    Seen::Before(before) => return Some(Ok((k.to_vec(), before))),
                    Seen::Absent => {}
                }
            }
            self.removed = Some(self.snapshot.finish(self.tree).into_iter());
        }
        self.removed.as_mut()?.next().map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::snapshot::Reader;
    use std::collections::BTreeMap;

    /// A commit as the store makes one: pre-images kept first, then the change applied.
    fn commit(tree: &Tree, snapshot: &Snapshot, key: &[u8], value: Option<&[u8]>) {
        snapshot
            .keep([(0, key)], |_, k| {
                tree.get(k).map(|v| v.map(|v| v.to_vec()))
            })
            .unwrap();
        match value {
            Some(v) => tree.insert(key, v).unwrap(),
            None => tree.remove(key).unwrap(),
        };
    }

    /// A tree holding a=1, c=2, e=3 (and the database it lives in, which must outlive it).
    fn three_keys() -> (sled::Db, Tree) {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("t").unwrap();
        for (k, v) in [("a", "1"), ("c", "2"), ("e", "3")] {
            tree.insert(k, v).unwrap();
        }
        (db, tree)
    }

    /// With a scan of [`three_keys`] that has read `a`: removes `a` (behind the scan) and `e`
    /// (ahead of it); the rest of the scan is still the start.
    #[track_caller]
    fn removing_around_it_leaves_the_start(tree: &Tree, snapshot: &Snapshot, scan: Scan<'_>) {
        commit(tree, snapshot, b"a", None);
        commit(tree, snapshot, b"e", None);
        let rest: Vec<_> = scan.map(Result::unwrap).collect();
        assert_eq!(
            rest,
            vec![
                (b"c".to_vec(), b"2".to_vec()),
                (b"e".to_vec(), b"3".to_vec())
            ]
        );
    }

    fn all(frozen: &Frozen<'_>) -> BTreeMap<Vec<u8>, Vec<u8>> {
        frozen.scan(0).map(Result::unwrap).collect()
    }

    /// A check scans a tree twice and reads single keys between commits: every read is the
    /// start.
    #[test]
    fn a_check_reads_the_start_in_scans_and_single_keys() {
        let (_db, tree) = three_keys();
        let start: BTreeMap<Vec<u8>, Vec<u8>> = tree
            .iter()
            .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
            .collect();
        let trees = [tree.clone()];
        let snapshot = Snapshot::new(1, Reader::Check);
        let frozen = Frozen::new(&trees, &snapshot);

        commit(&tree, &snapshot, b"c", Some(b"changed"));
        commit(&tree, &snapshot, b"b", Some(b"new"));
        let mut scan = frozen.scan(0);
        assert_eq!(scan.next().unwrap().unwrap().0, b"a");
        removing_around_it_leaves_the_start(&tree, &snapshot, scan);
        assert_eq!(frozen.get(0, b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(frozen.get(0, b"b").unwrap(), None);
        assert_eq!(frozen.get(0, b"c").unwrap(), Some(b"2".to_vec()));
        commit(&tree, &snapshot, b"a", Some(b"again"));
        commit(&tree, &snapshot, b"f", Some(b"later"));
        assert_eq!(all(&frozen), start, "a second scan sees the start too");
        assert_eq!(all(&frozen), start, "and a third");
        assert_eq!(snapshot.total(), 5);
    }

    /// A backup forgets what it has used; what it writes is still the start.
    #[test]
    fn a_backup_scan_sees_the_start_and_lets_go_of_pre_images() {
        let (_db, tree) = three_keys();
        let trees = [tree.clone()];
        let snapshot = Snapshot::new(1, Reader::Backup);
        let frozen = Frozen::new(&trees, &snapshot);
        commit(&tree, &snapshot, b"c", Some(b"changed"));
        let mut scan = frozen.scan(0);
        assert_eq!(
            scan.next().unwrap().unwrap(),
            (b"a".to_vec(), b"1".to_vec())
        );
        removing_around_it_leaves_the_start(&tree, &snapshot, scan);
        assert_eq!(snapshot.total(), 2, "the key behind the scan was not kept");
    }
}
