/// What translated code reads and writes besides the register file: one per vCPU, at a fixed address for the
/// vCPU's life. Slots are 8 bytes; the generated code addresses them as [r12 + 8 * slot].
///
/// The memory port's fast-path state (`flatLimit`, the current TLB set, the alignment mask) is mirrored here:
/// the vCPU refreshes the mirror before each translated block and after every operation the block hands to the
/// interpreter, which are the only places it can change while translated code runs. NZCV lives here while a
/// block runs and is copied back to `CPUState` at the same points.
enum JITSlot {
    /// The register file `CPUState.x` (34 slots).
    static let x: Int32 = 0
    /// NZCV in bits 31...28, as `CPUState.nzcv`.
    static let nzcv: Int32 = 1
    /// Where the block continues when it ends normally.
    static let nextPC: Int32 = 2
    static let ram: Int32 = 3
    static let ramBase: Int32 = 4
    static let flatLimit: Int32 = 5
    /// The first entry of the TLB set in use (`MemoryPort.tlb + tlbSet`).
    static let tlbSet: Int32 = 6
    static let alignmentMask: Int32 = 7
    /// `GuestMemory.pageBits`: one 16-bit word per 256-byte granule of RAM; non-zero means a store there has
    /// work to do (translated code, exclusive reservations) and must take the slow path.
    static let pageBits: Int32 = 8
    /// The vCPU, unretained (the vCPU owns this context).
    static let vcpu: Int32 = 9
    /// The block being run (`TranslationBlock`).
    static let block: Int32 = 10
    /// `jitStepHelper`: runs one operation through the interpreter.
    static let step: Int32 = 11
    /// `jitSIMDHelper` and `jitFPHelper`: one SIMD or FP operation, called with the operation's address (these
    /// never leave the block, so they skip `jitStep`'s dispatch).
    static let simd: Int32 = 12
    static let fp: Int32 = 13
    /// Instructions of the blocks that ended normally since the vCPU last collected them (a block that leaves
    /// early is counted by `VCPU.leave`; `jitStep` collects this first, so the counter is exact for the
    /// interpreter's code).
    static let executed: Int32 = 14
    /// `VCPU.timerPollCountdown` while translated code runs: each block that ends normally takes one, and
    /// chaining stops at zero so the run loop polls the timers.
    static let budget: Int32 = 15
    /// The address of the vCPU's attention word: chaining stops when it is non-zero.
    static let attention: Int32 = 16
    /// Set (by `jitStep`) when an operation asked for an interrupt check: chaining stops.
    static let chainBlocked: Int32 = 17
    /// The executable address of the link slot of the exit a block just took (0: an exit that cannot be
    /// linked, such as an indirect branch), for the vCPU to link it to the next block.
    static let linkSlot: Int32 = 18
    /// The vector register file `CPUState.v` (two 8-byte halves per register).
    static let v: Int32 = 19
    /// While a plugin's exec callback runs from translated code (`hookActive` non-zero): the PC of the
    /// instruction it runs before. NZCV is in `nzcv`. `VCPU.observedPC` and `observedNZCV` read them there.
    static let hookPC: Int32 = 20
    /// The executable address of the indirect-branch cache of the block that just returned after missing it
    /// (0: none), for the vCPU to fill (`JITState.linkIndirect`). The vCPU clears it before each call.
    static let indirectCache: Int32 = 21
    /// `VCPU.modeBits`, which a block key ORs into the PC (the indirect-branch caches compare keys).
    static let modeBits: Int32 = 22
    /// `jitMemoryStepHelper`: one instruction with plugin memory callbacks, through the interpreter.
    static let memoryStep: Int32 = 23
    static let hookActive: Int32 = 24
    static let count = 25

    static func offset(_ slot: Int32) -> Int32 { slot &* 8 }
}

/// Runs operation `index` of the block in the context through the interpreter. Returns 0 to continue the
/// block, 1 when the operation left it (the exit has been taken: exception, fault, code write).
typealias JITStepFunction = @convention(c) (UnsafeMutablePointer<UInt64>, Int32) -> Int32

/// A translated block's entry: takes the context, runs the block and the blocks linked after it, and returns 0
/// when the last of them ended normally (the next PC, that block and its exit's link slot are in the context)
/// or 1 when an operation left early.
typealias JITBlockFunction = @convention(c) (UnsafeMutablePointer<UInt64>) -> Int32

let jitStepHelper: JITStepFunction = { context, index in
    guard let raw = UnsafeMutableRawPointer(bitPattern: UInt(context[Int(JITSlot.vcpu)])) else { return 1 }
    return Unmanaged<VCPU>.fromOpaque(raw)._withUnsafeGuaranteedRef { $0.jitStep(context, Int(index)) }
}

/// As `jitStepHelper`, for an instruction with plugin memory callbacks.
let jitMemoryStepHelper: JITStepFunction = { context, index in
    guard let raw = UnsafeMutableRawPointer(bitPattern: UInt(context[Int(JITSlot.vcpu)])) else { return 1 }
    return Unmanaged<VCPU>.fromOpaque(raw)._withUnsafeGuaranteedRef { $0.jitStep(context, Int(index), memoryHooks: true) }
}

/// Runs one SIMD&FP operation (`.simd`, `.fmovToGeneral`, `.fmovFromGeneral`, or `.fp` through `jitFPHelper`).
typealias JITOperationFunction = @convention(c) (UnsafeMutablePointer<UInt64>, UnsafeRawPointer) -> Void

let jitSIMDHelper: JITOperationFunction = { context, op in
    guard let raw = UnsafeMutableRawPointer(bitPattern: UInt(context[Int(JITSlot.vcpu)])) else { return }
    Unmanaged<VCPU>.fromOpaque(raw)._withUnsafeGuaranteedRef { cpu in
        // FCSEL (decoded as a SIMD operation) reads NZCV.
        cpu.state.nzcv = UInt32(truncatingIfNeeded: context[Int(JITSlot.nzcv)])
        cpu.executeSIMD(op.assumingMemoryBound(to: Op.self).pointee)
    }
}

/// FP operations read and write NZCV (FCMP, FCCMP), which lives in the context while a block runs.
let jitFPHelper: JITOperationFunction = { context, op in
    guard let raw = UnsafeMutableRawPointer(bitPattern: UInt(context[Int(JITSlot.vcpu)])) else { return }
    Unmanaged<VCPU>.fromOpaque(raw)._withUnsafeGuaranteedRef { cpu in
        cpu.state.nzcv = UInt32(truncatingIfNeeded: context[Int(JITSlot.nzcv)])
        cpu.executeFP(op.assumingMemoryBound(to: Op.self).pointee)
        context[Int(JITSlot.nzcv)] = UInt64(cpu.state.nzcv)
    }
}

