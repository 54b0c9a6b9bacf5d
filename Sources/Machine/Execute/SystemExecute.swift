import Atomics

// System instructions (decoded in Decode/BranchesExceptionsSystem.swift): MRS/MSR, MSR (immediate), hints,
// barriers, cache maintenance and DC ZVA. Each returns the `BlockExit` that ends its block early, or nil when
// the instruction completed and execution goes on; the interpreter's switch inlines them.

extension VCPU {
    /// MRS, MSR (register), after the FP-enable and EL0 access checks.
    @inline(__always) func moveSystemRegister(_ op: Op, _ x: UnsafeMutablePointer<UInt64>) -> BlockExit? {
        let key = UInt32(truncatingIfNeeded: op.imm)
        let isRead = op.code == .mrs
        if (key == SysReg.fpcr || key == SysReg.fpsr) && modeBits & 1 == 0 { return .exception(.fpAccess) }
        let undefined = BlockExit.undefined(group: EncodingGroup.branchExceptionSystem.rawValue)
        // `op.a`: the register's row in SystemRegisterTable (the decoder looked it up), or `none`.
        guard Int(op.a) < SystemRegisterTable.rows.count else { return undefined }
        let row = SystemRegisterTable.rows[Int(op.a)]
        if state.currentEL == 0 {
            switch row.el0Access(state.sys, read: isRead) {
            case .allowed: break
            case .undefined: return undefined
            case .trap: return .exception(.systemAccessTrap(key: key, rt: isRead ? UInt32(op.d) : UInt32(op.n), read: isRead))
            }
        }
        if isRead {
            guard let read = row.read, let v = read(self) else { return undefined }
            x[Int(op.d)] = v
        } else {
            guard let write = row.write, write(self, x[Int(op.n)]) else { return undefined }
            if stopReason != nil { return .next }
            updateModeBits()
            irqCheckNeeded = true
        }
        return nil
    }

    /// MSR (immediate) to a PSTATE field: `op.s` selects it (see `OpCode.msrImm`).
    @inline(__always) func movePSTATEField(_ op: Op) -> BlockExit? {
        if state.currentEL == 0 {
            if op.s == 0 || op.s >= 3 { return .undefined(group: EncodingGroup.branchExceptionSystem.rawValue) }
            if state.sys.sctlr & (1 << 9) == 0 { // SCTLR_EL1.UMA: EL0 may not touch DAIF
                // Reported as the MSR DAIFSet/DAIFClr it is: op0 0, op1 3, CRn 4, CRm the immediate, op2 6 or 7.
                let op2: UInt32 = op.s == 1 ? 6 : 7
                let key = (3 << 11) | (4 << 7) | ((UInt32(truncatingIfNeeded: op.imm) & 15) << 3) | op2
                return .exception(.systemAccessTrap(key: key, rt: 31, read: false))
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
        return nil
    }

    /// Cache maintenance at EL0 (`op.s` 1: by VA, 2: EL1 only): allowed by SCTLR_EL1.UCI for the by-VA forms,
    /// else trapped; the EL1-only forms are undefined.
    @inline(__always) func cacheMaintenanceAtEL0(_ op: Op) -> BlockExit? {
        if op.s == 1 && state.sys.sctlr & (1 << 26) != 0 { return nil }
        if op.s == 1 { return .exception(.systemAccessTrap(key: UInt32(truncatingIfNeeded: op.imm), rt: UInt32(op.n), read: false)) }
        return .undefined(group: EncodingGroup.branchExceptionSystem.rawValue)
    }

    /// DMB, DSB. Host ordering (x86-64 is TSO): loads stay ordered with loads, stores with stores, and stores
    /// after loads; only a load may pass an earlier store. So a DMB/DSB of loads (CRm<1:0> = 01) or of stores
    /// (10) needs only a compiler barrier, and a full one (11, e.g. DMB ISH) an `mfence`, which also orders
    /// earlier stores before later loads. SSBB/PSSBB (00) order nothing we reorder.
    @inline(__always) func barrier(_ op: Op) {
        if op.s == 1 && broadcastPending { completeBroadcastInvalidation() }
        if op.imm & 3 == 3 && hostFences {
            atomicMemoryFence(ordering: .sequentiallyConsistent)
        } else {
            atomicMemoryFence(ordering: .acquiringAndReleasing)
        }
    }

    /// DC ZVA: zeroes the 64-byte block (DCZID_EL0 says 64) holding the address; RAM only.
    @inline(__always) func zeroCacheBlock(_ op: Op, _ x: UnsafeMutablePointer<UInt64>) -> BlockExit? {
        if state.currentEL == 0 && state.sys.sctlr & (1 << 14) == 0 { // SCTLR_EL1.DZE
            return .exception(.systemAccessTrap(key: UInt32(truncatingIfNeeded: op.imm), rt: UInt32(op.n), read: false))
        }
        guard port.zeroBlock(x[Int(op.n)]) else { return .memoryFault }
        return nil
    }

    // MARK: the MMU's instructions

    /// TLBI (any form): empties this vCPU's TLB at once (its translated code is checked against the new
    /// translations before it runs again). The inner-shareable forms ask every other vCPU to do the same
    /// before its next block, and the DSB that follows waits until each of them has (see
    /// `completeBroadcastInvalidation`). Undefined at EL0.
    @inline(__always) func invalidateTLB(_ op: Op) -> BlockExit? {
        if state.currentEL == 0 { return .undefined(group: EncodingGroup.branchExceptionSystem.rawValue) }
        if op.a == 1, let broadcast = invalidateAllTLBs {
            broadcast()
            broadcastPending = true
        } else {
            translationChanged()
        }
        return nil
    }

    /// A DSB after a TLBI ...IS completes only once no other vCPU can still use a translation it removed: each
    /// other vCPU has either taken the flush request (it does so between blocks, before running another one)
    /// or is not running guest code (parked, powered off, asleep in WFI/WFE, or itself waiting here; it takes
    /// the request before its next access). While it waits, this vCPU counts as not running, and empties its
    /// own TLB if asked (its translated code goes at the end of the block, as usual), so two vCPUs that
    /// broadcast at once never wait for each other. The wait gives way when this vCPU is asked to stop, so an
    /// exclusive section or a debug stop can never deadlock on it.
    @inline(never) func completeBroadcastInvalidation() {
        broadcastPending = false
        guard let wait = waitForBroadcastInvalidation else { return }
        runningGuest.store(false, ordering: .sequentiallyConsistent)
        wait()
        // Sequentially consistent, as at the top of `run()`: a flush requested from now on is either seen here
        // or makes its requester wait for this vCPU.
        runningGuest.store(true, ordering: .sequentiallyConsistent)
        if attention.load(ordering: .sequentiallyConsistent) & Attention.tlb != 0 { port.flushTLB() }
    }

    /// After a change that can alter translations (TLBI, a write to SCTLR_EL1, TCR_EL1, TTBR0/1_EL1, MAIR_EL1):
    /// the TLB empties at once; translated code is checked against the new translations before it runs again
    /// (`stillMapped`).
    func translationChanged() {
        port.flushTLB()
    }

    /// AT S1E1R/W, S1E0R/W: translates the address in Xt as a read or write at EL1 or EL0 and writes the result
    /// to PAR_EL1 (PSTATE.PAN is not applied: that needs the AT S1E1RP/WP forms of Armv8.2-ATS1E1, which the
    /// modelled core does not have). Undefined at EL0.
    @inline(__always) func addressTranslate(_ op: Op, _ x: UnsafeMutablePointer<UInt64>) -> BlockExit? {
        if state.currentEL == 0 { return .undefined(group: EncodingGroup.branchExceptionSystem.rawValue) }
        let va = x[Int(op.n)]
        let write = op.s & 1 != 0
        if let t = port.translate(va, write ? .write : .read, unprivileged: op.s >= 2, checkPAN: false) {
            // PAR_EL1 success: ATTR (63:56), PA (47:12), NS (9) = 0, SH (8:7); Device memory reports SH = 0b10.
            let shareability = t.isDevice ? 2 : UInt64(t.shareability)
            state.sys.par = UInt64(t.attributes) << 56 | (t.physical & 0x0000_ffff_ffff_f000) | shareability << 7
        } else {
            // PAR_EL1 failure: F (0), FST (6:1), bit 11 RES1.
            state.sys.par = 1 << 11 | UInt64(port.faultStatus.rawValue) << 1 | 1
        }
        return nil
    }
}
