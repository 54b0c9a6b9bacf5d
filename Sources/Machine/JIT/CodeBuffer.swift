import CCodeMemory

/// Host memory for translated code, never writable and executable through the same mapping: one anonymous
/// memory file mapped twice, read-write (where the translator writes) and read-execute (where code runs).
///
/// Owned by one vCPU: only its thread appends, runs or resets it. `reset` is called only between blocks (the
/// vCPU's own cache flush), so no code of this buffer is running when its memory is reused.
final class CodeBuffer {
    let capacity: Int
    private let writable: UnsafeMutableRawPointer
    let executable: UnsafeMutableRawPointer
    private(set) var used = 0

    /// nil when the host refuses the mappings (no memfd, or a policy against executable memory): the vCPU then
    /// interprets.
    init?(capacity: Int) {
        var rw: UnsafeMutableRawPointer? = nil, rx: UnsafeMutableRawPointer? = nil
        guard capacity > 0, emud_code_memory_map(capacity, &rw, &rx) == 0, let rw, let rx else { return nil }
        self.capacity = capacity
        writable = rw
        executable = rx
    }

    deinit { emud_code_memory_unmap(capacity, writable, executable) }

    /// Copies a finished block in and points each of its link slots at its fallback; returns the block's offset,
    /// or nil when the buffer is full.
    func append(_ block: BlockCompiler.Compiled) -> Int? {
        let start = (used + 15) & ~15
        guard start <= capacity, block.bytes.count <= capacity - start else { return nil }
        block.bytes.withUnsafeBytes { bytes in
            if let base = bytes.baseAddress { (writable + start).copyMemory(from: base, byteCount: bytes.count) }
        }
        for link in block.links {
            (writable + start + link.slot).storeBytes(of: UInt64(UInt(bitPattern: executable + start + link.fallback)),
                                                      as: UInt64.self)
        }
        used = start + block.bytes.count
        return start
    }

    /// Points a link slot (given by its executable address, as translated code reports it) at `target`; returns
    /// the slot's writable address and what it held, or nil if the address is not a slot of this buffer.
    func link(slot: UInt64, to target: UnsafeRawPointer) -> (UnsafeMutableRawPointer, UInt64)? {
        patch(slot: slot, value: UInt64(UInt(bitPattern: target)))
    }

    /// Stores `value` in the 8-byte data slot at an executable address in the used part of the buffer; returns
    /// the slot's writable address and what it held, or nil if the address is not an aligned slot in it.
    func patch(slot: UInt64, value: UInt64) -> (UnsafeMutableRawPointer, UInt64)? {
        let offset = slot &- UInt64(UInt(bitPattern: executable))
        guard offset < UInt64(used), offset & 7 == 0, offset &+ 8 <= UInt64(used) else { return nil }
        let writableSlot = writable + Int(offset)
        let previous = writableSlot.load(as: UInt64.self)
        writableSlot.storeBytes(of: value, as: UInt64.self)
        return (writableSlot, previous)
    }

    /// What the 8-byte slot at an executable address holds (nil outside the used part, or misaligned).
    func peek(slot: UInt64) -> UInt64? {
        let offset = slot &- UInt64(UInt(bitPattern: executable))
        guard offset < UInt64(used), offset & 7 == 0, offset &+ 8 <= UInt64(used) else { return nil }
        return (writable + Int(offset)).load(as: UInt64.self)
    }

    func reset() { used = 0 }
}
