// Arm ARM C4.1.4: Loads and Stores (general-purpose registers). SIMD&FP forms are in SIMDLoadStore.swift.

/// How a load/store's size/opc fields map onto an access: (log2 size, is load, sign-extend, 32-bit destination).
/// nil means the combination is a prefetch (for `size == 3, opc == 2`) or unallocated.
func generalAccess(size: UInt32, opc: UInt32) -> (size: Int, load: Bool, signed: Bool, dest32: Bool)? {
    switch opc {
    case 0: return (Int(size), false, false, size < 3)
    case 1: return (Int(size), true, false, size < 3)
    case 2: return size == 3 ? nil : (Int(size), true, true, false)
    default: return size >= 2 ? nil : (Int(size), true, true, true)
    }
}

@inline(__always) func accessFlags(_ a: (size: Int, load: Bool, signed: Bool, dest32: Bool)) -> UInt8 {
    (a.signed ? OpFlags.signed : 0) | (a.dest32 ? OpFlags.dest32 : 0)
}

enum LoadStore {
    static let encodings: [A64Encoding] = [
        // Load/store exclusive, ordered, compare and swap
        A64Encoding("STXR", "zz001000000sssssoaaaaannnnnttttt", fuzz: false) { f, _ in
            Op(.stxr, d: rz(f.t), n: rsp(f.n), a: wz(f.s), s: Int(f.z))
        },
        A64Encoding("LDXR", "zz001000010sssssoaaaaannnnnttttt", fuzz: false) { f, _ in
            Op(.ldxr, d: wz(f.t), n: rsp(f.n), s: Int(f.z))
        },
        A64Encoding("STXP", "1z001000001sssssoaaaaannnnnttttt", fuzz: false) { f, _ in
            Op(.stxp, d: rz(f.t), n: rsp(f.n), m: rz(f.a), a: wz(f.s), s: 2 + Int(f.z))
        },
        A64Encoding("LDXP", "1z001000011sssssoaaaaannnnnttttt", fuzz: false) { f, _ in
            if f.t == f.a { return nil }
            return Op(.ldxp, d: wz(f.t), n: rsp(f.n), m: wz(f.a), s: 2 + Int(f.z))
        },
        A64Encoding("STLR", "zz001000100sssss1aaaaannnnnttttt", fuzz: true) { f, _ in
            Op(.stlr, d: rz(f.t), n: rsp(f.n), s: Int(f.z))
        },
        A64Encoding("STLLR", "zz001000100sssss0aaaaannnnnttttt", fuzz: true) { f, _ in
            Op(.stlr, d: rz(f.t), n: rsp(f.n), s: Int(f.z))
        },
        A64Encoding("LDAR", "zz001000110sssss1aaaaannnnnttttt", fuzz: true) { f, _ in
            Op(.ldar, d: wz(f.t), n: rsp(f.n), s: Int(f.z))
        },
        A64Encoding("LDLAR", "zz001000110sssss0aaaaannnnnttttt", fuzz: true) { f, _ in
            Op(.ldar, d: wz(f.t), n: rsp(f.n), s: Int(f.z))
        },
        A64Encoding("CAS", "zz0010001L1sssssR11111nnnnnttttt", fuzz: true) { f, _ in
            Op(.cas, d: rz(f.t), n: rsp(f.n), m: rz(f.s), a: wz(f.s), s: Int(f.z))
        },
        A64Encoding("CASP", "0z0010000L1sssssR11111nnnnnttttt", fuzz: true) { f, _ in
            if f.s & 1 == 1 || f.t & 1 == 1 { return nil }
            return Op(.casp, d: Int(f.t), n: rsp(f.n), m: Int(f.s), s: 2 + Int(f.z))
        },
        // Load register (literal)
        A64Encoding("LDR_lit", "oo011000iiiiiiiiiiiiiiiiiiittttt", fuzz: false) { f, c in
            let address = c.pc &+ (UInt64(bitPattern: f.signed("i")) << 2)
            switch f.o {
            case 0: return Op(.ldrLit, d: wz(f.t), s: 2, f: OpFlags.dest32, imm: address)
            case 1: return Op(.ldrLit, d: wz(f.t), s: 3, imm: address)
            case 2: return Op(.ldrLit, d: wz(f.t), s: 2, f: OpFlags.signed, imm: address)
            default: return Op(.nop) // PRFM (literal)
            }
        },
        // Load/store pair (no-allocate, post-index, offset, pre-index)
        A64Encoding("LDP/STP", "oo10100ppLiiiiiiiaaaaannnnnttttt") { f, _ in
            if f.o == 3 { return nil }
            if f.o == 1 && f.L == 0 { return nil }           // STGP (MTE) is not implemented
            if f.o == 1 && f.p == 0 { return nil }           // no LDNPSW
            let size = f.o == 2 ? 3 : 2
            let mode: Int
            switch f.p { case 0, 2: mode = 0; case 1: mode = 2; default: mode = 1 }
            let offset = UInt64(bitPattern: f.signed("i") << Int64(size))
            if f.L == 1 {
                if f.t == f.a { return nil }
                if mode != 0 && (f.t == f.n || f.a == f.n) && f.n != 31 { return nil }
                let flags = f.o == 1 ? OpFlags.signed : (size == 2 ? OpFlags.dest32 : 0)
                return Op(.ldp, d: wz(f.t), n: rsp(f.n), m: wz(f.a), a: mode, s: size, f: flags, imm: offset)
            }
            if mode != 0 && (f.t == f.n || f.a == f.n) && f.n != 31 { return nil }
            return Op(.stp, d: rz(f.t), n: rsp(f.n), m: rz(f.a), a: mode, s: size, imm: offset)
        },
        // LDAPR (RCpc load-acquire, Armv8.3-LRCPC, which the Cortex-A76 implements)
        A64Encoding("LDAPR", "zz11100010111111110000nnnnnttttt", fuzz: false) { f, _ in
            Op(.ldar, d: wz(f.t), n: rsp(f.n), s: Int(f.z))
        },
        // Atomic memory operations (LSE)
        A64Encoding("LSE_atomic", "zz111000AR1sssssoooo00nnnnnttttt", fuzz: true) { f, _ in
            let kind: AtomicOp
            switch f.o {
            case 0: kind = .add
            case 1: kind = .clr
            case 2: kind = .eor
            case 3: kind = .set
            case 4: kind = .smax
            case 5: kind = .smin
            case 6: kind = .umax
            case 7: kind = .umin
            case 8: kind = .swp
            default: return nil
            }
            return Op(.atomic, d: wz(f.t), n: rsp(f.n), m: rz(f.s), a: Int(kind.rawValue), s: Int(f.z))
        },
        // Load/store register (unscaled immediate, post-index, unprivileged, pre-index)
        A64Encoding("LDR/STR_imm9", "zz111000oo0iiiiiiiiimmnnnnnttttt") { f, _ in
            let offset = UInt64(bitPattern: f.signed("i"))
            guard let acc = generalAccess(size: f.z, opc: f.o) else {
                return (f.z == 3 && f.o == 2 && f.m == 0) ? Op(.nop) : nil   // PRFUM
            }
            let t = acc.load ? wz(f.t) : rz(f.t)
            let flags = accessFlags(acc)
            switch f.m {
            case 0: // unscaled (LDUR/STUR)
                return Op(acc.load ? .ldrImm : .strImm, d: t, n: rsp(f.n), s: acc.size, f: flags, imm: offset)
            case 2: // unprivileged (LDTR/STTR)
                return Op(acc.load ? .ldtr : .sttr, d: t, n: rsp(f.n), s: acc.size, f: flags, imm: offset)
            case 1:
                if f.t == f.n && f.n != 31 { return nil }
                return Op(acc.load ? .ldrPost : .strPost, d: t, n: rsp(f.n), s: acc.size, f: flags, imm: offset)
            default:
                if f.t == f.n && f.n != 31 { return nil }
                return Op(acc.load ? .ldrPre : .strPre, d: t, n: rsp(f.n), s: acc.size, f: flags, imm: offset)
            }
        },
        // Load/store register (register offset)
        A64Encoding("LDR/STR_reg", "zz111000oo1mmmmmxxxS10nnnnnttttt") { f, _ in
            if f.x & 2 == 0 { return nil }
            guard let acc = generalAccess(size: f.z, opc: f.o) else {
                return (f.z == 3 && f.o == 2) ? Op(.nop) : nil   // PRFM (register)
            }
            let t = acc.load ? wz(f.t) : rz(f.t)
            return Op(acc.load ? .ldrReg : .strReg, d: t, n: rsp(f.n), m: rz(f.m), a: Int(f.x), s: acc.size,
                      f: accessFlags(acc), imm: f.S == 1 ? UInt64(acc.size) : 0)
        },
        // Load/store register (unsigned immediate)
        A64Encoding("LDR/STR_uimm", "zz111001ooiiiiiiiiiiiinnnnnttttt") { f, _ in
            guard let acc = generalAccess(size: f.z, opc: f.o) else {
                return (f.z == 3 && f.o == 2) ? Op(.nop) : nil   // PRFM (immediate)
            }
            let t = acc.load ? wz(f.t) : rz(f.t)
            return Op(acc.load ? .ldrImm : .strImm, d: t, n: rsp(f.n), s: acc.size, f: accessFlags(acc),
                      imm: UInt64(f.i) << UInt64(acc.size))
        },
    ]
}
