//! Reads reserved for administrators: license usage and the outbox.

use super::{Actor, Result, Service};
use crate::model::LicenseUsage;
use crate::outbox::OutboxMessage;

impl Service {
    /// License usage per type, for the admin REST API.
    pub fn license_report(&self, actor: &Actor) -> Result<Vec<LicenseUsage>> {
        self.require_administrator(actor, "read license usage")?;
        self.license_usage()
    }

    /// The outbox, oldest first. Messages may hold one-time links, hence administrators only.
    pub fn outbox_report(&self, actor: &Actor) -> Result<Vec<OutboxMessage>> {
        self.require_administrator(actor, "read the outbox")?;
        self.outbox()
    }
}
