//! Service errors as LDAP results: the code a client acts on and the text an admin reads.

use rollcall_ldap::ppolicy::PolicyError;
use rollcall_ldap::{LdapError, LdapResultCode as Code};

use crate::password::policy::Violation;

use crate::service::ServiceError;

pub fn ldap_error(e: ServiceError) -> LdapError {
    use ServiceError as E;
    // What the password policy control says of a refused password, for clients that ask.
    let policy = match &e {
        E::PasswordPolicy(Violation::TooShort { .. }) => Some(PolicyError::PasswordTooShort),
        E::PasswordPolicy(Violation::TooFewClasses { .. }) => {
            Some(PolicyError::InsufficientPasswordQuality)
        }
        E::PasswordPolicy(Violation::Reused { .. }) => Some(PolicyError::PasswordInHistory),
        E::PasswordPolicy(Violation::SelfServiceDisabled) => {
            Some(PolicyError::PasswordModNotAllowed)
        }
        E::PasswordExpired(_) => Some(PolicyError::PasswordExpired),
        _ => None,
    };
    let code = match &e {
        E::NotFound { .. } => Code::NoSuchObject,
        E::UserNameTaken(_) | E::RoleNameTaken(_) | E::AccountNameTaken(_) => {
            Code::EntryAlreadyExists
        }
        // An administrative limit (the license pool), not a malformed request.
        E::LicenseLimit { .. } | E::AccountNotLicensed(_) => Code::AdminLimitExceeded,
        E::AccountHasActivePartners { .. } | E::LastAdministrator(_) => Code::UnwillingToPerform,
        E::AccountRequired(_)
        | E::UnknownAccount(_)
        | E::UnknownManager(_)
        | E::UnknownRole(_)
        | E::ManagerCycle(_)
        | E::AccountCycle(_)
        | E::RoleTypeMismatch { .. }
        | E::LevelNotAllowed { .. }
        | E::Invalid { .. } => Code::ConstraintViolation,
        E::PasswordPolicy(crate::password::policy::Violation::SelfServiceDisabled) => {
            Code::InsufficentAccessRights
        }
        E::PasswordPolicy(_) => Code::ConstraintViolation,
        E::VersionConflict { .. } | E::Busy(_) => Code::Busy,
        E::AccountInUse(_) => Code::NotAllowedOnNonLeaf,
        E::Forbidden(_) => Code::InsufficentAccessRights,
        E::InvalidCredentials | E::PasswordExpired(_) | E::SignInCode(_) => {
            Code::InvalidCredentials
        }
        E::Store(_) | E::Backup(_) => {
            tracing::error!(error = %e, "store failure during an LDAP operation");
            return LdapError::other("internal error; see the server log");
        }
    };
    let error = LdapError::new(code, e.to_string());
    match policy {
        Some(policy) => error.with_policy(policy),
        None => error,
    }
}
