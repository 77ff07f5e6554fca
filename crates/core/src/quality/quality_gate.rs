//! A code-quality gate's verdict as an outside tool (SonarQube) reports it, and the check of the
//! signature its webhook carries. Pure: the bytes and the secret in, the verdict out.

use hmac::{Hmac, Mac};

use crate::state_name::state_names;

/// A quality gate's status, as SonarQube names it (lower case here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QualityGateStatus {
    Ok,
    Error,
    /// Older SonarQube versions: passed with warnings.
    Warn,
    /// No gate was computed (no quality gate on the project).
    None,
}

state_names!(QualityGateStatus, "quality gate status", {
    Ok => "ok",
    Error => "error",
    Warn => "warn",
    None => "none",
});

/// Check `X-Sonar-Webhook-HMAC-SHA256`: the lower- or upper-case hex HMAC-SHA256 of the raw body,
/// keyed by the secret configured in SonarQube and in Slipway. Compared in constant time.
pub fn verify_sonar_signature(secret: &str, body: &[u8], header: &str) -> Result<(), &'static str> {
    let hex = header.trim();
    if hex.len() != 64 {
        return Err("the signature must be 64 hexadecimal characters");
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or("the signature is not hexadecimal")?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(body);
    mac.verify_slice(&bytes)
        .map_err(|_| "the signature does not match the configured secret and the body")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        crate::digest::lower_hex(&mac.finalize().into_bytes())
    }

    #[test]
    fn a_signature_over_the_raw_body_with_the_secret_verifies_and_nothing_else_does() {
        let body = br#"{"project":{"key":"pets"}}"#;
        let good = sign("s3cret", body);
        assert!(verify_sonar_signature("s3cret", body, &good).is_ok());
        assert!(verify_sonar_signature("s3cret", body, &good.to_uppercase()).is_ok());
        assert!(verify_sonar_signature("other", body, &good).is_err());
        assert!(verify_sonar_signature("s3cret", b"{}", &good).is_err());
        assert!(verify_sonar_signature("s3cret", body, "zz").is_err());
        assert!(verify_sonar_signature("s3cret", body, &"g".repeat(64)).is_err());
    }

    #[test]
    fn quality_gate_status_names_round_trip() {
        crate::state_name::assert_names_round_trip(QualityGateStatus::ALL, "quality gate status");
    }
}
