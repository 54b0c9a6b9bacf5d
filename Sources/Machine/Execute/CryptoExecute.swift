// Execution of the cryptographic extension (decoded in Decode/Crypto.swift): AESE, AESD, AESMC, AESIMC,
// SHA1C/P/M/H/SU0/SU1 and SHA256H/H2/SU0/SU1, as the Arm ARM's pseudocode defines them.
//
// The AES S-boxes are computed, not looked up: a Swift global array is initialised lazily and reference
// counted, which the hot path must not do. SubBytes is GF(2^8) inversion (x^254) followed by the affine map of
// FIPS-197 5.1.1, done on the eight bytes of a 64-bit word at once (SWAR); MixColumns likewise, a column being
// a 32-bit lane. An AESE + AESMC pair costs about a thousand host operations.

@inline(__always) private var lowBitOfEachByte: UInt64 { 0x0101_0101_0101_0101 }

/// Each byte multiplied by x in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1 (FIPS-197 4.2.1, xtime).
@inline(__always) private func xtimeBytes(_ a: UInt64) -> UInt64 {
    ((a & 0x7f7f_7f7f_7f7f_7f7f) << 1) ^ (((a >> 7) & lowBitOfEachByte) &* 0x1b)
}

/// Byte-wise products in GF(2^8) (FIPS-197 4.2): each byte of `a` times the same byte of `b`.
@inline(__always) func aesMultiplyBytes(_ a: UInt64, _ b: UInt64) -> UInt64 {
    var x = a, product: UInt64 = 0
    for i in 0..<8 {
        product ^= x & (((b >> UInt64(i)) & lowBitOfEachByte) &* 0xff)
        x = xtimeBytes(x)
    }
    return product
}

/// Byte-wise multiplicative inverses in GF(2^8) (0 maps to 0): x^254.
@inline(__always) private func aesInverseBytes(_ x: UInt64) -> UInt64 {
    let x2 = aesMultiplyBytes(x, x)
    let x3 = aesMultiplyBytes(x2, x)
    let x6 = aesMultiplyBytes(x3, x3)
    let x7 = aesMultiplyBytes(x6, x)
    let x14 = aesMultiplyBytes(x7, x7)
    let x15 = aesMultiplyBytes(x14, x)
    let x30 = aesMultiplyBytes(x15, x15)
    let x31 = aesMultiplyBytes(x30, x)
    let x62 = aesMultiplyBytes(x31, x31)
    let x63 = aesMultiplyBytes(x62, x)
    let x126 = aesMultiplyBytes(x63, x63)
    let x127 = aesMultiplyBytes(x126, x)
    return aesMultiplyBytes(x127, x127)
}

/// Each byte rotated left by k (1...7) bits.
@inline(__always) private func rotateBytesLeft(_ x: UInt64, _ k: UInt64) -> UInt64 {
    let high = ((0xff << k) & 0xff) &* lowBitOfEachByte
    return ((x << k) & high) | ((x >> (8 - k)) & ~high)
}

/// The AES S-box (FIPS-197 5.1.1) on each byte.
@inline(__always) func aesSubBytes(_ x: UInt64) -> UInt64 {
    let b = aesInverseBytes(x)
    return b ^ rotateBytesLeft(b, 1) ^ rotateBytesLeft(b, 2) ^ rotateBytesLeft(b, 3) ^ rotateBytesLeft(b, 4)
        ^ 0x6363_6363_6363_6363
}

/// The inverse S-box (FIPS-197 5.3.2) on each byte: the inverse affine map, then inversion.
@inline(__always) func aesInverseSubBytes(_ x: UInt64) -> UInt64 {
    aesInverseBytes(rotateBytesLeft(x, 1) ^ rotateBytesLeft(x, 3) ^ rotateBytesLeft(x, 6) ^ 0x0505_0505_0505_0505)
}

/// Each 32-bit lane (an AES column, row 0 in its low byte) rotated right by `bits` (8, 16, 24): byte r of a
/// column then holds row r + bits / 8.
@inline(__always) private func rotateColumns(_ x: UInt64, _ bits: UInt64) -> UInt64 {
    let low = (UInt64(0xffff_ffff) >> bits) &* 0x0000_0001_0000_0001
    return ((x >> bits) & low) | ((x << (32 - bits)) & ~low)
}

/// MixColumns (FIPS-197 5.1.3) on two columns: row r becomes 2 a[r] + 3 a[r+1] + a[r+2] + a[r+3].
@inline(__always) private func mixColumns(_ x: UInt64) -> UInt64 {
    let next = rotateColumns(x, 8)
    return xtimeBytes(x ^ next) ^ next ^ rotateColumns(x, 16) ^ rotateColumns(x, 24)
}

/// InvMixColumns (5.3.3) on two columns: its matrix is MixColumns' times the one that adds 4 (a[r] + a[r+2])
/// to each row.
@inline(__always) private func inverseMixColumns(_ x: UInt64) -> UInt64 {
    mixColumns(x ^ xtimeBytes(xtimeBytes(x ^ rotateColumns(x, 16))))
}

/// AESE: SubBytes(ShiftRows(d ^ n)); AESD: InvSubBytes(InvShiftRows(d ^ n)). Byte 4c + r of a vector is row r
/// of column c of the AES state (FIPS-197 3.4); ShiftRows moves row r left by r columns, InvShiftRows right.
@inline(__always) private func aesRound(_ input: V128, inverse: Bool) -> V128 {
    var shifted = V128.zero
    for c in 0..<4 {
        for r in 0..<4 {
            let from = inverse ? (c - r) & 3 : (c + r) & 3
            shifted.setLane(4 * c + r, 0, UInt64(input.byte(4 * from + r)))
        }
    }
    if inverse { return V128(lo: aesInverseSubBytes(shifted.lo), hi: aesInverseSubBytes(shifted.hi)) }
    return V128(lo: aesSubBytes(shifted.lo), hi: aesSubBytes(shifted.hi))
}

// MARK: SHA

/// The four 32-bit words of a vector, word 0 lowest.
private struct Words {
    var w0, w1, w2, w3: UInt32

    @inline(__always) init(_ v: V128) {
        w0 = UInt32(truncatingIfNeeded: v.lo); w1 = UInt32(truncatingIfNeeded: v.lo >> 32)
        w2 = UInt32(truncatingIfNeeded: v.hi); w3 = UInt32(truncatingIfNeeded: v.hi >> 32)
    }

    @inline(__always) init(_ w0: UInt32, _ w1: UInt32, _ w2: UInt32, _ w3: UInt32) {
        self.w0 = w0; self.w1 = w1; self.w2 = w2; self.w3 = w3
    }

    @inline(__always) var vector: V128 {
        V128(lo: UInt64(w1) << 32 | UInt64(w0), hi: UInt64(w3) << 32 | UInt64(w2))
    }

    @inline(__always) subscript(_ e: Int) -> UInt32 {
        switch e & 3 {
        case 0: return w0
        case 1: return w1
        case 2: return w2
        default: return w3
        }
    }
}

@inline(__always) private func rol(_ x: UInt32, _ k: UInt32) -> UInt32 { x << k | x >> (32 - k) }
@inline(__always) private func ror(_ x: UInt32, _ k: UInt32) -> UInt32 { x >> k | x << (32 - k) }
@inline(__always) private func shaChoose(_ x: UInt32, _ y: UInt32, _ z: UInt32) -> UInt32 { ((y ^ z) & x) ^ z }
@inline(__always) private func shaParity(_ x: UInt32, _ y: UInt32, _ z: UInt32) -> UInt32 { x ^ y ^ z }
@inline(__always) private func shaMajority(_ x: UInt32, _ y: UInt32, _ z: UInt32) -> UInt32 { (x & y) | ((x | y) & z) }

/// SHA1C, SHA1P, SHA1M: four rounds on hash (a, b, c, d) = X, e = Y, with the four W+K words of `w`.
@inline(__always) private func sha1Rounds(_ kind: SIMDOp, x input: V128, y: UInt32, w input2: V128) -> V128 {
    var x = Words(input), y = y
    let w = Words(input2)
    for e in 0..<4 {
        let t: UInt32
        switch kind {
        case .sha1c: t = shaChoose(x.w1, x.w2, x.w3)
        case .sha1p: t = shaParity(x.w1, x.w2, x.w3)
        default: t = shaMajority(x.w1, x.w2, x.w3)
        }
        y = y &+ rol(x.w0, 5) &+ t &+ w[e]
        x.w1 = rol(x.w1, 30)
        // <Y, X> = ROL(Y : X, 32) on the 160-bit value
        let top = x.w3
        x = Words(y, x.w0, x.w1, x.w2)
        y = top
    }
    return x.vector
}

/// SHA256H (part 1, result X) and SHA256H2 (result Y): four rounds on (a, b, c, d) = X, (e, f, g, h) = Y.
@inline(__always) private func sha256Rounds(x input: V128, y input1: V128, w input2: V128, part1: Bool) -> V128 {
    var x = Words(input), y = Words(input1)
    let w = Words(input2)
    for e in 0..<4 {
        let choose = shaChoose(y.w0, y.w1, y.w2)
        let majority = shaMajority(x.w0, x.w1, x.w2)
        let sigma1 = ror(y.w0, 6) ^ ror(y.w0, 11) ^ ror(y.w0, 25)
        let sigma0 = ror(x.w0, 2) ^ ror(x.w0, 13) ^ ror(x.w0, 22)
        let t = y.w3 &+ sigma1 &+ choose &+ w[e]
        x.w3 = t &+ x.w3
        y.w3 = t &+ sigma0 &+ majority
        // <Y, X> = ROL(Y : X, 32) on the 256-bit value
        let xTop = x.w3, yTop = y.w3
        x = Words(yTop, x.w0, x.w1, x.w2)
        y = Words(xTop, y.w0, y.w1, y.w2)
    }
    return part1 ? x.vector : y.vector
}

/// The result of a cryptographic operation from V[d], V[n], V[m] (read before any is written). Kept out of line
/// so that the AES and SHA code does not swell `executeLanewise`, which every other lane-wise operation runs through.
@inline(never) func cryptoResult(_ kind: SIMDOp, d: V128, n: V128, m: V128) -> V128 {
    switch kind {
    case .aese, .aesd:
        return aesRound(V128(lo: d.lo ^ n.lo, hi: d.hi ^ n.hi), inverse: kind == .aesd)
    case .aesmc:
        return V128(lo: mixColumns(n.lo), hi: mixColumns(n.hi))
    case .aesimc:
        return V128(lo: inverseMixColumns(n.lo), hi: inverseMixColumns(n.hi))
    case .sha1c, .sha1p, .sha1m:
        return sha1Rounds(kind, x: d, y: UInt32(truncatingIfNeeded: n.lo), w: m)
    case .sha1h:
        return V128(lo: UInt64(rol(UInt32(truncatingIfNeeded: n.lo), 30)), hi: 0)
    case .sha1su0:
        // (n<63:0> : d<127:64>) ^ d ^ m
        return V128(lo: d.hi ^ d.lo ^ m.lo, hi: n.lo ^ d.hi ^ m.hi)
    case .sha1su1:
        let x = Words(d), y = Words(n)
        let t = Words(x.w0 ^ y.w1, x.w1 ^ y.w2, x.w2 ^ y.w3, x.w3)
        return Words(rol(t.w0, 1), rol(t.w1, 1), rol(t.w2, 1), rol(t.w3, 1) ^ rol(t.w0, 2)).vector
    case .sha256h:
        return sha256Rounds(x: d, y: n, w: m, part1: true)
    case .sha256h2:
        return sha256Rounds(x: n, y: d, w: m, part1: false)
    case .sha256su0:
        let x = Words(d), y = Words(n)
        let t = Words(x.w1, x.w2, x.w3, y.w0)
        func sigma(_ v: UInt32) -> UInt32 { ror(v, 7) ^ ror(v, 18) ^ (v >> 3) }
        return Words(sigma(t.w0) &+ x.w0, sigma(t.w1) &+ x.w1, sigma(t.w2) &+ x.w2, sigma(t.w3) &+ x.w3).vector
    case .sha256su1:
        let x = Words(d), y = Words(n), z = Words(m)
        let t0 = Words(y.w1, y.w2, y.w3, z.w0)
        func sigma(_ v: UInt32) -> UInt32 { ror(v, 17) ^ ror(v, 19) ^ (v >> 10) }
        let r0 = sigma(z.w2) &+ x.w0 &+ t0.w0
        let r1 = sigma(z.w3) &+ x.w1 &+ t0.w1
        let r2 = sigma(r0) &+ x.w2 &+ t0.w2
        let r3 = sigma(r1) &+ x.w3 &+ t0.w3
        return Words(r0, r1, r2, r3).vector
    default:
        return .zero
    }
}
