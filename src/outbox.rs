//! Messages the directory owes to people: activation notices and admin notifications. They are
//! written in the transaction that causes them, so an activation is never acknowledged without its
//! notice; delivery (SMTP) reads from here.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::model::UserId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Sent when a user becomes active; may carry a set-password link.
    Activation,
    /// A license pool reached 90% of its limit.
    LicenseThreshold,
    /// An activation was refused for lack of seats.
    LicenseRefused,
    /// A password reset link the user asked for.
    PasswordReset,
    /// Failed logins locked a user (to the admins).
    AccountLocked,
}

/// Recipient of admin notifications; delivery expands it to the administrators' addresses.
pub const ADMINS: &str = "admins";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxMessage {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    pub kind: MessageKind,
    /// An email address, [`ADMINS`], or `None` when the user has no address on file.
    pub to: Option<String>,
    pub user: Option<UserId>,
    pub subject: String,
    pub body: String,
    /// When the set-password link in the body stops working.
    #[serde(with = "time::serde::rfc3339::option")]
    pub link_expires: Option<OffsetDateTime>,
    #[serde(default)]
    pub sent: bool,
}
