#!/usr/bin/env bash
# The burst benchmark, from the repo root: bash bench/burst.sh [ARGS]
# N tasks of one job start and stop together, handled by many execution
# environments with Lambda's retries, against moto and a fake Slack that
# enforces Slack's rate limits (bench/burst.rs). Runs twice: as before
# bursts were handled (no groups, no post queue), then as deployed.
# ARGS go to both runs (e.g. --tasks 100 --environments 60 --speed 2);
# the defaults are the issue's setup.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

source bench/venv.sh

echo "--- build: example burst"
nice -n 10 cargo build --quiet --example burst

source bench/moto.sh burst

bin=${CARGO_TARGET_DIR:-target}/debug/examples/burst
echo "--- before: group_window 0, no post queue"
"$bin" --group-window 0 --no-queue "$@" || true
echo "--- as deployed: group_window 60, post queue"
"$bin" "$@"
echo "--- bench/burst.sh took $(($(date +%s) - start)) s"
