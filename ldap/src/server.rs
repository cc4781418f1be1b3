//! Listeners, connection admission and shutdown.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::directory::Directory;
use crate::entry::Entry;
use crate::paging::OID_PAGED_RESULTS;
use crate::proxy::TrustedProxies;
use crate::schema::{RootDse, Schema};
use crate::session::Connection;
use crate::stats::Stats;
use crate::tls::OID_STARTTLS;

/// Manage DSA IT (RFC 3296): honoured trivially, as the server holds no referral objects.
pub const OID_MANAGE_DSA_IT: &str = "2.16.840.1.113730.3.4.2";
pub use ldap3_proto::proto::{OID_PASSWORD_MODIFY, OID_WHOAMI};

/// Limits that protect the server from clients, by mistake or on purpose.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open connections over all listeners of one [`Server`].
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// Largest request accepted, in bytes; a larger one closes the connection.
    pub max_request_size: usize,
    /// Requests processed at once on one connection; further ones wait in the socket.
    pub max_ops_per_connection: usize,
    /// Directory calls running at once over the whole server (each holds a blocking thread).
    pub max_concurrent_calls: usize,
    /// Entries a search returns at most, whatever the client asks; 0 for none. For a paged
    /// search it caps the page size instead, so that large exports stay possible by paging.
    pub size_limit: usize,
    /// Longest a search may run, whatever the client asks.
    pub time_limit: Option<Duration>,
    /// A connection with no request in flight and nothing received for this long is closed.
    pub idle_timeout: Option<Duration>,
    pub tls_handshake_timeout: Duration,
    /// Paged-search cookies remembered per connection.
    pub max_paged_searches: usize,
    /// Bytes the requests of those paged searches may take together per connection (each
    /// cookie keeps its request to check the next page's); the oldest are forgotten first,
    /// the newest always kept. Without it a client could hold `max_paged_searches` requests
    /// of `max_request_size` on every connection.
    pub max_paged_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            max_connections_per_ip: 512,
            max_request_size: 256 * 1024,
            max_ops_per_connection: 32,
            max_concurrent_calls: 64,
            size_limit: 1000,
            time_limit: Some(Duration::from_secs(60)),
            idle_timeout: Some(Duration::from_secs(15 * 60)),
            tls_handshake_timeout: Duration::from_secs(10),
            max_paged_searches: 16,
            max_paged_bytes: 256 * 1024,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub schema: Arc<Schema>,
    pub root_dse: RootDse,
    pub limits: Limits,
    /// Certificate for LDAPS and StartTLS; without it StartTLS is not offered and
    /// [`Transport::Ldaps`] listeners refuse to start.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Refuse simple binds with a password, and password changes, on connections without TLS
    /// (confidentialityRequired).
    pub require_tls_for_passwords: bool,
    /// Connection and operation counters; share the `Arc` to read them while serving.
    pub stats: Arc<Stats>,
    /// Load balancers whose connections start with a PROXY protocol header naming the client
    /// (see [`crate::proxy`]); connections from them without one are closed.
    pub trusted_proxies: Option<TrustedProxies>,
}

impl ServerConfig {
    pub fn new(root_dse: RootDse) -> ServerConfig {
        ServerConfig {
            schema: Arc::new(Schema::standard()),
            root_dse,
            limits: Limits::default(),
            tls: None,
            require_tls_for_passwords: false,
            stats: Arc::default(),
            trusted_proxies: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Plain LDAP, upgradable with StartTLS when TLS is configured.
    Ldap,
    /// TLS from the first byte.
    Ldaps,
}

/// Anything a connection can run over: TCP, TLS over TCP, or an in-memory pipe in tests.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

pub(crate) struct Shared<D: Directory> {
    pub directory: Arc<D>,
    pub config: ServerConfig,
    pub calls: Arc<Semaphore>,
    pub root_dse: Entry,
    pub subschema: Entry,
    connections: Arc<Semaphore>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    next_id: AtomicU64,
}

/// An LDAP server over one [`Directory`]. Cheap to clone; clones share limits and counters, so
/// one server can serve an LDAP and an LDAPS listener.
pub struct Server<D: Directory> {
    shared: Arc<Shared<D>>,
}

impl<D: Directory> Clone for Server<D> {
    fn clone(&self) -> Self {
        Server {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// Releases a connection's slots when it ends, however it ends.
struct Admission<D: Directory> {
    shared: Arc<Shared<D>>,
    /// The address whose per-address slot the connection holds; `None` until it is known (a
    /// connection from a trusted proxy, before its PROXY header).
    ip: Option<IpAddr>,
    _permit: OwnedSemaphorePermit,
}

impl<D: Directory> Drop for Admission<D> {
    fn drop(&mut self) {
        self.shared.config.stats.connection_closed();
        if let Some(ip) = self.ip
            && let Ok(mut m) = self.shared.per_ip.lock()
            && let Some(n) = m.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                m.remove(&ip);
            }
        }
    }
}

impl<D: Directory> Server<D> {
    pub fn new(directory: Arc<D>, config: ServerConfig) -> Server<D> {
        let mut extensions = vec![OID_WHOAMI, OID_PASSWORD_MODIFY];
        if config.tls.is_some() {
            extensions.push(OID_STARTTLS);
        }
        let root_dse = config.root_dse.entry(
            &[OID_PAGED_RESULTS, OID_MANAGE_DSA_IT, crate::ppolicy::OID],
            &extensions,
            &[],
        );
        let subschema = config.schema.subschema_entry(&config.root_dse.subschema);
        let limits = &config.limits;
        Server {
            shared: Arc::new(Shared {
                directory,
                calls: Arc::new(Semaphore::new(limits.max_concurrent_calls.max(1))),
                connections: Arc::new(Semaphore::new(limits.max_connections.max(1))),
                per_ip: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                root_dse,
                subschema,
                config,
            }),
        }
    }

    /// The counters this server keeps (those of its [`ServerConfig::stats`]).
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.shared.config.stats)
    }

    /// A slot for a new connection, counted against `ip`'s allowance when the address is
    /// known (`None`: a trusted proxy's connection, counted once its header names the client).
    fn admit(&self, ip: Option<IpAddr>) -> Option<Admission<D>> {
        let permit = Arc::clone(&self.shared.connections)
            .try_acquire_owned()
            .ok()?;
        if let Some(ip) = ip
            && !self.count_ip(ip)
        {
            return None;
        }
        self.shared.config.stats.connection_opened();
        Some(Admission {
            shared: Arc::clone(&self.shared),
            ip,
            _permit: permit,
        })
    }

    /// Takes a slot of `ip`'s allowance; false when it has none left.
    fn count_ip(&self, ip: IpAddr) -> bool {
        let Ok(mut m) = self.shared.per_ip.lock() else {
            return false;
        };
        let n = m.entry(ip).or_insert(0);
        if *n >= self.shared.config.limits.max_connections_per_ip {
            return false;
        }
        *n += 1;
        true
    }

    /// Accepts connections until `shutdown` is cancelled, then stops accepting, lets every
    /// connection finish the requests it has in flight, sends each a notice of disconnection
    /// and returns once all are closed.
    pub async fn serve(
        &self,
        listener: TcpListener,
        transport: Transport,
        shutdown: CancellationToken,
    ) -> io::Result<()> {
        let tls = match (transport, &self.shared.config.tls) {
            (Transport::Ldaps, None) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "LDAPS listener without a TLS configuration",
                ));
            }
            (Transport::Ldaps, Some(c)) => Some(Arc::clone(c)),
            (Transport::Ldap, _) => None,
        };
        let tracker = TaskTracker::new();
        loop {
            let (stream, peer) = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        tracing::warn!(error = %e, "LDAP accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            // A trusted proxy's connections count against the client its header names, not
            // against the proxy, which carries everyone's.
            let proxied = self
                .shared
                .config
                .trusted_proxies
                .as_ref()
                .is_some_and(|p| p.trusts(peer.ip()));
            let Some(mut admission) = self.admit((!proxied).then_some(peer.ip())) else {
                self.shared.config.stats.connection_refused();
                tracing::warn!(%peer, "LDAP connection refused: connection limit reached");
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let server = self.clone();
            let shutdown = shutdown.clone();
            let tls = tls.clone();
            tracker.spawn(async move {
                let mut stream = stream;
                let timeout = server.shared.config.limits.tls_handshake_timeout;
                let peer = if proxied {
                    let client = match crate::proxy::read_header(&mut stream, timeout).await {
                        Ok(client) => client.unwrap_or(peer),
                        Err(e) => {
                            tracing::debug!(%peer, error = %e, "LDAP connection from a trusted proxy closed: no valid PROXY header");
                            return;
                        }
                    };
                    if !server.count_ip(client.ip()) {
                        server.shared.config.stats.connection_refused();
                        tracing::warn!(%client, via = %peer, "LDAP connection refused: connection limit reached");
                        return;
                    }
                    admission.ip = Some(client.ip());
                    client
                } else {
                    peer
                };
                let _admission = admission;
                match tls {
                    Some(cfg) => {
                        match crate::tls::accept(&cfg, stream, timeout).await {
                            Ok(s) => server.serve_connection(s, peer, true, shutdown).await,
                            Err(e) => tracing::debug!(%peer, error = %e, "LDAPS handshake failed"),
                        }
                    }
                    None => server.serve_connection(stream, peer, false, shutdown).await,
                }
            });
        }
        tracker.close();
        tracker.wait().await;
        Ok(())
    }

    /// Serves one already accepted connection until it closes. `tls` says whether `io` is
    /// already encrypted. For custom listeners and tests; [`Server::serve`] uses it.
    pub async fn serve_connection(
        &self,
        io: impl Io,
        peer: SocketAddr,
        tls: bool,
        shutdown: CancellationToken,
    ) {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Connection::new(
            Arc::clone(&self.shared),
            Box::new(io),
            peer,
            tls,
            id,
            shutdown,
        );
        conn.run().await;
    }
}
