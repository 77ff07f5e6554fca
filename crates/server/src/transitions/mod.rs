//! State transitions that several services write, one layer below them.
//!
//! `services` call into this module; it calls only `slipway-store` and `slipway-core`. It never
//! authorises an actor (the services do, before they call it) and never commits a transaction it
//! was handed.

pub(crate) mod deployment;
pub(crate) mod task_lease;
