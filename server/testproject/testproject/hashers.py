"""Cheap password hashers for test benches only (``DEVICEHUB_FAST_HASHERS=1``).

The receiver refuses a station's hash whose parameters are below the server's configured
hashers (``devicehub_station_sync.hashes``). Stations under test hash with cheap parameters
(``pbkdf2_sha256:iterations=1000``, ``argon2:m=64,t=1,p=1``) so tests stay fast; these hashers
make such a bench server's minimum match. A production server keeps Django's defaults.
"""

from django.contrib.auth.hashers import Argon2PasswordHasher, PBKDF2PasswordHasher


class FastArgon2PasswordHasher(Argon2PasswordHasher):
    time_cost = 1
    memory_cost = 64
    parallelism = 1


class FastPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    iterations = 1000
