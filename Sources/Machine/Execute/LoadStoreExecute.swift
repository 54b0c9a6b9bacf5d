extension VCPU {
    @inline(__always) func extendLoad(_ v: UInt64, _ op: Op) -> UInt64 {
        if op.f & OpFlags.signed != 0 {
            let s = signExtend(v, 8 << Int(op.s))
            return op.f & OpFlags.dest32 != 0 ? s & 0xffff_ffff : s
        }
        return v
    }

    /// LDP, LDPSW (offset, pre-index, post-index). False after recording a fault.
    @inline(__always) func loadPair(_ op: Op, _ x: UnsafeMutablePointer<UInt64>, _ record: Bool) -> Bool {
        let d = Int(op.d), n = Int(op.n), m = Int(op.m)
        let base = x[n]
        let address = op.a == 2 ? base : base &+ op.imm
        let bytes = UInt64(1) << UInt64(op.s)
        guard let v1 = loadInline(address, op.s, record), let v2 = loadInline(address &+ bytes, op.s, record) else { return false }
        x[d] = extendLoad(v1, op)
        x[m] = extendLoad(v2, op)
        if op.a == 1 { x[n] = address } else if op.a == 2 { x[n] = base &+ op.imm }
        return true
    }

    /// STP (offset, pre-index, post-index). False after recording a fault.
    @inline(__always) func storePair(_ op: Op, _ x: UnsafeMutablePointer<UInt64>, _ record: Bool) -> Bool {
        let d = Int(op.d), n = Int(op.n), m = Int(op.m)
        let base = x[n]
        let address = op.a == 2 ? base : base &+ op.imm
        let bytes = UInt64(1) << UInt64(op.s)
        let v1 = x[d], v2 = x[m]
        guard store(address, op.s, v1, record), store(address &+ bytes, op.s, v2, record) else { return false }
        if op.a == 1 { x[n] = address } else if op.a == 2 { x[n] = base &+ op.imm }
        return true
    }
}
