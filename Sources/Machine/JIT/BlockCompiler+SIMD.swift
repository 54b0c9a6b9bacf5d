// SPDX-License-Identifier: GPL-2.0-or-later
//
// The SIMD&FP side of `BlockCompiler`: loads and stores of V registers, and the integer AdvSIMD operations
// compiled natively. Each one computes exactly what `VCPU.executeSIMD` (Execute/AdvSIMDExecute.swift) or
// `VCPU.vectorMemory` (Execute/LoadStoreSIMDExecute.swift) computes, on the same two 64-bit halves of the
// register file; everything else still calls the interpreter's code.
//
// r13 holds the address of V0's low half (`CPUState.v`) for the whole block: V[t] is 16 bytes at r13 + 16 t.

extension BlockCompiler {
    /// The byte offset from r13 of byte `at` of V[register].
    private func vector(_ register: UInt8, _ at: Int = 0) -> Int32 {
        Int32(register & 31) &* 16 &+ Int32(truncatingIfNeeded: at)
    }

    /// Whether lane `index` of 1 << `s` bytes lies inside a 16-byte register.
    private func laneFits(_ index: UInt64, _ s: UInt8) -> Bool {
        s <= 3 && index < UInt64(16 >> s)
    }

    /// Stores rax into V[d]'s low half and, for a 128-bit (`q`) result, rdx into its high half, else zero.
    private mutating func storeHalves(_ d: UInt8, q: Bool) {
        asm.store(.r13, vector(d), .rax)
        if q {
            asm.store(.r13, vector(d, 8), .rdx)
        } else {
            asm.alu(.xor, .rdx, .rdx, wide: false)
            asm.store(.r13, vector(d, 8), .rdx)
        }
    }

    // MARK: loads and stores

    /// LDR/STR of a B/H/S/D/Q register: immediate offset, pre- or post-index, or register offset. A load zeroes
    /// the rest of the register. A Q register is two 8-byte halves; the fast path needs all 16 bytes in one page.
    mutating func emitVector(_ op: Op, slow: X86Assembler.Label) -> Emitted {
        guard op.s <= 4, op.d < 32 else { return .delegate }
        let store: Bool, mode: Addressing
        switch op.code {
        case .vldrImm: store = false; mode = .offset
        case .vldrPre: store = false; mode = .preIndex
        case .vldrPost: store = false; mode = .postIndex
        case .vldrReg: store = false; mode = .register
        case .vstrImm: store = true; mode = .offset
        case .vstrPre: store = true; mode = .preIndex
        case .vstrPost: store = true; mode = .postIndex
        case .vstrReg: store = true; mode = .register
        default: return .delegate
        }
        guard singleAddress(op, mode) else { return .delegate }
        translate(store ? .write : .read, length: 1 << UInt64(op.s), elementSize: op.s, slow: slow)
        transferVector(op.d, at: 0, size: op.s, store: store)
        writeBack(op, mode)
        return .compiledWithSlowPath
    }

    /// LDP/STP of two S, D or Q registers: offset, pre- or post-index (`a` = 0, 1, 2).
    mutating func emitVectorPair(_ op: Op, slow: X86Assembler.Label) -> Emitted {
        guard op.s >= 2 && op.s <= 4, op.a <= 2, op.d < 32, op.m < 32 else { return .delegate }
        let bytes = Int32(1) << Int32(op.s)
        baseAddress(op.n, op.a == 2 ? 0 : op.imm)
        translate(op.code == .vstp ? .write : .read, length: UInt64(2 * bytes), elementSize: op.s, slow: slow)
        transferVector(op.d, at: 0, size: op.s, store: op.code == .vstp)
        transferVector(op.m, at: bytes, size: op.s, store: op.code == .vstp)
        pairWriteBack(op)
        return .compiledWithSlowPath
    }

    /// Moves 1 << size bytes (size 0...4) between V[t] and host memory at rdx + at; a load zeroes the rest of
    /// V[t]. Clobbers rax, rcx.
    private mutating func transferVector(_ t: UInt8, at: Int32, size: UInt8, store: Bool) {
        if store {
            asm.load(.rax, .r13, vector(t))
            asm.storeSized(.rdx, at, .rax, size: min(size, 3))
            if size == 4 {
                asm.load(.rax, .r13, vector(t, 8))
                asm.store(.rdx, at &+ 8, .rax)
            }
        } else {
            asm.loadZeroExtended(.rax, .rdx, at, size: min(size, 3))
            if size == 4 {
                asm.load(.rcx, .rdx, at &+ 8)
            } else {
                asm.alu(.xor, .rcx, .rcx, wide: false)
            }
            asm.store(.r13, vector(t), .rax)
            asm.store(.r13, vector(t, 8), .rcx)
        }
    }

    // MARK: data processing

    /// Emits a SIMD move or integer AdvSIMD operation natively; false to leave it to the interpreter's code.
    mutating func emitSIMD(_ op: Op) -> Bool {
        switch op.code {
        case .fmovToGeneral:
            guard op.n < 32 else { return false }
            switch op.s {
            case 0: asm.load(.rax, .r13, vector(op.n), wide: false)
            case 1: asm.load(.rax, .r13, vector(op.n))
            default: asm.load(.rax, .r13, vector(op.n, 8))
            }
            storeX(op.d, .rax)
            return true
        case .fmovFromGeneral:
            guard op.d < 32 else { return false }
            loadX(.rax, op.n, wide: op.s != 0)
            if op.s >= 2 {
                asm.store(.r13, vector(op.d, 8), .rax)
            } else {
                storeHalves(op.d, q: false)
            }
            return true
        case .simd:
            break
        default:
            return false
        }
        guard op.a <= SIMDOp.last.rawValue, op.d < 32 else { return false }
        let kind = unsafeBitCast(UInt8(truncatingIfNeeded: op.a), to: SIMDOp.self)
        let q = op.f & SIMDFlags.q != 0
        let s = op.s
        switch kind {
        case .movi, .orrImm, .bicImm:
            for half in 0..<(q ? 2 : 1) {
                if kind == .movi {
                    asm.mov(.rax, immediate: op.imm)
                } else {
                    asm.load(.rax, .r13, vector(op.d, 8 * half))
                    asm.alu(kind == .orrImm ? .or : .and, .rax, constant: kind == .orrImm ? op.imm : ~op.imm, scratch: .rcx)
                }
                asm.store(.r13, vector(op.d, 8 * half), .rax)
            }
            if !q { zeroHigh(op.d) }
        case .and, .bic, .orr, .orn, .eor, .not:
            guard op.n < 32, op.m < 32 else { return false }
            for half in 0..<(q ? 2 : 1) {
                asm.load(.rax, .r13, vector(op.n, 8 * half))
                if kind == .not {
                    asm.not(.rax)
                } else {
                    asm.load(.rcx, .r13, vector(op.m, 8 * half))
                    switch kind {
                    case .and: asm.alu(.and, .rax, .rcx)
                    case .bic: asm.not(.rcx); asm.alu(.and, .rax, .rcx)
                    case .orr: asm.alu(.or, .rax, .rcx)
                    case .orn: asm.not(.rcx); asm.alu(.or, .rax, .rcx)
                    default: asm.alu(.xor, .rax, .rcx)
                    }
                }
                asm.store(.r13, vector(op.d, 8 * half), .rax)
            }
            if !q { zeroHigh(op.d) }
        case .bsl, .bit, .bif:
            // All three are d = (x & mask) | (y & ~mask), i.e. y ^ ((x ^ y) & mask):
            // BSL: mask d, x n, y m; BIT: mask m, x n, y d; BIF: mask ~m, x n, y d, i.e. mask m, x d, y n.
            guard op.n < 32, op.m < 32 else { return false }
            let (mask, x, y): (UInt8, UInt8, UInt8)
            switch kind {
            case .bsl: (mask, x, y) = (op.d, op.n, op.m)
            case .bit: (mask, x, y) = (op.m, op.n, op.d)
            default: (mask, x, y) = (op.m, op.d, op.n)
            }
            for half in 0..<(q ? 2 : 1) {
                asm.load(.rax, .r13, vector(x, 8 * half))
                asm.load(.rcx, .r13, vector(y, 8 * half))
                asm.load(.rdx, .r13, vector(mask, 8 * half))
                asm.alu(.xor, .rax, .rcx)
                asm.alu(.and, .rax, .rdx)
                asm.alu(.xor, .rax, .rcx)
                asm.store(.r13, vector(op.d, 8 * half), .rax)
            }
            if !q { zeroHigh(op.d) }
        case .add, .sub:
            // PADDB/W/D/Q, PSUBB/W/D/Q on the halves; a 64-bit operation loads with MOVQ, so the upper half of
            // the result is 0 + 0 or 0 - 0.
            guard op.n < 32, op.m < 32, s <= 3 else { return false }
            let opcodes: [UInt8] = kind == .add ? [0xfc, 0xfd, 0xfe, 0xd4] : [0xf8, 0xf9, 0xfa, 0xfb]
            if q {
                asm.loadXMM(0, .r13, vector(op.n))
                asm.loadXMM(1, .r13, vector(op.m))
            } else {
                asm.loadXMM64(0, .r13, vector(op.n))
                asm.loadXMM64(1, .r13, vector(op.m))
            }
            asm.packed(opcodes[Int(s)], 0, 1)
            asm.storeXMM(.r13, vector(op.d), 0)
        case .shr, .shlImm:
            // USHR and SHL by an immediate: each half shifted whole, then `imm2` keeps the bits that stay in
            // their lane (as the interpreter does; a shift by 64 has imm2 = 0).
            guard op.n < 32, kind == .shlImm || op.f & (SIMDFlags.signed | SIMDFlags.round) == 0 else { return false }
            let amount = UInt8(truncatingIfNeeded: op.imm & 63)
            for half in 0..<(q ? 2 : 1) {
                asm.load(.rax, .r13, vector(op.n, 8 * half))
                if amount != 0 { asm.shift(kind == .shr ? .shr : .shl, .rax, by: amount) }
                asm.alu(.and, .rax, constant: op.imm2, scratch: .rcx)
                asm.store(.r13, vector(op.d, 8 * half), .rax)
            }
            if !q { zeroHigh(op.d) }
        case .dup:
            guard op.n < 32, laneFits(op.imm, s) else { return false }
            asm.loadZeroExtended(.rax, .r13, vector(op.n, Int(op.imm) << Int(s)), size: s)
            if op.f & SIMDFlags.scalar != 0 {
                storeHalves(op.d, q: false)
            } else {
                replicate(s)
                storeHalves(op.d, q: q)
            }
        case .dupGeneral:
            guard s <= 3 else { return false }
            asm.loadZeroExtended(.rax, .rbx, Int32(op.n) &* 8, size: s)
            replicate(s)
            storeHalves(op.d, q: q)
        case .insGeneral:
            guard laneFits(op.imm, s) else { return false }
            loadX(.rax, op.n)
            asm.storeSized(.r13, vector(op.d, Int(op.imm) << Int(s)), .rax, size: s)
        case .insElement:
            guard op.n < 32, laneFits(op.imm, s), laneFits(op.imm2, s) else { return false }
            asm.loadZeroExtended(.rax, .r13, vector(op.n, Int(op.imm2) << Int(s)), size: s)
            asm.storeSized(.r13, vector(op.d, Int(op.imm) << Int(s)), .rax, size: s)
        case .umov:
            guard op.n < 32, laneFits(op.imm, s) else { return false }
            asm.loadZeroExtended(.rax, .r13, vector(op.n, Int(op.imm) << Int(s)), size: s)
            storeX(op.d, .rax)
        case .smov:
            guard op.n < 32, s <= 2, laneFits(op.imm, s) else { return false }
            asm.loadSignExtended(.rax, .r13, vector(op.n, Int(op.imm) << Int(s)), size: s)
            if op.f & SIMDFlags.x64 == 0 { asm.mov(.rax, .rax, wide: false) }
            storeX(op.d, .rax)
        case .mul, .mla, .mls:
            // PMULLW (16-bit lanes) or SSE4.1's PMULLD (32-bit), then PADD/PSUB into d; 8-bit lanes stay interpreted.
            guard op.n < 32, op.m < 32, s == 1 || (s == 2 && Self.hostHasSSE41), op.f & SIMDFlags.scalar == 0,
                  op.f & SIMDFlags.byElement == 0 || laneFits(op.imm2, s) else { return false }
            loadOperands(op, q: q)
            if s == 1 { asm.packed(0xd5, 0, 1) } else { asm.packed38(0x40, 0, 1) }
            if kind == .mul {
                asm.storeXMM(.r13, vector(op.d), 0)
            } else {
                loadVector(2, op.d, q: q)
                asm.packed(kind == .mla ? (s == 1 ? 0xfd : 0xfe) : (s == 1 ? 0xf9 : 0xfa), 2, 0)
                asm.storeXMM(.r13, vector(op.d), 2)
            }
        case .mull, .mlal, .mlsl:
            // The narrow lanes of one half (the upper one for the "2" forms) widened with PMOVSX/PMOVZX, then
            // PMULLD (16-bit sources: the product fits 32 bits either way) or PMULDQ/PMULUDQ (32-bit sources).
            guard Self.hostHasSSE41, op.n < 32, op.m < 32, s == 1 || s == 2, op.f & SIMDFlags.scalar == 0 else { return false }
            let signed = op.f & SIMDFlags.signed != 0
            let half = q ? 8 : 0
            asm.loadXMM64(0, .r13, vector(op.n, half))
            if op.f & SIMDFlags.byElement != 0 {
                guard laneFits(op.imm2, s) else { return false }
                broadcast(1, op.m, lane: op.imm2, s)
            } else {
                asm.loadXMM64(1, .r13, vector(op.m, half))
            }
            let widen: UInt8 = s == 1 ? (signed ? 0x23 : 0x33) : (signed ? 0x25 : 0x35)
            asm.packed38(widen, 0, 0)
            asm.packed38(widen, 1, 1)
            if s == 1 {
                asm.packed38(0x40, 0, 1)
            } else if signed {
                asm.packed38(0x28, 0, 1)
            } else {
                asm.packed(0xf4, 0, 1)
            }
            if kind == .mull {
                asm.storeXMM(.r13, vector(op.d), 0)
            } else {
                asm.loadXMM(2, .r13, vector(op.d))
                asm.packed(kind == .mlal ? (s == 1 ? 0xfe : 0xd4) : (s == 1 ? 0xfa : 0xfb), 2, 0)
                asm.storeXMM(.r13, vector(op.d), 2)
            }
        case .shll:
            // SSHLL/USHLL/SHLL (and SXTL/UXTL, shift 0): one half's narrow lanes widened, then shifted left.
            guard Self.hostHasSSE41, op.n < 32, s <= 2, op.imm < UInt64(16 << s) else { return false }
            let signed = op.f & SIMDFlags.signed != 0
            asm.loadXMM64(0, .r13, vector(op.n, q ? 8 : 0))
            let widen: [UInt8] = signed ? [0x20, 0x23, 0x25] : [0x30, 0x33, 0x35]
            asm.packed38(widen[Int(s)], 0, 0)
            if op.imm != 0 { asm.packedShift(0x71 + s, 6, 0, by: UInt8(op.imm)) }
            asm.storeXMM(.r13, vector(op.d), 0)
        case .xtn:
            // Each wide lane's low half: masked and packed (the pack's saturation never applies to masked
            // values), or PSHUFD for 64-bit lanes; into the low half of d (upper zeroed) or, for XTN2, its upper.
            guard op.n < 32, s <= 2, s != 1 || Self.hostHasSSE41 else { return false }
            asm.loadXMM(0, .r13, vector(op.n))
            switch s {
            case 0:
                lowHalvesMask(1, laneBits: 16)
                asm.packed(0xdb, 0, 1)
                asm.packed(0x67, 0, 0)
            case 1:
                lowHalvesMask(1, laneBits: 32)
                asm.packed(0xdb, 0, 1)
                asm.packed38(0x2b, 0, 0)
            default:
                asm.shuffleDwords(0, 0, 0x08)
            }
            if q {
                asm.storeXMM64(.r13, vector(op.d, 8), 0)
            } else {
                asm.storeXMM64(.r13, vector(op.d), 0)
                zeroHigh(op.d)
            }
        case .addv where s == 2 && q:
            // The four 32-bit lanes summed (modulo 2^32) into lane 0; the rest of d zero.
            asm.load(.rax, .r13, vector(op.n))
            asm.load(.rdx, .r13, vector(op.n, 8))
            asm.mov(.rcx, .rax)
            asm.shift(.shr, .rcx, by: 32)
            asm.alu(.add, .rax, .rcx, wide: false)
            asm.mov(.rcx, .rdx)
            asm.shift(.shr, .rcx, by: 32)
            asm.alu(.add, .rdx, .rcx, wide: false)
            asm.alu(.add, .rax, .rdx, wide: false)
            storeHalves(op.d, q: false)
        default:
            return false
        }
        return true
    }

    /// xmm`reg` = V[t], 16 bytes, or 8 with the upper half zero.
    private mutating func loadVector(_ reg: UInt8, _ t: UInt8, q: Bool) {
        if q { asm.loadXMM(reg, .r13, vector(t)) } else { asm.loadXMM64(reg, .r13, vector(t)) }
    }

    /// xmm0 = V[n], xmm1 = V[m] or, for a by-element form, lane imm2 of V[m] in every lane.
    private mutating func loadOperands(_ op: Op, q: Bool) {
        loadVector(0, op.n, q: q)
        if op.f & SIMDFlags.byElement != 0 {
            broadcast(1, op.m, lane: op.imm2, op.s)
        } else {
            loadVector(1, op.m, q: q)
        }
    }

    /// xmm`reg` = lane `lane` (1 << s bytes) of V[t] in every lane of both halves. Clobbers rax, rdx.
    private mutating func broadcast(_ reg: UInt8, _ t: UInt8, lane: UInt64, _ s: UInt8) {
        asm.loadZeroExtended(.rax, .r13, vector(t, Int(lane) << Int(s)), size: s)
        replicate(s)
        asm.moveToXMM(reg, .rax)
        asm.packed(0x6c, reg, reg)  // PUNPCKLQDQ: the low 64 bits in both halves
    }

    /// xmm`reg` = in each lane of `laneBits` bits, ones in its low half (PCMPEQD, then a logical shift right).
    private mutating func lowHalvesMask(_ reg: UInt8, laneBits: UInt8) {
        asm.packed(0x76, reg, reg)
        asm.packedShift(laneBits == 16 ? 0x71 : 0x72, 2, reg, by: laneBits / 2)
    }

    /// rax = rdx = the lane of 1 << s bytes in rax (zero-extended) repeated across 64 bits.
    private mutating func replicate(_ s: UInt8) {
        let ones: [UInt64] = [0x0101_0101_0101_0101, 0x0001_0001_0001_0001, 0x0000_0001_0000_0001]
        if s < 3 {
            asm.mov(.rdx, immediate: ones[Int(s)])
            asm.imul(.rax, .rdx)
        }
        asm.mov(.rdx, .rax)
    }

    private mutating func zeroHigh(_ d: UInt8) {
        asm.alu(.xor, .rax, .rax, wide: false)
        asm.store(.r13, vector(d, 8), .rax)
    }
}
