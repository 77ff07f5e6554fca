//! The offline verifier of an evidence bundle: every problem found, each named by its place
//! (a file, `archive`, or `audit.json event N`), and the bundle's origin judged apart from its
//! integrity. It reads bytes and nothing else: no file system, no network, no clock.

use super::inclusion::{self, CheckpointReport, INCLUSION};
use super::{
    fingerprint, parse_key_file, proof, sums_text, tar, Manifest, Origin, Problem, Report, AUDIT,
    FORMAT, KEY, MANIFEST, README, REQUIRED_SECTIONS, SIGNATURE, SIGNATURES, SUMS,
};
use crate::signature::Shown;
use crate::signing::{self, PublicKey};
use crate::Sha256;

/// Check a bundle offline. `trusted`: the fingerprints of the evidence keys the reader trusts, as
/// the server shows them (normalised by [`super::parse_fingerprint`]); with none, the origin is
/// [`Origin::NotEstablished`] and the caller should show the fingerprint to compare.
pub fn verify(bytes: &[u8], trusted: &[String]) -> Report {
    verify_trusting(bytes, trusted, trusted)
}

/// [`verify`], with the fingerprints trusted for the bundle's evidence key and for the audit
/// checkpoint key its inclusion proofs rest on given apart.
pub fn verify_trusting(bytes: &[u8], trusted: &[String], checkpoint_keys: &[String]) -> Report {
    let (entries, tar_problems) = tar::read(bytes);
    let mut check = Check::default();
    let broken = tar_problems.iter().any(|p| p.fatal);
    for p in tar_problems {
        check.problem("archive", p.problem);
    }
    if broken {
        // The files after the damage cannot be located: checking them would only add noise.
        return check.into_report(None, Origin::Unknown, None, Vec::new(), None);
    }
    let mut files = Files::default();
    for e in &entries {
        if files.get(&e.path).is_some() {
            check.problem(
                "archive",
                format!(
                    "{} appears twice (header at byte {})",
                    e.path, e.header_offset
                ),
            );
        } else {
            files.0.push((e.path.as_str(), e.data.as_slice()));
        }
    }
    let manifest = check.manifest(&files);
    let key = check.key(&files);
    check.signature(&files, key.as_ref());
    if let (Some(m), Some(key)) = (&manifest, &key) {
        check.manifest_names(m, key);
    }
    let origin = key.map_or(Origin::Unknown, |key| origin(&key, trusted));
    if let Some(m) = &manifest {
        check.files_against(m, &files);
    }
    check.sums(&files);
    let audit = check.audit_proof(&files, manifest.as_ref());
    let signatures = check.signatures(&files, key.as_ref());
    let checkpoint = check.inclusion(&files, audit.as_ref(), checkpoint_keys);
    check.carried_reports(&files);
    check.into_report(manifest, origin, audit.as_ref(), signatures, checkpoint)
}

/// Where `tests.json` lists the test reports a bundle carries.
const TESTS: &str = "tests.json";

/// Who signed the bundle, as far as the reader's trusted keys tell.
fn origin(key: &PublicKey, trusted: &[String]) -> Origin {
    let fingerprint = fingerprint(key);
    if trusted.is_empty() {
        Origin::NotEstablished { fingerprint }
    } else if trusted.contains(&fingerprint) {
        Origin::Trusted { fingerprint }
    } else {
        Origin::Untrusted { fingerprint }
    }
}

/// The archive's files, in order, each once.
#[derive(Default)]
struct Files<'a>(Vec<(&'a str, &'a [u8])>);

impl<'a> Files<'a> {
    fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.0.iter().find(|(p, _)| *p == name).map(|(_, d)| *d)
    }
}

/// The problems found so far.
#[derive(Default)]
struct Check {
    problems: Vec<Problem>,
}

impl Check {
    fn problem(&mut self, place: &str, text: String) {
        self.problems.push(Problem {
            place: place.to_string(),
            problem: text,
        });
    }

    fn into_report(
        self,
        manifest: Option<Manifest>,
        origin: Origin,
        audit: Option<&proof::AuditProof>,
        signatures: Vec<String>,
        checkpoint: Option<CheckpointReport>,
    ) -> Report {
        Report {
            problems: self.problems,
            manifest,
            origin,
            audit_events: audit.map_or(0, |p| p.events.len()),
            audit_links: audit.map_or(0, |p| p.links.len()),
            audit_chain: audit.map_or(proof::ChainEvidence::Links, |p| p.chain),
            signatures,
            checkpoint,
        }
    }

    /// Every event `audit.json` holds in full is proven included in the signed checkpoint of
    /// `inclusion.json`, when the bundle carries one; a failing proof is named by its event.
    /// An `audit.json` that leaves out the links rests on those proofs, the head's included:
    /// without them it is refused, since nothing would tie its events to the log.
    fn inclusion(
        &mut self,
        files: &Files,
        audit: Option<&proof::AuditProof>,
        trusted: &[String],
    ) -> Option<CheckpointReport> {
        let rests_on_checkpoint =
            audit.is_some_and(|p| p.chain == proof::ChainEvidence::Checkpoint);
        let Some(bytes) = files.get(INCLUSION) else {
            if rests_on_checkpoint {
                self.problem(
                    AUDIT,
                    format!("it leaves out the links between its events (\"chain\": \"checkpoint\"), so they rest on the inclusion proofs of {INCLUSION}, which the bundle does not have: nothing proves its events or its head are in the audit log"),
                );
            }
            return None;
        };
        let file = match serde_json::from_slice::<inclusion::InclusionFile>(bytes) {
            Ok(file) => file,
            Err(e) => {
                self.problem(
                    INCLUSION,
                    format!("not a readable set of inclusion proofs: {e}"),
                );
                return None;
            }
        };
        let events = audit.map_or(&[][..], |p| p.events.as_slice());
        let head = audit.map(|p| inclusion::HeadToProve {
            head: &p.head,
            required: rests_on_checkpoint,
        });
        let (report, problems) = inclusion::check(&file, events, head, trusted);
        for p in problems {
            match p.seq {
                Some(seq) => self.problem(&format!("{INCLUSION} event {seq}"), p.problem),
                None => self.problem(INCLUSION, p.problem),
            }
        }
        report
    }

    /// Every test report `tests.json` says the bundle carries is there and is the file that was
    /// pushed: its bytes hash to the SHA-256 recorded at the push (the manifest alone would only
    /// say the bundle is as exported).
    fn carried_reports(&mut self, files: &Files) {
        let Some(bytes) = files.get(TESTS) else {
            return;
        };
        let Ok(tests) = serde_json::from_slice::<serde_json::Value>(bytes) else {
            self.problem(TESTS, "not readable JSON".into());
            return;
        };
        let listed = tests["runs"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|run| run["files"].as_array().into_iter().flatten());
        for file in listed {
            let Some(path) = file["bundled_as"].as_str() else {
                continue;
            };
            let recorded = file["sha256"].as_str().unwrap_or_default();
            match files.get(path) {
                None => self.problem(path, format!("missing ({TESTS} says it carries it)")),
                Some(data) => {
                    let got = Sha256::of(data).to_hex();
                    if got != recorded {
                        self.problem(
                            path,
                            format!("altered: the test report hashes to {got}, {TESTS} records {recorded} as pushed"),
                        );
                    }
                }
            }
        }
    }

    /// Every electronic signature in `signatures.json` verifies with the bundle's key: its
    /// record hashes to what it binds, names the same record, its seal holds and it reads as
    /// sealed. Returns how the ones that verify read.
    fn signatures(&mut self, files: &Files, key: Option<&PublicKey>) -> Vec<String> {
        let (Some(bytes), Some(key)) = (files.get(SIGNATURES), key) else {
            return Vec::new();
        };
        let list = match serde_json::from_slice::<Vec<Shown>>(bytes) {
            Ok(list) => list,
            Err(e) => {
                self.problem(
                    SIGNATURES,
                    format!("not a readable list of signatures: {e}"),
                );
                return Vec::new();
            }
        };
        let mut verified = Vec::new();
        for (n, shown) in list.into_iter().enumerate() {
            let place = format!(
                "{SIGNATURES} signature {} ({} by {})",
                n + 1,
                shown.signature.record_id,
                shown.signature.signer
            );
            match shown.verify(key) {
                Ok(printed) => verified.push(printed),
                Err(e) => self.problem(&place, e.to_string()),
            }
        }
        verified
    }

    /// `manifest.json`, readable and of the format this verifier knows.
    fn manifest(&mut self, files: &Files) -> Option<Manifest> {
        let Some(bytes) = files.get(MANIFEST) else {
            self.problem(MANIFEST, "missing".into());
            return None;
        };
        match serde_json::from_slice::<Manifest>(bytes) {
            Ok(m) if m.format == FORMAT => Some(m),
            Ok(m) => {
                self.problem(
                    MANIFEST,
                    format!(
                        "format {} is not {FORMAT}, the one this verifier knows",
                        m.format
                    ),
                );
                None
            }
            Err(e) => {
                self.problem(MANIFEST, format!("not a readable manifest: {e}"));
                None
            }
        }
    }

    /// The public key the bundle carries, exactly as exported.
    fn key(&mut self, files: &Files) -> Option<PublicKey> {
        let Some(bytes) = files.get(KEY) else {
            self.problem(KEY, "missing".into());
            return None;
        };
        let key = std::str::from_utf8(bytes).ok().and_then(parse_key_file);
        if key.is_none() {
            self.problem(KEY, "altered: it is not the key file as exported".into());
        }
        key
    }

    /// `manifest.sig` verifies over the manifest's exact bytes with the bundle's key.
    fn signature(&mut self, files: &Files, key: Option<&PublicKey>) {
        let Some(sig) = files.get(SIGNATURE) else {
            self.problem(SIGNATURE, "missing".into());
            return;
        };
        let (Some(manifest), Some(key)) = (files.get(MANIFEST), key) else {
            return;
        };
        let text = std::str::from_utf8(sig).unwrap_or("");
        let canonical = text.len() == 129 && text.ends_with('\n');
        match signing::verify(key, manifest, text.trim_end_matches('\n')) {
            Ok(true) if canonical => {}
            Ok(true) => self.problem(SIGNATURE, "altered: not in its exported form".into()),
            Ok(false) => self.problem(
                SIGNATURE,
                format!("the signature of {MANIFEST} does not verify with the key in {KEY}: the manifest or its signature was altered"),
            ),
            Err(_) => {
                self.problem(SIGNATURE, "altered: not a hexadecimal ed25519 signature".into())
            }
        }
    }

    /// The manifest names the key the bundle carries, with its right fingerprint.
    fn manifest_names(&mut self, m: &Manifest, key: &PublicKey) {
        if m.server.public_key != *key {
            self.problem(
                MANIFEST,
                format!("names key {} but {KEY} holds {key}", m.server.public_key),
            );
        }
        if m.server.key_fingerprint != fingerprint(&m.server.public_key) {
            self.problem(
                MANIFEST,
                "its key fingerprint does not match its key".into(),
            );
        }
    }

    /// Every file against the manifest: none missing, none altered, none extra.
    fn files_against(&mut self, m: &Manifest, files: &Files) {
        for entry in &m.files {
            let Some(data) = files.get(&entry.path) else {
                self.problem(&entry.path, "missing (listed in the manifest)".into());
                continue;
            };
            let got = Sha256::of(data);
            if got != entry.sha256 || data.len() as u64 != entry.size {
                self.problem(
                    &entry.path,
                    format!(
                        "altered: its SHA-256 is {got} ({} bytes), the manifest says {} ({} bytes)",
                        data.len(),
                        entry.sha256,
                        entry.size
                    ),
                );
            }
        }
        for (path, _) in &files.0 {
            let listed = m.files.iter().any(|f| f.path == *path);
            if !listed && ![MANIFEST, SIGNATURE, SUMS].contains(path) {
                self.problem(path, "extra: not listed in the manifest".into());
            }
        }
        for required in [README, KEY].iter().chain(REQUIRED_SECTIONS) {
            if !m.files.iter().any(|f| f.path == *required) {
                self.problem(required, "missing from the manifest".into());
            }
        }
    }

    /// `SHA256SUMS` is exactly what the files hash to; when not, name the lines that differ.
    fn sums(&mut self, files: &Files) {
        let Some(sums) = files.get(SUMS) else {
            self.problem(SUMS, "missing".into());
            return;
        };
        let owned: Vec<(String, Vec<u8>)> = files
            .0
            .iter()
            .map(|(p, d)| (p.to_string(), d.to_vec()))
            .collect();
        let text = String::from_utf8_lossy(sums);
        if text == sums_text(&owned) {
            return;
        }
        let before = self.problems.len();
        let lines: Vec<(&str, &str)> = text.lines().filter_map(|l| l.split_once("  ")).collect();
        for (path, data) in files.0.iter().filter(|(p, _)| *p != SUMS) {
            let actual = Sha256::of(data).to_hex();
            match lines.iter().find(|(_, p)| p == path) {
                None => self.problem(SUMS, format!("has no line for {path}")),
                Some((digest, _)) if *digest != actual => self.problem(
                    SUMS,
                    format!("says {digest} for {path}, which hashes to {actual}"),
                ),
                _ => {}
            }
        }
        if self.problems.len() == before {
            self.problem(SUMS, "altered: not in its exported form".into());
        }
    }

    /// The audit chain proof recomputes and ends at the manifest's head; the proof, when it
    /// could be read.
    fn audit_proof(
        &mut self,
        files: &Files,
        manifest: Option<&Manifest>,
    ) -> Option<proof::AuditProof> {
        let bytes = files.get(AUDIT)?;
        let p = match serde_json::from_slice::<proof::AuditProof>(bytes) {
            Ok(p) => p,
            Err(e) => {
                self.problem(AUDIT, format!("not a readable chain proof: {e}"));
                return None;
            }
        };
        for b in proof::check(&p) {
            self.problem(&format!("{AUDIT} event {}", b.seq), b.problem);
        }
        if let Some(m) = manifest {
            if p.head != m.audit_head {
                self.problem(
                    AUDIT,
                    format!(
                        "its head (event {}) is not the manifest's (event {})",
                        p.head.seq, m.audit_head.seq
                    ),
                );
            }
        }
        Some(p)
    }
}
