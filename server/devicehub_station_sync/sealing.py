"""The receiver's seal key pair: stations seal each api key to its public key (libsodium's
``crypto_box_seal``: X25519 + XSalsa20-Poly1305, 48 bytes overhead) before the key touches the
station's disk, and only this server can open it (docs/sync-api.md, "Sealed api keys").

The private key lives in the file named by the setting ``STATION_SYNC_SEAL_KEY_FILE``
(default ``<BASE_DIR>/station_sync_seal.key``): the 32 raw bytes as standard base64 and a
newline, mode 0600. ``manage.py station_sync_sealkey`` makes it. The file is read on every use,
so a replaced key pair takes effect in every server process at once.
"""

import base64
import binascii
import hashlib
import os
from pathlib import Path

from django.conf import settings
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, SealedBox

ALGORITHM = "x25519-sealedbox"
KEY_BYTES = 32
SEAL_OVERHEAD = 48  # crypto_box_SEALBYTES
FILE_MODE = 0o600
DEFAULT_FILE_NAME = "station_sync_seal.key"
SETTING = "STATION_SYNC_SEAL_KEY_FILE"
MAKE_IT = "run manage.py station_sync_sealkey"


class SealKeyError(Exception):
    """The key file exists but cannot be used (unreadable or not a key)."""


class OpenError(Exception):
    """Why a sealed api key was not opened, in operator words."""


def key_file():
    configured = getattr(settings, SETTING, None)
    if configured:
        return Path(configured)
    base = getattr(settings, "BASE_DIR", None)
    if base is None:
        raise SealKeyError(f"set {SETTING} (the project has no BASE_DIR for the default)")
    return Path(base) / DEFAULT_FILE_NAME


def fingerprint(public_key_bytes):
    return "sha256:" + hashlib.sha256(public_key_bytes).hexdigest()


def load():
    """The server's PrivateKey, or None when there is no key file."""
    path = key_file()
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise SealKeyError(f"the seal key file {path} cannot be read: {e}") from None
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise SealKeyError(
            f"the seal key file {path} does not hold a base64 32-byte key; "
            f"{MAKE_IT} --replace to make a new key pair"
        )
    return PrivateKey(raw)


def public_info(private_key):
    """What ``GET v1/station`` shows as ``seal_key`` (None without a key pair)."""
    if private_key is None:
        return None
    public = bytes(private_key.public_key)
    return {
        "algorithm": ALGORITHM,
        "public_key": base64.b64encode(public).decode("ascii"),
        "fingerprint": fingerprint(public),
    }


def write_new(path):
    """Make a key pair and write its private key to ``path`` (0600), replacing any file there
    atomically. Returns the new PrivateKey."""
    key = PrivateKey.generate()
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # whatever the umask
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(base64.b64encode(bytes(key)).decode("ascii") + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return key


def open_sealed(private_key, sealed_b64, sealed_to):
    """The api key inside ``sealed_b64`` (sealed to the key with fingerprint ``sealed_to``)."""
    if private_key is None:
        raise OpenError(f"the server has no seal key; {MAKE_IT}")
    ours = fingerprint(bytes(private_key.public_key))
    if sealed_to != ours:
        raise OpenError(
            f"sealed to another server key ({sealed_to}); this server's key is {ours}: the key "
            "pair was replaced; the station cannot re-seal it, rotate the device"
        )
    try:
        box = base64.b64decode(sealed_b64, validate=True)
    except (binascii.Error, ValueError):
        box = None
    if box is None or len(box) <= SEAL_OVERHEAD:
        raise OpenError(
            "api_key_sealed is not standard base64 of a sealed box; rotate the device at the station"
        )
    try:
        return SealedBox(private_key).decrypt(box)
    except CryptoError:
        raise OpenError(
            "api_key_sealed does not open with this server's key (damaged or not sealed to it); "
            "rotate the device at the station"
        ) from None
