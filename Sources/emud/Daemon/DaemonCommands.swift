import Control
import Foundation
import GDBStub
import Machine
import NIOCore
import NIOPosix
import Plugins

/// Threads for blocking machine work (waiting for vCPUs to park, a plugin's install, a guest's exit). A worker
/// hosts one machine and runs its commands one at a time, so a few threads cover the command in progress, a
/// query answered beside it, and a destroy's wait for a stuck install.
let blockingWorkPool: NIOThreadPool = {
    let pool = NIOThreadPool(numberOfThreads: 6)
    pool.start()
    return pool
}()

/// Runs blocking machine work on ``blockingWorkPool``, never on Swift concurrency's small cooperative pool, so
/// one slow command cannot hold up the others.
func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await blockingWorkPool.runIfActive(body)
}

extension PluginError {
    var controlError: ControlError {
        switch self {
        case .unknownPlugin: return .deviceNotFound(description)
        default: return .generic(description)
        }
    }
}

extension Daemon {
    /// A worker's commands about its machine: what the daemon forwards (``Supervisor/commands(testHooks:controlLoop:)``),
    /// with the daemon's names and arguments.
    func commands() -> ControlCommandRegistry {
        var r = ControlCommandRegistry()

        r.register("query-status") { _, _ in
            let all = self.allMachines
            return .object([
                "uptime": .double(Date().timeIntervalSince(self.startedAt)),
                "machines": .int(all.count),
                "running": .int(all.filter { $0.machine.state == .running }.count),
                "tainted": .bool(self.tainted),
                "taint_flags": .array(self.tainted ? [.string("incompatible-plugin-license")] : []),
                "status": .string(self.statusLine),
            ])
        }

        r.register("machine-create", parameters: MachineSpec.keys) { args, _ in
            let spec: MachineSpec
            do { spec = try MachineSpec(decoding: args.values, context: "machine-create") } catch let problem as MachineSpec.Problem {
                throw ControlError.generic(problem.description)
            }
            let managed = try await self.createMachine(spec)
            return self.describe(managed)
        }

        r.register("machine-destroy", parameters: ["machine"]) { args, _ in
            let reports = try await self.destroyMachine(try args.string("machine"))
            return .object(["plugins": .array(reports.map { .object(["id": .int(Int($0.0.id)), "report": .string($0.1)]) })])
        }

        r.register("query-machines") { _, _ in
            .array(self.allMachines.map { self.describe($0) })
        }

        r.register("machine-stop", parameters: ["machine"]) { args, _ in
            let m = try self.machine(try args.string("machine"))
            switch m.machine.state {
            case .exited, .failed: throw ControlError.generic("machine '\(m.id)' has ended (\(m.machine.state.name)); there is nothing to stop")
            case .stopped: return self.describe(m)
            default: break
            }
            try await offload { m.machine.pause(reason: "paused") }
            self.publish("MACHINE_STOP", data: ["id": .string(m.id), "reason": .string("paused")])
            self.statusChanged()
            return self.describe(m)
        }

        r.register("machine-cont", parameters: ["machine"]) { args, _ in
            let m = try self.machine(try args.string("machine"))
            switch m.machine.state {
            case .exited, .failed: throw ControlError.generic("machine '\(m.id)' has ended (\(m.machine.state.name)); destroy it and create it again")
            case .running: return self.describe(m)
            default: break
            }
            m.machine.resume()
            self.publish("MACHINE_RESUME", data: ["id": .string(m.id)])
            self.statusChanged()
            return self.describe(m)
        }

        r.register("machine-reset", parameters: ["machine"]) { args, _ in
            let m = try self.machine(try args.string("machine"))
            switch m.machine.state {
            case .exited, .failed:
                throw ControlError.generic("machine '\(m.id)' has ended; destroy it and create it again")
            default: break
            }
            try await offload { m.machine.reset() }
            return self.describe(m)
        }

        r.register("machine-wait", parameters: ["machine", "timeout"]) { args, _ in
            let m = try self.machine(try args.string("machine"))
            let timeout = TimeInterval(try args.optionalInt("timeout", in: 0...86_400) ?? 30)
            let state = try await offload { m.machine.waitUntilNotRunning(timeout: timeout) }
            var out = self.describe(m).objectValue ?? [:]
            out["timed_out"] = .bool(state == nil)
            return .object(out)
        }

        r.register("console-read", parameters: ["machine", "from"]) { args, _ in
            let m = try self.machine(try args.string("machine"))
            let from = try args.optionalInt("from", in: 0...Int.max).map { UInt64($0) }
            let (bytes, next, dropped) = m.ring.read(from: from)
            return .object(["data": .string(String(decoding: bytes, as: UTF8.self)), "next": .int(Int(next)), "dropped": .int(Int(dropped))])
        }

        r.register("console-write", parameters: ["machine", "data"]) { args, _ in
            let m = try self.machine(try args.string("machine"))
            let data = Array(try args.string("data").utf8)
            m.machine.board.uart.receive(data)
            m.machine.board.console.feed(data)
            return .object(["written": .int(data.count)])
        }

        // The daemon's side of a console socket: raw bytes a client typed, base64 in the control protocol.
        r.register("console-input", parameters: ["machine", "data"]) { args, _ in
            let m = try self.machine(try args.string("machine"))
            guard let data = Data(base64Encoded: try args.string("data")) else {
                throw ControlError.generic("console-input: 'data' must be base64")
            }
            m.machine.board.uart.receive(Array(data))
            m.machine.board.console.feed(Array(data))
            return .object(["written": .int(data.count)])
        }

        r.register("gdb-listen", parameters: ["machine", "endpoint"]) { args, _ in
            let m = try self.machine(try args.string("machine"))
            let endpoint: GDBEndpoint
            do { endpoint = try GDBEndpoint(parsing: try args.string("endpoint")) } catch let e as ControlError { throw e } catch {
                throw ControlError.generic("gdb-listen: \(error)")
            }
            try await self.startGDB(m, endpoint: endpoint)
            return .object(["id": .string(m.id), "endpoint": .string(m.gdbEndpoint ?? "")])
        }

        r.register("gdb-close", parameters: ["machine"]) { args, _ in
            let m = try self.machine(try args.string("machine"))
            guard let server = m.gdbServer else { throw ControlError.generic("machine '\(m.id)' has no gdb endpoint") }
            await server.stop()
            m.gdbServer = nil
            m.gdbEndpoint = nil
            return .object([:])
        }

        r.register("plugin-load", parameters: ["machine", "path", "args"]) { args, _ in
            let m = try self.machine(try args.string("machine"))
            let path = try args.string("path")
            let parsedArguments = try PluginSpec.arguments(args["args"], context: "plugin-load")
            let arguments = parsedArguments
            let host = m.plugins
            let info: PluginInfo
            do { info = try await offload { try host.load(path: path, arguments: arguments) } } catch let e as PluginError { throw e.controlError }
            self.publishLoaded(info)
            return Daemon.describe(info)
        }

        r.register("plugin-unload", parameters: ["machine", "id"]) { args, _ in
            let m = try self.machine(try args.string("machine"))
            let id = UInt64(try args.int("id", in: 1...Int.max))
            let host = m.plugins
            let name = host.loaded.first { $0.id == id }?.name ?? ""
            let output: String
            do { output = try await offload { try host.unload(id: id) } } catch let e as PluginError { throw e.controlError }
            self.publish("PLUGIN_UNLOADED", data: ["machine": .string(m.id), "id": .int(Int(id)), "name": .string(name), "report": .string(output)])
            self.statusChanged()
            return .object(["id": .int(Int(id)), "report": .string(output)])
        }

        r.register("query-plugins", parameters: ["machine"]) { args, _ in
            let list: [ManagedMachine]
            if let id = try args.optionalString("machine") { list = [try self.machine(id)] } else { list = self.allMachines }
            return .array(list.flatMap { $0.plugins.loaded.map { Daemon.describe($0) } })
        }

        r.register("plugin-query", parameters: ["machine", "id"]) { args, _ in
            let m = try self.machine(try args.string("machine"))
            let id = UInt64(try args.int("id", in: 1...Int.max))
            let host = m.plugins
            let result: (report: String?, output: String)
            do { result = try await offload { try host.query(id: id) } } catch let e as PluginError { throw e.controlError }
            var report: JSONValue = .null
            if let text = result.report {
                report = (try? JSONValue(parsing: text)) ?? .string(text)
            }
            return .object(["id": .int(Int(id)), "report": report, "output": .string(result.output)])
        }

        r.register("tb-flush", parameters: ["machine"]) { args, _ in
            let m = try self.machine(try args.string("machine"))
            try await offload { m.machine.tbFlush() }
            return .object([:])
        }

        r.register("quit") { _, _ in
            self.quit()
            return .object([:])
        }

        return r
    }
}
