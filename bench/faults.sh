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

port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p target/bench/logs
# One request at a time, with the fault layer (scripts/moto_server_serial.py).
"$venv/bin/python" scripts/moto_server_serial.py "$port" > target/bench/logs/faults-moto.log 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  curl -s -o /dev/null "http://127.0.0.1:$port/moto-api/" && break
  sleep 0.2
done
export MOTO_ENDPOINT="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1

status=0
"${CARGO_TARGET_DIR:-target}/debug/examples/faults" "$@" || status=$?
echo "--- bench/faults.sh took $(($(date +%s) - start)) s"
exit $status
