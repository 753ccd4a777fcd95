#!/usr/bin/env bash
# Benchmark: RECORDS station records (default 10,000) pushed to the station-sync receiver of a
# real django-devicehub server on loopback, for each batch size given (default 100 500 1000).
#
#   bash benches/sync.sh [RECORDS] [BATCH_SIZE ...]
#   BENCH_PG=1 bash benches/sync.sh          # the server on PostgreSQL (throwaway cluster)
#
# Each batch size gets a fresh server database, a new station token and a fresh station; the
# records are made first (not timed), then `push_outbox` is timed: JSON encoding, HTTP on
# loopback, the receiver's upsert into the generated device model, and the station settling
# every acknowledgement (dropping the api keys). The server is `manage.py runserver` (Django's
# threaded development server), i.e. one Python process; a production WSGI server with several
# workers would be faster. Afterwards the server must hold exactly RECORDS devices.
# Prints one JSON line per batch size.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${1:-10000}
shift || true
SIZES=("${@:-100 500 1000}")
read -r -a SIZES <<<"${SIZES[*]}"

if [[ "${BENCH_PG:-0}" == 1 && -z "${DEVICEHUB_PG_HOST:-}" ]]; then
  exec bash server/pg-test.sh bash "$0" "$RECORDS" "${SIZES[@]}"
fi

cargo build --release --locked -q -p station-sync --example sync_bench
BENCH=$PWD/target/release/examples/sync_bench
PY=$(bash server/setup-venv.sh | tail -n 1)
work=$(mktemp -d)
server_pid=
cleanup() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd server/testproject

for size in "${SIZES[@]}"; do
  export DEVICEHUB_DB="$work/devicehub-$size.sqlite3" DEVICEHUB_RUN_DIR="$work" DEVICEHUB_FAST_HASHERS=1
  if [[ -n "${DEVICEHUB_PG_HOST:-}" ]]; then
    export DEVICEHUB_PG_NAME="bench_$size"
    "$PY" -c "import psycopg, os; c = psycopg.connect(host=os.environ['DEVICEHUB_PG_HOST'], port=os.environ['DEVICEHUB_PG_PORT'], user='postgres', dbname='postgres', autocommit=True); c.execute('CREATE DATABASE bench_$size')"
  fi
  "$PY" manage.py migrate --verbosity 0
  "$PY" manage.py station_sync_sealkey --replace >/dev/null 2>&1
  token=$("$PY" manage.py station_tokens create "bench-$size" 2>/dev/null)
  port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$PY" manage.py runserver "127.0.0.1:$port" --noreload >"$work/server-$size.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/station-sync/v1/station" || true)
    [[ "$code" == 401 ]] && break
    sleep 0.1
  done
  line=$(STATION_CREDENTIAL_STORE=env STATION_SYNC_TOKEN="$token" "$BENCH" "http://127.0.0.1:$port/station-sync/" "$token" "$RECORDS" "$size")
  n=$("$PY" manage.py shell -c "from myapp.models import WeatherStationDevice as D; print(D.objects.count())" 2>/dev/null | tail -n 1)
  [[ "$n" == "$RECORDS" ]] || { echo "the server holds $n devices, not $RECORDS" >&2; exit 1; }
  db=sqlite; [[ -n "${DEVICEHUB_PG_HOST:-}" ]] && db=postgresql
  echo "$line" | "$PY" -c "import json,sys; d=json.load(sys.stdin); d['server_db']='$db'; print(json.dumps(d))"
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
  server_pid=
done
