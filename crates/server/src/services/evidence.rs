//! Evidence bundles: everything an auditor needs about one release, in one archive they can
//! check without Slipway (see docs/evidence.md).
//!
//! The bundle is a list of sections, each made by one small function from the facts gathered
//! once ([`Facts`]), but for the two that grow with the release's deployments (`summary.html`,
//! `deployments.json`): those are written a page of deployments at a time ([`spool_deployments`])
//! to temporary files, as are `audit.json` and `inclusion.json`, written as the release's own
//! audit events are read by subject, or the chain walked from the first of them when the links
//! need it ([`walk_chain`], [`audit_file`]), and [`spool::archive`] streams the whole with the README, the signed
//! manifest, the key and SHA256SUMS around it. A new section (e.g. governance records) is one
//! function and one line in [`sections`].
//!
//! The evidence key: an ed25519 key per server, created at first use, kept in the `settings`
//! table as `evidence.signing_key`, its seed sealed with the master key (so a database copy alone
//! cannot sign). Its creation is audited (`evidence.key_create`). Exporting is a disclosure, so
//! it is audited too (`evidence.export`), before the audit chain is read: the bundle holds its
//! own export event.

mod audit_file;
mod pages;
mod spool;
mod summary;

use std::pin::Pin;

use serde::Serialize;
use serde_json::json;
use slipway_core::access::Operation;
use slipway_core::audit::{AuditEvent, ChainHead};
use slipway_core::evidence::proof::{ChainEvidence, ProofWalk, ReleaseScope};
use slipway_core::evidence::{self as bundle, Export, Section};
use slipway_core::governance::config_change::covers;
use slipway_core::release::SignatureState;
use slipway_core::rollback::{derive_rollback, RollbackPlan};
use slipway_core::Name;
use slipway_store::SigningKeyRecord;
use tokio::io::AsyncRead;

use super::artifacts::current_signature_state;
use super::evidence_key::signing_key;
use super::releases::ReleaseView;
use super::{entry, require};
use crate::auth::Actor;
use crate::views::IntoView;
use crate::{AppState, ServiceError};

/// Pages of audit events read at a time.
const PAGE: i64 = 5000;

/// Deployments read, rendered and written at a time: what an export holds in memory at once,
/// whatever the number of deployments (with their tasks and output).
const DEPLOYMENT_PAGE: i64 = 100;

/// The evidence key as the server shows it, for auditors to compare fingerprints.
pub use slipway_api::evidence::KeyView;

/// An exported bundle: its suggested file name, its length and its bytes (an uncompressed tar)
/// as a reader, to stream to whoever asked.
pub struct Bundle {
    pub file_name: String,
    pub size: u64,
    pub bytes: Pin<Box<dyn AsyncRead + Send>>,
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
    governance: Governance,
    /// What `audit.json` holds, counted (the file itself is spooled: [`audit_file`]).
    audit: AuditCounts,
    exported_at: String,
    exported_by: String,
    fingerprint: String,
    /// The complaints of the release's first 30 days in production.
    complaints: Vec<slipway_api::complaints::ComplaintView>,
    /// Every electronic signature of the release's records: votes, overrides and change-request
    /// decisions of its promotions, then its findings' risk acceptances.
    signatures: Vec<slipway_api::signatures::SignatureView>,
}

/// The head at export, how many events `audit.json` holds in full and as links, and what ties
/// them to the head.
struct AuditCounts {
    head: ChainHead,
    events: usize,
    links: u64,
    chain: ChainEvidence,
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

/// What `audit.json` holds, in the README, by what ties its events to the head.
fn audit_describes(chain: ChainEvidence) -> &'static str {
    match chain {
        ChainEvidence::Links => "the audit events about the release in full, and the links (seq, prev_hash, hash) of every other event up to the head at export, to check the chain (\"chain\": \"links\").",
        ChainEvidence::Checkpoint => "the audit events about the release in full, and the head at export; no links (\"chain\": \"checkpoint\"): each event and the head are proven in the log by inclusion.json instead.",
    }
}

const INCLUSION_DESCRIBES: &str = "the audit events of audit.json held in full, each with its RFC 6962 inclusion proof against a checkpoint of the whole audit log signed by the server's checkpoint key (not in the database), and that key: check its fingerprint against the one the server printed at start (also `GET /api/v1/audit/checkpoints/key`).";

fn complaints_section(f: &Facts) -> Result<Section, ServiceError> {
    Ok(Section {
        path: "complaints.json",
        describes: "the complaints from the field reported against the release or attributed to it (the release running where they were seen) in its first 30 days in production, with their status, CAPA and the release that fixes them.",
        bytes: json_bytes(&f.complaints),
    })
}

/// Makes one content section from the facts.
type SectionMaker = fn(&Facts) -> Result<Section, ServiceError>;

/// The content sections held whole that come between `summary.html` and `deployments.json`
/// (both spooled, [`spool_deployments`]), in archive order.
const BEFORE_DEPLOYMENTS: [SectionMaker; 2] = [release_section, plan_section];

/// The content sections held whole that come after `deployments.json` and before `audit.json`
/// (spooled), in archive order.
const BEFORE_AUDIT: [SectionMaker; 2] = [governance_section, signatures_section];

/// The sections `makers` make from `f`, as parts of the archive.
fn held(f: &Facts, makers: &[SectionMaker]) -> Result<Vec<spool::Part>, ServiceError> {
    makers.iter().map(|make| make(f).map(held_part)).collect()
}

fn held_part(section: Section) -> spool::Part {
    spool::Part {
        path: section.path.into(),
        describes: section.describes.into(),
        content: spool::Content::Held(section.bytes),
    }
}

/// Export the evidence bundle of a release (Read permission; audited as `evidence.export`).
///
/// The deployments are read, written to temporary files and hashed a page at a time; the
/// bundle is then streamed from those files, so memory does not grow with the release's
/// history (docs/evidence.md).
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

    // The deployments the bundle covers are those that exist now: the audit event names them,
    // the proof's scope and the pages below keep to them.
    let deployments = state
        .store
        .release_deployment_environments(project.as_str(), &version)
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
        json!({ "key_fingerprint": fingerprint, "deployments": deployments.iter().map(|(id, _)| *id).collect::<Vec<_>>() }),
    ));
    tx.commit().await?;
    let head = state.store.audit_head().await?;

    let scope = release_scope(project, &version, &deployments, &view, &governance);
    // A server that signs checkpoints proves the full events and the head by inclusion, so the
    // links, which grow with the whole log, are left out; one that does not keeps them.
    let material = super::checkpoints::inclusion_material(state).await?;
    let chain = if material.is_some() {
        ChainEvidence::Checkpoint
    } else {
        ChainEvidence::Links
    };
    let walked = walk_chain(state, ProofWalk::new(scope, chain), head.clone()).await?;
    let inclusion = match material {
        Some(mut material) => {
            Some(audit_file::inclusion_file(&mut material, head.seq, &walked.full).await?)
        }
        None => None,
    };
    let artifacts = artifact_records(state, &view).await?;
    let trusted_keys = state.store.signing_keys(project).await?;
    let plans = environment_plans(&view, deployments.iter().map(|(_, env)| env.as_str()));
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
        governance,
        audit: AuditCounts {
            head: walked.head,
            events: walked.full.len(),
            links: walked.links,
            chain,
        },
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
    let last = deployments.last().map(|(id, _)| *id);
    drop(deployments);
    let (summary, records) = spool_deployments(
        state,
        &facts,
        walked.rows,
        DeploymentsOf {
            project: project.as_str(),
            version: &version,
            last,
        },
    )
    .await?;
    let mut parts = vec![summary];
    parts.extend(held(&facts, &BEFORE_DEPLOYMENTS)?);
    parts.push(records);
    parts.extend(held(&facts, &BEFORE_AUDIT)?);
    parts.push(spooled_part(
        bundle::AUDIT,
        audit_describes(chain),
        walked.file,
    ));
    parts.push(held_part(complaints_section(&facts)?));
    parts.extend(inclusion.map(|file| {
        spooled_part(
            slipway_core::evidence::inclusion::INCLUSION,
            INCLUSION_DESCRIBES,
            file,
        )
    }));
    let (quality, reports) =
        super::evidence_quality::sections(state, project.as_str(), &version).await?;
    parts.extend(quality.into_iter().map(held_part));
    parts.extend(reports.into_iter().map(|a| spool::Part {
        path: a.path,
        describes: a.describes,
        content: spool::Content::Held(a.bytes),
    }));
    let archive = spool::archive(&export, parts, &key).await?;
    Ok(Bundle {
        file_name: format!("evidence-{project}-{version}.tar"),
        size: archive.size,
        bytes: archive.reader,
    })
}

/// What the bundle's audit proof covers: the release's deployments, artifacts, promotions and
/// their change requests.
fn release_scope(
    project: &Name,
    version: &str,
    deployments: &[(i64, String)],
    view: &ReleaseView,
    governance: &Governance,
) -> ReleaseScope {
    ReleaseScope::new(
        project.as_str(),
        version,
        deployments.iter().map(|(id, _)| *id),
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

const SUMMARY_DESCRIBES: &str =
    "the same, for people: one self-contained page (no script, nothing loaded from elsewhere).";

const DEPLOYMENTS_DESCRIBES: &str = "every deployment of the release (deploy, dry run, rollback): runs, tasks with states, attempts and times, and every step log line (secrets masked).";

fn spooled_part(path: &str, describes: &str, file: spool::SpoolFile) -> spool::Part {
    spool::Part {
        path: path.into(),
        describes: describes.into(),
        content: spool::Content::Spooled(Box::new(file)),
    }
}

/// The deployments of a release up to `last` (the newest the export covers; none when it was
/// never deployed).
struct DeploymentsOf<'a> {
    project: &'a str,
    version: &'a str,
    last: Option<i64>,
}

/// `summary.html` and `deployments.json`, written to temporary files a page of deployments at a
/// time (each with its tasks and whole output); the summary ends with `event_rows`, its rows of
/// the audit events held in full (spooled while the chain was walked).
async fn spool_deployments(
    state: &AppState,
    facts: &Facts,
    event_rows: spool::SpoolFile,
    of: DeploymentsOf<'_>,
) -> Result<(spool::Part, spool::Part), ServiceError> {
    let mut summary = spool::SpoolFile::new().await?;
    summary
        .write(summary::render(&summary::Head::of(facts, of.last.is_none()))?.as_bytes())
        .await?;
    let mut records = spool::JsonArray::new().await?;
    let mut pages = pages::DeploymentPages::new(of.project, of.version, of.last, DEPLOYMENT_PAGE);
    while let Some(page) = pages.next(&state.store).await? {
        for record in page {
            summary
                .write(summary::deployment(&record)?.as_bytes())
                .await?;
            records.push(&record).await?;
        }
    }
    summary
        .write(summary::render(&summary::Tail::from(facts))?.as_bytes())
        .await?;
    summary.append(event_rows).await?;
    summary.write(summary::CLOSING.as_bytes()).await?;
    Ok((
        spooled_part("summary.html", SUMMARY_DESCRIBES, summary),
        spooled_part(
            "deployments.json",
            DEPLOYMENTS_DESCRIBES,
            records.finish().await?,
        ),
    ))
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

/// `audit.json` up to `head`: the release's own events, found by subject; then, for a proof that
/// rests on a checkpoint, those events alone, read by sequence number a page at a time, so the
/// export reads nothing of the log's other events however many there are; for a proof of links,
/// the chain from the first of them to the head, a page at a time, as the links need it.
async fn walk_chain(
    state: &AppState,
    walk: ProofWalk,
    head: ChainHead,
) -> Result<audit_file::AuditFile, ServiceError> {
    let full = {
        let scope = walk.scope();
        let subjects: Vec<&str> = scope.exact_subjects().collect();
        state
            .store
            .audit_seqs_about(&subjects, &scope.subject_prefix(), head.seq)
            .await?
    };
    let head_seq = head.seq;
    let chain = walk.chain();
    let mut writer = audit_file::AuditFileWriter::new(walk, head).await?;
    match chain {
        ChainEvidence::Checkpoint => {
            for seqs in full.chunks(slipway_store::EVENTS_PER_READ) {
                for e in &state.store.audit_events_at(seqs).await? {
                    writer.feed(e).await?;
                }
            }
        }
        ChainEvidence::Links => {
            // Nothing before the first event about the release goes into the proof: start there.
            let mut after = full.first().map_or(head_seq, |f| f - 1);
            drop(full);
            while after < head_seq {
                let page: Vec<AuditEvent> = state
                    .store
                    .audit_events_between(after, head_seq, PAGE)
                    .await?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                for e in &page {
                    writer.feed(e).await?;
                }
            }
        }
    }
    writer.finish().await
}

/// The environments of the release's lifecycle and those it was deployed to, each with its
/// applicable steps and derived rollback.
fn environment_plans<'a>(
    view: &ReleaseView,
    deployed_to: impl Iterator<Item = &'a str>,
) -> Vec<EnvironmentPlan> {
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
    for env in deployed_to {
        if let Ok(env) = Name::parse(env) {
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
