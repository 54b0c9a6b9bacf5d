import Foundation

/// A disk for the guest: a raw image file, read-write or read-only.
public struct DriveConfiguration: Sendable, Equatable {
    public var path: String
    public var readOnly: Bool
    /// What VIRTIO_BLK_T_GET_ID returns (at most 20 bytes; QEMU's `-device virtio-blk-device,serial=`).
    public var serial: String

    public init(path: String, readOnly: Bool = false, serial: String = "") {
        self.path = path
        self.readOnly = readOnly
        self.serial = serial
    }
}

/// virtio-blk (virtio 1.x, 5.2) over a raw image file: one request queue; IN, OUT, FLUSH and GET_ID.
///
/// The file is read and written with pread/pwrite straight between it and guest RAM, on the notifying vCPU's
/// thread. A request for sectors beyond the disk, of a length that is not whole sectors or above 2 GiB, or that
/// writes to a read-only drive ends with VIRTIO_BLK_S_IOERR and touches nothing; an unknown request type with
/// VIRTIO_BLK_S_UNSUPP. A request without room for its header or status breaks the device (it needs a reset),
/// as QEMU does.
public final class VirtioBlock: VirtioDevice {
    public let deviceID: UInt32 = 2
    public let queueCount = 1
    public let label: String
    public let readOnly: Bool
    /// Capacity in 512-byte sectors (a partial last sector counts, and reads as zeros past the file's end).
    public let sectors: UInt64
    private let descriptor: Int32
    private let serial: [UInt8]
    public let configuration: [UInt8]

    static let sectorSize: UInt64 = 512
    static let idLength = 20
    static let headerLength = 16
    /// Segments per request the driver may use (queue size - 2, as QEMU advertises for its default queue).
    static let segmentLimit: UInt32 = 254
    /// The most sectors one request may move (just under 2 GiB, QEMU's limit too): a bounded time per request.
    static let requestSectorLimit = UInt64(Int32.max) / sectorSize

    enum Feature {
        static let segmentMax: UInt64 = 1 << 2
        static let readOnly: UInt64 = 1 << 5
        static let blockSize: UInt64 = 1 << 6
        static let flush: UInt64 = 1 << 9
    }

    enum Request {
        static let read: UInt32 = 0
        static let write: UInt32 = 1
        static let flush: UInt32 = 4
        static let getID: UInt32 = 8
    }

    enum Status {
        static let ok: UInt8 = 0
        static let ioError: UInt8 = 1
        static let unsupported: UInt8 = 2
    }

    public var deviceFeatures: UInt64 {
        Feature.segmentMax | Feature.blockSize | Feature.flush | (readOnly ? Feature.readOnly : 0)
    }

    public init(_ drive: DriveConfiguration) throws(VirtioError) {
        let fd = open(drive.path, (drive.readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotOpen(drive.path, String(cString: strerror(errno))) }
        var info = stat()
        let kind = fstat(fd, &info) == 0 ? info.st_mode & S_IFMT : 0
        guard kind == S_IFREG || kind == S_IFBLK else {
            close(fd)
            throw .notAFile(drive.path)
        }
        let end = lseek(fd, 0, SEEK_END)
        guard end >= 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw .cannotOpen(drive.path, why)
        }
        descriptor = fd
        readOnly = drive.readOnly
        label = "virtio-blk \(drive.path)"
        let bytes = UInt64(end)
        sectors = bytes / Self.sectorSize + (bytes % Self.sectorSize == 0 ? 0 : 1)
        serial = Array(drive.serial.utf8.prefix(Self.idLength))
        // struct virtio_blk_config up to num_queues: capacity, size_max, seg_max, geometry, blk_size,
        // topology, writeback, unused, num_queues.
        var config = [UInt8](repeating: 0, count: 36)
        func put(_ value: UInt64, at offset: Int, bytes: Int) {
            for i in 0..<bytes { config[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        }
        put(sectors, at: 0, bytes: 8)
        put(UInt64(Self.segmentLimit), at: 12, bytes: 4)
        put(Self.sectorSize, at: 20, bytes: 4)
        put(1, at: 34, bytes: 2)
        configuration = config
    }

    deinit { close(descriptor) }

    public func serve(_ chain: DescriptorChain, queue: Int, memory: GuestMemory) throws(VirtqueueError) -> UInt32 {
        let readable = chain.readableLength
        let writable = chain.writableLength
        guard readable >= UInt64(Self.headerLength) else { throw .malformedRequest("virtio-blk request without its 16-byte header") }
        guard writable >= 1 else { throw .malformedRequest("virtio-blk request without room for its status") }
        let header = chain.gather(from: 0, count: Self.headerLength)
        let type = header[0..<4].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let sector = header[8..<16].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let dataIn = writable - 1
        let status: UInt8
        switch type {
        case Request.read:
            status = transfer(chain, sector: sector, length: dataIn, write: false, memory: memory)
        case Request.write:
            status = readOnly ? Status.ioError
                : transfer(chain, sector: sector, length: readable - UInt64(Self.headerLength), write: true, memory: memory)
        case Request.flush:
            status = readOnly || fsync(descriptor) == 0 ? Status.ok : Status.ioError
        case Request.getID:
            let count = min(UInt64(Self.idLength), dataIn)
            var copied = 0
            chain.fillWritable(from: 0, count: count, memory: memory) { p, n in
                p.initializeMemory(as: UInt8.self, repeating: 0, count: n)
                let take = max(0, min(n, serial.count - copied))
                if take > 0 {
                    serial.withUnsafeBytes { bytes in
                        if let from = bytes.baseAddress { p.copyMemory(from: from + copied, byteCount: take) }
                    }
                }
                copied += n
                return true
            }
            status = Status.ok
        default:
            status = Status.unsupported
        }
        chain.fillWritable(from: dataIn, count: 1, memory: memory) { p, _ in
            p.storeBytes(of: status, as: UInt8.self)
            return true
        }
        // As QEMU does, the whole device-writable length is reported as used.
        return UInt32(clamping: writable)
    }

    /// Reads or writes `length` bytes at `sector` between the file and the chain's data buffers.
    private func transfer(_ chain: DescriptorChain, sector: UInt64, length: UInt64, write: Bool, memory: GuestMemory) -> UInt8 {
        guard length % Self.sectorSize == 0, length / Self.sectorSize <= Self.requestSectorLimit,
              sector <= sectors, length / Self.sectorSize <= sectors - sector else {
            return Status.ioError
        }
        // In range, so the byte offset is below the file's size and cannot overflow.
        var position = sector &* Self.sectorSize
        var failed = false
        func move(_ p: UnsafeMutableRawPointer, _ n: Int) -> Bool {
            var done = 0
            while done < n {
                let result = write
                    ? pwrite(descriptor, p + done, n - done, off_t(truncatingIfNeeded: position))
                    : pread(descriptor, p + done, n - done, off_t(truncatingIfNeeded: position))
                if result < 0 && errno == EINTR { continue }
                if result < 0 || (result == 0 && write) { failed = true; return false }
                if result == 0 {
                    // Past the end of the file inside the last partial sector: zeros, as QEMU reads them.
                    (p + done).initializeMemory(as: UInt8.self, repeating: 0, count: n - done)
                    position &+= UInt64(n - done)
                    return true
                }
                done += result
                position &+= UInt64(result)
            }
            return true
        }
        if write {
            DescriptorChain.visit(chain.readable, from: UInt64(Self.headerLength), count: length) { p, n, _ in move(p, n) }
        } else {
            chain.fillWritable(from: 0, count: length, memory: memory) { p, n in move(p, n) }
        }
        return failed ? Status.ioError : Status.ok
    }
}
