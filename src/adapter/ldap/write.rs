//! LDAP writes mapped onto the same service operations SCIM uses: add creates, modify changes
//! under the same rules (license checks on `active`), delete anonymises a user (there is no hard
//! delete), modifyDN renames. Attribute names are matched case-insensitively.

use rollcall_ldap::{
    AddRequest, Dn, LdapError, LdapResultCode as Code, Modification, ModifyDnRequest, ModifyOp,
    ModifyRequest, PasswordModified, PasswordModify,
};

use super::error::ldap_error;
use super::tree::{Branch, Target};
use super::{LdapDirectory, LdapSession};
use crate::model::{
    Account, AccountId, CustomAttribute, CustomAttributes, CustomType, LicenseType, MultiValue,
    PrincipalKind, Role, RoleType, User, UserId,
};
use crate::service::{Actor, NewUser, ServiceError};

fn text(values: &[Vec<u8>], attr: &str) -> Result<Vec<String>, LdapError> {
    values
        .iter()
        .map(|v| {
            String::from_utf8(v.clone()).map_err(|_| {
                LdapError::new(Code::InvalidAttributeSyntax, format!("{attr}: not UTF-8"))
            })
        })
        .collect()
}

fn single(values: &[String], attr: &str) -> Result<Option<String>, LdapError> {
    match values {
        [] => Ok(None),
        [v] => Ok(Some(v.clone())),
        _ => Err(LdapError::new(
            Code::ConstraintViolation,
            format!("{attr} is single-valued"),
        )),
    }
}

fn boolean(value: Option<String>, attr: &str) -> Result<Option<bool>, LdapError> {
    match value.as_deref() {
        None => Ok(None),
        Some("TRUE") => Ok(Some(true)),
        Some("FALSE") => Ok(Some(false)),
        Some(_) => Err(LdapError::new(
            Code::InvalidAttributeSyntax,
            format!("{attr} must be TRUE or FALSE"),
        )),
    }
}

fn undefined(attr: &str) -> LdapError {
    LdapError::new(
        Code::UndefinedAttributeType,
        format!("{attr} cannot be written here"),
    )
}

/// Target of a write: must name a record.
fn record(dir: &LdapDirectory, dn: &Dn) -> Result<(Branch, String), LdapError> {
    match dir.tree.resolve(dn) {
        Target::Record(b, name) => Ok((b, name)),
        Target::Missing { matched } => Err(LdapError::no_such_object().with_matched(matched)),
        Target::Base | Target::Branch(_) => Err(LdapError::unwilling(
            "the base and branch entries are fixed",
        )),
        Target::Outside => Err(LdapError::no_such_object()),
    }
}

impl LdapDirectory {
    fn user_named(&self, actor: &Actor, name: &str) -> Result<User, LdapError> {
        self.service.user_by_name(actor, name).map_err(ldap_error)
    }

    fn role_named(&self, actor: &Actor, name: &str) -> Result<Role, LdapError> {
        self.service.role_by_name(actor, name).map_err(ldap_error)
    }

    fn account_named(&self, actor: &Actor, name: &str) -> Result<Account, LdapError> {
        self.service
            .account_by_name(actor, name)
            .map_err(ldap_error)
    }

    fn dn_reference(&self, actor: &Actor, value: &str, want: Branch) -> Result<DnRef, LdapError> {
        let bad = || {
            LdapError::new(
                Code::InvalidAttributeSyntax,
                format!("{value:?} is not an entry under ou={}", want.ou()),
            )
        };
        let dn = Dn::parse(value).map_err(|_| bad())?;
        let Target::Record(b, name) = self.tree.resolve(&dn) else {
            return Err(bad());
        };
        let people =
            matches!(want, Branch::People) && matches!(b, Branch::People | Branch::Services);
        if b != want && !people {
            return Err(bad());
        }
        let unknown = |e: ServiceError| match e {
            ServiceError::NotFound { .. } => {
                LdapError::new(Code::ConstraintViolation, format!("{value} does not exist"))
            }
            e => ldap_error(e),
        };
        Ok(match want {
            Branch::People | Branch::Services => {
                DnRef::User(self.service.user_by_name(actor, &name).map_err(unknown)?.id)
            }
            Branch::Roles => return Err(bad()),
            Branch::Accounts => DnRef::Account(
                self.service
                    .account_by_name(actor, &name)
                    .map_err(unknown)?
                    .id,
            ),
        })
    }

    fn user_ref(&self, actor: &Actor, value: &str) -> Result<UserId, LdapError> {
        match self.dn_reference(actor, value, Branch::People)? {
            DnRef::User(id) => Ok(id),
            _ => Err(LdapError::other("unexpected reference")),
        }
    }

    fn account_ref(&self, actor: &Actor, value: &str) -> Result<AccountId, LdapError> {
        match self.dn_reference(actor, value, Branch::Accounts)? {
            DnRef::Account(id) => Ok(id),
            _ => Err(LdapError::other("unexpected reference")),
        }
    }
}

enum DnRef {
    User(UserId),
    Account(AccountId),
}

/// One attribute change to a user, with references already resolved.
enum UserChange {
    Set(UserField, Vec<String>),
    /// A custom attribute (`[custom_attributes]`), by its LDAP name.
    Custom(CustomAttribute, Vec<String>),
    Manager(Option<UserId>),
    Account(Option<AccountId>),
}

#[derive(Clone, Copy)]
enum UserField {
    GivenName,
    Sn,
    DisplayName,
    Mail,
    Telephone,
    Mobile,
    Title,
    EmployeeNumber,
    EmployeeType,
    Department,
    Organization,
    PreferredLanguage,
    LicenseType,
    Active,
}

fn user_field(attr: &str) -> Option<UserField> {
    use UserField as F;
    Some(match attr.to_ascii_lowercase().as_str() {
        "givenname" | "gn" => F::GivenName,
        "sn" | "surname" => F::Sn,
        "displayname" | "cn" | "commonname" => F::DisplayName,
        "mail" => F::Mail,
        "telephonenumber" => F::Telephone,
        "mobile" => F::Mobile,
        "title" => F::Title,
        "employeenumber" => F::EmployeeNumber,
        "employeetype" => F::EmployeeType,
        "departmentnumber" => F::Department,
        "o" => F::Organization,
        "preferredlanguage" => F::PreferredLanguage,
        "licensetype" => F::LicenseType,
        "active" => F::Active,
        _ => return None,
    })
}

/// Attributes clients send that the record does not store (derived or fixed).
fn ignored(attr: &str) -> bool {
    matches!(
        attr.to_ascii_lowercase().as_str(),
        "objectclass" | "uid" | "principalkind"
    )
}

fn set_field(user: &mut User, field: UserField, values: &[String]) -> crate::service::Result<()> {
    use UserField as F;
    let one = || values.first().cloned();
    let multi = |kind: Option<&str>| -> Vec<MultiValue> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| MultiValue {
                value: v.clone(),
                kind: kind.map(str::to_owned),
                primary: i == 0,
                display: None,
            })
            .collect()
    };
    let invalid = |field, reason: &str| ServiceError::Invalid {
        field,
        reason: reason.into(),
    };
    if values.len() > 1 && !matches!(field, F::Mail | F::Telephone | F::Mobile) {
        return Err(invalid("attribute", "is single-valued"));
    }
    match field {
        F::GivenName => user.name.given_name = one(),
        F::Sn => user.name.family_name = one(),
        F::DisplayName => user.display_name = one(),
        F::Mail => user.emails = multi(Some("work")),
        F::Telephone | F::Mobile => {
            let mobile = matches!(field, F::Mobile);
            user.phone_numbers.retain(|p| {
                p.kind
                    .as_deref()
                    .is_some_and(|k| k.eq_ignore_ascii_case("mobile"))
                    != mobile
            });
            user.phone_numbers
                .extend(multi(Some(if mobile { "mobile" } else { "work" })));
        }
        F::Title => user.title = one(),
        F::EmployeeNumber => user.employee_number = one(),
        F::EmployeeType => user.user_type = one(),
        F::Department => user.department = one(),
        F::Organization => user.organization = one(),
        F::PreferredLanguage => user.preferred_language = one(),
        F::LicenseType => {
            user.license = match one() {
                None => LicenseType::Employee,
                Some(v) => v
                    .parse()
                    .map_err(|_| invalid("licenseType", "must be employee, partner or customer"))?,
            }
        }
        F::Active => {
            user.active = match one().as_deref() {
                None | Some("FALSE") => false,
                Some("TRUE") => true,
                Some(_) => return Err(invalid("active", "must be TRUE or FALSE")),
            }
        }
    }
    Ok(())
}

fn current_values(user: &User, field: UserField) -> Vec<String> {
    use UserField as F;
    let opt = |o: &Option<String>| o.iter().cloned().collect::<Vec<_>>();
    let phones = |mobile: bool| {
        user.phone_numbers
            .iter()
            .filter(|p| {
                p.kind
                    .as_deref()
                    .is_some_and(|k| k.eq_ignore_ascii_case("mobile"))
                    == mobile
            })
            .map(|p| p.value.clone())
            .collect()
    };
    match field {
        F::GivenName => opt(&user.name.given_name),
        F::Sn => opt(&user.name.family_name),
        F::DisplayName => opt(&user.display_name),
        F::Mail => user.emails.iter().map(|m| m.value.clone()).collect(),
        F::Telephone => phones(false),
        F::Mobile => phones(true),
        F::Title => opt(&user.title),
        F::EmployeeNumber => opt(&user.employee_number),
        F::EmployeeType => opt(&user.user_type),
        F::Department => opt(&user.department),
        F::Organization => opt(&user.organization),
        F::PreferredLanguage => opt(&user.preferred_language),
        F::LicenseType => vec![user.license.as_str().to_owned()],
        F::Active => vec![if user.active { "TRUE" } else { "FALSE" }.to_owned()],
    }
}

/// Applies an LDAP modification list to the values a field has now.
fn modified_values(
    current: Vec<String>,
    op: ModifyOp,
    values: &[String],
) -> crate::service::Result<Vec<String>> {
    Ok(match op {
        ModifyOp::Replace => values.to_vec(),
        ModifyOp::Add => {
            let mut out = current;
            for v in values {
                if out.iter().any(|c| c.eq_ignore_ascii_case(v)) {
                    return Err(ServiceError::Invalid {
                        field: "attribute",
                        reason: format!("value {v:?} already present"),
                    });
                }
                out.push(v.clone());
            }
            out
        }
        ModifyOp::Delete if values.is_empty() => Vec::new(),
        ModifyOp::Delete => {
            let mut out = current;
            for v in values {
                let before = out.len();
                out.retain(|c| !c.eq_ignore_ascii_case(v));
                if out.len() == before {
                    return Err(ServiceError::Invalid {
                        field: "attribute",
                        reason: format!("value {v:?} not present"),
                    });
                }
            }
            out
        }
        ModifyOp::Increment => {
            return Err(ServiceError::Invalid {
                field: "attribute",
                reason: "increment is not supported on this attribute".into(),
            });
        }
    })
}

/// `rdn` is the userName the entry's DN names: `uid`, which is that name, can only be said
/// again, not changed here (a rename is a Modify DN).
fn user_changes(
    dir: &LdapDirectory,
    actor: &Actor,
    rdn: &str,
    changes: &[Modification],
) -> Result<Vec<(ModifyOp, UserChange)>, LdapError> {
    let mut out = Vec::new();
    for Modification { op, attribute } in changes {
        let name = attribute.name.as_str();
        let values = text(&attribute.values, name)?;
        let change = match name.to_ascii_lowercase().as_str() {
            "uid" => {
                let same = matches!(op, ModifyOp::Replace | ModifyOp::Add)
                    && values
                        .iter()
                        .all(|v| crate::model::fold(v) == crate::model::fold(rdn));
                if !same {
                    return Err(LdapError::new(
                        Code::NotALlowedOnRDN,
                        "uid is the entry's name (its RDN): rename the entry with Modify DN",
                    ));
                }
                continue;
            }
            "manager" => UserChange::Manager(match (op, single(&values, name)?) {
                (ModifyOp::Delete, _) | (_, None) => None,
                (_, Some(v)) => Some(dir.user_ref(actor, &v)?),
            }),
            "account" => UserChange::Account(match (op, single(&values, name)?) {
                (ModifyOp::Delete, _) | (_, None) => None,
                (_, Some(v)) => Some(dir.account_ref(actor, &v)?),
            }),
            _ if ignored(name) => continue,
            "userpassword" => {
                return Err(LdapError::unwilling(
                    "change userPassword on its own, or with the Password Modify operation",
                ));
            }
            _ => match user_field(name) {
                Some(field) => UserChange::Set(field, values),
                None => {
                    let custom = &dir.service.policy().custom;
                    let declared = custom
                        .attributes
                        .iter()
                        .find(|a| a.ldap_name().eq_ignore_ascii_case(name));
                    UserChange::Custom(declared.ok_or_else(|| undefined(name))?.clone(), values)
                }
            },
        };
        out.push((*op, change));
    }
    Ok(out)
}

fn apply_user_changes(
    user: &mut User,
    changes: &[(ModifyOp, UserChange)],
    custom: &CustomAttributes,
) -> crate::service::Result<()> {
    for (op, change) in changes {
        match change {
            UserChange::Manager(m) => user.manager = *m,
            UserChange::Account(a) => user.account = *a,
            UserChange::Custom(attribute, values) => {
                let key = custom.key(attribute);
                let current = user
                    .extensions
                    .get(&key)
                    .map(super::entry::ldap_values)
                    .unwrap_or_default();
                let new = modified_values(current, *op, values)?;
                match custom_value(attribute, &new)? {
                    Some(value) => user.extensions.insert(key, value),
                    None => user.extensions.remove(&key),
                };
            }
            UserChange::Set(field, values) => {
                let new = modified_values(current_values(user, *field), *op, values)?;
                set_field(user, *field, &new)?;
            }
        }
    }
    Ok(())
}

/// LDAP values as the JSON value a custom attribute of this type holds (`None`: no value).
fn custom_value(
    attribute: &CustomAttribute,
    values: &[String],
) -> crate::service::Result<Option<serde_json::Value>> {
    use serde_json::Value;
    let invalid = |v: &str| {
        ServiceError::invalid(
            "custom attribute",
            format!(
                "{}: {v:?} is not a {:?}",
                attribute.ldap_name(),
                attribute.kind
            ),
        )
    };
    let one = |v: &String| -> crate::service::Result<Value> {
        Ok(match attribute.kind {
            CustomType::String | CustomType::DateTime => Value::String(v.clone()),
            CustomType::Boolean => match v.to_ascii_uppercase().as_str() {
                "TRUE" => Value::Bool(true),
                "FALSE" => Value::Bool(false),
                _ => return Err(invalid(v)),
            },
            CustomType::Integer => Value::from(v.trim().parse::<i64>().map_err(|_| invalid(v))?),
            CustomType::Decimal => {
                serde_json::Number::from_f64(v.trim().parse::<f64>().map_err(|_| invalid(v))?)
                    .map(Value::Number)
                    .ok_or_else(|| invalid(v))?
            }
        })
    };
    let converted: Vec<Value> = values.iter().map(one).collect::<Result<_, _>>()?;
    Ok(match (attribute.multi_valued, converted.len()) {
        (_, 0) => None,
        (true, _) => Some(Value::Array(converted)),
        (false, 1) => converted.into_iter().next(),
        (false, _) => {
            return Err(ServiceError::invalid(
                "custom attribute",
                format!("{} takes one value", attribute.ldap_name()),
            ));
        }
    })
}

pub(super) fn add(
    dir: &LdapDirectory,
    actor: &Actor,
    request: AddRequest,
) -> Result<(), LdapError> {
    let (branch, name) = record(dir, &request.dn)?;
    let attrs = &request.attributes;
    match branch {
        Branch::People | Branch::Services => {
            let rdn = name.clone();
            let mut user = User::new(name);
            if branch == Branch::Services {
                user.kind = PrincipalKind::Bind;
            }
            let mut password = None;
            let mut changes = Vec::new();
            for a in attrs {
                if a.name.eq_ignore_ascii_case("userPassword") {
                    password = single(&text(&a.values, &a.name)?, &a.name)?;
                } else if a.name.eq_ignore_ascii_case("principalKind") && branch == Branch::Services
                {
                    let kind = single(&text(&a.values, &a.name)?, &a.name)?;
                    user.kind = match kind.as_deref() {
                        Some("api") => PrincipalKind::Api,
                        None | Some("bind") => PrincipalKind::Bind,
                        Some(_) => {
                            return Err(LdapError::new(
                                Code::ConstraintViolation,
                                "principalKind of a service is api or bind",
                            ));
                        }
                    };
                } else if !(branch == Branch::Services && a.name.eq_ignore_ascii_case("cn")) {
                    changes.push(Modification {
                        op: ModifyOp::Replace,
                        attribute: a.clone(),
                    });
                }
            }
            let changes = user_changes(dir, actor, &rdn, &changes)?;
            apply_user_changes(&mut user, &changes, &dir.service.policy().custom)
                .map_err(ldap_error)?;
            // A hash exported by another directory (a migration from OpenLDAP) is stored with
            // the user, in one step.
            match password.take_if(|p| crate::password::looks_like_hash(p)) {
                Some(hash) => dir.service.create_user_with_hash(actor, user, &hash),
                None => dir.service.create_user(actor, NewUser { user, password }),
            }
            .map(drop)
            .map_err(ldap_error)
        }
        Branch::Roles => {
            let mut role = Role::new(name, None);
            let mut members = Vec::new();
            for a in attrs {
                let values = text(&a.values, &a.name)?;
                match a.name.to_ascii_lowercase().as_str() {
                    "roletype" => {
                        role.role_type = match single(&values, &a.name)? {
                            None => None,
                            Some(v) => Some(v.parse::<RoleType>().map_err(|_| {
                                LdapError::new(
                                    Code::ConstraintViolation,
                                    "roleType is employee, partner, customer or guest",
                                )
                            })?),
                        }
                    }
                    "description" => role.settings.description = single(&values, &a.name)?,
                    "member" => {
                        for v in &values {
                            members.push(dir.user_ref(actor, v)?);
                        }
                    }
                    "objectclass" | "cn" => {}
                    other => return Err(undefined(other)),
                }
            }
            dir.service
                .create_role_with_members(actor, role, &members)
                .map(drop)
                .map_err(ldap_error)
        }
        Branch::Accounts => {
            let mut account = Account::new(name);
            for a in attrs {
                let values = text(&a.values, &a.name)?;
                match a.name.to_ascii_lowercase().as_str() {
                    "parentaccount" => {
                        account.parent = match single(&values, &a.name)? {
                            Some(v) => Some(dir.account_ref(actor, &v)?),
                            None => None,
                        }
                    }
                    "licensed" => {
                        account.licensed =
                            boolean(single(&values, &a.name)?, &a.name)?.unwrap_or(false)
                    }
                    "objectclass" | "o" => {}
                    other => return Err(undefined(other)),
                }
            }
            dir.service
                .create_account(actor, account)
                .map(drop)
                .map_err(ldap_error)
        }
    }
}

pub(super) fn modify(
    dir: &LdapDirectory,
    actor: &Actor,
    request: ModifyRequest,
) -> Result<(), LdapError> {
    let (branch, name) = record(dir, &request.dn)?;
    match branch {
        Branch::People | Branch::Services => {
            let user = dir.user_named(actor, &name)?;
            if let [
                Modification {
                    op: ModifyOp::Replace | ModifyOp::Add,
                    attribute,
                },
            ] = request.changes.as_slice()
                && attribute.name.eq_ignore_ascii_case("userPassword")
            {
                let password = single(&text(&attribute.values, &attribute.name)?, &attribute.name)?
                    .ok_or_else(|| LdapError::new(Code::ConstraintViolation, "empty password"))?;
                let result = if crate::password::looks_like_hash(&password) {
                    dir.service.import_password_hash(actor, user.id, &password)
                } else {
                    dir.service.set_password(actor, user.id, &password)
                };
                return result.map(drop).map_err(ldap_error);
            }
            // Deleting `pwdAccountLockedTime` is how LDAP tools unlock an account (as under
            // OpenLDAP's ppolicy); a lock itself comes only from failed sign-ins.
            if let [
                Modification {
                    op: ModifyOp::Delete,
                    attribute,
                },
            ] = request.changes.as_slice()
                && attribute.name.eq_ignore_ascii_case("pwdAccountLockedTime")
            {
                return dir
                    .service
                    .unlock_user(actor, user.id)
                    .map(drop)
                    .map_err(ldap_error);
            }
            let changes = user_changes(dir, actor, &name, &request.changes)?;
            let custom = std::sync::Arc::clone(&dir.service.policy().custom);
            dir.service
                .update_user(actor, user.id, None, |u| {
                    apply_user_changes(u, &changes, &custom)
                })
                .map(drop)
                .map_err(ldap_error)
        }
        Branch::Roles => {
            let role = dir.role_named(actor, &name)?;
            let mut add = Vec::new();
            let mut remove = Vec::new();
            let mut replaced = role.clone();
            for Modification { op, attribute } in &request.changes {
                let values = text(&attribute.values, &attribute.name)?;
                match attribute.name.to_ascii_lowercase().as_str() {
                    "member" => {
                        let ids = values
                            .iter()
                            .map(|v| dir.user_ref(actor, v))
                            .collect::<Result<Vec<_>, _>>()?;
                        match op {
                            ModifyOp::Add => add.extend(ids),
                            ModifyOp::Delete if ids.is_empty() => remove.extend(
                                dir.service
                                    .role_members(actor, role.id)
                                    .map_err(ldap_error)?,
                            ),
                            ModifyOp::Delete => remove.extend(ids),
                            ModifyOp::Replace => {
                                let current = dir
                                    .service
                                    .role_members(actor, role.id)
                                    .map_err(ldap_error)?;
                                remove.extend(current.iter().filter(|c| !ids.contains(c)).copied());
                                add.extend(ids.into_iter().filter(|i| !current.contains(i)));
                            }
                            ModifyOp::Increment => {
                                return Err(LdapError::unwilling("increment on member"));
                            }
                        }
                    }
                    "description" => {
                        replaced.settings.description = match op {
                            ModifyOp::Delete => None,
                            _ => single(&values, &attribute.name)?,
                        };
                    }
                    other if ignored(other) => {}
                    other => return Err(undefined(other)),
                }
            }
            dir.service
                .change_role(actor, role.id, replaced, &add, &remove)
                .map(drop)
                .map_err(ldap_error)
        }
        Branch::Accounts => {
            let account = dir.account_named(actor, &name)?;
            let mut replaced = account.clone();
            for Modification { op, attribute } in &request.changes {
                let values = text(&attribute.values, &attribute.name)?;
                let value = match op {
                    ModifyOp::Delete => None,
                    _ => single(&values, &attribute.name)?,
                };
                match attribute.name.to_ascii_lowercase().as_str() {
                    "parentaccount" => {
                        replaced.parent = match value {
                            Some(v) => Some(dir.account_ref(actor, &v)?),
                            None => None,
                        }
                    }
                    "licensed" => {
                        replaced.licensed = boolean(value, &attribute.name)?.unwrap_or(false)
                    }
                    other if ignored(other) => {}
                    other => return Err(undefined(other)),
                }
            }
            dir.service
                .replace_account(actor, account.id, replaced, Some(account.version))
                .map(drop)
                .map_err(ldap_error)
        }
    }
}

pub(super) fn delete(dir: &LdapDirectory, actor: &Actor, dn: &Dn) -> Result<(), LdapError> {
    let (branch, name) = record(dir, dn)?;
    match branch {
        Branch::People | Branch::Services => {
            let user = dir.user_named(actor, &name)?;
            dir.service
                .anonymise_user(actor, user.id, None)
                .map_err(ldap_error)
        }
        Branch::Roles => {
            let role = dir.role_named(actor, &name)?;
            dir.service
                .delete_role(actor, role.id, None)
                .map_err(ldap_error)
        }
        Branch::Accounts => {
            let account = dir.account_named(actor, &name)?;
            dir.service
                .delete_account(actor, account.id, None)
                .map_err(ldap_error)
        }
    }
}

pub(super) fn modify_dn(
    dir: &LdapDirectory,
    actor: &Actor,
    request: ModifyDnRequest,
) -> Result<(), LdapError> {
    let (branch, name) = record(dir, &request.dn)?;
    if let Some(superior) = &request.new_superior
        && *superior != request.dn.parent().unwrap_or_else(Dn::root)
    {
        return Err(LdapError::unwilling("entries cannot move between branches"));
    }
    let new_name = request
        .new_rdn
        .get(branch.naming())
        .filter(|_| request.new_rdn.avas().len() == 1)
        .ok_or_else(|| {
            LdapError::new(
                Code::NamingViolation,
                format!(
                    "the RDN of an entry under ou={} is {}=…",
                    branch.ou(),
                    branch.naming()
                ),
            )
        })?
        .to_owned();
    match branch {
        Branch::People | Branch::Services => {
            let user = dir.user_named(actor, &name)?;
            dir.service
                .update_user(actor, user.id, None, |u| {
                    u.user_name.clone_from(&new_name);
                    Ok(())
                })
                .map(drop)
                .map_err(ldap_error)
        }
        Branch::Roles => {
            let role = dir.role_named(actor, &name)?;
            let mut replaced = role.clone();
            replaced.name = new_name;
            dir.service
                .replace_role(actor, role.id, replaced, Some(role.version))
                .map(drop)
                .map_err(ldap_error)
        }
        Branch::Accounts => {
            let account = dir.account_named(actor, &name)?;
            let mut replaced = account.clone();
            replaced.name = new_name;
            dir.service
                .replace_account(actor, account.id, replaced, Some(account.version))
                .map(drop)
                .map_err(ldap_error)
        }
    }
}

/// RFC 3062. A user changing its own password gives the old one; an administrator (anyone with
/// Edit on the target) resets without it. Without a new password, one is generated and returned.
pub(super) fn password_modify(
    dir: &LdapDirectory,
    session: &LdapSession,
    request: PasswordModify,
) -> Result<PasswordModified<LdapSession>, LdapError> {
    let actor = &session.actor;
    let own = match (&request.user, &session.dn) {
        (None, Some(_)) => true,
        (None, None) => return Err(LdapError::insufficient_access()),
        (Some(target), Some(me)) => target == me,
        (Some(_), None) => return Err(LdapError::insufficient_access()),
    };
    let generated = request.new_password.is_none();
    let new_password = request
        .new_password
        .clone()
        .unwrap_or_else(|| dir.service.generate_password());
    let target = match &request.user {
        Some(dn) => match record(dir, dn)? {
            (Branch::People | Branch::Services, name) => dir.user_named(actor, &name)?.id,
            _ => return Err(LdapError::unwilling("only users have passwords")),
        },
        None => match actor.principal {
            crate::service::Principal::User(id) => id,
            _ => return Err(LdapError::insufficient_access()),
        },
    };
    let lifted = match (&request.old_password, own) {
        (Some(old), true) => dir
            .service
            .change_own_password(actor, old, &new_password)
            .map(|_| Some(session.with_own_password())),
        _ => dir
            .service
            .set_password(actor, target, &new_password)
            .map(|_| None),
    };
    let session = lifted.map_err(|e| match e {
        ServiceError::InvalidCredentials => {
            LdapError::new(Code::InvalidCredentials, "the old password is not correct")
        }
        e => ldap_error(e),
    })?;
    Ok(PasswordModified {
        generated: generated.then_some(new_password),
        session,
    })
}
