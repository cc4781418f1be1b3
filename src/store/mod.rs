//! Persistence behind a narrow trait. The rules in [`crate::service`] see only [`Store`] and
//! [`Txn`], so another engine (PostgreSQL for many stateless instances) can be added without
//! touching them. Index maintenance is the store's job: `put_user` derives every secondary index
//! from the record, so indexes cannot drift from records through a forgotten call.

mod backup;
mod cache;
mod codec;
mod combine;
mod commit;
mod frozen;
mod references;
mod sled;
mod snapshot;

use crate::audit::AuditEvent;
use crate::auth::lockout::LoginState;
use crate::auth::session::Session;
use crate::model::{Account, AccountId, LicenseType, Role, RoleId, User, UserId};
use crate::outbox::OutboxMessage;
use crate::token::{ApiToken, OneTimeLink, SecretDigest};

pub use self::backup::{BackupError, Restored, restore};
pub use self::sled::{SledStore, StoreOptions};

#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the data directory {0} is in use by another rollcall process")]
    Locked(String),
    #[error("storage engine: {0}")]
    Engine(String),
    #[error("corrupt record in {tree}: {detail}")]
    Corrupt { tree: &'static str, detail: String },
    /// Two transactions touched the same keys. Only seen inside a transaction body, where it
    /// tells the engine to run the body again; never returned by [`Store::write`].
    #[error("transaction conflict")]
    Conflict,
    #[error("the data directory uses format {found}, this build reads format {expected}")]
    Format { found: u32, expected: u32 },
    /// Names that were distinct before compatibility forms were folded and are one name now:
    /// the upgrade would leave one of each pair unreachable by its name.
    #[error(
        "this release treats these names as one (case and Unicode compatibility forms fold \
         alike): {0}; rename one of each pair with the release this directory was made with \
         (SCIM PATCH userName or displayName, or LDAP modrdn), then start this one"
    )]
    LookAlikes(String),
}

/// How a transaction body ends when it does not commit.
#[derive(Debug)]
pub enum TxError {
    /// Another transaction touched the same keys; the engine runs the body again.
    Conflict,
    /// The body refused the change (a rule failed); nothing is written.
    Abort,
    Store(StoreError),
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        TxError::Store(e)
    }
}

/// What the write path has done since the store was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CommitStats {
    /// Write transactions acknowledged as durable.
    pub commits: u64,
    pub flushes: u64,
    /// Time spent in those flushes, fsync included.
    pub flush_seconds: f64,
}

/// A secondary index over users, for point lookups of a query plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserKey {
    ExternalId(String),
    /// Folded by [`crate::model::fold_words`].
    EmployeeNumber(String),
    /// Case-folded address.
    Email(String),
    Manager(UserId),
    Account(AccountId),
    Role(RoleId),
}

pub type Iter<'a, T> = Box<dyn Iterator<Item = Result<T, StoreError>> + 'a>;

/// Reads outside a transaction, and the single way to write.
pub trait Store: Send + Sync + 'static {
    fn user(&self, id: UserId) -> Result<Option<User>, StoreError>;
    /// The same record, shared: point reads of hot records need not copy them.
    fn shared_user(&self, id: UserId) -> Result<Option<std::sync::Arc<User>>, StoreError>;
    /// `name` is case-folded ([`crate::model::fold`]).
    fn user_by_name(&self, name: &str) -> Result<Option<UserId>, StoreError>;
    fn users_by(&self, key: &UserKey) -> Result<Vec<UserId>, StoreError>;
    /// Ids of every user that is not anonymised (each holds its userName), in id order. Reads
    /// the name index only: no record is decoded.
    fn named_user_ids(&self) -> Result<Vec<UserId>, StoreError>;
    /// Every user record, anonymised ones included, in id (creation) order.
    fn users(&self) -> Iter<'_, User>;
    /// Every user in id order, starting after `after` (a page boundary) without reading what
    /// comes before, through the cache of decoded records: a search that no index serves
    /// decodes each record once, not once per search.
    fn shared_users(&self, after: Option<UserId>) -> Iter<'_, std::sync::Arc<User>>;

    fn role(&self, id: RoleId) -> Result<Option<Role>, StoreError>;
    fn role_by_name(&self, name: &str) -> Result<Option<RoleId>, StoreError>;
    fn roles(&self) -> Iter<'_, Role>;

    fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError>;
    fn account_by_name(&self, name: &str) -> Result<Option<AccountId>, StoreError>;
    fn accounts(&self) -> Iter<'_, Account>;
    fn child_accounts(&self, parent: AccountId) -> Result<Vec<AccountId>, StoreError>;

    /// Seats in use per license type.
    fn seats(&self, license: LicenseType) -> Result<u64, StoreError>;

    fn outbox(&self) -> Iter<'_, OutboxMessage>;
    /// One outbox message, as last committed.
    fn outbox_message(&self, id: uuid::Uuid) -> Result<Option<OutboxMessage>, StoreError>;
    /// Outbox messages from `from` on (message ids are time-ordered UUIDv7s), oldest first.
    fn outbox_from(&self, from: uuid::Uuid) -> Iter<'_, OutboxMessage>;
    fn audit(&self) -> Iter<'_, AuditEvent>;
    /// Audit events from `from` on (event ids are time-ordered UUIDv7s), oldest first.
    fn audit_from(&self, from: uuid::Uuid) -> Iter<'_, AuditEvent>;
    /// Audit events about `target` (an id, or a name in any case), oldest first, through the
    /// target index instead of a scan of the whole trail.
    fn audit_about(&self, target: &str) -> Iter<'_, AuditEvent>;
    fn api_token(&self, digest: &SecretDigest) -> Result<Option<ApiToken>, StoreError>;
    fn api_tokens(&self) -> Iter<'_, (SecretDigest, ApiToken)>;
    fn link(&self, digest: &SecretDigest) -> Result<Option<OneTimeLink>, StoreError>;
    fn links(&self) -> Iter<'_, (SecretDigest, OneTimeLink)>;
    fn login_state(&self, user: UserId) -> Result<Option<LoginState>, StoreError>;
    fn session(&self, user: UserId, jti: uuid::Uuid) -> Result<Option<Session>, StoreError>;
    fn sessions_of(&self, user: UserId) -> Result<Vec<Session>, StoreError>;
    fn sessions(&self) -> Iter<'_, Session>;
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// A number that changes after every committed change to a user, role or account record
    /// (within this process). Read it *before* loading records to cache what was derived from them:
    /// while it stays the same, the records have not changed.
    fn generation(&self) -> u64;

    /// Runs `body` as one atomic transaction and returns once the result is durable. The body may
    /// run more than once (on conflicts) and must have no effects outside `tx`.
    fn write(
        &self,
        body: &mut dyn FnMut(&mut dyn Txn) -> Result<(), TxError>,
    ) -> Result<(), StoreError>;

    /// Forces everything written so far to disk.
    fn flush(&self) -> Result<(), StoreError>;

    /// Writes a marker and makes it durable: whether the store can take writes at all (a full
    /// disk leaves the engine failing every write until it is restarted).
    fn probe(&self) -> Result<(), StoreError>;

    /// Counts of durable commits and the flushes they shared, for monitoring.
    fn commit_stats(&self) -> CommitStats;

    /// Bytes the store takes on disk, for monitoring its growth.
    fn size_on_disk(&self) -> Result<u64, StoreError>;

    /// Writes a backup of the store as it is when the backup starts; commits go on meanwhile
    /// (see `snapshot`). Returns the number of entries.
    fn backup(&self, out: &mut dyn std::io::Write) -> Result<u64, BackupError>;

    /// Cross-checks every index and counter against the records, and the references records
    /// make to each other (roles, accounts, managers, parents), as they are when the check
    /// starts; commits go on meanwhile (see `snapshot`).
    fn findings(&self) -> Result<Findings, StoreError>;

    /// Every finding of [`Self::findings`], of both kinds.
    fn verify(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.findings()?.all())
    }
}

/// What a cross-check found, in two kinds that call for different answers.
#[derive(Debug, Default)]
pub struct Findings {
    /// Indexes or counters that disagree with the records: the store would answer lookups
    /// and enforce limits wrongly, so a restore of one is refused.
    pub indexes: Vec<String>,
    /// Records that name what is not there, or break a rule among themselves (a role type,
    /// a loop of managers): the directory serves them as they are, and they are its own to
    /// mend, so a restore keeps them and says so.
    pub references: Vec<String>,
}

impl Findings {
    pub fn all(self) -> Vec<String> {
        let mut all = self.indexes;
        all.extend(self.references);
        all
    }
}

/// Point reads and writes inside one transaction. No range scans: engines with optimistic
/// transactions (sled) cannot validate them.
pub trait Txn {
    fn user(&mut self, id: UserId) -> Result<Option<User>, TxError>;
    fn user_by_name(&mut self, name: &str) -> Result<Option<UserId>, TxError>;
    /// Stores `user` and brings every index in line with it.
    fn put_user(&mut self, user: &User) -> Result<(), TxError>;

    fn role(&mut self, id: RoleId) -> Result<Option<Role>, TxError>;
    fn role_by_name(&mut self, name: &str) -> Result<Option<RoleId>, TxError>;
    fn put_role(&mut self, role: &Role) -> Result<(), TxError>;
    /// Removes the record and its name; members must have been detached first.
    fn delete_role(&mut self, id: RoleId) -> Result<(), TxError>;

    fn account(&mut self, id: AccountId) -> Result<Option<Account>, TxError>;
    fn account_by_name(&mut self, name: &str) -> Result<Option<AccountId>, TxError>;
    fn put_account(&mut self, account: &Account) -> Result<(), TxError>;
    fn delete_account(&mut self, id: AccountId) -> Result<(), TxError>;
    /// Users and child accounts that point at the account; deletion needs zero.
    fn account_refs(&mut self, id: AccountId) -> Result<u64, TxError>;

    /// Seats in use; `put_user` keeps the counters in step with the records. The count is part
    /// of what the transaction read: any concurrent seat change makes it run again.
    fn seats(&mut self, license: LicenseType) -> Result<u64, TxError>;
    /// Seats in use, without making the count part of what the transaction read: concurrent
    /// activations then do not conflict. The body must state what it relied on with
    /// [`Txn::require_seats_below`].
    fn seats_snapshot(&mut self, license: LicenseType) -> Result<u64, TxError>;
    /// Commit only if the committed count (before this transaction's own change) is still
    /// below `bound`; otherwise the body runs again.
    fn require_seats_below(&mut self, license: LicenseType, bound: u64);

    /// Stores `message`, replacing the one with the same id (delivery records its attempts so).
    fn push_outbox(&mut self, message: &OutboxMessage) -> Result<(), TxError>;
    /// One outbox message, for a read-modify-write of its delivery state.
    fn outbox_message(&mut self, id: uuid::Uuid) -> Result<Option<OutboxMessage>, TxError>;
    /// Removes an outbox message and its index entry (retention of sent messages).
    fn delete_outbox(&mut self, id: uuid::Uuid) -> Result<(), TxError>;
    fn append_audit(&mut self, event: &AuditEvent) -> Result<(), TxError>;
    /// Erases the personal data of every committed outbox message for `user` (see
    /// [`OutboxMessage::erase_personal_data`]); returns how many changed.
    fn erase_outbox_of(&mut self, user: UserId) -> Result<usize, TxError>;
    /// Erases the personal data of every committed audit event about `target` (an id, or a
    /// name in any case) and names their subject `id` instead; returns how many changed. For
    /// anonymisation: the trail keeps what happened and when, not who it happened to.
    fn erase_audit_of(&mut self, target: &str, id: &str) -> Result<usize, TxError>;
    /// Removes an audit event and its index entry (retention: `[audit] keep_days`).
    fn delete_audit(&mut self, id: uuid::Uuid) -> Result<(), TxError>;
    fn put_api_token(&mut self, digest: &SecretDigest, token: &ApiToken) -> Result<(), TxError>;
    fn api_token(&mut self, digest: &SecretDigest) -> Result<Option<ApiToken>, TxError>;
    fn put_link(&mut self, digest: &SecretDigest, link: &OneTimeLink) -> Result<(), TxError>;
    fn link(&mut self, digest: &SecretDigest) -> Result<Option<OneTimeLink>, TxError>;
    fn delete_link(&mut self, digest: &SecretDigest) -> Result<(), TxError>;
    fn login_state(&mut self, user: UserId) -> Result<Option<LoginState>, TxError>;
    fn put_login_state(&mut self, user: UserId, state: &LoginState) -> Result<(), TxError>;
    fn session(&mut self, user: UserId, jti: uuid::Uuid) -> Result<Option<Session>, TxError>;
    fn put_session(&mut self, session: &Session) -> Result<(), TxError>;
    fn delete_session(&mut self, user: UserId, jti: uuid::Uuid) -> Result<(), TxError>;
    fn set_meta(&mut self, key: &str, value: &[u8]) -> Result<(), TxError>;
}
