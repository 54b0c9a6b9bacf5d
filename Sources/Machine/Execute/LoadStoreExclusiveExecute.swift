import Atomics
import CAtomic128

// Exclusives (LDXR/STXR and pairs, LDAR/STLR) and the vCPU's local exclusive monitor.
//
extension VCPU {
    /// Puts the exclusive monitor in its reset state (no reservation). For the machine, while this vCPU is
    /// parked or off: machine reset and PSCI CPU_ON.
    func resetExclusiveMonitor() {
        monitorValid = false
        memory.release(cpu: index)
    }

    /// Ends this vCPU's exclusive reservation (CLREX, exception entry, ERET, after a store-exclusive).
    @inline(__always) func clearMonitor() {
        if monitorValid {
            monitorValid = false
            memory.release(cpu: index)
        }
    }

    // MARK: exclusives and atomics
    //
    // Host primitives: RAM words are accessed with the x86-64 `lock cmpxchg` / `lock xadd` family through
    // swift-atomics (sequentially consistent), and 128-bit CASP and STXP with `lock cmpxchg16b` (CAtomic128),
    // which gives every LSE atomic, CAS and store-exclusive single-copy atomicity against every other access
    // and at least the acquire/release ordering the A64 instruction asks for. The store-exclusive succeeds only if its
    // reservation still stands in the global monitor (a store by another vCPU to the granule clears it: see
    // GuestMemory's "exclusive monitor") and memory still holds the value the load-exclusive saw (compare-and-swap).

    func storeExclusive(_ address: UInt64, _ size: UInt8, _ value: UInt64) -> Bool? {
        let bytes = UInt64(1) << UInt64(size)
        guard let pa = port.physicalAddress(address, .write) else { return nil }
        guard let offset = port.ramOffset(pa, bytes) else {
            // Exclusives to devices: a plain store that always succeeds.
            return store(address, size, value, recordingAccesses) ? true : nil
        }
        let ok = casRaw(port.ram + Int(offset), size, expected: monitorValue, new: value).exchanged
        if ok {
            if recordingAccesses { port.recordAccess(address, pa, value & ones(8 << Int(size)), size, store: true, device: nil) }
            port.noteRAMWrite(pa, bytes)
        }
        return ok
    }

    func storeExclusivePair(_ address: UInt64, _ size: UInt8, _ v1: UInt64, _ v2: UInt64) -> Bool? {
        let bytes = UInt64(1) << UInt64(size)
        guard let pa = port.physicalAddress(address, .write) else { return nil }
        guard let offset = port.ramOffset(pa, bytes * 2) else {
            recordFault(address, .synchronousExternalAbort, write: true)
            return nil
        }
        let p = port.ram + Int(offset)
        if size == 2 {
            let expected = (monitorValue & 0xffff_ffff) | (monitorValue2 << 32)
            let new = (v1 & 0xffff_ffff) | (v2 << 32)
            let ok = casRaw(p, 3, expected: expected, new: new).exchanged
            if ok {
                if recordingAccesses {
                    port.recordAccess(address, pa, v1 & 0xffff_ffff, 2, store: true, device: nil)
                    port.recordAccess(address &+ 4, pa &+ 4, v2 & 0xffff_ffff, 2, store: true, device: nil)
                }
                port.noteRAMWrite(pa, 8)
            }
            return ok
        }
        // 128-bit: one `lock cmpxchg16b` (LDXP checked the 16-byte alignment).
        var expected = (monitorValue, monitorValue2)
        let ok = withUnsafeMutableBytes(of: &expected) {
            emud_cas128(p, $0.baseAddress!.assumingMemoryBound(to: UInt64.self), v1, v2)
        }
        if ok {
            if recordingAccesses {
                port.recordAccess(address, pa, v1, 3, store: true, device: nil)
                port.recordAccess(address &+ 8, pa &+ 8, v2, 3, store: true, device: nil)
            }
            port.noteRAMWrite(pa, 16)
        }
        return ok
    }

    func casRaw(_ p: UnsafeMutableRawPointer, _ size: UInt8, expected: UInt64, new: UInt64) -> (exchanged: Bool, original: UInt64) {
        switch size {
        case 0:
            let a = UnsafeAtomic<UInt8>(at: p.assumingMemoryBound(to: UnsafeAtomic<UInt8>.Storage.self))
            let r = a.compareExchange(expected: UInt8(truncatingIfNeeded: expected), desired: UInt8(truncatingIfNeeded: new), ordering: .sequentiallyConsistent)
            return (r.exchanged, UInt64(r.original))
        case 1:
            let a = UnsafeAtomic<UInt16>(at: p.assumingMemoryBound(to: UnsafeAtomic<UInt16>.Storage.self))
            let r = a.compareExchange(expected: UInt16(truncatingIfNeeded: expected), desired: UInt16(truncatingIfNeeded: new), ordering: .sequentiallyConsistent)
            return (r.exchanged, UInt64(r.original))
        case 2:
            let a = UnsafeAtomic<UInt32>(at: p.assumingMemoryBound(to: UnsafeAtomic<UInt32>.Storage.self))
            let r = a.compareExchange(expected: UInt32(truncatingIfNeeded: expected), desired: UInt32(truncatingIfNeeded: new), ordering: .sequentiallyConsistent)
            return (r.exchanged, UInt64(r.original))
        default:
            let a = UnsafeAtomic<UInt64>(at: p.assumingMemoryBound(to: UnsafeAtomic<UInt64>.Storage.self))
            let r = a.compareExchange(expected: expected, desired: new, ordering: .sequentiallyConsistent)
            return (r.exchanged, r.original)
        }
    }

    /// LDXR, LDAXR, LDAR, LDAPR. False after recording a fault.
    @inline(__always) func loadExclusiveOrAcquire(_ op: Op, _ x: UnsafeMutablePointer<UInt64>, _ record: Bool) -> Bool {
        let d = Int(op.d), n = Int(op.n)
        let address = x[n]
        let bytes = UInt64(1) << UInt64(op.s)
        guard checkAlignment(address, bytes, write: false) else { return false }
        // The reservation is published before memory is read (see GuestMemory's "exclusive monitor").
        if op.code == .ldxr {
            guard let pa = port.physicalAddress(address, .read) else { return false }
            clearMonitor()
            memory.reserve(cpu: index, address: pa)
        }
        guard let v = load(address, op.s, record) else {
            if op.code == .ldxr { memory.release(cpu: index) }
            return false
        }
        x[d] = v
        if op.code == .ldxr {
            monitorValid = true; monitorAddress = address; monitorSize = Int(op.s); monitorValue = v
        } else {
            // LDAR/LDAPR: x86-64 loads already have acquire ordering; keep the compiler from moving
            // later accesses above this one.
            atomicMemoryFence(ordering: .acquiring)
        }
        return true
    }

    /// LDXP, LDAXP. False after recording a fault.
    @inline(__always) func loadExclusivePair(_ op: Op, _ x: UnsafeMutablePointer<UInt64>, _ record: Bool) -> Bool {
        let d = Int(op.d), n = Int(op.n), m = Int(op.m)
        let address = x[n]
        let bytes = UInt64(1) << UInt64(op.s)
        guard checkAlignment(address, bytes * 2, write: false) else { return false }
        guard let pa = port.physicalAddress(address, .read) else { return false }
        clearMonitor()
        memory.reserve(cpu: index, address: pa)
        guard let v1 = load(address, op.s, record), let v2 = load(address &+ bytes, op.s, record) else {
            memory.release(cpu: index)
            return false
        }
        x[d] = v1; x[m] = v2
        monitorValid = true; monitorAddress = address; monitorSize = Int(op.s) + 8; monitorValue = v1; monitorValue2 = v2
        return true
    }

    /// STLR. False after recording a fault.
    @inline(__always) func storeRelease(_ op: Op, _ x: UnsafeMutablePointer<UInt64>, _ record: Bool) -> Bool {
        let d = Int(op.d), n = Int(op.n)
        // STLR: x86-64 stores already have release ordering (after a compiler barrier). A load-acquire
        // (LDAR) after an STLR must not pass it (RCsc), and an x86-64 load may pass an earlier store:
        // the `mfence` after the store prevents that, as a C++ sequentially consistent store does.
        let bytes = UInt64(1) << UInt64(op.s)
        atomicMemoryFence(ordering: .releasing)
        guard checkAlignment(x[n], bytes, write: true), store(x[n], op.s, x[d], record) else { return false }
        if hostFences { atomicMemoryFence(ordering: .sequentiallyConsistent) }
        return true
    }

    /// STXR, STLXR: writes the status register. False after recording a fault.
    @inline(__always) func storeExclusiveRegister(_ op: Op, _ x: UnsafeMutablePointer<UInt64>, _ record: Bool) -> Bool {
        let d = Int(op.d), n = Int(op.n)
        // Without a matching reservation the store fails (status 1) before any alignment check, as
        // QEMU does; a matching reservation implies an aligned address (LDXR checked it).
        let address = x[n]
        var status: UInt64 = 1
        if monitorValid && monitorAddress == address && monitorSize == Int(op.s) {
            guard let pa = port.physicalAddress(address, .write) else { clearMonitor(); return false }
            if memory.claim(cpu: index, address: pa) {
                guard let ok = storeExclusive(address, op.s, x[d]) else { clearMonitor(); return false }
                status = ok ? 0 : 1
            }
        }
        clearMonitor()
        x[Int(op.a)] = status
        return true
    }

    /// STXP, STLXP: writes the status register. False after recording a fault.
    @inline(__always) func storeExclusivePairRegisters(_ op: Op, _ x: UnsafeMutablePointer<UInt64>, _ record: Bool) -> Bool {
        let d = Int(op.d), n = Int(op.n), m = Int(op.m)
        let address = x[n]
        var status: UInt64 = 1
        if monitorValid && monitorAddress == address && monitorSize == Int(op.s) + 8 {
            guard let pa = port.physicalAddress(address, .write) else { clearMonitor(); return false }
            if memory.claim(cpu: index, address: pa) {
                guard let ok = storeExclusivePair(address, op.s, x[d], x[m]) else { clearMonitor(); return false }
                status = ok ? 0 : 1
            }
        }
        clearMonitor()
        x[Int(op.a)] = status
        return true
    }
}
