// emud: tests for the GDB remote protocol. GPL-2.0-or-later.

import Foundation
import GDBStub
import Testing

private let gdbPath = "/usr/bin/gdb-multiarch"

/// A tool these tests need is missing: they fail (never skip) and say how to install it.
private struct MissingTool: Error, CustomStringConvertible {
    var path: String
    var package: String
    var description: String {
        "\(path) is not installed; these tests drive the stub with the real gdb: `apt-get install \(package)` "
            + "(or `make deps`)"
    }
}

private func requireTool(_ path: String, package: String) throws {
    guard FileManager.default.isExecutableFile(atPath: path) else { throw MissingTool(path: path, package: package) }
}

/// Plays a running machine: `step` advances pc by one instruction; `continue` triggers the first
/// write watchpoint (storing 0xfeedface there), else runs to the lowest software breakpoint, else
/// exits with code 7. Stops are reported from another thread, as vCPU threads would.
@Sendable private func playMachine(_ target: FakeTarget, _ actions: [ThreadAction]) {
    let reporter = target.reporter
    func pc(_ thread: Int) -> UInt64 {
        let bytes = target.registers(thread)[256..<264]
        return bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }
    if let step = actions.first(where: { if case .step = $0.action { true } else { false } }) {
        _ = target.writeRegister(thread: step.thread, number: AArch64RegisterLayout.pc, bytes: le(pc(step.thread) + 4))
        Thread.detachNewThread { reporter?.targetStopped(.signal(.trap, thread: step.thread)) }
    } else if let watch = target.breakpoints.first(where: { $0.kind == .watchpoint(.write) }) {
        _ = target.writeMemory(address: watch.address, bytes: le32(0xfeed_face))
        Thread.detachNewThread { reporter?.targetStopped(.watchpoint(.write, address: watch.address, thread: 2)) }
    } else if let breakpoint = target.breakpoints.filter({ $0.kind == .software }).min(by: { $0.address < $1.address }) {
        _ = target.writeRegister(thread: 1, number: AArch64RegisterLayout.pc, bytes: le(breakpoint.address))
        Thread.detachNewThread { reporter?.targetStopped(.softwareBreakpoint(thread: 1)) }
    } else {
        Thread.detachNewThread { reporter?.targetStopped(.exited(code: 7)) }
    }
}

/// Runs gdb-multiarch in batch mode against the stub on `port` with `commands`; returns what it
/// printed followed by `[gdb exit status N]`. `whileRunning` gets gdb's pid (to send it SIGINT).
///
/// Spawned with posix_spawn and a clean signal mask: the test runner's threads block signals, and
/// a child started with Foundation's Process inherits that mask, so gdb would never see SIGINT.
/// A watchdog kills gdb after 30 seconds so that a stub bug fails the test instead of hanging it.
private func runGDB(
    port: Int, commands: [String], whileRunning: @escaping @Sendable (pid_t) -> Void = { _ in }
) async throws -> String {
    try requireTool(gdbPath, package: "gdb-multiarch")
    let arguments =
        [gdbPath, "-q", "-nx", "-batch", "-ex", "set remotetimeout 10", "-ex", "target remote 127.0.0.1:\(port)"]
        + commands.flatMap { ["-ex", $0] }
    let outputPath = FileManager.default.temporaryDirectory
        .appendingPathComponent("emud-gdb-output-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
    defer { try? FileManager.default.removeItem(atPath: outputPath) }

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    var allSignals = sigset_t()
    sigfillset(&allSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    posix_spawnattr_setsigdefault(&attributes, &allSignals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

    var cArguments = arguments.map { strdup($0) } + [nil]
    defer { cArguments.forEach { free($0) } }
    var pid: pid_t = 0
    let result = posix_spawn(&pid, gdbPath, &actions, &attributes, &cArguments, environ)
    guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EINVAL) }
    let gdb = pid
    whileRunning(gdb)
    let watchdog = Task {
        try await Task.sleep(for: .seconds(30))
        kill(gdb, SIGKILL)
    }
    let status = await withCheckedContinuation { continuation in
        Thread.detachNewThread {
            var status: Int32 = 0
            while waitpid(gdb, &status, 0) == -1 && errno == EINTR {}
            continuation.resume(returning: status)
        }
    }
    watchdog.cancel()
    let printed = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    return printed + "[gdb exit status \(status >> 8)]\n"
}

/// The stub against the real gdb (`make deps` installs gdb-multiarch; without it these tests fail).
@Suite("Real gdb", .timeLimit(.minutes(1)))
struct RealGDBTests {
    @Test func gdbDebugsTheFakeMachine() async throws {
        var options = FakeTarget.Options()
        options.execFilePath = nil
        options.onResume = playMachine
        let target = FakeTarget(options)
        let server = GDBServer(endpoint: .tcp(host: "127.0.0.1", port: 0), target: target)
        let port = try #require(try await server.start()?.port)

        let output = try await runGDB(port: port, commands: [
            "show architecture",
            "p/x $pc",
            "p/x $x1",
            "p/x $cpsr",
            "p/x $v1.d.u[0]",
            "p $fpcr",
            "x/4xb 0x40000010",
            "set {unsigned int}0x40000020 = 0x12345678",
            "x/1xw 0x40000020",
            "info threads",
            "break *0x40000108",
            "continue",
            "stepi",
            "p/x $pc",
            "thread 2",
            "p/x $pc",
            "watch *(unsigned int *)0x40000800",
            "continue",
            "delete",
            "monitor help",
            "detach",
        ])
        await server.stop()

        func expectLine(_ line: String, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(output.contains(line), "gdb printed:\n\(output)", sourceLocation: sourceLocation)
        }
        expectLine("(currently \"aarch64\")")
        expectLine("$1 = 0x40000100")
        expectLine("$2 = 0x100000001")
        expectLine("$3 = 0x3c5")
        expectLine("$4 = 0x101010101010101")
        expectLine("$5 = 50331648")
        expectLine("0x40000010:\t0x10\t0x11\t0x12\t0x13")
        expectLine("0x40000020:\t0x12345678")
        expectLine("Thread 1.2")
        expectLine("Breakpoint 1, 0x0000000040000108")
        expectLine("$6 = 0x4000010c")
        expectLine("$7 = 0x40000200")
        expectLine("Hardware watchpoint 2: *(unsigned int *)0x40000800")
        expectLine("Old value = 50462976")  // 0x03020100, the fake's initial memory
        expectLine("New value = 4277009102")
        expectLine("help -- this text")
        expectLine("[Switching to thread 2 (Thread 1.2)]")
        expectLine("[Inferior 1 (process 1) detached]")
        expectLine("[gdb exit status 0]")
        // The one warning expected: this target names no program.
        #expect(output.components(separatedBy: "warning").count == 2, "gdb printed:\n\(output)")
        expectLine("warning: No executable has been specified")
        #expect(!output.lowercased().contains("error"), "gdb printed:\n\(output)")
        #expect(target.memory(at: 0x4000_0020, count: 4) == [0x78, 0x56, 0x34, 0x12])
        #expect(target.detaches == 1)
        #expect(target.breakpoints.isEmpty)
    }
}

private let crossAssembler = "/usr/bin/aarch64-linux-gnu-as"
private let crossLinker = "/usr/bin/aarch64-linux-gnu-ld"

/// Assembles a four-instruction program at 0x4000_0100 with the symbol `breakhere` at 0x4000_0108.
private func buildProgram() throws -> String {
    try requireTool(crossAssembler, package: "binutils-aarch64-linux-gnu")
    try requireTool(crossLinker, package: "binutils-aarch64-linux-gnu")
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("emud-gdbstub-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let source = directory.appendingPathComponent("prog.s").path
    let object = directory.appendingPathComponent("prog.o").path
    let program = directory.appendingPathComponent("prog.elf").path
    try ".text\n.globl _start\n_start:\n nop\n nop\n.globl breakhere\nbreakhere:\n nop\n nop\n"
        .write(toFile: source, atomically: true, encoding: .utf8)
    for (tool, arguments) in [
        (crossAssembler, ["-o", object, source]),
        (crossLinker, ["-Ttext=0x40000100", "-e", "_start", "-o", program, object]),
    ] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown) }
    }
    return program
}

@Suite(
    "Real gdb with a program",
    .timeLimit(.minutes(1)))
struct RealGDBProgramTests {
    @Test func gdbLoadsTheProgramTheTargetNames() async throws {
        let program = try buildProgram()
        defer { try? FileManager.default.removeItem(atPath: (program as NSString).deletingLastPathComponent) }
        var options = FakeTarget.Options()
        options.execFilePath = program
        options.execFileContents = FileManager.default.contents(atPath: program).map { [UInt8]($0) }
        options.onResume = playMachine
        let target = FakeTarget(options)
        let server = GDBServer(endpoint: .tcp(host: "127.0.0.1", port: 0), target: target)
        let port = try #require(try await server.start()?.port)

        let output = try await runGDB(port: port, commands: [
            "info symbol $pc",
            "break breakhere",
            "continue",
            "delete",
            "continue",
        ])
        await server.stop()
        #expect(output.contains("_start in section .text"), "gdb printed:\n\(output)")
        #expect(output.contains("Breakpoint 1, 0x0000000040000108 in breakhere ()"), "gdb printed:\n\(output)")
        #expect(output.contains("[Inferior 1 (process 1) exited with code 07]"), "gdb printed:\n\(output)")
        #expect(output.contains("[gdb exit status 0]"), "gdb printed:\n\(output)")
        // gdb fetches the program through the stub (vFile), which serves that one file and nothing
        // else, so it needs no local copy and does not warn that file transfer is unsupported.
        #expect(output.contains("Reading symbols from target:\(program)"), "gdb printed:\n\(output)")
        #expect(!output.contains("does not support file transfer"), "gdb printed:\n\(output)")
        #expect(await eventually { target.detaches == 1 })
    }
}

@Suite("Real gdb and Ctrl-C", .timeLimit(.minutes(1)))
struct RealGDBInterruptTests {
    @Test func ctrlCStopsARunningMachine() async throws {
        var options = FakeTarget.Options()
        options.execFilePath = nil
        options.onResume = { _, _ in }  // runs until interrupted
        options.onInterrupt = { target in
            let reporter = target.reporter
            Thread.detachNewThread { reporter?.targetStopped(.signal(.interrupt, thread: 2)) }
        }
        let target = FakeTarget(options)
        let server = GDBServer(endpoint: .tcp(host: "127.0.0.1", port: 0), target: target)
        let port = try #require(try await server.start()?.port)

        // gdb turns SIGINT into the 0x03 byte while the target runs.
        let output = try await runGDB(port: port, commands: ["continue", "p/x $pc", "detach"]) { gdb in
            Task {
                _ = await eventually { target.resumes.count == 1 }
                kill(gdb, SIGINT)
            }
        }
        await server.stop()
        #expect(target.interrupts == 1)
        #expect(output.contains("received signal SIGINT, Interrupt."), "gdb printed:\n\(output)")
        #expect(output.contains("[Switching to Thread 1.2]"), "gdb printed:\n\(output)")
        #expect(output.contains("$1 = 0x40000200"), "gdb printed:\n\(output)")
        #expect(output.contains("[Inferior 1 (process 1) detached]"), "gdb printed:\n\(output)")
    }
}
