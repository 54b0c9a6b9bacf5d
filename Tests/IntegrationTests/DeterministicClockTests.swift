// `emud run --icount N`: the generic timer counts executed instructions instead of host time, so two runs of
// the same guest take their interrupts at the same instructions.
// SPDX-License-Identifier: GPL-2.0-or-later

import Foundation
import Testing

@Suite("Deterministic clock (--icount)")
struct DeterministicClockTests {
    /// Runs `elf` with `--icount shift` and the exception trace on (EMUD_TRACE_EXCEPTIONS=1: one line per
    /// exception with the return address and the instructions executed so far); returns what the guest printed
    /// and the trace's IRQ lines.
    func run(_ elf: URL, shift: Int) async throws -> (output: String, interrupts: [String]) {
        let environment = try GuestTestEnvironment.require()
        let env = try #require(findExecutable("env"), "env(1) not found on PATH")
        let run = try await runProcess(
            env, ["EMUD_TRACE_EXCEPTIONS=1", environment.emud.path, "run", "--icount", "\(shift)", elf.path],
            timeout: guestTimeoutSeconds)
        try #require(!run.timedOut && run.status == 0, "emud run --icount \(shift) \(elf.lastPathComponent): \(run.ending)")
        let lines = String(decoding: run.standardError, as: UTF8.self).split(separator: "\n").map(String.init)
        return (String(decoding: run.standardOutput, as: UTF8.self),
                lines.filter { $0.hasPrefix("emud-trace:") && $0.contains("vector+0x80 ") })
    }

    /// icount/timer-busy.c computes while the timer interrupts it, and prints where each interrupt arrived
    /// (counter value, interrupted PC) and how far the computation got: under host time that differs from
    /// run to run.
    @Test("two runs of a computing guest take their timer interrupts at the same instructions", arguments: [0, 3])
    func interruptsRepeat(shift: Int) async throws {
        let environment = try GuestTestEnvironment.require()
        let elf = environment.guests.appendingPathComponent("icount-timer-busy.elf")
        try #require(
            FileManager.default.fileExists(atPath: elf.path),
            "\(elf.path) is missing: run `make test` (or `make guests`), which builds Tests/Guests")
        let first = try await run(elf, shift: shift)
        let second = try await run(elf, shift: shift)
        #expect(first.output.contains("tick 7:") && first.output.contains("rounds="), "unexpected output:\n\(first.output)")
        #expect(first.interrupts.count == 8, "expected 8 IRQs in the trace, got:\n\(first.interrupts.joined(separator: "\n"))")
        #expect(first.interrupts.allSatisfy { $0.contains(" insns=") }, "the trace carries no instruction counts: \(first.interrupts.first ?? "")")
        #expect(first.output == second.output, "the guest saw different timings:\n\(first.output)--\n\(second.output)")
        #expect(first.interrupts == second.interrupts,
                "the IRQs arrived at different instructions:\n\(first.interrupts.joined(separator: "\n"))\n--\n\(second.interrupts.joined(separator: "\n"))")
    }

    @Test("the timer guest prints under --icount what it prints under QEMU")
    func timerMatchesQEMU() async throws {
        let environment = try GuestTestEnvironment.require()
        let elf = environment.guests.appendingPathComponent("timer-O0.elf")
        try await compareWithQEMU(elf, label: "timer -O0 with --icount 3", emudOptions: ["--icount", "3"], timeout: guestTimeoutSeconds)
    }

    @Test("--icount outside 0...10 is refused with a message")
    func shiftOutOfRange() async throws {
        let environment = try GuestTestEnvironment.require()
        let elf = environment.guests.appendingPathComponent("timer-O0.elf")
        let run = try await runProcess(environment.emud, ["run", "--icount", "11", elf.path], timeout: guestTimeoutSeconds)
        #expect(run.status == 2)
        #expect(String(decoding: run.standardError, as: UTF8.self).contains("--icount 11 is out of range"))
    }
}
