#!/usr/bin/env bash
# The performance benchmark, in one command from the repo root: bash bench/run.sh
#   1. release builds of the notifier and the echo floor, in target/bench
#      (a target dir of its own, so it never waits on another cargo's lock);
#   2. the criterion pure-path bench, output kept for the harness;
#   3. the Python venv bench/.venv (moto, boto3, awslambdaric);
#   4. bench/harness.py: cold starts, warm stream, round trips, memory,
#      sizes; prints a table and JSON, and writes bench/results.json.
# Extra arguments go to the harness (e.g. --rounds 15 --tasks 200).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="$PWD/target/bench"
start=$(date +%s)

# Compiles run niced: the machine is small and others may be building.
echo "--- release build: ecs-slack-notifier, example echo_floor"
nice -n 10 cargo build --release --bin ecs-slack-notifier --example echo_floor

echo "--- cargo bench --bench pure_path"
# Built niced; then the bench executable itself runs at normal priority.
nice -n 10 cargo bench --bench pure_path --no-run 2>&1 | tee "$CARGO_TARGET_DIR/pure_path-build.txt"
exe=$(sed -n 's/^ *Executable .*(\(.*\))$/\1/p' "$CARGO_TARGET_DIR/pure_path-build.txt" | tail -n 1)
[ -x "$exe" ] || { echo "no pure_path bench executable found" >&2; exit 1; }
"$exe" --bench --warm-up-time 1 --measurement-time 3 | tee "$CARGO_TARGET_DIR/pure_path.txt"

source bench/venv.sh

echo "--- harness"
"$venv/bin/python" bench/harness.py --criterion "$CARGO_TARGET_DIR/pure_path.txt" "$@"
echo "--- bench/run.sh took $(($(date +%s) - start)) s"
