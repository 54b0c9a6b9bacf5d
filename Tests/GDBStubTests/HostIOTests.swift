// emud: tests for the GDB remote protocol. GPL-2.0-or-later.

import Testing

@testable import GDBStub

/// The reply bytes as sent (the harness decodes payloads as one character per byte).
private func bytes(_ reply: String) -> [UInt8] { reply.unicodeScalars.map { UInt8($0.value) } }

private func hexPath(_ path: String) -> String { text(Hex.encode(Array(path.utf8))) }

private let execFile = "/srv/guests/hello.elf"

/// Splits `F<result>;<attachment>` into the result and the attachment bytes.
private func split(_ reply: String) -> (result: String, attachment: [UInt8]) {
    let all = bytes(reply)
    guard let semicolon = all.firstIndex(of: UInt8(ascii: ";")) else { return (reply, []) }
    return (text(all[..<semicolon]), Array(all[(semicolon + 1)...]))
}

@Suite("GDB Host I/O (vFile) and thread descriptions")
struct HostIOTests {
    @Test func gdbReadsTheExecFileThroughHostIO() throws {
        let harness = SessionHarness()
        let contents = try #require(harness.target.execFileContents())
        #expect(harness.request("vFile:setfs:0") == ["F0"])
        let open = harness.request("vFile:open:\(hexPath(execFile)),0,0")
        #expect(open == ["F0"])

        let stat = split(try #require(harness.request("vFile:fstat:0").first))
        #expect(stat.result == "F40")
        #expect(stat.attachment.count == 64)
        // st_mode (big-endian, bytes 8..<12): a regular file readable by all; st_size at 28..<36.
        #expect(Array(stat.attachment[8..<12]) == [0x00, 0x00, 0x81, 0x24])
        #expect(stat.attachment[28..<36].reduce(0) { $0 << 8 | Int($1) } == contents.count)

        // gdb reads in chunks until a short or empty read.
        var read: [UInt8] = []
        while true {
            let reply = split(try #require(harness.request("vFile:pread:0,4000,\(String(read.count, radix: 16))").first))
            let count = try #require(Int(reply.result.dropFirst(), radix: 16))
            #expect(count == reply.attachment.count)
            #expect(count <= GDBSession.defaultPacketSize / 2)
            if count == 0 { break }
            read += reply.attachment
        }
        #expect(read == contents)
        #expect(harness.request("vFile:close:0") == ["F0"])
        #expect(harness.request("vFile:close:0") == ["F-1,9"])
    }

    @Test func nothingButTheExecFileOpens() {
        let harness = SessionHarness()
        for path in ["/etc/passwd", "/srv/guests/hello.elf/../../../etc/passwd", "/srv/guests/hello.el",
            "/srv/guests/hello.elf ", "", "/srv/guests/./hello.elf"]
        {
            #expect(harness.request("vFile:open:\(hexPath(path)),0,0") == ["F-1,2"], "\(path)")
        }
        // Write, create, truncate, append: refused even for the image.
        for flags in ["1", "2", "8", "200", "401", "800"] {
            #expect(harness.request("vFile:open:\(hexPath(execFile)),\(flags),1ff") == ["F-1,d"], "\(flags)")
        }
        // Operations not served here get the empty reply.
        #expect(harness.request("vFile:unlink:\(hexPath(execFile))") == [""])
        #expect(harness.request("vFile:pwrite:0,0,41") == [""])
        #expect(harness.request("vFile:readlink:\(hexPath(execFile))") == [""])
    }

    @Test func badHandlesAndHugeNumbers() {
        let harness = SessionHarness()
        #expect(harness.request("vFile:pread:0,10,0") == ["F-1,9"])
        #expect(harness.request("vFile:fstat:7") == ["F-1,9"])
        #expect(harness.request("vFile:close:7fffffffffffffff") == ["F-1,9"])
        #expect(harness.request("vFile:open:\(hexPath(execFile)),0,0") == ["F0"])
        // Offsets and counts at and beyond Int.max never trap.
        #expect(harness.request("vFile:pread:0,10,7fffffffffffffff") == ["F0;"])
        #expect(harness.request("vFile:pread:0,7fffffffffffffff,9c3f").map { split($0).result } == ["F1"])
        #expect(harness.request("vFile:pread:0,ffffffffffffffff,0") == ["E01"])
        #expect(harness.request("vFile:pread:0,10,10000000000000000") == ["E01"])
        #expect(harness.request("vFile:pread:ffffffffffffffffff,10,0") == ["E01"])
        #expect(harness.request("vFile:pread:0,10") == ["E01"])
        #expect(harness.request("vFile:pread:0,10,0,0") == ["E01"])
        #expect(harness.request("vFile:pread:0,-1,0") == ["E01"])
        #expect(harness.request("vFile:open:zz,0,0") == ["E01"])
        #expect(harness.request("vFile:pread:0,0,0") == ["F0;"])
        // The session goes on.
        #expect(harness.request("vFile:close:0") == ["F0"])
    }

    @Test func openHandlesAreBounded() {
        let harness = SessionHarness()
        for handle in 0..<GDBSession.maximumOpenFiles {
            #expect(harness.request("vFile:open:\(hexPath(execFile)),0,0") == ["F\(String(handle, radix: 16))"])
        }
        #expect(harness.request("vFile:open:\(hexPath(execFile)),0,0") == ["F-1,18"])
        #expect(harness.request("vFile:close:3") == ["F0"])
        #expect(harness.request("vFile:open:\(hexPath(execFile)),0,0") == ["F3"])
    }

    @Test func splitAtEveryByte() {
        let request = PacketEncoder.encode("vFile:open:\(hexPath(execFile)),0,0")
        for cut in 0...request.count {
            let harness = SessionHarness()
            var replies = harness.send(raw: Array(request[..<cut]))
            replies += harness.send(raw: Array(request[cut...]))
            #expect(replies == ["F0"], "split at \(cut)")
        }
        let harness = SessionHarness()
        var replies: [String] = []
        for byte in PacketEncoder.encode("vFile:pread:0,3,0") { replies += harness.send(raw: [byte]) }
        #expect(replies == ["F-1,9"])
    }

    @Test func aTargetWithoutExecFileHasNoHostIO() {
        var options = FakeTarget.Options()
        options.execFilePath = nil
        let harness = SessionHarness(options)
        #expect(harness.request("vFile:setfs:0") == [""])
        #expect(harness.request("vFile:open:\(hexPath(execFile)),0,0") == [""])
        // An exec file the target cannot read: gdb is told it is not there.
        var unreadable = FakeTarget.Options()
        unreadable.execFileContents = nil
        #expect(SessionHarness(unreadable).request("vFile:open:\(hexPath(execFile)),0,0") == ["F-1,2"])
    }

    @Test func threadsAreDescribed() throws {
        let harness = SessionHarness()
        #expect(harness.request("qThreadExtraInfo,p1.2") == [text(Hex.encode(Array("CPU 1 halted".utf8)))])
        #expect(harness.request("qThreadExtraInfo,p1.1") == [text(Hex.encode(Array("CPU 0 halted".utf8)))])
        #expect(harness.request("qThreadExtraInfo,p1.9") == ["E01"])
        #expect(harness.request("qThreadExtraInfo,zz") == ["E01"])
        let document = try #require(harness.request("qXfer:threads:read::0,fff").first)
        #expect(document.contains("<thread id=\"p1.2\">CPU 1 halted</thread>"))
    }
}
