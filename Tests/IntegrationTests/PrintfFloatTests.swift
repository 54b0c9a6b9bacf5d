// The guest runtime's printf %f/%e/%g (Tests/Guests/rt/printf-float.c), checked line by line against the host's
// C library: printf-float.elf prints "FORMAT BITS [RESULT]" for each format and value, and this test formats
// the same double (rebuilt from BITS) with glibc's vsnprintf. GuestProgramTests also compares the run with QEMU.
// SPDX-License-Identifier: GPL-2.0-or-later

import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct PrintfFloatTests {
    /// What glibc prints for `format` applied to the double with encoding `bits`.
    static func hostFormat(_ format: String, _ bits: UInt64) -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let value = Double(bitPattern: bits)
        let count = withVaList([value]) { arguments in
            buffer.withUnsafeMutableBufferPointer { vsnprintf($0.baseAddress, $0.count, format, arguments) }
        }
        return count < 0 ? "(vsnprintf failed)" : String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    @Test(arguments: GuestOptimization.allCases)
    func everyLineMatchesTheHostCLibrary(_ optimization: GuestOptimization) async throws {
        let environment = try GuestTestEnvironment.require()
        let elf = environment.guests.appendingPathComponent("printf-float-\(optimization.rawValue).elf")
        let run = try await runProcess(environment.emud, ["run", elf.path], timeout: guestTimeoutSeconds)
        try #require(run.status == 0 && !run.timedOut, "printf-float ended with \(run.ending)")
        let lines = String(decoding: run.standardOutput, as: UTF8.self).split(separator: "\n")
        var checked = 0, mismatches: [String] = []
        for line in lines {
            // "FORMAT BITS [RESULT]": FORMAT has no spaces except "% .3g", whose flag is a space.
            guard let open = line.firstIndex(of: "["), line.hasSuffix("]") else { continue }
            let head = line[..<open].dropLast()  // "FORMAT BITS"
            guard let space = head.lastIndex(of: " "), let bits = UInt64(head[head.index(after: space)...], radix: 16) else {
                continue
            }
            let format = String(head[..<space])
            let result = String(line[line.index(after: open)..<line.index(before: line.endIndex)])
            let expected = Self.hostFormat(format, bits)
            checked += 1
            if result != expected, mismatches.count < 20 {
                mismatches.append("\(format) of \(String(bits, radix: 16)): guest \"\(result)\", glibc \"\(expected)\"")
            }
        }
        let declared = lines.last.flatMap { Int($0.split(separator: " ").first ?? "") }
        #expect(declared == checked, "the guest says it printed \(declared.map(String.init) ?? "?") lines; \(checked) were checked")
        #expect(checked > 1000)
        #expect(mismatches.isEmpty, "\(mismatches.count) lines differ from glibc:\n\(mismatches.joined(separator: "\n"))")
    }
}
