//! The coverage reader (Cobertura XML, LCOV) and SonarQube's webhook payload must never panic,
//! whatever the bytes, and stay within their bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slipway_ingest::{read_coverage, read_sonar_webhook, CoverageLimits};

fuzz_target!(|data: &[u8]| {
    let limits = CoverageLimits {
        max_run_bytes: 4096,
        max_packages: 1000,
        max_input_bytes: 64 * 1024 * 1024,
        ..CoverageLimits::default()
    };
    let _ = read_coverage(data, &limits);
    let _ = read_sonar_webhook(data);
});
