import Atomics
import Foundation

/// A memory-mapped device. Called on the vCPU thread that made the access; a device shared between vCPUs
/// synchronises itself.
public protocol MMIODevice: AnyObject {
    var name: String { get }
    /// Reads `size` bytes (1, 2, 4 or 8) at `offset` within the device's region; nil is an external abort.
    func read(offset: UInt64, size: Int, cpu: Int) -> UInt64?
    /// Writes; false is an external abort.
    func write(offset: UInt64, size: Int, value: UInt64, cpu: Int) -> Bool
}

public struct MMIORegion {
    public let base: UInt64
    public let size: UInt64
    public let device: MMIODevice
    /// The device's name as a C string for plugins (lives as long as the process: regions are few and fixed).
    public let cName: UnsafePointer<CChar>
}

/// The guest's physical address space: one RAM block backed by host memory, and MMIO regions.
///
/// Every access is bounds-checked against RAM or a device region: a guest can never reach host memory outside
/// its RAM block. Accesses to nothing are reported to the caller, which raises a data abort.
///
/// Thread safety: RAM may be read and written from any vCPU thread (guest-visible races are the guest's);
/// `codePages` bits are set and cleared with atomics. MMIO regions are fixed after board construction.
public final class GuestMemory {
    /// Translated code is tracked in 256-byte granules: small enough that data sharing a 4 KiB page with
    /// code (common in bare-metal images) does not invalidate that code on every store.
    public static let pageShift: UInt64 = 8
    public let ramBase: UInt64
    public let ramSize: UInt64
    public let ram: UnsafeMutableRawPointer
    /// One byte per 256-byte granule of RAM: bit i is set while vCPU i holds translated code from that page.
    let codePages: UnsafeMutablePointer<UnsafeAtomic<UInt8>.Storage>
    public private(set) var regions: [MMIORegion] = []
    /// Called when a store hits a page with translated code of some vCPU: (page index, vCPU mask).
    var onCodeWrite: ((UInt64, UInt8) -> Void)?

    public init(ramBase: UInt64, ramSize: UInt64) {
        self.ramBase = ramBase
        self.ramSize = ramSize
        ram = UnsafeMutableRawPointer.allocate(byteCount: Int(ramSize), alignment: 4096)
        ram.initializeMemory(as: UInt8.self, repeating: 0, count: Int(ramSize))
        let pages = Int((ramSize + 255) >> 8)
        codePages = .allocate(capacity: pages)
        codePages.initialize(repeating: .init(0), count: pages)
    }

    deinit {
        ram.deallocate()
        codePages.deallocate()
    }

    public func map(_ device: MMIODevice, at base: UInt64, size: UInt64) {
        regions.append(MMIORegion(base: base, size: size, device: device, cName: UnsafePointer(strdup(device.name)!)))
    }

    /// The host address of `length` bytes of RAM at `address`, or nil when any part lies outside RAM.
    @inline(__always) public func ramPointer(_ address: UInt64, _ length: UInt64) -> UnsafeMutableRawPointer? {
        let offset = address &- ramBase
        guard offset < ramSize, length <= ramSize - offset else { return nil }
        return ram + Int(offset)
    }

    func region(for address: UInt64, size: Int) -> (MMIORegion, UInt64)? {
        for r in regions where address >= r.base && address - r.base < r.size {
            let offset = address - r.base
            guard UInt64(size) <= r.size - offset else { return nil }
            return (r, offset)
        }
        return nil
    }

    // MARK: code tracking

    @inline(__always) func codeMask(page: UInt64) -> UInt8 {
        UnsafeAtomic<UInt8>(at: codePages + Int(page)).load(ordering: .relaxed)
    }
    func markCode(page: UInt64, cpu: Int) {
        _ = UnsafeAtomic<UInt8>(at: codePages + Int(page)).loadThenBitwiseOr(with: UInt8(1) << UInt8(cpu), ordering: .relaxed)
    }
    func clearCode(page: UInt64, cpu: Int) {
        _ = UnsafeAtomic<UInt8>(at: codePages + Int(page)).loadThenBitwiseAnd(with: ~(UInt8(1) << UInt8(cpu)), ordering: .relaxed)
    }

    /// Called after any write to RAM that did not come from the interpreter's own store path
    /// (gdb, loaders, plugins, devices): invalidates translated code covering it.
    public func noteExternalWrite(_ address: UInt64, _ length: UInt64) {
        guard length > 0, let _ = ramPointer(address, length) else { return }
        let first = (address - ramBase) >> Self.pageShift
        let last = (address - ramBase + length - 1) >> Self.pageShift
        for page in first...last {
            let mask = codeMask(page: page)
            if mask != 0 { onCodeWrite?(page, mask) }
        }
    }

    // MARK: accesses from outside the interpreter (debugger, loader, semihosting, plugins)

    /// Reads bytes without side effects on the machine: RAM only (device registers are not read, since reading
    /// a device can change it).
    public func readBytes(_ address: UInt64, _ length: Int) -> [UInt8]? {
        guard length >= 0, let p = ramPointer(address, UInt64(length)) else { return nil }
        return Array(UnsafeRawBufferPointer(start: p, count: length))
    }

    public func writeBytes(_ address: UInt64, _ bytes: [UInt8]) -> Bool {
        guard let p = ramPointer(address, UInt64(bytes.count)) else { return false }
        bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        noteExternalWrite(address, UInt64(bytes.count))
        return true
    }

    public func read64(_ address: UInt64) -> UInt64? {
        guard let p = ramPointer(address, 8) else { return nil }
        return p.loadUnaligned(as: UInt64.self)
    }

    /// Reads a NUL-terminated string from RAM (at most `limit` bytes).
    public func readCString(_ address: UInt64, limit: Int = 1 << 20) -> [UInt8]? {
        var out: [UInt8] = []
        var a = address
        while out.count < limit {
            guard let p = ramPointer(a, 1) else { return nil }
            let b = p.load(as: UInt8.self)
            if b == 0 { return out }
            out.append(b)
            a &+= 1
        }
        return out
    }
}
