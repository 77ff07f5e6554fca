//! Archives on a target: `archive.extract` (and the reading of zip, tar.gz and tar it rests on,
//! shared with `sql.run`). It never runs what it unpacks.
//!
//! An archive is read twice. The first pass reads only what each entry is (name, kind, size,
//! link target) and checks the whole list: no entry may land outside the destination (absolute
//! paths, `..`, entries under a symbolic link, links resolving outside), and the archive must stay
//! within the size and entry limits. Only then does the second pass write, into a temporary
//! folder renamed into place at the end, so a refused or failed extraction leaves nothing behind.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};

use slipway_core::plan::PlaceParams;
use slipway_protocol::Assignment;

use super::slots::{read_history, switch_current};
use crate::fetch::fetch;
use crate::link::Link;
use crate::outcome::{fail, ok, Outcome};
use crate::sink::LogSink;

/// How much an archive may unpack to. The defaults stop zip bombs; the task variables
/// `SLIPWAY_ARCHIVE_MAX_BYTES` and `SLIPWAY_ARCHIVE_MAX_ENTRIES` change them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Limits {
    pub max_bytes: u64,
    pub max_entries: u64,
}

impl Limits {
    pub(super) const DEFAULT: Limits = Limits {
        max_bytes: 4 << 30,
        max_entries: 100_000,
    };

    pub(super) fn for_task(task: &Assignment) -> Result<Limits, String> {
        let read = |name: &str, default: u64| match task.variables.get(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("{name} is `{v}`, not a whole number (bytes or entries)")),
        };
        Ok(Limits {
            max_bytes: read("SLIPWAY_ARCHIVE_MAX_BYTES", Self::DEFAULT.max_bytes)?,
            max_entries: read("SLIPWAY_ARCHIVE_MAX_ENTRIES", Self::DEFAULT.max_entries)?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub(super) enum ArchiveError {
    #[error("entry `{entry}` would land outside the destination: {why}; the archive is refused and nothing was extracted")]
    Escapes { entry: String, why: String },
    #[error("entry `{entry}` is {what}, which is not extracted (only files, folders and links are); the archive is refused")]
    Unsupported { entry: String, what: &'static str },
    #[error("the archive holds more than {limit} entries; refused as a possible archive bomb (raise SLIPWAY_ARCHIVE_MAX_ENTRIES if it is genuine)")]
    TooManyEntries { limit: u64 },
    #[error("the archive unpacks to more than {limit} bytes; refused as a possible archive bomb (raise SLIPWAY_ARCHIVE_MAX_BYTES if it is genuine)")]
    TooLarge { limit: u64 },
    #[error("this is not a zip, tar.gz or tar archive (its first bytes say neither)")]
    UnknownFormat,
    #[error("the archive is damaged: {0}")]
    Damaged(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

fn damaged(e: impl std::fmt::Display) -> ArchiveError {
    ArchiveError::Damaged(e.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Zip,
    TarGz,
    Tar,
}

impl Format {
    /// Known by its magic bytes, never by its name.
    pub(super) fn detect(head: &[u8]) -> Option<Format> {
        if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            Some(Format::Zip)
        } else if head.starts_with(&[0x1f, 0x8b]) {
            Some(Format::TarGz)
        } else if head.get(257..262) == Some(b"ustar".as_slice()) {
            Some(Format::Tar)
        } else {
            None
        }
    }

    fn of(path: &Path) -> Result<Format, ArchiveError> {
        let mut head = Vec::with_capacity(512);
        File::open(path)
            .and_then(|f| f.take(512).read_to_end(&mut head))
            .map_err(damaged)?;
        Format::detect(&head).ok_or(ArchiveError::UnknownFormat)
    }

    pub(super) fn label(self) -> &'static str {
        match self {
            Format::Zip => "zip",
            Format::TarGz => "tar.gz",
            Format::Tar => "tar",
        }
    }
}

/// What an entry is, as its archive says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    File {
        size: u64,
        mode: u32,
    },
    Dir {
        mode: u32,
    },
    Symlink {
        target: PathBuf,
    },
    /// A tar hard link: `target` is another entry's path in the archive.
    HardLink {
        target: PathBuf,
    },
    /// Devices, pipes, sparse files: refused.
    Other(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    /// The name as stored, for messages and the second pass.
    pub name: PathBuf,
    pub kind: Kind,
}

/// The checked archive: what the second pass will write, in archive order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Checked {
    pub items: Vec<(PathBuf, Kind)>,
    pub summary: Summary,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Summary {
    pub files: u64,
    pub dirs: u64,
    pub links: u64,
    pub bytes: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} file(s), {} folder(s), {} link(s), {} bytes",
            self.files, self.dirs, self.links, self.bytes
        )
    }
}

/// The path an entry name stands for, relative to the destination; refused when it is absolute
/// or climbs with `..` (even one that would come back down: names in archives have no need to).
pub(super) fn relative_path(name: &Path) -> Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for part in name.components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => return Err("its path climbs out with `..`"),
            Component::RootDir | Component::Prefix(_) => return Err("its path is absolute"),
        }
    }
    Ok(out)
}

/// Where a symbolic link at `link` pointing to `target` ends up, following the archive's own
/// links as the file system would; an error when it leaves the destination at any point.
fn resolve_link(
    links: &HashMap<PathBuf, PathBuf>,
    link: &Path,
    target: &Path,
) -> Result<PathBuf, String> {
    fn walk(
        links: &HashMap<PathBuf, PathBuf>,
        mut at: Vec<OsString>,
        target: &Path,
        hops: &mut u32,
    ) -> Result<Vec<OsString>, String> {
        for part in target.components() {
            match part {
                Component::RootDir | Component::Prefix(_) => {
                    return Err(format!(
                        "it links to the absolute path {}",
                        target.display()
                    ))
                }
                Component::CurDir => {}
                Component::ParentDir => {
                    if at.pop().is_none() {
                        return Err(format!(
                            "its link target {} climbs above the destination",
                            target.display()
                        ));
                    }
                }
                Component::Normal(p) => {
                    at.push(p.to_os_string());
                    let here: PathBuf = at.iter().collect();
                    if let Some(next) = links.get(&here) {
                        *hops += 1;
                        if *hops > 40 {
                            return Err("its links go round in a loop".to_string());
                        }
                        at.pop();
                        at = walk(links, at, next, hops)?;
                    }
                }
            }
        }
        Ok(at)
    }
    let parent: Vec<OsString> = link
        .parent()
        .map(|p| p.iter().map(|c| c.to_os_string()).collect())
        .unwrap_or_default();
    let mut hops = 0;
    walk(links, parent, target, &mut hops).map(|p| p.iter().collect())
}

/// Check every entry before anything is written. Pure: the list in, the plan or the refusal out.
pub(super) fn check(entries: &[Entry], limits: &Limits) -> Result<Checked, ArchiveError> {
    if entries.len() as u64 > limits.max_entries {
        return Err(ArchiveError::TooManyEntries {
            limit: limits.max_entries,
        });
    }
    let escapes = |e: &Entry, why: String| ArchiveError::Escapes {
        entry: e.name.display().to_string(),
        why,
    };
    let mut items = Vec::with_capacity(entries.len());
    let mut summary = Summary::default();
    let mut links: HashMap<PathBuf, PathBuf> = HashMap::new();
    for e in entries {
        let path = relative_path(&e.name).map_err(|why| escapes(e, why.to_string()))?;
        match &e.kind {
            Kind::Other(what) => {
                return Err(ArchiveError::Unsupported {
                    entry: e.name.display().to_string(),
                    what,
                })
            }
            Kind::File { size, .. } => {
                summary.files += 1;
                summary.bytes = summary.bytes.saturating_add(*size);
                if summary.bytes > limits.max_bytes {
                    return Err(ArchiveError::TooLarge {
                        limit: limits.max_bytes,
                    });
                }
            }
            Kind::Dir { .. } => summary.dirs += 1,
            Kind::Symlink { target } => {
                summary.links += 1;
                links.insert(path.clone(), target.clone());
            }
            Kind::HardLink { .. } => summary.links += 1,
        }
        if path.as_os_str().is_empty() && !matches!(e.kind, Kind::Dir { .. }) {
            return Err(escapes(e, "it has no name of its own".into()));
        }
        items.push((path, e.kind.clone()));
    }
    // With every link known, no entry may be written through one (whatever the order), and
    // every link must resolve inside the destination.
    let mut files_so_far: HashSet<&Path> = HashSet::new();
    for (e, (path, kind)) in entries.iter().zip(&items) {
        if let Some(through) = path.ancestors().skip(1).find(|a| links.contains_key(*a)) {
            return Err(escapes(
                e,
                format!("it goes through the symbolic link `{}`", through.display()),
            ));
        }
        match kind {
            Kind::Symlink { target } => {
                if target.as_os_str().is_empty() {
                    return Err(escapes(e, "its link target is empty".into()));
                }
                resolve_link(&links, path, target).map_err(|why| escapes(e, why))?;
            }
            Kind::HardLink { target } => {
                let target = relative_path(target)
                    .map_err(|why| escapes(e, format!("its hard link target: {why}")))?;
                if !files_so_far.contains(target.as_path()) {
                    return Err(escapes(
                        e,
                        format!(
                            "its hard link target {} is not a file earlier in the archive",
                            target.display()
                        ),
                    ));
                }
            }
            Kind::File { .. } => {
                files_so_far.insert(path);
            }
            _ => {}
        }
    }
    Ok(Checked { items, summary })
}

/// Fails reading once more than `left` bytes came out: decompression itself is bounded, even
/// for bytes the tar reader consumes on its own (long names, extension headers).
struct Bounded<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            std::io::Error::other(format!(
                "the archive unpacks to more than {} bytes",
                self.limit
            ))
        })?;
        Ok(n)
    }
}

fn tar_stream(path: &Path, format: Format, limits: &Limits) -> Result<impl Read, ArchiveError> {
    let file = BufReader::new(File::open(path).map_err(damaged)?);
    let inner: Box<dyn Read> = match format {
        Format::TarGz => Box::new(flate2::read::MultiGzDecoder::new(file)),
        _ => Box::new(file),
    };
    // Headers and padding come on top of the data: a generous 4 KiB per entry, plus 1 MiB.
    let limit = limits
        .max_bytes
        .saturating_add(limits.max_entries.saturating_mul(4096))
        .saturating_add(1 << 20);
    Ok(Bounded {
        inner,
        left: limit,
        limit,
    })
}

fn tar_entry<R: Read>(entry: &tar::Entry<R>) -> Result<Option<Entry>, ArchiveError> {
    use tar::EntryType as T;
    let name = entry.path().map_err(damaged)?.into_owned();
    let header = entry.header();
    let mode = header.mode().unwrap_or(0o644);
    let link = || -> Result<PathBuf, ArchiveError> {
        entry
            .link_name()
            .map_err(damaged)?
            .map(|l| l.into_owned())
            .ok_or_else(|| damaged(format!("link {} has no target", name.display())))
    };
    let kind = match header.entry_type() {
        T::Regular | T::Continuous => Kind::File {
            size: entry.size(),
            mode,
        },
        T::Directory => Kind::Dir { mode },
        T::Symlink => Kind::Symlink { target: link()? },
        T::Link => Kind::HardLink { target: link()? },
        T::XGlobalHeader | T::XHeader => return Ok(None),
        T::Char | T::Block => Kind::Other("a device"),
        T::Fifo => Kind::Other("a named pipe"),
        T::GNUSparse => Kind::Other("a sparse file"),
        _ => Kind::Other("of an unknown type"),
    };
    Ok(Some(Entry { name, kind }))
}

/// Read what every entry is, stopping as soon as a limit is passed.
fn list(path: &Path, limits: &Limits) -> Result<(Format, Vec<Entry>), ArchiveError> {
    let format = Format::of(path)?;
    let mut entries = Vec::new();
    let mut bytes = 0u64;
    let mut push = |e: Entry| {
        if let Kind::File { size, .. } = e.kind {
            bytes = bytes.saturating_add(size);
            if bytes > limits.max_bytes {
                return Err(ArchiveError::TooLarge {
                    limit: limits.max_bytes,
                });
            }
        }
        entries.push(e);
        if entries.len() as u64 > limits.max_entries {
            return Err(ArchiveError::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        Ok(())
    };
    match format {
        Format::Zip => {
            let mut zip =
                zip::ZipArchive::new(File::open(path).map_err(damaged)?).map_err(damaged)?;
            if zip.len() as u64 > limits.max_entries {
                return Err(ArchiveError::TooManyEntries {
                    limit: limits.max_entries,
                });
            }
            for i in 0..zip.len() {
                push(zip_entry(&mut zip, i)?)?;
            }
        }
        Format::TarGz | Format::Tar => {
            let mut archive = tar::Archive::new(tar_stream(path, format, limits)?);
            for entry in archive.entries().map_err(damaged)? {
                if let Some(e) = tar_entry(&entry.map_err(damaged)?)? {
                    push(e)?;
                }
            }
        }
    }
    Ok((format, entries))
}

fn zip_entry(zip: &mut zip::ZipArchive<File>, i: usize) -> Result<Entry, ArchiveError> {
    let file = zip.by_index_raw(i).map_err(damaged)?;
    let name = PathBuf::from(file.name());
    let mode = file.unix_mode();
    let kind = if file.is_dir() {
        Kind::Dir {
            mode: mode.unwrap_or(0o755),
        }
    } else if file.is_symlink() {
        drop(file);
        // A zip symlink stores its target as the entry's content.
        let mut target = Vec::new();
        zip.by_index(i)
            .map_err(damaged)?
            .take(4096)
            .read_to_end(&mut target)
            .map_err(damaged)?;
        Kind::Symlink {
            target: PathBuf::from(String::from_utf8_lossy(&target).into_owned()),
        }
    } else {
        match mode.map(|m| m & 0o170000) {
            None | Some(0) | Some(0o100000) => Kind::File {
                size: file.size(),
                mode: mode.unwrap_or(0o644),
            },
            Some(0o060000) | Some(0o020000) => Kind::Other("a device"),
            Some(0o010000) => Kind::Other("a named pipe"),
            Some(_) => Kind::Other("of an unknown type"),
        }
    };
    Ok(Entry { name, kind })
}

/// List and check without writing anything: what a check mode reports.
fn inspect(path: &Path, limits: &Limits) -> Result<(Format, Checked), ArchiveError> {
    let (format, entries) = list(path, limits)?;
    Ok((format, check(&entries, limits)?))
}

/// Extract `archive` into the new folder `into` (which must not exist): checked first, written
/// into a temporary sibling, renamed into place. On any error nothing is left behind.
/// `tick` is called between chunks so the caller can keep its lease alive.
pub(super) fn extract(
    archive: &Path,
    into: &Path,
    limits: &Limits,
    tick: &mut dyn FnMut(),
) -> Result<(Format, Summary), ArchiveError> {
    let (format, checked) = inspect(archive, limits)?;
    extract_checked(archive, format, &checked, into, limits, tick)?;
    Ok((format, checked.summary))
}

/// [`extract`], for an archive [`inspect`] has just accepted.
fn extract_checked(
    archive: &Path,
    format: Format,
    checked: &Checked,
    into: &Path,
    limits: &Limits,
    tick: &mut dyn FnMut(),
) -> Result<(), ArchiveError> {
    let name = into
        .file_name()
        .map_or_else(|| "archive".into(), |n| n.to_string_lossy().into_owned());
    let dot = if name.starts_with('.') { "" } else { "." };
    let temp = into.with_file_name(format!("{dot}{name}.partial"));
    let write_err = |path: &Path| {
        let path = path.display().to_string();
        move |source| ArchiveError::Write { path, source }
    };
    let _ = std::fs::remove_dir_all(&temp);
    std::fs::create_dir_all(&temp).map_err(write_err(&temp))?;
    let result = write_all(archive, format, checked, &temp, limits, tick)
        .and_then(|()| std::fs::rename(&temp, into).map_err(write_err(into)));
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&temp);
    }
    result
}

/// The checked item at this place, which must be what the entry read again says.
fn expect<'a>(
    items: &mut std::slice::Iter<'a, (PathBuf, Kind)>,
    entry: &Entry,
) -> Result<&'a (PathBuf, Kind), ArchiveError> {
    items
        .next()
        .filter(|(path, kind)| {
            relative_path(&entry.name).ok().as_ref() == Some(path) && *kind == entry.kind
        })
        .ok_or_else(|| damaged("it changed between checking and extracting"))
}

/// The second pass: each entry read again must be the one checked at its place.
fn write_all(
    archive: &Path,
    format: Format,
    checked: &Checked,
    root: &Path,
    limits: &Limits,
    tick: &mut dyn FnMut(),
) -> Result<(), ArchiveError> {
    let mut items = checked.items.iter();
    match format {
        Format::Zip => {
            let mut zip =
                zip::ZipArchive::new(File::open(archive).map_err(damaged)?).map_err(damaged)?;
            for i in 0..zip.len() {
                let entry = zip_entry(&mut zip, i)?;
                let (path, kind) = expect(&mut items, &entry)?;
                let mut data = zip.by_index(i).map_err(damaged)?;
                write_entry(root, path, kind, &mut data, tick)?;
            }
        }
        Format::TarGz | Format::Tar => {
            let mut tar = tar::Archive::new(tar_stream(archive, format, limits)?);
            for entry in tar.entries().map_err(damaged)? {
                let mut entry = entry.map_err(damaged)?;
                let Some(listed) = tar_entry(&entry)? else {
                    continue;
                };
                let (path, kind) = expect(&mut items, &listed)?;
                write_entry(root, path, kind, &mut entry, tick)?;
            }
        }
    }
    Ok(())
}

fn write_entry(
    root: &Path,
    path: &Path,
    kind: &Kind,
    data: &mut dyn Read,
    tick: &mut dyn FnMut(),
) -> Result<(), ArchiveError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let dest = root.join(path);
    let err = |source| ArchiveError::Write {
        path: path.display().to_string(),
        source,
    };
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    if let Kind::Dir { mode } = kind {
        std::fs::create_dir_all(&dest).map_err(err)?;
        // The owner keeps full rights so the version can be removed again.
        let perms = std::fs::Permissions::from_mode((mode & 0o777) | 0o700);
        return std::fs::set_permissions(&dest, perms).map_err(err);
    }
    // A later entry of the same name replaces an earlier one; never write through a link.
    if std::fs::symlink_metadata(&dest).is_ok_and(|m| !m.is_dir()) {
        std::fs::remove_file(&dest).map_err(err)?;
    }
    match kind {
        Kind::File { size, mode } => {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode & 0o777)
                .open(&dest)
                .map_err(err)?;
            let mut buffer = vec![0u8; 256 * 1024];
            let mut written = 0u64;
            loop {
                let n = data.read(&mut buffer).map_err(damaged)?;
                if n == 0 {
                    break;
                }
                written += n as u64;
                if written > *size {
                    return Err(damaged(format!(
                        "{} holds more than the {size} bytes it declares",
                        path.display()
                    )));
                }
                file.write_all(&buffer[..n]).map_err(err)?;
                tick();
            }
            if written != *size {
                return Err(damaged(format!(
                    "{} holds {written} bytes, not the {size} it declares",
                    path.display()
                )));
            }
            // `mode` above is filtered by the umask; the archive's bits are what it asked for.
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode & 0o777))
                .map_err(err)
        }
        Kind::Symlink { target } => std::os::unix::fs::symlink(target, &dest).map_err(err),
        Kind::HardLink { target } => {
            let source = root.join(relative_path(target).map_err(damaged)?);
            std::fs::hard_link(source, &dest).map_err(err)
        }
        Kind::Dir { .. } | Kind::Other(_) => Ok(()),
    }
}

/// Refuse early when `path` could not be created: its nearest existing ancestor must be a
/// writable folder.
// access(2) has no safe wrapper in std; the call only reads a path.
#[allow(unsafe_code)]
pub(super) fn check_writable(path: &Path) -> Result<(), String> {
    use std::os::unix::ffi::OsStrExt;
    let existing = path
        .ancestors()
        .find(|a| a.exists())
        .unwrap_or(Path::new("/"));
    if !existing.is_dir() {
        return Err(format!("{} is not a folder", existing.display()));
    }
    let c_path = std::ffi::CString::new(existing.as_os_str().as_bytes())
        .map_err(|_| format!("{} is not a valid path", existing.display()))?;
    // SAFETY: `c_path` is a valid NUL-terminated string.
    if unsafe { libc::access(c_path.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
        return Err(format!(
            "{} is not writable by this agent ({})",
            existing.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// `archive.extract`: the same layout as `artifact.place` — `destination/.versions/<version>/`
/// holding the extracted tree, `destination/current` switched atomically, `.versions/history`
/// in the order versions went live — so `archive.restore` is `artifact.restore`.
pub(super) fn extract_action(
    p: &PlaceParams,
    link: &Link,
    credential: &str,
    data: &Path,
    task: &Assignment,
    check: bool,
    log: &mut LogSink,
) -> Outcome {
    let Some(artifact) = task.artifacts.get(p.component.as_str()) else {
        return fail(format!("the release has no artifact for {}", p.component));
    };
    let limits = match Limits::for_task(task) {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    let dest = Path::new(&p.destination);
    let versions = dest.join(".versions");
    let slot = versions.join(&artifact.version);
    if let Err(e) = check_writable(dest) {
        return fail(format!("cannot extract into {}: {e}", dest.display()));
    }
    let blob = match fetch(link, credential, data, &artifact.digest, log) {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
    let what = format!("{} {}", p.component, artifact.version);
    if check {
        return match inspect(&blob, &limits) {
            Ok((format, checked)) => ok(format!(
                "would extract {what} ({}: {}) into {} and switch current to it; no entry leaves the destination",
                format.label(),
                checked.summary,
                slot.display()
            )),
            Err(e) => fail(format!("{what}: {e}")),
        };
    }
    // Refused before anything, even a folder, is created.
    let (format, checked) = match inspect(&blob, &limits) {
        Ok(c) => c,
        Err(e) => return fail(format!("{what}: {e}")),
    };
    let created_dest = !dest.exists();
    let created_versions = !versions.exists();
    if let Err(e) = std::fs::create_dir_all(&versions) {
        return fail(format!("cannot create {}: {e}", versions.display()));
    }
    let fresh = versions.join(format!(".{}.new", artifact.version));
    let _ = std::fs::remove_dir_all(&fresh);
    let outcome = extract_checked(&blob, format, &checked, &fresh, &limits, &mut || log.tick())
        .map_err(|e| format!("{what}: {e}"))
        .and_then(|()| {
            log.line(format!(
                "extracted {what} ({}): {}",
                format.label(),
                checked.summary
            ));
            go_live(dest, &versions, &fresh, &artifact.version, p.keep)
                .map_err(|e| format!("switching {} to {what} failed: {e}", dest.display()))
        });
    match outcome {
        Ok(()) => ok(format!("{what} is current in {}", dest.display())),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&fresh);
            if created_versions {
                let _ = std::fs::remove_dir(&versions);
            }
            if created_dest {
                let _ = std::fs::remove_dir(dest);
            }
            fail(e)
        }
    }
}

/// Move the fresh tree into its slot (replacing the same version extracted before), switch
/// `current` to it and record it in the history, keeping `keep` earlier versions.
fn go_live(
    dest: &Path,
    versions: &Path,
    fresh: &Path,
    version: &str,
    keep: u32,
) -> std::io::Result<()> {
    let slot = versions.join(version);
    if slot.exists() {
        let old = versions.join(format!(".{version}.old"));
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(&slot, &old)?;
        std::fs::rename(fresh, &slot)?;
        let _ = std::fs::remove_dir_all(&old);
    } else {
        std::fs::rename(fresh, &slot)?;
    }
    switch_current(dest, &slot)?;
    // Every switch is recorded, the same version again too (see `actions::place`).
    let mut history = read_history(versions);
    history.push(version.to_string());
    while history.len() > keep as usize + 1 {
        let old = history.remove(0);
        if !history.contains(&old) {
            let _ = std::fs::remove_dir_all(versions.join(&old));
        }
    }
    std::fs::write(versions.join("history"), history.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn file(name: &str, size: u64) -> Entry {
        Entry {
            name: name.into(),
            kind: Kind::File { size, mode: 0o644 },
        }
    }
    fn symlink(name: &str, target: &str) -> Entry {
        Entry {
            name: name.into(),
            kind: Kind::Symlink {
                target: target.into(),
            },
        }
    }
    fn hardlink(name: &str, target: &str) -> Entry {
        Entry {
            name: name.into(),
            kind: Kind::HardLink {
                target: target.into(),
            },
        }
    }

    fn refusal(entries: &[Entry]) -> String {
        check(entries, &Limits::DEFAULT)
            .expect_err("the archive should be refused")
            .to_string()
    }

    #[test]
    fn names_that_leave_the_destination_are_refused_with_the_entry_named() {
        for (name, why) in [
            ("../escape", "climbs out"),
            ("a/../../escape", "climbs out"),
            ("a/../b", "climbs out"),
            ("/etc/passwd", "absolute"),
        ] {
            let message = refusal(&[file("ok.txt", 1), file(name, 1)]);
            assert!(message.contains(&format!("`{name}`")), "{message}");
            assert!(message.contains(why), "{message}");
            assert!(message.contains("nothing was extracted"), "{message}");
        }
    }

    #[test]
    fn links_must_resolve_inside_following_the_archives_own_links() {
        let ok_cases: &[&[Entry]] = &[
            &[symlink("latest", "index.html"), file("index.html", 3)],
            &[symlink("lib/libx.so", "../vendor/libx.so.1")],
            &[symlink("a/b/c", "../../d")],
            &[symlink("deep", "x/y/z"), symlink("l", "deep/../..")],
            &[file("f", 1), hardlink("g", "f")],
        ];
        for entries in ok_cases {
            assert!(check(entries, &Limits::DEFAULT).is_ok(), "{entries:?}");
        }
        for (entries, why) in [
            (vec![symlink("etc", "/etc")], "absolute path /etc"),
            (vec![symlink("up", "..")], "climbs above"),
            (vec![symlink("a/up", "../../x")], "climbs above"),
            // `here` is the destination itself, so `here/..` is its parent.
            (
                vec![symlink("here", "."), symlink("l", "here/..")],
                "climbs above",
            ),
            (vec![symlink("x", "y"), symlink("y", "x")], "loop"),
            (vec![hardlink("g", "/etc/shadow")], "absolute"),
            (vec![hardlink("g", "../f")], "climbs out"),
            (vec![hardlink("g", "later"), file("later", 1)], "not a file"),
        ] {
            let message = refusal(&entries);
            assert!(message.contains(why), "{entries:?}: {message}");
        }
    }

    #[test]
    fn nothing_is_written_through_a_link_whatever_the_order() {
        for entries in [
            vec![symlink("site", "public"), file("site/index.html", 1)],
            vec![file("site/index.html", 1), symlink("site", "public")],
        ] {
            let message = refusal(&entries);
            assert!(
                message.contains("goes through the symbolic link `site`"),
                "{message}"
            );
        }
    }

    #[test]
    fn limits_stop_archive_bombs() {
        let small = Limits {
            max_bytes: 100,
            max_entries: 3,
        };
        assert!(check(&[file("a", 60), file("b", 40)], &small).is_ok());
        assert!(matches!(
            check(&[file("a", 60), file("b", 41)], &small),
            Err(ArchiveError::TooLarge { limit: 100 })
        ));
        assert!(matches!(
            check(
                &[file("a", 0), file("b", 0), file("c", 0), file("d", 0)],
                &small
            ),
            Err(ArchiveError::TooManyEntries { limit: 3 })
        ));
        // Sizes near u64::MAX do not wrap around.
        assert!(check(&[file("a", u64::MAX), file("b", 2)], &Limits::DEFAULT).is_err());
    }

    #[test]
    fn a_root_folder_entry_is_the_destination_itself() {
        // What `tar -czf site.tgz -C public .` writes.
        let entries = [
            Entry {
                name: "./".into(),
                kind: Kind::Dir { mode: 0o755 },
            },
            file("./index.html", 2),
        ];
        let checked = check(&entries, &Limits::DEFAULT).unwrap();
        let paths: Vec<&Path> = checked.items.iter().map(|(p, _)| p.as_path()).collect();
        assert_eq!(paths, [Path::new(""), Path::new("index.html")]);
        assert!(refusal(&[file("./", 1)]).contains("no name of its own"));
    }

    #[test]
    fn formats_are_known_by_their_magic_bytes() {
        assert_eq!(Format::detect(b"PK\x03\x04rest"), Some(Format::Zip));
        assert_eq!(Format::detect(&[0x1f, 0x8b, 8, 0]), Some(Format::TarGz));
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(Format::detect(&tar), Some(Format::Tar));
        assert_eq!(Format::detect(b"#!/bin/sh\n"), None);
    }

    fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut builder = tar::Builder::new(gz);
        for (name, data) in entries {
            let mut header = tar::Header::new_gnu();
            // Written raw: `set_path` would refuse the hostile names these tests need.
            let bytes = name.as_bytes();
            header.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn extraction_writes_everything_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.tar.gz");
        std::fs::write(&good, tar_gz(&[("a/b.txt", b"bee"), ("c.txt", b"sea")])).unwrap();
        let into = dir.path().join("out");
        let (format, summary) = extract(&good, &into, &Limits::DEFAULT, &mut || {}).unwrap();
        assert_eq!(format, Format::TarGz);
        assert_eq!((summary.files, summary.bytes), (2, 6));
        assert_eq!(
            std::fs::read_to_string(into.join("a/b.txt")).unwrap(),
            "bee"
        );

        let bad = dir.path().join("bad.tar.gz");
        std::fs::write(&bad, tar_gz(&[("fine.txt", b"x"), ("../escape", b"x")])).unwrap();
        let into = dir.path().join("refused");
        let e = extract(&bad, &into, &Limits::DEFAULT, &mut || {}).unwrap_err();
        assert!(e.to_string().contains("`../escape`"), "{e}");
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["bad.tar.gz", "good.tar.gz", "out"]);
    }

    #[test]
    fn a_bomb_is_stopped_while_listing() {
        let dir = tempfile::tempdir().unwrap();
        let zeros = vec![0u8; 1 << 20];
        let bomb = dir.path().join("bomb.tar.gz");
        std::fs::write(&bomb, tar_gz(&[("a", &zeros), ("b", &zeros)])).unwrap();
        assert!(std::fs::metadata(&bomb).unwrap().len() < 20_000);
        let limits = Limits {
            max_bytes: 1 << 20,
            max_entries: 10,
        };
        let e = extract(&bomb, &dir.path().join("out"), &limits, &mut || {}).unwrap_err();
        assert!(matches!(e, ArchiveError::TooLarge { .. }), "{e}");
        assert!(!dir.path().join("out").exists());
    }

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("..".to_string()),
            Just(".".to_string()),
            Just("".to_string()),
            "[a-z]{1,3}",
        ]
    }

    fn name() -> impl Strategy<Value = String> {
        (any::<bool>(), proptest::collection::vec(segment(), 1..6)).prop_map(|(absolute, parts)| {
            format!("{}{}", if absolute { "/" } else { "" }, parts.join("/"))
        })
    }

    /// Every place a path passes through from `base`, `..` applied literally as a file system
    /// without links would; `None` when it starts from the root or steps above `base`'s root.
    fn walk_literally<'a>(base: &'a [String], target: &'a str) -> Option<Vec<Vec<&'a str>>> {
        if target.starts_with('/') {
            return None;
        }
        let mut at: Vec<&str> = base.iter().map(String::as_str).collect();
        let mut visited = Vec::new();
        for part in target.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    at.pop()?;
                }
                p => {
                    at.push(p);
                    visited.push(at.clone());
                }
            }
        }
        Some(visited)
    }

    fn lands_inside(base: &[String], target: &str) -> bool {
        walk_literally(base, target).is_some()
    }

    proptest! {
        /// An accepted name never starts from the root nor steps above the destination, and it
        /// is the name with only `.` and empty parts dropped.
        #[test]
        fn accepted_names_stay_inside(name in name()) {
            match relative_path(Path::new(&name)) {
                Ok(path) => {
                    prop_assert!(lands_inside(&[], &name));
                    prop_assert!(path.is_relative());
                    let kept: Vec<&str> = name.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
                    prop_assert_eq!(path, kept.iter().collect::<PathBuf>());
                }
                Err(_) => prop_assert!(name.starts_with('/') || name.split('/').any(|p| p == "..")),
            }
        }

        /// A single link is accepted exactly when its target, resolved from its folder, stays
        /// inside the destination.
        #[test]
        fn a_link_is_accepted_exactly_when_it_stays_inside(dir in proptest::collection::vec("[a-z]{1,3}", 0..4), target in name()) {
            let mut link_path: PathBuf = dir.iter().collect();
            link_path.push("link");
            let entries = [Entry { name: link_path, kind: Kind::Symlink { target: target.clone().into() } }];
            let accepted = check(&entries, &Limits::DEFAULT).is_ok();
            let empty = target.split('/').all(|p| p.is_empty());
            // Passing through the link itself is a loop, refused as a file system would.
            let mut itself: Vec<&str> = dir.iter().map(String::as_str).collect();
            itself.push("link");
            let stays = walk_literally(&dir, &target).is_some_and(|seen| !seen.contains(&itself));
            prop_assert_eq!(accepted, !empty && stays);
        }
    }
}
