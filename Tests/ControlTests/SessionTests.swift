// emud: tests for the JSON control protocol. GPL-2.0-or-later.
//
// The QMP session on an EmbeddedChannel: deterministic, no sockets, no threads. Only built-in
// commands are used here; commands that run on tasks are covered in ServerTests.

#if canImport(NIOEmbedded)
import NIOCore
import NIOEmbedded
import Testing

@testable import Control

@Suite struct SessionTests {
    struct Session {
        let channel: EmbeddedChannel
        let events: ControlEventBus

        init(maximumMessageLength: Int = 1 << 20) throws {
            channel = EmbeddedChannel()
            events = ControlEventBus(eventLoop: channel.eventLoop)
            var configuration = ControlServer.Configuration(version: testVersion)
            configuration.maximumMessageLength = maximumMessageLength
            let services = ControlServices(
                commands: makeFakeCommands(), configuration: configuration, events: events, onEvent: { _ in })
            try channel.pipeline.syncOperations.addHandlers(
                ByteToMessageHandler(ControlMessageDecoder(maximumMessageLength: maximumMessageLength)),
                ControlConnectionHandler(services: services, peer: ControlPeer(connectionID: 1, address: "test")))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        }

        func feed(_ text: String) throws { try feed(bytes: Array(text.utf8)) }

        func feed(bytes: [UInt8]) throws {
            _ = try channel.writeInbound(ByteBuffer(bytes: bytes))
        }

        /// Everything written so far, one string per line (newline checked and removed).
        func output() throws -> [String] {
            var lines: [String] = []
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
                let text = String(buffer: buffer)
                #expect(text.hasSuffix("\n") && text.dropLast().firstIndex(of: "\n") == nil)
                lines.append(String(text.dropLast()))
            }
            return lines
        }

        func outputJSON() throws -> [JSONValue] { try output().map { try JSONValue(parsing: $0) } }
    }

    static let greeting: JSONValue = [
        "QMP": [
            "version": ["qemu": ["major": 1, "minor": 2, "micro": 3], "package": "emud 1.2.3"], "capabilities": [],
        ]
    ]

    @Test func greetingComesFirst() throws {
        let session = try Session()
        #expect(try session.outputJSON() == [Self.greeting])
    }

    @Test func commandsBeforeNegotiationAreNotFound() throws {
        let session = try Session()
        _ = try session.output()
        try session.feed("{\"execute\":\"query-version\",\"id\":1}\n{\"execute\":\"echo\",\"id\":2}\n")
        let replies = try session.outputJSON()
        #expect(replies.count == 2)
        for (reply, id) in zip(replies, [1, 2]) {
            #expect(reply["error"]?["class"] == "CommandNotFound")
            #expect(reply["error"]?["desc"]?.stringValue?.contains("qmp_capabilities") == true)
            #expect(reply["id"] == .int(id))
        }
        try session.feed("{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"query-version\",\"id\":3}\n")
        #expect(
            try session.outputJSON() == [
                ["return": [:]], ["return": ["qemu": ["major": 1, "minor": 2, "micro": 3], "package": "emud 1.2.3"], "id": 3],
            ])
        try session.feed("{\"execute\":\"qmp_capabilities\",\"id\":4}\n")
        #expect(try session.outputJSON().first?["error"]?["class"] == "CommandNotFound")
    }

    @Test func capabilitiesThatDoNotExistAreRefused() throws {
        let session = try Session()
        try session.feed("{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"oob\"]}}\n")
        try session.feed("{\"execute\":\"qmp_capabilities\",\"arguments\":{\"other\":1}}\n")
        try session.feed("{\"execute\":\"query-commands\"}\n")
        let replies = try session.outputJSON().dropFirst()
        #expect(replies.map { $0["error"]?["class"] } == ["GenericError", "GenericError", "CommandNotFound"])
    }

    @Test func noEventsBeforeNegotiation() throws {
        let session = try Session()
        session.events.publish("EARLY", data: ["n": 1])
        session.channel.embeddedEventLoop.run()
        #expect(try session.outputJSON() == [Self.greeting])
        try session.feed("{\"execute\":\"qmp_capabilities\"}\n")
        session.events.publish(ControlEvent(name: "LATE", data: ["n": 2], timestamp: .init(seconds: 5, microseconds: 6)))
        session.channel.embeddedEventLoop.run()
        #expect(
            try session.output() == [
                #"{"return":{}}"#, #"{"event":"LATE","data":{"n":2},"timestamp":{"microseconds":6,"seconds":5}}"#,
            ])
    }

    @Test(arguments: [
        "1", "-7", "0.25", "\"text\"", "\"\"", "null", "true", "false", "[]", "[1,\"a\",null]", "{}",
        "{\"nested\":{\"deep\":[{\"x\":1e-3}]}}", "\"\\u00e9😀\"", "9223372036854775807",
    ])
    func idIsEchoedVerbatim(_ idText: String) throws {
        let session = try Session()
        let id = try JSONValue(parsing: idText)
        try session.feed("{\"execute\":\"qmp_capabilities\",\"id\":\(idText)}\n")
        try session.feed("{\"id\":\(idText),\"execute\":\"query-version\"}\n")
        try session.feed("{\"execute\":\"no-such-command\",\"id\":\(idText)}\n")
        let replies = try session.outputJSON().dropFirst()
        #expect(replies.count == 3)
        for reply in replies { #expect(reply["id"] == id) }
    }

    @Test func noIDMeansNoIDInReply() throws {
        let session = try Session()
        try session.feed("{\"execute\":\"qmp_capabilities\"}\n")
        #expect(try session.output() .last == #"{"return":{}}"#)
    }

    @Test(arguments: [
        ("this is not json", "GenericError"), ("{\"execute\":}", "GenericError"), ("[1,2,3]", "GenericError"),
        ("\"just a string\"", "GenericError"), ("42", "GenericError"), ("{}", "GenericError"),
        ("{\"execute\":42}", "GenericError"), ("{\"execute\":\"query-version\",\"arguments\":[1]}", "GenericError"),
        ("{\"execute\":\"query-version\",\"extra\":1}", "GenericError"),
        ("{\"execute\":\"query-version\",\"arguments\":{\"x\":1}}", "GenericError"),
        ("{\"execute\":\"no-such-command\"}", "CommandNotFound"), ("\u{FEFF}{}", "GenericError"),
    ])
    func badInputIsAnsweredAndTheSessionGoesOn(_ line: String, _ errorClass: String) throws {
        let session = try Session()
        try session.feed("{\"execute\":\"qmp_capabilities\"}\n")
        _ = try session.output()
        try session.feed(line + "\n")
        try session.feed("{\"execute\":\"query-version\",\"id\":\"after\"}\n")
        let replies = try session.outputJSON()
        #expect(replies.count == 2)
        #expect(replies.first?["error"]?["class"] == .string(errorClass))
        #expect(replies.first?["error"]?["desc"]?.stringValue?.isEmpty == false)
        #expect(replies.last?["id"] == "after")
        #expect(replies.last?["return"] != nil)
        #expect(session.channel.isActive)
    }

    @Test func invalidUTF8IsAnsweredAndTheSessionGoesOn() throws {
        let session = try Session()
        _ = try session.output()
        try session.feed(bytes: Array("{\"execute\":\"".utf8) + [0xFF, 0xFE] + Array("\"}\n".utf8))
        try session.feed(bytes: [0x00, 0x01, 0x0A])
        let replies = try session.outputJSON()
        #expect(replies.map { $0["error"]?["class"] } == ["GenericError", "GenericError"])
        #expect(session.channel.isActive)
    }

    @Test func blankLinesAreIgnored() throws {
        let session = try Session()
        _ = try session.output()
        try session.feed("\n\r\n   \n\t\n")
        #expect(try session.output().isEmpty)
    }

    /// QMP is a stream of JSON values: a value followed by garbage on the same line runs, and the garbage gets
    /// its own error reply (as QEMU does); values need no newline between them.
    @Test func valuesAreAStreamNotLines() throws {
        let session = try Session()
        try session.feed("{\"execute\":\"qmp_capabilities\"}")
        try session.feed("{\"execute\":\"query-version\",\"id\":1} trailing\n{\"execute\":\"query-version\",\"id\":2}{\"exec")
        try session.feed("ute\":\"query-version\",\"id\":3}")
        // The greeting, qmp_capabilities' return, then one reply per value.
        let replies = try session.outputJSON()
        #expect(replies.count == 6, "\(replies)")
        #expect(replies.dropFirst(2).first?["id"] == 1)
        #expect(replies.dropFirst(3).first?["error"]?["class"] == "GenericError")
        #expect(replies.dropFirst(4).first?["id"] == 2)
        #expect(replies.dropFirst(5).first?["id"] == 3)
    }

    @Test func overlongValueClosesTheConnection() throws {
        let session = try Session(maximumMessageLength: 1 << 20)
        try session.feed("{\"execute\":\"qmp_capabilities\"}\n")
        _ = try session.output()
        // Whitespace between values never counts.
        let spaces = [UInt8](repeating: UInt8(ascii: " "), count: 64 << 10)
        for _ in 0..<32 { try session.feed(bytes: spaces) }
        #expect(session.channel.isActive)
        let prefix = Array("{\"execute\":\"".utf8)
        try session.feed(bytes: prefix)
        try session.feed(bytes: [UInt8](repeating: UInt8(ascii: "x"), count: (1 << 20) - prefix.count))
        #expect(session.channel.isActive)  // exactly 1 MiB of one value is still allowed
        try session.feed(bytes: [UInt8(ascii: "x")])
        let replies = try session.outputJSON()
        #expect(replies.count == 1)
        #expect(replies.first?["error"]?["class"] == "GenericError")
        #expect(!session.channel.isActive)
    }

    /// A whole session's input, fed whole, byte by byte and split at every position, gives the
    /// same output.
    @Test func sessionIsIndependentOfHowInputIsSplit() throws {
        let input = Array(
            ("{\"execute\":\"query-version\",\"id\":0}\n{\"execute\":\"qmp_capabilities\",\"id\":\"neg\"}\r\n"
                + "garbage\n\n{\"execute\":\"query-commands\",\"id\":[1]}\n{\"execute\":\"nope\",\"id\":{}}\n"
                + "{\"id\":\"é\",\"execute\":\"query-version\"}\n").utf8)
        func run(_ chunks: [[UInt8]]) throws -> [String] {
            let session = try Session()
            for chunk in chunks { try session.feed(bytes: chunk) }
            return try session.output()
        }
        let whole = try run([input])
        #expect(whole.count == 7)
        #expect(try run(input.map { [$0] }) == whole)
        for split in 0...input.count {
            #expect(try run([Array(input[..<split]), Array(input[split...])]) == whole)
        }
    }

    @Test func queryCommandsListsBuiltinsAndRegistered() throws {
        let session = try Session()
        try session.feed("{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"query-commands\"}\n")
        let names = try session.outputJSON().last?["return"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
        #expect(
            names == [
                "echo", "explode", "machine-create", "machine-destroy", "qmp_capabilities", "query-commands",
                "query-version", "sleep", "whoami",
            ])
    }
}
#endif
