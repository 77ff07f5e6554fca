//! The editor of one flag's state in one environment (`/flags/{project}/{flag}/{environment}`):
//! on or off, a sticky rollout, a list of users, constraints one per line, and a reason; a
//! state the form cannot show (variants, strategies with different constraints) is edited as
//! JSON instead. It decides nothing: the form becomes the same request text the API reads,
//! checked by core (so errors name the field, with `slipway validate`'s words) and set by
//! `services::flags::set_state`, where a protected environment's change waits for a second
//! person.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};
use slipway_core::access::{allows, Operation};
use slipway_core::config::{self, ConfigError, FlagStateEdit, Source};
use slipway_core::flags::{FlagState, Rule, Strategy};
use slipway_core::Name;

use super::notice::{see_other_done, Done};
use super::page::{render, Frame, OrProblemPage, PageResult, Problem, Section};
use super::session::SignedForm;
use super::user::ConsoleUser;
use crate::services::flags::FlagPlace;
use crate::services::{self, parse_name};
use crate::{AppState, ServiceError};

/// What the form's fields hold: the current state, or what was posted.
#[derive(Debug, Default, Deserialize)]
pub(super) struct EditFields {
    /// `form` (the fields below) or `json` (the text area).
    #[serde(default)]
    mode: String,
    #[serde(default)]
    enabled: String,
    #[serde(default)]
    rollout: String,
    #[serde(default)]
    stickiness: String,
    #[serde(default)]
    users: String,
    #[serde(default)]
    constraints: String,
    #[serde(default)]
    reason: String,
    /// The whole state as JSON, when the form cannot show it.
    #[serde(default)]
    state: String,
}

/// An error shown beside the field it is about (`id` is the field's element id).
struct FieldError {
    id: &'static str,
    label: &'static str,
    message: String,
}

#[derive(Template)]
#[template(path = "flag_edit.html")]
struct EditPage {
    frame: Frame,
    project: String,
    flag: String,
    environment: String,
    protected: bool,
    /// A configuration change request waiting on this state.
    pending: Option<i64>,
    may_change: bool,
    /// The current state as people read it (`flexibleRollout 25 % by userId`).
    current: Vec<String>,
    enabled_now: bool,
    /// Why the fields cannot show the state; empty when they can.
    json_only: String,
    fields: EditFields,
    errors: Vec<FieldError>,
    problem: Option<Problem>,
}

impl EditPage {
    fn error_for(&self, id: &str) -> Option<&FieldError> {
        self.errors.iter().find(|e| e.id == id)
    }

    fn json_mode(&self) -> bool {
        !self.json_only.is_empty() || self.fields.mode == "json"
    }
}

type Names = (Name, Name, Name);

fn names(project: &str, flag: &str, environment: &str) -> Result<Names, ServiceError> {
    Ok((
        parse_name("project", project)?,
        parse_name("flag", flag)?,
        parse_name("environment", environment)?,
    ))
}

fn place(n: &Names) -> FlagPlace<'_> {
    FlagPlace {
        project: &n.0,
        flag: &n.1,
        environment: &n.2,
    }
}

/// The fields that show `state`, or why they cannot (then it is edited as JSON).
fn fields_of(state: &FlagState) -> Result<EditFields, &'static str> {
    if !state.variants.is_empty() {
        return Err("it has variants");
    }
    let shared = state.strategies.first().map(|s| &s.constraints);
    if state
        .strategies
        .iter()
        .any(|s| Some(&s.constraints) != shared)
    {
        return Err("its strategies have different constraints");
    }
    let mut fields = EditFields {
        mode: "form".into(),
        enabled: state.enabled.to_string(),
        stickiness: "default".into(),
        state: pretty(&config::flag_state_text(state)),
        ..EditFields::default()
    };
    let (mut rollouts, mut lists) = (0, 0);
    for s in &state.strategies {
        match &s.rule {
            Rule::Default if state.strategies.len() > 1 => {
                return Err("it has a default strategy beside others");
            }
            Rule::Default => {}
            Rule::FlexibleRollout {
                rollout,
                stickiness,
                group_id,
            } => {
                rollouts += 1;
                if group_id.is_some() {
                    return Err("its rollout has its own group id");
                }
                fields.rollout = rollout.to_string();
                fields.stickiness = stickiness.clone();
            }
            Rule::UserWithId { user_ids } => {
                lists += 1;
                fields.users = user_ids.join(", ");
            }
        }
    }
    if rollouts > 1 || lists > 1 {
        return Err("it has several rollouts or user lists");
    }
    let mut lines = Vec::new();
    for c in shared.into_iter().flatten() {
        if c.case_insensitive {
            return Err("a constraint ignores case");
        }
        if c.values.iter().any(|v| v.contains(',') || v.trim() != v) {
            return Err("a constraint value holds a comma or spaces at its ends");
        }
        let not = if c.inverted { "!" } else { "" };
        lines.push(format!(
            "{not}{} {} {}",
            c.context,
            c.operator,
            c.values.join(",")
        ));
    }
    fields.constraints = lines.join("\n");
    Ok(fields)
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).expect("a JSON value prints")
}

fn describe(state: &FlagState) -> Vec<String> {
    if state.strategies.is_empty() {
        return vec!["everyone, when on".into()];
    }
    let mut out: Vec<String> = state.strategies.iter().map(describe_strategy).collect();
    if !state.variants.is_empty() {
        let names: Vec<String> = state
            .variants
            .iter()
            .map(|v| format!("{} ({}‰)", v.name, v.weight))
            .collect();
        out.push(format!("variants: {}", names.join(", ")));
    }
    out
}

fn describe_strategy(s: &Strategy) -> String {
    let rule = match &s.rule {
        Rule::Default => "default".to_string(),
        Rule::UserWithId { user_ids } => format!("users: {}", user_ids.join(", ")),
        Rule::FlexibleRollout {
            rollout,
            stickiness,
            ..
        } => format!("{rollout} % by {stickiness}"),
    };
    let constraints: Vec<String> = s
        .constraints
        .iter()
        .map(|c| {
            format!(
                "{}{} {} {}",
                if c.inverted { "not " } else { "" },
                c.context,
                c.operator,
                c.values.join(",")
            )
        })
        .collect();
    if constraints.is_empty() {
        rule
    } else {
        format!("{rule}, when {}", constraints.join(" and "))
    }
}

/// The page for `names`, showing `fields` (the current state's when `None`).
async fn page(
    state: &AppState,
    user: &ConsoleUser,
    n: &Names,
    posted: Option<(EditFields, Vec<FieldError>, Option<Problem>)>,
) -> PageResult {
    let current = services::flags::state_in(state, &user.actor, place(n))
        .await
        .or_page(user)?;
    let view = services::flags::get(state, &user.actor, &n.0, &n.1)
        .await
        .or_page(user)?;
    let cell = view
        .environments
        .iter()
        .find(|e| e.environment == n.2.as_str())
        .ok_or_else(|| {
            ServiceError::not_found(
                format!("environment {}", n.2),
                "list them with `slipway env list`",
            )
        })
        .or_page(user)?;
    let (json_only, shown) = match fields_of(&current) {
        Ok(f) => (String::new(), f),
        Err(why) => (
            why.to_string(),
            EditFields {
                mode: "json".into(),
                enabled: current.enabled.to_string(),
                state: pretty(&config::flag_state_text(&current)),
                ..EditFields::default()
            },
        ),
    };
    let (fields, errors, problem) = posted.unwrap_or((shown, Vec::new(), None));
    let status = problem.as_ref().map_or(
        if errors.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        },
        |p| p.status,
    );
    let page = EditPage {
        frame: Frame::new(format!("{} in {}", n.1, n.2), Some(user), Section::Flags),
        project: n.0.to_string(),
        flag: n.1.to_string(),
        environment: n.2.to_string(),
        protected: cell.protected,
        pending: cell.pending,
        may_change: allows(
            user.actor.role,
            Operation::ToggleFlag {
                protected: cell.protected,
            },
        ),
        current: describe(&current),
        enabled_now: current.enabled,
        json_only,
        fields,
        errors,
        problem,
    };
    Ok(render(status, &page))
}

/// `GET /flags/{project}/{flag}/{environment}`.
pub(super) async fn show(
    State(state): State<AppState>,
    Path((project, flag, environment)): Path<(String, String, String)>,
    user: ConsoleUser,
) -> PageResult {
    let n = names(&project, &flag, &environment).or_page(&user)?;
    page(&state, &user, &n, None).await
}

/// `POST /flags/{project}/{flag}/{environment}`: set the state as the form says.
pub(super) async fn save(
    State(state): State<AppState>,
    Path((project, flag, environment)): Path<(String, String, String)>,
    signed: SignedForm<EditFields>,
) -> PageResult {
    let SignedForm { user, form } = signed;
    let n = names(&project, &flag, &environment).or_page(&user)?;
    let edit = match read(&form) {
        Ok(edit) => edit,
        Err(errors) => return page(&state, &user, &n, Some((form, errors, None))).await,
    };
    match services::flags::set_state(&state, &user.actor, place(&n), &edit).await {
        Ok(outcome) if outcome.pending.is_some() => Ok(see_other_done(
            &state,
            &format!("/flags/{}/{}/{}", n.0, n.1, n.2),
            Done::FlagChangeHeld,
        )),
        Ok(_) => Ok(see_other_done(
            &state,
            &format!("/flags#flag-{}-{}", n.0, n.1),
            Done::FlagChanged,
        )),
        Err(e) => page(&state, &user, &n, Some((form, Vec::new(), Some(e.into())))).await,
    }
}

/// The form as the request text the API reads, checked by core.
fn read(form: &EditFields) -> Result<FlagStateEdit, Vec<FieldError>> {
    if form.mode == "json" {
        let mut edit = config::flag_state_edit(&Source {
            name: "state",
            text: &form.state,
        })
        .map_err(|e| e.0.into_iter().map(json_error).collect::<Vec<_>>())?;
        if edit.reason.is_empty() {
            edit.reason = form.reason.trim().to_string();
        }
        return Ok(edit);
    }
    let (body, constraint_lines) = form_body(form)?;
    config::flag_state_edit(&Source {
        name: "form",
        text: &body.to_string(),
    })
    .map_err(|e| {
        e.0.into_iter()
            .map(|e| field_error(e, &constraint_lines))
            .collect()
    })
}

fn json_error(e: ConfigError) -> FieldError {
    let at = if e.path.is_empty() {
        String::new()
    } else {
        format!(" (at {})", e.path)
    };
    let hint = e.hint.map(|h| format!("; {h}")).unwrap_or_default();
    FieldError {
        id: "flag-state",
        label: "State as JSON",
        message: format!(
            "line {}, column {}: {}{at}{hint}",
            e.line, e.column, e.message
        ),
    }
}

/// A core error on the text the form became, told as the field it came from.
fn field_error(e: ConfigError, constraint_lines: &[usize]) -> FieldError {
    let hint = e.hint.map(|h| format!(" ({h})")).unwrap_or_default();
    let constraint = e
        .path
        .split_once(".constraints[")
        .and_then(|(_, rest)| rest.split(']').next()?.parse::<usize>().ok());
    let (id, label, message) = if let Some(k) = constraint {
        let line = constraint_lines.get(k).copied().unwrap_or(k + 1);
        let hint = if e.path.ends_with(".operator") {
            " (allowed: IN, NOT_IN, STR_CONTAINS, STR_STARTS_WITH, STR_ENDS_WITH, NUM_EQ, NUM_GT, NUM_GTE, NUM_LT, NUM_LTE, DATE_AFTER, DATE_BEFORE, SEMVER_EQ, SEMVER_GT, SEMVER_LT)".to_string()
        } else {
            String::new()
        };
        (
            "flag-constraints",
            "Constraints",
            format!("line {line}: {}{hint}", e.message),
        )
    } else if e.path.ends_with(".rollout") {
        ("flag-rollout", "Rollout %", format!("{}{hint}", e.message))
    } else if e.path.ends_with(".stickiness") {
        ("flag-stickiness", "Stickiness", e.message)
    } else if e.path.ends_with(".user_ids") {
        (
            "flag-users",
            "User ids",
            "list at most 1000 user ids, separated by commas".to_string(),
        )
    } else if e.path == "reason" {
        ("flag-reason", "Reason", e.message)
    } else {
        ("flag-rollout", "Strategies", format!("{}{hint}", e.message))
    };
    FieldError { id, label, message }
}

/// The fields as the request text: on or off, and the strategies they describe (a rollout, a
/// list of users, or — with only constraints — everyone they let through), each with the
/// constraints. Also the form's line of each constraint, to name it in errors.
fn form_body(form: &EditFields) -> Result<(Value, Vec<usize>), Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut constraints = Vec::new();
    let mut lines = Vec::new();
    for (i, line) in form.constraints.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match constraint(line) {
            Some(c) => {
                constraints.push(c);
                lines.push(i + 1);
            }
            None => errors.push(FieldError {
                id: "flag-constraints",
                label: "Constraints",
                message: format!(
                    "line {}: write `context OPERATOR value[,value…]`, e.g. `tenant IN acme,globex` (`!` first to invert)",
                    i + 1
                ),
            }),
        }
    }
    let rollout = form.rollout.trim();
    let rollout = if rollout.is_empty() {
        None
    } else {
        match rollout.parse::<i64>() {
            Ok(r) => Some(r),
            Err(_) => {
                errors.push(FieldError {
                    id: "flag-rollout",
                    label: "Rollout %",
                    message: format!(
                        "`{rollout}` is not a whole number; write a percentage from 0 to 100, or leave it empty"
                    ),
                });
                None
            }
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let users: Vec<&str> = form
        .users
        .split([',', ' ', '\n', '\r', '\t'])
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect();
    let mut strategies = Vec::new();
    if let Some(rollout) = rollout {
        let stickiness = form.stickiness.trim();
        strategies.push(json!({
            "name": "flexibleRollout",
            "rollout": rollout,
            "stickiness": if stickiness.is_empty() { "default" } else { stickiness },
            "constraints": constraints,
        }));
    }
    if !users.is_empty() {
        strategies
            .push(json!({ "name": "userWithId", "user_ids": users, "constraints": constraints }));
    }
    if strategies.is_empty() && !constraints.is_empty() {
        strategies.push(json!({ "name": "default", "constraints": constraints }));
    }
    Ok((
        json!({
            "enabled": form.enabled == "true",
            "strategies": strategies,
            "reason": form.reason.trim(),
        }),
        lines,
    ))
}

/// `[!]context OPERATOR value[,value…]` as a constraint of the request text.
fn constraint(line: &str) -> Option<Value> {
    let (inverted, line) = match line.strip_prefix('!') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, line),
    };
    let (context, rest) = line.split_once(char::is_whitespace)?;
    let (operator, values) = rest.trim_start().split_once(char::is_whitespace)?;
    let values: Vec<&str> = values
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    if values.is_empty() {
        return None;
    }
    Some(
        json!({ "context": context, "operator": operator, "values": values, "inverted": inverted }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(rollout: &str, users: &str, constraints: &str) -> EditFields {
        EditFields {
            mode: "form".into(),
            enabled: "true".into(),
            rollout: rollout.into(),
            stickiness: "userId".into(),
            users: users.into(),
            constraints: constraints.into(),
            reason: "ramp".into(),
            state: String::new(),
        }
    }

    #[test]
    fn the_form_reads_back_the_state_it_shows() {
        let edit = read(&form(
            "40",
            "ada, otto",
            "tenant IN acme,globex\n!appVersion SEMVER_LT 2.0.0",
        ))
        .unwrap_or_else(|e| panic!("{:?}", e.iter().map(|e| &e.message).collect::<Vec<_>>()));
        let state = edit.patch.applied_to(&FlagState::default());
        let shown = fields_of(&state).unwrap_or_else(|why| panic!("{why}"));
        assert_eq!(shown.rollout, "40");
        assert_eq!(shown.stickiness, "userId");
        assert_eq!(shown.users, "ada, otto");
        assert_eq!(
            shown.constraints,
            "tenant IN acme,globex\n!appVersion SEMVER_LT 2.0.0"
        );
        assert_eq!(edit.reason, "ramp");
    }

    #[test]
    fn a_rollout_of_101_is_named_on_its_field_with_validates_words() {
        let errors = read(&form("101", "", "")).expect_err("refused");
        assert_eq!(errors[0].id, "flag-rollout");
        assert!(errors[0].message.contains("from 0 to 100, not 101"));
    }

    #[test]
    fn a_bad_constraint_names_its_line() {
        let errors =
            read(&form("", "", "tenant IN acme\n\nregion EQUALS eu")).expect_err("refused");
        assert_eq!(errors[0].id, "flag-constraints");
        assert!(
            errors[0].message.starts_with("line 3:"),
            "{}",
            errors[0].message
        );
        let errors = read(&form("", "", "tenant")).expect_err("refused");
        assert!(errors[0].message.starts_with("line 1: write"));
    }

    #[test]
    fn a_state_with_variants_is_edited_as_json() {
        let state = FlagState {
            enabled: true,
            strategies: vec![],
            variants: vec![slipway_core::flags::Variant {
                name: "a".into(),
                weight: 1000,
                payload: None,
                stickiness: "default".into(),
            }],
        };
        assert_eq!(fields_of(&state).err(), Some("it has variants"));
    }
}
