// The virtio-mmio transport and virtio-blk driven directly through their registers, without a CPU: empty
// transports, feature negotiation, one request, and random rings that must never reach outside guest RAM.
// SPDX-License-Identifier: GPL-2.0-or-later

import Foundation
import Testing
@testable import Machine

/// A machine's memory and GIC with the 32 transports, one disk on a scratch image (sector k filled with k).
private final class VirtioRig {
    static let ramBase: UInt64 = 0x4000_0000
    static let ramSize: UInt64 = 1 << 20
    let memory: GuestMemory
    let gic = GICv2(cpus: 1)
    let bus: VirtioMMIOBus
    let imagePath: String
    var disk: VirtioMMIOTransport { bus.transports[VirtioMMIOBus.slotCount - 1] }
    var errors: [String] = []

    init(readOnly: Bool = false, sectors: Int = 16) throws {
        memory = try GuestMemory(ramBase: Self.ramBase, ramSize: Self.ramSize)
        bus = VirtioMMIOBus(memory: memory, gic: gic)
        imagePath = FileManager.default.temporaryDirectory.appendingPathComponent("emud-virtio-unit-\(UUID().uuidString).img").path
        var bytes = [UInt8](repeating: 0, count: 512 * sectors)
        for k in 0..<sectors { for i in 0..<512 { bytes[k * 512 + i] = UInt8(k) } }
        try Data(bytes).write(to: URL(fileURLWithPath: imagePath))
        try bus.plug(drives: [DriveConfiguration(path: imagePath, readOnly: readOnly, serial: "unit")], rng: false)
        bus.onDeviceError { [unowned self] in self.errors.append($0) }
    }

    deinit { try? FileManager.default.removeItem(atPath: imagePath) }

    func read(_ offset: UInt64, _ t: VirtioMMIOTransport? = nil) -> UInt32 {
        UInt32(truncatingIfNeeded: (t ?? disk).read(offset: offset, size: 4, cpu: 0) ?? 0xdead)
    }
    func write(_ offset: UInt64, _ value: UInt32, _ t: VirtioMMIOTransport? = nil) {
        _ = (t ?? disk).write(offset: offset, size: 4, value: UInt64(value), cpu: 0)
    }

    /// Reset, ACKNOWLEDGE, DRIVER, `features`, FEATURES_OK: the status read back.
    func negotiate(_ features: UInt64) -> UInt32 {
        write(0x70, 0)
        write(0x70, 3)
        write(0x24, 0); write(0x20, UInt32(truncatingIfNeeded: features))
        write(0x24, 1); write(0x20, UInt32(truncatingIfNeeded: features >> 32))
        write(0x70, 11)
        return read(0x70)
    }

    // Queue 0 of 8 entries: descriptors at +0x1000, avail at +0x2000, used at +0x3000.
    let descriptors = ramBase + 0x1000, avail = ramBase + 0x2000, used = ramBase + 0x3000
    func startQueue() {
        write(0x30, 0)
        write(0x38, 8)
        for (register, address) in [(0x80, descriptors), (0x90, avail), (0xa0, used)] as [(UInt64, UInt64)] {
            write(register, UInt32(truncatingIfNeeded: address))
            write(register + 4, UInt32(truncatingIfNeeded: address >> 32))
        }
        write(0x44, 1)
        write(0x70, read(0x70) | 4)
    }

    func store<T: FixedWidthInteger>(_ value: T, at address: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { _ = memory.writeBytes(address, Array($0)) }
    }
    func load16(_ address: UInt64) -> UInt16 {
        memory.readBytes(address, 2).map { UInt16($0[0]) | UInt16($0[1]) << 8 } ?? 0
    }
    func descriptor(_ i: Int, address: UInt64, length: UInt32, flags: UInt16, next: UInt16) {
        let at = descriptors + 16 * UInt64(i)
        store(address, at: at); store(length, at: at + 8); store(flags, at: at + 12); store(next, at: at + 14)
    }
}

@Suite("virtio-mmio transport")
struct VirtioTransportTests {
    @Test("An empty transport reads as QEMU's: magic, version, vendor, and zeros; writes are ignored")
    func emptyTransport() throws {
        let rig = try VirtioRig()
        let empty = rig.bus.transports[0]
        #expect(rig.read(0x000, empty) == 0x7472_6976)
        #expect(rig.read(0x004, empty) == 2)
        #expect(rig.read(0x008, empty) == 0)
        #expect(rig.read(0x00c, empty) == 0x554D_4551)
        rig.write(0x070, 0xf, empty)
        #expect(rig.read(0x070, empty) == 0)
        #expect(rig.read(0x008) == 2, "the first device takes the highest transport")
        #expect(VirtioMMIOBus.address(slot: 31) == 0x0a00_3e00)
    }

    @Test("FEATURES_OK only for a virtio 1.x driver taking a subset of what was offered")
    func featureNegotiation() throws {
        let rig = try VirtioRig(readOnly: true)
        rig.write(0x14, 1)
        #expect(rig.read(0x10) & 1 == 1, "VIRTIO_F_VERSION_1 offered")
        rig.write(0x14, 0)
        let offered = UInt64(rig.read(0x10))
        #expect(offered & (1 << 5) != 0, "VIRTIO_BLK_F_RO offered for a read-only drive")
        #expect(rig.negotiate(offered) & 8 == 0, "a legacy driver (no VERSION_1) is refused")
        #expect(rig.negotiate(offered | 1 << 32 | 1 << 28) & 8 == 0, "a feature not offered is refused")
        #expect(rig.negotiate(offered | 1 << 32) & 8 == 8)
        #expect(rig.read(0x100) == 16 && rig.read(0x104) == 0, "capacity in sectors")
        #expect(rig.read(0x114) == 512, "blk_size")
    }

    @Test("A read request returns the sector, the status and the used length, and raises SPI 47")
    func readRequest() throws {
        let rig = try VirtioRig()
        #expect(rig.negotiate(1 << 32) & 8 == 8)
        rig.startQueue()
        let header = VirtioRig.ramBase + 0x4000, data = header + 0x100, status = header + 0x400
        rig.store(UInt32(0), at: header); rig.store(UInt64(3), at: header + 8)
        rig.descriptor(0, address: header, length: 16, flags: 1, next: 1)
        rig.descriptor(1, address: data, length: 512, flags: 3, next: 2)
        rig.descriptor(2, address: status, length: 1, flags: 2, next: 0)
        rig.store(UInt16(0), at: rig.avail + 4)
        rig.store(UInt16(1), at: rig.avail + 2)
        rig.write(0x50, 0)
        #expect(rig.load16(rig.used + 2) == 1)
        #expect(rig.memory.readBytes(status, 1) == [0])
        #expect(rig.memory.readBytes(data, 512) == [UInt8](repeating: 3, count: 512))
        #expect(rig.memory.readBytes(rig.used + 4, 8) == [0, 0, 0, 0, 1, 2, 0, 0])
        #expect(rig.read(0x60) == 1)
        // INTID 32 + 47 = 79: bit 15 of GICD_ISPENDR2, pending while the level is high.
        #expect((rig.gic.distributor.read(offset: 0x208, size: 4, cpu: 0) ?? 0) & 1 << 15 != 0)
        rig.write(0x64, 1)
        #expect(rig.read(0x60) == 0)
        #expect((rig.gic.distributor.read(offset: 0x208, size: 4, cpu: 0) ?? 0) & 1 << 15 == 0)
    }

    @Test("Random damage to a valid request never reaches outside RAM: each request is served or breaks the device")
    func randomRings() throws {
        let rig = try VirtioRig()
        var state: UInt64 = 0x9e37_79b9_7f4a_7c15
        func next() -> UInt64 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return state
        }
        let hostileAddresses: [UInt64] = [0, VirtioRig.ramBase - 1, VirtioRig.ramBase + VirtioRig.ramSize - 8,
                                          VirtioRig.ramBase + VirtioRig.ramSize, UInt64.max - 0x100, 0x10_0000_0000]
        let hostileLengths: [UInt32] = [0, 1, 15, 511, UInt32(VirtioRig.ramSize), UInt32.max]
        let header = VirtioRig.ramBase + 0x4000, data = header + 0x100, status = header + 0x400
        var broken = 0, served = 0
        for _ in 0..<3000 {
            #expect(rig.negotiate(1 << 32) & 8 == 8)
            rig.store(UInt16(0), at: rig.used + 2)
            rig.startQueue()
            // A valid read or write of a random sector, then up to three random kinds of damage.
            rig.store(UInt32(truncatingIfNeeded: next() % 2), at: header)
            rig.store(next() % 20, at: header + 8)
            rig.descriptor(0, address: header, length: 16, flags: 1, next: 1)
            rig.descriptor(1, address: data, length: 512, flags: 1 | UInt16(truncatingIfNeeded: next() & 2), next: 2)
            rig.descriptor(2, address: status, length: 1, flags: 2, next: 0)
            rig.store(UInt16(0), at: rig.avail + 4)
            var availIndex: UInt16 = 1
            for _ in 0..<Int(next() % 4) {
                let i = Int(next() % 3), at = rig.descriptors + 16 * UInt64(i)
                switch next() % 7 {
                case 0: rig.store(hostileAddresses[Int(next() % 6)], at: at)
                case 1: rig.store(hostileLengths[Int(next() % 6)], at: at + 8)
                case 2: rig.store(UInt16(truncatingIfNeeded: next() & 7), at: at + 12)
                case 3: rig.store(UInt16(truncatingIfNeeded: next() % 10), at: at + 14)
                case 4: rig.store(UInt16(truncatingIfNeeded: next() % 10), at: rig.avail + 4)
                case 5: availIndex = UInt16(truncatingIfNeeded: next() % 12)
                default: rig.store(UInt32(truncatingIfNeeded: next()), at: header)
                }
            }
            rig.store(availIndex, at: rig.avail + 2)
            rig.write(0x50, 0)
            if rig.read(0x70) & 0x40 != 0 { broken += 1 } else if rig.load16(rig.used + 2) != 0 { served += 1 }
        }
        #expect(broken > 100 && served > 100, "the requests should both break the device and be served (broken \(broken), served \(served))")
        #expect(rig.errors.count == VirtioMMIOTransport.maximumErrorReports, "error reports are bounded")
    }
}
