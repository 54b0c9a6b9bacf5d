// emud: a libFuzzer harness for the control socket's framing: the splitter that cuts a QMP byte
// stream into JSON values. GPL-2.0-or-later.
//
// The input is the byte stream a client sends. Checked on every input, for a large and a small
// limit: nothing traps; the values found (and whether the limit ended the connection) do not depend
// on how the stream was split across reads (all at once, one byte at a time, at a point chosen from
// the input); the values are, in order, the stream's bytes with only whitespace left out between
// them; none is longer than the limit; and values that parse as objects, arrays or strings, written
// back to back with no separator, split into the same values again.

import NIOCore

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("control-framing: property violated: \(message())") }
}

struct Framing: Equatable {
    var messages: [[UInt8]] = []
    var exceededLimit = false
}

/// Frames `stream` fed in chunks of `chunkSizes` (the rest at once), then as the peer closes.
func frame(_ stream: [UInt8], limit: Int, chunkSizes: [Int]) -> Framing {
    var framer = ControlMessageFramer(maximumMessageLength: limit)
    var buffer = ByteBuffer()
    var result = Framing()
    var start = 0
    var sizes = chunkSizes.makeIterator()
    do {
        while start < stream.count {
            let end = min(stream.count, start + max(1, sizes.next() ?? stream.count))
            buffer.writeBytes(stream[start..<end])
            start = end
            while let message = try framer.nextMessage(from: &buffer) {
                result.messages.append(Array(message.readableBytesView))
            }
            buffer.discardReadBytes()
        }
        if let last = framer.finalMessage(from: &buffer) { result.messages.append(Array(last.readableBytesView)) }
    } catch {
        result.exceededLimit = true
    }
    return result
}

func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let stream = Array(UnsafeBufferPointer(start: data, count: count))
    let split = count == 0 ? 0 : (Int(stream[count - 1]) &* 31 &+ count) % count
    for limit in [1 << 20, 64] {
        let whole = frame(stream, limit: limit, chunkSizes: [])
        let bytewise = frame(stream, limit: limit, chunkSizes: Array(repeating: 1, count: stream.count))
        check(bytewise == whole, "one byte at a time gives \(bytewise), all at once \(whole)")
        let twoReads = frame(stream, limit: limit, chunkSizes: [split])
        check(twoReads == whole, "split at \(split) gives \(twoReads), all at once \(whole)")

        // The values are the stream's bytes in order, with whitespace only between them.
        var position = 0
        for message in whole.messages {
            check(!message.isEmpty && message.count <= limit, "a value of \(message.count) bytes with limit \(limit)")
            check(!isSpace(message[0]), "a value starting with whitespace: \(message)")
            while position < stream.count && isSpace(stream[position]) { position += 1 }
            check(stream[position...].starts(with: message), "value \(message) is not the next bytes at \(position)")
            position += message.count
        }

        // Self-delimiting values written back to back split into the same values.
        var values: [JSONValue] = []
        for message in whole.messages {
            _ = message.withUnsafeBytes { ControlRequest.parse(line: $0) }
            guard let value = try? JSONValue(parsing: message) else { continue }
            switch value {
            case .object, .array, .string: values.append(value)
            default: continue
            }
        }
        let joined = values.flatMap { Array($0.serialized().utf8) }
        let again = frame(joined, limit: 1 << 24, chunkSizes: Array(repeating: 7, count: joined.count))
        check(!again.exceededLimit, "joined values exceeded the limit")
        let reparsed = again.messages.map { try? JSONValue(parsing: $0) }
        check(reparsed == values.map { $0 }, "values \(values) written back to back split as \(again.messages)")
    }
    return 0
}
