use crate::model::{Entity, LicenseType, PermissionLevel, RoleType};
use crate::store::StoreError;

/// Everything a front end can be told about a refused request. Each variant maps to one LDAP
/// result code and one SCIM status/scimType in the adapters; the texts are written for the admin
/// who reads them in a provisioning log.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{entity:?} {id} not found")]
    NotFound { entity: Entity, id: String },
    #[error("userName {0:?} is already taken")]
    UserNameTaken(String),
    #[error("a role or group named {0:?} already exists")]
    RoleNameTaken(String),
    #[error("an account named {0:?} already exists")]
    AccountNameTaken(String),
    #[error("{license} license limit reached: {used}/{limit} in use")]
    LicenseLimit {
        license: LicenseType,
        used: u64,
        limit: u64,
    },
    #[error("account {0:?} is not licensed for partner users (partner_model = per_account)")]
    AccountNotLicensed(String),
    #[error(
        "account {account:?} has {active} active partner users: deactivate them or move them to \
         a licensed account before it stops being licensed (partner_model = per_account)"
    )]
    AccountHasActivePartners { account: String, active: usize },
    #[error("{0} users must belong to an account")]
    AccountRequired(LicenseType),
    #[error("account {0} does not exist")]
    UnknownAccount(String),
    #[error("manager {0} does not exist")]
    UnknownManager(String),
    #[error("role {0} does not exist")]
    UnknownRole(String),
    #[error("setting this manager would make {0} their own (indirect) manager")]
    ManagerCycle(String),
    #[error("setting this parent would make account {0} its own ancestor")]
    AccountCycle(String),
    #[error(
        "role {role:?} is {} {role_type} role; user {user:?} holds {} {license} license",
        role_type.article(),
        license.article()
    )]
    RoleTypeMismatch {
        role: String,
        role_type: RoleType,
        user: String,
        license: LicenseType,
    },
    #[error("{role_type} roles cannot use the {level} level on {entity:?}")]
    LevelNotAllowed {
        role_type: String,
        entity: Entity,
        level: PermissionLevel,
    },
    #[error("the record changed: expected version {expected}, it is at {current}")]
    VersionConflict { expected: u64, current: u64 },
    #[error("account {0:?} still has users or child accounts")]
    AccountInUse(String),
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("{0}")]
    Forbidden(String),
    #[error(
        "{0} would leave the directory without an active administrator; make someone else one \
         first"
    )]
    LastAdministrator(String),
    #[error(transparent)]
    PasswordPolicy(#[from] crate::password::policy::Violation),
    /// Any failed login: the client learns nothing more; the audit trail has the reason.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A login with the right password, refused because the password is past
    /// `[password] max_age_days`. Said only to a caller who proved the password, so it tells
    /// a guesser nothing; the user learns how to get a new one.
    #[error("the password has expired: {0}")]
    PasswordExpired(NewPassword),
    /// A login with the right password by someone whose roles require MFA and who signs in
    /// with mailed codes (`[mfa] email_codes`): the login is to be sent again with the code
    /// mailed, now or less than a minute ago (or, that one used up, once the minute is over;
    /// the service counts the seconds left, so that every front end tells the same). Said only
    /// to a caller who proved the password.
    #[error("{0}")]
    SignInCode(crate::auth::email_code::CodeMailing),
    /// A record kept changing while a multi-step change read it; the caller may try again.
    #[error("{0} is changing concurrently; try again")]
    Busy(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A backup could not be written out (the reader went away, the disk is full, …).
    #[error("backup: {0}")]
    Backup(String),
}

/// How someone whose password has expired gets a new one, as the refusal tells them: a reset
/// link only where one asked for would come, or they would be sent to a page that is not
/// there (`[recovery] enabled = false`) or wait for a link that never comes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewPassword {
    /// `POST /auth/password/forgot` sends this user a link.
    ResetLink,
    /// No link would come (recovery is off, or not for such users, or there is no address to
    /// send it to): an administrator sets it.
    FromAdministrator,
}

impl std::fmt::Display for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ResetLink => {
                "set a new one with a reset link (forgotten password), or ask an administrator"
            }
            Self::FromAdministrator => "ask an administrator to set a new one",
        })
    }
}

impl From<crate::store::BackupError> for ServiceError {
    fn from(e: crate::store::BackupError) -> Self {
        match e {
            crate::store::BackupError::Store(e) => Self::Store(e),
            other => Self::Backup(other.to_string()),
        }
    }
}

impl ServiceError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn not_found(entity: Entity, id: impl ToString) -> Self {
        Self::NotFound {
            entity,
            id: id.to_string(),
        }
    }
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;
