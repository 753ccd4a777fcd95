"""Which password hashes a station may send: argon2 (argon2id or argon2i, as Django's
Argon2PasswordHasher makes them) and pbkdf2_sha256, well formed, salted like Django salts, and
with at least the parameters of the server's own configured hasher for that algorithm
(``PASSWORD_HASHERS``). Everything else is refused, even when the server could verify it
(md5, sha1, unsalted, ``pbkdf2_sha256$1$…``): a station's hash must be as costly to attack as
one the server makes itself.

Each parameter may be at most ``MAX_COST_FACTOR`` times the larger of the server's own and
Django's stock hasher's, so a hash cannot make the broker's password check stall the server, and
a hash at Django's own defaults is never refused as too costly (a bench server with cheap hashers
still takes a station that hashes like production).
"""

import base64
import binascii
import math
import re

from django.contrib.auth.hashers import (
    Argon2PasswordHasher,
    PBKDF2PasswordHasher,
    get_hashers_by_algorithm,
)

ARGON2 = "argon2"
PBKDF2 = "pbkdf2_sha256"
ACCEPTED = (ARGON2, PBKDF2)
ARGON2_VARIANTS = ("argon2id", "argon2i")  # what Django's Argon2PasswordHasher makes (argon2i: Django < 3.2)
ARGON2_VERSION = 19
# Django's salts: get_random_string over 62 characters, at least the hasher's salt_entropy bits.
SALT_ALPHABET_BITS = math.log2(62)
ARGON2_MIN_SALT_BYTES = 16
ARGON2_HASH_BYTES = (16, 64)
PBKDF2_HASH_BYTES = 32  # SHA-256's output
MAX_COST_FACTOR = 10
FIX = "set the station's hash_algorithm to argon2 (Django's defaults) and rotate the device"

_NUM = r"(0|[1-9][0-9]{0,9})"
PBKDF2_RE = re.compile(rf"^pbkdf2_sha256\${_NUM}\$([^$]*)\$([A-Za-z0-9+/]*={{0,2}})$")
ARGON2_RE = re.compile(
    rf"^argon2\$(argon2id|argon2i|argon2d)\$v={_NUM}\$m={_NUM},t={_NUM},p={_NUM}"
    r"\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$"
)
ALGORITHM_NAME_RE = re.compile(r"^[a-z0-9_]{1,32}$")


class HashRefused(Exception):
    """Why a station's hash is refused, in operator words (never quoting the hash)."""


def _b64(text):
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _min_salt_chars(hasher):
    return math.ceil(hasher.salt_entropy / SALT_ALPHABET_BITS)


def _check_pbkdf2(encoded, hasher):
    m = PBKDF2_RE.match(encoded)
    if not m:
        raise HashRefused(
            "mqtt_password_hash is not a well-formed pbkdf2_sha256 hash "
            "(pbkdf2_sha256$<iterations>$<salt>$<base64 of 32 bytes>)"
        )
    iterations, salt, digest = int(m.group(1)), m.group(2), m.group(3)
    minimum = hasher.iterations
    ceiling = max(minimum, PBKDF2PasswordHasher.iterations) * MAX_COST_FACTOR
    if iterations < minimum:
        raise HashRefused(
            f"mqtt_password_hash is pbkdf2_sha256 with {iterations} iterations; this server "
            f"requires at least {minimum} iterations (its PASSWORD_HASHERS): set the station's "
            f"hash_algorithm to pbkdf2_sha256:iterations={minimum} or argon2 and rotate the device"
        )
    if iterations > ceiling:
        raise HashRefused(
            f"mqtt_password_hash is pbkdf2_sha256 with {iterations} iterations; this server "
            f"accepts at most {ceiling} ({MAX_COST_FACTOR} times the larger of its own and "
            f"Django's default): {FIX}"
        )
    min_salt = _min_salt_chars(hasher)
    if len(salt) < min_salt or not salt.isascii() or not salt.isalnum():
        raise HashRefused(
            f"mqtt_password_hash has a salt of {len(salt)} characters; this server requires at "
            f"least {min_salt} letters and digits (Django's {hasher.salt_entropy} bits): {FIX}"
        )
    raw = _b64(digest)
    if raw is None or len(raw) != PBKDF2_HASH_BYTES or not digest.endswith("="):
        raise HashRefused(
            "mqtt_password_hash's pbkdf2_sha256 hash part is not the base64 of 32 bytes"
        )


def _check_argon2(encoded, hasher):
    m = ARGON2_RE.match(encoded)
    if not m:
        raise HashRefused(
            "mqtt_password_hash is not a well-formed argon2 hash "
            "(argon2$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>)"
        )
    variant = m.group(1)
    version, memory, time, lanes = (int(m.group(i)) for i in range(2, 6))
    want = (hasher.memory_cost, hasher.time_cost, hasher.parallelism)
    want_text = f"m={want[0]},t={want[1]},p={want[2]}"
    if variant not in ARGON2_VARIANTS or version != ARGON2_VERSION:
        raise HashRefused(
            f"mqtt_password_hash is {variant} v={version}; this server accepts argon2id or "
            f"argon2i v={ARGON2_VERSION} (what Django makes): {FIX}"
        )
    if memory < want[0] or time < want[1] or lanes < want[2]:
        raise HashRefused(
            f"mqtt_password_hash is argon2 with m={memory},t={time},p={lanes}; this server "
            f"requires at least {want_text} (its PASSWORD_HASHERS): set the station's "
            f"hash_algorithm to argon2:{want_text} and rotate the device"
        )
    stock = (
        Argon2PasswordHasher.memory_cost,
        Argon2PasswordHasher.time_cost,
        Argon2PasswordHasher.parallelism,
    )
    ceiling = tuple(max(w, d) * MAX_COST_FACTOR for w, d in zip(want, stock))
    if any(have > c for have, c in zip((memory, time, lanes), ceiling)):
        raise HashRefused(
            f"mqtt_password_hash is argon2 with m={memory},t={time},p={lanes}; this server accepts "
            f"at most m={ceiling[0]},t={ceiling[1]},p={ceiling[2]} ({MAX_COST_FACTOR} times the "
            f"larger of its own and Django's default in each parameter): {FIX}"
        )
    salt, digest = _b64(m.group(6)), _b64(m.group(7))
    if salt is None or len(salt) < ARGON2_MIN_SALT_BYTES:
        raise HashRefused(
            f"mqtt_password_hash's argon2 salt is not base64 of at least {ARGON2_MIN_SALT_BYTES} "
            f"bytes: {FIX}"
        )
    low, high = ARGON2_HASH_BYTES
    if digest is None or not low <= len(digest) <= high:
        raise HashRefused(
            f"mqtt_password_hash's argon2 hash part is not base64 of {low} to {high} bytes"
        )
    try:
        hasher.decode(encoded)  # the library's own parser agrees
    except Exception:  # noqa: BLE001 - any parse failure is a malformed hash
        raise HashRefused("mqtt_password_hash is not a well-formed argon2 hash") from None


CHECKS = {ARGON2: _check_argon2, PBKDF2: _check_pbkdf2}


def check_station_hash(encoded):
    """Raise HashRefused unless ``encoded`` is a hash this server takes from a station."""
    algorithm = encoded.split("$", 1)[0] if "$" in encoded else ""
    if algorithm not in ACCEPTED:
        named = f"'{algorithm}'" if ALGORITHM_NAME_RE.match(algorithm) else "an unknown format"
        raise HashRefused(
            f"mqtt_password_hash is {named}; this server accepts only argon2 (argon2id/argon2i) "
            f"and pbkdf2_sha256 hashes in Django's encoding: {FIX}"
        )
    hasher = get_hashers_by_algorithm().get(algorithm)
    if hasher is None:
        raise HashRefused(
            f"mqtt_password_hash is {algorithm}, which is not in this server's PASSWORD_HASHERS: "
            "set the station's hash_algorithm to one the server has and rotate the device"
        )
    CHECKS[algorithm](encoded, hasher)
