#!/usr/bin/env bash
# Benchmark: one ESP-IDF NVS provisioning (station, NVS driver) at 115200 and 921600 baud
# against the wire time of its bytes and against `esptool write-flash` (PyPI, ROM loader, no
# stub, no compression) of an image of the same size, on the same simulated ESP32, same run.
#
#   bash benches/nvs.sh
#
# Prints one JSON line per rate, then a table.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV_BIN=$(bash tools/vendor/setup-venv.sh | tail -n1)
export ESPTOOL="$VENV_BIN/esptool"
out=$(cargo bench -q --locked -p station-service --bench nvs)
echo "$out"
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in sys.argv[1].splitlines() if l.startswith("{")]
print(f"{'baud':>7} {'station s':>10} {'wire s':>8} {'bytes':>7} {'esptool s':>10}")
for r in rows:
    print(f"{r['baud']:>7} {r['station_s']:>10.3f} {r['wire_s']:>8.3f} {r['bytes']:>7} {r['esptool_write_flash_s']:>10.3f}")
PY
