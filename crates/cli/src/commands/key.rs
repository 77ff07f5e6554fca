//! `key …`: signing keys: generate one locally, trust one for a project, revoke. A private key
//! never leaves the file it was written to.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{json, Value};
use slipway_api::vault::{KeyAddAnswer, SigningKeyView};
use slipway_api::List;
use slipway_core::signing::SigningKey;

use crate::client::encode;
use crate::error::{invalid, Exit, Failure};
use crate::output::{self, or_dash, show, table, Format};
use crate::remote::Remote;

use super::transfer::local_io;

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

pub(crate) fn key(command: KeyCommand) -> Result<(), Failure> {
    match command {
        KeyCommand::Generate { out, output } => generate(out, output),
        KeyCommand::Add {
            project,
            name,
            public_key,
            remote,
        } => add(project, name, public_key, remote),
        KeyCommand::List { project, remote } => list(project, remote),
        KeyCommand::Revoke {
            name,
            project,
            remote,
        } => revoke(name, project, remote),
    }
}

fn generate(out: PathBuf, output: Format) -> Result<(), Failure> {
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
            println!(
                "signing key written to {} (mode 0600; keep it secret, e.g. in your CI's secrets)",
                out.display()
            );
            println!("public key: {public}");
            println!("trust it:   slipway key add --project P --name NAME --public-key {public}");
        }
    }
    Ok(())
}

fn add(project: String, name: String, public_key: String, remote: Remote) -> Result<(), Failure> {
    let answer = remote.client().post::<KeyAddAnswer>(
        &format!("/api/v1/projects/{}/keys", encode(&project)),
        &json!({ "name": name, "public_key": public_key }),
    )?;
    show(&remote, &answer, |answer| {
        match answer {
        KeyAddAnswer::Trusted(k) => println!(
            "project {} now trusts key {} ({})",
            k.project, k.name, k.public_key
        ),
        KeyAddAnswer::Held(held) => println!(
            "not trusted yet: {}\nwaits for another {}: configuration change request {}: `slipway config-change approve {}`",
            held.reasons.join("; "),
            held.waits_for,
            held.id,
            held.id
        ),
    }
    });
    Ok(())
}

fn list(project: String, remote: Remote) -> Result<(), Failure> {
    let keys = remote
        .client()
        .get::<List<SigningKeyView>>(&format!("/api/v1/projects/{}/keys", encode(&project)))?;
    show(&remote, &keys, |k| {
        let rows: Vec<Vec<String>> = k
            .items
            .iter()
            .map(|x| {
                vec![
                    x.name.to_string(),
                    x.public_key.to_string(),
                    x.created_by.clone(),
                    x.created_at.clone(),
                    or_dash(&x.revoked_at),
                ]
            })
            .collect();
        table(&["NAME", "PUBLIC KEY", "ADDED BY", "AT", "REVOKED"], &rows);
    });
    Ok(())
}

fn revoke(name: String, project: String, remote: Remote) -> Result<(), Failure> {
    remote.client().delete::<Value>(&format!(
        "/api/v1/projects/{}/keys/{}",
        encode(&project),
        encode(&name)
    ))?;
    show(&remote, &json!({ "revoked": name }), |_| {
        println!("revoked key {name} of project {project}")
    });
    Ok(())
}
