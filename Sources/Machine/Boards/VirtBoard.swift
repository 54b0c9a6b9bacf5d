import Foundation

/// QEMU's `virt` board, for the parts emud models: RAM at 0x4000_0000, PL011 at 0x0900_0000 (SPI 1),
/// GICv2 at 0x0800_0000/0x0801_0000, the generic timer on PPIs 27 (virtual) and 30 (physical),
/// PSCI 1.1 over HVC and SMC, and Arm semihosting.
public final class VirtBoard: VCPUPlatform {
    public static let ramBase: UInt64 = 0x4000_0000
    public static let uartBase: UInt64 = 0x0900_0000
    public static let gicDistributorBase: UInt64 = 0x0800_0000
    public static let gicCPUBase: UInt64 = 0x0801_0000
    public static let uartSPI = 32 + 1

    public let memory: GuestMemory
    public let gic: GICv2
    public let uart: PL011
    public let console: Console
    /// The 32 virtio-mmio transports at 0x0a00_0000 (SPIs 16-47), empty until the machine plugs its devices.
    public let virtio: VirtioMMIOBus
    let semihosting: Semihosting
    /// Power and start requests for secondary vCPUs (PSCI CPU_ON/CPU_OFF/AFFINITY_INFO) go here.
    weak var power: PowerController?

    public init(ramSize: UInt64, cpus: Int, console: Console, semihostingRoot: String?) throws(MachineError) {
        memory = try GuestMemory(ramBase: Self.ramBase, ramSize: ramSize)
        gic = GICv2(cpus: cpus)
        self.console = console
        uart = PL011(output: { console.write([$0]) })
        semihosting = Semihosting(console: console, allowedRoot: semihostingRoot)
        virtio = VirtioMMIOBus(memory: memory, gic: gic)
        memory.map(uart, at: Self.uartBase, size: 0x1000)
        memory.map(gic.distributor, at: Self.gicDistributorBase, size: 0x10000)
        memory.map(gic.cpuInterface, at: Self.gicCPUBase, size: 0x10000)
        uart.interruptLine = { [unowned gic] level in gic.setSPI(id: Self.uartSPI, level: level) }
    }

    public func timerLineChanged(cpu: Int, ppi: Int, level: Bool) {
        gic.setPPI(cpu: cpu, id: ppi, level: level)
    }

    public func semihostingCall(_ cpu: VCPU) -> FirmwareResult {
        semihosting.call(cpu)
    }

    // PSCI return codes
    static let success: Int64 = 0
    static let notSupported: Int64 = -1
    static let invalidParameters: Int64 = -2
    static let alreadyOn: Int64 = -4
    static let internalFailure: Int64 = -6

    public func firmwareCall(_ cpu: VCPU, smc: Bool, imm: UInt16) -> FirmwareResult {
        let x = cpu.state.x
        let function = UInt32(truncatingIfNeeded: x[0])
        func ret(_ v: Int64) -> FirmwareResult { x[0] = UInt64(bitPattern: v); return .handled }
        guard imm == 0 else { return ret(Self.notSupported) }
        switch function {
        case 0x8400_0000: // PSCI_VERSION
            return ret(0x0001_0001)
        case 0x8400_0002: // CPU_OFF
            return .stop(.poweredOff)
        case 0x8400_0003, 0xC400_0003: // CPU_ON
            let is64 = function & 0x4000_0000 != 0
            let mask: UInt64 = is64 ? .max : 0xffff_ffff
            guard let power else { return ret(Self.internalFailure) }
            return ret(power.cpuOn(mpidr: x[1] & mask, entry: x[2] & mask, context: x[3] & mask))
        case 0x8400_0004, 0xC400_0004: // AFFINITY_INFO
            guard let power else { return ret(Self.internalFailure) }
            return ret(power.affinityInfo(mpidr: x[1], level: x[2]))
        case 0x8400_0006: // MIGRATE_INFO_TYPE: no Trusted OS
            return ret(2)
        case 0x8400_0008: // SYSTEM_OFF
            return .stop(.exited(0))
        case 0x8400_0009: // SYSTEM_RESET
            return .stop(.reset)
        case 0x8400_000A: // PSCI_FEATURES
            switch UInt32(truncatingIfNeeded: x[1]) {
            case 0x8400_0000, 0x8400_0002, 0x8400_0003, 0xC400_0003, 0x8400_0004, 0xC400_0004,
                 0x8400_0006, 0x8400_0008, 0x8400_0009, 0x8400_000A:
                return ret(0)
            default:
                return ret(Self.notSupported)
            }
        default:
            return ret(Self.notSupported)
        }
    }

    /// Copies an image into RAM. Every segment must lie inside RAM.
    public func load(_ image: GuestImage) throws {
        for s in image.segments {
            guard let p = memory.ramPointer(s.address, max(s.memorySize, 1)) else {
                throw ImageError.outsideRAM(image.path, s.address, s.memorySize)
            }
            p.initializeMemory(as: UInt8.self, repeating: 0, count: Int(s.memorySize))
            s.bytes.withUnsafeBytes { raw in
                if raw.count > 0 { p.copyMemory(from: raw.baseAddress!, byteCount: raw.count) }
            }
            memory.noteExternalWrite(s.address, s.memorySize)
        }
        let end = memory.ramBase + memory.ramSize
        let heapBase = (image.end + 0xfff) & ~0xfff
        semihosting.heapInfo = (heapBase, end - 0x10_0000, end, end - 0x10_0000)
    }
}

/// PSCI power management of secondary vCPUs, implemented by `Machine`.
protocol PowerController: AnyObject {
    func cpuOn(mpidr: UInt64, entry: UInt64, context: UInt64) -> Int64
    func affinityInfo(mpidr: UInt64, level: UInt64) -> Int64
}
