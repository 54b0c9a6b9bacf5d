import Foundation

/// A virtio device behind a virtio-mmio transport: what the transport needs to know of it.
///
/// Called by its transport only, under the transport's lock, on the vCPU thread that wrote QueueNotify (or any
/// thread for `reset`): a device needs no locking of its own.
public protocol VirtioDevice: AnyObject {
    /// The virtio device ID (2 = block, 4 = entropy source).
    var deviceID: UInt32 { get }
    /// What the device is, for messages ("virtio-blk disk.img").
    var label: String { get }
    /// Device-specific feature bits (0...23); the transport adds VIRTIO_F_VERSION_1.
    var deviceFeatures: UInt64 { get }
    var queueCount: Int { get }
    /// The device configuration space, little-endian, as the driver reads it at 0x100.
    var configuration: [UInt8] { get }
    /// Serves one request. Returns the number of bytes written into the chain's device-writable buffers;
    /// throws when the request is so malformed the device must be reset.
    func serve(_ chain: DescriptorChain, queue: Int, memory: GuestMemory) throws(VirtqueueError) -> UInt32
}

/// One virtio-mmio transport (virtio 1.x, register layout version 2) at the `virt` board's addresses, with or
/// without a device. Without one it reads as QEMU's empty transports do: magic, version and vendor ID, everything
/// else zero, writes ignored, so a driver finds DeviceID 0 and leaves it alone.
///
/// Thread-safe: registers and queues are guarded by one lock; requests are served on the notifying vCPU's thread
/// with that lock held, and the interrupt line is driven with it held, so levels reach the GIC in order.
public final class VirtioMMIOTransport: MMIODevice {
    public let name: String
    public let base: UInt64
    private let memory: GuestMemory
    private let lock = NSLock()
    private let interruptLine: (Bool) -> Void
    public private(set) var device: VirtioDevice?
    /// Receives each device error once (the device then needs a reset); a bounded number per transport.
    var reportError: ((String) -> Void)?
    private var errorsReported = 0
    static let maximumErrorReports = 8

    // Registers.
    private var deviceFeaturesSelect: UInt32 = 0
    private var driverFeaturesSelect: UInt32 = 0
    private var driverFeatures: UInt64 = 0
    private var status: UInt32 = 0
    private var queueSelect: UInt32 = 0
    private var queues: [VirtQueue] = []
    private var interruptStatus: UInt32 = 0
    private var configGeneration: UInt32 = 0
    /// Set by a device error until the driver resets the device: notifications are ignored meanwhile.
    private var broken = false

    static let magic: UInt32 = 0x7472_6976  // "virt"
    static let version: UInt32 = 2
    /// The vendor ID QEMU's transports report, so that guests see the same thing under both.
    static let vendor: UInt32 = 0x554D_4551
    static let versionOneFeature: UInt64 = 1 << 32
    /// Highest queue index a driver may select (QEMU accepts the same range).
    static let queueSelectLimit: UInt32 = 1024

    enum Status {
        static let acknowledge: UInt32 = 1
        static let driver: UInt32 = 2
        static let driverOK: UInt32 = 4
        static let featuresOK: UInt32 = 8
        static let needsReset: UInt32 = 0x40
        static let failed: UInt32 = 0x80
    }

    enum Interrupt {
        static let usedBuffer: UInt32 = 1
        static let configurationChange: UInt32 = 2
    }

    init(base: UInt64, memory: GuestMemory, interruptLine: @escaping (Bool) -> Void) {
        self.base = base
        self.name = "virtio-mmio@" + String(base, radix: 16)
        self.memory = memory
        self.interruptLine = interruptLine
    }

    func attach(_ device: VirtioDevice) {
        lock.withLock {
            self.device = device
            resetLocked()
        }
    }

    /// Device reset: by the driver (Status = 0) or the machine's reset.
    func reset() {
        lock.withLock { resetLocked() }
    }

    private func resetLocked() {
        deviceFeaturesSelect = 0
        driverFeaturesSelect = 0
        driverFeatures = 0
        status = 0
        queueSelect = 0
        queues = Array(repeating: VirtQueue(), count: device?.queueCount ?? 0)
        broken = false
        if interruptStatus != 0 {
            interruptStatus = 0
            interruptLine(false)
        }
    }

    private var offeredFeatures: UInt64 {
        guard let device else { return 0 }
        return (device.deviceFeatures & 0xff_ffff) | Self.versionOneFeature
    }

    private var selectedQueue: Int? {
        let index = Int(queueSelect)
        return index < queues.count ? index : nil
    }

    public func read(offset: UInt64, size: Int, cpu: Int) -> UInt64? {
        // Wider accesses are taken as 32-bit ones, low word first, as QEMU splits them.
        if size == 8 {
            let low = read(offset: offset, size: 4, cpu: cpu) ?? 0
            let high = read(offset: offset &+ 4, size: 4, cpu: cpu) ?? 0
            return low | high << 32
        }
        lock.lock()
        defer { lock.unlock() }
        guard let device else {
            switch offset {
            case 0x000: return UInt64(Self.magic)
            case 0x004: return UInt64(Self.version)
            case 0x00c: return UInt64(Self.vendor)
            default: return 0
            }
        }
        if offset >= 0x100 {
            let config = device.configuration
            let start = Int(offset - 0x100)
            // Beyond the configuration space every byte reads as ones (as QEMU's do).
            guard start < config.count, size <= config.count - start else { return UInt64.max >> (64 - 8 * size) }
            var value: UInt64 = 0
            for i in 0..<size { value |= UInt64(config[start + i]) << (8 * UInt64(i)) }
            return value
        }
        guard size == 4 else { return 0 }
        switch offset {
        case 0x000: return UInt64(Self.magic)
        case 0x004: return UInt64(Self.version)
        case 0x008: return UInt64(device.deviceID)
        case 0x00c: return UInt64(Self.vendor)
        case 0x010:
            guard deviceFeaturesSelect < 2 else { return 0 }
            return (offeredFeatures >> (32 * UInt64(deviceFeaturesSelect))) & 0xffff_ffff
        case 0x034: return selectedQueue == nil ? 0 : UInt64(VirtQueue.maxSize)
        case 0x044: return selectedQueue.map { queues[$0].ready ? 1 : 0 } ?? 0
        case 0x060: return UInt64(interruptStatus)
        case 0x070: return UInt64(status)
        case 0x080, 0x084, 0x090, 0x094, 0x0a0, 0x0a4:
            guard let q = selectedQueue else { return 0 }
            let address: UInt64
            switch offset & ~0xf {
            case 0x080: address = queues[q].descriptorTable
            case 0x090: address = queues[q].driverArea
            default: address = queues[q].deviceArea
            }
            return offset & 4 == 0 ? address & 0xffff_ffff : address >> 32
        case 0x0b0, 0x0b4, 0x0b8, 0x0bc: return 0xffff_ffff  // no shared memory regions
        case 0x0fc: return UInt64(configGeneration)
        default: return 0
        }
    }

    public func write(offset: UInt64, size: Int, value: UInt64, cpu: Int) -> Bool {
        if size == 8 {
            _ = write(offset: offset, size: 4, value: value & 0xffff_ffff, cpu: cpu)
            _ = write(offset: offset &+ 4, size: 4, value: value >> 32, cpu: cpu)
            return true
        }
        lock.lock()
        defer { lock.unlock() }
        // Writes to the configuration space are ignored: no field the devices offer is writable.
        guard device != nil, offset < 0x100, size == 4 else { return true }
        let word = UInt32(truncatingIfNeeded: value)
        switch offset {
        case 0x014: deviceFeaturesSelect = word
        case 0x020:
            if driverFeaturesSelect < 2 {
                let shift = 32 * UInt64(driverFeaturesSelect)
                driverFeatures = driverFeatures & ~(0xffff_ffff << shift) | UInt64(word) << shift
            }
        case 0x024: driverFeaturesSelect = word
        case 0x030: if word < Self.queueSelectLimit { queueSelect = word }
        case 0x038:
            if let q = selectedQueue, (1...VirtQueue.maxSize).contains(Int(word)) { queues[q].size = Int(word) }
        case 0x044:
            if let q = selectedQueue { queues[q].ready = word & 1 != 0 }
        case 0x050: notifyLocked(queue: Int(word & 0xffff))
        case 0x064: setInterruptLocked(interruptStatus & ~word)
        case 0x070: writeStatusLocked(word & 0xff)
        case 0x080, 0x084, 0x090, 0x094, 0x0a0, 0x0a4:
            guard let q = selectedQueue else { break }
            func merged(_ old: UInt64) -> UInt64 {
                offset & 4 == 0 ? old & ~0xffff_ffff | UInt64(word) : old & 0xffff_ffff | UInt64(word) << 32
            }
            switch offset & ~0xf {
            case 0x080: queues[q].descriptorTable = merged(queues[q].descriptorTable)
            case 0x090: queues[q].driverArea = merged(queues[q].driverArea)
            default: queues[q].deviceArea = merged(queues[q].deviceArea)
            }
        default: break
        }
        return true
    }

    private func writeStatusLocked(_ value: UInt32) {
        if value == 0 {
            resetLocked()
            return
        }
        var accepted = value
        if value & Status.featuresOK != 0 && status & Status.featuresOK == 0 {
            // Only a virtio 1.x driver that takes a subset of what was offered gets FEATURES_OK; the driver reads
            // the status back to learn it was refused (virtio 1.x, 3.1.1).
            let subset = driverFeatures & ~offeredFeatures == 0
            if !subset || driverFeatures & Self.versionOneFeature == 0 { accepted &= ~Status.featuresOK }
        }
        // NEEDS_RESET is the device's to set; the driver cannot clear it either.
        status = accepted & ~Status.needsReset | status & Status.needsReset
    }

    private func setInterruptLocked(_ bits: UInt32) {
        let before = interruptStatus != 0
        interruptStatus = bits
        if before != (bits != 0) { interruptLine(bits != 0) }
    }

    private func notifyLocked(queue index: Int) {
        guard let device, !broken, status & Status.driverOK != 0, index < queues.count, queues[index].ready else { return }
        var served = false
        do throws(VirtqueueError) {
            // Each chain taken advances the queue; a full queue's worth bounds one notification's work (chains
            // the driver adds meanwhile come with their own notification).
            for _ in 0..<queues[index].size {
                guard let chain = try queues[index].pop(memory) else { break }
                let written = try device.serve(chain, queue: index, memory: memory)
                try queues[index].push(memory, head: chain.head, written: written)
                served = true
            }
        } catch {
            deviceErrorLocked(error)
            return
        }
        if served && !queues[index].interruptSuppressed(memory) {
            setInterruptLocked(interruptStatus | Interrupt.usedBuffer)
        }
    }

    /// The driver broke the rules: the device stops serving and asks for a reset (DEVICE_NEEDS_RESET, with a
    /// configuration change interrupt once the driver is running), as QEMU does for a device it marks broken.
    private func deviceErrorLocked(_ error: VirtqueueError) {
        broken = true
        status |= Status.needsReset
        if errorsReported < Self.maximumErrorReports, let reportError {
            errorsReported += 1
            let more = errorsReported == Self.maximumErrorReports ? " (further errors of this device are not reported)" : ""
            reportError("\(device?.label ?? "virtio device") at \(name): \(error); the device needs a reset\(more)")
        }
        if status & Status.driverOK != 0 {
            configGeneration &+= 1
            // QEMU raises the used-buffer bit with the configuration bit; a driver only looks at its queues
            // once more, and a guest sees the same interrupt status under both.
            setInterruptLocked(interruptStatus | Interrupt.configurationChange | Interrupt.usedBuffer)
        }
    }
}

/// Why a machine's virtio devices cannot be built.
public enum VirtioError: Error, CustomStringConvertible {
    case tooManyDevices(Int)
    case cannotOpen(String, String)
    case notAFile(String)

    public var description: String {
        switch self {
        case .tooManyDevices(let n):
            return "\(n) virtio devices do not fit the virt board's \(VirtioMMIOBus.slotCount) virtio-mmio transports; use fewer --drive/--device options"
        case .cannotOpen(let path, let why): return "cannot open drive \(path): \(why)"
        case .notAFile(let path): return "drive \(path) is not a regular file or block device"
        }
    }
}

/// The `virt` board's 32 virtio-mmio transports: 0x200 bytes each from 0x0a00_0000, transport i on SPI 16 + i.
///
/// Devices take transports as QEMU's `-device` options do: the first device the highest transport (31, at
/// 0x0a00_3e00), the next one the transport below it, and so on, so that a guest finds each device at the same
/// address and interrupt under emud and under QEMU with the same devices in the same order.
public final class VirtioMMIOBus {
    // The board table's row (VirtMemoryMap.swift), which the device tree also reads.
    public static let base: UInt64 = VirtPart.virtio.region.base
    public static let slotSize: UInt64 = VirtPart.virtio.region.size
    public static let slotCount = VirtPart.virtioSlots
    /// SPI number of transport 0 (GIC interrupt ID 32 + 16).
    public static let firstSPI = VirtPart.virtio.spi ?? 16

    public let transports: [VirtioMMIOTransport]

    public static func address(slot: Int) -> UInt64 { base + UInt64(slot) * slotSize }

    init(memory: GuestMemory, gic: GICv2) {
        transports = (0..<Self.slotCount).map { slot in
            VirtioMMIOTransport(base: Self.address(slot: slot), memory: memory) { [unowned gic] level in
                gic.setSPI(id: 32 + Self.firstSPI + slot, level: level)
            }
        }
        for t in transports { memory.map(t, at: t.base, size: Self.slotSize) }
    }

    /// Plugs `devices` in QEMU's command-line order (see the type's description). Before the machine starts.
    public func plug(_ devices: [VirtioDevice]) throws(VirtioError) {
        guard devices.count <= Self.slotCount else { throw .tooManyDevices(devices.count) }
        for (i, device) in devices.enumerated() { transports[Self.slotCount - 1 - i].attach(device) }
    }

    /// Builds the configured devices and plugs them: the drives in order, then the entropy device.
    public func plug(drives: [DriveConfiguration], rng: Bool) throws(VirtioError) {
        var devices: [VirtioDevice] = []
        for drive in drives { devices.append(try VirtioBlock(drive)) }
        if rng { devices.append(VirtioRNG()) }
        try plug(devices)
    }

    /// Where device errors (a driver that broke a queue's rules) are reported; none by default.
    public func onDeviceError(_ report: @escaping (String) -> Void) {
        for t in transports { t.reportError = report }
    }

    /// Machine reset: every device as after power-on.
    public func reset() {
        for t in transports { t.reset() }
    }
}
