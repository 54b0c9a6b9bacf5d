import Foundation

/// Arm semihosting (HLT #0xF000 at EL1; operation in W0, argument in X1, result in X0).
///
/// Console handles write to the machine's console; host file access is refused unless a directory was
/// explicitly allowed (`allowedRoot`), and then confined to it.
final class Semihosting {
    private let console: Console
    private let allowedRoot: String?
    private let start = DispatchTime.now().uptimeNanoseconds
    private var files: [Int: FileHandle] = [:]
    private var nextHandle = 3
    private var lastErrno: Int32 = 0
    var heapInfo: (heapBase: UInt64, heapLimit: UInt64, stackBase: UInt64, stackLimit: UInt64) = (0, 0, 0, 0)
    var commandLine = ""

    init(console: Console, allowedRoot: String?) {
        self.console = console
        self.allowedRoot = allowedRoot
    }

    func call(_ cpu: VCPU) -> FirmwareResult {
        let x = cpu.state.x
        let operation = x[0] & 0xffff_ffff
        let argument = x[1]
        let mem = cpu.memory
        func arg(_ i: UInt64) -> UInt64? { mem.read64(argument &+ i * 8) }
        func result(_ v: Int64) -> FirmwareResult { x[0] = UInt64(bitPattern: v); return .handled }

        switch operation {
        case 0x01: // SYS_OPEN
            guard let namePtr = arg(0), let mode = arg(1), let name = mem.readCString(namePtr) else { return result(-1) }
            let path = String(decoding: name, as: UTF8.self)
            if path == ":tt" { return result(mode < 4 ? 0 : (mode < 8 ? 1 : 2)) }
            guard let root = allowedRoot, !path.contains(".."), !path.hasPrefix("/") else { lastErrno = EACCES; return result(-1) }
            let full = (root as NSString).appendingPathComponent(path)
            let handle: FileHandle?
            if mode < 4 {
                handle = FileHandle(forReadingAtPath: full)
            } else {
                if !FileManager.default.fileExists(atPath: full) || mode < 8 { FileManager.default.createFile(atPath: full, contents: nil) }
                handle = FileHandle(forUpdatingAtPath: full)
                if mode >= 8 { _ = try? handle?.seekToEnd() }
            }
            guard let handle else { lastErrno = ENOENT; return result(-1) }
            let h = nextHandle
            nextHandle += 1
            files[h] = handle
            return result(Int64(h))
        case 0x02: // SYS_CLOSE
            guard let h = arg(0) else { return result(-1) }
            if h <= 2 { return result(0) }
            guard let f = files.removeValue(forKey: Int(h)) else { return result(-1) }
            try? f.close()
            return result(0)
        // SYS_WRITEC and SYS_WRITE0 return nothing; X0 is corrupted, as QEMU does with 0xdeadbeef.
        case 0x03: // SYS_WRITEC
            guard let p = mem.ramPointer(argument, 1) else { return result(0xdead_beef) }
            console.write([p.load(as: UInt8.self)])
            return result(0xdead_beef)
        case 0x04: // SYS_WRITE0
            guard let s = mem.readCString(argument) else { return result(0xdead_beef) }
            console.write(s)
            return result(0xdead_beef)
        case 0x05: // SYS_WRITE: returns the number of bytes NOT written
            guard let h = arg(0), let buf = arg(1), let len = arg(2) else { return result(-1) }
            guard len <= 1 << 30, let bytes = mem.readBytes(buf, Int(len)) else { return result(Int64(len & 0x7fff_ffff)) }
            if h == 1 || h == 2 { console.write(bytes); return result(0) }
            guard let f = files[Int(h)] else { return result(Int64(len)) }
            do { try f.write(contentsOf: bytes) } catch { return result(Int64(len)) }
            return result(0)
        case 0x06: // SYS_READ: returns the number of bytes NOT read
            guard let h = arg(0), let buf = arg(1), let len = arg(2), len <= 1 << 30 else { return result(-1) }
            if h == 0 {
                let bytes = console.read(max: Int(len))
                _ = mem.writeBytes(buf, bytes)
                return result(Int64(len) - Int64(bytes.count))
            }
            guard let f = files[Int(h)], let data = try? f.read(upToCount: Int(len)) else { return result(Int64(len)) }
            _ = mem.writeBytes(buf, [UInt8](data))
            return result(Int64(len) - Int64(data.count))
        case 0x07: // SYS_READC
            let bytes = console.read(max: 1, blocking: true)
            return result(Int64(bytes.first ?? 0xff))
        case 0x08: // SYS_ISERROR
            guard let v = arg(0) else { return result(0) }
            return result(Int64(bitPattern: v) < 0 ? 1 : 0)
        case 0x09: // SYS_ISTTY
            guard let h = arg(0) else { return result(0) }
            return result(h <= 2 ? 1 : 0)
        case 0x0a: // SYS_SEEK
            guard let h = arg(0), let pos = arg(1), let f = files[Int(h)] else { return result(-1) }
            do { try f.seek(toOffset: pos) } catch { return result(-1) }
            return result(0)
        case 0x0c: // SYS_FLEN
            guard let h = arg(0), let f = files[Int(h)] else { return result(-1) }
            let here = (try? f.offset()) ?? 0
            let end = (try? f.seekToEnd()) ?? 0
            try? f.seek(toOffset: here)
            return result(Int64(end))
        case 0x10: // SYS_CLOCK: centiseconds since start
            return result(Int64((DispatchTime.now().uptimeNanoseconds - start) / 10_000_000))
        case 0x11: // SYS_TIME
            return result(Int64(Date().timeIntervalSince1970))
        case 0x12: // SYS_SYSTEM: never runs host commands
            return result(-1)
        case 0x13: // SYS_ERRNO
            return result(Int64(lastErrno))
        case 0x15: // SYS_GET_CMDLINE
            guard let buf = arg(0), let size = arg(1) else { return result(-1) }
            let bytes = Array(commandLine.utf8.prefix(Int(min(size, 4096)) - 1)) + [0]
            guard mem.writeBytes(buf, bytes), mem.writeBytes(argument &+ 8, withUnsafeBytes(of: UInt64(bytes.count - 1).littleEndian, Array.init)) else { return result(-1) }
            return result(0)
        case 0x16: // SYS_HEAPINFO: X1 points at a pointer to a four-word block
            guard let block = mem.read64(argument) else { return result(-1) }
            var out: [UInt8] = []
            for v in [heapInfo.heapBase, heapInfo.heapLimit, heapInfo.stackBase, heapInfo.stackLimit] {
                out += withUnsafeBytes(of: v.littleEndian, Array.init)
            }
            _ = mem.writeBytes(block, out)
            return .handled
        case 0x18, 0x20: // SYS_EXIT, SYS_EXIT_EXTENDED: AArch64 passes a (reason, subcode) block
            guard let reason = arg(0) else { return .stop(.exited(1)) }
            let subcode = arg(1) ?? 0
            return .stop(.exited(reason == 0x20026 ? Int32(truncatingIfNeeded: subcode) : 1))
        case 0x30: // SYS_ELAPSED: 64-bit tick count written to the block
            let ticks = cpu.counter
            guard mem.writeBytes(argument, withUnsafeBytes(of: ticks.littleEndian, Array.init)) else { return result(-1) }
            return result(0)
        case 0x31: // SYS_TICKFREQ
            return result(Int64(VCPU.counterFrequency))
        default:
            return result(-1)
        }
    }
}

/// Where a machine's console output goes and where its input comes from.
/// Thread-safe: vCPUs write from their own threads.
public final class Console: @unchecked Sendable {
    private let lock = NSCondition()
    private var input: [UInt8] = []
    private let sink: ([UInt8]) -> Void

    public init(sink: @escaping ([UInt8]) -> Void) {
        self.sink = sink
    }

    /// A console writing straight to a file descriptor (unbuffered).
    public static func fileDescriptor(_ fd: Int32) -> Console {
        Console { bytes in
            bytes.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n <= 0 { break }
                    offset += n
                }
            }
        }
    }

    public func write(_ bytes: [UInt8]) {
        lock.lock()
        sink(bytes)
        lock.unlock()
    }

    public func feed(_ bytes: [UInt8]) {
        lock.lock()
        input += bytes
        lock.broadcast()
        lock.unlock()
    }

    func read(max: Int, blocking: Bool = false) -> [UInt8] {
        lock.lock()
        defer { lock.unlock() }
        if blocking { while input.isEmpty { if !lock.wait(until: Date(timeIntervalSinceNow: 0.1)) { break } } }
        let n = min(max, input.count)
        let out = Array(input.prefix(n))
        input.removeFirst(n)
        return out
    }
}
