// Execution of `.fp` ops: scalar floating point (Decode/FloatingPoint.swift) and the floating-point AdvSIMD
// encodings (Decode/AdvSIMDFloatingPoint.swift), all on the software core of FloatingPoint/SoftFloat.swift.
// SPDX-License-Identifier: GPL-2.0-or-later
//
// Each op reads FPCR once, gathers the FPSR flags its lanes raise in a local `FPEnvironment`, and ORs them
// into FPSR at the end. Operands are read into `V128` values first and the destination is written last, so a
// register may be both source and destination. Nothing here allocates or calls through a closure.

extension VCPU {
    func executeFP(_ op: Op) {
        guard op.a <= FPOp.last.rawValue else { return }
        let code = unsafeBitCast(op.a, to: FPOp.self)
        var env = FPEnvironment(fpcr: state.fpcr)
        let s = Int(op.s)
        let flags = op.f
        let scalarFP = flags & FPFlags.scalarFP != 0
        let vector = flags & FPFlags.vector != 0
        let q = flags & FPFlags.q != 0
        let x = state.x
        let rounding = op.imm == roundingFromFPCR ? env.rounding : FPRounding(rawValue: UInt8(truncatingIfNeeded: op.imm)) ?? .tieEven
        switch code {
        case .toInt where scalarFP:
            let width = flags & FPFlags.sf != 0 ? 64 : 32
            x[Int(op.d)] = SoftFloat.toFixed(readV(op.n).lane(0, s), s, &env, fractionBits: Int(op.imm2),
                                             unsigned: flags & FPFlags.unsigned != 0, width: width, rounding)
        case .fromInt where scalarFP:
            let width = flags & FPFlags.sf != 0 ? 64 : 32
            let r = SoftFloat.fromFixed(x[Int(op.n)], width: width, unsigned: flags & FPFlags.unsigned != 0,
                                        fractionBits: Int(op.imm2), s, &env, env.rounding)
            writeV(op.d, V128(lo: r, hi: 0))
        case .compare:
            let b = flags & FPFlags.zero != 0 ? 0 : readV(op.m).lane(0, s)
            state.nzcv = SoftFloat.compare(readV(op.n).lane(0, s), b, s, &env, signalAllNaNs: flags & FPFlags.signal != 0)
        case .condCompare:
            if conditionHolds(UInt8(truncatingIfNeeded: op.imm), state.nzcv) {
                state.nzcv = SoftFloat.compare(readV(op.n).lane(0, s), readV(op.m).lane(0, s), s, &env,
                                               signalAllNaNs: flags & FPFlags.signal != 0)
            } else {
                state.nzcv = UInt32(truncatingIfNeeded: op.imm2)
            }
        case .select:
            let r = conditionHolds(UInt8(truncatingIfNeeded: op.imm), state.nzcv) ? readV(op.n) : readV(op.m)
            writeV(op.d, V128(lo: r.lane(0, s), hi: 0))
        case .movImm:
            writeV(op.d, V128(lo: op.imm, hi: 0))
        case .toGeneral16:
            x[Int(op.d)] = readV(op.n).lane(0, 1)
        case .fromGeneral16:
            writeV(op.d, V128(lo: x[Int(op.n)] & 0xffff, hi: 0))
        case .convert:
            let r = SoftFloat.convert(readV(op.n).lane(0, s), from: s, to: Int(op.imm), &env, env.rounding)
            writeV(op.d, V128(lo: r, hi: 0))
        case .narrow:
            // s is the destination size; each source lane is twice as wide.
            let source = readV(op.n)
            let count = vector ? 8 >> s : 1
            var packed = V128.zero
            for i in 0..<count {
                packed.setLane(i, s, SoftFloat.convert(source.lane(i, s + 1), from: s + 1, to: s, &env, rounding))
            }
            if vector && q {
                var r = readV(op.d)
                r.hi = packed.lo
                writeV(op.d, r)
            } else {
                writeV(op.d, V128(lo: packed.lo, hi: 0))
            }
        case .lengthen:
            let source = readV(op.n)
            let half = V128(lo: q ? source.hi : source.lo, hi: 0)
            var r = V128.zero
            for i in 0..<(8 >> s) {
                r.setLane(i, s + 1, SoftFloat.convert(half.lane(i, s), from: s, to: s + 1, &env, env.rounding))
            }
            writeV(op.d, r)
        case .addp, .maxp, .minp, .maxnmp, .minnmp:
            let a = readV(op.n), b = readV(op.m)
            var r = V128.zero
            if vector {
                let count = (q ? 16 : 8) >> s
                for i in 0..<count {
                    let j = 2 * i
                    let first = j < count ? a.lane(j, s) : b.lane(j - count, s)
                    let second = j + 1 < count ? a.lane(j + 1, s) : b.lane(j + 1 - count, s)
                    r.setLane(i, s, fpLane(code, first, second, 0, s, op, &env))
                }
            } else {
                r.setLane(0, s, fpLane(code, a.lane(0, s), a.lane(1, s), 0, s, op, &env))
            }
            writeV(op.d, r)
        case .maxv, .minv, .maxnmv, .minnmv:
            // Reduce: the Arm ARM's recursive halving, i.e. adjacent pairs level by level.
            var work = readV(op.n)
            var count = (q ? 16 : 8) >> s
            let pairwise: FPOp = code == .maxv ? .max : code == .minv ? .min : code == .maxnmv ? .maxnm : .minnm
            while count > 1 {
                var next = V128.zero
                for i in 0..<(count / 2) {
                    next.setLane(i, s, fpLane(pairwise, work.lane(2 * i, s), work.lane(2 * i + 1, s), 0, s, op, &env))
                }
                work = next
                count /= 2
            }
            writeV(op.d, V128(lo: work.lane(0, s), hi: 0))
        default:
            let a = readV(op.n), b = readV(op.m), accumulator = readV(op.d)
            let byElement = flags & FPFlags.byElement != 0 && code != .roundInt
            let element = byElement ? b.lane(Int(op.imm2), s) : 0
            let addend = scalarFP ? readV(UInt8(truncatingIfNeeded: op.imm2)) : accumulator
            let count = vector ? (q ? 16 : 8) >> s : 1
            var r = V128.zero
            for i in 0..<count {
                let second = byElement ? element : b.lane(i, s)
                r.setLane(i, s, fpLane(code, a.lane(i, s), second, addend.lane(i, s), s, op, &env))
            }
            writeV(op.d, r)
        }
        state.fpsr |= env.flags
    }

    /// One lane of a per-lane `.fp` operation: `a` from n, `b` from m (or the element), `c` the accumulator.
    @inline(__always) func fpLane(_ code: FPOp, _ a: UInt64, _ b: UInt64, _ c: UInt64, _ s: Int, _ op: Op,
                                  _ env: inout FPEnvironment) -> UInt64 {
        let ones = laneMask(s)
        let b0 = op.f & FPFlags.zero != 0 ? 0 : b
        switch code {
        case .add, .addp: return SoftFloat.add(a, b, s, &env)
        case .sub: return SoftFloat.add(a, b, s, &env, subtract: true)
        case .mul: return SoftFloat.multiply(a, b, s, &env)
        case .mulx: return SoftFloat.multiply(a, b, s, &env, extended: true)
        case .nmul: return SoftFloat.negate(SoftFloat.multiply(a, b, s, &env), s)
        case .div: return SoftFloat.divide(a, b, s, &env)
        case .max, .maxp: return SoftFloat.maxMin(a, b, s, &env, max: true, number: false)
        case .min, .minp: return SoftFloat.maxMin(a, b, s, &env, max: false, number: false)
        case .maxnm, .maxnmp: return SoftFloat.maxMin(a, b, s, &env, max: true, number: true)
        case .minnm, .minnmp: return SoftFloat.maxMin(a, b, s, &env, max: false, number: true)
        case .abd: return SoftFloat.absolute(SoftFloat.add(a, b, s, &env, subtract: true), s)
        case .recps: return SoftFloat.step(a, b, s, &env, squareRoot: false)
        case .rsqrts: return SoftFloat.step(a, b, s, &env, squareRoot: true)
        case .cmeq: return SoftFloat.compare(a, b0, s, &env, .equal) ? ones : 0
        case .cmge: return SoftFloat.compare(a, b0, s, &env, .greaterOrEqual) ? ones : 0
        case .cmgt: return SoftFloat.compare(a, b0, s, &env, .greater) ? ones : 0
        case .cmle0: return SoftFloat.compare(0, a, s, &env, .greaterOrEqual) ? ones : 0
        case .cmlt0: return SoftFloat.compare(0, a, s, &env, .greater) ? ones : 0
        case .acge:
            return SoftFloat.compare(SoftFloat.absolute(a, s), SoftFloat.absolute(b, s), s, &env, .greaterOrEqual) ? ones : 0
        case .acgt:
            return SoftFloat.compare(SoftFloat.absolute(a, s), SoftFloat.absolute(b, s), s, &env, .greater) ? ones : 0
        case .fma:
            let n = op.imm & 1 != 0 ? SoftFloat.negate(a, s) : a
            let addend = op.imm & 2 != 0 ? SoftFloat.negate(c, s) : c
            return SoftFloat.multiplyAdd(addend, n, b, s, &env)
        case .mov: return a
        case .abs: return SoftFloat.absolute(a, s)
        case .neg: return SoftFloat.negate(a, s)
        case .sqrt: return SoftFloat.squareRoot(a, s, &env)
        case .recpe: return SoftFloat.recipEstimate(a, s, &env)
        case .rsqrte: return SoftFloat.rsqrtEstimate(a, s, &env)
        case .recpx: return SoftFloat.recipExponent(a, s, &env)
        case .roundInt:
            let rounding = op.imm == roundingFromFPCR ? env.rounding
                : FPRounding(rawValue: UInt8(truncatingIfNeeded: op.imm)) ?? .tieEven
            return SoftFloat.roundToIntegral(a, s, &env, rounding, exact: op.f & FPFlags.exact != 0)
        case .toInt:
            let rounding = op.imm == roundingFromFPCR ? env.rounding
                : FPRounding(rawValue: UInt8(truncatingIfNeeded: op.imm)) ?? .tieEven
            return SoftFloat.toFixed(a, s, &env, fractionBits: Int(op.imm2), unsigned: op.f & FPFlags.unsigned != 0,
                                     width: 8 << s, rounding)
        case .fromInt:
            return SoftFloat.fromFixed(a, width: 8 << s, unsigned: op.f & FPFlags.unsigned != 0,
                                       fractionBits: Int(op.imm2), s, &env, env.rounding)
        default:
            return 0
        }
    }
}
