import Testing
@testable import Machine

// The software FP core against two independent references:
// - the host's IEEE 754 arithmetic (Swift's Double/Float/Float16: correctly rounded, round-to-nearest-even, fused
//   `addingProduct`), for operands and results where IEEE 754 and the Arm architecture agree bit for bit
//   (no NaN operands, FPCR = 0);
// - values worked out by hand from the Arm ARM pseudocode (FPProcessNaN, FPRoundBase, FPToFixed, ...) for the
//   special cases where Arm's rules are its own (which NaN wins, default NaN, flushing, saturation, flags).
// The instruction-level behaviour, with every rounding mode and FZ/DN, is compared with QEMU live by the guests
// `fp` and `fpspecial` (Tests/IntegrationTests/GuestProgramTests.swift).

private struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

private func env(_ fpcr: UInt32 = 0) -> FPEnvironment { FPEnvironment(fpcr: fpcr) }

/// Random doubles with a bias towards edge exponents (denormals, near overflow) and exact cancellations.
private func randomDouble(_ g: inout SplitMix) -> Double {
    let bits = g.next()
    switch bits & 7 {
    case 0: return Double(bitPattern: bits & 0x800f_ffff_ffff_ffff)            // denormal or zero
    case 1: return Double(bitPattern: (bits & 0x801f_ffff_ffff_ffff) | 0x7fd0_0000_0000_0000) // near overflow
    case 2: return Double(Int32(truncatingIfNeeded: bits >> 8)) / 8            // small exact values
    default:
        let d = Double(bitPattern: bits)
        return d.isNaN || d.isInfinite ? 1.5 : d
    }
}

private func randomFloat(_ g: inout SplitMix) -> Float {
    let bits = UInt32(truncatingIfNeeded: g.next())
    switch bits & 7 {
    case 0: return Float(bitPattern: bits & 0x807f_ffff)
    case 1: return Float(Int16(truncatingIfNeeded: bits >> 8)) / 4
    default:
        let f = Float(bitPattern: bits)
        return f.isNaN || f.isInfinite ? -2.5 : f
    }
}

/// The host's result as Arm would give it: an IEEE NaN result (invalid operation) is Arm's default NaN.
private func armBits(_ d: Double) -> UInt64 { d.isNaN ? 0x7ff8_0000_0000_0000 : d.bitPattern }
private func armBits(_ f: Float) -> UInt64 { f.isNaN ? 0x7fc0_0000 : UInt64(f.bitPattern) }

@Suite struct SoftFloatAgainstHostIEEE {
    @Test func doublePrecisionArithmeticIsCorrectlyRounded() {
        var g = SplitMix(state: 1)
        for _ in 0..<20_000 {
            let a = randomDouble(&g), b = randomDouble(&g), c = randomDouble(&g)
            var e = env()
            #expect(SoftFloat.add(a.bitPattern, b.bitPattern, 3, &e) == armBits(a + b), "\(a) + \(b)")
            #expect(SoftFloat.add(a.bitPattern, b.bitPattern, 3, &e, subtract: true) == armBits(a - b), "\(a) - \(b)")
            #expect(SoftFloat.multiply(a.bitPattern, b.bitPattern, 3, &e) == armBits(a * b), "\(a) * \(b)")
            #expect(SoftFloat.divide(a.bitPattern, b.bitPattern, 3, &e) == armBits(a / b), "\(a) / \(b)")
            #expect(SoftFloat.squareRoot(a.magnitude.bitPattern, 3, &e) == armBits(a.magnitude.squareRoot()), "sqrt \(a)")
            #expect(SoftFloat.multiplyAdd(c.bitPattern, a.bitPattern, b.bitPattern, 3, &e)
                    == armBits(c.addingProduct(a, b)), "\(c) + \(a) * \(b)")
        }
    }

    @Test func singlePrecisionArithmeticIsCorrectlyRounded() {
        var g = SplitMix(state: 2)
        for _ in 0..<20_000 {
            let a = randomFloat(&g), b = randomFloat(&g), c = randomFloat(&g)
            var e = env()
            let x = UInt64(a.bitPattern), y = UInt64(b.bitPattern), z = UInt64(c.bitPattern)
            #expect(SoftFloat.add(x, y, 2, &e) == armBits(a + b), "\(a) + \(b)")
            #expect(SoftFloat.multiply(x, y, 2, &e) == armBits(a * b), "\(a) * \(b)")
            #expect(SoftFloat.divide(x, y, 2, &e) == armBits(a / b), "\(a) / \(b)")
            #expect(SoftFloat.squareRoot(UInt64(a.magnitude.bitPattern), 2, &e) == armBits(a.magnitude.squareRoot()))
            #expect(SoftFloat.multiplyAdd(z, x, y, 2, &e) == armBits(c.addingProduct(a, b)), "\(c) + \(a) * \(b)")
            // Conversions: double -> single rounds like the host; single -> double is exact.
            let wide = randomDouble(&g)
            #expect(SoftFloat.convert(wide.bitPattern, from: 3, to: 2, &e, .tieEven) == armBits(Float(wide)))
            #expect(SoftFloat.convert(x, from: 2, to: 3, &e, .tieEven) == Double(a).bitPattern)
        }
    }

    #if arch(x86_64) || arch(arm64)
    @Test func halfPrecisionConversionsMatchFloat16() {
        var g = SplitMix(state: 3)
        for _ in 0..<20_000 {
            let f = randomFloat(&g) / 1000
            var e = env()
            let h = SoftFloat.convert(UInt64(f.bitPattern), from: 2, to: 1, &e, .tieEven)
            #expect(h == UInt64(Float16(f).bitPattern), "\(f)")
            let back = SoftFloat.convert(h, from: 1, to: 2, &e, .tieEven)
            #expect(back == UInt64(Float(Float16(bitPattern: UInt16(h))).bitPattern))
        }
    }
    #endif

    @Test func inexactFlagMatchesExactness() {
        var g = SplitMix(state: 4)
        for _ in 0..<5_000 {
            let a = randomDouble(&g), b = randomDouble(&g)
            let product = a * b
            guard product.isFinite, product.magnitude > 0x1p-1000 else { continue }
            var e = env()
            _ = SoftFloat.multiply(a.bitPattern, b.bitPattern, 3, &e)
            let exact = (-product).addingProduct(a, b) == 0  // the product's rounding error, computed exactly
            #expect((e.flags & FPSRBit.ixc != 0) == !exact, "\(a) * \(b)")
        }
    }

    @Test func conversionsToIntegerTruncateLikeTheHostInRange() {
        var g = SplitMix(state: 5)
        for _ in 0..<20_000 {
            let d = Double(Int64(truncatingIfNeeded: g.next())) / Double(1 << (g.next() & 31))
            guard d.magnitude < 0x1p63 else { continue }  // Int64(2^63) would trap on the host side
            var e = env()
            let r = SoftFloat.toFixed(d.bitPattern, 3, &e, fractionBits: 0, unsigned: false, width: 64, .zero)
            #expect(Int64(bitPattern: r) == Int64(d.rounded(.towardZero)))
            let n = SoftFloat.toFixed(d.bitPattern, 3, &e, fractionBits: 0, unsigned: false, width: 64, .tieEven)
            #expect(Int64(bitPattern: n) == Int64(d.rounded(.toNearestOrEven)))
            let a = SoftFloat.toFixed(d.bitPattern, 3, &e, fractionBits: 0, unsigned: false, width: 64, .tieAway)
            #expect(Int64(bitPattern: a) == Int64(d.rounded(.toNearestOrAwayFromZero)))
            let i = Int64(bitPattern: g.next())
            #expect(SoftFloat.fromFixed(UInt64(bitPattern: i), width: 64, unsigned: false, fractionBits: 0, 3, &e, .tieEven)
                    == Double(i).bitPattern)
            #expect(SoftFloat.fromFixed(UInt64(bitPattern: i), width: 64, unsigned: true, fractionBits: 0, 3, &e, .tieEven)
                    == Double(UInt64(bitPattern: i)).bitPattern)
        }
    }
}

// Expected values below are worked out from the Arm ARM pseudocode named beside each.
@Suite struct SoftFloatArmRules {
    let fz: UInt32 = 1 << 24, dn: UInt32 = 1 << 25, ahp: UInt32 = 1 << 26
    let rmMinus: UInt32 = 2 << 22, rmZero: UInt32 = 3 << 22, rmPlus: UInt32 = 1 << 22
    let sNaN: UInt64 = 0x7ff0_0000_0000_1234, qNaN: UInt64 = 0xfff8_0000_0000_5678
    let one: UInt64 = 0x3ff0_0000_0000_0000, inf: UInt64 = 0x7ff0_0000_0000_0000

    @Test func signallingNaNIsQuietedWithItsPayloadAndRaisesInvalid() {  // FPProcessNaN
        var e = env()
        #expect(SoftFloat.add(one, sNaN, 3, &e) == 0x7ff8_0000_0000_1234)
        #expect(e.flags == FPSRBit.ioc)
    }

    @Test func signallingNaNWinsOverAnEarlierQuietNaN() {  // FPProcessNaNs
        var e = env()
        #expect(SoftFloat.multiply(qNaN, sNaN, 3, &e) == 0x7ff8_0000_0000_1234)
        e = env()
        #expect(SoftFloat.multiply(qNaN, 0x7ff8_0000_0000_0001, 3, &e) == qNaN)  // first quiet NaN
        #expect(e.flags == 0)
    }

    @Test func defaultNaNModeReplacesPropagatedNaNs() {  // FPProcessNaN with FPCR.DN
        var e = env(dn)
        #expect(SoftFloat.add(qNaN, one, 3, &e) == 0x7ff8_0000_0000_0000)
        #expect(SoftFloat.add(0x7fc0_0001, 0x3f80_0000, 2, &e) == 0x7fc0_0000)
        #expect(SoftFloat.add(0x7c01, 0x3c00, 1, &e) == 0x7e00)
    }

    @Test func invalidOperationsGiveTheDefaultNaN() {  // FPAdd, FPMul, FPDiv, FPSqrt
        var e = env()
        #expect(SoftFloat.add(inf, inf | 1 << 63, 3, &e) == 0x7ff8_0000_0000_0000)
        #expect(SoftFloat.multiply(0, inf, 3, &e) == 0x7ff8_0000_0000_0000)
        #expect(SoftFloat.divide(0, 0, 3, &e) == 0x7ff8_0000_0000_0000)
        #expect(SoftFloat.squareRoot(one | 1 << 63, 3, &e) == 0x7ff8_0000_0000_0000)
        #expect(e.flags == FPSRBit.ioc)
        e = env()
        #expect(SoftFloat.divide(one, 0, 3, &e) == inf)
        #expect(e.flags == FPSRBit.dzc)
    }

    @Test func fusedMultiplyAddOfInfinityTimesZeroWithQuietNaNAddendIsInvalid() {  // FPMulAdd
        var e = env()
        #expect(SoftFloat.multiplyAdd(qNaN, inf, 0, 3, &e) == 0x7ff8_0000_0000_0000)
        #expect(e.flags == FPSRBit.ioc)
        e = env()
        #expect(SoftFloat.multiplyAdd(qNaN, one, one, 3, &e) == qNaN)
        #expect(e.flags == 0)
    }

    @Test func exactZeroSumsTakeTheirSignFromTheRoundingMode() {  // FPAdd
        var e = env()
        #expect(SoftFloat.add(one, one, 3, &e, subtract: true) == 0)
        e = env(rmMinus)
        #expect(SoftFloat.add(one, one, 3, &e, subtract: true) == 1 << 63)
        #expect(SoftFloat.add(1 << 63, 1 << 63, 3, &e) == 1 << 63)
        #expect(SoftFloat.add(1 << 63, 0, 3, &e) == 1 << 63)
        e = env()
        #expect(SoftFloat.add(1 << 63, 0, 3, &e) == 0)
    }

    @Test func flushToZeroFlushesDenormalInputsWithIDCAndOutputsWithUFC() {  // FPUnpackBase, FPRoundBase
        var e = env(fz)
        #expect(SoftFloat.add(1, 0, 3, &e) == 0)  // smallest denormal + 0
        #expect(e.flags == FPSRBit.idc)
        e = env(fz)
        let tiny: UInt64 = 0x0010_0000_0000_0000  // smallest normal
        #expect(SoftFloat.multiply(tiny, 0x3fe0_0000_0000_0000, 3, &e) == 0)  // * 0.5
        #expect(e.flags == FPSRBit.ufc)
        e = env()
        #expect(SoftFloat.multiply(tiny, 0x3fe0_0000_0000_0000, 3, &e) == 0x0008_0000_0000_0000)
        #expect(e.flags == 0)  // exact denormal result: no underflow
        e = env(1 << 19)  // FZ16 flushes half-precision denormal inputs without IDC
        #expect(SoftFloat.add(1, 0, 1, &e) == 0)
        #expect(e.flags == 0)
    }

    @Test func overflowRespectsTheRoundingMode() {  // FPRoundBase
        let max: UInt64 = 0x7fef_ffff_ffff_ffff
        var e = env()
        #expect(SoftFloat.add(max, max, 3, &e) == inf)
        #expect(e.flags == FPSRBit.ofc | FPSRBit.ixc)
        e = env(rmZero)
        #expect(SoftFloat.add(max, max, 3, &e) == max)
        e = env(rmMinus)
        #expect(SoftFloat.add(max, max, 3, &e) == max)
        e = env(rmPlus)
        #expect(SoftFloat.add(max | 1 << 63, max | 1 << 63, 3, &e) == max | 1 << 63)
    }

    @Test func maxNumTreatsOneQuietNaNAsMissing() {  // FPMaxNum, FPMinNum, FPMax
        var e = env()
        #expect(SoftFloat.maxMin(qNaN, one, 3, &e, max: true, number: true) == one)
        #expect(SoftFloat.maxMin(one, qNaN, 3, &e, max: false, number: true) == one)
        #expect(SoftFloat.maxMin(qNaN, one, 3, &e, max: true, number: false) == qNaN)
        #expect(SoftFloat.maxMin(0, 1 << 63, 3, &e, max: true, number: false) == 0)
        #expect(SoftFloat.maxMin(0, 1 << 63, 3, &e, max: false, number: false) == 1 << 63)
        #expect(e.flags == 0)
        #expect(SoftFloat.maxMin(sNaN, one, 3, &e, max: true, number: true) == 0x7ff8_0000_0000_1234)
        #expect(e.flags == FPSRBit.ioc)
    }

    @Test func conversionToIntegerSaturatesWithInvalidOnly() {  // FPToFixed
        var e = env()
        #expect(SoftFloat.toFixed(0x41f0_0000_0000_0000, 3, &e, fractionBits: 0, unsigned: false, width: 32, .zero)
                == 0x7fff_ffff)  // 2^32 -> INT32_MAX
        #expect(e.flags == FPSRBit.ioc)
        e = env()
        #expect(SoftFloat.toFixed(0xbff8_0000_0000_0000, 3, &e, fractionBits: 0, unsigned: true, width: 64, .zero)
                == 0)  // -1.5 -> 0, saturated
        #expect(e.flags == FPSRBit.ioc)
        e = env()
        #expect(SoftFloat.toFixed(0xbfe0_0000_0000_0000, 3, &e, fractionBits: 0, unsigned: true, width: 64, .zero)
                == 0)  // -0.5 truncates to 0: inexact, not invalid
        #expect(e.flags == FPSRBit.ixc)
        e = env()
        #expect(SoftFloat.toFixed(qNaN, 3, &e, fractionBits: 0, unsigned: false, width: 64, .zero) == 0)
        #expect(SoftFloat.toFixed(inf | 1 << 63, 3, &e, fractionBits: 0, unsigned: false, width: 64, .zero) == 1 << 63)
        #expect(SoftFloat.toFixed(0xc3e0_0000_0000_0000, 3, &e, fractionBits: 0, unsigned: false, width: 64, .zero)
                == 1 << 63)  // -2^63 fits exactly
    }

    @Test func halvesAreRoundedToEvenAndToAwayAsAsked() {  // FPRoundInt
        var e = env()
        let twoAndHalf: UInt64 = 0x4004_0000_0000_0000
        #expect(SoftFloat.roundToIntegral(twoAndHalf, 3, &e, .tieEven, exact: false) == 0x4000_0000_0000_0000)
        #expect(SoftFloat.roundToIntegral(twoAndHalf, 3, &e, .tieAway, exact: false) == 0x4008_0000_0000_0000)
        #expect(e.flags == 0)
        #expect(SoftFloat.roundToIntegral(twoAndHalf | 1 << 63, 3, &e, .posInf, exact: true) == 0xc000_0000_0000_0000)
        #expect(e.flags == FPSRBit.ixc)
        #expect(SoftFloat.roundToIntegral(0xbfe0_0000_0000_0000, 3, &e, .tieEven, exact: false) == 1 << 63)  // -0.5 -> -0
    }

    @Test func alternativeHalfPrecisionHasNoInfinities() {  // FPConvert with FPCR.AHP
        var e = env(ahp)
        #expect(SoftFloat.convert(0x7f80_0000, from: 2, to: 1, &e, .tieEven) == 0x7fff)
        #expect(e.flags == FPSRBit.ioc)
        e = env(ahp)
        #expect(SoftFloat.convert(0x7fc0_0000, from: 2, to: 1, &e, .tieEven) == 0)
        #expect(SoftFloat.convert(0x7c00, from: 1, to: 2, &e, .tieEven) == 0x4780_0000)  // 65536.0
    }

    @Test func estimates() {  // FPRecipEstimate, FPRSqrtEstimate, FPRecpX
        var e = env()
        #expect(SoftFloat.recipEstimate(0x3f80_0000, 2, &e) == 0x3f7f_8000)  // 1/1.0: estimate 511/512
        #expect(SoftFloat.recipEstimate(0, 2, &e) == 0x7f80_0000)
        #expect(e.flags == FPSRBit.dzc)
        #expect(SoftFloat.rsqrtEstimate(0x4080_0000, 2, &e) == 0x3eff_8000)  // 1/sqrt(4): 0.4990234375
        #expect(SoftFloat.recipExponent(0x4080_0000, 2, &e) == 0x3f00_0000)  // exponent 129 -> NOT = 126
        #expect(SoftFloat.recipExponent(1, 2, &e) == 0x7f00_0000)            // denormal -> max exponent - 1
    }

    @Test func fcvtxnRoundsToOdd() {  // FPConvert with FPRounding_ODD
        var e = env()
        let oneAndTiny: UInt64 = 0x3ff0_0000_0000_0001
        #expect(SoftFloat.convert(oneAndTiny, from: 3, to: 2, &e, .odd) == 0x3f80_0001)
        #expect(e.flags == FPSRBit.ixc)
    }
}

@Suite struct FPOpEncodingTests {
    @Test func fpOpRawValuesAreCaseIndices() {
        // executeFP turns Op.a back into an FPOp with a bit cast, which relies on this.
        #expect(FPOp(rawValue: 0) == .add)
        #expect(FPOp(rawValue: FPOp.last.rawValue) == .lengthen)
        #expect(FPOp(rawValue: FPOp.last.rawValue + 1) == nil)
    }

    // Encodings from GNU as (-march=armv8.2-a+fp16).
    @Test(arguments: [
        0x1e61_c020 as UInt32,   // fsqrt d0, d1
        0x1ee0_4020,             // fmov h0, h1 (fmov s0, s1 is a bit copy on the integer SIMD path)
        0x9e78_0020,             // fcvtzs x0, d1
        0x1e62_0020,             // scvtf d0, w1
        0x0e22_d420,             // fadd v0.2s, v1.2s, v2.2s
        0x4ee1_d820,             // frecpe v0.2d, v1.2d
        0x4e61_d820,             // scvtf v0.2d, v1.2d
    ])
    func floatingPointEncodingsDecodeToFPOps(word: UInt32) {
        #expect(A64Decoder.decode(word, pc: 0).code == .fp)
    }

    @Test(arguments: [
        0x1ea2_2820 as UInt32,   // fadd with ftype = 10 (unallocated)
        0x1e7e_0020,             // fjcvtzs w0, d1 (Armv8.3, not on Cortex-A76)
        0x0e61_d820,             // scvtf v0.1d, v1.1d (64-bit lanes need Q = 1)
    ])
    func reservedFloatingPointEncodingsAreUndefined(word: UInt32) {
        #expect(A64Decoder.decode(word, pc: 0).code == .undefined)
    }
}
