//! The Slipway server: the REST API under `/api/v1`, the web console, and the services both call.
//!
//! Handlers are thin: parse, identify the actor, call one service function, map the result. The
//! services hold the use cases (authorise, read, decide with `slipway-core`, write through one
//! audited store transaction). This crate never builds SQL (that is `slipway-store`) and never
//! decides a rule itself (that is `slipway-core`).
//!
//! Architecture invariant: imports point down the layers only: `api`, `console` → `services` → `transitions` → `slipway-store` + `slipway-core`.
//! Architecture invariant: `engine` only loops, waits and calls services; nothing in `services` or `transitions` imports `engine`.
//! Architecture invariant: `transitions` writes state changes into the caller's transaction; it never authorises, never commits and never imports `services`.
//! Architecture invariant: `services::promotions` never imports `services::deployments`; a direct deploy goes through `promotions::deploy_now` (one way only).
//! Architecture invariant: `console::page` (the frame) never imports `console::session` (the extractors); both import `console::user`.

pub mod api;
pub mod auth;
pub mod backup;
mod channels;
mod checkpoint_log;
mod client_throttle;
pub mod console;
mod engine;
mod error;
mod flag_answers;
mod leader;
mod metrics;
mod outbox;
mod outgoing_tls;
mod readiness;
mod result_arrivals;
mod schedule_cache;
mod secrets;
pub mod services;
mod sign_in_audit;
mod startup;
mod state;
pub mod tls;
mod transitions;
pub mod vault;
mod views;
mod waiting_agents;
mod witness_book;

pub use error::ServiceError;
pub use startup::{shutdown_signal, start, FirstRun, RunningServer, ServerConfig};
pub use state::AppState;
pub use tls::TlsSource;
