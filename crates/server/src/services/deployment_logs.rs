//! Reading a deployment's output a page at a time, for the API, the CLI (through the API) and
//! the console's live log: by cursor (the last line the reader holds), so a page at the end of
//! a long log costs what the first one does. It only reads; agents' lines are written by
//! `services::tasks`.

use slipway_core::access::Operation;
use slipway_core::page::Cursor;
use slipway_store::{LogFilter, LogKey, LogLine, LogStart};

use super::paging::{foreign_key, PageRequest};
use super::require;
use crate::auth::Actor;
use crate::{AppState, ServiceError};

/// The name a log cursor carries: one of another list is refused, naming what to pass.
const LIST: &str = "logs";

/// Where a reader starts.
#[derive(Debug, Clone, Default)]
pub enum LogFrom {
    /// At the first line of the selection.
    #[default]
    Start,
    /// After the line this cursor (a previous answer's `next`) names.
    Cursor(String),
    /// After the first N lines of the selection: the former `after_line`, kept for the CLIs
    /// and scripts that send it; it walks the lines before the page, so it slows with depth.
    Line(i64),
}

/// What a reader asks for: one task's lines or all, from a time on, from a place on.
#[derive(Debug, Clone, Default)]
pub struct LogRequest {
    pub task: Option<String>,
    /// RFC 3339.
    pub since: Option<String>,
    pub from: LogFrom,
    pub limit: i64,
}

/// One page of a deployment's output (or one task's), with where to read on.
#[derive(Debug)]
pub struct LogPage {
    pub items: Vec<LogLine>,
    /// The cursor that reads on after this page (with the same `task` and `since`): after its
    /// last line, or where the reader started when it holds none (`None` only from the start).
    /// A follower passes it back even when `more` is false, to read the lines that come later.
    pub next: Option<String>,
    /// For a reader by count (`LogFrom::Line`): the count that reads on from here.
    pub next_after_line: Option<i64>,
    /// The page was full: more lines are waiting now.
    pub more: bool,
}

/// Read one page of deployment `id`'s output as `request` asks, `limit` lines at most (up to
/// `slipway_store::MAX_LOG_PAGE`).
pub async fn log_page(
    state: &AppState,
    actor: &Actor,
    id: i64,
    request: LogRequest,
) -> Result<LogPage, ServiceError> {
    require(state, actor, Operation::Read, &format!("deployment/{id}")).await?;
    if state.store.deployment_standing(id).await?.is_none() {
        return Err(ServiceError::not_found(
            format!("deployment {id}"),
            "list them with `slipway deployment list`",
        ));
    }
    if let Some(t) = &request.task {
        if state
            .store
            .task(t)
            .await?
            .is_none_or(|t| t.deployment_id != id)
        {
            return Err(ServiceError::not_found(
                format!("task {t} of deployment {id}"),
                format!("task ids are in `slipway deployment show {id} --output json`"),
            ));
        }
    }
    let since = request
        .since
        .as_deref()
        .map(|s| {
            s.parse::<jiff::Timestamp>().map_err(|e| {
                ServiceError::invalid(
                    format!("`{s}` is not an RFC 3339 time: {e}"),
                    "e.g. since=2026-11-23T19:00:00Z",
                )
            })
        })
        .transpose()?;
    if request.limit < 1 {
        return Err(ServiceError::invalid(
            format!("limit={} is not a page size", request.limit),
            format!(
                "pass limit=1..{} and follow `next` for more",
                slipway_store::MAX_LOG_PAGE
            ),
        ));
    }
    let start = match &request.from {
        LogFrom::Start => LogStart::First,
        LogFrom::Cursor(text) => LogStart::After(decode(text)?),
        LogFrom::Line(n) if *n < 0 => {
            return Err(ServiceError::invalid(
                format!("after_line={n} is not a line count: it must be 0 or more"),
                "read on with the previous answer's `next` as after=",
            ));
        }
        LogFrom::Line(n) => LogStart::Skip(*n),
    };
    let limit = request.limit.min(slipway_store::MAX_LOG_PAGE);
    let items = state
        .store
        .log_page(
            id,
            &LogFilter {
                task: request.task,
                since,
                start,
                limit,
            },
        )
        .await?;
    let next = match (items.last(), request.from.clone()) {
        (Some(last), _) => Some(encode(&last.key())),
        (None, LogFrom::Cursor(given)) => Some(given),
        (None, _) => None,
    };
    Ok(LogPage {
        next_after_line: match request.from {
            LogFrom::Line(n) => Some(n + items.len() as i64),
            LogFrom::Start => Some(items.len() as i64),
            LogFrom::Cursor(_) => None,
        },
        more: items.len() as i64 >= limit,
        next,
        items,
    })
}

/// The cursor after the line `key` names.
pub fn encode(key: &LogKey) -> String {
    Cursor::new(
        LIST,
        vec![
            slipway_store::format_time(key.at),
            key.task_id.clone(),
            key.attempt.to_string(),
            key.line_no.to_string(),
        ],
    )
    .encode()
}

/// The line a cursor names; a cursor of another list, or not one this list wrote, is a 400.
fn decode(text: &str) -> Result<LogKey, ServiceError> {
    let request = PageRequest {
        after: Some(text.to_string()),
        ..PageRequest::default()
    };
    let Some(key) = request.key(LIST, 4)? else {
        return Err(foreign_key("place"));
    };
    let [at, task_id, attempt, line_no] =
        <[String; 4]>::try_from(key).map_err(|_| foreign_key("place in the output"))?;
    Ok(LogKey {
        at: at.parse().map_err(|_| foreign_key("time"))?,
        task_id,
        attempt: attempt.parse().map_err(|_| foreign_key("attempt"))?,
        line_no: line_no.parse().map_err(|_| foreign_key("line number"))?,
    })
}
