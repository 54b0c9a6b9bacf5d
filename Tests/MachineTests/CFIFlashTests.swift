// The virt board's CFI flash bank: word program and block erase through the command interface, and which of them
// drop translated code (only writes to erase blocks that instructions were fetched from).
// SPDX-License-Identifier: GPL-2.0-or-later

import Testing
@testable import Machine

@Suite("CFI flash bank")
struct CFIFlashTests {
    /// Programs one 32-bit word (both 16-bit devices) at `offset` and returns the status register.
    private func program(_ bank: CFIFlashBank, _ offset: UInt64, _ value: UInt32) -> UInt64? {
        _ = bank.write(offset: offset, size: 4, value: 0x0040_0040, cpu: 0)
        _ = bank.write(offset: offset, size: 4, value: UInt64(value), cpu: 0)
        return bank.read(offset: offset, size: 4, cpu: 0)
    }

    private func readArray(_ bank: CFIFlashBank, _ offset: UInt64) -> UInt64? {
        _ = bank.write(offset: 0, size: 4, value: 0x00ff_00ff, cpu: 0)
        return bank.read(offset: offset, size: 4, cpu: 0)
    }

    @Test("programs and erases reach the array; only writes to blocks code came from drop translated code")
    func writesDropCodeOnlyWhereCodeCameFrom() throws {
        let bank = CFIFlashBank()
        try bank.load([0x1f, 0x20, 0x03, 0xd5], path: "nop")  // a NOP at offset 0, in erase block 0
        var drops = 0
        bank.contentChanged = { drops += 1 }
        let block = CFIFlashBank.blockSize

        // Nothing was fetched yet: a program anywhere changes the array and drops nothing.
        #expect(program(bank, 2 * block + 8, 0x1234_5678) == 0x0080_0080, "status after a word program")
        #expect(readArray(bank, 2 * block + 8) == 0x1234_5678)
        #expect(drops == 0)

        // Code is fetched from block 0 (as the translator does for --bios firmware), in read-array mode.
        #expect(bank.executablePointer(offset: 0, length: 4) != nil)
        _ = program(bank, 3 * block, 0)  // another block: still nothing to drop
        #expect(drops == 0)
        _ = program(bank, 16, 0xd503_201f)  // block 0: translated code may be stale
        #expect(drops == 1)
        _ = program(bank, 20, 0xd503_201f)  // dropped already; nothing translated from it since
        #expect(drops == 1)

        // An erase of a block code came from drops it again; the block reads as erased.
        _ = readArray(bank, 0)
        #expect(bank.executablePointer(offset: 0, length: 4) != nil)
        _ = bank.write(offset: 0, size: 4, value: 0x0020_0020, cpu: 0)
        _ = bank.write(offset: 0, size: 4, value: 0x00d0_00d0, cpu: 0)
        #expect(drops == 2)
        #expect(readArray(bank, 16) == 0xffff_ffff)
        #expect(readArray(bank, 2 * block + 8) == 0x1234_5678, "the erase reached beyond its block")
        // While the bank answers commands its contents are not code.
        _ = bank.write(offset: 0, size: 4, value: 0x0070_0070, cpu: 0)
        #expect(bank.executablePointer(offset: 0, length: 4) == nil)
    }
}
