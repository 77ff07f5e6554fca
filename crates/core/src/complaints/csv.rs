//! Complaints as CSV: the import read whole and bounded (size, rows, cell length), every bad row
//! named by its spreadsheet row number, column and reason, nothing returned unless every row
//! passes; and the export, each cell quoted when needed and a leading `=`, `+`, `-`, `@`, tab or
//! carriage return defused with a tick so that a spreadsheet never runs it as a formula.
//!
//! Cells are kept as the text they are: `=cmd|' /C calc'!A0` in a description is stored as that
//! text and only ever escaped on the way out.

use jiff::Timestamp;

use super::{truncated, ComplaintInput, NewComplaint};
use crate::name::Name;

/// The columns an import may hold, in the order an export writes them.
pub const IMPORT_COLUMNS: &[&str] = &[
    "received_at",
    "customer",
    "site",
    "environment",
    "version",
    "severity",
    "category",
    "description",
    "links",
    "capa",
];

const REQUIRED: &[&str] = &["received_at", "customer", "severity", "description"];

/// The bounds of one import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportLimits {
    pub max_bytes: usize,
    pub max_rows: usize,
    /// The longest cell, in bytes (a description may hold 10 000 characters).
    pub max_cell: usize,
}

impl Default for ImportLimits {
    fn default() -> Self {
        ImportLimits {
            max_bytes: 2 * 1024 * 1024,
            max_rows: 10_000,
            max_cell: 40_000,
        }
    }
}

/// The most row errors one answer lists; the count says how many there were.
const MAX_LISTED_ERRORS: usize = 200;

/// One row that did not pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("row {row}, column {column}: {reason}")]
pub struct CsvRowError {
    /// The spreadsheet's row number: the header is row 1.
    pub row: usize,
    pub column: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    #[error("the file is {size} bytes; an import holds at most {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("the file is not UTF-8 text: line {line}, byte {byte} of that line")]
    NotUtf8 { line: usize, byte: usize },
    #[error("the file is empty; its first row names the columns ({})", IMPORT_COLUMNS.join(","))]
    Empty,
    #[error("the header (row 1): {0}")]
    Header(String),
    #[error("the file holds more than {max} rows; split it")]
    TooManyRows { max: usize },
    #[error("{count} row error(s); nothing was imported")]
    Rows {
        count: usize,
        /// At most 200, in row order.
        errors: Vec<CsvRowError>,
    },
}

/// A record as read: its starting row, its cells, or why it could not be read.
struct Record {
    row: usize,
    cells: Result<Vec<String>, String>,
}

/// Split `text` into records (RFC 4180: quoted cells may hold commas, quotes doubled, line
/// breaks), counting rows as a spreadsheet does.
fn records(text: &str, limits: &ImportLimits) -> Result<Vec<Record>, CsvError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        if out.len() > limits.max_rows {
            return Err(CsvError::TooManyRows {
                max: limits.max_rows,
            });
        }
        let row = line;
        let mut cells = Vec::new();
        let mut cell = String::new();
        let mut problem: Option<String> = None;
        let mut quoted = false;
        let mut was_quoted = false;
        loop {
            let Some(c) = chars.next() else {
                if quoted {
                    problem.get_or_insert_with(|| {
                        "a quoted cell is never closed (a missing `\"`)".to_string()
                    });
                }
                cells.push(std::mem::take(&mut cell));
                break;
            };
            if c == '\n' {
                line += 1;
            }
            if quoted {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        cell.push('"');
                    } else {
                        quoted = false;
                    }
                } else {
                    cell.push(c);
                }
            } else {
                match c {
                    ',' => {
                        cells.push(std::mem::take(&mut cell));
                        was_quoted = false;
                        continue;
                    }
                    '\n' => {
                        cells.push(std::mem::take(&mut cell));
                        break;
                    }
                    '\r' if chars.peek() == Some(&'\n') => {}
                    '"' if cell.is_empty() && !was_quoted => {
                        quoted = true;
                        was_quoted = true;
                    }
                    '"' => {
                        problem.get_or_insert_with(|| {
                            format!(
                                "cell {} holds a quote outside quotes; quote the whole cell and double the quote (\"a \"\"b\"\"\")",
                                cells.len() + 1
                            )
                        });
                    }
                    _ => cell.push(c),
                }
            }
            if cell.len() > limits.max_cell {
                problem.get_or_insert_with(|| {
                    format!(
                        "cell {} is longer than {} bytes",
                        cells.len() + 1,
                        limits.max_cell
                    )
                });
                // Keep reading the record's end, but not its bytes.
                cell.clear();
            }
        }
        let blank = cells.len() == 1 && cells[0].trim().is_empty() && problem.is_none();
        if !blank {
            out.push(Record {
                row,
                cells: match problem {
                    Some(p) => Err(p),
                    None => Ok(cells),
                },
            });
        }
    }
    Ok(out)
}

fn utf8(bytes: &[u8]) -> Result<&str, CsvError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        let line = good.iter().filter(|b| **b == b'\n').count() + 1;
        let start = good.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
        CsvError::NotUtf8 {
            line,
            byte: good.len() - start + 1,
        }
    })
}

/// Which import column each header cell is.
fn header(cells: &[String]) -> Result<Vec<&'static str>, CsvError> {
    let mut columns = Vec::new();
    for cell in cells {
        let name = cell.trim().to_ascii_lowercase();
        let Some(known) = IMPORT_COLUMNS.iter().find(|c| **c == name) else {
            return Err(CsvError::Header(format!(
                "unknown column {:?}; the columns are {}",
                truncated(cell),
                IMPORT_COLUMNS.join(",")
            )));
        };
        if columns.contains(known) {
            return Err(CsvError::Header(format!("column {known} appears twice")));
        }
        columns.push(*known);
    }
    let missing: Vec<&str> = REQUIRED
        .iter()
        .filter(|r| !columns.contains(r))
        .copied()
        .collect();
    if !missing.is_empty() {
        return Err(CsvError::Header(format!(
            "missing column(s) {}; every row needs them",
            missing.join(", ")
        )));
    }
    Ok(columns)
}

fn input(columns: &[&str], cells: Vec<String>) -> ComplaintInput {
    let mut input = ComplaintInput::default();
    for (column, value) in columns.iter().zip(cells) {
        let slot = match *column {
            "received_at" => &mut input.received_at,
            "customer" => &mut input.customer,
            "site" => &mut input.site,
            "environment" => &mut input.environment,
            "version" => &mut input.version,
            "severity" => &mut input.severity,
            "category" => &mut input.category,
            "description" => &mut input.description,
            "links" => &mut input.links,
            _ => &mut input.capa,
        };
        *slot = value;
    }
    input
}

/// Read an import: every row's complaint with its spreadsheet row number, or every reason it
/// was refused — a row naming an environment that is not among `environments` (those that
/// exist) included, in the same list as its other errors, so one answer names every bad row.
pub fn parse_csv(
    bytes: &[u8],
    limits: &ImportLimits,
    now: Timestamp,
    environments: &[Name],
) -> Result<Vec<(usize, NewComplaint)>, CsvError> {
    if bytes.len() > limits.max_bytes {
        return Err(CsvError::TooLarge {
            size: bytes.len(),
            max: limits.max_bytes,
        });
    }
    let text = utf8(bytes)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = records(text, limits)?.into_iter();
    let first = records.next().ok_or(CsvError::Empty)?;
    let columns = header(&first.cells.map_err(CsvError::Header)?)?;
    let mut complaints = Vec::new();
    let mut errors = Vec::new();
    for record in records {
        let row = record.row;
        let cells = match record.cells {
            Ok(cells) if cells.len() == columns.len() => cells,
            Ok(cells) => {
                errors.push(CsvRowError {
                    row,
                    column: "-".into(),
                    reason: format!(
                        "{} cells where the header has {}",
                        cells.len(),
                        columns.len()
                    ),
                });
                continue;
            }
            Err(reason) => {
                errors.push(CsvRowError {
                    row,
                    column: "-".into(),
                    reason,
                });
                continue;
            }
        };
        match input(&columns, cells).check(now) {
            Ok(c) => match &c.environment {
                Some(env) if !environments.contains(env) => errors.push(CsvRowError {
                    row,
                    column: "environment".into(),
                    reason: format!(
                        "environment {env} does not exist (the environments are {}; or leave the cell empty)",
                        if environments.is_empty() {
                            "none yet".to_string()
                        } else {
                            environments.iter().map(Name::as_str).collect::<Vec<_>>().join(", ")
                        }
                    ),
                }),
                _ => complaints.push((row, c)),
            },
            Err(fields) => errors.extend(fields.into_iter().map(|f| CsvRowError {
                row,
                column: f.column.to_string(),
                reason: f.reason,
            })),
        }
    }
    if errors.is_empty() {
        Ok(complaints)
    } else {
        let count = errors.len();
        errors.truncate(MAX_LISTED_ERRORS);
        Err(CsvError::Rows { count, errors })
    }
}

/// One cell of an export: defused and quoted when needed.
fn cell(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// A CSV text: the header, then one line per row.
pub fn write_csv<R: AsRef<[String]>>(header: &[&str], rows: &[R]) -> String {
    let mut out = header.join(",");
    out.push('\n');
    for row in rows {
        let line: Vec<String> = row.as_ref().iter().map(|v| cell(v)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}
