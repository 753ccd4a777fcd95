"""Drive the simulator's driver-facing behaviour with the real smpclient (PyPI), for the cross-check.

    python smpclient_driver_check.py PORT HWID_KEY LONG_KEY GENERATION_KEY

Reads the read-only hardware id and tries to write it; reads a long value with a max_size above
the firmware's value limit; writes the generation, saves, resets and reads it back (the simulator
runs with a storage that loses saves). Prints one JSON object per step on stdout.
"""

import asyncio
import json
import sys

from smpclient import SMPClient
from smpclient.generics import error, success
from smpclient.requests.os_management import ResetWrite
from smpclient.requests.settings_management import ReadSetting, SaveSettings, WriteSetting
from smpclient.transport.serial import SMPSerialTransport


def report(step, response, **extra):
    out = {"step": step, "ok": bool(success(response))}
    if error(response):
        err = getattr(response, "err", None)
        out["rc"] = int(err.rc) if err is not None else int(response.rc)
        if err is not None:
            out["group"] = int(err.group)
    out.update(extra)
    print(json.dumps(out), flush=True)


async def main(port, hwid_key, long_key, generation_key):
    client = SMPClient(SMPSerialTransport(), port)
    await client.connect()
    hwid = await client.request(ReadSetting(name=hwid_key))
    report("read_hwid", hwid, value=hwid.val.decode() if success(hwid) else None)
    report("write_hwid", await client.request(WriteSetting(name=hwid_key, val=b"0000")))
    long = await client.request(ReadSetting(name=long_key, max_size=100))
    report("read_long", long, len=len(long.val) if success(long) else None,
           max_size=getattr(long, "max_size", None))
    report("write_generation", await client.request(WriteSetting(name=generation_key, val=b"4")))
    report("save", await client.request(SaveSettings()))
    report("reset", await client.request(ResetWrite()))
    await client.disconnect()
    await asyncio.sleep(0.5)
    client = SMPClient(SMPSerialTransport(), port)
    await client.connect()
    gen = await client.request(ReadSetting(name=generation_key))
    report("read_generation", gen, value=gen.val.decode() if success(gen) else None)
    await client.disconnect()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
