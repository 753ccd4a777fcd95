#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The Arduino library's example sketch, provisioned by the real `station` CLI under emulation.

The DeviceHubUno sketch is built from the assembled Arduino library with Debian's
arduino-builder and arduino-core-avr (`make -C firmware arduino`), once as shipped (real
EEPROM) and once with DH_EXAMPLE_EMULATED_EEPROM=1: qemu-system-avr models no EEPROM, so that
build keeps the same EEPROM layout and the same A/B commit code on a 1 KB image in .noinit
RAM, which this script saves (QMP pmemsave) when it switches the board off and loads into the
next run (a `loader` device), as a real EEPROM would keep it. Everything else, the Arduino core,
HardwareSerial's interrupt-driven 64-byte receive buffer, the library, runs as on an Uno.

The station is the real CLI (`cargo build -p station-cli`; STATION=path overrides), on a real
SQLite file, talking to the emulated UART through a pseudo-terminal. Checks:

  1. both builds succeed and fit the Uno (flash, RAM with the library's stack budget left);
  2. the sketch boots and logs on the shared UART;
  3. `station flash` provisions it (PASS, generation 1, the sketch announces the device id);
  4. a second `station flash` is refused (already_provisioned, exit 7), the unit unchanged;
  5. after a power cycle the sketch boots provisioned from its EEPROM image, and
     `station identify` reads the same device and generation;
  6. `station reflash` rotates the credentials (generation 2) after the sketch answered the
     station's possession proof (PROVE); identify confirms it after another power cycle.

Prints one line per check and "N passed, N failed" last; exits non-zero on any failure.
Needs: arduino-builder, arduino-core-avr, gcc-avr, qemu-system-misc (scripts/setup-deps.sh).
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tty

FIRMWARE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(FIRMWARE)
BUILD = os.path.join(FIRMWARE, "build", "arduino")
SHIPPED_OUT = os.path.join(BUILD, "sketch")
QEMU_OUT = os.path.join(BUILD, "sketch-qemu")
ELF_NAME = "DeviceHubUno.ino.elf"
EEPROM_SYMBOL = "dh_eeprom_image"
# RAM of the ATmega328P and the library's stated stack budget (DH_STACK_BUDGET in dh_device.h).
RAM_BYTES = 2048
FAST_HASH = "argon2:m=64,t=1,p=1"
EXIT_DEVICE = 7

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'ok  ' if ok else 'FAIL'} {name}" + (f": {detail}" if detail and not ok else ""))
    sys.stdout.flush()
    return ok


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def build(out, flags):
    args = ["make", "-s", "-C", FIRMWARE, "arduino", f"ARDUINO_OUT={out}"]
    if flags:
        args.append(f"ARDUINO_FLAGS={flags}")
    r = run(args)
    if r.returncode != 0:
        sys.stderr.write(r.stdout + r.stderr)
    return r.returncode == 0


def sizes(elf):
    """(flash, static RAM) of an ELF, from avr-size's Berkeley format."""
    out = run(["avr-size", elf]).stdout.splitlines()[1].split()
    text, data, bss = int(out[0]), int(out[1]), int(out[2])
    return text + data, data + bss


def stack_budget():
    text = open(os.path.join(FIRMWARE, "include", "dh_device.h")).read()
    return int(re.search(r"#define DH_STACK_BUDGET (\d+)u", text).group(1))


def symbol(elf, name):
    for line in run(["avr-nm", "-S", elf]).stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3] == name:
            return int(parts[0], 16), int(parts[1], 16)
    raise SystemExit(f"{name} not in {elf}")


class Qmp:
    def __init__(self, path, limit=20.0):
        deadline = time.time() + limit
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        self.file = self.sock.makefile("rw")
        self.file.readline()  # greeting
        self.execute("qmp_capabilities")

    def execute(self, command, **args):
        self.file.write(json.dumps({"execute": command, "arguments": args}) + "\n")
        self.file.flush()
        while True:
            reply = json.loads(self.file.readline())
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise RuntimeError(f"QMP {command}: {reply['error']}")


class Board:
    """The emulated Uno: its UART on a pty, its EEPROM image in `eeprom` between runs."""

    def __init__(self, elf, eeprom, workdir, name):
        # avr-nm gives data addresses as QEMU sees them (0x800000 + the RAM address).
        self.addr, self.size = symbol(elf, EEPROM_SYMBOL)
        self.eeprom = eeprom
        self.log = os.path.join(workdir, f"{name}.uart.txt")
        sock = os.path.join(workdir, f"{name}.qmp")
        out = open(os.path.join(workdir, f"{name}.qemu.txt"), "w+")
        cmd = ["timeout", "-k", "5", "300", "qemu-system-avr", "-machine", "uno", "-bios", elf,
               "-display", "none", "-monitor", "none", "-S",
               "-chardev", f"pty,id=uart,logfile={self.log},logappend=on",
               "-serial", "chardev:uart", "-qmp", f"unix:{sock},server=on,wait=off"]
        if os.path.exists(eeprom):
            cmd += ["-device", f"loader,file={eeprom},addr={self.addr:#x},force-raw=on"]
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=out)
        deadline = time.time() + 20
        self.port = None
        while self.port is None:
            out.seek(0)
            m = re.search(r"redirected to (\S+)", out.read())
            if m:
                self.port = m.group(1)
            elif time.time() > deadline or self.proc.poll() is not None:
                raise SystemExit("qemu-system-avr did not report its pty")
            else:
                time.sleep(0.05)
        # Hold the pty open for the board's life, as a USB bridge is always there (QEMU drops
        # output while nobody has the pty open); never read from it, the station does.
        self.keeper = os.open(self.port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.keeper)  # no echo of the board's output back into its receiver
        self.qmp = Qmp(sock)
        self.qmp.execute("cont")

    def uart_text(self):
        try:
            return open(self.log, "rb").read().decode("latin-1")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, text, limit=15.0):
        deadline = time.time() + limit
        while time.time() < deadline:
            if text in self.uart_text():
                return True
            time.sleep(0.05)
        return False

    def power_off(self):
        """Saves the EEPROM image and stops the board."""
        self.qmp.execute("pmemsave", val=self.addr, size=self.size,
                         filename=self.eeprom)
        self.qmp.execute("quit")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait()
        os.close(self.keeper)


class Station:
    def __init__(self, binary, workdir):
        self.binary = binary
        self.env = dict(os.environ, STATION_DB=os.path.join(workdir, "station.sqlite3"),
                        STATION_OPERATOR="e2e")
        self.env.pop("STATION_LOG", None)

    def run(self, *args):
        return subprocess.run([self.binary, *args], capture_output=True, text=True,
                              env=self.env, stdin=subprocess.DEVNULL, timeout=120)

    def ok(self, *args):
        r = self.run(*args)
        if r.returncode != 0:
            raise SystemExit(f"station {' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
        return r.stdout

    def json(self, *args):
        r = self.run(*args, "--json")
        try:
            return r.returncode, json.loads(r.stdout)
        except json.JSONDecodeError:
            return r.returncode, {"stdout": r.stdout, "stderr": r.stderr}


def main():
    station_bin = os.environ.get("STATION") or os.path.join(ROOT, "target", "debug", "station")
    if not os.path.exists(station_bin):
        raise SystemExit(f"no station binary at {station_bin}: cargo build -p station-cli")
    for tool in ("arduino-builder", "qemu-system-avr", "avr-size"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: run scripts/setup-deps.sh")

    # 1. Both builds, from the assembled library, and their fit.
    budget = stack_budget()
    for out, flags, what in ((SHIPPED_OUT, "", "as shipped (EEPROM)"),
                             (QEMU_OUT, "-DDH_EXAMPLE_EMULATED_EEPROM=1", "emulated EEPROM")):
        if not check(f"arduino-builder builds the sketch {what}", build(out, flags)):
            break
        flash, ram = sizes(os.path.join(out, ELF_NAME))
        check(f"the sketch {what} fits an Uno: {flash} B flash, {ram} B RAM + {budget} B stack",
              flash <= 32256 - 512 and ram + budget <= RAM_BYTES,
              f"{flash} B flash (31.5 KB with the bootloader), {ram} B RAM")
    if not all(results):
        return finish()

    elf = os.path.join(QEMU_OUT, ELF_NAME)
    work = tempfile.mkdtemp(prefix="dh-arduino-e2e-")
    eeprom = os.path.join(work, "eeprom.bin")
    station = Station(station_bin, work)
    station.ok("settings", "set", "hash_algorithm", FAST_HASH)
    station.ok("type", "add", "WeatherStation", "--app-label", "myapp")
    station.ok("batch", "create", "WeatherStation", "--count", "2", "--prefix", "uno-")

    # 2-4. Boot, provision, refuse a second flash.
    board = Board(elf, eeprom, work, "run1")
    try:
        check("the sketch boots and logs on the shared UART",
              board.wait_for_log("booting"), board.uart_text()[-400:])
        code, v = station.json("flash", "--port", board.port, "--batch", "1")
        device = v.get("device", {}).get("device_id", "")
        check("station flash provisions the sketch (generation 1)",
              code == 0 and v.get("result") == "pass" and v["device"]["generation"] == 1, str(v))
        check("the sketch announces its device id from dh_config_read",
              bool(device) and board.wait_for_log(f"[app] provisioned as {device}"),
              board.uart_text()[-400:])
        code, v2 = station.json("flash", "--port", board.port, "--batch", "1")
        check("a second station flash is refused: already_provisioned, exit 7",
              code == EXIT_DEVICE and v2.get("reason") == "already_provisioned", str(v2))
    finally:
        board.power_off()

    # 5. Power cycle: the config comes back from the EEPROM image.
    board = Board(elf, eeprom, work, "run2")
    try:
        check("after a power cycle the sketch boots provisioned",
              board.wait_for_log(f"[app] provisioned as {device}"), board.uart_text()[-400:])
        code, v = station.json("identify", "--port", board.port)
        check("station identify reads the same device, generation 1",
              code == 0 and v.get("device", {}).get("device_id") == device
              and v["device"].get("generation") == 1, str(v))
        # 6. Re-flash: rotated credentials, generation 2.
        code, v = station.json("reflash", "--port", board.port)
        check("station reflash rotates the credentials (generation 2)",
              code == 0 and v.get("result") == "pass" and v.get("rotated") is True
              and v["device"]["generation"] == 2, str(v))
        check("the re-flash was preceded by a possession proof the sketch answered",
              re.search(r"@DH1 [0-9A-F]{2} OK PROVE [0-9a-f]{64} ", board.uart_text()) is not None,
              board.uart_text()[-600:])
    finally:
        board.power_off()

    board = Board(elf, eeprom, work, "run3")
    try:
        code, v = station.json("identify", "--port", board.port)
        check("after another power cycle identify reads generation 2",
              code == 0 and v.get("device", {}).get("generation") == 2, str(v))
    finally:
        board.power_off()
    if all(results):
        shutil.rmtree(work)
    else:
        print(f"kept {work} (UART logs, EEPROM image, station database)")
    return finish()


def finish():
    passed = sum(results)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and results else 1


if __name__ == "__main__":
    sys.exit(main())
