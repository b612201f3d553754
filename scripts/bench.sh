#!/usr/bin/env bash
# Runs herald-bench on release builds: every scenario (about 6 minutes on 2
# cores), or `scripts/bench.sh smoke` for a quick check of the invariants.
# Extra arguments go to herald-bench (e.g. `--out bench.md`, `only server`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

cargo build --release --locked -p herald-server -p herald-bench \
  -p herald-cli -p herald-agent -p herald-desktop -p tauri-peer
# 10,000 sockets on each side: the load generator and the servers it starts
# (they inherit this limit) need more open files than the usual 1024.
ulimit -n "$(ulimit -Hn)"
# The desktop scenario runs the agent and the window: give the bench a desktop session
# (X display, session bus, Secret Service, notification daemon).
exec scripts/desktop-session.sh "${CARGO_TARGET_DIR:-target}/release/herald-bench" "$@"
