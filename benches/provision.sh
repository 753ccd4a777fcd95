#!/usr/bin/env bash
# Benchmark: provisioning N devices (default 50) with `station provision` against the baseline
# django-devicehub `manage.py iot_provision`, both at Django's default Argon2 parameters
# (m=102400,t=2,p=8), same machine, same run, runs interleaved so both see the same load.
#
#   bash benches/provision.sh [RUNS] [COUNT]
#
# Prints one JSON line per run and a summary line with the medians and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
COUNT=${2:-50}

cargo build --release --locked -q -p station-cli
STATION=$PWD/target/release/station
bash server/setup-venv.sh >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

now() { python3 -c 'import time; print(time.monotonic())'; }
station_s=()
django_s=()
for run in $(seq 1 "$RUNS"); do
  db="$work/station-$run.sqlite3"
  STATION_DB=$db "$STATION" type add WeatherStation --app-label myapp >/dev/null
  STATION_DB=$db "$STATION" settings get hash_algorithm >&2
  t0=$(now)
  STATION_DB=$db "$STATION" provision weatherstation --count "$COUNT" --prefix farm- | cat >/dev/null
  t1=$(now)
  s=$(python3 -c "print(round($t1 - $t0, 3))")
  n=$(STATION_DB=$db "$STATION" devices list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
  [[ $n == "$COUNT" ]] || { echo "station created $n devices, not $COUNT" >&2; exit 1; }
  echo "{\"tool\":\"station provision\",\"run\":$run,\"count\":$COUNT,\"seconds\":$s}"
  station_s+=("$s")
  line=$(bash server/bench_iot_provision.sh --count "$COUNT" --prefix farm- 2>/dev/null)
  echo "$line" | python3 -c "import json,sys; d=json.load(sys.stdin); d['run']=$run; print(json.dumps(d))"
  django_s+=("$(echo "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')")
done
python3 - "${station_s[*]}" "${django_s[*]}" "$COUNT" <<'PY'
import json, statistics, sys
st = [float(x) for x in sys.argv[1].split()]
dj = [float(x) for x in sys.argv[2].split()]
ms, md = statistics.median(st), statistics.median(dj)
print(json.dumps({"summary": "provision", "count": int(sys.argv[3]), "station_median_s": ms,
                  "iot_provision_median_s": md, "speedup": round(md / ms, 2)}))
PY
