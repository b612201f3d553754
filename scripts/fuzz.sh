#!/usr/bin/env bash
# Runs each fuzz target (fuzz/fuzz_targets) for a bounded time with
# `cargo +nightly fuzz`, and fails when one finds a crash.
#
#   scripts/fuzz.sh                 every target, FUZZ_SECONDS (60) each
#   FUZZ_SECONDS=600 scripts/fuzz.sh event_decode
#
# The committed corpus (fuzz/corpus/<target>) is read as seeds and never
# written to: what a run finds goes to fuzz/target/corpus/<target>, which
# later runs start from too. A crash is saved under fuzz/artifacts/<target>/
# and reproduced with `cargo +nightly fuzz run -a <target> <file>`; minimise
# it with `cargo +nightly fuzz tmin`, fix it with a unit test, and add it to
# the committed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-60}"
targets=("$@")
((${#targets[@]})) || targets=(event_decode catch_up_page server_bodies)

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

# One build directory for every target and every run, whatever
# CARGO_TARGET_DIR says (the main workspace's builds use other flags). One
# build of all targets first, so each run below only starts its binary.
export CARGO_TARGET_DIR="$PWD/fuzz/target"
# Debug assertions cost no extra build (the one build has them) and catch
# arithmetic overflow in the code under test.
flags=(--debug-assertions)
cargo +nightly fuzz build "${flags[@]}"

# Longest input per target: the JSON bodies the targets read stay small
# (event_decode repeats its strings to reach the 64 KiB caps).
declare -A max_len=([event_decode]=4096 [catch_up_page]=16384 [server_bodies]=4096)

failed=()
for target in "${targets[@]}"; do
  scratch="fuzz/target/corpus/$target"
  mkdir -p "$scratch" "fuzz/corpus/$target"
  echo "fuzz: $target for ${seconds}s" >&2
  # New inputs go to the first directory only: the scratch one.
  if ! cargo +nightly fuzz run "${flags[@]}" "$target" "$scratch" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -max_len="${max_len[$target]:-4096}" -print_final_stats=1; then
    failed+=("$target")
  fi
done

if ((${#failed[@]})); then
  echo "fuzz: crashes in ${failed[*]}; see fuzz/artifacts/" >&2
  exit 1
fi
