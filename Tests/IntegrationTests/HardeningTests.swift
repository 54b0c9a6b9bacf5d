// The daemon against hostile or careless clients and plugins (issue 12): each test here failed, or hung, before
// its fix. Every one checks the daemon is still alive and answering afterwards.
// SPDX-License-Identifier: GPL-2.0-or-later

import Foundation
import Testing

/// A figure from /proc/PID/status, in KiB (VmSize, VmRSS).
func procStatusKiB(_ pid: Int32, _ field: String) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }) else { return nil }
    return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
}

/// How many descriptors a process has open.
func openDescriptors(_ pid: Int32) -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
}

/// Compiles a test-only C plugin from `source` into `directory`/lib`name`.so.
func compileTestPlugin(_ name: String, source: String, into directory: ScratchDirectory) async throws -> String {
    guard let gcc = findExecutable("gcc") else {
        throw TestEnvironmentError(description: "gcc is not installed; the test plugin is C: `apt-get install gcc`")
    }
    let file = directory.file("\(name).c")
    try source.write(toFile: file, atomically: true, encoding: .utf8)
    let library = directory.file("lib\(name).so")
    let header = SamplePlugins.repositoryRoot.appendingPathComponent("Sources/CEmudPlugin/include").path
    let built = try await runProcess(gcc, ["-shared", "-fPIC", "-O1", "-I", header, "-o", library, file], timeout: 60)
    guard built.status == 0 else {
        throw TestEnvironmentError(description: "gcc failed on the test plugin: \(String(decoding: built.standardError, as: UTF8.self))")
    }
    return library
}

/// Compiles a C plugin whose install waits until the file named by its first argument exists.
func buildStuckInstallPlugin(into directory: ScratchDirectory) async throws -> String {
    try await compileTestPlugin("stuck", source: """
        #include "emud-plugin.h"
        #include <unistd.h>
        EMUD_PLUGIN_EXPORT const int emud_plugin_api_version = EMUD_PLUGIN_API_VERSION;
        EMUD_PLUGIN_EXPORT const char emud_plugin_license[] = "GPL-2.0-or-later";
        EMUD_PLUGIN_EXPORT int emud_plugin_install(emud_plugin_id_t id, const struct emud_plugin_info *info, int argc, char **argv)
        {
            emud_plugin_init(info);
            while (argc > 0 && access(argv[0], F_OK) != 0)
                usleep(10000);
            return 0;
        }

        """, into: directory)
}

@Suite("The daemon against hostile input")
struct HardeningTests {
    private func daemon(_ label: String, _ extra: [String] = []) throws -> (GuestTestEnvironment, ScratchDirectory, String, DaemonProcess) {
        let environment = try GuestTestEnvironment.require()
        let directory = try ScratchDirectory(label)
        let socket = directory.file("control.sock")
        let daemon = try DaemonProcess.emud(environment, control: socket, extra)
        return (environment, directory, socket, daemon)
    }

    @Test("machine-destroy returns the machine's RAM and descriptors")
    func destroyedMachinesFreeTheirMemory() async throws {
        let (environment, directory, socket, daemon) = try self.daemon("leak")
        defer { daemon.stop(); directory.remove() }
        let client = try await daemon.connect(socket)
        defer { client.close() }
        let elf = environment.guests.appendingPathComponent("sieve-O0.elf").path
        func cycle(_ i: Int) async throws {
            _ = try await client.returnValue("machine-create", ["id": "m\(i)", "image": elf, "memory": "256M",
                                                                "console": ["socket": directory.file("m\(i).sock")]])
            _ = try await client.returnValue("machine-wait", ["machine": "m\(i)", "timeout": 60], timeout: 90)
            _ = try await client.returnValue("machine-destroy", ["machine": "m\(i)"])
        }
        try await cycle(0)
        let pid = daemon.processIdentifier
        let size0 = try #require(procStatusKiB(pid, "VmSize")), rss0 = try #require(procStatusKiB(pid, "VmRSS"))
        let fds0 = openDescriptors(pid)
        let cycles = 16
        for i in 1...cycles { try await cycle(i) }
        let size1 = try #require(procStatusKiB(pid, "VmSize")), rss1 = try #require(procStatusKiB(pid, "VmRSS"))
        let fds1 = openDescriptors(pid)
        print("daemon after \(cycles) create/run/destroy cycles of 256 MiB machines: VmSize \(size0 >> 10) -> \(size1 >> 10) MiB, VmRSS \(rss0 >> 10) -> \(rss1 >> 10) MiB, descriptors \(fds0) -> \(fds1)")
        // One leaked machine is 256 MiB of address space; allow less than two in all.
        #expect(size1 - size0 < 400 << 10, "VmSize grew from \(size0) KiB to \(size1) KiB over \(cycles) machines")
        #expect(rss1 - rss0 < 128 << 10, "VmRSS grew from \(rss0) KiB to \(rss1) KiB over \(cycles) machines")
        #expect(fds1 <= fds0 + 2, "open descriptors went from \(fds0) to \(fds1)")
        #expect(try await client.returnValue("query-machines").array?.isEmpty == true)
    }

    @Test("console logs: only the daemon's own regular files, never seeking")
    func consoleLogsRefuseWhatIsNotTheirs() async throws {
        let (environment, directory, socket, daemon) = try self.daemon("consolelog")
        defer { daemon.stop(); directory.remove() }
        let client = try await daemon.connect(socket)
        defer { client.close() }
        let elf = environment.guests.appendingPathComponent("sieve-O0.elf").path
        let link = directory.file("link.log")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: directory.file("target.log"))
        let foreign = directory.file("foreign.log")
        try "somebody else's\n".write(toFile: foreign, atomically: true, encoding: .utf8)
        #expect(chown(foreign, 65534, 65534) == 0)
        let fifo = directory.file("fifo.log")
        #expect(mkfifo(fifo, 0o600) == 0)
        for (path, why) in [("/proc/self/mem", "on /proc"), ("/dev/stdout", "symbolic link"), (link, "symbolic link"),
                            (foreign, "belongs to user 65534"), (fifo, "fifo.log"), ("/nonexistent/dir/x.log", "No such file")] {
            let reply = try await client.execute("machine-create", ["id": "c", "image": elf, "console": ["log": path]])
            #expect(reply.errorClass == "GenericError" && reply.errorDescription.contains(why), "console log \(path): \(reply)")
        }
        #expect(!FileManager.default.fileExists(atPath: directory.file("target.log")), "the log followed a symbolic link")
        #expect(try String(contentsOfFile: foreign, encoding: .utf8) == "somebody else's\n")
        // The daemon's own file is appended to.
        let own = directory.file("own.log")
        try "earlier run\n".write(toFile: own, atomically: true, encoding: .utf8)
        _ = try await client.returnValue("machine-create", ["id": "c", "image": elf, "console": ["log": own]])
        _ = try await client.returnValue("machine-wait", ["machine": "c", "timeout": 60], timeout: 90)
        _ = try await client.returnValue("machine-destroy", ["machine": "c"])
        let text = try String(contentsOfFile: own, encoding: .utf8)
        #expect(text.hasPrefix("earlier run\n") && text.contains("primes below"), "own log: \(text.prefix(200))")
        #expect(!daemon.hasExited)
    }

    @Test("console sockets: clients' descriptors are closed, and only a socket is ever unlinked")
    func consoleSocketsCloseClientsAndKeepFiles() async throws {
        let (environment, directory, socket, daemon) = try self.daemon("consolesock")
        defer { daemon.stop(); directory.remove() }
        let client = try await daemon.connect(socket)
        defer { client.close() }
        let elf = environment.guests.appendingPathComponent("demo-forever.elf").path
        let precious = directory.file("precious.txt")
        try "keep me\n".write(toFile: precious, atomically: true, encoding: .utf8)
        let refused = try await client.execute("machine-create", ["id": "s", "image": elf, "console": ["socket": precious]])
        #expect(refused.errorClass == "GenericError" && refused.errorDescription.contains("not a socket"), "\(refused)")
        #expect(try String(contentsOfFile: precious, encoding: .utf8) == "keep me\n")

        let pid = daemon.processIdentifier
        let before = openDescriptors(pid)
        let path = directory.file("console.sock")
        _ = try await client.returnValue("machine-create", ["id": "s", "image": elf, "console": ["socket": path]])
        for _ in 0..<40 {
            let fd = socket_(path)
            #expect(fd >= 0)
            Glibc.close(fd)
        }
        // Give the reader threads a moment to see each close.
        var during = openDescriptors(pid)
        for _ in 0..<50 where during > before + 4 {
            try await Task.sleep(nanoseconds: 100_000_000)
            during = openDescriptors(pid)
        }
        #expect(during <= before + 4, "descriptors: \(before) before the machine, \(during) after 40 console clients came and went")
        _ = try await client.returnValue("machine-destroy", ["machine": "s"])
        #expect(!FileManager.default.fileExists(atPath: path), "the console socket is still there after destroy")
        var after = openDescriptors(pid)
        for _ in 0..<50 where after > before + 1 {
            try await Task.sleep(nanoseconds: 100_000_000)
            after = openDescriptors(pid)
        }
        #expect(after <= before + 1, "descriptors: \(before) before the machine, \(after) after it was destroyed")
    }

    @Test("plugins load only from trusted directories")
    func pluginsOnlyFromTrustedDirectories() async throws {
        let (environment, directory, socket, daemon) = try self.daemon("trust")
        defer { daemon.stop(); directory.remove() }
        let client = try await daemon.connect(socket)
        defer { client.close() }
        let insn = try await insnPluginPath()
        _ = try await client.returnValue("machine-create", ["id": "p", "image": environment.guests.appendingPathComponent("demo-forever.elf").path, "paused": true])
        let copy = directory.file("libinsn.so")
        try FileManager.default.copyItem(atPath: insn, toPath: copy)
        let outside = try await client.execute("plugin-load", ["machine": "p", "path": copy])
        #expect(outside.errorClass == "GenericError" && outside.errorDescription.contains("not inside a trusted plugin directory"), "\(outside)")
        // A trusted directory's file that others may write is refused too (a daemon started with that directory).
        let trusted = try ScratchDirectory("trusted")
        defer { trusted.remove() }
        let writable = trusted.file("libinsn.so")
        try FileManager.default.copyItem(atPath: insn, toPath: writable)
        #expect(chmod(writable, 0o666) == 0)
        let second = directory.file("second.sock")
        let other = try DaemonProcess.emud(environment, control: second, ["--plugin-dir", trusted.path])
        defer { other.stop() }
        let otherClient = try await other.connect(second)
        defer { otherClient.close() }
        _ = try await otherClient.returnValue("machine-create", ["id": "p", "image": environment.guests.appendingPathComponent("demo-forever.elf").path, "paused": true])
        let loose = try await otherClient.execute("plugin-load", ["machine": "p", "path": writable])
        #expect(loose.errorClass == "GenericError" && loose.errorDescription.contains("writable by group or others"), "\(loose)")
        #expect(chmod(writable, 0o644) == 0)
        let fine = try await otherClient.returnValue("plugin-load", ["machine": "p", "path": writable])
        #expect(fine["id"].int != nil, "\(fine)")
        #expect(try await client.returnValue("query-plugins").array?.isEmpty == true)
    }

    @Test("total guest RAM has a limit, and machine-create says so")
    func guestMemoryLimit() async throws {
        let (environment, directory, socket, daemon) = try self.daemon("ramlimit", ["--max-guest-memory", "512M"])
        defer { daemon.stop(); directory.remove() }
        let client = try await daemon.connect(socket)
        defer { client.close() }
        let elf = environment.guests.appendingPathComponent("demo-forever.elf").path
        _ = try await client.returnValue("machine-create", ["id": "a", "image": elf, "memory": "256M", "paused": true])
        _ = try await client.returnValue("machine-create", ["id": "b", "image": elf, "memory": "256M", "paused": true])
        let third = try await client.execute("machine-create", ["id": "c", "image": elf, "memory": "128M", "paused": true])
        #expect(third.errorClass == "GenericError" && third.errorDescription.contains("max_guest_memory"), "\(third)")
        _ = try await client.returnValue("machine-destroy", ["machine": "a"])
        _ = try await client.returnValue("machine-create", ["id": "c", "image": elf, "memory": "128M", "paused": true])
        #expect(try await client.returnValue("query-machines").array?.count == 2)
    }

    @Test("plugins that never finish installing cannot stall the daemon, its stop, or machine-destroy")
    func stuckPluginInstalls() async throws {
        let plugins = try ScratchDirectory("stuck-plugins")
        defer { plugins.remove() }
        let library = try await buildStuckInstallPlugin(into: plugins)
        let (environment, directory, second, stuck) = try self.daemon("stuck", ["--plugin-dir", plugins.path, "--stop-timeout", "4"])
        defer { stuck.stop(); directory.remove() }
        let release = directory.file("release")
        defer { FileManager.default.createFile(atPath: release, contents: nil) }
        let client = try await stuck.connect(second)
        defer { client.close() }
        let elf = environment.guests.appendingPathComponent("demo-forever.elf").path
        // More never-returning installs than this machine has cores.
        let count = max(3, ProcessInfo.processInfo.activeProcessorCount + 1)
        var loaders: [QMPConnection] = []
        for i in 0..<count {
            _ = try await client.returnValue("machine-create", ["id": "m\(i)", "image": elf])
            let loader = try await stuck.connect(second)
            try await loader.sendLine(try JSONNode.line(["execute": "plugin-load", "arguments": ["machine": "m\(i)", "path": library, "args": [release]]]))
            loaders.append(loader)
        }
        defer { for l in loaders { l.close() } }
        // The control socket still answers, and tells the truth about the machines.
        var installing = 0
        for _ in 0..<50 {
            let machines = try await client.returnValue("query-machines", timeout: 5).array ?? []
            installing = machines.filter { $0["state"].string == "installing-plugin" }.count
            if installing == count { break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        #expect(installing == count, "machines reported as installing a plugin: \(installing) of \(count)")
        #expect(try await client.returnValue("query-plugins", timeout: 5).array?.isEmpty == true, "a half-installed plugin is listed")
        // machine-destroy returns (with an error saying why) instead of hanging.
        let started = Date()
        let destroyed = try await client.execute("machine-destroy", ["machine": "m0"], timeout: 30)
        #expect(destroyed.errorClass == "GenericError" && destroyed.errorDescription.contains("still installing"), "\(destroyed)")
        #expect(Date().timeIntervalSince(started) < 20)
        #expect(try await client.returnValue("query-machines", timeout: 5).array?.count == count - 1)
        // The daemon outlives the abandoned destroy, and the install going on behind it.
        try await Task.sleep(nanoseconds: 500_000_000)
        #expect(!stuck.hasExited, "the daemon died after machine-destroy gave up on a stuck install; log:\n\(stuck.log)")
        // SIGTERM ends the daemon within its stop timeout (plus slack), though installs never return.
        let stopping = Date()
        stuck.signal(SIGTERM)
        let ended = await stuck.waitForExit(timeout: 30)
        let took = Date().timeIntervalSince(stopping)
        print("daemon with \(count) stuck plugin installs stopped \(String(format: "%.1f", took)) s after SIGTERM (stop timeout 4 s)")
        #expect(ended != nil, "the daemon did not exit within 30 s of SIGTERM; log:\n\(stuck.log)")
    }

    @Test("QEMU's own Python QMP client (qemu.qmp) drives the daemon")
    func qemuQMPClient() async throws {
        let (environment, directory, socket, daemon) = try self.daemon("pyqmp")
        defer { daemon.stop(); directory.remove() }
        let client = try await daemon.connect(socket)
        client.close()
        guard let python = ProcessInfo.processInfo.environment["EMUD_PYTHON"], FileManager.default.isExecutableFile(atPath: python) else {
            throw TestEnvironmentError(description: "EMUD_PYTHON is not set to a Python with qemu.qmp: run `make test`, which makes build/pyenv with `pip install qemu.qmp`")
        }
        let script = SamplePlugins.repositoryRoot.appendingPathComponent("Tests/Clients/qmp-client.py").path
        let elf = environment.guests.appendingPathComponent("exitcode-O0.elf").path
        let run = try await runProcess(URL(fileURLWithPath: python), [script, socket, elf], timeout: 90)
        let output = String(decoding: run.standardOutput, as: UTF8.self)
        let errors = String(decoding: run.standardError, as: UTF8.self)
        #expect(run.status == 0 && !run.timedOut, "qemu.qmp client: \(run.ending)\n\(output)\n\(errors)")
        #expect(output.contains("connected: emud"), "\(output)")
        #expect(output.contains("machine-wait state: exited exit_code: 3"), "\(output)")
        #expect(output.contains("error class: DeviceNotFound"), "\(output)")
        #expect(output.contains("machine-destroy: done"), "\(output)")
    }
}

/// Connects a stream socket to a unix socket path; -1 on failure.
func socket_(_ path: String) -> Int32 {
    let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0, var address = try? QMPConnection.unixAddress(path) else { return -1 }
    let ok = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    if ok != 0 { Glibc.close(fd); return -1 }
    return fd
}

/// A bare GDB remote-protocol client on a unix socket, no-ack mode, one request and reply at a time.
final class RawRSPClient {
    let fd: Int32
    private var pending: [UInt8] = []

    init?(path: String, timeout: TimeInterval) async {
        let deadline = Date(timeIntervalSinceNow: timeout)
        var fd: Int32 = -1
        while fd < 0 && Date() < deadline {
            fd = socket_(path)
            if fd < 0 { try? await Task.sleep(nanoseconds: 50_000_000) }
        }
        guard fd >= 0 else { return nil }
        self.fd = fd
        var limit = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { Glibc.close(fd) }

    static func packet(_ body: String) -> [UInt8] {
        let bytes = Array(body.utf8)
        let sum = bytes.reduce(UInt8(0)) { $0 &+ $1 }
        return Array("$".utf8) + bytes + Array("#".utf8) + Array(String(format: "%02x", sum).utf8)
    }

    /// Sends `body` and returns the body of the next packet that comes back (acks skipped); nil on timeout.
    func request(_ body: String) -> String? {
        let out = Self.packet(body)
        guard out.withUnsafeBytes({ Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == out.count else { return nil }
        while true {
            if let start = pending.firstIndex(of: UInt8(ascii: "$")), let hash = pending[start...].firstIndex(of: UInt8(ascii: "#")),
               hash + 2 < pending.count {
                let body = String(decoding: pending[(start + 1)..<hash], as: UTF8.self)
                pending.removeSubrange(..<(hash + 3))
                return body
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return nil }
            pending += chunk[0..<n]
        }
    }
}

@Suite("gdb clients cannot grow emud without bound")
struct GDBLimitTests {
    @Test("breakpoints and watchpoints are capped; past the cap gdb gets an error, and the session goes on")
    func breakpointsAreCapped() async throws {
        let environment = try GuestTestEnvironment.require()
        let directory = try ScratchDirectory("gdbcap")
        defer { directory.remove() }
        let path = directory.file("gdb.sock")
        let elf = environment.guests.appendingPathComponent("demo-forever.elf").path
        let emud = try BackgroundProcess(name: "emud run", executable: environment.emud,
                                         arguments: ["run", "--gdb", "unix:\(path)", "--wait-gdb", elf], environment: daemonEnvironment())
        defer { if !emud.hasExited { kill(emud.process.processIdentifier, SIGKILL) } }
        let client = try #require(await RawRSPClient(path: path, timeout: 30), "emud did not listen on \(path)")
        #expect(client.request("QStartNoAckMode") == "OK")
        var accepted = 0
        var firstRefused: Int? = nil
        for i in 0..<1100 {
            let reply = client.request(String(format: "Z0,%llx,4", 0x4000_0000 + UInt64(i) * 4))
            if reply == "OK" { accepted += 1 } else if firstRefused == nil { firstRefused = i; #expect(reply?.hasPrefix("E") == true, "\(String(describing: reply))") }
        }
        #expect(accepted == 1024 && firstRefused == 1024, "accepted \(accepted) breakpoints, first refused at \(String(describing: firstRefused))")
        var watches = 0
        for i in 0..<100 where client.request(String(format: "Z2,%llx,8", 0x4100_0000 + UInt64(i) * 8)) == "OK" { watches += 1 }
        #expect(watches == 64, "accepted \(watches) watchpoints")
        // Removing makes room again, and the session still answers.
        #expect(client.request("z0,40000000,4") == "OK")
        #expect(client.request("Z0,50000000,4") == "OK")
        #expect(client.request("g")?.isEmpty == false)
    }
}
