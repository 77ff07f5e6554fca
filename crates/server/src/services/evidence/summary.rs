//! `summary.html`, the bundle's page for people, in parts so that it is written as the
//! deployments and the audit chain are read: [`Head`] (release, artifacts, notes, plans), one
//! [`deployment`] at a time, [`Tail`] (promotions, signatures, the audit events' counts), one
//! [`event_row`] per audit event held in full (written while the chain is walked), then
//! [`CLOSING`]. It only renders facts already gathered; nothing here reads the store.

use std::collections::BTreeMap;

use askama::Template;
use slipway_core::audit::AuditEvent;
use slipway_core::deploy::state::Phase;
use slipway_core::governance::DecisionRecord;

use super::{ArtifactRecord, DeploymentRecord, EnvironmentPlan, Facts};
use crate::ServiceError;

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

/// One audit event held in full, as the summary's table shows it.
#[derive(Template)]
#[template(path = "evidence_summary_event.html")]
struct EventRow<'a> {
    e: &'a AuditEvent,
}

/// The summary after its event rows.
pub(super) const CLOSING: &str = "</tbody>\n</table>\n</body>\n</html>\n";

/// The summary's row of an audit event held in full, rendered, with its line end.
pub(super) fn event_row(e: &AuditEvent) -> Result<String, ServiceError> {
    let mut row = render(&EventRow { e })?;
    if !row.ends_with('\n') {
        row.push('\n');
    }
    Ok(row)
}

/// The summary up to its deployments: the release, its artifacts, notes, plan and rollback plans.
#[derive(Template)]
#[template(path = "evidence_summary_head.html")]
pub(super) struct Head {
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
    never_deployed: bool,
}

/// One deployment of the summary, with its tasks and their output.
#[derive(Template)]
#[template(path = "evidence_summary_deployment.html")]
struct Deployment {
    d: DeploymentRow,
}

/// The summary after its deployments: promotions, signatures, the audit events' counts, up to
/// the table of the events' rows.
#[derive(Template)]
#[template(path = "evidence_summary_tail.html")]
pub(super) struct Tail {
    promotions: Vec<PromotionRow>,
    signatures: Vec<SignatureRow>,
    events: usize,
    links: u64,
    /// The events and the head are proven by inclusion.json, not by links.
    proven_by_checkpoint: bool,
}

/// The summary's part about one deployment, rendered.
pub(super) fn deployment(d: &DeploymentRecord) -> Result<String, ServiceError> {
    render(&Deployment {
        d: deployment_row(d),
    })
}

/// A part of the summary, rendered.
pub(super) fn render(part: &impl Template) -> Result<String, ServiceError> {
    part.render()
        .map_err(|e| ServiceError::invalid(format!("the summary could not be rendered: {e}"), ""))
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

impl Head {
    /// The head of the summary of `f`; `never_deployed` when the release has no deployment.
    pub(super) fn of(f: &Facts, never_deployed: bool) -> Head {
        let r = &f.view.release;
        Head {
            project: r.project.to_string(),
            version: r.version.to_string(),
            channel: r.channel.to_string(),
            lifecycle: r.lifecycle.as_ref().map_or("-".into(), ToString::to_string),
            created: format!("{} · {}", r.created_by, r.created_at),
            eligible: r.eligible_for_protected,
            exported_at: f.exported_at.clone(),
            exported_by: f.exported_by.clone(),
            fingerprint: f.fingerprint.clone(),
            head: format!("event {} ({})", f.audit.head.seq, f.audit.head.hash),
            artifacts: f.artifacts.iter().map(artifact_row).collect(),
            notes: r.notes.to_markdown(),
            steps: r
                .snapshot
                .project
                .plan
                .iter()
                .enumerate()
                .map(|(i, s)| step_row(i, s))
                .collect(),
            plans: f.plans.iter().map(plan_row).collect(),
            never_deployed,
        }
    }
}

impl From<&Facts> for Tail {
    fn from(f: &Facts) -> Tail {
        Tail {
            promotions: f
                .governance
                .promotions
                .iter()
                .map(PromotionRow::from)
                .collect(),
            signatures: f.signatures.iter().map(SignatureRow::from).collect(),
            events: f.audit.events,
            links: f.audit.links,
            proven_by_checkpoint: f.audit.chain
                == slipway_core::evidence::proof::ChainEvidence::Checkpoint,
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
