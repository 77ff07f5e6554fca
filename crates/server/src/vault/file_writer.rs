//! Writing an upload's bytes to its file, at the disk's speed and in bounded memory.
//!
//! Where the file system takes it, the bytes go straight to the disk (`O_DIRECT`): the writer
//! copies them into aligned buffers of [`BUFFER_BYTES`] and [`WRITES_IN_FLIGHT`] threads write
//! them at their offsets, so the disk always has a write in hand while the next buffer fills.
//! The kernel then neither copies them into its page cache nor writes them back later: on a
//! 2-core server that copy was a fifth of a push's CPU (BENCHMARKS.md), against about a twentieth
//! for the copy into the aligned buffers. The last bytes, which do not fill an aligned block,
//! go through the page cache. Where `O_DIRECT` is refused (tmpfs, some network file systems, a
//! disk that wants another alignment), every byte goes through the page cache, whose write-back
//! is started every [`WRITE_BACK_EVERY`] bytes so the final fsync has little left to do. Either
//! way [`FileWriter::finish`] fsyncs the file; this module never names, renames or removes it.

use std::fs::File;
use std::io::{self, IoSlice, Write as _};
use std::os::unix::fs::FileExt as _;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;

/// Bytes per direct write: large enough that a write costs little beside its bytes.
const BUFFER_BYTES: usize = 8 << 20;
/// Direct writes on their way at once; memory is (this + 1) × [`BUFFER_BYTES`].
const WRITES_IN_FLIGHT: usize = 2;
/// What `O_DIRECT` asks of a buffer's address, a write's offset and its length (the largest
/// logical block size disks have).
const ALIGN: usize = 4096;
/// Through the page cache, the kernel's write-back is started every this many bytes.
const WRITE_BACK_EVERY: u64 = 8 << 20;

/// Writes a new file from its first byte to its last; [`FileWriter::finish`] makes it durable.
pub(crate) struct FileWriter {
    mode: Mode,
}

enum Mode {
    Direct(Direct),
    Buffered(Buffered),
}

impl FileWriter {
    /// Write `file` (new and empty) straight to the disk when its file system allows it, through
    /// the page cache otherwise.
    pub(crate) fn new(file: File) -> FileWriter {
        let mode = match direct_io::set(&file, true) {
            Ok(()) => Mode::Direct(Direct::start(file)),
            Err(_) => Mode::Buffered(Buffered::new(file)),
        };
        FileWriter { mode }
    }

    /// Through the page cache, whatever the file system (a file read back at once; tests of the
    /// fallback).
    pub(crate) fn buffered(file: File) -> FileWriter {
        FileWriter {
            mode: Mode::Buffered(Buffered::new(file)),
        }
    }

    /// Append `chunks`, in order.
    pub(crate) fn write(&mut self, chunks: &[Bytes]) -> io::Result<()> {
        match &mut self.mode {
            Mode::Direct(direct) => direct.write(chunks),
            Mode::Buffered(buffered) => buffered.write(chunks),
        }
    }

    /// Write what is left and fsync the file.
    pub(crate) fn finish(self) -> io::Result<()> {
        match self.mode {
            Mode::Direct(direct) => direct.finish(),
            Mode::Buffered(buffered) => buffered.file.sync_all(),
        }
    }
}

/// [`BUFFER_BYTES`] at an address aligned to [`ALIGN`], and how many of them are filled.
struct AlignedBuffer {
    memory: Vec<u8>,
    start: usize,
    filled: usize,
}

impl AlignedBuffer {
    fn new() -> AlignedBuffer {
        let memory = vec![0u8; BUFFER_BYTES + ALIGN];
        // A misaligned start (never seen for bytes) only makes the first direct write fall back
        // to the page cache.
        let start = memory.as_ptr().align_offset(ALIGN).min(ALIGN);
        AlignedBuffer {
            memory,
            start,
            filled: 0,
        }
    }

    /// Copy as much of `bytes` as fits; how many did.
    fn fill(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(BUFFER_BYTES - self.filled);
        let at = self.start + self.filled;
        self.memory[at..at + n].copy_from_slice(&bytes[..n]);
        self.filled += n;
        n
    }

    fn is_full(&self) -> bool {
        self.filled == BUFFER_BYTES
    }

    fn bytes(&self) -> &[u8] {
        &self.memory[self.start..self.start + self.filled]
    }
}

/// A full buffer and where it goes in the file.
struct Job {
    offset: u64,
    buffer: AlignedBuffer,
}

/// Straight to the disk: this thread fills aligned buffers, the I/O threads write them.
struct Direct {
    file: Arc<File>,
    filling: AlignedBuffer,
    /// Where `filling` starts in the file.
    offset: u64,
    /// Buffers written and handed back, ready to fill again.
    spare: Vec<AlignedBuffer>,
    allocated: usize,
    in_flight: usize,
    to_io: SyncSender<Job>,
    written: Receiver<io::Result<AlignedBuffer>>,
}

impl Direct {
    fn start(file: File) -> Direct {
        let file = Arc::new(file);
        let (to_io, jobs) = std::sync::mpsc::sync_channel::<Job>(WRITES_IN_FLIGHT);
        let (done, written) = std::sync::mpsc::channel();
        let jobs = Arc::new(Mutex::new(jobs));
        for _ in 0..WRITES_IN_FLIGHT {
            let (file, jobs, done) = (file.clone(), jobs.clone(), done.clone());
            // Not joined: they end when the writer drops its sender (an upload given up ends
            // without waiting for a write already on its way).
            std::thread::spawn(move || write_jobs(&file, &jobs, &done));
        }
        Direct {
            file,
            filling: AlignedBuffer::new(),
            offset: 0,
            spare: Vec::new(),
            allocated: 1,
            in_flight: 0,
            to_io,
            written,
        }
    }

    fn write(&mut self, chunks: &[Bytes]) -> io::Result<()> {
        for chunk in chunks {
            let mut rest: &[u8] = chunk;
            while !rest.is_empty() {
                let n = self.filling.fill(rest);
                rest = &rest[n..];
                if self.filling.is_full() {
                    self.hand_over()?;
                }
            }
        }
        Ok(())
    }

    /// Send the full buffer to the I/O threads and take an empty one: a spare, a new one while
    /// fewer than `WRITES_IN_FLIGHT + 1` exist, else the next one written.
    fn hand_over(&mut self) -> io::Result<()> {
        let next = match self.spare.pop() {
            Some(spare) => spare,
            None if self.allocated <= WRITES_IN_FLIGHT => {
                self.allocated += 1;
                AlignedBuffer::new()
            }
            None => self.next_written()?,
        };
        let full = std::mem::replace(&mut self.filling, next);
        let job = Job {
            offset: self.offset,
            buffer: full,
        };
        self.offset += BUFFER_BYTES as u64;
        self.to_io.send(job).map_err(|_| io_stopped())?;
        self.in_flight += 1;
        Ok(())
    }

    /// Wait for the oldest write on its way; its buffer, emptied.
    fn next_written(&mut self) -> io::Result<AlignedBuffer> {
        let mut buffer = self.written.recv().map_err(|_| io_stopped())??;
        self.in_flight -= 1;
        buffer.filled = 0;
        Ok(buffer)
    }

    fn finish(mut self) -> io::Result<()> {
        while self.in_flight > 0 {
            let buffer = self.next_written()?;
            self.spare.push(buffer);
        }
        let tail = self.filling.bytes();
        let aligned = tail.len() / ALIGN * ALIGN;
        write_at(&self.file, &tail[..aligned], self.offset)?;
        if aligned < tail.len() {
            // A length that is not a whole number of blocks goes through the page cache.
            direct_io::set(&self.file, false)?;
            self.file
                .write_all_at(&tail[aligned..], self.offset + aligned as u64)?;
        }
        self.file.sync_all()
    }
}

/// An I/O thread: write each job at its offset and hand its buffer back, until the writer is
/// gone (or cannot hear any more).
fn write_jobs(
    file: &File,
    jobs: &Mutex<Receiver<Job>>,
    done: &std::sync::mpsc::Sender<io::Result<AlignedBuffer>>,
) {
    loop {
        let job = match jobs.lock() {
            Ok(jobs) => jobs.recv(),
            Err(_) => return,
        };
        let Ok(Job { offset, buffer }) = job else {
            return;
        };
        let result = write_at(file, buffer.bytes(), offset).map(|()| buffer);
        if done.send(result).is_err() {
            return;
        }
    }
}

/// Write `bytes` at `offset`; when the disk refuses the direct write (`EINVAL`: an alignment it
/// does not take), the file goes through the page cache from then on and the write is retried.
fn write_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    match file.write_all_at(bytes, offset) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            direct_io::set(file, false)?;
            file.write_all_at(bytes, offset)
        }
        other => other,
    }
}

fn io_stopped() -> io::Error {
    io::Error::other("the upload's disk writes stopped")
}

/// Through the page cache: one `writev` per batch, the write-back started behind.
struct Buffered {
    file: File,
    written: u64,
    flushed_to: u64,
}

impl Buffered {
    fn new(file: File) -> Buffered {
        Buffered {
            file,
            written: 0,
            flushed_to: 0,
        }
    }

    fn write(&mut self, chunks: &[Bytes]) -> io::Result<()> {
        write_chunks(&mut self.file, chunks)?;
        self.written += chunks.iter().map(|c| c.len() as u64).sum::<u64>();
        if self.written - self.flushed_to >= WRITE_BACK_EVERY {
            write_back::start(&self.file, self.flushed_to, self.written - self.flushed_to);
            self.flushed_to = self.written;
        }
        Ok(())
    }
}

/// Write every chunk, a batch per system call when the kernel takes it whole.
fn write_chunks(file: &mut File, chunks: &[Bytes]) -> io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = chunks
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| IoSlice::new(c))
        .collect();
    let mut slices = &mut slices[..];
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Turning `O_DIRECT` on and off for an open file.
mod direct_io {
    use std::fs::File;
    use std::io;

    /// Set or clear `O_DIRECT`; an error when the file system does not take it.
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)] // fcntl(2) has no safe wrapper in std.
    pub(super) fn set(file: &File, on: bool) -> io::Result<()> {
        use std::os::fd::AsRawFd as _;
        let fd = file.as_raw_fd();
        // SAFETY: the descriptor stays open for both calls (borrowed from `file`); F_GETFL and
        // F_SETFL read and write no memory of ours.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        let wanted = if on {
            flags | libc::O_DIRECT
        } else {
            flags & !libc::O_DIRECT
        };
        // SAFETY: as above.
        if wanted != flags && unsafe { libc::fcntl(fd, libc::F_SETFL, wanted) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Elsewhere, always through the page cache.
    #[cfg(not(target_os = "linux"))]
    pub(super) fn set(_file: &File, on: bool) -> io::Result<()> {
        if on {
            Err(io::ErrorKind::Unsupported.into())
        } else {
            Ok(())
        }
    }
}

/// Starting the kernel's write-back of a range of a file without waiting for it.
mod write_back {
    /// Start writing `len` bytes of `file` from `offset` to the disk, and return at once: the
    /// pages are on their way when the final fsync comes, which then has little left to wait for.
    /// Only a hint: a failure here (a file system that does not take it) changes nothing, since
    /// the final fsync writes and reports whatever is left.
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)] // sync_file_range(2) has no safe wrapper in std or rustix.
    pub(super) fn start(file: &std::fs::File, offset: u64, len: u64) {
        use std::os::fd::AsRawFd as _;
        let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
            return;
        };
        // SAFETY: the descriptor stays open for the call (borrowed from `file`), and the call
        // reads or writes no memory of ours.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
        }
    }

    /// Elsewhere the final fsync does all the work.
    #[cfg(not(target_os = "linux"))]
    pub(super) fn start(_file: &std::fs::File, _offset: u64, _len: u64) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    /// Write `bytes` in chunks of `piece` bytes, batches of three chunks.
    fn write_in_pieces(mut writer: FileWriter, bytes: &[u8], piece: usize) {
        let chunks: Vec<Bytes> = bytes.chunks(piece).map(Bytes::copy_from_slice).collect();
        for batch in chunks.chunks(3) {
            writer.write(batch).unwrap();
        }
        writer.finish().unwrap();
    }

    #[test]
    fn every_byte_lands_in_order_whatever_the_sizes_and_the_path() {
        let dir = tempfile::tempdir().unwrap();
        // Empty, under one block, whole buffers, and whole buffers plus an unaligned tail, in
        // chunks that line up with neither blocks nor buffers.
        for len in [
            0,
            1,
            ALIGN - 1,
            ALIGN,
            BUFFER_BYTES,
            BUFFER_BYTES * (WRITES_IN_FLIGHT + 2) + ALIGN * 3 + 17,
        ] {
            let bytes = content(len);
            for direct in [true, false] {
                let path = dir.path().join(format!("{len}-{direct}"));
                let file = File::create_new(&path).unwrap();
                let writer = if direct {
                    FileWriter::new(file)
                } else {
                    FileWriter::buffered(file)
                };
                write_in_pieces(writer, &bytes, 1_000_003);
                assert!(
                    std::fs::read(&path).unwrap() == bytes,
                    "{len} bytes, direct {direct}"
                );
            }
        }
    }
}
