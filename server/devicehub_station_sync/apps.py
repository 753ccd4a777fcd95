from django.apps import AppConfig


class StationSyncConfig(AppConfig):
    name = "devicehub_station_sync"
    label = "devicehub_station_sync"
    verbose_name = "DeviceHub Station sync"
    default_auto_field = "django.db.models.BigAutoField"
