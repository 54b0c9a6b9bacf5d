import Foundation

/// Where a vCPU's generic timer gets its time.
public enum GuestClock: Equatable, Sendable {
    /// Host monotonic time since the vCPU was created (the default).
    case host
    /// Deterministic virtual time, as QEMU's `-icount shift=N`: 2^shift nanoseconds per instruction the vCPU has
    /// executed, plus the time skipped while it idled in WFI until a timer deadline. Two runs of the same
    /// single-vCPU guest then see the same counter values and take timer interrupts at the same instructions.
    /// The count advances at block boundaries, so a counter read inside a block sees the block's start.
    case instructions(shift: Int)

    /// The shifts `instructions(shift:)` accepts (QEMU's range).
    public static let shifts = 0...10
}

/// A vCPU's generic timer (Arm ARM D11): the system counter at 62.5 MHz (QEMU virt's rate) read through the
/// clock it was given, and the output levels of the EL1 virtual and physical timers. The compare values and
/// controls live in `SystemRegisters`. Owned by its vCPU thread.
struct GenericTimer {
    static let frequency: UInt64 = 62_500_000
    static let nanosecondsPerTick = 1_000_000_000 / frequency

    let clock: GuestClock
    /// Host-monotonic nanosecond at which the counter read zero (`host` clock).
    var epoch: UInt64 = DispatchTime.now().uptimeNanoseconds
    /// Nanoseconds skipped while idling until a deadline (`instructions` clock).
    var skipped: UInt64 = 0
    var levels: (virtual: Bool, physical: Bool) = (false, false)

    init(clock: GuestClock) {
        self.clock = clock
    }

    /// Nanoseconds since the counter read zero, given the vCPU's executed-instruction count.
    func nanoseconds(executed: UInt64) -> UInt64 {
        switch clock {
        case .host: return DispatchTime.now().uptimeNanoseconds &- epoch
        case .instructions(let shift): return (executed << UInt64(shift)) &+ skipped
        }
    }

    func count(executed: UInt64) -> UInt64 { nanoseconds(executed: executed) / Self.nanosecondsPerTick }

    /// When (in this clock's nanoseconds) the counter reaches `value`; .max if never.
    func nanoseconds(forCount value: UInt64) -> UInt64 {
        let ns = value.multipliedReportingOverflow(by: Self.nanosecondsPerTick)
        return ns.overflow ? .max : ns.partialValue
    }

    /// Whether idling moves time forward to the next deadline instead of waiting for it.
    var skipsIdleTime: Bool { if case .instructions = clock { return true } else { return false } }
}

extension VCPU {
    /// The system counter (CNTPCT_EL0).
    public var counter: UInt64 { timer.count(executed: instructionsExecuted) }

    /// Host-monotonic nanosecond at which the counter read zero (host clock).
    public var counterEpoch: UInt64 {
        get { timer.epoch }
        set { timer.epoch = newValue }
    }

    public static var counterFrequency: UInt64 { GenericTimer.frequency }

    /// The earliest time (this timer's clock) at which an enabled, unmasked timer fires; .max if none.
    func nextTimerDeadline() -> UInt64 {
        var deadline = UInt64.max
        let s = state.sys
        if s.cntvCtl & 1 != 0 && s.cntvCtl & 2 == 0 { deadline = min(deadline, timer.nanoseconds(forCount: s.cntvCval &+ s.cntvoff)) }
        if s.cntpCtl & 1 != 0 && s.cntpCtl & 2 == 0 { deadline = min(deadline, timer.nanoseconds(forCount: s.cntpCval)) }
        return deadline
    }

    /// Host nanoseconds to idle until `deadline` (a `nextTimerDeadline`); nil once it has passed. With the
    /// instruction clock, time skips to the deadline at once and the answer is 0.
    func idleTime(until deadline: UInt64) -> UInt64? {
        let now = timer.nanoseconds(executed: instructionsExecuted)
        if deadline <= now { return nil }
        if timer.skipsIdleTime {
            timer.skipped &+= deadline - now
            return 0
        }
        return deadline - now
    }

    /// Recomputes the timer outputs (ISTATUS and the PPI lines: virtual 27, physical 30).
    func pollTimers() {
        let now = counter
        let s = state.sys
        let vFired = s.cntvCtl & 1 != 0 && now &- s.cntvoff >= s.cntvCval
        let pFired = s.cntpCtl & 1 != 0 && now >= s.cntpCval
        let vLevel = vFired && s.cntvCtl & 2 == 0
        let pLevel = pFired && s.cntpCtl & 2 == 0
        if vLevel != timer.levels.virtual {
            timer.levels.virtual = vLevel
            platform?.timerLineChanged(cpu: index, ppi: 27, level: vLevel)
        }
        if pLevel != timer.levels.physical {
            timer.levels.physical = pLevel
            platform?.timerLineChanged(cpu: index, ppi: 30, level: pLevel)
        }
    }

    func timerControl(_ ctl: UInt64, fired: Bool) -> UInt64 {
        (ctl & 3) | (fired && ctl & 1 != 0 ? 4 : 0)
    }
}
