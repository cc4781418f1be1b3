//! Service errors as SCIM errors: the status and `scimType` an identity provider acts on, and a
//! detail an admin can read in a provisioning log.

use crate::service::ServiceError;
use crate::store::StoreError;

/// A SCIM error response (RFC 7644 §3.12) before it is put on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScimFailure {
    pub status: u16,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimFailure {
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self {
            status: 400,
            scim_type: Some("invalidValue"),
            detail: detail.into(),
        }
    }
}

/// The mapping every SCIM endpoint uses.
pub fn failure(e: &ServiceError) -> ScimFailure {
    use ServiceError as E;
    let (status, scim_type) = match e {
        E::NotFound { .. } => (404, None),
        E::UserNameTaken(_) | E::RoleNameTaken(_) | E::AccountNameTaken(_) => {
            (409, Some("uniqueness"))
        }
        // The request is valid but the license pool says no: a conflict with the current state.
        E::LicenseLimit { .. } | E::AccountNotLicensed(_) | E::AccountInUse(_) | E::Busy(_) => {
            (409, None)
        }
        E::AccountRequired(_)
        | E::UnknownAccount(_)
        | E::UnknownManager(_)
        | E::UnknownRole(_)
        | E::ManagerCycle(_)
        | E::AccountCycle(_)
        | E::RoleTypeMismatch { .. }
        | E::LevelNotAllowed { .. }
        | E::Invalid { .. } => (400, Some("invalidValue")),
        E::VersionConflict { .. } => (412, None),
        E::Forbidden(_) => (403, None),
        E::InvalidCredentials => (401, None),
        E::Store(StoreError::Locked(_) | StoreError::Engine(_) | StoreError::Conflict) => {
            (500, None)
        }
        E::Store(StoreError::Corrupt { .. } | StoreError::Format { .. }) => (500, None),
    };
    ScimFailure {
        status,
        scim_type,
        detail: e.to_string(),
    }
}
