// Arm ARM C4.1.5/C4.1.8: Data Processing -- Scalar Floating-Point and Advanced SIMD (integer subset).

enum AdvSIMD {
    static let encodings: [A64Encoding] = []
}
