use super::*;

const PETS: &str = include_str!("../../../../examples/pets/slipway.yaml");

fn load_one(text: &str) -> Result<Config, ConfigErrors> {
    load(&[Source {
        name: "slipway.yaml",
        text,
    }])
}

fn first_error(text: &str) -> ConfigError {
    load_one(text).unwrap_err().0.remove(0)
}

#[test]
fn the_pets_example_loads() {
    let config = load_one(PETS).unwrap();
    assert_eq!(config.environments.len(), 6);
    assert!(
        config
            .environments
            .iter()
            .find(|e| e.name.as_str() == "PROD-EU")
            .unwrap()
            .protected
    );
    let pets = &config.projects[0];
    // Seed 002's eight steps, then a reachability check of what the plan started.
    assert_eq!(pets.plan.len(), 9);
    assert_eq!(pets.components.len(), 3);
    assert_eq!(pets.lifecycles.len(), 3);
    let kinds: Vec<&str> = pets.plan.iter().map(|s| s.action.kind()).collect();
    assert_eq!(
        kinds,
        [
            "backup",
            "backup",
            "preflight",
            "service.stop",
            "sql.run",
            "artifact.place",
            "service.start",
            "batch.install",
            "http.check"
        ]
    );
}

#[test]
fn a_typo_in_a_key_names_line_column_and_the_likely_key() {
    let text = PETS.replace("      action: service.stop", "      acton: service.stop");
    let err = first_error(&text);
    let line = text.lines().position(|l| l.contains("acton:")).unwrap() + 1;
    assert_eq!((err.line, err.column), (line, 7));
    assert_eq!(err.message, "unknown key `acton`");
    // The path names the key once (it used to read `project.plan[N].acton.acton`).
    assert!(err.path.starts_with("project.plan["), "{}", err.path);
    assert!(err.path.ends_with("].acton"), "{}", err.path);
    assert!(
        err.hint
            .as_deref()
            .unwrap()
            .starts_with("did you mean `action`?"),
        "{err}"
    );
    assert!(err
        .to_string()
        .starts_with(&format!("slipway.yaml:{line}:7: unknown key `acton`")));
}

#[test]
fn an_unknown_action_suggests_the_closest() {
    let text = PETS.replace("action: service.stop", "action: service.stpo");
    let err = first_error(&text);
    let line = text
        .lines()
        .position(|l| l.contains("service.stpo"))
        .unwrap()
        + 1;
    assert_eq!(err.line, line);
    assert!(err.hint.unwrap().contains("`service.stop`"));
}

#[test]
fn a_wrong_type_is_located_at_the_value() {
    let text = PETS.replace("min_free_mb: 200", "min_free_mb: lots");
    let err = first_error(&text);
    let line = text
        .lines()
        .position(|l| l.contains("min_free_mb: lots"))
        .unwrap()
        + 1;
    assert_eq!(err.line, line);
    assert!(err.message.contains("invalid type"), "{err}");
}

#[test]
fn an_unknown_action_parameter_is_an_error() {
    let text = PETS.replace(
        "with: { service: jboss, command",
        "with: { servce: jboss, command",
    );
    let err = first_error(&text);
    assert!(err.message.contains("`servce`"), "{err}");
    assert!(err.hint.unwrap().contains("`service`"));
}

#[test]
fn every_error_of_a_file_is_reported() {
    let text = PETS
        .replace(
            "component: pets-war, destination",
            "component: pets-wa, destination",
        )
        .replace("environments: [INT]", "environments: [INTT]");
    let errors = load_one(&text).unwrap_err().0;
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors
        .iter()
        .any(|e| e.message.contains("component pets-wa is not declared")));
    assert!(errors
        .iter()
        .any(|e| e.message.contains("environment INTT is not declared")));
}

#[test]
fn secrets_never_live_in_the_file() {
    let text = PETS.replace(
        "      sensitive: true\n",
        "      sensitive: true\n      value: hunter2\n",
    );
    let err = first_error(&text);
    assert!(err
        .message
        .contains("sensitive variable DB_PASSWORD has its value in the file"));
    assert!(err.hint.unwrap().contains("slipway variable set"));
}

#[test]
fn component_kinds_must_fit_the_action() {
    let text = PETS.replace(
        "component: pets-sql\n        connection",
        "component: pets-war\n        connection",
    );
    let err = first_error(&text);
    assert!(
        err.message
            .contains("sql.run cannot use component pets-war of kind war"),
        "{err}"
    );
}

#[test]
fn environments_may_live_in_another_file() {
    let (envs, project) = PETS.split_once("\nproject:").unwrap();
    let project = format!("project:{project}");
    let config = load(&[
        Source {
            name: "environments.yaml",
            text: envs,
        },
        Source {
            name: "slipway.yaml",
            text: &project,
        },
    ])
    .unwrap();
    assert_eq!(config.environments.len(), 6);
    // Alone, the project file cannot check its environment references; the server does.
    assert!(load(&[Source {
        name: "slipway.yaml",
        text: &project
    }])
    .is_ok());
}

#[test]
fn syntax_errors_say_where() {
    let err = first_error("project:\n  name: [pets\n");
    assert_eq!(err.file, "slipway.yaml");
    assert!(err.line >= 2, "{err}");
}

#[test]
fn the_schema_describes_the_top_level_keys() {
    let schema = json_schema();
    let props = schema["properties"].as_object().unwrap();
    assert!(props.contains_key("environments") && props.contains_key("project"));
    assert_eq!(schema["additionalProperties"], false);
}

#[test]
fn garbage_never_panics() {
    for text in [
        "",
        "[]",
        "- a\n- b",
        "project: 3",
        "environments: {}",
        "project:\n  name: x\n  plan: [1]",
        "\u{0}",
        "a: &x [*x]",
        "--- a\n--- b",
    ] {
        let _ = load_one(text);
    }
}

#[test]
fn gates_load_with_their_window_and_an_alias_shares_them() {
    let config = load_one(PETS).unwrap();
    let env = |name: &str| {
        config
            .environments
            .iter()
            .find(|e| e.name.as_str() == name)
            .unwrap()
    };
    let eu = &env("PROD-EU").gates;
    assert_eq!(eu.approvals.as_ref().unwrap().count, 2);
    assert_eq!(eu.calendar.zone.as_str(), "Europe/Paris");
    assert_eq!(eu.calendar.freezes.len(), 1);
    assert_eq!(eu.checks.len(), 2);
    assert_eq!(
        &env("PROD-US").gates,
        eu,
        "the YAML alias gives PROD-US the same gates"
    );
    assert!(env("DEV").gates.summary(false) == "none");
}

#[test]
fn bad_gates_are_located_and_explained() {
    let cases = [
        (
            "from: \"20:00\"",
            "from: \"8pm\"",
            "`8pm` is not a time of day; write it as HH:MM, e.g. 20:00",
        ),
        (
            "timezone: Europe/Paris",
            "timezone: Europe/Pariss",
            "unknown time zone `Europe/Pariss`; use an IANA name such as Europe/Paris or UTC",
        ),
        (
            "to: 2027-01-03",
            "to: 2026-12-01",
            "the freeze ends (2026-12-01) before it starts (2026-12-21)",
        ),
        (
            "count: 2, role: ops",
            "count: 0, role: ops",
            "approvals.count must be at least 1",
        ),
        (
            "rollback_rehearsed_in: MET",
            "rollback_rehearsed_in: UAT",
            "environment UAT is not declared",
        ),
    ];
    for (from, to, message) in cases {
        let text = PETS.replace(from, to);
        assert_ne!(text, PETS, "{from}");
        let err = first_error(&text);
        assert_eq!(err.message, message);
        let line = text.lines().position(|l| l.contains(to)).unwrap() + 1;
        assert_eq!(err.line, line, "{message}");
    }
}

fn with_manual_step(with: &str) -> String {
    PETS.replace(
        "    - name: Stop JBoss\n",
        &format!("    - name: Check the dashboards\n      action: manual\n      with: {with}\n    - name: Stop JBoss\n"),
    )
}

#[test]
fn a_manual_step_loads_with_its_instructions_and_approvers() {
    let config = load_one(&with_manual_step(
        "{ instructions: \"Look at the error rate\", approvers: ops }",
    ))
    .unwrap();
    let step = config.projects[0]
        .plan
        .iter()
        .find(|s| s.name == "Check the dashboards")
        .unwrap();
    assert_eq!(
        step.action,
        crate::plan::Action::Manual(crate::plan::ManualParams {
            instructions: "Look at the error rate".into(),
            approvers: Some(crate::access::Role::Ops),
        })
    );
}

#[test]
fn a_manual_step_without_instructions_is_refused_where_it_is() {
    let text = with_manual_step("{ instructions: \"  \" }");
    let err = first_error(&text);
    let line = text
        .lines()
        .position(|l| l.contains("instructions: \"  \""))
        .unwrap()
        + 1;
    assert_eq!(err.line, line, "{err}");
    assert!(err.message.contains("needs instructions"), "{err}");

    let text = with_manual_step("{ approvers: ops }");
    let err = first_error(&text);
    assert!(err.message.contains("instructions"), "{err}");
}

#[test]
fn a_manual_step_with_an_unknown_role_names_the_roles() {
    let text = with_manual_step("{ instructions: go, approvers: opps }");
    let err = first_error(&text);
    assert!(!err.message.contains("unknown action"), "{err}");
    assert!(err.to_string().contains("opps"), "{err}");
    assert!(err.to_string().contains("ops"), "{err}");
}

#[test]
fn an_undefined_variable_in_a_step_is_found_at_validate_with_its_line() {
    let text = PETS.replacen("${JBOSS_CTL}", "${JBOSS_CLT}", 1);
    let errors = load_one(&text).unwrap_err().0;
    assert_eq!(errors.len(), 1, "{errors:?}");
    let err = &errors[0];
    let line = text
        .lines()
        .position(|l| l.contains("${JBOSS_CLT}"))
        .unwrap()
        + 1;
    assert_eq!(err.line, line, "{err:?}");
    assert_eq!(
        err.message,
        "`${JBOSS_CLT}` is not a variable of this project"
    );
    let hint = err.hint.as_deref().unwrap();
    assert!(
        hint.contains("JBOSS_CTL"),
        "the known names help spot the typo: {hint}"
    );
    assert!(err.path.starts_with("project.plan["), "{}", err.path);
}

#[test]
fn built_in_variables_and_literal_dollars_are_not_undefined() {
    let text = PETS.replacen(
        "${JBOSS_CTL}",
        "${SLIPWAY_BIN} $${NOT_A_VARIABLE} ${JBOSS_CTL}",
        1,
    );
    load_one(&text).unwrap();
}

#[test]
fn every_shape_error_comes_at_once_each_at_its_own_line() {
    let text = PETS
        .replacen("      action: service.stop", "      acton: service.stop", 1)
        .replacen(
            "      action: artifact.place",
            "      actoin: artifact.place",
            1,
        )
        .replacen("    protected: true", "    protectd: true", 1);
    let errors = load_one(&text).unwrap_err().0;
    let found: Vec<(usize, &str)> = errors
        .iter()
        .map(|e| (e.line, e.message.as_str()))
        .collect();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    assert_eq!(errors.len(), 3, "{found:?}");
    for (needle, key) in [
        ("acton:", "acton"),
        ("actoin:", "actoin"),
        ("protectd:", "protectd"),
    ] {
        assert!(
            found.contains(&(line_of(needle), format!("unknown key `{key}`").as_str())),
            "{key} at line {}: {found:?}",
            line_of(needle)
        );
    }
}

#[test]
fn the_pets_example_declares_its_nightly_export_batch() {
    let config = load_one(PETS).unwrap();
    let batch = &config.projects[0].batches[0];
    assert_eq!(batch.name.as_str(), "pets-export");
    assert_eq!(batch.category, crate::supervision::batch::Category::Export);
    let schedule = batch.schedule.as_ref().expect("a schedule");
    assert_eq!(
        (schedule.expression(), schedule.zone()),
        ("0 2 * * *", "Europe/Paris")
    );
    assert_eq!(batch.grace.to_string(), "30m");
    assert_eq!(
        batch.max_runtime.map(|p| p.to_string()).as_deref(),
        Some("2h")
    );
    assert_eq!(batch.owner.as_ref().map(|o| o.as_str()), Some("adoptions"));
    assert_eq!(batch.customers, ["Partner registry"]);
}

#[test]
fn an_invalid_cron_names_the_field_and_position_at_its_line() {
    let text = PETS.replace(
        "schedule: \"0 2 * * *\"\n      time_zone",
        "schedule: \"0 25 * * *\"\n      time_zone",
    );
    let err = first_error(&text);
    let line = text
        .lines()
        .position(|l| l.contains("\"0 25 * * *\""))
        .unwrap()
        + 1;
    assert_eq!(err.line, line);
    assert!(err.path.ends_with("batches[0].schedule"), "{}", err.path);
    assert_eq!(
        err.message,
        "cron field 2 (hour) at position 3: `25` is out of range 0-23"
    );
    assert!(err.hint.as_deref().unwrap_or("").contains("five fields"));
}

#[test]
fn bad_batch_settings_are_each_reported() {
    let text = PETS
        .replace("time_zone: Europe/Paris", "time_zone: Europe/Pariss")
        .replace("grace: 30m", "grace: half an hour")
        .replace(
            "max_runtime: 2h",
            "max_runtime: 2h\n      consecutive_failures: 1\n      environments: [NOWHERE]",
        );
    let errors = load_one(&text).unwrap_err().0;
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("unknown time zone `Europe/Pariss`")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("`half an hour` is not a duration")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("consecutive_failures: 1")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("environment NOWHERE is not declared")),
        "{messages:?}"
    );
    let zone = errors
        .iter()
        .find(|e| e.message.contains("Pariss"))
        .unwrap();
    assert!(zone.path.ends_with("batches[0].time_zone"), "{}", zone.path);
}

#[test]
fn a_batch_declared_twice_or_a_zone_without_schedule_is_refused() {
    let text = PETS.replace(
        "  lifecycles:\n    - name: standard",
        "    - name: pets-export\n    - name: lonely\n      time_zone: UTC\n\n  lifecycles:\n    - name: standard",
    );
    let messages: Vec<String> = load_one(&text)
        .unwrap_err()
        .0
        .into_iter()
        .map(|e| e.message)
        .collect();
    assert!(
        messages.contains(&"batch pets-export is declared twice".to_string()),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("time zone without a schedule")),
        "{messages:?}"
    );
}

fn with_health(health: &str) -> String {
    format!(
        "environments:\n  - name: DEV\n  - name: PROD\nproject:\n  name: pets\n  variables:\n    - name: API_URL\n      value: http://127.0.0.1:8080\n{health}"
    )
}

#[test]
fn probes_and_an_slo_load_with_their_defaults() {
    let text = with_health(
        "  probes:\n    - name: api\n      kind: http\n      url: ${API_URL}/health\n      expect_status: 200\n      expect_body: ok\n      interval_secs: 10\n      timeout_secs: 2\n      environments: [PROD]\n    - name: db\n      kind: tcp\n      address: 127.0.0.1:5432\n  slo:\n    objective: 99.5\n",
    );
    let config = load_one(&text).unwrap();
    let pets = &config.projects[0];
    assert_eq!(pets.probes.len(), 2);
    let api = &pets.probes[0];
    assert_eq!(api.target.as_str(), "${API_URL}/health");
    assert_eq!((api.interval_secs, api.timeout_secs), (10, 2));
    assert!(api.runs_in(&"PROD".parse().unwrap()) && !api.runs_in(&"DEV".parse().unwrap()));
    let db = &pets.probes[1];
    assert_eq!((db.interval_secs, db.timeout_secs), (30, 5));
    assert!(db.runs_in(&"DEV".parse().unwrap()));
    let slo = pets.slo.unwrap();
    assert_eq!((slo.objective.percent(), slo.window_days), (99.5, 30));
    assert!(load_one(&with_health("")).unwrap().projects[0]
        .slo
        .is_none());
}

#[test]
fn bad_probes_are_refused_at_validate_with_the_allowed_range() {
    let text = with_health(
        "  probes:\n    - name: fast\n      kind: http\n      url: http://x/health\n      interval_secs: 2\n      timeout_secs: 1\n    - name: slow\n      kind: http\n      url: ftp://x\n      interval_secs: 10\n      timeout_secs: 10\n    - name: db\n      kind: tcp\n      address: db\n      expect_status: 200\n    - name: nowhere\n      kind: http\n      url: http://x/health\n      environments: [QA]\n    - name: fast\n      kind: tcp\n      url: http://x\n    - name: unset\n      kind: http\n      url: ${NO_SUCH}/health\n",
    );
    let errors = load_one(&text).unwrap_err().0;
    let messages: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", e.path, e.message))
        .collect();
    let has = |path: &str, text: &str| {
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with(path) && m.contains(text)),
            "no `{text}` at {path} in {messages:#?}"
        )
    };
    has(
        "project.probes[0].interval_secs",
        "allowed range: 5 to 3600 seconds",
    );
    has("project.probes[1].url", "not an http:// or https:// URL");
    has(
        "project.probes[1].timeout_secs",
        "less than the interval (10 s)",
    );
    has("project.probes[2].address", "is not host:port");
    has("project.probes[2].expect_status", "for http probes");
    has(
        "project.probes[5].url",
        "`${NO_SUCH}` is not a variable of this project",
    );
    has(
        "project.probes[3].environments",
        "environment QA is not declared",
    );
    has("project.probes[4].name", "probe fast is declared twice");
    has("project.probes[4].url", "a tcp probe has no `url`");
    has("project.probes[4].name", "has no `address`");
    // Every error is located at its own line.
    let line = text.lines().position(|l| l.contains("ftp://x")).unwrap() + 1;
    assert!(errors
        .iter()
        .any(|e| e.line == line && e.path == "project.probes[1].url"));
}

#[test]
fn a_probe_trusts_an_internal_ca_by_an_absolute_path_on_https_only() {
    let good = with_health(
        "  probes:\n    - { name: api, kind: http, url: \"https://api.factory.local/health\", tls_ca_file: /etc/ssl/factory-ca.pem }\n    - { name: var, kind: http, url: \"${API_URL}/health\", tls_ca_file: /etc/ssl/factory-ca.pem }\n",
    );
    let config = load_one(&good).unwrap();
    let probes = &config.projects[0].probes;
    assert_eq!(
        probes[0].tls_ca_file.as_deref(),
        Some("/etc/ssl/factory-ca.pem")
    );
    assert!(
        probes[1].tls_ca_file.is_some(),
        "a variable URL is checked by the agent"
    );

    let bad = with_health(
        "  probes:\n    - { name: rel, kind: http, url: \"https://x/health\", tls_ca_file: certs/ca.pem }\n    - { name: plain, kind: http, url: \"http://x/health\", tls_ca_file: /etc/ssl/ca.pem }\n    - { name: db, kind: tcp, address: \"db:5432\", tls_ca_file: /etc/ssl/ca.pem }\n    - { name: var, kind: http, url: \"https://x/health\", tls_ca_file: \"${API_URL}/ca.pem\" }\n",
    );
    let errors = load_one(&bad).unwrap_err().0;
    let messages: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {} (hint: {:?})", e.path, e.message, e.hint))
        .collect();
    let has = |path: &str, text: &str| {
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with(path) && m.contains(text)),
            "no `{text}` at {path} in {messages:#?}"
        )
    };
    has(
        "project.probes[0].tls_ca_file",
        "probe rel: `certs/ca.pem` is not an absolute path",
    );
    has(
        "project.probes[0].tls_ca_file",
        "e.g. tls_ca_file: /etc/ssl/",
    );
    has(
        "project.probes[1].tls_ca_file",
        "probe plain: `tls_ca_file` is for https:// URLs",
    );
    has(
        "project.probes[2].tls_ca_file",
        "probe db: `tls_ca_file` is for https probes",
    );
    has("project.probes[3].tls_ca_file", "holds a variable");
    assert_eq!(errors.len(), 4, "{messages:#?}");
}

#[test]
fn a_smoke_check_trusts_an_internal_ca_by_an_absolute_path_on_https_only() {
    let plan = |with: &str| {
        format!(
            "environments:\n  - name: DEV\nproject:\n  name: pets\n  plan:\n    - {{ name: Smoke, action: http.check, with: {{ {with} }} }}\n"
        )
    };
    let good = load_one(&plan(
        "url: \"https://pets.local/health\", tls_ca_file: /etc/ssl/certs/factory-ca.pem",
    ))
    .unwrap();
    let Action::HttpCheck(p) = &good.projects[0].plan[0].action else {
        panic!("an http.check");
    };
    assert_eq!(
        p.tls_ca_file.as_deref(),
        Some("/etc/ssl/certs/factory-ca.pem")
    );
    for (with, text) in [
        (
            "url: \"https://pets.local/health\", tls_ca_file: ca.pem",
            "`ca.pem` is not an absolute path",
        ),
        (
            "url: \"http://pets.local/health\", tls_ca_file: /etc/ssl/ca.pem",
            "`tls_ca_file` is for https:// URLs",
        ),
    ] {
        let e = first_error(&plan(with));
        assert_eq!(e.path, "project.plan[0].with.tls_ca_file");
        assert!(e.message.contains(text), "{}", e.message);
    }
}

#[test]
fn an_slo_outside_its_range_is_refused_with_the_range() {
    for (slo, path, text) in [
        (
            "objective: 100",
            "project.slo.objective",
            "more than 0 and less than 100",
        ),
        (
            "objective: 0",
            "project.slo.objective",
            "more than 0 and less than 100",
        ),
        (
            "objective: -5",
            "project.slo.objective",
            "more than 0 and less than 100",
        ),
        ("window_days: 0", "project.slo.window_days", "1 to 90 days"),
        (
            "window_days: 365",
            "project.slo.window_days",
            "1 to 90 days",
        ),
        // Wider than the stored minutes are kept for: the data cannot cover it.
        ("window_days: 91", "project.slo.window_days", "1 to 90 days"),
        ("window_days: -7", "project.slo.window_days", "1 to 90 days"),
        (
            "window_days: 1.5",
            "project.slo.window_days",
            "1 to 90 days",
        ),
        (
            "window_days: 99999999999999",
            "project.slo.window_days",
            "1 to 90 days",
        ),
        (
            "window_days: thirty",
            "project.slo.window_days",
            "1 to 90 days",
        ),
        (
            "window_days: \"30d\"",
            "project.slo.window_days",
            "1 to 90 days",
        ),
        (
            "window_days: [30]",
            "project.slo.window_days",
            "1 to 90 days",
        ),
        ("window_days: ~", "project.slo.window_days", "1 to 90 days"),
        (
            "window_days: \"\\u0000\\uFFFF\"",
            "project.slo.window_days",
            "1 to 90 days",
        ),
    ] {
        let err = first_error(&with_health(&format!("  slo:\n    {slo}\n")));
        assert_eq!(err.path, path, "{slo}");
        assert!(err.message.contains(text), "{slo}: {}", err.message);
    }
}

#[test]
fn a_project_stored_before_probes_existed_reads_back_without_them() {
    let pets = &load_one(PETS).unwrap().projects[0];
    let mut stored = serde_json::to_value(pets).unwrap();
    let object = stored.as_object_mut().unwrap();
    object.remove("probes");
    object.remove("slo");
    let back: crate::model::Project = serde_json::from_value(stored).unwrap();
    assert!(back.probes.is_empty() && back.slo.is_none());
}

#[test]
fn a_health_verify_step_watches_declared_probes_for_a_measurable_soak() {
    let probes = "  probes:\n    - { name: api, kind: http, url: \"${API_URL}/health\" }\n";
    let good = with_health(&format!(
        "{probes}  plan:\n    - {{ name: Verify, action: health.verify, with: {{ probes: [api], soak_secs: 30, max_failure_percent: 5 }} }}\n"
    ));
    assert!(load_one(&good).is_ok(), "{:?}", load_one(&good).err());
    let bad = with_health(&format!(
        "{probes}  plan:\n    - {{ name: Verify, action: health.verify, with: {{ probes: [web], soak_secs: 1, every_secs: 0, max_failure_percent: 150 }} }}\n"
    ));
    let errors = load_one(&bad).unwrap_err().0;
    let messages: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", e.path, e.message))
        .collect();
    for (path, text) in [
        ("project.plan[0].with.probes", "probe web is not declared"),
        (
            "project.plan[0].with.soak_secs",
            "allowed range: 5 to 3600 seconds",
        ),
        (
            "project.plan[0].with.every_secs",
            "allowed range: 1 second to the soak",
        ),
        ("project.plan[0].with.max_failure_percent", "0 to 100"),
    ] {
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with(path) && m.contains(text)),
            "no `{text}` at {path} in {messages:#?}"
        );
    }
}

#[test]
fn finding_deadlines_replace_the_defaults_they_name() {
    use crate::quality::Severity;
    let pets = load_one(PETS).unwrap().projects.remove(0);
    assert_eq!(
        pets.remediation,
        crate::quality::RemediationPolicy::default()
    );
    let text = PETS.replace(
        "\nproject:\n",
        "\nproject:\n  findings:\n    deadlines:\n      critical: 3\n      medium: 90\n",
    );
    let pets = load_one(&text).unwrap().projects.remove(0);
    let days = &pets.remediation.days;
    assert_eq!(days.get(&Severity::Critical), Some(&3));
    assert_eq!(
        days.get(&Severity::High),
        Some(&30),
        "a default not named is kept"
    );
    assert_eq!(days.get(&Severity::Medium), Some(&90));
}

#[test]
fn a_finding_deadline_of_zero_days_or_an_unknown_severity_is_refused_where_written() {
    let text = PETS.replace(
        "\nproject:\n",
        "\nproject:\n  findings:\n    deadlines:\n      critical: 0\n",
    );
    let err = first_error(&text);
    assert_eq!(err.path, "project.findings.deadlines.critical");
    assert!(err.message.contains("0 days"), "{}", err.message);
    let text = PETS.replace(
        "\nproject:\n",
        "\nproject:\n  findings:\n    deadlines:\n      urgent: 3\n",
    );
    let err = first_error(&text);
    assert!(
        err.path.starts_with("project.findings.deadlines"),
        "{}",
        err.path
    );
}

const ALERTING: &str = r#"
project:
  name: shop
  variables:
    - { name: CHAT_URL, sensitive: true }
  alerts:
    renotify: 2h
    channels:
      - { name: chat, kind: slack, url_from: CHAT_URL }
      - name: mail
        kind: email
        to: [ops@example.com]
        smtp: { host: mail.example.com, from: slipway@example.com }
    routes:
      - { teams: [billing], min_severity: error, channels: [chat, mail] }
"#;

#[test]
fn alerting_reads_its_channels_routes_and_renotify_interval() {
    let config = load_one(ALERTING).expect("valid");
    let a = &config.projects[0].alerting;
    assert_eq!(a.renotify, Some(jiff::SignedDuration::from_hours(2)));
    assert_eq!(a.channels.len(), 2);
    assert_eq!(
        a.channels[1].smtp.as_ref().map(|s| s.port),
        Some(25),
        "the default port"
    );
    assert_eq!(
        a.channels[1].smtp.as_ref().map(|s| s.tls),
        Some(crate::alerts::channel::SmtpTls::Opportunistic),
        "STARTTLS when offered, by default"
    );
    let smtps = load_one(&ALERTING.replace(
        "from: slipway@example.com",
        "from: slipway@example.com, port: 465",
    ))
    .expect("valid");
    assert_eq!(
        smtps.projects[0].alerting.channels[1]
            .smtp
            .as_ref()
            .map(|s| s.tls),
        Some(crate::alerts::channel::SmtpTls::Implicit),
        "port 465 is SMTPS"
    );
    let trusted = ALERTING.replace(
        "from: slipway@example.com",
        "from: slipway@example.com, tls: off, username: relay, allow_plain_auth: true",
    );
    assert!(load_one(&trusted).is_ok(), "said so explicitly");
    assert_eq!(a.routes[0].channels.len(), 2);
    let none = load_one("project:\n  name: shop\n").expect("valid");
    assert_eq!(
        none.projects[0].alerting.renotify,
        Some(crate::alerts::channel::DEFAULT_RENOTIFY)
    );
}

const FLAGS: &str = r#"
project:
  name: shop
  flags:
    - name: new-checkout
      type: release
      description: the one-page checkout
      strategies:
        - name: flexibleRollout
          rollout: 25
          constraints:
            - { context: tenant, operator: IN, values: [acme] }
      environments:
        DEV: { enabled: true, strategies: [] }
        PROD: { enabled: true }
    - name: payments
      type: kill-switch
      enabled: true
"#;

#[test]
fn flags_give_every_environment_a_state_and_override_per_environment() {
    let config = load_one(FLAGS).unwrap();
    let flags = &config.flags[0];
    assert_eq!(flags.project.as_str(), "shop");
    let checkout = &flags.flags[0];
    let name = |n: &str| Name::parse(n).unwrap();
    assert!(!checkout.state_in(&name("TEST")).enabled);
    assert!(checkout.state_in(&name("DEV")).enabled);
    assert!(checkout.state_in(&name("DEV")).strategies.is_empty());
    let prod = checkout.state_in(&name("PROD"));
    assert!(prod.enabled);
    assert_eq!(
        prod.strategies.len(),
        1,
        "PROD keeps the default strategies"
    );
    assert_eq!(
        flags.flags[1].kind,
        crate::flags::FlagKind::KillSwitch,
        "type: kill-switch"
    );
}

#[test]
fn bad_alerting_is_refused_at_its_line_with_how_to_fix_it() {
    for (from, to, path, says) in [
        (
            "channels: [chat, mail]",
            "channels: [chat, pager]",
            "routes[0].channels[1]",
            "channel pager is not declared",
        ),
        (
            "url_from: CHAT_URL",
            "to: [a@b.c]",
            "channels[0].url_from",
            "needs its incoming-webhook URL",
        ),
        (
            "to: [ops@example.com]",
            "to: [\"ops@example.com\\r\\nRCPT TO:<x@y.z>\"]",
            "channels[1].to[0]",
            "is not a mail address",
        ),
        (
            "to: [ops@example.com]",
            "to: []",
            "channels[1].to",
            "at least one recipient",
        ),
        ("renotify: 2h", "renotify: 2 hours", "renotify", "duration"),
        (
            "url_from: CHAT_URL",
            "url: ftp://chat.example.com",
            "channels[0].url",
            "not an http(s) address",
        ),
        (
            "from: slipway@example.com",
            "from: slipway",
            "channels[1].smtp.from",
            "not a mail address",
        ),
        (
            "from: slipway@example.com",
            "from: slipway@example.com, tls: off, username: slipway",
            "channels[1].smtp.tls",
            "password in clear",
        ),
        (
            "from: slipway@example.com",
            "from: slipway@example.com, tls: off, ca_file: /etc/ca.pem",
            "channels[1].smtp.ca_file",
            "never uses it",
        ),
        (
            "from: slipway@example.com",
            "from: slipway@example.com, tls: sometimes",
            "channels[1].smtp.tls",
            "`sometimes` is not allowed here",
        ),
    ] {
        let text = ALERTING.replace(from, to);
        let errors = load_one(&text).expect_err(to).0;
        let err = errors
            .iter()
            .find(|e| e.path.ends_with(path))
            .unwrap_or_else(|| panic!("{to}: no error at {path}: {errors:#?}"));
        assert!(err.message.contains(says), "{to}: {}", err.message);
        assert!(err.line > 1, "{to}: located");
    }
}

#[test]
fn a_bad_flag_strategy_is_located_and_explained() {
    let text = FLAGS.replace("rollout: 25", "rollout: 250");
    let err = first_error(&text);
    assert_eq!(err.path, "project.flags[0].strategies[0].rollout");
    assert_eq!(err.line, 10);
    assert!(err.message.contains("0 to 100, not 250"), "{}", err.message);

    let text = FLAGS.replace(
        "operator: IN, values: [acme]",
        "operator: NUM_GT, value: ten",
    );
    let err = first_error(&text);
    assert_eq!(
        err.path,
        "project.flags[0].strategies[0].constraints[0].values"
    );
    assert!(err.message.contains("`ten` is not one"), "{}", err.message);

    let text = FLAGS.replace("type: release", "type: forever");
    let err = first_error(&text);
    assert!(err.message.contains("forever"), "{}", err.message);
}

#[test]
fn a_segment_named_by_a_strategy_adds_its_constraints_and_an_unknown_one_is_located() {
    let text = FLAGS
        .replace(
            "  flags:\n",
            "  flag_segments:\n    - name: beta-tenants\n      constraints:\n        - { context: region, operator: IN, values: [eu] }\n  flags:\n",
        )
        .replace(
            "          rollout: 25\n",
            "          rollout: 25\n          segments: [beta-tenants]\n",
        );
    let config = load_one(&text).unwrap();
    let checkout = &config.flags[0].flags[0];
    let contexts: Vec<&str> = checkout.default.strategies[0]
        .constraints
        .iter()
        .map(|c| c.context.as_str())
        .collect();
    assert_eq!(
        contexts,
        ["tenant", "region"],
        "its own constraints, then the segment's"
    );

    let unknown = text.replace("segments: [beta-tenants]", "segments: [gamma]");
    let err = first_error(&unknown);
    assert_eq!(err.path, "project.flags[0].strategies[0].segments[0]");
    assert!(err.message.contains("\"gamma\""), "{}", err.message);
    assert!(
        err.hint
            .as_deref()
            .unwrap_or_default()
            .contains("beta-tenants"),
        "{:?}",
        err.hint
    );

    let empty = text.replace(
        "      constraints:\n        - { context: region, operator: IN, values: [eu] }\n",
        "      constraints: []\n",
    );
    let err = first_error(&empty);
    assert_eq!(err.path, "project.flag_segments[0].constraints");

    let bad_value = text.replace(
        "{ context: region, operator: IN, values: [eu] }",
        "{ context: age, operator: NUM_GT, value: old }",
    );
    let err = first_error(&bad_value);
    assert_eq!(err.path, "project.flag_segments[0].constraints[0].values");
}

#[test]
fn a_verification_against_the_baseline_is_checked_with_the_allowed_ranges() {
    let probes = "  probes:\n    - { name: api, kind: http, url: \"${API_URL}/health\" }\n";
    let good = with_health(&format!(
        "{probes}  plan:\n    - {{ name: Verify, action: health.verify, with: {{ probes: [api], baseline_minutes: 60, max_failure_increase_percent: 2, max_latency_factor: 1.5 }} }}\n"
    ));
    let project = load_one(&good).unwrap().projects.remove(0);
    let crate::plan::Action::VerifyHealth(p) = &project.plan[0].action else {
        panic!("{:?}", project.plan[0].action);
    };
    assert_eq!(p.max_latency_factor.map(|f| f.get()), Some(1.5));
    let bad = with_health(&format!(
        "{probes}  plan:\n    - {{ name: Verify, action: health.verify, with: {{ probes: [api], baseline_minutes: 0, max_failure_increase_percent: 101 }} }}\n"
    ));
    let messages: Vec<String> = load_one(&bad)
        .unwrap_err()
        .0
        .iter()
        .map(|e| format!("{}: {}", e.path, e.message))
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("project.plan[0].with.baseline_minutes")
                && m.contains("1 to 1440 minutes")),
        "{messages:#?}"
    );
    assert!(
        messages.iter().any(
            |m| m.starts_with("project.plan[0].with.max_failure_increase_percent")
                && m.contains("0 to 100")
        ),
        "{messages:#?}"
    );
    let factor = with_health(&format!(
        "{probes}  plan:\n    - {{ name: Verify, action: health.verify, with: {{ probes: [api], max_latency_factor: 0.5 }} }}\n"
    ));
    let errors = load_one(&factor).unwrap_err().0;
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("allowed range: 1 to 100")),
        "{errors:#?}"
    );
}

#[test]
fn a_canary_is_a_share_or_a_count_and_anything_else_is_refused_with_the_forms() {
    let plan = "  plan:\n    - { name: Go, action: command, with: { run: \"true\" } }\n";
    let good = with_health(&format!("  canary: 10%\n{plan}"));
    assert_eq!(
        load_one(&good).unwrap().projects[0].canary,
        Some(crate::plan::Canary::Percent(10))
    );
    let count = with_health(&format!("  canary: 2\n{plan}"));
    assert_eq!(
        load_one(&count).unwrap().projects[0].canary,
        Some(crate::plan::Canary::Count(2))
    );
    for bad in ["0%", "150%", "0", "-3", "half", "[1]"] {
        let text = with_health(&format!("  canary: {bad}\n{plan}"));
        let errors = load_one(&text).unwrap_err().0;
        assert!(
            errors.iter().any(|e| e.path.starts_with("project.canary")),
            "{bad}: {errors:#?}"
        );
    }
    // A project stored before canaries existed reads back without one.
    let pets = &load_one(PETS).unwrap().projects[0];
    let stored = serde_json::to_value(pets).unwrap();
    assert!(stored.get("canary").is_none());
    let back: crate::model::Project = serde_json::from_value(stored).unwrap();
    assert_eq!(back.canary, None);
}

#[test]
fn a_canary_per_role_names_roles_the_plan_runs_on_each_with_a_share() {
    let plan = "  plan:\n    - { name: Web, action: command, roles: [web], with: { run: \"true\" } }\n    - { name: Api, action: command, roles: [api], with: { run: \"true\" } }\n";
    let good = with_health(&format!(
        "  canary: {{ roles: {{ web: 1, api: 50% }} }}\n{plan}"
    ));
    let project = &load_one(&good).unwrap().projects[0];
    assert_eq!(project.canary, None);
    let n = |s: &str| Name::parse(s).unwrap();
    assert_eq!(
        project.canary_share(),
        crate::plan::CanaryShare::PerRole(
            [
                (n("web"), crate::plan::Canary::Count(1)),
                (n("api"), crate::plan::Canary::Percent(50))
            ]
            .into()
        )
    );
    // It survives the release's snapshot.
    let back: crate::model::Project =
        serde_json::from_value(serde_json::to_value(project).unwrap()).unwrap();
    assert_eq!(back.canary_share(), project.canary_share());
    for (bad, path, says) in [
        (
            "{ roles: { db: 1 } }",
            "project.canary.roles.db",
            "no step of the plan runs on role `db`",
        ),
        (
            "{ roles: { web: 0 } }",
            "project.canary.roles.web",
            "is not a canary",
        ),
        (
            "{ roles: { web: 150% } }",
            "project.canary.roles.web",
            "is not a canary",
        ),
        (
            "{ roles: {} }",
            "project.canary.roles",
            "no role is given a canary share",
        ),
        ("{ role: { web: 1 } }", "project.canary", ""),
    ] {
        let text = with_health(&format!("  canary: {bad}\n{plan}"));
        let errors = load_one(&text).unwrap_err().0;
        assert!(
            errors
                .iter()
                .any(|e| e.path.starts_with(path) && e.message.contains(says)),
            "{bad}: {errors:#?}"
        );
    }
    let unknown = with_health(&format!("  canary: {{ roles: {{ db: 1 }} }}\n{plan}"));
    let errors = load_one(&unknown).unwrap_err().0;
    assert!(
        errors
            .iter()
            .any(|e| e.hint.as_deref().is_some_and(|h| h.contains("api, web"))),
        "{errors:#?}"
    );
}

#[test]
fn a_traffic_switch_names_one_upstream_in_an_absolute_file() {
    let good = with_health(
        "  plan:\n    - { name: Switch, action: traffic.switch, with: { file: /etc/nginx/active.conf, upstream: green } }\n",
    );
    assert!(load_one(&good).is_ok(), "{:?}", load_one(&good).err());
    let bad = with_health(
        "  plan:\n    - { name: Switch, action: traffic.switch, with: { file: active.conf, upstream: \"green; return 500\", template: \"set $x blue;\", check: \" \" } }\n",
    );
    let messages: Vec<String> = load_one(&bad)
        .unwrap_err()
        .0
        .iter()
        .map(|e| format!("{}: {}", e.path, e.message))
        .collect();
    for (path, text) in [
        ("project.plan[0].with.upstream", "is not an upstream name"),
        ("project.plan[0].with.template", "never names the upstream"),
        (
            "project.plan[0].with.file",
            "not the absolute path of a file",
        ),
        ("project.plan[0].with.check", "the check command is empty"),
    ] {
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with(path) && m.contains(text)),
            "no `{text}` at {path} in {messages:#?}"
        );
    }
}

#[test]
fn the_ibtool_example_loads_with_its_probe_slo_verification_and_purge() {
    let text = include_str!("../../../../examples/ibtool/slipway.yaml");
    let loaded = load_one(text).unwrap_or_else(|e| panic!("{e:?}"));
    let project = &loaded.projects[0];
    assert_eq!(project.probes[0].name.as_str(), "api");
    assert_eq!(project.slo.unwrap().objective.percent(), 99.9);
    assert_eq!(project.batches[0].name.as_str(), "ibtool-purge");
    let rules: Vec<&str> = project.batches[0]
        .logs
        .rules
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(rules, ["error", "connection", "nothing-purged"]);
    assert!(project
        .plan
        .iter()
        .any(|s| matches!(s.action, crate::plan::Action::VerifyHealth(_))));
}

#[test]
fn an_invalid_log_rule_names_the_rule_and_the_character_at_its_line() {
    let text = PETS.replace(
        "max_runtime: 2h",
        "max_runtime: 2h\n      logs:\n        rules:\n          - { name: timeout, pattern: 'timed out (after \\d+s' }\n        period: 2d\n        customers:\n          - { path: '/mailing/' }",
    );
    let errors = load_one(&text).unwrap_err().0;
    let rule = errors
        .iter()
        .find(|e| e.path.ends_with("logs.rules[0].pattern"))
        .unwrap_or_else(|| panic!("{errors:?}"));
    assert_eq!(
        rule.message,
        "log rule timeout: the pattern `timed out (after \\d+s` does not read at character 11: unclosed group"
    );
    let line = text
        .lines()
        .position(|l| l.contains("timed out ("))
        .unwrap()
        + 1;
    assert_eq!(rule.line, line);
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert!(
        messages.iter().any(|m| m.contains("period of 2d")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("names no customer")),
        "{messages:?}"
    );
}

#[test]
fn a_batch_without_logs_gets_the_default_rule() {
    let config = load_one(PETS).unwrap();
    let logs = &config.projects[0].batches[0].logs;
    assert_eq!(logs.rules.len(), 1);
    assert_eq!(logs.rules[0].name.as_str(), "error");
    assert_eq!(logs.period.to_string(), "10m");
}

/// The pets example with a second batch `pets-import` that `pets-export` needs, and `extra`
/// appended to `pets-export`'s entry (after its description).
fn pets_with_batches(extra: &str, import_extra: &str) -> String {
    PETS.replace(
        "      log_dir: /var/log/pets-batch\n      description: Nightly export of adoptions to the partner registry\n",
        &format!(
            "      log_dir: /var/log/pets-batch\n      description: Nightly export of adoptions to the partner registry\n{extra}    - name: pets-import\n      schedule: \"0 1 * * *\"\n{import_extra}"
        ),
    )
}

#[test]
fn maintenance_windows_and_needs_are_read_in_their_time_zone() {
    let text = pets_with_batches(
        "      needs: [pets-import]\n      maintenance:\n        - { every: \"0 22 * * sat\", lasts: 6h, environments: [PROD-EU], reason: backups }\n        - { from: \"2026-12-24 18:00\", to: \"2026-12-27T06:00:00Z\" }\n",
        "",
    )
    .replace(
        "  lifecycles:\n    - name: standard",
        "  batch_maintenance:\n    - { every: \"@daily\", lasts: 30m, time_zone: America/New_York }\n\n  lifecycles:\n    - name: standard",
    );
    let config = load_one(&text).unwrap();
    let project = &config.projects[0];
    let export = &project.batches[0];
    assert_eq!(export.needs, [Name::parse("pets-import").unwrap()]);
    use crate::supervision::maintenance::Opening;
    let [weekly, once] = &export.maintenance[..] else {
        panic!("two windows: {:?}", export.maintenance)
    };
    match &weekly.opening {
        Opening::Every { schedule, lasts } => {
            // The batch's zone, since the window names none.
            assert_eq!(
                (schedule.expression(), schedule.zone()),
                ("0 22 * * sat", "Europe/Paris")
            );
            assert_eq!(lasts.to_string(), "6h");
        }
        other => panic!("recurring: {other:?}"),
    }
    assert!(weekly.applies_in("PROD-EU") && !weekly.applies_in("PROD-US"));
    assert_eq!(weekly.reason, "backups");
    assert_eq!(
        once.opening,
        Opening::Once {
            // 18:00 in Paris in winter is 17:00 UTC.
            from: "2026-12-24T17:00:00Z".parse().unwrap(),
            to: "2026-12-27T06:00:00Z".parse().unwrap(),
        }
    );
    let [daily] = &project.batch_maintenance[..] else {
        panic!("one project window")
    };
    assert!(
        matches!(&daily.opening, Opening::Every { schedule, .. } if schedule.zone() == "America/New_York")
    );
}

#[test]
fn batches_that_need_each_other_in_a_cycle_are_refused_naming_the_cycle() {
    let text = pets_with_batches(
        "      needs: [pets-import]\n",
        "      needs: [pets-export]\n",
    );
    let errors = load_one(&text).unwrap_err().0;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0].message,
        "batches need each other in a cycle: pets-export → pets-import → pets-export"
    );
    assert!(
        errors[0].path.ends_with("batches[0].needs"),
        "{}",
        errors[0].path
    );
    let line = text
        .lines()
        .position(|l| l.contains("needs: [pets-import]"))
        .unwrap()
        + 1;
    assert_eq!(errors[0].line, line);
    // A batch needing itself is the shortest cycle; one needing an unknown batch is named.
    let text = pets_with_batches("      needs: [pets-export, pets-imprt]\n", "");
    let messages: Vec<String> = load_one(&text)
        .unwrap_err()
        .0
        .into_iter()
        .map(|e| e.message)
        .collect();
    assert!(
        messages
            .contains(&"batches need each other in a cycle: pets-export → pets-export".to_string()),
        "{messages:?}"
    );
    assert!(
        messages.contains(
            &"batch pets-export needs pets-imprt, which the project does not declare".to_string()
        ),
        "{messages:?}"
    );
}

#[test]
fn bad_maintenance_windows_are_each_reported_at_their_key() {
    let text = pets_with_batches(
        "      maintenance:\n        - { every: \"0 22 * * sat\", from: \"2026-12-24 18:00\" }\n        - { every: \"0 25 * * *\", lasts: 0s }\n        - { from: \"2026-12-27 06:00\", to: \"2026-12-24 18:00\" }\n        - { from: \"christmas\", to: \"2026-12-24 18:00\", time_zone: Mars/Olympus }\n",
        "",
    );
    let errors = load_one(&text).unwrap_err().0;
    let found: Vec<(String, String)> = errors
        .iter()
        .map(|e| (e.path.clone(), e.message.clone()))
        .collect();
    let has = |path: &str, needle: &str| {
        found
            .iter()
            .any(|(p, m)| p.ends_with(path) && m.contains(needle))
    };
    assert!(has("maintenance[0]", "either recurring"), "{found:?}");
    assert!(
        has("maintenance[1].every", "out of range 0-23"),
        "{found:?}"
    );
    assert!(
        has("maintenance[1].lasts", "lasts 0s is never open"),
        "{found:?}"
    );
    assert!(
        has(
            "maintenance[2].to",
            "closes (2026-12-24T17:00:00Z) before it opens"
        ),
        "{found:?}"
    );
    assert!(
        has(
            "maintenance[3].time_zone",
            "unknown time zone `Mars/Olympus`"
        ),
        "{found:?}"
    );
    assert_eq!(errors.len(), 5, "{found:?}");
    // A window naming an environment nobody declared is refused at its key.
    let text = pets_with_batches(
        "      maintenance:\n        - { from: \"2026-12-24 18:00\", to: \"2026-12-25 18:00\", environments: [NOWHERE] }\n",
        "",
    );
    let errors = load_one(&text).unwrap_err().0;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].path.ends_with("maintenance[0].environments"),
        "{errors:?}"
    );
    assert_eq!(errors[0].message, "environment NOWHERE is not declared");
}

#[test]
fn test_batteries_load_from_the_suites_and_the_plan() {
    let text = with_health(
        "  tests:\n    suites:\n      smoke: { role: web, command: pytest -q, junit: [reports/*.xml], timeout: 120 }\n  plan:\n    - { name: Smoke, action: tests.run, roles: [web], with: { suite: smoke, command: pytest, junit: [\"out/**/*.xml\"], fail_on: never } }\n",
    );
    let pets = &load_one(&text).unwrap().projects[0];
    let smoke = &pets.test_suites[0];
    assert_eq!(
        (smoke.name.as_str(), smoke.role.as_str(), smoke.timeout_secs),
        ("smoke", "web", 120)
    );
    let crate::plan::Action::RunTests(p) = &pets.plan[0].action else {
        panic!("{:?}", pets.plan[0].action)
    };
    assert_eq!(p.fail_on, crate::plan::FailOn::Never);
    // A project stored before batteries existed reads back without any.
    let stored = serde_json::to_value(&load_one(PETS).unwrap().projects[0]).unwrap();
    assert!(stored.get("test_suites").is_none());
}

#[test]
fn a_test_battery_without_files_or_command_is_refused_where_it_is_written() {
    let text = with_health(
        "  tests:\n    suites:\n      smoke: { role: web, command: \"\", junit: [] }\n  plan:\n    - { name: Smoke, action: tests.run, with: { suite: smoke, command: pytest, junit: [../up.xml] } }\n",
    );
    let errors = load_one(&text).unwrap_err().0;
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert!(
        paths.contains(&"project.tests.suites.smoke.command")
            && paths.contains(&"project.tests.suites.smoke.junit")
            && paths.contains(&"project.plan[0].with.junit"),
        "{errors:#?}"
    );
    let line = text.lines().position(|l| l.contains("smoke: {")).unwrap() + 1;
    let junit = errors
        .iter()
        .find(|e| e.path == "project.tests.suites.smoke.junit")
        .unwrap();
    assert_eq!(junit.line, line, "{junit:?}");
}
