/// A small x86-64 encoder for the instructions the translator emits, and nothing else: 64- and 32-bit moves and
/// ALU operations between registers, with immediates and with [base + displacement] memory operands; shifts,
/// multiplies, conditional moves and sets, bit tests, loads and stores of 1 to 8 bytes, jumps to labels, calls
/// through a register and the prologue/epilogue pushes. Written from the Intel SDM's encoding tables.
///
/// Bytes go to a growable array; `CodeBuffer` copies a finished block into executable memory. Labels are
/// positions in that array; jumps to labels not yet bound are patched when they are bound (rel32 always, so a
/// patch never moves code).
struct X86Assembler {
    enum Register: UInt8 {
        case rax = 0, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15
        var low: UInt8 { rawValue & 7 }
        var high: UInt8 { rawValue >> 3 }
    }

    /// x86 condition codes (the low nibble of Jcc, SETcc and CMOVcc).
    enum Condition: UInt8 {
        case overflow = 0, noOverflow, below, aboveOrEqual, equal, notEqual, belowOrEqual, above
        case sign, notSign, parity, noParity, less, greaterOrEqual, lessOrEqual, greater
        var inverted: Condition { Condition(rawValue: rawValue ^ 1) ?? self }
    }

    /// Two-operand ALU operations: the /digit of the immediate forms, and (digit << 3) | 1 is the r/m, reg opcode.
    enum ALU: UInt8 {
        case add = 0, or = 1, adc = 2, sbb = 3, and = 4, sub = 5, xor = 6, cmp = 7
    }

    enum Shift: UInt8 {
        case rol = 0, ror = 1, shl = 4, shr = 5, sar = 7
    }

    struct Label { var id: Int }

    private(set) var bytes: [UInt8] = []
    private var labelPositions: [Int] = []
    /// (position of the rel32, label id)
    private var fixups: [(Int, Int)] = []

    init() { bytes.reserveCapacity(4096) }

    mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        labelPositions.removeAll(keepingCapacity: true)
        fixups.removeAll(keepingCapacity: true)
    }

    var count: Int { bytes.count }

    // MARK: labels

    mutating func newLabel() -> Label {
        labelPositions.append(-1)
        return Label(id: labelPositions.count - 1)
    }

    mutating func bind(_ label: Label) {
        labelPositions[label.id] = bytes.count
    }

    /// Where a bound label is, in bytes from the start (-1 if not bound).
    func position(of label: Label) -> Int { labelPositions[label.id] }

    /// Pads with INT3 to a multiple of `alignment` bytes.
    mutating func align(_ alignment: Int) {
        while bytes.count % alignment != 0 { byte(0xcc) }
    }

    /// Eight bytes of data: a slot the caller fills once the code is placed (zero), or `value`.
    mutating func quad(_ value: UInt64 = 0) { imm64(value) }

    /// Patches every jump to a label; false if one was never bound (a translator bug: the block is not used).
    mutating func resolveLabels() -> Bool {
        for (at, id) in fixups {
            let target = labelPositions[id]
            guard target >= 0 else { return false }
            let rel = Int32(truncatingIfNeeded: target - (at + 4))
            withUnsafeBytes(of: rel.littleEndian) { raw in
                for k in 0..<4 { bytes[at + k] = raw[k] }
            }
        }
        fixups.removeAll(keepingCapacity: true)
        return true
    }

    // MARK: raw emission

    private mutating func byte(_ b: UInt8) { bytes.append(b) }

    private mutating func imm32(_ v: Int32) {
        let u = UInt32(bitPattern: v)
        bytes.append(UInt8(truncatingIfNeeded: u))
        bytes.append(UInt8(truncatingIfNeeded: u >> 8))
        bytes.append(UInt8(truncatingIfNeeded: u >> 16))
        bytes.append(UInt8(truncatingIfNeeded: u >> 24))
    }

    private mutating func imm64(_ v: UInt64) {
        for k in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(8 * k))) }
    }

    /// REX prefix: W (64-bit operand), R (extends ModRM.reg), B (extends ModRM.rm or the opcode register).
    /// `force` emits it even when empty (to reach SIL, DIL, SPL, BPL as byte registers).
    private mutating func rex(w: Bool, r: UInt8 = 0, b: UInt8 = 0, force: Bool = false) {
        let value: UInt8 = 0x40 | (w ? 8 : 0) | (r << 2) | b
        if value != 0x40 || force { byte(value) }
    }

    /// ModRM with a register operand in rm.
    private mutating func modrmRegister(_ reg: UInt8, _ rm: Register) {
        byte(0xc0 | ((reg & 7) << 3) | rm.low)
    }

    /// ModRM (and SIB) for [base + disp].
    private mutating func modrmMemory(_ reg: UInt8, _ base: Register, _ disp: Int32) {
        let needsSIB = base.low == 4  // rsp, r12
        if disp == 0 && base.low != 5 {  // rbp, r13 have no mod 00 form
            byte(((reg & 7) << 3) | base.low)
            if needsSIB { byte(0x24) }
        } else if disp >= -128 && disp <= 127 {
            byte(0x40 | ((reg & 7) << 3) | base.low)
            if needsSIB { byte(0x24) }
            byte(UInt8(bitPattern: Int8(disp)))
        } else {
            byte(0x80 | ((reg & 7) << 3) | base.low)
            if needsSIB { byte(0x24) }
            imm32(disp)
        }
    }

    // MARK: moves

    /// dst = src (64-bit, or 32-bit zero-extending).
    mutating func mov(_ dst: Register, _ src: Register, wide: Bool = true) {
        rex(w: wide, r: src.high, b: dst.high)
        byte(0x89)
        modrmRegister(src.rawValue, dst)
    }

    /// dst = constant, in the shortest form that leaves the flags alone (32-bit moves zero-extend; a
    /// sign-extended imm32; else imm64).
    mutating func mov(_ dst: Register, immediate v: UInt64) {
        if v <= 0xffff_ffff {
            rex(w: false, b: dst.high)
            byte(0xb8 | dst.low)
            imm32(Int32(bitPattern: UInt32(truncatingIfNeeded: v)))
        } else if Int64(bitPattern: v) >= Int64(Int32.min) && Int64(bitPattern: v) < 0 {
            rex(w: true, b: dst.high)
            byte(0xc7)
            modrmRegister(0, dst)
            imm32(Int32(truncatingIfNeeded: Int64(bitPattern: v)))
        } else {
            rex(w: true, b: dst.high)
            byte(0xb8 | dst.low)
            imm64(v)
        }
    }

    /// dst = [base + disp], 8 bytes (or 4 zero-extended).
    mutating func load(_ dst: Register, _ base: Register, _ disp: Int32, wide: Bool = true) {
        rex(w: wide, r: dst.high, b: base.high)
        byte(0x8b)
        modrmMemory(dst.rawValue, base, disp)
    }

    /// [base + disp] = src, 8 bytes (or 4).
    mutating func store(_ base: Register, _ disp: Int32, _ src: Register, wide: Bool = true) {
        rex(w: wide, r: src.high, b: base.high)
        byte(0x89)
        modrmMemory(src.rawValue, base, disp)
    }

    /// dst = zero-extended 1 << size bytes at [base + disp] (size 0...3).
    mutating func loadZeroExtended(_ dst: Register, _ base: Register, _ disp: Int32, size: UInt8) {
        switch size {
        case 0:
            rex(w: false, r: dst.high, b: base.high)
            byte(0x0f); byte(0xb6)
        case 1:
            rex(w: false, r: dst.high, b: base.high)
            byte(0x0f); byte(0xb7)
        case 2:
            rex(w: false, r: dst.high, b: base.high)
            byte(0x8b)
        default:
            rex(w: true, r: dst.high, b: base.high)
            byte(0x8b)
        }
        modrmMemory(dst.rawValue, base, disp)
    }

    /// dst = sign-extended 1 << size bytes at [base + disp] to 64 bits (size 0...2).
    mutating func loadSignExtended(_ dst: Register, _ base: Register, _ disp: Int32, size: UInt8) {
        rex(w: true, r: dst.high, b: base.high)
        switch size {
        case 0: byte(0x0f); byte(0xbe)
        case 1: byte(0x0f); byte(0xbf)
        default: byte(0x63)
        }
        modrmMemory(dst.rawValue, base, disp)
    }

    /// [base + disp] = the low 1 << size bytes of src.
    mutating func storeSized(_ base: Register, _ disp: Int32, _ src: Register, size: UInt8) {
        switch size {
        case 0:
            rex(w: false, r: src.high, b: base.high, force: src.rawValue >= 4)
            byte(0x88)
        case 1:
            byte(0x66)
            rex(w: false, r: src.high, b: base.high)
            byte(0x89)
        case 2:
            rex(w: false, r: src.high, b: base.high)
            byte(0x89)
        default:
            rex(w: true, r: src.high, b: base.high)
            byte(0x89)
        }
        modrmMemory(src.rawValue, base, disp)
    }

    /// dst = base + disp (no flags change).
    mutating func lea(_ dst: Register, _ base: Register, _ disp: Int32) {
        rex(w: true, r: dst.high, b: base.high)
        byte(0x8d)
        modrmMemory(dst.rawValue, base, disp)
    }

    /// qword [base + disp] op= sign-extended imm32.
    mutating func alu(_ op: ALU, memory base: Register, _ disp: Int32, immediate v: Int32) {
        rex(w: true, b: base.high)
        if v >= -128 && v <= 127 {
            byte(0x83)
            modrmMemory(op.rawValue, base, disp)
            byte(UInt8(bitPattern: Int8(v)))
        } else {
            byte(0x81)
            modrmMemory(op.rawValue, base, disp)
            imm32(v)
        }
    }

    /// dst = the address of a label (RIP-relative).
    mutating func lea(_ dst: Register, _ label: Label) {
        ripRelative(0x8d, dst, label)
    }

    /// A 64-bit `opcode` with ModRM.reg = reg and a RIP-relative memory operand at `label`.
    private mutating func ripRelative(_ opcode: UInt8, _ reg: Register, _ label: Label) {
        rex(w: true, r: reg.high)
        byte(opcode)
        byte(((reg.rawValue & 7) << 3) | 5)
        fixups.append((bytes.count, label.id))
        imm32(0)
    }

    // MARK: arithmetic

    /// dst = dst op src.
    mutating func alu(_ op: ALU, _ dst: Register, _ src: Register, wide: Bool = true) {
        rex(w: wide, r: src.high, b: dst.high)
        byte((op.rawValue << 3) | 1)
        modrmRegister(src.rawValue, dst)
    }

    /// dst = dst op [base + disp].
    mutating func alu(_ op: ALU, _ dst: Register, _ base: Register, _ disp: Int32, wide: Bool = true) {
        rex(w: wide, r: dst.high, b: base.high)
        byte((op.rawValue << 3) | 3)
        modrmMemory(dst.rawValue, base, disp)
    }

    /// dst = dst op sign-extended imm32.
    mutating func alu(_ op: ALU, _ dst: Register, immediate v: Int32, wide: Bool = true) {
        rex(w: wide, b: dst.high)
        if v >= -128 && v <= 127 {
            byte(0x83)
            modrmRegister(op.rawValue, dst)
            byte(UInt8(bitPattern: Int8(v)))
        } else {
            byte(0x81)
            modrmRegister(op.rawValue, dst)
            imm32(v)
        }
    }

    /// dst = dst op a 64-bit constant; a constant that does not fit a sign-extended imm32 goes through `scratch`.
    mutating func alu(_ op: ALU, _ dst: Register, constant v: UInt64, scratch: Register, wide: Bool = true) {
        let signed = Int64(bitPattern: v)
        if !wide || (signed >= Int64(Int32.min) && signed <= Int64(Int32.max)) {
            alu(op, dst, immediate: Int32(truncatingIfNeeded: signed), wide: wide)
        } else {
            mov(scratch, immediate: v)
            alu(op, dst, scratch, wide: wide)
        }
    }

    /// test a, b (flags of a & b).
    mutating func test(_ a: Register, _ b: Register, wide: Bool = true) {
        rex(w: wide, r: b.high, b: a.high)
        byte(0x85)
        modrmRegister(b.rawValue, a)
    }

    mutating func shift(_ kind: Shift, _ dst: Register, by amount: UInt8, wide: Bool = true) {
        rex(w: wide, b: dst.high)
        if amount == 1 {
            byte(0xd1)
            modrmRegister(kind.rawValue, dst)
        } else {
            byte(0xc1)
            modrmRegister(kind.rawValue, dst)
            byte(amount)
        }
    }

    /// Shift by CL (the count is masked to 6 bits, or 5 when not wide, as the A64 variable shifts do).
    mutating func shiftByCL(_ kind: Shift, _ dst: Register, wide: Bool = true) {
        rex(w: wide, b: dst.high)
        byte(0xd3)
        modrmRegister(kind.rawValue, dst)
    }

    /// dst = dst * src (low half).
    mutating func imul(_ dst: Register, _ src: Register, wide: Bool = true) {
        rex(w: wide, r: dst.high, b: src.high)
        byte(0x0f); byte(0xaf)
        modrmRegister(dst.rawValue, src)
    }

    mutating func not(_ dst: Register, wide: Bool = true) {
        rex(w: wide, b: dst.high)
        byte(0xf7)
        modrmRegister(2, dst)
    }

    mutating func neg(_ dst: Register, wide: Bool = true) {
        rex(w: wide, b: dst.high)
        byte(0xf7)
        modrmRegister(3, dst)
    }

    /// rdx:rax (edx:eax) = sign extension of rax (CQO / CDQ), before a signed divide.
    mutating func signExtendAccumulator(wide: Bool) {
        rex(w: wide)
        byte(0x99)
    }

    /// rax = rdx:rax / divisor (DIV or IDIV; the remainder goes to rdx).
    mutating func divide(_ divisor: Register, signed: Bool, wide: Bool) {
        rex(w: wide, b: divisor.high)
        byte(0xf7)
        modrmRegister(signed ? 7 : 6, divisor)
    }

    /// dst32 = CRC32C(dst32, the low 1 << size bytes of src) (SSE4.2 CRC32).
    mutating func crc32(_ dst: Register, _ src: Register, size: UInt8) {
        if size == 1 { byte(0x66) }
        byte(0xf2)
        rex(w: size == 3, r: dst.high, b: src.high, force: size == 0 && src.rawValue >= 4)
        byte(0x0f); byte(0x38); byte(size == 0 ? 0xf0 : 0xf1)
        modrmRegister(dst.rawValue, src)
    }

    /// CF = bit `bit` of src.
    mutating func bitTest(_ src: Register, bit: UInt8) {
        rex(w: true, b: src.high)
        byte(0x0f); byte(0xba)
        modrmRegister(4, src)
        byte(bit)
    }

    /// CF = bit `index` (a register, taken modulo 32) of `value` (32-bit).
    mutating func bitTest32(_ value: Register, index: Register) {
        rex(w: false, r: index.high, b: value.high)
        byte(0x0f); byte(0xa3)
        modrmRegister(index.rawValue, value)
    }

    /// dst = 1 if the condition holds, else 0 (all 64 bits).
    mutating func set(_ cc: Condition, _ dst: Register) {
        rex(w: false, b: dst.high, force: dst.rawValue >= 4)
        byte(0x0f); byte(0x90 | cc.rawValue)
        modrmRegister(0, dst)
        // movzx dst32, dst8
        rex(w: false, r: dst.high, b: dst.high, force: dst.rawValue >= 4)
        byte(0x0f); byte(0xb6)
        modrmRegister(dst.rawValue, dst)
    }

    /// dst = src if the condition holds.
    mutating func cmov(_ cc: Condition, _ dst: Register, _ src: Register, wide: Bool = true) {
        rex(w: wide, r: dst.high, b: src.high)
        byte(0x0f); byte(0x40 | cc.rawValue)
        modrmRegister(dst.rawValue, src)
    }

    /// AH = SF:ZF:0:AF:0:PF:1:CF (LAHF).
    mutating func loadFlagsIntoAH() { byte(0x9f) }

    /// The low byte of dst = condition ? 1 : 0, the rest of dst unchanged (SETcc alone, no zero extension).
    mutating func setByte(_ cc: Condition, _ dst: Register) {
        rex(w: false, b: dst.high, force: dst.rawValue >= 4)
        byte(0x0f); byte(0x90 | cc.rawValue)
        modrmRegister(0, dst)
    }

    /// dst = src * imm32 (IMUL r, r/m, imm32; the low 32 or 64 bits).
    mutating func imul(_ dst: Register, _ src: Register, immediate v: Int32, wide: Bool = true) {
        rex(w: wide, r: dst.high, b: src.high)
        byte(0x69)
        modrmRegister(dst.rawValue, src)
        imm32(v)
    }

    /// dst = index of src's highest set bit (BSR); ZF set when src is zero (dst then unspecified).
    mutating func bitScanReverse(_ dst: Register, _ src: Register, wide: Bool = true) {
        rex(w: wide, r: dst.high, b: src.high)
        byte(0x0f); byte(0xbd)
        modrmRegister(dst.rawValue, src)
    }

    /// dst = low bits of (src:dst) >> amount (SHRD dst, src, imm8).
    mutating func shiftRightDouble(_ dst: Register, _ src: Register, by amount: UInt8, wide: Bool = true) {
        rex(w: wide, r: src.high, b: dst.high)
        byte(0x0f); byte(0xac)
        modrmRegister(src.rawValue, dst)
        byte(amount)
    }

    /// rdx:rax = rax * src, signed or unsigned (IMUL/MUL r/m64).
    mutating func multiplyWide(_ src: Register, signed: Bool) {
        rex(w: true, b: src.high)
        byte(0xf7)
        modrmRegister(signed ? 5 : 4, src)
    }

    /// Byte swap (REV of 64 or 32 bits).
    mutating func bswap(_ dst: Register, wide: Bool = true) {
        rex(w: wide, b: dst.high)
        byte(0x0f); byte(0xc8 | dst.low)
    }

    // MARK: control flow

    mutating func jump(_ cc: Condition, _ label: Label) {
        byte(0x0f); byte(0x80 | cc.rawValue)
        fixups.append((bytes.count, label.id))
        imm32(0)
    }

    mutating func jump(_ label: Label) {
        byte(0xe9)
        fixups.append((bytes.count, label.id))
        imm32(0)
    }

    /// jmp qword [label] (RIP-relative: through an 8-byte slot in the code).
    mutating func jumpThrough(_ label: Label) {
        byte(0xff); byte(0x25)
        fixups.append((bytes.count, label.id))
        imm32(0)
    }

    /// jmp qword [base + disp]
    mutating func jumpThrough(_ base: Register, _ disp: Int32) {
        rex(w: false, b: base.high)
        byte(0xff)
        modrmMemory(4, base, disp)
    }

    /// cmp reg, qword [label] (RIP-relative: an 8-byte slot in the code).
    mutating func compare(_ reg: Register, _ label: Label) {
        ripRelative(0x3b, reg, label)
    }

    /// call reg
    mutating func call(_ target: Register) {
        rex(w: false, b: target.high)
        byte(0xff)
        modrmRegister(2, target)
    }

    /// call [base + disp]
    mutating func call(_ base: Register, _ disp: Int32) {
        rex(w: false, b: base.high)
        byte(0xff)
        modrmMemory(2, base, disp)
    }

    mutating func push(_ r: Register) {
        rex(w: false, b: r.high)
        byte(0x50 | r.low)
    }

    mutating func pop(_ r: Register) {
        rex(w: false, b: r.high)
        byte(0x58 | r.low)
    }


    // MARK: SSE2 (xmm0-xmm7 only: no REX.R)

    /// xmm`dst` = the 16 bytes at [base + disp] (MOVDQU: no alignment needed).
    mutating func loadXMM(_ dst: UInt8, _ base: Register, _ disp: Int32) {
        byte(0xf3); rex(w: false, b: base.high); byte(0x0f); byte(0x6f)
        modrmMemory(dst & 7, base, disp)
    }

    /// xmm`dst` = the 8 bytes at [base + disp], upper half zero (MOVQ).
    mutating func loadXMM64(_ dst: UInt8, _ base: Register, _ disp: Int32) {
        byte(0xf3); rex(w: false, b: base.high); byte(0x0f); byte(0x7e)
        modrmMemory(dst & 7, base, disp)
    }

    /// [base + disp] = the 16 bytes of xmm`src` (MOVDQU).
    mutating func storeXMM(_ base: Register, _ disp: Int32, _ src: UInt8) {
        byte(0xf3); rex(w: false, b: base.high); byte(0x0f); byte(0x7f)
        modrmMemory(src & 7, base, disp)
    }

    /// xmm`dst` = src, upper half zero (MOVQ xmm, r64).
    mutating func moveToXMM(_ dst: UInt8, _ src: Register) {
        byte(0x66); rex(w: true, b: src.high); byte(0x0f); byte(0x6e)
        modrmRegister(dst & 7, src)
    }

    /// [base + disp] = the low 8 bytes of xmm`src` (MOVQ).
    mutating func storeXMM64(_ base: Register, _ disp: Int32, _ src: UInt8) {
        byte(0x66); rex(w: false, b: base.high); byte(0x0f); byte(0xd6)
        modrmMemory(src & 7, base, disp)
    }

    /// A packed-integer operation xmm`dst` = xmm`dst` OP xmm`src`: 66 0F `opcode` /r (PADDB FC ... PSUBQ FB).
    mutating func packed(_ opcode: UInt8, _ dst: UInt8, _ src: UInt8) {
        byte(0x66); byte(0x0f); byte(opcode)
        byte(0xc0 | ((dst & 7) << 3) | (src & 7))
    }

    /// The same from the 0F 38 map: 66 0F 38 `opcode` /r (SSE4.1's PMULLD 40, PMOVSXWD 23, PACKUSDW 2B...).
    mutating func packed38(_ opcode: UInt8, _ dst: UInt8, _ src: UInt8) {
        byte(0x66); byte(0x0f); byte(0x38); byte(opcode)
        byte(0xc0 | ((dst & 7) << 3) | (src & 7))
    }

    /// A shift of every lane of xmm`reg` by an immediate: 66 0F `opcode` /`ext` ib (PSLLW 71/6, PSLLD 72/6,
    /// PSLLQ 73/6, PSRLW 71/2, PSRLD 72/2, PSRLQ 73/2).
    mutating func packedShift(_ opcode: UInt8, _ ext: UInt8, _ reg: UInt8, by amount: UInt8) {
        byte(0x66); byte(0x0f); byte(opcode)
        byte(0xc0 | ((ext & 7) << 3) | (reg & 7))
        byte(amount)
    }

    /// PSHUFD xmm`dst`, xmm`src`, order: each dword of dst = the dword of src that 2 bits of `order` name.
    mutating func shuffleDwords(_ dst: UInt8, _ src: UInt8, _ order: UInt8) {
        byte(0x66); byte(0x0f); byte(0x70)
        byte(0xc0 | ((dst & 7) << 3) | (src & 7))
        byte(order)
    }

    mutating func ret() { byte(0xc3) }
}
