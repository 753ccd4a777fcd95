#!/usr/bin/env bash
# Installs what building and testing DeviceHub Station needs on a fresh Debian 12 machine:
# Debian packages (only those missing), the Rust components and cargo-nextest.
# Idempotent: a second run installs nothing.
set -euo pipefail

APT_PACKAGES=(
  build-essential pkg-config libudev-dev   # serialport's port discovery (libudev)
  socat                                    # pseudo-terminal links for serial tests
  python3-venv                             # the Django server's venv
  postgresql                               # the central server's database, for the sync tests
  # The Tauri desktop app, its end-to-end tests and screenshots.
  libwebkit2gtk-4.1-dev libssl-dev libayatana-appindicator3-dev librsvg2-dev
  xvfb xauth webkit2gtk-driver imagemagick x11-utils xdotool curl file
  # The firmware reference: host build, fuzzing, and the ATmega328P example under QEMU.
  clang libclang-rt-14-dev gcc-avr avr-libc binutils-avr qemu-system-misc
  # The Arduino library and its example sketch (make -C firmware arduino arduino-e2e).
  arduino-builder arduino-core-avr zip
  # The AVR example with its config in EEPROM, under simavr (which models the EEPROM):
  # the runner firmware/sim/dh_simavr.c links libsimavr (tests/firmware_eeprom.rs, and
  # tests/firmware_arduino_sim.rs with the Arduino packages above).
  libsimavr-dev
  # The sync token in the OS credential store: libdbus for the keyring crate's Secret Service,
  # and a real Secret Service to test it against (scripts/secret-service-test.sh).
  libdbus-1-dev gnome-keyring dbus-daemon libsecret-tools
  # Labels: zbarimg decodes the QR code of the rendered label preview (station-service's label
  # tests, the app's e2e_labels).
  zbar-tools
  # A font with Simplified Chinese, so the zh-CN screens draw characters, not boxes: the smallest
  # Debian package that covers the catalogue (1.6 MB; fonts-noto-cjk is 56 MB).
  fonts-wqy-microhei
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# python3-venv is satisfied by a Python with a working venv module (pyenv builds have one).
if [[ " ${missing[*]} " == *" python3-venv "* ]] && python3 -c 'import venv, ensurepip' 2>/dev/null; then
  missing=("${missing[@]/python3-venv}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if ((${#missing[@]})); then
  echo "setup-deps: installing ${missing[*]}" >&2
  SUDO=""; [[ $(id -u) == 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

if ! command -v cargo >/dev/null; then
  echo "setup-deps: Rust is missing; install it with rustup (https://rustup.rs) and run again" >&2
  exit 1
fi
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy >&2
command -v cargo-nextest >/dev/null || cargo install cargo-nextest --locked >&2
