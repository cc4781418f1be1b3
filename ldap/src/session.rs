//! One client connection: reading requests, running them concurrently, writing responses, and
//! the transitions that need the connection to be quiet (bind, StartTLS, unbind, shutdown).
//!
//! A single task owns the socket. Operations run as tasks that send encoded responses into a
//! bounded channel; the connection task drains the channel to the socket. Bind and StartTLS
//! first wait for every outstanding operation (RFC 4511 §4.2.1, RFC 4513 §3.1.1), pumping their
//! output meanwhile so that a search blocked on a full channel can finish.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use ldap3_proto::proto::{
    LdapExtendedRequest, LdapExtendedResponse, LdapMsg, LdapOp, LdapResultCode,
    OID_PASSWORD_MODIFY, OID_WHOAMI,
};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use crate::codec::{Codec, CodecError, ControlInfo, Frame, encode};
use crate::directory::{CancelFlag, ClientInfo, Directory};
use crate::operations::{self, OpContext, op_tag, response, result};
use crate::paging::{OID_PAGED_RESULTS, PagedSearches};
use crate::search::Output;
use crate::server::{Io, OID_MANAGE_DSA_IT, Shared};
use crate::tls::OID_STARTTLS;
use crate::{password_modify, ppolicy};

const OID_NOTICE_OF_DISCONNECTION: &str = "1.3.6.1.4.1.1466.20036";
/// Encoded responses buffered per connection before the producers wait for the socket.
const OUTPUT_QUEUE: usize = 64;

type Transport = Framed<Box<dyn Io>, Codec>;

/// Why a connection ends, and what the client is told.
#[derive(Debug)]
enum Exit {
    /// Unbind, or the client closed or broke the connection: nothing to say.
    Quiet,
    /// Notice of disconnection with this result.
    Notice(LdapResultCode, String),
}

enum Event {
    Output(Bytes),
    Done(Option<i32>),
    Shutdown,
    Idle,
    Frame(Option<Result<Frame, CodecError>>),
}

enum Next {
    Continue,
    Exit(Exit),
    StartTls(i32),
}

pub(crate) struct Connection<D: Directory> {
    shared: Arc<Shared<D>>,
    io: Option<Transport>,
    client: ClientInfo,
    session: D::Session,
    shutdown: CancellationToken,
    closing: bool,
    ops: JoinSet<i32>,
    in_flight: HashMap<i32, CancelFlag>,
    out_tx: mpsc::Sender<Bytes>,
    out_rx: mpsc::Receiver<Bytes>,
    paged: Arc<Mutex<PagedSearches>>,
}

impl<D: Directory> Connection<D> {
    pub(crate) fn new(
        shared: Arc<Shared<D>>,
        io: Box<dyn Io>,
        peer: SocketAddr,
        tls: bool,
        connection_id: u64,
        shutdown: CancellationToken,
    ) -> Connection<D> {
        let client = ClientInfo {
            peer,
            tls,
            connection_id,
        };
        let session = shared.directory.anonymous(&client);
        let (out_tx, out_rx) = mpsc::channel(OUTPUT_QUEUE);
        let codec = Codec::new(shared.config.limits.max_request_size);
        let limits = &shared.config.limits;
        let paged = PagedSearches::new(limits.max_paged_searches, limits.max_paged_bytes);
        Connection {
            io: Some(Framed::new(io, codec)),
            client,
            session,
            shutdown,
            closing: false,
            ops: JoinSet::new(),
            in_flight: HashMap::new(),
            out_tx,
            out_rx,
            paged: Arc::new(Mutex::new(paged)),
            shared,
        }
    }

    pub(crate) async fn run(mut self) {
        let Some(io) = self.io.take() else {
            return;
        };
        let (io, exit) = self.serve(io).await;
        // Whatever is still running is cancelled and may not write any more.
        for flag in self.in_flight.values() {
            flag.cancel();
        }
        self.out_rx.close();
        if let (Some(mut io), Exit::Notice(code, message)) = (io, &exit) {
            let notice = LdapMsg::new(
                0,
                LdapOp::ExtendedResponse(LdapExtendedResponse {
                    res: result(code.clone(), message.clone()),
                    name: Some(OID_NOTICE_OF_DISCONNECTION.to_string()),
                    value: None,
                }),
            );
            let _ = io.send(encode(notice)).await;
            let _ = io.close().await;
        }
        while self.ops.join_next().await.is_some() {}
        tracing::debug!(
            peer = %self.client.peer,
            id = self.client.connection_id,
            ?exit,
            "LDAP connection closed"
        );
    }

    /// The request loop. Returns the transport (unless it is unusable) and why it ended.
    async fn serve(&mut self, mut io: Transport) -> (Option<Transport>, Exit) {
        loop {
            if self.closing && self.ops.is_empty() {
                if self.flush_pending(&mut io).await.is_err() {
                    return (None, Exit::Quiet);
                }
                let exit = Exit::Notice(
                    LdapResultCode::Unavailable,
                    "the server is shutting down".into(),
                );
                return (Some(io), exit);
            }
            let can_read =
                !self.closing && self.ops.len() < self.shared.config.limits.max_ops_per_connection;
            let idle_limit = self.shared.config.limits.idle_timeout;
            let idle = async move {
                match idle_limit {
                    Some(d) => tokio::time::sleep(d).await,
                    None => futures::future::pending().await,
                }
            };
            let event = tokio::select! {
                biased;
                Some(bytes) = self.out_rx.recv() => Event::Output(bytes),
                Some(done) = self.ops.join_next(), if !self.ops.is_empty() => Event::Done(done.ok()),
                _ = self.shutdown.cancelled(), if !self.closing => Event::Shutdown,
                frame = io.next(), if can_read => Event::Frame(frame),
                _ = idle, if self.ops.is_empty() => Event::Idle,
            };
            match event {
                Event::Output(bytes) => {
                    if self.write(&mut io, bytes).await.is_err() {
                        return (None, Exit::Quiet);
                    }
                }
                Event::Done(msgid) => {
                    if let Some(id) = msgid {
                        self.in_flight.remove(&id);
                    }
                }
                Event::Shutdown => self.closing = true,
                Event::Idle => {
                    let exit = Exit::Notice(LdapResultCode::Unavailable, "idle timeout".into());
                    return (Some(io), exit);
                }
                Event::Frame(None | Some(Err(CodecError::Io(_)))) => return (None, Exit::Quiet),
                Event::Frame(Some(Err(e))) => {
                    tracing::debug!(peer = %self.client.peer, error = %e, "LDAP protocol error");
                    return (
                        Some(io),
                        Exit::Notice(LdapResultCode::ProtocolError, e.to_string()),
                    );
                }
                Event::Frame(Some(Ok(frame))) => match self.handle(&mut io, frame).await {
                    Next::Continue => {}
                    Next::Exit(Exit::Quiet) => return (None, Exit::Quiet),
                    Next::Exit(exit) => return (Some(io), exit),
                    Next::StartTls(msgid) => match self.start_tls(io, msgid).await {
                        Ok(upgraded) => io = upgraded,
                        Err(exit) => return (None, exit),
                    },
                },
            }
        }
    }

    async fn write(&mut self, io: &mut Transport, first: Bytes) -> Result<(), CodecError> {
        io.feed(first).await?;
        // Batch what is already queued into one flush: one syscall for many small entries.
        for _ in 0..OUTPUT_QUEUE {
            match self.out_rx.try_recv() {
                Ok(b) => io.feed(b).await?,
                Err(_) => break,
            }
        }
        io.flush().await
    }

    async fn flush_pending(&mut self, io: &mut Transport) -> Result<(), CodecError> {
        while let Ok(b) = self.out_rx.try_recv() {
            io.feed(b).await?;
        }
        io.flush().await
    }

    /// Waits for every outstanding operation, writing their output meanwhile.
    async fn quiesce(&mut self, io: &mut Transport) -> Result<(), CodecError> {
        while !self.ops.is_empty() {
            tokio::select! {
                Some(bytes) = self.out_rx.recv() => self.write(io, bytes).await?,
                Some(done) = self.ops.join_next() => {
                    if let Ok(msgid) = done {
                        self.in_flight.remove(&msgid);
                    }
                }
            }
        }
        self.flush_pending(io).await
    }

    /// Runs a point lookup on this task and writes its answer: no blocking-pool hand-off, no
    /// channel. It cannot be abandoned, being over before the next request is read.
    async fn point_lookup(
        &mut self,
        io: &mut Transport,
        msgid: i32,
        search: operations::PreparedSearch,
    ) -> Next {
        let ctx = self.context(msgid, CancelFlag::default());
        let mut frames = Vec::new();
        let done = operations::run_search(&ctx, search, Output::Buffer(&mut frames));
        for frame in frames {
            if io.feed(frame).await.is_err() {
                return Next::Exit(Exit::Quiet);
            }
        }
        match done {
            Some(m) => self.reply(io, m).await,
            None => match io.flush().await {
                Ok(()) => Next::Continue,
                Err(_) => Next::Exit(Exit::Quiet),
            },
        }
    }

    async fn reply(&mut self, io: &mut Transport, msg: LdapMsg) -> Next {
        self.shared.config.stats.response(&msg);
        match io.send(encode(msg)).await {
            Ok(()) => Next::Continue,
            Err(_) => Next::Exit(Exit::Quiet),
        }
    }

    fn context(&self, msgid: i32, cancel: CancelFlag) -> OpContext<D> {
        OpContext {
            shared: Arc::clone(&self.shared),
            session: self.session.clone(),
            client: self.client.clone(),
            tx: self.out_tx.clone(),
            cancel,
            paged: Arc::clone(&self.paged),
            msgid,
        }
    }

    /// Runs `f` on the blocking pool under the server-wide bound on directory calls, in turn:
    /// the connection reads no further request until it is done (a bind, a Password Modify:
    /// both may change the identity the next requests act as). `None` when the server is
    /// shutting down and no call will run.
    async fn in_turn<T: Send + 'static>(
        calls: Arc<tokio::sync::Semaphore>,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<Result<T, tokio::task::JoinError>> {
        let permit = calls.acquire_owned().await.ok()?;
        Some(
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                f()
            })
            .await,
        )
    }

    /// Runs `op` on the blocking pool under the server-wide bound on directory calls.
    fn spawn<F>(&mut self, msgid: i32, op: u64, f: F)
    where
        F: FnOnce(&OpContext<D>) -> Option<LdapMsg> + Send + 'static,
    {
        let cancel = CancelFlag::default();
        if let Some(old) = self.in_flight.insert(msgid, cancel.clone()) {
            // A client reusing an outstanding message id: the old one can no longer be told
            // apart, so it is abandoned.
            old.cancel();
        }
        let ctx = self.context(msgid, cancel);
        let calls = Arc::clone(&self.shared.calls);
        let stats = Arc::clone(&self.shared.config.stats);
        self.ops.spawn(async move {
            let tx = ctx.tx.clone();
            let Ok(permit) = calls.acquire_owned().await else {
                return msgid;
            };
            let ran = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                f(&ctx)
            })
            .await;
            let msg = match ran {
                Ok(m) => m,
                Err(e) => {
                    tracing::error!(error = %e, "LDAP operation failed");
                    response(op, msgid, result(LdapResultCode::Other, "internal error"))
                }
            };
            if let Some(m) = msg {
                stats.response(&m);
                let _ = tx.send(encode(m)).await;
            }
            msgid
        });
    }

    fn supported(oid: &str, op: &LdapOp) -> bool {
        oid == OID_MANAGE_DSA_IT
            || (oid == OID_PAGED_RESULTS && matches!(op, LdapOp::SearchRequest(_)))
            || (oid == ppolicy::OID
                && matches!(op, LdapOp::BindRequest(_) | LdapOp::ExtendedRequest(_)))
    }

    async fn handle(&mut self, io: &mut Transport, frame: Frame) -> Next {
        let (msg, controls) = match frame {
            Frame::Malformed { msgid, op, reason } => {
                tracing::debug!(peer = %self.client.peer, msgid, op, %reason, "malformed LDAP request");
                return match op {
                    2 => Next::Exit(Exit::Quiet),
                    _ => match response(op, msgid, result(LdapResultCode::ProtocolError, reason)) {
                        Some(m) => self.reply(io, m).await,
                        None => Next::Continue,
                    },
                };
            }
            Frame::Msg { msg, controls } => (msg, controls),
        };
        let LdapMsg { msgid, op, ctrl } = msg;
        let wants_policy = controls.iter().any(|c| c.oid == ppolicy::OID);
        // An Unbind's controls are ignored whatever their criticality (RFC 4511 §4.1.11): it
        // has no answer to refuse with, and the client is leaving either way.
        if let Some(ControlInfo { oid, .. }) = controls.iter().find(|c| {
            c.critical && !matches!(op, LdapOp::UnbindRequest) && !Self::supported(&c.oid, &op)
        }) {
            let message = format!("critical control {oid} is not supported");
            return match response(
                op_tag(&op),
                msgid,
                result(LdapResultCode::UnavailableCriticalExtension, message),
            ) {
                Some(m) => self.reply(io, m).await,
                None => Next::Continue,
            };
        }
        match op {
            LdapOp::BindRequest(req) => {
                if self.quiesce(io).await.is_err() {
                    return Next::Exit(Exit::Quiet);
                }
                let shared = Arc::clone(&self.shared);
                let client = self.client.clone();
                let calls = Arc::clone(&self.shared.calls);
                let Some(ran) =
                    Self::in_turn(calls, move || operations::bind(&shared, &client, &req)).await
                else {
                    return Next::Exit(Exit::Quiet);
                };
                let (res, policy) = match ran {
                    Ok((res, session, policy)) => {
                        self.session = session;
                        (res, policy)
                    }
                    Err(_) => {
                        self.session = self.shared.directory.anonymous(&self.client);
                        (result(LdapResultCode::Other, "internal error"), None)
                    }
                };
                // A new identity does not inherit the previous one's paged searches.
                if let Ok(mut p) = self.paged.lock() {
                    p.clear();
                }
                match response(0, msgid, res) {
                    Some(mut m) => {
                        if let Some(policy) = policy.filter(|_| wants_policy) {
                            m.ctrl = vec![policy.control()];
                        }
                        self.reply(io, m).await
                    }
                    None => Next::Continue,
                }
            }
            LdapOp::UnbindRequest => Next::Exit(Exit::Quiet),
            LdapOp::AbandonRequest(id) => {
                if let Some(flag) = self.in_flight.get(&id) {
                    flag.cancel();
                }
                Next::Continue
            }
            LdapOp::SearchRequest(req) => {
                match operations::prepare_search(&self.shared, &self.paged, msgid, req, &ctrl) {
                    Err(done) => self.reply(io, *done).await,
                    Ok(search) if search.is_point_lookup(self.shared.directory.as_ref()) => {
                        self.point_lookup(io, msgid, search).await
                    }
                    Ok(search) => {
                        self.spawn(msgid, 3, move |ctx| {
                            operations::run_search(ctx, search, Output::Channel(&ctx.tx))
                        });
                        Next::Continue
                    }
                }
            }
            LdapOp::CompareRequest(req) => {
                self.spawn(msgid, 14, move |ctx| operations::compare(ctx, req));
                Next::Continue
            }
            LdapOp::AddRequest(req) => {
                self.spawn(msgid, 8, move |ctx| Some(operations::add(ctx, req)));
                Next::Continue
            }
            LdapOp::ModifyRequest(req) => {
                self.spawn(msgid, 6, move |ctx| Some(operations::modify(ctx, req)));
                Next::Continue
            }
            LdapOp::DelRequest(dn) => {
                self.spawn(msgid, 10, move |ctx| Some(operations::delete(ctx, dn)));
                Next::Continue
            }
            LdapOp::ModifyDNRequest(req) => {
                self.spawn(msgid, 12, move |ctx| Some(operations::modify_dn(ctx, req)));
                Next::Continue
            }
            LdapOp::ExtendedRequest(req) => self.extended(io, msgid, req, wants_policy).await,
            _ => Next::Exit(Exit::Notice(
                LdapResultCode::ProtocolError,
                "not a request".into(),
            )),
        }
    }

    async fn extended(
        &mut self,
        io: &mut Transport,
        msgid: i32,
        req: LdapExtendedRequest,
        wants_policy: bool,
    ) -> Next {
        // WhoAmI and StartTLS carry no requestValue (RFC 4532 §2, RFC 4511 §4.14.1).
        if matches!(req.name.as_str(), OID_WHOAMI | OID_STARTTLS) && req.value.is_some() {
            let message = format!("extended operation {} takes no request value", req.name);
            return match response(23, msgid, result(LdapResultCode::ProtocolError, message)) {
                Some(m) => self.reply(io, m).await,
                None => Next::Continue,
            };
        }
        match req.name.as_str() {
            OID_WHOAMI => {
                let m = operations::whoami(msgid, &self.session);
                self.reply(io, m).await
            }
            OID_PASSWORD_MODIFY => {
                let request = match password_modify::parse(req.value.as_deref()) {
                    Ok(request) => request,
                    Err(reason) => {
                        let refusal = result(LdapResultCode::ProtocolError, reason.to_string());
                        return match response(23, msgid, refusal) {
                            Some(m) => self.reply(io, m).await,
                            None => Next::Continue,
                        };
                    }
                };
                // Run in turn, not alongside: a change may lift a limit on the connection's
                // identity, which the requests after it must see.
                let ctx = self.context(msgid, CancelFlag::default());
                let calls = Arc::clone(&self.shared.calls);
                let Some(ran) = Self::in_turn(calls, move || {
                    operations::password_modify(&ctx, request, wants_policy)
                })
                .await
                else {
                    return Next::Exit(Exit::Quiet);
                };
                let m = match ran {
                    Ok((m, session)) => {
                        if let Some(s) = session {
                            self.session = s;
                        }
                        Some(m)
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "LDAP operation failed");
                        response(23, msgid, result(LdapResultCode::Other, "internal error"))
                    }
                };
                match m {
                    Some(m) => self.reply(io, m).await,
                    None => Next::Continue,
                }
            }
            OID_STARTTLS => {
                let refusal = if self.shared.config.tls.is_none() {
                    Some((LdapResultCode::ProtocolError, "StartTLS is not available"))
                } else if self.client.tls {
                    Some((
                        LdapResultCode::OperationsError,
                        "TLS is already established",
                    ))
                } else {
                    None
                };
                match refusal {
                    Some((code, message)) => {
                        let m = LdapMsg::new(
                            msgid,
                            LdapOp::ExtendedResponse(LdapExtendedResponse {
                                res: result(code, message),
                                name: Some(OID_STARTTLS.to_string()),
                                value: None,
                            }),
                        );
                        self.reply(io, m).await
                    }
                    None => Next::StartTls(msgid),
                }
            }
            other => {
                let message = format!("unsupported extended operation {other}");
                match response(23, msgid, result(LdapResultCode::ProtocolError, message)) {
                    Some(m) => self.reply(io, m).await,
                    None => Next::Continue,
                }
            }
        }
    }

    /// Answers a StartTLS request and runs the handshake on the same socket.
    async fn start_tls(&mut self, mut io: Transport, msgid: i32) -> Result<Transport, Exit> {
        let Some(config) = self.shared.config.tls.clone() else {
            return Err(Exit::Quiet);
        };
        self.quiesce(&mut io).await.map_err(|_| Exit::Quiet)?;
        let ok = LdapMsg::new(
            msgid,
            LdapOp::ExtendedResponse(LdapExtendedResponse {
                res: result(LdapResultCode::Success, ""),
                name: Some(OID_STARTTLS.to_string()),
                value: None,
            }),
        );
        self.shared.config.stats.response(&ok);
        io.send(encode(ok)).await.map_err(|_| Exit::Quiet)?;
        let parts = io.into_parts();
        if !parts.read_buf.is_empty() {
            // Plain-text bytes sent after the request would otherwise be read as if they came
            // over TLS (RFC 4513 §3.1.1: the client must wait for the response).
            tracing::debug!(peer = %self.client.peer, "data pipelined after StartTLS; closing");
            return Err(Exit::Quiet);
        }
        let timeout = self.shared.config.limits.tls_handshake_timeout;
        let stream = crate::tls::accept(&config, parts.io, timeout)
            .await
            .map_err(|e| {
                tracing::debug!(peer = %self.client.peer, error = %e, "StartTLS handshake failed");
                Exit::Quiet
            })?;
        self.client.tls = true;
        let codec = Codec::new(self.shared.config.limits.max_request_size);
        Ok(Framed::new(Box::new(stream), codec))
    }
}
