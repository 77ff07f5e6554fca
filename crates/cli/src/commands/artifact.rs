//! `artifact …`: push, list, show and download artifacts of the release vault. A download is
//! verified against its digest before it is kept; it never leaves an unverified file behind.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::json;
use sha2::Digest as _;
use slipway_api::vault::{ArtifactView, DigestLookup, PushOutcome, Pushed, VaultSettingsView};
use slipway_api::Page;
use slipway_core::release::{ArtifactVersion, Provenance, SignatureState};
use slipway_core::signing::{artifact_payload, SigningKey};
use slipway_core::{Name, Sha256};

use crate::client::{encode, Client};
use crate::error::{invalid, Exit, Failure};
use crate::output::{show, table};
use crate::paging::{self, PageFlags};
use crate::remote::Remote;

use super::transfer::{
    hash_file, local_io, read_json, write_behind, CountingReader, HashingReader,
};

#[derive(Subcommand)]
pub enum ArtifactCommand {
    /// Push a build into the vault: streamed, hashed, stored once, immutable.
    #[command(
        after_help = "Examples:\n  slipway artifact push target/pets.war --project pets --component pets-war --version 1.4.0 \\\n      --commit $CI_COMMIT_SHA --branch main --pipeline-url $CI_PIPELINE_URL --builder gitlab-ci \\\n      --meta ticket=PETS-42 --sign-key ci.key\n\nThe same file again is a no-op; other bytes under the same version are refused (exit 6)."
    )]
    Push(Box<PushArgs>),
    /// List a project's artifacts, newest first, one page at a time (or every page with --all).
    #[command(
        after_help = "Examples:\n  slipway artifact list --project pets\n  slipway artifact list --project pets --all -o json"
    )]
    List {
        #[arg(long)]
        project: String,
        #[command(flatten)]
        page: PageFlags,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show everything the vault knows about a digest: artifacts, provenance, signatures, releases.
    #[command(after_help = "Example:\n  slipway artifact show 9f86d081884c7d65…(64 hex)")]
    Show {
        digest: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Download content by digest, verified on both ends.
    #[command(after_help = "Example:\n  slipway artifact download 9f86d0…(64 hex) --out pets.war")]
    Download {
        digest: String,
        /// Where to write it (written to OUT.part, renamed once the digest matched).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Args)]
pub struct PushArgs {
    /// The file to push.
    file: PathBuf,
    #[arg(long)]
    project: String,
    #[arg(long)]
    component: String,
    /// The artifact's version (e.g. 1.4.0, 1.4.0-b17).
    #[arg(long)]
    version: String,
    /// The commit it was built from.
    #[arg(long)]
    commit: Option<String>,
    #[arg(long)]
    branch: Option<String>,
    /// A link to the CI pipeline that built it.
    #[arg(long)]
    pipeline_url: Option<String>,
    /// Who or what built it (CI runner, image).
    #[arg(long)]
    builder: Option<String>,
    /// Free provenance, repeatable: --meta ticket=PETS-42 --meta jdk=17.
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    meta: Vec<String>,
    /// Sign digest and provenance with this key file (from `slipway key generate`).
    #[arg(long)]
    sign_key: Option<PathBuf>,
    /// The SHA-256 you expect; the server refuses (and keeps nothing) when the bytes differ.
    #[arg(long)]
    sha256: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

pub(crate) fn artifact(command: ArtifactCommand) -> Result<(), Failure> {
    match command {
        ArtifactCommand::Push(args) => push(*args),
        ArtifactCommand::List {
            project,
            page,
            remote,
        } => {
            let list: Page<ArtifactView> = paging::read(
                &remote.client(),
                &format!("/api/v1/projects/{}/artifacts", encode(&project)),
                &page,
            )?;
            show(&remote, &list, |l| {
                let rows: Vec<Vec<String>> = l
                    .items
                    .iter()
                    .map(|a| {
                        vec![
                            a.component.to_string(),
                            a.version.to_string(),
                            a.digest.to_string(),
                            a.size.to_string(),
                            status(&a.signature_state).to_string(),
                            a.pushed_by.clone(),
                            a.pushed_at.clone(),
                            if a.purged_at.is_none() { "" } else { "purged" }.to_string(),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "COMPONENT",
                        "VERSION",
                        "SHA256",
                        "SIZE",
                        "SIGNATURE",
                        "PUSHED BY",
                        "AT",
                        "",
                    ],
                    &rows,
                );
                let verb = format!("slipway artifact list --project {project}");
                if let Some(hint) = paging::more_hint(l.next.as_deref(), &verb) {
                    eprintln!("{hint}");
                }
            });
            Ok(())
        }
        ArtifactCommand::Show { digest, remote } => {
            let found: DigestLookup = remote
                .client()
                .get(&format!("/api/v1/artifacts/{}", encode(&digest)))?;
            show(&remote, &found, print_lookup);
            Ok(())
        }
        ArtifactCommand::Download {
            digest,
            out,
            remote,
        } => download(&remote, &digest, &out),
    }
}

fn print_lookup(v: &DigestLookup) {
    println!("sha256 {}", v.digest);
    println!(
        "bytes  {}",
        if v.stored {
            "in the vault"
        } else {
            "removed by retention"
        }
    );
    for detail in &v.artifacts {
        let a = &detail.artifact;
        println!(
            "\n{}/{} {}  ({} bytes, pushed by {} at {})",
            a.project, a.component, a.version, a.size, a.pushed_by, a.pushed_at
        );
        let p = &a.provenance;
        for (k, value) in [
            ("commit", &p.commit),
            ("branch", &p.branch),
            ("pipeline_url", &p.pipeline_url),
            ("builder", &p.builder),
        ] {
            if let Some(value) = value {
                println!("  {k:<13}{value}");
            }
        }
        for (k, value) in &p.meta {
            println!("  meta {k:<8}{value}");
        }
        println!("  signature    {}", describe_signature(&a.signature_state));
        println!(
            "  verified now {}",
            describe_signature(&detail.signature_now)
        );
    }
    if !v.releases.is_empty() {
        println!("\nin releases: {}", v.releases.join(", "));
    }
}

/// A signature state's `status`, as the list shows it.
fn status(state: &SignatureState) -> &'static str {
    match state {
        SignatureState::Valid { .. } => "valid",
        SignatureState::Invalid { .. } => "invalid",
        SignatureState::Unsigned => "unsigned",
    }
}

/// A signature state in words: the key that verifies it, or why none does.
pub(crate) fn describe_signature(state: &SignatureState) -> String {
    match state {
        SignatureState::Valid { key } => format!("valid (key {key})"),
        SignatureState::Invalid { detail } => format!("INVALID: {detail}"),
        SignatureState::Unsigned => "unsigned".to_string(),
    }
}

pub(crate) fn push(args: PushArgs) -> Result<(), Failure> {
    let project =
        Name::parse(&args.project).map_err(|e| invalid(format!("error: --project: {e}")))?;
    let component =
        Name::parse(&args.component).map_err(|e| invalid(format!("error: --component: {e}")))?;
    let version = ArtifactVersion::parse(&args.version)
        .map_err(|e| invalid(format!("error: --version: {e}")))?;
    let provenance = provenance(&args)?;
    let size = std::fs::metadata(&args.file)
        .map_err(|e| local_io("read", &args.file, e))?
        .len();
    let client = args.remote.client();
    refuse_over_limit(&client, &args.file, size)?;
    let declared = match &args.sha256 {
        Some(hex) => {
            Some(Sha256::parse(hex).map_err(|e| invalid(format!("error: --sha256: {e}")))?)
        }
        // Signing needs the digest before the upload: one extra read of the file.
        None if args.sign_key.is_some() => Some(hash_file(&args.file)?),
        None => None,
    };
    let signature = match &args.sign_key {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| local_io("read", path, e))?;
            let key = SigningKey::from_file_text(&text)
                .map_err(|e| invalid(format!("error: {}: {e}", path.display())))?;
            let digest = declared.expect("the digest is computed when signing");
            Some(key.sign(&artifact_payload(
                &project,
                &component,
                &version,
                &digest,
                size,
                &provenance,
            )))
        }
        None => None,
    };

    let path = upload_path(&project, &component, &version, &provenance);
    let mut headers = vec![("Content-Type", "application/octet-stream".to_string())];
    if let Some(d) = declared {
        headers.push(("X-Slipway-Sha256", d.to_hex()));
    }
    if let Some(s) = &signature {
        headers.push(("X-Slipway-Signature", s.clone()));
    }
    let file = File::open(&args.file).map_err(|e| local_io("open", &args.file, e))?;
    let mut sent = CountingReader::new(file);
    let response = client
        .send_body("POST", &path, &headers, &mut sent, size)
        .map_err(|mut f| {
            if f.exit == Exit::Unreachable {
                f.message.push_str("\n  hint: if the server was reachable, it may have refused the upload before reading it all (larger than its limit, or a version that exists with other content): see `slipway artifact list`");
            }
            f
        })?;
    let pushed: Pushed = read_json(response)?;
    check_received(
        &args.file,
        &pushed,
        sent.size,
        sent.crc.finalize(),
        declared,
    )?;
    show(&args.remote, &pushed, describe_push);
    Ok(())
}

/// Prove the server stored exactly the bytes read from `file`: the server hashed what it
/// received (the artifact's digest names those bytes) and answers their size and CRC-32, which
/// must be those of what was sent. A declared digest was checked by the server already; it must
/// be the one recorded. A server too old to answer a CRC-32 is checked the slow way: the file is
/// hashed again.
fn check_received(
    file: &Path,
    pushed: &Pushed,
    sent_size: u64,
    sent_crc32: u32,
    declared: Option<Sha256>,
) -> Result<(), Failure> {
    let stored = pushed.artifact.digest;
    let differs = |what: String| {
        Failure::new(
            Exit::Failed,
            format!("error: the server recorded sha256 {stored}, but {what}\n  hint: the file changed while it was sent, or the bytes were damaged on their way; push it again under a new version"),
        )
    };
    if declared.is_some_and(|d| d != stored) {
        return Err(differs(format!(
            "the digest declared was {}",
            declared.expect("checked just above")
        )));
    }
    if pushed.artifact.size != sent_size {
        return Err(differs(format!(
            "{sent_size} bytes were sent and the artifact has {}",
            pushed.artifact.size
        )));
    }
    match pushed.received_crc32 {
        Some(received) if received != sent_crc32 => Err(differs(format!(
            "the bytes it received have CRC-32 {received:08x} and those sent {sent_crc32:08x}"
        ))),
        Some(_) => Ok(()),
        None if declared.is_some() => Ok(()),
        None => {
            let now = hash_file(file)?;
            if now == stored {
                Ok(())
            } else {
                Err(differs(format!("{} hashes to {now}", file.display())))
            }
        }
    }
}

/// The provenance flags of a push, checked.
fn provenance(args: &PushArgs) -> Result<Provenance, Failure> {
    let mut provenance = Provenance {
        commit: args.commit.clone(),
        branch: args.branch.clone(),
        pipeline_url: args.pipeline_url.clone(),
        builder: args.builder.clone(),
        meta: Default::default(),
    };
    for m in &args.meta {
        let (k, v) = m.split_once('=').ok_or_else(|| {
            invalid(format!(
                "error: --meta {m}: expected KEY=VALUE (e.g. --meta ticket=PETS-42)"
            ))
        })?;
        provenance.meta.insert(k.to_string(), v.to_string());
    }
    provenance
        .check()
        .map_err(|e| invalid(format!("error: {e}")))?;
    Ok(provenance)
}

/// A server refuses an upload over its limit before reading it, and a client still sending
/// then only sees the connection close: ask first, and say it plainly.
fn refuse_over_limit(client: &Client, file: &Path, size: u64) -> Result<(), Failure> {
    let limit = client
        .get::<VaultSettingsView>("/api/v1/vault")?
        .max_artifact_bytes;
    if size > limit {
        return Err(invalid(format!(
            "error: {} is {size} bytes; this server accepts artifacts up to {limit} bytes\n  hint: nothing was sent; an administrator raises the limit with SLIPWAY_MAX_ARTIFACT_SIZE (e.g. 16G)",
            file.display()
        )));
    }
    Ok(())
}

/// The upload route, with the provenance as query parameters.
fn upload_path(
    project: &Name,
    component: &Name,
    version: &ArtifactVersion,
    provenance: &Provenance,
) -> String {
    let mut query = Vec::new();
    for (k, v) in [
        ("commit", &provenance.commit),
        ("branch", &provenance.branch),
        ("pipeline_url", &provenance.pipeline_url),
        ("builder", &provenance.builder),
    ] {
        if let Some(v) = v {
            query.push(format!("{k}={}", encode(v)));
        }
    }
    for (k, v) in &provenance.meta {
        query.push(format!("meta={}", encode(&format!("{k}={v}"))));
    }
    format!(
        "/api/v1/projects/{}/components/{}/artifacts/{}{}",
        encode(project.as_str()),
        encode(component.as_str()),
        encode(version.as_str()),
        if query.is_empty() {
            String::new()
        } else {
            format!("?{}", query.join("&"))
        }
    )
}

fn describe_push(p: &Pushed) {
    let a = &p.artifact;
    let what = match p.outcome {
        PushOutcome::Stored => "stored",
        PushOutcome::Deduplicated => "stored (content already in the vault, no second copy)",
        PushOutcome::AlreadyStored => "already stored: nothing changed",
        PushOutcome::Restored => "restored (its bytes had been removed by retention)",
    };
    println!(
        "{}/{} {} {what}\n  sha256    {}\n  size      {} bytes\n  signature {}",
        a.project,
        a.component,
        a.version,
        a.digest,
        a.size,
        describe_signature(&a.signature_state)
    );
}

pub(crate) fn download(remote: &Remote, digest: &str, out: &Path) -> Result<(), Failure> {
    let expected = Sha256::parse(digest).map_err(|e| invalid(format!("error: {e}")))?;
    let client = remote.client();
    let response = client.answer(
        client
            .raw("GET", &format!("/api/v1/blobs/{}", expected.to_hex()))
            .call(),
    )?;
    let announced = response
        .header("x-slipway-sha256")
        .unwrap_or("")
        .to_string();
    let mut part = out.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);
    let result = (|| -> Result<Sha256, Failure> {
        let file = File::create(&part).map_err(|e| local_io("create", &part, e))?;
        let mut reader = HashingReader {
            inner: response.into_reader(),
            hasher: sha2::Sha256::new(),
        };
        let received = write_behind(&mut reader, file);
        let cut = |e: io::Error| {
            Failure::new(
                Exit::Failed,
                format!("error: the download of {expected} was cut before its end ({e}); nothing was written to {}\n  hint: the connection or the server's disk failed mid-transfer; try again, and if it goes on, ask an operator to run `slipway vault verify`", out.display()),
            )
        };
        match received {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(local_io("write", &part, e)),
            Err(e) => return Err(cut(e)),
        }
        Ok(Sha256::from_bytes(reader.hasher.finalize().into()))
    })();
    let got = match result {
        Ok(d) => d,
        Err(f) => {
            let _ = std::fs::remove_file(&part);
            return Err(f);
        }
    };
    if got != expected || announced != expected.to_hex() {
        let _ = std::fs::remove_file(&part);
        return Err(Failure::new(
            Exit::Failed,
            format!("error: the bytes received hash to {got}, not {expected}; nothing was written to {}", out.display()),
        ));
    }
    std::fs::rename(&part, out).map_err(|e| local_io("write", out, e))?;
    show(remote, &json!({ "digest": expected, "out": out }), |_| {
        println!(
            "downloaded {expected} to {} (digest verified)",
            out.display()
        )
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pushed(content: &[u8], received_crc32: Option<u32>) -> Pushed {
        serde_json::from_value(json!({
            "outcome": "stored",
            "artifact": {
                "project": "pets", "component": "pets-war", "version": "1.0.0",
                "digest": Sha256::of(content).to_hex(), "size": content.len(),
                "provenance": {}, "signature": null, "signature_state": {"status": "unsigned"},
                "pushed_by": "ci", "pushed_at": "2026-12-01T16:00:00Z", "purged_at": null,
            },
            "received_crc32": received_crc32,
        }))
        .expect("a push's answer")
    }

    #[test]
    fn a_push_is_proven_by_the_size_and_crc32_the_server_received() {
        let sent = b"the bytes read from the file";
        let crc = crc32fast::hash(sent);
        let nowhere = Path::new("/nonexistent/never-read");
        let size = sent.len() as u64;
        check_received(nowhere, &pushed(sent, Some(crc)), size, crc, None).unwrap();
        let damaged = check_received(nowhere, &pushed(sent, Some(crc ^ 1)), size, crc, None)
            .unwrap_err()
            .message;
        assert!(damaged.contains("CRC-32"), "{damaged}");
        let cut = check_received(nowhere, &pushed(sent, Some(crc)), size + 1, crc, None)
            .unwrap_err()
            .message;
        assert!(cut.contains("bytes were sent"), "{cut}");
        let other = Sha256::of(b"what the user declared");
        let declared = check_received(nowhere, &pushed(sent, Some(crc)), size, crc, Some(other))
            .unwrap_err()
            .message;
        assert!(declared.contains("declared"), "{declared}");
    }

    #[test]
    fn without_a_crc32_from_the_server_the_file_is_hashed_again() {
        let dir = std::env::temp_dir().join(format!("slipway-cli-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("artifact.bin");
        std::fs::write(&file, b"content").unwrap();
        let crc = crc32fast::hash(b"content");
        check_received(&file, &pushed(b"content", None), 7, crc, None).unwrap();
        let changed = check_received(&file, &pushed(b"CONTENT", None), 7, crc, None)
            .unwrap_err()
            .message;
        assert!(changed.contains("hashes to"), "{changed}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
