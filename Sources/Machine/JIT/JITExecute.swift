import Foundation
/// How a machine runs guest code.
public enum ExecutionEngine: String, Sendable, CaseIterable {
    /// The interpreter: the reference engine, on every host.
    case interpreter = "interp"
    /// Blocks compiled to x86-64 host code (`BlockCompiler`); x86-64 hosts only.
    case jit

    /// Whether this host can run the translator: x86-64, the memory-port layout the generated code assumes, and
    /// code memory it can map (checked once, with a one-page buffer).
    public static let translatorAvailable: Bool = {
        #if arch(x86_64)
        return BlockCompiler.layoutMatches && CodeBuffer(capacity: 4096) != nil
        #else
        return false
        #endif
    }()

    /// The engine of a machine that names none: the environment's EMUD_ENGINE ("interp" or "jit") when it is
    /// set to one of them (so a whole test suite can run under either), else the translator where this host can
    /// run it, else the interpreter.
    public static var `default`: ExecutionEngine {
        if let chosen = ProcessInfo.processInfo.environment["EMUD_ENGINE"].flatMap(ExecutionEngine.init(rawValue:)) {
            return chosen
        }
        return translatorAvailable ? .jit : .interpreter
    }
}

/// One block as the translator compiled it (`MachineConfiguration.jitDump`, `emud run --dump-jit`).
public struct JITBlockDump: Sendable {
    public var cpu: Int
    /// The guest address of the block's first instruction.
    public var pc: UInt64
    /// The block's instructions as they were in guest RAM (4 bytes each); empty for code outside RAM (flash).
    public var guestCode: [UInt8]
    /// Where the host code runs, and the code.
    public var hostAddress: UInt64
    public var hostCode: [UInt8]
    /// Where each instruction's host code starts in `hostCode`, and how it was compiled.
    public var instructionOffsets: [Int]
    public var instructionSummaries: [String]
    /// Where the code after the last instruction starts: the exits (one stub per direct target) and slow paths.
    public var tailOffset: Int
}

/// What the translator reports (`monitor info jit`, query-machines).
public struct JITStatistics: Sendable {
    public var blocksCompiled: UInt64 = 0
    public var blocksInterpreted: UInt64 = 0
    public var operationsCompiled: UInt64 = 0
    public var operationsDelegated: UInt64 = 0
    public var codeBytesUsed: Int = 0
    public var codeBytesCapacity: Int = 0
    public var bufferResets: UInt64 = 0
    /// Times the code buffer was found full (the vCPU then empties its translations).
    public var bufferFull: UInt64 = 0
    /// Exits linked directly to the next block's code.
    public var links: UInt64 = 0
    /// Ways of indirect-branch caches filled (BR, BLR, RET going on to a block without the vCPU).
    public var indirectLinks: UInt64 = 0
    /// Time spent compiling blocks (and placing them in the code buffer), for the translation speed.
    public var compileNanoseconds: UInt64 = 0
    /// Operations (translated, not executed) handed to the interpreter, by operation name.
    public var delegatedByOperation: [String: UInt64] = [:]
}

/// One vCPU's translator: its context, code buffer and compiler. Used only on the vCPU's thread (or while it is
/// parked, for statistics).
final class JITState {
    let context: UnsafeMutablePointer<UInt64>
    let code: CodeBuffer
    var compiler = BlockCompiler()
    var statistics = JITStatistics()
    /// The code buffer filled up: the vCPU flushes its translations before it translates again.
    var needsFlush = false
    /// Link slots patched to jump to another block, with the fallback each held (restored when the cache's
    /// chain links are forgotten: a block was invalidated or dropped).
    var linked: [(slot: UnsafeMutableRawPointer, fallback: UInt64)] = []
    /// Where each compiled block is shown (`--dump-jit`), and the memory its guest words are read from.
    var dump: (@Sendable (JITBlockDump) -> Void)?
    let memory: GuestMemory

    init?(vcpu: VCPU, codeCapacity: Int) {
        memory = vcpu.memory
        #if arch(x86_64)
        guard BlockCompiler.layoutMatches, let code = CodeBuffer(capacity: codeCapacity) else { return nil }
        self.code = code
        context = .allocate(capacity: JITSlot.count)
        context.initialize(repeating: 0, count: JITSlot.count)
        func address(_ p: UnsafeRawPointer) -> UInt64 { UInt64(UInt(bitPattern: p)) }
        context[Int(JITSlot.x)] = address(vcpu.state.x)
        context[Int(JITSlot.v)] = address(vcpu.state.v)
        context[Int(JITSlot.ram)] = address(vcpu.port.ram)
        context[Int(JITSlot.ramBase)] = vcpu.port.ramBase
        context[Int(JITSlot.pageBits)] = address(vcpu.memory.pageBits)
        context[Int(JITSlot.vcpu)] = address(Unmanaged.passUnretained(vcpu).toOpaque())
        context[Int(JITSlot.step)] = address(unsafeBitCast(jitStepHelper, to: UnsafeRawPointer.self))
        context[Int(JITSlot.simd)] = address(unsafeBitCast(jitSIMDHelper, to: UnsafeRawPointer.self))
        context[Int(JITSlot.fp)] = address(unsafeBitCast(jitFPHelper, to: UnsafeRawPointer.self))
        context[Int(JITSlot.memoryStep)] = address(unsafeBitCast(jitMemoryStepHelper, to: UnsafeRawPointer.self))
        context[Int(JITSlot.attention)] = address(vcpu.attentionStorage)
        statistics.codeBytesCapacity = codeCapacity
        #else
        return nil
        #endif
    }

    deinit { context.deallocate() }

    /// Compiles a block; its entry offset, or -2 when it is to be interpreted.
    func compile(_ block: UnsafeMutablePointer<TranslationBlock>, cache: TranslationCache, cpu: Int) -> Int32 {
        let started = DispatchTime.now().uptimeNanoseconds
        defer { statistics.compileNanoseconds &+= DispatchTime.now().uptimeNanoseconds &- started }
        let before = (compiler.compiledOps, compiler.delegatedOps)
        compiler.cpuIndex = UInt32(truncatingIfNeeded: cpu)
        // The block's instrumentation, with each scoreboard address resolved for this vCPU.
        var hooks: [BlockCompiler.Hook] = []
        var memoryHooked = Set<Int>()
        let first = Int(block.pointee.hookStart)
        for k in first..<first + Int(block.pointee.hookCount) {
            let h = cache.hooks[k]
            switch h.kind {
            case .inlineAdd, .inlineStore:
                guard let target = h.target else { continue }
                hooks.append(.init(instruction: Int(h.instruction), store: h.kind == .inlineStore,
                                   target: UInt64(UInt(bitPattern: target + cpu &* h.stride)), value: h.value))
            case .execute:
                guard let callback = h.callback else { continue }
                hooks.append(.init(instruction: Int(h.instruction), callback: UInt64(UInt(bitPattern: callback)),
                                   userdata: UInt64(UInt(bitPattern: h.userdata))))
            case .memory:
                // Stepped through the interpreter with its callbacks (an instruction that ends the block
                // cannot be stepped that way: the whole block is interpreted).
                let i = Int(h.instruction)
                guard i >= 0, i < Int(block.pointee.count),
                      !cache.ops[Int(block.pointee.start) + i].code.endsBlock else {
                    statistics.blocksInterpreted &+= 1
                    return -2
                }
                memoryHooked.insert(i)
            }
        }
        guard let compiled = compiler.compile(cache.ops + Int(block.pointee.start), count: Int(block.pointee.count),
                                              pc: block.pointee.pc, block: block, hooks: hooks,
                                              fold: block.pointee.mode == 1, memoryHooked: memoryHooked) else {
            statistics.blocksInterpreted &+= 1
            return -2
        }
        guard let offset = code.append(compiled), let entry = Int32(exactly: offset) else {
            needsFlush = true
            statistics.bufferFull &+= 1
            statistics.blocksInterpreted &+= 1
            return -2
        }
        statistics.blocksCompiled &+= 1
        if let dump {
            // The guest's words as translated (read from RAM by physical address; none for code in flash).
            let length = Int(block.pointee.count) &* 4
            dump(JITBlockDump(cpu: cpu, pc: block.pointee.pc,
                              guestCode: memory.readBytes(block.pointee.physical, length) ?? [],
                              hostAddress: UInt64(UInt(bitPattern: code.executable)) &+ UInt64(offset),
                              hostCode: compiled.bytes, instructionOffsets: compiler.instructionOffsets,
                              instructionSummaries: compiler.instructionKinds.map(\.summary),
                              tailOffset: compiler.tailOffset))
        }
        statistics.operationsCompiled &+= compiler.compiledOps &- before.0
        statistics.operationsDelegated &+= compiler.delegatedOps &- before.1
        statistics.codeBytesUsed = code.used
        return entry
    }

    /// Links the exit whose slot translated code reported to the block compiled at `entry`.
    func link(slot: UInt64, toEntry entry: Int32) {
        guard entry >= 0, let (writable, previous) = code.link(slot: slot, to: code.executable + Int(entry) + BlockCompiler.prologueSize)
        else { return }
        linked.append((writable, previous))
        statistics.links &+= 1
    }

    /// Fills a way of the indirect-branch cache at `cache` (its executable address, as translated code reported
    /// it): the first empty way, else the second, with `key` and the linked entry of the block compiled at `entry`.
    func linkIndirect(cache: UInt64, key: UInt64, toEntry entry: Int32) {
        guard entry >= 0, let key0 = code.peek(slot: cache), let key1 = code.peek(slot: cache &+ 16) else { return }
        guard key0 != key && key1 != key else { return }
        let way = key0 == ~0 ? cache : cache &+ 16
        let target = UInt64(UInt(bitPattern: code.executable + Int(entry) + BlockCompiler.prologueSize))
        guard let entrySlot = code.patch(slot: way &+ 8, value: target) else { return }
        linked.append(entrySlot)
        guard let keySlot = code.patch(slot: way, value: key) else { return }
        linked.append(keySlot)
        statistics.indirectLinks &+= 1
    }

    /// Restores every patched link slot (after the cache forgot its chain links), the latest patch first, so a
    /// slot patched twice ends as it was before the first.
    func unlinkAll() {
        for (slot, fallback) in linked.reversed() { slot.storeBytes(of: fallback, as: UInt64.self) }
        linked.removeAll(keepingCapacity: true)
    }

    func reset() {
        linked.removeAll(keepingCapacity: true)
        code.reset()
        needsFlush = false
        statistics.bufferResets &+= 1
        statistics.codeBytesUsed = 0
    }
}

extension VCPU {
    /// Turns the translator on for this vCPU (before it runs). False when this host cannot run it.
    func enableJIT(codeCapacity: Int = 32 << 20, dump: (@Sendable (JITBlockDump) -> Void)? = nil) -> Bool {
        guard jit == nil else { return true }
        guard let state = JITState(vcpu: self, codeCapacity: codeCapacity) else { return false }
        state.dump = dump
        jit = state
        jitContext = state.context
        jitCode = state.code.executable
        return true
    }

    /// The PC a plugin callback sees: under the translator an exec callback runs inside translated code, which
    /// leaves the instruction's PC in the context instead of `CPUState.pc`.
    public var observedPC: UInt64 {
        if let context = jitContext, context[Int(JITSlot.hookActive)] != 0 { return context[Int(JITSlot.hookPC)] }
        return state.pc
    }

    /// NZCV as a plugin callback sees it (in the context while translated code runs one).
    public var observedNZCV: UInt32 {
        if let context = jitContext, context[Int(JITSlot.hookActive)] != 0 {
            return UInt32(truncatingIfNeeded: context[Int(JITSlot.nzcv)])
        }
        return state.nzcv
    }

    /// The translator's figures, nil when this vCPU interprets.
    public var jitStatistics: JITStatistics? {
        guard let jit else { return nil }
        var s = jit.statistics
        for (code, count) in jit.compiler.delegatedByCode { s.delegatedByOperation["\(code)", default: 0] &+= count }
        return s
    }

    /// Mirrors the memory port's fast-path state into the context (see `JITSlot`).
    @inline(__always) func syncJITPort(_ context: UnsafeMutablePointer<UInt64>) {
        context[Int(JITSlot.flatLimit)] = port.flatLimit
        context[Int(JITSlot.tlbSet)] = UInt64(UInt(bitPattern: port.tlb + port.tlbSet))
        context[Int(JITSlot.alignmentMask)] = port.alignmentMask
    }

    /// Runs `first` and the blocks chained after it as compiled code, as `execute` runs them interpreted (same
    /// exits, same instruction counts); a block that cannot be compiled is interpreted.
    func executeCompiled(_ first: UnsafeMutablePointer<TranslationBlock>, context: UnsafeMutablePointer<UInt64>,
                         code: UnsafeMutableRawPointer) {
        var block = first
        while true {
            lastBlock = -1
            if cache.unlinkGeneration != jitLinkedGeneration { forgetLinks() }
            var entry = block.pointee.native
            if entry == -1 {
                entry = compileBlock(block)
                block.pointee.native = entry
            }
            if entry < 0 {
                switch block.pointee.mode {
                case 0: return execute(block, WithoutHooks.self)
                case 1: return execute(block, FoldedInline.self)
                case 2: return execute(block, WithHooks.self)
                default: return execute(block, WithMemoryHooks.self)
                }
            }
            context[Int(JITSlot.nzcv)] = UInt64(state.nzcv)
            context[Int(JITSlot.budget)] = UInt64(bitPattern: Int64(timerPollCountdown))
            context[Int(JITSlot.chainBlocked)] = 0
            context[Int(JITSlot.indirectCache)] = 0
            context[Int(JITSlot.modeBits)] = modeBits
            syncJITPort(context)
            let function = unsafeBitCast(code + Int(entry), to: JITBlockFunction.self)
            let result = function(context)
            state.nzcv = UInt32(truncatingIfNeeded: context[Int(JITSlot.nzcv)])
            instructionsExecuted &+= context[Int(JITSlot.executed)]
            context[Int(JITSlot.executed)] = 0
            timerPollCountdown = Int(truncatingIfNeeded: Int64(bitPattern: context[Int(JITSlot.budget)]))
            if result != 0 { return }
            // The last block that ran (translated code may have gone on through linked blocks).
            guard let last = UnsafeMutablePointer<TranslationBlock>(bitPattern: UInt(context[Int(JITSlot.block)])) else { return }
            let nextPC = context[Int(JITSlot.nextPC)]
            state.pc = nextPC
            lastBlock = Int32(last - cache.blocks)
            guard let next = chainedBlock(after: last, nextPC: nextPC, mode: last.pointee.mode) else { return }
            let slot = context[Int(JITSlot.linkSlot)]
            if next.pointee.native >= 0 {
                if slot != 0 {
                    linkExit(slot: slot, to: next.pointee.native)
                } else if context[Int(JITSlot.indirectCache)] != 0 {
                    linkIndirect(cache: context[Int(JITSlot.indirectCache)], key: nextPC | modeBits, to: next.pointee.native)
                }
            }
            block = next
        }
    }

    /// A block whose inline adds were applied on entry left at instruction `i`: the adds of the instructions
    /// after it did not happen (the interpreter's `applyFoldedInline(through: i)` is the same count).
    @inline(never) func takeBackFoldedInline(_ block: UnsafeMutablePointer<TranslationBlock>, after i: Int) {
        let start = Int(block.pointee.hookStart)
        for k in start..<start + Int(block.pointee.hookCount) where cache.hooks[k].instruction > Int32(i) && cache.hooks[k].kind == .inlineAdd {
            if let target = cache.hooks[k].target {
                (target + index &* cache.hooks[k].stride).assumingMemoryBound(to: UInt64.self).pointee &-= cache.hooks[k].value
            }
        }
    }

    /// The memory callbacks of instruction `i` of `block`, in the order the plugin registered them.
    @inline(never) func runMemoryHooks(_ block: UnsafeMutablePointer<TranslationBlock>, instruction i: Int) {
        let start = Int(block.pointee.hookStart)
        for k in start..<start + Int(block.pointee.hookCount) where cache.hooks[k].instruction == Int32(i) && cache.hooks[k].kind == .memory {
            runMemoryHook(cache.hooks + k)
        }
    }

    @inline(never) func forgetLinks() {
        guard let jit else { return }
        jit.unlinkAll()
        jitLinkedGeneration = cache.unlinkGeneration
    }

    @inline(never) func linkExit(slot: UInt64, to entry: Int32) {
        jit?.link(slot: slot, toEntry: entry)
    }

    @inline(never) func linkIndirect(cache: UInt64, key: UInt64, to entry: Int32) {
        jit?.linkIndirect(cache: cache, key: key, toEntry: entry)
    }

    /// Compiles a block on its first run (out of line: the run loop stays small).
    @inline(never) func compileBlock(_ block: UnsafeMutablePointer<TranslationBlock>) -> Int32 {
        jit?.compile(block, cache: cache, cpu: index) ?? -2
    }

    /// Operation `i` of the running compiled block, through the interpreter (`jitStepHelper`); with
    /// `memoryHooks`, as the interpreter runs an instruction that has plugin memory callbacks
    /// (`jitMemoryStepHelper`): its accesses recorded, then its callbacks called, unless it left the block.
    func jitStep(_ context: UnsafeMutablePointer<UInt64>, _ i: Int, memoryHooks: Bool = false) -> Int32 {
        guard let block = UnsafeMutablePointer<TranslationBlock>(bitPattern: UInt(context[Int(JITSlot.block)])),
              i >= 0, i < Int(block.pointee.count) else { return 1 }
        state.nzcv = UInt32(truncatingIfNeeded: context[Int(JITSlot.nzcv)])
        // Blocks linked before this one counted themselves in the context; the interpreter's code (a timer read
        // under --icount, an exception) must see them.
        instructionsExecuted &+= context[Int(JITSlot.executed)]
        context[Int(JITSlot.executed)] = 0
        var nextPC = context[Int(JITSlot.nextPC)]
        let op = cache.ops[Int(block.pointee.start) + i]
        let ok: Bool
        if memoryHooks {
            port.recordingAccesses = true
            port.accessCount = 0
            ok = interpret(op, block, i, state.x, &nextPC, WithMemoryHooks.self)
            port.recordingAccesses = false
            if ok && port.accessCount > 0 { runMemoryHooks(block, instruction: i) }
        } else {
            ok = interpret(op, block, i, state.x, &nextPC, WithoutHooks.self)
        }
        if !ok && block.pointee.mode == 1 { takeBackFoldedInline(block, after: i) }
        context[Int(JITSlot.nextPC)] = nextPC
        context[Int(JITSlot.nzcv)] = UInt64(state.nzcv)
        if irqCheckNeeded { context[Int(JITSlot.chainBlocked)] = 1 }
        syncJITPort(context)
        return ok ? 0 : 1
    }
}
