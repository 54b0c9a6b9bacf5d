import CZlib
import Foundation

/// What to boot and how, as `emud run --kernel/--initrd/--append/--dtb` and the daemon's machine fields say.
public struct BootConfiguration: Sendable, Equatable {
    public var kernel: String
    public var initrd: String?
    /// The kernel command line (/chosen/bootargs).
    public var append: String?
    /// A device tree to boot with instead of emud's own; its /memory and /chosen are rewritten.
    public var dtb: String?

    public init(kernel: String, initrd: String? = nil, append: String? = nil, dtb: String? = nil) {
        self.kernel = kernel
        self.initrd = initrd
        self.append = append
        self.dtb = dtb
    }
}

public enum BootError: Error, CustomStringConvertible, Equatable {
    case unreadable(String, String)
    case doesNotFit(what: String, path: String, bytes: UInt64, ramSize: UInt64)
    case badImage(String, String)
    case deviceTree(String)

    public var description: String {
        switch self {
        case .unreadable(let path, let why): return "cannot read \(path): \(why)"
        case .doesNotFit(let what, let path, let bytes, let ramSize):
            return "the \(what) \(path) (\(bytes >> 10) KiB) does not fit in the guest's \(ramSize >> 20) MiB of RAM where the boot protocol places it; give the machine more --memory"
        case .badImage(let path, let why): return "\(path): \(why)"
        case .deviceTree(let why): return "device tree: \(why)"
        }
    }
}

/// The header of an arm64 Linux `Image` (Documentation/arm64/booting.rst): 64 bytes at the start of the file,
/// little-endian, with the magic "ARM\x64" at offset 56.
public struct ArmImageHeader: Equatable, Sendable {
    /// Where the image wants to sit above a 2 MiB-aligned base of RAM.
    public let textOffset: UInt64
    /// Bytes of memory the kernel occupies from its start, bss included; 0 in kernels before 3.17.
    public let imageSize: UInt64
    public let flags: UInt64

    public static let magicOffset = 56
    public static let magic: [UInt8] = [0x41, 0x52, 0x4d, 0x64]  // "ARM\x64"

    /// The header of `bytes`, or nil when they do not start with one.
    public init?(_ bytes: [UInt8]) {
        guard bytes.count >= 64, Array(bytes[Self.magicOffset..<Self.magicOffset + 4]) == Self.magic else { return nil }
        func u64(_ o: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[o + $1]) << (8 * UInt64($1)) } }
        textOffset = u64(8)
        imageSize = u64(16)
        flags = u64(24)
    }

    /// Flags bit 0: the kernel is big-endian.
    public var isBigEndian: Bool { flags & 1 != 0 }
}

/// Loads kernels, initial RAM disks and device trees the way QEMU's `hw/arm/boot.c` does for `-M virt`:
/// - an ELF kernel is loaded by its program headers and entered at its entry point, as today;
/// - an arm64 `Image` (gzip-compressed or not) goes at RAM base + text_offset (2 MiB up if that is below 4 KiB,
///   QEMU's room for its boot stub), or + 0x80000 for an image without image_size;
/// - the initrd at RAM base + min(RAM / 2, 128 MiB), or the first page after the kernel if that is higher;
/// - the DTB at the first 2 MiB boundary after the initrd; X0 holds its address at entry.
public enum LinuxLoader {
    static let defaultTextOffset: UInt64 = 0x8_0000
    /// QEMU keeps the bottom of RAM for its boot stub; an image asking for less gets 2 MiB more.
    static let bootStubSpace: UInt64 = 4 << 10
    /// Largest kernel emud unpacks from gzip (QEMU's LOAD_IMAGE_MAX_GUNZIP_BYTES).
    public static let maximumUnpackedKernel = 256 << 20

    /// The bytes of a file of at most `limit` bytes (checked before reading, so a huge file costs nothing).
    static func read(_ path: String, limit: UInt64, what: String) throws(BootError) -> [UInt8] {
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? UInt64, size > limit {
            throw .badImage(path, "the \(what) is \(size >> 20) MiB; emud takes at most \(limit >> 20) MiB here")
        }
        guard let data = FileManager.default.contents(atPath: path), UInt64(data.count) <= limit else {
            throw .unreadable(path, FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file")
        }
        return [UInt8](data)
    }

    @inline(__always) static func alignUp(_ value: UInt64, _ alignment: UInt64) -> UInt64? {
        let (sum, overflow) = value.addingReportingOverflow(alignment - 1)
        return overflow ? nil : sum & ~(alignment - 1)
    }

    /// Everything a boot puts in RAM, as one image: kernel, initrd and DTB segments, entered at the kernel with
    /// X0 = the DTB's address. An ELF kernel is returned as `ELFLoader` reads it.
    public static func prepare(_ boot: BootConfiguration, cpus: Int, ramSize: UInt64) throws -> GuestImage {
        var kernel = try read(boot.kernel, limit: max(ramSize, UInt64(maximumUnpackedKernel)), what: "kernel")
        if kernel.starts(with: [0x7f, 0x45, 0x4c, 0x46]) {
            return try ELFLoader.parse(kernel, path: boot.kernel)
        }
        if kernel.starts(with: [0x1f, 0x8b]) {
            kernel = try gunzip(kernel, limit: min(maximumUnpackedKernel, Int(clamping: ramSize)), path: boot.kernel)
        }
        let ramBase = VirtPart.ram.region.base
        let ramEnd = ramBase + ramSize
        var loadOffset = defaultTextOffset
        var footprint = UInt64(kernel.count)
        if let header = ArmImageHeader(kernel) {
            guard !header.isBigEndian else { throw BootError.badImage(boot.kernel, "a big-endian kernel; emud runs little-endian guests") }
            if header.imageSize != 0 {
                // text_offset is an offset into a 2 MiB block; anything larger is not a valid header.
                guard header.textOffset < 2 << 20 else {
                    throw BootError.badImage(boot.kernel, "text_offset 0x\(String(header.textOffset, radix: 16)) is not below 2 MiB")
                }
                loadOffset = header.textOffset < bootStubSpace ? header.textOffset + (2 << 20) : header.textOffset
                footprint = max(footprint, header.imageSize)
            }
        }
        let kernelStart = ramBase + loadOffset
        guard footprint <= ramSize, loadOffset <= ramSize - footprint else {
            throw BootError.doesNotFit(what: "kernel", path: boot.kernel, bytes: footprint, ramSize: ramSize)
        }
        let kernelEnd = kernelStart + footprint
        var segments = [GuestImage.Segment(address: kernelStart, bytes: kernel, memorySize: footprint)]
        kernel = []

        var initrdStart = ramBase + min(ramSize / 2, 128 << 20)
        initrdStart = max(initrdStart, alignUp(kernelEnd, 4096) ?? kernelEnd)
        var initrdEnd = initrdStart
        var chosen = ChosenNode(bootargs: boot.append)
        if let path = boot.initrd {
            let initrd = try read(path, limit: ramSize, what: "initrd")
            let size = UInt64(initrd.count)
            guard initrdStart <= ramEnd, size <= ramEnd - initrdStart else {
                throw BootError.doesNotFit(what: "initrd", path: path, bytes: size, ramSize: ramSize)
            }
            initrdEnd = initrdStart + size
            segments.append(.init(address: initrdStart, bytes: initrd, memorySize: size))
            chosen.initrd = initrdStart..<initrdEnd
        }

        let dtb = try deviceTree(boot.dtb, cpus: cpus, ramSize: ramSize, chosen: chosen)
        // Early arm64 kernels map the DTB by the 2 MiB block that holds it: keep it alone in one (QEMU does too).
        guard let dtbStart = alignUp(initrdEnd, 2 << 20), dtbStart <= ramEnd, UInt64(dtb.count) <= ramEnd - dtbStart else {
            throw BootError.doesNotFit(what: "device tree", path: boot.dtb ?? "(emud's)", bytes: UInt64(dtb.count), ramSize: ramSize)
        }
        segments.append(.init(address: dtbStart, bytes: dtb, memorySize: UInt64(dtb.count)))
        return GuestImage(path: boot.kernel, entry: kernelStart, segments: segments, symbols: [], bootArgument: dtbStart)
    }

    /// The DTB a boot gives the guest: the user's (`--dtb`) with /memory and /chosen rewritten, or emud's own.
    static func deviceTree(_ userFile: String?, cpus: Int, ramSize: UInt64, chosen: ChosenNode) throws -> [UInt8] {
        do {
            if let path = userFile {
                let tree = try FlattenedDeviceTree(blob: try read(path, limit: UInt64(FlattenedDeviceTree.maximumSize), what: "device tree"), source: path)
                try VirtBoard.fixUp(tree, ramSize: ramSize, chosen: chosen)
                return try tree.blob()
            }
            return try VirtBoard.deviceTree(cpus: cpus, ramSize: ramSize, chosen: chosen).blob()
        } catch let error as DeviceTreeError {
            throw BootError.deviceTree(error.description)
        }
    }

    /// Firmware as QEMU's `-bios` boots it: the file in the first flash bank, entered at address 0, with the
    /// device tree (emud's, or `dtb` fixed up) at the start of RAM for it to find.
    public static func firmware(_ path: String, dtb userTree: String? = nil, cpus: Int, ramSize: UInt64) throws -> GuestImage {
        let bytes = try read(path, limit: VirtBoard.flashBankSize, what: "firmware")
        guard UInt64(bytes.count) <= VirtBoard.flashBankSize else {
            throw BootError.badImage(path, "\(bytes.count >> 20) MiB of firmware does not fit the \(VirtBoard.flashBankSize >> 20) MiB flash bank")
        }
        let dtb = try deviceTree(userTree, cpus: cpus, ramSize: ramSize, chosen: ChosenNode())
        guard UInt64(dtb.count) <= ramSize else {
            throw BootError.doesNotFit(what: "device tree", path: "(emud's)", bytes: UInt64(dtb.count), ramSize: ramSize)
        }
        let flashBase = VirtPart.flash.region.base, ramBase = VirtPart.ram.region.base
        return GuestImage(path: path, entry: flashBase,
                          segments: [.init(address: flashBase, bytes: bytes, memorySize: UInt64(bytes.count)),
                                     .init(address: ramBase, bytes: dtb, memorySize: UInt64(dtb.count))],
                          symbols: [])
    }

    /// The bytes of a gzip stream, unpacked with zlib; refuses output beyond `limit` bytes and corrupt streams.
    public static func gunzip(_ packed: [UInt8], limit: Int, path: String) throws(BootError) -> [UInt8] {
        var stream = z_stream()
        // 16 + 15: a gzip wrapper, up to a 32 KiB window.
        guard inflateInit2_(&stream, 16 + 15, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .badImage(path, "zlib could not start unpacking")
        }
        defer { _ = inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var status: Int32 = Z_OK
        packed.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = UInt32(clamping: input.count)
            while status == Z_OK {
                chunk.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress
                    stream.avail_out = UInt32(out.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    let produced = out.count - Int(stream.avail_out)
                    if output.count + produced > limit { status = Z_MEM_ERROR; return }
                    output.append(contentsOf: out.prefix(produced))
                }
                if status == Z_OK && stream.avail_in == 0 && stream.avail_out != 0 { status = Z_BUF_ERROR }
            }
        }
        switch status {
        case Z_STREAM_END: return output
        case Z_MEM_ERROR: throw .badImage(path, "unpacks to more than \(limit >> 20) MiB")
        default: throw .badImage(path, "a corrupt or truncated gzip stream (zlib status \(status))")
        }
    }
}
