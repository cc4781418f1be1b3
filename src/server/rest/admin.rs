//! `/admin/`: licenses, audit, outbox (and cancelling what waits there), sessions, API tokens,
//! unlocking users and rotating the session signing key. Callers authenticate with a session
//! token of a user whose roles enable API access, or with an API token, before any of this
//! router's handlers runs (see [`super::router`]); what each may do is the core service's
//! decision.

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::bearer::Caller;
use super::{Checked, RestError, RestResult};
use crate::audit::AuditKind;
use crate::model::UserId;
use crate::sealed::Recipient;
use crate::service::{Actor, AuditQuery, Service};

pub fn router() -> Router<Service> {
    Router::new()
        .route("/licenses", get(licenses))
        .route("/audit", get(audit))
        .route("/outbox", get(outbox))
        .route("/outbox/cancel", post(cancel_messages))
        .route("/sessions", get(sessions))
        .route("/sessions/{user}/{jti}", delete(revoke_session))
        .route("/users/{user}/sign-out", post(sign_out))
        .route("/users/{user}/unlock", post(unlock))
        .route("/users/{user}/password-link", post(password_link))
        .route("/tokens", get(tokens).post(create_token))
        .route("/tokens/{token}", delete(revoke_token))
        .route("/keys/rotate", post(rotate_keys))
        .route("/backup", get(backup))
        .route("/reports/access", get(access_review))
        .route("/roles/{role}/sign-out", post(sign_out_role))
        .route("/roles/{role}/reset-passwords", post(reset_role_passwords))
        .route("/announcements", post(announce))
}

/// Writes the backup to a temporary file only this process can reach (owner-only, unlinked at
/// once), then copies it to `out`.
fn spool(
    service: &Service,
    actor: &Actor,
    recipients: &[Recipient],
    out: &mut ToBody,
) -> Result<u64, String> {
    use std::io::{Seek, Write};
    use std::os::unix::fs::OpenOptionsExt;
    let path = std::env::temp_dir().join(format!("rollcall-backup-{}", uuid::Uuid::new_v4()));
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("creating {}: {e}", path.display()))?;
    let _ = std::fs::remove_file(&path);
    let entries = {
        let (mut spooled, entries) =
            crate::backups::write_to(std::io::BufWriter::new(&mut file), recipients, |out| {
                service.backup(actor, out)
            })
            .map_err(|e| e.to_string())?;
        spooled.flush().map_err(|e| e.to_string())?;
        entries
    };
    file.rewind().map_err(|e| e.to_string())?;
    std::io::copy(&mut file, out).map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;
    Ok(entries)
}

/// The `recipient` parameters of a backup request: age public keys to encrypt it to.
fn recipients_in(query: Option<&str>) -> RestResult<Vec<Recipient>> {
    let mut recipients = Vec::new();
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        match pair.split_once('=') {
            Some(("recipient", key)) => {
                recipients.push(key.parse::<Recipient>().map_err(RestError::bad_request)?)
            }
            _ => {
                return Err(RestError::bad_request(format!(
                    "unknown parameter {pair:?}: a backup takes only recipient=age1…"
                )));
            }
        }
    }
    Ok(recipients)
}

/// Hands what a blocking writer writes to an async body, in chunks.
struct ToBody {
    tx: tokio::sync::mpsc::Sender<axum::body::Bytes>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 * 1024;

impl std::io::Write for ToBody {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk =
            axum::body::Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

/// The whole store as a backup file (the format of `rollcall backup`). It is written to an
/// unlinked temporary file first, so that the backup (and the pre-images commits keep for it)
/// lasts as long as the disk takes, not as long as the client takes to download; then
/// streamed. A failure midway ends the body early,
/// and `rollcall restore` refuses a file without its last line.
async fn backup(
    State(service): State<Service>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> RestResult<Response> {
    let recipients = recipients_in(query.as_deref())?;
    let sealed = !recipients.is_empty();
    // Authorised before the body starts, so that a refusal is an ordinary error response.
    let actor = caller
        .run(service.clone(), |s, actor| {
            s.authorize_backup(actor)?;
            Ok(actor.clone())
        })
        .await?;
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tokio::task::spawn_blocking(move || {
        let mut out = ToBody {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        match spool(&service, &actor, &recipients, &mut out) {
            Ok(entries) => tracing::info!(entries, "backup streamed"),
            Err(e) => tracing::error!(error = %e, "backup stopped before its end"),
        }
    });
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::convert::Infallible>(chunk), rx))
    });
    let name = format!(
        "attachment; filename=\"{}\"",
        crate::backups::file_name(time::OffsetDateTime::now_utc(), sealed)
    );
    let kind = if sealed {
        "application/octet-stream"
    } else {
        "application/x-ndjson"
    };
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&name).expect("ASCII"),
            ),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

fn user_id(text: &str) -> RestResult<UserId> {
    text.parse()
        .map_err(|_| RestError::bad_request(format!("{text:?} is not a user id")))
}

async fn licenses(State(service): State<Service>, caller: Caller) -> RestResult<Json<Value>> {
    caller
        .run(service, |s, actor| {
            Ok(Json(json!(s.license_report(actor)?)))
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    since: Option<String>,
    actor: Option<String>,
    target: Option<String>,
    kind: Option<String>,
    count: Option<usize>,
    /// `jsonl` for JSON lines (also chosen by `Accept: application/x-ndjson`).
    format: Option<String>,
}

async fn audit(
    State(service): State<Service>,
    caller: Caller,
    headers: HeaderMap,
    Checked(Query(params)): Checked<Query<AuditParams>>,
) -> RestResult<Response> {
    let since = params.since.as_deref().map(rfc3339).transpose()?;
    let kind = params
        .kind
        .as_deref()
        .map(|k| k.parse::<AuditKind>().map_err(RestError::bad_request))
        .transpose()?;
    let lines = params.format.as_deref() == Some("jsonl")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/x-ndjson"));
    if let Some(f) = params
        .format
        .as_deref()
        .filter(|f| *f != "jsonl" && *f != "json")
    {
        return Err(RestError::bad_request(format!(
            "format {f:?} is not one of json, jsonl"
        )));
    }
    let query = AuditQuery {
        since,
        actor: params.actor,
        target: params.target,
        kind,
        count: params.count,
    };
    let events = caller
        .run(service, move |s, actor| Ok(s.audit_query(actor, &query)?))
        .await?;
    if lines {
        let mut out = String::new();
        for event in &events {
            out.push_str(&serde_json::to_string(event).unwrap_or_default());
            out.push('\n');
        }
        let mut response = out.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        Ok(response)
    } else {
        Ok(Json(events).into_response())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessParams {
    /// `csv`, or `jsonl` (the default; `json` is taken as the same).
    format: Option<String>,
    idle_days: Option<u32>,
}

/// An access review (see [`Service::access_review`]): JSON lines, or CSV as a file download.
async fn access_review(
    State(service): State<Service>,
    caller: Caller,
    Checked(Query(params)): Checked<Query<AccessParams>>,
) -> RestResult<Response> {
    use crate::review::{Format, Writer};
    let format = match params.format.as_deref() {
        None | Some("jsonl" | "json") => Format::Json,
        Some("csv") => Format::Csv,
        Some(f) => {
            return Err(RestError::bad_request(format!(
                "format {f:?} is not one of jsonl, csv"
            )));
        }
    };
    let filter = crate::service::ReviewFilter {
        idle_days: params.idle_days,
    };
    let body = caller
        .run(service, move |s, actor| {
            let mut writer = Writer::new(Vec::new(), format);
            s.access_review(actor, filter, &mut |row| {
                // Writing to memory cannot fail.
                writer.row(&row).expect("in-memory report");
                Ok::<(), RestError>(())
            })?;
            Ok(writer.finish().expect("in-memory report"))
        })
        .await?;
    let response = if format == Format::Csv {
        let today = time::OffsetDateTime::now_utc().date();
        let name = format!(
            "attachment; filename=\"access-review-{}{:02}{:02}.csv\"",
            today.year(),
            u8::from(today.month()),
            today.day()
        );
        (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/csv; charset=utf-8"),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_str(&name).expect("ASCII"),
                ),
            ],
            body,
        )
            .into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-ndjson"),
            )],
            body,
        )
            .into_response()
    };
    Ok(response)
}

fn role_id(text: &str) -> RestResult<crate::model::RoleId> {
    text.parse()
        .map_err(|_| RestError::bad_request(format!("{text:?} is not a role id")))
}

async fn sign_out_role(
    State(service): State<Service>,
    caller: Caller,
    Checked(Path(role)): Checked<Path<String>>,
) -> RestResult<Json<Value>> {
    let role = role_id(&role)?;
    let n = caller
        .run(
            service,
            move |s, actor| Ok(s.sign_out_members(actor, role)?),
        )
        .await?;
    Ok(Json(json!({"signed_out": n})))
}

async fn reset_role_passwords(
    State(service): State<Service>,
    caller: Caller,
    Checked(Path(role)): Checked<Path<String>>,
) -> RestResult<Json<crate::service::RoleReset>> {
    let role = role_id(&role)?;
    let reset = caller
        .run(service, move |s, actor| {
            Ok(s.reset_member_passwords(actor, role)?)
        })
        .await?;
    Ok(Json(reset))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAnnouncement {
    subject: String,
    text: String,
    /// Roles and groups whose members it is for, by id or name.
    #[serde(default)]
    roles: Vec<String>,
    /// Every active person instead.
    #[serde(default)]
    everyone: bool,
}

async fn announce(
    State(service): State<Service>,
    caller: Caller,
    Checked(Json(request)): Checked<Json<NewAnnouncement>>,
) -> RestResult<Json<crate::service::Announced>> {
    let audience = match (request.everyone, request.roles.is_empty()) {
        (true, true) => None,
        (false, false) => Some(request.roles),
        (true, false) => {
            return Err(RestError::bad_request(
                "\"everyone\" and \"roles\" exclude each other",
            ));
        }
        (false, true) => {
            return Err(RestError::bad_request(
                "name the \"roles\" whose members it is for, or set \"everyone\": true",
            ));
        }
    };
    let announced = caller
        .run(service, move |s, actor| {
            let audience = match audience {
                None => crate::service::Audience::Everyone,
                Some(roles) => crate::service::Audience::Roles(
                    roles
                        .iter()
                        .map(|r| match r.parse() {
                            Ok(id) => Ok(id),
                            Err(_) => s.role_by_name(actor, r).map(|role| role.id),
                        })
                        .collect::<Result<_, _>>()?,
                ),
            };
            Ok(s.announce(
                actor,
                &crate::service::Announcement {
                    subject: request.subject,
                    body: request.text,
                    audience,
                },
            )?)
        })
        .await?;
    Ok(Json(announced))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboxParams {
    since: Option<String>,
    user: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    waiting: bool,
    count: Option<usize>,
}

async fn outbox(
    State(service): State<Service>,
    caller: Caller,
    Checked(Query(params)): Checked<Query<OutboxParams>>,
) -> RestResult<Json<Value>> {
    let query = crate::service::OutboxQuery {
        since: params.since.as_deref().map(rfc3339).transpose()?,
        user: params.user.as_deref().map(user_id).transpose()?,
        kind: params
            .kind
            .as_deref()
            .map(|k| k.parse().map_err(RestError::bad_request))
            .transpose()?,
        waiting: params.waiting,
        count: params.count,
    };
    caller
        .run(service, move |s, actor| {
            Ok(Json(json!(s.outbox_report(actor, &query)?)))
        })
        .await
}

/// `POST /admin/outbox/cancel`: the selectors narrow each other; see
/// [`crate::service::CancelSelection`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelRequest {
    #[serde(default)]
    ids: Vec<uuid::Uuid>,
    kind: Option<crate::outbox::MessageKind>,
    user: Option<UserId>,
    /// Created at or after this (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    since: Option<time::OffsetDateTime>,
}

async fn cancel_messages(
    State(service): State<Service>,
    caller: Caller,
    Checked(Json(request)): Checked<Json<CancelRequest>>,
) -> RestResult<Json<crate::service::Cancelled>> {
    let selection = crate::service::CancelSelection {
        ids: request.ids,
        kind: request.kind,
        user: request.user,
        since: request.since,
    };
    let cancelled = caller
        .run(service, move |s, actor| {
            Ok(s.cancel_messages(actor, &selection)?)
        })
        .await?;
    Ok(Json(cancelled))
}

fn rfc3339(text: &str) -> RestResult<time::OffsetDateTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| RestError::bad_request(format!("since {text:?} is not RFC 3339: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionParams {
    user: Option<String>,
}

async fn sessions(
    State(service): State<Service>,
    caller: Caller,
    Checked(Query(params)): Checked<Query<SessionParams>>,
) -> RestResult<Json<Value>> {
    let user = params.user.as_deref().map(user_id).transpose()?;
    caller
        .run(service, move |s, actor| {
            Ok(Json(json!(s.sessions(actor, user)?)))
        })
        .await
}

async fn revoke_session(
    State(service): State<Service>,
    caller: Caller,
    Checked(Path((user, jti))): Checked<Path<(String, String)>>,
) -> RestResult<StatusCode> {
    let user = user_id(&user)?;
    let jti = jti
        .parse()
        .map_err(|_| RestError::bad_request(format!("{jti:?} is not a session id")))?;
    caller
        .run(service, move |s, actor| {
            s.revoke_session(actor, user, jti)?;
            Ok(StatusCode::NO_CONTENT)
        })
        .await
}

async fn sign_out(
    State(service): State<Service>,
    caller: Caller,
    Checked(Path(user)): Checked<Path<String>>,
) -> RestResult<StatusCode> {
    let user = user_id(&user)?;
    caller
        .run(service, move |s, actor| {
            s.revoke_all_sessions(actor, user)?;
            Ok(StatusCode::NO_CONTENT)
        })
        .await
}

async fn unlock(
    State(service): State<Service>,
    caller: Caller,
    Checked(Path(user)): Checked<Path<String>>,
) -> RestResult<StatusCode> {
    let user = user_id(&user)?;
    caller
        .run(service, move |s, actor| {
            s.unlock_user(actor, user)?;
            Ok(StatusCode::NO_CONTENT)
        })
        .await
}

/// Queues a password change link for the user (seed 002), answered with when it expires.
async fn password_link(
    State(service): State<Service>,
    caller: Caller,
    Checked(Path(user)): Checked<Path<String>>,
) -> RestResult<(StatusCode, Json<Value>)> {
    let user = user_id(&user)?;
    caller
        .run(service, move |s, actor| {
            let expires = s.send_password_link(actor, user)?;
            let expires = expires
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            Ok((StatusCode::ACCEPTED, Json(json!({"expires": expires}))))
        })
        .await
}

async fn tokens(State(service): State<Service>, caller: Caller) -> RestResult<Json<Value>> {
    caller
        .run(service, |s, actor| Ok(Json(json!(s.api_tokens(actor)?))))
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    /// userName of the `api` service account (default: the provisioning account).
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    expires_days: Option<u32>,
}

async fn create_token(
    State(service): State<Service>,
    caller: Caller,
    Checked(Json(request)): Checked<Json<NewToken>>,
) -> RestResult<(StatusCode, Json<Value>)> {
    caller
        .run(service, move |s, actor| {
            let account = request
                .account
                .as_deref()
                .unwrap_or(crate::bootstrap::PROVISIONING_ACCOUNT);
            let principal = s.user_by_name(actor, account)?;
            let expires = request
                .expires_days
                .map(crate::service::token_expiry)
                .transpose()?;
            let token = s.create_api_token(actor, &request.name, principal.id, None, expires)?;
            Ok((
                StatusCode::CREATED,
                Json(json!({"token": token, "name": request.name, "account": principal.user_name})),
            ))
        })
        .await
}

async fn revoke_token(
    State(service): State<Service>,
    caller: Caller,
    Checked(Path(token)): Checked<Path<String>>,
) -> RestResult<StatusCode> {
    caller
        .run(service, move |s, actor| {
            s.revoke_api_token(actor, &token)?;
            Ok(StatusCode::NO_CONTENT)
        })
        .await
}

async fn rotate_keys(State(service): State<Service>, caller: Caller) -> RestResult<StatusCode> {
    caller
        .run(service, |s, actor| {
            s.rotate_signing_key(actor)?;
            Ok(StatusCode::NO_CONTENT)
        })
        .await
}
