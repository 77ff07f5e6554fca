//! A successful deployment as the first arrivals it writes see it (`commit_arrivals.rs` per
//! environment, `production_arrivals.rs` for production as a whole): which arrival replaces
//! which, and a commit's lead time in seconds. No reads, no writes.

use jiff::Timestamp;

/// A successful deployment, as the arrivals it writes see it.
pub(crate) struct Arriving<'a> {
    pub(crate) deployment: i64,
    pub(crate) project: &'a str,
    pub(crate) environment: &'a str,
    pub(crate) at: Timestamp,
}

/// Whether `arriving` replaces a stored arrival `(at, deployment)`: it is earlier, or as early
/// by a smaller deployment number (the rule of the upserts of `commit_arrivals.rs` and
/// `production_arrivals.rs`).
pub(crate) fn replaces(arriving: &Arriving<'_>, stored: (Timestamp, i64)) -> bool {
    (arriving.at, arriving.deployment) < stored
}

/// Seconds from a commit's authored time to its arrival; 0 when the authored time is later (a
/// wrong clock).
pub(crate) fn lead_seconds(arrived: Timestamp, authored: Timestamp) -> i64 {
    arrived.duration_since(authored).as_secs().max(0)
}
