// emud: the GDB remote protocol. GPL-2.0-or-later.

/// Frames payloads as `$payload#cs` packets for gdb.
///
/// Every `$`, `#`, `}` and `*` in the payload is escaped as `}` followed by the byte XOR 0x20,
/// so binary payloads (qXfer data) arrive intact and no byte is mistaken for a run-length marker.
/// Text replies (hex digits, `OK`, stop replies) contain none of those bytes and are unchanged.
/// The checksum covers the escaped bytes, as the protocol requires. No run-length encoding is
/// applied: it saves little on a local socket and is one more thing to get wrong.
///
/// Stateless; safe to use from any thread.
public enum PacketEncoder {
    /// The bytes that never appear unescaped inside an encoded packet.
    static func needsEscape(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "$") || byte == UInt8(ascii: "#") || byte == UInt8(ascii: "}")
            || byte == UInt8(ascii: "*")
    }

    /// The complete packet, from `$` to the second checksum digit.
    public static func encode(_ payload: some Sequence<UInt8>) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "$")]
        out.reserveCapacity(payload.underestimatedCount + 4)
        var checksum: UInt8 = 0
        for byte in payload {
            if needsEscape(byte) {
                out.append(UInt8(ascii: "}"))
                out.append(byte ^ 0x20)
                checksum &+= UInt8(ascii: "}") &+ (byte ^ 0x20)
            } else {
                out.append(byte)
                checksum &+= byte
            }
        }
        out.append(UInt8(ascii: "#"))
        out.append(Hex.digits[Int(checksum >> 4)])
        out.append(Hex.digits[Int(checksum & 0xF)])
        return out
    }

    /// Convenience for ASCII payloads.
    public static func encode(_ text: String) -> [UInt8] {
        encode(Array(text.utf8))
    }
}
