// Arm ARM C4.1.8: Cryptographic AES, three-register SHA and two-register SHA (FEAT_AES with FEAT_PMULL,
// FEAT_SHA1, FEAT_SHA256: what a Cortex-A76 with the Cryptographic Extension has, and what
// ID_AA64ISAR0_EL1 reports). The 64-bit PMULL is in the three-different class (Decode/AdvSIMD.swift).
// Every form decodes to `.simd` with its `SIMDOp`; the execution is in Execute/CryptoExecute.swift.

enum Crypto {
    static let encodings: [A64Encoding] = [
        // Cryptographic AES: size must be 00.
        A64Encoding("AES", "010011100010100ooooo10nnnnnddddd") { f, _ in
            let code: SIMDOp
            switch f.o {
            case 0b00100: code = .aese
            case 0b00101: code = .aesd
            case 0b00110: code = .aesmc
            case 0b00111: code = .aesimc
            default: return nil
            }
            return simd(code, d: f.d, n: f.n, s: 0, f: SIMDFlags.q)
        },
        // Cryptographic three-register SHA: size must be 00; opcode 111 is unallocated.
        A64Encoding("SHA_3reg", "01011110000mmmmm0ooo00nnnnnddddd") { f, _ in
            let code: SIMDOp
            switch f.o {
            case 0b000: code = .sha1c
            case 0b001: code = .sha1p
            case 0b010: code = .sha1m
            case 0b011: code = .sha1su0
            case 0b100: code = .sha256h
            case 0b101: code = .sha256h2
            case 0b110: code = .sha256su1
            default: return nil
            }
            return simd(code, d: f.d, n: f.n, m: f.m, s: 2, f: SIMDFlags.q)
        },
        // Cryptographic two-register SHA: size must be 00.
        A64Encoding("SHA_2reg", "010111100010100ooooo10nnnnnddddd") { f, _ in
            let code: SIMDOp
            switch f.o {
            case 0b00000: code = .sha1h
            case 0b00001: code = .sha1su1
            case 0b00010: code = .sha256su0
            default: return nil
            }
            return simd(code, d: f.d, n: f.n, s: 2, f: SIMDFlags.q)
        },
    ]
}
