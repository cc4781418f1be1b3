//! Password recovery and first passwords by one-time link (seeds 000 and 002). A request never
//! tells whether the name or address exists; a link works once, until it expires, and only for
//! its purpose.

use time::OffsetDateTime;

use super::{Actor, NewPassword, Result, Service, ServiceError};
use crate::audit::{AuditKind, Source};
use crate::mail::Var;
use crate::model::{Action, PrincipalKind, User, UserId, fold};
use crate::outbox::MessageKind;
use crate::store::{Txn, UserKey};
use crate::token::{self, LinkPurpose, OneTimeLink};

/// Least time between two reset links a person asks for.
const RESET_REQUEST_PAUSE: time::Duration = time::Duration::minutes(1);

impl Service {
    /// `POST /auth/password/forgot`: queues a reset link for the user with this userName or
    /// email address, if there is exactly one who may sign in. The caller answers the same
    /// whatever happens here.
    pub fn request_password_reset(
        &self,
        name_or_email: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<()> {
        if !self.policy.recovery {
            return Err(ServiceError::Forbidden(
                "password recovery is disabled".into(),
            ));
        }
        let Some(user) = self.recoverable(name_or_email)? else {
            return Ok(());
        };
        let actor = Actor::anonymous(Source::Rest, client);
        let administrator = self.is_active_administrator(&user)?;
        if !self.recovery_for(administrator) {
            // The caller gets the same answer; the administrators see the attempt.
            let whom = if administrator {
                "administrators"
            } else {
                "regular users"
            };
            return self.transact(|tx| {
                self.audit(
                    tx,
                    &actor,
                    AuditKind::PasswordResetRequested,
                    Some(user.id.to_string()),
                    Some(format!(
                        "no link sent: password recovery is disabled for {whom}"
                    )),
                    None,
                )
            });
        }
        let Some(to) = user.contact_email().map(str::to_string) else {
            return Ok(());
        };
        let now = OffsetDateTime::now_utc();
        self.transact(|tx| {
            let mut state = tx.login_state(user.id)?.unwrap_or_default();
            if state
                .reset_requested
                .is_some_and(|last| now - last < RESET_REQUEST_PAUSE)
            {
                // The link sent a moment ago is the one to use; nothing more is written, so
                // a flood of requests costs the store nothing either.
                return Ok(());
            }
            state.reset_requested = Some(now);
            tx.put_login_state(user.id, &state)?;
            self.queue_reset_link(tx, &actor, &user, &to, None)
                .map(drop)
        })
    }

    /// Seed 002: an admin sends a user the password change link, whether or not users may ask
    /// for one themselves (`[recovery] enabled`). Needs Edit on the user; the user must be an
    /// active person with an email address. Returns when the link expires.
    pub fn send_password_link(&self, actor: &Actor, id: UserId) -> Result<OffsetDateTime> {
        let subject = self.subject(actor)?;
        self.transact(|tx| {
            let user = super::users::readable(tx, id)?;
            self.authorize_user_change(&mut super::InTx(tx), &subject, Action::Edit, &user)?;
            if !user.active || user.kind != PrincipalKind::Person {
                return Err(ServiceError::invalid(
                    "user",
                    "password links go to active people only",
                ));
            }
            let to = user.contact_email().map(str::to_string).ok_or_else(|| {
                ServiceError::invalid("emails", "the user has no email address to send a link to")
            })?;
            self.queue_reset_link(tx, actor, &user, &to, Some("sent by an administrator"))
        })
    }

    /// Seed 001: when a role stops forcing single sign-on, "reset passwords for all users with
    /// this role". Passwords that were unusable while the role forced SSO (perhaps set long
    /// ago, perhaps known to others) would work again: each member's is cleared, and an active
    /// person with an address gets a reset link to choose a new one. Runs in the role's
    /// transaction.
    pub(super) fn reset_members_after_sso(
        &self,
        tx: &mut dyn Txn,
        actor: &Actor,
        role: &crate::model::Role,
        members: &[UserId],
    ) -> Result<()> {
        let now = OffsetDateTime::now_utc();
        let detail = format!("role {:?} allows password login again", role.name);
        for member in members {
            let Some(mut user) = tx.user(*member)?.filter(|u| !u.anonymised) else {
                continue;
            };
            if user.password_hash.take().is_some() {
                // Cleared counts as changed: links issued before are void.
                user.password_changed = Some(now);
                super::users::put_server_managed(tx, &mut user, now)?;
                self.audit(
                    tx,
                    actor,
                    AuditKind::PasswordChanged,
                    Some(user.id.to_string()),
                    Some(format!("password cleared: {detail}")),
                    None,
                )?;
            }
            if user.active
                && user.kind == PrincipalKind::Person
                && let Some(to) = user.contact_email().map(str::to_string)
            {
                self.queue_reset_link(tx, actor, &user, &to, Some(&detail))?;
            }
        }
        Ok(())
    }

    /// A reset link for `user`: the link (as a digest), the message carrying it, and the
    /// audit entry, in the caller's transaction. Returns when the link expires.
    pub(super) fn queue_reset_link(
        &self,
        tx: &mut dyn Txn,
        actor: &Actor,
        user: &User,
        to: &str,
        detail: Option<&str>,
    ) -> Result<OffsetDateTime> {
        let secret = token::random_secret();
        let now = OffsetDateTime::now_utc();
        let expires = now + self.policy.recovery_link_ttl;
        let login = &self.policy.public_url;
        let vars = self
            .user_vars(user)
            .with(
                Var::Link,
                format!("{login}/auth/password/reset?token={secret}"),
            )
            .with(Var::LinkExpires, super::notice::human_time(expires, user));
        let mut message = self.message_to(MessageKind::PasswordReset, user, Some(to), &vars);
        message.link_expires = Some(expires);
        tx.put_link(
            &token::digest(&secret),
            &OneTimeLink {
                user: user.id,
                purpose: LinkPurpose::ResetPassword,
                expires,
                issued: Some(now),
            },
        )?;
        tx.push_outbox(&message)?;
        self.audit(
            tx,
            actor,
            AuditKind::PasswordResetRequested,
            Some(user.id.to_string()),
            detail.map(str::to_string),
            None,
        )?;
        Ok(expires)
    }

    /// Whether `[recovery]` lets users of this kind (administrators or not) ask for a link.
    fn recovery_for(&self, administrator: bool) -> bool {
        if administrator {
            self.policy.recovery_for.administrators
        } else {
            self.policy.recovery_for.regular_users
        }
    }

    /// How `user`, whose password has expired, gets a new one: by a reset link only if one
    /// asked for at `POST /auth/password/forgot` would come.
    pub(super) fn new_password_for(&self, user: &User) -> Result<NewPassword> {
        let links = self.policy.recovery
            && user.active
            && !user.anonymised
            && user.kind == PrincipalKind::Person
            && user.contact_email().is_some()
            && self.recovery_for(self.is_active_administrator(user)?);
        Ok(if links {
            NewPassword::ResetLink
        } else {
            NewPassword::FromAdministrator
        })
    }

    fn recoverable(&self, name_or_email: &str) -> Result<Option<User>> {
        let key = fold(name_or_email.trim());
        let id = match self.records().user_by_name(&key)? {
            Some(id) => Some(id),
            None => match self.records().users_by(&UserKey::Email(key))?.as_slice() {
                [one] => Some(*one),
                _ => None,
            },
        };
        let Some(id) = id else { return Ok(None) };
        Ok(self
            .records()
            .user(id)?
            .filter(|u| u.active && !u.anonymised && u.kind == PrincipalKind::Person))
    }

    /// `POST /auth/password/reset` and `POST /auth/activate`: sets the password of the link's
    /// user under the policy, spends the link and lifts a lockout (the holder proved they own
    /// the mailbox).
    /// Whether a link would be accepted now (it is not redeemed by this): the page a link
    /// opens says at once when it is used or expired, before the user picks a password.
    pub fn link_usable(&self, purpose: LinkPurpose, secret: &str) -> Result<bool> {
        let digest = token::digest(secret);
        Ok(self
            .link_holder(purpose, &digest, OffsetDateTime::now_utc())?
            .is_some())
    }

    /// The user a live link of this purpose was issued to, while that user may still sign in.
    fn link_holder(
        &self,
        purpose: LinkPurpose,
        digest: &token::SecretDigest,
        now: OffsetDateTime,
    ) -> Result<Option<User>> {
        let Some(link) = self
            .records()
            .link(digest)?
            .filter(|l| l.purpose == purpose && l.expires > now)
        else {
            return Ok(None);
        };
        Ok(self
            .records()
            .user(link.user)?
            .filter(|u| u.active && !u.anonymised && self.link_outlives_passwords(&link, u)))
    }

    /// Whether no password was set or cleared for `user` since `link` was issued. A link is
    /// for the password the user had when asking: once another is set (this link's sibling
    /// redeemed, a change of one's own, an administrator's reset or clearing), the links
    /// issued before it are void, or a link lying in a mailbox would undo the change.
    fn link_outlives_passwords(&self, link: &OneTimeLink, user: &User) -> bool {
        let issued = link.issued.unwrap_or_else(|| {
            link.expires
                - match link.purpose {
                    LinkPurpose::SetPassword => self.policy.activation_link_ttl,
                    LinkPurpose::ResetPassword => self.policy.recovery_link_ttl,
                }
        });
        user.password_changed
            .is_none_or(|changed| issued >= changed)
    }

    pub fn redeem_link(
        &self,
        purpose: LinkPurpose,
        secret: &str,
        password: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<()> {
        let digest = token::digest(secret);
        let invalid = || ServiceError::invalid("token", "the link is invalid, used or expired");
        let now = OffsetDateTime::now_utc();
        let user = self
            .link_holder(purpose, &digest, now)?
            .ok_or_else(invalid)?;
        let hash = self.new_password_hash(Some(&user), password)?;
        let actor = Actor::user(user.id, Source::Rest, client);
        self.transact(|tx| {
            // Spent inside the transaction: two concurrent redemptions cannot both win, and
            // a password set meanwhile voids it.
            let Some(link) = tx.link(&digest)? else {
                return Err(invalid());
            };
            tx.delete_link(&digest)?;
            let old = super::users::readable(tx, user.id)?;
            if !self.link_outlives_passwords(&link, &old) {
                return Err(invalid());
            }
            let mut new = old.clone();
            self.install_password(&mut new, hash.clone(), now, false);
            new.locked_until = None;
            let detail = match purpose {
                LinkPurpose::SetPassword => "first password set from the activation link",
                LinkPurpose::ResetPassword => "password reset by link",
            };
            self.commit_user_because(tx, &actor, Some(&old), new, Some(detail.into()))
                .map(drop)
        })
    }
}
