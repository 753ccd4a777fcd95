#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Validates library.json and idf_component.yml with the ecosystems' own validators.

Optional (not part of `make test`): needs `pip install platformio idf-component-manager` in
the Python that runs it; `make -C firmware validate-manifests PYTHON=/path/to/venv/bin/python`.
Offline-safe: PlatformIO downloads the SPDX license list to check the "license" field, so the
list is replaced by the one identifier this project uses (MIT, the workspace license); every
other field goes through PlatformIO's ManifestSchema. The ESP-IDF manifest goes through the
component manager's own `compote manifest lint`.
"""

import os
import subprocess
import sys

FW = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def platformio():
    from platformio.package.manifest.parser import ManifestParserFactory
    from platformio.package.manifest.schema import ManifestSchema

    ManifestSchema.load_spdx_licenses = staticmethod(
        lambda: {"licenses": [{"licenseId": "MIT"}]})
    parser = ManifestParserFactory.new_from_file(os.path.join(FW, "library.json"))
    data = ManifestSchema().load_manifest(parser.as_dict())
    print(f"library.json: valid for PlatformIO ({data['name']} {data['version']}, "
          f"{len(data.get('examples', []))} example)")


def esp_idf():
    compote = os.path.join(os.path.dirname(sys.executable), "compote")
    r = subprocess.run([compote, "manifest", "lint", os.path.join(FW, "idf_component.yml")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"idf_component.yml: {r.stdout}{r.stderr}")
    print("idf_component.yml: valid for the ESP-IDF component manager (compote manifest lint)")


if __name__ == "__main__":
    platformio()
    esp_idf()
