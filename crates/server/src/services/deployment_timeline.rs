//! The Deployments page's timeline: a page of deployments and the flag changes of the same
//! stretch of time, so that a reader pages back through both without a row lost or repeated.
//!
//! The deployments page by id (newest first), as the deployments list does. Each page covers a
//! stretch of time: from the oldest deployment it shows (or the start of history, on the last
//! page) up to where the page before stopped (or now, on the first). The flag changes made in
//! that stretch, `[from, until)`, are the page's; the cursor carries `from` with the last id, so
//! the next page's stretch starts where this one's ends whatever the ids' times. A stretch holds
//! at most [`FLAG_CHANGES_PER_PAGE`] flag changes, the newest; the page says when more were made
//! (the audit log holds every one). Nothing here writes.

use jiff::Timestamp;
use slipway_core::access::Operation;
use slipway_core::page::Cursor;
use slipway_store::{FlagChangeWindow, StoredDeployment};

use super::deployments::DeploymentFilter;
use super::flags::{self, FlagChange};
use super::paging::{time_id_fields, PageRequest};
use super::require;
use crate::auth::Actor;
use crate::{AppState, ServiceError};

/// The most flag changes one page's stretch of time shows.
pub const FLAG_CHANGES_PER_PAGE: i64 = 200;

/// The name timeline cursors carry (a deployments list cursor holds no time: it is refused).
const LIST: &str = "deployment-timeline";

/// One page of the timeline.
#[derive(Debug, Clone)]
pub struct TimelinePage {
    /// Newest first, by id.
    pub deployments: Vec<StoredDeployment>,
    /// The flag changes made within the page's stretch of time, newest first.
    pub flag_changes: Vec<FlagChange>,
    /// The stretch holds more flag changes than [`FLAG_CHANGES_PER_PAGE`].
    pub more_flag_changes: bool,
    /// The cursor of the next, older page; `None` on the last.
    pub next: Option<String>,
}

/// A page of deployments within `filter` (its `version` is not read) and the flag changes of
/// its stretch of time.
pub async fn page(
    state: &AppState,
    actor: &Actor,
    filter: DeploymentFilter<'_>,
    request: &PageRequest,
) -> Result<TimelinePage, ServiceError> {
    require(state, actor, Operation::Read, "deployments").await?;
    let key = request.time_id_key(LIST, "time")?;
    let until = key.map(|(at, _)| at);
    let found = state
        .store
        .deployments_page(
            filter.project,
            filter.environment,
            key.map(|(_, id)| id),
            request.size,
        )
        .await?;
    let from = stretch_start(&found.items, found.more, until);
    let read = flags::changes(
        state,
        actor,
        FlagChangeWindow {
            project: filter.project,
            environment: filter.environment,
            from,
            until,
        },
        FLAG_CHANGES_PER_PAGE,
    )
    .await?;
    let next = match (from, found.more, found.items.last()) {
        (Some(from), true, Some(last)) => {
            Some(Cursor::new(LIST, time_id_fields(from, last.id)).encode())
        }
        _ => None,
    };
    Ok(TimelinePage {
        deployments: found.items,
        flag_changes: read.changes,
        more_flag_changes: read.more,
        next,
    })
}

/// Where a page's stretch of time starts: at its oldest deployment when older pages follow
/// (never after where the page before started, so stretches never overlap), at the start of
/// history on the last page.
fn stretch_start(
    deployments: &[StoredDeployment],
    more: bool,
    until: Option<Timestamp>,
) -> Option<Timestamp> {
    if !more {
        return None;
    }
    let oldest = deployments.iter().map(|d| d.created_at).min()?;
    Some(until.map_or(oldest, |u| oldest.min(u)))
}
