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
    /// Empty the TLB (a broadcast TLBI from another vCPU); translated code is checked against it afterwards.
    static let tlb: UInt32 = 32
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

    /// Every guest access goes through here (Memory/MemoryPort.swift): the TLB, page walks, faults, watchpoints
    /// and the plugin access log.
    public let port: MemoryPort

    /// Reasons to leave the fast path; set from any thread, cleared by this vCPU.
    let attention: UnsafeAtomic<UInt32>
    /// Where `attention` lives: translated code reads it with a plain load (JIT/JITContext.swift).
    let attentionStorage: UnsafeMutablePointer<UnsafeAtomic<UInt32>.Storage>
    /// Level of the IRQ line from the interrupt controller.
    let irqLine: UnsafeAtomic<Bool> = .create(false)
    /// The WFE event register, set by SEV on any vCPU (and SEVL locally).
    let eventRegister: UnsafeAtomic<Bool> = .create(false)
    /// Whether guest barriers need host fences: only when another vCPU thread can observe this one's accesses
    /// (set by the machine when it has more than one vCPU); with one vCPU, program order is all there is.
    var hostFences = true
    /// Set (under `wakeLock`) while this vCPU sleeps in WFE, so that events for a vCPU that is not waiting
    /// (the common case: every lost reservation is one) cost no lock.
    let waitingForEvent: UnsafeAtomic<Bool> = .create(false)
    /// Broadcasts SEV to every vCPU of the machine (set by `Machine`).
    var sendEventToAll: (() -> Void)?
    let wakeLock = NSCondition()
    var pendingInvalidations: [UInt64] = []

    public internal(set) var instructionsExecuted: UInt64 = 0
    public internal(set) var exceptionsTaken: UInt64 = 0
    public internal(set) var undefinedByGroup = [UInt64](repeating: 0, count: EncodingGroup.allCases.count)

    // gdb support
    // (Set through `Machine`'s debug seam: `setDebugPoints`, `prepareToResumeFromDebugStop`, `step`.)
    var breakpoints: Set<UInt64> = [] { didSet { if breakpoints != oldValue { flushTranslations() } } }
    /// Executes the instruction at this address even if it holds a breakpoint (resuming from one).
    var skipBreakpointAt: UInt64? = nil
    var singleStep = false
    /// gdb watchpoints (kept by the memory port, which checks them). A hit stops the vCPU before the accessing
    /// instruction completes (AArch64 watchpoints are not steppable), PC at the instruction.
    var watchpoints: [Watchpoint] {
        get { port.watchpoints }
        set { port.watchpoints = newValue }
    }
    /// Lets the instruction at this address run once without triggering watchpoints (resuming from a hit).
    var skipWatchpointAt: UInt64? {
        get { port.skipWatchpointAt }
        set { port.skipWatchpointAt = newValue }
    }

    // Exclusive monitor (local): address, size and the value seen by the load-exclusive.
    var monitorValid = false
    var monitorAddress: UInt64 = 0
    var monitorSize = 0
    var monitorValue: UInt64 = 0
    var monitorValue2: UInt64 = 0

    var stopReason: VCPUStop? = nil
    /// The last block `execute` ran to its end (-1 if it left early), for chaining in the run loop.
    var lastBlock: Int32 = -1
    var modeBits: UInt64 = 0
    var irqCheckNeeded = true
    var timerPollCountdown = 0
    /// The generic timer and the clock it reads (see GenericTimer.swift).
    var timer: GenericTimer
    /// The translator, when the machine runs with `--engine jit` (JIT/JITExecute.swift); nil: interpreted.
    var jit: JITState?
    /// The translator's context and code buffer, as plain pointers for the run loop (reading `jit` there would
    /// retain and release it on every block).
    var jitContext: UnsafeMutablePointer<UInt64>? = nil
    var jitCode: UnsafeMutableRawPointer? = nil
    /// The cache's `unlinkGeneration` when the translator last restored its patched link slots.
    var jitLinkedGeneration: UInt64 = 0

    /// Broadcasts an inner-shareable TLB invalidation to every vCPU of the machine (set by `Machine`).
    var invalidateAllTLBs: (() -> Void)?
    /// Waits until every other vCPU has taken the last broadcast invalidation (set by `Machine`; see
    /// `completeBroadcastInvalidation`).
    var waitForBroadcastInvalidation: (() -> Void)?
    /// A TLBI ...IS ran and no DSB has waited for it yet.
    var broadcastPending = false
    /// True while this vCPU's thread is inside `run()` and not asleep in WFI/WFE: it may be in the middle of a
    /// block. Written by the vCPU, read by others waiting in `completeBroadcastInvalidation`.
    let runningGuest: UnsafeAtomic<Bool> = .create(false)

    /// Whether another vCPU's broadcast invalidation must still wait for this one.
    func owesFlush() -> Bool {
        attention.load(ordering: .sequentiallyConsistent) & Attention.tlb != 0
            && runningGuest.load(ordering: .sequentiallyConsistent)
    }

    /// Whether this vCPU has been asked to stop (a waiting loop on its own thread gives way).
    var stopRequested: Bool { attention.load(ordering: .relaxed) & Attention.stop != 0 }

    public init(index: Int, memory: GuestMemory, clock: GuestClock = .host) {
        let storage = UnsafeMutablePointer<UnsafeAtomic<UInt32>.Storage>.allocate(capacity: 1)
        storage.initialize(to: .init(0))
        attentionStorage = storage
        attention = UnsafeAtomic(at: storage)
        self.index = index
        timer = GenericTimer(clock: clock)
        self.memory = memory
        port = MemoryPort(memory: memory, cpu: index, state: state, cache: cache)
        state.sys.identity.mpidr = 0x8000_0000 | UInt64(index & 0xff) | (UInt64(index >> 8) << 8)
    }

    deinit {
        attention.destroy()  // deinitializes and frees attentionStorage
        irqLine.destroy()
        eventRegister.destroy()
        waitingForEvent.destroy()
        runningGuest.destroy()
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

    /// Asks the vCPU to empty its TLB before its next block (broadcast TLB maintenance).
    func requestTLBFlush() {
        attention.loadThenBitwiseOr(with: Attention.tlb, ordering: .sequentiallyConsistent)
        wake()
    }

    public func requestFlush() {
        attention.loadThenBitwiseOr(with: Attention.flush, ordering: .sequentiallyConsistent)
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

    /// Empties this vCPU's translation cache and its TLB.
    public func flushTranslations() {
        port.flushTLB()
        for page in cache.flush() { memory.clearCode(page: page, cpu: index) }
        jit?.reset()
        instrumentation?.translationsFlushed(cpu: index)
    }

    func serveAttention() -> Bool {
        let bits = attention.exchange(0, ordering: .acquiring)
        if bits & Attention.flush != 0 { flushTranslations() }
        if bits & Attention.tlb != 0 { port.flushTLB() }
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

    func invalidateCode(page: UInt64) {
        cache.invalidate(page: page)
        memory.clearCode(page: page, cpu: index)
    }


    // MARK: the run loop

    /// Runs guest code until something stops this vCPU.
    public func run() -> VCPUStop {
        // Sequentially consistent with `requestFlush` and `owesFlush`: either this vCPU sees a pending flush
        // before its first block, or the waiting vCPU sees this one running.
        runningGuest.store(true, ordering: .sequentiallyConsistent)
        defer { runningGuest.store(false, ordering: .releasing) }
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
                    takeException(vectorOffset: ExceptionVector.irq.rawValue, esr: nil, far: nil, returnAddress: state.pc)
                    previous = -1
                }
            }
            timerPollCountdown -= 1
            let pc = state.pc
            if pc & 3 != 0 {
                take(.pcAlignment(pc), returnAddress: pc)
                previous = -1
                continue
            }
            let key = pc | modeBits
            var index: Int32 = -1
            if previous >= 0 { index = chainTarget(cache.blocks + Int(previous), key) }
            if index >= 0 && cache.blocks[Int(index)].epoch != port.epoch && !stillMapped(index) { index = -1 }
            if index < 0 {
                if singleStep {
                    index = translate(key: key, pc: pc, limit: 1)
                } else {
                    index = cache.lookup(key)
                    if index >= 0 && cache.blocks[Int(index)].epoch != port.epoch && !stillMapped(index) { index = -1 }
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
            case 0:
                if let jitContext, let jitCode, !singleStep {
                    executeCompiled(block, context: jitContext, code: jitCode)
                } else {
                    execute(block, WithoutHooks.self)
                }
            default:
                // Inline adds and stores and exec callbacks are compiled too; an instruction with memory
                // callbacks is run by the interpreter, which then calls them.
                if let jitContext, let jitCode, !singleStep {
                    executeCompiled(block, context: jitContext, code: jitCode)
                } else if block.pointee.mode == 1 {
                    execute(block, FoldedInline.self)
                } else if block.pointee.mode == 2 {
                    execute(block, WithHooks.self)
                } else {
                    execute(block, WithMemoryHooks.self)
                }
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

    /// Blocks are keyed by virtual address. After a TLB flush (a TLBI, a write to a translation register: the
    /// memory port's epoch moves on), a block runs again only if its page still translates, executable, to the
    /// physical address it was translated from; else it is dropped (and translated anew from what is mapped
    /// now). A translation change thus costs one walk per page of code, not the whole cache. Code written
    /// through any alias is caught by physical page (`GuestMemory.markCode`).
    @inline(never) func stillMapped(_ index: Int32) -> Bool {
        let block = cache.blocks + Int(index)
        if port.mmuEnabled {
            guard let (_, physical) = port.fetch(block.pointee.pc), physical == block.pointee.physical else {
                cache.drop(index)
                return false
            }
        }
        block.pointee.epoch = port.epoch
        return true
    }

    // MARK: chaining

    /// The block `block` is chained to for `key` (pc | mode bits), or -1.
    @inline(__always) func chainTarget(_ block: UnsafeMutablePointer<TranslationBlock>, _ key: UInt64) -> Int32 {
        if block.pointee.chainKey0 == key { return block.pointee.chainIndex0 }
        if block.pointee.chainKey1 == key { return block.pointee.chainIndex1 }
        return -1
    }

    /// The block the interpreter may run right after `block` ended normally at `nextPC` without going back to
    /// the run loop: nil when something needs the loop (single step, an interrupt check, a misaligned PC, the
    /// timer poll, an attention bit), when no chain is linked yet, or when the next block holds a breakpoint or
    /// runs in another hook mode (hooked blocks chain to hooked blocks, plain ones to plain ones).
    @inline(__always) func chainedBlock(after block: UnsafeMutablePointer<TranslationBlock>, nextPC: UInt64,
                                        mode: UInt8) -> UnsafeMutablePointer<TranslationBlock>? {
        if singleStep || irqCheckNeeded || nextPC & 3 != 0 { return nil }
        timerPollCountdown -= 1
        if timerPollCountdown <= 0 || attention.load(ordering: .relaxed) != 0 { return nil }
        let next = chainTarget(block, nextPC | modeBits)
        if next < 0 { return nil }
        let candidate = cache.blocks + Int(next)
        if candidate.pointee.breakpoint || candidate.pointee.mode != mode { return nil }
        return candidate
    }

    /// After a change of EL, PSTATE.PAN or SCTLR_EL1: the key bits of translated blocks, and the memory port's
    /// TLB set. Switching the MMU on or off flushes translated code (blocks are keyed by virtual address).
    @inline(__always) func updateModeBits() {
        if port.regimeChanged() { requestFlush() }
        modeBits = (state.sys.fpEnabled(el: state.currentEL) ? 1 : 0) | (UInt64(state.currentEL) << 1)
    }

    /// Translates a block at `pc`; returns its index, or -1 after raising an instruction abort.
    func translate(key: UInt64, pc: UInt64, limit: Int) -> Int32 {
        if !cache.hasRoom || jit?.needsFlush == true { flushTranslations() }
        let fpEnabled = modeBits & 1 != 0
        guard let (start, physical) = port.fetch(pc) else {
            // Nothing executable at pc: an instruction abort (translation, permission or external abort).
            take(.instructionAbort(at: pc, status: port.faultStatus, fromEL0: state.currentEL == 0), returnAddress: pc)
            return -1
        }
        // A block never leaves its 4 KiB page, so its instructions follow `start` in host memory; it also stops
        // where RAM ends. Code outside RAM (flash) comes in whole pages.
        let ramOffset = physical &- port.ramBase
        let inRAM = ramOffset < port.ramSize ? Int(min((port.ramSize - ramOffset) / 4, 1024)) : 1024
        return withUnsafeTemporaryAllocation(of: Op.self, capacity: limit) { buffer -> Int32 in
            var count = 0
            var address = pc
            while count < limit && count < inRAM {
                if count > 0 && breakpoints.contains(address) { break }
                let word = (start + 4 * count).loadUnaligned(as: UInt32.self)
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
            let firstPage = (physical &- port.ramBase) >> GuestMemory.pageShift
            let lastPage = (physical &+ UInt64(count - 1) &* 4 &- port.ramBase) >> GuestMemory.pageShift
            for page in firstPage...lastPage { memory.markCode(page: page, cpu: index) }
            let ops = UnsafeBufferPointer(start: buffer.baseAddress!, count: count)
            var hooks: [InstrumentationHook] = []
            var foldInlineAdds = true
            if let instrumentation {
                var words: [UInt32] = []
                words.reserveCapacity(count)
                for k in 0..<count { words.append((start + 4 * k).loadUnaligned(as: UInt32.self)) }
                hooks = instrumentation.instrument(BlockDescription(pc: pc, physical: physical, words: words), cpu: index)
                    .filter { $0.instruction >= 0 && $0.instruction < Int32(count) }
                    .enumerated().sorted { ($0.element.instruction, $0.offset) < ($1.element.instruction, $1.offset) }
                    .map { $0.element }
                foldInlineAdds = instrumentation.inlineAddsMayBeDeferred
            }
            let blockIndex = cache.add(key: key, pc: pc, physical: physical, epoch: port.epoch, ops: ops,
                                       breakpoint: breakpoints.contains(pc), pages: (firstPage, lastPage),
                                       hooks: hooks, foldInlineAdds: foldInlineAdds)
            buffer.baseAddress!.deinitialize(count: count)
            return blockIndex
        }
    }

    // MARK: WFI and timers

    /// Parks the host thread until an interrupt is pending, someone kicks this vCPU, or (WFE) an event arrives.
    /// A store by another vCPU that clears our reservation is an event (GuestMemory signals it). WFE also gives
    /// up after 1 ms, which the architecture allows (WFE may complete early): a safety net for any event source
    /// not modelled, so a spin-lock's WFE never sleeps forever.
    func waitForInterrupt(event: Bool = false) {
        pollTimers()
        let started = DispatchTime.now().uptimeNanoseconds
        runningGuest.store(false, ordering: .releasing)
        defer { runningGuest.store(true, ordering: .sequentiallyConsistent) }
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
                guard let idle = idleTime(until: deadline) else { break }
                if idle > 0 { _ = wakeLock.wait(until: Date(timeIntervalSinceNow: Double(idle) / 1e9)) }
            }
            wakeLock.unlock()
            pollTimers()
            wakeLock.lock()
        }
        wakeLock.unlock()
        irqCheckNeeded = true
    }

}
