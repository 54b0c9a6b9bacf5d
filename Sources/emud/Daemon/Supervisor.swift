import Control
import Foundation
import Logging
import NIOCore
import NIOPosix
import Plugins

/// One machine as the daemon sees it: a worker process (``WorkerCommand``) hosting it, two control connections
/// to that worker, and the console the daemon keeps. Thread-safe.
final class WorkerMachine: @unchecked Sendable {
    let id: String
    let spec: MachineSpec
    let console: ConsoleSinks
    let process: WorkerProcess
    /// Commands, and the events the daemon relays; one command at a time.
    let commands: ControlClient
    /// Queries answered while a long command (a plugin's install) holds `commands`.
    let queries: ControlClient
    let createdAt = Date()
    /// How many times this machine was restarted after a crash (`on_crash: restart`).
    let restarts: Int
    private let lock = NSLock()
    private var crash: [String: JSONValue]?
    private var leaving = false
    private var last: [String: JSONValue] = [:]
    private var guestMemory: UInt64

    init(spec: MachineSpec, console: ConsoleSinks, process: WorkerProcess, commands: ControlClient, queries: ControlClient,
         restarts: Int) {
        self.id = spec.id
        self.spec = spec
        self.console = console
        self.process = process
        self.commands = commands
        self.queries = queries
        self.restarts = restarts
        self.guestMemory = spec.memory
    }

    /// The crash report once the worker died unasked, else nil.
    var crashReport: [String: JSONValue]? { lock.withLock { crash } }

    /// Set when the daemon ends the worker itself (machine-destroy, shutdown): its exit is no crash.
    func markLeaving() { lock.withLock { leaving = true } }

    /// Records a crash unless the daemon was ending the worker; returns whether it did.
    func recordCrash(_ report: [String: JSONValue]) -> Bool {
        lock.withLock {
            if leaving { return false }
            crash = report
            return true
        }
    }

    /// The worker's last description of the machine, kept for when the worker is gone.
    var lastDescription: [String: JSONValue] { lock.withLock { last } }

    func remember(_ description: [String: JSONValue]) { lock.withLock { last = description } }

    /// The RAM to return to the daemon's budget; zero after the first call.
    func takeGuestMemory() -> UInt64 {
        lock.withLock {
            defer { guestMemory = 0 }
            return guestMemory
        }
    }
}

/// The daemon's machines, each in a worker process of its own: a crash, a runaway guest or a bad plugin costs
/// one machine. Starts, watches and reaps the workers, relays their events, keeps their consoles, and answers
/// the control commands, forwarding those about one machine to its worker.
///
/// Commands from many control clients arrive concurrently; `lock` guards the machine table.
final class Supervisor: @unchecked Sendable {
    let logger = Logger(label: "emud")
    var eventBus: ControlEventBus?
    let startedAt = Date()
    let policy: PluginPolicy
    let logTarget: LogTarget
    let quit: @Sendable () -> Void
    /// Listening sockets systemd passed for gdb endpoints, by machine id (`gdb-<machine>`), taken once.
    var inheritedGDBSockets: [String: Int32] = [:]
    /// Called whenever something that `STATUS=` reports changes.
    var statusChanged: @Sendable () -> Void = {}
    let guestMemoryLimit: UInt64
    /// Loops for the workers' connections and the console sockets.
    let eventLoopGroup: any EventLoopGroup
    /// Cgroups for workers, when systemd delegated the daemon its cgroup.
    var cgroups: WorkerCgroups?

    private let lock = NSLock()
    private var machines: [String: WorkerMachine] = [:]
    private var order: [String] = []
    private var guestMemoryInUse: UInt64 = 0

    /// How long machine-destroy waits for a worker's answer (a plugin's install runs with every vCPU parked and
    /// may never return) before it kills the worker.
    static let destroyAnswerSeconds: TimeInterval = 6
    /// A machine restarted after a crash that crashes again within this many seconds of starting, this many
    /// times in a row, is kept as crashed instead of being restarted again.
    static let restartWindowSeconds: TimeInterval = 10
    static let maximumQuickRestarts = 3

    init(policy: PluginPolicy, logTarget: LogTarget, guestMemoryLimit: UInt64, eventLoopGroup: any EventLoopGroup,
         quit: @escaping @Sendable () -> Void) {
        self.policy = policy
        self.logTarget = logTarget
        self.guestMemoryLimit = guestMemoryLimit
        self.eventLoopGroup = eventLoopGroup
        self.quit = quit
    }

    func publish(_ name: String, data: [String: JSONValue]) {
        eventBus?.publish(name, data: data)
    }

    func machine(_ id: String) throws(ControlError) -> WorkerMachine {
        lock.lock(); defer { lock.unlock() }
        guard let m = machines[id] else {
            throw ControlError.deviceNotFound("no machine '\(id)'; query-machines lists them, machine-create makes one")
        }
        return m
    }

    var allMachines: [WorkerMachine] {
        lock.withLock { order.compactMap { machines[$0] } }
    }

    /// From the workers' last answers: no worker is asked, so a busy one cannot hold up systemd's status.
    var statusLine: String {
        let all = allMachines.map { $0.lastDescription }
        let running = all.filter { $0["state"]?.stringValue == "running" }.count
        let crashed = all.filter { $0["state"]?.stringValue == "crashed" }.count
        let plugins = all.reduce(0) { $0 + ($1["plugins"]?.intValue ?? 0) }
        let tainted = all.contains { $0["tainted"]?.boolValue == true }
        return "\(all.count) machines (\(running) running\(crashed > 0 ? ", \(crashed) crashed" : "")), \(plugins) plugins loaded"
            + (tainted ? ", tainted" : "")
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

    /// Starts a worker for `spec` and creates the machine in it. RAM is counted against the daemon's total
    /// before the worker starts; the console (log file, socket) is opened by the daemon, which keeps it.
    @discardableResult
    func createMachine(_ spec: MachineSpec, restarts: Int = 0) async throws -> JSONValue {
        guard MachineSpec.validID(spec.id) else {
            throw ControlError.generic("machine id '\(spec.id)' must be 1-64 letters, digits, '-', '_' or '.'")
        }
        guard reserve(spec.id) else {
            throw ControlError.generic("machine '\(spec.id)' already exists; pick another id or machine-destroy it first")
        }
        var created = false
        defer { if !created { release(spec.id) } }
        if spec.memoryLimit != nil || spec.cpuWeight != nil, cgroups == nil {
            throw ControlError.generic("machine '\(spec.id)' asks for memory_limit or cpu_weight, but emud has no cgroup of its own to divide; run it under systemd with Delegate=yes (contrib/systemd/emud.service), or leave them out")
        }
        try reserveGuestMemory(spec.memory, for: spec.id)
        var memoryHeld = true
        defer { if memoryHeld { releaseGuestMemory(spec.memory) } }

        let console = ConsoleSinks(target: spec.console)
        do { try await console.open(eventLoopGroup: eventLoopGroup) } catch { throw ControlError.generic("\(error)") }
        var consoleOpen = true
        defer { if consoleOpen { Task { await console.close() } } }

        var arguments = ["worker", "--machine", spec.id, "--log-target", logTarget.rawValue,
                         "--plugin-abi", policy.strictABI ? "strict" : "version",
                         "--address-space-limit", String(WorkerLimits.addressSpace(forGuestMemory: spec.memory)),
                         "--open-files-limit", String(WorkerLimits.openFiles)]
        for directory in policy.trustedDirectories ?? [] { arguments += ["--plugin-dir", directory] }
        if policy.allowIncompatibleLicenses { arguments.append("--allow-incompatible-plugins") }
        let inherited: Int32? = lock.withLock { inheritedGDBSockets.removeValue(forKey: spec.id) }
        if inherited != nil { arguments += ["--gdb-fd", String(WorkerCommand.gdbDescriptor)] }
        let spawned: (WorkerProcess, commands: Int32, queries: Int32)
        do { spawned = try WorkerProcess.spawn(arguments: arguments, gdbSocket: inherited) } catch {
            if let inherited { close(inherited) }
            throw ControlError.generic("\(error)")
        }
        if let inherited { close(inherited) }  // the worker has its own copy
        let process = spawned.0
        let id = spec.id
        if let cgroups {
            do { try cgroups.place(pid: process.pid, machine: id, memoryMax: spec.memoryLimit, cpuWeight: spec.cpuWeight) } catch {
                [spawned.commands, spawned.queries].forEach { close($0) }
                process.kill()
                _ = await process.reap(grace: 0)
                cgroups.remove(machine: id)
                throw ControlError.generic("machine '\(id)': \(error)")
            }
        }
        // Events arrive here in the worker's order, before any reply that follows them.
        let relay = EventRelay()
        let commands: ControlClient
        let queries: ControlClient
        do {
            commands = try await ControlClient.connect(connectedSocket: spawned.commands, eventLoopGroup: eventLoopGroup,
                                                       onEvent: { relay.handle($0) })
        } catch {
            close(spawned.queries)
            process.kill()
            _ = await process.reap(grace: 0)
            throw ControlError.generic("machine '\(id)': its worker process did not start: \(error)")
        }
        do {
            queries = try await ControlClient.connect(connectedSocket: spawned.queries, eventLoopGroup: eventLoopGroup,
                                                      onEvent: { _ in })
        } catch {
            await commands.close()
            process.kill()
            _ = await process.reap(grace: 0)
            throw ControlError.generic("machine '\(id)': its worker process did not start: \(error)")
        }
        let managed = WorkerMachine(spec: spec, console: console, process: process, commands: commands, queries: queries,
                                    restarts: restarts)
        relay.target = (self, managed)
        console.input = { [weak managed] bytes in
            _ = try? await managed?.commands.execute("console-input", arguments: ["machine": .string(id),
                                                                                 "data": .string(Data(bytes).base64EncodedString())])
        }
        let reply: JSONValue
        do {
            reply = try await commands.execute("machine-create", arguments: spec.workerDescription)
        } catch {
            managed.markLeaving()
            await commands.close()
            await queries.close()
            _ = await process.reap(grace: 2)
            if let problem = error as? ControlError { throw problem }
            throw ControlError.generic("machine '\(id)': its worker process ended while creating the machine; see the log")
        }
        lock.withLock { machines[id] = managed }
        created = true
        memoryHeld = false
        consoleOpen = false
        var description = reply.objectValue ?? [:]
        managed.remember(description)
        description["worker_pid"] = .int(Int(process.pid))
        Task { await self.watch(managed) }
        statusChanged()
        return .object(description)
    }

    /// Waits for a worker's connection to end; if the daemon did not end it, reports the crash and applies the
    /// machine's `on_crash` policy.
    private func watch(_ m: WorkerMachine) async {
        for await _ in m.commands.events {}
        let ending = await m.process.reap(grace: 2)
        let outOfMemory = outOfMemoryKills(m) > 0
        cgroups?.remove(machine: m.id)
        var report: [String: JSONValue] = [
            "id": .string(m.id), "reason": .string(ending.description), "core_dumped": .bool(ending.coreDumped),
            "core_dump": .string(ending.coreNote), "console": .array(m.console.ring.lastLines(10).map { .string($0) }),
            "pid": .int(Int(m.process.pid)),
        ]
        if let signal = ending.signal {
            report["signal"] = .int(Int(signal))
            report["signal_name"] = .string(ending.signalName ?? "")
        }
        if let code = ending.exitCode { report["exit_code"] = .int(Int(code)) }
        if outOfMemory {
            report["out_of_memory"] = .bool(true)
            report["reason"] = .string("\(ending) after reaching its memory_limit")
        }
        guard m.recordCrash(report) else { return }
        await m.queries.close()
        releaseGuestMemory(m.takeGuestMemory())
        logger.error("machine \(m.id): worker \(m.process.pid) \(ending); \(ending.coreNote)",
                     metadata: ["MACHINE_ID": .string(m.id)])
        publish("MACHINE_CRASHED", data: report)
        statusChanged()
        switch m.spec.onCrash {
        case .keep:
            break
        case .destroy:
            release(m.id)
            await m.console.close()
            publish("MACHINE_DESTROYED", data: ["id": .string(m.id)])
            statusChanged()
        case .restart:
            let quick = Date().timeIntervalSince(m.createdAt) < Self.restartWindowSeconds
            let restarts = quick ? m.restarts + 1 : 0
            if restarts > Self.maximumQuickRestarts {
                logger.error("machine \(m.id) crashed \(restarts) times within \(Int(Self.restartWindowSeconds)) s of starting; keeping it as crashed",
                             metadata: ["MACHINE_ID": .string(m.id)])
                return
            }
            release(m.id)
            await m.console.close()
            do {
                _ = try await createMachine(m.spec, restarts: restarts)
                publish("MACHINE_RESTARTED", data: ["id": .string(m.id), "restarts": .int(restarts)])
            } catch {
                logger.error("machine \(m.id): restart after a crash failed: \(error)", metadata: ["MACHINE_ID": .string(m.id)])
                publish("MACHINE_DESTROYED", data: ["id": .string(m.id), "error": .string("\(error)")])
            }
        }
    }

    /// Removes a machine: its worker unloads the plugins (their final reports come back as events), stops the
    /// machine and exits. A worker that does not answer in time (a plugin's install that never returns) is killed.
    func destroyMachine(_ id: String) async throws -> JSONValue {
        let m = try machine(id)
        release(id)
        if m.crashReport != nil {
            await m.console.close()
            publish("MACHINE_DESTROYED", data: ["id": .string(id)])
            statusChanged()
            return .object(["plugins": .array([])])
        }
        m.markLeaving()
        let installing = m.lastDescription["installing_plugin"]?.stringValue
        let outcome = await answer(from: m, "machine-destroy", ["machine": .string(id)], within: Self.destroyAnswerSeconds)
        await stopWorker(m)
        statusChanged()
        switch outcome {
        case .success(let reply):
            return reply
        case .failure(let error as ControlError):
            throw error
        case .failure:
            let what = installing.map { "plugin \($0) was still installing" } ?? "it did not answer"
            publish("MACHINE_DESTROYED", data: ["id": .string(id), "killed": .bool(true)])
            throw ControlError.generic("machine '\(id)' is destroyed, but \(what) after \(Int(Self.destroyAnswerSeconds)) s, so its worker process was killed (plugins' final reports are lost)")
        }
    }

    /// Closes a worker's connections (it then exits), reaps it, and releases what the daemon held for it.
    private func stopWorker(_ m: WorkerMachine) async {
        await m.commands.close()
        await m.queries.close()
        _ = await m.process.reap(grace: 5)
        cgroups?.remove(machine: m.id)
        await m.console.close()
        releaseGuestMemory(m.takeGuestMemory())
    }

    /// How many times the kernel's OOM killer struck in a machine's cgroup (0 without one).
    private func outOfMemoryKills(_ m: WorkerMachine) -> Int {
        guard let cgroups, let text = try? String(contentsOfFile: cgroups.path(m.id) + "/memory.events", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("oom_kill ") }) else { return 0 }
        return Int(line.dropFirst("oom_kill ".count)) ?? 0
    }

    private struct TimedOut: Error {}

    /// Runs a command on a machine's worker, giving up (and killing the worker) after `seconds`.
    private func answer(from m: WorkerMachine, _ command: String, _ arguments: [String: JSONValue], within seconds: TimeInterval) async -> Result<JSONValue, any Error> {
        await withTaskGroup(of: Result<JSONValue, any Error>.self) { group in
            group.addTask {
                do { return .success(try await m.commands.execute(command, arguments: arguments)) } catch { return .failure(error) }
            }
            group.addTask {
                try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
                return .failure(TimedOut())
            }
            let first = await group.next() ?? .failure(TimedOut())
            if case .failure(let error) = first, error is TimedOut {
                m.process.kill()
                await m.commands.close()
            }
            group.cancelAll()
            return first
        }
    }

    /// Stops every machine in order (daemon shutdown): plugins' final reports reach clients as events first.
    func stopAll() async {
        for m in allMachines {
            release(m.id)
            m.markLeaving()
            if m.crashReport == nil {
                _ = await answer(from: m, "machine-destroy", ["machine": .string(m.id)], within: Self.destroyAnswerSeconds)
            }
            await stopWorker(m)
        }
    }

    // MARK: talking to workers

    /// Forwards a command about one machine to its worker, as the client sent it.
    func forward(_ m: WorkerMachine, _ command: String, _ arguments: [String: JSONValue], query: Bool = false) async throws -> JSONValue {
        if let crash = m.crashReport {
            throw ControlError.generic("machine '\(m.id)' has crashed (\(crash["reason"]?.stringValue ?? "its worker died")); machine-destroy it, or create it with on_crash: restart")
        }
        do {
            return try await (query ? m.queries : m.commands).execute(command, arguments: arguments)
        } catch let error as ControlError {
            throw error
        } catch {
            throw ControlError.generic("machine '\(m.id)': its worker process went away during \(command); query-machines says why")
        }
    }

    /// The machine as query-machines shows it: the worker's answer, or the last one and the crash report.
    func describe(_ m: WorkerMachine) async -> JSONValue {
        if let crash = m.crashReport { return .object(crashedDescription(m, crash)) }
        do {
            let reply = try await m.queries.execute("query-machines")
            if var object = reply.arrayValue?.first?.objectValue {
                m.remember(object)
                object["worker_pid"] = .int(Int(m.process.pid))
                return .object(object)
            }
        } catch {}
        if let crash = m.crashReport { return .object(crashedDescription(m, crash)) }
        var object = m.lastDescription
        object["state"] = .string("unresponsive")
        return .object(object)
    }

    private func crashedDescription(_ m: WorkerMachine, _ crash: [String: JSONValue]) -> [String: JSONValue] {
        var object = m.lastDescription
        object["id"] = .string(m.id)
        object["image"] = .string(m.spec.image)
        object["state"] = .string("crashed")
        object["error"] = crash["reason"]
        object["crash"] = .object(crash)
        object["plugins"] = .int(0)
        object.removeValue(forKey: "gdb")
        object.removeValue(forKey: "installing_plugin")
        return object
    }

    /// Refreshes a machine's cached description after an event that changes it, then updates systemd's status.
    func refresh(_ m: WorkerMachine) {
        Task {
            _ = await describe(m)
            statusChanged()
        }
    }

    // MARK: the guest RAM budget

    func reserveGuestMemory(_ bytes: UInt64, for id: String) throws(ControlError) {
        let (ok, used) = lock.withLock { () -> (Bool, UInt64) in
            let (sum, overflow) = guestMemoryInUse.addingReportingOverflow(bytes)
            guard !overflow, sum <= guestMemoryLimit else { return (false, guestMemoryInUse) }
            guestMemoryInUse = sum
            return (true, sum)
        }
        guard ok else {
            throw ControlError.generic("machine '\(id)' needs \(bytes >> 20) MiB of guest RAM, but \(used >> 20) MiB of the daemon's \(guestMemoryLimit >> 20) MiB limit are in use; destroy a machine, give this one less memory, or raise max_guest_memory")
        }
    }

    func releaseGuestMemory(_ bytes: UInt64) {
        guard bytes > 0 else { return }
        lock.withLock { guestMemoryInUse -= min(bytes, guestMemoryInUse) }
    }
}

/// Routes one worker's events: console output to the machine's console, everything else to the daemon's
/// clients. An event that names another machine than the worker's is dropped: a worker speaks for its own
/// machine only.
final class EventRelay: @unchecked Sendable {
    private let lock = NSLock()
    private var _target: (Supervisor, WorkerMachine)?
    /// Events that arrive before the machine exists (plugin loads during creation) wait here, at most this many.
    private var early: [ControlEvent] = []
    static let maximumEarlyEvents = 1024
    static let stateEvents: Set<String> = ["MACHINE_EXIT", "MACHINE_STOP", "MACHINE_RESUME", "PLUGIN_LOADED", "PLUGIN_UNLOADED"]

    var target: (Supervisor, WorkerMachine)? {
        get { lock.withLock { _target } }
        set {
            let waiting = lock.withLock { () -> [ControlEvent] in
                _target = newValue
                defer { early = [] }
                return early
            }
            for event in waiting { handle(event) }
        }
    }

    func handle(_ event: ControlEvent) {
        let target = lock.withLock { () -> (Supervisor, WorkerMachine)? in
            if _target == nil {
                if early.count < Self.maximumEarlyEvents { early.append(event) }
                return nil
            }
            return _target
        }
        guard let (supervisor, machine) = target else { return }
        for key in ["id", "machine"] {
            if let named = event.data[key]?.stringValue, named != machine.id {
                supervisor.logger.warning("worker of machine \(machine.id) sent \(event.name) about machine '\(named.prefix(80))'; dropped",
                                          metadata: ["MACHINE_ID": .string(machine.id)])
                return
            }
        }
        if event.name == ConsoleBatcher.eventName {
            if let text = event.data["data"]?.stringValue, let bytes = Data(base64Encoded: text) {
                machine.console.output(Array(bytes))
            }
            return
        }
        supervisor.eventBus?.publish(event)
        if Self.stateEvents.contains(event.name) { supervisor.refresh(machine) }
    }
}
