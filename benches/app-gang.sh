#!/usr/bin/env bash
# The app's 8-port gang against the core bench (issue 13), in one quiet window: the bench's
# "the app's gang without its window" row, then three runs each of the release app, the debug
# app, and the release app with WebKit's accelerated compositing kept on (the baseline: the app's
# drawing before it was turned off), printing each run's gang time (16 devices, pool warm, timed
# in the page from each click to the frame showing its last result), the CPU the app and its
# WebKit processes used during it, its longest frame gap and its memory. Builds the UI and both
# apps first (both embed the UI). Run it on an otherwise idle machine: the figures compare
# against each other only.
set -euo pipefail
cd "$(dirname "$0")/.."
(cd ui && npm run build >/dev/null)
cargo build --release -p station-app 2>/dev/null
cargo build -p station-app --tests 2>/dev/null
uptime
cargo bench -p station-service --bench flash -- 8 2>/dev/null | grep "app's gang"
for kind in release debug release-compositing; do
  for i in 1 2 3; do
    bin="$PWD/target/${kind%-compositing}/station-app"
    compositing=off
    [ "$kind" = release-compositing ] && compositing=on
    STATION_WEBKIT_COMPOSITING=$compositing STATION_APP_BIN="$bin" \
      xvfb-run -a -s "-screen 0 1280x800x24" \
      cargo nextest run -p station-app --run-ignored only --no-capture \
      -E 'binary(e2e) & test(station_app_end_to_end)' >/dev/null 2>&1
    python3 - "$kind" "$i" <<'PY'
import json, sys
d = json.load(open("target/e2e/metrics.json"))
print(sys.argv[1], sys.argv[2], "gang", d["gang_8_ports_16_devices_seconds"], "s;",
      "CPU app/WebKit", d["gang_cpu_seconds_app"], d["gang_cpu_seconds_webkit"], "s;",
      "longest frame gap", d["batch_max_frame_gap_ms"], "ms;",
      "idle MB app/with WebKit", d["idle_rss_app_kb"] // 1024, d["idle_rss_with_webkit_kb"] // 1024)
PY
  done
done
uptime
