#!/usr/bin/env bash
# Installs what Herald needs to build, run and test on Debian or Ubuntu:
# Debian packages (only those missing), then the npm modules of tests/compat.
# Safe to run again; it does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential pkg-config libssl-dev ca-certificates curl
  nodejs npm
  # scripts/desktop-session.sh: a throwaway desktop for the herald-core tests
  # (X display, session bus, Secret Service, notification server), and the
  # clients those tests check the real services with (secret-tool, dbus-python).
  xvfb xauth dbus dbus-x11 gnome-keyring dunst libsecret-tools python3-dbus
  # The tray app (Tauri 2): WebKitGTK and the StatusNotifierItem library to
  # build it, and WebKitWebDriver, which its UI tests drive it through.
  libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev webkit2gtk-driver
  # scripts/package.sh's checks (tests/system/package.rs): lintian on the .deb,
  # rpm to read the .rpm. Tauri's bundler writes both itself (no rpmbuild);
  # strip, objdump and dpkg-shlibdeps come with build-essential.
  lintian rpm
  # scripts/cross.sh: a C compiler and linker for Windows (mingw-w64),
  # wine64 to run the Windows tests, and clang and llvm-ar for the one
  # header-less Objective-C file the macOS webview compiles.
  gcc-mingw-w64-x86-64 wine64 clang llvm
  # herald-server on several nodes: the cluster tests and scripts/cluster.sh
  # start their own Postgres and Redis servers from these.
  postgresql redis-server
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A machine with Node from elsewhere (nvm, nodesource) needs no Debian nodejs/npm.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]}")
fi

if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    sudo=()
  elif command -v sudo >/dev/null; then
    echo "setup: not root; using sudo to install: ${missing[*]}" >&2
    sudo=(sudo)
  else
    echo "setup: not root and no sudo; please install: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo is missing; install Rust 1.94 or newer with rustup (https://rustup.rs)" >&2
  exit 1
fi

# scripts/cross.sh: the Rust standard libraries of the Windows and macOS targets.
if command -v rustup >/dev/null; then
  targets=(x86_64-pc-windows-msvc x86_64-pc-windows-gnu aarch64-apple-darwin)
  installed_targets=$(rustup target list --installed)
  for t in "${targets[@]}"; do
    grep -qx "$t" <<<"$installed_targets" || {
      echo "setup: adding the Rust target $t" >&2
      rustup target add "$t"
    }
  done
fi

# tauri-driver: the WebDriver front end the tray app's UI tests talk to.
cargo_bin=${CARGO_HOME:-$HOME/.cargo}/bin
if ! command -v tauri-driver >/dev/null && [[ ! -x $cargo_bin/tauri-driver ]]; then
  echo "setup: installing tauri-driver (cargo install)" >&2
  cargo install tauri-driver --version '^2' --locked --quiet
fi

# scripts/fuzz.sh: the nightly toolchain (libFuzzer's instrumentation) and cargo-fuzz.
if command -v rustup >/dev/null && ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "setup: installing the nightly toolchain (for the fuzzers)" >&2
  rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null && [[ ! -x $cargo_bin/cargo-fuzz ]]; then
  echo "setup: installing cargo-fuzz (cargo install)" >&2
  cargo install cargo-fuzz --locked --quiet
fi

lock=packaging/cli/package-lock.json
installed=packaging/cli/node_modules/.package-lock.json
if [[ ! -f $installed || $lock -nt $installed ]]; then
  echo "setup: installing Tauri's CLI (npm ci in packaging/cli)" >&2
  npm ci --prefix packaging/cli --no-audit --no-fund --loglevel=error
fi

lock=tests/compat/package-lock.json
installed=tests/compat/node_modules/.package-lock.json
if [[ ! -f $installed || $lock -nt $installed ]]; then
  echo "setup: installing the Node compatibility peers (npm ci in tests/compat)" >&2
  npm ci --prefix tests/compat --no-audit --no-fund --loglevel=error
fi
