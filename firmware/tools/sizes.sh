#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Flash and static RAM on an ATmega328P per build option, as a Markdown table (firmware/README.md,
# "Size"): the library alone (tools/size_probe.c with a do-nothing port, minus the same program
# without the library), the bare-AVR example (avr/main.c) and the Arduino example sketch
# (DeviceHubUno, built with arduino-builder; skipped when it is not installed). Two kinds of
# option: built in (dh_device.h's DH_WITH_BAUD, DH_WITH_PROVE, DH_WITH_GATE, default 1) and,
# when built in, enabled at run time (dh_enable_baud/prove/gate).
# Usage: tools/sizes.sh [build dir]   (make -C firmware sizes)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}/sizes
mkdir -p "$BUILD"
CC=${AVR_CC:-avr-gcc}
FLAGS=(-mmcu=atmega328p -DF_CPU=16000000UL -Os -std=c99 -ffunction-sections -fdata-sections
       -Wl,--gc-sections -Iinclude)
SRC=$(sed -n 's/^LIB_SRC *:= *//p' Makefile)
NONE_BUILT="-DDH_WITH_BAUD=0 -DDH_WITH_PROVE=0 -DDH_WITH_GATE=0"

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
for v in \
  "none built in (DH_WITH_BAUD/PROVE/GATE=0, protocol 1.0 only):$NONE_BUILT" \
  "all built in, none enabled (the default build, 1.0 until enabled):" \
  "BAUD built in and enabled, PROVE and GATE left out:-DDH_WITH_PROVE=0 -DDH_WITH_GATE=0 -DPROBE_BAUD=1" \
  "PROVE built in and enabled, BAUD and GATE left out:-DDH_WITH_BAUD=0 -DDH_WITH_GATE=0 -DPROBE_PROVE=1" \
  "GATE built in and enabled, BAUD and PROVE left out:-DDH_WITH_BAUD=0 -DDH_WITH_PROVE=0 -DPROBE_GATE=1" \
  "PROVE + GATE built in and enabled, BAUD left out:-DDH_WITH_BAUD=0 -DPROBE_PROVE=1 -DPROBE_GATE=1" \
  "all built in and enabled (BAUD + PROVE + GATE):-DPROBE_BAUD=1 -DPROBE_PROVE=1 -DPROBE_GATE=1"; do
  name=${v%%:*}; defs=${v#*:}
  # shellcheck disable=SC2086
  read -r f r < <(probe "$(echo "$name" | tr -dc 'A-Za-z' | cut -c1-40)" $defs)
  echo "| library alone, $name | $((f - base_f)) | $((r - base_r)) |"
done

make -s avr >/dev/null
read -r f r < <(size_of build/avr/dh-avr.elf)
echo "| bare-AVR example (avr/main.c: BAUD + PROVE, 2 x 640 B slots in RAM) | $f | $r |"

if command -v arduino-builder >/dev/null; then
  for v in "BAUD + PROVE + GATE (as shipped):" \
           "BAUD left out:-DDH_WITH_BAUD=0" \
           "PROVE left out:-DDH_WITH_PROVE=0" \
           "GATE left out:-DDH_WITH_GATE=0" \
           "all three left out (protocol 1.0):$NONE_BUILT"; do
    name=${v%%:*}; defs=${v#*:}
    out="$BUILD/arduino-$(echo "$name" | tr -dc 'A-Za-z' | cut -c1-40)"
    make -s arduino ARDUINO_OUT="$out" ARDUINO_FLAGS="$defs" >/dev/null 2>&1
    read -r f r < <(size_of "$out/DeviceHubUno.ino.elf")
    echo "| Arduino example DeviceHubUno (EEPROM), $name | $f | $r |"
  done
fi
