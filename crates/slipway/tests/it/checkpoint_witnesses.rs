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
