// Execution of the cryptographic extension (decoded in Decode/Crypto.swift): AESE, AESD, AESMC, AESIMC,
// SHA1C/P/M/H/SU0/SU1 and SHA256H/H2/SU0/SU1, as the Arm ARM's pseudocode defines them.
//
// The AES S-boxes are computed, not looked up: a Swift global array is initialised lazily and reference
// counted, which the hot path must not do. SubBytes is GF(2^8) inversion (x^254) followed by the affine map of
// FIPS-197 5.1.1; that is a few hundred host operations per byte, which AES code in guests can afford.

/// Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1 (FIPS-197 4.2).
@inline(__always) func aesMultiply(_ a: UInt8, _ b: UInt8) -> UInt8 {
    var x = a, y = b, product: UInt8 = 0
    for _ in 0..<8 {
        if y & 1 != 0 { product ^= x }
        x = x & 0x80 != 0 ? (x << 1) ^ 0x1b : x << 1
        y >>= 1
    }
    return product
}

/// The multiplicative inverse in GF(2^8) (0 maps to 0): x^254.
@inline(__always) private func aesInverse(_ x: UInt8) -> UInt8 {
    let x2 = aesMultiply(x, x)
    let x3 = aesMultiply(x2, x)
    let x6 = aesMultiply(x3, x3)
    let x7 = aesMultiply(x6, x)
    let x14 = aesMultiply(x7, x7)
    let x15 = aesMultiply(x14, x)
    let x30 = aesMultiply(x15, x15)
    let x31 = aesMultiply(x30, x)
    let x62 = aesMultiply(x31, x31)
    let x63 = aesMultiply(x62, x)
    let x126 = aesMultiply(x63, x63)
    let x127 = aesMultiply(x126, x)
    return aesMultiply(x127, x127)
}

@inline(__always) private func rotateLeft8(_ x: UInt8, _ k: UInt8) -> UInt8 { x << k | x >> (8 - k) }

/// The AES S-box (FIPS-197 5.1.1).
@inline(__always) func aesSubByte(_ x: UInt8) -> UInt8 {
    let b = aesInverse(x)
    return b ^ rotateLeft8(b, 1) ^ rotateLeft8(b, 2) ^ rotateLeft8(b, 3) ^ rotateLeft8(b, 4) ^ 0x63
}

/// The inverse S-box (FIPS-197 5.3.2): the inverse affine map, then inversion.
@inline(__always) func aesInverseSubByte(_ x: UInt8) -> UInt8 {
    aesInverse(rotateLeft8(x, 1) ^ rotateLeft8(x, 3) ^ rotateLeft8(x, 6) ^ 0x05)
}

/// The 16 bytes of a vector; byte 4c + r is row r of column c of the AES state (FIPS-197 3.4).
private struct AESState {
    var bytes: V128

    @inline(__always) subscript(_ i: Int) -> UInt8 {
        get { bytes.byte(i) }
        set { bytes.setLane(i, 0, UInt64(newValue)) }
    }
}

/// AESE: SubBytes(ShiftRows(d ^ n)); AESD: InvSubBytes(InvShiftRows(d ^ n)).
@inline(__always) private func aesRound(_ input: V128, inverse: Bool) -> V128 {
    var result = AESState(bytes: .zero)
    let source = AESState(bytes: input)
    for c in 0..<4 {
        for r in 0..<4 {
            // ShiftRows moves row r left by r columns; InvShiftRows right.
            let from = inverse ? (c - r) & 3 : (c + r) & 3
            let x = source[4 * from + r]
            result[4 * c + r] = inverse ? aesInverseSubByte(x) : aesSubByte(x)
        }
    }
    return result.bytes
}

/// AESMC: MixColumns (FIPS-197 5.1.3); AESIMC: InvMixColumns (5.3.3).
@inline(__always) private func aesMixColumns(_ input: V128, inverse: Bool) -> V128 {
    // Row 0 of the circulant matrix; row r is it rotated right by r.
    let k: (UInt8, UInt8, UInt8, UInt8) = inverse ? (0x0e, 0x0b, 0x0d, 0x09) : (0x02, 0x03, 0x01, 0x01)
    let source = AESState(bytes: input)
    var result = AESState(bytes: .zero)
    for c in 0..<4 {
        let a0 = source[4 * c], a1 = source[4 * c + 1], a2 = source[4 * c + 2], a3 = source[4 * c + 3]
        func m(_ x: UInt8, _ y: UInt8) -> UInt8 { aesMultiply(x, y) }
        result[4 * c] = m(k.0, a0) ^ m(k.1, a1) ^ m(k.2, a2) ^ m(k.3, a3)
        result[4 * c + 1] = m(k.3, a0) ^ m(k.0, a1) ^ m(k.1, a2) ^ m(k.2, a3)
        result[4 * c + 2] = m(k.2, a0) ^ m(k.3, a1) ^ m(k.0, a2) ^ m(k.1, a3)
        result[4 * c + 3] = m(k.1, a0) ^ m(k.2, a1) ^ m(k.3, a2) ^ m(k.0, a3)
    }
    return result.bytes
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

/// The result of a cryptographic operation from V[d], V[n], V[m] (read before any is written).
@inline(__always) func cryptoResult(_ kind: SIMDOp, d: V128, n: V128, m: V128) -> V128 {
    switch kind {
    case .aese, .aesd:
        return aesRound(V128(lo: d.lo ^ n.lo, hi: d.hi ^ n.hi), inverse: kind == .aesd)
    case .aesmc, .aesimc:
        return aesMixColumns(n, inverse: kind == .aesimc)
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
