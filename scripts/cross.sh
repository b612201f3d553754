#!/usr/bin/env bash
# Herald on Windows and macOS, from this Linux machine (scripts/setup.sh
# installs the Rust targets, mingw-w64 and wine64):
#
# 1. `cargo clippy` (a `cargo check` with the lints) of every product crate
#    for x86_64-pc-windows-msvc and aarch64-apple-darwin: the window app,
#    the agent, the CLI, the core and the IPC; herald-server (and
#    herald-core's tests) for x86_64-pc-windows-gnu, as said below. Any
#    fails the run on a compile error.
# 2. The headless crates' tests (herald-core, herald-ipc, herald-cli) built
#    for x86_64-pc-windows-gnu with mingw-w64 and run under wine64: the
#    Windows code paths (registry, named pipe, Credential Manager, SQLite,
#    sockets) for real, with the count of tests run and passed printed.
#
# Neither SDK is here: no Windows SDK for MSVC's C, no macOS SDK's headers.
# So bundled SQLite's C build is skipped for the two checks
# (LIBSQLITE3_SYS_USE_PKG_CONFIG: the check needs no C object), and
# herald-core's macOS notifier is objc2 (pure Rust bindings), not a crate
# that compiles Objective-C against the SDK. mingw-w64 is a real C compiler and linker, so
# the wine build carries bundled SQLite as the Windows package would.
set -euo pipefail
cd "$(dirname "$0")/.."

# Not product code: the Linux desktop test harness (X11, D-Bus, /proc) and
# the benchmarks, which measure Linux processes.
linux_only=(--exclude herald-system-tests --exclude herald-bench --exclude tauri-peer)

# wry's macOS webview compiles one small Objective-C file
# (objc2-exception-helper's try_catch.m, which includes no header): clang
# targets Apple natively, and llvm-ar archives Mach-O objects.
export CC_aarch64_apple_darwin=clang AR_aarch64_apple_darwin=llvm-ar

# herald-server serves TLS with rustls on ring, and ring compiles C that
# includes the C library's headers, which neither SDK-less target has. So
# ring's dependents (herald-server, and herald-core's tests, which run a
# hub with a test CA) are checked for x86_64-pc-windows-gnu instead, where
# mingw-w64 is a real C toolchain: there they build, and herald-core's tests
# run under wine below. Everything else, the window app, the agent, the CLI,
# herald-core's library and the IPC, is checked for both SDK-less targets.
for target in x86_64-pc-windows-msvc aarch64-apple-darwin; do
  echo "cross: cargo clippy --target $target" >&2
  # clippy is `cargo check` plus the lints: warnings are errors on every OS.
  LIBSQLITE3_SYS_USE_PKG_CONFIG=1 PKG_CONFIG_ALLOW_CROSS=1 \
    cargo clippy --workspace "${linux_only[@]}" --exclude herald-server --exclude herald-core \
    --all-targets --locked --target "$target" -- -D warnings
  LIBSQLITE3_SYS_USE_PKG_CONFIG=1 PKG_CONFIG_ALLOW_CROSS=1 \
    cargo clippy -p herald-core --lib --bins --locked --target "$target" -- -D warnings
done

export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
echo "cross: cargo clippy --target x86_64-pc-windows-gnu (herald-server, herald-core's tests)" >&2
# herald-server's own tests are left out: their push service and SMTP peers
# (ece, mailin-embedded) link OpenSSL, which mingw-w64 does not have.
cargo clippy -p herald-core --all-targets --locked --target x86_64-pc-windows-gnu -- -D warnings
cargo clippy -p herald-server --lib --bins --locked --target x86_64-pc-windows-gnu -- -D warnings

# The tests under wine. Its prefix is a throwaway one, made on first use.
export WINEPREFIX=${WINEPREFIX:-${CARGO_TARGET_DIR:-$PWD/target}/wine}
export WINEDEBUG=-all
# Debian's wine64 package keeps its loader out of PATH.
wine=$(command -v wine64 || echo /usr/lib/wine/wine64)
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=$wine
mkdir -p "$WINEPREFIX"
# Wine 8 lacks bcryptprimitives.dll, which every Rust program needs at start
# (std's randomness); scripts/wine/ has a ProcessPrng forwarding to
# RtlGenRandom. It goes into this prefix alone. wineboot makes the prefix
# first, so that its system32 exists.
"$wine" wineboot --init >/dev/null 2>&1 || true
x86_64-w64-mingw32-gcc -O2 -shared -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
  scripts/wine/bcryptprimitives.c -ladvapi32
crates=(-p herald-core -p herald-ipc -p herald-cli)
echo "cross: cargo test --target x86_64-pc-windows-gnu under wine64" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test "${crates[@]}" --locked --target x86_64-pc-windows-gnu --no-fail-fast 2>&1 | tee "$log" || status=$?
# "test result: ok. 12 passed; 0 failed; 0 ignored; ..." per test binary.
awk '/^test result:/ { p += $4; f += $6; n += $4 + $6 }
     END { printf "cross: wine ran %d tests of herald-core, herald-ipc and herald-cli: %d passed, %d failed\n", n, p, f }' "$log" >&2
exit "$status"
