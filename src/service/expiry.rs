//! Sessions and one-time links that can no longer be used are removed, so that the store does
//! not grow with every sign-in for ever. Nothing is lost: a token whose session record is gone
//! is refused just as an ended one is, and the audit trail keeps when each session began and
//! ended.

use time::OffsetDateTime;

use super::{Result, Service};
use crate::model::UserId;
use crate::store::{TxError, Txn};
use crate::token::SecretDigest;

/// Records removed per transaction, so that a large backlog (the first sweep after an upgrade)
/// does not become one huge commit.
const SWEEP_BATCH: usize = 256;

/// What a sweep removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub sessions: usize,
    pub links: usize,
}

impl Service {
    /// Removes the sessions that ended (expired or revoked) and the one-time links that
    /// expired before `now`. Neither can come back to life, so what is read here outside the
    /// transactions stays true.
    pub fn sweep_ended(&self, now: OffsetDateTime) -> Result<Swept> {
        let mut sessions: Vec<(UserId, uuid::Uuid)> = Vec::new();
        for session in self.store.sessions() {
            let session = session?;
            if !session.is_live(now) {
                sessions.push((session.user, session.jti));
            }
        }
        self.remove_in_batches(&sessions, |tx, (user, jti)| tx.delete_session(*user, *jti))?;
        let mut links: Vec<SecretDigest> = Vec::new();
        for link in self.store.links() {
            let (digest, link) = link?;
            if link.expires <= now {
                links.push(digest);
            }
        }
        self.remove_in_batches(&links, |tx, digest| tx.delete_link(digest))?;
        Ok(Swept {
            sessions: sessions.len(),
            links: links.len(),
        })
    }

    /// Removes `keys` with `remove`, [`SWEEP_BATCH`] to a transaction.
    fn remove_in_batches<K>(
        &self,
        keys: &[K],
        remove: impl Fn(&mut dyn Txn, &K) -> std::result::Result<(), TxError>,
    ) -> Result<()> {
        for batch in keys.chunks(SWEEP_BATCH) {
            self.transact(|tx| {
                for key in batch {
                    remove(tx, key)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }
}
