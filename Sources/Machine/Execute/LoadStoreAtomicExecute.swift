import Atomics
import CAtomic128

extension VCPU {
    func atomicRMW(_ address: UInt64, _ size: UInt8, _ kind: AtomicOp, _ operand: UInt64) -> UInt64? {
        let bytes = UInt64(1) << UInt64(size)
        let bits = Int(bytes * 8)
        let mask = ones(bits)
        let opnd = operand & mask
        guard let (p, pa) = port.atomicPointer(address, bytes, write: false) else {
            // Device memory: a read then a write through the device, as QEMU 7.2 performs LSE atomics on MMIO
            // (no other agent shares a device register with the guest, so nothing can tear it).
            guard address & (bytes &- 1) == 0, port.mapsDevice(address),
                  let old = load(address, size, recordingAccesses) else { return nil }
            guard store(address, size, atomicResult(kind, old, opnd, bits, mask), recordingAccesses) else { return nil }
            return old
        }
        // A compare-and-swap loop covers every operation and width uniformly. The first read is only a guess
        // (the compare-and-swap checks it) and touches exactly the access's bytes.
        var old: UInt64
        switch size {
        case 0: old = UInt64(p.load(as: UInt8.self))
        case 1: old = UInt64(p.load(as: UInt16.self))
        case 2: old = UInt64(p.load(as: UInt32.self))
        default: old = p.load(as: UInt64.self)
        }
        while true {
            let new = atomicResult(kind, old, opnd, bits, mask)
            let r = casRaw(p, size, expected: old, new: new)
            if r.exchanged {
                if recordingAccesses {
                    port.recordAccess(address, pa, old, size, store: false, device: nil)
                    port.recordAccess(address, pa, new, size, store: true, device: nil)
                }
                break
            }
            old = r.original
        }
        port.noteRAMWrite(pa, bytes)
        return old
    }

    func compareAndSwap(_ address: UInt64, _ size: UInt8, expected: UInt64, new: UInt64) -> UInt64? {
        let bytes = UInt64(1) << UInt64(size)
        guard let (p, pa) = port.atomicPointer(address, bytes, write: false) else { return nil }
        let mask = ones(Int(bytes * 8))
        let r = casRaw(p, size, expected: expected & mask, new: new & mask)
        if recordingAccesses {
            port.recordAccess(address, pa, r.original, size, store: false, device: nil)
            if r.exchanged { port.recordAccess(address, pa, new & mask, size, store: true, device: nil) }
        }
        if r.exchanged { port.noteRAMWrite(pa, bytes) }
        return r.original
    }

    func executeCASP(_ op: Op) -> Bool {
        let x = state.x
        let s = op.m, t = op.d
        let bytes = UInt64(1) << UInt64(op.s)
        let address = x[Int(op.n)]
        guard let (p, pa) = port.atomicPointer(address, bytes * 2, write: false) else { return false }
        let e1 = x[rz(UInt32(s))], e2 = x[rz(UInt32(s) + 1)]
        let n1 = x[rz(UInt32(t))], n2 = x[rz(UInt32(t) + 1)]
        var o1: UInt64, o2: UInt64
        if op.s == 2 {
            let expected = (e1 & 0xffff_ffff) | (e2 << 32)
            let new = (n1 & 0xffff_ffff) | (n2 << 32)
            let r = casRaw(p, 3, expected: expected, new: new)
            o1 = r.original & 0xffff_ffff; o2 = r.original >> 32
            if r.exchanged { port.noteRAMWrite(pa, 8) }
        } else {
            // One `lock cmpxchg16b` (atomicPointer checked the 16-byte alignment); on failure `current`
            // holds what memory held, on success it still holds e1, e2, which memory held.
            var current = (e1, e2)
            let exchanged = withUnsafeMutableBytes(of: &current) {
                emud_cas128(p, $0.baseAddress!.assumingMemoryBound(to: UInt64.self), n1, n2)
            }
            o1 = current.0; o2 = current.1
            if exchanged { port.noteRAMWrite(pa, 16) }
        }
        x[wz(UInt32(s))] = o1
        x[wz(UInt32(s) + 1)] = o2
        return true
    }

    /// What an LSE atomic writes: `old` combined with `operand` (both `bits` wide).
    @inline(__always) func atomicResult(_ kind: AtomicOp, _ old: UInt64, _ operand: UInt64, _ bits: Int, _ mask: UInt64) -> UInt64 {
        switch kind {
        case .add: return (old &+ operand) & mask
        case .clr: return old & ~operand
        case .eor: return old ^ operand
        case .set: return old | operand
        case .smax: return Int64(bitPattern: signExtend(old, bits)) >= Int64(bitPattern: signExtend(operand, bits)) ? old : operand
        case .smin: return Int64(bitPattern: signExtend(old, bits)) <= Int64(bitPattern: signExtend(operand, bits)) ? old : operand
        case .umax: return old >= operand ? old : operand
        case .umin: return old <= operand ? old : operand
        case .swp: return operand
        }
    }
}
