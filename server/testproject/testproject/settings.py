"""Settings of the DeviceHub interop test project.

A minimal stand-in for the central server: stock django-devicehub 0.2.1 with
Django 5.2, DRF and argon2-cffi, used only by tests and benchmarks on loopback.

Environment:
  DEVICEHUB_DB          SQLite file to use (default: $DEVICEHUB_RUN_DIR/devicehub.sqlite3)
  DEVICEHUB_RUN_DIR     directory for run-time files (default: server/run/, git-ignored)
  DEVICEHUB_SECRET_KEY  Django SECRET_KEY (default: a fixed, test-only key)
  DEVICEHUB_DEBUG       "1" to turn DEBUG on (default off)
  DEVICEHUB_PG_HOST     use PostgreSQL instead of SQLite: host or unix-socket directory
  DEVICEHUB_PG_PORT, DEVICEHUB_PG_USER, DEVICEHUB_PG_NAME (defaults 5432, postgres, devicehub)
                        (server/pg-test.sh starts a throwaway cluster and sets these)
  DEVICEHUB_CAPTURE_DIR when set, every request body sent to /station-sync/ is appended to
                        <dir>/station-sync-bodies.jsonl (tests check no plaintext password
                        ever reaches the server)
  DEVICEHUB_FAULTS_FILE faults to inject into the station-sync API (tests; see capture.py)
  DEVICEHUB_FAST_HASHERS "1": cheap PASSWORD_HASHERS (testproject/hashers.py), so the receiver
                        accepts the cheap hashes stations under test make (pbkdf2_sha256 with
                        1000 iterations, argon2 m=64,t=1,p=1); default: Django's own parameters
  DEVICEHUB_SEAL_KEY_FILE the receiver's seal key file (STATION_SYNC_SEAL_KEY_FILE; default
                        $DEVICEHUB_RUN_DIR/station_sync_seal.key: `manage.py station_sync_sealkey`
                        makes it)
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent  # server/testproject
SERVER_DIR = BASE_DIR.parent  # server/


RUN_DIR = Path(os.environ.get("DEVICEHUB_RUN_DIR") or SERVER_DIR / "run")


def _default_db_path():
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    return RUN_DIR / "devicehub.sqlite3"


SECRET_KEY = os.environ.get(
    "DEVICEHUB_SECRET_KEY",
    "django-insecure-devicehub-station-testproject-not-for-production",
)
DEBUG = os.environ.get("DEVICEHUB_DEBUG", "0") == "1"
# 0.0.0.0: a station's tests reach this loopback server under a name that is not a loopback
# address (what the station treats as "another machine").
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "0.0.0.0", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",  # django_devicehub's AUTO_ADMIN registers its models here
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_devicehub",
    "devicehub_station_sync",
    "myapp",
]

MIDDLEWARE = [
    "testproject.capture.CaptureSyncBodies",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "testproject.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "testproject.wsgi.application"

if os.environ.get("DEVICEHUB_PG_HOST"):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ["DEVICEHUB_PG_HOST"],
            "PORT": os.environ.get("DEVICEHUB_PG_PORT", "5432"),
            "USER": os.environ.get("DEVICEHUB_PG_USER", "postgres"),
            "NAME": os.environ.get("DEVICEHUB_PG_NAME", "devicehub"),
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("DEVICEHUB_DB") or _default_db_path(),
            # Writers take the lock up front: concurrent station batches wait their turn
            # (up to "timeout" seconds) instead of failing with "database is locked".
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
        }
    }

# Argon2 first: make_password() (and so generate_credentials()/iot_provision)
# produces argon2$argon2id$v=19$m=102400,t=2,p=8$... with Django's default
# Argon2 parameters. PBKDF2 second: pbkdf2_sha256$... hashes still verify.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# Test benches only: the receiver's minimum hash parameters are the configured hashers', so
# cheap hashers let stations under test hash cheaply (server/tests use these too).
DEVICEHUB_FAST_PASSWORD_HASHERS = [
    "testproject.hashers.FastArgon2PasswordHasher",
    "testproject.hashers.FastPBKDF2PasswordHasher",
]
if os.environ.get("DEVICEHUB_FAST_HASHERS") == "1":
    PASSWORD_HASHERS = DEVICEHUB_FAST_PASSWORD_HASHERS

# The station-sync receiver's seal key pair (api keys are sealed to it; docs/sync-api.md).
STATION_SYNC_SEAL_KEY_FILE = os.environ.get("DEVICEHUB_SEAL_KEY_FILE") or str(
    RUN_DIR / "station_sync_seal.key"
)

# django-devicehub is left on its defaults (TOPIC_PREFIX "things", AUTO_API,
# AUTO_ADMIN), i.e. what a stock central server has.

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
