/// A 32-character encoding pattern in the Arm ARM's bit order (bit 31 first): `0`/`1` are fixed bits,
/// `-` is "any value", and each run of one letter is a field. A letter names exactly one contiguous run.
public struct BitPattern: Sendable {
    public let text: String
    public let mask: UInt32
    public let value: UInt32
    /// Field letter (ASCII) -> (lowest bit, width).
    let fields: [UInt8: (lo: UInt8, width: UInt8)]

    public init(_ text: String) {
        let chars = Array(text.utf8)
        precondition(chars.count == 32, "encoding pattern must have 32 characters: \(text)")
        var mask: UInt32 = 0
        var value: UInt32 = 0
        var fields: [UInt8: (lo: UInt8, width: UInt8)] = [:]
        for (index, c) in chars.enumerated() {
            let bit = UInt32(31 - index)
            switch c {
            case UInt8(ascii: "0"): mask |= 1 << bit
            case UInt8(ascii: "1"): mask |= 1 << bit; value |= 1 << bit
            case UInt8(ascii: "-"): break
            default:
                if let existing = fields[c] {
                    precondition(Int(existing.lo) == Int(bit) + 1, "field \(UnicodeScalar(c)) is not contiguous in \(text)")
                    fields[c] = (UInt8(bit), existing.width + 1)
                } else {
                    fields[c] = (UInt8(bit), 1)
                }
            }
        }
        self.text = text
        self.mask = mask
        self.value = value
        self.fields = fields
    }

    @inline(__always) public func matches(_ word: UInt32) -> Bool { word & mask == value }

    /// A random word that matches this pattern (for the differential fuzzer).
    public func randomWord<G: RandomNumberGenerator>(using rng: inout G) -> UInt32 {
        (UInt32.random(in: 0...UInt32.max, using: &rng) & ~mask) | value
    }
}

/// The fields of one instruction word, named by the letters of its pattern: `f.n`, `f.d`, `f.i`, ...
@dynamicMemberLookup
public struct Fields {
    public let word: UInt32
    let pattern: BitPattern

    public subscript(dynamicMember name: String) -> UInt32 {
        guard let letter = name.utf8.first, let field = pattern.fields[letter] else {
            preconditionFailure("pattern \(pattern.text) has no field \(name)")
        }
        return word.bits(Int(field.lo) + Int(field.width) - 1, Int(field.lo))
    }

    public func int(_ name: String) -> Int { Int(self[dynamicMember: name]) }

    /// The field as a signed value of its own width.
    public func signed(_ name: String) -> Int64 {
        guard let letter = name.utf8.first, let field = pattern.fields[letter] else { return 0 }
        return Int64(bitPattern: signExtend(UInt64(self[dynamicMember: name]), Int(field.width)))
    }
}
