#!/usr/bin/env python3
"""hashcheck: Django's password hashing as a line-oriented JSON oracle.

Run it with the venv's python (bash server/setup-venv.sh prints the path):

    server/.venv/bin/python server/tools/hashcheck.py < requests.jsonl > replies.jsonl

Settings: if DJANGO_SETTINGS_MODULE is set, those settings are used (e.g.
``testproject.settings`` with server/testproject on PYTHONPATH); otherwise it
configures Django standalone, with no database, with the test project's hashers:
``PASSWORD_HASHERS = [Argon2PasswordHasher, PBKDF2PasswordHasher]``.

Protocol: one JSON object per input line on stdin (blank lines are ignored);
exactly one JSON object per input line on stdout, in order, flushed at once.
Nothing else is ever written to stdout (diagnostics go to stderr).

  {"op":"check","password":"...","encoded":"..."}
      -> {"ok":true|false,"must_update":true|false}
      ok          = django.contrib.auth.hashers.check_password(password, encoded)
      must_update = identify_hasher(encoded).must_update(encoded): the hash's own
                    parameters differ from this Django's defaults (e.g. Argon2
                    other than m=102400,t=2,p=8, or PBKDF2 with fewer than
                    1,000,000 iterations), so Django would re-hash it on login.
                    false when the encoding is not recognised (then ok is false).

  {"op":"make","password":"...","algorithm":"argon2"|"pbkdf2_sha256"[,"salt":"..."]}
      -> {"encoded":"..."}
      encoded = make_password(password, salt, hasher=algorithm). "algorithm" may be
      omitted or "default" (the first PASSWORD_HASHERS entry: argon2). "salt" is
      optional (Django picks a random 22-char [a-zA-Z0-9] salt); giving one makes
      the output deterministic, for byte-for-byte comparison with other
      implementations. A salt must not contain "$" (it is the field separator);
      Argon2 needs at least 8 characters.

  anything malformed (bad JSON, unknown op, missing/non-string field, unknown
  algorithm, ...) -> {"error":"<message>"} and the tool goes on with the next line.

Exit status 0 at end of input.
"""

import json
import os
import sys

# Keep the protocol stream clean: anything that prints (Django, warnings,
# third-party code) goes to stderr; replies are written to the real stdout.
_out = sys.stdout
sys.stdout = sys.stderr

HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]


def _setup_django():
    import django
    from django.conf import settings

    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        settings.configure(PASSWORD_HASHERS=HASHERS, USE_TZ=True)
    django.setup()


def _str_field(req, name, required=True):
    value = req.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ValueError(f'"{name}" must be a string')
    return value


def handle(req):
    from django.contrib.auth.hashers import (
        check_password,
        identify_hasher,
        make_password,
    )

    if not isinstance(req, dict):
        raise ValueError("request must be a JSON object")
    op = req.get("op")
    if op == "check":
        password = _str_field(req, "password")
        encoded = _str_field(req, "encoded")
        try:
            hasher = identify_hasher(encoded)
        except ValueError:
            return {"ok": False, "must_update": False}
        ok = check_password(password, encoded)
        return {"ok": bool(ok), "must_update": bool(hasher.must_update(encoded))}
    if op == "make":
        password = _str_field(req, "password")
        algorithm = _str_field(req, "algorithm", required=False) or "default"
        salt = _str_field(req, "salt", required=False)
        if salt is not None and (not salt or "$" in salt):
            raise ValueError('"salt" must be non-empty and must not contain "$"')
        return {"encoded": make_password(password, salt=salt, hasher=algorithm)}
    raise ValueError(f"unknown op: {op!r} (expected \"check\" or \"make\")")


def main():
    _setup_django()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = handle(json.loads(line))
        except Exception as exc:  # noqa: BLE001 - every input gets a reply line
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        _out.write(json.dumps(reply, separators=(",", ":")) + "\n")
        _out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
