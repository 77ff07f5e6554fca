//! The evidence bundle written without holding it: its large sections go to temporary files as
//! they are made, hashed on the way, and the archive is read out of them for the response.
//!
//! The manifest, which names every file's size and SHA-256, comes second in the archive (see
//! docs/evidence.md), so no content byte can be sent before all of it is known: the sections are
//! spooled first, then [`archive`] frames them (`slipway_core::evidence::frame`) and streams the
//! frame and the spooled bytes in archive order. Memory stays what one page of deployments
//! takes, whatever the release's history; the temporary files are unlinked from the start
//! (`tempfile::tempfile`), so nothing is left behind when the server stops mid-export.
//! Nothing here reads the store or decides what a bundle holds.

use std::io::SeekFrom;
use std::pin::Pin;

use serde::Serialize;
use sha2::Digest as _;
use slipway_core::evidence::{self as bundle, Export, Member};
use slipway_core::signing::SigningKey;
use slipway_core::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufWriter};

use crate::ServiceError;

/// A file of the bundle written as it is made: a temporary file, its length and its SHA-256
/// so far.
pub(crate) struct SpoolFile {
    file: BufWriter<tokio::fs::File>,
    hasher: sha2::Sha256,
    size: u64,
}

impl SpoolFile {
    pub(crate) async fn new() -> Result<SpoolFile, ServiceError> {
        let file = tokio::task::spawn_blocking(tempfile::tempfile)
            .await
            .map_err(|e| spool_failed(std::io::Error::other(e)))?
            .map_err(spool_failed)?;
        Ok(SpoolFile {
            file: BufWriter::with_capacity(1 << 16, tokio::fs::File::from_std(file)),
            hasher: sha2::Sha256::new(),
            size: 0,
        })
    }

    pub(crate) async fn write(&mut self, bytes: &[u8]) -> Result<(), ServiceError> {
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        self.file.write_all(bytes).await.map_err(spool_failed)
    }

    /// Append every byte of `other` (finished as it stands), read back a block at a time.
    pub(crate) async fn append(&mut self, other: SpoolFile) -> Result<(), ServiceError> {
        let (mut file, _, _) = other.finish().await?;
        let mut block = vec![0u8; 1 << 16];
        loop {
            let n = file.read(&mut block).await.map_err(spool_failed)?;
            if n == 0 {
                return Ok(());
            }
            self.write(&block[..n]).await?;
        }
    }

    /// The file rewound for reading.
    #[cfg(test)]
    pub(crate) async fn into_reader(self) -> Result<tokio::fs::File, ServiceError> {
        Ok(self.finish().await?.0)
    }

    /// The file rewound for reading, with its length and digest.
    async fn finish(mut self) -> Result<(tokio::fs::File, u64, Sha256), ServiceError> {
        self.file.flush().await.map_err(spool_failed)?;
        let mut file = self.file.into_inner();
        file.seek(SeekFrom::Start(0)).await.map_err(spool_failed)?;
        let digest = Sha256::from_bytes(self.hasher.finalize().into());
        Ok((file, self.size, digest))
    }
}

fn spool_failed(e: std::io::Error) -> ServiceError {
    ServiceError::Unavailable {
        message: format!("the evidence bundle could not be written to a temporary file: {e}"),
        hint: "free space in the server's temporary folder (TMPDIR), then export again".into(),
    }
}

/// The content of one file of the bundle: small ones are held, large ones spooled.
pub(crate) enum Content {
    Held(Vec<u8>),
    Spooled(Box<SpoolFile>),
}

/// One content file of the bundle, in archive order.
pub(crate) struct Part {
    pub(crate) path: String,
    pub(crate) describes: String,
    pub(crate) content: Content,
}

/// The archive's bytes as a reader, and its length (known before the first byte is sent).
pub(crate) struct Archive {
    pub(crate) size: u64,
    pub(crate) reader: Pin<Box<dyn AsyncRead + Send>>,
}

/// Frame `parts` with the README, the signed manifest, the key and the sums, and chain the
/// frame and the parts' bytes into one reader, in archive order.
pub(crate) async fn archive(
    export: &Export,
    parts: Vec<Part>,
    key: &SigningKey,
) -> Result<Archive, ServiceError> {
    let mut members = Vec::with_capacity(parts.len());
    let mut readers: Vec<Pin<Box<dyn AsyncRead + Send>>> = Vec::with_capacity(parts.len());
    for part in parts {
        match part.content {
            Content::Held(bytes) => {
                members.push(Member::of(&part.path, &part.describes, &bytes));
                readers.push(Box::pin(std::io::Cursor::new(bytes)));
            }
            Content::Spooled(spool) => {
                let (file, size, sha256) = (*spool).finish().await?;
                members.push(Member {
                    path: part.path,
                    describes: part.describes,
                    size,
                    sha256,
                });
                readers.push(Box::pin(file));
            }
        }
    }
    let frame = bundle::frame(export, &members, key);
    let size = frame.archive_size();
    let mut reader: Pin<Box<dyn AsyncRead + Send>> = Box::pin(std::io::Cursor::new(frame.head));
    for ((member, header), content) in members.iter().zip(frame.headers).zip(readers) {
        let padding = vec![0u8; bundle::tar::padding(member.size)];
        reader = Box::pin(
            reader
                .chain(std::io::Cursor::new(header.to_vec()))
                .chain(content)
                .chain(std::io::Cursor::new(padding)),
        );
    }
    reader = Box::pin(reader.chain(std::io::Cursor::new(bundle::tar::END.to_vec())));
    Ok(Archive { size, reader })
}

/// A JSON array spooled one element at a time, byte for byte as `serde_json::to_vec_pretty`
/// writes the whole array, and a newline after it.
pub(crate) struct JsonArray {
    spool: SpoolFile,
    empty: bool,
}

impl JsonArray {
    pub(crate) async fn new() -> Result<JsonArray, ServiceError> {
        let mut spool = SpoolFile::new().await?;
        spool.write(b"[").await?;
        Ok(JsonArray { spool, empty: true })
    }

    pub(crate) async fn push(&mut self, value: &impl Serialize) -> Result<(), ServiceError> {
        let separator: &[u8] = if self.empty { b"\n" } else { b",\n" };
        self.empty = false;
        self.spool.write(separator).await?;
        self.spool.write(&array_element(value, 1)).await
    }

    pub(crate) async fn finish(mut self) -> Result<SpoolFile, ServiceError> {
        let end: &[u8] = if self.empty { b"]\n" } else { b"\n]\n" };
        self.spool.write(end).await?;
        Ok(self.spool)
    }
}

/// The elements of a pretty-printed array that is the last field of a pretty-printed object,
/// spooled one at a time: with [`JsonObject`], byte for byte what `serde_json::to_vec_pretty`
/// writes for the whole object. The elements may be written to a spool of their own and
/// appended to the object's once complete ([`JsonObject::append_array`]).
pub(crate) struct JsonFieldElements {
    spool: SpoolFile,
    empty: bool,
}

impl JsonFieldElements {
    pub(crate) async fn new() -> Result<JsonFieldElements, ServiceError> {
        Ok(JsonFieldElements {
            spool: SpoolFile::new().await?,
            empty: true,
        })
    }

    pub(crate) async fn push(&mut self, value: &impl Serialize) -> Result<(), ServiceError> {
        push_field_element(&mut self.spool, &mut self.empty, value).await
    }
}

async fn push_field_element(
    spool: &mut SpoolFile,
    empty: &mut bool,
    value: &impl Serialize,
) -> Result<(), ServiceError> {
    let separator: &[u8] = if *empty { b"\n" } else { b",\n" };
    *empty = false;
    spool.write(separator).await?;
    spool.write(&array_element(value, 2)).await
}

/// A pretty-printed JSON object whose fields after the first ones (held, `head`) are long
/// arrays, written one element at a time, in order: byte for byte what
/// `serde_json::to_vec_pretty` writes for the whole object, and a newline after it.
pub(crate) struct JsonObject {
    spool: SpoolFile,
    /// The array being written, and whether it has no element yet.
    open: Option<bool>,
}

impl JsonObject {
    /// `head`: an object of the fields before the arrays (serialised as a JSON object).
    pub(crate) async fn new(head: &impl Serialize) -> Result<JsonObject, ServiceError> {
        let pretty = serde_json::to_vec_pretty(head).expect("evidence records always serialise");
        let fields = pretty
            .strip_suffix(b"\n}")
            .filter(|f| f.len() > 1)
            .unwrap_or(b"{");
        let mut spool = SpoolFile::new().await?;
        spool.write(fields).await?;
        Ok(JsonObject { spool, open: None })
    }

    /// Close the array being written, if any, and open the field `name`.
    pub(crate) async fn open_array(&mut self, name: &str) -> Result<(), ServiceError> {
        self.close_array().await?;
        let separator: &[u8] = if self.spool.size > 1 {
            b",\n  "
        } else {
            b"\n  "
        };
        self.spool.write(separator).await?;
        let key = serde_json::to_vec(name).expect("a field name always serialises");
        self.spool.write(&key).await?;
        self.spool.write(b": [").await?;
        self.open = Some(true);
        Ok(())
    }

    /// One element of the open array.
    pub(crate) async fn push(&mut self, value: &impl Serialize) -> Result<(), ServiceError> {
        let empty = self
            .open
            .as_mut()
            .expect("an array is opened before its elements are pushed");
        push_field_element(&mut self.spool, empty, value).await
    }

    /// The field `name`, an array whose elements were spooled apart.
    pub(crate) async fn append_array(
        &mut self,
        name: &str,
        elements: JsonFieldElements,
    ) -> Result<(), ServiceError> {
        self.open_array(name).await?;
        self.open = Some(elements.empty);
        self.spool.append(elements.spool).await
    }

    async fn close_array(&mut self) -> Result<(), ServiceError> {
        match self.open.take() {
            Some(true) => self.spool.write(b"]").await,
            Some(false) => self.spool.write(b"\n  ]").await,
            None => Ok(()),
        }
    }

    pub(crate) async fn finish(mut self) -> Result<SpoolFile, ServiceError> {
        self.close_array().await?;
        let end: &[u8] = if self.spool.size > 1 {
            b"\n}\n"
        } else {
            b"}\n"
        };
        self.spool.write(end).await?;
        Ok(self.spool)
    }
}

/// `value` pretty-printed as an element of a pretty-printed array `depth` levels deep: every
/// line indented two spaces per level. (JSON text never holds a raw newline inside a string, so
/// lines are lines.)
fn array_element(value: &impl Serialize, depth: usize) -> Vec<u8> {
    let pretty = serde_json::to_vec_pretty(value).expect("evidence records always serialise");
    let indent = b"  ".repeat(depth);
    let mut out = Vec::with_capacity(pretty.len() + pretty.len() / 8 + indent.len());
    out.extend_from_slice(&indent);
    for byte in pretty {
        out.push(byte);
        if byte == b'\n' {
            out.extend_from_slice(&indent);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn spooled(values: &[serde_json::Value]) -> Vec<u8> {
        let mut array = JsonArray::new().await.unwrap();
        for v in values {
            array.push(v).await.unwrap();
        }
        let (mut file, size, digest) = array.finish().await.unwrap().finish().await.unwrap();
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).await.unwrap();
        assert_eq!(size, bytes.len() as u64);
        assert_eq!(digest, Sha256::of(&bytes));
        bytes
    }

    #[tokio::test]
    async fn an_array_spooled_element_by_element_is_the_array_pretty_printed_whole() {
        let values = [
            serde_json::json!({ "deployment": { "id": 1, "runs": [1, 2], "failure": null },
                "logs": [{ "line": "a \"quoted\"\nline\twith escapes" }], "tasks": [] }),
            serde_json::json!([]),
            serde_json::json!({}),
            serde_json::json!("plain"),
        ];
        for n in 0..=values.len() {
            let mut whole = serde_json::to_vec_pretty(&values[..n]).unwrap();
            whole.push(b'\n');
            assert_eq!(
                String::from_utf8(spooled(&values[..n]).await).unwrap(),
                String::from_utf8(whole).unwrap(),
                "{n} elements"
            );
        }
    }

    #[tokio::test]
    async fn a_streamed_archive_is_the_bundle_assembled_whole() {
        let key = SigningKey::from_seed([3; 32]);
        let export = Export {
            project: "pets".into(),
            release: "1.0.0".into(),
            exported_at: "2026-01-01T00:00:05Z".into(),
            exported_at_unix: 1_767_225_605,
            exported_by: "alice".into(),
            software: "slipway test".into(),
            audit_head: slipway_core::audit::ChainHead {
                seq: 0,
                hash: slipway_core::audit::GENESIS.into(),
            },
        };
        // Sizes around the tar block, so padding of every length shows.
        let contents: Vec<(&'static str, Vec<u8>)> = vec![
            ("summary.html", vec![b's'; 511]),
            ("release.json", vec![b'r'; 512]),
            ("deployments.json", vec![b'd'; 70_001]),
            ("audit.json", Vec::new()),
        ];
        let mut parts = Vec::new();
        for (i, (path, bytes)) in contents.iter().enumerate() {
            let content = if i % 2 == 0 {
                let mut spool = SpoolFile::new().await.unwrap();
                for chunk in bytes.chunks(1000) {
                    spool.write(chunk).await.unwrap();
                }
                Content::Spooled(Box::new(spool))
            } else {
                Content::Held(bytes.clone())
            };
            parts.push(Part {
                path: (*path).into(),
                describes: "test content".into(),
                content,
            });
        }
        let mut archive = archive(&export, parts, &key).await.unwrap();
        let mut streamed = Vec::new();
        archive.reader.read_to_end(&mut streamed).await.unwrap();
        let sections = contents
            .into_iter()
            .map(|(path, bytes)| bundle::Section {
                path,
                describes: "test content",
                bytes,
            })
            .collect();
        let whole = bundle::assemble(&export, sections, &key);
        assert_eq!(archive.size, whole.len() as u64);
        assert!(
            streamed == whole,
            "the streamed archive differs from the whole one"
        );
    }
}
