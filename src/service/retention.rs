//! Retention: what the store keeps for reading only (sent messages, the audit trail) is
//! removed once older than configured, so that a directory does not grow with every message
//! and every bind for ever. The running server's hourly run applies it
//! (`[outbox] keep_days`, `[audit] keep_days`).

use time::OffsetDateTime;
use uuid::Uuid;

use super::{Result, Service};

/// Records removed per transaction, so that the first run over a large backlog never becomes
/// one huge commit.
const BATCH: usize = 256;

impl Service {
    /// Removes the outbox messages created before `before`, sent or not: their links expired
    /// long ago. Returns how many.
    pub fn prune_outbox(&self, before: OffsetDateTime) -> Result<usize> {
        let mut old = Vec::new();
        for message in self.store.outbox() {
            let message = message?;
            if message.created < before {
                old.push(message.id);
            }
        }
        self.delete_in_batches(&old, |tx, id| tx.delete_outbox(id))?;
        Ok(old.len())
    }

    /// Removes the audit events from before `before`, a batch at a time from the oldest, with
    /// their index entries. Returns how many.
    pub fn prune_audit(&self, before: OffsetDateTime) -> Result<usize> {
        let mut removed = 0;
        loop {
            let mut old = Vec::with_capacity(BATCH);
            for event in self.store.audit_from(Uuid::nil()) {
                let event = event?;
                if event.at >= before || old.len() == BATCH {
                    break;
                }
                old.push(event.id);
            }
            if old.is_empty() {
                return Ok(removed);
            }
            self.delete_in_batches(&old, |tx, id| tx.delete_audit(id))?;
            removed += old.len();
        }
    }

    fn delete_in_batches(
        &self,
        ids: &[Uuid],
        delete: impl Fn(
            &mut dyn crate::store::Txn,
            Uuid,
        ) -> std::result::Result<(), crate::store::TxError>,
    ) -> Result<()> {
        for batch in ids.chunks(BATCH) {
            self.transact(|tx| {
                for id in batch {
                    delete(tx, *id)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }
}
