//! `rollcall export` and `rollcall import`: the directory as JSON lines, in an order that lets
//! another directory take it in one pass. Accounts come first (parents before children), as
//! `{"account": {…}}`, then roles and plain groups as `{"role": {…}}`, then users, one bare user
//! object per line (the format older exports have). Secrets stay behind: no password hashes,
//! TOTP secrets or tokens; a user line may carry a clear `password` or a `password_hash`
//! exported by another directory instead. A user line carries the user's last sign-in as
//! `last_login` (kept apart from the record in the store), so that a migration keeps it.
//!
//! On import, records keep their ids. A line written by hand may leave out what only a
//! directory can say (id, times, version): see `with_directory_fields`. An account or role
//! whose name the directory already has is not created again: references to it are pointed at
//! the one there (the `Administrators` and `Provisioning` roles of a bootstrapped directory,
//! say). A user whose manager comes later in the file gets the manager once every line has
//! been read.
//!
//! A third kind of line, `{"row": {…}}`, is a person from a CSV sheet (see [`sheet`]): no ids,
//! its account, roles and manager by name. `{"update": {…}}` is the same row from a sheet
//! imported with `--update`: a person already there is changed rather than left as it is.

pub mod sheet;

use std::collections::{BTreeSet, HashMap};
use std::io::Write;

use serde_json::{Value, json};

use crate::model::{Account, AccountId, MultiValue, Role, RoleId, User, UserId};
use crate::service::{Actor, Credential, NewUser, Origin, Plan, Service, ServiceError};

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    // Causes are in the messages, not chained: the control socket sends only the message.
    #[error("not a record: {0}")]
    Json(serde_json::Error),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("writing: {0}")]
    Io(std::io::Error),
    /// A sheet row names a record the directory does not have.
    #[error("{0}")]
    Unknown(String),
}

impl From<serde_json::Error> for TransferError {
    fn from(error: serde_json::Error) -> Self {
        Self::Json(error)
    }
}

impl From<std::io::Error> for TransferError {
    fn from(error: std::io::Error) -> Self {
        Self::Io(error)
    }
}

/// Writes every account, role and readable user to `out`; `progress` gets the running count.
/// Returns how many records were written.
pub fn export(
    service: &Service,
    actor: &Actor,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, TransferError> {
    let mut written = 0u64;
    let mut line = |out: &mut dyn Write, record: &Value| -> Result<(), TransferError> {
        serde_json::to_writer(&mut *out, record)?;
        writeln!(out)?;
        written += 1;
        progress(written);
        Ok(())
    };
    for account in parents_first(service.accounts(actor)?) {
        line(out, &json!({ "account": account }))?;
    }
    for role in service.roles(actor)? {
        line(out, &json!({ "role": role }))?;
    }
    service.try_list_users(actor, &Plan::Scan, &mut |user| {
        line(out, &user_line(service, actor, user)?)
    })?;
    Ok(written)
}

/// A user's line of an export (and of `user list --json`): the record without its secrets,
/// and its last sign-in, which is kept apart from the record (a sign-in does not change it)
/// and carried next to it.
pub fn user_line(service: &Service, actor: &Actor, user: &User) -> Result<Value, TransferError> {
    let mut record = serde_json::to_value(without_secrets(user))?;
    if let Some(at) = service.last_login(actor, user.id)? {
        record[LAST_LOGIN] = json!(rfc3339(at));
    }
    Ok(record)
}

/// The user as an operator may see it: secrets never leave the server, not even to its own
/// operator.
pub fn without_secrets(user: &User) -> User {
    let mut user = user.clone();
    user.password_hash = None;
    user.password_history.clear();
    user.totp = None;
    user
}

/// Accounts ordered so that each comes after its parent.
fn parents_first(accounts: Vec<Account>) -> Vec<Account> {
    let ids: BTreeSet<AccountId> = accounts.iter().map(|a| a.id).collect();
    let mut placed: BTreeSet<AccountId> = BTreeSet::new();
    let mut pending = accounts;
    let mut ordered = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let (ready, rest): (Vec<_>, Vec<_>) = pending.into_iter().partition(|a| {
            a.parent
                .is_none_or(|p| placed.contains(&p) || !ids.contains(&p))
        });
        if ready.is_empty() {
            // Unreachable while parent chains cannot loop; never lose a record over it.
            ordered.extend(rest);
            break;
        }
        placed.extend(ready.iter().map(|a| a.id));
        ordered.extend(ready);
        pending = rest;
    }
    ordered
}

/// The field of a user line that says when the user last signed in, in the directory the
/// line comes from: not part of the record (sign-ins are kept apart from it), but exported
/// with it so that a migration between Rollcall directories keeps it.
const LAST_LOGIN: &str = "last_login";

/// The field of a user line with a clear-text first password (never exported).
const PASSWORD: &str = "password";

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

struct UserLine {
    user: User,
    /// In clear text, checked against the password policy.
    password: Option<String>,
    /// When it last signed in where it comes from.
    last_login: Option<time::OffsetDateTime>,
}

/// A value a field left out of a written record reads as (`null`, `false`, `0`, `""`, `[]`,
/// `{}`): such a field may be `T`'s and not come back, so it is not called unknown.
fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// The names of the fields `T` (a struct with named fields) reads, as its derived
/// `Deserialize` declares them: asked of a deserializer that only takes note of them.
fn field_names<T: serde::de::DeserializeOwned>() -> &'static [&'static str] {
    /// Carries the names out of the deserializer, the only way out it has.
    #[derive(Debug)]
    struct Named(&'static [&'static str]);
    impl std::fmt::Display for Named {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("not a struct")
        }
    }
    impl std::error::Error for Named {}
    impl serde::de::Error for Named {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Self(&[])
        }
    }
    struct Probe;
    impl<'de> serde::Deserializer<'de> for Probe {
        type Error = Named;
        fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Named> {
            Err(Named(&[]))
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Named> {
            Err(Named(fields))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    match T::deserialize(Probe) {
        Err(Named(fields)) => fields,
        Ok(_) => &[],
    }
}

/// `record` as a `T`, refusing fields `T` does not have (besides `extra`): a field an import
/// would drop (a typo, another tool's name for it) is said, not lost in silence, as unknown
/// config keys are. Said before the record is read, so that a line with `userName` hears of
/// that rather than of the `user_name` it lacks. A field with an empty value (`null`, `""`)
/// stores nothing either way and is let through.
fn known_fields_only<T: serde::de::DeserializeOwned>(
    record: &Value,
    extra: &[&str],
) -> Result<T, TransferError> {
    let fields = field_names::<T>();
    let unknown: Vec<&str> = record
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(key, value)| {
            !extra.contains(&key.as_str())
                && !fields.contains(&key.as_str())
                && !is_empty_value(value)
        })
        .map(|(key, _)| key.as_str())
        .collect();
    if !unknown.is_empty() {
        return Err(TransferError::Unknown(format!(
            "unknown field{} {} (the export format's names, e.g. user_name, display_name)",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.join(", ")
        )));
    }
    Ok(serde_json::from_value(record.clone())?)
}

/// A record line as the store's record needs it, for a line written by hand: what only the
/// directory can say is filled in where the line leaves it out. A new `id` (so importing the
/// line again finds the name taken rather than the record there), `created` and `modified`
/// the import's time, `version` 0 (the directory counts its own). A user line that leaves
/// out `active` makes a service account active, as `user create` does: it takes no license,
/// and its application expects it to work; a person stays inactive. An export carries every
/// one of these, so what it says is kept.
fn with_directory_fields(record: &Value, new_id: impl serde::Serialize) -> Value {
    let mut record = record.clone();
    let Some(fields) = record.as_object_mut() else {
        return record;
    };
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .map_or(Value::Null, Value::String);
    let missing = |fields: &serde_json::Map<String, Value>, key: &str| {
        fields.get(key).is_none_or(Value::is_null)
    };
    if missing(fields, "id") {
        fields.insert("id".into(), json!(new_id));
    }
    for stamp in ["created", "modified"] {
        if missing(fields, stamp) {
            fields.insert(stamp.into(), now.clone());
        }
    }
    if missing(fields, "version") {
        fields.insert("version".into(), json!(0));
    }
    if missing(fields, "active") {
        let kind = fields
            .get("kind")
            .and_then(Value::as_str)
            .and_then(|k| k.parse::<crate::model::PrincipalKind>().ok());
        if kind.is_some_and(crate::model::PrincipalKind::is_service_account) {
            fields.insert("active".into(), json!(true));
        }
    }
    record
}

/// What one line became.
#[derive(Debug)]
pub enum Imported {
    /// Created, or (`existing`) found under the same name and used in its place.
    Account {
        id: AccountId,
        name: String,
        existing: bool,
    },
    Role {
        id: RoleId,
        name: String,
        existing: bool,
    },
    /// Created, or (`existing`) already there under the same id (a repeated import), left
    /// as it is.
    User {
        id: UserId,
        user_name: String,
        existing: bool,
    },
    /// A sheet row of an update for a person already there: `changed` when the row differed
    /// from the record and the change was stored.
    Updated {
        id: UserId,
        user_name: String,
        changed: bool,
    },
}

impl Imported {
    /// The line `rollcall import` prints for it.
    pub fn report(&self) -> Value {
        match self {
            Self::Account { id, name, existing } => {
                json!({"id": id, "account": name, "existing": existing})
            }
            Self::Role { id, name, existing } => {
                json!({"id": id, "role": name, "existing": existing})
            }
            Self::User {
                id,
                user_name,
                existing,
            } => json!({"id": id, "userName": user_name, "existing": existing}),
            Self::Updated {
                id,
                user_name,
                changed,
            } => json!({"id": id, "userName": user_name, "existing": true, "updated": changed}),
        }
    }
}

/// Reads an export line by line into the directory.
pub struct Importer<'a> {
    service: &'a Service,
    actor: Actor,
    accounts: HashMap<AccountId, AccountId>,
    roles: HashMap<RoleId, RoleId>,
    /// Users whose manager was not there yet when they were created: (user, manager).
    managers: Vec<(UserId, UserId)>,
    /// The same for sheet rows, whose manager is a userName.
    managers_by_name: Vec<(UserId, String)>,
}

impl<'a> Importer<'a> {
    pub fn new(service: &'a Service, actor: Actor) -> Self {
        Self {
            service,
            actor,
            accounts: HashMap::new(),
            roles: HashMap::new(),
            managers: Vec::new(),
            managers_by_name: Vec::new(),
        }
    }

    /// Imports one line; a failed line changes nothing.
    pub fn line(&mut self, text: &str) -> Result<Imported, TransferError> {
        let value: Value = serde_json::from_str(text)?;
        // `{"account": {…}}` and `{"role": {…}}` wrap their record; a user is a bare object
        // (whose own `account` is an id, never an object).
        let wrapped = value
            .as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.iter().next())
            .filter(|(_, inner)| inner.is_object());
        match wrapped {
            Some((kind, inner)) if kind == "account" => self.account(known_fields_only::<Account>(
                &with_directory_fields(inner, AccountId::new()),
                &[],
            )?),
            Some((kind, inner)) if kind == "role" => self.role(known_fields_only::<Role>(
                &with_directory_fields(inner, RoleId::new()),
                &[],
            )?),
            Some((kind, inner)) if kind == "row" => {
                self.row(serde_json::from_value(inner.clone())?)
            }
            Some((kind, inner)) if kind == "update" => {
                self.update(serde_json::from_value(inner.clone())?)
            }
            _ => {
                let user: User = known_fields_only(
                    &with_directory_fields(&value, UserId::new()),
                    &[PASSWORD, LAST_LOGIN],
                )?;
                let text = |field: &str, what: &str| match value.get(field) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(p)) => Ok(Some(p.clone())),
                    Some(_) => Err(TransferError::Unknown(format!("{field} is {what}"))),
                };
                let password = text(PASSWORD, "text")?;
                let last_login = text(LAST_LOGIN, "an RFC 3339 time")?
                    .map(|at| {
                        time::OffsetDateTime::parse(
                            &at,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .map_err(|e| {
                            TransferError::Unknown(format!(
                                "{LAST_LOGIN} {at:?} is not an RFC 3339 time: {e}"
                            ))
                        })
                    })
                    .transpose()?;
                self.user(UserLine {
                    user,
                    password,
                    last_login,
                })
            }
        }
    }

    fn account(&mut self, mut account: Account) -> Result<Imported, TransferError> {
        let source = account.id;
        let found = self.existing(self.service.account_by_name(&self.actor, &account.name))?;
        let existing = found.is_some();
        let target = match found {
            Some(found) => found,
            None => {
                account.parent = account
                    .parent
                    .map(|p| self.accounts.get(&p).copied().unwrap_or(p));
                self.service
                    .create_account_from(&self.actor, account, Origin::Moved)?
            }
        };
        self.accounts.insert(source, target.id);
        Ok(Imported::Account {
            id: target.id,
            name: target.name,
            existing,
        })
    }

    fn role(&mut self, role: Role) -> Result<Imported, TransferError> {
        let source = role.id;
        let found = self.existing(self.service.role_by_name(&self.actor, &role.name))?;
        let existing = found.is_some();
        let target = match found {
            Some(found) => found,
            None => self
                .service
                .create_role_from(&self.actor, role, &[], Origin::Moved)?,
        };
        self.roles.insert(source, target.id);
        Ok(Imported::Role {
            id: target.id,
            name: target.name,
            existing,
        })
    }

    fn user(&mut self, line: UserLine) -> Result<Imported, TransferError> {
        let UserLine {
            mut user,
            password,
            last_login,
        } = line;
        // An import run again after it stopped part way goes past what it already did.
        if let Some(found) = self.existing(self.service.user(&self.actor, user.id))? {
            // Its manager may have been a line the stopped run never reached: set at the end,
            // as for a new user, when the stored record still lacks it.
            if let Some(manager) = user.manager.filter(|_| found.manager.is_none()) {
                self.managers.push((found.id, manager));
            }
            return Ok(Imported::User {
                id: found.id,
                user_name: found.user_name,
                existing: true,
            });
        }
        user.account = user
            .account
            .map(|a| self.accounts.get(&a).copied().unwrap_or(a));
        for role in &mut user.roles {
            *role = self.roles.get(role).copied().unwrap_or(*role);
        }
        let deferred = match user.manager {
            Some(manager)
                if self
                    .existing(self.service.user(&self.actor, manager))?
                    .is_some() =>
            {
                None
            }
            Some(manager) => {
                user.manager = None;
                Some(manager)
            }
            None => None,
        };
        let credential = match (user.password_hash.take(), password) {
            (Some(exported), _) => Credential::Exported(exported),
            (None, Some(clear)) => Credential::Clear(clear),
            (None, None) => Credential::None,
        };
        let created = self.service.create_user_from(
            &self.actor,
            user,
            credential,
            Origin::Moved,
            last_login,
        )?;
        if let Some(manager) = deferred {
            self.managers.push((created.id, manager));
        }
        Ok(Imported::User {
            id: created.id,
            user_name: created.user_name,
            existing: false,
        })
    }

    /// A person from a sheet. A userName the directory already has is left as it is and
    /// reported `existing` (a sheet imported again after it stopped part way goes past what
    /// it did); [`Self::update`] changes it instead.
    fn row(&mut self, row: sheet::Row) -> Result<Imported, TransferError> {
        if let Some(found) =
            self.existing(self.service.user_by_name(&self.actor, &row.user_name))?
        {
            return Ok(Imported::User {
                id: found.id,
                user_name: found.user_name,
                existing: true,
            });
        }
        self.create_row(row)
    }

    fn create_row(&mut self, row: sheet::Row) -> Result<Imported, TransferError> {
        let refs = self.refs(&row)?;
        let mut user = User::new(row.user_name.clone());
        user.active = row.active.unwrap_or(false);
        let password = row.password.clone();
        sheet_fields(&row, &refs, &mut user);
        let created = self
            .service
            .create_user(&self.actor, NewUser { user, password })?;
        if let Some(manager) = refs.later_manager {
            self.managers_by_name.push((created.id, manager));
        }
        Ok(Imported::User {
            id: created.id,
            user_name: created.user_name,
            existing: false,
        })
    }

    /// A person from a sheet imported with `--update`: created when the directory does not
    /// have the userName, otherwise given what the row's non-empty cells say, under the same
    /// rules as any change (a license moves, roles are granted and never taken away). A row
    /// that says nothing new stores nothing, so a sheet imported every night changes only
    /// what changed. Passwords are set for new people only.
    fn update(&mut self, row: sheet::Row) -> Result<Imported, TransferError> {
        let Some(found) = self.existing(self.service.user_by_name(&self.actor, &row.user_name))?
        else {
            return self.create_row(row);
        };
        if row.password.is_some() {
            return Err(TransferError::Unknown(format!(
                "{} exists: a sheet sets the passwords of new people only (empty the password cell)",
                found.user_name
            )));
        }
        let refs = self.refs(&row)?;
        let apply = |user: &mut User| {
            sheet_fields(&row, &refs, user);
            if let Some(active) = row.active {
                user.active = active;
            }
        };
        let mut preview = found.clone();
        apply(&mut preview);
        let changed = preview != found;
        if changed {
            self.service
                .update_user(&self.actor, found.id, Some(found.version), |u| {
                    apply(u);
                    Ok(())
                })?;
        }
        if let Some(manager) = refs.later_manager {
            self.managers_by_name.push((found.id, manager));
        }
        Ok(Imported::Updated {
            id: found.id,
            user_name: found.user_name,
            changed,
        })
    }

    /// The account, roles and manager a row names, looked up by name.
    fn refs(&self, row: &sheet::Row) -> Result<SheetRefs, TransferError> {
        let account = match &row.account {
            Some(name) => Some(
                self.existing(self.service.account_by_name(&self.actor, name))?
                    .ok_or_else(|| {
                        TransferError::Unknown(format!("account {name:?} does not exist"))
                    })?
                    .id,
            ),
            None => None,
        };
        let mut roles = Vec::with_capacity(row.roles.len());
        for name in &row.roles {
            let role = self.existing(self.service.role_by_name(&self.actor, name))?;
            roles.push(
                role.ok_or_else(|| {
                    TransferError::Unknown(format!("role or group {name:?} does not exist"))
                })?
                .id,
            );
        }
        let (manager, later_manager) = match &row.manager {
            Some(name) => match self.existing(self.service.user_by_name(&self.actor, name))? {
                Some(manager) => (Some(manager.id), None),
                None => (None, Some(name.clone())),
            },
            None => (None, None),
        };
        Ok(SheetRefs {
            account,
            roles,
            manager,
            later_manager,
        })
    }

    /// After the last line: the managers that came after their reports. Returns the users
    /// whose manager could not be set, and why.
    pub fn finish(&mut self) -> Vec<(UserId, TransferError)> {
        let mut failed = Vec::new();
        for (user, name) in std::mem::take(&mut self.managers_by_name) {
            match self.existing(self.service.user_by_name(&self.actor, &name)) {
                Ok(Some(manager)) => self.managers.push((user, manager.id)),
                Ok(None) => failed.push((
                    user,
                    TransferError::Unknown(format!("manager {name:?} does not exist")),
                )),
                Err(e) => failed.push((user, e)),
            }
        }
        for (user, manager) in std::mem::take(&mut self.managers) {
            let set = self.service.update_user(&self.actor, user, None, |u| {
                u.manager = Some(manager);
                Ok(())
            });
            if let Err(e) = set {
                failed.push((user, e.into()));
            }
        }
        failed
    }

    /// A lookup: the record, or `None` when there is none.
    fn existing<T>(&self, found: Result<T, ServiceError>) -> Result<Option<T>, TransferError> {
        match found {
            Ok(record) => Ok(Some(record)),
            Err(ServiceError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// What a sheet row names, as ids.
struct SheetRefs {
    account: Option<AccountId>,
    roles: Vec<RoleId>,
    manager: Option<UserId>,
    /// A manager's userName the directory does not have yet: set after the last row.
    later_manager: Option<String>,
}

/// Gives `user` what the row's non-empty cells say (not `active` and `password`, which a new
/// and an existing person take differently). Roles are added to those the user holds.
fn sheet_fields(row: &sheet::Row, refs: &SheetRefs, user: &mut User) {
    let texts = [
        (&row.external_id, &mut user.external_id),
        (&row.given_name, &mut user.name.given_name),
        (&row.family_name, &mut user.name.family_name),
        (&row.display_name, &mut user.display_name),
        (&row.title, &mut user.title),
        (&row.department, &mut user.department),
        (&row.employee_number, &mut user.employee_number),
        (&row.preferred_language, &mut user.preferred_language),
        (&row.locale, &mut user.locale),
        (&row.timezone, &mut user.timezone),
    ];
    for (cell, field) in texts {
        if cell.is_some() {
            field.clone_from(cell);
        }
    }
    if let Some(email) = &row.email {
        set_typed(&mut user.emails, "work", email);
    }
    if let Some(phone) = &row.phone {
        set_typed(&mut user.phone_numbers, "work", phone);
    }
    if let Some(mobile) = &row.mobile {
        set_typed(&mut user.phone_numbers, "mobile", mobile);
    }
    if let Some(license) = row.license {
        user.license = license;
    }
    if refs.account.is_some() {
        user.account = refs.account;
    }
    for role in &refs.roles {
        if !user.roles.contains(role) {
            user.roles.push(*role);
        }
    }
    if refs.manager.is_some() {
        user.manager = refs.manager;
    }
}

/// Sets the value of the entry of type `kind`, or adds one (primary when it is the first).
fn set_typed(entries: &mut Vec<MultiValue>, kind: &str, value: &str) {
    match entries.iter_mut().find(|e| {
        e.kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case(kind))
    }) {
        Some(entry) => value.clone_into(&mut entry.value),
        None => entries.push(MultiValue {
            value: value.to_string(),
            kind: Some(kind.to_string()),
            primary: entries.is_empty(),
            display: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_come_after_their_parents() {
        let mut grandchild = Account::new("grandchild");
        let mut child = Account::new("child");
        let parent = Account::new("parent");
        child.parent = Some(parent.id);
        grandchild.parent = Some(child.id);
        let ordered = parents_first(vec![grandchild, child, parent]);
        let names: Vec<&str> = ordered.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["parent", "child", "grandchild"]);
    }
}
