#!/usr/bin/env bash
# Runs a command inside a throwaway Linux desktop session, for tests that need
# the real desktop services:
#
#   scripts/desktop-session.sh CMD [ARGS...]
#
# The session has an X display (Xvfb, unless DISPLAY is already set), a fresh
# D-Bus session bus (dbus-run-session), gnome-keyring's Secret Service with an
# unlocked login keyring, and dunst as the notification server. Everything is
# torn down when CMD exits, and the exit code is CMD's.
#
# Works from a non-interactive CI shell as root with no DISPLAY and no bus.
# The keyring lives in a private temporary directory, never in $HOME, so a
# developer's real login keyring is neither read nor created.
set -euo pipefail

# How long to wait for each service to come up before giving up (seconds).
readonly START_TIMEOUT=${HERALD_SESSION_TIMEOUT:-15}
# The login keyring's password. It only ever protects throwaway test data.
readonly KEYRING_PASSWORD=herald-test-session

say() { printf 'desktop-session: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# Polls a condition (a command) every 0.1 s until it succeeds or `$1` seconds
# pass. This waits for a state, it does not guess how long startup takes.
wait_for() {
  local timeout=$1 what=$2
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { say "timed out after ${timeout}s waiting for $what"; return 1; }
    sleep 0.1
  done
}

bus_name_owned() {
  dbus-send --session --print-reply=literal --dest=org.freedesktop.DBus \
    /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner "string:$1" | grep -q true
}

# The pid of the process owning a bus name, so cleanup can stop exactly it.
bus_name_pid() {
  dbus-send --session --print-reply=literal --dest=org.freedesktop.DBus \
    /org/freedesktop/DBus org.freedesktop.DBus.GetConnectionUnixProcessID "string:$1" \
    | awk '{print $2}'
}

# ---------------------------------------------------------------------------
# Inner stage: runs on the fresh session bus, started by dbus-run-session.
# ---------------------------------------------------------------------------
inner() {
  local work=$HERALD_SESSION_WORK
  local pids=()
  cleanup_inner() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  }
  trap cleanup_inner EXIT

  # gnome-keyring: data and control socket in our private directory. `--unlock`
  # reads the password from stdin and creates the login keyring, which becomes
  # the default collection, so Secret Service clients need no prompt.
  mkdir -p "$work/keyring-data" "$work/keyring-control"
  chmod 700 "$work/keyring-data" "$work/keyring-control"
  local keyring_env
  keyring_env=$(printf '%s' "$KEYRING_PASSWORD" |
    XDG_DATA_HOME="$work/keyring-data" gnome-keyring-daemon --unlock \
      --components=secrets --control-directory="$work/keyring-control") ||
    die "gnome-keyring-daemon failed to start"
  local line
  while IFS= read -r line; do
    [[ $line == *=* ]] && export "${line?}"
  done <<<"$keyring_env"
  wait_for "$START_TIMEOUT" "gnome-keyring on org.freedesktop.secrets" \
    bus_name_owned org.freedesktop.secrets
  pids+=("$(bus_name_pid org.freedesktop.secrets)")

  # dunst, with our own configuration so a user's dunstrc changes nothing.
  cat >"$work/dunstrc" <<'EOF'
[global]
    monitor = 0
    follow = none
    history_length = 100
    markup = full
EOF
  dunst -config "$work/dunstrc" >"$work/dunst.log" 2>&1 &
  local dunst_pid=$!
  pids+=("$dunst_pid")
  # Up once it owns the name; stop waiting early if it died (no display...).
  dunst_settled() { bus_name_owned org.freedesktop.Notifications || ! kill -0 "$dunst_pid" 2>/dev/null; }
  wait_for "$START_TIMEOUT" "dunst on org.freedesktop.Notifications" dunst_settled || true
  if ! bus_name_owned org.freedesktop.Notifications; then
    cat "$work/dunst.log" >&2
    die "dunst did not start"
  fi

  local rc=0
  "$@" || rc=$?
  exit "$rc"
}

if [[ ${1:-} == --inner ]]; then
  shift
  inner "$@"
fi

# ---------------------------------------------------------------------------
# Outer stage: runtime directory and display, then the session bus.
# ---------------------------------------------------------------------------
(($# > 0)) || die "usage: $0 CMD [ARGS...]"
for tool in dbus-run-session dbus-send gnome-keyring-daemon dunst; do
  command -v "$tool" >/dev/null || die "$tool is missing; run scripts/setup.sh"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/herald-session.XXXXXX")
chmod 700 "$work"
xvfb_pid=
cleanup_outer() {
  if [[ -n $xvfb_pid ]]; then
    kill "$xvfb_pid" 2>/dev/null || true
    wait "$xvfb_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup_outer EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

if [[ -z ${XDG_RUNTIME_DIR:-} || ! -d ${XDG_RUNTIME_DIR:-} ]]; then
  mkdir -m 700 "$work/runtime"
  export XDG_RUNTIME_DIR=$work/runtime
fi

if [[ -z ${DISPLAY:-} ]]; then
  command -v Xvfb >/dev/null || die "Xvfb is missing; run scripts/setup.sh"
  # -displayfd: Xvfb picks a free display itself and writes its number once
  # it accepts connections, so there is no race on choosing one and no guess
  # at how long it takes to start.
  Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp \
    3>"$work/display" >"$work/xvfb.log" 2>&1 &
  xvfb_pid=$!
  # Ready once it wrote its display number; stop waiting early if it died.
  display_ready() { [[ -s $work/display ]] || ! kill -0 "$xvfb_pid" 2>/dev/null; }
  wait_for "$START_TIMEOUT" "Xvfb" display_ready || true
  if [[ ! -s $work/display ]]; then
    cat "$work/xvfb.log" >&2
    die "Xvfb did not start"
  fi
  export DISPLAY=":$(tr -dc 0-9 <"$work/display")"
fi

export HERALD_SESSION_WORK=$work
rc=0
dbus-run-session -- "$(readlink -f "$0")" --inner "$@" || rc=$?
exit "$rc"
