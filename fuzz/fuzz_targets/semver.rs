//! Semantic versions from outside (`release create --version`, URLs): parsing never panics,
//! and a parsed version prints back to text that parses to the same version.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slipway_core::release::Version;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(version) = Version::parse(text) {
        let again = Version::parse(&version.to_string()).expect("a printed version parses");
        assert_eq!(again, version);
        assert_eq!(version.precedence(&again), std::cmp::Ordering::Equal);
        let _ = version.is_prerelease();
        let _ = version.bump_from(Some(&again));
    }
});
