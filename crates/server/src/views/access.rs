//! User and API-token rows as the API answers them: never a password hash or a token hash.

use slipway_api::access::{ApiTokenView, UserView};
use slipway_store::{format_time, ApiToken, User};

use super::IntoView;

impl IntoView for User {
    type View = UserView;
    fn into_view(self) -> UserView {
        UserView {
            id: self.id,
            username: self.username,
            role: self.role,
            disabled: self.disabled,
            created_at: format_time(self.created_at),
            full_name: self.full_name,
        }
    }
}

impl IntoView for ApiToken {
    type View = ApiTokenView;
    fn into_view(self) -> ApiTokenView {
        ApiTokenView {
            id: self.id,
            user_id: self.user_id,
            username: self.username,
            name: self.name,
            created_at: format_time(self.created_at),
            revoked_at: self.revoked_at.map(format_time),
        }
    }
}
