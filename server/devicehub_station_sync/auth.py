"""Per-station bearer tokens.

A token reads ``dhs_<station number>_<43 chars of URL-safe base64>`` (32 random bytes). The
number is not secret: it lets a station that was configured while offline know its own
station-scoped id range. The server stores only the token's SHA-256.
"""

import hashlib
import re
import secrets
from datetime import timedelta
from functools import wraps

from django.db import transaction
from django.http import JsonResponse
from django.utils import timezone

from .models import MAX_STATION_NUMBER, Station, StationToken

TOKEN_RE = re.compile(r"^dhs_([1-9][0-9]{0,5})_([A-Za-z0-9_-]{43})$")
# last_used_at is written at most this often per token, not on every request.
LAST_USED_GRANULARITY = timedelta(seconds=60)


def token_sha256(token):
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def new_token(station):
    """Issue a token for ``station``; returns (StationToken, plaintext). Print it once."""
    plaintext = f"dhs_{station.number}_{secrets.token_urlsafe(32)}"
    row = StationToken.objects.create(
        station=station, token_sha256=token_sha256(plaintext), hint=plaintext[:14]
    )
    return row, plaintext


def next_station_number():
    last = Station.objects.order_by("-number").values_list("number", flat=True).first()
    number = (last or 0) + 1
    if number > MAX_STATION_NUMBER:
        raise ValueError("no station numbers left")
    return number


def error(status, code, message, fix="", **extra):
    body = {"error": {"code": code, "message": message}}
    if fix:
        body["error"]["fix"] = fix
    body["error"].update(extra)
    resp = JsonResponse(body, status=status)
    if status == 401:
        resp["WWW-Authenticate"] = 'Bearer realm="station-sync"'
    return resp


def authenticate(request):
    """The Station of the request's bearer token, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not TOKEN_RE.match(token):
        return None
    row = (
        StationToken.objects.select_related("station")
        .filter(token_sha256=token_sha256(token), revoked_at__isnull=True)
        .first()
    )
    if row is None:
        return None
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_GRANULARITY:
        with transaction.atomic():
            StationToken.objects.filter(pk=row.pk).update(last_used_at=now)
            Station.objects.filter(pk=row.station_id).update(last_seen_at=now)
    return row.station


def station_required(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        station = authenticate(request)
        if station is None:
            return error(
                401,
                "unauthorized",
                "missing, malformed, unknown or revoked station token",
                "give the token printed by `manage.py station_tokens create` as "
                "'Authorization: Bearer dhs_…'",
            )
        request.station = station
        return view(request, *args, **kwargs)

    return wrapped
