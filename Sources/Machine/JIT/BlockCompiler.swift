import CCodeMemory

/// Compiles one translated block's operations to x86-64.
///
/// The generated function keeps the register file current at every operation boundary: every operation writes
/// its result back to the file (rbx holds the file's address, r12 the context's), and reads its sources from it or,
/// for the three registers the block names most, from host registers that mirror them (r14, r15, rbp: written
/// through, loaded again after any call that may write guest registers). That makes every operation boundary a
/// precise state, so an operation the compiler does not know simply
/// becomes a call to the interpreter's implementation of it (`jitStepHelper`), and a memory access whose fast path
/// misses calls the same helper for the whole operation, which then faults, logs, or writes code exactly as the
/// interpreter does.
///
/// Compiled natively (SIMD&FP in BlockCompiler+SIMD.swift): moves and immediates, add/sub (register, shifted, immediate, with flags), logical
/// operations, shifts by immediate, bitfield extracts, conditional selects, multiply-add, every branch, and the
/// plain loads and stores (LDR/STR of 1-8 bytes with immediate or register offset, LDP/STP of 4 and 8 bytes) with
/// the memory port's flat path and TLB hit inline. Everything else is delegated.
struct BlockCompiler {
    typealias R = X86Assembler.Register
    var asm = X86Assembler()
    /// The vCPU whose code this compiler makes (the first argument of plugin exec callbacks).
    var cpuIndex: UInt32 = 0
    /// The guest registers (register-file slots) held in host registers in the block being compiled, and
    /// which: `cached[k]` lives in `cacheRegisters[k]`. Write-through: `storeX` writes the file and the host
    /// register, so the file is always current for the interpreter's code, exits and faults; after any call
    /// that may write guest registers (a step of the interpreter, a SIMD&FP operation) they are loaded again.
    private var cached: [UInt8] = []
    static let cacheRegisters: [R] = [.r14, .r15, .rbp]
    /// The A64 condition of a B.cond that directly follows the operation being compiled (nil: none), and
    /// whether the operation left that condition's outcome in dl (taken from the host flags it set).
    private var followingCondition: UInt8? = nil
    private var conditionInDL = false
    private var conditionReady = false
    /// Operations compiled and delegated, over the compiler's life (`monitor info jit`).
    var compiledOps: UInt64 = 0
    var delegatedOps: UInt64 = 0
    /// Delegated operations by operation code (what to compile next).
    var delegatedByCode: [OpCode: UInt64] = [:]

    static let tlbEntryShift: UInt8 = 5
    static let tlbTagOffset = (read: Int32(0), write: Int32(8))
    static let tlbRAMOffset: Int32 = 24
    /// SSE4.2's CRC32 instruction (CRC32C of the A64 CRC extension).
    static let hostHasCRC32C = emud_host_has_crc32c() != 0
    /// SSE4.1 (PMULLD, PMOVSX/ZX, PACKUSDW, PMULDQ), for the multiplying and widening AdvSIMD operations.
    static let hostHasSSE41 = emud_host_has_sse41() != 0
    /// LAHF in 64-bit mode, for composing NZCV from the host flags in a few instructions.
    static let hostHasLAHF = emud_host_has_lahf() != 0

    /// Whether `TLBEntry` has the layout the generated code assumes; if not the JIT stays off.
    static var layoutMatches: Bool {
        MemoryLayout<TLBEntry>.stride == 1 << Int(tlbEntryShift)
            && MemoryLayout<TLBEntry>.offset(of: \TLBEntry.readTag) == Int(tlbTagOffset.read)
            && MemoryLayout<TLBEntry>.offset(of: \TLBEntry.writeTag) == Int(tlbTagOffset.write)
            && MemoryLayout<TLBEntry>.offset(of: \TLBEntry.ramOffset) == Int(tlbRAMOffset)
            && MemoryPort.tlbEntriesPerSet == 2048 && GuestMemory.pageShift == 8
    }

    /// A compiled block: its bytes, and its link slots as (slot, fallback) byte offsets: each slot must be
    /// filled with the executable address of its fallback before the code runs (`CodeBuffer` does it).
    struct Compiled {
        var bytes: [UInt8]
        var links: [(slot: Int, fallback: Int)]
    }

    /// The prologue every block starts with; translated code jumps from block to block just past it.
    private mutating func prologue() {
        asm.push(.rbx); asm.push(.r12); asm.push(.r13); asm.push(.rbp); asm.push(.r14); asm.push(.r15)
        asm.alu(.sub, .rsp, immediate: 8)  // calls from the block need rsp 16-byte aligned
        asm.mov(.r12, .rdi)
        asm.load(.rbx, .r12, JITSlot.offset(JITSlot.x))
        asm.load(.r13, .r12, JITSlot.offset(JITSlot.v))
    }

    /// The size of the prologue: a linked exit jumps to the block's entry plus this.
    static let prologueSize: Int = {
        var compiler = BlockCompiler()
        compiler.prologue()
        return compiler.asm.count
    }()

    /// Where each instruction's host code of the last block compiled starts, how it was emitted, and where the
    /// code after the last instruction (exits, slow paths) starts: what `--dump-jit` shows.
    var instructionOffsets: [Int] = []
    var instructionKinds: [Emitted] = []
    var tailOffset = 0

    /// Direct exits of the block being compiled, by target PC (each becomes a linkable stub).
    private var exits: [(label: X86Assembler.Label, target: UInt64)] = []

    private mutating func exit(to target: UInt64) -> X86Assembler.Label {
        if let known = exits.first(where: { $0.target == target }) { return known.label }
        let label = asm.newLabel()
        exits.append((label, target))
        return label
    }

    /// A plugin hook to compile before an instruction: an inline add or store to a scoreboard address already
    /// resolved for the vCPU, or an exec callback (called directly, see `emitHook`).
    struct Hook {
        var instruction: Int
        var store = false
        var target: UInt64 = 0
        var value: UInt64 = 0
        var callback: UInt64 = 0
        var userdata: UInt64 = 0
    }

    /// The machine code for `count` operations of the block at `block` (guest address `pc`), with `hooks` (in
    /// instruction order) run before their instructions (or, with `fold`, when they are all inline adds, summed
    /// on entry), or nil.
    mutating func compile(_ ops: UnsafePointer<Op>, count: Int, pc: UInt64,
                          block: UnsafeMutablePointer<TranslationBlock>, hooks: [Hook] = [], fold: Bool = false,
                          memoryHooked: Set<Int> = []) -> Compiled? {
        asm.reset()
        exits.removeAll(keepingCapacity: true)
        instructionOffsets.removeAll(keepingCapacity: true)
        instructionKinds.removeAll(keepingCapacity: true)
        let leftEarly = asm.newLabel(), epilogue = asm.newLabel()
        var slowPaths: [(X86Assembler.Label, X86Assembler.Label, Int)] = []  // (slow entry, resume, op index)
        prologue()
        guard asm.count == Self.prologueSize else { return nil }
        // Linked entry: the context says which block runs (for jitStep and for the vCPU afterwards).
        asm.mov(.rax, immediate: UInt64(UInt(bitPattern: block)))
        asm.store(.r12, JITSlot.offset(JITSlot.block), .rax)
        chooseCachedRegisters(ops, count: count)
        reloadCachedRegisters()
        var ending = Emitted.compiled
        var nextHook = 0
        if fold {
            // Only inline adds: their sums per scoreboard word, once, on entry (a block that leaves early at
            // instruction i takes back those of the instructions after i: `VCPU.jitStep`).
            var sums: [(target: UInt64, value: UInt64)] = []
            for h in hooks where !h.store && h.callback == 0 {
                if let k = sums.firstIndex(where: { $0.target == h.target }) { sums[k].value &+= h.value } else { sums.append((h.target, h.value)) }
            }
            for sum in sums { emitHook(Hook(instruction: 0, target: sum.target, value: sum.value), pc: pc) }
            nextHook = hooks.count
        }
        var hooked = Set<Int>()
        if !fold { for h in hooks { hooked.insert(h.instruction) } }
        for i in 0..<count {
            instructionOffsets.append(asm.count)
            conditionReady = conditionInDL
            conditionInDL = false
            followingCondition = i + 1 < count && ops[i + 1].code == .bcond && !hooked.contains(i + 1)
                && !memoryHooked.contains(i) ? ops[i + 1].a : nil
            while nextHook < hooks.count && hooks[nextHook].instruction <= i {
                emitHook(hooks[nextHook], pc: pc &+ UInt64(i) &* 4)
                nextHook += 1
            }
            let op = ops[i]
            let resume = asm.newLabel()
            let slow = asm.newLabel()
            if memoryHooked.contains(i) {
                // Plugin memory callbacks: the interpreter runs it and then calls them (`VCPU.jitStep`).
                ending = .delegate
                emitStep(i, leftEarly, helper: JITSlot.memoryStep)
            } else {
                ending = emit(op, at: ops + i, slow: slow)
            }
            instructionKinds.append(ending)
            switch ending {
            case .compiled, .branch, .indirectBranch:
                compiledOps &+= 1
            case .compiledWithSlowPath:
                compiledOps &+= 1
                slowPaths.append((slow, resume, i))
            case .call:
                delegatedOps &+= 1
                delegatedByCode[op.code, default: 0] &+= 1
            case .delegate:
                delegatedOps &+= 1
                delegatedByCode[op.code, default: 0] &+= 1
                if !memoryHooked.contains(i) { emitStep(i, leftEarly) }
            }
            asm.bind(resume)
        }
        tailOffset = asm.count
        let fallThrough = pc &+ UInt64(count) &* 4
        switch ending {
        case .branch:
            break  // every path jumped to an exit
        case .compiled, .compiledWithSlowPath:
            asm.jump(exit(to: fallThrough))
        case .indirectBranch:
            emitIndirectExit(count: count, epilogue: epilogue)
        case .call, .delegate:
            // The next PC is in the context (an indirect branch), or the last operation was the interpreter's
            // (a system operation may have changed what the next block depends on): back to the vCPU, unlinked.
            asm.mov(.rax, immediate: fallThrough)
            asm.store(.r12, JITSlot.offset(JITSlot.nextPC), .rax)
            asm.alu(.add, memory: .r12, JITSlot.offset(JITSlot.executed), immediate: Int32(count))
            asm.alu(.xor, .rax, .rax, wide: false)
            asm.store(.r12, JITSlot.offset(JITSlot.linkSlot), .rax)
            asm.jump(epilogue)
        }
        var links: [(X86Assembler.Label, X86Assembler.Label)] = []
        for (label, target) in exits {
            // Count the block, then go on to the linked block unless the budget is spent, the vCPU's attention
            // is wanted or an operation asked for an interrupt check; else return with the slot to link.
            // The checks and the budget are `VCPU.chainedBlock`'s, in its order; when the code returns instead of
            // going on, it gives the budget back, for the vCPU's own chainedBlock to take (so the timer is
            // polled after exactly as many blocks as when interpreting, and --icount runs print the same).
            let slot = asm.newLabel(), unlinked = asm.newLabel(), giveBack = asm.newLabel()
            asm.bind(label)
            asm.mov(.rax, immediate: target)
            asm.store(.r12, JITSlot.offset(JITSlot.nextPC), .rax)
            asm.alu(.add, memory: .r12, JITSlot.offset(JITSlot.executed), immediate: Int32(count))
            asm.alu(.cmp, memory: .r12, JITSlot.offset(JITSlot.chainBlocked), immediate: 0)
            asm.jump(.notEqual, unlinked)
            emitChainedJump(giveBack: giveBack) { $0.jumpThrough(slot) }
            asm.bind(unlinked)
            asm.lea(.rax, slot)
            asm.store(.r12, JITSlot.offset(JITSlot.linkSlot), .rax)
            asm.alu(.xor, .rax, .rax, wide: false)
            asm.jump(epilogue)
            asm.align(8)
            asm.bind(slot)
            asm.quad()
            links.append((slot, giveBack))  // an unlinked slot returns as the budget checks do
        }
        asm.bind(epilogue)
        asm.alu(.add, .rsp, immediate: 8)
        asm.pop(.r15); asm.pop(.r14); asm.pop(.rbp); asm.pop(.r13); asm.pop(.r12); asm.pop(.rbx)
        asm.ret()
        asm.bind(leftEarly)
        asm.mov(.rax, immediate: 1)
        asm.jump(epilogue)
        for (slow, resume, i) in slowPaths {
            asm.bind(slow)
            emitStep(i, leftEarly)
            asm.jump(resume)
        }
        guard asm.resolveLabels() else { return nil }
        return Compiled(bytes: asm.bytes, links: links.map { (asm.position(of: $0.0), asm.position(of: $0.1)) })
    }

    /// Going on to a linked block after `VCPU.chainedBlock`'s budget and attention checks: takes one from the
    /// timer-poll budget and emits `jump` unless the budget is spent or the attention word is set; then binds
    /// `giveBack`, where those cases return the budget taken and fall through to the caller's return path.
    private mutating func emitChainedJump(giveBack: X86Assembler.Label, _ jump: (inout X86Assembler) -> Void) {
        asm.alu(.sub, memory: .r12, JITSlot.offset(JITSlot.budget), immediate: 1)
        asm.jump(.lessOrEqual, giveBack)
        loadContext(.rax, JITSlot.attention)
        asm.load(.rax, .rax, 0, wide: false)
        asm.test(.rax, .rax, wide: false)
        asm.jump(.notEqual, giveBack)
        jump(&asm)
        asm.bind(giveBack)
        asm.alu(.add, memory: .r12, JITSlot.offset(JITSlot.budget), immediate: 1)
    }

    /// The end of a block that ends in BR, BLR or RET (the target is in the context's nextPC): count the block,
    /// then look the target's key (PC | mode bits, as the vCPU's block keys) up in a two-way cache in the code;
    /// on a hit, make the checks of a direct exit (`VCPU.chainedBlock`'s) and jump to the cached block's linked
    /// entry. On a miss, or when a check says stop, return with the cache's address in the context: the vCPU
    /// fills a way when its own chaining would have run the next block (`JITState.linkIndirect`). A way's key
    /// starts as ~0, which no aligned PC matches; the cache forgets its ways when the chain links are forgotten.
    private mutating func emitIndirectExit(count: Int, epilogue: X86Assembler.Label) {
        let miss = asm.newLabel(), giveBack = asm.newLabel(), way0 = asm.newLabel(), check = asm.newLabel()
        let key0 = asm.newLabel(), entry0 = asm.newLabel(), key1 = asm.newLabel(), entry1 = asm.newLabel()
        asm.alu(.add, memory: .r12, JITSlot.offset(JITSlot.executed), immediate: Int32(count))
        loadContext(.rax, JITSlot.nextPC)
        asm.mov(.rcx, .rax, wide: false)
        asm.alu(.and, .rcx, immediate: 3, wide: false)
        asm.jump(.notEqual, miss)  // a misaligned PC is the run loop's (a PC alignment fault)
        asm.alu(.or, .rax, .r12, JITSlot.offset(JITSlot.modeBits))
        asm.alu(.cmp, memory: .r12, JITSlot.offset(JITSlot.chainBlocked), immediate: 0)
        asm.jump(.notEqual, miss)
        asm.compare(.rax, key0)
        asm.jump(.equal, way0)
        asm.compare(.rax, key1)
        asm.jump(.notEqual, miss)
        asm.lea(.rcx, entry1)
        asm.jump(check)
        asm.bind(way0)
        asm.lea(.rcx, entry0)
        asm.bind(check)
        emitChainedJump(giveBack: giveBack) { $0.jumpThrough(.rcx, 0) }
        asm.bind(miss)
        asm.lea(.rax, key0)
        asm.store(.r12, JITSlot.offset(JITSlot.indirectCache), .rax)
        asm.alu(.xor, .rax, .rax, wide: false)
        asm.store(.r12, JITSlot.offset(JITSlot.linkSlot), .rax)
        asm.jump(epilogue)
        asm.align(8)
        asm.bind(key0); asm.quad(~0)
        asm.bind(entry0); asm.quad()
        asm.bind(key1); asm.quad(~0)
        asm.bind(entry1); asm.quad()
    }

    /// What `emit` made of an operation: host code (with an out-of-line slow path that steps the interpreter, or
    /// ending the block), a direct call to the interpreter's code for it (`call`), or nothing (`delegate`: the
    /// caller emits a call to `jitStep`).
    enum Emitted {
        case compiled, compiledWithSlowPath, branch, indirectBranch, call, delegate

        /// How `--dump-jit` names it.
        var summary: String {
            switch self {
            case .compiled, .branch, .indirectBranch: return "compiled"
            case .compiledWithSlowPath: return "compiled, misses step the interpreter"
            case .call: return "calls the interpreter's SIMD&FP code"
            case .delegate: return "steps the interpreter"
            }
        }
    }

    /// A hook before an instruction: as the interpreter runs it. An exec callback is called directly with the
    /// vCPU index and its userdata; while it runs, the context holds the instruction's PC and says so
    /// (`hookActive`), so a plugin reading PC or NZCV sees what the interpreter would show (`VCPU.observedPC`).
    private mutating func emitHook(_ hook: Hook, pc: UInt64) {
        if hook.callback != 0 {
            asm.mov(.rax, immediate: pc)
            asm.store(.r12, JITSlot.offset(JITSlot.hookPC), .rax)
            asm.mov(.rax, immediate: 1)
            asm.store(.r12, JITSlot.offset(JITSlot.hookActive), .rax)
            asm.mov(.rdi, immediate: UInt64(cpuIndex))
            asm.mov(.rsi, immediate: hook.userdata)
            asm.mov(.rax, immediate: hook.callback)
            asm.call(.rax)
            asm.alu(.xor, .rax, .rax, wide: false)
            asm.store(.r12, JITSlot.offset(JITSlot.hookActive), .rax)
            return
        }
        asm.mov(.rax, immediate: hook.target)
        asm.mov(.rcx, immediate: hook.value)
        if hook.store {
            asm.store(.rax, 0, .rcx)
        } else {
            asm.alu(.add, .rcx, .rax, 0)
            asm.store(.rax, 0, .rcx)
        }
    }

    private mutating func emitStep(_ i: Int, _ leftEarly: X86Assembler.Label, helper: Int32 = JITSlot.step) {
        asm.mov(.rdi, .r12)
        asm.mov(.rsi, immediate: UInt64(i))
        asm.call(.r12, JITSlot.offset(helper))
        reloadCachedRegisters()
        asm.test(.rax, .rax, wide: false)
        asm.jump(.notEqual, leftEarly)
    }

    // MARK: register file and context

    mutating func loadX(_ r: R, _ slot: UInt8, wide: Bool = true) {
        if let k = cached.firstIndex(of: slot) {
            asm.mov(r, Self.cacheRegisters[k], wide: wide)
        } else {
            asm.load(r, .rbx, Int32(slot) &* 8, wide: wide)
        }
    }
    mutating func storeX(_ slot: UInt8, _ r: R) {
        asm.store(.rbx, Int32(slot) &* 8, r)
        if let k = cached.firstIndex(of: slot) { asm.mov(Self.cacheRegisters[k], r) }
    }

    /// Up to three register-file slots the block's operations name most often (a count over the operand
    /// fields: an operation whose fields are not X registers only makes the choice less useful, never wrong).
    private mutating func chooseCachedRegisters(_ ops: UnsafePointer<Op>, count: Int) {
        var uses = [Int](repeating: 0, count: 34)
        for i in 0..<count {
            let op = ops[i]
            switch op.code {
            case .simd, .fp, .fmovToGeneral, .fmovFromGeneral, .vldst: continue
            default: break
            }
            for slot in [op.n, op.m] where Int(slot) < uses.count { uses[Int(slot)] += 1 }
        }
        cached = (0..<uses.count).filter { uses[$0] >= 2 }.sorted { (uses[$0], $1) > (uses[$1], $0) }
            .prefix(Self.cacheRegisters.count).map { UInt8($0) }
    }

    /// Loads every cached guest register from the register file (at the block's entry, and after calls).
    private mutating func reloadCachedRegisters() {
        for (k, slot) in cached.enumerated() { asm.load(Self.cacheRegisters[k], .rbx, Int32(slot) &* 8) }
    }
    mutating func loadContext(_ r: R, _ slot: Int32) {
        asm.load(r, .r12, JITSlot.offset(slot))
    }

    // MARK: flags

    /// NZCV from the host flags of an add (carry = CF) or a subtract (carry = no borrow), into the context.
    /// Keeps rax (the result); clobbers r8 (and r9-r11 without LAHF).
    ///
    /// With LAHF: AH = SF:ZF:0:AF:0:PF:1:CF and SETO AL give SF, ZF, CF, OF at bits 15, 14, 8, 0 of EAX (the
    /// rest masked off); multiplying by 2^16 + 2^21 + 2^28 puts copies of them at bits 31, 30, 29 and 28 with
    /// no two copies meeting below bit 32 (so no carries reach 28-31), which is N, Z, C (of an add) and V.
    private mutating func storeArithmeticFlags(subtract: Bool, fusable: Bool = true) {
        if fusable { captureFollowingCondition(subtract ? .subtract : .add) }
        guard Self.hostHasLAHF else {
            asm.set(.sign, .r8)
            asm.set(.equal, .r9)
            asm.set(subtract ? .aboveOrEqual : .below, .r10)
            asm.set(.overflow, .r11)
            composeFlags(withCarryAndOverflow: true)
            return
        }
        asm.mov(.r8, .rax)
        asm.loadFlagsIntoAH()
        asm.setByte(.overflow, .rax)
        asm.alu(.and, .rax, immediate: 0xc101, wide: false)
        asm.imul(.rax, .rax, immediate: 0x1021_0000, wide: false)
        asm.alu(.and, .rax, immediate: Int32(bitPattern: 0xf000_0000), wide: false)
        if subtract { asm.alu(.xor, .rax, immediate: 0x2000_0000, wide: false) }
        asm.store(.r12, JITSlot.offset(JITSlot.nzcv), .rax)
        asm.mov(.rax, .r8)
    }

    /// NZCV of a logical result (C = V = 0) from the host flags of a TEST of it. Keeps rax; clobbers r8, r9.
    private mutating func storeLogicalFlags() {
        captureFollowingCondition(.logical)
        guard Self.hostHasLAHF else {
            asm.set(.sign, .r8)
            asm.set(.equal, .r9)
            composeFlags(withCarryAndOverflow: false)
            return
        }
        asm.mov(.r8, .rax)
        asm.loadFlagsIntoAH()
        asm.alu(.and, .rax, immediate: 0xc000, wide: false)
        asm.shift(.shl, .rax, by: 16, wide: false)
        asm.store(.r12, JITSlot.offset(JITSlot.nzcv), .rax)
        asm.mov(.rax, .r8)
    }

    enum FlagSource { case add, subtract, logical }

    /// When a B.cond follows, its outcome from the host flags the operation just set, into dl (1: taken), before
    /// NZCV is composed (which clobbers the flags): the branch then tests dl instead of decoding NZCV.
    private mutating func captureFollowingCondition(_ source: FlagSource) {
        guard let cond = followingCondition, let cc = Self.hostCondition(cond, source) else { return }
        asm.set(cc, .rdx)
        conditionInDL = true
    }

    /// The x86 condition that holds exactly when A64 condition `cond` does, after the host operation that set
    /// NZCV's flags (x86 CF is the borrow of a subtract, A64 C its complement; TEST leaves OF = CF = 0, as a
    /// logical operation's C = V = 0), or nil when no single x86 condition does.
    static func hostCondition(_ cond: UInt8, _ source: FlagSource) -> X86Assembler.Condition? {
        switch (cond & 15, source) {
        case (0, _): return .equal
        case (1, _): return .notEqual
        case (2, .subtract): return .aboveOrEqual
        case (2, .add): return .below
        case (3, .subtract): return .below
        case (3, .add): return .aboveOrEqual
        case (4, _): return .sign
        case (5, _): return .notSign
        case (6, .subtract), (6, .add): return .overflow
        case (7, .subtract), (7, .add): return .noOverflow
        case (8, .subtract): return .above
        case (9, .subtract): return .belowOrEqual
        case (10, _): return .greaterOrEqual
        case (11, _): return .less
        case (12, _): return .greater
        case (13, _): return .lessOrEqual
        default: return nil
        }
    }

    private mutating func composeFlags(withCarryAndOverflow: Bool) {
        asm.shift(.shl, .r8, by: 31, wide: false)
        asm.shift(.shl, .r9, by: 30, wide: false)
        asm.alu(.or, .r8, .r9, wide: false)
        if withCarryAndOverflow {
            asm.shift(.shl, .r10, by: 29, wide: false)
            asm.alu(.or, .r8, .r10, wide: false)
            asm.shift(.shl, .r11, by: 28, wide: false)
            asm.alu(.or, .r8, .r11, wide: false)
        }
        asm.store(.r12, JITSlot.offset(JITSlot.nzcv), .r8)
    }

    /// CF = whether A64 condition `cond` holds for the NZCV in the context. Clobbers r8, r9.
    private mutating func testCondition(_ cond: UInt8) {
        var mask: UInt32 = 0
        for flags in 0..<16 where conditionHolds(cond, UInt32(flags) << 28) { mask |= 1 << UInt32(flags) }
        asm.load(.r8, .r12, JITSlot.offset(JITSlot.nzcv), wide: false)
        asm.shift(.shr, .r8, by: 28, wide: false)
        asm.mov(.r9, immediate: UInt64(mask))
        asm.bitTest32(.r9, index: .r8)
    }

    // MARK: operands

    /// rcx = x[m] shifted as A64 shifted-register operands are (type 0 LSL, 1 LSR, 2 ASR, 3 ROR).
    private mutating func shiftedOperand(_ m: UInt8, type: UInt8, amount: UInt8, wide: Bool) {
        loadX(.rcx, m, wide: wide)
        guard amount != 0 else { return }
        let kinds: [X86Assembler.Shift] = [.shl, .shr, .sar, .ror]
        asm.shift(kinds[Int(type & 3)], .rcx, by: amount, wide: wide)
    }

    /// rcx = extendOperand(x[m], option, shift); false for an option not compiled.
    private mutating func extendedOperand(_ m: UInt8, option: UInt8, shift: UInt8) -> Bool {
        switch option {
        case 0, 1: asm.loadZeroExtended(.rcx, .rbx, Int32(m) &* 8, size: option)        // UXTB, UXTH
        case 2: loadX(.rcx, m, wide: false)                                             // UXTW
        case 3, 7: loadX(.rcx, m)                                                       // UXTX/LSL, SXTX
        case 4, 5, 6: asm.loadSignExtended(.rcx, .rbx, Int32(m) &* 8, size: option - 4)  // SXTB, SXTH, SXTW
        default: return false
        }
        guard shift < 64 else { return false }
        if shift != 0 { asm.shift(.shl, .rcx, by: shift) }
        return true
    }

    // MARK: memory

    enum Access { case read, write }

    /// rdx = the host address of `length` bytes at the guest address in rsi, elements of 1 << `elementSize` bytes,
    /// through the flat path or the TLB; jumps to `slow` when neither applies (or, for a write, when the RAM
    /// there holds code or reservations). Clobbers rax, rcx.
    mutating func translate(_ access: Access, length: UInt64, elementSize: UInt8, slow: X86Assembler.Label) {
        let tlb = asm.newLabel(), hit = asm.newLabel()
        // Flat path: the RAM offset below flatLimit (which leaves room for 8 bytes; a 16-byte pair checks its
        // second half too).
        asm.mov(.rdx, .rsi)
        asm.alu(.sub, .rdx, .r12, JITSlot.offset(JITSlot.ramBase))
        asm.alu(.cmp, .rdx, .r12, JITSlot.offset(JITSlot.flatLimit))
        if length > 8 {
            asm.jump(.aboveOrEqual, tlb)
            asm.lea(.rax, .rdx, Int32(length - 8))
            asm.alu(.cmp, .rax, .r12, JITSlot.offset(JITSlot.flatLimit))
        }
        asm.jump(.below, hit)
        // TLB: the entry of the page, and the compare value of `MemoryPort.tlbCompareValue`.
        asm.bind(tlb)
        asm.mov(.rax, .rsi)
        asm.shift(.shr, .rax, by: 12)
        asm.alu(.and, .rax, immediate: Int32(MemoryPort.tlbEntriesPerSet - 1), wide: false)
        asm.shift(.shl, .rax, by: Self.tlbEntryShift)
        asm.alu(.add, .rax, .r12, JITSlot.offset(JITSlot.tlbSet))
        loadContext(.rcx, JITSlot.alignmentMask)
        asm.alu(.and, .rcx, immediate: Int32((1 << Int32(elementSize)) - 1))
        asm.mov(.rdx, immediate: length - 1)
        asm.alu(.sub, .rdx, .rcx)
        asm.alu(.add, .rdx, .rsi)
        asm.alu(.or, .rcx, immediate: -4096)
        asm.alu(.and, .rdx, .rcx)
        asm.alu(.cmp, .rdx, .rax, access == .read ? Self.tlbTagOffset.read : Self.tlbTagOffset.write)
        asm.jump(.notEqual, slow)
        asm.mov(.rdx, .rsi)
        asm.alu(.and, .rdx, immediate: 0xfff, wide: false)
        asm.alu(.or, .rdx, .rax, Self.tlbRAMOffset)
        asm.bind(hit)
        // rdx = RAM offset
        if access == .write {
            for end in [UInt64(0), length - 1] {
                asm.lea(.rax, .rdx, Int32(end))
                asm.shift(.shr, .rax, by: UInt8(GuestMemory.pageShift))
                asm.alu(.add, .rax, .rax)
                asm.alu(.add, .rax, .r12, JITSlot.offset(JITSlot.pageBits))
                asm.loadZeroExtended(.rax, .rax, 0, size: 1)
                asm.test(.rax, .rax, wide: false)
                asm.jump(.notEqual, slow)
            }
        }
        asm.alu(.add, .rdx, .r12, JITSlot.offset(JITSlot.ram))
    }

    /// rsi = x[n] + imm.
    mutating func baseAddress(_ n: UInt8, _ imm: UInt64) {
        loadX(.rsi, n)
        if imm != 0 { asm.alu(.add, .rsi, constant: imm, scratch: .rax) }
    }

    /// How a single-register load or store forms its address (`Op` codes ldrImm/ldrReg/ldrPre/ldrPost...).
    enum Addressing { case offset, register, preIndex, postIndex }

    /// rsi = the address of a single-register load or store: x[n] + imm (offset, pre-index), x[n] (post-index),
    /// or x[n] + extend(x[m]) << imm.
    mutating func singleAddress(_ op: Op, _ mode: Addressing) -> Bool {
        switch mode {
        case .offset, .preIndex:
            baseAddress(op.n, op.imm)
        case .postIndex:
            baseAddress(op.n, 0)
        case .register:
            guard extendedOperand(op.m, option: op.a, shift: UInt8(truncatingIfNeeded: op.imm)) else { return false }
            loadX(.rsi, op.n)
            asm.alu(.add, .rsi, .rcx)
        }
        return true
    }

    /// The base register's writeback of a pre- or post-indexed access (rsi = the address used).
    mutating func writeBack(_ op: Op, _ mode: Addressing) {
        switch mode {
        case .preIndex:
            storeX(op.n, .rsi)
        case .postIndex:
            asm.alu(.add, .rsi, constant: op.imm, scratch: .rcx)
            storeX(op.n, .rsi)
        default:
            break
        }
    }

    /// The base register's writeback of an LDP/STP (either kind) with `a` = 1 pre-index, 2 post-index (rsi = the
    /// address used).
    mutating func pairWriteBack(_ op: Op) {
        if op.a == 1 {
            storeX(op.n, .rsi)
        } else if op.a == 2 {
            asm.alu(.add, .rsi, constant: op.imm, scratch: .rax)
            storeX(op.n, .rsi)
        }
    }

    private mutating func emitLoad(_ op: Op, _ mode: Addressing, slow: X86Assembler.Label) -> Emitted {
        let signed = op.f & OpFlags.signed != 0
        guard op.s <= 3, !(signed && op.s == 3) else { return .delegate }
        guard singleAddress(op, mode) else { return .delegate }
        translate(.read, length: 1 << UInt64(op.s), elementSize: op.s, slow: slow)
        if signed {
            asm.loadSignExtended(.rax, .rdx, 0, size: op.s)
            if op.f & OpFlags.dest32 != 0 { asm.mov(.rax, .rax, wide: false) }
        } else {
            asm.loadZeroExtended(.rax, .rdx, 0, size: op.s)
        }
        writeBack(op, mode)  // before the destination, as the interpreter writes them
        storeX(op.d, .rax)
        return .compiledWithSlowPath
    }

    private mutating func emitStore(_ op: Op, _ mode: Addressing, slow: X86Assembler.Label) -> Emitted {
        guard op.s <= 3 else { return .delegate }
        guard singleAddress(op, mode) else { return .delegate }
        translate(.write, length: 1 << UInt64(op.s), elementSize: op.s, slow: slow)
        loadX(.rax, op.d)
        asm.storeSized(.rdx, 0, .rax, size: op.s)
        writeBack(op, mode)
        return .compiledWithSlowPath
    }

    /// LDP/STP of two 4- or 8-byte registers (not LDPSW), offset, pre- or post-index.
    private mutating func emitPair(_ op: Op, store: Bool, slow: X86Assembler.Label) -> Emitted {
        guard op.s == 2 || op.s == 3, op.f & OpFlags.signed == 0, op.a <= 2 else { return .delegate }
        let bytes = Int32(1) << Int32(op.s)
        baseAddress(op.n, op.a == 2 ? 0 : op.imm)
        translate(store ? .write : .read, length: UInt64(2 * bytes), elementSize: op.s, slow: slow)
        if store {
            loadX(.rax, op.d)
            loadX(.rcx, op.m)
            asm.storeSized(.rdx, 0, .rax, size: op.s)
            asm.storeSized(.rdx, bytes, .rcx, size: op.s)
        } else {
            asm.loadZeroExtended(.rax, .rdx, 0, size: op.s)
            asm.loadZeroExtended(.rcx, .rdx, bytes, size: op.s)
            storeX(op.d, .rax)
            storeX(op.m, .rcx)
        }
        pairWriteBack(op)
        return .compiledWithSlowPath
    }

    // MARK: operations

    private mutating func emit(_ op: Op, at address: UnsafePointer<Op>, slow: X86Assembler.Label) -> Emitted {
        let sf = op.f & OpFlags.sf != 0
        let setFlags = op.f & OpFlags.setFlags != 0
        switch op.code {
        case .movImm:
            asm.mov(.rax, immediate: op.imm)
            storeX(op.d, .rax)
        case .movk:
            loadX(.rax, op.d)
            asm.alu(.and, .rax, constant: ~op.imm2, scratch: .rcx)
            asm.alu(.or, .rax, constant: op.imm, scratch: .rcx)
            if !sf { asm.mov(.rax, .rax, wide: false) }
            storeX(op.d, .rax)
        case .addImm64, .addImm32, .subImm64, .subImm32:
            let wide = op.code == .addImm64 || op.code == .subImm64
            loadX(.rax, op.n, wide: wide)
            asm.alu(op.code == .addImm64 || op.code == .addImm32 ? .add : .sub, .rax, constant: op.imm, scratch: .rcx, wide: wide)
            storeX(op.d, .rax)
        case .addsImm, .subsImm, .subsImm64, .subsImm32:
            let wide = op.code == .subsImm64 || ((op.code == .addsImm || op.code == .subsImm) && sf)
            loadX(.rax, op.n, wide: wide)
            asm.alu(op.code == .addsImm ? .add : .sub, .rax, constant: op.imm, scratch: .rcx, wide: wide)
            storeArithmeticFlags(subtract: op.code != .addsImm)
            storeX(op.d, .rax)
        case .addReg64, .addReg32, .subReg64, .subReg32, .subsReg64, .subsReg32:
            let wide = op.code == .addReg64 || op.code == .subReg64 || op.code == .subsReg64
            loadX(.rax, op.n, wide: wide)
            asm.alu(op.code == .addReg64 || op.code == .addReg32 ? .add : .sub, .rax, .rbx, Int32(op.m) &* 8, wide: wide)
            if op.code == .subsReg64 || op.code == .subsReg32 { storeArithmeticFlags(subtract: true) }
            storeX(op.d, .rax)
        case .movReg64, .movReg32:
            loadX(.rax, op.m, wide: op.code == .movReg64)
            storeX(op.d, .rax)
        case .addShifted, .subShifted:
            guard op.a < 3 else { return .delegate }
            shiftedOperand(op.m, type: op.a, amount: op.s, wide: sf)
            loadX(.rax, op.n, wide: sf)
            asm.alu(op.code == .addShifted ? .add : .sub, .rax, .rcx, wide: sf)
            if setFlags { storeArithmeticFlags(subtract: op.code == .subShifted) }
            storeX(op.d, .rax)
        case .addExtended, .subExtended:
            guard op.s <= 4, extendedOperand(op.m, option: op.a, shift: op.s) else { return .delegate }
            loadX(.rax, op.n, wide: sf)
            asm.alu(op.code == .addExtended ? .add : .sub, .rax, .rcx, wide: sf)
            if setFlags { storeArithmeticFlags(subtract: op.code == .subExtended) }
            storeX(op.d, .rax)
        case .andShifted, .orrShifted, .eorShifted:
            shiftedOperand(op.m, type: op.a, amount: op.s, wide: sf)
            if op.f & OpFlags.invert != 0 { asm.not(.rcx, wide: sf) }
            loadX(.rax, op.n, wide: sf)
            asm.alu(op.code == .andShifted ? .and : op.code == .orrShifted ? .or : .xor, .rax, .rcx, wide: sf)
            if setFlags {
                asm.test(.rax, .rax, wide: sf)
                storeLogicalFlags()
            }
            storeX(op.d, .rax)
        case .andImm, .orrImm, .eorImm, .andsImm:
            loadX(.rax, op.n, wide: sf || op.code == .andImm)
            let kind: X86Assembler.ALU = op.code == .orrImm ? .or : op.code == .eorImm ? .xor : .and
            asm.alu(kind, .rax, constant: op.imm, scratch: .rcx)
            if !sf && op.code != .andImm { asm.mov(.rax, .rax, wide: false) }
            if op.code == .andsImm {
                asm.test(.rax, .rax, wide: sf)
                storeLogicalFlags()
            }
            storeX(op.d, .rax)
        case .lslImm64, .lsrImm64, .asrImm64:
            guard op.s < 64 else { return .delegate }
            loadX(.rax, op.n)
            if op.s & 63 != 0 {
                asm.shift(op.code == .lslImm64 ? .shl : op.code == .lsrImm64 ? .shr : .sar, .rax, by: op.s & 63)
            }
            storeX(op.d, .rax)
        case .ubfm, .sbfm:
            guard op.a < (sf ? 64 : 32), op.s < (sf ? 64 : 32) else { return .delegate }
            // bot = ROR(src, immr) & wmask; UBFM: bot & tmask; SBFM: (replicated sign bit & ~tmask) | (bot & tmask).
            loadX(.rax, op.n, wide: sf)
            let width: UInt8 = sf ? 64 : 32
            if op.s % width != 0 { asm.shift(.ror, .rax, by: op.s % width, wide: sf) }
            asm.alu(.and, .rax, constant: op.imm & op.imm2, scratch: .rcx)
            if op.code == .sbfm {
                // rcx = all ones if bit a of the source is set
                loadX(.rcx, op.n)
                asm.shift(.shl, .rcx, by: 63 - op.a)
                asm.shift(.sar, .rcx, by: 63)
                let keep = ~op.imm2 & (sf ? ~0 : 0xffff_ffff)
                asm.alu(.and, .rcx, constant: keep, scratch: .rdx)
                asm.alu(.or, .rax, .rcx)
            }
            storeX(op.d, .rax)
        case .csel, .csinc, .csinv, .csneg:
            loadX(.rax, op.m)
            switch op.code {
            case .csinc: asm.lea(.rax, .rax, 1)
            case .csinv: asm.not(.rax)
            case .csneg: asm.neg(.rax)
            default: break
            }
            loadX(.rdx, op.n)
            testCondition(op.a)
            asm.cmov(.below, .rax, .rdx)
            if !sf { asm.mov(.rax, .rax, wide: false) }
            storeX(op.d, .rax)
        case .ccmp:
            // Condition holds: the flags of x[n] - operand (CCMN: + operand); else the immediate NZCV.
            let otherwise = asm.newLabel(), done = asm.newLabel()
            testCondition(op.a)
            asm.jump(.aboveOrEqual, otherwise)
            loadX(.rax, op.n, wide: sf)
            if op.f & OpFlags.alt != 0 {
                asm.mov(.rcx, immediate: op.imm)
            } else {
                loadX(.rcx, op.m, wide: sf)
            }
            let add = op.f & OpFlags.invert != 0
            asm.alu(add ? .add : .sub, .rax, .rcx, wide: sf)
            storeArithmeticFlags(subtract: !add, fusable: false)
            asm.jump(done)
            asm.bind(otherwise)
            asm.mov(.rax, immediate: UInt64(op.s & 15) << 28)
            asm.store(.r12, JITSlot.offset(JITSlot.nzcv), .rax)
            asm.bind(done)
        case .udiv, .sdiv:
            // A64 division never traps: by zero gives 0, and INT_MIN / -1 gives INT_MIN (x86 would fault on both).
            let zero = asm.newLabel(), done = asm.newLabel(), divide = asm.newLabel()
            loadX(.rcx, op.m, wide: sf)
            loadX(.rax, op.n, wide: sf)
            asm.test(.rcx, .rcx, wide: sf)
            asm.jump(.equal, zero)
            if op.code == .sdiv {
                asm.alu(.cmp, .rcx, immediate: -1, wide: sf)
                asm.jump(.notEqual, divide)
                asm.neg(.rax, wide: sf)  // INT_MIN stays INT_MIN
                asm.jump(done)
                asm.bind(divide)
                asm.signExtendAccumulator(wide: sf)
                asm.divide(.rcx, signed: true, wide: sf)
            } else {
                asm.bind(divide)
                asm.alu(.xor, .rdx, .rdx, wide: false)
                asm.divide(.rcx, signed: false, wide: sf)
            }
            asm.jump(done)
            asm.bind(zero)
            asm.alu(.xor, .rax, .rax, wide: false)
            asm.bind(done)
            if !sf { asm.mov(.rax, .rax, wide: false) }
            storeX(op.d, .rax)
        case .crc32 where op.f & OpFlags.alt != 0 && Self.hostHasCRC32C && op.s <= 3:
            // CRC32C: the host's CRC32 instruction computes the same (reflected polynomial 0x1EDC6F41, no inversion).
            loadX(.rax, op.n, wide: false)
            loadX(.rcx, op.m)
            asm.crc32(.rax, .rcx, size: op.s)
            asm.mov(.rax, .rax, wide: false)
            storeX(op.d, .rax)
        case .lslv, .lsrv, .asrv, .rorv:
            // x86 masks the count by 63 or 31 as A64 takes the amount modulo the register size.
            loadX(.rcx, op.m)
            loadX(.rax, op.n, wide: sf)
            let kinds: [OpCode: X86Assembler.Shift] = [.lslv: .shl, .lsrv: .shr, .asrv: .sar, .rorv: .ror]
            asm.shiftByCL(kinds[op.code] ?? .shl, .rax, wide: sf)
            storeX(op.d, .rax)
        case .extr:
            // (n:m) >> lsb, the low 64 or 32 bits; ROR (immediate) is EXTR with n = m.
            let width: UInt8 = sf ? 64 : 32
            guard op.s < width else { return .delegate }
            loadX(.rax, op.m, wide: sf)
            if op.s != 0 {
                loadX(.rdx, op.n, wide: sf)
                asm.shiftRightDouble(.rax, .rdx, by: op.s, wide: sf)
                if !sf { asm.mov(.rax, .rax, wide: false) }
            }
            storeX(op.d, .rax)
        case .clz:
            // BSR gives the top set bit's index; zero becomes 2 * width - 1, so index ^ (width - 1) is the count.
            let width: UInt64 = sf ? 64 : 32
            loadX(.rax, op.n, wide: sf)
            asm.mov(.rcx, immediate: 2 * width - 1)
            asm.bitScanReverse(.rax, .rax, wide: sf)
            asm.cmov(.equal, .rax, .rcx, wide: sf)
            asm.alu(.xor, .rax, immediate: Int32(width - 1), wide: sf)
            storeX(op.d, .rax)
        case .smaddl, .smsubl, .umaddl, .umsubl:
            // Xd = Xa ± Wn * Wm, the 32-bit sources sign- or zero-extended to a 64-bit product.
            let signed = op.code == .smaddl || op.code == .smsubl
            if signed {
                asm.loadSignExtended(.rax, .rbx, Int32(op.n) &* 8, size: 2)
                asm.loadSignExtended(.rcx, .rbx, Int32(op.m) &* 8, size: 2)
            } else {
                loadX(.rax, op.n, wide: false)
                loadX(.rcx, op.m, wide: false)
            }
            asm.imul(.rax, .rcx)
            loadX(.rcx, op.a)
            if op.code == .smaddl || op.code == .umaddl {
                asm.alu(.add, .rax, .rcx)
            } else {
                asm.alu(.sub, .rcx, .rax)
                asm.mov(.rax, .rcx)
            }
            storeX(op.d, .rax)
        case .smulh, .umulh:
            loadX(.rax, op.n)
            loadX(.rcx, op.m)
            asm.multiplyWide(.rcx, signed: op.code == .smulh)
            storeX(op.d, .rdx)
        case .madd, .msub:
            loadX(.rax, op.n)
            asm.load(.rcx, .rbx, Int32(op.m) &* 8)
            asm.imul(.rax, .rcx)
            loadX(.rcx, op.a)
            if op.code == .madd {
                asm.alu(.add, .rax, .rcx)
            } else {
                asm.alu(.sub, .rcx, .rax)
                asm.mov(.rax, .rcx)
            }
            if !sf { asm.mov(.rax, .rax, wide: false) }
            storeX(op.d, .rax)
        case .rev64:
            loadX(.rax, op.n, wide: sf)
            asm.bswap(.rax, wide: sf)
            storeX(op.d, .rax)
        // MARK: branches
        case .b:
            asm.jump(exit(to: op.imm))
            return .branch
        case .bl:
            asm.mov(.rax, immediate: op.imm2)
            storeX(30, .rax)
            asm.jump(exit(to: op.imm))
            return .branch
        case .br, .ret:
            loadX(.rax, op.n)
            asm.store(.r12, JITSlot.offset(JITSlot.nextPC), .rax)
            return .indirectBranch
        case .blr:
            loadX(.rax, op.n)
            asm.store(.r12, JITSlot.offset(JITSlot.nextPC), .rax)
            asm.mov(.rax, immediate: op.imm2)
            storeX(30, .rax)
            return .indirectBranch
        case .cbz:
            loadX(.rax, op.n, wide: sf)
            asm.test(.rax, .rax, wide: sf)
            // CBZ branches when zero, CBNZ when not.
            asm.jump(op.f & OpFlags.alt != 0 ? .notEqual : .equal, exit(to: op.imm))
            asm.jump(exit(to: op.imm2))
            return .branch
        case .tbz:
            loadX(.rax, op.n)
            asm.bitTest(.rax, bit: op.s & 63)
            // TBZ branches when the bit is clear, TBNZ when set.
            asm.jump(op.f & OpFlags.alt != 0 ? .below : .aboveOrEqual, exit(to: op.imm))
            asm.jump(exit(to: op.imm2))
            return .branch
        case .bcond:
            if conditionReady {
                // The operation before left this condition's outcome in dl.
                asm.test(.rdx, .rdx, wide: false)
                asm.jump(.notEqual, exit(to: op.imm))
                asm.jump(exit(to: op.imm2))
                return .branch
            }
            testCondition(op.a)
            asm.jump(.below, exit(to: op.imm))
            asm.jump(exit(to: op.imm2))
            return .branch
        // MARK: loads and stores
        case .ldr64, .ldr32, .ldrb, .ldrImm:
            return emitLoad(op, .offset, slow: slow)
        case .ldr64Reg, .ldr32Reg, .ldrReg:
            return emitLoad(op, .register, slow: slow)
        case .ldrPre:
            return emitLoad(op, .preIndex, slow: slow)
        case .ldrPost:
            return emitLoad(op, .postIndex, slow: slow)
        case .str64, .str32, .strImm:
            return emitStore(op, .offset, slow: slow)
        case .str64Reg, .str32Reg, .strReg:
            return emitStore(op, .register, slow: slow)
        case .strPre:
            return emitStore(op, .preIndex, slow: slow)
        case .strPost:
            return emitStore(op, .postIndex, slow: slow)
        case .vldrImm, .vldrPre, .vldrPost, .vldrReg, .vstrImm, .vstrPre, .vstrPost, .vstrReg:
            return emitVector(op, slow: slow)
        case .vldp, .vstp:
            return emitVectorPair(op, slow: slow)
        case .ldp:
            return emitPair(op, store: false, slow: slow)
        case .stp:
            return emitPair(op, store: true, slow: slow)
        case .nop:
            guard op.s == 0 else { return .delegate }
        case .simd, .fmovToGeneral, .fmovFromGeneral, .fp:
            if op.code != .fp && emitSIMD(op) { return .compiled }
            // The interpreter's own SIMD&FP code, called directly: these never leave the block.
            asm.mov(.rdi, .r12)
            asm.mov(.rsi, immediate: UInt64(UInt(bitPattern: address)))
            asm.call(.r12, JITSlot.offset(op.code == .fp ? JITSlot.fp : JITSlot.simd))
            reloadCachedRegisters()  // FMOV, FCVTZS and friends write X registers
            return .call
        default:
            return .delegate
        }
        return .compiled
    }
}
