//! Outbox delivery end to end: the real binary mails to a fake SMTP relay written here (plain
//! SMTP on loopback), driven through SCIM and LDAP like an IdP and an admin would.

mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ADMIN_DN, ADMIN_PASSWORD, BIN, Server, free_addr, wait_timeout};
use ldap3::Mod;
use reqwest::{Client, StatusCode};
use rollcall::model::LicenseLimits;
use rollcall::outbox::{MessageKind, OutboxMessage};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

const TOKEN: &str = "rc_test_provisioning_token_0123456789";
const FROM: &str = "directory@example.com";

/// One message as the relay received it.
#[derive(Clone, Debug)]
struct Mail {
    from: String,
    to: Vec<String>,
    /// Headers and body as sent (CRLF, transfer-encoded), dot-unstuffed.
    data: String,
    /// Whether the message came after a STARTTLS handshake.
    tls: bool,
}

impl Mail {
    fn split(&self) -> (&str, &str) {
        self.data.split_once("\r\n\r\n").unwrap_or((&self.data, ""))
    }

    /// A header's value, with folded lines joined.
    fn header(&self, name: &str) -> Option<String> {
        let (headers, _) = self.split();
        let unfolded = headers.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.split("\r\n").find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    }

    /// The body with its transfer encoding undone and LF line ends.
    fn body(&self) -> String {
        let (_, body) = self.split();
        let decoded = match self
            .header("Content-Transfer-Encoding")
            .map(|e| e.to_ascii_lowercase())
            .as_deref()
        {
            Some("quoted-printable") => quoted_printable(body),
            Some("base64") => {
                use base64::Engine;
                let compact: String = body.split_whitespace().collect();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .expect("base64 body");
                String::from_utf8(bytes).expect("UTF-8 body")
            }
            _ => body.to_string(),
        };
        decoded.replace("\r\n", "\n")
    }
}

fn quoted_printable(text: &str) -> String {
    let text = text.replace("=\r\n", "");
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], escaped) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("UTF-8 body")
}

/// A relay that accepts everything and reports each message on a channel.
struct FakeSmtp {
    addr: SocketAddr,
    mails: mpsc::UnboundedReceiver<Mail>,
}

impl FakeSmtp {
    async fn start() -> FakeSmtp {
        Self::on(TcpListener::bind("127.0.0.1:0").await.unwrap(), None)
    }

    async fn start_at(addr: SocketAddr) -> FakeSmtp {
        let listener = TcpListener::bind(addr)
            .await
            .expect("rebind the relay port");
        Self::on(listener, None)
    }

    /// Offers STARTTLS with the test certificate (signed by `certs/test-ca.pem`).
    async fn start_with_starttls() -> FakeSmtp {
        let config = rollcall::tls::Certificates::load(
            &common::cert_path("server.pem"),
            &common::cert_path("server.key"),
        )
        .and_then(|certificates| certificates.server_config())
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::on(listener, Some(TlsAcceptor::from(config)))
    }

    fn on(listener: TcpListener, tls: Option<TlsAcceptor>) -> FakeSmtp {
        let addr = listener.local_addr().unwrap();
        let (tx, mails) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (tx, tls) = (tx.clone(), tls.clone());
                tokio::spawn(async move {
                    let _ = session(stream, tls, tx).await;
                });
            }
        });
        FakeSmtp { addr, mails }
    }

    /// The next message, or a panic at `deadline`.
    async fn next(&mut self, within: Duration) -> Mail {
        tokio::time::timeout(within, self.mails.recv())
            .await
            .unwrap_or_else(|_| panic!("no mail arrived within {within:?}"))
            .expect("relay running")
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Enough RFC 5321 for a client: greeting, EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT, and
/// STARTTLS (RFC 3207) when given an acceptor. Recipients `unknown.*` and `policy.*` are refused.
async fn session(
    stream: tokio::net::TcpStream,
    tls: Option<TlsAcceptor>,
    tx: mpsc::UnboundedSender<Mail>,
) -> std::io::Result<()> {
    let mut conn = BufReader::new(Box::new(stream) as Box<dyn Io>);
    conn.get_mut()
        .write_all(b"220 fake.test ESMTP ready\r\n")
        .await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut secured = false;
    let mut line = String::new();
    loop {
        line.clear();
        if conn.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" if tls.is_some() && !secured => {
                b"250-fake.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
            }
            "EHLO" => b"250-fake.test\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n",
            "HELO" => b"250 fake.test\r\n",
            "STARTTLS" if tls.is_some() && !secured => {
                conn.get_mut().write_all(b"220 go ahead\r\n").await?;
                assert!(
                    conn.buffer().is_empty(),
                    "nothing pipelined before the handshake"
                );
                let plain = conn.into_inner();
                let acceptor = tls.clone().unwrap();
                conn = BufReader::new(Box::new(acceptor.accept(plain).await?) as Box<dyn Io>);
                secured = true;
                from.clear();
                to.clear();
                continue;
            }
            "MAIL" => {
                from = angle_address(&command);
                to.clear();
                b"250 OK\r\n"
            }
            // Refusals as relays word them: with an enhanced code about the mailbox (final),
            // and a bare one that could as well be about the sender (retried).
            "RCPT" if angle_address(&command).starts_with("unknown.") => {
                b"550 5.1.1 Recipient address rejected: User unknown in local recipient table\r\n"
            }
            "RCPT" if angle_address(&command).starts_with("policy.") => {
                b"550 Requested action not taken: mailbox unavailable\r\n"
            }
            "RCPT" => {
                to.push(angle_address(&command));
                b"250 OK\r\n"
            }
            "DATA" => {
                conn.get_mut()
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if conn.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                let _ = tx.send(Mail {
                    from: std::mem::take(&mut from),
                    to: std::mem::take(&mut to),
                    data,
                    tls: secured,
                });
                b"250 OK queued\r\n"
            }
            "RSET" => {
                from.clear();
                to.clear();
                b"250 OK\r\n"
            }
            "NOOP" => b"250 OK\r\n",
            "QUIT" => {
                conn.get_mut().write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 command not implemented\r\n",
        };
        let out = conn.get_mut();
        out.write_all(reply).await?;
        out.flush().await?;
    }
}

fn angle_address(command: &str) -> String {
    command
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(address, _)| address.to_string())
        .unwrap_or_default()
}

fn smtp_config(port: u16) -> String {
    format!("[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\nfrom = \"{FROM}\"\n")
}

fn start(extra: &str) -> Server {
    let _ = rustls::crypto::ring::default_provider().install_default();
    common::start_directory_with_env(extra, &[("ROLLCALL_BOOTSTRAP_TOKEN", TOKEN)])
}

/// Like [`common::start_directory`], on a data directory the test prepared (templates).
fn start_on(data: &Path, config_dir: &Path, extra: &str) -> Server {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = config_dir.join("rollcall.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\ncert = {:?}\nkey = {:?}\n\n[argon2]\nmemory_kib = 1024\niterations = 1\nparallelism = 1\n\n{extra}\n",
            common::cert_path("server.pem"),
            common::cert_path("server.key"),
        ),
    )
    .unwrap();
    Server::spawn(
        data,
        &["--config", config.to_str().unwrap()],
        &[
            ("ROLLCALL_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("ROLLCALL_BOOTSTRAP_TOKEN", TOKEN),
        ],
    )
}

async fn create_user(server: &Server, body: Value) -> (StatusCode, Value) {
    let res = Client::new()
        .post(server.url("/scim/v2/Users"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/scim+json")
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn person(user_name: &str, email: Option<&str>, display: &str) -> Value {
    let mut user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "displayName": display,
        "active": true,
    });
    if let Some(email) = email {
        user["emails"] = json!([{"value": email, "type": "work", "primary": true}]);
    }
    user
}

/// Stops the server (waiting for a send in progress to be recorded) and reads its outbox.
/// `rollcall_mail_deliveries_total` by outcome, once `ready` holds for it (delivery marks a
/// message after the relay has it, so the count may trail the mail by a moment).
async fn deliveries(server: &Server, ready: impl Fn(&[f64; 3]) -> bool) -> [f64; 3] {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = common::scrape(server).await;
        let count = |outcome: &str| {
            let series = format!("rollcall_mail_deliveries_total{{outcome=\"{outcome}\"}}");
            common::sample(&text, &series)
        };
        let counts = [count("sent"), count("failed"), count("undeliverable")];
        if ready(&counts) || std::time::Instant::now() > deadline {
            return counts;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn outbox_after_stop(server: &mut Server) -> Vec<OutboxMessage> {
    let status = server.terminate();
    assert!(status.success(), "{status}");
    common::open_service(&server.data, LicenseLimits::default())
        .outbox()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_activation_notice_is_mailed_to_the_users_work_address() {
    let mut relay = FakeSmtp::start().await;
    let mut server = start(&smtp_config(relay.addr.port()));

    let (status, body) = create_user(&server, person("nomail", None, "No Mail")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = create_user(
        &server,
        person("alice", Some("alice.work@example.com"), "Alice Example"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let alice_id = body["id"].as_str().unwrap().to_string();

    let mail = relay.next(Duration::from_secs(60)).await;
    assert_eq!(mail.from, FROM);
    assert_eq!(mail.to, vec!["alice.work@example.com".to_string()]);
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("Your account is active")
    );
    assert_eq!(mail.header("From").as_deref(), Some(FROM));
    assert_eq!(mail.header("To").as_deref(), Some("alice.work@example.com"));
    let text = mail.body();
    assert!(text.starts_with("Hello Alice Example,"), "{text}");
    let link_prefix = format!("http://{}/auth/activate?token=", server.http);
    let link = text
        .lines()
        .find(|l| l.starts_with(&link_prefix))
        .unwrap_or_else(|| panic!("no set-password link in {text}"));
    assert!(link.len() > link_prefix.len() + 16, "a real token: {link}");
    // Sent, failed, undeliverable: alice's notice went, and the notices of the user without
    // an address and of the first admin (who has none either) never can.
    assert_eq!(
        deliveries(&server, |c| c[0] == 1.0 && c[2] == 2.0).await,
        [1.0, 0.0, 2.0]
    );

    let outbox = outbox_after_stop(&mut server);
    let sent = outbox
        .iter()
        .find(|m| m.user.is_some_and(|u| u.to_string() == alice_id))
        .expect("alice's notice");
    assert!(sent.sent && sent.sent_at.is_some(), "{sent:?}");
    assert_eq!(sent.attempts, 0, "{sent:?}");
    // RFC 5322 §3.6.4: the outbox message's own id, at the sender's domain, so that a retry
    // carries the same one.
    let domain = FROM.rsplit_once('@').unwrap().1.trim_end_matches('>');
    assert_eq!(
        mail.header("Message-ID"),
        Some(format!("<{}@{domain}>", sent.id))
    );
    let unaddressed = outbox
        .iter()
        .find(|m| m.kind == MessageKind::Activation && m.to.is_none())
        .expect("the notice of the user without an address");
    assert!(
        unaddressed.undeliverable && !unaddressed.sent,
        "{unaddressed:?}"
    );
    assert!(
        unaddressed
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("no email address")),
        "{unaddressed:?}"
    );
    assert!(
        relay.mails.try_recv().is_err(),
        "nothing mailed for the user without an address"
    );
}

/// RFC 3463 §3.2: X.1.1 "Bad destination mailbox address" is final; a bare 550 (RFC 5321
/// §4.2.3) does not say whether the mailbox or the sender is at fault, so it is retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailbox_the_relay_says_does_not_exist_is_given_up_on_and_a_bare_refusal_retried() {
    let mut relay = FakeSmtp::start().await;
    let mut server = start(&smtp_config(relay.addr.port()));
    let mut ids = Vec::new();
    for (name, address) in [
        ("gone", "unknown.gone@example.com"),
        ("blocked", "policy.blocked@example.com"),
        ("fine", "fine@example.com"),
    ] {
        let (status, body) = create_user(&server, person(name, Some(address), name)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(body["id"].as_str().unwrap().to_string());
    }

    // The refusals do not stand in the way of the next message.
    let mail = relay.next(Duration::from_secs(60)).await;
    assert_eq!(mail.to, vec!["fine@example.com".to_string()]);
    // Sent: fine's. Failed: blocked's, at least once. Undeliverable: the first admin's notice
    // (no address) and gone's.
    let counts = deliveries(&server, |c| c[0] == 1.0 && c[1] >= 1.0 && c[2] == 2.0).await;
    assert_eq!((counts[0], counts[2]), (1.0, 2.0), "{counts:?}");
    assert!(counts[1] >= 1.0, "{counts:?}");

    let outbox = outbox_after_stop(&mut server);
    let of = |id: &str| {
        outbox
            .iter()
            .find(|m| m.user.is_some_and(|u| u.to_string() == id))
            .expect("the user's notice")
    };
    let gone = of(&ids[0]);
    assert!(gone.undeliverable && !gone.sent, "{gone:?}");
    assert!(
        gone.last_error
            .as_deref()
            .is_some_and(|e| e.contains("5.1.1") && e.contains("refused the recipient")),
        "{gone:?}"
    );
    let blocked = of(&ids[1]);
    assert!(!blocked.undeliverable && !blocked.sent, "{blocked:?}");
    assert!(
        blocked.attempts >= 1 && blocked.next_attempt.is_some(),
        "{blocked:?}"
    );
    assert!(
        blocked
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("550")),
        "{blocked:?}"
    );
    assert!(of(&ids[2]).sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_to_a_relay_with_a_private_ca_from_ca_file() {
    let mut relay = FakeSmtp::start_with_starttls().await;
    let server = start(&format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {}\nfrom = \"Directory <{FROM}>\"\nca_file = {:?}\n",
        relay.addr.port(),
        common::cert_path("test-ca.pem"),
    ));
    let (status, body) =
        create_user(&server, person("tls", Some("tls@example.com"), "T. L. S.")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mail = relay.next(Duration::from_secs(60)).await;
    assert!(mail.tls, "sent only after STARTTLS (the default security)");
    assert_eq!(mail.to, vec!["tls@example.com".to_string()]);
    assert_eq!(
        mail.header("From").as_deref(),
        Some("Directory <directory@example.com>")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_queued_while_the_relay_is_down_is_delivered_once_it_is_up() {
    // Port closed: nothing listens there when the server starts and the message is queued.
    let relay_addr = free_addr();
    let mut server = start(&smtp_config(relay_addr.port()));
    let (status, body) = create_user(&server, person("bob", Some("bob@example.com"), "Bob")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Still down, but now we can see the attempt: the relay answers 421 and hangs up.
    {
        let down = TcpListener::bind(relay_addr).await.unwrap();
        let (mut conn, _) = tokio::time::timeout(Duration::from_secs(60), down.accept())
            .await
            .expect("a delivery attempt while the relay is down")
            .unwrap();
        conn.write_all(b"421 fake.test service not available\r\n")
            .await
            .unwrap();
    }

    let mut relay = FakeSmtp::start_at(relay_addr).await;
    let mail = relay.next(Duration::from_secs(60)).await;
    assert_eq!(mail.to, vec!["bob@example.com".to_string()]);
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("Your account is active")
    );
    let [sent, failed, undeliverable] = deliveries(&server, |c| c[0] == 1.0).await;
    // The first admin has no address: its notice is the one given up on.
    assert_eq!((sent, undeliverable), (1.0, 1.0));
    assert!(failed >= 1.0, "the refused attempt is counted: {failed}");

    let outbox = outbox_after_stop(&mut server);
    let message = outbox
        .iter()
        .find(|m| m.to.as_deref() == Some("bob@example.com"))
        .unwrap();
    assert!(message.sent, "{message:?}");
    assert!(
        message.attempts >= 1,
        "the failed attempts are recorded: {message:?}"
    );
    assert!(message.last_error.is_some(), "{message:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_file_in_the_data_directory_rewords_the_message() {
    let mut relay = FakeSmtp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("templates")).unwrap();
    std::fs::write(
        data.join("templates/activation.txt"),
        "Subject: Welcome to Example Corp, {{display_name}}\n\n\
         Your user name is {{user_name}}.\n{{#link}}\nSet your password: {{link}}\n{{/link}}\n",
    )
    .unwrap();
    let server = start_on(&data, dir.path(), &smtp_config(relay.addr.port()));

    let (status, body) =
        create_user(&server, person("carol", Some("carol@example.com"), "Carol")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mail = relay.next(Duration::from_secs(60)).await;
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("Welcome to Example Corp, Carol")
    );
    let text = mail.body();
    assert!(text.starts_with("Your user name is carol.\n"), "{text}");
    assert!(text.contains("Set your password: http://"), "{text}");
}

/// Seed 003 "language and timezone": templates in `<data>/templates/<language>/` reword the
/// messages to people whose `preferredLanguage` (or `locale`) is that language, or a regional
/// form of it; everyone else gets the default wording.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_get_messages_in_their_own_language_where_there_is_a_template() {
    let mut relay = FakeSmtp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("templates/de")).unwrap();
    std::fs::write(
        data.join("templates/de/activation.txt"),
        "Subject: Willkommen, {{display_name}}\n\n\
         Ihr Benutzername ist {{user_name}}.\n{{#link}}\nPasswort festlegen: {{link}}\n{{/link}}\n",
    )
    .unwrap();
    let server = start_on(&data, dir.path(), &smtp_config(relay.addr.port()));

    let mut hans = person("hans", Some("hans@example.com"), "Hans");
    hans["preferredLanguage"] = json!("de-CH, en;q=0.8");
    let mut anna = person("anna", Some("anna@example.com"), "Anna");
    anna["locale"] = json!("de_AT");
    let mut jane = person("jane", Some("jane@example.com"), "Jane");
    jane["preferredLanguage"] = json!("en-GB");
    for user in [hans, anna, jane] {
        let (status, body) = create_user(&server, user).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let mut subjects = std::collections::BTreeMap::new();
    while subjects.len() < 3 {
        let mail = relay.next(Duration::from_secs(60)).await;
        let text = mail.body();
        subjects.insert(mail.to[0].clone(), (mail.header("Subject").unwrap(), text));
    }
    assert_eq!(subjects["hans@example.com"].0, "Willkommen, Hans");
    assert!(
        subjects["hans@example.com"]
            .1
            .starts_with("Ihr Benutzername ist hans.\n"),
        "{:?}",
        subjects["hans@example.com"]
    );
    assert_eq!(
        subjects["anna@example.com"].0, "Willkommen, Anna",
        "a locale counts"
    );
    assert!(
        !subjects["jane@example.com"].0.contains("Willkommen"),
        "the default wording: {:?}",
        subjects["jane@example.com"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_notifications_go_to_the_administrators_addresses() {
    let mut relay = FakeSmtp::start().await;
    // The admin and a second administrator hold two of the three employee seats.
    let mut server = start(&format!(
        "[licenses]\nemployee = 3\n\n{}",
        smtp_config(relay.addr.port())
    ));
    let mut ldap = common::admin_connection(server.ldap).await;
    ldap.modify(
        ADMIN_DN,
        vec![Mod::Replace("mail", HashSet::from(["boss@example.com"]))],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    // The second administrator's address is one the relay refuses: the others still get
    // every notification, each administrator being sent their own copy.
    let (status, body) = create_user(
        &server,
        person("second", Some("unknown.second@example.com"), "Second"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    ldap.modify(
        "cn=Administrators,ou=roles,dc=example,dc=com",
        vec![Mod::Add(
            "member",
            HashSet::from(["uid=second,ou=people,dc=example,dc=com"]),
        )],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    let _ = ldap.unbind().await;

    // Takes the last seat (the pool reaches 90%), then one too many is refused.
    let (status, body) =
        create_user(&server, person("dave", Some("dave@example.com"), "Dave")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) =
        create_user(&server, person("erin", Some("erin@example.com"), "Erin")).await;
    assert_ne!(status, StatusCode::CREATED, "{body}");

    let mut to_admins = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while to_admins.len() < 3 {
        let left = deadline.saturating_duration_since(Instant::now());
        let mail = relay.next(left).await;
        if mail.to == vec!["boss@example.com".to_string()] {
            to_admins.push(mail.header("Subject").unwrap_or_default());
        } else {
            assert_eq!(mail.to, vec!["dave@example.com".to_string()], "{mail:?}");
        }
    }
    to_admins.sort();
    assert_eq!(
        to_admins,
        vec![
            "Activation of erin refused".to_string(),
            "License pool nearly full: 3 of 3 employee licenses are in use".to_string(),
            // Making `second` an administrator is itself worth a notice.
            "Permissions raised: second".to_string(),
        ]
    );
    let outbox = outbox_after_stop(&mut server);
    let notices: Vec<_> = outbox
        .iter()
        .filter(|m| m.to.as_deref() == Some(rollcall::outbox::ADMINS))
        .collect();
    assert_eq!(notices.len(), 3, "{outbox:?}");
    assert!(notices.iter().all(|m| m.sent), "{notices:?}");
}

/// Runs `rollcall serve` on `data` with `config`, expecting it to refuse to start; its stderr.
fn refused_start(config: &str, data: &Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rollcall.toml");
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&path)
        .arg("--data")
        .arg(data)
        .args(["--http", &free_addr().to_string()])
        .args(["--ldap", &free_addr().to_string()])
        .args(["--ldaps", &free_addr().to_string()])
        .env_remove("ROLLCALL_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let Some(status) = wait_timeout(&mut child, Duration::from_secs(30)) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server started although its configuration is wrong");
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    stderr
}

#[test]
fn unencrypted_smtp_to_a_remote_host_is_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let stderr = refused_start(
        &format!(
            "[smtp]\nhost = \"mail.example.com\"\nport = 25\nsecurity = \"none\"\nfrom = \"{FROM}\"\n"
        ),
        &data,
    );
    assert!(
        stderr.contains("[smtp]")
            && stderr.contains("loopback")
            && stderr.contains("mail.example.com"),
        "{stderr}"
    );
    assert!(!data.exists(), "refused before touching the data directory");
}

#[test]
fn a_template_with_an_unknown_placeholder_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("templates")).unwrap();
    std::fs::write(
        data.join("templates/license_refused.txt"),
        "Subject: Refused\n\n{{detail}} for {{first_name}}\n",
    )
    .unwrap();
    let stderr = refused_start("", &data);
    assert!(
        stderr.contains("license_refused.txt")
            && stderr.contains("line 3")
            && stderr.contains("{{first_name}}"),
        "{stderr}"
    );
    assert!(
        !data.join("store").exists(),
        "refused before opening the store"
    );
}

/// Delivery reads the outbox from a mark past the messages that are done, so that a pass does
/// not decode every message ever sent; whatever the marks, a waiting message and a new one
/// are always found. Retention (`[outbox] keep_days`) removes old messages with their index
/// entries, so the store stays consistent.
#[test]
fn delivery_passes_find_every_waiting_message_and_old_ones_are_pruned() {
    use rollcall::service::OutboxMark;
    let (_dir, service) = common::service_with(LicenseLimits::default());
    let queue = |name: &str| {
        common::create(
            &service,
            common::person(name, rollcall::model::LicenseType::Employee, true),
        )
    };
    for name in ["ann", "bob", "cid"] {
        queue(name);
    }
    let now = time::OffsetDateTime::now_utc;
    let (due, mark) = service
        .pending_messages_from(OutboxMark::default(), now())
        .unwrap();
    assert_eq!(due.len(), 3, "{due:?}");
    // ann's and cid's go out; bob's fails and waits.
    for message in &due {
        if message.to.as_deref() == Some("bob@example.com") {
            service
                .mark_failed(message.id, "451 try later", now())
                .unwrap();
        } else {
            service.mark_sent(message.id).unwrap();
        }
    }
    let (due, mark) = service.pending_messages_from(mark, now()).unwrap();
    let to: Vec<_> = due.iter().map(|m| m.to.clone().unwrap()).collect();
    assert_eq!(to, ["bob@example.com"]);
    queue("dee");
    let (due, mark) = service.pending_messages_from(mark, now()).unwrap();
    let mut to: Vec<_> = due.iter().map(|m| m.to.clone().unwrap()).collect();
    to.sort();
    assert_eq!(to, ["bob@example.com", "dee@example.com"]);
    for message in &due {
        service.mark_sent(message.id).unwrap();
    }
    let (due, mark) = service.pending_messages_from(mark, now()).unwrap();
    assert!(due.is_empty());
    queue("eve");
    let (due, _) = service.pending_messages_from(mark, now()).unwrap();
    assert_eq!(due.len(), 1, "a message after a quiet pass: {due:?}");

    // Retention: everything created before the cut goes, sent or not.
    assert_eq!(service.outbox().unwrap().len(), 5);
    assert_eq!(
        service
            .prune_outbox(now() - time::Duration::days(1))
            .unwrap(),
        0
    );
    assert_eq!(
        service
            .prune_outbox(now() + time::Duration::seconds(1))
            .unwrap(),
        5
    );
    assert!(service.outbox().unwrap().is_empty());
    assert_eq!(service.verify().unwrap(), Vec::<String>::new());
}

/// `[audit] keep_days`: events from before the cut are removed, oldest first and in batches,
/// with their index entries (a query by target no longer finds them, `check` finds nothing
/// torn); later ones stay.
#[test]
fn old_audit_events_are_pruned_with_their_index() {
    let (_dir, service) = common::service_with(LicenseLimits::default());
    let mut ids = Vec::new();
    for i in 0..300 {
        let user = common::create(
            &service,
            common::person(
                &format!("u{i}"),
                rollcall::model::LicenseType::Employee,
                false,
            ),
        );
        ids.push(user.id);
    }
    let cut = time::OffsetDateTime::now_utc() + time::Duration::milliseconds(5);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let late = common::create(
        &service,
        common::person("late", rollcall::model::LicenseType::Employee, false),
    );
    let before = service.audit_events().unwrap().len();
    assert!(before > 300, "{before}");
    let removed = service.prune_audit(cut).unwrap();
    let left = service.audit_events().unwrap();
    assert_eq!(removed + left.len(), before);
    assert!(left.iter().all(|e| e.at >= cut), "only later events stay");
    assert!(
        left.iter()
            .any(|e| e.target.as_deref() == Some(&*late.id.to_string())),
        "late's creation stays"
    );
    let about_first = service
        .audit_query(
            &common::admin(),
            &rollcall::service::AuditQuery {
                target: Some(ids[0].to_string()),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(about_first.is_empty(), "{about_first:?}");
    assert_eq!(service.verify().unwrap(), Vec::<String>::new());
    assert_eq!(
        service.prune_audit(cut).unwrap(),
        0,
        "nothing left to remove"
    );
}

/// A JSON call to the running server with `bearer` (an API or session token).
async fn call(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    bearer: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Client::new()
        .request(method, server.url(path))
        .bearer_auth(bearer);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// An administrator stops what waits in the outbox: an announcement queued to the wrong people
/// is cancelled by kind, one message of the next by id. Cancelled messages stay, marked with
/// when and by whom, out of `waiting=true`, with one audit event per (small) cancellation, and
/// never reach the relay, while the rest goes out as usual. Only administrators cancel, and
/// only what they name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_messages_stay_in_the_outbox_and_are_never_mailed() {
    use reqwest::Method;
    // No relay at first: every message waits.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = start_on(&data, dir.path(), "");
    for (name, address) in [("ann", "ann@example.com"), ("bob", "bob@example.com")] {
        let (status, body) = create_user(&server, person(name, Some(address), name)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    for args in [
        &["role", "create", "Support"][..],
        &["role", "add-member", "Support", "ann", "bob"],
    ] {
        let out = common::run(&data, args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let admin = common::admin_session(&Client::new(), &server.url("")).await;
    let announce = |subject: &'static str| {
        let (server, admin) = (&server, admin.clone());
        async move {
            let (status, body) = call(
                server,
                Method::POST,
                "/admin/announcements",
                &admin,
                Some(
                    json!({"subject": subject, "text": "Down on Saturday.", "roles": ["Support"]}),
                ),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["queued"], 2, "{body}");
        }
    };
    let outbox = |query: &'static str| {
        let (server, admin) = (&server, admin.clone());
        async move {
            let (status, body) = call(
                server,
                Method::GET,
                &format!("/admin/outbox?{query}"),
                &admin,
                None,
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body.as_array().unwrap().clone()
        }
    };
    let cancel = |body: Value, bearer: &str| {
        let (server, bearer) = (&server, bearer.to_string());
        async move {
            call(
                server,
                Method::POST,
                "/admin/outbox/cancel",
                &bearer,
                Some(body),
            )
            .await
        }
    };
    announce("Wrong people").await;

    // Refused, and nothing cancelled: not an administrator, no selector, selectors that do
    // not parse, a field it does not know, an id that is not in the outbox.
    let (status, body) = cancel(json!({"kind": "announcement"}), TOKEN).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let unknown = uuid::Uuid::now_v7().to_string();
    for (request, fragment) in [
        (json!({}), "name the messages to cancel"),
        (json!({"ids": []}), "name the messages to cancel"),
        (json!({"kind": "postcard"}), "postcard"),
        (json!({"since": "yesterday"}), "since"),
        (json!({"ids": ["42"]}), "ids"),
        (json!({"user": "nobody"}), "user"),
        (json!({"user": uuid::Uuid::now_v7().to_string()}), "no user"),
        (json!({"kind": "announcement", "colour": "red"}), "colour"),
        (json!({"ids": [unknown]}), "nothing was cancelled"),
    ] {
        let (status, body) = cancel(request.clone(), &admin).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{request}: {body}");
        assert_eq!(body["error"], "invalid_request", "{request}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains(fragment),
            "{request}: {body}"
        );
    }
    assert!(
        outbox("kind=announcement")
            .await
            .iter()
            .all(|m| m["cancelled"] == false),
        "nothing refused cancelled anything"
    );

    // By kind: both messages of the announcement, and nothing else.
    let (status, body) = cancel(json!({"kind": "announcement"}), &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"cancelled": 2, "not_cancelled": []}));
    let wrong = outbox("kind=announcement").await;
    assert_eq!(wrong.len(), 2, "kept for the record: {wrong:?}");
    let by = wrong[0]["cancelled_by"].as_str().unwrap().to_string();
    for message in &wrong {
        assert_eq!(message["cancelled"], true, "{message}");
        assert_eq!(message["sent"], false, "{message}");
        assert_eq!(message["cancelled_by"], by.as_str(), "{message}");
        assert!(message["cancelled_at"].is_string(), "{message}");
    }
    let waiting = outbox("waiting=true").await;
    assert!(
        waiting.iter().all(|m| m["kind"] != "announcement"),
        "{waiting:?}"
    );
    assert_eq!(
        waiting.iter().filter(|m| m["kind"] == "activation").count(),
        3,
        "the activation notices still wait (ann's, bob's, the first admin's): {waiting:?}"
    );
    let (status, body) = cancel(json!({"kind": "announcement"}), &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["cancelled"], 0, "already cancelled: {body}");

    // By id: ann's message of the next announcement; an id already cancelled is named back.
    announce("Right people").await;
    let right = outbox("kind=announcement&waiting=true").await;
    let anns = right.iter().find(|m| m["to"] == "ann@example.com").unwrap()["id"].clone();
    let (status, body) = cancel(json!({"ids": [anns, wrong[1]["id"]]}), &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["cancelled"], 1, "{body}");
    assert_eq!(body["not_cancelled"], json!([wrong[1]["id"]]), "{body}");

    // One event per cancellation that cancelled something, by the administrator who did.
    let (status, events) = call(
        &server,
        Method::GET,
        "/admin/audit?kind=outbox_cancelled",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{events}");
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["detail"], "kind announcement: 2 cancelled");
    assert_eq!(events[0]["actor"], by.as_str());
    assert_eq!(events[0]["source"], "rest");
    let detail = events[1]["detail"].as_str().unwrap();
    assert!(
        detail.contains(anns.as_str().unwrap()) && detail.ends_with(": 1 cancelled"),
        "{detail}"
    );

    // With a relay: what waits goes out, oldest first; the cancelled messages never do. A user
    // created now is mailed last, so by then everything older has had its turn.
    assert!(server.terminate().success());
    let mut relay = FakeSmtp::start().await;
    let mut server = start_on(&data, dir.path(), &smtp_config(relay.addr.port()));
    let (status, body) =
        create_user(&server, person("late", Some("late@example.com"), "Late")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut mailed = Vec::new();
    loop {
        let mail = relay.next(Duration::from_secs(60)).await;
        let last = mail.to == ["late@example.com"];
        mailed.push((
            mail.to.join(","),
            mail.header("Subject").unwrap_or_default(),
        ));
        if last {
            break;
        }
    }
    mailed.sort();
    assert_eq!(
        mailed,
        [
            ("ann@example.com".into(), "Your account is active".into()),
            ("bob@example.com".into(), "Right people".into()),
            ("bob@example.com".into(), "Your account is active".into()),
            ("late@example.com".into(), "Your account is active".into()),
        ],
        "never the cancelled ones"
    );
    let stored = outbox_after_stop(&mut server);
    let cancelled: Vec<_> = stored.iter().filter(|m| m.cancelled).collect();
    assert_eq!(cancelled.len(), 3, "{stored:?}");
    assert!(
        cancelled
            .iter()
            .all(|m| !m.sent && m.attempts == 0 && m.cancelled_at.is_some()),
        "{cancelled:?}"
    );
}

/// Delivery reads each message again right before it hands it to the relay: one cancelled
/// after a pass read the outbox is not sent, and no longer holds back where passes start
/// reading. A cancellation that commits while a message is being handed over is too late
/// for that one message, which is then recorded as both.
#[test]
fn a_message_cancelled_after_a_pass_read_it_is_not_handed_over() {
    use rollcall::service::{CancelSelection, OutboxMark};
    let (_dir, service) = common::service_with(LicenseLimits::default());
    let (_empty_dir, empty) = common::service_with(LicenseLimits::default());
    for name in ["ann", "bob"] {
        common::create(
            &service,
            common::person(name, rollcall::model::LicenseType::Employee, true),
        );
    }
    let now = time::OffsetDateTime::now_utc();
    let (due, _) = service
        .pending_messages_from(OutboxMark::default(), now)
        .unwrap();
    assert_eq!(due.len(), 2, "{due:?}");
    let (ann, bob) = (due[0].id, due[1].id);
    // ann's is being handed over: its check is done when the cancellation commits.
    assert!(service.still_due(ann, now).unwrap().is_some());
    let selection = CancelSelection {
        kind: Some(MessageKind::Activation),
        ..Default::default()
    };
    let anonymous = rollcall::service::Actor::anonymous(rollcall::audit::Source::Rest, None);
    assert!(matches!(
        service.cancel_messages(&anonymous, &selection),
        Err(rollcall::service::ServiceError::Forbidden(_))
    ));
    let done = service
        .cancel_messages(&common::admin(), &selection)
        .unwrap();
    assert_eq!(done.cancelled, 2);
    assert!(
        service.still_due(bob, now).unwrap().is_none(),
        "bob's is not handed over"
    );
    assert!(
        service.mark_sent(ann).unwrap(),
        "ann's went out all the same"
    );
    let stored = service.outbox().unwrap();
    let ann = stored.iter().find(|m| m.id == ann).unwrap();
    assert!(ann.cancelled && ann.sent, "{ann:?}");
    let bob = stored.iter().find(|m| m.id == bob).unwrap();
    assert!(bob.cancelled && !bob.sent && bob.cancelled_by.as_deref() == Some("system"));

    // Nothing waits: the next pass starts where it would in an empty outbox.
    let (due, mark) = service
        .pending_messages_from(OutboxMark::default(), now)
        .unwrap();
    assert!(due.is_empty(), "{due:?}");
    let (_, empty_mark) = empty
        .pending_messages_from(OutboxMark::default(), now)
        .unwrap();
    assert_eq!(mark, empty_mark);
}

/// The count an audit detail ends with before `what` (`…: 64 cancelled`, `…: 64 queued, 0
/// without an address`).
fn counted(detail: &str, what: &str) -> usize {
    let before = detail
        .find(what)
        .unwrap_or_else(|| panic!("{what:?} in {detail:?}"));
    detail[..before]
        .trim_end()
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count before {what:?} in {detail:?}"))
}

/// On the running server, an announcement and a cancellation larger than one transaction takes
/// are audited with each transaction: their entries add up to exactly the messages queued and
/// cancelled, and every message the cancellation counts is cancelled in the outbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_announcements_and_cancellations_are_audited_with_each_batch() {
    use reqwest::Method;
    let server = start("");
    for i in 0..70 {
        let (name, address) = (format!("p{i}"), format!("p{i}@example.com"));
        let (status, body) = create_user(&server, person(&name, Some(&address), &name)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (http, base) = (Client::new(), server.url(""));
    let admin = common::admin_session(&http, &base).await;
    let (status, body) = call(
        &server,
        Method::POST,
        "/admin/announcements",
        &admin,
        Some(json!({"subject": "Office move", "text": "We move on Monday.", "everyone": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let queued = body["queued"].as_u64().unwrap() as usize;
    assert!(queued >= 70, "{body}");
    let events = common::admin_audit(&http, &base, "kind=announcement_sent").await;
    assert!(events.len() >= 2, "more than one transaction: {events:?}");
    let mut total = 0;
    for event in &events {
        let detail = event["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("\"Office move\" to everyone: "),
            "{detail}"
        );
        total += counted(detail, "queued");
    }
    assert_eq!(total, queued, "{events:?}");

    let (status, body) = call(
        &server,
        Method::POST,
        "/admin/outbox/cancel",
        &admin,
        Some(json!({"kind": "announcement"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["cancelled"], queued, "{body}");
    let events = common::admin_audit(&http, &base, "kind=outbox_cancelled").await;
    assert!(events.len() >= 2, "more than one transaction: {events:?}");
    let mut total = 0;
    for event in &events {
        let detail = event["detail"].as_str().unwrap();
        assert!(detail.starts_with("kind announcement: "), "{detail}");
        assert_eq!(event["source"], "rest", "{event}");
        total += counted(detail, "cancelled");
    }
    assert_eq!(total, queued, "{events:?}");
    let (status, outbox) = call(
        &server,
        Method::GET,
        "/admin/outbox?kind=announcement",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{outbox}");
    let outbox = outbox.as_array().unwrap();
    assert_eq!(outbox.len(), queued);
    assert!(
        outbox
            .iter()
            .all(|m| m["cancelled"] == true && m["sent"] == false),
        "{outbox:?}"
    );
}

/// A backlog larger than one transaction takes is cancelled whole, with an audit event for each
/// transaction whose counts add up to the messages cancelled; a `since` leaves what was queued
/// before it alone.
#[test]
fn a_large_backlog_is_cancelled_whole_and_audited_batch_by_batch() {
    use rollcall::service::CancelSelection;
    let (_dir, service) = common::service_with(LicenseLimits::default());
    let queue = |name: String| {
        common::create(
            &service,
            common::person(&name, rollcall::model::LicenseType::Employee, true),
        );
    };
    queue("early".into());
    std::thread::sleep(Duration::from_millis(5));
    let since = time::OffsetDateTime::now_utc();
    for i in 0..150 {
        queue(format!("u{i}"));
    }
    let done = service
        .cancel_messages(
            &common::admin(),
            &CancelSelection {
                kind: Some(MessageKind::Activation),
                since: Some(since),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(done.cancelled, 150);
    let outbox = service.outbox().unwrap();
    let waiting: Vec<_> = outbox.iter().filter(|m| m.is_waiting()).collect();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(waiting[0].to.as_deref(), Some("early@example.com"));
    let cancelled: Vec<_> = outbox.iter().filter(|m| m.cancelled).collect();
    assert_eq!(cancelled.len(), 150);
    assert!(
        cancelled
            .iter()
            .all(|m| !m.sent && m.cancelled_at.is_some() && m.cancelled_by.is_some()),
        "{cancelled:?}"
    );
    let events: Vec<_> = service
        .audit_events()
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == rollcall::audit::AuditKind::OutboxCancelled)
        .collect();
    assert_eq!(events.len(), 3, "64 to a transaction: {events:?}");
    let mut total = 0;
    for event in &events {
        let detail = event.detail.as_deref().unwrap();
        assert!(detail.starts_with("kind activation, since "), "{detail}");
        let count = counted(detail, "cancelled");
        assert!((1..=64).contains(&count), "{detail}");
        total += count;
    }
    assert_eq!(total, 150, "{events:?}");
    assert_eq!(service.verify().unwrap(), Vec::<String>::new());
}
