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
/// `pageBits` and `reservations` are changed with atomics only. MMIO regions are fixed after board construction.
public final class GuestMemory {
    /// Translated code is tracked in 256-byte granules: small enough that data sharing a 4 KiB page with
    /// code (common in bare-metal images) does not invalidate that code on every store.
    public static let pageShift: UInt64 = 8
    public let ramBase: UInt64
    public let ramSize: UInt64
    public let ram: UnsafeMutableRawPointer
    /// One 16-bit word per 256-byte granule of RAM ("page" below): bit i is set while vCPU i holds translated code
    /// from that page, bit 8 + i while vCPU i holds an exclusive reservation in it. The interpreter's store path
    /// reads this word after every RAM store and takes the slow path only when it is non-zero.
    let pageBits: UnsafeMutablePointer<UnsafeAtomic<UInt16>.Storage>
    /// The global exclusive monitor: one word per vCPU, each on its own cache line (index cpu * 8):
    /// 0 = no reservation, granule | `reservedBit` = reserved, granule | `claimedBit` = a store-exclusive of the owner
    /// is committing. See "exclusive monitor" below.
    let reservations: UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage>
    public private(set) var regions: [MMIORegion] = []
    /// Called when a store hits a page with translated code of some vCPU: (page index, vCPU mask).
    var onCodeWrite: ((UInt64, UInt8) -> Void)?
    /// Called when a store cleared vCPU i's reservation: clearing a global monitor is a wake-up event for WFE.
    var onReservationLost: ((Int) -> Void)?
    /// Reservation granule: CTR_EL0.ERG = 4 (16 words), as on Cortex-A76.
    public static let reservationGranule: UInt64 = 64
    static let reservedBit: UInt64 = 1
    static let claimedBit: UInt64 = 2

    /// Maps `ramSize` bytes of zeroed RAM (pages are committed as the guest first touches them), with an
    /// inaccessible guard page after it, so that a host access running past the end of guest RAM (a bug in emud)
    /// faults at once instead of reading or writing whatever lies there. Throws ``MachineError/outOfMemory(_:)``
    /// when the host cannot provide the mapping, instead of aborting.
    public init(ramBase: UInt64, ramSize: UInt64) throws(MachineError) {
        let page = 4096
        guard let size = Int(exactly: ramSize), size > 0, size <= Int.max - 2 * page else { throw MachineError.invalidMemorySize(ramSize) }
        let length = (size + page - 1) / page * page
        let mapping = mmap(nil, length + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let mapping, mapping != MAP_FAILED else { throw MachineError.outOfMemory(ramSize) }
        _ = mprotect(mapping + length, page, PROT_NONE)
        self.ramBase = ramBase
        self.ramSize = ramSize
        ram = mapping
        mappedLength = length + page
        let pages = Int((ramSize + 255) >> 8)
        pageCount = UInt64(pages)
        pageBits = .allocate(capacity: pages)
        pageBits.initialize(repeating: .init(0), count: pages)
        reservations = .allocate(capacity: 8 * Self.maxReservations)
        reservations.initialize(repeating: .init(0), count: 8 * Self.maxReservations)
    }

    /// Granules in `pageBits`.
    let pageCount: UInt64

    /// One reservation word per possible vCPU (the page bits have room for 8).
    static let maxReservations = 8

    /// Bytes mapped for `ram`, its guard page included.
    private let mappedLength: Int

    deinit {
        munmap(ram, mappedLength)
        pageBits.deallocate()
        reservations.deallocate()
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

    /// Host memory outside RAM that instructions may be fetched from now (flash reading its array), or nil.
    func executablePointer(_ address: UInt64, _ length: UInt64) -> UnsafeMutableRawPointer? {
        guard let (region, offset) = region(for: address, size: Int(length)),
              let device = region.device as? ExecutableMemoryDevice else { return nil }
        return device.executablePointer(offset: offset, length: length)
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

    /// Code and reservation bits of a page: non-zero means a store there needs `watchedPageWritten` handling.
    @inline(__always) func watchBits(page: UInt64) -> UInt16 {
        UnsafeAtomic<UInt16>(at: pageBits + Int(page)).load(ordering: .relaxed)
    }
    /// Code from outside RAM (flash) has no page bits: its blocks are dropped when the flash says it changed.
    func markCode(page: UInt64, cpu: Int) {
        guard page < pageCount else { return }
        _ = UnsafeAtomic<UInt16>(at: pageBits + Int(page)).loadThenBitwiseOr(with: UInt16(1) << UInt16(cpu), ordering: .relaxed)
    }
    func clearCode(page: UInt64, cpu: Int) {
        guard page < pageCount else { return }
        _ = UnsafeAtomic<UInt16>(at: pageBits + Int(page)).loadThenBitwiseAnd(with: ~(UInt16(1) << UInt16(cpu)), ordering: .relaxed)
    }

    // MARK: exclusive monitor
    //
    // The local monitor of each vCPU (address, size, value seen) lives in the VCPU; the global monitor is the
    // `reservations` word of each vCPU plus a bit in the page's `pageBits` word, so that ordinary stores pay one
    // load (which they already do for code tracking) and only stores into a page holding a reservation look further.
    //
    // Guarantees and the host primitive behind each (x86-64, through swift-atomics):
    // - LDXR: `reserve` publishes the reservation with a sequentially consistent store and a `lock or` on the page
    //   bits *before* the load reads memory, so any store that lands after the load sees the page bit.
    // - A store by another vCPU (plain store, store-exclusive, LSE atomic, CAS, DC ZVA, SIMD store, or a write by
    //   gdb, a device or the loader) to the reservation granule clears the reservation with `lock cmpxchg`
    //   (`storeClears`), and signals the owner's event register (WFE wakes).
    // - STXR: `claim` turns the owner's reservation into "claimed" with `lock cmpxchg`; only then is memory written,
    //   itself with `lock cmpxchg` against the value LDXR saw. So a store that cleared the reservation first makes
    //   STXR fail; a store that comes after the claim is ordered after the STXR (its value CAS fails if that store's
    //   value got there first, and a store that writes back the very value LDXR saw is indistinguishable from one
    //   ordered before the LDXR). `release` ends the reservation (`xchg`), as do CLREX, exception entry and ERET.
    // - A vCPU's own ordinary stores do not clear its reservation (IMPLEMENTATION DEFINED; QEMU does not either).

    @inline(__always) private func reservation(_ cpu: Int) -> UnsafeAtomic<UInt64> {
        UnsafeAtomic<UInt64>(at: reservations + cpu * 8)
    }

    /// Marks the reservation granule of `address` for `cpu`, which holds none (its owner releases any earlier one).
    func reserve(cpu: Int, address: UInt64) {
        guard cpu < Self.maxReservations else { return }
        let granule = address & ~(Self.reservationGranule - 1)
        reservation(cpu).store(granule | Self.reservedBit, ordering: .sequentiallyConsistent)
        let offset = granule &- ramBase
        if offset < ramSize {
            _ = UnsafeAtomic<UInt16>(at: pageBits + Int(offset >> Self.pageShift))
                .loadThenBitwiseOr(with: UInt16(0x100) << UInt16(cpu), ordering: .sequentiallyConsistent)
        }
    }

    /// Starts committing `cpu`'s store-exclusive to `address`: true if its reservation of that granule still stands.
    func claim(cpu: Int, address: UInt64) -> Bool {
        guard cpu < Self.maxReservations else { return false }
        let granule = address & ~(Self.reservationGranule - 1)
        return reservation(cpu).compareExchange(expected: granule | Self.reservedBit, desired: granule | Self.claimedBit,
                                                ordering: .sequentiallyConsistent).exchanged
    }

    /// Ends `cpu`'s reservation, if any, and its page bit.
    func release(cpu: Int) {
        guard cpu < Self.maxReservations else { return }
        let old = reservation(cpu).exchange(0, ordering: .sequentiallyConsistent)
        let offset = (old & ~(Self.reservationGranule - 1)) &- ramBase
        if old != 0 && offset < ramSize {
            _ = UnsafeAtomic<UInt16>(at: pageBits + Int(offset >> Self.pageShift))
                .loadThenBitwiseAnd(with: ~(UInt16(0x100) << UInt16(cpu)), ordering: .relaxed)
        }
    }

    /// A store of `length` bytes at `address` by `cpu` (-1: not a vCPU) hit a page whose reservation bits are
    /// `bits` (high byte of `pageBits`): clears every other vCPU's reservation whose granule it overlaps.
    func storeClears(address: UInt64, length: UInt64, cpu: Int, bits: UInt16) {
        var others = bits >> 8
        if cpu >= 0 && cpu < 8 { others &= ~(UInt16(1) << UInt16(cpu)) }
        let first = address & ~(Self.reservationGranule - 1)
        let last = (address &+ length &- 1) & ~(Self.reservationGranule - 1)
        while others != 0 {
            let j = others.trailingZeroBitCount
            others &= others &- 1
            let r = reservation(j).load(ordering: .sequentiallyConsistent)
            let granule = r & ~(Self.reservationGranule - 1)
            guard r & Self.reservedBit != 0, granule >= first, granule <= last else { continue }
            // Lost: the granule stays (without `reservedBit`) so that the owner's next `release` (its STXR, CLREX or
            // next LDXR) clears the page bit; stores meanwhile find no reservation to clear.
            if reservation(j).compareExchange(expected: r, desired: granule, ordering: .sequentiallyConsistent).exchanged {
                onReservationLost?(j)
            }
        }
    }

    /// Called after any write to RAM that did not come from the interpreter's own store path
    /// (gdb, loaders, plugins, devices): invalidates translated code covering it.
    public func noteExternalWrite(_ address: UInt64, _ length: UInt64) {
        guard length > 0, let _ = ramPointer(address, length) else { return }
        let first = (address - ramBase) >> Self.pageShift
        let last = (address - ramBase + length - 1) >> Self.pageShift
        for page in first...last {
            let bits = watchBits(page: page)
            let mask = UInt8(truncatingIfNeeded: bits)
            if mask != 0 { onCodeWrite?(page, mask) }
            if bits > 0xff {
                let start = max(address, ramBase + (page << Self.pageShift))
                let end = min(address + length, ramBase + ((page + 1) << Self.pageShift))
                storeClears(address: start, length: end - start, cpu: -1, bits: bits)
            }
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

}

/// RAM at guest addresses, as semihosting and other firmware services see it: physical (`GuestMemory`) or
/// virtual through a vCPU's current translation (`MemoryPort.guestView`).
public protocol GuestRAM {
    /// The host address of `length` bytes of RAM at `address`, or nil when any of them is not RAM (or, for a
    /// virtual view, not mapped to one contiguous run of RAM).
    func ramPointer(_ address: UInt64, _ length: UInt64) -> UnsafeMutableRawPointer?
    /// Writes RAM (translated code there is invalidated); false, with nothing written, when not all is RAM.
    func writeBytes(_ address: UInt64, _ bytes: [UInt8]) -> Bool
}

extension GuestRAM {
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

extension GuestMemory: GuestRAM {}
