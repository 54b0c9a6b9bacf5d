import Foundation

/// A guest image ready to be placed in memory: segments, entry point and symbols.
public struct GuestImage: Sendable {
    public struct Segment: Sendable {
        public let address: UInt64
        public let bytes: [UInt8]
        public let memorySize: UInt64
    }
    public struct Symbol: Sendable {
        public let name: String
        public let address: UInt64
        public let size: UInt64
        public let isFunction: Bool
    }
    public let path: String
    public let entry: UInt64
    public let segments: [Segment]
    public let symbols: [Symbol]
    /// X0 at entry: the DTB's address for a Linux boot protocol, else 0.
    public let bootArgument: UInt64
    /// The function symbols, sorted by address, for ``symbol(at:)``.
    private let functions: [Symbol]

    public init(path: String, entry: UInt64, segments: [Segment], symbols: [Symbol], bootArgument: UInt64 = 0) {
        self.path = path
        self.bootArgument = bootArgument
        self.entry = entry
        self.segments = segments
        self.symbols = symbols
        functions = symbols.filter { $0.isFunction }.sorted { $0.address < $1.address }
    }

    /// Highest address any segment occupies (exclusive).
    public var end: UInt64 { segments.map { $0.address &+ $0.memorySize }.max() ?? entry }

    /// The function symbol covering `address`, if any (the last one starting at or below it; a symbol of size 0
    /// covers its first byte). Binary search: plugins ask once per translated instruction.
    public func symbol(at address: UInt64) -> Symbol? {
        var lo = 0, hi = functions.count
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if functions[mid].address <= address { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return nil }
        let s = functions[lo - 1]
        return address < s.address &+ max(s.size, 1) ? s : nil
    }
}

public enum ImageError: Error, CustomStringConvertible, Equatable {
    case unreadable(String, String)
    case notELF(String)
    case unsupported(String, String)
    case malformed(String, String)
    case outsideRAM(String, UInt64, UInt64)

    public var description: String {
        switch self {
        case .unreadable(let p, let why): return "cannot read image \(p): \(why)"
        case .notELF(let p): return "\(p) is not an ELF file; pass a flat binary with --load-address ADDR"
        case .unsupported(let p, let why): return "\(p): unsupported ELF (\(why)); emud runs little-endian ELF64 images for AArch64"
        case .malformed(let p, let why): return "\(p): malformed ELF (\(why))"
        case .outsideRAM(let p, let a, let n):
            return String(format: "%@: segment at 0x%llx (%llu bytes) lies outside guest RAM; check the link address or --memory", p, a, n)
        }
    }
}

public enum ELFLoader {
    public static func load(path: String) throws -> GuestImage {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ImageError.unreadable(path, FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file")
        }
        return try parse([UInt8](data), path: path)
    }

    /// A flat binary placed at `address`, entered at its first byte.
    public static func flat(path: String, address: UInt64) throws -> GuestImage {
        guard let data = FileManager.default.contents(atPath: path) else { throw ImageError.unreadable(path, "no such file") }
        return GuestImage(path: path, entry: address, segments: [.init(address: address, bytes: [UInt8](data), memorySize: UInt64(data.count))], symbols: [])
    }

    public static func parse(_ b: [UInt8], path: String) throws -> GuestImage {
        func u16(_ o: Int) throws -> UInt64 {
            guard o >= 0, o + 2 <= b.count else { throw ImageError.malformed(path, "truncated at \(o)") }
            return UInt64(b[o]) | UInt64(b[o + 1]) << 8
        }
        func u32(_ o: Int) throws -> UInt64 { try u16(o) | (try u16(o + 2)) << 16 }
        func u64(_ o: Int) throws -> UInt64 { try u32(o) | (try u32(o + 4)) << 32 }
        func int(_ v: UInt64) throws -> Int {
            guard v < UInt64(Int32.max) else { throw ImageError.malformed(path, "offset 0x\(String(v, radix: 16)) out of range") }
            return Int(v)
        }

        guard b.count >= 64, b[0] == 0x7f, b[1] == 0x45, b[2] == 0x4c, b[3] == 0x46 else { throw ImageError.notELF(path) }
        guard b[4] == 2 else { throw ImageError.unsupported(path, "not 64-bit") }
        guard b[5] == 1 else { throw ImageError.unsupported(path, "not little-endian") }
        guard try u16(18) == 183 else { throw ImageError.unsupported(path, "machine \(try u16(18)) is not AArch64") }
        let type = try u16(16)
        guard type == 2 || type == 3 else { throw ImageError.unsupported(path, "not an executable") }
        let entry = try u64(24)
        let phoff = try int(try u64(32))
        let shoff = try int(try u64(40))
        let phentsize = try int(try u16(54)), phnum = try int(try u16(56))
        let shentsize = try int(try u16(58)), shnum = try int(try u16(60))

        // A header table whose entries overlap (entry size below the ELF64 header size), or segments that copy
        // the same file bytes over and over, would let a small file take the daemon's memory: both are refused.
        guard phnum == 0 || phentsize >= 56 else { throw ImageError.malformed(path, "program header entry size \(phentsize) is below 56") }
        var segments: [GuestImage.Segment] = []
        var segmentBytes = 0
        for i in 0..<phnum {
            let o = phoff + i * phentsize
            guard try u32(o) == 1 else { continue } // PT_LOAD
            let offset = try int(try u64(o + 8))
            let paddr = try u64(o + 24)
            let filesz = try int(try u64(o + 32))
            let memsz = try u64(o + 40)
            guard offset + filesz <= b.count else { throw ImageError.malformed(path, "segment \(i) extends past the end of the file") }
            guard UInt64(filesz) <= memsz else { throw ImageError.malformed(path, "segment \(i) has filesz > memsz") }
            guard memsz < 1 << 36 else { throw ImageError.malformed(path, "segment \(i) is implausibly large") }
            segmentBytes += filesz
            guard segmentBytes <= 2 * b.count else { throw ImageError.malformed(path, "segments copy the file's bytes more than twice over") }
            segments.append(.init(address: paddr, bytes: Array(b[offset..<offset + filesz]), memorySize: memsz))
        }
        guard !segments.isEmpty else { throw ImageError.malformed(path, "no loadable segments") }

        var symbols: [GuestImage.Symbol] = []
        // A file of n bytes holds at most n / 24 distinct symbol entries; symbol tables that overlap cannot make more.
        let symbolLimit = b.count / 24
        if shoff > 0 && shentsize >= 64 {
            for i in 0..<shnum where symbols.count < symbolLimit {
                let o = shoff + i * shentsize
                guard o + 64 <= b.count, try u32(o + 4) == 2 else { continue } // SHT_SYMTAB
                let symOff = try int(try u64(o + 24)), symSize = try int(try u64(o + 32))
                let link = try int(try u32(o + 40))
                let entsize = max(try int(try u64(o + 56)), 24)
                let so = shoff + link * shentsize
                guard link < shnum, so + 64 <= b.count else { continue }
                let strOff = try int(try u64(so + 24)), strSize = try int(try u64(so + 32))
                guard strOff + strSize <= b.count, symOff + symSize <= b.count else { continue }
                var k = symOff
                while k + 24 <= symOff + symSize && symbols.count < symbolLimit {
                    let nameIndex = try int(try u32(k))
                    let info = b[k + 4]
                    let value = try u64(k + 8), size = try u64(k + 16)
                    k += entsize
                    let kind = info & 0xf
                    guard kind == 1 || kind == 2, nameIndex > 0, nameIndex < strSize else { continue }
                    var end = strOff + nameIndex
                    while end < strOff + strSize && b[end] != 0 { end += 1 }
                    let name = String(decoding: b[(strOff + nameIndex)..<end], as: UTF8.self)
                    symbols.append(.init(name: name, address: value, size: size, isFunction: kind == 2))
                }
            }
        }
        return GuestImage(path: path, entry: entry, segments: segments, symbols: symbols)
    }
}
