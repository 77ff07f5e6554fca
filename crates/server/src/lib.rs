//! The Slipway server: the REST API under `/api/v1`, the web console, and the services both call.
//!
//! Handlers are thin: parse, identify the actor, call one service function, map the result. The
//! services hold the use cases (authorise, read, decide with `slipway-core`, write through one
//! audited store transaction). This crate never builds SQL (that is `slipway-store`) and never
//! decides a rule itself (that is `slipway-core`).

pub mod api;
pub mod auth;
pub mod console;
mod engine;
mod error;
mod metrics;
mod outbox;
mod secrets;
pub mod services;
mod startup;
mod state;
pub mod tls;
mod transitions;
pub mod vault;

pub use error::ServiceError;
pub use startup::{start, FirstRun, RunningServer, ServerConfig};
pub use state::AppState;
pub use tls::TlsSource;
