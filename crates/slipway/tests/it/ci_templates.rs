//! The shared pipeline (`ci/`): the one script every CI template runs, against a live server
//! with the real CLI — artifacts pushed, the release created, its test results, coverage and
//! scan pushed — and refusing clearly when an input is missing; the GitLab, GitHub and Jenkins
//! templates are valid and run that script.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::*;

fn ci(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../ci")
        .join(path)
}

fn fixture(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ingest/tests/fixtures")
        .join(path)
        .display()
        .to_string()
}

/// Run the shared script in `dir` with only `vars` (and a PATH) as its environment.
fn run_script(dir: &Path, vars: &[(&str, String)]) -> Output {
    Command::new("bash")
        .arg(ci("slipway-release.sh"))
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(
            "SLIPWAY_PROFILE",
            dir.join("profile.json").display().to_string(),
        )
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("bash runs the script")
}

#[test]
fn the_shared_release_script_pushes_a_whole_release_through_the_real_cli() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    ok(server.apply(&file(
        work.path(),
        "pets.yaml",
        "environments:\n  - { name: DEV }\nproject:\n  name: pets\n  components:\n    - { name: web, kind: file }\n    - { name: sql, kind: file }\n  plan:\n    - { name: Hi, action: command, roles: [app], with: { run: \"true\" } }\n",
    )));
    let token = server.user_with_token("ci-bot", "developer");
    file(work.path(), "pets.war", "war bytes");
    file(work.path(), "pets-sql.zip", "sql bytes");
    file(work.path(), "commits.txt", "abc123 feat: adopt cats\n");
    let base = |version: &str| -> Vec<(&'static str, String)> {
        vec![
            ("SLIPWAY_BIN", slipway_bin().display().to_string()),
            ("SLIPWAY_SERVER", server.url.clone()),
            ("SLIPWAY_TOKEN", token.clone()),
            ("SLIPWAY_PROJECT", "pets".into()),
            ("SLIPWAY_VERSION", version.into()),
        ]
    };
    let mut vars = base("1.4.2");
    vars.extend([
        (
            "SLIPWAY_ARTIFACTS",
            "web=pets.war\nsql=pets-sql.zip".to_string(),
        ),
        ("SLIPWAY_UNSIGNED_OK", "true".into()),
        ("SLIPWAY_COMMIT", "abc123".into()),
        ("SLIPWAY_BRANCH", "main".into()),
        ("SLIPWAY_COMMITS_FILE", "commits.txt".into()),
        ("SLIPWAY_ENV", "DEV".into()),
        (
            "SLIPWAY_TEST_RESULTS",
            format!(
                "e2e={} unit={}",
                fixture("surefire.xml"),
                fixture("jest.xml")
            ),
        ),
        ("SLIPWAY_LAUNCH", "gitlab-77".into()),
        (
            "SLIPWAY_COVERAGE",
            format!("unit={}", fixture("coverage/cobertura.xml")),
        ),
        (
            "SLIPWAY_SCANS",
            format!("web={}", fixture("scans/trivy.json")),
        ),
    ]);
    let out = run_script(work.path(), &vars);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));

    let release = json(server.cli(
        None,
        &[
            "release",
            "show",
            "--project",
            "pets",
            "1.4.2",
            "-o",
            "json",
        ],
    ));
    assert_eq!(
        release["artifacts"].as_array().map(Vec::len),
        Some(2),
        "{release:#}"
    );
    let runs = json(server.cli(
        None,
        &[
            "tests",
            "runs",
            "--project",
            "pets",
            "--release",
            "1.4.2",
            "-o",
            "json",
        ],
    ));
    let suites: Vec<&str> = runs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["suite"].as_str().unwrap())
        .collect();
    assert_eq!(suites.len(), 2, "{runs:#}");
    assert!(
        suites.contains(&"e2e") && suites.contains(&"unit"),
        "{runs:#}"
    );
    assert!(runs["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["launch"] == "gitlab-77" && r["attributes"]["branch"] == "main"));
    let coverage = ok(server.cli(
        None,
        &[
            "coverage",
            "show",
            "--project",
            "pets",
            "--release",
            "1.4.2",
        ],
    ));
    assert!(coverage.contains("unit"), "{coverage}");
    let findings: Value = json(server.cli(
        None,
        &[
            "findings",
            "list",
            "--project",
            "pets",
            "--release",
            "1.4.2",
            "-o",
            "json",
        ],
    ));
    assert!(
        findings["items"].as_array().is_some_and(|f| !f.is_empty()),
        "{findings:#}"
    );

    // A missing input is named before anything is pushed.
    let mut missing = base("1.4.3");
    missing.retain(|(k, _)| *k != "SLIPWAY_PROJECT");
    let out = run_script(work.path(), &missing);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("SLIPWAY_PROJECT is not set"),
        "{}",
        stderr(&out)
    );
    let mut typo = base("1.4.3");
    typo.push(("SLIPWAY_ARTIFACTS", "web=pets.wra".into()));
    let out = run_script(work.path(), &typo);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("pets.wra"), "{}", stderr(&out));
    let none = server.cli(
        None,
        &[
            "release",
            "show",
            "--project",
            "pets",
            "1.4.3",
            "-o",
            "json",
        ],
    );
    assert!(!none.status.success(), "nothing of 1.4.3 was created");
}

/// Every value of a YAML document, depth first, as text.
fn strings(doc: &yaml_rust2::Yaml, out: &mut Vec<String>) {
    use yaml_rust2::Yaml;
    match doc {
        Yaml::String(s) => out.push(s.clone()),
        Yaml::Array(items) => items.iter().for_each(|i| strings(i, out)),
        Yaml::Hash(map) => map.iter().for_each(|(k, v)| {
            strings(k, out);
            strings(v, out);
        }),
        _ => {}
    }
}

#[test]
fn every_ci_template_is_valid_and_runs_the_one_shared_script() {
    for template in ["gitlab/slipway.gitlab-ci.yml", "github/action.yml"] {
        let text = std::fs::read_to_string(ci(template)).unwrap();
        let docs = yaml_rust2::YamlLoader::load_from_str(&text)
            .unwrap_or_else(|e| panic!("{template} is not valid YAML: {e}"));
        assert_eq!(docs.len(), 1, "{template}");
        let mut values = Vec::new();
        strings(&docs[0], &mut values);
        assert!(
            values.iter().any(|v| v.contains("slipway-release.sh")),
            "{template} does not run ci/slipway-release.sh"
        );
    }
    let action = yaml_rust2::YamlLoader::load_from_str(
        &std::fs::read_to_string(ci("github/action.yml")).unwrap(),
    )
    .unwrap()
    .remove(0);
    assert_eq!(action["runs"]["using"].as_str(), Some("composite"));
    let gitlab = yaml_rust2::YamlLoader::load_from_str(
        &std::fs::read_to_string(ci("gitlab/slipway.gitlab-ci.yml")).unwrap(),
    )
    .unwrap()
    .remove(0);
    assert!(gitlab[".slipway-release"]["script"].as_vec().is_some());
    let jenkins = std::fs::read_to_string(ci("jenkins/slipwayRelease.groovy")).unwrap();
    assert!(
        jenkins.contains("def call(Map config"),
        "a shared-library step"
    );
    assert!(jenkins.contains("ci/slipway-release.sh"));
    let script = std::fs::read_to_string(ci("slipway-release.sh")).unwrap();
    assert!(script.contains("set -euo pipefail"));
}
