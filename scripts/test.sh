#!/usr/bin/env bash
# Runs every test of the workspace, after installing what they need.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cargo fmt --all -- --check
cargo test --workspace --locked --no-fail-fast
