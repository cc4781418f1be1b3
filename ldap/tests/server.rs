//! The server against a real LDAP client (`ldap3`) and raw sockets, over a small in-memory
//! directory written here.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ldap3::controls::{MakeCritical, PagedResults, RawControl};
use ldap3::exop::{PasswordModify as PwMod, PasswordModifyResp, WhoAmI, WhoAmIResp};
use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use rollcall_ldap::ldap3_proto::proto::{
    LdapBindCred, LdapBindRequest, LdapDerefAliases, LdapFilter as PFilter, LdapMsg, LdapOp,
    LdapSearchRequest, LdapSearchScope,
};
use rollcall_ldap::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{Decoder, Encoder};
use tokio_util::sync::CancellationToken;

const BASE: &str = "dc=example,dc=com";

#[derive(Clone)]
struct Sess(Option<Dn>);

impl Session for Sess {
    fn dn(&self) -> Option<&Dn> {
        self.0.as_ref()
    }
}

struct Mem {
    entries: Mutex<Vec<Entry>>,
    passwords: Mutex<HashMap<Dn, String>>,
}

fn dn(s: &str) -> Dn {
    Dn::parse(s).expect("dn")
}

impl Mem {
    fn new() -> Mem {
        let mut entries = vec![
            Entry::new(dn(BASE))
                .with("objectClass", ["top", "domain"])
                .with("dc", ["example"]),
            Entry::new(dn("ou=people,dc=example,dc=com"))
                .with("objectClass", ["organizationalUnit"])
                .with("ou", ["people"]),
            Entry::new(dn("ou=roles,dc=example,dc=com"))
                .with("objectClass", ["organizationalUnit"])
                .with("ou", ["roles"]),
            Entry::new(dn(r"uid=a\,b,ou=people,dc=example,dc=com"))
                .with("objectClass", ["inetOrgPerson"])
                .with("uid", ["a,b"])
                .with("cn", ["Comma Person"])
                .with("sn", ["Person"]),
            Entry::new(dn("cn=admins,ou=roles,dc=example,dc=com"))
                .with("objectClass", ["groupOfNames"])
                .with("cn", ["admins"])
                .with("member", ["uid=user00,ou=people,dc=example,dc=com"]),
        ];
        for i in 0..25 {
            let mut e = Entry::new(dn(&format!("uid=user{i:02},ou=people,dc=example,dc=com")))
                .with("objectClass", ["top", "person", "inetOrgPerson"])
                .with("uid", [format!("user{i:02}")])
                .with("cn", [format!("User {i:02}")])
                .with("sn", [format!("Number{i}")])
                .with("mail", [format!("user{i:02}@example.com")])
                .with("employeeNumber", [i.to_string()])
                .with(
                    "entryUUID",
                    [format!("00000000-0000-0000-0000-0000000000{i:02}")],
                )
                .with("createTimestamp", [format!("2024010{}000000Z", i % 9 + 1)]);
            if i == 0 {
                e.add("memberOf", ["cn=admins,ou=roles,dc=example,dc=com"]);
            }
            entries.push(e);
        }
        let mut passwords = HashMap::new();
        passwords.insert(
            dn("uid=user00,ou=people,dc=example,dc=com"),
            "secret".to_string(),
        );
        passwords.insert(
            dn("uid=user01,ou=people,dc=example,dc=com"),
            "pw1".to_string(),
        );
        Mem {
            entries: Mutex::new(entries),
            passwords: Mutex::new(passwords),
        }
    }
}

impl Directory for Mem {
    type Session = Sess;

    fn anonymous(&self, _client: &ClientInfo) -> Sess {
        Sess(None)
    }

    fn bind(&self, dn: &Dn, password: &str, _client: &ClientInfo) -> Result<Sess, LdapError> {
        match self.passwords.lock().expect("lock").get(dn) {
            Some(p) if p == password => Ok(Sess(Some(dn.clone()))),
            _ => Err(LdapError::invalid_credentials()),
        }
    }

    fn search(
        &self,
        _session: &Sess,
        query: &SearchQuery,
        sink: &mut dyn EntrySink,
    ) -> Result<(), LdapError> {
        if query.base.normalized() == "ou=slow,dc=example,dc=com" {
            // A slow scan: one candidate every 20 ms, forever, until the server says stop.
            let mut i = 0u64;
            while !sink.is_stopped() {
                std::thread::sleep(Duration::from_millis(20));
                let e = Entry::new(dn(&format!("cn=s{i},ou=slow,dc=example,dc=com")))
                    .with("cn", [format!("s{i}")]);
                if sink.send(e).is_err() {
                    break;
                }
                i += 1;
            }
            return Ok(());
        }
        let entries = self.entries.lock().expect("lock").clone();
        if !entries.iter().any(|e| *e.dn() == query.base) {
            return Err(LdapError::no_such_object().with_matched(dn(BASE)));
        }
        for (i, e) in entries.into_iter().enumerate() {
            let pos = (i as u32).to_be_bytes().to_vec();
            if query.resume_after.as_ref().is_some_and(|r| pos <= *r) {
                continue;
            }
            if sink.send_at(e, pos).is_err() {
                break;
            }
        }
        Ok(())
    }

    fn add(&self, session: &Sess, request: AddRequest) -> Result<(), LdapError> {
        if session.0.is_none() {
            return Err(LdapError::insufficient_access());
        }
        let mut entries = self.entries.lock().expect("lock");
        if entries.iter().any(|e| *e.dn() == request.dn) {
            return Err(LdapError::new(LdapResultCode::EntryAlreadyExists, "exists"));
        }
        let mut e = Entry::new(request.dn);
        for a in request.attributes {
            e.add(&a.name, a.values);
        }
        entries.push(e);
        Ok(())
    }

    fn delete(&self, session: &Sess, dn: &Dn) -> Result<(), LdapError> {
        if session.0.is_none() {
            return Err(LdapError::insufficient_access());
        }
        let mut entries = self.entries.lock().expect("lock");
        let before = entries.len();
        entries.retain(|e| e.dn() != dn);
        if entries.len() == before {
            return Err(LdapError::no_such_object());
        }
        Ok(())
    }

    fn modify(&self, session: &Sess, request: ModifyRequest) -> Result<(), LdapError> {
        if session.0.is_none() {
            return Err(LdapError::insufficient_access());
        }
        let mut entries = self.entries.lock().expect("lock");
        let e = entries
            .iter_mut()
            .find(|e| *e.dn() == request.dn)
            .ok_or_else(LdapError::no_such_object)?;
        for m in request.changes {
            match m.op {
                ModifyOp::Replace => e.set(&m.attribute.name, m.attribute.values),
                ModifyOp::Add => e.add(&m.attribute.name, m.attribute.values),
                _ => return Err(LdapError::unwilling("only add and replace")),
            }
        }
        Ok(())
    }

    fn password_modify(
        &self,
        session: &Sess,
        request: PasswordModify,
    ) -> Result<PasswordModified<Sess>, LdapError> {
        let Some(me) = &session.0 else {
            return Err(LdapError::insufficient_access());
        };
        let target = request.user.unwrap_or_else(|| me.clone());
        let mut pw = self.passwords.lock().expect("lock");
        if let Some(old) = &request.old_password
            && pw.get(&target) != Some(old)
        {
            return Err(LdapError::invalid_credentials());
        }
        let (new, generated) = match request.new_password {
            Some(n) => (n, None),
            None => (
                "generated-Pw-123".to_string(),
                Some("generated-Pw-123".to_string()),
            ),
        };
        pw.insert(target, new);
        Ok(PasswordModified {
            generated,
            session: None,
        })
    }
}

struct Running {
    addr: SocketAddr,
    ldaps: Option<SocketAddr>,
    shutdown: CancellationToken,
    done: tokio::task::JoinHandle<()>,
    ca_der: Vec<u8>,
}

fn cert() -> (String, String, Vec<u8>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("certificate");
    (
        ck.cert.pem(),
        ck.signing_key.serialize_pem(),
        ck.cert.der().to_vec(),
    )
}

async fn start_with(configure: impl FnOnce(&mut ServerConfig)) -> Running {
    let mut config = ServerConfig::new(RootDse::new(vec![dn(BASE)], "Rollcall", "0.1.0"));
    let (pem, key, ca_der) = cert();
    config.tls = Some(tls::server_config_from_pem(pem.as_bytes(), key.as_bytes()).expect("tls"));
    configure(&mut config);
    let has_tls = config.tls.is_some();
    let server = Server::new(Arc::new(Mem::new()), config);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let (ldaps, ldaps_listener) = if has_tls {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        (Some(l.local_addr().expect("addr")), Some(l))
    } else {
        (None, None)
    };
    let s = shutdown.clone();
    let done = tokio::spawn(async move {
        let plain = server.serve(listener, Transport::Ldap, s.clone());
        match ldaps_listener {
            Some(l) => {
                let (a, b) = tokio::join!(plain, server.serve(l, Transport::Ldaps, s));
                a.expect("ldap");
                b.expect("ldaps");
            }
            None => plain.await.expect("ldap"),
        }
    });
    Running {
        addr,
        ldaps,
        shutdown,
        done,
        ca_der,
    }
}

async fn start() -> Running {
    start_with(|_| {}).await
}

async fn connect(addr: SocketAddr) -> ldap3::Ldap {
    let (conn, ldap) = LdapConnAsync::new(&format!("ldap://{addr}"))
        .await
        .expect("connect");
    ldap3::drive!(conn);
    ldap
}

fn client_tls(ca_der: &[u8]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from(ca_der.to_vec()))
        .expect("root");
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

async fn search_dns(ldap: &mut ldap3::Ldap, base: &str, scope: Scope, filter: &str) -> Vec<String> {
    let (entries, res) = ldap
        .search(base, scope, filter, vec!["1.1"])
        .await
        .expect("search")
        .success()
        .expect("success");
    assert_eq!(res.rc, 0);
    let mut dns: Vec<String> = entries
        .into_iter()
        .map(|e| SearchEntry::construct(e).dn)
        .collect();
    dns.sort();
    dns
}

async fn whoami(ldap: &mut ldap3::Ldap) -> String {
    let (exop, _res) = ldap
        .extended(WhoAmI)
        .await
        .expect("whoami")
        .success()
        .expect("ok");
    exop.parse::<WhoAmIResp>().authzid
}

#[tokio::test]
async fn bind_success_failure_and_whoami() {
    let srv = start().await;
    let mut ldap = connect(srv.addr).await;
    assert_eq!(whoami(&mut ldap).await, "");
    let ok = ldap
        .simple_bind("UID=User00,ou=People,dc=example,dc=com", "secret")
        .await
        .expect("bind");
    assert_eq!(ok.rc, 0);
    assert_eq!(
        whoami(&mut ldap).await,
        "dn:UID=User00,ou=People,dc=example,dc=com"
    );
    let bad = ldap
        .simple_bind("uid=user00,ou=people,dc=example,dc=com", "wrong")
        .await
        .expect("bind");
    assert_eq!(bad.rc, 49);
    // A failed bind leaves the connection anonymous.
    assert_eq!(whoami(&mut ldap).await, "");
    let unknown = ldap
        .simple_bind("uid=nobody,ou=people,dc=example,dc=com", "x")
        .await
        .expect("bind");
    assert_eq!(unknown.rc, 49);
    let unauthenticated = ldap
        .simple_bind("uid=user00,ou=people,dc=example,dc=com", "")
        .await
        .expect("bind");
    assert_eq!(unauthenticated.rc, 53);
    let anonymous = ldap.simple_bind("", "").await.expect("bind");
    assert_eq!(anonymous.rc, 0);
    let bad_dn = ldap.simple_bind("not a dn", "x").await.expect("bind");
    assert_eq!(bad_dn.rc, 34);
    ldap.unbind().await.expect("unbind");
}

#[tokio::test]
async fn search_scopes_and_escaped_dns() {
    let srv = start().await;
    let mut ldap = connect(srv.addr).await;
    let base = search_dns(
        &mut ldap,
        "OU=People,DC=Example,DC=Com",
        Scope::Base,
        "(objectClass=*)",
    )
    .await;
    assert_eq!(base, ["ou=people,dc=example,dc=com"]);
    let one = search_dns(&mut ldap, BASE, Scope::OneLevel, "(objectClass=*)").await;
    assert_eq!(
        one,
        ["ou=people,dc=example,dc=com", "ou=roles,dc=example,dc=com"]
    );
    let sub = search_dns(&mut ldap, BASE, Scope::Subtree, "(objectClass=*)").await;
    assert_eq!(sub.len(), 30);
    let escaped = search_dns(
        &mut ldap,
        r"uid=A\2Cb,ou=people,dc=example,dc=com",
        Scope::Base,
        "(uid=a,b)",
    )
    .await;
    assert_eq!(escaped, [r"uid=a\,b,ou=people,dc=example,dc=com"]);
    let missing = ldap
        .search(
            "ou=nowhere,dc=example,dc=com",
            Scope::Subtree,
            "(objectClass=*)",
            vec!["1.1"],
        )
        .await
        .expect("search");
    assert_eq!(missing.1.rc, 32);
    assert_eq!(missing.1.matched, BASE);
    let bad_base = ldap
        .search("nonsense", Scope::Base, "(objectClass=*)", vec!["1.1"])
        .await
        .expect("search");
    assert_eq!(bad_base.1.rc, 34);
}

#[tokio::test]
async fn search_filters_with_matching_rules() {
    let srv = start().await;
    let ldap = connect(srv.addr).await;
    let people = "ou=people,dc=example,dc=com";
    let count = |v: Vec<String>| v.len();
    let n = |f: &'static str| {
        let mut l = ldap.clone();
        async move { count(search_dns(&mut l, people, Scope::Subtree, f).await) }
    };
    assert_eq!(n("(UID=USER07)").await, 1);
    assert_eq!(n("(cn=user 1*)").await, 10);
    assert_eq!(n("(mail=*@example.com)").await, 25);
    assert_eq!(n("(&(objectClass=person)(!(uid=user0*)))").await, 15);
    assert_eq!(n("(|(uid=user01)(uid=user02)(uid=nobody))").await, 2);
    assert_eq!(
        n("(memberOf=CN=Admins,OU=roles,dc=example,dc=com)").await,
        1
    );
    assert_eq!(n("(createTimestamp>=20240109000000Z)").await, 2);
    assert_eq!(n("(createTimestamp<=20240101235959Z)").await, 3);
    assert_eq!(n("(cn~=user 03)").await, 1);
    assert_eq!(n("(uid:caseExactMatch:=USER03)").await, 0);
    assert_eq!(n("(uid:caseExactMatch:=user03)").await, 1);
    assert_eq!(n("(ou:dn:=people)").await, 27);
    assert_eq!(n("(description=*)").await, 0);
}

#[tokio::test]
async fn attribute_selection() {
    let srv = start().await;
    let ldap = connect(srv.addr).await;
    let get = |attrs: Vec<&'static str>| {
        let mut l = ldap.clone();
        async move {
            let (mut entries, _) = l
                .search(
                    "uid=user00,ou=people,dc=example,dc=com",
                    Scope::Base,
                    "(objectClass=*)",
                    attrs,
                )
                .await
                .expect("search")
                .success()
                .expect("ok");
            let e = SearchEntry::construct(entries.remove(0));
            let mut names: Vec<String> = e.attrs.keys().cloned().collect();
            names.sort();
            names
        }
    };
    assert_eq!(
        get(vec![]).await,
        ["cn", "employeeNumber", "mail", "objectClass", "sn", "uid"]
    );
    assert_eq!(
        get(vec!["+"]).await,
        ["createTimestamp", "entryUUID", "memberOf"]
    );
    assert_eq!(get(vec!["1.1"]).await, Vec::<String>::new());
    assert_eq!(get(vec!["CN", "memberof"]).await, ["cn", "memberOf"]);
    assert_eq!(get(vec!["*", "entryUUID"]).await.len(), 7);
}

#[tokio::test]
async fn size_limits_client_and_server() {
    let srv = start_with(|c| c.limits.size_limit = 20).await;
    let mut ldap = connect(srv.addr).await;
    let opts = ldap3::SearchOptions::new().sizelimit(5);
    let r = ldap
        .with_search_options(opts)
        .search(
            "ou=people,dc=example,dc=com",
            Scope::OneLevel,
            "(uid=user*)",
            vec!["1.1"],
        )
        .await
        .expect("search");
    assert_eq!(r.0.len(), 5);
    assert_eq!(r.1.rc, 4);
    // Exactly as many as the limit: no error.
    let opts = ldap3::SearchOptions::new().sizelimit(25);
    let r = ldap
        .with_search_options(opts)
        .search(
            "ou=people,dc=example,dc=com",
            Scope::OneLevel,
            "(uid=user*)",
            vec!["1.1"],
        )
        .await
        .expect("search");
    // The server's limit (20) wins over the client's (25).
    assert_eq!(r.0.len(), 20);
    assert_eq!(r.1.rc, 4);
    let opts = ldap3::SearchOptions::new().sizelimit(1);
    let r = ldap
        .with_search_options(opts)
        .search(
            "ou=people,dc=example,dc=com",
            Scope::OneLevel,
            "(uid=user07)",
            vec!["1.1"],
        )
        .await
        .expect("search");
    assert_eq!((r.0.len(), r.1.rc), (1, 0));
}

#[tokio::test]
async fn time_limit_stops_a_slow_search() {
    let srv = start().await;
    let mut ldap = connect(srv.addr).await;
    let opts = ldap3::SearchOptions::new().timelimit(1);
    let started = std::time::Instant::now();
    let r = ldap
        .with_search_options(opts)
        .search(
            "ou=slow,dc=example,dc=com",
            Scope::Subtree,
            "(objectClass=*)",
            vec!["1.1"],
        )
        .await
        .expect("search");
    assert_eq!(r.1.rc, 3);
    assert!(!r.0.is_empty());
    assert!(started.elapsed() < Duration::from_secs(5));
}

fn paged_cookie(res: &ldap3::LdapResult) -> Vec<u8> {
    res.ctrls
        .iter()
        .find(|c| c.1.ctype == rollcall_ldap::OID_PAGED_RESULTS)
        .map(|c| c.1.parse::<PagedResults>().cookie)
        .expect("paged control in response")
}

#[tokio::test]
async fn paged_results_across_requests() {
    let srv = start_with(|c| c.limits.size_limit = 12).await;
    let mut ldap = connect(srv.addr).await;
    let mut cookie = Vec::new();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (entries, res) = ldap
            .with_controls(PagedResults {
                size: 10,
                cookie: cookie.clone(),
            })
            .search(
                "ou=people,dc=example,dc=com",
                Scope::OneLevel,
                "(objectClass=person)",
                vec!["uid"],
            )
            .await
            .expect("search")
            .success()
            .expect("ok");
        pages += 1;
        seen.extend(entries.into_iter().map(|e| SearchEntry::construct(e).dn));
        cookie = paged_cookie(&res);
        if cookie.is_empty() {
            break;
        }
        assert!(pages < 10, "paging does not end");
    }
    // The server limit (12) does not cap a paged search, only its pages.
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 25);
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), 25);

    // A used cookie is refused; a page size of 0 abandons the paged search.
    let (_, res) = ldap
        .with_controls(PagedResults {
            size: 5,
            cookie: vec![],
        })
        .search(
            "ou=people,dc=example,dc=com",
            Scope::OneLevel,
            "(objectClass=person)",
            vec!["1.1"],
        )
        .await
        .expect("search")
        .success()
        .expect("ok");
    let first = paged_cookie(&res);
    assert!(!first.is_empty());
    let r = ldap
        .with_controls(PagedResults {
            size: 0,
            cookie: first.clone(),
        })
        .search(
            "ou=people,dc=example,dc=com",
            Scope::OneLevel,
            "(objectClass=person)",
            vec!["1.1"],
        )
        .await
        .expect("search");
    assert_eq!((r.0.len(), r.1.rc), (0, 0));
    let r = ldap
        .with_controls(PagedResults {
            size: 5,
            cookie: first,
        })
        .search(
            "ou=people,dc=example,dc=com",
            Scope::OneLevel,
            "(objectClass=person)",
            vec!["1.1"],
        )
        .await
        .expect("search");
    assert_eq!(r.1.rc, 53);

    // A cookie is only valid for the same search.
    let (_, res) = ldap
        .with_controls(PagedResults {
            size: 5,
            cookie: vec![],
        })
        .search(
            "ou=people,dc=example,dc=com",
            Scope::OneLevel,
            "(objectClass=person)",
            vec!["1.1"],
        )
        .await
        .expect("search")
        .success()
        .expect("ok");
    let c = paged_cookie(&res);
    let r = ldap
        .with_controls(PagedResults { size: 5, cookie: c })
        .search(
            "ou=people,dc=example,dc=com",
            Scope::OneLevel,
            "(uid=*)",
            vec!["1.1"],
        )
        .await
        .expect("search");
    assert_eq!(r.1.rc, 53);
}

/// Paged searches kept on one connection hold their requests, within a byte bound: a client
/// that starts many with large filters loses the oldest (its cookie is then an unknown one,
/// unwillingToPerform), not the server its memory; ordinary paged searches carry on.
#[tokio::test]
async fn paged_searches_with_large_filters_are_kept_within_a_byte_bound() {
    let srv = start_with(|c| {
        c.limits.max_request_size = 64 * 1024;
        c.limits.max_paged_bytes = 64 * 1024;
    })
    .await;
    let mut ldap = connect(srv.addr).await;
    let people = "ou=people,dc=example,dc=com";
    let large = format!(
        "(|(objectClass=person)(description={}))",
        "x".repeat(20_000)
    );
    let page = |filter: String, cookie: Vec<u8>| {
        let mut ldap = ldap.clone();
        async move {
            let ldap3::SearchResult(entries, res) = ldap
                .with_controls(PagedResults { size: 1, cookie })
                .search(people, Scope::OneLevel, &filter, vec!["1.1"])
                .await
                .expect("search");
            let cookie = (res.rc == 0).then(|| paged_cookie(&res));
            (entries.len(), res.rc, cookie)
        }
    };
    let mut cookies = Vec::new();
    for _ in 0..4 {
        let (n, rc, cookie) = page(large.clone(), Vec::new()).await;
        assert_eq!((n, rc), (1, 0));
        cookies.push(cookie.expect("more to come"));
    }
    // Four requests of 20 KB do not fit in 64 KiB: the first was forgotten.
    let (n, rc, _) = page(large.clone(), cookies[0].clone()).await;
    assert_eq!((n, rc), (0, 53), "the oldest cookie is unknown");
    let (n, rc, next) = page(large.clone(), cookies[3].clone()).await;
    assert_eq!((n, rc), (1, 0), "the newest goes on");
    assert!(next.is_some_and(|c| !c.is_empty()));
    // An ordinary paged search runs to its end, page after page.
    let mut cookie = Vec::new();
    let mut seen = 0;
    for _ in 0..40 {
        let (n, rc, next) = page("(objectClass=person)".into(), cookie).await;
        assert_eq!(rc, 0);
        seen += n;
        cookie = next.expect("cookie");
        if cookie.is_empty() {
            break;
        }
    }
    assert_eq!(seen, 25);
    ldap.unbind().await.expect("unbind");
}

#[tokio::test]
async fn critical_controls() {
    let srv = start().await;
    let mut ldap = connect(srv.addr).await;
    let unknown = RawControl {
        ctype: "1.2.3.4.5.6".into(),
        crit: true,
        val: None,
    };
    let r = ldap
        .with_controls(vec![unknown.clone()])
        .search(BASE, Scope::Base, "(objectClass=*)", vec!["1.1"])
        .await
        .expect("search");
    assert_eq!((r.0.len(), r.1.rc), (0, 12));
    let r = ldap
        .with_controls(vec![RawControl {
            crit: false,
            ..unknown
        }])
        .search(BASE, Scope::Base, "(objectClass=*)", vec!["1.1"])
        .await
        .expect("search");
    assert_eq!((r.0.len(), r.1.rc), (1, 0));
    // Paging is supported for searches only.
    let r = ldap
        .with_controls(
            PagedResults {
                size: 5,
                cookie: vec![],
            }
            .critical(),
        )
        .compare("uid=user01,ou=people,dc=example,dc=com", "uid", "user01")
        .await
        .expect("compare");
    assert_eq!(r.0.rc, 12);
}

#[tokio::test]
async fn compare() {
    let srv = start().await;
    let mut ldap = connect(srv.addr).await;
    let who = "uid=user01,ou=people,dc=example,dc=com";
    assert_eq!(ldap.compare(who, "UID", "USER01").await.expect("c").0.rc, 6);
    assert_eq!(ldap.compare(who, "uid", "user02").await.expect("c").0.rc, 5);
    assert_eq!(
        ldap.compare(who, "description", "x").await.expect("c").0.rc,
        16
    );
    // A type the schema does not define: undefinedAttributeType, not noSuchAttribute.
    assert_eq!(
        ldap.compare(who, "noSuchType", "x").await.expect("c").0.rc,
        17
    );
    let r = ldap
        .compare("uid=nobody,ou=people,dc=example,dc=com", "uid", "x")
        .await
        .expect("c");
    assert_eq!(r.0.rc, 32);
    let r = ldap
        .compare(
            "uid=user00,ou=people,dc=example,dc=com",
            "memberOf",
            "CN=ADMINS,ou=roles,dc=example,dc=com",
        )
        .await
        .expect("c");
    assert_eq!(r.0.rc, 6);
}

#[tokio::test]
async fn password_modify_self_and_generated() {
    let srv = start().await;
    let mut ldap = connect(srv.addr).await;
    // Anonymous: refused by the directory.
    let r = ldap
        .extended(PwMod {
            user_id: None,
            old_pass: Some("pw1"),
            new_pass: Some("new-pw"),
        })
        .await
        .expect("exop");
    assert_eq!(r.1.rc, 50);
    let who = "uid=user01,ou=people,dc=example,dc=com";
    assert_eq!(ldap.simple_bind(who, "pw1").await.expect("bind").rc, 0);
    let r = ldap
        .extended(PwMod {
            user_id: None,
            old_pass: Some("pw1"),
            new_pass: Some("new-pw"),
        })
        .await
        .expect("exop");
    assert_eq!(r.1.rc, 0);
    assert_eq!(ldap.simple_bind(who, "new-pw").await.expect("bind").rc, 0);
    let (exop, res) = ldap
        .extended(PwMod {
            user_id: Some(who),
            old_pass: None,
            new_pass: None,
        })
        .await
        .expect("exop")
        .success()
        .expect("ok");
    assert_eq!(res.rc, 0);
    let generated = exop.parse::<PasswordModifyResp>().gen_pass;
    assert_eq!(generated, "generated-Pw-123");
    assert_eq!(ldap.simple_bind(who, &generated).await.expect("bind").rc, 0);
    let r = ldap
        .extended(PwMod {
            user_id: None,
            old_pass: Some("wrong"),
            new_pass: Some("x"),
        })
        .await
        .expect("exop");
    assert_eq!(r.1.rc, 49);
}

#[tokio::test]
async fn writes_reach_the_directory() {
    let srv = start().await;
    let mut ldap = connect(srv.addr).await;
    let new = "uid=new,ou=people,dc=example,dc=com";
    let attrs = vec![("objectClass", ["person"].into()), ("uid", ["new"].into())];
    let r = ldap.add(new, attrs.clone()).await.expect("add");
    assert_eq!(r.rc, 50);
    ldap.simple_bind("uid=user00,ou=people,dc=example,dc=com", "secret")
        .await
        .expect("bind");
    assert_eq!(ldap.add(new, attrs.clone()).await.expect("add").rc, 0);
    assert_eq!(ldap.add(new, attrs).await.expect("add").rc, 68);
    let r = ldap
        .modify(new, vec![ldap3::Mod::Replace("cn", ["New Person"].into())])
        .await
        .expect("modify");
    assert_eq!(r.rc, 0);
    assert_eq!(
        ldap.compare(new, "cn", "new person").await.expect("c").0.rc,
        6
    );
    // Not implemented by this directory: the trait's default answer.
    let r = ldap
        .modifydn(new, "uid=renamed", true, None)
        .await
        .expect("moddn");
    assert_eq!(r.rc, 53);
    let r = ldap
        .modifydn(new, "not an rdn", true, None)
        .await
        .expect("moddn");
    assert_eq!(r.rc, 34);
    assert_eq!(ldap.delete(new).await.expect("delete").rc, 0);
    assert_eq!(ldap.delete(new).await.expect("delete").rc, 32);
}

/// RFC 4523: a certificate has no string form, so it is written with `;binary` (OpenLDAP
/// refuses a write without it, and `;binary` on anything else, as undefinedAttributeType),
/// read back as `userCertificate;binary` whether or not the client asked with the option,
/// found by certificateExactMatch assertions and compared as DER.
#[tokio::test]
async fn certificates_travel_with_the_binary_option() {
    let srv = start().await;
    let mut ldap = connect(srv.addr).await;
    ldap.simple_bind("uid=user00,ou=people,dc=example,dc=com", "secret")
        .await
        .expect("bind");
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec!["cert.example".into()]).expect("params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Test CA");
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x01, 0x00]));
    let der = params
        .self_signed(&key)
        .expect("certificate")
        .der()
        .to_vec();
    let who = "uid=cert,ou=people,dc=example,dc=com";
    let attrs = |certificate: &str| {
        vec![
            (b"objectClass".to_vec(), [b"inetOrgPerson".to_vec()].into()),
            (b"uid".to_vec(), [b"cert".to_vec()].into()),
            (certificate.as_bytes().to_vec(), [der.clone()].into()),
        ]
    };
    for refused in ["userCertificate", "cn;binary"] {
        let r = ldap.add(who, attrs(refused)).await.expect("add");
        assert_eq!(r.rc, 17, "{refused}: {r:?}");
        assert!(r.text.contains("binary transfer"), "{r:?}");
    }
    let r = ldap.add(who, attrs("userCertificate;binary")).await;
    assert_eq!(r.expect("add").rc, 0);
    for asked in ["userCertificate", "userCertificate;binary", "*"] {
        let (entries, _) = ldap
            .search(who, Scope::Base, "(objectClass=*)", vec![asked])
            .await
            .expect("search")
            .success()
            .expect("ok");
        let e = SearchEntry::construct(entries.into_iter().next().expect("entry"));
        assert_eq!(
            e.bin_attrs.get("userCertificate;binary"),
            Some(&vec![der.clone()]),
            "{asked}: {e:?}"
        );
    }
    for (filter, found) in [
        ("(userCertificate;binary=*)", true),
        ("(userCertificate=*)", true),
        (
            r#"(userCertificate={ serialNumber 256, issuer rdnSequence:"CN=test ca" })"#,
            true,
        ),
        (
            r#"(userCertificate:certificateExactMatch:={ serialNumber '0100'H, issuer rdnSequence:"cn=Test CA" })"#,
            true,
        ),
        (
            r#"(userCertificate={ serialNumber 257, issuer rdnSequence:"cn=Test CA" })"#,
            false,
        ),
        ("(userCertificate=not an assertion)", false),
    ] {
        let dns = search_dns(&mut ldap, who, Scope::Base, filter).await;
        assert_eq!(dns.len(), usize::from(found), "{filter}");
    }
    let res = ldap
        .compare(who, "userCertificate;binary", der.clone())
        .await
        .expect("compare")
        .0;
    assert_eq!(res.rc, 6, "{res:?}");
    let res = ldap
        .compare(who, "userCertificate", vec![0x30, 0x00])
        .await
        .expect("compare")
        .0;
    assert_eq!(res.rc, 21, "not a certificate: {res:?}");
}

#[tokio::test]
async fn root_dse_and_subschema() {
    let srv = start().await;
    let mut ldap = connect(srv.addr).await;
    let (mut entries, _) = ldap
        .search("", Scope::Base, "(objectClass=*)", vec!["+"])
        .await
        .expect("search")
        .success()
        .expect("ok");
    let root = SearchEntry::construct(entries.remove(0));
    assert_eq!(root.dn, "");
    assert_eq!(root.attrs["namingContexts"], [BASE]);
    assert_eq!(root.attrs["supportedLDAPVersion"], ["3"]);
    assert!(root.attrs["supportedControl"].contains(&"1.2.840.113556.1.4.319".to_string()));
    let ext = &root.attrs["supportedExtension"];
    for oid in [
        "1.3.6.1.4.1.4203.1.11.3",
        "1.3.6.1.4.1.4203.1.11.1",
        "1.3.6.1.4.1.1466.20037",
    ] {
        assert!(ext.contains(&oid.to_string()), "{oid} missing from {ext:?}");
    }
    assert_eq!(root.attrs["vendorName"], ["Rollcall"]);
    let schema_dn = root.attrs["subschemaSubentry"][0].clone();
    let (mut entries, _) = ldap
        .search(
            &schema_dn,
            Scope::Base,
            "(objectClass=subschema)",
            vec!["attributeTypes", "objectClasses"],
        )
        .await
        .expect("search")
        .success()
        .expect("ok");
    let schema = SearchEntry::construct(entries.remove(0));
    assert!(
        schema.attrs["attributeTypes"]
            .iter()
            .any(|a| a.contains("NAME ( 'uid' 'userid' )"))
    );
    assert!(
        schema.attrs["objectClasses"]
            .iter()
            .any(|a| a.contains("'inetOrgPerson'"))
    );
}

#[tokio::test]
async fn starttls_and_ldaps() {
    let srv = start_with(|c| c.require_tls_for_passwords = true).await;
    let who = "uid=user00,ou=people,dc=example,dc=com";

    // Plain: a password bind is refused, anonymous is fine.
    let mut plain = connect(srv.addr).await;
    assert_eq!(plain.simple_bind(who, "secret").await.expect("bind").rc, 13);
    assert_eq!(plain.simple_bind("", "").await.expect("bind").rc, 0);

    let settings = LdapConnSettings::new()
        .set_config(client_tls(&srv.ca_der))
        .set_starttls(true);
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &format!("ldap://{}", srv.addr))
        .await
        .expect("starttls");
    ldap3::drive!(conn);
    assert_eq!(ldap.simple_bind(who, "secret").await.expect("bind").rc, 0);
    assert_eq!(whoami(&mut ldap).await, format!("dn:{who}"));

    let ldaps = srv.ldaps.expect("ldaps");
    let settings = LdapConnSettings::new().set_config(client_tls(&srv.ca_der));
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &format!("ldaps://{ldaps}"))
        .await
        .expect("ldaps");
    ldap3::drive!(conn);
    assert_eq!(ldap.simple_bind(who, "secret").await.expect("bind").rc, 0);
    let dns = search_dns(&mut ldap, BASE, Scope::Base, "(objectClass=*)").await;
    assert_eq!(dns, [BASE]);
}

#[tokio::test]
async fn starttls_without_certificate_is_refused() {
    let srv = start_with(|c| c.tls = None).await;
    let settings = LdapConnSettings::new()
        .set_starttls(true)
        .set_no_tls_verify(true);
    let r = LdapConnAsync::with_settings(settings, &format!("ldap://{}", srv.addr)).await;
    assert!(r.is_err());
    // The server is still fine.
    let mut ldap = connect(srv.addr).await;
    assert_eq!(whoami(&mut ldap).await, "");
}

// Raw socket tests: requests the client library would never send.

fn encode(msg: LdapMsg) -> Vec<u8> {
    let mut buf = bytes::BytesMut::new();
    ldap3_proto::LdapCodec::default()
        .encode(msg, &mut buf)
        .expect("encode");
    buf.to_vec()
}

use rollcall_ldap::ldap3_proto;

/// A raw client connection that keeps unread bytes between messages.
struct Raw {
    sock: TcpStream,
    buf: bytes::BytesMut,
}

impl Raw {
    async fn connect(addr: SocketAddr) -> Raw {
        Raw {
            sock: TcpStream::connect(addr).await.expect("connect"),
            buf: bytes::BytesMut::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        // The server may already have closed the connection; reading will tell.
        let _ = self.sock.write_all(bytes).await;
    }

    async fn read(&mut self) -> Option<LdapMsg> {
        let mut codec = ldap3_proto::LdapCodec::default();
        loop {
            if let Ok(Some(m)) = codec.decode(&mut self.buf) {
                return Some(m);
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(5), self.sock.read(&mut chunk))
                .await
                .expect("server answers in time")
                .ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn search_req(msgid: i32, filter: PFilter) -> LdapMsg {
    LdapMsg::new(
        msgid,
        LdapOp::SearchRequest(LdapSearchRequest {
            base: BASE.into(),
            scope: LdapSearchScope::Base,
            aliases: LdapDerefAliases::Never,
            sizelimit: 0,
            timelimit: 0,
            typesonly: false,
            filter,
            attrs: vec!["1.1".into()],
        }),
    )
}

#[tokio::test]
async fn non_utf8_filter_gets_protocol_error_and_connection_survives() {
    let srv = start().await;
    let mut sock = Raw::connect(srv.addr).await;
    let mut bad = encode(search_req(5, PFilter::Equality("cn".into(), "zz".into())));
    let pos = bad.windows(2).position(|w| w == b"zz").expect("value");
    bad[pos] = 0xff;
    sock.send(&bad).await;
    let m = sock.read().await.expect("answer");
    assert_eq!(m.msgid, 5);
    match m.op {
        LdapOp::SearchResultDone(r) => assert_eq!(r.code, LdapResultCode::ProtocolError),
        other => panic!("unexpected {other:?}"),
    }
    // The same connection still serves.
    sock.send(&encode(search_req(
        6,
        PFilter::Present("objectClass".into()),
    )))
    .await;
    let m = sock.read().await.expect("entry");
    assert!(matches!(m.op, LdapOp::SearchResultEntry(_)));
    let m = sock.read().await.expect("done");
    assert!(matches!(m.op, LdapOp::SearchResultDone(ref r) if r.code == LdapResultCode::Success));
    // A bind with an unsupported version is also answered, not dropped.
    let mut bind = encode(LdapMsg::new(
        7,
        LdapOp::BindRequest(LdapBindRequest {
            version: 3,
            dn: String::new(),
            cred: LdapBindCred::Simple(String::new()),
        }),
    ));
    let pos = bind
        .windows(3)
        .position(|w| w == [0x02, 0x01, 0x03])
        .expect("version");
    bind[pos + 2] = 2;
    sock.send(&bind).await;
    let m = sock.read().await.expect("answer");
    assert!(
        matches!(m.op, LdapOp::BindResponse(ref r) if r.res.code == LdapResultCode::ProtocolError),
        "{m:?}"
    );
    // A negative size limit is not read as 255 (RFC 4511: INTEGER (0 .. maxInt)), nor an empty
    // substring filter as "anything".
    let mut negative = search_req(8, PFilter::Present("objectClass".into()));
    if let LdapOp::SearchRequest(ref mut r) = negative.op {
        r.sizelimit = -1;
    }
    let empty = search_req(
        9,
        PFilter::Substring(
            "cn".into(),
            ldap3_proto::proto::LdapSubstringFilter::default(),
        ),
    );
    for (msgid, request) in [(8, negative), (9, empty)] {
        sock.send(&encode(request)).await;
        let m = sock.read().await.expect("answer");
        assert_eq!(m.msgid, msgid);
        assert!(
            matches!(m.op, LdapOp::SearchResultDone(ref r) if r.code == LdapResultCode::ProtocolError),
            "{m:?}"
        );
    }
    sock.send(&encode(search_req(
        10,
        PFilter::Present("objectClass".into()),
    )))
    .await;
    let m = sock.read().await.expect("entry");
    assert!(matches!(m.op, LdapOp::SearchResultEntry(_)), "{m:?}");
}

/// A filter nested deeper than the decoder goes is a request the server refuses with
/// protocolError, on a connection that stays usable, not a broken stream.
#[tokio::test]
async fn a_filter_nested_too_deep_gets_protocol_error_and_the_connection_survives() {
    let srv = start().await;
    let mut sock = Raw::connect(srv.addr).await;
    let mut filter = PFilter::Equality("cn".into(), "x".into());
    for i in 0..80 {
        filter = match i % 3 {
            0 => PFilter::Not(Box::new(filter)),
            1 => PFilter::And(vec![filter]),
            _ => PFilter::Or(vec![filter]),
        };
    }
    sock.send(&encode(search_req(5, filter))).await;
    let m = sock.read().await.expect("answer");
    assert_eq!(m.msgid, 5);
    assert!(
        matches!(m.op, LdapOp::SearchResultDone(ref r) if r.code == LdapResultCode::ProtocolError),
        "{m:?}"
    );
    sock.send(&encode(search_req(
        6,
        PFilter::Present("objectClass".into()),
    )))
    .await;
    let m = sock.read().await.expect("entry");
    assert_eq!(m.msgid, 6);
    assert!(matches!(m.op, LdapOp::SearchResultEntry(_)), "{m:?}");
}

#[tokio::test]
async fn garbage_gets_notice_of_disconnection() {
    let srv = start().await;
    let mut sock = Raw::connect(srv.addr).await;
    sock.send(b"\x04\x05hello garbage").await;
    let m = sock.read().await.expect("notice");
    assert_eq!(m.msgid, 0);
    match m.op {
        LdapOp::ExtendedResponse(r) => {
            assert_eq!(r.res.code, LdapResultCode::ProtocolError);
            assert_eq!(r.name.as_deref(), Some("1.3.6.1.4.1.1466.20036"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(sock.read().await.is_none(), "connection must be closed");
    // Random bytes on other connections do not take the server down.
    for seed in 0u32..20 {
        let mut s = Raw::connect(srv.addr).await;
        let bytes: Vec<u8> = (0..64u32)
            .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed * 97) >> 7) as u8)
            .collect();
        s.send(&[0x30, 0x3e]).await;
        s.send(&bytes[..62]).await;
        let _ = tokio::time::timeout(Duration::from_millis(200), s.read()).await;
    }
    let mut ldap = connect(srv.addr).await;
    assert_eq!(whoami(&mut ldap).await, "");
}

#[tokio::test]
async fn oversized_request_closes_the_connection() {
    let srv = start_with(|c| c.limits.max_request_size = 1024).await;
    let mut sock = Raw::connect(srv.addr).await;
    let big = encode(search_req(
        1,
        PFilter::Equality("cn".into(), "x".repeat(4096)),
    ));
    sock.send(&big).await;
    let m = sock.read().await.expect("notice");
    assert!(
        matches!(m.op, LdapOp::ExtendedResponse(ref r) if r.res.code == LdapResultCode::ProtocolError)
    );
    assert!(sock.read().await.is_none());
}

#[tokio::test]
async fn abandon_stops_a_search() {
    let srv = start().await;
    let mut sock = Raw::connect(srv.addr).await;
    let mut req = search_req(3, PFilter::Present("objectClass".into()));
    if let LdapOp::SearchRequest(r) = &mut req.op {
        r.base = "ou=slow,dc=example,dc=com".into();
        r.scope = LdapSearchScope::Subtree;
    }
    sock.send(&encode(req)).await;
    let first = sock.read().await.expect("entry");
    assert!(matches!(first.op, LdapOp::SearchResultEntry(_)));
    sock.send(&encode(LdapMsg::new(4, LdapOp::AbandonRequest(3))))
        .await;
    // Drain what was in flight, then the connection goes quiet for that search and still
    // answers new requests.
    tokio::time::sleep(Duration::from_millis(200)).await;
    sock.send(&encode(search_req(
        9,
        PFilter::Present("objectClass".into()),
    )))
    .await;
    loop {
        let m = sock.read().await.expect("message");
        assert_ne!(
            (m.msgid, matches!(m.op, LdapOp::SearchResultDone(_))),
            (3, true),
            "an abandoned search gets no result"
        );
        if m.msgid == 9 && matches!(m.op, LdapOp::SearchResultDone(_)) {
            break;
        }
    }
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_work() {
    let srv = start().await;
    let mut ldap = connect(srv.addr).await;
    assert_eq!(whoami(&mut ldap).await, "");
    let opts = ldap3::SearchOptions::new().timelimit(1);
    let mut searching = ldap.clone();
    let search = tokio::spawn(async move {
        searching
            .with_search_options(opts)
            .search(
                "ou=slow,dc=example,dc=com",
                Scope::Subtree,
                "(objectClass=*)",
                vec!["1.1"],
            )
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    srv.shutdown.cancel();
    // The search in flight still completes with its own result.
    let r = search.await.expect("join").expect("search");
    assert_eq!(r.1.rc, 3);
    tokio::time::timeout(Duration::from_secs(5), srv.done)
        .await
        .expect("server stops")
        .expect("server task");
    assert!(TcpStream::connect(srv.addr).await.is_err());
}

/// WhoAmI and StartTLS carry no request value (RFC 4532 §2, RFC 4511 §4.14.1); an Unbind's
/// controls are ignored, criticality included (RFC 4511 §4.1.11), so it still ends the
/// connection.
#[tokio::test]
async fn extended_operations_without_values_and_unbind_with_controls() {
    let srv = start().await;
    let mut sock = Raw::connect(srv.addr).await;
    for (msgid, oid) in [
        (3, "1.3.6.1.4.1.4203.1.11.3"),
        (4, "1.3.6.1.4.1.1466.20037"),
    ] {
        sock.send(&encode(LdapMsg::new(
            msgid,
            LdapOp::ExtendedRequest(ldap3_proto::proto::LdapExtendedRequest {
                name: oid.into(),
                value: Some(vec![0x04, 0x00]),
            }),
        )))
        .await;
        let m = sock.read().await.expect("answer");
        assert_eq!(m.msgid, msgid);
        assert!(
            matches!(m.op, LdapOp::ExtendedResponse(ref r) if r.res.code == LdapResultCode::ProtocolError),
            "{m:?}"
        );
    }
    // Unbind (APPLICATION 2, NULL) with a critical control 1.2.3 the server does not know.
    let control = [
        0x30, 0x0a, 0x04, 0x05, b'1', b'.', b'2', b'.', b'3', 0x01, 0x01, 0xff,
    ];
    let mut unbind = vec![0x30, 0x13, 0x02, 0x01, 0x05, 0x42, 0x00, 0xa0, 0x0c];
    unbind.extend_from_slice(&control);
    sock.send(&unbind).await;
    assert!(sock.read().await.is_none(), "the connection ends");
}

// Requests whose BER or shape is not RFC 4511's: refused whole with protocolError on a
// connection that goes on serving, never read as something else.

/// A BER element with a definite length.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let n = content.len();
    let mut v = vec![tag];
    match n {
        0..0x80 => v.push(n as u8),
        0x80..0x100 => v.extend([0x81, n as u8]),
        _ => v.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    v.extend_from_slice(content);
    v
}

fn octets(s: &str) -> Vec<u8> {
    tlv(0x04, s.as_bytes())
}

/// An LDAPMessage from its parts after the message id (the operation, controls, whatever).
fn message(msgid: u8, parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &[&[0x02, 0x01, msgid][..], &parts.concat()].concat())
}

/// A ModifyRequest's change: `replace` (2) of `attr` with `value`.
fn replace(attr: &str, value: &str) -> Vec<u8> {
    let modification = tlv(0x30, &[octets(attr), tlv(0x31, &octets(value))].concat());
    tlv(0x30, &[&[0x0a, 0x01, 0x02][..], &modification].concat())
}

fn modify_op(dn: &str, changes: &[u8]) -> Vec<u8> {
    tlv(0x66, &[octets(dn), changes.to_vec()].concat())
}

/// A base search of `base` for `attrs`, with `filter`'s bytes.
fn search_op(base: &str, filter: &[u8], attrs: &[&str]) -> Vec<u8> {
    let attrs: Vec<u8> = attrs.iter().flat_map(|a| octets(a)).collect();
    let fixed = [
        0x0a, 0x01, 0x00, 0x0a, 0x01, 0x00, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x01, 0x01, 0x00,
    ];
    tlv(
        0x63,
        &[
            octets(base),
            fixed.to_vec(),
            filter.to_vec(),
            tlv(0x30, &attrs),
        ]
        .concat(),
    )
}

fn present(attr: &str) -> Vec<u8> {
    tlv(0x87, attr.as_bytes())
}

/// The message id of a message [`message`] built: one octet, after the outer header.
fn msgid_of(message: &[u8]) -> i32 {
    let header = match message[1] {
        0..0x80 => 2,
        long => 2 + usize::from(long & 0x7f),
    };
    i32::from(message[header + 2])
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

const USER00: &str = "uid=user00,ou=people,dc=example,dc=com";
const USER01: &str = "uid=user01,ou=people,dc=example,dc=com";
const USER02: &str = "uid=user02,ou=people,dc=example,dc=com";

impl Raw {
    /// A connection bound as `dn` at message id 1.
    async fn bound(addr: SocketAddr, dn: &str, password: &str) -> Raw {
        let mut sock = Raw::connect(addr).await;
        sock.send(&encode(LdapMsg::new(
            1,
            LdapOp::BindRequest(LdapBindRequest {
                version: 3,
                dn: dn.into(),
                cred: LdapBindCred::Simple(password.into()),
            }),
        )))
        .await;
        let m = sock.read().await.expect("bind answer");
        assert!(
            matches!(m.op, LdapOp::BindResponse(ref r) if r.res.code == LdapResultCode::Success),
            "{m:?}"
        );
        sock
    }

    /// The result code of the answer to `msgid`, skipping search entries.
    async fn result_of(&mut self, msgid: i32) -> LdapResultCode {
        loop {
            let m = self.read().await.expect("answer");
            assert_eq!(m.msgid, msgid, "{m:?}");
            return match m.op {
                LdapOp::SearchResultEntry(_) => continue,
                LdapOp::BindResponse(r) => r.res.code,
                LdapOp::ExtendedResponse(r) => r.res.code,
                LdapOp::SearchResultDone(r)
                | LdapOp::ModifyResponse(r)
                | LdapOp::AddResponse(r)
                | LdapOp::CompareResult(r)
                | LdapOp::DelResponse(r)
                | LdapOp::ModifyDNResponse(r) => r.code,
                other => panic!("unexpected {other:?}"),
            };
        }
    }

    /// The values of `attr` on the entry at `dn`, read on this connection at `msgid`.
    async fn values(&mut self, msgid: u8, dn: &str, attr: &str) -> Vec<String> {
        self.send(&message(
            msgid,
            &[&search_op(dn, &present("objectClass"), &[attr])],
        ))
        .await;
        let mut values = Vec::new();
        loop {
            let m = self.read().await.expect("answer");
            match m.op {
                LdapOp::SearchResultEntry(e) => values.extend(
                    e.attributes
                        .into_iter()
                        .filter(|a| a.atype.eq_ignore_ascii_case(attr))
                        .flat_map(|a| a.vals)
                        .map(|v| String::from_utf8(v).expect("utf-8")),
                ),
                LdapOp::SearchResultDone(r) => {
                    assert_eq!(r.code, LdapResultCode::Success, "{r:?}");
                    return values;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn an_indefinite_length_anywhere_is_a_protocol_error_and_the_connection_stays_usable() {
    let srv = start().await;
    let mut sock = Raw::bound(srv.addr, USER00, "secret").await;
    let indefinite = |tag: u8, content: &[u8]| [&[tag, 0x80][..], content, &[0, 0]].concat();
    let change = replace("title", "Indefinite");
    let whoami = octets("1.3.6.1.4.1.4203.1.11.3");
    let requests: Vec<(&str, Vec<u8>)> = vec![
        // The fuzzer's: a modify whose changes are an indefinite-length SEQUENCE.
        (
            "modify changes",
            message(2, &[&modify_op(USER02, &indefinite(0x30, &change))]),
        ),
        // One change of a definite list, itself indefinite.
        (
            "modify change",
            message(
                3,
                &[&modify_op(
                    USER02,
                    &tlv(0x30, &indefinite(0x30, &change[2..])),
                )],
            ),
        ),
        // An add whose attributes are indefinite.
        (
            "add attributes",
            message(
                4,
                &[&tlv(
                    0x68,
                    &[
                        octets("uid=new,ou=people,dc=example,dc=com"),
                        indefinite(
                            0x30,
                            &tlv(0x30, &[octets("uid"), tlv(0x31, &octets("new"))].concat()),
                        ),
                    ]
                    .concat(),
                )],
            ),
        ),
        // A search whose filter is an indefinite-length AND.
        (
            "search filter",
            message(
                5,
                &[&search_op(
                    BASE,
                    &indefinite(0xa0, &present("cn")),
                    &["1.1"],
                )],
            ),
        ),
        // A compare whose assertion is indefinite.
        (
            "compare assertion",
            message(
                6,
                &[&tlv(
                    0x6e,
                    &[
                        octets(USER02),
                        indefinite(0x30, &[octets("cn"), octets("User 02")].concat()),
                    ]
                    .concat(),
                )],
            ),
        ),
        // The operation itself: a WhoAmI extended request of indefinite length.
        (
            "extended operation",
            message(7, &[&indefinite(0x77, &tlv(0x80, &whoami[2..]))]),
        ),
        // Controls of indefinite length on a search.
        (
            "controls",
            message(
                8,
                &[
                    &search_op(BASE, &present("objectClass"), &["1.1"]),
                    &indefinite(0xa0, &tlv(0x30, &octets("1.2.3.4"))),
                ],
            ),
        ),
        // An element longer than its parent: the modify's change runs past the changes.
        (
            "element past its parent",
            message(
                9,
                &[&modify_op(
                    USER02,
                    &[&[0x30, change.len() as u8 - 1][..], &change].concat(),
                )],
            ),
        ),
    ];
    for (what, request) in requests {
        let msgid = msgid_of(&request);
        sock.send(&request).await;
        assert_eq!(
            sock.result_of(msgid).await,
            LdapResultCode::ProtocolError,
            "{what}"
        );
    }
    // Nothing was written, and the connection still serves.
    assert!(sock.values(20, USER02, "title").await.is_empty());
    let new = search_op("uid=new,ou=people,dc=example,dc=com", &present("uid"), &[]);
    sock.send(&message(21, &[&new])).await;
    assert_eq!(sock.result_of(21).await, LdapResultCode::NoSuchObject);
}

#[tokio::test]
async fn a_broken_envelope_still_ends_the_connection() {
    let srv = start().await;
    // The message itself of indefinite length: there is no request to answer.
    let mut sock = Raw::bound(srv.addr, USER00, "secret").await;
    let search = search_op(BASE, &present("objectClass"), &["1.1"]);
    sock.send(&[&[0x30, 0x80, 0x02, 0x01, 0x02][..], &search, &[0, 0]].concat())
        .await;
    let m = sock.read().await.expect("notice");
    assert_eq!(m.msgid, 0);
    assert!(
        matches!(m.op, LdapOp::ExtendedResponse(ref r) if r.res.code == LdapResultCode::ProtocolError),
        "{m:?}"
    );
    assert!(sock.read().await.is_none(), "connection must be closed");
    // A message id of indefinite length.
    let mut sock = Raw::bound(srv.addr, USER00, "secret").await;
    sock.send(&tlv(
        0x30,
        &[&[0x02, 0x80, 0x02, 0x00, 0x00][..], &search].concat(),
    ))
    .await;
    let m = sock.read().await.expect("notice");
    assert_eq!(m.msgid, 0, "{m:?}");
    assert!(sock.read().await.is_none(), "connection must be closed");
}

/// RFC 3062's value read strictly: what does not parse exactly is refused and changes no
/// password, neither the named user's nor (as an empty value would ask) the caller's.
#[tokio::test]
async fn a_malformed_password_modify_value_is_a_protocol_error_and_changes_nothing() {
    let srv = start().await;
    let mut sock = Raw::bound(srv.addr, USER00, "secret").await;
    let oid = tlv(0x80, b"1.3.6.1.4.1.4203.1.11.1");
    let fields = [tlv(0x80, USER01.as_bytes()), tlv(0x82, b"Target-Passw0rd!")].concat();
    let extended = |msgid: u8, value: &[u8]| {
        message(
            msgid,
            &[&tlv(0x77, &[oid.clone(), value.to_vec()].concat())],
        )
    };
    let requests = [
        // The fuzzer's, as sent: userIdentity and newPasswd in an indefinite-length SEQUENCE.
        hex(concat!(
            "3062020102775d8017312e332e362e312e342e312e343230332e312e31312e3181423080",
            "80277569643d757365723038362c6f753d70656f706c652c64633d6578616d706c652c64",
            "633d636f6d82135461726765742d50617373773072642d3836210000"
        )),
        hex("3022020103771d8017312e332e362e312e342e312e343230332e312e31312e3181023080"),
        extended(4, &tlv(0x81, &[0x30, 0x80, 0x00])),
        extended(
            5,
            &tlv(0x81, &[&[0x30, 0x80][..], &fields, &[0, 0]].concat()),
        ),
        // Trailing octets after the SEQUENCE, a field out of order, an unknown field.
        extended(6, &tlv(0x81, &[tlv(0x30, &fields), vec![0x00]].concat())),
        extended(
            7,
            &tlv(
                0x81,
                &tlv(
                    0x30,
                    &[tlv(0x82, b"Target-Passw0rd!"), tlv(0x80, USER01.as_bytes())].concat(),
                ),
            ),
        ),
        extended(8, &tlv(0x81, &tlv(0x30, &tlv(0x83, b"x")))),
        // The value in the constructed form, which the library read as no value at all.
        extended(9, &tlv(0xa1, &tlv(0x30, &fields))),
    ];
    for request in requests {
        let msgid = msgid_of(&request);
        sock.send(&request).await;
        assert_eq!(
            sock.result_of(msgid).await,
            LdapResultCode::ProtocolError,
            "{request:02x?}"
        );
    }
    // Both passwords are what they were.
    Raw::bound(srv.addr, USER00, "secret").await;
    Raw::bound(srv.addr, USER01, "pw1").await;
    // And a well-formed request on the same connection does what it says.
    sock.send(&extended(10, &tlv(0x81, &tlv(0x30, &fields))))
        .await;
    assert_eq!(sock.result_of(10).await, LdapResultCode::Success);
    Raw::bound(srv.addr, USER01, "Target-Passw0rd!").await;
    Raw::bound(srv.addr, USER00, "secret").await;
}

/// A component a SEQUENCE already has, given again or out of place, is no extension (RFC 4511
/// §4): the request is refused rather than read as its first part.
#[tokio::test]
async fn repeated_or_misplaced_components_are_a_protocol_error_and_change_nothing() {
    let srv = start().await;
    let mut sock = Raw::bound(srv.addr, USER00, "secret").await;
    let change = replace("title", "Sibling");
    let requests = [
        // The fuzzer's: an empty list of changes, then the change as a sibling of the list.
        message(
            2,
            &[&modify_op(
                USER02,
                &[tlv(0x30, &[]), tlv(0x30, &change)].concat(),
            )],
        ),
        // A change whose operation comes again after its modification.
        message(
            3,
            &[&modify_op(
                USER02,
                &tlv(
                    0x30,
                    &tlv(0x30, &[&change[2..], &[0x0a, 0x01, 0x00]].concat()),
                ),
            )],
        ),
        // An equality filter with three elements.
        message(
            4,
            &[&search_op(
                BASE,
                &tlv(0xa3, &[octets("cn"), octets("x"), octets("y")].concat()),
                &["1.1"],
            )],
        ),
        // A compare whose assertion has a second value.
        message(
            5,
            &[&tlv(
                0x6e,
                &[
                    octets(USER02),
                    tlv(
                        0x30,
                        &[octets("cn"), octets("User 02"), octets("x")].concat(),
                    ),
                ]
                .concat(),
            )],
        ),
        // A modify DN whose newSuperior is constructed (read as absent by the library).
        message(
            6,
            &[&tlv(
                0x6c,
                &[
                    octets(USER02),
                    octets("uid=moved"),
                    vec![0x01, 0x01, 0xff],
                    tlv(0xa0, &octets("ou=roles,dc=example,dc=com")),
                ]
                .concat(),
            )],
        ),
        // Two operations in one message.
        message(
            7,
            &[
                &search_op(BASE, &present("objectClass"), &["1.1"]),
                &search_op(BASE, &present("cn"), &["1.1"]),
            ],
        ),
    ];
    for request in requests {
        let msgid = msgid_of(&request);
        sock.send(&request).await;
        assert_eq!(
            sock.result_of(msgid).await,
            LdapResultCode::ProtocolError,
            "{request:02x?}"
        );
    }
    assert!(sock.values(20, USER02, "title").await.is_empty());
}

/// RFC 4511 §4: "clients and servers MUST (unless otherwise specified) ignore trailing SEQUENCE
/// components whose tags they do not recognize". A request that carries a later version's
/// extension is served as if it were not there.
#[tokio::test]
async fn unknown_trailing_components_are_ignored() {
    let srv = start().await;
    let mut sock = Raw::bound(srv.addr, USER00, "secret").await;
    let search = search_op(USER02, &present("objectClass"), &["1.1"]);
    // After the message's controls, and after the message's operation when it has none.
    let control = tlv(0x30, &octets("1.2.3.4"));
    sock.send(&message(
        2,
        &[&search, &tlv(0xa0, &control), &tlv(0x87, b"x")],
    ))
    .await;
    assert_eq!(sock.result_of(2).await, LdapResultCode::Success);
    sock.send(&message(3, &[&search, &tlv(0xa5, &octets("x"))]))
        .await;
    assert_eq!(sock.result_of(3).await, LdapResultCode::Success);
    // After a control's value.
    let control = tlv(
        0x30,
        &[
            octets("1.2.3.4"),
            vec![0x01, 0x01, 0x00],
            octets("value"),
            tlv(0x85, b"x"),
        ]
        .concat(),
    );
    sock.send(&message(4, &[&search, &tlv(0xa0, &control)]))
        .await;
    assert_eq!(sock.result_of(4).await, LdapResultCode::Success);
    // After a change's modification: the fuzzer's OCTET STRING "junk" is of no tag a change
    // has, so the change is made.
    let change = replace("title", "Extended");
    let change = tlv(0x30, &[&change[2..], &octets("junk")[..]].concat());
    sock.send(&message(5, &[&modify_op(USER02, &tlv(0x30, &change))]))
        .await;
    assert_eq!(sock.result_of(5).await, LdapResultCode::Success);
    assert_eq!(sock.values(6, USER02, "title").await, ["Extended"]);
}
