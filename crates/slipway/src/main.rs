//! `slipway`: the one binary. Wiring only: parse the command line, then either run the server
//! (`up`, `server`) or talk to one through its HTTP API (every other verb).

mod admin;
mod client;
mod configure;
mod demo;
mod deploy;
mod evidence;
mod example;
mod govern;
mod output;
mod run;
mod vault;
mod webhook;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::client::{Client, Failure};
use crate::output::Format;

const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

#[derive(Parser)]
#[command(name = "slipway", version, about = "Slipway — release vault, deployment automate and pilot console in one binary.", long_about = None)]
#[command(
    after_help = "Start here:\n  slipway up                      run a server with the example project\n  slipway validate -f slipway.yaml check a project file\n  slipway apply -f slipway.yaml    send it to the server\n\nDocs: docs/cli.md, docs/config.md, docs/api.md"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// How client verbs reach the server.
#[derive(Args, Clone)]
pub struct Remote {
    /// Server URL.
    #[arg(long, env = "SLIPWAY_SERVER", default_value = DEFAULT_SERVER, global = true)]
    server: String,
    /// For an https:// server: the SHA-256 fingerprint of its certificate, the only thing trusted
    /// (`sha256:…`, printed by the server at startup).
    #[arg(long, env = "SLIPWAY_SERVER_FINGERPRINT", global = true)]
    server_fingerprint: Option<slipway_core::CertFingerprint>,
    /// API token (create one with `slipway token create`).
    #[arg(long, env = "SLIPWAY_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// Output for people (human) or for scripts (json).
    #[arg(long, short = 'o', value_enum, default_value = "human", global = true)]
    output: Format,
}

impl Remote {
    pub fn client(&self) -> Client {
        Client::new(&self.server, self.token.clone(), self.server_fingerprint)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run Slipway for a first look: server on embedded SQLite with the example project loaded.
    #[command(
        after_help = "Example:\n  slipway up                    # data in ./.slipway, console on http://127.0.0.1:8080\n  slipway up --data /tmp/sw --port 9000"
    )]
    Up(run::UpArgs),
    /// Run the server (API, console) on SQLite in the data folder or on PostgreSQL.
    #[command(
        after_help = "Examples:\n  slipway server --data /var/lib/slipway --listen 0.0.0.0:8443 --tls-self-signed --tls-san slipway.internal\n  slipway server --listen 0.0.0.0:8443 --tls-cert /etc/slipway/cert.pem --tls-key /etc/slipway/key.pem\n  slipway server --database-url postgres://slipway@db/slipway --master-key-file /etc/slipway/master.key"
    )]
    Server(run::ServerArgs),
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
    Audit(admin::AuditCommand),
    /// Manage users (admin).
    #[command(subcommand)]
    User(admin::UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(admin::TokenCommand),
    /// Environments of the delivery chain.
    #[command(subcommand, name = "env")]
    Environment(admin::EnvCommand),
    /// Projects, their plans and derived rollback plans.
    #[command(subcommand)]
    Project(admin::ProjectCommand),
    /// Project variables; sensitive values are write-only.
    #[command(subcommand)]
    Variable(admin::VariableCommand),
    /// Deployment targets.
    #[command(subcommand)]
    Target(admin::TargetCommand),
    /// Deploy (or dry-run) a release into an environment.
    #[command(
        after_help = "Examples:\n  slipway deploy --project pets --release 1.0.0 --env DEV --wait\n  slipway deploy --project pets --release 1.0.0 --env PROD-EU --dry-run --wait"
    )]
    Deploy(deploy::DeployArgs),
    /// Undo the last successful deployment in an environment with its derived rollback plan.
    #[command(after_help = "Example:\n  slipway rollback --project pets --env DEV --wait")]
    Rollback(deploy::RollbackArgs),
    /// Follow, list and steer deployments.
    #[command(subcommand)]
    Deployment(deploy::DeploymentCommand),
    /// Promote a release along its lifecycle: the target environment's gates judge it.
    #[command(
        after_help = "Examples:\n  slipway promote --project pets --release 1.4.2 --to MET --wait\n  slipway promote --project pets --release 1.4.2 --to PROD --at 2026-11-24T20:30:00+01:00"
    )]
    Promote(govern::PromoteArgs),
    #[command(subcommand)]
    Promotion(govern::PromotionCommand),
    #[command(subcommand)]
    Check(govern::CheckCommand),
    #[command(subcommand)]
    Rfc(govern::RfcCommand),
    #[command(subcommand)]
    Clock(govern::ClockCommand),
    /// Compare two environments: undeclared differences in variables, target facts and deployed digests.
    #[command(
        after_help = "Examples:\n  slipway parity --project pets                       # MET vs the last environment\n  slipway parity --project pets --left MET --right PROD-EU -o json"
    )]
    Parity(govern::ParityArgs),
    /// The stand-in application server of the bundled example (used by its plan).
    #[command(hide = true)]
    DemoAppserver(demo::DemoArgs),
    /// Run the automate on a target host: enrol once, then call the server in.
    #[command(
        after_help = "Examples:\n  slipway agent --server https://slipway.internal:8443 --server-fingerprint sha256:3f9a… --name app-01 --enroll-token slw_enroll_…\n  slipway agent --server http://127.0.0.1:8080 --insecure-http --name dev-01 --enroll-token slw_enroll_…"
    )]
    Agent(slipway_agent::AgentArgs),
    /// Artifacts in the release vault: push, list, show, download.
    #[command(subcommand)]
    Artifact(vault::ArtifactCommand),
    /// Keys that sign artifacts: generate one, trust one for a project, revoke.
    #[command(subcommand)]
    Key(vault::KeyCommand),
    /// Vault maintenance: verify every blob, garbage collection, retention.
    #[command(subcommand)]
    Vault(vault::VaultCommand),
    /// Releases: create, list, show, notes, diff, check against an environment.
    #[command(subcommand)]
    Release(vault::ReleaseCommand),
    /// Outbound webhooks on events, signed with HMAC, and their delivery log (admin).
    #[command(subcommand)]
    Webhook(webhook::WebhookCommand),
    /// Evidence bundles for auditors: export a release's signed bundle, verify one offline.
    #[command(subcommand)]
    Evidence(evidence::EvidenceCommand),
    /// Show who the token belongs to.
    #[command(after_help = "Example:\n  SLIPWAY_TOKEN=slw_… slipway whoami")]
    Whoami(RemoteOnly),
}

#[derive(Args)]
pub struct RemoteOnly {
    #[command(flatten)]
    remote: Remote,
}

fn main() -> ExitCode {
    // A closed pipe (`slipway … | head`) ends the process quietly, as for any Unix tool.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => run::up(args),
        Command::Server(args) => run::server(args),
        Command::Validate(args) => configure::validate(args),
        Command::Apply(args) => configure::apply(args),
        Command::Schema => {
            output::json(&slipway_core::config::json_schema());
            Ok(())
        }
        Command::Audit(c) => admin::audit(c),
        Command::User(c) => admin::user(c),
        Command::Token(c) => admin::token(c),
        Command::Environment(c) => admin::environment(c),
        Command::Project(c) => admin::project(c),
        Command::Variable(c) => admin::variable(c),
        Command::Target(c) => admin::target(c),
        Command::Whoami(r) => admin::whoami(&r.remote),
        Command::Artifact(c) => vault::artifact(c),
        Command::Key(c) => vault::key(c),
        Command::Vault(c) => vault::vault(c),
        Command::Release(c) => vault::release(c),
        Command::Webhook(c) => webhook::webhook(c),
        Command::Evidence(c) => evidence::evidence(c),
        Command::Agent(args) => slipway_agent::run(args, stop_agent).map_err(agent_failure),
        Command::DemoAppserver(args) => demo::run(args),
        Command::Deploy(args) => deploy::deploy(args),
        Command::Rollback(args) => deploy::rollback(args),
        Command::Deployment(c) => deploy::deployment(c),
        Command::Promote(args) => govern::promote(args),
        Command::Promotion(c) => govern::promotion(c),
        Command::Check(c) => govern::check(c),
        Command::Rfc(c) => govern::rfc(c),
        Command::Clock(c) => govern::clock(c),
        Command::Parity(args) => govern::parity(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if let Some(problem) = &failure.problem {
                if wants_json() {
                    output::json(problem);
                }
            }
            eprintln!("{}", failure.message);
            ExitCode::from(failure.exit as u8)
        }
    }
}

/// The exit code of each way the agent stops, as docs/cli.md lists them.
fn agent_failure(error: slipway_agent::AgentError) -> Failure {
    use slipway_agent::AgentError as E;
    let exit = match &error {
        E::Invalid(_) => client::Exit::Invalid,
        E::Io(_) => client::Exit::Failed,
        E::NotAccepted(_) => client::Exit::NotAllowed,
        E::Conflict(_) => client::Exit::Conflict,
        E::Unreachable(_) => client::Exit::Unreachable,
        E::Untrusted(_) => client::Exit::Untrusted,
    };
    Failure::new(exit, error.to_string())
}

/// Ends the process from an agent thread that cannot go on (see `slipway_agent::Stop`).
fn stop_agent(error: slipway_agent::AgentError) -> ! {
    let failure = agent_failure(error);
    eprintln!("{failure}");
    std::process::exit(failure.exit as i32);
}

/// Whether the command line asked for `--output json` (checked after clap accepted it).
fn wants_json() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .any(|w| matches!(w[0].as_str(), "-o" | "--output") && w[1] == "json")
        || args.iter().any(|a| a == "--output=json" || a == "-ojson")
}

/// Read files given with -f, naming the one that cannot be read.
pub fn read_files(paths: &[PathBuf]) -> Result<Vec<(String, String)>, Failure> {
    if paths.is_empty() {
        return Err(Failure::new(
            client::Exit::Invalid,
            "error: no file given\n  hint: pass -f slipway.yaml (repeat -f for several files)",
        ));
    }
    paths
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .map(|text| (p.display().to_string(), text))
                .map_err(|e| {
                    Failure::new(
                        client::Exit::Invalid,
                        format!("error: cannot read {}: {e}", p.display()),
                    )
                })
        })
        .collect()
}
