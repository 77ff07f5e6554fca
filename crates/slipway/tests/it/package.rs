//! The Debian package's parts (packaging/debian/, `[package.metadata.deb]` of the binary's
//! Cargo.toml), checked without building the package: the systemd units hold the settings
//! docs/operate.md promises (dedicated users, the server's hardening, what the agent keeps and
//! why), systemd itself accepts them (`systemd-analyze verify`, and `security` for the server's
//! exposure), every variable the settings files name is one Slipway reads, and every asset the
//! package lists exists. `scripts/package-check` builds and installs the real package.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn packaging(name: &str) -> String {
    std::fs::read_to_string(root().join("packaging/debian").join(name))
        .unwrap_or_else(|e| panic!("packaging/debian/{name}: {e}"))
}

/// A unit file's `[Service]`-style sections: section → key → every value given, in order.
type Unit = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// The unit file syntax systemd reads (systemd.syntax(7)): sections, `Key=value` lines, `#` and
/// `;` comments, no continuation lines here. Any other line is a mistake and named.
fn parse_unit(text: &str) -> Result<Unit, String> {
    let mut unit = Unit::new();
    let mut section: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(name.to_string());
            unit.entry(name.to_string()).or_default();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {}: `{line}` is not Key=value", n + 1));
        };
        let Some(section) = &section else {
            return Err(format!("line {}: `{key}` before any [Section]", n + 1));
        };
        if line.ends_with('\\') {
            return Err(format!("line {}: a continuation line", n + 1));
        }
        unit.entry(section.clone())
            .or_default()
            .entry(key.trim().to_string())
            .or_default()
            .push(value.trim().to_string());
    }
    Ok(unit)
}

fn unit(name: &str) -> Unit {
    parse_unit(&packaging(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The last value of a key (systemd's rule for single-valued settings), or "" when absent.
fn last<'u>(unit: &'u Unit, section: &str, key: &str) -> &'u str {
    unit.get(section)
        .and_then(|s| s.get(key))
        .and_then(|v| v.last())
        .map_or("", String::as_str)
}

fn has(unit: &Unit, section: &str, key: &str) -> bool {
    unit.get(section).is_some_and(|s| s.contains_key(key))
}

#[test]
fn the_unit_parser_names_a_line_systemd_would_not_read() {
    assert!(parse_unit("[Service]\nUser=slipway\n").is_ok());
    assert!(parse_unit("User=slipway\n")
        .unwrap_err()
        .contains("before any [Section]"));
    assert!(parse_unit("[Service]\nNoNewPrivileges yes\n")
        .unwrap_err()
        .contains("line 2"));
}

#[test]
fn the_server_unit_runs_as_its_own_user_with_the_hardening_operate_md_lists() {
    let server = unit("slipway-server.service");
    for (key, value) in [
        ("User", "slipway"),
        ("Group", "slipway"),
        ("EnvironmentFile", "/etc/slipway/server.env"),
        (
            "ExecStart",
            "/usr/bin/slipway server --data /var/lib/slipway",
        ),
        ("StateDirectory", "slipway"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ReadWritePaths", "/var/lib/slipway"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectHome", "yes"),
        ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
        ("MemoryDenyWriteExecute", "yes"),
        // Empty: no capability at all (the server listens above 1024 and reads its own files).
        ("CapabilityBoundingSet", ""),
        ("AmbientCapabilities", ""),
        ("UMask", "0077"),
    ] {
        assert_eq!(last(&server, "Service", key), value, "{key}");
    }
    assert!(has(&server, "Service", "CapabilityBoundingSet"));
    let filters = &server["Service"]["SystemCallFilter"];
    assert_eq!(filters, &["@system-service", "~@privileged"]);
    // The drain (SLIPWAY_DRAIN_SECS, at most 300 s) fits in the stop timeout.
    let stop: u64 = last(&server, "Service", "TimeoutStopSec")
        .trim_end_matches('s')
        .parse()
        .unwrap();
    assert!(stop > 300, "TimeoutStopSec={stop}");
    assert_eq!(last(&server, "Install", "WantedBy"), "multi-user.target");
}

#[test]
fn the_agent_unit_runs_as_its_own_user_and_keeps_what_deployments_need() {
    let agent = unit("slipway-agent.service");
    for (key, value) in [
        ("User", "slipway-agent"),
        ("EnvironmentFile", "/etc/slipway/agent.env"),
        (
            "ExecStart",
            "/usr/bin/slipway agent --name ${SLIPWAY_AGENT_NAME} --data /var/lib/slipway-agent",
        ),
        ("StateDirectory", "slipway-agent"),
        ("ProtectSystem", "yes"),
        ("PrivateTmp", "yes"),
        ("KillMode", "process"),
        ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
    ] {
        assert_eq!(last(&agent, "Service", key), value, "{key}");
    }
    // Left out on purpose (docs/operate.md): steps may sudo, run a JIT, write under /etc/nginx.
    for key in [
        "NoNewPrivileges",
        "CapabilityBoundingSet",
        "SystemCallFilter",
        "MemoryDenyWriteExecute",
        "ProtectHome",
    ] {
        assert!(
            !has(&agent, "Service", key),
            "{key} would break deployments"
        );
    }
    let settings = packaging("agent.env");
    assert!(settings.contains("SLIPWAY_AGENT_NAME="), "{settings}");
}

#[test]
fn the_maintainer_scripts_make_both_system_users_and_keep_the_debhelper_token() {
    let postinst = packaging("postinst");
    for user in ["slipway", "slipway-agent"] {
        let made = postinst.contains(&format!("getent passwd {user} >/dev/null"))
            && postinst.contains(&format!("--home /var/lib/{user} --no-create-home"))
            && postinst.contains(&format!("--shell /usr/sbin/nologin {user}\n"));
        assert!(made, "postinst makes no system user {user}:\n{postinst}");
    }
    assert_eq!(postinst.matches("adduser --system --group").count(), 2);
    assert!(postinst.contains("#DEBHELPER#"));
    assert!(packaging("postrm").contains("#DEBHELPER#"));
}

/// Every `SLIPWAY_…` the settings files name, commented out or not.
fn variables(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .lines()
        .map(|l| l.trim_start_matches('#').trim())
        .filter_map(|l| l.split_once('=').map(|(name, _)| name))
        .filter(|n| {
            n.starts_with("SLIPWAY_")
                && n.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(String::from)
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn every_setting_the_package_ships_is_one_slipway_reads() {
    let help = |verb: &str| ok(slipway_command().args([verb, "--help"]).output().unwrap());
    let server_help = help("server");
    // Read outside clap (docs/cli.md): the S3 vault's settings, the drain, the log level.
    let elsewhere = [
        "SLIPWAY_S3_ENDPOINT",
        "SLIPWAY_S3_REGION",
        "SLIPWAY_S3_ACCESS_KEY_ID",
        "SLIPWAY_S3_SECRET_ACCESS_KEY",
        "SLIPWAY_DRAIN_SECS",
        "SLIPWAY_LOG",
    ];
    let server = variables(&packaging("server.env"));
    assert!(server.len() >= 10, "{server:?}");
    for name in &server {
        assert!(
            server_help.contains(name.as_str()) || elsewhere.contains(&name.as_str()),
            "server.env names {name}, which `slipway server` does not read"
        );
    }
    let agent_help = help("agent");
    for name in variables(&packaging("agent.env")) {
        // The agent's name reaches it through ExecStart's ${SLIPWAY_AGENT_NAME}.
        assert!(
            agent_help.contains(name.as_str()) || name == "SLIPWAY_AGENT_NAME",
            "agent.env names {name}, which `slipway agent` does not read"
        );
    }
}

#[test]
fn every_asset_the_package_lists_exists() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let deb = manifest
        .split("[package.metadata.deb]")
        .nth(1)
        .expect("crates/slipway/Cargo.toml has [package.metadata.deb]");
    let sources: Vec<&str> = deb
        .lines()
        .filter_map(|l| l.trim().strip_prefix("[\""))
        .filter_map(|l| l.split('"').next())
        .filter(|s| !s.starts_with("target/"))
        .collect();
    assert!(sources.len() >= 5, "{sources:?}");
    for source in sources {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(source);
        assert!(
            file.is_file(),
            "the package lists {source}, which is not there"
        );
    }
    for unit in ["slipway-server", "slipway-agent"] {
        assert!(deb.contains(&format!("unit-name = \"{unit}\"")), "{unit}");
    }
}

/// The units with `/usr/bin/slipway` pointing at this build, in a folder of their own, for
/// `systemd-analyze`, which checks that the program exists.
fn units_for_systemd(dir: &Path) -> Vec<PathBuf> {
    ["slipway-server.service", "slipway-agent.service"]
        .iter()
        .map(|name| {
            let text = packaging(name).replace("/usr/bin/slipway", path(&slipway_bin()));
            let file = dir.join(name);
            std::fs::write(&file, text).unwrap();
            file
        })
        .collect()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

fn systemd_analyze() -> Option<PathBuf> {
    let found = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("CI must check the units with systemd-analyze: apt-get install systemd");
        }
        slipway_store::testing::report_skipped(
            "systemd-analyze is not installed (apt-get install systemd)",
        );
    }
    found
}

#[test]
fn systemd_accepts_both_units_and_rates_the_servers_exposure_low() {
    let Some(analyze) = systemd_analyze() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let units = units_for_systemd(dir.path());
    let verified = Command::new(&analyze)
        .arg("verify")
        .args(&units)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        verified.status.success() && stderr(&verified).trim().is_empty(),
        "systemd-analyze verify:\n{}{}",
        stdout(&verified),
        stderr(&verified)
    );
    // Offline, from the unit file alone (no running systemd needed): exposure 0 (best) to 10.
    let security = Command::new(&analyze)
        .args(["security", "--offline=true"])
        .arg(&units[0])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let said = stdout(&security);
    let exposure: f64 = said
        .lines()
        .find_map(|l| l.split("slipway-server.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no overall exposure in:\n{said}{}", stderr(&security)));
    assert!(
        exposure <= 2.0,
        "the server's exposure is {exposure}:\n{said}"
    );
}
