#!/usr/bin/env bash
# The fault benchmark, from the repo root: bash bench/faults.sh [ARGS]
# Exactly once on DynamoDB as it answers under load (bench/faults.rs):
# single runs and a group over three seeds, with faults injected by the
# moto server's fault layer; with --fan-out N, then an N-task fan-out's item sizes and
# write costs. ARGS go to the run (defaults --tasks 60 --group 40 --seeds 3
# --fan-out 0; add --verbose for every task). Exits 1 when any task came out wrong.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

source bench/venv.sh

echo "--- build: example faults"
nice -n 10 cargo build --quiet --example faults

source bench/moto.sh faults

status=0
"${CARGO_TARGET_DIR:-target}/debug/examples/faults" "$@" || status=$?
echo "--- bench/faults.sh took $(($(date +%s) - start)) s"
exit $status
