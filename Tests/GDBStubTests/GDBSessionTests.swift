// emud: tests for the GDB remote protocol. GPL-2.0-or-later.

import Foundation
import Testing

@testable import GDBStub

@Suite("GDBSession")
struct GDBSessionTests {
    // MARK: Handshake

    @Test func attachesOnCreationAndAdvertisesEveryFeature() {
        let harness = SessionHarness(features: nil)
        #expect(harness.target.attaches == 1)
        #expect(harness.request("qSupported:multiprocess+;swbreak+;hwbreak+") == [
            "PacketSize=4000;qXfer:features:read+;qXfer:memory-map:read+;qXfer:threads:read+;"
                + "qXfer:exec-file:read+;QStartNoAckMode+;swbreak+;hwbreak+;vContSupported+;multiprocess+"
        ])
        #expect(harness.acknowledgmentsReceived == 1)
    }

    @Test func advertisesOnlyWhatTheTargetProvides() {
        var options = FakeTarget.Options()
        options.execFilePath = nil
        options.memoryMap = nil
        options.breakpointKinds = [.software]
        let harness = SessionHarness(options, features: nil)
        #expect(harness.request("qSupported") == [
            "PacketSize=4000;qXfer:features:read+;qXfer:threads:read+;QStartNoAckMode+;swbreak+;"
                + "vContSupported+;multiprocess+"
        ])
        #expect(harness.request("qXfer:exec-file:read::0,100") == [""])
        #expect(harness.request("qXfer:memory-map:read::0,100") == [""])
        #expect(harness.request("Z1,40000000,4") == [""])
        #expect(harness.request("Z2,40000000,4") == [""])
        #expect(harness.target.breakpoints.isEmpty)
    }

    @Test func firstQuestionsGDBAsks() {
        let harness = SessionHarness()
        #expect(harness.request("vMustReplyEmpty") == [""])
        #expect(harness.request("Hg0") == ["OK"])
        #expect(harness.request("qTStatus") == [""])
        #expect(harness.request("?") == ["T05thread:p1.1;"])
        #expect(harness.request("qfThreadInfo") == ["mp1.1,p1.2"])
        #expect(harness.request("qsThreadInfo") == ["l"])
        #expect(harness.request("qAttached:1") == ["1"])
        #expect(harness.request("qAttached") == ["1"])
        #expect(harness.request("qC") == ["QCp1.1"])
        #expect(harness.request("qOffsets") == ["Text=0;Data=0;Bss=0"])
        #expect(harness.request("vCont?") == ["vCont;c;C;s;S;t"])
    }

    @Test func plainThreadIDsWithoutMultiprocess() {
        let harness = SessionHarness(features: "swbreak+")
        #expect(harness.request("?") == ["T05thread:1;"])
        #expect(harness.request("qfThreadInfo") == ["m1,2"])
        #expect(harness.request("Hg2") == ["OK"])
        #expect(harness.request("qC") == ["QC2"])
        harness.request("c")
        #expect(harness.stop(.exited(code: 3)) == ["W03"])
    }

    // MARK: Acknowledgments

    @Test func acknowledgmentModeAndNoAckMode() {
        let harness = SessionHarness()
        let acked = harness.acknowledgmentsReceived
        #expect(harness.request("QStartNoAckMode") == ["OK"])
        #expect(harness.acknowledgmentsReceived == acked + 1)  // that packet is still acknowledged
        #expect(!harness.session.acknowledgmentMode)
        harness.acknowledging = false
        // gdb acknowledges the OK once more; it is ignored.
        #expect(harness.send(raw: Array("+".utf8)) == [])
        #expect(harness.request("qC") == ["QCp1.1"])
        #expect(harness.acknowledgmentsReceived == acked + 1)
    }

    @Test func badChecksumIsAnsweredWithMinus() {
        let harness = SessionHarness()
        let output = harness.session.receive(Array("$qC#00".utf8))
        #expect(text(output.bytes) == "-")
        #expect(harness.request("qC") == ["QCp1.1"])
    }

    @Test func minusMakesTheStubResendItsLastPacket() {
        let harness = SessionHarness()
        let first = harness.session.receive(frame("qC"))
        #expect(text(first.bytes) == "+$QCp1.1#94")
        #expect(text(harness.session.receive(Array("-".utf8)).bytes) == "$QCp1.1#94")
        #expect(text(harness.session.receive(Array("+".utf8)).bytes) == "")
        #expect(harness.request("?") == ["T05thread:p1.1;"])
    }

    @Test func repliesWaitForTheAcknowledgmentOfTheOneBefore() {
        let harness = SessionHarness()
        // Two requests in one read, and no '+' from us in between: only the first reply goes out.
        let output = harness.session.receive(frame("qC") + frame("qAttached"))
        #expect(text(output.bytes) == "+$QCp1.1#94+")
        #expect(text(harness.session.receive(Array("+".utf8)).bytes) == "$1#31")
    }

    @Test func endlessRetransmitRequestsEndTheSession() {
        let harness = SessionHarness()
        _ = harness.session.receive(frame("qC"))
        var last = SessionOutput()
        for _ in 0...GDBSession.maximumRetransmissions {
            last = harness.session.receive(Array("-".utf8))
        }
        #expect(last.shouldClose)
        #expect(last.error == .tooManyRetransmissions(GDBSession.maximumRetransmissions + 1))
    }

    @Test func overlongPacketGetsAnErrorAndTheSessionGoesOn() {
        let harness = SessionHarness(packetSize: 256)
        #expect(harness.request(String(repeating: "M", count: 300)) == ["E01"])
        #expect(harness.request("qC") == ["QCp1.1"])
    }

    @Test func malformedAndUnknownPackets() {
        let harness = SessionHarness()
        #expect(harness.request("mzz,4") == ["E01"])
        #expect(harness.request("vFile:readlink:2f") == [""])
        #expect(harness.request("qXfer:auxv:read::0,100") == [""])
        #expect(harness.request("qC") == ["QCp1.1"])
        #expect(!harness.closed)
    }

    // MARK: Registers

    @Test func gPacketHasEveryRegister() throws {
        let harness = SessionHarness()
        let reply = try #require(harness.request("g").first)
        #expect(reply.count == 2 * 788)
        #expect(reply == text(Hex.encode(harness.target.registers(1))))
        // x1 of thread 1 is 0x0000_0001_0000_0001, little-endian.
        #expect(reply.dropFirst(16).prefix(16) == "0100000001000000")
        #expect(harness.request("Hgp1.2") == ["OK"])
        #expect(harness.request("g").first == text(Hex.encode(harness.target.registers(2))))
        #expect(harness.request("Hgp1.3") == ["E01"])
        #expect(harness.request("Hgp2.1") == ["E01"])
    }

    @Test func singleRegisters() {
        let harness = SessionHarness()
        #expect(harness.request("p20") == ["0001004000000000"])  // pc of thread 1: 0x4000_0100
        #expect(harness.request("p21") == ["c5030000"])  // cpsr
        #expect(harness.request("p22") == ["00000000000000000000000000000000"])  // v0
        #expect(harness.request("p43") == ["00000003"])  // fpcr
        #expect(harness.request("p44") == ["E01"])
        #expect(harness.request("P20=0800004000000000") == ["OK"])
        #expect(harness.request("p20") == ["0800004000000000"])
        #expect(harness.request("P20=08") == ["E01"])  // wrong size
        #expect(harness.request("P99=00") == ["E01"])
    }

    @Test func writeAllRegisters() {
        let harness = SessionHarness()
        var registers = harness.target.registers(1)
        registers[0] = 0xaa
        registers[787] = 0x55
        #expect(harness.request("G" + text(Hex.encode(registers))) == ["OK"])
        #expect(harness.target.registers(1) == registers)
        #expect(harness.request("G00") == ["E01"])
    }

    // MARK: Memory

    @Test func readAndWriteMemory() {
        let harness = SessionHarness()
        #expect(harness.request("m40000010,4") == ["10111213"])
        #expect(harness.request("m40000ffe,8") == ["feff"])  // short read at the end of RAM
        #expect(harness.request("m0,4") == ["E14"])
        #expect(harness.request("M40000020,3:a1b2c3") == ["OK"])
        #expect(harness.target.memory(at: 0x4000_0020, count: 3) == [0xa1, 0xb2, 0xc3])
        #expect(harness.request("M0,1:00") == ["E14"])
    }

    @Test func binaryMemoryWrite() {
        let harness = SessionHarness()
        let data: [UInt8] = [0x03, UInt8(ascii: "$"), UInt8(ascii: "#"), UInt8(ascii: "}"), UInt8(ascii: "*"), 0x2b, 0x2d, 0]
        #expect(harness.request(bytes: Array("X40000040,8:".utf8) + data) == ["OK"])
        #expect(harness.target.memory(at: 0x4000_0040, count: 8) == data)
        #expect(harness.request("X40000040,0:") == ["OK"])  // gdb probing for X
    }

    @Test func largeReadIsShortenedToFitAPacket() throws {
        let harness = SessionHarness(packetSize: 256)
        let reply = try #require(harness.request("m40000000,1000").first)
        #expect(reply.count == 254)
    }

    // MARK: Breakpoints

    @Test func insertAndRemoveBreakpointsAndWatchpoints() {
        let harness = SessionHarness()
        #expect(harness.request("Z0,40000100,4") == ["OK"])
        #expect(harness.request("Z1,40000104,4") == ["OK"])
        #expect(harness.request("Z2,40000800,8") == ["OK"])
        #expect(harness.request("Z3,40000808,4") == ["OK"])
        #expect(harness.request("Z4,40000810,1") == ["OK"])
        #expect(harness.target.breakpoints == [
            Breakpoint(kind: .software, address: 0x4000_0100, length: 4),
            Breakpoint(kind: .hardware, address: 0x4000_0104, length: 4),
            Breakpoint(kind: .watchpoint(.write), address: 0x4000_0800, length: 8),
            Breakpoint(kind: .watchpoint(.read), address: 0x4000_0808, length: 4),
            Breakpoint(kind: .watchpoint(.access), address: 0x4000_0810, length: 1),
        ])
        #expect(harness.request("z0,40000100,4") == ["OK"])
        #expect(harness.request("z0,40000100,4") == ["E01"])
        #expect(harness.request("Z0,100,4") == ["E01"])  // the target refuses
        #expect(harness.request("Z7,100,4") == [""])
        #expect(harness.target.breakpoints.count == 4)
    }

    // MARK: Resume and stop replies

    @Test func vContResolvesAnActionPerThread() {
        let harness = SessionHarness()
        #expect(harness.request("vCont;s:p1.2;c") == [])
        #expect(harness.target.resumes.last == [
            ThreadAction(thread: 1, action: .continue(signal: nil)),
            ThreadAction(thread: 2, action: .step(signal: nil)),
        ])
        #expect(harness.stop(.signal(.trap, thread: 2)) == ["T05thread:p1.2;"])
        #expect(harness.request("qC") == ["QCp1.2"])

        #expect(harness.request("vCont;c:p1.1") == [])
        #expect(harness.target.resumes.last == [
            ThreadAction(thread: 1, action: .continue(signal: nil)), ThreadAction(thread: 2, action: .hold),
        ])
        harness.stop(.signal(.trap, thread: 1))

        #expect(harness.request("vCont;C0b:1;c:-1") == [])
        #expect(harness.target.resumes.last == [
            ThreadAction(thread: 1, action: .continue(signal: .segmentationFault)),
            ThreadAction(thread: 2, action: .continue(signal: nil)),
        ])
        harness.stop(.signal(.trap, thread: 1))

        #expect(harness.request("vCont;t") == ["E01"])  // would resume nothing
        #expect(harness.request("vCont;s:p1.9;c") == ["E01"])
        #expect(harness.request("vCont;c:p2.1") == ["E01"])
        #expect(harness.target.resumes.count == 3)
    }

    @Test func legacyContinueAndStep() {
        let harness = SessionHarness()
        #expect(harness.request("Hc-1") == ["OK"])
        #expect(harness.request("c") == [])
        #expect(harness.target.resumes.last == [
            ThreadAction(thread: 1, action: .continue(signal: nil)),
            ThreadAction(thread: 2, action: .continue(signal: nil)),
        ])
        harness.stop(.signal(.trap, thread: 2))
        #expect(harness.request("s") == [])
        #expect(harness.target.resumes.last == [
            ThreadAction(thread: 1, action: .hold), ThreadAction(thread: 2, action: .step(signal: nil)),
        ])
        harness.stop(.signal(.trap, thread: 2))
        #expect(harness.request("Hcp1.1") == ["OK"])
        #expect(harness.request("S05;40000200") == [])
        #expect(harness.target.resumes.last == [
            ThreadAction(thread: 1, action: .step(signal: .trap)), ThreadAction(thread: 2, action: .hold),
        ])
        #expect(Array(harness.target.registers(1)[256..<264]) == le(0x4000_0200))
    }

    @Test func stopReplyFormats() {
        let harness = SessionHarness()
        func run(_ reason: StopReason) -> [String] {
            harness.request("vCont;c")
            return harness.stop(reason)
        }
        #expect(run(.softwareBreakpoint(thread: 1)) == ["T05thread:p1.1;swbreak:;"])
        #expect(run(.hardwareBreakpoint(thread: 2)) == ["T05thread:p1.2;hwbreak:;"])
        #expect(run(.watchpoint(.write, address: 0x4000_0800, thread: 1)) == ["T05thread:p1.1;watch:40000800;"])
        #expect(run(.watchpoint(.read, address: 0x10, thread: 2)) == ["T05thread:p1.2;rwatch:10;"])
        #expect(run(.watchpoint(.access, address: 0, thread: 1)) == ["T05thread:p1.1;awatch:0;"])
        #expect(run(.signal(.interrupt, thread: 2)) == ["T02thread:p1.2;"])
        #expect(run(.signal(.segmentationFault, thread: 1)) == ["T0bthread:p1.1;"])
        #expect(harness.request("?") == ["T0bthread:p1.1;"])
        #expect(run(.exited(code: 0)) == ["W00;process:1"])
        #expect(harness.request("?") == ["W00;process:1"])
        #expect(harness.request("g") == ["E01"])
        #expect(harness.request("vCont;c") == ["E01"])
    }

    @Test func terminatedBySignal() {
        let harness = SessionHarness()
        harness.request("c")
        #expect(harness.stop(.terminated(.kill)) == ["X09;process:1"])
    }

    @Test func breakpointReasonsOnlyWhenGDBUnderstandsThem() {
        let harness = SessionHarness(features: "multiprocess+")
        harness.request("c")
        #expect(harness.stop(.softwareBreakpoint(thread: 1)) == ["T05thread:p1.1;"])
        harness.request("c")
        #expect(harness.stop(.hardwareBreakpoint(thread: 1)) == ["T05thread:p1.1;"])
    }

    @Test func nothingIsSentWhileRunningAndOneStopPerResume() {
        let harness = SessionHarness()
        #expect(harness.request("c") == [])
        #expect(harness.session.isRunning)
        #expect(harness.request("g") == ["E01"])  // all-stop gdb never asks; the target is not disturbed
        #expect(harness.stop(.softwareBreakpoint(thread: 1)) == ["T05thread:p1.1;swbreak:;"])
        #expect(harness.stop(.signal(.interrupt, thread: 1)) == [])  // a second stop for one resume
        #expect(!harness.session.isRunning)
    }

    @Test func interruptWhileRunning() {
        let harness = SessionHarness()
        #expect(harness.send(raw: [0x03]) == [])
        #expect(harness.target.interrupts == 0)  // stopped: nothing to interrupt
        harness.request("vCont;c")
        #expect(harness.send(raw: [0x03]) == [])
        #expect(harness.target.interrupts == 1)
        #expect(harness.stop(.signal(.interrupt, thread: 2)) == ["T02thread:p1.2;"])
    }

    @Test func exitWhileStoppedClosesTheConnection() {
        let harness = SessionHarness()
        #expect(harness.stop(.exited(code: 1)) == [])
        #expect(harness.closed)
    }

    // MARK: Documents

    /// Reads a whole qXfer document in chunks of `chunk` bytes, as gdb does.
    private func readDocument(_ harness: SessionHarness, _ prefix: String, chunk: Int = 0x100) -> String? {
        var document = ""
        var offset = 0
        while true {
            guard let reply = harness.request("\(prefix)\(String(offset, radix: 16)),\(String(chunk, radix: 16))").first,
                let marker = reply.first, marker == "m" || marker == "l"
            else { return nil }
            let data = reply.dropFirst()
            document += data
            offset += data.unicodeScalars.count
            if marker == "l" { return document }
        }
    }

    @Test func targetDescription() throws {
        let harness = SessionHarness()
        let xml = try #require(readDocument(harness, "qXfer:features:read:target.xml:"))
        #expect(xml == text(TargetDescription.aarch64))
        #expect(xml.contains("<feature name=\"org.gnu.gdb.aarch64.core\">"))
        #expect(xml.contains("<feature name=\"org.gnu.gdb.aarch64.fpu\">"))
        #expect(xml.contains("<reg name=\"pc\" bitsize=\"64\" type=\"code_ptr\" regnum=\"32\"/>"))
        #expect(xml.contains("<reg name=\"v31\" bitsize=\"128\" type=\"aarch64v\" regnum=\"65\"/>"))
        #expect(xml.contains("<reg name=\"fpcr\" bitsize=\"32\" type=\"int\" regnum=\"67\"/>"))
        #expect(xml.components(separatedBy: "<reg ").count - 1 == AArch64RegisterLayout.count)
        // Bit sizes add up to the g packet.
        let bits = xml.split(separator: "bitsize=\"").dropFirst().compactMap { Int($0.prefix { $0.isNumber }) }
        #expect(bits.reduce(0, +) == AArch64RegisterLayout.byteCount * 8)
        #expect(harness.request("qXfer:features:read:other.xml:0,100") == ["E00"])
        #expect(harness.request("qXfer:features:read:target.xml:100000,100") == ["l"])
    }

    @Test func memoryMapThreadsAndExecFile() throws {
        let harness = SessionHarness()
        let map = try #require(readDocument(harness, "qXfer:memory-map:read::", chunk: 0x40))
        #expect(map.contains("<memory type=\"ram\" start=\"0x40000000\" length=\"0x1000\"/>"))
        #expect(map.hasPrefix("<?xml version=\"1.0\"?>\n<!DOCTYPE memory-map"))
        let threads = try #require(readDocument(harness, "qXfer:threads:read::"))
        #expect(threads == "<?xml version=\"1.0\"?>\n<threads>\n  <thread id=\"p1.1\">CPU 0 halted</thread>\n"
                + "  <thread id=\"p1.2\">CPU 1 halted</thread>\n</threads>\n")
        #expect(harness.request("qXfer:exec-file:read:1:0,1000") == ["l/srv/guests/hello.elf"])
        #expect(harness.request("qXfer:exec-file:read::0,5") == ["m/srv/"])
        #expect(harness.request("qXfer:exec-file:read:2:0,1000") == ["E00"])
    }

    @Test func xmlWithStarsIsEscapedOnTheWire() throws {
        var options = FakeTarget.Options()
        options.execFilePath = "/guests/a*b}c$#.elf"
        let harness = SessionHarness(options)
        let output = harness.session.receive(frame("qXfer:exec-file:read::0,100"))
        #expect(!text(output.bytes).contains("*"))
        _ = harness.session.receive(Array("+".utf8))
        #expect(harness.request("qXfer:exec-file:read::0,100") == ["l/guests/a*b}c$#.elf"])
    }

    // MARK: Monitor

    @Test func monitorCommands() {
        let harness = SessionHarness()
        let help = text(Hex.encode(Array("help -- this text\nregs -- nothing\n".utf8)))
        #expect(harness.request("qRcmd," + text(Hex.encode(Array("help".utf8)))) == ["O" + help, "OK"])
        #expect(harness.request("qRcmd," + text(Hex.encode(Array("quiet".utf8)))) == ["OK"])
        let big = harness.request("qRcmd," + text(Hex.encode(Array("big".utf8))))
        #expect(big.count == 4 && big.last == "OK")
        #expect(big.dropLast().allSatisfy { $0.hasPrefix("O") && $0.count <= GDBSession.defaultPacketSize })
        #expect(harness.target.monitorCommands == ["help", "quiet", "big"])
    }

    @Test func monitorUnsupported() {
        var options = FakeTarget.Options()
        options.monitorSupported = false
        let harness = SessionHarness(options)
        #expect(harness.request("qRcmd,68656c70") == [""])
    }

    // MARK: Ending

    @Test func detachKeepsTheMachineRunning() {
        let harness = SessionHarness()
        let output = harness.session.receive(frame("D;1"))
        #expect(text(output.bytes) == "+$OK#9a")
        #expect(!output.shouldClose)  // waits for gdb to acknowledge the OK
        #expect(harness.target.detaches == 1)
        #expect(harness.session.receive(Array("+".utf8)).shouldClose)
        harness.session.end()
        #expect(harness.target.detaches == 1)
        #expect(harness.target.kills == 0)
    }

    @Test func detachInNoAckModeClosesAtOnce() {
        let harness = SessionHarness()
        harness.request("QStartNoAckMode")
        harness.acknowledging = false
        #expect(harness.request("D") == ["OK"])
        #expect(harness.closed)
        #expect(harness.target.detaches == 1)
    }

    @Test func detachOfAnotherProcessFails() {
        let harness = SessionHarness()
        #expect(harness.request("D;2") == ["E01"])
        #expect(harness.target.detaches == 0)
    }

    @Test func killAndVKill() {
        let harness = SessionHarness()
        #expect(harness.request("k") == [])
        #expect(harness.closed)
        #expect(harness.target.kills == 1)
        harness.session.end()
        #expect(harness.target.detaches == 0)

        let other = SessionHarness()
        #expect(other.request("vKill;1") == ["OK"])
        #expect(other.closed)
        #expect(other.target.kills == 1)
    }

    @Test func droppedConnectionDetachesOnce() {
        let harness = SessionHarness()
        harness.request("c")
        harness.session.end()
        harness.session.end()
        #expect(harness.target.detaches == 1)
        #expect(harness.stop(.softwareBreakpoint(thread: 1)) == [])
        #expect(harness.request("qC") == [])
    }

    @Test func threadAlive() {
        let harness = SessionHarness()
        #expect(harness.request("Tp1.2") == ["OK"])
        #expect(harness.request("T1") == ["OK"])
        #expect(harness.request("Tp1.3") == ["E01"])
        #expect(harness.request("Tp2.1") == ["E01"])
    }
}
