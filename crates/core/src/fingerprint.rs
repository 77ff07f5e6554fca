//! A TLS certificate's fingerprint: the SHA-256 of its DER encoding, written `sha256:<hex>`.
//! The server prints its own at startup; an agent pins it at enrolment and from then on talks
//! only to a server presenting that very certificate.

use std::fmt;

use crate::digest::{lower_hex, Sha256};

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertFingerprint(Sha256);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a certificate fingerprint: expected `sha256:` followed by 64 hexadecimal characters (colons between pairs allowed), as the server prints it at startup")]
pub struct InvalidFingerprint(pub String);

impl CertFingerprint {
    /// The fingerprint of a certificate in DER form.
    pub fn of_der(der: &[u8]) -> CertFingerprint {
        CertFingerprint(Sha256::of(der))
    }

    /// `sha256:` then the digest in hexadecimal, either case, with or without colons between the
    /// pairs; also the whole line `openssl x509 -noout -fingerprint -sha256` prints
    /// (`sha256 Fingerprint=AB:CD:…`).
    pub fn parse(text: &str) -> Result<CertFingerprint, InvalidFingerprint> {
        let invalid = || InvalidFingerprint(text.to_string());
        let trimmed = text.trim();
        let (algorithm, hex) = trimmed.split_once([':', '=']).ok_or_else(invalid)?;
        let algorithm = algorithm.trim();
        let algorithm = algorithm
            .strip_suffix(" Fingerprint")
            .or_else(|| algorithm.strip_suffix(" fingerprint"))
            .unwrap_or(algorithm);
        if !algorithm.eq_ignore_ascii_case("sha256") {
            return Err(invalid());
        }
        let hex: String = hex
            .chars()
            .filter(|c| *c != ':')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        Sha256::parse(&hex)
            .map(CertFingerprint)
            .map_err(|_| invalid())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }
}

impl fmt::Display for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", lower_hex(self.0.as_bytes()))
    }
}

impl fmt::Debug for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertFingerprint({self})")
    }
}

impl std::str::FromStr for CertFingerprint {
    type Err = InvalidFingerprint;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        CertFingerprint::parse(text)
    }
}

impl serde::Serialize for CertFingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for CertFingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        CertFingerprint::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ABC: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn is_the_sha256_of_the_der_bytes() {
        assert_eq!(CertFingerprint::of_der(b"abc").to_string(), ABC);
    }

    #[test]
    fn accepts_the_forms_people_copy() {
        let want = CertFingerprint::of_der(b"abc");
        for form in [
            ABC.to_string(),
            ABC.to_uppercase(),
            format!("  {ABC}\n"),
            // `openssl x509 -noout -fingerprint -sha256`, whole or from the `=`
            "sha256 Fingerprint=BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD".to_string(),
            "sha256:BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD".to_string(),
        ] {
            assert_eq!(CertFingerprint::parse(&form), Ok(want), "{form}");
        }
    }

    #[test]
    fn refuses_anything_else() {
        for bad in [
            "",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sha1:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sha256:ba7816bf",
            "sha256:zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad00",
        ] {
            let error = CertFingerprint::parse(bad).unwrap_err();
            assert!(error.to_string().contains("sha256:"), "{error}");
        }
    }

    proptest! {
        #[test]
        fn printed_form_parses_back(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let f = CertFingerprint::of_der(&bytes);
            prop_assert_eq!(CertFingerprint::parse(&f.to_string()).unwrap(), f);
            let json = serde_json::to_string(&f).unwrap();
            prop_assert_eq!(serde_json::from_str::<CertFingerprint>(&json).unwrap(), f);
        }

        #[test]
        fn parsing_never_panics(text in ".{0,80}") {
            let _ = CertFingerprint::parse(&text);
        }
    }
}
