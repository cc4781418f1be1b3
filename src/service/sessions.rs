//! Sessions: the JWTs of `POST /auth/token` and act-as, each recorded by its `jti` so that it
//! can be listed and revoked. A token is honoured only while its session is live and its user
//! may still hold sessions: active, not anonymised, not locked, and no password change or
//! "sign out everywhere" since it was issued.

use std::sync::Arc;

use time::OffsetDateTime;
use uuid::Uuid;

use super::login::LoggedIn;
use super::users::readable;
use super::{Actor, LoginSource, Principal, Result, Service, ServiceError};
use crate::audit::AuditKind;
use crate::auth::jwt::{AUDIENCE, ActorClaim, Claims, KeyRing};
use crate::auth::session::{AtLimit, Session, SessionLimit};
use crate::model::{Action, EffectiveSettings, Entity, PrincipalKind, User, UserId};

const KEYS: &str = "jwt_keys";
/// Rotated-out keys that still validate the tokens they signed.
const KEPT_KEYS: usize = 2;

/// A token as handed to the client: shown once, never stored.
#[derive(Clone, Debug)]
pub struct IssuedToken {
    pub token: String,
    pub expires_in: i64,
    pub session: Session,
    /// What the sign-in told of the password (nothing for act-as sessions).
    pub password: super::login::PasswordStanding,
}

/// What a session is limited to, when it is.
#[derive(Clone, Copy, Debug, Default)]
struct Limited {
    /// Enrolling an authenticator (MFA required, none enrolled).
    enrol_only: bool,
    /// Replacing a temporary password.
    change_only: bool,
    /// Signed in without a second factor.
    single_factor: bool,
}

/// Who a presented session token speaks for.
#[derive(Clone, Debug)]
pub struct SessionPrincipal {
    pub user: User,
    pub session: Session,
    pub settings: EffectiveSettings,
}

impl SessionPrincipal {
    /// The actor requests made with this token act as.
    pub fn actor(&self, source: crate::audit::Source, client: Option<std::net::IpAddr>) -> Actor {
        Actor {
            acting_admin: self.session.acting_admin,
            ..Actor::user(self.user.id, source, client)
        }
    }
}

/// What a session token is presented for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionUse {
    /// SCIM and the admin REST API: only for users whose roles enable API access.
    Api,
    /// The user's own account endpoints under `/auth/` (sessions, password, MFA).
    OwnAccount,
    /// Enrolling an authenticator: the one thing an enrol-only session may do (and signing
    /// out).
    Enrolment,
    /// Changing one's own password: the one thing a session on a temporary password may do.
    PasswordChange,
    /// Ending the session itself, which every session may do.
    SignOut,
}

impl Service {
    /// The actor a bearer session token acts as for `usage`. An invalid or revoked token is
    /// [`ServiceError::InvalidCredentials`]; a valid one used beyond its reach is
    /// [`ServiceError::Forbidden`].
    pub fn session_actor(
        &self,
        token: &str,
        usage: SessionUse,
        source: crate::audit::Source,
        client: Option<std::net::IpAddr>,
    ) -> Result<Actor> {
        let principal = self
            .authenticate_session(token)?
            .ok_or(ServiceError::InvalidCredentials)?;
        if principal.session.change_only
            && !matches!(usage, SessionUse::PasswordChange | SessionUse::SignOut)
        {
            return Err(ServiceError::Forbidden(
                super::login::TEMPORARY_PASSWORD.into(),
            ));
        }
        // A role that came to require MFA after a sign-in with a password alone limits the
        // session as it would limit a new sign-in: it would otherwise have the role's rights
        // without the second factor the role asks for.
        let enrol_only = principal.session.enrol_only
            || (principal.session.single_factor && principal.settings.mfa_required);
        if enrol_only
            && !(matches!(usage, SessionUse::Enrolment | SessionUse::SignOut)
                || (usage == SessionUse::PasswordChange && principal.session.change_only))
        {
            return Err(ServiceError::Forbidden(
                "your roles require MFA: enrol an authenticator (POST /auth/totp/enroll) and \
                 sign in again with a code"
                    .into(),
            ));
        }
        if usage == SessionUse::Api && !principal.settings.api_access {
            return Err(ServiceError::Forbidden(
                "API access is not enabled by any of your roles".into(),
            ));
        }
        require_allowed_network(&principal.settings, client)?;
        Ok(principal.actor(source, client))
    }

    /// The actor behind any bearer credential: a provisioning API token (`rc_…`), which acts
    /// for its service account and only at the API, or a session token (see
    /// [`Service::session_actor`]). As for session tokens, a token that names no one (unknown,
    /// revoked, expired) is [`ServiceError::InvalidCredentials`] wherever it is presented,
    /// and only a live one used beyond its reach is [`ServiceError::Forbidden`]: the prefix
    /// alone proves nothing, and a client told "forbidden" would look for a missing right
    /// where it should look for a new token.
    pub fn bearer_actor(
        &self,
        token: &str,
        usage: SessionUse,
        source: crate::audit::Source,
        client: Option<std::net::IpAddr>,
    ) -> Result<Actor> {
        if !token.starts_with(crate::token::API_TOKEN_PREFIX) {
            return self.session_actor(token, usage, source, client);
        }
        let found = self
            .authenticate_token(token)?
            .ok_or(ServiceError::InvalidCredentials)?;
        if usage != SessionUse::Api {
            return Err(ServiceError::Forbidden(
                "API tokens act for service accounts; this endpoint is for signed-in users".into(),
            ));
        }
        let actor = Actor::user(found.account.id, source, client);
        // From the subject cached for authorisation: no role is read again per request.
        let settings = EffectiveSettings::of(&self.subject(&actor)?.roles);
        require_allowed_network(&settings, client)?;
        Ok(actor)
    }

    /// Loads (or, on first use, creates) the signing keys.
    fn key_ring(&self) -> Result<Arc<KeyRing>> {
        if let Some(ring) = self.keys.read().expect("key lock").as_ref() {
            return Ok(Arc::clone(ring));
        }
        let mut slot = self.keys.write().expect("key lock");
        if let Some(ring) = slot.as_ref() {
            return Ok(Arc::clone(ring));
        }
        let ring = match self.store.meta(KEYS)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                ServiceError::Store(crate::store::StoreError::Corrupt {
                    tree: "meta",
                    detail: format!("{KEYS}: {e}"),
                })
            })?,
            None => {
                let ring = KeyRing::generate();
                let bytes = serde_json::to_vec(&ring).expect("keys serialise");
                self.transact(|tx| Ok(tx.set_meta(KEYS, &bytes)?))?;
                ring
            }
        };
        let ring = Arc::new(ring);
        *slot = Some(Arc::clone(&ring));
        Ok(ring)
    }

    /// Makes sure signing keys exist (at initialisation).
    pub fn ensure_signing_keys(&self) -> Result<()> {
        self.key_ring().map(drop)
    }

    /// A new signing key; tokens signed by the previous ones stay valid until they expire.
    /// Administrators only.
    pub fn rotate_signing_key(&self, actor: &Actor) -> Result<()> {
        self.require_administrator(actor, "rotate signing keys")?;
        let mut slot = self.keys.write().expect("key lock");
        let mut ring = match slot.as_ref() {
            Some(ring) => (**ring).clone(),
            None => match self.store.meta(KEYS)? {
                Some(bytes) => serde_json::from_slice(&bytes)
                    .map_err(|e| ServiceError::invalid("keys", e.to_string()))?,
                None => KeyRing::generate(),
            },
        };
        ring.rotate(KEPT_KEYS);
        let bytes = serde_json::to_vec(&ring).expect("keys serialise");
        self.transact(|tx| {
            tx.set_meta(KEYS, &bytes)?;
            self.audit(tx, actor, AuditKind::SigningKeyRotated, None, None, None)
        })?;
        *slot = Some(Arc::new(ring));
        Ok(())
    }

    pub(super) fn require_administrator(&self, actor: &Actor, what: &str) -> Result<()> {
        if self.subject(actor)?.is_administrator() {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "only administrators may {what}"
            )))
        }
    }

    /// `POST /auth/token`: a login, then a session token whose lifetime is the strictest
    /// session timeout of the user's roles. `user_agent` is what the client said it is (see
    /// [`crate::auth::session::user_agent`]).
    pub fn open_session(
        &self,
        user_name: &str,
        password: &str,
        code: Option<&str>,
        from: LoginSource,
        user_agent: Option<String>,
    ) -> Result<IssuedToken> {
        // The signing keys are made (a transaction of their own, on a new store) before the
        // login's transaction, inside which the token is signed.
        self.key_ring()?;
        // Prepared once (signing is the costly part) and recorded in the login's own
        // transaction, which may run again on a conflict.
        let mut pending: Option<IssuedToken> = None;
        let logged = self.login_then(
            user_name,
            password,
            super::SecondFactor::Separate(code),
            from,
            &mut |tx, logged: &LoggedIn| {
                let pending = match &mut pending {
                    Some(p) => p,
                    None => pending.insert(self.prepare(
                        &Actor::user(logged.user.id, from.source, from.client),
                        &logged.user,
                        &logged.settings,
                        None,
                        Limited {
                            enrol_only: logged.enrol_only,
                            change_only: logged.password.must_change,
                            single_factor: !logged.second_factor,
                        },
                        user_agent.clone(),
                    )?),
                };
                let actor = Actor::user(logged.user.id, from.source, from.client);
                self.note_sign_in_device(tx, &logged.user, from.client, user_agent.as_deref())?;
                self.record_session(tx, &actor, &logged.user, pending)
            },
        )?;
        let mut issued = pending.expect("a successful login recorded its session");
        issued.password = logged.password;
        Ok(issued)
    }

    /// A session and its signed token, not yet stored: the token is handed out only once
    /// the transaction that stores its session commits.
    fn prepare(
        &self,
        actor: &Actor,
        user: &User,
        settings: &EffectiveSettings,
        acting_admin: Option<UserId>,
        limited: Limited,
        user_agent: Option<String>,
    ) -> Result<IssuedToken> {
        let Limited {
            enrol_only,
            change_only,
            single_factor,
        } = limited;
        let ring = self.key_ring()?;
        let now = OffsetDateTime::now_utc();
        // Bounded here too: a role stored before the bound was checked must not make a
        // session that ends past the calendar.
        let lifetime = settings
            .session_timeout_minutes
            .map_or(self.policy.session_timeout, |m| {
                time::Duration::minutes(m.min(crate::auth::session::MAX_TIMEOUT_MINUTES).into())
            });
        let session = Session {
            jti: Uuid::now_v7(),
            user: user.id,
            acting_admin,
            created: now,
            expires: now + lifetime,
            revoked: None,
            source: actor.source,
            client: actor.client,
            enrol_only,
            change_only,
            single_factor,
            user_agent,
        };
        let claims = Claims {
            iss: self.policy.token_issuer.clone(),
            aud: AUDIENCE.into(),
            sub: user.id.to_string(),
            jti: session.jti.to_string(),
            iat: now.unix_timestamp(),
            nbf: now.unix_timestamp(),
            exp: session.expires.unix_timestamp(),
            act: acting_admin.map(|a| ActorClaim { sub: a.to_string() }),
            enrol_only,
        };
        let token = ring
            .sign(&claims)
            .map_err(|e| ServiceError::invalid("token", e.to_string()))?;
        Ok(IssuedToken {
            token,
            expires_in: lifetime.whole_seconds(),
            session,
            password: Default::default(),
        })
    }

    /// Stores a prepared session, first making room for it under `[sessions] max_per_user`
    /// (act-as sessions neither count nor make room).
    fn record_session(
        &self,
        tx: &mut dyn crate::store::Txn,
        actor: &Actor,
        user: &User,
        pending: &IssuedToken,
    ) -> Result<()> {
        let session = &pending.session;
        let detail = match session.acting_admin {
            Some(admin) => format!("session {} (admin {admin} acting)", session.jti),
            None => format!("session {}", session.jti),
        };
        if let Some(limit) = self
            .policy
            .session_limit
            .filter(|_| session.acting_admin.is_none())
        {
            self.make_room(tx, actor, user, limit, session.created)?;
        }
        tx.put_session(session)?;
        self.audit(
            tx,
            actor,
            AuditKind::SessionCreated,
            Some(user.id.to_string()),
            Some(detail),
            None,
        )
    }

    /// Before a sign-in of `user` records its session: with the user at `limit`, ends its
    /// oldest sessions or refuses, as configured.
    fn make_room(
        &self,
        tx: &mut dyn crate::store::Txn,
        actor: &Actor,
        user: &User,
        limit: SessionLimit,
        now: OffsetDateTime,
    ) -> Result<()> {
        // Rewriting the login state makes concurrent sign-ins of this user conflict: the one
        // that commits second runs again and counts the session of the first.
        let mut state = tx.login_state(user.id)?.unwrap_or_default();
        state.sessions_opened = state.sessions_opened.wrapping_add(1);
        tx.put_login_state(user.id, &state)?;
        let mut live: Vec<Session> = self
            .store
            .sessions_of(user.id)?
            .into_iter()
            .filter(|s| s.acting_admin.is_none() && s.is_live(now) && holds_sessions(user, s, now))
            .collect();
        let max = usize::try_from(limit.max).unwrap_or(usize::MAX).max(1);
        if live.len() < max {
            return Ok(());
        }
        if limit.at_limit == AtLimit::Refuse {
            return Err(ServiceError::Forbidden(format!(
                "{} already holds the most sessions allowed ({max}, [sessions] max_per_user): \
                 sign out on another device, or ask an administrator to end a session",
                user.user_name
            )));
        }
        live.sort_by_key(|s| s.created);
        let excess = live.len() + 1 - max;
        for old in live.into_iter().take(excess) {
            let Some(mut old) = tx.session(user.id, old.jti)? else {
                continue;
            };
            if old.revoked.is_some() {
                continue;
            }
            old.revoked = Some(now);
            tx.put_session(&old)?;
            self.audit(
                tx,
                actor,
                AuditKind::SessionRevoked,
                Some(user.id.to_string()),
                Some(format!(
                    "session {} ended for a new one: at most {max} per user",
                    old.jti
                )),
                None,
            )?;
        }
        Ok(())
    }

    /// The principal behind a session token, or `None` for anything not honoured now: bad
    /// signature or claims, unknown or revoked session, or a user who may no longer hold it.
    pub fn authenticate_session(&self, token: &str) -> Result<Option<SessionPrincipal>> {
        let ring = self.key_ring()?;
        let Ok(claims) = ring.verify(token, &self.policy.token_issuer) else {
            return Ok(None);
        };
        let (Ok(user_id), Ok(jti)) = (claims.sub.parse::<UserId>(), claims.jti.parse::<Uuid>())
        else {
            return Ok(None);
        };
        let Some(session) = self.store.session(user_id, jti)? else {
            return Ok(None);
        };
        let now = OffsetDateTime::now_utc();
        let Some(user) = self.store.user(user_id)? else {
            return Ok(None);
        };
        if !session.is_live(now) || !holds_sessions(&user, &session, now) {
            return Ok(None);
        }
        // An act-as session lasts only while its administrator could open it again: still an
        // administrator, and signed in as far as its own sessions go (not locked, signed out
        // everywhere or given a new password since).
        if let Some(admin) = session.acting_admin {
            let still = match self.login_user(admin)? {
                Some(a) => holds_sessions(&a, &session, now) && self.is_active_administrator(&a)?,
                None => false,
            };
            if !still {
                return Ok(None);
            }
        }
        let settings = self.settings_of(&user)?;
        Ok(Some(SessionPrincipal {
            user,
            session,
            settings,
        }))
    }

    /// Live sessions of `user` (all users when `None`), newest first. Listing someone else's
    /// needs Edit on them; everybody may list their own.
    pub fn sessions(&self, actor: &Actor, user: Option<UserId>) -> Result<Vec<Session>> {
        let now = OffsetDateTime::now_utc();
        let mut out = match user {
            Some(id) => {
                let target = self.session_owner(actor, id)?;
                self.store
                    .sessions_of(id)?
                    .into_iter()
                    .filter(|s| s.is_live(now) && holds_sessions(&target, s, now))
                    .collect::<Vec<_>>()
            }
            None => {
                self.require_administrator(actor, "list every session")?;
                let mut live = Vec::new();
                for session in self.store.sessions() {
                    let session = session?;
                    if !session.is_live(now) {
                        continue;
                    }
                    if let Some(user) = self.store.user(session.user)?
                        && holds_sessions(&user, &session, now)
                    {
                        live.push(session);
                    }
                }
                live
            }
        };
        out.sort_by_key(|s| std::cmp::Reverse(s.created));
        Ok(out)
    }

    /// Ends one session (remote termination).
    pub fn revoke_session(&self, actor: &Actor, user: UserId, jti: Uuid) -> Result<()> {
        self.session_owner(actor, user)?;
        let now = OffsetDateTime::now_utc();
        self.transact(|tx| {
            let mut session = tx
                .session(user, jti)?
                .ok_or_else(|| ServiceError::not_found(Entity::User, format!("session {jti}")))?;
            if session.revoked.is_none() {
                session.revoked = Some(now);
                tx.put_session(&session)?;
                self.audit(
                    tx,
                    actor,
                    AuditKind::SessionRevoked,
                    Some(user.to_string()),
                    Some(format!("session {jti}")),
                    None,
                )?;
            }
            Ok(())
        })
    }

    /// Ends every session of a user ("sign out everywhere").
    pub fn revoke_all_sessions(&self, actor: &Actor, user: UserId) -> Result<()> {
        self.session_owner(actor, user)?;
        let now = OffsetDateTime::now_utc();
        self.transact(|tx| {
            let mut record = readable(tx, user)?;
            record.sessions_revoked = Some(now);
            super::users::put_server_managed(tx, &mut record, now)?;
            self.audit(
                tx,
                actor,
                AuditKind::SessionRevoked,
                Some(user.to_string()),
                Some("every session".into()),
                None,
            )
        })
    }

    /// The user whose sessions `actor` wants to see or end: itself, or one it may edit.
    fn session_owner(&self, actor: &Actor, id: UserId) -> Result<User> {
        if actor.principal == Principal::User(id) {
            return self
                .records()
                .user(id)?
                .filter(|u| !u.anonymised)
                .ok_or_else(|| ServiceError::not_found(Entity::User, id));
        }
        let user = self.user(actor, id)?;
        let subject = self.subject(actor)?;
        self.authorize_user_change(&mut self.records(), &subject, Action::Edit, &user)?;
        Ok(user)
    }

    /// Act as another user (seed 002): an administrator re-enters its own password and gets a
    /// session for `target`. Never for administrators or the system principal; the token and
    /// every audit entry made with it name both.
    /// `target` is a user id or userName.
    pub fn act_as(
        &self,
        actor: &Actor,
        password: &str,
        target: &str,
        user_agent: Option<String>,
    ) -> Result<IssuedToken> {
        if !self.policy.act_as {
            return Err(ServiceError::Forbidden(
                "acting as another user is disabled ([sessions] act_as)".into(),
            ));
        }
        let Principal::User(admin) = actor.principal else {
            return Err(ServiceError::Forbidden(
                "only a signed-in administrator may act as another user".into(),
            ));
        };
        if actor.acting_admin.is_some() {
            return Err(ServiceError::Forbidden(
                "an act-as session cannot act as someone else".into(),
            ));
        }
        self.require_administrator(actor, "act as another user")?;
        let admin_user = self.reauthenticate(actor, admin, password)?;
        let target = match target.parse::<UserId>() {
            Ok(id) => id,
            Err(_) => self.user_by_name(actor, target)?.id,
        };
        let user = self
            .login_user(target)?
            .ok_or_else(|| ServiceError::not_found(Entity::User, target))?;
        let settings = self.settings_of(&user)?;
        let target_subject = self.subject(&Actor::user(target, actor.source, actor.client))?;
        if user.kind == PrincipalKind::System || target_subject.is_administrator() {
            return Err(ServiceError::Forbidden(
                "nobody may act as an administrator or the system principal".into(),
            ));
        }
        if user.id == admin {
            return Err(ServiceError::invalid("user", "that is yourself"));
        }
        let acting = Actor {
            acting_admin: Some(admin),
            ..Actor::user(target, actor.source, actor.client)
        };
        // The session is the administrator's doing: the user's session limit neither counts
        // it nor makes room for it.
        let issued = self.prepare(
            &acting,
            &user,
            &settings,
            Some(admin),
            Limited::default(),
            user_agent,
        )?;
        self.transact(|tx| {
            self.audit(
                tx,
                actor,
                AuditKind::ActAs,
                Some(target.to_string()),
                Some(format!("administrator {admin} acts as {}", user.user_name)),
                None,
            )?;
            self.notify_acted_as(tx, actor, &user, &admin_user.user_name)?;
            self.record_session(tx, &acting, &user, &issued)
        })?;
        Ok(issued)
    }
}

/// A session or API token works only from the networks the roles of its user allow (a token
/// taken elsewhere is no use there).
fn require_allowed_network(
    settings: &EffectiveSettings,
    client: Option<std::net::IpAddr>,
) -> Result<()> {
    if settings.allows(client) {
        return Ok(());
    }
    let from = client.map_or("an unknown address".to_string(), |c| c.to_string());
    Err(ServiceError::Forbidden(format!(
        "requests from {from} are outside the networks your roles allow (allowedNetworks)"
    )))
}

/// Whether `user` may still hold `session` (see [`sign_in_holds`]).
fn holds_sessions(user: &User, session: &Session, now: OffsetDateTime) -> bool {
    sign_in_holds(user, session.created, now)
}

/// Whether a sign-in of `user` made at `signed_in` (a session, or a bound LDAP connection)
/// still holds: deactivation, anonymisation, lockout, a password change and "sign out
/// everywhere" all end the sign-ins made before them.
pub(super) fn sign_in_holds(user: &User, signed_in: OffsetDateTime, now: OffsetDateTime) -> bool {
    user.active
        && !user.anonymised
        && !user.is_locked(now)
        && user.password_changed.is_none_or(|t| signed_in >= t)
        && user.sessions_revoked.is_none_or(|t| signed_in >= t)
}
