//! Following one batch's log directory: its files (and those of its subfolders, a few levels
//! down) found at each poll, each known by its device and inode so that a rename (`app.log` →
//! `app.log.1`) goes on where it was and the new `app.log` is read from its start; a file that
//! shrank was truncated and is read again from its start; compressed rotations are skipped.
//!
//! A directory followed for the first time starts at the end of the files it already holds (old
//! errors are not news); files that appear afterwards are read whole. Offsets and line numbers
//! are kept in the agent's data folder (`logwatch.json`) across restarts.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use slipway_core::supervision::logs::{Line, Matcher, Scanner};

/// Files followed per batch at most (the rest are ignored, and said so once).
pub(crate) const MAX_FILES: usize = 1000;
/// How deep subfolders are searched (`LOG_DIR/customer/2026/11/x.log` is depth 3).
const MAX_DEPTH: usize = 4;
/// Bytes read from one file at one poll at most, so that one busy file never starves others.
const MAX_READ_PER_POLL: u64 = 16 * 1024 * 1024;
/// Names of rotated copies already read in their plain form.
const COMPRESSED: &[&str] = &[".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4", ".z"];

/// What is kept of a file across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileMark {
    pub(crate) path: PathBuf,
    /// The end of the last complete line read.
    pub(crate) offset: u64,
    pub(crate) lines: u64,
}

/// A file being followed.
#[derive(Debug)]
struct Followed {
    path: PathBuf,
    scanner: Scanner,
    /// Bytes read so far (the scanner's offset plus an unfinished line).
    read: u64,
}

/// One batch's log directory.
#[derive(Debug)]
pub(crate) struct Directory {
    dir: PathBuf,
    /// Known files by `device:inode`.
    files: BTreeMap<String, Followed>,
    /// Whether the directory was listed before: new files are then read from their start.
    listed: bool,
    warned: Option<String>,
}

fn identity(meta: &std::fs::Metadata) -> String {
    format!("{}:{}", meta.dev(), meta.ino())
}

fn compressed(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    COMPRESSED.iter().any(|ext| name.ends_with(ext))
}

/// The regular files under `dir`, at most `MAX_FILES`, a few levels down.
fn list(dir: &Path) -> std::io::Result<Vec<(PathBuf, std::fs::Metadata)>> {
    let mut out = Vec::new();
    let mut folders = vec![(dir.to_path_buf(), 0)];
    let mut first = true;
    while let Some((folder, depth)) = folders.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Ok(e) => e,
            // The directory itself missing is the caller's warning; a subfolder gone is not.
            Err(e) if first => return Err(e),
            Err(_) => continue,
        };
        first = false;
        for entry in entries.flatten() {
            let path = entry.path();
            // `metadata` follows a symbolic link to the file it names.
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if meta.is_dir() && depth + 1 < MAX_DEPTH {
                folders.push((path, depth + 1));
            } else if meta.is_file() && !compressed(&path) && out.len() < MAX_FILES {
                out.push((path, meta));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The end of the last complete line of the first `size` bytes of a file, and their lines.
fn end_of(path: &Path, size: u64, buf: &mut [u8]) -> std::io::Result<(u64, u64)> {
    let mut file = std::fs::File::open(path)?;
    let (mut at, mut lines, mut offset) = (0u64, 0u64, 0u64);
    while at < size {
        let want = usize::try_from((size - at).min(buf.len() as u64)).unwrap_or(buf.len());
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        if let Some(last) = memchr_last(&buf[..n]) {
            lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
            offset = at + last as u64 + 1;
        }
        at += n as u64;
    }
    Ok((offset, lines))
}

fn memchr_last(b: &[u8]) -> Option<usize> {
    b.iter().rposition(|c| *c == b'\n')
}

impl Directory {
    /// A directory to follow, with the marks kept from a previous life (`None`: never followed).
    pub(crate) fn new(dir: PathBuf, marks: Option<&BTreeMap<String, FileMark>>) -> Directory {
        let files = marks
            .map(|m| {
                m.iter()
                    .map(|(id, mark)| {
                        (
                            id.clone(),
                            Followed {
                                path: mark.path.clone(),
                                scanner: Scanner::resume(mark.offset, mark.lines),
                                read: mark.offset,
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Directory {
            dir,
            files,
            listed: marks.is_some(),
            warned: None,
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// What to keep across restarts.
    pub(crate) fn marks(&self) -> BTreeMap<String, FileMark> {
        self.files
            .iter()
            .map(|(id, f)| {
                (
                    id.clone(),
                    FileMark {
                        path: f.path.clone(),
                        offset: f.scanner.offset(),
                        lines: f.scanner.lines(),
                    },
                )
            })
            .collect()
    }

    /// Why the directory could not be read at the last poll; `None` when it was.
    pub(crate) fn problem(&self) -> Option<&str> {
        self.warned.as_deref()
    }

    pub(crate) fn followed(&self) -> usize {
        self.files.len()
    }

    /// Read what the files gained since the last poll; `hit` gets each matching line with its
    /// file's path. Answers a warning to show, the first time something is wrong.
    pub(crate) fn poll(
        &mut self,
        matcher: &Matcher,
        buf: &mut [u8],
        mut hit: impl FnMut(&Path, Line<'_>, usize),
    ) -> Option<String> {
        let listed = match list(&self.dir) {
            Ok(l) => l,
            Err(e) => {
                // A missing directory is a warning, never a crash: it may appear later, and
                // its files are then new (read from their start).
                self.listed = true;
                self.files.clear();
                let warning = format!("log directory {} cannot be read: {e}", self.dir.display());
                if self.warned.as_deref() != Some(&warning) {
                    self.warned = Some(warning.clone());
                    return Some(warning);
                }
                return None;
            }
        };
        self.warned = None;
        let mut present = BTreeMap::new();
        for (path, meta) in listed {
            let id = identity(&meta);
            let size = meta.len();
            let followed = match self.files.remove(&id) {
                Some(f) => f,
                None if self.listed => Followed {
                    path: path.clone(),
                    scanner: Scanner::default(),
                    read: 0,
                },
                None => {
                    // First sight of the directory: start after what it already holds.
                    let (offset, lines) = end_of(&path, size, buf).unwrap_or((0, 0));
                    Followed {
                        path: path.clone(),
                        scanner: Scanner::resume(offset, lines),
                        read: offset,
                    }
                }
            };
            let mut followed = Followed { path, ..followed };
            if size < followed.read {
                // Truncated in place (copytruncate): read it again from its start.
                followed.scanner = Scanner::default();
                followed.read = 0;
            }
            if size > followed.read {
                let _ = read_more(&mut followed, size, matcher, buf, &mut hit);
            }
            present.insert(id, followed);
        }
        self.files = present;
        self.listed = true;
        None
    }
}

fn read_more(
    f: &mut Followed,
    size: u64,
    matcher: &Matcher,
    buf: &mut [u8],
    hit: &mut impl FnMut(&Path, Line<'_>, usize),
) -> std::io::Result<()> {
    let mut file = std::fs::File::open(&f.path)?;
    file.seek(SeekFrom::Start(f.read))?;
    let until = size.min(f.read + MAX_READ_PER_POLL);
    while f.read < until {
        let want = usize::try_from((until - f.read).min(buf.len() as u64)).unwrap_or(buf.len());
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        f.read += n as u64;
        let path = f.path.clone();
        f.scanner
            .feed(&buf[..n], matcher, |line, rule| hit(&path, line, rule));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use slipway_core::supervision::logs::LogRules;

    use super::*;

    fn poll(d: &mut Directory) -> (Vec<(String, u64, String)>, Option<String>) {
        let matcher = LogRules::default().matcher();
        let mut buf = vec![0u8; 64];
        let mut hits = Vec::new();
        let warning = d.poll(&matcher, &mut buf, |path, line, _| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            hits.push((
                name,
                line.number,
                String::from_utf8_lossy(line.text).into_owned(),
            ));
        });
        (hits, warning)
    }

    fn append(path: &Path, text: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("the test file opens");
        f.write_all(text.as_bytes())
            .expect("the test file takes the text");
    }

    #[test]
    fn old_lines_are_skipped_then_rotation_and_truncation_are_followed() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let log = dir.path().join("app.log");
        append(&log, "ERROR old news\n");
        let mut d = Directory::new(dir.path().to_path_buf(), None);
        assert!(poll(&mut d).0.is_empty(), "what was there is not news");
        append(&log, "fine\nERROR one\n");
        assert_eq!(poll(&mut d).0, [("app.log".into(), 3, "ERROR one".into())]);
        // Rotation: the old file is read to its end under its new name, the new one from 1.
        append(&log, "ERROR last words\n");
        std::fs::rename(&log, dir.path().join("app.log.1")).expect("renamed");
        append(&log, "ERROR fresh\n");
        append(&dir.path().join("app.log.2.gz"), "ERROR compressed\n");
        let mut hits = poll(&mut d).0;
        hits.sort();
        assert_eq!(
            hits,
            [
                ("app.log".into(), 1, "ERROR fresh".into()),
                ("app.log.1".into(), 4, "ERROR last words".into()),
            ]
        );
        // Truncation in place: read again from the start.
        std::fs::write(&log, "").expect("truncated");
        assert!(poll(&mut d).0.is_empty());
        append(&log, "ERROR after truncation\n");
        assert_eq!(
            poll(&mut d).0,
            [("app.log".into(), 1, "ERROR after truncation".into())]
        );
        // A restart from the marks reads on where it stopped.
        let marks = d.marks();
        append(&log, "ERROR while away\n");
        let mut again = Directory::new(dir.path().to_path_buf(), Some(&marks));
        assert_eq!(
            poll(&mut again).0,
            [("app.log".into(), 2, "ERROR while away".into())]
        );
    }

    #[test]
    fn a_missing_directory_is_one_warning_and_its_files_are_new_when_it_appears() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let logs = dir.path().join("later");
        let mut d = Directory::new(logs.clone(), None);
        let (hits, warning) = poll(&mut d);
        assert!(hits.is_empty());
        assert!(warning.is_some_and(|w| w.contains("cannot be read")));
        assert_eq!(poll(&mut d).1, None, "said once");
        std::fs::create_dir_all(logs.join("acme")).expect("created");
        append(&logs.join("acme/x.log"), "ERROR first\n");
        assert_eq!(poll(&mut d).0, [("x.log".into(), 1, "ERROR first".into())]);
    }
}
