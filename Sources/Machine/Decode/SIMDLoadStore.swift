// Arm ARM C4.1.4: Loads and Stores of SIMD&FP registers.

enum SIMDLoadStore {
    static let encodings: [A64Encoding] = []
}
