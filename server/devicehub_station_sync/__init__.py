"""DeviceHub Station sync receiver: a Django app for a django-devicehub server.

Stations (factory provisioning stations, often offline) push the device records they made —
with the MQTT password *hash* they computed, never the plaintext — to this app's versioned
API (``/station-sync/v1/``, see docs/sync-api.md). Stock django-devicehub cannot take such a
record: its REST API marks the credential fields read-only and makes its own credentials.

The app writes straight into the device models django-devicehub generated, so the stock
broker endpoints (``POST /iot/broker/auth/``) accept the devices as soon as a record lands.
"""

API_VERSION = 1
__version__ = "1.0.0"
