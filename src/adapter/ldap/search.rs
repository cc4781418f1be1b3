//! Searches: which parts of the tree a query covers, the index plan for users, and entries
//! streamed to the sink in one fixed order so that paged searches can resume by position.
//!
//! Positions: `0x00` base entry, `0x01..=0x04` branch entries, then records: users (people and
//! services, by id) `0x10`, roles `0x20`, accounts `0x30`, each followed by the record id. Ids are
//! UUIDv7, so bytewise order is creation order and matches the store's iteration.

use std::ops::ControlFlow;

use rollcall_ldap::filter::{Plan as LdapPlan, referenced_attributes};
use rollcall_ldap::{
    Dn, Entry, EntrySink, Filter, LdapError, LdapFilter, LdapSearchScope, SearchQuery,
};

use super::LdapDirectory;
use super::entry::{
    Attributes, Lookups, USER_ATTRIBUTES, account_entry, base_entry, branch_entry, kind_branch,
    role_entry, user_branch, user_entry,
};
use super::error::ldap_error;
use super::tree::{Branch, Target};
use crate::model::{User, UserId};
use crate::service::{Actor, Plan, ServiceError, UserLookup};

/// Whether a filter has an extensible match with `dnAttributes`, which looks at the entry's DN.
fn matches_dn(filter: &LdapFilter) -> bool {
    match filter {
        LdapFilter::And(parts) | LdapFilter::Or(parts) => parts.iter().any(matches_dn),
        LdapFilter::Not(inner) => matches_dn(inner),
        LdapFilter::Extensible(m) => m.dn_attributes,
        _ => false,
    }
}

/// Whether a plan reads every user: no index narrows it.
fn is_scan(plan: &Plan) -> bool {
    match plan {
        Plan::Scan => true,
        Plan::Lookup(_) => false,
        Plan::And(parts) => parts.iter().all(is_scan),
        Plan::Or(parts) => parts.iter().any(is_scan),
    }
}

const USERS: u8 = 0x10;
const ROLES: u8 = 0x20;
const ACCOUNTS: u8 = 0x30;

/// What a search visits, in order.
#[derive(Default)]
struct Coverage {
    base: bool,
    branches: Vec<Branch>,
    /// Records of these branches; with `only`, just the one record of that name.
    records: Vec<Branch>,
    only: Option<String>,
    /// The base is a record and the scope asks for its children, of which there are none: the
    /// record is only looked up to answer noSuchObject when it is missing.
    children_only: bool,
}

pub(super) struct Search<'a> {
    pub directory: &'a LdapDirectory,
    pub actor: &'a Actor,
    pub query: &'a SearchQuery,
    /// Whether any record was found, before paging or filtering: tells a missing base apart.
    pub seen: std::cell::Cell<bool>,
}

impl Search<'_> {
    pub fn run(&self, sink: &mut dyn EntrySink) -> Result<(), LdapError> {
        let mut coverage = self.coverage()?;
        if coverage.only.is_none() && self.requires_user_attribute() {
            // Only users carry uid and mail: the base, the branch entries, roles and accounts
            // cannot match, so they are not even built.
            coverage.base = false;
            coverage.branches.clear();
            coverage
                .records
                .retain(|b| matches!(b, Branch::People | Branch::Services));
        }
        if self
            .directory
            .service
            .reads_nothing(self.actor)
            .map_err(ldap_error)?
        {
            // Like a missing tree, whatever the base and filter: a principal that may read
            // nothing learns nothing, not even that the branches exist.
            return Err(LdapError::no_such_object());
        }
        if let (Some(_), Some(branch)) = (&coverage.only, coverage.records.first()) {
            let mut probe = Found(false);
            let sink: &mut dyn EntrySink = if coverage.children_only {
                &mut probe
            } else {
                sink
            };
            self.records(sink, &coverage)?;
            if !self.seen.get() {
                return Err(LdapError::no_such_object()
                    .with_matched(self.directory.tree.branch_dn(*branch)));
            }
            return Ok(());
        }
        let tree = &self.directory.tree;
        if coverage.base && self.send(sink, base_entry(tree), vec![0]).is_break() {
            return Ok(());
        }
        for b in &coverage.branches {
            let pos = vec![1 + *b as u8];
            if self.send(sink, branch_entry(tree, *b), pos).is_break() {
                return Ok(());
            }
        }
        self.records(sink, &coverage)
    }

    fn records(&self, sink: &mut dyn EntrySink, coverage: &Coverage) -> Result<(), LdapError> {
        let wants = |b: Branch| coverage.records.contains(&b);
        let only = coverage.only.as_deref();
        if (wants(Branch::People) || wants(Branch::Services))
            && self.users(sink, coverage)?.is_break()
        {
            return Ok(());
        }
        if wants(Branch::Roles) && self.roles(sink, only)?.is_break() {
            return Ok(());
        }
        if wants(Branch::Accounts) {
            let _ = self.accounts(sink, only)?;
        }
        // Accounts come last: whether they stopped early changes nothing.
        Ok(())
    }

    fn coverage(&self) -> Result<Coverage, LdapError> {
        use LdapSearchScope as S;
        let scope = self.query.scope.clone();
        let all = Branch::ALL.to_vec();
        Ok(match self.directory.tree.resolve(&self.query.base) {
            Target::Outside => return Err(LdapError::no_such_object()),
            Target::Missing { matched } => {
                return Err(LdapError::no_such_object().with_matched(matched));
            }
            Target::BelowRecord(branch, name) => {
                return Err(self.directory.below_record(self.actor, branch, &name));
            }
            Target::Base => match scope {
                S::Base => Coverage {
                    base: true,
                    ..Coverage::default()
                },
                S::OneLevel => Coverage {
                    branches: all,
                    ..Coverage::default()
                },
                S::Subtree => Coverage {
                    base: true,
                    branches: all.clone(),
                    records: all,
                    ..Coverage::default()
                },
                S::Children => Coverage {
                    branches: all.clone(),
                    records: all,
                    ..Coverage::default()
                },
            },
            Target::Branch(b) => match scope {
                S::Base => Coverage {
                    branches: vec![b],
                    ..Coverage::default()
                },
                S::OneLevel | S::Children => Coverage {
                    records: vec![b],
                    ..Coverage::default()
                },
                S::Subtree => Coverage {
                    branches: vec![b],
                    records: vec![b],
                    ..Coverage::default()
                },
            },
            Target::Record(b, name) => Coverage {
                records: vec![b],
                only: Some(name),
                children_only: matches!(scope, S::OneLevel | S::Children),
                ..Coverage::default()
            },
        })
    }

    /// Whether the filter holds only for entries with a `uid` or `mail` value: it is, or is
    /// a conjunction with, an equality on one of them (the query plan says so).
    fn requires_user_attribute(&self) -> bool {
        let user_only = |a: &str| a == "uid" || a == "mail";
        let required = |p: &LdapPlan| matches!(p, LdapPlan::Equal { attr, .. } if user_only(attr));
        match self.query.plan(&self.directory.schema, &user_only) {
            LdapPlan::And(parts) => parts.iter().any(required),
            plan => required(&plan),
        }
    }

    /// Offers an entry unless it is at or before the resume position of a paged search.
    fn send(&self, sink: &mut dyn EntrySink, entry: Entry, position: Vec<u8>) -> ControlFlow<()> {
        self.seen.set(true);
        if self
            .query
            .resume_after
            .as_ref()
            .is_some_and(|after| position <= *after)
        {
            return ControlFlow::Continue(());
        }
        match sink.send_at(entry, position) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    }

    fn needs(&self, attribute: &str) -> bool {
        self.query.needs(attribute, &self.directory.schema)
    }

    fn users(
        &self,
        sink: &mut dyn EntrySink,
        coverage: &Coverage,
    ) -> Result<ControlFlow<()>, LdapError> {
        let people = coverage.records.contains(&Branch::People);
        let services = coverage.records.contains(&Branch::Services);
        let plan = match &coverage.only {
            Some(name) => Plan::Lookup(UserLookup::UserName(name.clone())),
            None => {
                let indexed = |a: &str| {
                    matches!(
                        a,
                        "uid"
                            | "mail"
                            | "employeenumber"
                            | "entryuuid"
                            | "manager"
                            | "memberof"
                            | "account"
                    )
                };
                self.user_plan(&self.query.plan(&self.directory.schema, &indexed))?
            }
        };
        let resume = self
            .query
            .resume_after
            .as_ref()
            .and_then(|p| match p.split_first() {
                Some((&USERS, id)) => UserId::from_slice(id),
                Some((s, _)) if *s > USERS => Some(UserId(uuid::Uuid::max())),
                _ => None,
            });
        let member_of = self.needs("memberOf");
        let auth_timestamp = self.needs("authTimestamp");
        let prefilter = if is_scan(&plan) {
            self.prefilter()
        } else {
            None
        };
        let mut refs = self
            .directory
            .service
            .references(self.actor)
            .map_err(ldap_error)?;
        let custom = &*self.directory.service.policy().custom;
        let lock_duration = self.directory.service.policy().lockout.duration();
        let mut failure: Option<ServiceError> = None;
        let mut flow = ControlFlow::Continue(());
        let mut visit = |user: &User| {
            if sink.is_stopped() {
                flow = ControlFlow::Break(());
                return flow;
            }
            if resume.is_some_and(|r| user.id <= r) {
                return ControlFlow::Continue(());
            }
            let wanted = match user_branch(user) {
                Branch::People => people,
                _ => services,
            };
            if !wanted {
                return ControlFlow::Continue(());
            }
            if let Some((filter, names)) = &prefilter {
                let all = Lookups {
                    member_of: true,
                    auth_timestamp: true,
                    lock_duration,
                };
                let tried = user_entry(
                    &self.directory.tree,
                    user,
                    &mut refs,
                    all,
                    Attributes::Only(names),
                    custom,
                );
                match tried {
                    Ok(partial) if !filter.matches(&partial, &self.directory.schema) => {
                        return ControlFlow::Continue(());
                    }
                    Ok(_) => {}
                    Err(e) => {
                        failure = Some(e);
                        return ControlFlow::Break(());
                    }
                }
            }
            let lookups = Lookups {
                member_of,
                auth_timestamp,
                lock_duration,
            };
            let entry = user_entry(
                &self.directory.tree,
                user,
                &mut refs,
                lookups,
                Attributes::All,
                custom,
            );
            match entry {
                Ok(entry) => {
                    let mut pos = Vec::with_capacity(17);
                    pos.push(USERS);
                    pos.extend_from_slice(user.id.as_bytes());
                    flow = self.send(sink, entry, pos);
                    flow
                }
                Err(e) => {
                    failure = Some(e);
                    ControlFlow::Break(())
                }
            }
        };
        self.directory
            .service
            .list_users_after(self.actor, &plan, resume, &mut visit)
            .map_err(ldap_error)?;
        if let Some(e) = failure {
            return Err(ldap_error(e));
        }
        Ok(flow)
    }

    /// For a scan: the compiled filter and the attributes it reads, when every one of them is
    /// an attribute user entries carry under that very name. A user whose entry built with just
    /// those fails the filter fails it whole, so most users of a scan (an unindexed `cn`
    /// substring, say) never have the rest of their entry built: DNs, timestamps, references.
    fn prefilter(&self) -> Option<(Filter, Vec<String>)> {
        let schema = &self.directory.schema;
        let names = referenced_attributes(&self.query.filter, schema);
        let known = names.iter().all(|n| USER_ATTRIBUTES.contains(&n.as_str()));
        (known && !matches_dn(&self.query.filter))
            .then(|| (Filter::compile(&self.query.filter, schema), names))
    }

    /// The service's plan for an LDAP index plan. References by DN resolve to ids; a DN that
    /// names nothing (or nothing visible) makes that branch of the plan empty.
    fn user_plan(&self, plan: &LdapPlan) -> Result<Plan, LdapError> {
        let nothing = || Plan::Or(Vec::new());
        Ok(match plan {
            LdapPlan::Scan => Plan::Scan,
            LdapPlan::And(parts) => Plan::And(
                parts
                    .iter()
                    .map(|p| self.user_plan(p))
                    .collect::<Result<_, _>>()?,
            ),
            LdapPlan::Or(parts) => Plan::Or(
                parts
                    .iter()
                    .map(|p| self.user_plan(p))
                    .collect::<Result<_, _>>()?,
            ),
            LdapPlan::Equal { attr, value } => match attr.as_str() {
                "uid" => Plan::Lookup(UserLookup::UserName(value.clone())),
                "mail" => Plan::Lookup(UserLookup::Email(value.clone())),
                "employeenumber" => Plan::Lookup(UserLookup::EmployeeNumber(value.clone())),
                "entryuuid" => match value.parse() {
                    Ok(id) => Plan::Lookup(UserLookup::Id(UserId(id))),
                    Err(_) => nothing(),
                },
                "manager" | "memberof" | "account" => match self.reference(attr, value)? {
                    Some(lookup) => Plan::Lookup(lookup),
                    None => nothing(),
                },
                _ => Plan::Scan,
            },
        })
    }

    fn reference(&self, attr: &str, value: &str) -> Result<Option<UserLookup>, LdapError> {
        let Ok(dn) = Dn::parse(value) else {
            return Ok(None);
        };
        let service = &self.directory.service;
        let found = match (attr, self.directory.tree.resolve(&dn)) {
            // A manager's DN names a user of its own branch only, as the scan's match does.
            ("manager", Target::Record(branch @ (Branch::People | Branch::Services), name)) => self
                .directory
                .user_in(self.actor, branch, &name)
                .map(|u| UserLookup::Manager(u.id)),
            ("memberof", Target::Record(Branch::Roles, name)) => service
                .role_by_name(self.actor, &name)
                .map(|r| UserLookup::Role(r.id)),
            ("account", Target::Record(Branch::Accounts, name)) => service
                .account_by_name(self.actor, &name)
                .map(|a| UserLookup::Account(a.id)),
            _ => return Ok(None),
        };
        match found {
            Ok(lookup) => Ok(Some(lookup)),
            Err(ServiceError::NotFound { .. } | ServiceError::Forbidden(_)) => Ok(None),
            Err(e) => Err(ldap_error(e)),
        }
    }

    /// The user named by a `member` equality the filter requires, if it has one. A DN that
    /// names no visible user matches no role.
    fn member_lookup(&self) -> Result<Option<User>, LdapError> {
        let indexed = |a: &str| a == "member";
        let plan = self.query.plan(&self.directory.schema, &indexed);
        let value = match &plan {
            LdapPlan::Equal { value, .. } => Some(value),
            LdapPlan::And(parts) => parts.iter().find_map(|p| match p {
                LdapPlan::Equal { value, .. } => Some(value),
                _ => None,
            }),
            _ => None,
        };
        let Some(value) = value else {
            return Ok(None);
        };
        let missing = || {
            let mut nobody = User::new("");
            nobody.roles.clear();
            Ok(Some(nobody))
        };
        let Ok(dn) = Dn::parse(value) else {
            return missing();
        };
        let Target::Record(branch @ (Branch::People | Branch::Services), name) =
            self.directory.tree.resolve(&dn)
        else {
            return missing();
        };
        match self.directory.user_in(self.actor, branch, &name) {
            Ok(user) => Ok(Some(user)),
            Err(ServiceError::NotFound { .. } | ServiceError::Forbidden(_)) => missing(),
            Err(e) => Err(ldap_error(e)),
        }
    }

    fn roles(
        &self,
        sink: &mut dyn EntrySink,
        only: Option<&str>,
    ) -> Result<ControlFlow<()>, LdapError> {
        let service = &self.directory.service;
        let mut roles = service.roles(self.actor).map_err(ldap_error)?;
        if let Some(name) = only {
            roles.retain(|r| crate::model::fold(&r.name) == crate::model::fold(name));
        }
        let member = self.member_lookup()?;
        if let Some(user) = &member {
            // `(member=<dn>)` (alone or under `&`): only the member's own roles can match.
            roles.retain(|r| user.roles.contains(&r.id));
        }
        roles.sort_by_key(|r| r.id);
        // Every role left holds that member; when nothing else reads `member`, the entry
        // carries that one value instead of a list that may run to thousands.
        let only_member = member
            .as_ref()
            .and(
                self.query
                    .sole_required_equality("member", &self.directory.schema),
            )
            .map(str::to_string);
        let with_members = only_member.is_none() && self.needs("member");
        let mut refs = service.references(self.actor).map_err(ldap_error)?;
        for role in roles {
            if sink.is_stopped() {
                return Ok(ControlFlow::Break(()));
            }
            let members = if with_members {
                let ids = service
                    .role_members(self.actor, role.id)
                    .map_err(ldap_error)?;
                let mut dns = Vec::with_capacity(ids.len());
                for id in ids {
                    if let Some(u) = refs.user(id).map_err(ldap_error)? {
                        let branch = kind_branch(u.kind);
                        dns.push(
                            self.directory
                                .tree
                                .record_dn(branch, &u.user_name)
                                .to_string(),
                        );
                    }
                }
                Some(dns)
            } else {
                only_member.clone().map(|dn| vec![dn])
            };
            let mut pos = vec![ROLES];
            pos.extend_from_slice(role.id.as_bytes());
            if self
                .send(sink, role_entry(&self.directory.tree, &role, members), pos)
                .is_break()
            {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    fn accounts(
        &self,
        sink: &mut dyn EntrySink,
        only: Option<&str>,
    ) -> Result<ControlFlow<()>, LdapError> {
        let service = &self.directory.service;
        let mut accounts = service.accounts(self.actor).map_err(ldap_error)?;
        if let Some(name) = only {
            accounts.retain(|a| crate::model::fold(&a.name) == crate::model::fold(name));
        }
        accounts.sort_by_key(|a| a.id);
        let mut refs = service.references(self.actor).map_err(ldap_error)?;
        for account in accounts {
            if sink.is_stopped() {
                return Ok(ControlFlow::Break(()));
            }
            let entry =
                account_entry(&self.directory.tree, &account, &mut refs).map_err(ldap_error)?;
            let mut pos = vec![ACCOUNTS];
            pos.extend_from_slice(account.id.as_bytes());
            if self.send(sink, entry, pos).is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }
}

/// A sink that only records whether anything arrived: the existence probe of a record base.
struct Found(bool);

impl EntrySink for Found {
    fn send(&mut self, _: Entry) -> Result<(), rollcall_ldap::Stop> {
        self.0 = true;
        Err(rollcall_ldap::Stop)
    }
    fn send_at(&mut self, entry: Entry, _: Vec<u8>) -> Result<(), rollcall_ldap::Stop> {
        self.send(entry)
    }
    fn is_stopped(&self) -> bool {
        self.0
    }
}

/// A search that touches one user through an index: a search based at a user's DN, or a filter
/// that requires an equality on `uid` or `mail`. Branch entries, roles and accounts cannot
/// match such a filter (see [`Search::requires_user_attribute`]), so nothing is scanned. Role
/// entries are not point lookups: their member lists may run to thousands.
pub(super) fn is_point_lookup(directory: &LdapDirectory, query: &SearchQuery) -> bool {
    if let Target::Record(Branch::People | Branch::Services, _) =
        directory.tree.resolve(&query.base)
    {
        return true;
    }
    let keyed = |a: &str| matches!(a, "uid" | "mail");
    let equality = |p: &LdapPlan| matches!(p, LdapPlan::Equal { attr, .. } if keyed(attr));
    match query.plan(&directory.schema, &keyed) {
        LdapPlan::And(parts) => parts.iter().any(equality),
        plan => equality(&plan),
    }
}
