"""URLs of the test project: the stock django-devicehub endpoints.

- /iot/broker/auth/, /iot/broker/acl/, /iot/stream/..., /iot/poll/...
  (``django_devicehub.urls``, mounted as the package's docs show)
- /api/things/<type>/devices/ (+ .../<pk>/readings/, .../<pk>/provision/) and
  /api/things/<type>/readings/ (the DRF router of ``get_iot_urlpatterns``),
  through ``testproject.compat`` because 0.2.1's own function fails on current DRF.
- /station-sync/v1/... the DeviceHub Station receiver (``devicehub_station_sync``).
"""

from django.contrib import admin
from django.urls import include, path

from .compat import get_iot_urlpatterns

urlpatterns = [
    path("admin/", admin.site.urls),
    path("iot/", include("django_devicehub.urls")),
    path("station-sync/", include("devicehub_station_sync.urls")),
    *get_iot_urlpatterns("api/things"),
]
