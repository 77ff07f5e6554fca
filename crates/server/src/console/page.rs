//! What every console page shares: the frame (navigation, signed-in user, CSRF token), rendering,
//! and the error page a failed service call turns into.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::assets;
use super::user::ConsoleUser;
use crate::ServiceError;

/// The sections of the navigation bar, so that a page can mark where the reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Section {
    Dashboard,
    Approvals,
    Calendar,
    Projects,
    Deployments,
    Environments,
    Targets,
    Users,
    Audit,
    Webhooks,
    /// Pages outside the navigation (sign-in, errors).
    Elsewhere,
}

pub(super) struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// The signed-in part of the frame: who, and the token every form must carry.
pub(super) struct Viewer {
    pub username: String,
    pub role: &'static str,
    pub csrf: String,
}

/// The frame around every page; templates reach it as `frame`.
pub(super) struct Frame {
    pub title: String,
    pub viewer: Option<Viewer>,
    pub nav: Vec<NavLink>,
    pub css: String,
    pub js: String,
}

impl Frame {
    pub(super) fn new(
        title: impl Into<String>,
        user: Option<&ConsoleUser>,
        section: Section,
    ) -> Frame {
        const LINKS: [(Section, &str, &str); 9] = [
            (Section::Dashboard, "/", "Dashboard"),
            (Section::Approvals, "/approvals", "Approvals"),
            (Section::Calendar, "/calendar", "Calendar"),
            (Section::Projects, "/projects", "Projects"),
            (Section::Deployments, "/deployments", "Deployments"),
            (Section::Environments, "/environments", "Environments"),
            (Section::Targets, "/targets", "Targets"),
            (Section::Users, "/users", "Users & tokens"),
            (Section::Audit, "/audit", "Audit log"),
        ];
        // Only admins manage webhooks, so only they see the link.
        const ADMIN_LINKS: [(Section, &str, &str); 1] =
            [(Section::Webhooks, "/webhooks", "Webhooks")];
        let nav = match user {
            Some(u) => LINKS
                .iter()
                .chain(ADMIN_LINKS.iter().filter(|_| {
                    slipway_core::access::allows(
                        u.actor.role,
                        slipway_core::access::Operation::ManageWebhooks,
                    )
                }))
                .map(|(s, href, label)| NavLink {
                    href,
                    label,
                    current: *s == section,
                })
                .collect(),
            None => Vec::new(),
        };
        Frame {
            title: title.into(),
            viewer: user.map(|u| Viewer {
                username: u.actor.username.clone(),
                role: u.actor.role.as_str(),
                csrf: u.csrf().to_string(),
            }),
            nav,
            css: assets::css_url(),
            js: assets::js_url(),
        }
    }

    /// The CSRF token for forms; empty on signed-out pages, whose only form (sign-in) needs none.
    pub(super) fn csrf(&self) -> &str {
        self.viewer.as_ref().map_or("", |v| v.csrf.as_str())
    }
}

pub(super) fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a console page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered; the server log has the details",
            )
                .into_response()
        }
    }
}

/// After a successful POST: go to the page that shows the result (303, so a reload does not
/// post again).
pub(super) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Something that went wrong, as a person reads it.
pub(super) struct Problem {
    pub status: StatusCode,
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    /// The message as a sentence on its own: services phrase theirs to follow "error: ".
    pub(super) fn sentence(&self) -> String {
        sentence(&self.message)
    }

    pub(super) fn hint_sentence(&self) -> Option<String> {
        self.hint.as_deref().map(sentence)
    }
}

fn sentence(text: &str) -> String {
    let mut chars = text.trim().chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let mut out: String = first.to_uppercase().chain(chars).collect();
    if !out.ends_with(['.', '!', '?', ':']) {
        out.push('.');
    }
    out
}

impl From<ServiceError> for Problem {
    fn from(e: ServiceError) -> Problem {
        let status = e.status();
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %e, "console request failed");
        }
        let message = e.to_string();
        // A refusal's message already names who could do it; saying it twice reads as noise.
        let hint = e.hint().filter(|h| !message.contains(h.as_str()));
        Problem {
            status,
            message,
            hint,
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    frame: Frame,
    problem: &'a Problem,
    heading: &'static str,
}

pub(super) fn problem_page(user: Option<&ConsoleUser>, problem: Problem) -> Response {
    let heading = problem.status.canonical_reason().unwrap_or("Error");
    let page = ErrorPage {
        frame: Frame::new(heading, user, Section::Elsewhere),
        problem: &problem,
        heading,
    };
    render(problem.status, &page)
}

/// Turn a service result into the page's value, or into the error page for this user.
pub(super) trait OrProblemPage<T> {
    fn or_page(self, user: &ConsoleUser) -> Result<T, Response>;
}

impl<T> OrProblemPage<T> for Result<T, ServiceError> {
    fn or_page(self, user: &ConsoleUser) -> Result<T, Response> {
        self.map_err(|e| problem_page(Some(user), e.into()))
    }
}

/// Handlers answer with a page either way: the one asked for, or the error page.
pub(super) type PageResult = Result<Response, Response>;

/// `2024-05-01T12:34:56.123456Z` → `2024-05-01 12:34:56 UTC`: seconds are enough on screen.
pub(super) fn short_time(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..19)) {
        (Some(day), Some(time)) if rfc3339.ends_with('Z') => format!("{day} {time} UTC"),
        _ => rfc3339.to_string(),
    }
}

/// [`short_time`] of a time the program holds.
pub(super) fn short_timestamp(t: jiff::Timestamp) -> String {
    short_time(&slipway_store::format_time(t))
}

/// A query string from pairs, percent-encoded; empty values are left out so links stay short.
pub(super) fn query_string(pairs: &[(&str, &str)]) -> String {
    let encoded: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect();
    if encoded.is_empty() {
        String::new()
    } else {
        format!("?{}", encoded.join("&"))
    }
}

/// Percent-encode everything but RFC 3986's unreserved characters.
pub(super) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shortened_only_when_they_look_like_utc_timestamps() {
        assert_eq!(
            short_time("2024-05-01T12:34:56.123456Z"),
            "2024-05-01 12:34:56 UTC"
        );
        assert_eq!(short_time("yesterday"), "yesterday");
    }

    #[test]
    fn messages_become_sentences() {
        assert_eq!(
            sentence("wrong user name or password"),
            "Wrong user name or password."
        );
        assert_eq!(sentence("`x` is invalid."), "`x` is invalid.");
        assert_eq!(sentence("été"), "Été.");
        assert_eq!(sentence(" "), "");
    }

    #[test]
    fn query_strings_encode_and_skip_empty_values() {
        assert_eq!(
            query_string(&[("actor", "a b&c"), ("verb", ""), ("before", "42")]),
            "?actor=a%20b%26c&before=42"
        );
        assert_eq!(query_string(&[("verb", "")]), "");
        assert_eq!(percent_encode("é/"), "%C3%A9%2F");
    }
}
