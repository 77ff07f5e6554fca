//! Checkpoints as C2SP signed notes (`c2sp.org/signed-note`, `c2sp.org/tlog-checkpoint`):
//!
//! ```text
//! slipway-audit/3f2a9c0d1e4b5a67      origin: the log's name
//! 42                                  tree size
//! qfB0Vm…Ew=                          base64 root hash
//! time 2026-11-29T23:00:00Z           extension line: when it was signed
//!
//! — slipway-audit/3f2a9c0d1e4b5a67 AbCdEf…   key ID (4 bytes) + Ed25519 signature, base64
//! ```
//!
//! The signature covers the note text (every line before the blank line, each with its newline).
//! The key ID is the first four bytes of `SHA-256(name || 0x0A || 0x01 || public key)`, as the
//! signed-note specification defines it for Ed25519, so Go's `golang.org/x/mod/sumdb/note` and
//! other transparency-log tools read these notes too.
//! Parsing is bounded: a note longer than [`MAX_NOTE_BYTES`] or with more than
//! [`MAX_SIGNATURES`] signature lines is refused before anything else is read.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::Digest;

use super::merkle::Hash;
use crate::signing::{PublicKey, SigningKey};

/// Longer notes are refused unread: a checkpoint is a few hundred bytes.
pub const MAX_NOTE_BYTES: usize = 16 * 1024;
/// More signature lines than this are refused (a note carries its log's and a few witnesses').
pub const MAX_SIGNATURES: usize = 32;
/// The signature type byte of Ed25519 in the signed-note key ID.
const ED25519: u8 = 0x01;
const DASH: &str = "\u{2014} ";

/// What a checkpoint states: the log, its size, its root and when it was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    pub time: jiff::Timestamp,
}

/// A checkpoint with the text that was signed and the signature lines that came with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    /// The whole note as written, signatures included: what goes to the log file and witnesses.
    pub note: String,
    signatures: Vec<NoteSignature>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct NoteSignature {
    name: String,
    key_id: [u8; 4],
    signature: [u8; 64],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("the checkpoint is {0} bytes, more than the {MAX_NOTE_BYTES} a checkpoint may have")]
    TooLong(usize),
    #[error("the checkpoint has more than {MAX_SIGNATURES} signature lines")]
    TooManySignatures,
    #[error("the checkpoint has no blank line between its text and its signatures")]
    NoSignatures,
    #[error("line {line} of the checkpoint: {problem}")]
    BadLine { line: usize, problem: String },
    #[error("the checkpoint is not signed by the key {0}")]
    NotSignedBy(String),
}

/// The signed-note key ID of an Ed25519 key under `name`.
pub fn key_id(name: &str, key: &PublicKey) -> [u8; 4] {
    let mut hasher = sha2::Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([b'\n', ED25519]);
    hasher.update(key.as_bytes());
    let digest: [u8; 32] = hasher.finalize().into();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// The verifier key in the signed-note text form, `name+keyid+base64(0x01 || key)`, which
/// `golang.org/x/mod/sumdb/note` and witnesses accept as is.
pub fn verifier_key(name: &str, key: &PublicKey) -> String {
    let mut bytes = vec![ED25519];
    bytes.extend_from_slice(key.as_bytes());
    format!(
        "{name}+{}+{}",
        crate::digest::lower_hex(&key_id(name, key)),
        STANDARD.encode(bytes)
    )
}

impl Checkpoint {
    /// The note text: what is signed.
    pub fn text(&self) -> String {
        format!(
            "{}\n{}\n{}\ntime {}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root),
            self.time.strftime("%Y-%m-%dT%H:%M:%SZ")
        )
    }

    /// Sign with the log's key; the signature line is named after the origin, as C2SP does.
    pub fn sign(self, key: &SigningKey) -> SignedCheckpoint {
        let text = self.text();
        let public = key.public_key();
        let signature = NoteSignature {
            name: self.origin.clone(),
            key_id: key_id(&self.origin, &public),
            signature: key.sign_raw(text.as_bytes()),
        };
        let note = format!("{text}\n{}", signature.line());
        SignedCheckpoint {
            checkpoint: self,
            note,
            signatures: vec![signature],
        }
    }
}

impl NoteSignature {
    fn line(&self) -> String {
        let mut bytes = self.key_id.to_vec();
        bytes.extend_from_slice(&self.signature);
        format!("{DASH}{} {}\n", self.name, STANDARD.encode(bytes))
    }
}

impl SignedCheckpoint {
    /// Read one note. Only its shape is checked here; [`SignedCheckpoint::verify`] checks the
    /// signature.
    pub fn parse(note: &str) -> Result<SignedCheckpoint, NoteError> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLong(note.len()));
        }
        let bad = |line: usize, problem: &str| NoteError::BadLine {
            line,
            problem: problem.to_string(),
        };
        if !note.ends_with('\n') {
            return Err(bad(note.lines().count(), "a note ends with a newline"));
        }
        if let Some(c) = note.chars().find(|c| c.is_control() && *c != '\n') {
            return Err(bad(
                note[..note.find(c).unwrap_or(0)].matches('\n').count() + 1,
                &format!(
                    "control character U+{:04X} where only text may be",
                    c as u32
                ),
            ));
        }
        let split = note.find("\n\n").ok_or(NoteError::NoSignatures)?;
        let (text, signatures) = (&note[..=split], &note[split + 2..]);
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() < 3 {
            return Err(bad(
                lines.len() + 1,
                "a checkpoint has an origin line, a size line and a root hash line",
            ));
        }
        let origin = lines[0];
        if origin.is_empty() {
            return Err(bad(1, "the origin line is empty"));
        }
        let size_ok = !lines[1].is_empty()
            && lines[1].bytes().all(|b| b.is_ascii_digit())
            && (lines[1] == "0" || !lines[1].starts_with('0'));
        let size: u64 = size_ok
            .then(|| lines[1].parse().ok())
            .flatten()
            .ok_or_else(|| {
                bad(
                    2,
                    "the tree size is not a decimal number without leading zeros",
                )
            })?;
        let root: Hash = STANDARD
            .decode(lines[2])
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad(3, "the root hash is not 32 bytes of base64"))?;
        let mut time = None;
        for (i, extension) in lines[3..].iter().enumerate() {
            let at = extension
                .strip_prefix("time ")
                .and_then(|t| t.parse::<jiff::Timestamp>().ok());
            match (at, time) {
                (Some(at), None) => time = Some(at),
                _ => {
                    return Err(bad(
                        i + 4,
                        "expected one line `time <RFC 3339 UTC>` after the root hash",
                    ))
                }
            }
        }
        let time = time.ok_or_else(|| bad(4, "the `time …` line is missing"))?;
        let first_signature_line = lines.len() + 2;
        let mut parsed = Vec::new();
        for (i, line) in signatures.lines().enumerate() {
            if parsed.len() == MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures);
            }
            parsed.push(
                parse_signature(line).map_err(|problem| bad(first_signature_line + i, problem))?,
            );
        }
        if parsed.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        Ok(SignedCheckpoint {
            checkpoint: Checkpoint {
                origin: origin.to_string(),
                size,
                root,
                time,
            },
            note: note.to_string(),
            signatures: parsed,
        })
    }

    /// Whether the log's key signed this note under the checkpoint's origin. Other signatures
    /// (witnesses' cosignatures) are left alone.
    pub fn verify(&self, key: &PublicKey) -> Result<(), NoteError> {
        let name = &self.checkpoint.origin;
        let id = key_id(name, key);
        let text_end = self.note.find("\n\n").map_or(0, |i| i + 1);
        let text = &self.note.as_bytes()[..text_end];
        let signed = self
            .signatures
            .iter()
            .filter(|s| s.name == *name && s.key_id == id)
            .any(|s| crate::signing::verify_raw(key, text, &s.signature));
        if signed {
            Ok(())
        } else {
            Err(NoteError::NotSignedBy(verifier_key(name, key)))
        }
    }
}

fn parse_signature(line: &str) -> Result<NoteSignature, &'static str> {
    let rest = line
        .strip_prefix(DASH)
        .ok_or("a signature line starts with an em dash (U+2014) and a space")?;
    let (name, encoded) = rest
        .split_once(' ')
        .ok_or("a signature line is `— <key name> <base64 signature>`")?;
    if name.is_empty() || name.contains('+') {
        return Err("a key name is not empty and has no `+`");
    }
    let bytes = STANDARD
        .decode(encoded)
        .map_err(|_| "the signature is not base64")?;
    if bytes.len() != 4 + 64 {
        return Err("an Ed25519 signature is a 4-byte key ID and 64 bytes");
    }
    let mut key_id = [0u8; 4];
    key_id.copy_from_slice(&bytes[..4]);
    let mut signature = [0u8; 64];
    signature.copy_from_slice(&bytes[4..]);
    Ok(NoteSignature {
        name: name.to_string(),
        key_id,
        signature,
    })
}

impl fmt::Display for SignedCheckpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.note)
    }
}

/// Split a file of notes, each followed by a blank line (as `checkpoints.log` holds them), into
/// notes; each is parsed and bounded on its own. A note that does not end with its blank line is
/// taken as is, so a file cut mid-write still yields the notes before it.
pub fn split_notes(file: &str) -> impl Iterator<Item = &str> {
    let mut rest = file;
    std::iter::from_fn(move || {
        rest = rest.trim_start_matches('\n');
        if rest.is_empty() {
            return None;
        }
        // The note's own blank line comes first; the one after its signatures ends it.
        let text_end = rest.find("\n\n").map_or(rest.len(), |i| i + 2);
        let end = rest[text_end..]
            .find("\n\n")
            .map_or(rest.len(), |i| text_end + i + 1);
        let (note, after) = rest.split_at(end);
        rest = after;
        Some(note)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(size: u64) -> Checkpoint {
        Checkpoint {
            origin: "slipway-audit/test".into(),
            size,
            root: super::super::merkle::leaf_hash(b"root"),
            time: "2026-11-29T23:00:00Z".parse().expect("a time"),
        }
    }

    #[test]
    fn a_signed_checkpoint_round_trips_and_verifies_with_its_key_only() {
        let key = SigningKey::from_seed([3; 32]);
        let signed = checkpoint(45).sign(&key);
        assert!(signed.note.starts_with("slipway-audit/test\n45\n"));
        assert!(signed.note.contains("\n\n\u{2014} slipway-audit/test "));
        let parsed = SignedCheckpoint::parse(&signed.note).expect("parses");
        assert_eq!(parsed.checkpoint, checkpoint(45));
        assert_eq!(parsed.verify(&key.public_key()), Ok(()));
        let other = SigningKey::from_seed([4; 32]).public_key();
        assert!(matches!(
            parsed.verify(&other),
            Err(NoteError::NotSignedBy(_))
        ));
    }

    #[test]
    fn a_changed_size_root_or_time_fails_the_signature() {
        let key = SigningKey::from_seed([3; 32]);
        let note = checkpoint(45).sign(&key).note;
        for forged in [
            note.replacen("\n45\n", "\n46\n", 1),
            note.replacen("23:00:00Z", "23:00:01Z", 1),
        ] {
            let parsed = SignedCheckpoint::parse(&forged).expect("still well formed");
            assert!(parsed.verify(&key.public_key()).is_err(), "{forged}");
        }
        let mut root_forged = checkpoint(45);
        root_forged.root[0] ^= 1;
        let text = root_forged.text();
        let signature_part = &note[note.find("\n\n").expect("blank line") + 1..];
        let forged = format!("{text}{signature_part}");
        let parsed = SignedCheckpoint::parse(&forged).expect("still well formed");
        assert!(parsed.verify(&key.public_key()).is_err());
    }

    #[test]
    fn the_key_id_follows_the_signed_note_definition() {
        // SHA-256("slipway-audit/test" || "\n" || 0x01 || key)[:4], computed independently.
        let key = SigningKey::from_seed([3; 32]).public_key();
        let mut pre = b"slipway-audit/test\n\x01".to_vec();
        pre.extend_from_slice(key.as_bytes());
        let digest = crate::Sha256::of(&pre);
        assert_eq!(key_id("slipway-audit/test", &key), digest.as_bytes()[..4]);
        let vkey = verifier_key("slipway-audit/test", &key);
        assert!(vkey.starts_with(&format!(
            "slipway-audit/test+{}+",
            crate::digest::lower_hex(&digest.as_bytes()[..4])
        )));
    }

    #[test]
    fn malformed_notes_are_refused_with_the_line_that_is_wrong() {
        let key = SigningKey::from_seed([3; 32]);
        let note = checkpoint(7).sign(&key).note;
        let line_of = |text: &str| match SignedCheckpoint::parse(text) {
            Err(NoteError::BadLine { line, .. }) => line,
            other => panic!("expected a bad line, got {other:?}"),
        };
        assert_eq!(line_of(&note.replacen("\n7\n", "\n07\n", 1)), 2);
        assert_eq!(line_of(&note.replacen("\n7\n", "\n-7\n", 1)), 2);
        assert_eq!(
            line_of(&note.replacen("\n7\n", "\n99999999999999999999999\n", 1)),
            2
        );
        let root_line = note.lines().nth(2).expect("root");
        assert_eq!(line_of(&note.replacen(root_line, "AAAA", 1)), 3);
        assert_eq!(line_of(&note.replacen("time ", "when ", 1)), 4);
        assert_eq!(line_of(&note.replacen("\u{2014} ", "- ", 1)), 6);
        assert_eq!(line_of(&note.replacen("\n7\n", "\n7\r\n", 1)), 2);
        assert_eq!(line_of(note.trim_end()), 6);
        assert_eq!(
            SignedCheckpoint::parse(&note.replacen("\n\n", "\n", 1)),
            Err(NoteError::NoSignatures)
        );
    }

    #[test]
    fn huge_notes_and_signature_floods_are_refused_unread() {
        let huge = format!("o\n1\n{}\n\n", "A".repeat(MAX_NOTE_BYTES));
        assert!(matches!(
            SignedCheckpoint::parse(&huge),
            Err(NoteError::TooLong(_))
        ));
        let key = SigningKey::from_seed([3; 32]);
        let note = checkpoint(7).sign(&key).note;
        let line = &note[note.find("\n\n").expect("blank") + 2..];
        let flood = format!("{note}{}", line.repeat(MAX_SIGNATURES));
        assert_eq!(
            SignedCheckpoint::parse(&flood),
            Err(NoteError::TooManySignatures)
        );
        // Broken encodings never reach the parser: the caller holds `&str`; invalid base64 and
        // stray bytes are named.
        assert!(SignedCheckpoint::parse("\u{0}\n1\nAA==\n\n").is_err());
    }

    #[test]
    fn a_file_of_notes_splits_into_each_note() {
        let key = SigningKey::from_seed([3; 32]);
        let notes: Vec<String> = (1..=3).map(|n| checkpoint(n).sign(&key).note).collect();
        let file = notes.iter().map(|n| format!("{n}\n")).collect::<String>();
        let split: Vec<&str> = split_notes(&file).collect();
        assert_eq!(split, notes.iter().map(String::as_str).collect::<Vec<_>>());
        // A file cut mid-write keeps the notes before the cut.
        let cut = &file[..file.len() - 20];
        let split: Vec<&str> = split_notes(cut).collect();
        assert_eq!(split.len(), 3);
        assert!(SignedCheckpoint::parse(split[2]).is_err());
    }
}
