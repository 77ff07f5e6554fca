//! Evidence bundles: export a release's bundle from the server, show the server's evidence key,
//! and verify a bundle offline (no server, no network: `slipway_core::evidence::verify`).

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::json;
use slipway_core::evidence::{self, Report};

use crate::client::{encode, Exit, Failure};
use crate::output::{self, show, Format};
use crate::Remote;

/// Bundles larger than this are refused by `verify` rather than read into memory.
const MAX_BUNDLE: u64 = 4 << 30;

#[derive(Subcommand)]
pub enum EvidenceCommand {
    /// Download a release's evidence bundle (a signed tar an auditor can check without Slipway).
    #[command(
        after_help = "Example:\n  slipway evidence export --project pets --release 1.4.0 --out pets-1.4.0-evidence.tar"
    )]
    Export {
        #[arg(long)]
        project: String,
        #[arg(long)]
        release: String,
        /// Where to write the bundle (written to OUT.part, renamed once it verified).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        remote: Remote,
    },
    /// Check a bundle offline: archive structure, every file's SHA-256, the signature, the audit
    /// chain. Exit 0 when intact, 1 with every problem found.
    #[command(
        after_help = "Examples:\n  slipway evidence verify pets-1.4.0-evidence.tar --key-fingerprint sha256:3f1c…\n  slipway evidence verify pets-1.4.0-evidence.tar -o json"
    )]
    Verify(VerifyArgs),
    /// Show the server's evidence key and its fingerprint (compare it with a bundle's).
    #[command(after_help = "Example:\n  slipway evidence key")]
    Key {
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Args)]
pub struct VerifyArgs {
    /// The bundle (.tar) to check.
    file: PathBuf,
    /// The fingerprint of the evidence key you trust (`slipway evidence key` on the server, or
    /// the console); without it, the bundle is checked against the key it carries.
    #[arg(long)]
    key_fingerprint: Option<String>,
    /// Output for people (human) or for scripts (json).
    #[arg(long, short = 'o', value_enum, default_value = "human")]
    output: Format,
}

pub fn evidence(command: EvidenceCommand) -> Result<(), Failure> {
    match command {
        EvidenceCommand::Export {
            project,
            release,
            out,
            remote,
        } => export(&remote, &project, &release, &out),
        EvidenceCommand::Verify(args) => verify(args),
        EvidenceCommand::Key { remote } => {
            let key = remote.client().get("/api/v1/evidence/key")?;
            show(&remote, &key, |k| {
                println!("fingerprint {}", output::cell(&k["fingerprint"]));
                println!("public key  {}", output::cell(&k["public_key"]));
                println!("(bundles carry this key in evidence-key.pub; `slipway evidence verify FILE --key-fingerprint {}` checks a bundle was signed by it)", output::cell(&k["fingerprint"]));
            });
            Ok(())
        }
    }
}

fn io_failure(what: &str, path: &Path, e: std::io::Error) -> Failure {
    Failure::new(
        Exit::Failed,
        format!("error: cannot {what} {}: {e}", path.display()),
    )
}

fn export(remote: &Remote, project: &str, release: &str, out: &Path) -> Result<(), Failure> {
    let client = remote.client();
    let response = client.answer(
        client
            .raw(
                "GET",
                &format!(
                    "/api/v1/projects/{}/releases/{}/evidence",
                    encode(project),
                    encode(release)
                ),
            )
            .call(),
    )?;
    let mut bytes = Vec::new();
    response
        .into_reader()
        .take(MAX_BUNDLE)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            Failure::new(
                Exit::Failed,
                format!("error: the bundle's download was cut ({e}); nothing was written"),
            )
        })?;
    // Check what arrived before keeping it: a damaged download must not pass for evidence.
    let report = evidence::verify(&bytes, None);
    if !report.ok() {
        return Err(Failure::new(
            Exit::Failed,
            format!(
                "error: the bundle received does not verify; nothing was written\n{}",
                problem_lines(&report)
            ),
        ));
    }
    let mut part = out.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);
    std::fs::write(&part, &bytes).map_err(|e| io_failure("write", &part, e))?;
    std::fs::rename(&part, out).map_err(|e| io_failure("write", out, e))?;
    let fingerprint = report
        .manifest
        .as_ref()
        .map(|m| m.server.key_fingerprint.clone())
        .unwrap_or_default();
    show(
        remote,
        &json!({ "out": out, "bytes": bytes.len(), "key_fingerprint": fingerprint }),
        |_| {
            println!(
                "wrote {} ({} bytes): evidence of release {release} of {project}, signed by evidence key {fingerprint}",
                out.display(),
                bytes.len()
            );
            println!(
                "check it anywhere with `slipway evidence verify {}`",
                out.display()
            );
        },
    );
    Ok(())
}

fn problem_lines(report: &Report) -> String {
    report
        .problems
        .iter()
        .map(|p| format!("  {}: {}", p.place, p.problem))
        .collect::<Vec<_>>()
        .join("\n")
}

fn verify(args: VerifyArgs) -> Result<(), Failure> {
    let trusted = match &args.key_fingerprint {
        None => None,
        Some(text) => Some(evidence::parse_fingerprint(text).ok_or_else(|| {
            Failure::new(
                Exit::Invalid,
                format!("error: --key-fingerprint {text} is not a fingerprint\n  hint: give it as printed by `slipway evidence key`: sha256: followed by 64 hexadecimal characters"),
            )
        })?),
    };
    let path = &args.file;
    let size = std::fs::metadata(path)
        .map_err(|e| {
            Failure::new(
                Exit::Invalid,
                format!("error: cannot read {}: {e}", path.display()),
            )
        })?
        .len();
    if size > MAX_BUNDLE {
        return Err(Failure::new(
            Exit::Invalid,
            format!("error: {} is {size} bytes, more than any evidence bundle this verifier reads ({MAX_BUNDLE})", path.display()),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        Failure::new(
            Exit::Invalid,
            format!("error: cannot read {}: {e}", path.display()),
        )
    })?;
    let report = evidence::verify(&bytes, trusted.as_deref());
    let fingerprint = report
        .manifest
        .as_ref()
        .map(|m| m.server.key_fingerprint.clone());
    if args.output == Format::Json {
        output::json(&json!({
            "ok": report.ok(),
            "file": path,
            "problems": report.problems,
            "manifest": report.manifest,
            "key_fingerprint": fingerprint,
            "fingerprint_checked": report.fingerprint_checked,
            "audit_events": report.audit_events,
            "audit_links": report.audit_links,
        }));
    }
    if !report.ok() {
        return Err(Failure::new(
            Exit::Failed,
            format!(
                "evidence bundle {} FAILED verification: {} problem(s)\n{}",
                path.display(),
                report.problems.len(),
                problem_lines(&report)
            ),
        ));
    }
    if args.output == Format::Human {
        let m = report
            .manifest
            .as_ref()
            .expect("a bundle without problems has a readable manifest");
        println!(
            "evidence bundle {} OK: release {} of {}, exported {} by {}",
            path.display(),
            m.release,
            m.project,
            m.exported_at,
            m.exported_by
        );
        println!(
            "  files: {} listed in the signed manifest, every SHA-256 matches; SHA256SUMS agrees",
            m.files.len()
        );
        println!(
            "  audit: {} events in full and {} links recompute and chain without a gap up to event {} ({})",
            report.audit_events, report.audit_links, m.audit_head.seq, m.audit_head.hash
        );
        if report.fingerprint_checked {
            println!(
                "  signature: valid, by evidence key {} (the fingerprint you gave)",
                m.server.key_fingerprint
            );
        } else {
            println!(
                "  signature: valid, by the evidence key the bundle carries, {}\n  compare that fingerprint with the one the server shows (`slipway evidence key`, the console, or GET /api/v1/evidence/key), or pass --key-fingerprint",
                m.server.key_fingerprint
            );
        }
    }
    Ok(())
}
