//! The directory's first start as one change: its two roles, the first administrator, the
//! provisioning service account and its token, and the mark that the first start is done,
//! all in one transaction. A first start refused part way (no employee license left for the
//! administrator in a directory filled by an import, a record of the same name that cannot
//! take its part) then leaves nothing of itself behind, and the next start, once the cause
//! is mended, does it all.

use time::OffsetDateTime;
use uuid::Uuid;

use super::roles::validate_role;
use super::tokens::check_token_secret;
use super::users::{normalise, readable};
use super::{Actor, Result, Service};
use crate::audit::Source;
use crate::model::{Role, RoleId, User, fold};
use crate::store::Txn;
use crate::token::{self, ApiToken};

/// What the first start sets up (see [`crate::bootstrap`]). Each record is made only where
/// the directory has none of its name: an import before the first start brings its own.
pub struct FirstStart {
    /// The Administrator System Role, which `admin` is given.
    pub admin_role: Role,
    /// The role `provisioning` is given.
    pub provisioning_role: Role,
    /// The first administrator. One of that name already there (imported) keeps its roles
    /// and state, and is given `admin_password`.
    pub admin: User,
    pub admin_password: String,
    /// The `api` service account `token` acts as.
    pub provisioning: User,
    pub token_name: String,
    pub token: String,
    /// The meta key set with the rest: the first start is done.
    pub done: &'static str,
}

/// What a first start found worth saying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirstStarted {
    /// The provisioning account is active, so the token works. An imported one may not be:
    /// the token is issued all the same (the first start does not change imported records),
    /// and works once the account is activated.
    pub provisioning_active: bool,
}

impl Service {
    /// Sets up a new directory, as the server itself, in one transaction (see the module).
    pub fn first_start(&self, setup: FirstStart) -> Result<FirstStarted> {
        let actor = Actor::system(Source::System);
        let FirstStart {
            mut admin_role,
            mut provisioning_role,
            mut admin,
            admin_password,
            mut provisioning,
            token_name,
            token,
            done,
        } = setup;
        validate_role(&mut admin_role)?;
        validate_role(&mut provisioning_role)?;
        normalise(&mut admin)?;
        normalise(&mut provisioning)?;
        check_token_secret(&token)?;
        let now = OffsetDateTime::now_utc();
        for role in [&mut admin_role, &mut provisioning_role] {
            role.created = now;
            role.modified = now;
            role.version = 1;
        }
        // Hashed before the transaction, whose body may run more than once; an imported
        // administrator's earlier passwords count as they would for any new password.
        let imported_admin = match self.store.user_by_name(&fold(&admin.user_name))? {
            Some(id) => self.store.user(id)?,
            None => None,
        };
        let hash = self.new_password_hash(imported_admin.as_ref(), &admin_password)?;
        let digest = token::digest(&token);
        let record = ApiToken {
            id: Uuid::now_v7(),
            name: token_name.trim().to_string(),
            principal: provisioning.id,
            created: now,
            revoked: false,
            expires: None,
        };
        self.transact(|tx| {
            let admin_role = self.role_named_or_new(tx, &actor, &admin_role)?;
            let provisioning_role = self.role_named_or_new(tx, &actor, &provisioning_role)?;
            match tx.user_by_name(&fold(&admin.user_name))? {
                Some(id) => {
                    let old = readable(tx, id)?;
                    let mut new = old.clone();
                    self.install_password(&mut new, hash.clone(), now, false);
                    self.commit_user(tx, &actor, Some(&old), new)?;
                }
                None => {
                    let mut new = admin.clone();
                    new.roles = vec![admin_role];
                    new.password_hash = Some(hash.clone());
                    new.password_changed = Some(now);
                    self.commit_user(tx, &actor, None, new)?;
                }
            }
            let account = match tx.user_by_name(&fold(&provisioning.user_name))? {
                Some(id) => readable(tx, id)?,
                None => {
                    let mut new = provisioning.clone();
                    new.roles = vec![provisioning_role];
                    self.commit_user(tx, &actor, None, new)?
                }
            };
            let record = ApiToken {
                principal: account.id,
                ..record.clone()
            };
            self.put_new_token(tx, &actor, &account, &digest, &record)?;
            tx.set_meta(done, b"1")?;
            Ok(FirstStarted {
                provisioning_active: account.active,
            })
        })
    }

    /// In a transaction: the id of the role named as `role` is, made from `role` when there
    /// is none.
    fn role_named_or_new(&self, tx: &mut dyn Txn, actor: &Actor, role: &Role) -> Result<RoleId> {
        if let Some(id) = tx.role_by_name(&fold(&role.name))? {
            return Ok(id);
        }
        self.put_new_role(tx, actor, role)?;
        Ok(role.id)
    }
}
