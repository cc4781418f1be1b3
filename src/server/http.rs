//! The HTTP front end: health, SCIM 2.0 under `/scim/v2`, and the REST API (`/auth/`,
//! `/admin/`).

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::connections::{self, Limits};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::adapter::scim::ScimDirectory;
use crate::metrics::{Area, HttpMetrics};
use crate::service::Service;

/// What `/metrics` reads, and whether it is served at all.
pub struct Monitoring {
    pub http: HttpMetrics,
    pub ldap: Arc<rollcall_ldap::Stats>,
    pub tls: Arc<crate::tls::Certificates>,
    pub mail: Arc<crate::mail::DeliveryStats>,
    /// Only when scheduled backups are configured.
    pub backups: Option<Arc<crate::backups::BackupStats>>,
    pub exposed: bool,
    /// The bearer token `/metrics` requires, if any.
    pub token: Option<crate::config::MetricsToken>,
}

/// How the HTTP listener serves: TLS or not, and its limits.
pub struct Listening {
    /// HTTPS with this configuration; plain HTTP without.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub public_url: String,
    pub trusted_proxies: Arc<[crate::model::Network]>,
    /// Connections open at once, how long one may sit idle, and how long a request's head may
    /// take (see [`Limits`]).
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub idle: std::time::Duration,
    pub head: std::time::Duration,
}

/// Serves HTTP, or HTTPS when `how.tls` is given, until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    how: Listening,
    service: Service,
    monitoring: Arc<Monitoring>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let Listening {
        tls,
        public_url,
        trusted_proxies,
        max_connections,
        max_connections_per_ip,
        idle,
        head,
    } = how;
    let mut app = router(service, &public_url, monitoring);
    if !trusted_proxies.is_empty() {
        // Outermost, so that every handler and the request log see the forwarded client.
        app = app.layer(middleware::from_fn_with_state(
            Arc::clone(&trusted_proxies),
            super::forwarded::forwarded_client,
        ));
    }
    let limits = Limits {
        max_connections,
        per_address: max_connections_per_ip,
        exempt: trusted_proxies,
        idle,
        head,
    };
    match tls {
        Some(tls) => {
            let listener = super::https::TlsListener::new(listener, &tls, shutdown.clone())?;
            connections::serve(listener, app, limits, shutdown).await
        }
        None => connections::serve(listener, app, limits, shutdown).await,
    }
}

fn router(service: Service, public_url: &str, monitoring: Arc<Monitoring>) -> Router {
    let base = format!("{}/scim/v2", public_url.trim_end_matches('/'));
    let scim = rollcall_scim::router::router(
        Arc::new(ScimDirectory::new(service.clone(), base.clone())),
        rollcall_scim::router::RouterConfig::new(base),
    );
    let mut app = Router::new()
        .route("/healthz", get(healthz).with_state(service.clone()))
        .nest("/scim/v2", scim)
        .merge(super::rest::router(service.clone()));
    if monitoring.exposed {
        app = app.route(
            "/metrics",
            get(metrics).with_state((service, Arc::clone(&monitoring))),
        );
    }
    app.layer(middleware::from_fn_with_state(monitoring, track))
}

/// Counts every request by area and status class, with its time to response headers.
async fn track(State(monitoring): State<Arc<Monitoring>>, req: Request, next: Next) -> Response {
    let area = Area::of(req.uri().path());
    let started = Instant::now();
    let res = next.run(req).await;
    monitoring
        .http
        .record(area, res.status().as_u16(), started.elapsed());
    res
}

async fn metrics(
    State((service, monitoring)): State<(Service, Arc<Monitoring>)>,
    headers: axum::http::HeaderMap,
) -> Response {
    if let Some(token) = &monitoring.token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !token.admits(presented.trim()) {
            return (
                axum::http::StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\"")],
            )
                .into_response();
        }
    }
    let ldap = monitoring.ldap.snapshot();
    // License usage reads the store: off the async workers.
    match tokio::task::spawn_blocking(move || {
        crate::metrics::render(
            &service,
            &monitoring.http,
            &ldap,
            &monitoring.tls,
            &monitoring.mail,
            monitoring.backups.as_deref(),
        )
    })
    .await
    {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering /metrics failed");
            axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `ok` only while the store takes durable writes: after a full disk the engine fails every
/// write until the process restarts, and a health check that kept saying `ok` would keep a
/// broken server in the load balancer's pool.
async fn healthz(State(service): State<Service>) -> Response {
    let probed = tokio::task::spawn_blocking(move || service.writable()).await;
    let failure = match probed {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(e) => Some(e.to_string()),
    };
    match failure {
        None => Json(serde_json::json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
        }))
        .into_response(),
        Some(why) => {
            tracing::error!(
                error = %why,
                "the store cannot take writes; if the disk is full, free space and restart"
            );
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({
                    "status": "unavailable",
                    "detail": format!("the store cannot take writes: {why}"),
                    "version": env!("CARGO_PKG_VERSION"),
                })),
            )
                .into_response()
        }
    }
}
