#!/usr/bin/env bash
# A local stand-in for AWS and Slack, for runs with no AWS account (see
# docs/development.md): moto's server with the table template.yaml
# defines, and a fake Slack that prints every message it is sent. The
# function's environment goes to target/local-stack.env, for
# `cargo lambda watch --env-file target/local-stack.env`.
# Usage: scripts/local-stack.sh [--moto-port N] [--slack-port N]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
venv .venv scripts/requirements-test.txt
exec .venv/bin/python scripts/local_stack.py target/local-stack.env "$@"
