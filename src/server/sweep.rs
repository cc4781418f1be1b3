//! Housekeeping of the running server. At start and then every [`SWEEP_EVERY`] it removes
//! ended sessions and expired one-time links (see [`Service::sweep_ended`]); at start and then
//! every [`ACCOUNT_RULES_EVERY`] it mails password expiry reminders (see
//! [`Service::remind_password_expiry`]), removes messages and audit events older than
//! `[outbox]` and `[audit] keep_days` (see [`Service::prune_outbox`], [`Service::prune_audit`])
//! and, when `[activity] deactivate_after_days` is set, deactivates the dormant accounts (see
//! [`Service::deactivate_dormant`]).

use std::time::Duration;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::service::Service;

/// Often enough that the backlog of one sweep stays small.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Dormancy and password age are counted in days; an hour late is nothing, and a run reads
/// every user.
const ACCOUNT_RULES_EVERY: Duration = Duration::from_secs(3600);

pub async fn run(service: Service, shutdown: CancellationToken) {
    let tracker = service.clone();
    match tokio::task::spawn_blocking(move || {
        tracker.start_activity_tracking(OffsetDateTime::now_utc())
    })
    .await
    {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "could not record the start of sign-in tracking"),
        Err(e) => tracing::error!(error = %e, "recording the start of sign-in tracking failed"),
    }
    let mut last_account_rules: Option<tokio::time::Instant> = None;
    loop {
        sweep_ended(&service).await;
        if last_account_rules.is_none_or(|t| t.elapsed() >= ACCOUNT_RULES_EVERY) {
            last_account_rules = Some(tokio::time::Instant::now());
            // Dormant people first: nobody is reminded of a password just before losing the
            // account it opens.
            deactivate_dormant(&service).await;
            remind_password_expiry(&service).await;
            let policy = service.policy();
            prune(
                &service,
                "outbox messages",
                policy.outbox_keep,
                Service::prune_outbox,
            )
            .await;
            prune(
                &service,
                "audit events",
                policy.audit_keep,
                Service::prune_audit,
            )
            .await;
        }
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(SWEEP_EVERY) => {}
        }
    }
}

async fn sweep_ended(service: &Service) {
    let sweeper = service.clone();
    let swept =
        tokio::task::spawn_blocking(move || sweeper.sweep_ended(OffsetDateTime::now_utc())).await;
    match swept {
        Ok(Ok(swept)) if swept.sessions + swept.links > 0 => tracing::info!(
            sessions = swept.sessions,
            links = swept.links,
            "removed ended sessions and expired one-time links"
        ),
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "removing ended sessions failed; trying again later")
        }
        Err(e) => tracing::error!(error = %e, "the session sweep stopped unexpectedly"),
    }
}

/// Removes `what` older than `keep` (none when `keep` is `None`) with `remove`.
async fn prune(
    service: &Service,
    what: &'static str,
    keep: Option<time::Duration>,
    remove: fn(&Service, OffsetDateTime) -> crate::service::Result<usize>,
) {
    let Some(keep) = keep else {
        return;
    };
    let sweeper = service.clone();
    let done =
        tokio::task::spawn_blocking(move || remove(&sweeper, OffsetDateTime::now_utc() - keep))
            .await;
    match done {
        Ok(Ok(0)) => {}
        Ok(Ok(removed)) => tracing::info!(
            removed,
            days = keep.whole_days(),
            "removed {what} older than they are kept"
        ),
        Ok(Err(e)) => tracing::warn!(error = %e, "removing old {what} failed; trying again later"),
        Err(e) => tracing::error!(error = %e, "removing old {what} stopped unexpectedly"),
    }
}

async fn remind_password_expiry(service: &Service) {
    let sweeper = service.clone();
    let done = tokio::task::spawn_blocking(move || {
        sweeper.remind_password_expiry(OffsetDateTime::now_utc())
    })
    .await;
    match done {
        Ok(Ok(users)) if !users.is_empty() => {
            tracing::info!(users = ?users, "reminded users that their passwords expire soon")
        }
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "sending password expiry reminders failed; trying again later")
        }
        Err(e) => tracing::error!(error = %e, "the password expiry run stopped unexpectedly"),
    }
}

async fn deactivate_dormant(service: &Service) {
    let Some(policy) = service.policy().dormancy else {
        return;
    };
    let sweeper = service.clone();
    let done = tokio::task::spawn_blocking(move || {
        sweeper.deactivate_dormant(policy, OffsetDateTime::now_utc())
    })
    .await;
    match done {
        Ok(Ok(dormant)) => {
            if !dormant.warned.is_empty() {
                tracing::info!(
                    users = ?dormant.warned,
                    "warned users that their dormant accounts will be deactivated"
                );
            }
            if !dormant.deactivated.is_empty() {
                tracing::info!(
                    users = ?dormant.deactivated,
                    days = policy.after.whole_days(),
                    "deactivated dormant accounts"
                );
            }
            if dormant.deferred > 0 {
                tracing::warn!(
                    left = dormant.deferred,
                    per_run = policy.per_run,
                    "more dormant accounts than one run deactivates; the rest follow in the next runs"
                );
            }
            if !dormant.kept.is_empty() {
                tracing::warn!(
                    users = ?dormant.kept,
                    "dormant, but kept active: the last active administrator"
                );
            }
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "deactivating dormant accounts failed; trying again later")
        }
        Err(e) => tracing::error!(error = %e, "the dormant-account run stopped unexpectedly"),
    }
}
