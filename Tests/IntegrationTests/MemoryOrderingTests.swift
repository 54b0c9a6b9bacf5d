// Store buffering across vCPUs: Tests/Guests/smp/smp-litmus.c has two CPUs each write one word and
// read the other's, separated by DMB ISH or as STLR then LDAR, 200,000 times each, and counts the
// rounds in which both read 0, which the Arm memory model forbids for both forms.
//
// An x86-64 host makes exactly this reordering unless told not to, so the rounds are timed to
// overlap; a missing host fence shows up as a non-zero count (seen in about one run in two before
// emud fenced STLR). The expected lines follow from the architecture. QEMU 7.2 is not the reference
// here: it lets STLR; LDAR reorder (about 60 of 20,000 rounds measured on this host).
//
// A zero count means something only if the two CPUs really ran their write-then-read at the same
// time; vCPUs taking turns on one host thread, or never meeting on a busy host, would pass as well.
// So the guest also counts the rounds in which each CPU, right after its read, saw that the other had
// already entered the same round's window, and the test requires enough of them. On this 2-core host
// about 15-25 % of rounds overlap (28,000-50,000 of 200,000) while other work runs; with emud pinned
// to one core (`taskset -c 0`) the count collapses and the test fails, as it should.
// SPDX-License-Identifier: GPL-2.0-or-later

import Foundation
import Testing

@Suite("Memory ordering across vCPUs")
struct MemoryOrderingTests {
    @Test("store buffering is forbidden after DMB ISH and between STLR and LDAR", arguments: [2, 4])
    func storeBufferingIsForbidden(cpus: Int) async throws {
        let output = try await runArchitectureCheckedGuest("smp-litmus.elf", cpus: cpus)
        let lines = output.split(separator: "\n")
        #expect(lines.count == 2, "smp-litmus printed:\n\(output)")
        for (line, kind) in zip(lines, ["STR; DMB ISH; LDR ", "STLR; LDAR        "]) {
            let prefix = "\(kind) both read 0 in 0 of \(Self.rounds) rounds (ok); both inside at once in "
            #expect(line.hasPrefix(prefix), "expected \"\(prefix)N rounds\", got \"\(line)\"")
            let overlapping = line.hasPrefix(prefix) && line.hasSuffix(" rounds")
                ? Int(line.dropFirst(prefix.count).dropLast(" rounds".count)) : nil
            let why = "\(kind.trimmingCharacters(in: .whitespaces)) on \(cpus) CPUs: the two CPUs were inside the window "
                + "together in only \(overlapping.map(String.init) ?? "?") of \(Self.rounds) rounds (at least "
                + "\(Self.minimumOverlappingRounds) needed for a zero count to mean anything): the vCPUs did not run side by side"
            #expect((overlapping ?? 0) >= Self.minimumOverlappingRounds, Comment(rawValue: why))
        }
    }

    static let rounds = 200_000
    /// 1 % of the rounds: a tenth or less of what overlaps on a busy 2-core host.
    static let minimumOverlappingRounds = 2_000
}
