//! Progressive delivery in `slipway.yaml`: the project's `canary:` share (of every target or per role) and the `traffic.switch`
//! steps of its plan, checked with the allowed forms in every error.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::Checker;
use crate::name::Name;
use crate::plan::{is_upstream_name, Action, Canary, Step};

/// `canary: 10%` (a percentage of the targets), `canary: 1` (a number of targets), or
/// `canary: { roles: { web: 1, api: 50% } }` (a share of each role's targets).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum CanarySpec {
    Count(i64),
    Text(String),
    PerRole(PerRoleCanarySpec),
}

/// A canary share per role.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PerRoleCanarySpec {
    /// Role → its share: a percentage of the role's targets or a number of them.
    pub roles: BTreeMap<String, ShareSpec>,
}

/// `10%` or `1`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ShareSpec {
    Count(i64),
    Text(String),
}

impl ShareSpec {
    fn parse(self) -> Result<Canary, String> {
        match self {
            ShareSpec::Count(n) => Canary::parse(&n.to_string()),
            ShareSpec::Text(text) => Canary::parse(&text),
        }
    }
}

/// What `canary:` says: one share of every target, or a share per role (empty without).
pub(super) type CanaryChoice = (Option<Canary>, BTreeMap<Name, Canary>);

impl Checker<'_> {
    pub(super) fn canary(&mut self, spec: Option<CanarySpec>, plan: &[Step]) -> CanaryChoice {
        let hint = "e.g. canary: 10%, canary: 1 or canary: { roles: { web: 1, api: 50% } }; without it the plan runs on every target at once";
        let share = match spec {
            None => return (None, BTreeMap::new()),
            Some(CanarySpec::PerRole(per_role)) => {
                return (None, self.canary_roles(per_role, plan))
            }
            Some(CanarySpec::Count(n)) => ShareSpec::Count(n),
            Some(CanarySpec::Text(text)) => ShareSpec::Text(text),
        };
        match share.parse() {
            Ok(c) => (Some(c), BTreeMap::new()),
            Err(message) => {
                self.error("project.canary", message, hint);
                (None, BTreeMap::new())
            }
        }
    }

    /// Each role named must be one a step of the plan runs on, with a share that reads.
    fn canary_roles(&mut self, spec: PerRoleCanarySpec, plan: &[Step]) -> BTreeMap<Name, Canary> {
        if spec.roles.is_empty() {
            self.error(
                "project.canary.roles",
                "no role is given a canary share".into(),
                "name each role and its share, e.g. roles: { web: 1, api: 50% }",
            );
        }
        let mut out = BTreeMap::new();
        for (role, share) in spec.roles {
            let path = format!("project.canary.roles.{role}");
            let Ok(name) = Name::parse(&role) else {
                self.error(
                    &path,
                    format!("`{role}` is not a role name"),
                    "letters, digits, '-', '_' or '.', as in a step's roles",
                );
                continue;
            };
            if !plan.iter().any(|s| s.roles.contains(&name)) {
                let used: std::collections::BTreeSet<&str> = plan
                    .iter()
                    .flat_map(|s| s.roles.iter().map(Name::as_str))
                    .collect();
                self.error(
                    &path,
                    format!("no step of the plan runs on role `{role}`"),
                    &format!(
                        "give shares to the roles the plan's steps name: {}",
                        used.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                );
                continue;
            }
            match share.parse() {
                Ok(c) => {
                    out.insert(name, c);
                }
                Err(message) => self.error(&path, message, "e.g. web: 1 or web: 25%"),
            }
        }
        out
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
