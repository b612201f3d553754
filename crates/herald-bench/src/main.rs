//! `herald-bench`: Herald's engine and herald-server, side by side with the
//! Node socket.io stack the seed was built on, and against their targets.
//!
//! ```sh
//! scripts/bench.sh            # every scenario (release builds), about 6 minutes
//! scripts/bench.sh smoke      # seconds: small counts, invariants only
//! ```
//!
//! Prints a markdown table (figure, peer's figure, ratio, target met?) and
//! the machine; exits non-zero when an invariant breaks (a lost event, a
//! delivery short), never because a target was missed.
// Printing the table is this tool's output.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use herald_bench::probe::Probe;
use herald_bench::report::{self, Checks, Row};
use herald_bench::scenario::{self, Size};
use herald_bench::{node, proc};

#[derive(Debug, Parser)]
#[command(about = "Benchmarks: Herald against the Node socket.io stack, and against its targets")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Also write the report (machine and table) to this file.
    #[arg(long, global = true)]
    out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Only {
    ClientLatency,
    ClientIdle,
    ClientBurst,
    Server,
    /// herald-server on SQLite, on Postgres, and as two nodes on Postgres and Redis.
    Cluster,
    /// The agent's and the window's memory (needs a desktop session: scripts/bench.sh).
    Desktop,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every scenario at full size (the default).
    All,
    /// Every scenario, small and quick: checks the invariants, for CI.
    Smoke,
    /// One scenario at full size (or small with --smoke).
    Only {
        scenario: Only,
        #[arg(long)]
        smoke: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("HERALD_BENCH_LOG")
            .unwrap_or_else(|_| "warn,herald_bench=info".into())
    };
    let probe = Probe::default();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(filter()),
        )
        .with(probe.layer())
        .init();
    let (size, only) = match cli.command {
        None | Some(Command::All) => (Size::FULL, None),
        Some(Command::Smoke) => (Size::SMOKE, None),
        Some(Command::Only { scenario, smoke }) => {
            (if smoke { Size::SMOKE } else { Size::FULL }, Some(scenario))
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("herald-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(size, only, &probe, cli.out)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("herald-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the scenarios; `Ok(false)` when an invariant broke.
async fn run(
    size: Size,
    only: Option<Only>,
    probe: &Probe,
    out: Option<PathBuf>,
) -> anyhow::Result<bool> {
    let started = Instant::now();
    let nofile = proc::raise_nofile();
    node::check()?;
    let wants = |s: Only| only.is_none_or(|o| o == s);
    if wants(Only::Server) || wants(Only::Cluster) {
        node::sibling("herald-server", "herald-server")?;
    }
    if wants(Only::ClientIdle) || wants(Only::ClientBurst) {
        node::sibling("herald-bench-engine", "herald-bench")?;
    }
    if !node::release_build() {
        tracing::warn!("a debug build: the invariants hold or not, but the figures mean nothing");
    }
    let machine = report::machine();
    tracing::info!(%machine, nofile, "starting");

    let mut checks = Checks::default();
    let mut rows: Vec<Row> = Vec::new();
    let mut failed = Vec::new();
    macro_rules! scenario {
        ($which:expr, $name:literal, $call:expr) => {
            if wants($which) {
                let t = Instant::now();
                tracing::info!(scenario = $name, "running");
                match $call.await {
                    Ok(r) => rows.extend(r),
                    Err(e) => {
                        tracing::error!(scenario = $name, error = format!("{e:#}"), "failed");
                        failed.push(format!("{}: {e:#}", $name));
                    }
                }
                tracing::info!(scenario = $name, secs = t.elapsed().as_secs(), "done");
            }
        };
    }
    scenario!(
        Only::ClientLatency,
        "client latency",
        scenario::client_latency::run(size, probe, &mut checks)
    );
    scenario!(
        Only::ClientIdle,
        "client idle",
        scenario::client_idle::run(size, &mut checks)
    );
    scenario!(
        Only::ClientBurst,
        "client burst",
        scenario::client_burst::run(size, &mut checks)
    );
    scenario!(
        Only::Server,
        "server",
        scenario::server_load::run(size, &mut checks)
    );
    scenario!(
        Only::Cluster,
        "cluster",
        scenario::cluster::run(size, &mut checks)
    );
    scenario!(
        Only::Desktop,
        "desktop",
        scenario::desktop::run(size, &mut checks)
    );

    let mut report = format!(
        "Machine: {machine}\n\nRun: {} ({} build), {:.0} s\n\n",
        if size.smoke { "smoke" } else { "full" },
        if node::release_build() {
            "release"
        } else {
            "debug"
        },
        started.elapsed().as_secs_f64()
    );
    report.push_str(&report::table(&rows));
    report.push_str(
        "\nHerald and peer columns: median of the rounds, (min–max) when there were several.\n",
    );
    println!("{report}");
    if let Some(out) = out {
        std::fs::write(&out, &report)?;
    }
    for f in checks.failures() {
        println!("INVARIANT BROKEN: {f}");
    }
    for f in &failed {
        println!("SCENARIO FAILED: {f}");
    }
    println!(
        "{} invariants held, {} broken, {} scenarios failed",
        checks.passed(),
        checks.failures().len(),
        failed.len()
    );
    Ok(checks.failures().is_empty() && failed.is_empty())
}
