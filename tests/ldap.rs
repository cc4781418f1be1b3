//! The LDAP view end to end: the real binary on loopback ports, driven by OpenLDAP's client tools
//! (required in CI) and by the `ldap3` client library.

mod common;

use std::process::{Command, Output};

use common::{ADMIN_DN, ADMIN_PASSWORD, Server, admin_connection, openldap_tool, start_directory};
use ldap3::{LdapConnAsync, Mod, Scope, SearchEntry};
use ldap3_proto::LdapResultCode;

const BASE: &str = "dc=example,dc=com";

fn run(mut command: Command, stdin: Option<&str>) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("tool starts");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("tool finishes")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn url(s: &Server) -> String {
    format!("ldap://{}", s.ldap)
}

/// `ldapsearch` as `bind` (dn, password) or anonymously; `None` when the tool is missing.
fn ldapsearch(s: &Server, bind: Option<(&str, &str)>, args: &[&str]) -> Option<Output> {
    let mut c = openldap_tool("ldapsearch")?;
    c.args(["-x", "-LLL", "-o", "ldif-wrap=no", "-H", &url(s)]);
    if let Some((dn, pw)) = bind {
        c.args(["-D", dn, "-w", pw]);
    }
    c.args(args);
    Some(run(c, None))
}

fn admin_tool(s: &Server, tool: &str, args: &[&str], stdin: Option<&str>) -> Option<Output> {
    let mut c = openldap_tool(tool)?;
    c.args(["-x", "-H", &url(s), "-D", ADMIN_DN, "-w", ADMIN_PASSWORD]);
    c.args(args);
    Some(run(c, stdin))
}

fn dns(o: &Output) -> Vec<String> {
    let mut v: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("dn: ").map(str::to_lowercase))
        .collect();
    v.sort();
    v
}

fn person_ldif(uid: &str, password: &str, active: bool) -> String {
    format!(
        "dn: uid={uid},ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid} Person\nsn: Person\ngivenName: {uid}\nmail: {uid}@example.com\nuserPassword: {password}\nactive: {}\n\n",
        if active { "TRUE" } else { "FALSE" }
    )
}

fn add(s: &Server, ldif: &str) -> Option<Output> {
    admin_tool(s, "ldapadd", &[], Some(ldif))
}

#[test]
fn tree_and_entries_as_ldapsearch_sees_them_with_hashes_never_returned() {
    let s = start_directory("");
    let Some(out) = ldapsearch(
        &s,
        Some((ADMIN_DN, ADMIN_PASSWORD)),
        &["-b", BASE, "(objectClass=*)", "dn"],
    ) else {
        return;
    };
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        dns(&out),
        vec![
            "cn=administrators,ou=roles,dc=example,dc=com",
            "cn=provisioning,ou=roles,dc=example,dc=com",
            "cn=provisioning,ou=services,dc=example,dc=com",
            "dc=example,dc=com",
            "ou=accounts,dc=example,dc=com",
            "ou=people,dc=example,dc=com",
            "ou=roles,dc=example,dc=com",
            "ou=services,dc=example,dc=com",
            "uid=admin,ou=people,dc=example,dc=com",
        ]
    );

    // Everything, user and operational, explicitly asking for the password too.
    let out = ldapsearch(
        &s,
        Some((ADMIN_DN, ADMIN_PASSWORD)),
        &[
            "-b",
            ADMIN_DN,
            "-s",
            "base",
            "(objectClass=*)",
            "*",
            "+",
            "userPassword",
        ],
    )
    .unwrap();
    let body = text(&out);
    assert!(out.status.success(), "{body}");
    for expected in [
        "objectClass: inetOrgPerson",
        "objectClass: rollcallPerson",
        "uid: admin",
        "licenseType: employee",
        "active: TRUE",
        "memberOf: cn=Administrators,ou=roles,dc=example,dc=com",
        "entryUUID: ",
        "createTimestamp: ",
        "modifyTimestamp: ",
        "structuralObjectClass: inetOrgPerson",
        "subschemaSubentry: cn=subschema",
    ] {
        assert!(body.contains(expected), "missing {expected:?} in {body}");
    }
    assert!(!body.to_lowercase().contains("userpassword"), "{body}");
    assert!(!body.contains("$argon2"), "{body}");

    // Operational attributes only on request.
    let out = ldapsearch(
        &s,
        Some((ADMIN_DN, ADMIN_PASSWORD)),
        &["-b", ADMIN_DN, "-s", "base", "(objectClass=*)"],
    )
    .unwrap();
    assert!(!text(&out).contains("entryUUID"), "{}", text(&out));

    // The rootDSE and subschema are readable anonymously; the directory itself is not.
    let out = ldapsearch(&s, None, &["-b", "", "-s", "base", "(objectClass=*)", "+"]).unwrap();
    let body = text(&out);
    assert!(body.contains("namingContexts: dc=example,dc=com"), "{body}");
    assert!(
        body.contains("supportedExtension: 1.3.6.1.4.1.4203.1.11.1"),
        "{body}"
    );
    assert!(
        body.contains("supportedControl: 1.2.840.113556.1.4.319"),
        "{body}"
    );
    let out = ldapsearch(
        &s,
        None,
        &[
            "-b",
            "cn=subschema",
            "-s",
            "base",
            "(objectClass=*)",
            "objectClasses",
        ],
    )
    .unwrap();
    assert!(
        text(&out).contains("NAME 'rollcallPerson'"),
        "{}",
        text(&out)
    );
    let out = ldapsearch(&s, None, &["-b", BASE, "(objectClass=*)", "dn"]).unwrap();
    assert_eq!(
        out.status.code(),
        Some(32),
        "anonymous sees nothing by default: {}",
        text(&out)
    );
    assert!(dns(&out).is_empty(), "{}", text(&out));
    let out = ldapsearch(&s, None, &["-b", ADMIN_DN, "-s", "base", "(objectClass=*)"]).unwrap();
    assert_eq!(out.status.code(), Some(32), "{}", text(&out));
}

#[test]
fn bind_rules_for_people_wrong_passwords_inactive_and_anonymised_users() {
    let s = start_directory("");
    let Some(out) = add(
        &s,
        &format!(
            "{}{}",
            person_ldif("alice", "Alice-Pass-1", true),
            person_ldif("bob", "Bob-Pass-1234", false)
        ),
    ) else {
        return;
    };
    assert!(out.status.success(), "{}", text(&out));
    let whoami = |dn: &str, pw: &str| {
        let mut c = openldap_tool("ldapwhoami").unwrap();
        c.args(["-x", "-H", &url(&s), "-D", dn, "-w", pw]);
        run(c, None)
    };
    let alice = format!("uid=alice,ou=people,{BASE}");
    let out = whoami(&alice, "Alice-Pass-1");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("dn:{alice}")
    );
    // Any case in the DN.
    let out = whoami("UID=Alice,OU=People,DC=Example,DC=com", "Alice-Pass-1");
    assert!(out.status.success(), "{}", text(&out));

    for (dn, pw, why) in [
        (alice.as_str(), "wrong", "wrong password"),
        (
            &format!("uid=nobody,ou=people,{BASE}") as &str,
            "Alice-Pass-1",
            "unknown user",
        ),
        (
            &format!("uid=bob,ou=people,{BASE}") as &str,
            "Bob-Pass-1234",
            "inactive user",
        ),
        (
            &format!("cn=alice,ou=roles,{BASE}") as &str,
            "Alice-Pass-1",
            "not a user DN",
        ),
    ] {
        let out = whoami(dn, pw);
        assert_eq!(out.status.code(), Some(49), "{why}: {}", text(&out));
        assert!(
            text(&out).contains("Invalid credentials"),
            "{why}: {}",
            text(&out)
        );
    }

    // A hash exported from another directory ({ARGON2}, as OpenLDAP's argon2 module writes it)
    // is kept as is and verifies the original password.
    let phc = common::fast_argon2().hash("Migrated-Pass-1").unwrap();
    let out = add(&s, &person_ldif("mig", &format!("{{ARGON2}}{phc}"), true)).unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let mig = format!("uid=mig,ou=people,{BASE}");
    assert!(whoami(&mig, "Migrated-Pass-1").status.success());
    assert_eq!(
        whoami(&mig, &format!("{{ARGON2}}{phc}")).status.code(),
        Some(49)
    );

    // Deleting a user anonymises it: it can no longer bind and is gone from searches.
    let out = admin_tool(&s, "ldapdelete", &[&alice], None).unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(whoami(&alice, "Alice-Pass-1").status.code(), Some(49));
    let out = ldapsearch(
        &s,
        Some((ADMIN_DN, ADMIN_PASSWORD)),
        &["-b", BASE, "(uid=alice)", "dn"],
    )
    .unwrap();
    assert!(dns(&out).is_empty(), "{}", text(&out));
    // The userName is free again.
    let out = add(&s, &person_ldif("alice", "Alice-Pass-2", true)).unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(whoami(&alice, "Alice-Pass-2").status.success());
}

#[test]
fn paged_results_return_every_entry_once_across_pages() {
    let s = start_directory("");
    let ldif: String = (0..23)
        .map(|i| person_ldif(&format!("p{i:02}"), "Paged-Pass-1", false))
        .collect();
    let Some(out) = add(&s, &ldif) else {
        return;
    };
    assert!(out.status.success(), "{}", text(&out));
    let out = ldapsearch(
        &s,
        Some((ADMIN_DN, ADMIN_PASSWORD)),
        &[
            "-E",
            "pr=5/noprompt",
            "-b",
            &format!("ou=people,{BASE}"),
            "-s",
            "one",
            "(uid=p*)",
            "dn",
        ],
    )
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let found = dns(&out);
    let expected: Vec<String> = (0..23)
        .map(|i| format!("uid=p{i:02},ou=people,{BASE}"))
        .collect();
    assert_eq!(found, expected);
    // Five pages: four full cookies and the final empty one.
    assert_eq!(
        text(&out).matches("pagedresults: cookie=").count(),
        5,
        "{}",
        text(&out)
    );

    // The server-side size limit applies to an unpaged search.
    let s2 = start_directory("[ldap]\nsize_limit = 10\n");
    add(&s2, &ldif).unwrap();
    let out = ldapsearch(
        &s2,
        Some((ADMIN_DN, ADMIN_PASSWORD)),
        &["-b", &format!("ou=people,{BASE}"), "(uid=p*)", "dn"],
    )
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "sizeLimitExceeded: {}",
        text(&out)
    );
    assert_eq!(dns(&out).len(), 10);
}

#[test]
fn starttls_and_ldaps_with_the_test_ca() {
    let s = start_directory("[ldap]\nrequire_tls = true\n");
    let Some(mut c) = openldap_tool("ldapwhoami") else {
        return;
    };
    c.args([
        "-x",
        "-ZZ",
        "-H",
        &url(&s),
        "-D",
        ADMIN_DN,
        "-w",
        ADMIN_PASSWORD,
    ]);
    let out = run(c, None);
    assert!(out.status.success(), "StartTLS: {}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("dn:{ADMIN_DN}")
    );

    let mut c = openldap_tool("ldapwhoami").unwrap();
    c.args([
        "-x",
        "-H",
        &format!("ldaps://{}", s.ldaps),
        "-D",
        ADMIN_DN,
        "-w",
        ADMIN_PASSWORD,
    ]);
    let out = run(c, None);
    assert!(out.status.success(), "LDAPS: {}", text(&out));

    // require_tls: a password bind in the clear is refused with confidentialityRequired.
    let mut c = openldap_tool("ldapwhoami").unwrap();
    c.args(["-x", "-H", &url(&s), "-D", ADMIN_DN, "-w", ADMIN_PASSWORD]);
    let out = run(c, None);
    assert_eq!(out.status.code(), Some(13), "{}", text(&out));
}

#[test]
fn ldappasswd_self_service_admin_reset_and_generated_passwords() {
    let s = start_directory("");
    let Some(out) = add(&s, &person_ldif("carol", "Carol-Pass-1", true)) else {
        return;
    };
    assert!(out.status.success(), "{}", text(&out));
    let carol = format!("uid=carol,ou=people,{BASE}");
    let passwd = |bind: (&str, &str), args: &[&str]| {
        let mut c = openldap_tool("ldappasswd").unwrap();
        c.args(["-x", "-H", &url(&s), "-D", bind.0, "-w", bind.1]);
        c.args(args);
        run(c, None)
    };
    let binds = |dn: &str, pw: &str| {
        let mut c = openldap_tool("ldapwhoami").unwrap();
        c.args(["-x", "-H", &url(&s), "-D", dn, "-w", pw]);
        run(c, None).status.success()
    };
    // Self-service with the old password.
    let out = passwd(
        (&carol, "Carol-Pass-1"),
        &["-a", "Carol-Pass-1", "-s", "Carol-Pass-2"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(binds(&carol, "Carol-Pass-2"));
    assert!(!binds(&carol, "Carol-Pass-1"));
    // A wrong old password changes nothing.
    let out = passwd(
        (&carol, "Carol-Pass-2"),
        &["-a", "nope", "-s", "Carol-Pass-3"],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(binds(&carol, "Carol-Pass-2"));
    // Admin reset with a generated password, printed once.
    let out = passwd((ADMIN_DN, ADMIN_PASSWORD), &[&carol]);
    assert!(out.status.success(), "{}", text(&out));
    let generated = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("New password: ").map(str::to_owned))
        .expect("generated password");
    assert!(generated.len() >= 20, "{generated}");
    assert!(binds(&carol, &generated));
    // Her own password changes only with the current one.
    let out = passwd((&carol, &generated), &["-s", "Mine-Without-Old-1"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(!binds(&carol, "Mine-Without-Old-1"));
    assert!(binds(&carol, &generated));
    // Carol cannot reset the admin's password; she cannot even see the admin's entry.
    let out = passwd((&carol, &generated), &["-s", "Taken-Over-1", ADMIN_DN]);
    assert!(!out.status.success());
    assert!(text(&out).contains("No such object (32)"), "{}", text(&out));
    assert!(binds(ADMIN_DN, ADMIN_PASSWORD));
}

#[test]
fn ldapmodify_and_ldapcompare_go_through_the_license_rules() {
    let s = start_directory("[licenses]\nemployee = 2\n");
    // admin holds one employee license already.
    let Some(out) = add(
        &s,
        &format!(
            "{}{}",
            person_ldif("dave", "Dave-Pass-123", true),
            person_ldif("erin", "Erin-Pass-123", false)
        ),
    ) else {
        return;
    };
    assert!(out.status.success(), "{}", text(&out));
    let activate = |uid: &str, value: &str| {
        admin_tool(&s, "ldapmodify", &[], Some(&format!("dn: uid={uid},ou=people,{BASE}\nchangetype: modify\nreplace: active\nactive: {value}\n"))).unwrap()
    };
    // uid is the entry's name: said again it is accepted, changed it is refused (a rename is
    // a Modify DN), never dropped in silence.
    let modify_uid = |uid: &str, change: &str| {
        admin_tool(
            &s,
            "ldapmodify",
            &[],
            Some(&format!(
                "dn: uid={uid},ou=people,{BASE}\nchangetype: modify\n{change}\n"
            )),
        )
        .unwrap()
    };
    let out = modify_uid("dave", "replace: uid\nuid: dave");
    assert!(out.status.success(), "{}", text(&out));
    for change in ["replace: uid\nuid: renamed", "delete: uid"] {
        let out = modify_uid("dave", change);
        assert_eq!(
            out.status.code(),
            Some(67),
            "notAllowedOnRDN: {}",
            text(&out)
        );
    }
    let out = activate("erin", "TRUE");
    assert_eq!(
        out.status.code(),
        Some(11),
        "adminLimitExceeded: {}",
        text(&out)
    );
    assert!(
        text(&out).contains("employee license limit reached: 2/2"),
        "{}",
        text(&out)
    );
    // Nothing changed.
    let compare = |uid: &str, ava: &str| {
        let mut c = openldap_tool("ldapcompare").unwrap();
        c.args([
            "-x",
            "-H",
            &url(&s),
            "-D",
            ADMIN_DN,
            "-w",
            ADMIN_PASSWORD,
            &format!("uid={uid},ou=people,{BASE}"),
            ava,
        ]);
        run(c, None).status.code()
    };
    assert_eq!(compare("erin", "active:FALSE"), Some(6), "compareTrue");
    assert_eq!(compare("erin", "active:TRUE"), Some(5), "compareFalse");
    // Deactivating dave frees the seat for erin.
    assert!(activate("dave", "FALSE").status.success());
    let out = activate("erin", "TRUE");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(compare("erin", "active:TRUE"), Some(6));

    // Attribute changes, a manager by DN, and a rename.
    let out = admin_tool(&s, "ldapmodify", &[], Some(&format!(
        "dn: uid=erin,ou=people,{BASE}\nchangetype: modify\nreplace: title\ntitle: Engineer\n-\nadd: mail\nmail: erin.alt@example.com\n-\nreplace: manager\nmanager: uid=dave,ou=people,{BASE}\n\ndn: uid=erin,ou=people,{BASE}\nchangetype: modrdn\nnewrdn: uid=erin2\ndeleteoldrdn: 1\n"
    ))).unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = ldapsearch(
        &s,
        Some((ADMIN_DN, ADMIN_PASSWORD)),
        &[
            "-b",
            BASE,
            &format!("(manager=uid=DAVE,ou=people,{BASE})"),
            "title",
            "mail",
            "uid",
        ],
    )
    .unwrap();
    let body = text(&out);
    assert!(
        body.contains(&format!("dn: uid=erin2,ou=people,{BASE}")),
        "{body}"
    );
    assert!(body.contains("title: Engineer"), "{body}");
    assert!(body.contains("mail: erin.alt@example.com"), "{body}");
    // Unknown attributes and bad values are refused with the right codes.
    let out = admin_tool(&s, "ldapmodify", &[], Some(&format!("dn: uid=erin2,ou=people,{BASE}\nchangetype: modify\nreplace: favouriteColour\nfavouriteColour: blue\n"))).unwrap();
    assert_eq!(
        out.status.code(),
        Some(17),
        "undefinedAttributeType: {}",
        text(&out)
    );
    let out = admin_tool(&s, "ldapmodify", &[], Some(&format!("dn: uid=erin2,ou=people,{BASE}\nchangetype: modify\nreplace: manager\nmanager: uid=ghost,ou=people,{BASE}\n"))).unwrap();
    assert_eq!(
        out.status.code(),
        Some(19),
        "constraintViolation: {}",
        text(&out)
    );
    let out = add(&s, &person_ldif("erin2", "x", false)).unwrap();
    assert_eq!(
        out.status.code(),
        Some(68),
        "entryAlreadyExists: {}",
        text(&out)
    );
}

#[tokio::test]
async fn the_ldap3_client_library_searches_with_every_filter_kind() {
    let s = start_directory("");
    let mut ldap = admin_connection(s.ldap).await;
    let people = format!("ou=people,{BASE}");
    for (uid, given, sn, title) in [
        ("ann", "Ann", "Archer", "CEO"),
        ("a,b", "Comma", "Person", "Engineer"),
        ("ben", "Ben", "Baker", "Engineer"),
    ] {
        let dn = format!("uid={},{people}", ldap3::dn_escape(uid));
        let cn = format!("{given} {sn}");
        let mail = format!("{given}@Example.com");
        let attrs = vec![
            ("objectClass", ["inetOrgPerson"].into()),
            ("uid", [uid].into()),
            ("givenName", [given].into()),
            ("sn", [sn].into()),
            ("cn", [cn.as_str()].into()),
            ("title", [title].into()),
            ("mail", [mail.as_str()].into()),
        ];
        let attrs: Vec<(&str, std::collections::HashSet<&str>)> = attrs;
        ldap.add(&dn, attrs).await.unwrap().success().unwrap();
    }
    let search = |filter: &'static str| {
        let people = people.clone();
        let mut ldap = ldap.clone();
        async move {
            let (entries, res) = ldap
                .search(&people, Scope::OneLevel, filter, vec!["uid"])
                .await
                .unwrap()
                .success()
                .unwrap();
            assert_eq!(res.rc, 0);
            common::sorted_uids(entries)
        }
    };
    assert_eq!(search("(uid=ANN)").await, ["ann"]);
    assert_eq!(search("(uid=a\\2cb)").await, ["a,b"]);
    assert_eq!(search("(mail=ben@example.COM)").await, ["ben"]);
    assert_eq!(search("(cn=*er*)").await, ["a,b", "ann", "ben"]);
    assert_eq!(search("(cn=an*)").await, ["ann"]);
    assert_eq!(search("(&(title=engineer)(!(sn=Baker)))").await, ["a,b"]);
    assert_eq!(
        search("(|(sn=Archer)(givenName=Ben))").await,
        ["ann", "ben"]
    );
    assert_eq!(
        search("(&(createTimestamp>=20000101000000Z)(title=*))").await,
        ["a,b", "ann", "ben"]
    );
    assert!(
        search("(createTimestamp<=20000101000000Z)")
            .await
            .is_empty()
    );
    assert_eq!(search("(title=*)").await, ["a,b", "ann", "ben"]);
    assert_eq!(search("(sn~=baker)").await, ["ben"]);
    let (entries, _) = ldap
        .search(
            &format!("uid=a\\,b,{people}"),
            Scope::Base,
            "(objectClass=*)",
            vec!["cn"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    assert_eq!(
        SearchEntry::construct(entries[0].clone()).attrs["cn"],
        ["Comma Person"]
    );
    // Groups by member: only the member's own groups, in any DN spelling.
    let roles = format!("ou=roles,{BASE}");
    let ann = format!("uid=ann,{people}");
    let group: Vec<(&str, std::collections::HashSet<&str>)> = vec![
        ("objectClass", ["groupOfNames"].into()),
        ("cn", ["Leaders"].into()),
        ("member", [ann.as_str()].into()),
        // A plain group (no roleType) takes a description, as IdPs push them.
        ("description", ["People who lead"].into()),
    ];
    ldap.add(&format!("cn=Leaders,{roles}"), group)
        .await
        .unwrap()
        .success()
        .unwrap();
    for (member, expected) in [
        (format!("UID=Ann,{people}"), vec!["Leaders".to_string()]),
        (format!("uid=ben,{people}"), vec![]),
        (format!("uid=ghost,{people}"), vec![]),
    ] {
        let filter =
            format!("(&(objectClass=groupOfNames)(member={member})(description=people who lead))");
        let (entries, _) = ldap
            .search(&roles, Scope::OneLevel, &filter, vec!["cn"])
            .await
            .unwrap()
            .success()
            .unwrap();
        let cns: Vec<String> = entries
            .into_iter()
            .map(|e| SearchEntry::construct(e).attrs["cn"][0].clone())
            .collect();
        assert_eq!(cns, expected, "{filter}");
    }
    // A modify of a role's description and members is one change: a member the role refuses
    // (an employee in a partner role) leaves the description as it was.
    let partners = format!("cn=Partners,{roles}");
    let group: Vec<(&str, std::collections::HashSet<&str>)> = vec![
        ("objectClass", ["groupOfNames"].into()),
        ("cn", ["Partners"].into()),
        ("roleType", ["partner"].into()),
        ("description", ["Before"].into()),
    ];
    ldap.add(&partners, group).await.unwrap().success().unwrap();
    let res = ldap
        .modify(
            &partners,
            vec![
                Mod::Replace("description", ["After"].into()),
                Mod::Add("member", [ann.as_str()].into()),
            ],
        )
        .await
        .unwrap();
    assert_ne!(res.rc, 0, "{res:?}");
    assert!(res.text.contains("ann"), "{res:?}");
    let (entries, _) = ldap
        .search(
            &partners,
            Scope::Base,
            "(objectClass=*)",
            vec!["description", "member"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    let entry = SearchEntry::construct(entries[0].clone());
    assert_eq!(entry.attrs["description"], ["Before"]);
    assert!(!entry.attrs.contains_key("member"), "{entry:?}");
    let res = ldap
        .modify(
            &partners,
            vec![Mod::Replace("description", ["After"].into())],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    // A base below a record does not exist; matchedDN names the deepest existing entry.
    let res = ldap
        .search(
            &format!("cn=x,uid=ann,{people}"),
            Scope::Base,
            "(objectClass=*)",
            vec!["cn"],
        )
        .await
        .unwrap();
    assert_eq!(res.1.rc, 32);
    assert_eq!(
        res.1.matched.to_lowercase(),
        ann.to_lowercase(),
        "the record itself"
    );
    // Below a record that is not there, and a write to one: its branch.
    let res = ldap
        .search(
            &format!("cn=x,uid=ghost,{people}"),
            Scope::Base,
            "(objectClass=*)",
            vec!["cn"],
        )
        .await
        .unwrap();
    assert_eq!(res.1.rc, 32);
    assert_eq!(res.1.matched.to_lowercase(), people.to_lowercase());
    for res in [
        ldap.delete(&format!("uid=ghost,{people}")).await.unwrap(),
        ldap.modify(
            &format!("uid=ghost,{people}"),
            vec![Mod::Replace("title", ["x"].into())],
        )
        .await
        .unwrap(),
    ] {
        assert_eq!(res.rc, 32, "{res:?}");
        assert_eq!(res.matched.to_lowercase(), people.to_lowercase(), "{res:?}");
    }
    ldap.unbind().await.unwrap();
}

/// A value assertion whose value is not valid for its attribute's syntax (or its matching
/// rule's) is Undefined (RFC 4511 §4.5.1.7), and so is its negation: `(!(entryUUID=notuuid))`
/// matches nothing rather than every entry, in every filter kind and whether or not the entry
/// has the attribute, and however the index plan treats the equality.
#[tokio::test(flavor = "multi_thread")]
async fn a_negated_assertion_the_syntax_refuses_matches_nothing() {
    let s = start_directory(
        "[custom_attributes]\n\
         [[custom_attributes.attributes]]\nname = \"level\"\ntype = \"integer\"\nldap = \"acmeLevel\"\n\
         [[custom_attributes.attributes]]\nname = \"remote\"\ntype = \"boolean\"\nldap = \"acmeRemote\"\n",
    );
    let mut ldap = admin_connection(s.ldap).await;
    let people = format!("ou=people,{BASE}");
    let ann = format!("uid=ann,{people}");
    let attrs: Vec<(&str, std::collections::HashSet<&str>)> = vec![
        ("objectClass", ["inetOrgPerson"].into()),
        ("uid", ["ann"].into()),
        ("sn", ["Archer"].into()),
        ("acmeLevel", ["3"].into()),
        ("acmeRemote", ["TRUE"].into()),
    ];
    ldap.add(&ann, attrs).await.unwrap().success().unwrap();
    // Ben has a manager, Ann has none: an item on `manager` meets both kinds of entry.
    let attrs: Vec<(&str, std::collections::HashSet<&str>)> = vec![
        ("objectClass", ["inetOrgPerson"].into()),
        ("uid", ["ben"].into()),
        ("sn", ["Baker"].into()),
        ("manager", [ann.as_str()].into()),
    ];
    ldap.add(&format!("uid=ben,{people}"), attrs)
        .await
        .unwrap()
        .success()
        .unwrap();
    let search = |filter: &'static str| {
        let mut ldap = ldap.clone();
        async move {
            let (entries, res) = ldap
                .search(BASE, Scope::Subtree, filter, vec!["1.1"])
                .await
                .unwrap()
                .success()
                .unwrap();
            assert_eq!(res.rc, 0, "{filter}");
            entries
                .into_iter()
                .map(|e| SearchEntry::construct(e).dn)
                .collect::<Vec<_>>()
        }
    };
    for filter in [
        "(!(entryUUID=notuuid))",
        "(!(entryUUID=0d9e6a3c8b7e4a539d4f2f6c1c7e9a10))",
        "(!(entryUUID>=notuuid))",
        "(!(entryUUID<=notuuid))",
        "(!(entryUUID~=notuuid))",
        "(!(entryUUID:=notuuid))",
        "(!(entryUUID:uuidMatch:=notuuid))",
        "(!(:1.3.6.1.1.16.2:=notuuid))",
        "(!(|(entryUUID=notuuid)(uid=nobody)))",
        "(!(createTimestamp=yesterday))",
        "(!(modifyTimestamp<=yesterday))",
        "(!(authTimestamp>=yesterday))",
        "(!(pwdChangedTime=yesterday))",
        "(!(createTimestamp:=yesterday))",
        "(!(active=maybe))",
        "(!(active:=maybe))",
        "(!(acmeRemote=maybe))",
        "(!(acmeRemote:booleanMatch:=maybe))",
        "(!(acmeLevel=ten))",
        "(!(acmeLevel>=ten))",
        "(!(acmeLevel:=ten))",
        "(!(:integerMatch:=ten))",
        "(!(acmeLevel:1.2.840.113556.1.4.803:=ten))",
        "(!(manager=junk))",
        "(!(manager:=junk))",
        "(!(manager:distinguishedNameMatch:=junk))",
        "(!(account=junk))",
        "(!(memberOf=junk))",
        "(!(objectClass=not a class))",
    ] {
        assert_eq!(search(filter).await, Vec::<String>::new(), "{filter}");
    }
    // A valid value that no entry holds still negates to every entry, and the index still
    // serves a valid one.
    assert!(
        search("(!(entryUUID=00000000-0000-0000-0000-000000000000))")
            .await
            .contains(&ann)
    );
    assert!(search("(!(:integerMatch:=10))").await.contains(&ann));
    assert!(search("(!(objectClass=computer))").await.contains(&ann));
    let (entries, _) = ldap
        .search(&ann, Scope::Base, "(objectClass=*)", vec!["entryUUID"])
        .await
        .unwrap()
        .success()
        .unwrap();
    let uuid = SearchEntry::construct(entries[0].clone()).attrs["entryUUID"][0].clone();
    let by_uuid = format!("(entryUUID={})", uuid.to_uppercase());
    let (entries, _) = ldap
        .search(BASE, Scope::Subtree, &by_uuid, vec!["1.1"])
        .await
        .unwrap()
        .success()
        .unwrap();
    assert_eq!(entries.len(), 1, "{by_uuid}");
    ldap.unbind().await.unwrap();
}

/// A filter that no index serves is first tried on an entry with only the attributes it names,
/// and the rest is built only for the users that pass. So every attribute a user entry carries,
/// operational ones included, must find that user when a scan's filter asks for its value (and
/// not when it asks for another value).
#[tokio::test(flavor = "multi_thread")]
async fn a_scan_finds_a_user_by_any_attribute_of_its_entry() {
    let s = start_directory("");
    let mut ldap = admin_connection(s.ldap).await;
    let people = format!("ou=people,{BASE}");
    let ann = format!("uid=ann,{people}");
    let add = |dn: String, attrs: Vec<(&'static str, Vec<String>)>| {
        let mut ldap = ldap.clone();
        async move {
            let attrs: Vec<(&str, std::collections::HashSet<&str>)> = attrs
                .iter()
                .map(|(a, v)| (*a, v.iter().map(String::as_str).collect()))
                .collect();
            ldap.add(&dn, attrs).await.unwrap().success().unwrap();
        }
    };
    let one = |v: &str| vec![v.to_string()];
    add(
        ann.clone(),
        vec![
            ("objectClass", one("inetOrgPerson")),
            ("uid", one("ann")),
            ("sn", one("Archer")),
        ],
    )
    .await;
    let bob = format!("uid=bob,{people}");
    add(
        bob.clone(),
        vec![
            ("objectClass", one("inetOrgPerson")),
            ("uid", one("bob")),
            ("givenName", one("Bob")),
            ("sn", one("Baker")),
            ("cn", one("Bob (the) Baker*")),
            ("mail", one("bob@example.com")),
            ("telephoneNumber", one("+1 555 0100")),
            ("mobile", one("+1 555 0199")),
            ("title", one("Engineer")),
            ("employeeNumber", one("E-42")),
            ("employeeType", one("contractor")),
            ("departmentNumber", one("R&D")),
            ("o", one("Example Ltd")),
            ("preferredLanguage", one("de")),
            ("manager", one(&ann)),
        ],
    )
    .await;
    add(
        format!("cn=Bakers,ou=roles,{BASE}"),
        vec![
            ("objectClass", one("groupOfNames")),
            ("cn", one("Bakers")),
            ("member", one(&bob)),
        ],
    )
    .await;
    let (entries, _) = ldap
        .search(&bob, Scope::Base, "(objectClass=*)", vec!["*", "+"])
        .await
        .unwrap()
        .success()
        .unwrap();
    let entry = SearchEntry::construct(entries[0].clone());
    assert!(entry.attrs.len() >= 25, "{:?}", entry.attrs.keys());

    let escape = |v: &str| -> String {
        v.chars()
            .map(|c| match c {
                '*' | '(' | ')' | '\\' | '\0' => format!("\\{:02x}", c as u32),
                c => c.to_string(),
            })
            .collect()
    };
    let found = |filter: String| {
        let mut ldap = ldap.clone();
        let people = people.clone();
        async move {
            let (entries, res) = ldap
                .search(&people, Scope::Subtree, &filter, vec!["1.1"])
                .await
                .unwrap()
                .success()
                .unwrap();
            assert_eq!(res.rc, 0, "{filter}");
            entries
                .into_iter()
                .map(|e| SearchEntry::construct(e).dn.to_lowercase())
                .collect::<Vec<_>>()
        }
    };
    for (attr, values) in &entry.attrs {
        for value in values {
            // Double negation: the same truth, and no index plans it.
            let hits = found(format!("(!(!({attr}={})))", escape(value))).await;
            assert!(hits.contains(&bob), "({attr}={value}) missed bob: {hits:?}");
        }
        let hits = found(format!("(&(objectClass=*)({attr}=*))")).await;
        assert!(hits.contains(&bob), "({attr}=*) missed bob: {hits:?}");
        let hits = found(format!("(!(!({attr}=no such value)))")).await;
        assert!(!hits.contains(&bob), "({attr}=no such value) found bob");
    }
    // Substrings, as a people picker sends them.
    assert_eq!(
        found("(cn=*(the)*)".replace("(the)", "\\28the\\29")).await,
        [bob.as_str()]
    );
    assert_eq!(
        found("(|(cn=*aker*)(sn=arch*))".into()).await,
        [ann.clone(), bob.clone()]
    );
    // A match on the DN's own values (RFC 4511 dnAttributes) in a scan.
    assert_eq!(
        found("(&(ou:dn:=people)(cn=*aker*))".into()).await,
        [bob.as_str()]
    );
    ldap.unbind().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_and_request_size_limits_hold_and_the_server_stays_usable() {
    let s = start_directory("[ldap]\nmax_connections_per_ip = 2\nmax_request_bytes = 4096\n");
    let connect = || async {
        let (conn, mut ldap) = LdapConnAsync::new(&url(&s)).await?;
        ldap3::drive!(conn);
        let rc = ldap.simple_bind(ADMIN_DN, ADMIN_PASSWORD).await?.rc;
        Ok::<_, ldap3::LdapError>((ldap, rc))
    };
    // Two connections from this address are admitted; the third is closed at once.
    let (mut first, rc) = connect().await.unwrap();
    assert_eq!(rc, 0);
    let (second, rc) = connect().await.unwrap();
    assert_eq!(rc, 0);
    assert!(
        connect().await.is_err(),
        "a third connection from one address"
    );
    // Closing one makes room again.
    drop(second);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut third = loop {
        if let Ok((ldap, 0)) = connect().await {
            break ldap;
        }
        assert!(std::time::Instant::now() < deadline, "room after a close");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };

    // A request over max_request_bytes closes that connection and changes nothing.
    let big = "x".repeat(8 * 1024);
    let dn = format!("uid=huge,ou=people,{BASE}");
    let attrs: Vec<(&str, std::collections::HashSet<&str>)> = vec![
        ("objectClass", ["inetOrgPerson"].into()),
        ("uid", ["huge"].into()),
        ("sn", ["Huge"].into()),
        ("cn", ["Huge"].into()),
        ("title", [big.as_str()].into()),
    ];
    let refused = third.add(&dn, attrs).await;
    assert!(refused.is_err(), "the connection is closed: {refused:?}");
    assert!(
        third.simple_bind(ADMIN_DN, ADMIN_PASSWORD).await.is_err(),
        "and stays closed"
    );
    // The other connection is unaffected, and the entry does not exist.
    let (entries, _) = first
        .search(
            &format!("ou=people,{BASE}"),
            Scope::OneLevel,
            "(uid=huge)",
            vec!["uid"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    assert!(entries.is_empty());
    let _ = first.unbind().await;
}

/// Point lookups (a `uid` or `mail` equality, a search based at a user's DN) are answered on
/// the connection's own task, other searches on the blocking pool. On one connection, with
/// many requests outstanding at once, every answer must still reach its own request, entries
/// and results alike, including a paged lookup and a lookup that finds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn point_lookups_and_long_searches_share_one_connection() {
    let s = start_directory("");
    let mut ldap = admin_connection(s.ldap).await;
    let people = format!("ou=people,{BASE}");
    const PEOPLE: usize = 120;
    for i in 0..PEOPLE {
        let uid = format!("p{i:03}");
        let mail = format!("{uid}@example.com");
        let attrs: Vec<(&str, std::collections::HashSet<&str>)> = vec![
            ("objectClass", ["inetOrgPerson"].into()),
            ("uid", [uid.as_str()].into()),
            ("cn", [uid.as_str()].into()),
            ("sn", ["Person"].into()),
            ("mail", [mail.as_str()].into()),
        ];
        ldap.add(&format!("uid={uid},{people}"), attrs)
            .await
            .unwrap()
            .success()
            .unwrap();
    }
    let mut tasks = tokio::task::JoinSet::new();
    for round in 0..4 {
        // Subtree searches over everyone: these run on the blocking pool.
        let (mut l, base) = (ldap.clone(), people.clone());
        tasks.spawn(async move {
            let (entries, res) = l
                .search(&base, Scope::Subtree, "(sn=person)", vec!["uid"])
                .await
                .unwrap()
                .success()
                .unwrap();
            assert_eq!(res.rc, 0);
            assert_eq!(entries.len(), PEOPLE, "round {round}");
        });
    }
    for i in 0..PEOPLE {
        let (mut l, base) = (ldap.clone(), people.clone());
        tasks.spawn(async move {
            let uid = format!("p{i:03}");
            let (filter, scope, at) = match i % 3 {
                0 => (
                    format!("(uid={})", uid.to_uppercase()),
                    Scope::Subtree,
                    base,
                ),
                1 => (format!("(mail={uid}@EXAMPLE.com)"), Scope::OneLevel, base),
                _ => (
                    "(objectClass=*)".to_string(),
                    Scope::Base,
                    format!("uid={uid},{base}"),
                ),
            };
            let (entries, res) = l
                .search(&at, scope, &filter, vec!["uid", "mail"])
                .await
                .unwrap()
                .success()
                .unwrap();
            assert_eq!(res.rc, 0);
            assert_eq!(entries.len(), 1, "{filter} at {at}");
            let entry = SearchEntry::construct(entries[0].clone());
            assert_eq!(entry.attrs["uid"], [uid.as_str()], "{filter}");
            assert_eq!(entry.attrs["mail"], [format!("{uid}@example.com")]);
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    // A lookup that finds nothing, and one at a missing DN.
    let (entries, res) = ldap
        .search(&people, Scope::Subtree, "(uid=nobody)", vec!["uid"])
        .await
        .unwrap()
        .success()
        .unwrap();
    assert!(entries.is_empty());
    assert_eq!(res.rc, 0);
    let res = ldap
        .search(
            &format!("uid=nobody,{people}"),
            Scope::Base,
            "(objectClass=*)",
            vec!["uid"],
        )
        .await
        .unwrap();
    assert_eq!(res.1.rc, 32, "noSuchObject");
    // A paged point lookup: one page, no cookie left over.
    let mut adapters: Vec<Box<dyn ldap3::adapters::Adapter<_, _>>> = vec![
        Box::new(ldap3::adapters::EntriesOnly::new()),
        Box::new(ldap3::adapters::PagedResults::new(10)),
    ];
    let mut stream = ldap
        .streaming_search_with(
            std::mem::take(&mut adapters),
            &people,
            Scope::Subtree,
            "(uid=p007)",
            vec!["uid"],
        )
        .await
        .unwrap();
    let mut found = Vec::new();
    while let Some(entry) = stream.next().await.unwrap() {
        found.push(SearchEntry::construct(entry).attrs["uid"][0].clone());
    }
    assert_eq!(stream.finish().await.rc, 0);
    assert_eq!(found, ["p007"]);
    ldap.unbind().await.unwrap();
}

/// RFC 4511 §4.2.1: a bind that fails leaves the connection anonymous, whatever the reason,
/// an unsupported SASL mechanism included: never as whoever was bound before.
#[tokio::test]
async fn a_failed_bind_of_any_kind_leaves_the_connection_anonymous() {
    let s = start_directory("");
    for attempt in ["sasl", "wrong password"] {
        let mut ldap = admin_connection(s.ldap).await;
        let res = match attempt {
            "sasl" => ldap.sasl_external_bind().await.unwrap(),
            _ => ldap.simple_bind(ADMIN_DN, "Wrong-Pass-123").await.unwrap(),
        };
        assert!(matches!(res.rc, 7 | 49), "{attempt}: {res:?}");
        let ldap3::result::ExopResult(whoami, res) =
            ldap.extended(ldap3::exop::WhoAmI).await.unwrap();
        assert_eq!(res.rc, 0, "{res:?}");
        let whoami: ldap3::exop::WhoAmIResp = whoami.parse();
        assert_eq!(whoami.authzid, "", "{attempt}: still bound");
        let res = ldap
            .search(
                &format!("ou=people,{BASE}"),
                Scope::OneLevel,
                "(uid=admin)",
                vec!["uid"],
            )
            .await
            .unwrap();
        // Anonymous reads nothing by default: the branch is as missing as the tree.
        assert!(res.0.is_empty(), "{attempt}: read as admin: {res:?}");
        assert_eq!(res.1.rc, 32, "{attempt}: {res:?}");
    }
}

/// A Password Modify whose request value is not exactly RFC 3062's (the fuzzer's: an
/// indefinite-length SEQUENCE naming another user and a new password) is a protocolError and
/// changes no password: not the named user's, and not the bound administrator's, which the
/// value read as empty would have had generated anew.
#[tokio::test]
async fn a_malformed_password_modify_changes_neither_the_callers_nor_the_targets_password() {
    use futures::{SinkExt, StreamExt};
    use ldap3_proto::proto::{LdapBindCred, LdapBindRequest, LdapMsg, LdapOp};
    use tokio::io::AsyncWriteExt;
    let s = start_directory("");
    let mut ldap = admin_connection(s.ldap).await;
    let target = format!("uid=pmtarget,ou=people,{BASE}");
    let res = add_entry(
        &mut ldap,
        &target,
        &[
            ("objectClass", &["inetOrgPerson"]),
            ("uid", &["pmtarget"]),
            ("sn", &["Target"]),
            ("userPassword", &["Target-Pass-123"]),
            ("active", &["TRUE"]),
        ],
    )
    .await;
    assert_eq!(res.rc, 0, "{res:?}");
    let binds = |dn: String, password: &'static str| async move {
        let (conn, mut ldap) = LdapConnAsync::new(&format!("ldap://{}", s.ldap))
            .await
            .unwrap();
        ldap3::drive!(conn);
        ldap.simple_bind(&dn, password).await.unwrap().rc
    };
    assert_eq!(binds(target.clone(), "Target-Pass-123").await, 0);

    let stream = tokio::net::TcpStream::connect(s.ldap).await.unwrap();
    let mut conn = tokio_util::codec::Framed::new(stream, ldap3_proto::LdapCodec::default());
    let bind = LdapOp::BindRequest(LdapBindRequest {
        version: 3,
        dn: ADMIN_DN.into(),
        cred: LdapBindCred::Simple(ADMIN_PASSWORD.into()),
    });
    conn.send(LdapMsg::new(1, bind)).await.unwrap();
    assert!(matches!(
        conn.next().await.unwrap().unwrap().op,
        LdapOp::BindResponse(r) if r.res.code == LdapResultCode::Success
    ));
    // BER with definite lengths (all short here).
    let tlv = |tag: u8, content: &[u8]| [&[tag, content.len() as u8][..], content].concat();
    let fields = [tlv(0x80, target.as_bytes()), tlv(0x82, b"Target-Taken-123")].concat();
    let values = [
        [&[0x30, 0x80][..], &fields, &[0, 0]].concat(),
        vec![0x30, 0x80],
        vec![0x30, 0x80, 0x00],
        [tlv(0x30, &fields), vec![0x00]].concat(),
    ];
    for (msgid, value) in (2u8..).zip(values) {
        let op = [tlv(0x80, b"1.3.6.1.4.1.4203.1.11.1"), tlv(0x81, &value)].concat();
        let message = tlv(0x30, &[vec![0x02, 0x01, msgid], tlv(0x77, &op)].concat());
        conn.get_mut().write_all(&message).await.unwrap();
        let answer = conn.next().await.unwrap().unwrap();
        assert_eq!(answer.msgid, i32::from(msgid), "{answer:?}");
        assert!(
            matches!(answer.op, LdapOp::ExtendedResponse(ref r) if r.res.code == LdapResultCode::ProtocolError),
            "{value:02x?}: {answer:?}"
        );
    }
    // Both passwords are what they were; the one asked for was not set.
    assert_eq!(binds(ADMIN_DN.to_string(), ADMIN_PASSWORD).await, 0);
    assert_eq!(binds(target.clone(), "Target-Pass-123").await, 0);
    assert_eq!(binds(target, "Target-Taken-123").await, 49);
}

/// A set of attribute values, as ldap3's add and modify take them.
fn vals<'a>(values: &[&'a str]) -> std::collections::HashSet<&'a str> {
    values.iter().copied().collect()
}

/// An add over ldap3, with its result (code and text) whatever it is.
async fn add_entry(
    ldap: &mut ldap3::Ldap,
    dn: &str,
    attrs: &[(&str, &[&str])],
) -> ldap3::LdapResult {
    let attrs: Vec<(&str, std::collections::HashSet<&str>)> =
        attrs.iter().map(|(a, v)| (*a, vals(v))).collect();
    ldap.add(dn, attrs).await.unwrap()
}

/// An add as ldap3 will not send it (it refuses an attribute with no values), on a connection
/// of its own bound as the admin.
async fn raw_add(
    ldap: std::net::SocketAddr,
    dn: &str,
    attrs: &[(&str, &[&str])],
) -> ldap3_proto::proto::LdapResult {
    use futures::{SinkExt, StreamExt};
    use ldap3_proto::proto::{
        LdapAddRequest, LdapBindCred, LdapBindRequest, LdapMsg, LdapOp, LdapPartialAttribute,
    };
    let stream = tokio::net::TcpStream::connect(ldap).await.unwrap();
    let mut conn = tokio_util::codec::Framed::new(stream, ldap3_proto::LdapCodec::default());
    let bind = LdapOp::BindRequest(LdapBindRequest {
        version: 3,
        dn: ADMIN_DN.into(),
        cred: LdapBindCred::Simple(ADMIN_PASSWORD.into()),
    });
    let attributes = attrs
        .iter()
        .map(|(a, v)| LdapPartialAttribute {
            atype: (*a).into(),
            vals: v.iter().map(|v| v.as_bytes().to_vec()).collect(),
        })
        .collect();
    let add = LdapOp::AddRequest(LdapAddRequest {
        dn: dn.into(),
        attributes,
    });
    let mut results = Vec::new();
    for (msgid, op) in [(1, bind), (2, add)] {
        let ctrl = Vec::new();
        conn.send(LdapMsg { msgid, op, ctrl }).await.unwrap();
        results.push(match conn.next().await.unwrap().unwrap().op {
            LdapOp::BindResponse(r) => r.res,
            LdapOp::AddResponse(r) => r,
            other => panic!("{other:?}"),
        });
    }
    assert_eq!(results[0].code, LdapResultCode::Success, "{results:?}");
    results.pop().unwrap()
}

/// The entry at `dn` with the attributes asked for (sorted values), or `None` if there is none.
async fn read_entry(
    ldap: &mut ldap3::Ldap,
    dn: &str,
    attrs: &[&str],
) -> Option<std::collections::HashMap<String, Vec<String>>> {
    let ldap3::SearchResult(entries, res) = ldap
        .search(dn, Scope::Base, "(objectClass=*)", attrs.to_vec())
        .await
        .unwrap();
    if res.rc == 32 {
        return None;
    }
    assert_eq!(res.rc, 0, "{res:?}");
    let mut attrs = SearchEntry::construct(entries.into_iter().next()?).attrs;
    attrs.values_mut().for_each(|v| v.sort());
    Some(attrs)
}

/// `manager` and `account` hold one DN each (RFC 4511 §4.6 on a single-valued attribute): a
/// delete names the value they hold (compared as the record it names) or nothing, an add
/// only fills an empty one, and a refused change leaves the entry as it was.
#[tokio::test]
async fn manager_and_account_take_single_valued_modify_semantics() {
    let s = start_directory("");
    let mut ldap = admin_connection(s.ldap).await;
    let people = format!("ou=people,{BASE}");
    let (ann, ben, cara) = (
        format!("uid=ann,{people}"),
        format!("uid=ben,{people}"),
        format!("uid=cara,{people}"),
    );
    let (acme, globex) = (
        format!("o=Acme,ou=accounts,{BASE}"),
        format!("o=Globex,ou=accounts,{BASE}"),
    );
    for (dn, uid) in [(&ann, "ann"), (&ben, "ben")] {
        let res = add_entry(
            &mut ldap,
            dn,
            &[
                ("objectClass", &["inetOrgPerson"]),
                ("uid", &[uid]),
                ("sn", &[uid]),
            ],
        )
        .await;
        assert_eq!(res.rc, 0, "{res:?}");
    }
    for (dn, o) in [(&acme, "Acme"), (&globex, "Globex")] {
        let res = add_entry(
            &mut ldap,
            dn,
            &[("objectClass", &["organization"]), ("o", &[o])],
        )
        .await;
        assert_eq!(res.rc, 0, "{res:?}");
    }
    let res = add_entry(
        &mut ldap,
        &cara,
        &[
            ("objectClass", &["inetOrgPerson"]),
            ("uid", &["cara"]),
            ("sn", &["Cole"]),
            ("manager", &[ann.as_str()]),
            ("account", &[acme.as_str()]),
        ],
    )
    .await;
    assert_eq!(res.rc, 0, "{res:?}");
    let read = |ldap: &mut ldap3::Ldap| {
        let mut ldap = ldap.clone();
        let cara = cara.clone();
        async move {
            let e = read_entry(&mut ldap, &cara, &["manager", "account"])
                .await
                .unwrap();
            let get = |a: &str| {
                e.get(a)
                    .cloned()
                    .unwrap_or_default()
                    .join(";")
                    .to_lowercase()
            };
            (get("manager"), get("account"))
        }
    };
    let both = (ann.to_lowercase(), acme.to_lowercase());
    assert_eq!(read(&mut ldap).await, both);
    for (attr, other, code) in [
        // Not the value it holds: noSuchAttribute, and nothing changes.
        ("manager", Mod::Delete("manager", vals(&[&ben])), 16),
        ("account", Mod::Delete("account", vals(&[&globex])), 16),
        // A DN that names nobody is nobody's value either.
        (
            "manager",
            Mod::Delete("manager", vals(&["uid=ghost,ou=people,dc=example,dc=com"])),
            16,
        ),
        // An add to an attribute with a value: a second one is too many, the same one there.
        ("manager", Mod::Add("manager", vals(&[&ben])), 19),
        ("manager", Mod::Add("manager", vals(&[&ann])), 20),
        ("account", Mod::Add("account", vals(&[&globex])), 19),
    ] {
        let res = ldap.modify(&cara, vec![other]).await.unwrap();
        assert_eq!(res.rc, code, "{attr}: {res:?}");
        assert!(res.text.contains(attr), "{res:?}");
        assert_eq!(
            read(&mut ldap).await,
            both,
            "{attr} changed by a refused modify"
        );
    }
    // The value it holds, in another spelling of the DN, deletes it.
    let res = ldap
        .modify(
            &cara,
            vec![
                Mod::Delete("manager", vals(&["UID=Ann, OU=People, DC=example, DC=com"])),
                Mod::Delete("account", vals(&["O=ACME,ou=accounts,dc=example,dc=com"])),
            ],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    assert_eq!(read(&mut ldap).await, (String::new(), String::new()));
    // Nothing left to delete; an add fills the empty attribute, a replace replaces.
    let res = ldap
        .modify(&cara, vec![Mod::Delete("manager", vals(&[]))])
        .await
        .unwrap();
    assert_eq!(res.rc, 16, "{res:?}");
    let res = ldap
        .modify(
            &cara,
            vec![
                Mod::Add("manager", vals(&[&ben])),
                Mod::Add("account", vals(&[&globex])),
            ],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    let res = ldap
        .modify(&cara, vec![Mod::Replace("manager", vals(&[&ann]))])
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    assert_eq!(
        read(&mut ldap).await,
        (ann.to_lowercase(), globex.to_lowercase())
    );
    // A delete with no values clears the attribute.
    let res = ldap
        .modify(
            &cara,
            vec![
                Mod::Delete("manager", vals(&[])),
                Mod::Delete("account", vals(&[])),
            ],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    assert_eq!(read(&mut ldap).await, (String::new(), String::new()));
}

/// RFC 4511 §4.6's value-level results, values compared by the attribute's equality rule:
/// adding a value that is there is attributeOrValueExists (20), deleting one that is not
/// noSuchAttribute (16), a second value for a single-valued attribute constraintViolation (19),
/// for a person's attributes and a role's members alike; and a refused
/// modify changes nothing, not even its other modifications.
#[tokio::test]
async fn adding_a_present_value_or_deleting_an_absent_one_is_refused_with_its_code() {
    let s = start_directory("");
    let mut ldap = admin_connection(s.ldap).await;
    let people = format!("ou=people,{BASE}");
    let (ann, ben) = (format!("uid=ann,{people}"), format!("uid=ben,{people}"));
    let res = add_entry(
        &mut ldap,
        &ann,
        &[
            ("objectClass", &["inetOrgPerson"]),
            ("uid", &["ann"]),
            ("sn", &["Archer"]),
            ("title", &["CEO"]),
            ("mail", &["ann@example.com", "a.archer@example.com"]),
            ("telephoneNumber", &["+1 555-0100"]),
        ],
    )
    .await;
    assert_eq!(res.rc, 0, "{res:?}");
    let res = add_entry(
        &mut ldap,
        &ben,
        &[
            ("objectClass", &["inetOrgPerson"]),
            ("uid", &["ben"]),
            ("sn", &["Baker"]),
        ],
    )
    .await;
    assert_eq!(res.rc, 0, "{res:?}");
    let attrs = ["title", "mail", "telephoneNumber"];
    let before = read_entry(&mut ldap, &ann, &attrs).await.unwrap();
    for (mods, code) in [
        (vec![Mod::Add("mail", vals(&["ANN@Example.com"]))], 20),
        (vec![Mod::Add("telephoneNumber", vals(&["+15550100"]))], 20),
        (vec![Mod::Delete("mail", vals(&["nobody@example.com"]))], 16),
        (vec![Mod::Delete("title", vals(&["CTO"]))], 16),
        // A second value for a single-valued attribute is constraintViolation, as in
        // OpenLDAP; the value it has is attributeOrValueExists.
        (vec![Mod::Add("title", vals(&["CTO"]))], 19),
        (vec![Mod::Add("title", vals(&["ceo"]))], 20),
        // The first modification would succeed alone: the request is one change.
        (
            vec![
                Mod::Replace("title", vals(&["Chair"])),
                Mod::Add("mail", vals(&["a.ARCHER@example.com"])),
            ],
            20,
        ),
    ] {
        let res = ldap.modify(&ann, mods.clone()).await.unwrap();
        assert_eq!(res.rc, code, "{mods:?}: {res:?}");
        assert_eq!(
            read_entry(&mut ldap, &ann, &attrs).await.unwrap(),
            before,
            "{mods:?}"
        );
    }
    // The values that are there, in another case, are deleted.
    let res = ldap
        .modify(
            &ann,
            vec![
                Mod::Delete("mail", vals(&["A.Archer@EXAMPLE.com"])),
                Mod::Delete("telephoneNumber", vals(&["+1 555 0100"])),
            ],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    let after = read_entry(&mut ldap, &ann, &attrs).await.unwrap();
    assert_eq!(after["mail"], ["ann@example.com"]);
    assert!(!after.contains_key("telephoneNumber"), "{after:?}");

    // A role's members are compared as the users their DNs name.
    let team = format!("cn=Team,ou=roles,{BASE}");
    let res = add_entry(
        &mut ldap,
        &team,
        &[
            ("objectClass", &["groupOfNames"]),
            ("cn", &["Team"]),
            ("member", &[ann.as_str()]),
        ],
    )
    .await;
    assert_eq!(res.rc, 0, "{res:?}");
    let members = |ldap: &mut ldap3::Ldap| {
        let mut ldap = ldap.clone();
        let team = team.clone();
        async move {
            let e = read_entry(&mut ldap, &team, &["member"]).await.unwrap();
            e.get("member").cloned().unwrap_or_default()
        }
    };
    let only_ann = members(&mut ldap).await;
    assert_eq!(only_ann.len(), 1);
    for (mods, code) in [
        (
            vec![Mod::Add(
                "member",
                vals(&["UID=ANN,ou=People,dc=example,dc=com"]),
            )],
            20,
        ),
        (vec![Mod::Delete("member", vals(&[&ben]))], 16),
        (
            vec![Mod::Delete(
                "member",
                vals(&["uid=ghost,ou=people,dc=example,dc=com"]),
            )],
            16,
        ),
        (
            vec![
                Mod::Add("member", vals(&[&ben])),
                Mod::Delete("member", vals(&[&ben])),
                Mod::Delete("member", vals(&[&ben])),
            ],
            16,
        ),
    ] {
        let res = ldap.modify(&team, mods.clone()).await.unwrap();
        assert_eq!(res.rc, code, "{mods:?}: {res:?}");
        assert_eq!(members(&mut ldap).await, only_ann, "{mods:?}");
    }
    // Modifications apply in order: a member deleted and added again stays.
    let res = ldap
        .modify(
            &team,
            vec![
                Mod::Delete("member", vals(&["uid=Ann,ou=people,dc=example,dc=com"])),
                Mod::Add("member", vals(&[&ann, &ben])),
            ],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    assert_eq!(members(&mut ldap).await.len(), 2);
    let res = ldap
        .modify(&team, vec![Mod::Delete("member", vals(&[&ben]))])
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    assert_eq!(members(&mut ldap).await, only_ann);
}

/// What the server cannot store is refused, never answered as a success that stored nothing:
/// object classes follow from the branch (objectClassViolation, 65), a principal's kind cannot
/// change, and an add must name its branch's classes and list each attribute once, with values.
#[tokio::test]
async fn changes_the_server_cannot_make_are_refused_rather_than_dropped() {
    let s = start_directory("");
    let mut ldap = admin_connection(s.ldap).await;
    let people = format!("ou=people,{BASE}");
    let ann = format!("uid=ann,{people}");
    let person: &[(&str, &[&str])] = &[
        ("objectClass", &["top", "person", "inetOrgPerson"]),
        ("uid", &["ann"]),
        ("sn", &["Archer"]),
        ("mail", &["ann@example.com"]),
    ];
    let res = add_entry(&mut ldap, &ann, person).await;
    assert_eq!(res.rc, 0, "{res:?}");
    let classes = read_entry(&mut ldap, &ann, &["objectClass"]).await.unwrap();
    for (mods, code) in [
        (vec![Mod::Add("objectClass", vals(&["posixAccount"]))], 65),
        (
            vec![Mod::Replace("objectClass", vals(&["top", "account"]))],
            65,
        ),
        (
            vec![Mod::Replace("objectClass", vals(&["inetOrgPerson"]))],
            65,
        ),
        (vec![Mod::Delete("objectClass", vals(&["person"]))], 65),
        (
            vec![Mod::Delete("objectClass", vals(&["posixAccount"]))],
            16,
        ),
        (vec![Mod::Add("objectClass", vals(&["InetOrgPerson"]))], 20),
    ] {
        let res = ldap.modify(&ann, mods.clone()).await.unwrap();
        assert_eq!(res.rc, code, "{mods:?}: {res:?}");
        assert!(res.text.contains("objectClass"), "{res:?}");
    }
    assert_eq!(
        read_entry(&mut ldap, &ann, &["objectClass"]).await.unwrap(),
        classes
    );
    // Said again, with superclasses left implied, it is accepted.
    let res = ldap
        .modify(
            &ann,
            vec![Mod::Replace(
                "objectClass",
                vals(&["inetOrgPerson", "rollcallPerson"]),
            )],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    // principalKind: the same value is harmless, another one is refused with the reason.
    let res = ldap
        .modify(&ann, vec![Mod::Replace("principalKind", vals(&["api"]))])
        .await
        .unwrap();
    assert!(matches!(res.rc, 19 | 53), "{res:?}");
    assert!(res.text.contains("cannot be changed"), "{res:?}");
    let res = ldap
        .modify(&ann, vec![Mod::Replace("principalKind", vals(&["person"]))])
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    let kind = read_entry(&mut ldap, &ann, &["principalKind"])
        .await
        .unwrap();
    assert_eq!(kind["principalKind"], ["person"]);
    // A service account's cn is its name, as uid is a person's: said again, never changed.
    let robot = format!("cn=robot,ou=services,{BASE}");
    let res = add_entry(
        &mut ldap,
        &robot,
        &[
            ("objectClass", &["applicationProcess"]),
            ("cn", &["robot"]),
            ("principalKind", &["api"]),
        ],
    )
    .await;
    assert_eq!(res.rc, 0, "{res:?}");
    let res = ldap
        .modify(&robot, vec![Mod::Replace("cn", vals(&["Robot"]))])
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    let res = ldap
        .modify(&robot, vec![Mod::Replace("cn", vals(&["android"]))])
        .await
        .unwrap();
    assert_eq!(res.rc, 67, "notAllowedOnRDN: {res:?}");
    let cn = read_entry(&mut ldap, &robot, &["cn"]).await.unwrap();
    assert_eq!(cn["cn"], ["robot"]);
    // A role has no uid or principalKind to ignore.
    let team = format!("cn=Team,ou=roles,{BASE}");
    let res = add_entry(
        &mut ldap,
        &team,
        &[("objectClass", &["groupOfNames"]), ("cn", &["Team"])],
    )
    .await;
    assert_eq!(res.rc, 0, "{res:?}");
    for attr in ["uid", "principalKind"] {
        let res = ldap
            .modify(&team, vec![Mod::Replace(attr, vals(&["x"]))])
            .await
            .unwrap();
        assert_eq!(res.rc, 65, "{attr}: {res:?}");
    }

    // Adds the directory cannot honour create nothing.
    let bob = format!("uid=bob,{people}");
    let bob_with = |extra: (&'static str, &'static [&'static str])| {
        let mut attrs: Vec<(&str, &[&str])> = vec![("uid", &["bob"]), ("sn", &["Baker"])];
        attrs.push(extra);
        attrs
    };
    for (attrs, code) in [
        (vec![("uid", &["bob"][..]), ("sn", &["Baker"][..])], 65),
        (bob_with(("objectClass", &["posixAccount"])), 65),
        (
            bob_with(("objectClass", &["inetOrgPerson", "posixAccount"])),
            65,
        ),
        (bob_with(("objectClass", &["groupOfNames"])), 65),
        // Only auxiliary and abstract classes: no structural one.
        (bob_with(("objectClass", &["top", "rollcallPerson"])), 65),
        (
            vec![
                ("objectClass", &["inetOrgPerson"][..]),
                ("uid", &["bob"][..]),
                ("sn", &["Baker"][..]),
                ("mail", &["bob@example.com"][..]),
                ("mail", &["b.baker@example.com"][..]),
            ],
            20,
        ),
    ] {
        let res = add_entry(&mut ldap, &bob, &attrs).await;
        assert_eq!(res.rc, code, "{attrs:?}: {res:?}");
        assert!(
            read_entry(&mut ldap, &bob, &["uid"]).await.is_none(),
            "{attrs:?}"
        );
    }
    // An attribute with no values (which ldap3 will not send) breaks RFC 4511 §4.7.
    let res = raw_add(
        s.ldap,
        &bob,
        &[
            ("objectClass", &["inetOrgPerson"]),
            ("uid", &["bob"]),
            ("sn", &["Baker"]),
            ("title", &[]),
        ],
    )
    .await;
    assert_eq!(res.code, LdapResultCode::ProtocolError, "{res:?}");
    assert!(res.message.contains("title"), "{res:?}");
    assert!(read_entry(&mut ldap, &bob, &["uid"]).await.is_none());
    let res = add_entry(
        &mut ldap,
        &format!("cn=Misfiled,ou=roles,{BASE}"),
        &[("objectClass", &["inetOrgPerson"]), ("cn", &["Misfiled"])],
    )
    .await;
    assert_eq!(res.rc, 65, "{res:?}");
    // The connection is still usable, and a proper add goes through.
    let res = add_entry(
        &mut ldap,
        &bob,
        &bob_with(("objectClass", &["inetOrgPerson"])),
    )
    .await;
    assert_eq!(res.rc, 0, "{res:?}");
}

/// Attributes the server maintains are constraintViolation to write ("no user modification
/// allowed", as OpenLDAP says), as are a role's type and administrator flag, which LDAP can
/// only state again; undefinedAttributeType is left for types the subschema does not define.
#[tokio::test]
async fn operational_attributes_are_no_user_modification() {
    let s = start_directory("");
    let mut ldap = admin_connection(s.ldap).await;
    let ann = format!("uid=ann,ou=people,{BASE}");
    let res = add_entry(
        &mut ldap,
        &ann,
        &[
            ("objectClass", &["inetOrgPerson"]),
            ("uid", &["ann"]),
            ("sn", &["Archer"]),
        ],
    )
    .await;
    assert_eq!(res.rc, 0, "{res:?}");
    let operational = [
        "entryUUID",
        "modifyTimestamp",
        "createTimestamp",
        "memberOf",
        "entryDN",
    ];
    let before = read_entry(&mut ldap, &ann, &operational).await.unwrap();
    let value = "cn=Administrators,ou=roles,dc=example,dc=com";
    for attr in operational {
        for m in [
            Mod::Replace(attr, vals(&[value])),
            Mod::Add(attr, vals(&[value])),
        ] {
            let res = ldap.modify(&ann, vec![m]).await.unwrap();
            assert_eq!(res.rc, 19, "{attr}: {res:?}");
            assert!(res.text.contains("no user modification"), "{res:?}");
        }
    }
    assert_eq!(
        read_entry(&mut ldap, &ann, &operational).await.unwrap(),
        before
    );
    let res = add_entry(
        &mut ldap,
        &format!("uid=bob,ou=people,{BASE}"),
        &[
            ("objectClass", &["inetOrgPerson"]),
            ("uid", &["bob"]),
            ("sn", &["Baker"]),
            ("entryUUID", &["6b1e2f0c-4b8a-4c55-9d3c-1f0e2d3c4b5a"]),
        ],
    )
    .await;
    assert_eq!(res.rc, 19, "{res:?}");
    let res = ldap
        .modify(&ann, vec![Mod::Replace("favouriteColour", vals(&["blue"]))])
        .await
        .unwrap();
    assert_eq!(res.rc, 17, "undefinedAttributeType: {res:?}");

    let team = format!("cn=Team,ou=roles,{BASE}");
    let res = add_entry(
        &mut ldap,
        &team,
        &[
            ("objectClass", &["groupOfNames"]),
            ("cn", &["Team"]),
            ("roleType", &["employee"]),
        ],
    )
    .await;
    assert_eq!(res.rc, 0, "{res:?}");
    let role_attrs = ["roleType", "administrator"];
    let before = read_entry(&mut ldap, &team, &role_attrs).await.unwrap();
    for m in [
        Mod::Replace("roleType", vals(&["partner"])),
        Mod::Delete("roleType", vals(&[])),
        Mod::Replace("administrator", vals(&["TRUE"])),
    ] {
        let res = ldap.modify(&team, vec![m.clone()]).await.unwrap();
        assert_eq!(res.rc, 19, "{m:?}: {res:?}");
        assert!(res.text.contains("cannot be changed over LDAP"), "{res:?}");
    }
    assert_eq!(
        read_entry(&mut ldap, &team, &role_attrs).await.unwrap(),
        before
    );
    // Saying them again changes nothing and is accepted.
    let res = ldap
        .modify(
            &team,
            vec![
                Mod::Replace("roleType", vals(&["Employee"])),
                Mod::Replace("administrator", vals(&["FALSE"])),
            ],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    let res = ldap
        .modify(&team, vec![Mod::Replace("memberOf", vals(&[value]))])
        .await
        .unwrap();
    assert_eq!(res.rc, 19, "{res:?}");
}

/// `Mod::Add`, `Mod::Replace` or `Mod::Delete` with octet values.
type OctetsMod = fn(Vec<u8>, std::collections::HashSet<Vec<u8>>) -> Mod<Vec<u8>>;

/// A self-signed certificate named `cn` with `serial`, as DER.
fn certificate(cn: &str, serial: &[u8]) -> Vec<u8> {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![format!("{cn}.example")]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.serial_number = Some(rcgen::SerialNumber::from_slice(serial));
    params.self_signed(&key).unwrap().der().to_vec()
}

/// A modification of `userCertificate;binary` with DER values, as ldap3 sends octets.
fn certificates(op: OctetsMod, der: &[&[u8]]) -> Mod<Vec<u8>> {
    op(
        b"userCertificate;binary".to_vec(),
        der.iter().map(|d| d.to_vec()).collect(),
    )
}

/// A text modification in the octet form `certificates` uses, so both go in one request.
fn octets(op: OctetsMod, attr: &str, values: &[&str]) -> Mod<Vec<u8>> {
    op(
        attr.as_bytes().to_vec(),
        values.iter().map(|v| v.as_bytes().to_vec()).collect(),
    )
}

/// SCIM's `profileUrl` and `x509Certificates` are a person's `labeledURI` and
/// `userCertificate` (RFC 2798's inetOrgPerson allows both): returned as DER with `;binary`
/// (RFC 4523) whether asked with it or not, found by presence, equality and (for the URI)
/// substrings, written by add and modify under the service's rules and SCIM's checks, and a
/// value that is not one certificate is invalidAttributeSyntax with nothing changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_profile_url_and_certificates_are_labeled_uri_and_user_certificate() {
    use base64::Engine;
    const TOKEN: &str = "rc_test_provisioning_token_0123456789";
    let b64 = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s = common::start_directory_with_env("", &[("ROLLCALL_BOOTSTRAP_TOKEN", TOKEN)]);
    let http = reqwest::Client::new();
    let scim_user = |name: &str| {
        let (http, base) = (http.clone(), s.url(""));
        let name = name.to_owned();
        async move { common::scim_user_named(&http, &base, TOKEN, &name).await }
    };
    let first = certificate("Rollcall Test CA", &[0x01, 0x00]);
    let url = "https://people.example/dana";
    let created = http
        .post(s.url("/scim/v2/Users"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "dana",
            "profileUrl": url,
            "x509Certificates": [{"value": b64(&first), "type": "work", "primary": true}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);
    let dana = format!("uid=dana,ou=people,{BASE}");
    let mut ldap = admin_connection(s.ldap).await;

    // Read: by name with or without the option, and as user attributes under `*`.
    for asked in [
        vec!["labeledURI", "userCertificate;binary"],
        vec!["labeledURI", "userCertificate"],
        vec!["*"],
    ] {
        let ldap3::SearchResult(entries, res) = ldap
            .search(&dana, Scope::Base, "(objectClass=*)", asked.clone())
            .await
            .unwrap();
        assert_eq!(res.rc, 0, "{res:?}");
        let e = SearchEntry::construct(entries.into_iter().next().unwrap());
        assert_eq!(e.attrs["labeledURI"], [url], "{asked:?}: {e:?}");
        assert_eq!(
            e.bin_attrs["userCertificate;binary"],
            std::slice::from_ref(&first),
            "{asked:?}"
        );
    }
    // ldapsearch prints the DER in base64: SCIM's very value.
    for asked in ["userCertificate;binary", "userCertificate"] {
        let Some(out) = ldapsearch(
            &s,
            Some((ADMIN_DN, ADMIN_PASSWORD)),
            &["-b", &dana, "-s", "base", "(objectClass=*)", asked],
        ) else {
            break;
        };
        assert!(out.status.success(), "{}", text(&out));
        let line = format!("userCertificate;binary:: {}", b64(&first));
        assert!(text(&out).lines().any(|l| l == line), "{}", text(&out));
    }

    // Filters: presence of either, the URI as caseExactMatch compares it, a certificate by its
    // issuer and serial number (certificateExactMatch).
    let found = |filter: String| {
        let mut ldap = ldap.clone();
        async move {
            let ldap3::SearchResult(entries, res) = ldap
                .search(BASE, Scope::Subtree, &filter, vec!["1.1"])
                .await
                .unwrap();
            assert_eq!(res.rc, 0, "{filter}: {res:?}");
            let mut dns: Vec<String> = entries
                .into_iter()
                .map(|e| SearchEntry::construct(e).dn.to_lowercase())
                .collect();
            dns.sort();
            dns
        }
    };
    let only_dana = vec![dana.clone()];
    for filter in [
        "(userCertificate;binary=*)".to_owned(),
        "(userCertificate=*)".to_owned(),
        format!("(labeledURI={url})"),
        "(&(labeledURI=*)(objectClass=inetOrgPerson))".to_owned(),
        "(labeledURI=https://people.example/*)".to_owned(),
        r#"(userCertificate={ serialNumber 256, issuer rdnSequence:"cn=Rollcall Test CA" })"#
            .to_owned(),
    ] {
        assert_eq!(found(filter.clone()).await, only_dana, "{filter}");
    }
    for filter in [
        "(labeledURI=HTTPS://PEOPLE.EXAMPLE/DANA)",
        r#"(userCertificate={ serialNumber 257, issuer rdnSequence:"cn=Rollcall Test CA" })"#,
        "(!(userCertificate=not an assertion))",
    ] {
        assert!(found(filter.to_owned()).await.is_empty(), "{filter}");
    }
    if let Some(out) = ldapsearch(
        &s,
        Some((ADMIN_DN, ADMIN_PASSWORD)),
        &["-b", BASE, "(userCertificate;binary=*)", "1.1"],
    ) {
        assert_eq!(dns(&out), only_dana, "{}", text(&out));
    }

    // Write over LDAP, read over SCIM: a certificate that stays keeps what SCIM said of it.
    let second = certificate("Second", &[0x02]);
    let new_url = "https://people.example/~dana";
    let res = ldap
        .modify(
            &dana,
            vec![
                octets(Mod::Replace, "labeledURI", &[new_url]),
                certificates(Mod::Add, &[&second]),
            ],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    let user = scim_user("dana").await;
    assert_eq!(user["profileUrl"], new_url, "{user}");
    assert_eq!(
        user["x509Certificates"],
        serde_json::json!([
            {"value": b64(&first), "type": "work", "primary": true},
            {"value": b64(&second)},
        ]),
        "{user}"
    );

    // Refused whole, with RFC 4511's code for the reason; nothing changes.
    let chain = [first.clone(), second.clone()].concat();
    let refusals: Vec<(Vec<Mod<Vec<u8>>>, u32)> = vec![
        // Not one certificate: invalidAttributeSyntax, as OpenLDAP answers.
        (
            vec![
                octets(Mod::Replace, "labeledURI", &["https://elsewhere.example"]),
                certificates(Mod::Add, &[b"not a certificate"]),
            ],
            21,
        ),
        (vec![certificates(Mod::Replace, &[&second, &chain])], 21),
        (
            vec![certificates(Mod::Add, &[&first[..first.len() - 1]])],
            21,
        ),
        // A certificate is written with `;binary` (RFC 4523), as OpenLDAP requires.
        (
            vec![Mod::Add(
                b"userCertificate".to_vec(),
                [certificate("Third", &[3])].into(),
            )],
            17,
        ),
        (
            vec![octets(
                Mod::Add,
                "labeledURI;binary",
                &["https://x.example"],
            )],
            17,
        ),
        // There already, or not there: compared as certificateExactMatch compares.
        (vec![certificates(Mod::Add, &[&first])], 20),
        (
            vec![certificates(
                Mod::Add,
                &[&certificate("Rollcall Test CA", &[0x01, 0x00])],
            )],
            20,
        ),
        (
            vec![certificates(Mod::Delete, &[&certificate("Third", &[3])])],
            16,
        ),
        // Rollcall keeps one profile URL.
        (
            vec![octets(Mod::Add, "labeledURI", &["https://x.example"])],
            19,
        ),
    ];
    for (mods, code) in refusals {
        let res = ldap.modify(&dana, mods).await.unwrap();
        assert_eq!(res.rc, code, "{res:?}");
    }
    assert_eq!(scim_user("dana").await, user);

    // Deleting a value, by its DER.
    let res = ldap
        .modify(&dana, vec![certificates(Mod::Delete, &[&first])])
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    assert_eq!(
        scim_user("dana").await["x509Certificates"],
        serde_json::json!([{"value": b64(&second)}])
    );

    // An add over LDAP, read over SCIM.
    let erin = format!("uid=erin,ou=people,{BASE}");
    let res = ldap
        .add(
            &erin,
            vec![
                (b"objectClass".to_vec(), [b"inetOrgPerson".to_vec()].into()),
                (b"uid".to_vec(), [b"erin".to_vec()].into()),
                (b"sn".to_vec(), [b"Evans".to_vec()].into()),
                (
                    b"labeledURI".to_vec(),
                    [b"https://people.example/erin".to_vec()].into(),
                ),
                (b"userCertificate;binary".to_vec(), [second.clone()].into()),
                (b"userPassword".to_vec(), [b"Erin-Pass-123".to_vec()].into()),
                (b"active".to_vec(), [b"TRUE".to_vec()].into()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    let user = scim_user("erin").await;
    assert_eq!(user["profileUrl"], "https://people.example/erin", "{user}");
    assert_eq!(
        user["x509Certificates"],
        serde_json::json!([{"value": b64(&second)}])
    );

    // The service's rules hold: a person who may edit its own record changes its profile URL
    // but not the certificates applications may authenticate it by.
    let session = common::admin_session(&http, &s.url("")).await;
    let role = "urn:rollcall:scim:schemas:extension:2.0:Role";
    let created = http
        .post(s.url("/scim/v2/Groups"))
        .bearer_auth(session)
        .json(&serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", role],
            "displayName": "Self service",
            "members": [{"value": user["id"]}],
            role: {
                "roleType": "employee",
                "permissions": {"user": {"read": "private", "edit": "private"}},
            },
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);
    let mut own = admin_connection(s.ldap).await;
    own.simple_bind(&erin, "Erin-Pass-123")
        .await
        .unwrap()
        .success()
        .unwrap();
    let res = own
        .modify(&erin, vec![certificates(Mod::Add, &[&first])])
        .await
        .unwrap();
    assert_eq!(res.rc, 50, "{res:?}");
    let res = own
        .modify(
            &erin,
            vec![octets(
                Mod::Replace,
                "labeledURI",
                &["https://erin.example"],
            )],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    let user = scim_user("erin").await;
    assert_eq!(user["profileUrl"], "https://erin.example", "{user}");
    assert_eq!(user["x509Certificates"].as_array().map(Vec::len), Some(1));

    // A service account's classes allow neither.
    let service = format!("cn=provisioning,ou=services,{BASE}");
    for m in [
        octets(Mod::Replace, "labeledURI", &["https://x.example"]),
        certificates(Mod::Replace, &[&second]),
    ] {
        let res = ldap.modify(&service, vec![m]).await.unwrap();
        assert_eq!(res.rc, 65, "{res:?}");
    }

    // The subschema says so.
    let ldap3::SearchResult(entries, res) = ldap
        .search(
            "cn=subschema",
            Scope::Base,
            "(objectClass=*)",
            vec!["attributeTypes", "objectClasses"],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    let schema = SearchEntry::construct(entries.into_iter().next().unwrap()).attrs;
    for expected in [
        "( 2.5.4.36 NAME 'userCertificate' DESC 'X.509 user certificate' \
         EQUALITY certificateExactMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.8 )",
        "( 1.3.6.1.4.1.250.1.57 NAME 'labeledURI' DESC 'RFC2079: Uniform Resource Identifier \
         with optional label' EQUALITY caseExactMatch SUBSTR caseExactSubstringsMatch \
         SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )",
    ] {
        assert!(
            schema["attributeTypes"].iter().any(|t| t == expected),
            "{expected} not in {:?}",
            schema["attributeTypes"]
        );
    }
    let person = schema["objectClasses"]
        .iter()
        .find(|c| c.contains("NAME 'inetOrgPerson'"))
        .unwrap();
    assert!(
        person.contains("$ labeledURI $") && person.contains("$ userCertificate )"),
        "{person}"
    );
}

/// The attributes the subschema's classes `names` allow (MUST and MAY), read from
/// `cn=subschema` as a client would.
async fn class_attributes(ldap: &mut ldap3::Ldap, names: &[&str]) -> Vec<String> {
    let ldap3::SearchResult(entries, res) = ldap
        .search(
            "cn=subschema",
            Scope::Base,
            "(objectClass=*)",
            vec!["objectClasses"],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    let schema = SearchEntry::construct(entries.into_iter().next().unwrap()).attrs;
    let mut out = Vec::new();
    for name in names {
        let class = schema["objectClasses"]
            .iter()
            .find(|c| c.contains(&format!("NAME '{name}'")))
            .unwrap_or_else(|| panic!("{name} not in the subschema"));
        // `( oid NAME 'x' … MUST ( a $ b ) MAY c )`: the names after MUST and MAY.
        let after = |keyword: &str| -> Vec<String> {
            let Some((_, rest)) = class.split_once(&format!(" {keyword} ")) else {
                return Vec::new();
            };
            let list = match rest.strip_prefix("( ") {
                Some(list) => list.split(" )").next().unwrap_or_default(),
                None => rest.split(' ').next().unwrap_or_default(),
            };
            list.split(" $ ").map(|a| a.trim().to_owned()).collect()
        };
        out.extend(after("MUST"));
        out.extend(after("MAY"));
    }
    out
}

/// A service account's entry is an `applicationProcess` and a `rollcallPerson`, as the
/// subschema publishes them: a write of an attribute those classes do not allow (a person's
/// `mail`, `title`, …, which the record has fields for) is objectClassViolation and stores
/// nothing, one they allow that Rollcall does not keep (`description`) unwillingToPerform, and
/// what they allow and Rollcall keeps is written and shown. People keep all of theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_account_is_written_only_what_its_classes_allow() {
    const TOKEN: &str = "rc_test_provisioning_token_0123456789";
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s = common::start_directory_with_env("", &[("ROLLCALL_BOOTSTRAP_TOKEN", TOKEN)]);
    let http = reqwest::Client::new();
    let scim_user = |name: &str| {
        let (http, base) = (http.clone(), s.url(""));
        let name = name.to_owned();
        async move { common::scim_user_named(&http, &base, TOKEN, &name).await }
    };
    let mut ldap = admin_connection(s.ldap).await;
    let robot = format!("cn=robot,ou=services,{BASE}");
    let res = add_entry(
        &mut ldap,
        &robot,
        &[
            ("objectClass", &["applicationProcess"]),
            ("cn", &["robot"]),
            ("principalKind", &["bind"]),
        ],
    )
    .await;
    assert_eq!(res.rc, 0, "{res:?}");
    let before = scim_user("robot").await;
    assert_eq!(before["userName"], "robot", "{before}");

    // A person's attributes: not in the entry's classes.
    for (attr, value) in [
        ("mail", "robot@example.com"),
        ("title", "Robot"),
        ("givenName", "Rob"),
        ("sn", "Robot"),
        ("displayName", "The robot"),
        ("telephoneNumber", "+1 555 0100"),
        ("mobile", "+1 555 0101"),
        ("employeeNumber", "42"),
        ("o", "Example"),
        ("preferredLanguage", "en"),
        ("manager", ADMIN_DN),
        ("uid", "robot"),
    ] {
        for m in [
            Mod::Replace(attr, vals(&[value])),
            Mod::Add(attr, vals(&[value])),
        ] {
            let res = ldap.modify(&robot, vec![m.clone()]).await.unwrap();
            assert_eq!(res.rc, 65, "objectClassViolation: {m:?}: {res:?}");
            assert!(res.text.contains("applicationProcess"), "{res:?}");
        }
    }
    // Refused whole: an allowed change beside it is not made either.
    let res = ldap
        .modify(
            &robot,
            vec![
                Mod::Replace("active", vals(&["FALSE"])),
                Mod::Replace("mail", vals(&["robot@example.com"])),
            ],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 65, "{res:?}");
    // Allowed by applicationProcess, but not stored.
    for attr in ["description", "l", "ou", "seeAlso"] {
        let res = ldap
            .modify(&robot, vec![Mod::Replace(attr, vals(&["cn=x"]))])
            .await
            .unwrap();
        assert_eq!(res.rc, 53, "unwillingToPerform: {attr}: {res:?}");
    }
    // Nothing stored: the record and its version are as they were.
    let after = scim_user("robot").await;
    assert_eq!(after, before);
    assert_eq!(after["meta"]["version"], before["meta"]["version"]);

    // An add carrying a person's attribute creates nothing.
    let droid = format!("cn=droid,ou=services,{BASE}");
    for (extra, code) in [
        (("title", &["Droid"][..]), 65),
        (("mail", &["droid@example.com"][..]), 65),
        (("givenName", &["Dee"][..]), 65),
        (("description", &["a droid"][..]), 53),
    ] {
        let attrs = [
            ("objectClass", &["applicationProcess"][..]),
            ("cn", &["droid"][..]),
            extra,
        ];
        let res = add_entry(&mut ldap, &droid, &attrs).await;
        assert_eq!(res.rc, code, "{extra:?}: {res:?}");
        assert!(read_entry(&mut ldap, &droid, &["cn"]).await.is_none());
        assert!(scim_user("droid").await.is_null(), "{extra:?}");
    }
    // Its cn is its name, as the DN gives it: the record keeps no other.
    let res = add_entry(
        &mut ldap,
        &droid,
        &[
            ("objectClass", &["applicationProcess"]),
            ("cn", &["droid", "android"]),
        ],
    )
    .await;
    assert_eq!(res.rc, 67, "notAllowedOnRDN: {res:?}");
    assert!(scim_user("droid").await.is_null());

    // What the classes allow and the record keeps is written, and shown.
    let res = ldap
        .modify(
            &robot,
            vec![
                Mod::Replace("licenseType", vals(&["partner"])),
                Mod::Replace("active", vals(&["FALSE"])),
                Mod::Replace("cn", vals(&["ROBOT"])),
            ],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    let entry = read_entry(&mut ldap, &robot, &["*"]).await.unwrap();
    let mut shown: Vec<&str> = entry.keys().map(String::as_str).collect();
    shown.sort_unstable();
    assert_eq!(
        shown,
        [
            "active",
            "cn",
            "licenseType",
            "objectClass",
            "principalKind"
        ],
        "{entry:?}"
    );
    assert_eq!(entry["licenseType"], ["partner"]);
    assert_eq!(entry["active"], ["FALSE"]);
    let user = scim_user("robot").await;
    assert_eq!(
        user["urn:rollcall:scim:schemas:extension:2.0:User"]["licenseType"], "partner",
        "{user}"
    );
    assert_eq!(user["active"], false, "{user}");
    // Everything a service entry shows is allowed by its classes.
    let allowed =
        class_attributes(&mut ldap, &["top", "applicationProcess", "rollcallPerson"]).await;
    for attr in &shown {
        assert!(
            allowed.iter().any(|a| a.eq_ignore_ascii_case(attr)),
            "{attr} not in {allowed:?}"
        );
    }
    let res = add_entry(
        &mut ldap,
        &droid,
        &[
            ("objectClass", &["applicationProcess", "rollcallPerson"]),
            ("cn", &["droid"]),
            ("licenseType", &["customer"]),
            ("active", &["TRUE"]),
        ],
    )
    .await;
    assert_eq!(res.rc, 0, "{res:?}");
    let entry = read_entry(&mut ldap, &droid, &["licenseType", "active"])
        .await
        .unwrap();
    assert_eq!(entry["licenseType"], ["customer"]);
    assert_eq!(entry["active"], ["TRUE"]);
    // A bind account's password is written as the subschema allows, and signs it in.
    assert!(allowed.iter().any(|a| a == "userPassword"), "{allowed:?}");
    for change in [
        Mod::Replace("active", vals(&["TRUE"])),
        Mod::Replace("userPassword", vals(&["Robot-Password-2026!"])),
    ] {
        let res = ldap.modify(&robot, vec![change]).await.unwrap();
        assert_eq!(res.rc, 0, "{res:?}");
    }
    let (conn, mut as_robot) = ldap3::LdapConnAsync::new(&format!("ldap://{}", s.ldap))
        .await
        .unwrap();
    ldap3::drive!(conn);
    let res = as_robot
        .simple_bind(&robot, "Robot-Password-2026!")
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");

    // A person takes the same attributes as before.
    let ann = format!("uid=ann,ou=people,{BASE}");
    let res = add_entry(
        &mut ldap,
        &ann,
        &[
            ("objectClass", &["inetOrgPerson"]),
            ("uid", &["ann"]),
            ("sn", &["Archer"]),
            ("title", &["Engineer"]),
            ("mail", &["ann@example.com"]),
        ],
    )
    .await;
    assert_eq!(res.rc, 0, "{res:?}");
    let res = ldap
        .modify(
            &ann,
            vec![
                Mod::Replace("title", vals(&["Architect"])),
                Mod::Add("mail", vals(&["a.archer@example.com"])),
                Mod::Replace("givenName", vals(&["Ann"])),
                Mod::Replace("telephoneNumber", vals(&["+1 555 0102"])),
                Mod::Replace("manager", vals(&[ADMIN_DN])),
            ],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    let entry = read_entry(
        &mut ldap,
        &ann,
        &["title", "mail", "givenName", "telephoneNumber", "manager"],
    )
    .await
    .unwrap();
    assert_eq!(entry["title"], ["Architect"]);
    assert_eq!(entry["mail"], ["a.archer@example.com", "ann@example.com"]);
    assert_eq!(entry["givenName"], ["Ann"]);
    assert_eq!(entry["telephoneNumber"], ["+1 555 0102"]);
    assert_eq!(entry["manager"], [ADMIN_DN]);
    let res = ldap
        .modify(&ann, vec![Mod::Replace("description", vals(&["x"]))])
        .await
        .unwrap();
    assert_eq!(res.rc, 53, "{res:?}");
}

/// A user's entry is in one branch, by its kind: a write to the same name under the other
/// branch names no entry (noSuchObject, matchedDN the branch) and reaches no record, so a
/// person's attributes are never written through a service DN, nor a person renamed,
/// anonymised or given a password there.
#[tokio::test]
async fn a_write_under_the_other_branch_reaches_no_record() {
    let s = start_directory("");
    let mut ldap = admin_connection(s.ldap).await;
    let ann = format!("uid=ann,ou=people,{BASE}");
    let res = add_entry(
        &mut ldap,
        &ann,
        &[
            ("objectClass", &["inetOrgPerson"]),
            ("uid", &["ann"]),
            ("sn", &["Archer"]),
        ],
    )
    .await;
    assert_eq!(res.rc, 0, "{res:?}");
    let before = read_entry(&mut ldap, &ann, &["*", "+"]).await.unwrap();
    let as_service = format!("cn=ann,ou=services,{BASE}");
    let services = format!("ou=services,{BASE}");
    let res = ldap
        .modify(&as_service, vec![Mod::Replace("active", vals(&["FALSE"]))])
        .await
        .unwrap();
    assert_eq!(res.rc, 32, "noSuchObject: {res:?}");
    assert_eq!(res.matched, services, "{res:?}");
    let res = ldap
        .modify(
            &as_service,
            vec![Mod::Replace("userPassword", vals(&["Ann-Pass-12345"]))],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 32, "{res:?}");
    let res = ldap
        .modifydn(&as_service, "cn=anna", true, None)
        .await
        .unwrap();
    assert_eq!(res.rc, 32, "{res:?}");
    let res = ldap.delete(&as_service).await.unwrap();
    assert_eq!(res.rc, 32, "{res:?}");
    let res = ldap
        .extended(ldap3::exop::PasswordModify {
            user_id: Some(&as_service),
            old_pass: None,
            new_pass: Some("Ann-Pass-12345"),
        })
        .await
        .unwrap();
    assert_eq!(res.1.rc, 32, "{res:?}");
    assert_eq!(
        read_entry(&mut ldap, &ann, &["*", "+"]).await.unwrap(),
        before
    );
    // Nor does that DN, as a value, name her.
    let team = format!("cn=Team,ou=roles,{BASE}");
    let res = add_entry(
        &mut ldap,
        &team,
        &[
            ("objectClass", &["groupOfNames"]),
            ("cn", &["Team"]),
            ("member", &[&as_service]),
        ],
    )
    .await;
    assert_eq!(res.rc, 19, "constraintViolation: {res:?}");
    let res = add_entry(
        &mut ldap,
        &team,
        &[
            ("objectClass", &["groupOfNames"]),
            ("cn", &["Team"]),
            ("member", &[&ann]),
        ],
    )
    .await;
    assert_eq!(res.rc, 0, "{res:?}");
    let res = ldap
        .modify(&team, vec![Mod::Delete("member", vals(&[&as_service]))])
        .await
        .unwrap();
    assert_eq!(res.rc, 16, "noSuchAttribute: {res:?}");
    let res = ldap
        .modify(
            ADMIN_DN,
            vec![Mod::Replace("manager", vals(&[&as_service]))],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 19, "constraintViolation: {res:?}");
    let ldap3::SearchResult(found, res) = ldap
        .search(
            &format!("ou=roles,{BASE}"),
            Scope::OneLevel,
            &format!("(member={as_service})"),
            vec!["member"],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    assert!(found.is_empty(), "{found:?}");

    // And a service account is not reached as a person.
    let as_person = format!("uid=provisioning,ou=people,{BASE}");
    let service = format!("cn=provisioning,ou=services,{BASE}");
    let before = read_entry(&mut ldap, &service, &["*", "+"]).await.unwrap();
    let res = ldap
        .modify(&as_person, vec![Mod::Replace("active", vals(&["FALSE"]))])
        .await
        .unwrap();
    assert_eq!(res.rc, 32, "{res:?}");
    let res = ldap.delete(&as_person).await.unwrap();
    assert_eq!(res.rc, 32, "{res:?}");
    assert_eq!(
        read_entry(&mut ldap, &service, &["*", "+"]).await.unwrap(),
        before
    );

    // A manager's DN names the user of its branch only, in the index plan as in the entry: a
    // person managed by the service account is found by the service DN, never by the same
    // name under ou=people.
    let res = ldap
        .modify(&ann, vec![Mod::Replace("manager", vals(&[&service]))])
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    let managed_by = |dn: &str| format!("(manager={dn})");
    for (filter, expected) in [
        (managed_by(&service), vec![ann.clone()]),
        (managed_by(&as_person), vec![]),
        (
            format!("(&(objectClass=*){})", managed_by(&as_person)),
            vec![],
        ),
    ] {
        let ldap3::SearchResult(found, res) = ldap
            .search(BASE, Scope::Subtree, &filter, vec!["1.1"])
            .await
            .unwrap();
        assert_eq!(res.rc, 0, "{filter}: {res:?}");
        let dns: Vec<String> = found
            .into_iter()
            .map(|e| SearchEntry::construct(e).dn)
            .collect();
        assert_eq!(dns, expected, "{filter}");
    }
}

/// A role's `cn` and an account's `o` are their entry's name: an add may say the name again
/// (in any case, as the attribute's equality rule compares), but a second or other value is
/// notAllowedOnRDN and nothing is created, rather than the value being dropped unsaid.
#[tokio::test]
async fn an_add_names_a_role_or_an_account_by_its_dn_only() {
    let s = start_directory("");
    let mut ldap = admin_connection(s.ldap).await;
    let team = format!("cn=Team,ou=roles,{BASE}");
    let acme = format!("o=Acme,ou=accounts,{BASE}");
    type Add<'a> = (&'a str, &'a [(&'a str, &'a [&'a str])]);
    let refused: [Add; 4] = [
        (
            &team,
            &[
                ("objectClass", &["groupOfNames"]),
                ("cn", &["Team", "Crew"]),
            ],
        ),
        (
            &team,
            &[("objectClass", &["groupOfNames"]), ("cn", &["Crew"])],
        ),
        (
            &acme,
            &[
                ("objectClass", &["organization"]),
                ("o", &["Acme", "Acme Ltd"]),
            ],
        ),
        (
            &acme,
            &[("objectClass", &["organization"]), ("o", &["Other"])],
        ),
    ];
    for (dn, attrs) in refused {
        let res = add_entry(&mut ldap, dn, attrs).await;
        assert_eq!(res.rc, 67, "notAllowedOnRDN for {attrs:?}: {res:?}");
        assert!(read_entry(&mut ldap, dn, &["*"]).await.is_none(), "{dn}");
    }
    for (dn, attrs) in [
        (
            &team,
            &[
                ("objectClass", &["groupOfNames"][..]),
                ("cn", &["team"][..]),
            ][..],
        ),
        (
            &acme,
            &[("objectClass", &["organization"][..]), ("o", &["ACME"][..])][..],
        ),
    ] {
        let res = add_entry(&mut ldap, dn, attrs).await;
        assert_eq!(res.rc, 0, "{attrs:?}: {res:?}");
        assert!(read_entry(&mut ldap, dn, &["*"]).await.is_some(), "{dn}");
    }
}

/// `(employeeNumber=…)`, alone or in an `&`, is served by the index of employee numbers: it
/// finds a person as caseIgnoreMatch compares (any case, a run of spaces inside as one), never
/// one deleted (anonymised), and follows a change of the number.
#[tokio::test]
async fn people_are_found_by_employee_number_as_case_ignore_match_compares() {
    let s = start_directory("");
    let mut ldap = admin_connection(s.ldap).await;
    let people = format!("ou=people,{BASE}");
    for (uid, number) in [
        ("ann", "E-100"),
        ("bob", "E 200"),
        ("cy", "E-1000"),
        ("gone", "E-300"),
    ] {
        let res = add_entry(
            &mut ldap,
            &format!("uid={uid},{people}"),
            &[
                ("objectClass", &["inetOrgPerson"]),
                ("uid", &[uid]),
                ("sn", &[uid]),
                ("employeeNumber", &[number]),
            ],
        )
        .await;
        assert_eq!(res.rc, 0, "{res:?}");
    }
    let searcher = ldap.clone();
    let search = |filter: &'static str| {
        let people = people.clone();
        let mut ldap = searcher.clone();
        async move {
            let (entries, _) = ldap
                .search(&people, Scope::OneLevel, filter, vec!["uid"])
                .await
                .unwrap()
                .success()
                .unwrap();
            common::sorted_uids(entries)
        }
    };
    assert_eq!(search("(employeeNumber=e-100)").await, ["ann"]);
    assert_eq!(search("(employeeNumber=E-1000)").await, ["cy"]);
    assert_eq!(search("(employeeNumber= e   200 )").await, ["bob"]);
    assert_eq!(search("(&(employeeNumber=E-100)(uid=ann))").await, ["ann"]);
    assert_eq!(
        search("(&(objectClass=inetOrgPerson)(employeeNumber=E-100))").await,
        ["ann"]
    );
    assert!(search("(&(employeeNumber=E-100)(sn=bob))").await.is_empty());

    let res = ldap.delete(&format!("uid=gone,{people}")).await.unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    assert!(search("(employeeNumber=E-300)").await.is_empty());

    let res = ldap
        .modify(
            &format!("uid=ann,{people}"),
            vec![Mod::Replace("employeeNumber", ["E-101"].into())],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    assert!(search("(employeeNumber=E-100)").await.is_empty());
    assert_eq!(search("(employeeNumber=e-101)").await, ["ann"]);
}

/// A person whose roles give no read on users (no role, or only plain groups: the default)
/// changes its own password with Password Modify naming its own DN, as SSSD and nslcd send it
/// (RFC 3062's userIdentity). A write of its own entry that it may not make is
/// insufficientAccessRights, not noSuchObject: it signed in as that entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ones_own_dn_names_oneself_whatever_ones_roles_let_one_read() {
    let s = start_directory("");
    let mut admin = admin_connection(s.ldap).await;
    let pat = format!("uid=pat,ou=people,{BASE}");
    let res = add_entry(
        &mut admin,
        &pat,
        &[
            ("objectClass", &["inetOrgPerson"]),
            ("uid", &["pat"]),
            ("sn", &["Pat"]),
            ("userPassword", &["Pat-Password-123"]),
            ("active", &["TRUE"]),
        ],
    )
    .await;
    assert_eq!(res.rc, 0, "{res:?}");
    let connect = |password: &'static str| {
        let (addr, pat) = (s.ldap, pat.clone());
        async move {
            let (conn, mut ldap) = LdapConnAsync::new(&format!("ldap://{addr}")).await.unwrap();
            ldap3::drive!(conn);
            let rc = ldap.simple_bind(&pat, password).await.unwrap().rc;
            (ldap, rc)
        }
    };
    let (mut ldap, rc) = connect("Pat-Password-123").await;
    assert_eq!(rc, 0);
    // Its roles let it read nobody, itself included.
    let res = ldap
        .search(&pat, Scope::Base, "(objectClass=*)", vec!["1.1"])
        .await
        .unwrap();
    assert_eq!(res.1.rc, 32, "{res:?}");

    // Writes it may not make: refused as such.
    for changes in [
        vec![Mod::Replace("userPassword", vals(&["Pat-Password-456"]))],
        vec![Mod::Replace("title", vals(&["Boss"]))],
    ] {
        let res = ldap.modify(&pat, changes.clone()).await.unwrap();
        assert_eq!(res.rc, 50, "insufficientAccessRights: {changes:?}: {res:?}");
        assert!(!res.text.contains("not found"), "{res:?}");
    }
    let res = ldap
        .extended(ldap3::exop::PasswordModify {
            user_id: Some(&pat),
            old_pass: None,
            new_pass: Some("Pat-Password-456"),
        })
        .await
        .unwrap();
    assert_eq!(res.1.rc, 50, "without the old password: {res:?}");

    // Its own password, with the old one, naming its own DN (in another spelling too).
    for (dn, old, new) in [
        (pat.clone(), "Pat-Password-123", "Pat-Password-456"),
        (
            format!("UID=Pat, OU=People, {BASE}"),
            "Pat-Password-456",
            "Pat-Password-789",
        ),
    ] {
        let res = ldap
            .extended(ldap3::exop::PasswordModify {
                user_id: Some(&dn),
                old_pass: Some(old),
                new_pass: Some(new),
            })
            .await
            .unwrap();
        assert_eq!(res.1.rc, 0, "{dn}: {res:?}");
    }
    assert_eq!(connect("Pat-Password-123").await.1, 49);
    assert_eq!(connect("Pat-Password-789").await.1, 0);

    // A member is a person or a service account: a DN naming anything else (a group, nothing
    // at all, as Keycloak's placeholder) is a value the attribute cannot take, which is
    // constraintViolation; only what is no DN is invalidAttributeSyntax.
    let crew = format!("cn=Crew,ou=roles,{BASE}");
    let res = add_entry(
        &mut admin,
        &crew,
        &[("objectClass", &["groupOfNames"]), ("cn", &["Crew"])],
    )
    .await;
    assert_eq!(res.rc, 0, "{res:?}");
    for (member, code) in [
        ("cn=empty-membership-placeholder", 19),
        (crew.as_str(), 19),
        ("not a dn", 21),
    ] {
        let res = admin
            .modify(&crew, vec![Mod::Add("member", vals(&[member]))])
            .await
            .unwrap();
        assert_eq!(res.rc, code, "{member}: {res:?}");
    }
}
