//! The server's evidence key: an ed25519 key per server, created (and audited) at first use,
//! kept in the `settings` table as `evidence.signing_key` with its seed sealed by the master key,
//! so a database copy alone cannot sign. Evidence bundles and electronic signatures are sealed
//! with it; this module only loads and creates it.

use serde_json::json;
use slipway_core::digest::lower_hex;
use slipway_core::evidence as bundle;
use slipway_core::signing::SigningKey;
use slipway_core::Sha256;

use super::entry;
use crate::auth::Actor;
use crate::{AppState, ServiceError};

const KEY_SETTING: &str = "evidence.signing_key";

async fn load_key(state: &AppState) -> Result<Option<SigningKey>, ServiceError> {
    let Some(sealed) = state.store.setting(KEY_SETTING).await? else {
        return Ok(None);
    };
    let seed = state
        .secrets
        .open(KEY_SETTING, &sealed)
        .and_then(|hex| Sha256::parse(&hex).ok())
        .ok_or_else(|| ServiceError::Corrupt {
            message: "the evidence signing key stored in the database cannot be opened".into(),
            hint: "it was altered, or sealed with another master key; restore the settings table from a backup".into(),
        })?;
    Ok(Some(SigningKey::from_seed(*seed.as_bytes())))
}

/// The server's evidence key, created (and audited) at first use.
pub(crate) async fn signing_key(
    state: &AppState,
    actor: &Actor,
) -> Result<SigningKey, ServiceError> {
    if let Some(key) = load_key(state).await? {
        return Ok(key);
    }
    let mut tx = state.store.write().await?;
    // Another request may have created it while this one waited for the write lock.
    if let Some(key) = load_key(state).await? {
        return Ok(key);
    }
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|e| {
        ServiceError::invalid(format!("no randomness from the operating system: {e}"), "")
    })?;
    let key = SigningKey::from_seed(seed);
    tx.set_setting(
        KEY_SETTING,
        &state.secrets.seal(KEY_SETTING, &lower_hex(&seed)),
    )
    .await?;
    let public = key.public_key();
    tx.audit(entry(
        actor,
        "evidence.key_create",
        "evidence/key".into(),
        json!({ "public_key": public, "fingerprint": bundle::fingerprint(&public) }),
    ));
    tx.commit().await?;
    Ok(key)
}
