// emud: the GDB remote protocol. GPL-2.0-or-later.

/// What the session wants written to the connection after one input.
public struct SessionOutput: Equatable, Sendable {
    /// Bytes to send to gdb, in order (acknowledgments and packets).
    public var bytes: [UInt8]
    /// True once the session is over: close the connection after writing `bytes`.
    public var shouldClose: Bool
    /// Set when the session ends because of a protocol failure rather than at gdb's request.
    public var error: SessionError?

    public init(bytes: [UInt8] = [], shouldClose: Bool = false, error: SessionError? = nil) {
        self.bytes = bytes
        self.shouldClose = shouldClose
        self.error = error
    }
}

/// A protocol failure that ends one session (never the daemon).
public enum SessionError: Error, Equatable, Sendable, CustomStringConvertible {
    /// gdb asked for the same packet again and again; the link is broken.
    case tooManyRetransmissions(Int)
    /// gdb stopped acknowledging our packets while asking for more.
    case peerStoppedAcknowledging(queued: Int)
    /// gdb stopped reading its replies while sending more requests; its connection was closed with
    /// `limit` bytes of replies unsent.
    case peerStoppedReading(limit: Int)

    public var description: String {
        switch self {
        case .tooManyRetransmissions(let count):
            return "gdb rejected the same packet \(count) times; closing the connection"
        case .peerStoppedAcknowledging(let queued):
            return "gdb left \(queued) packets unacknowledged; closing the connection"
        case .peerStoppedReading(let limit):
            return "gdb stopped reading its replies (more than \(limit) bytes unsent); closing the connection"
        }
    }
}

/// One debugger session: the remote protocol's logic, with no I/O.
///
/// Bytes from gdb go into ``receive(_:)``, stops reported by the target go into
/// ``targetStopped(_:)``; both return the bytes to write. Creating a session attaches to the target
/// (``DebugTarget/attach(reporter:)``); ``end()`` or a `D`/`k`/`vKill` packet detaches or kills it,
/// exactly once.
///
/// Guarantees:
/// - All-stop mode: after a resume nothing is sent until the target reports a stop; the target is
///   called only while stopped, apart from `resume` and `interrupt`.
/// - In acknowledgment mode every intact packet is answered `+`, a damaged one `-`; our packets go
///   out one at a time, each resent on `-`, the next sent on `+`. `QStartNoAckMode` ends all of that.
/// - Malformed packets are answered `E01`, packets this stub does not know with an empty packet;
///   neither ends the session. Only a broken link (``SessionError``) does.
/// - Thread ids are written `pPID.TID` only if gdb announced `multiprocess+`, and `swbreak`/`hwbreak`
///   stop reasons only if gdb announced them.
///
/// Not thread safe: confine a session to one thread (``GDBServer`` uses its event loop).
public final class GDBSession {
    /// The largest packet we accept, advertised as `PacketSize` (16 KiB: a 8 KiB memory write in hex).
    public static let defaultPacketSize = 0x4000
    static let maximumRetransmissions = 16
    static let maximumQueuedPackets = 1024

    private enum Phase: Equatable {
        case stopped
        case running
        /// The debuggee has exited or was terminated; gdb may still ask `?` or kill.
        case exited
        /// Detached or killed: the target is never called again.
        case ended
    }

    /// The largest decoded packet accepted from gdb.
    public let packetSize: Int
    private let target: any DebugTarget
    private var decoder: PacketDecoder
    private var phase: Phase
    private var lastStop: StopReason
    /// The thread `g`, `p`, `qC` refer to (`Hg`).
    private var generalThread: Int
    /// The thread `c`/`s` apply to (`Hc`), nil for "the one that last stopped".
    private var resumeThread: Int?

    private var acknowledgments = true
    private var awaitingAcknowledgment: [UInt8]?
    private var queuedPackets: [[UInt8]] = []
    private var retransmissions = 0
    private var output: [UInt8] = []
    private var closeWhenFlushed = false
    private var failure: SessionError?

    private var peerMultiprocess = false
    private var peerSoftwareBreak = false
    private var peerHardwareBreak = false
    /// Host I/O handles gdb has open: each is a snapshot of the exec file taken at open.
    private var openFiles: [Int: [UInt8]] = [:]

    /// How many Host I/O handles gdb may hold at once (it needs one or two).
    public static let maximumOpenFiles = 8

    /// The smallest packet size accepted: gdb's first exchanges (qSupported) need about this much.
    public static let minimumPacketSize = 256

    /// Attaches to `target` (calling ``DebugTarget/attach(reporter:)`` with `reporter`) and starts
    /// in acknowledgment mode, stopped. `packetSize` below ``minimumPacketSize`` is raised to it.
    public init(target: any DebugTarget, reporter: StopReporter, packetSize: Int = defaultPacketSize) {
        self.target = target
        self.packetSize = max(Self.minimumPacketSize, packetSize)
        self.decoder = PacketDecoder(maximumPayloadLength: self.packetSize)
        let stop = target.attach(reporter: reporter)
        self.lastStop = stop
        self.generalThread = stop.thread ?? target.threads.first ?? 1
        self.phase = stop.hasEnded ? .exited : .stopped
    }

    /// True until `QStartNoAckMode` has been accepted.
    public var acknowledgmentMode: Bool { acknowledgments }

    /// True between a resume and the stop the target reports for it.
    public var isRunning: Bool { phase == .running }

    // MARK: Input

    /// Consumes bytes from gdb (any split: partial packets are kept for the next call).
    public func receive(_ bytes: some Sequence<UInt8>) -> SessionOutput {
        decoder.feed(bytes)
        while failure == nil, let event = decoder.next() {
            handle(event)
        }
        return takeOutput()
    }

    /// The target reports a stop (call on the session's thread; ``StopReporter`` is the thread-safe
    /// way in). Writes the stop reply that gdb is waiting for since its resume.
    public func targetStopped(_ reason: StopReason) -> SessionOutput {
        switch phase {
        case .running:
            lastStop = reason
            if let thread = reason.thread { generalThread = thread }
            resumeThread = nil
            phase = reason.hasEnded ? .exited : .stopped
            send(stopReply(reason))
        case .stopped where reason.hasEnded:
            // The machine ended while gdb was not waiting (a monitor command, the control plane).
            // All-stop gdb cannot be told without a request outstanding; closing says it plainly.
            lastStop = reason
            phase = .exited
            closeWhenFlushed = true
        case .stopped, .exited, .ended:
            break  // no resume outstanding: one resume, one stop
        }
        return takeOutput()
    }

    /// The connection is gone: detach from the target unless the session already detached or killed.
    /// Idempotent.
    public func end() {
        guard phase != .ended else { return }
        phase = .ended
        target.detach()
    }

    private func handle(_ event: DecoderEvent) {
        switch event {
        case .acknowledged:
            guard acknowledgments, awaitingAcknowledgment != nil else { return }
            awaitingAcknowledgment = nil
            retransmissions = 0
            transmitNextQueued()
        case .retransmitRequested:
            guard acknowledgments, let packet = awaitingAcknowledgment else { return }
            retransmissions += 1
            if retransmissions > Self.maximumRetransmissions {
                failure = .tooManyRetransmissions(retransmissions)
                return
            }
            output += packet
        case .interrupt:
            if phase == .running { target.interrupt() }
        case .badChecksum:
            if acknowledgments && phase != .ended { output.append(UInt8(ascii: "-")) }
        case .rejected:
            guard phase != .ended else { return }
            acknowledge()
            send(Reply.error)
        case .packet(let payload):
            guard phase != .ended else { return }
            acknowledge()
            dispatch(payload)
        }
    }

    // MARK: Output

    private func acknowledge() {
        if acknowledgments { output.append(UInt8(ascii: "+")) }
    }

    /// Frames and sends one reply; in acknowledgment mode it waits for the previous one's `+`.
    private func send(_ payload: [UInt8]) {
        let packet = PacketEncoder.encode(payload)
        guard acknowledgments else {
            output += packet
            return
        }
        if awaitingAcknowledgment == nil {
            awaitingAcknowledgment = packet
            output += packet
        } else if queuedPackets.count < Self.maximumQueuedPackets {
            queuedPackets.append(packet)
        } else {
            failure = .peerStoppedAcknowledging(queued: queuedPackets.count)
        }
    }

    private func send(_ text: String) { send(Array(text.utf8)) }

    private func transmitNextQueued() {
        guard !queuedPackets.isEmpty else { return }
        let packet = queuedPackets.removeFirst()
        awaitingAcknowledgment = packet
        output += packet
    }

    private func takeOutput() -> SessionOutput {
        let flushed = awaitingAcknowledgment == nil && queuedPackets.isEmpty
        let result = SessionOutput(
            bytes: output, shouldClose: failure != nil || (closeWhenFlushed && flushed), error: failure)
        output.removeAll(keepingCapacity: true)
        return result
    }

    // MARK: Dispatch

    private enum Reply {
        static let ok = Array("OK".utf8)
        static let empty: [UInt8] = []
        /// Malformed request, unknown thread, target refused.
        static let error = Array("E01".utf8)
        /// EFAULT: memory not accessible.
        static let memoryFault = Array("E14".utf8)
        /// qXfer annex not found.
        static let noSuchAnnex = Array("E00".utf8)
    }

    private func dispatch(_ payload: [UInt8]) {
        let command: Command
        do {
            command = try Command.parse(payload)
        } catch {
            send(Reply.error)
            return
        }
        switch command {
        case .haltReason: send(stopReply(lastStop))
        case .readRegisters: readRegisters()
        case .writeRegisters(let packet): writeRegisters(packet)
        case .readRegister(let packet): readRegister(packet)
        case .writeRegister(let packet): writeRegister(packet)
        case .readMemory(let packet): readMemory(packet)
        case .writeMemory(let packet): writeMemory(packet)
        case .resume(let packet): legacyResume(packet)
        case .vContQuery: send("vCont;c;C;s;S;t")
        case .vCont(let packet): vCont(packet)
        case .setThread(let packet): setThread(packet)
        case .threadAlive(let packet):
            send(phase != .exited && resolve(packet.thread) != nil ? Reply.ok : Reply.error)
        case .threadInfoFirst:
            send("m" + target.threads.map(formatThread).joined(separator: ","))
        case .threadInfoNext: send("l")
        case .currentThread: send("QC" + formatThread(generalThread))
        case .threadExtraInfo(let packet):
            guard let thread = resolve(packet.thread) else { return send(Reply.error) }
            guard let description = target.threadDescription(thread) else { return send(Reply.empty) }
            send(Hex.encode(Array(description.utf8)))
        case .attached: send("1")
        case .offsets: send("Text=0;Data=0;Bss=0")
        case .supported(let packet): supported(packet)
        case .xferRead(let packet): xferRead(packet)
        case .monitor(let packet): monitor(packet)
        case .startNoAckMode:
            send(Reply.ok)
            acknowledgments = false
            awaitingAcknowledgment = nil
            for packet in queuedPackets { output += packet }
            queuedPackets.removeAll()
        case .breakpoint(let packet): breakpoint(packet)
        case .detach(let packet):
            guard packet.process.map({ $0 == ThreadID.processID }) ?? true else { return send(Reply.error) }
            send(Reply.ok)
            phase = .ended
            closeWhenFlushed = true
            target.detach()
        case .kill:
            phase = .ended
            closeWhenFlushed = true
            target.kill()
        case .vKill(let packet):
            guard packet.process == ThreadID.processID else { return send(Reply.error) }
            send(Reply.ok)
            phase = .ended
            closeWhenFlushed = true
            target.kill()
        case .hostIO(let packet): hostIO(packet)
        case .unsupported: send(Reply.empty)
        }
    }

    // MARK: Threads

    private func formatThread(_ thread: Int) -> String {
        let id = String(thread, radix: 16)
        return peerMultiprocess ? "p\(String(ThreadID.processID, radix: 16)).\(id)" : id
    }

    /// The one existing thread `id` names, or nil.
    private func resolve(_ id: ThreadID) -> Int? {
        guard id.isOurProcess, case .id(let thread) = id.thread, target.threads.contains(thread) else {
            return nil
        }
        return thread
    }

    private func setThread(_ packet: SetThread) {
        guard packet.thread.isOurProcess else { return send(Reply.error) }
        switch packet.thread.thread {
        case .id:
            guard let thread = resolve(packet.thread) else { return send(Reply.error) }
            switch packet.operation {
            case .general: generalThread = thread
            case .resume: resumeThread = thread
            }
        case .all, .any:
            // "Any" keeps the current choice; "all" only means something for resuming.
            if packet.operation == .resume { resumeThread = nil }
        }
        send(Reply.ok)
    }

    // MARK: Registers

    /// True if the machine is stopped; otherwise answers `E01`.
    private func requireStopped() -> Bool {
        if phase == .stopped { return true }
        send(Reply.error)
        return false
    }

    private func currentRegisters() -> [UInt8]? {
        let bytes = target.readRegisters(thread: generalThread)
        return bytes.count == AArch64RegisterLayout.byteCount ? bytes : nil
    }

    private func readRegisters() {
        guard requireStopped() else { return }
        guard let bytes = currentRegisters() else { return send(Reply.error) }
        send(Hex.encode(bytes))
    }

    private func writeRegisters(_ packet: WriteRegisters) {
        guard requireStopped() else { return }
        guard packet.bytes.count == AArch64RegisterLayout.byteCount else { return send(Reply.error) }
        var allWritten = true
        for number in 0..<AArch64RegisterLayout.count {
            guard let range = AArch64RegisterLayout.range(of: number) else { continue }
            allWritten =
                target.writeRegister(thread: generalThread, number: number, bytes: Array(packet.bytes[range]))
                && allWritten
        }
        send(allWritten ? Reply.ok : Reply.error)
    }

    private func readRegister(_ packet: ReadRegister) {
        guard requireStopped() else { return }
        guard let range = AArch64RegisterLayout.range(of: packet.number), let bytes = currentRegisters() else {
            return send(Reply.error)
        }
        send(Hex.encode(bytes[range]))
    }

    private func writeRegister(_ packet: WriteRegister) {
        guard requireStopped() else { return }
        guard AArch64RegisterLayout.size(of: packet.number) == packet.bytes.count,
            target.writeRegister(thread: generalThread, number: packet.number, bytes: packet.bytes)
        else { return send(Reply.error) }
        send(Reply.ok)
    }

    // MARK: Memory

    private func readMemory(_ packet: ReadMemory) {
        guard requireStopped() else { return }
        // Shorter answers are allowed; gdb asks again for the rest.
        let length = min(packet.length, (packetSize - 1) / 2)
        guard length > 0 else { return send(Reply.error) }
        guard let bytes = target.readMemory(address: packet.address, length: length), !bytes.isEmpty else {
            return send(Reply.memoryFault)
        }
        send(Hex.encode(bytes.prefix(length)))
    }

    private func writeMemory(_ packet: WriteMemory) {
        guard requireStopped() else { return }
        guard !packet.bytes.isEmpty else { return send(Reply.ok) }
        send(target.writeMemory(address: packet.address, bytes: packet.bytes) ? Reply.ok : Reply.memoryFault)
    }

    // MARK: Breakpoints

    private func breakpoint(_ packet: BreakpointPacket) {
        guard target.supportedBreakpointKinds.contains(packet.breakpoint.kind) else {
            return send(Reply.empty)
        }
        guard requireStopped() else { return }
        let done =
            packet.insert
            ? target.insertBreakpoint(packet.breakpoint) : target.removeBreakpoint(packet.breakpoint)
        send(done ? Reply.ok : Reply.error)
    }

    // MARK: Resume

    private func resume(_ actions: [ThreadAction]) {
        phase = .running
        target.resume(actions: actions)
    }

    private func legacyResume(_ packet: LegacyResume) {
        guard requireStopped() else { return }
        let focus = resumeThread ?? lastStop.thread ?? generalThread
        if let address = packet.address {
            let pc = withUnsafeBytes(of: address.littleEndian) { Array($0) }
            guard target.writeRegister(thread: focus, number: AArch64RegisterLayout.pc, bytes: pc) else {
                return send(Reply.error)
            }
        }
        // `s` steps one thread and holds the others, `c` runs them all.
        resume(
            target.threads.map { thread in
                let action: ResumeAction
                if thread == focus {
                    action = packet.step ? .step(signal: packet.signal) : .continue(signal: packet.signal)
                } else {
                    action = packet.step ? .hold : .continue(signal: nil)
                }
                return ThreadAction(thread: thread, action: action)
            })
    }

    private func vCont(_ packet: VCont) {
        guard requireStopped() else { return }
        let threads = target.threads
        for action in packet.actions {
            guard let id = action.thread else { continue }
            guard id.isOurProcess else { return send(Reply.error) }
            if case .id(let thread) = id.thread, !threads.contains(thread) { return send(Reply.error) }
        }
        let actions = threads.map { thread in
            ThreadAction(
                thread: thread,
                action: packet.actions.first { $0.thread?.matches(thread) ?? true }?.action ?? .hold)
        }
        // Resuming nothing would leave gdb waiting for a stop that never comes.
        guard actions.contains(where: { $0.action != .hold }) else { return send(Reply.error) }
        resume(actions)
    }

    // MARK: Stop replies

    func stopReply(_ reason: StopReason) -> [UInt8] {
        let process = peerMultiprocess ? ";process:\(String(ThreadID.processID, radix: 16))" : ""
        func twoDigits(_ value: UInt8) -> String {
            String(decoding: [Hex.digits[Int(value >> 4)], Hex.digits[Int(value & 0xF)]], as: UTF8.self)
        }
        let signal: GDBSignal
        var detail = ""
        switch reason {
        case .exited(let code):
            return Array(("W" + twoDigits(code) + process).utf8)
        case .terminated(let terminatingSignal):
            return Array(("X" + twoDigits(terminatingSignal.rawValue) + process).utf8)
        case .signal(let number, _):
            signal = number
        case .softwareBreakpoint:
            signal = .trap
            if peerSoftwareBreak { detail = "swbreak:;" }
        case .hardwareBreakpoint:
            signal = .trap
            if peerHardwareBreak { detail = "hwbreak:;" }
        case .watchpoint(let kind, let address, _):
            signal = .trap
            let name: String
            switch kind {
            case .write: name = "watch"
            case .read: name = "rwatch"
            case .access: name = "awatch"
            }
            detail = "\(name):\(String(address, radix: 16));"
        }
        let thread = reason.thread.map { "thread:\(formatThread($0));" } ?? ""
        return Array(("T" + twoDigits(signal.rawValue) + thread + detail).utf8)
    }

    // MARK: Queries

    private func supported(_ packet: Supported) {
        peerMultiprocess = packet.peerSupports("multiprocess")
        peerSoftwareBreak = packet.peerSupports("swbreak")
        peerHardwareBreak = packet.peerSupports("hwbreak")
        let kinds = target.supportedBreakpointKinds
        var features = ["PacketSize=\(String(packetSize, radix: 16))", "qXfer:features:read+"]
        if target.memoryMap != nil { features.append("qXfer:memory-map:read+") }
        features.append("qXfer:threads:read+")
        if target.execFilePath != nil { features.append("qXfer:exec-file:read+") }
        features.append("QStartNoAckMode+")
        if kinds.contains(.software) { features.append("swbreak+") }
        if kinds.contains(.hardware) { features.append("hwbreak+") }
        features += ["vContSupported+", "multiprocess+"]
        send(features.joined(separator: ";"))
    }

    private func xferRead(_ packet: XferRead) {
        let document: [UInt8]
        switch packet.object {
        case "features":
            guard packet.annex == "target.xml" else { return send(Reply.noSuchAnnex) }
            document = TargetDescription.aarch64
        case "memory-map":
            guard let regions = target.memoryMap else { return send(Reply.empty) }
            document = TargetDescription.memoryMap(regions)
        case "threads":
            document = TargetDescription.threads(
                target.threads, formatThread: formatThread, describe: target.threadDescription)
        case "exec-file":
            guard let path = target.execFilePath else { return send(Reply.empty) }
            guard packet.annex.isEmpty || Hex.parseNumber(packet.annex.utf8) == UInt64(ThreadID.processID) else {
                return send(Reply.noSuchAnnex)
            }
            document = Array(path.utf8)
        default:
            return send(Reply.empty)
        }
        guard packet.offset < document.count else { return send("l") }
        // Escaping can double the data; keep the reply within a packet gdb is sure to accept.
        let length = min(packet.length, packetSize / 2)
        let end = min(document.count, packet.offset + length)
        let marker = end == document.count ? UInt8(ascii: "l") : UInt8(ascii: "m")
        send([marker] + document[packet.offset..<end])
    }

    // MARK: Host I/O

    /// Serves the exec file, and only it, read-only. A target without one gets the empty reply, so
    /// gdb knows Host I/O is not there.
    private func hostIO(_ packet: HostIOPacket) {
        guard let execFilePath = target.execFilePath else { return send(Reply.empty) }
        switch packet {
        case .setFilesystem(let process):
            // 0 is the stub's own filesystem; the machine is the one process.
            send(process == 0 || process == ThreadID.processID ? FileIO.success(0) : FileIO.failure(.invalidArgument))
        case .open(let path, let flags, _):
            guard path.elementsEqual(execFilePath.utf8) else { return send(FileIO.failure(.noSuchFile)) }
            guard flags == FileIO.readOnly else { return send(FileIO.failure(.accessDenied)) }
            guard openFiles.count < Self.maximumOpenFiles else { return send(FileIO.failure(.tooManyOpenFiles)) }
            guard let contents = target.execFileContents() else { return send(FileIO.failure(.noSuchFile)) }
            let handle = (0..<Self.maximumOpenFiles).first { openFiles[$0] == nil } ?? 0
            openFiles[handle] = contents
            send(FileIO.success(handle))
        case .pread(let handle, let count, let offset):
            guard let contents = openFiles[handle] else { return send(FileIO.failure(.badHandle)) }
            guard offset < contents.count else { return send(FileIO.success(0, attachment: [])) }
            // Escaping can double the data; the reply must fit in a packet gdb accepts.
            let length = min(count, contents.count - offset, (packetSize - 32) / 2)
            send(FileIO.success(length, attachment: Array(contents[offset..<(offset + length)])))
        case .fstat(let handle):
            guard let contents = openFiles[handle] else { return send(FileIO.failure(.badHandle)) }
            let stat = FileIO.stat(size: contents.count)
            send(FileIO.success(stat.count, attachment: stat))
        case .close(let handle):
            guard openFiles.removeValue(forKey: handle) != nil else { return send(FileIO.failure(.badHandle)) }
            send(FileIO.success(0))
        }
    }

    private func monitor(_ packet: Monitor) {
        guard phase != .running else { return send(Reply.error) }
        guard let text = target.monitor(command: packet.command) else { return send(Reply.empty) }
        let bytes = Array(text.utf8)
        let chunk = (packetSize - 1) / 2
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + chunk)
            send([UInt8(ascii: "O")] + Hex.encode(bytes[start..<end]))
            start = end
        }
        send(Reply.ok)
    }
}
