/// One pre-decoded guest instruction: plain data, dispatched by the interpreter's `switch` over `code`.
///
/// Register fields are already resolved to `CPUState.x` slots (31 = SP, 32 = zero source, 33 = discarded
/// destination), immediates are already expanded, PC-relative targets are absolute. Unused fields are zero.
///
/// What each field holds, per family (the comment beside an `OpCode` case says which apply and any exception):
///
/// | family | `d` | `n`, `m` | `a` | `s` | `f` | `imm`, `imm2` |
/// |---|---|---|---|---|---|---|
/// | data processing | destination slot | source slots | third source slot (MADD family: the addend) or a selector (shift type, extend option, condition) | shift amount, rotation, bit position, log2 size or NZCV value | `OpFlags` | expanded immediates |
/// | branches | – | `n`: register tested or jumped to | condition (B.cond) | bit tested (TBZ) | `OpFlags` | `imm` taken target, `imm2` fall-through or return address |
/// | exceptions, system | MRS destination slot | `n`: MSR/SYS source slot | encoding group (`undefined`) | a selector, see the case | – | `imm`: imm16, `SysReg` key or CRm |
/// | loads, stores, atomics | transfer register (Rt) slot | `n` base slot, `m` index or second register | addressing mode, extend option, status slot, result slot or `AtomicOp` | log2 of the access size | `OpFlags` (`signed`, `dest32`) | offset or absolute address |
/// | SIMD&FP | V register number (X slot for moves to general registers) | V register numbers (X slot for moves from them) | `SIMDOp` | log2 of the element or access size | `SIMDFlags` or `SIMDStructure` | immediates, lane layout |
public struct Op {
    public var code: OpCode
    public var d: UInt8 = 0
    public var n: UInt8 = 0
    public var m: UInt8 = 0
    public var a: UInt8 = 0
    /// Small operand: shift amount, condition, size, bit number, selector, depending on the family (see above).
    public var s: UInt8 = 0
    /// Flags: `OpFlags` for the integer families, `SIMDFlags` for `.simd`, `SIMDStructure` for `.vldst`.
    public var f: UInt8 = 0
    public var imm: UInt64 = 0
    public var imm2: UInt64 = 0

    init(_ code: OpCode, d: Int = 0, n: Int = 0, m: Int = 0, a: Int = 0, s: Int = 0, f: UInt8 = 0,
         imm: UInt64 = 0, imm2: UInt64 = 0) {
        self.code = code
        self.d = UInt8(truncatingIfNeeded: d)
        self.n = UInt8(truncatingIfNeeded: n)
        self.m = UInt8(truncatingIfNeeded: m)
        self.a = UInt8(truncatingIfNeeded: a)
        self.s = UInt8(truncatingIfNeeded: s)
        self.f = f
        self.imm = imm
        self.imm2 = imm2
    }
}

/// `Op.f` bits of the integer families (data processing, branches, loads and stores). Every bit means one thing.
public enum OpFlags {
    /// 64-bit operation (sf = 1).
    static let sf: UInt8 = 1
    /// Sets NZCV.
    static let setFlags: UInt8 = 2
    /// Sign-extending load.
    static let signed: UInt8 = 4
    /// Invert the second operand (BIC, ORN, EON); for CCMP, compare by adding (CCMN).
    static let invert: UInt8 = 8
    /// Second variant (CBNZ vs CBZ, TBNZ vs TBZ, CRC32C vs CRC32, CCMP with an immediate operand).
    static let alt: UInt8 = 32
    /// Destination is 32 bits wide (zero-extended into X).
    static let dest32: UInt8 = 64
}

/// Operations the interpreter executes. `n`, `m`, `a` are sources, `d` the destination unless noted.
public enum OpCode: UInt16 {
    // Data processing, immediate
    case movImm             // d = imm
    case movk               // d = (d & ~imm2) | imm; f.sf
    case addImm64, addImm32, subImm64, subImm32
    case addsImm, subsImm   // f.sf selects width
    case andImm, orrImm, eorImm, andsImm // imm = bitmask; f.sf (ORR, EOR, ANDS)
    case ubfm, sbfm, bfm    // s = immr (rotate), a = imms (SBFM: the sign bit), imm = wmask, imm2 = tmask; f.sf
    case lslImm64, lsrImm64, asrImm64 // s = amount
    case extr               // s = lsb; f.sf
    // Data processing, register
    case addShifted, subShifted      // a = shift type, s = amount; f.sf|setFlags
    case addExtended, subExtended    // a = option, s = shift; f.sf|setFlags
    case adc, sbc                    // f.sf|setFlags
    case andShifted, orrShifted, eorShifted // a = shift type, s = amount; f.sf|invert|setFlags(and)
    case csel, csinc, csinv, csneg   // a = cond; f.sf
    case ccmp                        // a = cond, s = nzcv, imm = operand when f.alt; f.invert = CCMN; f.sf
    case rbit, rev16, rev32, rev64, clz, cls // f.sf
    case udiv, sdiv, lslv, lsrv, asrv, rorv  // f.sf
    case crc32              // s = log2 size; f.alt = CRC32C
    case madd, msub         // d = a ± n*m; f.sf
    case smaddl, smsubl, umaddl, umsubl // d = a ± n*m (32-bit sources, 64-bit product)
    case smulh, umulh
    // Branches (imm = target, imm2 = fall-through / return address)
    case b, bl
    case br, blr, ret       // n = target register
    case cbz                // n = tested; f.sf; f.alt = CBNZ
    case tbz                // n = tested; s = bit; f.alt = TBNZ
    case bcond              // a = cond
    // Exceptions and system
    case svc, hvc, smc, brk, hlt  // imm = imm16
    case undefined          // a = encoding group; imm = instruction word
    case fpTrap             // FP/AdvSIMD instruction while CPACR_EL1 traps it
    case eret
    case mrs                // d = destination, a = row in SystemRegisterTable (255: none), imm = SysReg key
    case msr                // n = source, a = row in SystemRegisterTable (255: none), imm = SysReg key
    case msrImm             // s = field (0 SPSel, 1 DAIFSet, 2 DAIFClr, 3 PAN, 4 UAO), imm = value (CRm)
    case msrNZCV            // fast path of MSR NZCV; n = source
    case mrsNZCV            // d = destination
    case nop                // s = 0 hint; 1 cache maintenance by VA that EL0 may do when SCTLR_EL1.UCI is set
                            // (n = Rt, imm = the SYS key for the trap syndrome); 2 maintenance that EL0 may not do
    case wfi, wfe, sev, sevl
    case clrex
    case barrier            // imm = CRm (bits 1:0 say which accesses it orders); s = 0 DMB, 1 DSB
    case isb                // ends the block
    case dcZva              // n = address register, imm = SYS key (for the EL0 trap syndrome)
    case endBlock           // like nop (same s, n, imm), but ends the block (IC IVAU, IC IALLU...)
    case tlbi               // EL1 only; a = 1 for the inner-shareable forms (broadcast to every vCPU); ends the block
    case at                 // EL1 only; n = address register, s = 0 S1E1R, 1 S1E1W, 2 S1E0R, 3 S1E0W
    // Loads and stores; s = log2(size), f.signed, f.dest32
    case ldrImm, ldrPre, ldrPost, ldrReg, strImm, strPre, strPost, strReg
    //   Imm: address = n + imm; Pre/Post: writeback n; Reg: address = n + extend(m, a) << imm
    case ldrLit             // imm = absolute address
    case ldtr, sttr         // LDTR*/STTR*: as ldrImm/strImm, with EL0's permissions at EL1 (unless PSTATE.UAO)
    case ldp, stp           // a = 0 offset, 1 pre, 2 post; m = second register; imm = signed offset
    case ldxr, stxr         // stxr: a = status register
    case ldxp, stxp         // m = second register; s = 2 + log2 of one register's size; stxp: a = status register
    case ldar, stlr
    case atomic             // a = AtomicOp; d = Rt (receives the old value), m = Rs (operand); s = size
    case cas                // m = Rs (compare value), d = Rt (new value), a = Rs as destination (receives the old value)
    case casp               // m = Rs, d = Rt: register numbers (even) of the first of each pair; s = 2 + log2 size
    // SIMD&FP loads and stores; s = log2 size (0 B ... 4 Q), d = V register
    case vldrImm, vldrPre, vldrPost, vldrReg, vstrImm, vstrPre, vstrPost, vstrReg
    case vldrLit
    case vldp, vstp         // a = mode as ldp
    case vldst              // LD1–4/ST1–4/LD1R: f, imm, imm2 as `SIMDStructure` (Decode/SIMDLoadStore.swift) says
    // SIMD and FP moves and integer AdvSIMD operations, see Decode/AdvSIMD.swift
    case fmovToGeneral      // d = X, n = V; s = 0 (32-bit lo), 1 (64-bit lo), 2 (64-bit hi)
    case fmovFromGeneral    // d = V, n = X; s as above
    case simd               // a = SIMDOp, s = esize log2, f = SIMDFlags; imm = immediate
    case fp                 // a = FPOp, s = log2 of the FP size, f = FPFlags (Decode/FloatingPoint.swift)
    // Specialised forms of the above (see `Op.specialized()`), same fields.
    case addReg64, addReg32, subReg64, subReg32, subsReg64, subsReg32, subsImm64, subsImm32, movReg64, movReg32
    case ldr64, ldr32, ldrb, str64, str32, ldr64Reg, ldr32Reg, str64Reg, str32Reg
}

extension Op {
    /// The same operation as a dedicated code for the most frequent forms (64-bit, no shift, no sign
    /// extension), so the interpreter's hottest cases test no flags. Purely an optimisation: every specialised
    /// code computes exactly what the general one does.
    func specialized() -> Op {
        var op = self
        let sf = f & OpFlags.sf != 0
        switch code {
        case .addShifted where s == 0 && f & OpFlags.setFlags == 0:
            op.code = sf ? .addReg64 : .addReg32
        case .subShifted where s == 0 && f & OpFlags.setFlags == 0:
            op.code = sf ? .subReg64 : .subReg32
        case .subShifted where s == 0:
            op.code = sf ? .subsReg64 : .subsReg32
        case .subsImm:
            op.code = sf ? .subsImm64 : .subsImm32
        case .orrShifted where s == 0 && n == UInt8(CPUState.zeroRead) && f & OpFlags.invert == 0:
            op.code = sf ? .movReg64 : .movReg32
        case .ldrImm where f & (OpFlags.signed | OpFlags.dest32) == 0 && s == 3:
            op.code = .ldr64
        case .ldrImm where f & OpFlags.signed == 0 && s == 2:
            op.code = .ldr32
        case .ldrImm where f & OpFlags.signed == 0 && s == 0:
            op.code = .ldrb
        case .strImm where s == 3:
            op.code = .str64
        case .strImm where s == 2:
            op.code = .str32
        case .ldrReg where f & OpFlags.signed == 0 && (s == 3 || s == 2):
            op.code = s == 3 ? .ldr64Reg : .ldr32Reg
        case .strReg where s == 3 || s == 2:
            op.code = s == 3 ? .str64Reg : .str32Reg
        default:
            break
        }
        return op
    }
}

public enum AtomicOp: UInt8 {
    case add, clr, eor, set, smax, smin, umax, umin, swp
}


extension OpCode {
    /// Operations after which the translator ends the block: they change the PC or state that decoding
    /// depends on, or must be followed by a check for interrupts.
    var endsBlock: Bool {
        switch self {
        case .b, .bl, .br, .blr, .ret, .cbz, .tbz, .bcond, .svc, .hvc, .smc, .brk, .hlt, .undefined, .fpTrap,
             .eret, .msr, .msrImm, .wfi, .wfe, .isb, .endBlock, .tlbi:
            return true
        default:
            return false
        }
    }
}
