//! The bundled example, deployed for real by `slipway up`: a local agent enrolled in DEV, the
//! Pets artifacts pushed to the vault, release 1.0.0, and a deployment to DEV whose effects land
//! in the data folder (WAR placed, SQLite database migrated, batch installed, the stand-in
//! application server started and checked over HTTP).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use slipway_core::model::VariableScope;
use slipway_core::release::{ArtifactVersion, Provenance, Version};
use slipway_core::Name;
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
const AGENT_NAME: &str = "local-dev";

fn name(s: &str) -> Name {
    Name::parse(s).expect("the example's names are valid")
}

/// The local agent `up` runs, and the stand-in application server its deployments start: both
/// stop with `up`.
pub(crate) struct LocalAgent {
    agent: Child,
    app_root: PathBuf,
}

impl Drop for LocalAgent {
    fn drop(&mut self) {
        let _ = self.agent.kill();
        let _ = self.agent.wait();
        crate::demo::stop_quietly(&self.app_root);
    }
}

/// Point DEV at the data folder: where files go, the database, the stand-in application server.
async fn dev_variables(state: &AppState, actor: &Actor, app_port: u16) -> anyhow::Result<()> {
    let pets = name("pets");
    let wanted = [
        ("APP_ROOT", "${SLIPWAY_AGENT_DATA}/pets".to_string()),
        ("BATCH_ROOT", "${SLIPWAY_AGENT_DATA}/pets-batch".to_string()),
        ("DB_URL", "sqlite://${SLIPWAY_AGENT_DATA}/pets-dev.db?mode=rwc".to_string()),
        ("JBOSS_CTL", format!("${{SLIPWAY_BIN}} demo-appserver --root ${{SLIPWAY_AGENT_DATA}}/pets --port {app_port}")),
        ("APP_URL", format!("http://127.0.0.1:{app_port}")),
    ];
    let current = services::variables::list(state, actor, &pets).await?;
    for (var, value) in wanted {
        let already = current.iter().any(|v| {
            v.name.as_str() == var
                && v.environment.as_ref().is_some_and(|e| e.as_str() == "DEV")
                && v.role.is_none()
                && v.value.as_deref() == Some(value.as_str())
        });
        if !already {
            let scope = VariableScope {
                environment: Some(name("DEV")),
                role: None,
            };
            services::variables::set(state, actor, &pets, &name(var), scope, &value, false).await?;
        }
    }
    Ok(())
}

async fn push_artifacts(state: &AppState, actor: &Actor) -> anyhow::Result<()> {
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
        let request = PushRequest {
            project: name("pets"),
            component: name(component),
            version: version.clone(),
            provenance: Provenance {
                builder: Some("slipway up (bundled example)".into()),
                ..Default::default()
            },
            declared_digest: None,
            signature: None,
            content_length: Some(bytes.len() as u64),
        };
        let body =
            futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(bytes))]);
        services::artifacts::push(state, actor, request, body).await?;
    }
    Ok(())
}

async fn create_release(state: &AppState, actor: &Actor) -> anyhow::Result<()> {
    let version = Version::parse(VERSION).expect("a valid version");
    if state
        .store
        .release(&name("pets"), &version)
        .await?
        .is_some()
    {
        return Ok(());
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
        // The example's artifacts are unsigned: this release can never reach PRE-PROD or PROD.
        unsigned_ok: true,
    };
    services::releases::create(state, actor, request).await?;
    Ok(())
}

fn start_agent(data: &Path, server_url: &str, token: Option<&str>) -> anyhow::Result<LocalAgent> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data.join("agent.log"))
        .context("cannot open the agent's log")?;
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args([
        "agent",
        "--insecure-http",
        "--server",
        server_url,
        "--name",
        AGENT_NAME,
        "--data",
    ])
    .arg(data.join("agent"));
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
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .spawn()
        .context("cannot start the local agent")?;
    Ok(LocalAgent {
        agent: child,
        app_root: data.join("agent").join("pets"),
    })
}

async fn wait_online(state: &AppState) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let online = state
            .store
            .targets()
            .await?
            .iter()
            .any(|t| t.name == AGENT_NAME && services::targets::liveness(t) == "online");
        if online {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the local agent did not come online; see its log in the data folder (agent.log)")
}

/// What `up` says about the example's deployment.
pub(crate) struct ExampleDeployment {
    pub(crate) line: String,
    /// The application answers already (started again over an earlier deployment), rather than
    /// once the deployment now running finishes.
    pub(crate) answering: bool,
}

/// Run the example for real. Returns the local agent (kept running with the server) and what
/// happened.
pub(crate) async fn deploy(
    state: &AppState,
    actor: &Actor,
    data: &Path,
    server_url: &str,
    app_port: u16,
) -> anyhow::Result<(LocalAgent, ExampleDeployment)> {
    dev_variables(state, actor, app_port).await?;
    push_artifacts(state, actor).await?;
    create_release(state, actor).await?;
    let identity: PathBuf = data.join("agent").join("agent.json");
    let token = if identity.exists() {
        None
    } else {
        let created = services::targets::create_enrollment_token(
            state,
            actor,
            Some("DEV"),
            vec!["app".into(), "batch".into()],
            1,
        )
        .await?;
        Some(created.token)
    };
    let agent = start_agent(data, server_url, token.as_deref())?;
    wait_online(state).await?;
    // What DEV really holds after any rollbacks (the computation parity uses), not whether
    // some deployment once succeeded.
    let held = state
        .store
        .target_releases("pets", "DEV")
        .await?
        .last()
        .map(|(_, release, _)| release.clone());
    if let Some(release) = held {
        // The application server stopped with the previous `up`: start it again, on this run's
        // port, over the files the last deployment left.
        crate::demo::start_quietly(&agent.app_root, app_port)?;
        let line = format!("DEV holds pets {release} (local agent {AGENT_NAME}); its application server is started again");
        return Ok((
            agent,
            ExampleDeployment {
                line,
                answering: true,
            },
        ));
    }
    let started = services::deployments::create(
        state,
        actor,
        &name("pets"),
        VERSION,
        &name("DEV"),
        Mode::Deploy,
    )
    .await?;
    let message = match started {
        services::promotions::Started::Deployment(d) => format!("deploying pets {VERSION} to DEV on local agent {AGENT_NAME}: deployment {} (follow: slipway deployment show {} --wait)", d.id, d.id),
        services::promotions::Started::Waiting(p) => format!("pets {VERSION} waits to enter DEV: promotion {} (see: slipway promotion show {})", p.promotion.id, p.promotion.id),
    };
    Ok((
        agent,
        ExampleDeployment {
            line: message,
            answering: false,
        },
    ))
}
