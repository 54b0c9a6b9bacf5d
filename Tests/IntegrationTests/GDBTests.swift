// Drives emud's GDB stub with the real gdb (gdb-multiarch in batch mode) against the debuggees of
// Tests/Guests/gdb, and compares what gdb sees of emud with what it sees of QEMU at the same stops.
// SPDX-License-Identifier: GPL-2.0-or-later

import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Environment

/// The debuggees: Tests/Guests/gdb/NAME.c, built at -O0 as EMUD_GUESTS/gdb-NAME.elf.
private enum Debuggee: String, Sendable {
    /// Functions with arguments and locals, globals to print, set and watch; runs to its end.
    case target
    /// Counts in a global forever.
    case spin
    /// Tests/Guests/mmu.c: builds page tables and turns the MMU on.
    case mmu
}

/// gdb, emud, QEMU and the debuggees, from the environment `make test` sets up.
private struct GDBTestEnvironment: Sendable {
    var tools: GuestTestEnvironment
    var gdb: URL

    static let gdbName = "gdb-multiarch"

    /// Throws an error saying what is missing and how to get it.
    static func require() throws -> GDBTestEnvironment {
        let tools = try GuestTestEnvironment.require()
        guard let gdb = findExecutable(gdbName) else {
            throw TestEnvironmentError(description:
                "\(gdbName) is not installed; these tests drive emud's GDB stub with it: "
                + "`apt-get install gdb-multiarch` (or run `make test` as root, which installs it)")
        }
        return GDBTestEnvironment(tools: tools, gdb: gdb)
    }

    func elf(_ debuggee: Debuggee) throws -> URL {
        let elf = tools.guests.appendingPathComponent("gdb-\(debuggee.rawValue).elf")
        guard FileManager.default.fileExists(atPath: elf.path) else {
            throw TestEnvironmentError(description:
                "\(elf.path) is missing: run `make test` (or `make guests`), which builds "
                + "Tests/Guests/gdb/\(debuggee.rawValue).c")
        }
        return elf
    }
}

/// Lines of Tests/Guests/gdb/target.c, found by the `marker: NAME` comments on them, so that the
/// tests do not break when the program above a line changes.
private enum TargetSource {
    static let url = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Guests/gdb/target.c")

    static func line(_ marker: String) throws -> Int {
        let text = try String(contentsOf: url, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let index = lines.firstIndex(where: { $0.contains("/* marker: \(marker) */") }) else {
            throw TestEnvironmentError(description: "\(url.path) has no line marked '\(marker)'")
        }
        return index + 1
    }
}

// MARK: - A machine beside the test

/// Runs blocking work on a thread of its own, never on Swift concurrency's small cooperative pool.
private func offThePool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: work()) }
    }
}

/// emud or QEMU running beside the test while gdb drives it, its output collected as it comes.
///
/// Foundation starts it in a process group of its own; ``stop()`` and the timeout of ``finish(timeout:)``
/// signal that group. Every test that starts one ends it (``finish(timeout:)``, or ``stop()`` in a `defer`).
private final class MachineProcess: @unchecked Sendable {
    private let child: BackgroundProcess
    var name: String { child.name }
    private var process: Process { child.process }

    init(name: String, executable: URL, arguments: [String]) throws {
        child = try BackgroundProcess(name: name, executable: executable, arguments: arguments)
    }

    /// What it has written to stderr so far, for messages.
    var errorsSoFar: String {
        String(decoding: child.snapshot().errors, as: UTF8.self)
    }

    /// Waits until stderr contains `text`; false if the process ended or `timeout` passed first.
    func waitForErrors(containing text: String, timeout: TimeInterval) async -> Bool {
        await offThePool { [child] in
            child.wait(until: Date(timeIntervalSinceNow: timeout),
                       for: { String(decoding: child.errorData, as: UTF8.self).contains(text) },
                       givingUpWhen: { child.exited })
        }
    }

    /// Waits for the process to end by itself, at most `timeout` seconds; then ends it (SIGTERM, then
    /// SIGKILL five seconds later) and says so in the result.
    func finish(timeout: TimeInterval) async -> ProcessOutput {
        await offThePool { [self] in
            var timedOut = false
            if !waitForEnd(until: Date(timeIntervalSinceNow: timeout)) {
                timedOut = true
                signalGroup(SIGTERM)
                if !waitForEnd(until: Date(timeIntervalSinceNow: 5)) {
                    signalGroup(SIGKILL)
                    _ = waitForEnd(until: Date(timeIntervalSinceNow: 10))
                }
            }
            let (output, errors, exited) = child.snapshot()
            return ProcessOutput(
                standardOutput: output, standardError: errors,
                status: exited ? process.terminationStatus : -1,
                killedBySignal: exited && process.terminationReason == .uncaughtSignal,
                timedOut: timedOut)
        }
    }

    /// Kills it at once if it is still running; for `defer`, whatever happened in the test.
    func stop() {
        if !child.hasExited { signalGroup(SIGKILL) }
    }

    private func waitForEnd(until deadline: Date) -> Bool {
        child.wait(until: deadline, for: { child.exited && child.openStreams == 0 })
    }

    private func signalGroup(_ signal: Int32) {
        kill(-process.processIdentifier, signal)
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick for port 0).
private func freeTCPPort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw TestEnvironmentError(description: "socket() failed: errno \(errno)") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
            bind(descriptor, socketAddress, length) == 0 && getsockname(descriptor, socketAddress, &length) == 0
        }
    }
    guard bound else { throw TestEnvironmentError(description: "could not bind a TCP port on 127.0.0.1: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}

// MARK: - gdb against a machine

/// What one gdb run printed.
private struct GDBRun: CustomStringConvertible {
    var output: String
    var errors: String
    var ending: ProcessOutput

    /// gdb's stdout, then its stderr, then how it ended: for failure messages.
    var description: String {
        "gdb ended with \(ending.ending)\n--- gdb stdout:\n\(output)\n--- gdb stderr:\n\(errors)"
    }

    /// The numbers the script printed as `printf "NAME=%lu\n", ...`, by name, in order.
    func numbers(_ name: String) -> [UInt64] {
        output.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("\(name)=") else { return nil }
            let text = line.dropFirst(name.count + 1)
            return text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
        }
    }
}

/// One debuggee in emud or QEMU, waiting for gdb, with a scratch directory for sockets and scripts.
private final class DebugSession: @unchecked Sendable {
    let environment: GDBTestEnvironment
    let elf: URL
    let machine: MachineProcess
    /// What follows `target remote`.
    let remote: String
    let directory: URL
    private var scripts = 0

    private init(environment: GDBTestEnvironment, elf: URL, machine: MachineProcess, remote: String, directory: URL) {
        self.environment = environment
        self.elf = elf
        self.machine = machine
        self.remote = remote
        self.directory = directory
    }

    /// A directory short enough for a Unix socket path (108 bytes).
    private static func makeDirectory() throws -> URL {
        let directory = URL(fileURLWithPath: "/tmp/emud-gdb-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    enum Endpoint { case unixSocket, tcp }

    /// `emud run --cpus CPUS --gdb ENDPOINT --wait-gdb gdb-NAME.elf`, once it listens. With `copy`,
    /// the machine runs a copy of the debuggee in the scratch directory (`elf` is then the copy).
    static func emud(
        _ debuggee: Debuggee, endpoint: Endpoint = .unixSocket, cpus: Int = 1, copy: Bool = false
    ) async throws -> DebugSession {
        let environment = try GDBTestEnvironment.require()
        let directory = try makeDirectory()
        var elf = try environment.elf(debuggee)
        if copy {
            let copied = directory.appendingPathComponent(elf.lastPathComponent)
            try FileManager.default.copyItem(at: elf, to: copied)
            elf = copied
        }
        let gdbOption: String, remote: String
        switch endpoint {
        case .unixSocket:
            let path = directory.appendingPathComponent("gdb.sock").path
            (gdbOption, remote) = ("unix:\(path)", path)
        case .tcp:
            let port = try freeTCPPort()
            (gdbOption, remote) = ("tcp::\(port)", "127.0.0.1:\(port)")
        }
        let machine = try MachineProcess(
            name: "emud", executable: environment.tools.emud,
            arguments: ["run", "--cpus", "\(cpus)", "--gdb", gdbOption, "--wait-gdb", elf.path])
        let session = DebugSession(environment: environment, elf: elf, machine: machine, remote: remote, directory: directory)
        // emud says so once the stub listens.
        guard await machine.waitForErrors(containing: "gdb stub on", timeout: 30) else {
            let ended = await session.finish(timeout: 0)
            throw TestEnvironmentError(description:
                "emud did not start its gdb stub on \(gdbOption) (\(ended.ending)); its stderr:\n"
                + String(decoding: ended.standardError, as: UTF8.self))
        }
        return session
    }

    /// QEMU's virt board held before its first instruction (`-S`), its gdb stub on a TCP port. gdb
    /// retries a refused connection for a while (`tcp auto-retry`), which covers QEMU's start.
    static func qemu(_ debuggee: Debuggee) async throws -> DebugSession {
        let environment = try GDBTestEnvironment.require()
        let elf = try environment.elf(debuggee)
        let directory = try makeDirectory()
        let port = try freeTCPPort()
        let machine = try MachineProcess(
            name: "QEMU", executable: environment.tools.qemu,
            arguments: [
                "-M", "virt", "-cpu", "cortex-a76", "-nographic", "-semihosting", "-net", "none",
                "-S", "-gdb", "tcp:127.0.0.1:\(port)", "-kernel", elf.path,
            ])
        return DebugSession(environment: environment, elf: elf, machine: machine, remote: "127.0.0.1:\(port)", directory: directory)
    }

    /// Runs `gdb-multiarch -q -nx -batch -ex 'target remote …' -x script prog.elf`. The remote timeout
    /// is long so that a loaded machine does not make gdb give up on a reply. Without `localFile`, gdb
    /// gets no program and must find it through the stub.
    func gdb(_ script: String, localFile: Bool = true, timeout: TimeInterval = 60) async throws -> GDBRun {
        scripts += 1
        let file = directory.appendingPathComponent("script\(scripts).gdb")
        try script.write(to: file, atomically: true, encoding: .utf8)
        let ending = try await runProcess(
            environment.gdb,
            [
                "-q", "-nx", "-batch",
                "-ex", "set pagination off", "-ex", "set remotetimeout 30",
                "-ex", "target remote \(remote)", "-x", file.path,
            ] + (localFile ? [elf.path] : []),
            timeout: timeout)
        return GDBRun(
            output: String(decoding: ending.standardOutput, as: UTF8.self),
            errors: String(decoding: ending.standardError, as: UTF8.self),
            ending: ending)
    }

    /// Waits for the machine to end (it must, once gdb has killed or detached from a finite
    /// program), kills it after `timeout` seconds, and removes the scratch directory.
    func finish(timeout: TimeInterval = 20) async -> ProcessOutput {
        let ended = await machine.finish(timeout: timeout)
        try? FileManager.default.removeItem(at: directory)
        return ended
    }

    /// Kills the machine if it still runs and removes the scratch directory; for `defer`.
    func stop() {
        machine.stop()
        try? FileManager.default.removeItem(at: directory)
    }
}

extension ProcessOutput {
    fileprivate var outputText: String { String(decoding: standardOutput, as: UTF8.self) }
    fileprivate var errorText: String { String(decoding: standardError, as: UTF8.self) }
}

// MARK: - Checks

/// Records an issue unless each of `fragments` occurs in `text`, each after the one before.
private func expectInOrder(
    _ text: String, _ fragments: [String], _ context: @autoclosure () -> String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    var rest = text[...]
    for fragment in fragments {
        guard let found = rest.range(of: fragment) else {
            let earlier = rest.startIndex == text.startIndex ? "" : " after the fragments before it"
            Issue.record("expected \"\(fragment)\"\(earlier)\n\(context())", sourceLocation: sourceLocation)
            return
        }
        rest = rest[found.upperBound...]
    }
}

/// Records an issue unless gdb ended by itself with status 0 and printed no error.
private func expectClean(_ run: GDBRun, _ machine: MachineProcess, sourceLocation: SourceLocation = #_sourceLocation) {
    let failed = run.ending.timedOut || run.ending.killedBySignal || run.ending.status != 0
        || run.errors.contains("Error") || run.errors.contains("error")
    if failed {
        Issue.record(
            "gdb reported a problem\n\(run)\n--- \(machine.name) stderr so far:\n\(machine.errorsSoFar)",
            sourceLocation: sourceLocation)
    }
}

/// The registers gdb shows for AArch64 that the comparison with QEMU covers.
private let generalRegisterNames = (0...30).map { "x\($0)" } + ["sp", "pc", "cpsr"]

/// `info registers` output as name -> value in hex.
private func registerValues(in text: Substring) -> [String: String] {
    var values: [String: String] = [:]
    for line in text.split(separator: "\n") {
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count >= 2 else { continue }
        values[String(fields[0])] = String(fields[1])
    }
    return values
}

/// The part of `text` between two `echo` markers.
private func section(_ text: String, from start: String, to end: String) -> Substring {
    guard let begin = text.range(of: start) else { return "" }
    let rest = text[begin.upperBound...]
    guard let finish = rest.range(of: end) else { return rest }
    return rest[..<finish.lowerBound]
}

// MARK: - Tests

@Suite("gdb against emud's GDB stub", .timeLimit(.minutes(5)))
struct GDBTests {
    @Test("break on a function by name, continue, and bt with named frames")
    func breakpointAndBacktrace() async throws {
        let session = try await DebugSession.emud(.target)
        defer { session.stop() }
        let body = try TargetSource.line("leaf-body")
        let middleCall = try TargetSource.line("middle-call")
        let mainCall = try TargetSource.line("main-call")
        let run = try await session.gdb("""
            break leaf
            continue
            bt
            continue
            bt
            """)
        expectClean(run, session.machine)
        expectInOrder(run.output, [
            "Breakpoint 1 at 0x", "file gdb/target.c, line \(body).",
            "Breakpoint 1, leaf (a=3, b=1) at gdb/target.c:\(body)",
            "#0  leaf (a=3, b=1) at gdb/target.c:\(body)",
            "#1  0x", " in middle (n=1) at gdb/target.c:\(middleCall)",
            "#2  0x", " in main () at gdb/target.c:\(mainCall)",
            "Breakpoint 1, leaf (a=6, b=2) at gdb/target.c:\(body)",
            "#0  leaf (a=6, b=2)", "#1  0x", " in middle (n=2)", "#2  0x", " in main ()",
        ], run.description)
    }

    /// Issue 12, item 13: gdb warned "remote target does not support file transfer" on every attach.
    @Test("gdb with no local file reads the image through the stub and names each CPU")
    func noLocalFile() async throws {
        let session = try await DebugSession.emud(.target, cpus: 2)
        defer { session.stop() }
        let body = try TargetSource.line("leaf-body")
        let run = try await session.gdb(
            """
            info symbol $pc
            break leaf
            continue
            info threads
            """, localFile: false)
        expectClean(run, session.machine)
        let everything = run.output + run.errors
        #expect(!everything.contains("does not support file transfer"), "\(run)")
        #expect(!everything.contains("No symbol table"), "\(run)")
        // The target program never starts CPU 1 (PSCI CPU_ON), so gdb names it powered off.
        // Read through the stub, not from the local copy that happens to be on this host.
        #expect(everything.contains("Reading symbols from target:"), "\(run)")
        expectInOrder(run.output, [
            " in section .text", "Breakpoint 1 at 0x", "file gdb/target.c, line \(body).",
            "Breakpoint 1, leaf (a=3, b=1) at gdb/target.c:\(body)", "Thread 1.1 (CPU 0)", "Thread 1.2 (CPU 1, powered off)",
        ], run.description)
    }

    /// The stub serves the program the machine loaded and nothing else, even when its path is
    /// replaced afterwards (here by a symbolic link to another file the daemon can read).
    @Test("an image replaced after loading is not served to gdb")
    func replacedImageIsNotServed() async throws {
        let session = try await DebugSession.emud(.target, copy: true)
        defer { session.stop() }
        let other = try session.environment.elf(.spin)
        try FileManager.default.removeItem(at: session.elf)
        try FileManager.default.createSymbolicLink(at: session.elf, withDestinationURL: other)
        let run = try await session.gdb(
            """
            info symbol $pc
            """, localFile: false)
        let everything = run.output + run.errors
        #expect(!everything.contains("Reading symbols from target:"), "\(run)")
        #expect(everything.contains("No symbol"), "\(run)")
    }

    @Test("info registers and info all-registers show the general, FP/SIMD and status registers")
    func registers() async throws {
        let session = try await DebugSession.emud(.target)
        defer { session.stop() }
        let run = try await session.gdb("""
            break leaf
            continue
            echo ==registers==\\n
            info registers
            echo ==all-registers==\\n
            info all-registers
            echo ==end==\\n
            printf "breakpoint=%#lx\\n", (long)&leaf
            """)
        expectClean(run, session.machine)
        let general = registerValues(in: section(run.output, from: "==registers==\n", to: "==all-registers=="))
        let all = registerValues(in: section(run.output, from: "==all-registers==\n", to: "==end=="))
        for name in generalRegisterNames + ["fpsr", "fpcr"] {
            #expect(general[name] != nil, "info registers lacks \(name)\n\(run)")
        }
        for name in generalRegisterNames + ["v0", "v31", "fpsr", "fpcr"] {
            #expect(all[name] != nil, "info all-registers lacks \(name)\n\(run)")
        }
        // leaf(3, 1), stopped after its prologue, below main's and middle's frames.
        #expect(general["x0"] == "0x3" && general["x1"] == "0x1", "leaf's arguments are not in x0, x1\n\(run)")
        #expect(general["x30"]?.hasPrefix("0x4000") == true, "the link register does not point into the program\n\(run)")
        #expect(general["sp"]?.hasPrefix("0x47ff") == true, "sp is not near the top of RAM\n\(run)")
        // EL1h with D, A, I, F masked, as QEMU starts an ELF kernel.
        #expect(general["cpsr"].flatMap { UInt64($0.dropFirst(2), radix: 16) }.map { $0 & 0x3ff } == 0x3c5,
                "cpsr is not EL1h with DAIF masked\n\(run)")
        if let pc = general["pc"].flatMap({ UInt64($0.dropFirst(2), radix: 16) }),
           let entry = run.numbers("breakpoint").first {
            #expect(pc > entry && pc < entry + 32, "pc \(pc) is not just past leaf's prologue at \(entry)\n\(run)")
        } else {
            Issue.record("no pc or breakpoint address\n\(run)")
        }
    }

    @Test("p of arguments, locals and globals; x/8gx of a global array")
    func printAndExamine() async throws {
        let session = try await DebugSession.emud(.target)
        defer { session.stop() }
        let run = try await session.gdb("""
            break leaf
            continue
            next
            next
            p a
            p b
            p sum
            p product
            info locals
            up
            p n
            p scaled
            down
            p answer
            p watched
            p/x table
            p/x table[7]
            x/8gx table
            """)
        expectClean(run, session.machine)
        expectInOrder(run.output, [
            "$1 = 3", "$2 = 1", "$3 = 4", "$4 = 3", "sum = 4", "product = 3",
            "middle (n=1)", "$5 = 1", "$6 = 3",
            "leaf (a=3, b=1)", "$7 = 42", "$8 = 1",
            "$9 = {0x1111111111111111, 0x2222222222222222, 0x3333333333333333, 0x4444444444444444, "
                + "0x5555555555555555, 0x6666666666666666, 0x7777777777777777, 0x8888888888888888}",
            "$10 = 0x8888888888888888",
            "<table>:\t0x1111111111111111\t0x2222222222222222",
            "<table+16>:\t0x3333333333333333\t0x4444444444444444",
            "<table+32>:\t0x5555555555555555\t0x6666666666666666",
            "<table+48>:\t0x7777777777777777\t0x8888888888888888",
        ], run.description)
    }

    @Test("set var on globals, a local and a register is what the guest then computes, prints and exits with")
    func setVariable() async throws {
        let session = try await DebugSession.emud(.target)
        defer { session.stop() }
        // x0 = 10 at leaf's entry, then b = 9 after its prologue has stored the arguments: leaf(10, 9)
        // instead of leaf(3, 1) returns 19 ^ 90 = 73 instead of 7, and the total is 37 + 66.
        let run = try await session.gdb("""
            break middle
            continue
            set var answer = -1234
            p answer
            set var exit_status = 7
            delete
            break *leaf
            continue
            set var $x0 = 10
            delete
            break leaf
            continue
            set var b = 9
            p b
            delete
            continue
            """)
        expectClean(run, session.machine)
        expectInOrder(run.output, [
            "Breakpoint 1, middle (n=1)", "$1 = -1234", "Breakpoint 2, leaf (", "Breakpoint 3, leaf (a=10, b=1)",
            "$2 = 9", "[Inferior 1 (process 1) exited with code 07]",
        ], run.description)
        let ended = await session.finish()
        #expect(ended.outputText == "total=103 watched=12\nanswer=-1234\n", "emud printed:\n\(ended.outputText)\n\(ended.errorText)")
        #expect(ended.status == 7 && !ended.killedBySignal && !ended.timedOut, "emud: \(ended.ending)\n\(ended.errorText)")
    }

    @Test("code written through gdb runs as written, and a breakpoint lands in code that already ran")
    func patchCode() async throws {
        let session = try await DebugSession.emud(.target)
        defer { session.stop() }
        // leaf's `eor x0, x1, x0` (0xca000020) becomes `add x0, x1, x0` (0x8b000020) once leaf has run:
        // leaf(6, 2) and leaf(9, 3) return 20 and 39 instead of 4 and 23, and the total is 37 + 32.
        let run = try await session.gdb("""
            break middle
            continue
            continue
            find /w leaf, +64, 0xca000020
            break *$_
            set var *(unsigned int *)$_ = 0x8b000020
            x/i $_
            delete 1
            continue
            delete
            continue
            """)
        expectClean(run, session.machine)
        expectInOrder(run.output, [
            "Breakpoint 1, middle (n=2)", "1 pattern found.", ":\tadd\tx0, x1, x0",
            "Breakpoint 2, 0x", " in leaf (a=6, b=2)", "[Inferior 1 (process 1) exited normally]",
        ], run.description)
        let ended = await session.finish()
        #expect(ended.outputText == "total=69 watched=12\nanswer=42\n", "emud printed:\n\(ended.outputText)\n\(ended.errorText)")
    }

    @Test("stepi, next, finish and until")
    func stepping() async throws {
        let session = try await DebugSession.emud(.target)
        defer { session.stop() }
        let body = try TargetSource.line("leaf-body")
        let leafReturn = try TargetSource.line("leaf-return")
        let middleCall = try TargetSource.line("middle-call")
        let mainCall = try TargetSource.line("main-call")
        let afterLoop = try TargetSource.line("after-loop")
        let run = try await session.gdb("""
            break leaf
            continue
            next
            next
            printf "before=%#lx\\n", $pc
            stepi
            printf "after=%#lx\\n", $pc
            stepi
            printf "after=%#lx\\n", $pc
            finish
            delete
            finish
            until \(afterLoop)
            printf "total=%lu\\n", total
            """)
        expectClean(run, session.machine)
        expectInOrder(run.output, [
            "Breakpoint 1, leaf (a=3, b=1) at gdb/target.c:\(body)",
            "\(body + 1)\t    uint64_t product = a * b;",
            "\(leafReturn)\t    return sum ^ product;",
            "in middle (n=1) at gdb/target.c:\(middleCall)", "Value returned is $1 = 7",
            "in main () at gdb/target.c:\(mainCall)", "Value returned is $2 = 8",
            "main () at gdb/target.c:\(afterLoop)", "total=37",
        ], run.description)
        let before = run.numbers("before"), after = run.numbers("after")
        if let start = before.first, after.count == 2 {
            #expect(after == [start + 4, start + 8], "stepi did not advance one instruction at a time from \(start): \(after)\n\(run)")
        } else {
            Issue.record("no pc values around stepi\n\(run)")
        }
    }

    @Test("hbreak stops at the function once, then the program runs to its end")
    func hardwareBreakpoint() async throws {
        let session = try await DebugSession.emud(.target)
        defer { session.stop() }
        let pokeWrite = try TargetSource.line("poke-write")
        let run = try await session.gdb("""
            hbreak poke
            continue
            info breakpoints
            continue
            """)
        expectClean(run, session.machine)
        expectInOrder(run.output, [
            "Hardware assisted breakpoint 1 at 0x", "line \(pokeWrite).",
            "Breakpoint 1, poke () at gdb/target.c:\(pokeWrite)",
            "hw breakpoint", "breakpoint already hit 1 time",
            "[Inferior 1 (process 1) exited normally]",
        ], run.description)
        let ended = await session.finish()
        #expect(ended.outputText == "total=37 watched=12\nanswer=42\n", "emud printed:\n\(ended.outputText)\n\(ended.errorText)")
    }

    /// A watchpoint kind and the stops it makes in poke() and main, each with the instruction that made
    /// the access (the one just before where gdb reports the stop).
    struct WatchCase: Sendable, CustomTestStringConvertible {
        var command: String
        var title: String
        var stops: [(values: String, instruction: String)]
        var testDescription: String { command }
    }

    static let watchCases = [
        WatchCase(command: "watch", title: "Hardware watchpoint 2: watched", stops: [
            ("Old value = 1\nNew value = 7\n", "str"),
            ("Old value = 7\nNew value = 12\n", "str"),
        ]),
        WatchCase(command: "rwatch", title: "Hardware read watchpoint 2: watched", stops: [
            ("Value = 7\n", "ldr"),
            ("Value = 12\n", "ldr"),
        ]),
        WatchCase(command: "awatch", title: "Hardware access (read/write) watchpoint 2: watched", stops: [
            ("Old value = 1\nNew value = 7\n", "str"),
            ("Value = 7\n", "ldr"),
            ("Old value = 7\nNew value = 12\n", "str"),
            ("Value = 12\n", "ldr"),
        ]),
    ]

    @Test("watch, rwatch and awatch on a global stop at each access with the old and new values",
          arguments: watchCases)
    func watchpoint(_ watch: WatchCase) async throws {
        let session = try await DebugSession.emud(.target)
        defer { session.stop() }
        let pokeRead = try TargetSource.line("poke-read")
        let stopLines = watch.stops.map { _ in "continue\nx/i $pc - 4\n" }.joined()
        let run = try await session.gdb("""
            break poke
            continue
            \(watch.command) watched
            \(stopLines)continue
            """)
        expectClean(run, session.machine)
        var expected = ["Breakpoint 1, poke ()", watch.title]
        for stop in watch.stops {
            expected += ["\n\(watch.title)\n\n\(stop.values)", ":\t\(stop.instruction)\t"]
        }
        expectInOrder(run.output, expected + ["[Inferior 1 (process 1) exited normally]"], run.description)
        // The first read is `seen = watched`: gdb reports it on that line, past the load.
        if watch.command != "watch" {
            expectInOrder(run.output, ["Value = 7\n", " in poke () at gdb/target.c:\(pokeRead)\n"], run.description)
        }
        let ended = await session.finish()
        #expect(ended.outputText == "total=37 watched=12\nanswer=42\n", "emud printed:\n\(ended.outputText)\n\(ended.errorText)")
    }

    @Test("interrupt stops an endless loop where it is, and it can go on and be interrupted again")
    func interrupt() async throws {
        let session = try await DebugSession.emud(.spin)
        defer { session.stop() }
        // gdb's `interrupt` needs gdb's event loop to be running: a blocking `continue` runs it, and a
        // Python timer posts the `interrupt` into it (in batch mode a `continue &` would never see its stop).
        let run = try await session.gdb("""
            define interrupt_soon
              python import threading; threading.Timer(1.0, lambda: gdb.post_event(lambda: gdb.execute("interrupt"))).start()
            end
            interrupt_soon
            continue
            printf "counter=%lu\\n", counter
            bt
            interrupt_soon
            continue
            printf "counter=%lu\\n", counter
            kill
            """)
        expectClean(run, session.machine)
        expectInOrder(run.output, [
            "Program received signal SIGINT, Interrupt.", "spin () at gdb/spin.c:",
            "#0  spin () at gdb/spin.c:", "#1  0x", " in main () at gdb/spin.c:",
            "Program received signal SIGINT, Interrupt.", "[Inferior 1 (process 1) killed]",
        ], run.description)
        let counts = run.numbers("counter")
        #expect(counts.count == 2 && counts[0] > 0 && counts[1] > counts[0],
                "the loop did not run before each interrupt: counter \(counts)\n\(run)")
        let ended = await session.finish()
        #expect(!ended.timedOut, "emud did not end after kill\n\(ended.errorText)")
    }

    @Test("detach lets the machine run on; a second gdb attaches to it later and sees it has")
    func detachAndReattach() async throws {
        let session = try await DebugSession.emud(.spin)
        defer { session.stop() }
        let first = try await session.gdb("""
            break spin
            continue
            printf "counter=%lu\\n", counter
            detach
            """)
        expectClean(first, session.machine)
        expectInOrder(first.output, ["Breakpoint 1, spin ()", "counter=0", "[Inferior 1 (process 1) detached]"], first.description)
        try await Task.sleep(for: .milliseconds(300))
        let second = try await session.gdb("""
            printf "counter=%lu\\n", counter
            bt
            kill
            """)
        expectClean(second, session.machine)
        expectInOrder(second.output, ["#0  ", "spin () at gdb/spin.c:", "[Inferior 1 (process 1) killed]"], second.description)
        let counts = second.numbers("counter")
        #expect(counts.count == 1 && counts[0] > 0, "the machine did not run on after detach: counter \(counts)\n\(second)")
        let ended = await session.finish()
        #expect(ended.outputText == "spinning\n", "emud printed:\n\(ended.outputText)\n\(ended.errorText)")
        #expect(!ended.timedOut, "emud did not end after kill\n\(ended.errorText)")
    }

    @Test("a gdb that dies, stopped with breakpoints inserted or while the machine runs, leaves it running for the next")
    func gdbDies() async throws {
        let session = try await DebugSession.emud(.spin)
        defer { session.stop() }
        // The first gdb keeps its breakpoint in the loop inserted while stopped, then exits at once, with
        // no detach: the stub must take the breakpoint out and let the machine go on.
        let first = try await session.gdb("""
            set breakpoint always-inserted on
            break spin
            continue
            printf "counter=%lu\\n", counter
            python import os; os._exit(3)
            """)
        expectInOrder(first.output, ["Breakpoint 1, spin ()", "counter=0"], first.description)
        #expect(first.ending.status == 3, "the first gdb did not end as its script says\n\(first)")
        try await Task.sleep(for: .milliseconds(300))
        // The second dies a second into a `continue`.
        let second = try await session.gdb("""
            printf "counter=%lu\\n", counter
            python import os, threading; threading.Timer(1.0, lambda: os._exit(3)).start()
            continue
            """)
        #expect(second.ending.status == 3, "the second gdb did not end as its script says\n\(second)")
        try await Task.sleep(for: .milliseconds(300))
        let third = try await session.gdb("""
            printf "counter=%lu\\n", counter
            bt
            kill
            """)
        expectClean(third, session.machine)
        expectInOrder(third.output, ["#0  spin () at gdb/spin.c:", "[Inferior 1 (process 1) killed]"], third.description)
        let counts = second.numbers("counter") + third.numbers("counter")
        #expect(counts.count == 2 && counts[0] > 0 && counts[1] > counts[0],
                "the machine did not run on after each gdb died: counter \(counts)\n\(second)\n\(third)")
        let ended = await session.finish()
        #expect(!ended.timedOut, "emud did not end after kill\n\(ended.errorText)")
        let connections = ended.errorText.components(separatedBy: "gdb connected").count - 1
        #expect(connections == 3, "emud did not log three gdb sessions:\n\(ended.errorText)")
    }

    @Test("after detach the machine runs to its end and exits with the guest's status")
    func detachRunsToEnd() async throws {
        let session = try await DebugSession.emud(.target)
        defer { session.stop() }
        let run = try await session.gdb("""
            break leaf
            continue
            detach
            """)
        expectClean(run, session.machine)
        expectInOrder(run.output, ["Breakpoint 1, leaf", "[Inferior 1 (process 1) detached]"], run.description)
        let ended = await session.finish()
        #expect(ended.outputText == "total=37 watched=12\nanswer=42\n", "emud printed:\n\(ended.outputText)\n\(ended.errorText)")
        #expect(ended.status == 0 && !ended.killedBySignal && !ended.timedOut, "emud: \(ended.ending)\n\(ended.errorText)")
    }

    @Test("--wait-gdb holds the machine before its first instruction; monitor commands answer")
    func monitorCommands() async throws {
        let session = try await DebugSession.emud(.target)
        defer { session.stop() }
        let run = try await session.gdb("""
            p $pc
            monitor info machine
            monitor help
            monitor info tb
            monitor plugins
            monitor no-such-command
            break leaf
            continue
            monitor info machine
            kill
            """)
        expectClean(run, session.machine)
        expectInOrder(run.output, ["$1 = (void (*)()) 0x", " <_start>", "Breakpoint 1, leaf"], run.description)
        // gdb prints what the stub answers to `monitor` on its stderr.
        expectInOrder(run.errors, [
            "board virt", "vCPUs: 1", "state: stopped", "instructions executed: 0\n",
            "emud monitor commands:", "info machine", "info tb", "tb-flush", "reset", "plugins",
            "translation blocks: 0 live",
            "no plugins loaded",
            "unknown monitor command 'no-such-command'",
            "board virt", "instructions executed: ",
        ], run.description)
        let counted = run.errors.split(separator: "\n").filter { $0.contains("instructions executed: ") }
        #expect(counted.count == 2 && !counted[1].hasSuffix(": 0"), "no instructions counted by the breakpoint\n\(run)")
    }

    @Test("with the MMU on, gdb reads through the translation; monitor info mmu and monitor translate describe it")
    func memoryThroughTheMMU() async throws {
        let session = try await DebugSession.emud(.mmu)
        defer { session.stop() }
        // load64's first call runs with the MMU off, its second with it on: page 7 (0x44007000) is then an
        // alias of page 20 (0x44014000), page 1 (0x44001000) is unmapped, and the guest wrote 0x2020202020202020
        // to page 20 before turning the MMU on (mmu.c).
        let run = try await session.gdb("""
            monitor info mmu
            break load64
            continue
            continue
            monitor info mmu
            monitor translate 0x44007008
            monitor translate 0x44001000
            printf "alias=%#lx\\n", *(unsigned long *)0x44007000
            printf "direct=%#lx\\n", *(unsigned long *)0x44014000
            x/gx 0x44001000
            kill
            """)
        expectInOrder(run.errors, [
            "MMU off",
            "MMU on, EL1&0 stage 1", "39-bit region, 4 KiB granule",
            "VA 0x44007008 -> PA 0x44014008 (level 3, 4096 bytes, EL1 rwx, EL0 --x",
            "VA 0x44001000: fault, status 0x7",
        ], run.description)
        #expect(run.numbers("alias") == [0x2020_2020_2020_2020], "\(run)")
        #expect(run.numbers("direct") == [0x2020_2020_2020_2020], "\(run)")
        #expect(run.errors.contains("Cannot access memory at address 0x44001000"), "\(run)")
    }

    @Test("a watchpoint on a virtual address with the MMU on stops at the store through that address")
    func watchpointThroughTheMMU() async throws {
        let session = try await DebugSession.emud(.mmu)
        defer { session.stop() }
        // After load64's second call the MMU is on and page 7 (0x44007000) is an alias of page 20; mmu.c then
        // stores 0x7777777777777777 through the alias (store64). The watchpoint is on the alias's virtual
        // address, as gdb's (and QEMU's) watchpoints are.
        let run = try await session.gdb("""
            break load64
            continue
            continue
            delete
            watch *(unsigned long *)0x44007000
            continue
            bt 1
            printf "direct=%#lx\\n", *(unsigned long *)0x44014000
            kill
            """)
        expectInOrder(run.output, [
            "Hardware watchpoint 2: *(unsigned long *)0x44007000",
            "New value = 8608480567731124087",
            "store64",
        ], run.description)
        #expect(run.numbers("direct") == [0x7777_7777_7777_7777], "\(run)")
    }

    @Test("kill ends the machine before the program's end")
    func killMachine() async throws {
        let session = try await DebugSession.emud(.target)
        defer { session.stop() }
        let run = try await session.gdb("""
            break poke
            continue
            kill
            """)
        expectClean(run, session.machine)
        expectInOrder(run.output, ["Breakpoint 1, poke ()", "[Inferior 1 (process 1) killed]"], run.description)
        let ended = await session.finish()
        #expect(!ended.timedOut, "emud did not end after kill\n\(ended.errorText)")
        #expect(ended.outputText.isEmpty, "the guest ran on after kill and printed:\n\(ended.outputText)")
        #expect(ended.status != 0, "a killed machine exited with status 0, as if the guest had\n\(ended.errorText)")
    }

    @Test("a second gdb is refused while the first is attached, and the first works on")
    func secondClientRefused() async throws {
        let session = try await DebugSession.emud(.target, endpoint: .tcp)
        defer { session.stop() }
        let gdb = session.environment.gdb.path, elf = session.elf.path
        // The second gdb runs from the first one's `shell` while the first is stopped at a breakpoint.
        let run = try await session.gdb("""
            break leaf
            continue
            shell '\(gdb)' -q -nx -batch -ex 'set remotetimeout 30' -ex 'target remote \(session.remote)' -ex 'printf "second gdb pc=%#lx\\n", $pc' '\(elf)' 2>&1; echo "second gdb ended with $?"
            bt
            continue
            """)
        expectClean(run, session.machine)
        expectInOrder(run.output, [
            "Breakpoint 1, leaf (a=3, b=1)",
            "Remote failure reply: E.another debugger is attached",
            "second gdb ended with",
            "#0  leaf (a=3, b=1)", "#1  0x", " in middle (n=1)",
            "Breakpoint 1, leaf (a=6, b=2)",
        ], run.description)
        #expect(!run.output.contains("second gdb pc="), "the second gdb got through\n\(run)")
        #expect(session.machine.errorsSoFar.contains("refused gdb connection"), "emud did not log the refusal:\n\(session.machine.errorsSoFar)")
    }

    /// Stops at breakpoints (one deep in the runtime's printf), a watchpoint, single steps up to and over
    /// a semihosting call (`hlt #0xf000`), and a finish out of it, printing the general registers and the
    /// backtrace at each.
    static let comparisonScript = """
        break leaf
        continue
        continue
        continue
        info registers \(generalRegisterNames.joined(separator: " "))
        bt
        delete
        watch watched
        continue
        info registers \(generalRegisterNames.joined(separator: " "))
        bt
        delete
        break rt_flush
        continue
        info registers \(generalRegisterNames.joined(separator: " "))
        bt
        while *(unsigned int *)$pc != 0xd45e0000
          stepi
        end
        stepi
        info registers \(generalRegisterNames.joined(separator: " "))
        bt
        delete
        finish
        info registers \(generalRegisterNames.joined(separator: " "))
        bt
        kill
        """

    /// gdb shows cpsr's flags for emud (its target description names them) and a plain number for QEMU:
    /// keep the hex value of every register line.
    static func comparable(_ output: String) -> String {
        output.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, generalRegisterNames.contains(String(fields[0])), fields[1].hasPrefix("0x") {
                return "\(fields[0]) \(fields[1])"
            }
            return String(line)
        }.joined(separator: "\n")
    }

    @Test("the same gdb script shows the same registers and backtraces under emud as under QEMU")
    func matchesQEMU() async throws {
        let reference = try await DebugSession.qemu(.target)
        defer { reference.stop() }
        let expected = try await reference.gdb(Self.comparisonScript)
        expectClean(expected, reference.machine)
        _ = await reference.finish()

        let session = try await DebugSession.emud(.target, endpoint: .tcp)
        defer { session.stop() }
        let actual = try await session.gdb(Self.comparisonScript)
        expectClean(actual, session.machine)
        _ = await session.finish()

        // Guard against two empty transcripts agreeing.
        expectInOrder(expected.output, ["Breakpoint 1, leaf (a=9, b=3)", "x30 ", "#2  0x", "Old value = 1", "rt_flush", "[Inferior 1 (process 1) killed]"],
                      "QEMU's transcript lacks the stops\n\(expected)")
        if let difference = firstDifference(
            expected: Data(Self.comparable(expected.output).utf8), actual: Data(Self.comparable(actual.output).utf8),
            expectedName: "QEMU", actualName: "emud")
        {
            Issue.record("\(difference)\n--- under QEMU:\n\(expected.output)\n--- under emud:\n\(actual)")
        }
    }
}
