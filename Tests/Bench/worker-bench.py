#!/usr/bin/env python3
# `make bench`, part 4: what a worker process per machine costs (issue 13): create-to-first-instruction and
# plugin-load latency through `emud daemon`, median of BENCH_WORKER_REPEAT (default 15) machines; with
# BENCH_BASELINE_BIN (an emud from before workers, which ran machines inside the daemon) the same beside it.
# Usage: worker-bench.py EMUD_BIN GUEST PLUGIN. SPDX-License-Identifier: GPL-2.0-or-later
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time


class Control:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buffer = b""
        self.line()  # greeting
        self.execute("qmp_capabilities")

    def line(self):
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("the daemon closed the control connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def execute(self, command, **arguments):
        self.sock.sendall(json.dumps({"execute": command, "arguments": arguments}).encode() + b"\n")
        while True:
            message = self.line()
            if "return" in message:
                return message["return"]
            if "error" in message:
                raise RuntimeError(f"{command}: {message['error']}")


def measure(binary, guest, plugin, repeat):
    with tempfile.TemporaryDirectory(prefix="emud-worker-bench.") as work:
        path = os.path.join(work, "control.sock")
        daemon = subprocess.Popen([binary, "daemon", "--control", path, "--log-target=stderr",
                                   "--plugin-dir", os.path.dirname(plugin)], stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                if os.path.exists(path):
                    break
                time.sleep(0.05)
            control = Control(path)
            first, loads = [], []
            for i in range(repeat):
                start = time.perf_counter()
                control.execute("machine-create", id=f"b{i}", image=guest)
                while True:
                    machines = control.execute("query-machines")
                    if any(m["id"] == f"b{i}" and m["instructions"] > 0 for m in machines):
                        break
                first.append(time.perf_counter() - start)
                start = time.perf_counter()
                loaded = control.execute("plugin-load", machine=f"b{i}", path=plugin)
                loads.append(time.perf_counter() - start)
                control.execute("plugin-unload", machine=f"b{i}", id=loaded["id"])
                control.execute("machine-destroy", machine=f"b{i}")
            return statistics.median(first) * 1000, statistics.median(loads) * 1000
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)


def main():
    binary, guest, plugin = sys.argv[1:4]
    repeat = int(os.environ.get("BENCH_WORKER_REPEAT", "15"))
    rows = [("workers (this build)", measure(binary, guest, plugin, repeat))]
    baseline = os.environ.get("BENCH_BASELINE_BIN")
    if baseline:
        rows.append(("in-process (BENCH_BASELINE_BIN)", measure(baseline, guest, plugin, repeat)))
    print(f"\nMachine latency through emud daemon, median of {repeat} ({os.path.basename(guest)}, {os.path.basename(plugin)})")
    print(f"{'daemon':34} {'create->1st insn ms':>20} {'plugin-load ms':>15}")
    for name, (first, load) in rows:
        print(f"{name:34} {first:20.1f} {load:15.1f}")
    if rows[0][1][0] >= 50:
        print("worker-bench: creating a machine took 50 ms or more (the aim is under 50 ms)")


if __name__ == "__main__":
    main()
