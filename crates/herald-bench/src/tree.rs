//! Process trees as /proc shows them. A desktop app is several processes
//! (WebKit's web and network processes are children of the window's), and
//! Herald is two apps (the agent and the window), so their memory is a sum
//! over trees; and a figure is only read once those trees have settled.
//!
//! RSS counts every page a process has touched, shared or not, so a sum of
//! RSS counts a shared library once per process that maps it; PSS divides
//! each shared page among the processes sharing it, so a sum of PSS counts
//! it once. The tables give both.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;

/// How long a tree must stay the same before a figure is read.
pub const SETTLED: Duration = Duration::from_secs(2);
/// The longest a reading waits for the tree to settle.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);

/// One live process.
#[derive(Debug, Clone)]
pub struct Member {
    pub pid: u32,
    /// The comm name, cut to 15 bytes by the kernel ("WebKitWebProces").
    pub name: String,
}

/// The memory of a set of processes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reading {
    pub processes: usize,
    pub rss_kb: u64,
    pub pss_kb: u64,
}

impl Reading {
    pub fn rss_mb(&self) -> f64 {
        self.rss_kb as f64 / 1024.0
    }

    pub fn pss_mb(&self) -> f64 {
        self.pss_kb as f64 / 1024.0
    }
}

/// The value of `key:` in a /proc status-like file, first word only.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
}

fn kb(text: &str, key: &str) -> u64 {
    field(text, key).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Every live process: pid → (parent, name). Zombies are left out: they hold
/// no memory, and one whose parent does not reap it is gone all the same.
fn processes() -> HashMap<u32, (u32, String)> {
    let mut all = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        if field(&status, "State") == Some("Z") {
            continue;
        }
        let ppid = field(&status, "PPid")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let name = status
            .lines()
            .find_map(|l| l.strip_prefix("Name:"))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default();
        all.insert(pid, (ppid, name));
    }
    all
}

/// The live processes among `roots` and their descendants, each once.
pub fn members(roots: &[u32]) -> Vec<Member> {
    let all = processes();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut stack: Vec<u32> = roots.to_vec();
    while let Some(pid) = stack.pop() {
        let Some((_, name)) = all.get(&pid) else {
            continue;
        };
        if !seen.insert(pid) {
            continue;
        }
        out.push(Member {
            pid,
            name: name.clone(),
        });
        stack.extend(
            all.iter()
                .filter(|(_, (ppid, _))| *ppid == pid)
                .map(|(child, _)| *child),
        );
    }
    out
}

/// Whether `pid` is a live process (not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status"))
        .is_ok_and(|status| field(&status, "State") != Some("Z"))
}

/// The memory of `members`, as it is now; a process that ended meanwhile
/// counts nothing.
pub fn measure(members: &[Member]) -> Reading {
    let mut reading = Reading::default();
    for m in members {
        let dir = Path::new("/proc").join(m.pid.to_string());
        let Ok(status) = std::fs::read_to_string(dir.join("status")) else {
            continue;
        };
        let rollup = std::fs::read_to_string(dir.join("smaps_rollup")).unwrap_or_default();
        reading.processes += 1;
        reading.rss_kb += kb(&status, "VmRSS");
        reading.pss_kb += kb(&rollup, "Pss");
    }
    reading
}

/// Each of `members` with its RSS and PSS in KB, for the log.
pub fn detail(members: &[Member]) -> Vec<(String, u64, u64)> {
    members
        .iter()
        .map(|m| {
            let one = measure(std::slice::from_ref(m));
            (m.name.clone(), one.rss_kb, one.pss_kb)
        })
        .collect()
}

/// Whether any process of the trees of `roots` has a name starting with `prefix`.
pub fn has(roots: &[u32], prefix: &str) -> bool {
    members(roots).iter().any(|m| m.name.starts_with(prefix))
}

/// Comm names are cut to 15 bytes.
pub const WEB_PROCESS: &str = "WebKitWebProces";

/// The memory of the trees of `roots` once they have stopped changing: the
/// same processes, and a total RSS within 1% (page faults of an idle
/// process move it a little), for [`SETTLED`]. A tree that never settles is
/// read when [`SETTLE_LIMIT`] has passed.
pub async fn settled(roots: &[u32]) -> anyhow::Result<Reading> {
    let deadline = Instant::now() + SETTLE_LIMIT;
    let mut last: Option<(Vec<u32>, Reading)> = None;
    let mut since = Instant::now();
    loop {
        let now = members(roots);
        if now.is_empty() {
            bail!("the processes {roots:?} are gone");
        }
        let mut pids: Vec<u32> = now.iter().map(|m| m.pid).collect();
        pids.sort_unstable();
        let reading = measure(&now);
        let same = last.as_ref().is_some_and(|(p, r)| {
            *p == pids && reading.rss_kb.abs_diff(r.rss_kb) * 100 <= r.rss_kb
        });
        if same && since.elapsed() >= SETTLED {
            return Ok(reading);
        }
        if !same {
            last = Some((pids, reading));
            since = Instant::now();
        }
        if Instant::now() > deadline {
            return Ok(reading);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The live processes whose environment sets `key` to `value`: those that
/// belong to one bench user, whatever started them. A process whose
/// environment cannot be read (another user's) is left out.
pub fn with_env(key: &str, value: &Path) -> Vec<u32> {
    let mut wanted = key.as_bytes().to_vec();
    wanted.push(b'=');
    wanted.extend_from_slice(value.as_os_str().as_encoded_bytes());
    processes()
        .into_keys()
        .filter(|pid| {
            std::fs::read(Path::new("/proc").join(pid.to_string()).join("environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == wanted))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_its_own_tree() {
        let me = std::process::id();
        let tree = members(&[me]);
        assert!(tree.iter().any(|m| m.pid == me));
        assert!(alive(me));
        let reading = measure(&tree);
        assert!(reading.processes >= 1 && reading.rss_kb > 0);
        assert!(reading.pss_kb > 0 && reading.pss_kb <= reading.rss_kb);
    }

    #[test]
    fn the_environment_names_the_process() {
        // `PATH` is set in every test run; a value nobody has matches no one.
        let nobody = Path::new("/nonexistent/herald-bench-tree-test");
        assert!(with_env("HERALD_BENCH_TREE_TEST", nobody).is_empty());
        let path = std::env::var_os("PATH").map(std::path::PathBuf::from);
        if let Some(path) = path {
            assert!(with_env("PATH", &path).contains(&std::process::id()));
        }
    }

    #[test]
    fn status_fields_are_read_by_key() {
        let status = "Name:\tdemo\nState:\tS (sleeping)\nPPid:\t7\nVmRSS:\t  1234 kB\n";
        assert_eq!(field(status, "State"), Some("S"));
        assert_eq!(field(status, "PPid"), Some("7"));
        assert_eq!(kb(status, "VmRSS"), 1234);
        assert_eq!(kb(status, "VmSwap"), 0);
    }
}
