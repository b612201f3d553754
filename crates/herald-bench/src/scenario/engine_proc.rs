//! Starting Herald's engine in its own process (`herald-bench-engine`).

use std::path::Path;
use std::time::Duration;

use tokio::process::Command;

use crate::hub::PASSWORD;
use crate::proc::Proc;

/// Starts the engine for `email` at `url` and waits until it is connected.
///
/// `HERALD_BENCH_ENGINE_WRAPPER` runs it under another program, to profile
/// it, e.g. `valgrind --tool=callgrind --callgrind-out-file=/tmp/engine.%p`.
pub async fn spawn(url: &str, email: &str, dir: &Path, expect: u64) -> anyhow::Result<Proc> {
    let exe = crate::node::sibling("herald-bench-engine", "herald-bench")?;
    let wrapper = std::env::var("HERALD_BENCH_ENGINE_WRAPPER").unwrap_or_default();
    let mut words = wrapper.split_whitespace();
    let mut command = match words.next() {
        Some(program) => {
            let mut command = Command::new(program);
            command.args(words).arg(exe);
            command
        }
        None => Command::new(exe),
    };
    command
        .args(["--url", url, "--email", email, "--password", PASSWORD])
        .arg("--dir")
        .arg(dir)
        .args(["--expect", &expect.to_string()]);
    let mut proc = Proc::spawn("herald engine", command)?;
    proc.wait_for("ready", Duration::from_secs(60)).await?;
    Ok(proc)
}
