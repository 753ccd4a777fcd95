"""``manage.py station_tokens create|list|revoke``: who may push records.

    manage.py station_tokens create line-3       # new station (next free number) + token, printed once
    manage.py station_tokens create line-3       # again: a second token for the same station
    manage.py station_tokens list                # stations, numbers, token hints, last use, revoked
    manage.py station_tokens revoke line-3       # revoke every token of the station
    manage.py station_tokens revoke line-3 --hint dhs_3_AbCdEfGh   # just one token
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from ...auth import new_token, next_station_number
from ...models import Station, StationToken


class Command(BaseCommand):
    help = "Create, list and revoke DeviceHub Station sync tokens."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="issue a token (creating the station if new)")
        create.add_argument("station", help="station name (a slug such as line-3)")
        create.add_argument(
            "--number", type=int,
            help="station number for a new station (default: the next free one)",
        )
        sub.add_parser("list", help="list stations and their tokens (never the tokens themselves)")
        revoke = sub.add_parser("revoke", help="revoke a station's tokens")
        revoke.add_argument("station")
        revoke.add_argument("--hint", help="revoke only the token starting with this")

    def handle(self, *args, **opts):
        return getattr(self, "_" + opts["action"])(opts)

    def _create(self, opts):
        name = opts["station"]
        if slugify(name) != name:
            raise CommandError(f"'{name}' is not a slug: use letters, digits, '-' and '_'")
        with transaction.atomic():
            station = Station.objects.select_for_update().filter(name=name).first()
            if station is None:
                number = opts["number"] or next_station_number()
                if Station.objects.filter(number=number).exists():
                    raise CommandError(f"station number {number} is taken")
                station = Station.objects.create(name=name, number=number)
            elif opts["number"] and opts["number"] != station.number:
                raise CommandError(f"station {name} already has number {station.number}")
            _, token = new_token(station)
        self.stderr.write(
            f"station {station.name} (#{station.number}): token below, shown only now; configure "
            "the station with it (`station sync config --token-stdin`)"
        )
        self.stdout.write(token)

    def _list(self, opts):
        for station in Station.objects.all():
            self.stdout.write(
                f"{station.name}\t#{station.number}\tlast seen {station.last_seen_at or 'never'}"
            )
            for t in station.tokens.all():
                state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active"
                used = t.last_used_at or "never"
                self.stdout.write(f"  {t.hint}…\t{state}\tcreated {t.created_at:%Y-%m-%d %H:%M}\tlast used {used}")

    def _revoke(self, opts):
        station = Station.objects.filter(name=opts["station"]).first()
        if station is None:
            raise CommandError(f"no station {opts['station']}")
        tokens = StationToken.objects.filter(station=station, revoked_at__isnull=True)
        if opts["hint"]:
            tokens = tokens.filter(hint__startswith=opts["hint"][:14])
        n = tokens.update(revoked_at=timezone.now())
        if n == 0:
            raise CommandError("no active token matched")
        self.stdout.write(f"revoked {n} token(s) of {station.name}")
