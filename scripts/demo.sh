#!/usr/bin/env bash
# Runs the demo: herald-server in --demo mode on 127.0.0.1:3000 (a fresh data
# directory, two accounts, a sample event every five seconds) and the Herald
# Herald app (the window, which starts Herald's agent: the engine and the
# tray icon), open at its sign-in form with the demo account filled in. Press
# "Sign in" and notifications arrive within seconds.
#
# Without a display (a server over SSH) only herald-server runs, and the
# accounts and a command to watch the events are printed. Ctrl-C stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

demo_dir="${HERALD_DEMO_DIR:-$(mktemp -d -t herald-demo.XXXXXX)}"
bind="${HERALD_BIND:-127.0.0.1:3000}"
mkdir -p "$demo_dir"

if [[ -z ${DISPLAY:-}${WAYLAND_DISPLAY:-} ]]; then
  echo "demo: no display, so no tray app; running herald-server only" >&2
  exec cargo run --locked -p herald-server -- --demo --data-dir "$demo_dir/server" --bind "$bind"
fi

cargo build --locked -p herald-server -p herald-agent -p herald-desktop
target/debug/herald-server --demo --data-dir "$demo_dir/server" --bind "$bind" \
  2>"$demo_dir/server.log" &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true' EXIT

# The server prints the accounts (on stderr, with its log) once it has made
# them; wait for that line.
password=
for _ in $(seq 1 300); do
  password=$(awk '/alice@example.com/ && /password:/ { print $3; exit }' "$demo_dir/server.log")
  [[ -n $password ]] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$demo_dir/server.log" >&2; exit 1; }
  sleep 0.1
done
[[ -n $password ]] || { echo "demo: herald-server did not start" >&2; exit 1; }
sed -n '/herald-server demo at/,/^$/p' "$demo_dir/server.log"

# The app gets its own settings and history under the demo directory, so a
# real Herald set-up on this machine is left alone. The tokens still go to the
# OS keyring, as always.
# The agent gets its own socket there too, and stops with the demo.
export HERALD_CONFIG_DIR="$demo_dir/config" HERALD_DATA_DIR="$demo_dir/data" \
  HERALD_RUNTIME_DIR="$demo_dir/run"
trap 'kill "$server_pid" 2>/dev/null || true
      agent=$(cat "$HERALD_DATA_DIR/engine.lock" 2>/dev/null || true)
      [[ -n $agent ]] && kill "$agent" 2>/dev/null || true' EXIT
echo "demo: starting Herald; its window opens at the sign-in form, its agent keeps the tray icon" >&2
echo "demo: closing the window leaves the agent in the tray; Ctrl-C ends the demo" >&2
HERALD_SIGNIN_SERVER="http://$bind" HERALD_SIGNIN_EMAIL=alice@example.com \
  HERALD_SIGNIN_PASSWORD="$password" \
  target/debug/herald-desktop
# The window is closed; the agent runs on until Ctrl-C.
wait "$server_pid"
