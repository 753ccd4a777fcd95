"""The station-sync receiver (devicehub_station_sync) against real Django + django-devicehub.

Runs on SQLite (the quick loop, `pytest server/tests`) and on PostgreSQL
(`bash server/pg-test.sh server/.venv/bin/pytest server/tests`, what scripts/test-all.sh does):
the tests marked "PostgreSQL" hit real row locking with concurrent stations and are skipped
on SQLite.

Covered: tokens (create/list/revoke, 401s), the type catalog, upsert (create, idempotent
replays, rotation by generation, stale and conflicting records, deactivation, per-record
invalid/conflict reports), the stock broker auth accepting synced records, id leases and the
offline ranges, device status, request limits, and that no response carries a hash or api key.
"""

import base64
import hashlib
import json
import secrets
import stat
import threading
from io import StringIO

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from nacl.public import PublicKey, SealedBox

from devicehub_station_sync.auth import new_token
from devicehub_station_sync.models import OFFLINE_SPAN, Station, SyncedDevice

API = "/station-sync/v1"


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def quick_hash(password):
    """A Django-encoded PBKDF2 hash with few iterations: what Django verifies, made fast."""
    hasher = PBKDF2PasswordHasher()
    return hasher.encode(password, hasher.salt(), iterations=1000)


def make_station(name, number=None):
    number = number or (Station.objects.count() + 1)
    station = Station.objects.create(name=name, number=number)
    _, token = new_token(station)
    return station, token


class Api:
    def __init__(self, token, client=None):
        self.client = client or Client()
        self.token = token
        self.bodies = []

    def _check(self, resp):
        self.bodies.append(resp.content.decode())
        return resp

    def get(self, path):
        return self._check(self.client.get(API + path, HTTP_AUTHORIZATION=f"Bearer {self.token}"))

    def post(self, path, body, content_type="application/json"):
        data = json.dumps(body) if content_type == "application/json" else body
        return self._check(
            self.client.post(
                API + path, data=data, content_type=content_type,
                HTTP_AUTHORIZATION=f"Bearer {self.token}",
            )
        )

    def push(self, *records):
        resp = self.post("/devices", {"records": list(records)})
        assert resp.status_code == 200, resp.content
        return resp.json()["results"]


def record(device_id, password, generation=1, revision=1, type_name="WeatherStation", **over):
    api_key = over.pop("api_key", secrets.token_hex(32))
    label = {"WeatherStation": "weatherstationdevice", "SoilProbe": "soilprobedevice"}[type_name]
    rec = {
        "revision": revision,
        "device_type": type_name,
        "device_id": device_id,
        "name": f"{type_name} {device_id}",
        "status": "provisioning",
        "is_active": True,
        "mqtt_username": f"myapp-{label}-{device_id}",
        "mqtt_password_hash": quick_hash(password),
        "api_key": api_key,
        "api_key_fingerprint": over.pop("api_key_fingerprint", None)
        or "sha256:" + hashlib.sha256((api_key or "").encode()).hexdigest(),
        "generation": generation,
        "firmware_version": "1.0.0",
        "id_prefix": None,
        "id_number": None,
        "metadata": {"batch": 1, "station": "line-1", "hardware_id": "HW-1", "generation": generation},
    }
    rec.update(over)
    return rec


def broker_auth(username, password):
    resp = Client().post(
        "/iot/broker/auth/",
        data=json.dumps({"username": username, "password": password}),
        content_type="application/json",
    )
    return resp.json()["result"]


def outcomes(results):
    return [r["outcome"] for r in results]


def assert_no_secrets(bodies, *secrets_):
    for body in bodies:
        for s in secrets_:
            assert s not in body, f"a response leaked {s[:12]}…"
        assert "mqtt_password_hash" not in body and '"api_key"' not in body


@pytest.fixture(autouse=True)
def bench_hashers(settings):
    """The test bench's cheap hashers (testproject/hashers.py), so quick_hash passes the
    receiver's minimum; test_password_hash_below_the_servers_parameters_is_refused uses the stock ones."""
    settings.PASSWORD_HASHERS = settings.DEVICEHUB_FAST_PASSWORD_HASHERS


@pytest.fixture(autouse=True)
def seal_key(settings, tmp_path):
    """A configured server: a seal key pair in this test's own file. Returns its PublicKey."""
    settings.STATION_SYNC_SEAL_KEY_FILE = str(tmp_path / "keys" / "station_sync_seal.key")
    call_command("station_sync_sealkey", stdout=StringIO(), stderr=StringIO())
    return _server_public_key()


def _server_public_key():
    out = StringIO()
    call_command("station_sync_sealkey", "--show", stdout=out, stderr=StringIO())
    fields = dict(line.split(": ", 1) for line in out.getvalue().splitlines())
    return PublicKey(base64.b64decode(fields["public_key"]))


def seal(api_key, public_key):
    return base64.b64encode(SealedBox(public_key).encrypt(api_key.encode("ascii"))).decode()


def seal_fp(public_key):
    return "sha256:" + hashlib.sha256(bytes(public_key)).hexdigest()


def sealed_record(device_id, password, public_key, **over):
    """A record as a station with a configured seal key sends it: api_key_sealed, no api_key."""
    rec = record(device_id, password, **over)
    rec["api_key_sealed"] = seal(rec.pop("api_key"), public_key)
    rec["seal_key_fingerprint"] = seal_fp(public_key)
    return rec


@pytest.fixture
def line1(db):
    return make_station("line-1", 1)


@pytest.fixture
def api(line1):
    return Api(line1[1])


def weather(device_id):
    from myapp.models import WeatherStationDevice

    return WeatherStationDevice.objects.get(device_id=device_id)


# --------------------------------------------------------------------------
# tokens and auth
# --------------------------------------------------------------------------


@pytest.mark.django_db
def test_station_tokens_command_creates_lists_and_revokes():
    out = StringIO()
    call_command("station_tokens", "create", "line-7", stdout=out, stderr=StringIO())
    token = out.getvalue().strip()
    assert token.startswith("dhs_1_") and len(token) == len("dhs_1_") + 43
    out = StringIO()
    call_command("station_tokens", "create", "line-8", "--number", "42", stdout=out, stderr=StringIO())
    token8 = out.getvalue().strip()
    assert token8.startswith("dhs_42_")

    assert Api(token).get("/station").json()["station"] == {"name": "line-7", "number": 1}

    listing = StringIO()
    call_command("station_tokens", "list", stdout=listing)
    text = listing.getvalue()
    assert "line-7" in text and "#42" in text and token[:14] in text
    assert token not in text and token8 not in text  # never the tokens themselves

    call_command("station_tokens", "revoke", "line-7", stdout=StringIO())
    assert Api(token).get("/station").status_code == 401
    assert Api(token8).get("/station").status_code == 200
    with pytest.raises(CommandError):
        call_command("station_tokens", "revoke", "line-7", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("station_tokens", "create", "Not A Slug", stdout=StringIO(), stderr=StringIO())


@pytest.mark.django_db
def test_every_endpoint_needs_a_valid_token(line1):
    _, token = line1
    forged = "dhs_1_" + "A" * 43
    for bad in (None, "Bearer", f"Token {token}", f"Bearer {forged}", f"Bearer {token}x"):
        c = Client()
        headers = {"HTTP_AUTHORIZATION": bad} if bad else {}
        assert c.get(f"{API}/station", **headers).status_code == 401
        assert c.get(f"{API}/types", **headers).status_code == 401
        for path in ("/devices", "/devices/status", "/id-leases"):
            resp = c.post(API + path, data="{}", content_type="application/json", **headers)
            assert resp.status_code == 401, path
            assert resp.json()["error"]["code"] == "unauthorized"


@pytest.mark.django_db
def test_station_info(api):
    body = api.get("/station").json()
    assert body["api_version"] == 1
    assert body["station"] == {"name": "line-1", "number": 1}
    assert body["limits"] == {"max_records": 1000, "max_lease": 10000, "offline_span": OFFLINE_SPAN}
    pub = _server_public_key()
    assert body["seal_key"] == {
        "algorithm": "x25519-sealedbox",
        "public_key": base64.b64encode(bytes(pub)).decode(),
        "fingerprint": "sha256:" + hashlib.sha256(bytes(pub)).hexdigest(),
    }


@pytest.mark.django_db
def test_type_catalog_is_the_servers_truth(api):
    types = api.get("/types").json()["types"]
    assert types == [
        {
            "name": "SoilProbe",
            "app_label": "myapp",
            "model_name": "SoilProbeDevice",
            "username_prefix": "myapp-soilprobedevice-",
            "topic_prefix": "things",
            "topic_template": "{prefix}/{type_name}/{device_id}/{message_type}",
        },
        {
            "name": "WeatherStation",
            "app_label": "myapp",
            "model_name": "WeatherStationDevice",
            "username_prefix": "myapp-weatherstationdevice-",
            "topic_prefix": "things",
            "topic_template": "{prefix}/{type_name}/{device_id}/{message_type}",
        },
    ]


# --------------------------------------------------------------------------
# upsert
# --------------------------------------------------------------------------


@pytest.mark.django_db
def test_created_record_logs_in_at_the_stock_broker(api):
    pw = secrets.token_urlsafe(32)
    rec = record("farm-weatherstation-001", pw)
    assert outcomes(api.push(rec)) == ["created"]
    dev = weather("farm-weatherstation-001")
    assert dev.mqtt_password_hash == rec["mqtt_password_hash"]
    assert dev.api_key == rec["api_key"]
    assert dev.status == "provisioning" and dev.is_active
    assert dev.metadata == {
        "station_sync": {"batch": 1, "station": "line-1", "hardware_id": "HW-1", "generation": 1}
    }
    assert broker_auth(rec["mqtt_username"], pw) == "allow"
    assert broker_auth(rec["mqtt_username"], pw + "x") == "deny"
    assert_no_secrets(api.bodies, rec["mqtt_password_hash"], rec["api_key"], pw)


@pytest.mark.django_db
def test_the_same_batch_twice_is_applied_once(api):
    recs = [record(f"dup-weatherstation-{n:03d}", "pw", revision=n) for n in range(1, 6)]
    first = api.push(*recs)
    again = api.push(*recs)
    assert outcomes(first) == ["created"] * 5
    assert outcomes(again) == ["unchanged"] * 5
    from myapp.models import WeatherStationDevice

    assert WeatherStationDevice.objects.filter(device_id__startswith="dup-").count() == 5
    assert SyncedDevice.objects.count() == 5


@pytest.mark.django_db
def test_rotation_replaces_only_an_older_generation(api):
    old_pw, new_pw = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    g1 = record("rot-weatherstation-001", old_pw, generation=1, revision=1)
    g2 = record("rot-weatherstation-001", new_pw, generation=2, revision=5)
    assert outcomes(api.push(g1)) == ["created"]
    res = api.push(g2)
    assert outcomes(res) == ["updated"] and res[0]["server_generation"] == 2
    assert broker_auth(g1["mqtt_username"], old_pw) == "deny"
    assert broker_auth(g1["mqtt_username"], new_pw) == "allow"
    assert weather("rot-weatherstation-001").api_key == g2["api_key"]

    # A late copy of the old record: superseded, nothing changes.
    assert outcomes(api.push(g1)) == ["superseded"]
    # An older generation with a newer revision: the station went backwards -> conflict.
    backwards = record("rot-weatherstation-001", old_pw, generation=1, revision=9)
    res = api.push(backwards)
    assert outcomes(res) == ["conflict"] and "generation 2" in res[0]["reason"]
    # The same generation with another hash: conflict, never overwritten.
    other = record("rot-weatherstation-001", "other", generation=2, revision=10)
    res = api.push(other)
    assert outcomes(res) == ["conflict"] and "changed on the server" in res[0]["reason"]
    assert broker_auth(g1["mqtt_username"], new_pw) == "allow"
    # Replaying an applied revision with other contents: conflict.
    res = api.push(record("rot-weatherstation-001", "x", generation=2, revision=5))
    assert outcomes(res) == ["conflict"]


@pytest.mark.django_db
def test_acknowledged_api_key_is_not_needed_again_but_a_rotation_needs_one(api):
    rec = record("ack-weatherstation-001", "pw")
    api.push(rec)
    later = dict(rec, revision=2, api_key=None, firmware_version="1.1.0")
    assert outcomes(api.push(later)) == ["updated"]
    dev = weather("ack-weatherstation-001")
    assert dev.api_key == rec["api_key"] and dev.firmware_version == "1.1.0"
    rotation = record("ack-weatherstation-001", "pw2", generation=2, revision=3, api_key=None,
                      api_key_fingerprint="sha256:" + "0" * 64)
    res = api.push(rotation)
    assert outcomes(res) == ["conflict"] and "api_key" in res[0]["reason"]
    lost = record("lost-weatherstation-001", "pw", api_key=None,
                  api_key_fingerprint="sha256:" + "0" * 64)
    res = api.push(lost)
    assert outcomes(res) == ["conflict"] and "re-flash" in res[0]["reason"]


@pytest.mark.django_db
def test_deactivation_is_applied_and_never_undone_by_a_station(api):
    pw = "pw-deactivate"
    rec = record("off-weatherstation-001", pw)
    api.push(rec)
    assert broker_auth(rec["mqtt_username"], pw) == "allow"
    assert outcomes(api.push(dict(rec, revision=2, is_active=False, api_key=None))) == ["updated"]
    assert not weather("off-weatherstation-001").is_active
    assert broker_auth(rec["mqtt_username"], pw) == "deny"
    res = api.push(dict(rec, revision=3, is_active=True, api_key=None))
    assert outcomes(res) == ["conflict"] and "reactivate" in res[0]["reason"]
    assert not weather("off-weatherstation-001").is_active


@pytest.mark.django_db
def test_devices_of_another_station_or_of_the_server_are_conflicts(api):
    from myapp.models import WeatherStationDevice

    _, token2 = make_station("line-2", 2)
    api2 = Api(token2)
    rec = record("own-weatherstation-001", "pw")
    api.push(rec)
    res = api2.push(record("own-weatherstation-001", "pw2"))
    assert outcomes(res) == ["conflict"] and "belongs to another station" in res[0]["reason"]

    WeatherStationDevice.objects.create(
        device_id="srv-weatherstation-001", mqtt_username="myapp-weatherstationdevice-srv-weatherstation-001"
    )
    res = api.push(record("srv-weatherstation-001", "pw"))
    assert outcomes(res) == ["conflict"] and "not made by a station" in res[0]["reason"]
    assert weather("srv-weatherstation-001").mqtt_password_hash == ""


@pytest.mark.django_db
def test_invalid_records_are_reported_one_by_one(api):
    good = record("mix-weatherstation-001", "pw", revision=1)
    plaintext = dict(record("mix-weatherstation-002", "pw", revision=2), mqtt_password="pw")
    not_a_hash = dict(record("mix-weatherstation-003", "pw", revision=3),
                      mqtt_password_hash=secrets.token_urlsafe(32))
    wrong_user = dict(record("mix-weatherstation-004", "pw", revision=4),
                      mqtt_username="otherapp-weatherstationdevice-mix-weatherstation-004")
    unknown_type = dict(record("mix-weatherstation-005", "pw", revision=5), device_type="Toaster")
    bad_id = record("mix/weatherstation-006", "pw", revision=6)
    bad_key = dict(record("mix-weatherstation-007", "pw", revision=7), api_key="ab" * 32)
    bad_mint = record("mix-weatherstation-008", "pw", revision=8, id_prefix="mix-", id_number=9)
    twice = record("mix-weatherstation-001", "pw", revision=9)
    res = api.push(good, plaintext, not_a_hash, wrong_user, unknown_type, bad_id, bad_key,
                   bad_mint, twice, "not an object")
    assert outcomes(res) == ["created"] + ["invalid"] * 9
    reasons = [r.get("reason", "") for r in res]
    assert "hash only" in reasons[1]
    assert "argon2" in reasons[2] and "pbkdf2_sha256" in reasons[2]
    assert "app label" in reasons[3]
    assert "no device type" in reasons[4]
    assert "'/'" in reasons[5]
    assert "fingerprint" in reasons[6]
    assert "id_number" in reasons[7]
    assert "twice" in reasons[8]
    from myapp.models import WeatherStationDevice

    assert list(WeatherStationDevice.objects.values_list("device_id", flat=True)) == [
        "mix-weatherstation-001"
    ]


@pytest.mark.django_db
def test_request_limits_and_malformed_bodies(api):
    resp = api.post("/devices", {"records": [record(f"big-{n}", "pw") for n in range(1001)]})
    assert resp.status_code == 413 and resp.json()["error"]["max_records"] == 1000
    assert api.post("/devices", "{not json", content_type="application/json").status_code == 400
    assert api.post("/devices", "records=1", content_type="text/plain").status_code == 415
    assert api.post("/devices", {"records": []}).status_code == 400
    assert api.get("/devices").status_code == 405


# --------------------------------------------------------------------------
# id leases and offline ranges
# --------------------------------------------------------------------------


def lease(api, count, prefix="farm-", local_highest=0, device_type="WeatherStation"):
    resp = api.post("/id-leases", {"device_type": device_type, "prefix": prefix, "count": count,
                                   "local_highest": local_highest})
    assert resp.status_code == 201, resp.content
    body = resp.json()
    return body["start"], body["end"]


@pytest.mark.django_db
def test_leases_are_disjoint_and_start_after_every_known_id(api):
    from myapp.models import WeatherStationDevice

    _, token2 = make_station("line-2", 2)
    api2 = Api(token2)
    WeatherStationDevice.objects.create(device_id="farm-weatherstation-007")  # e.g. iot_provision
    assert lease(api, 10) == (8, 18)
    assert lease(api2, 5) == (18, 23)
    assert lease(api, 3, local_highest=40) == (41, 44)
    assert lease(api, 2, prefix="other-") == (1, 3)
    assert lease(api2, 1, device_type="soil_probe") == (1, 2)
    resp = api.post("/id-leases", {"device_type": "Toaster", "count": 1})
    assert resp.status_code == 404
    for bad in ({"device_type": "WeatherStation", "count": 0},
                {"device_type": "WeatherStation", "count": 10001},
                {"device_type": "WeatherStation", "count": 1, "prefix": "a/b"}):
        assert api.post("/id-leases", bad).status_code == 400


@pytest.mark.django_db
def test_leased_and_offline_numbers_belong_to_their_station(api):
    _, token2 = make_station("line-2", 2)
    api2 = Api(token2)
    start, _ = lease(api, 5)
    mine = record(f"farm-weatherstation-{start:03d}", "pw", id_prefix="farm-", id_number=start)
    theirs = record(f"farm-weatherstation-{start + 1:03d}", "pw", id_prefix="farm-",
                    id_number=start + 1)
    res = api2.push(theirs)
    assert outcomes(res) == ["conflict"] and "leased to another station" in res[0]["reason"]
    assert outcomes(api.push(mine)) == ["created"]

    own_offline = 2 * OFFLINE_SPAN + 1
    other_offline = 1 * OFFLINE_SPAN + 1
    ok = record(f"farm-weatherstation-{own_offline}", "pw", id_prefix="farm-", id_number=own_offline)
    bad = record(f"farm-weatherstation-{other_offline}", "pw", id_prefix="farm-",
                 id_number=other_offline, revision=2)
    res = api2.push(ok, bad)
    assert outcomes(res) == ["created", "conflict"]
    assert "another station's offline id range" in res[1]["reason"]
    # Offline-range ids never push the lease counter into the offline ranges.
    assert lease(api, 1)[0] < OFFLINE_SPAN


# --------------------------------------------------------------------------
# status
# --------------------------------------------------------------------------


@pytest.mark.django_db
def test_status_shows_own_devices_after_broker_login(api):
    _, token2 = make_station("line-2", 2)
    pw = "pw-status"
    rec = record("st-weatherstation-001", pw)
    api.push(rec)
    Api(token2).push(record("st-weatherstation-002", "pw"))
    want = [{"device_type": "WeatherStation", "device_id": d}
            for d in ("st-weatherstation-001", "st-weatherstation-002", "st-weatherstation-404")]
    want.append({"device_type": "Toaster", "device_id": "x"})
    body = api.post("/devices/status", {"devices": want}).json()
    assert [d["device_id"] for d in body["devices"]] == ["st-weatherstation-001"]
    assert body["devices"][0]["status"] == "provisioning" and body["devices"][0]["last_seen"] is None
    assert sorted(u["device_id"] for u in body["unknown"]) == [
        "st-weatherstation-002", "st-weatherstation-404", "x"]
    assert broker_auth(rec["mqtt_username"], pw) == "allow"
    dev = api.post("/devices/status", {"devices": want[:1]}).json()["devices"][0]
    assert dev["status"] == "online" and dev["last_seen"] and dev["generation"] == 1
    assert_no_secrets(api.bodies, rec["mqtt_password_hash"], rec["api_key"], pw)


# --------------------------------------------------------------------------
# issue 10, server findings (each test named after the finding)
# --------------------------------------------------------------------------


@pytest.mark.django_db
def test_device_id_without_id_fields_cannot_squat_another_stations_leased_or_offline_range(api):
    _, token2 = make_station("line-2", 2)
    api2 = Api(token2)
    start, _ = lease(api, 5)
    leased = record(f"farm-weatherstation-{start + 1:03d}", "pw")  # no id_prefix / id_number
    padded = record(f"farm-weatherstation-{start + 2:06d}", "pw", revision=2)  # same number
    offline = record(f"farm-weatherstation-{OFFLINE_SPAN + 1}", "pw", revision=3)
    res = api2.push(leased, padded, offline)
    assert outcomes(res) == ["conflict"] * 3, res
    assert "leased to another station" in res[0]["reason"]
    assert "leased to another station" in res[1]["reason"]
    assert "another station's offline id range" in res[2]["reason"]
    assert not SyncedDevice.objects.filter(station__number=2).exists()
    # The owner may, and the other station may use its own range and ids of no pattern.
    mine = record(f"farm-weatherstation-{start + 1:03d}", "pw")
    assert outcomes(api.push(mine)) == ["created"]
    own = record(f"farm-weatherstation-{2 * OFFLINE_SPAN + 5}", "pw", revision=4)
    free = record("bench-unit-7", "pw", revision=5)
    assert outcomes(api2.push(own, free)) == ["created", "created"]


@pytest.mark.django_db
def test_local_highest_is_capped_so_one_lease_request_cannot_exhaust_the_numbers(api):
    resp = api.post("/id-leases", {"device_type": "WeatherStation", "prefix": "farm-", "count": 1,
                                   "local_highest": OFFLINE_SPAN - 2})
    assert resp.status_code == 400, resp.content
    message = resp.json()["error"]["message"]
    assert "local_highest" in message and "10000" in message
    # Nothing was used up: the next lease still starts at 1, and up to 10000 ahead is trusted.
    assert lease(api, 10) == (1, 11)
    assert lease(api, 1, local_highest=10 + 10_000) == (10_011, 10_012)
    resp = api.post("/id-leases", {"device_type": "WeatherStation", "prefix": "farm-", "count": 1,
                                   "local_highest": 10_011 + 10_001})
    assert resp.status_code == 400 and "20011" in resp.json()["error"]["message"]


def _pbkdf2(iterations, salt="a" * 22):
    return PBKDF2PasswordHasher().encode("pw", salt, iterations=iterations)


@pytest.mark.django_db
def test_password_hash_below_the_servers_parameters_is_refused(api, settings):
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",  # configured: still refused
    ]
    from django.contrib.auth.hashers import Argon2PasswordHasher, MD5PasswordHasher, make_password

    stock_pbkdf2 = PBKDF2PasswordHasher.iterations
    weak_argon2 = Argon2PasswordHasher()
    weak_argon2.time_cost, weak_argon2.memory_cost, weak_argon2.parallelism = 1, 64, 1
    bad = {
        "pbkdf2_one_iteration": _pbkdf2(1),
        "pbkdf2_1000": _pbkdf2(1000),
        "md5": MD5PasswordHasher().encode("pw", "a" * 22),
        "unsalted_md5": hashlib.md5(b"pw").hexdigest(),
        "unsalted_sha1": "sha1$$" + hashlib.sha1(b"pw").hexdigest(),
        "pbkdf2_short_salt": _pbkdf2(stock_pbkdf2, salt="abc"),
        "argon2_weak": weak_argon2.encode("pw", "b" * 22),
        "argon2d": "argon2$argon2d$v=19$m=102400,t=2,p=8$" + "A" * 30 + "$" + "B" * 43,
        "pbkdf2_no_hash": f"pbkdf2_sha256${stock_pbkdf2}${'a' * 22}$",
        "sha1": "sha1$" + "a" * 22 + "$" + "0" * 40,
    }
    recs = [record(f"weak-weatherstation-{n:03d}", "pw", revision=n, mqtt_password_hash=h)
            for n, h in enumerate(bad.values(), 1)]
    good = [
        record("ok-weatherstation-001", "pw", revision=100,
               mqtt_password_hash=_pbkdf2(stock_pbkdf2)),
        record("ok-weatherstation-002", "pw", revision=101, mqtt_password_hash=make_password("pw")),
    ]
    res = api.push(*recs, *good)
    assert outcomes(res) == ["invalid"] * len(bad) + ["created", "created"], res
    reasons = dict(zip(bad, (r["reason"] for r in res)))
    for name in ("pbkdf2_one_iteration", "pbkdf2_1000"):
        assert f"at least {stock_pbkdf2} iterations" in reasons[name], reasons[name]
    assert "m=102400,t=2,p=8" in reasons["argon2_weak"]
    for name in ("md5", "unsalted_md5", "unsalted_sha1", "sha1"):
        assert "argon2" in reasons[name] and "pbkdf2_sha256" in reasons[name], reasons[name]
    assert "salt" in reasons["pbkdf2_short_salt"]
    for r in res[: len(bad)]:
        assert "pw" not in r["reason"].split()  # never echoes the hash
    from myapp.models import WeatherStationDevice

    assert not WeatherStationDevice.objects.filter(device_id__startswith="weak-").exists()


@pytest.mark.django_db
def test_bench_server_with_cheap_hashers_takes_a_stock_cost_hash_but_not_a_stalling_one(api):
    """A bench server (cheap hashers) still takes a station hashing like production; only a hash
    over ten times the larger of its own and Django's stock parameters is refused as too costly."""
    stock = PBKDF2PasswordHasher.iterations
    res = api.push(
        record("cost-weatherstation-001", "pw", revision=1, mqtt_password_hash=_pbkdf2(stock)),
        record("cost-weatherstation-002", "pw", revision=2,
               mqtt_password_hash=_pbkdf2(stock * 10 + 1)),
    )
    assert outcomes(res) == ["created", "invalid"], res
    assert f"at most {stock * 10}" in res[1]["reason"], res[1]["reason"]


@pytest.mark.django_db
def test_api_key_collision_is_a_refusal_the_station_shows_not_busy(api):
    a = record("col-weatherstation-001", "pw", revision=1)
    b = record("col-weatherstation-002", "pw", revision=2)
    assert outcomes(api.push(a, b)) == ["created", "created"]
    # A rotation whose new api key is already another device's.
    clash = record("col-weatherstation-002", "pw2", generation=2, revision=3, api_key=a["api_key"])
    res = api.push(clash)  # asserts HTTP 200: a 503 "busy" would be retried forever
    assert outcomes(res) == ["conflict"], res
    assert "api_key" in res[0]["reason"] and "rotate" in res[0]["reason"]
    assert a["api_key"] not in res[0]["reason"]
    assert weather("col-weatherstation-002").api_key == b["api_key"]
    assert SyncedDevice.objects.get(device_id="col-weatherstation-002").generation == 1
    # A new device whose api key or username another device holds: a conflict too.
    from myapp.models import WeatherStationDevice

    WeatherStationDevice.objects.create(
        device_id="admin-made", mqtt_username="myapp-weatherstationdevice-col-weatherstation-003"
    )
    res = api.push(record("col-weatherstation-003", "pw", revision=4),
                   record("col-weatherstation-004", "pw", revision=5, api_key=b["api_key"]))
    assert outcomes(res) == ["conflict", "conflict"], res
    assert all("mqtt_username or api_key" in r["reason"] for r in res)


@pytest.mark.django_db
def test_conflict_reasons_do_not_name_other_stations(db):
    owner, owner_token = make_station("secret-line", 77)
    _, token = make_station("line-2", 2)
    Api(owner_token).push(record("theirs-weatherstation-001", "pw"))
    start, _ = lease(Api(owner_token), 5)
    api2 = Api(token)
    res = api2.push(
        record("theirs-weatherstation-001", "pw", revision=1),
        record(f"farm-weatherstation-{start:03d}", "pw", revision=2),
        record(f"farm-weatherstation-{77 * OFFLINE_SPAN + 1}", "pw", revision=3),
    )
    assert outcomes(res) == ["conflict"] * 3, res
    for r in res:
        assert "secret-line" not in r["reason"], r["reason"]
        assert "#77" not in r["reason"] and "station 77" not in r["reason"], r["reason"]


@pytest.mark.django_db
def test_station_metadata_never_overwrites_server_keys(api):
    rec = record("meta-weatherstation-001", "pw",
                 metadata={"owner": "mallory", "hardware_id": "HW-9", "batch": 3})
    assert outcomes(api.push(rec)) == ["created"]
    dev = weather("meta-weatherstation-001")
    assert dev.metadata == {"station_sync": {"owner": "mallory", "hardware_id": "HW-9", "batch": 3}}
    dev.metadata = {"owner": "acme", "site": "north", **dev.metadata}
    dev.save()
    later = dict(rec, revision=2, api_key=None, metadata={"owner": "mallory", "site": "x"})
    assert outcomes(api.push(later)) == ["updated"]
    dev = weather("meta-weatherstation-001")
    assert dev.metadata == {"owner": "acme", "site": "north",
                            "station_sync": {"owner": "mallory", "site": "x"}}


# --------------------------------------------------------------------------
# sealed api keys (docs/sync-api.md, "Sealed api keys")
# --------------------------------------------------------------------------


def test_sealkey_command_writes_a_0600_key_and_refuses_to_replace_it_without_replace(settings, tmp_path):
    path = tmp_path / "new" / "seal.key"
    settings.STATION_SYNC_SEAL_KEY_FILE = str(path)
    with pytest.raises(CommandError, match="station_sync_sealkey"):
        call_command("station_sync_sealkey", "--show", stdout=StringIO(), stderr=StringIO())
    from devicehub_station_sync import sealing

    settings.STATION_SYNC_SEAL_KEY_FILE = None  # the contract's default: <BASE_DIR>/station_sync_seal.key
    assert sealing.key_file() == settings.BASE_DIR / "station_sync_seal.key"
    settings.STATION_SYNC_SEAL_KEY_FILE = str(path)
    out = StringIO()
    call_command("station_sync_sealkey", stdout=out, stderr=StringIO())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text()
    assert text.endswith("\n") and len(base64.b64decode(text.strip(), validate=True)) == 32
    first = _server_public_key()
    assert f"fingerprint: {seal_fp(first)}" in out.getvalue()
    assert text.strip() not in out.getvalue()  # the private key is never printed

    with pytest.raises(CommandError, match="--replace"):
        call_command("station_sync_sealkey", stdout=StringIO(), stderr=StringIO())
    assert path.read_text() == text and _server_public_key() == first

    err = StringIO()
    call_command("station_sync_sealkey", "--replace", stdout=StringIO(), stderr=err)
    assert "can no longer be opened" in err.getvalue()
    assert _server_public_key() != first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_sealkey_command_puts_the_key_in_the_run_dir_of_a_manage_py_server(tmp_path):
    """How the Rust end-to-end tests start the testproject: manage.py with DEVICEHUB_RUN_DIR."""
    from support import manage

    db = tmp_path / "devicehub.sqlite3"
    made = manage("station_sync_sealkey", db=db).stdout
    key = tmp_path / "station_sync_seal.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert manage("station_sync_sealkey", "--show", db=db).stdout == made


@pytest.mark.django_db
def test_station_info_says_seal_key_null_without_a_key_pair(api, settings, tmp_path):
    settings.STATION_SYNC_SEAL_KEY_FILE = str(tmp_path / "none.key")
    assert api.get("/station").json()["seal_key"] is None


@pytest.mark.django_db
def test_unusable_seal_key_file_is_a_server_error_stations_retry(api, seal_key, settings):
    from pathlib import Path

    Path(settings.STATION_SYNC_SEAL_KEY_FILE).write_text("not a key\n")
    resp = api.get("/station")
    assert resp.status_code == 500 and resp.json()["error"]["code"] == "seal_key_unusable"
    resp = api.post("/devices", {"records": [sealed_record("u-weatherstation-001", "pw", seal_key)]})
    assert resp.status_code == 500 and resp.json()["error"]["code"] == "seal_key_unusable"
    assert settings.STATION_SYNC_SEAL_KEY_FILE not in resp.content.decode()  # no server paths
    # Plain records do not need the key.
    assert outcomes(api.push(record("u-weatherstation-002", "pw"))) == ["created"]


@pytest.mark.django_db
def test_sealed_api_key_is_opened_and_stored_as_the_plaintext(api, seal_key):
    from devicehub_station_sync import sealing

    pw = secrets.token_urlsafe(32)
    api_key = secrets.token_hex(32)
    rec = sealed_record("seal-weatherstation-001", pw, seal_key, api_key=api_key)
    assert "api_key" not in rec and api_key not in json.dumps(rec)
    res = api.push(rec)
    assert outcomes(res) == ["created"], res
    dev = weather("seal-weatherstation-001")
    assert dev.api_key == api_key
    assert SealedBox(sealing.load()).decrypt(base64.b64decode(rec["api_key_sealed"])) \
        .decode() == api_key
    assert broker_auth(rec["mqtt_username"], pw) == "allow"
    # A rotation with a sealed key replaces the credentials like a plain one.
    g2 = sealed_record("seal-weatherstation-001", "pw2", seal_key, generation=2, revision=2)
    assert outcomes(api.push(g2)) == ["updated"]
    assert "sha256:" + hashlib.sha256(weather("seal-weatherstation-001").api_key.encode()) \
        .hexdigest() == g2["api_key_fingerprint"]
    assert_no_secrets(api.bodies, dev.api_key, weather("seal-weatherstation-001").api_key, pw)


@pytest.mark.django_db
def test_sealed_api_key_refusals(api, seal_key, settings, tmp_path):
    def sealed(n, **over):
        return sealed_record(f"bad-weatherstation-{n:03d}", "pw", seal_key, revision=n, **over)

    other = PublicKey(bytes(32 * [9]))
    wrong_fp = sealed(1)
    wrong_fp["seal_key_fingerprint"] = seal_fp(other)
    tampered = sealed(2)
    box = bytearray(base64.b64decode(tampered["api_key_sealed"]))
    box[-1] ^= 1
    tampered["api_key_sealed"] = base64.b64encode(bytes(box)).decode()
    mismatch = sealed(3)
    mismatch["api_key_fingerprint"] = "sha256:" + hashlib.sha256(b"another key").hexdigest()
    not_hex = sealed(4)
    not_hex["api_key_sealed"] = seal("Z" * 64, seal_key)
    both = sealed(5)
    both["api_key"] = secrets.token_hex(32)
    not_b64 = sealed(6)
    not_b64["api_key_sealed"] = "%%%"
    res = api.push(wrong_fp, tampered, mismatch, not_hex, both, not_b64)
    assert outcomes(res) == ["invalid"] * 6, res
    reasons = [r["reason"] for r in res]
    assert f"sealed to another server key ({seal_fp(other)}); this server's key is " \
        f"{seal_fp(seal_key)}" in reasons[0] and "rotate the device" in reasons[0]
    assert "does not open" in reasons[1]
    assert "does not match api_key_fingerprint" in reasons[2]
    assert "64 lower-case hex" in reasons[3]
    assert "not both" in reasons[4]
    assert "base64" in reasons[5]

    # Sealed to the key pair before --replace: refused, naming both fingerprints.
    before = sealed(7)
    call_command("station_sync_sealkey", "--replace", stdout=StringIO(), stderr=StringIO())
    res = api.push(before)
    assert outcomes(res) == ["invalid"] and "the key pair was replaced" in res[0]["reason"]

    # No key pair at all.
    settings.STATION_SYNC_SEAL_KEY_FILE = str(tmp_path / "none.key")
    res = api.push(sealed(8))
    assert outcomes(res) == ["invalid"]
    assert "the server has no seal key; run manage.py station_sync_sealkey" in res[0]["reason"]
    from myapp.models import WeatherStationDevice

    assert not WeatherStationDevice.objects.filter(device_id__startswith="bad-").exists()


# --------------------------------------------------------------------------
# PostgreSQL: concurrent stations and real row locking
# --------------------------------------------------------------------------


def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: bash server/pg-test.sh server/.venv/bin/pytest server/tests")


def _in_threads(n, fn):
    errors = []
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait()
            fn(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


@pytest.mark.django_db(transaction=True)
def test_postgres_concurrent_leases_never_overlap():
    _postgres_only()
    tokens = [make_station(f"pg-{i}", i + 1)[1] for i in range(4)]
    got = [[] for _ in tokens]

    def station(i):
        api = Api(tokens[i])
        for _ in range(10):
            got[i].append(lease(api, 7))

    _in_threads(len(tokens), station)
    blocks = sorted(b for per in got for b in per)
    assert len(blocks) == 40
    for (s1, e1), (s2, _) in zip(blocks, blocks[1:]):
        assert e1 <= s2, f"overlap: {s1}-{e1} and {s2}"


@pytest.mark.django_db(transaction=True)
def test_postgres_concurrent_pushes_of_one_device_create_it_once():
    _postgres_only()
    from myapp.models import WeatherStationDevice

    tokens = [make_station(f"pg-{i}", i + 1)[1] for i in range(2)]
    recs = [[record(f"race-weatherstation-{n:03d}", f"pw{i}", revision=n) for n in range(1, 41)]
            for i in range(2)]
    results = [None, None]

    def station(i):
        results[i] = Api(tokens[i]).push(*recs[i])

    _in_threads(2, station)
    for n in range(40):
        pair = sorted([results[0][n]["outcome"], results[1][n]["outcome"]])
        assert pair == ["conflict", "created"], pair
    assert WeatherStationDevice.objects.filter(device_id__startswith="race-").count() == 40


@pytest.mark.django_db(transaction=True)
def test_postgres_the_same_batch_sent_twice_at_once_lands_once():
    _postgres_only()
    from myapp.models import WeatherStationDevice

    _, token = make_station("pg-twice", 1)
    recs = [record(f"twice-weatherstation-{n:03d}", "pw", revision=n) for n in range(1, 51)]
    results = [None, None]

    def send(i):
        results[i] = Api(token).push(*recs)

    _in_threads(2, send)
    for a, b in zip(*results):
        assert sorted([a["outcome"], b["outcome"]]) == ["created", "unchanged"]
    assert WeatherStationDevice.objects.filter(device_id__startswith="twice-").count() == 50
    assert SyncedDevice.objects.filter(device_id__startswith="twice-").count() == 50


# --------------------------------------------------------------------------
# the documentation matches the code
# --------------------------------------------------------------------------


def test_openapi_document_lists_exactly_the_receivers_routes():
    import re
    from pathlib import Path

    from devicehub_station_sync.urls import urlpatterns

    spec = (Path(__file__).resolve().parents[2] / "docs" / "openapi-sync.yaml").read_text()
    documented = set(re.findall(r"^  (/v1/\S+):$", spec, flags=re.M))
    routed = {"/" + str(p.pattern) for p in urlpatterns}
    assert documented == routed
