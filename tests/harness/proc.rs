//! A process and everything it started, read from `/proc`.
//!
//! The desktop app does not run alone: WebKitGTK starts a web process and a
//! network process for it (under tauri-driver the app itself is a grandchild
//! of the test). Memory budgets and "no web view while hidden" checks are
//! about that whole tree, so this module reads it from `/proc` as it is now.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// One process, as `/proc` described it when it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: u32,
    pub ppid: u32,
    /// `comm`: the kernel's name for it, at most 15 bytes
    /// (`WebKitWebProcess` reads as `WebKitWebProces`).
    pub name: String,
    /// The executable, when the kernel lets us read the link.
    pub exe: Option<PathBuf>,
    pub cmdline: Vec<String>,
    /// `VmRSS`; 0 for a zombie or a kernel thread.
    pub rss_kb: u64,
    /// `Pss` from `smaps_rollup`, which only the owner (or root) may read.
    pub pss_kb: Option<u64>,
}

impl ProcInfo {
    /// Reads `/proc/<pid>`; `None` once the process is gone.
    pub fn read(pid: u32) -> Option<ProcInfo> {
        let dir = PathBuf::from(format!("/proc/{pid}"));
        let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
        let (name, ppid) = parse_stat(&stat)?;
        let cmdline = std::fs::read(dir.join("cmdline"))
            .map(|raw| {
                raw.split(|&b| b == 0)
                    .filter(|part| !part.is_empty())
                    .map(|part| String::from_utf8_lossy(part).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let rss_kb = std::fs::read_to_string(dir.join("status"))
            .ok()
            .and_then(|status| kb_field(&status, "VmRSS:"))
            .unwrap_or(0);
        let pss_kb = std::fs::read_to_string(dir.join("smaps_rollup"))
            .ok()
            .and_then(|rollup| kb_field(&rollup, "Pss:"));
        let exe = std::fs::read_link(dir.join("exe")).ok().map(|exe| {
            // A replaced binary reads as "/path (deleted)": the name is still the one it ran as.
            let text = exe.to_string_lossy();
            PathBuf::from(text.strip_suffix(" (deleted)").unwrap_or(&text))
        });
        Some(ProcInfo {
            pid,
            ppid,
            name,
            exe,
            cmdline,
            rss_kb,
            pss_kb,
        })
    }

    /// Whether this process is `name`: by executable file name, by the first
    /// word of its command line, or by `comm` (which the kernel cuts at 15
    /// bytes, so a longer `name` matches its first 15).
    pub fn is_named(&self, name: &str) -> bool {
        let file_name = |path: &std::path::Path| {
            path.file_name()
                .is_some_and(|file| file.to_string_lossy() == name)
        };
        self.exe.as_deref().is_some_and(file_name)
            || self
                .cmdline
                .first()
                .is_some_and(|arg0| file_name(std::path::Path::new(arg0)))
            || self.name == truncate_comm(name)
    }
}

/// `comm` as the kernel stores it: at most 15 bytes.
fn truncate_comm(name: &str) -> &str {
    let mut end = name.len().min(15);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// `(comm, ppid)` from `/proc/<pid>/stat`. `comm` may hold spaces and
/// parentheses, so it ends at the *last* `)`.
fn parse_stat(stat: &str) -> Option<(String, u32)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_owned();
    let mut rest = stat.get(close + 1..)?.split_whitespace();
    let _state = rest.next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((name, ppid))
}

/// The number in a `Key:   1234 kB` line.
fn kb_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|number| number.parse().ok())
}

/// Every process now running, by pid.
fn all_processes() -> BTreeMap<u32, ProcInfo> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        panic!("/proc is not readable: this harness needs Linux with procfs");
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        // A process may exit between the listing and the read: then it is not running.
        .filter_map(|pid| Some((pid, ProcInfo::read(pid)?)))
        .collect()
}

/// `pid` and all its descendants, `pid` first, then breadth first. Empty when
/// `pid` is not running.
pub fn tree(pid: u32) -> Vec<ProcInfo> {
    let mut all = all_processes();
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for info in all.values() {
        children.entry(info.ppid).or_default().push(info.pid);
    }
    let mut found = Vec::new();
    let mut seen = BTreeSet::new();
    let mut queue = std::collections::VecDeque::from([pid]);
    while let Some(next) = queue.pop_front() {
        // Pids are reused: guard against a loop through a recycled parent.
        if !seen.insert(next) {
            continue;
        }
        let Some(info) = all.remove(&next) else {
            continue;
        };
        queue.extend(children.get(&next).into_iter().flatten().copied());
        found.push(info);
    }
    found
}

/// The descendants of `pid`, without `pid` itself.
pub fn descendants(pid: u32) -> Vec<ProcInfo> {
    tree(pid).into_iter().filter(|p| p.pid != pid).collect()
}

/// Resident memory of `pid` and its descendants. Shared pages count once per
/// process, so this overstates a WebKit tree; see [`total_pss_kb`].
pub fn total_rss_kb(pid: u32) -> u64 {
    tree(pid).iter().map(|p| p.rss_kb).sum()
}

/// Proportional memory of `pid` and its descendants (shared pages split
/// between their users). `None` when any process's `smaps_rollup` could not
/// be read, since a partial sum would look like a smaller footprint.
pub fn total_pss_kb(pid: u32) -> Option<u64> {
    let procs = tree(pid);
    if procs.is_empty() {
        return None;
    }
    procs.iter().map(|p| p.pss_kb).sum()
}

/// WebKitGTK's helper processes among the descendants of `pid`.
pub fn webkit_processes(pid: u32) -> Vec<ProcInfo> {
    descendants(pid)
        .into_iter()
        .filter(|p| p.is_named("WebKitWebProcess") || p.is_named("WebKitNetworkProcess"))
        .collect()
}

/// Whether a WebKit web or network process runs under `pid`: the sign that
/// the app has a live web view.
pub fn has_webkit_process(pid: u32) -> bool {
    !webkit_processes(pid).is_empty()
}

/// Every running process that is `name` (see [`ProcInfo::is_named`]), for
/// finding one the test did not spawn itself, such as the app that
/// WebKitWebDriver started. Sorted by pid.
pub fn find_by_exe_name(name: &str) -> Vec<u32> {
    all_processes()
        .into_values()
        .filter(|p| p.is_named(name))
        .map(|p| p.pid)
        .collect()
}

/// Whether `pid` is still running (a zombie counts as gone: it runs nothing).
pub fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat
                .get(stat.rfind(')')? + 1..)?
                .split_whitespace()
                .next()?;
            Some(state != "Z" && state != "X")
        })
        .unwrap_or(false)
}

/// Sends SIGKILL to `pid` and every descendant. The tree is read first and
/// then killed in one sweep, parents before children, so a parent cannot
/// start a new child after its children were looked up and killed.
/// Processes that are already gone are skipped.
pub fn kill_tree(pid: u32) {
    for info in tree(pid) {
        signal(info.pid, rustix::process::Signal::KILL);
    }
}

/// Sends SIGTERM to `pid` alone, so it may stop its own children first.
pub fn terminate(pid: u32) {
    signal(pid, rustix::process::Signal::TERM);
}

fn signal(pid: u32, signal: rustix::process::Signal) {
    let Some(target) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    // ESRCH (already gone) is the outcome we wanted; anything else is too
    // (EPERM would mean it is not ours, and then it is not ours to stop).
    let _ = rustix::process::kill_process(target, signal);
}
