//! Certificate renewal without a restart: on SIGHUP the server reads its TLS certificate and
//! key again (the paths it started with) and presents the new pair from the next handshake on.
//! A pair that cannot be used is refused with an error in the log and the old one stays, so a
//! renewal script that copies files in the wrong order breaks nothing.

use std::sync::Arc;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio_util::sync::CancellationToken;

use crate::tls::{CertificateInfo, Certificates};

/// Below this much validity left, every load or reload warns.
const EXPIRY_WARNING: time::Duration = time::Duration::days(14);

/// Logs the certificate in use, warning when it expires soon or has expired.
pub fn log_certificate(info: &CertificateInfo, message: &str) {
    let left = info.not_after - OffsetDateTime::now_utc();
    let not_after = info.not_after.format(&Rfc3339).unwrap_or_default();
    if left <= time::Duration::ZERO {
        tracing::error!(subject = %info.subject, %not_after, "{message}: the certificate has expired");
    } else if left < EXPIRY_WARNING {
        tracing::warn!(
            subject = %info.subject,
            %not_after,
            days_left = left.whole_days(),
            "{message}: the certificate expires soon"
        );
    } else {
        tracing::info!(subject = %info.subject, %not_after, "{message}");
    }
}

/// Reloads `certificates` on each SIGHUP until `shutdown`.
#[cfg(unix)]
pub async fn on_hangup(certificates: Arc<Certificates>, shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(e) => {
            tracing::warn!(error = %e, "no SIGHUP handler: the certificate reloads only on restart");
            return;
        }
    };
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            received = hangups.recv() => if received.is_none() { return },
        }
        let reloading = Arc::clone(&certificates);
        match tokio::task::spawn_blocking(move || reloading.reload()).await {
            Ok(Ok(info)) => log_certificate(&info, "SIGHUP: TLS certificate reloaded"),
            Ok(Err(e)) => tracing::error!(
                error = %e,
                "SIGHUP: TLS certificate not reloaded; the one in use stays"
            ),
            Err(e) => tracing::error!(error = %e, "SIGHUP: the reload task failed"),
        }
    }
}
