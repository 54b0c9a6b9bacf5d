// Arm ARM C4.1.96: Data Processing -- Scalar Floating-Point (half, single, double), decoded to `.fp` ops that
// Execute/FloatingPointExecute.swift runs on the software core in FloatingPoint/SoftFloat.swift.
// SPDX-License-Identifier: GPL-2.0-or-later

/// The operation of an `.fp` op, kept in `Op.a`.
///
/// Fields: `d`, `n`, `m` are V registers (X slots where noted), `s` = log2 of the element size in bytes
/// (1 half, 2 single, 3 double), `f` = `FPFlags`. Scalar forms write lane 0 and zero the rest of V[d];
/// vector forms (`FPFlags.vector`) run every lane of a 64- or 128-bit vector.
enum FPOp: UInt8 {
    // Two operands, per lane: d = n op m
    case add, sub, mul, div, nmul, max, min, maxnm, minnm, mulx, abd, recps, rsqrts
    // Compares giving all-ones/zero lanes: d = n op m (m = zero: `FPFlags.zero`); le0/lt0 compare zero with n
    case cmeq, cmge, cmgt, acge, acgt, cmle0, cmlt0
    // Fused multiply-add: d = a + n * m; imm bit 0 negates n (the product), bit 1 negates a. Scalar: a = V[imm2];
    // vector: a = V[d]
    case fma
    // One operand, per lane
    case mov, abs, neg, sqrt, recpe, rsqrte, recpx
    case roundInt     // imm = FPRounding raw value (7: FPCR's); f.exact: FRINTX
    case convert      // FCVT: s = source size, imm = destination size
    case toInt        // FCVT{N,P,M,Z,A}{S,U}: scalar: d = X slot; imm = rounding (7: FPCR), imm2 = fraction bits;
                      // f.unsigned, f.sf (64-bit integer)
    case fromInt      // SCVTF/UCVTF: scalar: n = X slot; imm2 = fraction bits; f.unsigned, f.sf
    case compare      // FCMP/FCMPE: NZCV = compare(n, m or zero); f.signal, f.zero
    case condCompare  // FCCMP/FCCMPE: imm = condition, imm2 = NZCV when it fails; f.signal
    case select       // FCSEL: imm = condition
    case movImm       // FMOV (scalar, immediate): imm = bits
    case toGeneral16, fromGeneral16 // FMOV between Hn and Wd/Xd: X slot d or n
    // Pairwise (vector: lanes of n then m; scalar: the two lanes of n) and across lanes
    case addp, maxp, minp, maxnmp, minnmp
    case maxv, minv, maxnmv, minnmv
    // Narrowing (s = destination size; f.q: the upper half) and lengthening (s = source size; f.q: upper half)
    case narrow       // FCVTN, FCVTXN (imm = FPRounding.odd)
    case lengthen     // FCVTL

    static let last = FPOp.lengthen
}

/// `Op.f` bits for `.fp` ops.
enum FPFlags {
    /// Every lane of a vector (else scalar: lane 0 only, the rest of the destination zeroed).
    static let vector: UInt8 = 1
    /// 128-bit vector (or the "2" upper-half form of a narrowing or lengthening conversion).
    static let q: UInt8 = 2
    /// Unsigned integer side of a conversion.
    static let unsigned: UInt8 = 4
    /// 64-bit general register side of a conversion.
    static let sf: UInt8 = 8
    /// FCMPE/FCCMPE: quiet NaNs signal too.
    static let signal: UInt8 = 16
    /// The second operand is zero (FCMP #0.0, FCMxx #0.0).
    static let zero: UInt8 = 32
    /// The second operand is lane `imm2` of V[m] (by-element forms); for FRINT, FRINTX (raises Inexact).
    static let byElement: UInt8 = 64
    static let exact: UInt8 = 64
    /// An instruction of the scalar FP class (not AdvSIMD scalar): conversions take or give a general register
    /// (X slot d or n), and FMADD's addend is V[imm2].
    static let scalarFP: UInt8 = 128
}

/// Rounding selector meaning "FPCR.RMode".
let roundingFromFPCR: UInt64 = 7

@inline(__always) func fpOp(_ op: FPOp, d: UInt32, n: UInt32, m: UInt32 = 0, s: Int, f: UInt8 = 0,
                            imm: UInt64 = 0, imm2: UInt64 = 0) -> Op {
    Op(.fp, d: Int(d), n: Int(n), m: Int(m), a: Int(op.rawValue), s: s, f: f, imm: imm, imm2: imm2)
}

/// The scalar FP type field (ftype/type): 00 single, 01 double, 11 half; 10 is unallocated.
@inline(__always) func scalarFPSize(_ type: UInt32) -> Int? {
    switch type {
    case 0: return 2
    case 1: return 3
    case 3: return 1
    default: return nil
    }
}

/// VFPExpandImm for half precision: a:NOT(b):bb:cdefgh:Zeros(6).
func fpImmediate16(_ imm8: UInt32) -> UInt64 {
    let a = UInt64(imm8 >> 7) & 1, b = UInt64(imm8 >> 6) & 1, cdefgh = UInt64(imm8) & 0x3f
    let exponent = (b ^ 1) << 4 | (b == 1 ? 0xc : 0) | cdefgh >> 4
    return a << 15 | exponent << 10 | (cdefgh & 0xf) << 6
}

enum FloatingPoint {
    static let encodings: [A64Encoding] = [
        // Conversion between floating-point and fixed-point
        A64Encoding("FP_fixed_conversion", "z0011110tt0rrooocccccc" + "nnnnnddddd") { f, _ in
            fixedPointConversion(f)
        },
        // Conversion between floating-point and integer (incl. FMOV general)
        A64Encoding("FP_integer_conversion", "z0011110tt1rrooo000000nnnnnddddd") { f, _ in
            integerConversion(f)
        },
        // Floating-point data-processing (1 source)
        A64Encoding("FP_1source", "00011110tt1oooooo10000nnnnnddddd") { f, _ in
            oneSource(f)
        },
        // Floating-point compare
        A64Encoding("FCMP/FCMPE", "00011110tt1mmmmm001000nnnnnoo000") { f, _ in
            guard let s = scalarFPSize(f.t) else { return nil }
            let flags = (f.o & 2 != 0 ? FPFlags.signal : 0) | (f.o & 1 != 0 ? FPFlags.zero : 0)
            return fpOp(.compare, d: 0, n: f.n, m: f.o & 1 != 0 ? 0 : f.m, s: s, f: flags)
        },
        // Floating-point immediate
        A64Encoding("FMOV_scalar_imm", "00011110tt1iiiiiiii10000000ddddd") { f, _ in
            guard let s = scalarFPSize(f.t) else { return nil }
            let bits = s == 1 ? fpImmediate16(f.i) : s == 2 ? fpImmediate32(f.i) : fpImmediate64(f.i)
            // S and D: a plain immediate move on the integer SIMD path (as FMOV (register) above).
            if s >= 2 { return simd(.movi, d: f.d, n: 0, s: s, f: SIMDFlags.scalar, imm: bits) }
            return fpOp(.movImm, d: f.d, n: 0, s: s, imm: bits)
        },
        // Floating-point conditional compare
        A64Encoding("FCCMP/FCCMPE", "00011110tt1mmmmmcccc01nnnnnoffff") { f, _ in
            guard let s = scalarFPSize(f.t) else { return nil }
            return fpOp(.condCompare, d: 0, n: f.n, m: f.m, s: s, f: f.o == 1 ? FPFlags.signal : 0,
                        imm: UInt64(f.c), imm2: UInt64(f.f) << 28)
        },
        // Floating-point data-processing (2 source)
        A64Encoding("FP_2source", "00011110tt1mmmmmoooo10nnnnnddddd") { f, _ in
            guard let s = scalarFPSize(f.t) else { return nil }
            let table: [FPOp] = [.mul, .div, .add, .sub, .max, .min, .maxnm, .minnm, .nmul]
            guard Int(f.o) < table.count else { return nil }
            return fpOp(table[Int(f.o)], d: f.d, n: f.n, m: f.m, s: s)
        },
        // Floating-point conditional select
        A64Encoding("FCSEL", "00011110tt1mmmmmcccc11nnnnnddddd") { f, _ in
            guard let s = scalarFPSize(f.t) else { return nil }
            // S and D: a bit select on the integer SIMD path.
            if s >= 2 { return simd(.fcsel, d: f.d, n: f.n, m: f.m, s: s, f: SIMDFlags.scalar, imm: UInt64(f.c)) }
            return fpOp(.select, d: f.d, n: f.n, m: f.m, s: s, imm: UInt64(f.c))
        },
        // Floating-point data-processing (3 source): FMADD, FMSUB, FNMADD, FNMSUB
        A64Encoding("FP_3source", "00011111ttxmmmmmyaaaaannnnnddddd") { f, _ in
            guard let s = scalarFPSize(f.t) else { return nil }
            // o1 (x) negates the addend, o1 != o0 (y) negates the product's first operand.
            let negation: UInt64 = (f.x != f.y ? 1 : 0) | (f.x == 1 ? 2 : 0)
            return fpOp(.fma, d: f.d, n: f.n, m: f.m, s: s, f: FPFlags.scalarFP, imm: negation, imm2: UInt64(f.a))
        },
    ]

    private static func oneSource(_ f: Fields) -> Op? {
        guard let s = scalarFPSize(f.t) else { return nil }
        func make(_ code: FPOp, imm: UInt64 = 0, flags: UInt8 = 0) -> Op {
            fpOp(code, d: f.d, n: f.n, s: s, f: flags, imm: imm)
        }
        switch f.o {
        // FMOV (register) of S and D is a bit copy: the integer SIMD path's scalar DUP does it without the FP
        // core's per-lane dispatch (gcc moves spilled integers this way in hot loops).
        case 0b000000 where s >= 2: return simd(.dup, d: f.d, n: f.n, s: s, f: SIMDFlags.scalar)
        case 0b000000: return make(.mov)
        case 0b000001: return make(.abs)
        case 0b000010: return make(.neg)
        case 0b000011: return make(.sqrt)
        case 0b000100, 0b000101, 0b000111:
            guard let t = scalarFPSize(f.o & 3), t != s else { return nil }
            return make(.convert, imm: UInt64(t))
        case 0b001000: return make(.roundInt, imm: UInt64(FPRounding.tieEven.rawValue))
        case 0b001001: return make(.roundInt, imm: UInt64(FPRounding.posInf.rawValue))
        case 0b001010: return make(.roundInt, imm: UInt64(FPRounding.negInf.rawValue))
        case 0b001011: return make(.roundInt, imm: UInt64(FPRounding.zero.rawValue))
        case 0b001100: return make(.roundInt, imm: UInt64(FPRounding.tieAway.rawValue))
        case 0b001110: return make(.roundInt, imm: roundingFromFPCR, flags: FPFlags.exact)
        case 0b001111: return make(.roundInt, imm: roundingFromFPCR)
        default: return nil
        }
    }

    private static func integerConversion(_ f: Fields) -> Op? {
        let sf: UInt8 = f.z == 1 ? FPFlags.sf : 0
        // FMOV between general and FP registers
        if f.o >= 6 {
            let toGeneral = f.o == 6
            switch (f.z, f.t, f.r) {
            case (0, 0, 0), (1, 1, 0), (1, 2, 1):
                let form = f.t == 2 ? 2 : Int(f.z)  // 0: Wd <-> Sn, 1: Xd <-> Dn, 2: Xd <-> Vn.D[1]
                return toGeneral ? Op(.fmovToGeneral, d: wz(f.d), n: Int(f.n), s: form)
                                 : Op(.fmovFromGeneral, d: Int(f.d), n: rz(f.n), s: form)
            case (_, 3, 0):
                return toGeneral ? fpOp(.toGeneral16, d: UInt32(wz(f.d)), n: f.n, s: 1)
                                 : fpOp(.fromGeneral16, d: f.d, n: UInt32(rz(f.n)), s: 1)
            default:
                return nil
            }
        }
        guard let s = scalarFPSize(f.t) else { return nil }
        switch (f.r, f.o) {
        case (0, 2), (0, 3):
            return fpOp(.fromInt, d: f.d, n: UInt32(rz(f.n)), s: s, f: FPFlags.scalarFP | sf | (f.o == 3 ? FPFlags.unsigned : 0))
        case (_, 0), (_, 1), (0, 4), (0, 5):
            let rounding: FPRounding
            switch (f.r, f.o) {
            case (0, 0), (0, 1): rounding = .tieEven
            case (0, _): rounding = .tieAway
            case (1, _): rounding = .posInf
            case (2, _): rounding = .negInf
            default: rounding = .zero
            }
            return fpOp(.toInt, d: UInt32(wz(f.d)), n: f.n, s: s, f: FPFlags.scalarFP | sf | (f.o & 1 == 1 ? FPFlags.unsigned : 0),
                        imm: UInt64(rounding.rawValue))
        default:
            return nil
        }
    }

    private static func fixedPointConversion(_ f: Fields) -> Op? {
        guard let s = scalarFPSize(f.t) else { return nil }
        if f.z == 0 && f.c < 32 { return nil }
        let fractionBits = UInt64(64 - f.c)
        let sf: UInt8 = f.z == 1 ? FPFlags.sf : 0
        switch (f.r, f.o) {
        case (0, 2), (0, 3):
            return fpOp(.fromInt, d: f.d, n: UInt32(rz(f.n)), s: s, f: FPFlags.scalarFP | sf | (f.o == 3 ? FPFlags.unsigned : 0),
                        imm2: fractionBits)
        case (3, 0), (3, 1):
            return fpOp(.toInt, d: UInt32(wz(f.d)), n: f.n, s: s, f: FPFlags.scalarFP | sf | (f.o == 1 ? FPFlags.unsigned : 0),
                        imm: UInt64(FPRounding.zero.rawValue), imm2: fractionBits)
        default:
            return nil
        }
    }
}
