//! Printing results: aligned tables for people, JSON for scripts. It never reads from the
//! server; verbs hand it what to print.

use serde::Serialize;
use serde_json::Value;

// `--output` is one of the flags every verb shares, so its values live with them.
pub(crate) use crate::remote::Format;
use crate::remote::Remote;

/// Print an answer for scripts. It goes through `Value`, whose keys are sorted, so a view
/// prints exactly the bytes the untyped answer printed.
pub(crate) fn json(value: &impl Serialize) {
    let value = serde_json::to_value(value).expect("views and JSON values always serialise");
    println!(
        "{}",
        serde_json::to_string_pretty(&value).expect("a JSON value always prints")
    );
}

/// The word a unit enum of the API is on the wire (`rolled_back`, `open`).
pub(crate) fn word(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        Ok(other) => cell(&other),
        Err(_) => "-".to_string(),
    }
}

/// An optional field as a table cell: `-` when absent.
pub(crate) fn or_dash(v: &Option<impl std::fmt::Display>) -> String {
    v.as_ref()
        .map_or_else(|| "-".to_string(), ToString::to_string)
}

/// Print rows under headers, columns padded to their widest cell.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) {
    // A row wider than its headers prints cells under the wrong names (and drops the last):
    // every test run of a listing catches it.
    debug_assert!(
        rows.iter().all(|r| r.len() == headers.len()),
        "a table row has {:?} cells for {} headers {headers:?}",
        rows.iter().map(Vec::len).collect::<Vec<_>>(),
        headers.len()
    );
    if rows.is_empty() {
        println!("(none)");
        return;
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// A JSON field as a table cell: strings bare, null as `-`.
pub(crate) fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Print `value` as JSON for scripts, or through `human` for people.
pub(crate) fn show<T: Serialize>(remote: &Remote, value: &T, human: impl FnOnce(&T)) {
    match remote.output {
        Format::Json => json(value),
        Format::Human => human(value),
    }
}
