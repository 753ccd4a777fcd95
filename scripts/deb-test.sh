#!/usr/bin/env bash
# Checks the DeviceHub Station .deb as a factory's IT would get it: builds it (debug profile,
# reusing the test build) unless given one, then inspects it without installing it on this machine:
#   - the control fields (package, dependencies, the serial-port access stated in the description);
#   - exactly the files it should install (the app, the CLI, completions, man pages, udev rule,
#     copyright), nothing else;
#   - the extracted CLI runs, and its version is the package's;
#   - every man page renders without a groff warning;
#   - the bash and fish completions load and complete; zsh parses its own (zsh, fish when installed);
#   - the udev rule parses cleanly in this Debian's udevadm (in a private mount namespace, so the
#     machine's rules are untouched) and sorts before systemd's 73-seat-late.rules (uaccess);
#   - the postinst reloads udev, prints the dialout command for the installing user and changes no
#     group. udevadm is a stub for this one step: the real one would re-trigger this machine's
#     devices. The install itself is the extract (dpkg-deb -x); apt is never run here.
#
#   scripts/deb-test.sh                 build the debug .deb and check it
#   scripts/deb-test.sh PATH.deb        check a .deb already built (e.g. the release one)
#   DEB_TEST_LINTIAN=1 scripts/deb-test.sh   also run lintian (about 90 s): any tag not in
#                                            packaging/deb/lintian-accepted fails
set -euo pipefail
given_deb=${1:+$(realpath "$1")}
cd "$(dirname "$0")/.."

fail() {
  echo "deb-test: FAIL: $*" >&2
  exit 1
}
pass() { echo "deb-test: ok: $*" >&2; }

if [[ -n $given_deb ]]; then
  deb=$given_deb
else
  start=$SECONDS
  deb=$(realpath "$(scripts/build-deb.sh --debug | tail -n 1)")
  echo "deb-test: built $deb in $((SECONDS - start)) s" >&2
fi
[[ -f $deb ]] || fail "no such .deb: $deb"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- control fields
dpkg-deb -f "$deb" >"$work/control"
package=$(dpkg-deb -f "$deb" Package)
version=$(dpkg-deb -f "$deb" Version)
[[ $package == device-hub-station ]] || fail "package name is '$package'"
depends=$(dpkg-deb -f "$deb" Depends)
for dep in libc6 libudev1 libwebkit2gtk-4.1-0; do
  [[ ", $depends," == *", $dep"[\ ,]* ]] || fail "Depends lacks $dep: $depends"
done
recommends=$(dpkg-deb -f "$deb" Recommends)
# The Chinese screens need a CJK font (ui/src/lib/i18n).
[[ ", $recommends," == *", fonts-wqy-microhei"[\ ,]* ]] || fail "Recommends lacks fonts-wqy-microhei: $recommends"
grep -q "60-devicehub-station.rules" "$work/control" || fail "the description does not name the udev rule"
grep -q "dialout" "$work/control" || fail "the description does not say what the dialout group is for"
pass "control: $package $version, Depends: $depends"

# --- exactly the files it should install
# Paths may hold spaces (the app's menu entry): drop the five fields before each path.
dpkg-deb -c "$deb" | grep -v '^d' | sed -E 's|^([^ ]+ +){5}(\./)?||' | sort >"$work/files"
expected=(
  usr/bin/station-app
  usr/bin/station
  usr/share/bash-completion/completions/station
  usr/share/zsh/vendor-completions/_station
  usr/share/fish/vendor_completions.d/station.fish
  usr/share/man/man1/station.1.gz
  usr/share/man/man1/station-app.1.gz
  usr/share/man/man1/station-flash.1.gz
  usr/lib/udev/rules.d/60-devicehub-station.rules
  usr/share/doc/device-hub-station/copyright
)
for f in "${expected[@]}"; do
  grep -qxF "$f" "$work/files" || fail "the package does not install /$f"
done
# Anything else must be a man page, the app's icon or its menu entry: nothing stray (a database,
# a temp file) rides along.
unexpected=$(grep -vxF -f <(printf '%s\n' "${expected[@]}") "$work/files" |
  grep -vE '^usr/share/man/man1/station-[a-z-]+\.1\.gz$|^usr/share/icons/hicolor/[0-9x@]+/apps/station-app\.png$|^usr/share/applications/DeviceHub Station\.desktop$' || true)
[[ -z $unexpected ]] || fail "unexpected files in the package: $unexpected"
pass "files: $(wc -l <"$work/files") files, every expected one"

# --- the installed tree (the extract)
inst=$work/root
dpkg-deb -x "$deb" "$inst"
dpkg-deb -e "$deb" "$work/DEBIAN"
station=$inst/usr/bin/station
[[ -x $station ]] || fail "/usr/bin/station is not executable"
"$station" --help >"$work/help" || fail "station --help failed"
grep -q "^Usage: station " "$work/help" || fail "station --help prints no usage"
[[ $("$station" --version) == "station $version" ]] ||
  fail "station --version says '$("$station" --version)', the package is $version"
pass "the extracted station runs (--help, --version $version)"

# --- man pages: every one renders without a warning
pages=0
for page in "$inst"/usr/share/man/man1/*.1.gz; do
  warnings=$(zcat "$page" | groff -man -Tutf8 -ww -z 2>&1)
  [[ -z $warnings ]] || fail "$(basename "$page"): $warnings"
  pages=$((pages + 1))
done
MANWIDTH=80 man -l "$inst/usr/share/man/man1/station.1.gz" 2>/dev/null | grep -q "station-flash(1)" ||
  fail "man station does not list station-flash(1)"
((pages > 10)) || fail "only $pages man pages"
pass "man: $pages pages render cleanly"

# --- completions
bash_completion=$inst/usr/share/bash-completion/completions/station
bash -c "source '$bash_completion'; complete -p station" | grep -q -- "-F _station" ||
  fail "the bash completion does not register _station for station"
offered=$(bash -c "source '$bash_completion'; COMP_WORDS=(station fla); COMP_CWORD=1; \
  _station station fla station; printf '%s\n' \"\${COMPREPLY[@]}\"")
[[ $offered == flash ]] || fail "bash completes 'station fla' to '$offered'"
if command -v zsh >/dev/null; then
  zsh -n "$inst/usr/share/zsh/vendor-completions/_station" || fail "_station does not parse in zsh"
else
  echo "deb-test: zsh not installed: its completion was not parsed" >&2
fi
if command -v fish >/dev/null; then
  fish_offers=$(fish --no-config -c "source '$inst/usr/share/fish/vendor_completions.d/station.fish'; \
    complete -C 'station fla'" | cut -f1)
  [[ $fish_offers == flash ]] || fail "fish completes 'station fla' to '$fish_offers'"
else
  echo "deb-test: fish not installed: its completion was not parsed" >&2
fi
pass "completions: bash (and fish, zsh when installed) load"

# --- the udev rule
rule=$inst/usr/lib/udev/rules.d/60-devicehub-station.rules
number=$(basename "$rule" | cut -d- -f1)
((10#$number < 73)) || fail "the rule sorts after 73-seat-late.rules: its uaccess tag would be ignored"
for driver in 10c4 1a86 0403 067b ttyACM; do
  grep -v '^#' "$rule" | grep -q "$driver" || fail "the rule does not cover $driver"
done
grep -v '^#' "$rule" | grep -q 'TAG+="uaccess"' || fail "the rule does not tag uaccess"
command -v udevadm >/dev/null || fail "udevadm missing: apt-get install udev"
if [[ $(id -u) == 0 ]] && unshare -m true 2>/dev/null; then
  mkdir "$work/rules.d"
  cp "$rule" "$work/rules.d/"
  tty_dev=/sys/class/tty/$(ls /sys/class/tty | head -n 1)
  # Only our rule in /etc/udev/rules.d, seen by this mount namespace alone.
  unshare -m sh -c "mount --bind '$work/rules.d' /etc/udev/rules.d && \
    udevadm test --action=add '$tty_dev'" >"$work/udevadm" 2>&1 || true
  grep -q "Reading rules file: /etc/udev/rules.d/60-devicehub-station.rules" "$work/udevadm" ||
    fail "udevadm did not read the rule: $(tail -n 5 "$work/udevadm")"
  if grep "60-devicehub-station.rules:" "$work/udevadm" >&2; then
    fail "udevadm $(udevadm --version) complains about the rule (above)"
  fi
  pass "udev rule: parses cleanly in udevadm $(udevadm --version)"
else
  echo "deb-test: not root (or no mount namespaces): the rule was not parsed by udevadm" >&2
fi

# --- the postinst: reloads udev, prints the dialout command, adds nobody
mkdir "$work/stub"
printf '#!/bin/sh\necho "$*" >>"%s"\n' "$work/udevadm-calls" >"$work/stub/udevadm"
chmod +x "$work/stub/udevadm"
groups_before=$(md5sum /etc/group)
user=nobody
id -nG "$user" | grep -qw dialout && fail "test user $user is in dialout already"
SUDO_USER=$user PATH="$work/stub:$PATH" sh "$work/DEBIAN/postinst" configure >"$work/postinst.out" 2>&1 ||
  fail "postinst configure failed: $(cat "$work/postinst.out")"
[[ $(md5sum /etc/group) == "$groups_before" ]] || fail "postinst changed /etc/group"
grep -qF "sudo usermod -aG dialout $user" "$work/postinst.out" ||
  fail "postinst did not print the dialout command for $user: $(cat "$work/postinst.out")"
if [[ -d /run/udev ]]; then
  grep -qx "control --reload-rules" "$work/udevadm-calls" || fail "postinst did not reload the udev rules"
  grep -qx "trigger --subsystem-match=tty --action=change" "$work/udevadm-calls" ||
    fail "postinst did not apply the rule to adapters already plugged in"
fi
SUDO_USER="" PATH="$work/stub:$PATH" sh "$work/DEBIAN/postrm" remove >/dev/null || fail "postrm remove failed"
pass "postinst: reloads udev, prints 'sudo usermod -aG dialout $user', changes no group"

# --- lintian (optional: about 90 s)
if [[ ${DEB_TEST_LINTIAN:-0} == 1 ]]; then
  command -v lintian >/dev/null || fail "lintian missing: apt-get install lintian"
  # lintian exits non-zero when it reports an error tag: judge its tags, not its status.
  lintian --tag-display-limit 0 "$deb" >"$work/lintian.out" 2>/dev/null || true
  grep -E '^[EW]: ' "$work/lintian.out" | sed -E 's/^[EW]: [^:]+: //' | awk '{print $1}' |
    sort -u >"$work/lintian"
  grep -v '^#' packaging/deb/lintian-accepted | awk 'NF {print $1}' | sort -u >"$work/accepted"
  new_tags=$(comm -23 "$work/lintian" "$work/accepted")
  [[ -z $new_tags ]] || fail "new lintian tags (fix, or accept in packaging/deb/lintian-accepted): $new_tags"
  pass "lintian: only accepted tags ($(paste -sd' ' "$work/lintian"))"
fi

echo "deb-test: $(basename "$deb") ($(du -h "$deb" | cut -f1)) passed" >&2
