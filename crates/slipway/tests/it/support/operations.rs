//! What an operator does again and again through the CLI, as typed steps on a running [`Server`]
//! (in the manner of zero-to-production's `spawn_app`): apply a file, push an artifact, release,
//! deploy and follow, create a user with a token, enrol an agent. Each runs as the admin and
//! returns what the test needs; none asserts more than that the step itself succeeded.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use super::{file, json, ok, spawn_agent, AgentProcess, Server};

/// How long a followed deployment may take before the CLI gives up (the deployment goes on).
const DEPLOY_TIMEOUT_SECS: &str = "120";

impl Server {
    /// `slipway apply -f PATH` as the admin.
    pub(crate) fn apply(&self, path: &str) -> Output {
        self.cli(None, &["apply", "-f", path])
    }

    /// Push the file at `path` as `component` `version` of `project`, as the admin.
    pub(crate) fn push_artifact(
        &self,
        path: &str,
        project: &str,
        component: &str,
        version: &str,
    ) -> Output {
        self.cli(
            None,
            &[
                "artifact",
                "push",
                path,
                "--project",
                project,
                "--component",
                component,
                "--version",
                version,
            ],
        )
    }

    /// Create release `version` of `project`, unsigned, from each of `components` at that same
    /// version, as the admin.
    pub(crate) fn release_unsigned(
        &self,
        project: &str,
        version: &str,
        components: &[&str],
    ) -> Output {
        let artifacts: Vec<String> = components
            .iter()
            .map(|c| format!("{c}={version}"))
            .collect();
        let mut args = vec![
            "release",
            "create",
            "--project",
            project,
            "--version",
            version,
        ];
        for a in &artifacts {
            args.extend(["--artifact", a.as_str()]);
        }
        args.push("--unsigned-ok");
        self.cli(None, &args)
    }

    /// Deploy release `version` of `project` to `env` as the admin and follow it to its outcome.
    pub(crate) fn deploy(&self, project: &str, version: &str, env: &str) -> Output {
        self.cli(
            None,
            &[
                "deploy",
                "--project",
                project,
                "--release",
                version,
                "--env",
                env,
                "--wait",
                "--timeout",
                DEPLOY_TIMEOUT_SECS,
            ],
        )
    }

    /// Ask for a deployment as the admin without following it: the CLI answers once the server
    /// has accepted it (or its gates have said why it waits).
    pub(crate) fn start_deploy(&self, project: &str, version: &str, env: &str) -> Output {
        self.cli(
            None,
            &[
                "deploy",
                "--project",
                project,
                "--release",
                version,
                "--env",
                env,
            ],
        )
    }

    /// Trust `public_key` for `project` as the admin. A project whose releases reach a protected
    /// environment trusts a new key only once another admin approves (a configuration change
    /// request): a second admin, made here, approves it. Returns the key as the project lists it.
    pub(crate) fn trust_key(
        &self,
        project: &str,
        name: &str,
        public_key: &str,
    ) -> serde_json::Value {
        let args = [
            "key",
            "add",
            "--project",
            project,
            "--name",
            name,
            "--public-key",
            public_key,
            "-o",
            "json",
        ];
        let answer = json(self.cli(None, &args));
        if let Some(request) = answer["id"].as_i64() {
            let approver =
                self.user_with_token(&format!("keys-{project}-{name}").to_lowercase(), "admin");
            let id = request.to_string();
            ok(self.cli(Some(&approver), &["config-change", "approve", &id]));
        }
        let listed = json(self.cli(None, &["key", "list", "--project", project, "-o", "json"]));
        let trusted = listed["items"]
            .as_array()
            .or(listed.as_array())
            .and_then(|keys| keys.iter().find(|k| k["name"] == name).cloned());
        trusted.unwrap_or_else(|| panic!("{project} trusts no key {name}: {listed}"))
    }

    /// Create a user with `role` and return an API token for them.
    pub(crate) fn user_with_token(&self, username: &str, role: &str) -> String {
        self.user_with_password(username, role, "a long enough passphrase");
        let created = json(self.cli(
            None,
            &[
                "token", "create", "--name", "test", "--user", username, "-o", "json",
            ],
        ));
        created["secret"]
            .as_str()
            .expect("a token secret")
            .to_string()
    }

    /// Set a sensitive variable of `project` (in `env`, else everywhere) to `value`, sent on
    /// standard input as a person would; the CLI's output.
    pub(crate) fn set_secret(
        &self,
        project: &str,
        name: &str,
        env: Option<&str>,
        value: &str,
    ) -> String {
        let mut args = vec!["variable", "set", "--project", project, "--name", name];
        if let Some(env) = env {
            args.extend(["--env", env]);
        }
        args.push("--sensitive");
        ok(self.cli_with_stdin(None, &args, value))
    }

    /// Create `username` with `role` and a password they sign in to the console with. Once a
    /// second admin exists, a role above viewer waits for another admin than the bootstrap one
    /// (who creates): the first other admin approves it here, as a colleague would.
    pub(crate) fn user_with_password(&self, username: &str, role: &str, password: &str) {
        let created = json(self.cli_with_stdin(
            None,
            &[
                "user",
                "create",
                username,
                "--role",
                role,
                "--password-stdin",
                "-o",
                "json",
            ],
            password,
        ));
        if let Some(request) = created["held"]["id"].as_i64() {
            ok(self.cli(
                Some(&self.second_admin_token()),
                &["config-change", "approve", &request.to_string()],
            ));
        }
    }

    /// A fresh API token of the first enabled admin other than the bootstrap `admin`.
    pub(crate) fn second_admin_token(&self) -> String {
        let users = json(self.cli(None, &["user", "list", "-o", "json"]));
        let second = users["items"]
            .as_array()
            .and_then(|all| {
                all.iter().find(|u| {
                    u["role"] == "admin" && u["username"] != "admin" && u["disabled"] == false
                })
            })
            .and_then(|u| u["username"].as_str())
            .unwrap_or_else(|| panic!("no second admin to approve a held role: {users}"))
            .to_string();
        let created = json(self.cli(
            None,
            &[
                "token", "create", "--name", "approver", "--user", &second, "-o", "json",
            ],
        ));
        created["secret"]
            .as_str()
            .expect("a token secret")
            .to_string()
    }

    /// Sign in through the API as a browser would; the session cookie (`name=value`).
    pub(crate) fn sign_in(&self, username: &str, password: &str) -> String {
        let signed_in = ureq::post(&format!("{}/api/v1/session", self.url))
            .send_json(serde_json::json!({ "username": username, "password": password }))
            .expect("the sign-in succeeds");
        signed_in
            .header("set-cookie")
            .and_then(|c| c.split(';').next())
            .expect("a session cookie")
            .to_string()
    }

    /// Apply `yaml` (a project `project` with a `file` component `app`), push one artifact for it
    /// and create release 1.0.0.
    pub(crate) fn release_app(&self, work: &Path, project: &str, yaml: &str) {
        ok(self.apply(&file(work, &format!("{project}.yaml"), yaml)));
        ok(self.push_artifact(&file(work, "app.txt", "app"), project, "app", "1.0.0"));
        ok(self.release_unsigned(project, "1.0.0", &["app"]));
    }

    /// A single-use enrolment token for `env` with `roles`.
    pub(crate) fn enrollment_token(&self, env: &str, roles: &[&str]) -> String {
        let mut args = vec!["target", "enrollment-token", "--env", env, "-o", "json"];
        for r in roles {
            args.extend(["--role", r]);
        }
        json(self.cli(None, &args))["token"]
            .as_str()
            .expect("a token")
            .to_string()
    }

    /// Wait until the target `name` is enrolled and online (a deployment needs its target).
    pub(crate) fn wait_online(&self, name: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let list = json(self.cli(None, &["target", "list", "-o", "json"]));
            if list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|t| t["name"] == name && t["liveness"] == "online")
            {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "agent {name} never came online"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A one-environment project whose plan is `steps` (YAML list items, indented 4 spaces), its
    /// release 1.0.0, and an agent `name` with role `app`, online before this returns.
    pub(crate) fn project_with_agent(
        &self,
        work: &Path,
        project: &str,
        steps: &str,
        name: &str,
    ) -> AgentProcess {
        let yaml = format!("environments:\n  - {{ name: DEV }}\nproject:\n  name: {project}\n  components:\n    - {{ name: app, kind: file }}\n  plan:\n{steps}");
        self.release_app(work, project, &yaml);
        let token = self.enrollment_token("DEV", &["app"]);
        let agent = spawn_agent(
            &self.url,
            name,
            &work.join(format!("agent-{name}")),
            Some(&token),
        );
        self.wait_online(name);
        agent
    }

    /// Push `script` as the `job` component of project `project` and make release `version` of it
    /// (a batch project's usual start: the configuration is applied before).
    pub(crate) fn release_batch_job(
        &self,
        work: &Path,
        project: &str,
        version: &str,
        script: &str,
    ) {
        let job = file(work, "job.sh", script);
        ok(self.push_artifact(&job, project, "job", version));
        ok(self.release_unsigned(project, version, &["job"]));
    }

    /// Enrol an agent `name` in `env` with role `app` (data under `work/agent`), online before
    /// this returns.
    pub(crate) fn enrolled_agent(&self, work: &Path, env: &str, name: &str) -> AgentProcess {
        let token = self.enrollment_token(env, &["app"]);
        let agent = spawn_agent(&self.url, name, &work.join("agent"), Some(&token));
        self.wait_online(name);
        agent
    }

    /// Poll `slipway promotion show ID` until the promotion is in `state` (60 s at most); its view.
    pub(crate) fn wait_for_promotion(&self, id: i64, state: &str) -> serde_json::Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let p = json(self.cli(None, &["promotion", "show", &id.to_string(), "-o", "json"]));
            if p["state"] == state {
                return p;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "promotion {id} never became {state}: {p:#}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
