//! What an LDAP directory answers (`core::sso::ldap`): reading never panics, never reads past
//! the message, and a length the head announces is within the message limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slipway_core::sso::ldap::{message_length, read_answer, MAX_MESSAGE};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(total)) = message_length(data) {
        assert!(total <= MAX_MESSAGE);
    }
    let _ = read_answer(data);
});
