//! Promotion governance in the console: one
//! promotion (its decision records, votes, change request and the buttons its gates allow), the
//! approvals inbox and the calendar.
//!
//! Buttons are shown only to whom the gates and `core::access` allow; the services decide
//! again on every post (the four-eyes rule included) and a refusal shows the error page.

use askama::Template;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use slipway_core::access::{allows, Operation};
use slipway_core::governance::promotion::PromotionState;
use slipway_core::governance::{ChangeRequestState, Criterion, DecisionRecord, Verdict};
use slipway_store::StoredChangeRequest;

use super::deployments::{deployment_badge, Badge};
use super::notice::{see_other_done, Done};
use super::page::{
    percent_encode, render, short_time, short_timestamp, Frame, OrProblemPage, PageResult, Section,
};
use super::session::{NoFields, SignedForm};
use super::user::ConsoleUser;
use crate::services::dashboard::{self, Waiting};
use crate::services::signatures::SignAsk;
use crate::services::{self, parse_name};

pub(super) fn promotion_badge(state: PromotionState) -> Badge {
    let (label, tone) = match state {
        PromotionState::Waiting => ("waiting", "warn"),
        PromotionState::Deploying => ("deploying", "info"),
        PromotionState::Succeeded => ("succeeded", "good"),
        PromotionState::Failed => ("failed", "bad"),
        PromotionState::Refused => ("refused", "bad"),
        PromotionState::Cancelled => ("cancelled", "idle"),
    };
    Badge { label, tone }
}

fn verdict_badge(v: Verdict) -> Badge {
    let (label, tone) = match v {
        Verdict::Pass => ("pass", "good"),
        Verdict::Pending => ("pending", "warn"),
        Verdict::Fail => ("fail", "bad"),
    };
    Badge { label, tone }
}

fn decision_badge(d: &str) -> Badge {
    let (label, tone) = match d {
        "go" => ("go", "good"),
        "wait" => ("wait", "warn"),
        _ => ("no-go", "bad"),
    };
    Badge { label, tone }
}

// ---------------------------------------------------------------------------------------------
// One promotion

struct CriterionRow {
    name: String,
    verdict: Badge,
    detail: String,
    evidence: String,
    /// Where the evidence the criterion rests on is shown, when the console shows it.
    href: Option<String>,
}

/// Evidence as one short line: `key: value` pairs, lists joined.
fn evidence_summary(v: &Value) -> String {
    fn flat(v: &Value) -> String {
        match v {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            Value::Array(items) => items.iter().map(flat).collect::<Vec<_>>().join(", "),
            Value::Object(map) => map
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("{k}: {}", flat(v)))
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        }
    }
    flat(v)
}

/// The page section showing the quality evidence a criterion rests on (`quality` is the release's
/// Quality page); none for criteria whose evidence lives elsewhere.
fn evidence_href(name: &str, quality: &str) -> Option<String> {
    let (family, rest) = name.split_once('.').unwrap_or((name, ""));
    match family {
        "tests" | "flaky" => Some(format!("{quality}#suites")),
        "coverage" => Some(format!("{quality}#coverage-{rest}")),
        "findings" => Some(format!("{quality}#findings")),
        "quality_gate" => Some(quality.to_string()),
        _ => None,
    }
}

fn criterion_row(c: &Criterion, quality: &str) -> CriterionRow {
    CriterionRow {
        name: c.name.clone(),
        verdict: verdict_badge(c.verdict),
        detail: c.detail.clone(),
        evidence: evidence_summary(&c.evidence),
        href: evidence_href(&c.name, quality),
    }
}

struct RecordView {
    at: String,
    decision: Badge,
    criteria: Vec<CriterionRow>,
    /// (by, reason)
    overridden: Option<(String, String)>,
    recheck_at: Option<String>,
}

fn record_view(d: &slipway_store::StoredDecision, quality: &str) -> RecordView {
    let record = DecisionRecord::read(&d.record);
    let overridden = record
        .as_ref()
        .and_then(|r| r.overridden.as_ref())
        .map(|o| (o.by.clone(), o.reason.clone()));
    let judgement = record.map(|r| r.judgement);
    RecordView {
        at: short_timestamp(d.decided_at),
        decision: decision_badge(&d.decision),
        criteria: judgement
            .as_ref()
            .map(|j| {
                j.criteria
                    .iter()
                    .map(|c| criterion_row(c, quality))
                    .collect()
            })
            .unwrap_or_default(),
        overridden,
        recheck_at: judgement.and_then(|j| j.recheck_at).map(|t| short_time(&t)),
    }
}

struct ChangeRequestView {
    id: i64,
    state: Badge,
    title: String,
    risk: String,
    risk_reasons: Vec<String>,
    window: String,
    plan: Vec<String>,
    rollback_plan: Vec<String>,
    not_undone: Vec<String>,
    decided: Option<String>,
    /// How the decision's electronic signature reads, when it was signed.
    signature: Option<String>,
    open: bool,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|s| s.as_str().map_or_else(|| s.to_string(), str::to_string))
        .collect()
}

fn change_request_view(
    c: &StoredChangeRequest,
    signatures: &[slipway_core::signature::Sealed],
) -> ChangeRequestView {
    let (label, tone) = match c.state {
        ChangeRequestState::Open => ("open", "warn"),
        ChangeRequestState::Approved => ("approved", "good"),
        ChangeRequestState::Rejected => ("rejected", "bad"),
    };
    let b = &c.body;
    ChangeRequestView {
        id: c.id,
        state: Badge { label, tone },
        title: b["title"].as_str().unwrap_or("").to_string(),
        risk: b["risk"]["level"].as_str().unwrap_or("?").to_string(),
        risk_reasons: strings(&b["risk"]["reasons"]),
        window: b["window"].as_str().unwrap_or("").to_string(),
        plan: strings(&b["plan"]),
        rollback_plan: strings(&b["rollback_plan"]),
        not_undone: strings(&b["not_undone"]),
        decided: c.decided_by.as_ref().map(|by| {
            format!(
                "{by} · {}: {}",
                c.decided_at.map(short_timestamp).unwrap_or_default(),
                c.comment.clone().unwrap_or_default()
            )
        }),
        signature: signatures
            .iter()
            .find(|s| s.signature.record_kind == services::promotions::CHANGE_REQUEST_RECORD)
            .map(|s| s.signature.manifestation()),
        open: c.state == ChangeRequestState::Open,
    }
}

struct VoteRow {
    username: String,
    role: &'static str,
    approve: bool,
    comment: String,
    at: String,
    /// `Signed by Quinn Q. (quinn) — approval — 2026-11-30 10:04 UTC`, when signed.
    signature: Option<String>,
}

/// What the vote form asks of a signer when the environment requires votes signed.
struct SigningAsk {
    /// The meanings of an approval, a rejection and an override, with what the signer declares.
    approve: Option<String>,
    reject: Option<String>,
    override_decision: Option<String>,
    /// The meaning of a CAB decision on the change request, when it is signed.
    change_request: Option<String>,
    /// For a person who signs in through an OpenID provider: its name, and where to sign in
    /// again there (a signature's fresh authentication) before acting, instead of a password.
    again: Option<(String, String)>,
}

fn signing_ask(env: &slipway_core::model::Environment) -> Option<SigningAsk> {
    use slipway_core::signature::policy::SignedAction;
    use slipway_core::signature::Meaning;
    let says = |action| {
        services::signatures::required(env, action).then(|| {
            let m = Meaning::of(action);
            format!("{m}: “{}”", m.declaration())
        })
    };
    let ask = SigningAsk {
        approve: says(SignedAction::Approvals),
        reject: says(SignedAction::Rejections),
        override_decision: says(SignedAction::Overrides),
        change_request: says(SignedAction::ChangeRequests),
        again: None,
    };
    (ask.approve.is_some()
        || ask.reject.is_some()
        || ask.override_decision.is_some()
        || ask.change_request.is_some())
    .then_some(ask)
}

/// What this person may do on the page.
struct PromotionActions {
    vote: bool,
    cancel: bool,
    override_decision: bool,
    decide_change_request: bool,
    /// Why the vote buttons are missing, when the gate asks for approvals.
    why_not_vote: Option<String>,
}

#[derive(Template)]
#[template(path = "promotion.html")]
struct PromotionPage {
    frame: Frame,
    id: i64,
    project: String,
    release: String,
    environment: String,
    state: Badge,
    requested: String,
    scheduled_for: Option<String>,
    recheck_at: Option<String>,
    deployment: Option<(i64, Badge)>,
    gates: String,
    latest: Option<RecordView>,
    earlier: Vec<RecordView>,
    votes: Vec<VoteRow>,
    change_request: Option<ChangeRequestView>,
    actions: PromotionActions,
    /// Set when a vote or override here is an electronic signature: the form asks for the
    /// password.
    signing: Option<SigningAsk>,
    /// How the signed overrides of this promotion read.
    override_signatures: Vec<String>,
}

/// What this person may do on a promotion's page, and why the vote buttons are missing when
/// the gate asks for approvals.
fn promotion_actions(
    actor: &crate::auth::Actor,
    env: &slipway_core::model::Environment,
    release_created_by: &str,
    view: &services::promotions::PromotionView,
) -> PromotionActions {
    let p = &view.promotion;
    let waiting = p.state == PromotionState::Waiting;
    let why_not_vote = match &env.gates.approvals {
        Some(_) if !waiting => None,
        Some(rule) if rule.role != actor.role => Some(format!(
            "Approvals for {} come from the {} role; you hold the {} role.",
            env.name, rule.role, actor.role
        )),
        Some(_) if actor.username == release_created_by => Some(
            "You created this release: under the four-eyes rule you may not approve or reject it."
                .to_string(),
        ),
        Some(_) if actor.username == p.requested_by => Some(
            "You asked for this promotion: under the four-eyes rule you may not approve or reject it."
                .to_string(),
        ),
        _ => None,
    };
    PromotionActions {
        vote: dashboard::may_vote(actor, env, release_created_by, p),
        cancel: waiting
            && allows(
                actor.role,
                Operation::Deploy {
                    protected: env.protected,
                },
            ),
        override_decision: matches!(p.state, PromotionState::Waiting | PromotionState::Refused)
            && allows(actor.role, Operation::OverrideDecision),
        decide_change_request: view
            .change_request
            .as_ref()
            .is_some_and(|c| c.state == ChangeRequestState::Open)
            && dashboard::may_decide_change_requests(actor.role),
        why_not_vote,
    }
}

/// The votes cast, each with its electronic signature when it was signed.
fn vote_rows(view: &services::promotions::PromotionView) -> Vec<VoteRow> {
    view.votes
        .iter()
        .map(|v| VoteRow {
            username: v.username.clone(),
            role: v.role.as_str(),
            approve: v.approve,
            comment: v.comment.clone(),
            at: short_time(&v.at),
            signature: view
                .signatures
                .iter()
                .find(|s| {
                    s.signature.record_kind == services::promotions::VOTE_RECORD
                        && s.signature.signer == v.username
                })
                .map(|s| s.signature.manifestation()),
        })
        .collect()
}

pub(super) async fn show(
    State(state): State<crate::AppState>,
    user: ConsoleUser,
    Path(id): Path<i64>,
) -> PageResult {
    let view = services::promotions::get(&state, &user.actor, id)
        .await
        .or_page(&user)?;
    let p = &view.promotion;
    let project = parse_name("project", &p.project).or_page(&user)?;
    let env_name = parse_name("environment", &p.environment).or_page(&user)?;
    let env = services::environments::get(&state, &user.actor, &env_name)
        .await
        .or_page(&user)?;
    let release = services::releases::get(&state, &user.actor, &project, &p.release_version)
        .await
        .or_page(&user)?
        .release;
    let deployment = match p.deployment_id {
        Some(d) => services::deployments::get(&state, &user.actor, d)
            .await
            .ok()
            .map(|v| (d, deployment_badge(v.deployment.state))),
        None => None,
    };
    let actions = promotion_actions(&user.actor, &env, &release.created_by, &view);
    let quality = format!(
        "/projects/{}/releases/{}/quality",
        percent_encode(&p.project),
        percent_encode(&p.release_version)
    );
    let mut records: Vec<RecordView> = view
        .decisions
        .iter()
        .map(|d| record_view(d, &quality))
        .collect();
    let latest = records.pop();
    records.reverse();
    let page = PromotionPage {
        frame: Frame::new(
            format!(
                "Promotion {id}: {} {} to {}",
                p.project, p.release_version, p.environment
            ),
            Some(&user),
            Section::Approvals,
        ),
        id,
        project: p.project.clone(),
        release: p.release_version.clone(),
        environment: p.environment.clone(),
        state: promotion_badge(p.state),
        requested: format!("{} · {}", p.requested_by, short_timestamp(p.requested_at)),
        scheduled_for: p.scheduled_for.as_deref().map(short_time),
        recheck_at: p.recheck_at.as_deref().map(short_time),
        deployment,
        gates: env.gates.summary(env.protected),
        latest,
        earlier: records,
        votes: vote_rows(&view),
        change_request: view
            .change_request
            .as_ref()
            .map(|c| change_request_view(c, &view.signatures)),
        actions,
        signing: match signing_ask(&env) {
            Some(mut ask) => {
                ask.again = services::sso::provider_for_signing(&state, &user.actor)
                    .await
                    .or_page(&user)?
                    .map(|name| (name, format!("/login/oidc/again?back=/promotions/{id}")));
                Some(ask)
            }
            None => None,
        },
        override_signatures: view
            .signatures
            .iter()
            .filter(|s| s.signature.record_kind == services::promotions::OVERRIDE_RECORD)
            .map(|s| s.signature.manifestation())
            .collect(),
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub(super) struct CommentFields {
    #[serde(default)]
    comment: String,
    /// The voter's password, when the environment requires the vote signed.
    #[serde(default)]
    password: Option<String>,
    /// Where to go afterwards: `approvals` for the inbox, else the promotion page.
    #[serde(default)]
    back: String,
}

fn back_to(back: &str, promotion: i64) -> String {
    if back == "approvals" {
        "/approvals".to_string()
    } else {
        format!("/promotions/{promotion}")
    }
}

pub(super) async fn approve(
    State(state): State<crate::AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    Path(id): Path<i64>,
    signed: SignedForm<CommentFields>,
) -> PageResult {
    vote(state, id, client.ip(), signed, true).await
}

pub(super) async fn reject(
    State(state): State<crate::AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    Path(id): Path<i64>,
    signed: SignedForm<CommentFields>,
) -> PageResult {
    vote(state, id, client.ip(), signed, false).await
}

async fn vote(
    state: crate::AppState,
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
    services::promotions::vote(&state, &user.actor, id, approve, &form.comment, sign)
        .await
        .or_page(&user)?;
    Ok(see_other_done(
        &state,
        &back_to(&form.back, id),
        Done::Voted,
    ))
}

pub(super) async fn cancel(
    State(state): State<crate::AppState>,
    Path(id): Path<i64>,
    signed: SignedForm<NoFields>,
) -> PageResult {
    let SignedForm { user, .. } = signed;
    services::promotions::cancel(&state, &user.actor, id)
        .await
        .or_page(&user)?;
    Ok(see_other_done(
        &state,
        &format!("/promotions/{id}"),
        Done::PromotionCancelled,
    ))
}

#[derive(Deserialize)]
pub(super) struct ReasonFields {
    #[serde(default)]
    reason: String,
    /// The admin's password, when the environment requires overrides signed.
    #[serde(default)]
    password: Option<String>,
}

pub(super) async fn override_decision(
    State(state): State<crate::AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    Path(id): Path<i64>,
    signed: SignedForm<ReasonFields>,
) -> PageResult {
    let SignedForm { user, form } = signed;
    let sign = SignAsk {
        password: form.password.as_deref(),
        client: client.ip(),
    };
    services::promotions::override_decision(&state, &user.actor, id, &form.reason, sign)
        .await
        .or_page(&user)?;
    Ok(see_other_done(
        &state,
        &format!("/promotions/{id}"),
        Done::Overridden,
    ))
}

pub(super) async fn approve_change_request(
    State(state): State<crate::AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    Path(id): Path<i64>,
    signed: SignedForm<CommentFields>,
) -> PageResult {
    decide_change_request(state, id, client.ip(), signed, true).await
}

pub(super) async fn reject_change_request(
    State(state): State<crate::AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    Path(id): Path<i64>,
    signed: SignedForm<CommentFields>,
) -> PageResult {
    decide_change_request(state, id, client.ip(), signed, false).await
}

async fn decide_change_request(
    state: crate::AppState,
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
    let rfc = services::promotions::decide_change_request(
        &state,
        &user.actor,
        id,
        approve,
        &form.comment,
        sign,
    )
    .await
    .or_page(&user)?;
    Ok(see_other_done(
        &state,
        &back_to(&form.back, rfc.promotion_id),
        Done::ChangeRequestDecided,
    ))
}

// ---------------------------------------------------------------------------------------------
// The approvals inbox

struct InboxItem {
    id: i64,
    project: String,
    release: String,
    environment: String,
    requested: String,
    waiting_for: String,
    voted: Option<bool>,
    /// Votes there are electronic signatures: cast on the promotion page, with the password.
    signed: bool,
}

fn inbox_item(w: &Waiting, voted: Option<bool>, signed_envs: &[String]) -> InboxItem {
    let p = &w.promotion;
    InboxItem {
        signed: signed_envs.contains(&p.environment),
        id: p.id,
        project: p.project.clone(),
        release: p.release_version.clone(),
        environment: p.environment.clone(),
        requested: format!("{} · {}", p.requested_by, short_timestamp(p.requested_at)),
        waiting_for: w.waiting_for.join(", "),
        voted,
    }
}

struct RfcItem {
    id: i64,
    promotion: i64,
    title: String,
    risk: String,
    opened: String,
}

#[derive(Template)]
#[template(path = "approvals.html")]
struct InboxPage {
    frame: Frame,
    role: &'static str,
    votable: Vec<InboxItem>,
    own: Vec<InboxItem>,
    change_requests: Vec<RfcItem>,
    may_decide_change_requests: bool,
    /// environment: role, for the explanation
    roles: Vec<(String, &'static str)>,
}

pub(super) async fn approvals(
    State(state): State<crate::AppState>,
    user: ConsoleUser,
) -> PageResult {
    let inbox = services::dashboard::inbox(&state, &user.actor)
        .await
        .or_page(&user)?;
    let signed_envs: Vec<String> = services::environments::list(&state, &user.actor)
        .await
        .or_page(&user)?
        .iter()
        .filter(|e| {
            use slipway_core::signature::policy::SignedAction;
            services::signatures::required(e, SignedAction::Approvals)
                || services::signatures::required(e, SignedAction::Rejections)
        })
        .map(|e| e.name.to_string())
        .collect();
    let page = InboxPage {
        frame: Frame::new("Approvals", Some(&user), Section::Approvals),
        role: user.actor.role.as_str(),
        votable: inbox
            .votable
            .iter()
            .map(|v| inbox_item(&v.waiting, v.voted, &signed_envs))
            .collect(),
        own: inbox
            .own
            .iter()
            .map(|w| inbox_item(w, None, &signed_envs))
            .collect(),
        change_requests: inbox
            .change_requests
            .iter()
            .map(|c| RfcItem {
                id: c.id,
                promotion: c.promotion_id,
                title: c.body["title"].as_str().unwrap_or("").to_string(),
                risk: c.body["risk"]["level"].as_str().unwrap_or("?").to_string(),
                opened: short_timestamp(c.opened_at),
            })
            .collect(),
        may_decide_change_requests: inbox.may_decide_change_requests,
        roles: inbox
            .approval_roles
            .iter()
            .map(|(e, r)| (e.clone(), r.as_str()))
            .collect(),
    };
    Ok(render(StatusCode::OK, &page))
}

// ---------------------------------------------------------------------------------------------
// The calendar

struct PlannedRow {
    id: i64,
    project: String,
    release: String,
    when: String,
    waiting_for: String,
}

struct PastRow {
    id: i64,
    project: String,
    release: String,
    kind: String,
    state: Badge,
    when: String,
}

struct CalendarSection {
    name: String,
    window: String,
    planned: Vec<PlannedRow>,
    past: Vec<PastRow>,
}

#[derive(Template)]
#[template(path = "calendar.html")]
struct CalendarPage {
    frame: Frame,
    /// Every environment over the last week and the next two, as one picture (SVG).
    strip: String,
    now: String,
    since: String,
    days: i64,
    environments: Vec<CalendarSection>,
}

/// Days the calendar picture shows before today, and from today on.
const STRIP_DAYS_BEFORE: i64 = 7;
const STRIP_DAYS_AHEAD: i64 = 14;

/// The calendar as a picture: one lane per environment over three weeks (UTC days), its window's
/// openings shaded, its freezes hatched across them, its deployments and planned promotions marked.
fn calendar_picture(c: &dashboard::Calendar) -> String {
    use super::charts::{calendar_strip, CalendarStrip, Caption};

    let now = c.now;
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let first = today
        .checked_sub(jiff::Span::new().days(STRIP_DAYS_BEFORE))
        .unwrap_or(today);
    let Ok(start) = first
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp())
    else {
        return String::new();
    };
    let days = STRIP_DAYS_BEFORE + STRIP_DAYS_AHEAD;
    let end = start
        .checked_add(jiff::SignedDuration::from_hours(24 * days))
        .unwrap_or(start);
    let hours = |at: jiff::Timestamp| at.duration_since(start).as_secs_f64() / 3600.0;
    let labels = (0..days)
        .filter_map(|i| first.checked_add(jiff::Span::new().days(i)).ok())
        .map(|d| d.strftime("%a %d").to_string())
        .collect();
    let lanes = c
        .environments
        .iter()
        .map(|e| calendar_lane(e, (start, end), &hours))
        .collect();
    calendar_strip(&CalendarStrip {
        caption: Caption {
            title: "Deployment windows, freezes and deployments over three weeks",
            description: "One lane per environment over UTC days: shaded where its window lets deployments through, hatched where a freeze holds, a mark for each deployment (its state) and each planned promotion, a line at now.",
        },
        days: labels,
        now: hours(now),
        lanes,
    })
}

/// One environment's lane of the calendar strip over `(start, end)`: its windows and freezes as
/// bands, its deployments and planned promotions as marks; `hours` places a time on the strip.
fn calendar_lane(
    e: &dashboard::CalendarEnvironment,
    (start, end): (jiff::Timestamp, jiff::Timestamp),
    hours: &dyn Fn(jiff::Timestamp) -> f64,
) -> super::charts::Lane {
    use super::charts::{Band, Lane, Marker, Tone};
    use slipway_core::gates::calendar::PeriodKind;

    let calendar = &e.environment.gates.calendar;
    let zone = calendar.zone.as_str();
    let local = |t: jiff::Timestamp| {
        t.to_zoned(calendar.zone.tz())
            .strftime("%a %d %H:%M")
            .to_string()
    };
    let bands = calendar
        .periods(start, end)
        .into_iter()
        .map(|p| {
            let span = format!("{} – {} ({zone})", local(p.from), local(p.to));
            let (tone, tooltip) = match p.kind {
                PeriodKind::Open => (
                    Tone::Good,
                    format!("{}: deployments allowed {span}", e.environment.name),
                ),
                PeriodKind::Frozen(reason) => (
                    Tone::Bad,
                    format!("{}: frozen {span}: {reason}", e.environment.name),
                ),
            };
            Band {
                from: hours(p.from),
                to: hours(p.to),
                tone,
                tooltip,
            }
        })
        .collect();
    let done = e.deployments.iter().map(|d| {
        let badge = deployment_badge(d.state);
        Marker {
            at: hours(d.created_at),
            tone: Tone::of_class(badge.tone),
            tooltip: format!(
                "{} #{} {} {}: {}",
                d.kind.as_str().replace('_', " "),
                d.id,
                d.project,
                d.release_version,
                badge.label
            ),
            href: Some(format!("/deployments/{}", d.id)),
        }
    });
    let planned = e.planned.iter().filter_map(|(w, when)| {
        let at = (*when)?;
        Some(Marker {
            at: hours(at),
            tone: Tone::Info,
            tooltip: format!(
                "promotion #{} {} {} planned",
                w.promotion.id, w.promotion.project, w.promotion.release_version
            ),
            href: Some(format!("/promotions/{}", w.promotion.id)),
        })
    });
    Lane {
        label: e.environment.name.to_string(),
        bands,
        markers: done.chain(planned).collect(),
    }
}

pub(super) async fn calendar(
    State(state): State<crate::AppState>,
    user: ConsoleUser,
) -> PageResult {
    let c = services::dashboard::calendar(&state, &user.actor)
        .await
        .or_page(&user)?;
    let strip = calendar_picture(&c);
    let environments = c
        .environments
        .iter()
        .map(|e| CalendarSection {
            name: e.environment.name.to_string(),
            window: e.environment.gates.calendar.describe(),
            planned: e
                .planned
                .iter()
                .map(|(w, when)| PlannedRow {
                    id: w.promotion.id,
                    project: w.promotion.project.clone(),
                    release: w.promotion.release_version.clone(),
                    when: when.map_or_else(|| "when approved".to_string(), short_timestamp),
                    waiting_for: w.waiting_for.join(", "),
                })
                .collect(),
            past: e
                .deployments
                .iter()
                .map(|d| PastRow {
                    id: d.id,
                    project: d.project.clone(),
                    release: d.release_version.clone(),
                    kind: d.kind.as_str().replace('_', " "),
                    state: deployment_badge(d.state),
                    when: short_timestamp(d.finished_at.unwrap_or(d.created_at)),
                })
                .collect(),
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &CalendarPage {
            frame: Frame::new("Calendar", Some(&user), Section::Calendar),
            strip,
            now: short_timestamp(c.now),
            since: short_timestamp(c.since),
            days: dashboard::CALENDAR_DAYS,
            environments,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quality_criteria_link_to_their_evidence_on_the_quality_page() {
        let q = "/projects/pets/releases/1.0.0/quality";
        assert_eq!(
            evidence_href("tests.e2e", q).unwrap(),
            format!("{q}#suites")
        );
        assert_eq!(
            evidence_href("flaky.e2e", q).unwrap(),
            format!("{q}#suites")
        );
        assert_eq!(
            evidence_href("coverage.unit", q).unwrap(),
            format!("{q}#coverage-unit")
        );
        assert_eq!(
            evidence_href("findings", q).unwrap(),
            format!("{q}#findings")
        );
        assert_eq!(evidence_href("approvals", q), None);
        assert_eq!(evidence_href("check.e2e", q), None);
    }

    #[test]
    fn evidence_reads_as_one_line() {
        assert_eq!(
            evidence_summary(
                &json!({ "approved_by": ["olga", "omar"], "needed": 2, "none": null })
            ),
            "approved_by: olga, omar; needed: 2"
        );
        assert_eq!(evidence_summary(&Value::Null), "");
    }

    #[test]
    fn inbox_forms_go_back_where_they_came_from() {
        assert_eq!(back_to("approvals", 3), "/approvals");
        assert_eq!(back_to("", 3), "/promotions/3");
        assert_eq!(back_to("https://evil.example", 3), "/promotions/3");
    }
}
