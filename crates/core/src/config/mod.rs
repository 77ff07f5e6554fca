//! `slipway.yaml`: the file format, its JSON Schema, and its parsing into the validated model.
//!
//! Errors name file, line, column, what is wrong and how to fix it. Parsing goes YAML → JSON
//! value (remembering positions) → the file types below (serde, unknown keys refused) → the model
//! (cross-references and action parameters checked). Every error of a file is reported at once.

mod alerts;
mod batches;
mod flag_edit;
mod flags;
mod health;
mod log_rules;
mod rollout;
mod shape;
mod test_suites;
pub(crate) mod yaml;

use std::collections::BTreeSet;
use std::fmt;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

pub use flag_edit::{
    flag_state_edit, flag_state_text, flag_state_value, new_flag, FlagStateEdit, FlagStateSpec,
    NewFlag, NewFlagSpec, MAX_EDIT_BYTES,
};
pub use yaml::Position;

/// The longest remediation deadline a project may give (ten years).
const MAX_REMEDIATION_DAYS: u32 = 3650;
use yaml::Positions;

use crate::model::{
    Component, ComponentKind, Environment, Lifecycle, LifecycleRule, Phase, Project, VariableDecl,
    VariableScope, VersionBump,
};
use crate::name::Name;
use crate::plan::{Action, Condition, Step};

/// A Slipway configuration file: the environment chain, a project, or both.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "slipway.yaml")]
pub struct ConfigFile {
    /// The environment chain, in delivery order (DEV first, PROD last).
    #[serde(default)]
    pub environments: Vec<EnvironmentSpec>,
    /// One project: its components, variables, deployment plan and lifecycles.
    #[serde(default)]
    pub project: Option<ProjectSpec>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSpec {
    pub name: Name,
    /// Region for regional environments (EU, US, EMEA…).
    #[serde(default)]
    pub region: Option<Name>,
    /// Only ops and admins change or deploy to a protected environment.
    #[serde(default)]
    pub protected: bool,
    #[serde(default)]
    pub description: String,
    /// When a step fails: `stop_and_ask` (retry, skip or roll back by hand) or `roll_back`.
    #[serde(default)]
    pub on_failure: crate::model::FailurePolicy,
    /// Whether only artifacts validly signed by a key the project trusts may be deployed here;
    /// checked at release creation, at deployment and at every artifact hand-out.
    /// Default: the value of `protected`.
    #[serde(default)]
    pub require_signatures: Option<bool>,
    /// What a release must satisfy before it enters this environment.
    #[serde(default)]
    pub gates: Option<GatesSpec>,
    /// Deployments here count as production in the DORA metrics (docs/insights.md). Never
    /// guessed from the name: without one production environment, the metrics say
    /// "not configured".
    #[serde(default)]
    pub production: bool,
}

/// Gates on entering an environment. Every promotion is judged against them and the decision
/// (go, wait or no-go, with each criterion's evidence) is recorded.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatesSpec {
    /// N people holding a role approve; never the release's author nor the person promoting.
    #[serde(default)]
    pub approvals: Option<ApprovalSpec>,
    /// IANA time zone of the window and freezes (Europe/Paris); UTC when absent.
    #[serde(default)]
    pub timezone: Option<String>,
    /// When deployments may happen, e.g. `{ days: [tue, wed, thu], from: "20:00", to: "23:00" }`.
    #[serde(default)]
    pub window: Option<WindowSpec>,
    /// A promotion requested while closed: `wait` for the next opening, or `refuse` it.
    #[serde(default)]
    pub outside_window: crate::gates::OutsideWindow,
    /// Periods when nothing is deployed, whole days: `{ from: 2026-12-20, to: 2027-01-03, reason: … }`.
    #[serde(default)]
    pub freezes: Vec<FreezeSpec>,
    /// Evidence checks CI must report as passed for the release (`slipway check report`).
    #[serde(default)]
    pub checks: Vec<Name>,
    /// The release must first have been deployed, rolled back and redeployed in this environment.
    #[serde(default)]
    pub rollback_rehearsed_in: Option<Name>,
    /// Open a change request the CAB approves. Default: yes for protected environments.
    #[serde(default)]
    pub change_request: Option<bool>,
    /// No undeclared drift from this environment (variables, target facts, deployed digests).
    #[serde(default)]
    pub parity_with: Option<Name>,
    /// Vulnerability findings: none past its deadline; `max_open: { critical: 0 }` caps them.
    #[serde(default)]
    pub findings: Option<crate::gates::FindingsGate>,
    /// Test suites whose latest run of the release must pass: `{ suites: [e2e], in: MET }`.
    #[serde(default)]
    pub tests: Option<crate::gates::TestsGate>,
    /// Flaky share caps: `[{ suite: e2e, in: MET, max_percent: 2, runs: 30 }]`.
    #[serde(default)]
    pub flaky: Vec<crate::gates::FlakyGate>,
    /// Line coverage minimums per kind, in percent: `{ unit: 70, contract: 90 }`.
    #[serde(default)]
    pub coverage: crate::gates::CoverageGate,
    /// The release's latest code-quality gate (SonarQube's webhook) passed.
    #[serde(default)]
    pub quality_gate: bool,
    /// Electronic signatures (a fresh password and a fixed meaning): `required` for every
    /// action, or a list of approvals, rejections, change_requests, overrides,
    /// risk_acceptances, config_changes. Default: none.
    #[serde(default)]
    pub signatures: Option<crate::signature::policy::SignaturesSpec>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalSpec {
    /// How many distinct people must approve.
    #[serde(default = "one")]
    pub count: u32,
    /// The role they must hold.
    pub role: crate::access::Role,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    pub days: Vec<crate::gates::calendar::Day>,
    /// Opening time, HH:MM.
    pub from: String,
    /// Closing time, HH:MM; at or before `from` means the next day.
    pub to: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeSpec {
    /// First frozen day, YYYY-MM-DD.
    pub from: String,
    /// Last frozen day (included), YYYY-MM-DD.
    pub to: String,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectSpec {
    pub name: Name,
    #[serde(default)]
    pub description: String,
    /// The team that owns the project, e.g. `payments`: DORA per team counts the projects whose
    /// `team:` names it (`slipway insights dora --team payments`).
    #[serde(default)]
    pub team: Option<Name>,
    #[serde(default)]
    pub components: Vec<ComponentSpec>,
    #[serde(default)]
    pub variables: Vec<VariableSpec>,
    /// The deployment plan: steps run in this order.
    #[serde(default)]
    pub plan: Vec<StepSpec>,
    #[serde(default)]
    pub lifecycles: Vec<LifecycleSpec>,
    /// The project's batches: schedule, supervision limits, owner and customers.
    #[serde(default)]
    pub batches: Vec<batches::BatchSpec>,
    /// Health probes (HTTP or TCP) the agents of each environment run.
    #[serde(default)]
    pub probes: Vec<health::ProbeSpec>,
    /// The availability objective of the service; 99.9 % over 30 days when absent.
    #[serde(default)]
    pub slo: Option<health::SloSpec>,
    /// Vulnerability findings: how long each severity may stay open.
    #[serde(default)]
    pub findings: Option<FindingsSpec>,
    /// Where the project's alerts go: channels (chat, e-mail), routes, re-notification.
    #[serde(default)]
    pub alerts: Option<alerts::AlertsSpec>,
    /// Feature flags: their state in every environment, and the environments that differ.
    #[serde(default)]
    pub flags: Vec<flags::FlagSpec>,
    /// Named, reusable constraint sets that flag strategies name under `segments:` (Unleash's
    /// segments), e.g. `{ name: beta-tenants, constraints: [{ context: tenant, operator: IN, values: [acme] }] }`.
    #[serde(default)]
    pub flag_segments: Vec<flags::SegmentSpec>,
    /// A canary: the share of an environment's targets the whole plan runs on first, `10%` or
    /// a count such as `1`, or a share per role (`{ roles: { web: 1 } }`); the rest receive the
    /// release only once the canary succeeded.
    #[serde(default)]
    pub canary: Option<rollout::CanarySpec>,
    /// Maintenance windows of every batch of the project, written like a batch's
    /// `maintenance:`; limit one to some environments with `environments:`.
    #[serde(default)]
    pub batch_maintenance: Vec<batches::MaintenanceSpec>,
    /// Test batteries `slipway tests trigger` runs on demand, by suite name.
    #[serde(default)]
    pub tests: Option<test_suites::TestsSpec>,
}

/// How the findings of a project's scans are judged.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingsSpec {
    /// Days from a finding's first sighting to its remediation deadline, per severity
    /// (critical, high, medium, low, unknown); a severity given here replaces the default
    /// (critical 7, high 30); one not given keeps it.
    #[serde(default)]
    pub deadlines: std::collections::BTreeMap<crate::quality::Severity, u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentSpec {
    pub name: Name,
    pub kind: ComponentKind,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VariableSpec {
    pub name: Name,
    /// The value; absent for sensitive variables, whose values are set with `slipway variable set`.
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub sensitive: bool,
    /// Only in this environment.
    #[serde(default)]
    pub environment: Option<Name>,
    /// Only on targets holding this role.
    #[serde(default)]
    pub role: Option<Name>,
    #[serde(default)]
    pub description: String,
    /// Each environment holds its own value on purpose (set with `slipway variable set --env`):
    /// `slipway parity` lists the differences as declared, not as drift.
    #[serde(default)]
    pub per_environment: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    pub name: String,
    /// One of the action names listed in docs/config.md (command, artifact.place, service.stop…).
    pub action: String,
    /// The target roles this step runs on; empty means every target of the environment.
    #[serde(default)]
    pub roles: Vec<Name>,
    /// The action's parameters.
    #[serde(default)]
    pub with: Map<String, Value>,
    #[serde(default)]
    pub when: Option<ConditionSpec>,
    /// Rolling: run on at most this many targets at a time, batch after batch.
    #[serde(default)]
    pub batch_size: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionSpec {
    /// Run only in these environments.
    #[serde(default)]
    pub environments: Vec<Name>,
    /// Never run in these environments.
    #[serde(default)]
    pub not_environments: Vec<Name>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LifecycleSpec {
    pub name: Name,
    pub phases: Vec<PhaseSpec>,
    /// Which releases follow this lifecycle; a lifecycle without `when` is the default.
    #[serde(default)]
    pub when: Option<RuleSpec>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseSpec {
    /// Defaults to the name of the phase's first environment.
    #[serde(default)]
    pub name: Option<Name>,
    /// One environment, or several regional ones deployed in waves.
    pub environments: Vec<Name>,
    #[serde(default)]
    pub automatic: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    #[serde(default)]
    pub bump: Vec<VersionBump>,
    #[serde(default)]
    pub prerelease: Option<bool>,
    #[serde(default)]
    pub label: Option<Name>,
}

/// The JSON Schema of `slipway.yaml`, for editors.
pub fn json_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(ConfigFile)).expect("a schema always serialises")
}

/// One thing wrong with a configuration file, and where.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// The path of the offending value, e.g. `project.plan[3].action`.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )?;
        if !self.path.is_empty() {
            write!(f, " (at {})", self.path)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every error found in the files, in file and line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// What one or more configuration files declare, validated.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    pub environments: Vec<Environment>,
    pub projects: Vec<Project>,
    /// The feature flags each project declares (its `flags:`), by project.
    pub flags: Vec<ProjectFlags>,
}

/// The flags one project declares in its file; absent when the file has no `flags:` key, so
/// that a project file without flags leaves the flags on the server alone.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectFlags {
    pub project: Name,
    pub flags: Vec<crate::flags::FlagDecl>,
}

/// A source file: its name (as shown in errors) and its text.
pub struct Source<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

/// Parse and validate files together: environments declared in one file satisfy references in
/// another. References to environments that no file declares are left for the server to check
/// (see [`Project::referenced_environments`]) unless some file declares environments.
pub fn load(sources: &[Source<'_>]) -> Result<Config, ConfigErrors> {
    let mut errors = Vec::new();
    let mut config = Config::default();
    let mut parsed = Vec::new();
    for source in sources {
        let (file, mut file_errors) = parse_file(source);
        errors.append(&mut file_errors);
        parsed.extend(file);
    }
    let mut env_positions = BTreeSet::new();
    for file in &parsed {
        for env in &file.environments {
            if !env_positions.insert(env.name.clone()) {
                errors.push(file.error(
                    &format!("environments[{}].name", env.position),
                    format!("environment {} is declared twice", env.name),
                    Some("declare each environment once, in one file".into()),
                ));
            }
        }
    }
    let declared: BTreeSet<&Name> = parsed
        .iter()
        .flat_map(|f| f.environments.iter().map(|e| &e.name))
        .collect();
    for file in &parsed {
        for env in &file.environments {
            let mut named = vec![
                (
                    "rollback_rehearsed_in".to_string(),
                    env.gates.rollback_rehearsed_in.as_ref(),
                ),
                ("parity_with".to_string(), env.gates.parity_with.as_ref()),
                (
                    "tests.in".to_string(),
                    env.gates
                        .tests
                        .as_ref()
                        .and_then(|t| t.environment.as_ref()),
                ),
            ];
            for (i, gate) in env.gates.flaky.iter().enumerate() {
                named.push((format!("flaky[{i}].in"), Some(&gate.environment)));
            }
            for (key, named) in named {
                if let Some(other) = named.filter(|e| !declared.contains(e)) {
                    errors.push(file.error(
                        &format!("environments[{}].gates.{key}", env.position),
                        format!("environment {other} is not declared"),
                        Some("name an environment of the chain, e.g. MET".into()),
                    ));
                }
            }
        }
    }
    for file in &parsed {
        if let Some(project) = &file.project {
            if !declared.is_empty() {
                for (env, path) in project.referenced_environments() {
                    if !declared.contains(&env) {
                        let known: Vec<&str> = declared.iter().map(|n| n.as_str()).collect();
                        errors.push(file.error(
                            &format!("project.{path}"),
                            format!("environment {env} is not declared"),
                            Some(format!("declared environments are {}", known.join(", "))),
                        ));
                    }
                }
            }
            if config
                .projects
                .iter()
                .any(|p: &Project| p.name == project.name)
            {
                errors.push(file.error(
                    "project.name",
                    format!("project {} is defined in two files", project.name),
                    None,
                ));
            }
            config.projects.push(project.clone());
        }
    }
    if !errors.is_empty() {
        errors.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        return Err(ConfigErrors(errors));
    }
    for file in parsed {
        config.environments.extend(file.environments);
        config.flags.extend(file.flags);
    }
    for (i, env) in config.environments.iter_mut().enumerate() {
        env.position = i as i64;
    }
    Ok(config)
}

struct ParsedFile {
    name: String,
    positions: Positions,
    environments: Vec<Environment>,
    project: Option<Project>,
    flags: Option<ProjectFlags>,
}

impl ParsedFile {
    fn error(&self, path: &str, message: String, hint: Option<String>) -> ConfigError {
        locate(&self.name, &self.positions, path, message, hint)
    }
}

/// Where `path` (e.g. `project.plan[2].with.component`, or the nearest enclosing value that
/// exists) starts in a YAML text, for errors found after parsing, such as on the server.
pub fn position_of(text: &str, path: &str) -> Option<Position> {
    let (_, positions) = yaml::parse(text).ok()?;
    let mut probe = path;
    loop {
        if let Some(p) = positions.get(probe) {
            return Some(*p);
        }
        probe = &probe[..probe.rfind(['.', '['])?];
    }
}

fn locate(
    file: &str,
    positions: &Positions,
    path: &str,
    message: String,
    hint: Option<String>,
) -> ConfigError {
    let mut probe = path.to_string();
    let position = loop {
        if let Some(p) = positions.get(&probe) {
            break *p;
        }
        match probe.rfind(['.', '[']) {
            Some(cut) => probe.truncate(cut),
            None => break Position { line: 1, column: 1 },
        }
    };
    ConfigError {
        file: file.to_string(),
        line: position.line,
        column: position.column,
        path: path.to_string(),
        message,
        hint,
    }
}

/// The file's model as far as it could be built (absent when the text or its shape is wrong),
/// and every error found in it.
fn parse_file(source: &Source<'_>) -> (Option<ParsedFile>, Vec<ConfigError>) {
    match parse_shape(source) {
        Ok((file, positions)) => {
            let mut checker = Checker {
                file: source.name,
                positions: &positions,
                errors: Vec::new(),
            };
            let environments = file
                .environments
                .into_iter()
                .enumerate()
                .map(|(i, e)| Environment {
                    gates: checker.gates(i, e.gates.unwrap_or_default()),
                    name: e.name,
                    position: i as i64,
                    region: e.region,
                    protected: e.protected,
                    description: e.description,
                    on_failure: e.on_failure,
                    require_signatures: e.require_signatures,
                    production: e.production,
                })
                .collect::<Vec<_>>();
            let mut flags = None;
            let project = file.project.map(|mut p| {
                let declared = std::mem::take(&mut p.flags);
                let segments = checker.segments(std::mem::take(&mut p.flag_segments));
                if !declared.is_empty() {
                    flags = Some(ProjectFlags {
                        project: p.name.clone(),
                        flags: checker.flags(declared, &segments),
                    });
                }
                checker.project(p)
            });
            let errors = checker.errors;
            (
                Some(ParsedFile {
                    name: source.name.to_string(),
                    positions,
                    environments,
                    project,
                    flags,
                }),
                errors,
            )
        }
        Err(errors) => (None, errors),
    }
}

/// Shape errors reported for one file at most; past that the file is likely not ours at all.
const MAX_SHAPE_ERRORS: usize = 50;

/// The file read into its typed shape, or every shape error in it: serde stops at the first,
/// so the list item holding it is cut and the rest read again, until it reads or nothing can
/// be cut. Paths and positions are those of the original text.
fn parse_shape(source: &Source<'_>) -> Result<(ConfigFile, Positions), Vec<ConfigError>> {
    let (mut value, positions) = yaml::parse(source.text).map_err(|e| {
        vec![ConfigError {
            file: source.name.to_string(),
            line: e.position.line,
            column: e.position.column,
            path: String::new(),
            message: e.message,
            hint: Some(e.hint.into()),
        }]
    })?;
    if !value.is_object() {
        return Err(vec![locate(
            source.name,
            &positions,
            "",
            "the file must be a mapping with `environments:` and/or `project:`".into(),
            None,
        )]);
    }
    let mut errors = Vec::new();
    let mut cuts = shape::Cuts::default();
    while errors.len() < MAX_SHAPE_ERRORS {
        let e = match serde_path_to_error::deserialize::<_, ConfigFile>(value.clone()) {
            Ok(file) if errors.is_empty() => return Ok((file, positions)),
            Ok(_) => break,
            Err(e) => e,
        };
        let current = e.path().to_string();
        let original = cuts.original(&current);
        errors.push(serde_error_at(
            source.name,
            &positions,
            "",
            original,
            &e.inner().to_string(),
        ));
        if !cuts.cut_item(&mut value, &current) {
            break;
        }
    }
    Err(errors)
}

fn serde_error(
    file: &str,
    positions: &Positions,
    prefix: &str,
    e: &serde_path_to_error::Error<serde_json::Error>,
) -> ConfigError {
    serde_error_at(
        file,
        positions,
        prefix,
        e.path().to_string(),
        &e.inner().to_string(),
    )
}

fn serde_error_at(
    file: &str,
    positions: &Positions,
    prefix: &str,
    mut path: String,
    inner: &str,
) -> ConfigError {
    if path == "." {
        path.clear();
    }
    let path = match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path,
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{path}"),
    };
    let (message, hint, path) = explain_serde(inner, path);
    locate(file, positions, &path, message, hint)
}

/// Turn serde's message into ours: say what is wrong in the user's words and suggest the fix.
fn explain_serde(inner: &str, path: String) -> (String, Option<String>, String) {
    if let Some(rest) = inner.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let options = backticked(expected);
        let hint = match closest(field, &options) {
            Some(best) => format!(
                "did you mean `{best}`? allowed keys here: {}",
                options.join(", ")
            ),
            None => format!("allowed keys here: {}", options.join(", ")),
        };
        // serde_path_to_error's path already ends at the unknown key; older paths did not.
        let key_path = if path.is_empty() {
            field.to_string()
        } else if path == field || path.ends_with(&format!(".{field}")) {
            path
        } else {
            format!("{path}.{field}")
        };
        return (format!("unknown key `{field}`"), Some(hint), key_path);
    }
    if let Some(rest) = inner.strip_prefix("unknown variant `") {
        let (variant, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let options = backticked(expected);
        let hint = match closest(variant, &options) {
            Some(best) => format!("did you mean `{best}`? allowed: {}", options.join(", ")),
            None => format!("allowed: {}", options.join(", ")),
        };
        return (format!("`{variant}` is not allowed here"), Some(hint), path);
    }
    if let Some(rest) = inner.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or(rest);
        return (
            format!("the key `{field}` is required here"),
            Some(format!("add `{field}:`")),
            path,
        );
    }
    if inner.contains("expected a string") {
        return (
            inner.to_string(),
            Some("put the value in quotes, e.g. \"8080\"".into()),
            path,
        );
    }
    (inner.to_string(), None, path)
}

fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The allowed word closest to a typo, if it is close enough to be what was meant.
fn closest<'a>(typo: &str, options: &'a [String]) -> Option<&'a str> {
    options
        .iter()
        .map(|o| (edit_distance(typo, o), o))
        .filter(|(d, o)| *d <= 2.max(o.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, o)| o.as_str())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

struct Checker<'a> {
    file: &'a str,
    positions: &'a Positions,
    errors: Vec<ConfigError>,
}

impl Checker<'_> {
    fn error(&mut self, path: &str, message: String, hint: &str) {
        // A request's state is checked from the root (`strategies[0]`), a file's under its
        // flag (`project.flags[0].strategies[0]`).
        let path = path.strip_prefix('.').unwrap_or(path);
        let hint = (!hint.is_empty()).then(|| hint.to_string());
        self.errors
            .push(locate(self.file, self.positions, path, message, hint));
    }

    fn gates(&mut self, env: usize, spec: GatesSpec) -> crate::gates::Gates {
        use crate::gates::calendar::Calendar;
        let at = format!("environments[{env}].gates");
        let approvals = spec.approvals.and_then(|a| self.approval_rule(&at, a));
        let calendar = Calendar {
            zone: self.zone(&at, spec.timezone.as_deref()),
            window: spec.window.and_then(|w| self.window(&at, w)),
            freezes: self.freezes(&at, spec.freezes),
        };
        crate::gates::Gates {
            approvals,
            calendar,
            outside_window: spec.outside_window,
            checks: spec.checks,
            rollback_rehearsed_in: spec.rollback_rehearsed_in,
            change_request: spec.change_request,
            parity_with: spec.parity_with,
            findings: spec.findings,
            tests: spec.tests,
            flaky: spec.flaky,
            coverage: spec.coverage,
            quality_gate: spec.quality_gate,
            signatures: spec.signatures.map(|s| s.policy()).unwrap_or_default(),
        }
    }

    /// `gates.approvals` at `at`: at least one, by a role that may approve.
    fn approval_rule(&mut self, at: &str, a: ApprovalSpec) -> Option<crate::gates::ApprovalRule> {
        if a.count == 0 {
            self.error(
                &format!("{at}.approvals.count"),
                "approvals.count must be at least 1".into(),
                "remove `approvals` to need none",
            );
            return None;
        }
        if a.role == crate::access::Role::Viewer {
            self.error(
                &format!("{at}.approvals.role"),
                "viewers cannot approve".into(),
                "name a role such as ops, qa, security or cab",
            );
            return None;
        }
        Some(crate::gates::ApprovalRule {
            count: a.count,
            role: a.role,
        })
    }

    /// `gates.timezone` at `at`, UTC when absent (or, after its error, when unknown).
    fn zone(&mut self, at: &str, timezone: Option<&str>) -> crate::gates::calendar::Zone {
        use crate::gates::calendar::Zone;
        match timezone.map(Zone::parse).transpose() {
            Ok(z) => z.unwrap_or_default(),
            Err(e) => {
                self.error(&format!("{at}.timezone"), e, "");
                Zone::utc()
            }
        }
    }

    /// `gates.window` at `at`; every mistake in it is reported, not only the first.
    fn window(&mut self, at: &str, w: WindowSpec) -> Option<crate::gates::calendar::Window> {
        use crate::gates::calendar::{ClockTime, Window};
        if w.days.is_empty() {
            self.error(
                &format!("{at}.window.days"),
                "a window needs at least one day".into(),
                "e.g. days: [tue, wed, thu]",
            );
        }
        let from = ClockTime::parse(&w.from)
            .map_err(|e| self.error(&format!("{at}.window.from"), e, ""))
            .ok();
        let to = ClockTime::parse(&w.to)
            .map_err(|e| self.error(&format!("{at}.window.to"), e, ""))
            .ok();
        Some(Window {
            days: w.days,
            from: from?,
            to: to?,
        })
    }

    /// `gates.freezes` at `at`: the valid ones; each invalid one is reported where it is.
    fn freezes(&mut self, at: &str, specs: Vec<FreezeSpec>) -> Vec<crate::gates::calendar::Freeze> {
        let mut freezes = Vec::new();
        for (i, f) in specs.into_iter().enumerate() {
            let day = |s: &str| {
                s.parse::<jiff::civil::Date>()
                    .map_err(|_| format!("`{s}` is not a date; write it as YYYY-MM-DD"))
            };
            let from = day(&f.from)
                .map_err(|e| self.error(&format!("{at}.freezes[{i}].from"), e, ""))
                .ok();
            let to = day(&f.to)
                .map_err(|e| self.error(&format!("{at}.freezes[{i}].to"), e, ""))
                .ok();
            let (Some(from), Some(to)) = (from, to) else {
                continue;
            };
            if to < from {
                self.error(
                    &format!("{at}.freezes[{i}].to"),
                    format!("the freeze ends ({to}) before it starts ({from})"),
                    "swap `from` and `to`",
                );
                continue;
            }
            freezes.push(crate::gates::calendar::Freeze {
                from,
                to,
                reason: f.reason,
            });
        }
        freezes
    }

    fn project(&mut self, spec: ProjectSpec) -> Project {
        let mut components = Vec::new();
        for (i, c) in spec.components.into_iter().enumerate() {
            if components.iter().any(|k: &Component| k.name == c.name) {
                self.error(
                    &format!("project.components[{i}].name"),
                    format!("component {} is declared twice", c.name),
                    "give each component its own name",
                );
            }
            components.push(Component {
                name: c.name,
                kind: c.kind,
                description: c.description,
            });
        }
        let variables = self.variables(spec.variables);
        let plan = self.plan(spec.plan, &components, &variables);
        let lifecycles = self.lifecycles(spec.lifecycles);
        let batches = self.batches(spec.batches);
        let batch_maintenance =
            self.maintenance_windows("project.batch_maintenance", "UTC", spec.batch_maintenance);
        let probes = self.probes(spec.probes, &variables);
        self.verify_steps(&plan, &probes);
        let slo = spec.slo.and_then(|s| self.slo(s));
        let (canary, canary_roles) = self.canary(spec.canary, &plan);
        self.traffic_steps(&plan);
        self.test_steps(&plan);
        let test_suites = self.test_suites(spec.tests);
        let remediation = self.remediation(spec.findings);
        let alerting = self.alerts(spec.alerts);
        Project {
            name: spec.name,
            description: spec.description,
            team: spec.team,
            components,
            variables,
            plan,
            lifecycles,
            batches,
            probes,
            slo,
            remediation,
            alerting,
            canary,
            canary_roles,
            batch_maintenance,
            test_suites,
        }
    }

    /// The default deadlines, with those the project gives in their place.
    fn remediation(&mut self, spec: Option<FindingsSpec>) -> crate::quality::RemediationPolicy {
        let mut policy = crate::quality::RemediationPolicy::default();
        for (severity, days) in spec.map(|s| s.deadlines).unwrap_or_default() {
            if !(1..=MAX_REMEDIATION_DAYS).contains(&days) {
                self.error(
                    &format!("project.findings.deadlines.{severity}"),
                    format!("{days} days is not a remediation deadline"),
                    &format!("give a number of days from 1 to {MAX_REMEDIATION_DAYS}, e.g. {severity}: 30"),
                );
            }
            policy.days.insert(severity, days);
        }
        policy
    }

    fn variables(&mut self, specs: Vec<VariableSpec>) -> Vec<VariableDecl> {
        let mut out: Vec<VariableDecl> = Vec::new();
        for (i, v) in specs.into_iter().enumerate() {
            let at = format!("project.variables[{i}]");
            let scope = VariableScope {
                environment: v.environment,
                role: v.role,
            };
            if out.iter().any(|o| o.name == v.name && o.scope == scope) {
                self.error(
                    &format!("{at}.name"),
                    format!(
                        "variable {} is declared twice for {}",
                        v.name,
                        scope.describe()
                    ),
                    "keep one declaration per name and scope",
                );
            }
            if v.sensitive && v.value.is_some() {
                self.error(&format!("{at}.value"), format!("sensitive variable {} has its value in the file", v.name), "remove `value:` and set it with `slipway variable set --project P --name NAME --sensitive`; secrets never live in the repository");
            }
            if !v.sensitive && v.value.is_none() {
                self.error(&format!("{at}.name"), format!("variable {} has no value", v.name), "give it a `value:`, or mark it `sensitive: true` and set it with `slipway variable set`");
            }
            out.push(VariableDecl {
                name: v.name,
                scope,
                sensitive: v.sensitive,
                value: v.value,
                description: v.description,
                per_environment: v.per_environment,
            });
        }
        out
    }

    fn plan(
        &mut self,
        specs: Vec<StepSpec>,
        components: &[Component],
        variables: &[VariableDecl],
    ) -> Vec<Step> {
        let declared: BTreeSet<&str> = variables
            .iter()
            .map(|v| v.name.as_str())
            .chain(crate::deploy::vars::BUILTIN_VARIABLES.iter().copied())
            .collect();
        let mut steps: Vec<Step> = Vec::new();
        for (i, s) in specs.into_iter().enumerate() {
            let at = format!("project.plan[{i}]");
            if s.name.trim().is_empty() {
                self.error(
                    &format!("{at}.name"),
                    "a step needs a name".into(),
                    "name it after what it does, e.g. \"Stop JBoss\"",
                );
            }
            if steps.iter().any(|o| o.name == s.name) {
                self.error(
                    &format!("{at}.name"),
                    format!("two steps are named \"{}\"", s.name),
                    "give each step its own name",
                );
            }
            // Kept for the `${…}` check, which names the exact parameter.
            let with = Some(Value::Object(s.with));
            let tagged = serde_json::json!({ "action": s.action, "with": with.clone() });
            let action = match serde_path_to_error::deserialize::<_, Action>(tagged) {
                Ok(a) => a,
                Err(e) => {
                    let path = e.path().to_string();
                    let err = if path == "action"
                        || (e.inner().to_string().starts_with("unknown variant")
                            && !path.starts_with("with."))
                    {
                        let options: Vec<String> =
                            Action::KINDS.iter().map(|k| k.to_string()).collect();
                        let hint = match closest(&s.action, &options) {
                            Some(best) => {
                                format!("did you mean `{best}`? actions: {}", options.join(", "))
                            }
                            None => format!("actions: {}", options.join(", ")),
                        };
                        locate(
                            self.file,
                            self.positions,
                            &format!("{at}.action"),
                            format!("unknown action `{}`", s.action),
                            Some(hint),
                        )
                    } else {
                        serde_error(self.file, self.positions, &at, &e)
                    };
                    self.errors.push(err);
                    continue;
                }
            };
            self.action(&at, &action, components);
            if let Some(with) = &with {
                self.references(&format!("{at}.with"), with, &declared);
            }
            let when = s
                .when
                .map(|c| Condition {
                    environments: c.environments,
                    not_environments: c.not_environments,
                })
                .unwrap_or_default();
            if s.batch_size == Some(0) {
                self.error(
                    &format!("{at}.batch_size"),
                    "batch_size must be at least 1".into(),
                    "e.g. batch_size: 2, or remove it to run on every target at once",
                );
            }
            steps.push(Step {
                name: s.name,
                roles: s.roles,
                when,
                batch_size: s.batch_size,
                action,
            });
        }
        steps
    }

    /// Every `${NAME}` in a step's parameters names a variable the project declares or one
    /// every agent provides: found here, not mid-deployment, where it would roll back.
    fn references(&mut self, at: &str, value: &Value, declared: &BTreeSet<&str>) {
        match value {
            Value::String(text) => {
                for name in crate::deploy::vars::references(text) {
                    if !declared.contains(name) {
                        let known: Vec<&str> = declared.iter().copied().collect();
                        self.error(
                            at,
                            format!("`${{{name}}}` is not a variable of this project"),
                            &format!(
                                "declare it under `variables:` (per environment with `environment:`); known: {}; write `$${{{name}}}` for a literal",
                                known.join(", ")
                            ),
                        );
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.references(&format!("{at}[{i}]"), item, declared);
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    self.references(&format!("{at}.{key}"), item, declared);
                }
            }
            _ => {}
        }
    }

    fn action(&mut self, at: &str, action: &Action, components: &[Component]) {
        let with = format!("{at}.with");
        if let Some(name) = action.component() {
            self.action_component(&with, action, name, components);
        }
        self.action_parameters(&with, action);
    }

    /// The component an action names is declared, and of a kind the action can use.
    fn action_component(
        &mut self,
        with: &str,
        action: &Action,
        name: &Name,
        components: &[Component],
    ) {
        let fits: &[ComponentKind] = match action {
            Action::RunSql(_) | Action::RollbackSql(_) => &[ComponentKind::Sql],
            Action::InstallBatch(_) => &[ComponentKind::Batch],
            Action::ExtractArchive(_) => &[ComponentKind::Archive, ComponentKind::StaticSite],
            _ => &[
                ComponentKind::War,
                ComponentKind::File,
                ComponentKind::StaticSite,
                ComponentKind::Archive,
                ComponentKind::Batch,
                ComponentKind::Sql,
            ],
        };
        match components.iter().find(|c| &c.name == name) {
            None => {
                let known: Vec<&str> = components.iter().map(|c| c.name.as_str()).collect();
                self.error(
                    &format!("{with}.component"),
                    format!("component {name} is not declared in this project"),
                    &format!(
                        "declared components: {}",
                        if known.is_empty() {
                            "none".into()
                        } else {
                            known.join(", ")
                        }
                    ),
                );
            }
            Some(c) if !fits.contains(&c.kind) => {
                let kinds: Vec<&str> = fits.iter().map(|k| k.as_str()).collect();
                self.error(
                    &format!("{with}.component"),
                    format!(
                        "{} cannot use component {name} of kind {}",
                        action.kind(),
                        c.kind.as_str()
                    ),
                    &format!("use a component of kind {}", kinds.join(" or ")),
                );
            }
            Some(_) => {}
        }
    }

    /// What each action's own parameters must be: absolute paths, URLs, cron schedules, …
    fn action_parameters(&mut self, with: &str, action: &Action) {
        let absolute = |p: &str| p.starts_with('/') || p.starts_with("${");
        match action {
            Action::PlaceArtifact(p) | Action::ExtractArchive(p) => {
                if !absolute(&p.destination) {
                    self.error(&format!("{with}.destination"), format!("destination `{}` is not an absolute path", p.destination), "write it from the root, e.g. /opt/pets, or from a variable, e.g. ${APP_DIR}/pets");
                }
                if p.keep == 0 {
                    self.error(
                        &format!("{with}.keep"),
                        "keep must be at least 1, or there is nothing to roll back to".into(),
                        "use keep: 3",
                    );
                }
            }
            Action::Backup(p) if !absolute(&p.path) => {
                self.error(
                    &format!("{with}.path"),
                    format!("path `{}` is not an absolute path", p.path),
                    "write it from the root, e.g. /opt/jboss/deployments",
                );
            }
            Action::HttpCheck(p)
                if !(p.url.starts_with("http://")
                    || p.url.starts_with("https://")
                    || p.url.starts_with("${")) =>
            {
                self.error(
                    &format!("{with}.url"),
                    format!("`{}` is not an http(s) URL", p.url),
                    "e.g. http://localhost:8080/health",
                );
            }
            Action::HttpCheck(p)
                if p.tls_ca_file
                    .as_deref()
                    .is_some_and(|f| !absolute(f) || p.url.starts_with("http://")) =>
            {
                let message = if p.url.starts_with("http://") {
                    format!(
                        "`tls_ca_file` is for https:// URLs, and `{}` is plain http",
                        p.url
                    )
                } else {
                    format!(
                        "`{}` is not an absolute path",
                        p.tls_ca_file.as_deref().unwrap_or("")
                    )
                };
                self.error(
                    &format!("{with}.tls_ca_file"),
                    message,
                    "give the full path of the CA's PEM bundle on the targets, e.g. tls_ca_file: /etc/ssl/certs/factory-ca.pem, on an https:// URL",
                );
            }
            Action::Command(p) if p.timeout_secs == 0 || p.run.trim().is_empty() => {
                self.error(
                    with,
                    "a command needs a non-empty `run` and a timeout above 0".into(),
                    "e.g. run: /opt/app/bin/check.sh, timeout_secs: 60",
                );
            }
            Action::Manual(p) if p.instructions.trim().is_empty() => {
                self.error(
                    &format!("{with}.instructions"),
                    "a manual step needs instructions: what the person must do or check".into(),
                    "e.g. instructions: \"Check the error rate on the dashboard, then proceed\"",
                );
            }
            Action::InstallBatch(p) if p.schedule.split_whitespace().count() != 5 => {
                self.error(
                    &format!("{with}.schedule"),
                    format!("`{}` is not a five-field cron schedule", p.schedule),
                    "minute hour day-of-month month day-of-week, e.g. \"0 2 * * *\"",
                );
            }
            _ => {}
        }
    }

    fn lifecycles(&mut self, specs: Vec<LifecycleSpec>) -> Vec<Lifecycle> {
        let mut out: Vec<Lifecycle> = Vec::new();
        for (i, l) in specs.into_iter().enumerate() {
            let at = format!("project.lifecycles[{i}]");
            if out.iter().any(|o| o.name == l.name) {
                self.error(
                    &format!("{at}.name"),
                    format!("lifecycle {} is declared twice", l.name),
                    "give each lifecycle its own name",
                );
            }
            if l.when.is_none() && out.iter().any(|o| o.rule.is_none()) {
                self.error(
                    &format!("{at}.name"),
                    format!("lifecycle {} is a second default (no `when:`)", l.name),
                    "give it a `when:` rule (bump, prerelease or label)",
                );
            }
            if l.phases.is_empty() {
                self.error(
                    &format!("{at}.phases"),
                    format!("lifecycle {} has no phase", l.name),
                    "list its phases, e.g. - environments: [DEV]",
                );
            }
            let mut seen = BTreeSet::new();
            let mut phases = Vec::new();
            for (j, p) in l.phases.into_iter().enumerate() {
                let pat = format!("{at}.phases[{j}]");
                let Some(first) = p.environments.first().cloned() else {
                    self.error(
                        &format!("{pat}.environments"),
                        "a phase needs at least one environment".into(),
                        "e.g. environments: [PROD-EU, PROD-US]",
                    );
                    continue;
                };
                for e in &p.environments {
                    if !seen.insert(e.clone()) {
                        self.error(
                            &format!("{pat}.environments"),
                            format!("environment {e} appears twice in lifecycle {}", l.name),
                            "an environment belongs to one phase of a lifecycle",
                        );
                    }
                }
                phases.push(Phase {
                    name: p.name.unwrap_or(first),
                    environments: p.environments,
                    automatic: p.automatic,
                });
            }
            let rule = l.when.map(|w| LifecycleRule {
                bump: w.bump,
                prerelease: w.prerelease,
                label: w.label,
            });
            out.push(Lifecycle {
                name: l.name,
                phases,
                rule,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests;
