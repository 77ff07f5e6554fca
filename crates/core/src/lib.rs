//! Slipway's domain, pure: plain data in, decisions out.
//!
//! This crate owns the model (environments, projects, plans, lifecycles, variables), the parsing
//! of `slipway.yaml` into that model, the access policy, the audit-chain hash and its
//! verification, and the diff that `apply` shows. It must never do I/O: no files, no network, no
//! clock, no database, no async. Callers pass the time and the stored state in.
//!
//! Architecture invariant: core does no I/O; callers pass the time and the stored state in.
//! Architecture invariant: imports point down the layers only: `name`, `digest`, `state_name` → `plan` → `gates` → `model` → `rollback`, `config`, `deploy`, `governance`, `evidence`.
//! Architecture invariant: `plan` owns the action vocabulary and `Step`, and imports nothing above names and roles (`name`, `access`).
//! Architecture invariant: `gates` declares what an environment requires and never judges a promotion; `governance` judges.
//! Architecture invariant: `model` holds validated projects and environments and never imports `config`, `deploy` or `governance`.
//! Architecture invariant: `health` judges probe results, SLOs and soaks, and imports nothing above names (`name`, `state_name`); `model` holds its declarations.
//! Architecture invariant: `rollback` derives a rollback plan from completed steps alone; what undoes one action is `plan`'s business.

pub mod access;
pub mod alerts;
pub mod audit;
pub mod complaints;
pub mod config;
pub mod deploy;
pub mod diff;
pub mod digest;
pub mod evidence;
pub mod fingerprint;
pub mod flags;
pub mod gates;
pub mod governance;
pub mod health;
pub mod insights;
pub mod model;
pub mod name;
pub mod notify;
pub mod page;
pub mod plan;
pub mod quality;
pub mod release;
pub mod rollback;
pub mod signature;
pub mod signing;
pub mod sso;
pub mod state_name;
pub mod supervision;

pub use digest::Sha256;
pub use fingerprint::CertFingerprint;
pub use name::Name;
