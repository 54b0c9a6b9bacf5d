// emud's command line: help, version, and clear refusals of bad input.
// SPDX-License-Identifier: GPL-2.0-or-later

import Foundation
import Testing

@Suite struct CommandLineTests {
    private func emud(_ arguments: [String]) async throws -> ProcessOutput {
        let env = try GuestTestEnvironment.require()
        return try await runProcess(env.emud, arguments, timeout: 30)
    }

    private func text(_ data: Data) -> String { String(decoding: data, as: UTF8.self) }

    @Test func helpAndVersion() async throws {
        let help = try await emud(["--help"])
        #expect(help.status == 0)
        #expect(text(help.standardOutput).contains("run"))
        let runHelp = try await emud(["run", "--help"])
        #expect(runHelp.status == 0)
        #expect(text(runHelp.standardOutput).contains("--gdb"))
        let version = try await emud(["--version"])
        #expect(version.status == 0)
        #expect(text(version.standardOutput).range(of: #"^\d+\.\d+\.\d+"#, options: .regularExpression) != nil)
    }

    @Test func missingImageIsAClearError() async throws {
        let out = try await emud(["run", "/nonexistent/fw.elf"])
        #expect(out.status != 0)
        #expect(text(out.standardError).contains("no such file"))
    }

    @Test func notAnELFIsAClearError() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("emud-not-elf-\(getpid()).bin").path
        FileManager.default.createFile(atPath: path, contents: Data("hello".utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let out = try await emud(["run", path])
        #expect(out.status != 0)
        #expect(text(out.standardError).contains("not an ELF file"))
    }

    @Test func truncatedELFIsRefusedWithoutCrashing() async throws {
        let env = try GuestTestEnvironment.require()
        let original = try Data(contentsOf: env.guests.appendingPathComponent("sieve-O0.elf"))
        for cut in [16, 64, 100, 300] {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("emud-cut-\(getpid())-\(cut).elf").path
            FileManager.default.createFile(atPath: path, contents: original.prefix(cut))
            defer { try? FileManager.default.removeItem(atPath: path) }
            let out = try await runProcess(env.emud, ["run", path], timeout: 30)
            #expect(!out.killedBySignal, "emud crashed on an ELF cut at \(cut) bytes")
            #expect(out.status == 2, "ELF cut at \(cut) bytes: \(text(out.standardError))")
        }
    }

    @Test func outOfRangeOptionsAreRefused() async throws {
        let env = try GuestTestEnvironment.require()
        let elf = env.guests.appendingPathComponent("sieve-O0.elf").path
        let cpus = try await emud(["run", "--cpus", "9", elf])
        #expect(cpus.status != 0)
        #expect(text(cpus.standardError).contains("between 1 and 8") && text(cpus.standardError).contains("--cpus"), "\(text(cpus.standardError))")
        let memory = try await emud(["run", "--memory", "lots", elf])
        #expect(memory.status != 0)
        #expect(text(memory.standardError).contains("--memory"))
    }
}
