//! The evidence key as the API shows it (`GET /api/v1/evidence/key`), for auditors to compare
//! with the fingerprint a bundle carries. Bundles themselves are tar files, not JSON views.

use serde::{Deserialize, Serialize};
use slipway_core::signing::PublicKey;

/// The server's evidence key, which signs evidence bundles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyView {
    pub public_key: PublicKey,
    /// `sha256:<64 hex>` of the 32 raw key bytes.
    pub fingerprint: String,
    /// The exact `evidence-key.pub` a bundle carries (with the PEM form).
    pub key_file: String,
}
