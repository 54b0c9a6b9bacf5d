// Each machine in its own worker process (issue 13): a crash costs one machine, never the daemon.
// SPDX-License-Identifier: GPL-2.0-or-later

import Foundation
import Testing

/// Compiles a C plugin whose per-instruction callback dereferences a null pointer once the machine has run
/// `after=N` instructions (test-only: a plugin with a bug, as in the wild).
func buildCrashingPlugin(into directory: ScratchDirectory) async throws -> String {
    try await compileTestPlugin("crash", source: """
        #include "emud-plugin.h"
        #include <stdlib.h>
        #include <string.h>
        EMUD_PLUGIN_EXPORT const int emud_plugin_api_version = EMUD_PLUGIN_API_VERSION;
        EMUD_PLUGIN_EXPORT const char emud_plugin_license[] = "GPL-2.0-or-later";
        static unsigned long long remaining;
        static void step(unsigned int vcpu, void *userdata)
        {
            (void)vcpu; (void)userdata;
            if (remaining == 0) { volatile int *nowhere = NULL; *nowhere = 1; }
            remaining--;
        }
        static void translated(emud_plugin_id_t id, struct emud_tb *tb)
        {
            (void)id;
            for (size_t i = 0, n = emud_tb_n_insns(tb); i < n; i++)
                emud_insn_register_exec_cb(emud_tb_get_insn(tb, i), step, NULL);
        }
        EMUD_PLUGIN_EXPORT int emud_plugin_install(emud_plugin_id_t id, const struct emud_plugin_info *info, int argc, char **argv)
        {
            emud_plugin_init(info);
            remaining = 1000000;
            for (int i = 0; i < argc; i++) {
                if (strncmp(argv[i], "after=", 6) != 0) return -1;
                remaining = strtoull(argv[i] + 6, NULL, 10);
            }
            emud_register_tb_trans_cb(id, translated);
            return 0;
        }

        """, into: directory)
}

@Suite("Each machine in its own worker process")
struct WorkerTests {
    @Test("a plugin that segfaults kills only its machine")
    func crashingPluginCostsOneMachine() async throws {
        let environment = try GuestTestEnvironment.require()
        let plugins = try ScratchDirectory("crash-plugins")
        defer { plugins.remove() }
        let library = try await buildCrashingPlugin(into: plugins)
        let directory = try ScratchDirectory("crash")
        defer { directory.remove() }
        let socket = directory.file("control.sock")
        let daemon = try DaemonProcess.emud(environment, control: socket, ["--plugin-dir", plugins.path])
        defer { daemon.stop() }
        let client = try await daemon.connect(socket)
        defer { client.close() }
        let watcher = try await daemon.connect(socket)
        defer { watcher.close() }
        let elf = environment.guests.appendingPathComponent("demo-forever.elf").path
        let good = try await client.returnValue("machine-create", ["id": "good", "image": elf])
        #expect(good["worker_pid"].int != nil, "\(good)")
        let goodPid = try #require(good["worker_pid"].int)
        #expect(Int32(goodPid) != daemon.processIdentifier)

        for (id, policy) in [("bad", "keep"), ("doomed", "destroy")] {
            _ = try await client.returnValue("machine-create", ["id": id, "image": elf, "on_crash": policy,
                                                                "plugins": [["path": library, "args": ["after=20000000"]]]])
            let crashed = try await watcher.waitForEvent("MACHINE_CRASHED", timeout: 60) { $0["id"].string == id }["data"]
            #expect(crashed["signal_name"].string == "SIGSEGV", "\(crashed)")
            #expect(crashed["signal"].int == Int(SIGSEGV), "\(crashed)")
            #expect(crashed["core_dump"].string?.isEmpty == false, "\(crashed)")
            // The last lines the guest printed before the plugin's bug struck; its console stays readable.
            let tail = (crashed["console"].array ?? []).compactMap { $0.string }
            #expect(tail.contains { $0.contains("@@@") }, "\(crashed)")
            if policy == "keep" {
                let console = try await client.returnValue("console-read", ["machine": id])["data"].string ?? ""
                #expect(console.contains("emud demo") && console.hasSuffix(tail.joined(separator: "\n") + "\n"), "\(console.suffix(300))")
            }
        }
        _ = try await watcher.waitForEvent("MACHINE_DESTROYED", timeout: 10) { $0["id"].string == "doomed" }

        // The daemon and its clients go on; the crashed machine says why, the other one keeps running.
        #expect(!daemon.hasExited, "the daemon died with its machine; log:\n\(daemon.log)")
        let machines = try await client.returnValue("query-machines").array ?? []
        #expect(machines.map { $0["id"].string ?? "" }.sorted() == ["bad", "good"], "\(machines)")
        let bad = try #require(machines.first { $0["id"].string == "bad" })
        #expect(bad["state"].string == "crashed" && bad["error"].string?.contains("SIGSEGV") == true, "\(bad)")
        let first = try #require(machines.first { $0["id"].string == "good" }?["instructions"].int)
        try await Task.sleep(nanoseconds: 300_000_000)
        let later = try await client.returnValue("query-machines").array ?? []
        let second = try #require(later.first { $0["id"].string == "good" }?["instructions"].int)
        #expect(second > first, "the surviving machine stopped: \(first) then \(second) instructions")
        #expect(later.first { $0["id"].string == "good" }?["state"].string == "running")
        // A crashed machine refuses what needs its worker, and machine-destroy removes it.
        let refused = try await client.execute("machine-stop", ["machine": "bad"])
        #expect(refused.errorClass == "GenericError" && refused.errorDescription.contains("crashed"), "\(refused)")
        _ = try await client.returnValue("machine-destroy", ["machine": "bad"])
        _ = try await client.returnValue("machine-destroy", ["machine": "good"])
        #expect(try await client.returnValue("query-machines").array?.isEmpty == true)
        #expect(kill(Int32(goodPid), 0) != 0, "machine-destroy left worker \(goodPid) running")
        #expect(daemon.log.contains("SIGSEGV"), "the crash is not in the log")
    }

    @Test("machines run in workers: each has its own process, gone after destroy")
    func workersComeAndGo() async throws {
        let environment = try GuestTestEnvironment.require()
        let directory = try ScratchDirectory("workers")
        defer { directory.remove() }
        let socket = directory.file("control.sock")
        let daemon = try DaemonProcess.emud(environment, control: socket)
        defer { daemon.stop() }
        let client = try await daemon.connect(socket)
        defer { client.close() }
        let elf = environment.guests.appendingPathComponent("demo-forever.elf").path
        var pids: [Int32] = []
        for id in ["a", "b"] {
            let reply = try await client.returnValue("machine-create", ["id": id, "image": elf, "paused": true])
            pids.append(Int32(try #require(reply["worker_pid"].int)))
        }
        #expect(Set(pids).count == 2 && !pids.contains(daemon.processIdentifier))
        for pid in pids {
            let parent = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?
                .split(separator: ")").last?.split(separator: " ").dropFirst(1).first.flatMap { Int32($0) }
            #expect(parent == daemon.processIdentifier, "worker \(pid) is not the daemon's child")
        }
        // A worker the daemon loses unasked (killed from outside) is reported as a crash.
        kill(pids[0], SIGKILL)
        let crashed = try await client.waitForEvent("MACHINE_CRASHED", timeout: 30) { $0["id"].string == "a" }["data"]
        #expect(crashed["signal_name"].string == "SIGKILL", "\(crashed)")
        _ = try await client.returnValue("machine-destroy", ["machine": "a"])
        _ = try await client.returnValue("machine-destroy", ["machine": "b"])
        #expect(kill(pids[1], 0) != 0, "worker \(pids[1]) outlived machine-destroy")
        #expect(!daemon.hasExited)
    }

    @Test("each worker has its own resource limits, and a cgroup when the daemon has one to divide")
    func workerLimits() async throws {
        let environment = try GuestTestEnvironment.require()
        let directory = try ScratchDirectory("limits")
        defer { directory.remove() }
        let elf = environment.guests.appendingPathComponent("demo-forever.elf").path
        // No delegated cgroup here: cgroup limits are refused with the reason, RLIMITs still apply.
        let socket = directory.file("control.sock")
        let daemon = try DaemonProcess.emud(environment, control: socket)
        defer { daemon.stop() }
        let client = try await daemon.connect(socket)
        defer { client.close() }
        let refused = try await client.execute("machine-create", ["id": "w", "image": elf, "memory_limit": "256M"])
        #expect(refused.errorClass == "GenericError" && refused.errorDescription.contains("Delegate=yes"), "\(refused)")
        let badWeight = try await client.execute("machine-create", ["id": "w", "image": elf, "cpu_weight": 0])
        #expect(badWeight.errorClass == "GenericError" && badWeight.errorDescription.contains("cpu_weight"), "\(badWeight)")
        let created = try await client.returnValue("machine-create", ["id": "w", "image": elf, "memory": "64M", "paused": true])
        let pid = try #require(created["worker_pid"].int)
        let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
        func limit(_ name: String) -> [String] {
            guard let line = limits.split(separator: "\n").first(where: { $0.hasPrefix(name) }) else { return [] }
            return line.dropFirst(name.count).split(separator: " ").prefix(2).map(String.init)
        }
        let addressSpace = String(UInt64(64 << 20) + UInt64(3 << 30))
        #expect(limit("Max address space") == [addressSpace, addressSpace], "\(limits)")
        #expect(limit("Max open files") == ["256", "256"], "\(limits)")
        _ = try await client.returnValue("machine-destroy", ["machine": "w"])

        // A cgroup v2 directory standing in for the one systemd delegates (EMUD_CGROUP_ROOT): the daemon moves
        // itself into a leaf and each worker into a cgroup of its own with the machine's limits.
        let cgroup = try ScratchDirectory("cgroup")
        defer { cgroup.remove() }
        for file in ["cgroup.procs", "cgroup.subtree_control", "daemon/cgroup.procs", "machine-g/cgroup.procs",
                     "machine-g/memory.max", "machine-g/memory.swap.max", "machine-g/cpu.weight"] {
            let path = cgroup.file(file)
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: path, contents: nil)
        }
        try "cpuset cpu io memory pids\n".write(toFile: cgroup.file("cgroup.controllers"), atomically: true, encoding: .utf8)
        let second = directory.file("second.sock")
        let delegated = try DaemonProcess.emud(environment, control: second,
                                               processEnvironment: daemonEnvironment(["EMUD_CGROUP_ROOT": cgroup.path]))
        defer { delegated.stop() }
        let other = try await delegated.connect(second)
        defer { other.close() }
        let machine = try await other.returnValue("machine-create", ["id": "g", "image": elf, "paused": true,
                                                                     "memory_limit": "512M", "cpu_weight": 50])
        let workerPid = try #require(machine["worker_pid"].int)
        func read(_ file: String) -> String { (try? String(contentsOfFile: cgroup.file(file), encoding: .utf8)) ?? "" }
        #expect(read("daemon/cgroup.procs") == String(delegated.processIdentifier))
        #expect(read("cgroup.subtree_control") == "+cpu", "controllers enabled: \(read("cgroup.subtree_control"))")
        #expect(read("machine-g/memory.max") == String(512 << 20))
        #expect(read("machine-g/cpu.weight") == "50")
        #expect(read("machine-g/cgroup.procs") == String(workerPid))
        _ = try await other.returnValue("machine-destroy", ["machine": "g"])
    }

    @Test("a guest beyond its cgroup's memory limit is killed alone: the OOM killer ends its worker, the other machine runs on")
    func memoryLimitKillsTheRunawayAlone() async throws {
        let environment = try GuestTestEnvironment.require()
        let cgroup = try RealMemoryCgroup()
        defer { cgroup.remove() }
        let directory = try ScratchDirectory("oom")
        defer { directory.remove() }
        let socket = directory.file("control.sock")
        let daemon = try DaemonProcess.emud(environment, control: socket,
                                            processEnvironment: daemonEnvironment(["EMUD_CGROUP_ROOT": cgroup.path]))
        defer { daemon.stop() }
        let client = try await daemon.connect(socket)
        defer { client.close() }
        let calm = environment.guests.appendingPathComponent("demo-forever.elf").path
        let hog = environment.guests.appendingPathComponent("memhog.elf").path
        _ = try await client.returnValue("machine-create", ["id": "calm", "image": calm])
        // memhog touches 384 MiB of its 512 MiB: far beyond a 128 MiB limit on the whole worker.
        _ = try await client.returnValue("machine-create", ["id": "hog", "image": hog, "memory": "512M", "memory_limit": "128M"])
        let crashed = try await client.waitForEvent("MACHINE_CRASHED", timeout: 60) { $0["id"].string == "hog" }["data"]
        #expect(crashed["out_of_memory"].bool == true, "\(crashed)")
        #expect(crashed["signal_name"].string == "SIGKILL", "\(crashed)")
        #expect(!(crashed["console"].array ?? []).contains { $0.string == "memhog: all 384 MiB touched" }, "\(crashed)")
        func instructions() async throws -> Int {
            let machines = try await client.returnValue("query-machines").array ?? []
            return machines.first { $0["id"].string == "calm" }?["instructions"].int ?? 0
        }
        let before = try await instructions()
        try await Task.sleep(nanoseconds: 500_000_000)
        let after = try await instructions()
        #expect(after > before, "the other machine stopped: \(before) then \(after) instructions")
        #expect(!daemon.hasExited)
        _ = try await client.returnValue("machine-destroy", ["machine": "hog"])
        _ = try await client.returnValue("machine-destroy", ["machine": "calm"])
    }

    @Test("kill -9 of the daemon: a new daemon re-adopts its machines, which run on and answer gdb")
    func machinesOutliveTheDaemon() async throws {
        let environment = try GuestTestEnvironment.require()
        let directory = try ScratchDirectory("readopt")
        defer { directory.remove() }
        let socket = directory.file("control.sock")
        let elf = environment.guests.appendingPathComponent("demo-forever.elf").path
        var workers: [Int32] = []
        defer { for worker in workers { kill(worker, SIGKILL) } }
        let first = try DaemonProcess.emud(environment, control: socket)
        let client = try await first.connect(socket)
        for i in 0..<3 {
            let reply = try await client.returnValue("machine-create", ["id": "m\(i)", "image": elf, "gdb": "unix:" + directory.file("gdb\(i).sock"),
                                                                       "console": ["log": directory.file("m\(i).log")]])
            workers.append(Int32(try #require(reply["worker_pid"].int)))
        }
        try await Task.sleep(nanoseconds: 300_000_000)
        let before = try await client.returnValue("query-machines").array ?? []
        client.close()
        first.signal(SIGKILL)
        _ = await first.waitForExit(timeout: 10)
        try await Task.sleep(nanoseconds: 300_000_000)
        for worker in workers { #expect(WorkerProbe.isRunning(worker), "worker \(worker) died with its daemon") }

        let second = try DaemonProcess.emud(environment, control: socket)
        defer { second.stop() }
        let again = try await second.connect(socket)
        defer { again.close() }
        // Re-adoption runs once the control socket is bound (so that a second daemon cannot take a live one's
        // workers), before the daemon reports itself ready.
        #expect(await second.waitForLog(containing: "ready"), "\(second.log)")
        let after = try await again.returnValue("query-machines").array ?? []
        #expect(after.map { $0["id"].string ?? "" } == ["m0", "m1", "m2"], "\(after)")
        for (i, machine) in after.enumerated() where i < before.count {
            #expect(machine["worker_pid"].int == Int(workers[i]), "\(machine)")
            #expect(machine["state"].string == "running", "\(machine)")
            let earlier = before[i]["instructions"].int ?? .max
            #expect((machine["instructions"].int ?? 0) > earlier, "instructions went from \(earlier) to \(machine["instructions"])")
            #expect((machine["uptime"].double ?? 0) > (before[i]["uptime"].double ?? .infinity), "\(machine)")
        }
        #expect(second.log.contains("re-adopted machine m1"), "\(second.log)")
        // The gdb endpoints never went away: the workers serve them.
        for i in 0..<3 {
            let gdb = await RawRSPClient(path: directory.file("gdb\(i).sock"), timeout: 5)
            let stop = gdb?.request("?")
            #expect(stop?.hasPrefix("T") == true || stop?.hasPrefix("S") == true, "gdb on m\(i) answered \(String(describing: stop))")
        }
        for i in 0..<3 { _ = try await again.returnValue("machine-destroy", ["machine": "m\(i)"]) }
        for _ in 0..<50 where workers.contains(where: { WorkerProbe.isRunning($0) }) {
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        #expect(!workers.contains { WorkerProbe.isRunning($0) }, "workers still running after machine-destroy")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.file("control.machines")).isEmpty)
    }

    @Test("the sandbox refuses a plugin's attempt to open /etc/shadow, or any file beyond the image and the plugins")
    func sandboxRefusesFiles() async throws {
        let environment = try GuestTestEnvironment.require()
        let plugins = try ScratchDirectory("sandbox-plugins")
        defer { plugins.remove() }
        // Queried after start-up, it opens each file its arguments name and says what happened.
        let library = try await compileTestPlugin("peek", source: """
            #include "emud-plugin.h"
            #include <errno.h>
            #include <fcntl.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <unistd.h>
            EMUD_PLUGIN_EXPORT const int emud_plugin_api_version = EMUD_PLUGIN_API_VERSION;
            EMUD_PLUGIN_EXPORT const char emud_plugin_license[] = "GPL-2.0-or-later";
            static char paths[2][512];
            static char *query(emud_plugin_id_t id)
            {
                (void)id;
                char *out = malloc(2048);
                if (!out) return NULL;
                size_t n = (size_t)snprintf(out, 2048, "{");
                for (int i = 0; i < 2; i++) {
                    int fd = open(paths[i], O_RDONLY);
                    n += (size_t)snprintf(out + n, 2048 - n, "%s\\"%s\\": \\"%s\\"", i ? ", " : "", paths[i], fd >= 0 ? "opened" : strerror(errno));
                    if (fd >= 0) close(fd);
                }
                snprintf(out + n, 2048 - n, "}");
                return out;
            }
            EMUD_PLUGIN_EXPORT int emud_plugin_install(emud_plugin_id_t id, const struct emud_plugin_info *info, int argc, char **argv)
            {
                emud_plugin_init(info);
                if (argc != 1 || strncmp(argv[0], "file=", 5) != 0) return -1;
                snprintf(paths[0], sizeof paths[0], "/etc/shadow");
                snprintf(paths[1], sizeof paths[1], "%s", argv[0] + 5);
                emud_register_query_cb(id, query);
                return 0;
            }

            """, into: plugins)
        let directory = try ScratchDirectory("sandbox")
        defer { directory.remove() }
        let secret = directory.file("secret.txt")
        try "the daemon's user may read this\n".write(toFile: secret, atomically: true, encoding: .utf8)
        let socket = directory.file("control.sock")
        let daemon = try DaemonProcess.emud(environment, control: socket, ["--plugin-dir", plugins.path])
        defer { daemon.stop() }
        let client = try await daemon.connect(socket)
        defer { client.close() }
        let elf = environment.guests.appendingPathComponent("demo-forever.elf").path
        let created = try await client.returnValue("machine-create", ["id": "s", "image": elf,
                                                                      "plugins": [["path": library, "args": ["file=\(secret)"]]]])
        let pid = try #require(created["worker_pid"].int)
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        #expect(status.contains("NoNewPrivs:\t1") && status.contains("Seccomp:\t2"), "\(status)")
        let report = try await client.returnValue("plugin-query", ["machine": "s", "id": 1])["report"]
        #expect(report[secret].string == "Permission denied", "\(report)")
        #expect(report["/etc/shadow"].string == "Permission denied", "\(report)")
        // The test itself may read the file: the refusal is the sandbox's, not the file's mode.
        #expect(FileManager.default.isReadableFile(atPath: secret))
        #expect(!daemon.hasExited)
    }

    @Test("CI's share of the soak: create/load/unload/destroy cycles leave the daemon flat and no worker behind")
    func shortSoak() async throws {
        let environment = try GuestTestEnvironment.require()
        let script = SamplePlugins.repositoryRoot.appendingPathComponent("Tests/Soak/soak.sh").path
        let run = try await runProcess(URL(fileURLWithPath: "/usr/bin/env"),
                                       ["SOAK_CYCLES=40", "SOAK_WARMUP=10", "SOAK_REPORT_EVERY=10", "EMUD_BIN=\(environment.emud.path)",
                                        "/bin/bash", script], timeout: 300)
        let output = String(decoding: run.standardOutput + run.standardError, as: UTF8.self)
        #expect(run.status == 0 && output.contains("soak: passed"), "\(output)")
    }
}

enum WorkerProbe {
    /// Whether `pid` exists and is not a zombie.
    static func isRunning(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
    }
}
/// A real cgroup with the memory controller for a daemon to divide (`EMUD_CGROUP_ROOT`): a new cgroup v2 directory
/// when the host's unified hierarchy has the memory controller (systemd hosts), else a directory of the cgroup v1
/// memory hierarchy (hybrid hosts, as this project's CI machines). Needs root.
struct RealMemoryCgroup {
    let path: String

    init() throws {
        let name = "emud-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let unified = "/sys/fs/cgroup"
        let controllers = (try? String(contentsOfFile: unified + "/cgroup.controllers", encoding: .utf8)) ?? ""
        if controllers.split(whereSeparator: { $0 == " " || $0 == "\n" }).contains("memory") {
            let enabled = (try? String(contentsOfFile: unified + "/cgroup.subtree_control", encoding: .utf8)) ?? ""
            if !enabled.contains("memory") { try? "+memory".write(toFile: unified + "/cgroup.subtree_control", atomically: false, encoding: .utf8) }
            path = unified + "/" + name
        } else if FileManager.default.fileExists(atPath: "/sys/fs/cgroup/memory/memory.limit_in_bytes") {
            path = "/sys/fs/cgroup/memory/" + name
        } else {
            throw TestEnvironmentError(description: "no cgroup hierarchy with the memory controller at /sys/fs/cgroup (cgroup v2) or /sys/fs/cgroup/memory (v1): run the tests as root on a Linux host with memory cgroups")
        }
        guard mkdir(path, 0o755) == 0 else {
            throw TestEnvironmentError(description: "cannot create cgroup \(path): \(String(cString: strerror(errno))) (the tests must run as root)")
        }
    }

    /// Removes the machines' cgroups the daemon left, the daemon's leaf (v2), then the cgroup itself.
    func remove() {
        for child in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
            var info = stat()
            if stat(path + "/" + child, &info) == 0, info.st_mode & S_IFMT == S_IFDIR { rmdir(path + "/" + child) }
        }
        rmdir(path)
    }
}
