"""Device types of the test project, declared the way django-devicehub's docs show.

django_devicehub's AppConfig.ready() autodiscovers every installed app's
``devices`` module; declaring a DeviceType subclass registers it (metaclass).
The concrete models are generated in ``models.py``.

The type names matter to the station: ``WeatherStation`` gives the registry name
``weatherstation``, the model ``WeatherStationDevice``, MQTT usernames
``myapp-weatherstationdevice-<device_id>`` and topics
``things/weatherstation/<device_id>/{data,status,cmd}``.
"""

from django_devicehub import Command, DeviceType, Reading, StateField, reading_types


class WeatherStation(DeviceType):
    class Meta:
        protocol = "mqtt"
        heartbeat_interval = 300

    temperature = Reading(type=reading_types.FLOAT, unit="C", range=(-40, 80))
    humidity = Reading(type=reading_types.FLOAT, unit="%", range=(0, 100))
    rainfall = Reading(type=reading_types.FLOAT, unit="mm")

    reboot = Command()
    set_interval = Command(payload={"interval": int})


class SoilProbe(DeviceType):
    class Meta:
        protocol = "mqtt"
        heartbeat_interval = 900

    moisture = Reading(type=reading_types.FLOAT, unit="%", range=(0, 100))
    soil_temperature = Reading(type=reading_types.FLOAT, unit="C", range=(-30, 60))
    conductivity = Reading(type=reading_types.FLOAT, unit="uS/cm")

    depth_cm = StateField(type="integer", default=30)

    calibrate = Command()
