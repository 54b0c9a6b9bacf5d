// Drives `emud daemon` (the release build, EMUD_BIN) over its real control socket, with a QMP client written
// here from the wire format (raw unix socket, one JSON object per line), so the tests check the protocol as a
// third-party client sees it: the whole life cycle, many clients at once, every kind of bad input, `emud ctl`,
// and who owns the socket file.
// SPDX-License-Identifier: GPL-2.0-or-later

import Foundation
import Testing

/// How long one daemon may live in a test before it is killed, whatever the test is doing.
let daemonLifetimeSeconds: TimeInterval = 240
/// How long a test waits for one reply, event or log line before it gives up.
let daemonReplyTimeoutSeconds: TimeInterval = 30

// MARK: - Blocking work off the pool

/// Runs blocking work (socket reads, process waits) on a thread of its own, never on Swift concurrency's
/// cooperative pool, which has one thread per core here and is shared with every other test.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

// MARK: - JSON as a client reads it

/// A JSON value read with Foundation's `JSONSerialization`, with optional-chaining accessors.
struct JSONNode: @unchecked Sendable, CustomStringConvertible {
    let value: Any?

    subscript(key: String) -> JSONNode { JSONNode(value: (value as? [String: Any])?[key]) }
    subscript(index: Int) -> JSONNode {
        guard let array = value as? [Any], array.indices.contains(index) else { return JSONNode(value: nil) }
        return JSONNode(value: array[index])
    }

    var exists: Bool { value != nil }
    var string: String? { value as? String }
    var int: Int? { value as? Int }
    var double: Double? { value as? Double }
    var bool: Bool? { value as? Bool }
    var object: [String: Any]? { value as? [String: Any] }
    var array: [JSONNode]? { (value as? [Any])?.map { JSONNode(value: $0) } }
    var keys: Set<String> { Set(object?.keys.map { $0 } ?? []) }

    var description: String {
        guard let value else { return "(absent)" }
        if let text = value as? String { return "\"\(text)\"" }
        guard JSONSerialization.isValidJSONObject(value),
              let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]) else { return "\(value)" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Serialises `object` as one line (no newline).
    static func line(_ object: [String: Any]) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}

/// One line the server sent: the greeting, a reply or an event.
struct QMPMessage: Sendable, CustomStringConvertible {
    let line: String
    let json: JSONNode

    init(line: String) throws {
        self.line = line
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw TestEnvironmentError(description: "the server sent a line that is not a JSON object: \(line.prefix(300))")
        }
        self.json = JSONNode(value: object)
    }

    subscript(key: String) -> JSONNode { json[key] }
    var eventName: String? { json["event"].string }
    var isReply: Bool { json["return"].exists || json["error"].exists }
    var errorClass: String? { json["error"]["class"].string }
    var errorDescription: String { json["error"]["desc"].string ?? "" }
    var description: String { line }
}

/// Why talking to the server did not work out.
struct QMPFailure: Error, CustomStringConvertible {
    var description: String
}

// MARK: - A raw QMP client

/// A QMP client over a unix stream socket, written from the wire format alone (no emud code): requests are
/// lines written here, replies and events are lines parsed here. Blocking system calls run on threads of
/// their own (``onOwnThread(_:)``); a connection is used by one task at a time.
///
/// ``execute(_:_:timeout:)`` keeps the events that arrive before its reply in ``pendingEvents``, where
/// ``waitForEvent(_:timeout:where:)`` finds them, so no event is lost between commands.
final class QMPConnection: @unchecked Sendable {
    let path: String
    private let descriptor: Int32
    private let lock = NSLock()
    private var buffer: [UInt8] = []
    private var nextID = 1
    private var closed = false
    /// Events read while waiting for something else, oldest first.
    private(set) var pendingEvents: [QMPMessage] = []

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit { if !closed { Glibc.close(descriptor) } }

    /// Connects without reading anything (the greeting is the first line ``readMessage(timeout:)`` returns).
    static func connect(path: String) async throws -> QMPConnection {
        try await onOwnThread { try connectBlocking(path: path) }
    }

    static func connectBlocking(path: String) throws -> QMPConnection {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw QMPFailure(description: "socket(): \(String(cString: strerror(errno)))") }
        var address = try unixAddress(path)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let why = String(cString: strerror(errno))
            Glibc.close(descriptor)
            throw QMPFailure(description: "cannot connect to \(path): \(why)")
        }
        return QMPConnection(path: path, descriptor: descriptor)
    }

    /// Connects, checks the greeting and leaves negotiation mode: a client ready for commands and events.
    static func negotiated(path: String) async throws -> QMPConnection {
        let connection = try await connect(path: path)
        let greeting = try await connection.readMessage(timeout: daemonReplyTimeoutSeconds)
        guard let greeting, greeting["QMP"].exists else {
            throw QMPFailure(description: "expected the QMP greeting, got \(greeting?.line ?? "end of stream")")
        }
        let reply = try await connection.execute("qmp_capabilities")
        guard reply["return"].exists else { throw QMPFailure(description: "qmp_capabilities was refused: \(reply)") }
        return connection
    }

    /// Writes `bytes` as they are (no newline added).
    func sendRaw(_ bytes: [UInt8]) async throws {
        try await onOwnThread { try self.sendBlocking(bytes) }
    }

    /// Writes `text` and a newline.
    func sendLine(_ text: String) async throws {
        try await sendRaw(Array(text.utf8) + [0x0A])
    }

    func sendBlocking(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            // MSG_NOSIGNAL: a server that hung up is an error here, not a SIGPIPE for the whole test process.
            let written = bytes[offset...].withUnsafeBytes { raw in
                Glibc.send(descriptor, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL))
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw QMPFailure(description: "send to \(path) failed: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    /// The next line from the server, parsed; nil at end of stream. Throws if nothing complete arrives within
    /// `timeout` seconds.
    func readMessage(timeout: TimeInterval) async throws -> QMPMessage? {
        try await onOwnThread { try self.readMessageBlocking(until: Date(timeIntervalSinceNow: timeout)) }
    }

    /// For proving silence: nil when nothing arrived within `seconds`, otherwise what ``readMessage(timeout:)``
    /// returns (a message, or nil inside at end of stream).
    func readMessageIfAny(within seconds: TimeInterval) async throws -> QMPMessage?? {
        try await onOwnThread {
            do { return .some(try self.readMessageBlocking(until: Date(timeIntervalSinceNow: seconds))) } catch is ReadTimeout {
                return .none
            }
        }
    }

    private struct ReadTimeout: Error, CustomStringConvertible {
        var description: String
    }

    func readMessageBlocking(until deadline: Date) throws -> QMPMessage? {
        lock.lock()
        defer { lock.unlock() }
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                var line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                if line.last == 0x0D { line.removeLast() }
                if line.isEmpty { continue }
                return try QMPMessage(line: String(decoding: line, as: UTF8.self))
            }
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else {
                throw ReadTimeout(description: "nothing complete arrived from \(path) in time (partial line: \(String(decoding: buffer.prefix(200), as: UTF8.self)))")
            }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(remaining, 1) * 1000) + 1)
            if ready < 0 && errno != EINTR { throw QMPFailure(description: "poll failed: \(String(cString: strerror(errno)))") }
            if ready <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = chunk.withUnsafeMutableBytes { Glibc.recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                if errno == ECONNRESET { return nil }
                throw QMPFailure(description: "recv from \(path) failed: \(String(cString: strerror(errno)))")
            }
            if count == 0 { return nil }
            buffer += chunk[..<count]
        }
    }

    /// Sends a request with a fresh id and returns the reply carrying that id. Events that arrive first are
    /// kept in ``pendingEvents``.
    func execute(_ command: String, _ arguments: [String: Any]? = nil, timeout: TimeInterval = daemonReplyTimeoutSeconds) async throws -> QMPMessage {
        let id = lock.withLock { () -> Int in
            defer { nextID += 1 }
            return nextID
        }
        var request: [String: Any] = ["execute": command, "id": id]
        if let arguments { request["arguments"] = arguments }
        let line = try JSONNode.line(request)
        return try await onOwnThread {
            try self.sendBlocking(Array(line.utf8) + [0x0A])
            let deadline = Date(timeIntervalSinceNow: timeout)
            while true {
                let message: QMPMessage?
                do { message = try self.readMessageBlocking(until: deadline) } catch let timeout as ReadTimeout {
                    throw QMPFailure(description: "no reply to \(line): \(timeout)")
                }
                guard let message else { throw QMPFailure(description: "the connection closed before the reply to \(line)") }
                if message.eventName != nil {
                    self.lock.withLock { self.pendingEvents.append(message) }
                } else if message["id"].int == id {
                    return message
                } else {
                    throw QMPFailure(description: "unexpected line while waiting for the reply to \(line): \(message)")
                }
            }
        }
    }

    /// The `return` value of a command that must succeed.
    func returnValue(_ command: String, _ arguments: [String: Any]? = nil, timeout: TimeInterval = daemonReplyTimeoutSeconds) async throws -> JSONNode {
        let reply = try await execute(command, arguments, timeout: timeout)
        guard reply["return"].exists else {
            throw QMPFailure(description: "\(command) \(JSONNode(value: arguments ?? [:])) failed: \(reply)")
        }
        return reply["return"]
    }

    /// Waits for event `name` whose data passes `predicate`, taking it (and every event before it) from the
    /// events seen so far or reading on. Replies that arrive meanwhile are an error: nobody waits for them.
    func waitForEvent(_ name: String, timeout: TimeInterval = daemonReplyTimeoutSeconds,
                      where predicate: @escaping @Sendable (JSONNode) -> Bool = { _ in true }) async throws -> QMPMessage {
        try await onOwnThread {
            let seen: QMPMessage? = self.lock.withLock {
                guard let index = self.pendingEvents.firstIndex(where: { $0.eventName == name && predicate($0["data"]) }) else { return nil }
                let found = self.pendingEvents[index]
                self.pendingEvents.removeSubrange(...index)
                return found
            }
            if let seen { return seen }
            let deadline = Date(timeIntervalSinceNow: timeout)
            var skipped: [String] = []
            while true {
                let message: QMPMessage?
                do { message = try self.readMessageBlocking(until: deadline) } catch let timeout as ReadTimeout {
                    throw QMPFailure(description: "no event \(name) arrived (other events: \(skipped)): \(timeout)")
                }
                guard let message else { throw QMPFailure(description: "the connection closed while waiting for event \(name)") }
                if message.eventName == name && predicate(message["data"]) { return message }
                skipped.append(message.line)
            }
        }
    }

    /// Ends both directions, waking a thread blocked sending on this connection; ``close()`` still follows.
    func shutdown() {
        Glibc.shutdown(descriptor, Int32(SHUT_RDWR))
    }

    func close() {
        lock.withLock {
            if !closed {
                closed = true
                Glibc.close(descriptor)
            }
        }
    }

    static func unixAddress(_ path: String) throws -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw QMPFailure(description: "socket path \(path) is too long for a unix socket")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }
}

// MARK: - A daemon beside the test

/// A scratch directory under /tmp with a short name (unix socket paths must stay under 108 bytes), removed by
/// ``remove()``.
struct ScratchDirectory: Sendable {
    let path: String

    init(_ label: String) throws {
        var template = Array("/tmp/emud-\(label)-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw TestEnvironmentError(description: "mkdtemp failed in /tmp: \(String(cString: strerror(errno)))")
        }
        path = String(cString: made)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// The environment a spawned daemon gets: this process's, without anything that would make it talk to the
/// systemd that may be running these tests (readiness, watchdog, sockets, journal), plus `extra`.
func daemonEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
    var environment = ProcessInfo.processInfo.environment
    for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
                "JOURNAL_STREAM", "EMUD_TEST_HOOKS", "EMUD_CONTROL", "INVOCATION_ID", "EMUD_CGROUP_ROOT"] {
        environment[key] = nil
    }
    environment.merge(extra) { $1 }
    return environment
}

/// A long-running process (emud daemon, or systemd-socket-activate exec'ing it) beside the test, its output
/// collected as it comes. It lives at most ``daemonLifetimeSeconds``; every test ends it (``stop()`` in a
/// `defer`, or a signal and ``waitForExit(timeout:)``).
final class DaemonProcess: @unchecked Sendable {
    private let child: BackgroundProcess
    var name: String { child.name }
    private var process: Process { child.process }

    init(name: String = "emud daemon", executable: URL, arguments: [String], environment: [String: String]) throws {
        child = try BackgroundProcess(name: name, executable: executable, arguments: arguments, environment: environment)
        let pid = child.process.processIdentifier
        DispatchQueue.global().asyncAfter(deadline: .now() + daemonLifetimeSeconds) { [weak self] in
            guard let self, !self.hasExited else { return }
            kill(pid, SIGKILL)
        }
    }

    /// `emud daemon --control SOCKET --log-target=stderr EXTRA...` from EMUD_BIN.
    static func emud(_ environment: GuestTestEnvironment, control: String, _ extra: [String] = [],
                     processEnvironment: [String: String] = daemonEnvironment()) throws -> DaemonProcess {
        try DaemonProcess(executable: environment.emud,
                          arguments: ["daemon", "--control", control, "--log-target=stderr"] + trustedPluginArguments() + extra,
                          environment: processEnvironment)
    }

    deinit { stop() }

    var processIdentifier: Int32 { process.processIdentifier }

    var hasExited: Bool { child.hasExited }

    /// What it has written to stderr (its log with --log-target=stderr) so far.
    var log: String { String(decoding: child.snapshot().errors, as: UTF8.self) }
    var standardOutput: String { String(decoding: child.snapshot().output, as: UTF8.self) }

    /// Waits until its stderr contains `text`; false if it ended or `timeout` passed first.
    func waitForLog(containing text: String, timeout: TimeInterval = daemonReplyTimeoutSeconds) async -> Bool {
        await waitFor(text, inStandardError: true, timeout: timeout)
    }

    /// Waits until its stdout contains `text`; false if it ended or `timeout` passed first.
    func waitForOutput(containing text: String, timeout: TimeInterval = daemonReplyTimeoutSeconds) async -> Bool {
        await waitFor(text, inStandardError: false, timeout: timeout)
    }

    private func waitFor(_ text: String, inStandardError: Bool, timeout: TimeInterval) async -> Bool {
        (try? await onOwnThread { [child] in
            child.wait(until: Date(timeIntervalSinceNow: timeout),
                       for: { String(decoding: inStandardError ? child.errorData : child.outputData, as: UTF8.self).contains(text) },
                       givingUpWhen: { child.exited && child.openStreams == 0 })
        }) ?? false
    }

    /// Connects a negotiated client once the daemon accepts connections on `path`; throws, with the daemon's
    /// log, if it exits first or does not listen within `timeout` seconds.
    func connect(_ path: String, timeout: TimeInterval = daemonReplyTimeoutSeconds) async throws -> QMPConnection {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while true {
            if hasExited {
                throw QMPFailure(description: "\(name) exited (status \(process.terminationStatus)) before listening on \(path); its log:\n\(log)")
            }
            if FileManager.default.fileExists(atPath: path), let connection = try? await QMPConnection.negotiated(path: path) {
                return connection
            }
            if Date() > deadline {
                throw QMPFailure(description: "\(name) did not listen on \(path) within \(timeout) s; its log:\n\(log)")
            }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
    }

    func signal(_ number: Int32) {
        if !hasExited { kill(process.processIdentifier, number) }
    }

    /// Waits for it to exit (and its output to end) at most `timeout` seconds; returns its exit status, or nil
    /// if it is still running (then it is killed) or was killed by a signal.
    func waitForExit(timeout: TimeInterval) async -> (status: Int32, bySignal: Bool)? {
        let ended = (try? await onOwnThread { [child] in
            child.wait(until: Date(timeIntervalSinceNow: timeout), for: { child.exited && child.openStreams == 0 })
                || child.hasExited
        }) ?? false
        guard ended else {
            stop()
            return nil
        }
        return (process.terminationStatus, process.terminationReason == .uncaughtSignal)
    }

    /// Kills it at once if it is still running; for `defer`, whatever happened in the test.
    /// Kills the daemon and its workers (which would otherwise wait for a new daemon to re-adopt them).
    func stop() {
        guard !hasExited else { return }
        let workers = childProcesses(of: process.processIdentifier)
        kill(process.processIdentifier, SIGKILL)
        for worker in workers { kill(worker, SIGKILL) }
    }
}

/// The processes whose parent is `parent` now.
func childProcesses(of parent: Int32) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { Int32($0) }.filter { pid in
        // The parent is the second field after the command name, which is in parentheses and may hold spaces.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 && Int32(fields[1]) == parent
    }
}

/// The directory `make plugins` built the sample plugins into (EMUD_PLUGINS): the one the test daemons trust,
/// as `make run`'s daemon does.
func builtPluginDirectory() throws -> String {
    guard let directory = ProcessInfo.processInfo.environment["EMUD_PLUGINS"], !directory.isEmpty else {
        throw TestEnvironmentError(description: "EMUD_PLUGINS is not set: run `make test`, which builds the sample plugins into build/plugins")
    }
    return directory
}

/// `--plugin-dir` for test daemons: they load plugins only from the built sample directory.
func trustedPluginArguments() -> [String] {
    (try? builtPluginDirectory()).map { ["--plugin-dir", $0] } ?? []
}

/// The instruction-count sample plugin (contrib/plugins/insn.c) as `make plugins` built it, in the directory the
/// test daemons trust.
func insnPluginPath() async throws -> String {
    let path = (try builtPluginDirectory() as NSString).appendingPathComponent("libinsn.so")
    guard FileManager.default.fileExists(atPath: path) else {
        throw TestEnvironmentError(description: "\(path) is missing: run `make test` (or `make plugins`)")
    }
    return path
}

/// What `emud run ELF` prints on stdout: the reference for a daemon machine's console.
func emudRunOutput(_ environment: GuestTestEnvironment, _ elf: String) async throws -> String {
    let run = try await runProcess(environment.emud, ["run", elf], timeout: 60)
    guard !run.timedOut, !run.killedBySignal else {
        throw TestEnvironmentError(description: "emud run \(elf) did not finish: \(run.ending)")
    }
    return String(decoding: run.standardOutput, as: UTF8.self)
}

// MARK: - The tests

@Suite("emud daemon over its control socket")
struct DaemonTests {
    /// A daemon on a fresh socket, with the directory it lives in.
    private struct Bed {
        let environment: GuestTestEnvironment
        let directory: ScratchDirectory
        let socket: String
        let daemon: DaemonProcess

        func guest(_ name: String) -> String { environment.guests.appendingPathComponent(name).path }

        func client() async throws -> QMPConnection { try await daemon.connect(socket) }

        func finish() {
            daemon.stop()
            directory.remove()
        }
    }

    private func bed(_ label: String) throws -> Bed {
        let environment = try GuestTestEnvironment.require()
        let directory = try ScratchDirectory(label)
        let socket = directory.file("control.sock")
        let daemon = try DaemonProcess.emud(environment, control: socket)
        return Bed(environment: environment, directory: directory, socket: socket, daemon: daemon)
    }

    @Test func greetingAndNegotiationRules() async throws {
        let bed = try bed("greet")
        defer { bed.finish() }
        let watcher = try await bed.client()
        defer { watcher.close() }

        let early = try await QMPConnection.connect(path: bed.socket)
        defer { early.close() }
        let greeting = try #require(try await early.readMessage(timeout: daemonReplyTimeoutSeconds))
        #expect(greeting.json.keys == ["QMP"], "greeting: \(greeting)")
        let qmp = greeting["QMP"]
        #expect(qmp.keys == ["version", "capabilities"], "greeting: \(greeting)")
        #expect(qmp["capabilities"].array?.isEmpty == true, "greeting: \(greeting)")
        for part in ["major", "minor", "micro"] {
            #expect(qmp["version"]["qemu"][part].int != nil, "greeting: \(greeting)")
        }
        #expect(qmp["version"]["package"].string?.hasPrefix("emud") == true, "greeting: \(greeting)")

        // Before qmp_capabilities every command, even a real one, is CommandNotFound, and the id comes back.
        for command in ["query-status", "query-machines", "no-such-command"] {
            try await early.sendLine(try JSONNode.line(["execute": command, "id": "early-\(command)"]))
            let reply = try #require(try await early.readMessage(timeout: daemonReplyTimeoutSeconds))
            #expect(reply.errorClass == "CommandNotFound", "\(command) before negotiation: \(reply)")
            #expect(reply["id"].string == "early-\(command)", "\(command) before negotiation: \(reply)")
        }
        #expect(try await early.execute("query-status").errorClass == "CommandNotFound")

        // Events published now reach the negotiated watcher, and not the client still negotiating.
        _ = try await watcher.returnValue("machine-create", ["id": "quiet", "image": bed.guest("sieve-O0.elf"), "paused": true])
        _ = try await watcher.waitForEvent("MACHINE_CREATED") { $0["id"].string == "quiet" }
        let silence = try await early.readMessageIfAny(within: 1.0)
        #expect(silence == nil, "a client in negotiation received: \(String(describing: silence))")

        // Negotiation: once, with no capabilities to enable.
        let badCapability = try await early.execute("qmp_capabilities", ["enable": ["oob"]])
        #expect(badCapability.errorClass == "GenericError", "\(badCapability)")
        #expect(try await early.execute("qmp_capabilities")["return"].object?.isEmpty == true)
        let again = try await early.execute("qmp_capabilities")
        #expect(again.errorClass == "CommandNotFound", "second qmp_capabilities: \(again)")
        #expect(try await early.returnValue("query-machines").array?.count == 1)

        // Now it gets events too.
        _ = try await watcher.returnValue("machine-destroy", ["machine": "quiet"])
        let destroyed = try await early.waitForEvent("MACHINE_DESTROYED")
        #expect(destroyed["data"]["id"].string == "quiet")
        #expect(destroyed["timestamp"]["seconds"].int != nil && destroyed["timestamp"]["microseconds"].int != nil, "\(destroyed)")

        let version = try await early.returnValue("query-version")
        #expect(version.description == qmp["version"].description)
        let commands = Set(try await early.returnValue("query-commands").array?.compactMap { $0["name"].string } ?? [])
        for expected in ["machine-create", "machine-destroy", "machine-wait", "console-read", "plugin-load", "plugin-query",
                         "plugin-unload", "machine-stop", "machine-cont", "quit", "query-status"] {
            #expect(commands.contains(expected), "query-commands lacks \(expected): \(commands.sorted())")
        }
    }

    @Test func machineRunsToItsExitAndItsConsoleIsWhatEmudRunPrints() async throws {
        let bed = try bed("run")
        defer { bed.finish() }
        let client = try await bed.client()
        defer { client.close() }
        let elf = bed.guest("sieve-O0.elf")
        let expected = try await emudRunOutput(bed.environment, elf)
        #expect(expected.contains("primes below"), "emud run printed: \(expected.prefix(300))")

        // The guests' stack starts at the top of QEMU's default 128 MiB; more is fine.
        let created = try await client.returnValue("machine-create", ["id": "sieve", "image": elf, "memory": "256M"])
        #expect(created["id"].string == "sieve" && created["cpus"].int == 1 && created["memory"].int == 256 << 20, "\(created)")
        let announced = try await client.waitForEvent("MACHINE_CREATED") { $0["id"].string == "sieve" }
        #expect(announced["data"]["paused"].bool == false && announced["data"]["image"].string == elf, "\(announced)")

        let waited = try await client.returnValue("machine-wait", ["machine": "sieve", "timeout": 60], timeout: 90)
        #expect(waited["state"].string == "exited" && waited["exit_code"].int == 0 && waited["timed_out"].bool == false, "\(waited)")
        #expect((waited["instructions"].int ?? 0) > 1_000_000, "\(waited)")
        let exit = try await client.waitForEvent("MACHINE_EXIT") { $0["id"].string == "sieve" }
        #expect(exit["data"]["exit_code"].int == 0, "\(exit)")

        let console = try await client.returnValue("console-read", ["machine": "sieve"])
        let text = try #require(console["data"].string)
        if let difference = firstDifference(expected: Data(expected.utf8), actual: Data(text.utf8),
                                            expectedName: "emud run", actualName: "console-read") {
            Issue.record("\(difference)")
        }
        #expect(console["next"].int == expected.utf8.count && console["dropped"].int == 0, "\(console["next"]) \(console["dropped"])")
        // Reading on from `next` gives nothing new; reading from an offset gives the rest.
        #expect(try await client.returnValue("console-read", ["machine": "sieve", "from": expected.utf8.count])["data"].string == "")
        let tail = try await client.returnValue("console-read", ["machine": "sieve", "from": 9])["data"].string
        #expect(tail == String(decoding: Array(expected.utf8).dropFirst(9), as: UTF8.self))

        // The same program under each engine by name (machine-create's "engine"): the same console.
        for engine in ["jit", "interp"] {
            let id = "sieve-\(engine)"
            let created = try await client.returnValue("machine-create", ["id": id, "image": elf, "memory": "256M", "engine": engine])
            #expect(created["engine"].string == engine, "\(created)")
            let finished = try await client.returnValue("machine-wait", ["machine": id, "timeout": 60], timeout: 90)
            #expect(finished["state"].string == "exited" && finished["exit_code"].int == 0, "\(finished)")
            #expect(try await client.returnValue("console-read", ["machine": id])["data"].string == expected, "\(engine)")
        }

        // A machine with a non-zero exit code reports it.
        _ = try await client.returnValue("machine-create", ["id": "three", "image": bed.guest("exitcode-O0.elf")])
        let three = try await client.returnValue("machine-wait", ["machine": "three", "timeout": 60], timeout: 90)
        #expect(three["state"].string == "exited" && three["exit_code"].int == 3, "\(three)")
        // A running machine that never ends: machine-wait gives up after its timeout and says so.
        _ = try await client.returnValue("machine-create", ["id": "forever", "image": bed.guest("demo-forever.elf")])
        let timedOut = try await client.returnValue("machine-wait", ["machine": "forever", "timeout": 1])
        #expect(timedOut["timed_out"].bool == true && timedOut["state"].string == "running", "\(timedOut)")
        let listed = try await client.returnValue("query-machines").array?.compactMap { $0["id"].string } ?? []
        #expect(listed == ["sieve", "sieve-jit", "sieve-interp", "three", "forever"])
    }

    @Test func pluginLoadQueryAndUnloadWithTheirEvents() async throws {
        let bed = try bed("plugin")
        defer { bed.finish() }
        let plugin = try await insnPluginPath()
        let client = try await bed.client()
        defer { client.close() }

        let created = try await client.returnValue("machine-create", ["id": "p", "image": bed.guest("sieve-O0.elf"), "paused": true])
        #expect(created["state"].string == "stopped", "a paused machine: \(created)")
        let paused = try await client.waitForEvent("MACHINE_STOP") { $0["id"].string == "p" }
        #expect(paused["data"]["reason"].string == "paused", "\(paused)")

        let loaded = try await client.returnValue("plugin-load", ["machine": "p", "path": plugin, "args": ["inline=on"]])
        let id = try #require(loaded["id"].int, "plugin-load returned \(loaded)")
        #expect(loaded["license"].string == "GPL-2.0-or-later" && loaded["gpl_compatible"].bool == true, "\(loaded)")
        #expect(loaded["machine"].string == "p" && loaded["path"].string == plugin, "\(loaded)")
        #expect(loaded["args"].array?.compactMap(\.string) == ["inline=on"], "\(loaded)")
        let loadedEvent = try await client.waitForEvent("PLUGIN_LOADED") { $0["id"].int == id }
        #expect(loadedEvent["data"]["machine"].string == "p" && loadedEvent["data"]["license"].string == "GPL-2.0-or-later"
                && loadedEvent["data"]["compatible"].bool == true, "\(loadedEvent)")
        let listed = try await client.returnValue("query-plugins", ["machine": "p"])
        #expect(listed.array?.compactMap { $0["id"].int } == [id], "\(listed)")
        let status = try await client.returnValue("query-status")
        #expect(status["tainted"].bool == false && status["machines"].int == 1, "\(status)")

        // Nothing has run yet.
        let before = try await client.returnValue("plugin-query", ["machine": "p", "id": id])
        #expect(before["report"]["insns"].int == 0, "\(before)")

        _ = try await client.returnValue("machine-cont", ["machine": "p"])
        _ = try await client.waitForEvent("MACHINE_RESUME") { $0["id"].string == "p" }
        let waited = try await client.returnValue("machine-wait", ["machine": "p", "timeout": 60], timeout: 90)
        #expect(waited["exit_code"].int == 0, "\(waited)")
        let instructions = try #require(waited["instructions"].int)

        let live = try await client.returnValue("plugin-query", ["machine": "p", "id": id])
        #expect(live["id"].int == id)
        #expect(live["report"]["insns"].int == instructions, "plugin-query: \(live); emud counted \(instructions)")

        let unloaded = try await client.returnValue("plugin-unload", ["machine": "p", "id": id])
        #expect(unloaded["report"].string == "insns: \(instructions)\n", "\(unloaded)")
        let unloadedEvent = try await client.waitForEvent("PLUGIN_UNLOADED") { $0["id"].int == id }
        #expect(unloadedEvent["data"]["machine"].string == "p", "\(unloadedEvent)")
        #expect(unloadedEvent["data"]["report"].string == "insns: \(instructions)\n", "\(unloadedEvent)")
        #expect(try await client.returnValue("query-plugins").array?.isEmpty == true)

        // Gone: querying or unloading it again names the missing plugin.
        let query = try await client.execute("plugin-query", ["machine": "p", "id": id])
        #expect(query.errorClass == "DeviceNotFound", "\(query)")
        let unload = try await client.execute("plugin-unload", ["machine": "p", "id": id])
        #expect(unload.errorClass == "DeviceNotFound", "\(unload)")

        // A plugin loaded on a machine that is destroyed reports through PLUGIN_UNLOADED and the destroy reply.
        let second = try await client.returnValue("plugin-load", ["machine": "p", "path": plugin, "args": "inline=off"])
        let secondID = try #require(second["id"].int)
        #expect(secondID != id, "plugin ids are reused: \(id) then \(secondID)")
        let destroyed = try await client.returnValue("machine-destroy", ["machine": "p"])
        #expect(destroyed["plugins"][0]["id"].int == secondID && destroyed["plugins"][0]["report"].string == "insns: 0\n", "\(destroyed)")
        let finalReport = try await client.waitForEvent("PLUGIN_UNLOADED") { $0["id"].int == secondID }
        #expect(finalReport["data"]["report"].string == "insns: 0\n", "\(finalReport)")
        _ = try await client.waitForEvent("MACHINE_DESTROYED") { $0["id"].string == "p" }
    }

    @Test func stopContinueAndDestroyAnnounceThemselves() async throws {
        let bed = try bed("stopcont")
        defer { bed.finish() }
        let client = try await bed.client()
        defer { client.close() }
        let watcher = try await bed.client()
        defer { watcher.close() }

        _ = try await client.returnValue("machine-create", ["id": "beat", "image": bed.guest("demo-forever.elf")])
        let stopped = try await client.returnValue("machine-stop", ["machine": "beat"])
        #expect(stopped["state"].string == "stopped" && stopped["stop_reason"].string == "paused", "\(stopped)")
        let stopEvent = try await watcher.waitForEvent("MACHINE_STOP") { $0["id"].string == "beat" }
        #expect(stopEvent["data"]["reason"].string == "paused", "\(stopEvent)")
        // Stopped means stopped: the instruction count holds still.
        let first = try await client.returnValue("query-machines")[0]["instructions"].int
        try await Task.sleep(nanoseconds: 300_000_000)
        #expect(try await client.returnValue("query-machines")[0]["instructions"].int == first)

        let resumed = try await client.returnValue("machine-cont", ["machine": "beat"])
        #expect(resumed["state"].string == "running", "\(resumed)")
        _ = try await watcher.waitForEvent("MACHINE_RESUME") { $0["id"].string == "beat" }

        let destroyed = try await client.returnValue("machine-destroy", ["machine": "beat"])
        #expect(destroyed["plugins"].array?.isEmpty == true, "\(destroyed)")
        _ = try await watcher.waitForEvent("MACHINE_DESTROYED") { $0["id"].string == "beat" }
        #expect(try await client.returnValue("query-machines").array?.isEmpty == true)
        // The id is free again.
        _ = try await client.returnValue("machine-create", ["id": "beat", "image": bed.guest("sieve-O0.elf"), "paused": true])
    }

    @Test func errorClassesAndTheirDescriptions() async throws {
        let bed = try bed("errors")
        defer { bed.finish() }
        let client = try await bed.client()
        defer { client.close() }
        let elf = bed.guest("sieve-O0.elf")
        _ = try await client.returnValue("machine-create", ["id": "m", "image": elf, "paused": true])

        // DeviceNotFound: a machine or plugin that does not exist.
        for (command, arguments) in [("machine-stop", ["machine": "ghost"]), ("machine-cont", ["machine": "ghost"]),
                                     ("machine-destroy", ["machine": "ghost"]), ("machine-wait", ["machine": "ghost"]),
                                     ("console-read", ["machine": "ghost"]), ("plugin-load", ["machine": "ghost", "path": "/x.so"]),
                                     ("plugin-query", ["machine": "m", "id": 99]), ("plugin-unload", ["machine": "m", "id": 99])] as [(String, [String: Any])] {
            let reply = try await client.execute(command, arguments)
            #expect(reply.errorClass == "DeviceNotFound", "\(command): \(reply)")
            #expect(reply.errorDescription.contains("ghost") || reply.errorDescription.contains("99"), "\(command): \(reply)")
        }

        // GenericError, saying which argument and what it should be.
        let cases: [(String, [String: Any], [String])] = [
            ("machine-create", ["id": "x"], ["image"]),
            ("machine-create", ["id": "x", "image": elf, "cpus": "two"], ["cpus"]),
            ("machine-create", ["id": "x", "image": elf, "cpus": 12], ["cpus", "8"]),
            ("machine-create", ["id": "x", "image": elf, "memory": "lots"], ["memory"]),
            ("machine-create", ["id": "x", "image": elf, "paused": "yes"], ["paused"]),
            ("machine-create", ["id": "x", "image": elf, "board": "raspi3b"], ["raspi3b", "virt"]),
            ("machine-create", ["id": "x", "image": elf, "console": 7], ["console"]),
            ("machine-create", ["id": "x", "image": elf, "colour": "blue"], ["colour"]),
            ("machine-create", ["id": "x", "image": elf, "engine": "tcg"], ["engine", "tcg", "interp", "jit"]),
            ("machine-create", ["id": "bad id!", "image": elf], ["bad id!"]),
            ("machine-create", ["id": "m", "image": elf], ["already exists"]),
            ("machine-create", ["id": "x", "image": "/nonexistent/fw.elf"], ["/nonexistent/fw.elf"]),
            ("machine-create", ["image": elf], ["id"]),
            ("machine-stop", [:], ["machine"]),
            ("machine-stop", ["machine": 5], ["machine"]),
            ("machine-wait", ["machine": "m", "timeout": -1], ["timeout"]),
            ("console-read", ["machine": "m", "from": "start"], ["from"]),
            ("plugin-load", ["machine": "m"], ["path"]),
            ("plugin-load", ["machine": "m", "path": "/nonexistent/libx.so"], ["/nonexistent/libx.so"]),
            ("plugin-load", ["machine": "m", "path": elf, "args": 5], ["args"]),
            ("plugin-query", ["machine": "m", "id": "one"], ["id"]),
            ("query-status", ["verbose": true], ["verbose"]),
        ]
        for (command, arguments, words) in cases {
            let reply = try await client.execute(command, arguments)
            #expect(reply.errorClass == "GenericError", "\(command) \(JSONNode(value: arguments)): \(reply)")
            for word in words {
                #expect(reply.errorDescription.contains(word), "\(command) \(JSONNode(value: arguments)): the description should mention '\(word)': \(reply)")
            }
        }
        // None of that changed anything.
        let machines = try await client.returnValue("query-machines")
        #expect(machines.array?.compactMap { $0["id"].string } == ["m"], "\(machines)")
        #expect(!bed.daemon.hasExited)
    }

    @Test func quitAnnouncesShutdownExitsCleanlyAndRemovesTheSocket() async throws {
        let bed = try bed("quit")
        defer { bed.finish() }
        let client = try await bed.client()
        defer { client.close() }
        let listener = try await bed.client()
        defer { listener.close() }
        _ = try await client.returnValue("machine-create", ["id": "busy", "image": bed.guest("demo-forever.elf")])

        try await client.sendLine(#"{"execute": "quit", "id": "bye"}"#)
        // The quitting client gets its reply; every negotiated client gets SHUTDOWN; then the connections end.
        var sawReply = false, sawShutdown = false
        while let message = try await client.readMessage(timeout: daemonReplyTimeoutSeconds) {
            if message["id"].string == "bye" { sawReply = message["return"].object?.isEmpty == true }
            if message.eventName == "SHUTDOWN" { sawShutdown = true }
        }
        #expect(sawReply, "no {\"return\": {}} for quit")
        #expect(sawShutdown, "the quitting client saw no SHUTDOWN")
        _ = try await listener.waitForEvent("SHUTDOWN")
        while try await listener.readMessage(timeout: daemonReplyTimeoutSeconds) != nil {}

        let ended = await bed.daemon.waitForExit(timeout: 30)
        #expect(ended?.status == 0 && ended?.bySignal == false, "after quit: \(String(describing: ended)); log:\n\(bed.daemon.log)")
        #expect(!FileManager.default.fileExists(atPath: bed.socket), "the socket file is still there after quit")
    }

    @Test func fiftyConcurrentClientsCreateAndDestroyMachines() async throws {
        let bed = try bed("fifty")
        defer { bed.finish() }
        let elf = bed.guest("exitcode-O0.elf")
        try await bed.client().close()  // waits until it listens

        let socket = bed.socket
        let failures = try await withThrowingTaskGroup(of: String?.self) { group in
            for n in 0..<50 {
                group.addTask {
                    do {
                        let client = try await QMPConnection.negotiated(path: socket)
                        defer { client.close() }
                        let id = "c\(n)"
                        // Half the machines run to their end, half never start.
                        let paused = n % 2 == 0
                        let created = try await client.returnValue("machine-create", ["id": id, "image": elf, "paused": paused], timeout: 120)
                        guard created["id"].string == id else { return "\(id): machine-create returned \(created)" }
                        if !paused {
                            let waited = try await client.returnValue("machine-wait", ["machine": id, "timeout": 60], timeout: 120)
                            guard waited["exit_code"].int == 3 else { return "\(id): machine-wait returned \(waited)" }
                        }
                        _ = try await client.returnValue("machine-destroy", ["machine": id], timeout: 120)
                        return nil
                    } catch {
                        return "client \(n): \(error)"
                    }
                }
            }
            var failures: [String] = []
            for try await failure in group { if let failure { failures.append(failure) } }
            return failures
        }
        #expect(failures.isEmpty, "\(failures.count) of 50 clients failed:\n\(failures.joined(separator: "\n"))")
        let client = try await bed.client()
        defer { client.close() }
        #expect(try await client.returnValue("query-machines").array?.isEmpty == true)
        #expect(try await client.returnValue("query-status")["machines"].int == 0)
        #expect(!bed.daemon.hasExited)
    }

    @Test func malformedInputGetsAnErrorReplyAndTheSessionGoesOn() async throws {
        let bed = try bed("malformed")
        defer { bed.finish() }
        let client = try await bed.client()
        defer { client.close() }

        let cases: [(line: String, errorClass: String, words: [String], id: String?)] = [
            ("this is not json", "GenericError", ["JSON"], nil),
            (#"{"execute": "query-status",}"#, "GenericError", [], nil),
            ("[1, 2, 3]", "GenericError", ["object"], nil),
            (#""query-status""#, "GenericError", ["object"], nil),
            ("42", "GenericError", ["object"], nil),
            ("null", "GenericError", ["object"], nil),
            (#"{"arguments": {}, "id": "a1"}"#, "GenericError", ["execute"], "a1"),
            (#"{"execute": 42, "id": "a2"}"#, "GenericError", ["execute"], "a2"),
            (#"{"execute": "query-status", "arguments": [], "id": "a3"}"#, "GenericError", ["arguments"], "a3"),
            (#"{"execute": "query-status", "colour": "blue", "id": "a4"}"#, "GenericError", ["colour"], "a4"),
            (#"{"execute": "no-such-command", "id": "a5"}"#, "CommandNotFound", ["no-such-command"], "a5"),
            (#"{"execute": "machine-create", "id": "a6"}"#, "GenericError", ["id"], "a6"),
            (#"{"execute": "machine-create", "arguments": {"id": 7, "image": "x"}, "id": "a7"}"#, "GenericError", ["id"], "a7"),
            (#"{"execute": "machine-create", "arguments": {"id": "x", "image": "x", "cpus": 1.5}, "id": "a8"}"#, "GenericError", ["cpus"], "a8"),
            (String(repeating: "[", count: 100_000), "GenericError", [], nil),
            ("\u{01}\u{02}\u{7f}\u{00}", "GenericError", [], nil),
        ]
        for (line, errorClass, words, id) in cases {
            try await client.sendLine(line)
            let reply = try #require(try await client.readMessage(timeout: daemonReplyTimeoutSeconds), "the connection closed after \(line.prefix(80))")
            #expect(reply.errorClass == errorClass, "\(line.prefix(80)): \(reply)")
            for word in words { #expect(reply.errorDescription.contains(word), "\(line.prefix(80)): \(reply)") }
            if let id { #expect(reply["id"].string == id, "\(line.prefix(80)): \(reply)") }
        }
        // QMP is a stream of values: a request followed by garbage on its line runs, then the garbage is answered.
        try await client.sendLine("{\"execute\": \"query-status\", \"id\": \"\u{00e9}\u{1F600}\"} trailing")
        let ran = try #require(try await client.readMessage(timeout: daemonReplyTimeoutSeconds))
        #expect(ran["id"].string == "\u{00e9}\u{1F600}" && ran["return"]["machines"].exists, "\(ran)")
        let trailing = try #require(try await client.readMessage(timeout: daemonReplyTimeoutSeconds))
        #expect(trailing.errorClass == "GenericError", "\(trailing)")
        // Requests joined with nothing between them, as QEMU's own Python client sends them.
        try await client.sendRaw(Array(#"{"execute": "query-status", "id": "j1"}{"execute": "query-status", "id": "j2"}"#.utf8))
        let joined1 = try #require(try await client.readMessage(timeout: daemonReplyTimeoutSeconds))
        let joined2 = try #require(try await client.readMessage(timeout: daemonReplyTimeoutSeconds))
        #expect(joined1["id"].string == "j1" && joined2["id"].string == "j2", "\(joined1) \(joined2)")
        // Invalid UTF-8 inside a string, and a request split into single bytes, then two requests in one write.
        try await client.sendRaw([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D, 0x0A])
        let utf8 = try #require(try await client.readMessage(timeout: daemonReplyTimeoutSeconds))
        #expect(utf8.errorClass == "GenericError", "\(utf8)")
        for byte in Array(#"{"execute": "query-status", "id": "split"}"#.utf8) + [0x0A] {
            try await client.sendRaw([byte])
        }
        let split = try #require(try await client.readMessage(timeout: daemonReplyTimeoutSeconds))
        #expect(split["id"].string == "split" && split["return"]["machines"].int == 0, "\(split)")
        try await client.sendRaw(Array("{\"execute\": \"query-status\", \"id\": 1}\r\n\n   \n{\"execute\": \"query-machines\", \"id\": 2}\n".utf8))
        let one = try #require(try await client.readMessage(timeout: daemonReplyTimeoutSeconds))
        let two = try #require(try await client.readMessage(timeout: daemonReplyTimeoutSeconds))
        #expect(one["id"].int == 1 && one["return"]["machines"].exists, "\(one)")
        #expect(two["id"].int == 2 && two["return"].array?.isEmpty == true, "\(two)")
        // Any JSON value is a valid id and comes back as it was.
        try await client.sendLine(#"{"execute": "query-status", "id": {"nested": [1, "two", null]}}"#)
        let nested = try #require(try await client.readMessage(timeout: daemonReplyTimeoutSeconds))
        #expect(nested["id"].description == #"{"nested":[1,"two",null]}"#, "\(nested)")
        #expect(try await client.returnValue("query-status")["machines"].int == 0)
    }

    @Test func anOverlongLineClosesOnlyThatConnection() async throws {
        let bed = try bed("overlong")
        defer { bed.finish() }
        let bystander = try await bed.client()
        defer { bystander.close() }
        _ = try await bystander.returnValue("machine-create", ["id": "m", "image": bed.guest("sieve-O0.elf"), "paused": true])

        for terminated in [false, true] {
            let abuser = try await bed.client()
            defer { abuser.close() }
            // A string member of 1 MiB + 1 KiB: valid JSON, too long a line, with or without its newline.
            var line = Array(#"{"execute": "console-write", "arguments": {"machine": "m", "data": ""#.utf8)
            line += [UInt8](repeating: 0x61, count: (1 << 20) + 1024)
            line += Array(#""}}"#.utf8)
            if terminated { line.append(0x0A) }
            // The server may close while we are still writing; that is the point.
            try? await abuser.sendRaw(line)
            var closing: QMPMessage? = nil
            while let message = try await abuser.readMessage(timeout: daemonReplyTimeoutSeconds) {
                if message.isReply { closing = message }
            }
            #expect(closing?.errorClass == "GenericError" && closing?.errorDescription.contains("JSON value of more than") == true,
                    "an over-long line (newline: \(terminated)) got: \(String(describing: closing))")
            #expect(try await bystander.returnValue("query-machines").array?.count == 1)
        }
        // Whitespace never counts (1 MiB of spaces is skipped, then a request is answered).
        let fine = try await bed.client()
        defer { fine.close() }
        try await fine.sendRaw([UInt8](repeating: 0x20, count: 1 << 20) + [0x0A])
        #expect(try await fine.returnValue("query-status")["machines"].int == 1)
        #expect(!bed.daemon.hasExited)
    }

    @Test func aClientThatLeavesMidCommandHurtsNobody() async throws {
        let bed = try bed("leaver")
        defer { bed.finish() }
        let client = try await bed.client()
        defer { client.close() }
        _ = try await client.returnValue("machine-create", ["id": "forever", "image": bed.guest("demo-forever.elf")])

        // Leaves while a slow command (machine-wait on a machine that never ends) is running for it.
        let leaver = try await bed.client()
        try await leaver.sendLine(#"{"execute": "machine-wait", "arguments": {"machine": "forever", "timeout": 3}, "id": 1}"#)
        try await Task.sleep(nanoseconds: 200_000_000)
        leaver.close()
        // Leaves half-way through a request line, and one that leaves before reading the greeting.
        let halfway = try await bed.client()
        try await halfway.sendRaw(Array(#"{"execute": "machine-destroy", "argu"#.utf8))
        halfway.close()
        let rude = try await QMPConnection.connect(path: bed.socket)
        rude.close()
        // Leaves with a command queued behind a running one (whether the queued one runs is the server's
        // choice; it must not matter to anybody else).
        let queued = try await bed.client()
        try await queued.sendLine(#"{"execute": "machine-wait", "arguments": {"machine": "forever", "timeout": 10}}"#)
        try await queued.sendLine(#"{"execute": "machine-stop", "arguments": {"machine": "forever"}}"#)
        queued.close()

        // The others are served meanwhile, while machine-wait still runs for the leaver.
        let started = Date()
        #expect(try await client.returnValue("query-machines").array?.count == 1)
        // Not a speed assertion: waiting for the other client's machine-wait would take its whole 10 s.
        #expect(Date().timeIntervalSince(started) < 8, "query-machines waited for another client's machine-wait")
        // The half-sent machine-destroy never ran.
        try await Task.sleep(nanoseconds: 11_000_000_000)
        let after = try await client.returnValue("query-machines")
        #expect(after[0]["id"].string == "forever", "\(after)")
        #expect(["running", "stopped"].contains(after[0]["state"].string ?? ""), "\(after)")
        #expect(try await client.returnValue("machine-cont", ["machine": "forever"])["state"].string == "running")
        #expect(!bed.daemon.hasExited)
        let log = bed.daemon.log
        #expect(log.contains("ran machine-wait"), "the log does not show the abandoned machine-wait finishing:\n\(log)")
    }

    @Test func aClientThatNeverReadsDoesNotBlockOthers() async throws {
        let bed = try bed("noread")
        defer { bed.finish() }
        let client = try await bed.client()
        defer { client.close() }
        _ = try await client.returnValue("machine-create", ["id": "s", "image": bed.guest("sieve-O0.elf")])
        _ = try await client.returnValue("machine-wait", ["machine": "s", "timeout": 60], timeout: 90)

        // It floods requests whose replies are large (the console, about 1 KiB each) and reads nothing, from a
        // thread of its own, until the server stops reading it or hangs up on it.
        let hog = try await bed.client()
        defer { hog.close() }
        let request = Array(#"{"execute": "console-read", "arguments": {"machine": "s"}}"#.utf8) + [0x0A]
        let flood = Task {
            try await onOwnThread { () -> String in
                let deadline = Date(timeIntervalSinceNow: 8)
                var sent = 0
                do {
                    while Date() < deadline {
                        try hog.sendBlocking(Array(repeating: request, count: 64).flatMap { $0 })
                        sent += 64
                    }
                    return "sent \(sent) requests"
                } catch {
                    return "sent \(sent) requests, then: \(error)"
                }
            }
        }
        // Meanwhile the others are served promptly, and see events.
        for round in 0..<20 {
            let started = Date()
            _ = try await client.returnValue("machine-create", ["id": "r\(round)", "image": bed.guest("exitcode-O0.elf"), "memory": "8M", "paused": true])
            _ = try await client.returnValue("machine-destroy", ["machine": "r\(round)"])
            _ = try await client.waitForEvent("MACHINE_DESTROYED") { $0["id"].string == "r\(round)" }
            // A generous bound: a client blocked by the flood would never finish the round at all.
            #expect(Date().timeIntervalSince(started) < 30, "round \(round) took \(Date().timeIntervalSince(started)) s")
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        // The flood's writes block once the socket buffers fill; shutting our end down releases them.
        hog.shutdown()
        let outcome = try await flood.value
        #expect(outcome.hasPrefix("sent "), "\(outcome)")
        #expect(!bed.daemon.hasExited)
        #expect(try await client.returnValue("query-status")["machines"].int == 1)
    }

    @Test func ctlExitCodesAndMessages() async throws {
        let bed = try bed("ctl")
        defer { bed.finish() }
        let client = try await bed.client()
        defer { client.close() }
        let emud = bed.environment.emud
        let ctl = ["ctl", "--control", bed.socket]

        let status = try await runProcess(emud, ctl + ["query-status"], timeout: 30)
        #expect(status.status == 0, "emud ctl query-status: \(status.ending): \(String(decoding: status.standardError, as: UTF8.self))")
        let parsed = try JSONSerialization.jsonObject(with: status.standardOutput) as? [String: Any]
        #expect(JSONNode(value: parsed)["machines"].int == 0, "stdout: \(String(decoding: status.standardOutput, as: UTF8.self))")

        let elf = bed.guest("sieve-O0.elf")
        let create = try await runProcess(emud, ctl + ["machine-create", "id=c1", "image=\(elf)", "memory=16M", "paused=true"], timeout: 30)
        #expect(create.status == 0, "\(String(decoding: create.standardError, as: UTF8.self))")
        let created = JSONNode(value: try? JSONSerialization.jsonObject(with: create.standardOutput))
        #expect(created["id"].string == "c1" && created["memory"].int == 16 << 20 && created["state"].string == "stopped", "\(created)")
        let json = try await runProcess(emud, ctl + ["--json", #"{"machine": "c1"}"#, "machine-cont"], timeout: 30)
        #expect(json.status == 0, "\(String(decoding: json.standardError, as: UTF8.self))")
        #expect(JSONNode(value: try? JSONSerialization.jsonObject(with: json.standardOutput))["id"].string == "c1")

        // A command that fails: non-zero, the server's description on stderr, nothing on stdout.
        let missing = try await runProcess(emud, ctl + ["machine-stop", "machine=ghost"], timeout: 30)
        let missingText = String(decoding: missing.standardError, as: UTF8.self)
        #expect(missing.status != 0 && !missing.killedBySignal, "\(missing.ending)")
        #expect(missingText.contains("no machine 'ghost'"), "stderr: \(missingText)")
        #expect(missing.standardOutput.isEmpty, "stdout: \(String(decoding: missing.standardOutput, as: UTF8.self))")
        let badArgument = try await runProcess(emud, ctl + ["machine-create", "id=c2", "image=\(elf)", "cpus=12"], timeout: 30)
        #expect(badArgument.status != 0)
        #expect(String(decoding: badArgument.standardError, as: UTF8.self).contains("cpus"))
        let unknown = try await runProcess(emud, ctl + ["no-such-command"], timeout: 30)
        #expect(unknown.status != 0)
        #expect(String(decoding: unknown.standardError, as: UTF8.self).contains("no-such-command"))
        let badJSON = try await runProcess(emud, ctl + ["--json", "{not json", "query-status"], timeout: 30)
        #expect(badJSON.status != 0 && !badJSON.killedBySignal)
        #expect(!String(decoding: badJSON.standardError, as: UTF8.self).isEmpty)

        // Nobody listening: non-zero and a message that names the socket and says what to check.
        let absent = bed.directory.file("absent.sock")
        let unreachable = try await runProcess(emud, ["ctl", "--control", absent, "query-status"], timeout: 30)
        let unreachableText = String(decoding: unreachable.standardError, as: UTF8.self)
        #expect(unreachable.status != 0 && !unreachable.killedBySignal, "\(unreachable.ending)")
        #expect(unreachableText.contains(absent) && unreachableText.contains("is emud running"), "stderr: \(unreachableText)")
        // The commands ran against the daemon we see.
        _ = try await client.waitForEvent("MACHINE_RESUME") { $0["id"].string == "c1" }
        #expect(try await client.returnValue("query-machines").array?.compactMap { $0["id"].string } == ["c1"])

        // `emud ctl events` prints one JSON object per event as it comes, and ends when the daemon does.
        let follower = try DaemonProcess(name: "emud ctl events", executable: emud, arguments: ctl + ["events"],
                                         environment: daemonEnvironment())
        defer { follower.stop() }
        // It is following once it shows an event published after it started.
        var followed = false
        for attempt in 0..<50 where !followed {
            _ = try await client.returnValue("machine-create", ["id": "e\(attempt)", "image": elf, "paused": true])
            followed = await follower.waitForOutput(containing: #""id":"e\#(attempt)""#, timeout: 0.5)
        }
        #expect(followed, "emud ctl events printed: \(follower.standardOutput) \(follower.log)")
        let line = follower.standardOutput.split(separator: "\n").first { $0.contains("MACHINE_CREATED") } ?? ""
        let event = JSONNode(value: try? JSONSerialization.jsonObject(with: Data(line.utf8)))
        #expect(event["event"].string == "MACHINE_CREATED" && event["data"]["id"].string?.hasPrefix("e") == true
                && event["timestamp"]["seconds"].int != nil, "emud ctl events line: \(line)")
        let quit = try await runProcess(emud, ctl + ["quit"], timeout: 30)
        #expect(quit.status == 0 && String(decoding: quit.standardOutput, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "{}",
                "emud ctl quit: \(quit.ending): \(String(decoding: quit.standardError, as: UTF8.self))")
        let followerEnded = await follower.waitForExit(timeout: 30)
        #expect(followerEnded?.status == 0, "emud ctl events after the daemon quit: \(String(describing: followerEnded)) \(follower.log)")
        #expect(follower.standardOutput.contains(#""event":"SHUTDOWN""#), "emud ctl events printed: \(follower.standardOutput)")
        #expect(await bed.daemon.waitForExit(timeout: 30)?.status == 0)
    }

    @Test func aStaleSocketFileIsReplacedAndALiveOneIsNotStolen() async throws {
        let environment = try GuestTestEnvironment.require()
        let directory = try ScratchDirectory("owner")
        defer { directory.remove() }
        let socket = directory.file("control.sock")

        // A socket file whose listener is gone, as a crashed daemon leaves it.
        let stale = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = try QMPConnection.unixAddress(socket)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(stale, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0, "bind: \(String(cString: strerror(errno)))")
        Glibc.close(stale)
        try #require(FileManager.default.fileExists(atPath: socket))

        let first = try DaemonProcess.emud(environment, control: socket)
        defer { first.stop() }
        let client = try await first.connect(socket)
        defer { client.close() }
        _ = try await client.returnValue("machine-create", ["id": "mine", "image": environment.guests.appendingPathComponent("sieve-O0.elf").path, "paused": true])

        // A second daemon on the same path gives up with a clear error and leaves the first alone.
        let second = try DaemonProcess.emud(environment, control: socket)
        defer { second.stop() }
        let ended = await second.waitForExit(timeout: 30)
        #expect(ended != nil && ended?.status != 0 && ended?.bySignal == false, "second daemon: \(String(describing: ended))")
        #expect(second.log.contains(socket) && second.log.contains("in use"), "second daemon's log:\n\(second.log)")
        #expect(FileManager.default.fileExists(atPath: socket), "the second daemon removed the first one's socket")
        #expect(try await client.returnValue("query-machines")[0]["id"].string == "mine")
        let newcomer = try await first.connect(socket)
        defer { newcomer.close() }
        #expect(try await newcomer.returnValue("query-machines")[0]["id"].string == "mine")

        // Something that is not a socket is never removed.
        let plain = directory.file("plain-file")
        _ = FileManager.default.createFile(atPath: plain, contents: Data("keep me".utf8))
        let third = try DaemonProcess.emud(environment, control: plain)
        defer { third.stop() }
        let thirdEnded = await third.waitForExit(timeout: 30)
        #expect(thirdEnded != nil && thirdEnded?.status != 0, "daemon on a plain file: \(String(describing: thirdEnded))")
        #expect(third.log.contains("not a socket"), "log:\n\(third.log)")
        #expect(FileManager.default.contents(atPath: plain) == Data("keep me".utf8))
    }
}
