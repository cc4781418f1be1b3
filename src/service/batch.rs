//! Batch actions on the members of a role (seed 003: "access revocation", "mass password
//! resets"), for incident response: a role's members signed out everywhere, or their passwords
//! cleared and replaced through emailed links, when the role's people may be compromised.
//! Administrators only, since one call reaches many users. Members are handled a few at a time,
//! each batch in one transaction, so a large role never becomes one huge commit.

use time::OffsetDateTime;

use super::{Actor, Principal, Result, Service};
use crate::audit::AuditKind;
use crate::model::{PrincipalKind, RoleId, UserId};
use crate::store::{Txn, UserKey};

/// Members per transaction.
const BATCH: usize = 64;

/// What a role-wide password reset did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RoleReset {
    /// Members whose password was cleared.
    pub cleared: usize,
    /// Members sent a link to choose a new one.
    pub linked: usize,
    /// Active people without an email address: no link could go to them, so an administrator
    /// sets their passwords.
    pub unreachable: Vec<String>,
}

impl Service {
    /// Ends every session of every member of `role`; returns how many members it reached.
    pub fn sign_out_members(&self, actor: &Actor, role: RoleId) -> Result<usize> {
        self.require_administrator(actor, "sign out a role's members")?;
        let role = self.role(actor, role)?;
        let detail = format!("every session: members of role {:?} signed out", role.name);
        let now = OffsetDateTime::now_utc();
        let done = self.each_member(role.id, None, |tx, id| {
            let Some(mut user) = self.member(tx, id, role.id)? else {
                return Ok(None);
            };
            user.sessions_revoked = Some(now);
            super::users::put_server_managed(tx, &mut user, now)?;
            self.audit(
                tx,
                actor,
                AuditKind::SessionRevoked,
                Some(id.to_string()),
                Some(detail.clone()),
                None,
            )?;
            Ok(Some(()))
        })?;
        Ok(done.len())
    }

    /// Clears the password of every person in `role` and ends its sessions; active people
    /// with an address get a reset link. The administrator who asks keeps its own password.
    /// Service accounts are left alone: their credentials are the applications' to rotate.
    pub fn reset_member_passwords(&self, actor: &Actor, role: RoleId) -> Result<RoleReset> {
        self.require_administrator(actor, "reset a role's passwords")?;
        let role = self.role(actor, role)?;
        let detail = format!("password cleared: passwords of role {:?} reset", role.name);
        let link_detail = format!("passwords of role {:?} reset", role.name);
        let asking = match actor.principal {
            Principal::User(id) => Some(id),
            _ => None,
        };
        let now = OffsetDateTime::now_utc();
        // Per member: whether a password was cleared, and whether a link went out (`None`:
        // none was due, `Some(Err(name))`: due, but the member has no address).
        let done = self.each_member(role.id, asking, |tx, id| {
            let Some(mut user) = self.member(tx, id, role.id)? else {
                return Ok(None);
            };
            if user.kind != PrincipalKind::Person {
                return Ok(None);
            }
            let cleared = user.password_hash.take().is_some();
            user.sessions_revoked = Some(now);
            if cleared {
                // Cleared counts as changed: links issued before are void.
                user.password_changed = Some(now);
            }
            super::users::put_server_managed(tx, &mut user, now)?;
            if cleared {
                self.audit(
                    tx,
                    actor,
                    AuditKind::PasswordChanged,
                    Some(id.to_string()),
                    Some(detail.clone()),
                    None,
                )?;
            }
            let link = match user.contact_email().map(str::to_string) {
                _ if !user.active => None,
                Some(to) => {
                    self.queue_reset_link(tx, actor, &user, &to, Some(&link_detail))?;
                    Some(Ok(()))
                }
                None => Some(Err(user.user_name.clone())),
            };
            Ok(Some((cleared, link)))
        })?;
        let mut outcome = RoleReset::default();
        for (cleared, link) in done {
            outcome.cleared += usize::from(cleared);
            match link {
                Some(Ok(())) => outcome.linked += 1,
                Some(Err(name)) => outcome.unreachable.push(name),
                None => {}
            }
        }
        Ok(outcome)
    }

    /// `member`, if it still holds `role` and is not anonymised.
    fn member(
        &self,
        tx: &mut dyn Txn,
        member: UserId,
        role: RoleId,
    ) -> Result<Option<crate::model::User>> {
        Ok(tx
            .user(member)?
            .filter(|u| !u.anonymised && u.roles.contains(&role)))
    }

    /// Runs `each` for the members of `role` but `skip`; see [`Service::in_batches`].
    fn each_member<T>(
        &self,
        role: RoleId,
        skip: Option<UserId>,
        each: impl Fn(&mut dyn Txn, UserId) -> Result<Option<T>>,
    ) -> Result<Vec<T>> {
        let members: Vec<UserId> = self
            .store
            .users_by(&UserKey::Role(role))?
            .into_iter()
            .filter(|m| Some(*m) != skip)
            .collect();
        self.in_batches(&members, each)
    }

    /// Runs `each` for `items` (users, outbox messages), [`BATCH`] to a transaction, so that
    /// acting on many never becomes one huge commit; returns what it returned for the items it
    /// acted on, from the committed runs only (the engine runs a transaction again after a
    /// conflict).
    pub(super) fn in_batches<I: Copy, T>(
        &self,
        items: &[I],
        each: impl Fn(&mut dyn Txn, I) -> Result<Option<T>>,
    ) -> Result<Vec<T>> {
        self.in_recorded_batches(items, each, |_, _| Ok(()))
    }

    /// As [`Service::in_batches`], and `record` writes the audit entry of what a batch did
    /// (called only when it did something) last in that batch's own transaction. An entry
    /// written after all the batches, in a transaction of its own, would be lost to a crash
    /// (or a failed write) after changes that were made, or would tell of changes that a
    /// failed batch never made; this way the trail accounts for exactly what was committed,
    /// and a batch whose entry cannot be written is not committed either.
    pub(super) fn in_recorded_batches<I: Copy, T>(
        &self,
        items: &[I],
        each: impl Fn(&mut dyn Txn, I) -> Result<Option<T>>,
        record: impl Fn(&mut dyn Txn, &[T]) -> Result<()>,
    ) -> Result<Vec<T>> {
        let mut acted = Vec::new();
        for batch in items.chunks(BATCH) {
            acted.extend(self.transact(|tx| {
                let mut done = Vec::new();
                for id in batch {
                    done.extend(each(tx, *id)?);
                }
                if !done.is_empty() {
                    record(tx, &done)?;
                }
                Ok(done)
            })?);
        }
        Ok(acted)
    }
}
