//! The widgets a saved dashboard is composed of (docs/insights.md, "Dashboards"), and what each
//! one computes from the counts of a period (`widget_counts`): pure functions from counts to
//! labelled points.
//!
//! A point without data is `None`, never 0; the DORA widget's points are filled by the caller
//! from [`super::dora`], the only place those figures are defined.
//! It never reads a clock or a store.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::widget_counts::{EndedCounts, WidgetCounts};
use crate::Name;

/// The most widgets one dashboard holds (each is one chart on its page).
pub const MAX_WIDGETS: usize = 12;

/// The longest dashboard name, in characters.
pub const MAX_NAME_CHARS: usize = 80;

/// One chart a dashboard may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Widget {
    /// Median minutes from a deployment's start to its end, per environment.
    DeploymentDuration,
    /// The share of ended deployments that succeeded, per environment.
    SuccessRate,
    /// Rollback deployments per environment.
    Rollbacks,
    /// Deployments (not rollbacks, not dry runs) per project.
    DeploymentsPerProject,
    /// Successful deployments per application domain (component) they changed
    /// ([`super::component_changes`]).
    DeploymentsPerComponent,
    /// Median hours a release stays in an environment before it reaches the next one of the
    /// chain (promotion stability).
    TimeInEnvironment,
    /// The DORA figures of the period (`core::insights::dora`).
    Dora,
    /// The share of flaky tests per environment and suite that ran in the period, judged over
    /// each suite's last runs there (`core::quality::flakiness`).
    Flakiness,
    /// Open vulnerability findings per severity, and those past their remediation deadline.
    OpenFindings,
}

impl Widget {
    pub const ALL: [Widget; 9] = [
        Widget::DeploymentDuration,
        Widget::SuccessRate,
        Widget::Rollbacks,
        Widget::DeploymentsPerProject,
        Widget::DeploymentsPerComponent,
        Widget::TimeInEnvironment,
        Widget::Dora,
        Widget::Flakiness,
        Widget::OpenFindings,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Widget::DeploymentDuration => "deployment-duration",
            Widget::SuccessRate => "success-rate",
            Widget::Rollbacks => "rollbacks",
            Widget::DeploymentsPerProject => "deployments-per-project",
            Widget::DeploymentsPerComponent => "deployments-per-component",
            Widget::TimeInEnvironment => "time-in-environment",
            Widget::Dora => "dora",
            Widget::Flakiness => "flakiness",
            Widget::OpenFindings => "open-findings",
        }
    }

    /// The chart's title, for people.
    pub fn title(self) -> &'static str {
        match self {
            Widget::DeploymentDuration => "Deployment duration per environment (median)",
            Widget::SuccessRate => "Success rate per environment",
            Widget::Rollbacks => "Rollbacks per environment",
            Widget::DeploymentsPerProject => "Deployments per project",
            Widget::DeploymentsPerComponent => "Deployments per application domain",
            Widget::TimeInEnvironment => "Time spent in each environment before the next (median)",
            Widget::Dora => "DORA figures",
            Widget::Flakiness => "Flaky tests per environment and suite",
            Widget::OpenFindings => "Open findings per severity, and past their deadline",
        }
    }

    /// What every value of the chart counts.
    pub fn unit(self) -> &'static str {
        match self {
            Widget::DeploymentDuration => "min",
            Widget::SuccessRate => "%",
            Widget::Rollbacks => "rollbacks",
            Widget::DeploymentsPerProject | Widget::DeploymentsPerComponent => "deployments",
            Widget::TimeInEnvironment => "h",
            // Each DORA point names its own unit in its label.
            Widget::Dora => "",
            Widget::Flakiness => "%",
            Widget::OpenFindings => "findings",
        }
    }

    /// Every widget name, for the messages that refuse one.
    pub fn allowed() -> String {
        Widget::ALL
            .iter()
            .map(|w| w.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Widget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A widget name that is not one of [`Widget::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown widget {given:?}; the widgets are: {}", Widget::allowed())]
pub struct UnknownWidget {
    pub given: String,
}

impl FromStr for Widget {
    type Err = UnknownWidget;

    fn from_str(text: &str) -> Result<Widget, UnknownWidget> {
        Widget::ALL
            .into_iter()
            .find(|w| w.as_str() == text.trim())
            .ok_or_else(|| UnknownWidget {
                given: text.chars().take(80).collect(),
            })
    }
}

/// Why a dashboard's composition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompositionError {
    #[error(transparent)]
    Widget(#[from] UnknownWidget),
    #[error(
        "a dashboard holds at least one widget; the widgets are: {}",
        Widget::allowed()
    )]
    NoWidget,
    #[error("a dashboard holds at most {MAX_WIDGETS} widgets; {0} were given")]
    TooManyWidgets(usize),
    #[error("a dashboard's name is 1 to {MAX_NAME_CHARS} printable characters; {0:?} is not")]
    BadName(String),
}

/// A dashboard's name: 1 to [`MAX_NAME_CHARS`] characters, no control character, trimmed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DashboardName(String);

impl DashboardName {
    pub fn parse(text: &str) -> Result<DashboardName, CompositionError> {
        let trimmed = text.trim();
        let count = trimmed.chars().count();
        if count == 0 || count > MAX_NAME_CHARS || trimmed.chars().any(char::is_control) {
            return Err(CompositionError::BadName(text.chars().take(100).collect()));
        }
        Ok(DashboardName(trimmed.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DashboardName {
    type Error = CompositionError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        DashboardName::parse(&text)
    }
}

impl From<DashboardName> for String {
    fn from(name: DashboardName) -> String {
        name.0
    }
}

impl fmt::Display for DashboardName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The widgets of a dashboard, in the order given, each once; at least one, at most
/// [`MAX_WIDGETS`].
pub fn widgets<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<Widget>, CompositionError> {
    let mut chosen: Vec<Widget> = Vec::new();
    let mut given = 0;
    for name in names {
        given += 1;
        if given > MAX_WIDGETS * 4 {
            return Err(CompositionError::TooManyWidgets(given));
        }
        let widget: Widget = name.parse()?;
        if !chosen.contains(&widget) {
            chosen.push(widget);
        }
    }
    match chosen.len() {
        0 => Err(CompositionError::NoWidget),
        n if n > MAX_WIDGETS => Err(CompositionError::TooManyWidgets(n)),
        _ => Ok(chosen),
    }
}

/// One chart's data: labelled values, `None` where there is no data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WidgetData {
    pub widget: Widget,
    pub title: String,
    pub unit: String,
    pub points: Vec<WidgetPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WidgetPoint {
    pub label: String,
    /// `None`: no data (never written as 0).
    pub value: Option<f64>,
}

impl WidgetData {
    pub fn new(widget: Widget, points: Vec<(String, Option<f64>)>) -> WidgetData {
        WidgetData {
            widget,
            title: widget.title().to_string(),
            unit: widget.unit().to_string(),
            points: points
                .into_iter()
                .map(|(label, value)| WidgetPoint { label, value })
                .collect(),
        }
    }
}

/// What a widget reads: the counts of the period ([`WidgetCounts`]), `chain` in delivery order.
#[derive(Debug, Clone, Copy)]
pub struct WidgetFacts<'a> {
    pub chain: &'a [Name],
    pub counts: &'a WidgetCounts,
}

impl WidgetFacts<'_> {
    /// One point per environment of the chain, in its order, from what ended there (summed
    /// over the projects).
    fn per_environment(
        &self,
        value: impl Fn(&EndedCounts) -> Option<f64>,
    ) -> Vec<(String, Option<f64>)> {
        let mut by_env: BTreeMap<&Name, EndedCounts> = BTreeMap::new();
        for ((_, environment), ended) in &self.counts.ended {
            let entry = by_env.entry(environment).or_default();
            entry.counts.add(&ended.counts);
            entry.durations.merge(&ended.durations);
        }
        self.chain
            .iter()
            .map(|env| {
                let none = EndedCounts::default();
                (env.to_string(), value(by_env.get(env).unwrap_or(&none)))
            })
            .collect()
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// What `widget` shows over the period the counts were read for; [`Widget::Dora`],
/// [`Widget::Flakiness`] and [`Widget::OpenFindings`] answer no point here (the caller computes
/// them from the DORA figures, the flakiness judge and the findings register, where each is
/// defined), nor [`Widget::DeploymentsPerComponent`] (its counts are read apart, only for the
/// dashboards that hold it: [`per_component`]). Medians are read from buckets ([`super::LEAD_TIME_ERROR`]); counts are exact.
pub fn compute(widget: Widget, facts: &WidgetFacts<'_>) -> WidgetData {
    let points = match widget {
        Widget::DeploymentDuration => facts.per_environment(|ended| {
            ended
                .durations
                .percentile(50)
                .map(|s| round2(s as f64 / 60.0))
        }),
        Widget::SuccessRate => facts.per_environment(|ended| {
            let c = &ended.counts;
            (c.deployments > 0).then(|| round2(100.0 * c.successes as f64 / c.deployments as f64))
        }),
        Widget::Rollbacks => facts.per_environment(|ended| {
            let c = &ended.counts;
            (c.deployments + c.rollbacks > 0).then_some(c.rollbacks as f64)
        }),
        Widget::DeploymentsPerProject => {
            let mut counts: BTreeMap<&Name, u64> = BTreeMap::new();
            for ((project, _), ended) in &facts.counts.ended {
                if ended.counts.deployments > 0 {
                    *counts.entry(project).or_default() += ended.counts.deployments;
                }
            }
            counts
                .into_iter()
                .map(|(p, n)| (p.to_string(), Some(n as f64)))
                .collect()
        }
        Widget::TimeInEnvironment => facts
            .chain
            .windows(2)
            .map(|pair| {
                let (here, next) = (&pair[0], &pair[1]);
                let median = facts
                    .counts
                    .stays
                    .get(&(here.clone(), next.clone()))
                    .and_then(|stays| stays.percentile(50));
                (
                    format!("{here} → {next}"),
                    median.map(|s| round2(s as f64 / 3600.0)),
                )
            })
            .collect(),
        Widget::Dora
        | Widget::Flakiness
        | Widget::OpenFindings
        | Widget::DeploymentsPerComponent => Vec::new(),
    };
    WidgetData::new(widget, points)
}

/// The `deployments-per-component` chart from the deployments that changed each component in
/// the period, per (project, component): one bar per component delivered, labelled by the
/// component alone when the dashboard shows one `project`, else `project/component`. A
/// component no deployment changed in the period has no bar (no data, not 0).
pub fn per_component(changes: &BTreeMap<(Name, Name), u64>, project: Option<&Name>) -> WidgetData {
    let points = changes
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|((p, component), n)| {
            let label = match project {
                Some(_) => component.to_string(),
                None => format!("{p}/{component}"),
            };
            (label, Some(*n as f64))
        })
        .collect();
    WidgetData::new(Widget::DeploymentsPerComponent, points)
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;
    use crate::deploy::state::{DeploymentKind, DeploymentState};
    use crate::insights::{DeploymentFact, Period, LEAD_TIME_ERROR};

    fn compute_over(
        widget: Widget,
        chain: &[Name],
        list: &[DeploymentFact],
        period: &Period,
    ) -> WidgetData {
        let counts = WidgetCounts::of(list, period);
        compute(
            widget,
            &WidgetFacts {
                chain,
                counts: &counts,
            },
        )
    }

    /// `got` is within the buckets' bound of `want` (medians are read from buckets).
    fn close(got: Option<f64>, want: f64, unit_seconds: f64) -> bool {
        got.is_some_and(|g| {
            (g - want).abs() * unit_seconds
                <= LEAD_TIME_ERROR.relative * want * unit_seconds
                    + LEAD_TIME_ERROR.absolute_seconds
                    + 0.01 * unit_seconds
        })
    }

    fn name(s: &str) -> Name {
        Name::parse(s).expect("a test name")
    }

    fn at(s: &str) -> Timestamp {
        s.parse().expect("a test time")
    }

    fn deployment(
        id: i64,
        env: &str,
        release: &str,
        kind: DeploymentKind,
        state: DeploymentState,
        times: (&str, &str),
    ) -> DeploymentFact {
        DeploymentFact {
            id,
            project: name("pets"),
            environment: name(env),
            release: release.into(),
            kind,
            state,
            rollback_of: None,
            hotfix: false,
            created_at: at(times.0),
            finished_at: Some(at(times.1)),
        }
    }

    fn november() -> Period {
        Period::new(at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z")).expect("a period")
    }

    #[test]
    fn an_unknown_widget_is_refused_with_every_allowed_name() {
        let error = widgets(["rollbacks", "velocity"]).expect_err("velocity is no widget");
        let message = error.to_string();
        assert!(message.contains("\"velocity\""), "{message}");
        for w in Widget::ALL {
            assert!(message.contains(w.as_str()), "{message}");
        }
        assert_eq!(widgets([]), Err(CompositionError::NoWidget));
        let many: Vec<&str> = vec!["rollbacks"; 10_000];
        assert!(matches!(
            widgets(many),
            Err(CompositionError::TooManyWidgets(_))
        ));
    }

    #[test]
    fn widgets_keep_their_order_and_come_once() {
        assert_eq!(
            widgets(["dora", "rollbacks", "dora"]),
            Ok(vec![Widget::Dora, Widget::Rollbacks])
        );
    }

    #[test]
    fn a_name_is_trimmed_printable_and_bounded() {
        assert_eq!(
            DashboardName::parse("  Release health ").map(|n| n.to_string()),
            Ok("Release health".to_string())
        );
        assert!(DashboardName::parse("").is_err());
        assert!(DashboardName::parse("a\u{0}b").is_err());
        assert!(DashboardName::parse(&"x".repeat(81)).is_err());
    }

    #[test]
    fn success_rate_duration_and_rollbacks_count_what_ended_in_the_period_per_environment() {
        use DeploymentKind::{Deploy, Rollback};
        use DeploymentState::{Failed, Succeeded};
        let chain = [name("DEV"), name("INT"), name("PROD")];
        let list = vec![
            deployment(
                1,
                "DEV",
                "1.0",
                Deploy,
                Succeeded,
                ("2026-11-02T10:00:00Z", "2026-11-02T10:10:00Z"),
            ),
            deployment(
                2,
                "DEV",
                "1.1",
                Deploy,
                Failed,
                ("2026-11-03T10:00:00Z", "2026-11-03T10:30:00Z"),
            ),
            deployment(
                3,
                "DEV",
                "1.0",
                Rollback,
                Succeeded,
                ("2026-11-03T11:00:00Z", "2026-11-03T11:02:00Z"),
            ),
            // Ended before the period: left out.
            deployment(
                4,
                "INT",
                "0.9",
                Deploy,
                Succeeded,
                ("2026-10-02T10:00:00Z", "2026-10-02T10:05:00Z"),
            ),
        ];
        let rate = compute_over(Widget::SuccessRate, &chain, &list, &november());
        let values: Vec<Option<f64>> = rate.points.iter().map(|p| p.value).collect();
        assert_eq!(
            values,
            vec![Some(50.0), None, None],
            "no data is None, not 0"
        );
        let duration = compute_over(Widget::DeploymentDuration, &chain, &list, &november());
        // Median by nearest rank of 10 and 30 minutes, within the buckets' bound.
        assert!(close(duration.points[0].value, 10.0, 60.0), "{duration:?}");
        let rollbacks = compute_over(Widget::Rollbacks, &chain, &list, &november());
        assert_eq!(rollbacks.points[0].value, Some(1.0));
        assert_eq!(rollbacks.points[1].value, None);
        let per_project = compute_over(Widget::DeploymentsPerProject, &chain, &list, &november());
        assert_eq!(
            per_project.points,
            vec![WidgetPoint {
                label: "pets".into(),
                value: Some(2.0)
            }]
        );
    }

    #[test]
    fn deployments_per_component_label_by_project_only_across_projects() {
        let changes: BTreeMap<(Name, Name), u64> = [
            ((name("pets"), name("web")), 3),
            ((name("pets"), name("schema")), 1),
            ((name("shop"), name("web")), 2),
            ((name("shop"), name("batch")), 0),
        ]
        .into_iter()
        .collect();
        let across = per_component(&changes, None);
        let labels: Vec<(&str, Option<f64>)> = across
            .points
            .iter()
            .map(|p| (p.label.as_str(), p.value))
            .collect();
        assert_eq!(
            labels,
            [
                ("pets/schema", Some(1.0)),
                ("pets/web", Some(3.0)),
                ("shop/web", Some(2.0))
            ],
            "a component counted 0 times has no bar"
        );
        let mut pets = changes.clone();
        pets.retain(|(p, _), _| *p == name("pets"));
        let one = per_component(&pets, Some(&name("pets")));
        assert_eq!(one.points[0].label, "schema");
        assert_eq!(one.unit, "deployments");
        assert!(per_component(&BTreeMap::new(), None).points.is_empty());
    }

    #[test]
    fn time_in_an_environment_runs_from_arrival_there_to_arrival_in_the_next() {
        use DeploymentKind::Deploy;
        use DeploymentState::Succeeded;
        let chain = [name("DEV"), name("INT"), name("PROD")];
        let list = vec![
            deployment(
                1,
                "DEV",
                "1.0",
                Deploy,
                Succeeded,
                ("2026-11-02T09:00:00Z", "2026-11-02T10:00:00Z"),
            ),
            deployment(
                2,
                "INT",
                "1.0",
                Deploy,
                Succeeded,
                ("2026-11-02T15:00:00Z", "2026-11-02T16:00:00Z"),
            ),
            // Deployed again into DEV later: the first arrival counts.
            deployment(
                3,
                "DEV",
                "1.0",
                Deploy,
                Succeeded,
                ("2026-11-04T09:00:00Z", "2026-11-04T10:00:00Z"),
            ),
        ];
        let data = compute_over(Widget::TimeInEnvironment, &chain, &list, &november());
        assert_eq!(data.points[0].label, "DEV → INT");
        assert!(close(data.points[0].value, 6.0, 3600.0), "{data:?}");
        assert_eq!(data.points[1].value, None, "1.0 never reached PROD");
    }
}
