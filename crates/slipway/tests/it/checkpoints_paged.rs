//! The signed checkpoints list pages by keyset (size), like every list: a real server process
//! with more checkpoints than a page of `audit verify --checkpoints` holds, its pages followed
//! once each, bad page requests refused with a 400 that says what to send, and the CLI's
//! verdict over the pages the same as over the file.

use crate::support::*;

/// No timer: the test signs its checkpoints itself, so their number is known.
const NO_TIMER: &[(&str, &str)] = &[("SLIPWAY_CHECKPOINT_EVERY", "0")];

/// More than the 500 a page of the CLI's reads holds.
const SIGNED: usize = 503;

fn get(server: &Server, path: &str) -> Result<serde_json::Value, (u16, serde_json::Value)> {
    match ureq::get(&format!("{}{path}", server.url))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .call()
    {
        Ok(r) => Ok(r.into_json().unwrap()),
        Err(ureq::Error::Status(code, r)) => Err((code, r.into_json().unwrap())),
        Err(e) => panic!("GET {path}: {e}"),
    }
}

/// Sign `count` checkpoints, each one event (its own `audit.checkpoint`) after the last.
fn sign(server: &Server, count: usize) -> Vec<u64> {
    (0..count)
        .map(|_| {
            let signed: serde_json::Value =
                ureq::post(&format!("{}/api/v1/audit/checkpoints", server.url))
                    .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
                    .send_json(serde_json::json!({}))
                    .unwrap()
                    .into_json()
                    .unwrap();
            signed["size"].as_u64().unwrap()
        })
        .collect()
}

fn sizes(page: &serde_json::Value) -> Vec<u64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["size"].as_u64().unwrap())
        .collect()
}

#[test]
fn the_checkpoints_page_by_size_and_audit_verify_follows_the_pages() {
    let server = Server::start_with_env(None, NO_TIMER);
    let signed = sign(&server, SIGNED);
    assert!(signed.windows(2).all(|w| w[0] < w[1]), "{signed:?}");

    // The default page: the 50 oldest, and a cursor.
    let first = get(&server, "/api/v1/audit/checkpoints").unwrap();
    assert_eq!(sizes(&first), signed[..50]);
    assert!(first["next"].is_string(), "{first}");
    // Pages of 200 follow each other, each checkpoint once, oldest first.
    let mut seen = Vec::new();
    let mut path = "/api/v1/audit/checkpoints?limit=200".to_string();
    let mut pages = 0;
    loop {
        let page = get(&server, &path).unwrap();
        pages += 1;
        seen.extend(sizes(&page));
        match page["next"].as_str() {
            Some(next) => path = format!("/api/v1/audit/checkpoints?limit=200&after={next}"),
            None => break,
        }
    }
    assert_eq!((pages, seen), (3, signed.clone()));
    let one = get(&server, "/api/v1/audit/checkpoints?limit=1").unwrap();
    let cursor_of_first = one["next"].as_str().unwrap().to_string();
    let second = get(
        &server,
        &format!("/api/v1/audit/checkpoints?limit=1&after={cursor_of_first}"),
    )
    .unwrap();
    assert_eq!(sizes(&second), [signed[1]]);
    let past = get(&server, "/api/v1/audit/checkpoints?limit=500").unwrap();
    let next = past["next"].as_str().unwrap().to_string();
    let past = get(
        &server,
        &format!("/api/v1/audit/checkpoints?limit=500&after={next}"),
    )
    .unwrap();
    assert_eq!(sizes(&past), signed[500..]);
    assert!(past["next"].is_null());

    // Bad page requests: 400 problem+json saying what to send instead.
    let refused = |query: &str, says: &str| {
        let (status, problem) =
            get(&server, &format!("/api/v1/audit/checkpoints?{query}")).expect_err(query);
        assert_eq!(status, 400, "{query}: {problem}");
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(says), "{query}: {problem}");
    };
    refused("limit=0", "limit=0");
    refused("limit=-1", "limit=-1");
    refused("limit=501", "limit=501");
    refused("limit=99999999999999999999", "limit");
    refused("limit=many", "limit");
    refused("after=zz", "not a cursor");
    refused(&format!("after={}", "ab".repeat(5000)), "characters long");
    // A cursor of another list, and one of this list whose size is not a number.
    let deployments = slipway_core::page::Cursor::new("deployments", vec!["12".into()]).encode();
    refused(&format!("after={deployments}"), "audit-checkpoints");
    let wordy = slipway_core::page::Cursor::new("audit-checkpoints", vec!["x".into()]).encode();
    refused(&format!("after={wordy}"), "size");
    // A cursor past the last checkpoint: an empty last page.
    let huge = slipway_core::page::Cursor::new("audit-checkpoints", vec![u64::MAX.to_string()]);
    let beyond = get(
        &server,
        &format!("/api/v1/audit/checkpoints?after={}", huge.encode()),
    )
    .unwrap();
    assert_eq!(sizes(&beyond), Vec::<u64>::new());
    assert!(beyond["next"].is_null());

    // `audit verify` follows the pages (500 each): the verdict the file gives, every checkpoint
    // counted.
    let fingerprint = get(&server, "/api/v1/audit/checkpoints/key").unwrap()["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let file = server.data.path().join("checkpoints.log");
    for source in [
        format!("{}/api/v1/audit/checkpoints", server.url),
        file.to_str().unwrap().to_string(),
    ] {
        let out = server.cli(
            None,
            &[
                "audit",
                "verify",
                "--checkpoints",
                &source,
                "--checkpoint-key",
                &fingerprint,
                "-o",
                "json",
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{source}: {}", stderr(&out));
        let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(report["intact"], true, "{report}");
        assert_eq!(report["checkpoints"], SIGNED, "{report}");
    }
}
