//! Sealed electronic signatures as the API shows them.

use slipway_api::signatures::SignatureView;
use slipway_core::signature::Sealed;

use super::IntoView;

impl IntoView for Sealed {
    type View = SignatureView;
    fn into_view(self) -> SignatureView {
        SignatureView {
            manifestation: self.signature.manifestation(),
            signer_id: self.signature.signer_id,
            signer: self.signature.signer,
            printed_name: self.signature.printed_name,
            signed_at: self.signature.signed_at,
            meaning: self.signature.meaning,
            record_kind: self.signature.record_kind,
            record_id: self.signature.record_id,
            record_hash: self.signature.record_hash,
            record: self.record,
            server_key: self.server_key,
            server_signature: self.server_signature,
        }
    }
}
