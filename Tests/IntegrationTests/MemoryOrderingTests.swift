// Store buffering across vCPUs: Tests/Guests/smp/smp-litmus.c has two CPUs each write one word and
// read the other's, separated by DMB ISH or as STLR then LDAR, 200,000 times each, and counts the
// rounds in which both read 0, which the Arm memory model forbids for both forms.
//
// An x86-64 host makes exactly this reordering unless told not to, so the rounds are timed to
// overlap; a missing host fence shows up as a non-zero count (seen in about one run in two before
// emud fenced STLR). The expected lines follow from the architecture. QEMU 7.2 is not the reference
// here: it lets STLR; LDAR reorder (about 60 of 20,000 rounds measured on this host).
// SPDX-License-Identifier: GPL-2.0-or-later

import Foundation
import Testing

@Suite("Memory ordering across vCPUs")
struct MemoryOrderingTests {
    @Test("store buffering is forbidden after DMB ISH and between STLR and LDAR", arguments: [2, 4])
    func storeBufferingIsForbidden(cpus: Int) async throws {
        let output = try await runArchitectureCheckedGuest("smp-litmus.elf", cpus: cpus)
        #expect(output == """
            STR; DMB ISH; LDR  both read 0 in 0 of 200000 rounds (ok)
            STLR; LDAR         both read 0 in 0 of 200000 rounds (ok)

            """)
    }
}
