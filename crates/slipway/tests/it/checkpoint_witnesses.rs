//! Checkpoints sent to syslog witnesses: a real server process sends every new signed
//! checkpoint to a UDP and a TCP syslog receiver the test runs on loopback, as RFC 5424
//! messages carrying the whole signed note (which verifies with the server's checkpoint key);
//! a witness address that cannot be read stops the start and says how to write one.

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use slipway_core::audit::checkpoint::SignedCheckpoint;
use slipway_core::signing::PublicKey;

use crate::support::*;

/// The one connection a TCP witness receives within 15 s, read to its end.
fn one_tcp_message(listener: &TcpListener) -> String {
    listener.set_nonblocking(true).expect("non-blocking");
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "no checkpoint came over TCP");
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    stream.set_nonblocking(false).expect("blocking");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a timeout");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("the message");
    text
}

/// The checkpoint in a syslog message, checked against its RFC 5424 header: its note.
fn note_in(message: &str, size: u64) -> String {
    assert!(message.starts_with("<109>1 "), "{message}");
    assert!(
        message.contains(" audit.checkpoint [checkpoint@32473 origin=\"slipway-audit/"),
        "{message}"
    );
    assert!(message.contains(&format!(" size=\"{size}\" ")), "{message}");
    let (_, note) = message
        .split_once("\"] ")
        .expect("the message has structured data then the note");
    note.to_string()
}

#[test]
fn each_new_checkpoint_reaches_syslog_witnesses_over_udp_and_tcp() {
    let udp = UdpSocket::bind("127.0.0.1:0").expect("a UDP receiver");
    udp.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("a timeout");
    let tcp = TcpListener::bind("127.0.0.1:0").expect("a TCP receiver");
    let witnesses = format!(
        "udp://{}, tcp://{}",
        udp.local_addr().unwrap(),
        tcp.local_addr().unwrap()
    );
    let server = Server::start_with_env(
        None,
        &[
            ("SLIPWAY_CHECKPOINT_EVERY", "0"),
            ("SLIPWAY_CHECKPOINT_SYSLOG", &witnesses),
        ],
    );
    server.user_with_token("ann", "ops");
    let signed = json(server.cli(None, &["audit", "checkpoint", "-o", "json"]));
    let size = signed["size"].as_u64().expect("a size");
    let key: serde_json::Value = ureq::get(&format!("{}/api/v1/audit/checkpoints/key", server.url))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    let key = PublicKey::parse(key["public_key"].as_str().unwrap()).unwrap();

    let mut datagram = vec![0u8; 65_536];
    let n = udp.recv(&mut datagram).expect("a checkpoint came over UDP");
    let over_udp = String::from_utf8(datagram[..n].to_vec()).expect("UTF-8");
    let framed = one_tcp_message(&tcp);
    let (length, over_tcp) = framed.split_once(' ').expect("octet counting");
    assert_eq!(length.parse::<usize>().unwrap(), over_tcp.len(), "{framed}");
    assert_eq!(over_udp, over_tcp, "the same message both ways");

    let note = note_in(&over_udp, size);
    assert_eq!(
        note,
        signed["note"].as_str().unwrap(),
        "the signed note, whole"
    );
    let parsed = SignedCheckpoint::parse(&note).expect("a signed note");
    parsed
        .verify(&key)
        .expect("it verifies with the server's checkpoint key");
    assert_eq!(parsed.checkpoint.size, size);

    // Signing again with nothing new sends nothing new; a new event and a new checkpoint do.
    server.user_with_token("bob", "qa");
    let next = json(server.cli(None, &["audit", "checkpoint", "-o", "json"]));
    let n = udp
        .recv(&mut datagram)
        .expect("the next checkpoint came over UDP");
    let next_udp = String::from_utf8(datagram[..n].to_vec()).unwrap();
    assert_eq!(
        note_in(&next_udp, next["size"].as_u64().unwrap()),
        next["note"].as_str().unwrap()
    );
}

#[test]
fn a_witness_address_that_cannot_be_read_stops_the_start() {
    let data = tempfile::tempdir().unwrap();
    let refused = Command::new(slipway_bin())
        .args(["server", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .env("SLIPWAY_ADMIN_TOKEN", ADMIN_TOKEN)
        .env(
            "SLIPWAY_CHECKPOINT_SYSLOG",
            "udp://127.0.0.1:514, syslog://logs:514",
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!refused.status.success(), "it must not start");
    let said = stderr(&refused);
    assert!(
        said.contains("SLIPWAY_CHECKPOINT_SYSLOG")
            && said.contains("syslog://logs:514")
            && said.contains("udp://HOST:PORT or tcp://HOST:PORT"),
        "{said}"
    );
}

/// The text a witness server holds of the log `id`, once it holds `notes` checkpoints (15 s).
fn witness_holds(witness: &Server, id: &str, notes: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = ureq::get(&format!("{}/api/v1/audit/witnessed/{id}", witness.url))
            .call()
            .expect("the witness answers")
            .into_string()
            .expect("text");
        let held = slipway_core::audit::checkpoint::split_notes(&text).count();
        if held >= notes {
            assert_eq!(held, notes, "{text}");
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "the witness holds {held} of {notes}: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `POST /api/v1/audit/witness` with `body`: the status and the body.
fn submit(witness: &Server, body: serde_json::Value) -> (u16, String) {
    match ureq::post(&format!("{}/api/v1/audit/witness", witness.url)).send_json(body) {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn another_slipway_keeps_the_checkpoints_refuses_a_rewritten_log_and_serves_them_to_verify() {
    use slipway_core::audit::checkpoint::{origin_for, Checkpoint};
    use slipway_core::signing::SigningKey;

    // The witnessed server's checkpoint key, made here so that the forger below holds it too.
    let keys = tempfile::tempdir().unwrap();
    let key = SigningKey::from_seed([41u8; 32]);
    let key_file = keys.path().join("checkpoint.key");
    std::fs::write(&key_file, key.to_file_text()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let public = key.public_key().to_string();
    let origin = origin_for(&key.public_key());
    let id = origin.trim_start_matches("slipway-audit/").to_string();

    let witness = Server::start_with_env(
        None,
        &[
            ("SLIPWAY_CHECKPOINT_EVERY", "0"),
            ("SLIPWAY_WITNESS_FOR", &public),
        ],
    );
    let server = Server::start_with_env(
        None,
        &[
            ("SLIPWAY_CHECKPOINT_EVERY", "0"),
            ("SLIPWAY_CHECKPOINT_KEY_FILE", key_file.to_str().unwrap()),
            (
                "SLIPWAY_CHECKPOINT_WITNESS_URLS",
                &format!("{}/", witness.url),
            ),
        ],
    );

    // Each new checkpoint reaches the witness, the second with its consistency proof.
    server.user_with_token("ann", "ops");
    let first = json(server.cli(None, &["audit", "checkpoint", "-o", "json"]));
    witness_holds(&witness, &id, 1);
    server.user_with_token("bob", "qa");
    let second = json(server.cli(None, &["audit", "checkpoint", "-o", "json"]));
    let held = witness_holds(&witness, &id, 2);
    assert!(held.contains(first["note"].as_str().unwrap()), "{held}");
    assert!(held.contains(second["note"].as_str().unwrap()), "{held}");
    let size = second["size"].as_u64().unwrap();

    // Whoever holds the key signs another history: a longer log that does not extend the one
    // held, and another root at the size held. The witness refuses both and keeps its two.
    let forged = |size: u64| {
        Checkpoint {
            origin: origin.clone(),
            size,
            root: [9u8; 32],
            time: "2026-11-30T20:00:00Z".parse().unwrap(),
        }
        .sign(&key)
        .note
    };
    let (status, body) = submit(
        &witness,
        serde_json::json!({ "note": forged(size + 3), "from_size": size, "proof": ["00".repeat(32)] }),
    );
    assert_eq!(status, 409, "{body}");
    assert!(
        body.contains("does not show that the log of size"),
        "{body}"
    );
    let (status, body) = submit(
        &witness,
        serde_json::json!({ "note": forged(size), "from_size": size, "proof": [] }),
    );
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("another root"), "{body}");
    // A note signed by a key the witness does not watch is not its business.
    let stranger = Checkpoint {
        origin: origin_for(&SigningKey::from_seed([42u8; 32]).public_key()),
        size: 1,
        root: [1u8; 32],
        time: "2026-11-30T20:00:00Z".parse().unwrap(),
    }
    .sign(&SigningKey::from_seed([42u8; 32]));
    let (status, body) = submit(
        &witness,
        serde_json::json!({ "note": stranger.note, "from_size": 0 }),
    );
    assert_eq!(status, 403, "{body}");
    assert_eq!(witness_holds(&witness, &id, 2), held);
    let refused = json(witness.cli(
        None,
        &[
            "audit",
            "list",
            "--verb",
            "audit.witness_refused",
            "-o",
            "json",
        ],
    ));
    assert_eq!(refused["items"].as_array().unwrap().len(), 2, "{refused:#}");

    // The witness's checkpoints are what `audit verify --checkpoints URL` reads.
    let fingerprint = slipway_core::evidence::fingerprint(&key.public_key());
    let verified = ok(server.cli(
        None,
        &[
            "audit",
            "verify",
            "--checkpoints",
            &format!("{}/api/v1/audit/witnessed/{id}", witness.url),
            "--checkpoint-key",
            &fingerprint,
        ],
    ));
    assert!(verified.contains("intact"), "{verified}");
}
