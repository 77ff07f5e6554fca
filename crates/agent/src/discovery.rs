//! What the agent finds on its host that Slipway did not install, reported every ten minutes
//! (`POST /api/v1/agent/discovered`): the crontab of its user (`crontab -l`), `/etc/crontab`,
//! the files of `/etc/cron.d`, and systemd timers (`systemctl list-timers --all
//! --output=json`; systemd before 250 has no JSON there and prints its table, so the table of
//! `systemctl list-timers --all --no-legend` is read then). A program or file that is not there is
//! nothing, never an error; a line it cannot read is reported as a problem beside the jobs. The
//! crontab lines are read by `core::supervision::crontab`.
//!
//! `SLIPWAY_AGENT_ETC` moves `/etc` (for tests and containers that mount the host's elsewhere).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use slipway_core::supervision::crontab::{self, Kind, When};
use slipway_protocol::batches::{Discovered, DiscoveredAck, DiscoveredJob};

use crate::link::{CallError, Link};

/// How often the host is looked at again.
const EVERY: Duration = Duration::from_secs(600);
/// The most bytes read of one crontab file or one program's output.
const MAX_READ: u64 = 1024 * 1024;
/// The most files of `/etc/cron.d` read.
const MAX_FILES: usize = 200;

/// Report what the host holds, now and every ten minutes, until the process ends.
pub(crate) fn discovery_loop(link: &Link, credential: &str) {
    loop {
        let found = discover(&etc());
        let sent =
            link.post::<_, DiscoveredAck>("/api/v1/agent/discovered", Some(credential), &found);
        match sent {
            Ok(_) => {}
            Err(CallError::Refused(status, detail)) => {
                eprintln!("discovery: the server refused the report ({status}: {detail}); trying again later");
            }
            Err(CallError::Unreachable(detail)) => {
                eprintln!("discovery: the server is unreachable ({detail}); trying again later");
            }
        }
        std::thread::sleep(EVERY);
    }
}

fn etc() -> PathBuf {
    std::env::var_os("SLIPWAY_AGENT_ETC").map_or_else(|| PathBuf::from("/etc"), PathBuf::from)
}

/// Everything found under `etc` and through the programs, in one report.
pub(crate) fn discover(etc: &Path) -> Discovered {
    let mut out = Discovered::default();
    let zone = host_zone(etc);
    if let Some(text) = program_output("crontab", &["-l"]) {
        add(&mut out, "crontab -l", "crontab", &text, Kind::User, &zone);
    }
    let system = etc.join("crontab");
    if let Some(text) = read_bounded(&system) {
        add(
            &mut out,
            "/etc/crontab",
            "/etc/crontab",
            &text,
            Kind::System,
            &zone,
        );
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(etc.join("cron.d"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for path in files.into_iter().take(MAX_FILES) {
        let Some(file) = path
            .file_name()
            .and_then(|f| f.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        // cron itself skips these: editor backups and package leftovers.
        if file.starts_with('.') || file.ends_with('~') || file.contains(".dpkg-") {
            continue;
        }
        if let Some(text) = read_bounded(&path) {
            let source = format!("/etc/cron.d/{file}");
            add(&mut out, &source, &source, &text, Kind::System, &zone);
        }
    }
    // systemd 250 and later answer JSON; older ones refuse `--output=json` or ignore it and
    // print their table: then the table without its legend is read.
    match program_output("systemctl", &["list-timers", "--all", "--output=json"]) {
        Some(json) if json.trim_start().starts_with('[') => timers(&mut out, &json),
        _ => {
            if let Some(table) =
                program_output("systemctl", &["list-timers", "--all", "--no-legend"])
            {
                timers_table(&mut out, &table);
            }
        }
    }
    out
}

fn add(out: &mut Discovered, source: &str, key: &str, text: &str, kind: Kind, zone: &str) {
    let tab = crontab::parse(text, kind, zone);
    for e in tab.entries {
        let (schedule, time_zone) = match e.when {
            When::Schedule { cron, time_zone } => (Some(cron), Some(time_zone)),
            When::Reboot => (None, None),
        };
        out.jobs.push(DiscoveredJob {
            key: format!("{key}:{}", e.line),
            name: crontab::suggested_name(&e.command),
            source: source.to_string(),
            schedule,
            time_zone,
            user: e.user,
            command: e.command,
        });
    }
    for p in tab.problems {
        out.problems
            .push(format!("{source} line {}: {}", p.line, p.message));
    }
}

/// systemd's timers: each one's unit and the unit it activates.
fn timers(out: &mut Discovered, json: &str) {
    let Ok(serde_json::Value::Array(items)) = serde_json::from_str::<serde_json::Value>(json)
    else {
        out.problems
            .push("systemctl list-timers: the answer is not a JSON list".into());
        return;
    };
    for item in items.iter().take(crontab::MAX_ENTRIES) {
        let text = |k: &str| item.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let Some(unit) = text("unit") else { continue };
        let activates = text("activates").unwrap_or_else(|| unit.clone());
        out.jobs.push(DiscoveredJob {
            key: format!("systemd:{unit}"),
            name: crontab::suggested_name(unit.trim_end_matches(".timer")),
            source: "systemd".into(),
            schedule: None,
            time_zone: None,
            user: None,
            command: activates,
        });
    }
}

/// The longest line of `systemctl list-timers`' table read (a timer's line is under 300 bytes).
const MAX_TABLE_LINE: usize = 4096;

/// systemd's timers from the table older systemd prints (`NEXT LEFT LAST PASSED UNIT
/// ACTIVATES`, without its legend): the times hold spaces and may be `n/a`, but a unit name
/// never holds one, so the timer is the last word ending in `.timer` and what it activates the
/// word after it (the timer's own `.service` when the column is missing). A line over 4 KiB or
/// without a timer is a problem, never a job; invalid UTF-8 was replaced before.
fn timers_table(out: &mut Discovered, table: &str) {
    let mut found = 0;
    for (n, line) in table.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if found >= crontab::MAX_ENTRIES || out.problems.len() >= crontab::MAX_PROBLEMS {
            break;
        }
        if line.len() > MAX_TABLE_LINE {
            out.problems.push(format!(
                "systemctl list-timers line {}: longer than {MAX_TABLE_LINE} bytes, not read",
                n + 1
            ));
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(at) = words
            .iter()
            .rposition(|w| w.ends_with(".timer") && w.len() > 6)
        else {
            out.problems.push(format!(
                "systemctl list-timers line {}: no timer unit in it",
                n + 1
            ));
            continue;
        };
        let unit = words[at];
        let activates = words.get(at + 1).map_or_else(
            || format!("{}.service", unit.trim_end_matches(".timer")),
            |w| (*w).to_string(),
        );
        found += 1;
        out.jobs.push(DiscoveredJob {
            key: format!("systemd:{unit}"),
            name: crontab::suggested_name(unit.trim_end_matches(".timer")),
            source: "systemd".into(),
            schedule: None,
            time_zone: None,
            user: None,
            command: activates,
        });
    }
}

/// The host's zone: `/etc/timezone`, else UTC (cron reads its lines in the host's zone).
fn host_zone(etc: &Path) -> String {
    read_bounded(&etc.join("timezone"))
        .map(|t| t.trim().to_string())
        .filter(|z| jiff::tz::TimeZone::get(z).is_ok())
        .unwrap_or_else(|| "UTC".into())
}

fn read_bounded(path: &Path) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_READ).read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// What a program prints when it runs and succeeds; `None` when it is not installed or fails
/// (`crontab -l` without a crontab exits 1: nothing to report).
fn program_output(program: &str, args: &[&str]) -> Option<String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut bytes = Vec::new();
    child
        .stdout
        .take()?
        .take(MAX_READ)
        .read_to_end(&mut bytes)
        .ok()?;
    let status = child.wait().ok()?;
    status
        .success()
        .then(|| String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crontab_files_and_timers_become_jobs_and_bad_lines_problems() {
        let etc = tempfile::tempdir().expect("a temp dir");
        std::fs::write(
            etc.path().join("crontab"),
            "SHELL=/bin/sh\n17 * * * * root cd / && run-parts /etc/cron.hourly\n",
        )
        .expect("write");
        std::fs::create_dir(etc.path().join("cron.d")).expect("mkdir");
        std::fs::write(
            etc.path().join("cron.d/export"),
            "30 2 * * * batch /opt/export/run.sh\n61 * * * * root /bin/bad\n",
        )
        .expect("write");
        std::fs::write(
            etc.path().join("cron.d/export~"),
            "* * * * * root /bin/backup\n",
        )
        .expect("write");
        std::fs::write(etc.path().join("timezone"), "Europe/Paris\n").expect("write");
        let found = discover(etc.path());
        let from_files: Vec<(&str, &str, Option<&str>, &str)> = found
            .jobs
            .iter()
            .filter(|j| j.source != "crontab -l" && j.source != "systemd")
            .map(|j| {
                (
                    j.key.as_str(),
                    j.name.as_str(),
                    j.time_zone.as_deref(),
                    j.command.as_str(),
                )
            })
            .collect();
        assert_eq!(
            from_files,
            [
                (
                    "/etc/crontab:2",
                    "run-parts",
                    Some("Europe/Paris"),
                    "cd / && run-parts /etc/cron.hourly"
                ),
                (
                    "/etc/cron.d/export:1",
                    "run.sh",
                    Some("Europe/Paris"),
                    "/opt/export/run.sh"
                ),
            ]
        );
        assert!(
            found
                .problems
                .iter()
                .any(|p| p.starts_with("/etc/cron.d/export line 2:")),
            "{:?}",
            found.problems
        );
    }

    #[test]
    fn a_host_without_cron_or_systemd_reports_nothing() {
        let etc = tempfile::tempdir().expect("a temp dir");
        let mut found = discover(etc.path());
        found
            .jobs
            .retain(|j| j.source != "crontab -l" && j.source != "systemd");
        assert_eq!(found.jobs, []);
    }

    #[test]
    fn timers_are_read_from_systemctl_json_and_garbage_is_a_problem() {
        let mut out = Discovered::default();
        timers(
            &mut out,
            r#"[{"next":1,"left":2,"last":null,"passed":null,"unit":"logrotate.timer","activates":"logrotate.service"},{"nothing":1}]"#,
        );
        assert_eq!(out.jobs.len(), 1);
        assert_eq!(
            (
                out.jobs[0].key.as_str(),
                out.jobs[0].name.as_str(),
                out.jobs[0].command.as_str()
            ),
            ("systemd:logrotate.timer", "logrotate", "logrotate.service")
        );
        timers(&mut out, "not json");
        assert_eq!(out.problems.len(), 1);
    }

    #[test]
    fn timers_are_read_from_the_table_of_an_older_systemd_and_bad_lines_are_problems() {
        let mut out = Discovered::default();
        let table = "\
Tue 2026-12-01 00:00:00 UTC 11h left  Mon 2026-11-30 00:00:00 UTC 12h ago logrotate.timer    logrotate.service
n/a                         n/a       Mon 2026-11-30 06:10:01 UTC 6h ago  apt-daily.timer    apt-daily.service
n/a                         n/a       n/a                         n/a     fstrim.timer
\n\
garbage without a unit
";
        timers_table(&mut out, table);
        let jobs: Vec<(&str, &str, &str)> = out
            .jobs
            .iter()
            .map(|j| (j.key.as_str(), j.name.as_str(), j.command.as_str()))
            .collect();
        assert_eq!(
            jobs,
            [
                ("systemd:logrotate.timer", "logrotate", "logrotate.service"),
                ("systemd:apt-daily.timer", "apt-daily", "apt-daily.service"),
                ("systemd:fstrim.timer", "fstrim", "fstrim.service"),
            ]
        );
        assert_eq!(
            out.problems,
            ["systemctl list-timers line 5: no timer unit in it"]
        );
    }

    #[test]
    fn a_huge_or_broken_table_is_bounded_and_never_a_crash() {
        let mut out = Discovered::default();
        // A 1 MiB line, broken UTF-8 (replaced as `program_output` does), a bare `.timer`.
        let mut bytes = "x".repeat(1024 * 1024).into_bytes();
        bytes.extend_from_slice(b" huge.timer huge.service\n");
        bytes.extend_from_slice(b"n/a n/a n/a n/a caf\xc3\x28\xff.timer caf\xff.service\n");
        bytes.extend_from_slice(b"n/a n/a .timer\n");
        timers_table(&mut out, &String::from_utf8_lossy(&bytes));
        assert_eq!(out.jobs.len(), 1, "{:?}", out.jobs);
        assert!(out.jobs[0].key.starts_with("systemd:caf") && out.jobs[0].key.ends_with(".timer"));
        assert_eq!(out.problems.len(), 2, "{:?}", out.problems);
        assert!(out.problems[0].contains("line 1: longer than 4096 bytes"));
        // Thousands of timers: the first MAX_ENTRIES are read, the rest left.
        let mut many = Discovered::default();
        let table: String = (0..crontab::MAX_ENTRIES + 50)
            .map(|i| format!("n/a n/a n/a n/a t{i}.timer t{i}.service\n"))
            .collect();
        timers_table(&mut many, &table);
        assert_eq!(many.jobs.len(), crontab::MAX_ENTRIES);
        assert!(many.problems.is_empty());
    }
}
