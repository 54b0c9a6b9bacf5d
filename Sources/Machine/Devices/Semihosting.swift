import Foundation

/// What a semihosting call asks of the machine, once its result is in X0.
enum SemihostingOutcome: Equatable {
    /// Put this value in X0 and go on.
    case result(UInt64)
    /// Go on with X0 unchanged (SYS_HEAPINFO returns its block through memory).
    case unchanged
    /// End the machine with this exit status.
    case exit(Int32)
}

/// Arm semihosting (HLT #0xF000 at EL1; operation in W0, argument in X1, result in X0).
///
/// Console handles write to the machine's console; host file access is refused unless a directory was
/// explicitly allowed (`allowedRoot`), and then every open is resolved beneath that directory by the kernel,
/// one path component at a time with `O_NOFOLLOW`, from a descriptor opened when the machine was made: no
/// symbolic link is followed, no `..` is accepted, and nothing outside the directory can be named.
///
/// Every value comes from the guest, so every conversion here is checked: a handle, length or offset that
/// does not fit returns -1 (or "nothing transferred"), as QEMU does, and never traps.
/// Called on the vCPU thread that executed the HLT; a machine's calls are serialised by its vCPUs sharing one
/// board only through `lock`.
final class Semihosting {
    private let console: Console
    private let rootDescriptor: Int32
    private let start = DispatchTime.now().uptimeNanoseconds
    private let lock = NSLock()
    private var files: [UInt64: Int32] = [:]
    private var nextHandle: UInt64 = 3
    private var lastErrno: Int32 = 0
    var heapInfo: (heapBase: UInt64, heapLimit: UInt64, stackBase: UInt64, stackLimit: UInt64) = (0, 0, 0, 0)
    var commandLine = ""
    /// At most this many host files open at once per machine.
    static let maximumOpenFiles = 64
    /// Transfers move through a buffer of at most this size, however long the guest's request.
    private static let chunk = 64 << 10

    init(console: Console, allowedRoot: String?) {
        self.console = console
        if let allowedRoot {
            rootDescriptor = open(allowedRoot, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        } else {
            rootDescriptor = -1
        }
    }

    deinit {
        for fd in files.values { close(fd) }
        if rootDescriptor >= 0 { close(rootDescriptor) }
    }

    func call(_ cpu: VCPU) -> FirmwareResult {
        let x = cpu.state.x
        switch call(operation: x[0] & 0xffff_ffff, argument: x[1], memory: cpu.port.guestView, counter: cpu.counter) {
        case .result(let v):
            x[0] = v
            return .handled
        case .unchanged:
            return .handled
        case .exit(let status):
            return .stop(.exited(status))
        }
    }

    /// Performs one call. `memory` is RAM at the guest's (virtual) addresses; `counter` is the vCPU's virtual
    /// counter (SYS_ELAPSED).
    func call(operation: UInt64, argument: UInt64, memory mem: some GuestRAM, counter: UInt64) -> SemihostingOutcome {
        lock.lock()
        defer { lock.unlock() }
        func arg(_ i: UInt64) -> UInt64? { mem.read64(argument &+ i &* 8) }
        func result(_ v: Int64) -> SemihostingOutcome { .result(UInt64(bitPattern: v)) }
        func failure(_ error: Int32) -> SemihostingOutcome { lastErrno = error; return result(-1) }

        switch operation {
        case 0x01: // SYS_OPEN
            guard let namePtr = arg(0), let mode = arg(1), let name = mem.readCString(namePtr, limit: 4096) else { return failure(EFAULT) }
            let path = String(decoding: name, as: UTF8.self)
            if path == ":tt" { return result(mode < 4 ? 0 : (mode < 8 ? 1 : 2)) }
            guard mode <= 11 else { return failure(EINVAL) }
            guard rootDescriptor >= 0 else { return failure(EACCES) }
            guard files.count < Self.maximumOpenFiles else { return failure(EMFILE) }
            // fopen modes r, rb, r+, r+b, w, wb, w+, w+b, a, ab, a+, a+b.
            let plus = mode & 2 != 0
            var flags: Int32
            switch mode >> 2 {
            case 0: flags = plus ? O_RDWR : O_RDONLY
            case 1: flags = (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_TRUNC
            default: flags = (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_APPEND
            }
            let fd = Self.openBeneath(rootDescriptor, name, flags: flags)
            guard fd >= 0 else { return failure(-fd) }
            let h = nextHandle
            nextHandle &+= 1
            files[h] = fd
            return result(Int64(truncatingIfNeeded: h))
        case 0x02: // SYS_CLOSE
            guard let h = arg(0) else { return failure(EFAULT) }
            if h <= 2 { return result(0) }
            guard let fd = files.removeValue(forKey: h) else { return failure(EBADF) }
            close(fd)
            return result(0)
        // SYS_WRITEC and SYS_WRITE0 return nothing; X0 is corrupted, as QEMU does with 0xdeadbeef.
        case 0x03: // SYS_WRITEC
            guard let p = mem.ramPointer(argument, 1) else { return .result(0xdead_beef) }
            console.write([p.load(as: UInt8.self)])
            return .result(0xdead_beef)
        case 0x04: // SYS_WRITE0
            guard let s = mem.readCString(argument) else { return .result(0xdead_beef) }
            console.write(s)
            return .result(0xdead_beef)
        case 0x05: // SYS_WRITE: returns the number of bytes NOT written
            guard let h = arg(0), let buf = arg(1), let len = arg(2) else { return failure(EFAULT) }
            // A buffer outside RAM transfers nothing (QEMU: EFAULT, all bytes reported unwritten).
            guard len <= 1 << 30, let p = mem.ramPointer(buf, len) else { lastErrno = EFAULT; return .result(len) }
            let count = Int(len)
            if h == 1 || h == 2 {
                var done = 0
                while done < count {
                    let n = min(Self.chunk, count - done)
                    console.write(Array(UnsafeRawBufferPointer(start: p + done, count: n)))
                    done += n
                }
                return result(0)
            }
            guard let fd = files[h] else { lastErrno = EBADF; return result(Int64(count)) }
            var done = 0
            while done < count {
                let n = Foundation.write(fd, p + done, min(Self.chunk, count - done))
                if n < 0, errno == EINTR { continue }
                if n <= 0 { lastErrno = errno; break }
                done += n
            }
            return result(Int64(count - done))
        case 0x06: // SYS_READ: returns the number of bytes NOT read
            guard let h = arg(0), let buf = arg(1), let len = arg(2) else { return failure(EFAULT) }
            guard len <= 1 << 30, mem.ramPointer(buf, len) != nil else { lastErrno = EFAULT; return .result(len) }
            let count = Int(len)
            if h == 0 {
                let bytes = console.read(max: count)
                _ = mem.writeBytes(buf, bytes)
                return result(Int64(count - bytes.count))
            }
            guard let fd = files[h] else { lastErrno = EBADF; return .result(len) }
            var done = 0
            var scratch = [UInt8](repeating: 0, count: min(Self.chunk, count))
            while done < count {
                let want = min(scratch.count, count - done)
                let n = scratch.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress, want) }
                if n < 0, errno == EINTR { continue }
                if n <= 0 { if n < 0 { lastErrno = errno }; break }
                _ = mem.writeBytes(buf &+ UInt64(done), Array(scratch[0..<n]))
                done += n
            }
            return result(Int64(count - done))
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
            guard let h = arg(0), let pos = arg(1) else { return failure(EFAULT) }
            guard let fd = files[h] else { return failure(EBADF) }
            guard let offset = off_t(exactly: pos) else { return failure(EINVAL) }
            guard lseek(fd, offset, SEEK_SET) >= 0 else { return failure(errno) }
            return result(0)
        case 0x0c: // SYS_FLEN
            guard let h = arg(0) else { return failure(EFAULT) }
            guard let fd = files[h] else { return failure(EBADF) }
            var info = stat()
            guard fstat(fd, &info) == 0 else { return failure(errno) }
            return result(Int64(info.st_size))
        case 0x10: // SYS_CLOCK: centiseconds since start
            return result(Int64((DispatchTime.now().uptimeNanoseconds &- start) / 10_000_000))
        case 0x11: // SYS_TIME
            return result(Int64(time(nil)))
        case 0x12: // SYS_SYSTEM: never runs host commands
            return result(-1)
        case 0x13: // SYS_ERRNO
            return result(Int64(lastErrno))
        case 0x15: // SYS_GET_CMDLINE: block is (buffer, size); the length written back excludes the NUL
            guard let buf = arg(0), let size = arg(1) else { return failure(EFAULT) }
            let text = Array(commandLine.utf8)
            // The command line and its NUL must fit; QEMU fails rather than truncating.
            guard size > UInt64(text.count) else { return failure(E2BIG) }
            guard mem.writeBytes(buf, text + [0]),
                  mem.writeBytes(argument &+ 8, withUnsafeBytes(of: UInt64(text.count).littleEndian, Array.init)) else { return failure(EFAULT) }
            return result(0)
        case 0x16: // SYS_HEAPINFO: X1 points at a pointer to a four-word block
            guard let block = mem.read64(argument) else { return .unchanged }
            var out: [UInt8] = []
            for v in [heapInfo.heapBase, heapInfo.heapLimit, heapInfo.stackBase, heapInfo.stackLimit] {
                out += withUnsafeBytes(of: v.littleEndian, Array.init)
            }
            _ = mem.writeBytes(block, out)
            return .unchanged
        case 0x18, 0x20: // SYS_EXIT, SYS_EXIT_EXTENDED: AArch64 passes a (reason, subcode) block
            guard let reason = arg(0) else { return .exit(1) }
            let subcode = arg(1) ?? 0
            return .exit(reason == 0x20026 ? Int32(truncatingIfNeeded: subcode) : 1)
        case 0x30: // SYS_ELAPSED: 64-bit tick count written to the block
            guard mem.writeBytes(argument, withUnsafeBytes(of: counter.littleEndian, Array.init)) else { return failure(EFAULT) }
            return result(0)
        case 0x31: // SYS_TICKFREQ
            return result(Int64(VCPU.counterFrequency))
        default:
            return result(-1)
        }
    }

    /// Opens `name` (a path relative to the directory `root`) without leaving that directory: each component is
    /// opened with `openat(…, O_NOFOLLOW)` from the one before, `..`, absolute paths and symbolic links are
    /// refused, and the file must be a regular file. Returns the descriptor or a negated errno.
    static func openBeneath(_ root: Int32, _ name: [UInt8], flags: Int32) -> Int32 {
        guard name.first != UInt8(ascii: "/"), !name.contains(0) else { return -EACCES }
        let components = name.split(separator: UInt8(ascii: "/")).filter { !($0.count == 1 && $0.first == UInt8(ascii: ".")) }
        guard let last = components.last else { return -ENOENT }
        if components.contains(where: { $0.elementsEqual("..".utf8) }) { return -EACCES }
        var directory = root
        defer { if directory != root { close(directory) } }
        for component in components.dropLast() {
            let next = openat(directory, component.map { CChar(bitPattern: $0) } + [0], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard next >= 0 else { return -(errno == ELOOP || errno == ENOTDIR ? EACCES : errno) }
            if directory != root { close(directory) }
            directory = next
        }
        // O_NONBLOCK so that naming a FIFO cannot stall the vCPU; it is refused below anyway.
        let fd = openat(directory, last.map { CChar(bitPattern: $0) } + [0], flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0o644)
        guard fd >= 0 else { return -(errno == ELOOP ? EACCES : errno) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { close(fd); return -EACCES }
        _ = fcntl(fd, F_SETFL, flags & O_APPEND)
        return fd
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

    /// Input not yet read by the guest is kept up to this many bytes; what arrives beyond it is dropped (a
    /// guest that never reads its console cannot make a client grow the daemon without bound).
    public static let maximumPendingInput = 1 << 20

    public func feed(_ bytes: [UInt8]) {
        lock.lock()
        input += bytes.prefix(max(0, Self.maximumPendingInput - input.count))
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
