//! LDAP and LDAPS listeners. Until the directory is wired to the LDAP protocol crate, every bind
//! is answered with unwillingToPerform so clients get a clear answer instead of a hang.

use futures::{SinkExt, StreamExt};
use ldap3_proto::LdapCodec;
use ldap3_proto::proto::{LdapBindResponse, LdapMsg, LdapOp, LdapResult, LdapResultCode};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub async fn accept(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) {
    loop {
        let (socket, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "LDAP accept failed");
                    continue;
                }
            },
        };
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            match tls {
                None => session(socket, shutdown).await,
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        acceptor.accept(socket),
                    );
                    match handshake.await {
                        Ok(Ok(stream)) => session(stream, shutdown).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "LDAPS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "LDAPS handshake timed out"),
                    }
                }
            }
        });
    }
}

async fn session(io: impl AsyncRead + AsyncWrite + Unpin, shutdown: CancellationToken) {
    let mut framed = Framed::new(io, LdapCodec::default());
    loop {
        let msg = tokio::select! {
            _ = shutdown.cancelled() => return,
            msg = framed.next() => msg,
        };
        let Some(Ok(msg)) = msg else {
            return;
        };
        let reply = match msg.op {
            LdapOp::BindRequest(_) => LdapOp::BindResponse(LdapBindResponse {
                res: LdapResult {
                    code: LdapResultCode::UnwillingToPerform,
                    matcheddn: String::new(),
                    message: "LDAP operations are not enabled in this build".into(),
                    referral: vec![],
                },
                saslcreds: None,
            }),
            _ => return,
        };
        if framed
            .send(LdapMsg {
                msgid: msg.msgid,
                op: reply,
                ctrl: vec![],
            })
            .await
            .is_err()
        {
            return;
        }
    }
}
