// emud: a debuggee for the gdb-session fuzz harness. GPL-2.0-or-later.

/// A two-vCPU machine with 4 KiB of RAM that checks the promises ``DebugTarget`` documents the
/// session makes: one attach; no call but resume, interrupt and the feature properties unless the
/// machine is stopped; resume lists every thread once, in order, and runs at least one; exactly one
/// detach or kill, and nothing after it. A broken promise stops the fuzzer.
///
/// Single-threaded: the harness plays the server's event loop and the machine both.
final class FuzzTarget: DebugTarget, @unchecked Sendable {
    enum State: Equatable {
        case unattached
        case stopped
        case running
        /// The debuggee has exited; gdb may still ask `?`, run monitor commands or kill.
        case exited
        case ended
    }

    static let ramBase: UInt64 = 0x4000_0000
    static let ramSize = 0x1000

    private(set) var state = State.unattached
    /// Stops the machine has reported and the harness has yet to deliver to the session.
    var pendingStops: [StopReason] = []
    /// Whether a resume stops by itself (a breakpoint, a step) or runs until gdb interrupts it.
    var resumesStopByThemselves = true
    /// Which kind of stop the next resume reports; advanced by each one.
    var stopSelector: UInt8
    let withOptionalFeatures: Bool

    private var registers: [Int: [UInt8]] = [:]
    private var memory = [UInt8](repeating: 0, count: FuzzTarget.ramSize)
    private var breakpoints: Set<Breakpoint> = []

    init(stopSelector: UInt8, withOptionalFeatures: Bool) {
        self.stopSelector = stopSelector
        self.withOptionalFeatures = withOptionalFeatures
        for thread in [1, 2] {
            registers[thread] = (0..<AArch64RegisterLayout.byteCount).map { UInt8(truncatingIfNeeded: $0 &+ thread) }
        }
    }

    private func require(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fatalError("gdb-session: the session broke the DebugTarget contract: \(message())") }
    }

    private func requireStopped(_ call: String) {
        require(state == .stopped, "\(call) called while the machine is \(state)")
    }

    /// The harness delivers a reported stop: the machine is stopped from now on.
    func stopDelivered(_ reason: StopReason) {
        state = reason.hasEnded ? .exited : .stopped
    }

    /// The machine ends while gdb is not waiting (a semihosting exit seen by the control plane).
    func endSpontaneously() -> StopReason? {
        guard state == .stopped else { return nil }
        state = .exited
        return .exited(code: 3)
    }

    // MARK: DebugTarget

    func attach(reporter: StopReporter) -> StopReason {
        require(state == .unattached, "attach called twice")
        state = .stopped
        return .signal(.trap, thread: 1)
    }

    func detach() {
        require(state != .ended && state != .unattached, "detach called when \(state)")
        state = .ended
        breakpoints.removeAll()
    }

    func kill() {
        require(state != .ended && state != .unattached, "kill called when \(state)")
        state = .ended
    }

    var threads: [Int] {
        require(state != .ended, "threads asked after the session ended")
        return [1, 2]
    }

    func readRegisters(thread: Int) -> [UInt8] {
        requireStopped("readRegisters")
        require(thread == 1 || thread == 2, "readRegisters for thread \(thread), which does not exist")
        return registers[thread] ?? []
    }

    func writeRegister(thread: Int, number: Int, bytes: [UInt8]) -> Bool {
        requireStopped("writeRegister")
        require(thread == 1 || thread == 2, "writeRegister for thread \(thread), which does not exist")
        guard let range = AArch64RegisterLayout.range(of: number) else { return false }
        require(bytes.count == range.count, "writeRegister \(number) with \(bytes.count) bytes, not \(range.count)")
        registers[thread]?.replaceSubrange(range, with: bytes)
        return true
    }

    func readMemory(address: UInt64, length: Int) -> [UInt8]? {
        requireStopped("readMemory")
        require(length > 0 && length <= 1 << 20, "readMemory of \(length) bytes")
        guard address >= Self.ramBase, address - Self.ramBase < UInt64(Self.ramSize) else { return nil }
        let start = Int(address - Self.ramBase)
        return Array(memory[start..<min(Self.ramSize, start + length)])
    }

    func writeMemory(address: UInt64, bytes: [UInt8]) -> Bool {
        requireStopped("writeMemory")
        guard address >= Self.ramBase, address - Self.ramBase <= UInt64(Self.ramSize),
            UInt64(bytes.count) <= UInt64(Self.ramSize) - (address - Self.ramBase)
        else { return false }
        let start = Int(address - Self.ramBase)
        memory.replaceSubrange(start..<(start + bytes.count), with: bytes)
        return true
    }

    func resume(actions: [ThreadAction]) {
        requireStopped("resume")
        require(actions.map(\.thread) == [1, 2], "resume actions \(actions) do not list each thread once in order")
        require(actions.contains { $0.action != .hold }, "resume that runs no thread: \(actions)")
        state = .running
        guard resumesStopByThemselves else { return }
        let thread = actions.first { $0.action != .hold }?.thread ?? 1
        stopSelector &+= 1
        let reasons: [StopReason] = [
            .signal(.trap, thread: thread), .softwareBreakpoint(thread: thread), .hardwareBreakpoint(thread: thread),
            .watchpoint(.write, address: Self.ramBase + 8, thread: thread),
            .watchpoint(.access, address: UInt64.max, thread: thread),
            .signal(GDBSignal(rawValue: 0xff), thread: thread), .exited(code: 0xff), .terminated(.kill),
        ]
        pendingStops.append(reasons[Int(stopSelector) % reasons.count])
    }

    func interrupt() {
        require(state == .running, "interrupt called while the machine is \(state)")
        if pendingStops.isEmpty { pendingStops.append(.signal(.interrupt, thread: 2)) }
    }

    var supportedBreakpointKinds: Set<BreakpointKind> { withOptionalFeatures ? BreakpointKind.all : [.software] }

    func insertBreakpoint(_ breakpoint: Breakpoint) -> Bool {
        requireStopped("insertBreakpoint")
        guard breakpoint.address >= Self.ramBase, breakpoints.count < 64 else { return false }
        breakpoints.insert(breakpoint)
        return true
    }

    func removeBreakpoint(_ breakpoint: Breakpoint) -> Bool {
        requireStopped("removeBreakpoint")
        return breakpoints.remove(breakpoint) != nil
    }

    // A path that does not exist: the fuzzer must never read host files.
    var execFilePath: String? { withOptionalFeatures ? "/nonexistent/emud-fuzz/guest.elf" : nil }

    var memoryMap: [MemoryRegion]? {
        withOptionalFeatures ? [MemoryRegion(kind: .ram, start: Self.ramBase, length: UInt64(Self.ramSize))] : nil
    }

    func monitor(command: String) -> String? {
        require(state == .stopped || state == .exited, "monitor called while the machine is \(state)")
        guard withOptionalFeatures else { return nil }
        switch command {
        case "help": return "help -- this text\n"
        case "big": return String(repeating: "0123456789", count: 100)  // several O packets at the smallest size
        case "": return ""
        default: return "unknown command '\(command)'; try 'monitor help'\n"
        }
    }
}
