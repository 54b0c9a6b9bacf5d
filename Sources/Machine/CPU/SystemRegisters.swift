/// The EL0/EL1 system registers that emud models. Values that only hold configuration are plain fields;
/// registers with side effects (timers, DAIF, SPSel) are handled by `SystemRegisterAccess` on the vCPU.
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
