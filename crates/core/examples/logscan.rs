//! Error-line matching over a log file, as the agent does it (`core::supervision::logs`: the
//! default rule, a 64 KiB read buffer, the bounded line scanner), for `scripts/bench-logscan`.
//! Prints the matching lines' count, like `rg -c`, then the seconds and MB/s on stderr.
//!
//!     cargo run --release -p slipway-core --example logscan -- FILE

use std::io::Read;
use std::time::Instant;

use slipway_core::supervision::logs::{LogRules, Scanner};

fn main() -> std::io::Result<()> {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: logscan FILE");
        std::process::exit(2);
    };
    let matcher = LogRules::default().matcher();
    let mut scanner = Scanner::default();
    let mut file = std::fs::File::open(&path)?;
    // The agent's buffer size (`logwatch::BUFFER`); `LOGSCAN_BUF_KIB` tries another.
    let kib: usize = std::env::var("LOGSCAN_BUF_KIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let mut buf = vec![0u8; kib * 1024];
    let mut hits = 0u64;
    let started = Instant::now();
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        scanner.feed(&buf[..n], &matcher, |_, _| hits += 1);
    }
    let secs = started.elapsed().as_secs_f64();
    println!("{hits}");
    let mb = scanner.offset() as f64 / 1e6;
    eprintln!(
        "{hits} lines of {} matched in {secs:.3} s ({:.0} MB/s)",
        scanner.lines(),
        mb / secs
    );
    Ok(())
}
