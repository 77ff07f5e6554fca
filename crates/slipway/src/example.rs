//! The bundled example, deployed for real by `slipway up`: one local agent enrolled in each
//! environment of the chain (DEV to PROD-US), each with working variables that point into its own
//! folder; the Pets artifacts signed with a key `up` generates and pushed to the vault; release
//! 1.0.0, which may therefore reach the environments that require signatures; and a deployment to
//! DEV whose effects land in the data folder (WAR placed, SQLite database migrated, batch
//! installed, the stand-in application server started and checked over HTTP). The README walks
//! the rest of the chain.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use slipway_core::model::VariableScope;
use slipway_core::release::{ArtifactVersion, Provenance, Version};
use slipway_core::signing::{artifact_payload, SigningKey};
use slipway_core::{Name, Sha256};
use slipway_server::auth::Actor;
use slipway_server::services::{
    self, artifacts::PushRequest, deployments::Mode, releases::CreateRelease,
};
use slipway_server::AppState;

pub(crate) const PETS_YAML: &str = include_str!("../../../examples/pets/slipway.yaml");
const ARTIFACTS: [(&str, &[u8]); 3] = [
    (
        "pets-war",
        include_bytes!("../../../examples/pets/artifacts/pets.war"),
    ),
    (
        "pets-sql",
        include_bytes!("../../../examples/pets/artifacts/pets-sql.tar.gz"),
    ),
    (
        "pets-batch",
        include_bytes!("../../../examples/pets/artifacts/export.sh"),
    ),
];
const VERSION: &str = "1.0.0";

/// The example's environments, in lifecycle order, and the local agent enrolled in each.
pub(crate) const STAGES: [(&str, &str); 6] = [
    ("DEV", "local-dev"),
    ("INT", "local-int"),
    ("MET", "local-met"),
    ("PRE-PROD", "local-pre-prod"),
    ("PROD-EU", "local-prod-eu"),
    ("PROD-US", "local-prod-us"),
];

/// The key `up` signs the example's artifacts with, and the name the project trusts it under.
const SIGNING_KEY_FILE: &str = "example-signing.key";
const SIGNING_KEY_NAME: &str = "example";

/// The agent folder of an environment; DEV keeps the folder earlier versions used.
fn agent_dir(data: &Path, environment: &str) -> PathBuf {
    match environment {
        "DEV" => data.join("agent"),
        other => data.join("agents").join(other.to_lowercase()),
    }
}

fn name(s: &str) -> Name {
    Name::parse(s).expect("the example's names are valid")
}

/// The local agents `up` runs, and the stand-in application servers their deployments start:
/// all stop with `up`.
pub(crate) struct LocalAgents {
    agents: Vec<Child>,
    app_roots: Vec<PathBuf>,
}

impl Drop for LocalAgents {
    fn drop(&mut self) {
        for agent in &mut self.agents {
            let _ = agent.kill();
        }
        for agent in &mut self.agents {
            let _ = agent.wait();
        }
        for root in &self.app_roots {
            crate::demo::stop_quietly(root);
        }
    }
}

/// Point one environment at its agent's folder: where files go, the database, the stand-in
/// application server and its port.
async fn stage_variables(
    state: &AppState,
    actor: &Actor,
    environment: &str,
    app_port: u16,
) -> anyhow::Result<()> {
    let pets = name("pets");
    let db_name = format!("pets-{}.db", environment.to_lowercase());
    let wanted = [
        ("APP_ROOT", "${SLIPWAY_AGENT_DATA}/pets".to_string()),
        ("BATCH_ROOT", "${SLIPWAY_AGENT_DATA}/pets-batch".to_string()),
        ("DB_URL", format!("sqlite://${{SLIPWAY_AGENT_DATA}}/{db_name}?mode=rwc")),
        ("JBOSS_CTL", format!("${{SLIPWAY_BIN}} demo-appserver --root ${{SLIPWAY_AGENT_DATA}}/pets --port {app_port}")),
        ("APP_URL", format!("http://127.0.0.1:{app_port}")),
    ];
    let current = services::variables::list(state, actor, &pets).await?;
    for (var, value) in wanted {
        let already = current.iter().any(|v| {
            v.name.as_str() == var
                && v.environment
                    .as_ref()
                    .is_some_and(|e| e.as_str() == environment)
                && v.role.is_none()
                && v.value.as_deref() == Some(value.as_str())
        });
        if !already {
            let scope = VariableScope {
                environment: Some(name(environment)),
                role: None,
            };
            services::variables::set(state, actor, &pets, &name(var), scope, &value, false).await?;
        }
    }
    Ok(())
}

/// The example's signing key: read from the data folder, or made (0600) and trusted by the
/// project on the first run.
async fn signing_key(state: &AppState, data: &Path) -> anyhow::Result<SigningKey> {
    let path = data.join(SIGNING_KEY_FILE);
    let key = match std::fs::read_to_string(&path) {
        Ok(text) => SigningKey::from_file_text(&text)
            .with_context(|| format!("{} is not a signing key", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            getrandom::getrandom(&mut seed).context("no randomness from the system")?;
            let key = SigningKey::from_seed(seed);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            std::io::Write::write_all(&mut options.open(&path)?, key.to_file_text().as_bytes())?;
            key
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let pets = name("pets");
    let trusted = state
        .store
        .signing_keys(&pets)
        .await?
        .iter()
        .any(|k| k.name.as_str() == SIGNING_KEY_NAME && k.revoked_at.is_none());
    if !trusted {
        services::signing_keys::trust_example_key(
            state,
            &pets,
            &name(SIGNING_KEY_NAME),
            key.public_key(),
        )
        .await?;
    }
    Ok(key)
}

async fn push_artifacts(state: &AppState, actor: &Actor, key: &SigningKey) -> anyhow::Result<()> {
    let version = ArtifactVersion::parse(VERSION).expect("a valid version");
    for (component, bytes) in ARTIFACTS {
        if state
            .store
            .artifact(&name("pets"), &name(component), &version)
            .await?
            .is_some()
        {
            continue;
        }
        let provenance = Provenance {
            builder: Some("slipway up (bundled example)".into()),
            ..Default::default()
        };
        let digest = Sha256::of(bytes);
        let signature = key.sign(&artifact_payload(
            &name("pets"),
            &name(component),
            &version,
            &digest,
            bytes.len() as u64,
            &provenance,
        ));
        let request = PushRequest {
            project: name("pets"),
            component: name(component),
            version: version.clone(),
            provenance,
            declared_digest: Some(digest),
            signature: Some(signature),
            content_length: Some(bytes.len() as u64),
        };
        let body =
            futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(bytes))]);
        services::artifacts::push(state, actor, request, body).await?;
    }
    Ok(())
}

/// Create the example's release unless it exists; returns the promotions it opened by itself
/// (the Pets lifecycle's first phase, DEV, is `automatic: true`).
async fn create_release(state: &AppState, actor: &Actor) -> anyhow::Result<Vec<i64>> {
    let version = Version::parse(VERSION).expect("a valid version");
    if state
        .store
        .release(&name("pets"), &version)
        .await?
        .is_some()
    {
        return Ok(Vec::new());
    }
    let request = CreateRelease {
        project: name("pets"),
        version: VERSION.into(),
        artifacts: ARTIFACTS
            .iter()
            .map(|(c, _)| (c.to_string(), VERSION.to_string()))
            .collect(),
        channel: None,
        labels: Vec::new(),
        notes: None,
        // Signed by `up`'s key; a data folder from before it holds an unsigned 1.0.0 already.
        unsigned_ok: false,
    };
    Ok(services::releases::create(state, actor, request)
        .await?
        .promotions_opened)
}

fn start_agent(
    dir: &Path,
    agent_name: &str,
    server_url: &str,
    token: Option<&str>,
) -> anyhow::Result<Child> {
    std::fs::create_dir_all(dir)?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("agent.log"))
        .context("cannot open the agent's log")?;
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args([
        "agent",
        "--insecure-http",
        "--server",
        server_url,
        "--name",
        agent_name,
        "--data",
    ])
    .arg(dir);
    if let Some(t) = token {
        cmd.args(["--enroll-token", t]);
    }
    // The agent lives and dies with `up`, even when `up` is killed without a chance to clean up.
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec here.
    #[allow(unsafe_code)] // pre_exec and prctl(2) have no safe form.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .spawn()
        .with_context(|| format!("cannot start the local agent {agent_name}"))
}

async fn wait_online(state: &AppState) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut missing: Vec<&str> = STAGES.iter().map(|(_, agent)| *agent).collect();
    while Instant::now() < deadline {
        let targets = state.store.targets().await?;
        missing.retain(|agent| {
            !targets
                .iter()
                .any(|t| t.name == *agent && services::targets::liveness(t) == "online")
        });
        if missing.is_empty() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!(
        "the local agent(s) {} did not come online; see agent.log in their folders under the data folder",
        missing.join(", ")
    )
}

/// Enrol (on the first run) and start the agent of every environment.
async fn start_agents(
    state: &AppState,
    actor: &Actor,
    data: &Path,
    server_url: &str,
) -> anyhow::Result<LocalAgents> {
    let mut agents = LocalAgents {
        agents: Vec::new(),
        app_roots: Vec::new(),
    };
    for (environment, agent_name) in STAGES {
        let dir = agent_dir(data, environment);
        let token = if dir.join("agent.json").exists() {
            None
        } else {
            let created = services::targets::create_enrollment_token(
                state,
                actor,
                Some(environment),
                vec!["app".into(), "batch".into()],
                1,
            )
            .await?;
            Some(created.token)
        };
        agents
            .agents
            .push(start_agent(&dir, agent_name, server_url, token.as_deref())?);
        agents.app_roots.push(dir.join("pets"));
    }
    wait_online(state).await?;
    Ok(agents)
}

/// What `up` says about the example's deployment.
pub(crate) struct ExampleDeployment {
    pub(crate) line: String,
    /// The application answers already (started again over an earlier deployment), rather than
    /// once the deployment now running finishes.
    pub(crate) answering: bool,
}

/// Run the example for real. Returns the local agents (kept running with the server) and what
/// happened. `app_ports` holds one port per environment of [`STAGES`], in that order.
pub(crate) async fn deploy(
    state: &AppState,
    actor: &Actor,
    data: &Path,
    server_url: &str,
    app_ports: &[u16],
) -> anyhow::Result<(LocalAgents, ExampleDeployment)> {
    for ((environment, _), port) in STAGES.iter().zip(app_ports) {
        stage_variables(state, actor, environment, *port).await?;
    }
    let key = signing_key(state, data).await?;
    push_artifacts(state, actor, &key).await?;
    let agents = start_agents(state, actor, data, server_url).await?;
    // What each environment really holds after any rollbacks (the computation parity uses),
    // not whether some deployment once succeeded: the application servers that stopped with
    // the previous `up` start again, on this run's ports, over the files they had.
    let mut holding = Vec::new();
    let mut dev_holds = false;
    for ((environment, _), (root, port)) in
        STAGES.iter().zip(agents.app_roots.iter().zip(app_ports))
    {
        let held = state
            .store
            .target_releases("pets", environment)
            .await?
            .last()
            .map(|(_, release, _)| release.clone());
        if let Some(release) = held {
            crate::demo::start_quietly(root, *port)?;
            holding.push(format!("{environment} holds pets {release}"));
            dev_holds |= *environment == "DEV";
        }
    }
    // Once the agents are online: the lifecycle's automatic first phase sends a new release to
    // DEV at its creation, and DEV's agent must be there for that promotion to be a go.
    let opened = create_release(state, actor).await?;
    if dev_holds {
        let line = format!(
            "{}; the application servers are started again",
            holding.join(", ")
        );
        return Ok((
            agents,
            ExampleDeployment {
                line,
                answering: true,
            },
        ));
    }
    let deploying = |id: i64| {
        format!("deploying pets {VERSION} to DEV on local agent local-dev: deployment {id} (follow: slipway deployment show {id} --wait)")
    };
    let waiting = |id: i64| {
        format!(
            "pets {VERSION} waits to enter DEV: promotion {id} (see: slipway promotion show {id})"
        )
    };
    let opened_promotion = match opened.first() {
        Some(id) => state.store.promotion(*id).await?,
        None => None,
    };
    let message = match opened_promotion {
        Some(p) => p.deployment_id.map_or_else(|| waiting(p.id), deploying),
        // A data folder whose release predates the automatic first phase, or a DEV rolled
        // back to nothing: deploy by hand.
        None => match services::deployments::create(
            state,
            actor,
            &name("pets"),
            VERSION,
            &name("DEV"),
            Mode::Deploy,
        )
        .await?
        {
            services::promotions::Started::Deployment(d) => deploying(d.id),
            services::promotions::Started::Waiting(p) => waiting(p.promotion.id),
        },
    };
    Ok((
        agents,
        ExampleDeployment {
            line: message,
            answering: false,
        },
    ))
}
