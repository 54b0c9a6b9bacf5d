// The device tree of the board emud builds, node by node from the same table (`VirtPart`) the wiring reads.
// The nodes and properties are those QEMU 7.2's `-M virt -cpu cortex-a76` gives a guest (GICv2), for the parts
// emud models. Left out, because emud does not model them: PCIe and the GICv2m MSI frame, fw-cfg, the PL061
// GPIO and its power key, the platform bus and the PMU (ID_AA64DFR0_EL1 reports none). Also left out: /chosen's kaslr-seed
// and rng-seed (QEMU draws them at random; emud boots the same way every time) and /cpus/cpu-map.
// `enable-method = "psci"` is on every CPU node (QEMU writes it only when there are several).

extension VirtBoard {
    /// Phandles of the nodes others refer to.
    static let clockPhandle: UInt32 = 0x8000
    static let gicPhandle: UInt32 = 0x8001

    /// GIC interrupt specifier flags (the third cell), as the GIC binding defines them.
    enum InterruptFlags {
        static let edgeRising: UInt32 = 1
        static let levelHigh: UInt32 = 4
    }

    /// The node path of a part at `base` (`name@hex`).
    static func nodePath(_ name: String, _ base: UInt64) -> String { "/\(name)@\(String(base, radix: 16))" }

    /// `reg` of a region with the root's two address and two size cells.
    static func reg(_ region: (base: UInt64, size: UInt64)) -> [UInt64] { [region.base, region.size] }

    /// The device tree of a `virt` machine with `cpus` vCPUs and `ramSize` bytes of RAM, /chosen filled in from
    /// `chosen`. Only the table and the counts go in, so `emud dumpdtb` needs no machine.
    public static func deviceTree(cpus: Int, ramSize: UInt64, chosen: ChosenNode) throws(DeviceTreeError) -> FlattenedDeviceTree {
        let t = try FlattenedDeviceTree()
        try t.set("/", "compatible", string: "linux,dummy-virt")
        try t.set("/", "model", string: "linux,dummy-virt")
        try t.set("/", "#address-cells", cells: [2])
        try t.set("/", "#size-cells", cells: [2])
        try t.set("/", "interrupt-parent", cells: [gicPhandle])

        try t.addNode("/cpus")
        try t.set("/cpus", "#address-cells", cells: [1])
        try t.set("/cpus", "#size-cells", cells: [0])
        for cpu in (0..<cpus).reversed() {
            let path = "/cpus/cpu@\(String(cpu, radix: 16))"
            try t.set(path, "device_type", string: "cpu")
            try t.set(path, "compatible", string: "arm,cortex-a76")
            // MPIDR_EL1's affinity: vCPU i is Aff0 = i (Machine.cpuOn matches it the same way).
            try t.set(path, "reg", cells: [UInt32(cpu)])
            try t.set(path, "enable-method", string: "psci")
        }

        try addPSCINode(t)
        try addFlashNode(t)
        try addGICNode(t)
        try addTimerNode(t, cpus: cpus)
        try addClockNode(t)
        try addPrimeCellNode(t, name: "pl011", part: .uart, compatible: "arm,pl011", clocks: ["uartclk", "apb_pclk"])
        try addPrimeCellNode(t, name: "pl031", part: .rtc, compatible: "arm,pl031", clocks: ["apb_pclk"])
        for slot in (0..<VirtPart.virtioSlots).reversed() {
            let path = nodePath("virtio_mmio", VirtPart.virtioBase(slot: slot))
            try t.set(path, "compatible", string: "virtio,mmio")
            try t.set(path, "reg", u64: [VirtPart.virtioBase(slot: slot), VirtPart.virtio.region.size])
            try t.set(path, "interrupts", cells: [0, UInt32((VirtPart.virtio.spi ?? 16) + slot), InterruptFlags.edgeRising])
            try t.set(path, "dma-coherent")
        }
        try fixUp(t, ramSize: ramSize, chosen: chosen)
        return t
    }

    static func addPSCINode(_ t: FlattenedDeviceTree) throws(DeviceTreeError) {
        // The function ids are the SMC64 ones PSCI 0.2 defines; VirtBoard.firmwareCall answers them over HVC.
        try t.set("/psci", "compatible", strings: ["arm,psci-1.0", "arm,psci-0.2", "arm,psci"])
        try t.set("/psci", "method", string: "hvc")
        try t.set("/psci", "cpu_suspend", cells: [0xc400_0001])
        try t.set("/psci", "cpu_off", cells: [0x8400_0002])
        try t.set("/psci", "cpu_on", cells: [0xc400_0003])
        try t.set("/psci", "migrate", cells: [0xc400_0005])
    }

    /// Both banks in one node, as virt has them.
    static func addFlashNode(_ t: FlattenedDeviceTree) throws(DeviceTreeError) {
        let path = nodePath("flash", VirtPart.flash.region.base)
        try t.set(path, "compatible", string: "cfi-flash")
        try t.set(path, "reg", u64: [VirtPart.flash.region.base, flashBankSize, VirtPart.flash.region.base + flashBankSize, flashBankSize])
        try t.set(path, "bank-width", cells: [4])
    }

    static func addGICNode(_ t: FlattenedDeviceTree) throws(DeviceTreeError) {
        let path = nodePath("intc", VirtPart.gicDistributor.region.base)
        try t.set(path, "compatible", string: "arm,cortex-a15-gic")
        try t.set(path, "#interrupt-cells", cells: [3])
        try t.set(path, "interrupt-controller")
        // Cells and ranges for children (QEMU hangs its GICv2m frame there); kept so user trees that add one work.
        try t.set(path, "#address-cells", cells: [2])
        try t.set(path, "#size-cells", cells: [2])
        try t.set(path, "ranges")
        try t.set(path, "reg", u64: reg(VirtPart.gicDistributor.region) + reg(VirtPart.gicCPUInterface.region))
        try t.set(path, "phandle", cells: [gicPhandle])
    }

    static func addTimerNode(_ t: FlattenedDeviceTree, cpus: Int) throws(DeviceTreeError) {
        // A GICv2 PPI specifier carries the mask of CPUs the interrupt is wired to in bits 15:8 of its flags.
        let flags = UInt32((1 << cpus) - 1) << 8 | InterruptFlags.levelHigh
        var interrupts: [UInt32] = []
        for ppi in [VirtTimerPPI.securePhysical, VirtTimerPPI.physical, VirtTimerPPI.virtual, VirtTimerPPI.hypervisor] {
            interrupts += [1, UInt32(ppi - 16), flags]
        }
        try t.set("/timer", "compatible", strings: ["arm,armv8-timer", "arm,armv7-timer"])
        try t.set("/timer", "interrupts", cells: interrupts)
        try t.set("/timer", "always-on")
    }

    /// The 24 MHz APB clock the PrimeCells name.
    static func addClockNode(_ t: FlattenedDeviceTree) throws(DeviceTreeError) {
        try t.set("/apb-pclk", "compatible", string: "fixed-clock")
        try t.set("/apb-pclk", "#clock-cells", cells: [0])
        try t.set("/apb-pclk", "clock-frequency", cells: [24_000_000])
        try t.set("/apb-pclk", "clock-output-names", string: "clk24mhz")
        try t.set("/apb-pclk", "phandle", cells: [clockPhandle])
    }

    static func addPrimeCellNode(_ t: FlattenedDeviceTree, name: String, part: VirtPart, compatible: String,
                                 clocks: [String]) throws(DeviceTreeError) {
        let path = nodePath(name, part.region.base)
        try t.set(path, "compatible", strings: [compatible, "arm,primecell"])
        try t.set(path, "reg", u64: reg(part.region))
        try t.set(path, "interrupts", cells: [0, UInt32(part.spi ?? 0), InterruptFlags.levelHigh])
        try t.set(path, "clocks", cells: clocks.map { _ in clockPhandle })
        try t.set(path, "clock-names", strings: clocks)
    }

    /// The console the kernel should use (`stdout-path`).
    static var consolePath: String { nodePath("pl011", VirtPart.uart.region.base) }

    /// Writes /memory (the RAM emud gives the machine) and /chosen into a tree, emud's or a user's (`--dtb`,
    /// as QEMU fixes up a `-dtb`). A memory node the tree already has is rewritten in place.
    public static func fixUp(_ t: FlattenedDeviceTree, ramSize: UInt64, chosen: ChosenNode) throws(DeviceTreeError) {
        // The addresses below are written as two cells each, which is what the root must declare.
        for name in ["#address-cells", "#size-cells"] where t.cells("/", name) != [2] {
            throw DeviceTreeError(description: "the device tree's root has \(name) = \(t.cells("/", name).map { "\($0)" } ?? "nothing"); emud fixes up trees with 2 address and 2 size cells, as the virt board's")
        }
        // libfdt matches "/memory" against a node "memory@..." too.
        let memory = t.hasNode("/memory") ? "/memory" : nodePath("memory", VirtPart.ram.region.base)
        try t.set(memory, "device_type", string: "memory")
        try t.set(memory, "reg", u64: [VirtPart.ram.region.base, ramSize])
        try t.addNode("/chosen")
        if let bootargs = chosen.bootargs { try t.set("/chosen", "bootargs", string: bootargs) }
        try t.set("/chosen", "stdout-path", string: consolePath)
        if let initrd = chosen.initrd {
            try t.set("/chosen", "linux,initrd-start", u64: [initrd.lowerBound])
            try t.set("/chosen", "linux,initrd-end", u64: [initrd.upperBound])
        }
    }
}

/// What a boot puts in the device tree's /chosen node.
public struct ChosenNode: Sendable, Equatable {
    /// The kernel command line (`--append`); nil writes none.
    public var bootargs: String?
    /// Guest-physical range of the initial RAM disk.
    public var initrd: Range<UInt64>?

    public init(bootargs: String? = nil, initrd: Range<UInt64>? = nil) {
        self.bootargs = bootargs
        self.initrd = initrd
    }
}
