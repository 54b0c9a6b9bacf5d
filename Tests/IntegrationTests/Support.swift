// Helpers for tests that run emud and QEMU as child processes.
// SPDX-License-Identifier: GPL-2.0-or-later

import Foundation

/// What a child process left behind: both output streams and how it ended.
struct ProcessOutput: Sendable {
    var standardOutput: Data
    var standardError: Data
    /// The exit status, or the signal number when `killedBySignal` is true.
    var status: Int32
    var killedBySignal: Bool
    /// True when the process outlived its timeout and was killed.
    var timedOut: Bool

    /// "exit status N" or "signal N", for messages.
    var ending: String {
        if timedOut { return "killed after timing out" }
        return killedBySignal ? "killed by signal \(status)" : "exit status \(status)"
    }
}

/// A test precondition that is not met, with what to do about it.
struct TestEnvironmentError: Error, CustomStringConvertible {
    var description: String
}

/// Reads a pipe to its end on a thread of its own, so that a child filling one pipe while we
/// wait on the other cannot deadlock.
private final class PipeDrain: @unchecked Sendable {
    private let lock = NSLock()
    private let finished = DispatchSemaphore(value: 0)
    private var collected = Data()

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self, handle] in
            let bytes = handle.readDataToEndOfFile()
            lock.withLock { collected = bytes }
            finished.signal()
        }
    }

    /// Waits for end-of-file, at most until `deadline`; nil if it did not come.
    func wait(until deadline: DispatchTime) -> Data? {
        guard finished.wait(timeout: deadline) == .success else { return nil }
        return lock.withLock { collected }
    }
}

/// Runs `executable` with `arguments` and standard input from /dev/null, and returns its output
/// once it has exited. A process still running after `timeout` seconds gets SIGTERM, then
/// SIGKILL five seconds later; the result says so. Foundation starts the child in a process group
/// of its own, and the signals go to that whole group, so nothing it started keeps the pipes open.
///
/// The waiting happens on threads of its own, never on Swift concurrency's small cooperative
/// pool, which other tests in the same process need. At most one child per processor runs at a
/// time (the others queue, and their timeout starts when they do run), so that parallel tests
/// do not slow each other down into timeouts.
func runProcess(_ executable: URL, _ arguments: [String], timeout: TimeInterval) async throws -> ProcessOutput {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            childProcessSlots.wait()
            defer { childProcessSlots.signal() }
            continuation.resume(with: Result {
                try runProcessBlocking(executable, arguments, timeout: timeout)
            })
        }
    }
}

private let childProcessSlots = DispatchSemaphore(value: max(1, ProcessInfo.processInfo.activeProcessorCount))

/// `runProcess`, blocking the calling thread.
private func runProcessBlocking(_ executable: URL, _ arguments: [String], timeout: TimeInterval) throws -> ProcessOutput {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.standardInput = FileHandle.nullDevice
    let stdoutPipe = Pipe(), stderrPipe = Pipe()
    process.standardOutput = stdoutPipe
    process.standardError = stderrPipe

    let exited = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in exited.signal() }
    do {
        try process.run()
    } catch {
        throw TestEnvironmentError(description: "could not start \(executable.path): \(error)")
    }
    // Process has closed our copies of the pipes' write ends, so the reads see end-of-file
    // once the child (and anything it started) has gone.
    let stdoutDrain = PipeDrain(stdoutPipe.fileHandleForReading)
    let stderrDrain = PipeDrain(stderrPipe.fileHandleForReading)

    let group = -process.processIdentifier
    var timedOut = false
    if exited.wait(timeout: .now() + timeout) == .timedOut {
        timedOut = true
        kill(group, SIGTERM)
        if exited.wait(timeout: .now() + 5) == .timedOut {
            kill(group, SIGKILL)
            exited.wait()
        }
    }
    // A descendant that outlives the child may still hold the pipes: give it a moment, then end it.
    let drainDeadline = DispatchTime.now() + 5
    var standardOutput = stdoutDrain.wait(until: drainDeadline)
    var standardError = stderrDrain.wait(until: drainDeadline)
    if standardOutput == nil || standardError == nil {
        kill(group, SIGKILL)
        standardOutput = standardOutput ?? stdoutDrain.wait(until: .distantFuture)
        standardError = standardError ?? stderrDrain.wait(until: .distantFuture)
    }
    return ProcessOutput(
        standardOutput: standardOutput ?? Data(), standardError: standardError ?? Data(),
        status: process.terminationStatus,
        killedBySignal: process.terminationReason == .uncaughtSignal,
        timedOut: timedOut)
}

/// Finds `name` in the directories of PATH (then /usr/bin and /usr/local/bin).
func findExecutable(_ name: String) -> URL? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    let directories = path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"]
    for directory in directories where !directory.isEmpty {
        let candidate = URL(fileURLWithPath: directory).appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: candidate.path) {
            return candidate
        }
    }
    return nil
}

/// The tools and files the guest-program tests need, found from the environment `make test`
/// sets up: EMUD_BIN (a release build of emud) and EMUD_GUESTS (the built guest programs).
struct GuestTestEnvironment: Sendable {
    var emud: URL
    var guests: URL
    var qemu: URL

    static let qemuName = "qemu-system-aarch64"

    /// Throws an error saying what is missing and how to get it.
    static func require() throws -> GuestTestEnvironment {
        let environment = ProcessInfo.processInfo.environment
        let fileManager = FileManager.default
        guard let emudPath = environment["EMUD_BIN"], !emudPath.isEmpty else {
            throw TestEnvironmentError(description:
                "EMUD_BIN is not set: run `make test`, which builds a release emud and the guest "
                + "programs and points EMUD_BIN and EMUD_GUESTS at them")
        }
        guard fileManager.isExecutableFile(atPath: emudPath) else {
            throw TestEnvironmentError(description:
                "EMUD_BIN=\(emudPath) is not an executable file: run `make test` (or `make release`) to build it")
        }
        guard let guestsPath = environment["EMUD_GUESTS"], !guestsPath.isEmpty else {
            throw TestEnvironmentError(description:
                "EMUD_GUESTS is not set: run `make test`, which builds the guest programs of "
                + "Tests/Guests and points EMUD_GUESTS at them")
        }
        var isDirectory: ObjCBool = false
        guard fileManager.fileExists(atPath: guestsPath, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw TestEnvironmentError(description:
                "EMUD_GUESTS=\(guestsPath) is not a directory: run `make test` (or `make guests`) to build the guest programs")
        }
        guard let qemu = findExecutable(qemuName) else {
            throw TestEnvironmentError(description:
                "\(qemuName) is not installed; it is the reference the guest programs are compared "
                + "with: `apt-get install qemu-system-arm` (or run `make test` as root, which installs it)")
        }
        return GuestTestEnvironment(
            emud: URL(fileURLWithPath: emudPath), guests: URL(fileURLWithPath: guestsPath), qemu: qemu)
    }
}

/// Describes where `actual` first departs from `expected`, line by line, or returns nil when
/// the two are byte-for-byte equal.
func firstDifference(expected: Data, actual: Data, expectedName: String, actualName: String) -> String? {
    if expected == actual { return nil }
    let expectedLines = lines(of: expected), actualLines = lines(of: actual)
    var index = 0
    while index < expectedLines.count, index < actualLines.count, expectedLines[index] == actualLines[index] {
        index += 1
    }
    var report = "outputs differ (\(expectedName): \(expected.count) bytes in \(expectedLines.count) lines, "
        + "\(actualName): \(actual.count) bytes in \(actualLines.count) lines)\n"
    let contextStart = max(0, index - 2)
    for line in expectedLines[contextStart..<index] {
        report += "    \(line)\n"
    }
    func describe(_ lines: [String]) -> String {
        index < lines.count ? "\"\(lines[index])\"" : "(no more output)"
    }
    if index == expectedLines.count, index == actualLines.count {
        report += "every line matches; they differ in whether the output ends with a newline"
        return report
    }
    report += "first difference at line \(index + 1):\n"
    report += "  \(expectedName): \(describe(expectedLines))\n"
    report += "  \(actualName): \(describe(actualLines))"
    return report
}

/// Splits output into lines for reports, showing control characters other than tab.
private func lines(of data: Data) -> [String] {
    let text = String(decoding: data, as: UTF8.self)
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
        line.unicodeScalars.map { scalar in
            scalar.value < 0x20 && scalar != "\t"
                ? "\\u{\(String(scalar.value, radix: 16))}" : String(scalar)
        }.joined()
    }
    if text.hasSuffix("\n") { lines.removeLast() }
    return lines
}

/// A child process running beside a test (a daemon, an emud or QEMU that gdb drives), its standard output and
/// standard error collected as they come. The daemon and gdb tests build their process helpers on it.
final class BackgroundProcess: @unchecked Sendable {
    let name: String
    let process = Process()
    private let condition = NSCondition()
    // Guarded by `condition`; read them only inside `wait(until:for:givingUpWhen:)` or `snapshot`.
    private(set) var outputData = Data()
    private(set) var errorData = Data()
    private(set) var openStreams = 2
    private(set) var exited = false

    init(name: String, executable: URL, arguments: [String], environment: [String: String]? = nil) throws {
        self.name = name
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardInput = FileHandle.nullDevice
        let outputPipe = Pipe(), errorPipe = Pipe()
        process.standardOutput = outputPipe
        process.standardError = errorPipe
        for (pipe, isError) in [(outputPipe, false), (errorPipe, true)] {
            pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
                let bytes = handle.availableData
                if bytes.isEmpty { handle.readabilityHandler = nil }
                self?.collect(bytes, isError: isError)
            }
        }
        process.terminationHandler = { [weak self] _ in
            guard let self else { return }
            self.condition.withLock {
                self.exited = true
                self.condition.broadcast()
            }
        }
        do {
            try process.run()
        } catch {
            throw TestEnvironmentError(description: "could not start \(executable.path): \(error)")
        }
    }

    private func collect(_ bytes: Data, isError: Bool) {
        condition.withLock {
            if bytes.isEmpty {
                openStreams -= 1
            } else if isError {
                errorData += bytes
            } else {
                outputData += bytes
            }
            condition.broadcast()
        }
    }

    var hasExited: Bool { condition.withLock { exited } }

    /// Both streams so far and whether the process has exited, read together.
    func snapshot() -> (output: Data, errors: Data, exited: Bool) {
        condition.withLock { (outputData, errorData, exited) }
    }

    /// Blocks until `done()` holds (true), or until `givesUp()` holds or `deadline` passes (then `done()`).
    /// Both run with the lock held, so they may read the state above.
    func wait(until deadline: Date, for done: () -> Bool, givingUpWhen givesUp: () -> Bool = { false }) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while !done() {
            if givesUp() || !condition.wait(until: deadline) { return done() }
        }
        return true
    }
}
