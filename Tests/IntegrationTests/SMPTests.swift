// Runs the SMP guest programs of Tests/Guests/smp under QEMU with 4 CPUs (the reference) and under
// `emud run --cpus 4`, and requires the same console output and exit status; the programs that
// adapt to the CPU count also run with 2 and 8 CPUs.
// SPDX-License-Identifier: GPL-2.0-or-later

import Foundation
import Testing

/// The SMP programs compared with QEMU; Tests/Guests/smp/smp.mk builds NAME-O0.elf and
/// NAME-O2.elf of each into EMUD_GUESTS. Keep in step with SMP_PROGRAMS there.
let smpPrograms = ["smp-psci", "smp-counter", "smp-lock", "smp-message", "smp-wide", "smp-mmu"]

/// The programs that count the CPUs PSCI offers and work with any number of them (smp-psci
/// expects exactly 4).
let smpProgramsForAnyCPUCount = ["smp-counter", "smp-lock", "smp-message", "smp-wide"]

/// How long one run may take before it is killed. The programs finish in a few seconds, but run
/// more vCPU threads than the host has cores, next to other tests.
let smpTimeoutSeconds: TimeInterval = 180

/// Runs one of the SMP programs checked against the architecture rather than QEMU (smp.mk's
/// SMP_HOST_PROGRAMS) under `emud run --cpus N`; its standard output, after requiring a clean exit.
func runArchitectureCheckedGuest(_ name: String, cpus: Int) async throws -> String {
    let environment = try GuestTestEnvironment.require()
    let elf = environment.guests.appendingPathComponent(name)
    try #require(
        FileManager.default.fileExists(atPath: elf.path),
        "\(elf.path) is missing: run `make test` (or `make guests`), which builds Tests/Guests/smp")
    let run = try await runProcess(environment.emud, ["run", "--cpus", "\(cpus)", elf.path], timeout: smpTimeoutSeconds)
    let output = String(decoding: run.standardOutput, as: UTF8.self)
    try #require(
        !run.timedOut && run.status == 0,
        "emud run --cpus \(cpus) \(name): \(run.ending)\n\(output)\(String(decoding: run.standardError, as: UTF8.self))")
    return output
}

@Suite("SMP guest programs under emud and QEMU")
struct SMPTests {
    @Test("emud --cpus 4 --engine interp prints what QEMU -smp 4 prints and exits with the same status",
          arguments: smpPrograms, GuestOptimization.allCases)
    func matchesQEMU(program: String, optimization: GuestOptimization) async throws {
        try await compareSMPProgram(elfName: "\(program)-\(optimization.rawValue).elf", cpus: 4,
                                    emudOptions: ["--engine", "interp"])
    }

    @Test("the same with 2 and 8 CPUs (the default engine)", arguments: smpProgramsForAnyCPUCount, [2, 8])
    func matchesQEMUWithOtherCPUCounts(program: String, cpus: Int) async throws {
        try await compareSMPProgram(elfName: "\(program)-O2.elf", cpus: cpus)
    }

    @Test("emud --cpus 4 --engine jit prints what QEMU -smp 4 prints", arguments: smpPrograms)
    func translatorMatchesQEMU(program: String) async throws {
        try await compareSMPProgram(elfName: "\(program)-O2.elf", cpus: 4, emudOptions: ["--engine", "jit"])
    }

    private func compareSMPProgram(elfName: String, cpus: Int, emudOptions: [String] = []) async throws {
        let environment = try GuestTestEnvironment.require()
        let elf = environment.guests.appendingPathComponent(elfName)
        try #require(
            FileManager.default.fileExists(atPath: elf.path),
            "\(elf.path) is missing: run `make test` (or `make guests`), which builds Tests/Guests/smp")
        // The programs check themselves: a reference that reports a failure is no reference.
        try await compareWithQEMU(
            elf, label: "\(elfName) on \(cpus) CPUs \(emudOptions.joined(separator: " "))", qemuOptions: ["-smp", "\(cpus)"], emudOptions: ["--cpus", "\(cpus)"] + emudOptions,
            timeout: smpTimeoutSeconds, referenceMustSucceed: true)
    }
}
