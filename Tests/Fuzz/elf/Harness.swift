// emud: a libFuzzer harness for the ELF loader, which reads the guest image a client names.
// GPL-2.0-or-later.
//
// The input is an image file's contents. Checked on every input: nothing traps; an accepted image
// has at least one segment, and no segment holds more file bytes than its memory size; and what the
// loader keeps is not much larger than the file (at most twice its bytes in segments, and one symbol
// per 12 bytes, twice what distinct 24-byte symbol entries allow): a loader that copies the same
// bytes once per header lets a small file (the client names the image) take the daemon's memory.

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("elf: property violated: \(message())") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: count))
    guard let image = try? ELFLoader.parse(bytes, path: "fuzz.elf") else { return 0 }
    check(!image.segments.isEmpty, "an image without segments was accepted")
    var segmentBytes = 0
    for segment in image.segments {
        check(UInt64(segment.bytes.count) <= segment.memorySize,
              "segment at \(segment.address) has \(segment.bytes.count) file bytes but memory size \(segment.memorySize)")
        segmentBytes += segment.bytes.count
    }
    check(segmentBytes <= 2 * count, "a \(count)-byte file became \(image.segments.count) segments of \(segmentBytes) bytes")
    check(image.symbols.count <= count / 12, "a \(count)-byte file became \(image.symbols.count) symbols")
    _ = image.end
    _ = image.symbol(at: image.entry)
    for symbol in image.symbols.prefix(16) { _ = image.symbol(at: symbol.address) }
    return 0
}
