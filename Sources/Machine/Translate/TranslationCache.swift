/// A translated block: a run of `count` consecutive guest instructions starting at `pc`, decoded into
/// `count` operations at `start` in the cache's operation pool (one operation per instruction, so the
/// instruction at operation i is at `pc + 4 * (i - start)`).
public struct TranslationBlock {
    public var key: UInt64
    public var pc: UInt64
    public var start: Int32
    public var count: Int32
    /// Block starts at a gdb breakpoint: the run loop stops before executing it.
    public var breakpoint: Bool
    public var valid: Bool
    /// The physical address of `pc` when the block was translated. With the MMU on, blocks are keyed by virtual
    /// address and checked against it after every TLB flush (see `VCPU.stillMapped`).
    public var physical: UInt64 = 0
    /// The memory port's TLB epoch in which the block was last found to be still mapped.
    var epoch: UInt32 = 0
    /// Instrumentation baked into this block: `hookCount` hooks from `hookStart` in the cache's hook list.
    var hookStart: Int32 = 0
    var hookCount: Int32 = 0
    /// How the interpreter runs this block (`HookMode.mode`): 0 no hooks; 1 inline adds only, folded into
    /// `foldCount` sums (one per scoreboard element) from `foldStart` applied when the block ends; 2 hooks
    /// without memory callbacks; 3 hooks with memory callbacks.
    var mode: UInt8 = 0
    var foldStart: Int32 = 0
    var foldCount: Int32 = 0
    /// Direct successors seen last time (key, block index), checked before the jump cache.
    var chainKey0: UInt64 = ~0
    var chainIndex0: Int32 = -1
    var chainKey1: UInt64 = ~0
    var chainIndex1: Int32 = -1
    /// The translator's entry for this block in the vCPU's code buffer: -1 not compiled yet, -2 interpreted.
    var native: Int32 = -1
}

/// Statistics a machine reports (`info tb`, query-machines).
public struct TranslationStatistics: Sendable {
    public var blocksTranslated: UInt64 = 0
    public var instructionsTranslated: UInt64 = 0
    public var flushes: UInt64 = 0
    public var invalidations: UInt64 = 0
    public var liveBlocks: Int = 0
}

/// One vCPU's translation-block cache.
///
/// Owned by its vCPU thread: only that thread translates, looks up, invalidates or flushes it. Other threads
/// ask for invalidation through the vCPU (`VCPU.requestInvalidate` / `requestFlush`), which the vCPU serves
/// at its next block boundary; `Machine.tbFlush()` does it for all vCPUs inside an exclusive section.
public final class TranslationCache {
    public static let maxBlockInstructions = 256
    static let jumpCacheSize = 1 << 12
    let poolCapacity: Int
    var ops: UnsafeMutablePointer<Op>
    var opsUsed = 0
    var blocks: UnsafeMutablePointer<TranslationBlock>
    let blockCapacity: Int
    var blockCount = 0
    var map: [UInt64: Int32] = [:]
    /// Direct-mapped: (key, block index).
    var jumpKeys: UnsafeMutablePointer<UInt64>
    var jumpIndex: UnsafeMutablePointer<Int32>
    var pageBlocks: [UInt64: [Int32]] = [:]
    /// Hooks of instrumented blocks, in block order, each block's sorted by instruction.
    private(set) var hooks: UnsafeMutablePointer<InstrumentationHook> = .allocate(capacity: 256)
    private var hookCapacity = 256
    private(set) var hookCount = 0
    public var stats = TranslationStatistics()

    init(poolCapacity: Int = 1 << 20, blockCapacity: Int = 1 << 16) {
        self.poolCapacity = poolCapacity
        self.blockCapacity = blockCapacity
        ops = .allocate(capacity: poolCapacity)
        blocks = .allocate(capacity: blockCapacity)
        jumpKeys = .allocate(capacity: Self.jumpCacheSize)
        jumpKeys.initialize(repeating: ~0, count: Self.jumpCacheSize)
        jumpIndex = .allocate(capacity: Self.jumpCacheSize)
        jumpIndex.initialize(repeating: -1, count: Self.jumpCacheSize)
    }

    deinit {
        ops.deinitialize(count: opsUsed)
        ops.deallocate()
        blocks.deinitialize(count: blockCount)
        blocks.deallocate()
        jumpKeys.deallocate()
        jumpIndex.deallocate()
        hooks.deinitialize(count: hookCount)
        hooks.deallocate()
    }

    @inline(__always) static func jumpSlot(_ key: UInt64) -> Int { Int((key >> 2) & UInt64(jumpCacheSize - 1)) }

    @inline(__always) func lookup(_ key: UInt64) -> Int32 {
        let slot = Self.jumpSlot(key)
        if jumpKeys[slot] == key { return jumpIndex[slot] }
        if let index = map[key] {
            jumpKeys[slot] = key
            jumpIndex[slot] = index
            return index
        }
        return -1
    }

    /// Whether there is room for one more block of the largest size.
    var hasRoom: Bool { opsUsed + Self.maxBlockInstructions <= poolCapacity && blockCount < blockCapacity }

    func add(key: UInt64, pc: UInt64, physical: UInt64 = 0, epoch: UInt32 = 0, ops newOps: UnsafeBufferPointer<Op>,
             breakpoint: Bool, pages: (UInt64, UInt64), hooks blockHooks: [InstrumentationHook] = [],
             foldInlineAdds: Bool = true) -> Int32 {
        let start = opsUsed
        (ops + start).initialize(from: newOps.baseAddress!, count: newOps.count)
        opsUsed += newOps.count
        let index = Int32(blockCount)
        (blocks + blockCount).initialize(to: TranslationBlock(key: key, pc: pc, start: Int32(start), count: Int32(newOps.count),
                                                               breakpoint: breakpoint, valid: true, physical: physical,
                                                               epoch: epoch))
        if !blockHooks.isEmpty {
            // A block whose hooks are all inline adds runs at full speed: the adds of the whole block are summed
            // per scoreboard element here, applied once when the block ends (or, when it leaves early at
            // instruction i, the adds of instructions 0...i, from the per-instruction list). Nothing else can
            // observe the difference: no plugin code runs inside such a block (the caller says no when exception or
            // idle callbacks could).
            var folds: [InstrumentationHook] = []
            if foldInlineAdds && blockHooks.allSatisfy({ $0.kind == .inlineAdd }) {
                for h in blockHooks {
                    if let k = folds.firstIndex(where: { $0.target == h.target && $0.stride == h.stride }) {
                        folds[k].value &+= h.value
                    } else {
                        folds.append(InstrumentationHook(instruction: -1, kind: .inlineAdd, target: h.target, stride: h.stride, value: h.value))
                    }
                }
            }
            let needed = blockHooks.count + folds.count
            if hookCount + needed > hookCapacity {
                let capacity = max(hookCapacity * 2, hookCount + needed)
                let grown = UnsafeMutablePointer<InstrumentationHook>.allocate(capacity: capacity)
                grown.moveInitialize(from: hooks, count: hookCount)
                hooks.deallocate()
                hooks = grown
                hookCapacity = capacity
            }
            blocks[blockCount].hookStart = Int32(hookCount)
            blocks[blockCount].hookCount = Int32(blockHooks.count)
            blocks[blockCount].mode = !folds.isEmpty ? 1 : blockHooks.contains { $0.kind == .memory } ? 3 : 2
            for h in blockHooks {
                (hooks + hookCount).initialize(to: h)
                hookCount += 1
            }
            blocks[blockCount].foldStart = Int32(hookCount)
            blocks[blockCount].foldCount = Int32(folds.count)
            for h in folds {
                (hooks + hookCount).initialize(to: h)
                hookCount += 1
            }
        }
        blockCount += 1
        map[key] = index
        let slot = Self.jumpSlot(key)
        jumpKeys[slot] = key
        jumpIndex[slot] = index
        for page in pages.0...pages.1 { pageBlocks[page, default: []].append(index) }
        stats.blocksTranslated += 1
        stats.instructionsTranslated += UInt64(newOps.count)
        return index
    }

    /// Drops every block that holds code from RAM page `page`. Returns whether anything was dropped.
    @discardableResult
    func invalidate(page: UInt64) -> Bool {
        guard let list = pageBlocks.removeValue(forKey: page) else { return false }
        for index in list where blocks[Int(index)].valid {
            blocks[Int(index)].valid = false
            map.removeValue(forKey: blocks[Int(index)].key)
        }
        unlinkAll()
        stats.invalidations += 1
        return true
    }

    /// Drops one block whose virtual page no longer maps to the code it was translated from.
    func drop(_ index: Int32) {
        guard index >= 0, Int(index) < blockCount, blocks[Int(index)].valid else { return }
        blocks[Int(index)].valid = false
        let key = blocks[Int(index)].key
        if map[key] == index { map.removeValue(forKey: key) }
        unlinkAll()
        stats.invalidations += 1
    }

    /// Moves on whenever chain links are forgotten (and at a flush): the translator then drops the links it
    /// patched into code.
    var unlinkGeneration: UInt64 = 0

    /// Forgets every chain link and jump-cache entry (blocks stay valid).
    func unlinkAll() {
        unlinkGeneration &+= 1
        jumpKeys.update(repeating: ~0, count: Self.jumpCacheSize)
        for i in 0..<blockCount {
            blocks[i].chainKey0 = ~0
            blocks[i].chainKey1 = ~0
        }
    }

    /// Empties the cache. Pages that held code are returned so the caller can clear their code marks.
    func flush() -> [UInt64] {
        let pages = Array(pageBlocks.keys)
        ops.deinitialize(count: opsUsed)
        opsUsed = 0
        blocks.deinitialize(count: blockCount)
        blockCount = 0
        map.removeAll(keepingCapacity: true)
        pageBlocks.removeAll(keepingCapacity: true)
        hooks.deinitialize(count: hookCount)
        hookCount = 0
        jumpKeys.update(repeating: ~0, count: Self.jumpCacheSize)
        unlinkGeneration &+= 1
        stats.flushes += 1
        return pages
    }

    public var liveBlocks: Int { map.count }
}
