// emud: the GDB remote protocol. GPL-2.0-or-later.

/// `m addr,length`: read memory.
public struct ReadMemory: Equatable, Sendable {
    public var address: UInt64
    public var length: Int

    public init(address: UInt64, length: Int) {
        self.address = address
        self.length = length
    }

    init(body: ArraySlice<UInt8>) throws(MalformedPacket) {
        guard let (address, length) = body.splitOnce(at: UInt8(ascii: ",")) else {
            throw MalformedPacket("m", "expected 'm addr,length'")
        }
        self.address = try address.hexUInt64("m", "address")
        self.length = try length.hexInt("m", "length")
    }
}

/// `M addr,length:XX...` (hex data) or `X addr,length:data` (binary data, escapes already undone):
/// write memory. `X` with length 0 is gdb probing whether `X` works.
public struct WriteMemory: Equatable, Sendable {
    public var address: UInt64
    public var bytes: [UInt8]

    public init(address: UInt64, bytes: [UInt8]) {
        self.address = address
        self.bytes = bytes
    }

    init(hexBody body: ArraySlice<UInt8>) throws(MalformedPacket) {
        let (address, length, data) = try Self.fields("M", body)
        guard let bytes = Hex.decode(data), bytes.count == length else {
            throw MalformedPacket("M", "data is not \(length) hex-encoded bytes")
        }
        self.address = address
        self.bytes = bytes
    }

    init(binaryBody body: ArraySlice<UInt8>) throws(MalformedPacket) {
        let (address, length, data) = try Self.fields("X", body)
        guard data.count == length else {
            throw MalformedPacket("X", "length field says \(length) bytes, the packet carries \(data.count)")
        }
        self.address = address
        self.bytes = Array(data)
    }

    private static func fields(_ packet: String, _ body: ArraySlice<UInt8>) throws(MalformedPacket)
        -> (UInt64, Int, ArraySlice<UInt8>)
    {
        // The address and length are text; the data after the first ':' may contain any byte.
        guard let (header, data) = body.splitOnce(at: UInt8(ascii: ":")),
            let (address, length) = header.splitOnce(at: UInt8(ascii: ","))
        else {
            throw MalformedPacket(packet, "expected '\(packet) addr,length:data'")
        }
        return (
            try address.hexUInt64(packet, "address"), try length.hexInt(packet, "length"), data
        )
    }
}
