//! `slipway backup` and `slipway restore`: the data folder of a SQLite installation, copied while
//! its server runs, checked, and put back (the work is `slipway_server::backup`'s).

use std::path::PathBuf;

use clap::Args;
use slipway_cli::{Exit, Failure};
use slipway_server::backup::{self, BackupError, KeyFiles, Manifest};

#[derive(Args)]
pub(crate) struct BackupArgs {
    /// The server's data folder (SQLite database, vault, keys).
    #[arg(long, env = "SLIPWAY_DATA", default_value = "/var/lib/slipway")]
    data: PathBuf,
    /// The new folder to write the backup into (it must not exist).
    #[arg(long, required_unless_present = "verify")]
    to: Option<PathBuf>,
    /// Check an existing backup against its manifest instead of taking one.
    #[arg(long, value_name = "BACKUP", conflicts_with = "to")]
    verify: Option<PathBuf>,
    /// The master key, when the server reads it from outside the data folder.
    #[arg(long, env = "SLIPWAY_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
    /// The checkpoint-signing key, when the server reads it from outside the data folder.
    #[arg(long, env = "SLIPWAY_CHECKPOINT_KEY_FILE")]
    checkpoint_key_file: Option<PathBuf>,
    /// The server's --vault: a vault on S3 is backed up on the S3 side, and refused here.
    #[arg(long, env = "SLIPWAY_VAULT", hide_env_values = true)]
    vault: Option<String>,
}

#[derive(Args)]
pub(crate) struct RestoreArgs {
    /// The backup folder `slipway backup --to` wrote.
    #[arg(long)]
    from: PathBuf,
    /// The new data folder to restore into (it must not exist, or be empty).
    #[arg(long)]
    data: PathBuf,
}

pub(crate) fn backup(args: BackupArgs) -> Result<(), Failure> {
    if let Some(existing) = args.verify {
        let manifest = backup::verify(&existing).map_err(failure)?;
        println!(
            "backup {} is intact: {} files, {} bytes, {} blobs, {} audit events, schema {}, taken {} by Slipway {}",
            existing.display(),
            manifest.files.len(),
            manifest.bytes(),
            manifest.blobs,
            manifest.audit_events,
            manifest.schema_version,
            manifest.created_at,
            manifest.slipway_version
        );
        return Ok(());
    }
    let Some(to) = args.to else {
        return Err(Failure::new(
            Exit::Invalid,
            "error: give --to FOLDER (or --verify BACKUP)",
        ));
    };
    backup::refuse_vault_off_disk(args.vault.as_deref()).map_err(failure)?;
    let keys = KeyFiles {
        master_key: args.master_key_file,
        checkpoint_key: args.checkpoint_key_file,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            Failure::new(
                Exit::Failed,
                format!("error: cannot start the async runtime: {e}"),
            )
        })?;
    let manifest = runtime
        .block_on(backup::take(&args.data, &to, &keys))
        .map_err(failure)?;
    print_summary("backed up", &to, &manifest);
    println!("  it holds the master key: keep it where the data folder itself would be kept");
    println!(
        "  check it later with `slipway backup --verify {}`",
        to.display()
    );
    Ok(())
}

pub(crate) fn restore(args: RestoreArgs) -> Result<(), Failure> {
    let manifest = backup::restore(&args.from, &args.data).map_err(failure)?;
    print_summary("restored", &args.data, &manifest);
    println!(
        "  start it with `slipway server --data {}`, then run `slipway audit verify` and `slipway vault verify`",
        args.data.display()
    );
    Ok(())
}

fn print_summary(what: &str, folder: &std::path::Path, manifest: &Manifest) {
    println!(
        "{what} {}: {} files, {} bytes, {} blobs, {} audit events, schema {}",
        folder.display(),
        manifest.files.len(),
        manifest.bytes(),
        manifest.blobs,
        manifest.audit_events,
        manifest.schema_version
    );
}

fn failure(error: BackupError) -> Failure {
    let exit = match &error {
        BackupError::Refused(_) => Exit::Invalid,
        BackupError::Damaged { .. } => Exit::Conflict,
        BackupError::Io { .. } | BackupError::Store(_) => Exit::Failed,
    };
    Failure::new(exit, format!("error: {error}"))
}
