//! Keyset paging shared by every paged list: the caller's request (page size, cursor) parsed
//! once, and a store page turned into items plus the cursor of the next page.
//!
//! A list is named (`releases:pets`, `deployments`) and its cursor carries that name, so a
//! cursor of one list given to another is refused with a 400 that says what to pass instead.

use slipway_core::page::{Cursor, PageError, PageSize};
use slipway_store::Page;

use crate::ServiceError;

/// What a caller asks of a paged list: how many items, and after which cursor.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub size: PageSize,
    pub after: Option<String>,
}

impl PageRequest {
    /// `?limit=N&after=CURSOR` as given; a bad size is refused here, a bad cursor by the list
    /// that reads it.
    pub fn parse(limit: Option<i64>, after: Option<String>) -> Result<PageRequest, ServiceError> {
        Ok(PageRequest {
            size: PageSize::parse(limit).map_err(refused)?,
            after: after.filter(|a| !a.is_empty()),
        })
    }

    /// The first page of `size` items.
    pub fn first(size: PageSize) -> PageRequest {
        PageRequest { size, after: None }
    }

    /// The sort key the cursor holds for `list`, whose keys have `fields` fields.
    pub(crate) fn key(
        &self,
        list: &str,
        fields: usize,
    ) -> Result<Option<Vec<String>>, ServiceError> {
        self.after
            .as_deref()
            .map(|text| Cursor::decode(list, fields, text).map_err(refused))
            .transpose()
    }
}

impl PageRequest {
    /// The id the cursor holds, for lists keyed by id alone (`what` names it in the refusal of a
    /// cursor whose key is not one).
    pub(crate) fn id_key(&self, list: &str, what: &str) -> Result<Option<i64>, ServiceError> {
        match self.key(list, 1)?.as_deref() {
            None => Ok(None),
            Some([id]) => id.parse::<i64>().map(Some).map_err(|_| foreign_key(what)),
            Some(_) => Err(foreign_key("key")),
        }
    }
}

impl PageRequest {
    /// The (time, id) the cursor holds, for lists keyed by a time and the id that breaks its
    /// ties (`what` names the time in the refusal of a cursor whose key is not one).
    pub(crate) fn time_id_key(
        &self,
        list: &str,
        what: &str,
    ) -> Result<Option<(jiff::Timestamp, i64)>, ServiceError> {
        match self.key(list, 2)?.as_deref() {
            None => Ok(None),
            Some([at, id]) => {
                let at = slipway_store::parse_time("", at).map_err(|_| foreign_key(what))?;
                let id = id.parse::<i64>().map_err(|_| foreign_key("id"))?;
                Ok(Some((at, id)))
            }
            Some(_) => Err(foreign_key("key")),
        }
    }
}

/// The cursor fields of a list keyed by (time, id), as [`PageRequest::time_id_key`] reads them.
pub(crate) fn time_id_fields(at: jiff::Timestamp, id: i64) -> Vec<String> {
    vec![slipway_store::format_time(at), id.to_string()]
}

/// One page of a list, with the cursor of the next page (`None` on the last).
#[derive(Debug, Clone)]
pub struct Listed<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl<T> Listed<T> {
    /// The page the store read, with a cursor after its last item when more follow.
    pub(crate) fn from_page(
        page: Page<T>,
        list: &str,
        key: impl Fn(&T) -> Vec<String>,
    ) -> Listed<T> {
        let next = match (page.more, page.items.last()) {
            (true, Some(last)) => Some(Cursor::new(list, key(last)).encode()),
            _ => None,
        };
        Listed {
            items: page.items,
            next,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Listed<U> {
        Listed {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

/// A page request the server cannot read is a `400`: the query itself is wrong.
fn refused(e: PageError) -> ServiceError {
    ServiceError::BadRequest {
        message: e.to_string(),
        hint: e.hint(),
    }
}

/// A cursor whose key does not read as the list's sort key: it was not made by this list.
pub(crate) fn foreign_key(what: &str) -> ServiceError {
    refused(PageError::Malformed {
        shown: String::new(),
        reason: format!("its {what} is not one this list writes"),
    })
}
