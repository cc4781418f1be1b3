//! Certificate renewal without a restart: the real binary with `[tls] cert`/`key` files that
//! are replaced on disk, then SIGHUP. LDAPS, StartTLS and HTTPS present the new certificate on
//! their next handshake, connections already open go on, a pair that cannot be used is refused
//! while the old one stays, and `/metrics` tells both apart.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{ADMIN_DN, ADMIN_PASSWORD, Server, cert_path, healthy_tls, signal};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;

/// Accepts any certificate and keeps the last end-entity certificate it saw: the test asks
/// which certificate a listener presents, not whether a CA vouches for it.
#[derive(Debug, Default)]
struct Capture {
    seen: Mutex<Option<Vec<u8>>>,
}

impl ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap() = Some(end_entity.to_vec());
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        algorithms().supported_schemes()
    }
}

fn algorithms() -> rustls::crypto::WebPkiSupportedAlgorithms {
    rustls::crypto::ring::default_provider().signature_verification_algorithms
}

fn capturing() -> (Arc<Capture>, Arc<rustls::ClientConfig>) {
    let capture = Arc::new(Capture::default());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(Arc::clone(&capture) as Arc<dyn ServerCertVerifier>)
    .with_no_client_auth();
    (capture, Arc::new(config))
}

/// The certificate a TLS listener (LDAPS or HTTPS) presents to a new connection.
fn presented(addr: SocketAddr) -> Vec<u8> {
    let (capture, config) = capturing();
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut conn = rustls::ClientConnection::new(config, "localhost".try_into().unwrap()).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).expect("TLS handshake");
    }
    let seen = capture.seen.lock().unwrap().clone();
    seen.expect("a certificate")
}

/// The certificate presented after StartTLS on the plain LDAP port.
async fn presented_after_starttls(ldap: SocketAddr) -> Vec<u8> {
    let (capture, config) = capturing();
    let settings = ldap3::LdapConnSettings::new()
        .set_config(config)
        .set_starttls(true);
    let url = format!("ldap://localhost:{}", ldap.port());
    let (conn, mut ldap) = ldap3::LdapConnAsync::with_settings(settings, &url)
        .await
        .expect("StartTLS");
    ldap3::drive!(conn);
    let _ = ldap.unbind().await;
    let seen = capture.seen.lock().unwrap().clone();
    seen.expect("a certificate")
}

/// `GET path` over HTTPS, whatever the certificate; the whole response as text.
fn https_get(addr: SocketAddr, path: &str) -> String {
    let (_, config) = capturing();
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let conn = rustls::ClientConnection::new(config, "localhost".try_into().unwrap()).unwrap();
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text
}

fn metric(addr: SocketAddr, series: &str) -> f64 {
    common::sample(&https_get(addr, "/metrics"), series)
}

fn der_of(pem: &Path) -> Vec<u8> {
    CertificateDer::from_pem_file(pem).unwrap().to_vec()
}

fn expiry_of(der: &[u8]) -> f64 {
    let (_, parsed) = x509_parser::parse_x509_certificate(der).unwrap();
    parsed.validity().not_after.timestamp() as f64
}

/// Polls `check` for up to 10 s.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_certificate_for_every_listener() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::copy(cert_path("server.pem"), &cert).unwrap();
    std::fs::copy(cert_path("server.key"), &key).unwrap();
    let config = dir.path().join("rollcall.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\ncert = {cert:?}\nkey = {key:?}\n\n[http]\ntls = true\n\n\
             [argon2]\nmemory_kib = 1024\niterations = 1\nparallelism = 1\n"
        ),
    )
    .unwrap();
    let mut server = Server::spawn_until(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
        &[("ROLLCALL_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)],
        healthy_tls,
    );
    let original = der_of(&cert_path("server.pem"));
    assert_eq!(presented(server.ldaps), original);
    assert_eq!(presented(server.http), original);
    assert_eq!(presented_after_starttls(server.ldap).await, original);
    assert_eq!(
        metric(
            server.http,
            "rollcall_tls_certificate_expiry_timestamp_seconds"
        ),
        expiry_of(&original)
    );

    // An LDAPS connection opened before the renewal, bound as the admin.
    let (conn, mut before) = ldap3::LdapConnAsync::with_settings(
        ldap3::LdapConnSettings::new().set_config(capturing().1),
        &format!("ldaps://localhost:{}", server.ldaps.port()),
    )
    .await
    .unwrap();
    ldap3::drive!(conn);
    before
        .simple_bind(ADMIN_DN, ADMIN_PASSWORD)
        .await
        .unwrap()
        .success()
        .unwrap();

    // Renewed in place (a new key too), then SIGHUP.
    let renewed = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(&key, renewed.signing_key.serialize_pem()).unwrap();
    std::fs::write(&cert, renewed.cert.pem()).unwrap();
    let renewed = renewed.cert.der().to_vec();
    signal(&server.child, "HUP");
    eventually("LDAPS presents the renewed certificate", || {
        presented(server.ldaps) == renewed
    });
    assert_eq!(presented(server.http), renewed);
    assert_eq!(presented_after_starttls(server.ldap).await, renewed);
    assert_eq!(
        metric(
            server.http,
            "rollcall_tls_certificate_expiry_timestamp_seconds"
        ),
        expiry_of(&renewed)
    );
    assert_eq!(
        metric(
            server.http,
            r#"rollcall_tls_certificate_reloads_total{outcome="success"}"#
        ),
        1.0
    );

    // The connection from before goes on with what it negotiated.
    let (entries, _) = before
        .search(ADMIN_DN, ldap3::Scope::Base, "(objectClass=*)", vec!["uid"])
        .await
        .unwrap()
        .success()
        .unwrap();
    assert_eq!(entries.len(), 1);
    let _ = before.unbind().await;

    // Half-copied: a new certificate whose key is not there yet. Refused, and the renewed pair
    // stays in use.
    let next = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(&cert, next.cert.pem()).unwrap();
    signal(&server.child, "HUP");
    eventually("the refused reload is counted", || {
        metric(
            server.http,
            r#"rollcall_tls_certificate_reloads_total{outcome="refused"}"#,
        ) == 1.0
    });
    assert_eq!(presented(server.ldaps), renewed);
    assert_eq!(presented(server.http), renewed);

    // SIGHUP never stops the server; SIGTERM still does, cleanly.
    assert!(server.child.try_wait().unwrap().is_none());
    assert!(server.terminate().success());
}
