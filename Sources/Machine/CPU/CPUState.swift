/// Architectural state of one AArch64 vCPU.
///
/// The general-purpose file has 34 slots so that the decoder can resolve register 31 once, at translation:
/// slot 31 is the current stack pointer, slot 32 always reads zero (XZR/WZR as a source) and slot 33 swallows
/// writes (XZR as a destination). The banked SP_EL0/SP_EL1 live in `spEL0`/`spEL1` and are swapped into slot 31
/// whenever the exception level or SPSel changes, so the hot path never asks which SP is current.
///
/// Owned by its vCPU thread. Other threads (gdb, control) read or write it only while that vCPU is parked
/// (stopped, or inside an exclusive section).
public final class CPUState {
    public static let stackPointer = 31
    static let zeroRead = 32
    static let zeroWrite = 33

    /// X0–X30, SP (current), zero, sink.
    public let x: UnsafeMutablePointer<UInt64>
    /// V0–V31 as two little-endian 64-bit halves each (lo at 2*i, hi at 2*i+1).
    public let v: UnsafeMutablePointer<UInt64>
    public var pc: UInt64 = 0
    /// N, Z, C, V in bits 31...28, as in SPSR/NZCV.
    public var nzcv: UInt32 = 0
    /// D, A, I, F in bits 9...6, as in SPSR/DAIF.
    public var daif: UInt32 = 0x3c0
    public private(set) var currentEL: UInt32 = 1
    public private(set) var spSel: UInt32 = 1
    /// PSTATE.PAN (bit 22) and PSTATE.UAO (bit 23), kept in their SPSR positions.
    public var panUAO: UInt32 = 0
    public var fpsr: UInt32 = 0
    public var fpcr: UInt32 = 0
    public var spEL0: UInt64 = 0
    public var spEL1: UInt64 = 0

    public var sys = SystemRegisters()

    public init() {
        x = .allocate(capacity: 34)
        x.initialize(repeating: 0, count: 34)
        v = .allocate(capacity: 64)
        v.initialize(repeating: 0, count: 64)
    }

    deinit {
        x.deallocate()
        v.deallocate()
    }

    /// The stack pointer selected by an (EL, SPSel) pair.
    private func saveSP() {
        if currentEL == 0 || spSel == 0 { spEL0 = x[31] } else { spEL1 = x[31] }
    }
    private func loadSP() {
        x[31] = (currentEL == 0 || spSel == 0) ? spEL0 : spEL1
    }

    /// Changes EL and SPSel together, banking the stack pointer.
    public func setMode(el: UInt32, spSel newSPSel: UInt32) {
        saveSP()
        currentEL = el
        spSel = newSPSel
        loadSP()
    }

    /// Reads SP_EL0 or SP_EL1 whether or not it is the current one.
    public func bankedSP(el: Int) -> UInt64 {
        saveSP()
        return el == 0 ? spEL0 : spEL1
    }
    public func setBankedSP(el: Int, _ value: UInt64) {
        saveSP()
        if el == 0 { spEL0 = value } else { spEL1 = value }
        loadSP()
    }

    /// PSTATE packed as SPSR_ELx holds it (AArch64 state, M[3:0] = EL and SPSel).
    public var pstate: UInt32 {
        nzcv | panUAO | daif | (currentEL << 2) | spSel
    }

    /// Restores PSTATE from an SPSR value, as ERET does. Returns false for a mode emud does not model
    /// (an illegal return), in which case nothing changes.
    @discardableResult
    public func restore(pstate value: UInt32) -> Bool {
        let el = (value >> 2) & 3
        let sel = value & 1
        guard el <= 1, (value >> 4) & 1 == 0 else { return false }
        nzcv = value & 0xf000_0000
        panUAO = value & 0x00c0_0000
        daif = value & 0x3c0
        setMode(el: el, spSel: el == 0 ? 0 : sel)
        return true
    }

    public func reset(entry: UInt64) {
        for i in 0..<34 { x[i] = 0 }
        for i in 0..<64 { v[i] = 0 }
        spEL0 = 0
        spEL1 = 0
        nzcv = 0
        daif = 0x3c0
        panUAO = 0
        fpsr = 0
        fpcr = 0
        currentEL = 1
        spSel = 1
        x[31] = 0
        pc = entry
        let saved = sys.identity
        sys = SystemRegisters()
        sys.identity = saved
    }
}
