// MRS/MSR: EL0 access policy, reads and writes of the system registers emud models.

extension VCPU {
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
}
