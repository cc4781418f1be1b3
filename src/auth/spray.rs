//! Password spraying (seed 003, admin notifications: "failed login attempts", "unusual activity
//! patterns"). One guessed password tried against many users stays under every user's lockout
//! threshold, so only counting by client address sees it: failed sign-ins for
//! `spray_threshold` different userNames from one address within the lockout window flag the
//! address. The caller tells the administrators and, when blocking is on, refuses the
//! address's sign-ins for the lockout duration.
//!
//! Kept in memory: a restart forgets it, like the attacker's progress it measures (the user
//! lockouts, which protect each account, are stored). IPv6 clients count by /64, the block
//! one subscriber usually gets, so an attacker cannot step through addresses of its own.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses tracked at most; past it, expired ones are dropped, and a new address is not
/// tracked while every slot is live (memory stays bounded whatever an attacker sends from).
const MAX_TRACKED: usize = 65_536;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SprayPolicy {
    /// Different userNames whose failures flag an address; 0: never.
    pub threshold: u32,
    pub window: Duration,
    /// How long a flagged address's sign-ins are refused; `None`: it is only reported.
    pub block_for: Option<Duration>,
}

/// An address that just reached the threshold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flagged {
    /// The address, or its /64 for IPv6, as text (`203.0.113.9`, `2001:db8:1:2::/64`).
    pub address: String,
    pub users: usize,
    pub blocked_for: Option<Duration>,
}

struct Tracked {
    since: Instant,
    /// Folded userNames that failed, at most `threshold` of them.
    users: HashSet<String>,
    blocked_until: Option<Instant>,
}

pub struct Sprays {
    policy: SprayPolicy,
    tracked: Mutex<HashMap<IpAddr, Tracked>>,
}

impl Sprays {
    pub fn new(policy: SprayPolicy) -> Self {
        Self {
            policy,
            tracked: Mutex::new(HashMap::new()),
        }
    }

    /// Whether sign-ins from `client` are refused at `now`.
    pub fn blocked(&self, client: IpAddr, now: Instant) -> bool {
        if self.policy.threshold == 0 || self.policy.block_for.is_none() {
            return false;
        }
        self.tracked
            .lock()
            .expect("spray lock")
            .get(&key(client))
            .and_then(|t| t.blocked_until)
            .is_some_and(|until| until > now)
    }

    /// Counts a failed sign-in of `user` (folded) from `client`; `Some` when it is the one that
    /// reaches the threshold, once per window.
    pub fn failed(&self, client: IpAddr, user: &str, now: Instant) -> Option<Flagged> {
        let threshold = usize::try_from(self.policy.threshold).unwrap_or(usize::MAX);
        if threshold == 0 {
            return None;
        }
        let key = key(client);
        let mut tracked = self.tracked.lock().expect("spray lock");
        if !tracked.contains_key(&key) && tracked.len() >= MAX_TRACKED {
            let window = self.policy.window;
            tracked.retain(|_, t| {
                now.duration_since(t.since) <= window || t.blocked_until.is_some_and(|u| u > now)
            });
            if tracked.len() >= MAX_TRACKED {
                return None;
            }
        }
        let entry = tracked.entry(key).or_insert_with(|| Tracked {
            since: now,
            users: HashSet::new(),
            blocked_until: None,
        });
        if now.duration_since(entry.since) > self.policy.window {
            entry.since = now;
            entry.users.clear();
        }
        if entry.users.len() >= threshold || !entry.users.insert(user.to_string()) {
            return None;
        }
        if entry.users.len() < threshold {
            return None;
        }
        entry.blocked_until = self.policy.block_for.map(|d| now + d);
        Some(Flagged {
            address: shown(key, client),
            users: entry.users.len(),
            blocked_for: self.policy.block_for,
        })
    }
}

/// What an address counts as: itself for IPv4 (also when mapped into IPv6), its /64 for IPv6.
fn key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}

fn shown(key: IpAddr, client: IpAddr) -> String {
    match (key, client) {
        (IpAddr::V6(prefix), IpAddr::V6(_)) => format!("{prefix}/64"),
        _ => key.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sprays(threshold: u32, block: bool) -> Sprays {
        Sprays::new(SprayPolicy {
            threshold,
            window: Duration::from_secs(60),
            block_for: block.then_some(Duration::from_secs(30)),
        })
    }

    #[test]
    fn different_users_from_one_address_flag_it_once() {
        let s = sprays(3, false);
        let t = Instant::now();
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(s.failed(ip, "a", t), None);
        assert_eq!(
            s.failed(ip, "a", t),
            None,
            "the same user again is no spraying"
        );
        assert_eq!(s.failed(ip, "b", t), None);
        let other: IpAddr = "203.0.113.10".parse().unwrap();
        assert_eq!(s.failed(other, "c", t), None, "counted per address");
        let flagged = s.failed(ip, "c", t).expect("the third user flags it");
        assert_eq!(flagged.address, "203.0.113.9");
        assert_eq!(flagged.users, 3);
        assert_eq!(flagged.blocked_for, None);
        assert_eq!(s.failed(ip, "d", t), None, "one report per window");
        assert!(!s.blocked(ip, t), "reported only, unless blocking is on");
    }

    #[test]
    fn a_window_that_ends_starts_the_count_again() {
        let s = sprays(2, false);
        let t = Instant::now();
        let ip: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(s.failed(ip, "a", t), None);
        assert_eq!(s.failed(ip, "b", t + Duration::from_secs(61)), None);
        assert!(s.failed(ip, "c", t + Duration::from_secs(62)).is_some());
        assert!(
            s.failed(ip, "d", t + Duration::from_secs(200)).is_none()
                && s.failed(ip, "e", t + Duration::from_secs(201)).is_some(),
            "a later window reports again"
        );
    }

    #[test]
    fn a_flagged_address_is_refused_for_the_block_time_only() {
        let s = sprays(2, true);
        let t = Instant::now();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        s.failed(ip, "a", t);
        assert!(!s.blocked(ip, t));
        assert_eq!(
            s.failed(ip, "b", t).unwrap().blocked_for,
            Some(Duration::from_secs(30))
        );
        assert!(s.blocked(ip, t + Duration::from_secs(29)));
        assert!(!s.blocked(ip, t + Duration::from_secs(31)));
        assert!(!s.blocked("192.0.2.8".parse().unwrap(), t));
    }

    #[test]
    fn ipv6_counts_by_64_and_mapped_ipv4_as_ipv4() {
        let s = sprays(2, true);
        let t = Instant::now();
        s.failed("2001:db8:1:2::1".parse().unwrap(), "a", t);
        let flagged = s
            .failed("2001:db8:1:2:ffff::9".parse().unwrap(), "b", t)
            .expect("one /64");
        assert_eq!(flagged.address, "2001:db8:1:2::/64");
        assert!(s.blocked("2001:db8:1:2:abcd::1".parse().unwrap(), t));
        assert!(!s.blocked("2001:db8:1:3::1".parse().unwrap(), t));
        s.failed("::ffff:192.0.2.1".parse().unwrap(), "a", t);
        assert!(s.failed("192.0.2.1".parse().unwrap(), "b", t).is_some());
    }

    #[test]
    fn off_at_zero() {
        let s = sprays(0, true);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for user in ["a", "b", "c"] {
            assert_eq!(s.failed(ip, user, Instant::now()), None);
        }
        assert!(!s.blocked(ip, Instant::now()));
    }
}
