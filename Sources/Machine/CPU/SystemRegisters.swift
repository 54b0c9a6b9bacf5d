// The system registers emud models, in one file: their encodings (`SysReg`), their storage and reset values
// (`SystemRegisters`), what the identification registers say emud implements (`IDRegisters`), and one row per
// register (`SystemRegisterTable`): who may access it at EL0, what MRS reads, what MSR does, its reset value.
// An encoding with no row, or a direction a row leaves out, is undefined.

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
    /// CSSELR_EL1: which cache CCSIDR_EL1 describes (Level, bits 3:1; InD, bit 0); other bits are RES0.
    public var csselr: UInt64 = 0
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
    public static let mvfr0 = key(3, 0, 0, 3, 0)
    public static let mvfr1 = key(3, 0, 0, 3, 1)
    public static let mvfr2 = key(3, 0, 0, 3, 2)
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
    public static let ccsidr = key(3, 1, 0, 0, 0)
    public static let csselr = key(3, 2, 0, 0, 0)
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
    /// ID_AA64ISAR0_EL1 as QEMU's cortex-a76: AES with PMULL (7:4 = 2), SHA1 (11:8 = 1), SHA2 (15:12 = 1),
    /// CRC32 (19:16 = 1), LSE atomics (23:20 = 2), RDM (31:28 = 1), DotProd (47:44 = 1).
    static let aa64isar0: UInt64 = 0x0000_1000_1021_1120
    /// ID_AA64ISAR1_EL1: LRCPC (bits 23:20 = 1): LDAPR.
    static let aa64isar1: UInt64 = 0x0000_0000_0010_0000
    /// ID_AA64MMFR0_EL1: PARange 40 bits (3:0 = 2), 16-bit ASIDs (7:4 = 2), 16 KiB granules (23:20 = 1) and
    /// 4 KiB and 64 KiB ones (TGran4 and TGran64 = 0: supported); little-endian only (BigEnd = 0), no Secure state.
    static let aa64mmfr0: UInt64 = 0x0000_0000_0010_0022
    /// ID_AA64MMFR1_EL1: hardware access flag and dirty state (HAFDBS, 3:0 = 2), hierarchical permission
    /// disables (HPDS, 15:12 = 1), PAN (23:20 = 1).
    static let aa64mmfr1: UInt64 = 0x0010_1002
    /// ID_AA64MMFR2_EL1: UAO (bits 7:4 = 1).
    static let aa64mmfr2: UInt64 = 0x10
    /// MVFR0_EL1, MVFR1_EL1, MVFR2_EL1: the AArch32 SIMD&FP features, as Cortex-A76 (and QEMU's cortex-a76)
    /// report them; emud runs no AArch32 code, but AArch64 software reads them.
    static let mvfr0: UInt64 = 0x1011_0222
    static let mvfr1: UInt64 = 0x1321_1111
    static let mvfr2: UInt64 = 0x43
    /// REVIDR_EL1: no revision-specific information.
    static let revidr: UInt64 = 0
    /// CTR_EL0: Cortex-A76's cache type (64-byte lines, ERG and CWG 16 words, PIPT instruction cache).
    static let ctr: UInt64 = 0x8444_C004
    /// DCZID_EL0: DC ZVA allowed, on 64-byte blocks (4 words << 4).
    static let dczid: UInt64 = 4
    /// CLIDR_EL1: Cortex-A76's hierarchy as QEMU's cortex-a76 reports it: separate L1 instruction and data caches,
    /// a unified L2, Level of Unification Inner Shareable 1 and Level of Coherence 2 (0x82000023). Nothing is
    /// modelled behind it (guests see coherent memory); Linux reads it, with CCSIDR_EL1, for its cache sizes.
    static let clidr: UInt64 = 0x8200_0023
    /// CCSIDR_EL1 for each CSSELR_EL1 value (Level << 1 | InD), as QEMU's cortex-a76: 64 KiB 4-way L1 data and
    /// instruction caches and a 512 KiB 8-way L2, 64-byte lines. Selections of caches that do not exist read 0.
    static let ccsidr: [UInt64] = [0x701f_e01a, 0x201f_e01a, 0x707f_e03a]
    /// OSLSR_EL1: the OS lock is implemented (OSLM = 0b10) and unlocked.
    static let oslsr: UInt64 = 0x8
}

// MARK: the table

/// Who may access a system register at EL0.
enum EL0Rule {
    /// Undefined at EL0.
    case never
    /// As at EL1.
    case always
    /// Reads as at EL1; writes undefined.
    case readOnly
    /// Both directions allowed while any bit of `mask` is set in SCTLR_EL1 (or CNTKCTL_EL1), else trapped
    /// (EC 0x18); `readOnly`: writes undefined.
    case sctlr(mask: UInt64, readOnly: Bool)
    case cntkctl(mask: UInt64, readOnly: Bool)
}

enum EL0Access { case allowed, trap, undefined }

/// One system register: its encoding and name, who may access it at EL0, what MRS reads and MSR does (nil: that
/// direction is undefined; a read answering nil or a write answering false is undefined in the current state),
/// and its reset value where it holds one (`SystemRegisters`' field defaults are those values; a test checks
/// that each reads back as listed).
struct SystemRegisterRow {
    let key: UInt32
    let name: String
    let el0: EL0Rule
    let read: ((VCPU) -> UInt64?)?
    let write: ((VCPU, UInt64) -> Bool)?
    let reset: UInt64?

    init(_ key: UInt32, _ name: String, el0: EL0Rule = .never, reset: UInt64? = nil,
         read: ((VCPU) -> UInt64?)?, write: ((VCPU, UInt64) -> Bool)? = nil) {
        self.key = key; self.name = name; self.el0 = el0; self.read = read; self.write = write; self.reset = reset
    }

    func el0Access(_ sys: SystemRegisters, read isRead: Bool) -> EL0Access {
        switch el0 {
        case .never: return .undefined
        case .always: return .allowed
        case .readOnly: return isRead ? .allowed : .undefined
        case .sctlr(let mask, let readOnly):
            if readOnly && !isRead { return .undefined }
            return sys.sctlr & mask != 0 ? .allowed : .trap
        case .cntkctl(let mask, let readOnly):
            if readOnly && !isRead { return .undefined }
            return sys.cntkctl & mask != 0 ? .allowed : .trap
        }
    }
}

/// Every system register emud models, one row each. MRS and MSR are decoded with the row's index
/// (`index(of:)`), so executing one is an array access and a call; an encoding with no row is undefined.
/// At most 255 rows: `Op.a` (a byte) holds the index, 255 meaning none.
enum SystemRegisterTable {
    static let rows: [SystemRegisterRow] = listedRows + unlistedIDRows

    /// The rest of the feature ID space (op0 3, op1 0, CRn 0, CRm 1-7: ID_AA64ZFR0_EL1, ID_AA64ISAR2_EL1, the
    /// AArch32 ID registers...) reads as zero at EL1, as the architecture has its unallocated encodings do:
    /// software that probes a feature register emud does not list learns that the feature is absent.
    private static let unlistedIDRows: [SystemRegisterRow] = {
        let listed = Set(listedRows.map(\.key))
        var out: [SystemRegisterRow] = []
        for crm in UInt32(1)...7 {
            for op2 in UInt32(0)...7 where !listed.contains(SysReg.key(3, 0, 0, crm, op2)) {
                out.append(SystemRegisterRow(SysReg.key(3, 0, 0, crm, op2), "S3_0_C0_C\(crm)_\(op2)", read: { _ in 0 }))
            }
        }
        return out
    }()

    private static let listedRows: [SystemRegisterRow] = [
        // Identification (read-only at EL1; what they say is in `IDRegisters`).
        SystemRegisterRow(SysReg.midr, "MIDR_EL1", read: { $0.state.sys.identity.midr }),
        SystemRegisterRow(SysReg.mpidr, "MPIDR_EL1", read: { $0.state.sys.identity.mpidr }),
        SystemRegisterRow(SysReg.revidr, "REVIDR_EL1", read: { _ in IDRegisters.revidr }),
        SystemRegisterRow(SysReg.idAA64PFR0, "ID_AA64PFR0_EL1", read: { _ in IDRegisters.aa64pfr0 }),
        SystemRegisterRow(SysReg.idAA64PFR1, "ID_AA64PFR1_EL1", read: { _ in IDRegisters.aa64pfr1 }),
        SystemRegisterRow(SysReg.idAA64DFR0, "ID_AA64DFR0_EL1", read: { _ in IDRegisters.aa64dfr0 }),
        SystemRegisterRow(SysReg.idAA64DFR1, "ID_AA64DFR1_EL1", read: { _ in IDRegisters.aa64dfr1 }),
        SystemRegisterRow(SysReg.idAA64AFR0, "ID_AA64AFR0_EL1", read: { _ in IDRegisters.aa64afr0 }),
        SystemRegisterRow(SysReg.idAA64AFR1, "ID_AA64AFR1_EL1", read: { _ in IDRegisters.aa64afr1 }),
        SystemRegisterRow(SysReg.idAA64ISAR0, "ID_AA64ISAR0_EL1", read: { _ in IDRegisters.aa64isar0 }),
        SystemRegisterRow(SysReg.idAA64ISAR1, "ID_AA64ISAR1_EL1", read: { _ in IDRegisters.aa64isar1 }),
        SystemRegisterRow(SysReg.idAA64MMFR0, "ID_AA64MMFR0_EL1", read: { _ in IDRegisters.aa64mmfr0 }),
        SystemRegisterRow(SysReg.idAA64MMFR1, "ID_AA64MMFR1_EL1", read: { _ in IDRegisters.aa64mmfr1 }),
        SystemRegisterRow(SysReg.idAA64MMFR2, "ID_AA64MMFR2_EL1", read: { _ in IDRegisters.aa64mmfr2 }),
        SystemRegisterRow(SysReg.mvfr0, "MVFR0_EL1", read: { _ in IDRegisters.mvfr0 }),
        SystemRegisterRow(SysReg.mvfr1, "MVFR1_EL1", read: { _ in IDRegisters.mvfr1 }),
        SystemRegisterRow(SysReg.mvfr2, "MVFR2_EL1", read: { _ in IDRegisters.mvfr2 }),
        SystemRegisterRow(SysReg.clidr, "CLIDR_EL1", read: { _ in IDRegisters.clidr }),
        SystemRegisterRow(SysReg.ctr, "CTR_EL0", el0: .sctlr(mask: 1 << 15, readOnly: true), read: { _ in IDRegisters.ctr }),  // UCT
        SystemRegisterRow(SysReg.dczid, "DCZID_EL0", el0: .readOnly, read: { _ in IDRegisters.dczid }),
        SystemRegisterRow(SysReg.oslsr, "OSLSR_EL1", read: { _ in IDRegisters.oslsr }),

        // PSTATE fields, FP control.
        SystemRegisterRow(SysReg.nzcv, "NZCV", el0: .always, reset: 0, read: { UInt64($0.state.nzcv) },
                          write: { $0.state.nzcv = UInt32(truncatingIfNeeded: $1) & 0xf000_0000; return true }),
        SystemRegisterRow(SysReg.daif, "DAIF", el0: .sctlr(mask: 1 << 9, readOnly: false), reset: 0x3c0,  // UMA
                          read: { UInt64($0.state.daif) },
                          write: { $0.state.daif = UInt32(truncatingIfNeeded: $1) & 0x3c0; return true }),
        SystemRegisterRow(SysReg.fpcr, "FPCR", el0: .always, reset: 0, read: { UInt64($0.state.fpcr) },
                          write: { $0.state.fpcr = UInt32(truncatingIfNeeded: $1); return true }),
        SystemRegisterRow(SysReg.fpsr, "FPSR", el0: .always, reset: 0, read: { UInt64($0.state.fpsr) },
                          write: { $0.state.fpsr = UInt32(truncatingIfNeeded: $1); return true }),
        SystemRegisterRow(SysReg.currentEL, "CurrentEL", read: { UInt64($0.state.currentEL) << 2 }),
        SystemRegisterRow(SysReg.spSel, "SPSel", reset: 1, read: { UInt64($0.state.spSel) },
                          write: { $0.state.setMode(el: $0.state.currentEL, spSel: UInt32($1 & 1)); return true }),
        SystemRegisterRow(SysReg.pan, "PAN", reset: 0, read: { UInt64($0.state.panUAO & (1 << 22)) },
                          write: { $0.state.panUAO = ($0.state.panUAO & ~(1 << 22)) | (UInt32(truncatingIfNeeded: $1) & (1 << 22)); return true }),
        SystemRegisterRow(SysReg.uao, "UAO", reset: 0, read: { UInt64($0.state.panUAO & (1 << 23)) },
                          write: { $0.state.panUAO = ($0.state.panUAO & ~(1 << 23)) | (UInt32(truncatingIfNeeded: $1) & (1 << 23)); return true }),
        SystemRegisterRow(SysReg.spEL0, "SP_EL0", reset: 0,
                          read: { $0.state.spSel == 0 ? nil : $0.state.bankedSP(el: 0) },
                          write: { cpu, v in
                              if cpu.state.spSel == 0 { return false }
                              cpu.state.setBankedSP(el: 0, v); return true
                          }),

        // Translation (a write ends the block and empties the TLB; see SystemExecute.swift).
        SystemRegisterRow(SysReg.sctlr, "SCTLR_EL1", reset: 0x30C5_0838, read: { $0.state.sys.sctlr },
                          write: { $0.state.sys.sctlr = $1; $0.translationChanged(); return true }),
        SystemRegisterRow(SysReg.ttbr0, "TTBR0_EL1", reset: 0, read: { $0.state.sys.ttbr0 },
                          write: { $0.state.sys.ttbr0 = $1; $0.translationChanged(); return true }),
        SystemRegisterRow(SysReg.ttbr1, "TTBR1_EL1", reset: 0, read: { $0.state.sys.ttbr1 },
                          write: { $0.state.sys.ttbr1 = $1; $0.translationChanged(); return true }),
        SystemRegisterRow(SysReg.tcr, "TCR_EL1", reset: 0, read: { $0.state.sys.tcr },
                          write: { $0.state.sys.tcr = $1; $0.translationChanged(); return true }),
        SystemRegisterRow(SysReg.mair, "MAIR_EL1", reset: 0, read: { $0.state.sys.mair },
                          write: { $0.state.sys.mair = $1; $0.translationChanged(); return true }),
        SystemRegisterRow(SysReg.amair, "AMAIR_EL1", reset: 0, read: { $0.state.sys.amair },
                          write: { $0.state.sys.amair = $1; return true }),
        SystemRegisterRow(SysReg.par, "PAR_EL1", reset: 0, read: { $0.state.sys.par },
                          write: { $0.state.sys.par = $1; return true }),
        SystemRegisterRow(SysReg.csselr, "CSSELR_EL1", reset: 0, read: { $0.state.sys.csselr },
                          write: { $0.state.sys.csselr = $1 & 0xf; return true }),
        SystemRegisterRow(SysReg.ccsidr, "CCSIDR_EL1", read: { cpu in
            let selection = Int(truncatingIfNeeded: cpu.state.sys.csselr & 0xf)
            return selection < IDRegisters.ccsidr.count ? IDRegisters.ccsidr[selection] : 0
        }),
        SystemRegisterRow(SysReg.contextidr, "CONTEXTIDR_EL1", reset: 0, read: { $0.state.sys.contextidr },
                          write: { $0.state.sys.contextidr = $1 & 0xffff_ffff; return true }),

        // Exceptions.
        SystemRegisterRow(SysReg.cpacr, "CPACR_EL1", reset: 0, read: { $0.state.sys.cpacr },
                          write: { $0.state.sys.cpacr = $1 & 0x0030_0000; return true }),
        SystemRegisterRow(SysReg.vbar, "VBAR_EL1", reset: 0, read: { $0.state.sys.vbar },
                          write: { $0.state.sys.vbar = $1 & ~0x7ff; return true }),
        SystemRegisterRow(SysReg.spsr, "SPSR_EL1", reset: 0, read: { $0.state.sys.spsr },
                          write: { $0.state.sys.spsr = $1 & 0xf0c0_03cf; return true }),
        SystemRegisterRow(SysReg.elr, "ELR_EL1", reset: 0, read: { $0.state.sys.elr },
                          write: { $0.state.sys.elr = $1; return true }),
        SystemRegisterRow(SysReg.esr, "ESR_EL1", reset: 0, read: { $0.state.sys.esr },
                          write: { $0.state.sys.esr = $1 & 0xffff_ffff; return true }),
        SystemRegisterRow(SysReg.far, "FAR_EL1", reset: 0, read: { $0.state.sys.far },
                          write: { $0.state.sys.far = $1; return true }),
        SystemRegisterRow(SysReg.afsr0, "AFSR0_EL1", reset: 0, read: { $0.state.sys.afsr0 },
                          write: { $0.state.sys.afsr0 = $1; return true }),
        SystemRegisterRow(SysReg.afsr1, "AFSR1_EL1", reset: 0, read: { $0.state.sys.afsr1 },
                          write: { $0.state.sys.afsr1 = $1; return true }),
        SystemRegisterRow(SysReg.isr, "ISR_EL1", read: { $0.irqLine.load(ordering: .relaxed) ? 0x80 : 0 }),

        // Thread IDs.
        SystemRegisterRow(SysReg.tpidrEL0, "TPIDR_EL0", el0: .always, reset: 0, read: { $0.state.sys.tpidrEL0 },
                          write: { $0.state.sys.tpidrEL0 = $1; return true }),
        SystemRegisterRow(SysReg.tpidrroEL0, "TPIDRRO_EL0", el0: .readOnly, reset: 0, read: { $0.state.sys.tpidrroEL0 },
                          write: { $0.state.sys.tpidrroEL0 = $1; return true }),
        SystemRegisterRow(SysReg.tpidrEL1, "TPIDR_EL1", reset: 0, read: { $0.state.sys.tpidrEL1 },
                          write: { $0.state.sys.tpidrEL1 = $1; return true }),

        // The generic timer (GenericTimer.swift); CNTKCTL_EL1 sets what EL0 may do.
        SystemRegisterRow(SysReg.cntkctl, "CNTKCTL_EL1", reset: 0, read: { $0.state.sys.cntkctl },
                          write: { $0.state.sys.cntkctl = $1; return true }),
        SystemRegisterRow(SysReg.cntfrq, "CNTFRQ_EL0", el0: .cntkctl(mask: 3, readOnly: true), read: { _ in VCPU.counterFrequency }),
        SystemRegisterRow(SysReg.cntvct, "CNTVCT_EL0", el0: .cntkctl(mask: 2, readOnly: true),
                          read: { $0.counter &- $0.state.sys.cntvoff }),
        SystemRegisterRow(SysReg.cntpct, "CNTPCT_EL0", el0: .cntkctl(mask: 1, readOnly: true), read: { $0.counter }),
        SystemRegisterRow(SysReg.cntvCtl, "CNTV_CTL_EL0", el0: .cntkctl(mask: 1 << 8, readOnly: false), reset: 0,
                          read: { $0.timerControl($0.state.sys.cntvCtl, fired: $0.counter &- $0.state.sys.cntvoff >= $0.state.sys.cntvCval) },
                          write: { $0.state.sys.cntvCtl = $1 & 3; $0.pollTimers(); return true }),
        SystemRegisterRow(SysReg.cntvCval, "CNTV_CVAL_EL0", el0: .cntkctl(mask: 1 << 8, readOnly: false), reset: 0,
                          read: { $0.state.sys.cntvCval },
                          write: { $0.state.sys.cntvCval = $1; $0.pollTimers(); return true }),
        SystemRegisterRow(SysReg.cntvTval, "CNTV_TVAL_EL0", el0: .cntkctl(mask: 1 << 8, readOnly: false),
                          read: { ($0.state.sys.cntvCval &- ($0.counter &- $0.state.sys.cntvoff)) & 0xffff_ffff },
                          write: { cpu, v in
                              cpu.state.sys.cntvCval = (cpu.counter &- cpu.state.sys.cntvoff) &+ signExtend(v & 0xffff_ffff, 32)
                              cpu.pollTimers(); return true
                          }),
        SystemRegisterRow(SysReg.cntpCtl, "CNTP_CTL_EL0", el0: .cntkctl(mask: 1 << 9, readOnly: false), reset: 0,
                          read: { $0.timerControl($0.state.sys.cntpCtl, fired: $0.counter >= $0.state.sys.cntpCval) },
                          write: { $0.state.sys.cntpCtl = $1 & 3; $0.pollTimers(); return true }),
        SystemRegisterRow(SysReg.cntpCval, "CNTP_CVAL_EL0", el0: .cntkctl(mask: 1 << 9, readOnly: false), reset: 0,
                          read: { $0.state.sys.cntpCval },
                          write: { $0.state.sys.cntpCval = $1; $0.pollTimers(); return true }),
        SystemRegisterRow(SysReg.cntpTval, "CNTP_TVAL_EL0", el0: .cntkctl(mask: 1 << 9, readOnly: false),
                          read: { ($0.state.sys.cntpCval &- $0.counter) & 0xffff_ffff },
                          write: { cpu, v in
                              cpu.state.sys.cntpCval = cpu.counter &+ signExtend(v & 0xffff_ffff, 32)
                              cpu.pollTimers(); return true
                          }),

        // Debug: the OS lock and monitor debug control (no debug events are modelled).
        SystemRegisterRow(SysReg.mdscr, "MDSCR_EL1", reset: 0, read: { $0.state.sys.mdscr },
                          write: { $0.state.sys.mdscr = $1; return true }),
        SystemRegisterRow(SysReg.oslar, "OSLAR_EL1", read: nil, write: { _, _ in true }),
        SystemRegisterRow(SysReg.osdlr, "OSDLR_EL1", read: nil, write: { _, _ in true }),
        // The one breakpoint and one watchpoint ID_AA64DFR0_EL1 reports (BRPs = WRPs = 0 means one each): no debug
        // events are modelled, so their value and control registers read as zero and ignore writes (Linux
        // clears them on every CPU it brings up).
        SystemRegisterRow(SysReg.key(2, 0, 0, 0, 4), "DBGBVR0_EL1", read: { _ in 0 }, write: { _, _ in true }),
        SystemRegisterRow(SysReg.key(2, 0, 0, 0, 5), "DBGBCR0_EL1", read: { _ in 0 }, write: { _, _ in true }),
        SystemRegisterRow(SysReg.key(2, 0, 0, 0, 6), "DBGWVR0_EL1", read: { _ in 0 }, write: { _, _ in true }),
        SystemRegisterRow(SysReg.key(2, 0, 0, 0, 7), "DBGWCR0_EL1", read: { _ in 0 }, write: { _, _ in true }),
    ]

    private static let indexByKey: [UInt32: Int] = {
        var map: [UInt32: Int] = [:]
        for (i, row) in rows.enumerated() { map[row.key] = i }
        return map
    }()

    /// The row of an MRS/MSR encoding, or `none` (undefined); the decoder stores it in the op's `a`.
    static func index(of key: UInt32) -> Int { indexByKey[key] ?? none }
    /// No row.
    static let none = 255
}
