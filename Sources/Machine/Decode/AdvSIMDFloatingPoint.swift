// Arm ARM C4.1.95: the floating-point encodings of the Advanced SIMD classes (three same, three same FP16,
// two-register miscellaneous and its FP16 form, across lanes, scalar pairwise, by element, shift by immediate's
// fixed-point conversions, FMOV (vector, FP16 immediate)), vector and scalar, decoded to `.fp` ops (see
// Decode/FloatingPoint.swift). The patterns fix the bits that make them floating-point, so the integer
// encodings of the same classes (Decode/AdvSIMD.swift) are never matched here, URECPE/URSQRTE included.
// SPDX-License-Identifier: GPL-2.0-or-later

enum AdvSIMDFloatingPoint {
    static let encodings: [A64Encoding] = [
        A64Encoding("FP_3same", "0Qu01110as1mmmmm11ooo1nnnnnddddd") { f, _ in
            threeSame(f, s: 2 + Int(f.s), scalar: false)
        },
        A64Encoding("FP_3same_scalar", "01u11110as1mmmmm11ooo1nnnnnddddd") { f, _ in
            threeSame(f, s: 2 + Int(f.s), scalar: true)
        },
        A64Encoding("FP16_3same", "0Qu01110a10mmmmm00ooo1nnnnnddddd") { f, _ in
            threeSame(f, s: 1, scalar: false)
        },
        A64Encoding("FP16_3same_scalar", "01u11110a10mmmmm00ooo1nnnnnddddd") { f, _ in
            threeSame(f, s: 1, scalar: true)
        },
        // Two-register miscellaneous: opcodes 011xx (a = 1), 1011x (a = 0), 11xxx (a = 0), 110xx/11101/11111
        // (a = 1; 11100 is URECPE/URSQRTE, an integer instruction)
        A64Encoding("FP_2misc_cmp0", "0Qu011101s10000011oo10nnnnnddddd") { f, _ in
            twoMisc(f, a: 1, opcode: 0b01100 | f.o, s: 2 + Int(f.s), scalar: false)
        },
        A64Encoding("FP_2misc_cvtn", "0Qu011100s100001011o10nnnnnddddd") { f, _ in
            twoMisc(f, a: 0, opcode: 0b10110 | f.o, s: 2 + Int(f.s), scalar: false)
        },
        A64Encoding("FP_2misc_a0", "0Qu011100s1000011ooo10nnnnnddddd") { f, _ in
            twoMisc(f, a: 0, opcode: 0b11000 | f.o, s: 2 + Int(f.s), scalar: false)
        },
        A64Encoding("FP_2misc_a1_frint_fcvt", "0Qu011101s10000110oo10nnnnnddddd") { f, _ in
            twoMisc(f, a: 1, opcode: 0b11000 | f.o, s: 2 + Int(f.s), scalar: false)
        },
        A64Encoding("FP_2misc_a1_estimate_sqrt", "0Qu011101s10000111o110nnnnnddddd") { f, _ in
            twoMisc(f, a: 1, opcode: 0b11101 | f.o << 1, s: 2 + Int(f.s), scalar: false)
        },
        A64Encoding("FP_2misc_scalar_cmp0", "01u111101s10000011oo10nnnnnddddd") { f, _ in
            twoMisc(f, a: 1, opcode: 0b01100 | f.o, s: 2 + Int(f.s), scalar: true)
        },
        A64Encoding("FP_2misc_scalar_cvtxn", "01u111100s100001011010nnnnnddddd") { f, _ in
            twoMisc(f, a: 0, opcode: 0b10110, s: 2 + Int(f.s), scalar: true)
        },
        A64Encoding("FP_2misc_scalar", "01u11110as1000011ooo10nnnnnddddd") { f, _ in
            twoMisc(f, a: f.a, opcode: 0b11000 | f.o, s: 2 + Int(f.s), scalar: true)
        },
        A64Encoding("FP16_2misc", "0Qu01110a111100ooooo10nnnnnddddd") { f, _ in
            twoMisc(f, a: f.a, opcode: f.o, s: 1, scalar: false)
        },
        A64Encoding("FP16_2misc_scalar", "01u11110a111100ooooo10nnnnnddddd") { f, _ in
            twoMisc(f, a: f.a, opcode: f.o, s: 1, scalar: true)
        },
        // Across lanes: FMAXNMV, FMINNMV (01100), FMAXV, FMINV (01111); single with U = 1, half with U = 0
        A64Encoding("FP_across_lanes", "0Qu01110as11000011oo10nnnnnddddd") { f, _ in
            let s = f.u == 1 ? 2 + Int(f.s) : 1
            if s == 3 || (f.u == 0 && f.s == 1) || (s == 2 && f.Q == 0) { return nil }
            let code: FPOp
            switch (f.o, f.a) {
            case (0, 0): code = .maxnmv
            case (0, 1): code = .minnmv
            case (3, 0): code = .maxv
            case (3, 1): code = .minv
            default: return nil
            }
            return fpOp(code, d: f.d, n: f.n, s: s, f: FPFlags.vector | (f.Q == 1 ? FPFlags.q : 0))
        },
        // Scalar pairwise: FMAXNMP, FMINNMP, FADDP, FMAXP, FMINP on the two lanes of a vector
        A64Encoding("FP_scalar_pairwise", "01u11110as11000011oo10nnnnnddddd") { f, _ in
            let s = f.u == 1 ? 2 + Int(f.s) : 1
            if f.u == 0 && f.s == 1 { return nil }
            let code: FPOp
            switch (f.o, f.a) {
            case (0, 0): code = .maxnmp
            case (0, 1): code = .minnmp
            case (1, 0): code = .addp
            case (3, 0): code = .maxp
            case (3, 1): code = .minp
            default: return nil
            }
            return fpOp(code, d: f.d, n: f.n, m: f.n, s: s)
        },
        // By element: FMLA (0001), FMLS (0101), FMUL/FMULX (1001)
        A64Encoding("FP_by_element_mla", "0Qu01111zzLMmmmm0o01H0nnnnnddddd") { f, _ in
            byElement(f, opcode: f.o << 2 | 1, scalar: false)
        },
        A64Encoding("FP_by_element_mul", "0Qu01111zzLMmmmm1001H0nnnnnddddd") { f, _ in
            byElement(f, opcode: 0b1001, scalar: false)
        },
        A64Encoding("FP_by_element_mla_scalar", "01u11111zzLMmmmm0o01H0nnnnnddddd") { f, _ in
            byElement(f, opcode: f.o << 2 | 1, scalar: true)
        },
        A64Encoding("FP_by_element_mul_scalar", "01u11111zzLMmmmm1001H0nnnnnddddd") { f, _ in
            byElement(f, opcode: 0b1001, scalar: true)
        },
        // Shift by immediate: SCVTF/UCVTF (11100) and FCVTZS/FCVTZU (11111), fixed-point. One pattern per
        // element size (immh = 1xxx, 01xx, 001x), since immh = 0000 is the modified-immediate class.
        A64Encoding("FP_fixed_vector_D", "0Qu0111101hhhbbb111oo1nnnnnddddd") { f, _ in fixedPoint(f, s: 3, scalar: false) },
        A64Encoding("FP_fixed_vector_S", "0Qu01111001hhbbb111oo1nnnnnddddd") { f, _ in fixedPoint(f, s: 2, scalar: false) },
        A64Encoding("FP_fixed_vector_H", "0Qu011110001hbbb111oo1nnnnnddddd") { f, _ in fixedPoint(f, s: 1, scalar: false) },
        A64Encoding("FP_fixed_scalar_D", "01u1111101hhhbbb111oo1nnnnnddddd") { f, _ in fixedPoint(f, s: 3, scalar: true) },
        A64Encoding("FP_fixed_scalar_S", "01u11111001hhbbb111oo1nnnnnddddd") { f, _ in fixedPoint(f, s: 2, scalar: true) },
        // Not fuzzed: QEMU 7.2 writes FCVTZS Hd, Hn, #fbits's 16-bit result sign-extended to 32 bits, where the
        // Arm ARM (V[d] = result, esize = datasize = 16) zero-extends it; the differential test would report
        // QEMU's bug. emud follows the architecture.
        A64Encoding("FP_fixed_scalar_H", "01u111110001hbbb111oo1nnnnnddddd", fuzz: false) { f, _ in
            fixedPoint(f, s: 1, scalar: true)
        },
        // FMOV (vector, immediate), half precision
        A64Encoding("FMOV_vector_imm16", "0Q00111100000hhh111111lllllddddd") { f, _ in
            let half = fpImmediate16(f.h << 5 | f.l)
            let value = half * 0x0001_0001_0001_0001
            return Op(.simd, d: Int(f.d), a: Int(SIMDOp.movi.rawValue), s: 3, f: f.Q == 1 ? SIMDFlags.q : 0, imm: value)
        },
    ]

    private static func flags(_ f: Fields, scalar: Bool) -> UInt8 {
        scalar ? 0 : FPFlags.vector | (f.Q == 1 ? FPFlags.q : 0)
    }

    private static func threeSame(_ f: Fields, s: Int, scalar: Bool) -> Op? {
        if !scalar && s == 3 && f.Q == 0 { return nil }
        let base = flags(f, scalar: scalar)
        func make(_ code: FPOp, _ extra: UInt8 = 0, imm: UInt64 = 0) -> Op {
            fpOp(code, d: f.d, n: f.n, m: f.m, s: s, f: base | extra, imm: imm)
        }
        let vectorOnly: Op?
        switch (f.u, f.a, f.o) {
        case (0, 0, 0b011): return make(.mulx)
        case (0, 0, 0b100): return make(.cmeq)
        case (0, 0, 0b111): return make(.recps)
        case (0, 1, 0b111): return make(.rsqrts)
        case (1, 0, 0b100): return make(.cmge)
        case (1, 0, 0b101): return make(.acge)
        case (1, 1, 0b010): return make(.abd)
        case (1, 1, 0b100): return make(.cmgt)
        case (1, 1, 0b101): return make(.acgt)
        case (0, 0, 0b000): vectorOnly = make(.maxnm)
        case (0, 0, 0b001): vectorOnly = make(.fma)
        case (0, 0, 0b010): vectorOnly = make(.add)
        case (0, 0, 0b110): vectorOnly = make(.max)
        case (0, 1, 0b000): vectorOnly = make(.minnm)
        case (0, 1, 0b001): vectorOnly = make(.fma, imm: 1)
        case (0, 1, 0b010): vectorOnly = make(.sub)
        case (0, 1, 0b110): vectorOnly = make(.min)
        case (1, 0, 0b000): vectorOnly = make(.maxnmp)
        case (1, 0, 0b010): vectorOnly = make(.addp)
        case (1, 0, 0b011): vectorOnly = make(.mul)
        case (1, 0, 0b110): vectorOnly = make(.maxp)
        case (1, 0, 0b111): vectorOnly = make(.div)
        case (1, 1, 0b000): vectorOnly = make(.minnmp)
        case (1, 1, 0b110): vectorOnly = make(.minp)
        default: return nil
        }
        return scalar ? nil : vectorOnly
    }

    /// The FP opcodes of the two-register miscellaneous class (`a` = size<1>).
    private static func twoMisc(_ f: Fields, a: UInt32, opcode: UInt32, s: Int, scalar: Bool) -> Op? {
        let q = f.word.bit(30)
        if !scalar && s == 3 && !q && opcode != 0b10110 && opcode != 0b10111 { return nil }
        let u = f.u == 1
        let base = flags(f, scalar: scalar)
        func make(_ code: FPOp, _ extra: UInt8 = 0, imm: UInt64 = 0, size: Int? = nil) -> Op {
            fpOp(code, d: f.d, n: f.n, s: size ?? s, f: base | extra, imm: imm)
        }
        func toInt(_ rounding: FPRounding) -> Op {
            make(.toInt, u ? FPFlags.unsigned : 0, imm: UInt64(rounding.rawValue))
        }
        func roundInt(_ rounding: UInt64, _ extra: UInt8 = 0) -> Op? {
            scalar ? nil : make(.roundInt, extra, imm: rounding)
        }
        switch (u, a, opcode) {
        case (false, 1, 0b01100): return make(.cmgt, FPFlags.zero)
        case (false, 1, 0b01101): return make(.cmeq, FPFlags.zero)
        case (false, 1, 0b01110): return make(.cmlt0)
        case (true, 1, 0b01100): return make(.cmge, FPFlags.zero)
        case (true, 1, 0b01101): return make(.cmle0)
        case (false, 1, 0b01111): return scalar ? nil : make(.abs)
        case (true, 1, 0b01111): return scalar ? nil : make(.neg)
        case (true, 1, 0b11111): return scalar ? nil : make(.sqrt)
        case (false, 1, 0b11111): return scalar ? make(.recpx) : nil
        case (false, 1, 0b11101): return make(.recpe)
        case (true, 1, 0b11101): return make(.rsqrte)
        case (false, 0, 0b10110):  // FCVTN: s here is the source size; the op's s is the destination size
            return scalar || s == 1 ? nil : make(.narrow, imm: roundingFromFPCR, size: s - 1)
        case (true, 0, 0b10110):   // FCVTXN: double to single, round to odd
            return s != 3 ? nil : make(.narrow, imm: UInt64(FPRounding.odd.rawValue), size: 2)
        case (false, 0, 0b10111):  // FCVTL: s - 1 is the source size
            return scalar || s == 1 ? nil : make(.lengthen, size: s - 1)
        case (_, 0, 0b11000): return u ? roundInt(UInt64(FPRounding.tieAway.rawValue)) : roundInt(UInt64(FPRounding.tieEven.rawValue))
        case (_, 0, 0b11001): return u ? roundInt(roundingFromFPCR, FPFlags.exact) : roundInt(UInt64(FPRounding.negInf.rawValue))
        case (false, 1, 0b11000): return roundInt(UInt64(FPRounding.posInf.rawValue))
        case (false, 1, 0b11001): return roundInt(UInt64(FPRounding.zero.rawValue))
        case (true, 1, 0b11001): return roundInt(roundingFromFPCR)
        case (_, 0, 0b11010): return toInt(.tieEven)
        case (_, 0, 0b11011): return toInt(.negInf)
        case (_, 0, 0b11100): return toInt(.tieAway)
        case (_, 0, 0b11101): return make(.fromInt, u ? FPFlags.unsigned : 0)
        case (_, 1, 0b11010): return toInt(.posInf)
        case (_, 1, 0b11011): return toInt(.zero)
        default: return nil
        }
    }

    private static func byElement(_ f: Fields, opcode: UInt32, scalar: Bool) -> Op? {
        let s: Int, index: UInt32, m: UInt32
        switch f.z {
        case 0: s = 1; index = f.H << 2 | f.L << 1 | f.M; m = f.m
        case 2: s = 2; index = f.H << 1 | f.L; m = f.M << 4 | f.m
        case 3:
            if f.L == 1 { return nil }
            s = 3; index = f.H; m = f.M << 4 | f.m
        default: return nil
        }
        if !scalar && s == 3 && f.Q == 0 { return nil }
        let base = flags(f, scalar: scalar) | FPFlags.byElement
        let code: FPOp
        var imm: UInt64 = 0
        switch (f.u, opcode) {
        case (0, 0b0001): code = .fma
        case (0, 0b0101): code = .fma; imm = 1
        case (0, 0b1001): code = .mul
        case (1, 0b1001): code = .mulx
        default: return nil
        }
        return fpOp(code, d: f.d, n: f.n, m: m, s: s, f: base, imm: imm, imm2: UInt64(index))
    }

    private static func fixedPoint(_ f: Fields, s: Int, scalar: Bool) -> Op? {
        if !scalar && s == 3 && f.Q == 0 { return nil }
        let immhb = Int(f.word.bits(22, 16))
        let fractionBits = UInt64((16 << s) - immhb)
        let unsigned: UInt8 = f.u == 1 ? FPFlags.unsigned : 0
        let base = flags(f, scalar: scalar)
        switch f.o {
        case 0b00:
            return fpOp(.fromInt, d: f.d, n: f.n, s: s, f: base | unsigned, imm2: fractionBits)
        case 0b11:
            return fpOp(.toInt, d: f.d, n: f.n, s: s, f: base | unsigned, imm: UInt64(FPRounding.zero.rawValue),
                        imm2: fractionBits)
        default:
            return nil
        }
    }
}
