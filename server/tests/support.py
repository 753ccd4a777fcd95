"""Helpers shared by the server-side interop tests (imported as `support`).

Run with the venv's pytest: ``bash server/setup-venv.sh && server/.venv/bin/pytest server/tests``.
pytest-django loads ``testproject.settings`` (see server/pytest.ini); its test
database is an in-memory SQLite DB, so nothing here touches server/run/.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

SERVER_DIR = Path(__file__).resolve().parent.parent
TESTPROJECT_DIR = SERVER_DIR / "testproject"
MANAGE_PY = TESTPROJECT_DIR / "manage.py"
HASHCHECK_PY = SERVER_DIR / "tools" / "hashcheck.py"
PYTHON = sys.executable  # the venv's python (pytest runs in it)

# Formats from /work/shared/reference/devicehub-server.md.
ARGON2_PREFIX = "argon2$argon2id$v=19$m=102400,t=2,p=8$"
# salt: 22 ASCII chars -> 30 chars of unpadded base64; hash: 32 bytes -> 43 chars.
ARGON2_RE = r"^argon2\$argon2id\$v=19\$m=102400,t=2,p=8\$[A-Za-z0-9+/]{30}\$[A-Za-z0-9+/]{43}$"
PBKDF2_RE = r"^pbkdf2_sha256\$1000000\$[A-Za-z0-9]{22}\$[A-Za-z0-9+/]{43}=$"
MQTT_PASSWORD_RE = r"^[A-Za-z0-9_-]{43}$"
API_KEY_RE = r"^[0-9a-f]{64}$"


def clean_env(**extra):
    """The environment for child processes: no inherited Django settings."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def run_hashcheck(requests, env=None, raw_lines=None):
    """Send requests (dicts) or raw_lines (strings) to hashcheck.py; return (replies, raw stdout)."""
    lines = raw_lines if raw_lines is not None else [json.dumps(r) for r in requests]
    proc = subprocess.run(
        [PYTHON, str(HASHCHECK_PY)],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        env=env or clean_env(),
        timeout=120,
        check=True,
    )
    return [json.loads(line) for line in proc.stdout.splitlines()], proc.stdout


def manage(*args, db, timeout=300):
    """Run `manage.py <args>` as a fresh process against the SQLite file `db`."""
    return subprocess.run(
        [PYTHON, str(MANAGE_PY), *args],
        capture_output=True,
        text=True,
        env=clean_env(DEVICEHUB_DB=str(db), DEVICEHUB_RUN_DIR=str(Path(db).parent)),
        cwd=str(TESTPROJECT_DIR),
        timeout=timeout,
        check=True,
    )
