#!/usr/bin/env bash
# Runs the demo: herald-server in --demo mode on 127.0.0.1:3000, with a fresh
# data directory. It prints the demo accounts' passwords and a command that
# watches the events live. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

data_dir="${HERALD_DEMO_DIR:-$(mktemp -d -t herald-demo.XXXXXX)}"
exec cargo run --locked -p herald-server -- --demo --data-dir "$data_dir" --bind "${HERALD_BIND:-127.0.0.1:3000}"
