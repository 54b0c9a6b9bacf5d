// The vCPU's data-access paths: the inline RAM fast path, the slow path (devices, alignment, watchpoints,
// faults), the plugin access log, and what a store into watched RAM (code, reservations) sets off.

extension VCPU {
    /// A store of ours to RAM hit a page that holds translated code (ours or another vCPU's) or an exclusive
    /// reservation: invalidates the code (the block then ends after the store) and clears other vCPUs' reservations
    /// of the granule.
    func watchedPageWritten(_ address: UInt64, _ length: UInt64) {
        let first = (address &- ramBase) >> GuestMemory.pageShift
        let last = (address &- ramBase &+ length &- 1) >> GuestMemory.pageShift
        for page in first...last {
            let bits = memory.watchBits(page: page)
            let mask = UInt8(truncatingIfNeeded: bits)
            if mask != 0 {
                if mask & (1 << UInt8(index)) != 0 { invalidateCode(page: page) }
                if mask & ~(1 << UInt8(index)) != 0 { memory.onCodeWrite?(page, mask & ~(1 << UInt8(index))) }
                codeWriteHit = true
            }
            if bits > 0xff { memory.storeClears(address: address, length: length, cpu: index, bits: bits) }
        }
    }

    // MARK: memory access

    /// Loads; nil after recording a fault. `record` (a constant in each interpreter specialisation) logs the
    /// access for memory callbacks; the slow path logs whenever `recordingAccesses` is set.
    @inline(__always) func load(_ address: UInt64, _ size: UInt8, _ record: Bool) -> UInt64? {
        let offset = address &- ramBase
        let length = UInt64(1) << UInt64(size)
        if offset < fastRAMSize && length <= fastRAMSize &- offset && address & alignmentMask & (length &- 1) == 0 {
            let p = ram + Int(offset)
            let value = loadRAM(p, size)
            if record { recordAccess(address, value, size, store: false, device: nil) }
            return value
        }
        return loadSlow(address, size)
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

    func loadSlow(_ address: UInt64, _ size: UInt8) -> UInt64? {
        guard checkAlignment(address, UInt64(1) << UInt64(size), write: false, always: false) else { return nil }
        let length = UInt64(1) << UInt64(size)
        if !watchpoints.isEmpty && watchpointHit(address, length, store: false) { return nil }
        if let p = memory.ramPointer(address, length) {
            let value = loadRAM(p, size)
            if recordingAccesses { recordAccess(address, value, size, store: false, device: nil) }
            return value
        }
        if let (region, offset) = memory.region(for: address, size: 1 << Int(size)),
           let value = region.device.read(offset: offset, size: 1 << Int(size), cpu: index) {
            if recordingAccesses { recordAccess(address, value, size, store: false, device: region.cName) }
            return value
        }
        recordFault(address, .synchronousExternalAbort, write: false)
        return nil
    }

    /// Stores; false after recording a fault. A store into translated code ends the block after it.
    @inline(__always) func store(_ address: UInt64, _ size: UInt8, _ value: UInt64, _ record: Bool) -> Bool {
        let offset = address &- ramBase
        let length = UInt64(1) << UInt64(size)
        if offset < fastRAMSize && length <= fastRAMSize &- offset && address & alignmentMask & (length &- 1) == 0 {
            let p = ram + Int(offset)
            switch size {
            case 0: p.storeBytes(of: UInt8(truncatingIfNeeded: value), as: UInt8.self)
            case 1: p.storeBytes(of: UInt16(truncatingIfNeeded: value), as: UInt16.self)
            case 2: p.storeBytes(of: UInt32(truncatingIfNeeded: value), as: UInt32.self)
            default: p.storeBytes(of: value, as: UInt64.self)
            }
            if record { recordRAMStore(address, value, size) }
            let first = offset >> GuestMemory.pageShift
            if memory.watchBits(page: first) != 0 || memory.watchBits(page: (offset &+ length &- 1) >> GuestMemory.pageShift) != 0 {
                watchedPageWritten(address, length)
            }
            return true
        }
        return storeSlow(address, size, value)
    }

    func storeSlow(_ address: UInt64, _ size: UInt8, _ value: UInt64) -> Bool {
        guard checkAlignment(address, UInt64(1) << UInt64(size), write: true, always: false) else { return false }
        let length = UInt64(1) << UInt64(size)
        if !watchpoints.isEmpty && watchpointHit(address, length, store: true) { return false }
        if let p = memory.ramPointer(address, length) {
            switch size {
            case 0: p.storeBytes(of: UInt8(truncatingIfNeeded: value), as: UInt8.self)
            case 1: p.storeBytes(of: UInt16(truncatingIfNeeded: value), as: UInt16.self)
            case 2: p.storeBytes(of: UInt32(truncatingIfNeeded: value), as: UInt32.self)
            default: p.storeBytes(of: value, as: UInt64.self)
            }
            if recordingAccesses { recordAccess(address, value & ones(8 << Int(size)), size, store: true, device: nil) }
            noteRAMWrite(address, length)
            return true
        }
        if let (region, offset) = memory.region(for: address, size: 1 << Int(size)),
           region.device.write(offset: offset, size: 1 << Int(size), value: value, cpu: index) {
            if recordingAccesses { recordAccess(address, value & ones(8 << Int(size)), size, store: true, device: region.cName) }
            return true
        }
        recordFault(address, .synchronousExternalAbort, write: true)
        return false
    }

    func updateFastPath() {
        fastRAMSize = !watchpoints.isEmpty ? 0 : ramSize
    }

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

    @inline(never) func recordRAMStore(_ address: UInt64, _ value: UInt64, _ size: UInt8) {
        recordAccess(address, value & ones(8 << Int(size)), size, store: true, device: nil)
    }

    func recordAccess(_ address: UInt64, _ value: UInt64, _ size: UInt8, store: Bool, device: UnsafePointer<CChar>?) {
        guard accessCount < Self.accessLogCapacity else { return }
        accessLog[accessCount] = MemoryAccess(virtualAddress: address, physicalAddress: address, value: value,
                                              size: UInt32(1) << UInt32(size), isStore: store ? 1 : 0, device: device)
        accessCount += 1
    }

    /// Records why an access failed, for the data abort its instruction's exit raises.
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

    /// Host pointer for an aligned atomic access to RAM, or nil (fault recorded) for anything else.
    @inline(__always) func atomicPointer(_ address: UInt64, _ bytes: UInt64, write: Bool) -> UnsafeMutableRawPointer? {
        guard checkAlignment(address, bytes, write: write) else { return nil }
        guard let p = memory.ramPointer(address, bytes) else {
            recordFault(address, .synchronousExternalAbort, write: write)
            return nil
        }
        return p
    }

    func noteRAMWrite(_ address: UInt64, _ length: UInt64) {
        let offset = address &- ramBase
        if memory.watchBits(page: offset >> GuestMemory.pageShift) != 0
            || memory.watchBits(page: (offset &+ length &- 1) >> GuestMemory.pageShift) != 0 {
            watchedPageWritten(address, length)
        }
    }

    // MARK: for the SIMD load/store paths

    func vectorLoad(_ address: UInt64, _ size: UInt8) -> UInt64? { load(address, size, recordingAccesses) }
    func vectorStore(_ address: UInt64, _ size: UInt8, _ value: UInt64) -> Bool { store(address, size, value, recordingAccesses) }
    func takeCodeWriteHit() -> Bool { let h = codeWriteHit; codeWriteHit = false; return h }
}
