//! Records as LDAP entries (DESIGN §3). `userPassword` is never among them: hashes stay inside.

use rollcall_ldap::{Dn, Entry};
use time::OffsetDateTime;
use time::macros::format_description;

use super::schema::{ACCOUNT_CLASS, PERSON_CLASS, ROLE_CLASS, SERVICE_CLASS};
use super::tree::{Branch, Tree};
use crate::model::{Account, PrincipalKind, Role, User};
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

fn operational(
    entry: &mut Entry,
    id: impl ToString,
    created: OffsetDateTime,
    modified: OffsetDateTime,
    structural: &str,
) {
    entry.add("entryUUID", [id.to_string()]);
    entry.add("createTimestamp", [generalized_time(created)]);
    entry.add("modifyTimestamp", [generalized_time(modified)]);
    entry.add("structuralObjectClass", [structural]);
    entry.add("subschemaSubentry", ["cn=subschema"]);
    entry.add("hasSubordinates", ["FALSE"]);
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

/// `member_of`: whether to resolve role names (a lookup per role), only when the search needs it.
pub fn user_entry(
    tree: &Tree,
    user: &User,
    refs: &mut References<'_>,
    member_of: bool,
) -> Result<Entry> {
    let dn = user_dn(tree, user);
    let mut e = Entry::new(dn.clone());
    e.add("entryDN", [dn.to_string()]);
    let structural;
    if user.kind.is_service_account() {
        structural = SERVICE_CLASS;
        e.add("objectClass", ["top", SERVICE_CLASS, PERSON_CLASS]);
        e.add("cn", [user.user_name.as_str()]);
    } else {
        structural = "inetOrgPerson";
        e.add(
            "objectClass",
            [
                "top",
                "person",
                "organizationalPerson",
                "inetOrgPerson",
                PERSON_CLASS,
            ],
        );
        e.add("uid", [user.user_name.as_str()]);
        let full = match (&user.name.given_name, &user.name.family_name) {
            (Some(g), Some(f)) => Some(format!("{g} {f}")),
            _ => None,
        };
        let cn = user
            .display_name
            .clone()
            .or_else(|| user.name.formatted.clone())
            .or(full)
            .unwrap_or_else(|| user.user_name.clone());
        e.add("cn", [cn]);
        e.add(
            "sn",
            [user
                .name
                .family_name
                .clone()
                .unwrap_or_else(|| user.user_name.clone())],
        );
        e.add("givenName", user.name.given_name.iter().map(String::as_str));
        e.add("displayName", user.display_name.iter().map(String::as_str));
        e.add("mail", user.emails.iter().map(|m| m.value.as_str()));
        let (mobile, phones): (Vec<_>, Vec<_>) = user.phone_numbers.iter().partition(|p| {
            p.kind
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("mobile"))
        });
        e.add("telephoneNumber", phones.iter().map(|p| p.value.as_str()));
        e.add("mobile", mobile.iter().map(|p| p.value.as_str()));
        e.add("title", user.title.iter().map(String::as_str));
        e.add(
            "employeeNumber",
            user.employee_number.iter().map(String::as_str),
        );
        e.add("employeeType", user.user_type.iter().map(String::as_str));
        e.add(
            "departmentNumber",
            user.department.iter().map(String::as_str),
        );
        e.add("o", user.organization.iter().map(String::as_str));
        e.add(
            "preferredLanguage",
            user.preferred_language.iter().map(String::as_str),
        );
        if let Some(manager) = user.manager
            && let Some(m) = refs.user(manager)?
        {
            e.add(
                "manager",
                [tree.record_dn(Branch::People, &m.user_name).to_string()],
            );
        }
        e.add("licenseType", [user.license.as_str()]);
    }
    if let Some(account) = user.account
        && let Some(name) = refs.account(account)?
    {
        e.add(
            "account",
            [tree.record_dn(Branch::Accounts, &name).to_string()],
        );
    }
    e.add("active", [boolean(user.active)]);
    e.add("principalKind", [user.kind.as_str()]);
    if member_of {
        let mut dns = Vec::with_capacity(user.roles.len());
        for role in &user.roles {
            if let Some(name) = refs.role(*role)? {
                dns.push(tree.record_dn(Branch::Roles, &name).to_string());
            }
        }
        e.add("memberOf", dns);
    }
    operational(&mut e, user.id, user.created, user.modified, structural);
    Ok(e)
}

/// `members`: the member DNs, when the search needs them.
pub fn role_entry(tree: &Tree, role: &Role, members: Option<Vec<String>>) -> Entry {
    let dn = tree.record_dn(Branch::Roles, &role.name);
    let mut e = Entry::new(dn.clone());
    e.add("entryDN", [dn.to_string()]);
    e.add("objectClass", ["top", "groupOfNames", ROLE_CLASS]);
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
    operational(&mut e, role.id, role.created, role.modified, "groupOfNames");
    e
}

pub fn account_entry(tree: &Tree, account: &Account, refs: &mut References<'_>) -> Result<Entry> {
    let dn = tree.record_dn(Branch::Accounts, &account.name);
    let mut e = Entry::new(dn.clone());
    e.add("entryDN", [dn.to_string()]);
    e.add("objectClass", ["top", "organization", ACCOUNT_CLASS]);
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
    operational(
        &mut e,
        account.id,
        account.created,
        account.modified,
        "organization",
    );
    Ok(e)
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
