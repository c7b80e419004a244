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

port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p target/bench/logs
# One request at a time, as the tests run it: moto's DynamoDB takes no lock.
"$venv/bin/python" scripts/moto_server_serial.py "$port" > target/bench/logs/burst-moto.log 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  curl -s -o /dev/null "http://127.0.0.1:$port/moto-api/" && break
  sleep 0.2
done
export MOTO_ENDPOINT="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1

bin=${CARGO_TARGET_DIR:-target}/debug/examples/burst
echo "--- before: group_window 0, no post queue"
"$bin" --group-window 0 --no-queue "$@" || true
echo "--- as deployed: group_window 60, post queue"
"$bin" "$@"
echo "--- bench/burst.sh took $(($(date +%s) - start)) s"
