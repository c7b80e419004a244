#!/usr/bin/env bash
# The test command: sets up what the tests need, runs them, cleans up.
#   - a Python venv (.venv) with moto's server and cfn-lint;
#   - moto_server on a free loopback port, stopped on exit;
#   - cargo test (unit + integration), then the template checks.
# Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
requirements=scripts/requirements-test.txt
stamp="$venv/.requirements.sha"
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "--- setting up $venv (moto, cfn-lint)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" > "$stamp"
fi

port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
moto_log=$(mktemp)
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$moto_log" 2>&1 &
moto_pid=$!
cleanup() { kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; rm -f "$moto_log"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  if "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then cat "$moto_log"; echo "moto_server failed to start" >&2; exit 1; fi
  sleep 0.2
done
export MOTO_ENDPOINT="http://127.0.0.1:$port"
# Dummy credentials and region for the SDKs talking to moto.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
echo "--- moto_server on $MOTO_ENDPOINT"

echo "--- cargo test"
cargo test --all-targets "$@"

echo "--- template checks"
"$venv/bin/cfn-lint" template.yaml
"$venv/bin/python" tests/template_patterns.py
