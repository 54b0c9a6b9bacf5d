import Foundation

/// virtio-rng (virtio 1.x, 5.4, the entropy device): one request queue whose device-writable buffers it fills
/// with the host's randomness (getrandom through the standard library). At most ``requestLimit`` bytes per
/// request, so that a guest asking for gigabytes costs a bounded moment; the used length says how many.
public final class VirtioRNG: VirtioDevice {
    public let deviceID: UInt32 = 4
    public let label = "virtio-rng"
    public let deviceFeatures: UInt64 = 0
    public let queueCount = 1
    public let configuration: [UInt8] = []
    static let requestLimit: UInt64 = 64 << 10
    private var generator = SystemRandomNumberGenerator()

    public init() {}

    public func serve(_ chain: DescriptorChain, queue: Int, memory: GuestMemory) throws(VirtqueueError) -> UInt32 {
        let count = min(chain.writableLength, Self.requestLimit)
        let written = chain.fillWritable(from: 0, count: count, memory: memory) { p, n in
            var i = 0
            while i < n {
                let word = generator.next()
                for k in 0..<min(8, n - i) {
                    (p + i + k).storeBytes(of: UInt8(truncatingIfNeeded: word >> (8 * UInt64(k))), as: UInt8.self)
                }
                i += 8
            }
            return true
        }
        return UInt32(truncatingIfNeeded: written)
    }
}
