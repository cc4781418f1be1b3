//! The embedded engine: one sled tree per entity and per index, all written through multi-tree
//! transactions, made durable by a shared group-commit flusher.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ::sled::transaction::{
    ConflictableTransactionError, TransactionError, Transactional, TransactionalTree,
};
use ::sled::{Db, IVec, Tree};

use std::sync::Arc;

use super::cache::RecordCache;
use super::codec::{decode, encode};
use super::combine::{Combiner, Outcome};
use super::commit::GroupCommit;
use super::frozen::Frozen;
use super::references::{Drift, References, UserIndexEntry};
use super::snapshot::{Reader, Snapshot};
use super::{Findings, Iter, Store, StoreError, TxError, Txn, UserKey};
use crate::audit::AuditEvent;
use crate::auth::lockout::LoginState;
use crate::auth::session::Session;
use crate::model::{Account, AccountId, LicenseType, Role, RoleId, User, UserId, fold, fold_words};
use crate::outbox::OutboxMessage;
use crate::token::{ApiToken, OneTimeLink, SecretDigest};

/// Layout version of the data directory as a whole (tree names and key shapes). Format 2 added
/// the indexes of the audit trail by target and of the outbox by user; format 3 folds
/// compatibility forms in names and addresses (see [`fold`]); format 4 added the index of users
/// by employee number. An older directory is upgraded in place on open (see [`upgrade`]); an
/// older binary refuses a newer one.
pub(super) const STORE_FORMAT: u32 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum T {
    Users,
    UserNames,
    UserExternal,
    UserEmail,
    UserManager,
    UserAccount,
    RoleMembers,
    Roles,
    RoleNames,
    Accounts,
    AccountNames,
    AccountChildren,
    Seats,
    AccountRefs,
    Outbox,
    Audit,
    Tokens,
    Links,
    Meta,
    LoginStates,
    Sessions,
    AuditTargets,
    OutboxUsers,
    UserEmployeeNumber,
}

pub(super) const TREES: [(T, &str); 24] = [
    (T::Users, "users"),
    (T::UserNames, "idx_user_name"),
    (T::UserExternal, "idx_user_external_id"),
    (T::UserEmail, "idx_user_email"),
    (T::UserManager, "idx_user_manager"),
    (T::UserAccount, "idx_user_account"),
    (T::RoleMembers, "idx_role_members"),
    (T::Roles, "roles"),
    (T::RoleNames, "idx_role_name"),
    (T::Accounts, "accounts"),
    (T::AccountNames, "idx_account_name"),
    (T::AccountChildren, "idx_account_children"),
    (T::Seats, "license_seats"),
    (T::AccountRefs, "account_refs"),
    (T::Outbox, "outbox"),
    (T::Audit, "audit"),
    (T::Tokens, "api_tokens"),
    (T::Links, "one_time_links"),
    (T::Meta, "meta"),
    (T::LoginStates, "login_state"),
    (T::Sessions, "sessions"),
    (T::AuditTargets, "idx_audit_target"),
    (T::OutboxUsers, "idx_outbox_user"),
    (T::UserEmployeeNumber, "idx_user_employee_number"),
];

fn tree_name(t: T) -> &'static str {
    TREES[t as usize].1
}

/// Tuning for the embedded engine.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub cache_capacity_bytes: u64,
    /// Decoded user records kept for point reads (zero: none).
    pub user_cache_entries: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            cache_capacity_bytes: 512 * 1024 * 1024,
            user_cache_entries: 100_000,
        }
    }
}

pub struct SledStore {
    db: Db,
    trees: Vec<Tree>,
    commit: GroupCommit,
    /// Bumped after every commit that changes a user, role or account record; see
    /// [`Store::generation`].
    generation: std::sync::atomic::AtomicU64,
    /// sled's data file, fsynced after every flush (see `open`).
    data_file: std::sync::Arc<std::fs::File>,
    users: RecordCache<UserId, Arc<User>>,
    /// Folded userName → id.
    user_names: RecordCache<Vec<u8>, UserId>,
    /// Every SCIM request presents its API token.
    tokens: RecordCache<SecretDigest, Arc<ApiToken>>,
    batches: Combiner<WriteSet>,
    /// Commits hold it shared; a backup or a check holds it alone only to start its snapshot,
    /// so that no commit is half applied at that moment.
    commit_barrier: std::sync::RwLock<()>,
    /// The snapshots of running backups and checks, which every commit keeps pre-images for.
    readers: std::sync::Mutex<Vec<Arc<Snapshot>>>,
    /// Write transactions acknowledged as durable.
    commits: std::sync::atomic::AtomicU64,
}

fn engine(e: impl std::fmt::Display) -> StoreError {
    StoreError::Engine(e.to_string())
}

/// Durable before anything is written under it.
fn set_format(db: &Db) -> Result<(), StoreError> {
    db.insert("store_format", &STORE_FORMAT.to_be_bytes())
        .map_err(engine)?;
    db.flush().map_err(engine)?;
    Ok(())
}

/// Brings a directory of format `from` to [`STORE_FORMAT`], step after step. Every step is
/// idempotent and the format moves only once the last one is flushed ([`set_format`]), so an
/// upgrade cut short (a crash, a refusal) runs again from `from` on the next open, and no index
/// is ever marked done half built.
fn upgrade(trees: &[Tree], from: u32) -> Result<(), StoreError> {
    if from < 2 {
        index_records(trees, T::Audit, T::AuditTargets, audit_target_key)?;
        index_records(trees, T::Outbox, T::OutboxUsers, outbox_user_key)?;
    }
    if from < 3 {
        refold(trees)?;
    }
    if from < 4 {
        // Emptied first: nothing but this step writes the tree before format 4.
        trees[T::UserEmployeeNumber as usize]
            .clear()
            .map_err(engine)?;
        index_records(trees, T::Users, T::UserEmployeeNumber, employee_number_key)?;
    }
    Ok(())
}

/// Indexes the existing records of `records` into `index` (format 1 → 2, 3 → 4). Idempotent, so
/// an upgrade cut short simply runs again on the next open.
fn index_records<V: serde::de::DeserializeOwned>(
    trees: &[Tree],
    records: T,
    index: T,
    key_of: fn(&V) -> Option<Vec<u8>>,
) -> Result<(), StoreError> {
    let index = &trees[index as usize];
    let mut batch = ::sled::Batch::default();
    let mut pending = 0;
    for kv in trees[records as usize].iter() {
        let (_, v) = kv.map_err(engine)?;
        let record: V = decode(tree_name(records), &v)?;
        if let Some(key) = key_of(&record) {
            batch.insert(key, &[]);
            pending += 1;
        }
        if pending == 10_000 {
            index
                .apply_batch(std::mem::take(&mut batch))
                .map_err(engine)?;
            pending = 0;
        }
    }
    index.apply_batch(batch).map_err(engine)?;
    index.flush().map_err(engine)?;
    Ok(())
}

/// Format 2 → 3: moves the index keys of names, addresses and audit targets from the fold
/// before compatibility forms were folded to [`fold`]. Only text that is not already in
/// normal form has a new key, so on a directory of plain names nothing is written.
/// Idempotent, like [`index_records`]. Two names that the new fold makes one (a look-alike,
/// which the new fold exists to refuse) stop it before anything is written, naming them: one
/// of the two would be unreachable by its name.
fn refold(trees: &[Tree]) -> Result<(), StoreError> {
    use crate::model::fold_before_nfkc;
    let tree = |t: T| &trees[t as usize];
    look_alikes(trees)?;
    let move_name = |t: T, name: &str, id: &[u8; 16]| -> Result<(), StoreError> {
        let (old, new) = (fold_before_nfkc(name), fold(name));
        if old == new {
            return Ok(());
        }
        let names = tree(t);
        if names.get(old.as_bytes()).map_err(engine)?.as_deref() == Some(id.as_slice()) {
            names.remove(old.as_bytes()).map_err(engine)?;
        }
        names
            .insert(new.as_bytes(), id.as_slice())
            .map_err(engine)?;
        Ok(())
    };
    let move_entry = |t: T, text: &str, id: &[u8; 16]| -> Result<(), StoreError> {
        let (old, new) = (
            text_key(&fold_before_nfkc(text), id),
            text_key(&fold(text), id),
        );
        if old != new {
            tree(t).remove(old).map_err(engine)?;
            tree(t).insert(new, &[]).map_err(engine)?;
        }
        Ok(())
    };
    for kv in tree(T::Users).iter() {
        let (_, v) = kv.map_err(engine)?;
        let user: User = decode(tree_name(T::Users), &v)?;
        if user.anonymised {
            continue;
        }
        move_name(T::UserNames, &user.user_name, user.id.as_bytes())?;
        for email in &user.emails {
            move_entry(T::UserEmail, &email.value, user.id.as_bytes())?;
        }
    }
    for kv in tree(T::Roles).iter() {
        let (_, v) = kv.map_err(engine)?;
        let role: Role = decode(tree_name(T::Roles), &v)?;
        move_name(T::RoleNames, &role.name, role.id.as_bytes())?;
    }
    for kv in tree(T::Accounts).iter() {
        let (_, v) = kv.map_err(engine)?;
        let account: Account = decode(tree_name(T::Accounts), &v)?;
        move_name(T::AccountNames, &account.name, account.id.as_bytes())?;
    }
    for kv in tree(T::Audit).iter() {
        let (_, v) = kv.map_err(engine)?;
        let event: AuditEvent = decode(tree_name(T::Audit), &v)?;
        if let Some(target) = &event.target {
            move_entry(T::AuditTargets, target, event.id.as_bytes())?;
        }
    }
    for t in [
        T::UserNames,
        T::UserEmail,
        T::RoleNames,
        T::AccountNames,
        T::AuditTargets,
    ] {
        tree(t).flush().map_err(engine)?;
    }
    Ok(())
}

/// Pairs of names (users, roles, accounts) that [`fold`] makes one, as [`StoreError::LookAlikes`].
fn look_alikes(trees: &[Tree]) -> Result<(), StoreError> {
    fn names_of<V: serde::de::DeserializeOwned>(
        tree: &Tree,
        t: T,
        name: fn(&V) -> Option<&str>,
        out: &mut BTreeMap<(u8, String), Vec<String>>,
    ) -> Result<(), StoreError> {
        for kv in tree.iter() {
            let (_, v) = kv.map_err(engine)?;
            let record: V = decode(tree_name(t), &v)?;
            if let Some(name) = name(&record) {
                out.entry((t as u8, fold(name)))
                    .or_default()
                    .push(name.to_string());
            }
        }
        Ok(())
    }
    let mut seen = BTreeMap::new();
    let tree = |t: T| &trees[t as usize];
    names_of::<User>(
        tree(T::Users),
        T::Users,
        |u| (!u.anonymised).then_some(u.user_name.as_str()),
        &mut seen,
    )?;
    names_of::<Role>(
        tree(T::Roles),
        T::Roles,
        |r| Some(r.name.as_str()),
        &mut seen,
    )?;
    names_of::<Account>(
        tree(T::Accounts),
        T::Accounts,
        |a| Some(a.name.as_str()),
        &mut seen,
    )?;
    let pairs: Vec<String> = seen
        .into_values()
        .filter(|names| names.len() > 1)
        .map(|names| {
            names
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(" and ")
        })
        .collect();
    if pairs.is_empty() {
        Ok(())
    } else {
        Err(StoreError::LookAlikes(pairs.join("; ")))
    }
}

/// Targets are ids or, for refusals, names as sent: folded, so any spelling finds them.
fn audit_target_key(event: &AuditEvent) -> Option<Vec<u8>> {
    let target = event.target.as_deref()?;
    Some(text_key(&fold(target), event.id.as_bytes()))
}

/// Folded so that one key serves SCIM's `caseExact: false` and LDAP's caseIgnoreMatch alike
/// (see [`fold_words`]); anonymised users are in no index.
fn employee_number_key(user: &User) -> Option<Vec<u8>> {
    let number = user
        .employee_number
        .as_deref()
        .filter(|_| !user.anonymised)?;
    Some(text_key(&fold_words(number), user.id.as_bytes()))
}

fn outbox_user_key(message: &OutboxMessage) -> Option<Vec<u8>> {
    Some(pair_key(message.user?.as_bytes(), message.id.as_bytes()))
}

/// Opens the engine's database. Its lock is held by another process while that one runs; but
/// also, for a moment, by this process's engine I/O threads after a handle to the same store
/// was dropped (a restore reopens the store it has just written; so do tests). So a lock
/// refusal is tried again for up to [`LOCK_PATIENCE`] before it counts as "in use".
fn open_engine(dir: &Path, options: &StoreOptions) -> Result<::sled::Db, StoreError> {
    crate::data_dir::private(dir).map_err(engine)?;
    let deadline = std::time::Instant::now() + LOCK_PATIENCE;
    loop {
        let opened = ::sled::Config::new()
            .path(dir)
            .cache_capacity(options.cache_capacity_bytes)
            .flush_every_ms(Some(1000))
            .mode(::sled::Mode::HighThroughput)
            .open();
        match opened {
            Ok(db) => return Ok(db),
            Err(e) if e.to_string().contains("could not acquire lock") => {
                if std::time::Instant::now() >= deadline {
                    return Err(StoreError::Locked(dir.display().to_string()));
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(engine(e.to_string())),
        }
    }
}

/// How long a held store lock is waited for (see [`open_engine`]).
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(1);

/// Refuses the store in `dir` while another process holds its engine's lock (a running
/// server), as [`open_engine`] does, without opening (and perhaps upgrading) it: for commands
/// that must not open it at all, such as a restore, which would otherwise only say that the
/// store exists. No store there is nobody's.
pub(super) fn ensure_unheld(dir: &Path) -> Result<(), StoreError> {
    // The file the engine locks (`sled::Config::open`).
    let file = match std::fs::File::open(dir.join("db")) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(engine(e)),
    };
    let deadline = std::time::Instant::now() + LOCK_PATIENCE;
    loop {
        // Taken and let go at once (when `file` is dropped): only whether it is free matters.
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) => {
                if std::time::Instant::now() >= deadline {
                    return Err(StoreError::Locked(dir.display().to_string()));
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(engine(e)),
        }
    }
}

impl SledStore {
    pub fn open(dir: &Path, options: &StoreOptions) -> Result<Self, StoreError> {
        let db = open_engine(dir, options)?;
        let trees = TREES
            .iter()
            .map(|(_, name)| db.open_tree(name).map_err(engine))
            .collect::<Result<Vec<_>, _>>()?;
        match db.get("store_format").map_err(engine)? {
            None => set_format(&db)?,
            Some(v) => match u32::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 4])) {
                STORE_FORMAT => {}
                found @ 1..STORE_FORMAT => {
                    upgrade(&trees, found)?;
                    set_format(&db)?;
                }
                found => {
                    return Err(StoreError::Format {
                        found,
                        expected: STORE_FORMAT,
                    });
                }
            },
        }
        let flush_db = db.clone();
        // sled's flush on Linux ends with sync_file_range, which neither flushes the device's
        // write cache nor the file's metadata; it fsyncs only from its own background thread,
        // once a second. An fsync of the data file (any descriptor of it will do) after each
        // flush makes an acknowledged write survive a power loss, not just a crash.
        let data_file = std::sync::Arc::new(std::fs::File::open(dir.join("db")).map_err(engine)?);
        let synced = std::sync::Arc::clone(&data_file);
        let commit = GroupCommit::start(move || {
            flush_db.flush().map(drop).map_err(|e| e.to_string())?;
            synced.sync_all().map_err(|e| e.to_string())
        });
        Ok(Self {
            db,
            trees,
            commit,
            generation: std::sync::atomic::AtomicU64::new(0),
            data_file,
            users: RecordCache::new(options.user_cache_entries),
            user_names: RecordCache::new(options.user_cache_entries),
            tokens: RecordCache::new(1024),
            batches: Combiner::default(),
            commit_barrier: std::sync::RwLock::new(()),
            readers: std::sync::Mutex::new(Vec::new()),
            commits: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Every tree's index (as a [`Snapshot`] knows it) and name, for a byte-for-byte backup.
    pub(super) fn tree_names(&self) -> impl Iterator<Item = (usize, &'static str)> {
        TREES.iter().map(|(t, name)| (*t as usize, *name))
    }

    fn lock_readers(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Snapshot>>> {
        self.readers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts a snapshot of this moment for `reader`; commits go on, and it ends when the
    /// returned guard is dropped.
    fn start_reading(&self, reader: Reader) -> Reading<'_> {
        // No batch is being applied while the snapshot starts: every batch after it keeps its
        // pre-images.
        let _alone = self
            .commit_barrier
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let snapshot = Arc::new(Snapshot::new(self.trees.len(), reader));
        self.lock_readers().push(Arc::clone(&snapshot));
        Reading {
            store: self,
            snapshot,
        }
    }

    fn tree(&self, t: T) -> &Tree {
        &self.trees[t as usize]
    }

    fn get<V: serde::de::DeserializeOwned>(
        &self,
        t: T,
        key: &[u8],
    ) -> Result<Option<V>, StoreError> {
        self.tree(t)
            .get(key)
            .map_err(engine)?
            .map(|v| decode(tree_name(t), &v))
            .transpose()
    }

    fn id_at<I>(
        &self,
        t: T,
        key: &[u8],
        from: fn(&[u8]) -> Option<I>,
    ) -> Result<Option<I>, StoreError> {
        Ok(self
            .tree(t)
            .get(key)
            .map_err(engine)?
            .and_then(|v| from(&v)))
    }

    fn records<V: serde::de::DeserializeOwned + 'static>(&self, t: T) -> Iter<'_, V> {
        Box::new(self.tree(t).iter().values().map(move |v| {
            let v = v.map_err(engine)?;
            decode(tree_name(t), &v)
        }))
    }

    /// Records of a tree keyed by the digest of a secret, with their keys.
    fn by_digest<V: serde::de::DeserializeOwned + 'static>(
        &self,
        t: T,
    ) -> Iter<'_, (SecretDigest, V)> {
        Box::new(self.tree(t).iter().map(move |kv| {
            let (k, v) = kv.map_err(engine)?;
            let digest: SecretDigest = k.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                tree: tree_name(t),
                detail: "key is not a digest".into(),
            })?;
            Ok((digest, decode(tree_name(t), &v)?))
        }))
    }

    /// Ids stored as the last 16 bytes of index keys under `prefix`.
    fn ids_under(&self, t: T, prefix: &[u8]) -> Result<Vec<UserId>, StoreError> {
        Ok(self
            .suffixes_under(t, prefix)?
            .iter()
            .filter_map(|id| UserId::from_slice(id))
            .collect())
    }

    /// The last 16 bytes (an id) of every index key under `prefix`.
    fn suffixes_under(&self, t: T, prefix: &[u8]) -> Result<Vec<[u8; 16]>, StoreError> {
        self.tree(t)
            .scan_prefix(prefix)
            .keys()
            .map(|k| {
                let k = k.map_err(engine)?;
                k.len()
                    .checked_sub(16)
                    .and_then(|start| <[u8; 16]>::try_from(&k[start..]).ok())
                    .ok_or_else(|| StoreError::Corrupt {
                        tree: tree_name(t),
                        detail: "index key without id".into(),
                    })
            })
            .collect()
    }
}

/// What a transaction body read and wants written, handed to whichever writer applies the
/// batch it joins.
struct WriteSet {
    /// What each key held when first read: it must still hold that at commit.
    reads: BTreeMap<(T, Vec<u8>), Option<IVec>>,
    /// `None` removes.
    writes: BTreeMap<(T, Vec<u8>), Option<Vec<u8>>>,
    /// Counter changes, applied to whatever the counter holds at commit.
    deltas: BTreeMap<(T, Vec<u8>), i64>,
    /// Counters that must still be below these values at commit.
    bounds: BTreeMap<(T, Vec<u8>), u64>,
}

type View = Vec<TransactionalTree>;
type ViewResult<V> = Result<V, ConflictableTransactionError<Stale>>;

impl WriteSet {
    /// Whether everything the body relied on still holds in `view` (committed data plus the
    /// sets applied before this one in the batch).
    fn holds(&self, view: &View) -> ViewResult<bool> {
        for ((t, key), seen) in &self.reads {
            if view[*t as usize].get(key)?.as_deref() != seen.as_deref() {
                return Ok(false);
            }
        }
        for ((t, key), bound) in &self.bounds {
            if read_u64(view[*t as usize].get(key)?) >= *bound {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn apply_to(&self, view: &View) -> ViewResult<()> {
        for ((t, key), value) in &self.writes {
            let tree = &view[*t as usize];
            match value {
                Some(v) => tree.insert(key.as_slice(), v.as_slice())?,
                None => tree.remove(key.as_slice())?,
            };
        }
        for ((t, key), delta) in &self.deltas {
            let tree = &view[*t as usize];
            let current = read_u64(tree.get(key)?);
            // Validation guarantees a consistent read set; a negative counter would mean a
            // record disagreed with its counter, which `verify` reports.
            let next = current.saturating_add_signed(*delta);
            tree.insert(key.as_slice(), &next.to_be_bytes())?;
        }
        Ok(())
    }
}

impl SledStore {
    /// Applies a batch of write sets as one engine transaction, in order: a set whose reads
    /// changed (by a commit before the batch or by an earlier set in it) is left out and
    /// reported stale, the others commit together.
    fn apply_batch(&self, sets: Vec<WriteSet>) -> Vec<Outcome> {
        let trees: &[Tree] = &self.trees;
        let readers = self.lock_readers().clone();
        for snapshot in readers {
            let keys = sets
                .iter()
                .flat_map(|set| set.writes.keys().chain(set.deltas.keys()))
                .map(|(t, key)| (*t as usize, key.as_slice()));
            let kept = snapshot.keep(keys, |t, key| {
                trees[t].get(key).map(|value| value.map(|v| v.to_vec()))
            });
            if let Err(e) = kept {
                let e = engine(e);
                return sets.iter().map(|_| Err(e.clone())).collect();
            }
        }
        let result = Transactional::<Stale>::transaction(trees, |view: &View| {
            let mut committed = Vec::with_capacity(sets.len());
            for set in &sets {
                let holds = set.holds(view)?;
                if holds {
                    set.apply_to(view)?;
                }
                committed.push(holds);
            }
            Ok(committed)
        });
        match result {
            Ok(committed) => {
                for (set, _) in sets.iter().zip(&committed).filter(|(_, c)| **c) {
                    self.after_commit(set);
                }
                committed.into_iter().map(Ok).collect()
            }
            Err(TransactionError::Abort(Stale)) => sets.iter().map(|_| Ok(false)).collect(),
            Err(TransactionError::Storage(e)) => {
                let e = engine(e);
                sets.iter().map(|_| Err(e.clone())).collect()
            }
        }
    }

    /// Keeps the caches and the generation in step with a committed set.
    fn after_commit(&self, set: &WriteSet) {
        for (t, key) in set.writes.keys() {
            match t {
                T::Users => {
                    if let Some(id) = UserId::from_slice(key) {
                        self.users.evict(&id);
                    }
                }
                T::UserNames => self.user_names.evict(key.as_slice()),
                T::Tokens => {
                    if let Ok(digest) = SecretDigest::try_from(key.as_slice()) {
                        self.tokens.evict(&digest);
                    }
                }
                _ => {}
            }
        }
        if set
            .writes
            .keys()
            .any(|(t, _)| matches!(t, T::Users | T::Roles | T::Accounts))
        {
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
    }
}

/// A read that changed before its transaction could commit.
struct Stale;

/// Attempts before a write gives up under extreme contention.
const MAX_ATTEMPTS: usize = 10_000;

/// `text 0x00 id`: a multi-valued index entry; scanning `text 0x00` finds every id.
fn text_key(text: &str, id: &[u8; 16]) -> Vec<u8> {
    let mut k = text_prefix(text);
    k.extend_from_slice(id);
    k
}

fn text_prefix(text: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(text.len() + 17);
    k.extend_from_slice(text.as_bytes());
    k.push(0);
    k
}

fn pair_key(a: &[u8; 16], b: &[u8; 16]) -> Vec<u8> {
    let mut k = Vec::with_capacity(32);
    k.extend_from_slice(a);
    k.extend_from_slice(b);
    k
}

/// Every multi-valued index entry a user record implies. Anonymised users are in no index.
fn user_index_entries(user: &User) -> BTreeSet<(T, Vec<u8>)> {
    let mut out = BTreeSet::new();
    if user.anonymised {
        return out;
    }
    let id = user.id.as_bytes();
    if let Some(ext) = &user.external_id {
        out.insert((T::UserExternal, text_key(ext, id)));
    }
    if let Some(key) = employee_number_key(user) {
        out.insert((T::UserEmployeeNumber, key));
    }
    for email in &user.emails {
        out.insert((T::UserEmail, text_key(&fold(&email.value), id)));
    }
    if let Some(manager) = user.manager {
        out.insert((T::UserManager, pair_key(manager.as_bytes(), id)));
    }
    if let Some(account) = user.account {
        out.insert((T::UserAccount, pair_key(account.as_bytes(), id)));
    }
    for role in &user.roles {
        out.insert((T::RoleMembers, pair_key(role.as_bytes(), id)));
    }
    out
}

/// What an entry of the index `t` over users says, read back from its key (see
/// [`user_index_entries`]); `None` for a key that index never makes.
fn user_index_entry(t: T, key: &[u8]) -> Option<UserIndexEntry> {
    // Text first, a zero byte, then the user's id.
    let text = || {
        let (text, rest) = key.split_at(key.len().checked_sub(17)?);
        let (&zero, id) = rest.split_first()?;
        if zero != 0 {
            return None;
        }
        Some((
            String::from_utf8(text.to_vec()).ok()?,
            UserId::from_slice(id)?,
        ))
    };
    // The record's id, then the user's.
    let pair = || {
        let (a, b) = key.split_at_checked(16).filter(|(_, b)| b.len() == 16)?;
        Some((a, UserId::from_slice(b)?))
    };
    Some(match t {
        T::UserExternal => {
            let (external_id, user) = text()?;
            UserIndexEntry::ExternalId { user, external_id }
        }
        T::UserEmployeeNumber => {
            let (number, user) = text()?;
            UserIndexEntry::EmployeeNumber { user, number }
        }
        T::UserEmail => {
            let (address, user) = text()?;
            UserIndexEntry::Email { user, address }
        }
        T::UserManager => {
            let (manager, user) = pair()?;
            UserIndexEntry::Manager {
                user,
                manager: UserId::from_slice(manager)?,
            }
        }
        T::UserAccount => {
            let (account, user) = pair()?;
            UserIndexEntry::Account {
                user,
                account: AccountId::from_slice(account)?,
            }
        }
        T::RoleMembers => {
            let (role, user) = pair()?;
            UserIndexEntry::RoleMember {
                user,
                role: RoleId::from_slice(role)?,
            }
        }
        _ => return None,
    })
}

fn seat_key(license: LicenseType) -> &'static [u8] {
    license.as_str().as_bytes()
}

fn read_u64(v: Option<IVec>) -> u64 {
    v.and_then(|v| v.as_ref().try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

impl Store for SledStore {
    fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.shared_user(id)?.map(Arc::unwrap_or_clone))
    }

    fn shared_user(&self, id: UserId) -> Result<Option<Arc<User>>, StoreError> {
        self.users.get_or_load(id, || {
            Ok(self.get::<User>(T::Users, id.as_bytes())?.map(Arc::new))
        })
    }

    fn user_by_name(&self, name: &str) -> Result<Option<UserId>, StoreError> {
        let key = name.as_bytes();
        // A hit needs no owned key.
        if let Ok(id) = self.user_names.get(key) {
            return Ok(Some(id));
        }
        self.user_names.get_or_load(key.to_vec(), || {
            self.id_at(T::UserNames, key, UserId::from_slice)
        })
    }

    fn users_by(&self, key: &UserKey) -> Result<Vec<UserId>, StoreError> {
        match key {
            UserKey::ExternalId(ext) => self.ids_under(T::UserExternal, &text_prefix(ext)),
            UserKey::EmployeeNumber(number) => {
                self.ids_under(T::UserEmployeeNumber, &text_prefix(number))
            }
            UserKey::Email(email) => self.ids_under(T::UserEmail, &text_prefix(email)),
            UserKey::Manager(m) => self.ids_under(T::UserManager, m.as_bytes()),
            UserKey::Account(a) => self.ids_under(T::UserAccount, a.as_bytes()),
            UserKey::Role(r) => self.ids_under(T::RoleMembers, r.as_bytes()),
        }
    }

    fn named_user_ids(&self) -> Result<Vec<UserId>, StoreError> {
        let mut ids = self
            .tree(T::UserNames)
            .iter()
            .values()
            .map(|v| {
                let v = v.map_err(engine)?;
                UserId::from_slice(&v).ok_or_else(|| StoreError::Corrupt {
                    tree: tree_name(T::UserNames),
                    detail: "a name that points at no id".into(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        ids.sort_unstable();
        Ok(ids)
    }

    fn shared_users(&self, after: Option<UserId>) -> Iter<'_, Arc<User>> {
        use std::ops::Bound;
        let from = match after {
            Some(after) => Bound::Excluded(after.as_bytes().to_vec()),
            None => Bound::Unbounded,
        };
        // Taken before the first read: see `cache`.
        let snapshot = self.users.snapshot();
        Box::new(
            self.tree(T::Users)
                .range::<Vec<u8>, _>((from, Bound::Unbounded))
                .map(move |entry| {
                    let (key, value) = entry.map_err(engine)?;
                    let id = UserId::from_slice(&key);
                    if let Some(cached) = id.and_then(|id| self.users.get(&id).ok()) {
                        return Ok(cached);
                    }
                    let user = Arc::new(decode::<User>(tree_name(T::Users), &value)?);
                    if let Some(id) = id {
                        let ticket = self.users.ticket_in(&snapshot, &id);
                        self.users.insert_if_room(ticket, id, Arc::clone(&user));
                    }
                    Ok(user)
                }),
        )
    }

    fn users(&self) -> Iter<'_, User> {
        self.records(T::Users)
    }

    fn role(&self, id: RoleId) -> Result<Option<Role>, StoreError> {
        self.get(T::Roles, id.as_bytes())
    }

    fn role_by_name(&self, name: &str) -> Result<Option<RoleId>, StoreError> {
        self.id_at(T::RoleNames, name.as_bytes(), RoleId::from_slice)
    }

    fn roles(&self) -> Iter<'_, Role> {
        self.records(T::Roles)
    }

    fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        self.get(T::Accounts, id.as_bytes())
    }

    fn account_by_name(&self, name: &str) -> Result<Option<AccountId>, StoreError> {
        self.id_at(T::AccountNames, name.as_bytes(), AccountId::from_slice)
    }

    fn accounts(&self) -> Iter<'_, Account> {
        self.records(T::Accounts)
    }

    fn child_accounts(&self, parent: AccountId) -> Result<Vec<AccountId>, StoreError> {
        Ok(self
            .ids_under(T::AccountChildren, parent.as_bytes())?
            .into_iter()
            .map(|id| AccountId(id.0))
            .collect())
    }

    fn seats(&self, license: LicenseType) -> Result<u64, StoreError> {
        Ok(read_u64(
            self.tree(T::Seats).get(seat_key(license)).map_err(engine)?,
        ))
    }

    fn outbox(&self) -> Iter<'_, OutboxMessage> {
        self.records(T::Outbox)
    }

    fn outbox_message(&self, id: uuid::Uuid) -> Result<Option<OutboxMessage>, StoreError> {
        self.get(T::Outbox, id.as_bytes())
    }

    fn audit(&self) -> Iter<'_, AuditEvent> {
        self.records(T::Audit)
    }

    fn outbox_from(&self, from: uuid::Uuid) -> Iter<'_, OutboxMessage> {
        Box::new(
            self.tree(T::Outbox)
                .range(from.as_bytes().to_vec()..)
                .values()
                .map(|v| decode(tree_name(T::Outbox), &v.map_err(engine)?)),
        )
    }

    fn audit_from(&self, from: uuid::Uuid) -> Iter<'_, AuditEvent> {
        Box::new(
            self.tree(T::Audit)
                .range(from.as_bytes().to_vec()..)
                .values()
                .map(|v| decode(tree_name(T::Audit), &v.map_err(engine)?)),
        )
    }

    fn audit_about(&self, target: &str) -> Iter<'_, AuditEvent> {
        match self.suffixes_under(T::AuditTargets, &text_prefix(&fold(target))) {
            // An event and its index entry are removed together (retention); a missing one
            // would be a torn index, which `verify` reports, so it is skipped here.
            Ok(ids) => Box::new(
                ids.into_iter()
                    .filter_map(move |id| self.get(T::Audit, &id).transpose()),
            ),
            Err(e) => Box::new(std::iter::once(Err(e))),
        }
    }

    fn api_token(&self, digest: &SecretDigest) -> Result<Option<ApiToken>, StoreError> {
        let token = self.tokens.get_or_load(*digest, || {
            Ok(self.get::<ApiToken>(T::Tokens, digest)?.map(Arc::new))
        })?;
        Ok(token.map(Arc::unwrap_or_clone))
    }

    fn api_tokens(&self) -> Iter<'_, (SecretDigest, ApiToken)> {
        self.by_digest(T::Tokens)
    }

    fn link(&self, digest: &SecretDigest) -> Result<Option<OneTimeLink>, StoreError> {
        self.get(T::Links, digest)
    }

    fn links(&self) -> Iter<'_, (SecretDigest, OneTimeLink)> {
        self.by_digest(T::Links)
    }

    fn login_state(&self, user: UserId) -> Result<Option<LoginState>, StoreError> {
        self.get(T::LoginStates, user.as_bytes())
    }

    fn session(&self, user: UserId, jti: uuid::Uuid) -> Result<Option<Session>, StoreError> {
        self.get(T::Sessions, &pair_key(user.as_bytes(), jti.as_bytes()))
    }

    fn sessions_of(&self, user: UserId) -> Result<Vec<Session>, StoreError> {
        self.tree(T::Sessions)
            .scan_prefix(user.as_bytes())
            .values()
            .map(|v| decode(tree_name(T::Sessions), &v.map_err(engine)?))
            .collect()
    }

    fn sessions(&self) -> Iter<'_, Session> {
        self.records(T::Sessions)
    }

    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .tree(T::Meta)
            .get(key.as_bytes())
            .map_err(engine)?
            .map(|v| v.to_vec()))
    }

    /// Optimistic concurrency: the body runs outside sled's process-wide transaction lock,
    /// reading committed data (each read is remembered) and buffering its writes; then a short
    /// sled transaction checks that nothing it read has changed and applies the writes, or the
    /// body runs again. Concurrent bodies thus run in parallel, and only validation and
    /// application are serial; concurrent commits share one sled transaction (see
    /// [`super::combine`]). Counters are applied as deltas at commit, so they conflict only
    /// when a body actually read them (a limit check).
    fn write(
        &self,
        body: &mut dyn FnMut(&mut dyn Txn) -> Result<(), TxError>,
    ) -> Result<(), StoreError> {
        let writer = self.commit.begin();
        for _ in 0..MAX_ATTEMPTS {
            let mut tx = SledTxn {
                store: self,
                reads: BTreeMap::new(),
                writes: BTreeMap::new(),
                deltas: BTreeMap::new(),
                bounds: BTreeMap::new(),
            };
            match body(&mut tx) {
                Ok(()) => {}
                Err(TxError::Conflict) => continue,
                // The body recorded its own reason for refusing; nothing is written.
                Err(TxError::Abort) => return Ok(()),
                Err(TxError::Store(e)) => return Err(e),
            }
            if tx.writes.is_empty() && tx.deltas.is_empty() {
                return Ok(());
            }
            let SledTxn {
                reads,
                writes,
                deltas,
                bounds,
                ..
            } = tx;
            let set = WriteSet {
                reads,
                writes,
                deltas,
                bounds,
            };
            let committed = {
                let _open = self
                    .commit_barrier
                    .read()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                self.batches.submit(set, &|sets| self.apply_batch(sets))?
            };
            match committed {
                true => {
                    writer.wait_durable().map_err(StoreError::Engine)?;
                    self.commits
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return Ok(());
                }
                false => continue,
            }
        }
        Err(StoreError::Engine(format!(
            "a write conflicted {MAX_ATTEMPTS} times in a row; giving up"
        )))
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(engine)?;
        self.data_file.sync_all().map_err(engine)
    }

    fn probe(&self) -> Result<(), StoreError> {
        let now = time::OffsetDateTime::now_utc()
            .unix_timestamp()
            .to_be_bytes();
        self.tree(T::Meta).insert("probed", &now).map_err(engine)?;
        self.flush()
    }

    fn backup(&self, out: &mut dyn std::io::Write) -> Result<u64, super::BackupError> {
        let reading = self.start_reading(Reader::Backup);
        let entries = super::backup::backup(self, &reading.frozen(), out)?;
        tracing::info!(
            entries,
            changed_meanwhile = reading.snapshot.total(),
            "backup read; keys that commits changed while it ran are in it as they were at its start"
        );
        Ok(entries)
    }

    fn commit_stats(&self) -> super::CommitStats {
        let (flushes, time) = self.commit.flushes();
        super::CommitStats {
            commits: self.commits.load(std::sync::atomic::Ordering::Relaxed),
            flushes,
            flush_seconds: time.as_secs_f64(),
        }
    }

    fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.db.size_on_disk().map_err(engine)
    }

    fn findings(&self) -> Result<Findings, StoreError> {
        let reading = self.start_reading(Reader::Check);
        let problems = verify(&reading.frozen())?;
        tracing::info!(
            problems = problems.indexes.len() + problems.references.len(),
            changed_meanwhile = reading.snapshot.total(),
            "check read; keys that commits changed while it ran were checked as they were at its start"
        );
        Ok(problems)
    }
}

/// Cross-checks every index and counter against the records, and the records' references
/// among themselves ([`References`]), as `view` sees them.
fn verify(view: &Frozen<'_>) -> Result<Findings, StoreError> {
    let scan = |t: T| view.scan(t as usize).map(|kv| kv.map_err(engine));
    let get = |t: T, key: &[u8]| view.get(t as usize, key).map_err(engine);
    let mut problems = Vec::new();
    let roles: Vec<Role> = records(view, T::Roles).collect::<Result<_, _>>()?;
    let accounts: Vec<Account> = records(view, T::Accounts).collect::<Result<_, _>>()?;
    let mut references = References::new(&roles, &accounts);
    let mut expected: BTreeSet<(T, Vec<u8>)> = BTreeSet::new();
    let mut names: BTreeMap<Vec<u8>, UserId> = BTreeMap::new();
    let mut seats: BTreeMap<LicenseType, u64> = BTreeMap::new();
    let mut refs: BTreeMap<AccountId, u64> = BTreeMap::new();
    for user in records::<User>(view, T::Users) {
        let user = user?;
        references.user(&user);
        expected.extend(user_index_entries(&user));
        if !user.anonymised
            && names
                .insert(fold(&user.user_name).into_bytes(), user.id)
                .is_some()
        {
            problems.push(format!(
                "userName {:?} is held by two users",
                user.user_name
            ));
        }
        if let Some(license) = user.seat() {
            *seats.entry(license).or_default() += 1;
        }
        if let (false, Some(a)) = (user.anonymised, user.account) {
            *refs.entry(a).or_default() += 1;
        }
    }
    for t in [
        T::UserExternal,
        T::UserEmployeeNumber,
        T::UserEmail,
        T::UserManager,
        T::UserAccount,
        T::RoleMembers,
    ] {
        let mut actual = BTreeSet::new();
        for kv in scan(t) {
            actual.insert((t, kv?.0));
        }
        let wanted: BTreeSet<_> = expected
            .iter()
            .filter(|(tt, _)| *tt == t)
            .cloned()
            .collect();
        let drifts = wanted
            .difference(&actual)
            .map(|missing| (Drift::Missing, &missing.1))
            .chain(
                actual
                    .difference(&wanted)
                    .map(|stale| (Drift::Stale, &stale.1)),
            );
        for (drift, key) in drifts {
            problems.push(match user_index_entry(t, key) {
                Some(entry) => references.index_finding(tree_name(t), drift, &entry),
                // Not even a key this index makes: said as it is.
                None => format!(
                    "{}: {} entry that is not an index key: {key:?}",
                    tree_name(t),
                    drift.as_str()
                ),
            });
        }
    }
    problems.extend(index_disagrees(
        view,
        T::Audit,
        T::AuditTargets,
        audit_target_key,
    )?);
    problems.extend(index_disagrees(
        view,
        T::Outbox,
        T::OutboxUsers,
        outbox_user_key,
    )?);
    let mut indexed_names = BTreeMap::new();
    for kv in scan(T::UserNames) {
        let (k, v) = kv?;
        indexed_names.insert(k, UserId::from_slice(&v));
    }
    for (name, id) in &names {
        if indexed_names.get(name) != Some(&Some(*id)) {
            problems.push(format!(
                "{}: {:?} does not point at {id}",
                tree_name(T::UserNames),
                String::from_utf8_lossy(name)
            ));
        }
    }
    for name in indexed_names.keys().filter(|n| !names.contains_key(*n)) {
        problems.push(format!(
            "{}: stale name {:?}",
            tree_name(T::UserNames),
            String::from_utf8_lossy(name)
        ));
    }
    for license in LicenseType::ALL {
        let counted = seats.get(&license).copied().unwrap_or(0);
        let stored = read_u64(get(T::Seats, seat_key(license))?.map(IVec::from));
        if counted != stored {
            problems.push(format!(
                "{license} seats: counter says {stored}, {counted} users are active"
            ));
        }
    }
    for role in &roles {
        let indexed = get(T::RoleNames, fold(&role.name).as_bytes())?;
        if indexed.and_then(|v| RoleId::from_slice(&v)) != Some(role.id) {
            problems.push(format!("role name {:?} is not indexed", role.name));
        }
    }
    for account in &accounts {
        if let Some(p) = account.parent {
            *refs.entry(p).or_default() += 1;
        }
    }
    for account in &accounts {
        let indexed = get(T::AccountNames, fold(&account.name).as_bytes())?;
        if indexed.and_then(|v| AccountId::from_slice(&v)) != Some(account.id) {
            problems.push(format!("account name {:?} is not indexed", account.name));
        }
        let stored = read_u64(get(T::AccountRefs, account.id.as_bytes())?.map(IVec::from));
        let counted = refs.get(&account.id).copied().unwrap_or(0);
        if stored != counted {
            problems.push(format!(
                "account {:?}: {stored} references counted, {counted} found",
                account.name
            ));
        }
    }
    Ok(Findings {
        indexes: problems,
        references: references.finish(),
    })
}

/// The records of tree `t` as `view` sees them.
fn records<'a, V: serde::de::DeserializeOwned + 'static>(
    view: &Frozen<'a>,
    t: T,
) -> impl Iterator<Item = Result<V, StoreError>> + 'a {
    view.scan(t as usize).map(move |kv| {
        let (_, v) = kv.map_err(engine)?;
        decode(tree_name(t), &v)
    })
}

/// Whether `index` holds exactly the keys the records of `records` imply; says how not.
fn index_disagrees<V: serde::de::DeserializeOwned + 'static>(
    view: &Frozen<'_>,
    records_in: T,
    index: T,
    key_of: fn(&V) -> Option<Vec<u8>>,
) -> Result<Option<String>, StoreError> {
    let mut wanted = BTreeSet::new();
    for record in records::<V>(view, records_in) {
        wanted.extend(key_of(&record?));
    }
    let mut actual = BTreeSet::new();
    for kv in view.scan(index as usize) {
        actual.insert(kv.map_err(engine)?.0);
    }
    Ok((wanted != actual).then(|| {
        format!(
            "{}: {} entries missing, {} stale",
            tree_name(index),
            wanted.difference(&actual).count(),
            actual.difference(&wanted).count()
        )
    }))
}

/// A running backup's or check's snapshot; dropping it ends the snapshot, however the reader
/// ends.
struct Reading<'a> {
    store: &'a SledStore,
    snapshot: Arc<Snapshot>,
}

impl Reading<'_> {
    fn frozen(&self) -> Frozen<'_> {
        Frozen::new(&self.store.trees, &self.snapshot)
    }
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        self.store
            .lock_readers()
            .retain(|s| !Arc::ptr_eq(s, &self.snapshot));
    }
}

/// A transaction body's view: committed data plus its own buffered writes.
struct SledTxn<'a> {
    store: &'a SledStore,
    /// What each key held when first read (validated at commit).
    reads: BTreeMap<(T, Vec<u8>), Option<IVec>>,
    /// Buffered writes; `None` removes.
    writes: BTreeMap<(T, Vec<u8>), Option<Vec<u8>>>,
    /// Counter changes applied at commit.
    deltas: BTreeMap<(T, Vec<u8>), i64>,
    /// Counters that must still be below these values at commit (instead of unchanged).
    bounds: BTreeMap<(T, Vec<u8>), u64>,
}

impl SledTxn<'_> {
    fn raw(&mut self, t: T, key: &[u8]) -> Result<Option<Vec<u8>>, TxError> {
        let k = (t, key.to_vec());
        if let Some(written) = self.writes.get(&k) {
            return Ok(written.clone());
        }
        if let Some(seen) = self.reads.get(&k) {
            return Ok(seen.as_ref().map(|v| v.to_vec()));
        }
        let value = self.store.tree(t).get(key).map_err(engine)?;
        let out = value.as_ref().map(|v| v.to_vec());
        self.reads.insert(k, value);
        Ok(out)
    }

    fn get<V: serde::de::DeserializeOwned>(
        &mut self,
        t: T,
        key: &[u8],
    ) -> Result<Option<V>, TxError> {
        match self.raw(t, key)? {
            Some(v) => Ok(Some(decode(tree_name(t), &v)?)),
            None => Ok(None),
        }
    }

    fn set(&mut self, t: T, key: &[u8], value: Option<Vec<u8>>) {
        self.writes.insert((t, key.to_vec()), value);
    }

    fn put<V: serde::Serialize>(&mut self, t: T, key: &[u8], value: &V) {
        self.set(t, key, Some(encode(value)));
    }

    fn id_at(&mut self, t: T, key: &[u8]) -> Result<Option<[u8; 16]>, TxError> {
        Ok(self.raw(t, key)?.and_then(|v| v.as_slice().try_into().ok()))
    }

    /// Points a unique name at `id`, releasing `old` if it was this record's.
    fn rename(
        &mut self,
        t: T,
        old: Option<&str>,
        new: Option<&str>,
        id: &[u8; 16],
    ) -> Result<(), TxError> {
        let old = old.map(fold);
        let new = new.map(fold);
        if old == new {
            return Ok(());
        }
        if let Some(old) = old
            && self.id_at(t, old.as_bytes())?.as_ref() == Some(id)
        {
            self.set(t, old.as_bytes(), None);
        }
        if let Some(new) = new {
            if let Some(holder) = self.id_at(t, new.as_bytes())?
                && &holder != id
            {
                return Err(TxError::Store(StoreError::Engine(format!(
                    "{}: {new:?} is held by another record",
                    tree_name(t)
                ))));
            }
            self.set(t, new.as_bytes(), Some(id.to_vec()));
        }
        Ok(())
    }

    /// A counter as this body sees it: committed value plus its own pending changes.
    fn counter(&mut self, t: T, key: &[u8]) -> Result<u64, TxError> {
        let stored = read_u64(self.raw(t, key)?.map(IVec::from));
        let pending = self.deltas.get(&(t, key.to_vec())).copied().unwrap_or(0);
        Ok(stored.saturating_add_signed(pending))
    }

    /// Moves a single-valued index entry of a record from key `from` to key `to`.
    fn move_entry(&mut self, t: T, from: Option<&[u8]>, to: Option<&[u8]>) {
        if from != to {
            if let Some(key) = from {
                self.set(t, key, None);
            }
            if let Some(key) = to {
                self.set(t, key, Some(Vec::new()));
            }
        }
    }

    fn move_count(&mut self, t: T, from: Option<&[u8]>, to: Option<&[u8]>) {
        if from != to {
            if let Some(key) = from {
                *self.deltas.entry((t, key.to_vec())).or_default() -= 1;
            }
            if let Some(key) = to {
                *self.deltas.entry((t, key.to_vec())).or_default() += 1;
            }
        }
    }
}

fn as_slice(key: &Option<[u8; 16]>) -> Option<&[u8]> {
    key.as_ref().map(|k| &k[..])
}

impl Txn for SledTxn<'_> {
    fn user(&mut self, id: UserId) -> Result<Option<User>, TxError> {
        self.get(T::Users, id.as_bytes())
    }

    fn user_by_name(&mut self, name: &str) -> Result<Option<UserId>, TxError> {
        Ok(self
            .id_at(T::UserNames, name.as_bytes())?
            .map(|b| UserId(uuid::Uuid::from_bytes(b))))
    }

    fn put_user(&mut self, user: &User) -> Result<(), TxError> {
        let id = user.id.as_bytes();
        let old: Option<User> = self.get(T::Users, id)?;
        let old_name = old
            .as_ref()
            .filter(|u| !u.anonymised)
            .map(|u| u.user_name.as_str());
        let new_name = (!user.anonymised).then_some(user.user_name.as_str());
        self.rename(T::UserNames, old_name, new_name, id)?;

        let before = old.as_ref().map(user_index_entries).unwrap_or_default();
        let after = user_index_entries(user);
        for (t, key) in before.difference(&after) {
            self.set(*t, key, None);
        }
        for (t, key) in after.difference(&before) {
            self.set(*t, key, Some(Vec::new()));
        }

        let old_seat = old.as_ref().and_then(User::seat).map(seat_key);
        self.move_count(T::Seats, old_seat, user.seat().map(seat_key));
        let account_of = |u: &User| u.account.filter(|_| !u.anonymised).map(|a| *a.as_bytes());
        let old_account = old.as_ref().and_then(account_of);
        self.move_count(
            T::AccountRefs,
            as_slice(&old_account),
            as_slice(&account_of(user)),
        );
        self.put(T::Users, id, user);
        Ok(())
    }

    fn role(&mut self, id: RoleId) -> Result<Option<Role>, TxError> {
        self.get(T::Roles, id.as_bytes())
    }

    fn role_by_name(&mut self, name: &str) -> Result<Option<RoleId>, TxError> {
        Ok(self
            .id_at(T::RoleNames, name.as_bytes())?
            .map(|b| RoleId(uuid::Uuid::from_bytes(b))))
    }

    fn put_role(&mut self, role: &Role) -> Result<(), TxError> {
        let id = role.id.as_bytes();
        let old: Option<Role> = self.get(T::Roles, id)?;
        self.rename(
            T::RoleNames,
            old.as_ref().map(|r| r.name.as_str()),
            Some(&role.name),
            id,
        )?;
        self.put(T::Roles, id, role);
        Ok(())
    }

    fn delete_role(&mut self, id: RoleId) -> Result<(), TxError> {
        let old: Option<Role> = self.get(T::Roles, id.as_bytes())?;
        if let Some(old) = old {
            self.rename(T::RoleNames, Some(&old.name), None, id.as_bytes())?;
            self.set(T::Roles, id.as_bytes(), None);
        }
        Ok(())
    }

    fn account(&mut self, id: AccountId) -> Result<Option<Account>, TxError> {
        self.get(T::Accounts, id.as_bytes())
    }

    fn account_by_name(&mut self, name: &str) -> Result<Option<AccountId>, TxError> {
        Ok(self
            .id_at(T::AccountNames, name.as_bytes())?
            .map(|b| AccountId(uuid::Uuid::from_bytes(b))))
    }

    fn put_account(&mut self, account: &Account) -> Result<(), TxError> {
        let id = account.id.as_bytes();
        let old: Option<Account> = self.get(T::Accounts, id)?;
        self.rename(
            T::AccountNames,
            old.as_ref().map(|a| a.name.as_str()),
            Some(&account.name),
            id,
        )?;
        let old_parent = old.as_ref().and_then(|a| a.parent).map(|p| *p.as_bytes());
        let new_parent = account.parent.map(|p| *p.as_bytes());
        self.move_count(T::AccountRefs, as_slice(&old_parent), as_slice(&new_parent));
        let child_key = |p: &Option<[u8; 16]>| p.map(|p| pair_key(&p, id));
        self.move_entry(
            T::AccountChildren,
            child_key(&old_parent).as_deref(),
            child_key(&new_parent).as_deref(),
        );
        self.put(T::Accounts, id, account);
        Ok(())
    }

    fn delete_account(&mut self, id: AccountId) -> Result<(), TxError> {
        let old: Option<Account> = self.get(T::Accounts, id.as_bytes())?;
        if let Some(old) = old {
            self.rename(T::AccountNames, Some(&old.name), None, id.as_bytes())?;
            if let Some(p) = old.parent {
                self.set(
                    T::AccountChildren,
                    &pair_key(p.as_bytes(), id.as_bytes()),
                    None,
                );
                self.move_count(T::AccountRefs, Some(&p.as_bytes()[..]), None);
            }
            self.set(T::AccountRefs, id.as_bytes(), None);
            self.set(T::Accounts, id.as_bytes(), None);
        }
        Ok(())
    }

    fn account_refs(&mut self, id: AccountId) -> Result<u64, TxError> {
        self.counter(T::AccountRefs, id.as_bytes())
    }

    fn seats(&mut self, license: LicenseType) -> Result<u64, TxError> {
        self.counter(T::Seats, seat_key(license))
    }

    fn seats_snapshot(&mut self, license: LicenseType) -> Result<u64, TxError> {
        let key = (T::Seats, seat_key(license).to_vec());
        let stored = match self.reads.get(&key) {
            Some(seen) => read_u64(seen.clone()),
            None => read_u64(self.store.tree(T::Seats).get(&key.1).map_err(engine)?),
        };
        let pending = self.deltas.get(&key).copied().unwrap_or(0);
        Ok(stored.saturating_add_signed(pending))
    }

    fn require_seats_below(&mut self, license: LicenseType, bound: u64) {
        let slot = self
            .bounds
            .entry((T::Seats, seat_key(license).to_vec()))
            .or_insert(bound);
        *slot = (*slot).min(bound);
    }

    fn push_outbox(&mut self, message: &OutboxMessage) -> Result<(), TxError> {
        self.put(T::Outbox, message.id.as_bytes(), message);
        self.move_entry(T::OutboxUsers, None, outbox_user_key(message).as_deref());
        Ok(())
    }

    fn erase_outbox_of(&mut self, user: UserId) -> Result<usize, TxError> {
        let ids = self.store.suffixes_under(T::OutboxUsers, user.as_bytes())?;
        let mut erased = 0;
        for id in ids {
            let Some(mut message) = self.get::<OutboxMessage>(T::Outbox, &id)? else {
                continue;
            };
            if message.erase_personal_data() {
                self.put(T::Outbox, &id, &message);
                erased += 1;
            }
        }
        Ok(erased)
    }

    fn outbox_message(&mut self, id: uuid::Uuid) -> Result<Option<OutboxMessage>, TxError> {
        self.get(T::Outbox, id.as_bytes())
    }

    fn append_audit(&mut self, event: &AuditEvent) -> Result<(), TxError> {
        self.put(T::Audit, event.id.as_bytes(), event);
        self.move_entry(T::AuditTargets, None, audit_target_key(event).as_deref());
        Ok(())
    }

    fn delete_audit(&mut self, id: uuid::Uuid) -> Result<(), TxError> {
        let Some(event) = self.get::<AuditEvent>(T::Audit, id.as_bytes())? else {
            return Ok(());
        };
        self.set(T::Audit, id.as_bytes(), None);
        self.move_entry(T::AuditTargets, audit_target_key(&event).as_deref(), None);
        Ok(())
    }

    fn erase_audit_of(&mut self, target: &str, id: &str) -> Result<usize, TxError> {
        // Committed entries come from the index. Each event is then read through the
        // transaction, so a concurrent change to it sends this body round again.
        let ids = self
            .store
            .suffixes_under(T::AuditTargets, &text_prefix(&fold(target)))?;
        let mut erased = 0;
        for event_id in ids {
            let Some(mut event) = self.get::<AuditEvent>(T::Audit, &event_id)? else {
                continue;
            };
            let old_key = audit_target_key(&event);
            if event.erase_personal_data(id) {
                let new_key = audit_target_key(&event);
                self.move_entry(T::AuditTargets, old_key.as_deref(), new_key.as_deref());
                self.put(T::Audit, &event_id, &event);
                erased += 1;
            }
        }
        Ok(erased)
    }

    fn put_api_token(&mut self, digest: &SecretDigest, token: &ApiToken) -> Result<(), TxError> {
        self.put(T::Tokens, digest, token);
        Ok(())
    }

    fn api_token(&mut self, digest: &SecretDigest) -> Result<Option<ApiToken>, TxError> {
        self.get(T::Tokens, digest)
    }

    fn put_link(&mut self, digest: &SecretDigest, link: &OneTimeLink) -> Result<(), TxError> {
        self.put(T::Links, digest, link);
        Ok(())
    }

    fn link(&mut self, digest: &SecretDigest) -> Result<Option<OneTimeLink>, TxError> {
        self.get(T::Links, digest)
    }

    fn delete_outbox(&mut self, id: uuid::Uuid) -> Result<(), TxError> {
        let Some(message) = self.outbox_message(id)? else {
            return Ok(());
        };
        self.set(T::Outbox, id.as_bytes(), None);
        self.move_entry(T::OutboxUsers, outbox_user_key(&message).as_deref(), None);
        Ok(())
    }

    fn delete_link(&mut self, digest: &SecretDigest) -> Result<(), TxError> {
        self.set(T::Links, digest, None);
        Ok(())
    }

    fn login_state(&mut self, user: UserId) -> Result<Option<LoginState>, TxError> {
        self.get(T::LoginStates, user.as_bytes())
    }

    fn put_login_state(&mut self, user: UserId, state: &LoginState) -> Result<(), TxError> {
        self.put(T::LoginStates, user.as_bytes(), state);
        Ok(())
    }

    fn session(&mut self, user: UserId, jti: uuid::Uuid) -> Result<Option<Session>, TxError> {
        self.get(T::Sessions, &pair_key(user.as_bytes(), jti.as_bytes()))
    }

    fn put_session(&mut self, session: &Session) -> Result<(), TxError> {
        self.put(
            T::Sessions,
            &pair_key(session.user.as_bytes(), session.jti.as_bytes()),
            session,
        );
        Ok(())
    }

    fn delete_session(&mut self, user: UserId, jti: uuid::Uuid) -> Result<(), TxError> {
        self.set(
            T::Sessions,
            &pair_key(user.as_bytes(), jti.as_bytes()),
            None,
        );
        Ok(())
    }

    fn set_meta(&mut self, key: &str, value: &[u8]) -> Result<(), TxError> {
        self.set(T::Meta, key.as_bytes(), Some(value.to_vec()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(name: &str, number: &str) -> User {
        let mut user = User::new(name);
        user.employee_number = Some(number.into());
        user
    }

    fn put(store: &SledStore, user: &User) {
        store.write(&mut |tx| tx.put_user(user)).unwrap();
    }

    fn by_number(store: &SledStore, number: &str) -> Vec<UserId> {
        store
            .users_by(&UserKey::EmployeeNumber(fold_words(number)))
            .unwrap()
    }

    #[test]
    fn the_employee_number_index_follows_every_write_of_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), &StoreOptions::default()).unwrap();
        let mut ann = numbered("ann", "E 42");
        put(&store, &ann);
        put(&store, &numbered("bob", "E 420"));
        assert_eq!(by_number(&store, "e   42 "), vec![ann.id]);
        ann.employee_number = Some("E-43".into());
        put(&store, &ann);
        assert!(by_number(&store, "E 42").is_empty());
        assert_eq!(by_number(&store, "e-43"), vec![ann.id]);
        ann.erase_personal_data();
        ann.employee_number = Some("E-43".into());
        put(&store, &ann);
        assert!(
            by_number(&store, "E-43").is_empty(),
            "anonymised: in no index"
        );
        assert_eq!(store.verify().unwrap(), Vec::<String>::new());
    }

    /// What a crash halfway through the upgrade of a format 3 directory leaves (the format
    /// still 3, some entries written) is finished on the next open, and only then is the
    /// format moved.
    #[test]
    fn an_upgrade_from_format_3_cut_short_is_finished_on_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let (ann, bob) = (numbered("ann", "A-1"), numbered("bob", "B-2"));
        {
            let store = SledStore::open(dir.path(), &StoreOptions::default()).unwrap();
            put(&store, &ann);
            put(&store, &bob);
            let index = store.tree(T::UserEmployeeNumber);
            index.remove(employee_number_key(&ann).unwrap()).unwrap();
            index
                .insert(text_key("z-9", ann.id.as_bytes()), &[])
                .unwrap();
            store
                .db
                .insert("store_format", &3u32.to_be_bytes())
                .unwrap();
            store.flush().unwrap();
            let findings = store.verify().unwrap();
            assert!(
                findings.contains(
                    &"idx_user_employee_number (users by employee number): missing entry: \
                      user \"ann\" has employee number \"a-1\""
                        .to_string()
                ),
                "{findings:#?}"
            );
            assert_eq!(findings.len(), 2, "{findings:#?}");
        }
        let store = SledStore::open(dir.path(), &StoreOptions::default()).unwrap();
        assert_eq!(store.verify().unwrap(), Vec::<String>::new());
        assert_eq!(by_number(&store, "a-1"), vec![ann.id]);
        assert_eq!(
            store.db.get("store_format").unwrap().unwrap().as_ref(),
            &STORE_FORMAT.to_be_bytes()
        );
    }
}
