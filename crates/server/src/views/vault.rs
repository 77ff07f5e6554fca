//! Artifact, signing-key and release rows as the API answers them. It never verifies or
//! resolves anything: `services::artifacts` and `services::releases` do.

use slipway_api::vault::{ArtifactView, ReleaseArtifactView, ReleaseView, SigningKeyView};
use slipway_store::{
    format_time, ReleaseArtifact, SigningKeyRecord, StoredArtifact, StoredRelease,
};

use super::IntoView;

impl IntoView for StoredArtifact {
    type View = ArtifactView;
    fn into_view(self) -> ArtifactView {
        ArtifactView {
            project: self.project,
            component: self.component,
            version: self.version,
            digest: self.digest,
            size: self.size,
            provenance: self.provenance,
            signature: self.signature,
            signature_state: self.signature_state,
            pushed_by: self.pushed_by,
            pushed_at: format_time(self.pushed_at),
            purged_at: self.purged_at.map(format_time),
        }
    }
}

impl IntoView for SigningKeyRecord {
    type View = SigningKeyView;
    fn into_view(self) -> SigningKeyView {
        SigningKeyView {
            project: self.project,
            name: self.name,
            public_key: self.public_key,
            created_by: self.created_by,
            created_at: format_time(self.created_at),
            revoked_at: self.revoked_at.map(format_time),
        }
    }
}

impl IntoView for ReleaseArtifact {
    type View = ReleaseArtifactView;
    fn into_view(self) -> ReleaseArtifactView {
        ReleaseArtifactView {
            component: self.component,
            version: self.version,
            digest: self.digest,
        }
    }
}

impl IntoView for StoredRelease {
    type View = ReleaseView;
    fn into_view(self) -> ReleaseView {
        ReleaseView {
            project: self.project,
            version: self.version,
            channel: self.channel,
            labels: self.labels,
            lifecycle: self.lifecycle,
            artifacts: self.artifacts.into_view(),
            snapshot: std::sync::Arc::unwrap_or_clone(self.snapshot),
            notes: self.notes,
            eligible_for_protected: self.eligible_for_protected,
            created_by: self.created_by,
            created_at: format_time(self.created_at),
            pruned_at: self.pruned_at.map(format_time),
        }
    }
}
