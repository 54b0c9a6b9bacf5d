// emud: a libFuzzer harness for the control protocol's JSON parser, request reader and command
// arguments. GPL-2.0-or-later.
//
// The input is one framed request as a client sends it. Checked on every input: nothing traps;
// a value that parses serializes (compact and pretty) to text that parses back to the same value;
// every typed argument accessor either returns or throws a ControlError for every argument; the
// `emud ctl key=value` reader and the memory-size reader accept or refuse without trapping, and a
// size they accept formats back to the same size.

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("control-json: property violated: \(message())") }
}

/// Calls every accessor on every argument; the results do not matter, only that they return or throw.
func exercise(_ arguments: ControlArguments) {
    for key in arguments.values.keys.sorted() + ["absent"] {
        _ = try? arguments.string(key)
        _ = try? arguments.optionalString(key)
        _ = try? arguments.int(key)
        _ = try? arguments.int(key, in: 1...8)
        _ = try? arguments.optionalInt(key, in: Int.min...Int.max)
        _ = try? arguments.bool(key)
        _ = try? arguments.optionalBool(key)
        _ = try? arguments.object(key)
        _ = try? arguments.array(key)
        _ = try? arguments.memorySize(key)
        _ = try? arguments.optionalMemorySize(key, in: 1...(1 << 40))
        if let value = arguments[key] { _ = arguments.invalid(key, expected: "a size like 512M", found: value).json }
    }
}

func checkRoundTrip(_ value: JSONValue) {
    for pretty in [false, true] {
        let text = value.serialized(prettyPrinted: pretty)
        guard let again = try? JSONValue(parsing: text) else {
            fatalError("control-json: serialized value does not parse: \(text)")
        }
        check(again == value, "\(value) serialized as \(text) parses back as \(again)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: count)

    if let value = try? JSONParser.parse(bytes) {
        checkRoundTrip(value)
        if case .object(let members) = value { _ = ControlEvent(members) }
    }

    switch ControlRequest.parse(line: bytes) {
    case .success(let request):
        exercise(ControlArguments(command: request.command, values: request.arguments))
        let line = ControlRequest.serialized(command: request.command, arguments: request.arguments, id: request.id)
        var copy = Array(line.utf8)
        let again = copy.withUnsafeMutableBytes { ControlRequest.parse(line: UnsafeRawBufferPointer($0)) }
        check(again == .success(request), "request \(request) serialized as \(line) reads back as \(String(describing: again))")
        _ = ControlReply.failure(.generic(request.command)).serialized(id: request.id)
    case .failure(let invalid):
        _ = ControlReply.failure(invalid.error).serialized(id: invalid.id)
    case nil:
        break
    }

    // The same bytes as `emud ctl` words and as a memory size.
    let text = String(decoding: bytes, as: UTF8.self)
    let words = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
    if let arguments = try? parseKeyValueArguments(words) {
        exercise(ControlArguments(command: "ctl", values: arguments))
    }
    for word in words.prefix(8) {
        if let size = parseMemorySize(word) {
            check(parseMemorySize(formatMemorySize(size)) == size, "size \(word) = \(size) formats as \(formatMemorySize(size))")
        }
    }
    return 0
}
