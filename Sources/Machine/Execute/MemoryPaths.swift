// The interpreter's names for the memory port's entry points (Memory/MemoryPort.swift), so that the
// instruction files read as the architecture does: `load`, `store`, `atomicPointer`. Everything here inlines.

extension VCPU {
    @inline(__always) func load(_ address: UInt64, _ size: UInt8, _ record: Bool) -> UInt64? {
        port.load(address, size, record)
    }

    @inline(__always) func store(_ address: UInt64, _ size: UInt8, _ value: UInt64, _ record: Bool) -> Bool {
        port.store(address, size, value, record)
    }

    /// The interpreter's plain loads (LDR, LDP): the memory port's TLB hit inlined as well as its flat path.
    @inline(__always) func loadInline(_ address: UInt64, _ size: UInt8, _ record: Bool) -> UInt64? {
        port.loadInline(address, size, record)
    }

    @inline(__always) func checkAlignment(_ address: UInt64, _ bytes: UInt64, write: Bool, always: Bool = true) -> Bool {
        port.checkAlignment(address, bytes, write: write, always: always)
    }

    @inline(__always) func recordFault(_ address: UInt64, _ status: FaultStatus, write: Bool) {
        port.recordFault(address, status, write: write)
    }

    var recordingAccesses: Bool { port.recordingAccesses }

    // MARK: for the SIMD load/store paths

    func vectorLoad(_ address: UInt64, _ size: UInt8) -> UInt64? { port.load(address, size, port.recordingAccesses) }
    func vectorStore(_ address: UInt64, _ size: UInt8, _ value: UInt64) -> Bool {
        port.store(address, size, value, port.recordingAccesses)
    }
    func takeCodeWriteHit() -> Bool { port.takeCodeWriteHit() }
}
