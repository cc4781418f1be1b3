//! Authentication end to end: the real binary, REST sign-in and admin calls over HTTP, LDAP
//! binds with the `ldap3` library and OpenLDAP's tools. Each rule of the password policy,
//! lockout, MFA, sessions, recovery and act-as is exercised through the interfaces users have.

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{ADMIN_PASSWORD, Server};
use ldap3::LdapConnAsync;
use reqwest::{Client, Method, StatusCode};
use rollcall::auth::jwt::{AUDIENCE, Claims, KeyRing, SigningKey};
use rollcall::auth::totp::TotpEnrolment;
use serde_json::{Value, json};
use sha1::Digest as _;

const TOKEN: &str = "rc_test_provisioning_token_0123456789";
const SCIM: &str = "application/scim+json";
const ROLLCALL: &str = "urn:rollcall:scim:schemas:extension:2.0:User";
const ROLE: &str = "urn:rollcall:scim:schemas:extension:2.0:Role";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const PEOPLE: &str = "ou=people,dc=example,dc=com";

struct Directory {
    server: Server,
    http: Client,
}

impl Directory {
    fn start(extra: &str) -> Directory {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let server =
            common::start_directory_with_env(extra, &[("ROLLCALL_BOOTSTRAP_TOKEN", TOKEN)]);
        Directory {
            server,
            http: Client::new(),
        }
    }

    /// `bearer` is an API token or a session token.
    async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.server.url(path));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        if let Some(b) = body {
            let kind = if path.starts_with("/scim") {
                SCIM
            } else {
                "application/json"
            };
            req = req.header("content-type", kind).body(b.to_string());
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    async fn login(
        &self,
        username: &str,
        password: &str,
        code: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut body = json!({"username": username, "password": password});
        if let Some(code) = code {
            body["code"] = json!(code);
        }
        self.call(Method::POST, "/auth/token", None, Some(body))
            .await
    }

    /// A session token, or a panic that says why not.
    async fn token(&self, username: &str, password: &str, code: Option<&str>) -> String {
        let (status, body) = self.login(username, password, code).await;
        assert_eq!(status, StatusCode::OK, "login of {username}: {body}");
        assert_eq!(body["token_type"], "Bearer");
        body["access_token"].as_str().unwrap().to_string()
    }

    async fn admin_token(&self) -> String {
        self.token("admin", ADMIN_PASSWORD, None).await
    }

    /// Creates a user through SCIM with the provisioning token; returns its id.
    async fn user(&self, user_name: &str, password: Option<&str>, roles: &[&str]) -> String {
        let mut body = json!({
            "userName": user_name,
            "active": true,
            "emails": [{"value": format!("{user_name}@example.com"), "type": "work", "primary": true}],
        });
        if let Some(pw) = password {
            body["password"] = json!(pw);
        }
        let (status, created) = self
            .call(Method::POST, "/scim/v2/Users", Some(TOKEN), Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["id"].as_str().unwrap().to_string();
        // Roles that enable API access are the administrators' to grant.
        let admin = match roles {
            [] => String::new(),
            _ => self.admin_token().await,
        };
        for role in roles {
            let (status, body) = self
                .call(
                    Method::PATCH,
                    &format!("/scim/v2/Groups/{role}"),
                    Some(&admin),
                    Some(json!({"schemas": [PATCH_OP], "Operations": [
                        {"op": "add", "path": "members", "value": [{"value": id}]}
                    ]})),
                )
                .await;
            assert!(status.is_success(), "{body}");
        }
        id
    }

    /// Creates an employee role with the given settings (administrators' work, done with the
    /// admin's session); returns its id.
    async fn role(&self, name: &str, settings: Value) -> String {
        // Reading one's own record is what `/Me` needs.
        self.role_defined(
            name,
            json!({
                "roleType": "employee",
                "settings": settings,
                "permissions": {"user": {"read": "private"}},
            }),
        )
        .await
    }

    /// Creates a role with `definition` as its Rollcall extension; returns its id.
    async fn role_defined(&self, name: &str, definition: Value) -> String {
        let admin = self.admin_token().await;
        let (status, body) = self
            .call(
                Method::POST,
                "/scim/v2/Groups",
                Some(&admin),
                Some(json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", ROLE],
                    "displayName": name,
                    ROLE: definition,
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    async fn bind(&self, user_name: &str, password: &str) -> u32 {
        let url = format!("ldap://{}", self.server.ldap);
        let (conn, mut ldap) = LdapConnAsync::new(&url).await.unwrap();
        ldap3::drive!(conn);
        let rc = ldap
            .simple_bind(&format!("uid={user_name},{PEOPLE}"), password)
            .await
            .unwrap()
            .rc;
        let _ = ldap.unbind().await;
        rc
    }

    async fn audit(&self, admin: &str, query: &str) -> Vec<Value> {
        let (status, body) = self
            .call(
                Method::GET,
                &format!("/admin/audit?{query}"),
                Some(admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_array().unwrap().clone()
    }

    /// A SCIM PATCH `replace` of one attribute of user `id`, as the provisioning client;
    /// the user as it is now.
    /// A connection bound as `user_name`, kept open.
    async fn bound(&self, user_name: &str, password: &str) -> ldap3::Ldap {
        let (conn, mut ldap) = LdapConnAsync::new(&format!("ldap://{}", self.server.ldap))
            .await
            .unwrap();
        ldap3::drive!(conn);
        ldap.simple_bind(&format!("uid={user_name},{PEOPLE}"), password)
            .await
            .unwrap()
            .success()
            .unwrap();
        ldap
    }

    async fn replace_attribute(&self, id: &str, path: impl Into<String>, value: Value) -> Value {
        let (status, body) = self
            .call(
                Method::PATCH,
                &format!("/scim/v2/Users/{id}"),
                Some(TOKEN),
                Some(json!({"schemas": [PATCH_OP], "Operations": [
                    {"op": "replace", "path": path.into(), "value": value}
                ]})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Some audit event of `kind` has `fragment` in its detail.
    async fn assert_audited(&self, admin: &str, kind: &str, fragment: &str) {
        let events = self.audit(admin, &format!("kind={kind}")).await;
        assert!(
            events
                .iter()
                .any(|e| e["detail"].as_str().is_some_and(|d| d.contains(fragment))),
            "no {kind} event with {fragment:?}: {events:?}"
        );
    }

    /// The token of the set-password link in `user`'s activation notice.
    async fn activation_token(&self, admin: &str, user: &str) -> String {
        let notice = self
            .outbox(admin)
            .await
            .into_iter()
            .find(|m| m["kind"] == "activation" && m["user"] == user)
            .expect("activation notice");
        link_token(notice["body"].as_str().unwrap(), "/auth/activate")
    }

    /// Redeems the newest reset link mailed to `user` with `password`; returns the message.
    async fn reset_by_mail(&self, admin: &str, user: &str, password: &str) -> Value {
        let message = self
            .outbox(admin)
            .await
            .into_iter()
            .rfind(|m| m["kind"] == "password_reset" && m["user"] == user)
            .expect("a reset message for the user");
        let token = link_token(message["body"].as_str().unwrap(), "/auth/password/reset");
        let (status, body) = self
            .call(
                Method::POST,
                "/auth/password/reset",
                None,
                Some(json!({"token": token, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        message
    }

    /// `POST /auth/password/forgot` with `body`, as anyone.
    async fn forgot(&self, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, "/auth/password/forgot", None, Some(body))
            .await
    }

    async fn outbox(&self, admin: &str) -> Vec<Value> {
        let (status, body) = self
            .call(Method::GET, "/admin/outbox", Some(admin), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_array().unwrap().clone()
    }
}

/// The sign-in codes mailed to user `id` (userName `name`, at `name@example.com`), oldest
/// first, each checked for its address and form.
async fn mailed_codes(d: &Directory, admin: &str, id: &str, name: &str) -> Vec<String> {
    d.outbox(admin)
        .await
        .into_iter()
        .filter(|m| m["kind"] == "sign_in_code" && m["user"] == id)
        .map(|m| {
            assert_eq!(m["to"], format!("{name}@example.com"), "{m}");
            let subject = m["subject"].as_str().unwrap();
            let code = subject.rsplit(' ').next().unwrap().to_string();
            assert!(
                code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()),
                "{subject}"
            );
            assert!(m["body"].as_str().unwrap().contains(&code), "{m}");
            code
        })
        .collect()
}

/// `POST /auth/token` as `user`, with the answer's headers.
async fn sign_in_for_code(
    d: &Directory,
    user: &str,
    password: &str,
    code: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut body = json!({"username": user, "password": password});
    if let Some(code) = code {
        body["code"] = json!(code);
    }
    let body = body.to_string();
    let kind = Some("application/json");
    raw_request(d, Method::POST, "/auth/token", None, kind, &body).await
}

/// Asserts that a sign-in of `user` with the right password is refused because a new code is
/// held back: `401 mfa_code_held_back` (still a sign-in to finish, so `WWW-Authenticate`),
/// with the whole seconds left of the pause in `Retry-After` and as `retry_after`. Returns the
/// detail.
async fn held_back(d: &Directory, user: &str, password: &str, code: Option<&str>) -> String {
    let answer = sign_in_for_code(d, user, password, code).await;
    assert_refused(
        user,
        &answer,
        StatusCode::UNAUTHORIZED,
        "mfa_code_held_back",
    );
    let (_, headers, body) = answer;
    let retry_after: u64 = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("whole seconds in Retry-After: {headers:?}"));
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(body["retry_after"], retry_after, "{body}");
    body["detail"].as_str().unwrap().to_string()
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn now() -> u64 {
    time::OffsetDateTime::now_utc().unix_timestamp() as u64
}

/// The one-time link token in an outbox message body.
fn link_token(body: &str, path: &str) -> String {
    let at = body
        .find(path)
        .unwrap_or_else(|| panic!("{path} in {body}"))
        + path.len();
    body[at..]
        .split_whitespace()
        .next()
        .unwrap()
        .trim_start_matches("?token=")
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_are_issued_used_listed_and_revoked() {
    let d = Directory::start("");
    let admin = d.admin_token().await;
    let claims = claims_of(&admin);
    assert_eq!(claims["aud"], AUDIENCE);
    assert_eq!(claims["iss"], format!("http://{}", d.server.http));

    // The admin role enables API access: the session works at SCIM, as itself.
    let (status, me) = d.call(Method::GET, "/scim/v2/Me", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["userName"], "admin");
    // No account anonymises itself: the provisioning token would be gone for good.
    for caller in [TOKEN, admin.as_str()] {
        let (status, body) = d
            .call(Method::DELETE, "/scim/v2/Me", Some(caller), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(
            body["detail"].as_str().unwrap().contains("itself"),
            "{body}"
        );
    }
    let (status, me) = d.call(Method::GET, "/scim/v2/Me", Some(TOKEN), None).await;
    assert_eq!(
        (status, me["userName"].as_str()),
        (StatusCode::OK, Some("provisioning"))
    );

    // Refusals all look the same: unknown user, wrong password.
    let (s1, unknown) = d.login("nobody", "Whatever-Pass-1", None).await;
    let (s2, wrong) = d.login("admin", "Wrong-Pass-123", None).await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(unknown, wrong);
    assert_eq!(unknown["error"], "invalid_credentials");
    // ...while the audit trail has the real reasons.
    let failures = d.audit(&admin, "kind=login_failed").await;
    let reasons: Vec<&str> = failures
        .iter()
        .filter_map(|e| e["detail"].as_str())
        .collect();
    assert!(
        reasons.contains(&"unknown user") && reasons.contains(&"wrong password"),
        "{reasons:?}"
    );
    assert!(
        failures
            .iter()
            .all(|e| e["source"] == "rest" && e["client"] == "127.0.0.1")
    );

    // Lifetime: the strictest session timeout of the user's roles, else the default (480 min).
    let (_, body) = d.login("admin", ADMIN_PASSWORD, None).await;
    assert_eq!(body["expires_in"], 480 * 60);
    let short = d
        .role(
            "Short sessions",
            json!({"sessionTimeoutMinutes": 5, "apiAccess": true}),
        )
        .await;
    let long = d
        .role("Long sessions", json!({"sessionTimeoutMinutes": 600}))
        .await;
    d.user("carol", Some("Carol-Pass-123"), &[&long, &short])
        .await;
    let (_, body) = d.login("carol", "Carol-Pass-123", None).await;
    assert_eq!(body["expires_in"], 5 * 60);
    let carol = body["access_token"].as_str().unwrap().to_string();
    let (status, me) = d.call(Method::GET, "/scim/v2/Me", Some(&carol), None).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["userName"], "carol");

    // Sessions are listed and one can be ended remotely.
    let second = d.token("carol", "Carol-Pass-123", None).await;
    let (status, list) = d
        .call(Method::GET, "/auth/sessions", Some(&carol), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let jti = claims_of(&second)["jti"].as_str().unwrap().to_string();
    let (status, _) = d
        .call(
            Method::DELETE,
            &format!("/auth/sessions/{jti}"),
            Some(&carol),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = d
        .call(Method::GET, "/scim/v2/Me", Some(&second), None)
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a revoked session is refused"
    );
    let (status, _) = d.call(Method::GET, "/scim/v2/Me", Some(&carol), None).await;
    assert_eq!(status, StatusCode::OK, "the other session lives on");

    // A password change ends the sessions made with the old password.
    let (status, body) = d
        .call(
            Method::POST,
            "/auth/password",
            Some(&carol),
            Some(json!({"old_password": "Carol-Pass-123", "new_password": "Carol-Pass-456"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _) = d.call(Method::GET, "/scim/v2/Me", Some(&carol), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let carol = d.token("carol", "Carol-Pass-456", None).await;

    // An admin signs a user out everywhere; deactivation ends sessions too.
    let carol_id = claims_of(&carol)["sub"].as_str().unwrap().to_string();
    let (status, _) = d
        .call(
            Method::POST,
            &format!("/admin/users/{carol_id}/sign-out"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = d.call(Method::GET, "/scim/v2/Me", Some(&carol), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let carol = d.token("carol", "Carol-Pass-456", None).await;
    let (status, _) = d
        .call(
            Method::PATCH,
            &format!("/scim/v2/Users/{carol_id}"),
            Some(TOKEN),
            Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = d.call(Method::GET, "/scim/v2/Me", Some(&carol), None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "deactivation ends sessions"
    );

    // Logout ends the current session.
    let (status, _) = d
        .call(Method::POST, "/auth/logout", Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = d.call(Method::GET, "/scim/v2/Me", Some(&admin), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_tokens_are_refused() {
    let d = Directory::start("");
    let admin = d.admin_token().await;
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(admin.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "HS256");
    let kid = header["kid"].as_str().unwrap();
    let claims: Claims = serde_json::from_value(claims_of(&admin)).unwrap();
    let refused = |token: String| {
        let d = &d;
        async move {
            let (status, body) = d.call(Method::GET, "/scim/v2/Me", Some(&token), None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{token}: {body}");
        }
    };

    // alg none, with the real key id and claims and no signature.
    let none = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","typ":"JWT","kid":"{kid}"}}"#));
    let payload = admin.split('.').nth(1).unwrap();
    refused(format!("{none}.{payload}.")).await;
    // The right key id, a wrong key.
    let wrong_key = KeyRing {
        current: SigningKey {
            kid: kid.to_string(),
            ..SigningKey::generate()
        },
        previous: Vec::new(),
    };
    refused(wrong_key.sign(&claims).unwrap()).await;
    // A tampered payload under the original signature (another subject).
    let mut other = claims_of(&admin);
    other["sub"] = json!(uuid::Uuid::new_v4().to_string());
    let forged_payload = URL_SAFE_NO_PAD.encode(other.to_string());
    let parts: Vec<&str> = admin.split('.').collect();
    refused(format!("{}.{forged_payload}.{}", parts[0], parts[2])).await;
    // HS256 is pinned: a token claiming HS512 is refused even before its signature.
    let hs512 = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"HS512","typ":"JWT","kid":"{kid}"}}"#));
    refused(format!("{hs512}.{payload}.{}", parts[2])).await;
    // Rotating the signing key keeps tokens signed with the old one valid until they expire.
    let (status, _) = d
        .call(Method::POST, "/admin/keys/rotate", Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let fresh = d.admin_token().await;
    let fresh_kid = serde_json::from_slice::<Value>(
        &URL_SAFE_NO_PAD
            .decode(fresh.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap()["kid"]
        .clone();
    assert_ne!(fresh_kid, json!(kid), "new tokens use the new key");
    for token in [&admin, &fresh] {
        let (status, _) = d.call(Method::GET, "/scim/v2/Me", Some(token), None).await;
        assert_eq!(status, StatusCode::OK);
    }
    // Garbage and an API-token look-alike.
    refused("not.a.jwt".into()).await;
    refused("rc_not_a_real_token_at_all_000000".into()).await;
    // A session token is not an API token and an API token is not a session at /auth/.
    let (status, _) = d
        .call(Method::GET, "/auth/sessions", Some(TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The real one still works: the refusals above changed nothing.
    let (status, _) = d.call(Method::GET, "/scim/v2/Me", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn password_policy_over_scim_rest_and_ldap() {
    let d = Directory::start("[password]\nmin_length = 12\nrequired_classes = 3\nhistory = 2\n");
    let admin = d.admin_token().await;
    // Passwords set by admins are always checked.
    let (status, body) = d
        .call(
            Method::POST,
            "/scim/v2/Users",
            Some(&admin),
            Some(json!({"userName": "weak", "password": "Short-1"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["scimType"], "invalidValue");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("at least 12 characters"),
        "{body}"
    );
    let (status, found) = d
        .call(
            Method::GET,
            "/scim/v2/Users?filter=userName+eq+%22weak%22",
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(
        (status, found["totalResults"].clone()),
        (StatusCode::OK, json!(0))
    );

    // A provisioning client's (Okta's generated) weak password: the user is created without
    // it, gets the activation link to choose one, and the audit says why.
    let (status, created) = d
        .call(
            Method::POST,
            "/scim/v2/Users",
            Some(TOKEN),
            Some(
                json!({"userName": "okta-user", "password": "short", "active": true,
                        "emails": [{"value": "okta-user@example.com", "primary": true}]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let okta_id = created["id"].as_str().unwrap().to_string();
    assert_eq!(d.bind("okta-user", "short").await, 49);
    let rejected = d
        .audit(&admin, &format!("kind=password_rejected&target={okta_id}"))
        .await;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert!(
        rejected[0]["detail"]
            .as_str()
            .unwrap()
            .contains("at least 12 characters")
    );
    assert!(d.outbox(&admin).await.iter().any(|m| {
        m["user"] == okta_id.as_str()
            && m["body"]
                .as_str()
                .unwrap()
                .contains("/auth/activate?token=")
    }));

    let id = d.user("dave", Some("Dave-Pass-1234"), &[]).await;
    let patch = |pw: &str| json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "password", "value": pw}]});
    // From the provisioning client: accepted, not stored, the old password still works.
    let (status, _) = d
        .call(
            Method::PATCH,
            &format!("/scim/v2/Users/{id}"),
            Some(TOKEN),
            Some(patch("alllowercaseletters")),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(d.bind("dave", "Dave-Pass-1234").await, 0);
    assert_eq!(d.bind("dave", "alllowercaseletters").await, 49);
    // From an admin: refused with the rule.
    let (status, body) = d
        .call(
            Method::PATCH,
            &format!("/scim/v2/Users/{id}"),
            Some(&admin),
            Some(patch("alllowercaseletters")),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["detail"].as_str().unwrap().contains("at least 3 of"),
        "{body}"
    );
    // History: the current password cannot come back, nor the one before it (history = 2).
    let (status, body) = d
        .call(
            Method::PATCH,
            &format!("/scim/v2/Users/{id}"),
            Some(&admin),
            Some(patch("Dave-Pass-1234")),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("last 2 passwords"),
        "{body}"
    );
    let (status, _) = d
        .call(
            Method::PATCH,
            &format!("/scim/v2/Users/{id}"),
            Some(&admin),
            Some(patch("Dave-Pass-5678")),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = d
        .call(
            Method::PATCH,
            &format!("/scim/v2/Users/{id}"),
            Some(&admin),
            Some(patch("Dave-Pass-1234")),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "still in the history");
    assert_eq!(d.bind("dave", "Dave-Pass-5678").await, 0);

    // Self-service over REST names the rule too.
    let dave = d.token("dave", "Dave-Pass-5678", None).await;
    let (status, body) = d
        .call(
            Method::POST,
            "/auth/password",
            Some(&dave),
            Some(json!({"old_password": "Dave-Pass-5678", "new_password": "short"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "password_policy");

    // Config can make provisioning clients' weak passwords a 400 too.
    let strict = Directory::start("[password]\nprovisioned = \"refuse\"\n");
    let (status, body) = strict
        .call(
            Method::POST,
            "/scim/v2/Users",
            Some(TOKEN),
            Some(json!({"userName": "okta-user", "password": "short"})),
        )
        .await;
    assert_eq!(
        (status, body["scimType"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalidValue"))
    );

    // LDAP Password Modify: constraintViolation (19) with the rule in the text.
    let Some(mut ldappasswd) = common::openldap_tool("ldappasswd") else {
        return;
    };
    let out = ldappasswd
        .args([
            "-x",
            "-H",
            &format!("ldap://{}", d.server.ldap),
            "-D",
            common::ADMIN_DN,
            "-w",
            ADMIN_PASSWORD,
        ])
        .args(["-s", "tooshort", &format!("uid=dave,{PEOPLE}")])
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success());
    assert!(
        said.contains("Constraint violation (19)") && said.contains("at least 12 characters"),
        "{said}"
    );
    assert_eq!(d.bind("dave", "Dave-Pass-5678").await, 0, "nothing changed");
}

#[tokio::test(flavor = "multi_thread")]
async fn lockout_counts_failures_survives_restart_and_admins_unlock() {
    let extra = "[lockout]\nthreshold = 3\nwindow_seconds = 900\nduration_seconds = 900\n";
    let mut d = Directory::start(extra);
    let admin = d.admin_token().await;
    let id = d.user("erin", Some("Erin-Pass-1234"), &[]).await;
    for _ in 0..3 {
        assert_eq!(d.bind("erin", "Wrong-Pass-999").await, 49);
    }
    // Locked: the right password is refused now, over LDAP and REST alike.
    assert_eq!(d.bind("erin", "Erin-Pass-1234").await, 49);
    let (status, _) = d.login("erin", "Erin-Pass-1234", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, user) = d
        .call(
            Method::GET,
            &format!("/scim/v2/Users/{id}"),
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(user[ROLLCALL]["locked"], true, "{user}");
    let locked = d
        .audit(&admin, &format!("kind=user_locked&target={id}"))
        .await;
    assert_eq!(locked.len(), 1);
    // When the lock ends, as an RFC 3339 time to the second like every other time shown.
    let detail = locked[0]["detail"].as_str().unwrap();
    let until = detail
        .split_once("locked until ")
        .map(|(_, until)| until)
        .unwrap_or_else(|| panic!("{detail}"));
    let until = time::OffsetDateTime::parse(until, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{detail}: {e}"));
    assert_eq!(until.nanosecond(), 0, "{detail}");
    assert!(
        d.outbox(&admin)
            .await
            .iter()
            .any(|m| m["kind"] == "account_locked" && m["to"] == "admins")
    );
    let reasons: Vec<String> = d
        .audit(&admin, &format!("kind=login_failed&target={id}"))
        .await
        .iter()
        .map(|e| e["detail"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        reasons
            .iter()
            .filter(|r| r.as_str() == "wrong password")
            .count(),
        3
    );
    assert!(reasons.iter().any(|r| r.contains("locked")), "{reasons:?}");
    // LDAP tools see it as the password policy names it (draft-behera §5.3), and find every
    // locked account with one filter.
    let mut ldap = common::admin_connection(d.server.ldap).await;
    let (found, _) = ldap
        .search(
            "ou=people,dc=example,dc=com",
            ldap3::Scope::OneLevel,
            "(pwdAccountLockedTime=*)",
            vec!["pwdAccountLockedTime", "pwdChangedTime"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    assert_eq!(found.len(), 1, "erin alone");
    let erin = ldap3::SearchEntry::construct(found[0].clone());
    assert!(erin.dn.starts_with("uid=erin,"), "{erin:?}");
    let stamp = |name: &str| {
        let text = &erin.attrs[name][0];
        let at = time::PrimitiveDateTime::parse(
            text,
            time::macros::format_description!("[year][month][day][hour][minute][second]Z"),
        )
        .unwrap()
        .assume_utc();
        (time::OffsetDateTime::now_utc() - at).whole_seconds()
    };
    assert!(
        (0..120).contains(&stamp("pwdAccountLockedTime")),
        "{erin:?}"
    );
    assert!((0..120).contains(&stamp("pwdChangedTime")), "{erin:?}");
    let _ = ldap.unbind().await;

    // A restart unlocks nobody.
    let config = d.server.data.parent().unwrap().join("rollcall.toml");
    d.server.terminate();
    let data = d.server.data.clone();
    let restarted = Server::spawn(
        &data,
        &["--config", config.to_str().unwrap()],
        &[("ROLLCALL_BOOTSTRAP_TOKEN", TOKEN)],
    );
    let d = Directory {
        server: restarted,
        http: Client::new(),
    };
    assert_eq!(d.bind("erin", "Erin-Pass-1234").await, 49);

    // The admin unlocks over SCIM (`locked: false`), and the user is back.
    let user = d
        .replace_attribute(&id, format!("{ROLLCALL}:locked"), json!(false))
        .await;
    assert_eq!(user[ROLLCALL]["locked"], false);
    assert_eq!(d.bind("erin", "Erin-Pass-1234").await, 0);
    // Failures were forgotten: two more wrong ones do not lock again.
    for _ in 0..2 {
        assert_eq!(d.bind("erin", "Wrong-Pass-999").await, 49);
    }
    // An unlock of someone not locked forgets those failures, and says so in the trail.
    let admin = d.admin_token().await;
    let (status, _) = d
        .call(
            Method::POST,
            &format!("/admin/users/{id}/unlock"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let unlocked = d
        .audit(&admin, &format!("kind=user_unlocked&target={id}"))
        .await;
    assert_eq!(
        unlocked.last().unwrap()["detail"],
        "2 failed sign-ins forgotten",
        "{unlocked:?}"
    );
    assert_eq!(d.bind("erin", "Erin-Pass-1234").await, 0);

    // Locked again, then unlocked as LDAP tools do it: deleting `pwdAccountLockedTime`, which
    // only someone with Edit on the user may.
    for _ in 0..3 {
        assert_eq!(d.bind("erin", "Wrong-Pass-999").await, 49);
    }
    assert_eq!(d.bind("erin", "Erin-Pass-1234").await, 49);
    const ERIN: &str = "uid=erin,ou=people,dc=example,dc=com";
    let unlock = ldap3::Mod::Delete("pwdAccountLockedTime", std::collections::HashSet::new());
    d.user("gus", Some("Gus-Pass-123456"), &[]).await;
    let (conn, mut gus) = LdapConnAsync::new(&format!("ldap://{}", d.server.ldap))
        .await
        .unwrap();
    ldap3::drive!(conn);
    gus.simple_bind("uid=gus,ou=people,dc=example,dc=com", "Gus-Pass-123456")
        .await
        .unwrap()
        .success()
        .unwrap();
    let refused = gus.modify(ERIN, vec![unlock.clone()]).await.unwrap();
    assert_ne!(refused.rc, 0, "{refused:?}");
    assert_eq!(d.bind("erin", "Erin-Pass-1234").await, 49, "still locked");
    let mut admin = common::admin_connection(d.server.ldap).await;
    admin
        .modify(ERIN, vec![unlock])
        .await
        .unwrap()
        .success()
        .unwrap();
    assert_eq!(d.bind("erin", "Erin-Pass-1234").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn totp_enrolment_mfa_binds_and_replays() {
    let d = Directory::start("");
    let admin = d.admin_token().await;
    let id = d.user("fay", Some("Fay-Pass-12345"), &[]).await;
    let fay = d.token("fay", "Fay-Pass-12345", None).await;
    let (status, enrolment) = d
        .call(Method::POST, "/auth/totp/enroll", Some(&fay), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{enrolment}");
    let secret = enrolment["secret"].as_str().unwrap().to_string();
    let uri = enrolment["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Rollcall:fay?") && uri.contains(&secret),
        "{uri}"
    );
    let app = TotpEnrolment {
        secret,
        confirmed: true,
    };
    // Not on until confirmed: a wrong code is refused, the right one turns it on.
    let (status, _) = d
        .call(
            Method::POST,
            "/auth/totp/confirm",
            Some(&fay),
            Some(json!({"code": "000000"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(d.bind("fay", "Fay-Pass-12345").await, 0, "not yet required");
    let t = now();
    let (status, body) = d
        .call(
            Method::POST,
            "/auth/totp/confirm",
            Some(&fay),
            Some(json!({"code": app.current_code(t - 30).unwrap()})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    // LDAP: the password alone no longer binds; password followed by the code does, once.
    assert_eq!(d.bind("fay", "Fay-Pass-12345").await, 49);
    let code = app.current_code(t).unwrap();
    assert_eq!(d.bind("fay", &format!("Fay-Pass-12345{code}")).await, 0);
    assert_eq!(
        d.bind("fay", &format!("Fay-Pass-12345{code}")).await,
        49,
        "replay"
    );
    // REST: the code in its own field; the next step is accepted (one step of skew), once.
    let (status, _) = d.login("fay", "Fay-Pass-12345", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let next = app.current_code(t + 30).unwrap();
    d.token("fay", "Fay-Pass-12345", Some(&next)).await;
    let (status, _) = d.login("fay", "Fay-Pass-12345", Some(&next)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "replay");
    let reasons: Vec<String> = d
        .audit(&admin, &format!("kind=login_failed&target={id}"))
        .await
        .iter()
        .map(|e| e["detail"].as_str().unwrap().to_string())
        .collect();
    assert!(
        reasons.contains(&"TOTP code already used".to_string()),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"TOTP code missing".to_string()),
        "{reasons:?}"
    );

    // Her own session takes the authenticator off only with her current password: a session
    // token alone is not enough. Then the password alone binds again.
    let remove = |body: Option<Value>| d.call(Method::DELETE, "/auth/totp", Some(&fay), body);
    let (status, body) = remove(None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("password"), "{body}");
    let (status, body) = remove(Some(json!({"password": "Not-Her-Pass-1"}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(d.bind("fay", "Fay-Pass-12345").await, 49, "still required");
    let (status, body) = remove(Some(json!({"password": "Fay-Pass-12345"}))).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(d.bind("fay", "Fay-Pass-12345").await, 0);

    // Roles that require MFA: no bind without an authenticator; a REST login gets a session
    // that can enrol one and do nothing else.
    let mfa = d
        .role("Needs MFA", json!({"mfaRequired": true, "apiAccess": true}))
        .await;
    d.user("gus", Some("Gus-Pass-12345"), &[&mfa]).await;
    assert_eq!(d.bind("gus", "Gus-Pass-12345").await, 49);
    let gus = d.token("gus", "Gus-Pass-12345", None).await;
    assert_eq!(claims_of(&gus)["enrol_only"], true);
    let (status, body) = d.call(Method::GET, "/scim/v2/Me", Some(&gus), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = d
        .call(Method::GET, "/auth/sessions", Some(&gus), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, enrolment) = d
        .call(Method::POST, "/auth/totp/enroll", Some(&gus), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let app = TotpEnrolment {
        secret: enrolment["secret"].as_str().unwrap().to_string(),
        confirmed: true,
    };
    let t = now();
    let (status, _) = d
        .call(
            Method::POST,
            "/auth/totp/confirm",
            Some(&gus),
            Some(json!({"code": app.current_code(t - 30).unwrap()})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let gus = d
        .token("gus", "Gus-Pass-12345", Some(&app.current_code(t).unwrap()))
        .await;
    assert!(claims_of(&gus).get("enrol_only").is_none());
    let (status, _) = d.call(Method::GET, "/scim/v2/Me", Some(&gus), None).await;
    assert_eq!(status, StatusCode::OK);

    // The device is lost: the operator removes the authenticator on the running server.
    let out = common::run(&d.server.data, &["user", "remove-mfa", "gus"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "removed the authenticator of gus\n"
    );
    let gus = d.token("gus", "Gus-Pass-12345", None).await;
    assert_eq!(
        claims_of(&gus)["enrol_only"],
        true,
        "signs in without a code, to enrol a new device only"
    );
}

/// Seed 003 "Multi-Factor Authentication: SMS, TOTP, or email codes", with `[mfa]
/// email_codes`: a person whose roles require MFA and who has no authenticator signs in over
/// REST with a code mailed to it, once per code, with the pause between codes and the lockout
/// bounding what a stolen password can do.
#[tokio::test(flavor = "multi_thread")]
async fn people_without_an_authenticator_sign_in_with_a_mailed_code_where_mfa_is_required() {
    let d = Directory::start("[mfa]\nemail_codes = true\n\n[lockout]\nthreshold = 10\n");
    let admin = d.admin_token().await;
    let mfa = d
        .role("Needs MFA", json!({"mfaRequired": true, "apiAccess": true}))
        .await;
    let ivy = d.user("ivy", Some("Ivy-Pass-12345"), &[&mfa]).await;
    let codes = || mailed_codes(&d, &admin, &ivy, "ivy");

    // The right password and no code: a code is mailed, and only then is a code mentioned.
    let (status, body) = d.login("ivy", "Wrong-Pass-999", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_credentials", "{body}");
    assert!(codes().await.is_empty(), "a wrong password mails nothing");
    let (status, headers, body) = sign_in_for_code(&d, "ivy", "Ivy-Pass-12345", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "mfa_code_sent", "{body}");
    assert!(
        headers.get("retry-after").is_none() && body.get("retry_after").is_none(),
        "a code was mailed: nothing to wait for: {body}"
    );
    let sent = codes().await;
    assert_eq!(sent.len(), 1);
    let code = sent[0].clone();
    // Asked again within the minute: that code is on its way; no second one, and the answer
    // says so apart from a code sent, with when a new one can be asked for.
    let detail = held_back(&d, "ivy", "Ivy-Pass-12345", None).await;
    assert!(detail.contains("on its way"), "{detail}");
    assert_eq!(codes().await.len(), 1);

    // A wrong code fails like a wrong password; the right one opens a whole session, once.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, body) = d.login("ivy", "Ivy-Pass-12345", Some(wrong)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_credentials", "{body}");
    let session = d.token("ivy", "Ivy-Pass-12345", Some(&code)).await;
    assert!(claims_of(&session).get("enrol_only").is_none());
    let (status, me) = d
        .call(Method::GET, "/scim/v2/Me", Some(&session), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    // Used, the code is spent; but the minute since it was sent still holds the next one
    // back, however the sign-in is asked for again: the answer says so, and when to come.
    for again in [Some(code.as_str()), None] {
        let detail = held_back(&d, "ivy", "Ivy-Pass-12345", again).await;
        assert!(
            detail.contains("has been used up") && detail.contains("sign in again in "),
            "{detail}"
        );
    }
    assert_eq!(codes().await.len(), 1, "no second code within the minute");
    let out = common::run(&d.server.data, &["outbox", "--kind", "sign_in_code"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);

    // Three wrong tries spend a code: the right one no longer works, and no new one comes
    // within the minute either, so guessing cannot have more mailed.
    let kim = d.user("kim", Some("Kim-Pass-12345"), &[&mfa]).await;
    let (_, body) = d.login("kim", "Kim-Pass-12345", None).await;
    assert_eq!(body["error"], "mfa_code_sent", "{body}");
    let sent = mailed_codes(&d, &admin, &kim, "kim").await;
    assert_eq!(sent.len(), 1);
    let (fresh, wrong) = (
        sent[0].clone(),
        if sent[0] == "000000" {
            "111111"
        } else {
            "000000"
        },
    );
    for _ in 0..3 {
        let (_, body) = d.login("kim", "Kim-Pass-12345", Some(wrong)).await;
        assert_eq!(body["error"], "invalid_credentials", "{body}");
    }
    let detail = held_back(&d, "kim", "Kim-Pass-12345", Some(&fresh)).await;
    assert!(detail.contains("has been used up"), "{detail}");
    assert_eq!(mailed_codes(&d, &admin, &kim, "kim").await.len(), 1);

    let trail = |kind: &'static str, who: &str| {
        let (d, admin) = (&d, &admin);
        let query = format!("kind={kind}&target={who}");
        async move { d.audit(admin, &query).await }
    };
    assert_eq!(trail("sign_in_code_sent", &ivy).await.len(), 1);
    assert_eq!(trail("sign_in_code_sent", &kim).await.len(), 1);
    for (who, wrong) in [(&ivy, 1), (&kim, 3)] {
        let wrong_codes = trail("login_failed", who)
            .await
            .iter()
            .filter(|e| e["detail"] == "wrong sign-in code")
            .count();
        assert_eq!(wrong_codes, wrong);
    }
    for event in trail("sign_in_code_sent", &ivy).await {
        assert!(!event.to_string().contains(&code), "no code in the trail");
    }

    // A bind has no second round to bring a code in: still refused.
    assert_eq!(d.bind("ivy", "Ivy-Pass-12345").await, 49);

    // Someone without an address still gets a session that may only enrol an authenticator.
    let (status, jay) = d
        .call(
            Method::POST,
            "/scim/v2/Users",
            Some(TOKEN),
            Some(
                json!({"userName": "jay", "active": true, "password": "Jay-Pass-12345",
                        "groups": []}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{jay}");
    let (status, body) = d
        .call(
            Method::PATCH,
            &format!("/scim/v2/Groups/{mfa}"),
            Some(&admin),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": jay["id"]}]}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let jay = d.token("jay", "Jay-Pass-12345", None).await;
    assert_eq!(claims_of(&jay)["enrol_only"], true);
}

/// A bind DN names its branch: a person's password given with a DN under `ou=services` (or
/// anywhere but the people and services branches) is a bind as an entry that does not exist.
/// It is refused and audited as a failure for an unknown name, never as a sign-in.
#[tokio::test(flavor = "multi_thread")]
async fn a_bind_under_the_wrong_branch_is_no_sign_in() {
    let d = Directory::start("");
    let admin = d.admin_token().await;
    let lee = d.user("lee", Some("Lee-Pass-123456"), &[]).await;
    let url = format!("ldap://{}", d.server.ldap);
    for dn in [
        "uid=lee,ou=services,dc=example,dc=com",
        "uid=lee,ou=groups,dc=example,dc=com",
        "cn=lee,dc=example,dc=com",
    ] {
        let (conn, mut ldap) = LdapConnAsync::new(&url).await.unwrap();
        ldap3::drive!(conn);
        let rc = ldap.simple_bind(dn, "Lee-Pass-123456").await.unwrap().rc;
        assert_eq!(rc, 49, "{dn}");
        let _ = ldap.unbind().await;
    }
    let target = format!("kind=login_succeeded&target={lee}");
    assert!(d.audit(&admin, &target).await.is_empty(), "no sign-in");
    let failed = d.audit(&admin, "kind=login_failed").await;
    let unknown = failed
        .iter()
        .filter(|e| e["detail"] == "unknown user")
        .count();
    assert_eq!(unknown, 3, "{failed:?}");
    // A count of none, or past the most one query returns, is refused as `rollcall audit
    // --count` refuses it, not answered with nothing or cut short without a word.
    for listing in ["audit", "outbox"] {
        for count in [0, 10_001] {
            let path = format!("/admin/{listing}?count={count}");
            let (status, body) = d.call(Method::GET, &path, Some(&admin), None).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
            assert_eq!(body["error"], "invalid_request", "{body}");
            assert_eq!(
                body["detail"],
                format!("invalid count: {count} is out of range 1–10000"),
                "{body}"
            );
        }
        let path = format!("/admin/{listing}?count=1");
        let (status, body) = d.call(Method::GET, &path, Some(&admin), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.as_array().unwrap().len() <= 1, "{body}");
    }
    let (_, user) = d
        .call(
            Method::GET,
            &format!("/scim/v2/Users/{lee}"),
            Some(&admin),
            None,
        )
        .await;
    assert!(user[ROLLCALL].get("lastLogin").is_none(), "{user}");
    assert_eq!(
        d.bind("lee", "Lee-Pass-123456").await,
        0,
        "its own DN binds"
    );
}

/// A bound LDAP connection holds only as long as its sign-in would: once the account is
/// signed out everywhere (incident response) or given a new password by someone else, the
/// connection may do nothing until it binds again. A password the connection's own user
/// changes on it keeps it.
#[tokio::test(flavor = "multi_thread")]
async fn an_ldap_connection_ends_with_its_sign_in() {
    let d = Directory::start("");
    let admin = d.admin_token().await;
    let reader = d.role("Readers", json!({"apiAccess": true})).await;
    let (status, body) = d
        .call(
            Method::PATCH,
            &format!("/scim/v2/Groups/{reader}"),
            Some(&admin),
            Some(json!({"schemas": [PATCH_OP], "Operations": [{
                "op": "replace",
                "path": "urn:rollcall:scim:schemas:extension:2.0:Role:permissions",
                "value": {"user": {"read": "all_employees"}}
            }]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let max = d.user("max", Some("Max-Pass-123456"), &[&reader]).await;
    let url = format!("ldap://{}", d.server.ldap);
    const MAX: &str = "uid=max,ou=people,dc=example,dc=com";
    let (conn, mut ldap) = LdapConnAsync::new(&url).await.unwrap();
    ldap3::drive!(conn);
    assert_eq!(
        ldap.simple_bind(MAX, "Max-Pass-123456").await.unwrap().rc,
        0
    );
    let search = |ldap: &mut ldap3::Ldap| {
        let mut ldap = ldap.clone();
        async move {
            ldap.search(PEOPLE, ldap3::Scope::OneLevel, "(uid=admin)", vec!["uid"])
                .await
                .unwrap()
                .1
        }
    };
    assert_eq!(search(&mut ldap).await.rc, 0);

    // Its own new password keeps the connection.
    let changed = ldap
        .extended(ldap3::exop::PasswordModify {
            user_id: None,
            old_pass: Some("Max-Pass-123456"),
            new_pass: Some("Max-Newer-Pass-789"),
        })
        .await
        .unwrap()
        .1;
    assert_eq!(changed.rc, 0, "{changed:?}");
    assert_eq!(search(&mut ldap).await.rc, 0, "its own change keeps it");

    // Signed out everywhere: the connection may do nothing until it binds again.
    let (status, body) = d
        .call(
            Method::POST,
            &format!("/admin/users/{max}/sign-out"),
            Some(&admin),
            None,
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    let ended = search(&mut ldap).await;
    assert_eq!(ended.rc, 50, "{ended:?}");
    assert!(ended.text.contains("bind again"), "{ended:?}");
    assert_eq!(
        ldap.simple_bind(MAX, "Max-Newer-Pass-789")
            .await
            .unwrap()
            .rc,
        0
    );
    assert_eq!(search(&mut ldap).await.rc, 0);

    // Reset by an administrator: the same.
    let (status, body) = d
        .call(
            Method::PATCH,
            &format!("/scim/v2/Users/{max}"),
            Some(&admin),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "path": "password", "value": "Max-Reset-Pass-000"}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(search(&mut ldap).await.rc, 50);
    let _ = ldap.unbind().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn recovery_and_activation_links() {
    let d = Directory::start("");
    let admin = d.admin_token().await;
    let hal = d.user("hal", Some("Hal-Pass-12345"), &[]).await;
    // Known and unknown: the same answer.
    let (s1, known) = d.forgot(json!({"username": "hal"})).await;
    let (s2, unknown) = d.forgot(json!({"email": "nobody@example.com"})).await;
    assert_eq!((s1, s2), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    assert_eq!(known, unknown);
    // The link arrives in the outbox (the request is handled after the answer).
    let deadline = Instant::now() + Duration::from_secs(10);
    let message = loop {
        let found = d
            .outbox(&admin)
            .await
            .into_iter()
            .find(|m| m["kind"] == "password_reset");
        if let Some(m) = found {
            break m;
        }
        assert!(Instant::now() < deadline, "no reset message");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(message["to"], "hal@example.com");
    assert_eq!(
        d.outbox(&admin)
            .await
            .iter()
            .filter(|m| m["kind"] == "password_reset")
            .count(),
        1,
        "nothing for the unknown address"
    );
    let token = link_token(message["body"].as_str().unwrap(), "/auth/password/reset");
    let redeem = |path: &'static str, token: String, password: &'static str| {
        let d = &d;
        async move {
            d.call(
                Method::POST,
                path,
                None,
                Some(json!({"token": token, "password": password})),
            )
            .await
        }
    };
    let (status, body) = redeem("/auth/password/reset", token.clone(), "weak").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "password_policy");
    let (status, body) = redeem("/auth/activate", token.clone(), "Hal-New-Pass-1").await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a reset link is not an activation link: {body}"
    );
    let (status, _) = redeem("/auth/password/reset", token.clone(), "Hal-New-Pass-1").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = redeem("/auth/password/reset", token, "Hal-New-Pass-2").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a link works once");
    assert_eq!(d.bind("hal", "Hal-New-Pass-1").await, 0);
    assert_eq!(d.bind("hal", "Hal-Pass-12345").await, 49);

    // One link a minute at the person's own request: a flood of requests is not a flood of
    // live links in the mailbox.
    let resets = || {
        let (d, admin) = (&d, admin.clone());
        async move {
            d.outbox(&admin)
                .await
                .into_iter()
                .filter(|m| m["kind"] == "password_reset")
                .filter_map(|m| m["body"].as_str().map(str::to_string))
                .collect::<Vec<_>>()
        }
    };
    for _ in 0..3 {
        let (status, _) = d.forgot(json!({"username": "hal"})).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(resets().await.len(), 1, "still the first link only");
    // A password set voids the links issued before it: the sibling of a redeemed link, and
    // a link older than a change of one's own.
    let mut links = Vec::new();
    for _ in 0..3 {
        let (status, body) = d
            .call(
                Method::POST,
                &format!("/admin/users/{hal}/password-link"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let newest = resets().await.pop().unwrap();
        links.push(link_token(&newest, "/auth/password/reset"));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (status, _) = redeem("/auth/password/reset", links[1].clone(), "Hal-Newer-Pass-2").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = redeem("/auth/password/reset", links[0].clone(), "Hal-Undo-Pass-3").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "issued before the reset");
    let hal_session = d.token("hal", "Hal-Newer-Pass-2", None).await;
    let (status, body) = d
        .call(
            Method::POST,
            "/auth/password",
            Some(&hal_session),
            Some(json!({"old_password": "Hal-Newer-Pass-2", "new_password": "Hal-Own-Pass-4"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _) = redeem("/auth/password/reset", links[2].clone(), "Hal-Undo-Pass-5").await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "issued before her own change"
    );
    assert_eq!(d.bind("hal", "Hal-Own-Pass-4").await, 0);
    // Every new password is a `password_changed` event, whoever set it and how.
    let changes: Vec<String> = d
        .audit(&admin, &format!("kind=password_changed&target={hal}"))
        .await
        .iter()
        .map(|e| e["detail"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        changes,
        [
            "password reset by link",
            "password reset by link",
            "changed by the user"
        ],
        "{changes:?}"
    );

    // Activation: a user created active without a password sets the first one by the link.
    let id = d.user("ivy", None, &[]).await;
    let token = d.activation_token(&admin, &id).await;
    let (status, _) = redeem("/auth/activate", token, "Ivy-First-Pass-1").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(d.bind("ivy", "Ivy-First-Pass-1").await, 0);

    // Recovery can be disabled.
    let off = Directory::start("[recovery]\nenabled = false\n");
    let (status, _) = off.forgot(json!({"username": "admin"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Act-as (DESIGN §2): the administrator's password again, refused for administrators,
/// audited under both identities, and the user is told (seed 003 "security events").
#[tokio::test(flavor = "multi_thread")]
async fn act_as_needs_the_admin_password_and_audits_both() {
    let d = Directory::start("");
    let admin = d.admin_token().await;
    let admin_id = claims_of(&admin)["sub"].as_str().unwrap().to_string();
    let jo = d.user("jo", Some("Jo-Pass-123456"), &[]).await;
    let act = |user: &'static str, password: &'static str| {
        let d = &d;
        let admin = admin.clone();
        async move {
            d.call(
                Method::POST,
                "/auth/act-as",
                Some(&admin),
                Some(json!({"user": user, "password": password})),
            )
            .await
        }
    };
    let (status, _) = act("jo", "Wrong-Pass-123").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = act("admin", ADMIN_PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "never as an administrator: {body}"
    );
    let (status, body) = act("jo", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap().to_string();
    let claims = claims_of(&token);
    assert_eq!(claims["sub"], jo.as_str());
    assert_eq!(claims["act"]["sub"], admin_id.as_str());
    // Jo hears of it, naming the administrator; the refused attempts told her nothing.
    let told: Vec<String> = d
        .outbox(&admin)
        .await
        .into_iter()
        .filter(|m| m["kind"] == "security_notice" && m["to"] == "jo@example.com")
        .map(|m| m["body"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0].contains("The administrator admin signed in as you on ")
            && told[0].contains(", on the web, "),
        "{}",
        told[0]
    );
    // What the session does is audited under both identities.
    let (status, _) = d
        .call(
            Method::POST,
            "/auth/password",
            Some(&token),
            Some(json!({"old_password": "Jo-Pass-123456", "new_password": "Jo-Pass-654321"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "acting admins do not change passwords"
    );
    // Nor plant an authenticator only they hold the codes of.
    let (status, body) = d
        .call(Method::POST, "/auth/totp/enroll", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = d
        .call(Method::DELETE, "/auth/sessions", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let events = d
        .audit(&admin, &format!("actor={admin_id}&target={jo}"))
        .await;
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"act_as"), "{kinds:?}");
    let revoked = events
        .iter()
        .find(|e| e["kind"] == "session_revoked")
        .expect("the act-as session's own action");
    assert_eq!(revoked["actor"], jo.as_str());
    assert_eq!(revoked["acting_admin"], admin_id.as_str());
    // An actor's name that names no one is said to, over REST as on the command line.
    let (status, body) = d
        .call(Method::GET, "/admin/audit?actor=nosuch", Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("no user has that name"), "{body}");
    // JSON lines export of the same query.
    let res = d
        .http
        .get(
            d.server
                .url(&format!("/admin/audit?target={jo}&format=jsonl")),
        )
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    let text = res.text().await.unwrap();
    assert!(
        text.lines().count() >= 3
            && text
                .lines()
                .all(|l| serde_json::from_str::<Value>(l).is_ok())
    );
    assert!(
        !text.contains("Jo-Pass") && !text.contains(ADMIN_PASSWORD),
        "no secrets in the audit"
    );
    // Non-administrators cannot act as anyone, nor read the audit.
    let api = d.role("API users", json!({"apiAccess": true})).await;
    d.user("kim", Some("Kim-Pass-123456"), &[&api]).await;
    let kim = d.token("kim", "Kim-Pass-123456", None).await;
    let (status, _) = d
        .call(
            Method::POST,
            "/auth/act-as",
            Some(&kim),
            Some(json!({"user": "jo", "password": "Kim-Pass-123456"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = d.call(Method::GET, "/admin/audit", Some(&kim), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Without API access in any role, a session is for the user's own account only.
    let kim_id = claims_of(&kim)["sub"].as_str().unwrap().to_string();
    let (status, _) = d
        .call(
            Method::PATCH,
            &format!("/scim/v2/Groups/{api}"),
            Some(TOKEN),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "remove", "path": format!("members[value eq \"{kim_id}\"]")}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, group) = d
        .call(
            Method::GET,
            &format!("/scim/v2/Groups/{api}"),
            Some(TOKEN),
            None,
        )
        .await;
    assert!(
        group.get("members").is_none_or(|m| m == &json!([])),
        "the last member left: {group}"
    );
    let (status, body) = d.call(Method::GET, "/scim/v2/Me", Some(&kim), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = d
        .call(Method::GET, "/auth/sessions", Some(&kim), None)
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// Lifetimes past what the calendar holds are refused with the field named, never panicked on:
/// a token's `expires_days` (REST and the command line) and a role's `sessionTimeoutMinutes`;
/// and parameters that do not parse get the REST error shape.
#[tokio::test(flavor = "multi_thread")]
async fn lifetimes_past_the_calendar_and_unparsable_parameters_are_refused() {
    let d = Directory::start("");
    let admin = d.admin_token().await;
    let (status, body) = d
        .call(
            Method::POST,
            "/admin/tokens",
            Some(&admin),
            Some(json!({"name": "forever", "expires_days": u32::MAX})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("expires_days"),
        "{body}"
    );
    let out = common::run(
        &d.server.data,
        &[
            "token",
            "create",
            "--name",
            "forever",
            "--expires-days",
            "4294967295",
        ],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("between 1 and 3650"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, body) = d
        .call(
            Method::POST,
            "/scim/v2/Groups",
            Some(&admin),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", ROLE],
                "displayName": "Endless",
                ROLE: {"roleType": "employee", "settings": {"sessionTimeoutMinutes": u32::MAX}},
            })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["scimType"], "invalidValue", "{body}");
    // Nothing was made, and the server goes on.
    let (status, tokens) = d
        .call(Method::GET, "/admin/tokens", Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!tokens.to_string().contains("forever"), "{tokens}");
    d.token("admin", ADMIN_PASSWORD, None).await;

    // Query strings and path segments that do not parse are refused in the REST errors' shape.
    for (method, path) in [
        (Method::GET, "/admin/sessions?user=a&user=b"),
        (Method::POST, "/admin/users/%FF/unlock"),
        (Method::GET, "/admin/audit?count=many"),
    ] {
        let (status, body) = d.call(method.clone(), path, Some(&admin), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {body}");
        assert_eq!(body["error"], "invalid_request", "{method} {path}: {body}");
        assert!(
            !body["detail"].as_str().unwrap_or_default().is_empty(),
            "{method} {path}: {body}"
        );
        // Without credentials, the refusal is for those, whatever the parameters.
        let (status, body) = d.call(method.clone(), path, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
        assert_eq!(
            body["error"], "invalid_credentials",
            "{method} {path}: {body}"
        );
    }
}

/// A request as a client that sends whatever it likes: `content_type` and `body` as given.
async fn raw_request(
    d: &Directory,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    content_type: Option<&str>,
    body: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = d.http.request(method, d.server.url(path));
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    if let Some(kind) = content_type {
        req = req.header("content-type", kind);
    }
    let res = req.body(body.to_string()).send().await.expect("request");
    let (status, headers) = (res.status(), res.headers().clone());
    let text = res.text().await.unwrap_or_default();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, value)
}

/// Asserts a REST refusal: `status`, a JSON body `{"error": error, "detail": …}` with a detail.
fn assert_refused(
    what: &str,
    (status, headers, body): &(StatusCode, reqwest::header::HeaderMap, Value),
    expected: StatusCode,
    error: &str,
) {
    assert_eq!(*status, expected, "{what}: {body}");
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "{what}: {body}"
    );
    assert_eq!(body["error"], error, "{what}: {body}");
    assert!(
        !body["detail"].as_str().unwrap_or_default().is_empty(),
        "{what}: {body}"
    );
    if expected == StatusCode::UNAUTHORIZED {
        assert!(headers.contains_key("www-authenticate"), "{what}");
    }
}

/// Credentials are asked for before anything else in a request to an endpoint that needs them,
/// and every refusal under /auth and /admin, of parameters, bodies, content types, paths and
/// methods, is a JSON `{"error", "detail"}` with the status a client acts on.
#[tokio::test(flavor = "multi_thread")]
async fn rest_refusals_ask_for_credentials_first_and_are_json() {
    let d = Directory::start("");
    let admin = d.admin_token().await;
    d.user("nell", Some("Nell-Pass-1234"), &[]).await;
    let nell = d.token("nell", "Nell-Pass-1234", None).await;
    // A token that was good once: its session has ended.
    let ended = d.admin_token().await;
    let (status, _) = d
        .call(Method::POST, "/auth/logout", Some(&ended), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let json = Some("application/json");

    // Malformed parameters and bodies, each refused as such when the caller is known...
    let malformed: [(Method, &str, Option<&str>, &str); 8] = [
        (Method::GET, "/admin/audit?since=garbage", None, ""),
        (Method::GET, "/admin/sessions?bogus=1", None, ""),
        (Method::POST, "/admin/users/not-an-id/unlock", None, ""),
        (Method::POST, "/admin/tokens", json, "{}"),
        (Method::POST, "/admin/announcements", json, "{\"subject\":"),
        (
            Method::POST,
            "/auth/password",
            json,
            "{\"old_password\": 1}",
        ),
        (Method::DELETE, "/auth/sessions/not-a-session", None, ""),
        (Method::POST, "/auth/act-as", json, "[]"),
    ];
    for (method, path, kind, body) in &malformed {
        let what = format!("{method} {path} {body}");
        let answer = raw_request(&d, method.clone(), path, Some(&admin), *kind, body).await;
        assert_refused(&what, &answer, StatusCode::BAD_REQUEST, "invalid_request");
        // ...and without credentials, or with ones that are no good (an API token that
        // names none included, wherever it is sent), for the credentials alone: nobody learns
        // how a request would have been read before saying who it is.
        for bearer in [
            None,
            Some("not-a-token"),
            Some(ended.as_str()),
            Some("rc_unknown"),
        ] {
            let what = format!("{what} as {bearer:?}");
            let answer = raw_request(&d, method.clone(), path, bearer, *kind, body).await;
            assert_refused(
                &what,
                &answer,
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
            );
        }
    }
    // Credentials that do not reach the endpoint (a session without API access at /admin/)
    // are refused before the parameters too; what a caller may do with a well-formed request
    // is decided on it.
    let answer = raw_request(
        &d,
        Method::GET,
        "/admin/audit?since=garbage",
        Some(&nell),
        None,
        "",
    )
    .await;
    assert_refused("nell's audit", &answer, StatusCode::FORBIDDEN, "forbidden");
    // Someone else's authenticator is admin work, held to the API rules whatever the id says.
    let answer = raw_request(
        &d,
        Method::DELETE,
        "/auth/totp?user=zz",
        Some(&nell),
        None,
        "",
    )
    .await;
    assert_refused(
        "nell's removal",
        &answer,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // A real API token at the user's own account is known, and refused as one.
    let answer = raw_request(
        &d,
        Method::POST,
        "/auth/password",
        Some(TOKEN),
        json,
        "{\"old_password\": 1}",
    )
    .await;
    assert_refused(
        "the provisioning token's password",
        &answer,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    // A JSON endpoint sent something else.
    for (path, bearer) in [
        ("/admin/tokens", Some(admin.as_str())),
        ("/auth/token", None),
        ("/auth/totp/confirm", Some(&admin)),
    ] {
        for kind in [None, Some("text/plain")] {
            let body = "{\"name\": \"x\"}";
            let answer = raw_request(&d, Method::POST, path, bearer, kind, body).await;
            let what = format!("POST {path} as {kind:?}");
            assert_refused(
                &what,
                &answer,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            );
        }
    }
    let answer = raw_request(&d, Method::POST, "/admin/tokens", None, None, "x").await;
    assert_refused(
        "POST /admin/tokens as text, anonymously",
        &answer,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );

    // Paths no endpoint answers: under /admin only for those who may be told.
    for path in [
        "/admin/nothing",
        "/admin/",
        "/admin",
        "/admin/users/x/nothing",
    ] {
        let answer = raw_request(&d, Method::GET, path, Some(&admin), None, "").await;
        assert_refused(path, &answer, StatusCode::NOT_FOUND, "not_found");
        let answer = raw_request(&d, Method::GET, path, None, None, "").await;
        assert_refused(
            path,
            &answer,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        );
    }
    for path in ["/auth/nothing", "/auth/", "/auth"] {
        let answer = raw_request(&d, Method::GET, path, None, None, "").await;
        assert_refused(path, &answer, StatusCode::NOT_FOUND, "not_found");
    }

    // Methods a path does not take, with the ones it does.
    for (method, path, bearer, allowed) in [
        (
            Method::PUT,
            "/admin/tokens",
            Some(admin.as_str()),
            "GET,HEAD,POST",
        ),
        (Method::GET, "/admin/keys/rotate", Some(&admin), "POST"),
        (Method::GET, "/auth/logout", None, "POST"),
        (Method::PATCH, "/auth/token", None, "POST"),
    ] {
        let what = format!("{method} {path}");
        let answer = raw_request(&d, method.clone(), path, bearer, None, "").await;
        assert_refused(
            &what,
            &answer,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        );
        assert_eq!(
            answer.1.get("allow").and_then(|v| v.to_str().ok()),
            Some(allowed),
            "{what}"
        );
    }
    let answer = raw_request(&d, Method::PUT, "/admin/tokens", None, None, "").await;
    assert_refused(
        "PUT /admin/tokens anonymously",
        &answer,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );

    // The refusals changed nothing, and the callers' sessions go on.
    let (status, tokens) = d
        .call(Method::GET, "/admin/tokens", Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens.as_array().map(Vec::len), Some(1), "{tokens}");
    let (status, _) = d
        .call(Method::GET, "/auth/sessions", Some(&nell), None)
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// A bearer credential that names no one (missing, garbage, an unknown, revoked or expired API
/// token, an unknown or ended session token) is an authentication failure at every endpoint
/// that needs one: `401` with `WWW-Authenticate: Bearer`, in the REST error shape under /auth
/// and /admin and the SCIM error shape under /scim/v2. `403` is only for a caller who is known
/// and not allowed: the provisioning token at the user's own account endpoints.
#[tokio::test(flavor = "multi_thread")]
async fn credentials_that_name_no_one_are_401_at_every_endpoint() {
    let d = Directory::start("");
    let admin = d.admin_token().await;
    // An API token that worked once and was revoked; a session that ended.
    let (status, created) = d
        .call(
            Method::POST,
            "/admin/tokens",
            Some(&admin),
            Some(json!({"name": "gone"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let revoked = created["token"].as_str().unwrap().to_string();
    let (status, body) = d
        .call(Method::DELETE, "/admin/tokens/gone", Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let ended = d.admin_token().await;
    let (status, _) = d
        .call(Method::POST, "/auth/logout", Some(&ended), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Well-formed but never issued: an API token of the right length, a session token with
    // a claim set of the right shape signed by no key of this server.
    let unknown_api = format!("rc_{}", "A".repeat(43));
    let forged_session = {
        let payload = URL_SAFE_NO_PAD.encode(claims_of(&admin).to_string());
        let mut parts: Vec<&str> = admin.split('.').collect();
        parts[1] = &payload;
        parts[2] = "c2lnbmVkIGJ5IG5vIGtleQ";
        parts.join(".")
    };
    let nobodies: [Option<&str>; 7] = [
        None,
        Some("garbage"),
        Some("rc_unknown"),
        Some(&unknown_api),
        Some(&revoked),
        Some(&ended),
        Some(&forged_session),
    ];

    let json = Some("application/json");
    let any = uuid::Uuid::now_v7().to_string();
    let rest: Vec<(Method, String)> = [
        (Method::POST, "/auth/logout"),
        (Method::GET, "/auth/sessions"),
        (Method::DELETE, "/auth/sessions"),
        (Method::DELETE, "/auth/sessions/{any}"),
        (Method::POST, "/auth/password"),
        (Method::POST, "/auth/totp/enroll"),
        (Method::POST, "/auth/totp/confirm"),
        (Method::DELETE, "/auth/totp"),
        (Method::DELETE, "/auth/totp?user={any}"),
        (Method::POST, "/auth/act-as"),
        (Method::GET, "/admin/licenses"),
        (Method::GET, "/admin/audit"),
        (Method::GET, "/admin/outbox"),
        (Method::POST, "/admin/outbox/cancel"),
        (Method::GET, "/admin/sessions"),
        (Method::DELETE, "/admin/sessions/{any}/{any}"),
        (Method::POST, "/admin/users/{any}/sign-out"),
        (Method::POST, "/admin/users/{any}/unlock"),
        (Method::POST, "/admin/users/{any}/password-link"),
        (Method::GET, "/admin/tokens"),
        (Method::POST, "/admin/tokens"),
        (Method::DELETE, "/admin/tokens/{any}"),
        (Method::POST, "/admin/keys/rotate"),
        (Method::GET, "/admin/backup"),
        (Method::GET, "/admin/reports/access"),
        (Method::POST, "/admin/roles/{any}/sign-out"),
        (Method::POST, "/admin/roles/{any}/reset-passwords"),
        (Method::POST, "/admin/announcements"),
        (Method::GET, "/admin/nothing"),
    ]
    .into_iter()
    .map(|(method, path)| (method, path.replace("{any}", &any)))
    .collect();
    for (method, path) in &rest {
        for bearer in nobodies {
            let what = format!("{method} {path} as {bearer:?}");
            let answer = raw_request(&d, method.clone(), path, bearer, json, "{}").await;
            assert_refused(
                &what,
                &answer,
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
            );
            let challenge = answer.1.get("www-authenticate").unwrap().to_str().unwrap();
            assert!(challenge.starts_with("Bearer "), "{what}: {challenge}");
        }
    }

    let scim = [
        (Method::GET, "/scim/v2/Users".to_string()),
        (Method::POST, "/scim/v2/Users".to_string()),
        (Method::GET, format!("/scim/v2/Users/{any}")),
        (Method::PATCH, format!("/scim/v2/Users/{any}")),
        (Method::DELETE, format!("/scim/v2/Groups/{any}")),
        (Method::GET, "/scim/v2/Me".to_string()),
        (Method::DELETE, "/scim/v2/Me".to_string()),
        (Method::POST, "/scim/v2/Bulk".to_string()),
        (Method::POST, "/scim/v2/.search".to_string()),
        (Method::GET, "/scim/v2/ServiceProviderConfig".to_string()),
        (Method::GET, "/scim/v2/Schemas".to_string()),
    ];
    for (method, path) in &scim {
        for bearer in nobodies {
            let what = format!("{method} {path} as {bearer:?}");
            let (status, headers, body) =
                raw_request(&d, method.clone(), path, bearer, Some(SCIM), "{}").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
            assert_eq!(
                headers.get("content-type").and_then(|v| v.to_str().ok()),
                Some(SCIM),
                "{what}"
            );
            let challenge = headers.get("www-authenticate").unwrap().to_str().unwrap();
            assert!(challenge.starts_with("Bearer "), "{what}: {challenge}");
            assert_eq!(
                body["schemas"],
                json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
                "{what}: {body}"
            );
            assert_eq!(body["status"], "401", "{what}: {body}");
        }
    }

    // The provisioning token is known: at the user's own account it is refused as an API
    // token (403), not as no credential at all. (Someone else's authenticator, `?user=`, is
    // API work: there the service judges the request.)
    for (method, path) in &rest[..8] {
        let what = format!("{method} {path} with the provisioning token");
        let answer = raw_request(&d, method.clone(), path, Some(TOKEN), json, "{}").await;
        assert_refused(&what, &answer, StatusCode::FORBIDDEN, "forbidden");
    }
    // And the refusals ended nothing that was good.
    let (status, _) = d
        .call(Method::GET, "/scim/v2/Users", Some(TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = d
        .call(Method::GET, "/auth/sessions", Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn api_tokens_are_created_listed_and_revoked_by_admins() {
    let mut d = Directory::start("");
    let admin = d.admin_token().await;
    let (status, created) = d
        .call(
            Method::POST,
            "/admin/tokens",
            Some(&admin),
            Some(json!({"name": "okta", "expires_days": 30})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    for name in ["x".repeat(129), "okta\u{200B}".to_string(), " ".to_string()] {
        let (status, body) = d
            .call(
                Method::POST,
                "/admin/tokens",
                Some(&admin),
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name:?}: {body}");
    }
    let okta = created["token"].as_str().unwrap().to_string();
    assert!(okta.starts_with("rc_"));
    let (status, _) = d
        .call(Method::GET, "/scim/v2/Users", Some(&okta), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, list) = d
        .call(Method::GET, "/admin/tokens", Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !list.to_string().contains(&okta),
        "secrets are never listed"
    );
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "okta")
        .unwrap()
        .clone();
    assert!(entry["expires"].is_string());
    let (status, _) = d
        .call(
            Method::DELETE,
            &format!("/admin/tokens/{}", entry["id"].as_str().unwrap()),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = d
        .call(Method::GET, "/scim/v2/Users", Some(&okta), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Provisioning tokens do not administer tokens.
    let (status, _) = d
        .call(
            Method::POST,
            "/admin/tokens",
            Some(TOKEN),
            Some(json!({"name": "sneaky"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The CLI on the stopped server's data directory lists and revokes too.
    d.server.terminate();
    let listed = common::run(&d.server.data, &["token", "list"]);
    assert!(listed.status.success());
    let lines = String::from_utf8(listed.stdout).unwrap();
    assert!(
        lines.contains("\"bootstrap\"") && lines.contains("\"okta\""),
        "{lines}"
    );
    assert!(!lines.contains(TOKEN));
    let revoked = common::run(&d.server.data, &["token", "revoke", "bootstrap"]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let restarted = Server::spawn(&d.server.data.clone(), &[], &[]);
    let res = d
        .http
        .get(restarted.url("/scim/v2/Users"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

const ARGON2_I: &str = "{ARGON2}$argon2i$v=19$m=4096,t=3,p=1$GPLpCdT6HKrTgES6wXcYpQ$Taxfyvq9E5TUH8g4v8h/cnlVFP7KZEzvVEDuqKc6eyQ";

#[tokio::test(flavor = "multi_thread")]
async fn imported_hashes_bind_and_are_upgraded() {
    let d = Directory::start("");
    let admin = d.admin_token().await;
    let Some(mut ldapadd) = common::openldap_tool("ldapadd") else {
        return;
    };
    // {SSHA} as OpenLDAP makes it: base64(sha1(password + salt) + salt).
    let salt = b"s4lt";
    let mut digest = sha1::Sha1::digest([b"Imported-Pass-1".as_slice(), salt].concat()).to_vec();
    digest.extend_from_slice(salt);
    let ssha = format!("{{SSHA}}{}", STANDARD.encode(digest));
    let ldif = format!(
        "dn: uid=lee,{PEOPLE}\nobjectClass: inetOrgPerson\nuid: lee\ncn: Lee\nsn: Lee\nactive: TRUE\nuserPassword: {ssha}\n\n\
         dn: uid=weak,{PEOPLE}\nobjectClass: inetOrgPerson\nuid: weak\ncn: Weak\nsn: Weak\nuserPassword: {{SHA}}qUqP5cyxm6YcTAhz05Hph5gvu9M=\n\n\
         dn: uid=ari,{PEOPLE}\nobjectClass: inetOrgPerson\nuid: ari\ncn: Ari\nsn: Ari\nactive: TRUE\nuserPassword: {ARGON2_I}\n\n"
    );
    ldapadd.args([
        "-x",
        "-c",
        "-H",
        &format!("ldap://{}", d.server.ldap),
        "-D",
        common::ADMIN_DN,
        "-w",
        ADMIN_PASSWORD,
    ]);
    let out = common::output_with_stdin(&mut ldapadd, ldif.as_bytes());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Constraint violation") && stderr.contains("weak"),
        "{stderr}"
    );
    assert_eq!(d.bind("lee", "Imported-Pass-1").await, 0);
    assert_eq!(d.bind("lee", "Imported-Pass-2").await, 49);
    // OpenLDAP's argon2 module's default form (`slappasswd -h '{ARGON2}' -s secret`).
    assert_eq!(d.bind("ari", "secret").await, 0);
    assert_eq!(d.bind("ari", "Secret").await, 49);
    let upgraded = d.audit(&admin, "kind=password_changed").await;
    assert!(
        upgraded
            .iter()
            .any(|e| e["detail"].as_str().is_some_and(|d| d.contains("upgraded"))),
        "{upgraded:?}"
    );
    // The upgraded hash verifies the same password.
    assert_eq!(d.bind("lee", "Imported-Pass-1").await, 0);
    let (status, found) = d
        .call(
            Method::GET,
            "/scim/v2/Users?filter=userName+eq+%22weak%22",
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        found["totalResults"], 0,
        "a refused hash refuses the whole entry"
    );
    // Created with its password in one step: never sent a link to choose another.
    let links: Vec<Value> = d
        .outbox(&admin)
        .await
        .into_iter()
        .filter(|m| {
            m["body"]
                .as_str()
                .is_some_and(|b| b.contains("/auth/activate"))
        })
        .collect();
    assert!(links.is_empty(), "{links:?}");
}

/// Unknown users and wrong passwords must cost the same. Statistical, not a timed assertion:
/// the medians of interleaved attempts must be within a factor of two of each other.
#[tokio::test(flavor = "multi_thread")]
async fn unknown_and_known_users_take_alike_time() {
    let d = Directory::start("[lockout]\nthreshold = 0\n");
    d.user("mo", Some("Mo-Pass-1234567"), &[]).await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..21 {
        for (name, samples) in [("mo", &mut known), ("nobody-here", &mut unknown)] {
            let started = Instant::now();
            let (status, _) = d.login(name, &format!("Wrong-Pass-{i}"), None).await;
            samples.push(started.elapsed());
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
    }
    known.sort();
    unknown.sort();
    let (k, u) = (known[10].as_secs_f64(), unknown[10].as_secs_f64());
    let ratio = k / u;
    assert!(
        (0.5..2.0).contains(&ratio),
        "known {k:.4}s vs unknown {u:.4}s"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sso_only_roles_refuse_password_logins() {
    let d = Directory::start("");
    let admin = d.admin_token().await;
    let sso = d
        .role("SSO only", json!({"passwordLoginDisabled": true}))
        .await;
    let id = d.user("nia", Some("Nia-Pass-123456"), &[]).await;
    assert_eq!(d.bind("nia", "Nia-Pass-123456").await, 0);
    let (status, _) = d
        .call(
            Method::PATCH,
            &format!("/scim/v2/Groups/{sso}"),
            Some(TOKEN),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": id}]}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(d.bind("nia", "Nia-Pass-123456").await, 49);
    let (status, _) = d.login("nia", "Nia-Pass-123456", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let reasons: Vec<String> = d
        .audit(&admin, &format!("kind=login_failed&target={id}"))
        .await
        .iter()
        .map(|e| e["detail"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        reasons,
        vec!["password login is disabled by the user's roles"; 2],
        "LDAP and REST alike"
    );

    // Seed 001: "If later disabled, reset passwords for all users with this role". The old
    // password does not come back; a reset link goes out instead.
    let (status, body) = d
        .call(
            Method::PATCH,
            &format!("/scim/v2/Groups/{sso}"),
            Some(&admin),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "path": format!("{ROLE}:settings.passwordLoginDisabled"),
                 "value": false}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body[ROLE]["settings"]["passwordLoginDisabled"], false,
        "{body}"
    );
    assert_eq!(
        d.bind("nia", "Nia-Pass-123456").await,
        49,
        "the old password is gone"
    );
    d.reset_by_mail(&admin, &id, "Nia-New-Pass-123").await;
    assert_eq!(d.bind("nia", "Nia-New-Pass-123").await, 0);
}

/// Expiry needs a password set long ago, which no interface can fake: the core service over a
/// real store, with the change date moved back through the service itself.
#[test]
fn expired_passwords_refuse_logins_but_can_be_changed() {
    use rollcall::password::policy::PasswordPolicy;
    use rollcall::service::{LoginSource, SecondFactor, ServiceError};

    let (_dir, service) = common::service_with_password_policy(PasswordPolicy {
        max_age_days: 30,
        ..PasswordPolicy::default()
    });
    let system = common::admin();
    let mut user = rollcall::model::User::new("olga");
    user.active = true;
    let user = common::create_with(&service, user, Some("Olga-Pass-12345"));
    let from = LoginSource {
        source: rollcall::audit::Source::Rest,
        client: None,
        expects: rollcall::service::Expected::Anyone,
    };
    let login = |pw: &str| service.login("olga", pw, SecondFactor::Separate(None), from);
    assert!(login("Olga-Pass-12345").is_ok(), "fresh");
    let long_ago = time::OffsetDateTime::now_utc() - time::Duration::days(31);
    service
        .update_user(&system, user.id, None, |u| {
            u.password_changed = Some(long_ago);
            Ok(())
        })
        .unwrap();
    assert!(matches!(
        login("Olga-Pass-12345"),
        Err(ServiceError::PasswordExpired(_))
    ));
    assert!(
        matches!(
            login("Wrong-Pass-12345"),
            Err(ServiceError::InvalidCredentials)
        ),
        "only the right password learns that it has expired"
    );
    let events = service.audit_events().unwrap();
    assert_eq!(
        events[events.len() - 2].detail.as_deref(),
        Some("password has expired")
    );
    // The user can still change it (Password Modify with the old password), then log in.
    let actor = rollcall::service::Actor::user(user.id, rollcall::audit::Source::Ldap, None);
    service
        .change_own_password(&actor, "Olga-Pass-12345", "Olga-Pass-67890")
        .unwrap();
    assert!(login("Olga-Pass-67890").is_ok());
}

/// An expired password is told how to get a new one that works: a reset link only where one
/// asked for would come; with `[recovery] enabled = false` (whose page is not there), or for
/// someone with no address to send it to, an administrator. The store is made with the
/// password set long ago, then served.
#[tokio::test(flavor = "multi_thread")]
async fn an_expired_password_is_pointed_only_to_a_way_that_works() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let service = common::open_service(&data, rollcall::model::LicenseLimits::default());
        let long_ago = time::OffsetDateTime::now_utc() - time::Duration::days(31);
        for (name, mailed) in [("ada", true), ("bea", false)] {
            let mut user = common::person(name, rollcall::model::LicenseType::Employee, true);
            if !mailed {
                user.emails.clear();
            }
            let user = common::create_with(&service, user, Some("Expired-Pass-123"));
            service
                .update_user(&common::admin(), user.id, None, |u| {
                    u.password_changed = Some(long_ago);
                    Ok(())
                })
                .unwrap();
        }
    }
    const LINK: &str = "the password has expired: set a new one with a reset link (forgotten \
                        password), or ask an administrator";
    const ADMINISTRATOR: &str = "the password has expired: ask an administrator to set a new one";
    let config = dir.path().join("rollcall.toml");
    let http = Client::new();
    for (recovery, ada, bea) in [
        (true, LINK, ADMINISTRATOR),
        (false, ADMINISTRATOR, ADMINISTRATOR),
    ] {
        std::fs::write(
            &config,
            format!("[password]\nmax_age_days = 30\n\n[recovery]\nenabled = {recovery}\n"),
        )
        .unwrap();
        let mut server = Server::spawn(&data, &["--config", config.to_str().unwrap()], &[]);
        for (name, told) in [("ada", ada), ("bea", bea)] {
            let res = http
                .post(server.url("/auth/token"))
                .json(&json!({"username": name, "password": "Expired-Pass-123"}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["error"], "password_expired", "{body}");
            assert_eq!(body["detail"], told, "{name}, recovery {recovery}: {body}");
        }
        let page = http
            .get(server.url("/auth/password/forgot"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            page.status().is_success(),
            recovery,
            "the page a link is asked for at"
        );
        assert!(server.terminate().success());
    }
}

/// `[password] grace_logins`: an expired password still signs in that many times (so that its
/// user can change it over LDAP), each counted in the transaction that records the sign-in:
/// however many binds race, no more succeed than there are grace logins. A new password
/// starts afresh.
#[test]
fn grace_logins_are_counted_exactly_under_concurrency() {
    use rollcall::password::policy::PasswordPolicy;
    use rollcall::service::{LoginSource, SecondFactor, ServiceError};

    let (_dir, service) = common::service_with_password_policy(PasswordPolicy {
        max_age_days: 30,
        grace_logins: 3,
        ..PasswordPolicy::default()
    });
    let mut user = rollcall::model::User::new("gil");
    user.active = true;
    let user = common::create_with(&service, user, Some("Gil-Pass-123456"));
    service
        .update_user(&common::admin(), user.id, None, |u| {
            u.password_changed = Some(time::OffsetDateTime::now_utc() - time::Duration::days(31));
            Ok(())
        })
        .unwrap();
    let from = LoginSource {
        source: rollcall::audit::Source::Ldap,
        client: None,
        expects: rollcall::service::Expected::Anyone,
    };
    let login = |pw: &str| service.login("gil", pw, SecondFactor::Appended, from);
    let left = std::sync::Mutex::new(Vec::new());
    let refused = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..2 {
                    match login("Gil-Pass-123456") {
                        Ok(l) => left
                            .lock()
                            .unwrap()
                            .push(l.password.grace_remaining.unwrap()),
                        Err(ServiceError::PasswordExpired(_)) => {
                            refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            });
        }
    });
    let mut left = left.into_inner().unwrap();
    left.sort_unstable();
    assert_eq!(left, [0, 1, 2], "three grace logins, each once");
    assert_eq!(refused.into_inner(), 13);
    // Changed in a grace session (as an LDAP Password Modify does): a fresh start.
    let actor = rollcall::service::Actor::user(user.id, rollcall::audit::Source::Ldap, None);
    service
        .change_own_password(&actor, "Gil-Pass-123456", "Gil-Pass-654321")
        .unwrap();
    let fresh = login("Gil-Pass-654321").unwrap();
    assert_eq!(fresh.password.grace_remaining, None);
    assert_eq!(
        fresh.password.expires, None,
        "30 days away, past the 14-day warning"
    );
}

/// Seed 003 "set temporary password", with `[password] reset_must_change`: a password an
/// administrator sets (at creation or as a reset) must be replaced at the next sign-in. A bind
/// succeeds but may do nothing but Password Modify (the password policy control says
/// `changeAfterReset`); a REST session may only change the password. Passwords an identity
/// provider sends are the users' own.
#[tokio::test(flavor = "multi_thread")]
async fn a_password_an_administrator_sets_must_be_changed_at_the_next_sign_in() {
    let d = Directory::start("[password]\nreset_must_change = true\n");
    let admin = d.admin_token().await;
    let (status, tia) = d
        .call(
            Method::POST,
            "/scim/v2/Users",
            Some(&admin),
            Some(json!({"userName": "tia", "active": true, "password": "Tia-Temp-Pass-123"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{tia}");
    let tia = tia["id"].as_str().unwrap().to_string();
    // A hash an administrator stores for someone already there is such a password too: whoever
    // made the hash knows it.
    d.user("uma", Some("Uma-Own-Pass-123"), &[]).await;
    let salt = b"s4lt";
    let mut digest = sha1::Sha1::digest([b"Uma-Hash-Pass-1".as_slice(), salt].concat()).to_vec();
    digest.extend_from_slice(salt);
    let ssha = format!("{{SSHA}}{}", STANDARD.encode(digest));
    let mut ldap = common::admin_connection(d.server.ldap).await;
    let res = ldap
        .modify(
            &format!("uid=uma,{PEOPLE}"),
            vec![ldap3::Mod::Replace("userPassword", [ssha.as_str()].into())],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    let (status, body) = d.login("uma", "Uma-Hash-Pass-1", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["password_must_change"], true, "{body}");
    const TIA: &str = "uid=tia,ou=people,dc=example,dc=com";
    let url = format!("ldap://{}", d.server.ldap);
    let tool = |name: &str, args: &[&str]| {
        let mut c = common::openldap_tool(name)?;
        c.args(["-x", "-H", &url, "-D", TIA]).args(args);
        Some(c.output().unwrap())
    };
    let text = |out: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    if let Some(out) = tool("ldapwhoami", &["-w", "Tia-Temp-Pass-123", "-e", "ppolicy"]) {
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            text(&out).contains("Password must be changed"),
            "{}",
            text(&out)
        );
        let search = [
            "-w",
            "Tia-Temp-Pass-123",
            "-b",
            "dc=example,dc=com",
            "(uid=tia)",
        ];
        let out = tool("ldapsearch", &search).unwrap();
        assert_eq!(out.status.code(), Some(50), "{}", text(&out));
        assert!(text(&out).contains("choose your own"), "{}", text(&out));
        let change = [
            "-w",
            "Tia-Temp-Pass-123",
            "-a",
            "Tia-Temp-Pass-123",
            "-s",
            "Tia-Own-Pass-456",
        ];
        let out = tool("ldappasswd", &change).unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let out = tool(
            "ldapsearch",
            &[
                "-w",
                "Tia-Own-Pass-456",
                "-b",
                "dc=example,dc=com",
                "(uid=tia)",
                "uid",
            ],
        )
        .unwrap();
        // No longer held to changing it: her search is answered as for anyone who may read
        // nothing (she holds no role), not refused for the password.
        assert_eq!(out.status.code(), Some(32), "{}", text(&out));
        assert!(!text(&out).contains("choose your own"), "{}", text(&out));
    }

    // An administrator's reset is temporary again; over REST the session may only change it.
    let admin_reset = |password: &'static str| {
        let (d, admin, tia) = (&d, &admin, &tia);
        async move {
            let (status, body) = d
                .call(
                    Method::PATCH,
                    &format!("/scim/v2/Users/{tia}"),
                    Some(admin),
                    Some(json!({"schemas": [PATCH_OP], "Operations": [
                        {"op": "replace", "path": "password", "value": password}
                    ]})),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    };
    admin_reset("Tia-Reset-Pass-789").await;
    let (status, body) = d.login("tia", "Tia-Reset-Pass-789", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["password_must_change"], true, "{body}");
    let limited = body["access_token"].as_str().unwrap().to_string();
    let (status, body) = d
        .call(Method::GET, "/auth/sessions", Some(&limited), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("choose your own first"),
        "{body}"
    );
    let (status, body) = d
        .call(Method::POST, "/auth/totp/enroll", Some(&limited), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not even enrolment: {body}");
    let (status, body) = d
        .call(
            Method::POST,
            "/auth/password",
            Some(&limited),
            Some(
                json!({"old_password": "Tia-Reset-Pass-789", "new_password": "Tia-Mine-Pass-012"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = d.login("tia", "Tia-Mine-Pass-012", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("password_must_change").is_none(), "{body}");
    let own = body["access_token"].as_str().unwrap().to_string();
    let (status, _) = d
        .call(Method::GET, "/auth/sessions", Some(&own), None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // An LDAP connection that replaces a temporary password goes on as the user, without
    // binding again (as with OpenLDAP's ppolicy overlay); until then it may do nothing else.
    admin_reset("Tia-Again-Pass-345").await;
    let (conn, mut ldap) = LdapConnAsync::new(&url).await.unwrap();
    ldap3::drive!(conn);
    let bound = ldap.simple_bind(TIA, "Tia-Again-Pass-345").await.unwrap();
    assert_eq!(bound.rc, 0, "{bound:?}");
    let search = |ldap: &mut ldap3::Ldap| {
        let mut ldap = ldap.clone();
        async move {
            ldap.search(
                "dc=example,dc=com",
                ldap3::Scope::Subtree,
                "(uid=tia)",
                vec!["uid"],
            )
            .await
            .unwrap()
        }
    };
    let change = |ldap: &mut ldap3::Ldap, old: &'static str| {
        let mut ldap = ldap.clone();
        async move {
            ldap.extended(ldap3::exop::PasswordModify {
                user_id: None,
                old_pass: Some(old),
                new_pass: Some("Tia-Fresh-Pass-678"),
            })
            .await
            .unwrap()
            .1
        }
    };
    let refused = search(&mut ldap).await;
    assert_eq!(refused.1.rc, 50, "insufficientAccess: {:?}", refused.1);
    let wrong = change(&mut ldap, "not-the-password").await;
    assert_eq!(wrong.rc, 49, "invalidCredentials: {wrong:?}");
    assert_eq!(
        search(&mut ldap).await.1.rc,
        50,
        "a failed change lifts nothing"
    );
    let changed = change(&mut ldap, "Tia-Again-Pass-345").await;
    assert_eq!(changed.rc, 0, "{changed:?}");
    // Lifted: answered as for anyone who may read nothing (she holds no role).
    let done = search(&mut ldap).await.1;
    assert_eq!(done.rc, 32, "{done:?}");
    let _ = ldap.unbind().await;
    let (status, body) = d.login("tia", "Tia-Fresh-Pass-678", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("password_must_change").is_none(), "{body}");

    // An identity provider's password is the user's own.
    let ida = d.user("ida", Some("Ida-Idp-Pass-123"), &[]).await;
    assert!(!ida.is_empty());
    let (status, body) = d.login("ida", "Ida-Idp-Pass-123", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("password_must_change").is_none(), "{body}");
}

/// Deprovisioning by SCIM DELETE anonymises; the audit trail read back over the admin API then
/// still lists what happened to the user, by id, but none of its personal data.
#[tokio::test(flavor = "multi_thread")]
async fn scim_delete_erases_the_users_personal_data_from_the_audit_trail() {
    let d = Directory::start("");
    let admin = d.admin_token().await;
    let id = d.user("mara.vance", None, &[]).await;
    d.replace_attribute(&id, "title", json!("Lighthouse Keeper"))
        .await;
    let before = d.audit(&admin, &format!("target={id}")).await;
    assert!(
        before.len() >= 2
            && serde_json::to_string(&before)
                .unwrap()
                .contains("Lighthouse Keeper"),
        "{before:?}"
    );
    // A userName finds the same events as the id (in any case), and the actor by name too.
    assert_eq!(d.audit(&admin, "target=Mara.Vance").await, before);
    let by_provisioning = d
        .audit(&admin, "actor=provisioning&target=mara.vance")
        .await;
    assert_eq!(by_provisioning.len(), before.len(), "{by_provisioning:?}");
    assert!(d.audit(&admin, "target=nobody.here").await.is_empty());

    let (status, body) = d
        .call(
            Method::DELETE,
            &format!("/scim/v2/Users/{id}"),
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let about = d.audit(&admin, &format!("target={id}")).await;
    assert_eq!(about.len(), before.len() + 1, "{about:?}");
    assert_eq!(about.last().unwrap()["kind"], "user_anonymised");
    for e in &about[..before.len()] {
        assert_eq!(e["erased"], true, "{e}");
        assert!(e["before"].is_null() && e["after"].is_null(), "{e}");
    }
    let everything = serde_json::to_string(&d.audit(&admin, "").await).unwrap();
    for personal in ["mara.vance", "Lighthouse Keeper"] {
        assert!(!everything.contains(personal), "{personal} in {everything}");
    }
}

/// `application/x-www-form-urlencoded` as a browser sends a form.
fn form_body(fields: &[(&str, &str)]) -> String {
    let encode = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".into(),
                b => format!("%{b:02X}"),
            })
            .collect()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The link in an activation message is opened in a browser: a GET that shows a form (no
/// scripts, no outside resources, the token kept out of Referer headers and caches), whose
/// POST sets the first password, shows policy violations and mismatches on the form again,
/// and works once.
#[tokio::test(flavor = "multi_thread")]
async fn the_activation_link_opens_a_form_that_sets_the_first_password() {
    let d = Directory::start("");
    let admin = d.admin_token().await;
    let id = d.user("jo", None, &[]).await;
    let token = d.activation_token(&admin, &id).await;
    let link = d.server.url(&format!("/auth/activate?token={token}"));

    let opened = d.http.get(&link).send().await.unwrap();
    assert_eq!(opened.status(), StatusCode::OK);
    let header = |name: &str| {
        opened
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert!(header("content-type").starts_with("text/html"));
    assert_eq!(header("referrer-policy"), "no-referrer");
    assert_eq!(header("cache-control"), "no-store");
    assert!(header("content-security-policy").contains("default-src 'none'"));
    let html = opened.text().await.unwrap();
    assert!(
        html.contains("<form method=\"post\" action=\"/auth/activate\">"),
        "{html}"
    );
    assert!(html.contains(&format!("value=\"{token}\"")), "{html}");
    assert!(html.contains("At least 12 characters"), "{html}");

    let post = |fields: Vec<(&'static str, String)>| {
        let d = &d;
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let res = d
                .http
                .post(d.server.url("/auth/activate"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_body(&fields))
                .send()
                .await
                .unwrap();
            (res.status(), res.text().await.unwrap())
        }
    };
    let fill = |password: &str, confirm: &str| {
        vec![
            ("token", token.clone()),
            ("password", password.to_string()),
            ("confirm", confirm.to_string()),
        ]
    };
    let (status, html) = post(fill("Jo-First-Pass-1", "Jo-First-Pass-2")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("The two passwords differ."), "{html}");
    let (status, html) = post(fill("short", "short")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("at least 12 characters"), "{html}");
    assert!(
        html.contains(&format!("value=\"{token}\"")),
        "the form again: {html}"
    );
    assert_eq!(d.bind("jo", "short").await, 49);

    let (status, html) = post(fill("Jo-First-Pass-1", "Jo-First-Pass-1")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Your password is set"), "{html}");
    assert_eq!(d.bind("jo", "Jo-First-Pass-1").await, 0);

    // Once only; and a link that never was shows the same.
    for url in [
        link.clone(),
        d.server.url("/auth/activate?token=nonsense"),
        d.server.url("/auth/activate"),
        d.server.url(&format!("/auth/password/reset?token={token}")),
    ] {
        let res = d.http.get(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{url}");
        let html = res.text().await.unwrap();
        assert!(
            html.contains("invalid, already used or expired"),
            "{url}: {html}"
        );
    }
    let (status, html) = post(fill("Jo-Second-Pass-1", "Jo-Second-Pass-1")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("invalid, already used or expired"), "{html}");

    // What the page echoes is escaped.
    let (status, html) = post(vec![
        ("token", "\"><script>alert(1)</script>".into()),
        ("password", "a".into()),
        ("confirm", "b".into()),
    ])
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(html.contains("&lt;script&gt;"), "{html}");
}

/// A person who forgot a password (or whose password expired) asks for a reset link in a
/// browser: `GET /auth/password/forgot` is a form whose POST gives the same page whether or not
/// an account matches, and the link goes out; with recovery off the page says so.
#[tokio::test(flavor = "multi_thread")]
async fn a_browser_asks_for_a_reset_link_on_the_forgotten_password_page() {
    let d = Directory::start("");
    let admin = d.admin_token().await;
    let lou = d.user("lou", Some("Lou-Old-Pass-123"), &[]).await;
    // Times in lou's messages are on lou's clock (seed 003 "language and timezone").
    d.replace_attribute(&lou, "timezone", json!("America/New_York"))
        .await;
    let opened = d
        .http
        .get(d.server.url("/auth/password/forgot"))
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), StatusCode::OK);
    assert!(
        opened.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("form-action 'self'")
    );
    let html = opened.text().await.unwrap();
    assert!(
        html.contains("<form method=\"post\" action=\"/auth/password/forgot\">")
            && html.contains("name=\"username\""),
        "{html}"
    );
    let post = |fields: &[(&str, &str)]| {
        let d = &d;
        let body = form_body(fields);
        async move {
            let res = d
                .http
                .post(d.server.url("/auth/password/forgot"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            (res.status(), res.text().await.unwrap())
        }
    };
    let (status, known) = post(&[("username", "lou")]).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, unknown) = post(&[("username", "nobody@example.com")]).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        known, unknown,
        "the same page whether or not an account matches"
    );
    assert!(known.contains("If an account matches"), "{known}");
    let (status, html) = post(&[("username", " ")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("Give your user name"), "{html}");
    // The link reaches lou (the request runs after the answer).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let sent = loop {
        let sent: Vec<Value> = d
            .outbox(&admin)
            .await
            .into_iter()
            .filter(|m| m["kind"] == "password_reset" && m["to"] == "lou@example.com")
            .collect();
        if !sent.is_empty() {
            break sent;
        }
        assert!(std::time::Instant::now() < deadline, "no link for lou");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(sent.len(), 1);
    let text = sent[0]["body"].as_str().unwrap();
    assert!(
        text.contains(" EST):") || text.contains(" EDT):"),
        "the expiry on lou's clock: {text}"
    );
    assert!(!text.contains(" UTC"), "{text}");

    let off = Directory::start("[recovery]\nenabled = false\n");
    let res = off
        .http
        .get(off.server.url("/auth/password/forgot"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.text().await.unwrap().contains("ask your administrator"));
}

/// Seed 002: "The admin can send the password change link for a specific user", also when
/// users cannot ask for one themselves. It takes Edit on the user.
#[tokio::test(flavor = "multi_thread")]
async fn an_admin_sends_a_password_link_even_with_self_service_recovery_off() {
    let d = Directory::start("[recovery]\nenabled = false\n");
    let admin = d.admin_token().await;
    let id = d.user("kit", Some("Kit-Old-Pass-123"), &[]).await;
    let (status, _) = d.forgot(json!({"username": "kit"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "self-service is off");

    let path = format!("/admin/users/{id}/password-link");
    let kit = d.token("kit", "Kit-Old-Pass-123", None).await;
    let (status, body) = d.call(Method::POST, &path, Some(&kit), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = d.call(Method::POST, &path, Some(&admin), None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(
        body["expires"].as_str().is_some_and(|e| e.contains('T')),
        "{body}"
    );

    let message = d.reset_by_mail(&admin, &id, "Kit-New-Pass-123").await;
    assert_eq!(message["to"], "kit@example.com");
    assert_eq!(d.bind("kit", "Kit-New-Pass-123").await, 0);
    let events = d.audit(&admin, &format!("target={id}")).await;
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "password_reset_requested" && e["actor"] != Value::Null),
        "{events:?}"
    );

    // No address, no link; an unknown user is 404.
    let (status, created) = d
        .call(
            Method::POST,
            "/scim/v2/Users",
            Some(TOKEN),
            Some(json!({"userName": "noaddr", "active": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let noaddr = created["id"].as_str().unwrap();
    let (status, body) = d
        .call(
            Method::POST,
            &format!("/admin/users/{noaddr}/password-link"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("no email address"),
        "{body}"
    );
    let (status, _) = d
        .call(
            Method::POST,
            &format!("/admin/users/{}/password-link", uuid::Uuid::now_v7()),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A REST body over the 64 KiB limit is a `413` the client reads, not a reset connection: the
/// server takes in the rest of what is sent before it answers.
#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_rest_body_gets_413_not_a_reset() {
    let d = Directory::start("");
    let body = vec![b' '; 4 * 1024 * 1024];
    let headers = format!(
        "content-type: application/json\r\ncontent-length: {}",
        body.len()
    );
    for _ in 0..3 {
        let status = common::raw_post_status(d.server.http, "/auth/token", &headers, &body).await;
        assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    }
    // Announced with Expect: 100-continue, it is refused before a byte is sent.
    let expecting = format!("{headers}\r\nexpect: 100-continue");
    let status = common::raw_post_status(d.server.http, "/auth/token", &expecting, b"").await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    // Without a declared length (chunked) and too long: the same answer, not a reset.
    let chunked_headers = "content-type: application/json\r\ntransfer-encoding: chunked";
    let status = common::raw_post_status(
        d.server.http,
        "/auth/token",
        chunked_headers,
        &chunked(&vec![b' '; 4 * 1024 * 1024]),
    )
    .await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    // Chunked and within the limit, it is read whole and handled.
    let login = format!(r#"{{"username":"admin","password":"{ADMIN_PASSWORD}"}}"#);
    let status = common::raw_post_status(
        d.server.http,
        "/auth/token",
        chunked_headers,
        &chunked(login.as_bytes()),
    )
    .await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let (status, _) = d.login("admin", ADMIN_PASSWORD, None).await;
    assert_eq!(status, StatusCode::OK);
}

/// `body` in HTTP/1.1 chunked transfer coding, 16 KiB a chunk.
fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in body.chunks(16 * 1024) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// A sign-in from a client that names itself, as a browser or an app does.
async fn sign_in_from(
    d: &Directory,
    user: &str,
    password: &str,
    agent: &str,
) -> (StatusCode, Value) {
    let client = Client::builder().user_agent(agent).build().unwrap();
    let res = client
        .post(d.server.url("/auth/token"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

async fn session_token(d: &Directory, user: &str, password: &str, agent: &str) -> String {
    let (status, body) = sign_in_from(d, user, password, agent).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

/// Seed 003's session management: "concurrent session limits" and "device tracking". With
/// `[sessions] max_per_user`, a sign-in past the limit ends the user's oldest session (or, with
/// `at_limit = "refuse"`, is refused), also when sign-ins race; every session names the client
/// it was opened from; an administrator's act-as session is left out of the count.
#[tokio::test(flavor = "multi_thread")]
async fn a_session_limit_ends_the_oldest_or_refuses_and_sessions_name_their_device() {
    let d = Directory::start("[sessions]\nmax_per_user = 2\n");
    d.user("dora", Some("Dora-Pass-1234"), &[]).await;
    let laptop = session_token(&d, "dora", "Dora-Pass-1234", "Laptop/1.0").await;
    let phone = session_token(&d, "dora", "Dora-Pass-1234", "Phone/2.0").await;
    let (status, listed) = d
        .call(Method::GET, "/auth/sessions", Some(&laptop), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed.as_array().unwrap().len(), 2);

    let tablet = session_token(&d, "dora", "Dora-Pass-1234", "Tablet/3.0\t(x)").await;
    let (status, _) = d
        .call(Method::GET, "/auth/sessions", Some(&laptop), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the oldest session ended");
    let (status, listed) = d
        .call(Method::GET, "/auth/sessions", Some(&phone), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let agents: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["user_agent"].as_str().unwrap())
        .collect();
    assert_eq!(agents, ["Tablet/3.0(x)", "Phone/2.0"], "newest first");
    // The operator sees the same on the command line.
    let listed = common::run(&d.server.data, &["user", "sessions", "dora"]);
    assert!(listed.status.success(), "{listed:?}");
    let listed = String::from_utf8(listed.stdout).unwrap();
    let rows: Vec<Vec<&str>> = listed.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 2, "{listed}");
    assert_eq!(rows[0][3..], ["127.0.0.1", "Tablet/3.0(x)"], "{listed}");
    assert_eq!(rows[1][3..], ["127.0.0.1", "Phone/2.0"], "{listed}");
    let admin = d.admin_token().await;
    d.assert_audited(
        &admin,
        "session_revoked",
        "ended for a new one: at most 2 per user",
    )
    .await;

    // An administrator acting as dora neither takes one of her two places nor ends hers.
    let (status, acting) = d
        .call(
            Method::POST,
            "/auth/act-as",
            Some(&admin),
            Some(json!({"user": "dora", "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{acting}");
    for token in [&phone, &tablet] {
        let (status, _) = d
            .call(Method::GET, "/auth/sessions", Some(token), None)
            .await;
        assert_eq!(status, StatusCode::OK);
    }

    // Sign-ins that race still leave at most the limit live.
    let racing: Vec<_> = (0..8)
        .map(|i| {
            let client = Client::builder()
                .user_agent(format!("Racer/{i}"))
                .build()
                .unwrap();
            let url = d.server.url("/auth/token");
            tokio::spawn(async move {
                let res = client
                    .post(url)
                    .json(&json!({"username": "dora", "password": "Dora-Pass-1234"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), StatusCode::OK);
                let body: Value = res.json().await.unwrap();
                body["access_token"].as_str().unwrap().to_string()
            })
        })
        .collect();
    let mut tokens = Vec::new();
    for task in racing {
        tokens.push(task.await.unwrap());
    }
    let mut live = 0;
    for token in &tokens {
        let (status, _) = d
            .call(Method::GET, "/auth/sessions", Some(token), None)
            .await;
        live += usize::from(status == StatusCode::OK);
    }
    assert_eq!(live, 2, "two of the racing sign-ins hold sessions");
    let (_, listed) = d
        .call(
            Method::GET,
            &format!("/admin/sessions?user={}", user_id(&d, &admin, "dora").await),
            Some(&admin),
            None,
        )
        .await;
    let own = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["acting_admin"].is_null())
        .count();
    assert_eq!(own, 2, "{listed}");

    // Refusing instead: the sign-in fails with the reason, and works again once one ends.
    let d = Directory::start("[sessions]\nmax_per_user = 1\nat_limit = \"refuse\"\n");
    d.user("erik", Some("Erik-Pass-1234"), &[]).await;
    let first = session_token(&d, "erik", "Erik-Pass-1234", "Desk/1").await;
    let (status, body) = sign_in_from(&d, "erik", "Erik-Pass-1234", "Desk/2").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("erik already holds the most sessions allowed (1"),
        "{body}"
    );
    // A wrong password is still only "invalid credentials": the limit says nothing to a guesser.
    let (status, _) = sign_in_from(&d, "erik", "Wrong-Pass-1234", "Desk/2").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let admin = d.admin_token().await;
    d.assert_audited(&admin, "login_failed", "most sessions allowed")
        .await;
    // The refused sign-in is one failure in the trail, not a success followed by a failure.
    let erik = user_id(&d, &admin, "erik").await;
    let succeeded = d
        .audit(&admin, &format!("kind=login_succeeded&target={erik}"))
        .await;
    assert_eq!(succeeded.len(), 1, "{succeeded:?}");
    let (status, _) = d
        .call(Method::POST, "/auth/logout", Some(&first), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    session_token(&d, "erik", "Erik-Pass-1234", "Desk/2").await;
}

async fn user_id(d: &Directory, admin: &str, user_name: &str) -> String {
    let (status, found) = d
        .call(
            Method::GET,
            &format!("/scim/v2/Users?filter=userName+eq+%22{user_name}%22"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    found["Resources"][0]["id"].as_str().unwrap().to_string()
}

/// Many sign-ins of one user at the same moment, on the core service with cheap hashing so
/// that they really overlap (over HTTP the password hashing spaces them out): the limit holds.
#[test]
fn concurrent_sign_ins_never_leave_more_sessions_than_the_limit() {
    use rollcall::auth::session::{AtLimit, SessionLimit};
    use rollcall::service::{LoginSource, Policy, Service};

    let dir = tempfile::tempdir().unwrap();
    let store: std::sync::Arc<dyn rollcall::store::Store> = std::sync::Arc::new(
        rollcall::store::SledStore::open(&dir.path().join("store"), &Default::default()).unwrap(),
    );
    for at_limit in [AtLimit::EndOldest, AtLimit::Refuse] {
        let service = Service::new(
            std::sync::Arc::clone(&store),
            Policy {
                argon2: common::fast_argon2(),
                session_limit: Some(SessionLimit { max: 3, at_limit }),
                ..Policy::default()
            },
        );
        let name = format!("racer-{at_limit:?}");
        let mut user = common::person(&name, rollcall::model::LicenseType::Employee, true);
        user.roles.clear();
        let user = common::create_with(&service, user, Some("Racer-Pass-1234"));
        let from = LoginSource {
            source: rollcall::audit::Source::Rest,
            client: None,
            expects: rollcall::service::Expected::Anyone,
        };
        let opened = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| {
                    for _ in 0..4 {
                        if service
                            .open_session(&name, "Racer-Pass-1234", None, from, None)
                            .is_ok()
                        {
                            opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        let live = service.sessions(&common::admin(), Some(user.id)).unwrap();
        assert_eq!(live.len(), 3, "{at_limit:?}");
        let opened = opened.into_inner();
        match at_limit {
            AtLimit::EndOldest => assert_eq!(opened, 64),
            AtLimit::Refuse => assert_eq!(opened, 3),
        }
    }
}

/// Seed 003's "IP restrictions": a role's `allowedNetworks` limits where its members sign in
/// (REST and LDAP) and use sessions and API tokens from. The test client is 127.0.0.1.
#[tokio::test(flavor = "multi_thread")]
async fn allowed_networks_of_a_role_decide_where_its_members_sign_in_and_call_from() {
    let d = Directory::start("");
    let admin = d.admin_token().await;
    let role = d
        .role(
            "Branch office",
            json!({"allowedNetworks": ["192.0.2.0/24"], "apiAccess": true}),
        )
        .await;
    d.user("fay", Some("Fay-Pass-12345"), &[&role]).await;

    // From outside: refused like any failed sign-in, with the reason in the audit trail.
    let (status, body) = d.login("fay", "Fay-Pass-12345", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(d.bind("fay", "Fay-Pass-12345").await, 49);
    let refusals = d.audit(&admin, "kind=login_failed").await;
    let outside = refusals
        .iter()
        .filter(|e| {
            e["detail"] == "the client's address is outside the networks the user's roles allow"
        })
        .count();
    assert_eq!(outside, 2, "{refusals:?}");

    // Inside: the loopback network added to the role lets fay in.
    let patch = |networks: Value| {
        json!({"schemas": [PATCH_OP], "Operations": [{
            "op": "replace",
            "path": format!("{ROLE}:settings.allowedNetworks"),
            "value": networks,
        }]})
    };
    let (status, group) = d
        .call(
            Method::PATCH,
            &format!("/scim/v2/Groups/{role}"),
            Some(&admin),
            Some(patch(json!(["127.0.0.0/8", "2001:db8::/32"]))),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{group}");
    assert_eq!(
        group[ROLE]["settings"]["allowedNetworks"],
        json!(["127.0.0.0/8", "2001:db8::/32"])
    );
    let fay = d.token("fay", "Fay-Pass-12345", None).await;
    assert_eq!(d.bind("fay", "Fay-Pass-12345").await, 0);
    let (status, _) = d.call(Method::GET, "/scim/v2/Me", Some(&fay), None).await;
    assert_eq!(status, StatusCode::OK);

    // A session taken inside stops working when the network is no longer allowed.
    let (status, body) = d
        .call(
            Method::PATCH,
            &format!("/scim/v2/Groups/{role}"),
            Some(&admin),
            Some(patch(json!(["192.0.2.0/24"]))),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = d.call(Method::GET, "/scim/v2/Me", Some(&fay), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("requests from 127.0.0.1 are outside the networks your roles allow"),
        "{body}"
    );

    // The same for a provisioning token whose service account holds a restricting role.
    let (status, body) = d
        .call(Method::GET, "/scim/v2/Users?count=1", Some(TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let provisioning = user_id(&d, &admin, "provisioning").await;
    let (status, body) = d
        .call(
            Method::PATCH,
            &format!("/scim/v2/Groups/{role}"),
            Some(&admin),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": provisioning}]}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = d
        .call(Method::GET, "/scim/v2/Users?count=1", Some(TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["status"], "403");

    // Malformed networks are refused with what is wrong; nothing changes.
    for (bad, why) in [
        (json!(["10.1.2.3/8"]), "write 10.0.0.0/8"),
        (json!(["10.0.0.0/40"]), "prefix length must be 0 to 32"),
        (json!([8]), "must be a string"),
    ] {
        let (status, body) = d
            .call(
                Method::PATCH,
                &format!("/scim/v2/Groups/{role}"),
                Some(&admin),
                Some(patch(bad)),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["scimType"], "invalidValue");
        assert!(body["detail"].as_str().unwrap().contains(why), "{body}");
    }
    let (_, group) = d
        .call(
            Method::GET,
            &format!("/scim/v2/Groups/{role}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        group[ROLE]["settings"]["allowedNetworks"],
        json!(["192.0.2.0/24"])
    );

    // Discovery describes the attribute.
    let (_, schema) = d
        .call(
            Method::GET,
            &format!("/scim/v2/Schemas/{ROLE}"),
            Some(&admin),
            None,
        )
        .await;
    let settings = schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "settings")
        .unwrap();
    let networks = settings["subAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "allowedNetworks")
        .expect("allowedNetworks in the Role schema");
    assert_eq!(networks["multiValued"], true);
}

/// Seed 003's admin notifications for "permission escalations": granting the Administrator
/// System Role, making a role an administrator role, widening a role's permissions and giving
/// a user a role that edits others' records each put a `permission_escalation` notice for the
/// administrators in the outbox, naming who did it; narrowing does not, roles that only read
/// do not, and neither does the first start's own setup.
#[tokio::test(flavor = "multi_thread")]
async fn raising_permissions_notifies_the_administrators() {
    let d = Directory::start("");
    let admin = d.admin_token().await;
    let escalations = |outbox: Vec<Value>| -> Vec<Value> {
        outbox
            .into_iter()
            .filter(|m| m["kind"] == "permission_escalation")
            .collect()
    };
    assert!(
        escalations(d.outbox(&admin).await).is_empty(),
        "first start"
    );

    let gus = d.user("gus", Some("Gus-Pass-12345"), &[]).await;
    let (_, found) = d
        .call(
            Method::GET,
            "/scim/v2/Groups?filter=displayName+eq+%22Administrators%22",
            Some(&admin),
            None,
        )
        .await;
    let administrators = found["Resources"][0]["id"].as_str().unwrap().to_string();
    let (status, body) = d
        .call(
            Method::PATCH,
            &format!("/scim/v2/Groups/{administrators}"),
            Some(&admin),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": gus}]}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let notices = escalations(d.outbox(&admin).await);
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0]["user"], gus.as_str());
    assert_eq!(notices[0]["subject"], "Permissions raised: gus");
    let body = notices[0]["body"].as_str().unwrap();
    assert!(
        body.contains(
            "gus was given the Administrator System Role (role \"Administrators\") by \"admin\" (scim)"
        ),
        "{body}"
    );

    // A role's permissions widened: a notice; narrowed: none.
    let helpdesk = d.role("Helpdesk", json!({})).await;
    let permissions = |edit: &str| {
        json!({"schemas": [PATCH_OP], "Operations": [{
            "op": "replace",
            "path": format!("{ROLE}:permissions"),
            "value": {"user": {"edit": edit}},
        }]})
    };
    let (status, body) = d
        .call(
            Method::PATCH,
            &format!("/scim/v2/Groups/{helpdesk}"),
            Some(&admin),
            Some(permissions("all")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let notices = escalations(d.outbox(&admin).await);
    assert_eq!(notices.len(), 2, "{notices:?}");
    let body = notices[1]["body"].as_str().unwrap();
    assert!(
        body.contains(
            "role \"Helpdesk\" (0 members) was given user.edit: none → all by \"admin\" (scim)"
        ),
        "{body}"
    );
    let (status, body) = d
        .call(
            Method::PATCH,
            &format!("/scim/v2/Groups/{helpdesk}"),
            Some(&admin),
            Some(permissions("private")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(escalations(d.outbox(&admin).await).len(), 2, "narrowing");

    // Made an administrator role, with a member: the notice says how many hold it.
    d.user("hal", Some("Hal-Pass-123456"), &[&helpdesk]).await;
    let (status, body) = d
        .call(
            Method::PATCH,
            &format!("/scim/v2/Groups/{helpdesk}"),
            Some(&admin),
            Some(json!({"schemas": [PATCH_OP], "Operations": [{
                "op": "replace",
                "path": format!("{ROLE}:administrator"),
                "value": true,
            }]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let notices = escalations(d.outbox(&admin).await);
    assert_eq!(notices.len(), 3, "{notices:?}");
    let body = notices[2]["body"].as_str().unwrap();
    assert!(
        body.contains(
            "role \"Helpdesk\" (1 member) was made an administrator role by \"admin\" (scim)"
        ),
        "{body}"
    );

    // A user given a role that edits others' records (a limited administrator): a notice
    // naming what it gains. A role that reads, or edits one's own record, raises nothing.
    let leads = d
        .role_defined(
            "Team leads",
            json!({"roleType": "employee", "permissions": {"user": {"read": "all", "edit": "team"}}}),
        )
        .await;
    let before = escalations(d.outbox(&admin).await).len();
    let readers = d.role("Readers", json!({})).await;
    let ivy = d.user("ivy", Some("Ivy-Pass-123456"), &[&readers]).await;
    assert_eq!(escalations(d.outbox(&admin).await).len(), before);
    let (status, body) = d
        .call(
            Method::PATCH,
            &format!("/scim/v2/Groups/{leads}"),
            Some(TOKEN),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": ivy}]}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let notices = escalations(d.outbox(&admin).await);
    assert_eq!(notices.len(), before + 1, "{notices:?}");
    assert_eq!(notices[before]["user"], ivy.as_str());
    let body = notices[before]["body"].as_str().unwrap();
    assert!(
        body.contains(
            "ivy was given role \"Team leads\" by \"provisioning\" (scim), and with it user.edit: team"
        ),
        "{body}"
    );
}

/// A sign-in through a proxy, as the proxy forwards it.
async fn sign_in_via(d: &Directory, user: &str, password: &str, forwarded: &str) -> StatusCode {
    Client::new()
        .post(d.server.url("/auth/token"))
        .header("x-forwarded-for", forwarded)
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
}

/// A directory (with `extra` config) where ida's role admits sign-ins from 203.0.113.0/24
/// only, and an admin session.
async fn remote_office(extra: &str) -> (Directory, String) {
    let d = Directory::start(extra);
    let admin = d.admin_token().await;
    let role = d
        .role(
            "Remote office",
            json!({"allowedNetworks": ["203.0.113.0/24"]}),
        )
        .await;
    d.user("ida", Some("Ida-Pass-123456"), &[&role]).await;
    (d, admin)
}

/// Behind a reverse proxy listed in `[http] trusted_proxies`, the client its
/// `X-Forwarded-For` names is the one the audit trail records and a role's `allowedNetworks`
/// judges; the header is ignored from anyone else, and by default.
#[tokio::test(flavor = "multi_thread")]
async fn behind_a_trusted_proxy_the_forwarded_client_is_audited_and_restricted() {
    // The test client (127.0.0.1) plays the proxy.
    let (d, admin) = remote_office("[http]\ntrusted_proxies = [\"127.0.0.0/8\"]\n").await;
    assert_eq!(
        sign_in_via(&d, "ida", "Ida-Pass-123456", "203.0.113.7").await,
        StatusCode::OK
    );
    // A client cannot slip an address past the proxy by writing the header itself.
    assert_eq!(
        sign_in_via(&d, "ida", "Ida-Pass-123456", "203.0.113.9, 198.51.100.4").await,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = d.login("ida", "Ida-Pass-123456", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the proxy's own address");
    let logins = d.audit(&admin, "kind=login_succeeded").await;
    assert!(
        logins.iter().any(|e| e["client"] == "203.0.113.7"),
        "{logins:?}"
    );
    let failures = d.audit(&admin, "kind=login_failed").await;
    let clients: Vec<&str> = failures
        .iter()
        .filter_map(|e| e["client"].as_str())
        .collect();
    assert!(clients.contains(&"198.51.100.4"), "{clients:?}");

    // Without trusted proxies the header means nothing.
    let (d, admin) = remote_office("").await;
    assert_eq!(
        sign_in_via(&d, "ida", "Ida-Pass-123456", "203.0.113.7").await,
        StatusCode::UNAUTHORIZED
    );
    let failures = d.audit(&admin, "kind=login_failed").await;
    assert!(
        failures.iter().all(|e| e["client"] == "127.0.0.1"),
        "{failures:?}"
    );
}

/// Seed 003 "device tracking" and "security events": a person is told of a sign-in from a
/// device (a kind of client on a network) it has not signed in from before, but not of its
/// first sign-in, a browser update or a new address on the same network.
#[tokio::test(flavor = "multi_thread")]
async fn people_are_told_of_sign_ins_from_a_new_device() {
    // The test client (127.0.0.1) plays a reverse proxy, to sign in from several networks.
    let d = Directory::start("[http]\ntrusted_proxies = [\"127.0.0.0/8\"]\n");
    let admin = d.admin_token().await;
    let kim = d.user("kim", Some("Kim-Pass-123456"), &[]).await;
    const FIREFOX_1: &str =
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
    const FIREFOX_2: &str =
        "Mozilla/5.0 (X11; Linux x86_64; rv:134.0) Gecko/20100101 Firefox/134.0";
    let sign_in = |agent: &'static str, client: &'static str| {
        let d = &d;
        async move {
            let res = d
                .http
                .post(d.server.url("/auth/token"))
                .header("user-agent", agent)
                .header("x-forwarded-for", client)
                .json(&json!({"username": "kim", "password": "Kim-Pass-123456"}))
                .send()
                .await
                .unwrap();
            assert_eq!(
                res.status(),
                StatusCode::OK,
                "{}",
                res.text().await.unwrap()
            );
        }
    };
    let notices = || async {
        d.outbox(&admin)
            .await
            .into_iter()
            .filter(|m| m["kind"] == "security_notice" && m["user"] == kim.as_str())
            .map(|m| m["body"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    sign_in(FIREFOX_1, "198.51.100.7").await;
    sign_in(FIREFOX_2, "198.51.100.200").await;
    assert!(
        notices().await.is_empty(),
        "the first device, updated, on its network"
    );

    sign_in("curl/8.5.0", "198.51.100.7").await;
    let told = notices().await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0].contains(
            "from 198.51.100.7, with curl/8.5.0, a device you had not signed in from before"
        ),
        "{}",
        told[0]
    );
    assert_eq!(
        d.outbox(&admin)
            .await
            .iter()
            .find(|m| m["kind"] == "security_notice")
            .unwrap()["to"],
        "kim@example.com"
    );
    sign_in("curl/8.6.0", "198.51.100.9").await;
    assert_eq!(notices().await.len(), 1, "a device seen before");
    sign_in(FIREFOX_2, "203.0.113.40").await;
    let told = notices().await;
    assert_eq!(told.len(), 2, "another network: {told:?}");
    assert!(
        told.iter().any(|t| t.contains("from 203.0.113.40")),
        "{told:?}"
    );

    // Off with `new_devices = false` (or with security notices altogether).
    let quiet = Directory::start("[notifications]\nnew_devices = false\n");
    let admin = quiet.admin_token().await;
    quiet.user("kim", Some("Kim-Pass-123456"), &[]).await;
    quiet.token("kim", "Kim-Pass-123456", None).await;
    let res = quiet
        .http
        .post(quiet.server.url("/auth/token"))
        .header("user-agent", "curl/8.5.0")
        .json(&json!({"username": "kim", "password": "Kim-Pass-123456"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        quiet
            .outbox(&admin)
            .await
            .iter()
            .all(|m| m["kind"] != "security_notice"),
        "no notices when turned off"
    );
}

/// The `sessions` entries of the store, counted in a backup the running server writes.
fn stored_sessions(data: &std::path::Path, file: &std::path::Path) -> usize {
    let out = common::run(data, &["backup", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("{\"t\":\"sessions\""))
        .count()
}

/// Ended sessions do not pile up: the running server removes them (at start and every ten
/// minutes), and only them.
#[tokio::test(flavor = "multi_thread")]
async fn the_server_removes_ended_sessions() {
    let mut d = Directory::start("");
    let mut tokens = Vec::new();
    for _ in 0..4 {
        tokens.push(d.admin_token().await);
    }
    for token in &tokens[..3] {
        let (status, _) = d
            .call(Method::POST, "/auth/logout", Some(token), None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sessions.backup");
    let data = d.server.data.clone();
    let before = stored_sessions(&data, &file);
    assert!(before >= 4, "{before}");

    // A restart sweeps at once (the first server keeps the directory until the test ends).
    assert!(d.server.terminate().success());
    let config = data.parent().unwrap().join("rollcall.toml");
    let _restarted = Server::spawn(
        &data,
        &["--config", config.to_str().unwrap()],
        &[("ROLLCALL_BOOTSTRAP_TOKEN", TOKEN)],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut after = stored_sessions(&data, &file);
    while after > before - 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        after = stored_sessions(&data, &file);
    }
    // Exactly the three: the live session stays.
    assert_eq!(after, before - 3, "the three ended sessions are gone");
}

/// The sweep on the core service: only what can no longer be used goes, and sweeping again
/// finds nothing.
#[test]
fn a_sweep_removes_only_ended_sessions_and_expired_links() {
    use rollcall::service::{LoginSource, Swept};
    use time::{Duration as Span, OffsetDateTime};

    let (_dir, service) = common::service_with(Default::default());
    let admin = common::admin();
    let mut user = common::person("jo", rollcall::model::LicenseType::Employee, false);
    user.roles.clear();
    let jo = common::create_with(&service, user, Some("Jo-Pass-1234567"));
    // Each gets a set-password link with its activation: kim has no password, and jo was
    // created inactive (seed 000: such a user sets a password through the link).
    let linked = common::person("kim", rollcall::model::LicenseType::Employee, true);
    common::create(&service, linked);
    service.set_active(&admin, jo.id, true, None).unwrap();
    let from = LoginSource {
        source: rollcall::audit::Source::Rest,
        client: None,
        expects: rollcall::service::Expected::Anyone,
    };
    let issued: Vec<_> = (0..3)
        .map(|_| {
            service
                .open_session("jo", "Jo-Pass-1234567", None, from, None)
                .unwrap()
        })
        .collect();
    for ended in &issued[..2] {
        service
            .revoke_session(&admin, jo.id, ended.session.jti)
            .unwrap();
    }
    let now = OffsetDateTime::now_utc();
    assert_eq!(
        service.sweep_ended(now).unwrap(),
        Swept {
            sessions: 2,
            links: 0
        }
    );
    assert!(
        service
            .authenticate_session(&issued[2].token)
            .unwrap()
            .is_some()
    );
    assert_eq!(service.sweep_ended(now).unwrap(), Swept::default());
    // A year on, the last session and kim's activation link have expired too.
    let later = now + Span::days(365);
    assert_eq!(
        service.sweep_ended(later).unwrap(),
        Swept {
            sessions: 1,
            links: 2
        }
    );
    assert_eq!(service.sweep_ended(later).unwrap(), Swept::default());
}

/// A BER element: `tag`, definite length, `content`.
fn ber(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match content.len() {
        n @ 0..=127 => out.push(n as u8),
        n => {
            let bytes = (n as u32).to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (4 - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
    }
    out.extend_from_slice(content);
    out
}

/// Connects to `ldap`, sends `header` and then a simple bind as the admin; the bind's result
/// code, or `None` when the server closed the connection instead of answering.
async fn bind_through_proxy(ldap: std::net::SocketAddr, header: &[u8]) -> Option<u8> {
    bound_through_proxy(ldap, header).await.1
}

/// As [`bind_through_proxy`], with the connection kept open.
async fn bound_through_proxy(
    ldap: std::net::SocketAddr,
    header: &[u8],
) -> (tokio::net::TcpStream, Option<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let bind = ber(
        0x60,
        &[
            ber(0x02, &[3]),
            ber(0x04, common::ADMIN_DN.as_bytes()),
            ber(0x80, ADMIN_PASSWORD.as_bytes()),
        ]
        .concat(),
    );
    let message = ber(0x30, &[ber(0x02, &[1]), bind].concat());
    let mut conn = tokio::net::TcpStream::connect(ldap).await.unwrap();
    conn.write_all(&[header, &message].concat()).await.unwrap();
    let mut answer = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut answer))
        .await
        .expect("an answer or a close")
        .unwrap_or(0);
    let answer = &answer[..n];
    // BindResponse ([APPLICATION 1]) starts with its ENUMERATED result code.
    let code = answer.iter().position(|b| *b == 0x61).and_then(|at| {
        let rest = &answer[at..];
        let code = rest.windows(2).position(|w| w == [0x0a, 0x01])?;
        rest.get(code + 2).copied()
    });
    (conn, code)
}

/// Behind a load balancer every connection comes from its address: connection limits per
/// address count the client its PROXY header names instead.
#[tokio::test(flavor = "multi_thread")]
async fn behind_a_load_balancer_connection_limits_count_each_client() {
    let d = Directory::start(
        "[ldap]\ntrusted_proxies = [\"127.0.0.0/8\"]\nmax_connections_per_ip = 2\n",
    );
    let header = |client: &str| format!("PROXY TCP4 {client} 127.0.0.1 40000 3890\r\n");
    let mut held = Vec::new();
    for client in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        let (conn, code) = bound_through_proxy(d.server.ldap, header(client).as_bytes()).await;
        assert_eq!(
            code,
            Some(0),
            "{client}: one connection each, all via 127.0.0.1"
        );
        held.push(conn);
    }
    for n in 0..2 {
        let (conn, code) =
            bound_through_proxy(d.server.ldap, header("203.0.113.9").as_bytes()).await;
        assert_eq!(code, Some(0), "connection {n} of one client");
        held.push(conn);
    }
    let (_, code) = bound_through_proxy(d.server.ldap, header("203.0.113.9").as_bytes()).await;
    assert_eq!(code, None, "a third connection of one client is refused");
    // Its slots come back when it closes one.
    held.pop();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (conn, code) =
            bound_through_proxy(d.server.ldap, header("203.0.113.9").as_bytes()).await;
        if code == Some(0) {
            held.push(conn);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the closed connection's slot is free again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `[ldap] trusted_proxies`: a load balancer passing LDAP through with the PROXY protocol (v1
/// or v2) names the client, and that client is the one audited; from a trusted proxy a
/// connection without a valid header is closed unanswered.
#[tokio::test(flavor = "multi_thread")]
async fn ldap_behind_a_proxy_protocol_load_balancer_sees_the_client() {
    let d = Directory::start("[ldap]\ntrusted_proxies = [\"127.0.0.0/8\"]\n");
    let admin = d.admin_token().await;

    let v1 = b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 3890\r\n";
    assert_eq!(bind_through_proxy(d.server.ldap, v1).await, Some(0));
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    v2.extend_from_slice(&[0x21, 0x21, 0, 36]);
    v2.extend_from_slice(
        &"2001:db8::7"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    v2.extend_from_slice(&"::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
    v2.extend_from_slice(&[0x9c, 0x40, 0x0f, 0x32]);
    assert_eq!(bind_through_proxy(d.server.ldap, &v2).await, Some(0));
    let logins = d.audit(&admin, "kind=login_succeeded").await;
    let clients: Vec<&str> = logins
        .iter()
        .filter(|e| e["source"] == "ldap")
        .filter_map(|e| e["client"].as_str())
        .collect();
    assert_eq!(clients, ["203.0.113.7", "2001:db8::7"], "{logins:?}");

    // No header, or a malformed one, from the proxy: closed, and no bind happened.
    assert_eq!(bind_through_proxy(d.server.ldap, b"").await, None);
    assert_eq!(
        bind_through_proxy(d.server.ldap, b"PROXY TCP4 nonsense\r\n").await,
        None
    );
    let logins = d.audit(&admin, "kind=login_succeeded").await;
    assert_eq!(
        logins.iter().filter(|e| e["source"] == "ldap").count(),
        2,
        "{logins:?}"
    );

    // Without trusted proxies, a PROXY header is no LDAP and gets no bind.
    let plain = Directory::start("");
    assert_eq!(bind_through_proxy(plain.server.ldap, b"").await, Some(0));
    assert_eq!(bind_through_proxy(plain.server.ldap, v1).await, None);
}

/// Seed 003's admin notifications ("failed login attempts", "unusual activity patterns"): one
/// password tried against many users stays under each user's lockout, so failures are also
/// counted by client address. With blocking on, the flagged address is refused, while the
/// same users sign in from anywhere else.
#[tokio::test(flavor = "multi_thread")]
async fn failed_sign_ins_for_many_users_from_one_address_flag_it() {
    // The test client (127.0.0.1) plays a proxy, so that the sprayer has an address of its own.
    let d = Directory::start(
        "[lockout]\nspray_threshold = 4\nspray_block = true\nduration_seconds = 600\n\n\
         [http]\ntrusted_proxies = [\"127.0.0.1/32\"]\n",
    );
    let admin = d.admin_token().await;
    d.user("carol", Some("Carol-Pass-123456"), &[]).await;
    d.user("dave", Some("Dave-Pass-1234567"), &[]).await;
    let sprayer = "203.0.113.9";
    for user in ["carol", "dave", "carol", "ghost1"] {
        assert_eq!(
            sign_in_via(&d, user, "Spring2026!", sprayer).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert!(
        d.audit(&admin, "kind=suspicious_sign_ins").await.is_empty(),
        "three different users are not yet four"
    );
    assert_eq!(
        sign_in_via(&d, "ghost2", "Spring2026!", sprayer).await,
        StatusCode::UNAUTHORIZED
    );
    let flagged = d.audit(&admin, "kind=suspicious_sign_ins").await;
    assert_eq!(flagged.len(), 1, "{flagged:?}");
    assert_eq!(flagged[0]["client"], sprayer);
    assert_eq!(flagged[0]["target"], sprayer);
    let detail = "failed sign-ins for 4 different users from 203.0.113.9 within 15 minutes \
                  (the last over rest); its sign-ins are refused for 10 minutes";
    assert_eq!(flagged[0]["detail"], detail);
    let notice = d
        .outbox(&admin)
        .await
        .into_iter()
        .find(|m| m["kind"] == "suspicious_sign_ins")
        .expect("the administrators are told");
    assert_eq!(notice["to"], "admins");
    assert_eq!(
        notice["subject"],
        "Failed sign-ins for many users from one address"
    );
    assert!(
        notice["body"].as_str().unwrap().starts_with(detail),
        "{notice}"
    );

    // The right password from the flagged address is refused too, and says why in the trail.
    assert_eq!(
        sign_in_via(&d, "carol", "Carol-Pass-123456", sprayer).await,
        StatusCode::UNAUTHORIZED
    );
    d.assert_audited(
        &admin,
        "login_failed",
        "the client's address is refused after failed sign-ins for many users",
    )
    .await;
    // From elsewhere the same users are fine: no user was locked by the spray.
    assert_eq!(
        sign_in_via(&d, "carol", "Carol-Pass-123456", "198.51.100.4").await,
        StatusCode::OK
    );
    assert_eq!(d.bind("dave", "Dave-Pass-1234567").await, 0);
}

/// By default an address is reported, not refused: an application that binds on behalf of its
/// users sends every user's typo from one address, and refusing it would let anyone lock
/// everyone out through it.
#[tokio::test(flavor = "multi_thread")]
async fn by_default_a_spraying_address_is_reported_over_ldap_and_not_refused() {
    let d = Directory::start("");
    for n in 0..20 {
        assert_eq!(d.bind(&format!("nobody{n}"), "Spring2026!").await, 49);
    }
    assert_eq!(d.bind("admin", ADMIN_PASSWORD).await, 0, "not refused");
    let admin = d.admin_token().await;
    let flagged = d.audit(&admin, "kind=suspicious_sign_ins").await;
    assert_eq!(flagged.len(), 1, "{flagged:?}");
    assert_eq!(
        flagged[0]["detail"],
        "failed sign-ins for 20 different users from 127.0.0.1 within 15 minutes (the last \
         over ldap); its sign-ins are not refused ([lockout] spray_block = false)"
    );
    assert_eq!(flagged[0]["source"], "ldap");
}

/// Seed 002: password recovery "can be disabled for all, regular or admin users". With it off
/// for administrators, an administrator's request gets the same answer as anyone's, no link,
/// and an audit entry; everyone else still gets links.
#[tokio::test(flavor = "multi_thread")]
async fn recovery_can_be_closed_to_administrators_alone() {
    let d = Directory::start("[recovery]\nadministrators = false\n");
    let admin = d.admin_token().await;
    let admin_id = claims_of(&admin)["sub"].as_str().unwrap().to_string();
    d.user("hal", Some("Hal-Pass-12345"), &[]).await;
    for name in ["admin", "hal"] {
        let (status, _) = d.forgot(json!({"username": name})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{name}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let events = d.audit(&admin, "kind=password_reset_requested").await;
        if events.len() == 2 {
            break events;
        }
        assert!(
            Instant::now() < deadline,
            "both requests are audited: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let for_admin = refused
        .iter()
        .find(|e| e["target"] == admin_id.as_str())
        .expect("the administrator's request is audited");
    assert_eq!(
        for_admin["detail"],
        "no link sent: password recovery is disabled for administrators"
    );
    let links: Vec<Value> = d
        .outbox(&admin)
        .await
        .into_iter()
        .filter(|m| m["kind"] == "password_reset")
        .collect();
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0]["to"], "hal@example.com");
}

/// Seed 003's batch actions, for incident response: every member of a role signed out at
/// once ("access revocation"), and every member's password cleared with a link to choose a
/// new one ("mass password resets"). Administrators only; the asking administrator keeps its
/// own password.
#[tokio::test(flavor = "multi_thread")]
async fn a_roles_members_are_signed_out_and_their_passwords_reset_together() {
    let d = Directory::start("");
    let admin = d.admin_token().await;
    let admin_id = claims_of(&admin)["sub"].as_str().unwrap().to_string();
    let role = d.role("Contractors", json!({})).await;
    d.user("ann", Some("Ann-Pass-1234567"), &[&role]).await;
    d.user("ben", Some("Ben-Pass-1234567"), &[&role]).await;
    d.user("dan", Some("Dan-Pass-1234567"), &[]).await;
    let (status, cid) = d
        .call(
            Method::POST,
            "/scim/v2/Users",
            Some(TOKEN),
            Some(json!({"userName": "cid", "active": true, "password": "Cid-Pass-1234567"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cid}");
    let (status, body) = d
        .call(
            Method::PATCH,
            &format!("/scim/v2/Groups/{role}"),
            Some(&admin),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": cid["id"]}, {"value": admin_id}]}
            ]})),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let ben = d.token("ben", "Ben-Pass-1234567", None).await;
    let dan = d.token("dan", "Dan-Pass-1234567", None).await;
    let alive = |token: String| {
        let d = &d;
        async move {
            d.call(Method::GET, "/auth/sessions", Some(&token), None)
                .await
                .0
        }
    };
    assert_eq!(alive(ben.clone()).await, StatusCode::OK);

    let sign_out = format!("/admin/roles/{role}/sign-out");
    let (status, body) = d.call(Method::POST, &sign_out, Some(TOKEN), None).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "provisioning is no administrator: {body}"
    );
    let (status, body) = d.call(Method::POST, &sign_out, Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["signed_out"], 4, "ann, ben, cid and the admin: {body}");
    assert_eq!(alive(ben).await, StatusCode::UNAUTHORIZED);
    assert_eq!(alive(dan).await, StatusCode::OK, "not a member");
    assert_eq!(d.bind("ann", "Ann-Pass-1234567").await, 0, "passwords stay");

    let admin = d.admin_token().await;
    let reset = format!("/admin/roles/{role}/reset-passwords");
    let (status, body) = d.call(Method::POST, &reset, Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"cleared": 3, "linked": 2, "unreachable": ["cid"]}),
        "the asking administrator is left out"
    );
    for (name, password) in [
        ("ann", "Ann-Pass-1234567"),
        ("ben", "Ben-Pass-1234567"),
        ("cid", "Cid-Pass-1234567"),
    ] {
        assert_eq!(
            d.bind(name, password).await,
            49,
            "{name}'s old password is gone"
        );
    }
    assert_eq!(d.bind("dan", "Dan-Pass-1234567").await, 0);
    assert_eq!(d.bind("admin", ADMIN_PASSWORD).await, 0);
    d.assert_audited(
        &admin,
        "password_changed",
        "password cleared: passwords of role \"Contractors\" reset",
    )
    .await;
    let link = d
        .outbox(&admin)
        .await
        .into_iter()
        .find(|m| m["kind"] == "password_reset" && m["to"] == "ann@example.com")
        .expect("ann is sent a link");
    let token = link_token(link["body"].as_str().unwrap(), "/auth/password/reset");
    let (status, _) = d
        .call(
            Method::POST,
            "/auth/password/reset",
            None,
            Some(json!({"token": token, "password": "Ann-New-Pass-123"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(d.bind("ann", "Ann-New-Pass-123").await, 0);

    // The same from the command line, which asks for --yes first.
    let out = common::run(&d.server.data, &["role", "reset-passwords", "Contractors"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("add --yes to go ahead"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        d.bind("ann", "Ann-New-Pass-123").await,
        0,
        "nothing happened"
    );
    let out = common::run(
        &d.server.data,
        &["role", "reset-passwords", "Contractors", "--yes"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(
        printed.starts_with("Contractors: 2 passwords cleared, 2 links sent\n"),
        "ann's new one and the admin's (the command line is no member): {printed}"
    );
    assert!(printed.contains("no email address: cid"), "{printed}");
    let out = common::run(&d.server.data, &["role", "sign-out", "Contractors"]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "signed out 4 members of Contractors\n"
    );
}

/// Seed 003's batch actions and admin tools ("group notifications", "system announcements"): an
/// administrator mails the active people of some roles (each once), or everyone, from the
/// command line or over REST; inactive people and service accounts are left out, people
/// without an address are named, and a subject that would break a mail header is refused.
#[tokio::test(flavor = "multi_thread")]
async fn administrators_announce_to_the_people_of_roles_or_to_everyone() {
    let d = Directory::start("");
    let admin = d.admin_token().await;
    let support = d.role("Support", json!({})).await;
    let sales = d.role("Sales", json!({})).await;
    d.user("ann", None, &[&support]).await;
    d.user("dan", None, &[&support, &sales]).await;
    d.user("eve", None, &[]).await;
    let (status, bob) = d
        .call(
            Method::POST,
            "/scim/v2/Users",
            Some(TOKEN),
            Some(json!({"userName": "bob", "active": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{bob}");
    let (status, cat) = d
        .call(
            Method::POST,
            "/scim/v2/Users",
            Some(TOKEN),
            Some(json!({"userName": "cat", "active": false,
                "emails": [{"value": "cat@example.com", "type": "work", "primary": true}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cat}");
    let (status, body) = d
        .call(
            Method::PATCH,
            &format!("/scim/v2/Groups/{support}"),
            Some(&admin),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": bob["id"]}, {"value": cat["id"]}]}
            ]})),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let announcements = |outbox: Vec<Value>| -> Vec<(String, String, String)> {
        outbox
            .into_iter()
            .filter(|m| m["kind"] == "announcement")
            .map(|m| {
                (
                    m["to"].as_str().unwrap().to_string(),
                    m["subject"].as_str().unwrap().to_string(),
                    m["body"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };

    // From the command line, to two roles: dan, in both, gets one message.
    let mut announce = std::process::Command::new(common::BIN);
    announce
        .args([
            "announce",
            "--subject",
            "VPN maintenance on Saturday",
            "--role",
            "Support",
            "--role",
            "sales",
            "--data",
        ])
        .arg(&d.server.data)
        .env("ROLLCALL_LOG", "warn");
    let out = common::output_with_stdin(
        &mut announce,
        b"The VPN is down from 08:00 to 10:00 UTC.\nPlan your work around it.\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "2 messages queued\nno email address: bob\n",
        "cat is inactive"
    );
    let sent = announcements(d.outbox(&admin).await);
    let mut to: Vec<&str> = sent.iter().map(|m| m.0.as_str()).collect();
    to.sort_unstable();
    assert_eq!(to, ["ann@example.com", "dan@example.com"], "{sent:?}");
    let (_, subject, body) = &sent[0];
    assert_eq!(subject, "VPN maintenance on Saturday");
    assert!(
        body.contains("The VPN is down from 08:00 to 10:00 UTC.\nPlan your work around it.")
            && body.starts_with("Hello "),
        "{body}"
    );
    d.assert_audited(
        &admin,
        "announcement_sent",
        "\"VPN maintenance on Saturday\" to members of [\"Support\", \"Sales\"]: 2 queued, 1 without an address",
    )
    .await;

    // Over REST, to everyone: every active person with an address, once.
    let (status, body) = d
        .call(
            Method::POST,
            "/admin/announcements",
            Some(&admin),
            Some(json!({"subject": "New expense policy", "text": "Read it on the intranet.", "everyone": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["queued"], 3, "ann, dan and eve: {body}");
    let without: Vec<&str> = body["without_address"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        without.contains(&"bob")
            && without.contains(&"admin")
            && !without.contains(&"provisioning"),
        "service accounts read no mail: {body}"
    );
    let sent = announcements(d.outbox(&admin).await);
    assert_eq!(sent.len(), 5, "{sent:?}");
    assert!(
        sent.iter()
            .any(|m| m.0 == "eve@example.com" && m.1 == "New expense policy")
    );

    // Refused: a subject that would end the mail header, no audience, both, not an administrator.
    for (request, fragment) in [
        (
            json!({"subject": "Hi\r\nBcc: all@example.com", "text": "x", "everyone": true}),
            "one line",
        ),
        (json!({"subject": "Hi", "text": "x"}), "\"everyone\": true"),
        (
            json!({"subject": "Hi", "text": "x", "everyone": true, "roles": ["Support"]}),
            "exclude each other",
        ),
        (
            json!({"subject": "Hi", "text": "  ", "roles": ["Support"]}),
            "needs a text",
        ),
        (
            json!({"subject": "Hi", "text": "x", "roles": ["Nobody"]}),
            "Nobody",
        ),
    ] {
        let (status, body) = d
            .call(
                Method::POST,
                "/admin/announcements",
                Some(&admin),
                Some(request.clone()),
            )
            .await;
        assert!(status.is_client_error(), "{request}: {status} {body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(fragment),
            "{request}: {body}"
        );
    }
    let (status, body) = d
        .call(
            Method::POST,
            "/admin/announcements",
            Some(TOKEN),
            Some(json!({"subject": "Hi", "text": "x", "everyone": true})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    for flags in [&[][..], &["--everyone", "--role", "Support"][..]] {
        let args = [&["announce", "--subject", "Hi"][..], flags].concat();
        let out = common::run(&d.server.data, &args);
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--everyone (not both)"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        announcements(d.outbox(&admin).await).len(),
        5,
        "nothing refused was queued"
    );

    // The outbox, read in parts: by kind, by user, waiting ones, from a time, a few at a time.
    let read = |query: &'static str| {
        let d = &d;
        let admin = admin.clone();
        async move {
            d.call(
                Method::GET,
                &format!("/admin/outbox?{query}"),
                Some(&admin),
                None,
            )
            .await
        }
    };
    let (status, two) = read("kind=announcement&count=2").await;
    assert_eq!(status, StatusCode::OK, "{two}");
    assert_eq!(two.as_array().unwrap().len(), 2);
    assert!(
        two.as_array()
            .unwrap()
            .iter()
            .all(|m| m["kind"] == "announcement")
    );
    let (_, waiting) = read("waiting=true&kind=announcement").await;
    assert_eq!(waiting.as_array().unwrap().len(), 5, "no relay: none sent");
    let (_, later) = read("since=2999-01-01T00:00:00Z").await;
    assert!(later.as_array().unwrap().is_empty());
    let (_, everything) = read("since=2000-01-01T00:00:00Z").await;
    assert_eq!(everything, Value::Array(d.outbox(&admin).await));
    let eve_id = everything
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["to"] == "eve@example.com")
        .unwrap()["user"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, eves) = d
        .call(
            Method::GET,
            &format!("/admin/outbox?user={eve_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert!(
        eves.as_array()
            .unwrap()
            .iter()
            .all(|m| m["user"] == eve_id.as_str()),
        "{eves}"
    );
    let (status, body) = read("kind=postcard").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["detail"].as_str().unwrap().contains("announcement"),
        "the known kinds are listed: {body}"
    );
}

/// Seed 003's user notifications ("account changes", "security events"): a user is told when
/// its password changes, when its email address changes (at the old address), when its
/// authenticator is removed, and when failed sign-ins lock it; not when an identity provider,
/// which owns those, makes a change.
#[tokio::test(flavor = "multi_thread")]
async fn users_are_told_of_password_email_and_authenticator_changes_and_lockouts() {
    let d = Directory::start("");
    let admin = d.admin_token().await;
    let id = d.user("kim", Some("Kim-Pass-1234567"), &[]).await;
    let security = |outbox: Vec<Value>| -> Vec<(String, String)> {
        outbox
            .into_iter()
            .filter(|m| m["kind"] == "security_notice")
            .map(|m| {
                (
                    m["to"].as_str().unwrap().to_string(),
                    m["body"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert!(
        security(d.outbox(&admin).await).is_empty(),
        "creation tells nothing"
    );

    // Her own change, on the web.
    let kim = d.token("kim", "Kim-Pass-1234567", None).await;
    let (status, body) = d
        .call(
            Method::POST,
            "/auth/password",
            Some(&kim),
            Some(json!({"old_password": "Kim-Pass-1234567", "new_password": "Kim-Pass-7654321"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let told = security(d.outbox(&admin).await);
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].0, "kim@example.com");
    assert!(
        told[0]
            .1
            .contains("The password of your account was changed on ")
            && told[0].1.contains(" by you, on the web."),
        "{}",
        told[0].1
    );

    // The identity provider sets a password: its own business, no notice.
    let (status, body) = d
        .call(
            Method::PATCH,
            &format!("/scim/v2/Users/{id}"),
            Some(TOKEN),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "path": "password", "value": "Kim-Idp-Pass-123"}
            ]})),
        )
        .await;
    assert!(status.is_success(), "{body}");
    assert_eq!(security(d.outbox(&admin).await).len(), 1);

    // An administrator moves her mail: the old address hears of it.
    let (status, body) = d
        .call(
            Method::PATCH,
            &format!("/scim/v2/Users/{id}"),
            Some(&admin),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "path": "emails", "value": [{"value": "kim@elsewhere.example", "type": "work", "primary": true}]}
            ]})),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let told = security(d.outbox(&admin).await);
    assert_eq!(told.len(), 2, "{told:?}");
    assert_eq!(told[1].0, "kim@example.com", "the old address");
    assert!(
        told[1]
            .1
            .contains("The email address of your account was changed to kim@elsewhere.example on ")
            && told[1].1.contains(" by an administrator, over SCIM."),
        "{}",
        told[1].1
    );

    // Her authenticator removed by an administrator.
    let kim = d.token("kim", "Kim-Idp-Pass-123", None).await;
    let (_, enrolment) = d
        .call(Method::POST, "/auth/totp/enroll", Some(&kim), None)
        .await;
    let app = TotpEnrolment {
        secret: enrolment["secret"].as_str().unwrap().to_string(),
        confirmed: true,
    };
    let (status, _) = d
        .call(
            Method::POST,
            "/auth/totp/confirm",
            Some(&kim),
            Some(json!({"code": app.current_code(now()).unwrap()})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = d
        .call(
            Method::DELETE,
            &format!("/auth/totp?user={id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let told = security(d.outbox(&admin).await);
    assert_eq!(told.len(), 3, "{told:?}");
    assert_eq!(told[2].0, "kim@elsewhere.example");
    assert!(
        told[2]
            .1
            .contains("The authenticator (two-step sign-in) of your account was removed"),
        "{}",
        told[2].1
    );

    // Someone guesses her password until the lockout: she hears of it, from where.
    for _ in 0..5 {
        let (status, _) = d
            .call(
                Method::POST,
                "/auth/token",
                None,
                Some(json!({"username": "kim", "password": "Guess-Pass-12345"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let told = security(d.outbox(&admin).await);
    assert_eq!(told.len(), 4, "{told:?}");
    assert_eq!(told[3].0, "kim@elsewhere.example");
    assert!(
        told[3].1.contains("Your account was locked on ")
            && told[3]
                .1
                .contains(" after 5 failed sign-ins, the last from 127.0.0.1, ")
            && told[3].1.contains("it opens again at "),
        "{}",
        told[3].1
    );

    // Off with [notifications] security_notices = false.
    let quiet = Directory::start("[notifications]\nsecurity_notices = false\n");
    let admin = quiet.admin_token().await;
    quiet.user("lee", Some("Lee-Pass-1234567"), &[]).await;
    let lee = quiet.token("lee", "Lee-Pass-1234567", None).await;
    let (status, _) = quiet
        .call(
            Method::POST,
            "/auth/password",
            Some(&lee),
            Some(json!({"old_password": "Lee-Pass-1234567", "new_password": "Lee-Pass-7654321"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(security(quiet.outbox(&admin).await).is_empty());
}

/// A member that may read and edit its own roles still does not take itself out of one (an
/// MFA role left would be MFA dropped): `403`, over SCIM as over LDAP, and it stays a member.
#[tokio::test(flavor = "multi_thread")]
async fn leaving_a_role_is_not_a_members_own_change() {
    let d = Directory::start("");
    let admin = d.admin_token().await;
    let role = d
        .role_defined(
            "Night Shift",
            json!({
                "roleType": "employee",
                "settings": {"apiAccess": true},
                "permissions": {
                    "user": {"read": "private", "edit": "private"},
                    "role": {"read": "private", "edit": "private"},
                },
            }),
        )
        .await;
    let nell = d.user("nell", Some("Nell-Pass-123456"), &[&role]).await;
    let token = d.token("nell", "Nell-Pass-123456", None).await;
    let (status, body) = d
        .call(
            Method::PATCH,
            &format!("/scim/v2/Groups/{role}"),
            Some(&token),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "remove", "path": format!("members[value eq \"{nell}\"]")}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("own roles"),
        "{body}"
    );
    let mut ldap = d.bound("nell", "Nell-Pass-123456").await;
    let nell_dn = format!("uid=nell,{PEOPLE}");
    let res = ldap
        .modify(
            "cn=Night Shift,ou=roles,dc=example,dc=com",
            vec![ldap3::Mod::Delete(
                "member",
                std::collections::HashSet::from([nell_dn.as_str()]),
            )],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 50, "insufficientAccessRights: {res:?}");
    let (status, stored) = d
        .call(
            Method::GET,
            &format!("/scim/v2/Groups/{role}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(stored["members"][0]["value"], nell.as_str(), "{stored}");
}

/// Guesses sent all at once are no more than the lockout allows: with a threshold of three,
/// twenty parallel wrong passwords over REST and LDAP have three verified as wrong and the rest
/// refused as locked, and the right password sent among them does not sign in once the lock
/// is there (nor does a session it got come back when the lock ends).
#[tokio::test(flavor = "multi_thread")]
async fn parallel_guesses_are_no_more_than_the_lockout_allows() {
    let d = Directory::start(
        "[lockout]\nthreshold = 3\nwindow_seconds = 900\nduration_seconds = 900\n",
    );
    let admin = d.admin_token().await;
    let id = d.user("gina", Some("Gina-Pass-12345"), &[]).await;
    let guesses = (0..20).map(|i| {
        let d = &d;
        async move {
            if i % 2 == 0 {
                d.login("gina", &format!("Wrong-Guess-{i}"), None).await.0
            } else {
                match d.bind("gina", &format!("Wrong-Guess-{i}")).await {
                    0 => StatusCode::OK,
                    _ => StatusCode::UNAUTHORIZED,
                }
            }
        }
    });
    let answers = futures::future::join_all(guesses).await;
    assert!(
        answers.iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{answers:?}"
    );
    let reasons: Vec<String> = d
        .audit(&admin, &format!("kind=login_failed&target={id}"))
        .await
        .iter()
        .map(|e| e["detail"].as_str().unwrap().to_string())
        .collect();
    let wrong = reasons.iter().filter(|r| *r == "wrong password").count();
    assert_eq!(wrong, 3, "guesses verified: {reasons:?}");
    assert_eq!(reasons.len(), 20, "{reasons:?}");
    let (status, _) = d.login("gina", "Gina-Pass-12345", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "locked");
    let sessions = d
        .audit(&admin, &format!("kind=login_succeeded&target={id}"))
        .await;
    assert!(sessions.is_empty(), "{sessions:?}");
}

/// The result code of a base search of `user_name`'s own entry on `ldap`.
async fn own_entry_rc(ldap: &ldap3::Ldap, user_name: &str) -> u32 {
    let mut ldap = ldap.clone();
    ldap.search(
        &format!("uid={user_name},{PEOPLE}"),
        ldap3::Scope::Base,
        "(objectClass=*)",
        vec!["uid"],
    )
    .await
    .unwrap()
    .1
    .rc
}

/// DESIGN §2: deactivation revokes a user's sessions, for good: reactivated, the user signs
/// in again, and neither an old token nor an LDAP connection bound before works once more.
/// The same for an administrator who stops being one: the act-as sessions it opened end and
/// stay ended if it is made an administrator again.
#[tokio::test(flavor = "multi_thread")]
async fn deactivation_and_a_lost_administrator_role_end_sessions_for_good() {
    let d = Directory::start("");
    let admin = d.admin_token().await;
    let reads_itself = d.role("Reads itself", json!({})).await;
    let lee = d
        .user("lee", Some("Lee-Pass-123456"), &[&reads_itself])
        .await;
    let token = d.token("lee", "Lee-Pass-123456", None).await;
    let own_sessions = |token: String| {
        let d = &d;
        async move {
            d.call(Method::GET, "/auth/sessions", Some(&token), None)
                .await
                .0
        }
    };
    assert_eq!(own_sessions(token.clone()).await, StatusCode::OK);
    let bound = d.bound("lee", "Lee-Pass-123456").await;
    assert_eq!(own_entry_rc(&bound, "lee").await, 0);
    d.replace_attribute(&lee, "active", json!(false)).await;
    assert_eq!(own_sessions(token.clone()).await, StatusCode::UNAUTHORIZED);
    d.replace_attribute(&lee, "active", json!(true)).await;
    assert_eq!(
        own_sessions(token.clone()).await,
        StatusCode::UNAUTHORIZED,
        "a session from before the deactivation stays ended"
    );
    assert_ne!(
        own_entry_rc(&bound, "lee").await,
        0,
        "so does an LDAP connection"
    );
    let again = d.token("lee", "Lee-Pass-123456", None).await;
    assert_eq!(own_sessions(again).await, StatusCode::OK);

    // An administrator's act-as session ends with its role, and stays ended.
    let (_, found) = d
        .call(
            Method::GET,
            "/scim/v2/Groups?filter=displayName+eq+%22Administrators%22",
            Some(&admin),
            None,
        )
        .await;
    let administrators = found["Resources"][0]["id"].as_str().unwrap().to_string();
    let ada = d.user("ada", Some("Ada-Pass-123456"), &[]).await;
    let membership = |op: &'static str| {
        let d = &d;
        let (admin, administrators, ada) = (admin.clone(), administrators.clone(), ada.clone());
        async move {
            let (status, body) = d
                .call(
                    Method::PATCH,
                    &format!("/scim/v2/Groups/{administrators}"),
                    Some(&admin),
                    Some(json!({"schemas": [PATCH_OP], "Operations": [
                        {"op": op, "path": "members", "value": [{"value": ada}]}
                    ]})),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    };
    membership("add").await;
    let ada_token = d.token("ada", "Ada-Pass-123456", None).await;
    let (status, body) = d
        .call(
            Method::POST,
            "/auth/act-as",
            Some(&ada_token),
            Some(json!({"user": "lee", "password": "Ada-Pass-123456"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let acting = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(own_sessions(acting.clone()).await, StatusCode::OK);
    membership("remove").await;
    assert_eq!(own_sessions(acting.clone()).await, StatusCode::UNAUTHORIZED);
    membership("add").await;
    assert_eq!(
        own_sessions(acting).await,
        StatusCode::UNAUTHORIZED,
        "made an administrator again, its old act-as session stays ended"
    );
}

/// A role that comes to require MFA after its members signed in limits their sign-ins as it
/// would limit new ones: a session made with a password alone may enrol an authenticator and
/// nothing else, and an LDAP connection bound without a code does nothing more; the role's
/// rights never come without the second factor.
#[tokio::test(flavor = "multi_thread")]
async fn a_role_that_comes_to_require_mfa_limits_sign_ins_made_without_it() {
    let d = Directory::start("");
    let admin = d.admin_token().await;
    let staff = d.role("Staff", json!({"apiAccess": true})).await;
    d.user("mo", Some("Mo-Pass-1234567"), &[&staff]).await;
    let token = d.token("mo", "Mo-Pass-1234567", None).await;
    let (status, _) = d.call(Method::GET, "/scim/v2/Me", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    let bound = d.bound("mo", "Mo-Pass-1234567").await;
    assert_eq!(own_entry_rc(&bound, "mo").await, 0);

    let (status, body) = d
        .call(
            Method::PATCH,
            &format!("/scim/v2/Groups/{staff}"),
            Some(&admin),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "path": format!("{ROLE}:settings.mfaRequired"), "value": true}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = d.call(Method::GET, "/scim/v2/Me", Some(&token), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.to_string().contains("MFA"), "{body}");
    let (status, body) = d
        .call(Method::POST, "/auth/totp/enroll", Some(&token), None)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "enrolling is what it may do: {body}"
    );
    assert_eq!(
        own_entry_rc(&bound, "mo").await,
        50,
        "insufficientAccessRights"
    );
}
