import Foundation

/// Everything needed to build a machine.
public struct MachineConfiguration: Sendable {
    public var cpus: Int = 1
    public var ramSize: UInt64 = 128 << 20
    /// Semihosting may open host files only inside this directory; nil refuses all host file access.
    public var semihostingRoot: String? = nil
    public var semihostingCommandLine: String = ""
    /// The generic timer's time source: host time, or instruction counting for reproducible runs (`--icount`).
    public var clock: GuestClock = .host
    /// virtio-blk disks, on the virtio-mmio transports in QEMU's `-device` order (see `VirtioMMIOBus`).
    public var drives: [DriveConfiguration] = []
    /// A virtio-rng device after the drives (QEMU's `-device virtio-rng-device`; `virt` has none by default).
    public var virtioRNG = false
    /// How guest code runs: interpreted, or compiled to host code (`--engine`); `ExecutionEngine.default` says
    /// which when nothing chooses (the translator on x86-64).
    public var engine: ExecutionEngine = .default
    /// Each vCPU's code buffer under the translator (virtual size; pages are used as code fills them). When it
    /// is full the vCPU empties its translations and starts again.
    public var jitCodeBytes = 32 << 20
    /// Called on the vCPU's thread with each block the translator compiles (`emud run --dump-jit`); nil: none.
    public var jitDump: (@Sendable (JITBlockDump) -> Void)? = nil
    public static let maxCPUs = 8

    public init(cpus: Int = 1, ramSize: UInt64 = 128 << 20) {
        self.cpus = cpus
        self.ramSize = ramSize
    }
}

public enum MachineError: Error, CustomStringConvertible {
    case invalidCPUCount(Int)
    case invalidMemorySize(UInt64)
    /// The host refused to map the guest's RAM.
    case outOfMemory(UInt64)
    case invalidClockShift(Int)
    /// `--engine jit` on a host where the translator cannot run.
    case jitUnavailable

    public var description: String {
        switch self {
        case .outOfMemory(let n): return "the host could not provide \(n >> 20) MiB of guest RAM; give the machine less memory or free some on the host"
        case .invalidCPUCount(let n): return "--cpus \(n) is out of range: emud runs 1 to \(MachineConfiguration.maxCPUs) vCPUs per machine"
        case .invalidMemorySize(let n): return "memory size \(n) bytes is out of range: use 1M to 3G (RAM lives at 0x40000000 on the virt board)"
        case .jitUnavailable: return "--engine jit is not available on this host (it needs x86-64 and executable memory from memfd_create); use --engine interp"
        case .invalidClockShift(let n): return "--icount \(n) is out of range: use \(GuestClock.shifts.lowerBound) to \(GuestClock.shifts.upperBound) (2^N ns of virtual time per instruction)"
        }
    }
}

/// The run state a machine reports.
public enum MachineState: Equatable, Sendable {
    case created
    case running
    /// Stopped by a user (pause) or by the debugger; `reason` says which.
    case stopped(String)
    case exited(Int32)
    case failed(String)

    public var name: String {
        switch self {
        case .created: return "created"
        case .running: return "running"
        case .stopped: return "stopped"
        case .exited: return "exited"
        case .failed: return "failed"
        }
    }
}

/// A debug stop of the whole machine (all-stop): which vCPU stopped and why.
public struct DebugStopEvent: Sendable {
    public let cpu: Int
    public let reason: VCPUStop
}

/// One emulated AArch64 machine on the `virt` board, with one host thread per vCPU.
///
/// Run control and exclusive sections:
/// - Each vCPU thread runs guest code outside the control lock and parks (waits on `control`) whenever the
///   machine is paused, debug-stopped, in an exclusive section, or the vCPU is powered off. A parked vCPU
///   touches no machine state, so the holder of an exclusive section may change anything.
/// - `exclusive(_:)` may be called from any thread, including a vCPU thread outside its `run()` (that vCPU
///   counts as parked), and nests on one thread. It kicks every running vCPU and waits until all are parked.
/// - `tbFlush()`, plugin load/unload, gdb memory writes and resets run inside exclusive sections.
/// - `pause()`, `resume()`, `step(cpu:)` and `shutdown()` may be called from any thread except a vCPU's.
public final class Machine: PowerController, @unchecked Sendable {
    public let id: String
    public let configuration: MachineConfiguration
    public let board: VirtBoard
    public let vcpus: [VCPU]
    public var memory: GuestMemory { board.memory }
    public private(set) var image: GuestImage?

    private let control = NSCondition()
    private var threads: [Thread] = []
    /// vCPU threads that have returned from `vcpuThread` (under `control`).
    private var threadsExited = 0
    private var poweredOn: [Bool]

    /// Whether vCPU `cpu` is powered on (PSCI CPU_ON has started it and it has not called CPU_OFF); false for an
    /// index out of range. For debuggers' thread lists; any thread.
    public func isPoweredOn(cpu: Int) -> Bool {
        control.lock()
        defer { control.unlock() }
        return poweredOn.indices.contains(cpu) && poweredOn[cpu]
    }
    private var parked: [Bool]
    private var paused = false
    private var runOnly: Int? = nil
    private var exclusivePending = 0
    private var exclusiveOwner: Thread? = nil
    private var exclusiveDepth = 0
    private var shuttingDown = false
    private var started = false
    private var pendingReset = false
    public private(set) var state: MachineState = .created
    public private(set) var lastDebugStop: DebugStopEvent? = nil
    public let createdAt = Date()

    /// Everyone who listens to debug stops and the machine's end (see `observe`), under `observersLock`.
    private var observers: [(id: Int, debugStop: ((DebugStopEvent) -> Void)?, finish: ((MachineState) -> Void)?)] = []
    private var nextObserver = 0
    private let observersLock = NSLock()

    private static let vcpuKey = "emud.vcpu"
    /// The RTC's date at counter zero under `--icount`: 2000-01-01T00:00:00Z.
    static let deterministicEpoch: UInt64 = 946_684_800

    public init(id: String = "machine0", configuration: MachineConfiguration, console: Console) throws {
        guard (1...MachineConfiguration.maxCPUs).contains(configuration.cpus) else {
            throw MachineError.invalidCPUCount(configuration.cpus)
        }
        guard configuration.ramSize >= 1 << 20, configuration.ramSize <= 3 << 30 else {
            throw MachineError.invalidMemorySize(configuration.ramSize)
        }
        if case .instructions(let shift) = configuration.clock, !GuestClock.shifts.contains(shift) {
            throw MachineError.invalidClockShift(shift)
        }
        self.id = id
        self.configuration = configuration
        board = try VirtBoard(ramSize: configuration.ramSize, cpus: configuration.cpus, console: console,
                          semihostingRoot: configuration.semihostingRoot)
        board.semihosting.commandLine = configuration.semihostingCommandLine
        try board.virtio.plug(drives: configuration.drives, rng: configuration.virtioRNG)
        var cpus: [VCPU] = []
        for i in 0..<configuration.cpus { cpus.append(VCPU(index: i, memory: board.memory, clock: configuration.clock)) }
        for cpu in cpus { cpu.hostFences = configuration.cpus > 1 }
        if configuration.engine == .jit {
            for cpu in cpus where !cpu.enableJIT(codeCapacity: configuration.jitCodeBytes, dump: configuration.jitDump) { throw MachineError.jitUnavailable }
        }
        vcpus = cpus
        poweredOn = Array(repeating: false, count: cpus.count)
        parked = Array(repeating: true, count: cpus.count)
        board.power = self
        for bank in board.flash {
            // Code translated from flash is stale once the flash is programmed or erased.
            bank.contentChanged = { [unowned self] in for cpu in self.vcpus { cpu.requestFlush() } }
        }
        if case .instructions = configuration.clock {
            // Deterministic runs see a fixed date that advances with the reading vCPU's counter.
            board.rtc.clock = { [unowned self] cpu in
                Self.deterministicEpoch + self.vcpus[min(max(cpu, 0), self.vcpus.count - 1)].counter / GenericTimer.frequency
            }
        }
        for cpu in cpus { cpu.platform = board }
        board.gic.irqOutput = { [unowned self] cpu, level in self.vcpus[cpu].setIRQLine(level) }
        for cpu in cpus {
            cpu.sendEventToAll = { [unowned self] in for other in self.vcpus { other.signalEvent() } }
            // TLBI ...IS: this vCPU at once; the others empty their TLB before their next block, and the
            // issuer's next DSB waits until they have (or are not running guest code).
            cpu.invalidateAllTLBs = { [unowned self, unowned cpu] in
                cpu.translationChanged()
                for other in self.vcpus where other !== cpu { other.requestTLBFlush() }
            }
            cpu.waitForBroadcastInvalidation = { [unowned self, unowned cpu] in
                for other in self.vcpus where other !== cpu {
                    var spins = 0
                    while other.owesFlush() && !cpu.stopRequested {
                        spins += 1
                        if spins > 64 { sched_yield() }
                    }
                }
            }
        }
        board.memory.onCodeWrite = { [unowned self] page, mask in
            for cpu in self.vcpus where mask & (1 << UInt8(cpu.index)) != 0 { cpu.requestInvalidate(page: page) }
        }
        board.memory.onReservationLost = { [unowned self] cpu in
            if cpu < self.vcpus.count { self.vcpus[cpu].signalEvent() }
        }
    }

    /// Loads an image and points vCPU 0 at its entry (EL1h, interrupts masked), as QEMU does for an ELF `-kernel`.
    public func load(_ image: GuestImage) throws {
        try board.load(image)
        self.image = image
        vcpus[0].state.reset(entry: image.entry)
        vcpus[0].state.x[0] = image.bootArgument
        for cpu in vcpus.dropFirst() { cpu.state.reset(entry: 0) }
    }

    // MARK: life cycle

    /// Starts the vCPU threads; vCPU 0 runs, secondaries wait for PSCI CPU_ON. With `paused`, vCPU 0 waits
    /// for `resume()` before its first instruction.
    public func start(paused startPaused: Bool = false) {
        control.lock()
        guard !started else { control.unlock(); return }
        started = true
        poweredOn[0] = true
        paused = startPaused
        state = startPaused ? .stopped("paused") : .running
        for i in 0..<vcpus.count {
            let thread = Thread { [unowned self] in self.vcpuThread(i) }
            thread.name = "\(id)-vcpu\(i)"
            thread.stackSize = 8 << 20
            thread.threadDictionary[Self.vcpuKey] = i
            threads.append(thread)
        }
        control.unlock()
        for t in threads { t.start() }
    }

    /// Waits until the machine has exited or failed; nil on timeout.
    public func waitForFinish(timeout: TimeInterval? = nil) -> MachineState? {
        let deadline = timeout.map { Date(timeIntervalSinceNow: $0) }
        control.lock()
        defer { control.unlock() }
        while true {
            switch state {
            case .exited, .failed: return state
            default: break
            }
            if let deadline {
                if !control.wait(until: deadline) { return nil }
            } else {
                control.wait()
            }
        }
    }

    /// Waits until the machine is no longer running (stopped, exited or failed); nil on timeout.
    public func waitUntilNotRunning(timeout: TimeInterval) -> MachineState? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        control.lock()
        defer { control.unlock() }
        while state == .running {
            if !control.wait(until: deadline) { return nil }
        }
        return state
    }

    private var isFinished: Bool {
        switch state { case .exited, .failed: return true; default: return false }
    }

    /// Stops every vCPU thread and waits for them. The machine cannot be started again.
    public func shutdown() {
        control.lock()
        shuttingDown = true
        control.broadcast()
        control.unlock()
        for cpu in vcpus { cpu.requestStop() }
        control.lock()
        // Also wait for threads that have not begun yet: a guest that ends at once (PSCI SYSTEM_OFF in its first
        // block) can finish before a secondary's thread first runs, and that thread reaches the machine.
        while parked.contains(false) || threadsExited < threads.count { control.wait() }
        control.unlock()
    }

    /// Pauses the machine (all vCPUs parked) and returns once they are.
    public func pause(reason: String = "paused") {
        control.lock()
        guard !isFinished else { control.unlock(); return }
        paused = true
        if state == .running { state = .stopped(reason) }
        control.broadcast()
        control.unlock()
        for cpu in vcpus { cpu.requestStop() }
        // A resume that comes while the vCPUs are still parking (gdb detaching as the machine is destroyed)
        // supersedes this pause: waiting on for vCPUs that were told to run again would never end.
        waitAllParked { self.paused }
    }

    // MARK: the debug seam

    /// Subscribes to the machine's debug stops (breakpoint, watchpoint, step: called on the stopping vCPU's
    /// thread after every vCPU has parked) and to its end (called once, on a background queue, when the guest
    /// ends the machine or it fails). Any number of observers (gdb, the daemon, plugins) subscribe; each is
    /// called in the order it subscribed until it cancels the returned observation.
    @discardableResult
    public func observe(debugStop: ((DebugStopEvent) -> Void)? = nil, finish: ((MachineState) -> Void)? = nil) -> MachineObservation {
        observersLock.lock()
        defer { observersLock.unlock() }
        nextObserver += 1
        observers.append((nextObserver, debugStop, finish))
        return MachineObservation(machine: self, id: nextObserver)
    }

    fileprivate func cancelObservation(_ id: Int) {
        observersLock.lock()
        observers.removeAll { $0.id == id }
        observersLock.unlock()
    }

    private func currentObservers() -> [(id: Int, debugStop: ((DebugStopEvent) -> Void)?, finish: ((MachineState) -> Void)?)] {
        observersLock.lock()
        defer { observersLock.unlock() }
        return observers
    }

    /// Sets the breakpoints (virtual addresses of instructions: the run loop stops before them, guest memory is
    /// never written) and watchpoints (virtual data addresses) of every vCPU, in an exclusive section.
    public func setDebugPoints(breakpoints: Set<UInt64>, watchpoints: [Watchpoint]) {
        exclusive {
            for cpu in vcpus {
                cpu.breakpoints = breakpoints
                cpu.watchpoints = watchpoints
            }
        }
    }

    /// Before resuming from a debug stop: every vCPU runs past a breakpoint at its PC, and the vCPU that hit a
    /// watchpoint completes the access that hit it (AArch64 watchpoints stop before the access).
    public func prepareToResumeFromDebugStop() {
        control.lock()
        let stop = lastDebugStop
        control.unlock()
        for cpu in vcpus { cpu.skipBreakpointAt = cpu.state.pc }
        if let stop, case .watchpoint = stop.reason, stop.cpu >= 0, stop.cpu < vcpus.count {
            vcpus[stop.cpu].skipWatchpointAt = vcpus[stop.cpu].state.pc
        }
    }

    /// Resumes a paused or debug-stopped machine.
    public func resume() {
        control.lock()
        guard !isFinished else { control.unlock(); return }
        paused = false
        runOnly = nil
        state = .running
        control.broadcast()
        control.unlock()
    }

    /// Executes one instruction on `cpu` with the others held (gdb `stepi`). Returns when it has stopped again.
    public func step(cpu index: Int) {
        control.lock()
        guard !isFinished, index < vcpus.count else { control.unlock(); return }
        vcpus[index].singleStep = true
        runOnly = index
        paused = false
        state = .running
        control.broadcast()
        control.unlock()
    }

    /// Waits, while `wanted` (evaluated with the control lock held) still says the vCPUs should park, until every
    /// vCPU but the caller's own has parked.
    private func waitAllParked(while wanted: () -> Bool = { true }) {
        control.lock()
        let me = Thread.current.threadDictionary[Self.vcpuKey] as? Int
        while wanted(), (0..<vcpus.count).contains(where: { !parked[$0] && $0 != me }) { control.wait() }
        control.unlock()
    }

    // MARK: exclusive sections

    /// Runs `body` while every vCPU is parked at a block boundary (QEMU's start_exclusive/end_exclusive).
    /// Nested calls from the same thread run directly.
    public func exclusive<T>(_ body: () throws -> T) rethrows -> T {
        control.lock()
        if exclusiveOwner === Thread.current {
            exclusiveDepth += 1
            control.unlock()
            defer { control.lock(); exclusiveDepth -= 1; control.unlock() }
            return try body()
        }
        while exclusivePending > 0 { control.wait() }
        exclusivePending = 1
        exclusiveOwner = Thread.current
        exclusiveDepth = 1
        control.unlock()
        for cpu in vcpus { cpu.requestStop() }
        waitAllParked()
        defer {
            control.lock()
            exclusivePending = 0
            exclusiveOwner = nil
            exclusiveDepth = 0
            control.broadcast()
            control.unlock()
        }
        return try body()
    }

    /// Queues work to run in an exclusive section as soon as possible (QEMU's async_safe_run_on_cpu).
    public func runSafely(_ work: @escaping @Sendable () -> Void) {
        DispatchQueue.global().async { [weak self] in self?.exclusive { work() } }
    }

    /// Empties every vCPU's translation-block cache, in an exclusive section.
    public func tbFlush() {
        exclusive { for cpu in vcpus { cpu.flushTranslations() } }
    }

    /// Writes guest memory from outside the guest (control socket, benchmarks) at a physical address,
    /// invalidating translated code.
    public func writeMemory(_ address: UInt64, _ bytes: [UInt8]) -> Bool {
        exclusive { memory.writeBytes(address, bytes) }
    }

    /// Reads guest memory at a virtual address as vCPU `cpu` sees it now (its current translation), for a
    /// debugger: RAM only, never a fault in the guest, no change to the machine. `partial` as in
    /// `MemoryPort.debugRead`. Call while the vCPUs are stopped.
    public func readVirtualMemory(cpu: Int, _ address: UInt64, _ length: Int, partial: Bool = false) -> [UInt8]? {
        guard cpu >= 0, cpu < vcpus.count else { return nil }
        return vcpus[cpu].port.debugRead(address, length, partial: partial)
    }

    /// Writes guest memory at a virtual address as vCPU `cpu` sees it (gdb's M/X, breakpoints inserted as
    /// code), in an exclusive section, invalidating translated code; false, with nothing written, if any byte
    /// is not mapped RAM.
    public func writeVirtualMemory(cpu: Int, _ address: UInt64, _ bytes: [UInt8]) -> Bool {
        guard cpu >= 0, cpu < vcpus.count else { return false }
        return exclusive { vcpus[cpu].port.debugWrite(address, bytes) }
    }

    /// Every vCPU thread is alive (or the machine has ended, when they legitimately are not). For health checks.
    public var vcpuThreadsHealthy: Bool {
        control.lock()
        defer { control.unlock() }
        if isFinished || !started { return true }
        return threads.allSatisfy { $0.isExecuting && !$0.isFinished }
    }

    // MARK: statistics

    public var instructionsExecuted: UInt64 { vcpus.reduce(0) { $0 &+ $1.instructionsExecuted } }

    /// The translator's figures summed over the vCPUs; nil when the machine interprets.
    public var jitStatistics: JITStatistics? {
        var total: JITStatistics? = nil
        for cpu in vcpus {
            guard let s = cpu.jitStatistics else { continue }
            var t = total ?? JITStatistics()
            t.blocksCompiled &+= s.blocksCompiled
            t.blocksInterpreted &+= s.blocksInterpreted
            t.operationsCompiled &+= s.operationsCompiled
            t.operationsDelegated &+= s.operationsDelegated
            t.codeBytesUsed &+= s.codeBytesUsed
            t.codeBytesCapacity &+= s.codeBytesCapacity
            t.bufferResets &+= s.bufferResets
            t.links &+= s.links
            t.indirectLinks &+= s.indirectLinks
            t.compileNanoseconds &+= s.compileNanoseconds
            t.bufferFull &+= s.bufferFull
            t.delegatedByOperation.merge(s.delegatedByOperation) { $0 &+ $1 }
            total = t
        }
        return total
    }

    public var translationStatistics: TranslationStatistics {
        var total = TranslationStatistics()
        for cpu in vcpus {
            let s = cpu.cache.stats
            total.blocksTranslated += s.blocksTranslated
            total.instructionsTranslated += s.instructionsTranslated
            total.flushes += s.flushes
            total.invalidations += s.invalidations
            total.liveBlocks += cpu.cache.liveBlocks
        }
        return total
    }

    public var undefinedInstructions: [EncodingGroup: UInt64] {
        var out: [EncodingGroup: UInt64] = [:]
        for cpu in vcpus {
            for g in EncodingGroup.allCases where cpu.undefinedByGroup[g.rawValue] > 0 {
                out[g, default: 0] += cpu.undefinedByGroup[g.rawValue]
            }
        }
        return out
    }

    // MARK: PSCI power control

    func cpuOn(mpidr: UInt64, entry: UInt64, context: UInt64) -> Int64 {
        let target = Int(mpidr & 0xff)
        // The MPIDR affinity value exactly, as QEMU matches it (bit 31, RES1 in MPIDR_EL1, is not part of it).
        guard mpidr & ~0xff == 0, target < vcpus.count else { return VirtBoard.invalidParameters }
        control.lock()
        defer { control.unlock() }
        if poweredOn[target] { return VirtBoard.alreadyOn }
        let cpu = vcpus[target]
        let identity = cpu.state.sys.identity
        cpu.state.reset(entry: entry)
        cpu.state.sys.identity = identity
        cpu.resetExclusiveMonitor()
        cpu.state.x[0] = context
        poweredOn[target] = true
        control.broadcast()
        return VirtBoard.success
    }

    func affinityInfo(mpidr: UInt64, level: UInt64) -> Int64 {
        // Affinity levels above 0 are clusters, which are always on (as QEMU's virt reports them).
        guard level == 0 else { return 0 }
        let target = Int(mpidr & 0xff)
        guard mpidr & ~0xff == 0, target < vcpus.count else { return VirtBoard.invalidParameters }
        control.lock()
        defer { control.unlock() }
        return poweredOn[target] ? 0 : 1
    }

    // MARK: vCPU threads

    private func mayRun(_ i: Int) -> Bool {
        poweredOn[i] && !paused && exclusivePending == 0 && (runOnly == nil || runOnly == i) && !pendingReset
    }

    private func vcpuThread(_ i: Int) {
        let cpu = vcpus[i]
        defer { cpu.instrumentation?.vcpuEvent(cpu: i, .exited) }
        control.lock()
        while true {
            while !shuttingDown && !mayRun(i) {
                if !parked[i] { parked[i] = true; control.broadcast() }
                control.wait()
            }
            if shuttingDown { break }
            parked[i] = false
            cpu.clearStopRequest()
            control.unlock()
            let stop = cpu.run()
            control.lock()
            switch stop {
            case .stopRequested:
                continue
            case .poweredOff:
                poweredOn[i] = false
            case .exited(let code):
                finish(.exited(code))
            case .unsupported(let message):
                finish(.failed(message))
            case .reset:
                pendingReset = true
                parked[i] = true
                control.broadcast()
                control.unlock()
                for other in vcpus where other.index != i { other.requestStop() }
                waitAllParked()
                performReset()
                control.lock()
                pendingReset = false
                parked[i] = false
                control.broadcast()
            case .breakpoint, .watchpoint, .stepped:
                cpu.singleStep = false
                runOnly = nil
                paused = true
                state = .stopped("debug")
                let event = DebugStopEvent(cpu: i, reason: stop)
                lastDebugStop = event
                parked[i] = true
                control.broadcast()
                control.unlock()
                for other in vcpus where other.index != i { other.requestStop() }
                waitAllParked { self.paused }
                for observer in currentObservers() { observer.debugStop?(event) }
                control.lock()
            }
        }
        parked[i] = true
        threadsExited += 1
        control.broadcast()
        control.unlock()
    }

    /// Called with the control lock held.
    private func finish(_ final: MachineState) {
        guard !isFinished else { return }
        state = final
        shuttingDown = true
        control.broadcast()
        for cpu in vcpus { cpu.requestStop() }
        let finishes = currentObservers().compactMap(\.finish)
        DispatchQueue.global().async { for finish in finishes { finish(final) } }
    }

    /// Ends the machine from outside (gdb `kill`, control `quit`): it fails with `reason`.
    public func terminate(_ reason: String) {
        control.lock()
        finish(.failed(reason))
        control.unlock()
        for cpu in vcpus { cpu.requestStop() }
    }

    /// PSCI SYSTEM_RESET or a reset request: reload the image, vCPU 0 at its entry, secondaries off.
    /// Runs with every vCPU parked.
    private func performReset() {
        if let image { try? board.load(image) }
        board.virtio.reset()
        for cpu in vcpus {
            cpu.flushTranslations()
            let identity = cpu.state.sys.identity
            cpu.state.reset(entry: cpu.index == 0 ? (image?.entry ?? 0) : 0)
            cpu.state.sys.identity = identity
            if cpu.index == 0 { cpu.state.x[0] = image?.bootArgument ?? 0 }
            cpu.resetExclusiveMonitor()
        }
        control.lock()
        for i in 0..<poweredOn.count { poweredOn[i] = i == 0 }
        control.unlock()
    }

    /// Resets the machine from outside (gdb `monitor reset`, control `machine-reset`).
    public func reset() {
        exclusive { performReset() }
    }
}

/// A subscription made with `Machine.observe`; `cancel()` ends it (it also ends with the machine).
public final class MachineObservation: @unchecked Sendable {
    private weak var machine: Machine?
    private let id: Int

    fileprivate init(machine: Machine, id: Int) {
        self.machine = machine
        self.id = id
    }

    public func cancel() { machine?.cancelObservation(id) }
}
