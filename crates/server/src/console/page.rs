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
    Releases,
    Deployments,
    Environments,
    Targets,
    Users,
    Audit,
    Webhooks,
    ConfigChanges,
    Batches,
    Health,
    Complaints,
    Insights,
    Alerts,
    Flags,
    /// Pages outside the navigation (sign-in, errors).
    Elsewhere,
}

pub(super) struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
    /// How many items behind this link wait for the reader; 0 shows nothing.
    pub waiting: usize,
    /// What they wait for, after the count ("waiting for your decision").
    pub waiting_for: &'static str,
}

/// The navigation is grouped by the job a reader comes to do; wave-2 pages join a group here
/// (or add one), and the groups stay in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Job {
    Deliver,
    Supervise,
    Govern,
    Administer,
}

impl Job {
    pub(super) fn label(self) -> &'static str {
        match self {
            Job::Deliver => "Deliver",
            Job::Supervise => "Supervise",
            Job::Govern => "Govern",
            Job::Administer => "Administer",
        }
    }
}

pub(super) struct NavGroup {
    pub job: Job,
    pub links: Vec<NavLink>,
}

impl NavGroup {
    /// A stable id for the group's heading, which labels its list.
    pub(super) fn id(&self) -> String {
        format!("nav-{}", self.job.label().to_lowercase())
    }

    /// Whether the page being read is one of the group's, so its menu button is marked.
    pub(super) fn current(&self) -> bool {
        self.links.iter().any(|l| l.current)
    }

    /// Everything waiting for the reader behind the group's links, shown on its (closed) button.
    pub(super) fn waiting(&self) -> usize {
        self.links.iter().map(|l| l.waiting).sum()
    }
}

/// Who may see a navigation link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audience {
    Everyone,
    /// Only those allowed to manage webhooks (admins).
    WebhookManagers,
    /// Only those who decide configuration change requests (admins); the page itself is open to
    /// everyone who reads, through the requests it lists.
    ConfigDeciders,
}

/// Every page of the navigation: its group, section, address, label and audience.
const NAVIGATION: &[(Job, Section, &str, &str, Audience)] = &[
    (
        Job::Deliver,
        Section::Dashboard,
        "/",
        "Dashboard",
        Audience::Everyone,
    ),
    (
        Job::Deliver,
        Section::Projects,
        "/projects",
        "Projects",
        Audience::Everyone,
    ),
    (
        Job::Deliver,
        Section::Releases,
        "/releases",
        "Releases",
        Audience::Everyone,
    ),
    (
        Job::Deliver,
        Section::Deployments,
        "/deployments",
        "Deployments",
        Audience::Everyone,
    ),
    (
        Job::Deliver,
        Section::Insights,
        "/insights",
        "Insights",
        Audience::Everyone,
    ),
    (
        Job::Deliver,
        Section::Flags,
        "/flags",
        "Flags",
        Audience::Everyone,
    ),
    (
        Job::Supervise,
        Section::Environments,
        "/environments",
        "Environments",
        Audience::Everyone,
    ),
    (
        Job::Supervise,
        Section::Targets,
        "/targets",
        "Targets",
        Audience::Everyone,
    ),
    (
        Job::Supervise,
        Section::Health,
        "/health",
        "Health",
        Audience::Everyone,
    ),
    (
        Job::Supervise,
        Section::Batches,
        "/batches",
        "Batches",
        Audience::Everyone,
    ),
    (
        Job::Supervise,
        Section::Complaints,
        "/complaints",
        "Complaints",
        Audience::Everyone,
    ),
    (
        Job::Supervise,
        Section::Alerts,
        "/alerts",
        "Alerts",
        Audience::Everyone,
    ),
    (
        Job::Govern,
        Section::Approvals,
        "/approvals",
        "Approvals",
        Audience::Everyone,
    ),
    (
        Job::Govern,
        Section::Calendar,
        "/calendar",
        "Calendar",
        Audience::Everyone,
    ),
    (
        Job::Govern,
        Section::Audit,
        "/audit",
        "Audit",
        Audience::Everyone,
    ),
    (
        Job::Govern,
        Section::ConfigChanges,
        "/config-changes",
        "Config changes",
        Audience::ConfigDeciders,
    ),
    (
        Job::Administer,
        Section::Users,
        "/users",
        "People",
        Audience::Everyone,
    ),
    (
        Job::Administer,
        Section::Webhooks,
        "/webhooks",
        "Webhooks",
        Audience::WebhookManagers,
    ),
];

fn navigation(user: &ConsoleUser, section: Section) -> Vec<NavGroup> {
    let mut groups: Vec<NavGroup> = Vec::new();
    for &(job, s, href, label, audience) in NAVIGATION {
        let visible = match audience {
            Audience::Everyone => true,
            Audience::WebhookManagers => slipway_core::access::allows(
                user.actor.role,
                slipway_core::access::Operation::ManageWebhooks,
            ),
            Audience::ConfigDeciders => slipway_core::access::allows(
                user.actor.role,
                slipway_core::access::Operation::DecideConfigChange,
            ),
        };
        if !visible {
            continue;
        }
        let link = NavLink {
            href,
            label,
            current: s == section,
            waiting: match s {
                Section::Approvals => user.waiting_for_them.approvals,
                Section::Alerts => user.waiting_for_them.alerts,
                Section::ConfigChanges => user.waiting_for_them.config_changes,
                _ => 0,
            },
            waiting_for: match s {
                Section::Alerts => "fired, not acknowledged yet",
                Section::ConfigChanges => "waiting for a second person",
                _ => "waiting for your decision",
            },
        };
        match groups.last_mut() {
            Some(g) if g.job == job => g.links.push(link),
            _ => groups.push(NavGroup {
                job,
                links: vec![link],
            }),
        }
    }
    groups
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
    pub nav: Vec<NavGroup>,
    /// Everything waiting for the reader, for the collapsed menu's button.
    pub waiting: usize,
    /// The success message of the reader's last action, shown once.
    pub done: Option<&'static str>,
    pub css: String,
    pub js: String,
}

impl Frame {
    pub(super) fn new(
        title: impl Into<String>,
        user: Option<&ConsoleUser>,
        section: Section,
    ) -> Frame {
        Frame {
            title: title.into(),
            viewer: user.map(|u| Viewer {
                username: u.actor.username.clone(),
                role: u.actor.role.as_str(),
                csrf: u.csrf().to_string(),
            }),
            nav: user.map(|u| navigation(u, section)).unwrap_or_default(),
            waiting: user.map_or(0, |u| u.waiting_for_them.total()),
            done: user.and_then(|u| u.done).map(|d| d.message()),
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

/// A moment as the console shows it: how long ago (or ahead) in words, the exact UTC time on
/// hover, and the ISO time the console's script shows in the reader's own time zone.
pub(super) struct When {
    pub iso: String,
    pub exact: String,
    pub relative: String,
}

pub(super) fn when(t: jiff::Timestamp, now: jiff::Timestamp) -> When {
    let iso = slipway_store::format_time(t);
    When {
        exact: short_time(&iso),
        relative: relative(now.as_second() - t.as_second()),
        iso,
    }
}

/// Seconds between then and now in words: "just now", "3 min ago", "in 2 h", "5 days ago".
fn relative(seconds_ago: i64) -> String {
    let span = seconds_ago.unsigned_abs();
    let amount = match span {
        0..=44 => return "just now".to_string(),
        45..=5_399 => format!("{} min", (span + 30) / 60),
        5_400..=77_399 => format!("{} h", (span + 1_800) / 3_600),
        _ => {
            let days = (span + 43_200) / 86_400;
            format!("{days} day{}", if days == 1 { "" } else { "s" })
        }
    };
    if seconds_ago >= 0 {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
}

/// A digest as the console shows it: its first 12 hex digits, the full value on hover, a way to
/// read it whole without script and a copy button with script.
pub(super) struct ShortDigest {
    pub full: String,
    pub short: String,
}

pub(super) fn short_digest(full: &str) -> ShortDigest {
    let short: String = full.chars().take(12).collect();
    ShortDigest {
        full: full.to_string(),
        short,
    }
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
    fn each_job_is_one_group_of_the_navigation_in_a_fixed_order() {
        // A job whose links are split in NAVIGATION would make two menus with one id.
        let jobs: Vec<Job> = NAVIGATION.iter().map(|&(job, ..)| job).collect();
        let mut groups = jobs.clone();
        groups.dedup();
        assert_eq!(
            groups,
            [Job::Deliver, Job::Supervise, Job::Govern, Job::Administer],
            "{jobs:?}"
        );
    }

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
    fn relative_times_read_as_words_both_ways() {
        assert_eq!(relative(0), "just now");
        assert_eq!(relative(44), "just now");
        assert_eq!(relative(45), "1 min ago");
        assert_eq!(relative(3 * 60), "3 min ago");
        assert_eq!(relative(2 * 3600), "2 h ago");
        assert_eq!(relative(86_400), "1 day ago");
        assert_eq!(relative(10 * 86_400), "10 days ago");
        assert_eq!(relative(-600), "in 10 min");
        assert_eq!(
            relative(i64::MIN),
            format!("in {} days", (i64::MIN.unsigned_abs() + 43_200) / 86_400)
        );
    }

    #[test]
    fn a_moment_keeps_its_exact_utc_time_for_hover() {
        let t: jiff::Timestamp = "2026-11-29T23:00:00Z".parse().expect("a valid time");
        let now: jiff::Timestamp = "2026-11-29T23:03:00Z".parse().expect("a valid time");
        let w = when(t, now);
        assert_eq!(w.relative, "3 min ago");
        assert_eq!(w.exact, "2026-11-29 23:00:00 UTC");
        assert!(w.iso.starts_with("2026-11-29T23:00:00"), "{}", w.iso);
    }

    #[test]
    fn digests_are_shortened_to_twelve_characters_and_kept_whole() {
        let full = "a".repeat(64);
        let d = short_digest(&full);
        assert_eq!(d.short, "a".repeat(12));
        assert_eq!(d.full, full);
        assert_eq!(short_digest("éé").short, "éé");
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
