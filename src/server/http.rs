//! The HTTP front end: health, SCIM 2.0 under `/scim/v2`, and the REST API (`/auth/`,
//! `/admin/`).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::adapter::scim::ScimDirectory;
use crate::service::Service;

pub async fn serve(
    listener: TcpListener,
    service: Service,
    public_url: String,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = router(service, &public_url);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await
}

fn router(service: Service, public_url: &str) -> Router {
    let base = format!("{}/scim/v2", public_url.trim_end_matches('/'));
    let scim = rollcall_scim::router::router(
        Arc::new(ScimDirectory::new(service.clone(), base.clone())),
        rollcall_scim::router::RouterConfig::new(base),
    );
    Router::new()
        .route("/healthz", get(healthz))
        .nest("/scim/v2", scim)
        .merge(super::rest::router(service))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
    }))
}
