// Exclusive sections on a running 4-vCPU machine, driven from the test thread: thousands of
// translation-block flushes under a busy guest whose results must stay correct; sections that must
// freeze vCPUs asleep in WFI and vCPUs in a tight loop alike, and let them go again; sections
// requested from many threads at once, which must never overlap.
//
// The guests are Tests/Guests/smp/smp-stress.c and smp-idle.c, built by `make test` into
// EMUD_GUESTS. Both run until the test writes their `host_stop` word, then report. The timeouts
// below only keep a broken machine from hanging the test run; nothing here asserts a duration.
// SPDX-License-Identifier: GPL-2.0-or-later

import Foundation
import Testing
@testable import Machine

/// A precondition or a wait that failed, with what to do about it.
private struct ExclusiveSectionTestError: Error, CustomStringConvertible {
    var description: String
}

/// Collects a machine's console output; written by vCPU threads, read by the test.
private final class ConsoleCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes: [UInt8] = []

    func append(_ more: [UInt8]) { lock.withLock { bytes += more } }
    var text: String { lock.withLock { String(decoding: bytes, as: UTF8.self) } }
}

/// One of the host-driven SMP guests loaded into a fresh machine (not started).
private final class HostDrivenGuest: @unchecked Sendable {
    let machine: Machine
    let image: GuestImage
    private let console = ConsoleCapture()

    init(_ name: String, cpus: Int) throws {
        guard let directory = ProcessInfo.processInfo.environment["EMUD_GUESTS"], !directory.isEmpty else {
            throw ExclusiveSectionTestError(description:
                "EMUD_GUESTS is not set: run `make test`, which builds the guest programs of Tests/Guests "
                + "(including Tests/Guests/smp) and points EMUD_GUESTS at them")
        }
        let path = URL(fileURLWithPath: directory).appendingPathComponent(name).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw ExclusiveSectionTestError(description:
                "\(path) is missing: run `make test` (or `make guests`), which builds Tests/Guests/smp")
        }
        image = try ELFLoader.load(path: path)
        let console = self.console
        machine = try Machine(configuration: MachineConfiguration(cpus: cpus), console: Console { console.append($0) })
        try machine.load(image)
    }

    var output: String { console.text }

    func address(of symbol: String) throws -> UInt64 {
        guard let found = image.symbols.first(where: { $0.name == symbol }) else {
            throw ExclusiveSectionTestError(description:
                "\(image.path) has no symbol \(symbol): rebuild the guests with `make guests`")
        }
        return found.address
    }

    /// Reads a guest word with every vCPU parked.
    func read64(_ address: UInt64) -> UInt64 {
        machine.exclusive { machine.memory.read64(address) ?? 0 }
    }

    /// Every vCPU's instruction counter. Call only inside an exclusive section.
    func instructionCounters() -> [UInt64] {
        machine.vcpus.map(\.instructionsExecuted)
    }

    /// Tells the guest to finish (its `host_stop` word) and waits for it to exit.
    func stop(timeout: TimeInterval) throws -> MachineState? {
        let stop = try address(of: "host_stop")
        guard machine.writeMemory(stop, withUnsafeBytes(of: UInt64(1).littleEndian, Array.init)) else {
            throw ExclusiveSectionTestError(description: "could not write host_stop at 0x\(String(stop, radix: 16))")
        }
        return machine.waitForFinish(timeout: timeout)
    }
}

/// Polls `condition` until it holds; throws after `timeout` seconds, naming what it waited for.
private func waitUntil(_ what: String, timeout: TimeInterval, _ condition: () -> Bool) throws {
    let deadline = Date(timeIntervalSinceNow: timeout)
    while !condition() {
        if Date() > deadline {
            throw ExclusiveSectionTestError(description: "gave up after \(Int(timeout)) s waiting until \(what)")
        }
        usleep(1000)
    }
}

/// The result of work on another thread, handed over through a semaphore.
private final class Handover<T>: @unchecked Sendable {
    var value: T?
    let done = DispatchSemaphore(value: 0)
}

/// Runs `body` on a thread of its own and waits for it at most `timeout` seconds, so that a
/// machine that never grants (or never ends) an exclusive section fails the test instead of
/// hanging it.
private func withWatchdog<T>(_ what: String, timeout: TimeInterval, _ body: @escaping @Sendable () -> T) throws -> T {
    let box = Handover<T>()
    Thread.detachNewThread {
        box.value = body()
        box.done.signal()
    }
    guard box.done.wait(timeout: .now() + timeout) == .success, let value = box.value else {
        throw ExclusiveSectionTestError(description: "\(what) did not finish within \(Int(timeout)) s")
    }
    return value
}

/// Generous limits for a debug build on a loaded 2-core host.
private let startTimeout: TimeInterval = 120
private let sectionTimeout: TimeInterval = 60
private let finishTimeout: TimeInterval = 600

@Suite("Exclusive sections on a running SMP machine", .serialized)
struct ExclusiveSectionTests {
    @Test("10,000 tbFlush() calls while 4 vCPUs run a busy guest leave its results correct")
    func flushStress() throws {
        let guest = try HostDrivenGuest("smp-stress.elf", cpus: 4)
        let machine = guest.machine
        machine.start()
        defer { machine.shutdown() }
        let rounds = try guest.address(of: "stress_rounds")
        try waitUntil("all 4 vCPUs run guest code", timeout: startTimeout) {
            machine.exclusive { guest.instructionCounters().allSatisfy { $0 > 0 } }
        }
        try waitUntil("the guest finishes its first rounds", timeout: startTimeout) { guest.read64(rounds) >= 4 }

        let roundsBefore = guest.read64(rounds)
        let flushesBefore = machine.exclusive { machine.translationStatistics.flushes }
        try withWatchdog("10,000 flushes", timeout: finishTimeout) {
            for i in 0..<10_000 {
                machine.tbFlush()
                // Mostly short gaps, some none: flushes land at every point of the guest's rounds,
                // including before the vCPUs have translated anything again.
                usleep(UInt32(i % 8) * 40)
            }
        }
        let roundsAfter = guest.read64(rounds)
        let flushesAfter = machine.exclusive { machine.translationStatistics.flushes }
        #expect(flushesAfter - flushesBefore >= 4 * 10_000, "each tbFlush() flushes all 4 vCPUs' caches")
        #expect(roundsAfter > roundsBefore, "the guest made no progress during the flushes (rounds \(roundsBefore) -> \(roundsAfter))")

        let final = try guest.stop(timeout: finishTimeout)
        #expect(final == .exited(0), "guest output:\n\(guest.output)")
        #expect(guest.output == "smp-stress: 4 CPUs, results correct\n")
    }

    @Test("an exclusive section freezes vCPUs in WFI and in a tight loop, and lets them go again")
    func freezesIdleAndSpinningVCPUs() throws {
        let guest = try HostDrivenGuest("smp-idle.elf", cpus: 4)
        let machine = guest.machine
        machine.start()
        defer { machine.shutdown() }
        let ready = try guest.address(of: "idle_ready")
        try waitUntil("every secondary vCPU is in place", timeout: startTimeout) { guest.read64(ready) == 1 }
        // The two sleepers execute one more instruction (WFI) after checking in.
        Thread.sleep(forTimeInterval: 0.05)

        // vCPU 0 naps and spins waiting for host_stop, 1 and 2 sleep in WFI, 3 spins.
        let spinner = 3
        for attempt in 1...20 {
            let (first, second) = try withWatchdog("exclusive section \(attempt)", timeout: sectionTimeout) {
                machine.exclusive {
                    let first = guest.instructionCounters()
                    Thread.sleep(forTimeInterval: 0.02)
                    return (first, guest.instructionCounters())
                }
            }
            #expect(first == second, "a vCPU ran inside exclusive section \(attempt): \(first) -> \(second)")
            #expect(first[spinner] > 0, "the spinning vCPU never ran")
            // The section has ended: the spinning vCPU carries on.
            try waitUntil("the spinning vCPU runs again after section \(attempt)", timeout: sectionTimeout) {
                machine.exclusive { guest.instructionCounters()[spinner] } > second[spinner]
            }
        }
        #expect(machine.state == .running)

        let final = try guest.stop(timeout: finishTimeout)
        #expect(final == .exited(0), "guest output:\n\(guest.output)")
        #expect(guest.output == "smp-idle: 4 CPUs; 2 asleep in WFI, 1 spinning; stopped by the host\n")
    }

    @Test("exclusive sections requested from several threads at once never overlap, and nest")
    func concurrentSectionsAreSerialised() throws {
        let guest = try HostDrivenGuest("smp-stress.elf", cpus: 4)
        let machine = guest.machine
        machine.start()
        defer { machine.shutdown() }
        try waitUntil("all 4 vCPUs run guest code", timeout: startTimeout) {
            machine.exclusive { guest.instructionCounters().allSatisfy { $0 > 0 } }
        }

        final class Tally: @unchecked Sendable {
            private let lock = NSLock()
            private var inside = 0
            private(set) var overlaps = 0
            private(set) var sections = 0
            private(set) var vcpuMoved = 0
            func enter() { lock.withLock { inside += 1; if inside > 1 { overlaps += 1 } } }
            func leave(moved: Bool) { lock.withLock { inside -= 1; sections += 1; if moved { vcpuMoved += 1 } } }
        }
        let tally = Tally()
        let body: @Sendable () -> Void = {
            tally.enter()
            let first = guest.instructionCounters()
            // A nested request from the holder runs at once.
            let nested = machine.exclusive { guest.instructionCounters() }
            usleep(50)
            tally.leave(moved: nested != first || guest.instructionCounters() != first)
        }
        let threads = 4, perThread = 250, queued = 250
        let group = DispatchGroup()
        for _ in 0..<threads {
            group.enter()
            Thread.detachNewThread {
                for _ in 0..<perThread { machine.exclusive(body) }
                group.leave()
            }
        }
        for _ in 0..<queued {
            group.enter()
            machine.runSafely { body(); group.leave() }
        }
        guard group.wait(timeout: .now() + finishTimeout) == .success else {
            throw ExclusiveSectionTestError(description: "the exclusive sections did not all run within \(Int(finishTimeout)) s")
        }
        #expect(tally.sections == threads * perThread + queued)
        #expect(tally.overlaps == 0, "\(tally.overlaps) sections overlapped another")
        #expect(tally.vcpuMoved == 0, "a vCPU ran inside \(tally.vcpuMoved) sections")

        let final = try guest.stop(timeout: finishTimeout)
        #expect(final == .exited(0), "guest output:\n\(guest.output)")
        #expect(guest.output == "smp-stress: 4 CPUs, results correct\n")
    }
}
