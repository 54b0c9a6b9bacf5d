import CSandbox
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
    /// Where each worker listens (`<id>.sock`), so that a daemon started after this one died re-adopts it.
    var runtimeDirectory: String?
    /// Set by `quit keep_machines=true`: stopping leaves the workers running for the next daemon.
    var keepMachinesOnStop: Bool {
        get { lock.withLock { keepMachines } }
        set { lock.withLock { keepMachines = newValue } }
    }
    private var keepMachines = false
    /// The machines a stop is stopping (no longer in the table), for ``killAllWorkers()``.
    private var stopping: [WorkerMachine] = []

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
        for file in spec.files { arguments += ["--image", file] }
        arguments += spec.driveSandboxArguments
        for directory in policy.trustedDirectories ?? [] { arguments += ["--plugin-dir", directory] }
        if policy.allowIncompatibleLicenses { arguments.append("--allow-incompatible-plugins") }
        // A gdb socket systemd passed for this machine id stays the daemon's: each worker that serves the machine
        // (the first, one restarted after a crash, one for a machine created again under the same id) gets it
        // over its command socket (SCM_RIGHTS) before anything else is said there.
        let activatedGDB: Int32? = lock.withLock { inheritedGDBSockets[spec.id] }
        if activatedGDB != nil { arguments.append("--gdb-socket") }
        if let socket = workerSocket(spec.id) { arguments += ["--socket", socket] }
        let spawned: (WorkerProcess, commands: Int32, queries: Int32)
        do { spawned = try WorkerProcess.spawn(arguments: arguments) } catch {
            throw ControlError.generic("\(error)")
        }
        let process = spawned.0
        let id = spec.id
        /// Ends a worker that has not been spoken to yet.
        func abandon() async {
            [spawned.commands, spawned.queries].forEach { close($0) }
            process.kill()
            _ = await process.reap(grace: 0)
        }
        if let activatedGDB {
            let sent = emud_send_descriptor(spawned.commands, activatedGDB)
            if sent != 0 {
                await abandon()
                throw ControlError.generic("machine '\(id)': cannot hand its gdb socket to the worker: \(String(cString: strerror(-sent)))")
            }
        }
        if let cgroups {
            do { try cgroups.place(pid: process.pid, machine: id, memoryMax: spec.memoryLimit, cpuWeight: spec.cpuWeight) } catch {
                await abandon()
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
        // For a daemon that re-adopts the worker: the parts of the description only the daemon uses.
        _ = try? await commands.execute("x-worker-remember", arguments: ["description": .object(spec.fullDescription)])
        lock.withLock { machines[id] = managed }
        // Only now, with the machine in the table: a client that sees MACHINE_CREATED finds it in query-machines.
        relay.activate(self, managed)
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
        removeWorkerSocket(m.id)
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

    func workerSocket(_ id: String) -> String? {
        runtimeDirectory.map { ($0 as NSString).appendingPathComponent("\(id).sock") }
    }

    /// Removes a dead worker's socket file (a live worker removes its own).
    private func removeWorkerSocket(_ id: String) {
        guard let path = workerSocket(id) else { return }
        var info = stat()
        if lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK { unlink(path) }
    }

    /// Finds the workers an earlier daemon left running (it died, or quit with `keep_machines`) by their sockets in
    /// the runtime directory, and takes them over: their machines run on, with their plugins, gdb endpoints,
    /// uptime and instruction counts; the console ring starts empty. A socket nobody answers on is removed.
    func adoptWorkers() async {
        guard let directory = runtimeDirectory,
              let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names.sorted() where name.hasSuffix(".sock") {
            let id = String(name.dropLast(5))
            guard MachineSpec.validID(id), let path = workerSocket(id) else { continue }
            do {
                try await adopt(id: id, path: path)
            } catch {
                logger.warning("machine \(id): cannot re-adopt the worker at \(path): \(error)", metadata: ["MACHINE_ID": .string(id)])
                removeWorkerSocket(id)
            }
        }
    }

    private func adopt(id: String, path: String) async throws {
        let relay = EventRelay()
        let queries = try await ControlClient.connect(unixSocketPath: path, greetingTimeout: .seconds(2),
                                                      eventLoopGroup: eventLoopGroup, onEvent: { _ in })
        let info: JSONValue
        let spec: MachineSpec
        do {
            info = try await queries.execute("x-worker-info")
            guard let description = info["description"]?.objectValue else {
                throw DaemonError.generic("the worker does not know its machine's description")
            }
            spec = try MachineSpec(decoding: description, context: "re-adopted machine \(id)")
            guard spec.id == id, let pid = info["pid"]?.intValue, let pid32 = Int32(exactly: pid), pid32 > 1 else {
                throw DaemonError.generic("the worker describes another machine")
            }
            // The daemon may kill this pid later: it must be that machine's worker, not a process a compromised
            // worker named.
            let command = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid32)/cmdline"))) ?? Data()
            let words = command.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard words.dropFirst().first == "worker", let flag = words.firstIndex(of: "--machine"),
                  flag + 1 < words.count, words[flag + 1] == id else {
                throw DaemonError.generic("process \(pid32) is not the worker of machine \(id)")
            }
        } catch {
            await queries.close()
            throw error
        }
        guard reserve(id) else {
            await queries.close()
            throw DaemonError.generic("a machine '\(id)' exists already")
        }
        let pid = pid_t(info["pid"]?.intValue ?? 0)
        let commands: ControlClient
        do {
            commands = try await ControlClient.connect(unixSocketPath: path, greetingTimeout: .seconds(2),
                                                       eventLoopGroup: eventLoopGroup, onEvent: { relay.handle($0) })
        } catch {
            await queries.close()
            release(id)
            throw error
        }
        // Its RAM is in use whatever the budget says: counted, and a warning if it goes over.
        if (try? reserveGuestMemory(spec.memory, for: id)) == nil {
            lock.withLock { guestMemoryInUse += spec.memory }
            logger.warning("re-adopted machine \(id) takes guest RAM beyond max_guest_memory", metadata: ["MACHINE_ID": .string(id)])
        }
        let console = ConsoleSinks(target: spec.console)
        do { try await console.open(eventLoopGroup: eventLoopGroup) } catch {
            logger.warning("machine \(id): console \(spec.console) not reopened: \(error)", metadata: ["MACHINE_ID": .string(id)])
        }
        let managed = WorkerMachine(spec: spec, console: console, process: .adopting(pid: pid), commands: commands,
                                    queries: queries, restarts: 0)
        console.input = { [weak managed] bytes in
            _ = try? await managed?.commands.execute("console-input", arguments: ["machine": .string(id),
                                                                                 "data": .string(Data(bytes).base64EncodedString())])
        }
        lock.withLock { machines[id] = managed }
        relay.activate(self, managed)
        _ = await describe(managed)
        Task { await self.watch(managed) }
        logger.info("re-adopted machine \(id) (worker \(pid))", metadata: ["MACHINE_ID": .string(id)])
        publish("MACHINE_ADOPTED", data: ["id": .string(id), "worker_pid": .int(Int(pid))])
        statusChanged()
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
        case .failure(let error) where !(error is TimedOut):
            publish("MACHINE_DESTROYED", data: ["id": .string(id)])
            throw ControlError.generic("machine '\(id)' is destroyed, but its worker hung up before answering (\(error)), so plugins' final reports are lost")
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
        cgroups?.outOfMemoryKills(m.id) ?? 0
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

    /// Kills every worker at once: the daemon's stop took too long, and it must not leave machines behind.
    func killAllWorkers() {
        guard !keepMachinesOnStop else { return }
        for m in allMachines + lock.withLock({ stopping }) {
            m.markLeaving()
            m.process.kill()
            removeWorkerSocket(m.id)
        }
    }

    /// Stops every machine, all at once (daemon shutdown): plugins' final reports reach clients as events first.
    func stopAll() async {
        let all = allMachines
        lock.withLock { stopping = all }
        await withTaskGroup(of: Void.self) { group in
            for m in all { group.addTask { await self.stop(m) } }
        }
    }

    private func stop(_ m: WorkerMachine) async {
        release(m.id)
        m.markLeaving()
        if keepMachinesOnStop && m.crashReport == nil {
            await m.commands.close()
            await m.queries.close()
            await m.console.close()
            logger.info("machine \(m.id) left running in worker \(m.process.pid) for the next daemon", metadata: ["MACHINE_ID": .string(m.id)])
            return
        }
        if m.crashReport == nil {
            _ = await answer(from: m, "machine-destroy", ["machine": .string(m.id)], within: Self.destroyAnswerSeconds)
        }
        await stopWorker(m)
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
    private var target: (Supervisor, WorkerMachine)?
    /// Events that arrive before the machine is in the daemon's table (plugin loads and MACHINE_CREATED during
    /// creation) wait here, at most this many; they go out in order once it is.
    private var early: [ControlEvent] = []
    private var earlyDropped = 0
    static let maximumEarlyEvents = 4096
    static let stateEvents: Set<String> = ["MACHINE_EXIT", "MACHINE_STOP", "MACHINE_RESUME", "PLUGIN_LOADED", "PLUGIN_UNLOADED"]

    /// Delivers the events held so far, then every event as it comes. Events arriving meanwhile keep their order.
    func activate(_ supervisor: Supervisor, _ machine: WorkerMachine) {
        while true {
            let (batch, dropped) = lock.withLock { () -> ([ControlEvent], Int) in
                if early.isEmpty {
                    target = (supervisor, machine)
                    return ([], earlyDropped)
                }
                defer { early = [] }
                return (early, 0)
            }
            for event in batch { deliver(event, supervisor, machine) }
            if batch.isEmpty {
                if dropped > 0 {
                    supervisor.logger.warning("machine \(machine.id): \(dropped) events from its worker were dropped during creation",
                                              metadata: ["MACHINE_ID": .string(machine.id)])
                }
                return
            }
        }
    }

    func handle(_ event: ControlEvent) {
        let current = lock.withLock { () -> (Supervisor, WorkerMachine)? in
            if let target { return target }
            if early.count < Self.maximumEarlyEvents { early.append(event) } else { earlyDropped += 1 }
            return nil
        }
        guard let (supervisor, machine) = current else { return }
        deliver(event, supervisor, machine)
    }

    /// Events only the daemon may announce: a worker cannot report its own crash or a daemon's shutdown.
    static let daemonEvents: Set<String> = ["MACHINE_CRASHED", "MACHINE_ADOPTED", "MACHINE_RESTARTED", "SHUTDOWN"]

    private func deliver(_ event: ControlEvent, _ supervisor: Supervisor, _ machine: WorkerMachine) {
        if Self.daemonEvents.contains(event.name) {
            supervisor.logger.warning("worker of machine \(machine.id) sent \(event.name), which only the daemon sends; dropped",
                                      metadata: ["MACHINE_ID": .string(machine.id)])
            return
        }
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
