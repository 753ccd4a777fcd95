#!/usr/bin/env bash
# Sets up and runs the DeviceHub Station desktop app on embedded defaults: a local SQLite file
# (the OS data folder, or $STATION_DB), a simulated device when no hardware is attached, and
# sync off until a server is configured (Settings → Server).
#
# On a fresh Debian 12 it installs what it needs first: the Debian packages
# (scripts/setup-deps.sh), Node.js and npm when missing, the UI's npm packages (npm ci, which
# also brings the Tauri CLI, @tauri-apps/cli@2), then builds the UI and the app and starts it.
#
#   bash scripts/run.sh            # debug build (shares its build with scripts/test-all.sh)
#   bash scripts/run.sh --release  # optimised build through the Tauri CLI
#
# Anything after `--` is passed to the app. Needs a desktop session (a display); on a headless
# machine, try it under `xvfb-run`.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=debug
if [[ "${1:-}" == "--release" ]]; then
  profile=release
  shift
fi
[[ "${1:-}" == "--" ]] && shift

bash scripts/setup-deps.sh

if ! command -v npm >/dev/null; then
  echo "run: installing Node.js and npm (Debian packages)" >&2
  SUDO=""; [[ $(id -u) == 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >&2
fi

echo "run: installing the UI's packages and the Tauri CLI (npm ci)" >&2
(cd ui && npm ci --no-audit --no-fund --loglevel=error >&2)

if [[ $profile == release ]]; then
  echo "run: building the app with the Tauri CLI (release; the first build takes several minutes)" >&2
  ui/node_modules/.bin/tauri build --no-bundle >&2
  app=target/release/station-app
else
  echo "run: building the UI and the app (the first build takes several minutes)" >&2
  (cd ui && npm run build --silent >&2)
  cargo build -p station-app --locked >&2
  app=target/debug/station-app
fi

if [[ -z "${DISPLAY:-}" && -z "${WAYLAND_DISPLAY:-}" ]]; then
  echo "run: no display to open the station's window on: run this on the station's desktop," >&2
  echo "     or try it headless with: xvfb-run -a $app" >&2
  exit 1
fi

echo "run: starting DeviceHub Station (database: ${STATION_DB:-the OS data folder})" >&2
exec "$app" "$@"
