// The system registers emud models, in one file: their encodings (`SysReg`), their storage and reset values
// (`SystemRegisters`), what the identification registers say emud implements (`IDRegisters`), and per register,
// in one `switch` each, who may access it at EL0 (`VCPU.el0Access`), what MRS reads (`readSystemRegister`) and
// what MSR writes (`writeSystemRegister`). A register missing from a switch is undefined for that access.

/// The EL0/EL1 system registers that emud models. Each field's initial value is its reset value (`CPUState.reset`
/// builds a fresh one, keeping `identity`). Values that only hold configuration are plain fields;
/// registers with side effects (timers, DAIF, SPSel) are handled by the vCPU extension at the end of this file.
public struct SystemRegisters {
    public struct Identity {
        /// Arm Cortex-A76 r4p1: emud presents an Armv8.2-A core of that family.
        public var midr: UInt64 = 0x414F_D0B1
        public var mpidr: UInt64 = 0x8000_0000
        public init() {}
    }
    public var identity = Identity()

    /// Cortex-A76's reset value: MMU and caches off, EL0 may not touch DAIF/CTR/DC ZVA/cache maintenance.
    public var sctlr: UInt64 = 0x30C5_0838
    public var cpacr: UInt64 = 0
    public var vbar: UInt64 = 0
    public var esr: UInt64 = 0
    public var elr: UInt64 = 0
    public var spsr: UInt64 = 0
    public var far: UInt64 = 0
    public var tpidrEL0: UInt64 = 0
    public var tpidrEL1: UInt64 = 0
    public var tpidrroEL0: UInt64 = 0
    public var contextidr: UInt64 = 0
    public var tcr: UInt64 = 0
    public var ttbr0: UInt64 = 0
    public var ttbr1: UInt64 = 0
    public var mair: UInt64 = 0
    public var amair: UInt64 = 0
    public var afsr0: UInt64 = 0
    public var afsr1: UInt64 = 0
    public var par: UInt64 = 0
    public var mdscr: UInt64 = 0
    public var cntkctl: UInt64 = 0
    public var cntvCtl: UInt64 = 0
    public var cntvCval: UInt64 = 0
    public var cntpCtl: UInt64 = 0
    public var cntpCval: UInt64 = 0
    public var cntvoff: UInt64 = 0

    public init() {}

    /// FP/AdvSIMD access is allowed at `el` by CPACR_EL1.FPEN.
    @inline(__always) public func fpEnabled(el: UInt32) -> Bool {
        let fpen = (cpacr >> 20) & 3
        return fpen == 3 || (fpen == 1 && el == 1)
    }
}

/// System register encodings as the 16-bit key op0:op1:CRn:CRm:op2 that MRS/MSR carry in bits 20...5.
public enum SysReg {
    @inline(__always) public static func key(_ op0: UInt32, _ op1: UInt32, _ crn: UInt32, _ crm: UInt32, _ op2: UInt32) -> UInt32 {
        (op0 << 14) | (op1 << 11) | (crn << 7) | (crm << 3) | op2
    }
    public static let midr = key(3, 0, 0, 0, 0)
    public static let mpidr = key(3, 0, 0, 0, 5)
    public static let revidr = key(3, 0, 0, 0, 6)
    public static let idAA64PFR0 = key(3, 0, 0, 4, 0)
    public static let idAA64PFR1 = key(3, 0, 0, 4, 1)
    public static let idAA64DFR0 = key(3, 0, 0, 5, 0)
    public static let idAA64DFR1 = key(3, 0, 0, 5, 1)
    public static let idAA64AFR0 = key(3, 0, 0, 5, 4)
    public static let idAA64AFR1 = key(3, 0, 0, 5, 5)
    public static let idAA64ISAR0 = key(3, 0, 0, 6, 0)
    public static let idAA64ISAR1 = key(3, 0, 0, 6, 1)
    public static let idAA64MMFR0 = key(3, 0, 0, 7, 0)
    public static let idAA64MMFR1 = key(3, 0, 0, 7, 1)
    public static let idAA64MMFR2 = key(3, 0, 0, 7, 2)
    public static let sctlr = key(3, 0, 1, 0, 0)
    public static let cpacr = key(3, 0, 1, 0, 2)
    public static let ttbr0 = key(3, 0, 2, 0, 0)
    public static let ttbr1 = key(3, 0, 2, 0, 1)
    public static let tcr = key(3, 0, 2, 0, 2)
    public static let spsr = key(3, 0, 4, 0, 0)
    public static let elr = key(3, 0, 4, 0, 1)
    public static let spEL0 = key(3, 0, 4, 1, 0)
    public static let spSel = key(3, 0, 4, 2, 0)
    public static let pan = key(3, 0, 4, 2, 3)
    public static let uao = key(3, 0, 4, 2, 4)
    public static let currentEL = key(3, 0, 4, 2, 2)
    public static let daif = key(3, 3, 4, 2, 1)
    public static let nzcv = key(3, 3, 4, 2, 0)
    public static let fpcr = key(3, 3, 4, 4, 0)
    public static let fpsr = key(3, 3, 4, 4, 1)
    public static let afsr0 = key(3, 0, 5, 1, 0)
    public static let afsr1 = key(3, 0, 5, 1, 1)
    public static let esr = key(3, 0, 5, 2, 0)
    public static let far = key(3, 0, 6, 0, 0)
    public static let par = key(3, 0, 7, 4, 0)
    public static let mair = key(3, 0, 10, 2, 0)
    public static let amair = key(3, 0, 10, 3, 0)
    public static let vbar = key(3, 0, 12, 0, 0)
    public static let isr = key(3, 0, 12, 1, 0)
    public static let contextidr = key(3, 0, 13, 0, 1)
    public static let tpidrEL1 = key(3, 0, 13, 0, 4)
    public static let tpidrEL0 = key(3, 3, 13, 0, 2)
    public static let tpidrroEL0 = key(3, 3, 13, 0, 3)
    public static let cntkctl = key(3, 0, 14, 1, 0)
    public static let ctr = key(3, 3, 0, 0, 1)
    public static let dczid = key(3, 3, 0, 0, 7)
    public static let clidr = key(3, 1, 0, 0, 1)
    public static let cntfrq = key(3, 3, 14, 0, 0)
    public static let cntpct = key(3, 3, 14, 0, 1)
    public static let cntvct = key(3, 3, 14, 0, 2)
    public static let cntpTval = key(3, 3, 14, 2, 0)
    public static let cntpCtl = key(3, 3, 14, 2, 1)
    public static let cntpCval = key(3, 3, 14, 2, 2)
    public static let cntvTval = key(3, 3, 14, 3, 0)
    public static let cntvCtl = key(3, 3, 14, 3, 1)
    public static let cntvCval = key(3, 3, 14, 3, 2)
    public static let mdscr = key(2, 0, 0, 2, 2)
    public static let oslar = key(2, 0, 1, 0, 4)
    public static let oslsr = key(2, 0, 1, 1, 4)
    public static let osdlr = key(2, 0, 1, 3, 4)
}

/// What emud implements, as the identification registers report it to the guest: an Armv8.2-A core of the
/// Cortex-A76 family with only what the interpreter really does. The one place these values live; the FP and MMU
/// work will change them.
enum IDRegisters {
    /// ID_AA64PFR0_EL1: EL0 and EL1 in AArch64 only (no EL2/EL3); FP and AdvSIMD with half precision
    /// (bits 19:16 and 23:20 = 1, as Cortex-A76 and QEMU's -cpu cortex-a76 report); the GIC is memory-mapped only
    /// (no system-register interface).
    static let aa64pfr0: UInt64 = 0x0000_0000_0011_0011
    static let aa64pfr1: UInt64 = 0
    /// ID_AA64DFR0_EL1: debug architecture Armv8.0 (DebugVer 6); no PMU, no breakpoints or watchpoints for the guest.
    static let aa64dfr0: UInt64 = 0x0000_0000_0000_0006
    static let aa64dfr1: UInt64 = 0
    static let aa64afr0: UInt64 = 0
    static let aa64afr1: UInt64 = 0
    /// ID_AA64ISAR0_EL1: CRC32 (bits 19:16 = 1) and LSE atomics (bits 23:20 = 2).
    static let aa64isar0: UInt64 = 0x0000_0000_0021_0000
    /// ID_AA64ISAR1_EL1: LRCPC (bits 23:20 = 1): LDAPR.
    static let aa64isar1: UInt64 = 0x0000_0000_0010_0000
    /// ID_AA64MMFR0_EL1: no stage-1 translation is modelled; PARange reports 32 bits, the smallest encoding.
    static let aa64mmfr0: UInt64 = 0
    /// ID_AA64MMFR1_EL1: PAN (bits 23:20 = 1).
    static let aa64mmfr1: UInt64 = 0x0010_0000
    /// ID_AA64MMFR2_EL1: UAO (bits 7:4 = 1).
    static let aa64mmfr2: UInt64 = 0x10
    /// REVIDR_EL1: no revision-specific information.
    static let revidr: UInt64 = 0
    /// CTR_EL0: Cortex-A76's cache type (64-byte lines, ERG and CWG 16 words, PIPT instruction cache).
    static let ctr: UInt64 = 0x8444_C004
    /// DCZID_EL0: DC ZVA allowed, on 64-byte blocks (4 words << 4).
    static let dczid: UInt64 = 4
    /// CLIDR_EL1: no caches are described (none are modelled).
    static let clidr: UInt64 = 0
    /// OSLSR_EL1: the OS lock is implemented (OSLM = 0b10) and unlocked.
    static let oslsr: UInt64 = 0x8
}

extension VCPU {
    // MARK: EL0 policy, MRS, MSR

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
        case SysReg.ctr: return IDRegisters.ctr
        case SysReg.dczid: return IDRegisters.dczid
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
        case SysReg.revidr: return IDRegisters.revidr
        case SysReg.idAA64PFR0: return IDRegisters.aa64pfr0
        case SysReg.idAA64PFR1: return IDRegisters.aa64pfr1
        case SysReg.idAA64DFR0: return IDRegisters.aa64dfr0
        case SysReg.idAA64DFR1: return IDRegisters.aa64dfr1
        case SysReg.idAA64AFR0: return IDRegisters.aa64afr0
        case SysReg.idAA64AFR1: return IDRegisters.aa64afr1
        case SysReg.idAA64ISAR0: return IDRegisters.aa64isar0
        case SysReg.idAA64ISAR1: return IDRegisters.aa64isar1
        case SysReg.idAA64MMFR0: return IDRegisters.aa64mmfr0
        case SysReg.idAA64MMFR1: return IDRegisters.aa64mmfr1
        case SysReg.idAA64MMFR2: return IDRegisters.aa64mmfr2
        case SysReg.clidr: return IDRegisters.clidr
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
        case SysReg.oslsr: return IDRegisters.oslsr
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
