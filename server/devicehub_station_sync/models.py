"""What the receiver keeps beside django-devicehub's own device models.

- ``Station`` / ``StationToken``: who may push records. Tokens are stored as a SHA-256 of the
  token (they are 32 random bytes, so a fast hash is enough); the plaintext is printed once.
- ``SyncedDevice``: for each device a station made, which station owns it, the credential
  generation the server holds and the last station revision applied (idempotency).
- ``IdCounter`` / ``IdLease``: blocks of id numbers leased to stations so two stations never
  mint the same device id.

The device rows themselves live in the generated ``{Type}Device`` tables; nothing here holds
a password hash or an api key.
"""

from django.db import models

# Station-scoped offline range: a station with number S that has no lease mints numbers in
# [S * OFFLINE_SPAN + 1, (S + 1) * OFFLINE_SPAN); leases hand out numbers below OFFLINE_SPAN.
OFFLINE_SPAN = 1_000_000_000
MAX_STATION_NUMBER = 999_999


class Station(models.Model):
    name = models.SlugField(max_length=64, unique=True)
    # Part of every token of this station (not secret): a station configured while offline
    # still knows its own offline id range.
    number = models.PositiveIntegerField(unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["number"]

    def __str__(self):
        return f"{self.name} (#{self.number})"


class StationToken(models.Model):
    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="tokens")
    token_sha256 = models.CharField(max_length=64, unique=True)
    # The first characters, to tell tokens apart in `station_tokens list`.
    hint = models.CharField(max_length=24)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.station.name}: {self.hint}…"


class SyncedDevice(models.Model):
    """One device a station pushed. ``device_type`` is the registry key (``weatherstation``)."""

    device_type = models.CharField(max_length=128)
    device_id = models.CharField(max_length=128)
    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="devices")
    generation = models.PositiveIntegerField()
    revision = models.BigIntegerField()
    first_synced_at = models.DateTimeField(auto_now_add=True)
    last_synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["device_type", "device_id"], name="station_sync_device_unique"
            )
        ]

    def __str__(self):
        return f"{self.device_type}/{self.device_id} g{self.generation}"


class IdCounter(models.Model):
    """The next number the server will lease for ``{prefix}{type}-NNN`` ids."""

    device_type = models.CharField(max_length=128)
    prefix = models.CharField(max_length=64, blank=True)
    next_number = models.BigIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["device_type", "prefix"], name="station_sync_counter_unique"
            )
        ]


class IdLease(models.Model):
    """Numbers ``[start, end)`` of ``{prefix}{type}-NNN`` leased to one station."""

    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="leases")
    device_type = models.CharField(max_length=128)
    prefix = models.CharField(max_length=64, blank=True)
    start = models.BigIntegerField()
    end = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["device_type", "prefix", "start"])]
