//! Store tests, one file per area: each test runs on SQLite and on PostgreSQL through
//! [`on_both_backends`]; the helpers here build the rows several areas share.

mod access;
mod alerts;
mod audit;
mod audit_tree;
mod baselines;
mod batches;
mod checkpoints;
mod complaints;
mod component_days;
mod config_changes;
mod deployments;
mod dora_check;
mod environments;
mod evidence;
mod findings;
mod flags;
mod flakiness;
mod governance;
mod health;
mod health_days;
mod identities;
mod insights;
mod lane_heads;
mod leases;
mod open;
mod pages;
mod plans;
mod quality;
mod run_outcomes;
mod targets;
mod task_groups;
mod telemetry_writes;
mod vault;
mod wakeups;
mod wal;
mod webhooks;
mod writes;

use std::future::Future;

use serde_json::json;
use slipway_core::audit::AuditEntry;
use slipway_core::model::Environment;
use slipway_core::Name;

use super::*;
use crate::testing::{drop_postgres_database, fresh_postgres_database};

/// Run `test` against a fresh SQLite file and a fresh PostgreSQL database.
async fn on_both_backends<F, Fut>(test: F)
where
    F: Fn(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    crate::testing::on_both_backends(dir.path(), test).await;
}

fn env(name: &str, position: i64, protected: bool) -> Environment {
    Environment {
        name: Name::parse(name).unwrap(),
        position,
        region: None,
        protected,
        description: String::new(),
        on_failure: Default::default(),
        gates: Default::default(),
        require_signatures: None,
        production: false,
    }
}

fn entry(verb: &str, subject: &str) -> AuditEntry {
    AuditEntry {
        actor: "alice".into(),
        verb: verb.into(),
        subject: subject.into(),
        details: json!({"why": "test"}),
    }
}

async fn put_env(store: &Store, e: &Environment) {
    let mut tx = store.write().await.unwrap();
    tx.put_environment(e).await.unwrap();
    tx.audit(entry("environment.put", &format!("environment/{}", e.name)));
    tx.commit().await.unwrap();
}
