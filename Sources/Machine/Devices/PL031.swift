import Foundation

/// The Arm PL031 real-time clock as the `virt` board has it at 0x0901_0000 (SPI 2): a seconds counter that
/// starts at the clock it is given (host time, or the deterministic clock under `--icount`) and that the guest
/// may set through the load register.
///
/// The match interrupt is evaluated whenever the guest touches the device (the clock is read then); emud runs no
/// timer of its own for it, so an alarm is noticed at the guest's next access. Thread-safe: one lock.
public final class PL031: MMIODevice {
    public let name = "pl031"
    private let lock = NSLock()
    /// Seconds since the Unix epoch as the board's clock tells them, given the reading vCPU. Set before the
    /// machine starts.
    public var clock: (Int) -> UInt64
    /// What the guest's load register added to the clock (wraps like the 32-bit counter).
    private var offset: UInt32 = 0
    private var match: UInt32 = 0
    private var interruptMask: UInt32 = 0
    private var rawInterrupt: UInt32 = 0
    /// Called when the interrupt output changes (level).
    public var interruptLine: ((Bool) -> Void)?

    /// The host's wall-clock time, in seconds since the Unix epoch.
    public static let hostSeconds: (Int) -> UInt64 = { _ in UInt64(max(0, time(nil))) }

    public init(clock: @escaping (Int) -> UInt64 = PL031.hostSeconds) {
        self.clock = clock
    }

    private static let identification: [UInt64] = [0x31, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1]

    private func now(_ cpu: Int) -> UInt32 { UInt32(truncatingIfNeeded: clock(cpu)) &+ offset }

    /// Latches the match interrupt if the counter has reached the match value; returns the output level.
    private func updateLocked(_ cpu: Int) -> Bool {
        if now(cpu) == match { rawInterrupt = 1 }
        return rawInterrupt & interruptMask != 0
    }

    public func read(offset address: UInt64, size: Int, cpu: Int) -> UInt64? {
        lock.lock()
        let value: UInt64
        switch address {
        case 0x000: value = UInt64(now(cpu))
        case 0x004: value = UInt64(match)
        case 0x008: value = UInt64(now(cpu))
        case 0x00c: value = 1  // the counter always runs
        case 0x010: value = UInt64(interruptMask)
        case 0x014: _ = updateLocked(cpu); value = UInt64(rawInterrupt)
        case 0x018: _ = updateLocked(cpu); value = UInt64(rawInterrupt & interruptMask)
        case 0xfe0...0xffc where address & 3 == 0: value = Self.identification[Int((address - 0xfe0) / 4)]
        default: value = 0
        }
        lock.unlock()
        return value
    }

    public func write(offset address: UInt64, size: Int, value: UInt64, cpu: Int) -> Bool {
        let v = UInt32(truncatingIfNeeded: value)
        lock.lock()
        switch address {
        case 0x004: match = v
        case 0x008: offset = v &- UInt32(truncatingIfNeeded: clock(cpu))
        case 0x010: interruptMask = v & 1
        case 0x01c: rawInterrupt &= ~(v & 1)
        default: break
        }
        // Delivered under the lock, so concurrent writers cannot leave a stale level behind (as in PL011).
        interruptLine?(updateLocked(cpu))
        lock.unlock()
        return true
    }
}
