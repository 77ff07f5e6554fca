//! Projects as the API answers them: core's validated `Project`, whose serde form is the wire
//! form, wrapped in its view.

use slipway_api::projects::ProjectView;
use slipway_core::model::Project;

use super::IntoView;

impl IntoView for Project {
    type View = ProjectView;
    fn into_view(self) -> ProjectView {
        ProjectView { project: self }
    }
}
