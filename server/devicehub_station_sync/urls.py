"""Mount with ``path("station-sync/", include("devicehub_station_sync.urls"))``: stations are
configured with that address (e.g. ``https://devicehub.example/station-sync/``)."""

from django.urls import path

from . import views

app_name = "devicehub_station_sync"

urlpatterns = [
    path("v1/station", views.station, name="station"),
    path("v1/types", views.types, name="types"),
    path("v1/devices", views.devices, name="devices"),
    path("v1/devices/status", views.device_status, name="device-status"),
    path("v1/id-leases", views.id_leases, name="id-leases"),
]
