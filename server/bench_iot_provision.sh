#!/usr/bin/env bash
# Baseline benchmark: django-devicehub's own bulk provisioning command.
#
#   bash server/bench_iot_provision.sh [--count N] [--prefix P] [--output FILE]
#
# Sets up the venv (setup-venv.sh) and a fresh SQLite DB for server/testproject
# in a temp dir, runs `manage.py migrate`, then times ONE fresh process of
#
#   manage.py iot_provision weatherstation --count N --prefix P
#
# as a user runs it (interpreter start, Django setup, N x generate_credentials()
# with Django's default Argon2 parameters m=102400,t=2,p=8, N inserts, JSON out).
# Venv setup and migrate are not measured. Afterwards (also not measured) it
# checks that N devices were created and that their hashes carry the default
# Argon2 parameters.
#
# stdout: exactly one JSON line, e.g. {"tool":"iot_provision","count":50,"seconds":5.27}
# stderr: everything else. Defaults: N=50, P=farm-. --output keeps the
# credentials JSON the command printed (otherwise it is deleted with the temp dir).
set -euo pipefail

SERVER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
COUNT=50
PREFIX="farm-"
KEEP_OUTPUT=""

while [[ $# -gt 0 ]]; do
    case "$1" in
        --count) COUNT="$2"; shift 2 ;;
        --prefix) PREFIX="$2"; shift 2 ;;
        --output) KEEP_OUTPUT="$2"; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench_iot_provision: unknown argument: $1" >&2; exit 2 ;;
    esac
done
if ! [[ "$COUNT" =~ ^[1-9][0-9]*$ ]]; then
    echo "bench_iot_provision: --count must be a positive integer" >&2
    exit 2
fi

PY="$(bash "$SERVER_DIR/setup-venv.sh" | tail -n 1)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/devicehub-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

export DJANGO_SETTINGS_MODULE=testproject.settings
export DEVICEHUB_RUN_DIR="$WORK"
export DEVICEHUB_DB="$WORK/bench.sqlite3"
export PYTHONDONTWRITEBYTECODE=1
MANAGE="$SERVER_DIR/testproject/manage.py"

"$PY" "$MANAGE" migrate --verbosity 0 >&2

# --- measured: one fresh process, exactly the user's command line ---------
start_ns=$(date +%s%N)
"$PY" "$MANAGE" iot_provision weatherstation --count "$COUNT" --prefix "$PREFIX" \
    >"$WORK/credentials.json" 2>"$WORK/stderr.txt"
end_ns=$(date +%s%N)
# ---------------------------------------------------------------------------

if [[ -n "$KEEP_OUTPUT" ]]; then
    cp "$WORK/credentials.json" "$KEEP_OUTPUT"
fi

# Sanity checks (not measured): the command did what it should.
PYTHONPATH="$SERVER_DIR/testproject" "$PY" - "$WORK/credentials.json" "$COUNT" "$PREFIX" >&2 <<'PYEOF'
import json, sys
import django
django.setup()
from myapp.models import WeatherStationDevice

path, count, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
out = json.load(open(path))
assert out["count"] == count, f"iot_provision reported {out['count']} devices, expected {count}"
ids = [d["device_id"] for d in out["devices"]]
want = [f"{prefix}weatherstation-{i:03d}" for i in range(1, count + 1)]
assert ids == want, f"unexpected device ids: {ids[:3]}..."
hashes = list(WeatherStationDevice.objects.values_list("mqtt_password_hash", flat=True))
assert len(hashes) == count, f"{len(hashes)} devices in the DB, expected {count}"
prefix_hash = "argon2$argon2id$v=19$m=102400,t=2,p=8$"
assert all(h.startswith(prefix_hash) for h in hashes), "hash parameters are not Django's defaults"
PYEOF

"$PY" -c '
import json, sys
count, start, end = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
print(json.dumps({"tool": "iot_provision", "count": count, "seconds": round((end - start) / 1e9, 3)}, separators=(",", ":")))
' "$COUNT" "$start_ns" "$end_ns"
