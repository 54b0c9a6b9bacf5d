// Booting as QEMU's -M virt does: the device tree (read back by dtc, compared with QEMU's), --dtb fix-ups, arm64
// Image loading (plain and gzip), and Debian's own kernel booting to a busybox shell.
// SPDX-License-Identifier: GPL-2.0-or-later

import Foundation
import Testing

/// The device tree compiler, which reads blobs independently of emud.
private func requireDTC() throws -> URL {
    guard let dtc = findExecutable("dtc") else {
        throw TestEnvironmentError(description: "dtc is not installed: `apt-get install device-tree-compiler` (make test installs it)")
    }
    return dtc
}

/// A DTB as dtc decompiles it: node path -> its property lines (trimmed, without the node's children).
private func decompile(_ dtb: String) async throws -> [String: [String]] {
    let out = try await runProcess(try requireDTC(), ["-q", "-I", "dtb", "-O", "dts", dtb], timeout: 30)
    #expect(out.status == 0, "dtc could not read \(dtb): \(String(decoding: out.standardError, as: UTF8.self))")
    // Paths without the leading slash ("cpus/cpu@0"); the root is "/".
    var nodes: [String: [String]] = [:]
    var stack: [String] = []
    var path: String { stack.count <= 1 ? "/" : stack.dropFirst().joined(separator: "/") }
    for raw in String(decoding: out.standardOutput, as: UTF8.self).split(separator: "\n") {
        let line = raw.trimmingCharacters(in: .whitespaces)
        if line.hasSuffix("{") {
            stack.append(line.dropLast().trimmingCharacters(in: .whitespaces))
            nodes[path, default: []] += []
        } else if line == "};" {
            _ = stack.popLast()
        } else if line.hasSuffix(";"), !stack.isEmpty {
            nodes[path, default: []].append(line)
        }
    }
    return nodes
}

private func temporaryPath(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("emud-boot-\(getpid())-\(name)").path
}

/// A minimal arm64 Image: the 64-byte header (text_offset 0, image_size 64 KiB, little-endian, 4 KiB pages,
/// anywhere in RAM), then code that checks the boot protocol's registers: X0 points at a DTB (its magic
/// 0xd00dfeed) and X1-X3 are zero. It prints "OK" (or "BK") on the PL011 and powers off through PSCI.
private let bootProtocolImage: [UInt32] = [
    0x1400_0010,  // b     0x40
    0, 0, 0,      // code1, text_offset
    0x0001_0000, 0,  // image_size
    0xa, 0,       // flags
    0, 0, 0, 0, 0, 0,
    0x644d_5241,  // "ARM\x64"
    0,
    0xb940_0009,  // ldr   w9, [x0]
    0x5281_ba04,  // mov   w4, #0xdd0
    0x72bd_bfc4,  // movk  w4, #0xedfe, lsl #16
    0x6b04_013f,  // cmp   w9, w4
    0xd2a1_2005,  // mov   x5, #0x9000000
    0x5280_0846,  // mov   w6, #'B'
    0x5400_00a1,  // b.ne  0x6c
    0xaa02_0027,  // orr   x7, x1, x2
    0xaa03_00e7,  // orr   x7, x7, x3
    0xb500_0047,  // cbnz  x7, 0x6c
    0x5280_09e6,  // mov   w6, #'O'
    0x3900_00a6,  // strb  w6, [x5]
    0x5280_0966,  // mov   w6, #'K'
    0x3900_00a6,  // strb  w6, [x5]
    0x5280_0146,  // mov   w6, #'\n'
    0x3900_00a6,  // strb  w6, [x5]
    0x5280_0100,  // mov   w0, #0x8
    0x72b0_8000,  // movk  w0, #0x8400, lsl #16   (PSCI SYSTEM_OFF)
    0xd400_0002,  // hvc   #0
]

private func writeImage(_ words: [UInt32], to path: String) {
    var bytes: [UInt8] = []
    for w in words { for k in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: w >> (8 * UInt32(k)))) } }
    FileManager.default.createFile(atPath: path, contents: Data(bytes))
}

@Suite(.serialized) struct BootTests {
    private func text(_ data: Data) -> String { String(decoding: data, as: UTF8.self) }

    /// Every node emud writes is in QEMU's tree for the same machine with the same properties (phandle values
    /// aside, which each tree numbers its own way), and the nodes a guest needs are all there.
    @Test func deviceTreeMatchesQEMUs() async throws {
        let env = try GuestTestEnvironment.require()
        let ours = temporaryPath("emud.dtb"), theirs = temporaryPath("qemu.dtb")
        defer { try? FileManager.default.removeItem(atPath: ours); try? FileManager.default.removeItem(atPath: theirs) }
        let dumped = try await runProcess(env.emud, ["dumpdtb", "--cpus", "4", "--memory", "1G", ours], timeout: 30)
        #expect(dumped.status == 0, "emud dumpdtb: \(text(dumped.standardError))")
        let q = try await runProcess(env.qemu, ["-M", "virt,dumpdtb=\(theirs)", "-cpu", "cortex-a76", "-smp", "4", "-m", "1G",
                                                "-nographic", "-net", "none"], timeout: 60)
        #expect(q.status == 0, "qemu dumpdtb: \(text(q.standardError))")
        let emudTree = try await decompile(ours), qemuTree = try await decompile(theirs)

        let required = ["/", "memory@40000000", "cpus", "cpus/cpu@0", "cpus/cpu@3", "psci", "intc@8000000", "timer",
                        "apb-pclk", "pl011@9000000", "pl031@9010000", "chosen", "virtio_mmio@a000000", "virtio_mmio@a003e00"]
        for node in required { #expect(emudTree[node] != nil, "emud's tree has no \(node)") }
        #expect(emudTree.keys.filter { $0.hasPrefix("virtio_mmio@") }.count == 32)

        let phandleValued: Set<String> = ["phandle", "interrupt-parent", "clocks"]
        func comparable(_ lines: [String]) -> [String] {
            lines.filter { line in !phandleValued.contains(where: { line.hasPrefix($0 + " =") }) }.sorted()
        }
        for (node, properties) in emudTree where node != "chosen" {
            guard let reference = qemuTree[node] else {
                Issue.record("emud writes \(node), which QEMU's virt does not have")
                continue
            }
            #expect(comparable(properties) == comparable(reference), "node \(node) differs from QEMU's")
        }
        #expect(emudTree["chosen"]?.contains("stdout-path = \"/pl011@9000000\";") == true)
    }

    /// A user's tree (QEMU's own, for 128 MiB) booted with --dtb gets emud's /memory and /chosen.
    @Test func userDeviceTreeIsFixedUp() async throws {
        let env = try GuestTestEnvironment.require()
        let user = temporaryPath("user.dtb"), out = temporaryPath("fixed.dtb")
        let kernel = temporaryPath("fixup-Image"), initrd = temporaryPath("fixup-initrd")
        defer { for p in [user, out, kernel, initrd] { try? FileManager.default.removeItem(atPath: p) } }
        writeImage(bootProtocolImage, to: kernel)
        FileManager.default.createFile(atPath: initrd, contents: Data(repeating: 0x5a, count: 10_000))
        let q = try await runProcess(env.qemu, ["-M", "virt,dumpdtb=\(user)", "-cpu", "cortex-a76", "-m", "128M",
                                                "-nographic", "-net", "none"], timeout: 60)
        #expect(q.status == 0)
        let dumped = try await runProcess(env.emud, ["dumpdtb", "--memory", "256M", "--kernel", kernel, "--initrd", initrd,
                                                     "--dtb", user, "--append", "root=/dev/vda quiet", out], timeout: 30)
        #expect(dumped.status == 0, "emud dumpdtb --dtb: \(text(dumped.standardError))")
        let tree = try await decompile(out)
        #expect(tree["memory@40000000"]?.contains("reg = <0x00 0x40000000 0x00 0x10000000>;") == true)
        let chosen = tree["chosen"] ?? []
        #expect(chosen.contains("bootargs = \"root=/dev/vda quiet\";"))
        // The initrd goes at RAM + min(RAM / 2, 128 MiB) (booting as QEMU's hw/arm/boot.c): 0x48000000 here.
        #expect(chosen.contains("linux,initrd-start = <0x00 0x48000000>;"), "\(chosen)")
        #expect(chosen.contains("linux,initrd-end = <0x00 0x48002710>;"), "\(chosen)")
        // The user's other nodes are kept (QEMU's tree has PCIe, which emud's own does not).
        #expect(tree.keys.contains { $0.hasPrefix("pcie@") })

        let garbage = temporaryPath("garbage.dtb")
        defer { try? FileManager.default.removeItem(atPath: garbage) }
        FileManager.default.createFile(atPath: garbage, contents: Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7) }))
        let refused = try await runProcess(env.emud, ["run", "--kernel", kernel, "--dtb", garbage], timeout: 30)
        #expect(refused.status == 2)
        #expect(text(refused.standardError).contains("not a valid device tree"), "\(text(refused.standardError))")
    }

    /// The same tiny Image, plain and gzip-compressed, finds what the boot protocol promises, on emud and on QEMU.
    @Test func imageHeaderAndGzipBootProtocol() async throws {
        let env = try GuestTestEnvironment.require()
        guard let gzip = findExecutable("gzip") else { throw TestEnvironmentError(description: "gzip is missing: apt-get install gzip") }
        let plain = temporaryPath("Image"), packed = temporaryPath("Image.gz")
        defer { try? FileManager.default.removeItem(atPath: plain); try? FileManager.default.removeItem(atPath: packed) }
        writeImage(bootProtocolImage, to: plain)
        let zipped = try await runProcess(URL(fileURLWithPath: "/bin/sh"), ["-c", "\(gzip.path) -c '\(plain)' > '\(packed)'"], timeout: 30)
        #expect(zipped.status == 0)
        for kernel in [plain, packed] {
            let ours = try await runProcess(env.emud, ["run", "--kernel", kernel, "--cpus", "2"], timeout: 60)
            #expect(ours.status == 0 && text(ours.standardOutput) == "OK\n",
                    "emud --kernel \(kernel): \(ours.ending), stdout \(text(ours.standardOutput)), stderr \(text(ours.standardError))")
            let reference = try await runProcess(env.qemu, ["-M", "virt", "-cpu", "cortex-a76", "-smp", "2", "-nographic", "-net", "none",
                                                            "-kernel", kernel], timeout: 60)
            #expect(text(reference.standardOutput).contains("OK"), "QEMU on the same Image: \(text(reference.standardOutput))")
        }

        // Hostile or oversized input is a clean refusal.
        let big = temporaryPath("big-Image"), truncated = temporaryPath("truncated.gz")
        defer { try? FileManager.default.removeItem(atPath: big); try? FileManager.default.removeItem(atPath: truncated) }
        var header = bootProtocolImage
        header[4] = 0x4000_0000  // image_size 1 GiB
        writeImage(header, to: big)
        let tooBig = try await runProcess(env.emud, ["run", "--kernel", big, "--memory", "64M"], timeout: 30)
        #expect(tooBig.status == 2 && text(tooBig.standardError).contains("does not fit"), "\(text(tooBig.standardError))")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: packed))
        FileManager.default.createFile(atPath: truncated, contents: bytes.prefix(bytes.count / 2))
        let cut = try await runProcess(env.emud, ["run", "--kernel", truncated], timeout: 30)
        #expect(cut.status == 2 && text(cut.standardError).contains("gzip"), "\(text(cut.standardError))")
    }

    @Test(arguments: [1, 4]) func debianKernelBootsToBusybox(cpus: Int) async throws {
        let env = try GuestTestEnvironment.require()
        let linux = try LinuxGuest.require()
        let session = try ConsoleSession(env.emud, ["run", "--kernel", linux.image, "--initrd", linux.initramfs,
                                                    "--append", "console=ttyAMA0", "--cpus", String(cpus), "--memory", "1G"])
        defer { session.terminate() }
        guard session.waitForBoot(LinuxGuest.marker, timeout: 900, what: "Debian kernel at --cpus \(cpus) reached its busybox shell") else { return }
        session.send("echo U-$(uname -m)-U\n")
        #expect(session.waitFor("U-aarch64-U", timeout: 120), "uname -m: \(session.tail(500))")
        session.send("echo N-$(nproc)-N\n")
        #expect(session.waitFor("N-\(cpus)-N", timeout: 120), "nproc: \(session.tail(500))")
        session.send("cat /proc/cpuinfo; echo C-$(grep -c ^processor /proc/cpuinfo)-C\n")
        #expect(session.waitFor("C-\(cpus)-C", timeout: 120), "cpuinfo: \(session.tail(1500))")
        // The PL031 gives the guest the host's date.
        let year = Calendar(identifier: .gregorian).component(.year, from: Date())
        session.send("echo D-$(date -u +%Y)-D\n")
        #expect(session.waitFor("D-\(year)-D", timeout: 120), "date: \(session.tail(300))")
        // Cortex-A76's part number, as MIDR_EL1 reports it.
        #expect(session.output.contains("CPU part\t: 0xd0b"))
        // A kernel that hit a bug, an oops or an interrupt nobody handled (a stuck device line) prints a trace.
        #expect(!session.output.contains("Call trace:"), "the kernel printed a trace: \(session.output.components(separatedBy: "Call trace:").first?.suffix(800) ?? "")")
        session.send("poweroff -f\n")
        let status = session.waitForExit(timeout: 120)
        #expect(status == 0, "poweroff -f: emud ended with \(status.map(String.init) ?? "nothing (still running)"); \(session.tail(500))")
    }
}

extension BootTests {
    /// A raw ext2 image made on the host (mke2fs -d) is a virtio-blk disk: the kernel (with the modules the
    /// initramfs carries) mounts it, reads a file whose checksum the host computed, writes one, and the host finds
    /// it in the image afterwards with debugfs.
    @Test func debianKernelMountsAVirtioDisk() async throws {
        let env = try GuestTestEnvironment.require()
        let linux = try LinuxGuest.require()
        func systemTool(_ name: String) -> URL? {
            findExecutable(name) ?? ["/usr/sbin", "/sbin"].map { URL(fileURLWithPath: $0).appendingPathComponent(name) }
                .first { FileManager.default.isExecutableFile(atPath: $0.path) }
        }
        guard let mke2fs = systemTool("mke2fs"), let debugfs = systemTool("debugfs") else {
            throw TestEnvironmentError(description: "mke2fs and debugfs are missing: apt-get install e2fsprogs")
        }
        let directory = temporaryPath("disk")
        try FileManager.default.createDirectory(atPath: directory + "/root", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var content = ""
        for i in 0..<2000 { content += "line \(i) of a file the host wrote\n" }
        try content.write(toFile: directory + "/root/host.txt", atomically: true, encoding: .utf8)
        let image = directory + "/disk.img"
        let made = try await runProcess(mke2fs, ["-q", "-t", "ext2", "-d", directory + "/root", image, "8M"], timeout: 60)
        try #require(made.status == 0, "mke2fs: \(String(decoding: made.standardError, as: UTF8.self))")
        let md5 = try await runProcess(try #require(findExecutable("md5sum")), [directory + "/root/host.txt"], timeout: 30)
        let expected = String(String(decoding: md5.standardOutput, as: UTF8.self).prefix(32))

        let session = try ConsoleSession(env.emud, ["run", "--kernel", linux.image, "--initrd", linux.initramfs,
                                                    "--append", "console=ttyAMA0", "--memory", "1G",
                                                    "--drive", "file=\(image),format=raw"])
        defer { session.terminate() }
        guard session.waitForBoot(LinuxGuest.marker, timeout: 900, what: "Debian kernel with a virtio disk reached its busybox shell") else { return }
        session.send("load-disk && mkdir -p /mnt && mount -t ext2 /dev/vda /mnt && echo M-$(md5sum /mnt/host.txt | cut -c1-32)-M\n")
        #expect(session.waitFor("M-\(expected)-M", timeout: 300), "mount and md5sum: \(session.tail(1500))")
        session.send("echo written-by-the-guest > /mnt/guest.txt && umount /mnt && echo U-done-U\n")
        #expect(session.waitFor("U-done-U", timeout: 300), "write and umount: \(session.tail(1000))")
        #expect(!session.output.contains("Call trace:"), "the kernel printed a trace: \(session.tail(2000))")
        session.send("poweroff -f\n")
        let status = session.waitForExit(timeout: 120)
        #expect(status == 0, "poweroff -f: emud ended with \(status.map(String.init) ?? "nothing (still running)")")
        let read = try await runProcess(debugfs, ["-R", "cat /guest.txt", image], timeout: 60)
        #expect(String(decoding: read.standardOutput, as: UTF8.self) == "written-by-the-guest\n",
                "the image on the host holds: \(String(decoding: read.standardOutput + read.standardError, as: UTF8.self))")
    }

    /// gdb on a running kernel at 4 vCPUs: attach to the booted kernel, a hardware breakpoint at a kernel virtual
    /// address (the uname system call, whose address the kernel's own /proc/kallsyms gives; Debian's package has
    /// no System.map), which a command typed at the shell reaches; registers, disassembly, a step, the four CPUs
    /// as threads, detach, and the kernel goes on.
    @Test func gdbOnABootedKernel() async throws {
        let env = try GuestTestEnvironment.require()
        guard let gdb = findExecutable("gdb-multiarch") else {
            throw TestEnvironmentError(description: "gdb-multiarch is missing: apt-get install gdb-multiarch (make test installs it)")
        }
        let linux = try LinuxGuest.require()
        let directory = temporaryPath("kernel-gdb")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socket = directory + "/gdb.sock"
        let session = try ConsoleSession(env.emud, ["run", "--kernel", linux.image, "--initrd", linux.initramfs,
                                                          "--append", "console=ttyAMA0", "--cpus", "4", "--memory", "1G",
                                                          "--gdb", "unix:\(socket)"])
        defer { session.terminate() }
        guard session.waitForBoot(LinuxGuest.marker, timeout: 900, what: "Debian kernel for gdb at --cpus 4 reached its busybox shell") else { return }
        let before = session.length
        // The shell echoes the line as typed: the marker the answer carries ("K2-") is not in the echo.
        session.send("echo K$((1+1))-$(grep -w __arm64_sys_newuname /proc/kallsyms | cut -d' ' -f1)-K\n")
        try #require(session.waitFor("-K", timeout: 120, after: before) && session.waitFor("K2-", timeout: 120, after: before),
                     "kallsyms: \(session.tail(500))")
        // The answer may still be arriving: wait for its 16 digits and the closing marker.
        var printed = ""
        let deadline = Date(timeIntervalSinceNow: 60)
        while Date() < deadline {
            let after = session.output.components(separatedBy: "K2-").last ?? ""
            if let end = after.range(of: "-K") { printed = String(after[..<end.lowerBound]); break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        let address = try #require(UInt64(printed, radix: 16), "no address for __arm64_sys_newuname in: \(session.tail(500))")
        try #require(address >> 48 == 0xffff, "a kernel virtual address: \(printed)")

        let script = directory + "/kernel.gdb"
        try """
            set pagination off
            hbreak *\(String(format: "%#llx", address))
            continue
            printf "PC=%#lx\\n", $pc
            info registers sp cpsr
            x/4i $pc
            stepi
            printf "STEPPED=%#lx\\n", $pc
            info threads
            delete
            detach
            """.write(toFile: script, atomically: true, encoding: .utf8)
        // gdb stops the machine on attach and runs it again on `continue`; the typed command reaches the
        // breakpoint once the machine runs.
        async let gdbRun = runProcess(gdb, ["-q", "-nx", "-batch", "-ex", "set remotetimeout 30",
                                                "-ex", "target remote \(socket)", "-x", script], timeout: 300)
        try await Task.sleep(nanoseconds: 3_000_000_000)
        let typed = session.length
        session.send("uname -s\n")
        let run = try await gdbRun
        let output = String(decoding: run.standardOutput + run.standardError, as: UTF8.self)
        let hex = String(address, radix: 16)
        #expect(output.contains("Hardware assisted breakpoint 1 at 0x\(hex)"), "\(output)")
        #expect(output.contains("PC=0x\(hex)"), "gdb did not stop at the breakpoint:\n\(output)")
        #expect(output.contains("cpsr"), "\(output)")
        #expect(output.components(separatedBy: "\n").filter { $0.contains(":\t") && $0.contains("0x") }.count >= 4,
                "x/4i printed no four instructions:\n\(output)")
        #expect(output.contains("STEPPED=0x") && !output.contains("STEPPED=0x\(hex)\n"), "stepi did not move:\n\(output)")
        for thread in 1...4 { #expect(output.contains("Thread \(thread) ") || output.contains("Thread 1.\(thread) "), "thread \(thread):\n\(output)") }
        #expect(output.contains("Detaching") || output.contains("detached"), "\(output)")
        // After detach the kernel runs on: a command typed after it answers. (Not the uname typed before: emud's
        // own "gdb ... disconnected" line on the same stream can land in the middle of its "Linux".)
        #expect(session.waitFor("disconnected", timeout: 60, after: typed), "no detach message: \(session.tail(500))")
        let afterDetach = session.length
        session.send("echo AFTER$((40+2))\n")
        #expect(session.waitFor("AFTER42", timeout: 120, after: afterDetach), "a command after detach: \(session.tail(500))")
        session.send("poweroff -f\n")
        #expect(session.waitForExit(timeout: 120) == 0)
    }

    /// machine-create takes the same boot fields as `emud run`; the machine's worker (in its sandbox) reads the
    /// kernel and initrd, and the kernel finds its device tree.
    @Test func daemonBootsAKernelFromMachineCreate() async throws {
        let environment = try GuestTestEnvironment.require()
        let directory = try ScratchDirectory("boot")
        let socket = directory.file("control.sock")
        let daemon = try DaemonProcess.emud(environment, control: socket)
        defer { daemon.stop(); directory.remove() }
        let kernel = directory.file("Image"), initrd = directory.file("initrd")
        writeImage(bootProtocolImage, to: kernel)
        FileManager.default.createFile(atPath: initrd, contents: Data(repeating: 1, count: 4096))
        let client = try await daemon.connect(socket)
        defer { client.close() }
        let created = try await client.returnValue("machine-create", ["id": "linux", "kernel": kernel, "initrd": initrd,
                                                                      "append": "console=ttyAMA0", "cpus": 2])
        #expect(created["id"].string == "linux", "\(created)")
        let waited = try await client.returnValue("machine-wait", ["machine": "linux", "timeout": 60], timeout: 90)
        #expect(waited["state"].string == "exited" && waited["exit_code"].int == 0, "\(waited)")
        let console = try await client.returnValue("console-read", ["machine": "linux"])
        #expect(console["data"].string == "OK\n", "\(console)")
        let orphan = try await client.execute("machine-create", ["id": "orphan", "initrd": initrd])
        #expect(orphan.errorDescription.contains("needs a 'kernel'"), "\(orphan)")
    }

    /// Debian's U-Boot for QEMU's virt, from the first flash bank, finds the device tree at the start of RAM and
    /// answers at its prompt.
    @Test func debianUBootReachesItsPrompt() async throws {
        let env = try GuestTestEnvironment.require()
        let firmware = try LinuxGuest.require().uboot
        let session = try ConsoleSession(env.emud, ["run", "--bios", firmware, "--memory", "256M"])
        defer { session.terminate() }
        guard session.waitForBoot("=> ", timeout: 600, what: "U-Boot reached its prompt") else { return }
        // Types a command at the next prompt after `start` and checks its answer; returns where its output begins
        // (the prompt that follows it comes after that).
        func run(_ line: String, expecting text: String, after start: Int) -> Int {
            guard let sent = session.type(line + "\n", whenPromptedAfter: start) else {
                Issue.record("no prompt for '\(line)': \(session.tail(800))")
                return session.length
            }
            #expect(session.waitFor(text, timeout: 300, after: sent), "\(line): \(session.tail(800))")
            return sent
        }
        var at = run("version", expecting: "U-Boot 2023", after: 0)
        at = run("bdinfo", expecting: "DRAM bank", after: at)
        // The device tree's magic (0xd00dfeed, big-endian) as U-Boot's md shows a little-endian word.
        at = run("md 40000000 4", expecting: "40000000: edfe0dd0", after: at)
        // The environment lives in the second flash bank: saving it erases and programs flash, and after a reset
        // (PSCI SYSTEM_RESET; the flash keeps its contents) U-Boot reads it back.
        at = run("setenv emudtest 42; saveenv", expecting: "Writing to Flash... done", after: at)
        at = run("reset", expecting: "Loading Environment from Flash... OK", after: at)
        // Any key stops the autoboot countdown and gives the prompt at once.
        if let sent = session.type("\n", whenPromptedAfter: at, prompt: "Hit any key to stop autoboot") { at = sent }
        at = run("printenv emudtest", expecting: "emudtest=42", after: at)
    }
}

/// Debian's kernel and the busybox initramfs `Tests/Linux/fetch.sh` makes (make test runs it).
struct LinuxGuest {
    var image: String
    var initramfs: String
    var uboot: String
    static let marker = "EMUD-INITRAMFS-READY"

    static func require() throws -> LinuxGuest {
        let root = ProcessInfo.processInfo.environment["EMUD_ROOT"] ?? FileManager.default.currentDirectoryPath
        let directory = ProcessInfo.processInfo.environment["EMUD_LINUX"] ?? "\(root)/build/linux"
        let guest = LinuxGuest(image: "\(directory)/Image", initramfs: "\(directory)/initramfs.gz", uboot: "\(directory)/u-boot.bin")
        for file in [guest.image, guest.initramfs, guest.uboot] where !FileManager.default.fileExists(atPath: file) {
            throw TestEnvironmentError(description: "\(file) is missing: run `Tests/Linux/fetch.sh \(directory)` as root (make test does), which downloads Debian's arm64 kernel and busybox and builds the initramfs")
        }
        return guest
    }
}

/// A child process driven through its console: what it prints is collected as it comes, lines are typed into
/// its standard input. Thread-safe.
final class ConsoleSession: @unchecked Sendable {
    private let process = Process()
    private let input = Pipe()
    private let condition = NSCondition()
    private let started = Date()
    private var collected = Data()
    private var ended = false

    init(_ executable: URL, _ arguments: [String]) throws {
        process.executableURL = executable
        process.arguments = arguments
        process.standardInput = input
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let handle = output.fileHandleForReading
        Thread.detachNewThread { [self] in
            while true {
                let chunk = handle.availableData
                condition.lock()
                if chunk.isEmpty { ended = true } else { collected.append(chunk) }
                condition.broadcast()
                condition.unlock()
                if chunk.isEmpty { break }
            }
        }
    }

    var output: String {
        condition.lock()
        defer { condition.unlock() }
        return String(decoding: collected, as: UTF8.self)
    }

    func tail(_ count: Int) -> String { String(output.suffix(count)) }

    /// Bytes of output so far, to wait for what comes after them.
    var length: Int {
        condition.lock()
        defer { condition.unlock() }
        return collected.count
    }

    /// Waits until the output from byte `start` on contains `text`; false on timeout or when the process ended
    /// first.
    func waitFor(_ text: String, timeout: TimeInterval, after start: Int = 0) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        let needle = Data(text.utf8)
        condition.lock()
        defer { condition.unlock() }
        func found() -> Bool { collected.range(of: needle, in: min(start, collected.count)..<collected.count) != nil }
        while !found() {
            if ended || !condition.wait(until: deadline) { return found() }
        }
        return true
    }

    /// Types `line` once the output after `start` shows `prompt` (firmware reads the console while it prints,
    /// to notice Ctrl-C, and drops what it reads then); returns the output length before the line, or nil.
    func type(_ line: String, whenPromptedAfter start: Int, prompt: String = "=> ", timeout: TimeInterval = 300) -> Int? {
        guard waitFor(prompt, timeout: timeout, after: start) else { return nil }
        let before = length
        send(line)
        return before
    }

    /// Waits for a boot to reach `marker`, prints how long it took (from the start of the process), and records
    /// the end of the console as the failure when it does not get there.
    func waitForBoot(_ marker: String, timeout: TimeInterval, what: String) -> Bool {
        let reached = waitFor(marker, timeout: timeout)
        let seconds = Date().timeIntervalSince(started)
        print("BootTests: \(what) in \(String(format: "%.1f", seconds)) s")
        if !reached { Issue.record("not reached after \(Int(seconds)) s (\(what)); console ends with:\n\(tail(3000))") }
        return reached
    }

    func send(_ text: String) {
        input.fileHandleForWriting.write(Data(text.utf8))
    }

    /// The exit status once the process has ended, or nil if it still runs after `timeout`.
    func waitForExit(timeout: TimeInterval) -> Int32? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        return process.isRunning ? nil : process.terminationStatus
    }

    func terminate() {
        if process.isRunning {
            process.terminate()
            _ = waitForExit(timeout: 10)
        }
    }
}
