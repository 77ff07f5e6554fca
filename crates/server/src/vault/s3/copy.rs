//! Copying an object on the service's side, whatever its size: S3 copies at most 5 GiB in one
//! `CopyObject`, while the vault takes artifacts of 8 GiB by default. Up to one part's size the
//! copy is one request; above, a multipart upload at the destination whose parts are copied from
//! the source (`UploadPartCopy`), a few at once, and completed only when every part is there, so
//! no reader sees part of the copy. It blocks, like the client it calls.

use super::client::{S3Client, S3Error};

/// The smallest and largest part S3 takes (except the last part, which may be smaller).
pub(crate) const MIN_PART_BYTES: u64 = 5 << 20;
pub(crate) const MAX_PART_BYTES: u64 = 5 << 30;
/// The default part size of a copy: objects up to this size are copied in one request.
pub(crate) const DEFAULT_PART_BYTES: u64 = 4 << 30;
/// Parts copied at once.
const PARTS_AT_ONCE: usize = 4;

/// Copy `from` (`size` bytes) to `to`: in one request up to `part_bytes`, in parts of
/// `part_bytes` above. A copy in parts that fails is aborted: `to` is left as it was.
pub(crate) fn copy_object(
    client: &S3Client,
    from: &str,
    to: &str,
    size: u64,
    part_bytes: u64,
) -> Result<(), S3Error> {
    if size <= part_bytes {
        return client.copy(from, to);
    }
    let upload_id = client.create_multipart(to)?;
    let copied = copy_parts(client, from, to, &upload_id, part_ranges(size, part_bytes))
        .and_then(|parts| client.complete_multipart(to, &upload_id, &parts));
    if copied.is_err() {
        if let Err(e) = client.abort_multipart(to, &upload_id) {
            tracing::warn!(key = %to, error = %e, "cannot abort a failed copy in parts");
        }
    }
    copied
}

/// The inclusive byte ranges of the parts of an object of `size` bytes (more than zero).
fn part_ranges(size: u64, part_bytes: u64) -> Vec<(u64, u64)> {
    (0..size.div_ceil(part_bytes))
        .map(|i| {
            let first = i * part_bytes;
            (first, (first + part_bytes).min(size) - 1)
        })
        .collect()
}

/// Copy each range as the part of its number (from 1), [`PARTS_AT_ONCE`] at a time; the parts'
/// numbers and ETags in order.
fn copy_parts(
    client: &S3Client,
    from: &str,
    to: &str,
    upload_id: &str,
    ranges: Vec<(u64, u64)>,
) -> Result<Vec<(u32, String)>, S3Error> {
    let numbered: Vec<(u32, (u64, u64))> = (1..).zip(ranges).collect();
    let mut parts = Vec::with_capacity(numbered.len());
    for group in numbered.chunks(PARTS_AT_ONCE) {
        let copied: Vec<Result<(u32, String), S3Error>> = std::thread::scope(|scope| {
            let running: Vec<_> = group
                .iter()
                .map(|&(number, range)| {
                    scope.spawn(move || {
                        client
                            .upload_part_copy(to, upload_id, number, from, range)
                            .map(|etag| (number, etag))
                    })
                })
                .collect();
            running
                .into_iter()
                .map(|part| {
                    part.join().unwrap_or_else(|_| {
                        Err(S3Error::Unreachable {
                            endpoint: client.endpoint.to_string(),
                            reason: "a part's copy panicked".into(),
                        })
                    })
                })
                .collect()
        });
        for part in copied {
            parts.push(part?);
        }
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_every_byte_once_and_only_the_last_is_shorter() {
        assert_eq!(part_ranges(10, 4), vec![(0, 3), (4, 7), (8, 9)]);
        assert_eq!(part_ranges(8, 4), vec![(0, 3), (4, 7)]);
        assert_eq!(part_ranges(1, 4), vec![(0, 0)]);
        let size = (8 << 30) + 1;
        let ranges = part_ranges(size, DEFAULT_PART_BYTES);
        assert_eq!(ranges.len(), 3);
        assert_eq!(ranges.last(), Some(&(8 << 30, 8 << 30)));
        assert!(ranges.windows(2).all(|w| w[0].1 + 1 == w[1].0));
    }
}
