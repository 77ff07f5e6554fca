//! `project.batches[].logs` in `slipway.yaml`: a batch's log-error rules (the default rule,
//! regexes with severity and exclusions), the grouping period and the path → customer lookup,
//! checked with each mistake at its own line; a pattern that does not read names its rule and
//! the character where it stops reading.

use schemars::JsonSchema;
use serde::Deserialize;

use super::Checker;
use crate::alerts::Severity;
use crate::name::Name;
use crate::supervision::batch::Period;
use crate::supervision::logs::{CustomerPath, LogRule, LogRules, Pattern, DEFAULT_PERIOD};

/// Which lines of the batch's log files raise alerts.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogsSpec {
    /// Keep the default rule: "error" as a word, in any case. Default true.
    #[serde(default = "yes")]
    pub default_rule: bool,
    /// More rules, tried after the default one, in order.
    #[serde(default)]
    pub rules: Vec<LogRuleSpec>,
    /// Lines matching any of these regexes raise nothing.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Lines under one key (batch, rule, customer) within this period are one alert with a
    /// count: `90s`, `10m`, `1h`. Default 10m.
    #[serde(default)]
    pub period: Option<String>,
    /// The path → customer lookup: the first entry whose regex matches a log file's path
    /// names its customer.
    #[serde(default)]
    pub customers: Vec<CustomerPathSpec>,
}

fn yes() -> bool {
    true
}

/// One rule: a regex (Rust syntax), its severity, and the lines it leaves alone.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogRuleSpec {
    pub name: Name,
    /// The regex a line must match, e.g. `timed out after \d+s` or `(?i)fatal`.
    pub pattern: String,
    /// info, warning, error or critical. Default error.
    #[serde(default)]
    pub severity: Option<Severity>,
    /// Lines matching any of these regexes do not raise this rule.
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// One entry of the path → customer lookup.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerPathSpec {
    /// A regex on the log file's path, e.g. `/acme/` or `/customers/(?P<customer>[^/]+)/`.
    pub path: String,
    /// The customer; absent, the pattern's group named `customer` gives it.
    #[serde(default)]
    pub customer: Option<String>,
}

const PATTERN_HINT: &str = "write a regex in Rust's syntax (https://docs.rs/regex): escape \
    ( ) [ ] { } . * + ? | \\ with a backslash to match them as text";

impl Checker<'_> {
    fn pattern(&mut self, path: &str, what: &str, text: &str) -> Option<Pattern> {
        Pattern::parse(text)
            .map_err(|e| {
                self.error(
                    path,
                    format!("{what}: the pattern `{text}` does not read {e}"),
                    PATTERN_HINT,
                )
            })
            .ok()
    }

    fn patterns(&mut self, path: &str, what: &str, texts: &[String]) -> Vec<Pattern> {
        texts
            .iter()
            .enumerate()
            .filter_map(|(i, t)| self.pattern(&format!("{path}[{i}]"), what, t))
            .collect()
    }

    pub(super) fn log_rules(&mut self, at: &str, spec: Option<LogsSpec>) -> LogRules {
        let Some(spec) = spec else {
            return LogRules::default();
        };
        let mut rules = Vec::new();
        if spec.default_rule {
            rules.push(LogRule::default_rule());
        }
        for (i, r) in spec.rules.into_iter().enumerate() {
            let path = format!("{at}.rules[{i}]");
            if rules.iter().any(|o: &LogRule| o.name == r.name) {
                self.error(
                    &format!("{path}.name"),
                    format!("log rule {} is declared twice", r.name),
                    "give each rule its own name (`error` is the default rule's)",
                );
            }
            let what = format!("log rule {}", r.name);
            let pattern = self.pattern(&format!("{path}.pattern"), &what, &r.pattern);
            let exclude = self.patterns(&format!("{path}.exclude"), &what, &r.exclude);
            if let Some(pattern) = pattern {
                rules.push(LogRule {
                    name: r.name,
                    pattern,
                    severity: r.severity.unwrap_or(Severity::Error),
                    exclude,
                });
            }
        }
        if rules.is_empty() {
            self.error(
                &format!("{at}.default_rule"),
                "without the default rule and without rules, no line would ever raise an alert"
                    .into(),
                "add a rule under `rules:`, or remove `default_rule: false`",
            );
        }
        let exclude = self.patterns(&format!("{at}.exclude"), "log exclusion", &spec.exclude);
        let period = spec
            .period
            .as_deref()
            .and_then(|t| {
                Period::parse(t)
                    .map_err(|e| self.error(&format!("{at}.period"), e, ""))
                    .ok()
            })
            .unwrap_or(DEFAULT_PERIOD);
        if period.duration().as_secs() > 86_400 {
            self.error(
                &format!("{at}.period"),
                format!(
                    "a period of {period} would keep an alert open for days after its last line"
                ),
                "group lines over at most 1d",
            );
        }
        if period.duration().as_secs() == 0 {
            self.error(
                &format!("{at}.period"),
                "a period of 0s would make every matching line an alert of its own".into(),
                "group lines over at least a few seconds, e.g. 1m or 10m",
            );
        }
        let mut customers = Vec::new();
        for (i, c) in spec.customers.into_iter().enumerate() {
            let path = format!("{at}.customers[{i}]");
            let Some(pattern) = self.pattern(&format!("{path}.path"), "customer lookup", &c.path)
            else {
                continue;
            };
            let named = pattern
                .regex()
                .capture_names()
                .any(|n| n == Some("customer"));
            if c.customer.is_none() && !named {
                self.error(
                    &format!("{path}.customer"),
                    format!("the lookup `{}` names no customer", c.path),
                    "add `customer: NAME`, or capture it in the path: (?P<customer>[^/]+)",
                );
            }
            customers.push(CustomerPath {
                path: pattern,
                customer: c.customer,
            });
        }
        LogRules {
            rules,
            exclude,
            period,
            customers,
        }
    }
}
