//! Deployments, decided purely: which step runs where and in which order, how states move, and
//! how variables and secrets reach an action. The orchestrator in the server persists and
//! dispatches; everything it decides comes from here.

pub mod progress;
pub mod schedule;
pub mod state;
pub mod target;
pub mod vars;
