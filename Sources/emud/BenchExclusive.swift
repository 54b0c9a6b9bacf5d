// SPDX-License-Identifier: GPL-2.0-or-later
import ArgumentParser
import Foundation
import Machine

/// `emud bench-exclusive`: how long a thread waits for an exclusive section of a machine whose
/// vCPUs are all busy: from calling `Machine.exclusive` until its body runs, which is the time to
/// kick every vCPU out of guest code and see it park. Hidden from `--help`; `make bench` runs it
/// through Tests/Bench/smp-bench.sh.
///
/// Prints one line on stdout:
/// `exclusive-entry: cpus=N iterations=K median_us=M p99_us=P max_us=X`. The guest's console goes
/// to stderr.
struct BenchExclusive: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-exclusive",
        abstract: "Time entering exclusive sections while a guest keeps every vCPU busy.",
        shouldDisplay: false)

    @Option(help: "Number of vCPUs (1-\(MachineConfiguration.maxCPUs)).")
    var cpus: Int = 4

    @Option(help: "Number of exclusive sections to time.")
    var iterations: Int = 1000

    @Option(name: .customLong("gap-us"), help: "Microseconds the vCPUs run between two sections.")
    var gapMicroseconds: Int = 1000

    @Argument(help: "A guest that keeps every vCPU busy, such as smp-stress.elf from Tests/Guests/smp.")
    var image: String

    /// How long the vCPUs may take to come up (all of them executing guest code) and, for a guest
    /// with a `host_stop` word, to finish after being told to.
    private static let startTimeout: TimeInterval = 60
    private static let finishTimeout: TimeInterval = 300

    func run() throws {
        guard iterations > 0 else {
            standardError("emud: --iterations must be at least 1")
            throw ExitCode(2)
        }
        guard gapMicroseconds >= 0 else {
            standardError("emud: --gap-us must not be negative")
            throw ExitCode(2)
        }
        let guest: GuestImage
        let machine: Machine
        do {
            guest = try ELFLoader.load(path: image)
            machine = try Machine(configuration: MachineConfiguration(cpus: cpus), console: Console.fileDescriptor(2))
            try machine.load(guest)
        } catch {
            standardError("emud: \(error)")
            throw ExitCode(2)
        }

        machine.start()
        defer { machine.shutdown() }
        guard waitForAllVCPUs(machine) else {
            standardError("emud: after \(Int(Self.startTimeout)) s not every vCPU runs guest code; "
                          + "the guest must start all \(cpus) CPUs (PSCI CPU_ON) and keep them busy, as smp-stress.elf does")
            throw ExitCode(1)
        }

        // Warm up: the first sections also pay for thread wake-ups the steady state does not see.
        for _ in 0..<min(iterations, 20) { machine.exclusive {}; pause() }
        var samples: [UInt64] = []
        samples.reserveCapacity(iterations)
        for _ in 0..<iterations {
            let requested = DispatchTime.now().uptimeNanoseconds
            let granted = machine.exclusive { DispatchTime.now().uptimeNanoseconds }
            samples.append(granted - requested)
            pause()
        }
        switch machine.state {
        case .exited, .failed:
            standardError("emud: the guest ended during the measurement (\(machine.state)); it must keep the vCPUs busy until the end")
            throw ExitCode(1)
        default:
            break
        }

        samples.sort()
        func microseconds(_ ns: UInt64) -> String { String(format: "%.1f", Double(ns) / 1000) }
        print("exclusive-entry: cpus=\(cpus) iterations=\(iterations) median_us=\(microseconds(median(samples))) "
              + "p99_us=\(microseconds(percentile(samples, 99))) max_us=\(microseconds(samples.last ?? 0))")

        try stopGuest(guest, machine)
    }

    private func pause() {
        if gapMicroseconds > 0 { usleep(UInt32(min(gapMicroseconds, 10_000_000))) }
    }

    private func waitForAllVCPUs(_ machine: Machine) -> Bool {
        let deadline = Date(timeIntervalSinceNow: Self.startTimeout)
        while Date() < deadline {
            if machine.exclusive({ machine.vcpus.allSatisfy { $0.instructionsExecuted > 0 } }) { return true }
            if case .exited = machine.state { return false }
            usleep(1000)
        }
        return false
    }

    /// A guest with a `host_stop` word (smp-stress.elf) is told to finish and must exit with status 0,
    /// so that the numbers come from a run whose results were right; any other guest is just stopped.
    private func stopGuest(_ guest: GuestImage, _ machine: Machine) throws {
        guard let stop = guest.symbols.first(where: { $0.name == "host_stop" }) else { return }
        guard machine.writeMemory(stop.address, withUnsafeBytes(of: UInt64(1).littleEndian, Array.init)) else {
            standardError("emud: could not write the guest's host_stop word at 0x\(String(stop.address, radix: 16))")
            throw ExitCode(1)
        }
        switch machine.waitForFinish(timeout: Self.finishTimeout) {
        case .exited(0)?:
            return
        case let final?:
            standardError("emud: the guest ended with \(final) after being told to stop; see its output above")
            throw ExitCode(1)
        case nil:
            standardError("emud: the guest did not finish within \(Int(Self.finishTimeout)) s of being told to stop")
            throw ExitCode(1)
        }
    }
}

/// The middle value of sorted samples (the lower of the two middle ones for an even count).
private func median(_ sorted: [UInt64]) -> UInt64 {
    sorted.isEmpty ? 0 : sorted[(sorted.count - 1) / 2]
}

/// The nearest-rank percentile of sorted samples.
private func percentile(_ sorted: [UInt64], _ p: Int) -> UInt64 {
    guard !sorted.isEmpty else { return 0 }
    let rank = (sorted.count * p + 99) / 100
    return sorted[max(0, min(sorted.count - 1, rank - 1))]
}
