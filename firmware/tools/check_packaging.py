#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks the firmware ecosystem manifests against the one place each fact lives.

  - the module version is DH_LIB_VERSION (include/dh_device.h): library.properties (Arduino),
    library.json (PlatformIO), idf_component.yml (ESP-IDF) and the newest module entry of
    CHANGELOG.md must all say it;
  - the library's sources are the Makefile's LIB_SRC, and the manifests that glob src/*.c
    (PlatformIO, ESP-IDF, Zephyr, plain CMake) compile exactly those, so src/ holds no other
    C file;
  - library.json is JSON with the fields the PlatformIO registry requires and paths that exist;
  - zephyr/module.yml has only the keys and types of Zephyr's module schema
    (scripts/zephyr_module.py, METADATA_SCHEMA: name, build.cmake, build.kconfig, ...), its
    build.cmake folder holds a CMakeLists.txt and build.kconfig is a file, as west checks;
  - idf_component.yml's keys are ones the component manager knows.

Standard library only (a tiny reader for the two flat YAML files), so `make test` needs
nothing more. Exits 1 naming each problem and the file to fix.
"""

import glob
import json
import os
import re
import sys

FW = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
problems = []


def problem(text):
    problems.append(text)


def read(rel):
    with open(os.path.join(FW, rel), encoding="utf-8") as f:
        return f.read()


def flat_yaml(rel):
    """A YAML mapping of scalars, nested maps and lists of scalars, as {"a.b": value}."""
    out, stack = {}, []
    for n, raw in enumerate(read(rel).splitlines(), 1):
        line = raw.split(" #")[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        if "\t" in line[:indent + 1]:
            problem(f"{rel}:{n}: a tab in the indentation (YAML allows spaces only)")
        body = line.strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        prefix = ".".join(k for _, k in stack)
        if body.startswith("- "):
            if out.get(prefix) == {}:
                out[prefix] = []
            out.setdefault(prefix, []).append(body[2:].strip().strip('"'))
            continue
        m = re.fullmatch(r"([A-Za-z0-9_-]+):(?:\s+(.*))?", body)
        if not m:
            problem(f"{rel}:{n}: not a 'key: value' line: {body!r}")
            continue
        key = f"{prefix}.{m.group(1)}" if prefix else m.group(1)
        if m.group(2) is None:
            stack.append((indent, m.group(1)))
            out.setdefault(key, {})
        else:
            out[key] = m.group(2).strip().strip('"')
    return out


def main():
    header = read("include/dh_device.h")
    version = re.search(r'#define DH_LIB_VERSION "([^"]+)"', header).group(1)

    # Arduino
    props = dict(l.split("=", 1) for l in read("arduino/library.properties").splitlines()
                 if "=" in l and not l.startswith("#"))
    for field in ("name", "version", "author", "maintainer", "sentence", "paragraph",
                  "category", "url", "architectures"):
        if not props.get(field):
            problem(f"arduino/library.properties: '{field}' is missing (Arduino requires it)")
    if props.get("version") != version:
        problem(f"arduino/library.properties: version {props.get('version')} is not "
                f"DH_LIB_VERSION {version} (include/dh_device.h)")

    # PlatformIO
    try:
        lib = json.loads(read("library.json"))
    except json.JSONDecodeError as e:
        problem(f"library.json: not JSON: {e}")
        lib = {}
    for field in ("name", "version", "description", "keywords", "authors", "license"):
        if field not in lib:
            problem(f"library.json: '{field}' is missing (the PlatformIO registry requires it)")
    if lib.get("version") != version:
        problem(f"library.json: version {lib.get('version')} is not DH_LIB_VERSION {version}")
    for key in ("srcDir", "includeDir"):
        d = lib.get("build", {}).get(key)
        if d and not os.path.isdir(os.path.join(FW, d)):
            problem(f"library.json: build.{key} '{d}' is not a folder")
    for ex in lib.get("examples", []):
        for f in ex.get("files", []):
            if not os.path.isfile(os.path.join(FW, ex["base"], f)):
                problem(f"library.json: example file {ex['base']}/{f} does not exist")

    # ESP-IDF
    idf = flat_yaml("idf_component.yml")
    known = {"version", "description", "url", "repository", "documentation", "issues",
             "discussion", "license", "maintainers", "tags", "dependencies", "files",
             "targets", "examples", "rules"}
    for key in idf:
        if key.split(".")[0] not in known:
            problem(f"idf_component.yml: unknown key '{key}'")
    if idf.get("version") != version:
        problem(f"idf_component.yml: version {idf.get('version')} is not DH_LIB_VERSION {version}")

    # Zephyr
    mod = flat_yaml("zephyr/module.yml")
    strings = {"name", "build.cmake", "build.kconfig", "build.sysbuild-cmake",
               "build.sysbuild-kconfig"}
    maps = {"build", "build.settings"}
    for key, value in mod.items():
        if key in maps:
            if not isinstance(value, dict):
                problem(f"zephyr/module.yml: '{key}' must be a map")
        elif key in strings:
            if not isinstance(value, str) or not value:
                problem(f"zephyr/module.yml: '{key}' must be a string")
        elif key in {"build.depends", "tests", "samples", "boards"}:
            if not isinstance(value, list):
                problem(f"zephyr/module.yml: '{key}' must be a list of strings")
        else:
            problem(f"zephyr/module.yml: '{key}' is not in Zephyr's module schema")
    cmake = mod.get("build.cmake", "zephyr")
    if not os.path.isfile(os.path.join(FW, cmake, "CMakeLists.txt")):
        problem(f"zephyr/module.yml: build.cmake '{cmake}' holds no CMakeLists.txt")
    kconfig = mod.get("build.kconfig", "zephyr/Kconfig")
    if not os.path.isfile(os.path.join(FW, kconfig)):
        problem(f"zephyr/module.yml: build.kconfig '{kconfig}' is not a file")
    elif "config DEVICEHUB\n" not in read(kconfig):
        problem(f"{kconfig}: no 'config DEVICEHUB' (zephyr/CMakeLists.txt tests CONFIG_DEVICEHUB)")

    # The changelog's newest module entry.
    m = re.search(r"^## Module (\S+)", read("CHANGELOG.md"), re.M)
    if not m or m.group(1) != version:
        problem(f"CHANGELOG.md: the newest '## Module <version>' entry is "
                f"{m.group(1) if m else 'missing'}, not DH_LIB_VERSION {version}")

    # One list of sources.
    makefile = read("Makefile")
    lib_src = set(re.search(r"^LIB_SRC\s*:=\s*(.*)$", makefile, re.M).group(1).split())
    in_src = {os.path.relpath(p, FW) for p in glob.glob(os.path.join(FW, "src", "*.c"))}
    if lib_src != in_src:
        problem(f"src/*.c ({', '.join(sorted(in_src))}) is not the Makefile's LIB_SRC "
                f"({', '.join(sorted(lib_src))}): PlatformIO, ESP-IDF, Zephyr and CMake compile "
                f"every C file of src/; add it to LIB_SRC, or put a platform port elsewhere")

    for p in problems:
        print(f"check-packaging: {p}", file=sys.stderr)
    if not problems:
        print(f"check-packaging: Arduino, PlatformIO, ESP-IDF and Zephyr manifests agree "
              f"on module {version} and {len(lib_src)} sources")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
