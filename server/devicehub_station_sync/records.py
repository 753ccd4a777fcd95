"""Upserting a batch of station records into django-devicehub's generated device models.

Rules (docs/sync-api.md, "Upsert rules"):

- A record is identified by (device type, device id); ``generation`` numbers its credentials and
  ``revision`` (station-local, increasing) orders the station's changes to it.
- A device the server does not have is created with the record's hash and api key.
- A device another station made, or one made on the server itself, is a *conflict*.
- Same revision again: *unchanged* (idempotent). An older revision: *superseded*.
- A newer generation replaces the credentials (a rotation); the same generation may only change
  name, firmware version, metadata and deactivate the device; a different hash under the same
  generation is a conflict. The server never reactivates a device.
- Every conflict or invalid record is reported on its own; nothing is silently overwritten.
  Reasons never name another station.
- A device id of the form stations mint (``{prefix}{type}-NNN``) is checked against the id
  leases and offline ranges whether or not the record says how it was minted.
- The station's metadata is kept under one key of the device's metadata (``station_sync``);
  the server's own keys are never touched.
- An api key arrives in the clear (``api_key``, older stations) or sealed to the server's key
  (``api_key_sealed``, see sealing.py); it is opened here and checked against its fingerprint.

Records are written in one transaction per batch: existing rows are locked (``SELECT … FOR
UPDATE`` on PostgreSQL) in device-id order, new ones are bulk-inserted, and a batch that races
another station's insert falls back to one savepoint per record.
"""

import hashlib
import re
from collections import defaultdict

from django.db import IntegrityError, transaction
from django_devicehub.models import DeviceStatus
from django_devicehub.registry import registry

from . import sealing
from .hashes import HashRefused, check_station_hash
from .leases import minted_parts
from .models import OFFLINE_SPAN, IdLease, SyncedDevice

MAX_RECORDS = 1000
DEVICE_ID_MAX = 128
ID_FORBIDDEN = re.compile(r"[/+#\s\x00-\x1f\x7f]")
API_KEY_RE = re.compile(r"^[0-9a-f]{64}$")
FINGERPRINT_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
METADATA_MAX_KEYS = 64
# The one key of a device's metadata that holds what the station sent (replaced as a whole).
STATION_METADATA_KEY = "station_sync"
# A sealed 64-character api key is 112 bytes, 152 characters of base64.
API_KEY_SEALED_MAX = 256
# Outcomes the station treats as acknowledged; the others need a person.
ACKNOWLEDGED = ("created", "updated", "unchanged", "superseded")
# Fields a record must never carry: a plaintext password is refused outright.
FORBIDDEN_FIELDS = ("mqtt_password", "password", "pending_api_key")


class Invalid(Exception):
    pass


def type_key(name):
    return name.lower().replace("_", "")


def type_models(name):
    """(DeviceType class, device model) for a registry name, or None."""
    dt_cls = registry.get(name)
    models = registry.get_models(name)
    if dt_cls is None or models is None:
        return None
    return dt_cls, models[0]


def expected_username(model, device_id):
    return f"{model._meta.label_lower.replace('.', '-')}-{device_id}"


def fingerprint(api_key):
    return "sha256:" + hashlib.sha256(api_key.encode("ascii")).hexdigest()


def _str(raw, field, max_len, required=True, allow_empty=True):
    value = raw.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise Invalid(f"{field} must be a string")
    if len(value) > max_len:
        raise Invalid(f"{field} is longer than {max_len} characters")
    if not allow_empty and not value:
        raise Invalid(f"{field} must not be empty")
    return value


def _int(raw, field, minimum, required=True):
    value = raw.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise Invalid(f"{field} must be an integer >= {minimum}")
    return value


class Record:
    """One validated record."""

    __slots__ = (
        "revision", "type_name", "key", "dt_cls", "model", "device_id", "name", "status",
        "is_active", "mqtt_username", "mqtt_password_hash", "api_key", "api_key_fingerprint",
        "generation", "firmware_version", "id_prefix", "id_number", "metadata",
    )


def _api_key(raw, seal_key):
    """The record's api key in the clear (opened if sealed), or None."""
    plain = _str(raw, "api_key", 128, required=False)
    sealed = _str(raw, "api_key_sealed", API_KEY_SEALED_MAX, required=False)
    if plain is not None and sealed is not None:
        raise Invalid("a record carries api_key or api_key_sealed, not both")
    if sealed is None:
        if plain is not None and not API_KEY_RE.match(plain):
            raise Invalid("api_key must be 64 lower-case hex characters")
        return plain
    sealed_to = _str(raw, "seal_key_fingerprint", 71)
    if not FINGERPRINT_RE.match(sealed_to):
        raise Invalid("seal_key_fingerprint must be 'sha256:' and 64 hex characters")
    try:
        opened = sealing.open_sealed(seal_key, sealed, sealed_to)
    except sealing.OpenError as e:
        raise Invalid(str(e)) from None
    key = opened.decode("ascii", errors="replace")
    if not API_KEY_RE.match(key):
        raise Invalid(
            "api_key_sealed opens to something that is not an api key (64 lower-case hex); "
            "rotate the device at the station"
        )
    return key


def parse_record(raw, seal_key=None):
    if not isinstance(raw, dict):
        raise Invalid("a record must be a JSON object")
    for field in FORBIDDEN_FIELDS:
        if field in raw:
            raise Invalid(f"records must not carry '{field}': send the hash only")
    r = Record()
    r.revision = _int(raw, "revision", 1)
    r.type_name = _str(raw, "device_type", 128, allow_empty=False)
    found = type_models(r.type_name)
    if found is None:
        raise Invalid(f"the server has no device type '{r.type_name}' (see GET v1/types)")
    r.dt_cls, r.model = found
    r.key = type_key(r.dt_cls.__name__)
    r.device_id = _str(raw, "device_id", DEVICE_ID_MAX, allow_empty=False)
    if ID_FORBIDDEN.search(r.device_id):
        raise Invalid("device_id contains '/', '+', '#', whitespace or a control character")
    r.name = _str(raw, "name", 255)
    r.status = _str(raw, "status", 20)
    if r.status not in DeviceStatus.values:
        raise Invalid(f"status '{r.status}' is not one of {', '.join(DeviceStatus.values)}")
    r.is_active = raw.get("is_active")
    if not isinstance(r.is_active, bool):
        raise Invalid("is_active must be true or false")
    r.mqtt_username = _str(raw, "mqtt_username", 128, allow_empty=False)
    want = expected_username(r.model, r.device_id)
    if r.mqtt_username != want:
        raise Invalid(
            f"mqtt_username '{r.mqtt_username}' is not what this server derives ('{want}'): "
            "the station's app label or type name differs from the server's (see GET v1/types)"
        )
    r.mqtt_password_hash = _str(raw, "mqtt_password_hash", 256, allow_empty=False)
    try:
        check_station_hash(r.mqtt_password_hash)
    except HashRefused as e:
        raise Invalid(str(e)) from None
    r.api_key_fingerprint = _str(raw, "api_key_fingerprint", 71)
    if not FINGERPRINT_RE.match(r.api_key_fingerprint):
        raise Invalid("api_key_fingerprint must be 'sha256:' and 64 hex characters")
    r.api_key = _api_key(raw, seal_key)
    if r.api_key is not None and fingerprint(r.api_key) != r.api_key_fingerprint:
        which = "api_key_sealed opens to a key that" if raw.get("api_key_sealed") else "api_key"
        raise Invalid(f"{which} does not match api_key_fingerprint")
    r.generation = _int(raw, "generation", 1)
    r.firmware_version = _str(raw, "firmware_version", 50)
    r.id_prefix = _str(raw, "id_prefix", 64, required=False)
    r.id_number = _int(raw, "id_number", 1, required=False)
    if (r.id_prefix is None) != (r.id_number is None):
        raise Invalid("id_prefix and id_number go together")
    if r.id_number is not None:
        minted = f"{r.id_prefix}{r.dt_cls.__name__.lower()}-{r.id_number:03d}"
        if minted != r.device_id:
            raise Invalid(f"device_id is not {minted} (id_prefix + type + id_number)")
    # Whatever the record says, an id of the minted form is owned by its number's station.
    parts = minted_parts(r.device_id, r.dt_cls.__name__.lower())
    r.id_prefix, r.id_number = parts if parts else (None, None)
    metadata = raw.get("metadata", {})
    if not isinstance(metadata, dict) or len(metadata) > METADATA_MAX_KEYS:
        raise Invalid(f"metadata must be a JSON object with at most {METADATA_MAX_KEYS} keys")
    r.metadata = metadata
    return r


def _result(raw_or_rec, outcome, generation=None, reason=None):
    if isinstance(raw_or_rec, Record):
        out = {
            "device_type": raw_or_rec.dt_cls.__name__,
            "device_id": raw_or_rec.device_id,
            "revision": raw_or_rec.revision,
        }
    else:
        raw = raw_or_rec if isinstance(raw_or_rec, dict) else {}
        out = {
            k: raw.get(k) if isinstance(raw.get(k), (str, int)) else None
            for k in ("device_type", "device_id", "revision")
        }
    out["outcome"] = outcome
    if generation is not None:
        out["server_generation"] = generation
    if reason:
        out["reason"] = reason
    return out


def _id_conflict(rec, station, leases):
    """Why the station may not create this id, or None."""
    n = rec.id_number
    if n is None:
        return None
    if n >= OFFLINE_SPAN:
        if n // OFFLINE_SPAN != station.number:
            first = station.number * OFFLINE_SPAN + 1
            return (
                f"{rec.device_id} is in another station's offline id range; this station "
                f"(#{station.number}) mints offline from {rec.id_prefix}{rec.key}-{first}"
            )
        return None
    for prefix, start, end, station_pk in leases:
        if prefix == rec.id_prefix and start <= n < end and station_pk != station.pk:
            return f"number {n} of {rec.id_prefix}{rec.key}-NNN was leased to another station"
    return None


def _new_device(rec):
    return rec.model(
        device_id=rec.device_id,
        name=rec.name,
        status=rec.status,
        is_active=rec.is_active,
        firmware_version=rec.firmware_version,
        mqtt_username=rec.mqtt_username,
        mqtt_password_hash=rec.mqtt_password_hash,
        api_key=rec.api_key,
        metadata={STATION_METADATA_KEY: rec.metadata},
    )


def _apply_existing(dev, synced, rec, station):
    """Result for a record of a device the server already has (row locked)."""
    if synced is None:
        return _result(
            rec, "conflict",
            reason=f"{rec.device_id} already exists on the server and was not made by a "
            "station (created there, e.g. by iot_provision or the admin); rename or remove one",
        )
    if synced.station_id != station.pk:
        return _result(
            rec, "conflict", synced.generation,
            reason=f"{rec.device_id} belongs to another station; give this device another id",
        )
    if rec.revision < synced.revision:
        return _result(rec, "superseded", synced.generation)
    if rec.revision == synced.revision:
        if rec.generation == synced.generation and rec.mqtt_password_hash == dev.mqtt_password_hash:
            return _result(rec, "unchanged", synced.generation)
        return _result(
            rec, "conflict", synced.generation,
            reason=f"revision {rec.revision} was already applied with other contents: "
            "was the station database replaced?",
        )
    if rec.generation < synced.generation:
        return _result(
            rec, "conflict", synced.generation,
            reason=f"the server holds credential generation {synced.generation}, newer than the "
            f"station's {rec.generation}: was the station database restored from a backup?",
        )
    if rec.is_active and not dev.is_active:
        return _result(
            rec, "conflict", synced.generation,
            reason=f"{rec.device_id} was deactivated on the server; a station cannot reactivate it",
        )
    changed = []
    if rec.generation > synced.generation:
        if rec.api_key is None:
            return _result(
                rec, "conflict", synced.generation,
                reason=f"generation {rec.generation} arrived without its api_key; rotate the "
                "device again at the station",
            )
        dev.mqtt_password_hash = rec.mqtt_password_hash
        dev.api_key = rec.api_key
        dev.mqtt_username = rec.mqtt_username
        changed += ["mqtt_password_hash", "api_key", "mqtt_username"]
    else:
        if rec.mqtt_password_hash != dev.mqtt_password_hash:
            return _result(
                rec, "conflict", synced.generation,
                reason=f"the credentials of generation {rec.generation} were changed on the "
                "server; rotate the device at the station",
            )
        if rec.api_key is not None and rec.api_key != dev.api_key:
            return _result(
                rec, "conflict", synced.generation,
                reason="the api_key was changed on the server; rotate the device at the station",
            )
    if dev.is_active and not rec.is_active:
        dev.is_active = False
        changed.append("is_active")
    for field in ("name", "firmware_version"):
        if getattr(dev, field) != getattr(rec, field):
            setattr(dev, field, getattr(rec, field))
            changed.append(field)
    server_metadata = dev.metadata if isinstance(dev.metadata, dict) else {}
    if server_metadata.get(STATION_METADATA_KEY) != rec.metadata:
        dev.metadata = {**server_metadata, STATION_METADATA_KEY: rec.metadata}
        changed.append("metadata")
    if changed:
        try:
            with transaction.atomic():
                dev.save(update_fields=[*changed, "updated_at"])
        except IntegrityError:
            # A unique column clashed (the new api key or username is another device's): a
            # refusal the station shows, not a database error it would retry forever.
            return _result(
                rec, "conflict", synced.generation,
                reason=f"the api_key or mqtt_username of generation {rec.generation} is already "
                "used by another device on the server; rotate the device again at the station",
            )
    synced.generation = rec.generation
    synced.revision = rec.revision
    synced.save(update_fields=["generation", "revision", "last_synced_at"])
    return _result(rec, "updated" if changed else "unchanged", synced.generation)


def _create_one(rec, station):
    """Insert one device in a savepoint; on a unique clash, re-read and decide."""
    try:
        with transaction.atomic():
            _new_device(rec).save(force_insert=True)
            SyncedDevice.objects.create(
                device_type=rec.key, device_id=rec.device_id, station=station,
                generation=rec.generation, revision=rec.revision,
            )
        return _result(rec, "created", rec.generation)
    except IntegrityError:
        pass
    dev = rec.model.objects.select_for_update().filter(device_id=rec.device_id).first()
    if dev is None:
        return _result(
            rec, "conflict",
            reason="the mqtt_username or api_key is already used by another device on the "
            "server; rotate the device at the station (a new api key), or if the username is "
            "taken, remove or rename the server's device",
        )
    synced = (
        SyncedDevice.objects.select_for_update().select_related("station")
        .filter(device_type=rec.key, device_id=rec.device_id).first()
    )
    return _apply_existing(dev, synced, rec, station)


def _create_many(items, station, results):
    if not items:
        return
    try:
        with transaction.atomic():
            items[0][1].model.objects.bulk_create([_new_device(rec) for _, rec in items])
            SyncedDevice.objects.bulk_create([
                SyncedDevice(
                    device_type=rec.key, device_id=rec.device_id, station=station,
                    generation=rec.generation, revision=rec.revision,
                )
                for _, rec in items
            ])
    except IntegrityError:
        # Another station (or a person) created one of these ids meanwhile: go one by one.
        for i, rec in items:
            results[i] = _create_one(rec, station)
        return
    for i, rec in items:
        results[i] = _result(rec, "created", rec.generation)


def upsert(station, raw_records):
    """Apply ``raw_records``; returns one result per record, in order."""
    results = [None] * len(raw_records)
    groups = defaultdict(list)
    seen = set()
    sealed = any(isinstance(raw, dict) and raw.get("api_key_sealed") is not None
                 for raw in raw_records)
    seal_key = sealing.load() if sealed else None  # SealKeyError: the server's to fix
    for i, raw in enumerate(raw_records):
        try:
            rec = parse_record(raw, seal_key)
        except Invalid as e:
            results[i] = _result(raw, "invalid", reason=str(e))
            continue
        if (rec.key, rec.device_id) in seen:
            results[i] = _result(rec, "invalid", reason="the same device appears twice in one batch")
            continue
        seen.add((rec.key, rec.device_id))
        groups[rec.key].append((i, rec))

    with transaction.atomic():
        for key in sorted(groups):
            items = sorted(groups[key], key=lambda item: item[1].device_id)
            model = items[0][1].model
            ids = [rec.device_id for _, rec in items]
            existing = {
                d.device_id: d
                for d in model.objects.select_for_update().filter(device_id__in=ids).order_by("device_id")
            }
            synced = {
                s.device_id: s
                for s in SyncedDevice.objects.select_for_update(of=("self",))
                .select_related("station")
                .filter(device_type=key, device_id__in=ids)
                .order_by("device_id")
            }
            prefixes = {rec.id_prefix for _, rec in items if rec.id_prefix is not None}
            leases = list(
                IdLease.objects.filter(device_type=key, prefix__in=prefixes)
                .values_list("prefix", "start", "end", "station_id")
            ) if prefixes else []
            to_create = []
            for i, rec in items:
                dev = existing.get(rec.device_id)
                if dev is not None:
                    results[i] = _apply_existing(dev, synced.get(rec.device_id), rec, station)
                    continue
                if rec.device_id in synced:
                    results[i] = _result(
                        rec, "conflict",
                        reason=f"{rec.device_id} was deleted on the server after it was synced",
                    )
                    continue
                why = _id_conflict(rec, station, leases)
                if why:
                    results[i] = _result(rec, "conflict", reason=why)
                    continue
                if rec.api_key is None:
                    results[i] = _result(
                        rec, "conflict",
                        reason="the server does not have this device and the station no longer "
                        "holds its api_key; rotate and re-flash the device at the station",
                    )
                    continue
                to_create.append((i, rec))
            _create_many(to_create, station, results)
    return results
