//! Announcements (seed 003: "group notifications", "system announcements"): an administrator's
//! message to the active people of some roles, or to everyone, by mail through the outbox. The
//! directory knows who is in which role and where they read mail, so a maintenance window or a
//! policy change reaches exactly the people it concerns. Administrators only: the message goes
//! out in the directory's name to many people.

use std::collections::BTreeSet;

use super::{Actor, Result, Service, ServiceError};
use crate::audit::AuditKind;
use crate::mail::Var;
use crate::model::{PrincipalKind, RoleId, UserId};
use crate::outbox::MessageKind;
use crate::store::UserKey;

/// Longest subject: a mail client shows one line.
pub const MAX_SUBJECT: usize = 200;
/// Longest text, in bytes: an announcement, not a document.
pub const MAX_BODY: usize = 64 * 1024;

/// Who an announcement goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience {
    /// The members of these roles or groups, each person once.
    Roles(Vec<RoleId>),
    /// Every active person.
    Everyone,
}

/// An announcement as an administrator writes it.
#[derive(Clone, Debug)]
pub struct Announcement {
    pub subject: String,
    pub body: String,
    pub audience: Audience,
}

/// What an announcement reached.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Announced {
    /// Messages queued, one per person.
    pub queued: usize,
    /// Active people it was for who have no email address.
    pub without_address: Vec<String>,
}

impl Service {
    /// Queues `announcement` for every active person it is for who has an address. Inactive,
    /// anonymised and service accounts are left out: they read no mail here. Each batch of
    /// people is audited in its own transaction, with its own counts, so that the entries of
    /// one announcement add up to the messages queued, even if it stops part way.
    pub fn announce(&self, actor: &Actor, announcement: &Announcement) -> Result<Announced> {
        self.require_administrator(actor, "send announcements")?;
        let subject = announcement.subject.trim();
        check_text(subject, announcement.body.trim())?;
        let (ids, to) = match &announcement.audience {
            Audience::Everyone => (self.store.named_user_ids()?, "everyone".to_string()),
            Audience::Roles(roles) if roles.is_empty() => {
                return Err(ServiceError::invalid(
                    "roles",
                    "name at least one role, or send to everyone",
                ));
            }
            Audience::Roles(roles) => {
                let mut names = Vec::with_capacity(roles.len());
                let mut ids = BTreeSet::new();
                for id in roles {
                    names.push(self.role(actor, *id)?.name);
                    ids.extend(self.store.users_by(&UserKey::Role(*id))?);
                }
                (ids.into_iter().collect(), format!("members of {names:?}"))
            }
        };
        let body = announcement.body.trim();
        let each = |tx: &mut dyn crate::store::Txn, id: UserId| {
            let Some(user) = tx.user(id)? else {
                return Ok(None);
            };
            if user.anonymised || !user.active || user.kind != PrincipalKind::Person {
                return Ok(None);
            }
            let Some(address) = user.contact_email() else {
                return Ok(Some(Err(user.user_name.clone())));
            };
            let vars = self
                .user_vars(&user)
                .with(Var::Subject, subject)
                .with(Var::Detail, body);
            tx.push_outbox(&self.message_to(
                MessageKind::Announcement,
                &user,
                Some(address),
                &vars,
            ))?;
            Ok(Some(Ok(())))
        };
        let record = |tx: &mut dyn crate::store::Txn, queued: usize, without: usize| {
            let detail =
                format!("{subject:?} to {to}: {queued} queued, {without} without an address");
            self.audit(
                tx,
                actor,
                AuditKind::AnnouncementSent,
                None,
                Some(detail),
                None,
            )
        };
        // Each batch's messages and the entry that counts them commit together.
        let reached = self.in_recorded_batches(&ids, each, |tx, done| {
            let queued = done.iter().filter(|r| r.is_ok()).count();
            record(tx, queued, done.len() - queued)
        })?;
        let mut outcome = Announced::default();
        for person in reached {
            match person {
                Ok(()) => outcome.queued += 1,
                Err(name) => outcome.without_address.push(name),
            }
        }
        // An announcement that reached no one changed nothing, and is still recorded as sent.
        if outcome.queued == 0 && outcome.without_address.is_empty() {
            self.transact(|tx| record(tx, 0, 0))?;
        }
        Ok(outcome)
    }
}

/// A subject that fits on one line of a mail header, and a text that says something.
fn check_text(subject: &str, body: &str) -> Result<()> {
    if subject.is_empty() {
        return Err(ServiceError::invalid(
            "subject",
            "an announcement needs a subject",
        ));
    }
    if subject.chars().count() > MAX_SUBJECT {
        return Err(ServiceError::invalid(
            "subject",
            format!("longer than {MAX_SUBJECT} characters"),
        ));
    }
    // A line break in a subject would end the mail header it goes into.
    if subject.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            "subject",
            "one line, without control characters",
        ));
    }
    if body.is_empty() {
        return Err(ServiceError::invalid(
            "body",
            "an announcement needs a text",
        ));
    }
    if body.len() > MAX_BODY {
        return Err(ServiceError::invalid(
            "body",
            format!("longer than {MAX_BODY} bytes"),
        ));
    }
    if body
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(ServiceError::invalid(
            "body",
            "plain text, without control characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_one_line_and_texts_plain() {
        assert!(check_text("Maintenance on Saturday", "The VPN is down\nfrom 8 to 10.").is_ok());
        for (subject, body) in [
            ("", "text"),
            ("two\r\nBcc: everyone@example.com", "text"),
            ("subject", ""),
            ("subject", "bell \u{7}"),
        ] {
            assert!(
                matches!(check_text(subject, body), Err(ServiceError::Invalid { .. })),
                "{subject:?} {body:?}"
            );
        }
        assert!(check_text(&"s".repeat(MAX_SUBJECT), "text").is_ok());
        assert!(check_text(&"s".repeat(MAX_SUBJECT + 1), "text").is_err());
        assert!(check_text("s", &"b".repeat(MAX_BODY + 1)).is_err());
    }
}
