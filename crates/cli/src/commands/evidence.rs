//! Evidence bundles: export a release's bundle from the server, show the server's evidence key,
//! and verify a bundle offline (no server, no network: `slipway_core::evidence::verify`). It
//! never trusts a bundle's own claim of who signed it.

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::json;
use slipway_api::evidence::KeyView;
use slipway_core::evidence::proof::ChainEvidence;
use slipway_core::evidence::{self, Origin, Report};

use crate::client::encode;
use crate::error::{Exit, Failure};
use crate::output::{self, show, Format};
use crate::remote::Remote;

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
    /// chain (integrity), and whether a key you trust signed it (origin). Exit 0 when both hold,
    /// 1 when anything was altered, 9 when intact but not signed by a key you trust.
    #[command(
        after_help = "Examples:\n  slipway evidence verify pets-1.4.0-evidence.tar --key-fingerprint sha256:3f1c…\n  slipway evidence verify pets-1.4.0-evidence.tar --trust trusted-evidence-keys.txt -o json"
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
    /// the console). Without it or `--trust`, only integrity is checked: anyone can re-sign a
    /// bundle with a key of their own, so its origin is not established (exit 9).
    #[arg(long)]
    key_fingerprint: Option<String>,
    /// A file of trusted evidence-key fingerprints, one per line (`#` comments allowed); it may
    /// also list the fingerprint of the audit checkpoint key.
    #[arg(long, env = "SLIPWAY_EVIDENCE_TRUST")]
    trust: Option<PathBuf>,
    /// The fingerprint of the audit checkpoint key you trust (the server prints it at start;
    /// also `GET /api/v1/audit/checkpoints/key`): the bundle's audit events must then be proven
    /// included in a checkpoint signed by it (exit 9 when not).
    #[arg(long)]
    checkpoint_key_fingerprint: Option<String>,
    /// Output for people (human) or for scripts (json).
    #[arg(long, short = 'o', value_enum, default_value = "human")]
    output: Format,
}

pub(crate) fn evidence(command: EvidenceCommand) -> Result<(), Failure> {
    match command {
        EvidenceCommand::Export {
            project,
            release,
            out,
            remote,
        } => export(&remote, &project, &release, &out),
        EvidenceCommand::Verify(args) => verify(args),
        EvidenceCommand::Key { remote } => {
            let key = remote.client().get::<KeyView>("/api/v1/evidence/key")?;
            show(&remote, &key, |k| {
                println!("fingerprint {}", k.fingerprint);
                println!("public key  {}", k.public_key);
                println!("(bundles carry this key in evidence-key.pub; `slipway evidence verify FILE --key-fingerprint {}` checks a bundle was signed by it)", k.fingerprint);
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

pub(crate) fn export(
    remote: &Remote,
    project: &str,
    release: &str,
    out: &Path,
) -> Result<(), Failure> {
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
    let report = evidence::verify(&bytes, &[]);
    if !report.intact() {
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

/// The checkpoint-key fingerprints the reader trusts: `--checkpoint-key-fingerprint`, and what
/// the trust file lists.
fn trusted_checkpoint_keys(args: &VerifyArgs, listed: &[String]) -> Result<Vec<String>, Failure> {
    let mut trusted = listed.to_vec();
    if let Some(text) = &args.checkpoint_key_fingerprint {
        trusted.push(evidence::parse_fingerprint(text).ok_or_else(|| {
            Failure::new(
                Exit::Invalid,
                format!("error: --checkpoint-key-fingerprint {text} is not a fingerprint\n  hint: give it as the server printed it at start: sha256: followed by 64 hexadecimal characters"),
            )
        })?);
    }
    Ok(trusted)
}

/// The fingerprints the reader trusts, from `--key-fingerprint` and `--trust`.
fn trusted_fingerprints(args: &VerifyArgs) -> Result<Vec<String>, Failure> {
    let mut trusted = Vec::new();
    if let Some(text) = &args.key_fingerprint {
        trusted.push(evidence::parse_fingerprint(text).ok_or_else(|| {
            Failure::new(
                Exit::Invalid,
                format!("error: --key-fingerprint {text} is not a fingerprint\n  hint: give it as printed by `slipway evidence key`: sha256: followed by 64 hexadecimal characters"),
            )
        })?);
    }
    if let Some(path) = &args.trust {
        let text =
            std::fs::read_to_string(path).map_err(|e| io_failure("the trust file", path, e))?;
        let mut listed = evidence::parse_trust_file(&text).map_err(|e| {
            Failure::new(
                Exit::Invalid,
                format!("error: trust file {}: {e}\n  hint: list one fingerprint per line, as `slipway evidence key` prints it", path.display()),
            )
        })?;
        if listed.is_empty() {
            return Err(Failure::new(
                Exit::Invalid,
                format!("error: trust file {} lists no fingerprint\n  hint: add the fingerprint `slipway evidence key` prints on the server", path.display()),
            ));
        }
        trusted.append(&mut listed);
    }
    Ok(trusted)
}

fn read_bundle(path: &Path) -> Result<Vec<u8>, Failure> {
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
    std::fs::read(path).map_err(|e| {
        Failure::new(
            Exit::Invalid,
            format!("error: cannot read {}: {e}", path.display()),
        )
    })
}

pub(crate) fn verify(args: VerifyArgs) -> Result<(), Failure> {
    let trusted = trusted_fingerprints(&args)?;
    // The trust file's fingerprints count for either key; each flag for its own.
    let from_file = match &args.key_fingerprint {
        Some(_) => &trusted[1..],
        None => &trusted[..],
    };
    let checkpoint_keys = trusted_checkpoint_keys(&args, from_file)?;
    let path = &args.file;
    let report = evidence::verify_trusting(&read_bundle(path)?, &trusted, &checkpoint_keys);
    if args.output == Format::Json {
        output::json(&json!({
            "ok": report.ok(),
            "intact": report.intact(),
            "origin": report.origin,
            "file": path,
            "problems": report.problems,
            "manifest": report.manifest,
            "audit_events": report.audit_events,
            "audit_links": report.audit_links,
            "audit_chain": report.audit_chain,
            "signatures": report.signatures,
            "checkpoint": report.checkpoint,
        }));
    }
    if !report.intact() {
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
    let m = report
        .manifest
        .as_ref()
        .expect("an intact bundle has a readable manifest");
    if args.output == Format::Human {
        print_integrity(path, m, &report);
    }
    if args.checkpoint_key_fingerprint.is_some() {
        checkpoint_trusted(path, &report)?;
    }
    match &report.origin {
        Origin::Trusted { fingerprint } => {
            if args.output == Format::Human {
                println!("  origin: signed by evidence key {fingerprint}, which you trust");
            }
            Ok(())
        }
        Origin::Untrusted { fingerprint } => Err(Failure::new(
            Exit::OriginNotTrusted,
            format!(
                "evidence bundle {} is intact but NOT signed by a key you trust: it was signed by {fingerprint}\n  hint: a bundle rewritten and re-signed by someone else looks like this; if the server's evidence key was replaced on purpose, compare {fingerprint} with `slipway evidence key` and trust it",
                path.display()
            ),
        )),
        Origin::NotEstablished { fingerprint } => Err(Failure::new(
            Exit::OriginNotTrusted,
            format!(
                "evidence bundle {} is intact, but its origin is NOT established: it is signed by the key it carries, {fingerprint}, and anyone can re-sign a bundle with a key of their own\n  hint: compare that fingerprint with the server's (`slipway evidence key`, the console, or GET /api/v1/evidence/key) and pass it with --key-fingerprint, or list it in a --trust file",
                path.display()
            ),
        )),
        // An unreadable key is itself a problem, so an intact bundle never ends here.
        Origin::Unknown => Err(Failure::new(
            Exit::Failed,
            format!("evidence bundle {}: its key cannot be read", path.display()),
        )),
    }
}

/// With --checkpoint-key-fingerprint, the bundle's events must be proven against a checkpoint
/// signed by that key.
fn checkpoint_trusted(path: &Path, report: &Report) -> Result<(), Failure> {
    match report.checkpoint.as_ref().map(|c| &c.origin) {
        Some(Origin::Trusted { .. }) => Ok(()),
        Some(Origin::Untrusted { fingerprint } | Origin::NotEstablished { fingerprint }) => {
            Err(Failure::new(
                Exit::OriginNotTrusted,
                format!(
                    "evidence bundle {}: its audit events are proven against a checkpoint signed by {fingerprint}, NOT the checkpoint key you trust\n  hint: a database rewritten together with its checkpoint key looks like this; compare with the fingerprint the server printed at start",
                    path.display()
                ),
            ))
        }
        Some(Origin::Unknown) | None => Err(Failure::new(
            Exit::OriginNotTrusted,
            format!(
                "evidence bundle {} carries no inclusion proofs of its audit events, so the checkpoint key you named proves nothing about them\n  hint: export it again from a server that signs audit checkpoints (`slipway server`)",
                path.display()
            ),
        )),
    }
}

/// What an intact bundle holds, for people.
fn print_integrity(path: &Path, m: &evidence::Manifest, report: &Report) {
    println!(
        "evidence bundle {}: intact: release {} of {}, exported {} by {}",
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
    match report.audit_chain {
        ChainEvidence::Links => println!(
            "  audit: {} events in full and {} links recompute and chain without a gap up to event {} ({})",
            report.audit_events, report.audit_links, m.audit_head.seq, m.audit_head.hash
        ),
        ChainEvidence::Checkpoint => println!(
            "  audit: {} events in full recompute and chain where adjacent; no links: they and the head, event {} ({}), rest on the inclusion proofs below",
            report.audit_events, m.audit_head.seq, m.audit_head.hash
        ),
    }
    if let Some(c) = &report.checkpoint {
        let whose = match &c.origin {
            Origin::Trusted { fingerprint } => format!("checkpoint key {fingerprint}, which you trust"),
            Origin::Untrusted { fingerprint } => {
                format!("checkpoint key {fingerprint}, which is not among the keys you trust")
            }
            Origin::NotEstablished { fingerprint } => format!(
                "checkpoint key {fingerprint} (pass --checkpoint-key-fingerprint to check it is the server's)"
            ),
            Origin::Unknown => "an unreadable checkpoint key".into(),
        };
        let head = if c.head_proven { " and the head" } else { "" };
        println!(
            "  checkpoint: {} events{head} proven included in the audit log's checkpoint of size {} (root {}, signed {}) by {whose}",
            c.proven, c.size, c.root, c.signed_at
        );
    }
    if !report.signatures.is_empty() {
        println!(
            "  signatures: {} electronic signature(s) verify with the evidence key, each bound to its record's SHA-256:",
            report.signatures.len()
        );
        for s in &report.signatures {
            println!("    {s}");
        }
    }
}
