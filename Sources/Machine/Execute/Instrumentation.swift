/// What the translator tells an instrumentation layer (the plugin host) about a block it is translating.
public struct BlockDescription {
    /// The virtual address of the first instruction.
    public let pc: UInt64
    /// Its physical address (the block never leaves its 4 KiB page, so the others follow it).
    public let physical: UInt64
    /// One instruction word per guest instruction, in order.
    public let words: [UInt32]
}

/// One observation baked into a translated block. Plain data: the interpreter acts on it without calling
/// through any Swift protocol or closure.
public struct InstrumentationHook {
    public enum Kind: UInt8 {
        /// Call `callback` as `ExecCallback` before the instruction (or block) runs.
        case execute
        /// `*(target + vcpu * stride) += value`, inline, without calling anyone.
        case inlineAdd
        /// `*(target + vcpu * stride) = value`, inline.
        case inlineStore
        /// Call `callback` as `MemoryCallback` after the instruction for each access matching `memoryFilter`.
        case memory
    }
    /// Instruction index within the block; hooks for the block itself use index 0 and come first.
    public var instruction: Int32
    public var kind: Kind
    /// For `.memory`: 1 reads, 2 writes, 3 both.
    public var memoryFilter: UInt8
    public var callback: UnsafeRawPointer?
    public var userdata: UnsafeMutableRawPointer?
    public var target: UnsafeMutableRawPointer?
    public var stride: Int
    public var value: UInt64

    public init(instruction: Int32, kind: Kind, memoryFilter: UInt8 = 3, callback: UnsafeRawPointer? = nil,
                userdata: UnsafeMutableRawPointer? = nil, target: UnsafeMutableRawPointer? = nil, stride: Int = 0, value: UInt64 = 0) {
        self.instruction = instruction
        self.kind = kind
        self.memoryFilter = memoryFilter
        self.callback = callback
        self.userdata = userdata
        self.target = target
        self.stride = stride
        self.value = value
    }
}

/// C calling conventions of the callbacks hooks carry (they match `emud-plugin.h`).
public typealias ExecCallback = @convention(c) (UInt32, UnsafeMutableRawPointer?) -> Void
/// The access pointer points at a `MemoryAccess` (`struct emud_mem_access`).
public typealias MemoryCallback = @convention(c) (UInt32, UnsafeRawPointer?, UnsafeMutableRawPointer?) -> Void

/// One data access, laid out as `struct emud_mem_access` in the plugin header.
public struct MemoryAccess {
    public var virtualAddress: UInt64
    public var physicalAddress: UInt64
    public var value: UInt64
    public var size: UInt32
    public var isStore: UInt32
    /// NUL-terminated device name for MMIO accesses; nil for RAM.
    public var device: UnsafePointer<CChar>?
}

public enum ExceptionKind: UInt32 { case synchronous = 0, irq = 1, fiq = 2, serror = 3 }
public enum VCPUEvent { case initialized, exited, idle, resumed }

/// Implemented by the plugin host. Called on vCPU threads (each call on the thread of `cpu`).
public protocol Instrumentation: AnyObject {
    /// The hooks to bake into a block being translated. Runs at translation time, never per execution.
    func instrument(_ block: BlockDescription, cpu: Int) -> [InstrumentationHook]
    /// Whether a block whose hooks are all inline adds may apply them once, when it ends: true unless some
    /// plugin code can run in the middle of a block (exception, idle or resume callbacks) and could read them.
    /// Asked at translation time, after `instrument`.
    var inlineAddsMayBeDeferred: Bool { get }
    func exceptionTaken(cpu: Int, kind: ExceptionKind, from: UInt64, to: UInt64, syndrome: UInt32)
    func translationsFlushed(cpu: Int)
    func vcpuEvent(cpu: Int, _ event: VCPUEvent)
}

/// Compile-time switch for the interpreter loop (`TranslationBlock.mode`): blocks without hooks run a
/// specialisation in which every instrumentation check is constant-folded away, so a machine without plugins
/// pays nothing; blocks with only inline adds run that same loop plus one folded add per scoreboard element at
/// the block's end; blocks with callbacks check for hooks before each instruction, and only blocks with memory
/// callbacks record accesses.
protocol HookMode { static var mode: UInt8 { get } }
extension HookMode {
    @inline(__always) static var enabled: Bool { mode >= 2 }
    @inline(__always) static var folded: Bool { mode == 1 }
    @inline(__always) static var memory: Bool { mode == 3 }
}
enum WithoutHooks: HookMode { static var mode: UInt8 { 0 } }
enum FoldedInline: HookMode { static var mode: UInt8 { 1 } }
enum WithHooks: HookMode { static var mode: UInt8 { 2 } }
enum WithMemoryHooks: HookMode { static var mode: UInt8 { 3 } }

/// A gdb watchpoint on guest memory.
public struct Watchpoint: Equatable, Sendable {
    public var address: UInt64
    public var length: UInt64
    public var kind: WatchKind
    public init(address: UInt64, length: UInt64, kind: WatchKind) {
        self.address = address
        self.length = length
        self.kind = kind
    }
}
