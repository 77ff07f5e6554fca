//! What an operator does once before the load: declare the environments and a project whose
//! plan has `steps` steps (through `POST /api/v1/apply`), push its one artifact and create a
//! release, all through the public API as the caller's token allows. It never touches agents.

use serde_json::{json, Value};
use slipway_api::vault::CreateRelease;

use crate::http::{Call, CallError, Client};
use crate::stats::{CallKind, Stats};

/// The role every simulated agent enrols with and every step runs on.
pub(crate) const ROLE: &str = "app";
const COMPONENT: &str = "app";
/// The release and its artifact share this version.
pub(crate) const VERSION: &str = "1.0.0";

/// What the load runs against.
pub(crate) struct Prepared {
    pub(crate) project: String,
    pub(crate) environments: Vec<String>,
}

/// The `slipway.yaml` the run applies: `environments` plain ones (no gates, so a deployment
/// starts at once), and a project whose plan is `steps` commands on the `app` role.
pub(crate) fn config_yaml(project: &str, environments: &[String], steps: usize) -> String {
    let mut yaml = String::from("environments:\n");
    for env in environments {
        yaml.push_str(&format!("  - name: {env}\n"));
    }
    yaml.push_str(&format!(
        "project:\n  name: {project}\n  components:\n    - {{ name: {COMPONENT}, kind: file }}\n  plan:\n"
    ));
    for step in 1..=steps {
        yaml.push_str(&format!(
            "    - {{ name: step-{step}, action: command, roles: [{ROLE}], with: {{ run: /bin/true }} }}\n"
        ));
    }
    yaml
}

pub(crate) fn prepare(
    admin: &Client,
    stats: &Stats,
    project: &str,
    environments: Vec<String>,
    steps: usize,
) -> Result<Prepared, CallError> {
    let files = json!({
        "files": [{ "name": "loadgen.yaml", "content": config_yaml(project, &environments, steps) }],
    });
    let _: Value = admin.json(
        stats,
        Call::post(CallKind::Apply, "/api/v1/apply"),
        Some(&files),
    )?;
    let path = format!("/api/v1/projects/{project}/components/{COMPONENT}/artifacts/{VERSION}");
    let _: Value = admin.bytes(
        stats,
        Call::post(CallKind::PushArtifact, &path),
        format!("{project} {VERSION}\n").as_bytes(),
    )?;
    let release = CreateRelease {
        version: VERSION.into(),
        artifacts: [(COMPONENT.to_string(), VERSION.to_string())].into(),
        channel: None,
        labels: Vec::new(),
        notes: None,
        commits: None,
        unsigned_ok: true,
    };
    let path = format!("/api/v1/projects/{project}/releases");
    let _: Value = admin.json(
        stats,
        Call::post(CallKind::CreateRelease, &path),
        Some(&release),
    )?;
    Ok(Prepared {
        project: project.to_string(),
        environments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_declares_every_environment_and_step() {
        let yaml = config_yaml("lg", &["E-1".into(), "E-2".into()], 3);
        assert!(yaml.contains("  - name: E-1\n  - name: E-2\n"), "{yaml}");
        assert_eq!(yaml.matches("action: command").count(), 3, "{yaml}");
        assert!(yaml.contains("name: step-3,"), "{yaml}");
    }
}
