// emud: tests for the JSON control protocol. GPL-2.0-or-later.

import Testing

@testable import Control

@Suite struct ArgumentTests {
    let arguments = ControlArguments(
        command: "machine-create",
        values: ["name": "vm1", "cpus": 12, "memory": "1G", "flag": true, "none": nil, "text": "abc", "obj": ["a": 1]])

    @Test func typedAccessors() throws {
        #expect(try arguments.string("name") == "vm1")
        #expect(try arguments.optionalString("absent") == nil)
        #expect(try arguments.optionalString("none") == nil)
        #expect(try arguments.int("cpus") == 12)
        #expect(try arguments.bool("flag") == true)
        #expect(try arguments.object("obj") == ["a": 1])
        #expect(try arguments.memorySize("memory") == 1 << 30)
    }

    @Test func errorsNameCommandArgumentAndExpectation() {
        #expect(throws: ControlError.generic("machine-create: argument 'cpus' must be an integer between 1 and 8, not 12")) {
            try arguments.int("cpus", in: 1...8)
        }
        #expect(throws: ControlError.generic("machine-create: argument 'name' must be an integer, not a string")) {
            try arguments.int("name")
        }
        #expect(throws: ControlError.generic("machine-create: missing argument 'image' (a string)")) {
            try arguments.string("image")
        }
        #expect(throws: ControlError.generic("machine-create: missing argument 'none' (true or false)")) {
            try arguments.bool("none")
        }
        #expect(throws: ControlError.generic("machine-create: argument 'flag' must be a string, not true")) {
            try arguments.string("flag")
        }
        #expect(throws: ControlError.generic("machine-create: argument 'name' must be an object, not a string")) {
            try arguments.object("name")
        }
        #expect(
            throws: ControlError.generic(
                "machine-create: argument 'text' must be a size in bytes or a string like '512M' or '2G', not 'abc'")
        ) {
            try arguments.memorySize("text")
        }
        #expect(
            throws: ControlError.generic(
                "machine-create: argument 'memory' must be a size in bytes or a string like '512M' or '2G' "
                    + "between 1M and 512M, not '1G'")
        ) {
            try arguments.memorySize("memory", in: 1 << 20...512 << 20)
        }
    }

    @Test(arguments: [
        ("0", 0), ("4096", 4096), ("512B", 512), ("1K", 1024), ("1k", 1024), ("128M", 128 << 20), ("128MiB", 128 << 20),
        ("128mb", 128 << 20), ("2G", 2 << 30), ("1T", 1 << 40),
    ])
    func parsesMemorySizes(_ text: String, _ bytes: Int) {
        #expect(parseMemorySize(text) == bytes)
    }

    @Test(arguments: ["", "M", "-1", "1.5G", "1 G", "1X", "1GG", "1iB", " 1", "99999999999999999999", "9000000T", "１"])
    func rejectsBadMemorySizes(_ text: String) {
        #expect(parseMemorySize(text) == nil)
    }

    @Test func memorySizeFromIntegerArgument() throws {
        let bytes = ControlArguments(command: "c", values: ["m": 65536, "neg": -1, "frac": 1.5])
        #expect(try bytes.memorySize("m") == 65536)
        #expect(throws: ControlError.self) { try bytes.memorySize("neg") }
        #expect(throws: ControlError.self) { try bytes.memorySize("frac") }
    }

    @Test func formatsMemorySizes() {
        #expect(formatMemorySize(512 << 20) == "512M")
        #expect(formatMemorySize(1 << 30) == "1G")
        #expect(formatMemorySize(1000) == "1000")
        #expect(formatMemorySize(0) == "0")
    }

    @Test func keyValueWordsBecomeTypedArguments() throws {
        let parsed = try parseKeyValueArguments([
            "name=vm1", "cpus=2", "start=true", "memory=1G", "ratio=0.5", "tags=[\"a\",1]", "quoted=\"42\"",
            "empty=", "expr=a=b", "nothing=null", "obj={\"k\":{}}",
        ])
        #expect(
            parsed == [
                "name": "vm1", "cpus": 2, "start": true, "memory": "1G", "ratio": 0.5, "tags": ["a", 1], "quoted": "42",
                "empty": "", "expr": "a=b", "nothing": nil, "obj": ["k": [:]],
            ])
    }

    @Test func keyValueErrors() {
        #expect(throws: KeyValueArgumentError.self) { try parseKeyValueArguments(["cpus"]) }
        #expect(throws: KeyValueArgumentError.self) { try parseKeyValueArguments(["=2"]) }
        #expect(throws: KeyValueArgumentError.self) { try parseKeyValueArguments(["a=1", "a=2"]) }
    }

    @Test func versionParsing() {
        #expect(ControlVersion("0.1.0") == ControlVersion(major: 0, minor: 1, micro: 0))
        #expect(ControlVersion("2.10.3-dev")?.package == "emud 2.10.3-dev")
        #expect(ControlVersion("2.10") == nil)
        #expect(ControlVersion("a.b.c") == nil)
    }
}
