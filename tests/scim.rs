//! The SCIM view end to end: the real binary, driven over HTTP with reqwest, the way Okta and
//! Microsoft Entra ID provision (each IdP behaviour cites the document it comes from).

mod common;

use common::Server;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "rc_test_provisioning_token_0123456789";
const SCIM: &str = "application/scim+json";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const ROLLCALL: &str = "urn:rollcall:scim:schemas:extension:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ROLE: &str = "urn:rollcall:scim:schemas:extension:2.0:Role";

struct Scim {
    server: Server,
    http: Client,
}

impl Scim {
    fn start(extra: &str) -> Scim {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let server =
            common::start_directory_with_env(extra, &[("ROLLCALL_BOOTSTRAP_TOKEN", TOKEN)]);
        Scim {
            server,
            http: Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        self.server.url(&format!("/scim/v2{path}"))
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_with(method, path, &[], body).await
    }

    /// [`Self::call`] with more request headers (`If-Match`, `If-None-Match`, …).
    async fn call_with(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(TOKEN);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(b) = body {
            req = req.header("content-type", SCIM).body(b.to_string());
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
        };
        (status, value)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, ops: Value) -> (StatusCode, Value) {
        self.call(
            Method::PATCH,
            path,
            Some(json!({"schemas": [PATCH_OP], "Operations": ops})),
        )
        .await
    }

    async fn user(&self, user_name: &str, active: bool) -> String {
        let (status, body) = self
            .post(
                "/Users",
                json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user_name,
                    "name": {"givenName": user_name, "familyName": "Test"},
                    "emails": [{"value": format!("{user_name}@example.com"), "type": "work", "primary": true}],
                    "active": active,
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }
}

fn assert_error(status: StatusCode, body: &Value, expected: u16, scim_type: Option<&str>) {
    assert_eq!(status.as_u16(), expected, "{body}");
    assert_eq!(
        body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
        "{body}"
    );
    assert_eq!(body["status"], expected.to_string(), "{body}");
    if let Some(t) = scim_type {
        assert_eq!(body["scimType"], t, "{body}");
    }
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_created_found_and_never_show_their_password() {
    let s = Scim::start("");
    let (status, created) = s
        .post(
            "/Users",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
                "userName": "Alice.Smith@example.com",
                "externalId": "okta-00u1",
                "password": "Alice-Pass-123",
                "name": {"givenName": "Alice", "familyName": "Smith"},
                "emails": [{"value": "alice@example.com", "type": "work", "primary": true}],
                ENTERPRISE: {"department": "Engineering", "employeeNumber": "1001"},
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["active"], true);
    assert_eq!(created["meta"]["resourceType"], "User");
    assert!(created.get("password").is_none(), "{created}");
    assert!(!created.to_string().contains("argon2"), "{created}");
    assert_eq!(created[ENTERPRISE]["department"], "Engineering");
    assert_eq!(created[ROLLCALL]["licenseType"], "employee");

    let (status, got) = s.get(&format!("/Users/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["userName"], "Alice.Smith@example.com");
    assert_eq!(got["meta"]["version"], created["meta"]["version"]);

    // Lookups the IdPs make (Okta SCIM 2.0 guide: "userName eq" on import and assignment;
    // Entra ID: "Known issues ... SCIM 2.0": externalId and case-insensitive userName).
    for filter in [
        "userName eq \"alice.smith@EXAMPLE.com\"",
        "externalId eq \"okta-00u1\"",
        "emails[type eq \"work\"].value eq \"alice@example.com\"",
        "userName eq \"Alice.Smith@example.com\" and externalId eq \"okta-00u1\"",
    ] {
        let (status, list) = s.get(&format!("/Users?filter={}", urlencode(filter))).await;
        assert_eq!(status, StatusCode::OK, "{filter}: {list}");
        assert_eq!(list["totalResults"], 1, "{filter}: {list}");
        assert_eq!(list["Resources"][0]["id"], id, "{filter}");
    }
    // `+` for spaces, and a random id: 200 with nothing.
    let (status, list) = s.get("/Users?filter=userName+eq+%22nobody%22").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["totalResults"], 0, "{list}");
    let (_, list) = s
        .get(&format!("/Users?filter=id+eq+%22{}%22", uuid_like()))
        .await;
    assert_eq!(list["totalResults"], 0, "{list}");

    // Duplicate userName in another case → 409 uniqueness.
    let (status, body) = s
        .post("/Users", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ALICE.SMITH@example.com"}))
        .await;
    assert_error(status, &body, 409, Some("uniqueness"));
    // So is a look-alike (RFC 8265's fold): fullwidth letters, a decomposed accent.
    for look_alike in ["\u{FF21}lice.smith@example.com", "ALICE.SMITH@EXAMPLE.COM"] {
        let (status, body) = s
            .post("/Users", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": look_alike}))
            .await;
        assert_error(status, &body, 409, Some("uniqueness"));
    }
    s.user("\u{e9}mile", false).await;
    let (status, body) = s
        .post("/Users", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "e\u{301}mile"}))
        .await;
    assert_error(status, &body, 409, Some("uniqueness"));
    let (_, list) = s.get("/Users?filter=userName+eq+%22E%CC%81MILE%22").await;
    assert_eq!(list["totalResults"], 1, "found in any form: {list}");
    // A name with an invisible character would look like another's: refused.
    let (status, body) = s
        .post("/Users", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "alice.smith\u{200B}@example.com"}))
        .await;
    assert_error(status, &body, 400, Some("invalidValue"));
    assert!(
        body["detail"].as_str().unwrap().contains("invisible"),
        "{body}"
    );

    // The same user over LDAP, with the password set through SCIM.
    let mut c = match common::openldap_tool("ldapwhoami") {
        Some(c) => c,
        None => return,
    };
    c.args([
        "-x",
        "-H",
        &format!("ldap://{}", s.server.ldap),
        "-D",
        "uid=Alice.Smith@example.com,ou=people,dc=example,dc=com",
        "-w",
        "Alice-Pass-123",
    ]);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activation_follows_the_license_rules_and_a_refusal_changes_nothing() {
    // admin holds one employee seat; one more fits.
    let s = Scim::start("[licenses]\nemployee = 2\n");
    s.user("first", true).await;
    let (status, body) = s
        .post("/Users", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "second", "active": true}))
        .await;
    assert_eq!(status.as_u16(), 409, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("employee license limit reached: 2/2"),
        "{body}"
    );
    // Created inactive past the limit: allowed.
    let id = s.user("second", false).await;
    // Entra ID sends capitalised ops and string booleans ("Known issues and resolutions with
    // SCIM 2.0 compliance": "Replace", "False"/"True").
    let (status, body) = s
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "Replace", "path": "active", "value": "True"}]),
        )
        .await;
    assert_eq!(status.as_u16(), 409, "{body}");
    let (_, got) = s.get(&format!("/Users/{id}")).await;
    assert_eq!(got["active"], false, "{got}");
    assert_eq!(got["meta"]["version"], json!("W/\"1\""), "{got}");
    // Deactivated users still GET and still match filters.
    let first = s.get("/Users?filter=userName+eq+%22first%22").await.1["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = s
        .patch(
            &format!("/Users/{first}"),
            json!([{"op": "replace", "value": {"active": "False"}}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"], false);
    let (status, body) = s
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "active", "value": true}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"], true);
    let (_, list) = s.get("/Users?filter=active+eq+false").await;
    assert_eq!(list["totalResults"], 1, "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_and_okta_patch_forms() {
    let s = Scim::start("");
    let boss = s.user("boss", true).await;
    let id = s.user("worker", true).await;
    // Entra ID ("Known issues and resolutions with SCIM 2.0 compliance"): value-filtered paths
    // create the entry, dotted keys in a path-less value, URN-qualified extension paths, manager
    // as a plain id string.
    let (status, body) = s
        .patch(
            &format!("/Users/{id}"),
            json!([
                {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"},
                {"op": "Add", "path": "addresses[type eq \"work\"].streetAddress", "value": "1 Main St"},
                {"op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Springfield"},
                {"op": "Replace", "path": "emails[type eq \"work\"].Value", "value": "worker@corp.example"},
                {"op": "Replace", "value": {"name.givenName": "Will", "displayName": "Will Worker"}},
                {"op": "Add", "path": format!("{ENTERPRISE}:manager"), "value": boss},
                {"op": "Replace", "path": format!("{ENTERPRISE}:department"), "value": "Ops"},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["phoneNumbers"][0]["value"], "+1 555 0100", "{body}");
    assert_eq!(body["phoneNumbers"][0]["type"], "mobile", "{body}");
    assert_eq!(
        body["addresses"].as_array().unwrap().len(),
        1,
        "merged into one: {body}"
    );
    assert_eq!(body["addresses"][0]["locality"], "Springfield", "{body}");
    assert_eq!(body["emails"][0]["value"], "worker@corp.example", "{body}");
    assert_eq!(body["name"]["givenName"], "Will");
    assert_eq!(body[ENTERPRISE]["department"], "Ops");
    assert_eq!(body[ENTERPRISE]["manager"]["value"], boss, "{body}");
    assert_eq!(body[ENTERPRISE]["manager"]["displayName"], "boss", "{body}");

    // All or nothing: one bad op in a PATCH leaves the user as it was.
    let (_, before) = s.get(&format!("/Users/{id}")).await;
    let (status, body) = s
        .patch(
            &format!("/Users/{id}"),
            json!([
                {"op": "replace", "path": "title", "value": "Changed"},
                {"op": "replace", "path": "noSuchAttribute", "value": "x"},
            ]),
        )
        .await;
    assert_eq!(status.as_u16(), 400, "{body}");
    let (_, after) = s.get(&format!("/Users/{id}")).await;
    assert_eq!(before, after);

    // Groups (Okta "SCIM 2.0 guide": PATCH members add/remove; replace with id inside; Entra:
    // remove with a value list, excludedAttributes=members).
    let other = s.user("other", true).await;
    let (status, group) = s
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "urn:unknown:entra:extension"], "displayName": "Sales", "members": [{"value": id, "$ref": null}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let gid = group["id"].as_str().unwrap();
    let (status, body) = s
        .patch(
            &format!("/Groups/{gid}"),
            json!([
                {"op": "add", "path": "members", "value": [{"value": other}, {"value": id}]},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, g) = s.get(&format!("/Groups/{gid}")).await;
    assert_eq!(g["members"].as_array().unwrap().len(), 2, "{g}");
    let (_, u) = s.get(&format!("/Users/{other}")).await;
    assert_eq!(u["groups"][0]["display"], "Sales", "{u}");
    let (status, body) = s
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "remove", "path": format!("members[value eq \"{other}\"]")}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, g) = s
        .get(&format!("/Groups/{gid}?excludedAttributes=members"))
        .await;
    assert!(g.get("members").is_none(), "{g}");
    let (_, g) = s.get(&format!("/Groups/{gid}")).await;
    assert_eq!(g["members"].as_array().unwrap().len(), 1, "{g}");
    let (status, body) = s
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "replace", "value": {"id": gid, "displayName": "Sales EMEA", "members": [{"value": other}]}}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, g) = s.get(&format!("/Groups/{gid}")).await;
    assert_eq!(g["displayName"], "Sales EMEA");
    assert_eq!(g["members"][0]["value"], other, "{g}");

    // DELETE anonymises: 404 afterwards, out of its groups.
    let (status, _) = s
        .call(Method::DELETE, &format!("/Users/{other}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = s.get(&format!("/Users/{other}")).await;
    assert_error(status, &body, 404, None);
    let (_, g) = s.get(&format!("/Groups/{gid}")).await;
    assert!(
        g.get("members")
            .is_none_or(|m| m.as_array().unwrap().is_empty()),
        "{g}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etags_bad_input_and_discovery() {
    let s = Scim::start("");
    let id = s.user("etag", true).await;
    let (_, got) = s.get(&format!("/Users/{id}")).await;
    let etag = got["meta"]["version"].as_str().unwrap().to_owned();
    let res = s
        .http
        .get(s.url(&format!("/Users/{id}")))
        .bearer_auth(TOKEN)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    let patch_if = |tag: reqwest::header::HeaderValue| {
        s.http
            .patch(s.url(&format!("/Users/{id}")))
            .bearer_auth(TOKEN)
            .header("if-match", tag)
            .header("content-type", SCIM)
            .body(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "x"}]}).to_string())
            .send()
    };
    let res = patch_if("W/\"999\"".parse().unwrap()).await.unwrap();
    assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(res.headers()["content-type"].to_str().unwrap(), SCIM);
    // RFC 7232: a GET whose If-Match matches nothing current, and a write or delete whose
    // If-None-Match matches the current version (`*` matches any), are not performed.
    let user = format!("/Users/{id}");
    let (status, _) = s
        .call_with(Method::GET, &user, &[("if-match", "W/\"999\"")], None)
        .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    let retitle = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "y"}]});
    for none_match in ["*", etag.as_str()] {
        let condition = [("if-none-match", none_match)];
        let (status, _) = s
            .call_with(Method::PATCH, &user, &condition, Some(retitle.clone()))
            .await;
        assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{none_match}");
        let (status, _) = s.call_with(Method::DELETE, &user, &condition, None).await;
        assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{none_match}");
    }
    let (status, still) = s.get(&format!("/Users/{id}")).await;
    assert_eq!(
        (status, &still["meta"]["version"]),
        (StatusCode::OK, &got["meta"]["version"])
    );
    // A tag with a byte that is not visible ASCII matches nothing: the check still holds.
    let odd = reqwest::header::HeaderValue::from_bytes(b"W/\"1\" \x80").unwrap();
    let res = patch_if(odd).await.unwrap();
    assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED);
    // A write that changes nothing stores nothing: the version, and so another client's
    // If-Match on it, still holds.
    let mut again = got.clone();
    again.as_object_mut().unwrap().remove("meta");
    for _ in 0..2 {
        let (status, body) = s.call(Method::PUT, &user, Some(again.clone())).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["meta"]["version"], etag.as_str(), "{body}");
    }
    let (status, body) = s
        .call_with(
            Method::PATCH,
            &user,
            &[("if-match", &etag)],
            Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": "nickName"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["meta"]["version"], etag.as_str(), "{body}");

    // No token, bad JSON, wrong content type, invalid filter, oversized body.
    let res = s.http.get(s.url("/Users")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = s
        .http
        .post(s.url("/Users"))
        .bearer_auth(TOKEN)
        .header("content-type", SCIM)
        .body("{\"userName\": ")
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_error(status, &body, 400, Some("invalidSyntax"));
    let res = s
        .http
        .post(s.url("/Users"))
        .bearer_auth(TOKEN)
        .header("content-type", "text/plain")
        .body("userName=x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, body) = s.get("/Users?filter=userName+eq").await;
    assert_error(status, &body, 400, Some("invalidFilter"));
    // A literal of the wrong type would match nothing, and an IdP reads an empty page as "no
    // such user" and creates a duplicate: refused, naming the type (RFC 7644 §3.4.2.2).
    for (filter, kind) in [
        ("active+eq+1", "boolean"),
        ("meta.lastModified+gt+%22yesterday%22", "dateTime"),
        ("userName+eq+true", "string"),
    ] {
        let (status, body) = s.get(&format!("/Users?filter={filter}")).await;
        assert_error(status, &body, 400, Some("invalidFilter"));
        assert!(body["detail"].as_str().unwrap().contains(kind), "{body}");
    }
    let (status, body) = s
        .post("/.search", json!({"filter": "active eq \"yes\""}))
        .await;
    assert_error(status, &body, 400, Some("invalidFilter"));
    let (status, body) = s.get("/Users?filter=active+eq+%22True%22").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // So is an attribute the resource does not have (it would match nothing, as silently).
    for filter in [
        "foo+eq+%22x%22",
        "name.foo+pr",
        "emails%5Bfoo+eq+%22x%22%5D",
    ] {
        let (status, body) = s.get(&format!("/Users?filter={filter}")).await;
        assert_error(status, &body, 400, Some("invalidFilter"));
    }
    let (status, body) = s
        .post(
            "/.search",
            json!({"filter": "displayName eq \"x\" or userName eq \"x\""}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "an attribute of one of the types searched: {body}"
    );
    // A long chain of comparisons is refused, not walked until the stack runs out; the most
    // allowed still works.
    let chain = |n: usize| vec!["userName pr"; n].join(" and ");
    let (status, body) = s
        .post("/Users/.search", json!({"filter": chain(257)}))
        .await;
    assert_error(status, &body, 400, Some("invalidFilter"));
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("more than 256 comparisons"),
        "{body}"
    );
    let (status, body) = s
        .post("/Users/.search", json!({"filter": chain(256), "count": 1}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // An oversized body is 413 every time, never a reset connection: the server reads and
    // discards the rest of the body before it answers, so a client that sends the whole body
    // before reading (as the IdPs' clients do) gets the answer.
    // 12 MiB: more than the socket buffers hold, so the server must read it.
    let big = json!({"userName": "big", "title": "x".repeat(12 * 1024 * 1024)}).to_string();
    for attempt in 0..3 {
        // A client of its own each time, so that every attempt is a new connection.
        let res = Client::new()
            .post(s.url("/Users"))
            .bearer_auth(TOKEN)
            .header("content-type", SCIM)
            .body(big.clone())
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!("attempt {attempt}: no HTTP answer to the oversized body: {e}")
            });
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_error(status, &body, 413, None);
    }
    // A body without a declared length that turns out too long: the same.
    let mut chunked = Vec::new();
    for _ in 0..192 {
        chunked.extend_from_slice(format!("{:x}\r\n", 64 * 1024).as_bytes());
        chunked.extend_from_slice(&[b' '; 64 * 1024]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(
        raw_post_answer(s.server.http, "transfer-encoding: chunked", &chunked).await,
        "HTTP/1.1 413 Payload Too Large"
    );
    // A client that asks `Expect: 100-continue` is answered at once and never asked for the body.
    let declared = format!(
        "content-length: {}\r\nexpect: 100-continue",
        10 * 1024 * 1024
    );
    assert_eq!(
        raw_post_answer(s.server.http, &declared, b"").await,
        "HTTP/1.1 413 Payload Too Large"
    );
    let (status, body) = s
        .post("/Users", json!({"userName": "typed", "active": 42}))
        .await;
    assert_error(status, &body, 400, Some("invalidValue"));
    // Nothing half-written by any of them.
    let (_, list) = s
        .get("/Users?filter=userName+eq+%22big%22+or+userName+eq+%22typed%22")
        .await;
    assert_eq!(list["totalResults"], 0, "{list}");

    // Discovery describes what is served, including the Account resource type.
    let (status, spc) = s.get("/ServiceProviderConfig").await;
    assert_eq!(status, StatusCode::OK, "{spc}");
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["etag"]["supported"], true);
    let (_, types) = s.get("/ResourceTypes").await;
    let names: Vec<&str> = types["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Account") && names.contains(&"User") && names.contains(&"Group"),
        "{types}"
    );
    let (status, schema) = s.get(&format!("/Schemas/{ROLLCALL}")).await;
    assert_eq!(status, StatusCode::OK, "{schema}");
    assert!(schema.to_string().contains("licenseType"), "{schema}");
}

/// The status line of the answer to a `POST /Users` with the `framing` header(s), sent whole
/// before anything is read, as a plain TCP client would.
async fn raw_post_answer(addr: std::net::SocketAddr, framing: &str, body: &[u8]) -> String {
    let headers = format!("authorization: Bearer {TOKEN}\r\ncontent-type: {SCIM}\r\n{framing}");
    common::raw_post_status(addr, "/scim/v2/Users", &headers, body).await
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn uuid_like() -> &'static str {
    "0192f1c4-7a3e-7cc1-9a5b-3c2d1e0f9a8b"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_resolves_bulk_ids_and_accounts_scope_partners() {
    let s = Scim::start("");
    let (status, body) = s
        .post(
            "/Bulk",
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "failOnErrors": 1,
                "Operations": [
                    {"method": "POST", "path": "/Accounts", "bulkId": "acme",
                     "data": {"schemas": ["urn:rollcall:scim:schemas:2.0:Account"], "name": "Acme"}},
                    {"method": "POST", "path": "/Users", "bulkId": "p1",
                     "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "partner1",
                              ROLLCALL: {"licenseType": "partner", "account": {"value": "bulkId:acme"}}}},
                    {"method": "POST", "path": "/Groups", "bulkId": "g1",
                     "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Acme users",
                              "members": [{"value": "bulkId:p1"}]}},
                ]
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ops = body["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 3, "{body}");
    for op in ops {
        assert_eq!(op["status"], "201", "{body}");
    }
    let (_, list) = s.get("/Users?filter=userName+eq+%22partner1%22").await;
    let user = &list["Resources"][0];
    assert_eq!(user[ROLLCALL]["account"]["display"], "Acme", "{user}");
    assert_eq!(user["groups"][0]["display"], "Acme users", "{user}");
    // Two operations with one bulkId: refused whole, nothing created.
    let user = |name: &str| json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name});
    let (status, body) = s
        .post(
            "/Bulk",
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "Operations": [
                    {"method": "POST", "path": "/Users", "bulkId": "twin", "data": user("twin1")},
                    {"method": "POST", "path": "/Users", "bulkId": "twin", "data": user("twin2")},
                ]
            }),
        )
        .await;
    assert_error(status, &body, 400, Some("invalidValue"));
    let (_, list) = s.get("/Users?filter=userName+sw+%22twin%22").await;
    assert_eq!(list["totalResults"], 0, "{list}");
    // A partner without an account is refused, and failOnErrors stops the rest.
    let (status, body) = s
        .post(
            "/Bulk",
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "failOnErrors": 1,
                "Operations": [
                    {"method": "POST", "path": "/Users", "bulkId": "bad",
                     "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "loner",
                              ROLLCALL: {"licenseType": "partner"}}},
                    {"method": "POST", "path": "/Users", "bulkId": "never",
                     "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "never"}},
                ]
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ops = body["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 1, "stopped after the first error: {body}");
    assert_eq!(ops[0]["status"], "400", "{body}");
    assert!(
        ops[0]["response"]["detail"]
            .as_str()
            .unwrap()
            .contains("account"),
        "{body}"
    );
    let (_, list) = s.get("/Users?filter=userName+eq+%22never%22").await;
    assert_eq!(list["totalResults"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_of_the_whole_object_as_read_updates_and_unknown_ids_are_404() {
    let s = Scim::start("");
    let id = s.user("putter", true).await;
    let (_, mut whole) = s.get(&format!("/Users/{id}")).await;
    // Sent back as read, with read-only fields, an empty groups list and a null.
    whole["title"] = json!("Director");
    whole["groups"] = json!([]);
    whole["nickName"] = Value::Null;
    let (status, body) = s
        .call(Method::PUT, &format!("/Users/{id}"), Some(whole))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["title"], "Director");
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["meta"]["version"], "W/\"2\"", "{body}");
    for missing in [
        "/Users/not-a-uuid",
        "/Users/0192f1c4-7a3e-7cc1-9a5b-3c2d1e0f9a8b",
        "/Groups/nope",
    ] {
        let (status, body) = s.get(missing).await;
        assert_error(status, &body, 404, None);
    }
}

/// Okta updates a profile with PUT and sends only the attributes it maps: never the Rollcall
/// extension, and not always `active`. What the body does not assert keeps its value (RFC 7644
/// §3.5.1): a partner stays a partner of its account, a deactivated person stays deactivated
/// (no seat taken); asserted values still apply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_without_the_rollcall_extension_or_active_keeps_them() {
    let s = Scim::start("");
    let (status, account) = s
        .post(
            "/Accounts",
            json!({"schemas": ["urn:rollcall:scim:schemas:2.0:Account"], "name": "Acme"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{account}");
    let (status, partner) = s
        .post(
            "/Users",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "pat",
                   "active": false,
                   ROLLCALL: {"licenseType": "partner", "account": {"value": account["id"]}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{partner}");
    let id = partner["id"].as_str().unwrap();
    let okta_put = |active: Option<bool>| {
        let mut body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "pat",
            "name": {"givenName": "Pat", "familyName": "Lee"},
            "emails": [{"value": "pat@acme.example", "type": "work", "primary": true}],
        });
        if let Some(active) = active {
            body["active"] = json!(active);
        }
        body
    };
    let (status, body) = s
        .call(Method::PUT, &format!("/Users/{id}"), Some(okta_put(None)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"]["givenName"], "Pat", "{body}");
    assert_eq!(body["active"], false, "not reactivated: {body}");
    assert_eq!(body[ROLLCALL]["licenseType"], "partner", "{body}");
    assert_eq!(body[ROLLCALL]["account"]["value"], account["id"], "{body}");
    let (_, stored) = s.get(&format!("/Users/{id}")).await;
    assert_eq!(stored["active"], false, "{stored}");

    // Asserted, they apply: activated, then moved to another license.
    let (status, body) = s
        .call(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(okta_put(Some(true))),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body[ROLLCALL]["licenseType"], "partner", "{body}");
    let mut to_customer = okta_put(Some(true));
    to_customer[ROLLCALL] = json!({"licenseType": "customer", "account": {"value": account["id"]}});
    let (status, body) = s
        .call(Method::PUT, &format!("/Users/{id}"), Some(to_customer))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body[ROLLCALL]["licenseType"], "customer", "{body}");
    // `kind` is immutable (RFC 7644 §3.5.1): said again it is accepted, changed it is
    // `400 mutability`, never dropped in silence.
    let version = body["meta"]["version"].clone();
    for (kind, status) in [("Person", StatusCode::OK), ("api", StatusCode::BAD_REQUEST)] {
        let mut put = okta_put(Some(true));
        put[ROLLCALL] =
            json!({"licenseType": "customer", "account": {"value": account["id"]}, "kind": kind});
        let (got, body) = s
            .call(Method::PUT, &format!("/Users/{id}"), Some(put))
            .await;
        assert_eq!(got, status, "{kind}: {body}");
        if status == StatusCode::BAD_REQUEST {
            assert_error(got, &body, 400, Some("mutability"));
        }
    }
    let (_, stored) = s.get(&format!("/Users/{id}")).await;
    assert_eq!(stored[ROLLCALL]["kind"], "person", "{stored}");
    assert_eq!(stored["meta"]["version"], version, "{stored}");
}

/// A role's members hold the license its type names: one of another type is a bad value
/// (400 `invalidValue`) that names both types, each with the article it takes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_of_another_license_type_is_refused_naming_both_types() {
    let s = Scim::start("");
    let (status, account) = s
        .post(
            "/Accounts",
            json!({"schemas": ["urn:rollcall:scim:schemas:2.0:Account"], "name": "Acme"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{account}");
    let (status, pat) = s
        .post(
            "/Users",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "pat",
                   "active": true,
                   ROLLCALL: {"licenseType": "partner", "account": {"value": account["id"]}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{pat}");
    let ann = s.user("ann", true).await;
    // Typed roles are the administrators' to make.
    let admin = common::admin_session(&s.http, &s.server.url("")).await;
    for (name, role_type, member, says) in [
        (
            "Staff",
            "employee",
            pat["id"].as_str().unwrap(),
            "role \"Staff\" is an employee role; user \"pat\" holds a partner license",
        ),
        (
            "Resellers",
            "partner",
            ann.as_str(),
            "role \"Resellers\" is a partner role; user \"ann\" holds an employee license",
        ),
    ] {
        let res = s
            .http
            .post(s.url("/Groups"))
            .bearer_auth(&admin)
            .header("content-type", SCIM)
            .body(
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", ROLE],
                       "displayName": name, ROLE: {"roleType": role_type}})
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let role: Value = res.json().await.unwrap();
        let res = s
            .http
            .patch(s.url(&format!("/Groups/{}", role["id"].as_str().unwrap())))
            .bearer_auth(&admin)
            .header("content-type", SCIM)
            .body(
                json!({"schemas": [PATCH_OP], "Operations": [
                    {"op": "add", "path": "members", "value": [{"value": member}]}
                ]})
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_error(status, &body, 400, Some("invalidValue"));
        assert!(body["detail"].as_str().unwrap().contains(says), "{body}");
    }
}

/// A Group PUT is one change: a member that does not exist is a bad value (400
/// `invalidValue`, not 404, since the group is there), and the renamed definition sent with it
/// is not kept either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_put_with_a_bad_member_changes_nothing() {
    let s = Scim::start("");
    let ann = s.user("ann", true).await;
    let (status, group) = s
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                   "displayName": "Readers", "members": [{"value": ann}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let id = group["id"].as_str().unwrap();
    let (_, stored) = s.get(&format!("/Groups/{id}")).await;
    assert_eq!(
        stored["meta"]["version"], group["meta"]["version"],
        "the POST's answer is what is stored"
    );
    let nobody = "01a2517c-aa0a-7134-a63a-000000000000";
    let (status, body) = s
        .call(
            Method::PUT,
            &format!("/Groups/{id}"),
            Some(
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                        "displayName": "Readers renamed",
                        "members": [{"value": ann}, {"value": nobody}]}),
            ),
        )
        .await;
    assert_error(status, &body, 400, Some("invalidValue"));
    let (_, now) = s.get(&format!("/Groups/{id}")).await;
    assert_eq!(now["displayName"], "Readers", "{now}");
    assert_eq!(now["meta"]["version"], group["meta"]["version"], "{now}");
    let (status, body) = s
        .patch(
            &format!("/Groups/{id}"),
            json!([{"op": "add", "path": "members", "value": [{"value": nobody}]}]),
        )
        .await;
    assert_error(status, &body, 400, Some("invalidValue"));
    // A PUT that only sends the members back changes nothing and keeps the version.
    let (status, body) = s
        .call(
            Method::PUT,
            &format!("/Groups/{id}"),
            Some(
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                        "displayName": "Readers", "members": [{"value": ann}]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["meta"]["version"], group["meta"]["version"], "{body}");
}

/// Okta and Entra import a directory page by page (`startIndex`, `count=100`). Pages come from
/// positions over the users that are not anonymised, in creation order: every user exactly
/// once, `totalResults` equal on every page, anonymised users gone from both, and a page that
/// starts past the end is empty with the same total.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_list_every_live_user_once_with_a_steady_total() {
    let scim = Scim::start("");
    let mut ids = Vec::new();
    for i in 0..23 {
        ids.push(scim.user(&format!("page{i:02}"), i % 3 != 0).await);
    }
    // Two users anonymised (DELETE): they leave the pages and the total.
    for gone in [&ids[4], &ids[17]] {
        let (status, _) = scim
            .call(Method::DELETE, &format!("/Users/{gone}"), None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let (_, all) = scim.get("/Users?count=1000").await;
    let total = all["totalResults"].as_u64().unwrap();
    let everyone = resource_ids(&all);
    assert_eq!(everyone.len() as u64, total);
    // A filtered list takes another path (a scan with the filter evaluated): the same users,
    // in the same order.
    let (_, filtered) = scim.get("/Users?count=1000&filter=userName+pr").await;
    assert_eq!(resource_ids(&filtered), everyone);
    // The admin and the provisioning account are users too; the 21 live page users are there.
    let live: Vec<&String> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 4 && *i != 17)
        .map(|(_, id)| id)
        .collect();
    for id in &live {
        assert!(everyone.contains(id), "{id} is listed");
    }
    assert!(!everyone.contains(&ids[4]) && !everyone.contains(&ids[17]));

    let mut paged = Vec::new();
    let mut start = 1;
    loop {
        let (status, page) = scim
            .get(&format!("/Users?startIndex={start}&count=5"))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["totalResults"].as_u64(), Some(total), "{page}");
        assert_eq!(page["startIndex"].as_u64(), Some(start as u64));
        let ids = resource_ids(&page);
        assert_eq!(page["itemsPerPage"].as_u64(), Some(ids.len() as u64));
        if ids.is_empty() {
            break;
        }
        assert!(ids.len() <= 5);
        paged.extend(ids);
        start += 5;
    }
    assert_eq!(paged, everyone, "the pages, in order, are the whole list");
    assert!(start as u64 > total);
}

/// The ids of a list response's resources, in order (none when it has no `Resources`).
fn resource_ids(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .map(|resources| {
            resources
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

const ACME: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";

/// DESIGN §2: custom attributes in a typed extension map. Declared in the config, they are a
/// SCIM extension schema (discovery, POST, PATCH with URN paths, filters, type checks) and LDAP
/// attributes of their own. Entra ID and Okta send custom attributes in such a schema
/// ("urn:ietf:params:scim:schemas:extension:<name>:2.0:User", Entra's attribute mapping docs).
#[tokio::test(flavor = "multi_thread")]
async fn custom_attributes_are_typed_extension_attributes_over_scim_and_ldap() {
    let s = Scim::start(&format!(
        "[custom_attributes]\nschema = \"{ACME}\"\n\
         [[custom_attributes.attributes]]\nname = \"costCenterCode\"\nldap = \"acmeCostCenter\"\n\
         description = \"Finance cost centre\"\n\
         [[custom_attributes.attributes]]\nname = \"badgeNumbers\"\ntype = \"integer\"\nmulti_valued = true\n"
    ));
    let (status, schema) = s.get(&format!("/Schemas/{ACME}")).await;
    assert_eq!(status, StatusCode::OK, "{schema}");
    let names: Vec<&str> = schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["costCenterCode", "badgeNumbers"]);
    assert_eq!(schema["attributes"][1]["type"], "integer");
    assert_eq!(schema["attributes"][1]["multiValued"], true);
    let (_, user_type) = s.get("/ResourceTypes/User").await;
    assert!(
        user_type["schemaExtensions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["schema"] == ACME),
        "{user_type}"
    );

    let (status, created) = s
        .post(
            "/Users",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ACME],
                   "userName": "cora", "active": false,
                   ACME: {"costCenterCode": "CC-1", "badgeNumbers": [7, 9]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created[ACME]["costCenterCode"], "CC-1");
    assert_eq!(created[ACME]["badgeNumbers"], json!([7, 9]));
    assert!(
        created["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(ACME))
    );
    let id = created["id"].as_str().unwrap().to_string();

    // Wrong types are refused, and nothing changes.
    let (status, body) = s
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": format!("{ACME}:badgeNumbers"), "value": ["x"]}]),
        )
        .await;
    assert_error(status, &body, 400, Some("invalidValue"));
    // A URN path, and a path-less value keyed by the schema.
    let (status, body) = s
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": format!("{ACME}:costCenterCode"), "value": "CC-2"}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body[ACME]["costCenterCode"], "CC-2");
    assert_eq!(body[ACME]["badgeNumbers"], json!([7, 9]));
    let (status, body) = s
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "Add", "value": {format!("{ACME}:badgeNumbers"): [42]}}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body[ACME]["badgeNumbers"], json!([7, 9, 42]));

    let filter = urlencode(&format!("{ACME}:costCenterCode eq \"CC-2\""));
    let (status, found) = s.get(&format!("/Users?filter={filter}")).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["totalResults"], 1, "{found}");
    assert_eq!(found["Resources"][0]["id"], id.as_str());

    // Over LDAP, under its LDAP name, for reading and for filters.
    let mut ldap = common::admin_connection(s.server.ldap).await;
    let (entries, _) = ldap
        .search(
            "ou=people,dc=example,dc=com",
            ldap3::Scope::OneLevel,
            "(acmeCostCenter=CC-2)",
            vec!["acmeCostCenter", "badgeNumbers"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    assert_eq!(entries.len(), 1);
    let entry = ldap3::SearchEntry::construct(entries[0].clone());
    assert_eq!(entry.attrs["acmeCostCenter"], ["CC-2"]);
    assert_eq!(entry.attrs["badgeNumbers"], ["7", "9", "42"]);
    // The subschema entry describes them, typed as declared.
    let (entries, _) = ldap
        .search(
            "cn=subschema",
            ldap3::Scope::Base,
            "(objectClass=*)",
            vec!["attributeTypes"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    let types = &ldap3::SearchEntry::construct(entries[0].clone()).attrs["attributeTypes"];
    let described = |name: &str| {
        types
            .iter()
            .find(|t| t.contains(&format!("NAME '{name}'")))
            .unwrap_or_else(|| panic!("{name} not in the subschema"))
            .clone()
    };
    let cost = described("acmeCostCenter");
    assert!(
        cost.contains("SINGLE-VALUE") && cost.contains("Finance cost centre"),
        "{cost}"
    );
    let badges = described("badgeNumbers");
    assert!(
        badges.contains("1.3.6.1.4.1.1466.115.121.1.27") && !badges.contains("SINGLE-VALUE"),
        "{badges}"
    );
    // And written over LDAP: values typed as declared, a wrong one refused.
    let dn = "uid=cora,ou=people,dc=example,dc=com";
    let res = ldap
        .modify(
            dn,
            vec![
                ldap3::Mod::Replace("acmeCostCenter", ["CC-3"].into()),
                ldap3::Mod::Add("badgeNumbers", ["5"].into()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    let (_, user) = s.get(&format!("/Users/{id}")).await;
    assert_eq!(user[ACME]["costCenterCode"], "CC-3");
    assert_eq!(user[ACME]["badgeNumbers"], json!([7, 9, 42, 5]));
    // RFC 4517's Integer: no sign but `-`, no leading zeros, no spaces; what is written is
    // what is read back.
    for bad in ["five", "+6", "06", " 6", "-0"] {
        let res = ldap
            .modify(dn, vec![ldap3::Mod::Add("badgeNumbers", [bad].into())])
            .await
            .unwrap();
        assert_eq!(res.rc, 19, "constraintViolation for {bad:?}: {res:?}");
        assert!(res.text.contains("is not an integer"), "{res:?}");
    }
    // An integer of the syntax (which has no bound) that the store cannot hold says so.
    let res = ldap
        .modify(
            dn,
            vec![ldap3::Mod::Add(
                "badgeNumbers",
                ["9223372036854775808"].into(),
            )],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 19, "constraintViolation: {res:?}");
    assert!(
        res.text.contains("is out of range") && res.text.contains("9223372036854775807"),
        "{res:?}"
    );
    let res = ldap
        .modify(
            dn,
            vec![ldap3::Mod::Replace("acmeCostCenter", ["CC-2"].into())],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");

    let (status, body) = s
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "remove", "path": format!("{ACME}:costCenterCode")}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body[ACME].get("costCenterCode").is_none(), "{body}");
    let (_, found) = s.get(&format!("/Users?filter={filter}")).await;
    assert_eq!(found["totalResults"], 0, "{found}");
}

/// A custom attribute whose type the config changes (string → integer) keeps the values
/// stored before; updates of those users that do not set it go through, and a new value is
/// checked against the new type.
#[test]
fn a_custom_attribute_retyped_in_the_config_does_not_block_other_updates() {
    use rollcall::model::{CustomAttribute, CustomAttributes, CustomType};
    use rollcall::service::Policy;
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let declared = |kind: CustomType| {
        let mut custom = CustomAttributes::default();
        custom.attributes.push(CustomAttribute {
            name: "costCenterCode".into(),
            kind,
            multi_valued: false,
            ldap: None,
            description: None,
        });
        custom
    };
    let open = |kind: CustomType| {
        let store = common::when_released(|| {
            rollcall::store::SledStore::open(
                &dir.path().join("store"),
                &rollcall::store::StoreOptions::default(),
            )
        });
        rollcall::service::Service::new(
            Arc::new(store),
            Policy {
                argon2: common::fast_argon2(),
                custom: Arc::new(declared(kind)),
                ..Policy::default()
            },
        )
    };
    let key = declared(CustomType::String).key(&declared(CustomType::String).attributes[0]);
    let alice = {
        let service = open(CustomType::String);
        let mut u = common::person("alice", rollcall::model::LicenseType::Employee, false);
        u.extensions.insert(key.clone(), serde_json::json!("CC-42"));
        common::create(&service, u)
    };
    let service = open(CustomType::Integer);
    let changed = service
        .update_user(&common::admin(), alice.id, None, |u| {
            u.title = Some("Engineer".into());
            Ok(())
        })
        .expect("a change that leaves the attribute alone");
    assert_eq!(changed.extensions[&key], "CC-42");
    let refused = service.update_user(&common::admin(), alice.id, None, |u| {
        u.extensions.insert(key.clone(), serde_json::json!("CC-43"));
        Ok(())
    });
    assert!(
        matches!(
            refused,
            Err(rollcall::service::ServiceError::Invalid { .. })
        ),
        "{refused:?}"
    );
}

/// Identity providers send membership changes in parallel and never `If-Match` (Okta's "Update
/// specific Group membership", Entra's "Update Group [Add Members]": 200 or 204 expected):
/// a PATCH that loses a race to another writer of the group, or of the user, is applied again
/// rather than answered 412, a status RFC 7232 §3.1 keeps for a condition the client sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_patches_without_if_match_all_apply() {
    let s = Scim::start("");
    let (status, group) = s
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Crowd"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let gid = group["id"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for i in 0..24 {
        ids.push(s.user(&format!("crowd{i}"), true).await);
    }
    let group_path = format!("/Groups/{gid}");
    let first_path = format!("/Users/{}", ids[0]);
    let adds = ids.iter().map(|id| {
        s.patch(
            &group_path,
            json!([{"op": "Add", "path": "members", "value": [{"value": id}]}]),
        )
    });
    let titles = (0..12).map(|i| {
        s.patch(
            &first_path,
            json!([{"op": "Replace", "path": "title", "value": format!("title {i}")}]),
        )
    });
    let (added, titled) = futures::join!(
        futures::future::join_all(adds),
        futures::future::join_all(titles)
    );
    for (status, body) in added.iter().chain(&titled) {
        assert_eq!(*status, StatusCode::OK, "{body}");
    }
    let (_, group) = s.get(&group_path).await;
    let mut members: Vec<&str> = group["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    members.sort();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(members, expected);
    let (_, first) = s.get(&first_path).await;
    assert!(
        first["title"].as_str().unwrap().starts_with("title "),
        "{first}"
    );
    assert_eq!(first["groups"][0]["value"], gid.as_str(), "{first}");
}

/// Names are stored without the spaces around them; an identity provider that created one
/// with a trailing space filters on the value it sent (Entra's "query, then create", Okta's
/// "Determine if the User already exists") and must find it, not create it again into a 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_sent_with_spaces_around_it_is_found_as_sent() {
    let s = Scim::start("");
    let (status, group) = s
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Trail bed "}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    assert_eq!(group["displayName"], "Trail bed");
    let (status, user) = s
        .post(
            "/Users",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": " sp@example.com ",
                "emails": [{"value": " sp@example.com ", "type": "work"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    for (path, id) in [
        (
            "/Groups?excludedAttributes=members&filter=displayName+eq+%22Trail+bed+%22",
            &group["id"],
        ),
        (
            "/Users?filter=userName+eq+%22+sp%40example.com+%22",
            &user["id"],
        ),
        (
            "/Users?filter=emails%5Btype+eq+%22work%22%5D.value+eq+%22sp%40example.com+%22",
            &user["id"],
        ),
    ] {
        let (status, found) = s.get(path).await;
        assert_eq!(status, StatusCode::OK, "{found}");
        assert_eq!(found["totalResults"], 1, "{path}: {found}");
        assert_eq!(&found["Resources"][0]["id"], id, "{path}");
    }
    // Substring filters keep the spaces they are given.
    let (_, found) = s.get("/Groups?filter=displayName+co+%22bed+%22").await;
    assert_eq!(found["totalResults"], 0, "{found}");
}

/// RFC 7643 §4.1 attributes `/Schemas` lists as readWrite that no rule of the directory reads:
/// stored as sent and returned (Entra ID, "Tutorial: Develop and plan provisioning for a SCIM
/// endpoint": "Values sent should be stored in the same format they were sent"), written by
/// POST, PUT and every PATCH form as emails are. SCIM `roles` are the identity provider's
/// values (Entra's app roles), not Rollcall roles: no Group comes of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_attributes_an_idp_sends_are_stored_and_returned() {
    use base64::Engine;
    let s = Scim::start("");
    let cert = rcgen::generate_simple_self_signed(vec!["dana.example".into()]).unwrap();
    let cert = base64::engine::general_purpose::STANDARD.encode(cert.cert.der());
    let entra_role = |primary: &str, value: &str| json!({"primary": primary, "type": "WindowsAzureActiveDirectoryRole", "value": value});
    let (status, created) = s
        .post(
            "/Users",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "dana",
                "profileUrl": "https://people.example/dana",
                "ims": [{"value": "dana@xmpp.example", "type": "xmpp"}],
                "photos": [{"value": "https://photos.example/dana.jpg", "type": "photo", "primary": true}],
                "entitlements": [{"value": "E5", "display": "Office E5"}],
                "roles": [entra_role("False", "R")],
                "x509Certificates": [{"value": cert}],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let user = format!("/Users/{id}");
    let (_, got) = s.get(&user).await;
    for body in [&created, &got] {
        assert_eq!(body["profileUrl"], "https://people.example/dana", "{body}");
        assert_eq!(
            body["ims"],
            json!([{"value": "dana@xmpp.example", "type": "xmpp"}])
        );
        assert_eq!(body["photos"][0]["primary"], true, "{body}");
        assert_eq!(body["entitlements"][0]["display"], "Office E5", "{body}");
        assert_eq!(
            body["roles"],
            json!([{"value": "R", "type": "WindowsAzureActiveDirectoryRole"}])
        );
        assert_eq!(body["x509Certificates"][0]["value"], cert.as_str());
        assert!(body.get("groups").is_none(), "no Rollcall role: {body}");
    }
    let (_, groups) = s.get("/Groups?filter=displayName+eq+%22R%22").await;
    assert_eq!(groups["totalResults"], 0, "{groups}");

    // Entra adds a role as a PATCH; the new primary one takes primary from the others.
    let (status, body) = s
        .patch(
            &user,
            json!([{"op": "Add", "path": "roles", "value": [entra_role("True", "Admin")]}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["roles"],
        json!([
            {"value": "R", "type": "WindowsAzureActiveDirectoryRole"},
            {"value": "Admin", "type": "WindowsAzureActiveDirectoryRole", "primary": true},
        ])
    );
    let (status, body) = s
        .patch(
            &user,
            json!([
                {"op": "remove", "path": "roles[value eq \"R\"]"},
                {"op": "Replace", "path": "roles[type eq \"WindowsAzureActiveDirectoryRole\"].display", "value": "Administrator"},
                {"op": "Add", "path": "entitlements[type eq \"license\"].value", "value": "Visio"},
                {"op": "Replace", "path": "photos[type eq \"photo\"].value", "value": "https://photos.example/new.jpg"},
                {"op": "Replace", "value": {"profileUrl": "https://people.example/d"}},
                {"op": "remove", "path": "ims"},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["roles"],
        json!([{"value": "Admin", "type": "WindowsAzureActiveDirectoryRole", "primary": true, "display": "Administrator"}])
    );
    assert_eq!(
        body["entitlements"],
        json!([{"value": "E5", "display": "Office E5"}, {"value": "Visio", "type": "license"}])
    );
    assert_eq!(body["photos"][0]["value"], "https://photos.example/new.jpg");
    assert_eq!(body["profileUrl"], "https://people.example/d");
    assert!(body.get("ims").is_none(), "{body}");
    // Filters reach them like any other attribute.
    let (_, found) = s
        .get(&format!(
            "/Users?filter={}",
            urlencode("roles[type eq \"WindowsAzureActiveDirectoryRole\" and value eq \"admin\"]")
        ))
        .await;
    assert_eq!(resource_ids(&found), [id.as_str()], "{found}");

    // The resource sent back as read is no change: the version holds.
    let (_, before) = s.get(&user).await;
    let (status, body) = s.call(Method::PUT, &user, Some(before.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["meta"]["version"], before["meta"]["version"], "{body}");

    // Checked as other text is, and a certificate must be one.
    let two = {
        let der = base64::engine::general_purpose::STANDARD
            .decode(&cert)
            .unwrap();
        base64::engine::general_purpose::STANDARD.encode([der.clone(), der].concat())
    };
    for (op, named) in [
        (
            json!({"op": "add", "path": "x509Certificates", "value": [{"value": "not base64!"}]}),
            "x509Certificates",
        ),
        (
            json!({"op": "add", "path": "x509Certificates", "value": [{"value": "TWFu"}]}),
            "x509Certificates",
        ),
        (
            json!({"op": "add", "path": "x509Certificates", "value": [{"value": two}]}),
            "x509Certificates",
        ),
        (
            json!({"op": "add", "path": "roles", "value": [{"value": "a\u{1b}[31mb"}]}),
            "roles",
        ),
    ] {
        let (status, body) = s.patch(&user, json!([op])).await;
        assert_error(status, &body, 400, Some("invalidValue"));
        assert!(body["detail"].as_str().unwrap().contains(named), "{body}");
    }
    let (_, after) = s.get(&user).await;
    assert_eq!(after["meta"]["version"], before["meta"]["version"]);

    // They leave with an export and come back with an import.
    let exported = common::run(&s.server.data, &["export"]);
    assert!(exported.status.success(), "{exported:?}");
    let line = String::from_utf8(exported.stdout)
        .unwrap()
        .lines()
        .find(|l| l.contains("\"dana\""))
        .unwrap()
        .to_owned();
    let other = tempfile::tempdir().unwrap();
    let target = other.path().join("data");
    let imported = common::output_with_stdin(&mut common::import_command(&target), line.as_bytes());
    assert!(imported.status.success(), "{imported:?}");
    let again = common::run(&target, &["export"]);
    let again = String::from_utf8(again.stdout).unwrap();
    let again: Value = again
        .lines()
        .find(|l| l.contains("\"dana\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap();
    let line: Value = serde_json::from_str(&line).unwrap();
    for field in [
        "profile_url",
        "photos",
        "entitlements",
        "scim_roles",
        "x509_certificates",
    ] {
        assert_eq!(again[field], line[field], "{field}");
        assert!(!line[field].is_null(), "{field} exported: {line}");
    }

    // A PUT replaces them with what it sends: none.
    let (status, body) = s
        .call(
            Method::PUT,
            &user,
            Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "dana"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for gone in [
        "profileUrl",
        "photos",
        "entitlements",
        "roles",
        "x509Certificates",
    ] {
        assert!(body.get(gone).is_none(), "{gone}: {body}");
    }
}

/// An attribute the schemas do not define is refused by POST and PUT, naming it, as PATCH
/// refuses it, rather than dropped while the client is told it was stored. Unknown URIs in the
/// `schemas` list, read-only attributes sent back and nulls are still taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attributes_the_schemas_do_not_define_are_refused_not_dropped() {
    let s = Scim::start(&format!(
        "[custom_attributes]\nschema = \"{ACME}\"\n\
         [[custom_attributes.attributes]]\nname = \"costCenterCode\"\n"
    ));
    const CUSTOM: &str = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";
    let core = "urn:ietf:params:scim:schemas:core:2.0:User";
    for (body, named) in [
        (
            json!({"schemas": [core, CUSTOM], "userName": "eve", CUSTOM: {"tag": "701984"}}),
            format!("{CUSTOM}:tag"),
        ),
        (
            json!({"schemas": [core], "userName": "eve", "someUnknownAttr": "x"}),
            "someUnknownAttr".to_owned(),
        ),
        (
            json!({"schemas": [core, ACME], "userName": "eve", ACME: {"costCenterCode": "CC-1", "undeclared": 1}}),
            format!("{ACME}:undeclared"),
        ),
        (
            json!({"schemas": [core], "userName": "eve", "name": {"givenName": "Eve", "nickname": "E"}}),
            "name.nickname".to_owned(),
        ),
    ] {
        let (status, got) = s.post("/Users", body.clone()).await;
        assert_error(status, &got, 400, Some("invalidValue"));
        let detail = got["detail"].as_str().unwrap();
        assert!(detail.contains(&named), "{named}: {detail}");
    }
    let (_, list) = s.get("/Users?filter=userName+eq+%22eve%22").await;
    assert_eq!(list["totalResults"], 0, "nothing created: {list}");

    // Still taken: an unknown URI in `schemas` alone, read-only attributes, nulls.
    let (status, created) = s
        .post(
            "/Users",
            json!({"schemas": [core, CUSTOM], "userName": "eve", "id": "mine",
                   "meta": {"resourceType": "User"}, "groups": [], "someUnknownAttr": null,
                   CUSTOM: {"tag": null}, ACME: {"costCenterCode": "CC-1"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let user = format!("/Users/{}", created["id"].as_str().unwrap());

    // PUT: the same refusal, and nothing changes.
    let mut put = created.clone();
    put["title"] = json!("Changed");
    put[CUSTOM] = json!({"tag": "701984"});
    let (status, body) = s.call(Method::PUT, &user, Some(put)).await;
    assert_error(status, &body, 400, Some("invalidValue"));
    assert!(body["detail"].as_str().unwrap().contains("tag"), "{body}");
    let (_, now) = s.get(&user).await;
    assert_eq!(now["meta"]["version"], created["meta"]["version"], "{now}");
    assert!(now.get("title").is_none(), "{now}");

    // PATCH: a path that names no attribute is a wrong path; a key of a path-less value that
    // names none is a wrong value, as in a POST body.
    let (status, body) = s
        .patch(
            &user,
            json!([{"op": "Add", "path": format!("{CUSTOM}:tag"), "value": "701984"}]),
        )
        .await;
    assert_error(status, &body, 400, Some("invalidPath"));
    assert!(body["detail"].as_str().unwrap().contains("tag"), "{body}");
    let (status, body) = s
        .patch(
            &user,
            json!([{"op": "Add", "value": {"someUnknownAttr": "x", "title": "T"}}]),
        )
        .await;
    assert_error(status, &body, 400, Some("invalidValue"));
    assert!(
        body["detail"].as_str().unwrap().contains("someUnknownAttr"),
        "{body}"
    );

    // Groups too; Entra's extra URIs in `schemas` stay welcome.
    let (status, body) = s
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "urn:unknown:entra:extension"],
                   "displayName": "Ops", "owner": "eve"}),
        )
        .await;
    assert_error(status, &body, 400, Some("invalidValue"));
    assert!(body["detail"].as_str().unwrap().contains("owner"), "{body}");
}

/// `/Schemas` says what the server enforces: a second Group (role) or Account of a name is
/// `409 uniqueness`, so their names are `uniqueness: server`, not RFC 7643's `none`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_advertises_the_uniqueness_the_server_enforces() {
    let s = Scim::start("");
    let attribute = |schema: &Value, name: &str| {
        schema["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {schema}"))
    };
    let (_, group) = s
        .get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group")
        .await;
    assert_eq!(attribute(&group, "displayName")["uniqueness"], "server");
    let (_, account) = s
        .get("/Schemas/urn:rollcall:scim:schemas:2.0:Account")
        .await;
    assert_eq!(attribute(&account, "name")["uniqueness"], "server");
    for (endpoint, schema, name) in [
        (
            "/Groups",
            "urn:ietf:params:scim:schemas:core:2.0:Group",
            "displayName",
        ),
        ("/Accounts", "urn:rollcall:scim:schemas:2.0:Account", "name"),
    ] {
        let (status, body) = s
            .post(endpoint, json!({"schemas": [schema], name: "Twins"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = s
            .post(endpoint, json!({"schemas": [schema], name: "TWINS"}))
            .await;
        assert_error(status, &body, 409, Some("uniqueness"));
    }
}

/// Endpoint names match in any case, discovery's as resource types' always have (`/users`
/// worked while `/schemas` was 404); the canonical spelling Okta and Entra use still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_names_match_in_any_case() {
    let s = Scim::start("");
    for (path, expect) in [
        ("/serviceproviderconfig", "ServiceProviderConfig"),
        ("/SERVICEPROVIDERCONFIG", "ServiceProviderConfig"),
        ("/ServiceProviderConfig", "ServiceProviderConfig"),
        ("/schemas", "Schema"),
        ("/resourcetypes", "ResourceType"),
        ("/resourcetypes/user", "ResourceType"),
        (
            "/schemas/urn:ietf:params:scim:schemas:core:2.0:user",
            "Schema",
        ),
        ("/users", "User"),
        ("/groups", "Group"),
        ("/Users", "User"),
    ] {
        let (status, body) = s.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let kind = body["meta"]["resourceType"]
            .as_str()
            .or_else(|| body["Resources"][0]["meta"]["resourceType"].as_str());
        assert_eq!(kind, Some(expect), "{path}: {body}");
    }
    let id = s.user("casey", true).await;
    let (status, body) = s.get(&format!("/USERS/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["meta"]["location"],
        s.url(&format!("/Users/{id}")),
        "the canonical spelling in what is returned"
    );
    let (status, body) = s
        .post("/users/.SEARCH", json!({"filter": "userName eq \"casey\""}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(resource_ids(&body), [id.as_str()]);
    let (status, body) = s
        .post(
            "/bulk",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                   "Operations": [{"method": "PATCH", "path": format!("/users/{id}"),
                                   "data": {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "Lead"}]}}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Operations"][0]["status"], "200", "{body}");
    let (status, body) = s.get("/nosuchendpoint").await;
    assert_error(status, &body, 404, None);
}

/// The same over SCIM, where a PATCH is applied to the whole resource as read: one that leaves
/// a custom attribute stored under its old type alone goes through; one that sets it is
/// checked against the new type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_leaving_a_retyped_custom_attribute_alone_goes_through() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let start = |kind: &str| {
        let config = dir.path().join(format!("{kind}.toml"));
        std::fs::write(
            &config,
            format!(
                "[argon2]\nmemory_kib = 1024\niterations = 1\nparallelism = 1\n\n\
                 [custom_attributes]\nschema = \"{ACME}\"\n\
                 [[custom_attributes.attributes]]\nname = \"costCenterCode\"\ntype = \"{kind}\"\n"
            ),
        )
        .unwrap();
        common::Server::spawn(
            &data,
            &["--config", config.to_str().unwrap()],
            &[("ROLLCALL_BOOTSTRAP_TOKEN", TOKEN)],
        )
    };
    let http = Client::new();
    let call = |server: &common::Server, method: Method, path: &str, body: Value| {
        http.request(method, server.url(&format!("/scim/v2{path}")))
            .bearer_auth(TOKEN)
            .header("content-type", SCIM)
            .body(body.to_string())
            .send()
    };
    let mut server = start("string");
    let res = call(
        &server,
        Method::POST,
        "/Users",
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ACME],
            "userName": "alice", ACME: {"costCenterCode": "CC-42"}}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(server.terminate().success());

    let mut server = start("integer");
    let patch = |ops: Value| {
        call(
            &server,
            Method::PATCH,
            &format!("/Users/{id}"),
            json!({"schemas": [PATCH_OP], "Operations": ops}),
        )
    };
    let res = patch(json!([{"op": "replace", "path": "title", "value": "Engineer"}]))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body[ACME]["costCenterCode"], "CC-42", "{body}");
    let res = patch(
        json!([{"op": "replace", "path": format!("{ACME}:costCenterCode"), "value": "CC-43"}]),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res =
        patch(json!([{"op": "replace", "path": format!("{ACME}:costCenterCode"), "value": 43}]))
            .await
            .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(server.terminate().success());
}

/// Entra ID and Okta push membership as PATCHes that only add and remove members. Those are
/// applied to the members they name, not to a read and rewrite of the whole list (a group of
/// 100k members), with the outcome the whole-list PATCH has: adding a member is a no-op,
/// removing a value that is no member removes nothing, a bad member changes nothing, and
/// `excludedAttributes=members` leaves the list out of the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_patch_changes_only_the_members_it_names() {
    let s = Scim::start("");
    let (ann, ben, cy, dee) = (
        s.user("ann", true).await,
        s.user("ben", true).await,
        s.user("cy", true).await,
        s.user("dee", true).await,
    );
    let (status, group) = s
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Crew",
                   "members": [{"value": ann}, {"value": ben}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let gid = group["id"].as_str().unwrap().to_owned();
    let path = format!("/Groups/{gid}");
    use std::collections::BTreeSet;
    let members = common::group_member_ids;
    let current = || async {
        let (status, g) = s.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{g}");
        g
    };
    let set = |ids: &[&String]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();

    // One add without the list in the answer; the version moves.
    let (status, body) = s
        .call(
            Method::PATCH,
            &format!("{path}?excludedAttributes=members"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "Add", "path": "members", "value": [{"value": cy, "$ref": null}]}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("members").is_none(), "{body}");
    assert_eq!(body["displayName"], "Crew");
    assert_ne!(body["meta"]["version"], group["meta"]["version"]);
    let g = current().await;
    assert_eq!(members(&g), set(&[&ann, &ben, &cy]));
    assert_eq!(g["meta"]["version"], body["meta"]["version"]);

    // Adding a member again changes nothing, not even the version; the answer lists members.
    let (status, body) = s
        .patch(
            &path,
            json!([{"op": "add", "path": "members", "value": [{"value": ann}]}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(members(&body), set(&[&ann, &ben, &cy]));
    assert_eq!(body["meta"]["version"], g["meta"]["version"]);

    // Removals of values that are no member (an unknown id, no id at all, a user who is not
    // in the group) remove nothing and are no error, as a filter that matches nothing.
    let (status, body) = s
        .patch(
            &path,
            json!([
                {"op": "remove", "path": "members[value eq \"0196a3b4-0000-7000-8000-00000000beef\"]"},
                {"op": "remove", "path": "members[value eq \"not-an-id\"]"},
                {"op": "Remove", "path": "members", "value": [{"value": dee}]},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(members(&body), set(&[&ann, &ben, &cy]));

    // A removal (Okta's and Entra's forms) and an add in one request, keys in any case.
    let (status, body) = s
        .patch(
            &path,
            json!([
                {"op": "remove", "path": format!("members[value eq \"{ann}\"]")},
                {"op": "Remove", "path": "members", "value": [{"Value": ben}]},
                {"op": "Add", "path": "members", "value": {"Value": dee, "type": "User"}},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(members(&body), set(&[&cy, &dee]));
    let (_, ann_user) = s.get(&format!("/Users/{ann}")).await;
    assert!(
        ann_user["groups"].as_array().is_none_or(|g| g.is_empty()),
        "{ann_user}"
    );

    // A bad member refuses the whole request: an unknown user, a group as a member.
    let before = current().await;
    for (ops, detail) in [
        (
            json!([
                {"op": "add", "path": "members", "value": [{"value": ann}]},
                {"op": "add", "path": "members", "value": [{"value": "0196a3b4-0000-7000-8000-00000000beef"}]},
            ]),
            "no user",
        ),
        (
            json!([{"op": "add", "path": "members", "value": [{"value": ann}, {"value": gid, "type": "Group"}]}]),
            "only users can be members",
        ),
    ] {
        let (status, body) = s.patch(&path, ops).await;
        assert_error(status, &body, 400, Some("invalidValue"));
        assert!(body["detail"].as_str().unwrap().contains(detail), "{body}");
    }
    assert_eq!(current().await, before);

    // If-Match: a stale version is 412 and changes nothing; the current one goes through.
    let stale = group["meta"]["version"].as_str().unwrap();
    let fresh = before["meta"]["version"].as_str().unwrap();
    let add_ann = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": ann}]}]});
    let (status, body) = s
        .call_with(
            Method::PATCH,
            &path,
            &[("if-match", stale)],
            Some(add_ann.clone()),
        )
        .await;
    assert_error(status, &body, 412, None);
    assert_eq!(current().await, before);
    let (status, body) = s
        .call_with(Method::PATCH, &path, &[("if-match", fresh)], Some(add_ann))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(members(&body), set(&[&ann, &cy, &dee]));
    let before = current().await;

    // The order of the operations decides for a member both removed and added.
    let (status, body) = s
        .patch(
            &path,
            json!([
                {"op": "remove", "path": format!("members[value eq \"{cy}\"]")},
                {"op": "add", "path": "members", "value": [{"value": cy}]},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(members(&body), set(&[&ann, &cy, &dee]));
    assert_eq!(body["meta"]["version"], before["meta"]["version"]);
    let (status, body) = s
        .patch(
            &path,
            json!([
                {"op": "add", "path": "members", "value": [{"value": ben}]},
                {"op": "remove", "path": format!("members[value eq \"{ben}\"]")},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(members(&body), set(&[&ann, &cy, &dee]));

    // A removal names a value as SCIM compares it: spaces around, case and compatibility
    // forms aside in a filter, ASCII case aside in a value list; an id written another way
    // (no hyphens, a URN) is no member's value.
    let fullwidth: String = ann
        .chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(c as u32 - '0' as u32 + 0xFF10).unwrap(),
            c => c,
        })
        .collect();
    for (ops, gone) in [
        (
            json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", ann.replace('-', ""))}]),
            None,
        ),
        (
            json!([{"op": "remove", "path": format!("members[value eq \"urn:uuid:{ann}\"]")}]),
            None,
        ),
        (
            json!([{"op": "remove", "path": "members", "value": [{"value": format!(" {ann}")}]}]),
            None,
        ),
        (
            json!([{"op": "remove", "path": format!("members[value eq \" {} \"]", ann.to_uppercase())}]),
            Some(&ann),
        ),
        (
            json!([{"op": "remove", "path": format!("members[value eq \"{fullwidth}\"]")}]),
            Some(&ann),
        ),
        (
            json!([{"op": "remove", "path": "members", "value": [{"value": cy.to_uppercase()}]}]),
            Some(&cy),
        ),
    ] {
        let (status, body) = s.patch(&path, ops.clone()).await;
        assert_eq!(status, StatusCode::OK, "{ops}: {body}");
        let mut expected = set(&[&ann, &cy, &dee]);
        if let Some(gone) = gone {
            expected.remove(gone.as_str());
        }
        assert_eq!(members(&body), expected, "{ops}");
        if let Some(gone) = gone {
            let (status, body) = s
                .patch(
                    &path,
                    json!([{"op": "add", "path": "members", "value": [{"value": gone}]}]),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }

    // A member object the schema refuses is refused as the whole-resource PATCH refuses it.
    let (status, body) = s
        .patch(
            &path,
            json!([{"op": "add", "path": "members", "value": [{"value": ben, "bogus": 1}]}]),
        )
        .await;
    assert_error(status, &body, 400, Some("invalidValue"));
    assert!(body["detail"].as_str().unwrap().contains("bogus"), "{body}");

    // The list is left out only when the answer would not show it, however it is named.
    let members_urn = "urn:ietf:params:scim:schemas:core:2.0:Group:members";
    let (status, body) = s
        .call(
            Method::PATCH,
            &format!("{path}?attributes={members_urn}"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": ann}]}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(members(&body), set(&[&ann, &cy, &dee]));
    let (status, body) = s.get(&format!("/Groups?attributes={members_urn}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed = body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == gid.as_str())
        .unwrap();
    assert_eq!(members(listed), set(&[&ann, &cy, &dee]));
    let (status, body) = s
        .call(
            Method::PATCH,
            &format!("{path}?excludedAttributes={members_urn}"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": ann}]}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("members").is_none(), "{body}");

    // Conditions answer as for any PATCH: no such group is 404 whatever the tag, a stale
    // one 412 in the same words.
    let nowhere = "/Groups/0196a3b4-0000-7000-8000-00000000beef";
    for tag in ["\"xyz\"", "W/\"3\"", "*"] {
        let (status, body) = s
            .call_with(
                Method::PATCH,
                nowhere,
                &[("if-match", tag)],
                Some(json!({"schemas": [PATCH_OP], "Operations": [
                    {"op": "add", "path": "members", "value": [{"value": ann}]}]})),
            )
            .await;
        assert_error(status, &body, 404, None);
    }
    let (status, body) = s
        .call_with(
            Method::PATCH,
            &path,
            &[("if-match", stale)],
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": ben}]}]})),
        )
        .await;
    assert_error(status, &body, 412, None);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("ETag does not match"),
        "{body}"
    );
}

/// The ids of the users `filter` finds, sorted.
async fn found_ids(s: &Scim, filter: &str) -> Vec<String> {
    let (status, body) = s.get(&format!("/Users?filter={}", urlencode(filter))).await;
    assert_eq!(status, StatusCode::OK, "{filter}: {body}");
    let mut ids: Vec<String> = body["Resources"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|u| u["id"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// A user with `number` as its enterprise employeeNumber; its id.
async fn numbered_user(s: &Scim, user_name: &str, number: &str) -> String {
    let (status, body) = s
        .post(
            "/Users",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
                "userName": user_name,
                ENTERPRISE: {"employeeNumber": number},
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// HR-driven provisioning matches users on the employee number, one lookup per user of a sync,
/// which an index serves. The filter finds a user in any case and with the spaces around the
/// value ignored (`caseExact: false`), by the full URN or the short name, alone or in an `and`;
/// the index's key, which also collapses spaces inside for LDAP, never makes SCIM find what it
/// does not call equal. A deleted (anonymised) user is found by nobody, and a changed number
/// finds the user by the new one only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_found_by_employee_number_as_the_attribute_compares() {
    let s = Scim::start("");
    let ann = numbered_user(&s, "ann", "E-100").await;
    let bob = numbered_user(&s, "bob", "E 200").await;
    let cy = numbered_user(&s, "cy", "E-1000").await;
    let gone = numbered_user(&s, "gone", "E-300").await;
    let full = |number: &str| format!("{ENTERPRISE}:employeeNumber eq \"{number}\"");
    assert_eq!(found_ids(&s, &full("E-100")).await, [ann.as_str()]);
    assert_eq!(found_ids(&s, &full("e-100")).await, [ann.as_str()]);
    assert_eq!(
        found_ids(&s, "employeeNumber eq \" e-100 \"").await,
        [ann.as_str()]
    );
    assert_eq!(found_ids(&s, &full("e-1000")).await, [cy]);
    assert_eq!(
        found_ids(&s, &format!("{} and userName eq \"ann\"", full("E-100"))).await,
        [ann.as_str()]
    );
    assert!(
        found_ids(&s, &format!("{} and userName eq \"bob\"", full("E-100")))
            .await
            .is_empty()
    );
    assert_eq!(found_ids(&s, &full("e 200")).await, [bob]);
    assert!(
        found_ids(&s, &full("e  200")).await.is_empty(),
        "SCIM keeps the spaces inside a value"
    );

    let (status, body) = s
        .call(Method::DELETE, &format!("/Users/{gone}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(found_ids(&s, &full("E-300")).await.is_empty());

    let (status, body) = s
        .patch(
            &format!("/Users/{ann}"),
            json!([{"op": "replace", "path": format!("{ENTERPRISE}:employeeNumber"), "value": "E-101"}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(found_ids(&s, &full("E-100")).await.is_empty());
    assert_eq!(found_ids(&s, &full("e-101")).await, [ann]);
}

/// The uids LDAP's `(employeeNumber=number)` finds under `ou=people`, sorted.
async fn ldap_uids_numbered(ldap: std::net::SocketAddr, number: &str) -> Vec<String> {
    let mut ldap = common::admin_connection(ldap).await;
    let (entries, _) = ldap
        .search(
            "ou=people,dc=example,dc=com",
            ldap3::Scope::OneLevel,
            &format!("(employeeNumber={number})"),
            vec!["uid"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    common::sorted_uids(entries)
}

/// A directory of store format 3 (the release before the index of employee numbers) is
/// upgraded in place on its first start: the index is built from the records, and SCIM and
/// LDAP lookups by employee number find the users made before. Both lookups go through the
/// index: a current store that lacks its entries finds nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_format_3_directory_gets_its_employee_number_index_on_first_start() {
    let mut first = Scim::start("");
    let ann = numbered_user(&first, "ann", "E-100").await;
    first.server.terminate();
    let data = first.server.data.clone();
    let config = data.parent().unwrap().join("rollcall.toml");
    let store = data.join("store");
    let format_without_index = |format: u32| {
        let db = common::when_released(|| sled::open(&store));
        db.drop_tree("idx_user_employee_number").unwrap();
        db.insert("store_format", &format.to_be_bytes()).unwrap();
        db.flush().unwrap();
    };
    let restart = || Scim {
        server: Server::spawn(
            &data,
            &["--config", config.to_str().unwrap()],
            &[
                ("ROLLCALL_BOOTSTRAP_ADMIN_PASSWORD", common::ADMIN_PASSWORD),
                ("ROLLCALL_BOOTSTRAP_TOKEN", TOKEN),
            ],
        ),
        http: Client::new(),
    };
    let filter = format!("{ENTERPRISE}:employeeNumber eq \"e-100\"");

    format_without_index(4);
    let mut torn = restart();
    assert!(found_ids(&torn, &filter).await.is_empty());
    assert!(
        ldap_uids_numbered(torn.server.ldap, "E-100")
            .await
            .is_empty()
    );
    torn.server.terminate();

    format_without_index(3);
    let mut upgraded = restart();
    assert_eq!(found_ids(&upgraded, &filter).await, [ann]);
    assert_eq!(
        ldap_uids_numbered(upgraded.server.ldap, "e-100").await,
        ["ann"]
    );
    upgraded.server.terminate();
    {
        let db = common::when_released(|| sled::open(&store));
        assert_eq!(
            db.get("store_format").unwrap().unwrap().as_ref(),
            &4u32.to_be_bytes()
        );
    }
    let out = common::run(&data, &["check"]);
    assert!(out.status.success(), "{out:?}");
}

/// Each SCIM phone type is its own LDAP attribute (Entra ID sends a fax as
/// `phoneNumbers[type eq "fax"]`), a `home` address is not published as `mail`, and an LDAP
/// write of one attribute replaces only the numbers or addresses it shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_and_email_types_keep_to_their_own_ldap_attributes() {
    use std::collections::BTreeSet;
    let s = Scim::start("");
    let (status, body) = s
        .post(
            "/Users",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "kim",
                "emails": [
                    {"value": "kim@work.example", "type": "work", "primary": true},
                    {"value": "kim@home.example", "type": "home"},
                ],
                "phoneNumbers": [
                    {"value": "+1 425 555 0100", "type": "work", "primary": true},
                    {"value": "+1 425 555 0199", "type": "mobile"},
                ],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let (status, body) = s
        .patch(
            &format!("/Users/{id}"),
            json!([
                {"op": "Add", "path": "phoneNumbers[type eq \"fax\"].value", "value": "+1 425 555 0111"},
                {"op": "Add", "path": "phoneNumbers[type eq \"pager\"].value", "value": "+1 425 555 0122"},
                {"op": "Add", "path": "phoneNumbers[type eq \"home\"].value", "value": "+1 425 555 0133"},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let mut ldap = common::admin_connection(s.server.ldap).await;
    let dn = "uid=kim,ou=people,dc=example,dc=com";
    let read = |ldap: &mut ldap3::Ldap| {
        let mut ldap = ldap.clone();
        async move {
            let (entries, _) = ldap
                .search(dn, ldap3::Scope::Base, "(objectClass=*)", vec!["*"])
                .await
                .unwrap()
                .success()
                .unwrap();
            ldap3::SearchEntry::construct(entries.into_iter().next().unwrap()).attrs
        }
    };
    let entry = read(&mut ldap).await;
    let values = |name: &str| entry.get(name).cloned().unwrap_or_default();
    assert_eq!(values("telephoneNumber"), ["+1 425 555 0100"]);
    assert_eq!(values("mobile"), ["+1 425 555 0199"]);
    assert_eq!(values("facsimileTelephoneNumber"), ["+1 425 555 0111"]);
    assert_eq!(values("pager"), ["+1 425 555 0122"]);
    assert_eq!(values("homePhone"), ["+1 425 555 0133"]);
    assert_eq!(values("mail"), ["kim@work.example"]);
    for (filter, found) in [
        ("(telephoneNumber=+14255550111)", false),
        ("(telephoneNumber=+14255550100)", true),
        ("(pager=+1 425 555 0122)", true),
        ("(homePhone=+14255550133)", true),
        ("(mail=kim@home.example)", false),
        ("(mail=KIM@work.example)", true),
    ] {
        let (entries, _) = ldap
            .search(
                "ou=people,dc=example,dc=com",
                ldap3::Scope::OneLevel,
                filter,
                vec!["1.1"],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        assert_eq!(entries.len(), usize::from(found), "{filter}");
    }

    // An LDAP write of telephoneNumber and of mail replaces what each shows, nothing else;
    // one number and one address stay primary.
    let res = ldap
        .modify(
            dn,
            vec![
                ldap3::Mod::Replace("telephoneNumber", ["+1 425 555 0101"].into()),
                ldap3::Mod::Replace("mail", ["kim@new.example"].into()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    let (_, user) = s.get(&format!("/Users/{id}")).await;
    let typed = |list: &str| -> BTreeSet<(String, String, bool)> {
        user[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["type"].as_str().unwrap().to_owned(),
                    v["value"].as_str().unwrap().to_owned(),
                    v["primary"].as_bool().unwrap_or(false),
                )
            })
            .collect()
    };
    let owned = |items: &[(&str, &str, bool)]| {
        items
            .iter()
            .map(|(t, v, p)| (t.to_string(), v.to_string(), *p))
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(
        typed("phoneNumbers"),
        owned(&[
            ("work", "+1 425 555 0101", true),
            ("mobile", "+1 425 555 0199", false),
            ("fax", "+1 425 555 0111", false),
            ("pager", "+1 425 555 0122", false),
            ("home", "+1 425 555 0133", false),
        ])
    );
    assert_eq!(
        typed("emails"),
        owned(&[
            ("work", "kim@new.example", true),
            ("home", "kim@home.example", false),
        ])
    );
    let entry = read(&mut ldap).await;
    assert_eq!(entry["facsimileTelephoneNumber"], ["+1 425 555 0111"]);

    // The subschema describes the new attributes, and a person may hold them.
    let (entries, _) = ldap
        .search(
            "cn=subschema",
            ldap3::Scope::Base,
            "(objectClass=*)",
            vec!["attributeTypes", "objectClasses"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    let schema = ldap3::SearchEntry::construct(entries.into_iter().next().unwrap()).attrs;
    for name in ["'facsimileTelephoneNumber'", "'pager'", "'homePhone'"] {
        assert!(
            schema["attributeTypes"].iter().any(|t| t.contains(name)),
            "{name}"
        );
    }
    let res = ldap
        .modify(
            dn,
            vec![ldap3::Mod::Add("homePhone", ["+1 425 555 0144"].into())],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    assert_eq!(
        read(&mut ldap).await["homePhone"],
        ["+1 425 555 0133", "+1 425 555 0144"]
    );

    // The primary address and number come first, whatever their order in the record:
    // applications take the first `mail` as the address.
    let (status, body) = s
        .post(
            "/Users",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "multi",
                "emails": [
                    {"value": "zz-secondary@example.com", "type": "other"},
                    {"value": "aa-primary@example.com", "type": "work", "primary": true},
                ],
                "phoneNumbers": [
                    {"value": "+1 555 0001", "type": "other"},
                    {"value": "+1 555 0002", "type": "work", "primary": true},
                ],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (entries, _) = ldap
        .search(
            "uid=multi,ou=people,dc=example,dc=com",
            ldap3::Scope::Base,
            "(objectClass=*)",
            vec!["mail", "telephoneNumber"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    let multi = ldap3::SearchEntry::construct(entries.into_iter().next().unwrap()).attrs;
    assert_eq!(
        multi["mail"],
        ["aa-primary@example.com", "zz-secondary@example.com"]
    );
    assert_eq!(multi["telephoneNumber"], ["+1 555 0002", "+1 555 0001"]);
}
