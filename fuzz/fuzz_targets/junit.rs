//! The JUnit reader must never panic, whatever the bytes, and stays within its bounds (the
//! run's `-rss_limit_mb` turns any bomb that gets through into a crash).
#![no_main]

use libfuzzer_sys::fuzz_target;
use slipway_ingest::{read_junit, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_run_bytes: 4096,
        max_input_bytes: 64 * 1024 * 1024,
        ..Limits::default()
    };
    let mut count = 0u64;
    let _ = read_junit(data, &limits, |_| count += 1);
});
