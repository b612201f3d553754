//! `herald-bench-engine`: Herald's engine alone in a process, for the idle
//! and burst scenarios (see `herald_bench::child` for what it says).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = herald_bench::child::ChildArgs::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HERALD_BENCH_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match herald_bench::child::main(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herald-bench-engine: {e:#}");
            ExitCode::FAILURE
        }
    }
}
