"""Concrete models generated from the DeviceTypes in devices.py.

``create_models()`` builds three real Django models per type (Device, Reading,
Message) whose ``__module__`` is this module, so they belong to ``myapp`` and
``makemigrations`` picks them up (migrations/0001_initial.py is committed).
"""

from .devices import SoilProbe, WeatherStation

WeatherStationDevice, WeatherStationReading, WeatherStationMessage = (
    WeatherStation.create_models()
)

SoilProbeDevice, SoilProbeReading, SoilProbeMessage = SoilProbe.create_models()
