//! Service errors as LDAP results: the code a client acts on and the text an admin reads.

use rollcall_ldap::{LdapError, LdapResultCode as Code};

use crate::service::ServiceError;

pub fn ldap_error(e: ServiceError) -> LdapError {
    use ServiceError as E;
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
        E::InvalidCredentials => Code::InvalidCredentials,
        E::Store(_) | E::Backup(_) => {
            tracing::error!(error = %e, "store failure during an LDAP operation");
            return LdapError::other("internal error; see the server log");
        }
    };
    LdapError::new(code, e.to_string())
}
