#!/usr/bin/env bash
# Create (or reuse) the venv holding the vendor tools of tools/vendor/requirements.txt.
#
#   bash tools/vendor/setup-venv.sh      # -> last stdout line: /abs/path/to/venv/bin
#
# STATION_VENDOR_VENV overrides the venv directory (default: tools/vendor/.venv). Idempotent:
# a stamp holds the sha256 of requirements.txt and the interpreter version; concurrent callers
# (parallel tests) are serialised with flock. Everything but the final line goes to stderr.
set -euo pipefail
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REQ="$DIR/requirements.txt"
VENV="${STATION_VENDOR_VENV:-$DIR/.venv}"
mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9
WANT="$(sha256sum "$REQ" | cut -d' ' -f1) $(python3 -c 'import sys; print(sys.version)')"
if [[ ! -f "$VENV/.stamp" || "$(cat "$VENV/.stamp")" != "$WANT" ]]; then
  echo "vendor-tools: building $VENV" >&2
  python3 -m venv --clear "$VENV" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQ" >&2
  "$VENV/bin/pip" check >&2
  echo "$WANT" > "$VENV/.stamp"
fi
echo "$VENV/bin"
