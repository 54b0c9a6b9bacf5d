import Foundation

/// A GICv2 distributor and CPU interfaces at the `virt` board's addresses (GICD 0x0800_0000, GICC 0x0801_0000),
/// with 32 banked SGIs/PPIs per CPU and 256 SPIs.
///
/// Level-sensitive lines (PPIs, SPIs from devices) and edge/software pending state are kept apart, so an
/// interrupt whose line is still high becomes pending again after EOI, as on hardware.
/// Thread-safe: all state is behind one lock; the IRQ output of each CPU is pushed to its `VCPU`.
public final class GICv2 {
    public static let interruptCount = 288
    private let lock = NSLock()
    private let cpuCount: Int
    private var distributorEnabled = false
    // Per interrupt; SGIs/PPIs (< 32) are banked: index [cpu * 32 + id].
    private var enabled: [Bool]
    private var latched: [Bool]
    private var line: [Bool]
    private var active: [Bool]
    private var priority: [UInt8]
    private var edgeTriggered: [Bool]
    private var targets: [UInt8]
    private var sgiSource: [UInt8]  // per cpu*16+sgi: requesting cpu mask
    // CPU interfaces
    private var cpuEnabled: [Bool]
    private var priorityMask: [UInt8]
    private var binaryPoint: [UInt8]
    private var activeStack: [[Int]]
    /// Receives IRQ line changes per CPU.
    var irqOutput: (Int, Bool) -> Void = { _, _ in }
    private var lastOutput: [Bool]

    public init(cpus: Int) {
        cpuCount = cpus
        let bankedSize = cpus * 32 + Self.interruptCount
        enabled = Array(repeating: false, count: bankedSize)
        latched = Array(repeating: false, count: bankedSize)
        line = Array(repeating: false, count: bankedSize)
        active = Array(repeating: false, count: bankedSize)
        priority = Array(repeating: 0, count: bankedSize)
        edgeTriggered = Array(repeating: false, count: bankedSize)
        targets = Array(repeating: 0, count: Self.interruptCount)
        sgiSource = Array(repeating: 0, count: cpus * 16)
        cpuEnabled = Array(repeating: false, count: cpus)
        priorityMask = Array(repeating: 0, count: cpus)
        binaryPoint = Array(repeating: 2, count: cpus)
        activeStack = Array(repeating: [], count: cpus)
        lastOutput = Array(repeating: false, count: cpus)
        for c in 0..<cpus { for id in 0..<16 { edgeTriggered[c * 32 + id] = true; enabled[c * 32 + id] = true } }
    }

    /// Index of interrupt `id` as seen by `cpu` (banked below 32).
    private func slot(_ id: Int, cpu: Int) -> Int { id < 32 ? cpu * 32 + id : cpuCount * 32 + id }

    private func pending(_ s: Int) -> Bool { latched[s] || (!edgeTriggered[s] && line[s]) }

    /// Sets the level of a private peripheral interrupt (16...31) of one CPU.
    public func setPPI(cpu: Int, id: Int, level: Bool) {
        guard cpu < cpuCount, (16..<32).contains(id) else { return }
        lock.lock()
        line[slot(id, cpu: cpu)] = level
        let outputs = updateLocked()
        lock.unlock()
        deliver(outputs)
    }

    /// Sets the level of a shared peripheral interrupt (id >= 32).
    public func setSPI(id: Int, level: Bool) {
        guard id >= 32, id < Self.interruptCount else { return }
        lock.lock()
        let s = slot(id, cpu: 0)
        if edgeTriggered[s] && level && !line[s] { latched[s] = true }
        line[s] = level
        let outputs = updateLocked()
        lock.unlock()
        deliver(outputs)
    }

    private func deliver(_ outputs: [(Int, Bool)]) {
        for (cpu, level) in outputs { irqOutput(cpu, level) }
    }

    private func runningPriority(_ cpu: Int) -> Int {
        var best = 0x100
        for id in activeStack[cpu] { best = min(best, Int(priority[slot(id, cpu: cpu)])) }
        return best
    }

    /// The highest-priority pending interrupt `cpu` may take now, if any.
    private func bestPending(_ cpu: Int) -> Int? {
        guard distributorEnabled else { return nil }
        var bestID: Int? = nil
        var bestPriority = Int(priorityMask[cpu])
        let running = runningPriority(cpu)
        for id in 0..<Self.interruptCount {
            if id >= 32 && targets[id] & (1 << UInt8(cpu)) == 0 { continue }
            let s = slot(id, cpu: cpu)
            guard enabled[s], pending(s), !active[s] else { continue }
            let p = Int(priority[s])
            if p < bestPriority && p < running { bestPriority = p; bestID = id }
        }
        return bestID
    }

    private func updateLocked() -> [(Int, Bool)] {
        var changes: [(Int, Bool)] = []
        for cpu in 0..<cpuCount {
            let level = cpuEnabled[cpu] && bestPending(cpu) != nil
            if level != lastOutput[cpu] { lastOutput[cpu] = level; changes.append((cpu, level)) }
        }
        return changes
    }

    // MARK: distributor registers

    lazy var distributor: MMIODevice = Window(name: "gic-distributor", read: { [unowned self] in self.readDistributor($0, cpu: $1) },
                                               write: { [unowned self] in self.writeDistributor($0, $1, cpu: $2) })
    lazy var cpuInterface: MMIODevice = Window(name: "gic-cpu-interface", read: { [unowned self] in self.readCPU($0, cpu: $1) },
                                                write: { [unowned self] in self.writeCPU($0, $1, cpu: $2) })

    private func readDistributor(_ offset: UInt64, cpu: Int) -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        let o = Int(offset)
        switch o {
        case 0x000: return distributorEnabled ? 1 : 0
        case 0x004: return UInt64((Self.interruptCount / 32 - 1) | ((cpuCount - 1) << 5))
        case 0x008: return 0x0200_043b
        case 0x100..<0x180, 0x180..<0x200:
            return bits(base: (o & 0x7f) * 8, cpu: cpu) { enabled[$0] }
        case 0x200..<0x280, 0x280..<0x300:
            return bits(base: (o & 0x7f) * 8, cpu: cpu) { pending($0) }
        case 0x300..<0x380, 0x380..<0x400:
            return bits(base: (o & 0x7f) * 8, cpu: cpu) { active[$0] }
        case 0x400..<0x800:
            var v: UInt64 = 0
            for b in 0..<4 where (o - 0x400 + b) < Self.interruptCount {
                v |= UInt64(priority[slot(o - 0x400 + b, cpu: cpu)]) << UInt64(8 * b)
            }
            return v
        case 0x800..<0xc00:
            var v: UInt64 = 0
            for b in 0..<4 {
                let id = o - 0x800 + b
                guard id < Self.interruptCount else { continue }
                let t: UInt8 = id < 32 ? UInt8(1 << cpu) : targets[id]
                v |= UInt64(t) << UInt64(8 * b)
            }
            return v
        case 0xc00..<0xd00:
            var v: UInt64 = 0
            for k in 0..<16 {
                let id = (o - 0xc00) * 4 + k
                guard id < Self.interruptCount else { continue }
                if edgeTriggered[slot(id, cpu: cpu)] { v |= 2 << UInt64(2 * k) }
            }
            return v
        case 0xfe8: return 0x2b  // ICPIDR2: GICv2
        default: return 0
        }
    }

    private func bits(base: Int, cpu: Int, _ predicate: (Int) -> Bool) -> UInt64 {
        var v: UInt64 = 0
        for k in 0..<32 where base + k < Self.interruptCount {
            if predicate(slot(base + k, cpu: cpu)) { v |= 1 << UInt64(k) }
        }
        return v
    }

    private func writeDistributor(_ offset: UInt64, _ value: UInt64, cpu: Int) {
        lock.lock()
        let o = Int(offset)
        let v = UInt32(truncatingIfNeeded: value)
        func each(_ base: Int, _ body: (Int) -> Void) {
            for k in 0..<32 where v & (1 << UInt32(k)) != 0 && base + k < Self.interruptCount { body(slot(base + k, cpu: cpu)) }
        }
        switch o {
        case 0x000: distributorEnabled = v & 1 != 0
        case 0x100..<0x180: each((o - 0x100) * 8) { enabled[$0] = true }
        case 0x180..<0x200: each((o - 0x180) * 8) { if $0 % 32 >= 16 || $0 >= cpuCount * 32 { enabled[$0] = false } }
        case 0x200..<0x280: each((o - 0x200) * 8) { latched[$0] = true }
        case 0x280..<0x300: each((o - 0x280) * 8) { latched[$0] = false }
        case 0x300..<0x380: each((o - 0x300) * 8) { active[$0] = true }
        case 0x380..<0x400: each((o - 0x380) * 8) { active[$0] = false }
        case 0x400..<0x800:
            for b in 0..<4 where (o - 0x400 + b) < Self.interruptCount {
                priority[slot(o - 0x400 + b, cpu: cpu)] = UInt8(truncatingIfNeeded: v >> UInt32(8 * b))
            }
        case 0x800..<0xc00:
            for b in 0..<4 {
                let id = o - 0x800 + b
                if id >= 32 && id < Self.interruptCount { targets[id] = UInt8(truncatingIfNeeded: v >> UInt32(8 * b)) }
            }
        case 0xc00..<0xd00:
            for k in 0..<16 {
                let id = (o - 0xc00) * 4 + k
                guard id >= 16 && id < Self.interruptCount else { continue }
                edgeTriggered[slot(id, cpu: cpu)] = (v >> UInt32(2 * k + 1)) & 1 != 0
            }
        case 0xf00:
            let sgi = Int(v & 0xf)
            let filter = (v >> 24) & 3
            var mask = UInt8(truncatingIfNeeded: v >> 16)
            if filter == 1 { mask = UInt8(truncatingIfNeeded: ((1 << cpuCount) - 1) & ~(1 << cpu)) }
            if filter == 2 { mask = UInt8(1 << cpu) }
            for target in 0..<cpuCount where mask & (1 << UInt8(target)) != 0 {
                latched[slot(sgi, cpu: target)] = true
                sgiSource[target * 16 + sgi] |= UInt8(1 << cpu)
            }
        default: break
        }
        let outputs = updateLocked()
        lock.unlock()
        deliver(outputs)
    }

    // MARK: CPU interface registers

    private func readCPU(_ offset: UInt64, cpu: Int) -> UInt64 {
        lock.lock()
        var outputs: [(Int, Bool)] = []
        defer { lock.unlock(); deliver(outputs) }
        switch offset {
        case 0x00: return cpuEnabled[cpu] ? 1 : 0
        case 0x04: return UInt64(priorityMask[cpu])
        case 0x08: return UInt64(binaryPoint[cpu])
        case 0x0c: // IAR: acknowledge
            guard cpuEnabled[cpu], let id = bestPending(cpu) else { return 1023 }
            let s = slot(id, cpu: cpu)
            latched[s] = false
            active[s] = true
            activeStack[cpu].append(id)
            var source: UInt64 = 0
            if id < 16 {
                let sources = sgiSource[cpu * 16 + id]
                if let first = (0..<8).first(where: { sources & (1 << UInt8($0)) != 0 }) {
                    source = UInt64(first)
                    sgiSource[cpu * 16 + id] &= ~(1 << UInt8(first))
                    if sgiSource[cpu * 16 + id] != 0 { latched[s] = true }
                }
            }
            outputs = updateLocked()
            return UInt64(id) | (source << 10)
        case 0x14: let r = runningPriority(cpu); return r == 0x100 ? 0xff : UInt64(r)
        case 0x18: return UInt64(bestPending(cpu) ?? 1023)
        case 0xfc: return 0x0202_143b
        default: return 0
        }
    }

    private func writeCPU(_ offset: UInt64, _ value: UInt64, cpu: Int) {
        lock.lock()
        switch offset {
        case 0x00: cpuEnabled[cpu] = value & 1 != 0
        case 0x04: priorityMask[cpu] = UInt8(truncatingIfNeeded: value)
        case 0x08: binaryPoint[cpu] = UInt8(value & 7)
        case 0x10: // EOIR
            let id = Int(value & 0x3ff)
            if id < Self.interruptCount {
                active[slot(id, cpu: cpu)] = false
                if let at = activeStack[cpu].lastIndex(of: id) { activeStack[cpu].remove(at: at) }
            }
        default: break
        }
        let outputs = updateLocked()
        lock.unlock()
        deliver(outputs)
    }
}

/// An MMIO window whose registers are 32 bits wide; narrower and wider accesses see the containing word.
final class Window: MMIODevice {
    let name: String
    let readRegister: (UInt64, Int) -> UInt64
    let writeRegister: (UInt64, UInt64, Int) -> Void

    init(name: String, read: @escaping (UInt64, Int) -> UInt64, write: @escaping (UInt64, UInt64, Int) -> Void) {
        self.name = name
        readRegister = read
        writeRegister = write
    }

    func read(offset: UInt64, size: Int, cpu: Int) -> UInt64? {
        let word = readRegister(offset & ~3, cpu)
        let shift = (offset & 3) * 8
        return size >= 4 ? word : (word >> shift) & ones(size * 8)
    }

    func write(offset: UInt64, size: Int, value: UInt64, cpu: Int) -> Bool {
        if size == 1 && (offset >= 0x400 && offset < 0xc00) {
            // Byte-accessible priority and target registers.
            let word = readRegister(offset & ~3, cpu)
            let shift = (offset & 3) * 8
            let merged = (word & ~(0xff << shift)) | ((value & 0xff) << shift)
            writeRegister(offset & ~3, merged, cpu)
        } else {
            writeRegister(offset & ~3, value & 0xffff_ffff, cpu)
        }
        return true
    }
}
