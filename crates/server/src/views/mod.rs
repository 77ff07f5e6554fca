//! How store rows become the view types of `slipway-api`, the only types the API answers with
//! (and the evidence bundle writes). It never reads the store or decides anything: each
//! conversion moves fields, in the order the JSON has always had them. It sits beside `store`
//! in the layers: `api`, `console` and `services` may use it; it imports neither of them.

mod access;
mod audit;
mod complaints;
mod config_changes;
mod deployments;
mod governance;
mod projects;
mod signatures;
mod targets;
mod vault;
mod webhooks;

/// A value the API can answer with once it is turned into its `slipway-api` view.
pub(crate) trait IntoView {
    type View;
    fn into_view(self) -> Self::View;
}

impl<T: IntoView> IntoView for Vec<T> {
    type View = Vec<T::View>;
    fn into_view(self) -> Self::View {
        self.into_iter().map(IntoView::into_view).collect()
    }
}

impl<T: IntoView> IntoView for Option<T> {
    type View = Option<T::View>;
    fn into_view(self) -> Self::View {
        self.map(IntoView::into_view)
    }
}
