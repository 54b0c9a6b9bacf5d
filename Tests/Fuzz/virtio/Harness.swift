// emud: a libFuzzer harness for the virtio-mmio transports, their split virtqueues, virtio-blk and virtio-rng:
// what a guest driver can do to them. GPL-2.0-or-later.
//
// The input is a driver's register writes and its RAM: byte 0 says how many writes (1 to 32), then 5 bytes a
// write (register byte: bit 7 picks the entropy device instead of the disk, bits 6:0 times 4 the register offset;
// then the value, little-endian UInt32; a value below the RAM size written to a ring address's low word counts as
// an offset into RAM, so that rings are easy to place), then the initial contents of 64 KiB of RAM at 0x4000_0000.
// The disk is an 8 KiB scratch file. Checked on every input: nothing traps and no host memory outside RAM is
// touched (AddressSanitizer; RAM is followed by a guard page); the transport keeps its magic, version and vendor;
// the interrupt status holds only the used-buffer and configuration bits; a device that needs a reset returns
// nothing to the driver until it is reset.

import Foundation

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("virtio: property violated: \(message())") }
}

let ramBase: UInt64 = 0x4000_0000
let ramSize: UInt64 = 64 << 10

let imagePath: String = {
    let path = NSTemporaryDirectory() + "emud-fuzz-virtio-\(getpid()).img"
    FileManager.default.createFile(atPath: path, contents: Data(count: 8192))
    atexit { unlink(NSTemporaryDirectory() + "emud-fuzz-virtio-\(getpid()).img") }
    return path
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: count))
    guard let first = input.first else { return 0 }
    let writes = Int(first % 32) + 1
    let headerLength = 1 + writes * 5
    guard input.count >= headerLength else { return 0 }
    guard let memory = try? GuestMemory(ramBase: ramBase, ramSize: ramSize) else {
        fatalError("virtio: cannot map 64 KiB of guest RAM")
    }
    _ = memory.writeBytes(ramBase, Array(input[headerLength...].prefix(Int(ramSize))))
    let gic = GICv2(cpus: 1)
    let bus = VirtioMMIOBus(memory: memory, gic: gic)
    do { try bus.plug(drives: [DriveConfiguration(path: imagePath)], rng: true) } catch {
        fatalError("virtio: cannot open the scratch disk: \(error)")
    }
    let disk = bus.transports[VirtioMMIOBus.slotCount - 1], rng = bus.transports[VirtioMMIOBus.slotCount - 2]

    for i in 0..<writes {
        let record = input[(1 + i * 5)..<(1 + i * 5 + 5)]
        let selector = record[record.startIndex]
        let transport = selector & 0x80 != 0 ? rng : disk
        let offset = UInt64(selector & 0x7f) * 4
        var value = record.dropFirst().reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        if [0x80, 0x90, 0xa0].contains(offset) && value < ramSize { value += ramBase }
        let wasBroken = (transport.read(offset: 0x70, size: 4, cpu: 0) ?? 0) & 0x40 != 0
        let ramBefore = wasBroken && offset == 0x50 ? memory.readBytes(ramBase, Int(ramSize)) : nil
        _ = transport.write(offset: offset, size: 4, value: value, cpu: 0)
        let status = transport.read(offset: 0x70, size: 4, cpu: 0) ?? 0
        check(transport.read(offset: 0, size: 4, cpu: 0) == 0x7472_6976, "the magic changed")
        check(transport.read(offset: 4, size: 4, cpu: 0) == 2, "the version changed")
        check(transport.read(offset: 0xc, size: 4, cpu: 0) == 0x554D_4551, "the vendor changed")
        check((transport.read(offset: 0x60, size: 4, cpu: 0) ?? 0) & ~3 == 0, "stray interrupt status bits")
        if let ramBefore {
            check(status & 0x40 != 0, "a notification cleared DEVICE_NEEDS_RESET")
            check(memory.readBytes(ramBase, Int(ramSize)) == ramBefore, "a device that needs a reset wrote to RAM")
        }
    }
    return 0
}
