// emud: the JSON control protocol (QMP wire format). GPL-2.0-or-later.

/// A `key=value` word on the command line that cannot become an argument.
public struct KeyValueArgumentError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Turns `emud ctl COMMAND key=value ...` words into command arguments.
///
/// A value that parses as JSON keeps its JSON type (`cpus=2` is an integer, `start=true` a boolean,
/// `tags=["a","b"]` an array, `name="42"` the string "42"); anything else is a string (`name=vm1`,
/// `memory=1G`). An empty value is the empty string. Splits at the first `=`, so values may contain `=`.
/// - Throws: ``KeyValueArgumentError`` for a word without `=`, an empty key or a key given twice.
public func parseKeyValueArguments(_ words: [String]) throws(KeyValueArgumentError) -> [String: JSONValue] {
    var arguments: [String: JSONValue] = [:]
    for word in words {
        guard let equals = word.firstIndex(of: "=") else {
            throw KeyValueArgumentError(message: "'\(word)' is not key=value; write arguments like cpus=2 or name=vm1")
        }
        let key = String(word[..<equals])
        let text = String(word[word.index(after: equals)...])
        guard !key.isEmpty else {
            throw KeyValueArgumentError(message: "'\(word)' has no key before '='; write arguments like cpus=2")
        }
        guard arguments[key] == nil else {
            throw KeyValueArgumentError(message: "argument '\(key)' is given twice; give it once")
        }
        arguments[key] = (try? JSONValue(parsing: text)) ?? .string(text)
    }
    return arguments
}
