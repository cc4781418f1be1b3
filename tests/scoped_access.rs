//! The permission engine end to end: a realistic organisation built over SCIM, then for each
//! (principal, read level) exactly the expected people, seen the same way through an LDAP
//! search bound as the principal and through SCIM with the principal's session token; single
//! reads out of scope are 404, writes need their level, and a limited administrator cannot
//! escalate.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{ADMIN_PASSWORD, Server};
use ldap3::{LdapConnAsync, Scope, SearchEntry};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "rc_test_provisioning_token_0123456789";
const SCIM: &str = "application/scim+json";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const ROLLCALL: &str = "urn:rollcall:scim:schemas:extension:2.0:User";
const ROLE: &str = "urn:rollcall:scim:schemas:extension:2.0:Role";
const ACCOUNT: &str = "urn:rollcall:scim:schemas:2.0:Account";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const PEOPLE: &str = "ou=people,dc=example,dc=com";

const EMPLOYEES: [(&str, Option<&str>); 9] = [
    ("ceo", None),
    ("vp_a", Some("ceo")),
    ("vp_b", Some("ceo")),
    ("mgr_a1", Some("vp_a")),
    ("mgr_a2", Some("vp_a")),
    ("eng1", Some("mgr_a1")),
    ("eng2", Some("mgr_a1")),
    ("eng3", Some("mgr_a2")),
    ("temp", None),
];

/// (name, license type, account)
const OUTSIDERS: [(&str, &str, &str); 4] = [
    ("p_parent", "partner", "Parent Co"),
    ("c_parent", "customer", "Parent Co"),
    ("p_child", "partner", "Child Co"),
    ("p_other", "partner", "Other Co"),
];

fn password(name: &str) -> String {
    format!("{name}-Pass-12345X")
}

struct Org {
    server: Server,
    http: Client,
    admin: String,
    ids: BTreeMap<String, String>,
    /// The one role each principal holds, by principal.
    roles: BTreeMap<String, String>,
}

impl Org {
    async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, self.server.url(path))
            .bearer_auth(bearer);
        if let Some(b) = body {
            req = req.header("content-type", SCIM).body(b.to_string());
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn created(&self, path: &str, bearer: &str, body: Value) -> String {
        let (status, body) = self.call(Method::POST, path, bearer, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{path}: {body}");
        body["id"].as_str().unwrap().to_string()
    }

    async fn build() -> Org {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let server = common::start_directory_with_env("", &[("ROLLCALL_BOOTSTRAP_TOKEN", TOKEN)]);
        let http = Client::new();
        let res = http
            .post(server.url("/auth/token"))
            .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap();
        let admin = res.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        let mut org = Org {
            server,
            http,
            admin,
            ids: BTreeMap::new(),
            roles: BTreeMap::new(),
        };
        let account = |name: &str, parent: Option<&String>| {
            let mut body = json!({"schemas": [ACCOUNT], "name": name, "licensed": true});
            if let Some(p) = parent {
                body["parent"] = json!({"value": p});
            }
            body
        };
        let parent = org
            .created("/scim/v2/Accounts", TOKEN, account("Parent Co", None))
            .await;
        let child = org
            .created(
                "/scim/v2/Accounts",
                TOKEN,
                account("Child Co", Some(&parent)),
            )
            .await;
        let other = org
            .created("/scim/v2/Accounts", TOKEN, account("Other Co", None))
            .await;
        let accounts: BTreeMap<&str, String> = [
            ("Parent Co", parent),
            ("Child Co", child),
            ("Other Co", other),
        ]
        .into();

        for (name, manager) in EMPLOYEES {
            let mut body = user_body(name, "employee");
            if let Some(m) = manager {
                body[ENTERPRISE] = json!({"manager": {"value": org.ids[m]}});
            }
            let id = org.created("/scim/v2/Users", TOKEN, body).await;
            org.ids.insert(name.into(), id);
        }
        for (name, license, account) in OUTSIDERS {
            let mut body = user_body(name, license);
            body[ROLLCALL]["account"] = json!({"value": accounts[account]});
            let id = org.created("/scim/v2/Users", TOKEN, body).await;
            org.ids.insert(name.into(), id);
        }
        org
    }

    /// Gives `who` its own role of `role_type`, holding nothing yet, with API access.
    async fn role_for(&mut self, who: &str, role_type: &str) {
        let id = self
            .created(
                "/scim/v2/Groups",
                &self.admin.clone(),
                json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", ROLE],
                    "displayName": format!("role of {who}"),
                    "members": [{"value": self.ids[who]}],
                    ROLE: {"roleType": role_type, "settings": {"apiAccess": true}},
                }),
            )
            .await;
        self.roles.insert(who.into(), id);
    }

    /// Sets the user permissions (read, create, edit, delete) of `who`'s role.
    async fn levels(&self, who: &str, levels: [&str; 4]) {
        let (status, body) = self
            .call(
                Method::PATCH,
                &format!("/scim/v2/Groups/{}", self.roles[who]),
                &self.admin,
                Some(json!({"schemas": [PATCH_OP], "Operations": [{
                    "op": "replace",
                    "path": format!("{ROLE}:permissions"),
                    "value": {"user": {
                        "read": levels[0], "create": levels[1],
                        "edit": levels[2], "delete": levels[3],
                    }},
                }]})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{who} {levels:?}: {body}");
    }

    async fn session(&self, who: &str) -> String {
        let res = self
            .http
            .post(self.server.url("/auth/token"))
            .json(&json!({"username": who, "password": password(who)}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "login of {who}");
        res.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// An LDAP connection bound as `who`.
    async fn ldap_as(&self, who: &str) -> ldap3::Ldap {
        let (conn, mut ldap) = LdapConnAsync::new(&format!("ldap://{}", self.server.ldap))
            .await
            .unwrap();
        ldap3::drive!(conn);
        ldap.simple_bind(&format!("uid={who},{PEOPLE}"), &password(who))
            .await
            .unwrap()
            .success()
            .unwrap();
        ldap
    }

    /// The people `who` sees through an LDAP subtree search of ou=people, bound as itself.
    async fn ldap_visible(&self, who: &str) -> BTreeSet<String> {
        let mut ldap = self.ldap_as(who).await;
        let result = ldap
            .search(
                PEOPLE,
                Scope::Subtree,
                "(objectClass=inetOrgPerson)",
                vec!["uid"],
            )
            .await
            .unwrap();
        let seen = match result.1.rc {
            0 => result
                .0
                .into_iter()
                .map(|e| SearchEntry::construct(e).attrs["uid"][0].clone())
                .collect(),
            // A principal that may read nothing does not see the tree at all.
            32 => BTreeSet::new(),
            rc => panic!("search as {who}: rc {rc} {}", result.1.text),
        };
        let _ = ldap.unbind().await;
        seen
    }

    /// The people `who` sees through SCIM with its session token; single reads must agree.
    async fn scim_visible(&self, who: &str) -> BTreeSet<String> {
        let token = self.session(who).await;
        let (status, list) = self
            .call(Method::GET, "/scim/v2/Users?count=500", &token, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let seen: BTreeSet<String> = list["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["userName"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(list["totalResults"], seen.len(), "{who}");
        for (name, id) in &self.ids {
            let (status, _) = self
                .call(Method::GET, &format!("/scim/v2/Users/{id}"), &token, None)
                .await;
            let expected = if seen.contains(name) {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            assert_eq!(
                status, expected,
                "{who} reading {name}: out of scope is 404, not 403"
            );
        }
        seen
    }
}

fn user_body(name: &str, license: &str) -> Value {
    json!({
        "userName": name,
        "active": true,
        "password": password(name),
        "emails": [{"value": format!("{name}@example.com"), "type": "work", "primary": true}],
        ROLLCALL: {"licenseType": license},
    })
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn read_levels_show_the_same_people_over_ldap_and_scim() {
    let mut org = Org::build().await;
    for (who, role_type) in [
        ("eng1", "employee"),
        ("eng2", "employee"),
        ("eng3", "employee"),
        ("mgr_a1", "employee"),
        ("vp_a", "employee"),
        ("temp", "employee"),
        ("p_parent", "partner"),
        ("p_child", "partner"),
        ("c_parent", "customer"),
    ] {
        org.role_for(who, role_type).await;
    }
    let all_employees: Vec<&str> = EMPLOYEES.iter().map(|(n, _)| *n).collect();
    let table: Vec<(&str, &str, Vec<&str>)> = vec![
        ("eng1", "private", vec!["eng1"]),
        (
            "mgr_a1",
            "subordinates_direct",
            vec!["mgr_a1", "eng1", "eng2"],
        ),
        (
            "vp_a",
            "subordinates_direct",
            vec!["vp_a", "mgr_a1", "mgr_a2"],
        ),
        (
            "vp_a",
            "subordinates_all",
            vec!["vp_a", "mgr_a1", "mgr_a2", "eng1", "eng2", "eng3"],
        ),
        ("eng1", "team", vec!["eng1", "mgr_a1", "eng2"]),
        ("mgr_a1", "team", vec!["mgr_a1", "vp_a", "mgr_a2"]),
        (
            "mgr_a1",
            "team_subordinates_direct",
            vec!["mgr_a1", "vp_a", "mgr_a2", "eng1", "eng2"],
        ),
        (
            "vp_a",
            "team_subordinates_all",
            vec![
                "vp_a", "ceo", "vp_b", "mgr_a1", "mgr_a2", "eng1", "eng2", "eng3",
            ],
        ),
        ("temp", "team", vec!["temp"]),
        // Every employee, and the bootstrap admin is one.
        (
            "eng3",
            "all_employees",
            [all_employees.as_slice(), &["admin"]].concat(),
        ),
        ("p_parent", "account", vec!["p_parent", "c_parent"]),
        (
            "p_parent",
            "account_hierarchy",
            vec!["p_parent", "c_parent", "p_child"],
        ),
        ("p_child", "account_hierarchy", vec!["p_child"]),
        ("c_parent", "private", vec!["c_parent"]),
        ("eng2", "none", vec![]),
    ];
    for (who, level, expected) in table {
        org.levels(who, [level, "none", "none", "none"]).await;
        let expected = names(&expected);
        let over_ldap = org.ldap_visible(who).await;
        assert_eq!(over_ldap, expected, "LDAP: {who} with {level}");
        let over_scim = org.scim_visible(who).await;
        // SCIM lists service accounts as users too; the people must match exactly.
        let people: BTreeSet<String> = over_scim
            .into_iter()
            .filter(|n| n != "provisioning")
            .collect();
        assert_eq!(people, expected, "SCIM: {who} with {level}");
        org.levels(who, ["none", "none", "none", "none"]).await;
    }
    // Every permission change is in the audit trail with what it was and what it became.
    let (status, events) = org
        .call(
            Method::GET,
            &format!(
                "/admin/audit?kind=role_changed&target={}",
                org.roles["vp_a"]
            ),
            &org.admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let reads: Vec<(Value, Value)> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["before"]["permissions"]["user"]["read"].clone(),
                e["after"]["permissions"]["user"]["read"].clone(),
            )
        })
        .collect();
    assert!(
        reads.contains(&(json!("none"), json!("subordinates_all"))),
        "{reads:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_need_their_level_over_ldap_and_scim() {
    let mut org = Org::build().await;
    org.role_for("eng1", "employee").await;
    org.levels("eng1", ["team", "none", "private", "none"])
        .await;
    let eng1 = org.session("eng1").await;
    let title = |t: &str| json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": t}]});
    // Own record: Edit private allows it; a visible teammate: 403; out of sight: 404.
    let (status, body) = org
        .call(
            Method::PATCH,
            &format!("/scim/v2/Users/{}", org.ids["eng1"]),
            &eng1,
            Some(title("Engineer")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = org
        .call(
            Method::PATCH,
            &format!("/scim/v2/Users/{}", org.ids["eng2"]),
            &eng1,
            Some(title("Intern")),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = org
        .call(
            Method::PATCH,
            &format!("/scim/v2/Users/{}", org.ids["ceo"]),
            &eng1,
            Some(title("Intern")),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = org
        .call(
            Method::DELETE,
            &format!("/scim/v2/Users/{}", org.ids["eng2"]),
            &eng1,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = org
        .call(
            Method::POST,
            "/scim/v2/Users",
            &eng1,
            Some(user_body("newbie", "employee")),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no Create level");

    // The same over LDAP, bound as eng1.
    let mut ldap = org.ldap_as("eng1").await;
    let modify = |uid: &str| {
        (
            format!("uid={uid},{PEOPLE}"),
            vec![ldap3::Mod::Replace(
                "title",
                std::collections::HashSet::from(["Renamed"]),
            )],
        )
    };
    let (dn, mods) = modify("eng1");
    assert_eq!(ldap.modify(&dn, mods).await.unwrap().rc, 0);
    let (dn, mods) = modify("eng2");
    assert_eq!(
        ldap.modify(&dn, mods).await.unwrap().rc,
        50,
        "insufficientAccessRights"
    );
    let (dn, mods) = modify("ceo");
    assert_eq!(ldap.modify(&dn, mods).await.unwrap().rc, 32, "noSuchObject");
    assert_eq!(
        ldap.delete(&format!("uid=eng2,{PEOPLE}")).await.unwrap().rc,
        50
    );

    // A partner creates users in its own account only.
    org.role_for("p_parent", "partner").await;
    org.levels("p_parent", ["account", "account", "account", "none"])
        .await;
    let partner = org.session("p_parent").await;
    let (_, accounts) = org
        .call(Method::GET, "/scim/v2/Accounts", TOKEN, None)
        .await;
    let account_id = |name: &str| {
        accounts["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let mut mine = user_body("p_new", "partner");
    mine[ROLLCALL]["account"] = json!({"value": account_id("Parent Co")});
    mine["active"] = json!(false);
    let (status, body) = org
        .call(Method::POST, "/scim/v2/Users", &partner, Some(mine))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut theirs = user_body("p_intruder", "partner");
    theirs[ROLLCALL]["account"] = json!({"value": account_id("Other Co")});
    theirs["active"] = json!(false);
    let (status, _) = org
        .call(Method::POST, "/scim/v2/Users", &partner, Some(theirs))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Nor moves one of its users into another account.
    let (status, _) = org
        .call(
            Method::PATCH,
            &format!("/scim/v2/Users/{}", org.ids["c_parent"]),
            &partner,
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "path": format!("{ROLLCALL}:account"), "value": {"value": account_id("Other Co")}}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// References name only what the reader may read (DESIGN §2: a bound user sees only what its
/// Read levels allow): a partner reading its own entry does not learn the name of its employee
/// manager, nor of groups or accounts it cannot read, over SCIM or LDAP (the ids stay: they
/// name nothing); an administrator sees them all.
#[tokio::test(flavor = "multi_thread")]
async fn references_name_only_what_the_reader_may_read() {
    let mut org = Org::build().await;
    org.role_for("p_parent", "partner").await;
    org.levels("p_parent", ["account", "none", "none", "none"])
        .await;
    let plain = org
        .created(
            "/scim/v2/Groups",
            &org.admin,
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                   "displayName": "Board confidential",
                   "members": [{"value": org.ids["p_parent"]}]}),
        )
        .await;
    let (status, body) = org
        .call(
            Method::PATCH,
            &format!("/scim/v2/Users/{}", org.ids["p_parent"]),
            &org.admin,
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "path": format!("{ENTERPRISE}:manager"), "value": org.ids["mgr_a1"]}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let own = format!("/scim/v2/Users/{}", org.ids["p_parent"]);
    let (_, seen_by_admin) = org.call(Method::GET, &own, &org.admin, None).await;
    assert_eq!(
        seen_by_admin[ENTERPRISE]["manager"]["displayName"], "mgr_a1",
        "{seen_by_admin}"
    );
    let groups = seen_by_admin["groups"].to_string();
    assert!(
        groups.contains("Board confidential") && groups.contains(&plain),
        "{groups}"
    );
    assert_eq!(
        seen_by_admin[ROLLCALL]["account"]["display"], "Parent Co",
        "{seen_by_admin}"
    );

    let partner = org.session("p_parent").await;
    let (status, seen) = org.call(Method::GET, &own, &partner, None).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    let text = seen.to_string();
    assert!(!text.contains("mgr_a1"), "the manager's name: {text}");
    assert!(
        !text.contains("Board confidential"),
        "a group it cannot read: {text}"
    );
    assert!(
        !text.contains("role of p_parent"),
        "its role, which it may not read: {text}"
    );
    assert!(
        !text.contains("Parent Co"),
        "its role reads no accounts, so not even its own account's name: {text}"
    );
    assert_eq!(
        seen[ROLLCALL]["account"]["value"],
        seen_by_admin[ROLLCALL]["account"]["value"]
    );

    let mut ldap = org.ldap_as("p_parent").await;
    let ldap3::SearchResult(entries, done) = ldap
        .search(
            &format!("uid=p_parent,{PEOPLE}"),
            Scope::Base,
            "(objectClass=*)",
            vec!["manager", "memberOf", "account", "uid"],
        )
        .await
        .unwrap();
    assert_eq!(done.rc, 0, "{done:?}");
    let entry = SearchEntry::construct(entries.into_iter().next().expect("its own entry"));
    assert!(!entry.attrs.contains_key("manager"), "{:?}", entry.attrs);
    assert!(!entry.attrs.contains_key("memberOf"), "{:?}", entry.attrs);
    assert!(!entry.attrs.contains_key("account"), "{:?}", entry.attrs);
    assert_eq!(entry.attrs["uid"], vec!["p_parent".to_string()]);
    let _ = ldap.unbind().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn limited_administrators_cannot_escalate_over_scim() {
    let org = Org::build().await;
    let admins = org.admin_group().await;
    // vp_b: HR, a limited administrator (Create/Edit on User, no Administrator flag).
    let hr = org
        .created(
            "/scim/v2/Groups",
            &org.admin,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", ROLE],
                "displayName": "HR",
                "members": [{"value": org.ids["vp_b"]}],
                ROLE: {
                    "roleType": "employee",
                    "settings": {"apiAccess": true},
                    "permissions": {
                        "user": {"read": "all_employees", "create": "all_employees", "edit": "all_employees", "delete": "none"},
                        "role": {"read": "all", "create": "none", "edit": "all", "delete": "none"},
                    },
                },
            }),
        )
        .await;
    let (status, _) = org
        .call(
            Method::PATCH,
            &format!("/scim/v2/Groups/{admins}"),
            &org.admin,
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": org.ids["ceo"]}]}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let vp_b = org.session("vp_b").await;
    let add = |who: &str| {
        json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "add", "path": "members", "value": [{"value": org.ids[who]}]}
        ]})
    };
    // Does the job: edits an ordinary employee.
    let (status, body) = org
        .call(
            Method::PATCH,
            &format!("/scim/v2/Users/{}", org.ids["eng3"]),
            &vp_b,
            Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "R&D"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Cannot make anyone, itself included, an administrator.
    for who in ["vp_b", "eng3"] {
        let (status, body) = org
            .call(
                Method::PATCH,
                &format!("/scim/v2/Groups/{admins}"),
                &vp_b,
                Some(add(who)),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {body}");
    }
    // Cannot widen its own role.
    let (status, _) = org
        .call(
            Method::PATCH,
            &format!("/scim/v2/Groups/{hr}"),
            &vp_b,
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "path": format!("{ROLE}:permissions"), "value": {"user": {"delete": "all"}}}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Cannot edit an administrator.
    let (status, _) = org
        .call(
            Method::PATCH,
            &format!("/scim/v2/Users/{}", org.ids["ceo"]),
            &vp_b,
            Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "ex-CEO"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Nor an administrator's sign-in: its authenticator, lock, sessions and reset links, which
    // it may handle for ordinary employees.
    let account_calls = |who: &str| {
        let id = &org.ids[who];
        [
            (Method::DELETE, format!("/auth/totp?user={id}")),
            (Method::POST, format!("/admin/users/{id}/unlock")),
            (Method::POST, format!("/admin/users/{id}/sign-out")),
            (Method::GET, format!("/admin/sessions?user={id}")),
            (Method::POST, format!("/admin/users/{id}/password-link")),
        ]
    };
    for (method, path) in account_calls("ceo") {
        let (status, body) = org.call(method.clone(), &path, &vp_b, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("only administrators can change administrator"),
            "{method} {path}: {body}"
        );
    }
    for (method, path) in account_calls("eng3") {
        let (status, body) = org.call(method.clone(), &path, &vp_b, None).await;
        assert!(status.is_success(), "{method} {path}: {status} {body}");
    }
    // Nothing of it happened.
    let (_, group) = org
        .call(
            Method::GET,
            &format!("/scim/v2/Groups/{admins}"),
            &org.admin,
            None,
        )
        .await;
    let members: BTreeSet<&str> = group["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["display"].as_str().unwrap())
        .collect();
    assert_eq!(members, BTreeSet::from(["admin", "ceo"]));
    let (_, ceo) = org
        .call(
            Method::GET,
            &format!("/scim/v2/Users/{}", org.ids["ceo"]),
            &org.admin,
            None,
        )
        .await;
    assert!(ceo.get("title").is_none(), "{ceo}");
}

impl Org {
    /// The Administrators group made at first start.
    async fn admin_group(&self) -> String {
        let (status, list) = self
            .call(
                Method::GET,
                "/scim/v2/Groups?filter=displayName+eq+%22Administrators%22",
                &self.admin,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        list["Resources"][0]["id"].as_str().unwrap().to_string()
    }
}

/// A PATCH that only removes members is applied to the member list its caller is shown: a
/// member out of the caller's sight is in no list it was shown, so removing it by id removes
/// nothing (and says nothing of it), as the whole-list PATCH would.
#[tokio::test(flavor = "multi_thread")]
async fn a_member_removal_reaches_only_members_the_caller_can_see() {
    let org = Org::build().await;
    // mgr_a1 edits roles and sees only the people under it (eng1, eng2), not eng3.
    org.created(
        "/scim/v2/Groups",
        &org.admin,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", ROLE],
            "displayName": "Team leads",
            "members": [{"value": org.ids["mgr_a1"]}],
            ROLE: {
                "roleType": "employee",
                "settings": {"apiAccess": true},
                "permissions": {
                    "user": {"read": "subordinates_all", "create": "none", "edit": "subordinates_all", "delete": "none"},
                    "role": {"read": "all", "create": "none", "edit": "all", "delete": "none"},
                },
            },
        }),
    )
    .await;
    let crew = org
        .created(
            "/scim/v2/Groups",
            &org.admin,
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Crew",
                   "members": [{"value": org.ids["eng1"]}, {"value": org.ids["eng3"]}]}),
        )
        .await;
    let path = format!("/scim/v2/Groups/{crew}");
    let members = common::group_member_ids;
    let remove = |who: &str| {
        json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "remove", "path": format!("members[value eq \"{}\"]", org.ids[who])}
        ]})
    };
    let lead = org.session("mgr_a1").await;
    let (_, shown) = org.call(Method::GET, &path, &lead, None).await;
    assert_eq!(members(&shown), BTreeSet::from([org.ids["eng1"].clone()]));

    let (status, body) = org
        .call(Method::PATCH, &path, &lead, Some(remove("eng3")))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(members(&body), BTreeSet::from([org.ids["eng1"].clone()]));
    let (_, all) = org.call(Method::GET, &path, &org.admin, None).await;
    assert_eq!(
        members(&all),
        BTreeSet::from([org.ids["eng1"].clone(), org.ids["eng3"].clone()]),
        "a member out of sight stays"
    );

    let (status, body) = org
        .call(Method::PATCH, &path, &lead, Some(remove("eng1")))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(members(&body), BTreeSet::new());
    let (_, all) = org.call(Method::GET, &path, &org.admin, None).await;
    assert_eq!(members(&all), BTreeSet::from([org.ids["eng3"].clone()]));

    // One who may read the role but not change it: adding a member it is shown changes
    // nothing and is no error; adding anyone else is refused.
    org.created(
        "/scim/v2/Groups",
        &org.admin,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", ROLE],
            "displayName": "Auditors",
            "members": [{"value": org.ids["vp_b"]}],
            ROLE: {
                "roleType": "employee",
                "settings": {"apiAccess": true},
                "permissions": {
                    "user": {"read": "all_employees", "create": "none", "edit": "none", "delete": "none"},
                    "role": {"read": "all", "create": "none", "edit": "none", "delete": "none"},
                },
            },
        }),
    )
    .await;
    let auditor = org.session("vp_b").await;
    let add = |who: &str| {
        json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "add", "path": "members", "value": [{"value": org.ids[who]}]}
        ]})
    };
    let (status, body) = org
        .call(Method::PATCH, &path, &auditor, Some(add("eng3")))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(members(&body), BTreeSet::from([org.ids["eng3"].clone()]));
    assert_eq!(body["meta"]["version"], all["meta"]["version"]);
    let (status, body) = org
        .call(Method::PATCH, &path, &auditor, Some(add("eng2")))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}
