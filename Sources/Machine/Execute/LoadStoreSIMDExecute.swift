// SIMD&FP loads and stores (decoded in Decode/SIMDLoadStore.swift): LDR/STR/LDP/STP of B, H, S, D and Q
// registers and the structure loads and stores LD1–LD4/ST1–ST4/LD1R–LD4R. A V register is two UInt64 halves
// in `CPUState.v`; on a little-endian host that is also its byte order (see AdvSIMDExecute.swift).

/// Reads lane `size` from a host pointer into the register file.
@inline(__always) private func loadLane(_ p: UnsafeMutableRawPointer, _ s: Int) -> UInt64 {
    switch s {
    case 0: return UInt64(p.load(as: UInt8.self))
    case 1: return UInt64(p.loadUnaligned(as: UInt16.self))
    case 2: return UInt64(p.loadUnaligned(as: UInt32.self))
    default: return p.loadUnaligned(as: UInt64.self)
    }
}

@inline(__always) private func storeLane(_ p: UnsafeMutableRawPointer, _ s: Int, _ v: UInt64) {
    switch s {
    case 0: p.storeBytes(of: UInt8(truncatingIfNeeded: v), as: UInt8.self)
    case 1: p.storeBytes(of: UInt16(truncatingIfNeeded: v), toByteOffset: 0, as: UInt16.self)
    case 2: p.storeBytes(of: UInt32(truncatingIfNeeded: v), toByteOffset: 0, as: UInt32.self)
    default: p.storeBytes(of: v, toByteOffset: 0, as: UInt64.self)
    }
}

extension VCPU {
    enum VectorMemoryResult { case ok, fault, codeWritten }

    /// Loads/stores of SIMD&FP registers. With SCTLR_EL1.A set, the alignment the architecture asks for
    /// (the element size for structures, the register size otherwise, 16 bytes for Q) is checked once here and
    /// the accesses themselves go unchecked. A multi-register load that faults part-way leaves its destination
    /// registers as they were.
    func executeVectorMemory(_ op: Op) -> VectorMemoryResult {
        let savedMask = port.alignmentMask
        if savedMask != 0 {
            let x = state.x
            let n = Int(op.n)
            let address: UInt64
            switch op.code {
            case .vldrImm, .vldrPre, .vstrImm, .vstrPre: address = x[n] &+ op.imm
            case .vldrReg, .vstrReg: address = x[n] &+ extendOperand(x[Int(op.m)], option: op.a, shift: UInt8(op.imm))
            case .vldrLit: address = op.imm
            case .vldp, .vstp: address = op.a == 2 ? x[n] : x[n] &+ op.imm
            default: address = x[n]
            }
            let isStore = op.code == .vstrImm || op.code == .vstrPre || op.code == .vstrPost || op.code == .vstrReg || op.code == .vstp
                || (op.code == .vldst && op.f & SIMDStructure.load == 0)
            guard checkAlignment(address, UInt64(1) << UInt64(op.s), write: isStore) else { return .fault }
            port.alignmentMask = 0
        }
        defer { port.alignmentMask = savedMask }
        guard op.code == .vldst || op.code == .vldp else { return vectorMemory(op) }
        // Keep the registers a multi-access load may write, to restore them if a later access faults.
        let v = state.v
        var saved = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        let t0 = Int(op.d), t1 = (t0 + 1) & 31, t2 = (t0 + 2) & 31, t3 = (t0 + 3) & 31, tm = Int(op.m) & 31
        saved = (v[2 * t0], v[2 * t0 + 1], v[2 * t1], v[2 * t1 + 1], v[2 * t2], v[2 * t2 + 1], v[2 * t3], v[2 * t3 + 1],
                 v[2 * tm], v[2 * tm + 1])
        let result = vectorMemory(op)
        if result == .fault {
            v[2 * tm] = saved.8; v[2 * tm + 1] = saved.9
            v[2 * t3] = saved.6; v[2 * t3 + 1] = saved.7
            v[2 * t2] = saved.4; v[2 * t2 + 1] = saved.5
            v[2 * t1] = saved.2; v[2 * t1 + 1] = saved.3
            v[2 * t0] = saved.0; v[2 * t0 + 1] = saved.1
        }
        return result
    }

    // MARK: loads and stores

    /// Loads 2^s bytes (s = 0...4) into V[t], zeroing the rest of the register.
    @inline(__always) private func loadVector(_ t: Int, _ address: UInt64, _ s: UInt8) -> Bool {
        let p = state.v + 2 * t
        if s == 4 {
            guard let lo = vectorLoad(address, 3), let hi = vectorLoad(address &+ 8, 3) else { return false }
            p[0] = lo; p[1] = hi
        } else {
            guard let v = vectorLoad(address, s) else { return false }
            p[0] = v; p[1] = 0
        }
        return true
    }

    /// Stores the low 2^s bytes (s = 0...4) of V[t].
    @inline(__always) private func storeVector(_ t: Int, _ address: UInt64, _ s: UInt8) -> Bool {
        let p = state.v + 2 * t
        if s == 4 { return vectorStore(address, 3, p[0]) && vectorStore(address &+ 8, 3, p[1]) }
        return vectorStore(address, s, p[0])
    }

    @inline(__always) private func afterStore() -> VectorMemoryResult {
        takeCodeWriteHit() ? .codeWritten : .ok
    }

    func vectorMemory(_ op: Op) -> VectorMemoryResult {
        let x = state.x
        let n = Int(op.n), t = Int(op.d)
        switch op.code {
        case .vldrImm:
            return loadVector(t, x[n] &+ op.imm, op.s) ? .ok : .fault
        case .vldrPre:
            let address = x[n] &+ op.imm
            guard loadVector(t, address, op.s) else { return .fault }
            x[n] = address
            return .ok
        case .vldrPost:
            let address = x[n]
            guard loadVector(t, address, op.s) else { return .fault }
            x[n] = address &+ op.imm
            return .ok
        case .vldrReg:
            let address = x[n] &+ extendOperand(x[Int(op.m)], option: op.a, shift: UInt8(op.imm))
            return loadVector(t, address, op.s) ? .ok : .fault
        case .vldrLit:
            return loadVector(t, op.imm, op.s) ? .ok : .fault
        case .vstrImm:
            return storeVector(t, x[n] &+ op.imm, op.s) ? afterStore() : .fault
        case .vstrPre:
            let address = x[n] &+ op.imm
            guard storeVector(t, address, op.s) else { return .fault }
            x[n] = address
            return afterStore()
        case .vstrPost:
            let address = x[n]
            guard storeVector(t, address, op.s) else { return .fault }
            x[n] = address &+ op.imm
            return afterStore()
        case .vstrReg:
            let address = x[n] &+ extendOperand(x[Int(op.m)], option: op.a, shift: UInt8(op.imm))
            return storeVector(t, address, op.s) ? afterStore() : .fault
        case .vldp, .vstp:
            let base = x[n]
            let address = op.a == 2 ? base : base &+ op.imm
            let second = address &+ (1 << UInt64(op.s))
            let t2 = Int(op.m)
            if op.code == .vldp {
                guard loadVector(t, address, op.s), loadVector(t2, second, op.s) else { return .fault }
            } else {
                guard storeVector(t, address, op.s), storeVector(t2, second, op.s) else { return .fault }
            }
            if op.a == 1 { x[n] = address } else if op.a == 2 { x[n] = base &+ op.imm }
            return op.code == .vldp ? .ok : afterStore()
        case .vldst:
            return structureAccess(op)
        default:
            return .ok
        }
    }

    /// Loads the lane at `p` (1 << s bytes of the register file) from `address`, or stores it there; false on a fault.
    @inline(__always) private func transferLane(_ p: UnsafeMutableRawPointer, _ s: Int, _ address: UInt64, load: Bool) -> Bool {
        if load {
            guard let value = vectorLoad(address, UInt8(s)) else { return false }
            storeLane(p, s, value)
            return true
        }
        return vectorStore(address, UInt8(s), loadLane(p, s))
    }

    /// LD1–LD4/ST1–ST4 (multiple and single structure) and LD1R–LD4R; see `SIMDStructure` for the layout.
    private func structureAccess(_ op: Op) -> VectorMemoryResult {
        let x = state.x
        let base = x[Int(op.n)]
        let load = op.f & SIMDStructure.load != 0
        let q = op.f & SIMDStructure.q != 0
        let s = Int(op.s)
        let size = op.s
        let ebytes = 1 << s
        let laneIndex = Int(op.imm2 & 0xff)
        let selem = Int((op.imm2 >> 8) & 0xff)
        let registers = Int((op.imm2 >> 16) & 0xff)
        let t0 = Int(op.d)
        let v = state.v
        let file = UnsafeMutableRawPointer(v)
        var address = base
        switch op.a {
        case SIMDStructure.Kind.multiple.rawValue where selem == 1:
            // LD1/ST1 of whole registers: lane size does not matter on a little-endian host.
            for r in 0..<registers {
                let t = (t0 + r) & 31
                if load {
                    guard let lo = vectorLoad(address, 3) else { return .fault }
                    var hi: UInt64 = 0
                    if q { guard let h = vectorLoad(address &+ 8, 3) else { return .fault }; hi = h }
                    v[2 * t] = lo; v[2 * t + 1] = hi
                } else {
                    guard vectorStore(address, 3, v[2 * t]) else { return .fault }
                    if q { guard vectorStore(address &+ 8, 3, v[2 * t + 1]) else { return .fault } }
                }
                address &+= q ? 16 : 8
            }
        case SIMDStructure.Kind.multiple.rawValue:
            let elements = (q ? 16 : 8) >> s
            if load && !q { for k in 0..<selem { v[2 * ((t0 + k) & 31) + 1] = 0 } }
            for e in 0..<elements {
                for k in 0..<selem {
                    guard transferLane(file + 16 * ((t0 + k) & 31) + e * ebytes, s, address, load: load) else { return .fault }
                    address &+= UInt64(ebytes)
                }
            }
        case SIMDStructure.Kind.lane.rawValue:
            for k in 0..<selem {
                guard transferLane(file + 16 * ((t0 + k) & 31) + laneIndex * ebytes, s, address, load: load) else { return .fault }
                address &+= UInt64(ebytes)
            }
        default: // replicate
            for k in 0..<selem {
                guard let value = vectorLoad(address, size) else { return .fault }
                let t = (t0 + k) & 31
                let r = replicateLane(value, s)
                v[2 * t] = r; v[2 * t + 1] = q ? r : 0
                address &+= UInt64(ebytes)
            }
        }
        if op.f & SIMDStructure.postImmediate != 0 {
            x[Int(op.n)] = base &+ op.imm
        } else if op.f & SIMDStructure.postRegister != 0 {
            x[Int(op.n)] = base &+ x[Int(op.m)]
        }
        return load ? .ok : afterStore()
    }
}
