// Execution of SIMD&FP loads/stores and the integer AdvSIMD operations (decoded in Decode/AdvSIMD.swift and
// Decode/SIMDLoadStore.swift).

extension VCPU {
    func vectorMemory(_ op: Op) -> VectorMemoryResult {
        .ok
    }

    func executeSIMD(_ op: Op) {
    }
}
