// emud: the GDB remote protocol. GPL-2.0-or-later.

/// `qXfer:OBJECT:read:ANNEX:OFFSET,LENGTH`: read part of a named document.
///
/// The answer is `m` plus data when more follows, or `l` plus the last data; the data is binary and
/// escaped by ``PacketEncoder``.
public struct XferRead: Equatable, Sendable {
    /// Which document: `features`, `memory-map`, `threads`, `exec-file`...
    public var object: String
    /// Which instance: `target.xml` for features, the process id for exec-file, often empty.
    public var annex: String
    public var offset: Int
    public var length: Int

    public init(object: String, annex: String, offset: Int, length: Int) {
        self.object = object
        self.annex = annex
        self.offset = offset
        self.length = length
    }

    /// nil for operations other than `read` (this stub writes nothing through qXfer).
    /// `body` is what follows `qXfer:`.
    init?(body: ArraySlice<UInt8>) throws(MalformedPacket) {
        guard let (object, afterObject) = body.splitOnce(at: UInt8(ascii: ":")),
            let (operation, afterOperation) = afterObject.splitOnce(at: UInt8(ascii: ":"))
        else {
            throw MalformedPacket("qXfer", "expected 'qXfer:object:read:annex:offset,length'")
        }
        guard operation.elementsEqual("read".utf8) else { return nil }
        guard let colon = afterOperation.lastIndex(of: UInt8(ascii: ":")),
            let (offset, length) = afterOperation[(colon + 1)...].splitOnce(at: UInt8(ascii: ","))
        else {
            throw MalformedPacket("qXfer", "expected 'annex:offset,length' after 'read:'")
        }
        self.object = String(decoding: object, as: UTF8.self)
        self.annex = String(decoding: afterOperation[..<colon], as: UTF8.self)
        self.offset = try offset.hexInt("qXfer", "offset")
        self.length = try length.hexInt("qXfer", "length")
    }
}
