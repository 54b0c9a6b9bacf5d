import Atomics

// The interpreter: runs translated blocks with one `switch` over plain-data ops. Each instruction class's
// semantics live in the file named after it (DataProcessing*Execute.swift, LoadStore*Execute.swift,
// SystemExecute.swift, AdvSIMDExecute.swift; MRS/MSR in CPU/SystemRegisters.swift); this file holds the
// dispatch, the hooks and the block exits.

/// How an instruction ends its block early; the interpreter hands it to `VCPU.leave`.
enum BlockExit {
    /// A synchronous exception whose preferred return address is the instruction itself.
    case exception(Fault)
    /// A synchronous exception that returns to the next instruction (SVC).
    case exceptionAfter(Fault)
    /// An undefined instruction, counted under this encoding group (-1: none).
    case undefined(group: Int)
    /// A data access failed: the data abort (or watchpoint hit) the slow path recorded.
    case memoryFault
    /// The instruction completed, but what follows must be fetched anew (a store rewrote code, a stop was asked).
    case next
    /// The instruction completed and set the PC itself (ERET).
    case done
    /// HVC or SMC, answered by the board's firmware.
    case firmwareCall(smc: Bool, imm: UInt16)
    /// HLT #0xF000: a semihosting call.
    case semihostingCall
    /// WFI, or WFE when `event`.
    case waitForInterrupt(event: Bool)
}

extension VCPU {
    // MARK: the interpreter

    @inline(__always) func pcOf(_ block: UnsafeMutablePointer<TranslationBlock>, _ i: Int) -> UInt64 {
        block.pointee.pc &+ UInt64(i) &* 4
    }

    /// Runs `first` and then, while nothing needs the run loop's attention, the blocks chained after it.
    /// Any exception, stop or code write leaves through an early `return`; `lastBlock` is then -1.
    func execute<H: HookMode>(_ first: UnsafeMutablePointer<TranslationBlock>, _ mode: H.Type) {
      defer { if H.memory { port.recordingAccesses = false } }
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
            if H.memory { port.recordingAccesses = true }
        }
        // Folded inline adds: applied whenever this block's run ends, normally (i == count) or early at i.
        let thisBlock = block
        defer { if H.folded { applyFoldedInline(thisBlock, through: i) } }
        while i < count {
            if H.enabled {
                if H.memory { port.accessCount = 0; memoryHooksFrom = hookCursor }
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
            guard interpret(ops[i], block, i, x, &nextPC, H.self) else { return }
            if H.memory && port.accessCount > 0 && memoryHooksTo > memoryHooksFrom {
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
        guard let next = chainedBlock(after: block, nextPC: nextPC, mode: H.mode) else { return }
        block = next
      }
    }

    /// Runs one operation, the `i`th of `block`, with the interpreter's semantics. Returns false when the
    /// operation left the block (an exception, a fault, a code write: `leave` has run). The interpreter's loop
    /// inlines it; the translator calls it (through `jitStep`) for the operations it does not compile.
    @inline(__always) func interpret<H: HookMode>(_ op: Op, _ block: UnsafeMutablePointer<TranslationBlock>, _ i: Int,
                                                  _ x: UnsafeMutablePointer<UInt64>, _ nextPC: inout UInt64,
                                                  _ mode: H.Type) -> Bool {
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
            guard let v = loadInline(x[n] &+ op.imm, 3, H.memory) else { return leave(block, i, .memoryFault) }
            x[d] = v
        case .ldr32:
            guard let v = loadInline(x[n] &+ op.imm, 2, H.memory) else { return leave(block, i, .memoryFault) }
            x[d] = v
        case .ldrb:
            guard let v = loadInline(x[n] &+ op.imm, 0, H.memory) else { return leave(block, i, .memoryFault) }
            x[d] = v
        case .ldr64Reg:
            guard let v = loadInline(x[n] &+ extendOperand(x[m], option: op.a, shift: UInt8(op.imm)), 3, H.memory) else { return leave(block, i, .memoryFault) }
            x[d] = v
        case .ldr32Reg:
            guard let v = loadInline(x[n] &+ extendOperand(x[m], option: op.a, shift: UInt8(op.imm)), 2, H.memory) else { return leave(block, i, .memoryFault) }
            x[d] = v
        case .str64:
            guard storeInline(port, x[n] &+ op.imm, 3, x[d], H.memory) else { return leave(block, i, .memoryFault) }
            if port.codeWriteHit { return leave(block, i, .next) }
        case .str32:
            guard storeInline(port, x[n] &+ op.imm, 2, x[d], H.memory) else { return leave(block, i, .memoryFault) }
            if port.codeWriteHit { return leave(block, i, .next) }
        case .str64Reg:
            guard storeInline(port, x[n] &+ extendOperand(x[m], option: op.a, shift: UInt8(op.imm)), 3, x[d], H.memory) else { return leave(block, i, .memoryFault) }
            if port.codeWriteHit { return leave(block, i, .next) }
        case .str32Reg:
            guard storeInline(port, x[n] &+ extendOperand(x[m], option: op.a, shift: UInt8(op.imm)), 2, x[d], H.memory) else { return leave(block, i, .memoryFault) }
            if port.codeWriteHit { return leave(block, i, .next) }
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
        case .ubfm, .sbfm, .bfm: bitfieldMove(op, x)
        case .extr: extractRegister(op, x)
        // MARK: data processing, register
        case .addShifted, .subShifted: addSubtractShifted(op, x)
        case .addExtended, .subExtended: addSubtractExtended(op, x)
        case .adc, .sbc: addSubtractWithCarry(op, x)
        case .andShifted, .orrShifted, .eorShifted: logicalShifted(op, x)
        case .csel, .csinc, .csinv, .csneg: conditionalSelect(op, x)
        case .ccmp: conditionalCompare(op, x)
        case .rbit:
            let r = reverseBits64(x[n])
            x[d] = op.f & OpFlags.sf != 0 ? r : r >> 32
        case .rev16:
            let r = reverseBytesIn(x[n], chunkBits: 16)
            x[d] = op.f & OpFlags.sf != 0 ? r : r & 0xffff_ffff
        case .rev32:
            x[d] = reverseBytesIn(x[n], chunkBits: 32)
        case .rev64: reverseBytes(op, x)
        case .clz:
            x[d] = op.f & OpFlags.sf != 0 ? UInt64(x[n].leadingZeroBitCount)
                                          : UInt64(UInt32(truncatingIfNeeded: x[n]).leadingZeroBitCount)
        case .cls: countLeadingSignBits(op, x)
        case .udiv: divideUnsigned(op, x)
        case .sdiv: divideSigned(op, x)
        case .lslv, .lsrv, .asrv, .rorv: shiftVariable(op, x)
        case .crc32:
            let bytes = 1 << Int(op.s)
            x[d] = UInt64(crc32Update(UInt32(truncatingIfNeeded: x[n]), x[m], bytes: bytes, castagnoli: op.f & OpFlags.alt != 0))
        case .madd, .msub: multiplyAdd(op, x)
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
        case .svc: return leave(block, i, .exceptionAfter(.supervisorCall(op.imm)))
        case .hvc, .smc: return leave(block, i, firmwareCallInstruction(op))
        case .hlt: return leave(block, i, haltInstruction(op))
        case .brk: return leave(block, i, .exception(.breakpointInstruction(op.imm)))
        case .undefined: return leave(block, i, .undefined(group: Int(op.a)))
        case .fpTrap: return leave(block, i, .exception(.fpAccess))
        case .eret: return leave(block, i, exceptionReturn(pcOf(block, i)))
        // MARK: system
        case .mrs, .msr: if let exit = moveSystemRegister(op, x) { return leave(block, i, exit) }
        case .msrImm: if let exit = movePSTATEField(op) { return leave(block, i, exit) }
        case .msrNZCV: state.nzcv = UInt32(truncatingIfNeeded: x[n]) & 0xf000_0000
        case .mrsNZCV: x[d] = UInt64(state.nzcv)
        case .nop, .endBlock:
            if op.s != 0 && state.currentEL == 0, let exit = cacheMaintenanceAtEL0(op) { return leave(block, i, exit) }
        case .sev:
            if let broadcast = sendEventToAll { broadcast() } else { eventRegister.store(true, ordering: .releasing) }
        case .sevl: eventRegister.store(true, ordering: .releasing)
        case .barrier: barrier(op)
        case .isb: break  // context synchronisation: the block ends here and the next one is fetched anew
        case .wfe, .wfi: return leave(block, i, .waitForInterrupt(event: op.code == .wfe))
        case .clrex: clearMonitor()
        case .dcZva: if let exit = zeroCacheBlock(op, x) { return leave(block, i, exit) }
        case .tlbi: if let exit = invalidateTLB(op) { return leave(block, i, exit) }
        case .at: if let exit = addressTranslate(op, x) { return leave(block, i, exit) }
        // MARK: loads and stores
        case .ldrImm:
            guard let v = loadInline(x[n] &+ op.imm, op.s, H.memory) else { return leave(block, i, .memoryFault) }
            x[d] = extendLoad(v, op)
        case .ldrPre:
            let address = x[n] &+ op.imm
            guard let v = loadInline(address, op.s, H.memory) else { return leave(block, i, .memoryFault) }
            x[n] = address
            x[d] = extendLoad(v, op)
        case .ldrPost:
            let address = x[n]
            guard let v = loadInline(address, op.s, H.memory) else { return leave(block, i, .memoryFault) }
            x[n] = address &+ op.imm
            x[d] = extendLoad(v, op)
        case .ldrReg:
            let address = x[n] &+ extendOperand(x[m], option: op.a, shift: UInt8(op.imm))
            guard let v = loadInline(address, op.s, H.memory) else { return leave(block, i, .memoryFault) }
            x[d] = extendLoad(v, op)
        case .ldrLit:
            guard let v = load(op.imm, op.s, H.memory) else { return leave(block, i, .memoryFault) }
            x[d] = extendLoad(v, op)
        case .ldtr:
            guard let v = port.unprivileged({ load(x[n] &+ op.imm, op.s, H.memory) }) else { return leave(block, i, .memoryFault) }
            x[d] = extendLoad(v, op)
        case .sttr:
            guard port.unprivileged({ store(x[n] &+ op.imm, op.s, x[d], H.memory) }) else { return leave(block, i, .memoryFault) }
            if port.codeWriteHit { return leave(block, i, .next) }
        case .strImm:
            guard store(x[n] &+ op.imm, op.s, x[d], H.memory) else { return leave(block, i, .memoryFault) }
            if port.codeWriteHit { return leave(block, i, .next) }
        case .strPre:
            let address = x[n] &+ op.imm
            guard store(address, op.s, x[d], H.memory) else { return leave(block, i, .memoryFault) }
            x[n] = address
            if port.codeWriteHit { return leave(block, i, .next) }
        case .strPost:
            let address = x[n]
            guard store(address, op.s, x[d], H.memory) else { return leave(block, i, .memoryFault) }
            x[n] = address &+ op.imm
            if port.codeWriteHit { return leave(block, i, .next) }
        case .strReg:
            let address = x[n] &+ extendOperand(x[m], option: op.a, shift: UInt8(op.imm))
            guard store(address, op.s, x[d], H.memory) else { return leave(block, i, .memoryFault) }
            if port.codeWriteHit { return leave(block, i, .next) }
        case .ldp:
            guard loadPair(op, x, H.memory) else { return leave(block, i, .memoryFault) }
        case .stp:
            guard storePair(op, x, H.memory) else { return leave(block, i, .memoryFault) }
            if port.codeWriteHit { return leave(block, i, .next) }
        case .ldxr, .ldar:
            guard loadExclusiveOrAcquire(op, x, H.memory) else { return leave(block, i, .memoryFault) }
        case .ldxp:
            guard loadExclusivePair(op, x, H.memory) else { return leave(block, i, .memoryFault) }
        case .stlr:
            guard storeRelease(op, x, H.memory) else { return leave(block, i, .memoryFault) }
            if port.codeWriteHit { return leave(block, i, .next) }
        case .stxr:
            guard storeExclusiveRegister(op, x, H.memory) else { return leave(block, i, .memoryFault) }
            if port.codeWriteHit { return leave(block, i, .next) }
        case .stxp:
            guard storeExclusivePairRegisters(op, x, H.memory) else { return leave(block, i, .memoryFault) }
            if port.codeWriteHit { return leave(block, i, .next) }
        case .atomic:
            guard let old = atomicRMW(x[n], op.s, AtomicOp(rawValue: op.a) ?? .add, x[m]) else { return leave(block, i, .memoryFault) }
            x[d] = old
            if port.codeWriteHit { return leave(block, i, .next) }
        case .cas:
            guard let old = compareAndSwap(x[n], op.s, expected: x[m], new: x[d]) else { return leave(block, i, .memoryFault) }
            x[Int(op.a)] = old
            if port.codeWriteHit { return leave(block, i, .next) }
        case .casp:
            guard executeCASP(op) else { return leave(block, i, .memoryFault) }
            if port.codeWriteHit { return leave(block, i, .next) }
        case .vldrImm, .vldrPre, .vldrPost, .vldrReg, .vstrImm, .vstrPre, .vstrPost, .vstrReg, .vldrLit, .vldp, .vstp, .vldst:
            switch executeVectorMemory(op) {
            case .ok: break
            case .fault: return leave(block, i, .memoryFault)
            case .codeWritten: return leave(block, i, .next)
            }
        case .fmovToGeneral, .fmovFromGeneral, .simd:
            executeSIMD(op)
        case .fp:
            executeFP(op)
        }
        return true
    }

    /// Applies a folded block's inline adds: all of them when its run reached the end, else those of
    /// instructions 0...i (the hooks of an instruction run before it, so a faulting instruction counts).
    func applyFoldedInline(_ block: UnsafeMutablePointer<TranslationBlock>, through i: Int) {
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

    func runHook(_ hook: InstrumentationHook, pc: UInt64) {
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

    @inline(__always) func runMemoryHook(_ hook: UnsafeMutablePointer<InstrumentationHook>) {
        guard let callback = hook.pointee.callback else { return }
        let function = unsafeBitCast(callback, to: MemoryCallback.self)
        let filter = hook.pointee.memoryFilter, userdata = hook.pointee.userdata
        for k in 0..<port.accessCount {
            let wanted: UInt8 = port.accessLog[k].isStore != 0 ? 2 : 1
            if filter & wanted != 0 { function(UInt32(truncatingIfNeeded: index), UnsafeRawPointer(port.accessLog + k), userdata) }
        }
    }

    /// Leaves the block early at its instruction `i`: the one place an early exit counts executed
    /// instructions (all up to and including `i`, except when a watchpoint stops `i` before it completes)
    /// and then does what `exit` says.
    @discardableResult
    @inline(never) func leave(_ block: UnsafeMutablePointer<TranslationBlock>, _ i: Int, _ exit: BlockExit) -> Bool {
        let pc = pcOf(block, i)
        switch exit {
        case .memoryFault, .next: port.codeWriteHit = false
        default: break
        }
        if case .memoryFault = exit, port.watchpointTriggered {
            port.watchpointTriggered = false
            instructionsExecuted &+= UInt64(i)
            state.pc = pc
            stopReason = .watchpoint(port.watchHitKind, port.faultAddress)
            return false
        }
        instructionsExecuted &+= UInt64(i + 1)
        switch exit {
        case .exception(let fault): take(fault, returnAddress: pc)
        case .exceptionAfter(let fault): take(fault, returnAddress: pc &+ 4)
        case .undefined(let group): undefined(pc, group: group)
        case .memoryFault: dataAbort(pc)
        case .next: state.pc = pc &+ 4
        case .done: break
        case .firmwareCall(let smc, let imm):
            state.pc = pc &+ 4
            firmware(platform?.firmwareCall(self, smc: smc, imm: imm) ?? .undefined, pc: pc)
        case .semihostingCall:
            state.pc = pc &+ 4
            firmware(platform?.semihostingCall(self) ?? .undefined, pc: pc)
        case .waitForInterrupt(let event):
            // The block ends here; wait for an interrupt (pending, even if masked), an event (WFE) or a kick.
            state.pc = pc &+ 4
            if event && eventRegister.exchange(false, ordering: .acquiringAndReleasing) { return false }
            instrumentation?.vcpuEvent(cpu: index, .idle)
            waitForInterrupt(event: event)
            instrumentation?.vcpuEvent(cpu: index, .resumed)
        }
        return false
    }
}
