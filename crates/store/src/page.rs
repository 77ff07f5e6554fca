//! One page of a keyset-paged list as the store reads it: the items and whether more follow.
//! The store reads one item past the page to know; what the next page's cursor says is the
//! caller's (the server turns the last item's sort key into an opaque cursor).

use slipway_core::page::PageSize;

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Another page follows the last item.
    pub more: bool,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            more: self.more,
        }
    }
}

/// The rows to ask for: one more than the page holds, to learn whether more follow.
pub(crate) fn rows_to_read(size: PageSize) -> i64 {
    i64::from(size.get()) + 1
}

/// A page from the rows read with [`rows_to_read`].
pub(crate) fn page_of<T>(mut rows: Vec<T>, size: PageSize) -> Page<T> {
    let wanted = usize::try_from(size.get()).expect("a page size fits in usize");
    let more = rows.len() > wanted;
    rows.truncate(wanted);
    Page { items: rows, more }
}
