// VMSAv8-64 stage-1 translation for the EL1&0 regime: what the MMU does on a TLB miss. A pure function of the
// translation registers and guest RAM (it reads descriptors, and writes one back only for the hardware access
// flag and dirty state updates that TCR_EL1.HA/HD ask for). The memory port calls it; `AT` and gdb call it too.
// Written from the Arm ARM's AArch64.TranslateAddress / AArch64.S1Translate pseudocode (D8 "The AArch64 Virtual
// Memory System Architecture").

import Atomics

/// What an access wants from a translation: the permission it needs and the privilege it is checked at.
public enum AccessKind: UInt8, Sendable {
    case read, write, fetch
}

/// The outcome of a successful stage-1 translation of one virtual address.
public struct PageTranslation: Equatable, Sendable {
    /// The physical address the virtual address maps to.
    public var physical: UInt64
    /// log2 of the size of the page or block that maps it (12 when the MMU is off).
    public var sizeShift: UInt8
    /// Permissions at EL0 and EL1 (PAN not applied): bit 0 read, 1 write, 2 execute.
    public var el0: UInt8
    public var el1: UInt8
    /// The MAIR_EL1 attribute byte of the mapping (0xff, Normal write-back, when the MMU is off).
    public var attributes: UInt8
    /// Shareability (descriptor bits 9:8).
    public var shareability: UInt8
    /// Whether the mapping is Device memory (MAIR attribute 0000xxxx): never cached in the TLB.
    public var isDevice: Bool { attributes & 0xf0 == 0 }
    /// Not global (descriptor nG): belongs to the ASID in the TTBR that was walked.
    public var notGlobal: Bool
    /// The level of the descriptor that mapped it (3 for a page with 4 KiB granules; 0 when the MMU is off).
    public var level: UInt8 = 0
}

/// Permission bits of `PageTranslation.el0`/`el1`.
enum PagePermission {
    static let read: UInt8 = 1
    static let write: UInt8 = 2
    static let execute: UInt8 = 4
}

/// A failed translation: the fault status (DFSC/IFSC) with its level.
public struct TranslationFault: Error, Equatable, Sendable {
    public let status: FaultStatus
}

/// The translation registers a walk reads, copied out of `SystemRegisters` so that the walk is a pure function.
struct TranslationRegime {
    var sctlr: UInt64
    var tcr: UInt64
    var ttbr0: UInt64
    var ttbr1: UInt64
    var mair: UInt64

    init(_ s: SystemRegisters) {
        sctlr = s.sctlr; tcr = s.tcr; ttbr0 = s.ttbr0; ttbr1 = s.ttbr1; mair = s.mair
    }

    var mmuEnabled: Bool { sctlr & 1 != 0 }

    /// The physical address size emud models: 40 bits (ID_AA64MMFR0_EL1.PARange = 2), as QEMU's cortex-a76.
    static let physicalAddressBits: UInt64 = 40

    /// Whether the top byte of `va` is ignored for data accesses (TCR_EL1.TBI0/TBI1 by bit 55).
    func topByteIgnored(_ va: UInt64) -> Bool {
        va & (1 << 55) != 0 ? tcr & (1 << 38) != 0 : tcr & (1 << 37) != 0
    }

    /// TCR_EL1.IPS as a number of bits, capped at what the core has (PARange).
    var intermediatePhysicalBits: UInt64 {
        let bits: UInt64
        switch (tcr >> 32) & 7 {
        case 0: bits = 32
        case 1: bits = 36
        case 2: bits = 40
        case 3: bits = 42
        case 4: bits = 44
        case 5: bits = 48
        default: bits = 52
        }
        return min(bits, Self.physicalAddressBits)
    }
}

extension GuestMemory {
    /// Translates `va` for an access of `kind` in the EL1&0 regime, or says which fault the access takes.
    /// `sizeShift` and the permissions describe the whole page or block, for the TLB. Descriptors are read
    /// from RAM with single-copy atomic 64-bit loads; a descriptor outside RAM is a synchronous external abort
    /// on the walk. With the MMU off the translation is flat (VA = PA) within the physical address range.
    /// `updates`: false for the debugger's walks, which must not change the machine (a clear access flag
    /// with TCR_EL1.HA set is then reported as mapped without being set).
    func walk(_ va: UInt64, _ kind: AccessKind, _ regime: TranslationRegime, updates: Bool = true) -> Result<PageTranslation, TranslationFault> {
        let dataAccess = kind != .fetch
        if !regime.mmuEnabled {
            // Flat map. The architecture makes data accesses Device-nGnRnE here, but QEMU 7.2 (the reference)
            // treats them as Normal memory for alignment (misaligned loads fault only with SCTLR_EL1.A: guest
            // align.c), and so does emud.
            var address = va
            if dataAccess && regime.topByteIgnored(va) { address &= 0x00ff_ffff_ffff_ffff }
            guard address >> TranslationRegime.physicalAddressBits == 0 else {
                return .failure(TranslationFault(status: .addressSize(level: 0)))
            }
            return .success(PageTranslation(physical: address, sizeShift: 12, el0: 7, el1: 7,
                                            attributes: 0xff, shareability: 2, notGlobal: false))
        }
        let tcr = regime.tcr
        // Which half of the address space: bit 55 selects TTBR1, and the bits above the region must all
        // equal it (ignoring the top byte when TBI applies).
        let upper = va & (1 << 55) != 0
        let tbi = dataAccess && regime.topByteIgnored(va)
        let txsz = upper ? (tcr >> 16) & 63 : tcr & 63
        // Out-of-range TxSZ values behave as the nearest supported one (16...39 for the granules emud has).
        let regionSize = 64 - min(max(txsz, 16), 39)
        let topBit: UInt64 = tbi ? 55 : 63
        let checkedBits = topBit - regionSize + 1
        let top = (va >> regionSize) & ((UInt64(1) << checkedBits) &- 1)
        let expected: UInt64 = upper ? (UInt64(1) << checkedBits) &- 1 : 0
        if top != expected { return .failure(TranslationFault(status: .translation(level: 0))) }
        // EPD0/EPD1: walks of this half are disabled.
        if upper ? tcr & (1 << 23) != 0 : tcr & (1 << 7) != 0 {
            return .failure(TranslationFault(status: .translation(level: 0)))
        }
        let granuleBits: UInt64
        if upper {
            switch (tcr >> 30) & 3 { case 1: granuleBits = 14; case 3: granuleBits = 16; default: granuleBits = 12 }
        } else {
            switch (tcr >> 14) & 3 { case 1: granuleBits = 16; case 2: granuleBits = 14; default: granuleBits = 12 }
        }
        let stride = granuleBits - 3
        let levels = (regionSize - granuleBits + stride - 1) / stride
        var level = 4 - levels
        let ttbr = upper ? regime.ttbr1 : regime.ttbr0
        let outputBits = regime.intermediatePhysicalBits
        // The first table is aligned to its own size (at least 64 bytes); TTBR bits below that are RES0.
        let firstTableBits = max(regionSize - (granuleBits + (3 - level) * stride) + 3, 6)
        var table = ttbr & 0x0000_ffff_ffff_fffe & ~((UInt64(1) << firstTableBits) &- 1)
        if table >> outputBits != 0 { return .failure(TranslationFault(status: .addressSize(level: level))) }
        let hierarchicalDisabled = upper ? tcr & (1 << 42) != 0 : tcr & (1 << 41) != 0
        var tableNoEL0 = false, tableReadOnly = false, tableUXN = false, tablePXN = false
        while true {
            let shift = granuleBits + (3 - level) * stride
            let indexBits = level == 4 - levels ? regionSize - shift : stride
            let index = (va >> shift) & ((UInt64(1) << indexBits) &- 1)
            let descriptorAddress = table | (index << 3)
            guard let p = ramPointer(descriptorAddress, 8) else {
                return .failure(TranslationFault(status: .externalAbortOnWalk(level: level)))
            }
            let slot = UnsafeAtomic<UInt64>(at: p.assumingMemoryBound(to: UnsafeAtomic<UInt64>.Storage.self))
            var descriptor = slot.load(ordering: .relaxed)
            if descriptor & 1 == 0 { return .failure(TranslationFault(status: .translation(level: level))) }
            let isTable = descriptor & 2 != 0 && level < 3
            if isTable {
                let next = descriptor & 0x0000_ffff_ffff_f000 & ~((UInt64(1) << granuleBits) &- 1)
                if next >> outputBits != 0 { return .failure(TranslationFault(status: .addressSize(level: level))) }
                if !hierarchicalDisabled {
                    tablePXN = tablePXN || descriptor & (1 << 59) != 0
                    tableUXN = tableUXN || descriptor & (1 << 60) != 0
                    tableNoEL0 = tableNoEL0 || descriptor & (1 << 61) != 0
                    tableReadOnly = tableReadOnly || descriptor & (1 << 62) != 0
                }
                table = next
                level += 1
                continue
            }
            // A block (bits 1:0 = 01) is allowed at level 1 with 4 KiB granules and at level 2 with any;
            // at level 3, 01 is reserved (invalid).
            if level == 3 && descriptor & 2 == 0 { return .failure(TranslationFault(status: .translation(level: level))) }
            if level < 3 && !(level == 2 || (level == 1 && granuleBits == 12)) {
                return .failure(TranslationFault(status: .translation(level: level)))
            }
            let output = descriptor & 0x0000_ffff_ffff_f000 & ~((UInt64(1) << shift) &- 1)
            if output >> outputBits != 0 { return .failure(TranslationFault(status: .addressSize(level: level))) }
            // Access flag: set by hardware when TCR_EL1.HA, else a fault.
            if descriptor & (1 << 10) == 0 {
                guard tcr & (1 << 39) != 0 else { return .failure(TranslationFault(status: .accessFlag(level: level))) }
                if updates { descriptor = updateDescriptor(slot, descriptor, setting: 1 << 10, clearing: 0) }
            }
            var ap = (descriptor >> 6) & 3
            // Hardware dirty state (TCR_EL1.HD with the descriptor's DBM bit): a write to a read-only (clean)
            // page makes it writable (dirty) instead of faulting; only when the write is otherwise allowed.
            let dirtyBitModifier = tcr & (1 << 40) != 0 && descriptor & (1 << 51) != 0
            if kind == .write && dirtyBitModifier && ap & 2 != 0 && !tableReadOnly {
                descriptor = updates ? updateDescriptor(slot, descriptor, setting: 0, clearing: 1 << 7) : descriptor & ~(1 << 7)
                ap = (descriptor >> 6) & 3
            }
            var el1: UInt8 = PagePermission.read | (ap & 2 == 0 && !tableReadOnly ? PagePermission.write : 0)
            var el0: UInt8 = 0
            if ap & 1 != 0 && !tableNoEL0 {
                el0 = PagePermission.read | (ap & 2 == 0 && !tableReadOnly ? PagePermission.write : 0)
            }
            let wxn = regime.sctlr & (1 << 19) != 0
            let uxn = descriptor & (1 << 54) != 0 || tableUXN
            // PXN, and memory writable at EL0 is never executable at EL1.
            let pxn = descriptor & (1 << 53) != 0 || tablePXN || el0 & PagePermission.write != 0
            if !uxn && !(wxn && el0 & PagePermission.write != 0) { el0 |= PagePermission.execute }
            if !pxn && !(wxn && el1 & PagePermission.write != 0) { el1 |= PagePermission.execute }
            let attrIndex = (descriptor >> 2) & 7
            let attributes = UInt8(truncatingIfNeeded: regime.mair >> (attrIndex * 8))
            let physical = output | (va & ((UInt64(1) << shift) &- 1))
            return .success(PageTranslation(
                physical: physical, sizeShift: UInt8(truncatingIfNeeded: shift), el0: el0, el1: el1,
                attributes: attributes, shareability: UInt8(truncatingIfNeeded: (descriptor >> 8) & 3),
                notGlobal: descriptor & (1 << 11) != 0, level: UInt8(truncatingIfNeeded: level)))
        }
    }

    /// Sets and clears descriptor bits atomically (another vCPU or the guest may change the descriptor at the
    /// same time: then the new value is used as it stands, as hardware would re-read it).
    private func updateDescriptor(_ slot: UnsafeAtomic<UInt64>, _ old: UInt64, setting: UInt64, clearing: UInt64) -> UInt64 {
        var current = old
        while true {
            let desired = (current | setting) & ~clearing
            let (exchanged, original) = slot.compareExchange(expected: current, desired: desired, ordering: .sequentiallyConsistent)
            if exchanged { return desired }
            current = original
            if current & 1 == 0 { return current }
        }
    }
}
