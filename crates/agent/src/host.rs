//! What the agent reports about its host (OS, architecture, free disk). It only reads; it never
//! changes the host.

use std::path::Path;

use slipway_protocol::Facts;

/// The host's facts, sent at enrolment and with every heartbeat.
pub(crate) fn facts(data: &Path) -> Facts {
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| std::env::consts::OS.to_string());
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    Facts {
        hostname,
        os,
        arch: std::env::consts::ARCH.to_string(),
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
        free_disk_mb: free_disk_mb(data),
        extra: Default::default(),
    }
}

/// Free space where `path` lives, in MiB (0 when it cannot be told).
// statvfs(3) has no safe wrapper in std; the call only fills an out-parameter.
#[allow(unsafe_code)]
pub(crate) fn free_disk_mb(path: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return 0;
    };
    // SAFETY: `statvfs` is plain old data, for which all-zero bytes are a valid value.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is a valid NUL-terminated string and `stat` a properly sized out-parameter.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return 0;
    }
    (stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64) / (1024 * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_describe_this_host() {
        let f = facts(Path::new("/"));
        assert!(!f.arch.is_empty());
        assert!(f.free_disk_mb > 0);
        assert_eq!(f.agent_version, env!("CARGO_PKG_VERSION"));
    }
}
