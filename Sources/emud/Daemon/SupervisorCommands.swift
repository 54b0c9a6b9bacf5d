import Control
import Foundation
import NIOCore

extension Supervisor {
    /// The daemon's control commands (README documents them). Commands about one machine are forwarded to its
    /// worker as the client sent them; the daemon answers the rest itself.
    func commands(testHooks: Bool, controlLoop: any EventLoop) -> ControlCommandRegistry {
        var r = ControlCommandRegistry()

        r.register("query-status") { _, _ in
            var all: [JSONValue] = []
            for m in self.allMachines { all.append(await self.describe(m)) }
            let tainted = all.contains { $0["tainted"]?.boolValue == true }
            return .object([
                "uptime": .double(Date().timeIntervalSince(self.startedAt)),
                "machines": .int(all.count),
                "running": .int(all.filter { $0["state"]?.stringValue == "running" }.count),
                "crashed": .int(all.filter { $0["state"]?.stringValue == "crashed" }.count),
                "tainted": .bool(tainted),
                "taint_flags": .array(tainted ? [.string("incompatible-plugin-license")] : []),
                "status": .string(self.statusLine),
            ])
        }

        r.register("machine-create", parameters: MachineSpec.keys) { args, _ in
            let spec: MachineSpec
            do { spec = try MachineSpec(decoding: args.values, context: "machine-create") } catch let problem as MachineSpec.Problem {
                throw ControlError.generic(problem.description)
            }
            return try await self.createMachine(spec)
        }

        r.register("machine-destroy", parameters: ["machine"]) { args, _ in
            try await self.destroyMachine(try args.string("machine"))
        }

        r.register("query-machines") { _, _ in
            var all: [JSONValue] = []
            for m in self.allMachines { all.append(await self.describe(m)) }
            return .array(all)
        }

        // Run control, plugins, gdb, console input: the worker answers, the daemon keeps its status current.
        for (name, parameters) in [("machine-stop", ["machine"]), ("machine-cont", ["machine"]), ("machine-reset", ["machine"]),
                                   ("console-write", ["machine", "data"]), ("gdb-listen", ["machine", "endpoint"]),
                                   ("gdb-close", ["machine"]), ("plugin-load", ["machine", "path", "args"]),
                                   ("plugin-unload", ["machine", "id"]), ("plugin-query", ["machine", "id"]),
                                   ("tb-flush", ["machine"])] {
            r.register(name, parameters: parameters) { args, _ in
                let m = try self.machine(try args.string("machine"))
                let reply = try await self.forward(m, name, args.values)
                if name != "plugin-query" { self.refresh(m) }
                return reply
            }
        }

        r.register("machine-wait", parameters: ["machine", "timeout"]) { args, _ in
            let m = try self.machine(try args.string("machine"))
            let timeout = TimeInterval(try args.optionalInt("timeout", in: 0...86_400) ?? 30)
            // Asked on the query connection, so that a long command on the other one cannot hold the wait up.
            let deadline = Date().addingTimeInterval(timeout)
            var description = await self.describe(m)
            while description["state"]?.stringValue == "running" || description["state"]?.stringValue == "installing-plugin",
                  Date() < deadline {
                try? await Task.sleep(nanoseconds: 10_000_000)
                description = await self.describe(m)
            }
            let ended = description["state"]?.stringValue != "running" && description["state"]?.stringValue != "installing-plugin"
            if ended, m.crashReport == nil {
                // Once more through the command connection: console output the worker sent before its answer has
                // then reached the ring, so console-read after machine-wait sees all of it.
                if let reply = try? await m.commands.execute("query-machines"), let object = reply.arrayValue?.first?.objectValue {
                    m.remember(object)
                    description = .object(object)
                }
            }
            var out = description.objectValue ?? [:]
            out["worker_pid"] = .int(Int(m.process.pid))
            out["timed_out"] = .bool(!ended)
            return .object(out)
        }

        r.register("console-read", parameters: ["machine", "from"]) { args, _ in
            let m = try self.machine(try args.string("machine"))
            let from = try args.optionalInt("from", in: 0...Int.max).map { UInt64($0) }
            let (bytes, next, dropped) = m.console.ring.read(from: from)
            return .object(["data": .string(String(decoding: bytes, as: UTF8.self)), "next": .int(Int(truncatingIfNeeded: next)),
                            "dropped": .int(Int(truncatingIfNeeded: dropped))])
        }

        r.register("query-plugins", parameters: ["machine"]) { args, _ in
            let list: [WorkerMachine]
            if let id = try args.optionalString("machine") { list = [try self.machine(id)] } else { list = self.allMachines }
            var plugins: [JSONValue] = []
            for m in list where m.crashReport == nil {
                let reply = try? await self.forward(m, "query-plugins", ["machine": .string(m.id)], query: true)
                plugins += reply?.arrayValue ?? []
            }
            return .array(plugins)
        }

        // keep_machines: the daemon exits and leaves its workers running, for the next daemon to re-adopt
        // (an upgrade); without it, quit stops every machine as SIGTERM does.
        r.register("quit", parameters: ["keep_machines"]) { args, _ in
            if try args.optionalBool("keep_machines") == true {
                guard self.runtimeDirectory != nil else { throw ControlError.generic("quit: keep_machines needs a machines directory") }
                self.keepMachinesOnStop = true
            }
            self.quit()
            return .object([:])
        }

        if testHooks {
            // Test-only: blocks the control event loop so the watchdog's health check fails (EMUD_TEST_HOOKS=1).
            r.register("x-test-wedge-control-loop", parameters: ["seconds"]) { args, _ in
                let seconds = try args.optionalInt("seconds", in: 1...600) ?? 10
                controlLoop.execute { Thread.sleep(forTimeInterval: TimeInterval(seconds)) }
                return .object([:])
            }
        }
        return r
    }
}
