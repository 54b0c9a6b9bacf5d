import Foundation

// Exception entry, and the instructions that generate or return from exceptions (SVC, HVC, SMC, HLT, BRK, ERET).

extension VCPU {
    // MARK: exceptions

    /// Takes an exception to EL1: `vectorOffset` is an `ExceptionVector` (0 synchronous, 0x80 IRQ, 0x100 FIQ,
    /// 0x180 SError); `esr` and `far` (nil: left as they are) come from a `Fault` for synchronous ones.
    public func takeException(vectorOffset: UInt64, esr: UInt32?, far: UInt64?, returnAddress: UInt64) {
        let fromEL = state.currentEL
        let base: UInt64 = fromEL == 0 ? 0x400 : (state.spSel == 0 ? 0 : 0x200)
        state.sys.spsr = UInt64(state.pstate)
        state.sys.elr = returnAddress
        if let esr { state.sys.esr = UInt64(esr) }
        if let far { state.sys.far = far }
        state.daif = 0x3c0
        state.panUAO &= ~(1 << 23)                                   // UAO cleared on entry
        if state.sys.sctlr & (1 << 23) == 0 { state.panUAO |= 1 << 22 } // SPAN = 0: set PAN
        state.setMode(el: 1, spSel: 1)
        state.pc = state.sys.vbar &+ base &+ vectorOffset
        clearMonitor()
        exceptionsTaken &+= 1
        updateModeBits()
        if let instrumentation {
            let kind: ExceptionKind
            switch ExceptionVector(rawValue: vectorOffset) {
            case .synchronous: kind = .synchronous
            case .irq: kind = .irq
            case .fiq: kind = .fiq
            default: kind = .serror
            }
            instrumentation.exceptionTaken(cpu: index, kind: kind, from: returnAddress, to: state.pc, syndrome: esr ?? 0)
        }
        if VCPU.traceExceptions {
            FileHandle.standardError.write(Data(String(format: "emud-trace: cpu%d exception vector+0x%llx esr=0x%llx elr=0x%llx far=0x%llx insns=%llu\n",
                                                       index, vectorOffset, state.sys.esr, returnAddress, state.sys.far,
                                                       instructionsExecuted).utf8))
        }
    }

    /// Debug aid: log every exception taken on stderr (EMUD_TRACE_EXCEPTIONS=1), with the instructions this vCPU
    /// had executed: under `--icount` two runs print the same lines.
    public static let traceExceptions = ProcessInfo.processInfo.environment["EMUD_TRACE_EXCEPTIONS"] == "1"

    /// Takes a synchronous exception to EL1 with `fault`'s syndrome and address.
    func take(_ fault: Fault, returnAddress: UInt64) {
        takeException(vectorOffset: ExceptionVector.synchronous.rawValue, esr: fault.syndrome, far: fault.address,
                      returnAddress: returnAddress)
    }

    /// An undefined instruction at `pc`, counted under its encoding group (-1: none) for the statistics.
    func undefined(_ pc: UInt64, group: Int) {
        if group >= 0 && group < undefinedByGroup.count { undefinedByGroup[group] &+= 1 }
        take(.undefinedInstruction, returnAddress: pc)
    }

    /// The data abort the last failed access recorded (`recordFault`), for the instruction at `pc`.
    func dataAbort(_ pc: UInt64) {
        take(.dataAbort(at: port.faultAddress, status: port.faultStatus, write: port.faultWrite, fromEL0: state.currentEL == 0), returnAddress: pc)
    }

    func firmware(_ result: FirmwareResult, pc: UInt64) {
        switch result {
        case .handled: break
        case .undefined: undefined(pc, group: -1)
        case .stop(let reason): stopReason = reason
        }
    }

    // MARK: exception-generating instructions

    /// HVC, SMC: the board's firmware (PSCI) answers them; undefined at EL0.
    @inline(__always) func firmwareCallInstruction(_ op: Op) -> BlockExit {
        state.currentEL == 0 ? .undefined(group: -1) : .firmwareCall(smc: op.code == .smc, imm: UInt16(truncatingIfNeeded: op.imm))
    }

    /// HLT: `HLT #0xF000` at EL1 is a semihosting call; any other HLT is undefined (no external debugger).
    @inline(__always) func haltInstruction(_ op: Op) -> BlockExit {
        op.imm == 0xF000 && state.currentEL == 1 ? .semihostingCall : .undefined(group: -1)
    }

    /// ERET from EL1 to the state SPSR_EL1 and ELR_EL1 describe; undefined at EL0.
    func exceptionReturn(_ pc: UInt64) -> BlockExit {
        if state.currentEL == 0 { return .undefined(group: -1) }
        let target = state.sys.elr
        if !state.restore(pstate: UInt32(truncatingIfNeeded: state.sys.spsr)) {
            // Illegal exception return: PSTATE.IL semantics are not modelled; stay put and report.
            stopReason = .unsupported(String(format: "illegal exception return (SPSR_EL1=0x%llx) at pc 0x%llx", state.sys.spsr, pc))
            state.pc = pc
            return .done
        }
        clearMonitor()
        state.pc = target
        updateModeBits()
        irqCheckNeeded = true
        return .done
    }
}
