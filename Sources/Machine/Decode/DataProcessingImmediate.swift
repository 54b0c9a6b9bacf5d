// Arm ARM C4.1.2: Data Processing -- Immediate.

enum DataProcessingImmediate {
    static let encodings: [A64Encoding] = [
        // PC-rel. addressing
        A64Encoding("ADR", "0ll10000hhhhhhhhhhhhhhhhhhhddddd") { f, c in
            let off = signExtend(UInt64((f.h << 2) | f.l), 21)
            return Op(.movImm, d: wz(f.d), imm: c.pc &+ off)
        },
        A64Encoding("ADRP", "1ll10000hhhhhhhhhhhhhhhhhhhddddd") { f, c in
            let off = signExtend(UInt64((f.h << 2) | f.l), 21) << 12
            return Op(.movImm, d: wz(f.d), imm: (c.pc & ~0xfff) &+ off)
        },
        // Add/subtract (immediate)
        A64Encoding("ADD/SUB_imm", "zoS100010hiiiiiiiiiiiinnnnnddddd") { f, _ in
            let imm = UInt64(f.i) << (f.h == 1 ? 12 : 0)
            let sf = f.z == 1
            if f.S == 1 {
                return Op(f.o == 0 ? .addsImm : .subsImm, d: wz(f.d), n: rsp(f.n), f: (sf ? OpFlags.sf : 0) | OpFlags.setFlags, imm: imm)
            }
            let code: OpCode = f.o == 0 ? (sf ? .addImm64 : .addImm32) : (sf ? .subImm64 : .subImm32)
            return Op(code, d: rsp(f.d), n: rsp(f.n), imm: imm)
        },
        // Logical (immediate)
        A64Encoding("LOGICAL_imm", "zoo100100Nrrrrrrssssssnnnnnddddd") { f, _ in
            let sf = f.z == 1
            if !sf && f.N == 1 { return nil }
            guard let (wmask, _) = decodeBitMasks(n: f.N, imms: f.s, immr: f.r, immediate: true, width: sf ? 64 : 32) else { return nil }
            switch f.o {
            case 0: return Op(.andImm, d: rsp(f.d), n: rz(f.n), imm: wmask)
            case 1: return Op(.orrImm, d: rsp(f.d), n: rz(f.n), f: sf ? OpFlags.sf : 0, imm: wmask)
            case 2: return Op(.eorImm, d: rsp(f.d), n: rz(f.n), f: sf ? OpFlags.sf : 0, imm: wmask)
            default: return Op(.andsImm, d: wz(f.d), n: rz(f.n), f: sf ? OpFlags.sf : 0, imm: wmask)
            }
        },
        // Move wide (immediate)
        A64Encoding("MOVE_WIDE", "zoo100101hhiiiiiiiiiiiiiiiiddddd") { f, _ in
            let sf = f.z == 1
            if !sf && f.h >= 2 { return nil }
            let shift = UInt64(f.h * 16)
            let value = UInt64(f.i) << shift
            switch f.o {
            case 0: // MOVN
                let v = ~value
                return Op(.movImm, d: wz(f.d), imm: sf ? v : v & 0xffff_ffff)
            case 2: return Op(.movImm, d: wz(f.d), imm: value) // MOVZ
            case 3: // MOVK
                return Op(.movk, d: wz(f.d), f: sf ? OpFlags.sf : 0, imm: value, imm2: UInt64(0xffff) << shift)
            default: return nil
            }
        },
        // Bitfield
        A64Encoding("BITFIELD", "zoo100110Nrrrrrrssssssnnnnnddddd") { f, _ in
            let sf = f.z == 1
            if f.N != f.z || f.o == 3 { return nil }
            let width = sf ? 64 : 32
            if !sf && (f.r >= 32 || f.s >= 32) { return nil }
            guard let (wmask, tmask) = decodeBitMasks(n: f.N, imms: f.s, immr: f.r, immediate: false, width: width) else { return nil }
            let flags = sf ? OpFlags.sf : 0
            // Common aliases get dedicated operations; the general form covers the rest.
            if sf && f.o == 2 && f.s != 63 && f.s + 1 == f.r {
                return Op(.lslImm64, d: wz(f.d), n: rz(f.n), s: 63 - Int(f.s))
            }
            if sf && f.o == 2 && f.s == 63 { return Op(.lsrImm64, d: wz(f.d), n: rz(f.n), s: Int(f.r)) }
            if sf && f.o == 0 && f.s == 63 { return Op(.asrImm64, d: wz(f.d), n: rz(f.n), s: Int(f.r)) }
            let code: OpCode = f.o == 0 ? .sbfm : (f.o == 1 ? .bfm : .ubfm)
            return Op(code, d: wz(f.d), n: rz(f.n), a: Int(f.s), s: Int(f.r), f: flags, imm: wmask, imm2: tmask)
        },
        // Extract
        A64Encoding("EXTR", "z00100111N0mmmmmssssssnnnnnddddd") { f, _ in
            if f.N != f.z || (f.z == 0 && f.s >= 32) { return nil }
            return Op(.extr, d: wz(f.d), n: rz(f.n), m: rz(f.m), s: Int(f.s), f: f.z == 1 ? OpFlags.sf : 0)
        },
    ]
}
