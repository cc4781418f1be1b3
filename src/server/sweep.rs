//! The running server removes ended sessions and expired one-time links (see
//! [`Service::sweep_ended`]) at start and then every [`SWEEP_EVERY`].

use std::time::Duration;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::service::Service;

/// Often enough that the backlog of one sweep stays small.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

pub async fn run(service: Service, shutdown: CancellationToken) {
    loop {
        let sweeper = service.clone();
        let swept =
            tokio::task::spawn_blocking(move || sweeper.sweep_ended(OffsetDateTime::now_utc()))
                .await;
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
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(SWEEP_EVERY) => {}
        }
    }
}
