//! What an OpenID provider sends (`core::sso::jose`, `core::sso::claims`): an ID token split and
//! decoded, a key set read, claims read; none of it panics, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slipway_core::sso::claims::IdClaims;
use slipway_core::sso::jose::{parse, JwkSet};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(jws) = parse(text) {
            let _ = IdClaims::parse(&jws.payload);
        }
    }
    if let Ok(keys) = JwkSet::parse(data) {
        let _ = keys.is_empty();
    }
    let _ = IdClaims::parse(data);
});
