/// The top-level A64 encoding groups (Arm ARM C4.1, op0 = bits 28...25). Undefined instructions are counted
/// per group.
public enum EncodingGroup: Int, CaseIterable, Sendable {
    case reserved, unallocated, sve, dataProcessingImmediate, branchExceptionSystem, loadStore,
         dataProcessingRegister, dataProcessingSIMDFP

    public static func of(_ word: UInt32) -> EncodingGroup {
        switch word.bits(28, 25) {
        case 0b0000: return .reserved
        case 0b0001, 0b0011: return .unallocated
        case 0b0010: return .sve
        case 0b1000, 0b1001: return .dataProcessingImmediate
        case 0b1010, 0b1011: return .branchExceptionSystem
        case 0b0100, 0b0110, 0b1100, 0b1110: return .loadStore
        case 0b0101, 0b1101: return .dataProcessingRegister
        default: return .dataProcessingSIMDFP
        }
    }

    public var name: String {
        switch self {
        case .reserved: return "reserved"
        case .unallocated: return "unallocated"
        case .sve: return "sve"
        case .dataProcessingImmediate: return "data-processing-immediate"
        case .branchExceptionSystem: return "branch-exception-system"
        case .loadStore: return "load-store"
        case .dataProcessingRegister: return "data-processing-register"
        case .dataProcessingSIMDFP: return "data-processing-simd-fp"
        }
    }
}

/// What a handler knows besides the word: the instruction's address.
public struct DecodeContext {
    public let pc: UInt64
}

/// One line of the decode table: a named encoding, its pattern, and the handler that turns its fields into
/// an `Op`. A handler returns nil for a reserved combination of fields, which is then undefined.
public struct A64Encoding: Sendable {
    public let name: String
    public let pattern: BitPattern
    /// Whether the differential fuzzer may draw this encoding (it must be deterministic and not trap).
    public let fuzzable: Bool
    let handler: @Sendable (Fields, DecodeContext) -> Op?

    init(_ name: String, _ pattern: String, fuzz: Bool = true, _ handler: @escaping @Sendable (Fields, DecodeContext) -> Op?) {
        self.name = name
        self.pattern = BitPattern(pattern)
        self.fuzzable = fuzz
        self.handler = handler
    }
}

/// Table-driven A64 decoder. Patterns are tried in table order (most specific first within a section);
/// anything that matches no pattern, or whose handler rejects its fields, becomes `OpCode.undefined`.
public enum A64Decoder {
    /// Every encoding emud implements, grouped by the Arm ARM's sections.
    public static let table: [A64Encoding] =
        DataProcessingImmediate.encodings + BranchesExceptionsSystem.encodings + LoadStore.encodings
        + DataProcessingRegister.encodings + SIMDLoadStore.encodings
        // Floating point before the integer AdvSIMD table: its patterns fix the bits that make an encoding FP.
        + FloatingPoint.encodings + AdvSIMDFloatingPoint.encodings + AdvSIMD.encodings + Crypto.encodings

    /// The table bucketed by encoding group so a lookup only scans its own section.
    private static let buckets: [[A64Encoding]] = {
        var b = Array(repeating: [A64Encoding](), count: 16)
        for e in table {
            // An encoding may cover several op0 values; place it in every bucket it can match.
            for op0 in 0..<16 {
                let probe = UInt32(op0) << 25
                let m = e.pattern.mask & (0xF << 25)
                if probe & m == e.pattern.value & m { b[op0].append(e) }
            }
        }
        return b
    }()

    public static func encoding(for word: UInt32) -> A64Encoding? {
        for e in buckets[Int(word.bits(28, 25))] where e.pattern.matches(word) { return e }
        return nil
    }

    public static func decode(_ word: UInt32, pc: UInt64) -> Op {
        let ctx = DecodeContext(pc: pc)
        for e in buckets[Int(word.bits(28, 25))] where e.pattern.matches(word) {
            if let op = e.handler(Fields(word: word, pattern: e.pattern), ctx) { return op.specialized() }
            break
        }
        return Op(.undefined, a: EncodingGroup.of(word).rawValue, imm: UInt64(word))
    }

    /// Whether the instruction is in the FP/AdvSIMD space that CPACR_EL1.FPEN traps.
    static func usesFPRegisters(_ word: UInt32) -> Bool {
        let op0 = word.bits(28, 25)
        if op0 & 0b0111 == 0b0111 { return true }           // data processing SIMD&FP
        if op0 & 0b0101 == 0b0100 && word.bit(26) { return true } // loads/stores with V = 1
        return false
    }
}

// Register slot helpers: resolve register 31 once, at decode time.
@inline(__always) func rz(_ r: UInt32) -> Int { r == 31 ? CPUState.zeroRead : Int(r) }
@inline(__always) func wz(_ r: UInt32) -> Int { r == 31 ? CPUState.zeroWrite : Int(r) }
@inline(__always) func rsp(_ r: UInt32) -> Int { Int(r) }
