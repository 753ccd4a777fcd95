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

import hashlib
import json
import secrets
import threading
from io import StringIO

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client

from devicehub_station_sync.auth import new_token
from devicehub_station_sync.models import OFFLINE_SPAN, Station, SyncedDevice

API = "/station-sync/v1"


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def quick_hash(password):
    """A Django-encoded PBKDF2 hash with few iterations: what Django verifies, made fast."""
    return PBKDF2PasswordHasher().encode(password, secrets.token_hex(8), iterations=1000)


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
    assert dev.metadata == {"batch": 1, "station": "line-1", "hardware_id": "HW-1", "generation": 1}
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
    assert outcomes(res) == ["conflict"] and "belongs to station 'line-1'" in res[0]["reason"]

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
    assert "PASSWORD_HASHERS" in reasons[2]
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
    assert "offline id range of station #1" in res[1]["reason"]
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
