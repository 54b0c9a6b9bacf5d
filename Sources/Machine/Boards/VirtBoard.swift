import Foundation

/// QEMU's `virt` board, for the parts emud models (their addresses and interrupts are the rows of `VirtPart`):
/// RAM at 0x4000_0000, PL011 UART, PL031 RTC, GICv2, the generic timer on PPIs 27 (virtual) and 30 (physical),
/// PSCI 1.1 over HVC and SMC, and Arm semihosting.
public final class VirtBoard: VCPUPlatform {
    public static let ramBase: UInt64 = VirtPart.ram.region.base
    public static let uartBase: UInt64 = VirtPart.uart.region.base
    public static let gicDistributorBase: UInt64 = VirtPart.gicDistributor.region.base
    public static let gicCPUBase: UInt64 = VirtPart.gicCPUInterface.region.base
    public static let uartSPI = VirtPart.uart.interruptID ?? 33
    /// Each of the two CFI flash banks at the bottom of the address space.
    public static let flashBankSize: UInt64 = CFIFlashBank.size

    public let memory: GuestMemory
    public let gic: GICv2
    public let uart: PL011
    public let rtc: PL031
    /// The two CFI flash banks at the bottom of the address space; `--bios` firmware runs from the first.
    public let flash: [CFIFlashBank]
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
        rtc = PL031()
        flash = [CFIFlashBank(), CFIFlashBank()]
        semihosting = Semihosting(console: console, allowedRoot: semihostingRoot)
        virtio = VirtioMMIOBus(memory: memory, gic: gic)
        func wire(_ device: MMIODevice, _ part: VirtPart) {
            memory.map(device, at: part.region.base, size: part.region.size)
        }
        wire(uart, .uart)
        for (i, bank) in flash.enumerated() {
            memory.map(bank, at: VirtPart.flash.region.base + UInt64(i) * Self.flashBankSize, size: Self.flashBankSize)
        }
        wire(rtc, .rtc)
        wire(gic.distributor, .gicDistributor)
        wire(gic.cpuInterface, .gicCPUInterface)
        uart.interruptLine = { [unowned gic] level in gic.setSPI(id: VirtPart.uart.interruptID ?? 33, level: level) }
        rtc.interruptLine = { [unowned gic] level in gic.setSPI(id: VirtPart.rtc.interruptID ?? 34, level: level) }
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

    /// Copies an image into RAM, and firmware into the first flash bank: a segment at address 0 (`--bios`)
    /// goes to flash; every other segment must lie inside RAM.
    public func load(_ image: GuestImage) throws {
        for s in image.segments {
            if s.address == VirtPart.flash.region.base && memory.ramPointer(s.address, 1) == nil {
                try flash[0].load(s.bytes, path: image.path)
                continue
            }
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
