//! The client behind a reverse proxy. Behind nginx, an ingress or a load balancer every
//! connection comes from the proxy, so the audit trail, lockout notices and a role's
//! `allowedNetworks` would all see the proxy's address. A proxy listed in `[http]
//! trusted_proxies` says who its client was in `X-Forwarded-For`; a client connecting
//! directly could write that header too, so it is believed only from those proxies, and only
//! as far as the chain of trusted proxies reaches.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;

use crate::model::Network;

/// The address of the client `peer` forwarded for: reading `X-Forwarded-For` from the right
/// (the hop `peer` itself saw), the first address that is not a trusted proxy. Left of it,
/// every entry could have been written by the client. A `peer` that is not trusted, or a
/// header with no usable entry, leaves `peer`.
pub fn client(peer: IpAddr, headers: &HeaderMap, trusted: &[Network]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    let mut client = peer.to_canonical();
    if !is_trusted(client) {
        return client;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for hop in hops.into_iter().rev() {
        // A hop that does not parse was not written by a proxy we trust: what is left of it
        // cannot be told apart from the client's own words.
        let Some(ip) = parse_hop(hop) else {
            return client;
        };
        client = ip;
        if !is_trusted(ip) {
            return ip;
        }
    }
    client
}

/// `203.0.113.7`, `2001:db8::7`, or either with a port (`203.0.113.7:4711`,
/// `[2001:db8::7]:4711`), as proxies write them.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// Middleware: replaces the connection's address that handlers read (`ConnectInfo`) by the
/// forwarded client's, for requests from a trusted proxy.
pub async fn forwarded_client(
    State(trusted): State<Arc<[Network]>>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .copied()
    {
        let client = client(peer.ip(), request.headers(), &trusted);
        if client != peer.ip() {
            request
                .extensions_mut()
                .insert(ConnectInfo(SocketAddr::new(client, peer.port())));
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_client_is_the_first_untrusted_hop_from_the_right() {
        let trusted: Vec<Network> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy = ip("10.0.0.5");
        // One proxy.
        assert_eq!(
            client(proxy, &headers(&["203.0.113.7"]), &trusted),
            ip("203.0.113.7")
        );
        // A forged entry left of the real client is not believed.
        assert_eq!(
            client(proxy, &headers(&["198.51.100.1, 203.0.113.7"]), &trusted),
            ip("203.0.113.7")
        );
        // A chain of trusted proxies, across several header lines, with ports.
        assert_eq!(
            client(proxy, &headers(&["203.0.113.7:4711", "10.1.1.1"]), &trusted),
            ip("203.0.113.7")
        );
        assert_eq!(
            client(proxy, &headers(&["[2001:db8::7]:443, 10.2.2.2"]), &trusted),
            ip("2001:db8::7")
        );
        // Only proxies: the farthest one.
        assert_eq!(
            client(proxy, &headers(&["10.9.9.9"]), &trusted),
            ip("10.9.9.9")
        );
        // No header, or nothing usable in it: the proxy itself.
        assert_eq!(client(proxy, &headers(&[]), &trusted), proxy);
        assert_eq!(client(proxy, &headers(&["unknown"]), &trusted), proxy);
        assert_eq!(
            client(proxy, &headers(&["203.0.113.7, garbage"]), &trusted),
            proxy,
            "nothing left of a hop the proxy did not write is believed"
        );
    }

    #[test]
    fn a_client_that_is_not_a_trusted_proxy_cannot_name_another() {
        let trusted: Vec<Network> = vec!["10.0.0.0/8".parse().unwrap()];
        let direct = ip("198.51.100.1");
        assert_eq!(client(direct, &headers(&["10.0.0.1"]), &trusted), direct);
        assert_eq!(client(direct, &headers(&["203.0.113.7"]), &[]), direct);
        // An IPv4 proxy reached over an IPv6 socket is still the proxy.
        assert_eq!(
            client(ip("::ffff:10.0.0.5"), &headers(&["203.0.113.7"]), &trusted),
            ip("203.0.113.7")
        );
    }
}
