//! Syslog witnesses of signed checkpoints: where to send them (`udp://HOST:PORT`,
//! `tcp://HOST:PORT`) and the RFC 5424 message that carries one. Pure: the server sends.
//!
//! The message's structured data names the checkpoint (origin, size, root) so a log search
//! finds it; its text is the whole signed note, so whoever keeps the syslog keeps a copy of
//! what the server signed, out of the server's reach.
//! Over TCP a message is framed by octet counting (RFC 6587 §3.4.1), so the note's newlines
//! travel intact.

use std::fmt;

use super::SignedCheckpoint;

/// How a syslog witness is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// One syslog receiver of checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogWitness {
    pub transport: Transport,
    /// A host name or an IP address (IPv6 in brackets in the text form).
    pub host: String,
    pub port: u16,
}

/// Why a syslog witness's address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("syslog witness `{given}`: {problem}; write udp://HOST:PORT or tcp://HOST:PORT (e.g. udp://logs.example.com:514)")]
pub struct SyslogWitnessError {
    given: String,
    problem: &'static str,
}

impl SyslogWitness {
    /// Read `udp://HOST:PORT` or `tcp://HOST:PORT`.
    pub fn parse(text: &str) -> Result<SyslogWitness, SyslogWitnessError> {
        let given: String = text.chars().take(200).collect();
        let fail = |problem| SyslogWitnessError {
            given: given.clone(),
            problem,
        };
        let text = text.trim();
        let (transport, rest) = if let Some(rest) = text.strip_prefix("udp://") {
            (Transport::Udp, rest)
        } else if let Some(rest) = text.strip_prefix("tcp://") {
            (Transport::Tcp, rest)
        } else {
            return Err(fail("the scheme must be udp:// or tcp://"));
        };
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| fail("the port is missing"))?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| fail("the port is not a number from 1 to 65535"))?;
        let host = match host.strip_prefix('[') {
            Some(v6) => v6
                .strip_suffix(']')
                .filter(|h| h.parse::<std::net::Ipv6Addr>().is_ok())
                .ok_or_else(|| fail("an IPv6 address in brackets is not valid"))?,
            None => host,
        };
        let name_ok = !host.is_empty()
            && host.len() <= 253
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.:".contains(c));
        if !name_ok {
            return Err(fail("the host is not a host name or an IP address"));
        }
        Ok(SyslogWitness {
            transport,
            host: host.to_string(),
            port,
        })
    }

    /// `HOST:PORT`, with an IPv6 address in brackets, as a socket address is written.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for SyslogWitness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        };
        write!(f, "{scheme}://{}", self.address())
    }
}

/// Facility 13 (log audit), severity 5 (notice).
const PRIORITY: u8 = 13 * 8 + 5;
/// RFC 5612's enterprise number for documentation, as the SD-ID's suffix.
const SD_ID: &str = "checkpoint@32473";

/// The RFC 5424 message for `signed`, from the process `procid`: the note verbatim as its text.
pub fn message(signed: &SignedCheckpoint, procid: u32) -> String {
    let c = &signed.checkpoint;
    let time = c.time.strftime("%Y-%m-%dT%H:%M:%SZ");
    // Origins are `slipway-audit/…`, and roots hexadecimal: nothing to escape in a PARAM-VALUE,
    // but escape anyway so a foreign origin cannot break the structured data.
    let origin = escape(&c.origin);
    format!(
        "<{PRIORITY}>1 {time} - slipway {procid} audit.checkpoint [{SD_ID} origin=\"{origin}\" size=\"{}\" root=\"{}\"] {}",
        c.size,
        crate::digest::lower_hex(&c.root),
        signed.note
    )
}

/// `message` framed for TCP: its length in octets, a space, the message (RFC 6587 §3.4.1).
pub fn octet_counted(message: &str) -> String {
    format!("{} {message}", message.len())
}

fn escape(value: &str) -> String {
    value
        .chars()
        .flat_map(|c| match c {
            '"' | '\\' | ']' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::checkpoint::Checkpoint;
    use crate::signing::SigningKey;

    #[test]
    fn udp_and_tcp_addresses_are_read_and_written_back() {
        for text in [
            "udp://127.0.0.1:5514",
            "tcp://logs.example.com:601",
            "tcp://[::1]:6514",
        ] {
            let w = SyslogWitness::parse(text).expect(text);
            assert_eq!(w.to_string(), text);
        }
        let w = SyslogWitness::parse("tcp://[::1]:6514").unwrap();
        assert_eq!((w.transport, w.host.as_str()), (Transport::Tcp, "::1"));
    }

    #[test]
    fn a_bad_address_is_refused_with_how_to_write_one() {
        for (text, says) in [
            ("syslog://h:514", "the scheme must be"),
            ("udp://host", "the port is missing"),
            ("udp://host:0", "from 1 to 65535"),
            ("udp://host:70000", "from 1 to 65535"),
            ("udp://:514", "not a host name"),
            ("udp://ho st:514", "not a host name"),
            ("tcp://[not-v6]:514", "IPv6"),
            ("udp://h/x:514", "not a host name"),
        ] {
            let e = SyslogWitness::parse(text).unwrap_err().to_string();
            assert!(
                e.contains(says) && e.contains("udp://HOST:PORT"),
                "{text}: {e}"
            );
        }
        let long = format!("udp://{}:1", "a".repeat(100_000));
        let e = SyslogWitness::parse(&long).unwrap_err().to_string();
        assert!(
            e.len() < 500,
            "the error quotes a bounded part: {}",
            e.len()
        );
    }

    #[test]
    fn the_message_is_rfc_5424_and_carries_the_whole_signed_note() {
        let key = SigningKey::from_seed([3u8; 32]);
        let signed = Checkpoint {
            origin: crate::audit::checkpoint::origin_for(&key.public_key()),
            size: 12,
            root: [7u8; 32],
            time: "2026-11-30T19:00:00Z".parse().unwrap(),
        }
        .sign(&key);
        let m = message(&signed, 42);
        let head = format!(
            "<109>1 2026-11-30T19:00:00Z - slipway 42 audit.checkpoint [checkpoint@32473 origin=\"{}\" size=\"12\" root=\"{}\"] ",
            signed.checkpoint.origin,
            "07".repeat(32)
        );
        assert!(m.starts_with(&head), "{m}");
        assert!(m.ends_with(&signed.note), "{m}");
        let framed = octet_counted(&m);
        assert_eq!(framed, format!("{} {m}", m.len()));
    }

    #[test]
    fn structured_data_values_are_escaped() {
        assert_eq!(escape(r#"a"b\c]d"#), r#"a\"b\\c\]d"#);
    }
}
