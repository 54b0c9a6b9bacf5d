// Arm ARM C4.1.4: Loads and Stores of SIMD&FP registers.
//
// Single-register forms decode to `.vldr*`/`.vstr*`/`.vldp`/`.vstp` with `s` = log2 of the access size
// (0 = B ... 4 = Q) and `d` = the V register. The structure forms (LD1–LD4, ST1–ST4, LD1R–LD4R) decode to
// `.vldst`, laid out as `SIMDStructure` describes.

/// How an `.vldst` op is laid out in `Op`'s fields.
///
/// `d` = first V register (the list wraps from V31 to V0), `n` = base register slot (SP allowed),
/// `m` = offset register slot for post-index by register, `s` = log2 element size, `a` = `Kind`,
/// `f` = `SIMDStructure` flags, `imm` = post-index immediate, `imm2` = lane | selem << 8 | registers << 16.
enum SIMDStructure {
    enum Kind: UInt8 {
        /// LD1–LD4/ST1–ST4 (multiple structures): every lane of `registers * selem` registers.
        case multiple
        /// LD1–LD4/ST1–ST4 (single structure): one lane of `selem` registers.
        case lane
        /// LD1R–LD4R: one element per register, replicated to every lane.
        case replicate
    }
    static let load: UInt8 = 1
    /// Base writeback by `imm`.
    static let postImmediate: UInt8 = 2
    /// Base writeback by X[m].
    static let postRegister: UInt8 = 4
    /// 128-bit registers (Q = 1).
    static let q: UInt8 = OpFlags.alt

    static func layout(lane: Int, selem: Int, registers: Int) -> UInt64 {
        UInt64(lane) | UInt64(selem) << 8 | UInt64(registers) << 16
    }

    /// The `.vldst` op for a structure access, with its writeback chosen by Rm (31 = by the transfer size).
    static func op(kind: Kind, load: Bool, q: Bool, t: UInt32, n: UInt32, m: UInt32?, size: Int,
                   lane: Int, selem: Int, registers: Int, transferBytes: Int) -> Op {
        var flags: UInt8 = (load ? Self.load : 0) | (q ? Self.q : 0)
        var offsetRegister = 0
        if let m {
            if m == 31 { flags |= postImmediate } else { flags |= postRegister; offsetRegister = Int(m) }
        }
        return Op(.vldst, d: Int(t), n: rsp(n), m: offsetRegister, a: Int(kind.rawValue), s: size, f: flags,
                  imm: UInt64(transferBytes), imm2: layout(lane: lane, selem: selem, registers: registers))
    }
}

/// The access size of a single-register SIMD&FP load/store from its size and opc fields:
/// (log2 size 0...4, is load), or nil when unallocated.
func vectorAccess(size: UInt32, opc: UInt32) -> (size: Int, load: Bool)? {
    let load = opc & 1 == 1
    if opc & 2 == 0 { return (Int(size), load) }
    return size == 0 ? (4, load) : nil
}

enum SIMDLoadStore {
    static let encodings: [A64Encoding] = [
        // Advanced SIMD load/store multiple structures (no offset and post-index)
        A64Encoding("LDn/STn_multiple", "0Q0011000L000000oooozznnnnnttttt") { f, _ in
            multiple(f, m: nil)
        },
        A64Encoding("LDn/STn_multiple_post", "0Q0011001L0mmmmmoooozznnnnnttttt") { f, _ in
            multiple(f, m: f.m)
        },
        // Advanced SIMD load/store single structure (no offset and post-index)
        A64Encoding("LDn/STn_single", "0Q0011010LR00000oooSzznnnnnttttt") { f, _ in
            single(f, m: nil)
        },
        A64Encoding("LDn/STn_single_post", "0Q0011011LRmmmmmoooSzznnnnnttttt") { f, _ in
            single(f, m: f.m)
        },
        // Load register (literal), SIMD&FP
        A64Encoding("LDR_lit_simd", "oo011100iiiiiiiiiiiiiiiiiiittttt", fuzz: false) { f, c in
            if f.o == 3 { return nil }
            let address = c.pc &+ (UInt64(bitPattern: f.signed("i")) << 2)
            return Op(.vldrLit, d: Int(f.t), s: 2 + Int(f.o), imm: address)
        },
        // Load/store pair of SIMD&FP registers (no-allocate, post-index, offset, pre-index)
        A64Encoding("LDP/STP_simd", "oo10110ppLiiiiiiiaaaaannnnnttttt") { f, _ in
            if f.o == 3 { return nil }
            let size = 2 + Int(f.o)
            let mode: Int
            switch f.p { case 0, 2: mode = 0; case 1: mode = 2; default: mode = 1 }
            let offset = UInt64(bitPattern: f.signed("i") << Int64(size))
            if f.L == 1 && f.t == f.a { return nil }  // CONSTRAINED UNPREDICTABLE: emud chooses UNDEFINED
            return Op(f.L == 1 ? .vldp : .vstp, d: Int(f.t), n: rsp(f.n), m: Int(f.a), a: mode, s: size, imm: offset)
        },
        // Load/store register (unscaled immediate, post-index, pre-index), SIMD&FP
        A64Encoding("LDR/STR_imm9_simd", "zz111100oo0iiiiiiiiimmnnnnnttttt") { f, _ in
            guard let acc = vectorAccess(size: f.z, opc: f.o) else { return nil }
            let offset = UInt64(bitPattern: f.signed("i"))
            let code: OpCode
            switch f.m {
            case 0: code = acc.load ? .vldrImm : .vstrImm
            case 1: code = acc.load ? .vldrPost : .vstrPost
            case 3: code = acc.load ? .vldrPre : .vstrPre
            default: return nil   // no unprivileged SIMD&FP forms
            }
            return Op(code, d: Int(f.t), n: rsp(f.n), s: acc.size, imm: offset)
        },
        // Load/store register (register offset), SIMD&FP
        A64Encoding("LDR/STR_reg_simd", "zz111100oo1mmmmmxxxS10nnnnnttttt") { f, _ in
            if f.x & 2 == 0 { return nil }
            guard let acc = vectorAccess(size: f.z, opc: f.o) else { return nil }
            return Op(acc.load ? .vldrReg : .vstrReg, d: Int(f.t), n: rsp(f.n), m: rz(f.m), a: Int(f.x),
                      s: acc.size, imm: f.S == 1 ? UInt64(acc.size) : 0)
        },
        // Load/store register (unsigned immediate), SIMD&FP
        A64Encoding("LDR/STR_uimm_simd", "zz111101ooiiiiiiiiiiiinnnnnttttt") { f, _ in
            guard let acc = vectorAccess(size: f.z, opc: f.o) else { return nil }
            return Op(acc.load ? .vldrImm : .vstrImm, d: Int(f.t), n: rsp(f.n), s: acc.size,
                      imm: UInt64(f.i) << UInt64(acc.size))
        },
    ]

    /// LD1–LD4/ST1–ST4 (multiple structures). `m` is the offset register of the post-index form.
    private static func multiple(_ f: Fields, m: UInt32?) -> Op? {
        let selem: Int, registers: Int
        switch f.o {
        case 0b0000: (selem, registers) = (4, 1)
        case 0b0010: (selem, registers) = (1, 4)
        case 0b0100: (selem, registers) = (3, 1)
        case 0b0110: (selem, registers) = (1, 3)
        case 0b0111: (selem, registers) = (1, 1)
        case 0b1000: (selem, registers) = (2, 1)
        case 0b1010: (selem, registers) = (1, 2)
        default: return nil
        }
        if f.z == 3 && f.Q == 0 && selem != 1 { return nil }
        let bytes = (f.Q == 1 ? 16 : 8) * selem * registers
        return SIMDStructure.op(kind: .multiple, load: f.L == 1, q: f.Q == 1, t: f.t, n: f.n, m: m, size: Int(f.z),
                                lane: 0, selem: selem, registers: registers, transferBytes: bytes)
    }

    /// LD1–LD4/ST1–ST4 (single structure) and LD1R–LD4R.
    private static func single(_ f: Fields, m: UInt32?) -> Op? {
        let selem = Int((f.o & 1) << 1 | f.R) + 1
        let q = f.Q == 1
        var size: Int
        let lane: Int
        switch f.o >> 1 {
        case 0:
            size = 0; lane = Int(f.Q << 3 | f.S << 2 | f.z)
        case 1:
            if f.z & 1 != 0 { return nil }
            size = 1; lane = Int(f.Q << 2 | f.S << 1 | f.z >> 1)
        case 2:
            if f.z & 2 != 0 { return nil }
            if f.z == 0 {
                size = 2; lane = Int(f.Q << 1 | f.S)
            } else {
                if f.S != 0 { return nil }
                size = 3; lane = Int(f.Q)
            }
        default:
            if f.L == 0 || f.S != 0 { return nil }
            size = Int(f.z)
            return SIMDStructure.op(kind: .replicate, load: true, q: q, t: f.t, n: f.n, m: m, size: size,
                                    lane: 0, selem: selem, registers: 1, transferBytes: selem << size)
        }
        return SIMDStructure.op(kind: .lane, load: f.L == 1, q: q, t: f.t, n: f.n, m: m, size: size,
                                lane: lane, selem: selem, registers: 1, transferBytes: selem << size)
    }
}
