//! The results table, the machine it ran on, and the invariants a run must keep.

use std::fmt::Write as _;

use crate::stats::{Rounds, num};

/// A goal from the issue, judged on the median.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    AtMost(f64),
    AtLeast(f64),
    /// Herald's figure divided by the peer's, at most this.
    RatioAtMost(f64),
    /// Herald's figure divided by the peer's, at least this.
    RatioAtLeast(f64),
}

impl Target {
    fn describe(self, unit: &str) -> String {
        match self {
            Target::AtMost(v) => format!("≤ {} {unit}", num(v)),
            Target::AtLeast(v) => format!("≥ {} {unit}", num(v)),
            Target::RatioAtMost(r) => format!("≤ {r}× peer"),
            Target::RatioAtLeast(r) => format!("≥ {r}× peer"),
        }
    }
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub scenario: &'static str,
    pub figure: String,
    pub unit: &'static str,
    pub herald: Rounds,
    /// The peer's name and figure, when there is one.
    pub peer: Option<(&'static str, Rounds)>,
    pub target: Option<Target>,
}

impl Row {
    pub fn new(scenario: &'static str, figure: impl Into<String>, unit: &'static str) -> Row {
        Row {
            scenario,
            figure: figure.into(),
            unit,
            herald: Rounds::default(),
            peer: None,
            target: None,
        }
    }

    pub fn herald(mut self, rounds: Rounds) -> Row {
        self.herald = rounds;
        self
    }

    pub fn peer(mut self, name: &'static str, rounds: Rounds) -> Row {
        self.peer = Some((name, rounds));
        self
    }

    pub fn target(mut self, target: Target) -> Row {
        self.target = Some(target);
        self
    }

    fn ratio(&self) -> Option<f64> {
        let (_, peer) = self.peer.as_ref()?;
        let (h, p) = (self.herald.median(), peer.median());
        (p != 0.0 && !p.is_nan() && !h.is_nan()).then(|| h / p)
    }

    /// Whether the target is met; `None` without a target.
    pub fn met(&self) -> Option<bool> {
        let h = self.herald.median();
        if h.is_nan() {
            return None;
        }
        Some(match self.target? {
            Target::AtMost(v) => h <= v,
            Target::AtLeast(v) => h >= v,
            Target::RatioAtMost(r) => self.ratio().is_some_and(|x| x <= r),
            Target::RatioAtLeast(r) => self.ratio().is_some_and(|x| x >= r),
        })
    }
}

/// Renders the table as markdown.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | figure | Herald | peer | peer's figure | ratio | target | met? |\n\
         |---|---|---:|---|---:|---:|---|---|\n",
    );
    for row in rows {
        let (peer_name, peer_fig) = match &row.peer {
            Some((name, rounds)) => (name.to_string(), rounds.to_string()),
            None => ("–".into(), "–".into()),
        };
        let ratio = row.ratio().map_or("–".into(), |r| format!("{r:.2}×"));
        let target = row.target.map_or("–".into(), |t| t.describe(row.unit));
        let met = match row.met() {
            Some(true) => "yes",
            Some(false) => "**no**",
            None if row.target.is_some() => "pending",
            None => "–",
        };
        let _ = writeln!(
            out,
            "| {} | {} ({}) | {} | {} | {} | {} | {} | {} |",
            row.scenario, row.figure, row.unit, row.herald, peer_name, peer_fig, ratio, target, met
        );
    }
    out
}

/// Invariants that must hold in every run, smoke or full.
#[derive(Debug, Default)]
pub struct Checks {
    failures: Vec<String>,
    passed: usize,
}

impl Checks {
    pub fn expect(&mut self, ok: bool, what: impl Into<String>) {
        let what = what.into();
        if ok {
            self.passed += 1;
            tracing::debug!(%what, "invariant holds");
        } else {
            tracing::error!(%what, "invariant broken");
            self.failures.push(what);
        }
    }

    pub fn failures(&self) -> &[String] {
        &self.failures
    }

    pub fn passed(&self) -> usize {
        self.passed
    }
}

/// CPU model, cores, kernel and memory, read from /proc.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU".into(), |(_, m)| m.trim().to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let mem_kb = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| {
            l.split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "{model}, {cores} cores, Linux {kernel}, {:.1} GiB RAM; load average at the start: {load}",
        mem_kb as f64 / 1024.0 / 1024.0
    )
}
