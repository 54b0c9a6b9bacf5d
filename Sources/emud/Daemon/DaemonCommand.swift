import ArgumentParser
import Control
import Foundation
import Logging
import Machine
import NIOCore
import NIOPosix
import Plugins
import ServiceLifecycle
import UnixSignals

struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Run the long-lived daemon: many machines, driven through the JSON control socket (QMP wire format).")

    @Option(help: "Control socket path (default /run/emud/emud.sock, or the configuration's 'control').")
    var control: String?

    @Option(name: .customLong("control-group"), help: "Group that may use the control socket (mode 0660 instead of 0600).")
    var controlGroup: String?

    @Option(name: .customLong("plugin-dir"), help: "Load plugins only from this directory (repeatable; default: the configuration's plugin_dirs, else \(DaemonConfiguration.defaultPluginDirectories.joined(separator: ", "))).")
    var pluginDirectories: [String] = []

    @Option(name: .customLong("max-guest-memory"), help: "Total guest RAM of all machines together, e.g. 8G (default: 3/4 of the host's or the cgroup's memory).")
    var maxGuestMemory: String?

    @Option(help: "Configuration file (JSON): daemon settings and machines to create at start.")
    var config: String?

    @Option(name: .customLong("log-target"), help: "auto (journal when stderr is connected to it), journal or stderr.")
    var logTarget: String?

    @Flag(name: .customLong("allow-incompatible-plugins"), help: "Load plugins whose license is not GPL-compatible (taints emud).")
    var allowIncompatiblePlugins = false

    @Option(name: .customLong("plugin-abi"), help: "Plugin ABI check: 'version' or 'strict'.")
    var pluginABI: String?

    @Option(name: .customLong("stop-timeout"), help: "Seconds a graceful stop may take before emud exits anyway.")
    var stopTimeout: Double?

    @Option(name: .customLong("machines-dir"), help: "Where workers keep their sockets, so that a restarted daemon re-adopts their machines (default: the control socket's path with '.machines' for '.sock').")
    var machinesDirectory: String?

    func run() async throws {
        var file = DaemonConfiguration()
        if let config {
            do { file = try DaemonConfiguration.load(path: config) } catch {
                standardError("emud: bad configuration: \(error)")
                throw ExitCode(2)
            }
        }
        let targetName = logTarget ?? file.logTarget?.rawValue ?? "auto"
        guard let target = LogTarget(rawValue: targetName) else {
            standardError("emud: --log-target must be auto, journal or stderr")
            throw ExitCode(2)
        }
        EmudLogHandler.bootstrap(target)
        let abi = pluginABI ?? (file.strictPluginABI ? "strict" : "version")
        guard abi == "version" || abi == "strict" else {
            standardError("emud: --plugin-abi must be 'version' or 'strict'")
            throw ExitCode(2)
        }
        var memoryLimit = file.maxGuestMemory ?? DaemonConfiguration.defaultGuestMemoryLimit()
        if let maxGuestMemory {
            guard let bytes = MachineSpec.size(.string(maxGuestMemory)) else {
                standardError("emud: --max-guest-memory must be a size such as 8G or 512M")
                throw ExitCode(2)
            }
            memoryLimit = bytes
        }
        let trusted = !pluginDirectories.isEmpty ? pluginDirectories : (file.pluginDirectories ?? DaemonConfiguration.defaultPluginDirectories)
        var settings = DaemonSettings(
            controlPath: control ?? file.control ?? "/run/emud/emud.sock",
            controlGroup: controlGroup ?? file.controlGroup,
            guestMemoryLimit: memoryLimit,
            policy: PluginPolicy(allowIncompatibleLicenses: allowIncompatiblePlugins || file.allowIncompatiblePlugins, strictABI: abi == "strict",
                                 trustedDirectories: trusted),
            stopTimeout: stopTimeout ?? file.stopTimeout,
            configPath: config,
            initialMachines: file.machines,
            logTarget: target)
        // Beside the control socket, named after it (/run/emud/emud.sock: /run/emud/emud.machines): only the daemon
        // holding that socket re-adopts these workers, never another daemon sharing the directory.
        settings.runtimeDirectory = machinesDirectory ?? (settings.controlPath as NSString).deletingPathExtension + ".machines"
        let service = DaemonService(settings: settings)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            cancellationSignals: [],
            logger: Logger(label: "emud.lifecycle")))
        do {
            try await group.run()
        } catch {
            standardError("emud: \(error)")
            throw ExitCode(1)
        }
        if let failure = service.startFailure {
            standardError("emud: \(failure)")
            throw ExitCode(1)
        }
    }
}

struct DaemonSettings: Sendable {
    var controlPath: String
    var controlGroup: String?
    var guestMemoryLimit: UInt64
    var policy: PluginPolicy
    var stopTimeout: TimeInterval
    var configPath: String?
    var initialMachines: [MachineSpec]
    var logTarget: LogTarget
    /// Workers' sockets, for re-adoption by the next daemon.
    var runtimeDirectory: String?
}

/// The daemon as a swift-service-lifecycle service: starts listening, creates the configured machines, tells
/// systemd it is ready, keeps the watchdog fed while healthy, reloads on SIGHUP, and on graceful shutdown stops
/// everything in order.
final class DaemonService: Service, @unchecked Sendable {
    let settings: DaemonSettings
    let logger = Logger(label: "emud")
    var startFailure: String?
    private let controlLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    /// The workers' connections and the console sockets: apart from the control loop, so that a flood of console
    /// output cannot delay the control socket.
    private let workerLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let quitSignal = AsyncStream<Void>.makeStream()

    init(settings: DaemonSettings) {
        self.settings = settings
    }

    func run() async throws {
        let controlLoop = controlLoopGroup.next()
        let testHooks = ProcessInfo.processInfo.environment["EMUD_TEST_HOOKS"] == "1"
        let version = ControlVersion(major: 0, minor: 1, micro: 0, package: "emud \(Emud.version)")
        // The daemon and the server refer to each other: commands need the daemon, the daemon publishes events
        // on the server's bus.
        let continuation = quitSignal.continuation
        let daemon = Supervisor(policy: settings.policy, logTarget: settings.logTarget, guestMemoryLimit: settings.guestMemoryLimit,
                                eventLoopGroup: workerLoopGroup, quit: { continuation.yield() })
        let server = ControlServer(commands: daemon.commands(testHooks: testHooks, controlLoop: controlLoop),
                                   configuration: .init(version: version),
                                   eventLoopGroup: controlLoopGroup,
                                   onEvent: { [logger] event in logger.info("\(event)") })
        let eventBus = server.events
        daemon.eventBus = eventBus
        daemon.statusChanged = { Systemd.notify("STATUS=\(daemon.statusLine)") }
        daemon.cgroups = WorkerCgroups.setUp(logger: logger)
        daemon.runtimeDirectory = settings.runtimeDirectory

        // Sockets: adopt what systemd passed (socket activation), bind the rest.
        let passed = Systemd.listenFileDescriptors()
        for (name, fd) in passed where name.hasPrefix("gdb-") {
            daemon.inheritedGDBSockets[String(name.dropFirst(4))] = fd
        }
        do {
            if let fd = passed["control"] {
                try await server.listen(on: ControlEndpoint.adoptedSocket(descriptor: fd))
                logger.info("control socket adopted from systemd (fd \(fd))")
            } else {
                let group = try settings.controlGroup.map { try groupID($0) }
                let directory = (settings.controlPath as NSString).deletingLastPathComponent
                if !directory.isEmpty { try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
                try await server.listen(on: ControlEndpoint.unixSocket(path: settings.controlPath, group: group))
            }
            if let directory = settings.runtimeDirectory {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            }
            await daemon.adoptWorkers()
            let adopted = Set(daemon.allMachines.map { $0.id })
            for spec in settings.initialMachines where !adopted.contains(spec.id) {
                _ = try await daemon.createMachine(spec)
            }
        } catch {
            startFailure = "\(error)"
            await daemon.stopAll()
            await server.shutdown()
            try? await controlLoopGroup.shutdownGracefully()
            try? await workerLoopGroup.shutdownGracefully()
            return
        }

        // Trap SIGHUP before telling systemd we are ready: a reload right after start must not kill us.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        Systemd.notify("READY=1\nSTATUS=\(daemon.statusLine)")
        logger.info("emud \(Emud.version) ready: \(daemon.statusLine)")

        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { tasks in
                tasks.addTask { await self.watchdog(daemon: daemon, controlLoop: controlLoop) }
                tasks.addTask { await self.reloads(daemon: daemon, signals: hangups) }
                tasks.addTask {
                    for await _ in self.quitSignal.stream { break }
                }
                // Ends on `quit` (the other tasks are cancelled) or on graceful shutdown (SIGTERM/SIGINT).
                await tasks.next()
                tasks.cancelAll()
            }
        } onGracefulShutdown: {
            continuation.yield()
        }

        // Graceful stop: no new clients, machines stopped, plugins' final reports written, sockets removed.
        Systemd.notify("STOPPING=1\nSTATUS=stopping")
        logger.info("stopping: \(daemon.statusLine)")
        eventBus.publish("SHUTDOWN", data: [:])
        // The deadline runs on a thread of its own: a stop stuck in a plugin or a machine must not be able to
        // hold it up, as it could on Swift's small cooperative pool.
        let stopped = OnceFlag()
        let logger = self.logger
        let timeout = settings.stopTimeout
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: timeout)
            guard stopped.claim() else { return }
            logger.error("graceful stop took longer than \(timeout) s; killing the machines' workers and exiting anyway")
            daemon.killAllWorkers()
            exit(1)
        }
        // Machines first, so connected clients still receive each plugin's final report (PLUGIN_UNLOADED).
        await daemon.stopAll()
        try? await Task.sleep(nanoseconds: 50_000_000)  // let the last events reach clients
        await server.shutdown()
        _ = stopped.claim()
        try? await controlLoopGroup.shutdownGracefully()
        try? await workerLoopGroup.shutdownGracefully()
        logger.info("stopped")
    }

    /// Pings systemd's watchdog at half its interval, but only while a health check passes: the control event
    /// loop runs a submitted task promptly, and every running machine still has all its vCPU threads.
    private func watchdog(daemon: Supervisor, controlLoop: any EventLoop) async {
        guard let interval = Systemd.watchdogInterval else {
            // Without a watchdog, just wait to be cancelled.
            while !Task.isCancelled { try? await Task.sleep(nanoseconds: 1_000_000_000) }
            return
        }
        let period = interval / 2
        while !Task.isCancelled {
            let healthy = await healthCheck(daemon: daemon, controlLoop: controlLoop, timeout: period / 2)
            if healthy {
                Systemd.notify("WATCHDOG=1")
            } else {
                logger.warning("health check failed: not pinging the watchdog")
            }
            try? await Task.sleep(nanoseconds: UInt64(period * 1e9))
        }
    }

    private func healthCheck(daemon: Supervisor, controlLoop: any EventLoop, timeout: TimeInterval) async -> Bool {
        let loopAnswered: Bool = await withCheckedContinuation { continuation in
            let once = OnceFlag()
            controlLoop.execute { if once.claim() { continuation.resume(returning: true) } }
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { if once.claim() { continuation.resume(returning: false) } }
        }
        // A machine's vCPU threads are its worker's business: a worker that fails dies alone and is reported.
        return loopAnswered
    }

    /// SIGHUP: reload the configuration; machines it names that do not exist yet are created. A bad file is
    /// rejected and the running configuration kept.
    private func reloads(daemon: Supervisor, signals: UnixSignalsSequence) async {
        for await _ in signals {
            Systemd.notify("RELOADING=1\nSTATUS=reloading configuration")
            if let path = settings.configPath {
                do {
                    let fresh = try DaemonConfiguration.load(path: path)
                    let existing = Set(daemon.allMachines.map { $0.id })
                    for spec in fresh.machines where !existing.contains(spec.id) {
                        do { _ = try await daemon.createMachine(spec) } catch { logger.error("reload: machine \(spec.id): \(error)") }
                    }
                    logger.info("configuration reloaded from \(path)")
                } catch {
                    logger.error("configuration reload rejected, keeping the running configuration: \(error)")
                }
            }
            Systemd.notify("READY=1\nSTATUS=\(daemon.statusLine)")
        }
    }
}

/// A flag that can be claimed once, from any thread.
final class OnceFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var claimed = false
    func claim() -> Bool {
        lock.lock(); defer { lock.unlock() }
        if claimed { return false }
        claimed = true
        return true
    }
}

func groupID(_ name: String) throws -> UInt32 {
    if let n = UInt32(name) { return n }
    guard let entry = getgrnam(name) else { throw DaemonError.generic("unknown group '\(name)' for --control-group") }
    return entry.pointee.gr_gid
}
