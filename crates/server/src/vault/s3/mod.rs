//! The vault on S3-compatible storage (`--vault s3://BUCKET/PREFIX`): the same layout and the
//! same guarantees as on disk, with objects instead of files.
//!
//! ```text
//! PREFIX/tmp/<random>.part          uploads being linked (stale ones swept at start)
//! PREFIX/blobs/sha256/ab/<digest>   content, named by its SHA-256 once verified
//! PREFIX/trash/<digest>             blobs garbage collection is deleting
//! ```
//! An upload streams to a temporary key while it is hashed; only once its digest is known (and
//! checked against what the client declared) is it copied, on the service's side, to the key
//! named by that digest, and the temporary key deleted. That copy is made before the push's
//! store write (`copy_ahead`); inside it, `link` only checks the copy is still there (size and
//! ETag) and copies again when it is not. Readers never see a partial blob: a
//! multipart upload is invisible until completed. A blob's identity (size, ETag, Last-Modified)
//! plays the part a file's metadata plays on disk; a download asks for the bytes only while the
//! ETag is still the one verified (`If-Match`).

mod client;
mod copy;
mod sigv4;
mod upload;
pub(crate) mod xml;

use std::io::{self, Read};
use std::sync::Arc;

use axum::body::Bytes;
use futures_util::Stream;
use sha2::Digest as _;
use slipway_core::digest::lower_hex;
use slipway_core::Sha256;

pub use client::ObjectIdentity;
use client::{BodyCheck, Endpoint, S3Client, S3Error};
pub(crate) use upload::StagedObject;

use super::verified::{self, Check, VerifiedFiles};
use super::{BlobFile, Counted, UploadError};

/// Bytes read at a time when hashing an object.
const HASH_CHUNK: usize = 4 << 20;
/// Temporary objects older than this are left by a dead process, not by an upload in progress
/// on another server sharing the bucket.
const STALE_UPLOAD: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

/// Where the vault is on S3 and with what credentials, from `--vault s3://BUCKET/PREFIX` and the
/// environment.
#[derive(Debug, Clone)]
pub struct S3Settings {
    endpoint: Endpoint,
    bucket: String,
    /// Empty, or ends with `/`.
    prefix: String,
    credentials: sigv4::Credentials,
    /// Objects larger than this are copied on the service's side in parts of this size.
    copy_part_bytes: u64,
}

impl S3Settings {
    /// `url` is `s3://BUCKET` or `s3://BUCKET/PREFIX`; `env` reads a variable (the process's
    /// environment in the server). The endpoint, region and keys come from
    /// `SLIPWAY_S3_ENDPOINT`, `SLIPWAY_S3_REGION`, `SLIPWAY_S3_ACCESS_KEY_ID` and
    /// `SLIPWAY_S3_SECRET_ACCESS_KEY`, or else AWS's usual variables; the part size of large
    /// copies from `SLIPWAY_S3_COPY_PART_SIZE`.
    pub fn parse(url: &str, env: impl Fn(&str) -> Option<String>) -> Result<S3Settings, String> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| {
            format!(
                "--vault `{url}` is not s3://BUCKET/PREFIX (leave --vault out for the data folder)"
            )
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !bucket_ok {
            return Err(format!(
                "--vault `{url}`: the bucket `{bucket}` is not an S3 bucket name (3 to 63 of a-z 0-9 . -)"
            ));
        }
        let prefix = prefix.trim_end_matches('/');
        let prefix_ok = prefix.len() <= 512
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b))
            && !prefix.starts_with('/')
            && !prefix.contains("//")
            && !prefix.split('/').any(|s| s == "." || s == "..");
        if !prefix_ok {
            return Err(format!(
                "--vault `{url}`: the prefix `{prefix}` may hold only A-Z a-z 0-9 . _ - and single slashes, without . or .. segments"
            ));
        }
        let var = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| env(n).filter(|v| !v.trim().is_empty()))
        };
        let region = var(&["SLIPWAY_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"])
            .unwrap_or_else(|| "us-east-1".to_string());
        let endpoint = match var(&[
            "SLIPWAY_S3_ENDPOINT",
            "AWS_ENDPOINT_URL_S3",
            "AWS_ENDPOINT_URL",
        ]) {
            Some(text) => {
                Endpoint::parse(&text).map_err(|e| format!("SLIPWAY_S3_ENDPOINT: {e}"))?
            }
            None => Endpoint::parse(&format!("https://s3.{region}.amazonaws.com"))?,
        };
        let access_key = var(&["SLIPWAY_S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"]).ok_or_else(|| {
            format!("--vault {url} needs credentials: set SLIPWAY_S3_ACCESS_KEY_ID and SLIPWAY_S3_SECRET_ACCESS_KEY")
        })?;
        let secret_key = var(&["SLIPWAY_S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"])
            .ok_or_else(|| {
                format!(
                    "--vault {url} needs SLIPWAY_S3_SECRET_ACCESS_KEY with the access key's secret"
                )
            })?;
        let copy_part_bytes = match var(&["SLIPWAY_S3_COPY_PART_SIZE"]) {
            None => copy::DEFAULT_PART_BYTES,
            Some(text) => super::parse_size(&text)
                .filter(|n| (copy::MIN_PART_BYTES..=copy::MAX_PART_BYTES).contains(n))
                .ok_or_else(|| {
                    format!("SLIPWAY_S3_COPY_PART_SIZE=`{text}` is not a part size S3 takes: write 5M to 5G (default 4G)")
                })?,
        };
        Ok(S3Settings {
            endpoint,
            bucket: bucket.to_string(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            credentials: sigv4::Credentials {
                access_key: access_key.trim().to_string(),
                secret_key: secret_key.trim().to_string(),
                region: region.trim().to_string(),
            },
            copy_part_bytes,
        })
    }

    /// `s3://BUCKET/PREFIX at ENDPOINT`, for messages.
    pub fn describe(&self) -> String {
        format!(
            "s3://{}/{} at {}",
            self.bucket,
            self.prefix.trim_end_matches('/'),
            self.endpoint
        )
    }
}

/// Plain access to the vault's bucket by key, for operators' tools and end-to-end tests (which
/// damage a blob on purpose): the same signed client the vault uses, without its rules.
#[derive(Debug, Clone)]
pub struct Bucket {
    client: Arc<S3Client>,
    prefix: String,
}

impl Bucket {
    pub fn new(settings: &S3Settings) -> Bucket {
        Bucket {
            client: Arc::new(S3Client::new(
                settings.endpoint.clone(),
                settings.bucket.clone(),
                settings.credentials.clone(),
            )),
            prefix: settings.prefix.clone(),
        }
    }

    /// The key of a blob, under the vault's prefix.
    pub fn blob_key(&self, digest: &Sha256) -> String {
        let hex = digest.to_hex();
        format!("{}blobs/sha256/{}/{hex}", self.prefix, &hex[..2])
    }

    /// Every key under the vault's prefix followed by `under` (`blobs/`, `tmp/`, `trash/`).
    pub fn keys(&self, under: &str) -> Result<Vec<String>, String> {
        let prefix = format!("{}{under}", self.prefix);
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..100_000 {
            let page = self
                .client
                .list(&prefix, after.as_deref())
                .map_err(|e| e.to_string())?;
            out.extend(page.objects.into_iter().map(|o| o.key));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        Ok(out)
    }

    pub fn put(&self, key: &str, bytes: &[u8]) -> Result<(), String> {
        self.client.put(key, bytes).map_err(|e| e.to_string())
    }

    pub fn delete(&self, key: &str) -> Result<(), String> {
        self.client.delete(key).map_err(|e| e.to_string())
    }

    /// The ETag of the object at `key` (S3 ends it with `-N` for an object made of N parts).
    pub fn etag(&self, key: &str) -> Result<Option<String>, String> {
        let found = self.client.head(key).map_err(|e| e.to_string())?;
        Ok(found.map(|object| object.etag))
    }

    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        match self
            .client
            .get(key, None, None)
            .map_err(|e| e.to_string())?
        {
            None => Ok(None),
            Some((_, mut reader)) => {
                let mut bytes = Vec::new();
                reader.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
                Ok(Some(bytes))
            }
        }
    }
}

#[derive(Debug)]
pub(crate) struct S3Blobs {
    client: Arc<S3Client>,
    prefix: String,
    /// How the service checks the parts of an upload (asked at start).
    part_check: BodyCheck,
    copy_part_bytes: u64,
}

fn io_error(e: S3Error) -> io::Error {
    io::Error::other(e.to_string())
}

impl S3Blobs {
    /// Check that the bucket answers to these credentials, for reading and writing, and sweep
    /// temporary objects a dead process left; the error names the endpoint, the reason and what
    /// to do.
    pub(crate) async fn open(settings: &S3Settings) -> Result<S3Blobs, String> {
        let client = Arc::new(S3Client::new(
            settings.endpoint.clone(),
            settings.bucket.clone(),
            settings.credentials.clone(),
        ));
        let mut blobs = S3Blobs {
            client,
            prefix: settings.prefix.clone(),
            part_check: BodyCheck::SignedSha256,
            copy_part_bytes: settings.copy_part_bytes,
        };
        // The caller names the vault; this says what the service answered and what to do.
        let refused = |e: S3Error| format!("{e}; {}", e.hint());
        let mut name = [0u8; 8];
        getrandom::getrandom(&mut name).map_err(|e| e.to_string())?;
        let probe = format!("{}tmp/probe-{}", blobs.prefix, lower_hex(&name));
        let tmp = format!("{}tmp/", blobs.prefix);
        let (swept, part_check) = blobs
            .call(move |c| {
                let page = c.list(&tmp, None)?;
                c.put(&probe, b"slipway")?;
                c.delete(&probe)?;
                let part_check = upload::part_check(c, &probe)?;
                let cutoff = jiff::Timestamp::now() - STALE_UPLOAD;
                let mut swept = 0;
                for object in page.objects {
                    let stale = object
                        .last_modified
                        .parse::<jiff::Timestamp>()
                        .is_ok_and(|t| t < cutoff);
                    if stale {
                        tracing::info!(key = %object.key, "removing an unfinished upload");
                        c.delete(&object.key)?;
                        swept += 1;
                    }
                }
                Ok((swept, part_check))
            })
            .await
            .map_err(refused)?;
        blobs.part_check = part_check;
        tracing::info!(vault = %settings.describe(), swept, ?part_check, "vault on S3 ready");
        Ok(blobs)
    }

    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&S3Client) -> Result<T, S3Error> + Send + 'static,
    ) -> Result<T, S3Error> {
        let client = self.client.clone();
        match tokio::task::spawn_blocking(move || f(&client)).await {
            Ok(result) => result,
            Err(e) => Err(S3Error::Unreachable {
                endpoint: self.client.endpoint.to_string(),
                reason: format!("the call's thread failed: {e}"),
            }),
        }
    }

    async fn io<T: Send + 'static>(
        &self,
        f: impl FnOnce(&S3Client) -> Result<T, S3Error> + Send + 'static,
    ) -> io::Result<T> {
        self.call(f).await.map_err(io_error)
    }

    /// The key of a blob: built from the digest's hexadecimal form only.
    pub(crate) fn key(&self, digest: &Sha256) -> String {
        let hex = digest.to_hex();
        format!("{}blobs/sha256/{}/{hex}", self.prefix, &hex[..2])
    }

    fn trash_key(&self, digest: &Sha256) -> String {
        format!("{}trash/{}", self.prefix, digest.to_hex())
    }

    pub(crate) async fn receive<S, E>(
        &self,
        body: S,
        limit: u64,
    ) -> Result<(StagedObject, Counted), UploadError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut name = [0u8; 16];
        getrandom::getrandom(&mut name).map_err(|e| UploadError::Io(io::Error::other(e)))?;
        let key = format!("{}tmp/{}.part", self.prefix, lower_hex(&name));
        upload::receive(self.client.clone(), key, self.part_check, body, limit).await
    }

    /// Copy a verified upload to its digest's key now, before the write transaction (the slow
    /// part of putting it in place: a copy of the whole object, in parts when it is large), and
    /// note the copy's identity for [`S3Blobs::link`]. The temporary key stays until the link.
    /// Until the transaction records it, the copy is an unrecorded object garbage collection
    /// leaves alone while it is younger than its grace (`VaultConfig::orphan_grace`).
    pub(crate) async fn copy_ahead(
        &self,
        staged: &mut StagedObject,
        digest: &Sha256,
    ) -> io::Result<()> {
        let (from, to, size) = (staged.key.clone(), self.key(digest), staged.size);
        let part_bytes = self.copy_part_bytes;
        let copied = self
            .io(move |c| {
                copy::copy_object(c, &from, &to, size, part_bytes)?;
                c.head(&to)
            })
            .await?;
        staged.copied = copied.map(|identity| (*digest, identity));
        Ok(())
    }

    /// Put a verified upload in place under its digest, inside the write transaction. When
    /// [`S3Blobs::copy_ahead`] copied it already and the object at the key is still that copy
    /// (same size and ETag), nothing is copied; otherwise (no copy ahead, or garbage collection
    /// or anyone else removed or replaced it since) it is copied now, from the temporary key.
    /// Then the temporary key goes.
    pub(crate) async fn link(&self, staged: StagedObject, digest: &Sha256) -> io::Result<()> {
        let (from, to, size) = (staged.key.clone(), self.key(digest), staged.size);
        let ahead = staged
            .copied
            .as_ref()
            .filter(|(copied_to, identity)| copied_to == digest && !identity.etag.is_empty())
            .map(|(_, identity)| identity.clone());
        let part_bytes = self.copy_part_bytes;
        self.io(move |c| {
            if let Some(ahead) = ahead {
                let still = c.head(&to)?;
                if still.is_some_and(|now| now.size == size && now.etag == ahead.etag) {
                    return Ok(());
                }
                tracing::info!(key = %to, "the copy made before the transaction is gone or changed: copying again");
            }
            copy::copy_object(c, &from, &to, size, part_bytes)
        })
        .await?;
        // Dropping it deletes the temporary key.
        drop(staged);
        Ok(())
    }

    /// Delete an upload that will not be linked, now.
    pub(crate) async fn discard(&self, staged: StagedObject) {
        let key = staged.key.clone();
        staged.forget();
        let deleting = key.clone();
        if let Err(e) = self.io(move |c| c.delete(&deleting)).await {
            tracing::warn!(%key, error = %e, "cannot delete a refused upload");
        }
    }

    /// The identity of a blob's object; `None` when it is missing.
    pub(crate) async fn stat(&self, digest: &Sha256) -> io::Result<Option<ObjectIdentity>> {
        let key = self.key(digest);
        self.io(move |c| c.head(&key)).await
    }

    /// Stream `len` bytes of a blob from `first`, only while it is still the object verified
    /// (`identity`'s ETag); a blob changed since answers an error before the first byte.
    pub(crate) async fn serve(
        &self,
        digest: &Sha256,
        identity: &ObjectIdentity,
        first: u64,
        len: u64,
    ) -> io::Result<impl Stream<Item = io::Result<Bytes>> + Send> {
        let (key, etag) = (self.key(digest), identity.etag.clone());
        let range = (len > 0).then(|| (first, first + len - 1));
        let reader = if len == 0 {
            None
        } else {
            let got = self
                .io(move |c| c.get(&key, range, (!etag.is_empty()).then_some(etag.as_str())))
                .await?;
            match got {
                Some((_, reader)) => Some(reader),
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        "the blob's object disappeared",
                    ))
                }
            }
        };
        let reader: Box<dyn Read + Send + Sync> = reader.unwrap_or_else(|| Box::new(io::empty()));
        Ok(verified::serve_reader(Ok(reader), len))
    }

    /// Read the whole object and hash it against its digest; remember it as verified when it
    /// matches.
    pub(crate) async fn check(
        &self,
        verified: &VerifiedFiles,
        digest: &Sha256,
    ) -> io::Result<Check> {
        let key = self.key(digest);
        let found = self
            .io(move |c| {
                let Some((identity, mut reader)) = c.get(&key, None, None)? else {
                    return Ok(None);
                };
                let mut hasher = sha2::Sha256::new();
                let mut buffer = vec![0u8; HASH_CHUNK];
                let mut size = 0u64;
                loop {
                    let n = match reader.read(&mut buffer) {
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            return Err(S3Error::Unreachable {
                                endpoint: c.endpoint.to_string(),
                                reason: format!("reading {key} stopped: {e}"),
                            })
                        }
                    };
                    if n == 0 {
                        break;
                    }
                    size += n as u64;
                    hasher.update(&buffer[..n]);
                }
                Ok(Some((
                    Sha256::from_bytes(hasher.finalize().into()),
                    size,
                    identity,
                )))
            })
            .await?;
        Ok(match found {
            None => {
                verified.forget(digest);
                Check::Missing
            }
            Some((actual, size, identity)) if actual == *digest && size == identity.size => {
                verified.remember_object(*digest, identity);
                Check::Intact { size }
            }
            Some((actual, size, _)) => {
                verified.forget(digest);
                Check::Corrupt { actual, size }
            }
        })
    }

    /// Move a blob aside (copy to the trash, delete); `false` when it was already missing.
    pub(crate) async fn trash(&self, digest: &Sha256) -> io::Result<bool> {
        let (key, trash) = (self.key(digest), self.trash_key(digest));
        let part_bytes = self.copy_part_bytes;
        self.io(move |c| {
            let Some(object) = c.head(&key)? else {
                return Ok(false);
            };
            match copy::copy_object(c, &key, &trash, object.size, part_bytes) {
                Ok(()) => {}
                Err(e) if e.code() == Some("NoSuchKey") || e.status() == Some(404) => {
                    return Ok(false)
                }
                Err(e) => return Err(e),
            }
            c.delete(&key)?;
            Ok(true)
        })
        .await
    }

    pub(crate) async fn untrash(&self, digest: &Sha256) -> io::Result<()> {
        let (key, trash) = (self.key(digest), self.trash_key(digest));
        let part_bytes = self.copy_part_bytes;
        self.io(move |c| {
            let size = c.head(&trash)?.map_or(0, |object| object.size);
            copy::copy_object(c, &trash, &key, size, part_bytes)?;
            c.delete(&trash)
        })
        .await
    }

    pub(crate) async fn purge_trashed(&self, digest: &Sha256) -> io::Result<()> {
        let trash = self.trash_key(digest);
        self.io(move |c| c.delete(&trash)).await
    }

    pub(crate) async fn trashed(&self) -> io::Result<Vec<Sha256>> {
        let listed = self.digests_under(format!("{}trash/", self.prefix)).await?;
        Ok(listed.into_iter().map(|blob| blob.digest).collect())
    }

    /// Every blob object present, with when it was last written (S3's `LastModified`).
    pub(crate) async fn files(&self) -> io::Result<Vec<BlobFile>> {
        self.digests_under(format!("{}blobs/sha256/", self.prefix))
            .await
    }

    pub(crate) async fn remove_orphan(&self, digest: &Sha256) -> io::Result<()> {
        let key = self.key(digest);
        self.io(move |c| c.delete(&key)).await
    }

    /// Every key under `prefix` whose last segment is a digest, with its `LastModified`, page
    /// after page.
    async fn digests_under(&self, prefix: String) -> io::Result<Vec<BlobFile>> {
        self.io(move |c| {
            let mut out = Vec::new();
            let mut after: Option<String> = None;
            // Bounded: each page moves the listing forward; a service that repeats a token is
            // refused instead of looped on.
            for _ in 0..1_000_000 {
                let page = c.list(&prefix, after.as_deref())?;
                out.extend(page.objects.iter().filter_map(|o| {
                    let digest = o.key.rsplit('/').next()?;
                    Some(BlobFile {
                        digest: Sha256::parse(digest).ok()?,
                        written: o.last_modified.parse().ok(),
                    })
                }));
                match page.next {
                    Some(next) if after.as_deref() == Some(next.as_str()) => {
                        return Err(S3Error::BadAnswer {
                            endpoint: c.endpoint.to_string(),
                            action: format!("listing {prefix}"),
                            reason: "the same continuation token twice".into(),
                        })
                    }
                    Some(next) => after = Some(next),
                    None => return Ok(out),
                }
            }
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    const KEYS: [(&str, &str); 3] = [
        ("SLIPWAY_S3_ENDPOINT", "http://127.0.0.1:3900"),
        ("SLIPWAY_S3_ACCESS_KEY_ID", "GK1"),
        ("SLIPWAY_S3_SECRET_ACCESS_KEY", "s"),
    ];

    #[test]
    fn a_vault_url_names_a_bucket_and_a_prefix() {
        let s = S3Settings::parse("s3://slipway/prod/vault/", env(&KEYS)).unwrap();
        assert_eq!(s.bucket, "slipway");
        assert_eq!(s.prefix, "prod/vault/");
        assert_eq!(s.credentials.region, "us-east-1");
        assert_eq!(
            s.describe(),
            "s3://slipway/prod/vault at http://127.0.0.1:3900"
        );
        let s = S3Settings::parse("s3://slipway", env(&KEYS)).unwrap();
        assert_eq!(s.prefix, "");
    }

    #[test]
    fn bad_vault_urls_say_what_is_wrong() {
        for (url, says) in [
            ("/var/lib/vault", "is not s3://"),
            ("s3://UPPER/x", "not an S3 bucket name"),
            ("s3://ab/x", "not an S3 bucket name"),
            ("s3://bucket/../x", "prefix"),
            ("s3://bucket/a//b", "prefix"),
            ("s3://bucket/a b", "prefix"),
        ] {
            let e = S3Settings::parse(url, env(&KEYS)).unwrap_err();
            assert!(e.contains(says), "{url}: {e}");
        }
        let e = S3Settings::parse("s3://bucket/x", env(&KEYS[..1])).unwrap_err();
        assert!(e.contains("SLIPWAY_S3_ACCESS_KEY_ID"), "{e}");
        let e = S3Settings::parse(
            "s3://bucket/x",
            env(&[("SLIPWAY_S3_ENDPOINT", "127.0.0.1:3900"), KEYS[1], KEYS[2]]),
        )
        .unwrap_err();
        assert!(e.contains("SLIPWAY_S3_ENDPOINT"), "{e}");
    }

    #[test]
    fn a_copy_part_size_is_one_s3_takes() {
        let with = |size: &str| {
            let mut vars = KEYS.to_vec();
            vars.push(("SLIPWAY_S3_COPY_PART_SIZE", size));
            S3Settings::parse("s3://bucket/x", env(&vars))
        };
        assert_eq!(
            S3Settings::parse("s3://bucket/x", env(&KEYS))
                .unwrap()
                .copy_part_bytes,
            4 << 30
        );
        assert_eq!(with("5M").unwrap().copy_part_bytes, 5 << 20);
        assert_eq!(with("5G").unwrap().copy_part_bytes, 5 << 30);
        for bad in ["4M", "6G", "lots", "0"] {
            let e = with(bad).unwrap_err();
            assert!(
                e.contains("SLIPWAY_S3_COPY_PART_SIZE") && e.contains("5M to 5G"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn without_an_endpoint_the_regions_aws_endpoint_is_used() {
        let s = S3Settings::parse(
            "s3://bucket",
            env(&[("AWS_REGION", "eu-west-3"), KEYS[1], KEYS[2]]),
        )
        .unwrap();
        assert_eq!(s.endpoint.base, "https://s3.eu-west-3.amazonaws.com");
    }

    #[test]
    fn blob_keys_are_built_from_the_digest_only() {
        let blobs = S3Blobs {
            client: Arc::new(S3Client::new(
                Endpoint::parse("http://127.0.0.1:1").unwrap(),
                "b".into(),
                sigv4::Credentials {
                    access_key: "a".into(),
                    secret_key: "s".into(),
                    region: "r".into(),
                },
            )),
            prefix: "p/".into(),
            part_check: BodyCheck::SignedSha256,
            copy_part_bytes: copy::DEFAULT_PART_BYTES,
        };
        let d = Sha256::of(b"x");
        let hex = d.to_hex();
        assert_eq!(blobs.key(&d), format!("p/blobs/sha256/{}/{hex}", &hex[..2]));
        assert_eq!(blobs.trash_key(&d), format!("p/trash/{hex}"));
    }
}
