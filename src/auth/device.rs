//! Telling a person's sign-in devices apart (seed 003: "device tracking"), so that a sign-in
//! from a new one can be reported to its owner. Without a cookie to recognise a browser by, a
//! device is approximated by the kind of client (its `User-Agent` with every version number
//! blanked, so that an update is not a new device) on a network (the client's IPv4 /24 or
//! IPv6 /48, so that a new address from the same provider is not one either). Only a digest
//! of the pair is kept.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// Devices remembered per person, the least recently seen forgotten first.
pub const REMEMBERED: usize = 20;

/// How finely a known device's last sighting is kept: a sign-in that moves it by less writes
/// nothing.
const SEEN_RESOLUTION: time::Duration = time::Duration::days(1);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KnownDevice {
    key: [u8; 16],
    #[serde(with = "time::serde::rfc3339")]
    last_seen: OffsetDateTime,
}

/// What a sign-in's device was to the person's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sighting {
    /// The list was empty: the first sign-in there is nothing to compare with.
    First,
    New,
    Known,
}

/// The device a sign-in came from, as kept: a digest of the client kind and network.
pub fn device_key(user_agent: Option<&str>, client: Option<IpAddr>) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(client_kind(user_agent.unwrap_or("")).as_bytes());
    h.update(b"\n");
    match client.map(network) {
        Some(IpAddr::V4(v4)) => h.update(v4.octets()),
        Some(IpAddr::V6(v6)) => h.update(v6.octets()),
        None => h.update(b"-"),
    }
    let full: [u8; 32] = h.finalize().into();
    let mut key = [0u8; 16];
    key.copy_from_slice(&full[..16]);
    key
}

/// Records that `key` signed in at `now`; returns what it was and whether `devices` changed.
pub fn remember(
    devices: &mut Vec<KnownDevice>,
    key: [u8; 16],
    now: OffsetDateTime,
) -> (Sighting, bool) {
    if let Some(known) = devices.iter_mut().find(|d| d.key == key) {
        if now - known.last_seen < SEEN_RESOLUTION {
            return (Sighting::Known, false);
        }
        known.last_seen = now;
        return (Sighting::Known, true);
    }
    let sighting = if devices.is_empty() {
        Sighting::First
    } else {
        Sighting::New
    };
    if devices.len() >= REMEMBERED
        && let Some(oldest) = devices
            .iter()
            .enumerate()
            .min_by_key(|(_, d)| d.last_seen)
            .map(|(i, _)| i)
    {
        devices.swap_remove(oldest);
    }
    devices.push(KnownDevice {
        key,
        last_seen: now,
    });
    (sighting, true)
}

/// The `User-Agent` with every run of digits blanked: `Chrome/131.0.6778.85` and
/// `Chrome/132.0.6834.57` are one kind of client.
fn client_kind(user_agent: &str) -> String {
    let mut kind = String::with_capacity(user_agent.len());
    let mut in_digits = false;
    for c in user_agent.trim().chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                kind.push('#');
            }
            in_digits = true;
        } else {
            kind.push(c);
            in_digits = false;
        }
    }
    kind
}

fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => network(IpAddr::V4(v4)),
            None => {
                let mut o = v6.octets();
                o[6..].fill(0);
                IpAddr::from(o)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_131: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
        (KHTML, like Gecko) Chrome/131.0.6778.85 Safari/537.36";
    const CHROME_132: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
        (KHTML, like Gecko) Chrome/132.0.6834.57 Safari/537.36";

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn updates_and_neighbouring_addresses_are_the_same_device() {
        let home = device_key(Some(CHROME_131), ip("198.51.100.7"));
        assert_eq!(home, device_key(Some(CHROME_132), ip("198.51.100.200")));
        assert_eq!(
            home,
            device_key(Some(CHROME_131), ip("::ffff:198.51.100.9"))
        );
        assert_ne!(home, device_key(Some(CHROME_131), ip("198.51.101.7")));
        assert_ne!(home, device_key(Some("curl/8.5.0"), ip("198.51.100.7")));
        assert_ne!(home, device_key(None, ip("198.51.100.7")));
        let v6 = device_key(Some(CHROME_131), ip("2001:db8:1:2::1"));
        assert_eq!(v6, device_key(Some(CHROME_131), ip("2001:db8:1:ff::9")));
        assert_ne!(v6, device_key(Some(CHROME_131), ip("2001:db8:2::1")));
    }

    #[test]
    fn the_first_device_is_not_new_and_the_least_recent_is_forgotten() {
        let t0 = OffsetDateTime::now_utc();
        let key = |i: u8| [i; 16];
        let mut devices = Vec::new();
        assert_eq!(remember(&mut devices, key(0), t0), (Sighting::First, true));
        assert_eq!(remember(&mut devices, key(0), t0), (Sighting::Known, false));
        let later = t0 + time::Duration::days(2);
        assert_eq!(
            remember(&mut devices, key(0), later),
            (Sighting::Known, true)
        );
        for i in 1..REMEMBERED as u8 {
            let at = t0 + time::Duration::hours(i.into());
            assert_eq!(remember(&mut devices, key(i), at), (Sighting::New, true));
        }
        assert_eq!(devices.len(), REMEMBERED);
        // Full: the newcomer takes the place of device 1, the least recently seen (device 0
        // was seen again later).
        let newcomer = REMEMBERED as u8;
        assert_eq!(
            remember(&mut devices, key(newcomer), later),
            (Sighting::New, true)
        );
        assert_eq!(devices.len(), REMEMBERED);
        assert!(devices.iter().all(|d| d.key != key(1)));
        assert!(devices.iter().any(|d| d.key == key(0)));
    }
}
