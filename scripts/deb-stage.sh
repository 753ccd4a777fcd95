#!/usr/bin/env bash
# Stages what the .deb carries besides the app (tauri.conf.json's bundle.linux.deb.files): the
# `station` CLI built in the app's profile, and the shell completions and man pages that very
# binary generates from its own clap definition (`station generate-docs`). The udev rule and the
# maintainer scripts are plain files under packaging/deb/.
#
# `tauri build` runs this as its beforeBundleCommand, with TAURI_ENV_DEBUG=true under --debug.
# Run scripts/build-deb.sh to build the package.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
cargo_profile=(--release)
if [[ "${TAURI_ENV_DEBUG:-false}" == true ]]; then
  profile=debug
  cargo_profile=()
fi
# The one staging folder tauri.conf.json names; it holds one profile's files at a time.
stage=target/deb-staging

echo "deb-stage: building the station CLI ($profile)" >&2
cargo build --locked -p station-cli --bin station "${cargo_profile[@]}"
rm -rf "$stage"
mkdir -p "$stage/bin"
cp "${CARGO_TARGET_DIR:-target}/$profile/station" "$stage/bin/station"
"$stage/bin/station" generate-docs --out-dir "$stage/docs"
# The app takes no arguments: its page is a plain file.
cp packaging/deb/station-app.1 "$stage/docs/man1/"
# Debian installs man pages compressed; -n keeps the package reproducible (no name or time).
gzip -9nf "$stage/docs/man1/"*.1
# Debian's machine-readable copyright file, from LICENSE (its text, one space in, "." for blank).
{
  echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
  echo "Upstream-Name: DeviceHub Station"
  echo
  echo "Files: *"
  echo "Copyright: $(sed -n 's/^Copyright (c) //p' LICENSE)"
  echo "License: MIT"
  sed -n '/^Permission/,$p' LICENSE | sed 's/^$/./; s/^/ /'
} >"$stage/docs/copyright"
echo "deb-stage: staged $(find "$stage" -type f | wc -l) files in $stage" >&2
