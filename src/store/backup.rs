//! Offline backup and restore of the whole store: every tree, byte for byte, as JSON lines.
//!
//! The file is a header line (`{"rollcall_backup":1,"store_format":N,…}`), one line per entry
//! (`{"t":tree,"k":base64,"v":base64}`), and a last line with the number of entries and the
//! SHA-256 of every byte before it. A backup is the store at the moment it starts, also on a
//! running server, where commits go on while it is read (see [`super::snapshot`]). A restore reads the whole file into a
//! directory beside the target, checks the count and the digest, upgrades an older format,
//! cross-checks every index, and only then moves it into place: a damaged or cut-short file
//! leaves nothing behind.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::frozen::Frozen;
use super::sled::{STORE_FORMAT, TREES, ensure_unheld};
use super::{SledStore, Store, StoreError, StoreOptions};

/// Version of the file layout (not of the store inside it).
const BACKUP_FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a Rollcall backup: {0}")]
    NotABackup(String),
    #[error("backup line {line}: {detail}")]
    Damaged { line: u64, detail: String },
    #[error("the backup is incomplete: it ends before its last line")]
    Truncated,
    #[error("{0} already exists: restore only into a new data directory")]
    Exists(PathBuf),
    /// Indexes or counters that disagree with the records, a finding a line (as `rollcall
    /// check` prints them).
    #[error(
        "the restored store does not check out: its indexes or counters disagree with its \
         records:\n{}",
        .0.join("\n")
    )]
    Inconsistent(Vec<String>),
}

#[derive(Serialize, Deserialize)]
struct Header {
    rollcall_backup: u32,
    store_format: u32,
    version: String,
    #[serde(with = "time::serde::rfc3339")]
    created: time::OffsetDateTime,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    t: String,
    k: String,
    v: String,
}

#[derive(Serialize, Deserialize)]
struct End {
    entries: u64,
    sha256: String,
}

#[derive(Serialize, Deserialize)]
struct Last {
    end: End,
}

/// Writes lines and hashes what it wrote.
struct Hashed<W> {
    out: W,
    hash: Sha256,
}

impl<W: Write> Hashed<W> {
    fn line(&mut self, value: &impl Serialize) -> Result<(), BackupError> {
        let mut bytes = serde_json::to_vec(value).map_err(std::io::Error::from)?;
        bytes.push(b'\n');
        self.hash.update(&bytes);
        self.out.write_all(&bytes)?;
        Ok(())
    }
}

/// Writes a backup of `store` as `frozen` sees it to `out`; returns the number of entries.
pub(super) fn backup(
    store: &SledStore,
    frozen: &Frozen<'_>,
    out: &mut dyn Write,
) -> Result<u64, BackupError> {
    let mut w = Hashed {
        out,
        hash: Sha256::new(),
    };
    w.line(&Header {
        rollcall_backup: BACKUP_FORMAT,
        store_format: STORE_FORMAT,
        version: env!("CARGO_PKG_VERSION").into(),
        created: time::OffsetDateTime::now_utc(),
    })?;
    let mut entries = 0;
    for (index, name) in store.tree_names() {
        for kv in frozen.scan(index) {
            let (k, v) = kv.map_err(|e| StoreError::Engine(e.to_string()))?;
            entries += 1;
            w.line(&Entry {
                t: name.to_string(),
                k: B64.encode(&k),
                v: B64.encode(&v),
            })?;
        }
    }
    let sha256 = hex(&w.hash.clone().finalize());
    let last = serde_json::to_vec(&Last {
        end: End { entries, sha256 },
    })
    .map_err(std::io::Error::from)?;
    w.out.write_all(&last)?;
    w.out.write_all(b"\n")?;
    w.out.flush()?;
    Ok(entries)
}

/// What a restore brought back.
#[derive(Debug)]
pub struct Restored {
    pub entries: u64,
    /// What `rollcall check` will say of the records: references that do not hold, kept as
    /// the directory had them (see [`super::Findings`]).
    pub findings: Vec<String>,
}

/// Restores a backup read from `input` into the new store directory `dir`.
pub fn restore(
    dir: &Path,
    input: &mut dyn BufRead,
    options: &StoreOptions,
) -> Result<Restored, BackupError> {
    // A server's store exists too; that it is in use is what the operator needs to hear.
    ensure_unheld(dir)?;
    if dir.exists() {
        return Err(BackupError::Exists(dir.to_path_buf()));
    }
    let staging = dir.with_extension("restoring");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    let result = restore_into(&staging, input, options);
    match result {
        Ok(restored) => {
            std::fs::rename(&staging, dir)?;
            if let Some(parent) = dir.parent() {
                std::fs::File::open(parent)?.sync_all()?;
            }
            Ok(restored)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

/// Reads lines, hashing each, and knows which line it is on.
struct Lines<'a> {
    input: &'a mut dyn BufRead,
    hash: Sha256,
    number: u64,
}

impl Lines<'_> {
    fn next(&mut self) -> Result<Option<String>, BackupError> {
        let mut line = String::new();
        if self.input.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        self.number += 1;
        if !line.ends_with('\n') {
            return Err(BackupError::Truncated);
        }
        self.hash.update(line.as_bytes());
        Ok(Some(line))
    }

    fn damaged(&self, detail: impl Into<String>) -> BackupError {
        BackupError::Damaged {
            line: self.number,
            detail: detail.into(),
        }
    }
}

/// A tree being restored, written in batches.
struct Pending {
    tree: ::sled::Tree,
    batch: ::sled::Batch,
    len: usize,
}

const BATCH: usize = 10_000;

fn engine(e: ::sled::Error) -> BackupError {
    BackupError::Store(StoreError::Engine(e.to_string()))
}

fn restore_into(
    staging: &Path,
    input: &mut dyn BufRead,
    options: &StoreOptions,
) -> Result<Restored, BackupError> {
    let mut lines = Lines {
        input,
        hash: Sha256::new(),
        number: 0,
    };
    let first = lines.next()?.ok_or(BackupError::Truncated)?;
    let header: Header = serde_json::from_str(&first)
        .map_err(|e| BackupError::NotABackup(format!("first line: {e}")))?;
    if header.rollcall_backup != BACKUP_FORMAT {
        return Err(BackupError::NotABackup(format!(
            "backup format {} (this build reads {BACKUP_FORMAT})",
            header.rollcall_backup
        )));
    }
    if header.store_format == 0 || header.store_format > STORE_FORMAT {
        return Err(StoreError::Format {
            found: header.store_format,
            expected: STORE_FORMAT,
        }
        .into());
    }

    crate::data_dir::private(staging)?;
    let db = ::sled::Config::new()
        .path(staging)
        .cache_capacity(options.cache_capacity_bytes)
        .open()
        .map_err(engine)?;
    let mut trees = std::collections::HashMap::new();
    for (_, name) in TREES {
        let tree = db.open_tree(name).map_err(engine)?;
        trees.insert(
            name,
            Pending {
                tree,
                batch: ::sled::Batch::default(),
                len: 0,
            },
        );
    }
    let mut entries = 0u64;
    let (end, digest) = loop {
        let before = lines.hash.clone();
        let line = lines.next()?.ok_or(BackupError::Truncated)?;
        if let Ok(last) = serde_json::from_str::<Last>(&line) {
            break (last.end, hex(&before.finalize()));
        }
        let entry: Entry =
            serde_json::from_str(&line).map_err(|e| lines.damaged(format!("not an entry: {e}")))?;
        let pending = trees
            .get_mut(entry.t.as_str())
            .ok_or_else(|| lines.damaged(format!("unknown tree {:?}", entry.t)))?;
        let k = B64
            .decode(&entry.k)
            .map_err(|e| lines.damaged(format!("key: {e}")))?;
        let v = B64
            .decode(&entry.v)
            .map_err(|e| lines.damaged(format!("value: {e}")))?;
        pending.batch.insert(k, v);
        pending.len += 1;
        entries += 1;
        if pending.len == BATCH {
            pending
                .tree
                .apply_batch(std::mem::take(&mut pending.batch))
                .map_err(engine)?;
            pending.len = 0;
        }
    };
    if lines.next()?.is_some() {
        return Err(lines.damaged("lines after the last line"));
    }
    if end.entries != entries || end.sha256 != digest {
        return Err(lines.damaged(format!(
            "the file does not match its last line ({entries} entries read, {} announced; \
             digest {})",
            end.entries,
            if end.sha256 == digest {
                "matches"
            } else {
                "differs"
            }
        )));
    }
    for pending in trees.into_values() {
        pending.tree.apply_batch(pending.batch).map_err(engine)?;
    }
    db.insert("store_format", &header.store_format.to_be_bytes())
        .map_err(engine)?;
    db.flush().map_err(engine)?;
    drop(db);

    // Opening upgrades an older format; the cross-check proves indexes and counters agree.
    let store = SledStore::open(staging, options)?;
    let findings = store.findings()?;
    if !findings.indexes.is_empty() {
        return Err(BackupError::Inconsistent(findings.indexes));
    }
    store.flush()?;
    Ok(Restored {
        entries,
        findings: findings.references,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restore_text(text: &str) -> Result<Restored, BackupError> {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("store");
        let result = restore(&target, &mut text.as_bytes(), &StoreOptions::default());
        assert!(result.is_ok() || !target.exists(), "nothing left behind");
        assert!(!dir.path().join("store.restoring").exists());
        result
    }

    #[test]
    fn refuses_what_is_not_a_backup_it_can_read() {
        assert!(matches!(restore_text(""), Err(BackupError::Truncated)));
        assert!(matches!(
            restore_text("hello\n"),
            Err(BackupError::NotABackup(_))
        ));
        let header = |backup: u32, store: u32| {
            format!(
                "{{\"rollcall_backup\":{backup},\"store_format\":{store},\"version\":\"0\",\"created\":\"2026-01-01T00:00:00Z\"}}\n"
            )
        };
        assert!(matches!(
            restore_text(&header(2, STORE_FORMAT)),
            Err(BackupError::NotABackup(_))
        ));
        assert!(matches!(
            restore_text(&header(1, STORE_FORMAT + 1)),
            Err(BackupError::Store(StoreError::Format { .. }))
        ));
        let unknown_tree = header(1, STORE_FORMAT) + "{\"t\":\"nope\",\"k\":\"\",\"v\":\"\"}\n";
        assert!(matches!(
            restore_text(&unknown_tree),
            Err(BackupError::Damaged { line: 2, .. })
        ));
    }

    #[test]
    fn round_trips_an_empty_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(&dir.path().join("a"), &StoreOptions::default()).unwrap();
        let mut out = Vec::new();
        assert_eq!(store.backup(&mut out).unwrap(), 0);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(restore_text(&text).unwrap().entries, 0);
    }
}
