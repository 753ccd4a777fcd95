"""Drive an SMP server over a serial port with the real smpclient (PyPI), for the cross-check.

    python smpclient_check.py PORT KEY VALUE SECRET_KEY SECRET_VALUE

Writes KEY=VALUE and reads it back, writes SECRET_KEY and tries to read it (a write-only key
must be refused), saves, resets. Prints one JSON object per step on stdout; never prints the
secret value.
"""

import asyncio
import json
import sys

from smpclient import SMPClient
from smpclient.generics import error, success
from smpclient.requests.os_management import ResetWrite
from smpclient.requests.settings_management import ReadSetting, SaveSettings, WriteSetting
from smpclient.transport.serial import SMPSerialTransport


def report(step, response):
    out = {"step": step, "ok": bool(success(response))}
    if error(response):
        err = getattr(response, "err", None)
        out["rc"] = int(err.rc) if err is not None else int(response.rc)
        if err is not None:
            out["group"] = int(err.group)
    print(json.dumps(out), flush=True)


async def main(port, key, value, secret_key, secret_value):
    client = SMPClient(SMPSerialTransport(), port)
    await client.connect()
    report("write", await client.request(WriteSetting(name=key, val=value.encode())))
    read = await client.request(ReadSetting(name=key))
    report("read", read)
    if success(read):
        print(json.dumps({"step": "read_value", "value": read.val.decode()}), flush=True)
    report("write_secret", await client.request(WriteSetting(name=secret_key, val=secret_value.encode())))
    report("read_secret", await client.request(ReadSetting(name=secret_key)))
    report("save", await client.request(SaveSettings()))
    report("reset", await client.request(ResetWrite()))
    await client.disconnect()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
