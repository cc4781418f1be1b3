//! Accounts: the organisations partner and customer users belong to.

use time::OffsetDateTime;

use super::users::check_version;
use super::{Actor, InTx, Origin, Result, Service, ServiceError};
use crate::audit::AuditKind;
use crate::model::{Account, AccountId, Action, Entity, LicenseType, PartnerModel, fold};
use crate::store::{Txn, UserKey};

/// Deepest account nesting accepted; deeper chains are refused rather than walked forever.
const MAX_ACCOUNT_DEPTH: usize = 256;

impl Service {
    pub fn create_account(&self, actor: &Actor, account: Account) -> Result<Account> {
        self.create_account_from(actor, account, Origin::New)
    }

    /// Creates an account of either origin: one [`Origin::Moved`] keeps when it was created.
    pub fn create_account_from(
        &self,
        actor: &Actor,
        mut account: Account,
        origin: Origin,
    ) -> Result<Account> {
        validate_account(&mut account)?;
        let subject = self.subject(actor)?;
        let scope = self.account_scope(&subject, Action::Create)?;
        authorize_licensing(scope.all, Action::Create, None, &account)?;
        if !scope.all && !account.parent.is_some_and(|p| scope.contains(p)) {
            return Err(ServiceError::Forbidden(
                "creating this account needs Create on Account at level all (or for its parent)"
                    .into(),
            ));
        }
        let now = OffsetDateTime::now_utc();
        account.created = origin.since(account.created, now);
        account.modified = now;
        account.version = 1;
        self.transact(|tx| {
            if tx.account(account.id)?.is_some() {
                return Err(ServiceError::invalid(
                    "id",
                    format!("{} already exists", account.id),
                ));
            }
            self.commit_account(tx, actor, None, account.clone())
        })
    }

    pub fn account(&self, actor: &Actor, id: AccountId) -> Result<Account> {
        let account = self
            .store
            .account(id)?
            .ok_or_else(|| ServiceError::not_found(Entity::Account, id))?;
        let subject = self.subject(actor)?;
        self.authorize_account(&mut self.records(), &subject, Action::Read, &account)?;
        Ok(account)
    }

    pub fn account_by_name(&self, actor: &Actor, name: &str) -> Result<Account> {
        let id = self
            .store
            .account_by_name(&fold(name))?
            .ok_or_else(|| ServiceError::not_found(Entity::Account, name))?;
        // Out of scope reads as missing, under the name asked for: never leak the id.
        self.account(actor, id).map_err(|e| match e {
            ServiceError::NotFound { .. } => ServiceError::not_found(Entity::Account, name),
            e => e,
        })
    }

    pub fn accounts(&self, actor: &Actor) -> Result<Vec<Account>> {
        let subject = self.subject(actor)?;
        let scope = self.account_scope(&subject, Action::Read)?;
        let mut out = Vec::new();
        for account in self.store.accounts() {
            let account = account?;
            if scope.contains(account.id) {
                out.push(account);
            }
        }
        Ok(out)
    }

    pub fn replace_account(
        &self,
        actor: &Actor,
        id: AccountId,
        replacement: Account,
        expected_version: Option<u64>,
    ) -> Result<Account> {
        let mut replacement = replacement;
        validate_account(&mut replacement)?;
        let subject = self.subject(actor)?;
        // An account that stops being licensed must have no active partner left. Its users are
        // listed from the index outside the transaction; the reference count, read before the
        // list and again inside, shows whether anyone moved in or out meanwhile.
        let edits_all = self.account_scope(&subject, Action::Edit)?.all;
        let creates_top_level = self.account_scope(&subject, Action::Create)?.all;
        let per_account = self.policy.licenses.partner_model == PartnerModel::PerAccount;
        let members = if per_account && !replacement.licensed {
            let refs = self.transact(|tx| Ok(tx.account_refs(id)?))?;
            Some((refs, self.store.users_by(&UserKey::Account(id))?))
        } else {
            None
        };
        self.transact(|tx| {
            let old = tx
                .account(id)?
                .ok_or_else(|| ServiceError::not_found(Entity::Account, id))?;
            self.authorize_account(&mut InTx(tx), &subject, Action::Edit, &old)?;
            authorize_licensing(edits_all, Action::Edit, Some(&old), &replacement)?;
            if let Some((refs, members)) = members.as_ref().filter(|_| old.licensed) {
                if tx.account_refs(id)? != *refs {
                    return Err(ServiceError::Busy(format!("account {:?}", old.name)));
                }
                let mut active = 0;
                for member in members {
                    if tx.user(*member)?.is_some_and(|u| {
                        u.active && u.license == LicenseType::Partner && u.account == Some(id)
                    }) {
                        active += 1;
                    }
                }
                if active > 0 {
                    return Err(ServiceError::AccountHasActivePartners {
                        account: old.name.clone(),
                        active,
                    });
                }
            }
            // Moving an account under another changes who reaches it, and whom that one's
            // users reach: it takes Edit on the new parent too.
            if let Some(parent) = replacement.parent
                && old.parent != Some(parent)
            {
                let unknown = || ServiceError::UnknownAccount(parent.to_string());
                let parent = tx.account(parent)?.ok_or_else(unknown)?;
                // A parent the subject cannot read is, to it, no account at all.
                self.authorize_account(&mut InTx(tx), &subject, Action::Edit, &parent)
                    .map_err(|e| match e {
                        ServiceError::NotFound { .. } => unknown(),
                        e => e,
                    })?;
            }
            // Taken from under its parent, an account is a top-level one, which only a
            // subject that may create those makes: it would otherwise leave the reach of every
            // role that reaches it through the parent.
            if old.parent.is_some() && replacement.parent.is_none() && !creates_top_level {
                return Err(ServiceError::Forbidden(format!(
                    "making {:?} a top-level account needs Create on Account at level all",
                    old.name
                )));
            }
            check_version(expected_version, old.version)?;
            let mut new = replacement.clone();
            new.id = id;
            new.created = old.created;
            // What is there said again: not stored, the version kept (as for users).
            new.version = old.version;
            new.modified = old.modified;
            if new == old {
                return Ok(old);
            }
            new.version = old.version + 1;
            new.modified = OffsetDateTime::now_utc();
            self.commit_account(tx, actor, Some(&old), new)
        })
    }

    /// Only an account nobody points at (no users, no child accounts) can go.
    pub fn delete_account(
        &self,
        actor: &Actor,
        id: AccountId,
        expected_version: Option<u64>,
    ) -> Result<()> {
        let subject = self.subject(actor)?;
        self.transact(|tx| {
            let old = tx
                .account(id)?
                .ok_or_else(|| ServiceError::not_found(Entity::Account, id))?;
            self.authorize_account(&mut InTx(tx), &subject, Action::Delete, &old)?;
            check_version(expected_version, old.version)?;
            if tx.account_refs(id)? > 0 {
                return Err(ServiceError::AccountInUse(old.name));
            }
            tx.delete_account(id)?;
            let before = serde_json::to_value(&old).unwrap_or_default();
            self.audit(
                tx,
                actor,
                AuditKind::AccountDeleted,
                Some(id.to_string()),
                None,
                Some((before, serde_json::Value::Null)),
            )
        })
    }

    fn commit_account(
        &self,
        tx: &mut dyn Txn,
        actor: &Actor,
        old: Option<&Account>,
        new: Account,
    ) -> Result<Account> {
        if let Some(holder) = tx.account_by_name(&fold(&new.name))?
            && holder != new.id
        {
            return Err(ServiceError::AccountNameTaken(new.name.clone()));
        }
        if let Some(parent) = new.parent
            && old.and_then(|o| o.parent) != Some(parent)
        {
            check_parent_chain(tx, new.id, parent)?;
        }
        tx.put_account(&new)?;
        let kind = if old.is_some() {
            AuditKind::AccountChanged
        } else {
            AuditKind::AccountCreated
        };
        let change = crate::audit::diff(
            old.map(|o| serde_json::to_value(o).unwrap_or_default())
                .unwrap_or_default(),
            serde_json::to_value(&new).unwrap_or_default(),
        );
        self.audit(
            tx,
            actor,
            kind,
            Some(new.id.to_string()),
            None,
            Some(change),
        )?;
        Ok(new)
    }
}

/// Whether an account is licensed decides how many partner users it may have (partner_model =
/// per_account): a commercial decision, for those who may `action` every account (never a
/// partner's or customer's role, which cannot hold level all on accounts).
fn authorize_licensing(
    everywhere: bool,
    action: Action,
    old: Option<&Account>,
    new: &Account,
) -> Result<()> {
    let was = old.is_some_and(|o| o.licensed);
    if new.licensed != was && !everywhere {
        return Err(ServiceError::Forbidden(format!(
            "whether an account is licensed is set by those with {action:?} on Account at level all"
        )));
    }
    Ok(())
}

fn check_parent_chain(tx: &mut dyn Txn, account: AccountId, parent: AccountId) -> Result<()> {
    let mut next = Some(parent);
    for _ in 0..MAX_ACCOUNT_DEPTH {
        let Some(current) = next else {
            return Ok(());
        };
        if current == account {
            return Err(ServiceError::AccountCycle(account.to_string()));
        }
        let Some(record) = tx.account(current)? else {
            return if current == parent {
                Err(ServiceError::UnknownAccount(parent.to_string()))
            } else {
                Ok(())
            };
        };
        next = record.parent;
    }
    Err(ServiceError::invalid(
        "parent",
        format!("accounts nest deeper than {MAX_ACCOUNT_DEPTH}"),
    ))
}

fn validate_account(account: &mut Account) -> Result<()> {
    account.name = account.name.trim().to_string();
    if !crate::model::is_visible_name(&account.name) {
        return Err(ServiceError::invalid(
            "name",
            "must be non-empty text without control or invisible characters",
        ));
    }
    if account.parent == Some(account.id) {
        return Err(ServiceError::AccountCycle(account.id.to_string()));
    }
    Ok(())
}
