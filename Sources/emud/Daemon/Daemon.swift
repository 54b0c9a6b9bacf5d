import Control
import Foundation
import GDBStub
import Logging
import Machine
import NIOCore
import NIOPosix
import Plugins

/// The daemon's state: its machines and what they carry. Commands from many control clients arrive
/// concurrently; `lock` guards the machine table, and each machine's own operations are thread-safe.
final class Daemon: @unchecked Sendable {
    let logger = Logger(label: "emud")
    /// The control server's event bus (set once the server exists).
    var eventBus: ControlEventBus?
    /// In a worker: where machines' console output goes, flushed before every event and every answer about a
    /// machine so that output always precedes the exit or stop that followed it.
    var consoleSink: ConsoleBatcher?
    let startedAt = Date()
    private let lock = NSLock()
    private var machines: [String: ManagedMachine] = [:]
    private var order: [String] = []
    var policy: PluginPolicy
    let quit: @Sendable () -> Void
    /// Listening sockets systemd passed for gdb endpoints, by machine id (`gdb-<machine>`), taken once.
    var inheritedGDBSockets: [String: Int32] = [:]
    /// Called whenever something that `STATUS=` reports changes.
    var statusChanged: @Sendable () -> Void = {}

    /// Guest RAM is counted by the daemon (``Supervisor``) against its total before the worker starts.
    init(policy: PluginPolicy, quit: @escaping @Sendable () -> Void) {
        self.policy = policy
        self.quit = quit
    }

    func publish(_ name: String, data: [String: JSONValue]) {
        consoleSink?.flush()
        eventBus?.publish(name, data: data)
    }

    var tainted: Bool {
        lock.lock(); defer { lock.unlock() }
        return machines.values.contains { $0.plugins.tainted }
    }

    func machine(_ id: String) throws(ControlError) -> ManagedMachine {
        lock.lock(); defer { lock.unlock() }
        guard let m = machines[id] else {
            throw ControlError.deviceNotFound("no machine '\(id)'; query-machines lists them, machine-create makes one")
        }
        return m
    }

    var allMachines: [ManagedMachine] {
        lock.lock(); defer { lock.unlock() }
        return order.compactMap { machines[$0] }
    }

    var statusLine: String {
        let all = allMachines
        let running = all.filter { $0.machine.state == .running }.count
        let plugins = all.reduce(0) { $0 + $1.plugins.loaded.count }
        return "\(all.count) machines (\(running) running), \(plugins) plugins loaded" + (tainted ? ", tainted" : "")
    }

    // MARK: machines

    private func reserve(_ id: String) -> Bool {
        lock.withLock {
            if order.contains(id) { return false }
            order.append(id)
            return true
        }
    }

    private func release(_ id: String) {
        lock.withLock {
            machines.removeValue(forKey: id)
            order.removeAll { $0 == id }
        }
    }

    private func insert(_ managed: ManagedMachine) {
        lock.withLock { machines[managed.id] = managed }
    }

    @discardableResult
    func createMachine(_ spec: MachineSpec) async throws -> ManagedMachine {
        guard MachineSpec.validID(spec.id) else {
            throw ControlError.generic("machine id '\(spec.id)' must be 1-64 letters, digits, '-', '_' or '.'")
        }
        // Reserve the id while the image loads, so two clients cannot create the same machine.
        guard reserve(spec.id) else {
            throw ControlError.generic("machine '\(spec.id)' already exists; pick another id or machine-destroy it first")
        }
        var created: ManagedMachine? = nil
        defer { if created == nil { release(spec.id) } }
        let image: GuestImage
        do { image = try spec.guestImage() } catch { throw ControlError.generic("\(error)") }
        // The console closure must not own the machine that owns the console (a cycle would keep every destroyed
        // machine's RAM alive): it reaches the managed machine weakly.
        let forwarder = ConsoleForwarder()
        let console = Console { bytes in forwarder.target?.consoleOutput(bytes) }
        var configuration = MachineConfiguration(cpus: spec.cpus, ramSize: spec.memory)
        configuration.semihostingRoot = nil
        spec.applyDevices(to: &configuration)
        let machine: Machine
        do {
            machine = try Machine(id: spec.id, configuration: configuration, console: console)
            machine.board.virtio.onDeviceError { [logger = self.logger] in
                logger.warning("machine \(spec.id): \($0)", metadata: ["MACHINE_ID": .string(spec.id)])
            }
            try machine.load(image)
        } catch {
            throw ControlError.generic("\(error)")
        }
        let logger = self.logger
        let host = PluginHost(machine: machine, policy: policy) { message, fields in
            var metadata: Logger.Metadata = [:]
            for (k, v) in fields { metadata[k] = .string(v) }
            logger.info("\(message)", metadata: metadata)
        }
        let managed = ManagedMachine(id: spec.id, machine: machine, plugins: host, imagePath: spec.image)
        managed.consoleSink = consoleSink
        forwarder.target = managed
        machine.observe(finish: { [weak self, weak managed] state in
            guard let self, let managed else { return }
            switch state {
            case .exited(let code):
                self.publish("MACHINE_EXIT", data: ["id": .string(managed.id), "exit_code": .int(Int(code))])
            case .failed(let why):
                self.publish("MACHINE_EXIT", data: ["id": .string(managed.id), "error": .string(why)])
            default: break
            }
            self.statusChanged()
        })
        machine.observe(debugStop: { [weak self, weak machine] event in
            guard let machine, event.cpu >= 0, event.cpu < machine.vcpus.count else { return }
            self?.publish("MACHINE_STOP", data: ["id": .string(spec.id), "reason": .string("debug"),
                                                        "cpu": .int(event.cpu), "pc": .string(String(format: "0x%llx", machine.vcpus[event.cpu].state.pc))])
        })
        for p in spec.plugins {
            do {
                // Off Swift's cooperative pool: a plugin's install may take as long as it likes.
                let info = try await offload { try host.load(path: p.path, arguments: p.arguments) }
                publishLoaded(info)
            } catch {
                throw ControlError.generic("\(error)")
            }
        }
        let inherited: Int32? = lock.withLock { inheritedGDBSockets.removeValue(forKey: spec.id) }
        var gdbEndpoint: GDBEndpoint? = inherited.map { .adopted(descriptor: $0) }
        if gdbEndpoint == nil, let text = spec.gdb {
            do { gdbEndpoint = try GDBEndpoint(parsing: text) } catch {
                _ = try? await offload { managed.plugins.unloadAll() }
                throw ControlError.generic("gdb endpoint: \(error)")
            }
        }
        if let endpoint = gdbEndpoint {
            do { try await startGDB(managed, endpoint: endpoint) } catch {
                _ = try? await offload { managed.plugins.unloadAll() }
                throw error
            }
        }
        insert(managed)
        created = managed
        machine.start(paused: spec.paused)
        logger.info("created machine \(spec.id) from \(spec.image) (\(spec.cpus) vCPUs, \(spec.memory >> 20) MiB)", metadata: ["MACHINE_ID": .string(spec.id)])
        publish("MACHINE_CREATED", data: ["id": .string(spec.id), "image": .string(spec.image), "cpus": .int(spec.cpus),
                                                 "paused": .bool(spec.paused)])
        if spec.paused {
            publish("MACHINE_STOP", data: ["id": .string(spec.id), "reason": .string("paused")])
        }
        statusChanged()
        return managed
    }

    /// How long machine-destroy waits for a plugin's install (which runs with every vCPU parked) to return before
    /// it gives up on it: the machine leaves the daemon's table at once, and its resources are released when the
    /// install returns, if it ever does.
    static let installWaitSeconds: TimeInterval = 5

    func destroyMachine(_ id: String) async throws -> [(PluginInfo, String)] {
        let managed = try machine(id)
        release(id)
        if let installing = managed.plugins.installing {
            let finished = try await offload { managed.plugins.waitForInstall(timeout: Self.installWaitSeconds) }
            if !finished {
                logger.error("machine \(id): plugin \(installing) has been installing for more than \(Self.installWaitSeconds) s; the machine is removed, and its memory is released when the install returns",
                             metadata: ["MACHINE_ID": .string(id), "PLUGIN_PATH": .string(installing)])
                Thread.detachNewThread { [self] in
                    _ = managed.plugins.waitForInstall(timeout: .infinity)
                    let semaphore = DispatchSemaphore(value: 0)
                    Task { _ = await self.stopAndRelease(managed); semaphore.signal() }
                    semaphore.wait()
                }
                publish("MACHINE_DESTROYED", data: ["id": .string(id), "pending_plugin_install": .string(installing)])
                statusChanged()
                throw ControlError.generic("machine '\(id)' is destroyed, but plugin \(installing) is still installing after \(Int(Self.installWaitSeconds)) s, so its memory is freed only when that install returns")
            }
        }
        let reports = await stopAndRelease(managed)
        publish("MACHINE_DESTROYED", data: ["id": .string(id)])
        statusChanged()
        return reports
    }

    /// Stops a machine's vCPUs, unloads its plugins (their final reports are published), closes its gdb endpoint
    /// and console, and returns its RAM to the daemon's budget. Used by machine-destroy and by daemon shutdown.
    /// The blocking parts run on threads of their own, never on Swift's cooperative pool.
    func stopAndRelease(_ managed: ManagedMachine) async -> [(PluginInfo, String)] {
        let reports = (try? await offload { () -> [(PluginInfo, String)] in
            managed.machine.pause(reason: "shutdown")
            return managed.plugins.unloadAll()
        }) ?? []
        for (info, output) in reports {
            logger.info("plugin \(info.name) (id \(info.id)) final report:\n\(output)",
                        metadata: ["PLUGIN_PATH": .string(info.path), "MACHINE_ID": .string(managed.id)])
            publish("PLUGIN_UNLOADED", data: ["machine": .string(managed.id), "id": .int(Int(info.id)),
                                                     "name": .string(info.name), "report": .string(output)])
        }
        if let server = managed.gdbServer {
            await server.stop()
            managed.gdbServer = nil
            managed.gdbEndpoint = nil
        }
        _ = try? await offload { managed.machine.shutdown() }
        // The gdb adapter hooks the machine's stop callbacks; drop it so nothing refers back to the machine.
        managed.gdbAdapter = nil
        return reports
    }

    func startGDB(_ managed: ManagedMachine, endpoint: GDBEndpoint) async throws {
        if managed.gdbServer != nil {
            throw ControlError.generic("machine '\(managed.id)' already has a gdb endpoint (\(managed.gdbEndpoint ?? "?")); gdb-close it first")
        }
        let adapter = managed.gdbAdapter ?? GDBAdapter(machine: managed.machine, plugins: managed.plugins)
        managed.gdbAdapter = adapter
        let id = managed.id
        let logger = self.logger
        let server = GDBServer(endpoint: endpoint, target: adapter, onEvent: { event in
            switch event {
            case .clientConnected(let peer):
                logger.info("gdb connected to \(id) from \(peer)", metadata: ["MACHINE_ID": .string(id), "GDB_PEER": .string(peer)])
                self.publish("GDB_CONNECTED", data: ["id": .string(id), "peer": .string(peer)])
            case .clientDisconnected(let peer, _):
                logger.info("gdb disconnected from \(id) (\(peer))", metadata: ["MACHINE_ID": .string(id), "GDB_PEER": .string(peer)])
                self.publish("GDB_DISCONNECTED", data: ["id": .string(id), "peer": .string(peer)])
            default:
                logger.info("\(event)", metadata: ["MACHINE_ID": .string(id)])
            }
        })
        do { try await server.start() } catch { throw ControlError.generic("\(error)") }
        managed.gdbServer = server
        managed.gdbEndpoint = endpoint.description
    }

    func publishLoaded(_ info: PluginInfo) {
        publish("PLUGIN_LOADED", data: ["machine": .string(info.machineID), "id": .int(Int(info.id)), "name": .string(info.name),
                                               "path": .string(info.path), "license": .string(info.license),
                                               "compatible": .bool(info.gplCompatible)])
        statusChanged()
    }

    func describe(_ m: ManagedMachine) -> JSONValue {
        consoleSink?.flush()
        let installing = m.plugins.installing
        var object: [String: JSONValue] = [
            "id": .string(m.id), "image": .string(m.imagePath), "cpus": .int(m.machine.vcpus.count),
            "memory": .int(Int(m.machine.memory.ramSize)),
            // While a plugin installs, every vCPU is parked: the machine is not running, whatever it was doing.
            "state": .string(installing == nil ? m.machine.state.name : "installing-plugin"),
            "instructions": .int(Int(truncatingIfNeeded: m.machine.instructionsExecuted)),
            "plugins": .int(m.plugins.loaded.count),
            "tainted": .bool(m.plugins.tainted),
            "uptime": .double(Date().timeIntervalSince(m.createdAt)),
            "engine": .string(m.machine.configuration.engine.rawValue),
        ]
        switch m.machine.state {
        case .exited(let code): object["exit_code"] = .int(Int(code))
        case .failed(let why): object["error"] = .string(why)
        case .stopped(let why): object["stop_reason"] = .string(why)
        default: break
        }
        if let gdb = m.gdbEndpoint { object["gdb"] = .string(gdb) }
        if let installing { object["installing_plugin"] = .string(installing) }
        return .object(object)
    }

    static func describe(_ info: PluginInfo) -> JSONValue {
        .object(["id": .int(Int(info.id)), "name": .string(info.name), "path": .string(info.path), "machine": .string(info.machineID),
                 "license": .string(info.license), "gpl_compatible": .bool(info.gplCompatible), "sha256": .string(info.sha256),
                 "args": .array(info.arguments.map { .string($0) })])
    }
}

/// Lets a machine's console reach its managed machine without owning it.
final class ConsoleForwarder: @unchecked Sendable {
    weak var target: ManagedMachine?
}
