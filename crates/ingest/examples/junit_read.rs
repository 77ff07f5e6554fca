//! Reads a JUnit file with `read_junit` and prints how long the read alone took, so
//! `scripts/bench-junit` can split a push's time into parsing and the rest.
//!
//! `cargo run --release -p slipway-ingest --example junit_read -- report.xml`

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(path) = std::env::args().nth(1) else {
        return Err("pass the JUnit file to read".into());
    };
    let file = std::fs::File::open(&path)?;
    let start = Instant::now();
    let mut attempts = 0usize;
    let summary = slipway_ingest::read_junit(file, &slipway_ingest::Limits::default(), |test| {
        attempts += test.attempts.len();
    })?;
    let elapsed = start.elapsed();
    println!(
        "{:.0} {} {}",
        elapsed.as_secs_f64() * 1000.0,
        summary.testcases,
        attempts
    );
    Ok(())
}
