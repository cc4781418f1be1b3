//! The contract between the protocol server and the directory behind it.
//!
//! Every method is synchronous: the core is blocking (sled, argon2 at ~30 ms a hash) and the
//! server runs each call on tokio's blocking pool behind a global bound, so a slow bind never
//! stalls other connections. Authorisation is entirely the directory's business: the server
//! passes the session it got from [`Directory::bind`] (or [`Directory::anonymous`]) to every
//! call and trusts the answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ldap3_proto::proto::{LdapFilter, LdapResultCode, LdapSearchScope};

use crate::dn::{Dn, Rdn};
use crate::entry::{Attribute, Entry, Selection};
use crate::filter::{Plan, referenced_attributes};
use crate::schema::Schema;

/// An LDAP result other than success, as the directory wants it sent to the client.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct LdapError {
    pub code: LdapResultCode,
    pub message: String,
    /// The deepest existing entry, for noSuchObject (RFC 4511 §4.1.9).
    pub matched_dn: Option<Dn>,
    /// What the password policy control says of the refusal, for a client that asked.
    pub password_policy: Option<crate::ppolicy::PolicyError>,
}

impl LdapError {
    pub fn new(code: LdapResultCode, message: impl Into<String>) -> LdapError {
        LdapError {
            code,
            message: message.into(),
            matched_dn: None,
            password_policy: None,
        }
    }

    /// The refusal as a password policy (draft-behera) error too.
    pub fn with_policy(mut self, error: crate::ppolicy::PolicyError) -> LdapError {
        self.password_policy = Some(error);
        self
    }

    pub fn with_matched(mut self, dn: Dn) -> LdapError {
        self.matched_dn = Some(dn);
        self
    }

    /// Also the answer for unknown users, so that a bind does not reveal who exists.
    pub fn invalid_credentials() -> LdapError {
        LdapError::new(LdapResultCode::InvalidCredentials, "invalid credentials")
    }

    pub fn no_such_object() -> LdapError {
        LdapError::new(LdapResultCode::NoSuchObject, "no such object")
    }

    pub fn insufficient_access() -> LdapError {
        LdapError::new(
            LdapResultCode::InsufficentAccessRights,
            "insufficient access rights",
        )
    }

    pub fn unwilling(message: impl Into<String>) -> LdapError {
        LdapError::new(LdapResultCode::UnwillingToPerform, message)
    }

    pub fn other(message: impl Into<String>) -> LdapError {
        LdapError::new(LdapResultCode::Other, message)
    }
}

/// Who is on the other end of a connection, for audit and rate limiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    pub peer: SocketAddr,
    /// True once the connection is protected by TLS (LDAPS or after StartTLS).
    pub tls: bool,
    /// Per-server connection number, for correlating log lines.
    pub connection_id: u64,
}

/// The bound identity of a connection, as the directory defines it.
pub trait Session: Clone + Send + Sync + 'static {
    /// The DN a WhoAmI request (RFC 4532) reports; `None` for anonymous.
    fn dn(&self) -> Option<&Dn>;

    /// Right after a bind: the warning the password policy control carries for it, if any
    /// (the password expires soon, or the bind took a grace login).
    fn password_policy(&self) -> Option<crate::ppolicy::PolicyResponse> {
        None
    }
}

/// A search as the directory receives it: already validated, with the filter compiled by the
/// server. The directory finds candidates (using [`SearchQuery::plan`] for its indexes) and
/// pushes them to the [`EntrySink`]; the server checks scope and filter exactly, selects
/// attributes, applies size, time and page limits and writes to the socket as entries arrive.
#[derive(Debug, Clone)]
pub struct SearchQuery {
    pub base: Dn,
    pub scope: LdapSearchScope,
    pub filter: LdapFilter,
    pub selection: Selection,
    /// For a paged search continuing a previous page: the position the directory attached to
    /// the last entry sent (see [`EntrySink::send_at`]). Continue strictly after it.
    pub resume_after: Option<Vec<u8>>,
    /// How many more entries the server will send at most (`None`: no limit). A hint: the
    /// server enforces it.
    pub limit: Option<usize>,
}

impl SearchQuery {
    /// The index plan of the filter; `indexed` says which canonical attribute names have an
    /// equality index.
    pub fn plan(&self, schema: &Schema, indexed: &dyn Fn(&str) -> bool) -> Plan {
        Plan::new(&self.filter, schema, indexed)
    }

    /// True if the entries sent must carry attribute `name` (in any spelling), because the
    /// filter or the selection uses it. Lets the directory skip computing costly attributes.
    pub fn needs(&self, name: &str, schema: &Schema) -> bool {
        let canonical = schema.canonical(name);
        self.selection.includes(name, schema)
            || referenced_attributes(&self.filter, schema)
                .iter()
                .any(|a| *a == canonical || a == "*")
    }

    /// The value of an equality on `name` that the whole filter requires (the filter itself,
    /// or a conjunct of a top-level AND), when that is the filter's only use of `name` and the
    /// selection does not return it. A directory that knows an entry holds this value may
    /// present `name` with this one value: the filter decides the same, and building the full
    /// attribute (a large group's `member`) is spared.
    pub fn sole_required_equality(&self, name: &str, schema: &Schema) -> Option<&str> {
        let canonical = schema.canonical(name);
        if self.selection.includes(name, schema) {
            return None;
        }
        let mut uses = 0;
        crate::filter::each_attribute(&self.filter, &mut |a| {
            // Without a type an extensible match may read any attribute: it counts as a use.
            if a.is_none_or(|a| schema.canonical(a) == canonical) {
                uses += 1;
            }
        });
        if uses != 1 {
            return None;
        }
        fn equality<'f>(f: &'f LdapFilter, schema: &Schema, canonical: &str) -> Option<&'f str> {
            match f {
                LdapFilter::Equality(a, v) if schema.canonical(a) == canonical => Some(v.as_str()),
                _ => None,
            }
        }
        match &self.filter {
            LdapFilter::And(parts) => parts.iter().find_map(|p| equality(p, schema, &canonical)),
            f => equality(f, schema, &canonical),
        }
    }

    /// True if an entry at `dn` is inside the search scope.
    pub fn in_scope(&self, dn: &Dn) -> bool {
        in_scope(&self.base, self.scope.clone(), dn)
    }
}

pub(crate) fn in_scope(base: &Dn, scope: LdapSearchScope, dn: &Dn) -> bool {
    match scope {
        LdapSearchScope::Base => dn == base,
        LdapSearchScope::OneLevel => dn.is_child_of(base),
        LdapSearchScope::Subtree => dn.is_within(base),
        LdapSearchScope::Children => dn.is_descendant_of(base),
    }
}

/// Why the sink refuses more entries: the directory should stop and return `Ok(())`; the
/// server already knows the outcome (limit reached, abandoned, client gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("search stopped")]
pub struct Stop;

/// Where a directory pushes candidate entries of a search.
pub trait EntrySink {
    /// Offers a candidate. The server drops it if it is out of scope or does not match.
    fn send(&mut self, entry: Entry) -> Result<(), Stop>;

    /// Offers a candidate with its position in the directory's iteration order: an opaque key
    /// that must increase (bytewise) along the iteration. Paged searches then resume with
    /// [`SearchQuery::resume_after`] instead of re-reading and skipping earlier entries.
    fn send_at(&mut self, entry: Entry, position: Vec<u8>) -> Result<(), Stop>;

    /// True once the search should stop (abandoned, limit reached, client gone); lets a
    /// directory stop between candidates it does not send.
    fn is_stopped(&self) -> bool;
}

/// A request to add an entry; attribute names as the client sent them.
#[derive(Debug, Clone, PartialEq)]
pub struct AddRequest {
    pub dn: Dn,
    pub attributes: Vec<Attribute>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModifyOp {
    Add,
    Delete,
    Replace,
    Increment,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Modification {
    pub op: ModifyOp,
    pub attribute: Attribute,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModifyRequest {
    pub dn: Dn,
    pub changes: Vec<Modification>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModifyDnRequest {
    pub dn: Dn,
    pub new_rdn: Rdn,
    pub delete_old_rdn: bool,
    pub new_superior: Option<Dn>,
}

/// RFC 3062 Password Modify. `user` absent means the bound user; `new_password` absent asks the
/// directory to generate one and return it.
#[derive(Clone, PartialEq)]
pub struct PasswordModify {
    pub user: Option<Dn>,
    pub old_password: Option<String>,
    pub new_password: Option<String>,
}

/// What a successful Password Modify came to.
pub struct PasswordModified<S> {
    /// The password the directory generated, when the request named none.
    pub generated: Option<String>,
    /// The connection's identity from now on, when the change affects it: a connection bound
    /// with a temporary password may only replace it, and once it has, it goes on as the user
    /// (as OpenLDAP's ppolicy overlay lets it) without binding again; a directory that ends
    /// other sign-ins on a new password keeps this one.
    pub session: Option<S>,
}

impl std::fmt::Debug for PasswordModify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordModify")
            .field("user", &self.user)
            .field("old_password", &self.old_password.as_ref().map(|_| "***"))
            .field("new_password", &self.new_password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// What the core implements. Write operations default to unwillingToPerform so a read-only
/// directory implements only what it serves.
pub trait Directory: Send + Sync + 'static {
    type Session: Session;

    /// The session of a connection that has not bound, or bound anonymously.
    fn anonymous(&self, client: &ClientInfo) -> Self::Session;

    /// Simple bind with a non-empty password. Failures should be
    /// [`LdapError::invalid_credentials`] whatever the cause, taking the same time for unknown
    /// DNs as for known ones.
    fn bind(
        &self,
        dn: &Dn,
        password: &str,
        client: &ClientInfo,
    ) -> Result<Self::Session, LdapError>;

    /// Streams the candidates of `query` into `sink`. Return `Ok(())` when done or when the
    /// sink said [`Stop`]; an error (noSuchObject for a missing base, ...) ends the search with
    /// that result after the entries already sent.
    fn search(
        &self,
        session: &Self::Session,
        query: &SearchQuery,
        sink: &mut dyn EntrySink,
    ) -> Result<(), LdapError>;

    /// Whether `query` is a point lookup: answered through an index in microseconds, with at
    /// most a few entries. The server then runs it on the connection's own task, sparing the
    /// two thread hand-offs of the blocking pool that would otherwise cost more than the
    /// lookup. Anything that may scan must answer false (the default).
    fn is_point_lookup(&self, query: &SearchQuery) -> bool {
        let _ = query;
        false
    }

    fn add(&self, session: &Self::Session, request: AddRequest) -> Result<(), LdapError> {
        let _ = (session, request);
        Err(LdapError::unwilling("add is not supported"))
    }

    fn modify(&self, session: &Self::Session, request: ModifyRequest) -> Result<(), LdapError> {
        let _ = (session, request);
        Err(LdapError::unwilling("modify is not supported"))
    }

    fn delete(&self, session: &Self::Session, dn: &Dn) -> Result<(), LdapError> {
        let _ = (session, dn);
        Err(LdapError::unwilling("delete is not supported"))
    }

    fn modify_dn(
        &self,
        session: &Self::Session,
        request: ModifyDnRequest,
    ) -> Result<(), LdapError> {
        let _ = (session, request);
        Err(LdapError::unwilling("modify DN is not supported"))
    }

    fn password_modify(
        &self,
        session: &Self::Session,
        request: PasswordModify,
    ) -> Result<PasswordModified<Self::Session>, LdapError> {
        let _ = (session, request);
        Err(LdapError::unwilling("password modify is not supported"))
    }
}

/// A cancellation flag shared between the connection (Abandon, shutdown, client gone) and the
/// blocking call that is producing entries.
#[derive(Debug, Clone, Default)]
pub(crate) struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub(crate) fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Selection;
    use crate::filter::parse_filter;

    fn query(filter: &str, attrs: &[&str]) -> SearchQuery {
        let schema = Schema::standard();
        let attrs: Vec<String> = attrs.iter().map(|a| a.to_string()).collect();
        SearchQuery {
            base: Dn::parse("dc=example,dc=com").unwrap(),
            scope: LdapSearchScope::Subtree,
            filter: parse_filter(filter).unwrap(),
            selection: Selection::parse(&attrs, false, &schema),
            resume_after: None,
            limit: None,
        }
    }

    #[test]
    fn a_sole_required_equality_is_found_only_when_nothing_else_reads_the_attribute() {
        let s = Schema::standard();
        let sole = |f: &str, attrs: &[&str]| {
            query(f, attrs)
                .sole_required_equality("member", &s)
                .map(str::to_string)
        };
        assert_eq!(sole("(member=uid=a)", &["cn"]).as_deref(), Some("uid=a"));
        assert_eq!(
            sole("(&(objectClass=groupOfNames)(MEMBER=uid=a))", &["cn"]).as_deref(),
            Some("uid=a")
        );
        // Returned, read twice, negated elsewhere, or only one branch of an OR: not sole.
        assert_eq!(sole("(member=uid=a)", &["member"]), None);
        assert_eq!(sole("(member=uid=a)", &[]), None, "all attributes");
        assert_eq!(sole("(&(member=uid=a)(!(member=uid=b)))", &["cn"]), None);
        assert_eq!(sole("(|(member=uid=a)(cn=x))", &["cn"]), None);
        assert_eq!(sole("(&(member=uid=a)(member=*))", &["cn"]), None);
        assert_eq!(sole("(cn=x)", &["cn"]), None);
    }
}
