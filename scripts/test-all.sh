#!/usr/bin/env bash
# Sets up and runs every test of DeviceHub Station: formatting, lints, the Python server's
# tests, and every Rust test (unit, integration over real SQLite files and pseudo-terminals,
# and the end-to-end tests against a real Django server). This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-deps.sh

echo "== cargo fmt" >&2
cargo fmt --all -- --check

echo "== cargo clippy" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== server (pytest)" >&2
PY=$(bash server/setup-venv.sh | tail -n 1)
"$(dirname "$PY")/pytest" -q server/tests

echo "== cargo nextest" >&2
cargo nextest run --workspace --locked --no-fail-fast
