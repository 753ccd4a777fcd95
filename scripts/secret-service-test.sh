#!/usr/bin/env bash
# The station token in a real Secret Service (issue 10): starts a private D-Bus session with
# gnome-keyring-daemon (unlocked non-interactively, its keyring in a temporary folder, so the
# user's own keyring is never touched) and runs the ignored Secret Service tests of the
# `station` CLI in it. Installs the Debian packages it needs when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(gnome-keyring dbus-daemon libsecret-tools)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "secret-service-test: installing ${missing[*]}" >&2
  SUDO=""; [[ $(id -u) == 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# Build outside the session: the session lives only as long as the tests.
cargo nextest run -p station-cli --test secret_service --run-ignored only --no-run "$@"

home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
mkdir -m 700 "$home/run"
# The keyring's files go to XDG_DATA_HOME/keyrings: a temporary one, not the user's.
export XDG_DATA_HOME="$home/data" XDG_RUNTIME_DIR="$home/run"
unset DBUS_SESSION_BUS_ADDRESS
dbus-run-session -- bash -euo pipefail -c '
  # Creates and unlocks the "login" keyring with this password: no prompt.
  eval "$(printf %s secret-service-test | gnome-keyring-daemon --unlock --components=secrets)"
  cargo nextest run -p station-cli --test secret_service --run-ignored only "$@"
' secret-service-test "$@"
