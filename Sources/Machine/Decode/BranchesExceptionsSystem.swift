// Arm ARM C4.1.3: Branches, Exception Generating and System instructions.

enum BranchesExceptionsSystem {
    static let encodings: [A64Encoding] = [
        A64Encoding("B.cond", "01010100iiiiiiiiiiiiiiiiiii0cccc", fuzz: false) { f, c in
            Op(.bcond, a: Int(f.c), imm: c.pc &+ (UInt64(bitPattern: f.signed("i")) << 2), imm2: c.pc &+ 4)
        },
        A64Encoding("SVC", "11010100000iiiiiiiiiiiiiiii00001", fuzz: false) { f, _ in Op(.svc, imm: UInt64(f.i)) },
        A64Encoding("HVC", "11010100000iiiiiiiiiiiiiiii00010", fuzz: false) { f, _ in Op(.hvc, imm: UInt64(f.i)) },
        // SMC: with no EL3 (as on QEMU's virt with the PSCI conduit on HVC) SMC is undefined.
        A64Encoding("SMC", "11010100000iiiiiiiiiiiiiiii00011", fuzz: false) { _, _ in nil },
        A64Encoding("BRK", "11010100001iiiiiiiiiiiiiiii00000", fuzz: false) { f, _ in Op(.brk, imm: UInt64(f.i)) },
        A64Encoding("HLT", "11010100010iiiiiiiiiiiiiiii00000", fuzz: false) { f, _ in Op(.hlt, imm: UInt64(f.i)) },
        // Hints: everything in the hint space that emud does not give a meaning is a NOP, as the
        // architecture requires (this includes the pointer-authentication and BTI hints).
        A64Encoding("HINT", "11010101000000110010mmmmooo11111", fuzz: false) { f, _ in
            switch (f.m, f.o) {
            case (0, 2): return Op(.wfe)
            case (0, 3): return Op(.wfi)
            case (0, 4): return Op(.sev)
            case (0, 5): return Op(.sevl)
            default: return Op(.nop)
            }
        },
        A64Encoding("BARRIERS", "11010101000000110011mmmmooo11111", fuzz: false) { f, _ in
            switch f.o {
            case 2: return Op(.clrex)
            case 4: return Op(.barrier, s: 1, imm: UInt64(f.m))   // DSB (incl. SSBB/PSSBB); imm = CRm
            case 5: return Op(.barrier, s: 0, imm: UInt64(f.m))   // DMB; imm = CRm
            case 6: return Op(.isb)
            default: return nil
            }
        },
        A64Encoding("MSR_imm", "1101010100000ppp0100mmmmqqq11111", fuzz: false) { f, _ in
            switch (f.p, f.q) {
            case (0, 5): return Op(.msrImm, s: 0, imm: UInt64(f.m & 1))  // SPSel
            case (0, 4): return Op(.msrImm, s: 3, imm: UInt64(f.m & 1))  // PAN
            case (0, 3): return Op(.msrImm, s: 4, imm: UInt64(f.m & 1))  // UAO
            case (3, 6): return Op(.msrImm, s: 1, imm: UInt64(f.m))      // DAIFSet
            case (3, 7): return Op(.msrImm, s: 2, imm: UInt64(f.m))      // DAIFClr
            default: return nil
            }
        },
        A64Encoding("SYS", "1101010100001pppnnnnmmmmqqqttttt", fuzz: false) { f, _ in
            switch (f.p, f.n, f.m, f.q) {
            case (3, 7, 4, 1): return Op(.dcZva, n: rz(f.t), imm: UInt64(f.word.bits(20, 5)))  // DC ZVA (n = 32 for XZR)
            // IC IVAU (EL0 if SCTLR_EL1.UCI), IC IALLU/IALLUIS (EL1): end the block so new code is fetched.
            case (3, 7, 5, 1): return Op(.endBlock, n: Int(f.t), s: 1, imm: UInt64(f.word.bits(20, 5)))
            case (0, 7, 5, 0), (0, 7, 1, 0): return Op(.endBlock, s: 2)
            // DC CVAU/CVAC/CIVAC/CVAP (EL0 if UCI): caches are not modelled.
            case (3, 7, 11, 1), (3, 7, 10, 1), (3, 7, 14, 1), (3, 7, 12, 1): return Op(.nop, n: Int(f.t), s: 1, imm: UInt64(f.word.bits(20, 5)))
            case (0, 7, 8, 0...3): return Op(.at, n: rz(f.t), s: Int(f.q))  // AT S1E1R, S1E1W, S1E0R, S1E0W
            case (0, 7, _, _): return Op(.nop, s: 2)    // DC IVAC/ISW/CSW/CISW: EL1 only, caches are not modelled
            // TLBI (EL1): every form invalidates the whole TLB of this vCPU (more than asked is allowed); the
            // inner-shareable ones (CRm = 3) reach every vCPU.
            case (0, 8, _, _): return Op(.tlbi, a: f.m == 3 ? 1 : 0)
            default: return nil
            }
        },
        A64Encoding("MSR_reg", "110101010001kkkkkkkkkkkkkkkttttt", fuzz: false) { f, _ in
            let key = 0x8000 | f.k
            if key == SysReg.nzcv { return Op(.msrNZCV, n: rz(f.t)) }
            return Op(.msr, n: rz(f.t), a: SystemRegisterTable.index(of: key), imm: UInt64(key))
        },
        A64Encoding("MRS", "110101010011kkkkkkkkkkkkkkkttttt", fuzz: false) { f, _ in
            let key = 0x8000 | f.k
            if key == SysReg.nzcv { return Op(.mrsNZCV, d: wz(f.t)) }
            return Op(.mrs, d: wz(f.t), a: SystemRegisterTable.index(of: key), imm: UInt64(key))
        },
        A64Encoding("BR", "1101011000011111000000nnnnn00000", fuzz: false) { f, _ in Op(.br, n: rz(f.n)) },
        A64Encoding("BLR", "1101011000111111000000nnnnn00000", fuzz: false) { f, c in Op(.blr, n: rz(f.n), imm2: c.pc &+ 4) },
        A64Encoding("RET", "1101011001011111000000nnnnn00000", fuzz: false) { f, _ in Op(.ret, n: rz(f.n)) },
        A64Encoding("ERET", "11010110100111110000001111100000", fuzz: false) { _, _ in Op(.eret) },
        A64Encoding("B/BL", "o00101iiiiiiiiiiiiiiiiiiiiiiiiii", fuzz: false) { f, c in
            let target = c.pc &+ (UInt64(bitPattern: f.signed("i")) << 2)
            return Op(f.o == 0 ? .b : .bl, imm: target, imm2: c.pc &+ 4)
        },
        A64Encoding("CBZ/CBNZ", "z011010oiiiiiiiiiiiiiiiiiiittttt", fuzz: false) { f, c in
            Op(.cbz, n: rz(f.t), f: (f.z == 1 ? OpFlags.sf : 0) | (f.o == 1 ? OpFlags.alt : 0),
               imm: c.pc &+ (UInt64(bitPattern: f.signed("i")) << 2), imm2: c.pc &+ 4)
        },
        A64Encoding("TBZ/TBNZ", "b011011oaaaaaiiiiiiiiiiiiiittttt", fuzz: false) { f, c in
            Op(.tbz, n: rz(f.t), s: Int((f.b << 5) | f.a), f: f.o == 1 ? OpFlags.alt : 0,
               imm: c.pc &+ (UInt64(bitPattern: f.signed("i")) << 2), imm2: c.pc &+ 4)
        },
    ]
}
