//! The query every paged list takes (`?limit=N&after=CURSOR`) and the page it answers
//! (`slipway_api::Page`: `items` and the `next` cursor).

use axum::Json;
use serde::Deserialize;
use slipway_api::Page;

use crate::services::paging::{Listed, PageRequest};
use crate::views::IntoView;
use crate::ServiceError;

/// `?limit=N&after=CURSOR`: lists whose only parameters are the page's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PageQuery {
    limit: Option<i64>,
    after: Option<String>,
}

impl PageQuery {
    pub(super) fn request(self) -> Result<PageRequest, ServiceError> {
        PageRequest::parse(self.limit, self.after)
    }
}

/// A listed page as the API answers it.
pub(super) fn page<T: IntoView>(listed: Listed<T>) -> Json<Page<T::View>> {
    Json(Page {
        items: listed.items.into_iter().map(IntoView::into_view).collect(),
        next: listed.next,
    })
}
