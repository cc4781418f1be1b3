//! Protocol-crate tests over HTTP: the router served on a loopback port with an in-memory
//! provider (the test double of the protocol crate; end-to-end tests against the real server
//! live in the workspace's `tests/`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use reqwest::{Client, Method, StatusCode};
use rollcall_scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
use rollcall_scim::{
    AttributeDef, ClientInfo, ListQuery, Provider, Resource, ResourceTypeDef, RouterConfig,
    SchemaDef, ScimError, router,
};
use serde_json::{Value, json};

const ACCOUNT_SCHEMA: &str = "urn:rollcall:scim:schemas:2.0:Account";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const TOKEN: &str = "good-token";

/// Resources by (endpoint, id); ids are zero-padded sequence numbers so iteration order is
/// creation order.
#[derive(Default)]
struct Mem {
    data: Mutex<BTreeMap<(String, String), Resource>>,
    seq: AtomicU64,
    /// When set, the next replace fails with 412 as if another writer got there first.
    race_once: Mutex<bool>,
}

impl Mem {
    fn with(&self, id: &str, body: Value, version: u64, created: &str) -> Resource {
        let mut json = body;
        if let Value::Object(o) = &mut json {
            o.insert("id".into(), json!(id));
            o.insert(
                "meta".into(),
                json!({"created": created, "lastModified": created}),
            );
            o.remove("password");
        }
        Resource {
            id: id.to_string(),
            version,
            json,
        }
    }
}

impl Provider for Mem {
    type Principal = String;

    fn authenticate(&self, bearer: &str, _client: &ClientInfo) -> Result<String, ScimError> {
        if bearer == TOKEN {
            Ok("admin".into())
        } else {
            Err(ScimError::unauthorized("invalid token"))
        }
    }

    fn schemas(&self) -> Vec<SchemaDef> {
        vec![SchemaDef::new(
            ACCOUNT_SCHEMA,
            "Account",
            "An organisation",
            vec![
                AttributeDef::string("name").required(),
                AttributeDef::boolean("licensed"),
                AttributeDef::integer("seats"),
            ],
        )]
    }

    fn resource_types(&self) -> Vec<ResourceTypeDef> {
        vec![
            ResourceTypeDef::user(),
            ResourceTypeDef::group(),
            ResourceTypeDef::new("Account", "/Accounts", ACCOUNT_SCHEMA),
        ]
    }

    fn me(&self, _who: &String) -> Option<String> {
        let data = self.data.lock().ok()?;
        data.keys()
            .find(|(ep, _)| ep == "Users")
            .map(|(_, id)| id.clone())
    }

    fn get(&self, _who: &String, endpoint: &str, id: &str) -> Result<Resource, ScimError> {
        let data = self
            .data
            .lock()
            .map_err(|_| ScimError::internal("poisoned"))?;
        data.get(&(endpoint.to_string(), id.to_string()))
            .cloned()
            .ok_or_else(|| ScimError::not_found(format!("no resource {id}")))
    }

    fn list(
        &self,
        _who: &String,
        endpoint: &str,
        _query: &ListQuery,
    ) -> Result<Vec<Resource>, ScimError> {
        let data = self
            .data
            .lock()
            .map_err(|_| ScimError::internal("poisoned"))?;
        Ok(data
            .iter()
            .filter(|((ep, _), _)| ep == endpoint)
            .map(|(_, r)| r.clone())
            .collect())
    }

    fn create(&self, _who: &String, endpoint: &str, body: Value) -> Result<Resource, ScimError> {
        let mut data = self
            .data
            .lock()
            .map_err(|_| ScimError::internal("poisoned"))?;
        if endpoint == "Users" {
            let name = body["userName"].as_str().unwrap_or_default().to_lowercase();
            let taken = data.iter().any(|((ep, _), r)| {
                ep == "Users"
                    && r.json["userName"].as_str().map(str::to_lowercase) == Some(name.clone())
            });
            if taken {
                return Err(ScimError::uniqueness("userName is taken"));
            }
        }
        let n = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let id = format!("{n:06}");
        let created = format!("2024-01-01T00:00:{:02}Z", n % 60);
        let r = self.with(&id, body, 1, &created);
        data.insert((endpoint.to_string(), id), r.clone());
        Ok(r)
    }

    fn replace(
        &self,
        _who: &String,
        endpoint: &str,
        id: &str,
        body: Value,
        if_version: Option<u64>,
    ) -> Result<Resource, ScimError> {
        let mut data = self
            .data
            .lock()
            .map_err(|_| ScimError::internal("poisoned"))?;
        let key = (endpoint.to_string(), id.to_string());
        let cur = data
            .get(&key)
            .cloned()
            .ok_or_else(|| ScimError::not_found(format!("no resource {id}")))?;
        if if_version.is_some_and(|v| v != cur.version) {
            return Err(ScimError::precondition_failed("version mismatch"));
        }
        if let Ok(mut race) = self.race_once.lock()
            && *race
        {
            *race = false;
            let mut bumped = cur.clone();
            bumped.version += 1;
            data.insert(key, bumped);
            return Err(ScimError::precondition_failed("lost a race"));
        }
        let created = cur.json["meta"]["created"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let r = self.with(id, body, cur.version + 1, &created);
        data.insert(key, r.clone());
        Ok(r)
    }

    fn delete(
        &self,
        _who: &String,
        endpoint: &str,
        id: &str,
        if_version: Option<u64>,
    ) -> Result<(), ScimError> {
        let mut data = self
            .data
            .lock()
            .map_err(|_| ScimError::internal("poisoned"))?;
        let key = (endpoint.to_string(), id.to_string());
        let cur = data
            .get(&key)
            .ok_or_else(|| ScimError::not_found(format!("no resource {id}")))?;
        if if_version.is_some_and(|v| v != cur.version) {
            return Err(ScimError::precondition_failed("version mismatch"));
        }
        data.remove(&key);
        Ok(())
    }
}

struct Srv {
    base: String,
    http: Client,
    mem: Arc<Mem>,
}

async fn serve() -> Srv {
    // reqwest is built without a default crypto provider (ring is the workspace's choice).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let base = format!("http://{addr}/scim/v2");
    let mem = Arc::new(Mem::default());
    let config = RouterConfig {
        base_url: base.clone(),
        max_body_bytes: 64 * 1024,
        max_results: 50,
        bulk_max_operations: 5,
        bulk_max_payload: 16 * 1024,
    };
    let app = axum::Router::new().nest("/scim/v2", router(mem.clone(), config));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Srv {
        base,
        http: Client::new(),
        mem,
    }
}

struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Srv {
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/scim+json")
                .body(b.to_string());
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None, &[]).await
    }
    async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body), &[]).await
    }
    async fn patch(&self, path: &str, ops: Value) -> Reply {
        self.send(
            Method::PATCH,
            path,
            Some(json!({"schemas": [PATCH_OP], "Operations": ops})),
            &[],
        )
        .await
    }

    async fn user(&self, name: &str) -> String {
        let r = self
            .post(
                "/Users",
                json!({"schemas": [USER_SCHEMA], "userName": name, "name": {"givenName": name, "familyName": "Test"},
                       "emails": [{"value": format!("{name}@example.com"), "type": "work", "primary": true}]}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        r.body["id"].as_str().expect("id").to_string()
    }

    async fn group(&self, name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        let r = self
            .post(
                "/Groups",
                json!({"schemas": [GROUP_SCHEMA], "displayName": name, "members": members}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        r.body["id"].as_str().expect("id").to_string()
    }

    async fn filter(&self, f: &str) -> Vec<String> {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("filter", f)
            .finish();
        let r = self
            .http
            .get(format!("{}/Users?{q}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200, "{f}");
        let body: Value = r.json().await.expect("json");
        body["Resources"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|u| u["userName"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn assert_error(r: &Reply, status: u16, scim_type: Option<&str>) {
    assert_eq!(r.status.as_u16(), status, "{:?}", r.body);
    assert_eq!(r.headers["content-type"], "application/scim+json");
    assert_eq!(
        r.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(r.body["status"], status.to_string());
    assert!(r.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    match scim_type {
        Some(t) => assert_eq!(r.body["scimType"], t, "{:?}", r.body),
        None => assert!(r.body.get("scimType").is_none()),
    }
}

#[tokio::test]
async fn authentication_is_required_everywhere() {
    let s = serve().await;
    for path in ["/Users", "/ServiceProviderConfig", "/Schemas", "/nope"] {
        let r = s
            .http
            .get(format!("{}{path}", s.base))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"rollcall\"");
        assert_eq!(r.headers()["content-type"], "application/scim+json");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["status"], "401");
    }
    let r = s
        .http
        .get(format!("{}/Users", s.base))
        .bearer_auth("wrong")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn create_get_and_etags() {
    let s = serve().await;
    // Entra sends booleans as strings ("Microsoft Entra ID: Known issues and resolutions with
    // SCIM 2.0 compliance").
    let r = s
        .post(
            "/Users",
            json!({"schemas": [USER_SCHEMA, "urn:ietf:params:scim:schemas:extension:unknown:2.0:User"],
                   "userName": "alice", "active": "True", "password": "S3cret!pass",
                   ENTERPRISE_USER_SCHEMA: {"manager": "m-1", "department": "R&D"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.headers["content-type"], "application/scim+json");
    let id = r.body["id"].as_str().expect("id").to_string();
    assert_eq!(r.headers["location"], format!("{}/Users/{id}", s.base));
    assert_eq!(r.headers["etag"], "W/\"1\"");
    assert_eq!(r.body["meta"]["version"], "W/\"1\"");
    assert_eq!(r.body["meta"]["location"], format!("{}/Users/{id}", s.base));
    assert_eq!(r.body["meta"]["resourceType"], "User");
    assert_eq!(r.body["active"], true);
    assert!(r.body.get("password").is_none());
    assert_eq!(
        r.body[ENTERPRISE_USER_SCHEMA]["manager"],
        json!({"value": "m-1", "$ref": format!("{}/Users/m-1", s.base)})
    );

    let r = s
        .send(
            Method::GET,
            &format!("/Users/{id}"),
            None,
            &[("if-none-match", "W/\"1\"")],
        )
        .await;
    assert_eq!(r.status, 304);
    assert_eq!(r.body, Value::Null);
    let r = s
        .send(
            Method::GET,
            &format!("/Users/{id}"),
            None,
            &[("if-none-match", "W/\"0\"")],
        )
        .await;
    assert_eq!(r.status, 200);

    // PUT with a stale If-Match → 412; with the current one (strong form accepted) → 200.
    let put = json!({"schemas": [USER_SCHEMA], "id": id, "userName": "alice", "title": "Boss",
                     "meta": {"version": "W/\"1\""}, "groups": [], "nickName": null});
    let r = s
        .send(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(put.clone()),
            &[("if-match", "W/\"7\"")],
        )
        .await;
    assert_error(&r, 412, None);
    let r = s
        .send(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(put),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["title"], "Boss");
    assert_eq!(r.headers["etag"], "W/\"2\"");

    let r = s
        .send(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "X"}]})),
            &[("if-match", "W/\"1\"")],
        )
        .await;
    assert_error(&r, 412, None);
    let r = s
        .send(
            Method::DELETE,
            &format!("/Users/{id}"),
            None,
            &[("if-match", "W/\"1\"")],
        )
        .await;
    assert_error(&r, 412, None);
    let r = s
        .send(
            Method::DELETE,
            &format!("/Users/{id}"),
            None,
            &[("if-match", "*")],
        )
        .await;
    assert_eq!(r.status, 204);
    let r = s.get(&format!("/Users/{id}")).await;
    assert_error(&r, 404, None);
    let r = s.get("/Users/not-a-uuid").await;
    assert_error(&r, 404, None);
}

#[tokio::test]
async fn error_bodies() {
    let s = serve().await;
    // Malformed JSON.
    let r = s
        .http
        .post(format!("{}/Users", s.base))
        .bearer_auth(TOKEN)
        .header("content-type", "application/scim+json")
        .body("{\"userName\": ")
        .send()
        .await
        .expect("send");
    let reply = Reply {
        status: r.status(),
        headers: r.headers().clone(),
        body: r.json().await.expect("json"),
    };
    assert_error(&reply, 400, Some("invalidSyntax"));
    // Wrong media type.
    let r = s
        .http
        .post(format!("{}/Users", s.base))
        .bearer_auth(TOKEN)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("send");
    let reply = Reply {
        status: r.status(),
        headers: r.headers().clone(),
        body: r.json().await.expect("json"),
    };
    assert_error(&reply, 415, None);
    // application/json and no content type are accepted.
    for ct in [Some("application/json; charset=utf-8"), None] {
        let mut req = s
            .http
            .post(format!("{}/Users", s.base))
            .bearer_auth(TOKEN)
            .body(json!({"userName": format!("ct-{}", ct.is_some())}).to_string());
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        assert_eq!(req.send().await.expect("send").status(), 201);
    }
    // Oversized body → SCIM 413, not axum's plain text.
    let big = json!({"userName": "big", "title": "x".repeat(70 * 1024)});
    let r = s.post("/Users", big).await;
    assert_error(&r, 413, None);
    // Invalid filter, invalid path, unknown route, wrong method, uniqueness, required.
    let r = s.get("/Users?filter=userName+eq").await;
    assert_error(&r, 400, Some("invalidFilter"));
    let id = s.user("bob").await;
    let r = s
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]),
        )
        .await;
    assert_error(&r, 400, Some("invalidPath"));
    let r = s
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "bogus", "value": "x"}]),
        )
        .await;
    assert_error(&r, 400, Some("invalidPath"));
    let r = s
        .patch(&format!("/Users/{id}"), json!([{"op": "remove"}]))
        .await;
    assert_error(&r, 400, Some("noTarget"));
    let r = s
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "id", "value": "other"}]),
        )
        .await;
    assert_error(&r, 400, Some("mutability"));
    let r = s
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "active", "value": "nope"}]),
        )
        .await;
    assert_error(&r, 400, Some("invalidValue"));
    let r = s.get("/Nothing/here/at/all").await;
    assert_error(&r, 404, None);
    let r = s.get("/Widgets").await;
    assert_error(&r, 404, None);
    let r = s.send(Method::DELETE, "/Users", None, &[]).await;
    assert_error(&r, 405, None);
    let r = s.post("/Users", json!({"userName": "BOB"})).await;
    assert_error(&r, 409, Some("uniqueness"));
    let r = s
        .post("/Users", json!({"displayName": "no user name"}))
        .await;
    assert_error(&r, 400, Some("invalidValue"));
    let r = s.get("/Users?filter=active+gt+true").await;
    assert_error(&r, 400, Some("invalidFilter"));
}

#[tokio::test]
async fn filters_over_http() {
    let s = serve().await;
    for n in ["alice", "bob", "carol", "dave"] {
        s.user(n).await;
    }
    let id = s.user("Eve Smith").await;
    s.patch(
        &format!("/Users/{id}"),
        json!([
            {"op": "add", "path": "title", "value": "CTO"},
            {"op": "add", "path": format!("{ENTERPRISE_USER_SCHEMA}:employeeNumber"), "value": "E42"},
            {"op": "add", "path": "emails", "value": [{"value": "eve@home.org", "type": "home"}]}
        ]),
    )
    .await;
    let cases: &[(&str, &[&str])] = &[
        ("userName eq \"ALICE\"", &["alice"]),
        ("userName ne \"alice\" and userName lt \"c\"", &["bob"]),
        ("userName co \"aro\"", &["carol"]),
        ("userName sw \"da\"", &["dave"]),
        ("userName ew \"OB\"", &["bob"]),
        ("title pr", &["Eve Smith"]),
        ("userName gt \"dave\"", &["Eve Smith"]),
        ("userName ge \"dave\"", &["dave", "Eve Smith"]),
        ("userName le \"bob\"", &["alice", "bob"]),
        (
            "meta.created gt \"2024-01-01T00:00:03Z\"",
            &["dave", "Eve Smith"],
        ),
        (
            "meta.created le \"2024-01-01T01:00:02+01:00\"",
            &["alice", "bob"],
        ),
        ("not (userName sw \"a\") and userName lt \"c\"", &["bob"]),
        (
            "userName eq \"alice\" or userName eq \"bob\" and title pr",
            &["alice"],
        ),
        (
            "(userName eq \"alice\" or userName eq \"bob\") and name.familyName eq \"test\"",
            &["alice", "bob"],
        ),
        (
            "emails[type eq \"home\" and value co \"@home\"]",
            &["Eve Smith"],
        ),
        (
            "emails[type eq \"work\"].value eq \"CAROL@example.com\"",
            &["carol"],
        ),
        ("emails.value ew \"home.org\"", &["Eve Smith"]),
        ("emails co \"dave@\"", &["dave"]),
        (
            &format!("{ENTERPRISE_USER_SCHEMA}:employeeNumber eq \"E42\""),
            &["Eve Smith"],
        ),
        (
            "urn:ietf:params:scim:schemas:core:2.0:User:userName eq \"bob\"",
            &["bob"],
        ),
        ("USERNAME EQ \"Eve Smith\"", &["Eve Smith"]),
        ("externalId eq \"nothing\"", &[]),
        ("id eq \"5b2f0a64-0000-4000-8000-000000000000\"", &[]),
    ];
    for (f, want) in cases {
        let got = s.filter(f).await;
        assert_eq!(&got, want, "filter {f}");
    }
    // `+` means space in query strings.
    let r = s.get("/Users?filter=userName+eq+%22Eve+Smith%22").await;
    assert_eq!(r.body["totalResults"], 1);
    let r = s.get("/Users?filter=id+eq+%22random-id%22").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["totalResults"], 0);
}

#[tokio::test]
async fn paging_sorting_projection() {
    let s = serve().await;
    let names = ["g", "c", "a", "f", "b", "e", "d"];
    for n in names {
        s.user(n).await;
    }
    let mut seen = Vec::new();
    for start in [1, 4, 7] {
        let r = s.get(&format!("/Users?startIndex={start}&count=3")).await;
        assert_eq!(
            r.body["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:ListResponse"
        );
        assert_eq!(r.body["totalResults"], json!(7));
        assert_eq!(r.body["startIndex"], json!(start));
        for u in r.body["Resources"].as_array().expect("resources") {
            seen.push(u["userName"].as_str().unwrap_or_default().to_string());
        }
    }
    assert_eq!(seen, names);
    let r = s
        .get("/Users?sortBy=userName&sortOrder=descending&count=2&startIndex=0")
        .await;
    let got: Vec<&str> = r.body["Resources"]
        .as_array()
        .expect("r")
        .iter()
        .filter_map(|u| u["userName"].as_str())
        .collect();
    assert_eq!(got, ["g", "f"]);
    assert_eq!(r.body["itemsPerPage"], json!(2));
    assert_eq!(r.body["startIndex"], json!(1));
    let r = s.get("/Users?count=-4").await;
    assert_eq!(r.body["totalResults"], json!(7));
    assert_eq!(r.body["itemsPerPage"], json!(0));
    let r = s.get("/Users?count=500").await;
    assert_eq!(r.body["itemsPerPage"], json!(7));

    // Projection: `returned: never` (password) is never sent, even when asked for.
    let r = s
        .get("/Users?attributes=userName,password,name.givenName&count=1")
        .await;
    let u = &r.body["Resources"][0];
    assert!(u.get("password").is_none());
    assert!(u.get("emails").is_none());
    assert_eq!(u["name"], json!({"givenName": "g"}));
    assert!(u.get("id").is_some() && u.get("meta").is_some() && u.get("schemas").is_some());
    let id = u["id"].as_str().expect("id").to_string();
    let r = s
        .get(&format!(
            "/Users/{id}?excludedAttributes=emails,name.familyName,id"
        ))
        .await;
    assert!(r.body.get("emails").is_none());
    assert_eq!(r.body["name"], json!({"givenName": "g"}));
    assert_eq!(r.body["id"], id.as_str());

    // Okta/Entra read groups without members ("Okta SCIM 2.0 guide": excludedAttributes=members).
    let g = s.group("Sales", &[&id]).await;
    let r = s
        .get(&format!("/Groups/{g}?excludedAttributes=members"))
        .await;
    assert!(r.body.get("members").is_none());
    assert_eq!(r.body["displayName"], "Sales");
    let r = s.get("/Groups?excludedAttributes=members").await;
    assert!(r.body["Resources"][0].get("members").is_none());

    // POST .search, per type and at the root.
    let r = s
        .post(
            "/Users/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                   "filter": "userName sw \"a\" or userName sw \"b\"", "sortBy": "userName",
                   "attributes": ["userName"], "count": 10}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["totalResults"], 2);
    assert_eq!(r.body["Resources"][0]["userName"], "a");
    let r = s
        .post(
            "/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                   "filter": "displayName eq \"Sales\" or userName eq \"a\""}),
        )
        .await;
    assert_eq!(r.body["totalResults"], 2);
}

#[tokio::test]
async fn patch_forms_of_okta_and_entra() {
    let s = serve().await;
    let id = s.user("pat").await;
    let path = format!("/Users/{id}");

    // Entra: capitalised op names, string booleans, path-less value with dotted and URN keys
    // ("Microsoft Entra ID: Known issues and resolutions with SCIM 2.0 compliance").
    let r = s
        .patch(
            &path,
            json!([
                {"op": "Replace", "path": "active", "value": "False"},
                {"op": "Add", "value": {
                    "name.givenName": "Patricia",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Ops",
                    ENTERPRISE_USER_SCHEMA: {"employeeNumber": "7"}
                }},
                {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "mgr-1"}
            ]),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["active"], false);
    assert_eq!(r.body["name"]["givenName"], "Patricia");
    assert_eq!(r.body["name"]["familyName"], "Test");
    assert_eq!(r.body[ENTERPRISE_USER_SCHEMA]["department"], "Ops");
    assert_eq!(r.body[ENTERPRISE_USER_SCHEMA]["employeeNumber"], "7");
    assert_eq!(
        r.body[ENTERPRISE_USER_SCHEMA]["manager"],
        json!({"value": "mgr-1", "$ref": format!("{}/Users/mgr-1", s.base)})
    );
    assert!(
        r.body["schemas"]
            .as_array()
            .expect("schemas")
            .contains(&json!(ENTERPRISE_USER_SCHEMA))
    );
    assert_eq!(
        r.headers["etag"],
        r.body["meta"]["version"].as_str().expect("version")
    );

    // Entra: value-filtered paths create the missing entry, several adds merge into one entry,
    // sub-attribute names are case-insensitive (same Entra document).
    let r = s
        .patch(
            &path,
            json!([
                {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"},
                {"op": "Add", "path": "addresses[type eq \"work\"].streetAddress", "value": "1 Main St"},
                {"op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Springfield"},
                {"op": "Replace", "path": "emails[type eq \"work\"].Value", "value": "pat@new.example"},
                {"op": "Add", "path": "emails[type eq \"home\"].value", "value": "pat@home.example"}
            ]),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 555"}])
    );
    assert_eq!(
        r.body["addresses"],
        json!([{"type": "work", "streetAddress": "1 Main St", "locality": "Springfield"}])
    );
    let emails = r.body["emails"].as_array().expect("emails");
    assert_eq!(emails.len(), 2);
    assert_eq!(emails[0]["value"], "pat@new.example");
    assert_eq!(emails[0]["primary"], true);
    assert_eq!(
        emails[1],
        json!({"type": "home", "value": "pat@home.example"})
    );

    // Okta: lowercase ops, path-less replace of `active` ("Okta SCIM 2.0 guide": deactivate).
    let r = s
        .patch(&path, json!([{"op": "replace", "value": {"active": true}}]))
        .await;
    assert_eq!(r.body["active"], true);

    // Atomicity: one bad operation and nothing changes.
    let before = s.get(&path).await;
    let r = s
        .patch(
            &path,
            json!([
                {"op": "replace", "path": "title", "value": "Changed"},
                {"op": "remove", "path": "name.givenName"},
                {"op": "replace", "path": "groups", "value": []}
            ]),
        )
        .await;
    assert_error(&r, 400, Some("mutability"));
    let after = s.get(&path).await;
    assert_eq!(before.body, after.body);
    assert_eq!(before.headers["etag"], after.headers["etag"]);

    // Removing an entry by value filter, and a no-op PATCH keeps the version.
    let r = s
        .patch(
            &path,
            json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
        )
        .await;
    assert_eq!(r.body["emails"].as_array().map(Vec::len), Some(1));
    let v = r.headers["etag"].clone();
    let r = s
        .patch(
            &path,
            json!([{"op": "add", "path": "title", "value": null}]),
        )
        .await;
    assert_eq!(r.headers["etag"], v);
}

#[tokio::test]
async fn group_membership_patches() {
    let s = serve().await;
    let u1 = s.user("m1").await;
    let u2 = s.user("m2").await;
    let u3 = s.user("m3").await;
    let g = s.group("Team", &[&u1]).await;
    let path = format!("/Groups/{g}");
    let members = |r: &Reply| -> Vec<String> {
        r.body["members"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m["value"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };

    // Entra adds members with `"$ref": null`; adding an existing member is a no-op, and
    // remove and add come in one PATCH ("Microsoft Entra ID: Known issues and resolutions
    // with SCIM 2.0 compliance").
    let r = s
        .patch(
            &path,
            json!([
                {"op": "Add", "path": "members", "value": [{"value": u1, "$ref": null}, {"value": u2, "$ref": null}]},
                {"op": "Add", "path": "members", "value": [{"value": u3}]}
            ]),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(members(&r), [u1.clone(), u2.clone(), u3.clone()]);
    // `$ref` is filled in as an absolute URL from the configured base.
    assert_eq!(
        r.body["members"][0]["$ref"],
        format!("{}/Users/{u1}", s.base)
    );

    // Entra removes with `path: "members"` and a value list: only those go.
    let r = s
        .patch(
            &path,
            json!([{"op": "Remove", "path": "members", "value": [{"value": u2}]}]),
        )
        .await;
    assert_eq!(members(&r), [u1.clone(), u3.clone()]);

    // Okta removes with a value filter ("Okta SCIM 2.0 guide"); removing one that is not a
    // member is not an error.
    let r = s
        .patch(
            &path,
            json!([
                {"op": "remove", "path": format!("members[value eq \"{u1}\"]")},
                {"op": "remove", "path": "members[value eq \"not-a-member\"]"}
            ]),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(members(&r), vec![u3.clone()]);

    // Okta replaces the whole group, with the group's own `id` inside the value
    // ("Okta SCIM 2.0 guide": Update a specific Group name / members).
    let r = s
        .patch(
            &path,
            json!([{"op": "replace", "value": {"id": g, "displayName": "Team 2",
                     "members": [{"value": u1, "display": "m1"}, {"value": u2, "display": "m2"}]}}]),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["displayName"], "Team 2");
    assert_eq!(members(&r), [u1.clone(), u2.clone()]);

    // Replace of the whole list with a path.
    let r = s
        .patch(
            &path,
            json!([{"op": "replace", "path": "members", "value": [{"value": u3}]}]),
        )
        .await;
    assert_eq!(members(&r), vec![u3.clone()]);

    // Entra creates groups with extra schema URIs; accepted.
    let r = s
        .post(
            "/Groups",
            json!({"schemas": [GROUP_SCHEMA, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
                   "displayName": "Entra Group", "externalId": "e-1", "members": []}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["externalId"], "e-1");
}

#[tokio::test]
async fn patch_retries_a_lost_race_without_if_match() {
    let s = serve().await;
    let id = s.user("racer").await;
    if let Ok(mut race) = s.mem.race_once.lock() {
        *race = true;
    }
    let r = s
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "add", "path": "title", "value": "T"}]),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["title"], "T");
    assert_eq!(r.headers["etag"], "W/\"3\"");
}

#[tokio::test]
async fn me_and_custom_resource_type() {
    let s = serve().await;
    let id = s.user("self").await;
    let r = s.get("/Me").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["id"], id.as_str());
    let r = s
        .send(
            Method::PATCH,
            "/Me",
            Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "nickName", "value": "me"}]})),
            &[],
        )
        .await;
    assert_eq!(r.body["nickName"], "me");

    let r = s
        .post(
            "/Accounts",
            json!({"schemas": [ACCOUNT_SCHEMA], "name": "Acme", "licensed": "true", "seats": 5}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["licensed"], true);
    assert_eq!(r.body["meta"]["resourceType"], "Account");
    let r = s
        .get("/Accounts?filter=licensed+eq+true+and+seats+ge+5")
        .await;
    assert_eq!(r.body["totalResults"], 1);
    let r = s.get("/Accounts?filter=seats+gt+5").await;
    assert_eq!(r.body["totalResults"], 0);
}

#[tokio::test]
async fn bulk_operations() {
    let s = serve().await;
    let bulk = |ops: Value, fail: Option<u64>| {
        let mut b = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops});
        if let (Some(f), Some(o)) = (fail, b.as_object_mut()) {
            o.insert("failOnErrors".into(), json!(f));
        }
        b
    };
    // The group references a user created later in the same request.
    let r = s
        .post(
            "/Bulk",
            bulk(
                json!([
                    {"method": "POST", "path": "/Groups", "bulkId": "g1",
                     "data": {"schemas": [GROUP_SCHEMA], "displayName": "Bulk G", "members": [{"value": "bulkId:u1", "type": "User"}]}},
                    {"method": "POST", "path": "/Users", "bulkId": "u1", "data": {"schemas": [USER_SCHEMA], "userName": "bulky"}},
                    {"method": "PATCH", "path": "/Users/bulkId:u1",
                     "data": {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "title", "value": "B"}]}},
                    {"method": "POST", "path": "/Users", "bulkId": "dup", "data": {"userName": "BULKY"}},
                    {"method": "DELETE", "path": "/Users/bulkId:missing"}
                ]),
                None,
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
    );
    let ops = r.body["Operations"].as_array().expect("ops");
    assert_eq!(ops.len(), 5);
    assert_eq!(ops[0]["status"], "201");
    assert_eq!(ops[0]["method"], "POST");
    assert_eq!(ops[0]["bulkId"], "g1");
    assert!(
        ops[0]["location"]
            .as_str()
            .is_some_and(|l| l.starts_with(&s.base))
    );
    assert_eq!(ops[0]["version"], "W/\"1\"");
    assert_eq!(ops[1]["status"], "201");
    assert_eq!(ops[2]["status"], "200");
    assert_eq!(ops[3]["status"], "409");
    assert_eq!(ops[3]["response"]["scimType"], "uniqueness");
    assert_eq!(ops[4]["status"], "409");
    let user_loc = ops[1]["location"].as_str().expect("loc");
    let user_id = user_loc.rsplit('/').next().expect("id");
    let group = s
        .get(
            ops[0]["location"]
                .as_str()
                .expect("loc")
                .trim_start_matches(&s.base),
        )
        .await;
    assert_eq!(group.body["members"][0]["value"], user_id);

    // failOnErrors: 1 stops after the first error.
    let r = s
        .post(
            "/Bulk",
            bulk(
                json!([
                    {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": "bulky"}},
                    {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": "fresh"}}
                ]),
                Some(1),
            ),
        )
        .await;
    assert_eq!(r.body["Operations"].as_array().map(Vec::len), Some(1));
    assert_eq!(s.filter("userName eq \"fresh\"").await.len(), 0);

    // Limits: too many operations, too large a payload.
    let many: Vec<Value> = (0..6)
        .map(|i| json!({"method": "DELETE", "path": format!("/Users/{i}")}))
        .collect();
    let r = s.post("/Bulk", bulk(json!(many), None)).await;
    assert_error(&r, 413, Some("tooMany"));
    let r = s
        .post(
            "/Bulk",
            bulk(json!([{"method": "POST", "path": "/Users", "bulkId": "x", "data": {"userName": "y".repeat(20_000)}}]), None),
        )
        .await;
    assert_error(&r, 413, None);
}

#[tokio::test]
async fn discovery_documents() {
    let s = serve().await;
    let r = s.get("/ServiceProviderConfig").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "application/scim+json");
    assert_eq!(r.body["patch"]["supported"], true);
    assert_eq!(
        r.body["bulk"],
        json!({"supported": true, "maxOperations": 5, "maxPayloadSize": 16384})
    );
    assert_eq!(
        r.body["filter"],
        json!({"supported": true, "maxResults": 50})
    );
    // The core User schema's `password` is writeOnly: clients may set one.
    assert_eq!(r.body["changePassword"]["supported"], true);
    assert_eq!(r.body["sort"]["supported"], true);
    assert_eq!(r.body["etag"]["supported"], true);
    assert_eq!(
        r.body["authenticationSchemes"][0]["type"],
        "oauthbearertoken"
    );
    assert_eq!(
        r.body["meta"]["location"],
        format!("{}/ServiceProviderConfig", s.base)
    );

    let r = s.get("/ResourceTypes").await;
    assert_eq!(r.body["totalResults"], 3);
    let names: Vec<&str> = r.body["Resources"]
        .as_array()
        .expect("rts")
        .iter()
        .filter_map(|x| x["name"].as_str())
        .collect();
    assert_eq!(names, ["User", "Group", "Account"]);
    let r = s.get("/ResourceTypes/User").await;
    assert_eq!(r.body["endpoint"], "/Users");
    assert_eq!(
        r.body["schemaExtensions"][0]["schema"],
        ENTERPRISE_USER_SCHEMA
    );
    assert_eq!(r.body["meta"]["resourceType"], "ResourceType");
    assert_eq!(
        r.body["meta"]["location"],
        format!("{}/ResourceTypes/User", s.base)
    );

    let r = s.get("/Schemas").await;
    assert_eq!(r.body["totalResults"], 4);
    let r = s.get(&format!("/Schemas/{USER_SCHEMA}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["meta"]["resourceType"], "Schema");
    let attrs = r.body["attributes"].as_array().expect("attrs");
    let password = attrs
        .iter()
        .find(|a| a["name"] == "password")
        .expect("password");
    assert_eq!(password["returned"], "never");
    assert_eq!(password["mutability"], "writeOnly");
    let r = s.get(&format!("/Schemas/{ACCOUNT_SCHEMA}")).await;
    assert_eq!(r.body["attributes"][0]["name"], "name");
    let r = s.get("/Schemas/urn:nope").await;
    assert_error(&r, 404, None);
}

#[tokio::test]
async fn put_ignores_read_only_fields() {
    let s = serve().await;
    let id = s.user("putter").await;
    let cur = s.get(&format!("/Users/{id}")).await;
    let mut body = cur.body.clone();
    if let Some(o) = body.as_object_mut() {
        o.insert("groups".into(), json!([]));
        o.insert("displayName".into(), json!("Put Ter"));
        o.insert("nickName".into(), Value::Null);
        o.insert("active".into(), json!("false"));
    }
    let r = s
        .send(Method::PUT, &format!("/Users/{id}"), Some(body), &[])
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["displayName"], "Put Ter");
    assert_eq!(r.body["active"], false);
    assert_eq!(r.body["id"], id.as_str());
}
