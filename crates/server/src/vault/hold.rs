//! A pause for end-to-end tests only. With `SLIPWAY_TEST_HOLD_AFTER_COPY=FOLDER`, a push whose
//! upload was copied in place ahead of its write transaction ([`super::BlobStore::copy_ahead`])
//! writes `FOLDER/<digest>.copied` and then waits while `FOLDER/<digest>.hold` exists, so that a
//! test acts at exactly that point (another write, a garbage collection, damage to the copy)
//! without guessing at timings. Unset, as everywhere outside tests, it costs one look at the
//! environment per push; it never holds the store's writer, only the push that asked.

use std::time::Duration;

use slipway_core::Sha256;

/// The variable naming the folder; documented as test-only in docs/vault.md.
const VARIABLE: &str = "SLIPWAY_TEST_HOLD_AFTER_COPY";
/// A test that forgot its hold file does not hang the server for longer than this.
const LONGEST: Duration = Duration::from_secs(600);

/// Report that `digest`'s copy is made, then wait while the test holds it.
pub(crate) async fn after_copy(digest: &Sha256) {
    let Some(folder) = std::env::var_os(VARIABLE) else {
        return;
    };
    let folder = std::path::PathBuf::from(folder);
    let hex = digest.to_hex();
    if let Err(e) = std::fs::write(folder.join(format!("{hex}.copied")), b"") {
        tracing::warn!(error = %e, "{VARIABLE}: cannot report the copy");
        return;
    }
    let hold = folder.join(format!("{hex}.hold"));
    let started = std::time::Instant::now();
    while hold.exists() && started.elapsed() < LONGEST {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
