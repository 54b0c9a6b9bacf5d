import Testing
@testable import Machine

// Encodings come from GNU as (aarch64-linux-gnu-as); expected values are worked out from the Arm ARM.

@Suite struct AddSubtractTests {
    @Test func addsSignedOverflow() {
        let t = TestCPU()
        t[x: 1] = 0x7fff_ffff_ffff_ffff; t[x: 2] = 1
        t.run([0xab02_0020])                                   // adds x0, x1, x2
        #expect(t[x: 0] == 0x8000_0000_0000_0000)
        #expect(t.nzcv == N | V)
    }

    @Test func addsCarryToZero() {
        let t = TestCPU()
        t[x: 1] = .max; t[x: 2] = 1
        t.run([0xab02_0020])                                   // adds x0, x1, x2
        #expect(t[x: 0] == 0)
        #expect(t.nzcv == Z | C)
    }

    @Test func adds32IgnoresUpperHalves() {
        let t = TestCPU()
        t[x: 1] = 0x1234_5678_ffff_ffff; t[x: 2] = 0xffff_0000_0000_0001
        t.run([0x2b02_0020])                                   // adds w0, w1, w2
        #expect(t[x: 0] == 0)
        #expect(t.nzcv == Z | C)
    }

    @Test func subsBorrow() {
        let t = TestCPU()
        t[x: 1] = 0; t[x: 2] = 1
        t.run([0xeb02_0020])                                   // subs x0, x1, x2
        #expect(t[x: 0] == .max)
        #expect(t.nzcv == N)
    }

    @Test func subs32Overflow() {
        let t = TestCPU()
        t[x: 1] = 0x8000_0000; t[x: 2] = 1
        t.run([0x6b02_0020])                                   // subs w0, w1, w2
        #expect(t[x: 0] == 0x7fff_ffff)
        #expect(t.nzcv == C | V)
    }

    @Test func adcAndSbcs() {
        let t = TestCPU()
        t[x: 1] = 1; t[x: 2] = 2; t.nzcv = C
        t.run([0x9a02_0020])                                   // adc x0, x1, x2
        #expect(t[x: 0] == 4)
        t[x: 1] = 5; t[x: 2] = 5; t.nzcv = 0
        t.run([0x7a02_0020])                                   // sbcs w0, w1, w2
        #expect(t[x: 0] == 0xffff_ffff)
        #expect(t.nzcv == N)
    }

    @Test func extendedAndShiftedOperands() {
        let t = TestCPU()
        t[x: 31] = 0x1000; t[x: 1] = 0xffff_ffff              // w1 = -1
        t.run([0x8b21_cbe0])                                   // add x0, sp, w1, sxtw #2
        #expect(t[x: 0] == 0xffc)
        t[x: 1] = 0; t[x: 2] = UInt64(bitPattern: -16)
        t.run([0xcb82_0c20])                                   // sub x0, x1, x2, asr #3
        #expect(t[x: 0] == 2)
    }
}

@Suite struct DivideAndMultiplyTests {
    @Test func sdivMinByMinusOne() {
        let t = TestCPU()
        t[x: 1] = 0x8000_0000_0000_0000; t[x: 2] = .max       // INT64_MIN / -1
        t.run([0x9ac2_0c20])                                   // sdiv x0, x1, x2
        #expect(t[x: 0] == 0x8000_0000_0000_0000)
    }

    @Test func divideByZeroGivesZero() {
        let t = TestCPU()
        t[x: 0] = 99; t[x: 1] = 7; t[x: 2] = 0
        t.run([0x9ac2_0c20])                                   // sdiv x0, x1, x2
        #expect(t[x: 0] == 0)
        t[x: 0] = 99
        t.run([0x9ac2_0820])                                   // udiv x0, x1, x2
        #expect(t[x: 0] == 0)
    }

    @Test func sdiv32RoundsTowardZero() {
        let t = TestCPU()
        t[x: 1] = 0xffff_fff9; t[x: 2] = 2                     // -7 / 2
        t.run([0x1ac2_0c20])                                   // sdiv w0, w1, w2
        #expect(t[x: 0] == 0xffff_fffd)
    }

    @Test func udivLarge() {
        let t = TestCPU()
        t[x: 1] = .max; t[x: 2] = 0x10
        t.run([0x9ac2_0820])                                   // udiv x0, x1, x2
        #expect(t[x: 0] == 0x0fff_ffff_ffff_ffff)
    }

    @Test func multiplyAccumulate() {
        let t = TestCPU()
        t[x: 1] = 3; t[x: 2] = 4; t[x: 3] = 5
        t.run([0x9b02_0c20])                                   // madd x0, x1, x2, x3
        #expect(t[x: 0] == 17)
        t.run([0x9b02_8c20])                                   // msub x0, x1, x2, x3
        #expect(t[x: 0] == UInt64(bitPattern: -7))
        t[x: 1] = 0xffff_fffe; t[x: 2] = 3
        t.run([0x9b22_7c20])                                   // smull x0, w1, w2
        #expect(t[x: 0] == UInt64(bitPattern: -6))
    }

    @Test func highMultiplies() {
        let t = TestCPU()
        t[x: 1] = .max; t[x: 2] = .max
        t.run([0x9bc2_7c20])                                   // umulh x0, x1, x2
        #expect(t[x: 0] == 0xffff_ffff_ffff_fffe)
        t.run([0x9b42_7c20])                                   // smulh x0, x1, x2  (-1 * -1)
        #expect(t[x: 0] == 0)
        t[x: 1] = 0x8000_0000_0000_0000; t[x: 2] = 2
        t.run([0x9b42_7c20])                                   // smulh x0, x1, x2  (INT64_MIN * 2)
        #expect(t[x: 0] == .max)
    }
}

@Suite struct ShiftTests {
    @Test func registerShiftsTakeAmountModuloWidth() {
        let t = TestCPU()
        t[x: 1] = 1; t[x: 2] = 65
        t.run([0x9ac2_2020])                                   // lsl x0, x1, x2
        #expect(t[x: 0] == 2)
        t[x: 1] = 0x8000_0000; t[x: 2] = 33
        t.run([0x1ac2_2420])                                   // lsr w0, w1, w2
        #expect(t[x: 0] == 0x4000_0000)
        t[x: 1] = 0x8000_0000_0000_0000; t[x: 2] = 63
        t.run([0x9ac2_2820])                                   // asr x0, x1, x2
        #expect(t[x: 0] == .max)
        t[x: 1] = 1; t[x: 2] = 1
        t.run([0x1ac2_2c20])                                   // ror w0, w1, w2
        #expect(t[x: 0] == 0x8000_0000)
    }
}

@Suite struct LogicalAndMoveTests {
    @Test func bitmaskImmediates() {
        let t = TestCPU()
        t[x: 1] = .max
        t.run([0x9200_f020])                                   // and x0, x1, #0x5555555555555555
        #expect(t[x: 0] == 0x5555_5555_5555_5555)
        t[x: 1] = 0xdead_0000_0000_00ff
        t.run([0x3208_9c20])                                   // orr w0, w1, #0xff00ff00
        #expect(t[x: 0] == 0xff00_ffff)
        t[x: 1] = 0
        t.run([0xd200_3c20])                                   // eor x0, x1, #0xffff0000ffff
        #expect(t[x: 0] == 0x0000_ffff_0000_ffff)
        t.run([0xb210_3fe0])                                   // mov x0, #0xffff0000ffff0000
        #expect(t[x: 0] == 0xffff_0000_ffff_0000)
    }

    @Test func decodeBitMasksRejectsReservedEncodings() {
        // N=0, imms=0b111111 is reserved for logical immediates.
        #expect(decodeBitMasks(n: 0, imms: 0x3f, immr: 0, immediate: true, width: 64) == nil)
        // All-ones element is not encodable as a logical immediate.
        #expect(decodeBitMasks(n: 1, imms: 0x3f, immr: 0, immediate: true, width: 64) == nil)
        let (w, _) = decodeBitMasks(n: 0, imms: 0b111100, immr: 0, immediate: true, width: 64)!
        #expect(w == 0x5555_5555_5555_5555)
    }

    @Test func moveWide() {
        let t = TestCPU()
        t.run([0xd2c2_4680])                                   // movz x0, #0x1234, lsl #32
        #expect(t[x: 0] == 0x0000_1234_0000_0000)
        t.run([0x1280_0000])                                   // movn w0, #0
        #expect(t[x: 0] == 0xffff_ffff)
        t[x: 0] = 0x1111_1111_1111_1111
        t.run([0xf2b7_dde0])                                   // movk x0, #0xbeef, lsl #16
        #expect(t[x: 0] == 0x1111_1111_beef_1111)
    }

    @Test func shiftedLogical() {
        let t = TestCPU()
        t[x: 1] = 0xff; t[x: 2] = 1
        t.run([0x8a22_1020])                                   // bic x0, x1, x2, lsl #4
        #expect(t[x: 0] == 0xef)
        t[x: 1] = 0; t[x: 2] = 0xff
        t.run([0x2ae2_2020])                                   // orn w0, w1, w2, ror #8
        #expect(t[x: 0] == 0x00ff_ffff)
    }
}

@Suite struct BitfieldTests {
    @Test func extractAndInsert() {
        let t = TestCPU()
        t[x: 1] = 0xabcd
        t.run([0xd344_2c20])                                   // ubfx x0, x1, #4, #8
        #expect(t[x: 0] == 0xbc)
        t.run([0x9344_2c20])                                   // sbfx x0, x1, #4, #8
        #expect(t[x: 0] == 0xffff_ffff_ffff_ffbc)
        t[x: 0] = .max; t[x: 1] = 5
        t.run([0xb378_0c20])                                   // bfi x0, x1, #8, #4
        #expect(t[x: 0] == 0xffff_ffff_ffff_f5ff)
        t[x: 1] = 0x0123_4567_89ab_cdef; t[x: 2] = 0xfedc_ba98_7654_3210
        t.run([0x93c2_3020])                                   // extr x0, x1, x2, #12
        #expect(t[x: 0] == 0xdeff_edcb_a987_6543)
    }

    @Test func bitReversalAndCounting() {
        let t = TestCPU()
        t[x: 1] = 1
        t.run([0x5ac0_0020])                                   // rbit w0, w1
        #expect(t[x: 0] == 0x8000_0000)
        t[x: 1] = 0x0102_0304_0506_0708
        t.run([0xdac0_0420])                                   // rev16 x0, x1
        #expect(t[x: 0] == 0x0201_0403_0605_0807)
        t.run([0xdac0_0820])                                   // rev32 x0, x1
        #expect(t[x: 0] == 0x0403_0201_0807_0605)
        t.run([0xdac0_0c20])                                   // rev x0, x1
        #expect(t[x: 0] == 0x0807_0605_0403_0201)
        t[x: 1] = 0
        t.run([0xdac0_1020])                                   // clz x0, x1
        #expect(t[x: 0] == 64)
        t[x: 1] = 0xffff_ffff
        t.run([0x5ac0_1420])                                   // cls w0, w1
        #expect(t[x: 0] == 31)
        t[x: 1] = 0x0000_ffff
        t.run([0x5ac0_1420])                                   // cls w0, w1
        #expect(t[x: 0] == 15)
    }
}

@Suite struct ConditionalTests {
    @Test func conditionalSelect() {
        let t = TestCPU()
        t[x: 1] = 5; t[x: 2] = 9; t.nzcv = 0
        t.run([0x9a82_0420])                                   // csinc x0, x1, x2, eq
        #expect(t[x: 0] == 10)
        t.nzcv = Z
        t.run([0x9a82_0420])                                   // csinc x0, x1, x2, eq
        #expect(t[x: 0] == 5)
        t[x: 2] = 3; t.nzcv = 0
        t.run([0x5a82_b420])                                   // csneg w0, w1, w2, lt
        #expect(t[x: 0] == 0xffff_fffd)
    }

    @Test func conditionalCompare() {
        let t = TestCPU()
        t[x: 1] = 2; t[x: 2] = 2; t.nzcv = Z
        t.run([0xfa42_1024])                                   // ccmp x1, x2, #4, ne (ne false: nzcv = #4)
        #expect(t.nzcv == Z)
        t.nzcv = 0
        t.run([0xfa42_1024])                                   // ccmp x1, x2, #4, ne (compare 2, 2)
        #expect(t.nzcv == Z | C)
    }
}

@Suite struct CRCTests {
    @Test func crc32OfCheckString() {
        let t = TestCPU()
        t[x: 1] = 0xffff_ffff
        for byte in Array("123456789".utf8) {
            t[x: 2] = UInt64(byte)
            t.run([0x1ac2_4021])                               // crc32b w1, w1, w2
        }
        #expect(~UInt32(truncatingIfNeeded: t[x: 1]) == 0xcbf4_3926)
    }

    @Test func crc32cDoubleword() {
        let t = TestCPU()
        t[x: 1] = 0xffff_ffff; t[x: 2] = 0x3837_3635_3433_3231  // "12345678"
        t.run([0x9ac2_5c20])                                   // crc32cx w0, w1, x2
        #expect(t[x: 0] == 0x9f78_7f65)
    }
}

@Suite struct BranchTests {
    @Test func pcRelative() {
        let t = TestCPU()
        t.run([0x1000_0800])                                   // adr x0, .+0x100
        #expect(t[x: 0] == 0x4000_0100)
        t.run([0xd000_0000])                                   // adrp x0, .+0x2000 (page of pc)
        #expect(t[x: 0] == 0x4000_2000)
    }

    @Test func compareAndTestBranches() {
        let t = TestCPU()
        t[x: 1] = 0
        t.run([0xb400_0041])                                   // cbz x1, .+8
        #expect(t.state.pc == 0x4000_0008)
        t[x: 1] = 1 << 63
        t.run([0xb7f8_0041])                                   // tbnz x1, #63, .+8
        #expect(t.state.pc == 0x4000_0010)
        t[x: 1] = 1
        t.run([0xb7f8_0041])                                   // tbnz x1, #63, .+8 (not taken)
        #expect(t.state.pc == 0x4000_0014)
    }
}

@Suite struct LoadStoreTests {
    @Test func addressingModes() {
        let t = TestCPU()
        let s = TestCPU.scratch
        t.poke64(s, 0x1122_3344_5566_7788); t.poke64(s + 8, 0x8899_aabb_ccdd_eeff)
        t[x: 1] = s
        t.run([0xf940_0420])                                   // ldr x0, [x1, #8]
        #expect(t[x: 0] == 0x8899_aabb_ccdd_eeff)
        t.run([0x39c0_0420])                                   // ldrsb w0, [x1, #1]  (0x77)
        #expect(t[x: 0] == 0x77)
        t[x: 2] = 4
        t.run([0x78a2_7820])                                   // ldrsh x0, [x1, x2, lsl #1]  (0xeeff)
        #expect(t[x: 0] == 0xffff_ffff_ffff_eeff)
        t.run([0xb840_4c20])                                   // ldr w0, [x1, #4]!
        #expect(t[x: 0] == 0x1122_3344)
        #expect(t[x: 1] == s + 4)
        t[x: 0] = 0xcafe
        t.run([0xf81f_0420])                                   // str x0, [x1], #-16
        #expect(t.peek64(s + 4) == 0xcafe)
        #expect(t[x: 1] == s - 12)
    }

    @Test func pairs() {
        let t = TestCPU()
        let s = TestCPU.scratch
        t.poke64(s, 0xffff_fffe_0000_0005); t.poke64(s + 16, 1); t.poke64(s + 24, 2)
        t[x: 1] = s
        t.run([0xa941_0820])                                   // ldp x0, x2, [x1, #16]
        #expect(t[x: 0] == 1 && t[x: 2] == 2)
        t.run([0x6940_0820])                                   // ldpsw x0, x2, [x1]
        #expect(t[x: 0] == 5 && t[x: 2] == UInt64(bitPattern: -2))
        t[x: 0] = 0xaaaa_aaaa; t[x: 2] = 0xbbbb_bbbb; t[x: 1] = s + 64
        t.run([0x29bf_0820])                                   // stp w0, w2, [x1, #-8]!
        #expect(t[x: 1] == s + 56)
        #expect(t.peek64(s + 56) == 0xbbbb_bbbb_aaaa_aaaa)
    }

    @Test func unmappedLoadIsDataAbort() {
        let t = TestCPU()
        t.state.sys.vbar = 0x4000_1000
        t[x: 1] = 0x5000_0000
        t.run([0xf940_0020])                                   // ldr x0, [x1]
        #expect(t.state.sys.esr == 0x9600_0010)
        #expect(t.state.sys.far == 0x5000_0000)
        #expect(t.state.sys.elr == 0x4000_0000)
        #expect(t.state.pc == 0x4000_1200)
    }
}

@Suite struct ExclusiveAndAtomicTests {
    @Test func loadStoreExclusive() {
        let t = TestCPU()
        let s = TestCPU.scratch
        t.poke64(s, 41)
        t[x: 1] = s
        t.run([0xc85f_7c20])                                   // ldxr x0, [x1]
        #expect(t[x: 0] == 41)
        t[x: 0] = 42
        t.run([0xc803_7c20])                                   // stxr w3, x0, [x1]
        #expect(t[x: 3] == 0)
        #expect(t.peek64(s) == 42)
        t[x: 0] = 43
        t.run([0xc803_7c20])                                   // stxr w3, x0, [x1] (no reservation)
        #expect(t[x: 3] == 1)
        #expect(t.peek64(s) == 42)
    }

    @Test func misalignedExclusiveIsAlignmentFault() {
        let t = TestCPU()
        t[x: 1] = TestCPU.scratch + 4
        t.run([0xc85f_7c20])                                   // ldxr x0, [x1]
        #expect(t.state.sys.esr == 0x9600_0021)
        #expect(t.state.sys.far == TestCPU.scratch + 4)
    }

    @Test func lseAtomics() {
        let t = TestCPU()
        let s = TestCPU.scratch
        t[x: 1] = s
        t.poke64(s, 10); t[x: 2] = 5
        t.run([0xf822_0020])                                   // ldadd x2, x0, [x1]
        #expect(t[x: 0] == 10 && t.peek64(s) == 15)
        t.poke64(s, 7); t[x: 0] = 7; t[x: 2] = 9
        t.run([0xc8e0_fc22])                                   // casal x0, x2, [x1]
        #expect(t[x: 0] == 7 && t.peek64(s) == 9)
        t[x: 0] = 1
        t.run([0xc8e0_fc22])                                   // casal x0, x2, [x1] (mismatch)
        #expect(t[x: 0] == 9 && t.peek64(s) == 9)
        t.poke64(s, 0x11); t[x: 2] = 0x22
        t.run([0xb822_8020])                                   // swp w2, w0, [x1]
        #expect(t[x: 0] == 0x11 && t.peek32(s) == 0x22)
        t.poke64(s, 0xffff_fffe); t[x: 2] = 1
        t.run([0xb822_4020])                                   // ldsmax w2, w0, [x1]
        #expect(t[x: 0] == 0xffff_fffe && t.peek32(s) == 1)
    }

    /// Narrow LSE atomics read and write only their own bytes: RAM ends in a guard page, so at its last bytes an
    /// 8-byte host access would fault.
    @Test func narrowAtomicsAtTheEndOfRAMTouchOnlyTheirBytes() {
        let t = TestCPU()
        let end = t.memory.ramBase + t.memory.ramSize
        func byte(_ address: UInt64) -> UInt8 { t.memory.ramPointer(address, 1)?.load(as: UInt8.self) ?? 0 }
        _ = t.memory.writeBytes(end - 4, [0x10, 0x20, 0x30, 0x40])
        t[x: 2] = 1
        t[x: 1] = end - 1
        #expect(t.run([0x3822_0020]) == .stepped)              // ldaddb w2, w0, [x1]
        #expect(t[x: 0] == 0x40 && byte(end - 1) == 0x41)
        t[x: 1] = end - 2
        #expect(t.run([0x7822_0020]) == .stepped)              // ldaddh w2, w0, [x1]
        #expect(t[x: 0] == 0x4130 && byte(end - 2) == 0x31)
        t[x: 1] = end - 4
        #expect(t.run([0xb822_0020]) == .stepped)              // ldadd w2, w0, [x1]
        #expect(t[x: 0] == 0x4131_2010 && byte(end - 4) == 0x11)
        t[x: 1] = end - 1; t[x: 2] = 0x99
        #expect(t.run([0x3822_8020]) == .stepped)              // swpb w2, w0, [x1]
        #expect(t[x: 0] == 0x41 && byte(end - 1) == 0x99)
        t[x: 0] = 0x99; t[x: 2] = 0x55
        #expect(t.run([0x08a0_7c22]) == .stepped)              // casb w0, w2, [x1]
        #expect(t[x: 0] == 0x99 && byte(end - 1) == 0x55)
    }
}

@Suite struct UndefinedTests {
    @Test func unallocatedRaisesUndefinedAndIsCounted() {
        let t = TestCPU()
        t.state.sys.vbar = 0x4000_1000
        t.run([0x0000_0000])                                   // udf #0
        #expect(t.state.sys.esr == 0x0200_0000)
        #expect(t.state.pc == 0x4000_1200)
        #expect(t.cpu.undefinedByGroup[EncodingGroup.reserved.rawValue] == 1)
    }

    @Test func tableHasNoShadowedEncodings() {
        // An encoding that an earlier, more general one fully covers could never be reached.
        let table = A64Decoder.table
        for (i, later) in table.enumerated() {
            for earlier in table[..<i] {
                let covers = earlier.pattern.mask & later.pattern.mask == earlier.pattern.mask
                    && later.pattern.value & earlier.pattern.mask == earlier.pattern.value
                #expect(!covers, "\(earlier.name) shadows \(later.name)")
            }
        }
    }
}
