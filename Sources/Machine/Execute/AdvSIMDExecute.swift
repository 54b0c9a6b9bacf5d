// Execution of the integer AdvSIMD operations (decoded in Decode/AdvSIMD.swift); the SIMD&FP loads and stores
// are in LoadStoreSIMDExecute.swift.
//
// A V register is two UInt64 halves in `CPUState.v` (lo at 2i, hi at 2i+1). On a little-endian host that is
// also the register's byte order, so lane e of size 2^s bytes of V[t] sits at byte 16t + e << s of the file;
// the structure loads and stores and the table lookups use that view.
//
// Every operation reads its operands into `V128` values first and writes the destination last, so any
// register may be both source and destination. Lane loops are written with `lanes(_:_:_:)`, whose closure is
// inlined into each case: nothing here allocates, and no closure or existential is called at run time.

#if !_endian(little)
#error("the SIMD register file layout assumes a little-endian host")
#endif

/// A 128-bit vector value, as two little-endian 64-bit halves.
struct V128 {
    var lo: UInt64
    var hi: UInt64

    static let zero = V128(lo: 0, hi: 0)

    /// Lane `i` of size 2^s bytes, zero-extended.
    @inline(__always) func lane(_ i: Int, _ s: Int) -> UInt64 {
        let bit = i << (3 + s)
        let word = bit < 64 ? lo : hi
        if s == 3 { return word }
        return (word >> UInt64(bit & 63)) & laneMask(s)
    }

    /// Lane `i` of size 2^s bytes, sign-extended.
    @inline(__always) func signedLane(_ i: Int, _ s: Int) -> Int64 {
        Int64(bitPattern: signExtend(lane(i, s), 8 << s))
    }

    @inline(__always) mutating func setLane(_ i: Int, _ s: Int, _ value: UInt64) {
        let bit = i << (3 + s)
        let shift = UInt64(bit & 63)
        let mask = laneMask(s) << shift
        let v = (value << shift) & mask
        if bit < 64 { lo = (lo & ~mask) | v } else { hi = (hi & ~mask) | v }
    }

    @inline(__always) func byte(_ i: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: (i < 8 ? lo : hi) >> UInt64((i & 7) * 8))
    }
}

@inline(__always) func laneMask(_ s: Int) -> UInt64 { s >= 3 ? .max : (1 << UInt64(8 << s)) &- 1 }

/// The lane value as a wide integer, sign- or zero-extended.
@inline(__always) func wide(_ v: UInt64, _ s: Int, _ signed: Bool) -> Int128 {
    signed ? Int128(Int64(bitPattern: signExtend(v, 8 << s))) : Int128(v)
}

/// `v` sign- or zero-extended from lane size s to 64 bits (for wrapping arithmetic on wider lanes).
@inline(__always) private func extend(_ v: UInt64, _ s: Int, _ signed: Bool) -> UInt64 {
    signed ? signExtend(v, 8 << s) : v
}

/// SignedSatQ/UnsignedSatQ: `v` clamped to lane size s; `saturated` is set when it had to be clamped.
@inline(__always) func saturate(_ v: Int128, _ s: Int, signed: Bool, _ saturated: inout Bool) -> UInt64 {
    let bits = 8 << s
    let low: Int128 = signed ? -(Int128(1) << (bits - 1)) : 0
    let high: Int128 = signed ? (Int128(1) << (bits - 1)) - 1 : (Int128(1) << bits) - 1
    var r = v
    if v < low { r = low; saturated = true } else if v > high { r = high; saturated = true }
    return UInt64(truncatingIfNeeded: r) & laneMask(s)
}

/// A lane shifted right by `amount` (1...2 * lane size), arithmetic when signed, optionally rounded.
@inline(__always) private func shiftRight(_ v: UInt64, _ s: Int, _ amount: Int, signed: Bool, round: Bool) -> Int128 {
    let x = wide(v, s, signed)
    if round { return (x + (Int128(1) << (amount - 1))) >> amount }
    return x >> amount
}

/// SSHL/USHL/SRSHL/URSHL/SQSHL/UQSHL/SQRSHL/UQRSHL: shift by the signed low byte of `by`; negative = right.
@inline(__always) private func shiftByRegister(_ v: UInt64, _ by: UInt64, _ s: Int, signed: Bool, round: Bool,
                                               saturating: Bool, _ saturated: inout Bool) -> UInt64 {
    let bits = 8 << s
    let x = wide(v, s, signed)
    let shift = Int(Int8(truncatingIfNeeded: by))
    var r: Int128
    if shift >= 0 {
        if x == 0 {
            r = 0
        } else if shift >= bits {
            // Every significant bit leaves the lane: zero, or saturation with the operand's sign.
            r = saturating ? (x < 0 ? -(Int128(1) << 100) : Int128(1) << 100) : 0
        } else {
            r = x << shift
        }
    } else {
        let amount = min(-shift, bits + 1)
        r = round ? (x + (Int128(1) << (amount - 1))) >> amount : x >> amount
    }
    if saturating { return saturate(r, s, signed: signed, &saturated) }
    return UInt64(truncatingIfNeeded: r) & laneMask(s)
}

/// Per-lane high-bit masks for the SWAR add and subtract.
@inline(__always) private func laneHighBits(_ s: Int) -> UInt64 {
    switch s {
    case 0: return 0x8080_8080_8080_8080
    case 1: return 0x8000_8000_8000_8000
    case 2: return 0x8000_0000_8000_0000
    default: return 0x8000_0000_0000_0000
    }
}

@inline(__always) private func addLanes(_ a: UInt64, _ b: UInt64, _ s: Int) -> UInt64 {
    if s == 3 { return a &+ b }
    let h = laneHighBits(s)
    return ((a & ~h) &+ (b & ~h)) ^ ((a ^ b) & h)
}

@inline(__always) private func subLanes(_ a: UInt64, _ b: UInt64, _ s: Int) -> UInt64 {
    if s == 3 { return a &- b }
    let h = laneHighBits(s)
    return ((a | h) &- (b & ~h)) ^ ((a ^ ~b) & h)
}

/// The lane value repeated across 64 bits.
@inline(__always) func replicateLane(_ v: UInt64, _ s: Int) -> UInt64 {
    switch s {
    case 0: return (v & 0xff) &* 0x0101_0101_0101_0101
    case 1: return (v & 0xffff) &* 0x0001_0001_0001_0001
    case 2: return (v & 0xffff_ffff) &* 0x0000_0001_0000_0001
    default: return v
    }
}

/// Carry-less multiplication of two 8-bit polynomials (PMUL keeps the low 8 bits, PMULL all 16).
@inline(__always) private func polynomialMultiply(_ a: UInt64, _ b: UInt64) -> UInt64 {
    var r: UInt64 = 0
    for i in 0..<8 where (b >> UInt64(i)) & 1 == 1 { r ^= a << UInt64(i) }
    return r
}

/// Builds a vector from `count` lanes of size 2^s (the other lanes zero).
@inline(__always) func lanes(_ count: Int, _ s: Int, _ body: (Int) -> UInt64) -> V128 {
    var r = V128.zero
    for i in 0..<count { r.setLane(i, s, body(i)) }
    return r
}

extension VCPU {
    @inline(__always) func readV(_ r: UInt8) -> V128 {
        let p = state.v + 2 * Int(r)
        return V128(lo: p[0], hi: p[1])
    }

    @inline(__always) func writeV(_ r: UInt8, _ value: V128) {
        let p = state.v + 2 * Int(r)
        p[0] = value.lo
        p[1] = value.hi
    }

    // MARK: data processing

    func executeSIMD(_ op: Op) {
        let v = state.v
        let d = 2 * Int(op.d), n = 2 * Int(op.n)
        switch op.code {
        case .fmovToGeneral:
            switch op.s {
            case 0: state.x[Int(op.d)] = v[n] & 0xffff_ffff
            case 1: state.x[Int(op.d)] = v[n]
            default: state.x[Int(op.d)] = v[n + 1]
            }
            return
        case .fmovFromGeneral:
            let value = state.x[Int(op.n)]
            switch op.s {
            case 0: v[d] = value & 0xffff_ffff; v[d + 1] = 0
            case 1: v[d] = value; v[d + 1] = 0
            default: v[d + 1] = value
            }
            return
        default:
            break
        }
        // `a` holds a raw value the decoder wrote; SIMDOp's raw values are its case indices, so this is the
        // identity (the synthesized `init(rawValue:)` is an out-of-line call on this path).
        guard op.a <= SIMDOp.last.rawValue else { return }
        let kind = unsafeBitCast(op.a, to: SIMDOp.self)
        // The operations gcc emits in inner loops work on whole 64-bit halves, without lane loops.
        let q = op.f & SIMDFlags.q != 0
        let s = Int(op.s)
        let m = 2 * Int(op.m)
        switch kind {
        case .movi:
            v[d] = op.imm; v[d + 1] = q ? op.imm : 0
        case .orrImm:
            v[d] |= op.imm; v[d + 1] = q ? v[d + 1] | op.imm : 0
        case .bicImm:
            v[d] &= ~op.imm; v[d + 1] = q ? v[d + 1] & ~op.imm : 0
        case .and, .bic, .orr, .orn, .eor:
            let alo = v[n], ahi = v[n + 1], blo = v[m], bhi = v[m + 1]
            let lo: UInt64, hi: UInt64
            switch kind {
            case .and: lo = alo & blo; hi = ahi & bhi
            case .bic: lo = alo & ~blo; hi = ahi & ~bhi
            case .orr: lo = alo | blo; hi = ahi | bhi
            case .orn: lo = alo | ~blo; hi = ahi | ~bhi
            default: lo = alo ^ blo; hi = ahi ^ bhi
            }
            v[d] = lo; v[d + 1] = q ? hi : 0
        case .bsl, .bit, .bif:
            let alo = v[n], ahi = v[n + 1], blo = v[m], bhi = v[m + 1], clo = v[d], chi = v[d + 1]
            let lo: UInt64, hi: UInt64
            switch kind {
            case .bsl: lo = (clo & alo) | (~clo & blo); hi = (chi & ahi) | (~chi & bhi)
            case .bit: lo = (clo & ~blo) | (alo & blo); hi = (chi & ~bhi) | (ahi & bhi)
            default: lo = (clo & blo) | (alo & ~blo); hi = (chi & bhi) | (ahi & ~bhi)
            }
            v[d] = lo; v[d + 1] = q ? hi : 0
        case .not:
            let lo = ~v[n], hi = ~v[n + 1]
            v[d] = lo; v[d + 1] = q ? hi : 0
        case .add:
            let lo = addLanes(v[n], v[m], s), hi = addLanes(v[n + 1], v[m + 1], s)
            v[d] = lo; v[d + 1] = q ? hi : 0
        case .sub:
            let lo = subLanes(v[n], v[m], s), hi = subLanes(v[n + 1], v[m + 1], s)
            v[d] = lo; v[d + 1] = q ? hi : 0
        case .shr where op.f & (SIMDFlags.signed | SIMDFlags.round) == 0:
            // USHR: imm2 holds the bits that stay inside each lane (zero when shifting by the lane size).
            let k = UInt64(op.imm)
            let lo = (v[n] &>> k) & op.imm2, hi = (v[n + 1] &>> k) & op.imm2
            v[d] = lo; v[d + 1] = q ? hi : 0
        case .shlImm:
            let k = UInt64(op.imm)
            let lo = (v[n] &<< k) & op.imm2, hi = (v[n + 1] &<< k) & op.imm2
            v[d] = lo; v[d + 1] = q ? hi : 0
        case .dup:
            let e = readV(op.n).lane(Int(op.imm), s)
            if op.f & SIMDFlags.scalar != 0 {
                v[d] = e; v[d + 1] = 0
            } else {
                let rep = replicateLane(e, s)
                v[d] = rep; v[d + 1] = q ? rep : 0
            }
        case .dupGeneral:
            let rep = replicateLane(state.x[Int(op.n)], s)
            v[d] = rep; v[d + 1] = q ? rep : 0
        case .insGeneral:
            var r = readV(op.d)
            r.setLane(Int(op.imm), s, state.x[Int(op.n)])
            v[d] = r.lo; v[d + 1] = r.hi
        case .insElement:
            var r = readV(op.d)
            r.setLane(Int(op.imm), s, readV(op.n).lane(Int(op.imm2), s))
            v[d] = r.lo; v[d + 1] = r.hi
        case .umov:
            state.x[Int(op.d)] = readV(op.n).lane(Int(op.imm), s)
        case .smov:
            let e = signExtend(readV(op.n).lane(Int(op.imm), s), 8 << s)
            state.x[Int(op.d)] = op.f & SIMDFlags.x64 != 0 ? e : e & 0xffff_ffff
        default:
            executeLanewise(op, kind)
        }
    }

    /// Everything else, lane by lane.
    @inline(never)
    private func executeLanewise(_ op: Op, _ kind: SIMDOp) {
        let s = Int(op.s)
        let flags = op.f
        let q = flags & SIMDFlags.q != 0
        let scalar = flags & SIMDFlags.scalar != 0
        let signed = flags & SIMDFlags.signed != 0
        let round = flags & SIMDFlags.round != 0
        /// Lanes of a same-size operation.
        let count = scalar ? 1 : (q ? 16 : 8) >> s
        /// Lanes of a widening or narrowing operation (s = narrow size), and where its narrow lanes start.
        let halfCount = scalar ? 1 : 8 >> s
        let half = q ? 8 >> s : 0
        let ws = s + 1
        let a = readV(op.n)
        let d = op.d
        var saturated = false
        var r: V128

        switch kind {
        case .movi, .orrImm, .bicImm, .dup, .dupGeneral, .insGeneral, .insElement, .umov, .smov,
             .and, .bic, .orr, .orn, .eor, .bsl, .bit, .bif, .not, .add, .sub, .shlImm:
            return // done by executeSIMD
        case .fcsel:
            let source = conditionHolds(UInt8(op.imm), state.nzcv) ? a : readV(op.m)
            r = V128(lo: source.lo & laneMask(s), hi: 0)

        // MARK: three same
        case .mul:
            let b = operandM(op)
            r = lanes(count, s) { a.lane($0, s) &* b.lane($0, s) }
        case .mla, .mls:
            let b = operandM(op), c = readV(d)
            let subtract = kind == .mls
            r = lanes(count, s) { i in
                let p = a.lane(i, s) &* b.lane(i, s)
                return subtract ? c.lane(i, s) &- p : c.lane(i, s) &+ p
            }
        case .pmul:
            let b = readV(op.m)
            r = lanes(count, 0) { polynomialMultiply(a.lane($0, 0), b.lane($0, 0)) }
        case .hadd, .hsub:
            let b = readV(op.m)
            let subtract = kind == .hsub
            r = lanes(count, s) { i in
                let x = wide(a.lane(i, s), s, signed), y = wide(b.lane(i, s), s, signed)
                let sum = subtract ? x - y : x + y + (round ? 1 : 0)
                return UInt64(truncatingIfNeeded: sum >> 1)
            }
        case .qadd, .qsub:
            let b = readV(op.m)
            let subtract = kind == .qsub
            r = lanes(count, s) { i in
                let x = wide(a.lane(i, s), s, signed), y = wide(b.lane(i, s), s, signed)
                return saturate(subtract ? x - y : x + y, s, signed: signed, &saturated)
            }
        case .cmgt, .cmge:
            let b = readV(op.m)
            let orEqual = kind == .cmge
            r = lanes(count, s) { i in
                let x = wide(a.lane(i, s), s, signed), y = wide(b.lane(i, s), s, signed)
                return (orEqual ? x >= y : x > y) ? .max : 0
            }
        case .cmeq:
            let b = readV(op.m)
            r = lanes(count, s) { a.lane($0, s) == b.lane($0, s) ? .max : 0 }
        case .cmtst:
            let b = readV(op.m)
            r = lanes(count, s) { a.lane($0, s) & b.lane($0, s) != 0 ? .max : 0 }
        case .shl, .qshl:
            let b = readV(op.m)
            let saturating = kind == .qshl
            r = lanes(count, s) {
                shiftByRegister(a.lane($0, s), b.lane($0, s), s, signed: signed, round: round,
                                saturating: saturating, &saturated)
            }
        case .max, .min:
            let b = readV(op.m)
            let wantMax = kind == .max
            r = lanes(count, s) { i in
                let x = wide(a.lane(i, s), s, signed), y = wide(b.lane(i, s), s, signed)
                return (x > y) == wantMax ? a.lane(i, s) : b.lane(i, s)
            }
        case .maxp, .minp, .addp:
            let b = readV(op.m)
            if scalar {
                r = V128(lo: a.lo &+ a.hi, hi: 0)
                break
            }
            let pairs = count / 2
            r = lanes(count, s) { i in
                let source = i < pairs ? a : b
                let j = 2 * (i < pairs ? i : i - pairs)
                let x = source.lane(j, s), y = source.lane(j + 1, s)
                if kind == .addp { return x &+ y }
                let greater = wide(x, s, signed) > wide(y, s, signed)
                return greater == (kind == .maxp) ? x : y
            }
        case .abd, .aba:
            let b = readV(op.m)
            let c = kind == .aba ? readV(d) : V128.zero
            r = lanes(count, s) { i in
                let diff = wide(a.lane(i, s), s, signed) - wide(b.lane(i, s), s, signed)
                return c.lane(i, s) &+ UInt64(truncatingIfNeeded: diff.magnitude)
            }
        case .sqdmulh:
            let b = operandM(op)
            let bits = 8 << s
            r = lanes(count, s) { i in
                let p = 2 * wide(a.lane(i, s), s, true) * wide(b.lane(i, s), s, true)
                return saturate((p + (round ? Int128(1) << (bits - 1) : 0)) >> bits, s, signed: true, &saturated)
            }

        // MARK: three different
        case .addl, .subl, .mull, .abdl:
            let b = operandM(op)
            r = lanes(halfCount, ws) { i in
                let x = extend(a.lane(half + i, s), s, signed), y = extend(b.lane(half + i, s), s, signed)
                switch kind {
                case .addl: return x &+ y
                case .subl: return x &- y
                case .mull: return x &* y
                default:
                    let diff = wide(x, 3, signed) - wide(y, 3, signed)
                    return UInt64(truncatingIfNeeded: diff.magnitude)
                }
            }
        case .mlal, .mlsl, .abal:
            let b = operandM(op), c = readV(d)
            r = lanes(halfCount, ws) { i in
                let x = extend(a.lane(half + i, s), s, signed), y = extend(b.lane(half + i, s), s, signed)
                switch kind {
                case .mlal: return c.lane(i, ws) &+ x &* y
                case .mlsl: return c.lane(i, ws) &- x &* y
                default:
                    let diff = wide(x, 3, signed) - wide(y, 3, signed)
                    return c.lane(i, ws) &+ UInt64(truncatingIfNeeded: diff.magnitude)
                }
            }
        case .addw, .subw:
            let b = readV(op.m)
            let subtract = kind == .subw
            r = lanes(halfCount, ws) { i in
                let y = extend(b.lane(half + i, s), s, signed)
                return subtract ? a.lane(i, ws) &- y : a.lane(i, ws) &+ y
            }
        case .pmull:
            let b = readV(op.m)
            r = lanes(halfCount, 1) { polynomialMultiply(a.lane(half + $0, 0), b.lane(half + $0, 0)) }
        case .sqdmull, .sqdmlal, .sqdmlsl:
            let b = operandM(op), c = readV(d)
            r = lanes(halfCount, ws) { i in
                let p = 2 * wide(a.lane(half + i, s), s, true) * wide(b.lane(half + i, s), s, true)
                let product = saturate(p, ws, signed: true, &saturated)
                if kind == .sqdmull { return product }
                let accumulator = wide(c.lane(i, ws), ws, true), term = wide(product, ws, true)
                return saturate(kind == .sqdmlal ? accumulator + term : accumulator - term, ws, signed: true, &saturated)
            }
        case .addhn, .subhn:
            let b = readV(op.m)
            r = q ? V128(lo: readV(d).lo, hi: 0) : .zero
            let bits = UInt64(8 << s)
            for i in 0..<halfCount {
                let x = a.lane(i, ws), y = b.lane(i, ws)
                var sum = kind == .addhn ? x &+ y : x &- y
                if round { sum &+= 1 << (bits - 1) }
                r.setLane(half + i, s, sum >> bits)
            }

        // MARK: two-register miscellaneous
        case .rev:
            let mask = (1 << Int(op.imm)) >> s - 1
            r = lanes(count, s) { a.lane($0 ^ mask, s) }
        case .addlp, .adalp:
            let c = kind == .adalp ? readV(d) : V128.zero
            r = lanes(count / 2, ws) { i in
                c.lane(i, ws) &+ extend(a.lane(2 * i, s), s, signed) &+ extend(a.lane(2 * i + 1, s), s, signed)
            }
        case .suqadd, .usqadd:
            let c = readV(d)
            let intoSigned = kind == .suqadd
            r = lanes(count, s) { i in
                let sum = wide(c.lane(i, s), s, intoSigned) + wide(a.lane(i, s), s, !intoSigned)
                return saturate(sum, s, signed: intoSigned, &saturated)
            }
        case .cls:
            let bits = 8 << s
            r = lanes(count, s) { i in
                let x = a.lane(i, s)
                let y = ((x >> 1) ^ x) & laneMask(s) >> 1
                return UInt64(min((y << UInt64(65 - bits)).leadingZeroBitCount, bits - 1))
            }
        case .clz:
            let bits = 8 << s
            r = lanes(count, s) { i in
                UInt64(min((a.lane(i, s) << UInt64(64 - bits)).leadingZeroBitCount, bits))
            }
        case .cnt:
            r = lanes(count, 0) { UInt64(a.lane($0, 0).nonzeroBitCount) }
        case .rbit:
            r = V128(lo: reverseBits64(a.lo).byteSwapped, hi: q ? reverseBits64(a.hi).byteSwapped : 0)
        case .abs, .neg:
            r = lanes(count, s) { i in
                let x = a.lane(i, s)
                return kind == .neg || a.signedLane(i, s) < 0 ? 0 &- x : x
            }
        case .sqabs, .sqneg:
            r = lanes(count, s) { i in
                let x = wide(a.lane(i, s), s, true)
                return saturate(kind == .sqneg || x < 0 ? -x : x, s, signed: true, &saturated)
            }
        case .cmgt0, .cmge0, .cmeq0, .cmle0, .cmlt0:
            r = lanes(count, s) { i in
                let x = a.signedLane(i, s)
                let holds: Bool
                switch kind {
                case .cmgt0: holds = x > 0
                case .cmge0: holds = x >= 0
                case .cmeq0: holds = x == 0
                case .cmle0: holds = x <= 0
                default: holds = x < 0
                }
                return holds ? .max : 0
            }
        case .xtn, .qxtn, .sqxtun:
            r = q ? V128(lo: readV(d).lo, hi: 0) : .zero
            for i in 0..<halfCount {
                let x = a.lane(i, ws)
                let narrow: UInt64
                switch kind {
                case .xtn: narrow = x
                case .qxtn: narrow = saturate(wide(x, ws, signed), s, signed: signed, &saturated)
                default: narrow = saturate(wide(x, ws, true), s, signed: false, &saturated)
                }
                r.setLane(half + i, s, narrow)
            }

        // MARK: across lanes
        case .addv:
            var sum: UInt64 = 0
            for i in 0..<count { sum &+= a.lane(i, s) }
            r = V128(lo: sum & laneMask(s), hi: 0)
        case .addlv:
            var sum: UInt64 = 0
            for i in 0..<count { sum &+= extend(a.lane(i, s), s, signed) }
            r = V128(lo: sum & laneMask(ws), hi: 0)
        case .maxv, .minv:
            var best = a.lane(0, s)
            for i in 1..<count {
                let x = a.lane(i, s)
                let greater = wide(x, s, signed) > wide(best, s, signed)
                if greater == (kind == .maxv) { best = x }
            }
            r = V128(lo: best, hi: 0)

        // MARK: shift by immediate
        case .shr, .sra:
            let amount = Int(op.imm)
            let c = kind == .sra ? readV(d) : V128.zero
            r = lanes(count, s) { i in
                c.lane(i, s) &+ UInt64(truncatingIfNeeded: shiftRight(a.lane(i, s), s, amount, signed: signed, round: round))
            }
        case .sli, .sri:
            let c = readV(d)
            let amount = UInt64(op.imm)
            let left = kind == .sli
            let mask = left ? laneMask(s) << amount & laneMask(s) : laneMask(s) >> amount
            r = lanes(count, s) { i in
                let shifted = left ? a.lane(i, s) << amount : a.lane(i, s) >> amount
                return (c.lane(i, s) & ~mask) | (shifted & mask)
            }
        case .qshlImm, .sqshlu:
            let amount = Int(op.imm)
            let fromSigned = kind == .sqshlu || signed
            let toSigned = kind == .qshlImm && signed
            r = lanes(count, s) { i in
                saturate(wide(a.lane(i, s), s, fromSigned) << amount, s, signed: toSigned, &saturated)
            }
        case .shrn, .qshrn, .sqshrun:
            let amount = Int(op.imm)
            r = q ? V128(lo: readV(d).lo, hi: 0) : .zero
            for i in 0..<halfCount {
                let fromSigned = kind == .sqshrun || signed
                let shifted = shiftRight(a.lane(i, ws), ws, amount, signed: fromSigned, round: round)
                let narrow: UInt64
                switch kind {
                case .shrn: narrow = UInt64(truncatingIfNeeded: shifted)
                case .qshrn: narrow = saturate(shifted, s, signed: signed, &saturated)
                default: narrow = saturate(shifted, s, signed: false, &saturated)
                }
                r.setLane(half + i, s, narrow)
            }
        case .shll:
            let amount = UInt64(op.imm)
            r = lanes(halfCount, ws) { extend(a.lane(half + $0, s), s, signed) << amount }

        // MARK: RDM, DotProd, PMULL .1Q, URECPE/URSQRTE (AdvSIMDIntegerExecute.swift); crypto (CryptoExecute.swift)
        case .sqrdmlah, .sqrdmlsh, .dot, .pmull64, .urecpe, .ursqrte:
            r = integerExtensionResult(op, kind, a, count: count, &saturated)
        case .aese, .aesd, .aesmc, .aesimc, .sha1c, .sha1p, .sha1m, .sha1h, .sha1su0, .sha1su1,
             .sha256h, .sha256h2, .sha256su0, .sha256su1:
            r = cryptoResult(kind, d: readV(d), n: a, m: readV(op.m))

        // MARK: permutes, extract, table lookups
        case .zip1, .zip2:
            let b = readV(op.m)
            let base = kind == .zip1 ? 0 : count / 2
            r = lanes(count, s) { i in (i & 1 == 0 ? a : b).lane(base + i >> 1, s) }
        case .uzp1, .uzp2:
            let b = readV(op.m)
            let odd = kind == .uzp1 ? 0 : 1
            let pairs = count / 2
            r = lanes(count, s) { i in i < pairs ? a.lane(2 * i + odd, s) : b.lane(2 * (i - pairs) + odd, s) }
        case .trn1, .trn2:
            let b = readV(op.m)
            let odd = kind == .trn1 ? 0 : 1
            r = lanes(count, s) { i in (i & 1 == 0 ? a : b).lane((i & ~1) + odd, s) }
        case .ext:
            let b = readV(op.m)
            let position = Int(op.imm)
            let width = q ? 16 : 8
            r = lanes(width, 0) { i in
                let j = position + i
                return UInt64(j < width ? a.byte(j) : b.byte(j - width))
            }
        case .tbl, .tbx:
            let indices = readV(op.m)
            let c = kind == .tbx ? readV(d) : V128.zero
            let tableBytes = 16 * Int(op.imm)
            let file = UnsafeRawPointer(state.v)
            let first = Int(op.n)
            r = lanes(q ? 16 : 8, 0) { i in
                let j = Int(indices.byte(i))
                if j >= tableBytes { return UInt64(c.byte(i)) }
                return UInt64(file.load(fromByteOffset: 16 * ((first + j >> 4) & 31) + j & 15, as: UInt8.self))
            }
        }
        writeV(d, r)
        if saturated { state.fpsr |= 1 << 27 }
    }

    /// Operand m: V[m], or for the by-element forms lane `imm2` of V[m] repeated across the vector.
    @inline(__always) func operandM(_ op: Op) -> V128 {
        let b = readV(op.m)
        if op.f & SIMDFlags.byElement == 0 { return b }
        let rep = replicateLane(b.lane(Int(op.imm2), Int(op.s)), Int(op.s))
        return V128(lo: rep, hi: rep)
    }
}
