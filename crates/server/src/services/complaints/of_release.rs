//! A release's complaints of its first 30 days in production (reported against it or
//! attributed to it): a page at a time for readers (the release's page and its API), whole for
//! its evidence bundle. The window starts at its first successful deployment into a production
//! environment; a release that never got there has none. Nothing here writes.

use slipway_core::access::Operation;
use slipway_core::complaints::RELEASE_WINDOW_DAYS;
use slipway_core::page::PageSize;
use slipway_core::Name;
use slipway_store::{ComplaintFilter, ComplaintKey, StoredComplaint};

use super::{release_of, subject};
use crate::auth::Actor;
use crate::services::paging::{time_id_fields, Listed, PageRequest};
use crate::services::require;
use crate::{AppState, ServiceError};

/// The most complaints an evidence bundle holds of a release.
const MAX_OF_RELEASE: usize = 1000;

/// One page of a release's complaints of its first 30 days in production, newest received
/// first, ties by id: the project list's order and cursor (a place in the project's list is one
/// in the release's), read through the same index from the cursor on. Empty when the release
/// never reached production; the release checked to exist.
pub async fn release_complaints(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    version: &str,
    request: &PageRequest,
) -> Result<Listed<StoredComplaint>, ServiceError> {
    require(state, actor, Operation::Read, &subject(project)).await?;
    let version = release_of(state, project, version).await?;
    let list = format!("complaints:{project}");
    let after = request
        .time_id_key(&list, "received time")?
        .map(|(received_at, id)| ComplaintKey { received_at, id });
    let Some(mut filter) = window(state, project, &version).await? else {
        return Ok(Listed {
            items: Vec::new(),
            next: None,
        });
    };
    filter.after = after;
    let found = state.store.complaints(&filter, request.size).await?;
    Ok(Listed::from_page(found, &list, |c| {
        time_id_fields(c.received_at, c.id)
    }))
}

/// A release's complaints of its first 30 days in production, oldest first, at most
/// [`MAX_OF_RELEASE`]: the evidence bundle's `complaints.json`, one file.
pub async fn of_release(
    state: &AppState,
    project: &Name,
    version: &str,
) -> Result<Vec<StoredComplaint>, ServiceError> {
    let Some(mut filter) = window(state, project, version).await? else {
        return Ok(Vec::new());
    };
    let mut complaints = Vec::new();
    loop {
        let page = state
            .store
            .complaints(&filter, PageSize::at_most(500))
            .await?;
        filter.after = page.items.last().map(|c| ComplaintKey {
            received_at: c.received_at,
            id: c.id,
        });
        complaints.extend(page.items);
        if !page.more || complaints.len() >= MAX_OF_RELEASE {
            break;
        }
    }
    complaints.truncate(MAX_OF_RELEASE);
    complaints.reverse();
    Ok(complaints)
}

/// The filter of a release's complaints: its project, the release, and the 30 days from its
/// first arrival in production, `[reached, reached + 30 d)`; `None` when it never arrived.
async fn window(
    state: &AppState,
    project: &Name,
    version: &str,
) -> Result<Option<ComplaintFilter>, ServiceError> {
    let environments = state.store.environments().await?;
    let production: Vec<String> = environments
        .iter()
        .filter(|e| e.production)
        .map(|e| e.name.to_string())
        .collect();
    let Some(reached) = state
        .store
        .first_arrival(project.as_str(), version, &production)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(ComplaintFilter {
        project: project.to_string(),
        release: Some(version.to_string()),
        from: Some(reached),
        to: Some(reached + jiff::SignedDuration::from_hours(24 * RELEASE_WINDOW_DAYS)),
        ..ComplaintFilter::default()
    }))
}
