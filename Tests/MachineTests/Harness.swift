import Testing
@testable import Machine

/// A bare vCPU with 1 MiB of RAM at 0x4000_0000 that executes instruction words one at a time.
/// Scratch data lives at `TestCPU.scratch`.
final class TestCPU {
    static let codeBase: UInt64 = 0x4000_0000
    static let scratch: UInt64 = 0x4008_0000
    // 1 MiB always maps on a test host; a failure here is the test machine's, not emud's.
    let memory = try! GuestMemory(ramBase: 0x4000_0000, ramSize: 1 << 20)
    let cpu: VCPU
    var state: CPUState { cpu.state }

    init() {
        cpu = VCPU(index: 0, memory: memory)
        cpu.state.reset(entry: Self.codeBase)
        cpu.state.sys.cpacr = 3 << 20
    }

    subscript(x i: Int) -> UInt64 {
        get { cpu.state.x[i] }
        set { cpu.state.x[i] = newValue }
    }

    var nzcv: UInt32 {
        get { cpu.state.nzcv }
        set { cpu.state.nzcv = newValue }
    }

    /// Places `words` at the current PC and executes that many instructions (fewer if one traps).
    @discardableResult
    func run(_ words: [UInt32]) -> VCPUStop {
        let pc = cpu.state.pc
        var bytes: [UInt8] = []
        for w in words { bytes += withUnsafeBytes(of: w.littleEndian, Array.init) }
        _ = memory.writeBytes(pc, bytes)
        cpu.singleStep = true
        var last = VCPUStop.stepped
        for _ in words {
            last = cpu.run()
            if last != .stepped { break }
        }
        return last
    }

    func poke64(_ address: UInt64, _ value: UInt64) {
        _ = memory.writeBytes(address, withUnsafeBytes(of: value.littleEndian, Array.init))
    }

    func peek64(_ address: UInt64) -> UInt64 { memory.read64(address) ?? 0xdead_dead_dead_dead }

    func peek32(_ address: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: peek64(address)) }
}

let N: UInt32 = 0x8000_0000, Z: UInt32 = 0x4000_0000, C: UInt32 = 0x2000_0000, V: UInt32 = 0x1000_0000
