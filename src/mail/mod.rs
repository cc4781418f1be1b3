//! Mail: message templates, and delivery of the outbox over SMTP. Messages are created by the
//! service (in the transaction that causes them) from [`Templates`]; [`deliver`] sends them when
//! `[smtp]` is configured and records every attempt on the message, so none is ever lost.

mod delivery;
pub mod local_time;
mod smtp;
mod template;

pub use delivery::{DeliveryStats, backoff, deliver};
pub use smtp::{MailError, Mailer, SendError};
pub use template::{Rendered, TemplateError, Templates, Var, Vars};
