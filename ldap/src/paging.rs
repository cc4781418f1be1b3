//! Simple Paged Results (RFC 2696) state of one connection.
//!
//! A cookie names where the previous page stopped: the directory's position of the last entry
//! sent when it gives positions, otherwise the number of matching entries already returned
//! (the search is re-run and that many matches are skipped; correct as long as the directory's
//! order is stable). Cookies are valid once, only on the connection that got them and only for
//! the same request. A connection keeps a bounded number of them whose requests together take a
//! bounded number of bytes, oldest evicted first: a client that starts many paged searches with
//! large filters would otherwise hold that many whole requests per connection (16 × 250 KB on
//! each of hundreds of connections). An evicted cookie is answered as any unknown one.

use std::collections::VecDeque;
use std::mem::size_of;

use ldap3_proto::proto::{LdapFilter, LdapSearchRequest};

pub const OID_PAGED_RESULTS: &str = "1.2.840.113556.1.4.319";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    After(Vec<u8>),
    Skip(u64),
}

#[derive(Debug, Clone)]
pub struct PageState {
    /// The request the cookie belongs to; later pages must repeat it (sizes aside).
    pub request: LdapSearchRequest,
    pub resume: Resume,
    /// Entries returned by all pages so far, against the client's sizeLimit.
    pub sent_total: u64,
}

impl PageState {
    /// Memory the state holds, near enough: what the byte bound of [`PagedSearches`] counts.
    fn bytes(&self) -> usize {
        let resume = match &self.resume {
            Resume::After(position) => position.len(),
            Resume::Skip(_) => 0,
        };
        size_of::<PageState>() + request_heap_bytes(&self.request) + resume
    }

    /// RFC 2696 §3: the client sends the same request with each cookie. The limits may vary.
    pub fn same_search(&self, other: &LdapSearchRequest) -> bool {
        let a = &self.request;
        a.base == other.base
            && a.scope == other.scope
            && a.filter == other.filter
            && a.attrs == other.attrs
            && a.typesonly == other.typesonly
    }
}

/// Bytes a decoded search request holds outside itself: its strings and filter nodes.
fn request_heap_bytes(r: &LdapSearchRequest) -> usize {
    let attrs: usize = r.attrs.iter().map(|a| size_of::<String>() + a.len()).sum();
    r.base.len() + attrs + filter_heap_bytes(&r.filter)
}

/// Bytes a filter holds outside itself: its strings and sub-filters. The decoder bounds the
/// nesting, so the recursion is shallow.
fn filter_heap_bytes(f: &LdapFilter) -> usize {
    let node = |f: &LdapFilter| size_of::<LdapFilter>() + filter_heap_bytes(f);
    match f {
        LdapFilter::And(v) | LdapFilter::Or(v) => v.iter().map(node).sum(),
        LdapFilter::Not(inner) => node(inner),
        LdapFilter::Present(a) => a.len(),
        LdapFilter::Equality(a, v)
        | LdapFilter::GreaterOrEqual(a, v)
        | LdapFilter::LessOrEqual(a, v)
        | LdapFilter::Approx(a, v) => a.len() + v.len(),
        LdapFilter::Substring(a, s) => {
            let any: usize = s.any.iter().map(|x| size_of::<String>() + x.len()).sum();
            let ends = s.initial.as_ref().map_or(0, String::len)
                + s.final_.as_ref().map_or(0, String::len);
            a.len() + any + ends
        }
        LdapFilter::Extensible(m) => {
            m.matching_rule.as_ref().map_or(0, String::len)
                + m.type_.as_ref().map_or(0, String::len)
                + m.match_value.len()
        }
    }
}

#[derive(Debug)]
pub struct PagedSearches {
    next: u64,
    /// Cookie id, bytes (by [`PageState::bytes`]) and state, oldest first.
    states: VecDeque<(u64, usize, PageState)>,
    max: usize,
    max_bytes: usize,
    /// What the kept states take together.
    bytes: usize,
}

impl PagedSearches {
    /// Keeps at most `max` states taking at most `max_bytes` together; the newest is always
    /// kept, so that a paged search whose request alone is larger still gets its next page.
    pub fn new(max: usize, max_bytes: usize) -> PagedSearches {
        PagedSearches {
            next: 1,
            states: VecDeque::new(),
            max: max.max(1),
            max_bytes,
            bytes: 0,
        }
    }

    /// Stores the state of a paged search with more to come and returns its cookie. Older
    /// states are forgotten, oldest first, until the bounds hold.
    pub fn insert(&mut self, state: PageState) -> Vec<u8> {
        let id = self.next;
        self.next += 1;
        let bytes = state.bytes();
        self.bytes += bytes;
        self.states.push_back((id, bytes, state));
        while self.states.len() > 1 && (self.states.len() > self.max || self.bytes > self.max_bytes)
        {
            if let Some((_, old, _)) = self.states.pop_front() {
                self.bytes -= old;
            }
        }
        id.to_be_bytes().to_vec()
    }

    /// Removes and returns the state of a cookie; `None` if unknown, used or evicted.
    pub fn take(&mut self, cookie: &[u8]) -> Option<PageState> {
        let id = u64::from_be_bytes(cookie.try_into().ok()?);
        let i = self.states.iter().position(|(k, _, _)| *k == id)?;
        let (_, bytes, state) = self.states.remove(i)?;
        self.bytes -= bytes;
        Some(state)
    }

    /// Forgets everything, e.g. when the connection's identity changes.
    pub fn clear(&mut self) {
        self.states.clear();
        self.bytes = 0;
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.states.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3_proto::proto::{LdapDerefAliases, LdapFilter, LdapSearchScope};

    fn req(filter: &str) -> LdapSearchRequest {
        LdapSearchRequest {
            base: "dc=example".into(),
            scope: LdapSearchScope::Subtree,
            aliases: LdapDerefAliases::Never,
            sizelimit: 0,
            timelimit: 0,
            typesonly: false,
            filter: LdapFilter::Present(filter.into()),
            attrs: vec![],
        }
    }

    fn state(filter: &str, n: u64) -> PageState {
        PageState {
            request: req(filter),
            resume: Resume::Skip(n),
            sent_total: n,
        }
    }

    #[test]
    fn cookies_are_single_use() {
        let mut p = PagedSearches::new(4, 1 << 20);
        let c = p.insert(state("uid", 10));
        assert_eq!(p.len(), 1);
        let s = p.take(&c).expect("state");
        assert_eq!(s.resume, Resume::Skip(10));
        assert!(p.take(&c).is_none());
        assert!(p.is_empty());
    }

    #[test]
    fn unknown_and_malformed_cookies() {
        let mut p = PagedSearches::new(4, 1 << 20);
        p.insert(state("uid", 1));
        assert!(p.take(b"garbage").is_none());
        assert!(p.take(&99u64.to_be_bytes()).is_none());
        assert!(p.take(&[]).is_none());
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn oldest_state_is_evicted() {
        let mut p = PagedSearches::new(2, 1 << 20);
        let a = p.insert(state("a", 1));
        let b = p.insert(state("b", 1));
        let c = p.insert(state("c", 1));
        assert!(p.take(&a).is_none());
        assert!(p.take(&b).is_some());
        assert!(p.take(&c).is_some());
        p.insert(state("d", 1));
        p.clear();
        assert!(p.is_empty());
    }

    /// A state whose filter holds a value of `n` bytes.
    fn large(n: usize) -> PageState {
        let mut s = state("uid", 1);
        s.request.filter = LdapFilter::Or(vec![
            LdapFilter::Present("uid".into()),
            LdapFilter::Equality("description".into(), "x".repeat(n)),
        ]);
        s
    }

    #[test]
    fn bytes_count_what_the_request_holds() {
        let small = state("uid", 1).bytes();
        assert!(small < 1024, "{small}");
        let big = large(250_000).bytes();
        assert!((250_000..251_024).contains(&big), "{big}");
        // Every node of a wide filter counts, not only its strings.
        let mut wide = state("uid", 1);
        wide.request.filter = LdapFilter::And(vec![LdapFilter::Present(String::new()); 1000]);
        assert!(wide.bytes() >= 1000 * size_of::<LdapFilter>());
    }

    #[test]
    fn the_byte_bound_evicts_the_oldest_and_keeps_the_newest() {
        let mut p = PagedSearches::new(16, 100_000);
        let cookies: Vec<Vec<u8>> = (0..5).map(|_| p.insert(large(30_000))).collect();
        // Three fit in 100,000 bytes; the two oldest are gone, as if their cookies were used.
        assert_eq!(p.len(), 3);
        assert!(p.take(&cookies[0]).is_none());
        assert!(p.take(&cookies[1]).is_none());
        assert!(p.take(&cookies[4]).is_some());
        // Taking a state gives its bytes back: two more fit again.
        let more = p.insert(large(30_000));
        assert_eq!(p.len(), 3);
        assert!(p.take(&cookies[2]).is_some());
        // Small states still come sixteen at a time, the count bound.
        let small: Vec<Vec<u8>> = (0..16).map(|_| p.insert(state("uid", 1))).collect();
        assert_eq!(p.len(), 16);
        assert!(p.take(&more).is_none());
        assert!(small.iter().all(|c| p.take(c).is_some()));
        assert!(p.is_empty());
        assert_eq!(p.bytes, 0);
        // One state larger than the whole bound is kept, alone, so its search can go on.
        let a = p.insert(state("uid", 1));
        let huge = p.insert(large(200_000));
        assert_eq!(p.len(), 1);
        assert!(p.take(&a).is_none());
        assert!(p.take(&huge).is_some());
    }

    #[test]
    fn same_search_ignores_limits_only() {
        let s = state("uid", 0);
        let mut r = req("uid");
        r.sizelimit = 5;
        r.timelimit = 9;
        assert!(s.same_search(&r));
        assert!(!s.same_search(&req("cn")));
        r.attrs = vec!["cn".into()];
        assert!(!s.same_search(&r));
    }
}
