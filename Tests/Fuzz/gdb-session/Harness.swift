// emud: a libFuzzer harness for the GDB remote protocol's session. GPL-2.0-or-later.
//
// The input is what a gdb client sends, played against a session on a FuzzTarget that checks the
// DebugTarget contract. The last byte of the input also picks how the stream is split into reads,
// which stops the machine reports, the packet size and whether the target offers optional features.
// Checked on every input: nothing traps; the target's contract holds; every byte the session writes
// is an acknowledgment or an intact packet (and no acknowledgment at all once no-ack mode is on);
// after the session asks to close, feeding stops, as the server does; `end()` detaches at most once.

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("gdb-session: property violated: \(message())") }
}

/// Checks that `bytes` from the session are acknowledgments and intact packets only.
func checkWellFormed(_ bytes: [UInt8], acknowledgmentsAllowed: Bool) {
    var decoder = PacketDecoder(maximumPayloadLength: 1 << 24)
    decoder.feed(bytes)
    var tokens = 0
    while let event = decoder.next() {
        tokens += 1
        switch event {
        case .packet: continue
        case .acknowledged, .retransmitRequested:
            check(acknowledgmentsAllowed, "an acknowledgment in no-ack mode: \(bytes)")
        case .interrupt, .badChecksum, .rejected:
            fatalError("gdb-session: the session wrote \(event): \(String(decoding: bytes, as: UTF8.self))")
        }
    }
    guard let last = bytes.last, last != UInt8(ascii: "+"), last != UInt8(ascii: "-") else { return }
    let n = bytes.count
    check(
        tokens > 0 && n >= 3 && bytes[n - 3] == UInt8(ascii: "#") && Hex.value(of: bytes[n - 2]) != nil
            && Hex.value(of: last) != nil,
        "output ends inside a packet: \(String(decoding: bytes, as: UTF8.self))")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let stream = Array(UnsafeBufferPointer(start: data, count: count))
    let config = stream.last ?? 0
    let chunkSize = [Int.max, 1, 7, 61][Int(config & 3)]
    let target = FuzzTarget(stopSelector: (config >> 2) & 7, withOptionalFeatures: config & 0x80 == 0)
    target.resumesStopByThemselves = config & 0x20 == 0
    let session = GDBSession(
        target: target, reporter: StopReporter { _ in }, packetSize: config & 0x40 == 0 ? GDBSession.defaultPacketSize : 0)

    var closed = false
    func take(_ output: SessionOutput, acknowledgmentsAllowed: Bool) {
        checkWellFormed(output.bytes, acknowledgmentsAllowed: acknowledgmentsAllowed)
        if output.shouldClose { closed = true }
    }
    func deliverStops() {
        while !closed, !target.pendingStops.isEmpty, target.state == .running {
            let reason = target.pendingStops.removeFirst()
            target.stopDelivered(reason)
            take(session.targetStopped(reason), acknowledgmentsAllowed: session.acknowledgmentMode)
        }
    }

    var start = 0
    while start < stream.count && !closed {
        let end = stream.count - start > chunkSize ? start + chunkSize : stream.count
        let acknowledging = session.acknowledgmentMode
        take(session.receive(stream[start..<end]), acknowledgmentsAllowed: acknowledging)
        deliverStops()
        start = end
    }
    if !closed, config & 0x10 != 0, let reason = target.endSpontaneously() {
        take(session.targetStopped(reason), acknowledgmentsAllowed: session.acknowledgmentMode)
    }
    session.end()
    session.end()
    check(target.state == .ended, "the session ended without detaching or killing (target is \(target.state))")
    return 0
}
