// emud: tests for the GDB remote protocol. GPL-2.0-or-later.

import Testing

@testable import GDBStub

/// Decodes everything `chunks` delivers, feeding one chunk at a time.
func decode(_ chunks: [[UInt8]], limit: Int = GDBSession.defaultPacketSize) -> [DecoderEvent] {
    var decoder = PacketDecoder(maximumPayloadLength: limit)
    var events: [DecoderEvent] = []
    for chunk in chunks {
        decoder.feed(chunk)
        while let event = decoder.next() { events.append(event) }
    }
    return events
}

/// A deterministic generator so that a failing shuffle can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("PacketDecoder")
struct PacketDecoderTests {
    /// A stream with every kind of token: acks, an interrupt, text packets, a binary X packet holding
    /// 0x03, '-', '+', '$', '#', '}' and '*' (escaped where needed), garbage, and run-length encoding.
    static let binaryData: [UInt8] = [0x03, 0x2d, 0x2b, 0x24, 0x23, 0x7d, 0x2a, 0x00, 0xff, 0x03]
    static let stream: [UInt8] = {
        var bytes: [UInt8] = Array("+".utf8)
        bytes += frame("qSupported:multiprocess+;swbreak+")
        bytes += Array("-".utf8)
        bytes += [0x03]
        bytes += Array("garbage\r\n".utf8)
        bytes += PacketEncoder.encode(Array("X40000000,a:".utf8) + binaryData)
        bytes += frame("m40000000,4")
        bytes += rle
        bytes += Array("+".utf8)
        return bytes
    }()
    /// `$0* #..`: "0" repeated 3 more times.
    static let rle: [UInt8] = {
        let body: [UInt8] = Array("0* ".utf8)
        let sum = body.reduce(UInt8(0), &+)
        return [UInt8(ascii: "$")] + body + [UInt8(ascii: "#")] + Hex.encode([sum])
    }()
    static let expected: [DecoderEvent] = [
        .acknowledged,
        .packet(Array("qSupported:multiprocess+;swbreak+".utf8)),
        .retransmitRequested,
        .interrupt,
        .packet(Array("X40000000,a:".utf8) + binaryData),
        .packet(Array("m40000000,4".utf8)),
        .packet(Array("0000".utf8)),
        .acknowledged,
    ]

    @Test func allAtOnce() {
        #expect(decode([Self.stream]) == Self.expected)
    }

    @Test func oneByteAtATime() {
        #expect(decode(Self.stream.map { [$0] }) == Self.expected)
    }

    @Test func splitAtEveryPosition() {
        for split in 0...Self.stream.count {
            let chunks = [Array(Self.stream[..<split]), Array(Self.stream[split...])]
            #expect(decode(chunks) == Self.expected, "split at \(split)")
        }
    }

    @Test func splitAtEveryPairOfPositions() {
        let stream = Self.stream
        for first in stride(from: 0, through: stream.count, by: 3) {
            for second in first...stream.count {
                let chunks = [Array(stream[..<first]), Array(stream[first..<second]), Array(stream[second...])]
                #expect(decode(chunks) == Self.expected, "split at \(first) and \(second)")
            }
        }
    }

    @Test func randomChunking() {
        var generator = SplitMix64(state: 0x5eed)
        for round in 0..<500 {
            var chunks: [[UInt8]] = []
            var index = 0
            while index < Self.stream.count {
                let length = Int.random(in: 0...12, using: &generator)
                let end = min(Self.stream.count, index + length)
                chunks.append(Array(Self.stream[index..<end]))
                index = end
            }
            #expect(decode(chunks) == Self.expected, "round \(round)")
        }
    }

    @Test func badChecksumAsksForRetransmission() {
        var packet = frame("g")
        packet[packet.count - 1] = packet[packet.count - 1] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
        #expect(decode([packet + frame("?")]) == [.badChecksum, .packet([UInt8(ascii: "?")])])
    }

    @Test func checksumDigitsThatAreNotHex() {
        // The '$' that replaced the second digit still starts the next packet.
        let bytes = Array("$g#6".utf8) + frame("?")
        #expect(decode([bytes]) == [.badChecksum, .packet([UInt8(ascii: "?")])])
        #expect(decode([Array("$g#zz".utf8) + frame("?")]) == [.badChecksum, .packet([UInt8(ascii: "?")])])
    }

    @Test func checksumDigitsInEitherCase() {
        // gdb writes lowercase, other clients uppercase.
        let body = Array("qC".utf8)
        let sum = body.reduce(UInt8(0), &+)
        let upper = Array(String(sum, radix: 16).uppercased().utf8)
        #expect(decode([[UInt8(ascii: "$")] + body + [UInt8(ascii: "#")] + upper]) == [.packet(body)])
    }

    @Test func garbageBetweenPacketsIsIgnored() {
        let bytes = Array("\r\nhello}*#00".utf8) + frame("qC") + Array("\u{7f}xyz".utf8) + frame("?")
        #expect(decode([bytes]) == [.packet(Array("qC".utf8)), .packet([UInt8(ascii: "?")])])
    }

    @Test func interruptOutsideAndInsidePackets() {
        // Outside: a token. Inside (raw, or as the escaped form of '#' which is "}\u{03}"): data.
        let x = PacketEncoder.encode(Array("X0,3:".utf8) + [0x03, UInt8(ascii: "#"), 0x03])
        #expect(x.filter { $0 == 0x03 }.count == 3)
        #expect(decode([[0x03] + x + [0x03, 0x03]]) == [
            .interrupt, .packet(Array("X0,3:".utf8) + [0x03, UInt8(ascii: "#"), 0x03]), .interrupt, .interrupt,
        ])
    }

    @Test func escapes() {
        // }] -> }, }\x03 -> #, }\x04 -> $, }\x0a -> *, and any other byte may be escaped too.
        let body: [UInt8] = [UInt8(ascii: "X"), 0x7d, 0x5d, 0x7d, 0x03, 0x7d, 0x04, 0x7d, 0x0a, 0x7d, 0x61]
        let sum = body.reduce(UInt8(0), &+)
        let bytes = [UInt8(ascii: "$")] + body + [UInt8(ascii: "#")] + Hex.encode([sum])
        #expect(decode([bytes]) == [.packet([UInt8(ascii: "X"), 0x7d, 0x23, 0x24, 0x2a, 0x41])])
    }

    @Test func runLengthEncoding() {
        func packet(_ body: [UInt8]) -> [UInt8] {
            [UInt8(ascii: "$")] + body + [UInt8(ascii: "#")] + Hex.encode([body.reduce(UInt8(0), &+)])
        }
        #expect(decode([packet(Array("a*\"b".utf8))]) == [.packet(Array("aaaaaab".utf8))])  // '"' = 34: 5 more
        #expect(decode([packet(Array("x*~".utf8))]) == [.packet([UInt8](repeating: UInt8(ascii: "x"), count: 98))])
        // The repeated byte is the decoded one, so an escaped '*' can be repeated.
        #expect(decode([packet([0x7d, 0x0a, UInt8(ascii: "*"), UInt8(ascii: " ")])]) == [.packet(Array("****".utf8))])
        #expect(decode([packet(Array("*!".utf8))]) == [.rejected(.invalidRunLength)])
        #expect(decode([packet([UInt8(ascii: "a"), UInt8(ascii: "*"), 0x10])]) == [.rejected(.invalidRunLength)])
    }

    @Test func truncatedEscape() {
        let body = Array("ab}".utf8)
        let bytes = [UInt8(ascii: "$")] + body + [UInt8(ascii: "#")] + Hex.encode([body.reduce(UInt8(0), &+)])
        #expect(decode([bytes + frame("?")]) == [.rejected(.truncatedEscape), .packet([UInt8(ascii: "?")])])
    }

    @Test func dollarInsidePacketStartsOver() {
        let bytes = Array("$m1234,".utf8) + frame("qC")
        #expect(decode([bytes]) == [.packet(Array("qC".utf8))])
    }

    @Test func overlongPacketIsRejectedAndDecoderResyncs() {
        let long = String(repeating: "a", count: 100)
        let events = decode([frame(long) + frame("?")], limit: 64)
        #expect(events == [.rejected(.tooLong(limit: 64)), .packet([UInt8(ascii: "?")])])
        // Exactly at the limit is fine.
        #expect(decode([frame(String(repeating: "b", count: 64))], limit: 64) == [
            .packet([UInt8](repeating: UInt8(ascii: "b"), count: 64))
        ])
        // Damaged and too long: damage wins, so gdb resends.
        var damaged = frame(long)
        damaged[damaged.count - 2] ^= 0x01
        #expect(decode([damaged], limit: 64) == [.badChecksum])
        // Run-length expansion counts against the limit too.
        let sum = Array("a*~*~".utf8).reduce(UInt8(0), &+)
        #expect(decode([Array("$a*~*~#".utf8) + Hex.encode([sum])], limit: 64) == [.rejected(.tooLong(limit: 64))])
    }

    @Test func overlongPacketSplitIntoManyReads() {
        let bytes = frame(String(repeating: "z", count: 10_000)) + frame("g")
        let chunks = stride(from: 0, to: bytes.count, by: 7).map { Array(bytes[$0..<min(bytes.count, $0 + 7)]) }
        #expect(decode(chunks, limit: 256) == [.rejected(.tooLong(limit: 256)), .packet([UInt8(ascii: "g")])])
    }
}

@Suite("PacketEncoder")
struct PacketEncoderTests {
    @Test func knownPackets() {
        #expect(text(PacketEncoder.encode("OK")) == "$OK#9a")
        #expect(text(PacketEncoder.encode("")) == "$#00")
        #expect(text(PacketEncoder.encode("T05thread:p1.1;swbreak:;")) == "$T05thread:p1.1;swbreak:;#0a")
    }

    @Test func escapesFrameBytes() {
        let encoded = PacketEncoder.encode([UInt8(ascii: "$"), UInt8(ascii: "#"), UInt8(ascii: "}"), UInt8(ascii: "*"), 0x03])
        #expect(Array(encoded.dropFirst().prefix(9)) == [0x7d, 0x04, 0x7d, 0x03, 0x7d, 0x5d, 0x7d, 0x0a, 0x03])
    }

    @Test func everyByteRoundTrips() {
        let all = (0...255).map { UInt8($0) }
        let encoded = PacketEncoder.encode(all)
        // Between '$' and '#' no frame byte is left unescaped.
        let inner = encoded.dropFirst().dropLast(3)
        #expect(!inner.contains(UInt8(ascii: "$")) && !inner.contains(UInt8(ascii: "#")))
        #expect(!inner.contains(UInt8(ascii: "*")))
        #expect(decode([encoded]) == [.packet(all)])
    }
}
