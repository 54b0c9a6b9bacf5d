// The machine's debug seam: any number of observers hear its debug stops and its end, each until it cancels;
// breakpoints are set and resumed past through the machine, not through vCPU fields.
// The guest is Tests/Guests/arith.c (-O0), built by `make test` into EMUD_GUESTS.
// SPDX-License-Identifier: GPL-2.0-or-later

import Foundation
import Testing
@testable import Machine

/// What one observer heard; written on vCPU and background threads, read by the test.
private final class Heard: @unchecked Sendable {
    private let lock = NSLock()
    private var stops: [DebugStopEvent] = []
    private var finishes: [MachineState] = []

    func stopped(_ event: DebugStopEvent) { lock.withLock { stops.append(event) } }
    func finished(_ state: MachineState) { lock.withLock { finishes.append(state) } }
    var stopCount: Int { lock.withLock { stops.count } }
    var firstStopPC: UInt64? {
        lock.withLock {
            guard case .breakpoint(let pc)? = stops.first?.reason else { return nil }
            return pc
        }
    }
    var finishList: [MachineState] { lock.withLock { finishes } }
}

@Suite("Machine debug seam")
struct DebugSeamTests {
    @Test("two observers both hear a breakpoint stop; a cancelled one hears nothing more; resume runs past the breakpoint")
    func observersSubscribeAndCancel() throws {
        guard let directory = ProcessInfo.processInfo.environment["EMUD_GUESTS"], !directory.isEmpty else {
            throw TestSetupError("EMUD_GUESTS is not set: run `make test`, which builds the guest programs of Tests/Guests")
        }
        let image = try ELFLoader.load(path: URL(fileURLWithPath: directory).appendingPathComponent("arith-O0.elf").path)
        guard let main = image.symbols.first(where: { $0.name == "main" })?.address else {
            throw TestSetupError("arith-O0.elf has no symbol main: rebuild the guests with `make guests`")
        }
        let machine = try Machine(configuration: MachineConfiguration(cpus: 1), console: Console { _ in })
        try machine.load(image)
        let first = Heard(), second = Heard()
        machine.observe(debugStop: { first.stopped($0) }, finish: { first.finished($0) })
        let secondObservation = machine.observe(debugStop: { second.stopped($0) }, finish: { second.finished($0) })
        machine.setDebugPoints(breakpoints: [main], watchpoints: [])
        machine.start()

        let deadline = Date(timeIntervalSinceNow: 30)
        while (first.stopCount == 0 || second.stopCount == 0) && Date() < deadline { usleep(1000) }
        #expect(first.stopCount == 1 && second.stopCount == 1)
        #expect(first.firstStopPC == main && second.firstStopPC == main)

        secondObservation.cancel()
        machine.prepareToResumeFromDebugStop()
        machine.resume()  // the breakpoint stays: running past it once must not stop again at the same place
        let final = machine.waitForFinish(timeout: 30)
        #expect(final == .exited(0), "\(String(describing: final))")
        let settle = Date(timeIntervalSinceNow: 5)
        while first.finishList.isEmpty && Date() < settle { usleep(1000) }
        #expect(first.finishList == [.exited(0)])
        #expect(first.stopCount == 1, "stopped again at the breakpoint it was resumed past")
        #expect(second.stopCount == 1 && second.finishList.isEmpty, "a cancelled observer was still called")
    }

    @Test("a resume that races a pause (gdb detaching while the machine is destroyed) never leaves the pause waiting")
    func resumeRacingPause() throws {
        guard let directory = ProcessInfo.processInfo.environment["EMUD_GUESTS"], !directory.isEmpty else {
            throw TestSetupError("EMUD_GUESTS is not set: run `make test`, which builds the guest programs of Tests/Guests")
        }
        let image = try ELFLoader.load(path: URL(fileURLWithPath: directory).appendingPathComponent("demo-forever.elf").path)
        let machine = try Machine(configuration: MachineConfiguration(cpus: 1), console: Console { _ in })
        try machine.load(image)
        machine.start()
        defer { machine.shutdown() }
        usleep(100_000)
        #expect(machine.state == .running, "\(machine.state)")
        var stuck = 0
        for _ in 0..<100 where stuck == 0 {
            // Resumes keep coming for as long as the pause is waiting: one lands while the vCPU is still parking.
            let paused = Heard(), spinning = Heard()
            let both = DispatchGroup()
            DispatchQueue.global().async(group: both) {
                let giveUp = Date(timeIntervalSinceNow: 10)
                spinning.finished(.created)
                while paused.finishList.isEmpty && Date() < giveUp { machine.resume() }
            }
            while spinning.finishList.isEmpty { usleep(10) }
            DispatchQueue.global().async(group: both) { machine.pause(reason: "shutdown"); paused.finished(.created) }
            if both.wait(timeout: .now() + 15) == .timedOut || paused.finishList.isEmpty { stuck += 1 }
            machine.resume()
            usleep(300)  // the vCPU is running again before the next pause
        }
        // Before the fix, pause waited for a vCPU that the resume had sent back to work, for ever.
        #expect(stuck == 0, "a pause never returned after a concurrent resume")
        machine.pause()
        #expect(machine.state == .stopped("paused"), "\(machine.state)")
    }
}

private struct TestSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
