// The plugin host in-process: refusals, license and build-id policy, exact instruction counts, several
// loads of one plugin, install failures, bogus handles, and hot load/unload while a guest runs.
// SPDX-License-Identifier: GPL-2.0-or-later

import Foundation
import Machine
import Testing
@testable import Plugins

/// A small guest that takes exceptions (SVC) and ends with status 0: quick even in a debug build.
let quickGuest = "svc-O0.elf"
/// A guest that runs for minutes in a debug build: the target of hot loads.
let longGuest = "bench-qsort.elf"

/// One way a plugin is refused, how to provoke it, and the error that must come back.
enum Refusal: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case missingFile, notELF, foreignELF, withoutSymbols, wrongAPIVersion, missingLicense, proprietaryLicense,
         missingInstall, failingInstall, unknownOption, strictWithoutBuildID, strictWrongBuildID

    var testDescription: String { rawValue }

    struct Attempt {
        var path: String
        var arguments: [String] = []
        var policy = PluginPolicy()
    }

    func attempt(_ plugins: BuiltPlugins, marker: String) throws -> Attempt {
        switch self {
        case .missingFile: return Attempt(path: plugins.directory.appendingPathComponent("libnothing-here.so").path)
        case .notELF: return Attempt(path: plugins.notELF)
        case .foreignELF: return Attempt(path: try guestPath(quickGuest))
        case .withoutSymbols: return Attempt(path: plugins.fixture(.withoutSymbols))
        case .wrongAPIVersion: return Attempt(path: plugins.fixture(.wrongAPIVersion))
        case .missingLicense: return Attempt(path: plugins.fixture(.missingLicense))
        case .proprietaryLicense: return Attempt(path: plugins.fixture(.proprietaryLicense))
        case .missingInstall: return Attempt(path: plugins.fixture(.missingInstall))
        case .failingInstall: return Attempt(path: plugins.fixture(.failingInstall), arguments: ["marker=\(marker)"])
        case .unknownOption: return Attempt(path: plugins.sample("insn"), arguments: ["inline=on", "bogus=1"])
        case .strictWithoutBuildID:
            var policy = PluginPolicy(strictABI: true)
            policy.buildID = testBuildID
            return Attempt(path: plugins.sample("insn"), policy: policy)
        case .strictWrongBuildID:
            var policy = PluginPolicy(strictABI: true)
            policy.buildID = "emud-some-other-build"
            return Attempt(path: plugins.insnWithBuildID, policy: policy)
        }
    }

    func isExpected(_ error: PluginError, path: String) -> Bool {
        switch (self, error) {
        case (.missingFile, .notFound(path)): return true
        case (.notELF, .notLoadable(path, "not an ELF file")): return true
        case (.foreignELF, .notLoadable(path, let why)): return !why.isEmpty
        case (.withoutSymbols, .missingSymbol(path, "emud_plugin_api_version")): return true
        case (.wrongAPIVersion, .apiVersionMismatch(path, 2, 1)): return true
        case (.missingLicense, .missingLicense(path)): return true
        case (.proprietaryLicense, .incompatibleLicense(path, "LicenseRef-Proprietary", let why)): return why.contains("LicenseRef-Proprietary")
        case (.missingInstall, .missingSymbol(path, "emud_plugin_install")): return true
        case (.failingInstall, .installFailed(path, -1)), (.unknownOption, .installFailed(path, -1)): return true
        case (.strictWithoutBuildID, .buildIDMismatch(path, nil, testBuildID)): return true
        case (.strictWrongBuildID, .buildIDMismatch(path, testBuildID, "emud-some-other-build")): return true
        default: return false
        }
    }
}

@Suite("Plugin host", .serialized)
struct PluginHostTests {
    // MARK: refusals and policy

    @Test("each refusal names the file, loads nothing, and leaves the machine running", arguments: Refusal.allCases)
    func refusal(_ refusal: Refusal) throws {
        let plugins = try BuiltPlugins.get()
        let marker = plugins.directory.appendingPathComponent("marker-\(refusal.rawValue)-\(UUID().uuidString)").path
        let attempt = try refusal.attempt(plugins, marker: marker)
        let log = LogRecorder()
        let (machine, host) = try makeMachine(guest: try guestPath(quickGuest), policy: attempt.policy, log: log)

        let error = #expect(throws: PluginError.self) { try host.load(path: attempt.path, arguments: attempt.arguments) }
        let refused = try #require(error)
        #expect(refusal.isExpected(refused, path: attempt.path), "unexpected error: \(refused)")
        #expect(refused.description.contains(attempt.path), "the message names the file: \(refused)")
        #expect(host.loaded.isEmpty)
        #expect(!host.tainted)
        if refusal == .unknownOption {
            #expect(log.all.contains { $0.contains("unknown or invalid option 'bogus=1'") }, "insn says why: \(log.all)")
        }

        // The machine runs, and a plugin loaded afterwards sees every instruction.
        var policy = attempt.policy
        policy.strictABI = false
        host.policy = policy
        let insn = try host.load(path: plugins.sample("insn"))
        #expect(runToCompletion(machine) == .exited(0))
        #expect(jsonInteger(try host.query(id: insn.id).report, "insns") == machine.instructionsExecuted)
        if refusal == .failingInstall {
            let calls = (try? String(contentsOfFile: marker, encoding: .utf8)) ?? ""
            #expect(calls == "install\n", "a refused plugin's callbacks ran: \(calls.debugDescription)")
        }
    }

    @Test("an incompatible license loads only when allowed, and taints the host")
    func incompatibleLicenseTaints() throws {
        let plugins = try BuiltPlugins.get()
        let log = LogRecorder()
        let (machine, host) = try makeMachine(guest: try guestPath(quickGuest),
                                              policy: PluginPolicy(allowIncompatibleLicenses: true), log: log)
        let info = try host.load(path: plugins.fixture(.proprietaryLicense))
        #expect(!info.gplCompatible)
        #expect(info.license == "LicenseRef-Proprietary")
        #expect(host.tainted)
        #expect(log.all.contains { $0.contains("tainted") }, "the log says so: \(log.all)")
        #expect(runToCompletion(machine) == .exited(0))
        #expect(host.unloadAll().count == 1)
        #expect(host.tainted, "unloading does not untaint")
    }

    @Test("MIT OR Apache-2.0 is compatible: it loads without tainting")
    func permissiveDualLicense() throws {
        let plugins = try BuiltPlugins.get()
        let (machine, host) = try makeMachine(guest: try guestPath(quickGuest))
        let path = plugins.fixture(.permissiveDualLicense)
        let info = try host.load(path: path)
        #expect(info.gplCompatible)
        #expect(info.license == "MIT OR Apache-2.0")
        #expect(info.path == path && info.name == "libmit-or-apache.so")
        #expect(info.sha256.count == 64 && info.sha256.allSatisfy(\.isHexDigit))
        #expect(!host.tainted)
        #expect(runToCompletion(machine) == .exited(0))
    }

    @Test("strict ABI mode loads a plugin whose build id matches; other modes ignore build ids")
    func strictBuildID() throws {
        let plugins = try BuiltPlugins.get()
        #expect(PluginPolicy().buildID == PluginBuildID.current)
        #expect(PluginBuildID.current.hasPrefix("emud-1-"))
        var strict = PluginPolicy(strictABI: true)
        strict.buildID = testBuildID
        let (machine, host) = try makeMachine(guest: try guestPath(quickGuest), policy: strict)
        let matching = try host.load(path: plugins.insnWithBuildID)
        host.policy = PluginPolicy()
        host.policy.buildID = "emud-some-other-build"
        let lenient = try host.load(path: plugins.insnWithBuildID, arguments: ["inline=off"])
        let plain = try host.load(path: plugins.sample("insn"))
        #expect(runToCompletion(machine) == .exited(0))
        for info in [matching, lenient, plain] {
            #expect(jsonInteger(try host.query(id: info.id).report, "insns") == machine.instructionsExecuted)
        }
    }

    @Test("unknown plugin ids are refused")
    func unknownID() throws {
        let (_, host) = try makeMachine(guest: try guestPath(quickGuest))
        #expect(throws: PluginError.unknownPlugin(987_654)) { try host.unload(id: 987_654) }
        #expect(throws: PluginError.unknownPlugin(987_654)) { _ = try host.query(id: 987_654) }
    }

    // MARK: counting

    struct CountingCase: Sendable, CustomTestStringConvertible {
        var guest: String
        var cpus = 1
        var testDescription: String { cpus == 1 ? guest : "\(guest) on \(cpus) vCPUs" }
    }

    /// Exceptions (svc, dabort), code writes that end blocks early (selfmod), WFI and interrupts (timer),
    /// and vCPUs running at once (the SMP fixture).
    static let countingCases = [
        CountingCase(guest: "svc-O0.elf"), CountingCase(guest: "selfmod-O0.elf"), CountingCase(guest: "dabort-O2.elf"),
        CountingCase(guest: "timer-O0.elf"), CountingCase(guest: "arith-O2.elf"), CountingCase(guest: "smp", cpus: 4),
    ]

    /// Runs the machine until its guest exits; the number of instructions it executed, or nil (recorded).
    static func runToExit(_ machine: Machine, _ guest: String) -> UInt64? {
        let final = runToCompletion(machine)
        guard case .exited? = final else {
            Issue.record("\(guest) did not end: \(String(describing: final))")
            return nil
        }
        #expect(machine.instructionsExecuted > 0)
        return machine.instructionsExecuted
    }

    static func guest(_ name: String, _ plugins: BuiltPlugins) throws -> String {
        name == "smp" ? plugins.smpGuest : try guestPath(name)
    }

    @Test("insn, inline and by callback, counts exactly what emud counts", arguments: countingCases)
    func insnIsExact(_ run: CountingCase) throws {
        let plugins = try BuiltPlugins.get()
        let (machine, host) = try makeMachine(guest: try Self.guest(run.guest, plugins), cpus: run.cpus)
        let inline = try host.load(path: plugins.sample("insn"), arguments: ["inline=on"])
        let callback = try host.load(path: plugins.sample("insn"), arguments: ["inline=off"])
        let bb = try host.load(path: plugins.sample("bb"))
        guard let executed = Self.runToExit(machine, run.guest) else { return }
        #expect(jsonInteger(try host.query(id: inline.id).report, "insns") == executed, "inline=on, query")
        #expect(jsonInteger(try host.query(id: callback.id).report, "insns") == executed, "inline=off, query")
        let bbInsns = try #require(jsonInteger(try host.query(id: bb.id).report, "insns"))
        #expect(bbInsns >= executed, "bb counts whole blocks, so never less than was executed")

        let outputs = host.unloadAll()
        #expect(outputs.map(\.0.id) == [inline.id, callback.id, bb.id], "unloadAll reports in load order")
        for (info, output) in outputs where info.name == "libinsn.so" {
            #expect(reportedNumber(output, after: "insns: ") == executed,
                    "\(info.arguments): at-exit output \(output.debugDescription), emud counted \(executed)")
        }
        #expect(host.loaded.isEmpty)
    }

    @Test("insn inline alone (its adds folded into one per block) counts exactly what emud counts, faults and exceptions included",
          arguments: countingCases)
    func foldedInlineIsExact(_ run: CountingCase) throws {
        let plugins = try BuiltPlugins.get()
        let (machine, host) = try makeMachine(guest: try Self.guest(run.guest, plugins), cpus: run.cpus)
        let inline = try host.load(path: plugins.sample("insn"), arguments: ["inline=on"])
        guard let executed = Self.runToExit(machine, run.guest) else { return }
        #expect(jsonInteger(try host.query(id: inline.id).report, "insns") == executed)
        _ = host.unloadAll()
    }

    @Test("bb, inline and by callback, agrees with insn on code that does not fault", arguments: ["sort-O2.elf", "arith-O0.elf", "smp"])
    func bbAgreesWithInsn(_ guest: String) throws {
        let plugins = try BuiltPlugins.get()
        let (machine, host) = try makeMachine(guest: try Self.guest(guest, plugins), cpus: guest == "smp" ? 3 : 1)
        let insn = try host.load(path: plugins.sample("insn"))
        let inline = try host.load(path: plugins.sample("bb"), arguments: ["inline=on"])
        let callback = try host.load(path: plugins.sample("bb"), arguments: ["inline=off"])
        #expect(runToCompletion(machine, timeout: 300) == .exited(0))
        let executed = machine.instructionsExecuted
        let insnReport = try host.query(id: insn.id).report
        let inlineReport = try host.query(id: inline.id).report, callbackReport = try host.query(id: callback.id).report
        #expect(jsonInteger(insnReport, "insns") == executed)
        #expect(jsonInteger(inlineReport, "insns") == executed, "bb inline: \(inlineReport ?? "nil")")
        #expect(jsonInteger(callbackReport, "insns") == executed, "bb callback: \(callbackReport ?? "nil")")
        #expect(jsonInteger(inlineReport, "bb") == jsonInteger(callbackReport, "bb"))
        #expect((jsonInteger(inlineReport, "bb") ?? 0) > 0)
        for (info, output) in host.unloadAll() where info.name == "libbb.so" {
            #expect(reportedNumber(output, after: "insns: ") == executed, "at-exit output \(output.debugDescription)")
        }
    }

    @Test("one plugin loaded twice with different arguments keeps two separate states")
    func samePluginTwice() throws {
        let plugins = try BuiltPlugins.get()
        let (machine, host) = try makeMachine(guest: try guestPath(quickGuest))
        let first = try host.load(path: plugins.sample("hotblocks"), arguments: ["n=3"])
        let second = try host.load(path: plugins.sample("hotblocks"), arguments: ["n=5"])
        let counter = try host.load(path: plugins.sample("insn"), arguments: ["inline=off"])
        #expect(first.id != second.id)
        #expect(host.loaded.map(\.id) == [first.id, second.id, counter.id])
        #expect(runToCompletion(machine) == .exited(0))
        let top3 = jsonObject(try host.query(id: first.id).report)?["top"] as? [[String: Any]]
        let top5 = jsonObject(try host.query(id: second.id).report)?["top"] as? [[String: Any]]
        #expect(top3?.count == 3)
        #expect(top5?.count == 5)
        #expect(top3?.first?["pc"] as? NSNumber == top5?.first?["pc"] as? NSNumber)
        // Unloading one load leaves the other working.
        let output = try host.unload(id: second.id)
        #expect(output.contains("the 5 most executed"), "at-exit output: \(output.debugDescription)")
        #expect(jsonObject(try host.query(id: first.id).report)?["top"] as? [[String: Any]] != nil)
        #expect(jsonInteger(try host.query(id: counter.id).report, "insns") == machine.instructionsExecuted)
        let rest = host.unloadAll()
        #expect(rest.map(\.0.id) == [first.id, counter.id])
        #expect(rest.first?.1.contains("the 3 most executed") == true, "at-exit output: \(rest.first?.1.debugDescription ?? "none")")
    }

    @Test("a failed install undoes what the plugin registered and never calls it again")
    func installFailureUndoesRegistrations() throws {
        let plugins = try BuiltPlugins.get()
        let marker = plugins.directory.appendingPathComponent("marker-undo-\(UUID().uuidString)").path
        let log = LogRecorder()
        let (machine, host) = try makeMachine(guest: try guestPath("timer-O0.elf"), log: log)
        let insn = try host.load(path: plugins.sample("insn"))
        #expect(throws: PluginError.installFailed(plugins.fixture(.failingInstall), -1)) {
            try host.load(path: plugins.fixture(.failingInstall), arguments: ["marker=\(marker)"])
        }
        #expect(host.loaded.map(\.id) == [insn.id])
        #expect(log.all.contains { $0.contains("refusing on purpose") }, "its message reached the log: \(log.all)")
        #expect(runToCompletion(machine) == .exited(0))
        let calls = (try? String(contentsOfFile: marker, encoding: .utf8)) ?? ""
        #expect(calls == "install\n", "install registered everything fine, then nothing was called: \(calls.debugDescription)")
        #expect(jsonInteger(try host.query(id: insn.id).report, "insns") == machine.instructionsExecuted)
    }

    @Test("bogus ids, handles and arguments get -1 or NULL, never a crash")
    func bogusHandles() throws {
        let plugins = try BuiltPlugins.get()
        let (machine, host) = try makeMachine(guest: try guestPath(quickGuest))
        let info = try host.load(path: plugins.fixture(.bogusHandles))
        #expect(runToCompletion(machine) == .exited(0))
        let report = try host.query(id: info.id).report
        #expect(jsonInteger(report, "failures") == 0, "\(report ?? "no report")")
        #expect((jsonInteger(report, "checks") ?? 0) > 100, "\(report ?? "no report")")
        #expect((jsonInteger(report, "translations") ?? 0) > 10, "\(report ?? "no report")")
        let output = try host.unload(id: info.id)
        #expect(output.contains(", 0 failures"), "at-exit output: \(output.debugDescription)")
    }

    @Test("every sample loads, runs and reports through query and at exit", arguments: samplePluginNames)
    func sampleReports(_ name: String) throws {
        let plugins = try BuiltPlugins.get()
        let guest = try guestPath("uart-O2.elf")
        let drcovFile = plugins.directory.appendingPathComponent("drcov-\(UUID().uuidString).log").path
        let arguments = name == "drcov" ? ["file=\(drcovFile)", "module=\(guest)"] : []
        let (machine, host) = try makeMachine(guest: guest, cpus: 2)
        let info = try host.load(path: plugins.sample(name), arguments: arguments)
        #expect(runToCompletion(machine) == .exited(0))
        let report = try host.query(id: info.id).report
        let output = try host.unload(id: info.id)
        if name == "empty" {
            #expect(report == nil && output.isEmpty)
            return
        }
        #expect(jsonObject(report) != nil, "query answers JSON: \(report ?? "nil")")
        #expect(!output.isEmpty, "reports at exit")
        switch name {
        case "mem":
            let devices = jsonObject(report)?["devices"] as? [String: Any]
            #expect(devices?["pl011"] != nil, "uart-O2 writes the PL011: \(report ?? "nil")")
        case "drcov":
            #expect(FileManager.default.fileExists(atPath: drcovFile), "drcov wrote \(drcovFile): \(output)")
        default: break
        }
    }

    // MARK: hot load and unload

    /// Reads the counter and loads the plugin in one exclusive section, so no instruction runs in between.
    private func load(_ host: PluginHost, _ path: String, _ arguments: [String], counter: inout UInt64) throws -> PluginInfo {
        var before: UInt64 = 0
        let info = try host.machine.exclusive {
            before = host.machine.instructionsExecuted
            return try host.load(path: path, arguments: arguments)
        }
        counter = before
        return info
    }

    @Test("hot load loop: 200 times load insn into a running guest, query, unload; every window adds up exactly")
    func hotLoadLoop() throws {
        let plugins = try BuiltPlugins.get()
        let (machine, host) = try makeMachine(guest: try guestPath(longGuest))
        machine.start()
        defer { machine.shutdown() }
        var mismatches: [String] = [], atExitMismatches: [String] = []
        var windowsThatRan = 0, total: UInt64 = 0
        let started = Date()
        for iteration in 0..<200 {
            var before: UInt64 = 0
            let info = try load(host, plugins.sample("insn"), [iteration % 2 == 0 ? "inline=on" : "inline=off"], counter: &before)
            Thread.sleep(forTimeInterval: 0.002)
            let midway = jsonInteger(try host.query(id: info.id).report, "insns")
            var after: UInt64 = 0, final: UInt64? = nil, output = ""
            try machine.exclusive {
                final = jsonInteger(try host.query(id: info.id).report, "insns")
                output = try host.unload(id: info.id)
                after = machine.instructionsExecuted
            }
            let window = after - before
            if final != window || (midway ?? .max) > window {
                mismatches.append("#\(iteration): plugin counted \(String(describing: final)) (midway \(String(describing: midway))), emud \(window)")
            }
            if reportedNumber(output, after: "insns: ") != window {
                atExitMismatches.append("#\(iteration): at-exit \(output.debugDescription), emud \(window)")
            }
            if window > 0 { windowsThatRan += 1 }
            total += window
        }
        let seconds = Date().timeIntervalSince(started)
        print("hot load loop: 200 load/query/unload cycles in \(String(format: "%.2f", seconds)) s; \(windowsThatRan) windows ran guest code, \(total) instructions counted")
        #expect(mismatches.isEmpty, "\(mismatches.count) windows differ: \(mismatches.prefix(5))")
        #expect(atExitMismatches.isEmpty, "\(atExitMismatches.count) at-exit reports differ: \(atExitMismatches.prefix(3))")
        #expect(windowsThatRan >= 50, "only \(windowsThatRan) of 200 windows ran any guest code")
        #expect(machine.state == .running, "\(longGuest) should still be running: \(machine.state)")
        #expect(host.loaded.isEmpty)
    }

    @Test("unloading callback-heavy plugins while they fire on every instruction and access")
    func unloadWhileCallbacksFire() throws {
        let plugins = try BuiltPlugins.get()
        let (machine, host) = try makeMachine(guest: try guestPath(longGuest))
        machine.start()
        defer { machine.shutdown() }
        for round in 0..<20 {
            var before: UInt64 = 0
            let (insn, bb, mem, hot) = try machine.exclusive {
                before = machine.instructionsExecuted
                return (try host.load(path: plugins.sample("insn"), arguments: ["inline=off"]),
                        try host.load(path: plugins.sample("bb"), arguments: ["inline=off"]),
                        try host.load(path: plugins.sample("mem")),
                        try host.load(path: plugins.sample("hotpages")))
            }
            Thread.sleep(forTimeInterval: 0.02)
            if round % 2 == 0 {
                // Unloaded one by one from this thread while the vCPU runs between the unloads.
                for id in [mem.id, hot.id, bb.id] { try host.unload(id: id) }
                var after: UInt64 = 0, counted: UInt64? = nil
                try machine.exclusive {
                    counted = jsonInteger(try host.query(id: insn.id).report, "insns")
                    try host.unload(id: insn.id)
                    after = machine.instructionsExecuted
                }
                #expect(counted == after - before, "round \(round)")
            } else {
                // All at once: bb, loaded and unloaded in the same sections as insn, sees the same window.
                var after: UInt64 = 0, counted: UInt64? = nil, blocks: UInt64? = nil
                try machine.exclusive {
                    counted = jsonInteger(try host.query(id: insn.id).report, "insns")
                    blocks = jsonInteger(try host.query(id: bb.id).report, "insns")
                    #expect(host.unloadAll().count == 4)
                    after = machine.instructionsExecuted
                }
                #expect(counted == after - before, "round \(round)")
                #expect(blocks == counted, "round \(round): bb \(String(describing: blocks)), insn \(String(describing: counted))")
            }
            #expect(host.loaded.isEmpty)
        }
        #expect(machine.state == .running)
    }
}
