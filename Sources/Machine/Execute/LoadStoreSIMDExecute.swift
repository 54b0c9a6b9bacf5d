extension VCPU {
    // MARK: SIMD hooks (see AdvSIMDExecute.swift)

    enum VectorMemoryResult { case ok, fault, codeWritten }

    /// Loads/stores of SIMD&FP registers. With SCTLR_EL1.A set, the alignment the architecture asks for
    /// (the element size for structures, the register size otherwise, 16 bytes for Q) is checked once here and
    /// the accesses themselves go unchecked. A multi-register load that faults part-way leaves its destination
    /// registers as they were.
    func executeVectorMemory(_ op: Op) -> VectorMemoryResult {
        let savedMask = alignmentMask
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
            alignmentMask = 0
        }
        defer { alignmentMask = savedMask }
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
}
