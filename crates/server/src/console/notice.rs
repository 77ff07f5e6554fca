//! The success message a page shows once after an action: the action's redirect sets a
//! short-lived cookie naming what was done, the next page shows it and the response clears it.
//!
//! Only keys of [`Done`] travel in the cookie, never text, so nobody can make the console say
//! something it did not: an unknown key shows nothing. It never renders a page.

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::auth::cookie;
use crate::AppState;

pub(super) const NOTICE_COOKIE: &str = "slipway_notice";

/// What a console action did, as its success message says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Done {
    SignedIn,
    DeploymentStarted,
    PromotionRequested,
    RollbackStarted,
    DecisionTaken,
    InterventionAnswered,
    Voted,
    PromotionCancelled,
    Overridden,
    ChangeRequestDecided,
    ConfigChangeDecided,
    AlertAcknowledged,
    AlertResolved,
    FlagSwitched,
    FlagSwitchHeld,
    FlagChanged,
    FlagChangeHeld,
    FlagCreated,
    RiskRequested,
    RiskApproved,
    ReleaseCreated,
    PasswordChanged,
}

impl Done {
    const ALL: [Done; 22] = [
        Done::SignedIn,
        Done::DeploymentStarted,
        Done::PromotionRequested,
        Done::RollbackStarted,
        Done::DecisionTaken,
        Done::InterventionAnswered,
        Done::Voted,
        Done::PromotionCancelled,
        Done::Overridden,
        Done::ChangeRequestDecided,
        Done::ConfigChangeDecided,
        Done::AlertAcknowledged,
        Done::AlertResolved,
        Done::FlagSwitched,
        Done::FlagSwitchHeld,
        Done::FlagChanged,
        Done::FlagChangeHeld,
        Done::FlagCreated,
        Done::RiskRequested,
        Done::RiskApproved,
        Done::ReleaseCreated,
        Done::PasswordChanged,
    ];

    fn key(self) -> &'static str {
        match self {
            Done::SignedIn => "signed-in",
            Done::DeploymentStarted => "deployment-started",
            Done::PromotionRequested => "promotion-requested",
            Done::RollbackStarted => "rollback-started",
            Done::DecisionTaken => "decision-taken",
            Done::InterventionAnswered => "intervention-answered",
            Done::Voted => "voted",
            Done::PromotionCancelled => "promotion-cancelled",
            Done::Overridden => "overridden",
            Done::ChangeRequestDecided => "change-request-decided",
            Done::ConfigChangeDecided => "config-change-decided",
            Done::AlertAcknowledged => "alert-acknowledged",
            Done::AlertResolved => "alert-resolved",
            Done::FlagSwitched => "flag-switched",
            Done::FlagSwitchHeld => "flag-switch-held",
            Done::FlagChanged => "flag-changed",
            Done::FlagChangeHeld => "flag-change-held",
            Done::FlagCreated => "flag-created",
            Done::RiskRequested => "risk-requested",
            Done::RiskApproved => "risk-approved",
            Done::ReleaseCreated => "release-created",
            Done::PasswordChanged => "password-changed",
        }
    }

    pub(super) fn parse(key: &str) -> Option<Done> {
        Done::ALL.into_iter().find(|d| d.key() == key)
    }

    pub(super) fn message(self) -> &'static str {
        match self {
            Done::SignedIn => "Signed in. This is the dashboard: what each environment holds now.",
            Done::DeploymentStarted => "Deployment started; this page follows it.",
            Done::PromotionRequested => "Promotion requested; its gates are judged below.",
            Done::RollbackStarted => "Rollback started; this page follows it.",
            Done::DecisionTaken => "Decision recorded; the deployment goes on as you chose.",
            Done::InterventionAnswered => "Answer recorded; the deployment goes on as you chose.",
            Done::Voted => "Your vote is recorded and the promotion judged again.",
            Done::PromotionCancelled => {
                "Promotion cancelled; nothing more will be deployed for it."
            }
            Done::Overridden => "Override recorded with your reason; the promotion goes ahead.",
            Done::ChangeRequestDecided => "Your decision on the change request is recorded.",
            Done::ConfigChangeDecided => {
                "Your decision on the configuration change is recorded (an approval applied it)."
            }
            Done::AlertAcknowledged => "Alert acknowledged: it is yours, and no longer sent again.",
            Done::AlertResolved => "Alert resolved.",
            Done::FlagSwitched => "Flag switched; applications see it at their next refresh.",
            Done::FlagSwitchHeld => {
                "The environment is protected: your switch waits for another admin (Config changes)."
            }
            Done::FlagChanged => "Flag changed; applications see it at their next refresh.",
            Done::FlagChangeHeld => {
                "The environment is protected: your change waits for a second person (the request is linked below)."
            }
            Done::FlagCreated => {
                "Flag created, off in every environment: change it per environment with Edit."
            }
            Done::RiskRequested => {
                "Risk acceptance requested; it holds once a security approver other than you approves it."
            }
            Done::RiskApproved => "Risk acceptance approved; the findings gate counts it from now.",
            Done::ReleaseCreated => {
                "Release created with today's variables; promote it from here when its gates allow."
            }
            Done::PasswordChanged => {
                "Password changed. Your other console sessions have ended; this one stays signed in."
            }
        }
    }
}

/// After a successful POST: go to the page that shows the result (303, so a reload does not
/// post again), which says what was done.
pub(super) fn see_other_done(state: &AppState, to: &str, done: Done) -> Response {
    let mut response = Redirect::to(to).into_response();
    carry(&mut response, state, done);
    response
}

/// Add the notice to a response that may already set other cookies (after theirs, so a client
/// that reads only the first `Set-Cookie` still finds the one it came for).
pub(super) fn carry(response: &mut Response, state: &AppState, done: Done) {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let cookie = format!(
        "{NOTICE_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age=60{secure}",
        done.key()
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The notice of a request, if it carries one the console knows.
pub(super) fn notice_of(headers: &axum::http::HeaderMap) -> Option<Done> {
    cookie(headers, NOTICE_COOKIE).and_then(Done::parse)
}

/// Once a page has been answered (not a redirect), the notice it carried has been shown: clear
/// it so that the next page does not repeat it.
pub(super) async fn clear_shown_notice(request: Request, next: Next) -> Response {
    let carried = cookie(request.headers(), NOTICE_COOKIE).is_some();
    let mut response = next.run(request).await;
    if carried && !response.status().is_redirection() {
        response.headers_mut().append(
            header::SET_COOKIE,
            HeaderValue::from_static(
                "slipway_notice=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
            ),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_notice_key_reads_back_as_itself_and_nothing_else_reads() {
        for done in Done::ALL {
            assert_eq!(Done::parse(done.key()), Some(done));
            assert!(done.message().ends_with('.'), "{done:?}");
        }
        assert_eq!(Done::parse("<script>"), None);
        assert_eq!(Done::parse(""), None);
    }
}
