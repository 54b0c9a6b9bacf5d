/// Exception classes (ESR_ELx.EC, bits 31:26) of the synchronous exceptions emud takes to EL1.
public enum ExceptionClass: UInt32, Sendable {
    /// An undefined or unallocated instruction, or one not allowed at the current EL.
    case unknown = 0x00
    /// A SIMD&FP access trapped by CPACR_EL1.FPEN.
    case fpAccess = 0x07
    /// An illegal execution state (PSTATE.IL); emud stops with `unsupported` instead of raising it.
    case illegalState = 0x0e
    case supervisorCall = 0x15
    /// HVC and SMC reach the board's firmware (PSCI) instead of raising these at EL1.
    case hypervisorCall = 0x16
    case secureMonitorCall = 0x17
    /// A trapped MSR, MRS or SYS (cache maintenance, DC ZVA) at EL0.
    case systemAccess = 0x18
    case instructionAbortLowerEL = 0x20
    case instructionAbortSameEL = 0x21
    case pcAlignment = 0x22
    case dataAbortLowerEL = 0x24
    case dataAbortSameEL = 0x25
    case spAlignment = 0x26
    case breakpointInstruction = 0x3c
}

/// Fault status codes of aborts (ESR_ELx.ISS DFSC/IFSC, and PAR_EL1.FST), with the translation level where the
/// architecture encodes one.
public struct FaultStatus: Equatable, Sendable {
    public let rawValue: UInt32

    /// Nothing answers at the address (no RAM, no device, or a device refused the access).
    public static let synchronousExternalAbort = FaultStatus(rawValue: 0x10)
    /// SCTLR_EL1.A alignment checking, an exclusive/atomic access that is not naturally aligned, or a misaligned
    /// access to Device memory.
    public static let alignment = FaultStatus(rawValue: 0x21)
    /// The output (or table) address does not fit the physical address size, or, with the MMU off, the
    /// address itself is beyond it (level 0).
    public static func addressSize(level: UInt64) -> FaultStatus { FaultStatus(rawValue: 0x00 | UInt32(level & 3)) }
    /// No valid descriptor maps the address (or it lies outside both TTBR regions, or the walk is disabled).
    public static func translation(level: UInt64) -> FaultStatus { FaultStatus(rawValue: 0x04 | UInt32(level & 3)) }
    /// The descriptor's access flag is clear and TCR_EL1.HA does not let the hardware set it.
    public static func accessFlag(level: UInt64) -> FaultStatus { FaultStatus(rawValue: 0x08 | UInt32(level & 3)) }
    /// The access is not permitted by AP, UXN/PXN, WXN or PAN.
    public static func permission(level: UInt64) -> FaultStatus { FaultStatus(rawValue: 0x0c | UInt32(level & 3)) }
    /// A descriptor of the walk lies outside RAM.
    public static func externalAbortOnWalk(level: UInt64) -> FaultStatus { FaultStatus(rawValue: 0x14 | UInt32(level & 3)) }
}

/// A synchronous exception ready to be taken: its syndrome (ESR_EL1) and, for aborts, the address for FAR_EL1
/// (nil leaves FAR_EL1 as it was). Built only by the named constructors below, so no syndrome is assembled
/// from shifted literals anywhere else. Every syndrome emud builds describes a 32-bit instruction (IL = 1).
public struct Fault: Equatable, Sendable {
    public let syndrome: UInt32
    public let address: UInt64?

    init(_ exceptionClass: ExceptionClass, iss: UInt32 = 0, address: UInt64? = nil) {
        syndrome = exceptionClass.rawValue << 26 | Self.instructionLength32 | iss & 0x1ff_ffff
        self.address = address
    }

    /// ESR_ELx.IL: the trapped instruction was 32 bits long.
    static let instructionLength32: UInt32 = 1 << 25

    public var exceptionClass: ExceptionClass? { ExceptionClass(rawValue: syndrome >> 26) }

    static let undefinedInstruction = Fault(.unknown)

    static func supervisorCall(_ imm16: UInt64) -> Fault { Fault(.supervisorCall, iss: UInt32(truncatingIfNeeded: imm16 & 0xffff)) }

    static func breakpointInstruction(_ imm16: UInt64) -> Fault {
        Fault(.breakpointInstruction, iss: UInt32(truncatingIfNeeded: imm16 & 0xffff))
    }

    /// A SIMD&FP instruction (or FPCR/FPSR access) while CPACR_EL1.FPEN traps it: ISS CV = 1, COND = 0xE.
    static let fpAccess = Fault(.fpAccess, iss: 1 << 24 | 0xe << 20)

    /// A branch to a PC that is not a multiple of 4.
    static func pcAlignment(_ pc: UInt64) -> Fault { Fault(.pcAlignment, address: pc) }

    /// Nothing executable at `pc`: a translation or permission fault on fetch, or a synchronous external abort
    /// (no RAM there).
    static func instructionAbort(at pc: UInt64, status: FaultStatus = .synchronousExternalAbort, fromEL0: Bool) -> Fault {
        Fault(fromEL0 ? .instructionAbortLowerEL : .instructionAbortSameEL, iss: status.rawValue, address: pc)
    }

    /// A data access that faulted; ISS WnR (bit 6) says whether it wrote.
    static func dataAbort(at address: UInt64, status: FaultStatus, write: Bool, fromEL0: Bool) -> Fault {
        Fault(fromEL0 ? .dataAbortLowerEL : .dataAbortSameEL, iss: (write ? 1 << 6 : 0) | status.rawValue, address: address)
    }

    /// A trapped MSR/MRS/SYS: the ISS names the register (`SysReg` key: op0, op1, CRn, CRm, op2), the
    /// transfer register and the direction.
    static func systemAccessTrap(key: UInt32, rt: UInt32, read: Bool) -> Fault {
        let op0 = (key >> 14) & 3, op1 = (key >> 11) & 7, crn = (key >> 7) & 15, crm = (key >> 3) & 15, op2 = key & 7
        let t = rt >= 31 ? 31 : rt
        return Fault(.systemAccess,
                     iss: (op0 << 20) | (op2 << 17) | (op1 << 14) | (crn << 10) | (t << 5) | (crm << 1) | (read ? 1 : 0))
    }
}

/// Where an exception enters the vector table, relative to the table's quarter for the source EL and SP.
public enum ExceptionVector: UInt64, Sendable {
    case synchronous = 0
    case irq = 0x80
    case fiq = 0x100
    case serror = 0x180
}
