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
        default:
            return false
        }
        return true
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
