//! The page flags every list verb shares (`--limit`, `--after`, `--all`) and reading a paged
//! list answer (`slipway_api::Page`): one page, or every page by following `next`.
//! It never prints; verbs print what it returns.

use clap::Args;
use serde::de::DeserializeOwned;
use slipway_api::deployments::LogPage;
use slipway_api::Page;

use crate::client::{encode, Client};
use crate::error::Failure;

/// Items per page when following every page: the server's maximum.
const FOLLOW_PAGE: u32 = 500;
/// A bound on pages followed, so a server that never ends a list cannot keep the CLI forever.
const MAX_PAGES: usize = 100_000;

/// Which part of a paged list to read.
#[derive(Args, Clone, Debug, Default)]
pub struct PageFlags {
    /// Items per page (1 to 500; the server's default is 50).
    #[arg(long)]
    pub limit: Option<u32>,
    /// Start after this cursor: the `next` of the page before (printed when more follow).
    #[arg(long, conflicts_with = "all")]
    pub after: Option<String>,
    /// Read every page, following `next` to the end (for exports).
    #[arg(long)]
    pub all: bool,
}

/// The list at `path` (which may already hold `?query`), as `flags` ask: one page with its
/// `next`, or with `--all` every item and `next` null.
pub(crate) fn read<T: DeserializeOwned>(
    client: &Client,
    path: &str,
    flags: &PageFlags,
) -> Result<Page<T>, Failure> {
    let join = if path.contains('?') { '&' } else { '?' };
    let page_path = |limit: Option<u32>, after: Option<&str>| {
        let mut query = Vec::new();
        if let Some(limit) = limit {
            query.push(format!("limit={limit}"));
        }
        if let Some(after) = after {
            query.push(format!("after={}", encode(after)));
        }
        if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}{join}{}", query.join("&"))
        }
    };
    if !flags.all {
        return client.get(&page_path(flags.limit, flags.after.as_deref()));
    }
    let limit = Some(flags.limit.unwrap_or(FOLLOW_PAGE));
    let mut all: Page<T> = client.get(&page_path(limit, None))?;
    let mut pages = 1;
    while let Some(after) = all.next.take() {
        if pages >= MAX_PAGES {
            break;
        }
        let page: Page<T> = client.get(&page_path(limit, Some(&after)))?;
        all.items.extend(page.items);
        all.next = page.next;
        pages += 1;
    }
    Ok(all)
}

/// Where the next read of a deployment's output starts (`GET …/logs`): by the cursor the last
/// answer gave, or, from a server of before cursors, by the count of lines read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum LogPlace {
    #[default]
    Start,
    After(String),
    Line(i64),
}

impl LogPlace {
    /// The query parameter that says it; none from the start.
    pub(crate) fn query(&self) -> Option<String> {
        match self {
            LogPlace::Start => None,
            LogPlace::After(cursor) => Some(format!("after={}", encode(cursor))),
            LogPlace::Line(n) => Some(format!("after_line={n}")),
        }
    }

    /// Read on after `page`.
    pub(crate) fn advance(&mut self, page: &LogPage) {
        if let Some(next) = &page.next {
            *self = LogPlace::After(next.clone());
        } else if let Some(n) = page.next_after_line {
            *self = LogPlace::Line(n);
        }
    }
}

/// What to tell a person when more pages follow the one printed.
pub(crate) fn more_hint(page_next: Option<&str>, verb: &str) -> Option<String> {
    page_next.map(|next| format!("more follow: {verb} --after {next} (or --all for every page)"))
}
