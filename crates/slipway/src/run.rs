//! `slipway up` and `slipway server`: the only verbs that run the server in this process.
//!
//! `server` speaks HTTPS when given a certificate (`--tls-cert`/`--tls-key`, or
//! `--tls-self-signed`). `up` stays on plain HTTP on purpose: it listens on 127.0.0.1 only, for a
//! first look from this machine, and its one agent is on the same loopback; TLS would add
//! nothing there but a browser warning about a self-signed certificate.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use slipway_server::auth::Actor;
use slipway_server::services::projects::ConfigText;
use slipway_server::vault::VaultLocation;
use slipway_server::{FirstRun, ServerConfig, TlsSource};

use slipway_cli::{Exit, Failure};

#[derive(Args)]
pub(crate) struct UpArgs {
    /// Data folder (SQLite database, master key).
    #[arg(long, default_value = ".slipway")]
    data: PathBuf,
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 8080)]
    port: u16,
}

#[derive(Args)]
pub(crate) struct ServerArgs {
    /// Data folder (SQLite database unless --database-url, master key unless --master-key-file).
    #[arg(long, env = "SLIPWAY_DATA", default_value = "/var/lib/slipway")]
    data: PathBuf,
    /// Address and port to listen on.
    #[arg(long, env = "SLIPWAY_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// PostgreSQL URL (postgres://user:password@host/db); embedded SQLite when absent.
    #[arg(long, env = "SLIPWAY_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The 32-byte hex master key sealing sensitive variables; generated in the data folder when absent.
    #[arg(long, env = "SLIPWAY_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
    /// The Ed25519 key that signs audit checkpoints (`slipway key generate` writes one); made as
    /// `checkpoint.key` in the data folder when absent. Keep it off the database host.
    #[arg(long, env = "SLIPWAY_CHECKPOINT_KEY_FILE")]
    checkpoint_key_file: Option<PathBuf>,
    /// Serve HTTPS with this certificate (PEM: the server's certificate first, then any
    /// intermediates). Agents pin its SHA-256 fingerprint, printed at startup.
    #[arg(
        long,
        env = "SLIPWAY_TLS_CERT",
        requires = "tls_key",
        conflicts_with = "tls_self_signed"
    )]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "SLIPWAY_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve HTTPS with a self-signed certificate, generated at the first start into the data
    /// folder (tls-cert.pem, tls-key.pem) and reused afterwards.
    #[arg(long)]
    tls_self_signed: bool,
    /// Another name (host name or IP address) for the self-signed certificate, besides
    /// localhost, 127.0.0.1, ::1 and the host name; repeatable. Used when it is generated.
    #[arg(long = "tls-san", requires = "tls_self_signed")]
    tls_sans: Vec<String>,
    /// Single sign-on and session timeouts: a YAML file naming an OpenID provider and/or an LDAP
    /// directory, how their groups map to roles, and `sessions:` (docs/auth.md). Local
    /// accounts only, 30 min idle / 12 h absolute sessions, when absent.
    #[arg(long, env = "SLIPWAY_AUTH_CONFIG")]
    auth_config: Option<PathBuf>,
    /// Keep the vault's blobs on S3-compatible storage: s3://BUCKET/PREFIX (path-style; endpoint,
    /// region and keys from SLIPWAY_S3_ENDPOINT, SLIPWAY_S3_REGION, SLIPWAY_S3_ACCESS_KEY_ID,
    /// SLIPWAY_S3_SECRET_ACCESS_KEY). In the data folder when absent.
    #[arg(long, env = "SLIPWAY_VAULT")]
    vault: Option<String>,
}

impl ServerArgs {
    fn tls(&self) -> Option<TlsSource> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsSource::Files {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ if self.tls_self_signed => Some(TlsSource::SelfSigned {
                extra_names: self.tls_sans.clone(),
            }),
            _ => None,
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            Failure::new(
                Exit::Failed,
                format!("error: cannot start the async runtime: {e}"),
            )
        })
}

fn init_logs() {
    let level = std::env::var("SLIPWAY_LOG")
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(tracing::Level::INFO);
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}

fn admin_token_from_env() -> Option<String> {
    std::env::var("SLIPWAY_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
}

fn failed(e: impl std::fmt::Display) -> Failure {
    Failure::new(Exit::Failed, format!("error: {e:#}"))
}

pub(crate) fn server(args: ServerArgs) -> Result<(), Failure> {
    init_logs();
    runtime()?.block_on(async {
        let config = ServerConfig {
            tls: args.tls(),
            data_dir: args.data,
            database_url: args.database_url,
            listen: args.listen,
            admin_token: admin_token_from_env(),
            master_key_file: args.master_key_file,
            checkpoint_key_file: args.checkpoint_key_file,
            auth_config: args.auth_config,
            vault: VaultLocation::parse(args.vault.as_deref()).map_err(failed)?,
        };
        let running = slipway_server::start(config).await.map_err(failed)?;
        print_first_run(running.first_run.as_ref());
        match running.fingerprint {
            Some(fingerprint) => {
                println!(
                    "Slipway listening on https://{} (TLS certificate {fingerprint})",
                    running.addr
                );
                println!("  agents enrol with --server-fingerprint {fingerprint}");
            }
            None => println!("Slipway listening on http://{}", running.addr),
        }
        println!(
            "  audit checkpoints are signed by key {} (GET /api/v1/audit/checkpoints/key)",
            running.checkpoint_key_fingerprint
        );
        running.run_until_signal().await.map_err(failed)
    })
}

pub(crate) fn up(args: UpArgs) -> Result<(), Failure> {
    let started = Instant::now();
    init_logs();
    runtime()?.block_on(async {
        let config = ServerConfig {
            data_dir: args.data.clone(),
            database_url: None,
            listen: SocketAddr::from(([127, 0, 0, 1], args.port)),
            admin_token: admin_token_from_env(),
            master_key_file: None,
            checkpoint_key_file: None,
            // Loopback only, with a loopback agent: see the module's documentation.
            tls: None,
            auth_config: None,
            vault: Default::default(),
        };
        let running = slipway_server::start(config).await.map_err(failed)?;
        let (actor, example) = load_example(&running.state).await.map_err(failed)?;
        let url = format!("http://{}", running.addr);
        println!(
            "Slipway is ready at {url} ({} ms)",
            started.elapsed().as_millis()
        );
        println!("  data folder  {} (SQLite)", args.data.display());
        println!("  example      {example}");
        print_first_run(running.first_run.as_ref());
        print_cli_sign_in(sign_in_the_cli(&running.state, &actor, &url).await);
        // One application port per environment, DEV's first: next to the server's, or free
        // ones when the server's port was chosen by the system.
        let app_ports: Vec<u16> = (1..=crate::example::STAGES.len() as u16)
            .map(|i| {
                if args.port == 0 {
                    free_port()
                } else {
                    args.port.saturating_add(i)
                }
            })
            .collect();
        let app_port = app_ports[0];
        let data = std::fs::canonicalize(&args.data).unwrap_or(args.data.clone());
        // The example deploys once the server is ready; a failure there never stops the server.
        let agent =
            match crate::example::deploy(&running.state, &actor, &data, &url, &app_ports).await {
                Ok((agent, example)) => {
                    println!("  deployment   {}", example.line);
                    let when = if example.answering {
                        ""
                    } else {
                        " once deployed"
                    };
                    println!(
                    "               the application answers on http://127.0.0.1:{app_port}{when}"
                );
                    let others: Vec<String> = crate::example::STAGES[1..]
                        .iter()
                        .zip(&app_ports[1..])
                        .map(|((env, _), port)| format!("{env} {port}"))
                        .collect();
                    println!(
                        "               in the other environments, once promoted there: {}",
                        others.join(", ")
                    );
                    Some(agent)
                }
                Err(e) => {
                    println!("  deployment   the example could not be deployed: {e:#}");
                    None
                }
            };
        println!("  stop with Ctrl-C");
        // The local agent and the application server it started go first: the agent's long
        // poll would otherwise hold the server's shutdown.
        running
            .run_until(async move {
                slipway_server::shutdown_signal().await;
                drop(agent);
            })
            .await
            .map_err(failed)
    })
}

/// What `up` did about the CLI profile.
enum CliSignIn {
    Written(PathBuf),
    /// The profile names another, non-loopback server: a person's real profile is not replaced
    /// by a first look.
    LeftAlone {
        profile_server: String,
    },
    Failed(String),
}

/// Give the CLI a token for this server's admin in its profile, so that `slipway …` verbs work
/// at once; the token a previous `up` wrote for this server is revoked, so they do not pile up.
async fn sign_in_the_cli(state: &slipway_server::AppState, admin: &Actor, url: &str) -> CliSignIn {
    use slipway_cli::profile::{self, Profile};
    use slipway_server::services::users;
    let previous = profile::load();
    if let Some(other) = previous.as_ref().filter(|p| !is_loopback(&p.server)) {
        return CliSignIn::LeftAlone {
            profile_server: other.server.clone(),
        };
    }
    let created = match users::create_token(state, admin, "slipway up", None).await {
        Ok(created) => created,
        Err(e) => return CliSignIn::Failed(e.to_string()),
    };
    let fresh = Profile {
        server: url.to_string(),
        server_fingerprint: None,
        username: admin.username.clone(),
        token_id: created.token.id.clone(),
        token: created.secret,
    };
    match profile::save(&fresh) {
        Ok(path) => {
            if let Some(old) = previous.filter(|p| p.server == url && p.token_id != fresh.token_id)
            {
                // Absent when the data folder is new: nothing to revoke then.
                let _ = users::revoke_token(state, admin, &old.token_id).await;
            }
            CliSignIn::Written(path)
        }
        Err(e) => {
            let _ = users::revoke_token(state, admin, &fresh.token_id).await;
            CliSignIn::Failed(e.to_string())
        }
    }
}

/// Whether a server URL names this machine (the only servers `up` runs).
fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host.parse::<std::net::IpAddr>()
        .map_or(host.eq_ignore_ascii_case("localhost"), |ip| {
            ip.is_loopback()
        })
}

fn print_cli_sign_in(outcome: CliSignIn) {
    match outcome {
        CliSignIn::Written(path) => {
            println!(
                "  CLI          signed in as admin (token kept in {})",
                path.display()
            );
        }
        CliSignIn::LeftAlone { profile_server } => {
            println!("  CLI          your profile points at {profile_server}; left alone");
            println!("               use this server with --server and `slipway login -u admin`");
        }
        CliSignIn::Failed(e) => {
            println!("  CLI          no profile written ({e}); use `slipway login -u admin`")
        }
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(PathBuf::from))
    {
        let on_path = std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p == dir));
        if !on_path {
            println!(
                "  slipway      put it on PATH: export PATH=\"{}:$PATH\"",
                dir.display()
            );
        }
    }
}

fn print_first_run(first: Option<&FirstRun>) {
    match first {
        Some(FirstRun::Password { username, password }) => {
            println!("  sign in as   {username} / {password}");
            println!("               (shown this once: change it in the console at /account, or with `slipway user password {username}`)");
        }
        Some(FirstRun::Token { username }) => {
            println!("  admin        {username}, with the API token from SLIPWAY_ADMIN_TOKEN")
        }
        None => println!("  sign in with the credentials printed at the first start"),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(8081)
}

/// Apply the bundled Pets example as the first admin; a second `up` finds nothing to change.
async fn load_example(state: &slipway_server::AppState) -> anyhow::Result<(Actor, String)> {
    let admin = state
        .store
        .user_by_name("admin")
        .await?
        .ok_or_else(|| anyhow::anyhow!("the admin user is missing from this data folder"))?;
    let actor = Actor {
        user_id: admin.id,
        username: admin.username,
        role: admin.role,
        csrf: None,
    };
    let files = [ConfigText {
        name: "examples/pets/slipway.yaml".into(),
        content: crate::example::PETS_YAML.into(),
    }];
    let outcome = slipway_server::services::projects::apply(
        state,
        &actor,
        &files,
        slipway_server::services::projects::ApplyOptions::default(),
    )
    .await?;
    Ok((actor, format!("project pets — {}", outcome.summary)))
}
