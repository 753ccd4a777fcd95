#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Flash and static RAM on an ATmega328P per build option, as a Markdown table (firmware/README.md,
# "Size"): the library alone (tools/size_probe.c with a do-nothing port, minus the same program
# without the library), the bare-AVR example (avr/main.c) and the Arduino example sketch
# (DeviceHubUno, built with arduino-builder; skipped when it is not installed).
# Usage: tools/sizes.sh [build dir]   (make -C firmware sizes)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}/sizes
mkdir -p "$BUILD"
CC=${AVR_CC:-avr-gcc}
FLAGS=(-mmcu=atmega328p -DF_CPU=16000000UL -Os -std=c99 -ffunction-sections -fdata-sections
       -Wl,--gc-sections -Iinclude)
SRC=$(sed -n 's/^LIB_SRC *:= *//p' Makefile)

# "flash ram" of an ELF: text+data, data+bss (+noinit), from avr-size's Berkeley format.
size_of() { avr-size "$1" | awk 'NR == 2 { print $1 + $2, $2 + $3 }'; }

probe() { # name, defines...
  local out="$BUILD/probe-$1.elf"; shift
  # shellcheck disable=SC2086
  "$CC" "${FLAGS[@]}" "$@" tools/size_probe.c $SRC -o "$out"
  size_of "$out"
}

read -r base_f base_r < <(probe base -DPROBE_LIB=0)
echo "| build | flash (B) | static RAM (B) |"
echo "|---|---|---|"
for v in "core (protocol 1.0):" "+ BAUD:-DPROBE_BAUD=1" "+ PROVE:-DPROBE_PROVE=1" \
         "+ BAUD + PROVE:-DPROBE_BAUD=1 -DPROBE_PROVE=1"; do
  name=${v%%:*}; defs=${v#*:}
  # shellcheck disable=SC2086
  read -r f r < <(probe "$(echo "$name" | tr -dc 'A-Za-z')" $defs)
  echo "| library alone, $name | $((f - base_f)) | $((r - base_r)) |"
done

make -s avr >/dev/null
read -r f r < <(size_of build/avr/dh-avr.elf)
echo "| bare-AVR example (avr/main.c: BAUD + PROVE, 2 x 640 B slots in RAM) | $f | $r |"

if command -v arduino-builder >/dev/null; then
  for v in "BAUD + PROVE:" "BAUD, no PROVE:-DDH_EXAMPLE_PROVE=0" "PROVE, no BAUD:-DDH_EXAMPLE_BAUD=0" \
           "neither (protocol 1.0):-DDH_EXAMPLE_BAUD=0 -DDH_EXAMPLE_PROVE=0"; do
    name=${v%%:*}; defs=${v#*:}
    out="$BUILD/arduino-$(echo "$name" | tr -dc 'A-Za-z')"
    make -s arduino ARDUINO_OUT="$out" ARDUINO_FLAGS="$defs" >/dev/null 2>&1
    read -r f r < <(size_of "$out/DeviceHubUno.ino.elf")
    echo "| Arduino example DeviceHubUno (EEPROM), $name | $f | $r |"
  done
fi
