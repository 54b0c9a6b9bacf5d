// Data processing (register): the instructions whose bodies are more than a line; the one-line forms sit in
// the interpreter's switch. Each helper is inlined into the switch case that calls it.

extension VCPU {
    /// ADD/SUB(S) with a shifted register.
    @inline(__always) func addSubtractShifted(_ op: Op, _ x: UnsafeMutablePointer<UInt64>) {
        let d = Int(op.d), n = Int(op.n), m = Int(op.m)
        let sf = op.f & OpFlags.sf != 0
        var b = shiftOperand(x[m], type: op.a, amount: op.s, sf: sf)
        var carry: UInt64 = 0
        if op.code == .subShifted { b = ~b; carry = 1 }
        let (r, f) = sf ? addWithCarry64(x[n], b, carry) : addWithCarry32(x[n], b, carry)
        x[d] = r
        if op.f & OpFlags.setFlags != 0 { state.nzcv = f }
    }

    /// ADD/SUB(S) with an extended register.
    @inline(__always) func addSubtractExtended(_ op: Op, _ x: UnsafeMutablePointer<UInt64>) {
        let d = Int(op.d), n = Int(op.n), m = Int(op.m)
        let sf = op.f & OpFlags.sf != 0
        var b = extendOperand(x[m], option: op.a, shift: op.s)
        var carry: UInt64 = 0
        if op.code == .subExtended { b = ~b; carry = 1 }
        let (r, f) = sf ? addWithCarry64(x[n], b, carry) : addWithCarry32(x[n], b, carry)
        x[d] = r
        if op.f & OpFlags.setFlags != 0 { state.nzcv = f }
    }

    /// ADC(S), SBC(S).
    @inline(__always) func addSubtractWithCarry(_ op: Op, _ x: UnsafeMutablePointer<UInt64>) {
        let d = Int(op.d), n = Int(op.n), m = Int(op.m)
        let sf = op.f & OpFlags.sf != 0
        let b = op.code == .sbc ? ~x[m] : x[m]
        let c: UInt64 = state.nzcv & 0x2000_0000 != 0 ? 1 : 0
        let (r, f) = sf ? addWithCarry64(x[n], b, c) : addWithCarry32(x[n], b, c)
        x[d] = r
        if op.f & OpFlags.setFlags != 0 { state.nzcv = f }
    }

    /// AND/ORR/EOR (and BIC/ORN/EON, ANDS/BICS) with a shifted register.
    @inline(__always) func logicalShifted(_ op: Op, _ x: UnsafeMutablePointer<UInt64>) {
        let d = Int(op.d), n = Int(op.n), m = Int(op.m)
        let sf = op.f & OpFlags.sf != 0
        var b = shiftOperand(x[m], type: op.a, amount: op.s, sf: sf)
        if op.f & OpFlags.invert != 0 { b = sf ? ~b : ~b & 0xffff_ffff }
        let a = sf ? x[n] : x[n] & 0xffff_ffff
        let r: UInt64
        switch op.code {
        case .andShifted: r = a & b
        case .orrShifted: r = a | b
        default: r = a ^ b
        }
        x[d] = r
        if op.f & OpFlags.setFlags != 0 { state.nzcv = logicFlags(r, sf: sf) }
    }

    /// CSEL, CSINC, CSINV, CSNEG.
    @inline(__always) func conditionalSelect(_ op: Op, _ x: UnsafeMutablePointer<UInt64>) {
        let d = Int(op.d), n = Int(op.n), m = Int(op.m)
        let sf = op.f & OpFlags.sf != 0
        var r: UInt64
        if conditionHolds(op.a, state.nzcv) {
            r = x[n]
        } else {
            r = x[m]
            switch op.code {
            case .csinc: r = r &+ 1
            case .csinv: r = ~r
            case .csneg: r = 0 &- r
            default: break
            }
        }
        x[d] = sf ? r : r & 0xffff_ffff
    }

    /// CCMP, CCMN (register or immediate).
    @inline(__always) func conditionalCompare(_ op: Op, _ x: UnsafeMutablePointer<UInt64>) {
        let n = Int(op.n), m = Int(op.m)
        if conditionHolds(op.a, state.nzcv) {
            let sf = op.f & OpFlags.sf != 0
            let b = op.f & OpFlags.alt != 0 ? op.imm : x[m]
            let (_, f): (UInt64, UInt32)
            if op.f & OpFlags.invert != 0 {
                (_, f) = sf ? addWithCarry64(x[n], b, 0) : addWithCarry32(x[n], b, 0)
            } else {
                (_, f) = sf ? addWithCarry64(x[n], ~b, 1) : addWithCarry32(x[n], ~b, 1)
            }
            state.nzcv = f
        } else {
            state.nzcv = UInt32(op.s) << 28
        }
    }

    /// REV (REV64 for X, REV for W).
    @inline(__always) func reverseBytes(_ op: Op, _ x: UnsafeMutablePointer<UInt64>) {
        let d = Int(op.d), n = Int(op.n)
        if op.f & OpFlags.sf != 0 {
            x[d] = x[n].byteSwapped
        } else {
            x[d] = UInt64(UInt32(truncatingIfNeeded: x[n]).byteSwapped)
        }
    }

    /// CLS.
    @inline(__always) func countLeadingSignBits(_ op: Op, _ x: UnsafeMutablePointer<UInt64>) {
        let d = Int(op.d), n = Int(op.n)
        if op.f & OpFlags.sf != 0 {
            let v = x[n]
            x[d] = UInt64((v ^ (v << 1)).leadingZeroBitCount) - (v ^ (v << 1) == 0 ? 1 : 0)
            if v ^ (v << 1) == 0 { x[d] = 63 }
        } else {
            let v = UInt32(truncatingIfNeeded: x[n])
            let t = v ^ (v << 1)
            x[d] = t == 0 ? 31 : UInt64(t.leadingZeroBitCount)
        }
    }

    /// UDIV: division by zero gives zero.
    @inline(__always) func divideUnsigned(_ op: Op, _ x: UnsafeMutablePointer<UInt64>) {
        let d = Int(op.d), n = Int(op.n), m = Int(op.m)
        if op.f & OpFlags.sf != 0 {
            let b = x[m]
            x[d] = b == 0 ? 0 : x[n] / b
        } else {
            let a = UInt32(truncatingIfNeeded: x[n]), b = UInt32(truncatingIfNeeded: x[m])
            x[d] = b == 0 ? 0 : UInt64(a / b)
        }
    }

    /// SDIV: division by zero gives zero, INT_MIN / -1 wraps.
    @inline(__always) func divideSigned(_ op: Op, _ x: UnsafeMutablePointer<UInt64>) {
        let d = Int(op.d), n = Int(op.n), m = Int(op.m)
        if op.f & OpFlags.sf != 0 {
            let a = Int64(bitPattern: x[n]), b = Int64(bitPattern: x[m])
            x[d] = b == 0 ? 0 : UInt64(bitPattern: a.dividedReportingOverflow(by: b).partialValue)
        } else {
            let a = Int32(truncatingIfNeeded: x[n]), b = Int32(truncatingIfNeeded: x[m])
            x[d] = b == 0 ? 0 : UInt64(UInt32(bitPattern: a.dividedReportingOverflow(by: b).partialValue))
        }
    }

    /// LSLV, LSRV, ASRV, RORV.
    @inline(__always) func shiftVariable(_ op: Op, _ x: UnsafeMutablePointer<UInt64>) {
        let d = Int(op.d), n = Int(op.n), m = Int(op.m)
        let sf = op.f & OpFlags.sf != 0
        let amount = UInt8(x[m] & (sf ? 63 : 31))
        let type: UInt8 = op.code == .lslv ? 0 : op.code == .lsrv ? 1 : op.code == .asrv ? 2 : 3
        x[d] = shiftOperand(x[n], type: type, amount: amount, sf: sf)
    }

    /// MADD, MSUB.
    @inline(__always) func multiplyAdd(_ op: Op, _ x: UnsafeMutablePointer<UInt64>) {
        let d = Int(op.d), n = Int(op.n), m = Int(op.m)
        let p = x[n] &* x[m]
        let r = op.code == .madd ? x[Int(op.a)] &+ p : x[Int(op.a)] &- p
        x[d] = op.f & OpFlags.sf != 0 ? r : r & 0xffff_ffff
    }
}
