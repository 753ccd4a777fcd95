"""``manage.py station_sync_sealkey [--show | --replace]``: the key pair stations seal api keys to.

    manage.py station_sync_sealkey             # make the key pair (refuses if one exists)
    manage.py station_sync_sealkey --show      # print the public key and its fingerprint
    manage.py station_sync_sealkey --replace   # a new key pair; api keys sealed to the old one
                                               # and still waiting at stations cannot be opened

The private key goes to ``STATION_SYNC_SEAL_KEY_FILE`` (default ``<BASE_DIR>/station_sync_seal.key``),
mode 0600. Compare the fingerprint with what ``station sync config`` prints at each station.
"""

from django.core.management.base import BaseCommand, CommandError

from ... import sealing


class Command(BaseCommand):
    help = "Make (or show, or replace) the key pair DeviceHub Stations seal api keys to."

    def add_arguments(self, parser):
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--show", action="store_true",
                          help="print the public key and fingerprint; change nothing")
        mode.add_argument("--replace", action="store_true",
                          help="replace an existing key pair (api keys sealed to it are lost)")

    def handle(self, *args, **opts):
        try:
            path = sealing.key_file()
            existing = sealing.load()
        except sealing.SealKeyError as e:
            if not opts["replace"]:
                raise CommandError(str(e)) from None
            existing = None  # an unusable file: --replace overwrites it
        if opts["show"]:
            if existing is None:
                raise CommandError(f"no seal key pair at {path}: {sealing.MAKE_IT}")
            self._print(existing, path)
            return
        if existing is not None and not opts["replace"]:
            info = sealing.public_info(existing)
            raise CommandError(
                f"a seal key pair already exists at {path} ({info['fingerprint']}); keep it, or "
                "pass --replace to make a new one (api keys sealed to the old key that still "
                "wait at stations can then no longer be opened: those devices must be rotated)"
            )
        if opts["replace"]:
            self.stderr.write(
                "warning: replacing the seal key pair: api keys sealed to the old key that still "
                "wait at stations can no longer be opened (those records are refused; rotate the "
                "devices). Every station must run `station sync config` again and confirm the "
                "new fingerprint."
            )
        key = sealing.write_new(path)
        self._print(key, path)

    def _print(self, key, path):
        info = sealing.public_info(key)
        self.stderr.write(f"seal key pair: {path} (private key, mode 0600)")
        self.stdout.write(f"algorithm: {info['algorithm']}")
        self.stdout.write(f"public_key: {info['public_key']}")
        self.stdout.write(f"fingerprint: {info['fingerprint']}")
