#!/usr/bin/env bash
# The app's 8-port gang against the core bench (issue 13), in one quiet window: the bench's
# "the app's gang without its window" row, then three release and three debug runs of the app's
# end-to-end session, printing each run's gang time (16 devices, pool warm, timed in the page),
# its longest frame gap and its memory. Builds the UI and both apps first (both embed the UI).
# Run it on an otherwise idle machine: the figures compare against each other only.
set -euo pipefail
cd "$(dirname "$0")/.."
(cd ui && npm run build >/dev/null)
cargo build --release -p station-app 2>/dev/null
cargo build -p station-app --tests 2>/dev/null
uptime
cargo bench -p station-service --bench flash -- 8 2>/dev/null | grep "app's gang"
for kind in release debug; do
  for i in 1 2 3; do
    STATION_APP_BIN="$PWD/target/$kind/station-app" xvfb-run -a -s "-screen 0 1280x800x24" \
      cargo nextest run -p station-app --run-ignored only --no-capture \
      -E 'binary(e2e) & test(station_app_end_to_end)' >/dev/null 2>&1
    python3 - "$kind" "$i" <<'PY'
import json, sys
d = json.load(open("target/e2e/metrics.json"))
print(sys.argv[1], sys.argv[2], "gang", d["gang_8_ports_16_devices_seconds"], "s;",
      "longest frame gap", d["batch_max_frame_gap_ms"], "ms;",
      "idle MB app/with WebKit", d["idle_rss_app_kb"] // 1024, d["idle_rss_with_webkit_kb"] // 1024)
PY
  done
done
uptime
