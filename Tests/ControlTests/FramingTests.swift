// emud: tests for the JSON control protocol. GPL-2.0-or-later.

import NIOCore
import Testing

@testable import Control

@Suite struct FramingTests {
    /// Newline-separated, blank lines, values joined with nothing between them (as QEMU's Python client sends),
    /// brackets and quotes inside strings, escaped quotes, a bare word, a stray bracket.
    static let stream = Array(("{\"execute\":\"a\"}\r\n\n  \n{\"execute\":\"é\",\"id\":[1,{\"x\":\"\\n\"}]}\nlast\n"
        + "{\"execute\":\"qmp_capabilities\"}{\"execute\":\"b\",\"arguments\":{\"s\":\"}{[\\\"\"}}[1,2] \"text\"}7\n").utf8)
    static let expected = [
        "{\"execute\":\"a\"}", "{\"execute\":\"é\",\"id\":[1,{\"x\":\"\\n\"}]}", "last",
        "{\"execute\":\"qmp_capabilities\"}", "{\"execute\":\"b\",\"arguments\":{\"s\":\"}{[\\\"\"}}", "[1,2]", "\"text\"", "}", "7",
    ]

    /// Feeds `chunks` in order, collecting every value the framer releases.
    private func frame(_ chunks: [[UInt8]], maximum: Int = 1 << 20) throws -> [String] {
        var framer = ControlMessageFramer(maximumMessageLength: maximum)
        var buffer = ByteBuffer()
        var lines: [String] = []
        for chunk in chunks {
            buffer.writeBytes(chunk)
            while let line = try framer.nextMessage(from: &buffer) { lines.append(String(buffer: line)) }
            buffer.discardReadBytes()
        }
        return lines
    }

    @Test func wholeStreamAtOnce() throws {
        #expect(try frame([Self.stream]) == Self.expected)
    }

    @Test func oneByteAtATime() throws {
        #expect(try frame(Self.stream.map { [$0] }) == Self.expected)
    }

    @Test func splitAtEveryPosition() throws {
        for split in 0...Self.stream.count {
            #expect(try frame([Array(Self.stream[..<split]), Array(Self.stream[split...])]) == Self.expected)
        }
    }

    @Test func splitAtEveryPairOfPositions() throws {
        for first in 0...Self.stream.count {
            for second in first...Self.stream.count {
                let chunks = [
                    Array(Self.stream[..<first]), Array(Self.stream[first..<second]), Array(Self.stream[second...]),
                ]
                #expect(try frame(chunks) == Self.expected)
            }
        }
    }

    @Test func valueOfExactlyTheLimitIsAccepted() throws {
        let line = [UInt8](repeating: UInt8(ascii: "x"), count: 64)
        #expect(try frame([line, [0x0A]], maximum: 64) == [String(repeating: "x", count: 64)])
        let object = Array(("{\"a\":\"" + String(repeating: "y", count: 56) + "\"}").utf8)
        #expect(object.count == 64)
        #expect(try frame([object], maximum: 64) == [String(decoding: object, as: UTF8.self)])
    }

    @Test func overlongValueFailsBeforeItsEnd() {
        let object = Array(("{\"a\":\"" + String(repeating: "y", count: 80)).utf8)
        #expect(throws: ControlFramingError(maximumMessageLength: 64)) { try frame([object], maximum: 64) }
        #expect(throws: ControlFramingError(maximumMessageLength: 64)) { try frame(object.map { [$0] }, maximum: 64) }
        let line = [UInt8](repeating: UInt8(ascii: "x"), count: 65)
        #expect(throws: ControlFramingError(maximumMessageLength: 64)) { try frame([line], maximum: 64) }
        #expect(throws: ControlFramingError(maximumMessageLength: 64)) { try frame(line.map { [$0] }, maximum: 64) }
        #expect(throws: ControlFramingError(maximumMessageLength: 64)) { try frame([line + [0x0A]], maximum: 64) }
    }

    @Test func partialValueIsKeptAcrossCalls() throws {
        var framer = ControlMessageFramer(maximumMessageLength: 100)
        var buffer = ByteBuffer(string: "  {\"a\":")
        #expect(try framer.nextMessage(from: &buffer) == nil)
        #expect(buffer.readableBytes == 5)
        buffer.writeString("[1]}{\"b\"")
        #expect(try framer.nextMessage(from: &buffer).map { String(buffer: $0) } == "{\"a\":[1]}")
        #expect(try framer.nextMessage(from: &buffer) == nil)
        buffer.writeString(":2}")
        #expect(try framer.nextMessage(from: &buffer).map { String(buffer: $0) } == "{\"b\":2}")
        #expect(try framer.nextMessage(from: &buffer) == nil)
        #expect(buffer.readableBytes == 0)
    }

    @Test func anUnclosableNestingIsGarbageToTheEndOfItsLine() throws {
        let deep = String(repeating: "[", count: 5000)
        #expect(try frame([Array((deep + "\n{\"execute\":\"a\"}").utf8)]) == [deep, "{\"execute\":\"a\"}"])
        let shallow = String(repeating: "[", count: 10) + String(repeating: "]", count: 10)
        #expect(try frame([Array((shallow + "{}").utf8)]) == [shallow, "{}"])
    }

    @Test func whitespaceAloneNeverGrowsTheBuffer() throws {
        var framer = ControlMessageFramer(maximumMessageLength: 16)
        var buffer = ByteBuffer()
        for _ in 0..<1000 {
            buffer.writeString("   \n\t\r\n")
            #expect(try framer.nextMessage(from: &buffer) == nil)
            #expect(buffer.readableBytes == 0)
        }
    }
}

@Suite struct RequestParsingTests {
    private func parse(_ text: String) -> Result<ControlRequest, ControlRequest.Invalid>? {
        Array(text.utf8).withUnsafeBytes { ControlRequest.parse(line: $0) }
    }

    @Test func validRequests() {
        #expect(parse(#"{"execute":"x"}"#) == .success(ControlRequest(command: "x", arguments: [:], id: nil)))
        #expect(
            parse(#"{"id":null,"arguments":{"a":[1]},"execute":"x"}"#)
                == .success(ControlRequest(command: "x", arguments: ["a": [1]], id: .null)))
        #expect(parse("   \t\r") == nil)
        #expect(parse("") == nil)
    }

    @Test(arguments: [
        ("nonsense", JSONValue?.none), ("[1,2]", nil), ("\"execute\"", nil), ("{\"id\":5}", 5),
        ("{\"execute\":1,\"id\":\"a\"}", "a"), ("{\"execute\":\"x\",\"arguments\":[],\"id\":[1]}", [1]),
        ("{\"execute\":\"x\",\"bogus\":1,\"id\":{\"k\":null}}", ["k": nil]),
    ] as [(String, JSONValue?)])
    func invalidRequestsAreGenericErrorsKeepingTheID(_ text: String, _ id: JSONValue?) throws {
        guard case .failure(let invalid)? = parse(text) else {
            Issue.record("\(text) parsed")
            return
        }
        #expect(invalid.error.errorClass == .genericError)
        #expect(invalid.id == id)
    }
}
