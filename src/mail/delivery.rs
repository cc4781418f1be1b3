//! Delivery of the outbox: a task that wakes every few seconds, sends what is due oldest first
//! and records each outcome on the message. A failed message stays, with its error and a next
//! attempt after an exponential backoff; a message that can never go (no address) is marked
//! undeliverable instead of being retried forever. Delivery is at least once: a crash between
//! the relay's acceptance and the mark sends that message again on the next start.
//!
//! An administrator may cancel waiting messages while a pass runs. Each message is read again
//! right before it is handed to the relay, so a cancellation stops every message from the next
//! one on; the one message being handed over at that moment (its check done, the relay not
//! yet done) still goes out, and is then recorded as both cancelled and sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::smtp::{Mailer, SendError};
use crate::outbox::{ADMINS, OutboxMessage};
use crate::service::{OutboxMark, Service, ServiceError};

/// How often the outbox is looked at. Also the delay before a new message goes out.
const POLL_INTERVAL: Duration = Duration::from_secs(5);
/// Wait after the first failure; doubled after each further one, up to [`MAX_BACKOFF`].
const FIRST_RETRY: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// How long to wait after the `attempts`-th failed attempt (1 for the first failure).
pub fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    FIRST_RETRY.saturating_mul(1 << doublings).min(MAX_BACKOFF)
}

/// Outcomes of delivery attempts since start, for `/metrics`: a rising `failed` is a relay
/// that refuses or cannot be reached, and users waiting for their activation links.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    pub sent: AtomicU64,
    /// Attempts that failed and will be retried.
    pub failed: AtomicU64,
    /// Messages given up on: no address, none that is a mail address, or a mailbox that the
    /// relay says does not exist.
    pub undeliverable: AtomicU64,
}

impl DeliveryStats {
    fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Debug, thiserror::Error)]
enum PassError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("store task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Runs until `shutdown`; a send in progress is finished and recorded first.
pub async fn deliver(
    service: Service,
    mailer: Mailer,
    stats: Arc<DeliveryStats>,
    shutdown: CancellationToken,
) {
    tracing::info!(relay = mailer.relay(), "delivering the outbox over SMTP");
    // The first tick is immediate: what was queued while the server was down goes out now.
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    // The first pass reads the whole outbox; the later ones only what may still be waiting.
    let mut mark = OutboxMark::default();
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
            () = service.urgent_mail_queued() => {}
        }
        if let Err(e) = pass(&service, &mailer, &stats, &shutdown, &mut mark).await {
            tracing::error!(error = %e, "outbox delivery pass failed; trying again later");
        }
    }
}

/// Store calls block (sled, flush on commit): they run off the async runtime.
async fn blocking<T, F>(service: &Service, call: F) -> Result<T, PassError>
where
    T: Send + 'static,
    F: FnOnce(&Service) -> Result<T, ServiceError> + Send + 'static,
{
    let service = service.clone();
    Ok(tokio::task::spawn_blocking(move || call(&service)).await??)
}

/// One delivery pass. `mark` is where the outbox is read from, moved on by each pass past
/// the messages that are done (see [`crate::service::OutboxMark`]).
async fn pass(
    service: &Service,
    mailer: &Mailer,
    stats: &DeliveryStats,
    shutdown: &CancellationToken,
    mark: &mut OutboxMark,
) -> Result<(), PassError> {
    let now = OffsetDateTime::now_utc();
    let from = *mark;
    let (due, next) = blocking(service, move |s| s.pending_messages_from(from, now)).await?;
    *mark = next;
    // Looked up once per pass, and only when an admin notification is due.
    let mut admins: Option<Vec<String>> = None;
    for message in due {
        if shutdown.is_cancelled() {
            break;
        }
        // Read again before anything is decided about it, so that a message cancelled since
        // the pass began is neither sent nor marked undeliverable.
        let id = message.id;
        let Some(message) =
            blocking(service, move |s| s.still_due(id, OffsetDateTime::now_utc())).await?
        else {
            tracing::info!(message_id = %id, kind = %message.kind,
                "message cancelled or given up on since the pass began; not sent");
            continue;
        };
        let recipients = match message.to.as_deref() {
            None => {
                undeliverable(service, stats, &message, "the user has no email address").await?;
                continue;
            }
            Some(ADMINS) => {
                if admins.is_none() {
                    admins = Some(blocking(service, |s| s.administrator_addresses()).await?);
                }
                let addresses = admins.clone().unwrap_or_default();
                if addresses.is_empty() {
                    undeliverable(
                        service,
                        stats,
                        &message,
                        "no active administrator has an email address",
                    )
                    .await?;
                    continue;
                }
                addresses
            }
            Some(address) => vec![address.to_string()],
        };
        match send_to_each(mailer, &recipients, &message).await {
            Ok(()) => {
                let cancelled = blocking(service, move |s| s.mark_sent(id)).await?;
                DeliveryStats::count(&stats.sent);
                if cancelled {
                    tracing::warn!(message_id = %id, kind = %message.kind,
                        "message sent: it was cancelled while being handed to the relay");
                } else {
                    tracing::info!(message_id = %id, kind = %message.kind, "message sent");
                }
            }
            Err(SendError::Invalid(reason)) => {
                undeliverable(service, stats, &message, &reason).await?
            }
            Err(refused @ SendError::Refused(_)) => {
                undeliverable(service, stats, &message, &refused.to_string()).await?
            }
            Err(SendError::Transport(e)) => {
                let relay_down = !e.is_permanent();
                failed(service, &message, e.to_string()).await?;
                DeliveryStats::count(&stats.failed);
                // Unreachable or busy relay: leave the rest for the next pass rather than
                // waiting out a timeout for each of them now.
                if relay_down {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Sends the message to each recipient on its own, so that one bad address (an admin's) does
/// not hold it back from the others. It counts as sent once any recipient has it; the
/// recipients refused for good are logged and skipped. Otherwise a transient failure is
/// reported (retried later, for everyone), else the refusal.
async fn send_to_each(
    mailer: &Mailer,
    recipients: &[String],
    message: &OutboxMessage,
) -> Result<(), SendError> {
    let mut accepted = 0;
    let mut transient = None;
    let mut refusals = Vec::new();
    for recipient in recipients {
        match mailer
            .send(
                std::slice::from_ref(recipient),
                &message.id.to_string(),
                &message.subject,
                &message.body,
            )
            .await
        {
            Ok(()) => accepted += 1,
            Err(SendError::Transport(e)) => transient = Some(e),
            Err(refusal) => refusals.push(refusal),
        }
    }
    if accepted > 0 {
        for refusal in &refusals {
            tracing::warn!(message_id = %message.id, reason = %refusal,
                "a recipient of the message cannot be reached; the others have it");
        }
        if let Some(e) = &transient {
            tracing::warn!(message_id = %message.id, error = %e,
                "a recipient of the message was not reached this time; the others have it");
        }
        return Ok(());
    }
    match (transient, refusals.into_iter().next()) {
        (Some(e), _) => Err(SendError::Transport(e)),
        (None, Some(refusal)) => Err(refusal),
        (None, None) => Err(SendError::Invalid("no recipient".into())),
    }
}

async fn failed(
    service: &Service,
    message: &OutboxMessage,
    error: String,
) -> Result<(), PassError> {
    let attempts = message.attempts.saturating_add(1);
    let next = OffsetDateTime::now_utc() + backoff(attempts);
    tracing::warn!(
        message_id = %message.id,
        kind = %message.kind,
        attempts,
        retry_at = %next.format(&Rfc3339).unwrap_or_default(),
        error = %error,
        "could not send a message; it stays in the outbox"
    );
    let id = message.id;
    blocking(service, move |s| s.mark_failed(id, &error, next)).await
}

async fn undeliverable(
    service: &Service,
    stats: &DeliveryStats,
    message: &OutboxMessage,
    reason: &str,
) -> Result<(), PassError> {
    DeliveryStats::count(&stats.undeliverable);
    if message.to.is_none() {
        // Expected for users without an address on file (the first admin, for one).
        tracing::info!(
            message_id = %message.id,
            kind = %message.kind,
            reason,
            "message not mailed; it stays in the outbox for the admins"
        );
    } else {
        tracing::warn!(
            message_id = %message.id,
            kind = %message.kind,
            reason,
            "message cannot be delivered; it stays in the outbox for the admins"
        );
    }
    let (id, reason) = (message.id, reason.to_string());
    blocking(service, move |s| s.mark_undeliverable(id, &reason)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_seconds_up_to_an_hour() {
        assert_eq!(backoff(1), Duration::from_secs(5));
        assert_eq!(backoff(2), Duration::from_secs(10));
        assert_eq!(backoff(3), Duration::from_secs(20));
        assert_eq!(backoff(10), Duration::from_secs(2560));
        assert_eq!(backoff(11), Duration::from_secs(3600));
        assert_eq!(backoff(u32::MAX), Duration::from_secs(3600));
        assert_eq!(backoff(0), Duration::from_secs(5));
    }
}
