//! The tests of a JUnit report parsed while its upload streams in, kept in a temporary file
//! under the data folder until the upload is whole and the write transaction can take them.
//!
//! It exists so that parsing overlaps the upload without the store's one writer being held for
//! the upload's length: the parser writes here (bounded memory: a buffered file), the transaction
//! opens once the body is received and hashed, then reads the tests back in order. It never
//! touches the database. The format is private to one push: length-prefixed fields, no version.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use slipway_core::quality::{Attempt, BoundedText, ReportedTest, TestStatus};

/// The spool's read and write buffers: memory, not speed, is what a push is short of.
const SPOOL_BUFFER: usize = 64 * 1024;

/// Marks an absent optional field where a length would be.
const ABSENT: u32 = u32::MAX;

/// The spool being written by the parser's thread; removed when dropped unless read.
pub(crate) struct SpoolWriter {
    out: BufWriter<File>,
    file: SpoolFile,
    tests: u64,
}

/// The file itself: removed when dropped, whatever happened to the push.
struct SpoolFile {
    path: PathBuf,
}

impl Drop for SpoolFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The spooled tests, read back in the order they were written.
pub(crate) struct SpoolReader {
    input: BufReader<File>,
    left: u64,
    _file: SpoolFile,
}

impl SpoolWriter {
    /// A new spool in `dir` (the vault's temporary folder, on the data folder's disk).
    pub(crate) fn create(dir: &Path) -> io::Result<SpoolWriter> {
        let mut name = [0u8; 16];
        getrandom::getrandom(&mut name).map_err(io::Error::other)?;
        let path = dir.join(format!("{}.tests", slipway_core::digest::lower_hex(&name)));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(SpoolWriter {
            out: BufWriter::with_capacity(SPOOL_BUFFER, file),
            file: SpoolFile { path },
            tests: 0,
        })
    }

    pub(crate) fn push(&mut self, test: &ReportedTest) -> io::Result<()> {
        let out = &mut self.out;
        text(out, Some(&test.suite))?;
        text(out, test.classname.as_deref())?;
        text(out, Some(&test.name))?;
        text(out, test.explicit_id.as_deref())?;
        text(out, test.parameters.as_deref())?;
        text(out, test.file.as_deref())?;
        let attempts = u32::try_from(test.attempts.len()).map_err(io::Error::other)?;
        out.write_all(&attempts.to_le_bytes())?;
        for attempt in &test.attempts {
            out.write_all(&[status_byte(attempt.status)])?;
            bounded(out, attempt.message.as_ref())?;
            text(out, attempt.failure_type.as_deref())?;
            bounded(out, attempt.detail.as_ref())?;
            bounded(out, attempt.system_out.as_ref())?;
            bounded(out, attempt.system_err.as_ref())?;
            match attempt.duration_ms {
                Some(ms) => {
                    out.write_all(&[1])?;
                    out.write_all(&ms.to_le_bytes())?;
                }
                None => out.write_all(&[0])?,
            }
        }
        self.tests += 1;
        Ok(())
    }

    /// Everything written, ready to be read from its start.
    pub(crate) fn finish(self) -> io::Result<SpoolReader> {
        let SpoolWriter { out, file, tests } = self;
        let mut handle = out.into_inner().map_err(|e| e.into_error())?;
        io::Seek::seek(&mut handle, io::SeekFrom::Start(0))?;
        Ok(SpoolReader {
            input: BufReader::with_capacity(SPOOL_BUFFER, handle),
            left: tests,
            _file: file,
        })
    }
}

impl SpoolReader {
    /// Up to `most` tests, in the order they were written; none once all were read.
    pub(crate) fn next_batch(&mut self, most: usize) -> io::Result<Vec<ReportedTest>> {
        let count = usize::try_from(self.left).unwrap_or(usize::MAX).min(most);
        let mut tests = Vec::with_capacity(count);
        for _ in 0..count {
            tests.push(self.read_test()?);
        }
        self.left -= tests.len() as u64;
        Ok(tests)
    }

    fn read_test(&mut self) -> io::Result<ReportedTest> {
        let input = &mut self.input;
        let suite = read_text(input)?.unwrap_or_default();
        let classname = read_text(input)?;
        let name = read_text(input)?.unwrap_or_default();
        let explicit_id = read_text(input)?;
        let parameters = read_text(input)?;
        let file = read_text(input)?;
        let count = read_u32(input)?;
        let mut attempts = Vec::with_capacity(count.min(128) as usize);
        for _ in 0..count {
            let mut status = [0u8];
            input.read_exact(&mut status)?;
            let status = byte_status(status[0])?;
            let message = read_bounded(input)?;
            let failure_type = read_text(input)?;
            let detail = read_bounded(input)?;
            let system_out = read_bounded(input)?;
            let system_err = read_bounded(input)?;
            let mut flag = [0u8];
            input.read_exact(&mut flag)?;
            let duration_ms = if flag[0] == 1 {
                let mut ms = [0u8; 8];
                input.read_exact(&mut ms)?;
                Some(u64::from_le_bytes(ms))
            } else {
                None
            };
            attempts.push(Attempt {
                status,
                message,
                failure_type,
                detail,
                system_out,
                system_err,
                duration_ms,
            });
        }
        Ok(ReportedTest {
            suite,
            classname,
            name,
            explicit_id,
            parameters,
            file,
            attempts,
        })
    }
}

fn status_byte(status: TestStatus) -> u8 {
    match status {
        TestStatus::Passed => 0,
        TestStatus::Failed => 1,
        TestStatus::Errored => 2,
        TestStatus::Skipped => 3,
    }
}

fn byte_status(byte: u8) -> io::Result<TestStatus> {
    Ok(match byte {
        0 => TestStatus::Passed,
        1 => TestStatus::Failed,
        2 => TestStatus::Errored,
        3 => TestStatus::Skipped,
        other => return Err(damaged(&format!("status byte {other}"))),
    })
}

fn damaged(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the spool of parsed tests is damaged ({what})"),
    )
}

fn text(out: &mut impl Write, text: Option<&str>) -> io::Result<()> {
    match text {
        Some(text) => {
            let length = u32::try_from(text.len())
                .ok()
                .filter(|n| *n != ABSENT)
                .ok_or_else(|| damaged("a field longer than 4 GiB"))?;
            out.write_all(&length.to_le_bytes())?;
            out.write_all(text.as_bytes())
        }
        None => out.write_all(&ABSENT.to_le_bytes()),
    }
}

fn bounded(out: &mut impl Write, field: Option<&BoundedText>) -> io::Result<()> {
    text(out, field.map(|f| f.text.as_str()))?;
    if let Some(field) = field {
        out.write_all(&[u8::from(field.truncated)])?;
    }
    Ok(())
}

fn read_u32(input: &mut impl Read) -> io::Result<u32> {
    let mut bytes = [0u8; 4];
    input.read_exact(&mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}

fn read_text(input: &mut impl Read) -> io::Result<Option<String>> {
    let length = read_u32(input)?;
    if length == ABSENT {
        return Ok(None);
    }
    let mut bytes = vec![0u8; length as usize];
    input.read_exact(&mut bytes)?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| damaged("a text that is not UTF-8"))
}

fn read_bounded(input: &mut impl Read) -> io::Result<Option<BoundedText>> {
    let Some(text) = read_text(input)? else {
        return Ok(None);
    };
    let mut truncated = [0u8];
    input.read_exact(&mut truncated)?;
    Ok(Some(BoundedText {
        text,
        truncated: truncated[0] == 1,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(name: &str, statuses: &[TestStatus]) -> ReportedTest {
        ReportedTest {
            suite: "api / orders".into(),
            classname: Some("pkg.Orders".into()),
            name: name.into(),
            explicit_id: None,
            parameters: Some("currency=€".into()),
            file: None,
            attempts: statuses
                .iter()
                .map(|s| Attempt {
                    status: *s,
                    message: Some(BoundedText {
                        text: "expected 200".into(),
                        truncated: true,
                    }),
                    failure_type: None,
                    detail: None,
                    system_out: Some(BoundedText {
                        text: String::new(),
                        truncated: false,
                    }),
                    system_err: None,
                    duration_ms: Some(1500),
                })
                .collect(),
        }
    }

    #[test]
    fn spooled_tests_come_back_whole_in_order_and_the_file_goes() {
        let dir = std::env::temp_dir().join(format!("spool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        let written: Vec<ReportedTest> = (0..2500)
            .map(|i| {
                let statuses: &[TestStatus] = match i % 3 {
                    0 => &[TestStatus::Passed],
                    1 => &[TestStatus::Failed, TestStatus::Passed],
                    _ => &[],
                };
                test(&format!("t{i}"), statuses)
            })
            .collect();
        let mut spool = SpoolWriter::create(&dir).expect("a spool");
        let path = spool.file.path.clone();
        for t in &written {
            spool.push(t).expect("written");
        }
        let mut reader = spool.finish().expect("finished");
        let mut read = Vec::new();
        loop {
            let batch = reader.next_batch(1024).expect("read back");
            if batch.is_empty() {
                break;
            }
            assert!(batch.len() <= 1024);
            read.extend(batch);
        }
        assert_eq!(read, written);
        assert!(path.exists());
        drop(reader);
        assert!(!path.exists(), "the spool is removed once read");
        std::fs::remove_dir_all(&dir).ok();
    }
}
