#!/usr/bin/env bash
# The performance benchmark, in one command from the repo root: bash bench/run.sh
#   1. the Python venv bench/.venv (moto, boto3, awslambdaric, cargo-lambda);
#   2. release builds in target/bench (a target dir of its own, so it never
#      waits on another cargo's lock): the echo floor as the smallest Rust
#      Lambda is usually built (glibc, dynamic) and linked as the notifier
#      is (musl, static);
#   3. the criterion pure-path bench, built the deployed way (musl), its
#      output kept for the harness;
#   4. the notifier as deployed: for musl, linked statically, by
#      cargo-lambda, as the Makefile builds it for arm64 (here for this
#      machine's x86_64);
#   5. bench/harness.py: cold starts, warm stream, round trips, memory,
#      sizes; prints a table and JSON, and writes bench/results.json.
# Extra arguments go to the harness (e.g. --rounds 15 --tasks 200).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="$PWD/target/bench"
start=$(date +%s)
musl=x86_64-unknown-linux-musl
source bench/venv.sh
export PATH="$PWD/$venv/bin:$PATH"  # cargo-lambda, and the Python whose ziglang it links with

# Compiles run niced: the machine is small and others may be building.
echo "--- release builds: echo_floor for $musl (cargo lambda) and for glibc"
rustup target list --installed | grep -qx "$musl" || rustup target add "$musl"
nice -n 10 cargo lambda build --release --target "$musl" --example echo_floor
nice -n 10 cargo build --release --example echo_floor

echo "--- cargo bench --bench pure_path, for $musl"
# Built niced, by cargo-lambda (its zig compiles the C code for musl); then
# the bench executable itself runs at normal priority.
# A bench target builds the package's binaries too, with the dev-dependencies'
# features: its own --lambda-dir keeps that build of the notifier out of
# target/bench/lambda, which the next step fills with the deployed one.
nice -n 10 cargo lambda build --release --target "$musl" --bench pure_path --message-format json-render-diagnostics \
  --lambda-dir "$CARGO_TARGET_DIR/lambda-with-dev-features" > "$CARGO_TARGET_DIR/pure_path-build.json"
exe=$("$venv/bin/python" -c '
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "pure_path" and m.get("executable"):
        print(m["executable"])' "$CARGO_TARGET_DIR/pure_path-build.json" | tail -n 1)
[ -x "$exe" ] || { echo "no pure_path bench executable found" >&2; exit 1; }
"$exe" --bench --warm-up-time 1 --measurement-time 3 | tee "$CARGO_TARGET_DIR/pure_path.txt"

echo "--- release build: ecs-slack-notifier for $musl (cargo lambda), as the Makefile builds it for arm64"
# Last, and on its own: built with the bench above, it would carry the
# dev-dependencies' features (a bigger binary than is deployed).
nice -n 10 cargo lambda build --release --target "$musl" --bin ecs-slack-notifier

echo "--- harness"
"$venv/bin/python" bench/harness.py --criterion "$CARGO_TARGET_DIR/pure_path.txt" "$@"
echo "--- bench/run.sh took $(($(date +%s) - start)) s"
