//! Slipway's end-to-end tests, one binary like ripgrep's `tests/tests.rs`: each module starts real
//! `slipway server`, CLI and agent processes (see [`support`]) for one area of the product. One
//! binary links once and lets `cargo test -p slipway --test it -- evidence::` pick an area.

// A test crate: an unwrap that fails is a failed test that names its line, which is what a test
// wants. (clippy's allow-unwrap-in-tests covers only `#[test]` functions, not their helpers.)
#![allow(clippy::unwrap_used)]

mod support;

mod access_and_audit;
mod agent_actions;
mod agents;
mod alert_incidents;
mod alerts;
mod backup;
mod batch_holds;
mod batch_runs;
mod batches;
mod checkpoint_witnesses;
mod checkpoints;
mod checkpoints_at_start;
mod checkpoints_paged;
mod ci_templates;
mod cli_sso;
mod complaints;
mod config_as_code;
mod config_changes;
mod console_dashboard;
mod console_deployments;
mod console_governance;
mod console_keyboard;
mod console_pages;
mod console_quality;
mod coverage;
mod dashboards;
mod deployments;
mod directory_tls;
mod discovery;
mod evidence;
mod evidence_inclusion;
mod findings;
mod first_hour;
mod flags;
mod flakiness;
mod governance;
mod governed_keys;
mod health;
mod history;
mod ibtool;
mod insights;
mod interventions;
mod loadgen;
mod log_alerts;
mod monitoring;
mod oidc_recheck;
mod orchestration;
mod outgoing_ca_files;
mod package;
mod pg_restart;
mod postgres;
mod promises;
mod quality;
mod recovery;
mod replicas;
mod result_groups;
mod rollout;
mod scale;
mod signatures;
mod signed_records;
mod sonar;
mod sso;
mod sso_outages;
mod test_batteries;
mod tls;
mod up;
mod upgrade;
mod vault;
mod vault_s3;
mod vault_s3_copy_ahead;
mod webhooks;
mod weekly_report;

/// A test file dropped into `tests/it` without a `mod` line here would compile into nothing and
/// its tests would silently never run.
#[test]
fn every_test_file_is_declared_as_a_module() {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let main =
        std::fs::read_to_string(folder.join("main.rs")).expect("tests/it/main.rs is readable");
    let declared: Vec<&str> = main
        .lines()
        .filter_map(|l| l.strip_prefix("mod ")?.strip_suffix(';'))
        .collect();
    let mut forgotten = Vec::new();
    for entry in std::fs::read_dir(&folder).expect("tests/it is readable") {
        let path = entry.expect("a readable folder entry").path();
        let module = if path.is_dir() {
            path.join("mod.rs").is_file().then(|| path.file_name())
        } else {
            (path.extension().is_some_and(|e| e == "rs")).then(|| path.file_stem())
        };
        let Some(name) = module.flatten().and_then(|n| n.to_str()) else {
            continue;
        };
        if name != "main" && !declared.contains(&name) {
            forgotten.push(name.to_string());
        }
    }
    forgotten.sort();
    assert!(
        forgotten.is_empty(),
        "tests/it holds test files that main.rs does not declare (add `mod NAME;`): {forgotten:?}"
    );
}
