// emud: tests for the GDB remote protocol. GPL-2.0-or-later.

import Testing

@testable import GDBStub

/// Plays gdb's side of a session with no sockets: frames requests, acknowledges replies the way gdb
/// does, and collects reply payloads as text.
final class SessionHarness {
    static let gdbFeatures = "multiprocess+;swbreak+;hwbreak+;qRelocInsn+;fork-events+;vContSupported+;no-resumed+"

    let target: FakeTarget
    let session: GDBSession
    /// Whether we (gdb) acknowledge replies.
    var acknowledging = true
    /// `+` bytes the stub sent for our packets.
    private(set) var acknowledgmentsReceived = 0
    /// `-` bytes the stub sent for our packets.
    private(set) var retransmitRequests = 0
    private(set) var closed = false
    private(set) var error: SessionError?
    private var decoder = PacketDecoder()

    init(
        _ options: FakeTarget.Options = FakeTarget.Options(), features: String? = SessionHarness.gdbFeatures,
        packetSize: Int = GDBSession.defaultPacketSize
    ) {
        target = FakeTarget(options)
        session = GDBSession(target: target, reporter: StopReporter { _ in }, packetSize: packetSize)
        if let features { request("qSupported:" + features) }
    }

    /// Sends one packet and returns the payloads of all replies.
    @discardableResult
    func request(_ payload: String) -> [String] {
        request(bytes: Array(payload.utf8))
    }

    @discardableResult
    func request(bytes payload: [UInt8]) -> [String] {
        send(raw: PacketEncoder.encode(payload))
    }

    /// Feeds raw bytes and returns the payloads of all replies.
    @discardableResult
    func send(raw bytes: [UInt8]) -> [String] {
        process(session.receive(bytes))
    }

    /// The target reports a stop; returns the payloads sent.
    @discardableResult
    func stop(_ reason: StopReason) -> [String] {
        process(session.targetStopped(reason))
    }

    /// Decodes stub output; acknowledges each packet (as gdb does) until the stub has nothing more.
    func process(_ first: SessionOutput) -> [String] {
        var replies: [String] = []
        var output = first
        while true {
            if output.shouldClose { closed = true }
            if let error = output.error { self.error = error }
            decoder.feed(output.bytes)
            var packets = 0
            while let event = decoder.next() {
                switch event {
                case .acknowledged: acknowledgmentsReceived += 1
                case .retransmitRequested: retransmitRequests += 1
                case .packet(let payload):
                    replies.append(text(payload))
                    packets += 1
                case .interrupt, .badChecksum, .rejected:
                    Issue.record("stub sent something gdb cannot read: \(event)")
                }
            }
            guard acknowledging, packets > 0, !closed else { return replies }
            output = session.receive([UInt8](repeating: UInt8(ascii: "+"), count: packets))
        }
    }
}
