// emud: the JSON control protocol (QMP wire format). GPL-2.0-or-later.

extension JSONValue {
    /// The JSON text of this value: compact (one line, as on the wire) unless `prettyPrinted`.
    ///
    /// Object keys are sorted. Non-ASCII characters are written as UTF-8, control characters
    /// escaped. A non-finite ``double(_:)`` (which the parser never produces) is written as `null`.
    public func serialized(prettyPrinted: Bool = false) -> String {
        var writer = JSONWriter(indentStep: prettyPrinted ? 2 : nil)
        writer.write(self)
        return writer.output
    }
}

/// Writes JSON text; also writes objects with a fixed member order, which the QMP envelopes use
/// so that `return`/`error`/`event` come first where people read the wire.
struct JSONWriter {
    private(set) var output = ""
    private let indentStep: Int?
    private var depth = 0

    init(indentStep: Int? = nil) { self.indentStep = indentStep }

    mutating func write(_ value: JSONValue) {
        switch value {
        case .null: output += "null"
        case .bool(let flag): output += flag ? "true" : "false"
        case .int(let number): output += String(number)
        case .double(let number): output += number.isFinite ? "\(number)" : "null"
        case .string(let text): writeString(text)
        case .array(let elements):
            if elements.isEmpty {
                output += "[]"
                return
            }
            output += "["
            depth += 1
            for (position, element) in elements.enumerated() {
                if position > 0 { output += "," }
                newline()
                write(element)
            }
            depth -= 1
            newline()
            output += "]"
        case .object(let members):
            writeObject(members.sorted { $0.key < $1.key })
        }
    }

    /// Writes an object whose members appear in the given order.
    mutating func writeObject(_ members: [(key: String, value: JSONValue)]) {
        if members.isEmpty {
            output += "{}"
            return
        }
        output += "{"
        depth += 1
        for (position, member) in members.enumerated() {
            if position > 0 { output += "," }
            newline()
            writeString(member.key)
            output += indentStep == nil ? ":" : ": "
            write(member.value)
        }
        depth -= 1
        newline()
        output += "}"
    }

    private mutating func newline() {
        guard let indentStep else { return }
        output += "\n" + String(repeating: " ", count: depth * indentStep)
    }

    private mutating func writeString(_ text: String) {
        output += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case "\u{08}": output += "\\b"
            case "\u{0C}": output += "\\f"
            case "\u{00}"..."\u{1F}", "\u{7F}":
                let hex = String(scalar.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }
}
