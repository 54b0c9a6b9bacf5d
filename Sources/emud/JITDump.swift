// SPDX-License-Identifier: GPL-2.0-or-later
import CCapstone
import Foundation
import Machine

/// `emud run --dump-jit PATH`: every block the translator compiles, each guest instruction (disassembled as A64)
/// followed by the x86-64 code made for it, then the block's exits and slow paths. Blocks come from every vCPU's
/// thread; one lock keeps them whole. Disassembly is capstone's, for both architectures.
final class JITDumpWriter: @unchecked Sendable {
    private let lock = NSLock()
    private let output: FileHandle
    private var guestDisassembler: csh = 0
    private var hostDisassembler: csh = 0
    private var opened = false

    /// Writes to `path`, or to standard error for "-". Fails if the file cannot be created or capstone cannot
    /// open either architecture.
    init(path: String) throws {
        if path == "-" {
            output = FileHandle.standardError
        } else {
            guard FileManager.default.createFile(atPath: path, contents: nil),
                  let handle = FileHandle(forWritingAtPath: path) else {
                throw JITDumpError(description: "cannot create \(path)")
            }
            output = handle
        }
        guard cs_open(CS_ARCH_ARM64, CS_MODE_LITTLE_ENDIAN, &guestDisassembler) == CS_ERR_OK else {
            throw JITDumpError(description: "capstone cannot disassemble A64")
        }
        guard cs_open(CS_ARCH_X86, CS_MODE_64, &hostDisassembler) == CS_ERR_OK else {
            cs_close(&guestDisassembler)
            throw JITDumpError(description: "capstone cannot disassemble x86-64")
        }
        opened = true
    }

    deinit {
        if opened {
            cs_close(&guestDisassembler)
            cs_close(&hostDisassembler)
        }
    }

    /// The function to give `MachineConfiguration.jitDump`.
    var sink: @Sendable (JITBlockDump) -> Void {
        { [self] block in write(block) }
    }

    private func write(_ block: JITBlockDump) {
        lock.lock()
        defer { lock.unlock() }
        let count = block.instructionOffsets.count
        var text = "---- block 0x\(hex(block.pc)) on cpu \(block.cpu): \(count) instruction\(count == 1 ? "" : "s"), "
            + "\(block.hostCode.count) bytes of host code at 0x\(hex(block.hostAddress))\n"
        text += "  entry:\n" + host(block, from: 0, to: block.instructionOffsets.first ?? block.tailOffset)
        for i in 0..<count {
            let pc = block.pc &+ UInt64(i) &* 4
            let guest: String
            if block.guestCode.count >= 4 * (i + 1) {
                let bytes = Array(block.guestCode[4 * i..<4 * i + 4])
                let word = bytes.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
                let lines = disassemble(guestDisassembler, bytes, at: pc)
                guest = String(format: "%08x  ", word) + (lines.first?.text ?? ".inst 0x\(String(word, radix: 16))")
            } else {
                guest = "(not in RAM)"
            }
            let summary = i < block.instructionSummaries.count ? block.instructionSummaries[i] : ""
            text += "0x\(hex(pc)):  \(guest)    ; \(summary)\n"
            let start = block.instructionOffsets[i]
            let end = i + 1 < count ? block.instructionOffsets[i + 1] : block.tailOffset
            text += host(block, from: start, to: end)
        }
        text += "  exits and slow paths:\n" + host(block, from: block.tailOffset, to: block.hostCode.count) + "\n"
        output.write(Data(text.utf8))
    }

    /// The host instructions in bytes start..<end of the block's code, one per line.
    private func host(_ block: JITBlockDump, from start: Int, to end: Int) -> String {
        guard start >= 0, start <= end, end <= block.hostCode.count else { return "" }
        var text = ""
        let address = block.hostAddress &+ UInt64(start)
        for line in disassemble(hostDisassembler, Array(block.hostCode[start..<end]), at: address) {
            text += "      0x\(hex(line.address)):  \(line.text)\n"
        }
        return text
    }

    /// Disassembles `bytes` at `address`; bytes capstone cannot read (the 8-byte link slots) end the listing
    /// with a `.byte` line for the rest.
    private func disassemble(_ handle: csh, _ bytes: [UInt8], at address: UInt64) -> [(address: UInt64, text: String)] {
        var lines: [(UInt64, String)] = []
        var offset = 0
        while offset < bytes.count {
            var insn: UnsafeMutablePointer<cs_insn>? = nil
            let slice = Array(bytes[offset...])
            let decoded = slice.withUnsafeBufferPointer { buffer in
                cs_disasm(handle, buffer.baseAddress, buffer.count, address &+ UInt64(offset), 0, &insn)
            }
            if decoded > 0, let insn {
                for k in 0..<decoded {
                    let one = insn[k]
                    let mnemonic = withUnsafeBytes(of: one.mnemonic) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                    let operands = withUnsafeBytes(of: one.op_str) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                    lines.append((one.address, operands.isEmpty ? mnemonic : "\(mnemonic) \(operands)"))
                    offset += Int(one.size)
                }
                cs_free(insn, decoded)
            }
            if offset < bytes.count {
                // Data (a link slot), or what capstone stopped at: the next 8 bytes (or fewer) as data.
                let chunk = bytes[offset..<min(offset + 8, bytes.count)]
                lines.append((address &+ UInt64(offset), ".byte " + chunk.map { String(format: "0x%02x", $0) }.joined(separator: ", ")))
                offset += chunk.count
            }
        }
        return lines
    }

    private func hex(_ value: UInt64) -> String { String(value, radix: 16) }
}

struct JITDumpError: Error, CustomStringConvertible {
    var description: String
}
