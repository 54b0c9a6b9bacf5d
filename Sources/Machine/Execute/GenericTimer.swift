import Foundation

// The generic timer: the counter and the virtual and physical timers' outputs.

extension VCPU {
    /// The virtual counter: host monotonic time since the machine started, at 62.5 MHz (QEMU virt's rate).
    public var counter: UInt64 {
        (DispatchTime.now().uptimeNanoseconds &- counterEpoch) / (1_000_000_000 / Self.counterFrequency)
    }

    func nanoseconds(forCount value: UInt64) -> UInt64 {
        let ns = value.multipliedReportingOverflow(by: 1_000_000_000 / Self.counterFrequency)
        if ns.overflow { return .max }
        let r = ns.partialValue.addingReportingOverflow(counterEpoch)
        return r.overflow ? .max : r.partialValue
    }

    func nextTimerDeadline() -> UInt64 {
        var deadline = UInt64.max
        let s = state.sys
        if s.cntvCtl & 1 != 0 && s.cntvCtl & 2 == 0 { deadline = min(deadline, nanoseconds(forCount: s.cntvCval &+ s.cntvoff)) }
        if s.cntpCtl & 1 != 0 && s.cntpCtl & 2 == 0 { deadline = min(deadline, nanoseconds(forCount: s.cntpCval)) }
        return deadline
    }

    /// Recomputes the timer outputs (ISTATUS and the PPI lines: virtual 27, physical 30).
    func pollTimers() {
        let now = counter
        let s = state.sys
        let vFired = s.cntvCtl & 1 != 0 && now &- s.cntvoff >= s.cntvCval
        let pFired = s.cntpCtl & 1 != 0 && now >= s.cntpCval
        let vLevel = vFired && s.cntvCtl & 2 == 0
        let pLevel = pFired && s.cntpCtl & 2 == 0
        if vLevel != timerLevels.virtual {
            timerLevels.virtual = vLevel
            platform?.timerLineChanged(cpu: index, ppi: 27, level: vLevel)
        }
        if pLevel != timerLevels.physical {
            timerLevels.physical = pLevel
            platform?.timerLineChanged(cpu: index, ppi: 30, level: pLevel)
        }
    }

    func timerControl(_ ctl: UInt64, fired: Bool) -> UInt64 {
        (ctl & 3) | (fired && ctl & 1 != 0 ? 4 : 0)
    }
}
