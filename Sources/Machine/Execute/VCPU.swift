import Atomics
import CAtomic128
import Foundation

/// Why `VCPU.run()` returned.
public enum VCPUStop: Equatable, Sendable {
    /// The guest asked to end the machine (semihosting SYS_EXIT, PSCI SYSTEM_OFF) with this status.
    case exited(Int32)
    /// PSCI SYSTEM_RESET.
    case reset
    /// A gdb breakpoint at this address, before executing it.
    case breakpoint(UInt64)
    /// A watchpoint hit: (kind, data address), after the access.
    case watchpoint(WatchKind, UInt64)
    /// One instruction was executed in single-step mode.
    case stepped
    /// Someone asked this vCPU to stop (`requestStop`).
    case stopRequested
    /// The vCPU powered itself off (PSCI CPU_OFF) and waits for CPU_ON.
    case poweredOff
    /// Something emud does not model was required (for example the MMU being turned on).
    case unsupported(String)
}

public enum WatchKind: Sendable { case write, read, access }

/// What a firmware call (PSCI over HVC/SMC, semihosting) asks the vCPU to do next.
public enum FirmwareResult {
    case handled
    case undefined
    case stop(VCPUStop)
}

/// The board services a vCPU calls out to. Implemented by the board (for example `VirtBoard`).
/// Called on the vCPU's own thread.
public protocol VCPUPlatform: AnyObject {
    func firmwareCall(_ cpu: VCPU, smc: Bool, imm: UInt16) -> FirmwareResult
    func semihostingCall(_ cpu: VCPU) -> FirmwareResult
    func timerLineChanged(cpu: Int, ppi: Int, level: Bool)
}

/// Bits of `VCPU.attention`: reasons to leave the fast path at the next block boundary.
public enum Attention {
    static let stop: UInt32 = 1
    static let interrupt: UInt32 = 2
    static let invalidate: UInt32 = 4
    static let flush: UInt32 = 8
    static let exclusive: UInt32 = 16
}

/// One AArch64 virtual CPU: its state, its translation-block cache and the interpreter that runs them.
///
/// Threading: `run()` and everything it reaches executes on the vCPU's own thread. Other threads talk to a vCPU
/// only through `requestStop()`, `requestInvalidate(page:)`, `requestFlush()`, `setIRQLine(_:)` (all lock-free
/// or briefly locked and safe from any thread), or by touching its state while it is parked outside `run()`.
public final class VCPU {
    public let index: Int
    public let state = CPUState()
    public let memory: GuestMemory
    public let cache = TranslationCache()
    public weak var platform: VCPUPlatform?
    /// The plugin host, if any plugin is loaded. Changed only inside an exclusive section, with a flush.
    public weak var instrumentation: Instrumentation?

    // Copies of the RAM window for the hot path.
    private let ram: UnsafeMutableRawPointer
    private let ramBase: UInt64
    private let ramSize: UInt64
    /// RAM size as the inline fast path sees it: 0 while gdb watchpoints exist, which sends every access through
    /// the slow path that checks them.
    private var fastRAMSize: UInt64
    private let accessLog: UnsafeMutablePointer<MemoryAccess>
    private var accessCount = 0
    /// Set while a block with memory callbacks runs: the slow paths and the non-interpreter accessors (SIMD,
    /// atomics) log accesses; the interpreter's RAM fast path logs them when its specialisation says so.
    private var recordingAccesses = false
    private static let accessLogCapacity = 64

    /// Reasons to leave the fast path; set from any thread, cleared by this vCPU.
    let attention: UnsafeAtomic<UInt32> = .create(0)
    /// Level of the IRQ line from the interrupt controller.
    let irqLine: UnsafeAtomic<Bool> = .create(false)
    /// The WFE event register, set by SEV on any vCPU (and SEVL locally).
    let eventRegister: UnsafeAtomic<Bool> = .create(false)
    /// Whether guest barriers need host fences: only when another vCPU thread can observe this one's accesses
    /// (set by the machine when it has more than one vCPU); with one vCPU, program order is all there is.
    var hostFences = true
    /// Set (under `wakeLock`) while this vCPU sleeps in WFE, so that events for a vCPU that is not waiting
    /// (the common case: every lost reservation is one) cost no lock.
    private let waitingForEvent: UnsafeAtomic<Bool> = .create(false)
    /// Broadcasts SEV to every vCPU of the machine (set by `Machine`).
    var sendEventToAll: (() -> Void)?
    private let wakeLock = NSCondition()
    private var pendingInvalidations: [UInt64] = []

    public private(set) var instructionsExecuted: UInt64 = 0
    public private(set) var exceptionsTaken: UInt64 = 0
    public private(set) var undefinedByGroup = [UInt64](repeating: 0, count: EncodingGroup.allCases.count)

    // gdb support
    public var breakpoints: Set<UInt64> = [] { didSet { if breakpoints != oldValue { flushTranslations() } } }
    /// Executes the instruction at this address even if it holds a breakpoint (resuming from one).
    public var skipBreakpointAt: UInt64? = nil
    public var singleStep = false
    /// gdb watchpoints: while any exist every access takes the slow path, which checks them. A hit stops the vCPU
    /// before the accessing instruction completes (AArch64 watchpoints are not steppable), PC at the instruction.
    public var watchpoints: [Watchpoint] = [] { didSet { updateFastPath() } }
    /// Lets the instruction at this address run once without triggering watchpoints (resuming from a hit).
    public var skipWatchpointAt: UInt64? = nil
    private static let watchHit: UInt32 = 0xffff
    private var watchHitKind: WatchKind = .write
    private var currentPC: UInt64 = 0

    // Exclusive monitor (local): address, size and the value seen by the load-exclusive.
    private var monitorValid = false
    private var monitorAddress: UInt64 = 0
    private var monitorSize = 0
    private var monitorValue: UInt64 = 0
    private var monitorValue2: UInt64 = 0

    // Data abort details set by the slow memory paths.
    private var faultAddress: UInt64 = 0
    private var faultStatus: UInt32 = 0
    private var faultWrite = false

    private var stopReason: VCPUStop? = nil
    /// The last block `execute` ran to its end (-1 if it left early), for chaining in the run loop.
    private var lastBlock: Int32 = -1
    private var modeBits: UInt64 = 0
    private var irqCheckNeeded = true
    private var timerPollCountdown = 0
    /// Host-monotonic nanosecond at which the counter read zero.
    public var counterEpoch: UInt64 = DispatchTime.now().uptimeNanoseconds
    public static let counterFrequency: UInt64 = 62_500_000
    private var timerLevels: (virtual: Bool, physical: Bool) = (false, false)

    public init(index: Int, memory: GuestMemory) {
        self.index = index
        self.memory = memory
        ram = memory.ram
        ramBase = memory.ramBase
        ramSize = memory.ramSize
        fastRAMSize = memory.ramSize
        accessLog = .allocate(capacity: Self.accessLogCapacity)
        state.sys.identity.mpidr = 0x8000_0000 | UInt64(index & 0xff) | (UInt64(index >> 8) << 8)
    }

    deinit {
        accessLog.deallocate()
        attention.destroy()
        irqLine.destroy()
        eventRegister.destroy()
        waitingForEvent.destroy()
    }

    // MARK: requests from other threads

    /// Asks the vCPU to return from `run()` at its next block boundary (or wakes it from WFI).
    public func requestStop() {
        attention.loadThenBitwiseOr(with: Attention.stop, ordering: .releasing)
        wake()
    }

    public func clearStopRequest() {
        attention.loadThenBitwiseAnd(with: ~Attention.stop, ordering: .relaxed)
    }

    /// Asks the vCPU to drop translated code from a RAM page before it runs another block.
    public func requestInvalidate(page: UInt64) {
        wakeLock.lock()
        pendingInvalidations.append(page)
        wakeLock.unlock()
        attention.loadThenBitwiseOr(with: Attention.invalidate, ordering: .releasing)
    }

    public func requestFlush() {
        attention.loadThenBitwiseOr(with: Attention.flush, ordering: .releasing)
        wake()
    }

    public func setIRQLine(_ level: Bool) {
        let old = irqLine.exchange(level, ordering: .acquiringAndReleasing)
        if level && !old {
            attention.loadThenBitwiseOr(with: Attention.interrupt, ordering: .releasing)
            wake()
        }
    }

    /// SEV from another vCPU: set the event register and wake this one if it waits in WFE.
    public func signalEvent() {
        // Sequentially consistent on both sides: either the waiter sees the event before it sleeps, or we see
        // that it waits and wake it (it holds `wakeLock` from announcing that until it sleeps).
        eventRegister.store(true, ordering: .sequentiallyConsistent)
        if waitingForEvent.load(ordering: .sequentiallyConsistent) { wake() }
    }

    func wake() {
        wakeLock.lock()
        wakeLock.broadcast()
        wakeLock.unlock()
    }

    // MARK: cache management (own thread, or while parked)

    /// Empties this vCPU's translation cache.
    public func flushTranslations() {
        for page in cache.flush() { memory.clearCode(page: page, cpu: index) }
        instrumentation?.translationsFlushed(cpu: index)
    }

    private func serveAttention() -> Bool {
        let bits = attention.exchange(0, ordering: .acquiring)
        if bits & Attention.flush != 0 { flushTranslations() }
        if bits & Attention.invalidate != 0 {
            wakeLock.lock()
            let pages = pendingInvalidations
            pendingInvalidations.removeAll()
            wakeLock.unlock()
            for page in pages { invalidateCode(page: page) }
        }
        if bits & Attention.stop != 0 {
            stopReason = .stopRequested
            return true
        }
        return false
    }

    private func invalidateCode(page: UInt64) {
        cache.invalidate(page: page)
        memory.clearCode(page: page, cpu: index)
    }

    /// A store of ours to RAM hit a page that holds translated code (ours or another vCPU's) or an exclusive
    /// reservation: invalidates the code (the block then ends after the store) and clears other vCPUs' reservations
    /// of the granule.
    private func watchedPageWritten(_ address: UInt64, _ length: UInt64) {
        let first = (address &- ramBase) >> GuestMemory.pageShift
        let last = (address &- ramBase &+ length &- 1) >> GuestMemory.pageShift
        for page in first...last {
            let bits = memory.watchBits(page: page)
            let mask = UInt8(truncatingIfNeeded: bits)
            if mask != 0 {
                if mask & (1 << UInt8(index)) != 0 { invalidateCode(page: page) }
                if mask & ~(1 << UInt8(index)) != 0 { memory.onCodeWrite?(page, mask & ~(1 << UInt8(index))) }
                codeWriteHit = true
            }
            if bits > 0xff { memory.storeClears(address: address, length: length, cpu: index, bits: bits) }
        }
    }

    /// Puts the exclusive monitor in its reset state (no reservation). For the machine, while this vCPU is
    /// parked or off: machine reset and PSCI CPU_ON.
    func resetExclusiveMonitor() {
        monitorValid = false
        memory.release(cpu: index)
    }

    /// Ends this vCPU's exclusive reservation (CLREX, exception entry, ERET, after a store-exclusive).
    @inline(__always) private func clearMonitor() {
        if monitorValid {
            monitorValid = false
            memory.release(cpu: index)
        }
    }

    // MARK: the run loop

    /// Runs guest code until something stops this vCPU.
    public func run() -> VCPUStop {
        stopReason = nil
        updateModeBits()
        irqCheckNeeded = true
        var previous: Int32 = -1
        while true {
            if attention.load(ordering: .relaxed) != 0 {
                if serveAttention() { break }
                previous = -1
            }
            if irqCheckNeeded || timerPollCountdown <= 0 {
                if timerPollCountdown <= 0 { pollTimers(); timerPollCountdown = 512 }
                irqCheckNeeded = false
                if irqLine.load(ordering: .relaxed) && state.daif & 0x80 == 0 {
                    takeException(vectorOffset: 0x80, esr: nil, far: nil, returnAddress: state.pc)
                    previous = -1
                }
            }
            timerPollCountdown -= 1
            let pc = state.pc
            if pc & 3 != 0 {
                takeException(vectorOffset: 0, esr: 0x22 << 26 | 1 << 25, far: pc, returnAddress: pc)
                previous = -1
                continue
            }
            let key = pc | modeBits
            var index: Int32 = -1
            if previous >= 0 {
                let p = cache.blocks + Int(previous)
                if p.pointee.chainKey0 == key { index = p.pointee.chainIndex0 }
                else if p.pointee.chainKey1 == key { index = p.pointee.chainIndex1 }
            }
            if index < 0 {
                if singleStep {
                    index = translate(key: key, pc: pc, limit: 1)
                } else {
                    index = cache.lookup(key)
                    if index < 0 { index = translate(key: key, pc: pc, limit: TranslationCache.maxBlockInstructions) }
                }
                if index < 0 { previous = -1; continue } // instruction abort taken
                if previous >= 0 && !singleStep {
                    let p = cache.blocks + Int(previous)
                    if p.pointee.chainKey0 == ~0 { p.pointee.chainKey0 = key; p.pointee.chainIndex0 = index }
                    else { p.pointee.chainKey1 = key; p.pointee.chainIndex1 = index }
                }
            }
            let block = cache.blocks + Int(index)
            if block.pointee.breakpoint {
                if skipBreakpointAt == pc {
                    skipBreakpointAt = nil
                } else {
                    stopReason = .breakpoint(pc)
                    break
                }
            }
            skipBreakpointAt = nil
            if skipWatchpointAt != nil {
                if skipWatchpointAt != pc { skipWatchpointAt = nil } else { irqCheckNeeded = true } // run just this block
            }
            switch block.pointee.mode {
            case 0: execute(block, WithoutHooks.self)
            case 1: execute(block, FoldedInline.self)
            case 2: execute(block, WithHooks.self)
            default: execute(block, WithMemoryHooks.self)
            }
            skipWatchpointAt = nil
            if let _ = stopReason { break }
            if singleStep {
                // Single-step blocks are throwaway: translated anew each time.
                flushTranslations()
                stopReason = .stepped
                break
            }
            previous = lastBlock >= 0 && cache.blocks[Int(lastBlock)].valid ? lastBlock : -1
            if cache.blockCount == 0 { previous = -1 }
        }
        return stopReason ?? .stopRequested
    }

    @inline(__always) private func updateModeBits() {
        alignmentMask = state.sys.sctlr & 2 != 0 ? ~0 : 0
        modeBits = (state.sys.fpEnabled(el: state.currentEL) ? 1 : 0) | (UInt64(state.currentEL) << 1)
    }

    /// Translates a block at `pc`; returns its index, or -1 after raising an instruction abort.
    private func translate(key: UInt64, pc: UInt64, limit: Int) -> Int32 {
        if !cache.hasRoom { flushTranslations() }
        let fpEnabled = modeBits & 1 != 0
        return withUnsafeTemporaryAllocation(of: Op.self, capacity: limit) { buffer -> Int32 in
            var count = 0
            var address = pc
            while count < limit {
                guard let p = memory.ramPointer(address, 4) else { break }
                if count > 0 && breakpoints.contains(address) { break }
                let word = p.loadUnaligned(as: UInt32.self)
                var op: Op
                if !fpEnabled && A64Decoder.usesFPRegisters(word) {
                    op = Op(.fpTrap)
                } else {
                    op = A64Decoder.decode(word, pc: address)
                }
                (buffer.baseAddress! + count).initialize(to: op)
                count += 1
                address &+= 4
                if op.code.endsBlock { break }
                if address & 0xfff == 0 { break }
            }
            if count == 0 {
                // Nothing executable at pc: instruction abort (synchronous external abort on fetch).
                let ec: UInt32 = state.currentEL == 0 ? 0x20 : 0x21
                takeException(vectorOffset: 0, esr: ec << 26 | 1 << 25 | 0x10, far: pc, returnAddress: pc)
                return -1
            }
            let firstPage = (pc &- ramBase) >> GuestMemory.pageShift
            let lastPage = (address &- 4 &- ramBase) >> GuestMemory.pageShift
            for page in firstPage...lastPage { memory.markCode(page: page, cpu: index) }
            let ops = UnsafeBufferPointer(start: buffer.baseAddress!, count: count)
            var hooks: [InstrumentationHook] = []
            var foldInlineAdds = true
            if let instrumentation {
                var words: [UInt32] = []
                words.reserveCapacity(count)
                for k in 0..<count {
                    words.append(memory.ramPointer(pc &+ UInt64(k) &* 4, 4)?.loadUnaligned(as: UInt32.self) ?? 0)
                }
                hooks = instrumentation.instrument(BlockDescription(pc: pc, words: words), cpu: index)
                    .filter { $0.instruction >= 0 && $0.instruction < Int32(count) }
                    .enumerated().sorted { ($0.element.instruction, $0.offset) < ($1.element.instruction, $1.offset) }
                    .map { $0.element }
                foldInlineAdds = instrumentation.inlineAddsMayBeDeferred
            }
            let blockIndex = cache.add(key: key, pc: pc, ops: ops, breakpoint: breakpoints.contains(pc), pages: (firstPage, lastPage),
                                       hooks: hooks, foldInlineAdds: foldInlineAdds)
            buffer.baseAddress!.deinitialize(count: count)
            return blockIndex
        }
    }

    // MARK: exceptions

    /// Takes an exception to EL1: `vectorOffset` is 0 (synchronous), 0x80 (IRQ), 0x100 (FIQ), 0x180 (SError).
    public func takeException(vectorOffset: UInt64, esr: UInt32?, far: UInt64?, returnAddress: UInt64) {
        let fromEL = state.currentEL
        let base: UInt64 = fromEL == 0 ? 0x400 : (state.spSel == 0 ? 0 : 0x200)
        state.sys.spsr = UInt64(state.pstate)
        state.sys.elr = returnAddress
        if let esr { state.sys.esr = UInt64(esr) }
        if let far { state.sys.far = far }
        state.daif = 0x3c0
        state.panUAO &= ~(1 << 23)                                   // UAO cleared on entry
        if state.sys.sctlr & (1 << 23) == 0 { state.panUAO |= 1 << 22 } // SPAN = 0: set PAN
        state.setMode(el: 1, spSel: 1)
        state.pc = state.sys.vbar &+ base &+ vectorOffset
        clearMonitor()
        exceptionsTaken &+= 1
        updateModeBits()
        if let instrumentation {
            let kind: ExceptionKind = vectorOffset == 0 ? .synchronous : vectorOffset == 0x80 ? .irq : vectorOffset == 0x100 ? .fiq : .serror
            instrumentation.exceptionTaken(cpu: index, kind: kind, from: returnAddress, to: state.pc, syndrome: esr ?? 0)
        }
        if VCPU.traceExceptions {
            FileHandle.standardError.write(Data(String(format: "emud-trace: cpu%d exception vector+0x%llx esr=0x%llx elr=0x%llx far=0x%llx\n",
                                                       index, vectorOffset, state.sys.esr, returnAddress, state.sys.far).utf8))
        }
    }

    /// Debug aid: log every exception taken on stderr (EMUD_TRACE_EXCEPTIONS=1).
    public static let traceExceptions = ProcessInfo.processInfo.environment["EMUD_TRACE_EXCEPTIONS"] == "1"

    @inline(__always) private func pcOf(_ block: UnsafeMutablePointer<TranslationBlock>, _ i: Int) -> UInt64 {
        block.pointee.pc &+ UInt64(i) &* 4
    }

    private func undefined(_ pc: UInt64, group: Int) {
        if group >= 0 && group < undefinedByGroup.count { undefinedByGroup[group] &+= 1 }
        takeException(vectorOffset: 0, esr: 1 << 25, far: nil, returnAddress: pc)
    }

    private func dataAbort(_ pc: UInt64) {
        let ec: UInt32 = state.currentEL == 0 ? 0x24 : 0x25
        let esr = ec << 26 | 1 << 25 | (faultWrite ? 1 << 6 : 0) | faultStatus
        takeException(vectorOffset: 0, esr: esr, far: faultAddress, returnAddress: pc)
    }

    // MARK: memory access

    /// Loads; nil after recording a fault. `record` (a constant in each interpreter specialisation) logs the
    /// access for memory callbacks; the slow path logs whenever `recordingAccesses` is set.
    @inline(__always) private func load(_ address: UInt64, _ size: UInt8, _ record: Bool) -> UInt64? {
        let offset = address &- ramBase
        let length = UInt64(1) << UInt64(size)
        if offset < fastRAMSize && length <= fastRAMSize &- offset && address & alignmentMask & (length &- 1) == 0 {
            let p = ram + Int(offset)
            let value = loadRAM(p, size)
            if record { recordAccess(address, value, size, store: false, device: nil) }
            return value
        }
        return loadSlow(address, size)
    }

    /// A little-endian load of 1 << size bytes from host memory (x86-64 allows any alignment).
    @inline(__always) private func loadRAM(_ p: UnsafeMutableRawPointer, _ size: UInt8) -> UInt64 {
        switch size {
        case 0: return UInt64(p.load(as: UInt8.self))
        case 1: return UInt64(p.loadUnaligned(as: UInt16.self))
        case 2: return UInt64(p.loadUnaligned(as: UInt32.self))
        default: return p.loadUnaligned(as: UInt64.self)
        }
    }

    private func loadSlow(_ address: UInt64, _ size: UInt8) -> UInt64? {
        guard checkAlignment(address, UInt64(1) << UInt64(size), write: false, always: false) else { return nil }
        let length = UInt64(1) << UInt64(size)
        if !watchpoints.isEmpty && watchpointHit(address, length, store: false) { return nil }
        if let p = memory.ramPointer(address, length) {
            let value = loadRAM(p, size)
            if recordingAccesses { recordAccess(address, value, size, store: false, device: nil) }
            return value
        }
        if let (region, offset) = memory.region(for: address, size: 1 << Int(size)),
           let value = region.device.read(offset: offset, size: 1 << Int(size), cpu: index) {
            if recordingAccesses { recordAccess(address, value, size, store: false, device: region.cName) }
            return value
        }
        faultAddress = address
        faultStatus = 0x10
        faultWrite = false
        return nil
    }

    /// Stores; false after recording a fault. A store into translated code ends the block after it.
    @inline(__always) private func store(_ address: UInt64, _ size: UInt8, _ value: UInt64, _ record: Bool) -> Bool {
        let offset = address &- ramBase
        let length = UInt64(1) << UInt64(size)
        if offset < fastRAMSize && length <= fastRAMSize &- offset && address & alignmentMask & (length &- 1) == 0 {
            let p = ram + Int(offset)
            switch size {
            case 0: p.storeBytes(of: UInt8(truncatingIfNeeded: value), as: UInt8.self)
            case 1: p.storeBytes(of: UInt16(truncatingIfNeeded: value), as: UInt16.self)
            case 2: p.storeBytes(of: UInt32(truncatingIfNeeded: value), as: UInt32.self)
            default: p.storeBytes(of: value, as: UInt64.self)
            }
            if record { recordRAMStore(address, value, size) }
            let first = offset >> GuestMemory.pageShift
            if memory.watchBits(page: first) != 0 || memory.watchBits(page: (offset &+ length &- 1) >> GuestMemory.pageShift) != 0 {
                watchedPageWritten(address, length)
            }
            return true
        }
        return storeSlow(address, size, value)
    }

    private var codeWriteHit = false
    /// SCTLR_EL1.A: every data access must be aligned to its size. Folded into the RAM fast path as a mask
    /// (0 when checking is off) so the common case costs one AND.
    private var alignmentMask: UInt64 = 0

    private func storeSlow(_ address: UInt64, _ size: UInt8, _ value: UInt64) -> Bool {
        guard checkAlignment(address, UInt64(1) << UInt64(size), write: true, always: false) else { return false }
        let length = UInt64(1) << UInt64(size)
        if !watchpoints.isEmpty && watchpointHit(address, length, store: true) { return false }
        if let p = memory.ramPointer(address, length) {
            switch size {
            case 0: p.storeBytes(of: UInt8(truncatingIfNeeded: value), as: UInt8.self)
            case 1: p.storeBytes(of: UInt16(truncatingIfNeeded: value), as: UInt16.self)
            case 2: p.storeBytes(of: UInt32(truncatingIfNeeded: value), as: UInt32.self)
            default: p.storeBytes(of: value, as: UInt64.self)
            }
            if recordingAccesses { recordAccess(address, value & ones(8 << Int(size)), size, store: true, device: nil) }
            noteRAMWrite(address, length)
            return true
        }
        if let (region, offset) = memory.region(for: address, size: 1 << Int(size)),
           region.device.write(offset: offset, size: 1 << Int(size), value: value, cpu: index) {
            if recordingAccesses { recordAccess(address, value & ones(8 << Int(size)), size, store: true, device: region.cName) }
            return true
        }
        faultAddress = address
        faultStatus = 0x10
        faultWrite = true
        return false
    }

    private func updateFastPath() {
        fastRAMSize = !watchpoints.isEmpty ? 0 : ramSize
    }

    /// Whether an access hits a watchpoint (and is not the one being resumed past).
    private func watchpointHit(_ address: UInt64, _ length: UInt64, store: Bool) -> Bool {
        for w in watchpoints where address < w.address &+ w.length && w.address < address &+ length {
            let kindMatches: Bool
            switch w.kind {
            case .write: kindMatches = store
            case .read: kindMatches = !store
            case .access: kindMatches = true
            }
            guard kindMatches else { continue }
            if skipWatchpointAt != nil { return false }
            faultAddress = max(address, w.address)
            faultStatus = Self.watchHit
            watchHitKind = w.kind
            return true
        }
        return false
    }

    @inline(never) private func recordRAMStore(_ address: UInt64, _ value: UInt64, _ size: UInt8) {
        recordAccess(address, value & ones(8 << Int(size)), size, store: true, device: nil)
    }

    private func recordAccess(_ address: UInt64, _ value: UInt64, _ size: UInt8, store: Bool, device: UnsafePointer<CChar>?) {
        guard accessCount < Self.accessLogCapacity else { return }
        accessLog[accessCount] = MemoryAccess(virtualAddress: address, physicalAddress: address, value: value,
                                              size: UInt32(1) << UInt32(size), isStore: store ? 1 : 0, device: device)
        accessCount += 1
    }

    @inline(__always) private func checkAlignment(_ address: UInt64, _ bytes: UInt64, write: Bool, always: Bool = true) -> Bool {
        if address & (bytes &- 1) == 0 || (!always && alignmentMask == 0) { return true }
        faultAddress = address
        faultStatus = 0x21
        faultWrite = write
        return false
    }

    /// Host pointer for an aligned atomic access to RAM, or nil (fault recorded) for anything else.
    @inline(__always) private func atomicPointer(_ address: UInt64, _ bytes: UInt64, write: Bool) -> UnsafeMutableRawPointer? {
        guard checkAlignment(address, bytes, write: write) else { return nil }
        guard let p = memory.ramPointer(address, bytes) else {
            faultAddress = address
            faultStatus = 0x10
            faultWrite = write
            return nil
        }
        return p
    }

    // MARK: the interpreter

    @inline(__always) private func extendLoad(_ v: UInt64, _ op: Op) -> UInt64 {
        if op.f & OpFlags.signed != 0 {
            let s = signExtend(v, 8 << Int(op.s))
            return op.f & OpFlags.dest32 != 0 ? s & 0xffff_ffff : s
        }
        return v
    }

    /// Runs `first` and then, while nothing needs the run loop's attention, the blocks chained after it.
    /// Any exception, stop or code write leaves through an early `return`; `lastBlock` is then -1.
    private func execute<H: HookMode>(_ first: UnsafeMutablePointer<TranslationBlock>, _ mode: H.Type) {
      defer { if H.memory { recordingAccesses = false } }
      var block = first
      while true {
        lastBlock = -1
        let ops = cache.ops + Int(block.pointee.start)
        let count = Int(block.pointee.count)
        let x = state.x
        var nextPC = block.pointee.pc &+ UInt64(count) &* 4
        var i = 0
        var hookCursor = 0, hookEnd = 0, memoryHooksFrom = 0, memoryHooksTo = 0
        /// The instruction index of the next hook (Int.max: none left in this block).
        var nextHook = Int.max
        if H.enabled {
            hookCursor = Int(block.pointee.hookStart)
            hookEnd = hookCursor + Int(block.pointee.hookCount)
            if hookCursor < hookEnd { nextHook = Int(cache.hooks[hookCursor].instruction) }
            if H.memory { recordingAccesses = true }
        }
        // Folded inline adds: applied whenever this block's run ends, normally (i == count) or early at i.
        let thisBlock = block
        defer { if H.folded { applyFoldedInline(thisBlock, through: i) } }
        while i < count {
            if H.enabled {
                if H.memory { accessCount = 0; memoryHooksFrom = hookCursor }
                if i == nextHook {
                    let hooks = cache.hooks
                    repeat {
                        // The two common kinds inline (no call, no jump table); the rest through runHook.
                        let h = hooks + hookCursor
                        let kind = h.pointee.kind
                        if kind == .execute, let callback = h.pointee.callback {
                            state.pc = block.pointee.pc &+ UInt64(i) &* 4  // a plugin reading "pc" sees this instruction
                            unsafeBitCast(callback, to: ExecCallback.self)(UInt32(truncatingIfNeeded: index), h.pointee.userdata)
                        } else if kind == .inlineAdd, let target = h.pointee.target {
                            (target + index &* h.pointee.stride).assumingMemoryBound(to: UInt64.self).pointee &+= h.pointee.value
                        } else if kind != .memory {  // memory callbacks run after the instruction, below
                            runHook(h.pointee, pc: block.pointee.pc &+ UInt64(i) &* 4)
                        }
                        hookCursor += 1
                    } while hookCursor < hookEnd && hooks[hookCursor].instruction == Int32(i)
                    nextHook = hookCursor < hookEnd ? Int(hooks[hookCursor].instruction) : Int.max
                }
                if H.memory { memoryHooksTo = hookCursor }
            }
            let op = ops[i]
            let d = Int(op.d), n = Int(op.n), m = Int(op.m)
            switch op.code {
            // MARK: specialised hot forms (Op.specialized)
            case .addReg64: x[d] = x[n] &+ x[m]
            case .addReg32: x[d] = (x[n] &+ x[m]) & 0xffff_ffff
            case .subReg64: x[d] = x[n] &- x[m]
            case .subReg32: x[d] = (x[n] &- x[m]) & 0xffff_ffff
            case .subsReg64:
                let (r, f) = addWithCarry64(x[n], ~x[m], 1)
                x[d] = r; state.nzcv = f
            case .subsReg32:
                let (r, f) = addWithCarry32(x[n], ~x[m], 1)
                x[d] = r; state.nzcv = f
            case .subsImm64:
                let (r, f) = addWithCarry64(x[n], ~op.imm, 1)
                x[d] = r; state.nzcv = f
            case .subsImm32:
                let (r, f) = addWithCarry32(x[n], ~op.imm, 1)
                x[d] = r; state.nzcv = f
            case .movReg64: x[d] = x[m]
            case .movReg32: x[d] = x[m] & 0xffff_ffff
            case .ldr64:
                guard let v = load(x[n] &+ op.imm, 3, H.memory) else { return memoryFault(block, i) }
                x[d] = v
            case .ldr32:
                guard let v = load(x[n] &+ op.imm, 2, H.memory) else { return memoryFault(block, i) }
                x[d] = v
            case .ldrb:
                guard let v = load(x[n] &+ op.imm, 0, H.memory) else { return memoryFault(block, i) }
                x[d] = v
            case .ldr64Reg:
                guard let v = load(x[n] &+ extendOperand(x[m], option: op.a, shift: UInt8(op.imm)), 3, H.memory) else { return memoryFault(block, i) }
                x[d] = v
            case .ldr32Reg:
                guard let v = load(x[n] &+ extendOperand(x[m], option: op.a, shift: UInt8(op.imm)), 2, H.memory) else { return memoryFault(block, i) }
                x[d] = v
            case .str64:
                guard store(x[n] &+ op.imm, 3, x[d], H.memory) else { return memoryFault(block, i) }
                if codeWriteHit { return endAfterCodeWrite(block, i) }
            case .str32:
                guard store(x[n] &+ op.imm, 2, x[d], H.memory) else { return memoryFault(block, i) }
                if codeWriteHit { return endAfterCodeWrite(block, i) }
            // MARK: data processing, immediate
            case .movImm: x[d] = op.imm
            case .movk:
                let v = (x[d] & ~op.imm2) | op.imm
                x[d] = op.f & OpFlags.sf != 0 ? v : v & 0xffff_ffff
            case .addImm64: x[d] = x[n] &+ op.imm
            case .addImm32: x[d] = (x[n] &+ op.imm) & 0xffff_ffff
            case .subImm64: x[d] = x[n] &- op.imm
            case .subImm32: x[d] = (x[n] &- op.imm) & 0xffff_ffff
            case .addsImm:
                let (r, f) = op.f & OpFlags.sf != 0 ? addWithCarry64(x[n], op.imm, 0) : addWithCarry32(x[n], op.imm, 0)
                x[d] = r; state.nzcv = f
            case .subsImm:
                let (r, f) = op.f & OpFlags.sf != 0 ? addWithCarry64(x[n], ~op.imm, 1) : addWithCarry32(x[n], ~op.imm, 1)
                x[d] = r; state.nzcv = f
            case .andImm: x[d] = x[n] & op.imm
            case .orrImm:
                let r = x[n] | op.imm
                x[d] = op.f & OpFlags.sf != 0 ? r : r & 0xffff_ffff
            case .eorImm:
                let r = x[n] ^ op.imm
                x[d] = op.f & OpFlags.sf != 0 ? r : r & 0xffff_ffff
            case .andsImm:
                let r = x[n] & op.imm
                x[d] = r; state.nzcv = logicFlags(r, sf: op.f & OpFlags.sf != 0)
            case .lslImm64: x[d] = x[n] << UInt64(op.s)
            case .lsrImm64: x[d] = x[n] >> UInt64(op.s)
            case .asrImm64: x[d] = UInt64(bitPattern: Int64(bitPattern: x[n]) >> Int64(op.s))
            case .ubfm, .sbfm, .bfm:
                let sf = op.f & OpFlags.sf != 0
                let width = sf ? 64 : 32
                let src = sf ? x[n] : x[n] & 0xffff_ffff
                let dst: UInt64 = op.code == .bfm ? x[d] : 0
                let bot = (dst & ~op.imm) | (rotateRight(src, UInt64(op.s), width: width) & op.imm)
                let top: UInt64
                if op.code == .sbfm {
                    top = (src >> UInt64(op.a)) & 1 == 1 ? ones(width) : 0
                } else {
                    top = dst
                }
                let r = (top & ~op.imm2) | (bot & op.imm2)
                x[d] = sf ? r : r & 0xffff_ffff
            case .extr:
                let lsb = UInt64(op.s)
                if op.f & OpFlags.sf != 0 {
                    x[d] = lsb == 0 ? x[m] : (x[m] >> lsb) | (x[n] << (64 - lsb))
                } else {
                    let concat = ((x[n] & 0xffff_ffff) << 32) | (x[m] & 0xffff_ffff)
                    x[d] = (concat >> lsb) & 0xffff_ffff
                }
            // MARK: data processing, register
            case .addShifted, .subShifted:
                let sf = op.f & OpFlags.sf != 0
                var b = shiftOperand(x[m], type: op.a, amount: op.s, sf: sf)
                var carry: UInt64 = 0
                if op.code == .subShifted { b = ~b; carry = 1 }
                let (r, f) = sf ? addWithCarry64(x[n], b, carry) : addWithCarry32(x[n], b, carry)
                x[d] = r
                if op.f & OpFlags.setFlags != 0 { state.nzcv = f }
            case .addExtended, .subExtended:
                let sf = op.f & OpFlags.sf != 0
                var b = extendOperand(x[m], option: op.a, shift: op.s)
                var carry: UInt64 = 0
                if op.code == .subExtended { b = ~b; carry = 1 }
                let (r, f) = sf ? addWithCarry64(x[n], b, carry) : addWithCarry32(x[n], b, carry)
                x[d] = r
                if op.f & OpFlags.setFlags != 0 { state.nzcv = f }
            case .adc, .sbc:
                let sf = op.f & OpFlags.sf != 0
                let b = op.code == .sbc ? ~x[m] : x[m]
                let c: UInt64 = state.nzcv & 0x2000_0000 != 0 ? 1 : 0
                let (r, f) = sf ? addWithCarry64(x[n], b, c) : addWithCarry32(x[n], b, c)
                x[d] = r
                if op.f & OpFlags.setFlags != 0 { state.nzcv = f }
            case .andShifted, .orrShifted, .eorShifted:
                let sf = op.f & OpFlags.sf != 0
                var b = shiftOperand(x[m], type: op.a, amount: op.s, sf: sf)
                if op.f & OpFlags.invert != 0 { b = sf ? ~b : ~b & 0xffff_ffff }
                let a = sf ? x[n] : x[n] & 0xffff_ffff
                let r: UInt64
                switch op.code {
                case .andShifted: r = a & b
                case .orrShifted: r = a | b
                default: r = a ^ b
                }
                x[d] = r
                if op.f & OpFlags.setFlags != 0 { state.nzcv = logicFlags(r, sf: sf) }
            case .csel, .csinc, .csinv, .csneg:
                let sf = op.f & OpFlags.sf != 0
                var r: UInt64
                if conditionHolds(op.a, state.nzcv) {
                    r = x[n]
                } else {
                    r = x[m]
                    switch op.code {
                    case .csinc: r = r &+ 1
                    case .csinv: r = ~r
                    case .csneg: r = 0 &- r
                    default: break
                    }
                }
                x[d] = sf ? r : r & 0xffff_ffff
            case .ccmp:
                if conditionHolds(op.a, state.nzcv) {
                    let sf = op.f & OpFlags.sf != 0
                    let b = op.f & OpFlags.alt != 0 ? op.imm : x[m]
                    let (_, f): (UInt64, UInt32)
                    if op.f & OpFlags.invert != 0 {
                        (_, f) = sf ? addWithCarry64(x[n], b, 0) : addWithCarry32(x[n], b, 0)
                    } else {
                        (_, f) = sf ? addWithCarry64(x[n], ~b, 1) : addWithCarry32(x[n], ~b, 1)
                    }
                    state.nzcv = f
                } else {
                    state.nzcv = UInt32(op.s) << 28
                }
            case .rbit:
                let r = reverseBits64(x[n])
                x[d] = op.f & OpFlags.sf != 0 ? r : r >> 32
            case .rev16:
                let r = reverseBytesIn(x[n], chunkBits: 16)
                x[d] = op.f & OpFlags.sf != 0 ? r : r & 0xffff_ffff
            case .rev32:
                x[d] = reverseBytesIn(x[n], chunkBits: 32)
            case .rev64:
                if op.f & OpFlags.sf != 0 {
                    x[d] = x[n].byteSwapped
                } else {
                    x[d] = UInt64(UInt32(truncatingIfNeeded: x[n]).byteSwapped)
                }
            case .clz:
                x[d] = op.f & OpFlags.sf != 0 ? UInt64(x[n].leadingZeroBitCount)
                                              : UInt64(UInt32(truncatingIfNeeded: x[n]).leadingZeroBitCount)
            case .cls:
                if op.f & OpFlags.sf != 0 {
                    let v = x[n]
                    x[d] = UInt64((v ^ (v << 1)).leadingZeroBitCount) - (v ^ (v << 1) == 0 ? 1 : 0)
                    if v ^ (v << 1) == 0 { x[d] = 63 }
                } else {
                    let v = UInt32(truncatingIfNeeded: x[n])
                    let t = v ^ (v << 1)
                    x[d] = t == 0 ? 31 : UInt64(t.leadingZeroBitCount)
                }
            case .udiv:
                if op.f & OpFlags.sf != 0 {
                    let b = x[m]
                    x[d] = b == 0 ? 0 : x[n] / b
                } else {
                    let a = UInt32(truncatingIfNeeded: x[n]), b = UInt32(truncatingIfNeeded: x[m])
                    x[d] = b == 0 ? 0 : UInt64(a / b)
                }
            case .sdiv:
                if op.f & OpFlags.sf != 0 {
                    let a = Int64(bitPattern: x[n]), b = Int64(bitPattern: x[m])
                    x[d] = b == 0 ? 0 : UInt64(bitPattern: a.dividedReportingOverflow(by: b).partialValue)
                } else {
                    let a = Int32(truncatingIfNeeded: x[n]), b = Int32(truncatingIfNeeded: x[m])
                    x[d] = b == 0 ? 0 : UInt64(UInt32(bitPattern: a.dividedReportingOverflow(by: b).partialValue))
                }
            case .lslv, .lsrv, .asrv, .rorv:
                let sf = op.f & OpFlags.sf != 0
                let amount = UInt8(x[m] & (sf ? 63 : 31))
                let type: UInt8 = op.code == .lslv ? 0 : op.code == .lsrv ? 1 : op.code == .asrv ? 2 : 3
                x[d] = shiftOperand(x[n], type: type, amount: amount, sf: sf)
            case .crc32:
                let bytes = 1 << Int(op.s)
                x[d] = UInt64(crc32Update(UInt32(truncatingIfNeeded: x[n]), x[m], bytes: bytes, castagnoli: op.f & OpFlags.alt != 0))
            case .madd, .msub:
                let p = x[n] &* x[m]
                let r = op.code == .madd ? x[Int(op.a)] &+ p : x[Int(op.a)] &- p
                x[d] = op.f & OpFlags.sf != 0 ? r : r & 0xffff_ffff
            case .smaddl, .smsubl:
                let p = UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: x[n])) &* Int64(Int32(truncatingIfNeeded: x[m])))
                x[d] = op.code == .smaddl ? x[Int(op.a)] &+ p : x[Int(op.a)] &- p
            case .umaddl, .umsubl:
                let p = (x[n] & 0xffff_ffff) &* (x[m] & 0xffff_ffff)
                x[d] = op.code == .umaddl ? x[Int(op.a)] &+ p : x[Int(op.a)] &- p
            case .smulh:
                x[d] = UInt64(bitPattern: Int64(bitPattern: x[n]).multipliedFullWidth(by: Int64(bitPattern: x[m])).high)
            case .umulh:
                x[d] = x[n].multipliedFullWidth(by: x[m]).high
            // MARK: branches
            case .b: nextPC = op.imm
            case .bl: x[30] = op.imm2; nextPC = op.imm
            case .br: nextPC = x[n]
            case .blr: let t = x[n]; x[30] = op.imm2; nextPC = t
            case .ret: nextPC = x[n]
            case .cbz:
                let v = op.f & OpFlags.sf != 0 ? x[n] : x[n] & 0xffff_ffff
                nextPC = (v == 0) != (op.f & OpFlags.alt != 0) ? op.imm : op.imm2
            case .tbz:
                let set = (x[n] >> UInt64(op.s)) & 1 == 1
                nextPC = set == (op.f & OpFlags.alt != 0) ? op.imm : op.imm2
            case .bcond:
                nextPC = conditionHolds(op.a, state.nzcv) ? op.imm : op.imm2
            // MARK: exceptions
            case .svc:
                instructionsExecuted &+= UInt64(i + 1)
                takeException(vectorOffset: 0, esr: 0x15 << 26 | 1 << 25 | UInt32(op.imm), far: nil, returnAddress: pcOf(block, i) &+ 4)
                return
            case .hvc, .smc:
                let pc = pcOf(block, i)
                instructionsExecuted &+= UInt64(i + 1)
                if state.currentEL == 0 { undefined(pc, group: -1); return }
                state.pc = pc &+ 4
                firmware(platform?.firmwareCall(self, smc: op.code == .smc, imm: UInt16(op.imm)) ?? .undefined, pc: pc)
                return
            case .hlt:
                let pc = pcOf(block, i)
                instructionsExecuted &+= UInt64(i + 1)
                if op.imm == 0xF000 && state.currentEL == 1 {
                    state.pc = pc &+ 4
                    firmware(platform?.semihostingCall(self) ?? .undefined, pc: pc)
                } else {
                    undefined(pc, group: -1)
                }
                return
            case .brk:
                instructionsExecuted &+= UInt64(i + 1)
                takeException(vectorOffset: 0, esr: 0x3c << 26 | 1 << 25 | UInt32(op.imm), far: nil, returnAddress: pcOf(block, i))
                return
            case .undefined:
                instructionsExecuted &+= UInt64(i + 1)
                undefined(pcOf(block, i), group: Int(op.a))
                return
            case .fpTrap:
                instructionsExecuted &+= UInt64(i + 1)
                takeException(vectorOffset: 0, esr: 0x07 << 26 | 1 << 25 | 1 << 24 | 0xe << 20, far: nil, returnAddress: pcOf(block, i))
                return
            case .eret:
                instructionsExecuted &+= UInt64(i + 1)
                if state.currentEL == 0 { undefined(pcOf(block, i), group: -1); return }
                let target = state.sys.elr
                if !state.restore(pstate: UInt32(truncatingIfNeeded: state.sys.spsr)) {
                    // Illegal exception return: PSTATE.IL semantics are not modelled; stay put and report.
                    stopReason = .unsupported(String(format: "illegal exception return (SPSR_EL1=0x%llx) at pc 0x%llx", state.sys.spsr, pcOf(block, i)))
                    state.pc = pcOf(block, i)
                    return
                }
                clearMonitor()
                state.pc = target
                updateModeBits()
                irqCheckNeeded = true
                return
            // MARK: system
            case .mrs, .msr:
                let pc = pcOf(block, i)
                let key = UInt32(op.imm)
                let isRead = op.code == .mrs
                if (key == SysReg.fpcr || key == SysReg.fpsr) && modeBits & 1 == 0 {
                    instructionsExecuted &+= UInt64(i + 1)
                    takeException(vectorOffset: 0, esr: 0x07 << 26 | 1 << 25 | 1 << 24 | 0xe << 20, far: nil, returnAddress: pc)
                    return
                }
                if state.currentEL == 0 {
                    switch el0Access(key, read: isRead) {
                    case .allowed: break
                    case .undefined:
                        instructionsExecuted &+= UInt64(i + 1)
                        undefined(pc, group: EncodingGroup.branchExceptionSystem.rawValue)
                        return
                    case .trap:
                        instructionsExecuted &+= UInt64(i + 1)
                        systemAccessTrap(pc, key: key, rt: isRead ? UInt32(op.d) : UInt32(op.n), read: isRead)
                        return
                    }
                }
                if isRead {
                    guard let v = readSystemRegister(key) else {
                        instructionsExecuted &+= UInt64(i + 1)
                        undefined(pc, group: EncodingGroup.branchExceptionSystem.rawValue)
                        return
                    }
                    x[d] = v
                } else {
                    if !writeSystemRegister(key, x[n]) {
                        instructionsExecuted &+= UInt64(i + 1)
                        undefined(pc, group: EncodingGroup.branchExceptionSystem.rawValue)
                        return
                    }
                    if let _ = stopReason {
                        instructionsExecuted &+= UInt64(i + 1)
                        state.pc = pc &+ 4
                        return
                    }
                    updateModeBits()
                    irqCheckNeeded = true
                }
            case .msrImm:
                if state.currentEL == 0 {
                    let pc = pcOf(block, i)
                    if op.s == 0 || op.s >= 3 {
                        instructionsExecuted &+= UInt64(i + 1)
                        undefined(pc, group: EncodingGroup.branchExceptionSystem.rawValue)
                        return
                    }
                    if state.sys.sctlr & (1 << 9) == 0 { // SCTLR_EL1.UMA: EL0 may not touch DAIF
                        instructionsExecuted &+= UInt64(i + 1)
                        let op2: UInt32 = op.s == 1 ? 6 : 7
                        let iss: UInt32 = (op2 << 17) | (3 << 14) | (4 << 10) | (31 << 5) | (UInt32(op.imm) << 1)
                        takeException(vectorOffset: 0, esr: 0x18 << 26 | 1 << 25 | iss, far: nil, returnAddress: pc)
                        return
                    }
                }
                switch op.s {
                case 0: state.setMode(el: state.currentEL, spSel: UInt32(op.imm))
                case 1: state.daif |= UInt32(op.imm) << 6
                case 2: state.daif &= ~(UInt32(op.imm) << 6)
                case 3: state.panUAO = (state.panUAO & ~(1 << 22)) | (UInt32(op.imm) << 22)
                default: state.panUAO = (state.panUAO & ~(1 << 23)) | (UInt32(op.imm) << 23)
                }
                irqCheckNeeded = true
            case .msrNZCV: state.nzcv = UInt32(truncatingIfNeeded: x[n]) & 0xf000_0000
            case .mrsNZCV: x[d] = UInt64(state.nzcv)
            case .nop, .endBlock:
                if op.s != 0 && state.currentEL == 0 {
                    // Cache maintenance at EL0: allowed by SCTLR_EL1.UCI for the by-VA forms, else trapped;
                    // the EL1-only forms are undefined.
                    if op.s == 1 && state.sys.sctlr & (1 << 26) != 0 { break }
                    instructionsExecuted &+= UInt64(i + 1)
                    if op.s == 1 {
                        systemAccessTrap(pcOf(block, i), key: UInt32(op.imm), rt: UInt32(op.n), read: false, sys: true)
                    } else {
                        undefined(pcOf(block, i), group: EncodingGroup.branchExceptionSystem.rawValue)
                    }
                    return
                }
            case .sev:
                if let broadcast = sendEventToAll { broadcast() } else { eventRegister.store(true, ordering: .releasing) }
            case .sevl: eventRegister.store(true, ordering: .releasing)
            case .barrier:
                // Host ordering (x86-64 is TSO): loads stay ordered with loads, stores with stores, and stores
                // after loads; only a load may pass an earlier store. So a DMB/DSB of loads (CRm<1:0> = 01) or of
                // stores (10) needs only a compiler barrier, and a full one (11, e.g. DMB ISH) an `mfence`, which
                // also orders earlier stores before later loads. SSBB/PSSBB (00) order nothing we reorder.
                if op.imm & 3 == 3 && hostFences {
                    atomicMemoryFence(ordering: .sequentiallyConsistent)
                } else {
                    atomicMemoryFence(ordering: .acquiringAndReleasing)
                }
            case .isb: break  // context synchronisation: the block ends here and the next one is fetched anew
            case .wfe, .wfi:
                // The block ends here; wait for an interrupt (pending, even if masked), an event (WFE) or a kick.
                state.pc = nextPC
                instructionsExecuted &+= UInt64(count)
                if op.code == .wfe && eventRegister.exchange(false, ordering: .acquiringAndReleasing) { return }
                instrumentation?.vcpuEvent(cpu: index, .idle)
                waitForInterrupt(event: op.code == .wfe)
                instrumentation?.vcpuEvent(cpu: index, .resumed)
                return
            case .clrex: clearMonitor()
            case .dcZva:
                if state.currentEL == 0 && state.sys.sctlr & (1 << 14) == 0 { // SCTLR_EL1.DZE
                    instructionsExecuted &+= UInt64(i + 1)
                    systemAccessTrap(pcOf(block, i), key: UInt32(op.imm), rt: UInt32(op.n), read: false, sys: true)
                    return
                }
                let base = x[n] & ~63
                guard let p = memory.ramPointer(base, 64) else {
                    faultAddress = x[n]; faultStatus = 0x10; faultWrite = true
                    instructionsExecuted &+= UInt64(i + 1)
                    dataAbort(pcOf(block, i)); return
                }
                p.initializeMemory(as: UInt8.self, repeating: 0, count: 64)
                if recordingAccesses { for k in 0..<8 { recordAccess(base &+ UInt64(k * 8), 0, 3, store: true, device: nil) } }
                if memory.watchBits(page: (base &- ramBase) >> GuestMemory.pageShift) != 0 { watchedPageWritten(base, 64) }
            // MARK: loads and stores
            case .ldrImm:
                guard let v = load(x[n] &+ op.imm, op.s, H.memory) else { return memoryFault(block, i) }
                x[d] = extendLoad(v, op)
            case .ldrPre:
                let address = x[n] &+ op.imm
                guard let v = load(address, op.s, H.memory) else { return memoryFault(block, i) }
                x[n] = address
                x[d] = extendLoad(v, op)
            case .ldrPost:
                let address = x[n]
                guard let v = load(address, op.s, H.memory) else { return memoryFault(block, i) }
                x[n] = address &+ op.imm
                x[d] = extendLoad(v, op)
            case .ldrReg:
                let address = x[n] &+ extendOperand(x[m], option: op.a, shift: UInt8(op.imm))
                guard let v = load(address, op.s, H.memory) else { return memoryFault(block, i) }
                x[d] = extendLoad(v, op)
            case .ldrLit:
                guard let v = load(op.imm, op.s, H.memory) else { return memoryFault(block, i) }
                x[d] = extendLoad(v, op)
            case .strImm:
                guard store(x[n] &+ op.imm, op.s, x[d], H.memory) else { return memoryFault(block, i) }
                if codeWriteHit { return endAfterCodeWrite(block, i) }
            case .strPre:
                let address = x[n] &+ op.imm
                guard store(address, op.s, x[d], H.memory) else { return memoryFault(block, i) }
                x[n] = address
                if codeWriteHit { return endAfterCodeWrite(block, i) }
            case .strPost:
                let address = x[n]
                guard store(address, op.s, x[d], H.memory) else { return memoryFault(block, i) }
                x[n] = address &+ op.imm
                if codeWriteHit { return endAfterCodeWrite(block, i) }
            case .strReg:
                let address = x[n] &+ extendOperand(x[m], option: op.a, shift: UInt8(op.imm))
                guard store(address, op.s, x[d], H.memory) else { return memoryFault(block, i) }
                if codeWriteHit { return endAfterCodeWrite(block, i) }
            case .ldp:
                let base = x[n]
                let address = op.a == 2 ? base : base &+ op.imm
                let bytes = UInt64(1) << UInt64(op.s)
                guard let v1 = load(address, op.s, H.memory), let v2 = load(address &+ bytes, op.s, H.memory) else { return memoryFault(block, i) }
                x[d] = extendLoad(v1, op)
                x[m] = extendLoad(v2, op)
                if op.a == 1 { x[n] = address } else if op.a == 2 { x[n] = base &+ op.imm }
            case .stp:
                let base = x[n]
                let address = op.a == 2 ? base : base &+ op.imm
                let bytes = UInt64(1) << UInt64(op.s)
                let v1 = x[d], v2 = x[m]
                guard store(address, op.s, v1, H.memory), store(address &+ bytes, op.s, v2, H.memory) else { return memoryFault(block, i) }
                if op.a == 1 { x[n] = address } else if op.a == 2 { x[n] = base &+ op.imm }
                if codeWriteHit { return endAfterCodeWrite(block, i) }
            case .ldxr, .ldar:
                let address = x[n]
                let bytes = UInt64(1) << UInt64(op.s)
                guard checkAlignment(address, bytes, write: false) else { return memoryFault(block, i) }
                // The reservation is published before memory is read (see GuestMemory's "exclusive monitor").
                if op.code == .ldxr { clearMonitor(); memory.reserve(cpu: index, address: address) }
                guard let v = load(address, op.s, H.memory) else {
                    if op.code == .ldxr { memory.release(cpu: index) }
                    return memoryFault(block, i)
                }
                x[d] = v
                if op.code == .ldxr {
                    monitorValid = true; monitorAddress = address; monitorSize = Int(op.s); monitorValue = v
                } else {
                    // LDAR/LDAPR: x86-64 loads already have acquire ordering; keep the compiler from moving
                    // later accesses above this one.
                    atomicMemoryFence(ordering: .acquiring)
                }
            case .ldxp:
                let address = x[n]
                let bytes = UInt64(1) << UInt64(op.s)
                guard checkAlignment(address, bytes * 2, write: false) else { return memoryFault(block, i) }
                clearMonitor()
                memory.reserve(cpu: index, address: address)
                guard let v1 = load(address, op.s, H.memory), let v2 = load(address &+ bytes, op.s, H.memory) else {
                    memory.release(cpu: index)
                    return memoryFault(block, i)
                }
                x[d] = v1; x[m] = v2
                monitorValid = true; monitorAddress = address; monitorSize = Int(op.s) + 8; monitorValue = v1; monitorValue2 = v2
            case .stlr:
                // STLR: x86-64 stores already have release ordering (after a compiler barrier). A load-acquire
                // (LDAR) after an STLR must not pass it (RCsc), and an x86-64 load may pass an earlier store:
                // the `mfence` after the store prevents that, as a C++ sequentially consistent store does.
                let bytes = UInt64(1) << UInt64(op.s)
                atomicMemoryFence(ordering: .releasing)
                guard checkAlignment(x[n], bytes, write: true), store(x[n], op.s, x[d], H.memory) else { return memoryFault(block, i) }
                if hostFences { atomicMemoryFence(ordering: .sequentiallyConsistent) }
                if codeWriteHit { return endAfterCodeWrite(block, i) }
            case .stxr:
                // Without a matching reservation the store fails (status 1) before any alignment check, as
                // QEMU does; a matching reservation implies an aligned address (LDXR checked it).
                let address = x[n]
                var status: UInt64 = 1
                if monitorValid && monitorAddress == address && monitorSize == Int(op.s) && memory.claim(cpu: index, address: address) {
                    guard let ok = storeExclusive(address, op.s, x[d]) else { clearMonitor(); return memoryFault(block, i) }
                    status = ok ? 0 : 1
                }
                clearMonitor()
                x[Int(op.a)] = status
                if codeWriteHit { return endAfterCodeWrite(block, i) }
            case .stxp:
                let address = x[n]
                var status: UInt64 = 1
                if monitorValid && monitorAddress == address && monitorSize == Int(op.s) + 8 && memory.claim(cpu: index, address: address) {
                    guard let ok = storeExclusivePair(address, op.s, x[d], x[m]) else { clearMonitor(); return memoryFault(block, i) }
                    status = ok ? 0 : 1
                }
                clearMonitor()
                x[Int(op.a)] = status
                if codeWriteHit { return endAfterCodeWrite(block, i) }
            case .atomic:
                guard let old = atomicRMW(x[n], op.s, AtomicOp(rawValue: op.a) ?? .add, x[m]) else { return memoryFault(block, i) }
                x[d] = old
                if codeWriteHit { return endAfterCodeWrite(block, i) }
            case .cas:
                guard let old = compareAndSwap(x[n], op.s, expected: x[m], new: x[d]) else { return memoryFault(block, i) }
                x[Int(op.a)] = old
                if codeWriteHit { return endAfterCodeWrite(block, i) }
            case .casp:
                guard executeCASP(op) else { return memoryFault(block, i) }
                if codeWriteHit { return endAfterCodeWrite(block, i) }
            case .vldrImm, .vldrPre, .vldrPost, .vldrReg, .vstrImm, .vstrPre, .vstrPost, .vstrReg, .vldrLit, .vldp, .vstp, .vldst:
                switch executeVectorMemory(op) {
                case .ok: break
                case .fault: return memoryFault(block, i)
                case .codeWritten: return endAfterCodeWrite(block, i)
                }
            case .fmovToGeneral, .fmovFromGeneral, .simd:
                executeSIMD(op)
            }
            if H.memory && accessCount > 0 && memoryHooksTo > memoryHooksFrom {
                let hooks = cache.hooks
                for k in memoryHooksFrom..<memoryHooksTo where hooks[k].kind == .memory {
                    runMemoryHook(hooks + k)
                }
            }
            i += 1
        }
        instructionsExecuted &+= UInt64(count)
        state.pc = nextPC
        lastBlock = Int32(block - cache.blocks)
        // Follow the chain without going back to the run loop, unless something needs it.
        if singleStep || irqCheckNeeded || nextPC & 3 != 0 { return }
        timerPollCountdown -= 1
        if timerPollCountdown <= 0 || attention.load(ordering: .relaxed) != 0 { return }
        let key = nextPC | modeBits
        let next: Int32
        if block.pointee.chainKey0 == key { next = block.pointee.chainIndex0 }
        else if block.pointee.chainKey1 == key { next = block.pointee.chainIndex1 }
        else { return }
        let candidate = cache.blocks + Int(next)
        // Stay in this specialisation: hooked blocks chain to hooked blocks, plain ones to plain ones.
        if candidate.pointee.breakpoint || candidate.pointee.mode != H.mode { return }
        block = candidate
      }
    }

    /// Applies a folded block's inline adds: all of them when its run reached the end, else those of
    /// instructions 0...i (the hooks of an instruction run before it, so a faulting instruction counts).
    private func applyFoldedInline(_ block: UnsafeMutablePointer<TranslationBlock>, through i: Int) {
        let hooks = cache.hooks
        if i >= Int(block.pointee.count) {
            let start = Int(block.pointee.foldStart)
            for k in start..<start + Int(block.pointee.foldCount) {
                let h = hooks + k
                if let target = h.pointee.target {
                    (target + index &* h.pointee.stride).assumingMemoryBound(to: UInt64.self).pointee &+= h.pointee.value
                }
            }
            return
        }
        let start = Int(block.pointee.hookStart)
        for k in start..<start + Int(block.pointee.hookCount) where hooks[k].instruction <= Int32(i) {
            if let target = hooks[k].target {
                (target + index &* hooks[k].stride).assumingMemoryBound(to: UInt64.self).pointee &+= hooks[k].value
            }
        }
    }

    private func runHook(_ hook: InstrumentationHook, pc: UInt64) {
        switch hook.kind {
        case .execute:
            if let callback = hook.callback {
                state.pc = pc  // so a plugin reading "pc" sees the instruction about to run
                unsafeBitCast(callback, to: ExecCallback.self)(UInt32(index), hook.userdata)
            }
        case .inlineAdd:
            if let target = hook.target {
                let p = (target + index * hook.stride).assumingMemoryBound(to: UInt64.self)
                p.pointee &+= hook.value
            }
        case .inlineStore:
            if let target = hook.target {
                (target + index * hook.stride).assumingMemoryBound(to: UInt64.self).pointee = hook.value
            }
        case .memory:
            break
        }
    }

    @inline(__always) private func runMemoryHook(_ hook: UnsafeMutablePointer<InstrumentationHook>) {
        guard let callback = hook.pointee.callback else { return }
        let function = unsafeBitCast(callback, to: MemoryCallback.self)
        let filter = hook.pointee.memoryFilter, userdata = hook.pointee.userdata
        for k in 0..<accessCount {
            let wanted: UInt8 = accessLog[k].isStore != 0 ? 2 : 1
            if filter & wanted != 0 { function(UInt32(truncatingIfNeeded: index), UnsafeRawPointer(accessLog + k), userdata) }
        }
    }

    private func memoryFault(_ block: UnsafeMutablePointer<TranslationBlock>, _ i: Int) {
        codeWriteHit = false
        if faultStatus == Self.watchHit {
            instructionsExecuted &+= UInt64(i)
            state.pc = pcOf(block, i)
            stopReason = .watchpoint(watchHitKind, faultAddress)
            return
        }
        instructionsExecuted &+= UInt64(i + 1)
        dataAbort(pcOf(block, i))
    }

    /// A store rewrote translated code: leave the (possibly stale) block after the storing instruction.
    private func endAfterCodeWrite(_ block: UnsafeMutablePointer<TranslationBlock>, _ i: Int) {
        codeWriteHit = false
        instructionsExecuted &+= UInt64(i + 1)
        state.pc = pcOf(block, i) &+ 4
    }

    private func firmware(_ result: FirmwareResult, pc: UInt64) {
        switch result {
        case .handled: break
        case .undefined: undefined(pc, group: -1)
        case .stop(let reason): stopReason = reason
        }
    }

    // MARK: WFI and timers

    /// Parks the host thread until an interrupt is pending, someone kicks this vCPU, or (WFE) an event arrives.
    /// A store by another vCPU that clears our reservation is an event (GuestMemory signals it). WFE also gives
    /// up after 1 ms, which the architecture allows (WFE may complete early): a safety net for any event source
    /// not modelled, so a spin-lock's WFE never sleeps forever.
    private func waitForInterrupt(event: Bool = false) {
        pollTimers()
        let started = DispatchTime.now().uptimeNanoseconds
        wakeLock.lock()
        if event { waitingForEvent.store(true, ordering: .sequentiallyConsistent) }
        defer { if event { waitingForEvent.store(false, ordering: .relaxed) } }
        while !irqLine.load(ordering: .acquiring) && attention.load(ordering: .acquiring) == 0 {
            if event {
                if eventRegister.exchange(false, ordering: .sequentiallyConsistent) { break }
                let now = DispatchTime.now().uptimeNanoseconds
                if now - started >= 1_000_000 { break }
                _ = wakeLock.wait(until: Date(timeIntervalSinceNow: Double(1_000_000 - (now - started)) / 1e9))
                continue
            }
            let deadline = nextTimerDeadline()
            if deadline == .max {
                wakeLock.wait()
            } else {
                let now = DispatchTime.now().uptimeNanoseconds
                if deadline <= now { break }
                _ = wakeLock.wait(until: Date(timeIntervalSinceNow: Double(deadline - now) / 1e9))
            }
            wakeLock.unlock()
            pollTimers()
            wakeLock.lock()
        }
        wakeLock.unlock()
        irqCheckNeeded = true
    }

    /// The virtual counter: host monotonic time since the machine started, at 62.5 MHz (QEMU virt's rate).
    public var counter: UInt64 {
        (DispatchTime.now().uptimeNanoseconds &- counterEpoch) / (1_000_000_000 / Self.counterFrequency)
    }

    private func nanoseconds(forCount value: UInt64) -> UInt64 {
        let ns = value.multipliedReportingOverflow(by: 1_000_000_000 / Self.counterFrequency)
        if ns.overflow { return .max }
        let r = ns.partialValue.addingReportingOverflow(counterEpoch)
        return r.overflow ? .max : r.partialValue
    }

    private func nextTimerDeadline() -> UInt64 {
        var deadline = UInt64.max
        let s = state.sys
        if s.cntvCtl & 1 != 0 && s.cntvCtl & 2 == 0 { deadline = min(deadline, nanoseconds(forCount: s.cntvCval &+ s.cntvoff)) }
        if s.cntpCtl & 1 != 0 && s.cntpCtl & 2 == 0 { deadline = min(deadline, nanoseconds(forCount: s.cntpCval)) }
        return deadline
    }

    /// Recomputes the timer outputs (ISTATUS and the PPI lines: virtual 27, physical 30).
    func pollTimers() {
        let now = counter
        let s = state.sys
        let vFired = s.cntvCtl & 1 != 0 && now &- s.cntvoff >= s.cntvCval
        let pFired = s.cntpCtl & 1 != 0 && now >= s.cntpCval
        let vLevel = vFired && s.cntvCtl & 2 == 0
        let pLevel = pFired && s.cntpCtl & 2 == 0
        if vLevel != timerLevels.virtual {
            timerLevels.virtual = vLevel
            platform?.timerLineChanged(cpu: index, ppi: 27, level: vLevel)
        }
        if pLevel != timerLevels.physical {
            timerLevels.physical = pLevel
            platform?.timerLineChanged(cpu: index, ppi: 30, level: pLevel)
        }
    }

    private func timerControl(_ ctl: UInt64, fired: Bool) -> UInt64 {
        (ctl & 3) | (fired && ctl & 1 != 0 ? 4 : 0)
    }

    // MARK: system registers

    enum EL0Access { case allowed, trap, undefined }

    /// Whether EL0 may access a system register, per the EL0 enables in SCTLR_EL1 and CNTKCTL_EL1.
    func el0Access(_ key: UInt32, read: Bool) -> EL0Access {
        let sctlr = state.sys.sctlr, cntkctl = state.sys.cntkctl
        switch key {
        case SysReg.nzcv, SysReg.fpcr, SysReg.fpsr, SysReg.tpidrEL0, SysReg.dczid: return .allowed
        case SysReg.tpidrroEL0: return read ? .allowed : .undefined
        case SysReg.daif: return sctlr & (1 << 9) != 0 ? .allowed : .trap
        case SysReg.ctr: return !read ? .undefined : (sctlr & (1 << 15) != 0 ? .allowed : .trap)
        case SysReg.cntfrq: return !read ? .undefined : (cntkctl & 3 != 0 ? .allowed : .trap)
        case SysReg.cntvct: return !read ? .undefined : (cntkctl & 2 != 0 ? .allowed : .trap)
        case SysReg.cntpct: return !read ? .undefined : (cntkctl & 1 != 0 ? .allowed : .trap)
        case SysReg.cntvCtl, SysReg.cntvCval, SysReg.cntvTval: return cntkctl & (1 << 8) != 0 ? .allowed : .trap
        case SysReg.cntpCtl, SysReg.cntpCval, SysReg.cntpTval: return cntkctl & (1 << 9) != 0 ? .allowed : .trap
        default: return .undefined
        }
    }

    /// A trapped MSR/MRS/SYS at EL0: exception class 0x18 with the access described in the ISS.
    private func systemAccessTrap(_ pc: UInt64, key: UInt32, rt: UInt32, read: Bool, sys: Bool = false) {
        let op0 = (key >> 14) & 3, op1 = (key >> 11) & 7, crn = (key >> 7) & 15, crm = (key >> 3) & 15, op2 = key & 7
        let t = rt >= 31 ? 31 : rt
        let iss = (op0 << 20) | (op2 << 17) | (op1 << 14) | (crn << 10) | (t << 5) | (crm << 1) | (read ? 1 : 0)
        takeException(vectorOffset: 0, esr: 0x18 << 26 | 1 << 25 | iss, far: nil, returnAddress: pc)
    }

    /// MRS. nil means the access is undefined at the current EL.
    func readSystemRegister(_ key: UInt32) -> UInt64? {
        let s = state.sys
        let el0 = state.currentEL == 0
        switch key {
        case SysReg.nzcv: return UInt64(state.nzcv)
        case SysReg.daif: return UInt64(state.daif)
        case SysReg.fpcr: return UInt64(state.fpcr)
        case SysReg.fpsr: return UInt64(state.fpsr)
        case SysReg.tpidrEL0: return s.tpidrEL0
        case SysReg.tpidrroEL0: return s.tpidrroEL0
        case SysReg.ctr: return 0x8444_C004
        case SysReg.dczid: return 4
        case SysReg.cntfrq: return Self.counterFrequency
        case SysReg.cntvct: return counter &- s.cntvoff
        case SysReg.cntpct: return counter
        case SysReg.cntvCtl: return timerControl(s.cntvCtl, fired: counter &- s.cntvoff >= s.cntvCval)
        case SysReg.cntvCval: return s.cntvCval
        case SysReg.cntvTval: return (s.cntvCval &- (counter &- s.cntvoff)) & 0xffff_ffff
        case SysReg.cntpCtl: return timerControl(s.cntpCtl, fired: counter >= s.cntpCval)
        case SysReg.cntpCval: return s.cntpCval
        case SysReg.cntpTval: return (s.cntpCval &- counter) & 0xffff_ffff
        default: break
        }
        if el0 { return nil }
        switch key {
        case SysReg.midr: return s.identity.midr
        case SysReg.mpidr: return s.identity.mpidr
        case SysReg.revidr: return 0
        // Truthful ID registers: EL0 and EL1 in AArch64 only, no EL2/EL3; FP and AdvSIMD are reported as
        // not implemented because FP arithmetic and most of AdvSIMD are not (the integer subset gcc emits is);
        // the GIC is memory-mapped only (no system-register interface).
        case SysReg.idAA64PFR0: return 0x0000_0000_00FF_0011
        case SysReg.idAA64PFR1: return 0
        case SysReg.idAA64DFR0: return 0x0000_0000_0000_0006
        case SysReg.idAA64DFR1, SysReg.idAA64AFR0, SysReg.idAA64AFR1: return 0
        // CRC32 (bits 19:16 = 1) and LSE atomics (bits 23:20 = 2).
        case SysReg.idAA64ISAR0: return 0x0000_0000_0021_0000
        case SysReg.idAA64ISAR1: return 0x0000_0000_0010_0000 // LRCPC: LDAPR
        // No stage-1 translation is modelled: PARange reports 32 bits, the smallest encoding.
        case SysReg.idAA64MMFR0: return 0x0000_0000_0000_0000
        case SysReg.idAA64MMFR1: return 0x0010_0000 // PAN
        case SysReg.idAA64MMFR2: return 0x10        // UAO
        case SysReg.clidr: return 0
        case SysReg.sctlr: return s.sctlr
        case SysReg.cpacr: return s.cpacr
        case SysReg.ttbr0: return s.ttbr0
        case SysReg.ttbr1: return s.ttbr1
        case SysReg.tcr: return s.tcr
        case SysReg.mair: return s.mair
        case SysReg.amair: return s.amair
        case SysReg.spsr: return s.spsr
        case SysReg.elr: return s.elr
        case SysReg.spEL0: return state.spSel == 0 ? nil : state.bankedSP(el: 0)
        case SysReg.spSel: return UInt64(state.spSel)
        case SysReg.pan: return UInt64(state.panUAO & (1 << 22))
        case SysReg.uao: return UInt64(state.panUAO & (1 << 23))
        case SysReg.currentEL: return UInt64(state.currentEL) << 2
        case SysReg.esr: return s.esr
        case SysReg.far: return s.far
        case SysReg.afsr0: return s.afsr0
        case SysReg.afsr1: return s.afsr1
        case SysReg.par: return s.par
        case SysReg.vbar: return s.vbar
        case SysReg.isr: return irqLine.load(ordering: .relaxed) ? 0x80 : 0
        case SysReg.contextidr: return s.contextidr
        case SysReg.tpidrEL1: return s.tpidrEL1
        case SysReg.cntkctl: return s.cntkctl
        case SysReg.mdscr: return s.mdscr
        case SysReg.oslsr: return 0x8
        default: return nil
        }
    }

    /// MSR. false means the access is undefined at the current EL.
    func writeSystemRegister(_ key: UInt32, _ value: UInt64) -> Bool {
        let el0 = state.currentEL == 0
        switch key {
        case SysReg.daif: state.daif = UInt32(truncatingIfNeeded: value) & 0x3c0; return true
        case SysReg.fpcr: state.fpcr = UInt32(truncatingIfNeeded: value); return true
        case SysReg.fpsr: state.fpsr = UInt32(truncatingIfNeeded: value); return true
        case SysReg.tpidrEL0: state.sys.tpidrEL0 = value; return true
        case SysReg.cntvCtl: state.sys.cntvCtl = value & 3; pollTimers(); return true
        case SysReg.cntvCval: state.sys.cntvCval = value; pollTimers(); return true
        case SysReg.cntvTval:
            state.sys.cntvCval = (counter &- state.sys.cntvoff) &+ signExtend(value & 0xffff_ffff, 32)
            pollTimers(); return true
        case SysReg.cntpCtl: state.sys.cntpCtl = value & 3; pollTimers(); return true
        case SysReg.cntpCval: state.sys.cntpCval = value; pollTimers(); return true
        case SysReg.cntpTval:
            state.sys.cntpCval = counter &+ signExtend(value & 0xffff_ffff, 32)
            pollTimers(); return true
        default: break
        }
        if el0 { return false }
        switch key {
        case SysReg.sctlr:
            state.sys.sctlr = value
            if value & 1 != 0 {
                stopReason = .unsupported(String(format: "the guest enabled the MMU (SCTLR_EL1=0x%llx); emud does not model stage-1 translation yet", value))
            }
        case SysReg.cpacr: state.sys.cpacr = value & 0x0030_0000
        case SysReg.ttbr0: state.sys.ttbr0 = value
        case SysReg.ttbr1: state.sys.ttbr1 = value
        case SysReg.tcr: state.sys.tcr = value
        case SysReg.mair: state.sys.mair = value
        case SysReg.amair: state.sys.amair = value
        case SysReg.spsr: state.sys.spsr = value & 0xf0c0_03cf
        case SysReg.elr: state.sys.elr = value
        case SysReg.spEL0:
            if state.spSel == 0 { return false }
            state.setBankedSP(el: 0, value)
        case SysReg.spSel: state.setMode(el: state.currentEL, spSel: UInt32(value & 1))
        case SysReg.pan: state.panUAO = (state.panUAO & ~(1 << 22)) | (UInt32(truncatingIfNeeded: value) & (1 << 22))
        case SysReg.uao: state.panUAO = (state.panUAO & ~(1 << 23)) | (UInt32(truncatingIfNeeded: value) & (1 << 23))
        case SysReg.esr: state.sys.esr = value & 0xffff_ffff
        case SysReg.far: state.sys.far = value
        case SysReg.afsr0: state.sys.afsr0 = value
        case SysReg.afsr1: state.sys.afsr1 = value
        case SysReg.par: state.sys.par = value
        case SysReg.vbar: state.sys.vbar = value & ~0x7ff
        case SysReg.contextidr: state.sys.contextidr = value & 0xffff_ffff
        case SysReg.tpidrEL1: state.sys.tpidrEL1 = value
        case SysReg.tpidrroEL0: state.sys.tpidrroEL0 = value
        case SysReg.cntkctl: state.sys.cntkctl = value
        case SysReg.mdscr: state.sys.mdscr = value
        case SysReg.oslar, SysReg.osdlr: break
        default: return false
        }
        return true
    }

    // MARK: exclusives and atomics
    //
    // Host primitives: RAM words are accessed with the x86-64 `lock cmpxchg` / `lock xadd` family through
    // swift-atomics (sequentially consistent), and 128-bit CASP and STXP with `lock cmpxchg16b` (CAtomic128),
    // which gives every LSE atomic, CAS and store-exclusive single-copy atomicity against every other access
    // and at least the acquire/release ordering the A64 instruction asks for. The store-exclusive succeeds only if its
    // reservation still stands in the global monitor (a store by another vCPU to the granule clears it: see
    // GuestMemory's "exclusive monitor") and memory still holds the value the load-exclusive saw (compare-and-swap).

    private func storeExclusive(_ address: UInt64, _ size: UInt8, _ value: UInt64) -> Bool? {
        let bytes = UInt64(1) << UInt64(size)
        guard let p = memory.ramPointer(address, bytes) else {
            // Exclusives to devices: a plain store that always succeeds.
            return store(address, size, value, recordingAccesses) ? true : nil
        }
        let ok = casRaw(p, size, expected: monitorValue, new: value).exchanged
        if ok {
            if recordingAccesses { recordAccess(address, value & ones(8 << Int(size)), size, store: true, device: nil) }
            noteRAMWrite(address, bytes)
        }
        return ok
    }

    private func storeExclusivePair(_ address: UInt64, _ size: UInt8, _ v1: UInt64, _ v2: UInt64) -> Bool? {
        let bytes = UInt64(1) << UInt64(size)
        guard let p = memory.ramPointer(address, bytes * 2) else {
            faultAddress = address; faultStatus = 0x10; faultWrite = true
            return nil
        }
        if size == 2 {
            let expected = (monitorValue & 0xffff_ffff) | (monitorValue2 << 32)
            let new = (v1 & 0xffff_ffff) | (v2 << 32)
            let ok = casRaw(p, 3, expected: expected, new: new).exchanged
            if ok {
                if recordingAccesses {
                    recordAccess(address, v1 & 0xffff_ffff, 2, store: true, device: nil)
                    recordAccess(address &+ 4, v2 & 0xffff_ffff, 2, store: true, device: nil)
                }
                noteRAMWrite(address, 8)
            }
            return ok
        }
        // 128-bit: one `lock cmpxchg16b` (LDXP checked the 16-byte alignment).
        var expected = (monitorValue, monitorValue2)
        let ok = withUnsafeMutableBytes(of: &expected) {
            emud_cas128(p, $0.baseAddress!.assumingMemoryBound(to: UInt64.self), v1, v2)
        }
        if ok {
            if recordingAccesses {
                recordAccess(address, v1, 3, store: true, device: nil)
                recordAccess(address &+ 8, v2, 3, store: true, device: nil)
            }
            noteRAMWrite(address, 16)
        }
        return ok
    }

    private func noteRAMWrite(_ address: UInt64, _ length: UInt64) {
        let offset = address &- ramBase
        if memory.watchBits(page: offset >> GuestMemory.pageShift) != 0
            || memory.watchBits(page: (offset &+ length &- 1) >> GuestMemory.pageShift) != 0 {
            watchedPageWritten(address, length)
        }
    }

    private func casRaw(_ p: UnsafeMutableRawPointer, _ size: UInt8, expected: UInt64, new: UInt64) -> (exchanged: Bool, original: UInt64) {
        switch size {
        case 0:
            let a = UnsafeAtomic<UInt8>(at: p.assumingMemoryBound(to: UnsafeAtomic<UInt8>.Storage.self))
            let r = a.compareExchange(expected: UInt8(truncatingIfNeeded: expected), desired: UInt8(truncatingIfNeeded: new), ordering: .sequentiallyConsistent)
            return (r.exchanged, UInt64(r.original))
        case 1:
            let a = UnsafeAtomic<UInt16>(at: p.assumingMemoryBound(to: UnsafeAtomic<UInt16>.Storage.self))
            let r = a.compareExchange(expected: UInt16(truncatingIfNeeded: expected), desired: UInt16(truncatingIfNeeded: new), ordering: .sequentiallyConsistent)
            return (r.exchanged, UInt64(r.original))
        case 2:
            let a = UnsafeAtomic<UInt32>(at: p.assumingMemoryBound(to: UnsafeAtomic<UInt32>.Storage.self))
            let r = a.compareExchange(expected: UInt32(truncatingIfNeeded: expected), desired: UInt32(truncatingIfNeeded: new), ordering: .sequentiallyConsistent)
            return (r.exchanged, UInt64(r.original))
        default:
            let a = UnsafeAtomic<UInt64>(at: p.assumingMemoryBound(to: UnsafeAtomic<UInt64>.Storage.self))
            let r = a.compareExchange(expected: expected, desired: new, ordering: .sequentiallyConsistent)
            return (r.exchanged, r.original)
        }
    }

    private func atomicRMW(_ address: UInt64, _ size: UInt8, _ kind: AtomicOp, _ operand: UInt64) -> UInt64? {
        let bytes = UInt64(1) << UInt64(size)
        guard let p = atomicPointer(address, bytes, write: false) else { return nil }
        let bits = Int(bytes * 8)
        let mask = ones(bits)
        let opnd = operand & mask
        // A compare-and-swap loop covers every operation and width uniformly.
        var old = p.loadUnaligned(as: UInt64.self) & mask
        if size < 3 {
            switch size {
            case 0: old = UInt64(p.load(as: UInt8.self))
            case 1: old = UInt64(p.load(as: UInt16.self))
            default: old = UInt64(p.load(as: UInt32.self))
            }
        }
        while true {
            let new: UInt64
            switch kind {
            case .add: new = (old &+ opnd) & mask
            case .clr: new = old & ~opnd
            case .eor: new = old ^ opnd
            case .set: new = old | opnd
            case .smax: new = Int64(bitPattern: signExtend(old, bits)) >= Int64(bitPattern: signExtend(opnd, bits)) ? old : opnd
            case .smin: new = Int64(bitPattern: signExtend(old, bits)) <= Int64(bitPattern: signExtend(opnd, bits)) ? old : opnd
            case .umax: new = old >= opnd ? old : opnd
            case .umin: new = old <= opnd ? old : opnd
            case .swp: new = opnd
            }
            let r = casRaw(p, size, expected: old, new: new)
            if r.exchanged {
                if recordingAccesses {
                    recordAccess(address, old, size, store: false, device: nil)
                    recordAccess(address, new, size, store: true, device: nil)
                }
                break
            }
            old = r.original
        }
        noteRAMWrite(address, bytes)
        return old
    }

    private func compareAndSwap(_ address: UInt64, _ size: UInt8, expected: UInt64, new: UInt64) -> UInt64? {
        let bytes = UInt64(1) << UInt64(size)
        guard let p = atomicPointer(address, bytes, write: false) else { return nil }
        let mask = ones(Int(bytes * 8))
        let r = casRaw(p, size, expected: expected & mask, new: new & mask)
        if recordingAccesses {
            recordAccess(address, r.original, size, store: false, device: nil)
            if r.exchanged { recordAccess(address, new & mask, size, store: true, device: nil) }
        }
        if r.exchanged { noteRAMWrite(address, bytes) }
        return r.original
    }

    private func executeCASP(_ op: Op) -> Bool {
        let x = state.x
        let s = op.m, t = op.d
        let bytes = UInt64(1) << UInt64(op.s)
        let address = x[Int(op.n)]
        guard let p = atomicPointer(address, bytes * 2, write: false) else { return false }
        let e1 = x[rz(UInt32(s))], e2 = x[rz(UInt32(s) + 1)]
        let n1 = x[rz(UInt32(t))], n2 = x[rz(UInt32(t) + 1)]
        var o1: UInt64, o2: UInt64
        if op.s == 2 {
            let expected = (e1 & 0xffff_ffff) | (e2 << 32)
            let new = (n1 & 0xffff_ffff) | (n2 << 32)
            let r = casRaw(p, 3, expected: expected, new: new)
            o1 = r.original & 0xffff_ffff; o2 = r.original >> 32
            if r.exchanged { noteRAMWrite(address, 8) }
        } else {
            // One `lock cmpxchg16b` (atomicPointer checked the 16-byte alignment); on failure `current`
            // holds what memory held, on success it still holds e1, e2, which memory held.
            var current = (e1, e2)
            let exchanged = withUnsafeMutableBytes(of: &current) {
                emud_cas128(p, $0.baseAddress!.assumingMemoryBound(to: UInt64.self), n1, n2)
            }
            o1 = current.0; o2 = current.1
            if exchanged { noteRAMWrite(address, 16) }
        }
        x[wz(UInt32(s))] = o1
        x[wz(UInt32(s) + 1)] = o2
        return true
    }

    // MARK: SIMD hooks (see AdvSIMDExecute.swift)

    enum VectorMemoryResult { case ok, fault, codeWritten }

    /// Loads/stores of SIMD&FP registers. With SCTLR_EL1.A set, the alignment the architecture asks for
    /// (the element size for structures, the register size otherwise, 16 bytes for Q) is checked once here and
    /// the accesses themselves go unchecked. A multi-register load that faults part-way leaves its destination
    /// registers as they were.
    func executeVectorMemory(_ op: Op) -> VectorMemoryResult {
        let savedMask = alignmentMask
        if savedMask != 0 {
            let x = state.x
            let n = Int(op.n)
            let address: UInt64
            switch op.code {
            case .vldrImm, .vldrPre, .vstrImm, .vstrPre: address = x[n] &+ op.imm
            case .vldrReg, .vstrReg: address = x[n] &+ extendOperand(x[Int(op.m)], option: op.a, shift: UInt8(op.imm))
            case .vldrLit: address = op.imm
            case .vldp, .vstp: address = op.a == 2 ? x[n] : x[n] &+ op.imm
            default: address = x[n]
            }
            let isStore = op.code == .vstrImm || op.code == .vstrPre || op.code == .vstrPost || op.code == .vstrReg || op.code == .vstp
                || (op.code == .vldst && op.f & SIMDStructure.load == 0)
            guard checkAlignment(address, UInt64(1) << UInt64(op.s), write: isStore) else { return .fault }
            alignmentMask = 0
        }
        defer { alignmentMask = savedMask }
        guard op.code == .vldst || op.code == .vldp else { return vectorMemory(op) }
        // Keep the registers a multi-access load may write, to restore them if a later access faults.
        let v = state.v
        var saved = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        let t0 = Int(op.d), t1 = (t0 + 1) & 31, t2 = (t0 + 2) & 31, t3 = (t0 + 3) & 31, tm = Int(op.m) & 31
        saved = (v[2 * t0], v[2 * t0 + 1], v[2 * t1], v[2 * t1 + 1], v[2 * t2], v[2 * t2 + 1], v[2 * t3], v[2 * t3 + 1],
                 v[2 * tm], v[2 * tm + 1])
        let result = vectorMemory(op)
        if result == .fault {
            v[2 * tm] = saved.8; v[2 * tm + 1] = saved.9
            v[2 * t3] = saved.6; v[2 * t3 + 1] = saved.7
            v[2 * t2] = saved.4; v[2 * t2 + 1] = saved.5
            v[2 * t1] = saved.2; v[2 * t1 + 1] = saved.3
            v[2 * t0] = saved.0; v[2 * t0 + 1] = saved.1
        }
        return result
    }

    func vectorLoad(_ address: UInt64, _ size: UInt8) -> UInt64? { load(address, size, recordingAccesses) }
    func vectorStore(_ address: UInt64, _ size: UInt8, _ value: UInt64) -> Bool { store(address, size, value, recordingAccesses) }
    func takeCodeWriteHit() -> Bool { let h = codeWriteHit; codeWriteHit = false; return h }
}


extension OpCode {
    /// Operations after which the translator ends the block: they change the PC or state that decoding
    /// depends on, or must be followed by a check for interrupts.
    var endsBlock: Bool {
        switch self {
        case .b, .bl, .br, .blr, .ret, .cbz, .tbz, .bcond, .svc, .hvc, .smc, .brk, .hlt, .undefined, .fpTrap,
             .eret, .msr, .msrImm, .wfi, .wfe, .isb, .endBlock:
            return true
        default:
            return false
        }
    }
}
