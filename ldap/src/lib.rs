//! LDAP v3 server protocol for Rollcall, on `ldap3_proto` + tokio + tokio-rustls.
//!
//! The crate knows nothing of storage or authorisation: the core implements [`Directory`] and the
//! server handles the wire, sessions, filters, attribute selection, limits, paging and TLS.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use rollcall_ldap::*;
//! # async fn run<D: Directory>(directory: Arc<D>, cert: &[u8], key: &[u8]) -> std::io::Result<()> {
//! let base = Dn::parse("dc=example,dc=com").expect("dn");
//! let mut config = ServerConfig::new(RootDse::new(vec![base], "Rollcall", "0.1.0"));
//! config.tls = Some(tls::server_config_from_pem(cert, key).expect("certificate"));
//! let server = Server::new(directory, config);
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! let ldap = tokio::net::TcpListener::bind("127.0.0.1:3890").await?;
//! let ldaps = tokio::net::TcpListener::bind("127.0.0.1:6360").await?;
//! let (a, b) = tokio::join!(
//!     server.serve(ldap, Transport::Ldap, shutdown.clone()),
//!     server.serve(ldaps, Transport::Ldaps, shutdown.clone()),
//! );
//! a?;
//! b?;
//! # Ok(())
//! # }
//! ```

mod ber;
mod certificate;
mod codec;
mod constraints;
pub mod directory;
pub mod dn;
pub mod entry;
pub mod filter;
mod operations;
mod paging;
mod password_modify;
pub mod ppolicy;
pub mod proxy;
pub mod schema;
mod search;
pub mod server;
mod session;
mod shape;
pub mod stats;
pub mod tls;

pub use directory::{
    AddRequest, ClientInfo, Directory, EntrySink, LdapError, Modification, ModifyDnRequest,
    ModifyOp, ModifyRequest, PasswordModified, PasswordModify, SearchQuery, Session, Stop,
};
pub use dn::{Dn, DnError, Rdn};
pub use entry::{Attribute, Entry, Selection};
pub use filter::{Filter, FilterParseError, Plan, Truth, parse_filter};
pub use ldap3_proto;
pub use ldap3_proto::proto::{LdapFilter, LdapResultCode, LdapSearchScope};
pub use paging::OID_PAGED_RESULTS;
pub use proxy::TrustedProxies;
pub use schema::{RootDse, Schema};
pub use server::{Io, Limits, Server, ServerConfig, Transport};
pub use stats::Stats;
