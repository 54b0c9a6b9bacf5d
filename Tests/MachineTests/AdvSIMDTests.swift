import Testing
@testable import Machine

// Encodings come from GNU as (aarch64-linux-gnu-as); expected values are worked out from the Arm ARM.
// V registers are written and read as (hi, lo) 64-bit halves.

extension TestCPU {
    subscript(v i: Int) -> (hi: UInt64, lo: UInt64) {
        get { (state.v[2 * i + 1], state.v[2 * i]) }
        set { state.v[2 * i + 1] = newValue.hi; state.v[2 * i] = newValue.lo }
    }

    /// Whether the last instruction took an Undefined Instruction exception.
    var tookUndefined: Bool { state.sys.esr == 1 << 25 && state.sys.elr == TestCPU.codeBase }
}

@Suite struct AdvSIMDArithmeticTests {
    @Test func addWrapsPerLane() {
        let t = TestCPU()
        t[v: 1] = (0xffff_ffff_0000_0001, 0x7fff_ffff_8000_0000)
        t[v: 2] = (0x0000_0001_0000_0001, 0x0000_0001_8000_0000)
        t.run([0x4ea2_8420])                                   // add v0.4s, v1.4s, v2.4s
        #expect(t[v: 0] == (0x0000_0000_0000_0002, 0x8000_0000_0000_0000))
    }

    @Test func sixtyFourBitVectorZeroesUpperHalf() {
        let t = TestCPU()
        t[v: 0] = (.max, .max)
        t[v: 1] = (5, 0x0000_0002_0000_0003); t[v: 2] = (7, 0x0000_0004_0000_0005)
        t.run([0x0ea2_8420])                                   // add v0.2s, v1.2s, v2.2s
        #expect(t[v: 0] == (0, 0x0000_0006_0000_0008))
    }

    @Test func unsignedSaturationSetsQC() {
        let t = TestCPU()
        t[v: 1] = (0, 0xf0f0); t[v: 2] = (0, 0x2020)
        t.run([0x6e22_0c20])                                   // uqadd v0.16b, v1.16b, v2.16b
        #expect(t[v: 0] == (0, 0xffff))
        #expect(t.state.fpsr & (1 << 27) != 0)
    }

    @Test func scalarSignedSaturation() {
        let t = TestCPU()
        t[v: 0] = (.max, .max)
        t[v: 1] = (0, 0x7fff_fff0); t[v: 2] = (0, 0x100)
        t.run([0x5ea2_0c20])                                   // sqadd s0, s1, s2
        #expect(t[v: 0] == (0, 0x7fff_ffff))
    }

    @Test func signedAndUnsignedCompares() {
        let t = TestCPU()
        t[v: 1] = (0, 0xffff_ffff_0000_0001); t[v: 2] = (0, 0x0000_0001_0000_0002)
        t.run([0x6ea2_3420])                                   // cmhi v0.4s, v1.4s, v2.4s
        #expect(t[v: 0] == (0, 0xffff_ffff_0000_0000))
        t.run([0x4ea2_3420])                                   // cmgt v0.4s, v1.4s, v2.4s
        #expect(t[v: 0] == (0, 0))
    }

    @Test func multiplyByElement() {
        let t = TestCPU()
        t[v: 1] = (0x0000_0004_0000_0003, 0x0000_0002_ffff_ffff)
        t[v: 2] = (0x0000_0003_0000_0000, 0)                   // s[3] = 3
        t.run([0x4fa2_8820])                                   // mul v0.4s, v1.4s, v2.s[3]
        #expect(t[v: 0] == (0x0000_000c_0000_0009, 0x0000_0006_ffff_fffd))
    }

    @Test func unsignedMultiplyLongUpperHalves() {
        let t = TestCPU()
        t[v: 1] = (0xffff_ffff_0000_0002, 0x1111); t[v: 2] = (0xffff_ffff_0000_0003, 0x2222)
        t.run([0x6ea2_c020])                                   // umull2 v0.2d, v1.4s, v2.4s
        #expect(t[v: 0] == (0xffff_fffe_0000_0001, 6))
    }

    @Test func bitwiseSelect() {
        let t = TestCPU()
        t[v: 0] = (0xff00, 0xf0f0); t[v: 1] = (.max, .max); t[v: 2] = (0, 0)
        t.run([0x6e62_1c20])                                   // bsl v0.16b, v1.16b, v2.16b
        #expect(t[v: 0] == (0xff00, 0xf0f0))
    }
}

@Suite struct AdvSIMDShiftTests {
    @Test func shiftRightByLaneSize() {
        let t = TestCPU()
        t[v: 1] = (0x8000_0000_0000_0000, 0x8000_0000_0000_0000)
        t.run([0x7f40_0420])                                   // ushr d0, d1, #64
        #expect(t[v: 0] == (0, 0))
        t.run([0x4f40_0420])                                   // sshr v0.2d, v1.2d, #64
        #expect(t[v: 0] == (.max, .max))
    }

    @Test func immediateShiftsStayInsideLanes() {
        let t = TestCPU()
        t[v: 1] = (0, 0xffff_ffff_8000_0001)
        t.run([0x6f3c_0420])                                   // ushr v0.4s, v1.4s, #4
        #expect(t[v: 0] == (0, 0x0fff_ffff_0800_0000))
        t[v: 1] = (0, 0xffff_8001)
        t.run([0x4f13_5420])                                   // shl v0.8h, v1.8h, #3
        #expect(t[v: 0] == (0, 0xfff8_0008))
    }

    @Test func roundingShiftRight() {
        let t = TestCPU()
        t[v: 1] = (0, 0xffff_ffff_0000_0003)                   // -1, 3
        t.run([0x4f3f_2420])                                   // srshr v0.4s, v1.4s, #1
        #expect(t[v: 0] == (0, 0x0000_0000_0000_0002))
    }

    @Test func shiftByNegativeRegisterShiftsRight() {
        let t = TestCPU()
        t[v: 1] = (0, 0x8000_0000_0000_0100); t[v: 2] = (0, 0x0000_00fc_0000_0004) // -4, +4
        t.run([0x4ea2_4420])                                   // sshl v0.4s, v1.4s, v2.4s
        #expect(t[v: 0] == (0, 0xf800_0000_0000_1000))
    }

    @Test func narrowAndWiden() {
        let t = TestCPU()
        t[v: 0] = (0xdead, 0x1122_3344_5566_7788)
        t[v: 1] = (0x00ff_0001_0102_0a0b, 0x1234_5678_9abc_def0)
        t.run([0x4e21_2820])                                   // xtn2 v0.16b, v1.8h
        #expect(t[v: 0] == (0xff01_020b_3478_bcf0, 0x1122_3344_5566_7788))
        t[v: 1] = (0x0001_0000_ffff_ffff, 0x7fff_ffff_0000_1234)
        t.run([0x2e61_2820])                                   // sqxtun v0.4h, v1.4s
        #expect(t[v: 0] == (0, 0xffff_0000_ffff_1234))
        t[v: 1] = (0, 0x80ff)
        t.run([0x2f08_a420])                                   // uxtl v0.8h, v1.8b
        #expect(t[v: 0] == (0, 0x0080_00ff))
        t[v: 1] = (0xffff_ffff_0000_0001, 0)
        t.run([0x4f23_a420])                                   // sshll2 v0.2d, v1.4s, #3
        #expect(t[v: 0] == (0xffff_ffff_ffff_fff8, 8))
    }
}

@Suite struct AdvSIMDMoveTests {
    @Test func modifiedImmediates() {
        let t = TestCPU()
        t.run([0x6f05_e4c0])                                   // movi v0.2d, #0xff00ff0000ffff00
        #expect(t[v: 0] == (0xff00_ff00_00ff_ff00, 0xff00_ff00_00ff_ff00))
        t.run([0x2f00_a640])                                   // mvni v0.4h, #0x12, lsl #8
        #expect(t[v: 0] == (0, 0xedff_edff_edff_edff))
        t[v: 0] = (1, 2)
        t.run([0x4f04_7400])                                   // orr v0.4s, #0x80, lsl #24
        #expect(t[v: 0] == (0x8000_0000_8000_0001, 0x8000_0000_8000_0002))
        t.run([0x4f07_f700])                                   // fmov v0.4s, #-1.5
        #expect(t[v: 0] == (0xbfc0_0000_bfc0_0000, 0xbfc0_0000_bfc0_0000))
        t.run([0x1e70_9000])                                   // fmov d0, #-2.5
        #expect(t[v: 0] == (0, 0xc004_0000_0000_0000))
    }

    @Test func duplicateAndMoveElements() {
        let t = TestCPU()
        t[x: 1] = 0x1234_abcd
        t.run([0x4e02_0c20])                                   // dup v0.8h, w1
        #expect(t[v: 0] == (0xabcd_abcd_abcd_abcd, 0xabcd_abcd_abcd_abcd))
        t[v: 1] = (0x8877_6655_4433_2211, 0x0011_2233_4455_6677)
        t.run([0x4e18_0420])                                   // dup v0.2d, v1.d[1]
        #expect(t[v: 0] == (0x8877_6655_4433_2211, 0x8877_6655_4433_2211))
        t.run([0x0e16_3c20])                                   // umov w0, v1.h[5]
        #expect(t[x: 0] == 0x4433)
        t.run([0x4e1f_2c20])                                   // smov x0, v1.b[15]
        #expect(t[x: 0] == 0xffff_ffff_ffff_ff88)
        t.run([0x5e18_0420])                                   // mov d0, v1.d[1]
        #expect(t[v: 0] == (0, 0x8877_6655_4433_2211))
    }

    @Test func insertKeepsOtherLanes() {
        let t = TestCPU()
        t[v: 0] = (0x1111_1111_2222_2222, 0x3333_3333_4444_4444)
        t[x: 1] = 0xdead_beef_cafe_f00d
        t.run([0x4e1c_1c20])                                   // mov v0.s[3], w1
        #expect(t[v: 0] == (0xcafe_f00d_2222_2222, 0x3333_3333_4444_4444))
        t[v: 1] = (0xab00_0000_0000_0000, 0)
        t.run([0x6e01_7c20])                                   // mov v0.b[0], v1.b[15]
        #expect(t[v: 0] == (0xcafe_f00d_2222_2222, 0x3333_3333_4444_44ab))
    }

    @Test func fmovBetweenRegisterFiles() {
        let t = TestCPU()
        t[v: 1] = (0x1122_3344_5566_7788, 0x99aa_bbcc_ddee_ff00)
        t.run([0x9eae_0020])                                   // fmov x0, v1.d[1]
        #expect(t[x: 0] == 0x1122_3344_5566_7788)
        t.run([0x1e26_0020])                                   // fmov w0, s1
        #expect(t[x: 0] == 0xddee_ff00)
        t[v: 0] = (7, 8); t[x: 1] = 0xffff_0000_ffff_0001
        t.run([0x9eaf_0020])                                   // fmov v0.d[1], x1
        #expect(t[v: 0] == (0xffff_0000_ffff_0001, 8))
        t.run([0x1e27_0020])                                   // fmov s0, w1
        #expect(t[v: 0] == (0, 0xffff_0001))
        t.run([0x1e60_4020])                                   // fmov d0, d1
        #expect(t[v: 0] == (0, 0x99aa_bbcc_ddee_ff00))
    }

    @Test func conditionalSelect() {
        let t = TestCPU()
        t[v: 1] = (1, 0x1111_1111_2222_2222); t[v: 2] = (2, 0x3333_3333_4444_4444)
        t.nzcv = Z
        t.run([0x1e22_0c20])                                   // fcsel s0, s1, s2, eq
        #expect(t[v: 0] == (0, 0x2222_2222))
        t.nzcv = 0
        t.run([0x1e22_0c20])
        #expect(t[v: 0] == (0, 0x4444_4444))
    }
}

@Suite struct AdvSIMDPermuteAndReduceTests {
    @Test func extractAndTables() {
        let t = TestCPU()
        t[v: 1] = (0x0f0e_0d0c_0b0a_0908, 0x0706_0504_0302_0100)
        t[v: 2] = (0x1f1e_1d1c_1b1a_1918, 0x1716_1514_1312_1110)
        t.run([0x6e02_1820])                                   // ext v0.16b, v1.16b, v2.16b, #3
        #expect(t[v: 0] == (0x1211_100f_0e0d_0c0b, 0x0a09_0807_0605_0403))
        t[v: 3] = (0x0000_0000_0000_00ff, 0x2000_1f10_0f01_1e05)
        t.run([0x4e03_2020])                                   // tbl v0.16b, {v1.16b, v2.16b}, v3.16b
        #expect(t[v: 0] == (0x0000_0000_0000_0000, 0x0000_1f10_0f01_1e05))
        t[v: 0] = (.max, 0xaaaa_aaaa_aaaa_aaaa)
        t.run([0x0e03_1020])                                   // tbx v0.8b, {v1.16b}, v3.8b
        #expect(t[v: 0] == (0, 0xaa00_aaaa_0f01_aa05))
    }

    @Test func zipUnzipTranspose() {
        let t = TestCPU()
        t[v: 1] = (0x0f0e_0d0c_0b0a_0908, 0x0706_0504_0302_0100)
        t[v: 2] = (0x1f1e_1d1c_1b1a_1918, 0x1716_1514_1312_1110)
        t.run([0x4e02_3820])                                   // zip1 v0.16b, v1.16b, v2.16b
        #expect(t[v: 0] == (0x1707_1606_1505_1404, 0x1303_1202_1101_1000))
        t.run([0x4e42_5820])                                   // uzp2 v0.8h, v1.8h, v2.8h
        #expect(t[v: 0] == (0x1f1e_1b1a_1716_1312, 0x0f0e_0b0a_0706_0302))
        t.run([0x4e82_2820])                                   // trn1 v0.4s, v1.4s, v2.4s
        #expect(t[v: 0] == (0x1b1a_1918_0b0a_0908, 0x1312_1110_0302_0100))
    }

    @Test func acrossLanes() {
        let t = TestCPU()
        t[v: 1] = (0xffff_ffff_ffff_ffff, 0x0102_0304_0506_0708)
        t.run([0x4e31_b820])                                   // addv b0, v1.16b
        #expect(t[v: 0] == (0, 0x1c))                          // 36 + 8 * 255, mod 256
        t.run([0x6e30_3820])                                   // uaddlv h0, v1.16b
        #expect(t[v: 0] == (0, 0x081c))
        t.run([0x6eb0_a820])                                   // umaxv s0, v1.4s
        #expect(t[v: 0] == (0, 0xffff_ffff))
        t.run([0x4e71_a820])                                   // sminv h0, v1.8h
        #expect(t[v: 0] == (0, 0xffff))
        t[v: 1] = (3, 4)
        t.run([0x5ef1_b820])                                   // addp d0, v1.2d
        #expect(t[v: 0] == (0, 7))
    }

    @Test func countAndReverse() {
        let t = TestCPU()
        t[v: 1] = (0xff00_0f01, 0x0807_0605_0403_0201)
        t.run([0x4e20_5820])                                   // cnt v0.16b, v1.16b
        #expect(t[v: 0] == (0x0800_0401, 0x0103_0202_0102_0101))
        t.run([0x4e60_0820])                                   // rev64 v0.8h, v1.8h
        #expect(t[v: 0] == (0x0f01_ff00_0000_0000, 0x0201_0403_0605_0807))
    }
}

@Suite struct SIMDLoadStoreTests {
    @Test func registerLoadsAndStores() {
        let t = TestCPU()
        let base = TestCPU.scratch
        t.poke64(base + 16, 0x1111_2222_3333_4444); t.poke64(base + 24, 0x5555_6666_7777_8888)
        t[x: 1] = base
        t.run([0x3dc0_0420])                                   // ldr q0, [x1, #16]
        #expect(t[v: 0] == (0x5555_6666_7777_8888, 0x1111_2222_3333_4444))
        t[v: 1] = (0xaaaa, 0xbbbb); t[x: 1] = base + 64
        t.run([0x3c9f_0c21])                                   // str q1, [x1, #-16]!
        #expect(t[x: 1] == base + 48)
        #expect(t.peek64(base + 48) == 0xbbbb && t.peek64(base + 56) == 0xaaaa)
        t[x: 1] = base + 16
        t.run([0xbc40_4420])                                   // ldr s0, [x1], #4
        #expect(t[v: 0] == (0, 0x3333_4444))
        #expect(t[x: 1] == base + 20)
        t[x: 1] = base; t[x: 2] = 3
        t.run([0xfc62_7820])                                   // ldr d0, [x1, x2, lsl #3]
        #expect(t[v: 0] == (0, 0x5555_6666_7777_8888))
    }

    @Test func literalAndPairs() {
        let t = TestCPU()
        t.poke64(TestCPU.codeBase + 0x40, 0x0123_4567_89ab_cdef); t.poke64(TestCPU.codeBase + 0x48, 0xfedc_ba98_7654_3210)
        t.run([0x9c00_0200])                                   // ldr q0, <pc + 0x40>
        #expect(t[v: 0] == (0xfedc_ba98_7654_3210, 0x0123_4567_89ab_cdef))
        let base = TestCPU.scratch
        for i in 0..<4 { t.poke64(base + UInt64(8 * i), UInt64(i + 1)) }
        t[x: 1] = base + 32
        t.run([0xadff_0420])                                   // ldp q0, q1, [x1, #-32]!
        #expect(t[v: 0] == (2, 1) && t[v: 1] == (4, 3))
        #expect(t[x: 1] == base)
        t.run([0x6c40_0420])                                   // ldnp d0, d1, [x1]
        #expect(t[v: 0] == (0, 1) && t[v: 1] == (0, 2))
    }

    @Test func structureLoadsDeinterleave() {
        let t = TestCPU()
        let base = TestCPU.scratch
        for i in 0..<8 { t.poke64(base + UInt64(8 * i), UInt64(2 * i + 1) << 32 | UInt64(2 * i)) }
        t[x: 1] = base
        t.run([0x4c40_0820])                                   // ld4 {v0.4s-v3.4s}, [x1]
        #expect(t[v: 0] == (0x0000_000c_0000_0008, 0x0000_0004_0000_0000))
        #expect(t[v: 3] == (0x0000_000f_0000_000b, 0x0000_0007_0000_0003))
        t[x: 2] = 5
        t.run([0x4cc2_a020])                                   // ld1 {v0.16b, v1.16b}, [x1], x2
        #expect(t[v: 1] == (0x0000_0007_0000_0006, 0x0000_0005_0000_0004))
        #expect(t[x: 1] == base + 5)
    }

    @Test func structureStoresInterleave() {
        let t = TestCPU()
        let base = TestCPU.scratch
        t[v: 4] = (0x0007_0006_0005_0004, 0x0003_0002_0001_0000)
        t[v: 5] = (0x0017_0016_0015_0014, 0x0013_0012_0011_0010)
        t[x: 1] = base
        t.run([0x4c9f_8424])                                   // st2 {v4.8h, v5.8h}, [x1], #32
        #expect(t.peek64(base) == 0x0011_0001_0010_0000)
        #expect(t.peek64(base + 24) == 0x0017_0007_0016_0006)
        #expect(t[x: 1] == base + 32)
    }

    @Test func replicateAndSingleLanes() {
        let t = TestCPU()
        let base = TestCPU.scratch
        t.poke64(base, 0x2222_2222_1111_1111); t.poke64(base + 8, 0x4444_4444)
        t[x: 1] = base
        t.run([0x4d40_c420])                                   // ld1r {v0.8h}, [x1]
        #expect(t[v: 0] == (0x1111_1111_1111_1111, 0x1111_1111_1111_1111))
        t[v: 2] = (.max, .max)
        t.run([0x0ddf_e820])                                   // ld3r {v0.2s-v2.2s}, [x1], #12
        #expect(t[v: 0] == (0, 0x1111_1111_1111_1111))
        #expect(t[v: 2] == (0, 0x4444_4444_4444_4444))
        #expect(t[x: 1] == base + 12)
        t[v: 1] = (0xfeed_f00d_0000_0000, 0); t[x: 1] = base + 32
        t.run([0x4d00_9021])                                   // st1 {v1.s}[3], [x1]
        #expect(t.peek32(base + 32) == 0xfeed_f00d)
        t[v: 0] = (0, 0); t[v: 1] = (0, 0); t[x: 1] = base; t[x: 2] = 2
        t.run([0x4de2_0420])                                   // ld2 {v0.b, v1.b}[9], [x1], x2
        #expect(t[v: 0] == (0x1100, 0) && t[v: 1] == (0x1100, 0))
        #expect(t[x: 1] == base + 2)
    }

    @Test func registerListWrapsAround() {
        let t = TestCPU()
        let base = TestCPU.scratch
        for i in 0..<4 { t.poke64(base + UInt64(8 * i), UInt64(i + 1)) }
        t[x: 1] = base
        t.run([0x4c40_ac3f])                                   // ld1 {v31.2d, v0.2d}, [x1]
        #expect(t[v: 31] == (2, 1) && t[v: 0] == (4, 3))
    }
}

@Suite struct AdvSIMDUnallocatedTests {
    @Test(arguments: [
        0x0ee2_8420 as UInt32,   // add v0.1d, v1.1d, v2.1d (64-bit lanes need Q = 1)
        0x0e08_0c20,             // dup v0.1d, x1
        0x0c40_8c20,             // ld2 {v0.1d, v1.1d}, [x1]
        0x5ea2_8420,             // add s0, s1, s2 (scalar ADD exists only for D)
        0x2f00_f400,             // fmov v0.1d, #imm (op = 1, cmode = 1111 needs Q = 1)
    ])
    func reservedEncodingsAreUndefined(word: UInt32) {
        let t = TestCPU()
        t[x: 1] = TestCPU.scratch
        t.run([word])
        #expect(t.tookUndefined)
    }

    @Test func faddAddsTwoSingleLanesAndZeroesTheUpperHalf() {
        // Expected sums from the host's IEEE single-precision addition (round to nearest even, as FPCR = 0 asks).
        let t = TestCPU()
        let a: [Float] = [1.5, -2.25], b: [Float] = [0.1, 1e-30]
        func pack(_ f: [Float]) -> UInt64 { UInt64(f[1].bitPattern) << 32 | UInt64(f[0].bitPattern) }
        t[v: 0] = (.max, .max)
        t[v: 1] = (0xdead, pack(a)); t[v: 2] = (0xbeef, pack(b))
        t.run([0x0e22_d420])                                   // fadd v0.2s, v1.2s, v2.2s
        #expect(t[v: 0] == (0, pack([a[0] + b[0], a[1] + b[1]])))
        #expect(t.state.fpsr == 0x10)                          // IXC: 1.5 + 0.1 is inexact in single precision
    }

    @Test func fmaddScalarDoubleIsFused() {
        // Expected value from the host's fused multiply-add (Double.addingProduct).
        let t = TestCPU()
        let n = 1.0 + 0x1p-30, m = 1.0 - 0x1p-30, a = -1.0
        t[v: 1] = (7, n.bitPattern); t[v: 2] = (7, m.bitPattern); t[v: 3] = (7, a.bitPattern)
        t.run([0x1f42_0c20])                                   // fmadd d0, d1, d2, d3
        #expect(t[v: 0] == (0, a.addingProduct(n, m).bitPattern))
    }

    @Test func simdOpRawValuesAreCaseIndices() {
        // executeSIMD turns Op.a back into a SIMDOp with a bit cast, which relies on this.
        #expect(SIMDOp(rawValue: 0) == .movi)
        #expect(SIMDOp(rawValue: SIMDOp.last.rawValue) == .sha256su1)
        #expect(SIMDOp(rawValue: SIMDOp.last.rawValue + 1) == nil)
    }
}
