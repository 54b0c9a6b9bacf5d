// emud: the GDB remote protocol. GPL-2.0-or-later.

/// Hexadecimal and ASCII helpers shared by the packet parsers and the session.
///
/// Everything here works on bytes: the remote protocol is a byte protocol, and binary payloads
/// (`X`, qXfer replies) must never round-trip through `String`.
enum Hex {
    static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The value of one hexadecimal digit (either case), or nil.
    @inline(__always)
    static func value(of digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit &- UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit &- UInt8(ascii: "a") &+ 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit &- UInt8(ascii: "A") &+ 10
        default: return nil
        }
    }

    /// Two lowercase hexadecimal digits per byte, in order.
    static func encode(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return out
    }

    /// Decodes pairs of hexadecimal digits; nil if the length is odd or a digit is invalid.
    static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        guard text.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 2)
        var high: UInt8?
        for digit in text {
            guard let nibble = value(of: digit) else { return nil }
            if let h = high {
                out.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return out
    }

    /// Parses a whole field as a big-endian hexadecimal number; nil if empty, not hex, or wider
    /// than 64 bits.
    static func parseNumber(_ text: some Collection<UInt8>) -> UInt64? {
        guard !text.isEmpty else { return nil }
        var result: UInt64 = 0
        for digit in text {
            guard let nibble = value(of: digit), result >> 60 == 0 else { return nil }
            result = result << 4 | UInt64(nibble)
        }
        return result
    }
}

extension Collection where Element == UInt8 {
    /// Splits on the first occurrence of `separator`; nil if it does not occur.
    func splitOnce(at separator: UInt8) -> (head: SubSequence, tail: SubSequence)? {
        guard let index = firstIndex(of: separator) else { return nil }
        return (self[startIndex..<index], self[self.index(after: index)...])
    }

    /// True if the bytes start with the ASCII text `prefix`.
    func hasASCIIPrefix(_ prefix: String) -> Bool {
        starts(with: prefix.utf8)
    }
}
