//! Client verbs of the release vault: artifacts (push, list, show, download), signing keys,
//! vault maintenance (verify, gc, retention) and releases.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use sha2::Digest as _;
use slipway_core::release::{ArtifactVersion, Provenance};
use slipway_core::signing::{artifact_payload, SigningKey};
use slipway_core::{Name, Sha256};

use crate::client::{encode, Exit, Failure};
use crate::output::{self, cell, items, show, table, Format};
use crate::Remote;

fn invalid(message: impl Into<String>) -> Failure {
    Failure::new(Exit::Invalid, message)
}

fn local_io(what: &str, path: &Path, e: io::Error) -> Failure {
    Failure::new(
        Exit::Failed,
        format!("error: cannot {what} {}: {e}", path.display()),
    )
}

fn read_json(response: ureq::Response) -> Result<Value, Failure> {
    let text = response.into_string().map_err(|e| {
        Failure::new(
            Exit::Failed,
            format!("error: reading the server's answer: {e}"),
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        Failure::new(
            Exit::Failed,
            format!("error: the server answered something that is not JSON: {e}"),
        )
    })
}

/// Hashes whatever passes through it: the file is hashed while it is sent, in one read.
struct HashingReader<R> {
    inner: R,
    hasher: sha2::Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// `io::copy` with a 1 MiB buffer: far fewer system calls than its 8 KiB on gigabytes.
fn copy_large(reader: &mut impl Read, writer: &mut impl Write) -> io::Result<u64> {
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        writer.write_all(&buffer[..n])?;
        total += n as u64;
    }
}

/// Read (and hash, through `reader`) on this thread while another writes and fsyncs `file`:
/// hashing and disk writes overlap. `Err` is a read failure, `Ok(Err)` a write failure.
fn write_behind(reader: &mut impl Read, file: File) -> io::Result<io::Result<()>> {
    let (send, receive) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
    let writer = std::thread::spawn(move || -> io::Result<()> {
        let mut file = file;
        for chunk in receive {
            file.write_all(&chunk)?;
        }
        file.sync_all()
    });
    let read = (|| -> io::Result<()> {
        loop {
            // Network reads come in small pieces: fill a whole buffer before handing it over.
            let mut buffer = vec![0u8; 1 << 20];
            let mut filled = 0;
            while filled < buffer.len() {
                match reader.read(&mut buffer[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if filled == 0 {
                return Ok(());
            }
            buffer.truncate(filled);
            if send.send(buffer).is_err() {
                // The writer stopped: its error is the one to report.
                return Ok(());
            }
        }
    })();
    drop(send);
    let written = writer
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the writer thread panicked")));
    read.map(|()| written)
}

fn hash_file(path: &Path) -> Result<Sha256, Failure> {
    let file = File::open(path).map_err(|e| local_io("open", path, e))?;
    let mut reader = HashingReader {
        inner: BufReader::with_capacity(1 << 20, file),
        hasher: sha2::Sha256::new(),
    };
    copy_large(&mut reader, &mut io::sink()).map_err(|e| local_io("read", path, e))?;
    Ok(Sha256::from_bytes(reader.hasher.finalize().into()))
}

// ---------------------------------------------------------------------------------------------
// artifact

#[derive(Subcommand)]
pub enum ArtifactCommand {
    /// Push a build into the vault: streamed, hashed, stored once, immutable.
    #[command(
        after_help = "Examples:\n  slipway artifact push target/pets.war --project pets --component pets-war --version 1.4.0 \\\n      --commit $CI_COMMIT_SHA --branch main --pipeline-url $CI_PIPELINE_URL --builder gitlab-ci \\\n      --meta ticket=PETS-42 --sign-key ci.key\n\nThe same file again is a no-op; other bytes under the same version are refused (exit 6)."
    )]
    Push(Box<PushArgs>),
    /// List a project's artifacts, newest first.
    #[command(after_help = "Example:\n  slipway artifact list --project pets")]
    List {
        #[arg(long)]
        project: String,
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

pub fn artifact(command: ArtifactCommand) -> Result<(), Failure> {
    match command {
        ArtifactCommand::Push(args) => push(*args),
        ArtifactCommand::List { project, remote } => {
            let list = remote
                .client()
                .get(&format!("/api/v1/projects/{}/artifacts", encode(&project)))?;
            show(&remote, &list, |l| {
                let rows: Vec<Vec<String>> = items(l)
                    .iter()
                    .map(|a| {
                        vec![
                            cell(&a["component"]),
                            cell(&a["version"]),
                            cell(&a["digest"]),
                            cell(&a["size"]),
                            cell(&a["signature_state"]["status"]),
                            cell(&a["pushed_by"]),
                            cell(&a["pushed_at"]),
                            if a["purged_at"].is_null() {
                                ""
                            } else {
                                "purged"
                            }
                            .to_string(),
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
            });
            Ok(())
        }
        ArtifactCommand::Show { digest, remote } => {
            let found = remote
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

fn print_lookup(v: &Value) {
    println!("sha256 {}", cell(&v["digest"]));
    println!(
        "bytes  {}",
        if v["stored"] == true {
            "in the vault"
        } else {
            "removed by retention"
        }
    );
    for a in v["artifacts"].as_array().into_iter().flatten() {
        println!(
            "\n{}/{} {}  ({} bytes, pushed by {} at {})",
            cell(&a["project"]),
            cell(&a["component"]),
            cell(&a["version"]),
            cell(&a["size"]),
            cell(&a["pushed_by"]),
            cell(&a["pushed_at"])
        );
        let p = &a["provenance"];
        for k in ["commit", "branch", "pipeline_url", "builder"] {
            if !p[k].is_null() {
                println!("  {k:<13}{}", cell(&p[k]));
            }
        }
        for (k, val) in p["meta"].as_object().into_iter().flatten() {
            println!("  meta {k:<8}{}", cell(val));
        }
        println!("  signature    {}", describe(&a["signature_state"]));
        println!("  verified now {}", describe(&a["signature_now"]));
    }
    let releases: Vec<String> = v["releases"]
        .as_array()
        .into_iter()
        .flatten()
        .map(cell)
        .collect();
    if !releases.is_empty() {
        println!("\nin releases: {}", releases.join(", "));
    }
}

fn describe(state: &Value) -> String {
    match state["status"].as_str() {
        Some("valid") => format!("valid (key {})", cell(&state["key"])),
        Some("invalid") => format!("INVALID: {}", cell(&state["detail"])),
        Some(other) => other.to_string(),
        None => "-".into(),
    }
}

fn push(args: PushArgs) -> Result<(), Failure> {
    let project =
        Name::parse(&args.project).map_err(|e| invalid(format!("error: --project: {e}")))?;
    let component =
        Name::parse(&args.component).map_err(|e| invalid(format!("error: --component: {e}")))?;
    let version = ArtifactVersion::parse(&args.version)
        .map_err(|e| invalid(format!("error: --version: {e}")))?;
    let mut provenance = Provenance {
        commit: args.commit,
        branch: args.branch,
        pipeline_url: args.pipeline_url,
        builder: args.builder,
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
    let size = std::fs::metadata(&args.file)
        .map_err(|e| local_io("read", &args.file, e))?
        .len();
    let client = args.remote.client();
    // A server refuses an upload over its limit before reading it, and a client still sending
    // then only sees the connection close: ask first, and say it plainly.
    let limits = client.get("/api/v1/vault")?;
    if let Some(limit) = limits["max_artifact_bytes"].as_u64().filter(|l| size > *l) {
        return Err(invalid(format!(
            "error: {} is {size} bytes; this server accepts artifacts up to {limit} bytes\n  hint: nothing was sent; an administrator raises the limit with SLIPWAY_MAX_ARTIFACT_SIZE (e.g. 16G)",
            args.file.display()
        )));
    }
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
    let path = format!(
        "/api/v1/projects/{}/components/{}/artifacts/{}{}",
        encode(project.as_str()),
        encode(component.as_str()),
        encode(version.as_str()),
        if query.is_empty() {
            String::new()
        } else {
            format!("?{}", query.join("&"))
        }
    );
    let mut request = client
        .raw("POST", &path)
        .set("Content-Type", "application/octet-stream")
        .set("Content-Length", &size.to_string());
    if let Some(d) = declared {
        request = request.set("X-Slipway-Sha256", &d.to_hex());
    }
    if let Some(s) = &signature {
        request = request.set("X-Slipway-Signature", s);
    }
    let file = File::open(&args.file).map_err(|e| local_io("open", &args.file, e))?;
    let mut reader = HashingReader {
        inner: BufReader::with_capacity(1 << 20, file),
        hasher: sha2::Sha256::new(),
    };
    let response = client.answer(request.send(&mut reader)).map_err(|mut f| {
        if f.exit == Exit::Unreachable {
            f.message.push_str("\n  hint: if the server was reachable, it may have refused the upload before reading it all (larger than its limit, or a version that exists with other content): see `slipway artifact list`");
        }
        f
    })?;
    let sent = Sha256::from_bytes(reader.hasher.finalize().into());
    let pushed = read_json(response)?;
    let stored = pushed["artifact"]["digest"].as_str().unwrap_or("");
    if stored != sent.to_hex() {
        return Err(Failure::new(
            Exit::Failed,
            format!("error: the server recorded sha256 {stored}, but the bytes sent hash to {sent}\n  hint: the file changed while it was sent; push it again under a new version"),
        ));
    }
    show(&args.remote, &pushed, |p| {
        let a = &p["artifact"];
        let what = match p["outcome"].as_str() {
            Some("stored") => "stored",
            Some("deduplicated") => "stored (content already in the vault, no second copy)",
            Some("already_stored") => "already stored: nothing changed",
            Some("restored") => "restored (its bytes had been removed by retention)",
            _ => "pushed",
        };
        println!(
            "{}/{} {} {what}\n  sha256    {}\n  size      {} bytes\n  signature {}",
            cell(&a["project"]),
            cell(&a["component"]),
            cell(&a["version"]),
            cell(&a["digest"]),
            cell(&a["size"]),
            describe(&a["signature_state"])
        );
    });
    Ok(())
}

fn download(remote: &Remote, digest: &str, out: &Path) -> Result<(), Failure> {
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

// ---------------------------------------------------------------------------------------------
// key

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Create an ed25519 signing key file (mode 0600) and print its public key.
    #[command(
        after_help = "Example:\n  slipway key generate --out ci.key\n  slipway key add --project pets --name gitlab-ci --public-key ed25519:…"
    )]
    Generate {
        #[arg(long)]
        out: PathBuf,
        /// Print as JSON.
        #[arg(long, short = 'o', value_enum, default_value = "human")]
        output: Format,
    },
    /// Trust a public key for a project's artifacts (ops, admin).
    #[command(
        after_help = "Example:\n  slipway key add --project pets --name gitlab-ci --public-key ed25519:3b6a27bc…"
    )]
    Add {
        #[arg(long)]
        project: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        public_key: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// List a project's keys, revoked ones included.
    #[command(after_help = "Example:\n  slipway key list --project pets")]
    List {
        #[arg(long)]
        project: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Revoke a key: its signatures stop counting at once, also for artifacts already pushed.
    #[command(after_help = "Example:\n  slipway key revoke --project pets gitlab-ci")]
    Revoke {
        name: String,
        #[arg(long)]
        project: String,
        #[command(flatten)]
        remote: Remote,
    },
}

pub fn key(command: KeyCommand) -> Result<(), Failure> {
    match command {
        KeyCommand::Generate { out, output } => {
            let mut seed = [0u8; 32];
            getrandom::getrandom(&mut seed).map_err(|e| {
                Failure::new(
                    Exit::Failed,
                    format!("error: no randomness from the system: {e}"),
                )
            })?;
            let key = SigningKey::from_seed(seed);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options.open(&out).map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    invalid(format!(
                        "error: {} exists; a key file is never overwritten\n  hint: choose another --out",
                        out.display()
                    ))
                } else {
                    local_io("create", &out, e)
                }
            })?;
            file.write_all(key.to_file_text().as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| local_io("write", &out, e))?;
            let public = key.public_key().to_string();
            match output {
                Format::Json => output::json(&json!({ "key_file": out, "public_key": public })),
                Format::Human => {
                    println!("signing key written to {} (mode 0600; keep it secret, e.g. in your CI's secrets)", out.display());
                    println!("public key: {public}");
                    println!(
                        "trust it:   slipway key add --project P --name NAME --public-key {public}"
                    );
                }
            }
            Ok(())
        }
        KeyCommand::Add {
            project,
            name,
            public_key,
            remote,
        } => {
            let key = remote.client().post(
                &format!("/api/v1/projects/{}/keys", encode(&project)),
                &json!({ "name": name, "public_key": public_key }),
            )?;
            show(&remote, &key, |k| {
                println!(
                    "project {} now trusts key {} ({})",
                    cell(&k["project"]),
                    cell(&k["name"]),
                    cell(&k["public_key"])
                )
            });
            Ok(())
        }
        KeyCommand::List { project, remote } => {
            let keys = remote
                .client()
                .get(&format!("/api/v1/projects/{}/keys", encode(&project)))?;
            show(&remote, &keys, |k| {
                let rows: Vec<Vec<String>> = items(k)
                    .iter()
                    .map(|x| {
                        [
                            "name",
                            "public_key",
                            "created_by",
                            "created_at",
                            "revoked_at",
                        ]
                        .iter()
                        .map(|f| cell(&x[*f]))
                        .collect()
                    })
                    .collect();
                table(&["NAME", "PUBLIC KEY", "ADDED BY", "AT", "REVOKED"], &rows);
            });
            Ok(())
        }
        KeyCommand::Revoke {
            name,
            project,
            remote,
        } => {
            remote.client().delete(&format!(
                "/api/v1/projects/{}/keys/{}",
                encode(&project),
                encode(&name)
            ))?;
            show(&remote, &json!({ "revoked": name }), |_| {
                println!("revoked key {name} of project {project}")
            });
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// vault

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

pub fn vault(command: VaultCommand) -> Result<(), Failure> {
    match command {
        VaultCommand::Verify { remote } => {
            let report = remote.client().post("/api/v1/vault/verify", &json!({}))?;
            if remote.output == Format::Json {
                output::json(&report);
            }
            let problems: Vec<String> = ["corrupt", "missing"]
                .iter()
                .flat_map(|kind| {
                    report[*kind]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(move |p| {
                            format!(
                                "{kind} blob {}: {} (artifacts: {})",
                                cell(&p["digest"]),
                                cell(&p["problem"]),
                                cell(&p["artifacts"])
                            )
                        })
                })
                .collect();
            if problems.is_empty() {
                if remote.output == Format::Human {
                    println!(
                        "vault intact: {} blobs, {} bytes re-hashed",
                        report["blobs"], report["bytes"]
                    );
                }
                Ok(())
            } else {
                Err(Failure::new(
                    Exit::Failed,
                    format!(
                        "vault DAMAGED: {} of {} blobs\n{}\n  hint: push the same file again to repair a blob, or restore it from a backup; downloads of these are refused",
                        problems.len(),
                        report["blobs"],
                        problems.join("\n")
                    ),
                ))
            }
        }
        VaultCommand::Gc { dry_run, remote } => {
            let report = remote
                .client()
                .post("/api/v1/vault/gc", &json!({ "dry_run": dry_run }))?;
            show(&remote, &report, |r| {
                let verb = if dry_run { "would" } else { "did" };
                for (label, key) in [
                    ("prune release", "pruned_releases"),
                    ("purge artifact", "purged_artifacts"),
                ] {
                    for x in r[key].as_array().into_iter().flatten() {
                        println!("{verb} {label} {}", cell(x));
                    }
                }
                for b in r["deleted_blobs"].as_array().into_iter().flatten() {
                    println!(
                        "{verb} delete blob {} ({} bytes)",
                        cell(&b["digest"]),
                        b["size"]
                    );
                }
                println!(
                    "{}: {} blob(s), {} bytes reclaimed{}",
                    if dry_run { "dry run" } else { "done" },
                    r["deleted_blobs"].as_array().map_or(0, Vec::len),
                    r["bytes_reclaimed"],
                    match r["unrecorded_files_removed"].as_u64() {
                        Some(n) if n > 0 => format!(", {n} unrecorded file(s) removed"),
                        _ => String::new(),
                    }
                );
            });
            Ok(())
        }
        VaultCommand::Retention {
            project,
            keep,
            keep_unreleased_days,
            remote,
        } => {
            let client = remote.client();
            let path = format!("/api/v1/projects/{}/retention", encode(&project));
            let mut policy = client.get(&path)?;
            if keep.is_some() || keep_unreleased_days.is_some() {
                if let Some(k) = keep {
                    policy["keep_per_channel"] = json!(k);
                }
                if let Some(d) = keep_unreleased_days {
                    policy["keep_unreleased_days"] = json!(d);
                }
                client.put(&path, &policy)?;
            }
            show(&remote, &policy, |p| {
                println!(
                    "{project}: keep the last {} releases per channel; artifacts in no kept release for {} days",
                    p["keep_per_channel"], p["keep_unreleased_days"]
                )
            });
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// release

#[derive(Subcommand)]
pub enum ReleaseCommand {
    /// Create a release: one vault artifact per component, a frozen snapshot, notes.
    #[command(
        after_help = "Examples:\n  git log --format='%h %s' v1.3.0..HEAD > commits.txt\n  slipway release create --project pets --version 1.4.0-rc.1 \\\n      --artifact pets-war=1.4.0 --artifact pets-sql=1.4.0 --artifact pets-batch=9f86d0…(digest) \\\n      --commits-file commits.txt\n  slipway release create --project pets --version 1.3.1 --label hotfix --notes-file NOTES.md …"
    )]
    Create {
        #[arg(long)]
        project: String,
        /// Semantic version (1.4.0, 1.4.0-rc.1).
        #[arg(long)]
        version: String,
        /// COMPONENT=DIGEST or COMPONENT=ARTIFACT_VERSION, once per component.
        #[arg(long = "artifact", value_name = "COMPONENT=DIGEST|VERSION")]
        artifacts: Vec<String>,
        /// ATD, BETA, RC or GA; from the version's pre-release tag when absent.
        #[arg(long)]
        channel: Option<String>,
        /// Labels that choose a lifecycle (e.g. hotfix), repeatable.
        #[arg(long = "label")]
        labels: Vec<String>,
        /// Release notes as written (Markdown or text).
        #[arg(long, conflicts_with = "commits_file")]
        notes_file: Option<PathBuf>,
        /// Commit messages to group into notes: `git log --format='%h %s'`, or `git log -z --format='%h %B'` for full messages.
        #[arg(long)]
        commits_file: Option<PathBuf>,
        /// Create it even if some artifact is not validly signed; it can never enter an environment that requires signatures.
        #[arg(long)]
        unsigned_ok: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// List a project's releases, newest first.
    #[command(after_help = "Example:\n  slipway release list --project pets")]
    List {
        #[arg(long)]
        project: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show a release: artifacts, signatures, lifecycle, notes.
    #[command(after_help = "Example:\n  slipway release show --project pets 1.4.0-rc.1")]
    Show {
        version: String,
        #[arg(long)]
        project: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Print the release notes as Markdown.
    #[command(after_help = "Example:\n  slipway release notes --project pets 1.4.0 > NOTES.md")]
    Notes {
        version: String,
        #[arg(long)]
        project: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// What changed between two releases: artifacts, plan, variables, notes.
    #[command(after_help = "Example:\n  slipway release diff --project pets 1.3.0 1.4.0")]
    Diff {
        from: String,
        to: String,
        #[arg(long)]
        project: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Whether the signature rule lets a release into an environment (exit 3 when not).
    #[command(after_help = "Example:\n  slipway release check --project pets 1.4.0 --env PROD-EU")]
    Check {
        version: String,
        #[arg(long)]
        project: String,
        #[arg(long = "env")]
        environment: String,
        #[command(flatten)]
        remote: Remote,
    },
}

fn release_path(project: &str, version: &str) -> String {
    format!(
        "/api/v1/projects/{}/releases/{}",
        encode(project),
        encode(version)
    )
}

pub fn release(command: ReleaseCommand) -> Result<(), Failure> {
    match command {
        ReleaseCommand::Create {
            project,
            version,
            artifacts,
            channel,
            labels,
            notes_file,
            commits_file,
            unsigned_ok,
            remote,
        } => {
            let mut map = serde_json::Map::new();
            for a in &artifacts {
                let (c, r) = a.split_once('=').ok_or_else(|| {
                    invalid(format!(
                        "error: --artifact {a}: expected COMPONENT=DIGEST or COMPONENT=VERSION"
                    ))
                })?;
                if map.insert(c.to_string(), json!(r)).is_some() {
                    return Err(invalid(format!("error: component {c} is given twice; a release holds one artifact per component")));
                }
            }
            let read = |p: &PathBuf| std::fs::read_to_string(p).map_err(|e| local_io("read", p, e));
            let body = json!({
                "version": version,
                "artifacts": map,
                "channel": channel,
                "labels": labels,
                "notes": notes_file.as_ref().map(read).transpose()?,
                "commits": commits_file.as_ref().map(read).transpose()?,
                "unsigned_ok": unsigned_ok,
            });
            let created = remote.client().post(
                &format!("/api/v1/projects/{}/releases", encode(&project)),
                &body,
            )?;
            show(&remote, &created, |r| {
                println!(
                    "created release {} {} ({}), lifecycle {}",
                    cell(&r["project"]),
                    cell(&r["version"]),
                    cell(&r["channel"]),
                    cell(&r["lifecycle"])
                );
                print_artifacts(r);
                if r["eligible_for_protected"] != true {
                    println!("NOT eligible for environments that require signatures: some artifact is not validly signed");
                }
            });
            Ok(())
        }
        ReleaseCommand::List { project, remote } => {
            let list = remote
                .client()
                .get(&format!("/api/v1/projects/{}/releases", encode(&project)))?;
            show(&remote, &list, |l| {
                let rows: Vec<Vec<String>> = items(l)
                    .iter()
                    .map(|r| {
                        vec![
                            cell(&r["version"]),
                            cell(&r["channel"]),
                            cell(&r["lifecycle"]),
                            if r["eligible_for_protected"] == true {
                                "yes"
                            } else {
                                "no"
                            }
                            .into(),
                            cell(&r["created_by"]),
                            cell(&r["created_at"]),
                            if r["pruned_at"].is_null() {
                                ""
                            } else {
                                "pruned"
                            }
                            .into(),
                        ]
                    })
                    .collect();
                table(
                    &["VERSION", "CHANNEL", "LIFECYCLE", "SIGNED", "BY", "AT", ""],
                    &rows,
                );
            });
            Ok(())
        }
        ReleaseCommand::Show {
            version,
            project,
            remote,
        } => {
            let client = remote.client();
            let r = client.get(&release_path(&project, &version))?;
            if remote.output == Format::Json {
                output::json(&r);
                return Ok(());
            }
            println!(
                "{} {} ({}) — lifecycle {}, labels {}, created by {} at {}{}",
                cell(&r["project"]),
                cell(&r["version"]),
                cell(&r["channel"]),
                cell(&r["lifecycle"]),
                cell(&r["labels"]),
                cell(&r["created_by"]),
                cell(&r["created_at"]),
                if r["pruned_at"].is_null() {
                    ""
                } else {
                    " (pruned by retention)"
                }
            );
            print_artifacts(&r);
            println!(
                "eligible for environments that require signatures: {}",
                if r["eligible_for_protected"] == true {
                    "yes"
                } else {
                    "no"
                }
            );
            let notes = client
                .answer(
                    client
                        .raw(
                            "GET",
                            &format!("{}/notes", release_path(&project, &version)),
                        )
                        .call(),
                )?
                .into_string()
                .unwrap_or_default();
            println!("\n{notes}");
            Ok(())
        }
        ReleaseCommand::Notes {
            version,
            project,
            remote,
        } => {
            let client = remote.client();
            let notes = client
                .answer(
                    client
                        .raw(
                            "GET",
                            &format!("{}/notes", release_path(&project, &version)),
                        )
                        .call(),
                )?
                .into_string()
                .map_err(|e| {
                    Failure::new(Exit::Failed, format!("error: reading the notes: {e}"))
                })?;
            match remote.output {
                Format::Json => output::json(&json!({ "markdown": notes })),
                Format::Human => print!("{notes}"),
            }
            Ok(())
        }
        ReleaseCommand::Diff {
            from,
            to,
            project,
            remote,
        } => {
            let d = remote.client().get(&format!(
                "/api/v1/projects/{}/release-diff?from={}&to={}",
                encode(&project),
                encode(&from),
                encode(&to)
            ))?;
            show(&remote, &d, |d| {
                println!("{project}: {from} → {to}");
                let mut any = false;
                for a in d["artifacts"].as_array().into_iter().flatten() {
                    any = true;
                    println!(
                        "  artifact {}: {} → {}",
                        cell(&a["component"]),
                        cell(&a["from"]),
                        cell(&a["to"])
                    );
                }
                for (label, key) in [
                    ("plan", "plan"),
                    ("variable", "variables"),
                    ("notes", "notes"),
                ] {
                    for line in d[key].as_array().into_iter().flatten() {
                        any = true;
                        println!("  {label}: {}", cell(line));
                    }
                }
                if !any {
                    println!("  no difference");
                }
            });
            Ok(())
        }
        ReleaseCommand::Check {
            version,
            project,
            environment,
            remote,
        } => {
            let answer = remote.client().get(&format!(
                "{}/check?environment={}",
                release_path(&project, &version),
                encode(&environment)
            ))?;
            show(&remote, &answer, |_| {
                println!("release {version} of {project} may enter {environment}")
            });
            Ok(())
        }
    }
}

fn print_artifacts(r: &Value) {
    let details = r["artifact_details"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let rows: Vec<Vec<String>> = details
        .iter()
        .map(|a| {
            vec![
                cell(&a["component"]),
                cell(&a["version"]),
                cell(&a["digest"]),
                cell(&a["size"]),
                describe(&a["signature_state"]),
                cell(&a["provenance"]["commit"]),
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
            "COMMIT",
        ],
        &rows,
    );
}
