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

/// Ask on the terminal without echoing what is typed (`stty -echo` around one line).
pub(crate) fn ask_password(prompt: &str) -> Result<String, Failure> {
    use std::io::Write;
    let stty = |setting: &str| {
        std::process::Command::new("stty")
            .arg(setting)
            .stdin(std::process::Stdio::inherit())
            .status()
    };
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let hidden = stty("-echo").is_ok_and(|s| s.success());
    let mut line = String::new();
    let read = std::io::stdin().read_line(&mut line);
    if hidden {
        let _ = stty("echo");
        eprintln!();
    }
    read.map_err(|e| {
        Failure::new(
            Exit::Invalid,
            format!("error: cannot read the password: {e}"),
        )
    })?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        return Err(Failure::new(
            Exit::Invalid,
            "error: no password was typed".to_string(),
        ));
    }
    Ok(password)
}
