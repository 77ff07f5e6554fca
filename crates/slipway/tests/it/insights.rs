//! DORA metrics end to end: a history made of real releases (with commit files carrying authored
//! times), real deployments by real agents into DEV and a PROD declared `production: true`, a
//! hotfix and a rollback; the server's figures are checked against a computation written here,
//! from the deployments the API lists, independently of `core::insights`.

use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use crate::support::{file, json, ok, spawn_agent, stderr, AgentProcess, Server, ADMIN_TOKEN};

const PETS: &str = "environments:\n  - { name: DEV }\n  - { name: PROD, production: true }\nproject:\n  name: pets\n  team: payments\n  components:\n    - { name: app, kind: file }\n  plan:\n    - { name: Hi, action: command, roles: [app], with: { run: \"true\", undo: \"true\" } }\n";

fn agent(server: &Server, work: &Path, env: &str) -> AgentProcess {
    let token = server.enrollment_token(env, &["app"]);
    let name = format!("agent-{}", env.to_lowercase());
    let agent = spawn_agent(&server.url, &name, &work.join(&name), Some(&token));
    server.wait_online(&name);
    agent
}

/// Release `version` whose commits were authored `hours_ago` each, optionally labelled hotfix.
fn release(server: &Server, work: &Path, version: &str, commits: &[(&str, i64)], hotfix: bool) {
    let now = Timestamp::now();
    let lines: String = commits
        .iter()
        .map(|(hash, hours)| {
            format!(
                "{hash} {} fix: change {hash}\n",
                now - SignedDuration::from_hours(*hours)
            )
        })
        .collect();
    let path = file(work, &format!("commits-{version}.txt"), &lines);
    ok(server.push_artifact(&file(work, "app.txt", version), "pets", "app", version));
    let artifact = format!("app={version}");
    let mut args = vec![
        "release",
        "create",
        "--project",
        "pets",
        "--version",
        version,
        "--artifact",
        &artifact,
        "--unsigned-ok",
        "--commits-file",
        &path,
    ];
    if hotfix {
        args.extend(["--label", "hotfix"]);
    }
    ok(server.cli(None, &args));
}

fn dora(server: &Server, query: &str) -> Value {
    let mut args = vec!["insights", "dora", "-o", "json"];
    args.extend(query.split_whitespace());
    json(server.cli(None, &args))
}

fn time(v: &Value) -> Timestamp {
    v.as_str()
        .expect("a time")
        .parse()
        .expect("an RFC 3339 time")
}

fn nearest_rank(values: &[i64], percent: usize) -> i64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

#[test]
fn the_dora_figures_match_a_computation_made_from_the_deployments_the_api_lists() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();

    // Without a production environment, the answer is "not configured", not zeros.
    let plain = PETS.replace(", production: true", "");
    ok(server.apply(&file(w, "plain.yaml", &plain)));
    let not_configured = dora(&server, "--project pets");
    assert_eq!(
        not_configured["status"], "not_configured",
        "{not_configured:#}"
    );
    assert_eq!(not_configured["figures"], Value::Null);
    let metrics = ureq::get(&format!("{}/metrics", server.url))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(
        !metrics.contains("slipway_dora_"),
        "no gauge, not zeros: {metrics}"
    );
    ok(server.apply(&file(w, "pets.yaml", PETS)));

    let _dev = agent(&server, w, "DEV");
    let _prod = agent(&server, w, "PROD");
    // (release, commits authored hours ago, labelled hotfix)
    type Step<'a> = (&'a str, &'a [(&'a str, i64)], bool);
    let commits: [Step; 4] = [
        ("1.0.0", &[("aaaa001", 72), ("aaaa002", 48)], false),
        ("1.1.0", &[("bbbb001", 30)], false),
        ("1.1.1", &[("cccc001", 3)], true),
        ("1.2.0", &[("dddd001", 5)], false),
    ];
    for (version, list, hotfix) in commits {
        release(&server, w, version, list, hotfix);
        if !hotfix {
            ok(server.deploy("pets", version, "DEV"));
        }
        ok(server.deploy("pets", version, "PROD"));
    }
    // 1.2.0 is rolled back in PROD: a change failure, and rework.
    ok(server.cli(
        None,
        &["rollback", "--project", "pets", "--env", "PROD", "--wait"],
    ));

    let d = dora(&server, "--project pets");
    assert_eq!(d["status"], "measured", "{d:#}");
    assert_eq!(d["definitions_version"], "2026-12.2");
    let f = &d["figures"];

    // The independent computation, from the deployments the API lists.
    let listed = json(server.cli(
        None,
        &[
            "deployment",
            "list",
            "--project",
            "pets",
            "--all",
            "-o",
            "json",
        ],
    ));
    let all: Vec<&Value> = listed["items"].as_array().unwrap().iter().collect();
    let prod: Vec<&Value> = all
        .iter()
        .copied()
        .filter(|d| d["environment"] == "PROD" && d["state"] == "succeeded")
        .collect();
    let id_of = |kind: &str, version: &str| -> i64 {
        prod.iter()
            .find(|d| d["kind"] == kind && d["release_version"] == version)
            .unwrap_or_else(|| panic!("a {kind} of {version} in PROD"))["id"]
            .as_i64()
            .unwrap()
    };
    let finished = |id: i64| -> Timestamp {
        time(&prod.iter().find(|d| d["id"] == id).unwrap()["finished_at"])
    };
    let deploys: Vec<i64> = ["1.0.0", "1.1.0", "1.1.1", "1.2.0"]
        .iter()
        .map(|v| id_of("deploy", v))
        .collect();
    let rollback = prod
        .iter()
        .find(|d| d["kind"] == "rollback")
        .expect("the rollback")["id"]
        .as_i64()
        .unwrap();

    // Deployment frequency: the four successful production deployments. The answer counts them;
    // the drill-down pages through them (one at a time here, so the keyset crosses pages).
    let freq = &f["deployment_frequency"];
    assert_eq!(freq["count"], 4);
    assert!(
        freq.get("deployments").is_none(),
        "no list of every id: {freq:#}"
    );
    let paged = |figure: &str| -> Vec<i64> {
        let page = json(server.cli(
            None,
            &[
                "insights",
                "deployments",
                "--figure",
                figure,
                "--project",
                "pets",
                "--limit",
                "1",
                "--all",
                "-o",
                "json",
            ],
        ));
        assert_eq!(page["next"], Value::Null, "{page:#}");
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(paged("deployment-frequency"), deploys);
    let link = d["drill_down"]["deployment_frequency"].as_str().unwrap();
    let first: Value = ureq::get(&format!("{}{link}&limit=2", server.url))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(first["count"], 4, "{first:#}");
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        first["next"],
        deploys[1].to_string(),
        "the cursor is the last id"
    );
    let days: std::collections::BTreeSet<String> = deploys
        .iter()
        .map(|id| finished(*id).to_string()[..10].to_string())
        .collect();
    assert_eq!(freq["deployment_days"], days.len());

    // Change failure rate: 1.1.0 was followed by a hotfix, 1.2.0 was rolled back.
    let cfr = &f["change_failure_rate"];
    assert_eq!(cfr["rate"], 0.5, "{cfr:#}");
    assert_eq!(cfr["counted"], 4, "{cfr:#}");
    assert_eq!(paged("change-failure-rate"), deploys);
    let mut changes = deploys.clone();
    changes.push(rollback);
    changes.sort_unstable();
    assert_eq!(paged("rework-rate"), changes);
    let failed: Vec<(i64, Value)> = cfr["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["deployment"].as_i64().unwrap(), x["reasons"].clone()))
        .collect();
    assert_eq!(
        failed,
        vec![
            (
                deploys[1],
                serde_json::json!([{ "kind": "hotfix", "deployment": deploys[2] }])
            ),
            (
                deploys[3],
                serde_json::json!([{ "kind": "rolled_back", "rollback": rollback }])
            ),
        ]
    );
    assert_eq!(cfr["band"], "low");
    assert_eq!(cfr["goal"]["met"], false);

    // Recovery: from the bad deployment's end to the end of what restored production.
    let recoveries = f["recovery_time"]["recoveries"].as_array().unwrap();
    let expected = [(deploys[1], deploys[2]), (deploys[3], rollback)];
    for (r, (bad, by)) in recoveries.iter().zip(expected) {
        assert_eq!(r["restored_by"], by);
        let seconds = finished(by).duration_since(finished(bad)).as_secs();
        assert_eq!(r["seconds"], seconds, "{r:#}");
    }
    assert_eq!(recoveries.len(), 2);

    // Lead time: each commit from its authored time to its release's PROD deployment. The
    // answer counts the commits; the drill-down pages through them (two at a time here, so the
    // keyset crosses pages, and between commits that one deployment delivered).
    let lead = &f["lead_time"];
    assert!(
        lead.get("commits").is_none(),
        "no list of commits: {lead:#}"
    );
    let page = json(server.cli(
        None,
        &[
            "insights",
            "commits",
            "--project",
            "pets",
            "--limit",
            "2",
            "--all",
            "-o",
            "json",
        ],
    ));
    assert_eq!(page["next"], Value::Null, "{page:#}");
    let commits_seen = page["items"].as_array().unwrap().clone();
    assert_eq!(commits_seen.len(), 5, "{page:#}");
    let order: Vec<(String, String)> = commits_seen
        .iter()
        .map(|c| {
            (
                c["deployed_at"].as_str().unwrap().to_string(),
                c["hash"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(
        order, sorted,
        "in order of arrival in production, then hash"
    );
    let link = d["drill_down"]["lead_time"].as_str().unwrap();
    assert!(
        link.starts_with("/api/v1/insights/dora/commits?project=pets&"),
        "{link}"
    );
    let first: Value = ureq::get(&format!("{}{link}&limit=2", server.url))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(first["count"], 5, "{first:#}");
    assert_eq!(first["items"], json_list(&commits_seen[..2]));
    let cursor = first["next"].as_str().expect("more follow").to_string();
    let second: Value = ureq::get(&format!(
        "{}{link}&limit=2&after={}",
        server.url,
        cursor.replace('+', "%2B")
    ))
    .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
    .call()
    .unwrap()
    .into_json()
    .unwrap();
    assert_eq!(
        second["items"],
        json_list(&commits_seen[2..4]),
        "the next page starts after the cursor"
    );
    let bad = ureq::get(&format!("{}{link}&after=yesterday", server.url))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .call()
        .expect_err("a cursor that is none is refused");
    let ureq::Error::Status(422, refused) = bad else {
        panic!("{bad:?}")
    };
    let problem: Value = refused.into_json().unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("not a cursor"),
        "{problem:#}"
    );
    let mut seconds = Vec::new();
    for c in &commits_seen {
        let by = c["deployment"].as_i64().unwrap();
        let expected = finished(by)
            .duration_since(time(&c["authored_at"]))
            .as_secs();
        assert_eq!(c["seconds"], expected);
        seconds.push(expected);
    }
    // Median and p90 are read from pre-counted buckets: within the bound the answer states.
    let bound = &lead["error_bound"];
    assert_eq!(
        (
            bound["relative"].as_f64(),
            bound["absolute_seconds"].as_f64()
        ),
        (Some(0.044), Some(0.5))
    );
    for (field, percent) in [("median_seconds", 50), ("p90_seconds", 90)] {
        let got = lead["spread"][field].as_i64().unwrap();
        let exact = nearest_rank(&seconds, percent);
        let off = (got - exact).abs() as f64;
        assert!(
            off <= 0.044 * exact as f64 + 0.5,
            "{field}: {got} against {exact}"
        );
    }
    assert_eq!(lead["spread"]["count"], 5);
    let stages: Vec<(&str, Option<u64>)> = lead["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["environment"].as_str().unwrap(),
                s["spread"]["count"].as_u64(),
            )
        })
        .collect();
    // The hotfix went straight to PROD: its commit has no DEV arrival.
    assert_eq!(stages, vec![("DEV", Some(4)), ("PROD", Some(5))]);

    // Rework: the hotfix and the rollback, of five production changes.
    assert_eq!(f["rework_rate"]["rate"], 0.4);

    // The same figures, as Prometheus gauges of the last 30 days (the history is all recent).
    let metrics = ureq::get(&format!("{}/metrics", server.url))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    for line in [
        "slipway_dora_production_deployments{window=\"30d\"} 4",
        "slipway_dora_change_failure_ratio{window=\"30d\"} 0.5",
        "slipway_dora_rework_ratio{window=\"30d\"} 0.4",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }
    // Deployments counted since the beginning: every project together for an anonymous
    // scrape (no project or environment name shown), per project and environment for a reader;
    // counted here independently from the deployments the API listed.
    let ended = |env: Option<&str>, kind: &str, states: &[&str]| -> usize {
        all.iter()
            .filter(|d| env.is_none_or(|e| d["environment"] == e))
            .filter(|d| d["kind"] == kind && states.iter().any(|s| d["state"] == *s))
            .count()
    };
    for line in [
        format!(
            "slipway_deployments_total{{outcome=\"succeeded\"}} {}",
            ended(None, "deploy", &["succeeded"])
        ),
        format!(
            "slipway_deployments_total{{outcome=\"failed\"}} {}",
            ended(None, "deploy", &["failed", "rolled_back"])
        ),
        format!(
            "slipway_rollbacks_total {}",
            ended(None, "rollback", &["succeeded", "failed", "rolled_back"])
        ),
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }
    assert!(
        !metrics.contains("pets"),
        "no project name for anyone: {metrics}"
    );
    let read = ureq::get(&format!("{}/metrics", server.url))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    for env in ["DEV", "PROD"] {
        let lane = format!("project=\"pets\",environment=\"{env}\"");
        for line in [
            format!(
                "slipway_deployments_total{{{lane},outcome=\"succeeded\"}} {}",
                ended(Some(env), "deploy", &["succeeded"])
            ),
            format!(
                "slipway_rollbacks_total{{{lane}}} {}",
                ended(
                    Some(env),
                    "rollback",
                    &["succeeded", "failed", "rolled_back"]
                )
            ),
        ] {
            assert!(read.lines().any(|l| l == line), "{line} in {read}");
        }
    }
    assert_eq!(ended(Some("PROD"), "deploy", &["succeeded"]), 4);
    assert_eq!(ended(Some("PROD"), "rollback", &["succeeded"]), 1);
    // A scrape job whose token is no longer valid fails instead of thinning out.
    let refused = ureq::get(&format!("{}/metrics", server.url))
        .set("Authorization", "Bearer slw_revoked")
        .call()
        .unwrap_err();
    assert!(
        matches!(refused, ureq::Error::Status(401, _)),
        "{refused:?}"
    );

    // Only PROD is production: asking for DEV is refused and names what is allowed.
    let refused = server.cli(None, &["insights", "dora", "--env", "DEV"]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("PROD"), "{}", stderr(&refused));
    // A period that ends before it starts, or years wide, is refused with the allowed range.
    for period in [
        ["--from", "2026-05-01", "--to", "2026-04-01"],
        ["--from", "2020-01-01", "--to", "2026-01-01"],
    ] {
        let mut args = vec!["insights", "dora"];
        args.extend(period);
        let refused = server.cli(None, &args);
        assert!(!refused.status.success());
        assert!(
            stderr(&refused).contains("1098 days"),
            "{}",
            stderr(&refused)
        );
    }
    // The human output shows the figures with bands and goals.
    let text = ok(server.cli(None, &["insights", "dora", "--project", "pets"]));
    assert!(
        text.contains("change failure rate") && text.contains("50.0 %"),
        "{text}"
    );

    // Per team: pets names team payments, so the team's figures are pets' own.
    let team = dora(&server, "--team payments");
    assert_eq!(team["team"], "payments", "{team:#}");
    assert_eq!(team["project"], Value::Null);
    assert_eq!(
        team["figures"], d["figures"],
        "the team's figures are its project's"
    );
    let text = ok(server.cli(None, &["insights", "dora", "--team", "payments"]));
    assert!(text.contains("team payments's projects"), "{text}");
    // A team no project names is refused, naming the teams that exist.
    let refused = server.cli(None, &["insights", "dora", "--team", "paymnets"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("paymnets") && stderr(&refused).contains("payments"),
        "{}",
        stderr(&refused)
    );
    // The Insights page offers the team and measures it.
    server.user_with_password("vera", "viewer", "a long enough passphrase");
    let cookie = server.sign_in("vera", "a long enough passphrase");
    let page = ureq::get(&format!("{}/insights?team=payments", server.url))
        .set("Cookie", &cookie)
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(
        page.contains("<option selected>payments</option>"),
        "the team filter shows the team: {page}"
    );
    // "What makes it" links to every deployment counted, a page at a time, not a list of all.
    let marker = "<a class=\"pages\" href=\"";
    let start = page.find(marker).expect("a link to the paged deployments") + marker.len();
    let link = page[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    assert!(
        link.starts_with("/insights/deployments?figure=deployment-frequency&"),
        "{link}"
    );
    let listed = ureq::get(&format!("{}{link}", server.url))
        .set("Cookie", &cookie)
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(listed.contains("4 in all"), "{listed}");
    for id in &deploys {
        assert!(
            listed.contains(&format!("href=\"/deployments/{id}\"")),
            "deployment {id} is listed: {listed}"
        );
    }
    assert!(
        !listed.contains("next-page"),
        "one page holds four: {listed}"
    );
    // And to every commit lead time counts, a page at a time.
    let marker = "<a class=\"pages\" href=\"/insights/commits?";
    let start = page.find(marker).expect("a link to the paged commits") + marker.len()
        - "/insights/commits?".len();
    let link = page[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    let listed = ureq::get(&format!("{}{link}", server.url))
        .set("Cookie", &cookie)
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(listed.contains("5 in all"), "{listed}");
    // Its period reads like the other insights pages: to the second, in UTC.
    let period = listed
        .split("in all, from ")
        .nth(1)
        .and_then(|rest| rest.split(" (excluded)").next())
        .expect("the period line");
    let (from, to) = period.split_once(" to ").expect("from … to …");
    for end in [from, to] {
        assert!(
            end.len() == "2026-11-23 10:00:00 UTC".len() && end.ends_with(" UTC"),
            "a short UTC time, not RFC 3339 with microseconds: {period}"
        );
    }
    for c in &commits_seen {
        let hash = c["hash"].as_str().unwrap();
        assert!(
            listed.contains(&format!("title=\"{hash}\"")),
            "commit {hash} is listed: {listed}"
        );
    }
}

/// The items of a page as JSON, to compare pages with what `--all` listed.
fn json_list(items: &[Value]) -> Value {
    Value::Array(items.to_vec())
}
