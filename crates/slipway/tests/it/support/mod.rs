//! Real processes for end-to-end tests: a `slipway server` on a random loopback port and the
//! `slipway` CLI pointed at it.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub(crate) mod browser;
pub(crate) mod console;
pub(crate) mod garage;
mod operations;
pub(crate) mod sso_peers;

pub(crate) const ADMIN_TOKEN: &str = "slw_test_admin_token_0123456789";
pub(crate) const PETS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/pets/slipway.yaml"
);

pub(crate) fn slipway_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_slipway"))
}

/// The binary, with a CLI profile of this test run's own: a person's real profile
/// (`~/.config/slipway/profile.json`) is never read nor written by a test. A test that looks at
/// the profile sets `SLIPWAY_PROFILE` again, to a file of its own.
pub(crate) fn slipway_command() -> Command {
    let mut command = Command::new(slipway_bin());
    let profile = std::env::temp_dir()
        .join(format!("slipway-tests-{}", std::process::id()))
        .join("profile.json");
    command.env("SLIPWAY_PROFILE", profile);
    command
}

/// A running `slipway server`, killed when dropped.
pub(crate) struct Server {
    child: Child,
    pub url: String,
    pub data: tempfile::TempDir,
    /// Over TLS: the fingerprint of the certificate the server printed; the CLI pins it.
    pub fingerprint: Option<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub(crate) fn start() -> Server {
        Server::start_with(None)
    }

    /// Start on SQLite in a fresh data folder, or on the given PostgreSQL database.
    pub(crate) fn start_with(database_url: Option<&str>) -> Server {
        Server::start_with_env(database_url, &[])
    }

    /// [`Server::start_with`], with extra environment variables for the server process.
    pub(crate) fn start_with_env(database_url: Option<&str>, env: &[(&str, &str)]) -> Server {
        let data = tempfile::tempdir().expect("a temporary folder");
        Server::spawn(data, database_url, "127.0.0.1:0", env, &[])
    }

    /// Start on SQLite in a fresh data folder, listening on `listen` (an address chosen before,
    /// for a callback an outside party must know in advance).
    pub(crate) fn start_listening(listen: &str, env: &[(&str, &str)]) -> Server {
        Server::start_listening_on(listen, None, env)
    }

    /// [`Server::start_listening`], on SQLite or on the given PostgreSQL database.
    pub(crate) fn start_listening_on(
        listen: &str,
        database_url: Option<&str>,
        env: &[(&str, &str)],
    ) -> Server {
        let data = tempfile::tempdir().expect("a temporary folder");
        Server::spawn(data, database_url, listen, env, &[])
    }

    /// Start on SQLite in a data folder that already holds one (a restored backup, say).
    pub(crate) fn start_on(data: tempfile::TempDir, env: &[(&str, &str)]) -> Server {
        Server::spawn(data, None, "127.0.0.1:0", env, &[])
    }

    /// Another server on the same PostgreSQL database as `first`, with its own data folder and
    /// the first one's master key (both read the secrets the other sealed).
    pub(crate) fn start_replica(first: &Server, database_url: &str) -> Server {
        Server::start_replica_with_env(first, database_url, &[])
    }

    /// [`Server::start_replica`], with extra environment variables for the server process.
    pub(crate) fn start_replica_with_env(
        first: &Server,
        database_url: &str,
        env: &[(&str, &str)],
    ) -> Server {
        let data = tempfile::tempdir().expect("a temporary folder");
        let key = first.data.path().join("master.key");
        let key = key.to_str().expect("a UTF-8 temporary path");
        Server::spawn(
            data,
            Some(database_url),
            "127.0.0.1:0",
            env,
            &["--master-key-file", key],
        )
    }

    /// Start on SQLite in a fresh data folder serving HTTPS, with TLS flags such as
    /// `--tls-self-signed`; the CLI calls then pin the certificate the server printed.
    pub(crate) fn start_tls(tls_args: &[&str]) -> Server {
        let data = tempfile::tempdir().expect("a temporary folder");
        Server::spawn(data, None, "127.0.0.1:0", &[], tls_args)
    }

    /// SIGKILL the server, then start it again on the same port and data folder with these TLS
    /// flags (none: plain HTTP).
    pub(crate) fn kill_and_restart_tls(&mut self, tls_args: &[&str]) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let listen = self.url.split("://").nth(1).unwrap_or_default().to_string();
        let (child, url, fingerprint) =
            spawn_server(self.data.path(), None, &listen, &[], tls_args);
        self.child = child;
        self.url = url;
        self.fingerprint = fingerprint;
    }

    /// SIGKILL the server, then start it again on the same port and data folder (SQLite).
    pub(crate) fn kill_and_restart(&mut self, env: &[(&str, &str)]) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let listen = self.url.trim_start_matches("http://").to_string();
        let (child, url, _) = spawn_server(self.data.path(), None, &listen, env, &[]);
        self.child = child;
        self.url = url;
    }

    /// SIGKILL the server, run `while_stopped`, then start it again on the same port, data folder
    /// and database (SQLite in the data folder, or this PostgreSQL URL).
    pub(crate) fn kill_and_restart_on(
        &mut self,
        database_url: Option<&str>,
        env: &[(&str, &str)],
        while_stopped: impl FnOnce(),
    ) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        while_stopped();
        let listen = self.url.trim_start_matches("http://").to_string();
        let (child, url, _) = spawn_server(self.data.path(), database_url, &listen, env, &[]);
        self.child = child;
        self.url = url;
    }

    fn spawn(
        data: tempfile::TempDir,
        database_url: Option<&str>,
        listen: &str,
        env: &[(&str, &str)],
        tls_args: &[&str],
    ) -> Server {
        let (child, url, fingerprint) =
            spawn_server(data.path(), database_url, listen, env, tls_args);
        Server {
            child,
            url,
            data,
            fingerprint,
        }
    }

    /// Run the CLI against this server as `token` (admin when `None`).
    pub(crate) fn cli(&self, token: Option<&str>, args: &[&str]) -> Output {
        self.cli_with_stdin(token, args, "")
    }

    pub(crate) fn cli_with_stdin(&self, token: Option<&str>, args: &[&str], stdin: &str) -> Output {
        let pin: Vec<(&str, &str)> = self
            .fingerprint
            .iter()
            .map(|f| ("SLIPWAY_SERVER_FINGERPRINT", f.as_str()))
            .collect();
        run_cli_env(&self.url, token.unwrap_or(ADMIN_TOKEN), args, stdin, &pin)
    }

    pub(crate) fn db_path(&self) -> PathBuf {
        self.data.path().join("slipway.db")
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL the server and leave it dead.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Start on a data folder and a PostgreSQL database that already hold an installation (the
    /// upgrade fixture's: vault and keys in `data`, everything else in the database).
    pub(crate) fn start_on_database(data: tempfile::TempDir, database_url: &str) -> Server {
        Server::spawn(data, Some(database_url), "127.0.0.1:0", &[], &[])
    }
}

fn spawn_server(
    data: &Path,
    database_url: Option<&str>,
    listen: &str,
    env: &[(&str, &str)],
    tls_args: &[&str],
) -> (Child, String, Option<String>) {
    let mut cmd = slipway_command();
    cmd.args(["server", "--listen", listen, "--data"]).arg(data);
    cmd.args(tls_args);
    if let Some(url) = database_url {
        cmd.args(["--database-url", url]);
    }
    cmd.envs(env.iter().copied());
    cmd.env("SLIPWAY_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("SLIPWAY_LOG", "warn")
        .env("SLIPWAY_HEARTBEAT_SECS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().expect("the slipway binary starts");
    let line = wait_for_line_text(&mut child, "Slipway listening on ")
        .expect("the server reports its address within 20 s");
    let url = line.split_whitespace().next().unwrap_or("").to_string();
    // `… (TLS certificate sha256:…)` when serving HTTPS.
    let fingerprint = line
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .map(|w| w.trim_end_matches(')').to_string());
    (child, url, fingerprint)
}

pub(crate) fn run_cli(url: &str, token: &str, args: &[&str], stdin: &str) -> Output {
    run_cli_env(url, token, args, stdin, &[])
}

/// [`run_cli`] with extra environment variables for the CLI.
pub(crate) fn run_cli_env(
    url: &str,
    token: &str,
    args: &[&str],
    stdin: &str,
    env: &[(&str, &str)],
) -> Output {
    let mut child = slipway_command()
        .args(args)
        .envs(env.iter().copied())
        .env("SLIPWAY_SERVER", url)
        .env("SLIPWAY_TOKEN", token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the slipway binary starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("stdin accepts the input");
    child.wait_with_output().expect("the CLI finishes")
}

/// Read the child's stdout until a line starts with `prefix`; return the first word after it.
/// Later output keeps being drained so the child never blocks on a full pipe.
pub(crate) fn wait_for_line(child: &mut Child, prefix: &str) -> Option<String> {
    wait_for_line_text(child, prefix)
        .map(|rest| rest.split_whitespace().next().unwrap_or("").to_string())
}

/// [`wait_for_line`], returning the whole rest of the line.
pub(crate) fn wait_for_line_text(child: &mut Child, prefix: &str) -> Option<String> {
    let stdout = child.stdout.take()?;
    let (tx, rx) = mpsc::channel();
    let prefix = prefix.to_string();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if !sent {
                if let Some(rest) = line.strip_prefix(&prefix) {
                    let _ = tx.send(rest.to_string());
                    sent = true;
                }
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(20)).ok()
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert success, showing both streams when it failed.
pub(crate) fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "command failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

pub(crate) fn json(o: Output) -> serde_json::Value {
    let text = ok(o);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// Write `text` into a file in `dir` and return its path as a string.
pub(crate) fn file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("the temporary folder is writable");
    path.display().to_string()
}

/// A `slipway agent` process, killed when dropped.
pub(crate) struct AgentProcess(pub Child);

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `slipway agent` named `name` against `url` (the server, or a relay in front of it).
pub(crate) fn spawn_agent(url: &str, name: &str, data: &Path, token: Option<&str>) -> AgentProcess {
    let mut cmd = slipway_command();
    cmd.args([
        "agent",
        "--insecure-http",
        "--server",
        url,
        "--name",
        name,
        "--data",
    ])
    .arg(data);
    if let Some(t) = token {
        cmd.args(["--enroll-token", t]);
    }
    AgentProcess(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the agent starts"),
    )
}
