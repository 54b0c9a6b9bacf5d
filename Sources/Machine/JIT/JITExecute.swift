/// How a machine runs guest code.
public enum ExecutionEngine: String, Sendable, CaseIterable {
    /// The interpreter: the reference engine, on every host.
    case interpreter = "interp"
    /// Blocks compiled to x86-64 host code (`BlockCompiler`); x86-64 hosts only.
    case jit
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
}

/// One vCPU's translator: its context, code buffer and compiler. Used only on the vCPU's thread (or while it is
/// parked, for statistics).
final class JITState {
    static let codeCapacity = 32 << 20
    let context: UnsafeMutablePointer<UInt64>
    let code: CodeBuffer
    var compiler = BlockCompiler()
    var statistics = JITStatistics()
    /// The code buffer filled up: the vCPU flushes its translations before it translates again.
    var needsFlush = false

    init?(vcpu: VCPU) {
        #if arch(x86_64)
        guard BlockCompiler.layoutMatches, let code = CodeBuffer(capacity: Self.codeCapacity) else { return nil }
        self.code = code
        context = .allocate(capacity: JITSlot.count)
        context.initialize(repeating: 0, count: JITSlot.count)
        func address(_ p: UnsafeRawPointer) -> UInt64 { UInt64(UInt(bitPattern: p)) }
        context[Int(JITSlot.x)] = address(vcpu.state.x)
        context[Int(JITSlot.ram)] = address(vcpu.port.ram)
        context[Int(JITSlot.ramBase)] = vcpu.port.ramBase
        context[Int(JITSlot.pageBits)] = address(vcpu.memory.pageBits)
        context[Int(JITSlot.vcpu)] = address(Unmanaged.passUnretained(vcpu).toOpaque())
        context[Int(JITSlot.step)] = address(unsafeBitCast(jitStepHelper, to: UnsafeRawPointer.self))
        context[Int(JITSlot.simd)] = address(unsafeBitCast(jitSIMDHelper, to: UnsafeRawPointer.self))
        context[Int(JITSlot.fp)] = address(unsafeBitCast(jitFPHelper, to: UnsafeRawPointer.self))
        statistics.codeBytesCapacity = Self.codeCapacity
        #else
        return nil
        #endif
    }

    deinit { context.deallocate() }

    /// Compiles a block; its entry offset, or -2 when it is to be interpreted.
    func compile(_ block: UnsafeMutablePointer<TranslationBlock>, ops: UnsafeMutablePointer<Op>) -> Int32 {
        let before = (compiler.compiledOps, compiler.delegatedOps)
        guard let bytes = compiler.compile(ops + Int(block.pointee.start), count: Int(block.pointee.count),
                                           pc: block.pointee.pc) else {
            statistics.blocksInterpreted &+= 1
            return -2
        }
        guard let offset = code.append(bytes), let entry = Int32(exactly: offset) else {
            needsFlush = true
            statistics.blocksInterpreted &+= 1
            return -2
        }
        statistics.blocksCompiled &+= 1
        statistics.operationsCompiled &+= compiler.compiledOps &- before.0
        statistics.operationsDelegated &+= compiler.delegatedOps &- before.1
        statistics.codeBytesUsed = code.used
        return entry
    }

    func reset() {
        code.reset()
        needsFlush = false
        statistics.bufferResets &+= 1
        statistics.codeBytesUsed = 0
    }
}

extension VCPU {
    /// Turns the translator on for this vCPU (before it runs). False when this host cannot run it.
    func enableJIT() -> Bool {
        guard jit == nil else { return true }
        guard let state = JITState(vcpu: self) else { return false }
        jit = state
        return true
    }

    /// The translator's figures, nil when this vCPU interprets.
    public var jitStatistics: JITStatistics? { jit?.statistics }

    /// Mirrors the memory port's fast-path state into the context (see `JITSlot`).
    @inline(__always) func syncJITPort(_ context: UnsafeMutablePointer<UInt64>) {
        context[Int(JITSlot.flatLimit)] = port.flatLimit
        context[Int(JITSlot.tlbSet)] = UInt64(UInt(bitPattern: port.tlb + port.tlbSet))
        context[Int(JITSlot.alignmentMask)] = port.alignmentMask
    }

    /// Runs `first` and the blocks chained after it as compiled code, as `execute` runs them interpreted (same
    /// exits, same instruction counts); a block that cannot be compiled is interpreted.
    func executeCompiled(_ first: UnsafeMutablePointer<TranslationBlock>, _ jit: JITState) {
        let context = jit.context
        var block = first
        while true {
            lastBlock = -1
            var entry = block.pointee.native
            if entry == -1 {
                entry = jit.compile(block, ops: cache.ops)
                block.pointee.native = entry
            }
            if entry < 0 { return execute(block, WithoutHooks.self) }
            context[Int(JITSlot.block)] = UInt64(UInt(bitPattern: block))
            context[Int(JITSlot.nzcv)] = UInt64(state.nzcv)
            syncJITPort(context)
            let function = unsafeBitCast(jit.code.executable + Int(entry), to: JITBlockFunction.self)
            let result = function(context)
            state.nzcv = UInt32(truncatingIfNeeded: context[Int(JITSlot.nzcv)])
            if result != 0 { return }
            let nextPC = context[Int(JITSlot.nextPC)]
            instructionsExecuted &+= UInt64(block.pointee.count)
            state.pc = nextPC
            lastBlock = Int32(block - cache.blocks)
            guard let next = chainedBlock(after: block, nextPC: nextPC, mode: 0) else { return }
            block = next
        }
    }

    /// Operation `i` of the running compiled block, through the interpreter (`jitStepHelper`).
    func jitStep(_ context: UnsafeMutablePointer<UInt64>, _ i: Int) -> Int32 {
        guard let block = UnsafeMutablePointer<TranslationBlock>(bitPattern: UInt(context[Int(JITSlot.block)])),
              i >= 0, i < Int(block.pointee.count) else { return 1 }
        state.nzcv = UInt32(truncatingIfNeeded: context[Int(JITSlot.nzcv)])
        var nextPC = context[Int(JITSlot.nextPC)]
        let ok = interpret(cache.ops[Int(block.pointee.start) + i], block, i, state.x, &nextPC, WithoutHooks.self)
        context[Int(JITSlot.nextPC)] = nextPC
        context[Int(JITSlot.nzcv)] = UInt64(state.nzcv)
        syncJITPort(context)
        return ok ? 0 : 1
    }
}
