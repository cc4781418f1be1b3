//! First start: the roles, the `admin` user and the provisioning service account with its token,
//! so a fresh directory can be administered and provisioned at once. One transaction (see
//! [`Service::first_start`]): a refused or interrupted bootstrap leaves nothing of itself, the
//! next start does it all, and a finished one never runs again.

use crate::model::{
    EntityPermissions, PermissionLevel, Permissions, PrincipalKind, Role, RoleType, User,
};
use crate::password::policy::PasswordPolicy;
use crate::service::{FirstStart, Result, Service, ServiceError};

const DONE: &str = "bootstrapped";
pub const ADMIN_USER: &str = "admin";
pub const ADMIN_ROLE: &str = "Administrators";
pub const PROVISIONING_ROLE: &str = "Provisioning";
pub const PROVISIONING_ACCOUNT: &str = "provisioning";

/// The variable that chooses the first admin password.
pub const ADMIN_PASSWORD_VAR: &str = "ROLLCALL_BOOTSTRAP_ADMIN_PASSWORD";
/// The variable that chooses the first provisioning token.
pub const TOKEN_VAR: &str = "ROLLCALL_BOOTSTRAP_TOKEN";

/// Secrets chosen by automation instead of generated (`ROLLCALL_BOOTSTRAP_*`).
#[derive(Clone, Debug, Default)]
pub struct Seed {
    pub admin_password: Option<String>,
    pub token: Option<String>,
}

impl Seed {
    /// The secrets set (and not empty) in the environment.
    pub fn from_env() -> Self {
        let var = |name| std::env::var(name).ok().filter(|s: &String| !s.is_empty());
        Self {
            admin_password: var(ADMIN_PASSWORD_VAR),
            token: var(TOKEN_VAR),
        }
    }

    /// Whether the chosen secrets can be used: a token as every API token is made, a
    /// password under `policy`. Checked before anything is written (the binary checks before
    /// a new store is even created), so that a refused first start leaves nothing behind
    /// that a later one, or a restore, would trip over. The error names the variable.
    pub fn check(&self, policy: &PasswordPolicy) -> Result<()> {
        let named = |field: &'static str, e: ServiceError| match e {
            ServiceError::Invalid { reason, .. } => ServiceError::invalid(field, reason),
            ServiceError::PasswordPolicy(violation) => {
                ServiceError::invalid(field, violation.to_string())
            }
            e => e,
        };
        if let Some(token) = &self.token {
            crate::service::check_token_secret(token).map_err(|e| named(TOKEN_VAR, e))?;
        }
        if let Some(password) = &self.admin_password {
            policy
                .check_strength(password)
                .map_err(|e| named(ADMIN_PASSWORD_VAR, e.into()))?;
        }
        Ok(())
    }
}

/// What the operator must be told once.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub admin_password: String,
    pub admin_password_generated: bool,
    pub token: String,
    pub token_generated: bool,
}

/// Why a first start did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// Every employee license is taken (by an import before the first start), so the first
    /// administrator, who needs one, cannot be made; nothing of the first start was written.
    #[error(
        "the first administrator, {ADMIN_USER:?}, needs an employee license, and all {limit} \
         are in use ({used}/{limit}): raise [licenses] employee to at least {needed}, or \
         deactivate an employee (`rollcall user deactivate USERNAME`), then start again; \
         nothing of the first start was written"
    )]
    NoLicenseForAdmin { used: u64, limit: u64, needed: u64 },
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// Returns the credentials when this call did the bootstrap, `None` when it was done before.
/// The bootstrap is one transaction: refused, it leaves nothing of itself behind.
pub fn ensure(service: &Service, seed: Seed) -> Result<Option<Credentials>, BootstrapError> {
    let done = service.meta(DONE)?.is_some();
    // Chosen secrets are checked before anything is written; once done, they are not read.
    if !done {
        seed.check(&service.policy().password)?;
    }
    service.ensure_signing_keys()?;
    if done {
        return Ok(None);
    }
    let mut admin_role = Role::new(ADMIN_ROLE, Some(RoleType::Employee));
    admin_role.administrator = true;
    admin_role.permissions = everything();
    admin_role.settings.api_access = true;
    admin_role.settings.description = Some("Administrator System Role: everything".into());
    let mut provisioning_role = Role::new(PROVISIONING_ROLE, Some(RoleType::Employee));
    provisioning_role.permissions = everything();
    provisioning_role.settings.api_access = true;
    provisioning_role.settings.description =
        Some("Identity-provider provisioning: users, groups and accounts".into());

    let admin_password_generated = seed.admin_password.is_none();
    let admin_password = seed
        .admin_password
        .unwrap_or_else(|| service.generate_password());
    let mut admin = User::new(ADMIN_USER);
    admin.display_name = Some("Administrator".into());
    admin.active = true;
    let mut account = User::new(PROVISIONING_ACCOUNT);
    account.kind = PrincipalKind::Api;
    account.display_name = Some("Provisioning service account".into());
    account.active = true;
    let token_generated = seed.token.is_none();
    let token = seed.token.unwrap_or_else(crate::token::new_api_token);

    let started = service
        .first_start(FirstStart {
            admin_role,
            provisioning_role,
            admin,
            admin_password: admin_password.clone(),
            provisioning: account,
            token_name: "bootstrap".into(),
            token: token.clone(),
            done: DONE,
        })
        .map_err(|e| match e {
            // Only the administrator, a new active employee, takes a license here.
            ServiceError::LicenseLimit { used, limit, .. } => BootstrapError::NoLicenseForAdmin {
                used,
                limit,
                needed: used + 1,
            },
            e => e.into(),
        })?;
    if !started.provisioning_active {
        tracing::warn!(
            account = PROVISIONING_ACCOUNT,
            "the imported provisioning account is inactive: the printed token works once it \
             is activated (`rollcall user activate {PROVISIONING_ACCOUNT}`)"
        );
    }
    Ok(Some(Credentials {
        admin_password,
        admin_password_generated,
        token,
        token_generated,
    }))
}

/// Full user, group and account management.
fn everything() -> Permissions {
    Permissions {
        user: EntityPermissions::uniform(PermissionLevel::All),
        role: EntityPermissions::uniform(PermissionLevel::All),
        account: EntityPermissions::uniform(PermissionLevel::All),
    }
}
