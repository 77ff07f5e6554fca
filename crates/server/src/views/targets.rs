//! Target rows as the API answers them. Liveness is not in the row: `api` pairs the view with
//! the liveness `services::targets` works out.

use slipway_api::targets::TargetView;
use slipway_store::{format_time, Target};

use super::IntoView;

impl IntoView for Target {
    type View = TargetView;
    fn into_view(self) -> TargetView {
        TargetView {
            name: self.name,
            environment: self.environment,
            roles: self.roles,
            facts: self.facts,
            status: self.status,
            created_at: format_time(self.created_at),
            last_seen_at: self.last_seen_at.map(format_time),
            revoked_at: self.revoked_at.map(format_time),
        }
    }
}
