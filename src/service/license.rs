//! Seats: who may take one, and what the admins are told when the pools run low.

use super::{Actor, Result, Service, ServiceError};
use crate::audit::AuditKind;
use crate::mail::{Rendered, Var, Vars};
use crate::model::{LicenseType, LicenseUsage, PartnerModel, User, UserId};
use crate::outbox::{ADMINS, MessageKind, OutboxMessage};
use crate::store::Txn;

impl Service {
    /// Refuses `new` taking a seat it did not hold in `old` when its pool is full. Runs inside the
    /// writing transaction, so the count and the activation are one atomic step: under any
    /// concurrency, active users never exceed the limit. Warns the admins, in the same
    /// transaction, when this seat brings the pool to 90%.
    pub(super) fn take_seat(&self, tx: &mut dyn Txn, old: Option<&User>, new: &User) -> Result<()> {
        let Some(license) = new.seat() else {
            return Ok(());
        };
        let limits = &self.policy.licenses;
        let per_account =
            license == LicenseType::Partner && limits.partner_model == PartnerModel::PerAccount;
        // A partner's seat comes with its account: moving to another account takes a new one.
        let held = old.and_then(User::seat) == Some(license)
            && (!per_account || old.and_then(|o| o.account) == new.account);
        if held {
            return Ok(());
        }
        if per_account {
            let account = match new.account {
                Some(id) => tx.account(id)?,
                None => None,
            };
            return match account {
                Some(a) if a.licensed => Ok(()),
                Some(a) => Err(ServiceError::AccountNotLicensed(a.name)),
                None => Err(ServiceError::AccountRequired(license)),
            };
        }
        let Some(limit) = limits.limit(license) else {
            return Ok(());
        };
        // The first count at or above 90%: the seat that reaches it warns the admins.
        let warn_at = limit.saturating_mul(9).div_ceil(10);
        // Well below it, the outcome (a seat, no warning) holds for any count that also is, so
        // the transaction only requires that: concurrent activations do not conflict over the
        // counter. Near it, the exact count decides and becomes part of what was read.
        if tx.seats_snapshot(license)?.saturating_add(1) < warn_at {
            tx.require_seats_below(license, warn_at - 1);
            return Ok(());
        }
        let used = tx.seats(license)?;
        if used >= limit {
            return Err(ServiceError::LicenseLimit {
                license,
                used,
                limit,
            });
        }
        if used * 10 < limit * 9 && (used + 1) * 10 >= limit * 9 {
            tx.push_outbox(&self.admin_notice(
                MessageKind::LicenseThreshold,
                Vars::new().with(
                    Var::Detail,
                    format!("{} of {limit} {license} licenses are in use", used + 1),
                ),
                None,
            ))?;
        }
        Ok(())
    }

    /// After a refused activation: tell the admins and leave a trace in the audit trail. Its own
    /// transaction, since the refused one wrote nothing.
    pub(super) fn record_refusal(
        &self,
        actor: &Actor,
        user: UserId,
        user_name: &str,
        refusal: &ServiceError,
    ) {
        let detail = refusal.to_string();
        let result = self.transact(|tx| {
            // A refused creation made no user: the message names none by id.
            let about = tx.user(user)?.map(|_| user);
            tx.push_outbox(
                &self.admin_notice(
                    MessageKind::LicenseRefused,
                    Vars::new()
                        .with(Var::UserName, user_name)
                        .with(Var::Detail, &detail),
                    about,
                ),
            )?;
            self.audit(
                tx,
                actor,
                AuditKind::LicenseRefused,
                Some(user_name.to_string()),
                Some(detail.clone()),
                None,
            )
        });
        if let Err(e) = result {
            tracing::error!(error = %e, "could not record a refused activation");
        }
    }

    /// A notification for the administrators, worded by its template; `about` is the user it
    /// names, so that anonymising that user erases it too.
    pub(super) fn admin_notice(
        &self,
        kind: MessageKind,
        vars: Vars,
        about: Option<UserId>,
    ) -> OutboxMessage {
        let vars = vars.with(Var::LoginUrl, &self.policy.public_url);
        let Rendered { subject, body } = self.policy.templates.render(kind, &vars);
        OutboxMessage::new(kind, Some(ADMINS.into()), about, subject, body)
    }

    /// Seats in use and the limit, per license type.
    pub fn license_usage(&self) -> Result<Vec<LicenseUsage>> {
        LicenseType::ALL
            .into_iter()
            .map(|license| {
                Ok(LicenseUsage {
                    license,
                    used: self.store.seats(license)?,
                    limit: self.policy.licenses.limit(license),
                })
            })
            .collect()
    }
}
