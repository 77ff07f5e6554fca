//! Evidence bundles: one archive per release that an auditor can read and check without Slipway.
//!
//! A bundle is a plain tar ([`tar`]) of fixed files: the content sections the server produces
//! (JSON and an HTML summary), a `manifest.json` listing every other file with its size and
//! SHA-256, `manifest.sig` (ed25519 over the manifest's exact bytes by the server's evidence
//! key), the key itself (`evidence-key.pub`), a `SHA256SUMS` for `sha256sum -c`, and a README
//! that says how to check all of it by hand. [`assemble`] builds one ([`frame`]: all but the content,
//! for a writer that streams it); [`verify`] checks one
//! offline and names the place of every problem. Both are pure: the caller brings the time, the
//! key and the sections.

pub mod inclusion;
pub mod proof;
pub mod tar;
mod verify;

pub use verify::{verify, verify_trusting};

use serde::{Deserialize, Serialize};

use crate::audit::ChainHead;
use crate::signing::{PublicKey, SigningKey};
use crate::Sha256;

/// The format written in every manifest; a verifier refuses formats it does not know.
pub const FORMAT: &str = "slipway-evidence/1";
pub const README: &str = "README.txt";
pub const MANIFEST: &str = "manifest.json";
pub const SIGNATURE: &str = "manifest.sig";
pub const KEY: &str = "evidence-key.pub";
pub const SUMS: &str = "SHA256SUMS";
pub const AUDIT: &str = "audit.json";
/// The electronic signatures of the release's records (bundles exported before signatures
/// existed have none; the manifest says whether one does).
pub const SIGNATURES: &str = "signatures.json";
/// The content sections every bundle of this format holds (a later version may add more; the
/// signed manifest says which files a bundle has).
pub const REQUIRED_SECTIONS: &[&str] = &[
    "summary.html",
    "release.json",
    "plan.json",
    "deployments.json",
    AUDIT,
];

/// One content file of a bundle, with a line for the README saying what it holds.
#[derive(Debug, Clone)]
pub struct Section {
    pub path: &'static str,
    pub describes: &'static str,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub sha256: Sha256,
}

/// Who exported: the software, and the evidence key that signs (its fingerprint is what an
/// auditor compares with the one the server shows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerIdentity {
    pub software: String,
    pub public_key: PublicKey,
    pub key_fingerprint: String,
}

/// `manifest.json`, the signed table of contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub project: String,
    pub release: String,
    /// RFC 3339 UTC.
    pub exported_at: String,
    pub exported_by: String,
    pub server: ServerIdentity,
    /// The audit chain's last event at export.
    pub audit_head: ChainHead,
    /// Every file but the manifest itself, its signature and SHA256SUMS, in archive order.
    pub files: Vec<FileEntry>,
}

/// What the server knows about an export besides its sections.
#[derive(Debug, Clone)]
pub struct Export {
    pub project: String,
    pub release: String,
    pub exported_at: String,
    /// The same instant in seconds since 1970, for the archive entries' dates.
    pub exported_at_unix: u64,
    pub exported_by: String,
    pub software: String,
    pub audit_head: ChainHead,
}

/// `sha256:` and the hex SHA-256 of the raw 32-byte public key.
pub fn fingerprint(key: &PublicKey) -> String {
    format!("sha256:{}", Sha256::of(key.as_bytes()).to_hex())
}

/// The ASN.1 prefix of an ed25519 SubjectPublicKeyInfo (RFC 8410), before the 32 key bytes.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `evidence-key.pub`: the key in Slipway's form, its fingerprint, and PEM for OpenSSL.
pub fn key_file_text(key: &PublicKey) -> String {
    let mut spki = SPKI_PREFIX.to_vec();
    spki.extend_from_slice(key.as_bytes());
    format!(
        "# Slipway evidence key: the server's ed25519 key that signs manifest.json.\n# Compare the fingerprint with the one the server shows (`slipway evidence key`).\nfingerprint: {}\n{key}\n-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        fingerprint(key),
        base64(&spki)
    )
}

/// The key in an `evidence-key.pub`, only if the file is exactly as exported.
pub fn parse_key_file(text: &str) -> Option<PublicKey> {
    let key = text
        .lines()
        .find(|l| l.starts_with("ed25519:"))
        .and_then(|l| PublicKey::parse(l).ok())?;
    (key_file_text(&key) == text).then_some(key)
}

/// What `SHA256SUMS` says of `files` (the verifier compares it with the one in a bundle).
pub(super) fn sums_text(files: &[(String, Vec<u8>)]) -> String {
    files
        .iter()
        .filter(|(p, _)| p != SUMS)
        .map(|(p, d)| format!("{}  {p}\n", Sha256::of(d).to_hex()))
        .collect()
}

/// A file a bundle carries as it was received (a test report), named at export: hashed and
/// covered by the manifest like a section.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// A plain file name ([`tar::valid_name`]).
    pub path: String,
    pub describes: String,
    pub bytes: Vec<u8>,
}

fn readme(export: &Export, members: &[Member]) -> String {
    let mut files = String::new();
    for m in members {
        files.push_str(&format!("  {:<18} {}\n", m.path, m.describes));
    }
    format!(
        "Slipway evidence bundle: release {release} of project {project}
Exported {at} by {by}. Format {FORMAT}.

FILES
  {README:<18} this text.
  {MANIFEST:<18} what the bundle holds: every other file with its size and SHA-256, who
  {:<18} exported it, the server's evidence key, and the audit chain's head at export.
  {SIGNATURE:<18} the ed25519 signature of manifest.json's exact bytes, in hexadecimal.
  {KEY:<18} the public key that signed it, its fingerprint, and the same key as PEM.
  {SUMS:<18} SHA-256 of every file but itself, for `sha256sum -c`.
{files}
CHECKING WITH SLIPWAY (offline, no server needed)
  slipway evidence verify THIS.tar --key-fingerprint <fingerprint shown by the server>
  (without a trusted fingerprint it checks integrity only and exits 9: anyone can re-sign)

CHECKING BY HAND (coreutils, OpenSSL 3, xxd, jq)
  mkdir bundle && tar -xf THIS.tar -C bundle && cd bundle
  1. Every file against the signed manifest, and against SHA256SUMS:
       jq -r '.files[] | \"\\(.sha256)  \\(.path)\"' manifest.json | sha256sum -c
       sha256sum -c SHA256SUMS
  2. The signature of manifest.json:
       sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p' {KEY} > key.pem
       xxd -r -p {SIGNATURE} > manifest.sig.bin
       openssl pkeyutl -verify -pubin -inkey key.pem -rawin -in manifest.json -sigfile manifest.sig.bin
  3. The key is the server's: its fingerprint (the SHA-256 of the 32 raw key bytes)
       openssl pkey -pubin -in key.pem -outform DER | tail -c 32 | sha256sum
     must equal the fingerprint the server shows (`slipway evidence key`, console, or
     GET /api/v1/evidence/key) and the one in {KEY} and manifest.json.
  4. The audit events (audit.json): for each full event, the hash is SHA-256 over the fields
     prev_hash, seq (decimal), at, actor, verb, subject, details (text as stored), each preceded
     by its length in bytes as an 8-byte big-endian integer. When its chain is \"links\":
     sorted by seq, events and links must have no gap and each prev_hash must equal the hash
     before it; the last one must be the audit_head of manifest.json. When its chain is
     \"checkpoint\", it holds no links: events next to each other in the log must chain, and
     each event and the head must be proven by inclusion.json (step 5). To tie it to the live log,
     compare that head with the event of the same seq on the server (`slipway audit list`).
  5. The inclusion proofs (inclusion.json, when present): each event's and the head's audit path
     leads from its leaf to the root of the checkpoint, signed by the checkpoint key
     (docs/evidence.md gives a script).
",
        "",
        release = export.release,
        project = export.project,
        at = export.exported_at,
        by = export.exported_by,
    )
}

/// Build a bundle: README, manifest, signature, key and sums around `sections`.
///
/// Panics if two sections share a path or a path is not a plain file name: section paths are
/// fixed in code.
pub fn assemble(export: &Export, sections: Vec<Section>, key: &SigningKey) -> Vec<u8> {
    assemble_with(export, sections, Vec::new(), key)
}

/// Build a bundle with files carried as received after the sections.
///
/// Panics if two files share a path or a path is not a plain file name: callers name them.
pub fn assemble_with(
    export: &Export,
    sections: Vec<Section>,
    attachments: Vec<Attachment>,
    key: &SigningKey,
) -> Vec<u8> {
    let contents: Vec<(Member, Vec<u8>)> = sections
        .into_iter()
        .map(|s| (Member::of(s.path, s.describes, &s.bytes), s.bytes))
        .chain(
            attachments
                .into_iter()
                .map(|a| (Member::of(&a.path, &a.describes, &a.bytes), a.bytes)),
        )
        .collect();
    let members: Vec<Member> = contents.iter().map(|(m, _)| m.clone()).collect();
    let frame = frame(export, &members, key);
    let mut out = Vec::with_capacity(usize::try_from(frame.archive_size()).unwrap_or(0));
    out.extend_from_slice(&frame.head);
    for ((member, bytes), header) in contents.iter().zip(&frame.headers) {
        out.extend_from_slice(header);
        out.extend_from_slice(bytes);
        out.resize(out.len() + tar::padding(member.size), 0);
    }
    out.extend_from_slice(&tar::END);
    out
}

/// A content file of a bundle known by its name, size and SHA-256, for a writer that streams
/// its bytes rather than hold them ([`frame`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// A plain file name ([`tar::valid_name`]).
    pub path: String,
    /// Its line in the README.
    pub describes: String,
    pub size: u64,
    pub sha256: Sha256,
}

impl Member {
    /// The member for content held whole.
    pub fn of(path: &str, describes: &str, bytes: &[u8]) -> Member {
        Member {
            path: path.to_string(),
            describes: describes.to_string(),
            size: bytes.len() as u64,
            sha256: Sha256::of(bytes),
        }
    }
}

/// Everything of a bundle but its content files' bytes: the archive is [`Frame::head`], then
/// for each member its header from [`Frame::headers`], its bytes and [`tar::padding`] zero
/// bytes, then [`tar::END`]. The same bytes as [`assemble_with`] gives for the same content.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The archive's first entries, whole: README, manifest, signature, key, SHA256SUMS.
    pub head: Vec<u8>,
    /// The tar header of each member, in the order given.
    pub headers: Vec<[u8; tar::BLOCK]>,
    members_size: u64,
}

impl Frame {
    /// The whole archive's length in bytes.
    pub fn archive_size(&self) -> u64 {
        self.head.len() as u64
            + self.headers.len() as u64 * tar::BLOCK as u64
            + self.members_size
            + tar::END.len() as u64
    }
}

/// The README, the signed manifest, the key and the sums around `members`, whose bytes the
/// caller writes after their headers: the manifest needs only their sizes and digests.
///
/// Panics if two files share a path or a path is not a plain file name: callers name them.
pub fn frame(export: &Export, members: &[Member], key: &SigningKey) -> Frame {
    let public = key.public_key();
    let readme = readme(export, members).into_bytes();
    let key_text = key_file_text(&public).into_bytes();
    let mut files = vec![
        FileEntry {
            path: README.into(),
            size: readme.len() as u64,
            sha256: Sha256::of(&readme),
        },
        FileEntry {
            path: KEY.into(),
            size: key_text.len() as u64,
            sha256: Sha256::of(&key_text),
        },
    ];
    for m in members {
        assert!(
            !files.iter().any(|f| f.path == m.path),
            "bundle paths are unique"
        );
        files.push(FileEntry {
            path: m.path.clone(),
            size: m.size,
            sha256: m.sha256,
        });
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        project: export.project.clone(),
        release: export.release.clone(),
        exported_at: export.exported_at.clone(),
        exported_by: export.exported_by.clone(),
        server: ServerIdentity {
            software: export.software.clone(),
            public_key: public,
            key_fingerprint: fingerprint(&public),
        },
        audit_head: export.audit_head.clone(),
        files,
    };
    let mut manifest_bytes =
        serde_json::to_vec_pretty(&manifest).expect("a manifest always serialises");
    manifest_bytes.push(b'\n');
    let signature = format!("{}\n", key.sign(&manifest_bytes)).into_bytes();
    let head_files: Vec<(String, Vec<u8>)> = vec![
        (README.into(), readme),
        (MANIFEST.into(), manifest_bytes),
        (SIGNATURE.into(), signature),
        (KEY.into(), key_text),
    ];
    // SHA256SUMS lists every file in archive order but itself, which comes fifth.
    let mut sums = sums_text(&head_files);
    for m in members {
        sums.push_str(&format!("{}  {}\n", m.sha256.to_hex(), m.path));
    }
    let mut head = tar::write(&head_files, export.exported_at_unix);
    head.truncate(head.len() - tar::END.len());
    head.extend_from_slice(&tar::header_block(
        SUMS,
        sums.len() as u64,
        export.exported_at_unix,
    ));
    head.extend_from_slice(sums.as_bytes());
    head.resize(head.len() + tar::padding(sums.len() as u64), 0);
    Frame {
        head,
        headers: members
            .iter()
            .map(|m| tar::header_block(&m.path, m.size, export.exported_at_unix))
            .collect(),
        members_size: members
            .iter()
            .map(|m| m.size + tar::padding(m.size) as u64)
            .sum(),
    }
}

/// One thing wrong with a bundle, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// A file name, `archive` (its structure), or `audit.json event N`.
    pub place: String,
    pub problem: String,
}

/// What a verified (or partly verified) bundle says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Empty when the bundle is intact.
    pub problems: Vec<Problem>,
    /// The manifest, when it could be read (trust it only if there is no problem).
    pub manifest: Option<Manifest>,
    /// Who signed the bundle, judged apart from its integrity.
    pub origin: Origin,
    pub audit_events: usize,
    pub audit_links: usize,
    /// What ties `audit.json`'s full events to the head: its links, or the inclusion proofs.
    pub audit_chain: proof::ChainEvidence,
    /// How each electronic signature that verified reads, in bundle order.
    pub signatures: Vec<String>,
    /// The signed audit checkpoint the bundle's events are proven included in (`inclusion.json`),
    /// with its own origin; `None` for a bundle without one (exported by a server that signs no
    /// checkpoints, or before bundles carried them).
    pub checkpoint: Option<inclusion::CheckpointReport>,
}

/// Who signed a bundle. Integrity (every byte as signed) and origin (signed by a key the reader
/// trusts) are separate questions: a forger who rewrites a bundle can re-sign it with a key of
/// their own and plant that key inside it, so a bundle that agrees with its own key proves
/// nothing about where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Origin {
    /// Signed by one of the keys the reader trusts.
    Trusted { fingerprint: String },
    /// Signed by a key that is not among those the reader trusts.
    Untrusted { fingerprint: String },
    /// The reader named no trusted key: the signature only matches the key the bundle carries.
    NotEstablished { fingerprint: String },
    /// The bundle's key could not be read.
    Unknown,
}

impl Report {
    /// Every byte is as it was signed (whoever signed it: see [`Report::origin`]).
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }

    /// Intact and signed by a key the reader trusts.
    pub fn ok(&self) -> bool {
        self.intact() && matches!(self.origin, Origin::Trusted { .. })
    }
}

/// Read a trust file: one fingerprint per line (as `slipway evidence key` prints it), blank lines
/// and `#` comments ignored. `Err` names the first line that is not a fingerprint.
pub fn parse_trust_file(text: &str) -> Result<Vec<String>, String> {
    let mut trusted = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        match parse_fingerprint(line) {
            Some(f) => trusted.push(f),
            None => {
                return Err(format!(
                    "line {} is not a fingerprint (sha256: followed by 64 hexadecimal characters)",
                    number + 1
                ))
            }
        }
    }
    Ok(trusted)
}

/// Normalise a fingerprint as given by a person: `sha256:` optional, case ignored.
pub fn parse_fingerprint(text: &str) -> Option<String> {
    let t = text.trim().to_ascii_lowercase();
    let hex = t.strip_prefix("sha256:").unwrap_or(&t);
    Sha256::parse(hex).ok().map(|d| format!("sha256:{d}"))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod checkpoint_bundle_tests;
