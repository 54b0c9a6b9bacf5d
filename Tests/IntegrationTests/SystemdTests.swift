// emud as systemd runs it, without systemd: the units pass `systemd-analyze verify`; a datagram socket here
// plays the service manager's NOTIFY_SOCKET (readiness, status, watchdog pings, stopping); systemd-socket-activate
// hands over the control socket; signals stop and reload the daemon; the log carries journal fields.
// SPDX-License-Identifier: GPL-2.0-or-later

import Foundation
import Testing

/// One datagram the daemon sent to NOTIFY_SOCKET, split into its `KEY=VALUE` lines.
struct ServiceNotification: Sendable, CustomStringConvertible {
    let time: Date
    let text: String
    let fields: [String: String]

    init(time: Date, text: String) {
        self.time = time
        self.text = text
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        self.fields = fields
    }

    var description: String { text.replacingOccurrences(of: "\n", with: "\\n") }
}

/// The service manager's end of the notification protocol: a unix datagram socket bound in a scratch
/// directory, read on a thread of its own, every datagram kept with the time it arrived.
final class NotifyListener: @unchecked Sendable {
    let path: String
    private let descriptor: Int32
    private let condition = NSCondition()
    private var received: [ServiceNotification] = []
    private var stopped = false
    /// A signal to send the moment the next READY=1 arrives, as systemd may (`systemctl reload` right after start).
    private var signalOnReady: (pid: Int32, signal: Int32)?

    init(path: String) throws {
        self.path = path
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw TestEnvironmentError(description: "socket(AF_UNIX, SOCK_DGRAM): errno \(errno)") }
        var address = try QMPConnection.unixAddress(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            let why = String(cString: strerror(errno))
            close(descriptor)
            throw TestEnvironmentError(description: "cannot bind the notify socket \(path): \(why)")
        }
        Thread.detachNewThread { [self] in receive() }
    }

    private func receive() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !condition.withLock({ stopped }) {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { continue }
            let notification = ServiceNotification(time: Date(), text: String(decoding: buffer[..<count], as: UTF8.self))
            condition.withLock {
                if notification.fields["READY"] == "1", let pending = signalOnReady {
                    signalOnReady = nil
                    kill(pending.pid, pending.signal)
                }
                received.append(notification)
                condition.broadcast()
            }
        }
        close(descriptor)
    }

    /// Sends `signal` to `pid` from the receiving thread as soon as the next READY=1 arrives.
    func sendOnNextReady(_ signal: Int32, to pid: Int32) {
        condition.withLock { signalOnReady = (pid, signal) }
    }

    /// Everything received so far, oldest first.
    var notifications: [ServiceNotification] { condition.withLock { received } }

    /// The watchdog pings received so far.
    var pings: [Date] { notifications.filter { $0.fields["WATCHDOG"] == "1" }.map(\.time) }

    /// Waits for a notification after the first `skip` ones that passes `predicate`.
    func waitFor(after skip: Int = 0, timeout: TimeInterval = daemonReplyTimeoutSeconds,
                 _ predicate: @escaping @Sendable (ServiceNotification) -> Bool) async -> ServiceNotification? {
        try? await onOwnThread { [self] in
            let deadline = Date(timeIntervalSinceNow: timeout)
            condition.lock()
            defer { condition.unlock() }
            while true {
                if let found = received.dropFirst(skip).first(where: predicate) { return found }
                if !condition.wait(until: deadline) { return received.dropFirst(skip).first(where: predicate) }
            }
        }
    }

    /// Waits until `count` watchdog pings have arrived after `start` and returns the first `count` of them
    /// (fewer if `timeout` passes first).
    func waitForPings(_ count: Int, after start: Date, timeout: TimeInterval) async -> [Date] {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while true {
            let seen = pings.filter { $0 > start }
            if seen.count >= count || Date() >= deadline { return Array(seen.prefix(count)) }
            _ = await waitFor(after: notifications.count, timeout: min(1, max(0, deadline.timeIntervalSinceNow))) { _ in true }
        }
    }

    func stop() {
        condition.withLock { stopped = true }
    }
}

/// A tool from Debian's `systemd` package, or an error that says how to get it.
func systemdTool(_ name: String) throws -> URL {
    guard let tool = findExecutable(name) else {
        throw TestEnvironmentError(description: "\(name) is not installed; it comes with Debian's systemd package: "
            + "`apt-get install systemd` (or run `make test` as root, which installs it)")
    }
    return tool
}

/// The JSON configuration file format, written for a test.
func writeConfiguration(_ text: String, to path: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

@Suite("emud under systemd's protocols", .serialized)
struct SystemdTests {
    static let unitDirectory = SamplePlugins.repositoryRoot.appendingPathComponent("contrib/systemd")

    @Test func unitsPassSystemdAnalyzeVerify() async throws {
        let environment = try GuestTestEnvironment.require()
        let analyze = try systemdTool("systemd-analyze")
        let directory = try ScratchDirectory("units")
        defer { directory.remove() }

        let units = try FileManager.default.contentsOfDirectory(atPath: Self.unitDirectory.path).filter {
            $0.hasSuffix(".service") || $0.hasSuffix(".socket")
        }.sorted()
        #expect(units == ["emud.service", "emud.socket", "emud@.service", "emud@.socket"], "contrib/systemd holds \(units)")
        for unit in units {
            var text = try String(contentsOf: Self.unitDirectory.appendingPathComponent(unit), encoding: .utf8)
            if unit.hasSuffix(".service") {
                #expect(text.contains("\nExecStart=/usr/local/bin/emud daemon "), "\(unit): ExecStart does not start /usr/local/bin/emud daemon")
                #expect(text.contains("\nType=notify\n") && text.contains("\nWatchdogSec="), "\(unit) should be Type=notify with a watchdog")
                // Workers outlive a daemon that dies (it re-adopts them when restarted), and get cgroups of their own.
                #expect(text.contains("\nKillMode=process\n") && text.contains("\nDelegate=yes\n")
                        && text.contains("\nRuntimeDirectoryPreserve=restart\n"), "\(unit): KillMode=process, Delegate=yes, RuntimeDirectoryPreserve=restart")
                text = text.replacingOccurrences(of: "/usr/local/bin/emud ", with: environment.emud.path + " ")
            } else {
                // emud adopts the socket named "control" (LISTEN_FDNAMES).
                #expect(text.contains("\nFileDescriptorName=control\n"), "\(unit) must name its socket 'control'")
            }
            try Data(text.utf8).write(to: URL(fileURLWithPath: directory.file(unit)))
        }

        for unit in ["emud.service", "emud.socket", "emud@rig0.service", "emud@rig0.socket"] {
            let result = try await runProcess(analyze, ["verify", "--man=no", directory.file(unit)], timeout: 120)
            let complaints = String(decoding: result.standardOutput + result.standardError, as: UTF8.self)
                .split(separator: "\n").filter { $0.contains("emud") }
            #expect(result.status == 0 && !result.timedOut, "systemd-analyze verify \(unit): \(result.ending)\n\(complaints.joined(separator: "\n"))")
            #expect(complaints.isEmpty, "systemd-analyze verify \(unit) complains:\n\(complaints.joined(separator: "\n"))")
        }

        // Every option ExecStart passes is one emud knows: with the configuration file missing, emud gets as
        // far as reading it.
        for unit in ["emud.service", "emud@.service"] {
            let text = try String(contentsOf: URL(fileURLWithPath: directory.file(unit)), encoding: .utf8)
            let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("ExecStart=") })
            var words = line.dropFirst("ExecStart=".count).split(separator: " ").map(String.init)
            words = words.map { $0.hasPrefix("/etc/emud/") ? directory.file("missing.json") : $0 }
            let run = try await runProcess(URL(fileURLWithPath: words[0]), Array(words.dropFirst()), timeout: 30)
            let errors = String(decoding: run.standardError, as: UTF8.self)
            #expect(run.status != 0 && errors.contains("missing.json") && errors.contains("cannot read"),
                    "\(unit): \(words.joined(separator: " ")) → \(run.ending): \(errors)")
        }
    }

    /// WATCHDOG_USEC for the watchdog test: long enough that half of it is ample slack for a loaded host's
    /// scheduling, short enough that the test takes about ten of them.
    static let watchdogMicroseconds = 2_000_000

    @Test func readinessStatusWatchdogAndStoppingReachTheNotifySocket() async throws {
        let environment = try GuestTestEnvironment.require()
        let directory = try ScratchDirectory("notify")
        defer { directory.remove() }
        let listener = try NotifyListener(path: directory.file("notify.sock"))
        defer { listener.stop() }
        let socket = directory.file("control.sock")
        let daemon = try DaemonProcess.emud(environment, control: socket, processEnvironment: daemonEnvironment([
            "NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": String(Self.watchdogMicroseconds), "EMUD_TEST_HOOKS": "1",
        ]))
        defer { daemon.stop() }

        let ready = try #require(await listener.waitFor { $0.fields["READY"] == "1" }, "no READY=1; log:\n\(daemon.log)")
        #expect(ready.fields["STATUS"]?.contains("0 machines") == true, "READY came with \(ready)")
        #expect(FileManager.default.fileExists(atPath: socket), "READY=1 before the control socket exists")
        let client = try await daemon.connect(socket)
        defer { client.close() }

        // STATUS follows what the daemon hosts.
        _ = try await client.returnValue("machine-create", ["id": "m", "image": environment.guests.appendingPathComponent("demo-forever.elf").path])
        let status = await listener.waitFor { $0.fields["STATUS"]?.contains("1 machines (1 running)") == true }
        #expect(status != nil, "no STATUS for the new machine; received: \(listener.notifications)")

        // What the watchdog protocol promises, with slack taken from the interval itself rather than from how
        // fast this host is: while healthy, pings come at least once per WATCHDOG_USEC (emud aims at half of
        // it, so a ping may be late by that other half before systemd would act); while the control loop is
        // wedged they stop for long enough that systemd would act; once it is unwedged they come again.
        // Waits are bounded by generous timeouts, never fixed windows, so a loaded host only makes it slower.
        let interval = TimeInterval(Self.watchdogMicroseconds) / 1e6
        let healthyStart = Date()
        let healthy = await listener.waitForPings(4, after: healthyStart, timeout: 20 * interval)
        #expect(healthy.count == 4, "\(healthy.count) pings within \(20 * interval) s while healthy (WATCHDOG_USEC=\(Self.watchdogMicroseconds))")
        let healthyGaps = zip(healthy.dropFirst(), healthy).map { $0.timeIntervalSince($1) }
        #expect(healthyGaps.allSatisfy { $0 < interval },
                "while healthy, pings are \(healthyGaps) s apart; systemd acts after \(interval) s without one")

        // The wedge sleeps the control loop for `wedge` seconds, starting after the request was sent and ending
        // before its reply arrives (the reply is written on the wedged loop).
        let wedge = 3 * interval
        let wedgeStart = Date()
        try await client.sendLine(#"{"execute": "x-test-wedge-control-loop", "arguments": {"seconds": \#(Int(wedge))}, "id": "wedge"}"#)
        var reply: QMPMessage? = nil
        while reply == nil {
            guard let message = try await client.readMessage(timeout: 30 + wedge) else { break }
            if message["id"].string == "wedge" { reply = message }
        }
        let wedgeEnd = Date()
        #expect(reply?["return"].exists == true, "x-test-wedge-control-loop: \(String(describing: reply)) (is EMUD_TEST_HOOKS honoured?)")
        #expect(wedgeEnd.timeIntervalSince(wedgeStart) >= wedge - 0.1, "the wedge lasted only \(wedgeEnd.timeIntervalSince(wedgeStart)) s")
        // The longest stretch without a ping between request and reply. Only a health check that the loop
        // answered just before the wedge began may ping after the request, and it does so at once; allowing it
        // half an interval of delay, the silence still spans more than a whole interval, so systemd would act.
        let around = [wedgeStart] + listener.pings.filter { $0 > wedgeStart && $0 < wedgeEnd } + [wedgeEnd]
        let silence = zip(around.dropFirst(), around).map { $0.timeIntervalSince($1) }.max() ?? 0
        let pingsDuring = around.dropFirst().dropLast().map { $0.timeIntervalSince(wedgeStart) }
        #expect(silence >= wedge - interval / 2 && silence > interval,
                "while the control loop was wedged for \(wedge) s, the longest silence was \(silence) s; pings at \(pingsDuring) s into it")
        #expect(daemon.log.contains("health check failed"), "no health-check warning in the log:\n\(daemon.log)")
        let after = await listener.waitForPings(2, after: wedgeEnd, timeout: 20 * interval)
        #expect(after.count == 2, "\(after.count) pings within \(20 * interval) s after the wedge ended")
        #expect(try await client.returnValue("query-status")["machines"].int == 1)

        // SIGTERM: STOPPING=1, then a clean exit.
        let before = listener.notifications.count
        daemon.signal(SIGTERM)
        let stopping = await listener.waitFor(after: before) { $0.fields["STOPPING"] == "1" }
        #expect(stopping != nil, "no STOPPING=1 after SIGTERM; received: \(listener.notifications.dropFirst(before))")
        let ended = await daemon.waitForExit(timeout: 30)
        #expect(ended?.status == 0 && ended?.bySignal == false, "after SIGTERM: \(String(describing: ended)); log:\n\(daemon.log)")
        #expect(!FileManager.default.fileExists(atPath: socket), "the control socket outlived the daemon")
    }

    @Test func socketActivationServesTheClientThatStartedIt() async throws {
        let environment = try GuestTestEnvironment.require()
        let activate = try systemdTool("systemd-socket-activate")
        let directory = try ScratchDirectory("activate")
        defer { directory.remove() }
        let socket = directory.file("activated.sock")
        let unused = directory.file("unused.sock")
        let daemon = try DaemonProcess(
            name: "systemd-socket-activate", executable: activate,
            arguments: ["-l", socket, "--fdname=control", environment.emud.path, "daemon", "--control", unused, "--log-target=stderr"],
            environment: daemonEnvironment())
        defer { daemon.stop() }
        #expect(await daemon.waitForLog(containing: "Listening on"), "systemd-socket-activate did not listen:\n\(daemon.log)")

        // Connect while emud has not been started yet: the process is still systemd-socket-activate.
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(daemon.processIdentifier)/exe")
        #expect(exe.hasSuffix("systemd-socket-activate"), "before the first connection the process is \(exe)")
        let first = try await QMPConnection.connect(path: socket)
        defer { first.close() }
        let greeting = try await first.readMessage(timeout: 30)
        #expect(greeting?["QMP"]["version"]["package"].string?.hasPrefix("emud") == true,
                "greeting: \(String(describing: greeting)); log:\n\(daemon.log)")
        #expect(try await first.execute("qmp_capabilities")["return"].exists)
        let status = try await first.returnValue("query-status")
        #expect(status["machines"].int == 0, "\(status)")
        let afterExec = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(daemon.processIdentifier)/exe")
        #expect(afterExec == environment.emud.resolvingSymlinksInPath().path, "after activation the process is \(afterExec)")

        // The inherited socket serves everyone after, and emud made no socket of its own.
        let second = try await daemon.connect(socket)
        defer { second.close() }
        _ = try await second.returnValue("machine-create", ["id": "a", "image": environment.guests.appendingPathComponent("sieve-O0.elf").path])
        #expect(try await first.waitForEvent("MACHINE_CREATED")["data"]["id"].string == "a")
        #expect(!FileManager.default.fileExists(atPath: unused), "emud bound --control although systemd passed a socket")

        daemon.signal(SIGTERM)
        let ended = await daemon.waitForExit(timeout: 30)
        #expect(ended?.status == 0 && ended?.bySignal == false, "after SIGTERM: \(String(describing: ended)); log:\n\(daemon.log)")
    }

    /// systemd keeps a machine's gdb socket (`FileDescriptorName=gdb-ID`) for the daemon's lifetime; the daemon
    /// hands it to whichever worker serves that machine, over the worker's command socket (SCM_RIGHTS).
    @Test func aSocketActivatedGDBSocketFollowsItsMachineThroughRestartsAndRecreation() async throws {
        let environment = try GuestTestEnvironment.require()
        let activate = try systemdTool("systemd-socket-activate")
        let directory = try ScratchDirectory("activate-gdb")
        defer { directory.remove() }
        let control = directory.file("control.sock"), gdb = directory.file("gdb.sock")
        let daemon = try DaemonProcess(
            name: "systemd-socket-activate", executable: activate,
            arguments: ["-l", control, "-l", gdb, "--fdname=control:gdb-m", environment.emud.path, "daemon",
                        "--control", directory.file("unused.sock"), "--log-target=stderr"],
            environment: daemonEnvironment())
        defer { daemon.stop() }
        #expect(await daemon.waitForLog(containing: "Listening on"), "systemd-socket-activate did not listen:\n\(daemon.log)")
        let client = try await daemon.connect(control)
        defer { client.close() }
        let elf = environment.guests.appendingPathComponent("demo-forever.elf").path
        func gdbStopReply() async -> String? {
            let rsp = await RawRSPClient(path: gdb, timeout: 10)
            return rsp?.request("?")
        }
        func answered(_ reply: String?) -> Bool { reply?.hasPrefix("T") == true || reply?.hasPrefix("S") == true }

        let created = try await client.returnValue("machine-create", ["id": "m", "image": elf, "on_crash": "restart"])
        let firstWorker = try #require(created["worker_pid"].int)
        let first = await gdbStopReply()
        #expect(answered(first), "gdb on the first worker: \(String(describing: first)); log:\n\(daemon.log)")

        // The worker dies; the restarted one serves the same socket.
        kill(Int32(firstWorker), SIGKILL)
        _ = try await client.waitForEvent("MACHINE_RESTARTED", timeout: 30) { $0["id"].string == "m" }
        let machines = try await client.returnValue("query-machines").array ?? []
        let secondWorker = machines.first { $0["id"].string == "m" }?["worker_pid"].int
        #expect(secondWorker != nil && secondWorker != firstWorker, "\(machines)")
        let second = await gdbStopReply()
        #expect(answered(second), "gdb after the restart: \(String(describing: second)); log:\n\(daemon.log)")

        // Destroyed and created again under the same id: the socket is still the machine's.
        _ = try await client.returnValue("machine-destroy", ["machine": "m"])
        _ = try await client.returnValue("machine-create", ["id": "m", "image": elf])
        let third = await gdbStopReply()
        #expect(answered(third), "gdb after machine-create again: \(String(describing: third)); log:\n\(daemon.log)")
        _ = try await client.returnValue("machine-destroy", ["machine": "m"])
    }

    @Test func sigtermWithARunningMachineKeepsItsConsoleAndThePluginsFinalReport() async throws {
        let environment = try GuestTestEnvironment.require()
        let plugin = try await insnPluginPath()
        let directory = try ScratchDirectory("sigterm")
        defer { directory.remove() }
        let socket = directory.file("control.sock")
        let daemon = try DaemonProcess.emud(environment, control: socket)
        defer { daemon.stop() }
        let client = try await daemon.connect(socket)
        defer { client.close() }

        // One machine runs to its end with its console in a file; one keeps running with a plugin loaded.
        let sieveLog = directory.file("sieve.console")
        let sieveELF = environment.guests.appendingPathComponent("sieve-O0.elf").path
        _ = try await client.returnValue("machine-create", ["id": "sieve", "image": sieveELF, "console": ["log": sieveLog]])
        let beatLog = directory.file("beat.console")
        _ = try await client.returnValue("machine-create", ["id": "beat", "image": environment.guests.appendingPathComponent("demo-forever.elf").path,
                                                            "console": ["log": beatLog]])
        let loaded = try await client.returnValue("plugin-load", ["machine": "beat", "path": plugin, "args": ["inline=on"]])
        let pluginID = try #require(loaded["id"].int)
        _ = try await client.returnValue("machine-wait", ["machine": "sieve", "timeout": 60], timeout: 90)
        // The demo draws, then hashes for a long while: stop it in the middle of that.
        var written = ""
        for _ in 0..<600 where !written.contains("SHA-256 hash chain") {
            try await Task.sleep(nanoseconds: 100_000_000)
            written = (try? String(contentsOfFile: beatLog, encoding: .utf8)) ?? ""
        }
        #expect(written.contains("SHA-256 hash chain"), "the demo's console log after 60 s: \(written.suffix(300))")
        let shown = try await client.returnValue("console-read", ["machine": "beat"])["data"].string ?? ""
        #expect(try await client.returnValue("query-machines")[1]["state"].string == "running")

        daemon.signal(SIGTERM)
        var events: [QMPMessage] = []
        while let message = try await client.readMessage(timeout: 30) {
            if message.eventName != nil { events.append(message) }
        }
        let ended = await daemon.waitForExit(timeout: 30)
        #expect(ended?.status == 0 && ended?.bySignal == false, "after SIGTERM: \(String(describing: ended)); log:\n\(daemon.log)")

        #expect(events.contains { $0.eventName == "SHUTDOWN" }, "events after SIGTERM: \(events)")
        // The plugin's final report is in the log (and in PLUGIN_UNLOADED if that still reached the client).
        let logged = daemon.log.range(of: #"insns: [1-9][0-9]*\n"#, options: .regularExpression).map { String(daemon.log[$0]) }
        #expect(logged != nil, "no final report of the insn plugin in the daemon's log:\n\(daemon.log)")
        if let unloaded = events.first(where: { $0.eventName == "PLUGIN_UNLOADED" && $0["data"]["id"].int == pluginID }) {
            #expect(unloaded["data"]["report"].string == logged, "PLUGIN_UNLOADED: \(unloaded); log: \(logged ?? "none")")
        }

        // Every byte the guests wrote is in their console files.
        let expectedSieve = try await emudRunOutput(environment, sieveELF)
        let sieveText = (try? String(contentsOfFile: sieveLog, encoding: .utf8)) ?? ""
        if let difference = firstDifference(expected: Data(expectedSieve.utf8), actual: Data(sieveText.utf8),
                                            expectedName: "emud run", actualName: "console log") {
            Issue.record("\(difference)")
        }
        let beatText = (try? String(contentsOfFile: beatLog, encoding: .utf8)) ?? ""
        #expect(!shown.isEmpty && beatText.hasPrefix(shown), "the console log lost output that console-read showed before SIGTERM")
    }

    @Test func aBadConfigurationFileIsRejectedAtStartWithLineAndReason() async throws {
        let environment = try GuestTestEnvironment.require()
        let directory = try ScratchDirectory("badconfig")
        defer { directory.remove() }
        let elf = environment.guests.appendingPathComponent("sieve-O0.elf").path
        let cases: [(name: String, text: String?, expected: [String])] = [
            ("range.json", "{\n  \"stop_timeout\": 5,\n  \"machines\": [\n    { \"id\": \"m0\", \"image\": \"\(elf)\", \"cpus\": 12 }\n  ]\n}\n",
             ["range.json:4:", "cpus", "between 1 and 8"]),
            ("syntax.json", "{\n  \"stop_timeout\": 5,\n  \"machines\": [\n    { \"id\": \"m0\" \"image\": \"\(elf)\" }\n  ]\n}\n",
             ["syntax.json:4:", "not valid JSON"]),
            ("unknown.json", "{\n  \"stop_timeout\": 5,\n  \"colour\": \"blue\"\n}\n", ["unknown.json:3:", "colour"]),
            ("twice.json", "{\n  \"machines\": [\n    { \"id\": \"m0\", \"image\": \"\(elf)\" },\n    { \"id\": \"m0\", \"image\": \"\(elf)\" }\n  ]\n}\n",
             ["twice.json:4:", "m0", "twice"]),
            ("type.json", "{\n  \"log_target\": \"syslog\"\n}\n", ["type.json:2:", "log_target"]),
            ("array.json", "[1, 2]\n", ["array.json:1:", "object"]),
            ("absent.json", nil, ["absent.json", "cannot read"]),
        ]
        for (name, text, expected) in cases {
            let path = directory.file(name)
            if let text { try writeConfiguration(text, to: path) }
            let socket = directory.file("control-\(name).sock")
            let run = try await runProcess(environment.emud, ["daemon", "--control", socket, "--log-target=stderr", "--config", path], timeout: 30)
            let errors = String(decoding: run.standardError, as: UTF8.self)
            #expect(run.status != 0 && !run.killedBySignal && !run.timedOut, "\(name): \(run.ending)")
            for word in expected { #expect(errors.contains(word), "\(name): stderr should mention '\(word)': \(errors)") }
            #expect(!FileManager.default.fileExists(atPath: socket), "\(name): the daemon listened before rejecting its configuration")
        }
        // A machine the configuration names that cannot be created stops the start too.
        let missingImage = directory.file("image.json")
        try writeConfiguration("{ \"machines\": [ { \"id\": \"m0\", \"image\": \"\(directory.file("missing.elf"))\" } ] }\n", to: missingImage)
        let socket = directory.file("control-image.sock")
        let run = try await runProcess(environment.emud, ["daemon", "--control", socket, "--log-target=stderr", "--config", missingImage], timeout: 30)
        let errors = String(decoding: run.standardError, as: UTF8.self)
        #expect(run.status != 0 && !run.killedBySignal && errors.contains("missing.elf"), "\(run.ending): \(errors)")
        #expect(!FileManager.default.fileExists(atPath: socket), "the socket of a daemon that failed to start is still there")
    }

    @Test func sighupReloadsAndABadFileKeepsTheRunningConfiguration() async throws {
        let environment = try GuestTestEnvironment.require()
        let directory = try ScratchDirectory("sighup")
        defer { directory.remove() }
        let listener = try NotifyListener(path: directory.file("notify.sock"))
        defer { listener.stop() }
        let elf = environment.guests.appendingPathComponent("sieve-O0.elf").path
        let config = directory.file("emud.json")
        try writeConfiguration("""
            {
              "stop_timeout": 5,
              "machines": [
                { "id": "first", "image": "\(elf)", "paused": true, "memory": "16M" }
              ]
            }

            """, to: config)
        let socket = directory.file("control.sock")
        let daemon = try DaemonProcess.emud(environment, control: socket, ["--config", config],
                                            processEnvironment: daemonEnvironment(["NOTIFY_SOCKET": listener.path]))
        defer { daemon.stop() }
        #expect(await listener.waitFor { $0.fields["READY"] == "1" } != nil, "no READY=1; log:\n\(daemon.log)")
        let client = try await daemon.connect(socket)
        defer { client.close() }
        #expect(try await client.returnValue("query-machines").array?.compactMap { $0["id"].string } == ["first"])

        // A broken file: rejected with line and reason, the running configuration kept.
        try writeConfiguration("""
            {
              "stop_timeout": 5,
              "machines": [
                { "id": "first", "image": "\(elf)", "paused": true },
                { "id": "second", "image": "\(elf)", "cpus": 99 }
              ]
            }

            """, to: config)
        let beforeBad = listener.notifications.count
        daemon.signal(SIGHUP)
        #expect(await daemon.waitForLog(containing: "reload rejected"), "no rejection in the log:\n\(daemon.log)")
        let rejection = daemon.log.split(separator: "\n").first { $0.contains("reload rejected") } ?? ""
        #expect(rejection.contains("emud.json:5:") && rejection.contains("cpus"), "the rejection should give line 5 and 'cpus': \(rejection)")
        let reloading = await listener.waitFor(after: beforeBad) { $0.fields["RELOADING"] == "1" }
        #expect(reloading != nil, "no RELOADING=1; received: \(listener.notifications.dropFirst(beforeBad))")
        #expect(await listener.waitFor(after: beforeBad) { $0.fields["READY"] == "1" } != nil, "no READY=1 after the rejected reload")
        #expect(try await client.returnValue("query-machines").array?.compactMap { $0["id"].string } == ["first"])
        #expect(!daemon.hasExited)

        // A good file: the machine it adds is created, the one already there is left alone.
        try writeConfiguration("""
            {
              "stop_timeout": 5,
              "machines": [
                { "id": "first", "image": "\(elf)", "paused": true },
                { "id": "second", "image": "\(elf)", "paused": true, "memory": "16M" }
              ]
            }

            """, to: config)
        daemon.signal(SIGHUP)
        let created = try await client.waitForEvent("MACHINE_CREATED") { $0["id"].string == "second" }
        #expect(created["data"]["paused"].bool == true)
        #expect(try await client.returnValue("query-machines").array?.compactMap { $0["id"].string } == ["first", "second"])

        daemon.signal(SIGTERM)
        let ended = await daemon.waitForExit(timeout: 30)
        #expect(ended?.status == 0 && ended?.bySignal == false, "after SIGTERM: \(String(describing: ended)); log:\n\(daemon.log)")
    }

    /// systemd may send a reload (ExecReload=kill -HUP) as soon as the service has said READY=1.
    @Test func sighupRightAfterReadinessIsAReloadNotTheEnd() async throws {
        let environment = try GuestTestEnvironment.require()
        let directory = try ScratchDirectory("hupready")
        defer { directory.remove() }
        let listener = try NotifyListener(path: directory.file("notify.sock"))
        defer { listener.stop() }
        let config = directory.file("emud.json")
        try writeConfiguration("{ \"stop_timeout\": 5 }\n", to: config)
        for attempt in 1...5 {
            let socket = directory.file("control-\(attempt).sock")
            let before = listener.notifications.count
            let daemon = try DaemonProcess.emud(environment, control: socket, ["--config", config],
                                                processEnvironment: daemonEnvironment(["NOTIFY_SOCKET": listener.path]))
            defer { daemon.stop() }
            listener.sendOnNextReady(SIGHUP, to: daemon.processIdentifier)
            let ready = await listener.waitFor(after: before) { $0.fields["READY"] == "1" }
            try #require(ready != nil, "attempt \(attempt): no READY=1; log:\n\(daemon.log)")
            // The reload ends with READY=1 again, unless the signal ended the daemon.
            let reloadedDeadline = Date(timeIntervalSinceNow: 10)
            var reloaded = false
            while !reloaded && !daemon.hasExited && Date() < reloadedDeadline {
                reloaded = await listener.waitFor(after: before + 1, timeout: 0.2) { $0.fields["READY"] == "1" } != nil
            }
            if daemon.hasExited {
                let ended = await daemon.waitForExit(timeout: 5)
                Issue.record("attempt \(attempt): SIGHUP right after READY=1 ended the daemon (\(ended.map { $0.bySignal ? "killed by signal \($0.status)" : "exit status \($0.status)" } ?? "?")); log:\n\(daemon.log)")
                break
            }
            #expect(reloaded, "attempt \(attempt): no READY=1 after the SIGHUP; log:\n\(daemon.log)")
            daemon.signal(SIGTERM)
            #expect(await daemon.waitForExit(timeout: 30)?.status == 0)
        }
    }

    @Test func stderrLogLinesCarryTheStructuredFields() async throws {
        let environment = try GuestTestEnvironment.require()
        let plugin = try await insnPluginPath()
        let directory = try ScratchDirectory("logfields")
        defer { directory.remove() }
        for target in ["--log-target=stderr", nil] {
            let socket = directory.file("control.sock")
            // Without --log-target, and not started by systemd (no JOURNAL_STREAM), the log goes to stderr too.
            let daemon = try DaemonProcess(executable: environment.emud,
                                           arguments: ["daemon", "--control", socket] + trustedPluginArguments() + (target.map { [$0] } ?? []),
                                           environment: daemonEnvironment())
            defer { daemon.stop() }
            let client = try await daemon.connect(socket)
            defer { client.close() }
            _ = try await client.returnValue("machine-create", ["id": "logged", "image": environment.guests.appendingPathComponent("sieve-O0.elf").path, "paused": true])
            _ = try await client.returnValue("plugin-load", ["machine": "logged", "path": plugin])
            _ = try await client.returnValue("machine-destroy", ["machine": "logged"])
            #expect(await daemon.waitForLog(containing: "PLUGIN_LICENSE="), "\(target ?? "auto"): log:\n\(daemon.log)")
            let lines = daemon.log.split(separator: "\n")
            let load = lines.first { $0.contains("PLUGIN_LICENSE=") } ?? ""
            for field in ["PLUGIN_LICENSE=GPL-2.0-or-later", "PLUGIN_PATH=\(plugin)", "MACHINE_ID=logged", "PLUGIN_SHA256=", "PLUGIN_GPL_COMPATIBLE=1"] {
                #expect(load.contains(field), "\(target ?? "auto"): the plugin-load line lacks \(field): \(load)")
            }
            #expect(lines.contains { $0.contains("created machine logged") && $0.contains("MACHINE_ID=logged") },
                    "\(target ?? "auto"): no machine line with MACHINE_ID:\n\(daemon.log)")
            daemon.signal(SIGTERM)
            let ended = await daemon.waitForExit(timeout: 30)
            #expect(ended?.status == 0, "\(target ?? "auto"): \(String(describing: ended))")
        }
    }
}
