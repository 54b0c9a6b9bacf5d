// The software floating-point core: half, single and double precision exactly as the Arm ARM's pseudocode
// (shared/functions/float: FPUnpackBase, FPRoundBase, FPProcessNaN(s), FPAdd, FPMulAdd, FPToFixed, ...) defines
// them, with FPCR.{RMode, FZ, FZ16, DN, AHP} honoured and the FPSR cumulative flags raised as it says.
// SPDX-License-Identifier: GPL-2.0-or-later
//
// Which path each operation takes: every arithmetic operation, conversion and comparison goes through this
// software path; nothing uses the host's FPU. x86-64's SSE picks a different NaN when both operands are NaNs,
// returns its own default NaN (sign set), flushes denormals after rounding where Arm flushes before, reports
// underflow and input-denormal differently, and its MXCSR would have to be switched per instruction for FPCR's
// rounding mode. Proving a host fast path identical for a subset (e.g. both operands normal, result normal,
// round-to-nearest) is left to the compiler work of issue 17, which can measure it; the bit operations
// (FABS, FNEG, FMOV, FCSEL) never needed arithmetic.
//
// Representation: operands and results are raw bit patterns in the low bits of a UInt64; `s` is log2 of the
// format's size in bytes (1 half, 2 single, 3 double). A finite non-zero value is kept exactly as
// `mant * 2^exp` with an integer mantissa, so every operation computes the exact real result the pseudocode
// names (with a sticky bit where it cannot be held) and rounds once, in `round`.
// Nothing here allocates, traps or takes a lock; guest bits cannot make any arithmetic overflow.

/// FPSR cumulative exception bits.
enum FPSRBit {
    static let ioc: UInt32 = 1 << 0
    static let dzc: UInt32 = 1 << 1
    static let ofc: UInt32 = 1 << 2
    static let ufc: UInt32 = 1 << 3
    static let ixc: UInt32 = 1 << 4
    static let idc: UInt32 = 1 << 7
    static let qc: UInt32 = 1 << 27
}

/// FPRounding; the first four are FPCR.RMode's encodings.
enum FPRounding: UInt8 {
    case tieEven = 0, posInf = 1, negInf = 2, zero = 3, tieAway = 4, odd = 5
}

/// The FPCR controls one operation sees and the FPSR flags it raises. Callers OR `flags` into FPSR afterwards.
struct FPEnvironment {
    let fpcr: UInt32
    var flags: UInt32 = 0

    init(fpcr: UInt32) { self.fpcr = fpcr }

    @inline(__always) var rounding: FPRounding {
        FPRounding(rawValue: UInt8(truncatingIfNeeded: (fpcr >> 22) & 3)) ?? .tieEven
    }
    @inline(__always) var defaultNaN: Bool { fpcr & (1 << 25) != 0 }
    @inline(__always) var flushToZero: Bool { fpcr & (1 << 24) != 0 }
    @inline(__always) var flushToZero16: Bool { fpcr & (1 << 19) != 0 }
    @inline(__always) var alternativeHalf: Bool { fpcr & (1 << 26) != 0 }

    @inline(__always) mutating func raise(_ bit: UInt32) { flags |= bit }
}

enum FPType: UInt8 { case zero, nonzero, infinity, quietNaN, signallingNaN }

/// An unpacked operand: `value = (sign ? -1 : 1) * mant * 2^exp` for zero and non-zero types.
struct FPUnpacked {
    var type: FPType
    var sign: Bool
    var exp: Int
    var mant: UInt64

    var isNaN: Bool { type == .quietNaN || type == .signallingNaN }
}

enum SoftFloat {
    // MARK: format parameters

    @inline(__always) static func exponentBits(_ s: Int) -> Int { s == 1 ? 5 : s == 2 ? 8 : 11 }
    @inline(__always) static func fractionBits(_ s: Int) -> Int { s == 1 ? 10 : s == 2 ? 23 : 52 }
    @inline(__always) static func bias(_ s: Int) -> Int { (1 << (exponentBits(s) - 1)) - 1 }
    @inline(__always) static func signBit(_ s: Int) -> UInt64 { 1 << UInt64((8 << s) - 1) }
    @inline(__always) static func formatMask(_ s: Int) -> UInt64 { s >= 3 ? .max : (1 << UInt64(8 << s)) - 1 }

    static func zero(_ sign: Bool, _ s: Int) -> UInt64 { sign ? signBit(s) : 0 }
    static func infinity(_ sign: Bool, _ s: Int) -> UInt64 {
        zero(sign, s) | (((1 << UInt64(exponentBits(s))) - 1) << UInt64(fractionBits(s)))
    }
    static func maxNormal(_ sign: Bool, _ s: Int) -> UInt64 {
        zero(sign, s) | ((((1 << UInt64(exponentBits(s))) - 2) << UInt64(fractionBits(s)))
                         | ((1 << UInt64(fractionBits(s))) - 1))
    }
    static func defaultNaN(_ s: Int) -> UInt64 { infinity(false, s) | (1 << UInt64(fractionBits(s) - 1)) }
    /// `value * 2^power` for a small integer `value` (FPTwo, FPThree, FPOnePointFive).
    static func constant(_ sign: Bool, mantissa: UInt64, exponent: Int, _ s: Int) -> UInt64 {
        var e = FPEnvironment(fpcr: 0)
        return round(sign, exponent, UInt128(mantissa), sticky: false, s, &e, .tieEven)
    }
    @inline(__always) static func negate(_ bits: UInt64, _ s: Int) -> UInt64 { bits ^ signBit(s) }
    @inline(__always) static func absolute(_ bits: UInt64, _ s: Int) -> UInt64 { bits & ~signBit(s) }

    // MARK: FPUnpackBase

    /// FPUnpack (`conversion` false: AHP ignored, FZ16 honoured) or FPUnpackCV (`conversion` true: AHP
    /// honoured, FZ16 ignored). Raises IDC when FZ flushes a single or double denormal.
    static func unpack(_ bits: UInt64, _ s: Int, _ env: inout FPEnvironment, conversion: Bool = false) -> FPUnpacked {
        let f = fractionBits(s), e = exponentBits(s)
        let sign = bits & signBit(s) != 0
        let exponent = Int((bits >> UInt64(f)) & ((1 << UInt64(e)) - 1))
        let fraction = bits & ((1 << UInt64(f)) - 1)
        let minExp = 1 - bias(s)
        if exponent == 0 {
            if fraction == 0 { return FPUnpacked(type: .zero, sign: sign, exp: 0, mant: 0) }
            if s == 1 {
                if env.flushToZero16 && !conversion { return FPUnpacked(type: .zero, sign: sign, exp: 0, mant: 0) }
            } else if env.flushToZero {
                env.raise(FPSRBit.idc)
                return FPUnpacked(type: .zero, sign: sign, exp: 0, mant: 0)
            }
            return FPUnpacked(type: .nonzero, sign: sign, exp: minExp - f, mant: fraction)
        }
        if exponent == (1 << e) - 1 && !(s == 1 && conversion && env.alternativeHalf) {
            if fraction == 0 { return FPUnpacked(type: .infinity, sign: sign, exp: 0, mant: 0) }
            let quiet = fraction >> UInt64(f - 1) & 1 == 1
            return FPUnpacked(type: quiet ? .quietNaN : .signallingNaN, sign: sign, exp: 0, mant: 0)
        }
        return FPUnpacked(type: .nonzero, sign: sign, exp: exponent - bias(s) - f, mant: fraction | (1 << UInt64(f)))
    }

    // MARK: FPRoundBase

    /// Rounds the exact value `(sign ? -1 : 1) * (mant + δ) * 2^exp` (δ in (0, 1) when `sticky`, else 0) to
    /// format `s`. `mant` must not be zero; when `sticky` is set, `mant` carries at least the format's
    /// precision plus two bits. `conversion`: FPRoundCV (AHP honoured, FZ16 ignored).
    static func round(_ sign: Bool, _ exp: Int, _ mant: UInt128, sticky: Bool, _ s: Int, _ env: inout FPEnvironment,
                      _ rounding: FPRounding, conversion: Bool = false) -> UInt64 {
        let f = fractionBits(s), e = exponentBits(s)
        let minExp = 1 - bias(s)
        let signBits = zero(sign, s)
        guard mant != 0 else { return signBits }
        let top = 127 - mant.leadingZeroBitCount
        let exponent = exp + top  // floor(log2(|value|))
        let flush = s == 1 ? (env.flushToZero16 && !conversion) : env.flushToZero
        if flush && exponent < minExp {
            env.raise(FPSRBit.ufc)
            return signBits
        }
        var biased = max(exponent - minExp + 1, 0)
        let unitExponent = (biased == 0 ? minExp : exponent) - f  // weight of int_mant's lowest bit
        let shift = exp - unitExponent                             // int_mant = mant * 2^shift
        var intMant: UInt64
        var inexact: Bool
        var errorVersusHalf: Int  // -1, 0, 1: error below, at, above one half
        if shift >= 0 {
            intMant = UInt64(truncatingIfNeeded: mant << UInt128(shift))
            inexact = sticky
            errorVersusHalf = -1
        } else {
            let r = -shift
            let remainder: UInt128
            let half: UInt128
            if r > 128 {
                intMant = 0; remainder = mant; half = 0
                errorVersusHalf = -1
                inexact = true
            } else {
                intMant = r == 128 ? 0 : UInt64(truncatingIfNeeded: mant >> UInt128(r))
                remainder = r == 128 ? mant : mant & ((UInt128(1) << UInt128(r)) - 1)
                half = UInt128(1) << UInt128(r - 1)
                inexact = remainder != 0 || sticky
                errorVersusHalf = remainder > half ? 1 : remainder < half ? -1 : (sticky ? 1 : 0)
            }
        }
        if biased == 0 && inexact { env.raise(FPSRBit.ufc) }
        let roundUp: Bool, overflowToInfinity: Bool
        switch rounding {
        case .tieEven:
            roundUp = errorVersusHalf > 0 || (errorVersusHalf == 0 && intMant & 1 == 1)
            overflowToInfinity = true
        case .tieAway:
            roundUp = errorVersusHalf >= 0 && inexact
            overflowToInfinity = true
        case .posInf:
            roundUp = inexact && !sign
            overflowToInfinity = !sign
        case .negInf:
            roundUp = inexact && sign
            overflowToInfinity = sign
        case .zero, .odd:
            roundUp = false
            overflowToInfinity = false
        }
        if roundUp {
            intMant += 1
            if intMant == 1 << UInt64(f) { biased = 1 }
            if intMant == 1 << UInt64(f + 1) { biased += 1; intMant >>= 1 }
        }
        if inexact && rounding == .odd { intMant |= 1 }
        let fractionMask: UInt64 = (1 << UInt64(f)) - 1
        var result: UInt64
        if !(s == 1 && conversion && env.alternativeHalf) {
            if biased >= (1 << e) - 1 {
                result = overflowToInfinity ? infinity(sign, s) : maxNormal(sign, s)
                env.raise(FPSRBit.ofc)
                inexact = true
            } else {
                result = signBits | UInt64(biased) << UInt64(f) | intMant & fractionMask
            }
        } else if biased >= 1 << e {
            result = signBits | 0x7fff
            env.raise(FPSRBit.ioc)
            inexact = false
        } else {
            result = signBits | UInt64(biased) << UInt64(f) | intMant & fractionMask
        }
        if inexact { env.raise(FPSRBit.ixc) }
        return result
    }

    // MARK: NaNs

    /// FPProcessNaN: quiets a signalling NaN (raising IOC), or gives the default NaN under FPCR.DN.
    static func processNaN(_ type: FPType, _ bits: UInt64, _ s: Int, _ env: inout FPEnvironment) -> UInt64 {
        var result = bits & formatMask(s)
        if type == .signallingNaN {
            result |= 1 << UInt64(fractionBits(s) - 1)
            env.raise(FPSRBit.ioc)
        }
        return env.defaultNaN ? defaultNaN(s) : result
    }

    /// FPProcessNaNs: the first signalling NaN, else the first quiet NaN, else nil.
    static func processNaNs(_ a: FPUnpacked, _ b: FPUnpacked, _ x: UInt64, _ y: UInt64, _ s: Int,
                            _ env: inout FPEnvironment) -> UInt64? {
        if a.type == .signallingNaN { return processNaN(a.type, x, s, &env) }
        if b.type == .signallingNaN { return processNaN(b.type, y, s, &env) }
        if a.type == .quietNaN { return processNaN(a.type, x, s, &env) }
        if b.type == .quietNaN { return processNaN(b.type, y, s, &env) }
        return nil
    }

    /// FPProcessNaNs3, operands in the order (addend, op1, op2).
    static func processNaNs3(_ a: FPUnpacked, _ b: FPUnpacked, _ c: FPUnpacked, _ x: UInt64, _ y: UInt64, _ z: UInt64,
                             _ s: Int, _ env: inout FPEnvironment) -> UInt64? {
        if a.type == .signallingNaN { return processNaN(a.type, x, s, &env) }
        if b.type == .signallingNaN { return processNaN(b.type, y, s, &env) }
        if c.type == .signallingNaN { return processNaN(c.type, z, s, &env) }
        if a.type == .quietNaN { return processNaN(a.type, x, s, &env) }
        if b.type == .quietNaN { return processNaN(b.type, y, s, &env) }
        if c.type == .quietNaN { return processNaN(c.type, z, s, &env) }
        return nil
    }

    // MARK: exact arithmetic on unpacked values

    /// The exact sum of two non-zero values; the smaller operand is shifted with its lost bits jammed into the
    /// lowest bit, which keeps the rounding exact (at least 70 bits of guard below the larger operand).
    /// Returns mant == 0 for an exact zero.
    static func exactSum(_ signA: Bool, _ expA: Int, _ mantA: UInt128, _ signB: Bool, _ expB: Int, _ mantB: UInt128)
        -> (sign: Bool, exp: Int, mant: UInt128)
    {
        let shiftA = mantA.leadingZeroBitCount - 2, shiftB = mantB.leadingZeroBitCount - 2
        var (sa, ea, ma) = (signA, expA - shiftA, mantA << UInt128(shiftA))
        var (sb, eb, mb) = (signB, expB - shiftB, mantB << UInt128(shiftB))
        if ea < eb { swap(&sa, &sb); swap(&ea, &eb); swap(&ma, &mb) }
        let d = ea - eb
        if d >= 127 {
            mb = 1
        } else if d > 0 {
            let lost = mb & ((UInt128(1) << UInt128(d)) - 1)
            mb = mb >> UInt128(d) | (lost != 0 ? 1 : 0)
        }
        if sa == sb { return (sa, ea, ma + mb) }
        if ma >= mb { return (sa, ea, ma - mb) }
        return (sb, ea, mb - ma)
    }

    // MARK: FPAdd, FPSub

    static func add(_ x: UInt64, _ y: UInt64, _ s: Int, _ env: inout FPEnvironment, subtract: Bool = false) -> UInt64 {
        let a = unpack(x, s, &env), b = unpack(y, s, &env)
        if let nan = processNaNs(a, b, x, y, s, &env) { return nan }
        let signB = b.sign != subtract
        let infA = a.type == .infinity, infB = b.type == .infinity
        if infA && infB && a.sign != signB {
            env.raise(FPSRBit.ioc)
            return defaultNaN(s)
        }
        if (infA && !a.sign) || (infB && !signB) { return infinity(false, s) }
        if infA || infB { return infinity(true, s) }
        let rounding = env.rounding
        if a.type == .zero && b.type == .zero { return zero(a.sign == signB ? a.sign : rounding == .negInf, s) }
        if a.type == .zero { return round(signB, b.exp, UInt128(b.mant), sticky: false, s, &env, rounding) }
        if b.type == .zero { return round(a.sign, a.exp, UInt128(a.mant), sticky: false, s, &env, rounding) }
        let r = exactSum(a.sign, a.exp, UInt128(a.mant), signB, b.exp, UInt128(b.mant))
        if r.mant == 0 { return zero(rounding == .negInf, s) }
        return round(r.sign, r.exp, r.mant, sticky: false, s, &env, rounding)
    }

    // MARK: FPMul, FPMulX

    static func multiply(_ x: UInt64, _ y: UInt64, _ s: Int, _ env: inout FPEnvironment, extended: Bool = false) -> UInt64 {
        let a = unpack(x, s, &env), b = unpack(y, s, &env)
        if let nan = processNaNs(a, b, x, y, s, &env) { return nan }
        let sign = a.sign != b.sign
        let infA = a.type == .infinity, infB = b.type == .infinity
        let zeroA = a.type == .zero, zeroB = b.type == .zero
        if (infA && zeroB) || (zeroA && infB) {
            if extended { return constant(sign, mantissa: 1, exponent: 1, s) }  // FPMulX: ±2.0
            env.raise(FPSRBit.ioc)
            return defaultNaN(s)
        }
        if infA || infB { return infinity(sign, s) }
        if zeroA || zeroB { return zero(sign, s) }
        return round(sign, a.exp + b.exp, UInt128(a.mant) * UInt128(b.mant), sticky: false, s, &env, env.rounding)
    }

    // MARK: FPMulAdd

    /// FPMulAdd: addend + op1 * op2 with one rounding. Callers negate operands (FMSUB, FNMADD, FMLS) first.
    static func multiplyAdd(_ addend: UInt64, _ x: UInt64, _ y: UInt64, _ s: Int, _ env: inout FPEnvironment) -> UInt64 {
        let c = unpack(addend, s, &env), a = unpack(x, s, &env), b = unpack(y, s, &env)
        let infA = a.type == .infinity, infB = b.type == .infinity
        let zeroA = a.type == .zero, zeroB = b.type == .zero
        let nan = processNaNs3(c, a, b, addend, x, y, s, &env)
        if c.type == .quietNaN && ((infA && zeroB) || (zeroA && infB)) {
            env.raise(FPSRBit.ioc)
            return defaultNaN(s)
        }
        if let nan { return nan }
        let infC = c.type == .infinity, zeroC = c.type == .zero
        let signP = a.sign != b.sign
        let infP = infA || infB, zeroP = zeroA || zeroB
        if (infA && zeroB) || (zeroA && infB) || (infC && infP && c.sign != signP) {
            env.raise(FPSRBit.ioc)
            return defaultNaN(s)
        }
        if (infC && !c.sign) || (infP && !signP) { return infinity(false, s) }
        if infC || infP { return infinity(true, s) }
        if zeroC && zeroP && c.sign == signP { return zero(c.sign, s) }
        let rounding = env.rounding
        if zeroC && zeroP { return zero(rounding == .negInf, s) }  // opposite signs: an exact zero sum
        if zeroP { return round(c.sign, c.exp, UInt128(c.mant), sticky: false, s, &env, rounding) }
        let product = UInt128(a.mant) * UInt128(b.mant)
        if zeroC { return round(signP, a.exp + b.exp, product, sticky: false, s, &env, rounding) }
        let r = exactSum(c.sign, c.exp, UInt128(c.mant), signP, a.exp + b.exp, product)
        if r.mant == 0 { return zero(rounding == .negInf, s) }
        return round(r.sign, r.exp, r.mant, sticky: false, s, &env, rounding)
    }

    // MARK: FPDiv

    static func divide(_ x: UInt64, _ y: UInt64, _ s: Int, _ env: inout FPEnvironment) -> UInt64 {
        let a = unpack(x, s, &env), b = unpack(y, s, &env)
        if let nan = processNaNs(a, b, x, y, s, &env) { return nan }
        let sign = a.sign != b.sign
        let infA = a.type == .infinity, infB = b.type == .infinity
        let zeroA = a.type == .zero, zeroB = b.type == .zero
        if (infA && infB) || (zeroA && zeroB) {
            env.raise(FPSRBit.ioc)
            return defaultNaN(s)
        }
        if infA || zeroB {
            if !infA { env.raise(FPSRBit.dzc) }
            return infinity(sign, s)
        }
        if zeroA || infB { return zero(sign, s) }
        // Normalise both mantissas to bit 52, then a 74-bit-shifted quotient has at least 73 bits.
        let na = a.mant.leadingZeroBitCount - 11, nb = b.mant.leadingZeroBitCount - 11
        let ma = UInt128(a.mant << UInt64(na)) << 74, mb = UInt128(b.mant << UInt64(nb))
        let (q, r) = ma.quotientAndRemainder(dividingBy: mb)
        let exp = (a.exp - na - 74) - (b.exp - nb)
        return round(sign, exp, q, sticky: r != 0, s, &env, env.rounding)
    }

    // MARK: FPSqrt

    static func squareRoot(_ x: UInt64, _ s: Int, _ env: inout FPEnvironment) -> UInt64 {
        let a = unpack(x, s, &env)
        switch a.type {
        case .quietNaN, .signallingNaN: return processNaN(a.type, x, s, &env)
        case .zero: return zero(a.sign, s)
        case .infinity where !a.sign: return infinity(false, s)
        default: break
        }
        if a.sign {
            env.raise(FPSRBit.ioc)
            return defaultNaN(s)
        }
        // mant * 2^exp with mant normalised to bit 52 and exp even; scale by 2^70 so the root has >= 61 bits.
        var shift = a.mant.leadingZeroBitCount - 11
        var exp = a.exp - shift
        if exp & 1 != 0 { shift += 1; exp -= 1 }
        let radicand = UInt128(a.mant) << UInt128(shift + 70)
        let (root, exact) = integerSquareRoot(radicand)
        return round(false, (exp - 70) / 2, root, sticky: !exact, s, &env, env.rounding)
    }

    /// floor(sqrt(v)) and whether it is exact, bit by bit (v < 2^126).
    static func integerSquareRoot(_ v: UInt128) -> (UInt128, Bool) {
        var remainder = v
        var root: UInt128 = 0
        var bit: UInt128 = 1 << 126
        while bit > v { bit >>= 2 }
        while bit != 0 {
            if remainder >= root + bit {
                remainder -= root + bit
                root = (root >> 1) + bit
            } else {
                root >>= 1
            }
            bit >>= 2
        }
        return (root, remainder == 0)
    }

    // MARK: FPMax, FPMin, FPMaxNum, FPMinNum

    static func maxMin(_ x: UInt64, _ y: UInt64, _ s: Int, _ env: inout FPEnvironment, max: Bool, number: Bool) -> UInt64 {
        var x = x, y = y
        if number {
            var probe = FPEnvironment(fpcr: env.fpcr)  // only the types; the flags come from the real pass below
            let a = unpack(x, s, &probe), b = unpack(y, s, &probe)
            // A single quiet NaN loses: it becomes the infinity that the other operand always beats.
            if a.type == .quietNaN && b.type != .quietNaN { x = infinity(max, s) }
            else if a.type != .quietNaN && b.type == .quietNaN { y = infinity(max, s) }
        }
        let a = unpack(x, s, &env), b = unpack(y, s, &env)
        if let nan = processNaNs(a, b, x, y, s, &env) { return nan }
        let aGreater = compareValues(a, b) > 0
        let pick = aGreater == max ? a : b
        switch pick.type {
        case .infinity: return infinity(pick.sign, s)
        case .zero:
            let sign = max ? (a.sign && b.sign) : (a.sign || b.sign)
            return zero(sign, s)
        default:
            return round(pick.sign, pick.exp, UInt128(pick.mant), sticky: false, s, &env, env.rounding)
        }
    }

    /// Orders two non-NaN unpacked values: -1, 0, 1.
    static func compareValues(_ a: FPUnpacked, _ b: FPUnpacked) -> Int {
        func key(_ v: FPUnpacked) -> (Int, Int, UInt128) {  // (class, exponent, mantissa) of the magnitude
            switch v.type {
            case .zero: return (0, 0, 0)
            case .infinity: return (2, 0, 0)
            default:
                let shift = v.mant.leadingZeroBitCount
                return (1, v.exp - shift, UInt128(v.mant << UInt64(shift)))
            }
        }
        let ka = key(a), kb = key(b)
        let magnitude: Int = ka == kb ? 0 : (ka < kb ? -1 : 1)
        if ka.0 == 0 && kb.0 == 0 { return 0 }
        if a.sign != b.sign { return a.sign ? -1 : 1 }
        return a.sign ? -magnitude : magnitude
    }

    // MARK: FPCompare and the vector compares

    /// FPCompare: NZCV as 0b0011 (unordered), 0b0110 (equal), 0b1000 (less), 0b0010 (greater), in bits 31:28.
    static func compare(_ x: UInt64, _ y: UInt64, _ s: Int, _ env: inout FPEnvironment, signalAllNaNs: Bool) -> UInt32 {
        let a = unpack(x, s, &env), b = unpack(y, s, &env)
        if a.isNaN || b.isNaN {
            if a.type == .signallingNaN || b.type == .signallingNaN || signalAllNaNs { env.raise(FPSRBit.ioc) }
            return 0x3000_0000
        }
        switch compareValues(a, b) {
        case 0: return 0x6000_0000
        case -1: return 0x8000_0000
        default: return 0x2000_0000
        }
    }

    enum Relation { case equal, greaterOrEqual, greater }

    /// FPCompareEQ/GE/GT: false for NaNs; EQ signals only signalling NaNs, GE and GT every NaN.
    static func compare(_ x: UInt64, _ y: UInt64, _ s: Int, _ env: inout FPEnvironment, _ relation: Relation) -> Bool {
        let a = unpack(x, s, &env), b = unpack(y, s, &env)
        if a.isNaN || b.isNaN {
            if relation != .equal || a.type == .signallingNaN || b.type == .signallingNaN { env.raise(FPSRBit.ioc) }
            return false
        }
        let c = compareValues(a, b)
        switch relation {
        case .equal: return c == 0
        case .greaterOrEqual: return c >= 0
        case .greater: return c > 0
        }
    }

    // MARK: rounding to an integral value

    /// |value| rounded to an integer by `rounding` (sign-magnitude form of the pseudocode's RoundDown plus
    /// round_up), saturated at 2^64; `inexact` when the value had a fraction.
    static func roundMagnitude(_ v: FPUnpacked, extraScale: Int, _ rounding: FPRounding)
        -> (magnitude: UInt64, huge: Bool, inexact: Bool)
    {
        guard v.type == .nonzero else { return (0, v.type == .infinity, false) }
        let exp = v.exp + extraScale
        if exp >= 0 {
            let top = 64 - v.mant.leadingZeroBitCount  // bits in mant
            if exp + top > 64 { return (.max, true, false) }
            return (v.mant << UInt64(exp), false, false)
        }
        let r = -exp
        let truncated: UInt64 = r >= 64 ? 0 : v.mant >> UInt64(r)
        let remainder: UInt128 = r >= 64 ? UInt128(v.mant) : UInt128(v.mant & ((1 << UInt64(r)) - 1))
        let half: UInt128 = UInt128(1) << UInt128(r - 1)  // r <= 1100, below: only compared when r < 128
        let inexact = remainder != 0
        let versusHalf: Int = r > 127 ? -1 : (remainder > half ? 1 : remainder < half ? -1 : 0)
        let roundUp: Bool
        switch rounding {
        case .tieEven: roundUp = versusHalf > 0 || (versusHalf == 0 && truncated & 1 == 1)
        case .tieAway: roundUp = versusHalf >= 0
        case .posInf: roundUp = inexact && !v.sign
        case .negInf: roundUp = inexact && v.sign
        case .zero, .odd: roundUp = false
        }
        if roundUp {
            if truncated == .max { return (.max, true, inexact) }
            return (truncated + 1, false, inexact)
        }
        return (truncated, false, inexact)
    }

    /// FPRoundInt (FRINTN/P/M/Z/A/I/X; `exact` raises Inexact as FRINTX does).
    static func roundToIntegral(_ x: UInt64, _ s: Int, _ env: inout FPEnvironment, _ rounding: FPRounding,
                                exact: Bool) -> UInt64 {
        let a = unpack(x, s, &env)
        switch a.type {
        case .quietNaN, .signallingNaN: return processNaN(a.type, x, s, &env)
        case .infinity: return infinity(a.sign, s)
        case .zero: return zero(a.sign, s)
        case .nonzero: break
        }
        if a.exp >= 0 { return round(a.sign, a.exp, UInt128(a.mant), sticky: false, s, &env, .zero) }
        let r = roundMagnitude(a, extraScale: 0, rounding)
        let result = r.magnitude == 0 ? zero(a.sign, s)
            : round(a.sign, 0, UInt128(r.magnitude), sticky: false, s, &env, .zero)
        if r.inexact && exact { env.raise(FPSRBit.ixc) }
        return result
    }

    // MARK: FPToFixed, FixedToFP

    /// FPToFixed to a `width`-bit integer (32 or 64) with `fractionBits` fraction bits, saturating; the result
    /// is zero-extended from `width` bits.
    static func toFixed(_ x: UInt64, _ s: Int, _ env: inout FPEnvironment, fractionBits fbits: Int, unsigned: Bool,
                        width: Int, _ rounding: FPRounding) -> UInt64 {
        let a = unpack(x, s, &env)
        if a.isNaN {
            env.raise(FPSRBit.ioc)
            return 0
        }
        let r = roundMagnitude(a, extraScale: fbits, rounding)
        let widthMask: UInt64 = width >= 64 ? .max : (1 << UInt64(width)) - 1
        // Bounds of the destination, as magnitudes: unsigned [0, 2^w - 1]; signed [-2^(w-1), 2^(w-1) - 1].
        var result: UInt64
        var overflow = false
        if unsigned {
            if a.sign && (r.magnitude != 0 || r.huge) { result = 0; overflow = true }
            else if r.huge || r.magnitude > widthMask { result = widthMask; overflow = true }
            else { result = r.magnitude }
        } else {
            let limit: UInt64 = 1 << UInt64(width - 1)
            if a.sign {
                if r.huge || r.magnitude > limit { result = limit; overflow = true }
                else { result = (0 &- r.magnitude) & widthMask }
            } else {
                if r.huge || r.magnitude >= limit { result = limit - 1; overflow = true }
                else { result = r.magnitude }
            }
        }
        if overflow { env.raise(FPSRBit.ioc) } else if r.inexact { env.raise(FPSRBit.ixc) }
        return result & widthMask
    }

    /// FixedToFP: the `width`-bit integer `value` (signed or not) divided by 2^fractionBits, rounded to `s`.
    static func fromFixed(_ value: UInt64, width: Int, unsigned: Bool, fractionBits fbits: Int, _ s: Int,
                          _ env: inout FPEnvironment, _ rounding: FPRounding) -> UInt64 {
        let widthMask: UInt64 = width >= 64 ? .max : (1 << UInt64(width)) - 1
        var v = value & widthMask
        var sign = false
        if !unsigned && v >> UInt64(width - 1) & 1 == 1 {
            sign = true
            v = (0 &- v) & widthMask
        }
        if v == 0 { return zero(false, s) }
        return round(sign, -fbits, UInt128(v), sticky: false, s, &env, rounding)
    }

    // MARK: FPConvert

    /// FPConvert from format `s` to format `t` (FCVT, FCVTN, FCVTL; FCVTXN with `.odd`).
    static func convert(_ x: UInt64, from s: Int, to t: Int, _ env: inout FPEnvironment, _ rounding: FPRounding) -> UInt64 {
        let a = unpack(x, s, &env, conversion: true)
        let alternativeHalf = t == 1 && env.alternativeHalf
        switch a.type {
        case .quietNaN, .signallingNaN:
            let result: UInt64
            if alternativeHalf { result = zero(a.sign, t) }
            else if env.defaultNaN { result = defaultNaN(t) }
            else {
                // FPConvertNaN: the payload below the quiet bit, kept from its top.
                let f = fractionBits(s), g = fractionBits(t)
                let payload = x & ((1 << UInt64(f - 1)) - 1)
                let aligned = payload << UInt64(64 - (f - 1))
                let moved = g - 1 == 0 ? 0 : aligned >> UInt64(64 - (g - 1))
                result = infinity(a.sign, t) | (1 << UInt64(g - 1)) | moved
            }
            if a.type == .signallingNaN || alternativeHalf { env.raise(FPSRBit.ioc) }
            return result
        case .infinity:
            if alternativeHalf {
                env.raise(FPSRBit.ioc)
                return zero(a.sign, t) | 0x7fff
            }
            return infinity(a.sign, t)
        case .zero:
            return zero(a.sign, t)
        case .nonzero:
            return round(a.sign, a.exp, UInt128(a.mant), sticky: false, t, &env, rounding, conversion: true)
        }
    }

    // MARK: estimates

    /// RecipEstimate: a 9-bit fixed-point estimate of 1/a for a in [256, 512) (units of 1/512).
    static func reciprocalEstimate(_ a: Int) -> Int {
        let b = (1 << 19) / (a * 2 + 1)
        return (b + 1) >> 1
    }

    /// RecipSqrtEstimate for a in [128, 512).
    static func reciprocalSquareRootEstimate(_ a: Int) -> Int {
        var a = a
        if a < 256 { a = a * 2 + 1 } else { a = (a >> 1) << 1; a = (a + 1) * 2 }
        var b = 512
        while a * (b + 1) * (b + 1) < 1 << 28 { b += 1 }
        return (b + 1) >> 1
    }

    /// FPRecipEstimate (FRECPE).
    static func recipEstimate(_ x: UInt64, _ s: Int, _ env: inout FPEnvironment) -> UInt64 {
        let a = unpack(x, s, &env)
        switch a.type {
        case .quietNaN, .signallingNaN: return processNaN(a.type, x, s, &env)
        case .infinity: return zero(a.sign, s)
        case .zero:
            env.raise(FPSRBit.dzc)
            return infinity(a.sign, s)
        case .nonzero: break
        }
        let log2 = a.exp + (63 - a.mant.leadingZeroBitCount)  // floor(log2 |value|)
        let tinyBound = s == 1 ? -16 : s == 2 ? -128 : -1024
        if log2 < tinyBound {
            let toInfinity: Bool
            switch env.rounding {
            case .tieEven, .tieAway: toInfinity = true
            case .posInf: toInfinity = !a.sign
            case .negInf: toInfinity = a.sign
            case .zero, .odd: toInfinity = false
            }
            env.raise(FPSRBit.ofc)
            env.raise(FPSRBit.ixc)
            return toInfinity ? infinity(a.sign, s) : maxNormal(a.sign, s)
        }
        let flushes = s == 1 ? env.flushToZero16 : env.flushToZero
        let hugeBound = s == 1 ? 14 : s == 2 ? 126 : 1022
        if flushes && log2 >= hugeBound {
            env.raise(FPSRBit.ufc)
            return zero(a.sign, s)
        }
        let f = fractionBits(s)
        var fraction = (x & ((1 << UInt64(f)) - 1)) << UInt64(52 - f)  // 52-bit fraction
        var exp = Int((x >> UInt64(f)) & ((1 << UInt64(exponentBits(s))) - 1))
        if exp == 0 {
            if fraction >> 51 & 1 == 0 { exp = -1; fraction = (fraction << 2) & ((1 << 52) - 1) }
            else { fraction = (fraction << 1) & ((1 << 52) - 1) }
        }
        let scaled = Int(1 << 8 | (fraction >> 44) & 0xff)
        var resultExp = (s == 1 ? 29 : s == 2 ? 253 : 2045) - exp
        let estimate = reciprocalEstimate(scaled)
        var resultFraction = UInt64(estimate & 0xff) << 44
        if resultExp == 0 {
            resultFraction = 1 << 51 | resultFraction >> 1
        } else if resultExp == -1 {
            resultFraction = 1 << 50 | resultFraction >> 2
            resultExp = 0
        }
        return zero(a.sign, s) | UInt64(truncatingIfNeeded: resultExp) << UInt64(f) | resultFraction >> UInt64(52 - f)
    }

    /// FPRSqrtEstimate (FRSQRTE).
    static func rsqrtEstimate(_ x: UInt64, _ s: Int, _ env: inout FPEnvironment) -> UInt64 {
        let a = unpack(x, s, &env)
        switch a.type {
        case .quietNaN, .signallingNaN: return processNaN(a.type, x, s, &env)
        case .zero:
            env.raise(FPSRBit.dzc)
            return infinity(a.sign, s)
        default: break
        }
        if a.sign {
            env.raise(FPSRBit.ioc)
            return defaultNaN(s)
        }
        if a.type == .infinity { return zero(false, s) }
        let f = fractionBits(s)
        var fraction = (x & ((1 << UInt64(f)) - 1)) << UInt64(52 - f)
        var exp = Int((x >> UInt64(f)) & ((1 << UInt64(exponentBits(s))) - 1))
        if exp == 0 {
            while fraction >> 51 & 1 == 0 { fraction = (fraction << 1) & ((1 << 52) - 1); exp -= 1 }
            fraction = (fraction << 1) & ((1 << 52) - 1)
        }
        let scaled = exp & 1 == 0 ? Int(1 << 8 | (fraction >> 44) & 0xff) : Int(1 << 7 | (fraction >> 45) & 0x7f)
        let base = s == 1 ? 44 : s == 2 ? 380 : 3068
        let resultExp = (base - exp) >> 1  // base - exp > 0: DIV is a shift
        let estimate = reciprocalSquareRootEstimate(scaled)
        return UInt64(truncatingIfNeeded: resultExp) << UInt64(f) | UInt64(estimate & 0xff) << UInt64(f - 8)
    }

    /// FPRecpX (FRECPX).
    static func recipExponent(_ x: UInt64, _ s: Int, _ env: inout FPEnvironment) -> UInt64 {
        let a = unpack(x, s, &env)
        if a.isNaN { return processNaN(a.type, x, s, &env) }
        let f = fractionBits(s), e = exponentBits(s)
        let expMask: UInt64 = (1 << UInt64(e)) - 1
        let exp = (x >> UInt64(f)) & expMask
        let resultExp = exp == 0 ? expMask - 1 : ~exp & expMask
        return zero(a.sign, s) | resultExp << UInt64(f)
    }

    /// FPRecipStepFused (FRECPS, 2 - a*b) and FPRSqrtStepFused (FRSQRTS, (3 - a*b) / 2).
    static func step(_ x: UInt64, _ y: UInt64, _ s: Int, _ env: inout FPEnvironment, squareRoot: Bool) -> UInt64 {
        let nx = negate(x, s)
        let a = unpack(nx, s, &env), b = unpack(y, s, &env)
        if let nan = processNaNs(a, b, nx, y, s, &env) { return nan }
        let infA = a.type == .infinity, infB = b.type == .infinity
        let zeroA = a.type == .zero, zeroB = b.type == .zero
        if (infA && zeroB) || (zeroA && infB) {
            return squareRoot ? constant(false, mantissa: 3, exponent: -1, s) : constant(false, mantissa: 1, exponent: 1, s)
        }
        if infA || infB { return infinity(a.sign != b.sign, s) }
        let rounding = env.rounding
        // 2 + a*b, or (3 + a*b) / 2 = 1.5 + a*b/2: the halving is exact in the unbounded exponent range.
        let constantExp = squareRoot ? -1 : 1
        let constantMant: UInt128 = squareRoot ? 3 : 1
        if zeroA || zeroB {
            return round(false, constantExp, constantMant, sticky: false, s, &env, rounding)
        }
        let productExp = a.exp + b.exp - (squareRoot ? 1 : 0)
        let r = exactSum(false, constantExp, constantMant, a.sign != b.sign, productExp, UInt128(a.mant) * UInt128(b.mant))
        if r.mant == 0 { return zero(rounding == .negInf, s) }
        return round(r.sign, r.exp, r.mant, sticky: false, s, &env, rounding)
    }
}
