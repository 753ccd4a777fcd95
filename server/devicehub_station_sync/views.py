"""The v1 HTTP API (docs/sync-api.md, docs/openapi-sync.yaml). JSON in, JSON out; every
endpoint needs a station token; no response ever carries a password hash or an api key."""

import json
import logging
from collections import defaultdict

from django.db import DatabaseError
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from . import API_VERSION, catalog, leases, records, sealing
from .auth import error, station_required
from .models import OFFLINE_SPAN, SyncedDevice

RETRY_AFTER_SECONDS = 2
logger = logging.getLogger(__name__)


def _json_body(request):
    if request.content_type != "application/json":
        return None, error(415, "unsupported_media_type", "send Content-Type: application/json")
    try:
        return json.loads(request.body), None
    except (ValueError, UnicodeDecodeError):
        return None, error(400, "invalid_request", "the body is not valid JSON")


def _busy():
    resp = error(
        503, "busy", "the server's database is busy (lock timeout or deadlock); try again",
        "the station retries on its own",
    )
    resp["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return resp


def _seal_key_unusable(e):
    # The server's own configuration is broken: a 5xx, so stations retry once it is fixed.
    logger.error("station sync: %s", e)  # the path and cause, for the administrator only
    return error(
        500, "seal_key_unusable", "the server's seal key cannot be used",
        "the server's administrator must check STATION_SYNC_SEAL_KEY_FILE "
        "(manage.py station_sync_sealkey --show)",
    )


@require_GET
@station_required
def station(request):
    s = request.station
    try:
        seal_key = sealing.public_info(sealing.load())
    except sealing.SealKeyError as e:
        return _seal_key_unusable(e)
    return JsonResponse(
        {
            "api_version": API_VERSION,
            "station": {"name": s.name, "number": s.number},
            "server_time": timezone.now().isoformat(),
            "limits": {
                "max_records": records.MAX_RECORDS,
                "max_lease": leases.MAX_LEASE,
                "offline_span": OFFLINE_SPAN,
            },
            "seal_key": seal_key,
        }
    )


@require_GET
@station_required
def types(request):
    return JsonResponse({"types": catalog.device_types()})


@csrf_exempt
@require_POST
@station_required
def devices(request):
    body, err = _json_body(request)
    if err:
        return err
    recs = body.get("records") if isinstance(body, dict) else None
    if not isinstance(recs, list) or not recs:
        return error(400, "invalid_request", "the body must be {\"records\": [ … ]} with at least one record")
    if len(recs) > records.MAX_RECORDS:
        return error(
            413, "too_many_records",
            f"{len(recs)} records; at most {records.MAX_RECORDS} per request",
            "send smaller batches",
            max_records=records.MAX_RECORDS,
        )
    try:
        results = records.upsert(request.station, recs)
    except DatabaseError:
        return _busy()
    except sealing.SealKeyError as e:
        return _seal_key_unusable(e)
    counts = defaultdict(int)
    for r in results:
        counts[r["outcome"]] += 1
    return JsonResponse({"results": results, "counts": dict(counts)})


@csrf_exempt
@require_POST
@station_required
def device_status(request):
    body, err = _json_body(request)
    if err:
        return err
    wanted = body.get("devices") if isinstance(body, dict) else None
    if not isinstance(wanted, list) or len(wanted) > records.MAX_RECORDS:
        return error(
            400, "invalid_request",
            f"the body must be {{\"devices\": [{{\"device_type\", \"device_id\"}}, …]}} with at most "
            f"{records.MAX_RECORDS} entries",
        )
    by_type = defaultdict(set)
    unknown = []
    for item in wanted:
        if not isinstance(item, dict) or not isinstance(item.get("device_id"), str) \
                or not isinstance(item.get("device_type"), str):
            return error(400, "invalid_request", "each entry needs device_type and device_id strings")
        found = records.type_models(item["device_type"])
        if found is None:
            unknown.append(item)
            continue
        by_type[found].add(item["device_id"])
    out = []
    for (dt_cls, model), ids in by_type.items():
        key = records.type_key(dt_cls.__name__)
        synced = dict(
            SyncedDevice.objects.filter(
                station=request.station, device_type=key, device_id__in=ids
            ).values_list("device_id", "generation")
        )
        rows = model.objects.filter(device_id__in=synced.keys()).values(
            "device_id", "status", "last_seen", "is_active"
        )
        seen = set()
        for row in rows:
            seen.add(row["device_id"])
            out.append(
                {
                    "device_type": dt_cls.__name__,
                    "device_id": row["device_id"],
                    "status": row["status"],
                    "last_seen": row["last_seen"].isoformat() if row["last_seen"] else None,
                    "is_active": row["is_active"],
                    "generation": synced[row["device_id"]],
                }
            )
        unknown += [{"device_type": dt_cls.__name__, "device_id": d} for d in sorted(ids - seen)]
    out.sort(key=lambda d: (d["device_type"], d["device_id"]))
    return JsonResponse({"devices": out, "unknown": unknown})


@csrf_exempt
@require_POST
@station_required
def id_leases(request):
    body, err = _json_body(request)
    if err:
        return err
    if not isinstance(body, dict) or not isinstance(body.get("device_type"), str):
        return error(400, "invalid_request", "device_type (string) is required")
    found = records.type_models(body["device_type"])
    if found is None:
        return error(
            404, "unknown_type", f"the server has no device type '{body['device_type']}'",
            "see GET v1/types",
        )
    dt_cls, model = found
    try:
        start, end = leases.lease(
            request.station, dt_cls, model, body.get("prefix", ""), body.get("count"),
            body.get("local_highest", 0),
        )
    except leases.LeaseError as e:
        return error(e.status, e.code, str(e))
    except DatabaseError:
        return _busy()
    return JsonResponse(
        {
            "device_type": dt_cls.__name__,
            "prefix": body.get("prefix", ""),
            "start": start,
            "end": end,
            "station_number": request.station.number,
        },
        status=201,
    )
