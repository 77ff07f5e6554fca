//! The configuration changes page (Govern): changes to protected environments that `apply` held
//! for a second person, each with its diff, reasons and names, and Approve / Reject for those who
//! may decide. It decides nothing itself: `services::config_changes` does, on every post.

use askama::Template;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use slipway_api::config_changes::ConfigChangeView;
use slipway_core::access::{allows, Operation};
use slipway_core::governance::config_change::ChangeState;
use slipway_core::page::PageSize;
use slipway_core::signature::policy::SignedAction;
use slipway_store::ChangeSelection;

use super::notice::{see_other_done, Done};
use super::page::{query_string, render, short_time, Frame, OrProblemPage, PageResult, Section};
use super::session::SignedForm;
use super::user::ConsoleUser;
use crate::services;
use crate::services::paging::PageRequest;
use crate::services::signatures::SignAsk;
use crate::AppState;

struct Row {
    id: i64,
    subject: String,
    state: ChangeState,
    /// The tag's extra class: ` good` once applied, ` bad` once rejected.
    tone: &'static str,
    details: Vec<String>,
    reasons: Vec<String>,
    author: String,
    created: String,
    waits_for: String,
    decided: String,
    /// Whether the reader may approve it now (pending, may decide, not its author).
    may_approve: bool,
    /// Whether the reader may reject it now.
    may_reject: bool,
    /// Deciding it is an electronic signature: the form asks for the password.
    signs: bool,
    /// How the decider's signature reads, once signed.
    signature: Option<String>,
}

#[derive(Template)]
#[template(path = "config_changes.html")]
struct ConfigChangesPage {
    frame: Frame,
    /// The newest pending requests.
    pending: Vec<Row>,
    /// More requests wait than the page shows.
    more_pending: bool,
    /// A page of the decided requests, newest first.
    settled: Vec<Row>,
    /// The link to the next, older page of decided requests.
    older: Option<String>,
    /// The link back to the newest decided requests, when this is not the first page.
    newest: Option<String>,
}

fn row(c: ConfigChangeView, user: &ConsoleUser) -> Row {
    let pending = c.state == ChangeState::Pending;
    let decides = allows(user.actor.role, Operation::DecideConfigChange);
    Row {
        may_approve: pending && decides && c.author != user.actor.username,
        may_reject: pending && decides,
        signs: false,
        signature: c.signature.as_ref().map(|s| s.manifestation.clone()),
        tone: match c.state {
            ChangeState::Pending => "",
            ChangeState::Applied => " good",
            ChangeState::Rejected => " bad",
        },
        decided: match (&c.decided_by, &c.decided_at) {
            (Some(by), Some(at)) => {
                let comment = c.comment.as_deref().filter(|s| !s.is_empty());
                format!(
                    "{} by {by} at {}{}",
                    c.state,
                    short_time(at),
                    comment.map(|s| format!(": {s}")).unwrap_or_default()
                )
            }
            _ => String::new(),
        },
        created: short_time(&c.created_at),
        waits_for: c.waits_for.as_str().to_string(),
        id: c.id,
        subject: c.subject,
        state: c.state,
        details: c.details,
        reasons: c.reasons,
        author: c.author,
    }
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    /// The cursor of this page of decided requests (`next` of the page before); empty on the
    /// first.
    #[serde(default)]
    after: String,
}

/// Pending requests the page shows (few: each waits for a second person); past them, the CLI
/// lists the rest.
const PENDING_SHOWN: u32 = 200;
/// Decided requests a page holds.
const DECIDED_PER_PAGE: u32 = 100;

pub(super) async fn list(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let pending = services::config_changes::list(
        &state,
        &user.actor,
        ChangeSelection::Pending,
        &PageRequest::first(PageSize::at_most(PENDING_SHOWN)),
    )
    .await
    .or_page(&user)?;
    let decided_page = PageRequest {
        size: PageSize::at_most(DECIDED_PER_PAGE),
        after: Some(q.after.clone()).filter(|a| !a.is_empty()),
    };
    let decided = services::config_changes::list(
        &state,
        &user.actor,
        ChangeSelection::Decided,
        &decided_page,
    )
    .await
    .or_page(&user)?;
    let signing: Vec<String> = services::environments::list(&state, &user.actor)
        .await
        .or_page(&user)?
        .iter()
        .filter(|e| services::signatures::required(e, SignedAction::ConfigChanges))
        .map(|e| format!("environment/{}", e.name))
        .collect();
    let rows = |items: Vec<ConfigChangeView>| -> Vec<Row> {
        items
            .into_iter()
            .map(|c| {
                let mut r = row(c, &user);
                r.signs = signing.contains(&r.subject);
                r
            })
            .collect()
    };
    let link = |after: &str| {
        format!(
            "/config-changes{}#decided",
            query_string(&[("after", after)])
        )
    };
    let page = ConfigChangesPage {
        frame: Frame::new("Configuration changes", Some(&user), Section::ConfigChanges),
        more_pending: pending.next.is_some(),
        pending: rows(pending.items),
        settled: rows(decided.items),
        older: decided.next.as_deref().map(link),
        newest: (!q.after.is_empty()).then(|| link("")),
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub(super) struct CommentFields {
    #[serde(default)]
    comment: String,
    /// The decider's password, where the environment requires the decision signed.
    #[serde(default)]
    password: Option<String>,
}

pub(super) async fn approve(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    Path(id): Path<i64>,
    signed: SignedForm<CommentFields>,
) -> PageResult {
    decide(state, id, client.ip(), signed, true).await
}

pub(super) async fn reject(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    Path(id): Path<i64>,
    signed: SignedForm<CommentFields>,
) -> PageResult {
    decide(state, id, client.ip(), signed, false).await
}

async fn decide(
    state: AppState,
    id: i64,
    client: std::net::IpAddr,
    signed: SignedForm<CommentFields>,
    approve: bool,
) -> PageResult {
    let SignedForm { user, form } = signed;
    let sign = SignAsk {
        password: form.password.as_deref(),
        client,
    };
    services::config_changes::decide(&state, &user.actor, id, approve, &form.comment, sign)
        .await
        .or_page(&user)?;
    Ok(see_other_done(
        &state,
        "/config-changes",
        Done::ConfigChangeDecided,
    ))
}
