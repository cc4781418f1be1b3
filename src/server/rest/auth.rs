//! `/auth/`: sign-in, the signed-in user's own sessions, password and authenticator, password
//! recovery and first passwords, and act-as. The endpoints for the signed-in authenticate their
//! caller, each for its own use of the session, before their handlers run.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Form, FromRequest, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::bearer::{Bearer, Caller, UsageOf, signed_in};
use super::link_page::{Forgot as ForgotPage, Outcome, forgot_page as forgot_html, page};
use super::{Checked, RestError, RestResult, blocking};
use crate::audit::Source;
use crate::auth::session::Session;
use crate::model::UserId;
use crate::password::policy::Violation;
use crate::service::{
    Expected, IssuedToken, LoginSource, Principal, Service, ServiceError, SessionUse,
};
use crate::token::LinkPurpose;

pub fn router(service: &Service) -> Router<Service> {
    // On the signed-in methods alone: these paths are public knowledge, so a method a path
    // does not take is `405` to anyone.
    let session = |usage: UsageOf| signed_in(service, usage);
    Router::new()
        .route("/token", post(token))
        .route(
            "/logout",
            post(logout).route_layer(session(|_| SessionUse::SignOut)),
        )
        .route(
            "/sessions",
            get(my_sessions)
                .delete(end_all_my_sessions)
                .route_layer(session(|_| SessionUse::OwnAccount)),
        )
        .route(
            "/sessions/{jti}",
            delete(end_my_session).route_layer(session(|_| SessionUse::OwnAccount)),
        )
        .route(
            "/password",
            post(change_password).route_layer(session(|_| SessionUse::PasswordChange)),
        )
        .route("/password/forgot", get(forgot_page).post(forgot))
        .route("/password/reset", get(reset_page).post(reset))
        .route("/activate", get(activate_page).post(activate))
        .route(
            "/totp/enroll",
            post(totp_enroll).route_layer(session(|_| SessionUse::Enrolment)),
        )
        .route(
            "/totp/confirm",
            post(totp_confirm).route_layer(session(|_| SessionUse::Enrolment)),
        )
        .route(
            "/totp",
            delete(totp_remove).route_layer(session(totp_removal_use)),
        )
        .route(
            "/act-as",
            post(act_as).route_layer(session(|_| SessionUse::Api)),
        )
}

type Peer = ConnectInfo<SocketAddr>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    username: String,
    password: String,
    #[serde(default)]
    code: Option<String>,
}

fn token_response(issued: &IssuedToken) -> Json<Value> {
    let mut body = json!({
        "access_token": issued.token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
    });
    // Within `[password] expiry_warning_days` of the password's expiry: when, so the client
    // can ask its user to change it.
    let password = &issued.password;
    if let Some(at) = password.expires.and_then(|at| {
        at.format(&time::format_description::well_known::Rfc3339)
            .ok()
    }) {
        body["password_expires"] = Value::String(at);
    }
    // A temporary password: the session is good only for choosing a new one.
    if password.must_change {
        body["password_must_change"] = true.into();
    }
    // An expired password's grace login: the client should have its user change it now.
    if let Some(left) = password.grace_remaining {
        body["grace_logins_remaining"] = left.into();
    }
    Json(body)
}

/// The client's `User-Agent`, as kept with a session.
fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| crate::auth::session::user_agent(&String::from_utf8_lossy(v.as_bytes())))
}

async fn token(
    State(service): State<Service>,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    Checked(Json(request)): Checked<Json<TokenRequest>>,
) -> RestResult<Json<Value>> {
    let user_agent = user_agent(&headers);
    let from = LoginSource {
        source: Source::Rest,
        client: Some(peer.ip()),
        expects: Expected::Anyone,
    };
    let issued = blocking(move || {
        Ok(service.open_session(
            &request.username,
            &request.password,
            request.code.as_deref().filter(|c| !c.is_empty()),
            from,
            user_agent,
        )?)
    })
    .await?;
    Ok(token_response(&issued))
}

/// The current session, from its own token.
fn current_session(service: &Service, bearer: &Bearer) -> RestResult<Session> {
    let token = bearer.token().ok_or_else(RestError::unauthorized)?;
    service
        .authenticate_session(token)?
        .map(|p| p.session)
        .ok_or_else(RestError::unauthorized)
}

async fn logout(State(service): State<Service>, caller: Caller) -> RestResult<StatusCode> {
    let bearer = caller.bearer().clone();
    caller
        .run(service, move |s, actor| {
            let session = current_session(s, &bearer)?;
            s.revoke_session(actor, session.user, session.jti)?;
            Ok(StatusCode::NO_CONTENT)
        })
        .await
}

fn own_id(actor: &crate::service::Actor) -> RestResult<UserId> {
    match actor.principal {
        Principal::User(id) => Ok(id),
        _ => Err(RestError::unauthorized()),
    }
}

async fn my_sessions(
    State(service): State<Service>,
    caller: Caller,
) -> RestResult<Json<Vec<Session>>> {
    caller
        .run(service, |s, actor| {
            Ok(Json(s.sessions(actor, Some(own_id(actor)?))?))
        })
        .await
}

async fn end_my_session(
    State(service): State<Service>,
    caller: Caller,
    Checked(Path(jti)): Checked<Path<String>>,
) -> RestResult<StatusCode> {
    let jti = jti
        .parse()
        .map_err(|_| RestError::bad_request(format!("{jti:?} is not a session id")))?;
    caller
        .run(service, move |s, actor| {
            s.revoke_session(actor, own_id(actor)?, jti)?;
            Ok(StatusCode::NO_CONTENT)
        })
        .await
}

async fn end_all_my_sessions(
    State(service): State<Service>,
    caller: Caller,
) -> RestResult<StatusCode> {
    caller
        .run(service, |s, actor| {
            s.revoke_all_sessions(actor, own_id(actor)?)?;
            Ok(StatusCode::NO_CONTENT)
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    old_password: String,
    new_password: String,
}

async fn change_password(
    State(service): State<Service>,
    caller: Caller,
    Checked(Json(request)): Checked<Json<PasswordChange>>,
) -> RestResult<StatusCode> {
    caller
        .run(service, move |s, actor| {
            s.change_own_password(actor, &request.old_password, &request.new_password)?;
            Ok(StatusCode::NO_CONTENT)
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Forgot {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

const FORGOT: &str = "/auth/password/forgot";

/// The form a person fills in to be sent a reset link (a browser's way to `POST` here).
async fn forgot_page(State(service): State<Service>) -> Response {
    if !service.policy().recovery {
        return forgot_html(FORGOT, StatusCode::NOT_FOUND, ForgotPage::Disabled);
    }
    forgot_html(FORGOT, StatusCode::OK, ForgotPage::Form { problem: None })
}

/// The form of [`forgot_page`], or JSON from a script.
async fn forgot(
    State(service): State<Service>,
    ConnectInfo(peer): Peer,
    request: Request,
) -> Response {
    if !is_form(&request) {
        return forgot_json(service, peer, request).await.into_response();
    }
    if !service.policy().recovery {
        return forgot_html(FORGOT, StatusCode::NOT_FOUND, ForgotPage::Disabled);
    }
    let who = match Form::<ForgotForm>::from_request(request, &()).await {
        Ok(Form(filled)) => filled.username,
        Err(_) => String::new(),
    };
    if who.trim().is_empty() {
        let problem = Some("Give your user name or email address.");
        return forgot_html(
            FORGOT,
            StatusCode::BAD_REQUEST,
            ForgotPage::Form { problem },
        );
    }
    request_reset_later(service, who, peer);
    forgot_html(FORGOT, StatusCode::ACCEPTED, ForgotPage::Sent)
}

#[derive(Deserialize)]
struct ForgotForm {
    #[serde(default)]
    username: String,
}

/// The reset is asked for after the answer is sent, so that the answer says the same, as
/// fast, whether or not an account matched.
fn request_reset_later(service: Service, who: String, peer: SocketAddr) {
    tokio::task::spawn_blocking(move || {
        if let Err(e) = service.request_password_reset(&who, Some(peer.ip())) {
            tracing::warn!(error = %e, "password recovery request failed");
        }
    });
}

fn is_form(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// Always the same answer, at the same speed: the work happens after the response.
async fn forgot_json(
    service: Service,
    peer: SocketAddr,
    request: Request,
) -> RestResult<(StatusCode, Json<Value>)> {
    let Checked(Json(request)) = Checked::<Json<Forgot>>::from_request(request, &()).await?;
    if !service.policy().recovery {
        return Err(RestError::new(
            StatusCode::NOT_FOUND,
            "disabled",
            "password recovery is disabled",
        ));
    }
    let Some(who) = request
        .username
        .or(request.email)
        .filter(|w| !w.trim().is_empty())
    else {
        return Err(RestError::bad_request("give a username or an email"));
    };
    request_reset_later(service, who, peer);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "status": "if an account matches, a reset link has been sent to its address"
        })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Redeem {
    token: String,
    password: String,
}

async fn redeem(
    service: Service,
    purpose: LinkPurpose,
    peer: SocketAddr,
    request: Request,
) -> RestResult<StatusCode> {
    let Checked(Json(request)) = Checked::<Json<Redeem>>::from_request(request, &()).await?;
    blocking(move || {
        service.redeem_link(purpose, &request.token, &request.password, Some(peer.ip()))?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// A link's POST: JSON from a script (204 or a JSON error), or the form of its page (a page).
async fn redeem_either(
    service: Service,
    purpose: LinkPurpose,
    action: &'static str,
    peer: SocketAddr,
    request: Request,
) -> Response {
    if !is_form(&request) {
        return redeem(service, purpose, peer, request)
            .await
            .into_response();
    }
    let Ok(Form(filled)) = Form::<RedeemForm>::from_request(request, &()).await else {
        return page(purpose, action, StatusCode::BAD_REQUEST, Outcome::Dead);
    };
    let policy = service.policy().password.describe();
    let again = |status, problem: &str| {
        let outcome = Outcome::Form {
            token: &filled.token,
            policy: &policy,
            problem: Some(problem),
        };
        page(purpose, action, status, outcome)
    };
    if filled.password != filled.confirm {
        return again(StatusCode::BAD_REQUEST, "The two passwords differ.");
    }
    let (token, password) = (filled.token.clone(), filled.password.clone());
    let redeemed =
        blocking(move || Ok(service.redeem_link(purpose, &token, &password, Some(peer.ip()))))
            .await;
    match redeemed {
        Ok(Ok(())) => page(purpose, action, StatusCode::OK, Outcome::Done),
        Ok(Err(ServiceError::PasswordPolicy(rule))) if rule != Violation::SelfServiceDisabled => {
            again(StatusCode::BAD_REQUEST, &rule.to_string())
        }
        Ok(Err(ServiceError::Invalid { field: "token", .. })) => {
            page(purpose, action, StatusCode::BAD_REQUEST, Outcome::Dead)
        }
        Ok(Err(e)) => RestError::from(e).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct RedeemForm {
    token: String,
    password: String,
    confirm: String,
}

#[derive(Deserialize)]
struct LinkQuery {
    #[serde(default)]
    token: String,
}

/// The page a link opens: the form while the link is usable, else why not.
async fn link_form(
    service: Service,
    purpose: LinkPurpose,
    action: &'static str,
    token: String,
) -> Response {
    let policy = service.policy().password.describe();
    let checked = token.clone();
    let usable = !token.is_empty()
        && blocking(move || Ok(service.link_usable(purpose, &checked)?))
            .await
            .unwrap_or(false);
    if !usable {
        return page(purpose, action, StatusCode::NOT_FOUND, Outcome::Dead);
    }
    let outcome = Outcome::Form {
        token: &token,
        policy: &policy,
        problem: None,
    };
    page(purpose, action, StatusCode::OK, outcome)
}

async fn reset_page(
    State(service): State<Service>,
    Checked(Query(q)): Checked<Query<LinkQuery>>,
) -> Response {
    link_form(service, LinkPurpose::ResetPassword, RESET, q.token).await
}

async fn activate_page(
    State(service): State<Service>,
    Checked(Query(q)): Checked<Query<LinkQuery>>,
) -> Response {
    link_form(service, LinkPurpose::SetPassword, ACTIVATE, q.token).await
}

const RESET: &str = "/auth/password/reset";
const ACTIVATE: &str = "/auth/activate";

async fn reset(
    State(service): State<Service>,
    ConnectInfo(peer): Peer,
    request: Request,
) -> Response {
    redeem_either(service, LinkPurpose::ResetPassword, RESET, peer, request).await
}

async fn activate(
    State(service): State<Service>,
    ConnectInfo(peer): Peer,
    request: Request,
) -> Response {
    redeem_either(service, LinkPurpose::SetPassword, ACTIVATE, peer, request).await
}

async fn totp_enroll(State(service): State<Service>, caller: Caller) -> RestResult<Json<Value>> {
    caller
        .run(service, |s, actor| {
            let enrolment = s.enrol_totp(actor)?;
            Ok(Json(json!({
                "secret": enrolment.secret,
                "otpauth_uri": enrolment.otpauth_uri,
            })))
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Confirm {
    code: String,
}

async fn totp_confirm(
    State(service): State<Service>,
    caller: Caller,
    Checked(Json(request)): Checked<Json<Confirm>>,
) -> RestResult<StatusCode> {
    caller
        .run(service, move |s, actor| {
            s.confirm_totp(actor, &request.code)?;
            Ok(StatusCode::NO_CONTENT)
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TotpTarget {
    #[serde(default)]
    user: Option<String>,
}

/// The body of `DELETE /auth/totp`: one's current password, for one's own authenticator.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TotpRemoval {
    password: Option<String>,
}

/// Someone else's authenticator (`?user=ID`) is admin work, under the API rules; one's own is
/// one's own account's. Any `user` parameter, valid or not, asks for the former.
fn totp_removal_use(request: &Parts) -> SessionUse {
    let names_user = Query::<Vec<(String, String)>>::try_from_uri(&request.uri)
        .is_ok_and(|Query(pairs)| pairs.iter().any(|(name, _)| name == "user"));
    if names_user {
        SessionUse::Api
    } else {
        SessionUse::OwnAccount
    }
}

async fn totp_remove(
    State(service): State<Service>,
    caller: Caller,
    Checked(Query(target)): Checked<Query<TotpTarget>>,
    Checked(body): Checked<axum::body::Bytes>,
) -> RestResult<StatusCode> {
    // Optional, as an administrator's removal (`?user=ID`) sends none.
    let removal: TotpRemoval = if body.is_empty() {
        TotpRemoval::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            RestError::bad_request(format!("the body is {{\"password\": \"…\"}}: {e}"))
        })?
    };
    let target = target
        .user
        .map(|u| {
            u.parse::<UserId>()
                .map_err(|_| RestError::bad_request(format!("{u:?} is not a user id")))
        })
        .transpose()?;
    caller
        .run(service, move |s, actor| {
            // Idempotent, as a DELETE is: none to remove is no error.
            s.remove_totp(actor, target, removal.password.as_deref())?;
            Ok(StatusCode::NO_CONTENT)
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActAs {
    /// The target's id or userName.
    user: String,
    /// The administrator's own password, entered again.
    password: String,
}

async fn act_as(
    State(service): State<Service>,
    caller: Caller,
    headers: HeaderMap,
    Checked(Json(request)): Checked<Json<ActAs>>,
) -> RestResult<Json<Value>> {
    let user_agent = user_agent(&headers);
    let issued = caller
        .run(service, move |s, actor| {
            Ok(s.act_as(actor, &request.password, &request.user, user_agent.clone())?)
        })
        .await?;
    Ok(token_response(&issued))
}
