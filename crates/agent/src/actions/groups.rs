//! Process groups of running steps. Each command a step runs leads a process group of its own,
//! so a timeout or a cancellation kills the command and everything it started, not only the
//! shell. While it runs, the group is recorded in the data folder
//! (`DATA/process-groups/running.json`: the group, its leader's start time, the task), so that when
//! the agent dies mid-step its next life finds what was left, kills it, and tells the server
//! which tasks it no longer runs. On Linux the command's shell is also tied to the agent's life
//! (`PR_SET_PDEATHSIG`): it dies with the agent at once, and its children wait for the restart.
//!
//! It never decides whether a step succeeded (`process` does) and never talks to the server.
//!
//! Why a start time: a pid is reused once its process is gone, and killing a stranger's
//! processes is worse than leaving ours. A recorded group is killed only when its members are
//! provably ours: the leader still alive with the start time recorded, or, the leader gone,
//! members that started after it (Linux never hands out a pid as a new group id while a group of
//! that id still has members, so those members are the group we started).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use slipway_protocol::AbandonedTask;

/// What the data folder keeps about one running group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct GroupRecord {
    pgid: i32,
    /// The leader's start time, in clock ticks since boot (`/proc/PID/stat`, field 22).
    leader_start: u64,
    task_id: String,
    attempt: i64,
}

fn groups_dir(data: &Path) -> PathBuf {
    data.join("process-groups")
}

/// The name of the record file in [`groups_dir`].
const RECORD_FILE: &str = "running.json";

/// Make `cmd` lead a process group of its own and, on Linux, die with the agent.
pub(super) fn isolate(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    #[cfg(target_os = "linux")]
    tie_to_agent(cmd);
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // prctl(2) and getppid(2) have no safe wrapper in std; see the SAFETY note.
fn tie_to_agent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    let agent = std::process::id();
    // SAFETY: the hook runs in the forked child before exec and only calls async-signal-safe
    // functions (prctl, getppid) without allocating, as `pre_exec` requires.
    unsafe {
        cmd.pre_exec(move || {
            // The signal follows the death of the thread that forked: the work loop's thread,
            // which lives as long as the agent.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The agent may have died between the fork and the prctl: then nobody would send
            // the signal, so do not start at all.
            if libc::getppid() as u32 != agent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// The file that records the group running now: `DATA/process-groups/running.json`, kept open
/// for the agent's life and rewritten in place, a record followed by spaces (which JSON
/// ignores), all spaces while nothing runs. Creating and removing a file per command cost each
/// step an inode and two directory changes in the file system's journal; a rewrite in place
/// costs one write. One command runs at a time (the work loop runs one task at a time, and an
/// action its commands one after the other), so one record file per data folder is enough;
/// [`kill_leftovers`] still reads every file of the folder (older agents wrote `PGID.json`).
struct RecordFile {
    folder: PathBuf,
    file: File,
    /// Bytes of the record written last, blanked when its group ends.
    written: usize,
}

/// The open record files, by data folder (one in an agent; several in tests).
static RECORD_FILES: Mutex<Vec<RecordFile>> = Mutex::new(Vec::new());

fn record_files() -> MutexGuard<'static, Vec<RecordFile>> {
    // A panic while the list was held leaves it usable: every entry is a whole record file.
    RECORD_FILES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Write `bytes` over the start of `folder`'s record file (opened, and the folder made, on first
/// use), blanking what an earlier, longer record left beyond them.
fn write_record(folder: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut files = record_files();
    let index = match files.iter().position(|r| r.folder == folder) {
        Some(index) => index,
        None => {
            std::fs::create_dir_all(folder)?;
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(folder.join(RECORD_FILE))?;
            files.push(RecordFile {
                folder: folder.to_path_buf(),
                file,
                written: 0,
            });
            files.len() - 1
        }
    };
    let record = &mut files[index];
    let mut padded = bytes.to_vec();
    padded.resize(bytes.len().max(record.written), b' ');
    record.file.write_all_at(&padded, 0)?;
    record.written = bytes.len();
    Ok(())
}

/// Blank `folder`'s record: nothing of it runs any more.
fn blank_record(folder: &Path) {
    let mut files = record_files();
    if let Some(record) = files.iter_mut().find(|r| r.folder == folder) {
        if record
            .file
            .write_all_at(&vec![b' '; record.written], 0)
            .is_ok()
        {
            record.written = 0;
        }
    }
}

/// Forget `folder`'s open record file (its file is about to be removed).
fn close_record(folder: &Path) {
    record_files().retain(|r| r.folder != folder);
}

/// A running group, recorded in the data folder until it is dropped.
pub(super) struct RunningGroup {
    pgid: i32,
    /// The folder whose record names this group, when the record could be written.
    recorded_in: Option<PathBuf>,
}

impl RunningGroup {
    /// Record the group `child` leads (see [`isolate`]) as part of `task_id`'s attempt. A record
    /// that cannot be written costs only the cleanup after a crash, so the step goes on.
    /// Not synced to disk: the record outlives a killed agent in the page cache, and a crash of
    /// the host that could lose it takes the group's processes with it (a sync cost each step
    /// milliseconds).
    pub(super) fn record(data: &Path, child: &Child, task_id: &str, attempt: i64) -> RunningGroup {
        let pgid = child.id() as i32;
        let record = GroupRecord {
            pgid,
            leader_start: stat(pgid).map_or(0, |s| s.start),
            task_id: task_id.to_string(),
            attempt,
        };
        let folder = groups_dir(data);
        let written = serde_json::to_vec(&record)
            .map_err(std::io::Error::other)
            .and_then(|bytes| write_record(&folder, &bytes));
        if let Err(e) = &written {
            eprintln!(
                "cannot record process group {pgid} in {}: {e}; after a crash its processes would be left running",
                folder.display()
            );
        }
        RunningGroup {
            pgid,
            recorded_in: written.is_ok().then_some(folder),
        }
    }

    /// Kill the whole group: the command and whatever it started.
    pub(super) fn kill(&self) {
        kill_group(self.pgid);
    }
}

impl Drop for RunningGroup {
    fn drop(&mut self) {
        if let Some(folder) = &self.recorded_in {
            blank_record(folder);
        }
    }
}

#[allow(unsafe_code)] // kill(2) has no safe wrapper in std.
fn kill_group(pgid: i32) {
    if pgid > 1 {
        // SAFETY: kill only sends a signal; a negative pid names the process group.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// Kill what the previous life of this agent left running, and say which tasks it was running.
/// Called at start, before the first lease.
pub(crate) fn kill_leftovers(data: &Path) -> Vec<AbandonedTask> {
    close_record(&groups_dir(data));
    let Ok(entries) = std::fs::read_dir(groups_dir(data)) else {
        return Vec::new();
    };
    let mut abandoned: Vec<AbandonedTask> = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let record = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<GroupRecord>(&bytes).ok());
        if let Some(record) = record {
            let members = members_of(&record, &processes());
            if !members.is_empty() {
                kill_group(record.pgid);
                wait_gone(&record);
            }
            eprintln!(
                "killed {} process(es) left by task {} (attempt {}) when the agent stopped",
                members.len(),
                record.task_id,
                record.attempt
            );
            match abandoned
                .iter_mut()
                .find(|a| a.task_id == record.task_id && a.attempt == record.attempt)
            {
                Some(known) => known.killed_processes += members.len() as u64,
                None => abandoned.push(AbandonedTask {
                    task_id: record.task_id,
                    attempt: record.attempt,
                    killed_processes: members.len() as u64,
                }),
            }
        }
        let _ = std::fs::remove_file(&path);
    }
    abandoned
}

/// SIGKILL is delivered asynchronously: wait a little for the members to be gone, so the server
/// hears "settled" only once nothing of the step runs any more.
fn wait_gone(record: &GroupRecord) {
    for _ in 0..50 {
        if members_of(record, &processes()).is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// One process as `/proc/PID/stat` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ProcStat {
    pid: i32,
    pgrp: i32,
    start: u64,
    zombie: bool,
}

/// Parse `/proc/PID/stat`: the command name (field 2) is in parentheses and may hold spaces and
/// parentheses itself, so the fields are counted from the last `)`.
fn parse_stat(pid: i32, text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): pgrp is field 5, starttime field 22.
    Some(ProcStat {
        pid,
        pgrp: fields.get(2)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
        zombie: *fields.first()? == "Z",
    })
}

fn stat(pid: i32) -> Option<ProcStat> {
    use std::io::Read;
    // procfs reports a size of 0, so `fs::read_to_string` would read in growing steps (six
    // reads for one line); a line fits in this room, read in one go and one read at its end.
    let mut text = String::with_capacity(1024);
    std::fs::File::open(format!("/proc/{pid}/stat"))
        .ok()?
        .read_to_string(&mut text)
        .ok()?;
    parse_stat(pid, &text)
}

/// Every live process on the host (zombies are already dead; they wait to be reaped).
fn processes() -> Vec<ProcStat> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(stat)
        .filter(|s| !s.zombie)
        .collect()
}

/// The members of the recorded group that are provably ours (see the module's notes).
fn members_of(record: &GroupRecord, live: &[ProcStat]) -> Vec<ProcStat> {
    if let Some(leader) = live.iter().find(|p| p.pid == record.pgid) {
        if leader.pgrp == record.pgid && leader.start != record.leader_start {
            // Another process leads a group of that id now: the pid was reused.
            return Vec::new();
        }
    }
    live.iter()
        .filter(|p| p.pgrp == record.pgid && p.start >= record.leader_start)
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: i32, pgrp: i32, start: u64) -> ProcStat {
        ProcStat {
            pid,
            pgrp,
            start,
            zombie: false,
        }
    }

    fn record(pgid: i32, leader_start: u64) -> GroupRecord {
        GroupRecord {
            pgid,
            leader_start,
            task_id: "t".into(),
            attempt: 1,
        }
    }

    #[test]
    fn a_stat_line_is_read_past_a_command_name_with_spaces_and_parentheses() {
        let line = "4242 (a (weird) name) S 1 4240 4240 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10 18446744073709551615";
        assert_eq!(
            parse_stat(4242, line),
            Some(ProcStat {
                pid: 4242,
                pgrp: 4240,
                start: 987654,
                zombie: false
            })
        );
        assert_eq!(parse_stat(1, "garbage"), None);
        assert_eq!(parse_stat(1, "1 (x) S 1"), None, "too few fields");
    }

    #[test]
    fn the_children_of_a_dead_leader_are_still_its_group() {
        let live = [proc(501, 500, 120), proc(502, 500, 130), proc(600, 600, 5)];
        let members = members_of(&record(500, 100), &live);
        assert_eq!(
            members.iter().map(|p| p.pid).collect::<Vec<_>>(),
            [501, 502]
        );
    }

    #[test]
    fn a_group_whose_leader_pid_was_reused_is_never_killed() {
        // Process 500 now leads a new group and started long after the recorded one.
        let live = [proc(500, 500, 9000), proc(501, 500, 9001)];
        assert!(members_of(&record(500, 100), &live).is_empty());
    }

    #[test]
    fn processes_older_than_the_recorded_leader_are_not_its_members() {
        let live = [proc(700, 500, 50)];
        assert!(members_of(&record(500, 100), &live).is_empty());
    }

    #[test]
    fn a_record_rewritten_in_place_reads_as_the_last_one_and_a_blanked_one_as_nothing() {
        let data = tempfile::tempdir().unwrap();
        let folder = groups_dir(data.path());
        let long = GroupRecord {
            task_id: "a-task-with-a-rather-long-identifier".into(),
            ..record(4_000_000, 123_456_789)
        };
        let short = record(7, 1);
        write_record(&folder, &serde_json::to_vec(&long).unwrap()).unwrap();
        write_record(&folder, &serde_json::to_vec(&short).unwrap()).unwrap();
        let on_disk = std::fs::read(folder.join(RECORD_FILE)).unwrap();
        assert_eq!(
            serde_json::from_slice::<GroupRecord>(&on_disk).unwrap(),
            short,
            "the longer record's tail is blanked"
        );
        blank_record(&folder);
        let on_disk = std::fs::read(folder.join(RECORD_FILE)).unwrap();
        assert!(on_disk.iter().all(|b| *b == b' '), "{on_disk:?}");
        assert!(
            kill_leftovers(data.path()).is_empty(),
            "a blank record names no task"
        );
        assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 0);
        // Recorded again after the start's cleanup: a new file, not the removed one.
        write_record(&folder, &serde_json::to_vec(&short).unwrap()).unwrap();
        assert!(folder.join(RECORD_FILE).is_file());
    }

    #[test]
    fn a_killed_agents_leftover_group_is_killed_at_the_next_start() {
        let data = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg("sleep 300 & sleep 300");
        isolate(&mut cmd);
        let mut child = cmd.spawn().unwrap();
        let group = RunningGroup::record(data.path(), &child, "task-1", 2);
        // The agent "dies": the record stays behind, as after a SIGKILL.
        std::mem::forget(group);
        let pgid = child.id();
        let members = |pgid: u32| processes().iter().filter(|p| p.pgrp == pgid as i32).count();
        let wait_until = |done: &dyn Fn(usize) -> bool| {
            for _ in 0..250 {
                let n = members(pgid);
                if done(n) {
                    return n;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            panic!("the group never got there");
        };
        // The shell and the background sleep at least (the shell may exec the last command, or
        // still be starting it: 2 or 3 members, so the count killed is checked as at least 2).
        wait_until(&|n| n >= 2);
        let abandoned = kill_leftovers(data.path());
        let _ = child.wait();
        wait_until(&|n| n == 0);
        assert_eq!(abandoned.len(), 1, "{abandoned:?}");
        assert_eq!(
            (abandoned[0].task_id.as_str(), abandoned[0].attempt),
            ("task-1", 2)
        );
        assert!(
            (2..=3).contains(&abandoned[0].killed_processes),
            "{abandoned:?}"
        );
        assert!(
            kill_leftovers(data.path()).is_empty(),
            "the record is gone once handled"
        );
    }
}
