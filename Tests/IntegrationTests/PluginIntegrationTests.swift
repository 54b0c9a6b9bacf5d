// Drives `emud run --plugin ...` (the release build, EMUD_BIN) with the sample plugins of contrib/plugins,
// built here through their Makefile: insn's count against emud's own and against QEMU's, every sample's
// report, and refusals on the command line.
// SPDX-License-Identifier: GPL-2.0-or-later

import Foundation
import Testing

/// How long one emud run may take before it is killed.
let pluginRunTimeoutSeconds: TimeInterval = 120
/// QEMU tracing every instruction of sort-O0 (28 M instructions) takes about two minutes here.
let qemuTraceTimeoutSeconds: TimeInterval = 900

/// The sample plugins, built once per test process with `make -C contrib/plugins OUT=...`.
struct SamplePlugins: Sendable {
    let directory: URL

    func path(_ name: String) -> String { directory.appendingPathComponent("lib\(name).so").path }

    /// `--plugin` argument: PATH[,key=value...]
    func spec(_ name: String, _ arguments: String...) -> String { ([path(name)] + arguments).joined(separator: ",") }

    static let repositoryRoot: URL = {
        if let root = ProcessInfo.processInfo.environment["EMUD_ROOT"], !root.isEmpty { return URL(fileURLWithPath: root) }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }()

    private static let task = Task { try await build(buildID: nil) }

    static func get() async throws -> SamplePlugins { try await task.value }

    /// Builds into a fresh temporary directory; with a build id, for --plugin-abi=strict.
    static func build(buildID: String?) async throws -> SamplePlugins {
        guard let make = findExecutable("make") else {
            throw TestEnvironmentError(description: "make is not installed: `apt-get install make`")
        }
        guard findExecutable("gcc") != nil else {
            throw TestEnvironmentError(description: "gcc is not installed; the sample plugins are C: `apt-get install gcc`")
        }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("emud-sample-plugins-\(ProcessInfo.processInfo.processIdentifier)-\(buildID == nil ? "plain" : "strict")")
        try? FileManager.default.removeItem(at: directory)
        var arguments = ["--no-print-directory", "-C", repositoryRoot.appendingPathComponent("contrib/plugins").path, "OUT=\(directory.path)"]
        if let buildID { arguments.append("BUILD_ID=\(buildID)") }
        let result = try await runProcess(make, arguments, timeout: 300)
        guard result.status == 0, !result.timedOut else {
            throw TestEnvironmentError(description: "make \(arguments.joined(separator: " ")) failed (\(result.ending)):\n"
                + String(decoding: result.standardOutput + result.standardError, as: UTF8.self))
        }
        return SamplePlugins(directory: directory)
    }
}

/// What `emud run` printed on stderr, taken apart.
struct EmudRunReport {
    let process: ProcessOutput
    var standardError: String { String(decoding: process.standardError, as: UTF8.self) }

    /// emud's own count (`--stats`).
    var emudInstructions: UInt64? { number(in: standardError, after: "emud-stats: instructions=") }

    /// The output of the plugin section headed `plugin NAME (id N):`, up to the next section or stats line.
    func pluginOutput(id: Int) -> String? {
        let lines = standardError.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0.hasPrefix("plugin ") && $0.hasSuffix("(id \(id)):") }) else { return nil }
        let rest = lines[(start + 1)...].prefix { !$0.hasPrefix("plugin ") && !$0.hasPrefix("emud-stats:") && !$0.hasPrefix("emud:") }
        return rest.joined(separator: "\n")
    }
}

func number(in text: String, after label: String) -> UInt64? {
    guard let range = text.range(of: label) else { return nil }
    return UInt64(text[range.upperBound...].prefix { $0.isNumber })
}

func runEmud(_ environment: GuestTestEnvironment, _ arguments: [String]) async throws -> EmudRunReport {
    EmudRunReport(process: try await runProcess(environment.emud, arguments, timeout: pluginRunTimeoutSeconds))
}

@Suite("Plugins under emud run")
struct PluginIntegrationTests {
    @Test("insn's count equals emud's own --stats count", arguments: [
        "sort-O2", "svc-O0", "selfmod-O0", "timer-O0", "uart-O0", "fp-O2", "el0-O0",
    ], ["inline=on", "inline=off"])
    func insnMatchesStats(guest: String, mode: String) async throws {
        let environment = try GuestTestEnvironment.require()
        let plugins = try await SamplePlugins.get()
        let elf = environment.guests.appendingPathComponent("\(guest).elf").path
        let run = try await runEmud(environment, ["run", "--stats", "--plugin", plugins.spec("insn", mode), elf])
        #expect(!run.process.timedOut && !run.process.killedBySignal, "\(guest): \(run.process.ending)")
        let stats = try #require(run.emudInstructions, "no emud-stats line:\n\(run.standardError)")
        let output = try #require(run.pluginOutput(id: 1), "no output from insn:\n\(run.standardError)")
        #expect(number(in: output, after: "insns: ") == stats, "\(guest) \(mode): insn said \(output.debugDescription), emud counted \(stats)")
    }

    /// Counts the instructions QEMU executes: with -singlestep every block is one instruction and
    /// `-d exec,nochain` logs one `Trace` line per block. The log goes through a pipe of its own (fd 3), so
    /// the guest's console output cannot split its lines, and is counted without being stored.
    func qemuInstructionCount(_ environment: GuestTestEnvironment, elf: String) async throws -> (count: UInt64, status: Int32, console: String) {
        let errors = FileManager.default.temporaryDirectory.appendingPathComponent("qemu-trace-\(UUID().uuidString).err")
        let console = FileManager.default.temporaryDirectory.appendingPathComponent("qemu-trace-\(UUID().uuidString).out")
        defer {
            try? FileManager.default.removeItem(at: errors)
            try? FileManager.default.removeItem(at: console)
        }
        let qemu = ([environment.qemu.path] + qemuArguments + [elf, "-singlestep", "-d", "exec,nochain", "-D", "/dev/fd/3"])
            .map { "'\($0)'" }.joined(separator: " ")
        let script = "{ \(qemu) 3>&1 >'\(console.path)' 2>'\(errors.path)' </dev/null; echo \"qemu-status $?\" >&2; } | grep -c '^Trace'"
        let result = try await runProcess(URL(fileURLWithPath: "/bin/sh"), ["-c", script], timeout: qemuTraceTimeoutSeconds)
        let shellErrors = String(decoding: result.standardError, as: UTF8.self)
        guard !result.timedOut, let status = number(in: shellErrors, after: "qemu-status ").map({ Int32($0) }),
              let count = UInt64(String(decoding: result.standardOutput, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            throw TestEnvironmentError(description: "tracing \(elf) under QEMU failed (\(result.ending)): \(shellErrors)")
        }
        let output = ((try? String(contentsOf: console, encoding: .utf8)) ?? "") + ((try? String(contentsOf: errors, encoding: .utf8)) ?? "")
        return (count, status, output)
    }

    @Test("insn's count equals QEMU's for the same ELF", .timeLimit(.minutes(30)), arguments: [
        "sieve-O0", "sort-O0", "recursion-O0", "selfmod-O0", "svc-O0", "uart-O0",
    ])
    func insnMatchesQEMU(guest: String) async throws {
        let environment = try GuestTestEnvironment.require()
        let plugins = try await SamplePlugins.get()
        let elf = environment.guests.appendingPathComponent("\(guest).elf").path
        let reference = try await qemuInstructionCount(environment, elf: elf)
        let run = try await runEmud(environment, ["run", "--stats", "--plugin", plugins.spec("insn"), elf])
        let output = try #require(run.pluginOutput(id: 1), "no output from insn:\n\(run.standardError)")
        let counted = number(in: output, after: "insns: ")
        // emud writes UART and semihosting output to stdout; QEMU the first to stdout, the second to stderr.
        let emudConsole = String(decoding: run.process.standardOutput, as: UTF8.self)
        let sameRun = run.process.status == reference.status && emudConsole == reference.console
        #expect(counted == reference.count, """
            \(guest): QEMU executed \(reference.count) instructions, insn under emud counted \(String(describing: counted)) \
            (emud's --stats: \(String(describing: run.emudInstructions)))\
            \(sameRun ? "" : "; the two runs already differ in console output or exit status (QEMU \(reference.status), emud \(run.process.status)), see the guest program tests")
            """)
    }

    @Test("every sample plugin runs on a guest and reports", arguments: [
        ("empty", [String]()), ("insn", []), ("bb", ["inline=off"]), ("hotblocks", ["n=4"]), ("hotpages", ["n=3"]),
        ("mem", ["track=rw"]), ("howvec", ["mnemonics=on"]), ("drcov", []),
    ])
    func sampleReports(name: String, arguments: [String]) async throws {
        let environment = try GuestTestEnvironment.require()
        let plugins = try await SamplePlugins.get()
        let elf = environment.guests.appendingPathComponent("uart-O2.elf").path
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("drcov-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let extra = name == "drcov" ? ["file=\(log.path)", "module=\(elf)"] : arguments
        let run = try await runEmud(environment, ["run", "--cpus", "2", "--plugin", ([plugins.path(name)] + extra).joined(separator: ","), elf])
        #expect(run.process.status == 0 && !run.process.timedOut, "\(name): \(run.process.ending)\n\(run.standardError)")
        #expect(run.standardError.contains("loaded plugin \(plugins.path(name))"))
        let output = run.pluginOutput(id: 1) ?? ""
        switch name {
        case "empty": #expect(output.isEmpty)
        case "insn": #expect(number(in: output, after: "insns: ").map { $0 > 0 } == true, "\(output)")
        case "bb": #expect(output.hasPrefix("bb: ") && output.contains(" insns: "), "\(output)")
        case "hotblocks": #expect(output.contains("the 4 most executed") && output.split(separator: "\n").count == 6, "\(output)")
        case "hotpages": #expect(output.contains("the 3 most accessed") && output.split(separator: "\n").count == 5, "\(output)")
        case "mem": #expect(output.contains("mem: loads ") && output.contains("mem: device pl011: reads "), "\(output)")
        case "howvec":
            #expect(output.contains("load-store") && output.contains("branch-exception-system"), "\(output)")
            #expect(output.contains("by mnemonic:") && output.contains("\nldr "), "\(output)")
        case "drcov":
            #expect(output.contains("blocks written to \(log.path)"), "\(output)")
            try checkDrcov(log, module: elf)
        default: Issue.record("no check for \(name)")
        }
    }

    /// Memory callbacks under the translator: an instruction that has them is run by the interpreter inside
    /// translated code, then its callbacks; the counts must be the interpreter's (the reference engine), to
    /// the access.
    @Test("mem and hotpages report the same accesses under both engines", arguments: [("mem", "track=rw"), ("hotpages", "n=5")])
    func memoryCallbacksUnderBothEngines(name: String, argument: String) async throws {
        let environment = try GuestTestEnvironment.require()
        let plugins = try await SamplePlugins.get()
        let elf = environment.guests.appendingPathComponent("sort-O2.elf").path
        var outputs: [String] = []
        for engine in ["interp", "jit"] {
            let run = try await runEmud(environment, ["run", "--engine", engine, "--icount", "0",
                                                      "--plugin", "\(plugins.path(name)),\(argument)", elf])
            #expect(run.process.status == 0 && !run.process.timedOut, "\(engine): \(run.process.ending)\n\(run.standardError)")
            outputs.append(run.pluginOutput(id: 1) ?? "")
        }
        if name == "mem" {
            #expect(number(in: outputs[0], after: "mem: loads ").map { $0 > 10_000 } == true, "\(outputs[0])")
        }
        #expect(!outputs[0].isEmpty && outputs[0] == outputs[1], "interp:\n\(outputs[0])\njit:\n\(outputs[1])")
    }

    /// Reads a drcov log as coverage tools do: the text header, one module, then `count` 8-byte entries
    /// (uint32 offset, uint16 size, uint16 module id), each inside the module.
    func checkDrcov(_ url: URL, module: String) throws {
        let bytes = try [UInt8](Data(contentsOf: url))
        var lines: [String] = [], position = 0
        while lines.count < 6, let newline = bytes[position...].firstIndex(of: 0x0a) {
            lines.append(String(decoding: bytes[position..<newline], as: UTF8.self))
            position = newline + 1
        }
        try #require(lines.count == 6, "drcov header: \(lines)")
        #expect(lines[0] == "DRCOV VERSION: 2")
        #expect(lines[1].hasPrefix("DRCOV FLAVOR: "))
        #expect(lines[2] == "Module Table: version 2, count 1")
        #expect(lines[3] == "Columns: id, base, end, entry, path")
        let fields = lines[4].trimmingCharacters(in: .whitespaces).components(separatedBy: ", ")
        try #require(fields.count == 5, "module line: \(lines[4])")
        #expect(fields[0] == "0" && fields[4] == module)
        let base = try #require(UInt64(fields[1].dropFirst(2), radix: 16)), end = try #require(UInt64(fields[2].dropFirst(2), radix: 16))
        #expect(base == 0x4000_0000 && end > base, "module \(fields)")
        let count = try #require(number(in: lines[5], after: "BB Table: "))
        #expect(lines[5] == "BB Table: \(count) bbs")
        #expect(bytes.count - position == Int(count) * 8, "\(count) entries of 8 bytes")
        #expect(count > 10)
        for i in 0..<Int(count) where position + i * 8 + 8 <= bytes.count {
            let e = bytes[(position + i * 8)...]
            let offset = UInt64(e[e.startIndex]) | UInt64(e[e.startIndex + 1]) << 8 | UInt64(e[e.startIndex + 2]) << 16 | UInt64(e[e.startIndex + 3]) << 24
            let size = UInt64(e[e.startIndex + 4]) | UInt64(e[e.startIndex + 5]) << 8
            let moduleID = UInt16(e[e.startIndex + 6]) | UInt16(e[e.startIndex + 7]) << 8
            #expect(moduleID == 0 && size > 0 && size % 4 == 0 && offset % 4 == 0 && base + offset + size <= end,
                    "entry \(i): offset \(offset) size \(size) module \(moduleID)")
        }
    }

    @Test("plugin options: an unknown one is refused on the command line", arguments: [
        ("empty", "verbose=1"), ("insn", "inline=maybe"), ("bb", "inline"), ("hotblocks", "n=0"), ("hotpages", "n=ten"),
        ("mem", "track=x"), ("howvec", "mnemonic=on"), ("drcov", "output=x.log"),
    ])
    func unknownOption(name: String, option: String) async throws {
        let environment = try GuestTestEnvironment.require()
        let plugins = try await SamplePlugins.get()
        let elf = environment.guests.appendingPathComponent("svc-O0.elf").path
        let run = try await runEmud(environment, ["run", "--plugin", plugins.spec(name, option), elf])
        #expect(run.process.status != 0 && !run.process.timedOut && !run.process.killedBySignal, "\(run.process.ending)")
        #expect(run.standardError.contains("\(name): unknown or invalid option '\(option)'"), "\(run.standardError)")
        #expect(run.standardError.contains("plugin \(plugins.path(name)) refused to install"), "\(run.standardError)")
        #expect(run.process.standardOutput.isEmpty, "the guest never ran")
    }

    @Test("refusals on the command line exit non-zero and say why")
    func refusals() async throws {
        let environment = try GuestTestEnvironment.require()
        let plugins = try await SamplePlugins.get()
        let elf = environment.guests.appendingPathComponent("svc-O0.elf").path
        let missing = plugins.directory.appendingPathComponent("libmissing.so").path
        var run = try await runEmud(environment, ["run", "--plugin", missing, elf])
        #expect(run.process.status != 0 && run.standardError.contains("plugin \(missing): no such file"), "\(run.standardError)")

        let notELF = plugins.directory.appendingPathComponent("libtext.so")
        try "not a plugin\n".write(to: notELF, atomically: true, encoding: .utf8)
        run = try await runEmud(environment, ["run", "--plugin", notELF.path, elf])
        #expect(run.process.status != 0 && run.standardError.contains("is not a loadable shared object: not an ELF file"), "\(run.standardError)")

        // Strict ABI mode wants the build id of this very emud binary.
        run = try await runEmud(environment, ["run", "--plugin-abi=strict", "--plugin", plugins.path("insn"), elf])
        #expect(run.process.status != 0 && run.standardError.contains("--plugin-abi=strict"), "\(run.standardError)")
        #expect(run.standardError.contains("(none: emud_plugin_build_id not exported)"), "\(run.standardError)")

        run = try await runEmud(environment, ["run", "--plugin-abi=sloppy", "--plugin", plugins.path("insn"), elf])
        #expect(run.process.status != 0 && run.standardError.contains("--plugin-abi must be 'version' or 'strict'"), "\(run.standardError)")
    }

    @Test("strict ABI mode loads plugins built with `emud plugin-build-id`")
    func strictBuildID() async throws {
        let environment = try GuestTestEnvironment.require()
        let idRun = try await runProcess(environment.emud, ["plugin-build-id"], timeout: 30)
        let buildID = String(decoding: idRun.standardOutput, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(idRun.status == 0 && buildID.hasPrefix("emud-"), "emud plugin-build-id printed \(buildID.debugDescription)")
        let strictPlugins = try await SamplePlugins.build(buildID: buildID)
        let elf = environment.guests.appendingPathComponent("svc-O0.elf").path
        let run = try await runEmud(environment, ["run", "--stats", "--plugin-abi=strict", "--plugin", strictPlugins.path("insn"), elf])
        #expect(run.process.status == 0, "\(run.standardError)")
        let output = run.pluginOutput(id: 1) ?? ""
        #expect(number(in: output, after: "insns: ") == run.emudInstructions, "\(run.standardError)")
    }

    @Test("an incompatible license is refused unless allowed, and then taints")
    func incompatibleLicense() async throws {
        let environment = try GuestTestEnvironment.require()
        let plugins = try await SamplePlugins.get()
        let source = plugins.directory.appendingPathComponent("proprietary.c")
        try """
            #include "emud-plugin.h"
            EMUD_PLUGIN_EXPORT const int emud_plugin_api_version = EMUD_PLUGIN_API_VERSION;
            EMUD_PLUGIN_EXPORT const char emud_plugin_license[] = "LicenseRef-Proprietary";
            EMUD_PLUGIN_EXPORT int emud_plugin_install(emud_plugin_id_t id, const struct emud_plugin_info *info, int argc, char **argv)
            { emud_plugin_init(info); return 0; }

            """.write(to: source, atomically: true, encoding: .utf8)
        let library = plugins.directory.appendingPathComponent("libproprietary.so").path
        let include = SamplePlugins.repositoryRoot.appendingPathComponent("Sources/CEmudPlugin/include").path
        let gcc = try #require(findExecutable("gcc"), "gcc is not installed: `apt-get install gcc`")
        let built = try await runProcess(gcc, ["-shared", "-fPIC", "-I", include, "-o", library, source.path], timeout: 60)
        try #require(built.status == 0, "\(String(decoding: built.standardError, as: UTF8.self))")
        let elf = environment.guests.appendingPathComponent("svc-O0.elf").path

        var run = try await runEmud(environment, ["run", "--plugin", library, elf])
        #expect(run.process.status != 0, "\(run.process.ending)")
        #expect(run.standardError.contains("declares license 'LicenseRef-Proprietary', which is not GPL-compatible"), "\(run.standardError)")
        #expect(run.standardError.contains("--allow-incompatible-plugins"), "\(run.standardError)")

        run = try await runEmud(environment, ["run", "--allow-incompatible-plugins", "--plugin", library, elf])
        #expect(run.process.status == 0, "\(run.standardError)")
        #expect(run.standardError.contains("tainted"), "\(run.standardError)")
    }
}
