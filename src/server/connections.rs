//! HTTP connections: how they are accepted, limited and served. Limits: how many may be open
//! at once (`[http] max_connections`), how long one may sit with nothing read or written
//! (`[http] idle_timeout_seconds`), and how long a request's head may take to arrive
//! (`[http] header_timeout_seconds`). Without them, a client that opens connections and then
//! sends nothing, or sends a header a byte at a time, holds a file descriptor each until the
//! process runs out, and then nobody is served. At the limit, new connections wait in the
//! kernel's backlog rather than being accepted and dropped.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// The limits a served HTTP connection is held to.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_connections: usize,
    /// Connections one address may hold at once; more from it are closed as they come, so
    /// that one client cannot take every slot. `exempt` (the trusted reverse proxies, which
    /// carry everyone's connections) are held only to `max_connections`.
    pub per_address: usize,
    pub exempt: Arc<[crate::model::Network]>,
    /// Nothing read or written for this long: closed.
    pub idle: Duration,
    /// From when the server waits for a request (a new connection, or one kept alive after an
    /// answer) to the end of its headers. Unlike `idle`, a client cannot stretch it by sending
    /// a byte now and then.
    pub head: Duration,
}

/// Serves `app` on what `listener` accepts until `shutdown` is cancelled, then waits for the
/// requests in flight to be answered. Each request carries `ConnectInfo<SocketAddr>`.
///
/// Hyper's connection builder is set up here rather than through `axum::serve` because only
/// the builder takes a timer, without which hyper has no header deadline at all.
pub async fn serve<L>(
    listener: L,
    app: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> io::Result<()>
where
    L: Listener<Addr = SocketAddr>,
    L::Io: Unpin,
{
    let head = limits.head;
    let mut listener = Guarded::new(listener, limits);
    let connections = TaskTracker::new();
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let service = app
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let service = TowerToHyperService::new(service);
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(head);
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
            let mut connection = std::pin::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                () = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "HTTP connection ended");
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
    Ok(())
}

/// A listener whose connections count against the limits and end when idle.
pub struct Guarded<L> {
    inner: L,
    slots: Arc<Semaphore>,
    addresses: Arc<Addresses>,
    idle: Duration,
}

impl<L> Guarded<L> {
    pub fn new(inner: L, limits: Limits) -> Self {
        Self {
            inner,
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            addresses: Arc::new(Addresses {
                limit: limits.per_address,
                exempt: limits.exempt,
                open: Mutex::new(HashMap::new()),
            }),
            idle: limits.idle,
        }
    }
}

impl<L> Guarded<L>
where
    L: Listener<Addr = SocketAddr>,
    L::Io: Unpin,
{
    async fn accept(&mut self) -> (GuardedIo<L::Io>, SocketAddr) {
        // The semaphore is never closed, so a permit always comes (when one is free).
        let permit = match Arc::clone(&self.slots).acquire_owned().await {
            Ok(permit) => permit,
            Err(_) => std::future::pending().await,
        };
        loop {
            let (io, peer) = self.inner.accept().await;
            match Addresses::admit(&self.addresses, peer.ip()) {
                Some(held) => return (GuardedIo::new(io, permit, held, self.idle), peer),
                None => {
                    tracing::debug!(%peer, "HTTP connection closed: too many from its address");
                    drop(io);
                }
            }
        }
    }
}

/// Connections open per client address.
struct Addresses {
    limit: usize,
    exempt: Arc<[crate::model::Network]>,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl Addresses {
    /// A hold on one of `ip`'s connections, or `None` when it has its limit already.
    fn admit(this: &Arc<Addresses>, ip: IpAddr) -> Option<AddressHold> {
        let ip = ip.to_canonical();
        if this.exempt.iter().any(|n| n.contains(ip)) {
            return Some(AddressHold {
                ip: None,
                of: Arc::clone(this),
            });
        }
        let mut open = this
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = open.entry(ip).or_default();
        if *n >= this.limit {
            return None;
        }
        *n += 1;
        Some(AddressHold {
            ip: Some(ip),
            of: Arc::clone(this),
        })
    }
}

/// One connection's place in its address's count, given back when the connection closes.
struct AddressHold {
    ip: Option<IpAddr>,
    of: Arc<Addresses>,
}

impl Drop for AddressHold {
    fn drop(&mut self) {
        let Some(ip) = self.ip else { return };
        let mut open = self
            .of
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = open.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&ip);
            }
        }
    }
}

/// A connection that holds its slot until dropped and fails its next read once nothing has
/// been read or written for the idle time (hyper then closes it).
pub struct GuardedIo<T> {
    io: T,
    _slot: OwnedSemaphorePermit,
    _address: AddressHold,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<T> GuardedIo<T> {
    fn new(io: T, slot: OwnedSemaphorePermit, address: AddressHold, idle: Duration) -> Self {
        Self {
            io,
            _slot: slot,
            _address: address,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn active(&mut self) {
        let next = Instant::now() + self.idle;
        self.deadline.as_mut().reset(next);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for GuardedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(result) => {
                this.active();
                Poll::Ready(result)
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "idle HTTP connection closed",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for GuardedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write(cx, buf);
        if written.is_ready() {
            this.active();
        }
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if written.is_ready() {
            this.active();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
