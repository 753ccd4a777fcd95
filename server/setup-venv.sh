#!/usr/bin/env bash
# Create (or reuse) the Python virtualenv for the server-side interop tools.
#
#   bash server/setup-venv.sh            # -> last stdout line: /abs/path/to/.venv/bin/python
#
# Environment:
#   DEVICEHUB_VENV    venv directory (default: server/.venv)
#   DEVICEHUB_PYTHON  interpreter to build it from (default: python3; needs >= 3.10)
#
# Idempotent and fast when already set up: the venv holds a stamp file with the
# sha256 of requirements.txt + the interpreter version; if it matches, nothing is
# installed. Otherwise the venv is rebuilt from scratch (`venv --clear`) with the
# exact pins of requirements.txt, then checked with `pip check`.
# Concurrent callers (e.g. parallel Rust tests) are serialised with flock.
# Everything except the final python path goes to stderr.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REQ="$SCRIPT_DIR/requirements.txt"
# The station-sync receiver app, installed editable (pip-installable like any Django app).
SYNC_APP="$SCRIPT_DIR/devicehub_station_sync"
VENV="${DEVICEHUB_VENV:-$SCRIPT_DIR/.venv}"
BASE_PY="${DEVICEHUB_PYTHON:-python3}"
STAMP_FORMAT=1

mkdir -p "$(dirname "$VENV")"
VENV="$(cd "$(dirname "$VENV")" && pwd)/$(basename "$VENV")"
VPY="$VENV/bin/python"
STAMP="$VENV/.devicehub-venv-stamp"

if ! command -v "$BASE_PY" >/dev/null 2>&1; then
    echo "setup-venv: interpreter '$BASE_PY' not found" >&2
    exit 1
fi
PY_VERSION="$("$BASE_PY" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
if ! "$BASE_PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
    echo "setup-venv: need Python >= 3.10 (Django 5.2), got $PY_VERSION" >&2
    exit 1
fi

WANT="$( { echo "format=$STAMP_FORMAT python=$PY_VERSION"; cat "$REQ" "$SYNC_APP/pyproject.toml"; } | sha256sum | cut -d' ' -f1)"

is_current() {
    [[ -x "$VPY" && -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]
}

if ! is_current; then
    exec 9>"${VENV}.lock"
    flock 9
    # Another caller may have finished the build while we waited for the lock.
    if ! is_current; then
        start=$(date +%s)
        if [[ -e "$VENV" && ! -f "$VENV/pyvenv.cfg" && -n "$(ls -A "$VENV")" ]]; then
            echo "setup-venv: $VENV exists and is not a virtualenv; refusing to clear it" >&2
            exit 1
        fi
        echo "setup-venv: building $VENV (python $PY_VERSION)" >&2
        rm -f "$STAMP"
        "$BASE_PY" -m venv --clear "$VENV" >&2
        PIP_DISABLE_PIP_VERSION_CHECK=1 "$VPY" -m pip install --quiet -r "$REQ" >&2
        PIP_DISABLE_PIP_VERSION_CHECK=1 "$VPY" -m pip install --quiet --no-deps -e "$SYNC_APP" >&2
        PIP_DISABLE_PIP_VERSION_CHECK=1 "$VPY" -m pip check >&2
        # Verify the pins actually landed (pip may have resolved differently).
        "$VPY" - "$REQ" >&2 <<'PYEOF'
import re, sys
from importlib.metadata import version
bad = []
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, want = re.split(r"==", line, maxsplit=1)
    have = version(name.strip())
    if have != want.strip():
        bad.append(f"{name}: want {want.strip()}, have {have}")
if bad:
    sys.exit("setup-venv: pins not honoured: " + "; ".join(bad))
PYEOF
        echo "$WANT" >"$STAMP.tmp"
        mv "$STAMP.tmp" "$STAMP"
        echo "setup-venv: done in $(( $(date +%s) - start ))s" >&2
    fi
    flock -u 9
fi

echo "$VPY"
