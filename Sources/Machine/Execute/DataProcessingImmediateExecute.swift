// Data processing (immediate): the instructions whose bodies are more than a line. The one-line forms
// (MOVZ/MOVN, ADD/SUB immediate, logical immediate, shifts by immediate) sit in the interpreter's switch.

extension VCPU {
    /// UBFM, SBFM, BFM (and their aliases: shifts by immediate, extends, bitfield insert/extract).
    @inline(__always) func bitfieldMove(_ op: Op, _ x: UnsafeMutablePointer<UInt64>) {
        let d = Int(op.d), n = Int(op.n)
        let sf = op.f & OpFlags.sf != 0
        let width = sf ? 64 : 32
        let src = sf ? x[n] : x[n] & 0xffff_ffff
        let dst: UInt64 = op.code == .bfm ? x[d] : 0
        let bot = (dst & ~op.imm) | (rotateRight(src, UInt64(op.s), width: width) & op.imm)
        let top: UInt64
        if op.code == .sbfm {
            top = (src >> UInt64(op.a)) & 1 == 1 ? ones(width) : 0
        } else {
            top = dst
        }
        let r = (top & ~op.imm2) | (bot & op.imm2)
        x[d] = sf ? r : r & 0xffff_ffff
    }

    /// EXTR (and ROR by immediate).
    @inline(__always) func extractRegister(_ op: Op, _ x: UnsafeMutablePointer<UInt64>) {
        let d = Int(op.d), n = Int(op.n), m = Int(op.m)
        let lsb = UInt64(op.s)
        if op.f & OpFlags.sf != 0 {
            x[d] = lsb == 0 ? x[m] : (x[m] >> lsb) | (x[n] << (64 - lsb))
        } else {
            let concat = ((x[n] & 0xffff_ffff) << 32) | (x[m] & 0xffff_ffff)
            x[d] = (concat >> lsb) & 0xffff_ffff
        }
    }
}
