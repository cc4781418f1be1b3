//! TOTP enrolment: a user starts it with its own session, proves possession with one code to
//! turn it on, and it (with its password) or an administrator (Edit on the user) turns it off.

use time::OffsetDateTime;

use super::users::readable;
use super::{Actor, Principal, Result, Service, ServiceError};
use crate::audit::AuditKind;
use crate::auth::totp::TotpEnrolment;
use crate::model::{Action, UserId};

/// What the user copies into an authenticator app; shown once.
#[derive(Clone, Debug)]
pub struct Enrolment {
    pub secret: String,
    pub otpauth_uri: String,
}

impl Service {
    /// Starts (or restarts) enrolment for the signed-in user. A confirmed authenticator is not
    /// replaced this way: remove it first, so a stolen session cannot swap it.
    pub fn enrol_totp(&self, actor: &Actor) -> Result<Enrolment> {
        let id = own_user(actor)?;
        refuse_acting_admin(actor)?;
        let enrolment = TotpEnrolment::generate();
        let user = self.transact(|tx| {
            let mut user = readable(tx, id)?;
            if user.has_mfa() {
                return Err(ServiceError::invalid(
                    "totp",
                    "an authenticator is already enrolled; remove it first",
                ));
            }
            user.totp = Some(enrolment.clone());
            super::users::put_server_managed(tx, &mut user, OffsetDateTime::now_utc())?;
            Ok(user)
        })?;
        let issuer = "Rollcall";
        let otpauth_uri = enrolment
            .uri(issuer, &user.user_name)
            .map_err(|e| ServiceError::invalid("totp", e.to_string()))?;
        Ok(Enrolment {
            secret: enrolment.secret,
            otpauth_uri,
        })
    }

    /// Turns the pending enrolment on once `code` proves the user holds the secret. The step
    /// used is spent, like a login's.
    pub fn confirm_totp(&self, actor: &Actor, code: &str) -> Result<()> {
        let id = own_user(actor)?;
        refuse_acting_admin(actor)?;
        let now = OffsetDateTime::now_utc();
        self.transact(|tx| {
            let mut user = readable(tx, id)?;
            let Some(enrolment) = user.totp.clone().filter(|t| !t.confirmed) else {
                return Err(ServiceError::invalid(
                    "totp",
                    "no enrolment is pending; start one with POST /auth/totp/enroll",
                ));
            };
            let step = enrolment
                .check(code, now.unix_timestamp().max(0).unsigned_abs())
                .map_err(|e| ServiceError::invalid("totp", e.to_string()))?
                .ok_or_else(|| ServiceError::invalid("code", "the code does not match"))?;
            let mut state = tx.login_state(id)?.unwrap_or_default();
            state.last_totp_step = Some(step);
            tx.put_login_state(id, &state)?;
            user.totp = Some(crate::auth::totp::TotpEnrolment {
                confirmed: true,
                ..enrolment
            });
            super::users::put_server_managed(tx, &mut user, now)?;
            self.audit(
                tx,
                actor,
                AuditKind::MfaEnrolled,
                Some(id.to_string()),
                None,
                None,
            )
        })
    }

    /// Removes the authenticator of `target` (the caller's own when `None`). One's own working
    /// authenticator goes only with one's current `password`: a session token alone (left on
    /// a shared machine, or stolen) must not be enough to take the second factor off.
    /// Returns whether there was one (confirmed or being enrolled) to remove: removing none
    /// changes nothing, audits nothing, and is no error (REST answers `204` either way).
    pub fn remove_totp(
        &self,
        actor: &Actor,
        target: Option<UserId>,
        password: Option<&str>,
    ) -> Result<bool> {
        let id = match target {
            Some(id) => id,
            None => own_user(actor)?,
        };
        if actor.principal == Principal::User(id)
            && self.store.user(id)?.is_some_and(|u| u.has_mfa())
        {
            refuse_acting_admin(actor)?;
            let Some(password) = password else {
                return Err(ServiceError::invalid(
                    "password",
                    "removing your own authenticator takes your current password",
                ));
            };
            self.reauthenticate(actor, id, password)?;
        }
        let subject = self.subject(actor)?;
        self.transact(|tx| {
            let mut user = readable(tx, id)?;
            if actor.principal != Principal::User(id) {
                self.authorize_user_change(&mut super::InTx(tx), &subject, Action::Edit, &user)?;
            }
            if user.totp.is_none() {
                return Ok(false);
            }
            let confirmed = user.has_mfa();
            user.totp = None;
            super::users::put_server_managed(tx, &mut user, OffsetDateTime::now_utc())?;
            if confirmed {
                self.notify_mfa_removed(tx, actor, &user)?;
            }
            self.audit(
                tx,
                actor,
                AuditKind::MfaRemoved,
                Some(id.to_string()),
                None,
                None,
            )?;
            Ok(true)
        })
    }
}

/// An authenticator is the person's own: an administrator acting as the user neither plants
/// one (the user would be shut out by a code only the administrator holds) nor removes one.
fn refuse_acting_admin(actor: &Actor) -> Result<()> {
    match actor.acting_admin {
        Some(_) => Err(ServiceError::Forbidden(
            "an administrator acting as a user cannot enrol or remove its authenticator".into(),
        )),
        None => Ok(()),
    }
}

fn own_user(actor: &Actor) -> Result<UserId> {
    match actor.principal {
        Principal::User(id) => Ok(id),
        _ => Err(ServiceError::Forbidden(
            "only a signed-in user has an authenticator".into(),
        )),
    }
}
