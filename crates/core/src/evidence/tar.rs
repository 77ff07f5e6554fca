//! The bundle's container: a plain POSIX (ustar) tar, written and read here byte for byte.
//!
//! Uncompressed on purpose: a flipped byte then lands in one identifiable place — a header, a
//! file's content, padding — instead of breaking a whole compressed stream. The reader is strict:
//! every header must be exactly the one [`write`] produces for its name, size and time, padding
//! and the end-of-archive blocks must be zero, so no single byte can change unnoticed.

/// The tar block: headers are one, contents are padded to whole ones.
pub const BLOCK: usize = 512;

/// One file of an archive as read: its name, where its header starts, its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub header_offset: usize,
    pub data: Vec<u8>,
}

/// A problem with the archive's structure, at a byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarProblem {
    pub offset: usize,
    pub problem: String,
    /// Whether the rest of the archive can no longer be located.
    pub fatal: bool,
}

fn octal(field: &mut [u8], value: u64) {
    // `width - 1` octal digits, zero-padded, then NUL.
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(text.as_bytes());
    field[digits] = 0;
}

/// The header [`write`] gives a file; `None` when the name or size cannot be represented.
fn header(path: &str, size: u64, mtime: u64) -> Option<[u8; BLOCK]> {
    let name = path.as_bytes();
    if name.is_empty() || name.len() > 100 || size >= 8u64.pow(11) || mtime >= 8u64.pow(11) {
        return None;
    }
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name);
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime);
    h[148..156].copy_from_slice(b"        ");
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[265..272].copy_from_slice(b"slipway");
    h[297..304].copy_from_slice(b"slipway");
    octal(&mut h[329..337], 0);
    octal(&mut h[337..345], 0);
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let text = format!("{sum:06o}");
    h[148..154].copy_from_slice(text.as_bytes());
    h[154] = 0;
    h[155] = b' ';
    Some(h)
}

/// Whether `path` is a name [`write`] accepts: a plain file name, no folder, ASCII.
pub fn valid_name(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 100
        && path != "."
        && path != ".."
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// An archive of `files` in the given order, every entry dated `mtime` (seconds since 1970).
///
/// Panics if a name is not [`valid_name`] or a file exceeds 8 GiB: callers pass fixed names.
pub fn write(files: &[(String, Vec<u8>)], mtime: u64) -> Vec<u8> {
    let total: usize = files
        .iter()
        .map(|(_, d)| BLOCK + d.len().div_ceil(BLOCK) * BLOCK)
        .sum();
    let mut out = Vec::with_capacity(total + END.len());
    for (path, data) in files {
        out.extend_from_slice(&header_block(path, data.len() as u64, mtime));
        out.extend_from_slice(data);
        out.resize(out.len() + padding(data.len() as u64), 0);
    }
    out.extend_from_slice(&END);
    out
}

/// The header [`write`] puts before a file of `size` bytes, for a writer that streams the
/// content itself: the header, the content, [`padding`] zero bytes, and [`END`] after the last.
///
/// Panics if a name is not [`valid_name`] or a file exceeds 8 GiB: callers pass fixed names.
pub fn header_block(path: &str, size: u64, mtime: u64) -> [u8; BLOCK] {
    assert!(valid_name(path), "evidence file names are fixed and valid");
    header(path, size, mtime).expect("names are checked, and no evidence file reaches 8 GiB")
}

/// The zero bytes after a file of `size` bytes, up to the next block.
pub fn padding(size: u64) -> usize {
    let rest = (size % BLOCK as u64) as usize;
    if rest == 0 {
        0
    } else {
        BLOCK - rest
    }
}

/// The end of an archive: two zero blocks.
pub const END: [u8; 2 * BLOCK] = [0; 2 * BLOCK];

fn parse_octal(field: &[u8]) -> Option<u64> {
    let text = field.split(|&b| b == 0 || b == b' ').next()?;
    if text.is_empty() || !text.iter().all(|b| (b'0'..=b'7').contains(b)) {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(text).ok()?, 8).ok()
}

/// Read an archive written by [`write`]. Returns the entries found and every structural
/// problem; after a fatal one, the entries after it are unknown.
pub fn read(bytes: &[u8]) -> (Vec<Entry>, Vec<TarProblem>) {
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    let mut offset = 0usize;
    loop {
        let next = header_at(bytes, offset, &entries).and_then(|header| match header {
            None => Ok(None),
            Some((path, size)) => content_of(bytes, offset, path, size).map(Some),
        });
        match next {
            Ok(Some((entry, padded, padding_problem))) => {
                problems.extend(padding_problem);
                entries.push(entry);
                offset = padded;
            }
            Ok(None) => break,
            Err(fatal) => {
                problems.push(fatal);
                return (entries, problems);
            }
        }
    }
    problems.extend(end_of_archive(bytes, offset));
    (entries, problems)
}

fn fatal(offset: usize, problem: String) -> TarProblem {
    TarProblem {
        offset,
        problem,
        fatal: true,
    }
}

/// The header block at `offset`, exactly as [`write`] makes it: its path and content size, or
/// `None` at the first end-of-archive block.
fn header_at(
    bytes: &[u8],
    offset: usize,
    entries: &[Entry],
) -> Result<Option<(String, usize)>, TarProblem> {
    if offset == bytes.len() {
        return Err(fatal(
            offset,
            "the archive ends without its end-of-archive blocks (truncated?)".into(),
        ));
    }
    if offset + BLOCK > bytes.len() {
        return Err(fatal(
            offset,
            format!(
                "the archive ends inside a block ({} stray bytes; truncated or appended to?)",
                bytes.len() - offset
            ),
        ));
    }
    let block = &bytes[offset..offset + BLOCK];
    if block.iter().all(|&b| b == 0) {
        return Ok(None);
    }
    let stored = parse_octal(&block[148..156]);
    let computed: u32 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| u32::from(if (148..156).contains(&i) { b' ' } else { b }))
        .sum();
    if stored != Some(u64::from(computed)) {
        let place = match entries.last() {
            Some(Entry { path, .. }) => format!("entry {}, after {path}", entries.len() + 1),
            None => "the first entry".to_string(),
        };
        return Err(fatal(
            offset,
            format!("the tar header at byte {offset} ({place}) is damaged: its checksum does not match its content"),
        ));
    }
    let name_end = block[..100].iter().position(|&b| b == 0).unwrap_or(100);
    let path = String::from_utf8_lossy(&block[..name_end]).into_owned();
    let (Some(size), Some(mtime)) = (parse_octal(&block[124..136]), parse_octal(&block[136..148]))
    else {
        return Err(not_an_evidence_file(offset));
    };
    let canonical = if valid_name(&path) {
        header(&path, size, mtime)
    } else {
        None
    };
    let Some(canonical) = canonical else {
        return Err(not_an_evidence_file(offset));
    };
    if let Some(i) = (0..BLOCK).find(|&i| canonical[i] != block[i]) {
        return Err(fatal(
            offset,
            format!(
                "the tar header of {path} at byte {offset} was altered at byte {}",
                offset + i
            ),
        ));
    }
    Ok(Some((path, size as usize)))
}

fn not_an_evidence_file(offset: usize) -> TarProblem {
    fatal(
        offset,
        format!("the tar header at byte {offset} does not describe a plain evidence file"),
    )
}

/// The content of the entry whose header is at `offset`, where its padding ends, and a problem
/// if that padding is not zero.
fn content_of(
    bytes: &[u8],
    offset: usize,
    path: String,
    size: usize,
) -> Result<(Entry, usize, Option<TarProblem>), TarProblem> {
    let start = offset + BLOCK;
    let Some(end) = start.checked_add(size).filter(|&e| e <= bytes.len()) else {
        return Err(fatal(
            start,
            format!("{path} (header at byte {offset}) says {size} bytes but the archive ends before them (truncated?)"),
        ));
    };
    let padded = start + size.div_ceil(BLOCK) * BLOCK;
    if padded > bytes.len() {
        return Err(fatal(
            end,
            format!("the archive ends inside the padding of {path} (truncated?)"),
        ));
    }
    let padding_problem = (end..padded).find(|&i| bytes[i] != 0).map(|i| TarProblem {
        offset: i,
        problem: format!("byte {i}, in the padding after {path}, is not zero"),
        fatal: false,
    });
    let entry = Entry {
        path,
        header_offset: offset,
        data: bytes[start..end].to_vec(),
    };
    Ok((entry, padded, padding_problem))
}

/// The end: two zero blocks, then nothing but zeros (tools may pad to a record size).
fn end_of_archive(bytes: &[u8], offset: usize) -> Option<TarProblem> {
    if offset + 2 * BLOCK > bytes.len() {
        return Some(fatal(
            offset,
            "the archive ends inside its end-of-archive blocks (truncated?)".into(),
        ));
    }
    (offset..bytes.len())
        .find(|&i| bytes[i] != 0)
        .map(|i| TarProblem {
            offset: i,
            problem: format!(
                "byte {i}, after the end of the archive, is not zero (data appended?)"
            ),
            fatal: false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Vec<(String, Vec<u8>)> {
        vec![
            ("a.txt".into(), b"hello\n".to_vec()),
            ("empty.json".into(), Vec::new()),
            ("block.bin".into(), vec![7u8; 512]),
        ]
    }

    #[test]
    fn an_archive_reads_back_as_written() {
        let bytes = write(&sample(), 1_700_000_000);
        assert_eq!(bytes.len() % 512, 0);
        let (entries, problems) = read(&bytes);
        assert!(problems.is_empty(), "{problems:?}");
        let got: Vec<(String, Vec<u8>)> = entries.into_iter().map(|e| (e.path, e.data)).collect();
        assert_eq!(got, sample());
    }

    #[test]
    fn a_header_checksum_matches_what_tar_tools_compute() {
        // The checksum is the sum of the header bytes with the checksum field read as spaces.
        let h = header("x", 3, 0).unwrap();
        let sum: u32 = h
            .iter()
            .enumerate()
            .map(|(i, &b)| u32::from(if (148..156).contains(&i) { b' ' } else { b }))
            .sum();
        assert_eq!(parse_octal(&h[148..156]), Some(u64::from(sum)));
    }

    #[test]
    fn a_damaged_header_names_its_offset() {
        let mut bytes = write(&sample(), 0);
        bytes[512 + 512 + 3] ^= 1; // inside the second header (after a.txt's one data block)
        let (_, problems) = read(&bytes);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].problem.contains("byte 1024"), "{problems:?}");
        assert!(problems[0].fatal);
    }

    #[test]
    fn truncation_and_appended_bytes_show() {
        let bytes = write(&sample(), 0);
        let (_, p) = read(&bytes[..bytes.len() - 512]);
        assert!(p[0].problem.contains("truncated"));
        let mut more = bytes.clone();
        more.extend_from_slice(b"x");
        let (_, p) = read(&more);
        assert!(!p.is_empty());
        let mut padded = bytes.clone();
        padded.extend_from_slice(&[0u8; 10240]);
        assert!(read(&padded).1.is_empty());
    }

    proptest! {
        #[test]
        fn any_flipped_byte_outside_file_content_is_a_structural_problem(pick in any::<prop::sample::Index>(), mask in 1u8..=255) {
            let files = sample();
            let bytes = write(&files, 42);
            let i = pick.index(bytes.len());
            let mut bad = bytes.clone();
            bad[i] ^= mask;
            let (entries, problems) = read(&bad);
            let content_changed = entries.iter().map(|e| &e.data).ne(files.iter().map(|(_, d)| d));
            prop_assert!(!problems.is_empty() || content_changed, "flip at {} unnoticed", i);
        }
    }
}
