//! A bound on how often one client may ask for something anonymous (today: `slipway login
//! --sso`'s sign-in requests), counted per client address in a fixed window, so that one client
//! cannot use up a server-wide limit and deny everyone else.
//!
//! It holds counts in memory only (per server process) and never more than [`MAX_TRACKED`]
//! clients: past that, expired windows are dropped first, then the oldest ones.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_TRACKED: usize = 10_000;
/// Sign-in requests one client may open within ten minutes.
pub(crate) const CLI_SIGN_INS_PER_CLIENT: u32 = 10;

/// The key a client is counted under: its IPv4 address, or the /64 of its IPv6 one (the block
/// a single host is usually given, so that hopping addresses within it does not reset a count).
pub(crate) fn client_key(client: IpAddr) -> String {
    match client {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// At most `max` requests per client within `window`.
pub(crate) struct ClientThrottle {
    max: u32,
    window: Duration,
    seen: Mutex<HashMap<String, (u32, Instant)>>,
}

impl ClientThrottle {
    /// Anonymous `slipway login --sso` requests: [`CLI_SIGN_INS_PER_CLIENT`] per client within
    /// a request's lifetime (10 min), a tenth of the server-wide bound on open requests.
    pub(crate) fn cli_sign_ins() -> ClientThrottle {
        ClientThrottle::new(CLI_SIGN_INS_PER_CLIENT, Duration::from_secs(600))
    }

    pub(crate) fn new(max: u32, window: Duration) -> ClientThrottle {
        ClientThrottle {
            max,
            window,
            seen: Mutex::default(),
        }
    }

    /// Count one request from `client`: `Err(seconds until it may ask again)` when it already
    /// made `max` in the current window (the refused request is not counted).
    pub(crate) fn take(&self, client: IpAddr) -> Result<(), u64> {
        let mut seen = self
            .seen
            .lock()
            .expect("the throttle lock is never poisoned: no code panics while holding it");
        let now = Instant::now();
        if seen.len() >= MAX_TRACKED {
            let window = self.window;
            seen.retain(|_, (_, since)| now.duration_since(*since) < window);
            if seen.len() >= MAX_TRACKED {
                if let Some(oldest) = seen
                    .iter()
                    .min_by_key(|(_, (_, since))| *since)
                    .map(|(k, _)| k.clone())
                {
                    seen.remove(&oldest);
                }
            }
        }
        let entry = seen.entry(client_key(client)).or_insert((0, now));
        let elapsed = now.duration_since(entry.1);
        if elapsed >= self.window {
            *entry = (0, now);
        } else if entry.0 >= self.max {
            return Err((self.window - elapsed).as_secs().max(1));
        }
        entry.0 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("a test address")
    }

    #[test]
    fn one_client_over_its_share_waits_and_another_client_is_served() {
        let t = ClientThrottle::new(3, Duration::from_secs(600));
        for _ in 0..3 {
            assert!(t.take(ip("192.0.2.1")).is_ok());
        }
        let wait = t.take(ip("192.0.2.1")).unwrap_err();
        assert!(wait > 590 && wait <= 600, "{wait}");
        assert!(t.take(ip("192.0.2.2")).is_ok());
    }

    #[test]
    fn a_client_may_ask_again_once_its_window_ends() {
        let t = ClientThrottle::new(1, Duration::from_millis(50));
        assert!(t.take(ip("192.0.2.1")).is_ok());
        assert!(t.take(ip("192.0.2.1")).is_err());
        std::thread::sleep(Duration::from_millis(80));
        assert!(t.take(ip("192.0.2.1")).is_ok());
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_slash_64_and_a_mapped_ipv4_as_ipv4() {
        let t = ClientThrottle::new(2, Duration::from_secs(600));
        assert!(t.take(ip("2001:db8:1:2::1")).is_ok());
        assert!(t.take(ip("2001:db8:1:2::2")).is_ok());
        assert!(t.take(ip("2001:db8:1:2::ffff")).is_err());
        assert!(t.take(ip("2001:db8:1:3::1")).is_ok());
        assert!(t.take(ip("::ffff:192.0.2.7")).is_ok());
        assert!(t.take(ip("192.0.2.7")).is_ok());
        assert!(t.take(ip("::ffff:192.0.2.7")).is_err());
    }

    #[test]
    fn the_counts_stay_bounded_however_many_clients_ask() {
        let t = ClientThrottle::new(1, Duration::from_secs(600));
        for i in 0..(MAX_TRACKED as u32 + 500) {
            let addr = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert!(t.take(addr).is_ok());
        }
        assert!(t.seen.lock().expect("not poisoned").len() <= MAX_TRACKED);
    }
}
