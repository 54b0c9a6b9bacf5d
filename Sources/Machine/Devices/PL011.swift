import Foundation

/// The Arm PL011 UART as the `virt` board has it at 0x0900_0000 (SPI 1): transmit goes to `output`,
/// receive comes from `receive(_:)`. Thread-safe: registers are guarded by a lock.
public final class PL011: MMIODevice {
    public let name = "pl011"
    private let lock = NSLock()
    private var input: [UInt8] = []
    private var control: UInt32 = 0x300
    private var lineControl: UInt32 = 0
    private var integerBaud: UInt32 = 0
    private var fractionalBaud: UInt32 = 0
    private var fifoLevel: UInt32 = 0x12
    private var interruptMask: UInt32 = 0
    private var rawInterrupts: UInt32 = 0
    /// Receives every transmitted byte, on the writing vCPU's thread.
    public var output: (UInt8) -> Void
    /// Called when the interrupt output changes (level).
    public var interruptLine: ((Bool) -> Void)?

    public init(output: @escaping (UInt8) -> Void) {
        self.output = output
    }

    /// Queues bytes for the guest to read.
    public func receive(_ bytes: [UInt8]) {
        lock.lock()
        input.append(contentsOf: bytes)
        rawInterrupts |= 1 << 4
        updateLineLocked()
        lock.unlock()
    }

    /// Drives the interrupt output from the masked status. Called with the lock held, so that two vCPUs changing
    /// the status cannot deliver their levels out of order (a stale high level with nothing pending made Linux
    /// disable the UART's interrupt as one nobody handled). The GIC never calls back into the UART.
    private func updateLineLocked() { interruptLine?(rawInterrupts & interruptMask != 0) }

    private static let identification: [UInt32] = [0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1]

    public func read(offset: UInt64, size: Int, cpu: Int) -> UInt64? {
        lock.lock()
        defer { lock.unlock() }
        switch offset {
        case 0x000:
            guard !input.isEmpty else { return 0 }
            let b = input.removeFirst()
            if input.isEmpty {
                rawInterrupts &= ~(1 << 4)
                updateLineLocked()
            }
            return UInt64(b)
        case 0x004: return 0
        case 0x018: // FR: transmit FIFO always empty; RXFE when nothing to read
            return UInt64((1 << 7) | (input.isEmpty ? 1 << 4 : 1 << 6))
        case 0x024: return UInt64(integerBaud)
        case 0x028: return UInt64(fractionalBaud)
        case 0x02c: return UInt64(lineControl)
        case 0x030: return UInt64(control)
        case 0x034: return UInt64(fifoLevel)
        case 0x038: return UInt64(interruptMask)
        case 0x03c: return UInt64(rawInterrupts)
        case 0x040: return UInt64(rawInterrupts & interruptMask)
        case 0x048: return 0
        case 0xfe0...0xffc:
            return UInt64(Self.identification[Int((offset - 0xfe0) / 4)])
        default: return 0
        }
    }

    public func write(offset: UInt64, size: Int, value: UInt64, cpu: Int) -> Bool {
        lock.lock()
        switch offset {
        case 0x000:
            // Transmission is instant, so the transmit FIFO is at once below its trigger level again: the
            // transmit interrupt (TXIS) rises after every byte, as in QEMU's model. Linux's driver waits for it
            // before sending more than a FIFO's worth.
            let byte = UInt8(truncatingIfNeeded: value)
            rawInterrupts |= 1 << 5
            updateLineLocked()
            lock.unlock()
            output(byte)
            return true
        case 0x004: break
        case 0x024: integerBaud = UInt32(truncatingIfNeeded: value) & 0xffff
        case 0x028: fractionalBaud = UInt32(truncatingIfNeeded: value) & 0x3f
        case 0x02c: lineControl = UInt32(truncatingIfNeeded: value) & 0xff
        case 0x030: control = UInt32(truncatingIfNeeded: value) & 0xffff
        case 0x034: fifoLevel = UInt32(truncatingIfNeeded: value) & 0x3f
        case 0x038: interruptMask = UInt32(truncatingIfNeeded: value) & 0x7ff; updateLineLocked()
        case 0x044: rawInterrupts &= ~(UInt32(truncatingIfNeeded: value)); updateLineLocked()
        default: break
        }
        lock.unlock()
        return true
    }
}
