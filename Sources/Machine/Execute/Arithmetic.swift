// Pure helpers for the interpreter: flags, shifts, extends, conditions. All total; none allocate.

@inline(__always) func nzcvBits(n: Bool, z: Bool, c: Bool, v: Bool) -> UInt32 {
    (n ? 0x8000_0000 : 0) | (z ? 0x4000_0000 : 0) | (c ? 0x2000_0000 : 0) | (v ? 0x1000_0000 : 0)
}

/// AddWithCarry for 64-bit operands: (result, NZCV).
@inline(__always) func addWithCarry64(_ a: UInt64, _ b: UInt64, _ carryIn: UInt64) -> (UInt64, UInt32) {
    let (partial, o1) = a.addingReportingOverflow(b)
    let (result, o2) = partial.addingReportingOverflow(carryIn)
    let overflow = ((a ^ result) & (b ^ result)) >> 63 != 0
    return (result, nzcvBits(n: result >> 63 != 0, z: result == 0, c: o1 || o2, v: overflow))
}

/// AddWithCarry for 32-bit operands (upper halves of the inputs are ignored): (zero-extended result, NZCV).
@inline(__always) func addWithCarry32(_ a: UInt64, _ b: UInt64, _ carryIn: UInt64) -> (UInt64, UInt32) {
    let a32 = a & 0xffff_ffff, b32 = b & 0xffff_ffff
    let sum = a32 &+ b32 &+ carryIn
    let result = sum & 0xffff_ffff
    let overflow = ((a32 ^ result) & (b32 ^ result)) >> 31 & 1 != 0
    return (result, nzcvBits(n: result >> 31 != 0, z: result == 0, c: sum >> 32 != 0, v: overflow))
}

@inline(__always) func logicFlags(_ result: UInt64, sf: Bool) -> UInt32 {
    sf ? nzcvBits(n: result >> 63 != 0, z: result == 0, c: false, v: false)
       : nzcvBits(n: result >> 31 & 1 != 0, z: result & 0xffff_ffff == 0, c: false, v: false)
}

/// The shifted-register operand: LSL, LSR, ASR, ROR by `amount` (< width) on a `sf`-wide value.
@inline(__always) func shiftOperand(_ value: UInt64, type: UInt8, amount: UInt8, sf: Bool) -> UInt64 {
    let a = UInt64(amount)
    if sf {
        switch type {
        case 0: return value << a
        case 1: return value >> a
        case 2: return UInt64(bitPattern: Int64(bitPattern: value) >> Int64(a))
        default: return a == 0 ? value : (value >> a) | (value << (64 - a))
        }
    }
    let v = value & 0xffff_ffff
    switch type {
    case 0: return (v << a) & 0xffff_ffff
    case 1: return v >> a
    case 2: return UInt64(UInt32(bitPattern: Int32(bitPattern: UInt32(v)) >> Int32(a)))
    default: return a == 0 ? v : ((v >> a) | (v << (32 - a))) & 0xffff_ffff
    }
}

/// ExtendReg: UXTB/UXTH/UXTW/UXTX/SXTB/SXTH/SXTW/SXTX, then shift left by `shift` (0...4).
@inline(__always) func extendOperand(_ value: UInt64, option: UInt8, shift: UInt8) -> UInt64 {
    let extended: UInt64
    switch option {
    case 0: extended = value & 0xff
    case 1: extended = value & 0xffff
    case 2: extended = value & 0xffff_ffff
    case 3: extended = value
    case 4: extended = signExtend(value & 0xff, 8)
    case 5: extended = signExtend(value & 0xffff, 16)
    case 6: extended = signExtend(value & 0xffff_ffff, 32)
    default: extended = value
    }
    return extended << UInt64(shift)
}

/// ConditionHolds for a 4-bit condition against NZCV in bits 31...28.
@inline(__always) func conditionHolds(_ cond: UInt8, _ nzcv: UInt32) -> Bool {
    let n = nzcv & 0x8000_0000 != 0, z = nzcv & 0x4000_0000 != 0
    let c = nzcv & 0x2000_0000 != 0, v = nzcv & 0x1000_0000 != 0
    let result: Bool
    switch cond >> 1 {
    case 0: result = z
    case 1: result = c
    case 2: result = n
    case 3: result = v
    case 4: result = c && !z
    case 5: result = n == v
    case 6: result = n == v && !z
    default: result = true
    }
    return (cond & 1 == 1 && cond != 15) ? !result : result
}

/// CRC-32 (polynomial 0x04C11DB7, reflected) or CRC-32C (0x1EDC6F41, reflected) over `size` bytes of `value`.
@inline(__always) func crc32Update(_ crc: UInt32, _ value: UInt64, bytes: Int, castagnoli: Bool) -> UInt32 {
    let poly: UInt32 = castagnoli ? 0x82F6_3B78 : 0xEDB8_8320
    var c = crc
    var v = value
    for _ in 0..<bytes {
        c ^= UInt32(v & 0xff)
        v >>= 8
        for _ in 0..<8 { c = (c >> 1) ^ (poly & (0 &- (c & 1))) }
    }
    return c
}

@inline(__always) func reverseBytesIn(_ v: UInt64, chunkBits: Int) -> UInt64 {
    switch chunkBits {
    case 16:
        return ((v & 0x00ff_00ff_00ff_00ff) << 8) | ((v >> 8) & 0x00ff_00ff_00ff_00ff)
    case 32:
        let b = v.byteSwapped
        return (b >> 32) | (b << 32)
    default:
        return v.byteSwapped
    }
}

@inline(__always) func reverseBits64(_ v: UInt64) -> UInt64 {
    var x = v
    x = ((x >> 1) & 0x5555_5555_5555_5555) | ((x & 0x5555_5555_5555_5555) << 1)
    x = ((x >> 2) & 0x3333_3333_3333_3333) | ((x & 0x3333_3333_3333_3333) << 2)
    x = ((x >> 4) & 0x0f0f_0f0f_0f0f_0f0f) | ((x & 0x0f0f_0f0f_0f0f_0f0f) << 4)
    return x.byteSwapped
}
