import Testing
@testable import Machine

// The cryptographic extension and the integer AdvSIMD instructions of FEAT_RDM, FEAT_DotProd and FEAT_PMULL,
// plus URECPE/URSQRTE. Encodings come from GNU as (aarch64-linux-gnu-as -march=armv8.2-a+crypto+dotprod).
// Expected values: AES from FIPS-197 appendix B (the state after each step of round 1); SHA from FIPS 180-4's
// "abc" example (working variables after round t = 3, message schedule words W16...W19), reproduced with a
// direct transcription of FIPS 180-4 6.1.2 and 6.2.2; the rest worked out by hand from the Arm ARM pseudocode.

/// A V register value from four 32-bit lanes, lane 0 first.
private func words(_ w0: UInt32, _ w1: UInt32, _ w2: UInt32, _ w3: UInt32) -> (hi: UInt64, lo: UInt64) {
    (UInt64(w3) << 32 | UInt64(w2), UInt64(w1) << 32 | UInt64(w0))
}

/// A V register value from 16 bytes written in FIPS-197 order (byte 0 first).
private func fips(_ hex: String) -> (hi: UInt64, lo: UInt64) {
    let digits = Array(hex.utf8).map { UInt64($0 <= 57 ? $0 - 48 : $0 - 87) }
    var lo: UInt64 = 0, hi: UInt64 = 0
    for i in 0..<16 {
        let byte = digits[2 * i] << 4 | digits[2 * i + 1]
        if i < 8 { lo |= byte << UInt64(8 * i) } else { hi |= byte << UInt64(8 * (i - 8)) }
    }
    return (hi, lo)
}

private let qc: UInt32 = 1 << 27

@Suite struct RoundingDoublingMultiplyAccumulateTests {
    @Test func accumulatesBeforeSaturating() {
        let t = TestCPU()
        // (-1 << 16) + 2 * (-0x8000) * (-0x8000) + 0x8000 = 0x7fff_8000: 0x7fff, in range, so QC stays clear
        // (SQRDMULH then SQADD would saturate first).
        t[v: 0] = (0, 0xffff); t[v: 1] = (0, 0x8000); t[v: 2] = (0, 0x8000)
        t.run([0x6e42_8420])                                   // sqrdmlah v0.8h, v1.8h, v2.8h
        #expect(t[v: 0] == (0, 0x7fff))
        #expect(t.state.fpsr & qc == 0)
    }

    @Test func saturatesAndSetsQC() {
        let t = TestCPU()
        // Lanes: 0 + 2 * 0x4000 * 0x4000 -> 0x2000; 0x7fff + 2 * 0x7fff * 0x7fff saturates; -1 + 2 * 1 * 1 -> -1.
        t[v: 0] = (0, 0x0000_ffff_7fff_0000)
        t[v: 1] = (0, 0x0000_0001_7fff_4000); t[v: 2] = (0, 0x0000_0001_7fff_4000)
        t.run([0x6e42_8420])                                   // sqrdmlah v0.8h, v1.8h, v2.8h
        #expect(t[v: 0] == (0, 0x0000_ffff_7fff_2000))
        #expect(t.state.fpsr & qc != 0)
    }

    @Test func subtractForm32() {
        let t = TestCPU()
        // Lane 0: 0 - 2^63 + 2^31, >> 32 = -2^31 (floor), no saturation; lane 1: INT32_MIN - 2 * INT32_MAX^2 saturates.
        t[v: 0] = words(0, 0x8000_0000, 7, 0)
        t[v: 1] = words(0x8000_0000, 0x7fff_ffff, 0, 0); t[v: 2] = words(0x8000_0000, 0x7fff_ffff, 0, 0)
        t.run([0x6e82_8c20])                                   // sqrdmlsh v0.4s, v1.4s, v2.4s
        #expect(t[v: 0] == words(0x8000_0000, 0x8000_0000, 7, 0))
        #expect(t.state.fpsr & qc != 0)
    }

    @Test func scalarZeroesTheRest() {
        let t = TestCPU()
        t[v: 0] = (.max, 0xffff_ffff_ffff_1000); t[v: 1] = (.max, 0x4000); t[v: 2] = (.max, 0x2000)
        t.run([0x7e42_8420])                                   // sqrdmlah h0, h1, h2
        #expect(t[v: 0] == (0, 0x2000))
    }

    @Test func byElement() {
        let t = TestCPU()
        // m = 0.5 (0x4000_0000): each lane adds (n + 1) >> 1.
        t[v: 0] = words(0, 0, 0, 0x10)
        t[v: 1] = words(0x4000_0000, 2, 0xffff_fffe, 0x7fff_ffff)
        t[v: 2] = words(9, 9, 9, 0x4000_0000)
        t.run([0x6fa2_d820])                                   // sqrdmlah v0.4s, v1.4s, v2.s[3]
        #expect(t[v: 0] == words(0x2000_0000, 1, 0xffff_ffff, 0x4000_0010))
    }

    @Test func scalarByElementSubtract() {
        let t = TestCPU()
        // 0x10 - (2 * 0x4000_0000 * 0x4000_0000 + ...) >> 32 = 0x10 - 0x2000_0000
        t[v: 0] = (0, 0x10); t[v: 1] = (0, 0x4000_0000); t[v: 2] = (0, 0x4000_0000_0000_0000)
        t.run([0x7fa2_f020])                                   // sqrdmlsh s0, s1, v2.s[1]
        #expect(t[v: 0] == (0, 0xe000_0010))
    }
}

@Suite struct DotProductTests {
    // Lanes of v1 (bytes): [-128 x4], [1, 2, 3, 4], [127 x4], [1, 0, 0, 0]; of v2: [-128 x4], [-1 x4],
    // [-128 x4], [1, 0, 0, 0].
    private func operands(_ t: TestCPU) {
        t[v: 1] = words(0x8080_8080, 0x0403_0201, 0x7f7f_7f7f, 1)
        t[v: 2] = words(0x8080_8080, 0xffff_ffff, 0x8080_8080, 1)
        t[v: 0] = words(1, 0, 0, 0xffff_ffff)
    }

    @Test func signed() {
        let t = TestCPU()
        operands(t)
        t.run([0x4e82_9420])                                   // sdot v0.4s, v1.16b, v2.16b
        // 1 + 4 * 16384, -(1+2+3+4), 4 * 127 * -128, 0xffff_ffff + 1 wraps
        #expect(t[v: 0] == words(0x0001_0001, 0xffff_fff6, 0xffff_0200, 0))
    }

    @Test func unsignedHalfVector() {
        let t = TestCPU()
        operands(t)
        t.run([0x2e82_9420])                                   // udot v0.2s, v1.8b, v2.8b
        // 1 + 4 * 128 * 128, (1+2+3+4) * 255; the upper half is zeroed
        #expect(t[v: 0] == words(0x0001_0001, 0x9f6, 0, 0))
    }

    @Test func signedByElement() {
        let t = TestCPU()
        operands(t)
        t[v: 0] = (0, 0)
        t.run([0x4f82_e820])                                   // sdot v0.4s, v1.16b, v2.4b[2]
        // every lane of v1 times the bytes of v2's lane 2, [-128 x4]
        #expect(t[v: 0] == words(0x0001_0000, 0xffff_fb00, 0xffff_0200, 0xffff_ff80))
    }
}

@Suite struct PolynomialMultiplyLongTests {
    @Test func lowHalves() {
        let t = TestCPU()
        // (1 + x + ... + x^63)^2 = 1 + x^2 + ... + x^126 over GF(2)
        t[v: 1] = (1, .max); t[v: 2] = (3, .max)
        t.run([0x0ee2_e020])                                   // pmull v0.1q, v1.1d, v2.1d
        #expect(t[v: 0] == (0x5555_5555_5555_5555, 0x5555_5555_5555_5555))
    }

    @Test func upperHalves() {
        let t = TestCPU()
        // x^63 * (x^63 + x + 1) = x^126 + x^64 + x^63
        t[v: 1] = (0x8000_0000_0000_0000, .max); t[v: 2] = (0x8000_0000_0000_0003, .max)
        t.run([0x4ee2_e020])                                   // pmull2 v0.1q, v1.2d, v2.2d
        #expect(t[v: 0] == (0x4000_0000_0000_0001, 0x8000_0000_0000_0000))
    }
}

@Suite struct UnsignedEstimateTests {
    @Test func reciprocal() {
        let t = TestCPU()
        // 0x8000_0000 (0.5): 2^19 / 513 = 1022, (1022 + 1) / 2 = 511; bit 31 clear: all ones;
        // 0xffff_ffff: 2^19 / 1023 = 512 -> 256; 0xc000_0000: 2^19 / 769 = 681 -> 341.
        t[v: 1] = words(0x8000_0000, 0x7fff_ffff, 0xffff_ffff, 0xc000_0000)
        t.run([0x4ea1_c820])                                   // urecpe v0.4s, v1.4s
        #expect(t[v: 0] == words(0xff80_0000, 0xffff_ffff, 0x8000_0000, 0xaa80_0000))
    }

    @Test func reciprocalSquareRoot() {
        let t = TestCPU()
        // 0x4000_0000 (0.25): smallest b with 257 (b+1)^2 >= 2^28 is 1021 -> 511;
        // 0x8000_0000 (0.5): 514 (b+1)^2 >= 2^28 gives b = 722 -> 361 (0x169).
        t[v: 1] = words(0x4000_0000, 0x8000_0000, 0xffff_ffff, 0x3fff_ffff)
        t.run([0x2ea1_c820])                                   // ursqrte v0.2s, v1.2s
        #expect(t[v: 0] == words(0xff80_0000, 0xb480_0000, 0, 0))
    }
}

@Suite struct CryptoTests {
    // FIPS-197 appendix B, round 1.
    static let input = fips("3243f6a8885a308d313198a2e0370734")
    static let key = fips("2b7e151628aed2a6abf7158809cf4f3c")
    static let afterShiftRows = fips("d4bf5d30e0b452aeb84111f11e2798e5")
    static let afterMixColumns = fips("046681e5e0cb199a48f8d37a2806264c")
    static let startOfRound = fips("193de3bea0f4e22b9ac68d2ae9f84808")

    @Test func aesEncryptRound() {
        let t = TestCPU()
        t[v: 0] = Self.input; t[v: 1] = Self.key
        t.run([0x4e28_4820])                                   // aese v0.16b, v1.16b
        #expect(t[v: 0] == Self.afterShiftRows)
        t[v: 1] = t[v: 0]
        t.run([0x4e28_6820])                                   // aesmc v0.16b, v1.16b
        #expect(t[v: 0] == Self.afterMixColumns)
    }

    @Test func aesDecryptRound() {
        let t = TestCPU()
        t[v: 1] = Self.afterMixColumns
        t.run([0x4e28_7820])                                   // aesimc v0.16b, v1.16b
        #expect(t[v: 0] == Self.afterShiftRows)
        t[v: 1] = (0, 0)
        t.run([0x4e28_5820])                                   // aesd v0.16b, v1.16b
        #expect(t[v: 0] == Self.startOfRound)
    }

    // SHA-1 of "abc": W0 = 0x61626380, W1...W14 = 0, W15 = 0x18; K0 = 0x5a82_7999.
    @Test func sha1FourRounds() {
        let t = TestCPU()
        t[v: 0] = words(0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476)
        t[v: 1] = (.max, 0xffff_ffff_c3d2_e1f0)                // only s1 is read
        t[v: 2] = words(0x6162_6380 &+ 0x5a82_7999, 0x5a82_7999, 0x5a82_7999, 0x5a82_7999)
        t.run([0x5e02_0020])                                   // sha1c q0, s1, v2.4s
        #expect(t[v: 0] == words(0xcdd8_e11b, 0xa139_0f08, 0x6264_14db, 0xc045_bf0c))
    }

    @Test func sha1RotateAndSchedule() {
        let t = TestCPU()
        t[v: 1] = (.max, 0xffff_ffff_0116_fc33)
        t.run([0x5e28_0820])                                   // sha1h s0, s1
        #expect(t[v: 0] == (0, 0xc045_bf0c))
        t[v: 0] = words(0x6162_6380, 0, 0, 0); t[v: 1] = (0, 0); t[v: 2] = (0, 0)
        t.run([0x5e02_3020])                                   // sha1su0 v0.4s, v1.4s, v2.4s
        t[v: 1] = words(0, 0, 0, 0x18)
        t.run([0x5e28_1820])                                   // sha1su1 v0.4s, v1.4s
        #expect(t[v: 0] == words(0xc2c4_c700, 0, 0x30, 0x8589_8e01))
    }

    // SHA-256 of "abc": four rounds with W0...W3 + K0...K3.
    @Test func sha256FourRounds() {
        let abcd = words(0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a)
        let efgh = words(0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19)
        let wk = words(0x6162_6380 &+ 0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5)
        let t = TestCPU()
        t[v: 0] = abcd; t[v: 1] = efgh; t[v: 2] = wk
        t.run([0x5e02_4020])                                   // sha256h q0, q1, v2.4s
        #expect(t[v: 0] == words(0xd550_f666, 0xc8c3_47a7, 0x5a6a_d9ad, 0x5d6a_ebcd))
        t[v: 0] = efgh; t[v: 1] = abcd
        t.run([0x5e02_5020])                                   // sha256h2 q0, q1, v2.4s
        #expect(t[v: 0] == words(0x24e0_0850, 0xf929_39eb, 0x78ce_7989, 0xfa2a_4622))
    }

    @Test func sha256Schedule() {
        let t = TestCPU()
        t[v: 0] = words(0x6162_6380, 0, 0, 0); t[v: 1] = (0, 0)
        t.run([0x5e28_2820])                                   // sha256su0 v0.4s, v1.4s
        t[v: 1] = (0, 0); t[v: 2] = words(0, 0, 0, 0x18)
        t.run([0x5e02_6020])                                   // sha256su1 v0.4s, v1.4s, v2.4s
        #expect(t[v: 0] == words(0x6162_6380, 0x000f_0000, 0x7da8_6405, 0x6000_03c6))
    }

    @Test(arguments: [
        0x5e02_7020 as UInt32,                                 // SHA three-register opcode 111: unallocated
        0x5e42_0020,                                           // sha1c with size 01
        0x4e68_4820,                                           // aese with size 01
        0x4e28_0820,                                           // AES opcode 00000
        0x5e28_3820,                                           // SHA two-register opcode 00011
        0x4e42_9420,                                           // sdot with size 01
        0x6e02_8420,                                           // sqrdmlah with size 00
        0x5e82_9420,                                           // scalar sdot
        0x4ee1_c820,                                           // urecpe with sz = 1
        0x6ee2_e020,                                           // U = 1, size 11, opcode 1110
    ])
    func reservedEncodingsAreUndefined(word: UInt32) {
        let t = TestCPU()
        t.run([word])
        #expect(t.tookUndefined)
    }
}
