// Bit-twiddling used by the decoder and the interpreter. Everything here is total: no traps on any input.

extension UInt32 {
    /// Bits hi...lo (inclusive) as an unsigned value.
    @inline(__always) func bits(_ hi: Int, _ lo: Int) -> UInt32 {
        (self >> UInt32(lo)) & (UInt32.max >> UInt32(31 - (hi - lo)))
    }
    @inline(__always) func bit(_ i: Int) -> Bool { (self >> UInt32(i)) & 1 != 0 }
}

/// Sign-extends the low `width` bits of `value`.
@inline(__always) func signExtend(_ value: UInt64, _ width: Int) -> UInt64 {
    let shift = UInt64(64 - width)
    return UInt64(bitPattern: Int64(bitPattern: value << shift) >> Int64(shift))
}

@inline(__always) func ones(_ n: Int) -> UInt64 { n >= 64 ? UInt64.max : (UInt64(1) << UInt64(n)) &- 1 }

@inline(__always) func rotateRight(_ v: UInt64, _ amount: UInt64, width: Int) -> UInt64 {
    let w = UInt64(width)
    let r = amount % w
    if r == 0 { return v & ones(width) }
    return ((v >> r) | (v << (w - r))) & ones(width)
}

/// The Arm ARM's DecodeBitMasks: the (wmask, tmask) pair for logical immediates and bitfield moves.
/// Returns nil for the reserved encodings, which are unallocated.
func decodeBitMasks(n: UInt32, imms: UInt32, immr: UInt32, immediate: Bool, width: Int) -> (UInt64, UInt64)? {
    let combined = (n << 6) | (~imms & 0x3f)
    guard combined != 0 else { return nil }
    let len = 31 - (combined.leadingZeroBitCount)
    guard len >= 1 else { return nil }
    let levels = UInt32((1 << len) - 1)
    if immediate && (imms & levels) == levels { return nil }
    let s = Int(imms & levels)
    let r = Int(immr & levels)
    let diff = (s - r) & Int(levels)
    let esize = 1 << len
    guard esize <= width else { return nil }
    let welem = ones(s + 1)
    let telem = ones(diff + 1)
    let wrot = rotateRight(welem, UInt64(r), width: esize)
    var wmask: UInt64 = 0
    var tmask: UInt64 = 0
    var i = 0
    while i < width {
        wmask |= wrot << UInt64(i)
        tmask |= telem << UInt64(i)
        i += esize
    }
    return (wmask & ones(width), tmask & ones(width))
}
