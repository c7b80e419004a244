#!/usr/bin/env bash
# The performance benchmark, in one command from the repo root: bash bench/run.sh
#   1. release builds in target/bench (a target dir of its own, so it never
#      waits on another cargo's lock): the notifier as deployed (musl,
#      linked statically, by cargo-lambda, as the Makefile builds it for
#      arm64, here for this machine's x86_64), the echo floor as the smallest
#      Rust Lambda is usually built (glibc, dynamic) and the floor linked as
#      the notifier is;
#   2. the criterion pure-path bench, built the deployed way too, its output
#      kept for the harness;
#   3. the Python venv bench/.venv (moto, boto3, awslambdaric);
#   4. bench/harness.py: cold starts, warm stream, round trips, memory,
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
echo "--- release builds: ecs-slack-notifier and echo_floor for $musl (cargo lambda), echo_floor for glibc"
rustup target add "$musl"
nice -n 10 cargo lambda build --release --target "$musl" --bin ecs-slack-notifier
nice -n 10 cargo lambda build --release --target "$musl" --example echo_floor
nice -n 10 cargo build --release --example echo_floor

echo "--- cargo bench --bench pure_path, for $musl"
# Built niced, by cargo-lambda (its zig compiles the C code for musl); then
# the bench executable itself runs at normal priority.
nice -n 10 cargo lambda build --release --target "$musl" --bench pure_path --message-format json-render-diagnostics \
  > "$CARGO_TARGET_DIR/pure_path-build.json"
exe=$("$venv/bin/python" -c '
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "pure_path" and m.get("executable"):
        print(m["executable"])' "$CARGO_TARGET_DIR/pure_path-build.json" | tail -n 1)
[ -x "$exe" ] || { echo "no pure_path bench executable found" >&2; exit 1; }
"$exe" --bench --warm-up-time 1 --measurement-time 3 | tee "$CARGO_TARGET_DIR/pure_path.txt"

echo "--- harness"
"$venv/bin/python" bench/harness.py --criterion "$CARGO_TARGET_DIR/pure_path.txt" "$@"
echo "--- bench/run.sh took $(($(date +%s) - start)) s"
