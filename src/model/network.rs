use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An address block in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, or one address), as a
/// role's `allowedNetworks` lists them (seed 003: "IP restrictions").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Network {
    /// The first address of the block: bits past the prefix are zero.
    base: IpAddr,
    prefix: u8,
}

impl Network {
    /// Whether `addr` is in the block. An IPv4 client reached over an IPv6 socket
    /// (`::ffff:10.1.2.3`) is matched as the IPv4 address it is.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.base, addr.to_canonical()) {
            (IpAddr::V4(base), IpAddr::V4(a)) => {
                mask(u128::from(u32::from(a)), self.prefix, 32) == u128::from(u32::from(base))
            }
            (IpAddr::V6(base), IpAddr::V6(a)) => {
                mask(u128::from(a), self.prefix, 128) == base.into()
            }
            _ => false,
        }
    }
}

/// `bits` (an address of `width` bits) with everything past `prefix` cleared.
fn mask(bits: u128, prefix: u8, width: u8) -> u128 {
    let host = u32::from(width - prefix);
    if host >= 128 {
        0
    } else {
        bits & !((1u128 << host) - 1)
    }
}

impl FromStr for Network {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an address or network (e.g. 10.0.0.0/8)"))?;
        let addr = addr.to_canonical();
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {width}"))?,
        };
        let base = match addr {
            IpAddr::V4(a) => IpAddr::V4((mask(u128::from(u32::from(a)), prefix, 32) as u32).into()),
            IpAddr::V6(a) => IpAddr::V6(mask(u128::from(a), prefix, 128).into()),
        };
        if base != addr {
            // `10.1.2.3/8` is more often a typo for a host than a wish for all of 10/8.
            return Err(format!(
                "{s:?} has bits set past its prefix: write {base}/{prefix} for the block, or the \
                 address alone"
            ));
        }
        Ok(Self { base, prefix })
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

impl Serialize for Network {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Network {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_hold_their_addresses_and_no_others() {
        let office = net("10.20.0.0/16");
        assert!(office.contains(ip("10.20.0.0")));
        assert!(office.contains(ip("10.20.255.255")));
        assert!(!office.contains(ip("10.21.0.0")));
        assert!(
            office.contains(ip("::ffff:10.20.1.2")),
            "IPv4 over an IPv6 socket"
        );
        assert!(!office.contains(ip("2001:db8::1")));
        let v6 = net("2001:db8::/32");
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.20.1.2")));
        assert!(net("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(net("::/0").contains(ip("2001:db8::1")));
        let host = net("192.0.2.7");
        assert_eq!(host.to_string(), "192.0.2.7/32");
        assert!(host.contains(ip("192.0.2.7")) && !host.contains(ip("192.0.2.8")));
        assert_eq!(net("::ffff:192.0.2.0/24").to_string(), "192.0.2.0/24");
    }

    #[test]
    fn malformed_networks_say_what_is_wrong() {
        for (bad, why) in [
            ("10.0.0.0/33", "prefix length must be 0 to 32"),
            ("2001:db8::/129", "0 to 128"),
            ("10.0.0.0/x", "prefix length"),
            ("office", "not an address or network"),
            ("10.1.2.3/8", "write 10.0.0.0/8"),
        ] {
            let e = bad.parse::<Network>().unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn networks_travel_as_strings() {
        let n: Network = serde_json::from_str("\"172.16.0.0/12\"").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"172.16.0.0/12\"");
        assert!(serde_json::from_str::<Network>("\"172.16.0.1/12\"").is_err());
    }
}
