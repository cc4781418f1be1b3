//! Messages the directory owes to people: activation notices and admin notifications. They are
//! written in the transaction that causes them, so an activation is never acknowledged without its
//! notice; delivery ([`crate::mail`]) reads from here and records each attempt on the message.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::model::UserId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Sent when a user becomes active; may carry a set-password link.
    Activation,
    /// A password-recovery link, on the user's request.
    PasswordReset,
    /// Too many failed logins locked an account.
    AccountLocked,
    /// A license pool reached 90% of its limit.
    LicenseThreshold,
    /// An activation was refused for lack of seats.
    LicenseRefused,
    /// Someone gained power: a user given the Administrator System Role, or a role made an
    /// administrator role or given wider permissions.
    PermissionEscalation,
    /// A dormant account was deactivated: nobody signed in with it for the configured time.
    DormantDeactivated,
    /// To a user: its account will be deactivated as dormant unless it signs in.
    DormantWarning,
    /// Failed sign-ins for many users from one address: password spraying, likely.
    SuspiciousSignIns,
    /// To a user: its password, email address or authenticator changed.
    SecurityNotice,
    /// To a user: an administrator's announcement to the people of some roles, or everyone.
    Announcement,
    /// To a user: its password expires soon (`[password] expiry_warning_days`).
    PasswordExpiring,
    /// To a user: a code to finish signing in with (`[mfa] email_codes`).
    SignInCode,
}

impl MessageKind {
    pub const ALL: [MessageKind; 13] = [
        Self::Activation,
        Self::PasswordReset,
        Self::AccountLocked,
        Self::LicenseThreshold,
        Self::LicenseRefused,
        Self::PermissionEscalation,
        Self::DormantDeactivated,
        Self::DormantWarning,
        Self::SuspiciousSignIns,
        Self::SecurityNotice,
        Self::Announcement,
        Self::PasswordExpiring,
        Self::SignInCode,
    ];

    /// The snake_case name used in records and in template file names (`<name>.txt`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Activation => "activation",
            Self::PasswordReset => "password_reset",
            Self::AccountLocked => "account_locked",
            Self::LicenseThreshold => "license_threshold",
            Self::LicenseRefused => "license_refused",
            Self::PermissionEscalation => "permission_escalation",
            Self::DormantDeactivated => "dormant_deactivated",
            Self::DormantWarning => "dormant_warning",
            Self::SuspiciousSignIns => "suspicious_sign_ins",
            Self::SecurityNotice => "security_notice",
            Self::Announcement => "announcement",
            Self::PasswordExpiring => "password_expiring",
            Self::SignInCode => "sign_in_code",
        }
    }
}

impl std::str::FromStr for MessageKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown message kind {s:?} (one of {})",
                    Self::ALL.map(|k| k.as_str()).join(", ")
                )
            })
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Recipient of admin notifications; delivery expands it to the administrators' addresses.
pub const ADMINS: &str = "admins";

/// A queued message and its delivery history. The fields after `sent` came with SMTP delivery;
/// they default so that records written before it still decode.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxMessage {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    pub kind: MessageKind,
    /// An email address, [`ADMINS`], or `None` when the user has no address on file.
    pub to: Option<String>,
    /// The user the message is for or, for an admin notification, about.
    pub user: Option<UserId>,
    pub subject: String,
    /// May hold a one-time link: never logged (see the `Debug` impl).
    pub body: String,
    /// When the set-password link in the body stops working.
    #[serde(with = "time::serde::rfc3339::option")]
    pub link_expires: Option<OffsetDateTime>,
    #[serde(default)]
    pub sent: bool,
    /// Failed delivery attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// Why the last attempt failed, or why the message is undeliverable.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Not retried before this time (backoff after a failure); `None`: due now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub next_attempt: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
    /// Can never be delivered (no address, no administrator with one): kept for the admins to
    /// read, never retried.
    #[serde(default)]
    pub undeliverable: bool,
    /// Address, subject and body were erased when the user it was for was anonymised.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub erased: bool,
    /// An administrator stopped it before it went out (an announcement to the wrong people,
    /// a backlog queued while the relay was misconfigured). Kept for the record, never sent.
    /// Defaults, so records written before cancellation existed still decode.
    #[serde(default)]
    pub cancelled: bool,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub cancelled_at: Option<OffsetDateTime>,
    /// Who cancelled it, as the audit trail names actors: a user id, or `system` (the CLI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<String>,
}

impl OutboxMessage {
    /// A new, unsent message created now.
    pub fn new(
        kind: MessageKind,
        to: Option<String>,
        user: Option<UserId>,
        subject: String,
        body: String,
    ) -> Self {
        Self {
            id: Uuid::now_v7(),
            created: OffsetDateTime::now_utc(),
            kind,
            to,
            user,
            subject,
            body,
            link_expires: None,
            sent: false,
            attempts: 0,
            last_error: None,
            next_attempt: None,
            sent_at: None,
            undeliverable: false,
            erased: false,
            cancelled: false,
            cancelled_at: None,
            cancelled_by: None,
        }
    }

    /// Drops what names or reaches the recipient (address, subject, body and its link); an
    /// unsent message is never sent. Returns whether anything changed.
    pub fn erase_personal_data(&mut self) -> bool {
        if self.erased {
            return false;
        }
        self.to = None;
        self.subject = String::new();
        self.body = String::new();
        self.link_expires = None;
        // A cancelled message keeps saying why it never went out.
        if !self.sent && !self.cancelled {
            self.undeliverable = true;
            self.next_attempt = None;
            self.last_error = Some("the recipient was anonymised".into());
        }
        self.erased = true;
        true
    }

    /// Neither sent, nor given up on, nor cancelled: delivery still owes it.
    pub fn is_waiting(&self) -> bool {
        !self.sent && !self.undeliverable && !self.cancelled
    }

    /// Waiting for delivery and due at `now`.
    pub fn is_due(&self, now: OffsetDateTime) -> bool {
        self.is_waiting() && self.next_attempt.is_none_or(|at| at <= now)
    }

    /// Stops a waiting message for good; `by` names the actor as the audit trail does.
    pub fn cancel(&mut self, by: String, at: OffsetDateTime) {
        self.cancelled = true;
        self.cancelled_at = Some(at);
        self.cancelled_by = Some(by);
        self.next_attempt = None;
    }
}

/// Leaves the body out: it may carry a one-time link, and a `?message` in a log line must not
/// hand it to whoever reads the logs.
impl fmt::Debug for OutboxMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxMessage")
            .field("id", &self.id)
            .field("created", &self.created)
            .field("kind", &self.kind)
            .field("to", &self.to)
            .field("user", &self.user)
            .field("subject", &self.subject)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .field("link_expires", &self.link_expires)
            .field("sent", &self.sent)
            .field("attempts", &self.attempts)
            .field("last_error", &self.last_error)
            .field("next_attempt", &self.next_attempt)
            .field("sent_at", &self.sent_at)
            .field("undeliverable", &self.undeliverable)
            .field("cancelled", &self.cancelled)
            .field("cancelled_at", &self.cancelled_at)
            .field("cancelled_by", &self.cancelled_by)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_written_before_delivery_existed_still_decode() {
        let old = r#"{"id":"0190b6a4-0000-7000-8000-000000000000","created":"2024-07-01T10:00:00Z",
            "kind":"activation","to":"a@example.com","user":null,"subject":"s","body":"b",
            "link_expires":null,"sent":false}"#;
        let m: OutboxMessage = serde_json::from_str(old).unwrap();
        assert_eq!((m.attempts, m.undeliverable), (0, false));
        assert!(m.last_error.is_none() && m.next_attempt.is_none() && m.sent_at.is_none());
        assert!(m.is_due(OffsetDateTime::now_utc()));
    }

    #[test]
    fn records_written_before_cancellation_existed_still_decode() {
        let old = r#"{"id":"0190b6a4-0000-7000-8000-000000000000","created":"2024-07-01T10:00:00Z",
            "kind":"announcement","to":"a@example.com","user":null,"subject":"s","body":"b",
            "link_expires":null,"sent":false,"attempts":2,"last_error":"451 later",
            "next_attempt":null,"sent_at":null,"undeliverable":false}"#;
        let m: OutboxMessage = serde_json::from_str(old).unwrap();
        assert!(!m.cancelled && m.cancelled_at.is_none() && m.cancelled_by.is_none());
        assert!(m.is_waiting() && m.is_due(OffsetDateTime::now_utc()));
    }

    #[test]
    fn a_cancelled_message_is_done_and_says_when_and_by_whom() {
        let mut m = OutboxMessage::new(
            MessageKind::Announcement,
            Some("a@example.com".into()),
            None,
            "s".into(),
            "b".into(),
        );
        m.next_attempt = Some(OffsetDateTime::now_utc());
        let at = time::macros::datetime!(2026-12-01 10:00 UTC);
        m.cancel("system".into(), at);
        assert!(!m.is_waiting() && !m.is_due(OffsetDateTime::now_utc() + time::Duration::DAY));
        assert!(m.next_attempt.is_none());
        let shown = serde_json::to_value(&m).unwrap();
        assert_eq!(shown["cancelled"], true);
        assert_eq!(shown["cancelled_at"], "2026-12-01T10:00:00Z");
        assert_eq!(shown["cancelled_by"], "system");
        let back: OutboxMessage = serde_json::from_value(shown).unwrap();
        assert_eq!(back, m);
        // Anonymising its recipient later does not rewrite why it never went out.
        m.erase_personal_data();
        assert!(m.cancelled && !m.undeliverable && m.last_error.is_none());
    }

    #[test]
    fn debug_leaves_the_body_out() {
        let m = OutboxMessage::new(
            MessageKind::Activation,
            None,
            None,
            "s".into(),
            "secret-link".into(),
        );
        let shown = format!("{m:?}");
        assert!(!shown.contains("secret-link"), "{shown}");
        assert!(shown.contains("<11 bytes>"), "{shown}");
    }
}
