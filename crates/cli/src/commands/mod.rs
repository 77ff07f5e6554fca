//! The client verbs: one module per verb or verb group, each with its clap arguments documented
//! where it runs, and [`run`], the one dispatch. Verbs talk to the server through its HTTP API
//! only; they never call server code.

mod alert;
mod artifact;
mod audit;
mod batch;
mod check;
mod clock;
mod complaint;
mod config_change;
mod configure;
mod coverage;
mod dashboard;
mod deploy;
mod deployment;
mod environment;
mod evidence;
mod flag;
mod flaky;
mod follow;
mod health;
mod insights;
mod key;
mod login;
mod parity;
mod project;
mod promote;
mod release;
mod rfc;
mod scan;
mod target;
mod tests;
mod tests_trigger;
mod token;
mod transfer;
mod user;
mod variable;
mod vault;
mod webhook;
mod whoami;

use clap::Subcommand;

use crate::error::Failure;
use crate::output;
use crate::remote::RemoteArgs;

/// Every client verb, in the order `slipway --help` lists them (the binary adds its own: `up`,
/// `server`, `agent`).
#[derive(Subcommand)]
pub enum Command {
    /// Check slipway.yaml files offline: every error with file:line:column and a hint.
    #[command(after_help = "Example:\n  slipway validate -f environments.yaml -f slipway.yaml")]
    Validate(configure::ValidateArgs),
    /// Bring the server to what slipway.yaml files say, all or nothing; prints each change.
    #[command(
        after_help = "Examples:\n  slipway apply -f examples/pets/slipway.yaml\n  slipway apply -f slipway.yaml --dry-run"
    )]
    Apply(configure::ApplyArgs),
    /// Print the JSON Schema of slipway.yaml, for editors.
    #[command(after_help = "Example:\n  slipway schema > slipway.schema.json")]
    Schema,
    /// Read and verify the audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Manage users (admin).
    #[command(subcommand)]
    User(user::UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Sign in once (a password, or the OpenID provider with --sso); the CLI keeps a token in its
    /// profile for later verbs.
    #[command(
        after_help = "Examples:\n  slipway login --username olivia --server https://slipway.example:8443 --server-fingerprint sha256:…\n  printf '%s' \"$PASSWORD\" | slipway login -u olivia --password-stdin\n  slipway login --sso --server https://slipway.example:8443   # then open the address it prints"
    )]
    Login(login::LoginArgs),
    /// Environments of the delivery chain.
    #[command(subcommand, name = "env")]
    Environment(environment::EnvCommand),
    /// Projects, their plans and derived rollback plans.
    #[command(subcommand)]
    Project(project::ProjectCommand),
    /// Project variables; sensitive values are write-only.
    #[command(subcommand)]
    Variable(variable::VariableCommand),
    /// Deployment targets.
    #[command(subcommand)]
    Target(target::TargetCommand),
    /// Deploy (or dry-run) a release into an environment.
    #[command(
        after_help = "Examples:\n  slipway deploy --project pets --release 1.0.0 --env DEV --wait\n  slipway deploy --project pets --release 1.0.0 --env PROD-EU --dry-run --wait"
    )]
    Deploy(deploy::DeployArgs),
    /// Undo the last successful deployment in an environment with its derived rollback plan.
    #[command(
        after_help = "Examples:\n  slipway rollback --project pets --env DEV --wait\n  slipway rollback --project pets --env PROD-EU --reason \"INC-4211: checkout errors since 1.4.0\" --wait"
    )]
    Rollback(deploy::RollbackArgs),
    /// Follow, list and steer deployments.
    #[command(subcommand)]
    Deployment(deployment::DeploymentCommand),
    /// Promote a release along its lifecycle: the target environment's gates judge it.
    #[command(
        after_help = "Examples:\n  slipway promote --project pets --release 1.4.2 --to MET --wait\n  slipway promote --project pets --release 1.4.2 --to PROD --at 2026-11-24T20:30:00+01:00"
    )]
    Promote(promote::PromoteArgs),
    /// Promotions already asked for: list, show, approve, reject, override (admins), cancel.
    #[command(subcommand)]
    Promotion(promote::PromotionCommand),
    /// Report the result of an outside check (CI tests, a scan) on a release, for `checks:` gates.
    #[command(subcommand)]
    Check(check::CheckCommand),
    /// Requests for change (CAB): open, list, show, approve, reject.
    #[command(subcommand)]
    Rfc(rfc::RfcCommand),
    /// The time the gates are judged at (windows, freezes); a manual clock moves only for rehearsals.
    #[command(subcommand)]
    Clock(clock::ClockCommand),
    /// Compare two environments: undeclared differences in variables, target facts and deployed digests.
    #[command(
        after_help = "Examples:\n  slipway parity --project pets                       # MET vs the last environment\n  slipway parity --project pets --left MET --right PROD-EU -o json"
    )]
    Parity(parity::ParityArgs),
    /// Artifacts in the release vault: push, list, show, download.
    #[command(subcommand)]
    Artifact(artifact::ArtifactCommand),
    /// Keys that sign artifacts: generate one, trust one for a project, revoke.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Vault maintenance: verify every blob, garbage collection, retention.
    #[command(subcommand)]
    Vault(vault::VaultCommand),
    /// Releases: create, list, show, notes, diff, check against an environment.
    #[command(subcommand)]
    Release(release::ReleaseCommand),
    /// Outbound webhooks on events, signed with HMAC, and their delivery log (admin).
    #[command(subcommand)]
    Webhook(webhook::WebhookCommand),
    /// Evidence bundles for auditors: export a release's signed bundle, verify one offline.
    #[command(subcommand)]
    Evidence(evidence::EvidenceCommand),
    /// Show who the token belongs to.
    #[command(after_help = "Example:\n  SLIPWAY_TOKEN=slw_… slipway whoami")]
    Whoami(RemoteArgs),
    /// Test results of releases: push JUnit reports per environment and suite, list, show, compare runs.
    #[command(subcommand)]
    Tests(tests::TestsCommand),
    /// Configuration changes held for a second person (governed configuration): list, show, approve, reject.
    #[command(subcommand, name = "config-change")]
    ConfigChange(config_change::ConfigChangeCommand),
    /// The batch inventory: list (or export as CSV) and show batches per environment and server.
    #[command(subcommand)]
    Batch(batch::BatchCommand),
    /// Alerts from batches, probes and SLOs: list, show, acknowledge (stops re-notification), resolve.
    #[command(subcommand)]
    Alert(alert::AlertCommand),
    /// Service health: SLO, availability, error budget left, burn rates and probes; monthly report.
    #[command(
        after_help = "Examples:\n  slipway health --project pets --env PROD\n  slipway health report --project pets --month 2026-11"
    )]
    Health(health::HealthArgs),
    /// Vulnerability scans of releases: push Trivy, Grype, SARIF or CycloneDX reports.
    #[command(subcommand)]
    Scan(scan::ScanCommand),
    /// Vulnerability findings of a project: first seen, fixed, reopened, and their deadlines.
    #[command(subcommand)]
    Findings(scan::FindingsCommand),
    /// Code coverage of releases: push Cobertura XML or LCOV reports per kind, show the rates.
    #[command(subcommand)]
    Coverage(coverage::CoverageCommand),
    /// DORA metrics of a period, with bands, goals and the deployments and commits behind them.
    #[command(subcommand)]
    Insights(insights::InsightsCommand),
    /// Saved dashboards: list, show, save (widgets, filters, shared or private), delete.
    #[command(subcommand)]
    Dashboard(dashboard::DashboardCommand),
    /// The complaints register: add, list, show, link, investigate, resolve, close, import (CSV).
    #[command(subcommand)]
    Complaint(complaint::ComplaintCommand),
    /// Feature flags per environment: list, show, on, off (kill switch), and Unleash SDK tokens.
    #[command(subcommand)]
    Flag(flag::FlagCommand),
}

/// Run one client verb.
pub fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Validate(args) => configure::validate(args),
        Command::Apply(args) => configure::apply(args),
        Command::Schema => {
            output::json(&slipway_core::config::json_schema());
            Ok(())
        }
        Command::Audit(c) => audit::audit(c),
        Command::User(c) => user::user(c),
        Command::Token(c) => token::token(c),
        Command::Login(args) => login::login(args),
        Command::Environment(c) => environment::environment(c),
        Command::Project(c) => project::project(c),
        Command::Variable(c) => variable::variable(c),
        Command::Target(c) => target::target(c),
        Command::Whoami(r) => whoami::whoami(&r.remote),
        Command::Artifact(c) => artifact::artifact(c),
        Command::Key(c) => key::key(c),
        Command::Vault(c) => vault::vault(c),
        Command::Release(c) => release::release(c),
        Command::Webhook(c) => webhook::webhook(c),
        Command::Evidence(c) => evidence::evidence(c),
        Command::Deploy(args) => deploy::deploy(args),
        Command::Rollback(args) => deploy::rollback(args),
        Command::Deployment(c) => deployment::deployment(c),
        Command::Promote(args) => promote::promote(args),
        Command::Promotion(c) => promote::promotion(c),
        Command::Check(c) => check::check(c),
        Command::Rfc(c) => rfc::rfc(c),
        Command::Clock(c) => clock::clock(c),
        Command::Parity(args) => parity::parity(args),
        Command::Tests(c) => tests::tests(c),
        Command::ConfigChange(c) => config_change::config_change(c),
        Command::Batch(c) => batch::batch(c),
        Command::Alert(c) => alert::alert(c),
        Command::Health(args) => health::health(args),
        Command::Scan(c) => scan::scan(c),
        Command::Coverage(c) => coverage::coverage(c),
        Command::Findings(c) => scan::findings(c),
        Command::Insights(c) => insights::insights(c),
        Command::Dashboard(c) => dashboard::dashboard(c),
        Command::Complaint(c) => complaint::complaint(c),
        Command::Flag(c) => flag::flag(c),
    }
}
