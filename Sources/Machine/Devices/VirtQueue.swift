import Atomics
import Foundation

/// How a driver broke a virtqueue or a request: the device reports it by setting DEVICE_NEEDS_RESET and ignores
/// the queue until the driver resets it (virtio 1.x, 2.1.2). Never a host access, never a crash.
public enum VirtqueueError: Error, Equatable, CustomStringConvertible {
    /// A ring (descriptor table, driver or device area) entry lies outside guest RAM.
    case ringOutsideRAM(UInt64)
    /// The driver's avail index ran more than a queue's worth ahead of what the device has taken.
    case availIndexJump(avail: UInt16, taken: UInt16, size: Int)
    case headOutOfRange(UInt16, size: Int)
    case nextOutOfRange(UInt16, size: Int)
    /// More descriptors in one chain than the queue has: the chain loops.
    case chainTooLong(size: Int)
    case bufferOutsideRAM(address: UInt64, length: UInt32)
    case zeroLengthBuffer(UInt64)
    case readableAfterWritable
    /// VIRTQ_DESC_F_INDIRECT in a queue whose device does not offer VIRTIO_F_INDIRECT_DESC.
    case indirectNotOffered
    /// A request the device cannot even parse (no room for its header or its status).
    case malformedRequest(String)

    public var description: String {
        func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
        switch self {
        case .ringOutsideRAM(let a): return "a virtqueue ring entry at \(hex(a)) is outside guest RAM"
        case .availIndexJump(let avail, let taken, let size):
            return "the driver's avail index \(avail) is more than the queue size (\(size)) ahead of \(taken)"
        case .headOutOfRange(let i, let size): return "chain head \(i) is outside a queue of \(size) descriptors"
        case .nextOutOfRange(let i, let size): return "descriptor next \(i) is outside a queue of \(size) descriptors"
        case .chainTooLong(let size): return "a descriptor chain is longer than the queue (\(size)): it loops"
        case .bufferOutsideRAM(let a, let l): return "a buffer of \(l) bytes at \(hex(a)) is not in guest RAM"
        case .zeroLengthBuffer(let a): return "a zero-length buffer at \(hex(a))"
        case .readableAfterWritable: return "a device-readable descriptor follows a device-writable one"
        case .indirectNotOffered: return "an indirect descriptor, but VIRTIO_F_INDIRECT_DESC was not offered"
        case .malformedRequest(let why): return "malformed request: \(why)"
        }
    }
}

/// One buffer of a descriptor chain, already checked to lie inside guest RAM.
public struct GuestBuffer {
    public let address: UInt64
    public let length: UInt32
    public let pointer: UnsafeMutableRawPointer
}

/// A descriptor chain taken from the avail ring: device-readable buffers, then device-writable ones.
/// At most a queue's worth (1024) of buffers, each inside RAM (the RAM mapping lives as long as the machine).
public struct DescriptorChain {
    public let head: UInt16
    public var readable: [GuestBuffer] = []
    public var writable: [GuestBuffer] = []

    public var readableLength: UInt64 { readable.reduce(0) { $0 &+ UInt64($1.length) } }
    public var writableLength: UInt64 { writable.reduce(0) { $0 &+ UInt64($1.length) } }

    /// Calls `body` with consecutive host pieces of the bytes [offset, offset + count) of `buffers` taken as
    /// one byte stream; stops early when `body` returns false. Returns the bytes visited.
    @discardableResult
    static func visit(_ buffers: [GuestBuffer], from offset: UInt64, count: UInt64,
                      _ body: (UnsafeMutableRawPointer, Int, GuestBuffer) -> Bool) -> UInt64 {
        var skip = offset
        var left = count
        var done: UInt64 = 0
        for buffer in buffers where left > 0 {
            let length = UInt64(buffer.length)
            if skip >= length { skip -= length; continue }
            let piece = min(length - skip, left)
            guard body(buffer.pointer + Int(skip), Int(piece), buffer) else { return done }
            done += piece
            left -= piece
            skip = 0
        }
        return done
    }

    /// Copies up to `count` device-readable bytes from `offset` into a new array (the caller bounds `count`).
    public func gather(from offset: UInt64, count: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        Self.visit(readable, from: offset, count: UInt64(max(count, 0))) { p, n, _ in
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: p, count: n))
            return true
        }
        return bytes
    }

    /// Writes into the device-writable bytes from `offset`, piece by piece: `body` fills a host piece and returns
    /// false to stop. Translated code and exclusive reservations covering what was written are invalidated.
    @discardableResult
    public func fillWritable(from offset: UInt64, count: UInt64, memory: GuestMemory,
                             _ body: (UnsafeMutableRawPointer, Int) -> Bool) -> UInt64 {
        Self.visit(writable, from: offset, count: count) { p, n, buffer in
            let ok = body(p, n)
            let address = buffer.address &+ UInt64(buffer.pointer.distance(to: p))
            memory.noteExternalWrite(address, UInt64(n))
            return ok
        }
    }
}

/// A split virtqueue (virtio 1.x, 2.7) as the device sees it: its size and ring addresses as the driver set them
/// through the transport, and the device's own indices. Every ring access is bounds-checked against RAM; the
/// used index is the device's own copy, never read back from guest memory.
///
/// Not thread-safe: the transport that owns it serialises all use under its lock.
public struct VirtQueue {
    public static let maxSize = 1024
    static let descriptorNext: UInt16 = 1
    static let descriptorWrite: UInt16 = 2
    static let descriptorIndirect: UInt16 = 4
    static let availNoInterrupt: UInt16 = 1

    /// QueueNum: the queue size the driver chose (1...maxSize).
    public var size: Int = VirtQueue.maxSize
    public var ready = false
    public var descriptorTable: UInt64 = 0
    /// The driver area (avail ring).
    public var driverArea: UInt64 = 0
    /// The device area (used ring).
    public var deviceArea: UInt64 = 0
    var lastAvail: UInt16 = 0
    var usedIndex: UInt16 = 0

    public init() {}

    private func load16(_ memory: GuestMemory, _ address: UInt64) throws(VirtqueueError) -> UInt16 {
        guard let p = memory.ramPointer(address, 2) else { throw .ringOutsideRAM(address) }
        return UInt16(littleEndian: p.loadUnaligned(as: UInt16.self))
    }

    /// Takes the next available chain, or nil when the driver has made none available.
    public mutating func pop(_ memory: GuestMemory) throws(VirtqueueError) -> DescriptorChain? {
        let avail = try load16(memory, driverArea &+ 2)
        atomicMemoryFence(ordering: .acquiring)
        guard avail != lastAvail else { return nil }
        guard Int(avail &- lastAvail) <= size else { throw .availIndexJump(avail: avail, taken: lastAvail, size: size) }
        let slot = UInt64(Int(lastAvail) % size)
        let head = try load16(memory, driverArea &+ 4 &+ 2 &* slot)
        let chain = try walk(memory, head: head)
        lastAvail &+= 1
        return chain
    }

    private func walk(_ memory: GuestMemory, head: UInt16) throws(VirtqueueError) -> DescriptorChain {
        guard Int(head) < size else { throw .headOutOfRange(head, size: size) }
        var chain = DescriptorChain(head: head)
        var index = head
        for _ in 0..<size {
            let entry = descriptorTable &+ 16 &* UInt64(index)
            guard let d = memory.ramPointer(entry, 16) else { throw .ringOutsideRAM(entry) }
            let address = UInt64(littleEndian: d.loadUnaligned(as: UInt64.self))
            let length = UInt32(littleEndian: d.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
            let flags = UInt16(littleEndian: d.loadUnaligned(fromByteOffset: 12, as: UInt16.self))
            let next = UInt16(littleEndian: d.loadUnaligned(fromByteOffset: 14, as: UInt16.self))
            guard flags & Self.descriptorIndirect == 0 else { throw .indirectNotOffered }
            guard length > 0 else { throw .zeroLengthBuffer(address) }
            guard let p = memory.ramPointer(address, UInt64(length)) else {
                throw .bufferOutsideRAM(address: address, length: length)
            }
            let buffer = GuestBuffer(address: address, length: length, pointer: p)
            if flags & Self.descriptorWrite != 0 {
                chain.writable.append(buffer)
            } else {
                guard chain.writable.isEmpty else { throw .readableAfterWritable }
                chain.readable.append(buffer)
            }
            guard flags & Self.descriptorNext != 0 else { return chain }
            guard Int(next) < size else { throw .nextOutOfRange(next, size: size) }
            index = next
        }
        throw .chainTooLong(size: size)
    }

    /// Returns a chain to the driver through the used ring with the number of bytes written into it.
    public mutating func push(_ memory: GuestMemory, head: UInt16, written: UInt32) throws(VirtqueueError) {
        let slot = UInt64(Int(usedIndex) % size)
        let element = deviceArea &+ 4 &+ 8 &* slot
        guard let e = memory.ramPointer(element, 8) else { throw .ringOutsideRAM(element) }
        let index = deviceArea &+ 2
        guard let i = memory.ramPointer(index, 2) else { throw .ringOutsideRAM(index) }
        e.storeBytes(of: UInt32(head).littleEndian, as: UInt32.self)
        e.storeBytes(of: written.littleEndian, toByteOffset: 4, as: UInt32.self)
        // The element must be visible before the index that publishes it.
        atomicMemoryFence(ordering: .releasing)
        usedIndex &+= 1
        i.storeBytes(of: usedIndex.littleEndian, as: UInt16.self)
        memory.noteExternalWrite(element, 8)
        memory.noteExternalWrite(index, 2)
    }

    /// Whether the driver asked not to be interrupted (VIRTQ_AVAIL_F_NO_INTERRUPT; a hint without EVENT_IDX).
    public func interruptSuppressed(_ memory: GuestMemory) -> Bool {
        guard let flags = try? load16(memory, driverArea) else { return false }
        return flags & Self.availNoInterrupt != 0
    }
}
