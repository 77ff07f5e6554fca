//! Electronic signatures (21 CFR Part 11 §11.50, §11.70, §11.200): what a signature names, the
//! canonical bytes it binds, how it reads to a person, and its offline verification.
//!
//! A signature names its signer (id, user name, printed name), its time, its meaning, and the
//! record it signs by kind, id and the SHA-256 of the record's content; so it cannot be copied
//! to another record without its hash failing. The server seals it with its evidence key, so an
//! auditor verifies it offline. Checking the signer's password is the caller's business: this
//! module does no I/O and reads no clock.

pub mod policy;

use serde::{Deserialize, Serialize};

use crate::digest::Sha256;
use crate::signing::{self, PublicKey, SigningKey};
use crate::state_name::state_names;
use policy::SignedAction;

/// Separates electronic signatures from anything else the evidence key signs.
const DOMAIN: &str = "slipway-electronic-signature-v1";

/// What a signature means (§11.50(a)(3)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Meaning {
    /// The signer examined the record (a rejection says what was reviewed and found wanting).
    Review,
    /// The signer approves what the record asks.
    Approval,
    /// The signer takes responsibility for a decision against the rules (overrides, risks).
    Responsibility,
    /// The signer wrote the record.
    Authorship,
}

state_names!(Meaning, "signature meaning", {
    Review => "review",
    Approval => "approval",
    Responsibility => "responsibility",
    Authorship => "authorship",
});

impl Meaning {
    /// The meaning a signed action carries: fixed per action, so a signer reads it before
    /// signing and nobody chooses a softer one.
    pub fn of(action: SignedAction) -> Meaning {
        match action {
            SignedAction::Approvals
            | SignedAction::ChangeRequests
            | SignedAction::ConfigChanges => Meaning::Approval,
            SignedAction::Rejections => Meaning::Review,
            SignedAction::Overrides | SignedAction::RiskAcceptances => Meaning::Responsibility,
        }
    }

    /// What the signer declares, in the words the form shows above the password field.
    pub fn declaration(self) -> &'static str {
        match self {
            Meaning::Review => "I have reviewed this record",
            Meaning::Approval => "I approve this record",
            Meaning::Responsibility => "I take responsibility for this decision",
            Meaning::Authorship => "I am the author of this record",
        }
    }
}

/// An electronic signature: who, when, meaning which, of what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub signer_id: String,
    /// The user name the signer authenticated with.
    pub signer: String,
    /// The signer's full name as printed with the signature (§11.50(a)(1)).
    pub printed_name: String,
    /// RFC 3339, UTC.
    pub signed_at: String,
    pub meaning: Meaning,
    /// What kind of record is signed, e.g. `promotion-vote`.
    pub record_kind: String,
    /// Which one, e.g. `promotion/7/vote/quinn`.
    pub record_id: String,
    /// The SHA-256 of the record's canonical content ([`record_hash`]).
    pub record_hash: Sha256,
}

/// The SHA-256 a signature binds: of the record's canonical content, as stored beside it.
pub fn record_hash(record: &[u8]) -> Sha256 {
    Sha256::of(record)
}

impl Signature {
    /// The canonical bytes sealed by the server: every field, length-prefixed, after a domain
    /// separator, so no two different signatures share a payload.
    pub fn payload(&self) -> Vec<u8> {
        let hash = self.record_hash.to_hex();
        let fields: [&str; 9] = [
            DOMAIN,
            &self.signer_id,
            &self.signer,
            &self.printed_name,
            &self.signed_at,
            self.meaning.as_str(),
            &self.record_kind,
            &self.record_id,
            &hash,
        ];
        let mut out = Vec::with_capacity(256);
        for f in fields {
            out.extend_from_slice(&(f.len() as u64).to_be_bytes());
            out.extend_from_slice(f.as_bytes());
        }
        out
    }

    /// How the signature reads wherever it is shown (§11.50(b)):
    /// `Signed by Quinn Q. (quinn) — approval — 2026-11-30 10:04 UTC`.
    pub fn manifestation(&self) -> String {
        let at = self
            .signed_at
            .parse::<jiff::Timestamp>()
            .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|_| self.signed_at.clone());
        format!(
            "Signed by {} ({}) — {} — {at}",
            self.printed_name, self.signer, self.meaning
        )
    }
}

/// A signature with the record it signs and the server's seal over both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    pub signature: Signature,
    /// The record's canonical content, exactly the bytes hashed.
    pub record: String,
    /// The server's evidence key.
    pub server_key: PublicKey,
    /// The evidence key's ed25519 signature of [`Signature::payload`], in hex.
    pub server_signature: String,
}

/// Seal a signature of `record` with the server's evidence key.
pub fn seal(signature: Signature, record: String, key: &SigningKey) -> Sealed {
    let server_signature = key.sign(&signature.payload());
    Sealed {
        signature,
        record,
        server_key: key.public_key(),
        server_signature,
    }
}

/// A signature as the API shows it and evidence bundles carry it (`signatures.json`): its
/// printed manifestation, its fields, the record and the seal, side by side.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Shown {
    pub manifestation: String,
    #[serde(flatten)]
    pub signature: Signature,
    pub record: String,
    pub server_key: PublicKey,
    pub server_signature: String,
}

impl Shown {
    /// Check it offline as [`verify`] does, and that its printed manifestation is what its
    /// fields say (so the line a person reads cannot differ from what was sealed).
    pub fn verify(self, server_key: &PublicKey) -> Result<String, SignatureProblem> {
        let sealed = Sealed {
            signature: self.signature,
            record: self.record,
            server_key: self.server_key,
            server_signature: self.server_signature,
        };
        verify(&sealed, server_key)?;
        let printed = sealed.signature.manifestation();
        if printed != self.manifestation {
            return Err(SignatureProblem::Misprinted {
                shown: self.manifestation,
                sealed: printed,
            });
        }
        Ok(printed)
    }
}

/// Why a sealed signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureProblem {
    #[error("the signed record was altered: it hashes to {actual}, the signature binds {bound}")]
    RecordAltered { bound: Sha256, actual: Sha256 },
    #[error("the signed record names {found}, the signature {expected}: a signature copied to another record")]
    OtherRecord { expected: String, found: String },
    #[error("sealed with key {found}, not the server's key {expected}")]
    OtherKey {
        expected: PublicKey,
        found: PublicKey,
    },
    #[error("the server's seal does not verify: the signer, name, time, meaning or record of the signature was altered")]
    SealBroken,
    #[error("it reads \"{shown}\" but its sealed fields say \"{sealed}\"")]
    Misprinted { shown: String, sealed: String },
}

/// The kind and id a record's canonical content names (every signed record carries them).
#[derive(Deserialize)]
struct RecordHeader {
    record_kind: String,
    record_id: String,
}

/// Check a sealed signature offline against the server key the reader holds: the record hashes
/// to what the signature binds and names the same record, and the seal verifies.
pub fn verify(sealed: &Sealed, server_key: &PublicKey) -> Result<(), SignatureProblem> {
    let s = &sealed.signature;
    let actual = record_hash(sealed.record.as_bytes());
    if actual != s.record_hash {
        return Err(SignatureProblem::RecordAltered {
            bound: s.record_hash,
            actual,
        });
    }
    let header: Option<RecordHeader> = serde_json::from_str(&sealed.record).ok();
    let expected = format!("{} {}", s.record_kind, s.record_id);
    let found = header.map_or_else(
        || "no record".to_string(),
        |h| format!("{} {}", h.record_kind, h.record_id),
    );
    if found != expected {
        return Err(SignatureProblem::OtherRecord { expected, found });
    }
    if sealed.server_key != *server_key {
        return Err(SignatureProblem::OtherKey {
            expected: *server_key,
            found: sealed.server_key,
        });
    }
    match signing::verify(server_key, &s.payload(), &sealed.server_signature) {
        Ok(true) => Ok(()),
        _ => Err(SignatureProblem::SealBroken),
    }
}

/// The environment whose policy makes accepting a risk of `project` an electronic signature:
/// the first of `environments` that lists `risk_acceptances` and that the project can reach (one
/// of its lifecycles names it; any environment when it has no lifecycle). A finding's risk is
/// accepted for the whole project, so it lifts the `findings` gate of every environment it
/// reaches: the strictest of their policies holds. `None` when no policy asks.
pub fn risk_acceptance_policy<'a>(
    project: &crate::model::Project,
    environments: &'a [crate::model::Environment],
) -> Option<&'a crate::model::Environment> {
    let reaches = |env: &crate::model::Environment| {
        project.lifecycles.is_empty()
            || project
                .lifecycles
                .iter()
                .flat_map(|l| &l.phases)
                .any(|p| p.environments.contains(&env.name))
    };
    environments.iter().find(|env| {
        env.gates
            .signatures
            .contains(&SignedAction::RiskAcceptances)
            && reaches(env)
    })
}

#[cfg(test)]
mod tests;
