// emud: the GDB remote protocol. GPL-2.0-or-later.

/// `vFile:OPERATION:ARGS`: gdb's Host I/O, with which it reads files on the target's side (here: the
/// machine's own image, so that gdb finds the symbols with no local copy). Arguments are hex numbers
/// separated by commas; a path is hex-encoded bytes. Operations this stub does not serve parse as nil.
public enum HostIOPacket: Equatable, Sendable {
    /// `vFile:setfs:PID`: which process's filesystem later paths name (0: the stub's own).
    case setFilesystem(process: Int)
    /// `vFile:open:PATH,FLAGS,MODE`
    case open(path: [UInt8], flags: Int, mode: Int)
    /// `vFile:pread:FD,COUNT,OFFSET`
    case pread(handle: Int, count: Int, offset: Int)
    /// `vFile:fstat:FD`
    case fstat(handle: Int)
    /// `vFile:close:FD`
    case close(handle: Int)

    /// `body` is what follows `vFile:`. Returns nil for operations not served here (gdb is then
    /// answered with the empty reply, which it takes as "not supported").
    init?(body: ArraySlice<UInt8>) throws(MalformedPacket) {
        guard let (operation, arguments) = body.splitOnce(at: UInt8(ascii: ":")) else { return nil }
        let fields = arguments.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
        func numbers(_ count: Int, _ name: String) throws(MalformedPacket) -> [Int] {
            guard fields.count == count else {
                throw MalformedPacket("vFile:\(name)", "expected \(count) comma-separated hex numbers")
            }
            var values: [Int] = []
            for field in fields { values.append(try field.hexInt("vFile:\(name)", "argument")) }
            return values
        }
        switch String(decoding: operation, as: UTF8.self) {
        case "setfs":
            self = .setFilesystem(process: try numbers(1, "setfs")[0])
        case "open":
            guard fields.count == 3, let path = Hex.decode(fields[0]) else {
                throw MalformedPacket("vFile:open", "expected 'PATH,FLAGS,MODE' with a hex-encoded path")
            }
            self = .open(
                path: path, flags: try fields[1].hexInt("vFile:open", "flags"),
                mode: try fields[2].hexInt("vFile:open", "mode"))
        case "pread":
            let values = try numbers(3, "pread")
            self = .pread(handle: values[0], count: values[1], offset: values[2])
        case "fstat":
            self = .fstat(handle: try numbers(1, "fstat")[0])
        case "close":
            self = .close(handle: try numbers(1, "close")[0])
        default:
            return nil
        }
    }
}

/// The numbers of gdb's File-I/O protocol (its own, not the host's): open flags, mode bits, errno
/// values, and the 64-byte big-endian `struct stat` that `vFile:fstat` answers with.
enum FileIO {
    static let readOnly = 0
    static let regularFile: UInt32 = 0o100000
    static let readableByAll: UInt32 = 0o444

    enum Errno: Int {
        case noSuchFile = 2  // ENOENT
        case badHandle = 9  // EBADF
        case accessDenied = 13  // EACCES
        case invalidArgument = 22  // EINVAL
        case tooManyOpenFiles = 24  // EMFILE
    }

    /// `F-1,ERRNO`
    static func failure(_ errno: Errno) -> [UInt8] {
        Array("F-1,\(String(errno.rawValue, radix: 16))".utf8)
    }

    /// `F RESULT` followed, if given, by `;` and the binary attachment (escaped when the packet is
    /// encoded).
    static func success(_ result: Int, attachment: [UInt8]? = nil) -> [UInt8] {
        var reply = Array("F\(String(result, radix: 16))".utf8)
        if let attachment { reply += [UInt8(ascii: ";")] + attachment }
        return reply
    }

    /// st_dev, st_ino, st_mode, st_nlink, st_uid, st_gid, st_rdev (32 bits each), st_size,
    /// st_blksize, st_blocks (64 bits each), st_atime, st_mtime, st_ctime (32 bits each).
    static func stat(size: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        func put32(_ value: UInt32) { bytes += withUnsafeBytes(of: value.bigEndian, Array.init) }
        func put64(_ value: UInt64) { bytes += withUnsafeBytes(of: value.bigEndian, Array.init) }
        put32(0)  // a file, not the console
        put32(0)
        put32(regularFile | readableByAll)
        put32(1)
        put32(0)
        put32(0)
        put32(0)
        let size = UInt64(size)
        put64(size)
        put64(4096)
        put64((size + 511) / 512)
        put32(0)
        put32(0)
        put32(0)
        return bytes
    }
}
