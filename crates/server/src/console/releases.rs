//! The vault in the console: releases per project, one release (artifacts, digests, sizes,
//! signatures verified now, provenance with links, notes), and artifact search by digest.
//!
//! Notes are rendered from their structure (sections and items), never by a Markdown renderer:
//! askama escapes every value, so text from commit messages cannot become markup.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use slipway_core::access::{authorize, Operation};
use slipway_core::model::Project;
use slipway_core::page::PageSize;
use slipway_core::release::{ReleaseNotes, SignatureState};
use slipway_core::{Name, Sha256};
use slipway_store::{StoredArtifact, StoredRelease};

use super::charts::{self, Caption, Stage, Tone};
use super::criteria::plain_criterion;
use super::notice::{see_other_done, Done};
use super::page::{
    query_string, render, see_other, short_digest, short_timestamp, Frame, OrProblemPage,
    PageResult, Section, ShortDigest,
};
use super::session::SignedForm;
use super::user::ConsoleUser;
use crate::services::artifacts::current_signature_state;
use crate::services::dashboard::{self, Standing};
use crate::services::paging::PageRequest;
use crate::services::{self, parse_name};
use crate::{AppState, ServiceError};

#[derive(Template)]
#[template(path = "releases_home.html")]
struct HomePage {
    frame: Frame,
    projects: Vec<Project>,
}

/// `/releases`: pick a project, or search the vault by digest.
pub(super) async fn home(State(state): State<AppState>, user: ConsoleUser) -> PageResult {
    let projects = services::projects::list(&state, &user.actor)
        .await
        .or_page(&user)?;
    Ok(render(
        StatusCode::OK,
        &HomePage {
            frame: Frame::new("Releases", Some(&user), Section::Releases),
            projects,
        },
    ))
}

struct ReleaseRow {
    version: String,
    channel: &'static str,
    lifecycle: String,
    signed: bool,
    created_by: String,
    created_at: String,
    pruned: bool,
}

#[derive(Template)]
#[template(path = "releases.html")]
struct ListPage {
    frame: Frame,
    project: String,
    releases: Vec<ReleaseRow>,
    /// The cursor of the next (older) page, when there is one.
    older: Option<String>,
}

fn row(r: &StoredRelease) -> ReleaseRow {
    ReleaseRow {
        version: r.version.to_string(),
        channel: r.channel.as_str(),
        lifecycle: r
            .lifecycle
            .as_ref()
            .map_or_else(|| "-".to_string(), ToString::to_string),
        signed: r.eligible_for_protected,
        created_by: r.created_by.clone(),
        created_at: short_timestamp(r.created_at),
        pruned: r.pruned_at.is_some(),
    }
}

/// `?after=CURSOR`: the page of older releases the "Older releases" link leads to.
#[derive(Deserialize)]
pub(super) struct OlderQuery {
    #[serde(default)]
    after: Option<String>,
}

pub(super) async fn list(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(project): Path<String>,
    Query(query): Query<OlderQuery>,
) -> PageResult {
    let name = parse_name("project", &project).or_page(&user)?;
    let request = PageRequest::parse(None, query.after).or_page(&user)?;
    let listed = services::releases::list(&state, &user.actor, &name, &request)
        .await
        .or_page(&user)?;
    Ok(render(
        StatusCode::OK,
        &ListPage {
            frame: Frame::new(
                format!("Releases of {name}"),
                Some(&user),
                Section::Projects,
            ),
            project: name.to_string(),
            releases: listed.items.iter().map(row).collect(),
            older: listed.next,
        },
    ))
}

/// One artifact as the release page shows it.
struct ArtifactRow {
    component: String,
    version: String,
    digest: ShortDigest,
    size: String,
    signature: String,
    signature_ok: bool,
    commit: String,
    branch: String,
    builder: String,
    pipeline_url: Option<String>,
    meta: Vec<(String, String)>,
    pushed: String,
    purged: bool,
}

async fn artifact_row(state: &AppState, a: &StoredArtifact) -> Result<ArtifactRow, ServiceError> {
    let now = current_signature_state(state, a).await?;
    let p = &a.provenance;
    Ok(ArtifactRow {
        component: a.component.to_string(),
        version: a.version.to_string(),
        digest: short_digest(&a.digest.to_hex()),
        size: human_size(a.size),
        signature_ok: now.is_valid(),
        signature: match &now {
            SignatureState::Unsigned => "unsigned".to_string(),
            other => other.describe(),
        },
        commit: p.commit.clone().unwrap_or_default(),
        branch: p.branch.clone().unwrap_or_default(),
        builder: p.builder.clone().unwrap_or_default(),
        // Only http(s) links are ever stored (core checks provenance), so the href is safe.
        pipeline_url: p.pipeline_url.clone(),
        meta: p.meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        pushed: format!("{} · {}", a.pushed_by, short_timestamp(a.pushed_at)),
        purged: a.purged_at.is_some(),
    })
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = "B";
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    format!("{value:.1} {unit} ({bytes} bytes)")
}

#[derive(Template)]
#[template(path = "release.html")]
struct ReleasePage {
    frame: Frame,
    project: String,
    release: ReleaseRow,
    labels: String,
    artifacts: Vec<ArtifactRow>,
    notes: ReleaseNotes,
    variables: usize,
    /// How today's variables differ from the frozen ones, one line each.
    variables_drift: Vec<String>,
    /// The reader may create releases: the drift notice offers the form, not only the command.
    may_create: bool,
    /// `--artifact C=VERSION` for each component, to make a release with today's variables.
    steps: usize,
    /// A page of its deployments, newest first.
    deployments: Vec<DeploymentRow>,
    /// The link to the next, older page of its deployments.
    older_deployments: Option<String>,
    /// The link back to its newest deployments, when this is not the first page.
    newest_deployments: Option<String>,
    progress: Option<ProgressView>,
    /// A page of its complaints of its first 30 days in production, newest received first: id,
    /// severity, status, customer, received.
    complaints: Vec<ComplaintRow>,
    /// The link to the next, older page of its complaints.
    older_complaints: Option<String>,
    /// The link back to its newest complaints, when this is not the first page.
    newest_complaints: Option<String>,
}

/// The release's way along its lifecycle.
struct ProgressView {
    lifecycle: Option<String>,
    phases: Vec<PhaseView>,
    /// Where this person may promote to: phases first, then environments; the one chosen at
    /// first is the next stop of the release, not a phase already done.
    promote_to: Vec<(String, String, bool)>,
    /// The same progress as a picture: one stage per environment, in lifecycle order (an SVG
    /// string built by `charts`, which escapes every text).
    pipeline: String,
}

/// The lifecycle as a horizontal pipeline of environments.
fn pipeline_picture(phases: &[PhaseView]) -> String {
    let stages: Vec<Stage> = phases
        .iter()
        .flat_map(|ph| &ph.environments)
        .map(|e| Stage {
            name: e.name.clone(),
            tone: Tone::of_class(e.tone),
            state: e.label.clone(),
            href: e
                .deployment
                .map(|id| format!("/deployments/{id}"))
                .or(e.promotion.map(|id| format!("/promotions/{id}"))),
        })
        .collect();
    charts::pipeline(
        &Caption {
            title: "Where this release stands on its lifecycle",
            description: "One stage per environment, in lifecycle order, each with this release's standing there: ✓ deployed, ▶ deploying, ! waiting, ✕ failed or refused, – not yet or rolled back.",
        },
        &stages,
    )
}

struct PhaseView {
    name: String,
    automatic: bool,
    environments: Vec<EnvironmentStanding>,
}

struct EnvironmentStanding {
    name: String,
    label: String,
    tone: &'static str,
    gates: String,
    promotion: Option<i64>,
    deployment: Option<i64>,
}

fn progress_view(p: &dashboard::Progress) -> ProgressView {
    let mut promote_to = Vec::new();
    let mut environments = Vec::new();
    let phases: Vec<PhaseView> = p
        .phases
        .iter()
        .map(|ph| {
            let allowed: Vec<&dashboard::EnvironmentProgress> =
                ph.environments.iter().filter(|e| e.may_deploy).collect();
            if p.lifecycle.is_some()
                && !allowed.is_empty()
                && allowed.len() == ph.environments.len()
            {
                promote_to.push((
                    ph.name.clone(),
                    format!(
                        "phase {} ({})",
                        ph.name,
                        allowed
                            .iter()
                            .map(|e| e.environment.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            for e in allowed {
                environments.push((
                    e.environment.name.to_string(),
                    e.environment.name.to_string(),
                ));
            }
            PhaseView {
                name: ph.name.clone(),
                automatic: ph.automatic,
                environments: ph.environments.iter().map(standing).collect(),
            }
        })
        .collect();
    for e in environments {
        if !promote_to.iter().any(|(v, _)| *v == e.0) {
            promote_to.push(e);
        }
    }
    let next = next_stop(p, &promote_to);
    let promote_to = promote_to
        .into_iter()
        .map(|(value, label)| {
            let chosen = next.as_deref() == Some(value.as_str());
            (value, label, chosen)
        })
        .collect();
    ProgressView {
        lifecycle: p.lifecycle.clone(),
        pipeline: pipeline_picture(&phases),
        phases,
        promote_to,
    }
}

/// What the Promote form offers first: the first phase the release has not reached everywhere
/// (or, when the reader may not promote to the whole phase, its first environment not reached),
/// never a phase already done.
fn next_stop(p: &dashboard::Progress, offered: &[(String, String)]) -> Option<String> {
    let reached = |e: &&dashboard::EnvironmentProgress| {
        matches!(e.standing, Standing::Deployed | Standing::Deploying)
    };
    let offers = |value: &str| offered.iter().any(|(v, _)| v == value);
    let phase = p
        .phases
        .iter()
        .find(|ph| !ph.environments.iter().all(|e| reached(&e)))?;
    if offers(&phase.name) {
        return Some(phase.name.clone());
    }
    phase
        .environments
        .iter()
        .filter(|e| !reached(e))
        .map(|e| e.environment.name.to_string())
        .find(|name| offers(name))
}

fn standing(e: &dashboard::EnvironmentProgress) -> EnvironmentStanding {
    let (label, tone) = match e.standing {
        Standing::Deployed => ("deployed".to_string(), "good"),
        Standing::Deploying => ("deploying".to_string(), "info"),
        Standing::Waiting if e.detail.is_empty() => ("waiting".to_string(), "warn"),
        Standing::Waiting => (
            format!(
                "waiting for {}",
                e.detail
                    .split(", ")
                    .map(plain_criterion)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "warn",
        ),
        Standing::RolledBack => ("rolled back, not there now".to_string(), "idle"),
        Standing::Refused => ("refused".to_string(), "bad"),
        Standing::Failed => (e.detail.clone(), "bad"),
        Standing::NotYet => ("not yet".to_string(), "idle"),
    };
    EnvironmentStanding {
        name: e.environment.name.to_string(),
        label,
        tone,
        gates: e.environment.gates.summary(e.environment.protected),
        promotion: e.promotion,
        deployment: e.deployment,
    }
}

#[derive(Deserialize)]
pub(super) struct PromoteFields {
    #[serde(default)]
    to: String,
    #[serde(default)]
    at: String,
}

/// `POST /projects/{name}/releases/{version}/promote`: into an environment or a phase, now or
/// at a time; then the (first) promotion's page.
pub(super) async fn promote(
    State(state): State<AppState>,
    Path((project, version)): Path<(String, String)>,
    signed: SignedForm<PromoteFields>,
) -> PageResult {
    let SignedForm { user, form } = signed;
    let project = parse_name("project", &project).or_page(&user)?;
    let to = parse_name("environment or phase", form.to.trim()).or_page(&user)?;
    let at = Some(form.at.trim()).filter(|a| !a.is_empty());
    let views = services::promotions::request(&state, &user.actor, &project, &version, &to, at)
        .await
        .or_page(&user)?;
    Ok(match views.first() {
        Some(v) => see_other_done(
            &state,
            &format!("/promotions/{}", v.promotion.id),
            Done::PromotionRequested,
        ),
        None => see_other(&format!("/projects/{project}/releases/{version}")),
    })
}

#[derive(Deserialize)]
pub(super) struct LikeFields {
    #[serde(default)]
    version: String,
}

/// `POST /projects/{name}/releases/{version}/like`: a new release with this one's artifacts and
/// today's variables; then the new release's page.
pub(super) async fn like(
    State(state): State<AppState>,
    Path((project, version)): Path<(String, String)>,
    signed: SignedForm<LikeFields>,
) -> PageResult {
    let SignedForm { user, form } = signed;
    let project = parse_name("project", &project).or_page(&user)?;
    let made = services::releases::create_like(
        &state,
        &user.actor,
        &project,
        &version,
        form.version.trim(),
    )
    .await
    .or_page(&user)?;
    Ok(see_other_done(
        &state,
        &format!("/projects/{project}/releases/{}", made.release.version),
        Done::ReleaseCreated,
    ))
}

/// A deployment of this release: where it went and how it ended.
struct DeploymentRow {
    id: i64,
    environment: String,
    kind: String,
    state: &'static str,
    by: String,
}

#[derive(Deserialize)]
pub(super) struct ShowQuery {
    /// The cursor of this page of the release's deployments; empty on the first.
    #[serde(default)]
    after: String,
    /// The cursor of this page of the release's complaints; empty on the first.
    #[serde(default)]
    complaints_after: String,
}

/// Deployments of a release a page of the console holds.
const DEPLOYMENTS_PER_PAGE: u32 = 50;
/// Complaints of a release a page of the console holds.
const COMPLAINTS_PER_PAGE: u32 = 50;

/// One page of a list on a release's page and the links to the pages around it.
struct Paged<T> {
    rows: Vec<T>,
    older: Option<String>,
    newest: Option<String>,
}

/// A complaint as the release's page lists it: id, severity, status, customer, received.
type ComplaintRow = (i64, String, String, String, String);

/// A page of the release's complaints of its first 30 days in production; the deployments'
/// cursor kept in its links, and the complaints' in the deployments' links.
async fn release_complaints(
    state: &AppState,
    user: &ConsoleUser,
    project: &Name,
    version: &str,
    q: &ShowQuery,
) -> Result<Paged<ComplaintRow>, Response> {
    let request = PageRequest {
        size: PageSize::at_most(COMPLAINTS_PER_PAGE),
        after: Some(q.complaints_after.clone()).filter(|a| !a.is_empty()),
    };
    let found =
        services::complaints::release_complaints(state, &user.actor, project, version, &request)
            .await
            .or_page(user)?;
    let link = |after: &str| {
        format!(
            "/projects/{project}/releases/{version}{}#complaints",
            query_string(&[("after", &q.after), ("complaints_after", after)])
        )
    };
    Ok(Paged {
        older: found.next.as_deref().map(link),
        newest: (!q.complaints_after.is_empty()).then(|| link("")),
        rows: found
            .items
            .into_iter()
            .map(|c| {
                (
                    c.id,
                    c.severity.to_string(),
                    c.status.to_string(),
                    c.customer,
                    short_timestamp(c.received_at),
                )
            })
            .collect(),
    })
}

/// The release's own deployments, read by release on the server (never the project's newest,
/// filtered here: an old release's page would show none of its own).
async fn release_deployments(
    state: &AppState,
    user: &ConsoleUser,
    project: &Name,
    version: &str,
    q: &ShowQuery,
) -> Result<Paged<DeploymentRow>, Response> {
    let after = q.after.as_str();
    let request = PageRequest {
        size: PageSize::at_most(DEPLOYMENTS_PER_PAGE),
        after: Some(after.to_owned()).filter(|a| !a.is_empty()),
    };
    let filter = services::deployments::DeploymentFilter {
        project: Some(project.as_str()),
        environment: None,
        version: Some(version),
    };
    let found = services::deployments::page(state, &user.actor, filter, &request)
        .await
        .or_page(user)?;
    let link = |after: &str| {
        format!(
            "/projects/{project}/releases/{version}{}#deployments",
            query_string(&[("after", after), ("complaints_after", &q.complaints_after)])
        )
    };
    Ok(Paged {
        older: found.next.as_deref().map(link),
        newest: (!after.is_empty()).then(|| link("")),
        rows: found
            .items
            .into_iter()
            .map(|d| DeploymentRow {
                kind: super::deployments::kind_label(&d),
                id: d.id,
                environment: d.environment,
                state: d.state.as_str(),
                by: format!("{} · {}", d.requested_by, short_timestamp(d.created_at)),
            })
            .collect(),
    })
}

pub(super) async fn show(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path((project, version)): Path<(String, String)>,
    Query(q): Query<ShowQuery>,
) -> PageResult {
    let name = parse_name("project", &project).or_page(&user)?;
    let view = services::releases::get(&state, &user.actor, &name, &version)
        .await
        .or_page(&user)?;
    let mut artifacts = Vec::new();
    for a in &view.artifact_details {
        artifacts.push(artifact_row(&state, a).await.or_page(&user)?);
    }
    let r = &view.release;
    let version_text = r.version.to_string();
    let deployments = release_deployments(&state, &user, &name, &version_text, &q).await?;
    let variables_drift = services::releases::frozen_variables_drift(&state, &user.actor, r)
        .await
        .or_page(&user)?;
    let progress = services::dashboard::progress(&state, &user.actor, r)
        .await
        .or_page(&user)?;
    let complaints = release_complaints(&state, &user, &name, &version_text, &q).await?;
    Ok(render(
        StatusCode::OK,
        &ReleasePage {
            progress: Some(progress_view(&progress)),
            frame: Frame::new(
                format!("{name} {} ({})", r.version, r.channel),
                Some(&user),
                Section::Projects,
            ),
            project: name.to_string(),
            release: row(r),
            labels: r
                .labels
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            artifacts,
            notes: r.notes.clone(),
            variables: r.snapshot.variables.len(),
            may_create: authorize(user.actor.role, Operation::CreateRelease).is_ok(),
            variables_drift,
            steps: r.snapshot.project.plan.len(),
            deployments: deployments.rows,
            older_deployments: deployments.older,
            newest_deployments: deployments.newest,
            complaints: complaints.rows,
            older_complaints: complaints.older,
            newest_complaints: complaints.newest,
        },
    ))
}

#[derive(Deserialize)]
pub(super) struct SearchQuery {
    #[serde(default)]
    digest: String,
}

#[derive(Template)]
#[template(path = "release_search.html")]
struct SearchPage {
    frame: Frame,
    query: String,
    stored: bool,
    artifacts: Vec<(String, ArtifactRow)>,
    releases: Vec<String>,
    problem: Option<String>,
}

/// `/artifacts?digest=…`: what the vault holds with this content, and in which releases.
pub(super) async fn search(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<SearchQuery>,
) -> PageResult {
    let query = q.digest.trim().to_ascii_lowercase();
    let mut page = SearchPage {
        frame: Frame::new("Artifact search", Some(&user), Section::Releases),
        query: query.clone(),
        stored: false,
        artifacts: Vec::new(),
        releases: Vec::new(),
        problem: None,
    };
    if query.is_empty() {
        return Ok(render(StatusCode::OK, &page));
    }
    let digest = match Sha256::parse(&query) {
        Ok(d) => d,
        Err(e) => {
            page.problem = Some(e.to_string());
            return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
    };
    match services::artifacts::by_digest(&state, &user.actor, &digest).await {
        Ok(found) => {
            page.stored = found.stored;
            page.releases = found.releases;
            for d in &found.artifacts {
                let row = artifact_row(&state, &d.artifact).await.or_page(&user)?;
                page.artifacts.push((d.artifact.project.to_string(), row));
            }
            Ok(render(StatusCode::OK, &page))
        }
        Err(ServiceError::NotFound { .. }) => {
            page.problem = Some(format!("The vault holds no artifact with sha256 {digest}."));
            Ok(render(StatusCode::NOT_FOUND, &page))
        }
        Err(e) => Err(e).or_page(&user),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_core::release::{NoteItem, NoteSection, SectionKind};

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(15), "15 B");
        assert_eq!(human_size(2048), "2.0 KiB (2048 bytes)");
        assert_eq!(human_size(1 << 30), "1.0 GiB (1073741824 bytes)");
    }

    #[test]
    fn notes_from_commit_messages_cannot_inject_markup() {
        let page = ReleasePage {
            frame: Frame::new("x", None, Section::Projects),
            project: "pets".into(),
            release: ReleaseRow {
                version: "1.0.0".into(),
                channel: "GA",
                lifecycle: "standard".into(),
                signed: false,
                created_by: "a".into(),
                created_at: "t".into(),
                pruned: false,
            },
            labels: String::new(),
            artifacts: vec![],
            notes: ReleaseNotes {
                title: "pets 1.0.0 (GA)".into(),
                sections: vec![NoteSection {
                    kind: SectionKind::Fixes,
                    heading: "Fixes".into(),
                    items: vec![NoteItem {
                        scope: Some("<b>ui</b>".into()),
                        text: "escape <script>alert(1)</script>".into(),
                        commit: None,
                    }],
                }],
                body: Some("<img src=x onerror=alert(1)>".into()),
            },
            variables: 0,
            may_create: false,
            variables_drift: vec!["PORT (environment DEV): 80 → <script>".into()],
            steps: 0,
            deployments: vec![],
            older_deployments: None,
            newest_deployments: None,
            progress: None,
            complaints: vec![],
            older_complaints: None,
            newest_complaints: None,
        };
        let html = page.render().unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("<h3>Fixes</h3>"), "{html}");
        assert!(html.contains("80 → &lt;script&gt;"), "{html}");
        assert!(!html.contains("80 → <script>"), "{html}");
    }
}
