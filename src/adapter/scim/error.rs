//! Service errors as SCIM errors: the status and `scimType` an identity provider acts on, and a
//! detail an admin can read in a provisioning log.

use rollcall_scim::{ScimError, ScimType};

use crate::service::ServiceError;

/// The mapping every SCIM endpoint uses.
pub fn failure(e: ServiceError) -> ScimError {
    use ServiceError as E;
    let (status, scim_type) = match &e {
        E::NotFound { .. } => (404, None),
        E::UserNameTaken(_) | E::RoleNameTaken(_) | E::AccountNameTaken(_) => {
            (409, Some(ScimType::Uniqueness))
        }
        // The request is valid but the license pool says no: a conflict with the current state.
        E::LicenseLimit { .. }
        | E::AccountNotLicensed(_)
        | E::AccountHasActivePartners { .. }
        | E::LastAdministrator(_)
        | E::AccountInUse(_)
        | E::Busy(_) => (409, None),
        E::AccountRequired(_)
        | E::UnknownAccount(_)
        | E::UnknownManager(_)
        | E::UnknownRole(_)
        | E::ManagerCycle(_)
        | E::AccountCycle(_)
        | E::RoleTypeMismatch { .. }
        | E::LevelNotAllowed { .. }
        | E::Invalid { .. } => (400, Some(ScimType::InvalidValue)),
        E::PasswordPolicy(crate::password::policy::Violation::SelfServiceDisabled) => (403, None),
        E::PasswordPolicy(_) => (400, Some(ScimType::InvalidValue)),
        E::VersionConflict { .. } => (412, None),
        E::Forbidden(_) => (403, None),
        E::InvalidCredentials | E::PasswordExpired(_) | E::SignInCode(_) => (401, None),
        E::Store(_) | E::Backup(_) => {
            tracing::error!(error = %e, "store failure during a SCIM request");
            return ScimError::internal("internal error; see the server log");
        }
    };
    ScimError::new(status, scim_type, e.to_string())
}
