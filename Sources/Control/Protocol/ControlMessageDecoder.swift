// emud: the JSON control protocol (QMP wire format). GPL-2.0-or-later.

import NIOCore

/// A line longer than the limit arrived: the peer is abusing the framing, so the connection ends.
public struct ControlFramingError: Error, Sendable, Equatable, CustomStringConvertible {
    public var maximumLineLength: Int

    public var description: String {
        "a line of more than \(maximumLineLength) bytes arrived without a newline; "
            + "send one JSON object per line"
    }
}

/// Splits a byte stream into lines ending in `\n` (a `\r` before it is dropped too).
///
/// Guarantees: returns a line only once its newline is there, however the bytes were split
/// across calls; never rescans bytes it has already looked at (so a long line arriving a byte at a
/// time costs linear time); throws ``ControlFramingError`` as soon as more than
/// `maximumLineLength` bytes are buffered without a newline, without waiting for one.
///
/// A value type owned by one connection; not shared between threads.
struct ControlLineFramer {
    let maximumLineLength: Int
    /// How many readable bytes of the buffer are already known to hold no newline.
    private var scanned = 0

    init(maximumLineLength: Int) {
        self.maximumLineLength = maximumLineLength
    }

    /// Takes the next complete line (without its terminator) out of `buffer`, or returns `nil`
    /// and leaves `buffer` untouched when no complete line is there yet.
    mutating func nextLine(from buffer: inout ByteBuffer) throws(ControlFramingError) -> ByteBuffer? {
        let view = buffer.readableBytesView
        let searchStart = view.index(view.startIndex, offsetBy: min(scanned, view.count))
        guard let newline = view[searchStart...].firstIndex(of: UInt8(ascii: "\n")) else {
            scanned = view.count
            if scanned > maximumLineLength { throw ControlFramingError(maximumLineLength: maximumLineLength) }
            return nil
        }
        var length = view.distance(from: view.startIndex, to: newline)
        scanned = 0
        if length > maximumLineLength { throw ControlFramingError(maximumLineLength: maximumLineLength) }
        if length > 0, view[view.index(before: newline)] == UInt8(ascii: "\r") { length -= 1 }
        // Both reads stay within the readable bytes just inspected.
        let line = buffer.readSlice(length: length) ?? ByteBuffer()
        buffer.moveReaderIndex(to: view.index(after: newline))
        return line
    }
}

/// The NIO decoder around ``ControlLineFramer``: emits one `ByteBuffer` per line. Bytes after the
/// last newline when the peer closes are dropped (a request is a whole line).
///
/// Used on one channel's event loop, like every `ByteToMessageDecoder`.
struct ControlLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    private var framer: ControlLineFramer

    init(maximumLineLength: Int) {
        self.framer = ControlLineFramer(maximumLineLength: maximumLineLength)
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let line = try framer.nextLine(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(line))
        return .continue
    }

    mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        return .needMoreData
    }
}
