//! Translation between the protocol crates' shapes and the domain. Adapters map attributes and
//! plan queries; every rule and decision stays in [`crate::service`].

pub mod ldap;
pub mod scim;
