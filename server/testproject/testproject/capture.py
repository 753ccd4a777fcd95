"""Test-only middleware for the station-sync end-to-end tests; a no-op unless its environment
variables are set.

- DEVICEHUB_CAPTURE_DIR: every request body sent to /station-sync/ is appended to
  ``<dir>/station-sync-bodies.jsonl`` (one JSON object per line: path, body), so tests can
  prove no plaintext MQTT password ever reached the server.
- DEVICEHUB_FAULTS_FILE: a JSON file of faults to inject into ``POST /station-sync/v1/devices``,
  each a count decremented as it fires (the file is re-read on every request):
    ``fail_before``  answer 500 without applying the batch
    ``fail_after``   apply the batch (commit), then answer 500 anyway
    ``sleep_after``  apply the batch, then wait ``sleep_seconds`` before answering (client timeout)
"""

import json
import os
import threading
import time
from pathlib import Path

from django.http import HttpResponseServerError

_lock = threading.Lock()
FAULT_PATH = "/station-sync/v1/devices"


def _take_fault(path):
    """Decrement and return the first armed fault, or None."""
    with _lock:
        try:
            faults = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            return None, {}
        for name in ("fail_before", "fail_after", "sleep_after"):
            if faults.get(name, 0) > 0:
                faults[name] -= 1
                Path(path).write_text(json.dumps(faults))
                return name, faults
    return None, {}


class CaptureSyncBodies:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        capture_dir = os.environ.get("DEVICEHUB_CAPTURE_DIR")
        if capture_dir and request.path.startswith("/station-sync/"):
            body = request.body.decode("utf-8", errors="replace")
            line = json.dumps({"path": request.path, "body": body}) + "\n"
            with _lock, open(Path(capture_dir) / "station-sync-bodies.jsonl", "a") as f:
                f.write(line)
        faults_file = os.environ.get("DEVICEHUB_FAULTS_FILE")
        fault, faults = (None, {})
        if faults_file and request.path == FAULT_PATH:
            fault, faults = _take_fault(faults_file)
        if fault == "fail_before":
            return HttpResponseServerError("<h1>Server Error (500)</h1>")
        response = self.get_response(request)
        if fault == "fail_after":
            return HttpResponseServerError("<h1>Server Error (500)</h1>")
        if fault == "sleep_after":
            time.sleep(float(faults.get("sleep_seconds", 5)))
        return response
