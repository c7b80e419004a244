#!/usr/bin/env bash
# The test command: sets up what the tests need, runs them, cleans up.
#   - Python venvs: .venv (moto's server, cfn-lint), .venv-sam (SAM CLI);
#   - the docs' relative links (tests/doc_links.py), first: it takes a second;
#   - moto's server on a free loopback port, stopped on exit;
#   - cargo test (unit + integration), the run-time checks again against
#     the deployed kind of build (musl, static), then the template checks.
# Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/venv.sh
venv=.venv
venv "$venv" scripts/requirements-test.txt
venv .venv-sam scripts/requirements-sam.txt

echo "--- doc links: every relative link in the docs resolves"
"$venv/bin/python" tests/doc_links.py

port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
moto_log=$(mktemp)
# moto's server, made to apply one request at a time like DynamoDB applies
# conditional writes (see the script).
"$venv/bin/python" scripts/moto_server_serial.py "$port" >"$moto_log" 2>&1 &
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

# What is deployed is another build: for musl, linked statically (the
# Makefile). The same run-time checks against it: host names, TLS, the
# credential chain, and that no loader has anything to do.
musl=x86_64-unknown-linux-musl
echo "--- the deployed kind: the function for $musl by cargo-lambda, and tests/linking.rs against it"
rustup target list --installed | grep -qx "$musl" || rustup target add "$musl"
PATH="$PWD/$venv/bin:$PATH" cargo lambda build --target "$musl" --bin ecs-slack-notifier --lambda-dir target/deployed-kind
NOTIFIER_BINARY=target/deployed-kind/ecs-slack-notifier/bootstrap NOTIFIER_LINKED=static cargo test --test linking

echo "--- template checks: cfn-lint, sam validate --lint, rule patterns against moto"
"$venv/bin/cfn-lint" template.yaml
SAM_CLI_TELEMETRY=0 .venv-sam/bin/sam validate --lint --template template.yaml
"$venv/bin/python" tests/template_patterns.py
"$venv/bin/python" scripts/test_fault_layer.py
