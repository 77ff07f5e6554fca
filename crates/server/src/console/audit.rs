//! The audit log: newest first, filtered by prefixes, paged by sequence number, and its chain
//! verified on request.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use slipway_core::audit::summary::summary;
use slipway_core::audit::AuditEvent;
use slipway_store::AuditFilter;

use super::page::{query_string, render, short_time, Frame, OrProblemPage, PageResult, Section};
use super::user::ConsoleUser;
use crate::services::audit::Verification;
use crate::{services, AppState};

const PAGE_SIZE: i64 = 50;

#[derive(Deserialize)]
pub(super) struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    verb: String,
    #[serde(default)]
    subject: String,
    before: Option<i64>,
    /// Present when the reader asked to verify the chain.
    #[serde(default)]
    verify: String,
}

struct EventRow {
    seq: i64,
    at: String,
    /// The event in one sentence (`core::audit::summary`).
    summary: String,
    actor: String,
    verb: String,
    subject: String,
    details: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    frame: Frame,
    actor: String,
    verb: String,
    subject: String,
    events: Vec<EventRow>,
    /// The link to the next, older page, keeping the filter.
    older: Option<String>,
    /// The link back to the newest events, when this is not the first page.
    newest: Option<String>,
    verification: Option<Verification>,
}

pub(super) async fn log(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<AuditQuery>,
) -> PageResult {
    let (actor, verb, subject) = (
        q.actor.trim().to_string(),
        q.verb.trim().to_string(),
        q.subject.trim().to_string(),
    );
    let filter = AuditFilter {
        actor: Some(actor.clone()).filter(|s| !s.is_empty()),
        verb: Some(verb.clone()).filter(|s| !s.is_empty()),
        subject: Some(subject.clone()).filter(|s| !s.is_empty()),
        before: q.before,
        limit: PAGE_SIZE,
    };
    let page = services::audit::list(&state, &user.actor, &filter)
        .await
        .or_page(&user)?;
    let verification = match q.verify.is_empty() {
        true => None,
        false => Some(
            services::audit::verify(&state, &user.actor)
                .await
                .or_page(&user)?,
        ),
    };
    let link = |before: Option<i64>| {
        let before = before.map(|b| b.to_string()).unwrap_or_default();
        format!(
            "/audit{}",
            query_string(&[
                ("actor", &actor),
                ("verb", &verb),
                ("subject", &subject),
                ("before", &before)
            ])
        )
    };
    let older = page.next.map(|next| link(Some(next)));
    let newest = q.before.map(|_| link(None));
    let events = page
        .items
        .into_iter()
        .map(|e: AuditEvent| EventRow {
            seq: e.seq,
            at: short_time(&e.at),
            summary: summary(
                &e.verb,
                &e.actor,
                &e.subject,
                &serde_json::from_str(&e.details).unwrap_or(serde_json::Value::Null),
            ),
            actor: e.actor,
            verb: e.verb,
            subject: e.subject,
            details: e.details,
        })
        .collect();
    let page = AuditPage {
        frame: Frame::new("Audit log", Some(&user), Section::Audit),
        actor,
        verb,
        subject,
        events,
        older,
        newest,
        verification,
    };
    Ok(render(StatusCode::OK, &page))
}
