// emud: the GDB remote protocol. GPL-2.0-or-later.

/// `G XX...`: write all registers of the general thread, in `g` order.
public struct WriteRegisters: Equatable, Sendable {
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    init(body: ArraySlice<UInt8>) throws(MalformedPacket) {
        guard let bytes = Hex.decode(body) else {
            throw MalformedPacket("G", "register data is not an even number of hex digits")
        }
        self.bytes = bytes
    }
}

/// `p n`: read register `n` of the general thread.
public struct ReadRegister: Equatable, Sendable {
    public var number: Int

    public init(number: Int) { self.number = number }

    init(body: ArraySlice<UInt8>) throws(MalformedPacket) {
        number = try body.hexInt("p", "register number")
    }
}

/// `P n=XX...`: write register `n` of the general thread.
public struct WriteRegister: Equatable, Sendable {
    public var number: Int
    public var bytes: [UInt8]

    public init(number: Int, bytes: [UInt8]) {
        self.number = number
        self.bytes = bytes
    }

    init(body: ArraySlice<UInt8>) throws(MalformedPacket) {
        guard let (number, value) = body.splitOnce(at: UInt8(ascii: "=")) else {
            throw MalformedPacket("P", "expected 'P n=value'")
        }
        self.number = try number.hexInt("P", "register number")
        guard let bytes = Hex.decode(value) else {
            throw MalformedPacket("P", "register value is not an even number of hex digits")
        }
        self.bytes = bytes
    }
}
