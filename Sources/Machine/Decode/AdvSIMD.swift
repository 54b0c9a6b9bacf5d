// Arm ARM C4.1.5/C4.1.8: Data Processing -- Scalar Floating-Point and Advanced SIMD (integer subset).
//
// Everything here decodes to `.simd` (executed by `VCPU.executeSIMD`). The floating-point encodings, scalar
// and vector, are in Decode/FloatingPoint.swift and Decode/AdvSIMDFloatingPoint.swift, which the decoder
// tries first.

/// The operation of an `.simd` op, kept in `Op.a`.
///
/// Fields: `d`, `n`, `m` are V registers (X slots where noted), `s` = log2 of the element size in bytes (for
/// widening and narrowing operations: of the narrow elements), `f` = `SIMDFlags`, `imm` = shift amount,
/// immediate or lane index as noted.
enum SIMDOp: UInt8 {
    // Immediates and element moves
    case movi          // d = imm in each 64-bit half (upper half zero unless q): MOVI, MVNI, FMOV (immediate)
    case orrImm        // d |= imm (per 64-bit half)
    case bicImm        // d &= ~imm
    case dup           // every lane of d = lane imm of n; scalar: DUP (scalar), FMOV (register)
    case dupGeneral    // every lane of d = X slot n
    case insGeneral    // lane imm of d = X slot n, other lanes kept
    case insElement    // lane imm of d = lane imm2 of n, other lanes kept
    case umov, smov    // X slot d = lane imm of n, zero- or sign-extended (to 64 bits with x64)
    case fcsel         // d = condition imm holds ? n : m (s = 2 or 3, scalar)
    // Three registers of the same type
    case add, sub, mul, mla, mls, pmul
    case and, bic, orr, orn, eor, bsl, bit, bif
    case hadd, hsub    // round: SRHADD/URHADD
    case qadd, qsub
    case cmgt, cmge    // unsigned: CMHI, CMHS
    case cmeq, cmtst
    case shl, qshl     // by register (signed lane of m's low byte; negative shifts right); round: xRSHL
    case max, min, maxp, minp, addp
    case abd, aba
    case sqdmulh       // round: SQRDMULH
    // Three registers of different types: narrow (s) sources, wide (s + 1) results; q = upper halves
    case addl, subl, addw, subw, abal, abdl, mlal, mlsl, mull, pmull
    case sqdmlal, sqdmlsl, sqdmull
    case addhn, subhn  // wide sources, narrow result (q = into the upper half); round: RADDHN, RSUBHN
    // Two-register miscellaneous
    case rev           // reverse lanes within containers of 2^imm bytes (REV16, REV32, REV64)
    case addlp, adalp
    case suqadd, usqadd
    case cls, clz, cnt, not, rbit
    case abs, neg, sqabs, sqneg
    case cmgt0, cmge0, cmeq0, cmle0, cmlt0
    case xtn, qxtn, sqxtun // s = narrow size; qxtn: SQXTN (signed) or UQXTN
    // Across lanes (result in lane 0, rest zero)
    case addv, maxv, minv, addlv
    // Shift by immediate (imm = amount)
    case shr, sra      // round: SRSHR/URSHR, SRSRA/URSRA
    case shlImm, sli, sri, qshlImm, sqshlu
    case shrn, qshrn, sqshrun // s = narrow size; round: RSHRN, SQRSHRN, ...
    case shll          // SSHLL/USHLL/SHLL: s = narrow size
    // Permutes, extract, table lookups
    case zip1, zip2, uzp1, uzp2, trn1, trn2
    case ext           // imm = byte position
    case tbl, tbx      // n = first table register, imm = number of table registers
    // Armv8.1 RDM, Armv8.2 DotProd, the 64-bit PMULL and the integer estimates (Execute/AdvSIMDIntegerExecute.swift)
    case sqrdmlah, sqrdmlsh // same size, vector or scalar, by element with SIMDFlags.byElement
    case dot           // SDOT (signed) or UDOT: s = 2; each 32-bit lane += four byte products
    case pmull64       // PMULL/PMULL2 .1Q: s = 3, q = the upper halves
    case urecpe, ursqrte // s = 2
    // The cryptographic extension (Decode/Crypto.swift, Execute/CryptoExecute.swift): d, n, m as the instruction
    case aese, aesd, aesmc, aesimc
    case sha1c, sha1p, sha1m, sha1h, sha1su0, sha1su1
    case sha256h, sha256h2, sha256su0, sha256su1

    static let last = SIMDOp.sha256su1
}

/// `Op.f` bits for `.simd` ops (a set of their own, not `OpFlags`).
enum SIMDFlags {
    /// Operand m is lane `imm2` of V[m], broadcast (the "by element" forms).
    static let byElement: UInt8 = 1
    /// Rounding variant.
    static let round: UInt8 = 2
    /// Signed variant (the U = 0 half of a U-paired encoding).
    static let signed: UInt8 = 4
    /// SMOV to an X register.
    static let x64: UInt8 = 8
    /// 128-bit vector; for widening/narrowing operations, the upper-half ("2") variant.
    static let q: UInt8 = 32
    /// Scalar: operates on lane 0 only; the rest of the destination is zeroed.
    static let scalar: UInt8 = 64
}

/// An `.simd` op (also used by Decode/Crypto.swift).
@inline(__always) func simd(_ op: SIMDOp, d: UInt32, n: UInt32, m: UInt32 = 0, s: Int, f: UInt8,
                            imm: UInt64 = 0, imm2: UInt64 = 0) -> Op {
    Op(.simd, d: Int(d), n: Int(n), m: Int(m), a: Int(op.rawValue), s: s, f: f, imm: imm, imm2: imm2)
}

/// AdvSIMDExpandImm: the 64-bit value of a modified immediate (callers reject FMOV double with Q = 0).
func expandSIMDImmediate(op: UInt32, cmode: UInt32, imm8: UInt32) -> UInt64 {
    func replicate32(_ v: UInt64) -> UInt64 { v << 32 | v }
    func replicate16(_ v: UInt64) -> UInt64 { replicate32(v << 16 | v) }
    let b = UInt64(imm8)
    switch cmode >> 1 {
    case 0, 1, 2, 3: return replicate32(b << (8 * UInt64(cmode >> 1)))
    case 4, 5: return replicate16(b << (8 * UInt64((cmode >> 1) & 1)))
    case 6: return replicate32(cmode & 1 == 0 ? (b << 8 | 0xff) : (b << 16 | 0xffff))
    default:
        if cmode & 1 == 0 {
            if op == 0 { return replicate16(b << 8 | b) }
            var mask: UInt64 = 0
            for i in 0..<8 where (imm8 >> UInt32(i)) & 1 == 1 { mask |= 0xff << UInt64(8 * i) }
            return mask
        }
        return op == 0 ? replicate32(fpImmediate32(imm8)) : fpImmediate64(imm8)
    }
}

/// VFPExpandImm for single precision: a:NOT(b):bbbbb:cdefgh:Zeros(19).
func fpImmediate32(_ imm8: UInt32) -> UInt64 {
    let a = UInt64(imm8 >> 7) & 1, b = UInt64(imm8 >> 6) & 1, cdefgh = UInt64(imm8) & 0x3f
    let exponent = (b ^ 1) << 7 | (b == 1 ? 0x7c : 0) | cdefgh >> 4
    return a << 31 | exponent << 23 | (cdefgh & 0xf) << 19
}

/// VFPExpandImm for double precision: a:NOT(b):bbbbbbbb:cdefgh:Zeros(48).
func fpImmediate64(_ imm8: UInt32) -> UInt64 {
    let a = UInt64(imm8 >> 7) & 1, b = UInt64(imm8 >> 6) & 1, cdefgh = UInt64(imm8) & 0x3f
    let exponent = (b ^ 1) << 10 | (b == 1 ? 0x3fc : 0) | cdefgh >> 4
    return a << 63 | exponent << 52 | (cdefgh & 0xf) << 48
}

enum AdvSIMD {
    static let encodings: [A64Encoding] = [
        // Advanced SIMD modified immediate (before shift by immediate, which it refines)
        A64Encoding("MOVI/MVNI/ORR/BIC/FMOV_vector_imm", "0Qo0111100000hhhcccc01lllllddddd") { f, _ in
            modifiedImmediate(f)
        },
        // Advanced SIMD shift by immediate
        A64Encoding("SIMD_shift_imm", "0Qu011110hhhhbbbooooo1nnnnnddddd") { f, _ in
            shiftByImmediate(f, scalar: false)
        },
        // Advanced SIMD scalar shift by immediate
        A64Encoding("SIMD_scalar_shift_imm", "01u111110hhhhbbbooooo1nnnnnddddd") { f, _ in
            shiftByImmediate(f, scalar: true)
        },
        // Advanced SIMD vector x indexed element
        A64Encoding("SIMD_indexed", "0Qu01111zzLMmmmmooooH0nnnnnddddd") { f, _ in
            indexed(f, scalar: false)
        },
        // Advanced SIMD scalar x indexed element
        A64Encoding("SIMD_scalar_indexed", "01u11111zzLMmmmmooooH0nnnnnddddd") { f, _ in
            indexed(f, scalar: true)
        },
        // Advanced SIMD table lookup
        A64Encoding("TBL/TBX", "0Q001110000mmmmm0LLo00nnnnnddddd") { f, _ in
            simd(f.o == 0 ? .tbl : .tbx, d: f.d, n: f.n, m: f.m, s: 0, f: f.Q == 1 ? SIMDFlags.q : 0, imm: UInt64(f.L) + 1)
        },
        // Advanced SIMD permute
        A64Encoding("ZIP/UZP/TRN", "0Q001110zz0mmmmm0ooo10nnnnnddddd") { f, _ in
            if f.z == 3 && f.Q == 0 { return nil }
            let code: SIMDOp
            switch f.o {
            case 1: code = .uzp1
            case 2: code = .trn1
            case 3: code = .zip1
            case 5: code = .uzp2
            case 6: code = .trn2
            case 7: code = .zip2
            default: return nil
            }
            return simd(code, d: f.d, n: f.n, m: f.m, s: Int(f.z), f: f.Q == 1 ? SIMDFlags.q : 0)
        },
        // Advanced SIMD extract
        A64Encoding("EXT", "0Q101110000mmmmm0iiii0nnnnnddddd") { f, _ in
            if f.Q == 0 && f.i >= 8 { return nil }
            return simd(.ext, d: f.d, n: f.n, m: f.m, s: 0, f: f.Q == 1 ? SIMDFlags.q : 0, imm: UInt64(f.i))
        },
        // Advanced SIMD copy
        A64Encoding("DUP/INS/UMOV/SMOV", "0Qo01110000iiiii0jjjj1nnnnnddddd") { f, _ in
            copy(f)
        },
        // Advanced SIMD scalar copy
        A64Encoding("DUP_scalar", "01011110000iiiii000001nnnnnddddd") { f, _ in
            guard f.i & 0xf != 0 else { return nil }
            let size = f.i.trailingZeroBitCount
            return simd(.dup, d: f.d, n: f.n, s: size, f: SIMDFlags.scalar, imm: UInt64(f.i >> UInt32(size + 1)))
        },
        // Advanced SIMD two-register miscellaneous
        A64Encoding("SIMD_2reg_misc", "0Qu01110zz10000ooooo10nnnnnddddd") { f, _ in
            twoRegisterMisc(f, scalar: false)
        },
        A64Encoding("SIMD_scalar_2reg_misc", "01u11110zz10000ooooo10nnnnnddddd") { f, _ in
            twoRegisterMisc(f, scalar: true)
        },
        // Advanced SIMD across lanes
        A64Encoding("SIMD_across_lanes", "0Qu01110zz11000ooooo10nnnnnddddd") { f, _ in
            if f.z == 3 || (f.z == 2 && f.Q == 0) { return nil }
            let flags = (f.Q == 1 ? SIMDFlags.q : 0) | (f.u == 0 ? SIMDFlags.signed : 0)
            let code: SIMDOp
            switch f.o {
            case 0b00011: code = .addlv
            case 0b01010: code = .maxv
            case 0b11010: code = .minv
            case 0b11011 where f.u == 0: code = .addv
            default: return nil
            }
            return simd(code, d: f.d, n: f.n, s: Int(f.z), f: flags)
        },
        // Advanced SIMD scalar pairwise: only ADDP (scalar) is integer
        A64Encoding("ADDP_scalar", "01011110zz110001101110nnnnnddddd") { f, _ in
            if f.z != 3 { return nil }
            return simd(.addp, d: f.d, n: f.n, m: f.n, s: 3, f: SIMDFlags.scalar)
        },
        // Advanced SIMD three different
        A64Encoding("SIMD_3different", "0Qu01110zz1mmmmmoooo00nnnnnddddd") { f, _ in
            threeDifferent(f, scalar: false)
        },
        A64Encoding("SIMD_scalar_3different", "01u11110zz1mmmmmoooo00nnnnnddddd") { f, _ in
            threeDifferent(f, scalar: true)
        },
        // Advanced SIMD three same (extra): RDM and DotProd
        A64Encoding("SIMD_3same_extra", "0Qu01110zz0mmmmm1oooo1nnnnnddddd") { f, _ in
            threeSameExtra(f, scalar: false)
        },
        A64Encoding("SIMD_scalar_3same_extra", "01u11110zz0mmmmm1oooo1nnnnnddddd") { f, _ in
            threeSameExtra(f, scalar: true)
        },
        // Advanced SIMD three same
        A64Encoding("SIMD_3same", "0Qu01110zz1mmmmmooooo1nnnnnddddd") { f, _ in
            threeSame(f, scalar: false)
        },
        A64Encoding("SIMD_scalar_3same", "01u11110zz1mmmmmooooo1nnnnnddddd") { f, _ in
            threeSame(f, scalar: true)
        },
    ]

    private static func modifiedImmediate(_ f: Fields) -> Op? {
        let imm8 = f.h << 5 | f.l
        let q = f.Q == 1
        let flags = q ? SIMDFlags.q : 0
        let cmode = f.c, op = f.o
        if cmode == 0b1111 && op == 1 && !q { return nil }
        let value = expandSIMDImmediate(op: op, cmode: cmode, imm8: imm8)
        // ORR/BIC for the shifted 32-bit (0xx1) and 16-bit (10x1) forms; everything else is a move.
        let isLogical = cmode < 0b1100 && cmode & 1 == 1
        if isLogical {
            return simd(op == 0 ? .orrImm : .bicImm, d: f.d, n: f.d, s: 3, f: flags, imm: value)
        }
        let inverted = op == 1 && cmode < 0b1110
        return simd(.movi, d: f.d, n: 0, s: 3, f: flags, imm: inverted ? ~value : value)
    }

    private static func copy(_ f: Fields) -> Op? {
        guard f.i & 0xf != 0 else { return nil }
        let size = f.i.trailingZeroBitCount
        let index = UInt64(f.i >> UInt32(size + 1))
        let q = f.Q == 1
        let flags = q ? SIMDFlags.q : 0
        if f.o == 1 {
            guard q else { return nil }
            return simd(.insElement, d: f.d, n: f.n, s: size, f: flags, imm: index, imm2: UInt64(f.j >> UInt32(size)))
        }
        switch f.j {
        case 0:
            if size == 3 && !q { return nil }
            return simd(.dup, d: f.d, n: f.n, s: size, f: flags, imm: index)
        case 1:
            if size == 3 && !q { return nil }
            return Op(.simd, d: Int(f.d), n: rz(f.n), a: Int(SIMDOp.dupGeneral.rawValue), s: size, f: flags)
        case 3:
            guard q else { return nil }
            return Op(.simd, d: Int(f.d), n: rz(f.n), a: Int(SIMDOp.insGeneral.rawValue), s: size, f: flags, imm: index)
        case 5:
            if size == 3 || (size == 2 && !q) { return nil }
            return Op(.simd, d: wz(f.d), n: Int(f.n), a: Int(SIMDOp.smov.rawValue), s: size,
                      f: q ? SIMDFlags.x64 : 0, imm: index)
        case 7:
            if (size == 3) != q { return nil }
            return Op(.simd, d: wz(f.d), n: Int(f.n), a: Int(SIMDOp.umov.rawValue), s: size, imm: index)
        default:
            return nil
        }
    }

    private static func threeSame(_ f: Fields, scalar: Bool) -> Op? {
        let u = f.u == 1
        let size = Int(f.z)
        let q = !scalar && f.Q == 1
        let base: UInt8 = (q ? SIMDFlags.q : 0) | (scalar ? SIMDFlags.scalar : 0)
        let sign: UInt8 = u ? 0 : SIMDFlags.signed
        // For vectors, 64-bit lanes need Q = 1. For scalars, most operations exist only on D registers.
        if !scalar && size == 3 && !q && f.o != 0b00011 { return nil }
        // SQADD, SQSUB, SQSHL, SQRSHL (and unsigned) and SQDMULH exist for every scalar size.
        let anyScalarSize: Bool
        switch f.o {
        case 0b00001, 0b00101, 0b01001, 0b01011, 0b10110: anyScalarSize = true
        default: anyScalarSize = false
        }
        if scalar && !anyScalarSize && size != 3 { return nil }
        func make(_ code: SIMDOp, _ extra: UInt8 = 0) -> Op {
            simd(code, d: f.d, n: f.n, m: f.m, s: size, f: base | extra)
        }
        let vectorOnly: Op?
        switch f.o {
        case 0b00011:
            let logic: [SIMDOp] = u ? [.eor, .bsl, .bit, .bif] : [.and, .bic, .orr, .orn]
            vectorOnly = simd(logic[size], d: f.d, n: f.n, m: f.m, s: 3, f: base)
        case 0b00000: vectorOnly = size == 3 ? nil : make(.hadd, sign)
        case 0b00010: vectorOnly = size == 3 ? nil : make(.hadd, sign | SIMDFlags.round)
        case 0b00100: vectorOnly = size == 3 ? nil : make(.hsub, sign)
        case 0b01100: vectorOnly = size == 3 ? nil : make(.max, sign)
        case 0b01101: vectorOnly = size == 3 ? nil : make(.min, sign)
        case 0b01110: vectorOnly = size == 3 ? nil : make(.abd, sign)
        case 0b01111: vectorOnly = size == 3 ? nil : make(.aba, sign)
        case 0b10010: vectorOnly = size == 3 ? nil : make(u ? .mls : .mla)
        case 0b10011: vectorOnly = u ? (size == 0 ? make(.pmul) : nil) : (size == 3 ? nil : make(.mul))
        case 0b10100: vectorOnly = size == 3 ? nil : make(.maxp, sign)
        case 0b10101: vectorOnly = size == 3 ? nil : make(.minp, sign)
        case 0b10111: vectorOnly = u ? nil : make(.addp)
        // Both vector and scalar
        case 0b00001: return make(.qadd, sign)
        case 0b00101: return make(.qsub, sign)
        case 0b00110: return make(.cmgt, sign)
        case 0b00111: return make(.cmge, sign)
        case 0b01000: return make(.shl, sign)
        case 0b01010: return make(.shl, sign | SIMDFlags.round)
        case 0b01001: return make(.qshl, sign)
        case 0b01011: return make(.qshl, sign | SIMDFlags.round)
        case 0b10000: return make(u ? .sub : .add)
        case 0b10001: return make(u ? .cmeq : .cmtst)
        case 0b10110:
            if size != 1 && size != 2 { return nil }
            return make(.sqdmulh, u ? SIMDFlags.round : 0)
        default: return nil
        }
        return scalar ? nil : vectorOnly
    }

    /// SQRDMLAH, SQRDMLSH (FEAT_RDM; 16- and 32-bit lanes, vector or scalar) and SDOT, UDOT (FEAT_DotProd;
    /// vector, 32-bit accumulators). The other opcodes are FCMLA and FCADD (Armv8.3), which a Cortex-A76 lacks.
    private static func threeSameExtra(_ f: Fields, scalar: Bool) -> Op? {
        let size = Int(f.z)
        let q = !scalar && f.Q == 1
        let base: UInt8 = (q ? SIMDFlags.q : 0) | (scalar ? SIMDFlags.scalar : 0)
        switch (f.u, f.o) {
        case (1, 0b0000), (1, 0b0001):
            if size != 1 && size != 2 { return nil }
            return simd(f.o == 0 ? .sqrdmlah : .sqrdmlsh, d: f.d, n: f.n, m: f.m, s: size, f: base)
        case (_, 0b0010):
            if scalar || size != 2 { return nil }
            return simd(.dot, d: f.d, n: f.n, m: f.m, s: 2, f: base | (f.u == 0 ? SIMDFlags.signed : 0))
        default:
            return nil
        }
    }

    private static func threeDifferent(_ f: Fields, scalar: Bool) -> Op? {
        let u = f.u == 1
        let size = Int(f.z)
        if !scalar && !u && size == 3 && f.o == 0b1110 {
            return simd(.pmull64, d: f.d, n: f.n, m: f.m, s: 3, f: f.Q == 1 ? SIMDFlags.q : 0)
        }
        if size == 3 { return nil }
        let q = !scalar && f.Q == 1
        let base: UInt8 = (q ? SIMDFlags.q : 0) | (scalar ? SIMDFlags.scalar : 0)
        let sign: UInt8 = u ? 0 : SIMDFlags.signed
        func make(_ code: SIMDOp, _ extra: UInt8 = 0) -> Op {
            simd(code, d: f.d, n: f.n, m: f.m, s: size, f: base | extra)
        }
        switch f.o {
        case 0b1001, 0b1011, 0b1101:
            if u || size == 0 { return nil }
            let code: SIMDOp = f.o == 0b1001 ? .sqdmlal : f.o == 0b1011 ? .sqdmlsl : .sqdmull
            return make(code, SIMDFlags.signed)
        default: break
        }
        if scalar { return nil }
        switch f.o {
        case 0b0000: return make(.addl, sign)
        case 0b0001: return make(.addw, sign)
        case 0b0010: return make(.subl, sign)
        case 0b0011: return make(.subw, sign)
        case 0b0100: return make(.addhn, u ? SIMDFlags.round : 0)
        case 0b0101: return make(.abal, sign)
        case 0b0110: return make(.subhn, u ? SIMDFlags.round : 0)
        case 0b0111: return make(.abdl, sign)
        case 0b1000: return make(.mlal, sign)
        case 0b1010: return make(.mlsl, sign)
        case 0b1100: return make(.mull, sign)
        case 0b1110: return !u && size == 0 ? make(.pmull) : nil
        default: return nil
        }
    }

    private static func twoRegisterMisc(_ f: Fields, scalar: Bool) -> Op? {
        let u = f.u == 1
        let size = Int(f.z)
        let q = !scalar && f.Q == 1
        let base: UInt8 = (q ? SIMDFlags.q : 0) | (scalar ? SIMDFlags.scalar : 0)
        let sign: UInt8 = u ? 0 : SIMDFlags.signed
        func make(_ code: SIMDOp, _ extra: UInt8 = 0, imm: UInt64 = 0) -> Op {
            simd(code, d: f.d, n: f.n, s: size, f: base | extra, imm: imm)
        }
        // Same-size operations: vectors need Q for 64-bit lanes; scalar compares, ABS and NEG need D.
        let sameSizeVector = !(size == 3 && !q)
        switch (u, f.o) {
        case (_, 0b00011): return scalar || sameSizeVector ? make(u ? .usqadd : .suqadd) : nil
        case (_, 0b00111): return scalar || sameSizeVector ? make(u ? .sqneg : .sqabs) : nil
        case (_, 0b01000), (_, 0b01001), (false, 0b01010), (_, 0b01011):
            if scalar ? size != 3 : !sameSizeVector { return nil }
            switch (u, f.o) {
            case (false, 0b01000): return make(.cmgt0)
            case (true, 0b01000): return make(.cmge0)
            case (false, 0b01001): return make(.cmeq0)
            case (true, 0b01001): return make(.cmle0)
            case (false, 0b01010): return make(.cmlt0)
            case (false, _): return make(.abs)
            default: return make(.neg)
            }
        case (false, 0b10100), (true, 0b10100):
            return size == 3 ? nil : make(.qxtn, sign)
        case (true, 0b10010):
            return size == 3 ? nil : make(.sqxtun)
        default: break
        }
        if scalar { return nil }
        switch (u, f.o) {
        case (false, 0b00000): return size == 3 ? nil : make(.rev, imm: 3)
        case (true, 0b00000): return size >= 2 ? nil : make(.rev, imm: 2)
        case (false, 0b00001): return size != 0 ? nil : make(.rev, imm: 1)
        case (_, 0b00010): return size == 3 ? nil : make(.addlp, sign)
        case (_, 0b00110): return size == 3 ? nil : make(.adalp, sign)
        case (false, 0b00100): return size == 3 ? nil : make(.cls)
        case (true, 0b00100): return size == 3 ? nil : make(.clz)
        case (false, 0b00101): return size != 0 ? nil : make(.cnt)
        case (true, 0b00101):
            switch size {
            case 0: return make(.not)
            case 1: return simd(.rbit, d: f.d, n: f.n, s: 0, f: base)
            default: return nil
            }
        case (false, 0b10010): return size == 3 ? nil : make(.xtn)
        case (true, 0b10011): return size == 3 ? nil : make(.shll, imm: UInt64(8 << size))
        case (_, 0b11100): return size == 2 ? make(u ? .ursqrte : .urecpe) : nil
        default: return nil
        }
    }

    private static func shiftByImmediate(_ f: Fields, scalar: Bool) -> Op? {
        guard f.h != 0 else { return nil }
        let u = f.u == 1
        let size = 31 - f.h.leadingZeroBitCount          // log2 of the element size in bytes
        let immhb = Int(f.h << 3 | f.b)
        let right = UInt64((16 << size) - immhb)           // 1...esize
        let left = UInt64(immhb - (8 << size))             // 0...esize-1
        let q = !scalar && f.Q == 1
        let base: UInt8 = (q ? SIMDFlags.q : 0) | (scalar ? SIMDFlags.scalar : 0)
        let sign: UInt8 = u ? 0 : SIMDFlags.signed
        func make(_ code: SIMDOp, _ extra: UInt8, _ amount: UInt64) -> Op {
            // USHR and SHL run on whole 64-bit halves: imm2 keeps the bits that stay inside their lane.
            var keep: UInt64 = 0
            if code == .shr && extra == 0 { keep = replicateLane(laneMask(size) >> amount, size) }
            if code == .shlImm { keep = replicateLane(laneMask(size) << amount & laneMask(size), size) }
            return simd(code, d: f.d, n: f.n, s: size, f: base | extra, imm: amount, imm2: keep)
        }
        // Same-size forms: vectors need Q for 64-bit lanes; most scalar forms exist only on D registers.
        let sameSizeOK = scalar ? size == 3 : !(size == 3 && !q)
        switch f.o {
        case 0b00000: return sameSizeOK ? make(.shr, sign, right) : nil
        case 0b00010: return sameSizeOK ? make(.sra, sign, right) : nil
        case 0b00100: return sameSizeOK ? make(.shr, sign | SIMDFlags.round, right) : nil
        case 0b00110: return sameSizeOK ? make(.sra, sign | SIMDFlags.round, right) : nil
        case 0b01000: return sameSizeOK && u ? make(.sri, 0, right) : nil
        case 0b01010: return sameSizeOK ? make(u ? .sli : .shlImm, 0, left) : nil
        case 0b01100, 0b01110:
            if !scalar && size == 3 && !q { return nil }
            if f.o == 0b01100 { return u ? make(.sqshlu, 0, left) : nil }
            return make(.qshlImm, sign, left)
        case 0b10000, 0b10001, 0b10010, 0b10011:
            if size == 3 { return nil }
            let round = f.o & 1 == 1 ? SIMDFlags.round : 0
            if f.o < 0b10010 {
                if u { return make(.sqshrun, round, right) }
                return scalar ? nil : make(.shrn, round, right)
            }
            return make(.qshrn, sign | round, right)
        case 0b10100:
            return scalar || size == 3 ? nil : make(.shll, sign, left)
        default:
            return nil
        }
    }

    private static func indexed(_ f: Fields, scalar: Bool) -> Op? {
        let u = f.u == 1
        let size = Int(f.z)
        let index: UInt32, m: UInt32
        switch size {
        case 1: index = f.H << 2 | f.L << 1 | f.M; m = f.m
        case 2: index = f.H << 1 | f.L; m = f.M << 4 | f.m
        default: return nil
        }
        let q = !scalar && f.Q == 1
        let base: UInt8 = (q ? SIMDFlags.q : 0) | (scalar ? SIMDFlags.scalar : 0) | SIMDFlags.byElement
        let sign: UInt8 = u ? 0 : SIMDFlags.signed
        func make(_ code: SIMDOp, _ extra: UInt8 = 0) -> Op {
            simd(code, d: f.d, n: f.n, m: m, s: size, f: base | extra, imm2: UInt64(index))
        }
        switch (u, f.o) {
        case (false, 0b0011): return make(.sqdmlal, SIMDFlags.signed)
        case (false, 0b0111): return make(.sqdmlsl, SIMDFlags.signed)
        case (false, 0b1011): return make(.sqdmull, SIMDFlags.signed)
        case (false, 0b1100): return make(.sqdmulh)
        case (false, 0b1101): return make(.sqdmulh, SIMDFlags.round)
        case (true, 0b1101): return make(.sqrdmlah)
        case (true, 0b1111): return make(.sqrdmlsh)
        default: break
        }
        if scalar { return nil }
        switch (u, f.o) {
        case (true, 0b0000): return make(.mla)
        case (true, 0b0100): return make(.mls)
        case (false, 0b1000): return make(.mul)
        case (_, 0b0010): return make(.mlal, sign)
        case (_, 0b0110): return make(.mlsl, sign)
        case (_, 0b1010): return make(.mull, sign)
        case (_, 0b1110): return size == 2 ? make(.dot, sign) : nil
        default: return nil
        }
    }
}
