//! Simple Paged Results (RFC 2696) state of one connection.
//!
//! A cookie names where the previous page stopped: the directory's position of the last entry
//! sent when it gives positions, otherwise the number of matching entries already returned
//! (the search is re-run and that many matches are skipped; correct as long as the directory's
//! order is stable). Cookies are valid once, only on the connection that got them and only for
//! the same request; a bounded number are kept, oldest evicted first.

use std::collections::VecDeque;

use ldap3_proto::proto::LdapSearchRequest;

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

#[derive(Debug)]
pub struct PagedSearches {
    next: u64,
    states: VecDeque<(u64, PageState)>,
    max: usize,
}

impl PagedSearches {
    pub fn new(max: usize) -> PagedSearches {
        PagedSearches {
            next: 1,
            states: VecDeque::new(),
            max: max.max(1),
        }
    }

    /// Stores the state of a paged search with more to come and returns its cookie.
    pub fn insert(&mut self, state: PageState) -> Vec<u8> {
        let id = self.next;
        self.next += 1;
        while self.states.len() >= self.max {
            self.states.pop_front();
        }
        self.states.push_back((id, state));
        id.to_be_bytes().to_vec()
    }

    /// Removes and returns the state of a cookie; `None` if unknown, used or evicted.
    pub fn take(&mut self, cookie: &[u8]) -> Option<PageState> {
        let id = u64::from_be_bytes(cookie.try_into().ok()?);
        let i = self.states.iter().position(|(k, _)| *k == id)?;
        self.states.remove(i).map(|(_, s)| s)
    }

    /// Forgets everything, e.g. when the connection's identity changes.
    pub fn clear(&mut self) {
        self.states.clear();
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
        let mut p = PagedSearches::new(4);
        let c = p.insert(state("uid", 10));
        assert_eq!(p.len(), 1);
        let s = p.take(&c).expect("state");
        assert_eq!(s.resume, Resume::Skip(10));
        assert!(p.take(&c).is_none());
        assert!(p.is_empty());
    }

    #[test]
    fn unknown_and_malformed_cookies() {
        let mut p = PagedSearches::new(4);
        p.insert(state("uid", 1));
        assert!(p.take(b"garbage").is_none());
        assert!(p.take(&99u64.to_be_bytes()).is_none());
        assert!(p.take(&[]).is_none());
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn oldest_state_is_evicted() {
        let mut p = PagedSearches::new(2);
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
