import CLibFDT

/// A device tree that cannot be built or read, and why.
public struct DeviceTreeError: Error, CustomStringConvertible, Equatable {
    public let description: String
}

/// A flattened device tree (DTB) being built or edited, through libfdt's read-write API: nodes are named by their
/// full path ("/chosen", "/pl011@9000000"), and the blob grows as properties are added. Not thread-safe: one
/// owner builds it, then takes `blob()`.
public final class FlattenedDeviceTree {
    private var buffer: [UInt8]
    /// No tree (user file or ours) may grow past this; a DTB is kilobytes.
    public static let maximumSize = 2 << 20

    /// An empty tree: a root node and nothing else.
    public init() throws(DeviceTreeError) {
        buffer = [UInt8](repeating: 0, count: 16 << 10)
        let size = Int32(buffer.count)
        let result = buffer.withUnsafeMutableBytes { fdt_create_empty_tree($0.baseAddress, size) }
        guard result == 0 else { throw Self.error("creating an empty device tree", result) }
    }

    /// A tree read from a DTB (a user's `--dtb` file): its header must be valid and its size within the bytes
    /// given. `source` names it in messages.
    public init(blob: [UInt8], source: String) throws(DeviceTreeError) {
        guard blob.count >= 40, blob.count <= Self.maximumSize else {
            throw DeviceTreeError(description: "\(source) is not a device tree blob (\(blob.count) bytes; a DTB has a 40-byte header and emud takes at most \(Self.maximumSize >> 20) MiB)")
        }
        let checked = blob.withUnsafeBytes { fdt_check_header($0.baseAddress) }
        guard checked == 0 else { throw Self.error("\(source) is not a valid device tree blob", checked) }
        let total = Self.totalSize(blob)
        guard total <= blob.count else {
            throw DeviceTreeError(description: "\(source): its header says \(total) bytes but the file has \(blob.count)")
        }
        buffer = [UInt8](repeating: 0, count: min(Self.maximumSize, total + (16 << 10)))
        let capacity = Int32(buffer.count)
        let opened = blob.withUnsafeBytes { source in
            buffer.withUnsafeMutableBytes { fdt_open_into(source.baseAddress, $0.baseAddress, capacity) }
        }
        guard opened == 0 else { throw Self.error("\(source) cannot be opened for editing", opened) }
    }

    /// The header's totalsize field (big-endian, bytes 4...7).
    private static func totalSize(_ bytes: [UInt8]) -> Int {
        guard bytes.count >= 8 else { return 0 }
        return bytes[4..<8].reduce(0) { $0 << 8 | Int($1) }
    }

    private static func error(_ what: String, _ code: Int32) -> DeviceTreeError {
        DeviceTreeError(description: "\(what): \(String(cString: fdt_strerror(code)))")
    }

    /// Runs a libfdt edit on the tree; when it runs out of room, grows the buffer (up to `maximumSize`) and
    /// tries again.
    private func edit(_ what: @autoclosure () -> String, _ body: (UnsafeMutableRawPointer) -> Int32) throws(DeviceTreeError) -> Int32 {
        while true {
            let result = buffer.withUnsafeMutableBytes { body($0.baseAddress!) }
            guard result == -FDT_ERR_NOSPACE else {
                if result < 0 { throw Self.error(what(), result) }
                return result
            }
            let grown = buffer.count * 2
            guard grown <= Self.maximumSize else {
                throw DeviceTreeError(description: "\(what()): the device tree would exceed \(Self.maximumSize >> 20) MiB")
            }
            var bigger = [UInt8](repeating: 0, count: grown)
            let capacity = Int32(grown)
            let opened = buffer.withUnsafeBytes { old in
                bigger.withUnsafeMutableBytes { fdt_open_into(old.baseAddress, $0.baseAddress, capacity) }
            }
            guard opened == 0 else { throw Self.error(what(), opened) }
            buffer = bigger
        }
    }

    /// The offset of the node at `path`, or nil if there is none.
    private func offset(_ path: String) -> Int32? {
        let result = buffer.withUnsafeBytes { fdt_path_offset($0.baseAddress, path) }
        return result >= 0 ? result : nil
    }

    public func hasNode(_ path: String) -> Bool { offset(path) != nil }

    /// Property `name` of the node at `path` as big-endian 32-bit cells (trailing bytes ignored), or nil.
    public func cells(_ path: String, _ name: String) -> [UInt32]? {
        guard let node = offset(path) else { return nil }
        return buffer.withUnsafeBytes { raw -> [UInt32]? in
            var length: Int32 = 0
            guard let value = fdt_getprop(raw.baseAddress, node, name, &length), length >= 0 else { return nil }
            let bytes = UnsafeRawBufferPointer(start: value, count: Int(length))
            return stride(from: 0, to: bytes.count - 3, by: 4).map { i in
                (0..<4).reduce(UInt32(0)) { $0 << 8 | UInt32(bytes[i + $1]) }
            }
        }
    }

    /// Adds the node at `path` (its parent must exist); an existing node is left as it is.
    public func addNode(_ path: String) throws(DeviceTreeError) {
        guard offset(path) == nil else { return }
        let slash = path.lastIndex(of: "/") ?? path.startIndex
        let parentPath = slash == path.startIndex ? "/" : String(path[..<slash])
        let name = String(path[path.index(after: slash)...])
        guard let parent = offset(parentPath), !name.isEmpty else {
            throw DeviceTreeError(description: "device tree: no parent node for \(path)")
        }
        _ = try edit("adding node \(path)") { fdt_add_subnode($0, parent, name) }
    }

    /// Removes the node at `path` and everything under it, if it is there.
    public func deleteNode(_ path: String) throws(DeviceTreeError) {
        guard let node = offset(path) else { return }
        _ = try edit("deleting node \(path)") { fdt_del_node($0, node) }
    }

    /// Sets property `name` of the node at `path` (made if missing) to raw bytes.
    public func set(_ path: String, _ name: String, bytes: [UInt8]) throws(DeviceTreeError) {
        guard bytes.count <= Self.maximumSize else {
            throw DeviceTreeError(description: "\(path):\(name) would hold \(bytes.count) bytes; a device tree takes at most \(Self.maximumSize >> 20) MiB")
        }
        try addNode(path)
        let count = Int32(bytes.count)
        _ = try edit("setting \(path):\(name)") { fdt in
            let node = fdt_path_offset(fdt, path)
            guard node >= 0 else { return node }
            return bytes.withUnsafeBytes { fdt_setprop(fdt, node, name, $0.baseAddress, count) }
        }
    }

    /// Big-endian 32-bit cells.
    public func set(_ path: String, _ name: String, cells: [UInt32]) throws(DeviceTreeError) {
        try set(path, name, bytes: cells.flatMap { c in (0..<4).map { UInt8(truncatingIfNeeded: c >> (24 - 8 * $0)) } })
    }

    /// 64-bit values, each as two big-endian cells.
    public func set(_ path: String, _ name: String, u64: [UInt64]) throws(DeviceTreeError) {
        try set(path, name, cells: u64.flatMap { [UInt32(truncatingIfNeeded: $0 >> 32), UInt32(truncatingIfNeeded: $0)] })
    }

    /// A string list (one NUL-terminated string each).
    public func set(_ path: String, _ name: String, strings: [String]) throws(DeviceTreeError) {
        try set(path, name, bytes: strings.flatMap { Array($0.utf8) + [0] })
    }

    public func set(_ path: String, _ name: String, string: String) throws(DeviceTreeError) {
        try set(path, name, strings: [string])
    }

    /// A property with no value (`interrupt-controller;`).
    public func set(_ path: String, _ name: String) throws(DeviceTreeError) {
        try set(path, name, bytes: [])
    }

    /// The tree as a DTB, packed (no free space).
    public func blob() throws(DeviceTreeError) -> [UInt8] {
        var copy = buffer
        let packed = copy.withUnsafeMutableBytes { fdt_pack($0.baseAddress) }
        guard packed == 0 else { throw Self.error("packing the device tree", packed) }
        return Array(copy.prefix(Self.totalSize(copy)))
    }
}
