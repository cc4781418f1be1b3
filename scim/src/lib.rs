//! SCIM 2.0 service-provider protocol (RFC 7643, RFC 7644).
//!
//! This crate knows nothing of the directory behind it: the core implements
//! [`provider::Provider`] and nests [`router::router`] at `/scim/v2`. Everything protocol-shaped
//! (filters, paths, PATCH semantics, paging, projection, Bulk, discovery, errors) lives here so
//! the core only stores and authorises.

pub mod bulk;
pub mod discovery;
pub mod error;
pub mod filter;
pub mod input;
pub mod list;
mod operations;
pub mod patch;
pub mod path;
pub mod provider;
pub mod router;
pub mod schema;

pub use error::{ScimError, ScimType};
pub use filter::{CompValue, CompareOp, Filter, Plan};
pub use input::normalize_input;
pub use list::{ListParams, Projection, SortOrder};
pub use operations::{ETagCondition, etag};
pub use patch::{OpKind, PatchOperation, PatchRequest, apply_patch};
pub use path::{AttrPath, PatchPath};
pub use provider::{ClientInfo, Endpoint, ListQuery, MemberChanges, Provider, Resource};
pub use router::{RouterConfig, router};
pub use schema::{
    AttrType, AttributeDef, Mutability, ResourceTypeDef, Returned, SchemaDef, Schemas, Uniqueness,
};
