//! Where a target stands with its agent: a placeholder until an agent enrols for it, enrolled
//! while its agent may work, revoked once cut off.
//!
//! It names the status and never stores or checks a credential: the server and the store do.

use serde::{Deserialize, Serialize};

use crate::state_name::state_names;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetStatus {
    /// Declared, but no agent has enrolled for it yet.
    Placeholder,
    /// An agent enrolled and holds a credential for it.
    Enrolled,
    /// Its agent's credential was revoked.
    Revoked,
}

state_names!(TargetStatus, "target status", {
    Placeholder => "placeholder",
    Enrolled => "enrolled",
    Revoked => "revoked",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_status_reads_back_and_an_unknown_one_is_refused() {
        crate::state_name::assert_names_round_trip(TargetStatus::ALL, "target status");
    }
}
