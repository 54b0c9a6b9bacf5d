// emud: the GDB remote protocol. GPL-2.0-or-later.

/// What the byte stream from gdb means, one token at a time.
public enum DecoderEvent: Equatable, Sendable {
    /// `+`: the peer received our last packet intact.
    case acknowledged
    /// `-`: the peer received our last packet damaged and asks for it again.
    case retransmitRequested
    /// The interrupt byte 0x03 (Ctrl-C) outside a packet.
    case interrupt
    /// A packet whose checksum matched, with `}` escapes and `*` run-length encoding undone.
    case packet([UInt8])
    /// A packet arrived damaged (checksum mismatch or checksum digits that are not hex).
    /// In acknowledgment mode the session answers `-` and the peer sends it again.
    case badChecksum
    /// A packet arrived intact but cannot be used; the session acknowledges it and answers
    /// with an error, because sending it again would not help.
    case rejected(PacketError)
}

/// Why an intact packet was rejected by the decoder.
public enum PacketError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The decoded payload is longer than the limit we advertise in `qSupported`'s `PacketSize`.
    case tooLong(limit: Int)
    /// A `*` had no byte before it to repeat, or its count byte was outside `' '`...`'~'`.
    case invalidRunLength
    /// The packet ended right after a `}` or a `*`.
    case truncatedEscape

    public var description: String {
        switch self {
        case .tooLong(let limit):
            return "packet longer than the advertised PacketSize of \(limit) bytes"
        case .invalidRunLength:
            return "run-length marker '*' without a byte to repeat or with an invalid count"
        case .truncatedEscape:
            return "packet ends inside an escape or run-length sequence"
        }
    }
}

/// Splits the byte stream from gdb into acknowledgments, interrupts and verified packets.
///
/// The decoder does no I/O and keeps all of its state between calls, so a packet may arrive
/// split across any number of reads at any byte position. It guarantees:
/// - `+`, `-` and 0x03 outside a packet are separate tokens; inside a packet they are data
///   (an `X` payload may contain 0x03 and `-`).
/// - Bytes between packets that are none of those tokens are ignored, so the decoder
///   resynchronises on the next `$`. A `$` inside a packet abandons the partial packet and starts
///   a new one, as gdb itself does.
/// - The checksum is the sum of the raw bytes between `$` and `#`, verified before anything
///   is reported. `}` escapes the next byte (XOR 0x20), and `*c` repeats the previous decoded byte
///   `c - 29` times.
/// - Memory stays bounded: at most `maximumPayloadLength` decoded bytes are kept; a longer packet
///   is read to its end and reported as `.rejected(.tooLong)`.
///
/// A value type with no shared state: use it from one thread at a time.
public struct PacketDecoder: Sendable {
    private enum State: Sendable {
        case betweenPackets
        case payload
        case escapedByte
        case runLengthCount
        case checksumHigh
        case checksumLow(UInt8)
    }

    /// The largest decoded payload accepted.
    public let maximumPayloadLength: Int

    private var input: [UInt8] = []
    private var cursor = 0
    private var state = State.betweenPackets
    private var payload: [UInt8] = []
    private var lastByte: UInt8?
    private var checksum: UInt8 = 0
    private var error: PacketError?

    /// - Parameter maximumPayloadLength: the largest decoded payload accepted (at least 1).
    public init(maximumPayloadLength: Int = GDBSession.defaultPacketSize) {
        self.maximumPayloadLength = max(1, maximumPayloadLength)
    }

    /// Appends bytes read from the peer. Call `next()` until it returns nil to drain them.
    public mutating func feed(_ bytes: some Sequence<UInt8>) {
        if cursor > 0 && cursor == input.count {
            input.removeAll(keepingCapacity: true)
            cursor = 0
        } else if cursor > 4096 {
            input.removeFirst(cursor)
            cursor = 0
        }
        input.append(contentsOf: bytes)
    }

    /// The next complete token, or nil once every fed byte has been consumed.
    public mutating func next() -> DecoderEvent? {
        while cursor < input.count {
            let byte = input[cursor]
            cursor += 1
            switch state {
            case .betweenPackets:
                switch byte {
                case UInt8(ascii: "+"): return .acknowledged
                case UInt8(ascii: "-"): return .retransmitRequested
                case 0x03: return .interrupt
                case UInt8(ascii: "$"): beginPacket()
                default: continue  // line noise between packets
                }

            case .payload, .escapedByte, .runLengthCount:
                if byte == UInt8(ascii: "#") {
                    if case .payload = state {} else { error = error ?? .truncatedEscape }
                    state = .checksumHigh
                    continue
                }
                if byte == UInt8(ascii: "$") {
                    beginPacket()
                    continue
                }
                checksum &+= byte
                consumePayloadByte(byte)

            case .checksumHigh:
                guard let high = Hex.value(of: byte) else {
                    return abandonChecksum()
                }
                state = .checksumLow(high)

            case .checksumLow(let high):
                guard let low = Hex.value(of: byte) else {
                    return abandonChecksum()
                }
                state = .betweenPackets
                let intact = (high << 4 | low) == checksum
                let event: DecoderEvent
                if !intact {
                    event = .badChecksum
                } else if let error {
                    event = .rejected(error)
                } else {
                    event = .packet(payload)
                }
                payload = []
                error = nil
                return event
            }
        }
        return nil
    }

    private mutating func beginPacket() {
        state = .payload
        payload.removeAll(keepingCapacity: true)
        lastByte = nil
        checksum = 0
        error = nil
    }

    /// A checksum digit that is not hex: the packet is damaged. The offending byte is read again
    /// between packets, so a `$` there still starts the next packet.
    private mutating func abandonChecksum() -> DecoderEvent {
        cursor -= 1
        state = .betweenPackets
        payload = []
        error = nil
        return .badChecksum
    }

    private mutating func consumePayloadByte(_ byte: UInt8) {
        switch state {
        case .escapedByte:
            state = .payload
            append(byte ^ 0x20)
        case .runLengthCount:
            state = .payload
            guard let repeated = lastByte, (UInt8(ascii: " ")...UInt8(ascii: "~")).contains(byte)
            else {
                error = error ?? .invalidRunLength
                return
            }
            for _ in 0..<(Int(byte) - 29) { append(repeated) }
        default:
            switch byte {
            case UInt8(ascii: "}"): state = .escapedByte
            case UInt8(ascii: "*"): state = .runLengthCount
            default: append(byte)
            }
        }
    }

    @inline(__always)
    private mutating func append(_ byte: UInt8) {
        lastByte = byte
        if payload.count < maximumPayloadLength {
            payload.append(byte)
        } else {
            error = error ?? .tooLong(limit: maximumPayloadLength)
        }
    }
}
