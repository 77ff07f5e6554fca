//! `vault …`: vault maintenance: verify every blob, garbage collection, retention. It never
//! deletes anything the server does not agree to delete.

use clap::Subcommand;
use serde_json::{json, Value};
use slipway_api::vault::{GcReportView, VaultReportView};
use slipway_core::release::RetentionPolicy;

use crate::client::encode;
use crate::error::{Exit, Failure};
use crate::output::{self, show, Format};
use crate::remote::Remote;

#[derive(Subcommand)]
pub enum VaultCommand {
    /// Re-hash every blob; exit 1 naming each corrupt or missing one.
    #[command(after_help = "Example:\n  slipway vault verify && echo intact")]
    Verify {
        #[command(flatten)]
        remote: Remote,
    },
    /// Delete what retention lets go: reports releases pruned, artifacts purged, bytes reclaimed.
    #[command(after_help = "Examples:\n  slipway vault gc --dry-run\n  slipway vault gc")]
    Gc {
        /// Report what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show or set a project's retention policy.
    #[command(
        after_help = "Examples:\n  slipway vault retention --project pets\n  slipway vault retention --project pets --keep 5 --keep-unreleased-days 14"
    )]
    Retention {
        #[arg(long)]
        project: String,
        /// Releases kept per channel (ATD, BETA, RC, GA).
        #[arg(long)]
        keep: Option<u32>,
        /// Days an artifact in no kept release is kept.
        #[arg(long)]
        keep_unreleased_days: Option<u32>,
        #[command(flatten)]
        remote: Remote,
    },
}

pub(crate) fn vault(command: VaultCommand) -> Result<(), Failure> {
    match command {
        VaultCommand::Verify { remote } => verify(&remote),
        VaultCommand::Gc { dry_run, remote } => gc(&remote, dry_run),
        VaultCommand::Retention {
            project,
            keep,
            keep_unreleased_days,
            remote,
        } => retention(&remote, &project, keep, keep_unreleased_days),
    }
}

fn verify(remote: &Remote) -> Result<(), Failure> {
    let report = remote
        .client()
        .post::<VaultReportView>("/api/v1/vault/verify", &json!({}))?;
    if remote.output == Format::Json {
        output::json(&report);
    }
    let problems: Vec<String> = [("corrupt", &report.corrupt), ("missing", &report.missing)]
        .into_iter()
        .flat_map(|(kind, list)| {
            list.iter().map(move |p| {
                format!(
                    "{kind} blob {}: {} (artifacts: {})",
                    p.digest,
                    p.problem,
                    p.artifacts.join(",")
                )
            })
        })
        .collect();
    if problems.is_empty() {
        if remote.output == Format::Human {
            println!(
                "vault intact: {} blobs, {} bytes re-hashed",
                report.blobs, report.bytes
            );
        }
        return Ok(());
    }
    Err(Failure::new(
        Exit::Failed,
        format!(
            "vault DAMAGED: {} of {} blobs\n{}\n  hint: push the same file again to repair a blob, or restore it from a backup; downloads of these are refused",
            problems.len(),
            report.blobs,
            problems.join("\n")
        ),
    ))
}

fn gc(remote: &Remote, dry_run: bool) -> Result<(), Failure> {
    let report = remote
        .client()
        .post::<GcReportView>("/api/v1/vault/gc", &json!({ "dry_run": dry_run }))?;
    show(remote, &report, |r| {
        let verb = if dry_run { "would" } else { "did" };
        for release in &r.pruned_releases {
            println!("{verb} prune release {release}");
        }
        for artifact in &r.purged_artifacts {
            println!("{verb} purge artifact {artifact}");
        }
        for b in &r.deleted_blobs {
            println!("{verb} delete blob {} ({} bytes)", b.digest, b.size);
        }
        let mut unrecorded = match r.unrecorded_files_removed {
            0 => String::new(),
            n => format!(", {n} unrecorded file(s) removed"),
        };
        if r.unrecorded_files_kept > 0 {
            unrecorded.push_str(&format!(
                ", {} unrecorded file(s) kept (younger than SLIPWAY_VAULT_ORPHAN_GRACE: a push may still record them)",
                r.unrecorded_files_kept
            ));
        }
        println!(
            "{}: {} blob(s), {} bytes reclaimed{unrecorded}",
            if dry_run { "dry run" } else { "done" },
            r.deleted_blobs.len(),
            r.bytes_reclaimed,
        );
    });
    Ok(())
}

fn retention(
    remote: &Remote,
    project: &str,
    keep: Option<u32>,
    keep_unreleased_days: Option<u32>,
) -> Result<(), Failure> {
    let client = remote.client();
    let path = format!("/api/v1/projects/{}/retention", encode(project));
    let mut policy = client.get::<RetentionPolicy>(&path)?;
    if keep.is_some() || keep_unreleased_days.is_some() {
        if let Some(k) = keep {
            policy.keep_per_channel = k;
        }
        if let Some(d) = keep_unreleased_days {
            policy.keep_unreleased_days = d;
        }
        client.put::<Value>(&path, &policy)?;
    }
    show(remote, &policy, |p| {
        println!(
            "{project}: keep the last {} releases per channel; artifacts in no kept release for {} days",
            p.keep_per_channel, p.keep_unreleased_days
        )
    });
    Ok(())
}
