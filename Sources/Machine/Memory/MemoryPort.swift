import Atomics

/// One entry of a vCPU's TLB: a 4 KiB virtual page and where its physical page lies in RAM. A tag is the page's
/// virtual address when the access kind is allowed through this entry, or `TLBEntry.invalid`, which no page
/// address equals (its low bits are set), so one compare checks both presence and permission.
struct TLBEntry {
    var readTag: UInt64 = TLBEntry.invalid
    var writeTag: UInt64 = TLBEntry.invalid
    var fetchTag: UInt64 = TLBEntry.invalid
    /// Offset in RAM of the physical page.
    var ramOffset: UInt64 = 0
    static let invalid: UInt64 = ~0
}

/// Every guest access of one vCPU goes through its memory port: data loads and stores of every width, instruction
/// fetch, atomics and exclusives, SIMD structure accesses, DC ZVA, and (through the debug entry points) gdb,
/// semihosting and plugins. Page-table walks are the port's slow path.
///
/// - The fast path is a TLB hit: one tag compare (which also checks the permission, a page crossing and
///   alignment), then an add to the host address of the RAM page. Only Normal RAM pages enter the TLB.
///   With the MMU off (and no watchpoints) a range check on RAM comes first: the flat path. The interpreter's
///   plain loads (LDR, LDP) inline both; its other accesses inline the flat path and call the TLB lookup.
///   (Stores that inlined both, even at only the four fixed-size STR sites, made the compiler outline the
///   whole store: a call even with the MMU off.)
/// - The slow path checks alignment and gdb watchpoints, translates (`GuestMemory.walk`: the MMU, or the flat
///   map when it is off), checks permissions for the current EL and PAN, fills the TLB, then reads or writes RAM
///   or a device. A failure records the fault (`faultAddress`, `faultStatus`, `faultWrite`) for the data or
///   instruction abort the interpreter raises.
/// - Stores into RAM that holds translated code or exclusive reservations (`GuestMemory.watchBits`, by physical
///   granule) invalidate that code and clear those reservations, whichever virtual alias the store used.
///
/// Threading: owned by one vCPU and used only on its thread, or while it is parked (gdb, plugins).
/// The TLB holds three sets of entries: EL0, EL1, and EL1 with PSTATE.PAN set (which loses access to EL0 pages).
public final class MemoryPort {
    let memory: GuestMemory
    let ram: UnsafeMutableRawPointer
    let ramBase: UInt64
    let ramSize: UInt64
    let cpu: Int
    unowned(unsafe) let state: CPUState
    unowned(unsafe) let cache: TranslationCache

    static let tlbSets = 3
    /// 2,048 entries of 4 KiB pages reach 8 MiB per set: bench-qsort's 8 MiB array ran 30% slower with the MMU
    /// on with 256 entries (1 MiB) and as fast as with the MMU off with 2,048.
    static let tlbEntriesPerSet = 2048
    /// The entries filled since the last flush, so that a flush (every TLBI and translation-register write)
    /// empties only those instead of all 6,144; more than this many, and a flush empties the whole TLB.
    static let filledCapacity = 256
    let filled: UnsafeMutablePointer<Int32>
    var filledCount = 0
    /// Moves on at every flush: translated blocks record the epoch in which they were last checked against the
    /// TLB (`VCPU.stillMapped`).
    var epoch: UInt32 = 1
    static let pageMask: UInt64 = 0xfff
    let tlb: UnsafeMutablePointer<TLBEntry>
    /// First entry of the set for the current EL and PAN (see `regimeChanged`).
    var tlbSet = MemoryPort.tlbEntriesPerSet
    /// SCTLR_EL1.A: every data access must be aligned to its size. Folded into the fast path as a mask
    /// (0 when checking is off) so the common case costs one AND.
    var alignmentMask: UInt64 = 0 { didSet { updateFlatPath() } }
    /// The MMU as the last `regimeChanged` saw it; the vCPU flushes its translated code when this changes.
    public private(set) var mmuEnabled = false {
        didSet { updateFlatPath() }
    }
    /// The flat fast path: while the MMU is off, no watchpoint is set and alignment is not checked, a guest
    /// address is its physical address and one compare is all an access of up to 8 bytes needs: its RAM offset
    /// must be below this limit (RAM's size less 7, so the last byte fits too; the last 7 bytes of RAM take the
    /// slow path). Else 0, which sends every access to the TLB.
    var flatLimit: UInt64 = 0

    private func updateFlatPath() {
        flatLimit = !mmuEnabled && watchpoints.isEmpty && alignmentMask == 0 && ramSize > 8 ? ramSize &- 7 : 0
    }

    // Watchpoints (gdb). While any exist the TLB stays empty, so every access takes the slow path that checks them.
    public var watchpoints: [Watchpoint] = [] { didSet { flushTLB(); updateFlatPath() } }
    /// Lets the instruction at this address run once without triggering watchpoints (resuming from a hit).
    public var skipWatchpointAt: UInt64? = nil
    /// Set with `faultAddress` when the failed access was a watchpoint hit rather than an abort.
    var watchpointTriggered = false
    var watchHitKind: WatchKind = .write

    // The plugin access log of the current instruction.
    let accessLog: UnsafeMutablePointer<MemoryAccess>
    var accessCount = 0
    /// Set while a block with memory callbacks runs: the slow paths and the non-interpreter accessors (SIMD,
    /// atomics) log accesses; the interpreter's fast path logs them when its specialisation says so.
    var recordingAccesses = false
    static let accessLogCapacity = 64

    // Abort details of the last failed access, raised by the instruction's exit.
    var faultAddress: UInt64 = 0
    var faultStatus: FaultStatus = .synchronousExternalAbort
    var faultWrite = false
    /// A store of ours rewrote translated code: the block ends after it.
    var codeWriteHit = false

    init(memory: GuestMemory, cpu: Int, state: CPUState, cache: TranslationCache) {
        self.memory = memory
        ram = memory.ram
        ramBase = memory.ramBase
        ramSize = memory.ramSize
        self.cpu = cpu
        self.state = state
        self.cache = cache
        let entries = Self.tlbSets * Self.tlbEntriesPerSet
        tlb = .allocate(capacity: entries)
        tlb.initialize(repeating: TLBEntry(), count: entries)
        filled = .allocate(capacity: Self.filledCapacity)
        accessLog = .allocate(capacity: Self.accessLogCapacity)
        updateFlatPath()
    }

    deinit {
        tlb.deallocate()
        filled.deallocate()
        accessLog.deallocate()
    }

    // MARK: translation state

    /// Empties the TLB: after any change to the translation registers, a TLBI, or a change of watchpoints.
    public func flushTLB() {
        epoch &+= 1
        if filledCount <= Self.filledCapacity {
            for k in 0..<filledCount { tlb[Int(filled[k])] = TLBEntry() }
        } else {
            tlb.update(repeating: TLBEntry(), count: Self.tlbSets * Self.tlbEntriesPerSet)
        }
        filledCount = 0
    }

    /// Picks the TLB set for the current EL and PAN and folds SCTLR_EL1.A into the fast path; called whenever
    /// PSTATE or SCTLR_EL1 may have changed. Returns whether the MMU was switched on or off.
    @discardableResult func regimeChanged() -> Bool {
        let el0 = state.currentEL == 0
        let pan = state.panUAO & (1 << 22) != 0
        tlbSet = (el0 ? 0 : (pan ? 2 : 1)) * Self.tlbEntriesPerSet
        alignmentMask = state.sys.sctlr & 2 != 0 ? ~0 : 0
        let enabled = state.sys.sctlr & 1 != 0
        defer { mmuEnabled = enabled }
        return enabled != mmuEnabled
    }

    /// Runs `access` (a load or store of LDTR/STTR) with EL0's permissions when at EL1 and PSTATE.UAO is clear:
    /// through EL0's TLB set, and PAN does not apply.
    @inline(__always) func unprivileged<T>(_ access: () -> T) -> T {
        guard state.currentEL == 1 && state.panUAO & (1 << 23) == 0 else { return access() }
        let saved = tlbSet
        tlbSet = 0
        asEL0 = true
        defer { tlbSet = saved; asEL0 = false }
        return access()
    }

    /// Set while an LDTR/STTR at EL1 runs (see `unprivileged`).
    var asEL0 = false

    /// Translates `va` for an access of `kind` by the current EL (or EL0 for `unprivileged`), applying the
    /// permission checks and PAN. nil after recording the fault.
    func translate(_ va: UInt64, _ kind: AccessKind, unprivileged: Bool = false, checkPAN: Bool = true) -> PageTranslation? {
        switch memory.walk(va, kind, TranslationRegime(state.sys)) {
        case .failure(let fault):
            recordFault(va, fault.status, write: kind == .write)
            return nil
        case .success(let t):
            let el0 = unprivileged || asEL0 || state.currentEL == 0
            let permissions = el0 ? t.el0 : t.el1
            let needed: UInt8
            switch kind {
            case .read: needed = PagePermission.read
            case .write: needed = PagePermission.write
            case .fetch: needed = PagePermission.execute
            }
            var allowed = permissions & needed != 0
            // PAN: a privileged data access to memory that EL0 can reach faults.
            if allowed && checkPAN && !el0 && kind != .fetch && state.panUAO & (1 << 22) != 0 && t.el0 & 3 != 0 && state.sys.sctlr & 1 != 0 {
                allowed = false
            }
            if !allowed {
                recordFault(va, .permission(level: UInt64(t.level)), write: kind == .write)
                return nil
            }
            return t
        }
    }

    /// Enters a translated RAM page in the current TLB set, with the permissions the current EL has on it.
    func fill(_ va: UInt64, _ t: PageTranslation, _ ramOffset: UInt64) {
        guard watchpoints.isEmpty, !t.isDevice else { return }
        let index = tlbSet &+ Int(truncatingIfNeeded: (va >> 12) & UInt64(Self.tlbEntriesPerSet - 1))
        if filledCount < Self.filledCapacity { filled[filledCount] = Int32(truncatingIfNeeded: index) }
        if filledCount <= Self.filledCapacity { filledCount += 1 }
        let e = tlb + index
        let page = va & ~Self.pageMask
        let el0 = tlbSet == 0
        let pan = tlbSet == 2 * Self.tlbEntriesPerSet && t.el0 & 3 != 0 && state.sys.sctlr & 1 != 0
        let permissions = el0 ? t.el0 : t.el1
        e.pointee = TLBEntry(
            readTag: permissions & PagePermission.read != 0 && !pan ? page : TLBEntry.invalid,
            writeTag: permissions & PagePermission.write != 0 && !pan ? page : TLBEntry.invalid,
            fetchTag: permissions & PagePermission.execute != 0 ? page : TLBEntry.invalid,
            ramOffset: ramOffset & ~Self.pageMask)
    }

    /// The RAM offset of `length` bytes at physical address `pa`, or nil when they are not all RAM.
    @inline(__always) func ramOffset(_ pa: UInt64, _ length: UInt64) -> UInt64? {
        let offset = pa &- ramBase
        guard offset < ramSize, length <= ramSize &- offset else { return nil }
        return offset
    }

    // MARK: data loads and stores

    /// Loads 1 << `size` bytes; nil after recording a fault. `record` (a constant in each interpreter
    /// specialisation) logs the access for memory callbacks; the slow path logs whenever `recordingAccesses` is set.
    /// `size` is at most 3 (8 bytes).
    @inline(__always) func load(_ va: UInt64, _ size: UInt8, _ record: Bool) -> UInt64? {
        let flat = va &- ramBase
        if flat < flatLimit { return loadFlat(va, flat, size, record) }
        return loadTranslated(va, size, record)
    }

    /// The flat path of a load: `flat` is the RAM offset, already checked against `flatLimit`.
    @inline(__always) func loadFlat(_ va: UInt64, _ flat: UInt64, _ size: UInt8, _ record: Bool) -> UInt64 {
        let value = loadRAM(ram + Int(truncatingIfNeeded: flat), size)
        if record { recordAccess(va, va, value, size, store: false, device: nil) }
        return value
    }

    /// `load` with the TLB hit inlined too: for the interpreter's LDR and LDP forms, so
    /// that with the MMU on they cost a compare and an add, not a call. One compare covers the tag, the
    /// permission (the tag is invalid without it), a page crossing (the last byte's page is compared) and, when
    /// SCTLR_EL1.A is set, alignment (the low bits that must be zero are kept in the compared value).
    @inline(__always) func loadInline(_ va: UInt64, _ size: UInt8, _ record: Bool) -> UInt64? {
        let flat = va &- ramBase
        if flat < flatLimit { return loadFlat(va, flat, size, record) }
        if !record {
            let e = tlbEntry(va)
            if e.pointee.readTag == tlbCompareValue(va, size) {
                return loadRAM(ram + Int(truncatingIfNeeded: e.pointee.ramOffset | (va & Self.pageMask)), size)
            }
        }
        return loadTranslated(va, size, record)
    }

    /// What a TLB tag must equal for an access of 1 << `size` bytes at `va` to hit: the page of its last byte
    /// (so an access that crosses into the next page misses), with the address bits that alignment checking
    /// requires to be zero kept (so a misaligned access misses when SCTLR_EL1.A is set).
    @inline(__always) func tlbCompareValue(_ va: UInt64, _ size: UInt8) -> UInt64 {
        let last = (UInt64(1) << UInt64(size)) &- 1
        let aligned = alignmentMask & last
        return (va &+ (last &- aligned)) & (~Self.pageMask | aligned)
    }

    /// A load with the MMU on (or watchpoints set): the TLB, then the slow path. Kept out of line so that the
    /// interpreter inlines only the flat path at each load.
    @inline(never) func loadTranslated(_ va: UInt64, _ size: UInt8, _ record: Bool) -> UInt64? {
        let e = tlbEntry(va)
        if e.pointee.readTag == tlbCompareValue(va, size) {
            let offset = e.pointee.ramOffset | (va & Self.pageMask)
            let value = loadRAM(ram + Int(truncatingIfNeeded: offset), size)
            if record { recordAccess(va, ramBase &+ offset, value, size, store: false, device: nil) }
            return value
        }
        return loadSlow(va, size)
    }

    /// A little-endian load of 1 << size bytes from host memory (x86-64 allows any alignment).
    @inline(__always) func loadRAM(_ p: UnsafeMutableRawPointer, _ size: UInt8) -> UInt64 {
        switch size {
        case 0: return UInt64(p.load(as: UInt8.self))
        case 1: return UInt64(p.loadUnaligned(as: UInt16.self))
        case 2: return UInt64(p.loadUnaligned(as: UInt32.self))
        default: return p.loadUnaligned(as: UInt64.self)
        }
    }

    @inline(__always) func storeRAM(_ p: UnsafeMutableRawPointer, _ size: UInt8, _ value: UInt64) {
        switch size {
        case 0: p.storeBytes(of: UInt8(truncatingIfNeeded: value), as: UInt8.self)
        case 1: p.storeBytes(of: UInt16(truncatingIfNeeded: value), as: UInt16.self)
        case 2: p.storeBytes(of: UInt32(truncatingIfNeeded: value), as: UInt32.self)
        default: p.storeBytes(of: value, as: UInt64.self)
        }
    }

    /// Device memory: the architecture makes a misaligned access to it an alignment fault, but QEMU 7.2 (the
    /// reference; guest mmu.c) performs it, and so does emud. Device pages never enter the TLB, so every access
    /// to them comes here.
    func loadSlow(_ va: UInt64, _ size: UInt8) -> UInt64? {
        let length = UInt64(1) << UInt64(size)
        guard checkAlignment(va, length, write: false, always: false) else { return nil }
        if !watchpoints.isEmpty && watchpointHit(va, length, store: false) { return nil }
        if (va & Self.pageMask) &+ length > 0x1000 { return loadStraddling(va, size) }
        guard let t = translate(va, .read) else { return nil }
        if let offset = ramOffset(t.physical, length) {
            fill(va, t, offset)
            let value = loadRAM(ram + Int(offset), size)
            if recordingAccesses { recordAccess(va, t.physical, value, size, store: false, device: nil) }
            return value
        }
        if let (region, offset) = memory.region(for: t.physical, size: Int(length)),
           let value = region.device.read(offset: offset, size: Int(length), cpu: cpu) {
            if recordingAccesses { recordAccess(va, t.physical, value, size, store: false, device: region.cName) }
            return value
        }
        recordFault(va, .synchronousExternalAbort, write: false)
        return nil
    }

    /// A load whose bytes lie in two pages: both are translated first (a fault in the second reports the first
    /// byte in it), then the bytes are read from RAM. Device memory never straddles pages on a real bus: an
    /// access that would is an external abort.
    func loadStraddling(_ va: UInt64, _ size: UInt8) -> UInt64? {
        guard let parts = straddle(va, UInt64(1) << UInt64(size), .read) else { return nil }
        var value: UInt64 = 0
        for k in 0..<Int(1 << size) {
            let offset = k < parts.firstLength ? parts.first &+ UInt64(k) : parts.second &+ UInt64(k - parts.firstLength)
            value |= UInt64(ram.load(fromByteOffset: Int(offset), as: UInt8.self)) << UInt64(8 * k)
        }
        if recordingAccesses { recordAccess(va, ramBase &+ parts.first, value, size, store: false, device: nil) }
        return value
    }

    /// The RAM offsets of the two parts of a page-crossing access, or nil after recording the fault.
    func straddle(_ va: UInt64, _ length: UInt64, _ kind: AccessKind) -> (first: UInt64, firstLength: Int, second: UInt64)? {
        let firstLength = 0x1000 &- (va & Self.pageMask)
        let secondVA = va &+ firstLength
        guard let t1 = translate(va, kind) else { return nil }
        guard let t2 = translate(secondVA, kind) else { return nil }
        guard let o1 = ramOffset(t1.physical, firstLength), let o2 = ramOffset(t2.physical, length &- firstLength) else {
            recordFault(ramOffset(t1.physical, firstLength) == nil ? va : secondVA, .synchronousExternalAbort, write: kind == .write)
            return nil
        }
        return (o1, Int(firstLength), o2)
    }

    /// Stores; false after recording a fault. A store into translated code ends the block after it.
    /// `size` is at most 3 (8 bytes).
    @inline(__always) func store(_ va: UInt64, _ size: UInt8, _ value: UInt64, _ record: Bool) -> Bool {
        let flat = va &- ramBase
        if flat < flatLimit { return storeFlat(va, flat, size, value, record) }
        return storeTranslated(va, size, value, record)
    }

    /// The flat path of a store: `flat` is the RAM offset, already checked against `flatLimit`.
    @inline(__always) func storeFlat(_ va: UInt64, _ flat: UInt64, _ size: UInt8, _ value: UInt64, _ record: Bool) -> Bool {
        let length = UInt64(1) << UInt64(size)
        storeRAM(ram + Int(truncatingIfNeeded: flat), size, value)
        if record { recordRAMStore(va, va, value, size) }
        if memory.watchBits(page: flat >> GuestMemory.pageShift) != 0
            || memory.watchBits(page: (flat &+ length &- 1) >> GuestMemory.pageShift) != 0 {
            watchedPageWritten(va, length)
        }
        return true
    }

    /// A store with the MMU on (or watchpoints set): the TLB, then the slow path (out of line, as for loads).
    @inline(never) func storeTranslated(_ va: UInt64, _ size: UInt8, _ value: UInt64, _ record: Bool) -> Bool {
        let e = tlbEntry(va)
        if e.pointee.writeTag == tlbCompareValue(va, size) {
            return storeHit(va, e.pointee.ramOffset | (va & Self.pageMask), size, value, record)
        }
        return storeSlow(va, size, value)
    }

    /// A store through a TLB hit: `offset` is the RAM offset the entry gives. Ends the block if it wrote
    /// translated code (through `watchedPageWritten`).
    @inline(__always) func storeHit(_ va: UInt64, _ offset: UInt64, _ size: UInt8, _ value: UInt64, _ record: Bool) -> Bool {
        let length = UInt64(1) << UInt64(size)
        storeRAM(ram + Int(truncatingIfNeeded: offset), size, value)
        if record { recordRAMStore(va, ramBase &+ offset, value, size) }
        if memory.watchBits(page: offset >> GuestMemory.pageShift) != 0
            || memory.watchBits(page: (offset &+ length &- 1) >> GuestMemory.pageShift) != 0 {
            watchedPageWritten(ramBase &+ offset, length)
        }
        return true
    }

    /// The entry of the current TLB set that `va`'s page maps to.
    @inline(__always) func tlbEntry(_ va: UInt64) -> UnsafeMutablePointer<TLBEntry> {
        tlb + (tlbSet &+ Int(truncatingIfNeeded: (va >> 12) & UInt64(Self.tlbEntriesPerSet - 1)))
    }

    func storeSlow(_ va: UInt64, _ size: UInt8, _ value: UInt64) -> Bool {
        let length = UInt64(1) << UInt64(size)
        guard checkAlignment(va, length, write: true, always: false) else { return false }
        if !watchpoints.isEmpty && watchpointHit(va, length, store: true) { return false }
        if (va & Self.pageMask) &+ length > 0x1000 {
            guard let parts = straddle(va, length, .write) else { return false }
            for k in 0..<Int(length) {
                let offset = k < parts.firstLength ? parts.first &+ UInt64(k) : parts.second &+ UInt64(k - parts.firstLength)
                ram.storeBytes(of: UInt8(truncatingIfNeeded: value >> UInt64(8 * k)), toByteOffset: Int(offset), as: UInt8.self)
            }
            if recordingAccesses { recordAccess(va, ramBase &+ parts.first, value & ones(8 << Int(size)), size, store: true, device: nil) }
            noteRAMWrite(ramBase &+ parts.first, UInt64(parts.firstLength))
            noteRAMWrite(ramBase &+ parts.second, length &- UInt64(parts.firstLength))
            return true
        }
        guard let t = translate(va, .write) else { return false }
        if let offset = ramOffset(t.physical, length) {
            fill(va, t, offset)
            storeRAM(ram + Int(offset), size, value)
            if recordingAccesses { recordAccess(va, t.physical, value & ones(8 << Int(size)), size, store: true, device: nil) }
            noteRAMWrite(t.physical, length)
            return true
        }
        if let (region, offset) = memory.region(for: t.physical, size: Int(length)),
           region.device.write(offset: offset, size: Int(length), value: value, cpu: cpu) {
            if recordingAccesses { recordAccess(va, t.physical, value & ones(8 << Int(size)), size, store: true, device: region.cName) }
            return true
        }
        recordFault(va, .synchronousExternalAbort, write: true)
        return false
    }

    // MARK: instruction fetch, atomics, exclusives, DC ZVA

    /// The host address of the instruction at `va` and its physical address, or nil after recording the fault
    /// for an instruction abort. The rest of the 4 KiB page follows it in host memory.
    func fetch(_ va: UInt64) -> (pointer: UnsafeMutableRawPointer, physical: UInt64)? {
        let e = tlbEntry(va)
        if e.pointee.fetchTag == va & ~Self.pageMask {
            let offset = e.pointee.ramOffset | (va & Self.pageMask)
            return (ram + Int(truncatingIfNeeded: offset), ramBase &+ offset)
        }
        guard let t = translate(va, .fetch) else { return nil }
        guard let offset = ramOffset(t.physical, 4) else {
            // Flash holding firmware (`--bios`) runs in place; such pages never enter the TLB.
            if let rom = memory.executablePointer(t.physical, 4) { return (rom, t.physical) }
            recordFault(va, .synchronousExternalAbort, write: false)
            return nil
        }
        fill(va, t, offset)
        return (ram + Int(offset), t.physical)
    }

    /// The physical address of an aligned access of `bytes` at `va` that needs `kind` permission, or nil after
    /// recording the fault (exclusive monitors work on physical addresses).
    func physicalAddress(_ va: UInt64, _ kind: AccessKind) -> UInt64? {
        translate(va, kind)?.physical
    }

    /// Host pointer for an aligned atomic read-modify-write of RAM, or nil (fault recorded) for anything else.
    /// `write` is what an alignment fault reports; the translation needs write permission (as a store probe).
    func atomicPointer(_ va: UInt64, _ bytes: UInt64, write: Bool) -> (pointer: UnsafeMutableRawPointer, physical: UInt64)? {
        guard checkAlignment(va, bytes, write: write) else { return nil }
        if !watchpoints.isEmpty && watchpointHit(va, bytes, store: true) { return nil }
        guard let t = translate(va, .write) else { return nil }
        guard let offset = ramOffset(t.physical, bytes) else {
            recordFault(va, .synchronousExternalAbort, write: true)
            return nil
        }
        return (ram + Int(offset), t.physical)
    }

    /// Whether `va` maps to a device (MMIO) now, for the accesses that treat devices apart.
    func mapsDevice(_ va: UInt64) -> Bool {
        guard let pa = debugTranslate(va) else { return false }
        return ramOffset(pa, 1) == nil && memory.region(for: pa, size: 1) != nil
    }

    /// DC ZVA: zeroes the 64-byte block holding `va`. On a device, eight 8-byte stores of zero, as QEMU 7.2 does
    /// (the architecture would make DC ZVA to Device memory an alignment fault). False after recording the fault.
    func zeroBlock(_ va: UInt64) -> Bool {
        let base = va & ~63
        guard let t = translate(base, .write) else { faultAddress = va; return false }
        guard let offset = ramOffset(t.physical, 64) else {
            if memory.region(for: t.physical, size: 8) != nil {
                for k in 0..<8 where !storeSlow(base &+ UInt64(k * 8), 3, 0) { return false }
                return true
            }
            recordFault(va, .synchronousExternalAbort, write: true)
            return false
        }
        (ram + Int(offset)).initializeMemory(as: UInt8.self, repeating: 0, count: 64)
        if recordingAccesses { for k in 0..<8 { recordAccess(base &+ UInt64(k * 8), t.physical &+ UInt64(k * 8), 0, 3, store: true, device: nil) } }
        noteRAMWrite(t.physical, 64)
        return true
    }

    // MARK: watched RAM (code, reservations)

    /// After a write to RAM at physical `pa` by anything but the fast path: invalidates code and clears
    /// reservations there.
    func noteRAMWrite(_ pa: UInt64, _ length: UInt64) {
        let offset = pa &- ramBase
        if memory.watchBits(page: offset >> GuestMemory.pageShift) != 0
            || memory.watchBits(page: (offset &+ length &- 1) >> GuestMemory.pageShift) != 0 {
            watchedPageWritten(pa, length)
        }
    }

    /// A store of ours to RAM hit a granule that holds translated code (ours or another vCPU's) or an exclusive
    /// reservation: invalidates the code (the block then ends after the store) and clears other vCPUs'
    /// reservations of the granule.
    func watchedPageWritten(_ pa: UInt64, _ length: UInt64) {
        let first = (pa &- ramBase) >> GuestMemory.pageShift
        let last = (pa &- ramBase &+ length &- 1) >> GuestMemory.pageShift
        for page in first...last {
            let bits = memory.watchBits(page: page)
            let mask = UInt8(truncatingIfNeeded: bits)
            let own = UInt8(1) << UInt8(cpu)
            if mask != 0 {
                if mask & own != 0 {
                    cache.invalidate(page: page)
                    memory.clearCode(page: page, cpu: cpu)
                }
                if mask & ~own != 0 { memory.onCodeWrite?(page, mask & ~own) }
                codeWriteHit = true
            }
            if bits > 0xff { memory.storeClears(address: pa, length: length, cpu: cpu, bits: bits) }
        }
    }

    // MARK: watchpoints, the access log, faults

    /// Whether an access hits a watchpoint (and is not the one being resumed past).
    func watchpointHit(_ address: UInt64, _ length: UInt64, store: Bool) -> Bool {
        for w in watchpoints where address < w.address &+ w.length && w.address < address &+ length {
            let kindMatches: Bool
            switch w.kind {
            case .write: kindMatches = store
            case .read: kindMatches = !store
            case .access: kindMatches = true
            }
            guard kindMatches else { continue }
            if skipWatchpointAt != nil { return false }
            faultAddress = max(address, w.address)
            watchpointTriggered = true
            watchHitKind = w.kind
            return true
        }
        return false
    }

    @inline(never) func recordRAMStore(_ va: UInt64, _ pa: UInt64, _ value: UInt64, _ size: UInt8) {
        recordAccess(va, pa, value & ones(8 << Int(size)), size, store: true, device: nil)
    }

    func recordAccess(_ va: UInt64, _ pa: UInt64, _ value: UInt64, _ size: UInt8, store: Bool, device: UnsafePointer<CChar>?) {
        guard accessCount < Self.accessLogCapacity else { return }
        accessLog[accessCount] = MemoryAccess(virtualAddress: va, physicalAddress: pa, value: value,
                                              size: UInt32(1) << UInt32(size), isStore: store ? 1 : 0, device: device)
        accessCount += 1
    }

    /// Records why an access failed, for the abort its instruction's exit raises.
    @inline(__always) func recordFault(_ address: UInt64, _ status: FaultStatus, write: Bool) {
        faultAddress = address
        faultStatus = status
        faultWrite = write
        watchpointTriggered = false
    }

    @inline(__always) func checkAlignment(_ address: UInt64, _ bytes: UInt64, write: Bool, always: Bool = true) -> Bool {
        if address & (bytes &- 1) == 0 || (!always && alignmentMask == 0) { return true }
        recordFault(address, .alignment, write: write)
        return false
    }

    func takeCodeWriteHit() -> Bool { let h = codeWriteHit; codeWriteHit = false; return h }

    // MARK: debug entry points (gdb, semihosting, plugins)

    /// Translates `va` as the vCPU's current regime would for a read (or a write), without filling the TLB,
    /// changing descriptors or recording a fault: nil when it is not mapped (or not permitted).
    public func debugTranslate(_ va: UInt64, write: Bool = false) -> UInt64? {
        guard case .success(let t) = memory.walk(va, write ? .write : .read, TranslationRegime(state.sys), updates: false)
        else { return nil }
        return t.physical
    }

    /// Reads guest RAM at virtual `va` through the current translation, page by page; nil if any byte is not
    /// mapped RAM (devices are not read: reading one can change it). `partial`: return the bytes up to the
    /// first one that is not (nil only if that is the first), as gdb's memory reads expect.
    public func debugRead(_ va: UInt64, _ length: Int, partial: Bool = false) -> [UInt8]? {
        guard length >= 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(min(length, 1 << 16))
        var address = va
        var remaining = UInt64(length)
        while remaining > 0 {
            let pageLeft = 0x1000 &- (address & Self.pageMask)
            let chunk = min(remaining, pageLeft)
            guard let pa = debugTranslate(address), let offset = ramOffset(pa, 1) else { break }
            let available = min(chunk, ramSize &- offset)
            out.append(contentsOf: UnsafeRawBufferPointer(start: ram + Int(offset), count: Int(available)))
            if available < chunk { break }
            address &+= chunk
            remaining -= chunk
        }
        if out.count == length { return out }
        return partial && !out.isEmpty ? out : nil
    }

    /// Writes guest RAM at virtual `va` through the current translation (code there is invalidated); false, with
    /// nothing written, if any byte is not mapped RAM.
    public func debugWrite(_ va: UInt64, _ bytes: [UInt8]) -> Bool {
        var pieces: [(UInt64, Range<Int>)] = []
        var address = va
        var index = 0
        while index < bytes.count {
            let chunk = min(bytes.count - index, Int(0x1000 &- (address & Self.pageMask)))
            guard let pa = debugTranslate(address), ramOffset(pa, UInt64(chunk)) != nil else { return false }
            pieces.append((pa, index..<index + chunk))
            address &+= UInt64(chunk)
            index += chunk
        }
        for (pa, range) in pieces { _ = memory.writeBytes(pa, Array(bytes[range])) }
        return true
    }

    /// Guest RAM at virtual addresses through this vCPU's current translation (without TLB fills, descriptor
    /// updates or faults), for semihosting: what the guest passes are its own virtual addresses.
    public var guestView: GuestRAM { VirtualRAM(port: self) }

    /// The translation regime as text, for `monitor info mmu`.
    public func describeRegime() -> String {
        let s = state.sys
        func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
        guard s.sctlr & 1 != 0 else {
            return "MMU off (SCTLR_EL1 \(hex(s.sctlr))): virtual = physical, physical addresses of \(TranslationRegime.physicalAddressBits) bits\n"
        }
        func granule(_ tg: UInt64, upper: Bool) -> String {
            switch (upper, tg) {
            case (false, 1), (true, 3): return "64 KiB"
            case (false, 2), (true, 1): return "16 KiB"
            default: return "4 KiB"
            }
        }
        let tcr = s.tcr
        let asid16 = tcr & (1 << 36) != 0
        let asidFrom = tcr & (1 << 22) != 0 ? s.ttbr1 : s.ttbr0
        let asid = (asidFrom >> 48) & (asid16 ? 0xffff : 0xff)
        return """
        MMU on, EL1&0 stage 1 (SCTLR_EL1 \(hex(s.sctlr)), TCR_EL1 \(hex(tcr)), MAIR_EL1 \(hex(s.mair)))
          TTBR0_EL1 \(hex(s.ttbr0)): \(64 - (tcr & 63))-bit region, \(granule((tcr >> 14) & 3, upper: false)) granule\(tcr & (1 << 7) != 0 ? ", walks disabled (EPD0)" : "")\(tcr & (1 << 37) != 0 ? ", top byte ignored" : "")
          TTBR1_EL1 \(hex(s.ttbr1)): \(64 - ((tcr >> 16) & 63))-bit region, \(granule((tcr >> 30) & 3, upper: true)) granule\(tcr & (1 << 23) != 0 ? ", walks disabled (EPD1)" : "")\(tcr & (1 << 38) != 0 ? ", top byte ignored" : "")
          ASID \(asid) (\(asid16 ? 16 : 8) bits, from TTBR\(tcr & (1 << 22) != 0 ? 1 : 0)), PSTATE.PAN \(state.panUAO >> 22 & 1), EL\(state.currentEL)

        """
    }

    /// The walk for `va` as text, for `monitor translate`: each step the MMU takes, or why it cannot.
    public func describeTranslation(_ va: UInt64) -> String {
        let regime = TranslationRegime(state.sys)
        guard regime.mmuEnabled else { return "MMU off: VA 0x\(String(va, radix: 16)) = PA 0x\(String(va, radix: 16))\n" }
        switch memory.walk(va, .read, regime, updates: false) {
        case .failure(let fault):
            return "VA 0x\(String(va, radix: 16)): fault, status 0x\(String(fault.status.rawValue, radix: 16))\n"
        case .success(let t):
            func perms(_ p: UInt8) -> String {
                (p & 1 != 0 ? "r" : "-") + (p & 2 != 0 ? "w" : "-") + (p & 4 != 0 ? "x" : "-")
            }
            return "VA 0x\(String(va, radix: 16)) -> PA 0x\(String(t.physical, radix: 16)) (level \(t.level), "
                + "\(1 << Int(t.sizeShift)) bytes, EL1 \(perms(t.el1)), EL0 \(perms(t.el0)), "
                + "attributes 0x\(String(t.attributes, radix: 16))\(t.notGlobal ? ", not global" : ""))\n"
        }
    }
}

/// `MemoryPort.guestView`: a range is usable when every page of it maps to RAM and the pages follow each other
/// in RAM, so one host pointer covers it.
struct VirtualRAM: GuestRAM {
    let port: MemoryPort

    func ramPointer(_ address: UInt64, _ length: UInt64) -> UnsafeMutableRawPointer? {
        guard length > 0, let first = port.debugTranslate(address), let start = port.ramOffset(first, length) else { return nil }
        var page = (address & ~MemoryPort.pageMask) &+ 0x1000
        let end = address &+ length
        guard end >= address else { return nil }
        while page < end {
            guard let pa = port.debugTranslate(page), pa == first &+ (page &- address) else { return nil }
            page &+= 0x1000
        }
        return port.ram + Int(start)
    }

    func writeBytes(_ address: UInt64, _ bytes: [UInt8]) -> Bool {
        port.debugWrite(address, bytes)
    }
}

/// `MemoryPort.store` with the TLB hit inlined too (see `loadInline`), for the interpreter's fixed-size STR forms.
/// A transparent free function (classes cannot have them): as an `@inline(__always)` method the compiler outlined
/// it whole at the interpreter's store sites, a call even with the MMU off.
@_transparent func storeInline(_ port: MemoryPort, _ va: UInt64, _ size: UInt8, _ value: UInt64, _ record: Bool) -> Bool {
    let flat = va &- port.ramBase
    if flat < port.flatLimit { return port.storeFlat(va, flat, size, value, record) }
    if !record {
        let e = port.tlbEntry(va)
        if e.pointee.writeTag == port.tlbCompareValue(va, size) {
            return port.storeHit(va, e.pointee.ramOffset | (va & MemoryPort.pageMask), size, value, false)
        }
    }
    return port.storeTranslated(va, size, value, record)
}
