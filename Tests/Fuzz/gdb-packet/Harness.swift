// emud: a libFuzzer harness for the GDB remote protocol's packet decoder. GPL-2.0-or-later.
//
// The input is a byte stream from a gdb client. Properties checked on every input:
// - the decoder never traps and reports at most one token per byte;
// - the tokens do not depend on how the stream was split across reads (all at once, one byte at a
//   time, and at a split point chosen from the input);
// - no packet is longer than the decoder's limit;
// - every packet it reports, framed again by PacketEncoder, decodes to exactly that packet.

/// Stops the fuzzer with a message: libFuzzer records the input that got here.
func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("gdb-packet: property violated: \(message())") }
}

/// Every token a decoder with `limit` reports for `stream`, fed in `chunks`.
func decode(_ stream: [UInt8], limit: Int, chunkSizes: [Int]) -> [DecoderEvent] {
    var decoder = PacketDecoder(maximumPayloadLength: limit)
    var events: [DecoderEvent] = []
    var start = 0
    var sizes = chunkSizes.makeIterator()
    while start < stream.count {
        let size = max(1, sizes.next() ?? stream.count)
        let end = min(stream.count, start + size)
        decoder.feed(stream[start..<end])
        while let event = decoder.next() { events.append(event) }
        start = end
    }
    return events
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let stream = Array(UnsafeBufferPointer(start: data, count: count))
    // Split point for the two-read case, from the input so that it varies with it.
    let split = count == 0 ? 0 : (Int(stream[count - 1]) &* 31 &+ count) % count
    for limit in [GDBSession.defaultPacketSize, 16] {
        let whole = decode(stream, limit: limit, chunkSizes: [])
        check(whole.count <= stream.count, "\(whole.count) tokens from \(stream.count) bytes")
        let bytewise = decode(stream, limit: limit, chunkSizes: Array(repeating: 1, count: stream.count))
        check(bytewise == whole, "one byte at a time gives \(bytewise), all at once \(whole)")
        let twoReads = decode(stream, limit: limit, chunkSizes: [split])
        check(twoReads == whole, "split at \(split) gives \(twoReads), all at once \(whole)")
        for case .packet(let payload) in whole {
            check(payload.count <= limit, "a packet of \(payload.count) bytes passed the limit \(limit)")
            let again = decode(PacketEncoder.encode(payload), limit: limit, chunkSizes: [])
            check(again == [.packet(payload)], "re-encoded \(payload) decodes as \(again)")
        }
    }
    return 0
}
