//! The scan reader (Trivy, Grype, SARIF, CycloneDX) must never panic, whatever the bytes, and
//! stays within its bounds (the run's `-rss_limit_mb` turns a bomb that gets through into a crash).
#![no_main]

use libfuzzer_sys::fuzz_target;
use slipway_ingest::{read_scan, ScanLimits};

fuzz_target!(|data: &[u8]| {
    let _ = read_scan(data, &ScanLimits::default());
});
