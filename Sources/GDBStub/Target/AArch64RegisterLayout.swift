// emud: the GDB remote protocol. GPL-2.0-or-later.

/// gdb's register numbering and `g`-packet layout for AArch64, as this stub's target description
/// declares it. Register numbers are what `p`/`P` packets and ``DebugTarget/writeRegister(thread:number:bytes:)``
/// use; offsets are positions in ``DebugTarget/readRegisters(thread:)``.
///
/// | numbers | registers  | bytes each |
/// |---------|------------|------------|
/// | 0...30  | x0...x30   | 8          |
/// | 31      | sp         | 8          |
/// | 32      | pc         | 8          |
/// | 33      | cpsr       | 4          |
/// | 34...65 | v0...v31   | 16         |
/// | 66      | fpsr       | 4          |
/// | 67      | fpcr       | 4          |
public enum AArch64RegisterLayout {
    public static let x0 = 0
    public static let sp = 31
    public static let pc = 32
    public static let cpsr = 33
    public static let v0 = 34
    public static let fpsr = 66
    public static let fpcr = 67

    /// Number of registers in the layout.
    public static let count = 68

    /// Total size of a `g` packet's data: 31*8 + 8 + 8 + 4 + 32*16 + 4 + 4.
    public static let byteCount = 788

    /// Size in bytes of register `number`, or nil if there is no such register.
    public static func size(of number: Int) -> Int? {
        switch number {
        case 0...32: return 8
        case cpsr: return 4
        case v0..<fpsr: return 16
        case fpsr, fpcr: return 4
        default: return nil
        }
    }

    /// Offset of register `number` in the `g` data, or nil if there is no such register.
    public static func offset(of number: Int) -> Int? {
        switch number {
        case 0...32: return number * 8
        case cpsr: return 33 * 8
        case v0..<fpsr: return 33 * 8 + 4 + (number - v0) * 16
        case fpsr: return 33 * 8 + 4 + 32 * 16
        case fpcr: return 33 * 8 + 4 + 32 * 16 + 4
        default: return nil
        }
    }

    /// The register's bytes within `g` data, or nil if there is no such register.
    public static func range(of number: Int) -> Range<Int>? {
        guard let offset = offset(of: number), let size = size(of: number) else { return nil }
        return offset..<(offset + size)
    }
}
