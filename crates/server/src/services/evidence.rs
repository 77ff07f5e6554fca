//! Evidence bundles: everything an auditor needs about one release, in one archive they can
//! check without Slipway (see docs/evidence.md).
//!
//! The bundle is a list of sections, each made by one small function from the facts gathered
//! once ([`Facts`]); `slipway_core::evidence::assemble` adds the README, the signed manifest, the
//! key and SHA256SUMS. A new section (e.g. governance records) is one function and one line in
//! [`sections`].
//!
//! The evidence key: an ed25519 key per server, created at first use, kept in the `settings`
//! table as `evidence.signing_key`, its seed sealed with the master key (so a database copy alone
//! cannot sign). Its creation is audited (`evidence.key_create`). Exporting is a disclosure, so
//! it is audited too (`evidence.export`), before the audit chain is read: the bundle holds its
//! own export event.

use std::collections::BTreeMap;

use askama::Template;
use serde::Serialize;
use serde_json::json;
use slipway_core::access::Operation;
use slipway_core::audit::{AuditEvent, ChainHead};
use slipway_core::deploy::state::Phase;
use slipway_core::evidence::proof::{AuditProof, ProofBuilder, ReleaseScope};
use slipway_core::evidence::{self as bundle, Export, Section};
use slipway_core::governance::config_change::covers;
use slipway_core::governance::DecisionRecord;
use slipway_core::release::SignatureState;
use slipway_core::rollback::{derive_rollback, RollbackPlan};
use slipway_core::Name;
use slipway_store::{SigningKeyRecord, StoredDeployment};

use super::artifacts::current_signature_state;
use super::evidence_key::signing_key;
use super::releases::ReleaseView;
use super::{entry, require};
use crate::auth::Actor;
use crate::views::IntoView;
use crate::{AppState, ServiceError};

/// Pages of audit events and log lines read at a time.
const PAGE: i64 = 5000;

/// The evidence key as the server shows it, for auditors to compare fingerprints.
pub use slipway_api::evidence::KeyView;

/// An exported bundle: its suggested file name and its bytes (an uncompressed tar).
pub struct Bundle {
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// The public evidence key and its fingerprint (anyone who may read may see it).
pub async fn key(state: &AppState, actor: &Actor) -> Result<KeyView, ServiceError> {
    require(state, actor, Operation::Read, "evidence/key").await?;
    let public = signing_key(state, actor).await?.public_key();
    Ok(KeyView {
        public_key: public,
        fingerprint: bundle::fingerprint(&public),
        key_file: bundle::key_file_text(&public),
    })
}

/// One deployment with its tasks and every line they printed (stored already masked).
#[derive(Debug, Serialize)]
struct DeploymentRecord {
    deployment: slipway_api::deployments::DeploymentView,
    tasks: Vec<slipway_api::deployments::TaskView>,
    logs: Vec<slipway_api::deployments::LogLineView>,
}

#[derive(Debug, Serialize)]
struct ArtifactRecord {
    #[serde(flatten)]
    artifact: slipway_api::vault::ArtifactView,
    /// The signature verified again at export against the keys the project trusts now.
    signature_at_export: SignatureState,
}

#[derive(Debug, Serialize)]
struct EnvironmentPlan {
    environment: Name,
    /// Plan step numbers that apply to this environment.
    steps: Vec<usize>,
    /// The rollback derived from those steps, should all of them complete.
    rollback: RollbackPlan,
}

/// Everything a bundle is made from, read once.
struct Facts {
    view: ReleaseView,
    artifacts: Vec<ArtifactRecord>,
    trusted_keys: Vec<SigningKeyRecord>,
    plans: Vec<EnvironmentPlan>,
    deployments: Vec<DeploymentRecord>,
    governance: Governance,
    proof: AuditProof,
    /// The full events' inclusion proofs against a signed checkpoint, when this server signs
    /// checkpoints.
    inclusion: Option<slipway_core::evidence::inclusion::InclusionFile>,
    exported_at: String,
    exported_by: String,
    fingerprint: String,
    /// The complaints of the release's first 30 days in production.
    complaints: Vec<slipway_api::complaints::ComplaintView>,
    /// Every electronic signature of the release's records: votes, overrides and change-request
    /// decisions of its promotions, then its findings' risk acceptances.
    signatures: Vec<slipway_api::signatures::SignatureView>,
}

fn json_bytes(value: &impl Serialize) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(value).expect("evidence records always serialise");
    out.push(b'\n');
    out
}

fn release_section(f: &Facts) -> Result<Section, ServiceError> {
    Ok(Section {
        path: "release.json",
        describes: "the release: version, channel, lifecycle, frozen project and variables snapshot (no secret values), notes; each artifact with digest, size, provenance, signature (as pushed and verified again at export); the project's signing keys.",
        bytes: json_bytes(&json!({
            "release": f.view.release.clone().into_view(),
            "artifacts": f.artifacts,
            "trusted_keys": f.trusted_keys.clone().into_view(),
        })),
    })
}

fn plan_section(f: &Facts) -> Result<Section, ServiceError> {
    Ok(Section {
        path: "plan.json",
        describes: "the release's frozen deployment plan, and per environment the steps that apply and the rollback plan derived from them.",
        bytes: json_bytes(&json!({
            "plan": f.view.release.snapshot.project.plan,
            "environments": f.plans,
        })),
    })
}

fn deployments_section(f: &Facts) -> Result<Section, ServiceError> {
    Ok(Section {
        path: "deployments.json",
        describes: "every deployment of the release (deploy, dry run, rollback): runs, tasks with states, attempts and times, and every step log line (secrets masked).",
        bytes: json_bytes(&f.deployments),
    })
}

/// The release's way through its gates: every promotion with its decision records (criteria,
/// verdicts, evidence, overrides), votes and change request, and the checks CI reported.
#[derive(Debug, Serialize)]
struct Governance {
    promotions: Vec<slipway_api::governance::PromotionView>,
    checks: Vec<slipway_core::governance::CheckResult>,
    /// The break-glasses in force when a decision of this release was taken, in its
    /// environment or its project: that decision was judged against gates nobody else approved.
    break_glass: Vec<slipway_api::config_changes::BreakGlassView>,
    /// The configuration change requests of its project or of an environment it was promoted
    /// into, decided before one of those promotions' decisions: who asked, who approved or
    /// rejected (and their signature, where the environment required one), and the diff.
    config_changes: Vec<slipway_api::config_changes::ConfigChangeView>,
}

fn governance_section(f: &Facts) -> Result<Section, ServiceError> {
    Ok(Section {
        path: "governance.json",
        describes: "every promotion of the release with its go/no-go decision records (each criterion, verdict and evidence; overrides with who and why), approvals and rejections with their comments, change requests, the evidence checks CI reported, and every break-glass (a governed configuration change an admin applied alone) in force when one of its decisions was taken, and the configuration change requests of its project and environments decided before one of its decisions (diff, author, decider, signature).",
        bytes: json_bytes(&f.governance),
    })
}

/// The electronic signatures of the release's records, each with the record it signs and the
/// evidence key's seal, so `slipway evidence verify` checks them offline.
fn signatures_section(f: &Facts) -> Result<Section, ServiceError> {
    Ok(Section {
        path: bundle::SIGNATURES,
        describes: "the electronic signatures of the release's records (approvals, rejections, overrides, change-request decisions, configuration change decisions, risk acceptances of its findings): signer, printed name, time, meaning, the record signed and its SHA-256, and the evidence key's seal over them (verifiable offline).",
        bytes: json_bytes(&f.signatures),
    })
}

fn audit_section(f: &Facts) -> Result<Section, ServiceError> {
    Ok(Section {
        path: bundle::AUDIT,
        describes: "the audit events about the release in full, and the links (seq, prev_hash, hash) of every other event up to the head at export, to check the chain.",
        bytes: json_bytes(&f.proof),
    })
}

/// `inclusion.json`, when the server signs checkpoints: one section more, so it is assembled
/// apart from the fixed list.
fn inclusion_section(f: &Facts) -> Option<Section> {
    f.inclusion.as_ref().map(|file| Section {
        path: slipway_core::evidence::inclusion::INCLUSION,
        describes: "the audit events of audit.json held in full, each with its RFC 6962 inclusion proof against a checkpoint of the whole audit log signed by the server's checkpoint key (not in the database), and that key: check its fingerprint against the one the server printed at start (also `GET /api/v1/audit/checkpoints/key`).",
        bytes: json_bytes(file),
    })
}

fn summary_section(f: &Facts) -> Result<Section, ServiceError> {
    let html = Summary::from(f).render().map_err(|e| {
        ServiceError::invalid(format!("the summary could not be rendered: {e}"), "")
    })?;
    Ok(Section {
        path: "summary.html",
        describes: "the same, for people: one self-contained page (no script, nothing loaded from elsewhere).",
        bytes: html.into_bytes(),
    })
}

fn complaints_section(f: &Facts) -> Result<Section, ServiceError> {
    Ok(Section {
        path: "complaints.json",
        describes: "the complaints from the field reported against the release or attributed to it (the release running where they were seen) in its first 30 days in production, with their status, CAPA and the release that fixes them.",
        bytes: json_bytes(&f.complaints),
    })
}

/// Makes one content section from the facts.
type SectionMaker = fn(&Facts) -> Result<Section, ServiceError>;

/// The content sections, in archive order.
fn sections(f: &Facts) -> Result<Vec<Section>, ServiceError> {
    let makers: [SectionMaker; 8] = [
        summary_section,
        release_section,
        plan_section,
        deployments_section,
        governance_section,
        signatures_section,
        audit_section,
        complaints_section,
    ];
    makers.iter().map(|make| make(f)).collect()
}

/// Export the evidence bundle of a release (Read permission; audited as `evidence.export`).
pub async fn export(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    version: &str,
) -> Result<Bundle, ServiceError> {
    let view = super::releases::get(state, actor, project, version).await?;
    let version = view.release.version.to_string();
    let key = signing_key(state, actor).await?;
    let fingerprint = bundle::fingerprint(&key.public_key());

    let deployments = state
        .store
        .release_deployments(project.as_str(), &version)
        .await?;
    let promotions: Vec<slipway_api::governance::PromotionView> =
        crate::services::promotions::of_release(state, project.as_str(), &version)
            .await?
            .into_view();
    let break_glass = break_glasses_touching(state, project, &promotions).await?;
    let config_changes = config_changes_before(state, project, &promotions).await?;
    let governance = Governance {
        promotions,
        checks: state.store.checks(project.as_str(), &version).await?,
        break_glass,
        config_changes,
    };
    let exported_at = slipway_store::now();
    let mut tx = state.store.write().await?;
    tx.audit(entry(
        actor,
        "evidence.export",
        format!("release/{project}/{version}"),
        json!({ "key_fingerprint": fingerprint, "deployments": deployments.iter().map(|d| d.id).collect::<Vec<_>>() }),
    ));
    tx.commit().await?;
    let head = state.store.audit_head().await?;

    let scope = release_scope(project, &version, &deployments, &view, &governance);
    let proof = read_proof(state, scope, head.clone()).await?;
    let inclusion = super::checkpoints::inclusion_of(state, &proof.events).await?;
    let records = deployment_records(state, project.as_str(), &version, deployments).await?;
    let artifacts = artifact_records(state, &view).await?;
    let trusted_keys = state.store.signing_keys(project).await?;
    let plans = environment_plans(&view, &records);
    let complaints = super::complaints::of_release(state, project, &version)
        .await?
        .into_view();
    let signatures = signatures_of(state, project, &version, &governance).await?;

    let unix = exported_at
        .parse::<jiff::Timestamp>()
        .map(|t| t.as_second().max(0) as u64)
        .unwrap_or(0);
    let facts = Facts {
        view,
        artifacts,
        trusted_keys,
        plans,
        deployments: records,
        governance,
        proof,
        inclusion,
        exported_at: exported_at.clone(),
        exported_by: actor.username.clone(),
        fingerprint,
        complaints,
        signatures,
    };
    let export = Export {
        project: project.to_string(),
        release: version.clone(),
        exported_at,
        exported_at_unix: unix,
        exported_by: actor.username.clone(),
        software: format!("slipway {}", env!("CARGO_PKG_VERSION")),
        audit_head: head,
    };
    let mut members = sections(&facts)?;
    members.extend(inclusion_section(&facts));
    let (quality, reports) =
        super::evidence_quality::sections(state, project.as_str(), &version).await?;
    members.extend(quality);
    let bytes = bundle::assemble_with(&export, members, reports, &key);
    Ok(Bundle {
        file_name: format!("evidence-{project}-{version}.tar"),
        bytes,
    })
}

/// What the bundle's audit proof covers: the release's deployments, artifacts, promotions and
/// their change requests.
fn release_scope(
    project: &Name,
    version: &str,
    deployments: &[StoredDeployment],
    view: &ReleaseView,
    governance: &Governance,
) -> ReleaseScope {
    ReleaseScope::new(
        project.as_str(),
        version,
        deployments.iter().map(|d| d.id),
        view.release
            .artifacts
            .iter()
            .map(|a| (a.component.to_string(), a.version.to_string())),
    )
    .with_records(governance.promotions.iter().flat_map(|p| {
        std::iter::once(format!("promotion/{}", p.promotion.id)).chain(
            p.change_request
                .as_ref()
                .map(|c| format!("change_request/{}", c.id)),
        )
    }))
    .with_records(
        governance
            .config_changes
            .iter()
            .map(|c| format!("config-change/{}", c.id)),
    )
}

/// Each deployment with its tasks and its whole output: the release's tasks in one read and its
/// output a page at a time, whatever the number of deployments.
async fn deployment_records(
    state: &AppState,
    project: &str,
    version: &str,
    deployments: Vec<StoredDeployment>,
) -> Result<Vec<DeploymentRecord>, ServiceError> {
    let mut tasks = state.store.release_tasks(project, version).await?;
    let mut logs: std::collections::HashMap<i64, Vec<slipway_store::LogLine>> =
        std::collections::HashMap::new();
    let mut after: Option<slipway_store::ReleaseLogLine> = None;
    loop {
        let page = state
            .store
            .release_logs_after(project, version, after.as_ref(), PAGE)
            .await?;
        let done = (page.len() as i64) < PAGE;
        after = page.last().cloned();
        for l in page {
            logs.entry(l.deployment_id).or_default().push(l.line);
        }
        if done {
            break;
        }
    }
    Ok(deployments
        .into_iter()
        .map(|d| {
            let id = d.id;
            DeploymentRecord {
                deployment: d.into_view(),
                tasks: tasks.remove(&id).unwrap_or_default().into_view(),
                logs: logs.remove(&id).unwrap_or_default().into_view(),
            }
        })
        .collect())
}

/// Each artifact of the release with its signature's state at the export.
async fn artifact_records(
    state: &AppState,
    view: &ReleaseView,
) -> Result<Vec<ArtifactRecord>, ServiceError> {
    let mut artifacts = Vec::new();
    for a in &view.artifact_details {
        artifacts.push(ArtifactRecord {
            signature_at_export: current_signature_state(state, a).await?,
            artifact: a.clone().into_view(),
        });
    }
    Ok(artifacts)
}

/// The electronic signatures the bundle shows: the promotions' votes, the configuration change
/// decisions and the risk acceptances.
async fn signatures_of(
    state: &AppState,
    project: &Name,
    version: &str,
    governance: &Governance,
) -> Result<Vec<slipway_api::signatures::SignatureView>, ServiceError> {
    let mut signatures: Vec<slipway_api::signatures::SignatureView> = governance
        .promotions
        .iter()
        .flat_map(|p| p.signatures.iter().cloned())
        .collect();
    signatures.extend(
        governance
            .config_changes
            .iter()
            .filter_map(|c| c.signature.clone()),
    );
    signatures.extend(
        super::evidence_quality::risk_signatures(state, project.as_str(), version)
            .await?
            .into_view(),
    );
    Ok(signatures)
}

/// The audit subjects whose governance a release's bundle covers: its project, then each
/// environment it was promoted into, once.
fn governed_subjects(
    project_subject: &str,
    promotions: &[slipway_api::governance::PromotionView],
) -> Vec<String> {
    let mut subjects = vec![project_subject.to_string()];
    for p in promotions {
        let env = format!("environment/{}", p.promotion.environment);
        if !subjects.contains(&env) {
            subjects.push(env);
        }
    }
    subjects
}

/// The decided configuration change requests of the project, or of an environment it was
/// promoted into, decided no later than one of those promotions' decisions: the requests that
/// shaped (or tried to change) the gates the release was judged against. Each with its
/// decider's signature, if any.
async fn config_changes_before(
    state: &AppState,
    project: &Name,
    promotions: &[slipway_api::governance::PromotionView],
) -> Result<Vec<slipway_api::config_changes::ConfigChangeView>, ServiceError> {
    let project_subject = format!("project/{project}");
    let subjects = governed_subjects(&project_subject, promotions);
    let last_decision = |subject: &str| {
        promotions
            .iter()
            .filter(|p| {
                subject == project_subject
                    || subject == format!("environment/{}", p.promotion.environment)
            })
            .flat_map(|p| &p.decisions)
            .filter_map(|d| d.decided_at.parse::<jiff::Timestamp>().ok())
            .max()
    };
    let mut shown = Vec::new();
    for c in state.store.decided_config_changes_of(&subjects).await? {
        if let (Some(decided), Some(last)) = (c.decided_at, last_decision(&c.subject)) {
            if decided <= last {
                shown.push(super::config_changes::with_signature(state, c).await?);
            }
        }
    }
    Ok(shown)
}

/// The break-glasses of the project or of an environment it was promoted into that were in
/// force when one of those promotions' decisions was taken.
async fn break_glasses_touching(
    state: &AppState,
    project: &Name,
    promotions: &[slipway_api::governance::PromotionView],
) -> Result<Vec<slipway_api::config_changes::BreakGlassView>, ServiceError> {
    let project_subject = format!("project/{project}");
    let subjects = governed_subjects(&project_subject, promotions);
    let glasses = state.store.break_glasses_of(&subjects).await?;
    let touched = glasses.into_iter().filter(|g| {
        promotions
            .iter()
            .filter(|p| {
                g.subject == project_subject
                    || g.subject == format!("environment/{}", p.promotion.environment)
            })
            .flat_map(|p| &p.decisions)
            .filter_map(|d| d.decided_at.parse::<jiff::Timestamp>().ok())
            .any(|at| covers(g.started_at, g.until(), at))
    });
    Ok(touched.map(IntoView::into_view).collect())
}

/// Walk the chain from the start up to `head`, keeping what the proof needs.
async fn read_proof(
    state: &AppState,
    scope: ReleaseScope,
    head: ChainHead,
) -> Result<AuditProof, ServiceError> {
    let subjects: Vec<&str> = scope.exact_subjects().collect();
    let first = state
        .store
        .first_audit_seq(&subjects, &scope.subject_prefix())
        .await?;
    let mut builder = ProofBuilder::new(scope);
    // Nothing before the first event about the release goes into the proof: start there.
    let mut after = first.map_or(head.seq, |f| f - 1);
    while after < head.seq {
        let page: Vec<AuditEvent> = state
            .store
            .audit_events_between(after, head.seq, PAGE)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in page {
            builder.feed(e);
        }
    }
    Ok(builder.finish(head))
}

/// The environments of the release's lifecycle and those it was deployed to, each with its
/// applicable steps and derived rollback.
fn environment_plans(view: &ReleaseView, deployments: &[DeploymentRecord]) -> Vec<EnvironmentPlan> {
    let project = &view.release.snapshot.project;
    let mut names: Vec<Name> = Vec::new();
    let lifecycle = project
        .lifecycles
        .iter()
        .find(|l| Some(&l.name) == view.release.lifecycle.as_ref());
    for env in lifecycle
        .iter()
        .flat_map(|l| &l.phases)
        .flat_map(|p| &p.environments)
    {
        if !names.contains(env) {
            names.push(env.clone());
        }
    }
    for d in deployments {
        if let Ok(env) = Name::parse(&d.deployment.environment) {
            if !names.contains(&env) {
                names.push(env);
            }
        }
    }
    names
        .into_iter()
        .map(|environment| {
            let steps = project.steps_for(&environment);
            EnvironmentPlan {
                steps: steps.iter().map(|(n, _)| *n).collect(),
                rollback: derive_rollback(&steps),
                environment,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// summary.html

struct ArtifactRow {
    component: String,
    version: String,
    digest: String,
    size: u64,
    signature: String,
    signature_at_export: String,
    provenance: Vec<(String, String)>,
}

struct StepRow {
    number: usize,
    name: String,
    action: String,
    roles: String,
}

struct EnvPlanRow {
    environment: String,
    steps: String,
    rollback: Vec<String>,
    left_as_is: Vec<String>,
}

struct TaskRow {
    step: String,
    target: String,
    state: String,
    attempt: i64,
    started: String,
    finished: String,
    exit_code: String,
    lines: Vec<String>,
}

struct DeploymentRow {
    id: i64,
    environment: String,
    kind: String,
    state: String,
    requested_by: String,
    created_at: String,
    finished_at: String,
    failure: String,
    tasks: Vec<TaskRow>,
}

struct EventRow {
    seq: i64,
    at: String,
    actor: String,
    verb: String,
    subject: String,
}

#[derive(Template)]
#[template(path = "evidence_summary.html")]
struct Summary {
    project: String,
    version: String,
    channel: String,
    lifecycle: String,
    created: String,
    eligible: bool,
    exported_at: String,
    exported_by: String,
    fingerprint: String,
    head: String,
    artifacts: Vec<ArtifactRow>,
    notes: String,
    steps: Vec<StepRow>,
    plans: Vec<EnvPlanRow>,
    deployments: Vec<DeploymentRow>,
    promotions: Vec<PromotionRow>,
    signatures: Vec<SignatureRow>,
    events: Vec<EventRow>,
    links: usize,
}

/// An electronic signature as the summary shows it: who, when, what it means, what it signs.
struct SignatureRow {
    printed_name: String,
    signer: String,
    signed_at: String,
    meaning: String,
    record: String,
    record_hash: String,
}

impl From<&slipway_api::signatures::SignatureView> for SignatureRow {
    fn from(s: &slipway_api::signatures::SignatureView) -> SignatureRow {
        SignatureRow {
            printed_name: s.printed_name.clone(),
            signer: s.signer.clone(),
            signed_at: s.signed_at.clone(),
            meaning: format!("{} — “{}”", s.meaning, s.meaning.declaration()),
            record: format!("{} {}", s.record_kind, s.record_id),
            record_hash: s.record_hash.to_hex(),
        }
    }
}

/// A promotion as the summary shows it: its last decision, criterion by criterion.
struct PromotionRow {
    id: i64,
    environment: String,
    state: String,
    requested: String,
    decisions: Vec<String>,
    criteria: Vec<String>,
    overridden: String,
    votes: Vec<String>,
    change_request: String,
}

impl From<&slipway_api::governance::PromotionView> for PromotionRow {
    fn from(v: &slipway_api::governance::PromotionView) -> PromotionRow {
        let p = &v.promotion;
        let last = v.decisions.last();
        let record = last.and_then(|d| DecisionRecord::read(&d.record));
        let criteria = record
            .as_ref()
            .map(|r| r.judgement.criteria.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|c| format!("{} — {}: {}", c.name, c.verdict.as_str(), c.detail))
            .collect();
        let overridden = record
            .and_then(|r| r.overridden)
            .map(|o| format!("overridden by {}: {}", o.by, o.reason))
            .unwrap_or_default();
        PromotionRow {
            id: p.id,
            environment: p.environment.clone(),
            state: p.state.as_str().to_string(),
            requested: format!("{} · {}", p.requested_by, p.requested_at),
            decisions: v
                .decisions
                .iter()
                .map(|d| format!("{} at {}", d.decision, d.decided_at))
                .collect(),
            criteria,
            overridden,
            votes: v
                .votes
                .iter()
                .map(|vote| {
                    format!(
                        "{} ({}) {}: {}",
                        vote.username,
                        vote.role,
                        if vote.approve { "approved" } else { "rejected" },
                        vote.comment
                    )
                })
                .collect(),
            change_request: v
                .change_request
                .as_ref()
                .map(|c| {
                    format!(
                        "change request {} {:?}{}",
                        c.id,
                        c.state,
                        c.decided_by
                            .as_ref()
                            .map(|by| format!(
                                " by {by}: {}",
                                c.comment.clone().unwrap_or_default()
                            ))
                            .unwrap_or_default()
                    )
                })
                .unwrap_or_default(),
        }
    }
}

fn or_dash(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

impl From<&Facts> for Summary {
    fn from(f: &Facts) -> Summary {
        let r = &f.view.release;
        let artifacts = f.artifacts.iter().map(artifact_row).collect();
        let steps = r
            .snapshot
            .project
            .plan
            .iter()
            .enumerate()
            .map(|(i, s)| step_row(i, s))
            .collect();
        let plans = f.plans.iter().map(plan_row).collect();
        let deployments = f.deployments.iter().map(deployment_row).collect();
        let promotions = f
            .governance
            .promotions
            .iter()
            .map(PromotionRow::from)
            .collect();
        Summary {
            promotions,
            signatures: f.signatures.iter().map(SignatureRow::from).collect(),
            project: r.project.to_string(),
            version: r.version.to_string(),
            channel: r.channel.to_string(),
            lifecycle: r.lifecycle.as_ref().map_or("-".into(), ToString::to_string),
            created: format!("{} · {}", r.created_by, r.created_at),
            eligible: r.eligible_for_protected,
            exported_at: f.exported_at.clone(),
            exported_by: f.exported_by.clone(),
            fingerprint: f.fingerprint.clone(),
            head: format!("event {} ({})", f.proof.head.seq, f.proof.head.hash),
            artifacts,
            notes: r.notes.to_markdown(),
            steps,
            plans,
            deployments,
            events: f
                .proof
                .events
                .iter()
                .map(|e| EventRow {
                    seq: e.seq,
                    at: e.at.clone(),
                    actor: e.actor.clone(),
                    verb: e.verb.clone(),
                    subject: e.subject.clone(),
                })
                .collect(),
            links: f.proof.links.len(),
        }
    }
}

fn artifact_row(a: &ArtifactRecord) -> ArtifactRow {
    let p = &a.artifact.provenance;
    let mut provenance: Vec<(String, String)> = [
        ("commit", &p.commit),
        ("branch", &p.branch),
        ("pipeline", &p.pipeline_url),
        ("builder", &p.builder),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_string(), v.clone())))
    .collect();
    provenance.extend(p.meta.iter().map(|(k, v)| (k.clone(), v.clone())));
    ArtifactRow {
        component: a.artifact.component.to_string(),
        version: a.artifact.version.to_string(),
        digest: a.artifact.digest.to_hex(),
        size: a.artifact.size,
        signature: match &a.artifact.signature {
            Some(s) => format!("{} ({s})", a.artifact.signature_state.describe()),
            None => a.artifact.signature_state.describe(),
        },
        signature_at_export: a.signature_at_export.describe(),
        provenance,
    }
}

fn step_row(i: usize, s: &slipway_core::plan::Step) -> StepRow {
    StepRow {
        number: i + 1,
        name: s.name.clone(),
        action: s.action.summary(),
        roles: s
            .roles
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn plan_row(p: &EnvironmentPlan) -> EnvPlanRow {
    EnvPlanRow {
        environment: p.environment.to_string(),
        steps: p
            .steps
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        rollback: p
            .rollback
            .steps
            .iter()
            .map(|s| format!("{} — {}", s.name, s.action.summary()))
            .collect(),
        left_as_is: p
            .rollback
            .left_as_is
            .iter()
            .map(|l| format!("step {} {}: {}", l.step, l.name, l.reason))
            .collect(),
    }
}

fn deployment_row(d: &DeploymentRecord) -> DeploymentRow {
    let mut lines: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for l in &d.logs {
        let attempt = if l.attempt > 1 {
            format!(" [attempt {}]", l.attempt)
        } else {
            String::new()
        };
        lines
            .entry(l.task_id.as_str())
            .or_default()
            .push(format!("{}{attempt} {}", l.at, l.line));
    }
    let dep = &d.deployment;
    DeploymentRow {
        id: dep.id,
        environment: dep.environment.clone(),
        kind: dep.kind.as_str().to_string(),
        state: dep.state.as_str().to_string(),
        requested_by: dep.requested_by.clone(),
        created_at: dep.created_at.clone(),
        finished_at: or_dash(&dep.finished_at),
        failure: or_dash(&dep.failure),
        tasks: d
            .tasks
            .iter()
            .map(|t| {
                let runs = match t.phase {
                    Phase::Forward => &dep.runs,
                    Phase::Rollback => &dep.rollback_runs,
                };
                let step = runs
                    .get(t.run_index as usize)
                    .map(|run| format!("{} {}", run.step, run.name))
                    .unwrap_or_else(|| format!("run {}", t.run_index));
                TaskRow {
                    step: format!("{} · {step}", t.phase),
                    target: t.target.clone(),
                    state: t.state.as_str().to_string(),
                    attempt: t.attempt,
                    started: or_dash(&t.started_at),
                    finished: or_dash(&t.finished_at),
                    exit_code: t.exit_code.map_or("-".into(), |c| c.to_string()),
                    lines: lines.get(t.id.as_str()).cloned().unwrap_or_default(),
                }
            })
            .collect(),
    }
}
