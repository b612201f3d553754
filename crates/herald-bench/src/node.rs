//! Where the Node peers and herald-server live, and how to start them.

use std::path::PathBuf;

use anyhow::{Context, bail};
use tokio::process::Command;

/// The repository root: `HERALD_BENCH_ROOT`, else where this crate was built.
pub fn root() -> PathBuf {
    std::env::var_os("HERALD_BENCH_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")))
}

/// Checks that Node and the npm modules of `tests/compat` are there.
pub fn check() -> anyhow::Result<()> {
    let modules = root().join("tests/compat/node_modules/socket.io-client");
    if !modules.is_dir() {
        bail!(
            "{} is missing: run scripts/setup.sh (npm ci in tests/compat)",
            modules.display()
        );
    }
    let version = std::process::Command::new("node")
        .arg("--version")
        .output()
        .context("node is not installed: run scripts/setup.sh")?;
    tracing::debug!(version = %String::from_utf8_lossy(&version.stdout).trim(), "node");
    Ok(())
}

/// `node <script> <args>`, for a script of `crates/herald-bench/node/` or
/// `tests/compat/`. The bench's scripts load socket.io from tests/compat's
/// node_modules, so nothing is installed twice.
pub fn script(path: &str, args: &[String]) -> Command {
    let mut command = Command::new("node");
    command.arg(root().join(path)).args(args);
    command
}

/// A binary built beside this one (same profile) by `package`.
pub fn sibling(name: &str, package: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe
        .parent()
        .context("no directory for this executable")?
        .join(name);
    if !path.is_file() {
        bail!(
            "{} is missing: build it with `cargo build --release -p {package}` (scripts/bench.sh does)",
            path.display()
        );
    }
    Ok(path)
}

/// Whether this binary is an optimised build: figures from a debug build
/// are only good for the smoke run's invariants.
pub fn release_build() -> bool {
    !cfg!(debug_assertions)
}
