"""Smoke tests: the Python side the Rust tests and benchmarks drive works.

- tools/hashcheck.py: round trips for argon2 and pbkdf2_sha256, must_update,
  deterministic salts (byte-for-byte with argon2-cffi), error replies, clean stdout.
- `manage.py migrate` from scratch + `manage.py iot_provision weatherstation
  --count 50 --prefix farm-` as fresh processes: ids, usernames, credential and
  hash formats of /work/shared/reference/devicehub-server.md.
- The stock broker endpoints (POST /iot/broker/auth/, /iot/broker/acl/) allow a
  provisioned device's password, deny a wrong one, and accept hashes made
  outside the server (what the station writes).
- The DRF routes mounted through testproject.compat, and the 0.2.1 defects
  the station designs around, pinned down so a package change is noticed.
"""

import base64
import io
import json
import re
import sqlite3

import pytest
from django.core.management import call_command

from support import (
    API_KEY_RE,
    ARGON2_PREFIX,
    ARGON2_RE,
    MQTT_PASSWORD_RE,
    PBKDF2_RE,
    TESTPROJECT_DIR,
    clean_env,
    manage,
    run_hashcheck,
)

PASSWORD = "correct horse battery staple"


# --------------------------------------------------------------------------
# tools/hashcheck.py
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "algorithm,pattern", [("argon2", ARGON2_RE), ("pbkdf2_sha256", PBKDF2_RE)]
)
def test_hashcheck_round_trip(algorithm, pattern):
    (made,), _ = run_hashcheck([{"op": "make", "password": PASSWORD, "algorithm": algorithm}])
    encoded = made["encoded"]
    assert re.match(pattern, encoded), encoded
    replies, _ = run_hashcheck(
        [
            {"op": "check", "password": PASSWORD, "encoded": encoded},
            {"op": "check", "password": PASSWORD + "x", "encoded": encoded},
            {"op": "check", "password": "", "encoded": encoded},
        ]
    )
    assert replies == [
        {"ok": True, "must_update": False},
        {"ok": False, "must_update": False},
        {"ok": False, "must_update": False},
    ]


def test_hashcheck_default_algorithm_is_argon2_with_django_defaults():
    (made,), _ = run_hashcheck([{"op": "make", "password": PASSWORD}])
    assert made["encoded"].startswith(ARGON2_PREFIX)
    salt_b64 = made["encoded"].split("$")[4]
    salt = base64.b64decode(salt_b64 + "=" * (-len(salt_b64) % 4))
    assert re.fullmatch(rb"[A-Za-z0-9]{22}", salt), salt


def test_hashcheck_salt_is_deterministic_and_matches_argon2_cffi():
    from argon2.low_level import Type, hash_secret

    salt = "abcdefghijklmnopqrstuv"
    req = {"op": "make", "password": PASSWORD, "algorithm": "argon2", "salt": salt}
    (a, b), _ = run_hashcheck([req, req])
    assert a == b
    # Django's Argon2PasswordHasher = "argon2" + argon2-cffi's PHC string with
    # argon2id, v=19, m=102400, t=2, p=8, 32-byte hash, the salt's ASCII bytes.
    phc = hash_secret(
        PASSWORD.encode(),
        salt.encode(),
        time_cost=2,
        memory_cost=102400,
        parallelism=8,
        hash_len=32,
        type=Type.ID,
    ).decode()
    assert a["encoded"] == "argon2" + phc

    (p1, p2), _ = run_hashcheck(
        [{"op": "make", "password": PASSWORD, "algorithm": "pbkdf2_sha256", "salt": "s" * 22}] * 2
    )
    assert p1 == p2 and p1["encoded"].startswith("pbkdf2_sha256$1000000$" + "s" * 22 + "$")


# Fixed vectors (also in server/README.md) for byte-for-byte checks elsewhere.
KNOWN_VECTORS = [
    (
        "argon2",
        "argon2$argon2id$v=19$m=102400,t=2,p=8$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dg"
        "$c1VUQUv16l773W3itExDSXltC+IQKDRfkGyByMzPIVM",
    ),
    (
        "pbkdf2_sha256",
        "pbkdf2_sha256$1000000$abcdefghijklmnopqrstuv"
        "$ESUkIq3XvMIs+R/ZmdQSkE1EDQIVk18SzognBfgBuPQ=",
    ),
]


def test_hashcheck_known_vectors():
    salt = "abcdefghijklmnopqrstuv"
    made, _ = run_hashcheck(
        [{"op": "make", "password": PASSWORD, "algorithm": a, "salt": salt} for a, _ in KNOWN_VECTORS]
    )
    assert [m["encoded"] for m in made] == [v for _, v in KNOWN_VECTORS]


def test_hashcheck_must_update_for_non_default_parameters():
    from argon2.low_level import Type, hash_secret
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    argon2_t3 = "argon2" + hash_secret(
        PASSWORD.encode(), b"saltsaltsalt", time_cost=3, memory_cost=65536,
        parallelism=4, hash_len=32, type=Type.ID,
    ).decode()
    pbkdf2_600k = PBKDF2PasswordHasher().encode(PASSWORD, "saltsaltsalt", iterations=600_000)
    replies, _ = run_hashcheck(
        [
            {"op": "check", "password": PASSWORD, "encoded": argon2_t3},
            {"op": "check", "password": PASSWORD, "encoded": pbkdf2_600k},
            {"op": "check", "password": PASSWORD, "encoded": "not-a-django-hash"},
        ]
    )
    assert replies == [
        {"ok": True, "must_update": True},
        {"ok": True, "must_update": True},
        {"ok": False, "must_update": False},
    ]


def test_hashcheck_one_reply_per_line_and_nothing_else_on_stdout():
    lines = [
        "not json",
        json.dumps({"op": "frobnicate"}),
        "",  # blank: ignored, no reply
        json.dumps({"op": "make", "password": PASSWORD, "algorithm": "md5"}),
        json.dumps({"op": "make", "password": 42}),
        json.dumps({"op": "make", "password": PASSWORD, "salt": "has$dollar"}),
        json.dumps({"op": "check", "password": PASSWORD}),
        json.dumps([1, 2]),
        json.dumps({"op": "make", "password": PASSWORD, "algorithm": "pbkdf2_sha256"}),
    ]
    replies, stdout = run_hashcheck(None, raw_lines=lines)
    assert len(stdout.splitlines()) == len(replies) == 8
    assert all("error" in r for r in replies[:7]), replies
    assert re.match(PBKDF2_RE, replies[7]["encoded"])


def test_hashcheck_with_project_settings():
    env = clean_env(
        DJANGO_SETTINGS_MODULE="testproject.settings",
        PYTHONPATH=str(TESTPROJECT_DIR),
        DEVICEHUB_DB="/nonexistent/never-opened.sqlite3",
    )
    (made,), _ = run_hashcheck([{"op": "make", "password": PASSWORD}], env=env)
    assert made["encoded"].startswith(ARGON2_PREFIX)
    (checked,), _ = run_hashcheck(
        [{"op": "check", "password": PASSWORD, "encoded": made["encoded"]}], env=env
    )
    assert checked == {"ok": True, "must_update": False}


# --------------------------------------------------------------------------
# manage.py migrate + iot_provision, as fresh processes on a fresh DB
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory):
    db = tmp_path_factory.mktemp("provision") / "devicehub.sqlite3"
    manage("migrate", "--verbosity", "0", db=db)
    proc = manage("iot_provision", "weatherstation", "--count", "50", "--prefix", "farm-", db=db)
    return json.loads(proc.stdout), db


def test_iot_provision_creates_50_devices(provisioned):
    out, _ = provisioned
    assert out["device_type"] == "WeatherStation"
    assert out["count"] == 50
    ids = [d["device_id"] for d in out["devices"]]
    assert ids == [f"farm-weatherstation-{i:03d}" for i in range(1, 51)]
    for n, dev in enumerate(out["devices"], start=1):
        assert dev["mqtt_username"] == f"myapp-weatherstationdevice-{dev['device_id']}"
        assert dev["name"] == f"WeatherStation {n:03d}"
        assert dev["device_type"] == "WeatherStation"


def test_iot_provision_credential_formats(provisioned):
    out, _ = provisioned
    passwords = [d["mqtt_password"] for d in out["devices"]]
    api_keys = [d["api_key"] for d in out["devices"]]
    assert all(len(p) == 43 and re.match(MQTT_PASSWORD_RE, p) for p in passwords)
    assert all(len(k) == 64 and re.match(API_KEY_RE, k) for k in api_keys)
    assert len(set(passwords)) == len(set(api_keys)) == 50


def test_iot_provision_stored_rows(provisioned):
    out, db = provisioned
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT device_id, mqtt_username, mqtt_password_hash, api_key, status, is_active"
            " FROM myapp_weatherstationdevice ORDER BY device_id"
        ).fetchall()
    assert len(rows) == 50
    by_id = {d["device_id"]: d for d in out["devices"]}
    for device_id, username, pw_hash, api_key, status, is_active in rows:
        dev = by_id[device_id]
        assert username == dev["mqtt_username"]
        assert api_key == dev["api_key"]  # stored in plaintext (0.2.1)
        assert re.match(ARGON2_RE, pw_hash), pw_hash
        assert (status, is_active) == ("provisioning", 1)
    # The stored hashes verify the printed passwords, with no re-hash due.
    first, last = rows[0], rows[-1]
    replies, _ = run_hashcheck(
        [
            {"op": "check", "password": by_id[first[0]]["mqtt_password"], "encoded": first[2]},
            {"op": "check", "password": by_id[last[0]]["mqtt_password"], "encoded": last[2]},
            {"op": "check", "password": by_id[last[0]]["mqtt_password"], "encoded": first[2]},
        ]
    )
    assert replies == [
        {"ok": True, "must_update": False},
        {"ok": True, "must_update": False},
        {"ok": False, "must_update": False},
    ]


# --------------------------------------------------------------------------
# Stock broker endpoints (Django test client, in-memory test DB)
# --------------------------------------------------------------------------


def _provision(device_type="weatherstation", count=1, prefix=""):
    out, err = io.StringIO(), io.StringIO()
    call_command("iot_provision", device_type, count=count, prefix=prefix, stdout=out, stderr=err)
    return json.loads(out.getvalue())["devices"]


def _auth(client, username, password):
    resp = client.post(
        "/iot/broker/auth/",
        data=json.dumps({"username": username, "password": password}),
        content_type="application/json",
    )
    return resp.status_code, resp.json()["result"]


@pytest.mark.django_db
def test_broker_auth_allows_provisioned_password_and_denies_wrong(client):
    from myapp.models import WeatherStationDevice

    dev, other = _provision(count=2, prefix="auth-")
    user = dev["mqtt_username"]
    assert _auth(client, user, dev["mqtt_password"] + "x") == (200, "deny")
    assert _auth(client, user, other["mqtt_password"]) == (200, "deny")
    assert _auth(client, "myapp-weatherstationdevice-nope", dev["mqtt_password"]) == (200, "deny")
    assert WeatherStationDevice.objects.get(device_id=dev["device_id"]).status == "provisioning"

    assert _auth(client, user, dev["mqtt_password"]) == (200, "allow")
    row = WeatherStationDevice.objects.get(device_id=dev["device_id"])
    assert row.status == "online" and row.last_seen is not None  # an allow marks it online

    row.is_active = False
    row.save()
    assert _auth(client, user, dev["mqtt_password"]) == (200, "deny")  # inactive: denied

    resp = client.post("/iot/broker/auth/", data="username=x", content_type="text/plain")
    assert resp.status_code == 400 and resp.json() == {"result": "deny"}


@pytest.mark.django_db
@pytest.mark.parametrize("algorithm", ["argon2", "pbkdf2_sha256"])
def test_broker_auth_accepts_hash_made_outside_the_server(client, algorithm):
    """What the station does: write a record whose hash it made itself."""
    from myapp.models import SoilProbeDevice

    password = "dG9rZW4tdXJsc2FmZS0zMi1ieXRlcy1leGFtcGxlLXg"  # 43 chars
    (made,), _ = run_hashcheck([{"op": "make", "password": password, "algorithm": algorithm}])
    device_id = f"PROBE-{algorithm}"
    SoilProbeDevice.objects.create(
        device_id=device_id,
        name="Probe made elsewhere",
        mqtt_username=f"myapp-soilprobedevice-{device_id}",
        mqtt_password_hash=made["encoded"],
        api_key="ab" * 32,
    )
    assert _auth(client, f"myapp-soilprobedevice-{device_id}", password) == (200, "allow")
    assert _auth(client, f"myapp-soilprobedevice-{device_id}", password[:-1]) == (200, "deny")


@pytest.mark.django_db
def test_broker_acl_topics(client):
    (dev,) = _provision(count=1, prefix="acl-")
    base = f"things/weatherstation/{dev['device_id']}"

    def acl(topic, action):
        resp = client.post(
            "/iot/broker/acl/",
            data=json.dumps({"username": dev["mqtt_username"], "topic": topic, "action": action}),
            content_type="application/json",
        )
        return resp.json()["result"]

    assert acl(f"{base}/data", "pub") == "allow"
    assert acl(f"{base}/status", "pub") == "allow"
    assert acl(f"{base}/cmd", "pub") == "deny"
    assert acl(f"{base}/cmd", "sub") == "allow"
    assert acl(f"{base}/+", "sub") == "deny"  # exact match only
    assert acl("things/weatherstation/someone-else/data", "pub") == "deny"


# --------------------------------------------------------------------------
# DRF routes via testproject.compat, and 0.2.1 behaviours to design around
# --------------------------------------------------------------------------


def test_package_get_iot_urlpatterns_still_fails_on_current_drf():
    """If this starts failing, 0.2.1's defect is gone and testproject.compat can go."""
    from django_devicehub.generators.urls import get_iot_urlpatterns

    with pytest.raises(AssertionError, match="get_readings"):
        get_iot_urlpatterns("api/things")


@pytest.mark.django_db
def test_drf_routes_through_compat_shim(client, django_user_model):
    from myapp.models import WeatherStationDevice

    url = "/api/things/weatherstation/devices/"
    assert client.get(url).status_code in (401, 403)  # IsAuthenticated

    client.force_login(django_user_model.objects.create_user("operator", password="pw"))
    device = WeatherStationDevice.objects.create(device_id="STATION-001", name="Alpha")

    resp = client.post(f"{url}{device.pk}/provision/")  # integer pk, not device_id
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["device_id"] == "STATION-001"
    creds = body["credentials"]
    assert creds["mqtt_username"] == "myapp-weatherstationdevice-STATION-001"
    assert re.match(MQTT_PASSWORD_RE, creds["mqtt_password"])
    assert re.match(API_KEY_RE, creds["api_key"])
    assert body["topics"] == {
        "data": "things/weatherstation/STATION-001/data",
        "status": "things/weatherstation/STATION-001/status",
        "commands": "things/weatherstation/STATION-001/cmd",
    }
    assert _auth(client, creds["mqtt_username"], creds["mqtt_password"]) == (200, "allow")

    # The readings action, unreachable without the shim.
    resp = client.get(f"{url}{device.pk}/readings/")
    assert resp.status_code == 200 and resp.json() == []

    # 0.2.1: fields="__all__" hands the hash and api_key to any API user, and
    # they are read-only (a hash made elsewhere cannot be written through the API).
    listed = client.get(url).json()
    row = listed["results"][0] if isinstance(listed, dict) else listed[0]
    assert row["mqtt_password_hash"].startswith(ARGON2_PREFIX)
    assert row["api_key"] == creds["api_key"]
    resp = client.patch(
        f"{url}{device.pk}/",
        data=json.dumps({"mqtt_password_hash": "pbkdf2_sha256$1$x$y", "name": "Renamed"}),
        content_type="application/json",
    )
    assert resp.status_code == 200
    device.refresh_from_db()
    assert device.name == "Renamed" and device.mqtt_password_hash.startswith(ARGON2_PREFIX)


@pytest.mark.django_db
def test_iot_provision_numbering_defect():
    """0.2.1: with 001 and 003 present, --count 2 creates only 004."""
    from myapp.models import WeatherStationDevice

    for device_id in ("gap-weatherstation-001", "gap-weatherstation-003"):
        WeatherStationDevice.objects.create(device_id=device_id)
    created = _provision(count=2, prefix="gap-")
    assert [d["device_id"] for d in created] == ["gap-weatherstation-004"]


@pytest.mark.django_db
def test_committed_migrations_match_models():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
