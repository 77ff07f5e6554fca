use proptest::prelude::*;

use super::proof::{AuditProof, ChainEvidence, ProofBuilder, ReleaseScope};
use super::*;
use crate::audit::{AuditEntry, AuditEvent, GENESIS};

fn chain() -> Vec<AuditEvent> {
    let mut prev = GENESIS.to_string();
    [
        "artifact/pets/app/1.0.0",
        "env/DEV",
        "release/pets/1.0.0",
        "deployment/1",
    ]
    .iter()
    .enumerate()
    .map(|(i, s)| {
        let e = AuditEvent::seal(
            i as i64 + 1,
            format!("2026-01-01T00:00:0{i}Z"),
            prev.clone(),
            &AuditEntry {
                actor: "alice".into(),
                verb: "x.y".into(),
                subject: (*s).into(),
                details: serde_json::json!({ "i": i }),
            },
        );
        prev = e.hash.clone();
        e
    })
    .collect()
}

fn proof() -> AuditProof {
    let mut b = ProofBuilder::new(
        ReleaseScope::new(
            "pets",
            "1.0.0",
            [1],
            [("app".to_string(), "1.0.0".to_string())],
        ),
        ChainEvidence::Links,
    );
    let events = chain();
    let head = ChainHead {
        seq: 4,
        hash: events[3].hash.clone(),
    };
    for e in events {
        b.feed(e);
    }
    b.finish(head)
}

fn key() -> SigningKey {
    SigningKey::from_seed([9; 32])
}

fn bundle() -> Vec<u8> {
    bundle_signed_by(&key())
}

fn trusted() -> Vec<String> {
    vec![fingerprint(&key().public_key())]
}

fn bundle_signed_by(key: &SigningKey) -> Vec<u8> {
    let p = proof();
    let export = Export {
        project: "pets".into(),
        release: "1.0.0".into(),
        exported_at: "2026-01-01T00:00:05Z".into(),
        exported_at_unix: 1_767_225_605,
        exported_by: "alice".into(),
        software: "slipway 0.1.0".into(),
        audit_head: p.head.clone(),
    };
    let section = |path: &'static str, bytes: Vec<u8>| Section {
        path,
        describes: "test content",
        bytes,
    };
    assemble(
        &export,
        vec![
            section(
                "summary.html",
                b"<!doctype html><title>1.0.0</title>".to_vec(),
            ),
            section("release.json", br#"{"version":"1.0.0"}"#.to_vec()),
            section("plan.json", b"{}".to_vec()),
            section("deployments.json", b"[]".to_vec()),
            section(AUDIT, serde_json::to_vec_pretty(&p).unwrap()),
        ],
        key,
    )
}

fn places(report: &Report) -> Vec<String> {
    report.problems.iter().map(|p| p.place.clone()).collect()
}

/// The offset of `path`'s content in the archive, and its length.
fn content_of(bytes: &[u8], path: &str) -> (usize, usize) {
    let (entries, _) = tar::read(bytes);
    let e = entries.iter().find(|e| e.path == path).unwrap();
    (e.header_offset + 512, e.data.len())
}

#[test]
fn an_exported_bundle_verifies_and_its_manifest_round_trips() {
    let bytes = bundle();
    let report = verify(&bytes, &trusted());
    assert_eq!(report.problems, vec![]);
    assert!(report.ok());
    assert_eq!(
        report.origin,
        Origin::Trusted {
            fingerprint: trusted()[0].clone()
        }
    );
    assert_eq!((report.audit_events, report.audit_links), (3, 1));
    let m = report.manifest.unwrap();
    let (entries, _) = tar::read(&bytes);
    let manifest_bytes = &entries.iter().find(|e| e.path == MANIFEST).unwrap().data;
    let again: Manifest = serde_json::from_slice(manifest_bytes).unwrap();
    assert_eq!(again, m);
    let mut text = serde_json::to_vec_pretty(&again).unwrap();
    text.push(b'\n');
    assert_eq!(&text, manifest_bytes);
    let names: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        names,
        [
            README,
            MANIFEST,
            SIGNATURE,
            KEY,
            SUMS,
            "summary.html",
            "release.json",
            "plan.json",
            "deployments.json",
            AUDIT
        ]
    );
}

#[test]
fn a_flipped_byte_is_named_where_it_is() {
    let bytes = bundle();
    let flip = |path: &str, at: usize| {
        let (start, _) = content_of(&bytes, path);
        let mut bad = bytes.clone();
        bad[start + at] ^= 0x01;
        verify(&bad, &trusted())
    };
    let r = flip("release.json", 3);
    assert_eq!(places(&r), ["release.json", SUMS], "{r:?}");
    assert!(r.problems[0].problem.contains("SHA-256"));
    let r = flip(MANIFEST, 40);
    assert!(places(&r).contains(&SIGNATURE.to_string()), "{r:?}");
    let r = flip(SIGNATURE, 0);
    assert_eq!(places(&r)[0], SIGNATURE, "{r:?}");
    let mut bad = bytes.clone();
    bad[1024 + 512 + 10] ^= 0x20; // some byte of a later header or content
    assert!(!verify(&bad, &trusted()).ok());
    let mut bad = bytes.clone();
    let (start, _) = content_of(&bytes, "release.json");
    bad[start - 512 + 5] ^= 0x01; // release.json's header
    let r = verify(&bad, &trusted());
    assert_eq!(places(&r), ["archive"]);
    assert!(
        r.problems[0]
            .problem
            .contains(&format!("byte {}", start - 512)),
        "{r:?}"
    );
}

#[test]
fn a_re_signed_audit_change_is_still_named_at_its_event() {
    // Someone with the key could re-sign; without it, a consistent forgery still breaks the chain.
    let mut p = proof();
    p.events[1].actor = "mallory".into();
    let problems = proof::check(&p);
    assert_eq!(problems[0].seq, 3);
}

#[test]
fn another_key_or_fingerprint_is_refused() {
    let bytes = bundle();
    let other = fingerprint(&SigningKey::from_seed([1; 32]).public_key());
    let r = verify(&bytes, std::slice::from_ref(&other));
    assert!(r.intact() && !r.ok());
    assert_eq!(
        r.origin,
        Origin::Untrusted {
            fingerprint: trusted()[0].clone()
        }
    );
    let r = verify(&bytes, &[other, trusted()[0].clone()]);
    assert!(r.ok());
    assert_eq!(
        parse_fingerprint(&fingerprint(&key().public_key()).to_uppercase()),
        Some(fingerprint(&key().public_key()))
    );
    assert_eq!(parse_fingerprint("sha256:zz"), None);
}

#[test]
fn the_key_file_round_trips_and_its_pem_is_standard() {
    assert_eq!(base64(b"Man"), "TWFu");
    assert_eq!(base64(b"Ma"), "TWE=");
    assert_eq!(base64(b"M"), "TQ==");
    let public = key().public_key();
    let text = key_file_text(&public);
    assert_eq!(parse_key_file(&text), Some(public));
    assert!(text.contains("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"));
    assert_eq!(
        parse_key_file(&text.replace("fingerprint", "Fingerprint")),
        None
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn any_single_byte_change_anywhere_is_detected(pick in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let bytes = bundle();
        let i = pick.index(bytes.len());
        let mut bad = bytes.clone();
        bad[i] ^= mask;
        let report = verify(&bad, &trusted());
        prop_assert!(!report.ok(), "a change at byte {} went unnoticed", i);
    }
}

#[test]
fn a_bundle_re_signed_with_a_planted_key_is_intact_but_not_of_trusted_origin() {
    let forger = SigningKey::from_seed([7; 32]);
    let forged = bundle_signed_by(&forger);
    let alone = verify(&forged, &[]);
    assert!(alone.intact(), "{:?}", alone.problems);
    assert!(
        !alone.ok(),
        "without a trusted key nothing says who signed it"
    );
    assert_eq!(
        alone.origin,
        Origin::NotEstablished {
            fingerprint: fingerprint(&forger.public_key())
        }
    );
    let against_the_server = verify(&forged, &trusted());
    assert!(against_the_server.intact() && !against_the_server.ok());
    assert!(matches!(
        against_the_server.origin,
        Origin::Untrusted { .. }
    ));
}

#[test]
fn trust_files_hold_fingerprints_and_comments_and_name_a_bad_line() {
    let good = fingerprint(&key().public_key());
    let text = format!(
        "# the production server\n{}\n\n  {good}  # again\n",
        good.to_uppercase()
    );
    assert_eq!(parse_trust_file(&text).unwrap(), vec![good.clone(), good]);
    let err = parse_trust_file("# ok\nnot-a-fingerprint\n").unwrap_err();
    assert!(err.starts_with("line 2 "), "{err}");
}

/// A bundle carrying one test report as received, listed in `tests.json` with the digest of
/// its push; `recorded` is the digest `tests.json` records.
fn bundle_with_report(report: &[u8], recorded: &str) -> Vec<u8> {
    let p = proof();
    let export = Export {
        project: "pets".into(),
        release: "1.0.0".into(),
        exported_at: "2026-01-01T00:00:05Z".into(),
        exported_at_unix: 1_767_225_605,
        exported_by: "alice".into(),
        software: "slipway 0.1.0".into(),
        audit_head: p.head.clone(),
    };
    let section = |path: &'static str, bytes: Vec<u8>| Section {
        path,
        describes: "test content",
        bytes,
    };
    let tests = serde_json::json!({ "runs": [{ "id": 7, "files": [
        { "seq": 1, "sha256": recorded, "bundled_as": "test-report-7-1.xml" },
        { "seq": 2, "sha256": "00", "bundled_as": null, "not_carried": "pushed before" },
    ] }] });
    assemble_with(
        &export,
        vec![
            section("summary.html", b"<!doctype html>".to_vec()),
            section("release.json", b"{}".to_vec()),
            section("plan.json", b"{}".to_vec()),
            section("deployments.json", b"[]".to_vec()),
            section(AUDIT, serde_json::to_vec_pretty(&p).unwrap()),
            section("tests.json", serde_json::to_vec_pretty(&tests).unwrap()),
        ],
        vec![Attachment {
            path: "test-report-7-1.xml".into(),
            describes: "run 7's file 1 as received".into(),
            bytes: report.to_vec(),
        }],
        &key(),
    )
}

#[test]
fn a_carried_test_report_verifies_and_a_flipped_byte_in_it_is_named() {
    let report = b"<testsuite name=\"smoke\"><testcase name=\"adopts\"/></testsuite>\n";
    let digest = Sha256::of(report).to_hex();
    let bytes = bundle_with_report(report, &digest);
    let verified = verify(&bytes, &trusted());
    assert_eq!(verified.problems, vec![]);
    let readme = tar::read(&bytes).0.remove(0).data;
    assert!(String::from_utf8(readme)
        .unwrap()
        .contains("test-report-7-1.xml run 7's file 1 as received"));

    let (start, _) = content_of(&bytes, "test-report-7-1.xml");
    let mut bad = bytes.clone();
    bad[start + 12] ^= 0x01;
    let r = verify(&bad, &trusted());
    assert_eq!(
        places(&r),
        ["test-report-7-1.xml", SUMS, "test-report-7-1.xml"],
        "{r:?}"
    );
    assert!(r.problems[2].problem.contains(&digest), "{r:?}");

    // Re-signed by whoever swapped the report, the bundle is intact, but the report is not the
    // one pushed.
    let forged = bundle_with_report(b"<testsuite/>", &digest);
    let r = verify(&forged, &trusted());
    assert_eq!(places(&r), ["test-report-7-1.xml"], "{r:?}");
    assert!(r.problems[0].problem.contains("as pushed"), "{r:?}");
}

#[test]
fn a_bundle_framed_for_streaming_is_the_archive_of_its_files_in_bundle_order() {
    let bytes = bundle();
    let (entries, problems) = tar::read(&bytes);
    assert_eq!(problems, vec![]);
    let names: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        names,
        [
            README,
            MANIFEST,
            SIGNATURE,
            KEY,
            SUMS,
            "summary.html",
            "release.json",
            "plan.json",
            "deployments.json",
            AUDIT
        ]
    );
    // Written again whole by the tar writer, the files give back the same bytes: the head and
    // each member's header, padding and the end blocks are those of a plain archive.
    let files: Vec<(String, Vec<u8>)> = entries.into_iter().map(|e| (e.path, e.data)).collect();
    let mtime = 1_767_225_605;
    assert_eq!(tar::write(&files, mtime), bytes);
    // And the frame alone knows the archive's length before any content is written.
    let p = proof();
    let export = Export {
        project: "pets".into(),
        release: "1.0.0".into(),
        exported_at: "2026-01-01T00:00:05Z".into(),
        exported_at_unix: mtime,
        exported_by: "alice".into(),
        software: "slipway 0.1.0".into(),
        audit_head: p.head.clone(),
    };
    let members: Vec<Member> = files[5..]
        .iter()
        .map(|(path, data)| Member::of(path, "test content", data))
        .collect();
    let frame = frame(&export, &members, &key());
    assert_eq!(frame.archive_size(), bytes.len() as u64);
    assert!(bytes.starts_with(&frame.head));
}
