//! Silencing monitoring around a deployment, against an Alertmanager-compatible peer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use crate::support::*;

/// Each request's line and body, as the stand-in received them.
type Requests = Arc<Mutex<Vec<(String, String)>>>;

/// A stand-in for Alertmanager's API (an outside system, not ours): records each request line and
/// body, answers a silence ID to POST /api/v2/silences and 200 to the rest.
fn fake_alertmanager() -> (String, Requests) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            let mut length = 0usize;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
                if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).unwrap();
            log.lock().unwrap().push((
                request.trim().to_string(),
                String::from_utf8_lossy(&body).into_owned(),
            ));
            let answer = if request.starts_with("POST /api/v2/silences") {
                r#"{"silenceID":"sil-42"}"#
            } else {
                "{}"
            };
            let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}", answer.len());
        }
    });
    (url, seen)
}

#[test]
fn a_deployment_silences_alerts_and_lifts_the_silence_it_set() {
    let (alertmanager, seen) = fake_alertmanager();
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let steps = format!(
        "    - {{ name: Quiet, action: monitoring.silence, roles: [app], with: {{ alertmanager_url: \"{alertmanager}\", matchers: {{ service: pets }}, duration_minutes: 30 }} }}\n    - {{ name: Work, action: command, roles: [app], with: {{ run: \"true\" }} }}\n    - {{ name: Loud, action: monitoring.restore, roles: [app] }}\n"
    );
    let _agent = server.project_with_agent(work.path(), "mon", &steps, "dev-01");
    ok(server.deploy("mon", "1.0.0", "DEV"));
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(requests[0].0.starts_with("POST /api/v2/silences"));
    let body: serde_json::Value = serde_json::from_str(&requests[0].1).unwrap();
    assert_eq!(body["matchers"][0]["name"], "service");
    assert_eq!(body["matchers"][0]["value"], "pets");
    assert!(body["comment"]
        .as_str()
        .unwrap()
        .contains("deployment 1 of mon 1.0.0 to DEV"));
    assert!(
        requests[1].0.starts_with("DELETE /api/v2/silence/sil-42"),
        "{requests:?}"
    );
}
