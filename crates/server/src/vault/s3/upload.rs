//! Receiving an upload into S3: the body is hashed as it arrives and sent on in parts of
//! [`PART_BYTES`] (a few at once), to a temporary key; memory stays bounded whatever the size.
//!
//! An upload smaller than one part is one PUT. A larger one is a multipart upload completed only
//! when the whole body arrived; any failure before aborts it, and a finished object that is
//! never linked is deleted when its [`StagedObject`] is dropped.
//!
//! The service checks every byte it stores: with the part's CRC-32 (`x-amz-checksum-crc32`, the
//! payload unsigned) where it was seen to check one at start ([`part_check`]: Garage and MinIO
//! do), else with SigV4's signed payload (AWS, which takes a part's CRC-32 only when the upload
//! declared it, and then copies it by reading it whole), which costs a SHA-256 of every byte
//! here and on the service's side.

use std::collections::VecDeque;
use std::fmt::Display;
use std::io;
use std::sync::Arc;

use axum::body::Bytes;
use futures_util::{Stream, StreamExt};
use slipway_core::Sha256;

use super::client::{BodyCheck, ObjectIdentity, Part, S3Client, S3Error};
use crate::vault::upload::HashBehind;
use crate::vault::{Counted, UploadError};

/// The size of each part but the last (S3 wants at least 5 MiB).
pub(crate) const PART_BYTES: usize = 8 << 20;
/// Parts sent at once while the next one fills: memory is (this + 1) × [`PART_BYTES`].
pub(crate) const PARTS_IN_FLIGHT: usize = 4;

/// A complete upload under a temporary key; deleted when dropped unless it was linked.
#[derive(Debug)]
pub(crate) struct StagedObject {
    client: Arc<S3Client>,
    pub key: String,
    pub size: u64,
    /// The copy already made at the digest's key before the write transaction (see
    /// `S3Blobs::copy_ahead`): the digest and the identity the copy had just after it was made.
    pub copied: Option<(Sha256, ObjectIdentity)>,
    keep: bool,
}

impl StagedObject {
    pub(crate) fn forget(mut self) {
        self.keep = true;
    }
}

impl Drop for StagedObject {
    fn drop(&mut self) {
        if !self.keep {
            let client = self.client.clone();
            let key = std::mem::take(&mut self.key);
            in_background(
                move || client.delete(&key),
                "cannot delete an unfinished upload",
            );
        }
    }
}

/// A multipart upload aborted when dropped before it completed.
struct Multipart {
    client: Arc<S3Client>,
    key: String,
    upload_id: String,
    completed: bool,
}

impl Drop for Multipart {
    fn drop(&mut self) {
        if !self.completed {
            let client = self.client.clone();
            let key = self.key.clone();
            let id = self.upload_id.clone();
            in_background(
                move || client.abort_multipart(&key, &id),
                "cannot abort an unfinished multipart upload",
            );
        }
    }
}

/// Run a clean-up call on a blocking thread when a runtime is there; log its failure.
fn in_background(call: impl FnOnce() -> Result<(), S3Error> + Send + 'static, what: &'static str) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn_blocking(move || {
            if let Err(e) = call() {
                tracing::warn!(error = %e, "{what}");
            }
        });
    }
}

async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, S3Error> + Send + 'static,
) -> Result<T, UploadError> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| UploadError::Io(io::Error::other(e)))?
        .map_err(|e| UploadError::Io(io::Error::other(e)))
}

/// How this service checks the bytes of a part: by its CRC-32 when it refuses a wrong one and
/// takes the right one, sent in a multipart upload to `key` that is then aborted; else by the
/// signed SHA-256 of the payload, which every S3 service checks.
pub(crate) fn part_check(client: &S3Client, key: &str) -> Result<BodyCheck, S3Error> {
    let upload_id = client.create_multipart(key)?;
    let checks = (|| {
        // The CRC-32 of "slipway" claimed for other bytes: a part damaged on its way.
        match client.upload_part_claiming(key, &upload_id, b"Slipway", b"slipway") {
            Ok(_) => return Ok(false),
            Err(e) if e.status().is_some() => {}
            Err(e) => return Err(e),
        }
        let right = Part {
            number: 1,
            bytes: b"slipway",
            crc32: crc32fast::hash(b"slipway"),
        };
        match client.upload_part(key, &upload_id, right, BodyCheck::Crc32) {
            Ok(_) => Ok(true),
            Err(e) if e.status().is_some() => Ok(false),
            Err(e) => Err(e),
        }
    })();
    client.abort_multipart(key, &upload_id)?;
    Ok(if checks? {
        BodyCheck::Crc32
    } else {
        BodyCheck::SignedSha256
    })
}

/// A part sent: its number, its ETag, and its buffer back for the next part.
type PartResult = Result<(u32, String, Vec<u8>), S3Error>;

/// Stream `body` to the temporary `key`, hashing as it goes; refuse past `limit` bytes.
pub(crate) async fn receive<S, E>(
    client: Arc<S3Client>,
    key: String,
    check: BodyCheck,
    mut body: S,
    limit: u64,
) -> Result<(StagedObject, Counted), UploadError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Display,
{
    // The SHA-256 runs on its own thread while this task fills and sends parts.
    let mut hashing = HashBehind::start(None);
    // The CRC-32 of each part is counted once, over the bytes just copied into its buffer (still
    // in cache): the service checks the part by it, and the parts' combined are the body's, which
    // the client checks. A second pass over every byte cost 4 % of the server's CPU on S3.
    let mut crc = crc32fast::Hasher::new();
    let mut part_crc = crc32fast::Hasher::new();
    let mut size: u64 = 0;
    let mut buffer: Vec<u8> = Vec::with_capacity(PART_BYTES);
    let mut multipart: Option<Multipart> = None;
    let mut in_flight: VecDeque<tokio::task::JoinHandle<PartResult>> = VecDeque::new();
    let mut parts: Vec<(u32, String)> = Vec::new();
    // Buffers come back from the parts sent and are filled again: at most PARTS_IN_FLIGHT + 1
    // are ever allocated, whatever the size of the upload.
    let mut spare: Vec<Vec<u8>> = Vec::new();
    let mut number: u32 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| UploadError::Interrupted(e.to_string()))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(UploadError::TooLarge { limit });
        }
        if !hashing.push(chunk.clone()).await {
            return Err(hashing_stopped());
        }
        let mut rest: &[u8] = &chunk;
        while !rest.is_empty() {
            let take = (PART_BYTES - buffer.len()).min(rest.len());
            let start = buffer.len();
            buffer.extend_from_slice(&rest[..take]);
            part_crc.update(&buffer[start..]);
            rest = &rest[take..];
            if buffer.len() < PART_BYTES {
                continue;
            }
            if multipart.is_none() {
                let (c, k) = (client.clone(), key.clone());
                let upload_id = blocking(move || c.create_multipart(&k)).await?;
                multipart = Some(Multipart {
                    client: client.clone(),
                    key: key.clone(),
                    upload_id,
                    completed: false,
                });
            }
            if in_flight.len() >= PARTS_IN_FLIGHT {
                let (sent, etag, mut emptied) = finish(in_flight.pop_front()).await?;
                parts.push((sent, etag));
                emptied.clear();
                spare.push(emptied);
            }
            let next = spare
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(PART_BYTES));
            let part = std::mem::replace(&mut buffer, next);
            let part_crc = std::mem::replace(&mut part_crc, crc32fast::Hasher::new());
            crc.combine(&part_crc);
            number += 1;
            in_flight.push_back(send_part(
                &client,
                &key,
                multipart.as_ref(),
                (number, check),
                (part, part_crc.finalize()),
            ));
        }
    }
    let digest = hashing
        .end()
        .await
        .await
        .map_err(|e| UploadError::Io(io::Error::other(e)))?
        .ok_or_else(hashing_stopped)?;
    crc.combine(&part_crc);
    match multipart {
        None => {
            let (c, k) = (client.clone(), key.clone());
            blocking(move || c.put_checked(&k, &buffer, check)).await?;
        }
        Some(mut upload) => {
            if !buffer.is_empty() {
                number += 1;
                in_flight.push_back(send_part(
                    &client,
                    &key,
                    Some(&upload),
                    (number, check),
                    (buffer, part_crc.finalize()),
                ));
            }
            while let Some(part) = in_flight.pop_front() {
                let (sent, etag, _) = finish(Some(part)).await?;
                parts.push((sent, etag));
            }
            let (c, k, id) = (client.clone(), key.clone(), upload.upload_id.clone());
            blocking(move || c.complete_multipart(&k, &id, &parts)).await?;
            upload.completed = true;
        }
    }
    Ok((
        StagedObject {
            client,
            key,
            size,
            copied: None,
            keep: false,
        },
        Counted {
            digest,
            size,
            crc32: crc.finalize(),
        },
    ))
}

fn hashing_stopped() -> UploadError {
    UploadError::Io(io::Error::other(
        "the upload's hashing stopped before its end",
    ))
}

/// Send `part` (its bytes and their CRC-32) as part `number` of `upload`, checked as `check`
/// says, on a blocking thread.
fn send_part(
    client: &Arc<S3Client>,
    key: &str,
    upload: Option<&Multipart>,
    (number, check): (u32, BodyCheck),
    (part, crc32): (Vec<u8>, u32),
) -> tokio::task::JoinHandle<PartResult> {
    let client = client.clone();
    let key = key.to_string();
    let upload_id = upload
        .map(|u| u.upload_id.clone())
        .expect("a part is sent only once its multipart upload exists");
    tokio::task::spawn_blocking(move || {
        let sent = Part {
            number,
            bytes: &part,
            crc32,
        };
        client
            .upload_part(&key, &upload_id, sent, check)
            .map(|etag| (number, etag, part))
    })
}

async fn finish(
    part: Option<tokio::task::JoinHandle<PartResult>>,
) -> Result<(u32, String, Vec<u8>), UploadError> {
    let part = part.expect("finish is called with a part in flight");
    part.await
        .map_err(|e| UploadError::Io(io::Error::other(e)))?
        .map_err(|e| UploadError::Io(io::Error::other(e)))
}
