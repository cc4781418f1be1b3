//! The LDAP operations, each run on a blocking thread with the connection's session at the time
//! the request arrived. Each returns the final response message, or `None` when the operation
//! was abandoned and must not be answered.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::{
    LdapAddRequest, LdapBindCred, LdapBindRequest, LdapCompareRequest, LdapExtendedResponse,
    LdapFilter, LdapModifyDNRequest, LdapModifyRequest, LdapModifyType, LdapMsg, LdapOp,
    LdapPasswordModifyResponse, LdapResult, LdapResultCode, LdapSearchRequest, LdapSearchScope,
};
use tokio::sync::mpsc;

use crate::directory::{
    AddRequest, CancelFlag, ClientInfo, Directory, LdapError, Modification, ModifyDnRequest,
    ModifyOp, ModifyRequest, PasswordModified, PasswordModify, SearchQuery, Session,
};
use crate::dn::{Dn, Rdn, valid_type};
use crate::entry::{Attribute, Entry, Selection};
use crate::filter::{Filter, Truth};
use crate::paging::{PageState, PagedSearches, Resume};
use crate::password_modify::PasswdModifyRequest;
use crate::ppolicy::PolicyResponse;
use crate::schema::{MatchingRule, Schema};
use crate::search::{FirstEntry, LimitKind, Outcome, Output, ServerSink};
use crate::server::Shared;

pub(crate) struct OpContext<D: Directory> {
    pub shared: Arc<Shared<D>>,
    pub session: D::Session,
    pub client: ClientInfo,
    pub tx: mpsc::Sender<Bytes>,
    pub cancel: CancelFlag,
    pub paged: Arc<Mutex<PagedSearches>>,
    pub msgid: i32,
}

pub(crate) fn result(code: LdapResultCode, message: impl Into<String>) -> LdapResult {
    LdapResult {
        code,
        matcheddn: String::new(),
        message: message.into(),
        referral: Vec::new(),
    }
}

fn error_result(e: LdapError) -> LdapResult {
    LdapResult {
        code: e.code,
        matcheddn: e.matched_dn.map(|d| d.to_string()).unwrap_or_default(),
        message: e.message,
        referral: Vec::new(),
    }
}

/// The response to request operation `op` (application tag number) carrying `res`; `None` for
/// requests that have no response (unbind, abandon).
pub(crate) fn response(op: u64, msgid: i32, res: LdapResult) -> Option<LdapMsg> {
    let op = match op {
        0 => LdapOp::BindResponse(ldap3_proto::proto::LdapBindResponse {
            res,
            saslcreds: None,
        }),
        3 => LdapOp::SearchResultDone(res),
        6 => LdapOp::ModifyResponse(res),
        8 => LdapOp::AddResponse(res),
        10 => LdapOp::DelResponse(res),
        12 => LdapOp::ModifyDNResponse(res),
        14 => LdapOp::CompareResult(res),
        23 => LdapOp::ExtendedResponse(LdapExtendedResponse {
            res,
            name: None,
            value: None,
        }),
        _ => return None,
    };
    Some(LdapMsg::new(msgid, op))
}

/// Application tag number of a request, for [`response`].
pub(crate) fn op_tag(op: &LdapOp) -> u64 {
    match op {
        LdapOp::BindRequest(_) => 0,
        LdapOp::UnbindRequest => 2,
        LdapOp::SearchRequest(_) => 3,
        LdapOp::ModifyRequest(_) => 6,
        LdapOp::AddRequest(_) => 8,
        LdapOp::DelRequest(_) => 10,
        LdapOp::ModifyDNRequest(_) => 12,
        LdapOp::CompareRequest(_) => 14,
        LdapOp::AbandonRequest(_) => 16,
        LdapOp::ExtendedRequest(_) => 23,
        _ => u64::MAX,
    }
}

/// Outcome of a simple bind: the response, the connection's identity from now on (anonymous
/// after any failed bind), and what the password policy says of it.
pub(crate) fn bind<D: Directory>(
    shared: &Shared<D>,
    client: &ClientInfo,
    req: &LdapBindRequest,
) -> (LdapResult, D::Session, Option<PolicyResponse>) {
    match bind_as(shared, client, req) {
        Ok(session) => {
            let policy = session.password_policy();
            (result(LdapResultCode::Success, ""), session, policy)
        }
        Err(e) => {
            let policy = e.password_policy.map(PolicyResponse::Error);
            (error_result(e), shared.directory.anonymous(client), policy)
        }
    }
}

/// A simple bind: the session, or the refusal.
fn bind_as<D: Directory>(
    shared: &Shared<D>,
    client: &ClientInfo,
    req: &LdapBindRequest,
) -> Result<D::Session, LdapError> {
    let refuse = |code: LdapResultCode, message: &str| Err(LdapError::new(code, message));
    if req.version != 3 {
        return refuse(
            LdapResultCode::ProtocolError,
            "only LDAP version 3 is supported",
        );
    }
    let password = match &req.cred {
        LdapBindCred::Simple(p) => p,
        LdapBindCred::SASL(_) | LdapBindCred::Unsupported => {
            return refuse(
                LdapResultCode::AuthMethodNotSupported,
                "only simple bind is supported",
            );
        }
    };
    match (req.dn.trim().is_empty(), password.is_empty()) {
        (true, true) => return Ok(shared.directory.anonymous(client)),
        // RFC 4513 §5.1.2: an unauthenticated bind is a misconfigured client, not a login.
        (false, true) => {
            return refuse(
                LdapResultCode::UnwillingToPerform,
                "unauthenticated bind (DN with no password) disallowed",
            );
        }
        (true, false) => {
            return refuse(LdapResultCode::InvalidCredentials, "invalid credentials");
        }
        (false, false) => {}
    }
    if shared.config.require_tls_for_passwords && !client.tls {
        return refuse(
            LdapResultCode::ConfidentialityRequired,
            "TLS is required for simple bind",
        );
    }
    let dn = match Dn::parse(&req.dn) {
        Ok(d) => d,
        Err(e) => return refuse(LdapResultCode::InvalidDNSyntax, &e.to_string()),
    };
    shared.directory.bind(&dn, password, client)
}

pub(crate) fn whoami<S: Session>(msgid: i32, session: &S) -> LdapMsg {
    let authz = session.dn().map(|d| format!("dn:{d}")).unwrap_or_default();
    LdapMsg::new(
        msgid,
        LdapOp::ExtendedResponse(LdapExtendedResponse {
            res: result(LdapResultCode::Success, ""),
            name: None,
            value: Some(authz.into_bytes()),
        }),
    )
}

fn deadline(client_secs: i32, server: Option<Duration>) -> Option<Instant> {
    let client = (client_secs > 0).then(|| Duration::from_secs(client_secs as u64));
    let limit = match (client, server) {
        (Some(c), Some(s)) => Some(c.min(s)),
        (a, b) => a.or(b),
    };
    limit.map(|d| Instant::now() + d)
}

fn paged_done(msgid: i32, res: LdapResult, paged: bool, cookie: Vec<u8>) -> LdapMsg {
    let ctrl = if paged {
        vec![LdapControl::SimplePagedResults { size: 0, cookie }]
    } else {
        Vec::new()
    };
    LdapMsg::new_with_ctrls(msgid, LdapOp::SearchResultDone(res), ctrl)
}

/// Where a search's entries come from.
enum Source {
    /// The root DSE or the subschema entry: the server's own, answered without the directory.
    RootDse,
    Subschema,
    Directory(Box<SearchQuery>),
}

/// A search request checked and interpreted on the connection's task. Running it is a separate
/// step, so that a point lookup can run right there and anything else on the blocking pool.
pub(crate) struct PreparedSearch {
    req: LdapSearchRequest,
    base: Dn,
    is_paged: bool,
    selection: Selection,
    filter: Filter,
    limit: Option<usize>,
    limit_kind: LimitKind,
    skip: u64,
    sent_before: usize,
    deadline: Option<Instant>,
    source: Source,
}

impl PreparedSearch {
    /// Whether the search can run on the connection's task (see
    /// [`Directory::is_point_lookup`]): the server's own entries always can.
    pub fn is_point_lookup<D: Directory>(&self, directory: &D) -> bool {
        match &self.source {
            Source::RootDse | Source::Subschema => true,
            Source::Directory(query) => directory.is_point_lookup(query),
        }
    }
}

/// Interprets a search request: base, paging cookie, limits, selection and filter. A request
/// that is answered without searching (a bad base DN, a bad cookie, an abandoned paged search)
/// gets its final message as the error.
pub(crate) fn prepare_search<D: Directory>(
    shared: &Shared<D>,
    paged: &Mutex<PagedSearches>,
    msgid: i32,
    req: LdapSearchRequest,
    controls: &[LdapControl],
) -> Result<PreparedSearch, Box<LdapMsg>> {
    let schema = &shared.config.schema;
    let limits = &shared.config.limits;
    let paging = controls.iter().find_map(|c| match c {
        LdapControl::SimplePagedResults { size, cookie } => Some((*size, cookie.clone())),
        _ => None,
    });
    let is_paged = paging.is_some();
    let done =
        |code, msg: &str| Box::new(paged_done(msgid, result(code, msg), is_paged, Vec::new()));

    let base = match Dn::parse(&req.base) {
        Ok(d) => d,
        Err(e) => return Err(done(LdapResultCode::InvalidDNSyntax, &e.to_string())),
    };

    let mut previous: Option<PageState> = None;
    if let Some((size, cookie)) = &paging {
        let taken = if cookie.is_empty() {
            None
        } else {
            match paged.lock() {
                Ok(mut p) => p.take(cookie),
                Err(_) => None,
            }
        };
        if !cookie.is_empty() && taken.is_none() {
            return Err(done(
                LdapResultCode::UnwillingToPerform,
                "paged results cookie is invalid",
            ));
        }
        if *size <= 0 {
            // RFC 2696 §3: a size of zero abandons the paged search.
            return Err(done(LdapResultCode::Success, ""));
        }
        if let Some(state) = &taken
            && !state.same_search(&req)
        {
            return Err(done(
                LdapResultCode::UnwillingToPerform,
                "paged results cookie belongs to a different search",
            ));
        }
        previous = taken;
    }

    let selection = Selection::parse(&req.attrs, req.typesonly, schema);
    let filter = Filter::compile(&req.filter, schema);

    // Size limits: the client's over the whole search, the server's per search or per page.
    let client_limit = (req.sizelimit > 0).then_some(req.sizelimit as usize);
    let server_limit = (limits.size_limit > 0).then_some(limits.size_limit);
    let sent_before = previous.as_ref().map(|s| s.sent_total).unwrap_or(0) as usize;
    let (limit, limit_kind) = match &paging {
        None => match (client_limit, server_limit) {
            (Some(c), Some(s)) => (Some(c.min(s)), LimitKind::Size),
            (a, b) => (a.or(b), LimitKind::Size),
        },
        Some((size, _)) => {
            let page = (*size).clamp(1, i64::from(i32::MAX)) as usize;
            let page = server_limit.map_or(page, |s| page.min(s));
            match client_limit.map(|c| c.saturating_sub(sent_before)) {
                Some(rest) if rest <= page => (Some(rest), LimitKind::Size),
                _ => (Some(page), LimitKind::Page),
            }
        }
    };
    let (skip, resume_after) = match previous.map(|s| s.resume) {
        Some(Resume::Skip(n)) => (n, None),
        Some(Resume::After(p)) => (0, Some(p)),
        None => (0, None),
    };

    // The root DSE and the subschema entry are the server's own and always readable.
    let source = if req.scope == LdapSearchScope::Base && base.is_root() {
        Source::RootDse
    } else if req.scope == LdapSearchScope::Base && base == shared.config.root_dse.subschema {
        Source::Subschema
    } else {
        Source::Directory(Box::new(SearchQuery {
            base: base.clone(),
            scope: req.scope.clone(),
            filter: req.filter.clone(),
            selection: selection.clone(),
            resume_after,
            limit,
        }))
    };
    Ok(PreparedSearch {
        deadline: deadline(req.timelimit, limits.time_limit),
        req,
        base,
        is_paged,
        selection,
        filter,
        limit,
        limit_kind,
        skip,
        sent_before,
        source,
    })
}

/// Runs a prepared search, sending its entries to `out`, and returns the final message
/// (`None` when abandoned).
pub(crate) fn run_search<D: Directory>(
    ctx: &OpContext<D>,
    search: PreparedSearch,
    out: Output<'_>,
) -> Option<LdapMsg> {
    let msgid = ctx.msgid;
    let shared = &ctx.shared;
    let is_paged = search.is_paged;
    let done = |code, msg: &str| Some(paged_done(msgid, result(code, msg), is_paged, Vec::new()));
    let mut sink = ServerSink {
        msgid,
        base: &search.base,
        scope: search.req.scope.clone(),
        filter: &search.filter,
        schema: &shared.config.schema,
        selection: &search.selection,
        out,
        cancel: &ctx.cancel,
        deadline: search.deadline,
        skip: search.skip,
        resume_after: match &search.source {
            Source::Directory(query) => query.resume_after.clone(),
            _ => None,
        },
        limit: search.limit,
        limit_kind: search.limit_kind,
        sent: 0,
        last_position: None,
        outcome: None,
        timed_out: std::cell::Cell::new(false),
    };
    let own = |entry: &Entry, sink: &mut ServerSink<'_>| {
        use crate::directory::EntrySink;
        let _ = sink.send(entry.clone());
        Ok(())
    };
    let searched = match &search.source {
        Source::RootDse => own(&shared.root_dse, &mut sink),
        Source::Subschema => own(&shared.subschema, &mut sink),
        Source::Directory(query) => shared.directory.search(&ctx.session, query, &mut sink),
    };

    let sent = sink.sent;
    let last_position = sink.last_position.take();
    let outcome = sink.finish();
    // Abandoned at any point, even after the directory's last look at the sink: an abandoned
    // operation gets no response (RFC 4511 §4.11).
    if outcome == Outcome::Cancelled || ctx.cancel.is_cancelled() {
        return None;
    }
    if let Err(e) = searched {
        return Some(paged_done(msgid, error_result(e), is_paged, Vec::new()));
    }
    match outcome {
        Outcome::SizeLimit => done(LdapResultCode::SizeLimitExceeded, "size limit exceeded"),
        Outcome::TimeLimit => done(LdapResultCode::TimeLimitExceeded, "time limit exceeded"),
        Outcome::PageFull => {
            let resume = match last_position {
                Some(p) => Resume::After(p),
                None => Resume::Skip(search.skip + sent as u64),
            };
            let state = PageState {
                request: search.req,
                resume,
                sent_total: (search.sent_before + sent) as u64,
            };
            let cookie = match ctx.paged.lock() {
                Ok(mut p) => p.insert(state),
                Err(_) => Vec::new(),
            };
            Some(paged_done(
                msgid,
                result(LdapResultCode::Success, ""),
                true,
                cookie,
            ))
        }
        Outcome::Complete | Outcome::Cancelled => done(LdapResultCode::Success, ""),
    }
}

pub(crate) fn compare<D: Directory>(
    ctx: &OpContext<D>,
    req: LdapCompareRequest,
) -> Option<LdapMsg> {
    let res = compare_result(ctx, &req).unwrap_or_else(error_result);
    if ctx.cancel.is_cancelled() {
        return None;
    }
    Some(LdapMsg::new(ctx.msgid, LdapOp::CompareResult(res)))
}

fn compare_result<D: Directory>(
    ctx: &OpContext<D>,
    req: &LdapCompareRequest,
) -> Result<LdapResult, LdapError> {
    let schema = &ctx.shared.config.schema;
    let dn = Dn::parse(&req.dn)
        .map_err(|e| LdapError::new(LdapResultCode::InvalidDNSyntax, e.to_string()))?;
    let entry = if dn.is_root() {
        Some(ctx.shared.root_dse.clone())
    } else if dn == ctx.shared.config.root_dse.subschema {
        Some(ctx.shared.subschema.clone())
    } else {
        let query = SearchQuery {
            base: dn.clone(),
            scope: LdapSearchScope::Base,
            filter: LdapFilter::Present("objectClass".into()),
            selection: Selection::everything(),
            resume_after: None,
            limit: Some(1),
        };
        let mut sink = FirstEntry {
            dn: Some(dn.clone()),
            entry: None,
        };
        ctx.shared
            .directory
            .search(&ctx.session, &query, &mut sink)?;
        sink.entry
    };
    let entry = entry.ok_or_else(LdapError::no_such_object)?;
    // Only after the entry is found, so the answer says nothing of entries out of reach.
    let Some(rule) = schema.attribute(&req.atype).map(|a| a.equality) else {
        return Ok(result(
            LdapResultCode::UndefinedAttributeType,
            format!("attribute type {} is not defined", req.atype),
        ));
    };
    if entry.find(schema, &req.atype).next().is_none() {
        return Ok(result(LdapResultCode::NoSuchAttribute, "no such attribute"));
    }
    let code = match (rule, std::str::from_utf8(&req.val)) {
        (None, _) => LdapResultCode::InappropriateMatching,
        (Some(MatchingRule::OctetString), _) => {
            let hit = entry
                .find(schema, &req.atype)
                .any(|a| a.values.contains(&req.val));
            if hit {
                LdapResultCode::CompareTrue
            } else {
                LdapResultCode::CompareFalse
            }
        }
        // A certificate is compared as the DER it is; every other value is text.
        (Some(MatchingRule::CertificateExact), _) | (Some(_), Ok(_)) => {
            let f = Filter::equality(&req.atype, &req.val, schema);
            match f.evaluate(&entry, schema) {
                Truth::True => LdapResultCode::CompareTrue,
                Truth::False => LdapResultCode::CompareFalse,
                Truth::Undefined => LdapResultCode::InvalidAttributeSyntax,
            }
        }
        (Some(_), Err(_)) => LdapResultCode::InvalidAttributeSyntax,
    };
    Ok(result(code, ""))
}

fn parse_dn(s: &str) -> Result<Dn, LdapError> {
    Dn::parse(s).map_err(|e| LdapError::new(LdapResultCode::InvalidDNSyntax, e.to_string()))
}

/// An attribute of a write, its description checked. RFC 4522 as OpenLDAP applies it: a
/// value of a syntax with no LDAP string form (a certificate) is written with the `;binary`
/// option, and no other value is, so a client never stores a certificate it meant as text.
fn attribute(schema: &Schema, name: String, values: Vec<Vec<u8>>) -> Result<Attribute, LdapError> {
    let undefined = |why: String| LdapError::new(LdapResultCode::UndefinedAttributeType, why);
    let mut parts = name.split(';');
    if !valid_type(parts.next().unwrap_or("")) {
        return Err(undefined(format!("invalid attribute description {name:?}")));
    }
    let binary = parts.any(|option| option.eq_ignore_ascii_case("binary"));
    match schema
        .attribute(&name)
        .map(|at| at.requires_binary_transfer())
    {
        Some(true) if !binary => Err(undefined(format!("{name}: requires ;binary transfer"))),
        Some(false) if binary => Err(undefined(format!("{name}: disallows ;binary transfer"))),
        _ => Ok(Attribute { name, values }),
    }
}

fn write_result(r: Result<(), LdapError>) -> LdapResult {
    match r {
        Ok(()) => result(LdapResultCode::Success, ""),
        Err(e) => error_result(e),
    }
}

pub(crate) fn add<D: Directory>(ctx: &OpContext<D>, req: LdapAddRequest) -> LdapMsg {
    let schema = &ctx.shared.config.schema;
    let r = (|| {
        let dn = parse_dn(&req.dn)?;
        let attributes = req
            .attributes
            .into_iter()
            .map(|a| attribute(schema, a.atype, a.vals))
            .collect::<Result<Vec<_>, _>>()?;
        ctx.shared
            .directory
            .add(&ctx.session, AddRequest { dn, attributes })
    })();
    LdapMsg::new(ctx.msgid, LdapOp::AddResponse(write_result(r)))
}

pub(crate) fn modify<D: Directory>(ctx: &OpContext<D>, req: LdapModifyRequest) -> LdapMsg {
    let schema = &ctx.shared.config.schema;
    let r = (|| {
        let dn = parse_dn(&req.dn)?;
        let changes = req
            .changes
            .into_iter()
            .map(|m| {
                let op = match m.operation {
                    LdapModifyType::Add => ModifyOp::Add,
                    LdapModifyType::Delete => ModifyOp::Delete,
                    LdapModifyType::Replace => ModifyOp::Replace,
                    LdapModifyType::Increment => ModifyOp::Increment,
                };
                Ok(Modification {
                    op,
                    attribute: attribute(schema, m.modification.atype, m.modification.vals)?,
                })
            })
            .collect::<Result<Vec<_>, LdapError>>()?;
        ctx.shared
            .directory
            .modify(&ctx.session, ModifyRequest { dn, changes })
    })();
    LdapMsg::new(ctx.msgid, LdapOp::ModifyResponse(write_result(r)))
}

pub(crate) fn delete<D: Directory>(ctx: &OpContext<D>, dn: String) -> LdapMsg {
    let r = parse_dn(&dn).and_then(|dn| ctx.shared.directory.delete(&ctx.session, &dn));
    LdapMsg::new(ctx.msgid, LdapOp::DelResponse(write_result(r)))
}

pub(crate) fn modify_dn<D: Directory>(ctx: &OpContext<D>, req: LdapModifyDNRequest) -> LdapMsg {
    let r = (|| {
        let dn = parse_dn(&req.dn)?;
        let new_rdn = Rdn::parse(&req.newrdn)
            .map_err(|e| LdapError::new(LdapResultCode::InvalidDNSyntax, e.to_string()))?;
        let new_superior = req.new_superior.as_deref().map(parse_dn).transpose()?;
        ctx.shared.directory.modify_dn(
            &ctx.session,
            ModifyDnRequest {
                dn,
                new_rdn,
                delete_old_rdn: req.deleteoldrdn,
                new_superior,
            },
        )
    })();
    LdapMsg::new(ctx.msgid, LdapOp::ModifyDNResponse(write_result(r)))
}

/// `wants_policy`: the request carried the password policy control, so a refusal the policy
/// explains gets its response control. With the response comes the connection's new identity
/// when the change lifted a limit on it.
pub(crate) fn password_modify<D: Directory>(
    ctx: &OpContext<D>,
    req: PasswdModifyRequest,
    wants_policy: bool,
) -> (LdapMsg, Option<D::Session>) {
    match password_modify_result(ctx, req) {
        Err(e) if wants_policy && e.password_policy.is_some() => {
            let control = e
                .password_policy
                .map(|p| PolicyResponse::Error(p).control())
                .into_iter()
                .collect();
            let mut m = password_modify_reply(ctx.msgid, error_result(e), None);
            m.ctrl = control;
            (m, None)
        }
        Err(e) => (
            password_modify_reply(ctx.msgid, error_result(e), None),
            None,
        ),
        Ok(done) => (
            password_modify_reply(
                ctx.msgid,
                result(LdapResultCode::Success, ""),
                done.generated,
            ),
            done.session,
        ),
    }
}

fn password_modify_reply(msgid: i32, res: LdapResult, generated: Option<String>) -> LdapMsg {
    let ext = match generated {
        Some(p) => LdapExtendedResponse::from(LdapPasswordModifyResponse {
            res,
            gen_password: Some(p),
        }),
        None => LdapExtendedResponse {
            res,
            name: None,
            value: None,
        },
    };
    LdapMsg::new(msgid, LdapOp::ExtendedResponse(ext))
}

/// RFC 3062: the generated password, if one was asked for, or the refusal.
fn password_modify_result<D: Directory>(
    ctx: &OpContext<D>,
    req: PasswdModifyRequest,
) -> Result<PasswordModified<D::Session>, LdapError> {
    if ctx.shared.config.require_tls_for_passwords && !ctx.client.tls {
        return Err(LdapError::new(
            LdapResultCode::ConfidentialityRequired,
            "TLS is required to change passwords",
        ));
    }
    // Without a userIdentity (or the value altogether), the bound user's password.
    let user = match req.user_identity.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(u) => Some(
            Dn::parse(u.strip_prefix("dn:").unwrap_or(u))
                .map_err(|e| LdapError::new(LdapResultCode::InvalidDNSyntax, e.to_string()))?,
        ),
    };
    let parsed = PasswordModify {
        user,
        old_password: req.old_password,
        new_password: req.new_password.filter(|n| !n.is_empty()),
    };
    ctx.shared.directory.password_modify(&ctx.session, parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_match_their_requests() {
        let r = || result(LdapResultCode::ProtocolError, "x");
        assert!(matches!(
            response(0, 1, r()).map(|m| m.op),
            Some(LdapOp::BindResponse(_))
        ));
        assert!(matches!(
            response(3, 1, r()).map(|m| m.op),
            Some(LdapOp::SearchResultDone(_))
        ));
        assert!(matches!(
            response(14, 1, r()).map(|m| m.op),
            Some(LdapOp::CompareResult(_))
        ));
        assert!(matches!(
            response(23, 1, r()).map(|m| m.op),
            Some(LdapOp::ExtendedResponse(_))
        ));
        assert!(response(2, 1, r()).is_none());
        assert!(response(16, 1, r()).is_none());
        assert_eq!(op_tag(&LdapOp::DelRequest("x".into())), 10);
    }

    #[test]
    fn deadline_takes_the_stricter_limit() {
        let now = Instant::now();
        assert!(deadline(0, None).is_none());
        let d = deadline(1, Some(Duration::from_secs(60))).expect("deadline");
        assert!(d <= now + Duration::from_secs(2));
        let d = deadline(0, Some(Duration::from_secs(60))).expect("deadline");
        assert!(d >= now + Duration::from_secs(59));
        let d = deadline(100, Some(Duration::from_secs(1))).expect("deadline");
        assert!(d <= now + Duration::from_secs(2));
    }
}
