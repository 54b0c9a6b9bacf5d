import Foundation

/// A device whose contents instructions may be fetched from while it is in its memory-like state (a flash bank
/// reading its array). The vCPU asks when it translates code outside RAM; nil makes that an instruction abort.
public protocol ExecutableMemoryDevice: MMIODevice {
    /// The host address of `length` bytes at `offset`, while they read as plain memory; nil otherwise.
    func executablePointer(offset: UInt64, length: UInt64) -> UnsafeMutableRawPointer?
}

/// One 64 MiB bank of the `virt` board's NOR flash, as QEMU models it (its pflash_cfi01 on virt): an Intel/Sharp
/// (CFI command set 1) part, 32 bits wide made of two 16-bit devices side by side, 256 KiB erase blocks,
/// manufacturer 0x89, device 0x18. It implements what firmware and Linux use: reading the array, the CFI query
/// and identifier modes, the status register, block erase, word program and block lock commands (the last
/// accepted and ignored: nothing is ever locked).
///
/// The array lives in host memory mapped when first needed (a machine that never touches its flash pays nothing)
/// and is lost when the machine ends, as QEMU's is without a backing drive. `contentChanged` is called (on the
/// writing vCPU's thread) after a program or erase of an erase block that code has been translated from since
/// the last call, so that code translated from the old contents is dropped; writes to blocks no code came from
/// (U-Boot saving its environment: 65,536 word programs) drop nothing.
/// Thread-safe: one lock.
public final class CFIFlashBank: ExecutableMemoryDevice {
    public let name = "cfi-flash"
    public static let size: UInt64 = 64 << 20
    public static let blockSize: UInt64 = 256 << 10
    static let manufacturer: UInt8 = 0x89
    static let device: UInt8 = 0x18

    private enum Mode: Equatable {
        case readArray, readStatus, readIdentifier, query
        /// The next write is data for a word program (0x40/0x10), the confirmation of a block erase (0x20),
        /// or the second cycle of a lock command (0x60).
        case programSetup, eraseSetup, lockSetup
    }

    private let lock = NSLock()
    private var storage: UnsafeMutableRawPointer?
    private var mode = Mode.readArray
    /// Status register: bit 7 ready; 5 erase error; 4 program error.
    private var status: UInt8 = 0x80
    public var contentChanged: (() -> Void)?
    /// The erase blocks instructions have been fetched from (`executablePointer`) since `contentChanged` was last
    /// called; it drops all translated code, so it clears them all.
    private var codeBlocks = [Bool](repeating: false, count: Int(CFIFlashBank.size / CFIFlashBank.blockSize))

    public init() {}

    deinit { if let storage { munmap(storage, Int(Self.size)) } }

    /// The array, mapped and erased (all ones) on first use; nil if the host refuses the mapping. Until then
    /// the bank reads as erased without holding any host memory.
    private func array() -> UnsafeMutableRawPointer? {
        if let storage { return storage }
        guard let mapping = mmap(nil, Int(Self.size), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              mapping != MAP_FAILED else { return nil }
        memset(mapping, 0xff, Int(Self.size))
        storage = mapping
        return mapping
    }

    /// Copies firmware into the bank at offset 0 (`--bios`). Throws if it does not fit.
    public func load(_ bytes: [UInt8], path: String) throws(BootError) {
        guard UInt64(bytes.count) <= Self.size else {
            throw .badImage(path, "\(bytes.count >> 20) MiB of firmware does not fit the \(Self.size >> 20) MiB flash bank")
        }
        lock.lock()
        defer { lock.unlock() }
        guard let p = array() else { throw .badImage(path, "the host could not map the flash bank") }
        bytes.withUnsafeBytes { if let base = $0.baseAddress { p.copyMemory(from: base, byteCount: bytes.count) } }
        mode = .readArray
    }

    public func executablePointer(offset: UInt64, length: UInt64) -> UnsafeMutableRawPointer? {
        lock.lock()
        defer { lock.unlock() }
        guard mode == .readArray, let storage, offset < Self.size, length <= Self.size - offset else { return nil }
        // The translator reads on to the end of the 4 KiB page, which lies in the same erase block.
        codeBlocks[Int(offset / Self.blockSize)] = true
        return storage + Int(offset)
    }

    /// The CFI query table, one byte per index, as each 16-bit device answers it.
    private static let queryTable: [Int: UInt8] = {
        var t: [Int: UInt8] = [:]
        let perDevice = Int(CFIFlashBank.size / 2)
        let blocks = Int(CFIFlashBank.size / CFIFlashBank.blockSize) - 1
        let blockSize = CFIFlashBank.blockSize
        let bytes: [(Int, UInt8)] = [
            (0x10, 0x51), (0x11, 0x52), (0x12, 0x59),          // "QRY"
            (0x13, 0x01), (0x14, 0x00),                        // primary command set: Intel/Sharp extended
            (0x15, 0x31), (0x16, 0x00),                        // its extended table at 0x31
            (0x1b, 0x45), (0x1c, 0x55),                        // Vcc 4.5-5.5 V
            (0x1f, 0x07), (0x21, 0x0a),                        // typical word program 2^7 us, block erase 2^10 ms
            (0x23, 0x04), (0x25, 0x04),                        // maximum: 2^4 times typical
            (0x27, UInt8(perDevice.trailingZeroBitCount)),     // device size 2^n bytes
            (0x28, 0x01), (0x29, 0x00),                        // x16 interface
            (0x2c, 0x01),                                      // one erase block region:
            (0x2d, UInt8(blocks & 0xff)), (0x2e, UInt8(blocks >> 8)),  // blocks - 1
            (0x2f, UInt8((Int(blockSize / 2) >> 8) & 0xff)), (0x30, UInt8(Int(blockSize / 2) >> 16)),  // size / 256
            (0x31, 0x50), (0x32, 0x52), (0x33, 0x49),          // "PRI"
            (0x34, 0x31), (0x35, 0x30),                        // version 1.0
        ]
        for (index, value) in bytes { t[index] = value }
        return t
    }()

    /// A byte each 16-bit device answers, repeated across the access as both devices answer together.
    private static func replicated(_ byte: UInt8, size: Int) -> UInt64 {
        let half = UInt64(byte)
        return size >= 4 ? half | half << 16 | (size == 8 ? (half << 32 | half << 48) : 0) : half
    }

    public func read(offset: UInt64, size: Int, cpu: Int) -> UInt64? {
        lock.lock()
        defer { lock.unlock() }
        guard offset < Self.size, size > 0, UInt64(size) <= Self.size - offset else { return nil }
        // Query and identifier indexes count 32-bit bank words.
        let index = Int(offset >> 2)
        switch mode {
        case .readArray:
            guard let storage else { return size == 8 ? .max : (UInt64(1) << UInt64(size * 8)) - 1 }
            var value: UInt64 = 0
            for k in 0..<size { value |= UInt64(storage.load(fromByteOffset: Int(offset) + k, as: UInt8.self)) << UInt64(8 * k) }
            return value
        case .readStatus, .programSetup, .eraseSetup, .lockSetup:
            return Self.replicated(status, size: size)
        case .readIdentifier:
            let byte: UInt8 = index & 0xff == 0 ? Self.manufacturer : index & 0xff == 1 ? Self.device : 0
            return Self.replicated(byte, size: size)
        case .query:
            return Self.replicated(Self.queryTable[index] ?? 0, size: size)
        }
    }

    public func write(offset: UInt64, size: Int, value: UInt64, cpu: Int) -> Bool {
        lock.lock()
        guard offset < Self.size, size > 0, UInt64(size) <= Self.size - offset else { lock.unlock(); return false }
        let command = UInt8(truncatingIfNeeded: value)
        var changed = false  // translated code came from what this write changed
        switch mode {
        case .programSetup:
            if let p = array() {
                for k in 0..<size { p.storeBytes(of: UInt8(truncatingIfNeeded: value >> UInt64(8 * k)), toByteOffset: Int(offset) + k, as: UInt8.self) }
                changed = codeBlocks[Int(offset / Self.blockSize)] || codeBlocks[Int((offset &+ UInt64(size) &- 1) / Self.blockSize)]
            } else {
                status |= 0x10
            }
            mode = .readStatus
        case .eraseSetup:
            if command == 0xd0, let p = array() {
                let block = offset / Self.blockSize * Self.blockSize
                memset(p + Int(block), 0xff, Int(Self.blockSize))
                changed = codeBlocks[Int(block / Self.blockSize)]
            } else {
                status |= 0x30  // an erase without its confirmation is a command sequence error
            }
            mode = .readStatus
        case .lockSetup:
            mode = .readStatus  // lock, unlock and lock-down all succeed and change nothing
        default:
            switch command {
            case 0xff, 0xf0: mode = .readArray
            case 0x90: mode = .readIdentifier
            case 0x98: mode = .query
            case 0x70: mode = .readStatus
            case 0x50: status = 0x80
            case 0x40, 0x10: mode = .programSetup
            case 0x20: mode = .eraseSetup
            case 0x60: mode = .lockSetup
            default: break  // unknown commands are ignored, as by the real part
            }
        }
        if changed { for block in codeBlocks.indices { codeBlocks[block] = false } }
        lock.unlock()
        if changed { contentChanged?() }
        return true
    }
}
