// The system-register table: one row per register, unique encodings, room in the op for every index, and each
// row's documented reset value is what a freshly reset vCPU reads.
// SPDX-License-Identifier: GPL-2.0-or-later

import Testing
@testable import Machine

@Suite("System register table")
struct SystemRegisterTableTests {
    @Test("encodings are unique and every index fits the op")
    func uniqueAndIndexable() {
        let keys = SystemRegisterTable.rows.map(\.key)
        #expect(Set(keys).count == keys.count)
        #expect(SystemRegisterTable.rows.count < SystemRegisterTable.none)
        for (i, row) in SystemRegisterTable.rows.enumerated() {
            #expect(SystemRegisterTable.index(of: row.key) == i, "\(row.name)")
        }
        #expect(SystemRegisterTable.index(of: SysReg.key(3, 7, 15, 15, 7)) == SystemRegisterTable.none)
    }

    @Test("each listed reset value is what a reset vCPU reads")
    func resetValues() throws {
        let memory = try GuestMemory(ramBase: 0x4000_0000, ramSize: 1 << 20)
        let cpu = VCPU(index: 0, memory: memory)
        cpu.state.reset(entry: 0x4000_0000)
        var checked = 0
        for row in SystemRegisterTable.rows {
            guard let reset = row.reset else { continue }
            guard let read = row.read else { Issue.record("\(row.name) has a reset value but cannot be read"); continue }
            #expect(read(cpu) == reset, "\(row.name)")
            checked += 1
        }
        #expect(checked >= 30)
    }
}
