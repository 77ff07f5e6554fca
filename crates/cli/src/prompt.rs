//! Secrets read from standard input (passwords, sensitive variable values), so they never show
//! in the process list or the shell's history. It never echoes what it read.

use std::io::Read;

use crate::error::{Exit, Failure};

/// The whole of standard input, without its final line break; refused when empty.
pub(crate) fn stdin_secret(what: &str) -> Result<String, Failure> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).map_err(|e| {
        Failure::new(
            Exit::Invalid,
            format!("error: cannot read the {what} from standard input: {e}"),
        )
    })?;
    let text = text.trim_end_matches(['\n', '\r']).to_string();
    if text.is_empty() {
        return Err(Failure::new(
            Exit::Invalid,
            format!("error: the {what} on standard input is empty"),
        ));
    }
    Ok(text)
}
