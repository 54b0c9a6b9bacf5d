/// A virtio-mmio transport with no device behind it, as QEMU's virt leaves its unused slots: it identifies itself
/// (magic "virt", version 2, vendor "QEMU") with device ID 0, which tells a driver that there is nothing to
/// probe, and ignores writes. Every slot the device tree lists answers, so a guest walking them never takes an
/// external abort. Stateless, so one instance serves every slot and any thread.
public final class VirtioMMIOEmptySlot: MMIODevice {
    public let name = "virtio-mmio"

    public init() {}

    public func read(offset: UInt64, size: Int, cpu: Int) -> UInt64? {
        switch offset {
        case 0x000: return 0x7472_6976  // MagicValue "virt"
        case 0x004: return 2            // Version: virtio 1.x (modern) transport
        case 0x00c: return 0x554d_4551  // VendorID "QEMU"
        default: return 0               // DeviceID 0: no device
        }
    }

    public func write(offset: UInt64, size: Int, value: UInt64, cpu: Int) -> Bool { true }
}
