//! The running server: listeners for HTTP, LDAP and LDAPS, and an orderly shutdown.

mod connections;
mod forwarded;
mod http;
mod https;
mod ldap;
mod reload;
mod rest;
mod sweep;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::service::Service;

/// How long in-flight requests get to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("HTTP server: {0}")]
    Http(std::io::Error),
    #[error("configuration: {0}")]
    Config(String),
    #[error("final flush: {0}")]
    Flush(#[from] crate::service::ServiceError),
    #[error(transparent)]
    Mail(#[from] crate::mail::MailError),
    #[error("[backup] dir {path}: {source}")]
    BackupDir {
        path: String,
        source: std::io::Error,
    },
}

/// The scheduled backups' directory, created owner-only if missing: a bad path stops the
/// start, not the first backup hours later.
fn backup_dir(config: &crate::config::BackupConfig) -> Result<(), ServerError> {
    use std::os::unix::fs::DirBuilderExt;
    let Some(dir) = &config.dir else {
        return Ok(());
    };
    let failed = |source| ServerError::BackupDir {
        path: dir.display().to_string(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(failed)?;
    // Writable: probed, as permissions alone do not tell (read-only mounts, ACLs).
    let probe = dir.join(format!(".rollcall-probe-{}", uuid::Uuid::new_v4()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(failed)?;
    std::fs::remove_file(&probe).map_err(failed)
}

/// The start line, naming each address for what it serves (so `https` with `[http] tls`).
fn log_serving(config: &Config) {
    let (http, ldap, ldaps) = (config.http.addr, config.ldap.addr, config.ldap.ldaps_addr);
    if config.http.tls {
        tracing::info!(https = %http, %ldap, %ldaps, "rollcall is serving");
    } else {
        tracing::info!(%http, %ldap, %ldaps, "rollcall is serving");
    }
}

/// What listening beyond loopback exposes, said at every start: the defaults are loopback
/// only, so these follow from an address the administrator chose.
fn warn_about_exposure(config: &Config) {
    let http = config.http.addr;
    if config.http.metrics && config.http.metrics_token.is_none() && !http.ip().is_loopback() {
        tracing::warn!(
            addr = %http,
            "/metrics answers anyone who reaches a non-loopback address; set [http] \
             metrics_token (or metrics = false)"
        );
    }
    if !config.http.tls && !http.ip().is_loopback() {
        tracing::warn!(
            addr = %http,
            "HTTP without TLS on a non-loopback address: bearer tokens and passwords cross the \
             network in clear; set [http] tls = true or put a TLS proxy in front"
        );
    }
    if config.public_url_is_guessed() {
        tracing::warn!(
            addr = %http,
            public_url = %config.public_url(),
            "no public_url for a non-loopback [http] addr: activation and reset links and the \
             session tokens' issuer use a URL made up from the address, which other machines \
             may not reach; set public_url to the URL people and clients use"
        );
    }
    let ldap = config.ldap.addr;
    if !config.ldap.require_tls && !ldap.ip().is_loopback() {
        tracing::warn!(
            addr = %ldap,
            "LDAP without require_tls on a non-loopback address: simple binds and password \
             changes may cross the network in clear; set [ldap] require_tls = true (clients \
             then use StartTLS or LDAPS)"
        );
    }
}

async fn listen(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Listen { addr, source })
}

/// Serves until `shutdown` is cancelled, then stops accepting, lets in-flight work finish and
/// flushes the store.
pub async fn run(
    config: Config,
    service: Service,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let (cert, key) = crate::tls::ensure_material(&config)?;
    let certificates = crate::tls::Certificates::load(&cert, &key)?;
    reload::log_certificate(&certificates.info(), "TLS certificate in use");
    let tls = certificates.server_config()?;
    // Before any listener: a bad [smtp] section stops the start, not the first mail.
    let mailer = crate::mail::Mailer::from_config(&config.smtp)?;
    backup_dir(&config.backup)?;

    let http_listener = listen(config.http.addr).await?;
    let ldap_listener = listen(config.ldap.addr).await?;
    let ldaps_listener = listen(config.ldap.ldaps_addr).await?;
    log_serving(&config);

    let tracker = TaskTracker::new();
    let ldap = ldap::server(&config, service.clone(), Arc::clone(&tls))
        .map_err(|e| ServerError::Config(format!("base_dn: {e}")))?;
    let mail_stats = Arc::new(crate::mail::DeliveryStats::default());
    let backup_stats = config
        .backup
        .dir
        .is_some()
        .then(|| Arc::new(crate::backups::BackupStats::default()));
    let monitoring = Arc::new(http::Monitoring {
        mail: Arc::clone(&mail_stats),
        backups: backup_stats.clone(),
        http: Default::default(),
        ldap: ldap.stats(),
        tls: Arc::clone(&certificates),
        exposed: config.http.metrics,
        token: config.http.metrics_token.clone(),
    });
    warn_about_exposure(&config);
    let http = tokio::spawn(http::serve(
        http_listener,
        http::Listening {
            tls: config.http.tls.then(|| Arc::clone(&tls)),
            public_url: config.public_url(),
            trusted_proxies: config.http.trusted_proxies.clone().into(),
            max_connections: config.http.max_connections,
            max_connections_per_ip: config.http.max_connections_per_ip,
            idle: std::time::Duration::from_secs(config.http.idle_timeout_seconds),
            head: std::time::Duration::from_secs(config.http.header_timeout_seconds),
        },
        service.clone(),
        monitoring,
        shutdown.clone(),
    ));
    for (listener, transport) in [
        (ldap_listener, rollcall_ldap::Transport::Ldap),
        (ldaps_listener, rollcall_ldap::Transport::Ldaps),
    ] {
        let ldap = ldap.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            if let Err(e) = ldap.serve(listener, transport, shutdown).await {
                tracing::error!(error = %e, ?transport, "LDAP listener stopped");
            }
        });
    }

    #[cfg(unix)]
    tracker.spawn(crate::control::serve(
        config.data.clone(),
        service.clone(),
        shutdown.clone(),
    ));
    #[cfg(unix)]
    tracker.spawn(reload::on_hangup(
        Arc::clone(&certificates),
        shutdown.clone(),
    ));

    tracker.spawn(sweep::run(service.clone(), shutdown.clone()));
    match mailer {
        Some(mailer) => {
            tracker.spawn(crate::mail::deliver(
                service.clone(),
                mailer,
                mail_stats,
                shutdown.clone(),
            ));
        }
        None => tracing::info!("no [smtp] host: messages stay in the outbox, nothing is mailed"),
    }
    if let Some(stats) = backup_stats {
        tracker.spawn(crate::backups::run(
            service.clone(),
            config.backup.clone(),
            stats,
            shutdown.clone(),
        ));
    }

    shutdown.cancelled().await;
    tracing::info!("shutting down: no new connections, finishing requests in flight");
    tracker.close();
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        let http_result = http.await;
        tracker.wait().await;
        http_result
    })
    .await;
    match drained {
        Ok(Ok(Err(e))) => return Err(ServerError::Http(e)),
        Ok(_) => {}
        Err(_) => tracing::warn!("connections still open after {DRAIN_TIMEOUT:?}; closing them"),
    }
    let flusher = service.clone();
    tokio::task::spawn_blocking(move || flusher.flush())
        .await
        .expect("the flush task does not panic")?;
    tracing::info!("store flushed; bye");
    Ok(())
}
