//! Sign-in activity: the last sign-in of every user, access reviews (CLI, REST, LDAP's
//! `authTimestamp`) and the dormant-account rule (`[activity] deactivate_after_days`).

mod common;

use std::time::Duration as StdDuration;

use common::{admin, create, person, service_with};
use rollcall::audit::{AuditKind, Source};
use rollcall::model::{LicenseLimits, LicenseType, PrincipalKind, Role, RoleType, User};
use rollcall::outbox::MessageKind;
use rollcall::service::{DormancyPolicy, LoginSource, SecondFactor, Service};
use time::{Duration, OffsetDateTime};

const PASSWORD: &str = "Correct-Horse-42";

fn sign_in(service: &Service, name: &str) {
    service
        .login(
            name,
            PASSWORD,
            SecondFactor::Separate(None),
            LoginSource {
                source: Source::Rest,
                client: None,
                expects: rollcall::service::Expected::Anyone,
            },
        )
        .unwrap_or_else(|e| panic!("{name} signs in: {e}"));
}

fn with_password(service: &Service, user: User) -> User {
    let user = create(service, user);
    service.set_password(&admin(), user.id, PASSWORD).unwrap();
    user
}

fn employee_seats(service: &Service) -> u64 {
    service
        .license_usage()
        .unwrap()
        .into_iter()
        .find(|u| u.license == LicenseType::Employee)
        .unwrap()
        .used
}

/// The outbox's messages of `kind`, oldest first.
fn messages(service: &Service, kind: MessageKind) -> Vec<rollcall::outbox::OutboxMessage> {
    service
        .outbox()
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == kind)
        .collect()
}

fn active(service: &Service, name: &str) -> bool {
    service.user_by_name(&admin(), name).unwrap().active
}

/// The rule is tried with a policy of seconds rather than days: what is under test is which
/// users it picks and what it does to them, and only real sign-ins and activations, at real
/// times, can tell a recent user from an idle one.
#[test]
fn the_dormant_rule_deactivates_only_people_idle_past_the_limit() {
    let (_dir, service) = service_with(LicenseLimits {
        employee: Some(20),
        ..LicenseLimits::default()
    });
    let policy = DormancyPolicy {
        after: Duration::seconds(2),
        per_run: 10,
        warn_before: None,
    };
    let now = OffsetDateTime::now_utc;
    // Before tracking starts nobody is dormant, whatever the records say.
    with_password(&service, person("idle", LicenseType::Employee, true));
    let untracked = service
        .deactivate_dormant(policy, now() + Duration::days(365))
        .unwrap();
    assert!(untracked.deactivated.is_empty(), "{untracked:?}");
    assert!(active(&service, "idle"));
    service
        .start_activity_tracking(now() - Duration::days(90))
        .unwrap();

    with_password(&service, person("recent", LicenseType::Employee, true));
    create(&service, person("inactive", LicenseType::Employee, false));
    let later = create(&service, person("later", LicenseType::Employee, false));
    let mut api = User::new("robot");
    api.kind = PrincipalKind::Api;
    api.active = true;
    create(&service, api);
    let mut sso_role = Role::new("SSO only", Some(RoleType::Employee));
    sso_role.settings.password_login_disabled = true;
    let sso_role = service.create_role(&admin(), sso_role).unwrap();
    let sso = create(&service, person("sso", LicenseType::Employee, true));
    service.add_member(&admin(), sso_role.id, sso.id).unwrap();
    // The only administrator, idle like `idle`.
    let mut admins = Role::new("Admins", Some(RoleType::Employee));
    admins.administrator = true;
    let admins = service.create_role(&admin(), admins).unwrap();
    let boss = with_password(&service, person("boss", LicenseType::Employee, true));
    service.add_member(&admin(), admins.id, boss.id).unwrap();

    std::thread::sleep(StdDuration::from_millis(3000));
    sign_in(&service, "recent");
    service.set_active(&admin(), later.id, true, None).unwrap();
    let seats_before = employee_seats(&service);

    let run = service.deactivate_dormant(policy, now()).unwrap();
    assert_eq!(run.deactivated, ["idle"], "{run:?}");
    assert_eq!(run.kept.len(), 1, "the last administrator stays: {run:?}");
    assert!(run.kept[0].contains("boss"), "{run:?}");
    assert_eq!(run.deferred, 0);
    assert!(!active(&service, "idle"));
    for name in ["recent", "later", "robot", "sso", "boss"] {
        assert!(active(&service, name), "{name} was left active");
    }
    assert_eq!(
        employee_seats(&service),
        seats_before - 1,
        "the dormant user's license is free"
    );

    let idle = service.user_by_name(&admin(), "idle").unwrap();
    let events = service.audit_events().unwrap();
    let deactivated: Vec<_> = events
        .iter()
        .filter(|e| e.kind == AuditKind::UserDeactivated)
        .collect();
    assert_eq!(deactivated.len(), 1, "{deactivated:?}");
    assert_eq!(
        deactivated[0].target.as_deref(),
        Some(&*idle.id.to_string())
    );
    assert_eq!(deactivated[0].actor, "system");
    let detail = deactivated[0].detail.as_deref().unwrap();
    assert!(
        detail.starts_with("dormant: no activity for 0 days (no sign-in recorded)"),
        "{detail}"
    );
    let notices = messages(&service, MessageKind::DormantDeactivated);
    assert_eq!(notices.len(), 1, "one notice per deactivated user");
    assert_eq!(notices[0].user, Some(idle.id));
    assert_eq!(notices[0].subject, "Dormant account deactivated: idle");
    assert!(
        notices[0]
            .body
            .contains("idle was deactivated after 0 days without signing in (no sign-in recorded); its employee license is free again"),
        "{}",
        notices[0].body
    );

    // A second run finds nobody new; an administrator who brings the user back is not undone
    // by the next run, since the activation counts as activity.
    assert!(
        service
            .deactivate_dormant(policy, now())
            .unwrap()
            .deactivated
            .is_empty()
    );
    service.set_active(&admin(), idle.id, true, None).unwrap();
    assert!(
        service
            .deactivate_dormant(policy, now())
            .unwrap()
            .deactivated
            .is_empty()
    );
    assert!(active(&service, "idle"));
}

#[test]
fn a_run_deactivates_at_most_its_share_and_leaves_the_rest_for_the_next() {
    let (_dir, service) = service_with(LicenseLimits::default());
    service
        .start_activity_tracking(OffsetDateTime::now_utc() - Duration::days(1))
        .unwrap();
    for name in ["a", "b", "c"] {
        create(&service, person(name, LicenseType::Employee, true));
    }
    std::thread::sleep(StdDuration::from_millis(1500));
    let policy = DormancyPolicy {
        after: Duration::seconds(1),
        per_run: 2,
        warn_before: None,
    };
    let first = service
        .deactivate_dormant(policy, OffsetDateTime::now_utc())
        .unwrap();
    assert_eq!(first.deactivated.len(), 2, "{first:?}");
    assert_eq!(first.deferred, 1);
    let second = service
        .deactivate_dormant(policy, OffsetDateTime::now_utc())
        .unwrap();
    assert_eq!(second.deactivated.len(), 1, "{second:?}");
    assert_eq!(second.deferred, 0);
    for name in ["a", "b", "c"] {
        assert!(!active(&service, name));
    }
}

#[test]
fn users_are_warned_once_before_their_deactivation() {
    let (_dir, service) = service_with(LicenseLimits::default());
    service
        .start_activity_tracking(OffsetDateTime::now_utc() - Duration::days(1))
        .unwrap();
    let policy = DormancyPolicy {
        after: Duration::seconds(4),
        per_run: 10,
        warn_before: Some(Duration::seconds(3)),
    };
    let quiet = with_password(&service, person("quiet", LicenseType::Employee, true));
    let mut no_mail = person("nomail", LicenseType::Employee, true);
    no_mail.emails.clear();
    create(&service, no_mail);
    let run = service
        .deactivate_dormant(policy, OffsetDateTime::now_utc())
        .unwrap();
    assert!(run.warned.is_empty(), "too early: {run:?}");
    std::thread::sleep(StdDuration::from_millis(1500));
    let run = service
        .deactivate_dormant(policy, OffsetDateTime::now_utc())
        .unwrap();
    assert_eq!(run.warned, ["quiet"], "nomail has no address: {run:?}");
    assert!(run.deactivated.is_empty());
    let warnings = messages(&service, MessageKind::DormantWarning);
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].to.as_deref(), Some("quiet@example.com"));
    assert_eq!(warnings[0].user, Some(quiet.id));
    assert_eq!(
        warnings[0].subject,
        "Your account quiet will be deactivated soon"
    );
    assert!(
        warnings[0].body.contains("It will be deactivated on 20")
            && warnings[0].body.contains("unless you sign in before then."),
        "{}",
        warnings[0].body
    );
    let run = service
        .deactivate_dormant(policy, OffsetDateTime::now_utc())
        .unwrap();
    assert!(
        run.warned.is_empty(),
        "one warning per idle stretch: {run:?}"
    );
    // Signing in starts a new stretch: no deactivation, and a new warning only once it, too,
    // runs long.
    sign_in(&service, "quiet");
    std::thread::sleep(StdDuration::from_millis(3000));
    let run = service
        .deactivate_dormant(policy, OffsetDateTime::now_utc())
        .unwrap();
    assert_eq!(run.deactivated, ["nomail"], "{run:?}");
    assert!(active(&service, "quiet"));
    assert_eq!(
        run.warned,
        ["quiet"],
        "the new stretch is long enough again"
    );
}

#[test]
fn sign_ins_are_recorded_once_a_minute_and_forgotten_with_the_person() {
    let (_dir, service) = service_with(LicenseLimits::default());
    let since = service
        .start_activity_tracking(OffsetDateTime::now_utc())
        .unwrap();
    assert_eq!(
        service
            .start_activity_tracking(OffsetDateTime::now_utc() + Duration::days(3))
            .unwrap(),
        since,
        "tracking starts once"
    );
    let user = with_password(&service, person("carol", LicenseType::Employee, true));
    assert_eq!(
        service.activity(&admin(), user.id).unwrap().last_login,
        None
    );
    let before = OffsetDateTime::now_utc();
    sign_in(&service, "carol");
    let first = service
        .activity(&admin(), user.id)
        .unwrap()
        .last_login
        .expect("recorded");
    assert!(first >= before - Duration::seconds(1) && first <= OffsetDateTime::now_utc());
    let audited = service.audit_events().unwrap().len();
    sign_in(&service, "carol");
    assert_eq!(
        service.activity(&admin(), user.id).unwrap().last_login,
        Some(first),
        "a sign-in within the minute keeps the recorded one"
    );
    assert_eq!(
        service.audit_events().unwrap().len(),
        audited + 1,
        "every sign-in is still audited"
    );
    service.anonymise_user(&admin(), user.id, None).unwrap();
    assert_eq!(
        service
            .references(&admin())
            .unwrap()
            .last_login(user.id)
            .unwrap(),
        None,
        "when an anonymised person signed in is erased with the rest"
    );
}

const TOKEN: &str = "rc_test_provisioning_token_0123456789";
const ROLE: &str = "urn:rollcall:scim:schemas:extension:2.0:Role";
const PEOPLE: &str = "ou=people,dc=example,dc=com";

/// A SCIM or REST call; the status and the body (JSON when it is, else the text).
async fn call(
    http: &reqwest::Client,
    server: &common::Server,
    method: reqwest::Method,
    path: &str,
    bearer: &str,
    body: Option<serde_json::Value>,
) -> (reqwest::StatusCode, serde_json::Value) {
    let mut req = http.request(method, server.url(path)).bearer_auth(bearer);
    if let Some(body) = body {
        req = req
            .header("content-type", "application/scim+json")
            .body(body.to_string());
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, value)
}

/// `GET /scim/v2/Users/{id}` with the provisioning token.
async fn scim_user(
    http: &reqwest::Client,
    server: &common::Server,
    id: &impl std::fmt::Display,
) -> (reqwest::StatusCode, serde_json::Value) {
    call(
        http,
        server,
        reqwest::Method::GET,
        &format!("/scim/v2/Users/{id}"),
        TOKEN,
        None,
    )
    .await
}

/// Rows of a CSV access review by userName (the header's names as keys).
fn csv_rows(
    text: &str,
) -> std::collections::HashMap<String, std::collections::HashMap<String, String>> {
    let mut lines = text.split("\r\n").filter(|l| !l.is_empty());
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines
        .map(|line| {
            // The names in this test need no quoting.
            let row: std::collections::HashMap<String, String> = header
                .iter()
                .cloned()
                .zip(line.split(',').map(String::from))
                .collect();
            (row["userName"].clone(), row)
        })
        .collect()
}

/// carol's entry, with `attrs` asked for.
async fn carol_attrs(
    ldap: &mut ldap3::Ldap,
    attrs: Vec<&str>,
) -> std::collections::HashMap<String, Vec<String>> {
    let (mut entries, _) = ldap
        .search(
            &format!("uid=carol,{PEOPLE}"),
            ldap3::Scope::Base,
            "(objectClass=*)",
            attrs,
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    ldap3::SearchEntry::construct(entries.remove(0)).attrs
}

fn recent(stamp: &str) -> bool {
    OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
        .is_ok_and(|t| (OffsetDateTime::now_utc() - t).abs() < Duration::minutes(5))
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_ins_show_in_access_reviews_from_the_cli_rest_and_ldap() {
    use reqwest::{Method, StatusCode};
    use serde_json::json;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = common::start_directory_with_env("", &[("ROLLCALL_BOOTSTRAP_TOKEN", TOKEN)]);
    let http = reqwest::Client::new();
    let admin = common::admin_session(&http, &format!("http://{}", server.http)).await;
    let (status, helpdesk) = call(
        &http,
        &server,
        Method::POST,
        "/scim/v2/Groups",
        &admin,
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", ROLE],
            "displayName": "Helpdesk",
            ROLE: {"roleType": "employee", "permissions": {"user": {"read": "all", "edit": "team"}},
                "settings": {"sessionTimeoutMinutes": 240, "allowedNetworks": ["127.0.0.0/8", "10.0.0.0/8"]}},
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{helpdesk}");
    let mut ids = std::collections::HashMap::new();
    for (name, active, password) in [
        ("carol", true, Some(PASSWORD)),
        ("dave", true, None),
        ("erin", false, Some(PASSWORD)),
    ] {
        let mut body = json!({"userName": name, "active": active,
            "emails": [{"value": format!("{name}@example.com"), "primary": true}]});
        if let Some(pw) = password {
            body["password"] = json!(pw);
        }
        let (status, user) = call(
            &http,
            &server,
            Method::POST,
            "/scim/v2/Users",
            TOKEN,
            Some(body),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
        ids.insert(name, user["id"].as_str().unwrap().to_string());
    }
    let (status, body) = call(
        &http,
        &server,
        Method::PATCH,
        &format!("/scim/v2/Groups/{}", helpdesk["id"].as_str().unwrap()),
        TOKEN,
        Some(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": ids["carol"]}]}]}),
        ),
    )
    .await;
    assert!(status.is_success(), "{body}");
    // carol binds over LDAP; the admin signed in over REST above.
    let (conn, mut ldap) = ldap3::LdapConnAsync::new(&format!("ldap://{}", server.ldap))
        .await
        .unwrap();
    ldap3::drive!(conn);
    ldap.simple_bind(&format!("uid=carol,{PEOPLE}"), PASSWORD)
        .await
        .unwrap()
        .success()
        .unwrap();
    let _ = ldap.unbind().await;

    // The CLI, through the running server's control socket.
    let out = common::run(&server.data, &["report", "access", "--format", "csv"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(
        csv.starts_with("userName,displayName,kind,license,account,active,locked,administrator,roles,permissions,mfa,mfaRequired,passwordLogin,apiAccess,sessionTimeoutMinutes,allowedNetworks,passwordChanged,lastLogin,idleDays,created\r\n"),
        "{csv}"
    );
    let rows = csv_rows(&csv);
    assert_eq!(
        rows.len(),
        5,
        "admin, provisioning, carol, dave, erin: {csv}"
    );
    let admin_row = &rows["admin"];
    assert_eq!(admin_row["administrator"], "yes");
    assert_eq!(admin_row["roles"], "Administrators");
    assert!(recent(&admin_row["lastLogin"]), "{admin_row:?}");
    let carol = &rows["carol"];
    assert_eq!(carol["administrator"], "no");
    assert_eq!(carol["roles"], "Helpdesk");
    assert_eq!(carol["permissions"], "user.read=all user.edit=team");
    assert!(
        recent(&carol["lastLogin"]),
        "an LDAP bind is a sign-in: {carol:?}"
    );
    assert_eq!(carol["passwordLogin"], "yes");
    assert_eq!(carol["apiAccess"], "no");
    assert_eq!(carol["sessionTimeoutMinutes"], "240");
    assert_eq!(carol["allowedNetworks"], "127.0.0.0/8 10.0.0.0/8");
    assert_eq!(admin_row["apiAccess"], "yes");
    assert_eq!(admin_row["allowedNetworks"], "", "anywhere");
    assert_eq!(carol["idleDays"], "0");
    assert_eq!(rows["dave"]["lastLogin"], "", "never signed in");
    assert_eq!(rows["dave"]["passwordLogin"], "no", "has no password yet");
    assert_eq!(rows["erin"]["active"], "no");
    assert_eq!(rows["provisioning"]["kind"], "api");

    // Who the dormant rule would look at: active people only, and none idle for a day yet.
    let out = common::run(
        &server.data,
        &["report", "access", "--format", "json", "--idle-days", "0"],
    );
    assert!(out.status.success());
    let mut names: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["user_name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    names.sort();
    assert_eq!(names, ["admin", "carol", "dave"]);
    let out = common::run(&server.data, &["report", "access", "--idle-days", "1"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().lines().count(),
        1,
        "only the header: nobody has been idle for a day"
    );
    let out = common::run(&server.data, &["user", "show", "carol"]);
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["last_login"], carol["lastLogin"].as_str());
    assert_eq!(shown["idle_days"], 0);

    // REST: the same review, for administrators only.
    let res = http
        .get(server.url("/admin/reports/access?format=csv"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"access-review-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let rest_rows = csv_rows(&res.text().await.unwrap());
    assert_eq!(rest_rows["carol"], *carol);
    let res = http
        .get(server.url("/admin/reports/access"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    let lines: Vec<serde_json::Value> = res
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let carol_json = lines.iter().find(|l| l["user_name"] == "carol").unwrap();
    assert_eq!(carol_json["roles"], json!(["Helpdesk"]));
    assert_eq!(carol_json["last_login"], carol["lastLogin"].as_str());
    let (status, body) = call(
        &http,
        &server,
        Method::GET,
        "/admin/reports/access",
        TOKEN,
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the provisioning account is no administrator: {body}"
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("only administrators may review everyone's access"),
        "{body}"
    );
    for bad in ["format=xml", "idle_days=soon", "everyone=1"] {
        let (status, body) = call(
            &http,
            &server,
            Method::GET,
            &format!("/admin/reports/access?{bad}"),
            &admin,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["error"], "invalid_request");
    }

    // SCIM: lastLogin in the Rollcall extension, read-only, filterable.
    const EXT: &str = "urn:rollcall:scim:schemas:extension:2.0:User";
    let (_, carol_scim) = scim_user(&http, &server, &ids["carol"]).await;
    assert_eq!(carol_scim[EXT]["lastLogin"], carol["lastLogin"].as_str());
    let (_, dave_scim) = scim_user(&http, &server, &ids["dave"]).await;
    assert!(dave_scim[EXT].get("lastLogin").is_none(), "{dave_scim}");
    let since = (OffsetDateTime::now_utc() - Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let filter = format!("{EXT}:lastLogin gt \"{since}\"");
    let encoded = filter.replace(' ', "%20").replace('"', "%22");
    let res = http
        .get(server.url(&format!(
            "/scim/v2/Users?filter={encoded}&attributes=userName"
        )))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let listed: serde_json::Value = res.json().await.unwrap();
    let mut names: Vec<&str> = listed["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["admin", "carol"], "{listed}");
    let (status, body) = call(
        &http,
        &server,
        Method::PATCH,
        &format!("/scim/v2/Users/{}", ids["dave"]),
        TOKEN,
        Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": format!("{EXT}:lastLogin"), "value": "2026-01-01T00:00:00Z"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["scimType"], "mutability", "{body}");
    // A PUT that sends the resource back as read, lastLogin and all, is fine; the value stays.
    let mut echoed = carol_scim.clone();
    echoed[EXT]["lastLogin"] = json!("2020-01-01T00:00:00Z");
    let (status, put) = call(
        &http,
        &server,
        Method::PUT,
        &format!("/scim/v2/Users/{}", ids["carol"]),
        TOKEN,
        Some(echoed),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put[EXT]["lastLogin"], carol["lastLogin"].as_str());

    // LDAP: authTimestamp, operational (returned when asked for), and searchable.
    let mut ldap = common::admin_connection(server.ldap).await;
    let named = carol_attrs(&mut ldap, vec!["authTimestamp"]).await;
    let stamp = named["authTimestamp"][0].clone();
    let expected = OffsetDateTime::parse(
        carol["lastLogin"].as_str(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(
        stamp,
        format!(
            "{}{:02}{:02}{:02}{:02}{:02}Z",
            expected.year(),
            u8::from(expected.month()),
            expected.day(),
            expected.hour(),
            expected.minute(),
            expected.second()
        )
    );
    assert!(
        !carol_attrs(&mut ldap, vec!["*"])
            .await
            .contains_key("authTimestamp"),
        "operational: not among the user attributes"
    );
    assert_eq!(
        carol_attrs(&mut ldap, vec!["+"]).await["authTimestamp"],
        [stamp]
    );
    let hour_ago = OffsetDateTime::now_utc() - Duration::hours(1);
    let filter = format!(
        "(authTimestamp>={}{:02}{:02}{:02}{:02}{:02}Z)",
        hour_ago.year(),
        u8::from(hour_ago.month()),
        hour_ago.day(),
        hour_ago.hour(),
        hour_ago.minute(),
        hour_ago.second()
    );
    let (found, _) = ldap
        .search(PEOPLE, ldap3::Scope::OneLevel, &filter, vec!["uid"])
        .await
        .unwrap()
        .success()
        .unwrap();
    assert_eq!(common::sorted_uids(found), ["admin", "carol"], "{filter}");
}

/// Rewrites the backup `file` as if it had been taken `days` ago: the start of tracking and
/// every recorded sign-in, activation and password change move back by that much, except the
/// sign-ins of the users in `keep` (ids). The digest on the last line is made again, so `restore` takes it.
fn age_backup(file: &std::path::Path, days: i64, keep: &[uuid::Uuid]) {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;
    let shift = |t: &str| {
        let t = OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).unwrap()
            - Duration::days(days);
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (last, entries) = lines.split_last().unwrap();
    let mut out = String::new();
    let mut changed = 0;
    for line in entries {
        let mut entry: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = entry["k"].as_str().map(|k| B64.decode(k).unwrap());
        let value = entry["v"].as_str().map(|v| B64.decode(v).unwrap());
        match (entry["t"].as_str(), key, value) {
            (Some("meta"), Some(k), Some(v)) if k == b"activity_since" => {
                let v = shift(std::str::from_utf8(&v).unwrap());
                entry["v"] = B64.encode(v).into();
                changed += 1;
            }
            (Some("users"), Some(_), Some(v)) => {
                let mut user: serde_json::Value = serde_json::from_slice(&v[1..]).unwrap();
                if let Some(t) = user["password_changed"].as_str() {
                    user["password_changed"] = shift(t).into();
                    let mut bytes = vec![v[0]];
                    bytes.extend(serde_json::to_vec(&user).unwrap());
                    entry["v"] = B64.encode(bytes).into();
                }
            }
            (Some("login_state"), Some(k), Some(v)) => {
                // A format byte, then JSON.
                let mut state: serde_json::Value = serde_json::from_slice(&v[1..]).unwrap();
                let kept = keep.iter().any(|id| id.as_bytes() == k.as_slice());
                for field in ["last_login", "activated"] {
                    if field == "last_login" && kept {
                        continue;
                    }
                    if let Some(t) = state[field].as_str() {
                        state[field] = shift(t).into();
                    }
                }
                let mut bytes = vec![v[0]];
                bytes.extend(serde_json::to_vec(&state).unwrap());
                entry["v"] = B64.encode(bytes).into();
                changed += 1;
            }
            _ => {}
        }
        out.push_str(&entry.to_string());
        out.push('\n');
    }
    assert!(
        changed >= 2,
        "the backup has the start of tracking and login states"
    );
    std::fs::write(file, common::sealed_backup(out, last, None)).unwrap();
}

/// `first`'s store made `days` older (see [`age_backup`]): backed up, `first` stopped, the
/// backup aged and restored into a new data directory, and a server started there with
/// `first`'s configuration. Returns that directory, the configuration file and the server.
fn aged(
    first: &mut common::Server,
    days: i64,
    keep: &[uuid::Uuid],
) -> (std::path::PathBuf, std::path::PathBuf, common::Server) {
    let parent = first.data.parent().unwrap().to_path_buf();
    let file = parent.join("aged.backup");
    let out = common::run(&first.data, &["backup", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    first.terminate();
    age_backup(&file, days, keep);
    let data = parent.join("restored");
    let out = common::run(&data, &["restore", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config_file = parent.join("rollcall.toml");
    let server = common::Server::spawn(&data, &["--config", config_file.to_str().unwrap()], &[]);
    (data, config_file, server)
}

/// The whole rule through the binary: `[activity] deactivate_after_days` read from the config,
/// applied as the server starts, its notice in the outbox and its reason in the audit trail.
/// Forty days cannot pass in a test, so the store is made forty days older: backed up, its
/// activity records moved back, and restored into a new data directory.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_deactivates_dormant_people_at_start_and_tells_the_administrators() {
    use reqwest::{Method, StatusCode};
    use serde_json::json;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = "[activity]\ndeactivate_after_days = 30\n";
    let mut first =
        common::start_directory_with_env(config, &[("ROLLCALL_BOOTSTRAP_TOKEN", TOKEN)]);
    let http = reqwest::Client::new();
    let mut ids = std::collections::HashMap::new();
    for name in ["gone", "fresh"] {
        let (status, user) = call(
            &http,
            &first,
            Method::POST,
            "/scim/v2/Users",
            TOKEN,
            Some(
                json!({"userName": name, "active": true, "password": PASSWORD,
                "emails": [{"value": format!("{name}@example.com"), "primary": true}]}),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
        ids.insert(
            name,
            user["id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap(),
        );
    }
    let (status, body) = call(
        &http,
        &first,
        Method::POST,
        "/auth/token",
        "",
        Some(json!({"username": "fresh", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, _, second) = aged(&mut first, 40, &[ids["fresh"]]);
    let admin = common::admin_session(&http, &format!("http://{}", second.http)).await;
    let active = |body: &serde_json::Value| body["active"].as_bool().unwrap();
    let deadline = std::time::Instant::now() + StdDuration::from_secs(20);
    loop {
        let (status, gone) = scim_user(&http, &second, &ids["gone"]).await;
        assert_eq!(status, StatusCode::OK);
        if !active(&gone) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the dormant user is still active"
        );
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    let (_, fresh) = scim_user(&http, &second, &ids["fresh"]).await;
    assert!(active(&fresh), "signed in within the 30 days: {fresh}");
    let (_, licenses) = call(&http, &second, Method::GET, "/admin/licenses", &admin, None).await;
    let employee = licenses
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["license"] == "employee")
        .unwrap();
    assert_eq!(
        employee["used"], 2,
        "admin and fresh; gone's license is free: {licenses}"
    );

    let events = common::admin_audit(
        &http,
        &format!("http://{}", second.http),
        &format!("target={}", ids["gone"]),
    )
    .await;
    let deactivated = events
        .iter()
        .find(|e| e["kind"] == "user_deactivated")
        .expect("the deactivation is audited");
    assert_eq!(deactivated["actor"], "system");
    assert_eq!(deactivated["source"], "system");
    assert_eq!(
        deactivated["detail"],
        "dormant: no activity for 30 days (no sign-in recorded)"
    );
    let (_, outbox) = call(&http, &second, Method::GET, "/admin/outbox", &admin, None).await;
    let notices: Vec<&serde_json::Value> = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "dormant_deactivated")
        .collect();
    assert_eq!(notices.len(), 1, "{outbox}");
    assert_eq!(notices[0]["user"], ids["gone"].to_string());
    assert!(
        notices[0]["body"]
            .as_str()
            .unwrap()
            .starts_with("gone was deactivated after 30 days without signing in (no sign-in recorded); its employee license is free again."),
        "{}",
        notices[0]["body"]
    );
    // The administrator was idle as long (its sign-in above came after the start's run) but
    // is the last one: kept.
    let me =
        common::scim_user_named(&http, &format!("http://{}", second.http), TOKEN, "admin").await;
    assert_eq!(me["active"], true);
}

/// Seed 003's password policy, "expiration periods": with `[password] max_age_days`, a person
/// whose password expires within `expiry_warning_days` is mailed once per password; people
/// without a password here that counts (SSO only), without an address, or inactive are not.
#[test]
fn people_are_reminded_once_before_their_password_expires() {
    use rollcall::password::policy::PasswordPolicy;
    let (_dir, service) = common::service_with_password_policy(PasswordPolicy {
        max_age_days: 30,
        expiry_warning_days: 7,
        ..PasswordPolicy::default()
    });
    let ann = with_password(&service, person("ann", LicenseType::Employee, true));
    with_password(&service, person("off", LicenseType::Employee, false));
    let mut nomail = person("nomail", LicenseType::Employee, true);
    nomail.emails.clear();
    with_password(&service, nomail);
    let mut sso_role = Role::new("SSO only", Some(RoleType::Employee));
    sso_role.settings.password_login_disabled = true;
    let sso_role = service.create_role(&admin(), sso_role).unwrap();
    let sso = with_password(&service, person("sso", LicenseType::Employee, true));
    service.add_member(&admin(), sso_role.id, sso.id).unwrap();
    let changed = service
        .user(&admin(), ann.id)
        .unwrap()
        .password_changed
        .unwrap();

    let at = |days: i64| changed + Duration::days(days) + Duration::minutes(1);
    assert!(service.remind_password_expiry(at(22)).unwrap().is_empty());
    assert_eq!(service.remind_password_expiry(at(23)).unwrap(), ["ann"]);
    assert!(
        service.remind_password_expiry(at(25)).unwrap().is_empty(),
        "once per password"
    );
    let sent = messages(&service, MessageKind::PasswordExpiring);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to.as_deref(), Some("ann@example.com"));
    assert_eq!(sent[0].subject, "Your password expires soon");
    let expires = changed + Duration::days(30);
    let day = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    assert!(
        sent[0].body.contains(&format!(
            "The password of your account ann expires on {}.",
            expires.format(&day).unwrap()
        )),
        "{}",
        sent[0].body
    );
    assert!(
        service.remind_password_expiry(at(31)).unwrap().is_empty(),
        "an expired password is refused at sign-in, not reminded of"
    );

    // A new password: a new reminder in its time.
    std::thread::sleep(StdDuration::from_millis(10));
    service
        .set_password(&admin(), ann.id, "Another-Horse-43")
        .unwrap();
    let changed = service
        .user(&admin(), ann.id)
        .unwrap()
        .password_changed
        .unwrap();
    assert!(
        service
            .remind_password_expiry(changed + Duration::days(22))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        service
            .remind_password_expiry(changed + Duration::days(24))
            .unwrap(),
        ["ann"]
    );
    assert_eq!(messages(&service, MessageKind::PasswordExpiring).len(), 2);
}

/// Password expiry through the binary, as each front end tells it. Forty days cannot pass in
/// a test, so the store is made forty days older through a backup, as for the dormant rule:
/// with passwords that last 50 days, the reminder goes out by mail at start, binds that carry
/// the password policy control (draft-behera, `ldapwhoami -e ppolicy`) are told the seconds
/// left, and REST sign-ins the date; a Password Modify the policy refuses says why in the
/// control too. Restarted with passwords that last 35 days and two grace logins, the grace
/// logins work and say how many are left, a user changes its expired password in one over
/// LDAP, and once they are used up a sign-in with the right password is told that it has
/// expired (a wrong one still learns nothing).
#[tokio::test(flavor = "multi_thread")]
async fn a_server_warns_of_expiring_passwords_and_says_when_one_has_expired() {
    use reqwest::{Method, StatusCode};
    use serde_json::json;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = "[password]\nmax_age_days = 50\nexpiry_warning_days = 14\n";
    let mut first =
        common::start_directory_with_env(config, &[("ROLLCALL_BOOTSTRAP_TOKEN", TOKEN)]);
    let http = reqwest::Client::new();
    for (name, email) in [("soon", true), ("nomail", false), ("late", false)] {
        let mut body = json!({"userName": name, "active": true, "password": PASSWORD});
        if email {
            body["emails"] = json!([{"value": format!("{name}@example.com"), "primary": true}]);
        }
        let (status, user) = call(
            &http,
            &first,
            Method::POST,
            "/scim/v2/Users",
            TOKEN,
            Some(body),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
    }
    let (data, config_file, second) = aged(&mut first, 40, &[]);
    let admin = common::admin_session(&http, &format!("http://{}", second.http)).await;
    let deadline = std::time::Instant::now() + StdDuration::from_secs(20);
    let reminders = loop {
        let (_, outbox) = call(&http, &second, Method::GET, "/admin/outbox", &admin, None).await;
        let reminders: Vec<serde_json::Value> = outbox
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["kind"] == "password_expiring")
            .cloned()
            .collect();
        if !reminders.is_empty() {
            break reminders;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no reminder: {outbox}"
        );
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    };
    assert_eq!(reminders.len(), 1, "{reminders:?}");
    assert_eq!(reminders[0]["to"], "soon@example.com");
    let body = reminders[0]["body"].as_str().unwrap();
    assert!(
        body.contains("The password of your account soon expires on "),
        "{body}"
    );
    // Ten days left: the date is in ten days, give or take the minutes of the test.
    let day = time::macros::format_description!("[year]-[month]-[day]");
    let in_ten = (OffsetDateTime::now_utc() + Duration::days(10))
        .format(&day)
        .unwrap();
    let in_nine = (OffsetDateTime::now_utc() + Duration::days(9) + Duration::hours(23))
        .format(&day)
        .unwrap();
    assert!(
        body.contains(&format!("expires on {in_ten}"))
            || body.contains(&format!("expires on {in_nine}")),
        "{body}"
    );

    // Binds: the seconds left, to clients that ask.
    const SOON: &str = "uid=soon,ou=people,dc=example,dc=com";
    const LATE: &str = "uid=late,ou=people,dc=example,dc=com";
    let whoami_as = |server: &common::Server, dn: &str, password: &str, ppolicy: bool| {
        let mut c = common::openldap_tool("ldapwhoami")?;
        let url = format!("ldap://{}", server.ldap);
        c.args(["-x", "-H", &url, "-D", dn, "-w", password]);
        if ppolicy {
            c.args(["-e", "ppolicy"]);
        }
        Some(c.output().unwrap())
    };
    let whoami = |server: &common::Server, password: &str, ppolicy: bool| {
        whoami_as(server, SOON, password, ppolicy)
    };
    let stderr = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).to_string();
    if let Some(out) = whoami(&second, PASSWORD, true) {
        assert!(out.status.success(), "{}", stderr(&out));
        let said = stderr(&out);
        let seconds: i64 = said
            .split("(Password expires in ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_else(|| panic!("no warning: {said}"))
            .parse()
            .unwrap();
        let left = Duration::seconds(seconds);
        assert!(
            left > Duration::days(9) && left <= Duration::days(10),
            "{said}"
        );
        let plain = whoami(&second, PASSWORD, false).unwrap();
        assert!(plain.status.success());
        assert!(!stderr(&plain).contains("Password expires"), "not asked");
    }
    let (status, token) = call(
        &http,
        &second,
        Method::POST,
        "/auth/token",
        "",
        Some(json!({"username": "soon", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{token}");
    let expires = OffsetDateTime::parse(
        token["password_expires"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let left = expires - OffsetDateTime::now_utc();
    assert!(
        left > Duration::days(9) && left <= Duration::days(10),
        "{token}"
    );

    // The same from the LDAP client library, and a Password Modify the policy refuses (the
    // administrator's password again: it is in its history) says why in the control.
    const PPOLICY: &str = "1.3.6.1.4.1.42.2.27.8.5.1";
    let policy_control = || ldap3::controls::RawControl {
        ctype: PPOLICY.into(),
        crit: false,
        val: None,
    };
    let control_value = |result: &ldap3::LdapResult| {
        result
            .ctrls
            .iter()
            .find(|c| c.1.ctype == PPOLICY)
            .and_then(|c| c.1.val.clone())
    };
    let (conn, mut ldap) = ldap3::LdapConnAsync::new(&format!("ldap://{}", second.ldap))
        .await
        .unwrap();
    ldap3::drive!(conn);
    let bound = ldap
        .with_controls(vec![policy_control()])
        .simple_bind(common::ADMIN_DN, common::ADMIN_PASSWORD)
        .await
        .unwrap();
    assert_eq!(bound.rc, 0, "{bound:?}");
    let warning = control_value(&bound).expect("a warning control");
    assert_eq!(
        &warning[..3],
        [0x30, warning.len() as u8 - 2, 0xa0],
        "{warning:?}"
    );
    let refused = ldap
        .with_controls(vec![policy_control()])
        .extended(ldap3::exop::PasswordModify {
            user_id: None,
            old_pass: Some(common::ADMIN_PASSWORD),
            new_pass: Some(common::ADMIN_PASSWORD),
        })
        .await
        .unwrap()
        .1;
    assert_eq!(refused.rc, 19, "constraintViolation: {refused:?}");
    assert_eq!(
        control_value(&refused),
        Some(vec![0x30, 0x03, 0x81, 0x01, 0x08]),
        "passwordInHistory"
    );
    let _ = ldap.unbind().await;

    // Passwords that last 35 days: expired, with two grace logins to change them in.
    let mut second = second;
    second.terminate();
    std::fs::write(
        &config_file,
        std::fs::read_to_string(&config_file)
            .unwrap()
            .replace("max_age_days = 50", "max_age_days = 35\ngrace_logins = 2"),
    )
    .unwrap();
    let third = common::Server::spawn(&data, &["--config", config_file.to_str().unwrap()], &[]);
    let sign_in = |password: &'static str| {
        call(
            &http,
            &third,
            Method::POST,
            "/auth/token",
            "",
            Some(json!({"username": "soon", "password": password})),
        )
    };
    let (status, body) = sign_in(PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["grace_logins_remaining"], 1, "{body}");
    match whoami(&third, PASSWORD, true) {
        Some(out) => {
            assert!(out.status.success(), "{}", stderr(&out));
            assert!(
                stderr(&out).contains("(Password expired, 0 grace logins remain)"),
                "{}",
                stderr(&out)
            );
        }
        None => {
            let (status, body) = sign_in(PASSWORD).await;
            assert_eq!(body["grace_logins_remaining"], 0, "{status} {body}");
        }
    }
    // Grace used up: said only to whoever gives the right password.
    for (password, error) in [
        (PASSWORD, "password_expired"),
        ("Wrong-Horse-99", "invalid_credentials"),
    ] {
        let (status, body) = sign_in(password).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"], error, "{body}");
    }
    if let Some(out) = whoami(&third, PASSWORD, true) {
        assert_eq!(out.status.code(), Some(49), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("Invalid credentials (49); Password expired"),
            "{}",
            stderr(&out)
        );
        let guess = whoami(&third, "Wrong-Horse-99", true).unwrap();
        assert_eq!(guess.status.code(), Some(49));
        assert!(
            !stderr(&guess).contains("xpired"),
            "a guess learns nothing: {}",
            stderr(&guess)
        );
    }
    // What a helpdesk sees of it.
    let shown = |name: &str| {
        let out = common::run(&data, &["user", "show", name]);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let soon = shown("soon");
    assert_eq!(soon["password_expired"], true, "{soon}");
    assert_eq!(soon["grace_logins_left"], 0, "{soon}");
    let nomail = shown("nomail");
    assert_eq!(nomail["grace_logins_left"], 2, "{nomail}");
    assert!(
        nomail["password_expires"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{nomail}"
    );
    // A grace login is what lets a user change an expired password over LDAP.
    if let Some(mut passwd) = common::openldap_tool("ldappasswd") {
        let url = format!("ldap://{}", third.ldap);
        passwd.args([
            "-x", "-H", &url, "-D", LATE, "-w", PASSWORD, "-e", "ppolicy",
        ]);
        passwd.args(["-a", PASSWORD, "-s", "Fresh-Horse-77"]);
        let out = passwd.output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let fresh = whoami_as(&third, LATE, "Fresh-Horse-77", true).unwrap();
        assert!(fresh.status.success(), "{}", stderr(&fresh));
        assert!(
            !stderr(&fresh).contains("Password expire"),
            "a new password, nothing to warn of: {}",
            stderr(&fresh)
        );
    }
}

/// `rollcall user show NAME` on `data`, as JSON.
#[track_caller]
fn shown(data: &std::path::Path, name: &str) -> serde_json::Value {
    let out = common::run(data, &["user", "show", name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A migration keeps when people last signed in (an export carries it, an import takes it),
/// but not their idle time: importing an active person activates it here, and idle time runs
/// from the import (or, imported before the first start, from that start, when sign-ins begin
/// to be counted). So a migrated directory is not deactivated at its first run of the
/// dormant rule, and its access reviews still show who has not signed in for long.
#[tokio::test(flavor = "multi_thread")]
async fn an_import_keeps_the_last_sign_in_and_idle_time_starts_at_the_migration() {
    use serde_json::json;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("source");
    let config = dir.path().join("rollcall.toml");
    std::fs::write(
        &config,
        "[activity]\ndeactivate_after_days = 30\n\n[argon2]\nmemory_kib = 1024\niterations = 1\nparallelism = 1\n",
    )
    .unwrap();
    let start = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let stamp = |days: i64| {
        (start - Duration::days(days))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    // Another directory's export: a person who last signed in 200 days ago.
    let line = json!({"user_name": "old", "active": true, "created": stamp(400),
        "first_activated": stamp(300), "last_login": stamp(200)});
    let out = common::output_with_stdin(
        &mut common::import_command(&data),
        format!("{line}\n").as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let old = shown(&data, "old");
    assert_eq!(old["last_login"], stamp(200), "{old}");
    assert_eq!(old["first_activated"], stamp(300), "{old}");
    assert_eq!(old["idle_days"], 0, "idle from the import: {old}");

    // The first start counts sign-ins from now and runs the rule at once: `old` stays.
    let mut server = common::Server::spawn(
        &data,
        &["--config", config.to_str().unwrap()],
        &[("ROLLCALL_BOOTSTRAP_ADMIN_PASSWORD", common::ADMIN_PASSWORD)],
    );
    let http = reqwest::Client::new();
    common::admin_session(&http, &format!("http://{}", server.http)).await;
    let review = common::run(&data, &["report", "access", "--idle-days", "30"]);
    assert_eq!(
        String::from_utf8_lossy(&review.stdout).lines().count(),
        1,
        "nobody the rule would deactivate: {review:?}"
    );
    std::thread::sleep(StdDuration::from_millis(1500));
    let old = shown(&data, "old");
    assert_eq!(
        (&old["active"], &old["idle_days"]),
        (&json!(true), &json!(0))
    );
    let csv = common::run(&data, &["report", "access", "--format", "csv"]);
    let rows = csv_rows(&String::from_utf8_lossy(&csv.stdout));
    assert_eq!(rows["old"]["lastLogin"], stamp(200), "reviews show it");
    assert_eq!(rows["old"]["idleDays"], "0");

    // An export carries the last sign-in of everyone who has one, and an import keeps it.
    let export = common::run(&data, &["export"]);
    assert!(export.status.success());
    let export = String::from_utf8(export.stdout).unwrap();
    let last_login = |export: &str, name: &str| -> serde_json::Value {
        export
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|r| r["user_name"] == name)
            .unwrap()["last_login"]
            .clone()
    };
    assert_eq!(last_login(&export, "old"), stamp(200));
    let admin_signed_in = last_login(&export, "admin");
    assert!(
        recent(admin_signed_in.as_str().unwrap()),
        "{admin_signed_in}"
    );
    assert!(server.terminate().success());
    let copy = dir.path().join("copy");
    let out = common::output_with_stdin(&mut common::import_command(&copy), export.as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = common::run(&copy, &["export"]);
    let again = String::from_utf8(again.stdout).unwrap();
    for name in ["old", "admin"] {
        assert_eq!(
            last_login(&again, name),
            last_login(&export, name),
            "{name}"
        );
    }
    assert_eq!(last_login(&again, "provisioning"), serde_json::Value::Null);
    assert_eq!(shown(&copy, "old")["idle_days"], 0);
}
