#!/usr/bin/env python3
# Drives emud's control socket with QEMU's own QMP client library (qemu.qmp from PyPI), which sends each command
# as compact JSON with no newline. Usage: qmp-client.py SOCKET IMAGE. Prints one line per step; exits non-zero
# on the first failure.
# SPDX-License-Identifier: GPL-2.0-or-later
import asyncio
import sys

from qemu.qmp import QMPClient, ExecuteError


async def main(socket: str, image: str) -> int:
    client = QMPClient("emud-test")
    await asyncio.wait_for(client.connect(socket), timeout=20)
    print("connected:", client.greeting.QMP.version["package"])
    status = await asyncio.wait_for(client.execute("query-status"), timeout=20)
    print("query-status machines:", status["machines"])
    created = await asyncio.wait_for(
        client.execute("machine-create", {"id": "pyqmp", "image": image, "memory": "128M"}), timeout=20)
    print("machine-create:", created["id"])
    waited = await asyncio.wait_for(client.execute("machine-wait", {"machine": "pyqmp", "timeout": 20}), timeout=30)
    print("machine-wait state:", waited["state"], "exit_code:", waited.get("exit_code"))
    try:
        await asyncio.wait_for(client.execute("machine-destroy", {"machine": "no-such-machine"}), timeout=20)
        print("machine-destroy of a missing machine succeeded")
        return 1
    except ExecuteError as error:
        print("error class:", error.error_class)
    await asyncio.wait_for(client.execute("machine-destroy", {"machine": "pyqmp"}), timeout=20)
    print("machine-destroy: done")
    await client.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2])))
