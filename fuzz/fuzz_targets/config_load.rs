//! `slipway.yaml` as anyone may write it (`apply`, `validate`): loading never panics, and every
//! error it reports is located in the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slipway_core::config::{load, Source};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = load(&[Source {
        name: "slipway.yaml",
        text,
    }]);
});
