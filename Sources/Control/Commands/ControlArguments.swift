// emud: the JSON control protocol (QMP wire format). GPL-2.0-or-later.

/// The `arguments` of one command, with typed accessors whose errors name the command and the
/// argument and say what was expected, e.g.
/// "machine-create: argument 'cpus' must be an integer between 1 and 8, not 12".
///
/// Optional accessors treat JSON `null` like an absent argument. Unknown argument names never
/// reach a handler: ``ControlCommandRegistry`` rejects them from the command's declared parameters.
///
/// A plain value, usable from any task.
public struct ControlArguments: Sendable, Equatable {
    /// The command these arguments were given to, for error messages.
    public let command: String
    public let values: [String: JSONValue]

    public init(command: String, values: [String: JSONValue]) {
        self.command = command
        self.values = values
    }

    public subscript(key: String) -> JSONValue? { values[key] }

    // MARK: Errors

    /// "machine-create: missing argument 'name' (a string)".
    public func missing(_ key: String, expected: String) -> ControlError {
        .generic("\(command): missing argument '\(key)' (\(expected))")
    }

    /// "machine-create: argument 'name' must be a string, not an integer".
    public func invalid(_ key: String, expected: String, found value: JSONValue) -> ControlError {
        let found: String
        switch value {
        case .int, .double, .bool: found = value.serialized()
        case .string(let text) where expected.hasPrefix("a size"): found = "'\(text)'"
        default: found = value.kindDescription
        }
        return .generic("\(command): argument '\(key)' must be \(expected), not \(found)")
    }

    private func present(_ key: String) -> JSONValue? {
        guard let value = values[key], value != .null else { return nil }
        return value
    }

    private func required<T>(
        _ key: String, expected: String, _ read: (String) throws(ControlError) -> T?
    ) throws(ControlError) -> T {
        guard let value = try read(key) else { throw missing(key, expected: expected) }
        return value
    }

    // MARK: Strings

    public func optionalString(_ key: String) throws(ControlError) -> String? {
        guard let value = present(key) else { return nil }
        guard case .string(let text) = value else { throw invalid(key, expected: "a string", found: value) }
        return text
    }

    public func string(_ key: String) throws(ControlError) -> String {
        try required(key, expected: "a string", optionalString)
    }

    // MARK: Integers

    public func optionalInt(_ key: String, in range: ClosedRange<Int>? = nil) throws(ControlError) -> Int? {
        guard let value = present(key) else { return nil }
        let expected = range.map { "an integer between \($0.lowerBound) and \($0.upperBound)" } ?? "an integer"
        guard let number = value.intValue else { throw invalid(key, expected: expected, found: value) }
        if let range, !range.contains(number) { throw invalid(key, expected: expected, found: value) }
        return number
    }

    public func int(_ key: String, in range: ClosedRange<Int>? = nil) throws(ControlError) -> Int {
        let expected = range.map { "an integer between \($0.lowerBound) and \($0.upperBound)" } ?? "an integer"
        return try required(key, expected: expected) { (key) throws(ControlError) in try optionalInt(key, in: range) }
    }

    // MARK: Booleans

    public func optionalBool(_ key: String) throws(ControlError) -> Bool? {
        guard let value = present(key) else { return nil }
        guard case .bool(let flag) = value else { throw invalid(key, expected: "true or false", found: value) }
        return flag
    }

    public func bool(_ key: String) throws(ControlError) -> Bool {
        try required(key, expected: "true or false", optionalBool)
    }

    // MARK: Objects and arrays

    public func optionalObject(_ key: String) throws(ControlError) -> [String: JSONValue]? {
        guard let value = present(key) else { return nil }
        guard case .object(let members) = value else { throw invalid(key, expected: "an object", found: value) }
        return members
    }

    public func object(_ key: String) throws(ControlError) -> [String: JSONValue] {
        try required(key, expected: "an object", optionalObject)
    }

    public func optionalArray(_ key: String) throws(ControlError) -> [JSONValue]? {
        guard let value = present(key) else { return nil }
        guard case .array(let elements) = value else { throw invalid(key, expected: "an array", found: value) }
        return elements
    }

    public func array(_ key: String) throws(ControlError) -> [JSONValue] {
        try required(key, expected: "an array", optionalArray)
    }

    // MARK: Memory sizes

    /// A size in bytes given as an integer or as a string accepted by ``parseMemorySize(_:)``.
    public func optionalMemorySize(_ key: String, in range: ClosedRange<Int>? = nil) throws(ControlError) -> Int? {
        guard let value = present(key) else { return nil }
        var expected = "a size in bytes or a string like '512M' or '2G'"
        if let range {
            expected += " between \(formatMemorySize(range.lowerBound)) and \(formatMemorySize(range.upperBound))"
        }
        let size: Int?
        switch value {
        case .string(let text): size = parseMemorySize(text)
        default: size = value.intValue.flatMap { $0 >= 0 ? $0 : nil }
        }
        guard let size, range?.contains(size) ?? true else { throw invalid(key, expected: expected, found: value) }
        return size
    }

    public func memorySize(_ key: String, in range: ClosedRange<Int>? = nil) throws(ControlError) -> Int {
        try required(key, expected: "a size in bytes or a string like '512M' or '2G'") { (key) throws(ControlError) in
            try optionalMemorySize(key, in: range)
        }
    }
}

/// Parses a memory size: a decimal number of bytes, optionally followed by a binary unit
/// `K`, `M`, `G` or `T` (case-insensitive, optionally followed by `B` or `iB`, so "512M", "512MiB"
/// and "512mb" are all 512 × 2^20), or by `B` alone. Returns `nil` for anything else, negative
/// numbers, fractions and sizes that do not fit in `Int`.
public func parseMemorySize(_ text: String) -> Int? {
    let digits = text.prefix(while: { $0.isASCII && $0.isNumber })
    guard !digits.isEmpty, let number = Int(digits) else { return nil }
    var unit = text.dropFirst(digits.count).lowercased()
    if unit.hasSuffix("ib") && unit.count == 3 {
        unit.removeLast(2)
    } else if unit.hasSuffix("b") && unit.count == 2 {
        unit.removeLast()
    }
    let shift: Int
    switch unit {
    case "", "b": shift = 0
    case "k": shift = 10
    case "m": shift = 20
    case "g": shift = 30
    case "t": shift = 40
    default: return nil
    }
    let (result, overflow) = number.multipliedReportingOverflow(by: 1 << shift)
    return overflow ? nil : result
}

/// The shortest exact form ``parseMemorySize(_:)`` reads back: "512M", "1G", "1000".
public func formatMemorySize(_ bytes: Int) -> String {
    for (shift, unit) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] where bytes != 0 && bytes % (1 << shift) == 0 {
        return "\(bytes >> shift)\(unit)"
    }
    return String(bytes)
}
