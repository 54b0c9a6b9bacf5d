// Execution of the integer AdvSIMD operations that came with later architecture versions or options:
// SQRDMLAH/SQRDMLSH (FEAT_RDM), SDOT/UDOT (FEAT_DotProd), PMULL/PMULL2 of 64-bit lanes (FEAT_PMULL) and the
// unsigned estimates URECPE/URSQRTE. Decoded in Decode/AdvSIMD.swift; called by `executeLanewise`, which reads
// the operands first and writes the destination and FPSR.QC after, so any register may be source and destination.
// Like the rest of the SIMD interpreter, nothing here allocates or calls a closure at run time.

/// RecipEstimate (Arm ARM, shared pseudocode) without increased precision: a 9-bit estimate of 1/x for a
/// 9-bit input `a` in 256...511 that stands for a / 512.
@inline(__always) func unsignedRecipEstimate9(_ a: UInt32) -> UInt32 {
    let scaled = a &* 2 &+ 1
    let b = (1 << 19) / scaled
    return (b &+ 1) / 2
}

/// RecipSqrtEstimate without increased precision: a 9-bit estimate of 1/sqrt(x) for a 9-bit input `a` in
/// 128...511 that stands for a / 512.
@inline(__always) func unsignedRecipSqrtEstimate9(_ a: UInt32) -> UInt32 {
    var scaled: UInt64
    if a < 256 {
        scaled = UInt64(a) &* 2 &+ 1               // 0.25 <= x < 0.5
    } else {
        scaled = (UInt64(a >> 1) << 1 &+ 1) &* 2    // 0.5 <= x < 1.0: the bottom bit is dropped
    }
    // The smallest b >= 512 with scaled * (b + 1)^2 >= 2^28; scaled >= 257, so b stays below 1024.
    var b: UInt64 = 512
    while scaled &* (b &+ 1) &* (b &+ 1) < 1 << 28 { b &+= 1 }
    return UInt32(truncatingIfNeeded: (b &+ 1) / 2)
}

/// Carry-less product of two 64-bit polynomials, as (hi, lo) 64-bit halves.
@inline(__always) func carrylessMultiply64(_ x: UInt64, _ y: UInt64) -> V128 {
    var lo: UInt64 = 0, hi: UInt64 = 0
    for i in 0..<64 where (y >> UInt64(i)) & 1 == 1 {
        lo ^= x << UInt64(i)
        if i > 0 { hi ^= x >> UInt64(64 - i) }
    }
    return V128(lo: lo, hi: hi)
}

extension VCPU {
    /// The result of one of the operations above; `count` is the number of lanes of size `op.s`.
    @inline(__always)
    func integerExtensionResult(_ op: Op, _ kind: SIMDOp, _ a: V128, count: Int, _ saturated: inout Bool) -> V128 {
        let s = Int(op.s)
        switch kind {
        case .sqrdmlah, .sqrdmlsh:
            // (acc << esize) +/- 2 * n * m, plus the rounding constant, then the high half, saturated.
            let b = operandM(op), c = readV(op.d)
            let bits = 8 << s
            let subtract = kind == .sqrdmlsh
            return lanes(count, s) { i in
                let product = 2 * wide(a.lane(i, s), s, true) * wide(b.lane(i, s), s, true)
                let accumulator = wide(c.lane(i, s), s, true) << bits
                let sum = (subtract ? accumulator - product : accumulator + product) + (Int128(1) << (bits - 1))
                return saturate(sum >> bits, s, signed: true, &saturated)
            }
        case .dot:
            let b = operandM(op), c = readV(op.d)
            let signed = op.f & SIMDFlags.signed != 0
            return lanes(count, 2) { i in
                var sum = c.lane(i, 2)
                for k in 4 * i..<4 * i + 4 {
                    let x = a.lane(k, 0), y = b.lane(k, 0)
                    sum &+= signed ? signExtend(x, 8) &* signExtend(y, 8) : x &* y
                }
                return sum
            }
        case .pmull64:
            let b = readV(op.m)
            let lane = op.f & SIMDFlags.q != 0 ? 1 : 0
            return carrylessMultiply64(a.lane(lane, 3), b.lane(lane, 3))
        case .urecpe:
            return lanes(count, 2) { i in
                let x = a.lane(i, 2)
                if x & 0x8000_0000 == 0 { return 0xffff_ffff }
                return UInt64(unsignedRecipEstimate9(UInt32(truncatingIfNeeded: x >> 23))) << 23
            }
        case .ursqrte:
            return lanes(count, 2) { i in
                let x = a.lane(i, 2)
                if x & 0xc000_0000 == 0 { return 0xffff_ffff }
                return UInt64(unsignedRecipSqrtEstimate9(UInt32(truncatingIfNeeded: x >> 23))) << 23
            }
        default:
            return .zero
        }
    }
}
