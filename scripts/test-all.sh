#!/usr/bin/env bash
# Sets up and runs every test of DeviceHub Station: formatting, lints, the Python server's
# tests, and every Rust test (unit, integration over real SQLite files and pseudo-terminals,
# and the end-to-end tests against a real Django server). This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-deps.sh

# A cold build of everything (the desktop app, every test binary) takes about 2.5 GB of target/.
# Say so up front when the disk cannot hold it, instead of failing mid-link with a bus error.
need_kib=$((3 * 1024 * 1024))
mkdir -p target
free_kib=$(df -Pk target | awk 'NR == 2 { print $4 }')
echo "== disk: $((free_kib / 1024)) MiB free for target/" >&2
if ((free_kib < need_kib)); then
  echo "warning: less than $((need_kib / 1024)) MiB free; the build may fail with 'No space left on device'." >&2
  echo "         free space, or point CARGO_TARGET_DIR at a larger disk." >&2
fi
# CI builds once from a clean clone: incremental caches would only cost disk (about 1 GB).
if [[ -n "${CI:-}" ]]; then export CARGO_INCREMENTAL=0; fi

echo "== cargo fmt" >&2
cargo fmt --all -- --check

echo "== cargo clippy" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== server (pytest)" >&2
PY=$(bash server/setup-venv.sh | tail -n 1)
"$(dirname "$PY")/pytest" -q server/tests
# --- station-sync receiver on PostgreSQL (concurrent stations, real row locking) ---
echo "== server (pytest, station-sync on PostgreSQL)" >&2
bash server/pg-test.sh "$(dirname "$PY")/pytest" -q server/tests/test_station_sync.py
# --- end station-sync ---

# --- firmware (C device module): host unit tests against docs/protocol.md, then a bounded
# --- libFuzzer run of the frame parser with ASan/UBSan. The QEMU end-to-end tests run in nextest.
echo "== firmware (unit tests, ${FIRMWARE_FUZZ_SECONDS:-25} s fuzz)" >&2
make -C firmware test FUZZ_SECONDS="${FIRMWARE_FUZZ_SECONDS:-25}"
# --- end firmware

# --- desktop app (ui/, src-tauri/): the UI's unit tests (Vitest, mocked IPC), then the app's
# --- end-to-end suite: the real binary through tauri-driver and WebKitWebDriver under Xvfb,
# --- flashing simulated units on pseudo-terminals. The UI is built before the workspace's
# --- test build so the app embeds it; the E2E run uses the same --workspace selection as the
# --- nextest run below, so nothing is compiled twice.
echo "== ui (type check, vitest)" >&2
if ! command -v npm >/dev/null; then
  SUDO=""; [[ $(id -u) == 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >&2
fi
(cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run check && npm test && npm run build)
echo "== app end-to-end (tauri-driver, Xvfb)" >&2
command -v tauri-driver >/dev/null || cargo install tauri-driver --locked >&2
xvfb-run -a -s "-screen 0 1280x800x24" \
  cargo nextest run --workspace --locked --run-ignored only --no-capture \
  -E 'package(station-app) & binary(/^e2e/)'
# --- end desktop app ---

# --- vendor tools: the real esptool, Espressif's NVS generator, smpclient and smpmgr, which the
# --- simulators and the NVS image builder are cross-checked against (their tests reuse this venv).
echo "== vendor tools venv" >&2
bash tools/vendor/setup-venv.sh >/dev/null || bash tools/vendor/setup-venv.sh >/dev/null
# --- end vendor tools

echo "== cargo nextest" >&2
cargo nextest run --workspace --locked --no-fail-fast

# --- the sync token in a real Secret Service: gnome-keyring under a private dbus-run-session
# --- (its own keyring folder; the user's is never touched), the CLI's ignored secret_service tests.
echo "== sync token in a real Secret Service" >&2
bash scripts/secret-service-test.sh
