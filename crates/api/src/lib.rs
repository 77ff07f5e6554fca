//! The shapes of the HTTP API: the views the server answers with and the bodies the CLI sends.
//! The server builds them from its store rows; the CLI reads them instead of untyped JSON, so a
//! change to the API is a change to a type both sides compile against.
//!
//! Architecture invariant: this crate is plain data with serde derives. It never does I/O,
//! never knows the store or the server, and holds no logic beyond field access; a field's name
//! and position are its JSON key and key order, so reordering fields changes the API bytes.
//! It depends only on serde, serde_json (free-form fields) and slipway-core for the types whose
//! serde form is already the wire form (deployment and task states, runs, rollback plans, roles).

pub mod access;
pub mod alerts;
pub mod audit;
pub mod batches;
pub mod complaints;
pub mod config_changes;
pub mod coverage;
pub mod dashboards;
pub mod deployments;
pub mod evidence;
pub mod flags;
pub mod governance;
pub mod health;
pub mod insights;
pub mod problem;
pub mod projects;
pub mod quality;
pub mod signatures;
pub mod targets;
pub mod variables;
pub mod vault;
pub mod webhooks;

use serde::{Deserialize, Serialize};

/// A page of a list answer: `{ "items": [...], "next": null }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct List<T> {
    pub items: Vec<T>,
    /// The cursor of the next page; the API has no paged lists yet, so it is always null.
    pub next: Option<i64>,
}

impl<T> List<T> {
    /// A whole list in one page.
    pub fn all(items: Vec<T>) -> List<T> {
        List { items, next: None }
    }
}

/// A page of a keyset-paged list: `{ "items": [...], "next": "CURSOR" | null }`. Pass `next`
/// back unchanged as `after` (`?limit=N&after=CURSOR`) for the following page; it is `null` on
/// the last one. The cursor is opaque text; the JSON shape is the one [`List`] has, so a client
/// that read the whole list from `items` keeps working and sees its first page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}
