#!/usr/bin/env bash
# Builds the DeviceHub Station .deb: the desktop app (/usr/bin/station-app), the `station` CLI
# (/usr/bin/station) with bash, zsh and fish completions and man pages, and the udev rule that
# gives the desktop user the USB-serial ports (packaging/deb/). `tauri build` builds the UI and
# the app, then runs scripts/deb-stage.sh (its beforeBundleCommand) for the CLI's files.
#
#   scripts/build-deb.sh            release build (what a factory installs)
#   scripts/build-deb.sh --debug    debug build: reuses the test build (scripts/deb-test.sh)
#
# Prints the path of the .deb on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
tauri_args=(build --bundles deb)
case "${1:-}" in
"") ;;
--debug)
  profile=debug
  tauri_args+=(--debug)
  ;;
*)
  echo "usage: scripts/build-deb.sh [--debug]" >&2
  exit 2
  ;;
esac

[[ -x ui/node_modules/.bin/tauri ]] || (cd ui && npm ci --no-audit --no-fund --loglevel=error >&2)
bundle_dir="${CARGO_TARGET_DIR:-target}/$profile/bundle/deb"
rm -f "$bundle_dir"/*.deb
ui/node_modules/.bin/tauri "${tauri_args[@]}" >&2
debs=("$bundle_dir"/*.deb)
if [[ ${#debs[@]} -ne 1 || ! -f ${debs[0]} ]]; then
  echo "build-deb: expected one .deb in $bundle_dir, found: ${debs[*]}" >&2
  exit 1
fi
echo "${debs[0]}"
