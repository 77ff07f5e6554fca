//! Moving artifact bytes between a file and the server: hashing (SHA-256) or counting (size and
//! CRC-32) while reading, large copies, write-behind to disk. It never decides what to send; the
//! `artifact` verbs do.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use sha2::Digest as _;
use slipway_core::Sha256;

use crate::error::{Exit, Failure};

pub(crate) fn local_io(what: &str, path: &Path, e: io::Error) -> Failure {
    Failure::new(
        Exit::Failed,
        format!("error: cannot {what} {}: {e}", path.display()),
    )
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    response: ureq::Response,
) -> Result<T, Failure> {
    let text = response.into_string().map_err(|e| {
        Failure::new(
            Exit::Failed,
            format!("error: reading the server's answer: {e}"),
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        Failure::new(
            Exit::Failed,
            format!("error: the server answered something this CLI does not read: {e}"),
        )
    })
}

/// Hashes whatever passes through it: the file is hashed while it is sent, in one read.
pub(crate) struct HashingReader<R> {
    pub(crate) inner: R,
    pub(crate) hasher: sha2::Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Counts what passes through it, its size and CRC-32: what a push sends is checked against the
/// server's count of what it received (ARCHITECTURE.md, "Choices": a SHA-256 here would double
/// the CPU of a push and check nothing more against a damaged transfer).
pub(crate) struct CountingReader<R> {
    pub(crate) inner: R,
    pub(crate) crc: crc32fast::Hasher,
    pub(crate) size: u64,
}

impl<R> CountingReader<R> {
    pub(crate) fn new(inner: R) -> CountingReader<R> {
        CountingReader {
            inner,
            crc: crc32fast::Hasher::new(),
            size: 0,
        }
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        self.size += n as u64;
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
pub(crate) fn write_behind(reader: &mut impl Read, file: File) -> io::Result<io::Result<()>> {
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

pub(crate) fn hash_file(path: &Path) -> Result<Sha256, Failure> {
    let file = File::open(path).map_err(|e| local_io("open", path, e))?;
    let mut reader = HashingReader {
        inner: BufReader::with_capacity(1 << 20, file),
        hasher: sha2::Sha256::new(),
    };
    copy_large(&mut reader, &mut io::sink()).map_err(|e| local_io("read", path, e))?;
    Ok(Sha256::from_bytes(reader.hasher.finalize().into()))
}
