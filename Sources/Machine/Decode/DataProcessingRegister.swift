// Arm ARM C4.1.6: Data Processing -- Register.

enum DataProcessingRegister {
    static let encodings: [A64Encoding] = [
        // Logical (shifted register)
        A64Encoding("LOGICAL_shifted", "zoo01010hhNmmmmmiiiiiinnnnnddddd") { f, _ in
            if f.z == 0 && f.i >= 32 { return nil }
            var flags: UInt8 = f.z == 1 ? OpFlags.sf : 0
            if f.N == 1 { flags |= OpFlags.invert }
            let code: OpCode
            switch f.o {
            case 0: code = .andShifted
            case 1: code = .orrShifted
            case 2: code = .eorShifted
            default: code = .andShifted; flags |= OpFlags.setFlags
            }
            return Op(code, d: wz(f.d), n: rz(f.n), m: rz(f.m), a: Int(f.h), s: Int(f.i), f: flags)
        },
        // Add/subtract (shifted register)
        A64Encoding("ADD/SUB_shifted", "zoS01011hh0mmmmmiiiiiinnnnnddddd") { f, _ in
            if f.h == 3 || (f.z == 0 && f.i >= 32) { return nil }
            var flags: UInt8 = f.z == 1 ? OpFlags.sf : 0
            if f.S == 1 { flags |= OpFlags.setFlags }
            return Op(f.o == 0 ? .addShifted : .subShifted, d: wz(f.d), n: rz(f.n), m: rz(f.m), a: Int(f.h), s: Int(f.i), f: flags)
        },
        // Add/subtract (extended register)
        A64Encoding("ADD/SUB_extended", "zoS01011001mmmmmxxxiiinnnnnddddd") { f, _ in
            if f.i > 4 { return nil }
            var flags: UInt8 = f.z == 1 ? OpFlags.sf : 0
            if f.S == 1 { flags |= OpFlags.setFlags }
            let d = f.S == 1 ? wz(f.d) : rsp(f.d)
            return Op(f.o == 0 ? .addExtended : .subExtended, d: d, n: rsp(f.n), m: rz(f.m), a: Int(f.x), s: Int(f.i), f: flags)
        },
        // Add/subtract (with carry)
        A64Encoding("ADC/SBC", "zoS11010000mmmmm000000nnnnnddddd") { f, _ in
            var flags: UInt8 = f.z == 1 ? OpFlags.sf : 0
            if f.S == 1 { flags |= OpFlags.setFlags }
            return Op(f.o == 0 ? .adc : .sbc, d: wz(f.d), n: rz(f.n), m: rz(f.m), f: flags)
        },
        // Conditional compare (register / immediate)
        A64Encoding("CCMN/CCMP_reg", "zo111010010mmmmmcccc00nnnnn0ffff") { f, _ in
            Op(.ccmp, n: rz(f.n), m: rz(f.m), a: Int(f.c), s: Int(f.f),
               f: (f.z == 1 ? OpFlags.sf : 0) | (f.o == 0 ? OpFlags.invert : 0))
        },
        A64Encoding("CCMN/CCMP_imm", "zo111010010iiiiicccc10nnnnn0ffff") { f, _ in
            Op(.ccmp, n: rz(f.n), a: Int(f.c), s: Int(f.f),
               f: (f.z == 1 ? OpFlags.sf : 0) | (f.o == 0 ? OpFlags.invert : 0) | OpFlags.alt, imm: UInt64(f.i))
        },
        // Conditional select
        A64Encoding("CSEL", "zo011010100mmmmmcccc0pnnnnnddddd") { f, _ in
            let code: OpCode = f.o == 0 ? (f.p == 0 ? .csel : .csinc) : (f.p == 0 ? .csinv : .csneg)
            return Op(code, d: wz(f.d), n: rz(f.n), m: rz(f.m), a: Int(f.c), f: f.z == 1 ? OpFlags.sf : 0)
        },
        // Data-processing (2 source)
        A64Encoding("DP_2src", "z0011010110mmmmmoooooonnnnnddddd") { f, _ in
            let sf: UInt8 = f.z == 1 ? OpFlags.sf : 0
            let d = wz(f.d), n = rz(f.n), m = rz(f.m)
            switch f.o {
            case 0b000010: return Op(.udiv, d: d, n: n, m: m, f: sf)
            case 0b000011: return Op(.sdiv, d: d, n: n, m: m, f: sf)
            case 0b001000: return Op(.lslv, d: d, n: n, m: m, f: sf)
            case 0b001001: return Op(.lsrv, d: d, n: n, m: m, f: sf)
            case 0b001010: return Op(.asrv, d: d, n: n, m: m, f: sf)
            case 0b001011: return Op(.rorv, d: d, n: n, m: m, f: sf)
            case 0b010000...0b010111:
                let size = Int(f.o & 3)
                // CRC32X/CRC32CX need sf = 1; the narrower forms need sf = 0.
                if (size == 3) != (f.z == 1) { return nil }
                return Op(.crc32, d: d, n: n, m: m, s: size, f: f.o & 4 != 0 ? OpFlags.alt : 0)
            default: return nil
            }
        },
        // Data-processing (1 source)
        A64Encoding("DP_1src", "z101101011000000oooooonnnnnddddd") { f, _ in
            let sf: UInt8 = f.z == 1 ? OpFlags.sf : 0
            let d = wz(f.d), n = rz(f.n)
            switch f.o {
            case 0: return Op(.rbit, d: d, n: n, f: sf)
            case 1: return Op(.rev16, d: d, n: n, f: sf)
            case 2: return f.z == 1 ? Op(.rev32, d: d, n: n, f: sf) : Op(.rev64, d: d, n: n, f: 0)
            case 3: return f.z == 1 ? Op(.rev64, d: d, n: n, f: sf) : nil
            case 4: return Op(.clz, d: d, n: n, f: sf)
            case 5: return Op(.cls, d: d, n: n, f: sf)
            default: return nil
            }
        },
        // Data-processing (3 source)
        A64Encoding("DP_3src", "z0011011ooommmmmpaaaaannnnnddddd") { f, _ in
            let sf: UInt8 = f.z == 1 ? OpFlags.sf : 0
            let d = wz(f.d), n = rz(f.n), m = rz(f.m), a = rz(f.a)
            switch (f.o, f.p) {
            case (0, 0): return Op(.madd, d: d, n: n, m: m, a: a, f: sf)
            case (0, 1): return Op(.msub, d: d, n: n, m: m, a: a, f: sf)
            case (1, 0) where sf != 0: return Op(.smaddl, d: d, n: n, m: m, a: a)
            case (1, 1) where sf != 0: return Op(.smsubl, d: d, n: n, m: m, a: a)
            case (2, 0) where sf != 0: return Op(.smulh, d: d, n: n, m: m)
            case (5, 0) where sf != 0: return Op(.umaddl, d: d, n: n, m: m, a: a)
            case (5, 1) where sf != 0: return Op(.umsubl, d: d, n: n, m: m, a: a)
            case (6, 0) where sf != 0: return Op(.umulh, d: d, n: n, m: m)
            default: return nil
            }
        },
    ]
}
