//! `slipway`: the one binary. Wiring only: parse the command line, then run the server (`up`,
//! `server`), the agent (`agent`), the example's stand-in application server, or one of the
//! client verbs of `slipway-cli`; print a failure once and exit with its code.
//!
//! It never holds a client verb's logic (`slipway-cli` does) nor the automate's (`slipway-agent`
//! does); it is the only crate that links the server, the CLI and the agent together.
//!
//! Architecture invariant: only `run.rs`, `example.rs` and `backup.rs` use `slipway-server`; the agent and
//! the client verbs reach a server over HTTP, even when `up` runs one in this process.
//! Architecture invariant: only `main` prints a failure and chooses the exit code.

mod backup;
mod demo;
mod example;
mod run;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use slipway_cli::{Exit, Failure};

#[derive(Parser)]
#[command(name = "slipway", version, about = "Slipway — release vault, deployment automate and pilot console in one binary.", long_about = None)]
#[command(
    after_help = "Start here:\n  slipway up                      run a server with the example project\n  slipway validate -f slipway.yaml check a project file\n  slipway apply -f slipway.yaml    send it to the server\n\nDocs: docs/cli.md, docs/config.md, docs/api.md"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where `agent` is listed in `slipway --help`: with the display order of `artifact`, the first
/// client verb after `parity` (`up` and `server` take 0 and 1, the client verbs follow in their
/// order), so that help sorts it by name just before `artifact`, where it has always been.
const AGENT_HELP_POSITION: usize = 21;

/// What `slipway --help` and `slipway agent --help` say of the agent ([`Cli`], [`AgentCli`]).
const AGENT_ABOUT: &str = "Run the automate on a target host: enrol once, then call the server in.";
const AGENT_EXAMPLES: &str = "Examples:\n  slipway agent --server https://slipway.internal:8443 --server-fingerprint sha256:3f9a… --name app-01 --enroll-token slw_enroll_…\n  slipway agent --server http://127.0.0.1:8080 --insecure-http --name dev-01 --enroll-token slw_enroll_…";

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
    /// Back up a SQLite data folder while its server runs (database snapshot, vault, keys), or check a backup.
    #[command(
        after_help = "Examples:\n  slipway backup --data /var/lib/slipway --to /srv/backups/slipway-2026-11-30\n  slipway backup --verify /srv/backups/slipway-2026-11-30\n\nPostgreSQL installations: pg_dump plus the vault folder (docs/operate.md)."
    )]
    Backup(backup::BackupArgs),
    /// Restore a backup into a new data folder, then start a server on it.
    #[command(
        after_help = "Example:\n  slipway restore --from /srv/backups/slipway-2026-11-30 --data /var/lib/slipway-restored\n  slipway server --data /var/lib/slipway-restored"
    )]
    Restore(backup::RestoreArgs),
    #[command(flatten)]
    Client(slipway_cli::Command),
    /// The stand-in application server of the bundled example (used by its plan).
    #[command(hide = true)]
    DemoAppserver(demo::DemoArgs),
    #[command(
        about = AGENT_ABOUT,
        display_order = AGENT_HELP_POSITION,
        after_help = AGENT_EXAMPLES
    )]
    Agent(slipway_agent::AgentArgs),
}

/// `slipway agent …` alone: the agent's command line without the rest of the tree. An agent
/// lives on every target and stays up for months, so its idle memory counts; building every
/// verb's parser (clap's derive code and help texts, spread over the whole binary) mapped about
/// 4 MB of the binary's pages that the agent never used again. Same name, arguments, help and
/// errors as the `agent` subcommand of [`Cli`] (a unit test compares them).
#[derive(Parser)]
#[command(name = "slipway")]
struct AgentCli {
    #[command(subcommand)]
    command: AgentCommand,
}

#[derive(Subcommand)]
enum AgentCommand {
    #[command(about = AGENT_ABOUT, after_help = AGENT_EXAMPLES)]
    Agent(slipway_agent::AgentArgs),
}

/// The command line, parsed: `agent` by its own small parser ([`AgentCli`]), anything else by
/// the whole tree.
fn parse_command_line() -> Command {
    if std::env::args_os()
        .nth(1)
        .is_some_and(|verb| verb == "agent")
    {
        let AgentCommand::Agent(args) = AgentCli::parse().command;
        return Command::Agent(args);
    }
    Cli::parse().command
}

fn main() -> ExitCode {
    // A closed pipe (`slipway … | head`) ends the process quietly, as for any Unix tool.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    #[allow(unsafe_code)] // signal(2) has no safe wrapper in std.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let result = match parse_command_line() {
        Command::Up(args) => run::up(args),
        Command::Server(args) => run::server(args),
        Command::Backup(args) => backup::backup(args),
        Command::Restore(args) => backup::restore(args),
        Command::Client(command) => slipway_cli::run(command),
        Command::Agent(args) => slipway_agent::run(args, stop_agent).map_err(agent_failure),
        Command::DemoAppserver(args) => demo::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if let Some(problem) = &failure.problem {
                if wants_json() {
                    slipway_cli::print_problem(problem);
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
        E::Invalid(_) => Exit::Invalid,
        E::Io(_) => Exit::Failed,
        E::NotAccepted(_) => Exit::NotAllowed,
        E::Conflict(_) => Exit::Conflict,
        E::Unreachable(_) => Exit::Unreachable,
        E::Untrusted(_) => Exit::Untrusted,
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

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_agent::AgentError as E;

    /// The agent's own parser ([`AgentCli`]) takes, explains and refuses what the whole tree
    /// does: one help text, one usage line.
    #[test]
    fn the_agents_own_parser_says_what_the_whole_command_line_says() {
        use clap::CommandFactory;
        let help = |mut root: clap::Command| {
            root.build();
            root.find_subcommand_mut("agent")
                .expect("both parsers have an agent verb")
                .render_long_help()
                .to_string()
        };
        assert_eq!(help(AgentCli::command()), help(Cli::command()));
        let refusal = |r: Result<(), clap::Error>| r.expect_err("refused").to_string();
        let args = ["slipway", "agent", "--name", "x", "--no-such-flag"];
        assert_eq!(
            refusal(AgentCli::try_parse_from(args).map(drop)),
            refusal(Cli::try_parse_from(args).map(drop))
        );
    }

    #[test]
    fn each_way_the_agent_stops_keeps_its_documented_exit_code() {
        let code = |e: E| agent_failure(e).exit as u8;
        assert_eq!(code(E::Io("x".into())), 1);
        assert_eq!(code(E::Invalid("x".into())), 3);
        assert_eq!(code(E::NotAccepted("x".into())), 4);
        assert_eq!(code(E::Conflict("x".into())), 6);
        assert_eq!(code(E::Unreachable("x".into())), 7);
        assert_eq!(code(E::Untrusted("x".into())), 8);
    }

    /// `slipway --help` lists every verb with a sentence, and every verb a person runs shows an
    /// example in its own help: a verb without them is found by a newcomer, not by a test.
    #[test]
    fn every_verb_has_a_description_and_every_leaf_an_example() {
        use clap::CommandFactory;
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            // Hidden verbs (the example's stand-in application server) are run by plans, not people.
            for sub in command
                .get_subcommands()
                .filter(|s| s.get_name() != "help" && !s.is_hide_set())
            {
                let path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() {
                    missing.push(format!("`{path}` has no description"));
                }
                if sub.has_subcommands() {
                    walk(sub, &path, missing);
                } else if !sub
                    .get_after_help()
                    .is_some_and(|h| h.to_string().contains("Example"))
                {
                    missing.push(format!("`{path}` has no example in its help"));
                }
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "slipway", &mut missing);
        assert!(missing.is_empty(), "{}", missing.join("\n"));
    }

    #[test]
    fn an_agent_failure_prints_the_agent_s_message_as_is() {
        let failure = agent_failure(E::Invalid("error: no\n  hint: yes".into()));
        assert_eq!(failure.message, "error: no\n  hint: yes");
        assert!(failure.problem.is_none());
    }
}
