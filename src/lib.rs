//! Rollcall's directory core: the domain model, the rules that govern it (the service), the
//! store behind a narrow trait, and the wiring of the LDAP and SCIM front ends.

pub mod adapter;
pub mod audit;
pub mod auth;
pub mod backups;
pub mod bootstrap;
pub mod config;
#[cfg(unix)]
pub mod control;
pub mod data_dir;
pub mod mail;
pub mod metrics;
pub mod model;
pub mod outbox;
pub mod password;
pub mod process;
pub mod review;
pub mod sealed;
pub mod server;
pub mod service;
pub mod store;
pub mod tls;
pub mod token;
pub mod transfer;
