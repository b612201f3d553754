#!/usr/bin/env bash
# Runs every test of the workspace, after installing what they need.
#
# The tests meet real parts: herald-server and a Node socket.io server on
# loopback, SQLite, and a desktop session (scripts/desktop-session.sh: Xvfb,
# a D-Bus session, gnome-keyring's Secret Service, the dunst notification
# daemon) for the keyring, notification and CLI system tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cargo fmt --all -- --check
# Warnings are errors: the workspace lints (and clippy's) are enforced here.
cargo clippy --workspace --all-targets --locked -- -D warnings
# Windows and macOS: every product crate compiles for both (no warnings),
# and the headless crates' tests run under wine.
scripts/cross.sh
# The system tests run the binaries; build them (and every test) first, so
# the tests themselves do not race a build.
cargo build --workspace --locked --bins --tests
# The .deb and .rpm of those same binaries (`tauri bundle`: nothing is compiled
# again); tests/system/package.rs reads, lints, installs and removes them.
scripts/package.sh
scripts/desktop-session.sh cargo test --workspace --locked --no-fail-fast
# scripts/cluster.sh as an operator runs it: Postgres, Redis and two nodes;
# an event posted on one node is read on the other.
scripts/cluster.sh --check
# The benchmarks' smoke mode on the same debug builds: seconds per scenario,
# and it fails when an invariant breaks (an event lost, a delivery short), so
# the bench cannot rot. Its figures mean nothing here; scripts/bench.sh is
# the real run.
# The binary the workspace build made: `cargo run -p herald-bench` would
# resolve features for that one package and build its dependencies again.
scripts/desktop-session.sh "${CARGO_TARGET_DIR:-target}/debug/herald-bench" smoke
# Each fuzz target (fuzz/: event decoding, the catch-up page, the server's
# JSON bodies) for 30 s from the committed corpus; a crash fails the run.
# scripts/fuzz.sh alone runs them longer (FUZZ_SECONDS).
FUZZ_SECONDS="${FUZZ_SECONDS:-30}" scripts/fuzz.sh
