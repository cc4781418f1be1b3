//! Records as LDAP entries (DESIGN §3). `userPassword` is never among them: hashes stay inside.

use rollcall_ldap::{Dn, Entry};
use time::OffsetDateTime;
use time::macros::format_description;

use super::schema::{SERVICE_CLASS, branch_classes};
use super::tree::{Branch, Tree};
use super::{contact, profile};
use crate::model::{Account, CustomAttributes, PrincipalKind, Role, User};
use crate::service::{References, Result};

/// GeneralizedTime in UTC, as createTimestamp/modifyTimestamp carry it.
pub fn generalized_time(t: OffsetDateTime) -> String {
    let utc = t.to_offset(time::UtcOffset::UTC);
    utc.format(format_description!(
        "[year][month][day][hour][minute][second]Z"
    ))
    .unwrap_or_default()
}

fn boolean(b: bool) -> &'static str {
    if b { "TRUE" } else { "FALSE" }
}

/// Which branch a user of this kind lives in.
pub fn kind_branch(kind: PrincipalKind) -> Branch {
    if kind.is_service_account() {
        Branch::Services
    } else {
        Branch::People
    }
}

pub fn user_branch(user: &User) -> Branch {
    kind_branch(user.kind)
}

pub fn user_dn(tree: &Tree, user: &User) -> Dn {
    tree.record_dn(user_branch(user), &user.user_name)
}

/// Every attribute a user entry can carry, by its canonical (schema, lower-case) name. A filter
/// that looks only at these can be tried on an entry built with just them (see
/// [`Attributes::Only`]).
pub const USER_ATTRIBUTES: &[&str] = &[
    "entrydn",
    "objectclass",
    "cn",
    "uid",
    "sn",
    "givenname",
    "displayname",
    "mail",
    "telephonenumber",
    "mobile",
    "title",
    "employeenumber",
    "employeetype",
    "departmentnumber",
    "o",
    "preferredlanguage",
    "labeleduri",
    "usercertificate",
    "manager",
    "licensetype",
    "account",
    "active",
    "principalkind",
    "memberof",
    "entryuuid",
    "createtimestamp",
    "modifytimestamp",
    "authtimestamp",
    "structuralobjectclass",
    "subschemasubentry",
    "hassubordinates",
];

/// Which attributes of an entry to compute.
#[derive(Clone, Copy)]
pub enum Attributes<'a> {
    All,
    /// Only these (canonical lower-case names): enough to try a filter that looks at nothing
    /// else, at a fraction of the cost of the whole entry (no DN strings, timestamps or
    /// reference lookups the filter does not use). Unless `entryDN` is among them the entry's
    /// DN is the empty one: such an entry is for a filter without `dnAttributes` matches, and
    /// is never sent.
    Only(&'a [String]),
}

impl Attributes<'_> {
    /// `name` may carry options (`userCertificate;binary`): a filter names the type.
    fn wants(self, name: &str) -> bool {
        let base = name.split(';').next().unwrap_or(name);
        match self {
            Attributes::All => true,
            Attributes::Only(names) => names.iter().any(|n| n.eq_ignore_ascii_case(base)),
        }
    }
}

/// An entry under construction that computes an attribute's values only if it is wanted.
struct Builder<'a> {
    entry: Entry,
    attributes: Attributes<'a>,
}

impl Builder<'_> {
    fn wants(&self, name: &str) -> bool {
        self.attributes.wants(name)
    }

    fn add<V: Into<Vec<u8>>, I: IntoIterator<Item = V>>(
        &mut self,
        name: &str,
        values: impl FnOnce() -> I,
    ) {
        if self.wants(name) {
            self.entry.add(name, values());
        }
    }

    /// Like [`Self::add`], for values that need the store (a referenced record's name).
    fn add_looked_up<V: Into<Vec<u8>>, I: IntoIterator<Item = V>>(
        &mut self,
        name: &str,
        values: impl FnOnce() -> Result<I>,
    ) -> Result<()> {
        if self.wants(name) {
            self.entry.add(name, values()?);
        }
        Ok(())
    }

    fn operational(
        &mut self,
        id: impl ToString,
        created: OffsetDateTime,
        modified: OffsetDateTime,
        structural: &str,
    ) {
        self.add("entryUUID", || [id.to_string()]);
        self.add("createTimestamp", || [generalized_time(created)]);
        self.add("modifyTimestamp", || [generalized_time(modified)]);
        self.add("structuralObjectClass", || [structural]);
        self.add("subschemaSubentry", || ["cn=subschema"]);
        self.add("hasSubordinates", || ["FALSE"]);
    }
}

/// What building a user entry costs beyond the record, asked for only when a search needs it.
#[derive(Clone, Copy, Debug)]
pub struct Lookups {
    /// Resolve role names for `memberOf` (a lookup per role).
    pub member_of: bool,
    /// Read the last sign-in for `authTimestamp`.
    pub auth_timestamp: bool,
    /// `[lockout] duration_seconds`: a lock ends this long after it began, which gives
    /// `pwdAccountLockedTime` from the end the record keeps.
    pub lock_duration: time::Duration,
}

pub fn user_entry(
    tree: &Tree,
    user: &User,
    refs: &mut References<'_>,
    lookups: Lookups,
    attributes: Attributes<'_>,
    custom: &CustomAttributes,
) -> Result<Entry> {
    let Lookups {
        member_of,
        auth_timestamp,
        lock_duration,
    } = lookups;
    // Building the DN (normalising every RDN) is a good part of an entry's cost.
    let dn = if attributes.wants("entryDN") {
        user_dn(tree, user)
    } else {
        Dn::root()
    };
    let mut e = Builder {
        entry: Entry::new(dn.clone()),
        attributes,
    };
    e.add("entryDN", || [dn.to_string()]);
    let structural;
    if user.kind.is_service_account() {
        structural = SERVICE_CLASS;
        e.add("objectClass", || {
            branch_classes(Branch::Services).iter().copied()
        });
        e.add("cn", || [user.user_name.as_str()]);
    } else {
        structural = "inetOrgPerson";
        e.add("objectClass", || {
            branch_classes(Branch::People).iter().copied()
        });
        e.add("uid", || [user.user_name.as_str()]);
        e.add("cn", || {
            let full = match (&user.name.given_name, &user.name.family_name) {
                (Some(g), Some(f)) => Some(format!("{g} {f}")),
                _ => None,
            };
            [user
                .display_name
                .clone()
                .or_else(|| user.name.formatted.clone())
                .or(full)
                .unwrap_or_else(|| user.user_name.clone())]
        });
        e.add("sn", || {
            [user
                .name
                .family_name
                .clone()
                .unwrap_or_else(|| user.user_name.clone())]
        });
        e.add("givenName", || {
            user.name.given_name.iter().map(String::as_str)
        });
        e.add("displayName", || {
            user.display_name.iter().map(String::as_str)
        });
        e.add("mail", || contact::mail(&user.emails));
        for (attribute, _) in contact::PHONES {
            e.add(attribute, || {
                contact::phones(&user.phone_numbers, attribute)
            });
        }
        e.add("title", || user.title.iter().map(String::as_str));
        e.add("employeeNumber", || {
            user.employee_number.iter().map(String::as_str)
        });
        e.add("employeeType", || user.user_type.iter().map(String::as_str));
        e.add("departmentNumber", || {
            user.department.iter().map(String::as_str)
        });
        e.add("o", || user.organization.iter().map(String::as_str));
        e.add("preferredLanguage", || {
            user.preferred_language.iter().map(String::as_str)
        });
        e.add(profile::PROFILE_URL, || {
            user.profile_url.iter().map(String::as_str)
        });
        e.add(profile::CERTIFICATE, || profile::certificates(user));
        e.add_looked_up("manager", || {
            Ok(match user.manager {
                Some(manager) => refs.user(manager)?.map(|m| {
                    tree.record_dn(kind_branch(m.kind), &m.user_name)
                        .to_string()
                }),
                None => None,
            })
        })?;
    }
    // rollcallPerson's, on service accounts too: their license type decides which roles they
    // may hold and who may read them, SCIM shows it, and an LDAP write may change it.
    e.add("licenseType", || [user.license.as_str()]);
    e.add_looked_up("account", || {
        Ok(match user.account {
            Some(account) => refs
                .account(account)?
                .map(|name| tree.record_dn(Branch::Accounts, &name).to_string()),
            None => None,
        })
    })?;
    e.add("active", || [boolean(user.active)]);
    e.add("principalKind", || [user.kind.as_str()]);
    for (attribute, value) in custom.values(&user.extensions) {
        e.add(attribute.ldap_name(), || ldap_values(value));
    }
    if member_of {
        e.add_looked_up("memberOf", || {
            let mut dns = Vec::with_capacity(user.roles.len());
            for role in &user.roles {
                if let Some(name) = refs.role(*role)? {
                    dns.push(tree.record_dn(Branch::Roles, &name).to_string());
                }
            }
            Ok(dns)
        })?;
    }
    e.operational(user.id, user.created, user.modified, structural);
    // The password policy's operational attributes (draft-behera §5.3), as LDAP tools that
    // manage passwords read them: when the password was set, and when a lock began.
    if let Some(changed) = user
        .password_changed
        .filter(|_| user.password_hash.is_some())
    {
        e.add("pwdChangedTime", || [generalized_time(changed)]);
    }
    if let Some(until) = user
        .locked_until
        .filter(|_| user.is_locked(OffsetDateTime::now_utc()))
    {
        e.add("pwdAccountLockedTime", || {
            [generalized_time(until - lock_duration)]
        });
    }
    if auth_timestamp {
        e.add_looked_up("authTimestamp", || {
            Ok(refs.last_login(user.id)?.map(generalized_time))
        })?;
    }
    Ok(e.entry)
}

/// A custom attribute's JSON value as LDAP values: text as it is, booleans as `TRUE`/`FALSE`,
/// numbers in decimal, a list value by value.
pub(super) fn ldap_values(value: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    match value {
        Value::Array(items) => items.iter().flat_map(ldap_values).collect(),
        Value::String(s) => vec![s.clone()],
        Value::Bool(b) => vec![boolean(*b).to_string()],
        Value::Null => Vec::new(),
        other => vec![other.to_string()],
    }
}

/// `members`: the member DNs, when the search needs them.
pub fn role_entry(tree: &Tree, role: &Role, members: Option<Vec<String>>) -> Entry {
    let dn = tree.record_dn(Branch::Roles, &role.name);
    let mut e = Entry::new(dn.clone());
    e.add("entryDN", [dn.to_string()]);
    e.add("objectClass", branch_classes(Branch::Roles).iter().copied());
    e.add("cn", [role.name.as_str()]);
    e.add(
        "description",
        role.settings.description.iter().map(String::as_str),
    );
    e.add("roleType", role.role_type.iter().map(|t| t.as_str()));
    e.add("administrator", [boolean(role.administrator)]);
    if let Some(members) = members {
        e.add("member", members);
    }
    let mut e = Builder {
        entry: e,
        attributes: Attributes::All,
    };
    e.operational(role.id, role.created, role.modified, "groupOfNames");
    e.entry
}

pub fn account_entry(tree: &Tree, account: &Account, refs: &mut References<'_>) -> Result<Entry> {
    let dn = tree.record_dn(Branch::Accounts, &account.name);
    let mut e = Entry::new(dn.clone());
    e.add("entryDN", [dn.to_string()]);
    e.add(
        "objectClass",
        branch_classes(Branch::Accounts).iter().copied(),
    );
    e.add("o", [account.name.as_str()]);
    if let Some(parent) = account.parent
        && let Some(name) = refs.account(parent)?
    {
        e.add(
            "parentAccount",
            [tree.record_dn(Branch::Accounts, &name).to_string()],
        );
    }
    e.add("licensed", [boolean(account.licensed)]);
    let mut e = Builder {
        entry: e,
        attributes: Attributes::All,
    };
    e.operational(
        account.id,
        account.created,
        account.modified,
        "organization",
    );
    Ok(e.entry)
}

pub fn base_entry(tree: &Tree) -> Entry {
    let base = tree.base();
    let mut e = Entry::new(base.clone());
    e.add("entryDN", [base.to_string()]);
    let rdn = base.rdn();
    match rdn.and_then(|r| {
        r.get("dc")
            .map(|v| ("dc", v))
            .or_else(|| r.get("o").map(|v| ("o", v)))
    }) {
        Some(("dc", v)) => {
            e.add("objectClass", ["top", "dcObject", "organization"]);
            e.add("dc", [v]);
            e.add("o", [v]);
        }
        Some((_, v)) => {
            e.add("objectClass", ["top", "organization"]);
            e.add("o", [v]);
        }
        None => e.add("objectClass", ["top"]),
    }
    e.add("structuralObjectClass", ["organization"]);
    e.add("subschemaSubentry", ["cn=subschema"]);
    e.add("hasSubordinates", ["TRUE"]);
    e
}

pub fn branch_entry(tree: &Tree, branch: Branch) -> Entry {
    let dn = tree.branch_dn(branch);
    let mut e = Entry::new(dn.clone());
    e.add("entryDN", [dn.to_string()]);
    e.add("objectClass", ["top", "organizationalUnit"]);
    e.add("ou", [branch.ou()]);
    e.add("structuralObjectClass", ["organizationalUnit"]);
    e.add("subschemaSubentry", ["cn=subschema"]);
    e.add("hasSubordinates", ["TRUE"]);
    e
}
