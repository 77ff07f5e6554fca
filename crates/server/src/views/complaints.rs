//! Complaint rows as the API answers them. It decides nothing: `services::complaints` does.

use slipway_api::complaints::ComplaintView;
use slipway_store::{format_time, StoredComplaint};

use super::IntoView;

impl IntoView for StoredComplaint {
    type View = ComplaintView;
    fn into_view(self) -> ComplaintView {
        ComplaintView {
            id: self.id,
            project: self.project,
            received_at: format_time(self.received_at),
            customer: self.customer,
            site: self.site,
            environment: self.environment,
            reported_version: self.reported_version,
            inferred_version: self.inferred_version,
            deployment: self.deployment_id,
            reinstated_by: self.reinstated_by,
            severity: self.severity,
            category: self.category,
            description: self.description,
            links: self.links,
            status: self.status,
            capa: self.capa,
            fixed_by: self.fixed_by_release,
            resolved_at: self.resolved_at.map(format_time),
            closed_at: self.closed_at.map(format_time),
            created_by: self.created_by,
            created_at: format_time(self.created_at),
            updated_at: format_time(self.updated_at),
        }
    }
}
