import ArgumentParser
import CSandbox
import Control
import Foundation
import Logging
import NIOCore
import NIOPosix
import Plugins

/// `emud worker`: hosts one machine for `emud daemon`, which starts it with two connected sockets (descriptors 3
/// and 4) and talks to it in the control protocol, the same commands a control client sends the daemon. Not for
/// people to run; hidden from `--help`.
///
/// Descriptor 3 carries commands and the events the daemon relays (plugin loads and reports, stops, exits) plus
/// the machine's console output (`CONSOLE_OUTPUT`, base64, which the daemon keeps in its ring and sinks);
/// descriptor 4 answers queries while a long command (a plugin's install) holds the first. A socket-activated
/// gdb socket comes over descriptor 3 first (`--gdb-socket`). When the daemon closes
/// them, the worker stops its machine, writes its plugins' final reports to the log, and exits.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Internal: host one machine for emud daemon over inherited sockets.",
        shouldDisplay: false)

    @Option(name: .customLong("machine")) var machineID: String
    @Option(name: .customLong("log-target")) var logTarget: String = "stderr"
    @Option(name: .customLong("plugin-dir")) var pluginDirectories: [String] = []
    @Flag(name: .customLong("allow-incompatible-plugins")) var allowIncompatiblePlugins = false
    @Option(name: .customLong("plugin-abi")) var pluginABI: String = "version"
    /// The daemon sends the machine's socket-activated gdb socket over descriptor 3 (SCM_RIGHTS) before anything
    /// else; the worker serves gdb on it.
    @Flag(name: .customLong("gdb-socket")) var gdbSocketSent = false
    /// Where that socket is once received: set by the worker itself when it re-executes into its sandbox.
    @Option(name: .customLong("gdb-fd")) var gdbDescriptor: Int32?
    @Option(name: .customLong("address-space-limit")) var addressSpaceLimit: UInt64?
    @Option(name: .customLong("open-files-limit")) var openFilesLimit: UInt64?
    /// Where a daemon started after this one's daemon died finds the worker (``Supervisor/adoptWorkers()``).
    @Option(name: .customLong("socket")) var socketPath: String?
    /// The machine's files (its image; a kernel's initrd and device tree): the only files outside the system's
    /// libraries and the plugin directories it may read.
    @Option(name: .customLong("image")) var image: [String] = []
    /// The machine's disks: the only files it may write (read-only ones it may only read).
    @Option(name: .customLong("drive-rw")) var writableDrives: [String] = []
    @Option(name: .customLong("drive-ro")) var readOnlyDrives: [String] = []
    @Flag(name: .customLong("no-sandbox")) var noSandbox = false
    /// Set by the worker itself when it re-executes inside its Landlock domain.
    @Flag(name: .customLong("sandboxed")) var sandboxed = false

    /// How long a destroyed, re-adopted machine's worker waits for its daemon to hang up.
    static let destroyedLingerSeconds: TimeInterval = 10
    static let commandDescriptor: Int32 = 3
    static let queryDescriptor: Int32 = 4

    func run() async throws {
        EmudLogHandler.bootstrap(LogTarget(rawValue: logTarget) ?? .stderr)
        let logger = Logger(label: "emud")
        var gdbDescriptor = self.gdbDescriptor
        do {
            if gdbSocketSent && gdbDescriptor == nil {
                let received = emud_receive_descriptor(Self.commandDescriptor)
                guard received >= 0 else {
                    throw DaemonError.generic("receiving the gdb socket from the daemon: \(String(cString: strerror(-received)))")
                }
                gdbDescriptor = received
            }
            try WorkerLimits.apply(addressSpace: addressSpaceLimit, openFiles: openFilesLimit)
            if !noSandbox {
                if !sandboxed {
                    let why = try WorkerSandbox.confineFileSystemAndRestart(
                        readable: pluginDirectories + image + readOnlyDrives.filter(WorkerSandbox.isDiskFile),
                        writable: writableDrives,
                        extraArguments: gdbDescriptor.map { ["--gdb-fd", String($0)] } ?? [])
                    logger.warning("machine \(machineID): its worker runs without a file-system sandbox: \(why)",
                                   metadata: ["MACHINE_ID": .string(machineID)])
                }
                try WorkerSandbox.denyDangerousSystemCalls()
            }
        } catch {
            logger.error("worker for machine \(machineID): \(error)", metadata: ["MACHINE_ID": .string(machineID)])
            throw ExitCode(1)
        }
        let policy = PluginPolicy(allowIncompatibleLicenses: allowIncompatiblePlugins, strictABI: pluginABI == "strict",
                                  trustedDirectories: pluginDirectories)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        // The daemon counted this machine's RAM against its own budget before starting us.
        let daemon = Daemon(policy: policy, quit: {})
        if let gdbDescriptor { daemon.inheritedGDBSockets[machineID] = gdbDescriptor }
        var configuration = ControlServer.Configuration(version: ControlVersion(major: 0, minor: 1, micro: 0, package: "emud \(Emud.version) worker"))
        // The daemon reads this connection promptly; a guest printing in bursts must not cost it the machine.
        configuration.maximumPendingOutputBytes = 64 << 20
        var registry = daemon.commands()
        let started = Date()
        let kept = WorkerMemo()
        // The daemon's own record of the machine (console, crash policy, cgroup limits), kept here for the
        // daemon that re-adopts this worker if its daemon dies.
        registry.register("x-worker-remember", parameters: ["description"]) { args, _ in
            guard let description = args["description"], description.objectValue != nil else {
                throw ControlError.generic("x-worker-remember: 'description' must be an object")
            }
            kept.description = description
            return .object([:])
        }
        registry.register("x-worker-info") { _, _ in
            .object(["pid": .int(Int(getpid())), "description": kept.description ?? .null,
                     "started": .double(started.timeIntervalSince1970)])
        }
        let server = ControlServer(commands: registry, configuration: configuration, eventLoopGroup: group)
        daemon.eventBus = server.events
        let batcher = ConsoleBatcher(bus: server.events, eventLoop: loop)
        daemon.consoleSink = batcher
        let commands: EventLoopFuture<Void>
        do {
            commands = try await server.serve(connectedSocket: Self.commandDescriptor)
            _ = try await server.serve(connectedSocket: Self.queryDescriptor)
        } catch {
            logger.error("worker for machine \(machineID): \(error)", metadata: ["MACHINE_ID": .string(machineID)])
            throw ExitCode(1)
        }
        var socketIdentity: ino_t?
        if let socketPath {
            do {
                try await server.listen(on: .unixSocket(path: socketPath))
                var info = stat()
                if lstat(socketPath, &info) == 0 { socketIdentity = info.st_ino }
            } catch {
                logger.error("worker for machine \(machineID): \(error); a new daemon cannot re-adopt it",
                             metadata: ["MACHINE_ID": .string(machineID)])
            }
        }
        try? await commands.get()
        // The daemon destroyed the machine and let us go, or the daemon died: then the machine goes on until a
        // new daemon re-adopts it through the socket and destroys it. Once the socket is gone (removed, or
        // replaced) nobody can, and the worker ends. After a re-adopting daemon's machine-destroy, the worker
        // waits for that daemon to close its connections (at most `destroyedLingerSeconds`): ending as soon as
        // the machine was gone cut the destroy's reply off on its way.
        var emptySince: Date?
        while let socketPath, let socketIdentity {
            var info = stat()
            guard lstat(socketPath, &info) == 0, info.st_ino == socketIdentity else {
                logger.warning("machine \(machineID): its daemon is gone and so is \(socketPath); stopping it",
                               metadata: ["MACHINE_ID": .string(machineID)])
                break
            }
            if daemon.allMachines.isEmpty {
                let since = emptySince ?? Date()
                emptySince = since
                if await server.openConnections() == 0 || Date().timeIntervalSince(since) > Self.destroyedLingerSeconds { break }
            }
            try? await Task.sleep(nanoseconds: daemon.allMachines.isEmpty ? 20_000_000 : 200_000_000)
        }
        for managed in daemon.allMachines { _ = await daemon.stopAndRelease(managed) }
        batcher.flush()
        await server.shutdown()
        Glibc.exit(0)
    }
}

/// What a worker keeps for the daemon. Thread-safe.
final class WorkerMemo: @unchecked Sendable {
    private let lock = NSLock()
    private var _description: JSONValue?
    var description: JSONValue? {
        get { lock.withLock { _description } }
        set { lock.withLock { _description = newValue } }
    }
}

/// Gathers a worker's console output into `CONSOLE_OUTPUT` events: one per turn of the event loop rather than one
/// per byte the guest writes. Holds at most ``maximumPending`` bytes per machine; beyond that the oldest are
/// dropped and counted (the daemon reports them as dropped). Thread-safe: vCPU threads append.
final class ConsoleBatcher: @unchecked Sendable {
    static let eventName = "CONSOLE_OUTPUT"
    static let maximumPending = 1 << 20
    private let bus: ControlEventBus
    private let eventLoop: any EventLoop
    private let lock = NSLock()
    private var pending: [String: [UInt8]] = [:]
    private var dropped: [String: Int] = [:]
    private var scheduled = false

    init(bus: ControlEventBus, eventLoop: any EventLoop) {
        self.bus = bus
        self.eventLoop = eventLoop
    }

    func append(machine: String, _ bytes: [UInt8]) {
        let schedule = lock.withLock { () -> Bool in
            var buffer = pending[machine, default: []]
            buffer += bytes
            if buffer.count > Self.maximumPending {
                let excess = buffer.count - Self.maximumPending
                buffer.removeFirst(excess)
                dropped[machine, default: 0] += excess
            }
            pending[machine] = buffer
            if scheduled { return false }
            scheduled = true
            return true
        }
        // At once, not after a delay: what a guest printed just before its worker crashed is what the crash
        // report needs. Output written while the loop is busy still goes out as one event.
        if schedule {
            eventLoop.execute { [self] in flush() }
        }
    }

    /// Publishes what is pending now. Called before every other event and every query answer, so console output
    /// always reaches the daemon before the exit or stop that followed it.
    func flush() {
        let (batches, lost) = lock.withLock { () -> ([String: [UInt8]], [String: Int]) in
            defer { pending = [:]; dropped = [:]; scheduled = false }
            return (pending, dropped)
        }
        for (machine, bytes) in batches where !bytes.isEmpty {
            var data: [String: JSONValue] = ["machine": .string(machine), "data": .string(Data(bytes).base64EncodedString())]
            if let count = lost[machine] { data["dropped"] = .int(count) }
            bus.publish(Self.eventName, data: data)
        }
    }
}
