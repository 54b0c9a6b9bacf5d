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

    /// `--dump-jit`: every block's guest instructions are the program's own words (as objdump reads them from the
    /// ELF, not as emud decoded them), each followed by host code; the program's output is unchanged; the
    /// interpreter has nothing to dump and says so.
    @Test func dumpJITShowsEachGuestInstructionWithItsHostCode() async throws {
        let env = try GuestTestEnvironment.require()
        guard let objdump = findExecutable("aarch64-linux-gnu-objdump") else {
            throw TestEnvironmentError(description: "aarch64-linux-gnu-objdump is not installed: `apt-get install binutils-aarch64-linux-gnu` (or run `make test` as root)")
        }
        let elf = env.guests.appendingPathComponent("sieve-O2.elf").path
        let dumpPath = FileManager.default.temporaryDirectory.appendingPathComponent("emud-dump-jit-\(getpid()).txt").path
        defer { try? FileManager.default.removeItem(atPath: dumpPath) }
        let plain = try await emud(["run", "--engine", "jit", elf])
        let dumped = try await emud(["run", "--engine", "jit", "--dump-jit", dumpPath, elf])
        #expect(plain.status == 0 && dumped.status == 0, "\(text(dumped.standardError))")
        #expect(dumped.standardOutput == plain.standardOutput)

        // objdump's words by address.
        let listing = try await runProcess(objdump, ["-d", elf], timeout: 60)
        var words: [UInt64: String] = [:]
        for line in text(listing.standardOutput).split(separator: "\n") {
            let fields = line.split(separator: "\t")
            guard fields.count >= 2, fields[0].hasSuffix(":"),
                  let address = UInt64(fields[0].dropLast().trimmingCharacters(in: .whitespaces), radix: 16) else { continue }
            words[address] = fields[1].trimmingCharacters(in: .whitespaces)
        }
        #expect(words.count > 1000, "objdump listed \(words.count) instructions")

        let dump = try String(contentsOfFile: dumpPath, encoding: .utf8)
        var blocks = 0, instructions = 0, matched = 0, hostLines = 0, sections = 0
        for line in dump.split(separator: "\n") {
            if line.hasPrefix("---- block 0x") {
                blocks += 1
            } else if line == "  entry:" || line == "  exits and slow paths:" {
                sections += 1
            } else if line.hasPrefix("      0x") {
                hostLines += 1
            } else if line.hasPrefix("0x") {
                instructions += 1
                // "0xADDRESS:  WORD  TEXT    ; HOW"
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count >= 3, let address = UInt64(fields[0].dropFirst(2).dropLast(), radix: 16) else {
                    Issue.record("unreadable instruction line: \(line)")
                    continue
                }
                if let word = words[address] {
                    #expect(String(fields[1]) == word, "0x\(String(address, radix: 16)): the dump shows \(fields[1]), the ELF holds \(word)")
                    matched += 1
                }
                #expect(line.contains("    ; "), "no summary: \(line)")
            }
        }
        #expect(blocks > 10 && sections == 2 * blocks, "\(blocks) blocks, \(sections) sections")
        #expect(matched > 100 && matched * 10 >= instructions * 9, "\(matched) of \(instructions) instructions found in objdump's listing")
        #expect(hostLines > 2 * instructions, "\(hostLines) host instructions for \(instructions) guest instructions")

        let refused = try await emud(["run", "--engine", "interp", "--dump-jit", dumpPath, elf])
        #expect(refused.status == 2 && text(refused.standardError).contains("--engine jit"), "\(text(refused.standardError))")
    }
}
