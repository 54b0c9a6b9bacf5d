// emud: the JSON control protocol (QMP wire format). GPL-2.0-or-later.

import NIOCore

/// A message longer than the limit arrived: the peer is abusing the framing, so the connection ends.
public struct ControlFramingError: Error, Sendable, Equatable, CustomStringConvertible {
    public var maximumMessageLength: Int

    public var description: String {
        "a JSON value of more than \(maximumMessageLength) bytes arrived; send smaller requests"
    }
}

/// Splits a byte stream into top-level JSON values, as QMP does: values may be separated by newlines, by other
/// whitespace, or by nothing at all (`{"execute":"a"}{"execute":"b"}`, what QEMU's own Python client sends), and a
/// value may arrive split across any number of reads.
///
/// It only finds where each value ends (objects and arrays by their brackets outside strings, strings by their
/// closing quote, anything else at the end of its line); ``ControlRequest/parse(line:)`` judges what is
/// inside, so malformed input still gets a QMP error reply rather than a dropped connection.
///
/// Guarantees: returns a value only once all of it is there, however the bytes were split; never rescans bytes
/// it has already looked at (its state survives between calls); throws ``ControlFramingError`` as soon as more than
/// `maximumMessageLength` bytes of one value are buffered, without waiting for its end.
///
/// A value type owned by one connection; not shared between threads.
struct ControlMessageFramer {
    let maximumMessageLength: Int
    /// Bytes of the buffer's readable part already scanned as part of the current value.
    private var scanned = 0
    /// What kind of value is being scanned, once its first byte has been seen.
    private var kind: Kind? = nil
    private var depth = 0
    private var inString = false
    private var escaped = false

    private enum Kind { case structure, string, bare }

    /// Nesting deeper than this is not a request (QEMU's parser stops at 1,024 too).
    static let maximumNesting = 1024

    init(maximumMessageLength: Int) {
        self.maximumMessageLength = maximumMessageLength
    }

    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
    private static func isBracket(_ b: UInt8) -> Bool {
        b == UInt8(ascii: "{") || b == UInt8(ascii: "}") || b == UInt8(ascii: "[") || b == UInt8(ascii: "]")
    }

    /// Takes the next complete value out of `buffer`, or returns `nil` (keeping what it has scanned) when the value
    /// is not complete yet. Whitespace between values is consumed.
    mutating func nextMessage(from buffer: inout ByteBuffer) throws(ControlFramingError) -> ByteBuffer? {
        if kind == nil {
            // Drop whitespace before a value, so that it never counts against the limit.
            let view = buffer.readableBytesView
            guard let first = view.firstIndex(where: { !Self.isSpace($0) }) else {
                buffer.moveReaderIndex(forwardBy: view.count)
                return nil
            }
            buffer.moveReaderIndex(forwardBy: view.distance(from: view.startIndex, to: first))
        }
        let view = buffer.readableBytesView
        var index = view.index(view.startIndex, offsetBy: min(scanned, view.count))
        var end: Int? = nil
        while index < view.endIndex {
            let b = view[index]
            let offset = view.distance(from: view.startIndex, to: index)
            switch kind {
            case nil:
                if b == UInt8(ascii: "{") || b == UInt8(ascii: "[") {
                    kind = .structure
                    depth = 1
                } else if b == UInt8(ascii: "\"") {
                    kind = .string
                    inString = true
                } else if Self.isBracket(b) {
                    end = offset + 1  // a stray closing bracket is a value of its own, for the parser to refuse
                } else {
                    kind = .bare
                }
            case .structure:
                if inString {
                    if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
                } else if b == UInt8(ascii: "\"") {
                    inString = true
                } else if b == UInt8(ascii: "{") || b == UInt8(ascii: "[") {
                    depth += 1
                    // Deeper than any request: the rest of the line is garbage, answered once (an unclosed
                    // bracket must not swallow every request after it).
                    if depth > Self.maximumNesting { kind = .bare }
                } else if b == UInt8(ascii: "}") || b == UInt8(ascii: "]") {
                    depth -= 1
                    if depth == 0 { end = offset + 1 }
                }
            case .string:
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { end = offset + 1 }
            case .bare:
                // Something that is not an object: it runs to the end of its line, so that a line of garbage
                // gets one error reply, not one per word.
                if b == 0x0A { end = offset }
            }
            if let length = end {
                if length > maximumMessageLength { throw ControlFramingError(maximumMessageLength: maximumMessageLength) }
                let message = buffer.readSlice(length: length) ?? ByteBuffer()
                reset()
                return message
            }
            index = view.index(after: index)
        }
        scanned = view.count
        if scanned > maximumMessageLength { throw ControlFramingError(maximumMessageLength: maximumMessageLength) }
        return nil
    }

    /// What is left when the peer closes: a bare value (`last` with no newline) is complete; anything else is not.
    mutating func finalMessage(from buffer: inout ByteBuffer) -> ByteBuffer? {
        defer { reset() }
        guard kind == .bare, buffer.readableBytes > 0, buffer.readableBytes <= maximumMessageLength else { return nil }
        return buffer.readSlice(length: buffer.readableBytes)
    }

    private mutating func reset() {
        scanned = 0
        kind = nil
        depth = 0
        inString = false
        escaped = false
    }
}

/// The NIO decoder around ``ControlMessageFramer``: emits one `ByteBuffer` per top-level JSON value. An
/// unfinished object when the peer closes is dropped (a request is a whole value).
///
/// Used on one channel's event loop, like every `ByteToMessageDecoder`.
struct ControlMessageDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    private var framer: ControlMessageFramer

    init(maximumMessageLength: Int) {
        self.framer = ControlMessageFramer(maximumMessageLength: maximumMessageLength)
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let message = try framer.nextMessage(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(message))
        return .continue
    }

    mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if let last = framer.finalMessage(from: &buffer) { context.fireChannelRead(Self.wrapInboundOut(last)) }
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        return .needMoreData
    }
}
