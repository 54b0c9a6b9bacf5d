// Builds the sample plugins and the fixtures with gcc, finds guest programs, and runs machines for the
// plugin host tests.
// SPDX-License-Identifier: GPL-2.0-or-later

import Foundation
import Machine
@testable import Plugins

/// A test precondition that is not met, with what to do about it.
struct PluginTestError: Error, CustomStringConvertible {
    var description: String
}

/// The repository: EMUD_ROOT (set by `make test`), else found from this file's path.
let repositoryRoot: URL = {
    if let root = ProcessInfo.processInfo.environment["EMUD_ROOT"], !root.isEmpty {
        return URL(fileURLWithPath: root)
    }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}()

/// The sample plugins of contrib/plugins, by name.
let samplePluginNames = ["empty", "insn", "bb", "hotblocks", "hotpages", "mem", "howvec", "drcov"]

/// The build id the strict-mode fixture is built with.
let testBuildID = "emud-test-build-1"

/// Every plugin the tests load, built once per test process into a temporary directory.
struct BuiltPlugins: Sendable {
    let directory: URL
    /// `lib<name>.so` of a sample.
    func sample(_ name: String) -> String { directory.appendingPathComponent("lib\(name).so").path }
    func fixture(_ fixture: FixturePlugin) -> String { directory.appendingPathComponent("lib\(fixture.rawValue).so").path }
    /// insn, built exporting `emud_plugin_build_id` = `testBuildID`.
    var insnWithBuildID: String { directory.appendingPathComponent("libinsn-build-id.so").path }
    /// A file that is not ELF at all, named like a plugin.
    var notELF: String { directory.appendingPathComponent("libnot-elf.so").path }
    /// The SMP guest of `smpGuestSource`.
    var smpGuest: String { directory.appendingPathComponent("smp.elf").path }

    private static let built: Result<BuiltPlugins, PluginTestError> = Result { try build() }.mapError {
        $0 as? PluginTestError ?? PluginTestError(description: "\($0)")
    }

    /// Builds on first use; later calls return the same directory (or the same error).
    static func get() throws -> BuiltPlugins { try built.get() }

    private static func build() throws -> BuiltPlugins {
        guard let gcc = findExecutable("gcc") else {
            throw PluginTestError(description: "gcc is not installed; the plugin tests build C plugins with it: `apt-get install gcc`")
        }
        guard let crossGCC = findExecutable("aarch64-linux-gnu-gcc") else {
            throw PluginTestError(description:
                "aarch64-linux-gnu-gcc is not installed; the plugin tests build a guest with it: `apt-get install gcc-aarch64-linux-gnu` (or run `make test` as root)")
        }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("emud-plugin-tests-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let plugins = BuiltPlugins(directory: directory)
        let include = repositoryRoot.appendingPathComponent("Sources/CEmudPlugin/include").path
        let contrib = repositoryRoot.appendingPathComponent("contrib/plugins")
        let flags = ["-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-I", include]

        for name in samplePluginNames {
            try compile(gcc, flags + ["-o", plugins.sample(name), contrib.appendingPathComponent("\(name).c").path, "-lpthread"])
        }
        try compile(gcc, flags + ["-DEMUD_PLUGIN_BUILD_ID=\"\(testBuildID)\"", "-o", plugins.insnWithBuildID,
                                  contrib.appendingPathComponent("insn.c").path, "-lpthread"])
        for fixture in FixturePlugin.allCases {
            let source = directory.appendingPathComponent("\(fixture.rawValue).c")
            try fixture.source.write(to: source, atomically: true, encoding: .utf8)
            try compile(gcc, ["-shared", "-fPIC", "-O2", "-Wall", "-Wno-unused-function", "-Wno-unused-variable", "-I", include,
                              "-o", plugins.fixture(fixture), source.path])
        }
        try "this is not a shared object\n".write(toFile: plugins.notELF, atomically: true, encoding: .utf8)
        let smpSource = directory.appendingPathComponent("smp.S")
        try smpGuestSource.write(to: smpSource, atomically: true, encoding: .utf8)
        try compile(crossGCC, ["-nostdlib", "-static", "-Wl,-Ttext=0x40080000", "-Wl,--no-warn-rwx-segments",
                               "-Wl,--build-id=none", "-o", plugins.smpGuest, smpSource.path])
        return plugins
    }

    private static func compile(_ compiler: URL, _ arguments: [String]) throws {
        let result = try runTool(compiler, arguments, timeout: 120)
        guard result.status == 0 else {
            throw PluginTestError(description: "\(compiler.lastPathComponent) \(arguments.joined(separator: " ")) failed (\(result.ending)):\n\(result.output)")
        }
    }
}

struct ToolResult {
    var status: Int32
    var output: String
    var timedOut: Bool
    var ending: String { timedOut ? "killed after timing out" : "exit status \(status)" }
}

/// Runs a tool to its end (killing it after `timeout` seconds), collecting stdout and stderr together.
func runTool(_ executable: URL, _ arguments: [String], timeout: TimeInterval) throws -> ToolResult {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.standardInput = FileHandle.nullDevice
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    let exited = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in exited.signal() }
    try process.run()
    let collected = OutputCollector(pipe.fileHandleForReading)
    var timedOut = false
    if exited.wait(timeout: .now() + timeout) == .timedOut {
        timedOut = true
        process.terminate()
        if exited.wait(timeout: .now() + 5) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            exited.wait()
        }
    }
    return ToolResult(status: process.terminationStatus, output: collected.wait(), timedOut: timedOut)
}

/// Drains a pipe on a thread of its own, so a chatty child cannot fill it and stall.
private final class OutputCollector: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var data = Data()

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    func wait() -> String {
        done.wait()
        return String(decoding: data, as: UTF8.self)
    }
}

func findExecutable(_ name: String) -> URL? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    for directory in path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"] where !directory.isEmpty {
        let candidate = URL(fileURLWithPath: directory).appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    }
    return nil
}

/// A guest program built by `make guests` (EMUD_GUESTS).
func guestPath(_ name: String) throws -> String {
    guard let directory = ProcessInfo.processInfo.environment["EMUD_GUESTS"], !directory.isEmpty else {
        throw PluginTestError(description:
            "EMUD_GUESTS is not set: run `make test`, which builds the guest programs of Tests/Guests and points EMUD_GUESTS at them")
    }
    let path = URL(fileURLWithPath: directory).appendingPathComponent(name).path
    guard FileManager.default.fileExists(atPath: path) else {
        throw PluginTestError(description: "\(path) is missing: run `make test` (or `make guests`), which builds Tests/Guests")
    }
    return path
}

/// Log lines a `PluginHost` writes, kept for assertions.
final class LogRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    func record(_ line: String, _ fields: [String: String]) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
}

/// A one-vCPU (or `cpus`) machine with `guest` loaded, not started, and a plugin host for it.
func makeMachine(guest: String, cpus: Int = 1, policy: PluginPolicy = PluginPolicy(), log: LogRecorder? = nil)
    throws -> (Machine, PluginHost)
{
    let machine = try Machine(configuration: MachineConfiguration(cpus: cpus), console: Console { _ in })
    try machine.load(ELFLoader.load(path: guest))
    let host = PluginHost(machine: machine, policy: policy, log: { line, fields in log?.record(line, fields) })
    return (machine, host)
}

/// Starts the machine and waits for the guest to end it; nil (after stopping it) if it did not in time.
func runToCompletion(_ machine: Machine, timeout: TimeInterval = 120) -> MachineState? {
    machine.start()
    let final = machine.waitForFinish(timeout: timeout)
    machine.shutdown()
    return final
}

/// The JSON object a plugin's query returned.
func jsonObject(_ text: String?) -> [String: Any]? {
    guard let text, let data = text.data(using: .utf8) else { return nil }
    return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
}

/// An integer field of a JSON report.
func jsonInteger(_ text: String?, _ key: String) -> UInt64? {
    (jsonObject(text)?[key] as? NSNumber)?.uint64Value
}

/// The number after `label` in a plugin's text output ("insns: 123" -> 123).
func reportedNumber(_ output: String, after label: String) -> UInt64? {
    guard let range = output.range(of: label) else { return nil }
    return UInt64(output[range.upperBound...].prefix { $0 == " " || $0.isNumber }.trimmingCharacters(in: .whitespaces))
}
