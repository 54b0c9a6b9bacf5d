// emud: a libFuzzer harness for the stage-1 page-table walk (Sources/Machine/Memory/PageTableWalk.swift), the
// code that reads guest-written descriptors with guest-chosen TCR_EL1, TTBRs and addresses. GPL-2.0-or-later.
//
// The input: TCR_EL1, SCTLR_EL1 (M is forced on), TTBR0_EL1, TTBR1_EL1 and MAIR_EL1 (8 bytes each, little-
// endian; a TTBR whose low 48 bits are below the RAM size counts as an offset into RAM, so tables are easy to
// reach), then 8 accesses of 9 bytes (kind, then the virtual address), then the first 64 KiB of RAM at
// 0x4000_0000 (16 KiB: an input is at most 8 KiB, and each access compares all of RAM before and after).
// Checked on every input: nothing traps; a walk without updates is a pure function (the same answer twice,
// and RAM unchanged); a translation keeps the offset within its page or block, fits the output address size,
// and maps a page or block of a size the granules make; a fault is one the walk may raise, at level 0 to 3;
// a walk that may update descriptors (HA/HD) changes nothing outside the 8-byte descriptors it read.

import Foundation

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("page-walk: property violated: \(message())") }
}

let ramBase: UInt64 = 0x4000_0000
let ramSize: UInt64 = 16 << 10
let headerLength = 8 * 5 + 8 * 9

func le64(_ bytes: ArraySlice<UInt8>) -> UInt64 {
    bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) }
}

func snapshot(_ memory: GuestMemory) -> [UInt8] {
    guard let p = memory.ramPointer(ramBase, ramSize) else { fatalError("page-walk: RAM is not RAM") }
    return Array(UnsafeBufferPointer(start: p.assumingMemoryBound(to: UInt8.self), count: Int(ramSize)))
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: count))
    guard input.count >= headerLength else { return 0 }
    guard let memory = try? GuestMemory(ramBase: ramBase, ramSize: ramSize) else {
        fatalError("page-walk: cannot map 16 KiB of guest RAM")
    }
    _ = memory.writeBytes(ramBase, Array(input[headerLength...].prefix(Int(ramSize))))
    func address(_ raw: UInt64) -> UInt64 { raw & 0xffff_ffff_ffff < ramSize ? ramBase + raw : raw }
    var registers = SystemRegisters()
    registers.tcr = le64(input[0..<8])
    registers.sctlr = le64(input[8..<16]) | 1
    registers.ttbr0 = address(le64(input[16..<24]))
    registers.ttbr1 = address(le64(input[24..<32]))
    registers.mair = le64(input[32..<40])
    let regime = TranslationRegime(registers)

    for k in 0..<8 {
        let record = input[(40 + k * 9)..<(40 + k * 9 + 9)]
        let kinds: [AccessKind] = [.read, .write, .fetch]
        let kind = kinds[Int(record[record.startIndex] % 3)]
        let va = le64(record.dropFirst())

        let before = snapshot(memory)
        let first = memory.walk(va, kind, regime, updates: false)
        let second = memory.walk(va, kind, regime, updates: false)
        check(first == second, "two walks of \(String(va, radix: 16)) without updates differ")
        check(snapshot(memory) == before, "a walk without updates wrote to RAM")

        switch first {
        case .success(let t):
            let shift = UInt64(t.sizeShift)
            check((12...42).contains(shift), "a page or block of 2^\(shift) bytes")
            let mask: UInt64 = (1 << shift) - 1
            let untagged = kind != .fetch && regime.topByteIgnored(va) ? va & 0x00ff_ffff_ffff_ffff : va
            check(t.physical & mask == untagged & mask, "offset in page lost: VA \(String(va, radix: 16)) -> PA \(String(t.physical, radix: 16))")
            check(t.physical >> regime.intermediatePhysicalBits == 0, "PA \(String(t.physical, radix: 16)) beyond the output size")
        case .failure(let fault):
            let kind = fault.status.rawValue & ~3
            check([0x00, 0x04, 0x08, 0x0c, 0x14].contains(kind), "unexpected fault status \(fault.status.rawValue)")
        }

        // With updates (TCR_EL1.HA/HD may be set): the answer may differ only where AF or dirty state is
        // involved, and only descriptor-sized, descriptor-aligned words of RAM may change.
        _ = memory.walk(va, kind, regime, updates: true)
        let after = snapshot(memory)
        var changedWords = Set<Int>()
        for i in 0..<after.count where after[i] != before[i] { changedWords.insert(i / 8) }
        check(changedWords.count <= 4, "one walk changed \(changedWords.count) descriptors")
    }
    return 0
}
