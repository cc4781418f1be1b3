//! First start: the roles, the `admin` user and the provisioning service account with its token,
//! so a fresh directory can be administered and provisioned at once. Idempotent: an interrupted
//! bootstrap completes on the next start, and a finished one never runs again.

use crate::audit::Source;
use crate::model::{
    EntityPermissions, PermissionLevel, Permissions, PrincipalKind, Role, RoleType, User,
};
use crate::password::policy::PasswordPolicy;
use crate::service::{Actor, NewUser, Result, Service, ServiceError};

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

/// Returns the credentials when this call did the bootstrap, `None` when it was done before.
pub fn ensure(service: &Service, seed: Seed) -> Result<Option<Credentials>> {
    let done = service.meta(DONE)?.is_some();
    // Chosen secrets are checked before anything is written; once done, they are not read.
    if !done {
        seed.check(&service.policy().password)?;
    }
    service.ensure_signing_keys()?;
    if done {
        return Ok(None);
    }
    let actor = Actor::system(Source::System);
    let admin_role = find_or_create_role(service, &actor, ADMIN_ROLE, |role| {
        role.administrator = true;
        role.permissions = Permissions {
            user: EntityPermissions::uniform(PermissionLevel::All),
            role: EntityPermissions::uniform(PermissionLevel::All),
            account: EntityPermissions::uniform(PermissionLevel::All),
        };
        role.settings.api_access = true;
        role.settings.description = Some("Administrator System Role: everything".into());
    })?;
    let provisioning_role = find_or_create_role(service, &actor, PROVISIONING_ROLE, |role| {
        role.permissions = Permissions {
            user: EntityPermissions::uniform(PermissionLevel::All),
            role: EntityPermissions::uniform(PermissionLevel::All),
            account: EntityPermissions::uniform(PermissionLevel::All),
        };
        role.settings.api_access = true;
        role.settings.description =
            Some("Identity-provider provisioning: users, groups and accounts".into());
    })?;

    let admin_password_generated = seed.admin_password.is_none();
    let admin_password = seed
        .admin_password
        .unwrap_or_else(|| service.generate_password());
    if let Err(ServiceError::NotFound { .. }) = service.user_by_name(&actor, ADMIN_USER) {
        let mut admin = User::new(ADMIN_USER);
        admin.display_name = Some("Administrator".into());
        admin.active = true;
        admin.roles = vec![admin_role.id];
        service.create_user(
            &actor,
            NewUser {
                user: admin,
                password: Some(admin_password.clone()),
            },
        )?;
    } else {
        let admin = service.user_by_name(&actor, ADMIN_USER)?;
        service.set_password(&actor, admin.id, &admin_password)?;
    }

    let account = match service.user_by_name(&actor, PROVISIONING_ACCOUNT) {
        Ok(user) => user,
        Err(ServiceError::NotFound { .. }) => {
            let mut account = User::new(PROVISIONING_ACCOUNT);
            account.kind = PrincipalKind::Api;
            account.display_name = Some("Provisioning service account".into());
            account.active = true;
            account.roles = vec![provisioning_role.id];
            service.create_user(
                &actor,
                NewUser {
                    user: account,
                    password: None,
                },
            )?
        }
        Err(e) => return Err(e),
    };
    let token_generated = seed.token.is_none();
    let token = service.create_api_token(&actor, "bootstrap", account.id, seed.token, None)?;
    service.set_meta(DONE, b"1")?;
    Ok(Some(Credentials {
        admin_password,
        admin_password_generated,
        token,
        token_generated,
    }))
}

fn find_or_create_role(
    service: &Service,
    actor: &Actor,
    name: &str,
    shape: impl Fn(&mut Role),
) -> Result<Role> {
    match service.role_by_name(actor, name) {
        Ok(role) => Ok(role),
        Err(ServiceError::NotFound { .. }) => {
            let mut role = Role::new(name, Some(RoleType::Employee));
            shape(&mut role);
            service.create_role(actor, role)
        }
        Err(e) => Err(e),
    }
}
