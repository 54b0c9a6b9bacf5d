// emud: a libFuzzer harness for Arm semihosting, the calls a guest makes with HLT #0xF000.
// GPL-2.0-or-later.
//
// The input is a guest's calls and its RAM: byte 0 says how many calls (1 to 16), then 9 bytes a
// call (the operation number, then X1 as a little-endian UInt64: a value below the RAM size counts
// as an offset into RAM, so that parameter blocks are easy to reach), then the initial contents of
// 64 KiB of RAM at 0x4000_0000. No host directory is allowed (no semihosting root), so no host file
// is ever opened. Checked on every input: nothing traps; only SYS_EXIT and SYS_EXIT_EXTENDED end
// the machine; SYS_WRITE and SYS_READ never report more bytes left over than were asked for;
// SYS_ISERROR and SYS_ISTTY answer 0 or 1; only SYS_WRITEC, SYS_WRITE0 and SYS_WRITE write to the
// console; the path walk beneath a root refuses every name without opening anything when the root
// is not open.

import Foundation

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("semihosting: property violated: \(message())") }
}

let ramBase: UInt64 = 0x4000_0000
let ramSize: UInt64 = 64 << 10

func le64(_ bytes: ArraySlice<UInt8>) -> UInt64 {
    bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: count))
    guard let first = input.first else { return 0 }
    let calls = Int(first % 16) + 1
    let headerLength = 1 + calls * 9
    guard input.count >= headerLength else { return 0 }

    guard let memory = try? GuestMemory(ramBase: ramBase, ramSize: ramSize) else {
        fatalError("semihosting: cannot map 64 KiB of guest RAM")
    }
    _ = memory.writeBytes(ramBase, Array(input[headerLength...].prefix(Int(ramSize))))
    var consoleWrites = 0
    let console = Console { _ in consoleWrites += 1 }
    // Input for SYS_READ and SYS_READC, which would otherwise wait for it.
    console.feed(Array("typed at the console\n".utf8))
    let semihosting = Semihosting(console: console, allowedRoot: nil)
    semihosting.commandLine = "guest.elf --arg"
    semihosting.heapInfo = (ramBase + 0x8000, ramBase + 0xc000, ramBase + ramSize, ramBase + 0xc000)

    for call in 0..<calls {
        let record = input[(1 + call * 9)..<(1 + call * 9 + 9)]
        let operation = UInt64(record.first!)
        let raw = le64(record.dropFirst())
        let argument = raw < ramSize ? ramBase + raw : raw
        let writesBefore = consoleWrites
        let outcome = semihosting.call(operation: operation, argument: argument, memory: memory, counter: 12345)
        if case .exit = outcome {
            check(operation == 0x18 || operation == 0x20, "operation \(operation) ended the machine")
            break
        }
        if consoleWrites != writesBefore {
            check([0x03, 0x04, 0x05].contains(operation), "operation \(operation) wrote to the console")
        }
        guard case .result(let value) = outcome else { continue }
        switch operation {
        case 0x05, 0x06:
            if let length = memory.read64(argument &+ 16) {
                check(value <= length || value == UInt64.max, "operation \(operation) left \(value) of \(length) bytes")
            }
        case 0x08, 0x09:
            check(value <= 1, "operation \(operation) answered \(value)")
        default:
            break
        }
    }

    // The path walk, with no root open: every name is refused and nothing is created.
    if let name = memory.readCString(ramBase, limit: 256) {
        check(Semihosting.openBeneath(-1, name, flags: O_RDONLY) < 0, "a name was opened beneath no root")
    }
    return 0
}
