"""Blocks of id numbers for ``{prefix}{type}-NNN`` device ids, leased to stations.

The server keeps one counter per (type, prefix). A lease starts after the highest of: the
counter, every matching id already on the server (made by iot_provision, the admin, or any
station) and the highest number the asking station already used locally. Counter rows are
locked (``SELECT … FOR UPDATE``) so two stations asking at once get disjoint blocks.
Numbers at or above ``OFFLINE_SPAN`` are never leased: they are the stations' offline ranges.

``local_highest`` is trusted only up to ``MAX_LOCAL_AHEAD`` above the highest number the server
knows for the (type, prefix): one request cannot move the counter to the end of the range.
"""

import re

from django.db import transaction

from .models import OFFLINE_SPAN, IdCounter, IdLease

MAX_LEASE = 10_000
# How far a station's own numbering (before it synced) may run ahead of what the server knows.
MAX_LOCAL_AHEAD = MAX_LEASE
PREFIX_MAX = 64
PREFIX_RE = re.compile(r"^[A-Za-z0-9._-]*$")
# Stations zero-pad minted numbers to at least this many digits (station-core's naming.rs).
ID_NUMBER_MIN_DIGITS = 3


def minted_parts(device_id, type_lower):
    """(prefix, number) if ``device_id`` has the form a station mints, ``{prefix}{type}-NNN``
    (at least 3 digits, the number read as an integer), else None."""
    head, sep, digits = device_id.rpartition("-")
    if not sep or len(digits) < ID_NUMBER_MIN_DIGITS or not (digits.isascii() and digits.isdigit()):
        return None
    if not head.endswith(type_lower):
        return None
    return head[: len(head) - len(type_lower)], int(digits)


class LeaseError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code


def highest_on_server(model, prefix, type_lower):
    stem = f"{prefix}{type_lower}-"
    highest = 0
    for device_id in model.objects.filter(device_id__startswith=stem).values_list(
        "device_id", flat=True
    ):
        digits = device_id[len(stem):]
        if digits.isascii() and digits.isdigit():
            n = int(digits)
            if n < OFFLINE_SPAN:
                highest = max(highest, n)
    return highest


def lease(station, dt_cls, model, prefix, count, local_highest):
    if not isinstance(prefix, str) or len(prefix) > PREFIX_MAX or not PREFIX_RE.match(prefix):
        raise LeaseError(400, "invalid_request", "prefix: at most 64 of A-Z a-z 0-9 . _ -")
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_LEASE:
        raise LeaseError(400, "invalid_request", f"count must be an integer from 1 to {MAX_LEASE}")
    if not isinstance(local_highest, int) or isinstance(local_highest, bool) or local_highest < 0:
        raise LeaseError(400, "invalid_request", "local_highest must be an integer >= 0")
    key = dt_cls.__name__.lower().replace("_", "")
    with transaction.atomic():
        counter, _ = IdCounter.objects.select_for_update().get_or_create(
            device_type=key, prefix=prefix
        )
        known = max(counter.next_number - 1, highest_on_server(model, prefix, dt_cls.__name__.lower()))
        if local_highest < OFFLINE_SPAN and local_highest > known + MAX_LOCAL_AHEAD:
            raise LeaseError(
                400, "invalid_request",
                f"local_highest {local_highest} is more than {MAX_LOCAL_AHEAD} above the highest "
                f"number this server knows for {prefix}{key}-NNN ({known}); at most "
                f"{known + MAX_LOCAL_AHEAD} is accepted: push the station's records first, "
                "or use a new prefix",
            )
        start = max(known + 1, (local_highest + 1) if local_highest < OFFLINE_SPAN else 1)
        end = start + count
        if end > OFFLINE_SPAN:
            raise LeaseError(
                409, "numbers_exhausted",
                f"no {count} numbers left below {OFFLINE_SPAN} for {prefix}{key}-NNN; use a new prefix",
            )
        counter.next_number = end
        counter.save(update_fields=["next_number"])
        IdLease.objects.create(
            station=station, device_type=key, prefix=prefix, start=start, end=end
        )
    return start, end
