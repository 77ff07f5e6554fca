//! Starting the server: data folder, store, master key, first admin, listener, routes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use slipway_store::Store;
use tokio::sync::oneshot;

use crate::secrets::SecretBox;
pub use crate::services::users::FirstAdmin as FirstRun;
use crate::AppState;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Holds `slipway.db` (SQLite) and `master.key` unless given elsewhere.
    pub data_dir: PathBuf,
    /// `postgres://…` for PostgreSQL; SQLite in the data folder when absent.
    pub database_url: Option<String>,
    pub listen: SocketAddr,
    /// At first start, create the admin with this API token instead of a password.
    pub admin_token: Option<String>,
    pub master_key_file: Option<PathBuf>,
    /// The audit checkpoints' Ed25519 key; `checkpoint.key` in the data folder when absent.
    pub checkpoint_key_file: Option<PathBuf>,
    /// Serve HTTPS with this certificate; plain HTTP when absent.
    pub tls: Option<crate::tls::TlsSource>,
    /// Single sign-on (OpenID Connect, LDAP) and session timeouts; local accounts only when absent.
    pub auth_config: Option<PathBuf>,
    /// Where the vault keeps blobs: the data folder, or S3 (`--vault s3://BUCKET/PREFIX`).
    pub vault: crate::vault::VaultLocation,
}

pub struct RunningServer {
    pub addr: SocketAddr,
    /// The fingerprint of the certificate served, when serving HTTPS: what agents pin.
    pub fingerprint: Option<slipway_core::CertFingerprint>,
    pub first_run: Option<FirstRun>,
    /// `sha256:` fingerprint of the key that signs the audit checkpoints.
    pub checkpoint_key_fingerprint: String,
    pub state: AppState,
    shutdown: oneshot::Sender<()>,
    serving: Serving,
    /// The data folder's lock on SQLite, held while the server lives.
    _data_lock: Option<std::fs::File>,
}

impl RunningServer {
    /// Serve until Ctrl-C or SIGTERM, then finish in-flight requests.
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serve until `stop` completes, then finish in-flight requests (`up` stops its own agent
    /// first, so that its long poll does not hold the shutdown).
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let RunningServer {
            shutdown,
            serving,
            state,
            ..
        } = self;
        stop.await;
        // Not ready from now on; with a drain period, keep serving while a load balancer that
        // polls `/readyz` moves new requests to other replicas.
        state.draining.start();
        let drain = crate::readiness::drain_period()?;
        if !drain.is_zero() {
            tracing::info!(
                ?drain,
                "draining: /readyz answers 503 until the drain period ends"
            );
            tokio::time::sleep(drain).await;
        }
        tracing::info!("shutting down");
        let _ = shutdown.send(());
        // Requests in flight get a moment to finish. Long polls (an agent waiting for work, a
        // live console page) would hold the shutdown for their whole timeout, 15-45 s: they are
        // cut instead; agents and pages reconnect to the next server by themselves.
        let cut = serving.abort_handle();
        match tokio::time::timeout(SHUTDOWN_GRACE, serving).await {
            Ok(joined) => joined.context("the server task failed")??,
            Err(_) => {
                cut.abort();
                tracing::info!(grace = ?SHUTDOWN_GRACE, "cut the connections still open");
            }
        }
        crate::leader::release(&state).await;
        state.store.close().await;
        Ok(())
    }
}

/// How long a stopping server waits for requests in flight.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_millis(1500);

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM can be watched");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// SQLite is one server's: a second server on the same data folder would run the orchestrator
/// twice over one database. The lock goes with the process, however it ends.
fn lock_data_folder(data: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let path = data.join("server.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another Slipway server uses the data folder {} (SQLite serves one server); stop it, or give this one another --data (several servers share a PostgreSQL database: --database-url)",
            data.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

pub async fn start(config: ServerConfig) -> anyhow::Result<RunningServer> {
    create_private_dir(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data folder {}",
            config.data_dir.display()
        )
    })?;
    let (store, data_lock) = open_store(&config).await?;
    let key_path = config
        .master_key_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join("master.key"));
    let secrets = SecretBox::load_or_create(&key_path)?;
    check_master_key(&store, &secrets, &key_path).await?;
    let vault_config = crate::vault::VaultConfig::from_env()?;
    let vault = open_vault(&config, vault_config).await?;
    let tls = match &config.tls {
        Some(source) => Some(crate::tls::load(source, &config.data_dir)?),
        None => None,
    };
    let fingerprint = tls.as_ref().map(|t| t.fingerprint);
    let mut checkpoints = crate::checkpoint_log::CheckpointLog::open(
        &config.data_dir,
        config.checkpoint_key_file.as_deref(),
    )?;
    checkpoints.syslog =
        crate::checkpoint_log::syslog_witnesses_from_env().context("SLIPWAY_CHECKPOINT_SYSLOG")?;
    checkpoints.witness_servers = crate::checkpoint_log::witness_servers_from_env()?;
    let witness = crate::witness_book::WitnessBook::from_env(&config.data_dir)?;
    let checkpoint_key_fingerprint = slipway_core::evidence::fingerprint(&checkpoints.public_key());
    let mut state = AppState::new(store, secrets, vault, tls.is_some());
    state.checkpoints = Some(std::sync::Arc::new(checkpoints));
    state.witness = witness.map(std::sync::Arc::new);
    state.server_fingerprint = fingerprint;
    state.clock = std::sync::Arc::new(crate::state::Clock::from_env().map_err(anyhow::Error::msg)?);
    if let Some(path) = &config.auth_config {
        state.authorities = std::sync::Arc::new(crate::auth::authorities::Authorities::load(path)?);
    }
    if state.clock.is_manual() {
        // A rehearsal clock on a real server opens windows and lifts freezes at an admin's word:
        // say so where whoever started it looks, every start (moves are audited, and a move that
        // opens a protected environment is recorded as a break-glass).
        eprintln!(
            "WARNING: SLIPWAY_CLOCK=manual: deployment windows and freezes are judged at a clock an admin moves by hand ({}); for rehearsals and tests only, never production",
            state.clock.now()
        );
    }
    crate::readiness::drain_period()?;
    let first_run =
        crate::services::users::bootstrap(&state, config.admin_token.as_deref()).await?;
    crate::services::vault_upkeep::recover(&state).await?;
    crate::services::checkpoints::announce(&state);
    // In the background: the server serves while it re-hashes the log; signing waits for it.
    crate::services::checkpoints::spawn_check_at_start(&state);
    spawn_background_work(&state, &vault_config)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; is another server using the port? choose one with --port",
                config.listen
            )
        })?;
    let addr = listener.local_addr()?;
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let (shutdown, stop) = oneshot::channel::<()>();
    let serving = serve(listener, app, tls.map(|t| t.config), stop)?;
    match fingerprint {
        Some(fingerprint) => tracing::info!(%addr, %fingerprint, "listening with TLS"),
        None => tracing::info!(%addr, "listening"),
    }
    Ok(RunningServer {
        addr,
        fingerprint,
        first_run,
        checkpoint_key_fingerprint,
        state,
        shutdown,
        serving,
        _data_lock: data_lock,
    })
}

/// The database the configuration names (PostgreSQL), or the data folder's SQLite file, which
/// this server then locks for itself: the lock goes with the process, however it ends.
async fn open_store(config: &ServerConfig) -> anyhow::Result<(Store, Option<std::fs::File>)> {
    Ok(match &config.database_url {
        Some(url) => (Store::open(url).await?, None),
        None => {
            let lock = lock_data_folder(&config.data_dir)?;
            let store = Store::open_sqlite(&config.data_dir.join("slipway.db")).await?;
            (store, Some(lock))
        }
    })
}

async fn open_vault(
    config: &ServerConfig,
    vault_config: crate::vault::VaultConfig,
) -> anyhow::Result<crate::vault::BlobStore> {
    crate::vault::BlobStore::open_at(&config.data_dir, &config.vault, vault_config)
        .await
        .with_context(|| match &config.vault {
            crate::vault::VaultLocation::Disk => format!(
                "cannot prepare the vault folder in {}",
                config.data_dir.display()
            ),
            crate::vault::VaultLocation::S3(s3) => {
                format!("cannot open the vault {}", s3.describe())
            }
        })
}

/// The server's background work: the leader's loops, other servers' wake-ups, the orchestrator,
/// webhook and alert delivery, checkpoints and the vault's sweeps when asked for.
fn spawn_background_work(
    state: &AppState,
    vault_config: &crate::vault::VaultConfig,
) -> anyhow::Result<()> {
    if let Some(period) = checkpoint_period()? {
        crate::services::checkpoints::schedule(state.clone(), period);
    }
    crate::leader::spawn(state.clone());
    crate::state::listen_for_other_servers(state);
    crate::engine::spawn(state.clone());
    crate::outbox::spawn(state.clone());
    crate::channels::spawn(state.clone());
    if let Some(timing) = crate::services::oidc_recheck::timing(state)? {
        crate::services::oidc_recheck::spawn(state.clone(), timing);
    }
    if let Some(period) = vault_config.gc_every {
        crate::services::vault_upkeep::schedule_gc(state.clone(), period);
    }
    if let Some(period) = vault_config.scrub_every {
        crate::services::vault_upkeep::schedule_scrub(state.clone(), period);
    }
    Ok(())
}

type Serving = tokio::task::JoinHandle<std::io::Result<()>>;

/// Serve `app` on `listener` (through TLS when given) until `stop` is sent or dropped.
fn serve(
    listener: tokio::net::TcpListener,
    app: axum::extract::connect_info::IntoMakeServiceWithConnectInfo<axum::Router, SocketAddr>,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    stop: oneshot::Receiver<()>,
) -> anyhow::Result<Serving> {
    let stop = async {
        let _ = stop.await;
    };
    Ok(match tls {
        None => tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        }),
        Some(config) => {
            // `tap_io` changes nothing on the stream: it lends the TLS listener axum's
            // `ConnectInfo<SocketAddr>`, which handlers use for the client's address.
            let listener = crate::tls::TlsListener::new(listener, config)?.tap_io(|_| {});
            tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await
            })
        }
    })
}

/// How often the server signs an audit checkpoint when the log grew: `SLIPWAY_CHECKPOINT_EVERY`
/// seconds, 300 by default, 0 for never (checkpoints are then signed on demand only).
fn checkpoint_period() -> anyhow::Result<Option<std::time::Duration>> {
    let secs = match std::env::var("SLIPWAY_CHECKPOINT_EVERY") {
        Ok(text) => text.trim().parse::<u64>().map_err(|_| {
            anyhow::anyhow!("SLIPWAY_CHECKPOINT_EVERY=`{text}` is not a number of seconds; write e.g. 300, or 0 to sign on demand only")
        })?,
        Err(_) => 300,
    };
    Ok((secs > 0).then(|| std::time::Duration::from_secs(secs)))
}

/// A database sealed under one master key must not be served with another: sensitive values
/// would silently stop opening. A sealed canary, written at first start, tells.
async fn check_master_key(
    store: &Store,
    secrets: &SecretBox,
    key_path: &std::path::Path,
) -> anyhow::Result<()> {
    const CANARY_SLOT: &str = "slipway/master-key-check";
    match store.setting("master_key_check").await? {
        Some(sealed) if secrets.open(CANARY_SLOT, &sealed).is_some() => Ok(()),
        Some(_) => anyhow::bail!(
            "the master key {} is not the one this database's secrets were sealed with; start with the original key (--master-key-file) or restore it into the data folder",
            key_path.display()
        ),
        None => {
            let mut tx = store.write().await?;
            tx.set_setting("master_key_check", &secrets.seal(CANARY_SLOT, "ok")).await?;
            tx.audit(slipway_core::audit::AuditEntry {
                actor: "slipway".into(),
                verb: "master_key.bind".into(),
                subject: "settings/master_key_check".into(),
                details: serde_json::json!({ "reason": "first start with this database" }),
            });
            tx.commit().await?;
            Ok(())
        }
    }
}

/// A folder (and its parents) only its owner reads: the data folder, and backups of it.
pub(crate) fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .merge(crate::api::router())
        .merge(crate::console::router())
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(crate::readiness::readyz))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn(problems_for_rejections))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Every error answer of the API is problem+json, including those axum writes itself before a
/// handler runs (a malformed or over-limit body, an unknown route or method), which are plain
/// text. One place for all of them, rather than a wrapper around every extractor.
async fn problems_for_rejections(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !api || is_problem || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    // Rejection texts are one sentence; a longer body is cut, never buffered whole.
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let detail = String::from_utf8_lossy(&text).trim().to_string();
    let mut problem = crate::error::Problem::rejection(status, detail).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().insert(name.clone(), value.clone());
        }
    }
    problem
}

/// Prometheus's scrape. Anonymous, it holds the server's own figures and every project's
/// together (DORA gauges, deployments counted); with a credential that may read, the
/// deployment counters are per project and environment (their names are the customer's,
/// so not for anyone who reaches the port). A credential that is not valid is refused rather
/// than answered as anonymous: a scrape job with a revoked token should fail, not thin out.
async fn metrics(State(state): State<AppState>, parts: axum::http::request::Parts) -> Response {
    let per_lane = match crate::auth::identify(&state, &parts).await {
        Ok(Some(actor)) => {
            slipway_core::access::authorize(actor.role, slipway_core::access::Operation::Read)
                .is_ok()
        }
        Ok(None) if parts.headers.contains_key(header::AUTHORIZATION) => {
            return crate::ServiceError::Unauthenticated.into_response()
        }
        Ok(None) => false,
        Err(e) => return e.into_response(),
    };
    let events = state
        .store
        .audit_events(&slipway_store::AuditFilter {
            limit: 1,
            ..Default::default()
        })
        .await
        .ok()
        .and_then(|p| p.items.first().map(|e| e.seq))
        .unwrap_or(0);
    let mut text = state.metrics.render(events, state.engine.waiting.waiting());
    // A database error leaves the DORA gauges and the deployment counters out rather than
    // failing the scrape.
    if let Ok(Some(dora)) = crate::services::insights::gauges(&state).await {
        text.push_str(&crate::metrics::render_dora(&dora));
    }
    if let Ok(totals) = state.store.deployment_totals().await {
        text.push_str(&crate::metrics::render_deployment_totals(&totals, per_lane));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let micros = started.elapsed().as_micros() as u64;
    state.metrics.observe(response.status().as_u16(), micros);
    tracing::debug!(%method, %path, status = response.status().as_u16(), micros, "request");
    response
}
