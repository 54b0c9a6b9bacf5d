// emud: tests for the GDB remote protocol. GPL-2.0-or-later.

import Testing

@testable import GDBStub

private func parse(_ text: String) throws -> Command {
    try Command.parse(Array(text.utf8))
}

@Suite("Command parsing")
struct CommandTests {
    @Test func registers() throws {
        #expect(try parse("g") == .readRegisters)
        #expect(try parse("G0102") == .writeRegisters(WriteRegisters(bytes: [1, 2])))
        #expect(try parse("p20") == .readRegister(ReadRegister(number: 32)))
        #expect(try parse("P21=c5030000") == .writeRegister(WriteRegister(number: 33, bytes: [0xc5, 3, 0, 0])))
        #expect(throws: MalformedPacket.self) { try parse("G012") }
        #expect(throws: MalformedPacket.self) { try parse("P21") }
        #expect(throws: MalformedPacket.self) { try parse("pzz") }
    }

    @Test func memory() throws {
        #expect(try parse("m40000000,10") == .readMemory(ReadMemory(address: 0x4000_0000, length: 16)))
        #expect(try parse("mffffffffffffffff,1") == .readMemory(ReadMemory(address: .max, length: 1)))
        #expect(try parse("M40000000,2:abcd") == .writeMemory(WriteMemory(address: 0x4000_0000, bytes: [0xab, 0xcd])))
        // X data is binary: ':' and ',' inside it are data.
        let x = try Command.parse(Array("X10,4:".utf8) + [UInt8(ascii: ":"), 0x03, UInt8(ascii: ","), 0])
        #expect(x == .writeMemory(WriteMemory(address: 0x10, bytes: [UInt8(ascii: ":"), 0x03, UInt8(ascii: ","), 0])))
        #expect(try parse("X10,0:") == .writeMemory(WriteMemory(address: 0x10, bytes: [])))
        #expect(throws: MalformedPacket.self) { try parse("m10000000000000000,1") }
        #expect(throws: MalformedPacket.self) { try parse("M10,2:ab") }
        #expect(throws: MalformedPacket.self) { try parse("X10,2:a") }
        #expect(throws: MalformedPacket.self) { try parse("m10") }
    }

    @Test func breakpoints() throws {
        #expect(try parse("Z0,40000010,4") == .breakpoint(BreakpointPacket(
            insert: true, breakpoint: Breakpoint(kind: .software, address: 0x4000_0010, length: 4))))
        #expect(try parse("z1,40000010,4") == .breakpoint(BreakpointPacket(
            insert: false, breakpoint: Breakpoint(kind: .hardware, address: 0x4000_0010, length: 4))))
        #expect(try parse("Z2,40000800,8") == .breakpoint(BreakpointPacket(
            insert: true, breakpoint: Breakpoint(kind: .watchpoint(.write), address: 0x4000_0800, length: 8))))
        #expect(try parse("Z3,1,1") == .breakpoint(BreakpointPacket(
            insert: true, breakpoint: Breakpoint(kind: .watchpoint(.read), address: 1, length: 1))))
        #expect(try parse("Z4,1,2;X3,220c05") == .breakpoint(BreakpointPacket(
            insert: true, breakpoint: Breakpoint(kind: .watchpoint(.access), address: 1, length: 2))))
        #expect(try parse("Z5,1,2") == .unsupported)
        #expect(throws: MalformedPacket.self) { try parse("Z0,40000010") }
    }

    @Test func threadIDs() throws {
        func id(_ text: String) throws -> ThreadID { try ThreadID(parsing: Array(text.utf8), packet: "test") }
        #expect(try id("p1.2") == ThreadID(process: .id(1), thread: .id(2)))
        #expect(try id("p1.-1") == ThreadID(process: .id(1), thread: .all))
        #expect(try id("p1") == ThreadID(process: .id(1), thread: .all))
        #expect(try id("p-1.-1") == ThreadID(process: .all, thread: .all))
        #expect(try id("p0.0") == ThreadID(process: .any, thread: .any))
        #expect(try id("-1") == ThreadID(thread: .all))
        #expect(try id("0") == ThreadID(thread: .any))
        #expect(try id("1f") == ThreadID(thread: .id(31)))
        #expect(try id("p2.1").matches(1) == false)
        #expect(try id("p1.1").matches(1))
        #expect(try id("p1").matches(7))
        #expect(throws: MalformedPacket.self) { try id("p") }
        #expect(throws: MalformedPacket.self) { try id("p1.") }
        #expect(throws: MalformedPacket.self) { try id("x") }
        #expect(try parse("Hgp1.2") == .setThread(SetThread(operation: .general, thread: ThreadID(process: .id(1), thread: .id(2)))))
        #expect(try parse("Hc-1") == .setThread(SetThread(operation: .resume, thread: ThreadID(thread: .all))))
        #expect(try parse("Tp1.2") == .threadAlive(ThreadAlive(thread: ThreadID(process: .id(1), thread: .id(2)))))
        #expect(throws: MalformedPacket.self) { try parse("Hx1") }
    }

    @Test func resume() throws {
        #expect(try parse("c") == .resume(LegacyResume(step: false)))
        #expect(try parse("s40000000") == .resume(LegacyResume(step: true, address: 0x4000_0000)))
        #expect(try parse("C0b") == .resume(LegacyResume(step: false, signal: .segmentationFault)))
        #expect(try parse("S05;40") == .resume(LegacyResume(step: true, signal: .trap, address: 0x40)))
        #expect(try parse("vCont?") == .vContQuery)
        #expect(try parse("vCont;s:p1.2;c") == .vCont(VCont(actions: [
            .init(.step(signal: nil), thread: ThreadID(process: .id(1), thread: .id(2))),
            .init(.continue(signal: nil)),
        ])))
        #expect(try parse("vCont;C02:2;S05:p1.1;t:p1.-1") == .vCont(VCont(actions: [
            .init(.continue(signal: .interrupt), thread: ThreadID(thread: .id(2))),
            .init(.step(signal: .trap), thread: ThreadID(process: .id(1), thread: .id(1))),
            .init(.hold, thread: ThreadID(process: .id(1), thread: .all)),
        ])))
        #expect(throws: MalformedPacket.self) { try parse("vCont;r1000,2000") }
        #expect(throws: MalformedPacket.self) { try parse("vCont;") }
        #expect(throws: MalformedPacket.self) { try parse("vCont;cc") }
        #expect(try parse("vCtrlC") == .unsupported)
        #expect(try parse("vMustReplyEmpty") == .unsupported)
    }

    @Test func queries() throws {
        #expect(try parse("qSupported:multiprocess+;swbreak+;xmlRegisters=i386") == .supported(Supported(
            features: ["multiprocess+", "swbreak+", "xmlRegisters=i386"])))
        #expect(try parse("qSupported") == .supported(Supported(features: [])))
        #expect(try parse("qXfer:features:read:target.xml:0,ffb") == .xferRead(XferRead(
            object: "features", annex: "target.xml", offset: 0, length: 0xffb)))
        #expect(try parse("qXfer:exec-file:read:1:10,20") == .xferRead(XferRead(
            object: "exec-file", annex: "1", offset: 0x10, length: 0x20)))
        #expect(try parse("qXfer:threads:read::0,1000") == .xferRead(XferRead(
            object: "threads", annex: "", offset: 0, length: 0x1000)))
        #expect(try parse("qXfer:features:write:target.xml:0:abc") == .unsupported)
        #expect(throws: MalformedPacket.self) { try parse("qXfer:features:read:target.xml") }
        #expect(try parse("qRcmd,68656c70") == .monitor(Monitor(command: "help")))
        #expect(throws: MalformedPacket.self) { try parse("qRcmd,6") }
        #expect(try parse("qAttached") == .attached(Attached()))
        #expect(try parse("qAttached:1") == .attached(Attached(process: 1)))
        #expect(try parse("qC") == .currentThread)
        #expect(try parse("qfThreadInfo") == .threadInfoFirst)
        #expect(try parse("qsThreadInfo") == .threadInfoNext)
        #expect(try parse("qOffsets") == .offsets)
        #expect(try parse("QStartNoAckMode") == .startNoAckMode)
        #expect(try parse("qTStatus") == .unsupported)
        #expect(try parse("qSymbol::") == .unsupported)
        #expect(try parse("qCRC:0,1") == .unsupported)  // not qC
    }

    @Test func lifecycle() throws {
        #expect(try parse("?") == .haltReason)
        #expect(try parse("D") == .detach(Detach()))
        #expect(try parse("D;1") == .detach(Detach(process: 1)))
        #expect(try parse("k") == .kill)
        #expect(try parse("vKill;1") == .vKill(VKill(process: 1)))
        #expect(throws: MalformedPacket.self) { try parse("D1") }
        #expect(try parse("") == .unsupported)
        #expect(try parse("!") == .unsupported)
    }
}
