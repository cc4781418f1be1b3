//! LDAP and LDAPS listeners: the protocol crate's server over the core's directory adapter.

use std::sync::Arc;
use std::time::Duration;

use rollcall_ldap::{Dn, Limits, RootDse, Server, ServerConfig, TrustedProxies};

use crate::adapter::ldap::{LdapDirectory, schema};
use crate::config::Config;
use crate::service::Service;

pub fn server(
    config: &Config,
    service: Service,
    tls: Arc<rustls::ServerConfig>,
) -> Result<Server<LdapDirectory>, rollcall_ldap::DnError> {
    let base = Dn::parse(&config.base_dn)?;
    let schema = Arc::new(schema(&config.custom_attributes));
    let directory = LdapDirectory::new(service, base.clone(), Arc::clone(&schema));
    let mut server_config = ServerConfig::new(RootDse::new(
        vec![base],
        "Rollcall",
        env!("CARGO_PKG_VERSION"),
    ));
    server_config.schema = schema;
    server_config.tls = Some(tls);
    server_config.require_tls_for_passwords = config.ldap.require_tls;
    let l = &config.ldap;
    if !l.trusted_proxies.is_empty() {
        let proxies = l.trusted_proxies.clone();
        server_config.trusted_proxies = Some(TrustedProxies::new(move |ip| {
            proxies.iter().any(|n| n.contains(ip))
        }));
    }
    server_config.limits = Limits {
        max_connections: l.max_connections,
        max_connections_per_ip: l.max_connections_per_ip,
        max_request_size: l.max_request_bytes,
        // Unfinished paged searches keep their requests: together no more than one request
        // of the largest size, the memory a connection may already take for one in flight.
        max_paged_bytes: l.max_request_bytes,
        size_limit: l.size_limit,
        time_limit: (l.time_limit_seconds > 0).then(|| Duration::from_secs(l.time_limit_seconds)),
        ..Limits::default()
    };
    Ok(Server::new(Arc::new(directory), server_config))
}
