// Runs each bare-metal guest program of Tests/Guests under QEMU (the reference) and under emud,
// and requires the same console output and the same exit status.
// SPDX-License-Identifier: GPL-2.0-or-later

import Foundation
import Testing

/// The guest programs, by name; Tests/Guests/Makefile builds NAME-O0.elf and NAME-O2.elf of
/// each into EMUD_GUESTS. Listed here rather than discovered, so that a program the build lost
/// fails instead of silently dropping out. Keep in step with PROGRAMS in that Makefile.
let guestPrograms = [
    "arith", "int128", "bits", "crc32", "sort", "recursion", "format", "sha256", "interp",
    "matmul", "sieve", "bignum", "hashtable", "strings", "fp", "fpspecial", "fpnumeric", "fpconvert", "simd",
    "loadstore", "svc",
    "undef", "dabort", "brk", "align", "fptrap", "timer", "atomics", "selfmod", "el0", "sysregs",
    "uart", "exitcode", "psci", "semihost", "mmu", "mmu-granules", "crypto", "simdint", "printf-float",
]

/// The gcc optimisation levels each program is built at: -O0 is naive code, -O2 is scheduled,
/// vectorised code.
enum GuestOptimization: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case O0, O2

    var testDescription: String { "-\(rawValue)" }
}

/// How long one run of QEMU or emud may take before it is killed.
let guestTimeoutSeconds: TimeInterval = 60

/// QEMU's virt board booting an ELF at EL1, as in ../../shared/FACTS.md; the ELF path goes last.
/// Semihosting output lands on QEMU's stderr and the UART's on its stdout.
let qemuArguments = [
    "-M", "virt", "-cpu", "cortex-a76", "-nographic", "-semihosting", "-net", "none", "-kernel",
]

/// Runs `elf` under QEMU (the reference; `qemuOptions` go before `-kernel`) and under `emud run`
/// (`emudOptions` go before the ELF), and records any difference in output or exit status.
/// `referenceMustSucceed`: the program checks itself, so a reference that exits non-zero is no reference.
func compareWithQEMU(
    _ elf: URL, label: String, qemuOptions: [String] = [], emudOptions: [String] = [], timeout: TimeInterval,
    referenceMustSucceed: Bool = false
) async throws {
    let environment = try GuestTestEnvironment.require()
    let reference = try await runProcess(
        environment.qemu, Array(qemuArguments.dropLast()) + qemuOptions + ["-kernel", elf.path], timeout: timeout)
    let referenceOutput = reference.standardOutput + reference.standardError
    try #require(
        !reference.timedOut && !reference.killedBySignal,
        "QEMU did not finish \(label): \(reference.ending)\n\(String(decoding: referenceOutput, as: UTF8.self))")
    // QEMU's own complaints (bad ELF, missing firmware) are prefixed with its name; then
    // there is no reference to compare with.
    let referenceText = String(decoding: reference.standardError, as: UTF8.self)
    try #require(
        !referenceText.contains("\(GuestTestEnvironment.qemuName):"),
        "QEMU itself failed on \(label):\n\(referenceText)")
    if referenceMustSucceed {
        try #require(
            reference.status == 0,
            "\(label) fails under QEMU (\(reference.ending)), so it cannot judge emud:\n\(String(decoding: referenceOutput, as: UTF8.self))")
    }

    let emud = try await runProcess(environment.emud, ["run"] + emudOptions + [elf.path], timeout: timeout)
    let emudErrors = String(decoding: emud.standardError.suffix(2000), as: UTF8.self)
    let emudErrorsNote = emudErrors.isEmpty ? "" : "\nemud's stderr (end):\n\(emudErrors)"
    if emud.timedOut {
        let printed = emud.standardOutput.count
        Issue.record(
            "emud ran \(label) for more than \(Int(timeout)) s and was killed (\(printed) bytes of output so far)\(emudErrorsNote)")
        return
    }
    if let difference = firstDifference(
        expected: referenceOutput, actual: emud.standardOutput, expectedName: "QEMU", actualName: "emud")
    {
        Issue.record("\(label): \(difference)\(emudErrorsNote)")
    }
    #expect(
        emud.status == reference.status && emud.killedBySignal == reference.killedBySignal,
        "\(label): QEMU ended with \(reference.ending), emud with \(emud.ending)")
}

@Suite("Guest programs under emud and QEMU")
struct GuestProgramTests {
    @Test("emud's interpreter (--engine interp) prints what QEMU prints and exits with the same status",
          arguments: guestPrograms, GuestOptimization.allCases)
    func matchesQEMU(program: String, optimization: GuestOptimization) async throws {
        try await compare(program, optimization, emudOptions: ["--engine", "interp"])
    }

    @Test("the same with emud's translator (--engine jit)", arguments: guestPrograms, GuestOptimization.allCases)
    func translatorMatchesQEMU(program: String, optimization: GuestOptimization) async throws {
        try await compare(program, optimization, emudOptions: ["--engine", "jit"])
    }

    private func compare(_ program: String, _ optimization: GuestOptimization, emudOptions: [String]) async throws {
        let environment = try GuestTestEnvironment.require()
        let elf = environment.guests.appendingPathComponent("\(program)-\(optimization.rawValue).elf")
        try #require(
            FileManager.default.fileExists(atPath: elf.path),
            "\(elf.path) is missing: run `make test` (or `make guests`), which builds Tests/Guests")
        try await compareWithQEMU(elf, label: "\(program) \(optimization.testDescription) \(emudOptions.joined(separator: " "))",
                                  emudOptions: emudOptions, timeout: guestTimeoutSeconds)
    }
}
