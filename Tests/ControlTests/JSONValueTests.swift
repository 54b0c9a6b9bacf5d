// emud: tests for the JSON control protocol. GPL-2.0-or-later.

import Testing

@testable import Control

@Suite struct JSONValueTests {
    @Test func parsesEveryKind() throws {
        let value = try JSONValue(parsing: #" {"a": [1, -2, 3.5, 1e3, true, false, null, "x"], "b": {}} "#)
        #expect(value == ["a": [1, -2, 3.5, 1000.0, true, false, nil, "x"], "b": [:]])
        #expect(try JSONValue(parsing: "0") == .int(0))
        #expect(try JSONValue(parsing: "-0.0") == .double(-0.0))
        #expect(try JSONValue(parsing: "9223372036854775807") == .int(Int.max))
        #expect(try JSONValue(parsing: "9223372036854775808") == .double(9223372036854775808))
    }

    @Test func parsesStringEscapesAndUnicode() throws {
        #expect(try JSONValue(parsing: #""a\"b\\c\/d\b\f\n\r\t""#) == .string("a\"b\\c/d\u{08}\u{0C}\n\r\t"))
        #expect(try JSONValue(parsing: #""\u00e9\u20AC\ud83d\ude00""#) == .string("é€😀"))
        #expect(try JSONValue(parsing: "\"é€😀\"") == .string("é€😀"))
    }

    @Test(arguments: [
        "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "'x'", "tru", "nul", "True",
        "01", "1.", ".5", "-", "1e", "+1", "0x10", "1e999", "NaN", "Infinity", "\"abc", "\"\\x\"",
        "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"a\nb\"", "{\"a\":1,\"a\":2}",
        "[1] [2]", "{} x", "[\"\\",
    ])
    func rejectsMalformedText(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: text) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: [0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: [0x22, 0xFF, 0x22]) }
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: [0x22, 0xED, 0xA0, 0x80, 0x22]) }  // encoded surrogate
    }

    @Test func boundsNesting() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: deep) }
        let fine = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: Never.self) { try JSONValue(parsing: fine) }
    }

    @Test func errorSaysWhere() {
        #expect(throws: JSONParseError(offset: 7, reason: "expected ',' or '}' in object")) {
            try JSONValue(parsing: #"{"a":1 "b":2}"#)
        }
    }

    @Test(arguments: [
        JSONValue.null, true, 0, -17, .int(Int.max), .int(Int.min), 0.5, -1.25e-7, 1e300, "", "plain", "quote \" back \\ slash",
        "control \u{01}\u{1F}\u{7F} chars\n\t", "unicode é€😀", [], [1, [2, [3]]], [:],
        ["nested": ["array": [1, "two", nil, false]], "empty": [:]],
    ] as [JSONValue])
    func roundTrips(_ value: JSONValue) throws {
        #expect(try JSONValue(parsing: value.serialized()) == value)
        #expect(try JSONValue(parsing: value.serialized(prettyPrinted: true)) == value)
        #expect(!value.serialized().contains("\n"))
    }

    @Test func serializesCompactlyWithSortedKeys() {
        let value: JSONValue = ["b": 1, "a": [true, nil], "c": "x\u{01}"]
        #expect(value.serialized() == #"{"a":[true,null],"b":1,"c":"x\u0001"}"#)
        #expect(JSONValue.double(.nan).serialized() == "null")
        #expect(JSONValue.double(2).serialized() == "2.0")
    }

    @Test func accessors() {
        let value: JSONValue = ["n": 3, "d": 3.0, "f": 3.5, "s": "x"]
        #expect(value["n"]?.intValue == 3)
        #expect(value["d"]?.intValue == 3)
        #expect(value["f"]?.intValue == nil)
        #expect(value["s"]?.stringValue == "x")
        #expect(value["missing"] == nil)
        #expect(JSONValue.string("x")["n"] == nil)
        #expect(JSONValue.double(1e300).intValue == nil)
    }
}
