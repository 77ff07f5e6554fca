//! Slipway's domain, pure: plain data in, decisions out.
//!
//! This crate owns the model (environments, projects, plans, lifecycles, variables), the parsing
//! of `slipway.yaml` into that model, the access policy, the audit-chain hash and its
//! verification, and the diff that `apply` shows. It must never do I/O: no files, no network, no
//! clock, no database, no async. Callers pass the time and the stored state in.

pub mod access;
pub mod audit;
pub mod config;
pub mod deploy;
pub mod diff;
pub mod governance;
pub mod digest;
pub mod model;
pub mod name;
pub mod plan;
pub mod release;
pub mod signing;

pub use digest::Sha256;
pub use name::Name;
