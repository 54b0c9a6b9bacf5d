/// The `virt` board as a table: where each part lives in the physical address space and which interrupt it
/// raises. Both the wiring (`VirtBoard.init`) and the device-tree generator (`VirtBoard+DeviceTree.swift`) read
/// these rows, so the tree the guest is given always describes the machine it runs on. Addresses and interrupt
/// numbers are those of QEMU's `-M virt` (hw/arm/virt.c's memory and interrupt maps).
public enum VirtPart: CaseIterable, Sendable {
    case flash
    case gicDistributor
    case gicCPUInterface
    case uart
    case rtc
    case virtio
    case ram

    /// First byte and size of the part's region; for `virtio`, one transport slot (there are `virtioSlots`).
    public var region: (base: UInt64, size: UInt64) {
        switch self {
        case .flash: return (0x0000_0000, 2 * VirtBoard.flashBankSize)
        case .gicDistributor: return (0x0800_0000, 0x1_0000)
        case .gicCPUInterface: return (0x0801_0000, 0x1_0000)
        case .uart: return (0x0900_0000, 0x1000)
        case .rtc: return (0x0901_0000, 0x1000)
        case .virtio: return (0x0a00_0000, 0x200)
        case .ram: return (0x4000_0000, 3 << 30)
        }
    }

    /// The shared peripheral interrupt the part raises, counted from the first SPI (GIC interrupt 32), as the
    /// device tree writes it; nil for parts that raise none. For `virtio`, the first slot's (slot i: first + i).
    public var spi: Int? {
        switch self {
        case .uart: return 1
        case .rtc: return 2
        case .virtio: return 16
        case .flash, .gicDistributor, .gicCPUInterface, .ram: return nil
        }
    }

    /// The GIC interrupt ID of the part's SPI.
    public var interruptID: Int? { spi.map { $0 + 32 } }

    /// How many virtio-mmio transports the board has (QEMU's NUM_VIRTIO_TRANSPORTS).
    public static let virtioSlots = 32

    /// Base address of virtio-mmio slot `slot`.
    public static func virtioBase(slot: Int) -> UInt64 {
        VirtPart.virtio.region.base + UInt64(slot) * VirtPart.virtio.region.size
    }
}

/// The private peripheral interrupts of the architected timer (GIC IDs), as virt wires them.
public enum VirtTimerPPI {
    public static let securePhysical = 29
    public static let physical = 30
    public static let virtual = 27
    public static let hypervisor = 26
}
