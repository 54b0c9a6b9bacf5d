// virtio-mmio, virtio-blk and virtio-rng: the guests of Tests/Guests/virtio run under QEMU (the reference) and
// under emud with the same devices in the same order, on disk images made here; the tests then read the images.
// SPDX-License-Identifier: GPL-2.0-or-later

import Foundation
import Testing

@Suite("virtio devices under emud and QEMU")
struct VirtioTests {
    static let sectorSize = 512
    static let sectorCount = 64

    /// QEMU's virtio-mmio transports are legacy (version 1) unless told otherwise; emud's are virtio 1.x.
    static let qemuModernTransports = ["-global", "virtio-mmio.force-legacy=false"]

    /// Sector k of disk `disk` starts with "disk D sector K" and is filled with (k * 7 + i + D) & 0xff, and sector
    /// 7 of disk 1 holds code at offset 64, as Tests/Guests/virtio/basic.c expects.
    static func image(disk: Int) -> Data {
        var bytes = [UInt8](repeating: 0, count: sectorSize * sectorCount)
        for k in 0..<sectorCount {
            for i in 0..<sectorSize { bytes[k * sectorSize + i] = UInt8(truncatingIfNeeded: k * 7 + i + disk) }
            let label = Array("disk \(disk) sector \(k)".utf8)
            bytes.replaceSubrange(k * sectorSize..<(k * sectorSize + label.count), with: label)
        }
        if disk == 1 {
            // mov w0, #42; ret: basic.c reads it over code that has run, and runs it.
            let at = 7 * sectorSize + 64
            bytes.replaceSubrange(at..<(at + 8), with: [0x40, 0x05, 0x80, 0x52, 0xc0, 0x03, 0x5f, 0xd6])
        }
        return Data(bytes)
    }

    /// What basic.c writes to sector 5 of the read-write disk.
    static var sectorWrittenByGuest: Data {
        var bytes = [UInt8](repeating: 0, count: sectorSize)
        for i in 20..<sectorSize { bytes[i] = UInt8(truncatingIfNeeded: i * 3) }
        bytes.replaceSubrange(0..<20, with: Array("written by the guest".utf8))
        return Data(bytes)
    }

    static func scratchDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("emud-virtio-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func guest(_ name: String, _ environment: GuestTestEnvironment) throws -> URL {
        let elf = environment.guests.appendingPathComponent("virtio-\(name).elf")
        try #require(FileManager.default.fileExists(atPath: elf.path),
                     "\(elf.path) is missing: run `make test` (or `make guests`), which builds Tests/Guests")
        return elf
    }

    /// Runs `elf` under QEMU with `qemuDevices` and under emud with `emudDevices`, each on its own fresh images
    /// (made by `images` in the directory given); returns both results and the directories.
    static func runBoth(_ elf: URL, images: (URL) throws -> Void, qemuDevices: (URL) -> [String],
                        emudDevices: (URL) -> [String]) async throws -> (qemu: ProcessOutput, emud: ProcessOutput, qemuDirectory: URL, emudDirectory: URL) {
        let environment = try GuestTestEnvironment.require()
        let qemuDirectory = try scratchDirectory(), emudDirectory = try scratchDirectory()
        try images(qemuDirectory)
        try images(emudDirectory)
        let qemu = try await runProcess(
            environment.qemu, Array(qemuArguments.dropLast()) + qemuModernTransports + qemuDevices(qemuDirectory) + ["-kernel", elf.path],
            timeout: guestTimeoutSeconds)
        try #require(!qemu.timedOut && !qemu.killedBySignal, "QEMU did not finish \(elf.lastPathComponent): \(qemu.ending)")
        let emud = try await runProcess(environment.emud, ["run"] + emudDevices(emudDirectory) + [elf.path], timeout: guestTimeoutSeconds)
        return (qemu, emud, qemuDirectory, emudDirectory)
    }

    static func text(_ data: Data) -> String { String(decoding: data, as: UTF8.self) }

    @Test("Two disks and an entropy device: emud prints what QEMU prints, and writes reach the image")
    func disksAndEntropy() async throws {
        let environment = try GuestTestEnvironment.require()
        let elf = try Self.guest("basic", environment)
        let result = try await Self.runBoth(elf, images: { directory in
            try Self.image(disk: 0).write(to: directory.appendingPathComponent("rw.img"))
            try Self.image(disk: 1).write(to: directory.appendingPathComponent("ro.img"))
        }, qemuDevices: { directory in
            ["-drive", "file=\(directory.path)/rw.img,format=raw,if=none,id=d0",
             "-device", "virtio-blk-device,drive=d0,serial=emud-disk-0",
             "-drive", "file=\(directory.path)/ro.img,format=raw,if=none,id=d1,readonly=on",
             "-device", "virtio-blk-device,drive=d1",
             "-device", "virtio-rng-device"]
        }, emudDevices: { directory in
            ["--drive", "file=\(directory.path)/rw.img,format=raw,serial=emud-disk-0",
             "--drive", "file=\(directory.path)/ro.img,format=raw,readonly=on",
             "--device", "virtio-rng"]
        })
        defer { for d in [result.qemuDirectory, result.emudDirectory] { try? FileManager.default.removeItem(at: d) } }
        try #require(result.qemu.status == 0 && result.qemu.standardError.isEmpty,
                     "basic fails under QEMU (\(result.qemu.ending)), so it cannot judge emud:\n\(Self.text(result.qemu.standardOutput))\(Self.text(result.qemu.standardError))")
        if let difference = firstDifference(expected: result.qemu.standardOutput, actual: result.emud.standardOutput,
                                            expectedName: "QEMU", actualName: "emud") {
            Issue.record("virtio basic: \(difference)\nemud's stderr:\n\(Self.text(result.emud.standardError.suffix(2000)))")
        }
        #expect(result.emud.status == 0, "emud ended with \(result.emud.ending)")

        for (name, directory) in [("QEMU", result.qemuDirectory), ("emud", result.emudDirectory)] {
            let written = try Data(contentsOf: directory.appendingPathComponent("rw.img"))
            var expected = Self.image(disk: 0)
            let at = 5 * Self.sectorSize
            expected.replaceSubrange(at..<(at + Self.sectorSize), with: Self.sectorWrittenByGuest)
            #expect(written == expected, "under \(name), the read-write image should differ from its original in sector 5 only, which holds what the guest wrote")
            let readOnly = try Data(contentsOf: directory.appendingPathComponent("ro.img"))
            #expect(readOnly == Self.image(disk: 1), "under \(name), the read-only image changed")
        }
    }

    @Test("A driver that breaks the virtqueue rules gets DEVICE_NEEDS_RESET and emud keeps running")
    func hostileDriver() async throws {
        let environment = try GuestTestEnvironment.require()
        let elf = try Self.guest("hostile", environment)
        let result = try await Self.runBoth(elf, images: { directory in
            try Self.image(disk: 0).write(to: directory.appendingPathComponent("disk.img"))
        }, qemuDevices: { directory in
            ["-drive", "file=\(directory.path)/disk.img,format=raw,if=none,id=d0", "-device", "virtio-blk-device,drive=d0"]
        }, emudDevices: { directory in
            ["--drive", "file=\(directory.path)/disk.img,format=raw"]
        })
        defer { for d in [result.qemuDirectory, result.emudDirectory] { try? FileManager.default.removeItem(at: d) } }
        try #require(result.qemu.status == 0, "hostile fails under QEMU (\(result.qemu.ending)):\n\(Self.text(result.qemu.standardOutput))")
        #expect(!result.emud.timedOut && !result.emud.killedBySignal && result.emud.status == 0,
                "emud ended with \(result.emud.ending):\n\(Self.text(result.emud.standardOutput))\(Self.text(result.emud.standardError.suffix(2000)))")

        func split(_ data: Data) -> (compared: [String], strict: [String]) {
            let lines = Self.text(data).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            return (lines.filter { !$0.hasPrefix("[strict]") }, lines.filter { $0.hasPrefix("[strict]") })
        }
        let qemu = split(result.qemu.standardOutput), emud = split(result.emud.standardOutput)
        #expect(qemu.compared.contains("done"), "the hostile guest did not finish under QEMU")
        if let difference = firstDifference(expected: Data(qemu.compared.joined(separator: "\n").utf8),
                                            actual: Data(emud.compared.joined(separator: "\n").utf8),
                                            expectedName: "QEMU", actualName: "emud") {
            Issue.record("virtio hostile (cases QEMU defines): \(difference)")
        }
        // Where QEMU is lax, the virtio rules decide: every such request breaks the device, which then serves
        // nothing until it is reset, and works again after.
        let cases = emud.strict.filter { $0.contains("needs-reset") }
        #expect(cases.count == 5, "expected the five [strict] cases, got:\n\(emud.strict.joined(separator: "\n"))")
        for line in cases { #expect(line.contains("needs-reset yes") && line.contains("returned no"), "\(line)") }
        for line in emud.strict where line.contains("while broken") { #expect(line.hasSuffix("ignored"), "\(line)") }
        for line in emud.strict where line.contains("then a read") {
            #expect(line.hasSuffix("status 0 data \"disk 0 sector 1\""), "\(line)")
        }
        #expect(Self.text(result.emud.standardError).contains("needs a reset"), "emud did not report the device errors on stderr")
        let image = try Data(contentsOf: result.emudDirectory.appendingPathComponent("disk.img"))
        #expect(image == Self.image(disk: 0), "the hostile guest only reads, yet the image changed")
    }

    @Test("machine-create takes drives and devices; the worker writes its read-write drive and not its read-only one")
    func daemonDrives() async throws {
        let environment = try GuestTestEnvironment.require()
        let elf = try Self.guest("basic", environment)
        let directory = try ScratchDirectory("virtio-daemon")
        defer { directory.remove() }
        let readWrite = directory.file("rw.img"), readOnly = directory.file("ro.img")
        try Self.image(disk: 0).write(to: URL(fileURLWithPath: readWrite))
        try Self.image(disk: 1).write(to: URL(fileURLWithPath: readOnly))
        let socket = directory.file("control.sock")
        let daemon = try DaemonProcess.emud(environment, control: socket)
        defer { daemon.stop() }
        let client = try await daemon.connect(socket)
        defer { client.close() }

        let missing = try await client.execute("machine-create", ["id": "m", "image": elf.path, "drives": [["file": directory.file("none.img")]]])
        #expect(missing.errorDescription.contains("cannot open drive"), "\(missing)")
        let qcow = try await client.execute("machine-create", ["id": "q", "image": elf.path, "drives": [["file": readWrite, "format": "qcow2"]]])
        #expect(qcow.errorDescription.contains("qemu-img convert"), "\(qcow)")
        let device = try await client.execute("machine-create", ["id": "d", "image": elf.path, "devices": ["virtio-gpu"]])
        #expect(device.errorDescription.contains("virtio-rng"), "\(device)")

        _ = try await client.returnValue("machine-create", [
            "id": "disks", "image": elf.path, "devices": ["virtio-rng"],
            "drives": [["file": readWrite, "format": "raw", "serial": "emud-disk-0"], ["file": readOnly, "readonly": true]],
        ])
        let waited = try await client.returnValue("machine-wait", ["machine": "disks", "timeout": 60], timeout: 90)
        let console = try await client.returnValue("console-read", ["machine": "disks"])["data"].string ?? ""
        #expect(waited["state"].string == "exited" && waited["exit_code"].int == 0, "\(waited)\n\(console)")
        #expect(console.contains("read back sector 5: status 0 matches yes"), "\(console)")
        var expected = Self.image(disk: 0)
        expected.replaceSubrange(5 * Self.sectorSize..<6 * Self.sectorSize, with: Self.sectorWrittenByGuest)
        #expect(try Data(contentsOf: URL(fileURLWithPath: readWrite)) == expected, "the worker's write did not reach the image")
        #expect(try Data(contentsOf: URL(fileURLWithPath: readOnly)) == Self.image(disk: 1), "the read-only image changed")
    }

    @Test("emud run refuses drive and device options it cannot honour, and says why")
    func badOptions() async throws {
        let environment = try GuestTestEnvironment.require()
        let elf = try Self.guest("basic", environment)
        let directory = try ScratchDirectory("virtio-options")
        defer { directory.remove() }
        let disk = directory.file("disk.img")
        try Self.image(disk: 0).write(to: URL(fileURLWithPath: disk))
        let cases: [([String], String)] = [
            (["--drive", "file=\(directory.file("none.img")),format=raw"], "cannot open drive"),
            (["--drive", "format=raw"], "file=PATH is missing"),
            (["--drive", "file=\(disk),format=qcow2"], "qemu-img convert"),
            (["--drive", "file=\(disk),if=scsi"], "if=scsi is not available"),
            (["--drive", "file=\(disk),readonly=maybe"], "readonly must be on or off"),
            (["--drive", "file=\(disk),cache=none"], "unknown key 'cache'"),
            (["--drive", "file=\(directory.path),readonly=on"], "not a regular file"),
            (["--device", "virtio-gpu"], "virtio-rng"),
            (Array(repeating: ["--drive", "file=\(disk),readonly=on"], count: 33).flatMap { $0 }, "do not fit"),
        ]
        for (options, message) in cases {
            let run = try await runProcess(environment.emud, ["run"] + options + [elf.path], timeout: guestTimeoutSeconds)
            let errors = Self.text(run.standardError)
            #expect(run.status == 2 && !run.killedBySignal && errors.contains(message), "\(options.prefix(2)): \(run.ending): \(errors)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: disk)) == Self.image(disk: 0))
    }
}
