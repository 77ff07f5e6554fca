//! Artifacts on their way to a target: fetched from the server into the agent's
//! content-addressed cache and verified against their digest. It never places, unpacks or runs
//! what it fetched: the action families do that with the path it returns.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use crate::link::Link;
use crate::sink::LogSink;

/// Fetch an artifact into the agent's content-addressed cache once, verifying it every time.
/// The server is asked every time, even for a cached copy (`If-None-Match`), so its checks —
/// this task may have it, the environment's signature policy holds now — run at each hand-out.
pub(crate) fn fetch(
    link: &Link,
    credential: &str,
    data: &Path,
    digest: &str,
    log: &mut LogSink,
) -> Result<PathBuf, String> {
    let cache = data.join("cache/sha256");
    let path = cache.join(digest);
    let mut cached = None;
    if path.is_file() {
        if sha256_file(&path).map_err(|e| e.to_string())? == digest {
            cached = Some(digest);
        } else {
            log.line(format!(
                "cached {digest} no longer matches its digest: fetching it again"
            ));
            let _ = std::fs::remove_file(&path);
        }
    }
    let answer = link
        .get_stream(
            &format!("/api/v1/agent/artifacts/{digest}"),
            credential,
            cached,
        )
        .map_err(|e| format!("cannot fetch artifact {digest}: {e}"));
    let mut reader = match answer {
        Ok(Some(reader)) => reader,
        Ok(None) if cached.is_some() => return Ok(path),
        Ok(None) => {
            return Err(format!(
                "cannot fetch artifact {digest}: the server sent no bytes"
            ))
        }
        Err(e) => {
            log.line(e.clone());
            return Err(e);
        }
    };
    std::fs::create_dir_all(&cache)
        .map_err(|e| format!("cannot create the cache {}: {e}", cache.display()))?;
    let partial = cache.join(format!("{digest}.partial"));
    let mut file = std::fs::File::create(&partial).map_err(|e| e.to_string())?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(n) => n,
            // A signal interrupted the read before any byte came: nothing was lost, so read
            // again, as `read_to_end` does (a deployment failed on it once in a test run).
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("transfer of {digest} cut: {e}")),
        };
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        file.write_all(&buffer[..n]).map_err(|e| e.to_string())?;
        total += n as u64;
        log.tick();
    }
    file.sync_all().map_err(|e| e.to_string())?;
    let actual = slipway_core::digest::lower_hex(&hasher.finalize());
    if actual != digest {
        let _ = std::fs::remove_file(&partial);
        return Err(format!(
            "artifact {digest} arrived with digest {actual}: refused, nothing placed"
        ));
    }
    std::fs::rename(&partial, &path).map_err(|e| e.to_string())?;
    log.line(format!("fetched and verified {digest} ({total} bytes)"));
    Ok(path)
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(slipway_core::digest::lower_hex(&hasher.finalize()))
}
