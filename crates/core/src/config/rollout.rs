//! Progressive delivery in `slipway.yaml`: the project's `canary:` share and the `traffic.switch`
//! steps of its plan, checked with the allowed forms in every error.

use schemars::JsonSchema;
use serde::Deserialize;

use super::Checker;
use crate::plan::{is_upstream_name, Action, Canary, Step};

/// `canary: 10%` (a percentage of the targets) or `canary: 1` (a number of targets).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum CanarySpec {
    Count(i64),
    Text(String),
}

impl Checker<'_> {
    pub(super) fn canary(&mut self, spec: CanarySpec) -> Option<Canary> {
        let parsed = match spec {
            CanarySpec::Count(n) => Canary::parse(&n.to_string()),
            CanarySpec::Text(text) => Canary::parse(&text),
        };
        match parsed {
            Ok(c) => Some(c),
            Err(message) => {
                self.error(
                    "project.canary",
                    message,
                    "e.g. canary: 10% or canary: 1; without it the plan runs on every target at once",
                );
                None
            }
        }
    }

    /// A `traffic.switch` names one upstream, writes it into a file, and can be checked and
    /// reloaded.
    pub(super) fn traffic_steps(&mut self, plan: &[Step]) {
        for (i, step) in plan.iter().enumerate() {
            let with = format!("project.plan[{i}].with");
            let (file, check, reload) = match &step.action {
                Action::SwitchTraffic(p) => {
                    if !p.upstream.starts_with("${") && !is_upstream_name(&p.upstream) {
                        self.error(
                            &format!("{with}.upstream"),
                            format!("`{}` is not an upstream name", p.upstream),
                            "one word of letters, digits, _ - . or :, e.g. upstream: green",
                        );
                    }
                    if !p.template.contains("{upstream}") {
                        self.error(
                            &format!("{with}.template"),
                            "the template never names the upstream".into(),
                            "put {upstream} where the name goes, e.g. template: \"set $pool {upstream};\"",
                        );
                    }
                    (&p.file, &p.check, &p.reload)
                }
                Action::RestoreTraffic(p) => (&p.file, &p.check, &p.reload),
                _ => continue,
            };
            if !(file.starts_with('/') || file.starts_with("${")) || file.ends_with('/') {
                self.error(
                    &format!("{with}.file"),
                    format!("`{file}` is not the absolute path of a file"),
                    "e.g. file: /etc/nginx/conf.d/active-upstream.inc",
                );
            }
            for (key, command) in [("check", check), ("reload", reload)] {
                if command.trim().is_empty() {
                    self.error(
                        &format!("{with}.{key}"),
                        format!("the {key} command is empty"),
                        "e.g. check: nginx -t, reload: nginx -s reload",
                    );
                }
            }
        }
    }
}
