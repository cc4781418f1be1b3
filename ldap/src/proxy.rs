//! The PROXY protocol (HAProxy, v1 text and v2 binary): a load balancer that passes LDAP
//! connections through (HAProxy `send-proxy`, AWS NLB, Kubernetes ingress for TCP) starts each
//! one with a header naming the client it came from. Without it every bind would be seen, and
//! audited and judged by network, as coming from the load balancer.
//!
//! The header is read only from the peers the server is told to trust, and then it is
//! required: from anyone else it would be a forged address.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Which peers are proxies whose connections start with a PROXY header.
#[derive(Clone)]
pub struct TrustedProxies(Arc<dyn Fn(IpAddr) -> bool + Send + Sync>);

impl TrustedProxies {
    pub fn new(is_proxy: impl Fn(IpAddr) -> bool + Send + Sync + 'static) -> Self {
        Self(Arc::new(is_proxy))
    }

    pub fn trusts(&self, peer: IpAddr) -> bool {
        (self.0)(peer.to_canonical())
    }
}

impl fmt::Debug for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TrustedProxies(..)")
    }
}

/// The v2 signature.
const V2: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// A v1 line is at most 107 bytes, CRLF included.
const V1_MAX: usize = 107;

fn invalid(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

/// Reads the PROXY header at the start of `stream`, no byte past it, within `timeout`.
/// Returns the client it names, or `None` for a header that names none (v1 `UNKNOWN`, v2
/// `LOCAL`, a health check by the proxy itself, or an address family other than TCP).
pub async fn read_header<S: AsyncRead + Unpin>(
    stream: &mut S,
    timeout: Duration,
) -> io::Result<Option<SocketAddr>> {
    tokio::time::timeout(timeout, read(stream))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no PROXY header in time"))?
}

async fn read<S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<Option<SocketAddr>> {
    let mut start = [0u8; 12];
    stream.read_exact(&mut start).await?;
    if start == V2 {
        let mut head = [0u8; 4];
        stream.read_exact(&mut head).await?;
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let mut body = vec![0u8; len];
        stream.read_exact(&mut body).await?;
        return v2(head[0], head[1], &body);
    }
    if !start.starts_with(b"PROXY ") {
        return Err(invalid("the connection does not start with a PROXY header"));
    }
    let mut line = start.to_vec();
    while !line.ends_with(b"\r\n") {
        if line.len() >= V1_MAX {
            return Err(invalid("PROXY v1 line too long"));
        }
        line.push(stream.read_u8().await?);
    }
    let text = std::str::from_utf8(&line[..line.len() - 2])
        .map_err(|_| invalid("PROXY v1 line is not text"))?;
    v1(text)
}

/// `PROXY TCP4 203.0.113.7 192.0.2.1 40000 389`.
fn v1(line: &str) -> io::Result<Option<SocketAddr>> {
    let fields: Vec<&str> = line.split(' ').collect();
    match fields.as_slice() {
        ["PROXY", "UNKNOWN", ..] => Ok(None),
        [
            "PROXY",
            family @ ("TCP4" | "TCP6"),
            source,
            _dest,
            port,
            _dport,
        ] => {
            let ip: IpAddr = source
                .parse()
                .map_err(|_| invalid(format!("PROXY v1 source {source:?}")))?;
            if ip.is_ipv4() != (*family == "TCP4") {
                return Err(invalid(format!("PROXY v1 {family} with source {source}")));
            }
            let port: u16 = port
                .parse()
                .map_err(|_| invalid(format!("PROXY v1 source port {port:?}")))?;
            Ok(Some(SocketAddr::new(ip, port)))
        }
        _ => Err(invalid(format!("malformed PROXY v1 line {line:?}"))),
    }
}

fn v2(version_command: u8, family: u8, body: &[u8]) -> io::Result<Option<SocketAddr>> {
    if version_command >> 4 != 2 {
        return Err(invalid("PROXY v2 header of another version"));
    }
    match version_command & 0x0f {
        0 => return Ok(None), // LOCAL: the proxy's own connection
        1 => {}
        other => return Err(invalid(format!("PROXY v2 command {other}"))),
    }
    let short = || invalid("PROXY v2 address block too short");
    match family {
        // TCP over IPv4: source, destination, source port, destination port.
        0x11 => {
            let b: &[u8; 12] = body
                .get(..12)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(short)?;
            let ip = Ipv4Addr::new(b[0], b[1], b[2], b[3]);
            Ok(Some(SocketAddr::new(
                ip.into(),
                u16::from_be_bytes([b[8], b[9]]),
            )))
        }
        0x21 => {
            let b: &[u8; 36] = body
                .get(..36)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(short)?;
            let octets: [u8; 16] = b[..16].try_into().expect("16 bytes");
            let ip = Ipv6Addr::from(octets);
            Ok(Some(SocketAddr::new(
                ip.into(),
                u16::from_be_bytes([b[32], b[33]]),
            )))
        }
        // UNSPEC, UDP, UNIX: nothing an LDAP client address can be.
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn header(bytes: &[u8]) -> (io::Result<Option<SocketAddr>>, Vec<u8>) {
        let mut input = bytes;
        let got = read_header(&mut input, Duration::from_secs(1)).await;
        (got, input.to_vec())
    }

    fn v2_tcp4(command: u8) -> Vec<u8> {
        let mut h = V2.to_vec();
        h.extend_from_slice(&[0x20 | command, 0x11, 0, 12]);
        h.extend_from_slice(&[203, 0, 113, 7, 192, 0, 2, 1]);
        h.extend_from_slice(&40000u16.to_be_bytes());
        h.extend_from_slice(&389u16.to_be_bytes());
        h
    }

    #[tokio::test]
    async fn headers_name_the_client_and_leave_the_ldap_bytes() {
        let ldap = [0x30, 0x0c, 0x02, 0x01, 0x01];
        let client: SocketAddr = "203.0.113.7:40000".parse().unwrap();

        let mut v1 = b"PROXY TCP4 203.0.113.7 192.0.2.1 40000 389\r\n".to_vec();
        v1.extend_from_slice(&ldap);
        assert_eq!(header(&v1).await.0.unwrap(), Some(client));
        assert_eq!(header(&v1).await.1, ldap, "nothing past the header is read");

        let v6 = b"PROXY TCP6 2001:db8::7 2001:db8::1 40000 389\r\n";
        assert_eq!(
            header(v6).await.0.unwrap(),
            Some("[2001:db8::7]:40000".parse().unwrap())
        );
        assert_eq!(header(b"PROXY UNKNOWN\r\n").await.0.unwrap(), None);

        let mut v2 = v2_tcp4(1);
        v2.extend_from_slice(&ldap);
        assert_eq!(header(&v2).await.0.unwrap(), Some(client));
        assert_eq!(header(&v2).await.1, ldap);
        assert_eq!(header(&v2_tcp4(0)).await.0.unwrap(), None, "LOCAL");
    }

    #[tokio::test]
    async fn anything_else_is_refused() {
        for bad in [
            &[
                0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00,
            ][..],
            b"PROXY TCP4 203.0.113.7 192.0.2.1 40000\r\n",
            b"PROXY TCP4 2001:db8::7 192.0.2.1 40000 389\r\n",
            b"PROXY TCP4 203.0.113.7 192.0.2.1 70000 389\r\n",
            &[b'P'; 200][..],
        ] {
            assert!(
                header(bad).await.0.is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let mut v3 = v2_tcp4(1);
        v3[12] = 0x31;
        assert!(header(&v3).await.0.is_err());
        let mut short = V2.to_vec();
        short.extend_from_slice(&[0x21, 0x11, 0, 4, 1, 2, 3, 4]);
        assert!(header(&short).await.0.is_err());
        // A client that never sends the header is not waited for forever.
        let (_keep, mut silent) = tokio::io::duplex(64);
        let got = read_header(&mut silent, Duration::from_millis(50)).await;
        assert_eq!(got.unwrap_err().kind(), io::ErrorKind::TimedOut);
    }
}
