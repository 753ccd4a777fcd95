#!/usr/bin/env bash
# Benchmark: CSV export of 100,000 devices: wall time and peak resident memory, against two
# baselines in the same run: exporting 1,000 devices (memory should not grow with the row
# count: the export streams) and Python's csv module writing the same columns straight from
# SQLite (how fast a minimal exporter is on this machine).
#
#   bash benches/export.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-100000}
cargo build --release --locked -q -p station-cli
STATION=$PWD/target/release/station
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

make_db() { # make_db PATH ROWS
  STATION_DB=$1 "$STATION" type add WeatherStation --app-label myapp >/dev/null
  local left=$2
  while ((left > 0)); do
    local n=$((left > 10000 ? 10000 : left))
    STATION_DB=$1 "$STATION" batch create WeatherStation --count "$n" --prefix farm- >/dev/null
    left=$((left - n))
  done
}
measure() { # measure LABEL ROWS CMD...
  local label=$1 rows=$2; shift 2
  /usr/bin/time -o "$work/time" -f '%e %M' "$@" >/dev/null 2>&1
  read -r secs kib <"$work/time"
  echo "{\"bench\":\"$label\",\"rows\":$rows,\"seconds\":$secs,\"peak_rss_kib\":$kib}"
}

make_db "$work/big.sqlite3" "$ROWS"
make_db "$work/small.sqlite3" 1000
measure "station csv export" "$ROWS" env STATION_DB="$work/big.sqlite3" "$STATION" devices export --csv "$work/big.csv"
measure "station csv export (baseline: 1000 rows)" 1000 env STATION_DB="$work/small.sqlite3" "$STATION" devices export --csv "$work/small.csv"
measure "station json export" "$ROWS" env STATION_DB="$work/big.sqlite3" "$STATION" devices export --json "$work/big.json"
lines=$(wc -l <"$work/big.csv")
[[ $lines == $((ROWS + 1)) ]] || { echo "export has $lines lines, expected $((ROWS + 1))" >&2; exit 1; }
cat >"$work/baseline.py" <<'PY'
import csv, sqlite3, sys
con = sqlite3.connect(sys.argv[1])
w = csv.writer(open(sys.argv[2], "w", newline=""))
cur = con.execute("""SELECT d.device_id, d.name, t.name, d.batch_id, d.mqtt_username, d.status,
    d.is_active, d.hardware_id, d.firmware_version, d.generation, d.flash_state, d.flashed_at,
    d.operator, d.station_id, d.created_at, d.updated_at
    FROM devices d JOIN device_types t ON t.id = d.type_id ORDER BY d.device_id""")
for row in cur:
    w.writerow(row)
PY
measure "baseline: python csv module" "$ROWS" python3 "$work/baseline.py" "$work/big.sqlite3" "$work/py.csv"
