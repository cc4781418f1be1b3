//! HTTPS on the HTTP listener (`[http] tls = true`): SCIM and REST over TLS with the configured
//! certificate, HTTP/2 or HTTP/1.1 as the client offers, links that say `https`, client
//! addresses still audited, and a client that never finishes its handshake holding up nobody.

mod common;

use std::time::Duration;

use common::{cert_path, start_https_directory};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "rc_https-test-token-0123456789abcdef";

fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = std::fs::read(cert_path("test-ca.pem")).unwrap();
    Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn scim_and_rest_over_https() {
    let mut server = start_https_directory("", &[("ROLLCALL_BOOTSTRAP_TOKEN", TOKEN)]);
    let base = format!("https://localhost:{}", server.http.port());
    let http = client();

    // A client that connects and never speaks TLS does not stop the others.
    let _silent = std::net::TcpStream::connect(server.http).unwrap();

    let res = http
        .post(format!("{base}/scim/v2/Users"))
        .bearer_auth(TOKEN)
        .json(&json!({"userName": "tess", "active": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(
        res.version(),
        reqwest::Version::HTTP_2,
        "a client that offers HTTP/2 gets it"
    );
    let created: Value = res.json().await.unwrap();
    // Without a public_url, links are built from the listener, with the right scheme.
    let location = created["meta"]["location"].as_str().unwrap();
    assert!(
        location.starts_with(&format!("https://{}/scim/v2/Users/", server.http)),
        "{location}"
    );

    // The admin's login for this read is the last one.
    let events = common::admin_audit(&http, &base, "kind=login_succeeded").await;
    let last = events.last().unwrap();
    assert_eq!(last["source"], "rest");
    assert_eq!(
        last["client"], "127.0.0.1",
        "the client's address survives TLS"
    );

    // A client that speaks only HTTP/1.1 is served too.
    let ca = std::fs::read(cert_path("test-ca.pem")).unwrap();
    let http1 = Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .http1_only()
        .build()
        .unwrap();
    let res = http1.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.version(), reqwest::Version::HTTP_11);

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = Client::new()
        .get(server.url("/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(
        plain
            .as_ref()
            .map_or(true, |r| r.status() != StatusCode::OK),
        "{plain:?}"
    );
    // A client without the test CA does not trust the certificate.
    assert!(
        Client::new()
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_err()
    );
    // SIGTERM with the silent client still connected: a clean stop.
    assert!(server.terminate().success());
}

/// Plain HTTP speaks HTTP/1.1, and HTTP/2 to a client that starts with its preface.
#[tokio::test(flavor = "multi_thread")]
async fn plain_http_takes_http2_with_prior_knowledge() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = common::start_directory("");
    for (client, version) in [
        (Client::new(), reqwest::Version::HTTP_11),
        (
            Client::builder().http2_prior_knowledge().build().unwrap(),
            reqwest::Version::HTTP_2,
        ),
    ] {
        let res = client.get(server.url("/healthz")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.version(), version);
    }
}
